/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * every_hook: a test plugin with every hook (test_plugins.c). Each hook appends a line
 * "HOOK relPath" to the file named by option everyTrace, so a test sees what ran, in what
 * order. What it decides comes from its options:
 *   everyReject TEXT   after_accept rejects a relPath holding TEXT ("why: reject TEXT")
 *   everyRetry TEXT    after_accept sends a relPath holding TEXT to the retry queue
 *   everyWorkReject T  after_work rejects a relPath holding T
 *   everyWorkRename S  after_work tries to set new_file to the name + S (refused: traced
 *                      as "refused new_file" with the error)
 *   everyDestfnKeep    destfn leaves the name empty (the name stays)
 *   everyRename SUFFIX after_accept sets new_file to the name + SUFFIX
 *   everySet F=V       after_accept sets field F to V (msg_set); a refusal is traced
 *                      as "refused F" with the error
 *   everyGather N      gather makes N messages (once), relPath gathered/N
 *   everyFailStart     on_start fails
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr/plugin.h"

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

static void trace(sr_plugin_host *h, const char *hook, const char *what)
{
    const char *path = h->api->option(h, "everyTrace");
    if (path == NULL)
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return;
    fprintf(f, "%s %s\n", hook, what ? what : "-");
    fclose(f);
}

static bool holds(sr_plugin_host *h, sr_plugin_msg *m, const char *option)
{
    const char *text = h->api->option(h, option);
    const char *rel = h->api->msg_get(m, "relPath");
    return text != NULL && rel != NULL && strstr(rel, text) != NULL;
}

static int on_start(sr_plugin_host *h)
{
    trace(h, "on_start", h->api->config_name(h));
    if (h->api->option(h, "everyFailStart") != NULL) {
        h->api->log(h, SR_PLUGIN_ERROR, "told to fail");
        return -1;
    }
    h->state = calloc(1, sizeof(int)); /* gathered once */
    return h->state ? 0 : -1;
}

static void on_stop(sr_plugin_host *h)
{
    trace(h, "on_stop", NULL);
    free(h->state);
    h->state = NULL;
}

static void on_housekeeping(sr_plugin_host *h)
{
    trace(h, "on_housekeeping", NULL);
}

static enum sr_plugin_verdict after_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    trace(h, "after_accept", h->api->msg_get(m, "relPath"));
    if (holds(h, m, "everyReject")) {
        *why = "reject asked";
        return SR_PLUGIN_REJECT;
    }
    if (holds(h, m, "everyRetry")) {
        *why = "retry asked";
        return SR_PLUGIN_RETRY;
    }
    const char *suffix = h->api->option(h, "everyRename");
    const char *file = h->api->msg_get(m, "new_file");
    if (suffix != NULL && file != NULL) {
        char name[512];
        snprintf(name, sizeof name, "%s%s", file, suffix);
        if (h->api->msg_set(m, "new_file", name) != 0)
            trace(h, "refused new_file", h->api->error(h));
    }
    for (size_t i = 0; i < h->api->option_count(h, "everySet"); i++) {
        char field[128];
        const char *spec = h->api->option_at(h, "everySet", i);
        const char *eq = strchr(spec, '=');
        if (eq == NULL || (size_t)(eq - spec) >= sizeof field)
            continue;
        snprintf(field, sizeof field, "%.*s", (int)(eq - spec), spec);
        if (h->api->msg_set(m, field, eq + 1) != 0) {
            char line[700];
            snprintf(line, sizeof line, "%s %s", field, h->api->error(h));
            trace(h, "refused", line);
        }
    }
    return SR_PLUGIN_KEEP;
}

static enum sr_plugin_verdict after_work(sr_plugin_host *h, sr_plugin_msg *m,
                                         enum sr_plugin_outcome outcome, const char **why)
{
    char line[600];
    snprintf(line, sizeof line, "%s %s", h->api->msg_get(m, "relPath"),
             outcome == SR_PLUGIN_DONE ? "done" : "failed");
    trace(h, "after_work", line);
    const char *suffix = h->api->option(h, "everyWorkRename");
    const char *file = h->api->msg_get(m, "new_file");
    if (suffix != NULL && file != NULL) {
        char name[512];
        snprintf(name, sizeof name, "%s%s", file, suffix);
        if (h->api->msg_set(m, "new_file", name) != 0)
            trace(h, "refused new_file", h->api->error(h));
    }
    if (holds(h, m, "everyWorkReject")) {
        *why = "work reject asked";
        return SR_PLUGIN_REJECT;
    }
    return SR_PLUGIN_KEEP;
}

static void after_post(sr_plugin_host *h, sr_plugin_msg *m)
{
    trace(h, "after_post", h->api->msg_get(m, "relPath"));
}

static int gather(sr_plugin_host *h, size_t max)
{
    const char *n = h->api->option(h, "everyGather");
    int *done = h->state;
    if (n == NULL || done == NULL || *done)
        return 0;
    *done = 1;
    int count = atoi(n), made = 0;
    for (int i = 0; i < count && (size_t)made < max; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "gathered/%d", i);
        sr_plugin_msg *m = h->api->msg_new(h, "file:/", rel);
        if (m == NULL)
            return -1;
        h->api->msg_set_json(m, "size", "0");
        made++;
    }
    trace(h, "gather", n);
    return made;
}

static int poll(sr_plugin_host *h)
{
    trace(h, "poll", NULL);
    return h->api->msg_new(h, "sftp://host/", "polled/one") ? 1 : -1;
}

static int destfn(sr_plugin_host *h, sr_plugin_msg *m, char *name, size_t size)
{
    if (h->api->option(h, "everyDestfnKeep") != NULL) {
        trace(h, "destfn", "(kept)");
        return 0;
    }
    const char *rel = h->api->msg_get(m, "relPath");
    const char *base = rel ? strrchr(rel, '/') : NULL;
    snprintf(name, size, "renamed_%s", base ? base + 1 : rel ? rel : "x");
    trace(h, "destfn", name);
    return 0;
}

static int download(sr_plugin_host *h, sr_plugin_msg *m, const char *url, sr_plugin_sink *sink)
{
    (void)m;
    trace(h, "download", url);
    static const char body[] = "made up by every_hook\n";
    return h->api->sink_write(sink, body, sizeof body - 1);
}

static int send(sr_plugin_host *h, sr_plugin_msg *m, sr_plugin_source *source,
                const char *remote_path)
{
    (void)m;
    char buf[4096];
    long total = 0, n;
    while ((n = h->api->source_read(source, buf, sizeof buf)) > 0)
        total += n;
    char line[600];
    snprintf(line, sizeof line, "%s %ld", remote_path, total);
    trace(h, "send", line);
    return n < 0 ? -1 : 0;
}

static void metrics_report(sr_plugin_host *h)
{
    h->api->metric(h, "calls", 1);
}

static const char *const options[] = {
    "everyTrace",      "everyReject",     "everyRetry",  "everyWorkReject",
    "everyRename",     "everySet",        "everyGather", "everyFailStart",
    "everyWorkRename", "everyDestfnKeep", NULL};
static const char *const schemes[] = {"madeup", NULL};

static const sr_plugin desc = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "every_hook",
    .options = options,
    .schemes = schemes,
    .on_start = on_start,
    .on_stop = on_stop,
    .on_housekeeping = on_housekeeping,
    .after_accept = after_accept,
    .after_work = after_work,
    .after_post = after_post,
    .gather = gather,
    .poll = poll,
    .destfn = destfn,
    .download = download,
    .send = send,
    .metrics_report = metrics_report,
};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
