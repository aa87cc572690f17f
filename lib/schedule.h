/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * schedule: when a poll lists its server (sr3's scheduled_interval, scheduled_hour,
 * scheduled_minute and scheduled_time; sr-options(7)).
 *
 *   interval > 0   every interval seconds, counted from the start of the last run, the
 *                  first at start-up; it wins over the appointments, as in sr3;
 *   appointments   each scheduled_hour (default every hour, 0-23) at each
 *                  scheduled_minute (default 0), when either is set, and each
 *                  scheduled_time HH:MM (alone, those times only, as in sr3), all UTC,
 *                  every day: the next run is the first appointment strictly after the
 *                  last run started (one missed while a run went on is skipped, as sr3
 *                  skips it), the first the first appointment after start-up;
 *   neither        every 300 s, the first at start-up (sr: sr3's first is 300 s after).
 *
 * Pure arithmetic on seconds since the epoch: no clock, no global state.
 */
#ifndef SR_SCHEDULE_H
#define SR_SCHEDULE_H

#include <stddef.h>

#include "error.h"
#include "strlist.h"

#define SR_SCHEDULE_DEFAULT_INTERVAL 300.0

typedef struct sr_schedule {
    double interval;         /* seconds; 0: appointments */
    unsigned short *minutes; /* minutes of the day (0..1439) of the appointments, sorted,
                                no repeats; NULL and count 0 with an interval */
    size_t count;
} sr_schedule;

/* The schedule from the options' values (each list item may hold several values, comma
 * separated, spaces around them allowed, as sr3 reads them); a list may be NULL. A value
 * out of range or not a number is SR_EINVAL with err naming the option and the value, even
 * when an interval leaves it unused; *s is zeroed then. */
int sr_schedule_init(sr_schedule *s, double interval, const sr_strlist *hours,
                     const sr_strlist *minutes, const sr_strlist *times, sr_err *err);
void sr_schedule_fini(sr_schedule *s);

/* When the first run is, for a poll started at start. */
double sr_schedule_first(const sr_schedule *s, double start);

/* When the run after one that started at last_start is. */
double sr_schedule_next(const sr_schedule *s, double last_start);

/* The schedule in words for the log: "every 300 s", "at 04:00, 09:30 UTC" (at most 8
 * times, then ", ..."). */
void sr_schedule_describe(const sr_schedule *s, char *buf, size_t size);

#endif
