/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rename_reject.c: an sr C plugin (sr-plugin(7)) that renames products and rejects some.
 *
 * In after_accept, for each message:
 *   - a file whose name ends in rejectSuffix (".tmp" unless set) is rejected: it is not
 *     downloaded, and the log says why;
 *   - a file whose name matches renamePattern (a POSIX extended regular expression) is
 *     written under the name renameTo gives, where \1 to \9 are the pattern's groups.
 *     By default CYYZ_20240101.txt becomes 20240101_CYYZ.txt.
 * Every other message goes on unchanged. Counts of both show in `sr status` (metrics).
 *
 * Build it (nothing to link: the plugin calls sr through the table sr hands it):
 *     cc -shared -fPIC -o rename_reject.so rename_reject.c
 * (from sr's source tree, add -Iinclude), put rename_reject.so in ~/.config/sr/plugins/
 * and add `flowcb rename_reject` to a subscribe configuration.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sr/plugin.h>

#define DEFAULT_PATTERN "^([A-Z]{4})_([0-9]{8})\\.txt$"
#define DEFAULT_TO "\\2_\\1.txt"
#define DEFAULT_SUFFIX ".tmp"
#define NAME_MAX_LEN 256 /* a file name (no '/') on Linux: 255 bytes and the NUL */

struct state {
    regex_t pattern;
    const char *to;     /* renameTo: sr's string, valid as long as the flow runs */
    const char *suffix; /* rejectSuffix */
    unsigned long renamed, rejected;
};

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

static const char *opt(sr_plugin_host *h, const char *name, const char *fallback)
{
    const char *v = h->api->option(h, name);
    return v != NULL && *v != '\0' ? v : fallback;
}

static int on_start(sr_plugin_host *h)
{
    struct state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        h->api->log(h, SR_PLUGIN_ERROR, "out of memory");
        return -1;
    }
    const char *pattern = opt(h, "renamePattern", DEFAULT_PATTERN);
    int rc = regcomp(&s->pattern, pattern, REG_EXTENDED);
    if (rc != 0) {
        char why[256];
        regerror(rc, &s->pattern, why, sizeof why);
        h->api->log(h, SR_PLUGIN_ERROR, "renamePattern %s: %s", pattern, why);
        free(s);
        return -1; /* the component does not start */
    }
    s->to = opt(h, "renameTo", DEFAULT_TO);
    s->suffix = opt(h, "rejectSuffix", DEFAULT_SUFFIX);
    h->state = s;
    h->api->log(h, SR_PLUGIN_INFO, "renaming %s to %s, rejecting *%s", pattern, s->to, s->suffix);
    return 0;
}

static void on_stop(sr_plugin_host *h)
{
    struct state *s = h->state;
    if (s == NULL)
        return;
    regfree(&s->pattern);
    free(s);
    h->state = NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return k > 0 && n >= k && strcmp(s + n - k, suffix) == 0;
}

/* renameTo with \N replaced by group N of name; 0, or -1 when it does not fit. */
static int expand(const char *to, const char *name, const regmatch_t *groups, char *out,
                  size_t size)
{
    size_t o = 0;
    for (const char *p = to; *p != '\0'; p++) {
        const char *piece = p;
        size_t len = 1;
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9') {
            const regmatch_t *g = &groups[p[1] - '0'];
            piece = g->rm_so < 0 ? "" : name + g->rm_so;
            len = g->rm_so < 0 ? 0 : (size_t)(g->rm_eo - g->rm_so);
            p++;
        }
        if (o + len >= size)
            return -1;
        memcpy(out + o, piece, len);
        o += len;
    }
    out[o] = '\0';
    return 0;
}

static enum sr_plugin_verdict after_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    struct state *s = h->state;
    const sr_plugin_api *api = h->api;
    const char *name = api->msg_get(m, "new_file");
    if (name == NULL)
        return SR_PLUGIN_KEEP; /* not placed (a shovel): nothing to name */
    if (ends_with(name, s->suffix)) {
        s->rejected++;
        *why = "a temporary file";
        return SR_PLUGIN_REJECT;
    }
    regmatch_t groups[10];
    if (regexec(&s->pattern, name, 10, groups, 0) != 0)
        return SR_PLUGIN_KEEP;
    char renamed[NAME_MAX_LEN];
    if (expand(s->to, name, groups, renamed, sizeof renamed) != 0) {
        api->log(h, SR_PLUGIN_WARNING, "%s: renameTo gives a name too long; name kept", name);
        return SR_PLUGIN_KEEP;
    }
    /* msg_get's string is gone once the message changes: log before setting. */
    api->log(h, SR_PLUGIN_DEBUG, "%s becomes %s", name, renamed);
    if (api->msg_set(m, "new_file", renamed) != 0) {
        /* sr refuses a name with '/' or one that leaves the destination: keep the
         * product under its own name rather than lose it. */
        api->log(h, SR_PLUGIN_WARNING, "renaming to %s refused (%s); name kept", renamed,
                 api->error(h));
        return SR_PLUGIN_KEEP;
    }
    s->renamed++;
    return SR_PLUGIN_KEEP;
}

static void metrics_report(sr_plugin_host *h)
{
    struct state *s = h->state;
    if (s == NULL)
        return;
    h->api->metric(h, "renamed", (double)s->renamed);
    h->api->metric(h, "rejected", (double)s->rejected);
}

static const char *const options[] = {"renamePattern", "renameTo", "rejectSuffix", NULL};

static const sr_plugin plugin = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "rename_reject",
    .options = options,
    .on_start = on_start,
    .on_stop = on_stop,
    .after_accept = after_accept,
    .metrics_report = metrics_report,
};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    /* An sr older than this header lacks the members at the end of the table. */
    if (api->abi_version != SR_PLUGIN_ABI_VERSION || api->size < sizeof *api)
        return NULL;
    return &plugin;
}
