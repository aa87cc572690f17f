/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * later: after_accept that sends each file to the retry queue the first time it sees it
 * (a marker in its state folder remembers it) and lets it through the next time.
 * later.log gets "retry NAME" or "keep NAME" per call.
 */
#include <fcntl.h>
#include <unistd.h>

#include "plugtest.h"

static enum sr_plugin_verdict after_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    const sr_plugin_api *api = h->api;
    const char *file = api->msg_get(m, "new_file");
    char marker[4096];
    if (file == NULL || snprintf(marker, sizeof marker, "%s/seen_%s", api->state_dir(h), file) >=
                            (int)sizeof marker)
        return SR_PLUGIN_KEEP;
    if (access(marker, F_OK) == 0) {
        note(h, "later.log", "keep %s", file);
        return SR_PLUGIN_KEEP;
    }
    int fd = open(marker, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0)
        close(fd);
    note(h, "later.log", "retry %s", file);
    *why = "later: not yet";
    return SR_PLUGIN_RETRY;
}

static const sr_plugin desc = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "later",
    .after_accept = after_accept,
};

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
