/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * paths: see paths.h.
 */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

#ifndef SR_CONFD_DIR
#define SR_CONFD_DIR "/usr/local/share/sr/conf.d"
#endif

/* An environment variable, with set-but-empty read as unset. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* $HOME, else the password database's home (into buf), else NULL. */
static const char *home_dir(char *buf, size_t size)
{
    const char *home = env("HOME");
    if (home != NULL)
        return home;
    struct passwd pw, *found = NULL;
    if (getpwuid_r(getuid(), &pw, buf, size, &found) == 0 && found != NULL &&
        found->pw_dir != NULL && found->pw_dir[0] != '\0')
        return found->pw_dir;
    return NULL;
}

char *sr_paths_expand_home(const char *path)
{
    if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
        return strdup(path);
    char buf[4096];
    const char *home = home_dir(buf, sizeof buf);
    if (home == NULL)
        return strdup(path);
    size_t hlen = strlen(home);
    while (hlen > 1 && home[hlen - 1] == '/')
        hlen--;
    char *out = NULL;
    if (asprintf(&out, "%.*s%s", (int)hlen, home, path + 1) < 0)
        return NULL;
    return out;
}

static int dir_from(char **dst, const char *override, const char *xdg_var, const char *home_rel,
                    const char *what, sr_err *err)
{
    const char *v = env(override);
    int n;
    if (v != NULL) {
        n = asprintf(dst, "%s", v);
    } else if ((v = env(xdg_var)) != NULL) {
        n = asprintf(dst, "%s/sr", v);
    } else {
        char buf[4096];
        const char *home = home_dir(buf, sizeof buf);
        if (home == NULL)
            return sr_err_set(err, SR_ENOENT, false,
                              "cannot find the %s folder: %s, %s and HOME are unset and the "
                              "password database has no home for uid %u",
                              what, override, xdg_var, (unsigned)getuid());
        n = asprintf(dst, "%s/%s", home, home_rel);
    }
    if (n < 0) {
        *dst = NULL;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    return SR_OK;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int find_confd(sr_paths *paths, sr_err *err)
{
    const char *v = env("SR_CONFD");
    if (v != NULL) {
        paths->confd_dir = strdup(v);
    } else if (is_dir(SR_CONFD_DIR)) {
        paths->confd_dir = strdup(SR_CONFD_DIR);
    } else {
        /* Run from the build tree or a relocated install: conf.d beside the binary. */
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return sr_err_set(err, SR_ENOENT, false,
                              "cannot find conf.d: %s does not exist, SR_CONFD is unset and "
                              "/proc/self/exe cannot be read",
                              SR_CONFD_DIR);
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        if (asprintf(&paths->confd_dir, "%s/../share/sr/conf.d", exe) < 0)
            paths->confd_dir = NULL;
    }
    if (paths->confd_dir == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    return SR_OK;
}

int sr_paths_init(sr_paths *paths, bool statehost, sr_err *err)
{
    memset(paths, 0, sizeof *paths);
    int rc = dir_from(&paths->config_dir, "SR_CONFIG_DIR", "XDG_CONFIG_HOME", ".config/sr",
                      "configuration", err);
    if (rc == SR_OK)
        rc = dir_from(&paths->state_dir, "SR_STATE_DIR", "XDG_CACHE_HOME", ".cache/sr", "state",
                      err);
    if (rc != SR_OK)
        return rc;
    if (statehost) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0)
            return sr_err_set(err, SR_EIO, false, "gethostname: %s", strerror(errno));
        host[strcspn(host, ".")] = '\0';
        char *with_host = NULL;
        if (asprintf(&with_host, "%s/%s", paths->state_dir, host) < 0)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        free(paths->state_dir);
        paths->state_dir = with_host;
    }
    if (asprintf(&paths->log_dir, "%s/log", paths->state_dir) < 0) {
        paths->log_dir = NULL;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (asprintf(&paths->metrics_dir, "%s/metrics", paths->state_dir) < 0) {
        paths->metrics_dir = NULL;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    return find_confd(paths, err);
}

void sr_paths_fini(sr_paths *paths)
{
    free(paths->config_dir);
    free(paths->state_dir);
    free(paths->log_dir);
    free(paths->metrics_dir);
    free(paths->confd_dir);
    memset(paths, 0, sizeof *paths);
}

char *sr_paths_config_file(const sr_paths *paths, const char *component, const char *name)
{
    return sr_strdup_printf("%s/%s/%s.conf", paths->config_dir, component, name);
}

char *sr_paths_instance_dir(const sr_paths *paths, const char *component, const char *name)
{
    return sr_strdup_printf("%s/%s/%s", paths->state_dir, component, name);
}

char *sr_paths_log_file(const sr_paths *paths, const char *component, const char *name,
                        int instance)
{
    return sr_strdup_printf("%s/%s_%s_%02d.log", paths->log_dir, component, name, instance);
}

char *sr_paths_pid_file(const sr_paths *paths, const char *component, const char *name,
                        int instance)
{
    return sr_strdup_printf("%s/%s/%s/i%03d.pid", paths->state_dir, component, name, instance);
}

char *sr_paths_metrics_file(const sr_paths *paths, const char *component, const char *name,
                            int instance)
{
    return sr_strdup_printf("%s/%s_%s_%02d.json", paths->metrics_dir, component, name, instance);
}

int sr_mkdir_p(const char *path, mode_t mode, sr_err *err)
{
    if (path[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "mkdir: an empty folder name");
    char *copy = strdup(path);
    if (copy == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = SR_OK;
    /* Make each prefix in turn; an existing folder (or a race with another instance
     * making it) is fine, anything else on the way is an error naming that prefix. */
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, mode) != 0 && errno != EEXIST) {
            rc = sr_err_set(err, errno == EACCES ? SR_EPERM : SR_EIO, false, "mkdir %s: %s", copy,
                            strerror(errno));
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    if (rc == SR_OK && !is_dir(path))
        rc = sr_err_set(err, SR_EIO, false, "mkdir %s: exists and is not a folder", path);
    free(copy);
    return rc;
}

void sr_sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int sr_lock_path(const char *path, bool wait, int *fd, sr_err *err)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (*fd < 0)
            return sr_err_set(err, SR_EIO, errno == ENOSPC, "cannot open %s: %s", path,
                              strerror(errno));
        int r;
        do
            r = flock(*fd, LOCK_EX | (wait ? 0 : LOCK_NB));
        while (r != 0 && errno == EINTR);
        struct stat held, named;
        if (r == 0 && fstat(*fd, &held) == 0 && stat(path, &named) == 0 &&
            held.st_ino == named.st_ino && held.st_dev == named.st_dev)
            return SR_OK;
        int e = errno;
        close(*fd);
        *fd = -1;
        if (r != 0 && e == EWOULDBLOCK)
            return sr_err_set(err, SR_EIO, true,
                              "%s is being written by another process: left for later", path);
        if (r != 0)
            return sr_err_set(err, SR_EIO, true, "cannot lock %s: %s", path, strerror(e));
    }
    return sr_err_set(err, SR_EIO, true, "cannot lock %s: it keeps being replaced", path);
}
