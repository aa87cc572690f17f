/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * timefmt: sr3's time strings (sr-message(7), Encodings), always UTC, and the clocks sr reads
 * (sr_time_now, sr_time_now_s, sr_time_mono_s).
 *
 *   v03   YYYYMMDDTHHMMSS[.fraction]     pubTime, mtime, atime, report.timeCompleted
 *   v02   YYYYMMDDHHMMSS[.fraction]      the same without the T
 *
 * sr writes the nanoseconds with trailing zeros stripped (".5", ".123456789") and no
 * decimal point when the fraction is 0, so every string sr3 writes whose fraction has at
 * most 9 digits and no trailing zero comes back byte for byte from parse then format.
 * sr3 (Python) writes up to 9 *significant* digits, so it can send a longer fraction
 * ("20261124T192335.0825042725"); such a string parses (digits past the 9th are dropped:
 * truncated, not rounded) but would not format back the same. That does not matter on the
 * wire: the message layer keeps a received message's time strings as text and passes them
 * on as received; only times sr produces itself go through sr_time_format.
 */
#ifndef SR_TIMEFMT_H
#define SR_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"

/* Room for the longest string sr_time_format writes, with its NUL:
 * "99991231T235959.999999999" is 25 characters. */
#define SR_TIME_MAX 26

/* Write t as a v03 (v03 true) or v02 time string into buf. Returns the length written, or
 * -1 (buf then holds "" when size > 0) when buf is too small or t is outside years
 * 1970..9999 or its tv_nsec is not in 0..999999999. A buffer of SR_TIME_MAX always fits. */
int sr_time_format(const struct timespec *t, bool v03, char *buf, size_t size);

/* Read a v03 or v02 time string: YYYYMMDD, an optional T, HHMMSS, then optionally '.' and
 * one or more digits (any number; digits past the 9th are ignored, i.e. truncated).
 * Years 1970..9999; every field is range checked (no month 13, no 30 February, no second
 * 60). Nothing may follow. On error *t is untouched and err names the text. */
int sr_time_parse(const char *text, struct timespec *t, sr_err *err);

/* now - pub, in seconds (negative when pub is in the future): a message's lag. */
double sr_time_lag(const struct timespec *pub, const struct timespec *now);

/* -1, 0 or 1 as a is before, equal to or after b. */
int sr_time_cmp(const struct timespec *a, const struct timespec *b);

/* The current time (CLOCK_REALTIME). */
void sr_time_now(struct timespec *t);

/* The same, as seconds since the epoch: for what is compared with file and message times
 * (ages, lags, metrics). */
double sr_time_now_s(void);

/* Seconds on CLOCK_MONOTONIC, from an arbitrary origin: for intervals and deadlines, which
 * the wall clock being set must not stretch or cut short. */
double sr_time_mono_s(void);

#endif
