/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * send: see send.h.
 *
 * A remote that cannot be reached, or refuses the login or its host key, is tried once
 * per pause and not once per file: after such a failure the files that follow go straight
 * to the retry queue ("not tried") until the pause is over, so the log has one line with
 * the reason per connection attempt and the server is not hammered (a refused key tried
 * for every queued file looks like an attack to fail2ban). The pause doubles while the
 * remote stays down, up to DOWN_PAUSE_MAX, and ends with the first success.
 */
#include "send.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocks.h"
#include "placer.h"
#include "paths.h"
#include "timefmt.h"
#include "transferconf.h"
#include "builtins.h"

/* send.email is a sender's: linked here (builtins.h) */
SR_BUILTIN_EMAIL_LINK;

#define DOWN_PAUSE_MIN 1.0 /* seconds */
#define DOWN_PAUSE_MAX 60.0

struct sr_send {
    const sr_config *cfg;
    const sr_paths *paths; /* the state folders: blocks/ */
    sr_log *log;
    sr_metrics *metrics;
    sr_placer *placer;    /* baseDir, and the old name of a rename */
    sr_transfer_setup ts; /* transferconf.h */
    sr_transfer_pool *pool;
    sr_jails *base;  /* baseDir: the only place files are read from (sr-security(7)) */
    sr_jail *blocks; /* the state folder's blocks/: locks and records of blocks sent */
    char *send_to;
    bool perm_copy, time_copy, delete_source, allow_link_outside;
    double down_until; /* CLOCK_MONOTONIC seconds: no connection attempt before */
    double down_pause; /* the pause after the last failure; 0 while the remote is up */
};

/* A failure of the session rather than of one file: no connection, the connection lost,
 * the login or the host key refused (a file's own permission denied is not retryable). */
static bool session_failure(int rc, const sr_err *err)
{
    return rc != SR_OK && err->retryable && (err->code == SR_ECONN || err->code == SR_EPERM);
}

/* true (err filled) while a pause after a session failure is running. */
static bool remote_down(const sr_send *s, const sr_transfer *t, sr_err *err)
{
    double left = s->down_until - sr_time_mono_s();
    if (s->down_pause <= 0 || left <= 0)
        return false;
    sr_err_set(err, SR_ECONN, true,
               "not tried: the last attempt to reach %s failed (see above), next in %.0f s",
               sr_transfer_url(t), left < 1 ? 1 : left);
    return true;
}

/* After an operation on the session: a session failure starts or lengthens the pause,
 * anything else ends it. */
static void note_outcome(sr_send *s, int rc, const sr_err *err)
{
    if (session_failure(rc, err)) {
        s->down_pause = s->down_pause <= 0                   ? DOWN_PAUSE_MIN
                        : s->down_pause * 2 > DOWN_PAUSE_MAX ? DOWN_PAUSE_MAX
                                                             : s->down_pause * 2;
        s->down_until = sr_time_mono_s() + s->down_pause;
    } else if (rc == SR_OK || !err->retryable) {
        s->down_pause = 0;
    }
}

int sr_send_new(const sr_flow_services *svc, sr_send **out, sr_err *err)
{
    *out = NULL;
    const sr_config *cfg = svc->cfg;
    const char *send_to = sr_config_str(cfg, SR_OPT_sendTo);
    if (send_to == NULL)
        return sr_err_set(err, SR_EINVAL, false, "%s: a sender needs sendTo", sr_config_name(cfg));
    /* sr3 reads "/" + relPath without baseDir: any file of the host a message names. */
    const char *base = sr_config_str(cfg, SR_OPT_baseDir);
    if (base == NULL || base[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a sender needs baseDir, the folder whose files it may send (it "
                          "reads baseDir/relPath and nothing outside it; `baseDir /` reads any "
                          "file, as sr3 does without one; sr-security(7))",
                          sr_config_name(cfg));
    sr_send *s = calloc(1, sizeof *s);
    if (s == NULL || (s->send_to = strdup(send_to)) == NULL) {
        free(s);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    s->cfg = cfg;
    s->paths = svc->paths;
    s->log = svc->log;
    s->metrics = svc->metrics;
    int rc = sr_transferconf(cfg, svc->creds, svc->plugins, svc->log, &s->ts, err);
    if (rc == SR_OK && (s->placer = sr_placer_new(cfg, svc->plugins)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK) /* a DESTFNSCRIPT= no plugin answers: the config does not start */
        rc = sr_placer_check(s->placer, err);
    if (rc == SR_OK && (s->pool = sr_transfer_pool_new(&s->ts.options, err)) == NULL)
        rc = err ? err->code : SR_ENOMEM;
    if (rc == SR_OK && (s->base = sr_jails_new(0, false)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    sr_transfer *probe;
    if (rc == SR_OK) /* a bad sendTo is a config error, found before the first file */
        rc = sr_transfer_pool_get(s->pool, s->send_to, &probe, err);
    if (rc != SR_OK) {
        sr_send_free(s);
        return rc;
    }
    s->perm_copy = sr_config_flag(cfg, SR_OPT_permCopy);
    s->time_copy = sr_config_flag(cfg, SR_OPT_timeCopy);
    s->delete_source = sr_config_flag(cfg, SR_OPT_delete);
    s->allow_link_outside = sr_config_flag(cfg, SR_OPT_allowLinkOutside);
    *out = s;
    return SR_OK;
}

void sr_send_free(sr_send *s)
{
    if (s == NULL)
        return;
    sr_transfer_pool_free(s->pool);
    sr_jails_free(s->base);
    sr_jail_free(s->blocks);
    sr_placer_free(s->placer);
    free(s->send_to);
    free(s);
}

/* The local file m names: baseDir + relPath, as a jail (baseDir's root) and the path
 * beneath it (*shown, for logs: the whole path). */
static int local_of(sr_send *s, const sr_message *m, sr_jail **j, char **rel, char **shown,
                    sr_err *err)
{
    char *root = NULL;
    *rel = *shown = NULL;
    int rc = sr_placer_source(s->placer, m, &root, rel, err);
    if (rc == SR_OK)
        rc = sr_jails_get(s->base, root, j, err);
    if (rc == SR_OK && asprintf(shown, "%s/%s", strcmp(root, "/") == 0 ? "" : root, *rel) < 0) {
        *shown = NULL;
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(root);
    if (rc != SR_OK) {
        free(*rel);
        *rel = NULL;
    }
    return rc;
}

/* Where a placement (for the accept line mask) is on the server, in transfer.h's form, as
 * sr3 finds it: sr3 changes into `directory` from the login folder, so an absolute
 * directory is absolute there and a relative one is in the login folder; without any
 * directory it writes where post_baseDir (else baseDir) is here (not over file:, which
 * sr3 cannot send to: there it would be the file being read); ~ is this user's home, as
 * sr3 expands it before connecting. The sendTo URL's path plays no part. The placement
 * stays beneath its directory whatever the message says (placement.h). New string or
 * NULL (err set). */
static char *remote_of(const sr_send *s, const sr_mask *mask, const sr_placement *p, sr_err *err)
{
    const char *dir =
        mask && mask->directory ? mask->directory : sr_config_str(s->cfg, SR_OPT_directory);
    char *out;
    if (dir != NULL && dir[0] == '~' && (dir[1] == '/' || dir[1] == '\0') && p->path[0] == '~') {
        /* sr3 expands ~ here, to this user's home, before it changes folder remotely */
        char *here = sr_paths_expand_home(p->path);
        out = here ? sr_transfer_folder_path(here, NULL) : NULL;
        free(here);
    } else {
        out = sr_transfer_folder_path(p->path, NULL);
    }
    if (out != NULL && (dir == NULL || dir[0] == '\0') && strncmp(s->send_to, "file:", 5) != 0) {
        const char *base = sr_config_str(s->cfg, SR_OPT_post_baseDir);
        if (base == NULL || base[0] == '\0')
            base = sr_config_str(s->cfg, SR_OPT_baseDir);
        char *in_base = sr_transfer_folder_path(base, out);
        free(out);
        out = in_base;
    }
    if (out == NULL)
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
    return out;
}

/* Forward a fileOp to remote (where the message's file is on the server); -1 when the
 * message carries file data. */
static int forward_fileop(sr_send *s, sr_transfer *t, sr_work *w, const char *remote, sr_err *err)
{
    sr_fileop op;
    if (!sr_message_fileop(w->msg, &op))
        return -1;
    /* v2compatRenameDoublePost's first half (a removal naming the newname): the rename
     * message that comes with it moves the file; done, as sr3 takes it */
    if (op.remove && sr_message_str(w->msg, "newname") != NULL)
        return SR_WORK_OK;
    if (op.remove) {
        if (!sr_config_has(s->cfg, SR_OPT_fileEvents, op.directory ? "rmdir" : "delete"))
            return SR_WORK_SKIP;
        int rc = sr_transfer_delete(t, remote, op.directory, err);
        return rc == SR_ENOENT ? SR_WORK_OK : (int)sr_work_result_of(rc, err);
    }
    if (op.link) {
        if (!sr_config_has(s->cfg, SR_OPT_fileEvents, "link"))
            return SR_WORK_SKIP;
        /* a link that leaves baseDir is not forwarded: it would show the remote where
         * files of this host outside what is sent are */
        sr_jail *j;
        char *rel = NULL, *shown = NULL;
        int rc = local_of(s, w->msg, &j, &rel, &shown, err);
        if (rc == SR_OK && !s->allow_link_outside && !sr_jail_link_target_inside(rel, op.link)) {
            char q[SR_QUOTE_BUF];
            rc = sr_err_set(err, SR_EREFUSED, false,
                            "link to %s: the target is outside baseDir (allowLinkOutside is off)",
                            sr_err_quote(op.link, q, sizeof q));
        }
        free(rel);
        free(shown);
        if (rc != SR_OK)
            return sr_work_result_of(rc, err);
        sr_transfer_delete(t, remote, false, NULL);
        return sr_work_result_of(sr_transfer_symlink(t, op.link, remote, err), err);
    }
    if (op.directory && op.rename == NULL) {
        if (!sr_config_has(s->cfg, SR_OPT_fileEvents, "mkdir"))
            return SR_WORK_SKIP;
        return sr_work_result_of(sr_transfer_mkdir_p(t, remote, s->ts.dir_mode, err), err);
    }
    if (op.rename) {
        sr_message *old = sr_message_copy(w->msg);
        sr_placement from = {0};
        char *from_remote = NULL;
        int rc = SR_EINVAL;
        if (old != NULL && sr_message_set_str(old, "relPath", op.rename, err) == SR_OK &&
            sr_placer_place(s->placer, old, w->mask, NULL, 0, &from, err) == SR_OK &&
            (from_remote = remote_of(s, w->mask, &from, err)) != NULL)
            rc = sr_transfer_rename(t, from_remote, remote, err);
        free(from_remote);
        sr_placement_fini(&from);
        sr_message_free(old);
        if (rc == SR_OK)
            return SR_WORK_OK;
        return op.directory || op.link ? SR_WORK_SKIP : -1; /* not there: send the file */
    }
    return -1;
}

static bool parse_time(const char *text, struct timespec *t)
{
    return text != NULL && sr_time_parse(text, t, NULL) == SR_OK;
}

/* The local lock file (and, beside it, the record of the blocks sent) for one remote file:
 * in the config's state folder (blocks/, a jail of its own, made on first use), shared by
 * its instances, named by a digest of the remote URL so that any remote path fits. New
 * string (its name beneath s->blocks), caller frees. */
static char *block_lock_path(sr_send *s, const sr_transfer *t, const char *remote, sr_err *err)
{
    const sr_config *cfg = s->cfg;
    char *dir = NULL, *key = NULL, *out = NULL, *blocks_dir = NULL;
    char hex[129];
    if (s->blocks == NULL) {
        dir = sr_paths_instance_dir(s->paths, sr_component_name(sr_config_component(cfg)),
                                    sr_config_name(cfg));
        if (dir == NULL || asprintf(&blocks_dir, "%s/blocks", dir) < 0) {
            blocks_dir = NULL;
            sr_err_set(err, SR_ENOMEM, false, "out of memory");
        } else if (sr_jail_new(blocks_dir, 0700, false, &s->blocks, err) != SR_OK) {
            s->blocks = NULL;
        }
    }
    if (s->blocks != NULL) {
        if (asprintf(&key, "%s %s", sr_transfer_url(t), remote) < 0) {
            key = NULL;
            sr_err_set(err, SR_ENOMEM, false, "out of memory");
        } else if (sr_identity_hex_of(SR_ID_MD5, key, strlen(key), hex, sizeof hex, err) == SR_OK &&
                   (out = strdup(hex)) == NULL) {
            sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
    }
    free(dir);
    free(key);
    free(blocks_dir);
    return out;
}

typedef struct fresh_remote {
    sr_transfer *t;
    const char *tmp;
} fresh_remote;

/* A fresh record of blocks: an older version's remote temporary file goes first, so that
 * its bytes past this version's end do not stay. */
static int remove_remote_tmp(void *ctx, int fd, sr_err *err)
{
    (void)fd;
    fresh_remote *r = ctx;
    int rc = sr_transfer_delete(r->t, r->tmp, false, err);
    return rc == SR_ENOENT ? SR_OK : rc;
}

/* What is announced after sending a file in blocks: the whole file, now there. */
static void announce_whole(sr_message *m, int fd, const char *local, const sr_block_layout *l)
{
    static const sr_identity_spec sha512 = {SR_ID_SHA512, SR_ID_NONE, NULL};
    sr_identity whole;
    sr_message_remove(m, "blocks");
    sr_message_set_size(m, (long long)l->total, NULL);
    if (sr_identity_of_fd(fd, local, &sha512, 0, &whole, NULL, NULL) == SR_OK)
        sr_message_set_identity(m, &whole, NULL);
}

/* One block of a partitioned file: its range put at its offset into the remote temporary
 * name (sftp: opened without truncation, written at the offset), recorded locally, and the
 * file renamed by whichever instance sends the last block. Over a protocol that cannot
 * write at an offset (ftp), block 0 sends the whole file and the other blocks nothing. */
static enum sr_work_result send_block(sr_send *s, sr_transfer *t, sr_work *w, int fd,
                                      const char *local, const char *remote,
                                      const sr_transfer_plan *whole_plan, sr_err *err)
{
    sr_block_layout l;
    if (sr_blocks_layout(w->msg, &l, err) != SR_OK)
        return SR_WORK_DROP;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != l.total) {
        sr_err_set(err, SR_EINVAL, false,
                   "%s: block %zu/%zu is of a file of %lld bytes, the file has changed since",
                   local, l.number + 1, l.count, (long long)l.total);
        return SR_WORK_DROP;
    }
    sr_transfer_result res = {0};
    int rc;
    if (!sr_transfer_puts_ranges(t)) {
        if (l.number != 0)
            return SR_WORK_SKIP;
        rc = sr_transfer_send(t, fd, remote, whole_plan, &res, err);
        note_outcome(s, rc, err);
        if (rc == SR_OK) {
            sr_log_event(s->log, SR_EVENT_AFTER_WORK,
                         "sent %s to %s%s%s (%lld bytes, whole: %s cannot write blocks)", local,
                         sr_transfer_url(t), remote[0] == '/' ? "" : "/", remote,
                         (long long)res.bytes, sr_transfer_url(t));
            announce_whole(w->msg, fd, local, &l);
        }
        return sr_work_result_of(rc, err);
    }
    /* blocks always go under a temporary name: a partial file is never visible */
    char *tmp = sr_transfer_download_temp(&whole_plan->inflight, remote);
    char *lock = tmp ? block_lock_path(s, t, remote, err) : NULL;
    char *rdir = tmp ? strdup(tmp) : NULL;
    if (tmp == NULL || lock == NULL || rdir == NULL) {
        if (tmp == NULL || rdir == NULL)
            sr_err_set(err, SR_ENOMEM, false, "out of memory");
        free(tmp);
        free(lock);
        free(rdir);
        return SR_WORK_RETRY;
    }
    char *slash = strrchr(rdir, '/');
    fresh_remote fr = {t, tmp};
    bool have = false;
    rc = SR_OK;
    if (slash != NULL && slash != rdir) {
        *slash = '\0';
        rc = sr_transfer_mkdir_p(t, rdir, whole_plan->dir_mode, err);
    }
    if (rc == SR_OK)
        rc = sr_blocks_claim(s->blocks, lock, &l, remove_remote_tmp, &fr, &have, err);
    sr_range range = {l.offset, l.length};
    for (int attempt = 1; rc == SR_OK && !have; attempt++) {
        rc = sr_transfer_put(t, fd, tmp, &range, &res, err);
        if (rc == SR_OK || !err->retryable || attempt >= s->ts.attempts ||
            (err->code == SR_EPERM && session_failure(rc, err)))
            break;
    }
    note_outcome(s, rc, err);
    enum sr_work_result r = SR_WORK_SKIP;
    sr_blocks_lock lk = {.fd = -1};
    bool complete = false;
    if (rc == SR_OK && !have) {
        sr_metrics_add(s->metrics, SR_METRIC_DATA_TX, (unsigned long long)res.bytes,
                       sr_time_now_s());
        sr_log_event(s->log, SR_EVENT_AFTER_WORK,
                     "sent block %zu/%zu of %s to %s%s%s (%lld bytes at offset %lld)", l.number + 1,
                     l.count, local, sr_transfer_url(t), tmp[0] == '/' ? "" : "/", tmp,
                     (long long)res.bytes, (long long)l.offset);
        rc = sr_blocks_record(s->blocks, lock, &l, &lk, &complete, err);
    }
    if (rc == SR_OK && complete) {
        rc = sr_transfer_send_finish(t, tmp, remote, whole_plan, err);
        if (rc == SR_OK) /* under the lock: the next version starts a new one */
            sr_jail_remove(s->blocks, lock, false, NULL);
        sr_blocks_release(&lk, rc == SR_OK);
        if (rc == SR_OK) {
            sr_metrics_add(s->metrics, SR_METRIC_FILES_TX, 1, sr_time_now_s());
            sr_log_event(s->log, SR_EVENT_AFTER_WORK, "sent %s to %s%s%s (%lld bytes, %zu blocks)",
                         local, sr_transfer_url(t), remote[0] == '/' ? "" : "/", remote,
                         (long long)l.total, l.count);
            announce_whole(w->msg, fd, local, &l);
            r = SR_WORK_OK;
        }
    }
    if (rc != SR_OK)
        r = sr_work_result_of(rc, err);
    free(tmp);
    free(lock);
    free(rdir);
    return r;
}

static enum sr_work_result send_work(void *ctx, sr_work *w, sr_err *err)
{
    sr_send *s = ctx;
    sr_transfer *t = NULL;
    if (!w->placed || sr_transfer_pool_get(s->pool, s->send_to, &t, err) != SR_OK)
        return SR_WORK_DROP;
    if (remote_down(s, t, err))
        return SR_WORK_RETRY;
    char *remote = remote_of(s, w->mask, &w->placement, err);
    if (remote == NULL)
        return SR_WORK_RETRY;
    int r = forward_fileop(s, t, w, remote, err);
    if (r >= 0) {
        if (r != SR_WORK_SKIP && r != SR_WORK_REFUSE) /* these did not touch the remote */
            note_outcome(s, r == SR_WORK_RETRY ? err->code : SR_OK, err);
        free(remote);
        return (enum sr_work_result)r;
    }
    sr_jail *j = NULL;
    char *rel = NULL, *local = NULL;
    int fd = -1;
    int rc = local_of(s, w->msg, &j, &rel, &local, err);
    /* read beneath baseDir only, through no symbolic link (a link to a file elsewhere on
     * this host is not sent: refused) */
    if (rc == SR_OK)
        rc = sr_jail_open(j, rel, O_RDONLY, 0, &fd, err);
    if (rc != SR_OK) {
        if (rc == SR_ENOENT)
            sr_err_prefix(err, "no such local file to send (baseDir + relPath)");
        free(rel);
        free(local);
        free(remote);
        return rc == SR_ENOENT ? SR_WORK_DROP : sr_work_result_of(rc, err);
    }
    unsigned mode = 0;
    struct timespec mtime, atime;
    bool has_mtime = s->time_copy && parse_time(sr_message_str(w->msg, "mtime"), &mtime);
    bool has_atime = has_mtime && parse_time(sr_message_str(w->msg, "atime"), &atime);
    sr_transfer_plan plan = {
        .inflight = s->ts.inflight,
        .size = -1,
        .mode = s->perm_copy && sr_message_mode(w->msg, &mode)
                    ? (int)sr_transfer_safe_mode(&s->ts, mode)
                    : s->ts.perm_default,
        .dir_mode = s->ts.dir_mode,
        .mtime = has_mtime ? &mtime : NULL,
        .atime = has_atime ? &atime : NULL,
        .message = w->msg,
    };
    sr_blocks b;
    enum sr_work_result result;
    sr_transfer_result res = {0};
    bool block = sr_message_blocks(w->msg, &b); /* before send_block makes it the whole file's */
    if (block) {
        result = send_block(s, t, w, fd, local, remote, &plan, err);
        rc = SR_OK;
    } else {
        for (int attempt = 1;; attempt++) {
            rc = sr_transfer_send(t, fd, remote, &plan, &res, err);
            /* a lost connection is reopened at once; a refused login or host key would only
             * be refused again */
            if (rc == SR_OK || !err->retryable || attempt >= s->ts.attempts ||
                (err->code == SR_EPERM && session_failure(rc, err)))
                break;
        }
        note_outcome(s, rc, err);
        result = sr_work_result_of(rc, err);
    }
    if (rc == SR_OK && result == SR_WORK_OK && !block) {
        double n = sr_time_now_s();
        sr_metrics_add(s->metrics, SR_METRIC_FILES_TX, 1, n);
        sr_metrics_add(s->metrics, SR_METRIC_DATA_TX, (unsigned long long)res.bytes, n);
        /* shown as a URL: "sftp://cluster/dir/f" is dir/f in the login folder,
         * "sftp://cluster//abs/f" the absolute /abs/f */
        sr_log_event(s->log, SR_EVENT_AFTER_WORK, "sent %s to %s%s%s (%lld bytes)", local,
                     sr_transfer_url(t), remote[0] == '/' ? "" : "/", remote, (long long)res.bytes);
    }
    if (result == SR_WORK_OK && s->delete_source && sr_jail_remove(j, rel, false, NULL) != SR_OK)
        sr_log_write(s->log, SR_LOG_WARNING, "delete after send: %s", local);
    close(fd);
    free(rel);
    free(local);
    free(remote);
    return result;
}

void sr_send_component(sr_send *s, sr_flow_component *out)
{
    memset(out, 0, sizeof *out);
    out->work = send_work;
    out->ctx = s;
    out->places_files = true;
}

static int attach(const sr_flow_services *svc, sr_flow_component *fc, void **state, sr_err *err)
{
    sr_send *s = NULL;
    int rc = sr_send_new(svc, &s, err);
    if (rc != SR_OK)
        return rc;
    sr_send_component(s, fc);
    *state = s;
    return SR_OK;
}

static void release(void *state)
{
    sr_send_free(state);
}

const sr_component_work *sr_send_work(void)
{
    static const sr_component_work work = {.attach = attach, .release = release};
    return &work;
}
