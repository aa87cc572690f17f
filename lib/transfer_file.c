/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer_file: the file: backend. Remote paths are local paths ("//x" and "/x" both mean
 * /x, as sr3's file transfer takes the URL path as is); there is no session to open.
 *
 * Bytes go through the kernel (copy_file_range, which falls back to read + write where
 * the file systems cannot) when nobody needs to see them: no on-the-fly checksum and no
 * byteRateMax. Otherwise they are read into the session's buffer and handed to
 * sr_transfer_sink_write / sr_transfer_source_read, so the checksum, the byte count and
 * the rate limit work as for every other backend.
 *
 * Errors name the path and the OS's reason; a retry is worth it for a full disk or an I/O
 * error (ENOSPC, EDQUOT, EIO, EAGAIN, ...), not for a missing file or a permission.
 * sr3 has no put for file: (its class lacks one); sr has, so a sender can deliver to a
 * local or NFS-mounted tree.
 */
#include "transfer_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest piece handed to copy_file_range at once (it may move less). */
#define FAST_CHUNK ((size_t)1 << 30)

/* The local path for a remote path: "//x" is "/x". */
static const char *local_of(const char *remote_path)
{
    if (remote_path[0] == '/' && remote_path[1] == '/')
        return remote_path + 1;
    return remote_path;
}

static bool errno_retryable(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EAGAIN:
    case EINTR:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EBUSY:
    case ETXTBSY:
    case ESTALE:
        return true;
    default:
        return false;
    }
}

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return SR_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return SR_EPERM;
    case ENOMEM:
        return SR_ENOMEM;
    default:
        return SR_EIO;
    }
}

/* "<what> <path>: <reason>", classified from errno e. */
static int sys_fail(int e, const char *what, const char *path, sr_err *err)
{
    return sr_err_set(err, errno_code(e), errno_retryable(e), "%s %s: %s", what, path, strerror(e));
}

/* Copy from in (at *off) to out (at its file offset) with copy_file_range, until `want`
 * bytes (0: end of file). Returns SR_OK, or -1 when the kernel cannot do it for these
 * files before anything was copied (the caller copies by hand), or an error. */
static int copy_fast(int in, off_t *off, int out, off_t want, off_t *moved, const char *src,
                     const char *dst, sr_err *err)
{
    for (;;) {
        size_t chunk = FAST_CHUNK;
        if (want > 0) {
            if (*moved >= want)
                return SR_OK;
            if ((off_t)chunk > want - *moved)
                chunk = (size_t)(want - *moved);
        }
        ssize_t n = copy_file_range(in, off, out, NULL, chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                      errno == EBADF))
            return -1; /* copy by hand from where this stopped */
        if (n < 0) {
            int e = errno;
            return sr_err_set(err, errno_code(e), errno_retryable(e), "copying %s to %s: %s", src,
                              dst, strerror(e));
        }
        if (n == 0)
            return SR_OK;
        *moved += n;
    }
}

/* ---- get and put ---- */

static int file_get(sr_transfer *t, const char *remote_path, int fd, off_t offset, off_t length,
                    sr_digest *digest, sr_transfer_result *result, sr_err *err)
{
    const char *path = local_of(remote_path);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sys_fail(errno, "cannot read", path, err);
    struct stat st;
    int rc = SR_OK;
    if (fstat(in, &st) != 0)
        rc = sys_fail(errno, "cannot stat", path, err);
    else if (S_ISDIR(st.st_mode))
        rc = sr_err_set(err, SR_EINVAL, false, "cannot get %s: it is a folder", path);
    else if (!S_ISREG(st.st_mode)) /* a device (/dev/zero) or a FIFO: no end to it */
        rc = sr_err_set(err, SR_EINVAL, false, "cannot get %s: not a regular file", path);

    off_t off = offset, moved = 0;
    int fast = -1;
    if (rc == SR_OK && digest == NULL && t->options->byte_rate_max <= 0) {
        /* the kernel copies without sr_transfer_sink_write: the limit is kept here (one
         * byte past it says the file is larger) */
        off_t want = length;
        if (t->sink_limit >= 0 && (want == 0 || want > t->sink_limit + 1))
            want = t->sink_limit + 1;
        fast = copy_fast(in, &off, fd, want, &moved, path, "the download", err);
        result->bytes += moved;
        if (fast != -1)
            rc = fast;
        if (rc == SR_OK && fast != -1 && t->sink_limit >= 0 && moved > t->sink_limit)
            rc = sr_err_set(err, SR_EREFUSED, false,
                            "%s holds more than the %lld bytes announced: stopped", path,
                            (long long)t->sink_limit);
    }
    if (rc == SR_OK && fast == -1) {
        size_t bufsize = sr_transfer_buffer_size(t);
        char *buf = malloc(bufsize);
        if (buf == NULL)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
        while (rc == SR_OK && (length == 0 || moved < length)) {
            size_t want = bufsize;
            if (length > 0 && (off_t)want > length - moved)
                want = (size_t)(length - moved);
            ssize_t r = pread(in, buf, want, off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = sys_fail(errno, "cannot read", path, err);
                break;
            }
            if (r == 0)
                break;
            rc = sr_transfer_sink_write(t, fd, buf, (size_t)r, digest, result, err);
            off += r;
            moved += r;
        }
        free(buf);
    }
    /* A range that runs past the end: the file may still be growing. */
    if (rc == SR_OK && length > 0 && moved < length)
        rc = sr_err_set(err, SR_EIO, true,
                        "%s ends at byte %lld, before the end of the range asked (%lld + %lld)",
                        path, (long long)off, (long long)offset, (long long)length);
    close(in);
    return rc;
}

static int file_put(sr_transfer *t, int fd, const char *remote_path, off_t offset, off_t length,
                    sr_transfer_result *result, sr_err *err)
{
    const char *path = local_of(remote_path);
    /* Truncated only once known not to be the file being sent. */
    int out = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (out < 0)
        return sys_fail(errno, "cannot write", path, err);
    struct stat src, dst;
    int rc = SR_OK;
    if (fstat(fd, &src) == 0 && fstat(out, &dst) == 0 && src.st_dev == dst.st_dev &&
        src.st_ino == dst.st_ino)
        rc = sr_err_set(err, SR_EINVAL, false, "cannot put a file onto itself (%s)", path);
    else if (offset == 0 && length == 0 && ftruncate(out, 0) != 0) /* a block keeps the rest */
        rc = sys_fail(errno, "cannot truncate", path, err);
    else if (offset > 0 && lseek(out, offset, SEEK_SET) < 0)
        rc = sys_fail(errno, "cannot seek in", path, err);

    off_t off = offset, moved = 0;
    int fast = -1;
    if (rc == SR_OK && t->options->byte_rate_max <= 0) {
        fast = copy_fast(fd, &off, out, length, &moved, "the file to send", path, err);
        result->bytes += moved;
        if (fast != -1)
            rc = fast;
    }
    if (rc == SR_OK && fast == -1) {
        size_t bufsize = sr_transfer_buffer_size(t);
        char *buf = malloc(bufsize);
        if (buf == NULL)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
        while (rc == SR_OK && (length == 0 || moved < length)) {
            size_t want = bufsize;
            if (length > 0 && (off_t)want > length - moved)
                want = (size_t)(length - moved);
            ssize_t r = sr_transfer_source_read(t, fd, buf, want, off, result, err);
            if (r < 0) {
                rc = err != NULL ? err->code : SR_EIO;
                break;
            }
            if (r == 0)
                break;
            for (ssize_t done = 0; rc == SR_OK && done < r;) {
                ssize_t w = write(out, buf + done, (size_t)(r - done));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0)
                    rc = sys_fail(errno, "cannot write", path, err);
                else
                    done += w;
            }
            off += r;
            moved += r;
        }
        free(buf);
    }
    if (close(out) != 0 && rc == SR_OK)
        rc = sys_fail(errno, "cannot write", path, err);
    return rc;
}

/* ---- single operations ---- */

static int file_mkdir_p(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err)
{
    (void)t;
    char *copy = strdup(local_of(remote_dir));
    if (copy == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = SR_OK;
    /* Each prefix in turn; one that exists (or that another instance makes meanwhile) is
     * fine. */
    for (char *p = copy + (copy[0] == '/');; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (copy[0] != '\0' && mkdir(copy, mode) != 0 && errno != EEXIST) {
            rc = sys_fail(errno, "cannot make the folder", copy, err);
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (rc == SR_OK && copy[0] != '\0' && (stat(copy, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = sr_err_set(err, SR_EIO, false, "cannot make the folder %s: %s", copy,
                        errno == ENOENT ? strerror(errno) : "something else has that name");
    free(copy);
    return rc;
}

static int file_rename(sr_transfer *t, const char *from, const char *to, sr_err *err)
{
    (void)t;
    if (rename(local_of(from), local_of(to)) == 0)
        return SR_OK;
    int e = errno;
    return sr_err_set(err, errno_code(e), errno_retryable(e), "cannot rename %s to %s: %s",
                      local_of(from), local_of(to), strerror(e));
}

static int file_remove(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err)
{
    (void)t;
    const char *path = local_of(remote_path);
    if ((is_dir ? rmdir(path) : unlink(path)) == 0)
        return SR_OK;
    return sys_fail(errno, is_dir ? "cannot remove the folder" : "cannot remove", path, err);
}

/* An existing entry (not a folder) under the link's name is replaced, as a sender
 * replaying a link event expects. */
static int file_symlink(sr_transfer *t, const char *target, const char *remote_path, sr_err *err)
{
    (void)t;
    const char *path = local_of(remote_path);
    struct stat st;
    if (symlink(target, path) == 0)
        return SR_OK;
    if (errno == EEXIST && lstat(path, &st) == 0 && !S_ISDIR(st.st_mode) && unlink(path) == 0 &&
        symlink(target, path) == 0)
        return SR_OK;
    return sys_fail(errno, "cannot make the link", path, err);
}

static int file_chmod(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err)
{
    (void)t;
    const char *path = local_of(remote_path);
    if (chmod(path, mode & 07777) == 0)
        return SR_OK;
    return sys_fail(errno, "cannot chmod", path, err);
}

static int file_utime(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                      const struct timespec *mtime, sr_err *err)
{
    (void)t;
    const char *path = local_of(remote_path);
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
    if (atime != NULL)
        times[0] = *atime;
    if (mtime != NULL)
        times[1] = *mtime;
    if (utimensat(AT_FDCWD, path, times, 0) == 0)
        return SR_OK;
    return sys_fail(errno, "cannot set the times of", path, err);
}

static void stat_fill(const struct stat *s, sr_remote_stat *st)
{
    st->size = s->st_size;
    st->mtime = s->st_mtim;
    st->mode = s->st_mode & (S_IFMT | 07777);
    st->is_dir = S_ISDIR(s->st_mode);
}

/* A link is reported as a link (lstat), as sftp's listing does. */
static int file_stat(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err)
{
    (void)t;
    const char *path = local_of(remote_path);
    struct stat s;
    if (lstat(path, &s) != 0)
        return sys_fail(errno, "cannot stat", path, err);
    stat_fill(&s, st);
    return SR_OK;
}

/* readdir and lstat, one entry at a time: a link is a link with its target, as sftp's
 * listing shows it; devices, pipes and sockets are not files to fetch and are left out. */
static int file_list_each(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                          const sr_listing_sink *sink, sr_err *err)
{
    (void)t, (void)o;
    const char *path = local_of(remote_dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return sys_fail(errno, "cannot list", path, err);
    int rc = SR_OK;
    char target[PATH_MAX];
    while (rc == SR_OK) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                rc = sys_fail(errno, "cannot list", path, err);
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat s;
        if (fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone since readdir: not listed */
        if (!S_ISREG(s.st_mode) && !S_ISDIR(s.st_mode) && !S_ISLNK(s.st_mode))
            continue;
        sr_listed l = {.name = e->d_name,
                       .size = s.st_size,
                       .mtime = s.st_mtim,
                       .has_mtime = true,
                       .mode = s.st_mode & (S_IFMT | 07777),
                       .has_perms = true};
        if (S_ISLNK(s.st_mode)) {
            ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
            if (n >= 0) {
                target[n] = '\0';
                l.link = target;
            }
        }
        rc = sink->entry(sink->ctx, &l, err);
    }
    closedir(d);
    return rc;
}

static void file_destroy(sr_transfer *t)
{
    t->backend = NULL;
}

static const sr_transfer_ops file_ops = {
    .put_ranges = true,
    .get = file_get,
    .put = file_put,
    .mkdir_p = file_mkdir_p,
    .rename = file_rename,
    .remove = file_remove,
    .symlink = file_symlink,
    .chmod = file_chmod,
    .utime = file_utime,
    .stat = file_stat,
    .list_each = file_list_each,
    .destroy = file_destroy,
};

int sr_transfer_file_init(sr_transfer *t, sr_err *err)
{
    (void)err;
    t->ops = &file_ops;
    t->backend = NULL;
    t->connected = true; /* nothing to connect to */
    return SR_OK;
}
