/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtin_pxroute: accept.sundewpxroute (builtins.h), MetPX-Sundew's routing table as a
 * filter, so a sender feeds a client the bulletins Sundew fed it.
 *
 * on_start reads the table named by pxRouting once, for the clients pxClient names
 * (commas between them), in the file's order:
 *   clientAlias NAME a,b,c   NAME stands for the clients a, b, c: if one of them is a
 *                            client we route for, NAME becomes one too
 *   key AHL a,b,c            the bulletin header AHL goes to a, b, c
 * Other lines and "#" comments are skipped. after_accept keeps a message whose file name
 * begins with an 11-character header (TTAAii_CCCC, '_' at the 7th) routed to one of the
 * clients, and rejects every other.
 *
 * sr3 logs an error and then crashes on every message when pxRouting is unset or
 * unreadable; here the component does not start.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"

#define AHL_LEN 11 /* TTAAii_CCCC: what Sundew routes by */

static const char *const pxroute_options[] = {"pxRouting", "pxClient", NULL};

typedef struct pxroute_state {
    char (*ahls)[AHL_LEN + 1]; /* sorted, for bsearch */
    size_t n, cap;
    char **clients; /* pxClient's names, then the aliases that include one */
    size_t nclients, capclients;
} pxroute_state;

static void pxroute_free(pxroute_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nclients; i++)
        free(st->clients[i]);
    free(st->clients);
    free(st->ahls);
    free(st);
}

static void pxroute_stop(sr_plugin_host *h)
{
    pxroute_free(h->state);
    h->state = NULL;
}

static int add_client(pxroute_state *st, const char *name, size_t len)
{
    if (st->nclients == st->capclients) {
        size_t cap = st->capclients ? st->capclients * 2 : 8;
        char **c = realloc(st->clients, cap * sizeof *c);
        if (c == NULL)
            return -1;
        st->clients = c;
        st->capclients = cap;
    }
    if ((st->clients[st->nclients] = strndup(name, len)) == NULL)
        return -1;
    st->nclients++;
    return 0;
}

/* Whether the comma-separated list names one of our clients. */
static bool names_ours(const pxroute_state *st, const char *list)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        for (size_t i = 0; i < st->nclients; i++)
            if (strlen(st->clients[i]) == n && strncmp(st->clients[i], p, n) == 0)
                return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

static int add_ahl(pxroute_state *st, const char *ahl)
{
    if (strlen(ahl) != AHL_LEN)
        return 0; /* not a header a file name can begin with: never matches */
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        char(*a)[AHL_LEN + 1] = realloc(st->ahls, cap * sizeof *a);
        if (a == NULL)
            return -1;
        st->ahls = a;
        st->cap = cap;
    }
    memcpy(st->ahls[st->n++], ahl, AHL_LEN + 1);
    return 0;
}

static int cmp_ahl(const void *a, const void *b)
{
    return memcmp(a, b, AHL_LEN);
}

static int pxroute_start(sr_plugin_host *h)
{
    const char *path = h->api->option(h, "pxRouting");
    const char *client = h->api->option(h, "pxClient");
    if (path == NULL || path[0] == '\0') {
        h->api->log(h, SR_PLUGIN_ERROR, "pxRouting (the Sundew routing table) is mandatory");
        return -1;
    }
    if (client == NULL || client[0] == '\0') {
        h->api->log(h, SR_PLUGIN_ERROR, "pxClient (the clients to route for) is mandatory");
        return -1;
    }
    pxroute_state *st = calloc(1, sizeof *st);
    FILE *f = st ? fopen(path, "re") : NULL;
    if (f == NULL) {
        h->api->log(h, SR_PLUGIN_ERROR, "pxRouting %s: %s", path,
                    st ? strerror(errno) : "out of memory");
        pxroute_free(st);
        return -1;
    }
    int rc = 0;
    for (const char *p = client; *p && rc == 0;) {
        size_t n = strcspn(p, ",");
        if (n > 0)
            rc = add_client(st, p, n);
        p += n;
        if (*p == ',')
            p++;
    }
    char *line = NULL;
    size_t cap = 0;
    while (rc == 0 && getline(&line, &cap, f) != -1) {
        char *save = NULL;
        char *w0 = strtok_r(line, " \t\r\n", &save);
        char *w1 = w0 ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        char *w2 = w1 ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (w2 == NULL || w0[0] == '#')
            continue;
        if (strcmp(w0, "clientAlias") == 0 && names_ours(st, w2))
            rc = add_client(st, w1, strlen(w1));
        else if (strcmp(w0, "key") == 0 && names_ours(st, w2))
            rc = add_ahl(st, w1);
    }
    free(line);
    fclose(f);
    if (rc != 0) {
        h->api->log(h, SR_PLUGIN_ERROR, "pxRouting %s: out of memory", path);
        pxroute_free(st);
        return -1;
    }
    if (st->n > 1)
        qsort(st->ahls, st->n, sizeof *st->ahls, cmp_ahl);
    h->api->log(h, SR_PLUGIN_INFO, "%zu headers routed to %s (%s)", st->n, client, path);
    h->state = st;
    return 0;
}

static enum sr_plugin_verdict pxroute_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    pxroute_state *st = h->state;
    if (st == NULL) {
        *why = "accept.sundewpxroute was not started";
        return SR_PLUGIN_RETRY;
    }
    const char *nf = h->api->msg_get(m, "new_file");
    const char *base = nf ? strrchr(nf, '/') : NULL;
    base = base ? base + 1 : nf;
    if (base == NULL || strlen(base) < AHL_LEN || base[6] != '_') {
        *why = "not a bulletin header (TTAAii_CCCC)";
        return SR_PLUGIN_REJECT;
    }
    if (st->n > 0 && bsearch(base, st->ahls, st->n, sizeof *st->ahls, cmp_ahl) != NULL)
        return SR_PLUGIN_KEEP;
    *why = "header not routed to pxClient";
    return SR_PLUGIN_REJECT;
}

const sr_plugin sr_builtin_sundewpxroute = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.sundewpxroute",
    .options = pxroute_options,
    .on_start = pxroute_start,
    .on_stop = pxroute_stop,
    .after_accept = pxroute_accept,
};
