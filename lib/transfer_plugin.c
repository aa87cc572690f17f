/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer_plugin: the backend for a URL scheme a plugin of the config lists in
 * sr_plugin.schemes (sr-plugin(7)): get is its download hook, put its send hook.
 *
 * The plugin moves bytes, nothing else. A download's bytes reach sr through the write
 * callback, which is sr_transfer_sink_write: the checksum, the byte count, the announced
 * size (a plugin that hands more is stopped at once) and byteRateMax apply as for every
 * backend, and transfer.c writes them to the partial file, beneath the jail, and renames
 * it: a plugin never sees a local path or a file descriptor. A send's bytes come from
 * sr_transfer_source_read the same way.
 *
 * What a plugin cannot be asked to do, and what sr does instead:
 *   - writing under an inflight name then renaming: its send writes the final name and
 *     makes that atomic if its protocol can (put_final: sr_transfer_send asks for no
 *     rename and no folder);
 *   - mkdir, chmod, utime: nothing done (said at debug): its send makes the folders it
 *     needs, and a protocol sr does not know has no modes or times sr could set;
 *   - resuming a download, or fetching one block of a partitioned file: a get from an
 *     offset is SR_EPROTO, so transfer.c starts the file over; a block is refused;
 *   - rename, remove, symlink, stat, list: refused, naming the plugin and the operation
 *     (a fileOp forwarded by a sender fails with that reason; a poll of such a URL needs
 *     a plugin with a poll hook).
 * The URL a plugin is given is the session's (no password: sr_transfer_url) and the
 * remote path; a send's remote path starts with '/' when it is absolute.
 */
#include "transfer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins.h"
#include "plugins_impl.h"

typedef struct plugin_backend {
    sr_plugin_instance *down; /* the plugin whose download hook serves the scheme, or NULL */
    sr_plugin_instance *up;   /* whose send hook does */
} plugin_backend;

/* The plugin named in errors: the one that would do it, else the other. */
static const char *name_of(const sr_transfer *t)
{
    const plugin_backend *b = t->backend;
    return (b->down != NULL ? b->down : b->up)->short_name;
}

/* An operation the plugin's protocol has no hook for: refused, for good. */
static int cannot(sr_transfer *t, const char *what, const char *path, sr_err *err)
{
    return sr_err_set(err, SR_EINVAL, false,
                      "%s: plugin %s transfers scheme %s by download and send only: it cannot "
                      "%s %s",
                      t->shown_url, name_of(t), t->url.scheme, what, path);
}

/* ---- get ---- */

typedef struct sink_ctx {
    sr_transfer *t;
    int fd;
    sr_digest *digest;
    sr_transfer_result *result;
    int rc; /* the sink's own failure, kept whatever the plugin says after it */
    sr_err err;
} sink_ctx;

static int sink_cb(void *ctx, const void *buf, size_t n, sr_err *err)
{
    sink_ctx *c = ctx;
    int rc = sr_transfer_sink_write(c->t, c->fd, buf, n, c->digest, c->result, &c->err);
    if (rc != SR_OK) {
        c->rc = rc;
        if (err != NULL)
            *err = c->err;
    }
    return rc;
}

/* "scheme://host" + remote path: the URL the plugin fetches. New string or NULL. */
static char *url_of(const sr_transfer *t, const char *remote_path)
{
    char *url = NULL;
    const char *p = remote_path;
    while (p[0] == '/' && p[1] == '/')
        p++;
    if (asprintf(&url, "%s%s%s", t->shown_url, p[0] == '/' ? "" : "/", p) < 0)
        return NULL;
    return url;
}

static int plugin_get(sr_transfer *t, const char *remote_path, int fd, off_t offset, off_t length,
                      sr_digest *digest, sr_transfer_result *result, sr_err *err)
{
    plugin_backend *b = t->backend;
    if (b->down == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: plugin %s sends over scheme %s but has no download hook: %s "
                          "cannot be downloaded",
                          t->shown_url, name_of(t), t->url.scheme, remote_path);
    if (length > 0)
        return sr_err_set(err, SR_EPROTO, false,
                          "%s: plugin %s downloads whole files only, not the block of %lld "
                          "bytes at %lld of %s",
                          t->shown_url, name_of(t), (long long)length, (long long)offset,
                          remote_path);
    if (offset > 0) /* transfer.c starts over from the first byte */
        return sr_err_set(err, SR_EPROTO, false, "%s: plugin %s cannot resume %s at byte %lld",
                          t->shown_url, name_of(t), remote_path, (long long)offset);
    if (t->message == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: plugin %s downloads for a message, and %s comes with none",
                          t->shown_url, name_of(t), remote_path);
    char *url = url_of(t, remote_path);
    if (url == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    sink_ctx c = {.t = t, .fd = fd, .digest = digest, .result = result, .rc = SR_OK};
    int rc = sr_plugin_download(b->down, t->message, url, sink_cb, &c, err);
    if (c.rc != SR_OK) {
        /* the plugin stopped because sr refused its bytes: that is the reason */
        rc = c.rc;
        if (err != NULL)
            *err = c.err;
    }
    free(url);
    return rc;
}

/* ---- put ---- */

typedef struct source_ctx {
    sr_transfer *t;
    int fd;
    off_t pos;
    sr_transfer_result *result;
    int rc;
    sr_err err;
} source_ctx;

static long source_cb(void *ctx, void *buf, size_t n, sr_err *err)
{
    source_ctx *c = ctx;
    ssize_t r = sr_transfer_source_read(c->t, c->fd, buf, n, c->pos, c->result, &c->err);
    if (r < 0) {
        c->rc = c->err.code;
        if (err != NULL)
            *err = c->err;
        return -1;
    }
    c->pos += r;
    return (long)r;
}

static int plugin_put(sr_transfer *t, int fd, const char *remote_path, off_t offset, off_t length,
                      sr_transfer_result *result, sr_err *err)
{
    plugin_backend *b = t->backend;
    if (b->up == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: plugin %s downloads over scheme %s but has no send hook: %s "
                          "cannot be sent",
                          t->shown_url, name_of(t), t->url.scheme, remote_path);
    if (offset > 0 || length > 0) /* put_ranges is false: transfer.c never asks */
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: plugin %s sends whole files only, not a part of %s", t->shown_url,
                          name_of(t), remote_path);
    if (t->message == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: plugin %s sends for a message, and %s comes with none", t->shown_url,
                          name_of(t), remote_path);
    /* transfer.h's "//abs" is the plugin's "/abs" */
    const char *path = remote_path;
    while (path[0] == '/' && path[1] == '/')
        path++;
    source_ctx c = {.t = t, .fd = fd, .result = result, .rc = SR_OK};
    int rc = sr_plugin_send(b->up, t->message, path, source_cb, &c, err);
    if (c.rc != SR_OK) {
        rc = c.rc;
        if (err != NULL)
            *err = c.err;
    }
    return rc;
}

/* ---- what a plugin does not do ---- */

static int plugin_mkdir_p(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err)
{
    (void)mode;
    (void)err;
    sr_transfer_notify(t, SR_LOG_DEBUG,
                       "%s: mkdir %s not done: plugin %s's send makes the folders it needs",
                       t->shown_url, remote_dir, name_of(t));
    return SR_OK;
}

static int plugin_chmod(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err)
{
    (void)err;
    sr_transfer_notify(t, SR_LOG_DEBUG, "%s: chmod %o %s not done: plugin %s sets no modes",
                       t->shown_url, (unsigned)mode, remote_path, name_of(t));
    return SR_OK;
}

static int plugin_utime(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                        const struct timespec *mtime, sr_err *err)
{
    (void)atime;
    (void)mtime;
    (void)err;
    sr_transfer_notify(t, SR_LOG_DEBUG, "%s: times of %s not set: plugin %s sets no times",
                       t->shown_url, remote_path, name_of(t));
    return SR_OK;
}

static int plugin_rename(sr_transfer *t, const char *from, const char *to, sr_err *err)
{
    (void)to;
    return cannot(t, "rename", from, err);
}

static int plugin_remove(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err)
{
    return cannot(t, is_dir ? "remove the folder" : "remove", remote_path, err);
}

static int plugin_symlink(sr_transfer *t, const char *target, const char *remote_path, sr_err *err)
{
    (void)target;
    return cannot(t, "make the symbolic link", remote_path, err);
}

static int plugin_stat(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err)
{
    (void)st;
    return cannot(t, "stat", remote_path, err);
}

static int plugin_list_each(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                            const sr_listing_sink *sink, sr_err *err)
{
    (void)o;
    (void)sink;
    return sr_err_set(err, SR_EINVAL, false,
                      "%s: plugin %s transfers scheme %s by download and send only: it cannot "
                      "list the folder %s (a poll of it needs a plugin with a poll hook)",
                      t->shown_url, name_of(t), t->url.scheme, remote_dir);
}

static void plugin_destroy(sr_transfer *t)
{
    free(t->backend);
    t->backend = NULL;
}

static const sr_transfer_ops plugin_ops = {
    .get = plugin_get,
    .put = plugin_put,
    .mkdir_p = plugin_mkdir_p,
    .rename = plugin_rename,
    .remove = plugin_remove,
    .symlink = plugin_symlink,
    .chmod = plugin_chmod,
    .utime = plugin_utime,
    .stat = plugin_stat,
    .list_each = plugin_list_each,
    .destroy = plugin_destroy,
    .put_ranges = false,
    .put_final = true,
};

int sr_transfer_plugin_init(sr_transfer *t, sr_err *err)
{
    const sr_plugins *ps = t->options->plugins;
    if (ps == NULL)
        return SR_ENOENT;
    sr_plugin_instance *down = sr_plugins_for_scheme(ps, t->url.scheme, false);
    sr_plugin_instance *up = sr_plugins_for_scheme(ps, t->url.scheme, true);
    if (down == NULL && up == NULL)
        return SR_ENOENT;
    plugin_backend *b = calloc(1, sizeof *b);
    if (b == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    b->down = down;
    b->up = up;
    t->backend = b;
    t->ops = &plugin_ops;
    return SR_OK;
}
