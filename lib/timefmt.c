/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * timefmt: read and write sr3 time strings. See timefmt.h for the formats and the
 * round-trip promise. Everything is UTC: timegm/gmtime_r, never local time.
 */
#include "timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NSEC_PER_SEC 1000000000L
#define YEAR_MIN 1970
#define YEAR_MAX 9999
/* How much of a bad time string an error message quotes. */

int sr_time_format(const struct timespec *t, bool v03, char *buf, size_t size)
{
    if (buf != NULL && size > 0)
        buf[0] = '\0';
    if (t == NULL || buf == NULL || t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= NSEC_PER_SEC)
        return -1;
    struct tm tm;
    if (gmtime_r(&t->tv_sec, &tm) == NULL || tm.tm_year + 1900 > YEAR_MAX)
        return -1;
    /* The fraction: nanoseconds without their trailing zeros, none at all when 0. */
    char frac[12] = "";
    if (t->tv_nsec != 0) {
        long ns = t->tv_nsec;
        int digits = 9;
        while (ns % 10 == 0) {
            ns /= 10;
            digits--;
        }
        snprintf(frac, sizeof frac, ".%0*ld", digits, ns);
    }
    int n = snprintf(buf, size, "%04d%02d%02d%s%02d%02d%02d%s", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, v03 ? "T" : "", tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

/* n decimal digits at *p into *value; advances *p. False when one is not a digit. */
static bool take_digits(const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *value = v;
    *p += n;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int sr_time_parse(const char *text, struct timespec *t, sr_err *err)
{
    if (text == NULL)
        return sr_err_set(err, SR_EINVAL, false, "time: no text given");
    char q[SR_QUOTE_BUF];
    const char *p = text;
    int year, month, day, hour, minute, second;
    bool ok = take_digits(&p, 4, &year) && take_digits(&p, 2, &month) && take_digits(&p, 2, &day);
    if (ok && *p == 'T')
        p++;
    ok = ok && take_digits(&p, 2, &hour) && take_digits(&p, 2, &minute) &&
         take_digits(&p, 2, &second);
    if (!ok)
        return sr_err_set(err, SR_EINVAL, false,
                          "time %s: not a time (YYYYMMDD[T]HHMMSS[.fraction], UTC)",
                          sr_err_quote(text, q, sizeof q));
    long nsec = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return sr_err_set(err, SR_EINVAL, false, "time %s: no digits after the '.'",
                              sr_err_quote(text, q, sizeof q));
        /* Keep 9 digits (nanoseconds), drop the rest: truncation, never a carry. */
        int kept = 0;
        for (; isdigit((unsigned char)*p); p++) {
            if (kept < 9) {
                nsec = nsec * 10 + (*p - '0');
                kept++;
            }
        }
        for (; kept < 9; kept++)
            nsec *= 10;
    }
    if (*p != '\0')
        return sr_err_set(err, SR_EINVAL, false, "time %s: unexpected text after the time",
                          sr_err_quote(text, q, sizeof q));
    const char *bad = NULL;
    int value = 0;
    if (year < YEAR_MIN || year > YEAR_MAX)
        return sr_err_set(err, SR_EINVAL, false, "time %s: year %d is out of range (%d..%d)",
                          sr_err_quote(text, q, sizeof q), year, YEAR_MIN, YEAR_MAX);
    if (month < 1 || month > 12)
        bad = "month", value = month;
    else if (day < 1 || day > days_in_month(year, month))
        bad = "day", value = day;
    else if (hour > 23)
        bad = "hour", value = hour;
    else if (minute > 59)
        bad = "minute", value = minute;
    else if (second > 59)
        bad = "second", value = second;
    if (bad != NULL)
        return sr_err_set(err, SR_EINVAL, false, "time %s: %s %d is out of range",
                          sr_err_quote(text, q, sizeof q), bad, value);
    struct tm tm = {
        .tm_year = year - 1900,
        .tm_mon = month - 1,
        .tm_mday = day,
        .tm_hour = hour,
        .tm_min = minute,
        .tm_sec = second,
    };
    t->tv_sec = timegm(&tm);
    t->tv_nsec = nsec;
    return SR_OK;
}

double sr_time_lag(const struct timespec *pub, const struct timespec *now)
{
    return (double)(now->tv_sec - pub->tv_sec) + (double)(now->tv_nsec - pub->tv_nsec) / 1e9;
}

int sr_time_cmp(const struct timespec *a, const struct timespec *b)
{
    if (a->tv_sec != b->tv_sec)
        return a->tv_sec < b->tv_sec ? -1 : 1;
    if (a->tv_nsec != b->tv_nsec)
        return a->tv_nsec < b->tv_nsec ? -1 : 1;
    return 0;
}

void sr_time_now(struct timespec *t)
{
    clock_gettime(CLOCK_REALTIME, t);
}

double sr_time_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double sr_time_mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
