/*
 * log: the one place a component's messages go.
 *
 * A line looks like sr3's:
 *     2026-11-25 21:04:05,123 [INFO] subscribe/hpfx_01 downloaded a/b.txt
 * (local time, milliseconds after a comma, the level in brackets, the ident, the text).
 * A message never spans lines: newlines inside it become spaces, so one event is one
 * line for grep. Each line is one write(2), so instances sharing a file never interleave
 * inside a line.
 *
 * To a file, the log rotates when a period of rotate_interval seconds (counted from the
 * epoch in UTC, so 1d rotates at midnight UTC) ends: the file is renamed with the date
 * of the period it holds (name.YYYY-MM-DD for periods of a day or more, else
 * name.YYYY-MM-DD_HH-MM-SS) and only the newest rotate_count of those are kept.
 * sr_log_reopen (on SIGHUP) reopens the path, for an outside logrotate.
 */
#ifndef SR_LOG_H
#define SR_LOG_H

#include <stdarg.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

enum sr_level {
    SR_LOG_DEBUG,
    SR_LOG_INFO,
    SR_LOG_WARNING,
    SR_LOG_ERROR,
    SR_LOG_CRITICAL,
    SR_LOG_NONE, /* as a threshold: log nothing */
};

/* "debug", "info", "warning" (or "warn"), "error", "critical", "none", any case.
 * Returns 0 and sets *level, or -1 for an unknown name. */
int sr_level_from_name(const char *name, enum sr_level *level);
const char *sr_level_name(enum sr_level level); /* "DEBUG" ... as the line shows it */

typedef struct sr_log_options {
    const char *path;        /* NULL: standard error, never rotated */
    const char *ident;       /* after the level, e.g. "subscribe/hpfx_01"; NULL: none */
    enum sr_level level;     /* least severe level written */
    double rotate_interval;  /* seconds; 0: never rotate */
    int rotate_count;        /* rotated files kept */
    mode_t perm;             /* mode of a new log file; 0: 0600 */
    /* The clock, for tests; NULL: clock_gettime(CLOCK_REALTIME). */
    void (*now)(struct timespec *ts);
} sr_log_options;

typedef struct sr_log sr_log;

/* Open (creating the file and its folder when needed). NULL and err on failure. */
sr_log *sr_log_open(const sr_log_options *options, sr_err *err);

/* Write one line when level is at or above the threshold. Failures to write are
 * counted, never reported by a return: a full disk must not stop the flow. */
void sr_log_write(sr_log *log, enum sr_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sr_log_vwrite(sr_log *log, enum sr_level level, const char *fmt, va_list ap);

void sr_log_set_level(sr_log *log, enum sr_level level);
enum sr_level sr_log_level(const sr_log *log);

/* Lines that could not be written since the log was opened. */
unsigned long sr_log_failures(const sr_log *log);

/* Close and open the path again (after logrotate moved it). No-op on stderr. */
int sr_log_reopen(sr_log *log, sr_err *err);

void sr_log_close(sr_log *log);

#endif
