/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_native: the backend of built-in and C plugins (plugins_impl.h). Both are an
 * sr_plugin description (sr/plugin.h) whose hooks are called here with a host (the api
 * table, plugin_api.h); a C plugin's description comes from a shared object, checked
 * before any of its code runs.
 *
 * Loading a shared object safely (sr-security(7)): whoever can change the file, or
 * replace it in its folder, runs code as the user running sr. So the folder is opened
 * first and the file is opened in it with openat(O_NOFOLLOW): both are pinned as
 * descriptors, and their fstat is what is checked (owner: this user or root; no write
 * for group or others on the file; no write for others on the folder, sticky or not: a
 * /tmp-like folder lets anyone put a file there first). The file is then loaded through
 * /proc/self/fd/N, the very file checked, so nothing can swap it between the check and
 * the dlopen (lstat then stat then dlopen by name would leave that window open). The
 * descriptor stays open as long as the plugin is loaded: the dynamic loader knows a
 * library by that name, and a reused number would otherwise make it hand back another.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_api.h"

typedef struct native {
    void *dl; /* NULL: built in */
    int fd;   /* the shared object, open while loaded; -1 when built in */
    const sr_plugin *desc;
    sr_plugin_hostctx hc;
} native;

static native *nat(sr_plugin_instance *pi)
{
    return pi->backend;
}

static const char *failure(native *n)
{
    return n->hc.error[0] ? n->hc.error : "no reason given";
}

static int op_start(sr_plugin_instance *pi, sr_err *err)
{
    native *n = nat(pi);
    n->hc.error[0] = '\0';
    int rc = n->desc->on_start(&n->hc.host);
    sr_plugin_hostctx_end(&n->hc);
    if (rc != 0)
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: on_start failed: %s", pi->name,
                          failure(n));
    return SR_OK;
}

static void op_stop(sr_plugin_instance *pi)
{
    native *n = nat(pi);
    if (n->desc->on_stop == NULL) /* called at every stop (plugins.c): nothing to end */
        return;
    n->desc->on_stop(&n->hc.host);
    sr_plugin_hostctx_end(&n->hc);
}

static void op_housekeeping(sr_plugin_instance *pi)
{
    native *n = nat(pi);
    n->desc->on_housekeeping(&n->hc.host);
    sr_plugin_hostctx_end(&n->hc);
}

/* A verdict and its reason into the item; a verdict this sr does not know is a retry:
 * the message is kept safe, never acked unworked. */
static void decide(sr_plugin_item *it, int v, const char *why)
{
    if (v == SR_PLUGIN_KEEP)
        return;
    char text[256];
    if (v != SR_PLUGIN_REJECT && v != SR_PLUGIN_RETRY) {
        snprintf(text, sizeof text, "unknown verdict %d", v);
        why = text;
        v = SR_PLUGIN_RETRY;
    }
    it->verdict = (enum sr_plugin_verdict)v;
    free(it->why);
    it->why = strdup(why ? why : v == SR_PLUGIN_REJECT ? "rejected" : "to retry");
}

static void op_after_accept(sr_plugin_instance *pi, sr_plugin_item *items, size_t count)
{
    native *n = nat(pi);
    for (size_t i = 0; i < count; i++) {
        sr_work *w = items[i].w;
        if (items[i].verdict != SR_PLUGIN_KEEP || w->msg == NULL)
            continue;
        sr_plugin_msg pm;
        sr_plugin_msg_init(&pm, &n->hc, w->msg, w->placed ? &w->placement : NULL, false);
        const char *why = NULL;
        int v = (int)n->desc->after_accept(&n->hc.host, &pm, &why);
        decide(&items[i], v, why);
        sr_plugin_msg_fini(&pm);
    }
    sr_plugin_hostctx_end(&n->hc);
}

static void op_after_work(sr_plugin_instance *pi, sr_plugin_item *items, size_t count)
{
    native *n = nat(pi);
    for (size_t i = 0; i < count; i++) {
        sr_work *w = items[i].w;
        if (items[i].verdict != SR_PLUGIN_KEEP || w->msg == NULL)
            continue;
        /* sr/plugin.h: the destination is readable from after_accept on (work.rxpipe
         * writes new_dir/new_file once the file is received) */
        sr_plugin_msg pm;
        sr_plugin_msg_init(&pm, &n->hc, w->msg, w->placed ? &w->placement : NULL, false);
        pm.placed_already = items[i].placed_already;
        const char *why = NULL;
        int v = (int)n->desc->after_work(&n->hc.host, &pm, items[i].outcome, &why);
        decide(&items[i], v, why);
        sr_plugin_msg_fini(&pm);
    }
    sr_plugin_hostctx_end(&n->hc);
}

static void op_after_post(sr_plugin_instance *pi, sr_plugin_item *items, size_t count)
{
    native *n = nat(pi);
    for (size_t i = 0; i < count; i++) {
        if (items[i].w->msg == NULL)
            continue;
        sr_plugin_msg pm;
        sr_plugin_msg_init(&pm, &n->hc, items[i].w->msg, NULL, true);
        n->desc->after_post(&n->hc.host, &pm);
        sr_plugin_msg_fini(&pm);
    }
    sr_plugin_hostctx_end(&n->hc);
}

static int collect(sr_plugin_instance *pi, int got, size_t max, sr_message ***msgs, size_t *count,
                   const char *hook, sr_err *err)
{
    native *n = nat(pi);
    if (got < 0) {
        sr_plugin_hostctx_end(&n->hc);
        return sr_err_set(err, SR_EINVAL, true, "plugin %s: %s failed: %s", pi->name, hook,
                          failure(n));
    }
    return sr_plugin_hostctx_take(&n->hc, max, msgs, count, err);
}

static int op_gather(sr_plugin_instance *pi, size_t max, sr_message ***msgs, size_t *count,
                     sr_err *err)
{
    native *n = nat(pi);
    n->hc.error[0] = '\0';
    n->hc.collecting = true;
    int got = n->desc->gather(&n->hc.host, max);
    return collect(pi, got, max, msgs, count, "gather", err);
}

static int op_poll(sr_plugin_instance *pi, sr_message ***msgs, size_t *count, sr_err *err)
{
    native *n = nat(pi);
    n->hc.error[0] = '\0';
    n->hc.collecting = true;
    int got = n->desc->poll(&n->hc.host);
    return collect(pi, got, (size_t)-1, msgs, count, "poll", err);
}

static int op_destfn(sr_plugin_instance *pi, const sr_message *m, char **name, sr_err *err)
{
    native *n = nat(pi);
    char buf[NAME_MAX + 1] = "";
    sr_plugin_msg pm;
    /* read only: the cast never leads to a change */
    sr_plugin_msg_init(&pm, &n->hc, (sr_message *)m, NULL, true);
    n->hc.error[0] = '\0';
    int rc = n->desc->destfn(&n->hc.host, &pm, buf, sizeof buf);
    sr_plugin_msg_fini(&pm);
    sr_plugin_hostctx_end(&n->hc);
    if (rc != 0)
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: destfn failed: %s", pi->name,
                          failure(n));
    buf[sizeof buf - 1] = '\0';
    *name = NULL;
    if (buf[0] == '\0') /* left empty: the name stays (sr/plugin.h) */
        return SR_OK;
    if ((*name = strdup(buf)) == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    return SR_OK;
}

static int op_download(sr_plugin_instance *pi, const sr_message *m, const char *url,
                       int (*write)(void *ctx, const void *buf, size_t n, sr_err *err), void *ctx,
                       sr_err *err)
{
    native *n = nat(pi);
    sr_plugin_sink sink = {write, ctx, &n->hc};
    sr_plugin_msg pm;
    sr_plugin_msg_init(&pm, &n->hc, (sr_message *)m, NULL, true);
    n->hc.error[0] = '\0';
    int rc = n->desc->download(&n->hc.host, &pm, url, &sink);
    sr_plugin_msg_fini(&pm);
    sr_plugin_hostctx_end(&n->hc);
    if (rc != 0)
        return sr_err_set(err, SR_EIO, true, "plugin %s: download of %s failed: %s", pi->name, url,
                          failure(n));
    return SR_OK;
}

static int op_send(sr_plugin_instance *pi, const sr_message *m, const char *remote_path,
                   long (*read)(void *ctx, void *buf, size_t n, sr_err *err), void *ctx,
                   sr_err *err)
{
    native *n = nat(pi);
    sr_plugin_source source = {read, ctx, &n->hc};
    sr_plugin_msg pm;
    sr_plugin_msg_init(&pm, &n->hc, (sr_message *)m, NULL, true);
    n->hc.error[0] = '\0';
    int rc = n->desc->send(&n->hc.host, &pm, &source, remote_path);
    sr_plugin_msg_fini(&pm);
    sr_plugin_hostctx_end(&n->hc);
    if (rc != 0)
        return sr_err_set(err, SR_EIO, true, "plugin %s: send to %s failed: %s", pi->name,
                          remote_path, failure(n));
    return SR_OK;
}

static void op_metrics_report(sr_plugin_instance *pi, json_t *obj)
{
    native *n = nat(pi);
    n->hc.metrics = obj;
    n->desc->metrics_report(&n->hc.host);
    sr_plugin_hostctx_end(&n->hc);
}

static void op_destroy(sr_plugin_instance *pi)
{
    native *n = nat(pi);
    if (n == NULL)
        return;
    sr_plugin_hostctx_end(&n->hc);
    if (n->dl != NULL)
        dlclose(n->dl);
    if (n->fd >= 0)
        close(n->fd);
    free(n);
    pi->backend = NULL;
}

static const sr_plugin_backend_ops native_ops = {
    .start = op_start,
    .stop = op_stop,
    .housekeeping = op_housekeeping,
    .after_accept = op_after_accept,
    .after_work = op_after_work,
    .after_post = op_after_post,
    .gather = op_gather,
    .poll = op_poll,
    .destfn = op_destfn,
    .download = op_download,
    .send = op_send,
    .metrics_report = op_metrics_report,
    .destroy = op_destroy,
};

/* A NULL-terminated copy of list (NULL: an empty one). */
static char **copy_list(const char *const *list)
{
    size_t n = 0;
    while (list != NULL && list[n] != NULL)
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < n; i++) {
        if ((out[i] = strdup(list[i])) == NULL) {
            for (size_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* Fill pi from a checked description; takes n. */
static int adopt(sr_plugin_instance *pi, native *n, sr_err *err)
{
    const sr_plugin *d = n->desc;
    unsigned hooks = 0;
    hooks |= d->on_start ? SR_PLUGIN_HOOK_ON_START : 0;
    hooks |= d->on_stop ? SR_PLUGIN_HOOK_ON_STOP : 0;
    hooks |= d->on_housekeeping ? SR_PLUGIN_HOOK_ON_HOUSEKEEPING : 0;
    hooks |= d->after_accept ? SR_PLUGIN_HOOK_AFTER_ACCEPT : 0;
    hooks |= d->after_work ? SR_PLUGIN_HOOK_AFTER_WORK : 0;
    hooks |= d->after_post ? SR_PLUGIN_HOOK_AFTER_POST : 0;
    hooks |= d->gather ? SR_PLUGIN_HOOK_GATHER : 0;
    hooks |= d->poll ? SR_PLUGIN_HOOK_POLL : 0;
    hooks |= d->destfn ? SR_PLUGIN_HOOK_DESTFN : 0;
    hooks |= d->download ? SR_PLUGIN_HOOK_DOWNLOAD : 0;
    hooks |= d->send ? SR_PLUGIN_HOOK_SEND : 0;
    hooks |= d->metrics_report ? SR_PLUGIN_HOOK_METRICS_REPORT : 0;
    pi->schemes = copy_list(d->schemes);
    pi->options = copy_list(d->options);
    if (pi->schemes == NULL || pi->options == NULL) {
        n->desc = NULL;
        pi->backend = n;
        op_destroy(pi);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if ((hooks & (SR_PLUGIN_HOOK_DOWNLOAD | SR_PLUGIN_HOOK_SEND)) && pi->schemes[0] == NULL) {
        pi->backend = n;
        op_destroy(pi);
        return sr_err_set(err, SR_EINVAL, false,
                          "plugin %s: has download or send but lists no URL scheme", pi->name);
    }
    pi->hooks = hooks;
    pi->ops = &native_ops;
    pi->backend = n;
    sr_plugin_hostctx_init(&n->hc, pi);
    return SR_OK;
}

static int check_desc(const sr_plugin_instance *pi, const sr_plugin *d, const char *what,
                      sr_err *err)
{
    if (d == NULL)
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: %s returned no description", pi->name,
                          what);
    if (d->abi_version != SR_PLUGIN_ABI_VERSION)
        return sr_err_set(err, SR_EINVAL, false,
                          "plugin %s: its description is for plugin ABI version %u, this sr "
                          "has version %u",
                          pi->name, d->abi_version, (unsigned)SR_PLUGIN_ABI_VERSION);
    return SR_OK;
}

int sr_plugin_builtin_load(sr_plugin_instance *pi, const sr_plugin *desc, sr_err *err)
{
    if (check_desc(pi, desc, "the built-in table", err) != SR_OK)
        return err->code;
    native *n = calloc(1, sizeof *n);
    if (n == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    n->fd = -1;
    n->desc = desc;
    return adopt(pi, n, err);
}

/* The folder and the file, opened and checked (see the top of this file): the file's
 * descriptor in *fd. */
static int open_checked(const sr_plugin_instance *pi, const char *path, int *fd, sr_err *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if (slash != NULL)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof dir, ".");
    uid_t me = geteuid();
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, false,
                          "plugin %s: cannot open folder %s: %s", pi->name, dir, strerror(errno));
    struct stat st;
    if (fstat(dfd, &st) != 0) {
        close(dfd);
        return sr_err_set(err, SR_EIO, false, "plugin %s: %s: %s", pi->name, dir, strerror(errno));
    }
    if (st.st_mode & S_IWOTH) {
        close(dfd);
        return sr_err_set(err, SR_EPERM, false,
                          "plugin %s: refused: its folder %s is writable by others (mode %03o)",
                          pi->name, dir, (unsigned)(st.st_mode & 07777));
    }
    if (st.st_uid != me && st.st_uid != 0) {
        close(dfd);
        return sr_err_set(err, SR_EPERM, false,
                          "plugin %s: refused: its folder %s belongs to user %u, neither you "
                          "nor root",
                          pi->name, dir, (unsigned)st.st_uid);
    }
    int f = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int saved = errno;
    close(dfd);
    if (f < 0)
        return sr_err_set(err, saved == ENOENT ? SR_ENOENT : SR_EIO, false,
                          "plugin %s: cannot open %s: %s", pi->name, path,
                          saved == ELOOP ? "a symbolic link (refused)" : strerror(saved));
    const char *why = NULL;
    if (fstat(f, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        why = "writable by group or others";
    else if (st.st_uid != me && st.st_uid != 0)
        why = "owned by another user than you or root";
    if (why != NULL) {
        close(f);
        return sr_err_set(err, SR_EPERM, false, "plugin %s: refused %s: %s (mode %03o)", pi->name,
                          path, why, (unsigned)(st.st_mode & 07777));
    }
    *fd = f;
    return SR_OK;
}

int sr_plugin_native_load(sr_plugin_instance *pi, const char *path, sr_err *err)
{
    int fd = -1;
    if (open_checked(pi, path, &fd, err) != SR_OK)
        return err->code;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    dlerror();
    void *dl = dlopen(proc, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        close(fd);
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: cannot load %s: %s", pi->name, path,
                          why ? why : "unknown reason");
    }
    const unsigned *abi = dlsym(dl, SR_PLUGIN_ABI_SYMBOL);
    sr_plugin_entry_fn entry = NULL;
    *(void **)&entry = dlsym(dl, SR_PLUGIN_ENTRY_SYMBOL);
    int rc = SR_OK;
    if (abi == NULL)
        rc = sr_err_set(err, SR_EINVAL, false,
                        "plugin %s: %s has no symbol %s: not an sr plugin (sr-plugin(7))", pi->name,
                        path, SR_PLUGIN_ABI_SYMBOL);
    else if (*abi != SR_PLUGIN_ABI_VERSION)
        rc = sr_err_set(err, SR_EINVAL, false,
                        "plugin %s: %s is built for plugin ABI version %u, this sr has version "
                        "%u: rebuild it against this sr's sr/plugin.h",
                        pi->name, path, *abi, (unsigned)SR_PLUGIN_ABI_VERSION);
    else if (entry == NULL)
        rc = sr_err_set(err, SR_EINVAL, false,
                        "plugin %s: %s has no symbol %s: not an sr plugin (sr-plugin(7))", pi->name,
                        path, SR_PLUGIN_ENTRY_SYMBOL);
    const sr_plugin *desc = rc == SR_OK ? entry(&sr_plugin_api_table) : NULL;
    if (rc == SR_OK)
        rc = check_desc(pi, desc, SR_PLUGIN_ENTRY_SYMBOL, err);
    native *n = NULL;
    if (rc == SR_OK && (n = calloc(1, sizeof *n)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc != SR_OK) {
        dlclose(dl);
        close(fd);
        return rc;
    }
    n->dl = dl;
    n->fd = fd;
    n->desc = desc;
    return adopt(pi, n, err);
}
