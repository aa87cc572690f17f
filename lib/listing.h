/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * listing: what a remote folder holds, read from the text a server sends for it, for the
 * poll (poller.h) through the transfer layer's sr_transfer_list_each.
 *
 * Formats:
 *   SR_LISTING_FTP_LIST  an FTP LIST reply: Unix `ls -l` lines ("-rw-r--r-- 1 u g 1234
 *                        Mar 05 10:11 name", a year instead of the time for older files,
 *                        "name -> target" for a link, and the variant with one more owner
 *                        column), and DOS/IIS lines ("03-05-24  10:11AM  1234 name",
 *                        "<DIR>" for a folder). A date without a year is in the last six
 *                        months, as sr3 reads it: this year, or last year when its month is
 *                        six or more after this one. LIST dates are in `timezone`.
 *   SR_LISTING_FTP_MLSD  an FTP MLSD reply (RFC 3659 facts: type, size, modify, perm,
 *                        UNIX.mode): exact sizes and UTC times to the second or better.
 *   SR_LISTING_HTML      a directory index page: nginx autoindex, Apache (fancy, table and
 *                        plain forms), lighttpd mod_dirlisting, and, from any other page,
 *                        each `<a href>` naming an entry of this folder (relative, no '/'
 *                        inside but a trailing one for a folder; no "?", "#", scheme, or
 *                        absolute path; percent-decoding and HTML entities undone). Dates
 *                        and sizes are taken where the page shows them beside the link
 *                        (in `timezone`); a size the page rounds ("5.2M", "47K") is not
 *                        exact and is reported as unknown.
 *
 * The parser is fed the reply in pieces of any size as they arrive (sr_listing_feed) and
 * calls the sink for each entry as soon as it is complete, so a listing of a million
 * entries is never held whole: memory is the longest line (LIST, MLSD) or the longest
 * tag and the text beside it (HTML), up to SR_LISTING_LINE_MAX; longer is a bad line.
 * A line it does not understand goes to the sink's bad() with the line (never fatal):
 * "total 12" and blank lines are not bad, they are skipped. "." and ".." are skipped.
 *
 * Nothing here touches the network. A timezone other than UTC is read from the system's
 * tz database the way mktime(3) reads it: TZ is set for the length of one conversion and
 * put back, so a program with threads must not use other time zone functions meanwhile
 * (sr's components have one thread).
 */
#ifndef SR_LISTING_H
#define SR_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

#define SR_LISTING_LINE_MAX (64u * 1024u)

typedef enum sr_listing_format {
    SR_LISTING_FTP_LIST,
    SR_LISTING_FTP_MLSD,
    SR_LISTING_HTML,
} sr_listing_format;

/* One entry of a folder. The strings are valid during the sink call only. */
typedef struct sr_listed {
    const char *name;      /* the entry's name, no folder part; never "", ".", ".." */
    off_t size;            /* bytes, or -1 when the listing does not say it exactly */
    struct timespec mtime; /* UTC; valid when has_mtime */
    bool has_mtime;
    mode_t mode;           /* S_IFDIR, S_IFREG or S_IFLNK, and the permission bits when
                              has_perms; a listing that says nothing of the type: S_IFREG */
    bool has_perms;
    const char *link;      /* a link's target when the listing shows it, else NULL */
} sr_listed;

/* Where the entries go. entry returning anything but SR_OK stops the listing with that
 * code (err filled by it). bad (may be NULL) gets each line not understood, without its
 * line end (cut at SR_LISTING_LINE_MAX). */
typedef struct sr_listing_sink {
    int (*entry)(void *ctx, const sr_listed *e, sr_err *err);
    void (*bad)(void *ctx, const char *line);
    void *ctx;
} sr_listing_sink;

typedef struct sr_listing_options {
    /* The zone the dates of LIST and HTML listings are in: a tz database name ("UTC",
     * "EST", "America/Montreal", as sr3's timezone option) or NULL for UTC. */
    const char *timezone;
    /* Now (UTC), to place a LIST date without a year; 0: the clock. */
    time_t now;
} sr_listing_options;

/* Whether a tz database name is there to read: UTC and GMT always, others as a file of
 * $TZDIR or /usr/share/zoneinfo (no absolute path, no "..": the name is a config's). */
bool sr_listing_zone_known(const char *name);

typedef struct sr_listing sr_listing;

/* A parser for one reply. SR_EINVAL (err names it) for a timezone that is not known. The
 * options and the sink are copied; the timezone string need not outlive the call. */
int sr_listing_new(sr_listing_format format, const sr_listing_options *options,
                   const sr_listing_sink *sink, sr_listing **out, sr_err *err);

/* The next piece of the reply. Returns what a sink's entry returned when it stopped the
 * listing, SR_ENOMEM, else SR_OK. */
int sr_listing_feed(sr_listing *l, const char *data, size_t len, sr_err *err);

/* The end of the reply: what is left (a last line without its line end) is parsed. */
int sr_listing_end(sr_listing *l, sr_err *err);

/* Entries and bad lines seen so far. */
size_t sr_listing_entries(const sr_listing *l);
size_t sr_listing_bad_lines(const sr_listing *l);

void sr_listing_free(sr_listing *l);

#endif
