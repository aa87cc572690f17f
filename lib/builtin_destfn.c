/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtin_destfn: sr3's destfn.* plugins (builtins.h), named by `filename
 * DESTFNSCRIPT=destfn.sample` (or on an accept line). Each names the destination file from
 * the last part of the message's relPath; sr refuses a name with '/', "." or "..".
 *
 * destfn.sample   "renamed_" + the file name (sr3's API demonstrator). sr3's also sets a
 *                 field destfn_added_prefix in the message; a destfn hook here sees the
 *                 message read-only, so it does not.
 * destfn.replace  each `destfn_replace before,after` line, in order, replaces the first
 *                 occurrence of before in the file name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"

static const char *file_name(sr_plugin_host *h, sr_plugin_msg *m)
{
    const char *rel = h->api->msg_get(m, "relPath");
    if (rel == NULL)
        return NULL;
    const char *slash = strrchr(rel, '/');
    return slash ? slash + 1 : rel;
}

static int sample_destfn(sr_plugin_host *h, sr_plugin_msg *m, char *name, size_t size)
{
    const char *base = file_name(h, m);
    if (base == NULL)
        return -1;
    int n = snprintf(name, size, "renamed_%s", base);
    if (n < 0 || (size_t)n >= size) {
        h->api->log(h, SR_PLUGIN_ERROR, "renamed_%s: name too long", base);
        return -1;
    }
    return 0;
}

const sr_plugin sr_builtin_destfn_sample = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "destfn.sample",
    .destfn = sample_destfn,
};

static const char *const replace_options[] = {"destfn_replace", NULL};

/* Every line is checked before the first file is named: a wrong one stops the start,
 * where sr3's fails on each file. */
static int replace_start(sr_plugin_host *h)
{
    size_t n = h->api->option_count(h, "destfn_replace");
    for (size_t i = 0; i < n; i++) {
        char *b, *a;
        const char *pair = h->api->option_at(h, "destfn_replace", i);
        if (sr_builtin_split_pair(pair, &b, &a) != 0) {
            h->api->log(h, SR_PLUGIN_ERROR, "destfn_replace %s: not before,after", pair);
            return -1;
        }
        free(b);
        free(a);
    }
    if (n == 0)
        h->api->log(h, SR_PLUGIN_WARNING, "no destfn_replace line: names stay as they are");
    return 0;
}

static int replace_destfn(sr_plugin_host *h, sr_plugin_msg *m, char *name, size_t size)
{
    const char *base = file_name(h, m);
    char *cur = base ? strdup(base) : NULL;
    if (cur == NULL)
        return -1;
    size_t n = h->api->option_count(h, "destfn_replace");
    for (size_t i = 0; i < n && cur != NULL; i++) {
        char *b, *a;
        if (sr_builtin_split_pair(h->api->option_at(h, "destfn_replace", i), &b, &a) != 0)
            continue; /* refused at start */
        char *next = sr_builtin_replace_first(cur, b, a);
        free(cur);
        cur = next;
        free(b);
        free(a);
    }
    if (cur == NULL)
        return -1;
    int r = 0;
    if (strlen(cur) >= size) {
        h->api->log(h, SR_PLUGIN_ERROR, "%s: name too long", cur);
        r = -1;
    } else {
        h->api->log(h, SR_PLUGIN_INFO, "from: %s, to: %s", base, cur);
        memcpy(name, cur, strlen(cur) + 1);
    }
    free(cur);
    return r;
}

const sr_plugin sr_builtin_destfn_replace = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "destfn.replace",
    .options = replace_options,
    .on_start = replace_start,
    .destfn = replace_destfn,
};
