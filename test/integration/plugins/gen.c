/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gen: gather that makes genCount messages in all (an option it declares; 5 when unset),
 * gen/item_NNN under https://gen.example.com/, each with size 42 and gen_tag "made by
 * gen", a few per call (at most max).
 */
#include <stdlib.h>

#include "plugtest.h"

typedef struct gen_state {
    int made, count;
} gen_state;

static int on_start(sr_plugin_host *h)
{
    gen_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    const char *count = h->api->option(h, "genCount");
    s->count = count ? atoi(count) : 5;
    h->state = s;
    h->api->log(h, SR_PLUGIN_INFO, "will make %d messages", s->count);
    return 0;
}

static void on_stop(sr_plugin_host *h)
{
    free(h->state);
    h->state = NULL;
}

static int gather(sr_plugin_host *h, size_t max)
{
    gen_state *s = h->state;
    int n = 0;
    /* three a call at most: the messages come over several passes */
    while (s->made < s->count && (size_t)n < max && n < 3) {
        char rel[64];
        snprintf(rel, sizeof rel, "gen/item_%03d", s->made);
        sr_plugin_msg *m = h->api->msg_new(h, "https://gen.example.com/", rel);
        if (m == NULL) {
            h->api->log(h, SR_PLUGIN_ERROR, "msg_new refused: %s", h->api->error(h));
            return -1;
        }
        if (h->api->msg_set(m, "gen_tag", "made by gen") != 0 ||
            h->api->msg_set_json(m, "size", "42") != 0)
            h->api->log(h, SR_PLUGIN_ERROR, "msg_set refused: %s", h->api->error(h));
        s->made++;
        n++;
    }
    if (n > 0 && s->made == s->count)
        h->api->log(h, SR_PLUGIN_INFO, "made all %d messages", s->count);
    return n;
}

static const char *const options[] = {"genCount", NULL};

static const sr_plugin desc = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "gen",
    .options = options,
    .on_start = on_start,
    .on_stop = on_stop,
    .gather = gather,
};

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
