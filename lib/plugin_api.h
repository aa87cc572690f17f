/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_api: the table of functions sr hands a C or built-in plugin (sr/plugin.h,
 * sr_plugin_api), and the handles it works on. Not installed, not public: what
 * plugin_native.c (the backend that calls C and built-in plugins) shares with
 * plugin_api.c.
 *
 * Strings the api returns to a plugin live in the handle they were asked of (a
 * message's, or the host's for options) until sr_plugin_msg_fini / sr_plugin_hostctx_end,
 * called when the hook returns: sr/plugin.h promises them "until the hook returns".
 */
#ifndef SR_PLUGIN_API_H
#define SR_PLUGIN_API_H

#include <jansson.h>
#include <stdbool.h>

#include "plugins_impl.h"
#include "strlist.h"

/* The api table of this sr (SR_PLUGIN_ABI_VERSION). */
extern const sr_plugin_api sr_plugin_api_table;

typedef struct sr_plugin_hostctx sr_plugin_hostctx;

/* One message as a hook sees it. */
struct sr_plugin_msg {
    sr_message *m;
    sr_placement *placement; /* NULL: not placed (the new_* fields are absent) */
    sr_plugin_hostctx *host;
    bool readonly;      /* destfn, download, send, after_post: sets are refused */
    bool placed_already; /* after_work: the destination fields are read only */
    sr_strlist scratch; /* texts handed out by msg_get / msg_json */
};

/* What a C or built-in plugin's hooks get: one per plugin. */
struct sr_plugin_hostctx {
    sr_plugin_host host; /* first: a hook's sr_plugin_host * is the sr_plugin_hostctx * */
    sr_plugin_instance *pi;
    char error[SR_ERR_MSG_MAX]; /* api->error */
    bool collecting;            /* in gather or poll: msg_new allowed */
    sr_plugin_msg **fresh;      /* what msg_new made in this hook */
    size_t fresh_count, fresh_cap;
    json_t *metrics; /* in metrics_report: where api->metric puts figures */
};

void sr_plugin_hostctx_init(sr_plugin_hostctx *hc, sr_plugin_instance *pi);
/* After each hook: what msg_new made and was not taken is freed. */
void sr_plugin_hostctx_end(sr_plugin_hostctx *hc);
/* The messages msg_new made in this hook, up to max (the rest freed): appended to *msgs
 * (*count, realloc'd). SR_ENOMEM when out of memory (what was made is freed). */
int sr_plugin_hostctx_take(sr_plugin_hostctx *hc, size_t max, sr_message ***msgs, size_t *count,
                           sr_err *err);

void sr_plugin_msg_init(sr_plugin_msg *pm, sr_plugin_hostctx *hc, sr_message *m,
                        sr_placement *placement, bool readonly);
void sr_plugin_msg_fini(sr_plugin_msg *pm);

/* download's sink and send's source: the transfer layer's callbacks. */
struct sr_plugin_sink {
    int (*write)(void *ctx, const void *buf, size_t n, sr_err *err);
    void *ctx;
    sr_plugin_hostctx *host;
};
struct sr_plugin_source {
    long (*read)(void *ctx, void *buf, size_t n, sr_err *err);
    void *ctx;
    sr_plugin_hostctx *host;
};

#endif
