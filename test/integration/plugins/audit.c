/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * audit: after_work and after_post, each writing a line per message into audit.log in
 * its state folder ("work done REL", "work failed REL", "post REL"); after_work rejects
 * the files whose name holds "nopost" (done, but not posted).
 */
#include "plugtest.h"

static enum sr_plugin_verdict after_work(sr_plugin_host *h, sr_plugin_msg *m,
                                         enum sr_plugin_outcome outcome, const char **why)
{
    const char *rel = h->api->msg_get(m, "relPath");
    note(h, "audit.log", "work %s %s", outcome == SR_PLUGIN_DONE ? "done" : "failed",
         rel ? rel : "?");
    if (outcome == SR_PLUGIN_DONE && rel != NULL && strstr(rel, "nopost") != NULL) {
        *why = "audit: not to be posted";
        return SR_PLUGIN_REJECT;
    }
    return SR_PLUGIN_KEEP;
}

static void after_post(sr_plugin_host *h, sr_plugin_msg *m)
{
    const char *rel = h->api->msg_get(m, "relPath");
    note(h, "audit.log", "post %s", rel ? rel : "?");
}

static const sr_plugin desc = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "audit",
    .after_work = after_work,
    .after_post = after_post,
};

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
