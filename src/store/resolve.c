/*
 * resolve.c - resolves DATABASE_URL's host name on the admin thread and
 * hands the addresses to the worker stores (resolve.h), so no worker loop
 * ever runs getaddrinfo.  The cache holds one name (the process has one
 * DATABASE_URL) under a mutex that is never held across a lookup.
 */
#include "store/resolve.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache_name;  /* guarded by cache_lock; owned */
static char *cache_addrs; /* guarded by cache_lock; owned */
static int last_failed;   /* admin thread only: the last refresh failed */

int ck_store_host_needs_lookup(const char *host)
{
    if (host == NULL || host[0] == '\0' || host[0] == '/' || host[0] == '@' || strchr(host, ',') != NULL)
        return 0;
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1;
}

void ck_store_conninfo_free(ck_store_conninfo_t *ci)
{
    if (ci->keywords != NULL)
        for (int i = 0; ci->keywords[i] != NULL; i++) {
            free(ci->keywords[i]);
            free(ci->values[i]);
        }
    free(ci->keywords);
    free(ci->values);
    free(ci->lookup_name);
    memset(ci, 0, sizeof(*ci));
}

/* Appends keyword/value copies at index `n` (the arrays have room). */
static int conninfo_put(ck_store_conninfo_t *ci, int n, const char *key, const char *value)
{
    ci->keywords[n] = strdup(key);
    ci->values[n] = value != NULL ? strdup(value) : NULL;
    return ci->keywords[n] != NULL && (value == NULL || ci->values[n] != NULL) ? 0 : -1;
}

/* Copies the set options of `opts` into `out`, plus an empty hostaddr slot. */
static int conninfo_fill(const PQconninfoOption *opts, const char *host, ck_store_conninfo_t *out)
{
    int count = 0;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
        count++;
    out->keywords = calloc((size_t)count + 2, sizeof(char *));
    out->values = calloc((size_t)count + 2, sizeof(char *));
    out->lookup_name = strdup(host);
    if (out->keywords == NULL || out->values == NULL || out->lookup_name == NULL)
        return -1;
    int n = 0;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "hostaddr") == 0)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            out->host_index = n;
        if (conninfo_put(out, n++, o->keyword, o->val) != 0)
            return -1;
    }
    out->hostaddr_index = n;
    return conninfo_put(out, n, "hostaddr", NULL);
}

int ck_store_conninfo_parse(const char *conninfo, ck_store_conninfo_t *out)
{
    memset(out, 0, sizeof(*out));
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (opts == NULL)
        return 0; /* unparsable (or out of memory): libpq will say why at connect */
    const char *host = NULL, *hostaddr = NULL;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    int rc = 0;
    if ((hostaddr == NULL || hostaddr[0] == '\0') && ck_store_host_needs_lookup(host)) {
        rc = conninfo_fill(opts, host, out) == 0 ? 1 : -1;
        if (rc < 0)
            ck_store_conninfo_free(out);
    }
    PQconninfoFree(opts);
    return rc;
}

int ck_store_conninfo_set_addrs(ck_store_conninfo_t *ci, const char *addrs)
{
    size_t n = 1, name_len = strlen(ci->lookup_name);
    for (const char *p = addrs; *p != '\0'; p++)
        n += *p == ',';
    char *hosts = malloc(n * (name_len + 1));
    char *addr_copy = strdup(addrs);
    if (hosts == NULL || addr_copy == NULL) {
        free(hosts);
        free(addr_copy);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(hosts + i * (name_len + 1), ci->lookup_name, name_len);
        hosts[i * (name_len + 1) + name_len] = i + 1 < n ? ',' : '\0';
    }
    free(ci->values[ci->host_index]);
    ci->values[ci->host_index] = hosts;
    free(ci->values[ci->hostaddr_index]);
    ci->values[ci->hostaddr_index] = addr_copy;
    return 0;
}

/* The text form of `ai`'s address into `buf`; 0, or -1 if not IPv4/IPv6. */
static int addr_text(const struct addrinfo *ai, char buf[INET6_ADDRSTRLEN])
{
    const void *a = NULL;
    if (ai->ai_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
    else if (ai->ai_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
    return a != NULL && inet_ntop(ai->ai_family, a, buf, INET6_ADDRSTRLEN) != NULL ? 0 : -1;
}

/* getaddrinfo(name) as "a1,a2,..." (distinct, in the resolver's order, at
 * most CK_STORE_RESOLVE_MAX_ADDRS); NULL on failure, `*err` set.  Caller
 * frees.  Blocking. */
static char *lookup(const char *name, const char **err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        *err = gai_strerror(rc);
        return NULL;
    }
    char seen[CK_STORE_RESOLVE_MAX_ADDRS][INET6_ADDRSTRLEN];
    char out[CK_STORE_RESOLVE_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)] = "";
    int count = 0;
    for (const struct addrinfo *ai = res; ai != NULL && count < CK_STORE_RESOLVE_MAX_ADDRS; ai = ai->ai_next) {
        if (addr_text(ai, seen[count]) != 0)
            continue;
        int dup = 0;
        for (int i = 0; i < count && !dup; i++)
            dup = strcmp(seen[i], seen[count]) == 0;
        if (dup)
            continue;
        if (count > 0)
            strcat(out, ",");
        strcat(out, seen[count++]);
    }
    freeaddrinfo(res);
    *err = "no IPv4/IPv6 address";
    return count > 0 ? strdup(out) : NULL;
}

/* Stores `addrs` (taken) for `name`; returns 1 if the entry changed. */
static int publish(const char *name, char *addrs)
{
    char *name_copy = strdup(name);
    if (name_copy == NULL) {
        free(addrs);
        return 0;
    }
    pthread_mutex_lock(&cache_lock);
    int changed = cache_name == NULL || strcmp(cache_name, name) != 0 || strcmp(cache_addrs, addrs) != 0;
    free(cache_name);
    free(cache_addrs);
    cache_name = name_copy;
    cache_addrs = addrs;
    pthread_mutex_unlock(&cache_lock);
    return changed;
}

int ck_store_resolve_refresh(const char *conninfo)
{
    ck_store_conninfo_t ci;
    if (conninfo == NULL || ck_store_conninfo_parse(conninfo, &ci) != 1)
        return 0;
    const char *err = NULL;
    char *addrs = lookup(ci.lookup_name, &err);
    int rc = 0;
    if (addrs == NULL) {
        if (!last_failed)
            ck_warn("store: cannot resolve database host %s: %s (retrying)", ci.lookup_name, err);
        last_failed = 1;
        rc = -1;
    } else {
        if (publish(ci.lookup_name, addrs) || last_failed)
            ck_info("store: database host %s resolved to %s", ci.lookup_name, addrs);
        last_failed = 0;
    }
    ck_store_conninfo_free(&ci);
    return rc;
}

char *ck_store_resolved(const char *name)
{
    char *copy = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_name != NULL && strcmp(cache_name, name) == 0)
        copy = strdup(cache_addrs);
    pthread_mutex_unlock(&cache_lock);
    return copy;
}
