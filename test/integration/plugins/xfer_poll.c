/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xfer_poll: a poll hook for test_plugin_transfer.py. Each time sr_poll runs it, it
 * announces the same xfer_poll_count made-up files fake://fakehost/poll/fNNN.txt (size
 * 100 + NNN, mtime an hour before the plugin was loaded), and one more, fold.txt, with an mtime of
 * 2001 (older than fileAgeMax).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sr/plugin.h>

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

static const sr_plugin_api *api;
static time_t loaded; /* the files' mtimes: the same at every run, as a server's are */

static int announce(sr_plugin_host *h, const char *rel, long size, time_t mtime)
{
    sr_plugin_msg *m = api->msg_new(h, "fake://fakehost/", rel);
    if (m == NULL)
        return -1;
    char text[64];
    snprintf(text, sizeof text, "%ld", size);
    struct tm tm;
    char when[32];
    gmtime_r(&mtime, &tm);
    strftime(when, sizeof when, "%Y%m%dT%H%M%S", &tm);
    if (api->msg_set_json(m, "size", text) != 0 || api->msg_set(m, "mtime", when) != 0)
        return -1;
    return 0;
}

static int fake_poll(sr_plugin_host *h)
{
    const char *n = api->option(h, "xfer_poll_count");
    int count = n ? atoi(n) : 3;
    api->log(h, SR_PLUGIN_INFO, "polled: %d made-up files", count + 1);
    for (int i = 0; i < count; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "poll/f%03d.txt", i);
        if (announce(h, rel, 100 + i, loaded - 3600) != 0)
            return -1;
    }
    if (announce(h, "poll/fold.txt", 1, 978307200) != 0)
        return -1;
    return count + 1;
}

static const char *const options[] = {"xfer_poll_count", NULL};

static const sr_plugin plugin = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "xfer_poll",
    .options = options,
    .poll = fake_poll,
};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *a)
{
    api = a;
    loaded = time(NULL);
    return &plugin;
}
