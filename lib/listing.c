/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * listing: streaming parsers for the text a server sends for a folder (listing.h).
 *
 * LIST and MLSD are line formats: bytes gather in one buffer up to the line end, the line
 * is parsed and forgotten. HTML is read as a stream of tags and text: an `<a href>` naming
 * an entry of the folder opens a pending entry, the text after its `</a>` (up to the
 * next link, the end of the table row or list item, or the end of the line outside a
 * row) is kept, bounded, and read for a date and a size when the entry closes. So the
 * memory is one line, or one tag and a little text, whatever the size of the reply.
 *
 * What the servers write (the captures in test/data/listings and their README):
 *   nginx     `<a href="x">x</a>   06-Dec-2026 09:30   1234` (GMT; "-" for a folder; with
 *             autoindex_exact_size off, "3M" past 9999 bytes);
 *   Apache    `<td><a href="x">x</a></td><td>2026-12-06 09:30 </td><td> 6 </td>` (table),
 *             the same text in a <pre> (fancy), `<li><a href="x"> x</a></li>` (plain);
 *             sizes of 1 KiB and more rounded ("1.2K");
 *   lighttpd  `<a href="x">x</a></td><td class="m">2026-Dec-06 09:30:00</td>...0.1K`.
 * A size with a unit is rounded, so unknown (-1); a bare number is exact.
 */
#include "listing.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Days whose zone offsets are remembered (26 KiB). */
#define ZONE_CACHE 256

/* The text kept after a link: enough for a date, a size and a type column. */
#define BESIDE_MAX 512

typedef enum html_state {
    H_TEXT,    /* between tags */
    H_TAG,     /* inside <...>, gathering it */
    H_SKIP,    /* inside a tag too long to keep: up to its '>' */
    H_COMMENT, /* inside <!-- ... --> */
    H_RAW,     /* inside <script> or <style>: up to its end tag */
} html_state;

struct sr_listing {
    sr_listing_format format;
    sr_listing_sink sink;
    char *timezone; /* NULL: UTC */
    time_t now;
    /* the line (LIST, MLSD) or the tag (HTML) being gathered */
    char *buf;
    size_t len, cap;
    bool overlong; /* the line in buf went past SR_LISTING_LINE_MAX: the rest is skipped */
    size_t entries, bad;
    int stopped; /* what a sink's entry returned when it stopped the listing */
    /* the zone's offsets, remembered by the day they were computed for (each miss sets
     * TZ twice, and glibc reads the zone file again each time: a day's 24 hours are
     * computed at once) */
    struct zone_day {
        long day; /* days since 1970 of the wall-clock date, +1; 0: empty */
        int32_t offset[24];
    } offsets[ZONE_CACHE];
    /* HTML */
    html_state hs;
    char quote;          /* in H_TAG/H_SKIP: the quote of the attribute value we are in */
    char prev;           /* in H_TAG/H_SKIP: the last character that is not a space */
    int dashes;          /* in H_COMMENT: '-' just before */
    const char *raw_end; /* in H_RAW: "/script" or "/style" */
    size_t raw_match;    /* how much of "<" raw_end is matched */
    bool in_row;         /* inside <tr>: a line end does not close the entry */
    bool pending;        /* an entry waiting for the text beside it */
    bool in_link;        /* between the pending entry's <a> and </a> */
    char *name;          /* the pending entry's name, decoded */
    size_t name_cap;
    bool is_dir;
    char beside[BESIDE_MAX];
    size_t beside_len;
};

/* ---- small readers ---- */

static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

/* 1..12 for a three-letter month name (any case), else 0. */
static int month_of(const char *s, size_t n)
{
    if (n != 3)
        return 0;
    char low[4] = {(char)tolower((unsigned char)s[0]), (char)tolower((unsigned char)s[1]),
                   (char)tolower((unsigned char)s[2]), 0};
    for (int i = 0; i < 12; i++)
        if (memcmp(months + 3 * i, low, 3) == 0)
            return i + 1;
    return 0;
}

/* n digits exactly, as a number; -1 when not. */
static long digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A byte count of up to 19 digits; false when not one (or too big for off_t). */
static bool byte_count(const char *s, size_t n, off_t *out)
{
    if (n == 0 || n > 19)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > (unsigned long long)INT64_MAX)
        return false;
    *out = (off_t)v;
    return true;
}

/* "HH:MM" or "HH:MM:SS". */
static bool clock_of(const char *s, size_t n, int *h, int *m, int *sec)
{
    *sec = 0;
    if (n != 5 && n != 8)
        return false;
    long hh = digits(s, 2), mm = digits(s + 3, 2), ss = 0;
    if (s[2] != ':' || (n == 8 && (s[5] != ':' || (ss = digits(s + 6, 2)) < 0)))
        return false;
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss > 60)
        return false;
    *h = (int)hh, *m = (int)mm, *sec = (int)ss;
    return true;
}

/* Whitespace-separated words of a line. */
typedef struct word {
    const char *s;
    size_t n;
} word;

static size_t split_words(const char *line, size_t len, word *w, size_t max, const char **after)
{
    size_t k = 0, i = 0;
    while (k < max) {
        while (i < len && isspace((unsigned char)line[i]))
            i++;
        if (i >= len)
            break;
        w[k].s = line + i;
        while (i < len && !isspace((unsigned char)line[i]))
            i++;
        w[k].n = (size_t)(line + i - w[k].s);
        k++;
    }
    if (after != NULL)
        *after = line + i;
    return k;
}

/* ---- time ---- */

/* The UTC time of a broken-down time in l's zone. TZ is set for the mktime of the day's
 * 24 hours and put back (listing.h); the offsets are remembered, so a listing of many
 * files of the same days sets it seldom. A time within an hour is that hour's offset
 * plus the minutes (no zone changes its offset but on the hour, or half hour for Lord
 * Howe, whose half hour it then reads a half hour off). */
static time_t zone_time(sr_listing *l, int year, int mon, int day, int hour, int min, int sec)
{
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t as_utc = timegm(&tm);
    if (l->timezone == NULL)
        return as_utc;
    long days = (long)(as_utc >= 0 ? as_utc / 86400 : -((-as_utc + 86399) / 86400));
    int h = (int)((as_utc - (time_t)days * 86400) / 3600);
    struct zone_day *slot = &l->offsets[(unsigned long)(days + 1) % ZONE_CACHE];
    if (slot->day == days + 1)
        return as_utc - slot->offset[h];
    const char *old = getenv("TZ");
    char *saved = old != NULL ? strdup(old) : NULL;
    if (old != NULL && saved == NULL)
        return as_utc; /* out of memory: TZ could not be put back, so leave it alone */
    setenv("TZ", l->timezone, 1);
    tzset();
    time_t midnight = (time_t)days * 86400;
    struct tm date;
    gmtime_r(&midnight, &date);
    bool ok = true;
    for (int k = 0; k < 24 && ok; k++) {
        struct tm local = {.tm_year = date.tm_year,
                           .tm_mon = date.tm_mon,
                           .tm_mday = date.tm_mday,
                           .tm_hour = k,
                           .tm_isdst = -1};
        time_t t = mktime(&local);
        ok = t != (time_t)-1;
        slot->offset[k] = (int32_t)(midnight + k * 3600 - t);
    }
    if (saved != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    if (!ok) {
        slot->day = 0;
        return as_utc;
    }
    slot->day = days + 1;
    return as_utc - slot->offset[h];
}

bool sr_listing_zone_known(const char *name)
{
    if (strcasecmp(name, "UTC") == 0 || strcasecmp(name, "GMT") == 0 || strcmp(name, "Z") == 0)
        return true;
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL)
        return false;
    const char *dir = getenv("TZDIR");
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s",
                     dir != NULL && dir[0] ? dir : "/usr/share/zoneinfo", name);
    return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* ---- the sink ---- */

static void bad_line(sr_listing *l, const char *line, size_t len)
{
    l->bad++;
    if (l->sink.bad == NULL)
        return;
    if (len > SR_LISTING_LINE_MAX)
        len = SR_LISTING_LINE_MAX;
    char *copy = strndup(line, len);
    if (copy != NULL) {
        l->sink.bad(l->sink.ctx, copy);
        free(copy);
    }
}

static int emit(sr_listing *l, sr_listed *e, sr_err *err)
{
    if (e->name[0] == '\0' || strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
        return SR_OK;
    if (strchr(e->name, '/') != NULL) {
        /* no entry of a folder has one: a server naming "../x" would lead the poll out */
        bad_line(l, e->name, strlen(e->name));
        return SR_OK;
    }
    l->entries++;
    int rc = l->sink.entry(l->sink.ctx, e, err);
    if (rc != SR_OK)
        l->stopped = rc;
    return rc;
}

/* ---- FTP LIST ---- */

/* "-rw-r--r--" (and 'd', 'l', "s", "t", an ACL '+' or '.' after): the mode. */
static bool unix_mode(const char *s, size_t n, mode_t *mode)
{
    if (n < 10 || n > 11 || (n == 11 && !strchr("+.@", s[10])))
        return false;
    switch (s[0]) {
    case '-':
        *mode = S_IFREG;
        break;
    case 'd':
        *mode = S_IFDIR;
        break;
    case 'l':
        *mode = S_IFLNK;
        break;
    case 'b':
    case 'c':
    case 'p':
    case 's':
        *mode = 0; /* a device, pipe or socket: understood, not listed */
        break;
    default:
        return false;
    }
    static const char rwx[] = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) {
        char c = s[i + 1];
        if (c == rwx[i])
            *mode |= (mode_t)(0400 >> i);
        else if (i % 3 == 2 && strchr("sStT", c)) {
            if (islower((unsigned char)c))
                *mode |= (mode_t)(0400 >> i);
            *mode |= i == 2 ? S_ISUID : i == 5 ? S_ISGID : S_ISVTX;
            if ((i == 8) != (c == 't' || c == 'T'))
                return false;
        } else if (c != '-')
            return false;
    }
    return true;
}

/* A date of LIST (month, day, and "HH:MM" or a year) in l's zone; without a year, sr3's
 * rule: this year, or last year when the month is six or more after this month. */
static bool list_date(sr_listing *l, int mon, const word *day, const word *when, time_t *out)
{
    long d = digits(day->s, day->n);
    if (d < 1 || d > 31)
        return false;
    int h = 0, m = 0, s = 0;
    long year;
    if (clock_of(when->s, when->n, &h, &m, &s)) {
        time_t now = l->now ? l->now : time(NULL);
        struct tm today;
        gmtime_r(&now, &today);
        year = today.tm_year + 1900;
        if (mon - (today.tm_mon + 1) >= 6)
            year--;
    } else if ((year = digits(when->s, when->n)) < 1900 || when->n != 4) {
        return false;
    }
    *out = zone_time(l, (int)year, mon, (int)d, h, m, s);
    return true;
}

/* "2024-03-05" as year, month, day. */
static bool iso_date(const char *s, size_t n, int *y, int *mo, int *d)
{
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return false;
    long yy = digits(s, 4), mm = digits(s + 5, 2), dd = digits(s + 8, 2);
    if (yy < 1900 || mm < 1 || mm > 12 || dd < 1 || dd > 31)
        return false;
    *y = (int)yy, *mo = (int)mm, *d = (int)dd;
    return true;
}

/* The name part: the rest of the line after the date, one space dropped. */
static const char *name_after(const word *w, const char *end)
{
    const char *p = w->s + w->n;
    if (p < end && *p == ' ')
        p++;
    /* servers that align names put more spaces; a name starting with a space is rare
     * and nothing tells the two apart: take the spaces as alignment */
    while (p < end && *p == ' ')
        p++;
    return p;
}

/* "03-05-24  10:11AM  <DIR>  name" or "... 1234 name" (IIS, DOS style). */
static int parse_dos(sr_listing *l, char *line, size_t len, sr_err *err, bool *understood)
{
    word w[3];
    const char *after;
    if (split_words(line, len, w, 3, &after) != 3 || w[0].n < 8 || w[0].n > 10)
        return SR_OK;
    const char *s = w[0].s;
    long mo = digits(s, 2), d = digits(s + 3, 2), y = digits(s + 6, w[0].n - 6);
    if (s[2] != '-' || s[5] != '-' || mo < 1 || mo > 12 || d < 1 || d > 31 || y < 0 ||
        (w[0].n != 8 && w[0].n != 10))
        return SR_OK;
    if (w[0].n == 8)
        y += y < 70 ? 2000 : 1900;
    const char *t = w[1].s;
    size_t tn = w[1].n;
    if (tn != 7 || t[2] != ':' || toupper((unsigned char)t[6]) != 'M')
        return SR_OK;
    long h = digits(t, 2), mi = digits(t + 3, 2);
    char ap = (char)toupper((unsigned char)t[5]);
    if (h < 1 || h > 12 || mi < 0 || mi > 59 || (ap != 'A' && ap != 'P'))
        return SR_OK;
    h = h % 12 + (ap == 'P' ? 12 : 0);
    sr_listed e = {.size = -1, .mode = S_IFREG};
    if (w[2].n == 5 && strncasecmp(w[2].s, "<DIR>", 5) == 0)
        e.mode = S_IFDIR;
    else if (!byte_count(w[2].s, w[2].n, &e.size))
        return SR_OK;
    const char *name = name_after(&w[2], line + len);
    if (*name == '\0')
        return SR_OK;
    *understood = true;
    e.name = name;
    e.mtime.tv_sec = zone_time(l, (int)y, (int)mo, (int)d, (int)h, (int)mi, 0);
    e.has_mtime = true;
    return emit(l, &e, err);
}

static int parse_list_line(sr_listing *l, char *line, size_t len, sr_err *err)
{
    word w[10];
    size_t n = split_words(line, len, w, 10, NULL);
    if (n == 0)
        return SR_OK;
    if (n == 2 && w[0].n == 5 && strncasecmp(w[0].s, "total", 5) == 0 &&
        digits(w[1].s, w[1].n) >= 0)
        return SR_OK;
    mode_t mode;
    if (!unix_mode(w[0].s, w[0].n, &mode)) {
        bool understood = false;
        int rc = parse_dos(l, line, len, err, &understood);
        if (!understood && rc == SR_OK)
            bad_line(l, line, len);
        return rc;
    }
    /* The size is the number before the date: the date is found first (a month, a day and
     * a time or year; or an ISO date and a time), anywhere after the links and owner, which
     * takes the variants with one more owner column, or none for the group. */
    for (size_t i = 3; i + 1 < n; i++) {
        time_t when;
        const word *name_end = NULL;
        int mon = month_of(w[i].s, w[i].n);
        int y, mo, d, h, mi, s;
        if (mon > 0 && i + 2 < n && list_date(l, mon, &w[i + 1], &w[i + 2], &when)) {
            name_end = &w[i + 2];
        } else if (iso_date(w[i].s, w[i].n, &y, &mo, &d) &&
                   clock_of(w[i + 1].s, w[i + 1].n, &h, &mi, &s)) {
            when = zone_time(l, y, mo, d, h, mi, s);
            name_end = &w[i + 1];
        } else {
            continue;
        }
        sr_listed e = {.mode = mode, .has_perms = true, .has_mtime = true};
        e.mtime.tv_sec = when;
        if (!byte_count(w[i - 1].s, w[i - 1].n, &e.size))
            break;
        char *name = (char *)name_after(name_end, line + len);
        if (*name == '\0')
            break;
        if ((mode & S_IFMT) == 0)
            return SR_OK; /* device, pipe, socket: nothing to fetch */
        if (S_ISLNK(mode)) {
            char *arrow = strstr(name, " -> ");
            if (arrow != NULL) {
                *arrow = '\0';
                e.link = arrow + 4;
            }
        }
        e.name = name;
        return emit(l, &e, err);
    }
    bad_line(l, line, len);
    return SR_OK;
}

/* ---- FTP MLSD (RFC 3659 7.2: "fact=value;fact=value; name") ---- */

static int parse_mlsd_line(sr_listing *l, char *line, size_t len, sr_err *err)
{
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
        blank = isspace((unsigned char)line[i]);
    if (blank)
        return SR_OK;
    char *sp = memchr(line, ' ', len);
    if (sp == NULL || sp[1] == '\0') {
        bad_line(l, line, len);
        return SR_OK;
    }
    sr_listed e = {.size = -1, .mode = S_IFREG, .name = sp + 1};
    bool ok = true, skip = false;
    size_t flen = (size_t)(sp - line);
    for (size_t i = 0; i < flen && ok;) {
        char *fact = line + i;
        char *semi = memchr(fact, ';', flen - i);
        size_t n = semi != NULL ? (size_t)(semi - fact) : flen - i;
        i += n + 1;
        if (n == 0)
            continue;
        char *eq = memchr(fact, '=', n);
        if (eq == NULL) {
            ok = false;
            break;
        }
        size_t kn = (size_t)(eq - fact);
        char *v = eq + 1;
        size_t vn = n - kn - 1;
        if (kn == 4 && strncasecmp(fact, "type", 4) == 0) {
            if (vn == 4 && strncasecmp(v, "file", 4) == 0)
                e.mode = (e.mode & ~S_IFMT) | S_IFREG;
            else if (vn == 3 && strncasecmp(v, "dir", 3) == 0)
                e.mode = (e.mode & ~S_IFMT) | S_IFDIR;
            else if ((vn == 4 && strncasecmp(v, "cdir", 4) == 0) ||
                     (vn == 4 && strncasecmp(v, "pdir", 4) == 0))
                skip = true; /* the folder itself, its parent */
            else if (vn >= 13 && strncasecmp(v, "OS.unix=slink", 13) == 0) {
                e.mode = (e.mode & ~S_IFMT) | S_IFLNK;
                if (vn > 14 && v[13] == ':') {
                    v[vn] = '\0'; /* the ';' after it, or the space before the name */
                    e.link = v + 14;
                }
            } else if (vn >= 14 && strncasecmp(v, "OS.unix=symlink", 15) == 0)
                e.mode = (e.mode & ~S_IFMT) | S_IFLNK;
            else
                skip = true; /* a device or anything else: not a file to fetch */
        } else if (kn == 4 && strncasecmp(fact, "size", 4) == 0) {
            ok = byte_count(v, vn, &e.size);
        } else if (kn == 6 && strncasecmp(fact, "modify", 6) == 0) {
            long y = vn >= 14 ? digits(v, 4) : -1;
            long mo = digits(v + 4, 2), d = digits(v + 6, 2), h = digits(v + 8, 2),
                 mi = digits(v + 10, 2), s = digits(v + 12, 2);
            ok = y >= 1900 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h < 24 &&
                 mi >= 0 && mi < 60 && s >= 0 && s <= 60;
            if (ok) {
                struct tm tm = {.tm_year = (int)y - 1900,
                                .tm_mon = (int)mo - 1,
                                .tm_mday = (int)d,
                                .tm_hour = (int)h,
                                .tm_min = (int)mi,
                                .tm_sec = (int)s};
                e.mtime.tv_sec = timegm(&tm);
                e.has_mtime = true;
                if (vn > 15 && v[14] == '.') {
                    /* a fraction of any length: nanoseconds kept, finer cut */
                    long ns = 0;
                    size_t k = 15;
                    for (; k < vn && isdigit((unsigned char)v[k]); k++)
                        if (k < 24)
                            ns = ns * 10 + (v[k] - '0');
                    for (size_t pad = k; pad < 24; pad++)
                        ns *= 10;
                    e.mtime.tv_nsec = ns;
                    ok = k == vn;
                } else {
                    ok = vn == 14;
                }
            }
        } else if (kn == 9 && strncasecmp(fact, "UNIX.mode", 9) == 0) {
            unsigned long bits = 0;
            ok = vn >= 1 && vn <= 5;
            for (size_t k = 0; k < vn && ok; k++) {
                ok = v[k] >= '0' && v[k] <= '7';
                bits = bits * 8 + (unsigned)(v[k] - '0');
            }
            if (ok) {
                e.mode = (e.mode & S_IFMT) | (mode_t)(bits & 07777);
                e.has_perms = true;
            }
        }
        /* perm, unique, UNIX.owner, lang, media-type...: not needed */
    }
    if (!ok) {
        bad_line(l, line, len);
        return SR_OK;
    }
    if (skip)
        return SR_OK;
    return emit(l, &e, err);
}

/* ---- lines ---- */

static int line_done(sr_listing *l, sr_err *err)
{
    size_t len = l->len;
    l->len = 0;
    if (l->overlong) {
        l->overlong = false;
        bad_line(l, l->buf, len);
        return SR_OK;
    }
    if (len > 0 && l->buf[len - 1] == '\r')
        len--;
    l->buf[len] = '\0';
    if (memchr(l->buf, '\0', len) != NULL) {
        bad_line(l, l->buf, len); /* a NUL byte: no name has one */
        return SR_OK;
    }
    return l->format == SR_LISTING_FTP_LIST ? parse_list_line(l, l->buf, len, err)
                                            : parse_mlsd_line(l, l->buf, len, err);
}

/* Room for n more bytes in buf (cap at most SR_LISTING_LINE_MAX + 1). */
static int reserve(sr_listing *l, size_t n, sr_err *err)
{
    if (l->len + n + 1 <= l->cap)
        return SR_OK;
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + n + 1)
        cap *= 2;
    if (cap > SR_LISTING_LINE_MAX + 1)
        cap = SR_LISTING_LINE_MAX + 1;
    char *grown = realloc(l->buf, cap);
    if (grown == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "listing: out of memory");
    l->buf = grown;
    l->cap = cap;
    return SR_OK;
}

static int feed_lines(sr_listing *l, const char *data, size_t len, sr_err *err)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) : len;
        size_t room = SR_LISTING_LINE_MAX - l->len;
        size_t take = n < room ? n : room;
        if (take > 0) {
            int rc = reserve(l, take, err);
            if (rc != SR_OK)
                return rc;
            memcpy(l->buf + l->len, data, take);
            l->len += take;
        }
        if (take < n)
            l->overlong = true;
        if (nl == NULL)
            return SR_OK;
        int rc = reserve(l, 0, err);
        if (rc == SR_OK)
            rc = line_done(l, err);
        if (rc != SR_OK)
            return rc;
        data += n + 1;
        len -= n + 1;
    }
    return SR_OK;
}

/* ---- HTML ---- */

static int hex_digit(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* Append the UTF-8 of code point c to out (room for 4). */
static size_t utf8_put(unsigned long c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Undo HTML character references in s (in place; never longer): &amp; &lt; &gt; &quot;
 * &apos; &nbsp; (as nbsp, a space when space_nbsp), &#NN; and &#xHH;. Others stay. */
static size_t html_unescape(char *s, size_t len, bool space_nbsp)
{
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '&') {
            s[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i < 12 ? len - i : 12);
        size_t n = semi != NULL ? (size_t)(semi - (s + i)) - 1 : 0; /* between & and ; */
        const char *body = s + i + 1;
        bool done = false;
        if (n > 1 && body[0] == '#') {
            unsigned long c = 0;
            bool hex = body[1] == 'x' || body[1] == 'X';
            size_t k = hex ? 2 : 1;
            bool ok = k < n;
            for (; k < n && ok; k++) {
                unsigned char b = (unsigned char)body[k];
                int v = (hex ? isxdigit(b) : isdigit(b)) ? hex_digit(body[k]) : -1;
                ok = v >= 0 && c < 0x110000;
                c = c * (hex ? 16 : 10) + (unsigned long)v;
            }
            /* a character of 4 bytes needs "&#NNNNN;" (8) at least: it always fits */
            if (ok && c > 0 && c < 0x110000 && !(c >= 0xD800 && c <= 0xDFFF)) {
                char u[4];
                size_t un = utf8_put(c, u);
                memcpy(s + o, u, un);
                o += un;
                done = true;
            }
        } else if (n == 4 && strncmp(body, "nbsp", 4) == 0) {
            if (space_nbsp)
                s[o++] = ' ';
            else
                s[o++] = (char)0xC2, s[o++] = (char)0xA0;
            done = true;
        } else {
            for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++)
                if (strlen(named[k].name) == n && strncmp(body, named[k].name, n) == 0) {
                    s[o++] = named[k].text[0];
                    done = true;
                }
        }
        if (done)
            i += n + 2;
        else
            s[o++] = s[i++];
    }
    return o;
}

static size_t percent_decode(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            s[o++] = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

/* The date and size in the text beside a link. */
static void read_beside(sr_listing *l, sr_listed *e, char *text, size_t len)
{
    len = html_unescape(text, len, true);
    word w[16];
    size_t n = split_words(text, len, w, 16, NULL);
    for (size_t i = 0; i + 1 < n; i++) {
        const char *s = w[i].s;
        size_t sn = w[i].n;
        long y = -1, mo = -1, d = -1;
        if (sn == 11 && s[2] == '-' && s[6] == '-') { /* 06-Dec-2026 (nginx) */
            d = digits(s, 2), mo = month_of(s + 3, 3), y = digits(s + 7, 4);
        } else if (sn == 11 && s[4] == '-' && s[8] == '-') { /* 2026-Dec-06 (lighttpd) */
            y = digits(s, 4), mo = month_of(s + 5, 3), d = digits(s + 9, 2);
        } else if (sn == 10 && s[4] == '-' && s[7] == '-') { /* 2026-12-06 (Apache) */
            y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
        }
        int h, mi, sec;
        if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
            !clock_of(w[i + 1].s, w[i + 1].n, &h, &mi, &sec))
            continue;
        e->mtime.tv_sec = zone_time(l, (int)y, (int)mo, (int)d, h, mi, sec);
        e->has_mtime = true;
        if (i + 2 < n && !S_ISDIR(e->mode)) {
            const word *z = &w[i + 2];
            off_t size;
            bool unit =
                i + 3 < n && strchr("KkMGTP", w[i + 3].s[0]) != NULL &&
                (w[i + 3].n == 1 ||
                 (w[i + 3].n <= 3 && toupper((unsigned char)w[i + 3].s[w[i + 3].n - 1]) == 'B'));
            if (byte_count(z->s, z->n, &size) && !unit)
                e->size = size; /* a bare number is exact; "1.2K", "3M", "5 MB" are not */
        }
        return;
    }
}

static int pending_done(sr_listing *l, sr_err *err)
{
    if (!l->pending)
        return SR_OK;
    l->pending = false;
    l->in_link = false;
    sr_listed e = {.name = l->name, .size = -1, .mode = l->is_dir ? S_IFDIR : S_IFREG};
    read_beside(l, &e, l->beside, l->beside_len);
    l->beside_len = 0;
    return emit(l, &e, err);
}

static void beside_add(sr_listing *l, const char *s, size_t n)
{
    if (!l->pending || l->in_link)
        return;
    size_t room = BESIDE_MAX - l->beside_len;
    if (n > room)
        n = room;
    memcpy(l->beside + l->beside_len, s, n);
    l->beside_len += n;
}

/* A link's href as an entry of this folder: the name (decoded, in l->name) and whether
 * it is a folder; false for what is not one. */
static bool href_entry(sr_listing *l, char *v, size_t n, sr_err *err, int *rc)
{
    n = html_unescape(v, n, false);
    if (n >= 2 && v[0] == '.' && v[1] == '/')
        v += 2, n -= 2;
    if (n == 0 || memchr(v, '?', n) || memchr(v, '#', n) || v[0] == '/')
        return false;
    const char *slash = memchr(v, '/', n);
    const char *colon = memchr(v, ':', n);
    if (colon != NULL && (slash == NULL || colon < slash))
        return false; /* a scheme: http:, mailto:, javascript: */
    if (slash != NULL && slash != v + n - 1)
        return false; /* deeper than this folder */
    bool dir = slash != NULL;
    if (dir)
        n--;
    n = percent_decode(v, n);
    if (n == 0 || memchr(v, '/', n) || memchr(v, '\0', n) || (n == 1 && v[0] == '.') ||
        (n == 2 && v[0] == '.' && v[1] == '.'))
        return false;
    /* the same name linked twice in a row (an icon and the name): one entry */
    if (l->pending && strlen(l->name) == n && memcmp(l->name, v, n) == 0) {
        l->in_link = true;
        return false;
    }
    if ((*rc = pending_done(l, err)) != SR_OK)
        return false;
    if (n + 1 > l->name_cap) {
        char *grown = realloc(l->name, n + 1);
        if (grown == NULL) {
            *rc = sr_err_set(err, SR_ENOMEM, false, "listing: out of memory");
            return false;
        }
        l->name = grown;
        l->name_cap = n + 1;
    }
    memcpy(l->name, v, n);
    l->name[n] = '\0';
    l->is_dir = dir;
    return true;
}

/* The value of attribute `want` of the tag in buf (after its name), or NULL. */
static char *tag_attr(char *p, char *end, const char *want, size_t *vlen)
{
    size_t wn = strlen(want);
    while (p < end) {
        while (p < end && (isspace((unsigned char)*p) || *p == '/'))
            p++;
        char *name = p;
        while (p < end && !isspace((unsigned char)*p) && *p != '=' && *p != '/')
            p++;
        size_t nn = (size_t)(p - name);
        while (p < end && isspace((unsigned char)*p))
            p++;
        char *v = NULL;
        size_t vn = 0;
        if (p < end && *p == '=') {
            p++;
            while (p < end && isspace((unsigned char)*p))
                p++;
            if (p < end && (*p == '"' || *p == '\'')) {
                char q = *p++;
                v = p;
                while (p < end && *p != q)
                    p++;
                vn = (size_t)(p - v);
                if (p < end)
                    p++;
            } else {
                v = p;
                while (p < end && !isspace((unsigned char)*p))
                    p++;
                vn = (size_t)(p - v);
            }
        }
        if (nn == wn && strncasecmp(name, want, wn) == 0 && v != NULL) {
            *vlen = vn;
            return v;
        }
        if (nn == 0 && v == NULL && p < end)
            p++;
    }
    return NULL;
}

static bool tag_is(const char *name, size_t n, const char *const *set)
{
    for (; *set != NULL; set++)
        if (strlen(*set) == n && strncasecmp(name, *set, n) == 0)
            return true;
    return false;
}

/* A whole tag (between '<' and '>') in l->buf. */
static int tag_done(sr_listing *l, sr_err *err)
{
    char *t = l->buf, *end = l->buf + l->len;
    l->len = 0;
    bool closing = t < end && *t == '/';
    char *name = t + closing;
    char *p = name;
    while (p < end && (isalnum((unsigned char)*p)))
        p++;
    size_t nn = (size_t)(p - name);
    if (nn == 0)
        return SR_OK; /* <!DOCTYPE>, <?xml>, a stray '<' */
    /* what ends the text beside a link */
    static const char *const ends[] = {"tr",    "li",    "br",    "hr", "p",  "div", "pre",
                                       "table", "tbody", "thead", "ul", "ol", "dl",  "dt",
                                       "dd",    "body",  "html",  "h1", "h2", "h3",  NULL};
    if (nn == 1 && tolower((unsigned char)*name) == 'a') {
        if (closing) {
            l->in_link = false;
            return SR_OK;
        }
        size_t vn = 0;
        char *v = tag_attr(p, end, "href", &vn);
        int rc = SR_OK;
        if (v != NULL && href_entry(l, v, vn, err, &rc)) {
            l->pending = true;
            l->in_link = true;
            l->beside_len = 0;
            return SR_OK;
        }
        if (rc != SR_OK || l->in_link)
            return rc;
        return pending_done(l, err); /* another link: the pending entry's text ends */
    }
    if (tag_is(name, nn, ends)) {
        if (nn == 2 && strncasecmp(name, "tr", 2) == 0)
            l->in_row = !closing;
        return pending_done(l, err);
    }
    if (!closing &&
        ((nn == 6 && strncasecmp(name, "script", 6) == 0) ||
         (nn == 5 && strncasecmp(name, "style", 5) == 0)) &&
        end[-1] != '/') {
        l->hs = H_RAW;
        l->raw_end = nn == 6 ? "</script" : "</style";
        l->raw_match = 0;
    }
    beside_add(l, " ", 1); /* cells apart: "09:30</td><td>6" */
    return SR_OK;
}

static int feed_html(sr_listing *l, const char *data, size_t len, sr_err *err)
{
    int rc = SR_OK;
    for (size_t i = 0; i < len && rc == SR_OK; i++) {
        char c = data[i];
        switch (l->hs) {
        case H_TEXT:
            if (c == '<') {
                l->hs = H_TAG;
                l->len = 0;
                l->quote = 0;
                l->prev = 0;
            } else if (c == '\n' && !l->in_row && l->pending && !l->in_link) {
                rc = pending_done(l, err);
            } else {
                size_t n = 1;
                while (i + n < len && data[i + n] != '<' && data[i + n] != '\n')
                    n++;
                beside_add(l, data + i, n);
                i += n - 1;
            }
            break;
        case H_TAG:
        case H_SKIP:
            if (l->hs == H_TAG && l->len == 0 && !isalpha((unsigned char)c) && c != '/' &&
                c != '!' && c != '?') {
                l->hs = H_TEXT; /* "a < b": a '<' that opens no tag is text */
                beside_add(l, "<", 1);
                i--;
                break;
            }
            if (l->quote != 0) {
                if (c == l->quote)
                    l->quote = 0;
            } else if (c == '>') {
                bool keep = l->hs == H_TAG;
                l->hs = H_TEXT;
                if (keep)
                    rc = tag_done(l, err);
                else
                    l->len = 0;
                break;
            } else if ((c == '"' || c == '\'') && l->prev == '=') {
                l->quote = c; /* a value: a '>' in it does not end the tag */
            }
            if (!isspace((unsigned char)c))
                l->prev = c;
            if (l->hs == H_SKIP)
                break;
            if (l->len >= SR_LISTING_LINE_MAX) {
                bad_line(l, l->buf, l->len);
                l->hs = H_SKIP;
                l->len = 0;
                break;
            }
            if ((rc = reserve(l, 1, err)) != SR_OK)
                break;
            l->buf[l->len++] = c;
            if (l->len == 3 && memcmp(l->buf, "!--", 3) == 0) {
                l->hs = H_COMMENT;
                l->dashes = 0;
                l->len = 0;
            }
            break;
        case H_COMMENT:
            if (c == '>' && l->dashes >= 2)
                l->hs = H_TEXT;
            l->dashes = c == '-' ? l->dashes + 1 : 0;
            break;
        case H_RAW: {
            char want = l->raw_end[l->raw_match];
            if (tolower((unsigned char)c) == want) {
                if (l->raw_end[++l->raw_match] == '\0') {
                    l->hs = H_SKIP;
                    l->quote = 0;
                    l->prev = 0;
                }
            } else {
                l->raw_match = c == '<' ? 1 : 0;
            }
            break;
        }
        }
    }
    return rc;
}

/* ---- the API ---- */

int sr_listing_new(sr_listing_format format, const sr_listing_options *options,
                   const sr_listing_sink *sink, sr_listing **out, sr_err *err)
{
    *out = NULL;
    if (format != SR_LISTING_FTP_LIST && format != SR_LISTING_FTP_MLSD && format != SR_LISTING_HTML)
        return sr_err_set(err, SR_EINVAL, false, "listing: format %d is not one sr reads",
                          (int)format);
    if (sink == NULL || sink->entry == NULL)
        return sr_err_set(err, SR_EINVAL, false, "listing: no sink for the entries");
    const char *tz = options != NULL ? options->timezone : NULL;
    if (tz != NULL && !sr_listing_zone_known(tz)) {
        char q[SR_QUOTE_BUF];
        return sr_err_set(err, SR_EINVAL, false,
                          "timezone %s: not a zone of the tz database (\"UTC\", "
                          "\"America/Montreal\"...)",
                          sr_err_quote(tz, q, sizeof q));
    }
    sr_listing *l = calloc(1, sizeof *l);
    if (l == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "listing: out of memory");
    l->format = format;
    l->sink = *sink;
    l->now = options != NULL ? options->now : 0;
    /* UTC needs no zone file and no TZ juggling */
    if (tz != NULL && strcasecmp(tz, "UTC") != 0 && strcasecmp(tz, "GMT") != 0 &&
        strcmp(tz, "Z") != 0 && (l->timezone = strdup(tz)) == NULL) {
        free(l);
        return sr_err_set(err, SR_ENOMEM, false, "listing: out of memory");
    }
    *out = l;
    return SR_OK;
}

int sr_listing_feed(sr_listing *l, const char *data, size_t len, sr_err *err)
{
    if (l->stopped != SR_OK)
        return l->stopped;
    int rc =
        l->format == SR_LISTING_HTML ? feed_html(l, data, len, err) : feed_lines(l, data, len, err);
    return rc;
}

int sr_listing_end(sr_listing *l, sr_err *err)
{
    if (l->stopped != SR_OK)
        return l->stopped;
    if (l->format == SR_LISTING_HTML) {
        if (l->hs == H_TAG && l->len > 0)
            bad_line(l, l->buf, l->len); /* a tag never closed */
        l->hs = H_TEXT;
        l->len = 0;
        return pending_done(l, err);
    }
    if (l->len == 0 && !l->overlong)
        return SR_OK;
    int rc = reserve(l, 0, err);
    return rc == SR_OK ? line_done(l, err) : rc;
}

size_t sr_listing_entries(const sr_listing *l)
{
    return l->entries;
}

size_t sr_listing_bad_lines(const sr_listing *l)
{
    return l->bad;
}

void sr_listing_free(sr_listing *l)
{
    if (l == NULL)
        return;
    free(l->buf);
    free(l->name);
    free(l->timezone);
    free(l);
}
