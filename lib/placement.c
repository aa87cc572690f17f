/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * placement: see placement.h.
 */
#include "placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jail.h"
#include "strlist.h"
#include "url.h"
#include "varsub.h"

/* The relPath's elements, empty ones and "." dropped; ".." refused. */
static int split(const char *rel, sr_strlist *parts, sr_err *err)
{
    char *copy = strdup(rel);
    if (copy == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    char *save = NULL;
    int rc = SR_OK;
    for (char *p = strtok_r(copy, "/", &save); p && rc == SR_OK; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0)
            continue;
        if (strcmp(p, "..") == 0)
            rc = sr_err_set(err, SR_EREFUSED, false,
                            "relPath %s: \"..\" would place the file outside the destination", rel);
        else if (sr_strlist_push(parts, p) != 0)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(copy);
    if (rc == SR_OK && parts->count == 0)
        rc = sr_err_set(err, SR_EINVAL, false, "relPath %s names no file", rel);
    return rc;
}

/* relPath after baseDir and strip. New string. */
static int stripped(const sr_placement_rules *r, const char *rel, char **out, sr_err *err)
{
    while (*rel == '/')
        rel++;
    /* baseDir: a relPath that starts with it (as an absolute path would) loses it */
    if (r->base_dir != NULL) {
        const char *bd = r->base_dir;
        while (*bd == '/')
            bd++;
        size_t n = strlen(bd);
        while (n > 0 && bd[n - 1] == '/')
            n--;
        if (n > 0 && strncmp(rel, bd, n) == 0 && rel[n] == '/')
            rel += n + 1;
    }
    if (r->strip_regex != NULL) {
        size_t start = 0, end = 0;
        int m = sr_regex_match(r->strip_regex, rel, false, NULL, 0, NULL, &start, &end);
        if (m < 0)
            return sr_err_set(err, SR_EINVAL, false, "strip: matching %s failed", rel);
        if (m == 1 && end > start) {
            size_t len = strlen(rel);
            char *o = malloc(len - (end - start) + 1);
            if (o == NULL)
                return sr_err_set(err, SR_ENOMEM, false, "out of memory");
            memcpy(o, rel, start);
            strcpy(o + start, rel + end);
            *out = o;
            return SR_OK;
        }
    }
    *out = strdup(rel);
    return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

static char *joined(const sr_strlist *parts, size_t from, size_t to, const char *sep)
{
    size_t len = 1;
    for (size_t i = from; i < to; i++)
        len += strlen(parts->items[i]) + strlen(sep);
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = from; i < to; i++) {
        if (i > from)
            strcat(out, sep);
        strcat(out, parts->items[i]);
    }
    return out;
}

/* rel of path under post_base_dir (the absolute path without '/' when unset). */
static char *announced_rel(const char *post_base_dir, const char *path)
{
    size_t n = post_base_dir ? strlen(post_base_dir) : 0;
    while (n > 0 && post_base_dir[n - 1] == '/')
        n--;
    const char *rest = path;
    if (n > 0 && strncmp(path, post_base_dir, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        rest = path + n;
    while (*rest == '/')
        rest++;
    return strdup(rest);
}

/* The destination root: the folders of directory's expansion that the configuration
 * wrote (up to the last '/' before the first value the message chose: trusted). A
 * directory that starts with such a value has none when absolute: refused, as the message
 * would choose where on the host its files go. */
static int config_root(const char *directory, const char *expanded, size_t trusted, char **out,
                       sr_err *err)
{
    size_t cut = strlen(expanded);
    if (trusted < cut) {
        cut = trusted;
        while (cut > 0 && expanded[cut - 1] != '/')
            cut--;
    }
    while (cut > 1 && expanded[cut - 1] == '/')
        cut--;
    if (cut == 0 && expanded[0] == '/')
        return sr_err_set(err, SR_EREFUSED, false,
                          "directory %s starts with a value the message chooses: no folder of "
                          "the configuration's holds its files",
                          directory);
    *out = cut == 0 ? strdup(".") : strndup(expanded, cut);
    return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

/* path relative to root (path starts with root, or root is "."). New string. */
static char *below(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
        n = 0;
    else if (strncmp(path, root, n) == 0 && path[n] == '/')
        n++;
    else if (strcmp(root, ".") == 0)
        n = 0;
    while (path[n] == '/')
        n++;
    return strdup(path + n);
}

/* ---- Sundew naming (the filename option) ---- */

/* One word of a filename spec: which, and for DESTFN=/SATNET= the value after '='. */
enum sundew_word {
    SW_NOTHING,
    SW_WHATFN,
    SW_HEADFN,
    SW_NONE,
    SW_NONESENDER,
    SW_SENDER,
    SW_DESTFN,
    SW_SATNET,
    SW_TIME,
    SW_SCRIPT,
    SW_UNKNOWN
};

static enum sundew_word sundew_word(const char *w, size_t n, const char **value)
{
    static const struct {
        const char *name;
        enum sundew_word word;
    } plain[] = {{"WHATFN", SW_WHATFN},         {"HEADFN", SW_HEADFN}, {"NONE", SW_NONE},
                 {"NONESENDER", SW_NONESENDER}, {"SENDER", SW_SENDER}, {"TIME", SW_TIME}};
    static const struct {
        const char *prefix;
        enum sundew_word word;
    } valued[] = {{"DESTFNSCRIPT=", SW_SCRIPT}, {"DESTFN=", SW_DESTFN}, {"SATNET=", SW_SATNET}};
    *value = NULL;
    if (n == 0)
        return SW_NOTHING; /* "TIME:" ends in an empty word: nothing to do */
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strlen(plain[i].name) == n && strncmp(w, plain[i].name, n) == 0)
            return plain[i].word;
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++) {
        size_t pl = strlen(valued[i].prefix);
        if (n >= pl && strncmp(w, valued[i].prefix, pl) == 0) {
            *value = w + pl;
            return valued[i].word;
        }
    }
    return SW_UNKNOWN;
}

static bool spec_is_none(const char *spec)
{
    return spec == NULL || spec[0] == '\0' || strcmp(spec, "None") == 0;
}

int sr_placement_filename_check(const char *spec, sr_err *err)
{
    if (spec_is_none(spec))
        return SR_OK;
    for (const char *w = spec;;) {
        size_t n = strcspn(w, ":");
        const char *value;
        enum sundew_word word = sundew_word(w, n, &value);
        if (word == SW_SCRIPT && value == w + n)
            return sr_err_set(err, SR_EINVAL, false,
                              "filename %s: DESTFNSCRIPT= needs the name of a plugin with destfn "
                              "(sr-plugin(7))",
                              spec);
        if (word == SW_UNKNOWN)
            return sr_err_set(err, SR_EINVAL, false,
                              "filename %s: %.*s is not a Sundew naming word (WHATFN, HEADFN, "
                              "NONE, NONESENDER, SENDER, TIME, DESTFN=NAME, SATNET=X)",
                              spec, (int)n, w);
        if (word == SW_DESTFN &&
            (memchr(value, '/', n - (size_t)(value - w)) != NULL || value == w + n))
            return sr_err_set(err, SR_EINVAL, false,
                              "filename %s: DESTFN= needs one file name, without '/'", spec);
        if (w[n] == '\0')
            break;
        w += n + 1;
    }
    return SR_OK;
}

int sr_placement_filename_scripts(const char *spec, sr_strlist *out)
{
    if (spec_is_none(spec))
        return 0;
    for (const char *w = spec;;) {
        size_t n = strcspn(w, ":");
        const char *value;
        if (sundew_word(w, n, &value) == SW_SCRIPT && value < w + n &&
            sr_strlist_pushf(out, "%.*s", (int)(n - (size_t)(value - w)), value) != 0)
            return -1;
        if (w[n] == '\0')
            return 0;
        w += n + 1;
    }
}

/* The fields of a name joined by ':', the first count of them. */
static char *first_fields(const sr_strlist *parts, size_t count)
{
    return joined(parts, 0, count < parts->count ? count : parts->count, ":");
}

/* NONE and NONESENDER: a PX (six fields) or PDS (five) name cut to its usual fields. */
static char *sundew_none(const char *filename, const sr_strlist *parts, bool keep_sender,
                         const char *current)
{
    const char *sender = strstr(filename, "SENDER=");
    char *out;
    if (sender != NULL) {
        size_t end = (size_t)(sender - filename);
        if (keep_sender)
            end += strcspn(sender, ":");
        out = strndup(filename, end);
    } else if (parts->count >= 6) {
        out = first_fields(parts, strlen(parts->items[4]) != 1 ? 5 : 6);
    } else {
        out = strdup(current);
    }
    size_t n = out ? strlen(out) : 0;
    if (n > 0 && out[n - 1] == ':')
        out[n - 1] = '\0';
    return out;
}

/* The words of a name split on ':', empty ones kept (a Sundew name's fields are
 * positional). */
static int split_fields(const char *name, sr_strlist *parts)
{
    for (const char *p = name;;) {
        size_t n = strcspn(p, ":");
        if (sr_strlist_pushf(parts, "%.*s", (int)n, p) != 0)
            return -1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

/* DESTFNSCRIPT=script: the plugin's name for m's file (r->destfn), or an error. The name
 * is checked by the caller with every other Sundew result. */
static int script_name(const sr_placement_rules *r, const sr_message *m, const char *script,
                       size_t len, char **next, sr_err *err)
{
    char *name = strndup(script, len);
    if (name == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc;
    if (r == NULL || r->destfn == NULL || m == NULL)
        rc = sr_err_set(err, SR_EINVAL, false,
                        "filename DESTFNSCRIPT=%s: no sr plugin named %s with destfn", name, name);
    else
        rc = r->destfn(r->destfn_ctx, name, m, next, err);
    free(name);
    return rc;
}

static int sundew_name(const char *spec, const char *name, const char *extension,
                       const char *pub_time, const sr_placement_rules *r, const sr_message *m,
                       char **out, sr_err *err);

int sr_placement_sundew_name(const char *spec, const char *name, const char *extension,
                             const char *pub_time, char **out, sr_err *err)
{
    return sundew_name(spec, name, extension, pub_time, NULL, NULL, out, err);
}

static int sundew_name(const char *spec, const char *name, const char *extension,
                       const char *pub_time, const sr_placement_rules *r, const sr_message *m,
                       char **out, sr_err *err)
{
    *out = NULL;
    if (spec_is_none(spec)) {
        *out = strdup(name);
        return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    int rc = sr_placement_filename_check(spec, err);
    if (rc != SR_OK)
        return rc;
    sr_strlist parts = {0};
    char *first = strndup(name, strcspn(name, ":"));
    char *filename = NULL, *dest = NULL, *satnet = NULL, *time_suffix = NULL;
    bool oom = first == NULL;
    if (!oom && extension != NULL) {
        /* a Sundew source's fields after the first travel beside the name */
        oom = asprintf(&filename, "%s:%s", first, extension) < 0;
        if (oom)
            filename = NULL;
    } else if (!oom) {
        oom = (filename = strdup(name)) == NULL;
    }
    oom = oom || split_fields(filename, &parts) != 0 || (dest = strdup(filename)) == NULL;
    for (const char *w = spec; !oom && rc == SR_OK;) {
        size_t n = strcspn(w, ":");
        const char *value;
        char *next = NULL;
        switch (sundew_word(w, n, &value)) {
        case SW_WHATFN:
            next = strdup(first);
            break;
        case SW_HEADFN: {
            size_t a = strcspn(first, "_");
            size_t b = first[a] == '_' ? a + 1 + strcspn(first + a + 1, "_") : a;
            next = strndup(first, b);
            break;
        }
        case SW_SENDER: {
            const char *s = strstr(filename, "SENDER=");
            if (s != NULL)
                next = strndup(s + 7, strcspn(s + 7, ":"));
            break;
        }
        case SW_NONE:
        case SW_NONESENDER:
            next = sundew_none(filename, &parts, sundew_word(w, n, &value) == SW_NONESENDER, dest);
            break;
        case SW_DESTFN:
            next = strndup(value, n - (size_t)(value - w));
            break;
        case SW_SCRIPT:
            /* sr3 logs the plugin's failure and gives the message no name: it goes no
             * further (here with the reason) */
            rc = script_name(r, m, value, n - (size_t)(value - w), &next, err);
            break;
        case SW_SATNET:
            free(satnet);
            oom = asprintf(&satnet, ":%.*s", (int)n, w) < 0;
            if (oom)
                satnet = NULL;
            break;
        case SW_TIME: {
            /* pubTime without its fraction and its 'T'; the name's own time if it ends
             * with one (a PX name) */
            char t[32] = "";
            const char *last = parts.count ? parts.items[parts.count - 1] : "";
            if (strlen(last) == 14 && last[0] == '2') {
                snprintf(t, sizeof t, "%s", last);
            } else if (pub_time != NULL) {
                size_t k = 0;
                for (const char *c = pub_time; *c && *c != '.' && k + 1 < sizeof t; c++)
                    if (*c != 'T')
                        t[k++] = *c;
                t[k] = '\0';
            } else {
                time_t now = time(NULL);
                struct tm tm;
                gmtime_r(&now, &tm);
                strftime(t, sizeof t, "%Y%m%d%H%M%S", &tm);
            }
            free(time_suffix);
            oom = asprintf(&time_suffix, ":%s", t) < 0;
            if (oom)
                time_suffix = NULL;
            break;
        }
        default: /* SW_NOTHING; the check refused the others */
            break;
        }
        if (next != NULL) {
            free(dest);
            dest = next;
        }
        if (w[n] == '\0')
            break;
        w += n + 1;
    }
    if (!oom && rc == SR_OK &&
        asprintf(out, "%s%s%s", dest, satnet ? satnet : "", time_suffix ? time_suffix : "") < 0) {
        *out = NULL;
        oom = true;
    }
    if (oom)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    else if (rc != SR_OK)
        ; /* the plugin's error, as it said it */
    else if ((*out)[0] == '\0' || strchr(*out, '/') != NULL || strcmp(*out, ".") == 0 ||
             strcmp(*out, "..") == 0)
        rc = sr_err_set(err, SR_EREFUSED, false,
                        "filename %s makes \"%s\" of %s: not one file name", spec, *out, name);
    if (rc != SR_OK) {
        free(*out);
        *out = NULL;
    }
    free(first);
    free(filename);
    free(dest);
    free(satnet);
    free(time_suffix);
    sr_strlist_clear(&parts);
    return rc;
}

void sr_placement_fini(sr_placement *p)
{
    free(p->dir);
    free(p->name);
    free(p->path);
    free(p->rel_path);
    free(p->base_url);
    free(p->root);
    free(p->under_root);
    memset(p, 0, sizeof *p);
}

int sr_placement_compute(const sr_placement_rules *r, const sr_message *m, time_t now,
                         sr_placement *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    sr_strlist parts = {0};
    char *rel = NULL, *root = NULL, *sub = NULL;
    size_t trusted = 0;
    char *prefixed = NULL;
    int rc = SR_OK;
    if (r->base_url_rel_path) {
        /* baseUrl_relPath: the baseUrl's path is part of where the file goes (its ".."
         * is refused with the relPath's below) */
        sr_url u;
        rc = sr_url_parse(sr_message_base_url(m), &u, err);
        if (rc == SR_OK) {
            const char *bp = u.path;
            while (*bp == '/')
                bp++;
            if (*bp != '\0' && asprintf(&prefixed, "%s/%s", bp, sr_message_rel_path(m)) < 0) {
                prefixed = NULL;
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            }
            sr_url_fini(&u);
        }
    }
    if (rc == SR_OK)
        rc = stripped(r, prefixed ? prefixed : sr_message_rel_path(m), &rel, err);
    if (rc == SR_OK)
        rc = split(rel, &parts, err);
    size_t first = 0;
    if (rc == SR_OK && r->strip_count > 0) {
        /* strip N: the first N folders go; the file name always stays */
        first = (size_t)r->strip_count < parts.count ? (size_t)r->strip_count : parts.count - 1;
    }

    /* the destination root, with this message's variables */
    if (rc == SR_OK) {
        sr_msgvars vars = {.now = now,
                           .time_offset = r->time_offset,
                           .base_dir = r->base_dir,
                           .post_base_dir = r->post_base_dir,
                           .base_url = sr_message_base_url(m),
                           .source = r->source ? r->source : sr_message_str(m, "source"),
                           .groups = r->groups,
                           .group_count = r->group_count};
        rc = sr_varsub_message(r->directory ? r->directory : ".", &vars, &root, &trusted, err);
    }
    if (rc == SR_OK)
        rc = config_root(r->directory ? r->directory : ".", root, trusted, &out->root, err);

    /* the poster's rename: a new name, or (ending in '/') a new folder */
    const char *renamed = sr_message_str(m, "rename");
    if (rc == SR_OK) {
        bool flat = r->flatten != NULL && strcmp(r->flatten, "/") != 0;
        if (flat) {
            out->name = joined(&parts, first, parts.count, r->flatten);
            sub = strdup("");
        } else {
            out->name = strdup(parts.items[parts.count - 1]);
            sub = r->mirror ? joined(&parts, first, parts.count - 1, "/") : strdup("");
        }
        if (out->name == NULL || sub == NULL)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (rc == SR_OK && renamed != NULL && renamed[0] != '\0') {
        size_t n = strlen(renamed);
        const char *base = strrchr(renamed, '/');
        if (renamed[n - 1] == '/') {
            free(sub);
            sub = strndup(renamed, n - 1);
        } else {
            free(out->name);
            out->name = strdup(base ? base + 1 : renamed);
            if (base != NULL) {
                free(sub);
                sub = strndup(renamed, (size_t)(base - renamed));
            }
        }
        sr_strlist check = {0};
        if (rc == SR_OK && sub && sub[0] && split(sub, &check, err) != SR_OK)
            rc = SR_EINVAL; /* a rename climbing out is refused like a relPath */
        sr_strlist_clear(&check);
    }
    if (rc == SR_OK && r->filename != NULL) {
        char *named = NULL;
        rc = sundew_name(r->filename, out->name, sr_message_str(m, "sundew_extension"),
                         sr_message_pub_time(m), r, m, &named, err);
        if (rc == SR_OK) {
            free(out->name);
            out->name = named;
        }
    }
    if (rc == SR_OK) {
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/')
            root[--rl] = '\0';
        const char *s = sub;
        while (*s == '/')
            s++;
        if (asprintf(&out->dir, "%s%s%s", root, *s ? "/" : "", s) < 0)
            out->dir = NULL;
        if (out->dir == NULL || asprintf(&out->path, "%s/%s", out->dir, out->name) < 0 ||
            (out->under_root = below(out->root, out->path)) == NULL ||
            (out->rel_path = announced_rel(r->post_base_dir, out->path)) == NULL ||
            (r->post_base_url && (out->base_url = strdup(r->post_base_url)) == NULL))
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(prefixed);
    free(rel);
    free(root);
    free(sub);
    sr_strlist_clear(&parts);
    if (rc != SR_OK)
        sr_placement_fini(out);
    return rc;
}

int sr_placement_source(const sr_placement_rules *r, const sr_message *m, time_t now, char **root,
                        char **under_root, sr_err *err)
{
    *root = *under_root = NULL;
    const char *rel = sr_message_rel_path(m);
    while (*rel == '/')
        rel++;
    if (!sr_jail_rel_ok(rel))
        return sr_err_set(err, SR_EREFUSED, false,
                          "relPath %s: \"..\" would read outside baseDir, or names no file", rel);
    if (r->base_dir == NULL || r->base_dir[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "no baseDir to read %s from", rel);
    sr_msgvars vars = {.now = now,
                       .time_offset = r->time_offset,
                       .base_dir = r->base_dir,
                       .post_base_dir = r->post_base_dir,
                       .base_url = sr_message_base_url(m),
                       .source = r->source ? r->source : sr_message_str(m, "source")};
    char *dir = NULL, *full = NULL;
    size_t trusted = 0;
    int rc = sr_varsub_message(r->base_dir, &vars, &dir, &trusted, err);
    if (rc == SR_OK)
        rc = config_root(r->base_dir, dir, trusted, root, err);
    if (rc == SR_OK) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        /* A relPath that starts with baseDir already (a watch posting absolute paths with
         * post_baseUrl file:) names the file where it is; sr3 would read baseDir twice. */
        const char *d = dir;
        while (*d == '/')
            d++;
        size_t dn = n - (size_t)(d - dir);
        if (dn > 0 && strncmp(rel, d, dn) == 0 && rel[dn] == '/')
            rel += dn + 1;
        if (asprintf(&full, "%.*s/%s", (int)n, dir, rel) < 0)
            full = NULL;
        if (full == NULL || (*under_root = below(*root, full)) == NULL)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(dir);
    free(full);
    if (rc != SR_OK) {
        free(*root);
        *root = NULL;
    }
    return rc;
}
