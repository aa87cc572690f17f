/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * localsource: see localsource.h.
 */
#include "localsource.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strlist.h"
#include "timefmt.h"

int sr_local_announce_options(const sr_config *cfg, sr_identity_spec *spec, sr_announce_options *o,
                              sr_err *err)
{
    memset(o, 0, sizeof *o);
    memset(spec, 0, sizeof *spec);
    /* the identity option always holds a method (options.def has its default) */
    int rc = sr_identity_spec_parse(sr_config_str(cfg, SR_OPT_identity), spec, err);
    if (rc != SR_OK)
        return rc;
    *o = (sr_announce_options){
        .base_url = sr_config_str(cfg, SR_OPT_post_baseUrl),
        .base_dir = sr_config_str(cfg, SR_OPT_post_baseDir),
        .identity = spec,
        .time_copy = sr_config_flag(cfg, SR_OPT_timeCopy),
        .perm_copy = sr_config_flag(cfg, SR_OPT_permCopy),
        .inline_content = sr_config_flag(cfg, SR_OPT_inline),
        .inline_max = sr_config_count(cfg, SR_OPT_inlineByteMax),
        .inline_encoding = (enum sr_inline_encoding)sr_config_choice(cfg, SR_OPT_inlineEncoding),
        .realpath = sr_config_flag(cfg, SR_OPT_realpathPost),
        .headers = sr_config_headers(cfg),
        .from_cluster = sr_config_str(cfg, SR_OPT_cluster),
        .to_clusters = sr_config_str(cfg, SR_OPT_to_clusters),
        /* whole files unless the config says otherwise: conf.d/post.conf and watch.conf
         * start both at 1, sr3's default for them */
        .block_size = sr_config_count(cfg, SR_OPT_blockSize),
        .rename = sr_config_str(cfg, SR_OPT_rename),
        .time_offset = sr_config_seconds(cfg, SR_OPT_varTimeOffset),
    };
    return SR_OK;
}

struct sr_post_source {
    sr_identity_spec spec;
    sr_announce_options announce;
    bool recursive;
    bool follow;        /* follow_symlinks: descend into links to folders */
    sr_strlist pending; /* paths still to visit, last first */
    size_t failures;
    sr_log *log;
};

int sr_post_source_new(const sr_config *cfg, sr_log *log, char *const *paths, size_t count,
                       sr_post_source **out, sr_err *err)
{
    *out = NULL;
    sr_post_source *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    s->log = log;
    int rc = sr_local_announce_options(cfg, &s->spec, &s->announce, err);
    s->recursive = sr_config_flag(cfg, SR_OPT_recursive);
    s->follow = sr_config_flag(cfg, SR_OPT_follow_symlinks);
    const sr_strlist *configured = sr_config_list(cfg, SR_OPT_path);
    /* pending is a stack: pushed in reverse so the first path is posted first */
    for (size_t i = count; rc == SR_OK && i > 0; i--)
        if (sr_strlist_push(&s->pending, paths[i - 1]) != 0)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    for (size_t i = configured->count; rc == SR_OK && count == 0 && i > 0; i--)
        if (sr_strlist_push(&s->pending, configured->items[i - 1]) != 0)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK && s->pending.count == 0)
        rc = sr_err_set(err, SR_EINVAL, false,
                        "nothing to post: give paths on the command line or `path` lines");
    if (rc != SR_OK) {
        sr_post_source_free(s);
        return rc;
    }
    *out = s;
    return SR_OK;
}

void sr_post_source_free(sr_post_source *s)
{
    if (s == NULL)
        return;
    sr_identity_spec_fini(&s->spec);
    sr_strlist_clear(&s->pending);
    free(s);
}

size_t sr_post_source_failures(const sr_post_source *s)
{
    return s->failures;
}

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a); /* reversed: the stack pops a..z */
}

/* Push the entries of a folder (sorted, so a tree posts in a stable order). */
static void push_children(sr_post_source *s, const char *dir, sr_log *log)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        sr_log_write(log, SR_LOG_ERROR, "cannot read folder %s: %s", dir, strerror(errno));
        s->failures++;
        return;
    }
    sr_strlist children = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        sr_strlist_pushf(&children, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                         e->d_name);
    }
    closedir(d);
    qsort(children.items, children.count, sizeof children.items[0], compare);
    for (size_t i = 0; i < children.count; i++)
        sr_strlist_push(&s->pending, children.items[i]);
    sr_strlist_clear(&children);
}

/* follow_symlinks: is path (a link) a folder to descend into? Not when it leads back to
 * a folder it is in already (path's own prefixes, each resolved): that would be a loop.
 * Every endless path through links meets such a link, so the walk ends. */
bool sr_local_follow_ok(const char *path)
{
    struct stat target;
    if (stat(path, &target) != 0 || !S_ISDIR(target.st_mode))
        return false;
    char *prefix = strdup(path);
    if (prefix == NULL)
        return false;
    bool ok = true;
    for (char *slash = strrchr(prefix, '/'); ok && slash != NULL; slash = strrchr(prefix, '/')) {
        *slash = '\0';
        struct stat up;
        if (stat(prefix[0] ? prefix : "/", &up) == 0 && up.st_dev == target.st_dev &&
            up.st_ino == target.st_ino)
            ok = false;
        if (prefix[0] == '\0')
            break;
    }
    free(prefix);
    return ok;
}

static char *pop(sr_strlist *stack)
{
    if (stack->count == 0)
        return NULL;
    char *top = stack->items[--stack->count];
    stack->items[stack->count] = NULL;
    return top;
}

static int post_source_gather(void *ctx, sr_message ***msgs, size_t *count, size_t max,
                              bool *exhausted, sr_err *err)
{
    sr_post_source *s = ctx;
    sr_log *log = s->log;
    *msgs = calloc(max ? max : 1, sizeof **msgs);
    *count = 0;
    if (*msgs == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    struct timespec now;
    sr_time_now(&now);
    size_t cap = max ? max : 1;
    while (*count < max) {
        char *path = pop(&s->pending);
        if (path == NULL)
            break;
        struct stat st;
        bool found = lstat(path, &st) == 0;
        bool is_link = found && S_ISLNK(st.st_mode);
        if (is_link && s->follow && s->recursive) {
            /* follow_symlinks: the link is announced, and the files of the folder it leads
             * to under its name (as sr3's post walks them) */
            if (sr_local_follow_ok(path))
                push_children(s, path, log);
            else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                sr_log_write(log, SR_LOG_WARNING,
                             "%s leads back to a folder it is in: not followed (a loop)", path);
        }
        if (found && !is_link && S_ISDIR(st.st_mode)) {
            /* a folder is posted as the files in it, as sr3 posts it */
            if (s->recursive)
                push_children(s, path, log);
            else
                sr_log_write(log, SR_LOG_WARNING, "%s is a folder and recursive is off: skipped",
                             path);
            free(path);
            continue;
        }
        sr_message *m = NULL;
        sr_announce_stats stats;
        sr_err why;
        sr_message **parts = NULL;
        size_t n = 0;
        if (sr_announce_path(&s->announce, path, &now, &m, &stats, &why) == SR_OK &&
            sr_announce_blocks(&s->announce, path, m, &parts, &n, &why) == SR_OK) {
            /* a file in blocks is several messages: the batch grows past max for it */
            if (*count + n > cap) {
                sr_message **grown = realloc(*msgs, (*count + n) * sizeof **msgs);
                if (grown == NULL) {
                    for (size_t i = 0; i < n; i++)
                        sr_message_free(parts[i]);
                    free(parts);
                    free(path);
                    return sr_err_set(err, SR_ENOMEM, false, "out of memory");
                }
                *msgs = grown;
                cap = *count + n;
            }
            for (size_t i = 0; i < n; i++)
                (*msgs)[(*count)++] = parts[i];
            free(parts);
        } else {
            sr_log_write(log, SR_LOG_ERROR, "%s", why.msg);
            s->failures++;
        }
        free(path);
    }
    *exhausted = s->pending.count == 0;
    return SR_OK;
}

void sr_post_source_component(sr_post_source *s, sr_flow_component *out)
{
    memset(out, 0, sizeof *out);
    out->gather = post_source_gather;
    out->ctx = s;
}
