/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * download: see download.h.
 */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocks.h"
#include "placer.h"
#include "timefmt.h"
#include "transferconf.h"

struct sr_download {
    const sr_config *cfg;
    sr_log *log;
    sr_metrics *metrics;
    sr_placer *placer; /* for the other names of fileOps (rename, hard link) */
    bool sarra;
    sr_transfer_setup ts; /* transferconf.h */
    sr_transfer_pool *pool;
    sr_jails *jails; /* the destination roots (placement.h: root), opened once each */
    bool download, overwrite, delete_source, time_copy, perm_copy, accept_size_wrong;
    bool allow_link_outside, allow_file_url;
    bool discard;            /* remove what was just written, once complete (testing) */
    long long file_size_max; /* 0: none */
};

int sr_download_new(const sr_flow_services *svc, bool sarra, sr_download **out, sr_err *err)
{
    *out = NULL;
    sr_download *d = calloc(1, sizeof *d);
    if (d == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    const sr_config *cfg = svc->cfg;
    d->cfg = cfg;
    d->log = svc->log;
    d->metrics = svc->metrics;
    d->sarra = sarra;
    int rc = sr_transferconf(cfg, svc->creds, svc->plugins, svc->log, &d->ts, err);
    if (rc == SR_OK && (d->placer = sr_placer_new(cfg, svc->plugins)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK) /* a DESTFNSCRIPT= no plugin answers: the config does not start */
        rc = sr_placer_check(d->placer, err);
    if (rc == SR_OK && (d->pool = sr_transfer_pool_new(&d->ts.options, err)) == NULL)
        rc = err ? err->code : SR_ENOMEM;
    if (rc == SR_OK && (d->jails = sr_jails_new(d->ts.dir_mode, false)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc != SR_OK) {
        sr_download_free(d);
        return rc;
    }
    d->download = sr_config_flag(cfg, SR_OPT_download);
    d->overwrite = sr_config_flag(cfg, SR_OPT_overwrite);
    d->delete_source = sr_config_flag(cfg, SR_OPT_delete);
    d->time_copy = sr_config_flag(cfg, SR_OPT_timeCopy);
    d->perm_copy = sr_config_flag(cfg, SR_OPT_permCopy);
    d->accept_size_wrong = sr_config_flag(cfg, SR_OPT_acceptSizeWrong);
    d->allow_link_outside = sr_config_flag(cfg, SR_OPT_allowLinkOutside);
    d->allow_file_url = sr_config_flag(cfg, SR_OPT_allowFileUrl);
    d->discard = sr_config_flag(cfg, SR_OPT_discard);
    long long max = sr_config_count(cfg, SR_OPT_fileSizeMax);
    d->file_size_max = max > 0 ? max : 0;
    *out = d;
    return SR_OK;
}

void sr_download_free(sr_download *d)
{
    if (d == NULL)
        return;
    sr_transfer_pool_free(d->pool);
    sr_jails_free(d->jails);
    sr_placer_free(d->placer);
    free(d);
}

/* discard: the file this step has just written in full goes again, through the jail;
 * never one it did not write (already here, a fileOp, a block still waiting for others).
 * The message is still posted. */
static void discard_written(const sr_download *d, sr_jail *j, const sr_work *w)
{
    if (!d->discard)
        return;
    sr_err err;
    if (sr_jail_remove(j, w->placement.under_root, false, &err) == SR_OK)
        sr_log_write(d->log, SR_LOG_INFO, "discarded %s", w->placement.path);
    else
        sr_log_write(d->log, SR_LOG_WARNING, "discard: %s", err.msg);
}

static bool event_allowed(const sr_download *d, const char *event)
{
    return sr_config_has(d->cfg, SR_OPT_fileEvents, event);
}

/* The jail of w's destination root. */
static int jail_of(sr_download *d, const sr_work *w, sr_jail **j, sr_err *err)
{
    return sr_jails_get(d->jails, w->placement.root, j, err);
}

/* The folder of rel beneath the jail made (permDirDefault). */
static int mkdir_parent(const sr_download *d, sr_jail *j, const char *rel, sr_err *err)
{
    const char *slash = strrchr(rel, '/');
    if (slash == NULL)
        return SR_OK;
    char *dir = strndup(rel, (size_t)(slash - rel));
    if (dir == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = sr_jail_mkdirs(j, dir, d->ts.dir_mode, err);
    free(dir);
    return rc;
}

/* The mode to give a file or folder: the message's (permCopy), never with a bit beyond
 * 0777 nor one permUmask clears, else fallback. -1: leave it to the umask. */
static int mode_for(const sr_download *d, const sr_message *m, int fallback)
{
    unsigned mode;
    if (d->perm_copy && sr_message_mode(m, &mode))
        return (int)sr_transfer_safe_mode(&d->ts, mode);
    return fallback;
}

/* Where the file an old name (rename) or a hard link's target names is, placed by the
 * same rules as w's file: it must be beneath the same root. */
static int place_other(sr_download *d, const sr_work *w, const char *rel_path, sr_placement *out,
                       sr_err *err)
{
    sr_message *other = sr_message_copy(w->msg);
    int rc = other ? sr_message_set_str(other, "relPath", rel_path, err)
                   : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = sr_placer_place(d->placer, other, w->mask, NULL, 0, out, err);
    if (rc == SR_OK && strcmp(out->root, w->placement.root) != 0) {
        rc = sr_err_set(err, SR_EREFUSED, false, "%s is placed beneath %s, %s beneath %s", rel_path,
                        out->root, sr_message_rel_path(w->msg), w->placement.root);
        sr_placement_fini(out);
    }
    sr_message_free(other);
    return rc;
}

/* fileOps applied locally, each through the jail. Returns -1 when the message is not
 * (only) a fileOp: its file is to be fetched. */
static int apply_fileop(sr_download *d, sr_work *w, sr_jail *j, sr_err *err)
{
    sr_fileop op;
    if (!sr_message_fileop(w->msg, &op))
        return -1;
    const char *dest = w->placement.under_root, *shown = w->placement.path;
    int rc;
    /* v2compatRenameDoublePost's first half (a removal naming the newname): the rename
     * message that comes with it moves the file; done, as sr3 takes it */
    if (op.remove && sr_message_str(w->msg, "newname") != NULL)
        return SR_WORK_OK;
    if (op.remove) {
        if (!event_allowed(d, op.directory ? "rmdir" : "delete"))
            return SR_WORK_SKIP;
        rc = sr_jail_remove(j, dest, op.directory, err);
        struct stat st;
        sr_err ignored;
        /* A remove of what is a folder here (from a producer that does not tell a folder
         * from a file): an rmdir, of an empty folder only, as sr3 does. */
        if (rc != SR_OK && rc != SR_ENOENT && !op.directory &&
            sr_jail_lstat(j, dest, &st, &ignored) == SR_OK && S_ISDIR(st.st_mode))
            rc = sr_jail_remove(j, dest, true, err);
        if (rc == SR_ENOENT)
            return SR_WORK_OK;
        if (rc == SR_OK)
            sr_log_event(d->log, SR_EVENT_AFTER_WORK, "removed %s", shown);
        return sr_work_result_of(rc, err);
    }
    if (op.link != NULL) {
        if (!event_allowed(d, "link"))
            return SR_WORK_SKIP;
        if (!d->allow_link_outside && !sr_jail_link_target_inside(dest, op.link)) {
            char q[SR_QUOTE_BUF];
            sr_err_set(err, SR_EREFUSED, false,
                       "link to %s: the target is outside %s (allowLinkOutside is off)",
                       sr_err_quote(op.link, q, sizeof q), w->placement.root);
            return SR_WORK_REFUSE;
        }
        rc = mkdir_parent(d, j, dest, err);
        if (rc == SR_OK)
            rc = sr_jail_symlink(j, op.link, dest, err);
        if (rc == SR_OK)
            sr_log_event(d->log, SR_EVENT_AFTER_WORK, "linked %s -> %s", shown, op.link);
        return sr_work_result_of(rc, err);
    }
    if (op.hlink != NULL) {
        if (!event_allowed(d, "link"))
            return SR_WORK_SKIP;
        sr_placement target = {0};
        rc = place_other(d, w, op.hlink, &target, err);
        if (rc == SR_OK)
            rc = mkdir_parent(d, j, dest, err);
        if (rc == SR_OK)
            rc = sr_jail_hardlink(j, target.under_root, dest, err);
        if (rc == SR_OK)
            sr_log_event(d->log, SR_EVENT_AFTER_WORK, "hard-linked %s to %s", shown, target.path);
        sr_placement_fini(&target);
        if (rc == SR_ENOENT)
            return -1; /* the file it names is not here: fetch this one */
        return sr_work_result_of(rc, err);
    }
    if (op.directory && op.rename == NULL) {
        if (!event_allowed(d, "mkdir"))
            return SR_WORK_SKIP;
        rc = sr_jail_mkdirs(j, dest, d->ts.dir_mode, err);
        int mode = mode_for(d, w->msg, -1);
        if (rc == SR_OK && mode >= 0)
            rc = sr_jail_chmod_dir(j, dest, (mode_t)mode, err);
        return sr_work_result_of(rc, err);
    }
    if (op.rename != NULL) {
        /* the old name, placed by the same rules; a local rename when it is there */
        sr_placement from = {0};
        struct stat st;
        rc = place_other(d, w, op.rename, &from, err);
        if (rc == SR_OK)
            rc = sr_jail_lstat(j, from.under_root, &st, err);
        if (rc == SR_OK)
            rc = mkdir_parent(d, j, dest, err);
        if (rc == SR_OK)
            rc = sr_jail_rename(j, from.under_root, dest, err);
        if (rc == SR_OK)
            sr_log_event(d->log, SR_EVENT_AFTER_WORK, "renamed %s to %s", from.path, shown);
        sr_placement_fini(&from);
        if (rc == SR_OK || rc == SR_EREFUSED)
            return sr_work_result_of(rc, err);
        if (op.directory || op.link)
            return SR_WORK_SKIP;
        return -1; /* the old file is not here: fetch the new one */
    }
    return -1;
}

/* The bytes of inline content encoded iso-8859-1: the message carries them as text (JSON
 * is UTF-8), one character per byte, so each character below U+0100 is that byte.
 * Returns a new buffer and its length, or NULL with *bad set when a character does not
 * fit in a byte (or out of memory, *bad false). */
static unsigned char *latin1_bytes(const char *text, size_t *len, bool *bad)
{
    size_t n = strlen(text);
    unsigned char *out = malloc(n + 1);
    *bad = false;
    if (out == NULL)
        return NULL;
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        if (*p < 0x80) {
            out[k++] = *p++;
        } else if ((*p == 0xC2 || *p == 0xC3) && (p[1] & 0xC0) == 0x80) {
            out[k++] = (unsigned char)(((*p & 0x03) << 6) | (p[1] & 0x3F));
            p += 2;
        } else {
            *bad = true;
            free(out);
            return NULL;
        }
    }
    *len = k;
    return out;
}

static enum sr_work_result write_inline(sr_download *d, sr_work *w, sr_jail *j, sr_err *err)
{
    sr_content c;
    sr_message_content(w->msg, &c);
    unsigned char *data = NULL;
    size_t len = 0;
    if (strcmp(c.encoding, "base64") == 0) {
        size_t in = strlen(c.value);
        data = malloc(in + 1);
        int n = data ? EVP_DecodeBlock(data, (const unsigned char *)c.value, (int)in) : -1;
        if (n < 0) {
            free(data);
            sr_err_set(err, SR_EINVAL, false, "inline content of %s is not base64",
                       sr_message_rel_path(w->msg));
            return SR_WORK_DROP;
        }
        len = (size_t)n;
        /* EVP_DecodeBlock counts padding as zero bytes */
        for (const char *p = c.value + in; p > c.value && p[-1] == '='; p--)
            len--;
    } else if (strcmp(c.encoding, "iso-8859-1") == 0) {
        bool bad;
        data = latin1_bytes(c.value, &len, &bad);
        if (bad) {
            sr_err_set(err, SR_EINVAL, false,
                       "inline content of %s (iso-8859-1) has a character beyond U+00FF",
                       sr_message_rel_path(w->msg));
            return SR_WORK_DROP;
        }
    } else {
        data = (unsigned char *)strdup(c.value);
        len = data ? strlen(c.value) : 0;
    }
    if (data == NULL) {
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
        return SR_WORK_RETRY;
    }
    long long size;
    enum sr_work_result r = SR_WORK_OK;
    if (!d->accept_size_wrong && sr_message_size(w->msg, &size) && (size_t)size != len) {
        sr_err_set(err, SR_EINVAL, false, "inline content of %s has %zu bytes, size says %lld",
                   sr_message_rel_path(w->msg), len, size);
        r = SR_WORK_DROP;
    }
    /* never written under the final name: a temporary one, even with inflight None */
    const char *dest = w->placement.under_root;
    char *tmp = r == SR_WORK_OK ? sr_transfer_download_temp(&d->ts.inflight, dest) : NULL;
    int fd = -1, rc = SR_OK;
    if (r == SR_WORK_OK && tmp == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (r == SR_WORK_OK && rc == SR_OK)
        rc = mkdir_parent(d, j, tmp, err);
    if (r == SR_WORK_OK && rc == SR_OK)
        rc = sr_jail_open_locked(j, tmp, false, &fd, NULL, err);
    if (r == SR_WORK_OK && rc == SR_OK) {
        int mode = mode_for(d, w->msg, d->ts.perm_default);
        if (ftruncate(fd, 0) != 0 || write(fd, data, len) != (ssize_t)len ||
            (mode >= 0 && fchmod(fd, (mode_t)mode) != 0))
            rc = sr_err_set(err, SR_EIO, errno == ENOSPC, "writing %s/%s: %s", w->placement.root,
                            tmp, strerror(errno));
        if (rc == SR_OK)
            rc = sr_jail_rename(j, tmp, dest, err);
        if (rc != SR_OK)
            sr_jail_remove(j, tmp, false, NULL);
        if (close(fd) != 0 && rc == SR_OK)
            rc =
                sr_err_set(err, SR_EIO, true, "writing %s: %s", w->placement.path, strerror(errno));
    }
    if (r == SR_WORK_OK && rc != SR_OK)
        r = sr_work_result_of(rc, err);
    if (r == SR_WORK_OK) {
        sr_log_event(d->log, SR_EVENT_AFTER_WORK, "wrote %s (%zu bytes inline)", w->placement.path,
                     len);
        discard_written(d, j, w);
    }
    free(tmp);
    free(data);
    return r;
}

static bool parse_time(const char *text, struct timespec *t)
{
    return text != NULL && sr_time_parse(text, t, NULL) == SR_OK;
}

/* Whether the local file makes the download pointless (sr3's file_should_be_downloaded,
 * in its order; sr_subscribe(1) states it for users): NULL to download, else why not. A different
 * size always downloads (a partial local file must be repaired); then a message whose
 * mtime is not newer than the local file's is not downloaded: that is what makes a mesh
 * converge on the newest version when two peers post one relPath, instead of the versions
 * overwriting each other round the ring for ever; then the mesh rule: the announced
 * identity is already on disk. */
static const char *already_have(const sr_download *d, sr_jail *j, const sr_work *w,
                                const sr_identity *want)
{
    struct stat st;
    /* not there, or not a regular file (a link there is replaced, never followed) */
    if (sr_jail_lstat(j, w->placement.under_root, &st, NULL) != SR_OK || !S_ISREG(st.st_mode))
        return NULL;
    if (!d->overwrite)
        return "already here (overwrite off)";
    long long size;
    if (sr_message_size(w->msg, &size) && size != (long long)st.st_size)
        return NULL;
    struct timespec mtime;
    /* sr3 compares with st_mtime under timeCopy, else with an mtime xattr sr does not keep */
    if (d->time_copy && parse_time(sr_message_str(w->msg, "mtime"), &mtime) &&
        (mtime.tv_sec < st.st_mtim.tv_sec ||
         (mtime.tv_sec == st.st_mtim.tv_sec && mtime.tv_nsec <= st.st_mtim.tv_nsec)))
        return "not newer";
    if (want == NULL || !sr_identity_is_digest(want->method))
        return NULL;
    sr_identity_spec spec = {want->method, SR_ID_NONE, NULL};
    sr_identity have;
    int fd;
    if (sr_jail_open(j, w->placement.under_root, O_RDONLY, 0, &fd, NULL) != SR_OK)
        return NULL;
    bool same = sr_identity_of_fd(fd, w->placement.path, &spec, 0, &have, NULL, NULL) == SR_OK &&
                sr_identity_equal(&have, want);
    close(fd);
    return same ? "already here" : NULL;
}

/* What a message may not make sr fetch (sr-security(7)): a local file named by a file:
 * URL, unless allowFileUrl; a file larger than fileSizeMax. */
static int check_source(const sr_download *d, const sr_url *u, long long whole_size, sr_err *err)
{
    if (!d->allow_file_url && strcmp(u->scheme, "file") == 0)
        return sr_err_set(err, SR_EREFUSED, false,
                          "baseUrl is a file: URL, which names a file of this host "
                          "(allowFileUrl is off)");
    if (d->file_size_max > 0 && whole_size > d->file_size_max)
        return sr_err_set(err, SR_EREFUSED, false, "%lld bytes, more than fileSizeMax (%lld)",
                          whole_size, d->file_size_max);
    return SR_OK;
}

/* u->path made the remote path of m's file as sr3 finds it (transfer.h,
 * sr_transfer_url_path): for sftp and ftp, absolute when the baseUrl has a path, in the
 * login folder when it ends at the host. The URL alone cannot tell: "sftp://h" + "a/f"
 * and "sftp://h/" + "a/f" are both sftp://h/a/f. */
static int remote_path_of(const sr_message *m, sr_url *u, sr_err *err)
{
    sr_url base;
    memset(&base, 0, sizeof base);
    int rc = sr_url_parse(sr_message_base_url(m), &base, err);
    if (rc != SR_OK)
        return rc;
    const char *rel = sr_message_str(m, "retrievePath");
    char *path = sr_transfer_url_path(u->scheme, base.path, rel ? rel : sr_message_rel_path(m));
    sr_url_fini(&base);
    if (path == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    free(u->path);
    u->path = path;
    return SR_OK;
}

/* The URL of w's file, parsed and checked; u->path the remote path (remote_path_of). */
static int source_of(const sr_download *d, const sr_work *w, long long whole_size, char **url,
                     sr_url *u, sr_err *err)
{
    memset(u, 0, sizeof *u);
    *url = sr_message_url(w->msg);
    int rc = *url ? sr_url_parse(*url, u, err) : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = check_source(d, u, whole_size, err);
    if (rc == SR_OK)
        rc = remote_path_of(w->msg, u, err);
    if (rc != SR_OK) {
        sr_url_fini(u);
        free(*url);
        *url = NULL;
    }
    return rc;
}

static enum sr_work_result fetch(sr_download *d, sr_work *w, sr_jail *j, sr_err *err)
{
    long long size = -1;
    if (!sr_message_size(w->msg, &size))
        size = -1;
    char *url;
    sr_url u;
    int rc = source_of(d, w, size, &url, &u, err);
    if (rc != SR_OK)
        return rc == SR_EREFUSED ? SR_WORK_REFUSE : SR_WORK_DROP;
    sr_transfer *t = NULL;
    rc = sr_transfer_pool_get(d->pool, sr_message_base_url(w->msg), &t, err);
    sr_identity want, got;
    bool has_id = sr_message_identity(w->msg, &want);
    struct timespec mtime, atime;
    bool has_mtime = d->time_copy && parse_time(sr_message_str(w->msg, "mtime"), &mtime);
    bool has_atime = has_mtime && parse_time(sr_message_str(w->msg, "atime"), &atime);
    off_t max_bytes = size >= 0 && !d->accept_size_wrong ? (off_t)size
                      : d->file_size_max > 0             ? (off_t)d->file_size_max
                                                         : -1;
    sr_transfer_plan plan = {
        .inflight = d->ts.inflight,
        .identity = has_id ? &want : NULL,
        .size = d->accept_size_wrong ? -1 : size,
        /* however long the server goes on: no more than announced, or than fileSizeMax */
        .max_bytes = max_bytes >= 0 ? &max_bytes : NULL,
        .resume = true,
        .mode = mode_for(d, w->msg, d->ts.perm_default),
        .dir_mode = d->ts.dir_mode,
        .mtime = has_mtime ? &mtime : NULL,
        .atime = has_atime ? &atime : NULL,
        .message = w->msg,
    };
    sr_transfer_result res = {0};
    for (int attempt = 1; rc == SR_OK; attempt++) {
        rc = sr_transfer_download(t, u.path, j, w->placement.under_root, &plan, &got, &res, err);
        if (rc == SR_OK || !err->retryable || attempt >= d->ts.attempts)
            break;
        rc = SR_OK; /* try again now; after `attempts`, the retry queue */
    }
    enum sr_work_result r = sr_work_result_of(rc, err);
    if (rc == SR_OK) {
        sr_metrics *m = d->metrics;
        double n = sr_time_now_s();
        sr_metrics_add(m, SR_METRIC_FILES_RX, 1, n);
        sr_metrics_add(m, SR_METRIC_DATA_RX, (unsigned long long)res.bytes, n);
        sr_log_event(d->log, SR_EVENT_AFTER_WORK, "downloaded %s (%lld bytes%s)", w->placement.path,
                     (long long)res.bytes, res.resumed ? ", resumed" : "");
        /* sarra: announce what it has, not what it was told (a mesh converges on it) */
        if (d->sarra && (!has_id || want.method == SR_ID_COD || want.method == got.method))
            sr_message_set_identity(w->msg, &got, NULL);
        if (d->delete_source) {
            sr_err derr;
            if (sr_transfer_delete(t, u.path, false, &derr) != SR_OK)
                sr_log_write(d->log, SR_LOG_WARNING, "delete after download: %s", derr.msg);
        }
        discard_written(d, j, w);
    }
    sr_url_fini(&u);
    free(url);
    return r;
}

/* The whole file, once its last block is in: its length made exact (a longer older
 * version may have been there), its identity computed (there is no whole-file identity in
 * a block message to keep), mode and times applied, renamed to its final name. The
 * message becomes the whole file's: what sarra announces downstream (one message per
 * file, complete, with the computed identity: announcing each block would point
 * downstream at a final name that does not exist until the last block is in). */
/* Before the file takes its final name, every block is checked against the manifest:
 * each was checked as it arrived, but a block of an older version still being written
 * when this version's record started could have landed on it since. A block found wrong
 * is fetched again here, from the same URL (every block message names the same file). */
static int verify_blocks(sr_download *d, sr_transfer *t, const char *remote_path, sr_work *w,
                         sr_jail *j, int fd, enum sr_identity_method method, sr_err *err)
{
    sr_blocks b;
    if (!sr_message_blocks(w->msg, &b))
        return SR_OK;
    sr_identity_spec spec = {method, SR_ID_NONE, NULL};
    for (size_t i = 0; i < b.manifest_count; i++) {
        long long size;
        const char *value;
        sr_identity want = {.method = method}, have;
        if (!sr_message_block(w->msg, i, &size, &value) || value == NULL ||
            strlen(value) >= sizeof want.value)
            return SR_OK; /* checked by the decoder: not reached */
        strcpy(want.value, value);
        off_t offset = (off_t)i * (off_t)b.block_size; /* all blocks but the last are full */
        if (sr_identity_of_range(fd, offset, size, &spec, &have, NULL, NULL) == SR_OK &&
            sr_identity_equal(&want, &have))
            continue;
        sr_range range = {offset, size};
        sr_transfer_plan plan = {
            .inflight = d->ts.inflight,
            .identity = &want,
            .size = -1,
            .range = &range,
            .mode = -1,
            .dir_mode = d->ts.dir_mode,
            .message = w->msg,
        };
        sr_log_write(d->log, SR_LOG_WARNING,
                     "%s block %zu/%zu: not what the manifest says in the temporary file, "
                     "fetched again",
                     w->placement.path, i + 1, b.manifest_count);
        int rc = sr_transfer_download(t, remote_path, j, w->placement.under_root, &plan, NULL, NULL,
                                      err);
        if (rc != SR_OK)
            return rc;
    }
    return SR_OK;
}

static int assemble(sr_download *d, sr_transfer *t, const char *remote_path, sr_work *w, sr_jail *j,
                    const char *tmp, const sr_block_layout *l, int fd, const sr_identity *block_id,
                    sr_err *err)
{
    if (ftruncate(fd, l->total) != 0)
        return sr_err_set(err, SR_EIO, true, "truncating %s/%s to %lld bytes: %s",
                          w->placement.root, tmp, (long long)l->total, strerror(errno));
    sr_identity_spec spec = {SR_ID_SHA512, SR_ID_NONE, NULL};
    if (block_id != NULL && sr_identity_is_digest(block_id->method))
        spec.method = block_id->method;
    int rc = SR_OK;
    if (block_id != NULL && sr_identity_is_digest(block_id->method))
        rc = verify_blocks(d, t, remote_path, w, j, fd, block_id->method, err);
    sr_identity whole;
    if (rc == SR_OK)
        rc = sr_identity_of_fd(fd, tmp, &spec, SR_IDENTITY_NO_CACHE, &whole, NULL, err);
    struct timespec mtime, atime;
    bool has_mtime = d->time_copy && parse_time(sr_message_str(w->msg, "mtime"), &mtime);
    bool has_atime = has_mtime && parse_time(sr_message_str(w->msg, "atime"), &atime);
    sr_transfer_plan plan = {
        .inflight = d->ts.inflight,
        .size = l->total,
        .mode = mode_for(d, w->msg, d->ts.perm_default),
        .dir_mode = d->ts.dir_mode,
        .mtime = has_mtime ? &mtime : NULL,
        .atime = has_atime ? &atime : NULL,
    };
    if (rc == SR_OK)
        rc = sr_transfer_finish_download(j, fd, tmp, w->placement.under_root, &plan, -1, &whole,
                                         err);
    if (rc == SR_OK) {
        sr_message_remove(w->msg, "blocks");
        sr_message_set_size(w->msg, (long long)l->total, NULL);
        sr_message_set_identity(w->msg, &whole, NULL);
    }
    return rc;
}

/* A fresh record of blocks: what an older version left in the temporary file goes. */
static int empty_tmp(void *ctx, int fd, sr_err *err)
{
    if (ftruncate(fd, 0) != 0)
        return sr_err_set(err, SR_EIO, true, "truncating %s: %s", (const char *)ctx,
                          strerror(errno));
    return SR_OK;
}

/* Whether the file under its final name makes fetching this block pointless: NULL to
 * fetch, else why not. As for whole files (sr3's rule): with a size other than the whole
 * file's it is fetched; a message whose mtime is not newer than the file's is not (the
 * file is this version, complete: a block message seen again after the file was put
 * together). A newer one is always fetched, even when the block's bytes are the same: a
 * block skipped would never be recorded, and the new version would never be finished.
 * Without timeCopy the file's mtime says nothing, so only a message without mtime is
 * compared by the block's identity. */
static const char *block_here(const sr_download *d, sr_jail *j, const sr_work *w,
                              const sr_block_layout *l)
{
    struct stat st;
    struct timespec mtime;
    if (sr_jail_lstat(j, w->placement.under_root, &st, NULL) != SR_OK || !S_ISREG(st.st_mode) ||
        st.st_size != l->total)
        return NULL;
    if (parse_time(sr_message_str(w->msg, "mtime"), &mtime)) {
        if (!d->time_copy)
            return NULL;
        bool newer = mtime.tv_sec > st.st_mtim.tv_sec ||
                     (mtime.tv_sec == st.st_mtim.tv_sec && mtime.tv_nsec > st.st_mtim.tv_nsec);
        return newer ? NULL : "not newer";
    }
    return sr_blocks_in_file(j, w->placement.under_root, w->msg, l) ? "already here" : NULL;
}

/* One block of a partitioned file (blocks.h): its byte range fetched into the file's
 * temporary name, recorded, and the file finished by whichever instance brings in the
 * last block. Blocks before the last are not posted: the file is not there yet. */
static enum sr_work_result fetch_block(sr_download *d, sr_work *w, sr_jail *j, sr_err *err)
{
    sr_block_layout l;
    if (sr_blocks_layout(w->msg, &l, err) != SR_OK)
        return SR_WORK_DROP;
    const char *dest = w->placement.path, *rel = w->placement.under_root;
    char *url;
    sr_url u;
    int rc = source_of(d, w, (long long)l.total, &url, &u, err);
    if (rc != SR_OK)
        return rc == SR_EREFUSED ? SR_WORK_REFUSE : SR_WORK_DROP;
    struct stat st;
    const char *why = NULL;
    if (!d->overwrite && sr_jail_lstat(j, rel, &st, NULL) == SR_OK)
        why = "already here (overwrite off)";
    else
        why = block_here(d, j, w, &l);
    char *tmp = why == NULL ? sr_transfer_download_temp(&d->ts.inflight, rel) : NULL;
    bool have = false;
    if (why != NULL) {
        sr_log_event(d->log, SR_EVENT_REJECT, "%s block %zu/%zu: %s, not downloaded", dest,
                     l.number + 1, l.count, why);
        rc = -1;
    } else if (tmp == NULL) {
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    } else {
        rc = mkdir_parent(d, j, tmp, err);
        if (rc == SR_OK)
            rc = sr_blocks_claim(j, tmp, &l, empty_tmp, tmp, &have, err);
        if (rc == SR_OK && have)
            sr_log_write(d->log, SR_LOG_DEBUG, "%s block %zu/%zu: in already", dest, l.number + 1,
                         l.count);
    }
    if (rc != SR_OK || have) {
        sr_url_fini(&u);
        free(url);
        free(tmp);
        return rc == -1 || have ? SR_WORK_SKIP : sr_work_result_of(rc, err);
    }
    sr_transfer *t = NULL;
    rc = sr_transfer_pool_get(d->pool, sr_message_base_url(w->msg), &t, err);
    sr_identity want;
    bool has_id = sr_message_identity(w->msg, &want);
    sr_range range = {l.offset, l.length};
    sr_transfer_plan plan = {
        .inflight = d->ts.inflight,
        .identity = has_id ? &want : NULL,
        .size = -1,
        .range = &range,
        .mode = -1,
        .dir_mode = d->ts.dir_mode,
        .message = w->msg,
    };
    sr_transfer_result res = {0};
    for (int attempt = 1; rc == SR_OK; attempt++) {
        rc = sr_transfer_download(t, u.path, j, rel, &plan, NULL, &res, err);
        if (rc == SR_OK || !err->retryable || attempt >= d->ts.attempts)
            break;
        rc = SR_OK;
    }
    enum sr_work_result r = SR_WORK_SKIP;
    sr_blocks_lock lk = {.fd = -1};
    bool complete = false;
    if (rc == SR_OK) {
        sr_metrics_add(d->metrics, SR_METRIC_DATA_RX, (unsigned long long)res.bytes,
                       sr_time_now_s());
        sr_log_event(d->log, SR_EVENT_AFTER_WORK,
                     "downloaded block %zu/%zu of %s (%lld bytes at offset %lld)", l.number + 1,
                     l.count, dest, (long long)res.bytes, (long long)l.offset);
        rc = sr_blocks_record(j, tmp, &l, &lk, &complete, err);
    }
    if (rc == SR_OK && complete) {
        rc = assemble(d, t, u.path, w, j, tmp, &l, lk.fd, has_id ? &want : NULL, err);
        sr_blocks_release(&lk, rc == SR_OK);
        if (rc == SR_OK) {
            sr_metrics_add(d->metrics, SR_METRIC_FILES_RX, 1, sr_time_now_s());
            sr_log_event(d->log, SR_EVENT_AFTER_WORK, "downloaded %s (%lld bytes, %zu blocks)",
                         dest, (long long)l.total, l.count);
            discard_written(d, j, w);
            r = SR_WORK_OK;
        }
    }
    if (rc != SR_OK)
        r = sr_work_result_of(rc, err);
    sr_url_fini(&u);
    free(url);
    free(tmp);
    return r;
}

static enum sr_work_result work_in(sr_download *d, sr_work *w, sr_jail *j, sr_err *err)
{
    int r = apply_fileop(d, w, j, err);
    if (r >= 0)
        return (enum sr_work_result)r;
    if (!d->download)
        return SR_WORK_OK; /* download off: consume (and post) without fetching */
    sr_blocks b;
    if (sr_message_blocks(w->msg, &b))
        return fetch_block(d, w, j, err); /* decides for itself what it already has */
    /* decided before inline content is written too (sr3's order): a mesh passing inline
     * messages round would otherwise rewrite and re-announce them for ever */
    sr_identity want;
    const char *why = already_have(d, j, w, sr_message_identity(w->msg, &want) ? &want : NULL);
    if (why != NULL && d->sarra && w->delivery != NULL && w->delivery->redelivered) {
        /* The broker sent it before: the instance it went to may have been killed after
         * the download and before the post, which then never happened. Announce what is
         * here (at worst a second time: downstream the mesh rule stops it), not nothing. */
        sr_log_event(d->log, SR_EVENT_AFTER_WORK,
                     "%s: %s, not downloaded; announced again (the message is a redelivery)",
                     w->placement.path, why);
        return SR_WORK_OK;
    }
    if (why != NULL) {
        sr_log_event(d->log, SR_EVENT_REJECT, "%s: %s, not downloaded", w->placement.path, why);
        return SR_WORK_SKIP;
    }
    sr_content c;
    if (sr_message_content(w->msg, &c))
        return write_inline(d, w, j, err);
    return fetch(d, w, j, err);
}

static enum sr_work_result download_work(void *ctx, sr_work *w, sr_err *err)
{
    sr_download *d = ctx;
    if (!w->placed) {
        sr_err_set(err, SR_EINVAL, false, "%s: no destination", sr_message_rel_path(w->msg));
        return SR_WORK_DROP;
    }
    sr_jail *j = NULL;
    int rc = jail_of(d, w, &j, err);
    if (rc != SR_OK)
        return sr_work_result_of(rc, err);
    /* the file's folder resolved once for all the steps below (jail.h) */
    sr_jail_hold(j);
    enum sr_work_result r = work_in(d, w, j, err);
    sr_jail_release(j);
    return r;
}

void sr_download_component(sr_download *d, sr_flow_component *out)
{
    memset(out, 0, sizeof *out);
    out->work = download_work;
    out->ctx = d;
    out->places_files = true;
}

static int attach(const sr_flow_services *svc, bool sarra, sr_flow_component *fc, void **state,
                  sr_err *err)
{
    sr_download *d = NULL;
    int rc = sr_download_new(svc, sarra, &d, err);
    if (rc != SR_OK)
        return rc;
    sr_download_component(d, fc);
    *state = d;
    return SR_OK;
}

static int attach_subscribe(const sr_flow_services *svc, sr_flow_component *fc, void **state,
                            sr_err *err)
{
    return attach(svc, false, fc, state, err);
}

static int attach_sarra(const sr_flow_services *svc, sr_flow_component *fc, void **state,
                        sr_err *err)
{
    return attach(svc, true, fc, state, err);
}

static void release(void *state)
{
    sr_download_free(state);
}

const sr_component_work *sr_download_work(bool sarra)
{
    static const sr_component_work subscribe = {.attach = attach_subscribe, .release = release};
    static const sr_component_work sarra_work = {.attach = attach_sarra, .release = release};
    return sarra ? &sarra_work : &subscribe;
}
