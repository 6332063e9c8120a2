/*
 * resolve.h - host-name resolution for the store, off the event loops.
 *
 * libpq resolves a `host` name with a blocking getaddrinfo inside
 * PQconnectStart.  To keep that off the worker loops, the admin thread
 * resolves the name of DATABASE_URL (ck_store_resolve_refresh) and publishes
 * the addresses in a process-wide cache; a worker's store then connects with
 * `hostaddr` set to those addresses (and `host` kept, so TLS verification
 * still uses the name) and never waits on DNS.  A store whose name is not
 * resolved yet stays down and retries on its reconnect timer.
 *
 * Only a single host name is handled this way (see ck_store_host_needs_lookup);
 * everything else (socket directories, numeric addresses, `hostaddr` given,
 * multi-host lists, host from the PGHOST environment variable) connects as
 * libpq always did.
 */
#ifndef CK_STORE_RESOLVE_H
#define CK_STORE_RESOLVE_H

/* Most addresses kept for one name (libpq tries them in order). */
#define CK_STORE_RESOLVE_MAX_ADDRS 8

/* A conninfo split into libpq keyword/value arrays, ready for
 * PQconnectStartParams(keywords, values, 0).  When `lookup_name` is set, the
 * arrays end with a `hostaddr` slot at index `hostaddr_index` (value NULL
 * until ck_store_conninfo_set_addrs fills it) and `host` at `host_index`. */
typedef struct ck_store_conninfo {
    char **keywords;   /* NULL-terminated; owned */
    char **values;     /* parallel to keywords; owned */
    char *lookup_name; /* the host name to resolve, or NULL: use the conninfo as is */
    int host_index;
    int hostaddr_index;
} ck_store_conninfo_t;

/* 1 if `host` (a conninfo `host` value) is one host name that libpq would
 * resolve with DNS: not NULL or empty, not a socket directory ('/' or '@'
 * first), not a list (no ','), not a numeric IPv4/IPv6 address.  Pure. */
int ck_store_host_needs_lookup(const char *host);

/* Parses `conninfo` (URI or key=value) into `out`.  Returns 1 when the
 * connection needs a resolved name (out->lookup_name set), 0 when it does not
 * (out zeroed: connect with the conninfo string as before; also for a
 * conninfo libpq cannot parse, so libpq reports the error), -1 on out of
 * memory.  Free with ck_store_conninfo_free.  Does no DNS; safe on a loop. */
int ck_store_conninfo_parse(const char *conninfo, ck_store_conninfo_t *out);

/* Fills the `host`/`hostaddr` values of a parsed conninfo for `addrs` (the
 * comma-separated addresses published for its name): `hostaddr=addrs` and
 * `host` = the name repeated once per address, as libpq requires equal-length
 * lists.  Returns 0, or -1 on out of memory.  Pure (no DNS). */
int ck_store_conninfo_set_addrs(ck_store_conninfo_t *ci, const char *addrs);

/* Frees the arrays of `ci` and zeroes it; NULL-safe, idempotent. */
void ck_store_conninfo_free(ck_store_conninfo_t *ci);

/* BLOCKING (admin thread or start-up only): if `conninfo` names a host that
 * needs a lookup, resolves it with getaddrinfo and publishes the addresses for
 * ck_store_resolved().  A failure keeps the last good addresses.  Changes of
 * state are logged once (resolved / changed / failed).  Returns 0 when
 * nothing needed resolving or the lookup succeeded, -1 otherwise. */
int ck_store_resolve_refresh(const char *conninfo);

/* The published addresses of `name` ("a1,a2", comma-separated), as a copy the
 * caller frees, or NULL when `name` is not resolved (yet).  Non-blocking
 * (a short mutex hold); any thread. */
char *ck_store_resolved(const char *name);

#endif
