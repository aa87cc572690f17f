/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * units: the value syntaxes of sr3 options (sr-config(5), Values), parsed strictly.
 *
 * Where sr3 is lax in a way that hides mistakes we are strict, and say so in the docs:
 * sr3 takes any unknown flag word as false (`mirror onn` silently means off); sr rejects it.
 * Each parser returns 0 on success and -1 when the text is not of its kind; the caller
 * builds the error message, since only it knows the file, line and option.
 */
#ifndef SR_UNITS_H
#define SR_UNITS_H

#include <stdbool.h>
#include <stddef.h>

/* true/yes/on/1 and false/no/off/0, any case. */
int sr_parse_flag(const char *text, bool *out);

/* Seconds: a number (may be negative or fractional) with an optional unit s m h d w (any
 * case), or several number+unit pairs in a row (1h30m, 1d12h). off/false/none/no mean 0.
 * (on/true, which mean "the option's usual value", are for the caller to handle.) */
int sr_parse_duration(const char *text, double *out);

/* Seconds in one duration unit: s, m, h, d, w (either case); -1 for any other. */
double sr_unit_seconds(char unit);

/* A count or size: an integer (or decimal with a unit) with an optional k m g t (x1000^n);
 * a trailing i or b makes the unit binary (1k = 1000, 1ki = 1kb = 1024), as sr3's
 * humanfriendly parsing does. A leading '-' is allowed. Rejects overflow. */
int sr_parse_count(const char *text, long long *out);

/* A plain decimal number. */
int sr_parse_float(const char *text, double *out);

/* Permission bits in octal, 1 to 4 digits 0-7 (644, 0755, 2775). */
int sr_parse_octal(const char *text, unsigned *out);

/* A duration written back in the shortest exact way sr accepts ("300", "1.5", "-1"), into
 * buf. Returns buf. */
char *sr_format_number(double value, char *buf, size_t size);

#endif
