/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * poller: the gather step of sr_poll (poller.h says what it does).
 *
 * A run walks the configured paths one folder at a time: the folder is listed through the
 * transfer layer, each entry judged as it arrives (sink_entry), and only what is to be
 * announced is kept, packed in one buffer (the folder's path is shared by all of them),
 * until gather has handed it all to the flow as messages, `batch` at a time. Then the next
 * folder is listed. So memory is the new entries of one folder, not the listing, nor the
 * tree, nor the messages; what was announced is remembered by seen.h, a hash per file.
 */
#include "poller.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "announce.h"
#include "localsource.h"
#include "nodupe.h"
#include "plugins.h"
#include "schedule.h"
#include "seen.h"
#include "timefmt.h"
#include "transfer.h"
#include "transferconf.h"
#include "varsub.h"

/* The first line a listing could not read is quoted up to this many bytes. */
#define BAD_QUOTE_MAX 200

/* One entry to announce, packed in the pending buffer: this header, then the name and
 * the link target, each with its NUL. */
typedef struct pending_head {
    long long size;
    struct timespec mtime;
    unsigned mode;
    unsigned char has_mtime, has_perms, has_link;
    unsigned short name_len;
    unsigned short link_len;
} pending_head;

typedef struct sr_poller {
    const sr_config *cfg;
    sr_log *log;
    sr_metrics *metrics;
    sr_transfer_setup ts;
    sr_transfer_pool *pool;
    const char *poll_url;
    bool http;            /* paths are beneath pollUrl's path */
    char *url_path;       /* pollUrl's path, for http */
    char *base_path;      /* post_baseUrl's path, cut from relPaths as sr3 cuts it */
    const char *base_dir; /* post_baseDir, cut from relPaths as sr3 cuts it */
    sr_identity_spec spec;
    sr_announce_options ann;
    sr_listing_options lopts;
    sr_seen *seen;
    sr_schedule sched;
    enum sr_nodupe_basis basis;
    double age_min, age_max, time_offset;
    unsigned perm;
    bool recursive, post_dirs, post_links, post_files;

    /* the run in progress */
    double next_run;
    bool walking;
    double run_start;
    sr_strlist folders; /* still to list (as configured: the relPath before the name) */
    char *folder;       /* the one listed last: the folder of the pending entries */
    char *pending;      /* pending_head records */
    size_t pending_len, pending_cap, pending_at;
    /* this folder's listing */
    double now;
    size_t bad_lines;
    char bad_first[BAD_QUOTE_MAX + 1];
    int sink_error;
    /* counts of the run, for its summary line */
    size_t listed, announced, changed, skipped_old, skipped_perm, rejected, bad_total,
        folders_listed;
    bool failed;

    /* A plugin's poll hook (plugins.h: sr_plugins_poll) replaces the listing: the run in
     * progress hands out its messages, filtered as sr3 filters them (plugin_keep). */
    struct sr_plugins *plugins; /* the config's, or NULL */
    bool by_plugin;             /* this run is the plugins' */
    sr_message **polled;
    size_t polled_count, polled_at;
    size_t too_young, known;
} sr_poller;

/* ---- relPaths and keys ---- */

/* The relPath sr3 writes for name in folder (folder as configured, or below): "folder/
 * name", post_baseDir then the post_baseUrl's path cut from its start when they lead it
 * (each only when longer than "/"), then one leading '/' dropped. New string. */
static char *rel_path_of(const sr_poller *p, const char *folder, const char *name)
{
    char *full = NULL;
    if (asprintf(&full, "%s/%s", folder, name) < 0)
        return NULL;
    const char *rel = full;
    size_t n;
    if (p->base_dir != NULL && (n = strlen(p->base_dir)) > 1 && strncmp(rel, p->base_dir, n) == 0)
        rel += n;
    if (p->base_path != NULL && (n = strlen(p->base_path)) > 1 &&
        strncmp(rel, p->base_path, n) == 0)
        rel += n;
    if (rel[0] == '/')
        rel++;
    char *out = strdup(rel);
    free(full);
    return out;
}

/* What the memory knows a file by: its relPath, or its name (nodupe_basis name). */
static void key_of(const sr_poller *p, const char *rel, const char **key, size_t *len)
{
    const char *k = rel;
    if (p->basis == SR_NODUPE_NAME) {
        const char *slash = strrchr(rel, '/');
        if (slash != NULL)
            k = slash + 1;
    }
    *key = k;
    *len = strlen(k);
}

/* The mark of a version of a file, as its message carries it: the mtime only with
 * timeCopy (a message without one says nothing of it), the size of files only. */
static sr_seen_mark mark_of_listed(const sr_poller *p, const sr_listed *e)
{
    sr_seen_mark m = {.has_mtime = false, .size = -1};
    if (S_ISDIR(e->mode) || S_ISLNK(e->mode))
        return m; /* sr3 knows a folder or a link by its path alone */
    m.has_mtime = e->has_mtime && p->ann.time_copy;
    if (m.has_mtime)
        m.mtime = e->mtime;
    m.size = e->size;
    return m;
}

static sr_seen_mark mark_of_message(const sr_message *msg)
{
    sr_seen_mark m = {.has_mtime = false, .size = -1};
    sr_fileop op;
    if (sr_message_fileop(msg, &op))
        return m;
    const char *t = sr_message_str(msg, "mtime");
    sr_err ignored;
    if (t != NULL && sr_time_parse(t, &m.mtime, &ignored) == SR_OK)
        m.has_mtime = true;
    long long size;
    if (sr_message_size(msg, &size))
        m.size = size;
    return m;
}

/* ---- the pending buffer ---- */

static int pending_add(sr_poller *p, const sr_listed *e, size_t name_len)
{
    size_t link_len = e->link ? strlen(e->link) : 0;
    if (name_len > USHRT_MAX || link_len > USHRT_MAX)
        return SR_EINVAL;
    size_t need = sizeof(pending_head) + name_len + 1 + (e->link ? link_len + 1 : 0);
    need = (need + 7) & ~(size_t)7;
    if (p->pending_len + need > p->pending_cap) {
        size_t cap = p->pending_cap ? p->pending_cap * 2 : 16384;
        while (cap < p->pending_len + need)
            cap *= 2;
        char *grown = realloc(p->pending, cap);
        if (grown == NULL)
            return SR_ENOMEM;
        p->pending = grown;
        p->pending_cap = cap;
    }
    char *at = p->pending + p->pending_len;
    pending_head h = {.size = e->size,
                      .mtime = e->mtime,
                      .mode = (unsigned)e->mode,
                      .has_mtime = e->has_mtime,
                      .has_perms = e->has_perms,
                      .has_link = e->link != NULL,
                      .name_len = (unsigned short)name_len,
                      .link_len = (unsigned short)link_len};
    memcpy(at, &h, sizeof h);
    memcpy(at + sizeof h, e->name, name_len + 1);
    if (e->link)
        memcpy(at + sizeof h + name_len + 1, e->link, link_len + 1);
    p->pending_len += need;
    return SR_OK;
}

/* The next pending entry as a listing entry (its strings point into the buffer), or false. */
static bool pending_next(sr_poller *p, sr_listed *e)
{
    if (p->pending_at >= p->pending_len) {
        p->pending_at = p->pending_len = 0;
        return false;
    }
    const char *at = p->pending + p->pending_at;
    pending_head h;
    memcpy(&h, at, sizeof h);
    *e = (sr_listed){.name = at + sizeof h,
                     .size = h.size,
                     .mtime = h.mtime,
                     .has_mtime = h.has_mtime,
                     .mode = (mode_t)h.mode,
                     .has_perms = h.has_perms,
                     .link = h.has_link ? at + sizeof h + h.name_len + 1 : NULL};
    size_t used = sizeof h + h.name_len + 1 + (h.has_link ? h.link_len + 1u : 0u);
    p->pending_at += (used + 7) & ~(size_t)7;
    return true;
}

/* ---- one folder's listing ---- */

static void sink_bad(void *ctx, const char *line)
{
    sr_poller *p = ctx;
    if (p->bad_lines++ == 0)
        snprintf(p->bad_first, sizeof p->bad_first, "%s", line);
}

/* Is the entry's URL accepted by the accept/reject lines? */
static bool accepted(const sr_poller *p, const char *rel)
{
    char *url = NULL;
    const char *base = p->ann.base_url;
    size_t n = strlen(base);
    if (asprintf(&url, "%s%s%s", base, n > 0 && base[n - 1] == '/' ? "" : "/", rel) < 0)
        return true; /* out of memory: the flow's filter decides */
    bool ok = false;
    sr_config_match(p->cfg, url, &ok, NULL, 0, NULL);
    free(url);
    return ok;
}

/* One entry of the folder being listed: a sub-folder to list, and what is to be announced
 * kept in pending (poller.h, the rules in order). */
static int sink_entry(void *ctx, const sr_listed *e, sr_err *err)
{
    sr_poller *p = ctx;
    p->listed++;
    size_t name_len = strlen(e->name);
    if (name_len == 0 || strchr(e->name, '/') != NULL || strcmp(e->name, ".") == 0 ||
        strcmp(e->name, "..") == 0) {
        sink_bad(ctx,
                 e->name); /* a name no folder holds: the parser's fault, or a hostile server */
        return SR_OK;
    }
    if (e->has_perms && (e->mode & p->perm) != p->perm) {
        p->skipped_perm++;
        return SR_OK;
    }
    bool is_dir = S_ISDIR(e->mode), is_link = S_ISLNK(e->mode);
    if (is_dir && p->recursive) {
        char *sub = NULL;
        if (asprintf(&sub, "%s/%s", p->folder, e->name) < 0 ||
            sr_strlist_push(&p->folders, sub) != 0) {
            free(sub);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        free(sub);
    }
    /* sr3 announces folders only when it descends into them */
    if ((is_dir && (!p->post_dirs || !p->recursive)) ||
        (is_link && (!p->post_links || e->link == NULL)) || (!is_dir && !is_link && !p->post_files))
        return SR_OK;
    if (e->has_mtime && !is_dir) {
        double mtime = (double)e->mtime.tv_sec + e->mtime.tv_nsec / 1e9;
        /* sr3: too old past fileAgeMax; too new within fileAgeMin, or more than 100 s in
         * the future without one (not a folder: its message carries no mtime) */
        if ((p->age_max > 0 && mtime < p->now - p->age_max) ||
            (p->age_min > 0 ? mtime > p->now - p->age_min : mtime > p->now + 100)) {
            p->skipped_old++;
            return SR_OK;
        }
    }
    char *rel = rel_path_of(p, p->folder, e->name);
    if (rel == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (!accepted(p, rel)) {
        p->rejected++;
        free(rel);
        return SR_OK;
    }
    const char *key;
    size_t key_len;
    key_of(p, rel, &key, &key_len);
    sr_seen_mark mark = mark_of_listed(p, e);
    enum sr_seen_state state = sr_seen_look(p->seen, key, key_len, &mark, p->now);
    free(rel);
    if (state == SR_SEEN_SAME)
        return SR_OK;
    if (state == SR_SEEN_CHANGED)
        p->changed++;
    int rc = pending_add(p, e, name_len);
    if (rc == SR_EINVAL)
        sink_bad(ctx, e->name); /* a name or link of 64 KiB */
    else if (rc != SR_OK)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    return SR_OK;
}

/* The remote path of a folder as configured: for http beneath pollUrl's path (sr3 joins
 * them), otherwise as sr3 changes into it (sr_transfer_folder_path). */
static char *remote_folder(const sr_poller *p, const char *folder)
{
    if (!p->http)
        return sr_transfer_folder_path(folder, NULL);
    char *out = NULL;
    const char *base = p->url_path ? p->url_path : "/";
    size_t n = strlen(base);
    while (folder[0] == '/')
        folder++;
    if (asprintf(&out, "%s%s%s/", base, n > 0 && base[n - 1] == '/' ? "" : "/", folder) < 0)
        return NULL;
    /* "a//b" and a trailing "//": one '/' each, as the server reads them */
    char *w = out;
    for (const char *r = out; *r; r++)
        if (!(r[0] == '/' && w > out && w[-1] == '/'))
            *w++ = *r;
    *w = '\0';
    return out;
}

/* List one folder into pending (and its sub-folders into folders). A failure other than a
 * missing folder ends the run: the server is tried again at the next one. */
static void list_folder(sr_poller *p, const char *folder)
{
    free(p->folder);
    p->folder = strdup(folder);
    char *remote = p->folder ? remote_folder(p, folder) : NULL;
    sr_err err = {0};
    sr_transfer *t = NULL;
    int rc = remote ? SR_OK : sr_err_set(&err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = sr_transfer_pool_get(p->pool, p->poll_url, &t, &err);
    p->bad_lines = 0;
    p->bad_first[0] = '\0';
    p->now = sr_time_now_s();
    p->lopts.now = (time_t)p->now;
    sr_listing_sink sink = {sink_entry, sink_bad, p};
    if (rc == SR_OK)
        rc = sr_transfer_list_each(t, remote, &p->lopts, &sink, &err);
    p->folders_listed++;
    const char *server = t ? sr_transfer_url(t) : p->poll_url;
    if (p->bad_lines > 0) {
        sr_log_write(p->log, SR_LOG_WARNING,
                     "%s %s: %zu listing line(s) not understood, skipped; the first: \"%s\"",
                     server, remote ? remote : folder, p->bad_lines, p->bad_first);
        sr_metrics_add(p->metrics, SR_METRIC_RX_BAD, p->bad_lines, p->now);
        p->bad_total += p->bad_lines;
    }
    if (rc == SR_ENOENT) {
        sr_log_write(p->log, SR_LOG_WARNING, "%s: folder %s not found: %s", server, folder,
                     err.msg);
    } else if (rc != SR_OK) {
        sr_log_write(p->log, SR_LOG_ERROR, "%s: cannot list %s: %s; tried again at the next run",
                     server, folder, err.msg);
        sr_strlist_clear(&p->folders);
        p->failed = true;
    }
    free(remote);
}

/* ---- runs ---- */

static void start_run(sr_poller *p, double now)
{
    p->walking = true;
    p->run_start = now;
    p->failed = false;
    p->listed = p->announced = p->changed = p->skipped_old = p->skipped_perm = p->rejected = 0;
    p->too_young = p->known = 0;
    p->bad_total = p->folders_listed = 0;
    p->next_run = sr_schedule_next(&p->sched, now);
    const sr_strlist *paths = sr_config_list(p->cfg, SR_OPT_path);
    sr_msgvars vars = {.now = (time_t)now, .time_offset = p->time_offset};
    /* folders is a stack: pushed in reverse so the first path is listed first */
    for (size_t i = paths ? paths->count : 0; i > 0; i--) {
        char *folder = NULL;
        sr_err err;
        if (sr_varsub_message(paths->items[i - 1], &vars, &folder, NULL, &err) != SR_OK) {
            sr_log_write(p->log, SR_LOG_ERROR, "path %s: %s", paths->items[i - 1], err.msg);
            continue;
        }
        if (sr_strlist_push(&p->folders, folder) != 0)
            sr_log_write(p->log, SR_LOG_ERROR, "out of memory: path %s not listed", folder);
        free(folder);
    }
    if (paths == NULL || paths->count == 0)
        sr_strlist_push(&p->folders, "/"); /* sr3 lists the login folder then */
}

static void end_run(sr_poller *p)
{
    p->walking = false;
    double now = sr_time_now_s();
    char next[SR_TIME_MAX] = "";
    struct timespec nt = {(time_t)p->next_run, 0};
    sr_time_format(&nt, true, next, sizeof next);
    sr_log_write(p->log, p->failed ? SR_LOG_WARNING : SR_LOG_INFO,
                 "poll of %s %s in %.2f s: %zu folder(s), %zu entries listed, %zu announced "
                 "(%zu changed), %zu too old or new, %zu without permDefault's bits, %zu "
                 "rejected, %zu line(s) not understood; %zu files remembered; next run %s",
                 p->ann.base_url, p->failed ? "cut short" : "done", now - p->run_start,
                 p->folders_listed, p->listed, p->announced, p->changed, p->skipped_old,
                 p->skipped_perm, p->rejected, p->bad_total, sr_seen_count(p->seen), next);
}

/* ---- runs by a plugin's poll hook ---- */

/* Whether a message of a poll plugin is announced, as sr3 filters a poll plugin's messages
 * (its flow's filter, then the nodupe after_accept): one with an mtime older than
 * fileAgeMax is dropped, one younger than fileAgeMin waits (not remembered: a later run
 * announces it, where sr3 queues it for a retry); the accept/reject lines (here, so that
 * a rejected one is not remembered); then the memory: one announced before with the same
 * mtime and size is not again. One kept is remembered as announced. */
static bool plugin_keep(sr_poller *p, sr_message *m, double now)
{
    p->listed++;
    struct timespec mtime;
    const char *mt = sr_message_str(m, "mtime");
    if (mt != NULL && sr_time_parse(mt, &mtime, NULL) == SR_OK) {
        double age = now - ((double)mtime.tv_sec + mtime.tv_nsec / 1e9);
        if (p->age_max > 0 && age > p->age_max) {
            p->skipped_old++;
            return false;
        }
        if (p->age_min > 0 && age < p->age_min) {
            p->too_young++;
            return false;
        }
    }
    char *url = sr_message_url(m);
    bool ok = url == NULL; /* out of memory: the flow's filter decides */
    if (url != NULL)
        sr_config_match(p->cfg, url, &ok, NULL, 0, NULL);
    free(url);
    if (!ok) {
        p->rejected++;
        return false;
    }
    const char *key;
    size_t key_len;
    key_of(p, sr_message_rel_path(m), &key, &key_len);
    sr_seen_mark mark = mark_of_message(m);
    enum sr_seen_state state = sr_seen_look(p->seen, key, key_len, &mark, now);
    if (state == SR_SEEN_SAME) {
        p->known++;
        return false;
    }
    sr_err err;
    if (sr_seen_record(p->seen, key, key_len, &mark, now, &err) != SR_OK)
        sr_log_write(p->log, SR_LOG_ERROR, "memory of what was announced: %s", err.msg);
    if (state == SR_SEEN_CHANGED)
        p->changed++;
    return true;
}

static void free_polled(sr_poller *p)
{
    for (size_t i = p->polled_at; i < p->polled_count; i++)
        sr_message_free(p->polled[i]);
    free(p->polled);
    p->polled = NULL;
    p->polled_count = p->polled_at = 0;
}

/* A run's start: the plugins poll (sr_plugins_poll); false when none has a poll hook, and
 * sr lists pollUrl itself. */
static bool start_plugin_run(sr_poller *p)
{
    if (p->plugins == NULL)
        return false;
    sr_err err = {0};
    bool polled = false;
    free_polled(p);
    int rc = sr_plugins_poll(p->plugins, &p->polled, &p->polled_count, &polled, &err);
    if (rc != SR_OK) {
        sr_log_write(p->log, SR_LOG_ERROR, "poll plugin: %s; tried again at the next run", err.msg);
        p->failed = true;
    }
    if (!polled && rc == SR_OK) {
        free_polled(p);
        return false;
    }
    p->by_plugin = true;
    return true;
}

static void end_plugin_run(sr_poller *p)
{
    p->walking = false;
    p->by_plugin = false;
    free_polled(p);
    double now = sr_time_now_s();
    char next[SR_TIME_MAX] = "";
    struct timespec nt = {(time_t)p->next_run, 0};
    sr_time_format(&nt, true, next, sizeof next);
    sr_log_write(p->log, p->failed ? SR_LOG_WARNING : SR_LOG_INFO,
                 "poll by plugin %s in %.2f s: %zu message(s), %zu announced (%zu changed), "
                 "%zu announced before, %zu older than fileAgeMax, %zu younger than "
                 "fileAgeMin (left for a later run), %zu rejected; %zu files remembered; next "
                 "run %s",
                 p->failed ? "cut short" : "done", now - p->run_start, p->listed, p->announced,
                 p->changed, p->known, p->skipped_old, p->too_young, p->rejected,
                 sr_seen_count(p->seen), next);
}

/* Up to max of the plugins' messages of this run into out; the run ends with the last. */
static size_t plugin_gather(sr_poller *p, sr_message **out, size_t max)
{
    size_t n = 0;
    double now = sr_time_now_s();
    while (n < max && p->polled_at < p->polled_count) {
        sr_message *m = p->polled[p->polled_at];
        p->polled[p->polled_at++] = NULL;
        if (m == NULL)
            continue;
        if (!plugin_keep(p, m, now)) {
            sr_message_free(m);
            continue;
        }
        out[n++] = m;
        p->announced++;
    }
    if (p->polled_at >= p->polled_count)
        end_plugin_run(p);
    return n;
}

/* The next pending entry as a message, recorded in the memory as announced. */
static int announce_next(sr_poller *p, sr_message **out, bool *none, sr_err *err)
{
    sr_listed e;
    *out = NULL;
    *none = !pending_next(p, &e);
    if (*none)
        return SR_OK;
    char *rel = rel_path_of(p, p->folder, e.name);
    if (rel == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    const char *key;
    size_t key_len;
    key_of(p, rel, &key, &key_len);
    sr_seen_mark mark = mark_of_listed(p, &e);
    double t = sr_time_now_s();
    if (sr_seen_look(p->seen, key, key_len, &mark, t) == SR_SEEN_SAME) {
        free(rel); /* listed twice (a page linking a file twice): announced once */
        return SR_OK;
    }
    struct timespec now;
    sr_time_now(&now);
    int rc = sr_announce_listed(&p->ann, rel, &e, &now, out, err);
    if (rc == SR_OK) {
        rc = sr_seen_record(p->seen, key, key_len, &mark, t, err);
        if (rc != SR_OK) {
            sr_message_free(*out);
            *out = NULL;
        }
    }
    free(rel);
    return rc;
}

static int poll_gather(void *ctx, sr_message ***msgs, size_t *count, size_t max, bool *exhausted,
                       sr_err *err)
{
    sr_poller *p = ctx;
    *exhausted = false;
    *msgs = NULL;
    *count = 0;
    double now = sr_time_now_s();
    if (!p->walking) {
        if (now < p->next_run)
            return SR_OK;
        start_run(p, now);
        /* a plugin's poll hook, when one has it, lists instead of sr (sr_poll(1)) */
        if (start_plugin_run(p))
            sr_strlist_clear(&p->folders);
    }
    sr_message **out = calloc(max ? max : 1, sizeof *out);
    if (out == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (p->by_plugin) {
        *count = plugin_gather(p, out, max);
        *msgs = out;
        return SR_OK;
    }
    size_t n = 0;
    int rc = SR_OK;
    /* a walk through folders where nothing is new gives the flow back its loop (signals,
     * vip, housekeeping) every second */
    double give_back = now + 1.0;
    while (n < max && rc == SR_OK && sr_time_now_s() < give_back) {
        bool none;
        sr_message *m;
        sr_err why;
        rc = announce_next(p, &m, &none, &why);
        if (rc == SR_ENOMEM) {
            *err = why;
            break;
        }
        if (rc != SR_OK) { /* this entry cannot be a message (a bad name): the others can */
            sr_log_write(p->log, SR_LOG_WARNING, "%s: %s", p->poll_url, why.msg);
            rc = SR_OK;
            continue;
        }
        if (!none) {
            if (m != NULL) {
                out[n++] = m;
                p->announced++;
            }
            continue;
        }
        if (p->folders.count == 0) {
            end_run(p);
            break;
        }
        char *folder = strdup(p->folders.items[p->folders.count - 1]);
        free(p->folders.items[--p->folders.count]);
        if (folder == NULL) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
        list_folder(p, folder);
        free(folder);
    }
    *msgs = out;
    *count = n;
    return rc;
}

/* A message read back from the post exchange (vip): what it announces is remembered as
 * announced, whichever node posted it. */
static int poll_ingest(void *ctx, const sr_message *m, sr_err *err)
{
    sr_poller *p = ctx;
    sr_fileop op;
    if (sr_message_fileop(m, &op) && !op.directory && op.link == NULL)
        return SR_OK; /* a poll announces no removal nor rename */
    const char *key;
    size_t key_len;
    key_of(p, sr_message_rel_path(m), &key, &key_len);
    sr_seen_mark mark = mark_of_message(m);
    return sr_seen_record(p->seen, key, key_len, &mark, sr_time_now_s(), err);
}

static void poll_settled(void *ctx)
{
    sr_poller *p = ctx;
    sr_err err;
    if (sr_seen_flush(p->seen, &err) != SR_OK)
        sr_log_write(p->log, SR_LOG_ERROR, "memory of what was announced: %s", err.msg);
}

static void poll_housekeeping(void *ctx)
{
    sr_poller *p = ctx;
    sr_err err;
    size_t expired = 0;
    if (sr_seen_save(p->seen, sr_time_now_s(), &expired, &err) != SR_OK)
        sr_log_write(p->log, SR_LOG_ERROR, "memory of what was announced: %s", err.msg);
    else if (expired > 0)
        sr_log_write(p->log, SR_LOG_INFO,
                     "%zu file(s) not listed for nodupe_ttl forgotten; %zu remembered", expired,
                     sr_seen_count(p->seen));
}

/* ---- set up ---- */

static void poller_free(sr_poller *p)
{
    if (p == NULL)
        return;
    if (p->seen != NULL) {
        sr_err err;
        if (sr_seen_save(p->seen, sr_time_now_s(), NULL, &err) != SR_OK)
            sr_log_write(p->log, SR_LOG_ERROR, "memory of what was announced: %s", err.msg);
        sr_seen_free(p->seen);
    }
    free_polled(p);
    sr_transfer_pool_free(p->pool);
    sr_schedule_fini(&p->sched);
    sr_identity_spec_fini(&p->spec);
    sr_strlist_clear(&p->folders);
    free(p->folder);
    free(p->pending);
    free(p->url_path);
    free(p->base_path);
    free(p);
}

/* The path of a URL (NULL when it has none or does not parse). */
static char *url_path(const char *text)
{
    sr_url u;
    sr_err ignored;
    if (text == NULL || sr_url_parse(text, &u, &ignored) != SR_OK)
        return NULL;
    char *path = u.path && u.path[0] ? strdup(u.path) : NULL;
    sr_url_fini(&u);
    return path;
}

static int poller_new(const sr_flow_services *svc, sr_poller **out, sr_err *err)
{
    const sr_config *cfg = svc->cfg;
    sr_poller *p = calloc(1, sizeof *p);
    if (p == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    p->cfg = cfg;
    p->log = svc->log;
    p->metrics = svc->metrics;
    p->plugins = svc->plugins;
    p->poll_url = sr_config_str(cfg, SR_OPT_pollUrl);
    p->http = p->poll_url != NULL && strncmp(p->poll_url, "http", 4) == 0;
    p->url_path = url_path(p->poll_url);
    p->basis = (enum sr_nodupe_basis)sr_config_choice(cfg, SR_OPT_nodupe_basis);
    p->age_min = sr_config_seconds(cfg, SR_OPT_fileAgeMin);
    p->age_max = sr_config_seconds(cfg, SR_OPT_fileAgeMax);
    p->time_offset = sr_config_seconds(cfg, SR_OPT_varTimeOffset);
    p->perm = sr_config_bits(cfg, SR_OPT_permDefault) & 07777;
    p->recursive = sr_config_flag(cfg, SR_OPT_recursive);
    p->post_dirs = sr_config_has(cfg, SR_OPT_fileEvents, "mkdir");
    p->post_links = sr_config_has(cfg, SR_OPT_fileEvents, "link");
    p->post_files = sr_config_has(cfg, SR_OPT_fileEvents, "create") ||
                    sr_config_has(cfg, SR_OPT_fileEvents, "modify");
    p->lopts.timezone = sr_config_str(cfg, SR_OPT_timezone);
    int rc = sr_local_announce_options(cfg, &p->spec, &p->ann, err);
    if (rc == SR_OK) {
        p->base_dir = p->ann.base_dir;
        p->base_path = url_path(p->ann.base_url);
        /* a listed mtime is shown as the file's; its atime is not listed */
        rc = sr_transferconf(cfg, svc->creds, svc->plugins, svc->log, &p->ts, err);
    }
    if (rc == SR_OK && (p->pool = sr_transfer_pool_new(&p->ts.options, err)) == NULL)
        rc = err->code;
    if (rc == SR_OK)
        rc = sr_schedule_init(&p->sched, sr_config_seconds(cfg, SR_OPT_scheduled_interval),
                              sr_config_list(cfg, SR_OPT_scheduled_hour),
                              sr_config_list(cfg, SR_OPT_scheduled_minute),
                              sr_config_list(cfg, SR_OPT_scheduled_time), err);
    double ttl = sr_config_seconds(cfg, SR_OPT_nodupe_ttl);
    if (rc == SR_OK) {
        /* nodupe_ttl 0 (sr3: no memory at all) still needs the memory of one run, or every
         * run would announce everything: one schedule step it is */
        if (ttl <= 0)
            ttl = SR_SCHEDULE_DEFAULT_INTERVAL;
        char *dir =
            sr_paths_instance_dir(svc->paths, sr_component_name(SR_C_POLL), sr_config_name(cfg));
        char *path = NULL;
        if (dir == NULL || asprintf(&path, "%s/poll_seen_%02d.txt", dir, svc->instance) < 0)
            path = NULL;
        sr_seen_load_stats st = {0};
        double now = sr_time_now_s();
        rc = path ? sr_mkdir_p(dir, 0700, err) : sr_err_set(err, SR_ENOMEM, false, "out of memory");
        free(dir);
        if (rc == SR_OK)
            rc = sr_seen_open(path, ttl, now, &p->seen, &st, err);
        if (rc == SR_OK && st.malformed > 0)
            sr_log_write(p->log, SR_LOG_WARNING, "%s: %zu unreadable line(s) skipped", path,
                         st.malformed);
        free(path);
    }
    if (rc != SR_OK) {
        poller_free(p);
        return rc;
    }
    p->next_run = sr_schedule_first(&p->sched, sr_time_now_s());
    char when[160];
    sr_schedule_describe(&p->sched, when, sizeof when);
    sr_log_write(p->log, SR_LOG_INFO, "polling %s %s; %zu file(s) remembered", p->ann.base_url,
                 when, sr_seen_count(p->seen));
    *out = p;
    return SR_OK;
}

static int attach(const sr_flow_services *svc, sr_flow_component *fc, void **state, sr_err *err)
{
    sr_poller *p = NULL;
    int rc = poller_new(svc, &p, err);
    if (rc != SR_OK)
        return rc;
    memset(fc, 0, sizeof *fc);
    fc->gather = poll_gather;
    fc->ingest = poll_ingest;
    fc->settled = poll_settled;
    fc->housekeeping = poll_housekeeping;
    fc->remembers = true;
    fc->ctx = p;
    *state = p;
    return SR_OK;
}

static void release(void *state)
{
    poller_free(state);
}

const sr_component_work *sr_poll_work(void)
{
    static const sr_component_work work = {.attach = attach, .release = release};
    return &work;
}
