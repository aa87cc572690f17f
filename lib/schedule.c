/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * schedule: see schedule.h.
 *
 * sr3 (flowcb/scheduled) makes hour x minute appointments only when scheduled_hour or
 * scheduled_minute is set, so scheduled_time alone means those times only; sr does the same.
 * sr3 reads each value with int(), which allows spaces around it: so does sr. What int()
 * refuses (and crashes sr3 at start-up) is an error naming the option and the value here.
 */
#include "schedule.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_SECONDS 86400.0
#define DAY_MINUTES 1440
/* Appointments sr_schedule_describe names before ", ...". */
#define DESCRIBE_MAX 8

/* *piece and *n without the spaces around the value. */
static void trim(const char **piece, size_t *n)
{
    while (*n > 0 && (**piece == ' ' || **piece == '\t')) {
        (*piece)++;
        (*n)--;
    }
    while (*n > 0 && ((*piece)[*n - 1] == ' ' || (*piece)[*n - 1] == '\t'))
        (*n)--;
}

/* The number in piece[0..n) (spaces around it allowed), at most max. */
static bool read_number(const char *piece, size_t n, int max, int *out)
{
    trim(&piece, &n);
    if (n == 0 || n > 4)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (piece[i] < '0' || piece[i] > '9')
            return false;
        v = v * 10 + (piece[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static int bad_value(sr_err *err, const char *option, const char *piece, size_t n, const char *what)
{
    trim(&piece, &n);
    char q[SR_QUOTE_BUF];
    return sr_err_set(err, SR_EINVAL, false, "%s %s: %s", option,
                      sr_err_quote_n(piece, n, q, sizeof q), what);
}

/* Each comma-separated value of each item of list, read by read_number (at most max) into
 * set[] (set[v] = true); with times, "HH:MM" into set[HH * 60 + MM]. */
static int read_list(const sr_strlist *list, const char *option, int max, bool times, bool *set,
                     size_t size, sr_err *err)
{
    for (size_t i = 0; list != NULL && i < list->count; i++) {
        const char *p = list->items[i];
        for (;;) {
            size_t n = strcspn(p, ",");
            int v = 0, m = 0;
            bool ok;
            if (times) {
                const char *colon = memchr(p, ':', n);
                ok = colon != NULL && read_number(p, (size_t)(colon - p), 23, &v) &&
                     read_number(colon + 1, n - (size_t)(colon - p) - 1, 59, &m);
                v = v * 60 + m;
            } else {
                ok = read_number(p, n, max, &v);
            }
            if (!ok)
                return bad_value(err, option, p, n,
                                 times       ? "not a time of day (HH:MM, UTC)"
                                 : max == 23 ? "not an hour (0 to 23, UTC)"
                                             : "not a minute (0 to 59)");
            if ((size_t)v < size)
                set[v] = true;
            if (p[n] == '\0')
                break;
            p += n + 1;
        }
    }
    return SR_OK;
}

int sr_schedule_init(sr_schedule *s, double interval, const sr_strlist *hours,
                     const sr_strlist *minutes, const sr_strlist *times, sr_err *err)
{
    memset(s, 0, sizeof *s);
    if (!isfinite(interval))
        return sr_err_set(err, SR_EINVAL, false, "scheduled_interval %g: not a duration", interval);
    /* Every value is checked, even those an interval makes unused: a typo shows now. */
    bool hour_set[24] = {0}, minute_set[60] = {0}, appointment[DAY_MINUTES] = {0};
    int rc = read_list(hours, "scheduled_hour", 23, false, hour_set, 24, err);
    if (rc == SR_OK)
        rc = read_list(minutes, "scheduled_minute", 59, false, minute_set, 60, err);
    if (rc == SR_OK)
        rc = read_list(times, "scheduled_time", 0, true, appointment, DAY_MINUTES, err);
    if (rc != SR_OK)
        return rc;
    bool any_hour = hours != NULL && hours->count > 0;
    bool any_minute = minutes != NULL && minutes->count > 0;
    bool any_time = times != NULL && times->count > 0;
    if (interval > 0) {
        s->interval = interval;
        return SR_OK;
    }
    if (!any_hour && !any_minute && !any_time) {
        s->interval = SR_SCHEDULE_DEFAULT_INTERVAL;
        return SR_OK;
    }
    if (any_hour || any_minute) {
        for (int h = 0; h < 24; h++)
            for (int m = 0; m < 60; m++)
                if ((!any_hour || hour_set[h]) && (any_minute ? minute_set[m] : m == 0))
                    appointment[h * 60 + m] = true;
    }
    size_t count = 0;
    for (int i = 0; i < DAY_MINUTES; i++)
        count += appointment[i];
    s->minutes = malloc(count * sizeof *s->minutes);
    if (s->minutes == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    for (int i = 0; i < DAY_MINUTES; i++)
        if (appointment[i])
            s->minutes[s->count++] = (unsigned short)i;
    return SR_OK;
}

void sr_schedule_fini(sr_schedule *s)
{
    free(s->minutes);
    s->minutes = NULL;
    s->count = 0;
}

/* The first appointment strictly after t. */
static double next_appointment(const sr_schedule *s, double t)
{
    if (s->count == 0) /* a zeroed schedule: the default */
        return t + SR_SCHEDULE_DEFAULT_INTERVAL;
    double day = floor(t / DAY_SECONDS) * DAY_SECONDS;
    for (size_t i = 0; i < s->count; i++) {
        double at = day + s->minutes[i] * 60.0;
        if (at > t)
            return at;
    }
    return day + DAY_SECONDS + s->minutes[0] * 60.0;
}

double sr_schedule_first(const sr_schedule *s, double start)
{
    return s->interval > 0 ? start : next_appointment(s, start);
}

double sr_schedule_next(const sr_schedule *s, double last_start)
{
    return s->interval > 0 ? last_start + s->interval : next_appointment(s, last_start);
}

void sr_schedule_describe(const sr_schedule *s, char *buf, size_t size)
{
    if (size == 0)
        return;
    if (s->interval > 0 || s->count == 0) {
        snprintf(buf, size, "every %.15g s",
                 s->interval > 0 ? s->interval : SR_SCHEDULE_DEFAULT_INTERVAL);
        return;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->count && len < size; i++) {
        int n;
        if (i == DESCRIBE_MAX) {
            n = snprintf(buf + len, size - len, ", ...");
        } else {
            n = snprintf(buf + len, size - len, "%s%02u:%02u", i == 0 ? "at " : ", ",
                         s->minutes[i] / 60u, s->minutes[i] % 60u);
        }
        if (n < 0)
            break;
        len += (size_t)n;
        if (i == DESCRIBE_MAX)
            break;
    }
    if (len < size)
        snprintf(buf + len, size - len, " UTC");
}
