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
    int rc = stripped(r, sr_message_rel_path(m), &rel, err);
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
