/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pick: after_accept that rejects every file named junk* and renames every raw_NAME to
 * cooked_NAME, marking those it renamed with a field of its own (pick_note) that the
 * post shows.
 */
#include "plugtest.h"

static enum sr_plugin_verdict after_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    const sr_plugin_api *api = h->api;
    const char *file = api->msg_get(m, "new_file");
    if (file == NULL) {
        api->log(h, SR_PLUGIN_ERROR, "no new_file in after_accept");
        return SR_PLUGIN_KEEP;
    }
    if (strncmp(file, "junk", 4) == 0) {
        *why = "pick: junk is not wanted";
        return SR_PLUGIN_REJECT;
    }
    if (strncmp(file, "raw_", 4) == 0) {
        char name[256];
        snprintf(name, sizeof name, "cooked_%s", file + 4); /* before msg_set: file changes */
        if (api->msg_set(m, "new_file", name) != 0)
            api->log(h, SR_PLUGIN_ERROR, "new_file %s refused: %s", name, api->error(h));
        if (api->msg_set(m, "pick_note", "renamed by pick") != 0)
            api->log(h, SR_PLUGIN_ERROR, "pick_note refused: %s", api->error(h));
        api->log(h, SR_PLUGIN_INFO, "renamed to %s", name);
    }
    return SR_PLUGIN_KEEP;
}

static const sr_plugin desc = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "pick",
    .after_accept = after_accept,
};

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
