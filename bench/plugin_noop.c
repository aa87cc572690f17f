/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_noop.c: a C plugin (sr-plugin(7)) with every hook, each doing nothing, for
 * bench/plugin.py: what sr_shovel pays to call plugins at all (the goal: under
 * 3% of its rate). download and send claim a scheme no message uses, so they are
 * declared but never called; destfn and poll are not called by a shovel either.
 */
#include <stddef.h>

#include <sr/plugin.h>

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

static int on_start(sr_plugin_host *h)
{
    (void)h;
    return 0;
}

static void on_nothing(sr_plugin_host *h)
{
    (void)h;
}

static enum sr_plugin_verdict after_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    (void)h, (void)m, (void)why;
    return SR_PLUGIN_KEEP;
}

static enum sr_plugin_verdict after_work(sr_plugin_host *h, sr_plugin_msg *m,
                                         enum sr_plugin_outcome outcome, const char **why)
{
    (void)h, (void)m, (void)outcome, (void)why;
    return SR_PLUGIN_KEEP;
}

static void after_post(sr_plugin_host *h, sr_plugin_msg *m)
{
    (void)h, (void)m;
}

static int gather(sr_plugin_host *h, size_t max)
{
    (void)h, (void)max;
    return 0;
}

static int noop_poll(sr_plugin_host *h)
{
    (void)h;
    return 0;
}

static int destfn(sr_plugin_host *h, sr_plugin_msg *m, char *name, size_t size)
{
    (void)h, (void)m, (void)name, (void)size;
    return -1; /* the name stays */
}

static int download(sr_plugin_host *h, sr_plugin_msg *m, const char *url, sr_plugin_sink *sink)
{
    (void)h, (void)m, (void)url, (void)sink;
    return -1;
}

static int noop_send(sr_plugin_host *h, sr_plugin_msg *m, sr_plugin_source *source,
                     const char *remote_path)
{
    (void)h, (void)m, (void)source, (void)remote_path;
    return -1;
}

static const char *const schemes[] = {"noop-bench", NULL};

static const sr_plugin plugin = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "plugin_noop",
    .schemes = schemes,
    .on_start = on_start,
    .on_stop = on_nothing,
    .on_housekeeping = on_nothing,
    .after_accept = after_accept,
    .after_work = after_work,
    .after_post = after_post,
    .gather = gather,
    .poll = noop_poll,
    .destfn = destfn,
    .download = download,
    .send = noop_send,
    .metrics_report = on_nothing,
};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &plugin;
}
