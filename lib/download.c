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
#include "timefmt.h"
#include "transferconf.h"

struct sr_download {
    const sr_config *cfg;
    bool sarra;
    sr_transfer_setup ts; /* transferconf.h */
    sr_transfer_pool *pool;
    bool download, overwrite, delete_source, time_copy, perm_copy, accept_size_wrong;
};

int sr_download_new(const sr_config *cfg, const sr_credentials *creds, bool sarra, sr_log *log,
                    sr_download **out, sr_err *err)
{
    *out = NULL;
    sr_download *d = calloc(1, sizeof *d);
    if (d == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    d->cfg = cfg;
    d->sarra = sarra;
    int rc = sr_transferconf(cfg, creds, log, &d->ts, err);
    if (rc == SR_OK && (d->pool = sr_transfer_pool_new(&d->ts.options, err)) == NULL)
        rc = err ? err->code : SR_ENOMEM;
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
    *out = d;
    return SR_OK;
}

void sr_download_free(sr_download *d)
{
    if (d == NULL)
        return;
    sr_transfer_pool_free(d->pool);
    free(d);
}

static bool event_allowed(const sr_download *d, const char *event)
{
    return sr_config_has(d->cfg, SR_OPT_fileEvents, event);
}

static enum sr_work_result os_error(sr_err *err, const char *what, const char *path)
{
    /* ENOTEMPTY: an rmdir that came before the removals of what is in the folder (two
     * instances, or messages out of order): they follow, and the retry then works. */
    bool retry = errno == ENOSPC || errno == EIO || errno == EAGAIN || errno == EBUSY ||
                 errno == ENOTEMPTY;
    sr_err_set(err, SR_EIO, retry, "%s %s: %s", what, path, strerror(errno));
    return retry ? SR_WORK_RETRY : SR_WORK_DROP;
}

static int mkdir_parent(const sr_download *d, const char *path, sr_err *err)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    char *slash = strrchr(dir, '/');
    int rc = SR_OK;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        rc = sr_mkdir_p(dir, d->ts.dir_mode, err);
    }
    free(dir);
    return rc;
}

/* fileOps applied locally. Returns -1 when the message is not (only) a fileOp. */
static int apply_fileop(sr_download *d, sr_flow *f, sr_work *w, sr_err *err)
{
    sr_fileop op;
    if (!sr_message_fileop(w->msg, &op))
        return -1;
    const char *dest = w->placement.path;
    if (op.remove) {
        if (!event_allowed(d, op.directory ? "rmdir" : "delete"))
            return SR_WORK_SKIP;
        if ((op.directory ? rmdir(dest) : unlink(dest)) != 0 && errno != ENOENT)
            return os_error(err, op.directory ? "rmdir" : "remove", dest);
        sr_log_write(sr_flow_log(f), SR_LOG_INFO, "removed %s", dest);
        return SR_WORK_OK;
    }
    if (op.link != NULL) {
        if (!event_allowed(d, "link"))
            return SR_WORK_SKIP;
        if (mkdir_parent(d, dest, err) != SR_OK)
            return SR_WORK_RETRY;
        if ((unlink(dest) != 0 && errno != ENOENT) || symlink(op.link, dest) != 0)
            return os_error(err, "symlink", dest);
        sr_log_write(sr_flow_log(f), SR_LOG_INFO, "linked %s -> %s", dest, op.link);
        return SR_WORK_OK;
    }
    if (op.directory && op.rename == NULL) {
        if (!event_allowed(d, "mkdir"))
            return SR_WORK_SKIP;
        unsigned mode = d->ts.dir_mode;
        if (d->perm_copy)
            sr_message_mode(w->msg, &mode);
        if (sr_mkdir_p(dest, (mode_t)mode, err) != SR_OK)
            return SR_WORK_RETRY;
        return SR_WORK_OK;
    }
    if (op.rename != NULL) {
        /* the old name, placed by the same rules; a local rename when it is there */
        sr_message *old = sr_message_copy(w->msg);
        sr_placement from = {0};
        sr_err perr;
        if (old != NULL && sr_message_set_str(old, "relPath", op.rename, &perr) == SR_OK &&
            sr_flow_place(f, old, w->mask, &from, &perr) == SR_OK) {
            struct stat st;
            if (lstat(from.path, &st) == 0 && mkdir_parent(d, dest, err) == SR_OK &&
                rename(from.path, dest) == 0) {
                sr_log_write(sr_flow_log(f), SR_LOG_INFO, "renamed %s to %s", from.path, dest);
                sr_placement_fini(&from);
                sr_message_free(old);
                return SR_WORK_OK;
            }
        }
        sr_placement_fini(&from);
        sr_message_free(old);
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

static enum sr_work_result write_inline(sr_download *d, sr_flow *f, sr_work *w, sr_err *err)
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
    char *tmp = r == SR_WORK_OK ? sr_inflight_path(&d->ts.inflight, w->placement.path) : NULL;
    if (r == SR_WORK_OK && (tmp == NULL || mkdir_parent(d, tmp, err) != SR_OK))
        r = SR_WORK_RETRY;
    if (r == SR_WORK_OK) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
        if (fd >= 0)
            ok = close(fd) == 0 && ok;
        if (!ok || (d->ts.perm_default >= 0 && chmod(tmp, (mode_t)d->ts.perm_default) != 0) ||
            (strcmp(tmp, w->placement.path) != 0 && rename(tmp, w->placement.path) != 0)) {
            r = os_error(err, "writing", tmp);
            unlink(tmp);
        } else {
            sr_log_write(sr_flow_log(f), SR_LOG_INFO, "wrote %s (%zu bytes inline)",
                         w->placement.path, len);
        }
    }
    free(tmp);
    free(data);
    return r;
}

static bool parse_time(const char *text, struct timespec *t)
{
    return text != NULL && sr_time_parse(text, t, NULL) == SR_OK;
}

/* Whether the local file makes the download pointless (digest 6.5 step 3, sr3's
 * file_should_be_downloaded, in its order): NULL to download, else why not. A different
 * size always downloads (a partial local file must be repaired); then a message whose
 * mtime is not newer than the local file's is not downloaded: that is what makes a mesh
 * converge on the newest version when two peers post one relPath, instead of the versions
 * overwriting each other round the ring for ever; then the mesh rule: the announced
 * identity is already on disk. */
static const char *already_have(const sr_download *d, const sr_work *w, const sr_identity *want)
{
    struct stat st;
    if (stat(w->placement.path, &st) != 0 || !S_ISREG(st.st_mode))
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
    if (want == NULL || (want->method != SR_ID_SHA512 && want->method != SR_ID_MD5))
        return NULL;
    sr_identity_spec spec = {want->method, SR_ID_NONE, NULL};
    sr_identity have;
    if (sr_identity_of_file(w->placement.path, &spec, 0, &have, NULL, NULL) == SR_OK &&
        sr_identity_equal(&have, want))
        return "already here";
    return NULL;
}

static enum sr_work_result fetch(sr_download *d, sr_flow *f, sr_work *w, sr_err *err)
{
    char *url = sr_message_url(w->msg);
    sr_url u;
    if (url == NULL || sr_url_parse(url, &u, err) != SR_OK) {
        free(url);
        return SR_WORK_DROP;
    }
    sr_transfer *t = NULL;
    int rc = sr_transfer_pool_get(d->pool, sr_message_base_url(w->msg), &t, err);
    sr_identity want, got;
    bool has_id = sr_message_identity(w->msg, &want);
    long long size = -1;
    if (d->accept_size_wrong || !sr_message_size(w->msg, &size))
        size = -1;
    unsigned mode = 0;
    struct timespec mtime, atime;
    bool has_mtime = d->time_copy && parse_time(sr_message_str(w->msg, "mtime"), &mtime);
    bool has_atime = has_mtime && parse_time(sr_message_str(w->msg, "atime"), &atime);
    sr_transfer_plan plan = {
        .inflight = d->ts.inflight,
        .identity = has_id ? &want : NULL,
        .size = size,
        .resume = true,
        .mode = d->perm_copy && sr_message_mode(w->msg, &mode) ? (int)mode : d->ts.perm_default,
        .dir_mode = d->ts.dir_mode,
        .mtime = has_mtime ? &mtime : NULL,
        .atime = has_atime ? &atime : NULL,
    };
    sr_transfer_result res = {0};
    for (int attempt = 1; rc == SR_OK; attempt++) {
        rc = sr_transfer_download(t, u.path, w->placement.path, &plan, &got, &res, err);
        if (rc == SR_OK || !err->retryable || attempt >= d->ts.attempts)
            break;
        rc = SR_OK; /* try again now; after `attempts`, the retry queue */
    }
    enum sr_work_result r = SR_WORK_OK;
    if (rc != SR_OK) {
        r = err->retryable ? SR_WORK_RETRY : SR_WORK_DROP;
    } else {
        sr_metrics *m = sr_flow_metrics(f);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double n = (double)now.tv_sec + now.tv_nsec / 1e9;
        sr_metrics_add(m, SR_METRIC_FILES_RX, 1, n);
        sr_metrics_add(m, SR_METRIC_DATA_RX, (unsigned long long)res.bytes, n);
        sr_log_write(sr_flow_log(f), SR_LOG_INFO, "downloaded %s (%lld bytes%s)", w->placement.path,
                     (long long)res.bytes, res.resumed ? ", resumed" : "");
        /* sarra: announce what it has, not what it was told (a mesh converges on it) */
        if (d->sarra && (!has_id || want.method == SR_ID_COD || want.method == got.method))
            sr_message_set_identity(w->msg, &got, NULL);
        if (d->delete_source) {
            sr_err derr;
            if (sr_transfer_delete(t, u.path, false, &derr) != SR_OK)
                sr_log_write(sr_flow_log(f), SR_LOG_WARNING, "delete after download: %s", derr.msg);
        }
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
static int verify_blocks(sr_download *d, sr_flow *f, sr_transfer *t, const char *remote_path,
                         sr_work *w, int fd, enum sr_identity_method method, sr_err *err)
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
        };
        sr_log_write(sr_flow_log(f), SR_LOG_WARNING,
                     "%s block %zu/%zu: not what the manifest says in the temporary file, "
                     "fetched again",
                     w->placement.path, i + 1, b.manifest_count);
        int rc = sr_transfer_download(t, remote_path, w->placement.path, &plan, NULL, NULL, err);
        if (rc != SR_OK)
            return rc;
    }
    return SR_OK;
}

static int assemble(sr_download *d, sr_flow *f, sr_transfer *t, const char *remote_path, sr_work *w,
                    const char *tmp, const sr_block_layout *l, int fd, const sr_identity *block_id,
                    sr_err *err)
{
    if (ftruncate(fd, l->total) != 0)
        return sr_err_set(err, SR_EIO, true, "truncating %s to %lld bytes: %s", tmp,
                          (long long)l->total, strerror(errno));
    sr_identity_spec spec = {SR_ID_SHA512, SR_ID_NONE, NULL};
    if (block_id != NULL && block_id->method == SR_ID_MD5)
        spec.method = SR_ID_MD5;
    int rc = SR_OK;
    if (block_id != NULL && (block_id->method == SR_ID_MD5 || block_id->method == SR_ID_SHA512))
        rc = verify_blocks(d, f, t, remote_path, w, fd, block_id->method, err);
    sr_identity whole;
    if (rc == SR_OK)
        rc = sr_identity_of_file(tmp, &spec, SR_IDENTITY_NO_CACHE, &whole, NULL, err);
    unsigned mode = 0;
    struct timespec mtime, atime;
    bool has_mtime = d->time_copy && parse_time(sr_message_str(w->msg, "mtime"), &mtime);
    bool has_atime = has_mtime && parse_time(sr_message_str(w->msg, "atime"), &atime);
    sr_transfer_plan plan = {
        .inflight = d->ts.inflight,
        .size = l->total,
        .mode = d->perm_copy && sr_message_mode(w->msg, &mode) ? (int)mode : d->ts.perm_default,
        .dir_mode = d->ts.dir_mode,
        .mtime = has_mtime ? &mtime : NULL,
        .atime = has_atime ? &atime : NULL,
    };
    if (rc == SR_OK)
        rc = sr_transfer_finish_download(tmp, w->placement.path, &plan, &whole, err);
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
static const char *block_here(const sr_download *d, const sr_work *w, const sr_block_layout *l)
{
    struct stat st;
    struct timespec mtime;
    if (stat(w->placement.path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != l->total)
        return NULL;
    if (parse_time(sr_message_str(w->msg, "mtime"), &mtime)) {
        if (!d->time_copy)
            return NULL;
        bool newer = mtime.tv_sec > st.st_mtim.tv_sec ||
                     (mtime.tv_sec == st.st_mtim.tv_sec && mtime.tv_nsec > st.st_mtim.tv_nsec);
        return newer ? NULL : "not newer";
    }
    return sr_blocks_in_file(w->placement.path, w->msg, l) ? "already here" : NULL;
}

/* One block of a partitioned file (blocks.h): its byte range fetched into the file's
 * temporary name, recorded, and the file finished by whichever instance brings in the
 * last block. Blocks before the last are not posted: the file is not there yet. */
static enum sr_work_result fetch_block(sr_download *d, sr_flow *f, sr_work *w, sr_err *err)
{
    sr_block_layout l;
    if (sr_blocks_layout(w->msg, &l, err) != SR_OK)
        return SR_WORK_DROP;
    const char *dest = w->placement.path;
    struct stat st;
    const char *why = NULL;
    if (!d->overwrite && stat(dest, &st) == 0)
        why = "already here (overwrite off)";
    else
        why = block_here(d, w, &l);
    if (why != NULL) {
        if (sr_config_flag(d->cfg, SR_OPT_logReject))
            sr_log_write(sr_flow_log(f), SR_LOG_INFO, "%s block %zu/%zu: %s, not downloaded", dest,
                         l.number + 1, l.count, why);
        return SR_WORK_SKIP;
    }
    char *tmp = sr_transfer_download_temp(&d->ts.inflight, dest);
    if (tmp == NULL) {
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
        return SR_WORK_RETRY;
    }
    bool have = false;
    int rc = mkdir_parent(d, tmp, err);
    if (rc == SR_OK)
        rc = sr_blocks_claim(tmp, &l, empty_tmp, tmp, &have, err);
    if (rc != SR_OK || have) {
        if (have)
            sr_log_write(sr_flow_log(f), SR_LOG_DEBUG, "%s block %zu/%zu: in already", dest,
                         l.number + 1, l.count);
        free(tmp);
        return rc != SR_OK ? SR_WORK_RETRY : SR_WORK_SKIP;
    }
    char *url = sr_message_url(w->msg);
    sr_url u;
    if (url == NULL || sr_url_parse(url, &u, err) != SR_OK) {
        free(url);
        free(tmp);
        return SR_WORK_DROP;
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
    };
    sr_transfer_result res = {0};
    for (int attempt = 1; rc == SR_OK; attempt++) {
        rc = sr_transfer_download(t, u.path, dest, &plan, NULL, &res, err);
        if (rc == SR_OK || !err->retryable || attempt >= d->ts.attempts)
            break;
        rc = SR_OK;
    }
    enum sr_work_result r = SR_WORK_SKIP;
    sr_blocks_lock lk = {.fd = -1};
    bool complete = false;
    if (rc == SR_OK) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        sr_metrics_add(sr_flow_metrics(f), SR_METRIC_DATA_RX, (unsigned long long)res.bytes,
                       (double)now.tv_sec + now.tv_nsec / 1e9);
        sr_log_write(sr_flow_log(f), SR_LOG_INFO,
                     "downloaded block %zu/%zu of %s (%lld bytes at offset %lld)", l.number + 1,
                     l.count, dest, (long long)res.bytes, (long long)l.offset);
        rc = sr_blocks_record(tmp, &l, &lk, &complete, err);
    }
    if (rc == SR_OK && complete) {
        rc = assemble(d, f, t, u.path, w, tmp, &l, lk.fd, has_id ? &want : NULL, err);
        sr_blocks_release(&lk, rc == SR_OK);
        if (rc == SR_OK) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            sr_metrics_add(sr_flow_metrics(f), SR_METRIC_FILES_RX, 1,
                           (double)now.tv_sec + now.tv_nsec / 1e9);
            sr_log_write(sr_flow_log(f), SR_LOG_INFO, "downloaded %s (%lld bytes, %zu blocks)",
                         dest, (long long)l.total, l.count);
            r = SR_WORK_OK;
        }
    }
    if (rc != SR_OK)
        r = err->retryable ? SR_WORK_RETRY : SR_WORK_DROP;
    sr_url_fini(&u);
    free(url);
    free(tmp);
    return r;
}

static enum sr_work_result work(void *ctx, sr_flow *f, sr_work *w, sr_err *err)
{
    sr_download *d = ctx;
    if (!w->placed) {
        sr_err_set(err, SR_EINVAL, false, "%s: no destination", sr_message_rel_path(w->msg));
        return SR_WORK_DROP;
    }
    int r = apply_fileop(d, f, w, err);
    if (r >= 0)
        return (enum sr_work_result)r;
    if (!d->download)
        return SR_WORK_OK; /* download off: consume (and post) without fetching */
    sr_blocks b;
    if (sr_message_blocks(w->msg, &b))
        return fetch_block(d, f, w, err); /* decides for itself what it already has */
    /* decided before inline content is written too (sr3's order): a mesh passing inline
     * messages round would otherwise rewrite and re-announce them for ever */
    sr_identity want;
    const char *why = already_have(d, w, sr_message_identity(w->msg, &want) ? &want : NULL);
    if (why != NULL && d->sarra && w->delivery != NULL && w->delivery->redelivered) {
        /* The broker sent it before: the instance it went to may have been killed after
         * the download and before the post, which then never happened. Announce what is
         * here (at worst a second time: downstream the mesh rule stops it), not nothing. */
        sr_log_write(sr_flow_log(f), SR_LOG_INFO,
                     "%s: %s, not downloaded; announced again (the message is a redelivery)",
                     w->placement.path, why);
        return SR_WORK_OK;
    }
    if (why != NULL) {
        if (sr_config_flag(d->cfg, SR_OPT_logReject))
            sr_log_write(sr_flow_log(f), SR_LOG_INFO, "%s: %s, not downloaded", w->placement.path,
                         why);
        return SR_WORK_SKIP;
    }
    sr_content c;
    if (sr_message_content(w->msg, &c))
        return write_inline(d, f, w, err);
    return fetch(d, f, w, err);
}

void sr_download_component(sr_download *d, sr_flow_component *out)
{
    memset(out, 0, sizeof *out);
    out->work = work;
    out->ctx = d;
    out->places_files = true;
}

static int attach(const sr_config *cfg, const sr_credentials *creds, sr_log *log, bool sarra,
                  sr_flow_component *fc, void **state, sr_err *err)
{
    sr_download *d = NULL;
    int rc = sr_download_new(cfg, creds, sarra, log, &d, err);
    if (rc != SR_OK)
        return rc;
    sr_download_component(d, fc);
    *state = d;
    return SR_OK;
}

static int attach_subscribe(const sr_config *cfg, const sr_credentials *creds, sr_log *log,
                            sr_flow_component *fc, void **state, sr_err *err)
{
    return attach(cfg, creds, log, false, fc, state, err);
}

static int attach_sarra(const sr_config *cfg, const sr_credentials *creds, sr_log *log,
                        sr_flow_component *fc, void **state, sr_err *err)
{
    return attach(cfg, creds, log, true, fc, state, err);
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
