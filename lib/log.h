/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * log: the one place a component's messages go.
 *
 * A line looks like sr3's:
 *     2026-11-25 21:04:05,123 [INFO] subscribe/hpfx_01 downloaded a/b.txt
 * (local time, milliseconds after a comma, the level in brackets, the ident, the text).
 * Each line is one write(2), so instances sharing a file never interleave inside a line;
 * between sr_log_hold and sr_log_release (a flow's pass) the lines below WARNING are kept
 * and written together, whole, by one write(2) at sr_log_flush: a line per message costs
 * a system call per pass instead (the flow flushes before it acks, and at each pass's
 * end). A warning or worse is written at once, after what was held.
 *
 * Messages carry text from outside (server replies, file names, message fields), so the
 * text and the ident are escaped: one event is one line for grep, and nothing in it can
 * move an operator's terminal or hide what it says. Escaped, each byte as written:
 *     \\  a backslash (so every other backslash in a line starts an escape)
 *     \n \r \t  newline, carriage return, tab
 *     \xHH  the other C0 controls (0x00-0x1f), DEL (0x7f), each byte of a C1 control
 *           as UTF-8 encodes it (U+0080-U+009F: c2 80 .. c2 9f), of the line and
 *           paragraph separators (U+2028, U+2029) and of the bidirectional formatting
 *           characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), and
 *           every byte that is not part of valid UTF-8 (hex digits in lower case)
 * Everything else, valid UTF-8 included (accents, any script), is written as it is. A
 * message too long for a line (8 KB) is cut at a character or escape and ends with "...".
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
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

/* In the order of logLevel's choices in options.def: sr_config_choice(cfg, SR_OPT_logLevel)
 * is an enum sr_level (test_options checks the order). */
enum sr_level {
    SR_LOG_DEBUG,
    SR_LOG_INFO,
    SR_LOG_WARNING,
    SR_LOG_ERROR,
    SR_LOG_CRITICAL,
    SR_LOG_NONE, /* as a threshold: log nothing */
};

const char *sr_level_name(enum sr_level level); /* "DEBUG" ... as the line shows it */

typedef struct sr_log_options {
    const char *path;       /* NULL: standard error, never rotated */
    const char *ident;      /* after the level, e.g. "subscribe/hpfx_01"; NULL: none */
    enum sr_level level;    /* least severe level written */
    double rotate_interval; /* seconds; 0: never rotate */
    int rotate_count;       /* rotated files kept */
    mode_t perm;            /* mode of a new log file (permLog); 0: 0600, for tools and
                               tests: a component passes permLog's value */
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

/* Keep lines (below WARNING) from now on; write what is kept; write it and stop keeping.
 * NULL-safe. sr_log_close and sr_log_reopen write what is kept first. */
void sr_log_hold(sr_log *log);
void sr_log_flush(sr_log *log);
void sr_log_release(sr_log *log);

void sr_log_set_level(sr_log *log, enum sr_level level);
enum sr_level sr_log_level(const sr_log *log);

/* The events of sr3's logEvents, each a bit, in the order of its choices in options.def
 * (sr_config_bits(cfg, SR_OPT_logEvents) is such a mask; test_options checks the order).
 * An event's lines are written at INFO, and only while its bit is on: an operator turns
 * the per-file lines off (`logEvents -after_accept,after_work,after_post`) and keeps the
 * warnings and errors, which no event gates. */
enum sr_log_event {
    SR_EVENT_AFTER_ACCEPT = 1u << 0,    /* a message accepted for work */
    SR_EVENT_AFTER_WORK = 1u << 1,      /* a file downloaded, sent, linked, removed... */
    SR_EVENT_AFTER_POST = 1u << 2,      /* a message posted */
    SR_EVENT_ON_HOUSEKEEPING = 1u << 3, /* the summary of each housekeeping interval */
    SR_EVENT_ON_START = 1u << 4,        /* the summary line at start-up */
    SR_EVENT_ON_STOP = 1u << 5,         /* the summary line at the end */
    SR_EVENT_REJECT = 1u << 6,          /* a message rejected (logReject adds it) */
    SR_EVENT_NODUPE = 1u << 7,          /* a duplicate suppressed (logDuplicates adds it) */
};

/* Which events are logged; a new log logs them all (tools, tests). */
void sr_log_set_events(sr_log *log, unsigned events);
bool sr_log_event_on(const sr_log *log, enum sr_log_event event);

/* One INFO line for event, when that event is on. */
void sr_log_event(sr_log *log, enum sr_log_event event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The len bytes at text escaped as above into out (at most size bytes, NUL included; a
 * character or escape that does not fit whole is left out, with all after it). Returns
 * the bytes written before the NUL; *cut (when not NULL) says whether some were left out.
 * 4 * len + 1 bytes always suffice. */
size_t sr_log_escape(const char *text, size_t len, char *out, size_t size, bool *cut);

/* One line to standard error, escaped as a log line is, in one write(2), with no date,
 * level or ident: for the commands an operator runs (sr declare, sr status ...) when the
 * line holds text from outside. */
void sr_log_stderr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Lines that could not be written since the log was opened. */
unsigned long sr_log_failures(const sr_log *log);

/* Close and open the path again (after logrotate moved it). No-op on stderr. */
int sr_log_reopen(sr_log *log, sr_err *err);

void sr_log_close(sr_log *log);

#endif
