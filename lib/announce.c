/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * announce: see announce.h.
 */
#include "announce.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocks.h"
#include "timefmt.h"
#include "varsub.h"

int sr_announce_rel_path(const char *base_dir, const char *path, char **out, sr_err *err)
{
    *out = NULL;
    size_t blen = base_dir ? strlen(base_dir) : 0;
    while (blen > 0 && base_dir[blen - 1] == '/')
        blen--;
    const char *rest = path;
    if (blen > 0) {
        if (strncmp(path, base_dir, blen) != 0 || (path[blen] != '/' && path[blen] != '\0'))
            return sr_err_set(err, SR_EINVAL, false,
                              "%s is not under post_baseDir %s: nothing to announce it as", path,
                              base_dir);
        rest = path + blen;
    }
    while (*rest == '/')
        rest++;
    if (*rest == '\0')
        return sr_err_set(err, SR_EINVAL, false, "%s is post_baseDir itself, not a file under it",
                          path);
    *out = strdup(rest);
    return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

/* realpathPost: the path with symbolic links resolved; for a path that is gone, its
 * folder resolved and its name kept. */
static char *resolved(const char *path, bool want)
{
    if (!want)
        return strdup(path);
    char *real = realpath(path, NULL);
    if (real != NULL)
        return real;
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
        return strdup(path);
    char *dir = strndup(path, (size_t)(slash - path));
    char *rdir = dir ? realpath(dir, NULL) : NULL;
    char *out = NULL;
    if (rdir == NULL || asprintf(&out, "%s%s", rdir, slash) < 0)
        out = strdup(path);
    free(dir);
    free(rdir);
    return out;
}

/* The rename option: where subscribers are to write path, in its `rename` field. Its
 * dates are filled as at now; a value ending in '/' is a folder the file keeps its name
 * in. No field when that is the relPath already. */
static int set_rename(const sr_announce_options *o, const char *path, const struct timespec *now,
                      sr_message *m, sr_err *err)
{
    sr_msgvars vars = {
        .now = now->tv_sec, .time_offset = o->time_offset, .post_base_dir = o->base_dir};
    char *value = NULL, *renamed = NULL;
    int rc = sr_varsub_message(o->rename, &vars, &value, NULL, err);
    if (rc != SR_OK)
        return rc;
    size_t n = strlen(value);
    const char *slash = strrchr(path, '/');
    if (n > 0 && value[n - 1] == '/') {
        if (asprintf(&renamed, "%s%s", value, slash ? slash + 1 : path) < 0)
            renamed = NULL;
    } else {
        renamed = strdup(value);
    }
    free(value);
    if (renamed == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (strcmp(renamed, sr_message_rel_path(m)) != 0)
        rc = sr_message_set_str(m, "rename", renamed, err);
    free(renamed);
    return rc;
}

/* A new message with pubTime, baseUrl and relPath rel for path (a local path, or rel
 * again for a remote file), plus the fixed fields. */
static int message_start_rel(const sr_announce_options *o, const char *rel, const char *path,
                             const struct timespec *now, sr_message **out, sr_err *err)
{
    *out = NULL;
    if (o->base_url == NULL)
        return sr_err_set(err, SR_EINVAL, false, "post_baseUrl is not set: cannot announce %s",
                          path);
    char pub[SR_TIME_MAX];
    if (sr_time_format(now, true, pub, sizeof pub) < 0)
        return sr_err_set(err, SR_EINVAL, false, "the clock is outside 1970-9999");
    int rc = sr_message_new(pub, o->base_url, rel, out, err);
    if (rc == SR_OK && o->rename != NULL && o->rename[0] != '\0')
        rc = set_rename(o, path, now, *out, err);
    if (rc == SR_OK && o->from_cluster)
        rc = sr_message_set_str(*out, "from_cluster", o->from_cluster, err);
    if (rc == SR_OK && o->to_clusters)
        rc = sr_message_set_str(*out, "to_clusters", o->to_clusters, err);
    for (size_t i = 0; rc == SR_OK && o->headers && i < o->headers->count; i++) {
        const char *h = o->headers->items[i], *eq = strchr(h, '=');
        char name[256];
        if (eq == NULL || (size_t)(eq - h) >= sizeof name)
            continue; /* the config parser let through only NAME=VALUE */
        memcpy(name, h, (size_t)(eq - h));
        name[eq - h] = '\0';
        rc = sr_message_set_str(*out, name, eq + 1, err);
    }
    if (rc != SR_OK) {
        sr_message_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A new message with pubTime, baseUrl and relPath for the local path, plus the fixed
 * fields. */
static int message_start(const sr_announce_options *o, const char *path, const struct timespec *now,
                         sr_message **out, sr_err *err)
{
    char *rel = NULL;
    int rc = sr_announce_rel_path(o->base_dir, path, &rel, err);
    if (rc == SR_OK)
        rc = message_start_rel(o, rel, path, now, out, err);
    else
        *out = NULL;
    free(rel);
    return rc;
}

static int set_times_and_mode(const sr_announce_options *o, const struct stat *st, sr_message *m,
                              sr_err *err)
{
    char t[SR_TIME_MAX];
    int rc = SR_OK;
    if (o->time_copy && sr_time_format(&st->st_mtim, true, t, sizeof t) >= 0)
        rc = sr_message_set_str(m, "mtime", t, err);
    if (rc == SR_OK && o->time_copy && sr_time_format(&st->st_atim, true, t, sizeof t) >= 0)
        rc = sr_message_set_str(m, "atime", t, err);
    if (rc == SR_OK && o->perm_copy) {
        char mode[8];
        snprintf(mode, sizeof mode, "%o", (unsigned)(st->st_mode & 07777));
        rc = sr_message_set_str(m, "mode", mode, err);
    }
    return rc;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || (len == 2 && c < 0xc2))
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        if (c == 0)
            return false; /* JSON strings may not carry NUL through jansson */
        i += len;
    }
    return true;
}

/* inline: the file's bytes in the message, as utf-8 text when they are (guess, text) and
 * base64 otherwise (binary, or bytes that are not UTF-8). */
static int add_content(const sr_announce_options *o, const char *path, off_t size, sr_message *m,
                       sr_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, true, "cannot read %s: %s",
                          path, strerror(errno));
    unsigned char *buf = malloc((size_t)size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)size) : -1;
    close(fd);
    if (got != size) {
        free(buf);
        return sr_err_set(err, SR_EIO, true, "cannot read the %lld bytes of %s to inline them",
                          (long long)size, path);
    }
    buf[size] = '\0';
    int rc;
    if (o->inline_encoding != SR_INLINE_BINARY && valid_utf8(buf, (size_t)size)) {
        sr_content c = {"utf-8", (const char *)buf};
        rc = sr_message_set_content(m, &c, err);
    } else {
        char *b64 = malloc(4 * (((size_t)size + 2) / 3) + 1);
        if (b64 == NULL) {
            free(buf);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        EVP_EncodeBlock((unsigned char *)b64, buf, (int)size);
        sr_content c = {"base64", b64};
        rc = sr_message_set_content(m, &c, err);
        free(b64);
    }
    free(buf);
    return rc;
}

static int announce_file(const sr_announce_options *o, const char *path, const struct stat *st,
                         sr_message *m, sr_announce_stats *stats, sr_err *err)
{
    static const sr_identity_spec sha512 = {SR_ID_SHA512, SR_ID_NONE, NULL};
    sr_identity id;
    sr_identity_stats ist = {0};
    int rc = sr_identity_of_file(path, o->identity ? o->identity : &sha512, o->identity_flags, &id,
                                 &ist, err);
    if (stats != NULL) {
        stats->bytes_read += ist.bytes_read;
        stats->identity_cached = ist.from_cache;
    }
    if (rc == SR_OK)
        rc = sr_message_set_identity(m, &id, err); /* none and md5name: no field */
    if (rc == SR_OK)
        rc = sr_message_set_size(m, (long long)st->st_size, err);
    if (rc == SR_OK)
        rc = set_times_and_mode(o, st, m, err);
    if (rc == SR_OK && o->inline_content && st->st_size <= o->inline_max)
        rc = add_content(o, path, st->st_size, m, err);
    return rc;
}

int sr_announce_path(const sr_announce_options *o, const char *path, const struct timespec *now,
                     sr_message **out, sr_announce_stats *stats, sr_err *err)
{
    *out = NULL;
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    char *real = resolved(path, o->realpath);
    if (real == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    struct stat st;
    int rc = SR_OK;
    if (lstat(real, &st) != 0)
        rc = sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, errno != ENOENT,
                        "cannot announce %s: %s", real, strerror(errno));
    if (rc == SR_OK)
        rc = message_start(o, real, now, out, err);
    if (rc == SR_OK) {
        if (S_ISREG(st.st_mode)) {
            rc = announce_file(o, real, &st, *out, stats, err);
        } else if (S_ISDIR(st.st_mode)) {
            sr_fileop op = {.directory = true};
            rc = sr_message_set_fileop(*out, &op, err);
            if (rc == SR_OK)
                rc = sr_message_set_str(*out, "contentType", "text/directory", err);
            if (rc == SR_OK)
                rc = set_times_and_mode(o, &st, *out, err);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(real, target, sizeof target - 1);
            if (n < 0) {
                rc = sr_err_set(err, SR_EIO, true, "readlink %s: %s", real, strerror(errno));
            } else {
                target[n] = '\0';
                sr_fileop op = {.link = target};
                rc = sr_message_set_fileop(*out, &op, err);
                if (rc == SR_OK)
                    rc = sr_message_set_str(*out, "contentType", "text/link", err);
            }
        } else {
            rc = sr_err_set(err, SR_EINVAL, false,
                            "%s is not a file, a folder or a link (a socket, fifo or device): "
                            "not announced",
                            real);
        }
    }
    if (rc != SR_OK) {
        sr_message_free(*out);
        *out = NULL;
    }
    free(real);
    return rc;
}

int sr_announce_removal(const sr_announce_options *o, const char *path, bool was_dir,
                        const struct timespec *now, sr_message **out, sr_err *err)
{
    char *real = resolved(path, o->realpath);
    if (real == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = message_start(o, real, now, out, err);
    if (rc == SR_OK) {
        sr_fileop op = {.remove = true, .directory = was_dir};
        rc = sr_message_set_fileop(*out, &op, err);
        if (rc != SR_OK) {
            sr_message_free(*out);
            *out = NULL;
        }
    }
    free(real);
    return rc;
}

int sr_announce_rename(const sr_announce_options *o, const char *old_path, const char *new_path,
                       const struct timespec *now, sr_message **out, sr_announce_stats *stats,
                       sr_err *err)
{
    char *old_real = resolved(old_path, o->realpath);
    char *old_rel = NULL;
    int rc = old_real ? sr_announce_rel_path(o->base_dir, old_real, &old_rel, err)
                      : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = sr_announce_path(o, new_path, now, out, stats, err);
    if (rc == SR_OK) {
        sr_fileop op = {0};
        sr_message_fileop(*out, &op); /* a folder or a link keeps what it is */
        op.rename = old_rel;
        rc = sr_message_set_fileop(*out, &op, err);
        if (rc != SR_OK) {
            sr_message_free(*out);
            *out = NULL;
        }
    }
    free(old_rel);
    free(old_real);
    return rc;
}

int sr_announce_blocks(const sr_announce_options *o, const char *path, sr_message *m,
                       sr_message ***out, size_t *count, sr_err *err)
{
    *out = NULL;
    *count = 0;
    long long size, bs = 0;
    sr_fileop op;
    sr_content c;
    /* a rename is applied by renaming at the other end, not by fetching: never split */
    if (!sr_message_fileop(m, &op) && sr_message_size(m, &size))
        bs = sr_blocks_size_for(o->block_size, size);
    /* a file small enough to be inline was meant to travel in the message */
    if (bs > 0 && sr_message_content(m, &c))
        bs = 0;
    if (bs == 0) {
        *out = malloc(sizeof **out);
        if (*out == NULL) {
            sr_message_free(m);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        (*out)[0] = m;
        *count = 1;
        return SR_OK;
    }
    static const sr_identity_spec sha512 = {SR_ID_SHA512, SR_ID_NONE, NULL};
    char *real = resolved(path, o->realpath);
    int rc =
        real ? sr_blocks_split(m, real, bs, o->identity ? o->identity : &sha512, out, count, err)
             : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    free(real);
    sr_message_free(m);
    return rc;
}

/* mtime and atime (timeCopy) and mode (permCopy) as a listing showed them. */
static int set_listed_times_and_mode(const sr_announce_options *o, const sr_listed *e,
                                     sr_message *m, sr_err *err)
{
    char t[SR_TIME_MAX];
    int rc = SR_OK;
    if (o->time_copy && e->has_mtime && sr_time_format(&e->mtime, true, t, sizeof t) >= 0) {
        rc = sr_message_set_str(m, "mtime", t, err);
        if (rc == SR_OK) /* a listing shows no access time: sr3 writes the mtime there too */
            rc = sr_message_set_str(m, "atime", t, err);
    }
    if (rc == SR_OK && o->perm_copy && e->has_perms) {
        char mode[8];
        snprintf(mode, sizeof mode, "%o", (unsigned)(e->mode & 07777));
        rc = sr_message_set_str(m, "mode", mode, err);
    }
    return rc;
}

int sr_announce_listed(const sr_announce_options *o, const char *rel_path, const sr_listed *e,
                       const struct timespec *now, sr_message **out, sr_err *err)
{
    int rc = message_start_rel(o, rel_path, rel_path, now, out, err);
    if (rc != SR_OK)
        return rc;
    if (S_ISDIR(e->mode)) {
        sr_fileop op = {.directory = true};
        rc = sr_message_set_fileop(*out, &op, err);
        if (rc == SR_OK)
            rc = sr_message_set_str(*out, "contentType", "text/directory", err);
    } else if (S_ISLNK(e->mode)) {
        sr_fileop op = {.link = e->link};
        rc = e->link != NULL ? sr_message_set_fileop(*out, &op, err)
                             : sr_err_set(err, SR_EINVAL, false,
                                          "%s is a link whose target the listing does not show",
                                          rel_path);
        if (rc == SR_OK)
            rc = sr_message_set_str(*out, "contentType", "text/link", err);
    } else {
        /* the content is not read: only an identity that needs none (cod: computed on
         * download; arbitrary: the config's value) */
        const sr_identity_spec *spec = o->identity;
        sr_identity id = {SR_ID_NONE, ""};
        if (spec != NULL && spec->method == SR_ID_COD) {
            id.method = SR_ID_COD;
            snprintf(id.value, sizeof id.value, "%s", sr_identity_method_name(spec->cod_algorithm));
        } else if (spec != NULL && spec->method == SR_ID_ARBITRARY && spec->arbitrary_value) {
            id.method = SR_ID_ARBITRARY;
            snprintf(id.value, sizeof id.value, "%s", spec->arbitrary_value);
        }
        if (id.method != SR_ID_NONE)
            rc = sr_message_set_identity(*out, &id, err);
        if (rc == SR_OK && e->size >= 0)
            rc = sr_message_set_size(*out, (long long)e->size, err);
    }
    if (rc == SR_OK)
        rc = set_listed_times_and_mode(o, e, *out, err);
    if (rc != SR_OK) {
        sr_message_free(*out);
        *out = NULL;
    }
    return rc;
}
