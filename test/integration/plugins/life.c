/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * life: on_start, on_housekeeping, on_stop and metrics_report, each writing a line into
 * life.log in its state folder. Declares two options: myOption (on_start writes its
 * value) and lifeMode (`lifeMode fail`: on_start fails, so the component does not start).
 * metrics_report gives answer = 42 and housekeepings = how many on_housekeeping calls (-1
 * when called outside on_start .. on_stop).
 */
#include <stdlib.h>

#include "plugtest.h"

static int on_start(sr_plugin_host *h)
{
    const char *mine = h->api->option(h, "myOption");
    const char *mode = h->api->option(h, "lifeMode");
    int *calls = calloc(1, sizeof *calls);
    if (calls == NULL)
        return -1;
    h->state = calls;
    note(h, "life.log", "start myOption=%s", mine ? mine : "(unset)");
    if (mode != NULL && strcmp(mode, "fail") == 0) {
        h->api->log(h, SR_PLUGIN_ERROR, "lifeMode fail: refusing to start");
        return -1;
    }
    return 0;
}

static void on_housekeeping(sr_plugin_host *h)
{
    int *calls = h->state;
    ++*calls;
    note(h, "life.log", "housekeeping");
}

static void on_stop(sr_plugin_host *h)
{
    note(h, "life.log", "stop");
    free(h->state);
    h->state = NULL;
}

static void metrics_report(sr_plugin_host *h)
{
    int *calls = h->state;
    note(h, "life.log", "metrics");
    h->api->metric(h, "answer", 42);
    h->api->metric(h, "housekeepings", calls ? *calls : -1);
}

static const char *const options[] = {"myOption", "lifeMode", NULL};

static const sr_plugin desc = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "life",
    .options = options,
    .on_start = on_start,
    .on_stop = on_stop,
    .on_housekeeping = on_housekeeping,
    .metrics_report = metrics_report,
};

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
