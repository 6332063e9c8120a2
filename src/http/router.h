/*
 * router.h - installs chatkitd's routes into an h2o configuration.
 *
 * One h2o handler on "/" dispatches on the normalized path (exact matches,
 * so /chatkit/x is a 404 rather than the protocol endpoint):
 *   /chatkit -> chatkit.c, /attachments/... -> attachments.c,
 *   /memory and /memory/<id> -> memory_routes.c,
 *   /chat, /chat/assets/..., /widget.js -> web_client.c, else pages.c.
 */
#ifndef CK_HTTP_ROUTER_H
#define CK_HTTP_ROUTER_H

#include <h2o.h>

/* Registers the handler on `config`'s default host.  Returns 0 or -1. */
int ck_http_router_install(h2o_globalconf_t *config);

#endif
