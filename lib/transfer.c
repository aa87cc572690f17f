/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer: see transfer.h. The protocol-independent half: the pool of sessions, inflight
 * names, the byte path (checksum, count, rate limit) and the whole transfers.
 */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "transfer_impl.h"

#define DEFAULT_TIMEOUT 300.0
#define DEFAULT_BUFFER (1u << 20)

struct sr_transfer_pool {
    sr_transfer_options options;
    sr_transfer **sessions;
    size_t count;
    /* byteRateMax: bytes moved since `window_start` (monotonic seconds) */
    double window_start;
    double window_bytes;
};

static double monotonic_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double sr_transfer_timeout(const sr_transfer *t)
{
    return t->options->timeout > 0 ? t->options->timeout : DEFAULT_TIMEOUT;
}

size_t sr_transfer_buffer_size(const sr_transfer *t)
{
    return t->options->buffer_size > 0 ? t->options->buffer_size : DEFAULT_BUFFER;
}

const char *sr_transfer_home(const sr_transfer *t)
{
    if (t->options->home != NULL)
        return t->options->home;
    const char *home = getenv("HOME");
    return home != NULL ? home : "/";
}

void sr_transfer_notify(const sr_transfer *t, enum sr_level level, const char *fmt, ...)
{
    if (t->options->notify == NULL)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    t->options->notify(t->options->notify_ctx, level, text);
}

const char *sr_transfer_url(const sr_transfer *t)
{
    return t->shown_url;
}

/* ---- the pool ---- */

sr_transfer_pool *sr_transfer_pool_new(const sr_transfer_options *options, sr_err *err)
{
    sr_transfer_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) {
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
        return NULL;
    }
    pool->options = *options;
    pool->window_start = monotonic_s();
    return pool;
}

static void session_free(sr_transfer *t)
{
    if (t == NULL)
        return;
    if (t->ops != NULL)
        t->ops->destroy(t);
    sr_url_fini(&t->url);
    free(t->shown_url);
    free(t);
}

void sr_transfer_pool_free(sr_transfer_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->count; i++)
        session_free(pool->sessions[i]);
    free(pool->sessions);
    free(pool);
}

static bool str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Same remote: scheme, host, port and user. */
static bool same_remote(const sr_url *a, const sr_url *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && str_same(a->host, b->host) &&
           sr_url_port(a) == sr_url_port(b) && str_same(a->user, b->user);
}

static int backend_init(sr_transfer *t, sr_err *err)
{
    const char *s = t->url.scheme;
    /* a plugin that lists a scheme was loaded by the config to handle it: before sr's own */
    int rc = sr_transfer_plugin_init(t, err);
    if (rc != SR_ENOENT)
        return rc;
    if (strcmp(s, "file") == 0)
        return sr_transfer_file_init(t, err);
    if (strcmp(s, "http") == 0 || strcmp(s, "https") == 0 || strcmp(s, "ftp") == 0 ||
        strcmp(s, "ftps") == 0)
        return sr_transfer_curl_init(t, err);
    if (strcmp(s, "sftp") == 0 || strcmp(s, "scp") == 0 || strcmp(s, "ssh") == 0)
        return sr_transfer_sftp_init(t, err);
    return sr_err_set(err, SR_EINVAL, false,
                      "%s: sr cannot transfer with scheme %s (file, http, https, ftp, ftps, "
                      "sftp, or one a plugin of the config lists: sr-plugin(7))",
                      t->shown_url, s);
}

int sr_transfer_pool_get(sr_transfer_pool *pool, const char *url, sr_transfer **out, sr_err *err)
{
    *out = NULL;
    sr_url given, key;
    int rc = sr_url_parse(url, &given, err);
    if (rc != SR_OK)
        return rc;
    free(given.path);
    given.path = strdup(""); /* a session is the remote, not a file on it */
    if (given.path == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    else if (pool->options.credentials != NULL && given.password == NULL)
        rc = sr_credentials_complete(pool->options.credentials, &given, &key, err);
    else
        rc = sr_url_copy(&key, &given) == SR_OK
                 ? SR_OK
                 : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc != SR_OK) {
        sr_url_fini(&given);
        return rc;
    }
    /* Sessions are matched on the URL completed from the credentials, as they were made
     * from it: a URL without a user whose credentials name one finds its session. */
    for (size_t i = 0; i < pool->count; i++) {
        if (same_remote(&pool->sessions[i]->url, &key)) {
            sr_url_fini(&given);
            sr_url_fini(&key);
            *out = pool->sessions[i];
            return SR_OK;
        }
    }
    sr_transfer *t = calloc(1, sizeof *t);
    sr_transfer **grown = realloc(pool->sessions, (pool->count + 1) * sizeof *grown);
    if (t == NULL || grown == NULL) {
        free(t);
        sr_url_fini(&given);
        sr_url_fini(&key);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    pool->sessions = grown;
    t->sink_limit = -1;
    t->pool = pool;
    t->options = &pool->options;
    t->url = key; /* the session owns it now */
    if (pool->options.credentials != NULL)
        t->credential = sr_credentials_find(pool->options.credentials, &given);
    sr_url_fini(&given);
    if ((t->shown_url = sr_url_format(&t->url, false)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = backend_init(t, err);
    if (rc != SR_OK) {
        session_free(t);
        return rc;
    }
    pool->sessions[pool->count++] = t;
    *out = t;
    return SR_OK;
}

/* ---- the byte path ---- */

/* byteRateMax over the whole pool: after moving n bytes, sleep until the average since
 * the window started is back under the limit; the window restarts every 10 s so a pause
 * earns no burst larger than that. */
static void throttle(sr_transfer *t, size_t n)
{
    sr_transfer_pool *pool = t->pool;
    double limit = pool->options.byte_rate_max;
    if (limit <= 0)
        return;
    double now = monotonic_s();
    if (now - pool->window_start > 10) {
        pool->window_start = now;
        pool->window_bytes = 0;
    }
    pool->window_bytes += (double)n;
    double ahead = pool->window_bytes / limit - (now - pool->window_start);
    if (ahead > 0) {
        struct timespec d = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
        while (nanosleep(&d, &d) != 0 && errno == EINTR)
            ;
    }
}

int sr_transfer_sink_write(sr_transfer *t, int fd, const void *buf, size_t n, sr_digest *digest,
                           sr_transfer_result *result, sr_err *err)
{
    if (t->sink_limit >= 0 && (result != NULL ? result->bytes : 0) + (off_t)n > t->sink_limit)
        return sr_err_set(err, SR_EREFUSED, false,
                          "%s sent more than the %lld bytes announced: stopped", t->shown_url,
                          (long long)t->sink_limit);
    const char *p = buf;
    for (size_t left = n; left > 0;) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sr_err_set(err, SR_EIO, errno == ENOSPC || errno == EDQUOT,
                              "writing the download from %s: %s", t->shown_url, strerror(errno));
        p += w;
        left -= (size_t)w;
    }
    if (digest != NULL)
        sr_digest_update(digest, buf, n);
    if (result != NULL)
        result->bytes += (off_t)n;
    throttle(t, n);
    return SR_OK;
}

ssize_t sr_transfer_source_read(sr_transfer *t, int fd, void *buf, size_t n, off_t offset,
                                sr_transfer_result *result, sr_err *err)
{
    ssize_t r;
    do
        r = pread(fd, buf, n, offset);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        sr_err_set(err, SR_EIO, false, "reading the file to send to %s: %s", t->shown_url,
                   strerror(errno));
        return -1;
    }
    if (result != NULL)
        result->bytes += r;
    throttle(t, (size_t)r);
    return r;
}

/* ---- single operations: thin, so the byte path and errors stay in one place ---- */

int sr_transfer_get(sr_transfer *t, const char *remote_path, int fd, const sr_range *range,
                    sr_digest *digest, sr_transfer_result *result, sr_err *err)
{
    sr_transfer_result local = {0};
    if (result == NULL)
        result = &local;
    memset(result, 0, sizeof *result);
    off_t offset = range ? range->offset : 0;
    if (lseek(fd, offset, SEEK_SET) < 0)
        return sr_err_set(err, SR_EIO, false, "cannot seek in the file written from %s: %s",
                          t->shown_url, strerror(errno));
    double start = monotonic_s();
    int rc =
        t->ops->get(t, remote_path, fd, offset, range ? range->length : 0, digest, result, err);
    result->seconds = monotonic_s() - start;
    return rc;
}

int sr_transfer_put(sr_transfer *t, int fd, const char *remote_path, const sr_range *range,
                    sr_transfer_result *result, sr_err *err)
{
    sr_transfer_result local = {0};
    if (result == NULL)
        result = &local;
    memset(result, 0, sizeof *result);
    double start = monotonic_s();
    int rc = t->ops->put(t, fd, remote_path, range ? range->offset : 0, range ? range->length : 0,
                         result, err);
    result->seconds = monotonic_s() - start;
    return rc;
}

bool sr_transfer_puts_ranges(const sr_transfer *t)
{
    return t->ops->put_ranges;
}

bool sr_transfer_writes_final(const sr_transfer *t)
{
    return t->ops->put_final;
}

int sr_transfer_mkdir_p(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err)
{
    return t->ops->mkdir_p(t, remote_dir, mode, err);
}

int sr_transfer_rename(sr_transfer *t, const char *from, const char *to, sr_err *err)
{
    return t->ops->rename(t, from, to, err);
}

int sr_transfer_delete(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err)
{
    return t->ops->remove(t, remote_path, is_dir, err);
}

int sr_transfer_symlink(sr_transfer *t, const char *target, const char *remote_path, sr_err *err)
{
    return t->ops->symlink(t, target, remote_path, err);
}

int sr_transfer_chmod(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err)
{
    return t->ops->chmod(t, remote_path, mode, err);
}

int sr_transfer_utime(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                      const struct timespec *mtime, sr_err *err)
{
    return t->ops->utime(t, remote_path, atime, mtime, err);
}

int sr_transfer_stat(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err)
{
    memset(st, 0, sizeof *st);
    return t->ops->stat(t, remote_path, st, err);
}

int sr_transfer_list_each(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                          const sr_listing_sink *sink, sr_err *err)
{
    sr_listing_options utc = {0};
    return t->ops->list_each(t, remote_dir, o != NULL ? o : &utc, sink, err);
}

/* sr_transfer_list's gathering of the entries. */
typedef struct gathered {
    sr_remote_entry *v;
    size_t n, cap;
} gathered;

static int gather_entry(void *ctx, const sr_listed *e, sr_err *err)
{
    gathered *g = ctx;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        sr_remote_entry *grown = realloc(g->v, cap * sizeof *grown);
        if (grown == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        g->v = grown;
        g->cap = cap;
    }
    sr_remote_entry *r = &g->v[g->n];
    memset(r, 0, sizeof *r);
    if ((r->name = strdup(e->name)) == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    /* sr_remote_stat has no "unknown": 0, as a HEAD without Content-Length gives */
    r->stat.size = e->size >= 0 ? e->size : 0;
    if (e->has_mtime)
        r->stat.mtime = e->mtime;
    r->stat.mode = e->has_perms ? e->mode : (e->mode & S_IFMT);
    r->stat.is_dir = S_ISDIR(e->mode);
    g->n++;
    return SR_OK;
}

static int entry_name_cmp(const void *a, const void *b)
{
    return strcmp(((const sr_remote_entry *)a)->name, ((const sr_remote_entry *)b)->name);
}

int sr_transfer_list(sr_transfer *t, const char *remote_dir, sr_remote_entry **entries,
                     size_t *count, sr_err *err)
{
    *entries = NULL;
    *count = 0;
    gathered g = {0};
    sr_listing_sink sink = {.entry = gather_entry, .ctx = &g};
    int rc = sr_transfer_list_each(t, remote_dir, NULL, &sink, err);
    if (rc != SR_OK) {
        sr_remote_entries_free(g.v, g.n);
        return rc;
    }
    /* sorted by name, each name once (a page may link a name in two places) */
    if (g.n > 1)
        qsort(g.v, g.n, sizeof *g.v, entry_name_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (kept > 0 && strcmp(g.v[kept - 1].name, g.v[i].name) == 0) {
            free(g.v[i].name);
            continue;
        }
        g.v[kept++] = g.v[i];
    }
    *entries = g.v;
    *count = kept;
    return SR_OK;
}

void sr_remote_entries_free(sr_remote_entry *entries, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(entries[i].name);
    free(entries);
}

/* ---- inflight ---- */

int sr_inflight_parse(const char *value, sr_inflight *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    if (value == NULL || value[0] == '\0' || strcmp(value, "None") == 0 ||
        strcmp(value, "none") == 0)
        return SR_OK;
    size_t n = strlen(value);
    if (strspn(value, "0123456789.smhdw") == n && value[0] != '.')
        return sr_err_set(err, SR_EINVAL, false,
                          "inflight %s: a time is sr3's fileAgeMin spelling, for posting only; "
                          "a download or send needs .tmp, tmp/ or a prefix",
                          value);
    if (n >= sizeof out->text)
        return sr_err_set(err, SR_EINVAL, false, "inflight %.32s...: longer than %zu bytes", value,
                          sizeof out->text - 1);
    if (strcmp(value, ".") == 0) {
        out->kind = SR_INFLIGHT_PREFIX;
    } else if (value[0] == '.') {
        out->kind = SR_INFLIGHT_SUFFIX;
    } else if (value[n - 1] == '/' || value[0] == '/') {
        out->kind = SR_INFLIGHT_DIR;
        /* the folder name alone: "tmp/" and "/tmp" both mean <dir>/tmp/<name> */
        const char *start = value[0] == '/' ? value + 1 : value;
        size_t len = strlen(start);
        if (len > 0 && start[len - 1] == '/')
            len--;
        if (len == 0 || memchr(start, '/', len) != NULL)
            return sr_err_set(err, SR_EINVAL, false,
                              "inflight %s: a sub-folder is one name, like tmp/", value);
        memcpy(out->text, start, len);
        return SR_OK;
    } else {
        out->kind = SR_INFLIGHT_PREFIX;
    }
    memcpy(out->text, value, n + 1);
    return SR_OK;
}

char *sr_transfer_folder_path(const char *folder, const char *name)
{
    const char *f = folder ? folder : "";
    bool absolute = f[0] == '/';
    while (*f == '/')
        f++;
    /* "./a" and "." are the login folder's own: only the rest tells where */
    while (!absolute && f[0] == '.' && (f[1] == '/' || f[1] == '\0')) {
        f += f[1] == '/' ? 2 : 1;
        while (*f == '/')
            f++;
    }
    const char *n = name ? name : "";
    size_t flen = strlen(f);
    const char *sep = flen > 0 && n[0] != '\0' && f[flen - 1] != '/' ? "/" : "";
    char *out = NULL;
    if (absolute)
        /* "//" is this API's absolute path (transfer.h), which sftp and ftp both read */
        return asprintf(&out, "//%s%s%s", f, sep, n) < 0 ? NULL : out;
    if (flen == 0 && n[0] == '\0')
        return strdup(".");
    return asprintf(&out, "%s%s%s", f, sep, n) < 0 ? NULL : out;
}

/* Schemes whose paths start in a login folder (transfer.h): sftp's and ftp's. */
static bool login_scheme(const char *scheme)
{
    static const char *const names[] = {"sftp", "scp", "ssh", "ftp", "ftps"};
    for (size_t i = 0; scheme != NULL && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(scheme, names[i]) == 0)
            return true;
    return false;
}

char *sr_transfer_url_path(const char *scheme, const char *base_path, const char *rel_path)
{
    const char *b = base_path ? base_path : "", *r = rel_path ? rel_path : "";
    size_t blen = strlen(b);
    bool base_slash = blen > 0 && b[blen - 1] == '/', rel_slash = r[0] == '/';
    if (base_slash && rel_slash)
        r++;
    const char *sep = base_slash || rel_slash ? "" : "/";
    char *out = NULL;
    if (!login_scheme(scheme)) /* the URL's path, as the message's URL has it */
        return asprintf(&out, "%s%s%s", b, sep, r) < 0 ? NULL : out;
    if (blen == 0 && !rel_slash) /* sftp://host + a/f: a/f in the login folder */
        return r[0] != '\0' ? strdup(r) : strdup(".");
    /* any path after the host is where sr3 changes into from the login folder: absolute */
    while (*b == '/')
        b++;
    if (b[0] == '\0')
        while (*r == '/')
            r++;
    if (b[0] == '\0')
        sep = "";
    return asprintf(&out, "//%s%s%s", b, sep, r) < 0 ? NULL : out;
}

char *sr_inflight_path(const sr_inflight *inflight, const char *final_path)
{
    const char *slash = strrchr(final_path, '/');
    int dir_len = slash ? (int)(slash - final_path + 1) : 0;
    const char *name = final_path + dir_len;
    char *out = NULL;
    int n;
    switch (inflight->kind) {
    case SR_INFLIGHT_SUFFIX:
        n = asprintf(&out, "%s%s", final_path, inflight->text);
        break;
    case SR_INFLIGHT_PREFIX:
        n = asprintf(&out, "%.*s%s%s", dir_len, final_path, inflight->text, name);
        break;
    case SR_INFLIGHT_DIR:
        n = asprintf(&out, "%.*s%s/%s", dir_len, final_path, inflight->text, name);
        break;
    default:
        n = asprintf(&out, "%s", final_path);
        break;
    }
    return n < 0 ? NULL : out;
}

/* ---- whole transfers ---- */

char *sr_transfer_download_temp(const sr_inflight *plan_inflight, const char *local_path)
{
    /* A partial file is never visible under its final name: with inflight None (sr3's
     * default for downloads, which writes in place) sr still writes to a temporary name. */
    sr_inflight inflight = *plan_inflight;
    if (inflight.kind == SR_INFLIGHT_NONE) {
        inflight.kind = SR_INFLIGHT_SUFFIX;
        snprintf(inflight.text, sizeof inflight.text, ".sr-partial");
    }
    return sr_inflight_path(&inflight, local_path);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Feed the first length bytes of fd to the digest (resuming a download). */
static int digest_existing(int fd, const char *name, off_t length, sr_digest *digest,
                           size_t bufsize, sr_err *err)
{
    char *buf = malloc(bufsize);
    int rc = buf ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    for (off_t done = 0; rc == SR_OK && done < length;) {
        size_t want = (size_t)(length - done) < bufsize ? (size_t)(length - done) : bufsize;
        ssize_t r = pread(fd, buf, want, done);
        if (r <= 0)
            rc = sr_err_set(err, SR_EIO, true, "cannot read %s: %s", name,
                            r < 0 ? strerror(errno) : "shorter than it was");
        else {
            sr_digest_update(digest, buf, (size_t)r);
            done += r;
        }
    }
    free(buf);
    return rc;
}

static enum sr_identity_method digest_method(const sr_transfer_plan *plan)
{
    if (plan->identity != NULL && sr_identity_is_digest(plan->identity->method))
        return plan->identity->method;
    if (plan->identity != NULL && plan->identity->method == SR_ID_COD &&
        strcmp(plan->identity->value, "md5") == 0)
        return SR_ID_MD5;
    return SR_ID_SHA512;
}

int sr_transfer_finish_download(sr_jail *jail, int fd, const char *tmp, const char *rel,
                                const sr_transfer_plan *plan, int has_mode,
                                const sr_identity *computed, sr_err *err)
{
    /* set-id bits are set again whatever fd had: a write may have cleared them */
    bool same = plan->mode == has_mode && (plan->mode & ~0777) == 0;
    if (plan->mode >= 0 && !same && fchmod(fd, (mode_t)plan->mode) != 0)
        return sr_err_set(err, SR_EIO, false, "chmod %s/%s: %s", sr_jail_root(jail), tmp,
                          strerror(errno));
    if (plan->mtime != NULL) {
        struct timespec times[2] = {plan->atime ? *plan->atime : *plan->mtime, *plan->mtime};
        if (futimens(fd, times) != 0)
            return sr_err_set(err, SR_EIO, false, "setting the times of %s/%s: %s",
                              sr_jail_root(jail), tmp, strerror(errno));
    }
    /* The cache records the identity with the final mtime, so it is stored after utime;
     * with the size and mtime known (checked, set just now), without asking the file */
    if (plan->size >= 0 && plan->mtime != NULL)
        sr_identity_cache_store_as(fd, computed, plan->size, plan->mtime, NULL);
    else
        sr_identity_cache_store(fd, computed, NULL);
    if (strcmp(tmp, rel) != 0 && sr_jail_rename(jail, tmp, rel, err) != SR_OK) {
        err->retryable = err->code != SR_EREFUSED;
        return err->code;
    }
    return SR_OK;
}

/* Open where a download writes: a whole file's temporary name made (or an interrupted
 * one continued) and locked against another instance writing it; a block's temporary
 * file, which the caller holds (blocks.h), opened as it is. */
static int open_temp(sr_jail *jail, const char *tmp, const sr_transfer_plan *plan, int *fd,
                     sr_err *err)
{
    char *dir = dir_of(tmp);
    int rc = dir ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK && strcmp(dir, ".") != 0)
        rc = sr_jail_mkdirs(jail, dir, plan->dir_mode ? plan->dir_mode : 0755, err);
    free(dir);
    /* Two instances given the same file (a message redelivered after a kill, or announced
     * twice) must not write one temporary file at once: the second leaves it to the first
     * and retries later, when the file is there. Held until the file has its final name
     * or is removed. */
    if (rc == SR_OK && plan->range == NULL)
        rc = sr_jail_open_locked(jail, tmp, false, fd, NULL, err);
    else if (rc == SR_OK)
        rc = sr_jail_open(jail, tmp, O_WRONLY | O_CREAT, 0666, fd, err);
    return rc;
}

int sr_transfer_download(sr_transfer *t, const char *remote_path, sr_jail *jail, const char *rel,
                         const sr_transfer_plan *plan, sr_identity *computed,
                         sr_transfer_result *result, sr_err *err)
{
    sr_transfer_result local_result = {0};
    if (result == NULL)
        result = &local_result;
    memset(result, 0, sizeof *result);
    sr_identity got = {0};
    char *tmp = sr_transfer_download_temp(&plan->inflight, rel);
    sr_digest *digest = NULL;
    int fd = -1;
    int rc = tmp ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK && (digest = sr_digest_new(digest_method(plan), err)) == NULL)
        rc = err ? err->code : SR_ENOMEM;
    if (rc == SR_OK)
        rc = open_temp(jail, tmp, plan, &fd, err);

    /* Resume: the temporary file left by an interrupted download is continued (only a
     * temporary name says "partial": the file under the final name may be an older
     * version, not the start of this one). */
    struct stat st = {0};
    off_t have = 0;
    if (rc == SR_OK && plan->range == NULL && fstat(fd, &st) != 0)
        rc = sr_err_set(err, SR_EIO, true, "stat %s/%s: %s", sr_jail_root(jail), tmp,
                        strerror(errno));
    if (rc == SR_OK && plan->resume && plan->range == NULL && st.st_size > 0 &&
        (plan->size < 0 || st.st_size < plan->size))
        have = st.st_size;
    if (rc == SR_OK && have > 0)
        rc = digest_existing(fd, tmp, have, digest, sr_transfer_buffer_size(t), err);
    /* a leftover that is not resumed starts over (a file just made is empty already) */
    if (rc == SR_OK && have == 0 && plan->range == NULL && st.st_size > 0 && ftruncate(fd, 0) != 0)
        rc = sr_err_set(err, SR_EIO, errno == ENOSPC, "truncating %s/%s: %s", sr_jail_root(jail),
                        tmp, strerror(errno));
    off_t offset = plan->range ? plan->range->offset : have;
    /* a descriptor just opened is at 0 already (digest_existing reads with pread) */
    if (rc == SR_OK && offset != 0 && lseek(fd, offset, SEEK_SET) < 0)
        rc = sr_err_set(err, SR_EIO, false, "cannot seek in %s/%s: %s", sr_jail_root(jail), tmp,
                        strerror(errno));
    if (rc == SR_OK) {
        double start = monotonic_s();
        off_t limit = plan->range ? plan->range->length : plan->max_bytes ? *plan->max_bytes : -1;
        t->sink_limit = limit >= 0 ? limit - (plan->range ? 0 : have) : -1;
        t->message = plan->message;
        rc = t->ops->get(t, remote_path, fd, offset, plan->range ? plan->range->length : 0, digest,
                         result, err);
        if (rc == SR_EPROTO && have > 0) {
            /* the server cannot start in the middle: start over */
            have = 0;
            t->sink_limit = limit;
            memset(result, 0, sizeof *result);
            sr_digest_free(digest);
            digest = sr_digest_new(digest_method(plan), err);
            if (digest == NULL)
                rc = SR_ENOMEM;
            else if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) < 0)
                rc = sr_err_set(err, SR_EIO, false, "truncating %s/%s: %s", sr_jail_root(jail), tmp,
                                strerror(errno));
            else
                rc = t->ops->get(t, remote_path, fd, 0, 0, digest, result, err);
        }
        t->sink_limit = -1;
        t->message = NULL;
        result->resumed = have > 0;
        result->seconds = monotonic_s() - start;
    }
    if (rc == SR_OK)
        rc = sr_digest_final(digest, &got, err);

    /* Size and identity, for whole files (a block's identity is its own). The size is
     * the file's, asked of it: a process that wrote into the temporary file meanwhile
     * (the lock binds only sr) is caught here. */
    struct stat now;
    if (rc == SR_OK && plan->range == NULL && plan->size >= 0 && fstat(fd, &now) == 0 &&
        now.st_size != plan->size)
        rc = sr_err_set(err, SR_EINVAL, true, "%s%s: received %lld bytes, the message says %lld",
                        t->shown_url, remote_path, (long long)now.st_size, (long long)plan->size);
    if (rc == SR_OK && plan->identity != NULL && plan->identity->method == got.method &&
        !sr_identity_equal(plan->identity, &got))
        rc = sr_err_set(err, SR_EINVAL, true,
                        "%s%s: the file received has %s %s, the message says %s", t->shown_url,
                        remote_path, sr_identity_method_name(got.method), got.value,
                        plan->identity->value);
    if (rc == SR_OK && plan->range != NULL && plan->range->length > 0 &&
        result->bytes != plan->range->length)
        rc = sr_err_set(err, SR_EINVAL, true,
                        "%s%s: received %lld bytes of the block at %lld, the message says %lld",
                        t->shown_url, remote_path, (long long)result->bytes,
                        (long long)plan->range->offset, (long long)plan->range->length);
    /* A block stays in the temporary file: the caller renames it once all are in. */
    /* the mode fstat saw after the open (the umask's, or a default ACL's, for a file
     * made), which writing does not change but for set-id bits */
    if (rc == SR_OK && plan->range == NULL)
        rc = sr_transfer_finish_download(jail, fd, tmp, rel, plan, (int)(st.st_mode & 07777),
                                         &got, err);

    /* A wrong file is removed (and one that ran past its announced size); an interrupted
     * one is kept for resuming when asked, unless the failure is final (a 404: no retry
     * will come to resume it) or nothing came (a refused connection: nothing to resume,
     * and the retry may never come back here when another message brings the file). A
     * block's temporary file holds other blocks too: never removed here (a wrong block is
     * written again over the same bytes). Removed while still locked. */
    if (rc != SR_OK && fd >= 0 && plan->range == NULL) {
        bool final = err != NULL && !err->retryable;
        bool empty = fstat(fd, &st) == 0 && st.st_size == 0;
        if (rc == SR_EINVAL || rc == SR_EREFUSED || !plan->resume || final || empty)
            sr_jail_remove(jail, tmp, false, NULL);
    }
    if (fd >= 0 && close(fd) != 0 && rc == SR_OK)
        rc = sr_err_set(err, SR_EIO, true, "closing %s/%s: %s", sr_jail_root(jail), rel,
                        strerror(errno));
    if (rc == SR_OK && computed != NULL)
        *computed = got;
    sr_digest_free(digest);
    free(tmp);
    return rc;
}

int sr_transfer_send_finish(sr_transfer *t, const char *tmp, const char *remote_path,
                            const sr_transfer_plan *plan, sr_err *err)
{
    int rc = SR_OK;
    if (plan->mode >= 0)
        rc = t->ops->chmod(t, tmp, (mode_t)plan->mode, err);
    if (rc == SR_OK && plan->mtime != NULL)
        rc = t->ops->utime(t, tmp, plan->atime ? plan->atime : plan->mtime, plan->mtime, err);
    if (rc == SR_OK && strcmp(tmp, remote_path) != 0)
        rc = t->ops->rename(t, tmp, remote_path, err);
    return rc;
}

int sr_transfer_send(sr_transfer *t, int fd, const char *remote_path, const sr_transfer_plan *plan,
                     sr_transfer_result *result, sr_err *err)
{
    /* a backend that cannot rename (a plugin's) writes the final name, atomically itself */
    char *tmp =
        t->ops->put_final ? strdup(remote_path) : sr_inflight_path(&plan->inflight, remote_path);
    char *dir = tmp ? dir_of(tmp) : NULL;
    int rc = tmp && dir ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK && !t->ops->put_final && strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0)
        rc = t->ops->mkdir_p(t, dir, plan->dir_mode ? plan->dir_mode : 0755, err);
    bool wrote = false;
    if (rc == SR_OK) {
        t->message = plan->message;
        rc = sr_transfer_put(t, fd, tmp, plan->range, result, err);
        t->message = NULL;
        wrote = true;
    }
    if (rc == SR_OK)
        rc = sr_transfer_send_finish(t, tmp, remote_path, plan, err);
    /* A failed send removes its partial temporary file while the session still works
     * (sr_sender(1), DESCRIPTION); a lost session leaves it for the next attempt to
     * overwrite. */
    if (rc != SR_OK && wrote && rc != SR_ECONN && strcmp(tmp, remote_path) != 0)
        t->ops->remove(t, tmp, false, NULL);
    free(tmp);
    free(dir);
    return rc;
}
