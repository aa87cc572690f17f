/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * units: see units.h. Pure functions, no state.
 */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sr_parse_flag(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

double sr_unit_seconds(char u)
{
    switch (tolower((unsigned char)u)) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 604800;
    }
    return -1;
}

int sr_parse_duration(const char *text, double *out)
{
    if (strcasecmp(text, "off") == 0 || strcasecmp(text, "false") == 0 ||
        strcasecmp(text, "none") == 0 || strcasecmp(text, "no") == 0) {
        *out = 0;
        return 0;
    }
    const char *p = text;
    double sign = 1, total = 0;
    if (*p == '-') {
        sign = -1;
        p++;
    }
    if (*p == '\0')
        return -1;
    int pairs = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        char *end;
        errno = 0;
        double n = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(n))
            return -1;
        p = end;
        double mult = 1;
        if (*p) {
            mult = sr_unit_seconds(*p);
            if (mult < 0)
                return -1;
            p++;
        } else if (pairs > 0) {
            return -1; /* "1h30" is ambiguous: refuse rather than guess */
        }
        total += n * mult;
        pairs++;
    }
    *out = sign * total;
    return 0;
}

int sr_parse_count(const char *text, long long *out)
{
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    bool negative = false;
    if (*p == '-') {
        negative = true;
        p++;
    }
    if (!isdigit((unsigned char)*p) && *p != '.')
        return -1;
    char *end;
    errno = 0;
    double n = strtod(p, &end);
    if (end == p || errno != 0 || !isfinite(n))
        return -1;
    p = end;
    while (*p == ' ')
        p++;
    double base = 1000, mult = 1;
    if (*p) {
        int power;
        switch (tolower((unsigned char)*p)) {
        case 'k':
            power = 1;
            break;
        case 'm':
            power = 2;
            break;
        case 'g':
            power = 3;
            break;
        case 't':
            power = 4;
            break;
        case 'b':
            power = 0;
            break;
        default:
            return -1;
        }
        p++;
        if (power > 0 && (tolower((unsigned char)*p) == 'i' || tolower((unsigned char)*p) == 'b')) {
            base = 1024;
            p++;
            if (tolower((unsigned char)p[-1]) == 'i' && tolower((unsigned char)*p) == 'b')
                p++; /* KiB */
        }
        if (*p)
            return -1;
        for (int i = 0; i < power; i++)
            mult *= base;
    }
    double v = n * mult;
    if (v > 9.2e18)
        return -1;
    if (mult == 1 && n != floor(n))
        return -1; /* a count without a unit must be whole */
    *out = (long long)llround(v) * (negative ? -1 : 1);
    return 0;
}

int sr_parse_float(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int sr_parse_octal(const char *text, unsigned *out)
{
    size_t len = strlen(text);
    if (len == 0 || len > 4)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '7')
            return -1;
        v = v * 8 + (unsigned)(text[i] - '0');
    }
    *out = v;
    return 0;
}

char *sr_format_number(double value, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", value);
    return buf;
}
