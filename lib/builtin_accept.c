/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtin_accept: sr3's accept.* flowcb plugins that rewrite or filter a message on its
 * fields in after_accept (builtins.h). Each reads only what sr3's reads and changes only
 * what sr3's changes; sr checks every change (a new_dir outside the destination is
 * refused), and a change sr refuses rejects the message with sr's reason rather than
 * letting it go on half-renamed.
 *
 * Where sr3's crashes (a field missing, a mandatory option unset), ours rejects the
 * message or does not start, saying why. Other differences from sr3 are noted at each.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtins.h"
#include "timefmt.h"

char *sr_builtin_replace_first(const char *s, const char *before, const char *after)
{
    const char *at = strstr(s, before);
    if (at == NULL)
        return strdup(s);
    size_t head = (size_t)(at - s), blen = strlen(before), alen = strlen(after);
    size_t tail = strlen(at + blen);
    char *out = malloc(head + alen + tail + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s, head);
    memcpy(out + head, after, alen);
    memcpy(out + head + alen, at + blen, tail + 1);
    return out;
}

int sr_builtin_split_pair(const char *pair, char **before, char **after)
{
    const char *comma = strchr(pair, ',');
    if (comma == NULL || strchr(comma + 1, ',') != NULL)
        return -1;
    *before = strndup(pair, (size_t)(comma - pair));
    *after = strdup(comma + 1);
    if (*before == NULL || *after == NULL) {
        free(*before);
        free(*after);
        *before = *after = NULL;
        return -1;
    }
    return 0;
}

/* Set a string field; on refusal the message is rejected with sr's reason. */
static enum sr_plugin_verdict set_or_reject(sr_plugin_host *h, sr_plugin_msg *m, const char *field,
                                            const char *value, const char **why)
{
    if (h->api->msg_set(m, field, value) == 0)
        return SR_PLUGIN_KEEP;
    *why = h->api->error(h);
    h->api->log(h, SR_PLUGIN_ERROR, "%s refused (%s): rejected", field, *why);
    return SR_PLUGIN_REJECT;
}

/* A string field with suffix appended (rename, new_file). Absent: nothing to do. */
static enum sr_plugin_verdict append_to(sr_plugin_host *h, sr_plugin_msg *m, const char *field,
                                        const char *suffix, const char **why)
{
    const char *old = h->api->msg_get(m, field);
    if (old == NULL)
        return SR_PLUGIN_KEEP;
    size_t n = strlen(old) + strlen(suffix) + 1;
    char *v = malloc(n);
    if (v == NULL) {
        *why = "out of memory";
        return SR_PLUGIN_RETRY;
    }
    snprintf(v, n, "%s%s", old, suffix);
    enum sr_plugin_verdict r = set_or_reject(h, m, field, v, why);
    free(v);
    return r;
}

/* ---- accept.httptohttps: baseUrl http:// -> https://. sr3 replaces every "http:" in
 * the baseUrl; only the scheme is changed here (the same for every real baseUrl). */
static enum sr_plugin_verdict httptohttps_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                                 const char **why)
{
    const char *base = h->api->msg_get(m, "baseUrl");
    if (base == NULL || strncmp(base, "http:", 5) != 0)
        return SR_PLUGIN_KEEP;
    size_t n = strlen(base) + 2;
    char *v = malloc(n);
    if (v == NULL) {
        *why = "out of memory";
        return SR_PLUGIN_RETRY;
    }
    snprintf(v, n, "https:%s", base + 5);
    enum sr_plugin_verdict r = set_or_reject(h, m, "baseUrl", v, why);
    free(v);
    return r;
}

const sr_plugin sr_builtin_httptohttps = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.httptohttps",
    .after_accept = httptohttps_accept,
};

/* ---- accept.renamewhatfn: Sundew's WHATFN, the file name cut at its first ':' (in
 * new_file, and in the rename field when the message has one). A name that would be
 * empty (it starts with ':') is left as it is, with a warning. */
static enum sr_plugin_verdict renamewhatfn_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                                  const char **why)
{
    const char *nf = h->api->msg_get(m, "new_file");
    const char *colon = nf ? strchr(nf, ':') : NULL;
    if (colon == NULL)
        return SR_PLUGIN_KEEP;
    if (colon == nf) {
        h->api->log(h, SR_PLUGIN_WARNING, "%s: name would be empty, left as it is", nf);
        return SR_PLUGIN_KEEP;
    }
    char *extra = strdup(colon);
    char *name = strndup(nf, (size_t)(colon - nf));
    enum sr_plugin_verdict r = SR_PLUGIN_RETRY;
    *why = "out of memory";
    if (extra != NULL && name != NULL)
        r = set_or_reject(h, m, "new_file", name, why);
    const char *rename = r == SR_PLUGIN_KEEP ? h->api->msg_get(m, "rename") : NULL;
    if (rename != NULL) {
        char *v = sr_builtin_replace_first(rename, extra, "");
        r = v ? set_or_reject(h, m, "rename", v, why) : SR_PLUGIN_RETRY;
        free(v);
    }
    free(extra);
    free(name);
    return r;
}

const sr_plugin sr_builtin_renamewhatfn = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.renamewhatfn",
    .after_accept = renamewhatfn_accept,
};

/* ---- accept.renamedmf: ":YYYYmmddHHMMSS" (local time, as sr3) appended to new_file
 * and to the rename field when there is one. */
static enum sr_plugin_verdict renamedmf_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                               const char **why)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, ":%Y%m%d%H%M%S", localtime_r(&now, &tm));
    enum sr_plugin_verdict r = append_to(h, m, "new_file", stamp, why);
    return r == SR_PLUGIN_KEEP ? append_to(h, m, "rename", stamp, why) : r;
}

const sr_plugin sr_builtin_renamedmf = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.renamedmf",
    .after_accept = renamedmf_accept,
};

/* ---- accept.hourtree (local hour) and accept.posthourtree (UTC hour): the hour as one
 * more folder under new_dir, A/B/c.gif -> A/B/HH/c.gif. sr3's hourtree also puts the
 * hour into new_file, which gives "A/B/HH//HH/c.gif"; ours does what its documentation
 * says. */
static enum sr_plugin_verdict hour_into_dir(sr_plugin_host *h, sr_plugin_msg *m, bool utc,
                                            const char **why)
{
    char hour[8];
    time_t now = time(NULL);
    struct tm tm;
    strftime(hour, sizeof hour, "/%H", utc ? gmtime_r(&now, &tm) : localtime_r(&now, &tm));
    if (h->api->msg_get(m, "new_dir") == NULL) {
        *why = "no destination (new_dir) to put the hour in";
        return SR_PLUGIN_REJECT;
    }
    enum sr_plugin_verdict r = append_to(h, m, "new_dir", hour, why);
    if (r == SR_PLUGIN_KEEP)
        h->api->log(h, SR_PLUGIN_DEBUG, "new_dir: %s", h->api->msg_get(m, "new_dir"));
    return r;
}

static enum sr_plugin_verdict hourtree_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    return hour_into_dir(h, m, false, why);
}

static enum sr_plugin_verdict posthourtree_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                                  const char **why)
{
    return hour_into_dir(h, m, true, why);
}

const sr_plugin sr_builtin_hourtree = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.hourtree",
    .after_accept = hourtree_accept,
};

const sr_plugin sr_builtin_posthourtree = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.posthourtree",
    .after_accept = posthourtree_accept,
};

/* ---- accept.toclusters: only messages whose to_clusters names a cluster listed on a
 * msgToClusters line go on. sr3 compares the whole to_clusters string with each line;
 * here both are split at commas and blanks, so "DD,DDI" matches a line "DD" (a superset
 * of sr3's matches). A message without to_clusters is rejected (sr3's crashes). */
static const char *const toclusters_options[] = {"msgToClusters", NULL};

static bool in_words(const char *word, size_t len, const char *list)
{
    const char *sep = ", \t";
    for (const char *p = list + strspn(list, sep); *p; p += strspn(p, sep)) {
        size_t n = strcspn(p, sep);
        if (n == len && strncmp(p, word, n) == 0)
            return true;
        p += n;
    }
    return false;
}

static int toclusters_start(sr_plugin_host *h)
{
    if (h->api->option_count(h, "msgToClusters") == 0) {
        h->api->log(h, SR_PLUGIN_ERROR, "msgToClusters is mandatory (the clusters to keep)");
        return -1;
    }
    return 0;
}

static enum sr_plugin_verdict toclusters_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                                const char **why)
{
    const char *to = h->api->msg_get(m, "to_clusters");
    if (to == NULL) {
        *why = "no to_clusters field";
        return SR_PLUGIN_REJECT;
    }
    size_t lines = h->api->option_count(h, "msgToClusters");
    const char *sep = ", \t";
    for (const char *p = to + strspn(to, sep); *p; p += strspn(p, sep)) {
        size_t n = strcspn(p, sep);
        for (size_t i = 0; i < lines; i++)
            if (in_words(p, n, h->api->option_at(h, "msgToClusters", i)))
                return SR_PLUGIN_KEEP;
        p += n;
    }
    *why = "to_clusters not in msgToClusters";
    return SR_PLUGIN_REJECT;
}

const sr_plugin sr_builtin_toclusters = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.toclusters",
    .options = toclusters_options,
    .on_start = toclusters_start,
    .after_accept = toclusters_accept,
};

/* ---- accept.wmotypesuffix: a file type suffix from the WMO-386 TT designator (the
 * name's first two letters), the table sr3 uses; not added twice. Directory operations
 * are left alone. */
static const char *wmo_suffix(const char *tt)
{
    char a = tt[0], b = a ? tt[1] : 0;
    if (a == 'G')
        return ".grid";
    if (a == 'I' && b == 'X')
        return ".hdf";
    if (a == 'I')
        return ".bufr";
    if (a == 'K')
        return ".crex";
    if (a == 'L' && b == 'T')
        return ".iwxxm";
    if (a == 'L')
        return ".grib";
    if (a == 'X' && b == 'W')
        return ".txt";
    if (a == 'X')
        return ".cap";
    if (a && strchr("DHOY", a))
        return ".grib";
    if (a && strchr("EPQR", a))
        return ".bin";
    return ".txt";
}

static enum sr_plugin_verdict wmotypesuffix_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                                   const char **why)
{
    const char *fop = h->api->msg_get(m, "fileOp");
    json_t *op = fop ? json_loads(fop, 0, NULL) : NULL;
    if (op != NULL && json_object_get(op, "directory") != NULL) {
        json_decref(op);
        return SR_PLUGIN_KEEP;
    }
    const char *nf = h->api->msg_get(m, "new_file");
    if (nf == NULL) {
        json_decref(op);
        return SR_PLUGIN_KEEP;
    }
    const char *sfx = wmo_suffix(nf);
    size_t nl = strlen(nf), sl = strlen(sfx);
    if (nl >= sl && strcmp(nf + nl - sl, sfx) == 0) {
        json_decref(op);
        return SR_PLUGIN_KEEP;
    }
    enum sr_plugin_verdict r = append_to(h, m, "new_file", sfx, why);
    if (r == SR_PLUGIN_KEEP)
        r = append_to(h, m, "rename", sfx, why);
    json_t *ren = op ? json_object_get(op, "rename") : NULL;
    if (r == SR_PLUGIN_KEEP && json_is_string(ren)) {
        size_t n = json_string_length(ren) + sl + 1;
        char *v = malloc(n);
        if (v != NULL) {
            snprintf(v, n, "%s%s", json_string_value(ren), sfx);
            json_object_set_new(op, "rename", json_string(v));
            char *text = json_dumps(op, JSON_COMPACT);
            if (text == NULL || h->api->msg_set_json(m, "fileOp", text) != 0) {
                *why = text ? h->api->error(h) : "out of memory";
                r = text ? SR_PLUGIN_REJECT : SR_PLUGIN_RETRY;
            }
            free(text);
            free(v);
        } else {
            *why = "out of memory";
            r = SR_PLUGIN_RETRY;
        }
    }
    json_decref(op);
    return r;
}

const sr_plugin sr_builtin_wmotypesuffix = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.wmotypesuffix",
    .after_accept = wmotypesuffix_accept,
};

/* ---- accept.printlag: one line per message saying how long ago it was published. */
static enum sr_plugin_verdict printlag_accept(sr_plugin_host *h, sr_plugin_msg *m, const char **why)
{
    (void)why;
    const char *pub = h->api->msg_get(m, "pubTime");
    const char *nf = h->api->msg_get(m, "new_file");
    struct timespec then, now;
    sr_err err = {0};
    if (pub == NULL || sr_time_parse(pub, &then, &err) != 0) {
        h->api->log(h, SR_PLUGIN_WARNING, "print_lag: no pubTime to measure from");
        return SR_PLUGIN_KEEP;
    }
    sr_time_now(&now);
    h->api->log(h, SR_PLUGIN_INFO, "print_lag, posted: %s, lag: %.2f sec. to deliver: %s", pub,
                sr_time_lag(&then, &now), nf ? nf : "");
    return SR_PLUGIN_KEEP;
}

const sr_plugin sr_builtin_printlag = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.printlag",
    .after_accept = printlag_accept,
};

/* ---- accept.pathreplace: each `pathReplace before,after` line replaces the first
 * occurrence of before in the fields pathReplaceFields names (dir: new_dir, file:
 * new_file, rename, hlink, link: those of fileOp; all by default). sr recomputes
 * new_relPath from new_dir and new_file (sr3 also strips post_baseDir from it by hand),
 * and refuses a new_dir outside the destination: such a message is rejected. */
static const char *const pathreplace_options[] = {"pathReplace", "pathReplaceFields", NULL};

enum { PR_DIR = 1, PR_FILE = 2, PR_RENAME = 4, PR_HLINK = 8, PR_LINK = 16, PR_ALL = 31 };

typedef struct pathreplace_state {
    unsigned fields;
    size_t n;
    char **before, **after;
} pathreplace_state;

static void pathreplace_stop(sr_plugin_host *h)
{
    pathreplace_state *st = h->state;
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n; i++) {
        free(st->before[i]);
        free(st->after[i]);
    }
    free(st->before);
    free(st->after);
    free(st);
    h->state = NULL;
}

/* pathReplaceFields: names separated by commas or blanks, on one or more lines. */
static int pathreplace_fields(sr_plugin_host *h, unsigned *fields)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"dir", PR_DIR},     {"file", PR_FILE}, {"rename", PR_RENAME},
                 {"hlink", PR_HLINK}, {"link", PR_LINK}, {"all", PR_ALL}};
    size_t lines = h->api->option_count(h, "pathReplaceFields");
    if (lines == 0) {
        *fields = PR_ALL;
        return 0;
    }
    *fields = 0;
    const char *sep = ", \t";
    for (size_t i = 0; i < lines; i++) {
        const char *v = h->api->option_at(h, "pathReplaceFields", i);
        for (const char *p = v + strspn(v, sep); *p; p += strspn(p, sep)) {
            size_t n = strcspn(p, sep), k;
            for (k = 0; k < sizeof names / sizeof names[0]; k++)
                if (strlen(names[k].name) == n && strncmp(names[k].name, p, n) == 0)
                    break;
            if (k == sizeof names / sizeof names[0]) {
                h->api->log(h, SR_PLUGIN_ERROR,
                            "pathReplaceFields: %.*s is none of dir, file, rename, hlink, link",
                            (int)n, p);
                return -1;
            }
            *fields |= names[k].bit;
            p += n;
        }
    }
    return 0;
}

static int pathreplace_start(sr_plugin_host *h)
{
    size_t n = h->api->option_count(h, "pathReplace");
    if (n == 0) {
        h->api->log(h, SR_PLUGIN_ERROR, "pathReplace is mandatory (pathReplace before,after)");
        return -1;
    }
    pathreplace_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    h->state = st;
    st->before = calloc(n, sizeof *st->before);
    st->after = calloc(n, sizeof *st->after);
    if (st->before == NULL || st->after == NULL || pathreplace_fields(h, &st->fields) != 0) {
        pathreplace_stop(h);
        return -1;
    }
    for (; st->n < n; st->n++) {
        const char *pair = h->api->option_at(h, "pathReplace", st->n);
        if (sr_builtin_split_pair(pair, &st->before[st->n], &st->after[st->n]) != 0) {
            h->api->log(h, SR_PLUGIN_ERROR, "pathReplace %s: not before,after", pair);
            pathreplace_stop(h);
            return -1;
        }
    }
    return 0;
}

/* Replace in one string field; KEEP when unchanged or changed. */
static enum sr_plugin_verdict replace_field(sr_plugin_host *h, sr_plugin_msg *m, const char *field,
                                            const char *b, const char *a, const char **why)
{
    const char *old = h->api->msg_get(m, field);
    if (old == NULL || strstr(old, b) == NULL)
        return SR_PLUGIN_KEEP;
    char *v = sr_builtin_replace_first(old, b, a);
    if (v == NULL) {
        *why = "out of memory";
        return SR_PLUGIN_RETRY;
    }
    enum sr_plugin_verdict r = set_or_reject(h, m, field, v, why);
    free(v);
    return r;
}

static enum sr_plugin_verdict replace_fileop(sr_plugin_host *h, sr_plugin_msg *m, unsigned fields,
                                             const char *b, const char *a, const char **why)
{
    const char *fop = h->api->msg_get(m, "fileOp");
    json_t *op = fop ? json_loads(fop, 0, NULL) : NULL;
    if (op == NULL)
        return SR_PLUGIN_KEEP;
    static const struct {
        const char *key;
        unsigned bit;
    } keys[] = {{"rename", PR_RENAME}, {"hlink", PR_HLINK}, {"link", PR_LINK}};
    bool changed = false;
    enum sr_plugin_verdict r = SR_PLUGIN_KEEP;
    for (size_t k = 0; k < 3 && r == SR_PLUGIN_KEEP; k++) {
        json_t *v = json_object_get(op, keys[k].key);
        if (!(fields & keys[k].bit) || !json_is_string(v) || !strstr(json_string_value(v), b))
            continue;
        char *nv = sr_builtin_replace_first(json_string_value(v), b, a);
        if (nv == NULL) {
            *why = "out of memory";
            r = SR_PLUGIN_RETRY;
            break;
        }
        json_object_set_new(op, keys[k].key, json_string(nv));
        free(nv);
        changed = true;
    }
    if (changed && r == SR_PLUGIN_KEEP) {
        char *text = json_dumps(op, JSON_COMPACT);
        if (text == NULL || h->api->msg_set_json(m, "fileOp", text) != 0) {
            *why = text ? h->api->error(h) : "out of memory";
            r = text ? SR_PLUGIN_REJECT : SR_PLUGIN_RETRY;
        }
        free(text);
    }
    json_decref(op);
    return r;
}

static enum sr_plugin_verdict pathreplace_accept(sr_plugin_host *h, sr_plugin_msg *m,
                                                 const char **why)
{
    pathreplace_state *st = h->state;
    if (st == NULL) {
        *why = "accept.pathreplace was not started";
        return SR_PLUGIN_RETRY;
    }
    enum sr_plugin_verdict r = SR_PLUGIN_KEEP;
    for (size_t i = 0; i < st->n && r == SR_PLUGIN_KEEP; i++) {
        const char *b = st->before[i], *a = st->after[i];
        if (st->fields & PR_DIR)
            r = replace_field(h, m, "new_dir", b, a, why);
        if (r == SR_PLUGIN_KEEP && (st->fields & PR_FILE))
            r = replace_field(h, m, "new_file", b, a, why);
        if (r == SR_PLUGIN_KEEP)
            r = replace_fileop(h, m, st->fields, b, a, why);
    }
    return r;
}

const sr_plugin sr_builtin_pathreplace = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "accept.pathreplace",
    .options = pathreplace_options,
    .on_start = pathreplace_start,
    .on_stop = pathreplace_stop,
    .after_accept = pathreplace_accept,
};
