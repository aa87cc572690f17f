/*
 * log: see log.h.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

/* Longest line written; a longer message is cut and ends with "...". */
#define LINE_MAX_BYTES 8192

struct sr_log {
    char *path; /* NULL: stderr */
    char *ident;
    int fd;
    enum sr_level level;
    double rotate_interval;
    int rotate_count;
    mode_t perm;
    void (*now)(struct timespec *ts);
    long long period; /* the rotation period the open file belongs to */
    unsigned long failures;
};

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NONE"};

int sr_level_from_name(const char *name, enum sr_level *level)
{
    for (int i = SR_LOG_DEBUG; i <= SR_LOG_NONE; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (enum sr_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warn") == 0) {
        *level = SR_LOG_WARNING;
        return 0;
    }
    return -1;
}

const char *sr_level_name(enum sr_level level)
{
    return level >= SR_LOG_DEBUG && level <= SR_LOG_NONE ? level_names[level] : "?";
}

static void clock_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

static long long period_of(const sr_log *log, time_t t)
{
    return log->rotate_interval > 0 ? (long long)floor((double)t / log->rotate_interval) : 0;
}

static int open_file(sr_log *log, sr_err *err)
{
    log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, log->perm);
    if (log->fd < 0)
        return sr_err_set(err, errno == EACCES ? SR_EPERM : SR_EIO, false, "cannot open log %s: %s",
                          log->path, strerror(errno));
    /* The file may be left from an earlier run: it belongs to the period of its last
     * write, so a restart after midnight still rotates yesterday's lines away. */
    struct stat st;
    struct timespec now;
    log->now(&now);
    log->period =
        period_of(log, fstat(log->fd, &st) == 0 && st.st_size > 0 ? st.st_mtime : now.tv_sec);
    return SR_OK;
}

sr_log *sr_log_open(const sr_log_options *options, sr_err *err)
{
    sr_log *log = calloc(1, sizeof *log);
    if (log == NULL) {
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
        return NULL;
    }
    log->fd = STDERR_FILENO;
    log->level = options->level;
    log->rotate_interval = options->rotate_interval;
    log->rotate_count = options->rotate_count;
    log->perm = options->perm ? options->perm : 0600;
    log->now = options->now ? options->now : clock_now;
    if ((options->ident != NULL && (log->ident = strdup(options->ident)) == NULL) ||
        (options->path != NULL && (log->path = strdup(options->path)) == NULL)) {
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
        sr_log_close(log);
        return NULL;
    }
    if (log->path == NULL)
        return log;
    char *dir = strdup(log->path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int rc = dir == NULL ? sr_err_set(err, SR_ENOMEM, false, "out of memory") : SR_OK;
    if (rc == SR_OK && slash != NULL && slash != dir) {
        *slash = '\0';
        rc = sr_mkdir_p(dir, 0700, err);
    }
    free(dir);
    if (rc == SR_OK)
        rc = open_file(log, err);
    if (rc != SR_OK) {
        log->fd = -1;
        sr_log_close(log);
        return NULL;
    }
    return log;
}

static int by_name_descending(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Keep the newest rotate_count rotated files. Their suffixes are dates, so the names
 * sort by age. */
static void prune(sr_log *log)
{
    char *pattern = NULL;
    if (asprintf(&pattern, "%s.[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*", log->path) < 0)
        return;
    glob_t found;
    if (glob(pattern, GLOB_NOSORT, NULL, &found) == 0) {
        qsort(found.gl_pathv, found.gl_pathc, sizeof found.gl_pathv[0], by_name_descending);
        for (size_t i = (size_t)(log->rotate_count > 0 ? log->rotate_count : 0); i < found.gl_pathc;
             i++)
            if (unlink(found.gl_pathv[i]) != 0)
                log->failures++;
        globfree(&found);
    }
    free(pattern);
}

static void rotate(sr_log *log)
{
    time_t start = (time_t)((double)log->period * log->rotate_interval);
    struct tm tm;
    gmtime_r(&start, &tm);
    char suffix[32];
    strftime(suffix, sizeof suffix,
             log->rotate_interval >= 86400 ? "%Y-%m-%d" : "%Y-%m-%d_%H-%M-%S", &tm);
    char *rotated = NULL;
    if (asprintf(&rotated, "%s.%s", log->path, suffix) < 0) {
        log->failures++;
        return;
    }
    close(log->fd);
    log->fd = -1;
    if (rename(log->path, rotated) != 0)
        log->failures++;
    free(rotated);
    prune(log);
    if (open_file(log, NULL) != SR_OK) {
        log->fd = -1;
        log->failures++;
    }
}

void sr_log_vwrite(sr_log *log, enum sr_level level, const char *fmt, va_list ap)
{
    if (log == NULL || level < log->level || level >= SR_LOG_NONE)
        return;
    struct timespec now;
    log->now(&now);
    if (log->path != NULL && log->rotate_interval > 0 && period_of(log, now.tv_sec) > log->period)
        rotate(log);
    if (log->fd < 0) {
        log->failures++;
        return;
    }

    char line[LINE_MAX_BYTES];
    struct tm tm;
    localtime_r(&now.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ",%03ld [%s] ", now.tv_nsec / 1000000,
                          level_names[level]);
    if (log->ident != NULL)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s ", log->ident);
    size_t start = n;
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof line - n - 1) {
        n = sizeof line - 2;
        memcpy(line + n - 3, "...", 3);
    } else {
        n += (size_t)m;
    }
    for (size_t i = start; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    if (write(log->fd, line, n) != (ssize_t)n)
        log->failures++;
}

void sr_log_write(sr_log *log, enum sr_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sr_log_vwrite(log, level, fmt, ap);
    va_end(ap);
}

void sr_log_set_level(sr_log *log, enum sr_level level)
{
    log->level = level;
}

enum sr_level sr_log_level(const sr_log *log)
{
    return log->level;
}

unsigned long sr_log_failures(const sr_log *log)
{
    return log->failures;
}

int sr_log_reopen(sr_log *log, sr_err *err)
{
    if (log->path == NULL)
        return SR_OK;
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    return open_file(log, err);
}

void sr_log_close(sr_log *log)
{
    if (log == NULL)
        return;
    if (log->path != NULL && log->fd >= 0)
        close(log->fd);
    free(log->path);
    free(log->ident);
    free(log);
}
