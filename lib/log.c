/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * log: see log.h.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "timefmt.h"

/* Longest line written; a longer message is cut and ends with "...". */
#define LINE_MAX_BYTES 8192

struct sr_log {
    char *path; /* NULL: stderr */
    char *ident;
    int fd;
    enum sr_level level;
    unsigned events; /* enum sr_log_event bits logged */
    double rotate_interval;
    int rotate_count;
    mode_t perm;
    void (*now)(struct timespec *ts);
    long long period; /* the rotation period the open file belongs to */
    unsigned long failures;
    /* "YYYY-mm-dd HH:MM:SS" of stamp_sec, made once a second rather than once a line */
    time_t stamp_sec;
    bool stamp_ok;
    char stamp[32];
    size_t stamp_len;
    /* sr_log_hold: lines kept here and written together by sr_log_flush */
    bool holding;
    char *held;
    size_t held_len;
};

/* What sr_log_hold keeps at most before it writes anyway. */
#define HELD_MAX (64 * 1024)

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NONE"};

const char *sr_level_name(enum sr_level level)
{
    return level >= SR_LOG_DEBUG && level <= SR_LOG_NONE ? level_names[level] : "?";
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

/* text escaped as a log line shows it, as a new string (NULL: out of memory). */
static char *escaped(const char *text)
{
    size_t len = strlen(text), size = 4 * len + 1;
    char *out = malloc(size);
    if (out != NULL)
        sr_log_escape(text, len, out, size, NULL);
    return out;
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
    log->events = ~0u;
    log->rotate_interval = options->rotate_interval;
    log->rotate_count = options->rotate_count;
    log->perm = options->perm ? options->perm : 0600;
    log->now = options->now ? options->now : sr_time_now;
    if ((options->ident != NULL && (log->ident = escaped(options->ident)) == NULL) ||
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
    sr_log_flush(log); /* what was held belongs to the period that ends */
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

/* ---- escaping ---- */

/* The length of the valid UTF-8 character of two or more bytes at s (len bytes left), or
 * 0: a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short. */
static size_t utf8_char(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* Valid characters that are escaped all the same: the C1 controls (U+0080..U+009F), the
 * line and paragraph separators (U+2028, U+2029) some viewers break lines on, and the
 * bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069), which reorder what an operator sees of a line. */
static bool hidden_char(const unsigned char *s, size_t n)
{
    if (n == 2)
        return (s[0] == 0xc2 && s[1] <= 0x9f) || (s[0] == 0xd8 && s[1] == 0x9c);
    if (n != 3 || s[0] != 0xe2)
        return false;
    if (s[1] == 0x80)
        return s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xa8 && s[2] <= 0xae);
    return s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

size_t sr_log_escape(const char *text, size_t len, char *out, size_t size, bool *cut)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    bool all = true;
    if (size == 0) {
        if (cut != NULL)
            *cut = len > 0;
        return 0;
    }
    for (size_t i = 0; i < len;) {
        char esc[16]; /* what s[i..] becomes: at most 4 bytes as \xHH */
        size_t e = 0, used = 1;
        unsigned char c = s[i];
        size_t n = c >= 0x80 ? utf8_char(s + i, len - i) : 1;
        if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            esc[e++] = '\\';
            esc[e++] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f || n == 0 || hidden_char(s + i, n)) {
            used = n > 1 ? n : 1; /* a hidden character whole; an invalid byte alone */
            for (size_t k = 0; k < used; k++) {
                esc[e++] = '\\';
                esc[e++] = 'x';
                esc[e++] = hex[s[i + k] >> 4];
                esc[e++] = hex[s[i + k] & 0xf];
            }
        } else {
            used = n; /* printable ASCII, or a whole UTF-8 character */
            memcpy(esc, s + i, n);
            e = n;
        }
        if (o + e + 1 > size) {
            all = false;
            break;
        }
        memcpy(out + o, esc, e);
        o += e;
        i += used;
    }
    out[o] = '\0';
    if (cut != NULL)
        *cut = !all;
    return o;
}

/* ---- writing ---- */

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
    if (!log->stamp_ok || log->stamp_sec != now.tv_sec) {
        struct tm tm;
        localtime_r(&now.tv_sec, &tm);
        log->stamp_len = strftime(log->stamp, sizeof log->stamp, "%Y-%m-%d %H:%M:%S", &tm);
        log->stamp_sec = now.tv_sec;
        log->stamp_ok = true;
    }
    memcpy(line, log->stamp, log->stamp_len);
    size_t n = log->stamp_len;
    n += (size_t)snprintf(line + n, sizeof line - n, ",%03ld [%s] ", now.tv_nsec / 1000000,
                          level_names[level]);
    if (log->ident != NULL)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s ", log->ident);
    if (n > sizeof line / 2) /* an ident of thousands of bytes: cut, the message matters */
        n = sizeof line / 2;
    /* The message as formatted, then escaped into what is left of the line, keeping room
     * for "..." (when cut) and the newline. */
    char raw[LINE_MAX_BYTES];
    int m = vsnprintf(raw, sizeof raw, fmt, ap);
    if (m < 0)
        m = 0;
    bool cut = (size_t)m >= sizeof raw;
    size_t raw_len = cut ? sizeof raw - 1 : (size_t)m;
    bool escape_cut;
    n += sr_log_escape(raw, raw_len, line + n, sizeof line - n - 4, &escape_cut);
    if (cut || escape_cut) {
        memcpy(line + n, "...", 3);
        n += 3;
    }
    line[n++] = '\n';
    if (log->holding && level < SR_LOG_WARNING) {
        if (log->held == NULL && (log->held = malloc(HELD_MAX)) == NULL)
            log->holding = false;
        else if (log->held_len + n > HELD_MAX)
            sr_log_flush(log);
        if (log->holding) {
            memcpy(log->held + log->held_len, line, n);
            log->held_len += n;
            return;
        }
    }
    /* a warning or worse is written at once, after what was held, so it is on disk
     * whatever happens next */
    sr_log_flush(log);
    if (write(log->fd, line, n) != (ssize_t)n)
        log->failures++;
}

void sr_log_hold(sr_log *log)
{
    if (log != NULL)
        log->holding = true;
}

void sr_log_flush(sr_log *log)
{
    if (log == NULL || log->held_len == 0)
        return;
    if (log->fd < 0 || write(log->fd, log->held, log->held_len) != (ssize_t)log->held_len)
        log->failures++;
    log->held_len = 0;
}

void sr_log_release(sr_log *log)
{
    if (log == NULL)
        return;
    sr_log_flush(log);
    log->holding = false;
}

void sr_log_write(sr_log *log, enum sr_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sr_log_vwrite(log, level, fmt, ap);
    va_end(ap);
}

void sr_log_stderr(const char *fmt, ...)
{
    char raw[LINE_MAX_BYTES], line[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    bool cut = (size_t)m >= sizeof raw, escape_cut;
    size_t n =
        sr_log_escape(raw, cut ? sizeof raw - 1 : (size_t)m, line, sizeof line - 4, &escape_cut);
    if (cut || escape_cut) {
        memcpy(line + n, "...", 3);
        n += 3;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere left to say it failed */
}

void sr_log_set_level(sr_log *log, enum sr_level level)
{
    log->level = level;
}

enum sr_level sr_log_level(const sr_log *log)
{
    return log->level;
}

void sr_log_set_events(sr_log *log, unsigned events)
{
    log->events = events;
}

bool sr_log_event_on(const sr_log *log, enum sr_log_event event)
{
    return log != NULL && (log->events & (unsigned)event) != 0;
}

void sr_log_event(sr_log *log, enum sr_log_event event, const char *fmt, ...)
{
    if (!sr_log_event_on(log, event))
        return;
    va_list ap;
    va_start(ap, fmt);
    sr_log_vwrite(log, SR_LOG_INFO, fmt, ap);
    va_end(ap);
}

unsigned long sr_log_failures(const sr_log *log)
{
    return log->failures;
}

int sr_log_reopen(sr_log *log, sr_err *err)
{
    sr_log_flush(log); /* what was held belongs to the file being left */
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
    sr_log_flush(log);
    free(log->held);
    if (log->path != NULL && log->fd >= 0)
        close(log->fd);
    free(log->path);
    free(log->ident);
    free(log);
}
