/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * instance: see instance.h.
 *
 * Everything here reads /proc (Linux): /proc/<pid>/cmdline for what a process runs,
 * /proc/<pid>/stat for its state and start time, the owner of /proc/<pid> for its uid,
 * /proc/<pid>/environ for the state folder it uses.
 */
#include "instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"

#define CMDLINE_MAX 65536 /* longer command lines are cut: we only look at their ends */

/* Read a whole small file; returns its length (-1 on failure), buf NUL-terminated. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    return read_small(path, buf, size);
}

/* Split a NUL-separated buffer into words (pointers into buf). Returns the count. */
static size_t split_words(char *buf, size_t len, char **words, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < max;) {
        words[n++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    return n;
}

/* A process that exists, is not a zombie, and runs as our uid. Sets *age_s when asked. */
static bool alive_and_mine(pid_t pid, double *age_s)
{
    if (pid <= 0)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    struct stat st;
    if (stat(path, &st) != 0 || st.st_uid != geteuid())
        return false;
    char stat_buf[1024];
    ssize_t n = read_proc(pid, "stat", stat_buf, sizeof stat_buf);
    if (n <= 0)
        return false;
    /* "pid (comm) S ..." where comm may hold spaces and parentheses: read after the last ')' */
    char *close_paren = strrchr(stat_buf, ')');
    if (close_paren == NULL || close_paren[1] == '\0')
        return false;
    char state = close_paren[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    if (age_s != NULL) {
        /* field 22 (starttime, clock ticks since boot); field 3 is the state */
        unsigned long long start = 0;
        char *p = close_paren + 2;
        for (int field = 3; field < 22 && p != NULL; field++) {
            p = strchr(p, ' ');
            if (p != NULL)
                p++;
        }
        if (p != NULL)
            start = strtoull(p, NULL, 10);
        double uptime = 0;
        char up[128];
        if (read_small("/proc/uptime", up, sizeof up) > 0)
            uptime = strtod(up, NULL);
        long hz = sysconf(_SC_CLK_TCK);
        *age_s = uptime - (double)start / (double)(hz > 0 ? hz : 100);
    }
    return true;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Whether word names config: the name itself, or a path to <config>.conf. */
static bool names_config(const char *word, const char *config)
{
    if (strcmp(word, config) == 0)
        return true;
    const char *b = base_name(word);
    size_t len = strlen(config);
    return strncmp(b, config, len) == 0 && strcmp(b + len, ".conf") == 0;
}

/* The component a program name runs ("sr_subscribe" -> "subscribe"), or NULL. */
static const char *component_of(const char *argv0)
{
    const char *b = base_name(argv0);
    if (strncmp(b, "sr_", 3) != 0)
        return NULL;
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        const char *name = sr_component_name(sr_component_at(i));
        if (strcmp(b + 3, name) == 0)
            return name;
    }
    return NULL;
}

bool sr_instance_is_ours(pid_t pid, const char *component, const char *config)
{
    if (!alive_and_mine(pid, NULL))
        return false;
    static const size_t words_max = 256;
    char *buf = malloc(CMDLINE_MAX);
    char **w = malloc(words_max * sizeof *w);
    bool ours = false;
    ssize_t len = buf && w ? read_proc(pid, "cmdline", buf, CMDLINE_MAX) : -1;
    if (len > 0) {
        size_t n = split_words(buf, (size_t)len, w, words_max);
        const char *comp = component_of(w[0]);
        /* the supervisor's command lines end with `instance N CONFIG` or `foreground CONFIG` */
        ours =
            comp != NULL && strcmp(comp, component) == 0 && n >= 3 &&
            names_config(w[n - 1], config) &&
            (strcmp(w[n - 2], "foreground") == 0 || (n >= 4 && strcmp(w[n - 3], "instance") == 0));
    }
    free(buf);
    free(w);
    return ours;
}

/* The pid a pid file holds (0 when it holds no number); -1 when it cannot be read. */
static pid_t read_pid_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > 4194304)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

static int compare_info(const void *a, const void *b)
{
    const sr_instance_info *x = a, *y = b;
    return (x->instance > y->instance) - (x->instance < y->instance);
}

int sr_instance_scan(const sr_paths *paths, const char *component, const char *config,
                     sr_instance_info **infos, size_t *count, sr_err *err)
{
    *infos = NULL;
    *count = 0;
    char *dir = sr_paths_instance_dir(paths, component, config);
    if (dir == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    DIR *d = opendir(dir);
    if (d == NULL) {
        int e = errno;
        int rc = e == ENOENT || e == ENOTDIR
                     ? SR_OK
                     : sr_err_set(err, SR_EIO, false, "cannot list %s: %s", dir, strerror(e));
        free(dir);
        return rc;
    }
    size_t cap = 0;
    int rc = SR_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* iNNN.pid, as sr_paths_pid_file names them */
        int instance;
        char tail[8];
        if (sscanf(e->d_name, "i%d%7s", &instance, tail) != 2 || strcmp(tail, ".pid") != 0 ||
            instance < 0)
            continue;
        char *path = sr_paths_pid_file(paths, component, config, instance);
        if (path == NULL || strcmp(base_name(path), e->d_name) != 0) {
            free(path);
            if (path == NULL) {
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                break;
            }
            continue; /* i1.pid or another name we never write */
        }
        pid_t pid = read_pid_file(path);
        free(path);
        if (pid < 0)
            continue; /* removed between readdir and open: stopped meanwhile */
        if (*count == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            sr_instance_info *grown = realloc(*infos, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                break;
            }
            *infos = grown;
            cap = ncap;
        }
        sr_instance_info *info = &(*infos)[(*count)++];
        info->instance = instance;
        info->pid = pid;
        info->state = pid > 0 && sr_instance_is_ours(pid, component, config) ? SR_INSTANCE_RUNNING
                                                                             : SR_INSTANCE_DEAD;
    }
    closedir(d);
    free(dir);
    if (rc != SR_OK) {
        free(*infos);
        *infos = NULL;
        *count = 0;
        return rc;
    }
    if (*count > 1)
        qsort(*infos, *count, sizeof **infos, compare_info);
    return SR_OK;
}

int sr_instance_write_pid(const sr_paths *paths, const char *component, const char *config,
                          int instance, pid_t pid, sr_err *err)
{
    char *dir = sr_paths_instance_dir(paths, component, config);
    char *path = sr_paths_pid_file(paths, component, config, instance);
    char *tmp = NULL;
    int rc = SR_OK;
    if (dir == NULL || path == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (rc == SR_OK)
        rc = sr_mkdir_p(dir, 0700, err);
    if (rc == SR_OK) {
        FILE *f = fopen(tmp, "we");
        if (f == NULL) {
            rc = sr_err_set(err, SR_EIO, false, "cannot write %s: %s", tmp, strerror(errno));
        } else {
            bool ok = fprintf(f, "%d\n", (int)pid) > 0;
            ok = fclose(f) == 0 && ok;
            if (!ok || rename(tmp, path) != 0) {
                rc = sr_err_set(err, SR_EIO, false, "cannot write %s: %s", path, strerror(errno));
                unlink(tmp);
            }
        }
    }
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

int sr_instance_remove_pid(const sr_paths *paths, const char *component, const char *config,
                           int instance, sr_err *err)
{
    char *path = sr_paths_pid_file(paths, component, config, instance);
    if (path == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = SR_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        rc = sr_err_set(err, SR_EIO, false, "cannot remove %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

char *sr_instance_disabled_file(const sr_paths *paths, const char *component, const char *config)
{
    char *dir = sr_paths_instance_dir(paths, component, config);
    char *path = NULL;
    if (dir != NULL && asprintf(&path, "%s/disabled", dir) < 0)
        path = NULL;
    free(dir);
    return path;
}

bool sr_instance_disabled(const sr_paths *paths, const char *component, const char *config)
{
    char *path = sr_instance_disabled_file(paths, component, config);
    bool disabled = path != NULL && access(path, F_OK) == 0;
    free(path);
    return disabled;
}

/* The value of NAME in a NUL-separated environment block, or NULL; empty counts as unset
 * (as paths.c reads its own environment). */
static const char *env_get(char *const *vars, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncmp(vars[i], name, len) == 0 && vars[i][len] == '=')
            return vars[i][len + 1] ? vars[i] + len + 1 : NULL;
    return NULL;
}

/* Whether the process's environment gives it the state folder `want`. This repeats the
 * rule of paths.c (SR_STATE_DIR, else $XDG_CACHE_HOME/sr, else $HOME/.cache/sr) for
 * another process's environment: two users of one uid with different HOMEs, or two test
 * trees, must never stop each other's instances. */
static bool same_state_dir(pid_t pid, const char *want)
{
    static const size_t vars_max = 4096;
    char *buf = malloc(CMDLINE_MAX);
    char **vars = malloc(vars_max * sizeof *vars);
    bool same = false;
    ssize_t len = buf && vars ? read_proc(pid, "environ", buf, CMDLINE_MAX) : -1;
    if (len >= 0) {
        size_t n = split_words(buf, (size_t)len, vars, vars_max);
        const char *v;
        char *dir = NULL;
        int rc;
        if ((v = env_get(vars, n, "SR_STATE_DIR")) != NULL) {
            rc = asprintf(&dir, "%s", v);
        } else if ((v = env_get(vars, n, "XDG_CACHE_HOME")) != NULL) {
            rc = asprintf(&dir, "%s/sr", v);
        } else {
            const char *home = env_get(vars, n, "HOME");
            struct passwd *pw = home ? NULL : getpwuid(geteuid());
            rc = home || pw ? asprintf(&dir, "%s/.cache/sr", home ? home : pw->pw_dir) : -1;
        }
        if (rc >= 0) {
            same = strcmp(dir, want) == 0;
            free(dir);
        }
    }
    free(buf);
    free(vars);
    return same;
}

int sr_instance_processes(const sr_paths *paths, sr_instance_process **procs, size_t *count,
                          sr_err *err)
{
    *procs = NULL;
    *count = 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return sr_err_set(err, SR_EIO, false, "cannot list /proc: %s", strerror(errno));
    char *buf = malloc(CMDLINE_MAX);
    static const size_t words_max = 256;
    char **w = malloc(words_max * sizeof *w);
    size_t cap = 0;
    int rc = buf && w ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    struct dirent *e;
    pid_t self = getpid();
    while (rc == SR_OK && (e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        double age = 0;
        if (*end != '\0' || pid <= 0 || pid == self || !alive_and_mine((pid_t)pid, &age))
            continue;
        ssize_t len = read_proc((pid_t)pid, "cmdline", buf, CMDLINE_MAX);
        if (len <= 0)
            continue;
        size_t n = split_words(buf, (size_t)len, w, words_max);
        const char *comp = component_of(w[0]);
        if (comp == NULL || n < 4 || strcmp(w[n - 3], "instance") != 0)
            continue;
        long instance = strtol(w[n - 2], &end, 10);
        if (*end != '\0' || instance < 1 || instance > 999)
            continue;
        const char *config = base_name(w[n - 1]);
        size_t clen = strlen(config);
        if (clen > 5 && strcmp(config + clen - 5, ".conf") == 0)
            clen -= 5;
        if (clen == 0 || clen >= sizeof((sr_instance_process *)0)->config)
            continue;
        if (!same_state_dir((pid_t)pid, paths->state_dir))
            continue;
        if (*count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            sr_instance_process *grown = realloc(*procs, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                break;
            }
            *procs = grown;
            cap = ncap;
        }
        sr_instance_process *p = &(*procs)[(*count)++];
        memset(p, 0, sizeof *p);
        p->pid = (pid_t)pid;
        snprintf(p->component, sizeof p->component, "%s", comp);
        memcpy(p->config, config, clen);
        p->config[clen] = '\0';
        p->instance = (int)instance;
        p->age = age;
    }
    closedir(d);
    free(buf);
    free(w);
    if (rc != SR_OK) {
        free(*procs);
        *procs = NULL;
        *count = 0;
    }
    return rc;
}
