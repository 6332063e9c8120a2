/*
 * web_assets.h - the browser client's files, embedded into the binary at
 * build time by scripts/embed-web.sh (build/gen/web_assets.c) from web/ and
 * the npm libraries installed under web/node_modules.  web_client.c serves
 * them; nothing is read from disk at run time.
 */
#ifndef CK_HTTP_WEB_ASSETS_H
#define CK_HTTP_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *name;         /* "chat.html", "chat.js", ...; NULL ends the table */
    const char *content_type; /* from the extension */
    const unsigned char *data;
    size_t len;
} ck_web_asset_t;

extern const ck_web_asset_t ck_web_assets[];

#endif
