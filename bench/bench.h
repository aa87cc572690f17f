/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench.h: what every benchmark in bench/ shares (the clock, medians, SR_BENCH_* knobs).
 * Header-only: each benchmark is one program.
 */
#ifndef SR_BENCH_H
#define SR_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timefmt.h" /* sr_time_mono_s(), the clock every benchmark times with */

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (sorts v). */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A whole-number knob from the environment, or fallback; exits 2 naming it when it is
 * not a number from min to max. */
static inline long env_long(const char *program, const char *name, long fallback, long min,
                            long max)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return fallback;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: %s=%s: expected a number from %ld to %ld\n", program, name, s, min,
                max);
        exit(2);
    }
    return v;
}

#endif
