/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_listing: libFuzzer target for the listing parsers (lib/listing.c), which read what
 * a polled server sends: FTP LIST and MLSD replies and HTML index pages.
 *
 * Input: byte 0 chooses the format (% 3: LIST, MLSD, HTML) and the zone (bit 2: UTC or
 * America/Montreal); byte 1 the size of the pieces the rest is fed in (0: whole, else
 * 1..255); the rest is the reply.
 * Invariants checked (abort, so libFuzzer keeps the input as a crash):
 *   - every entry has a name that is not "", ".", ".." and has no '/', at most
 *     SR_LISTING_LINE_MAX bytes, a size >= -1, a type of S_IFREG, S_IFDIR or S_IFLNK;
 *   - the entries and bad lines are the same whether the reply comes whole or in pieces
 *     (a line or tag split across two reads is read alike);
 *   - sr_listing_entries and sr_listing_bad_lines count what the sink saw.
 * Memory errors, undefined behaviour and leaks are the sanitizers' to find.
 */
#include "listing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    uint64_t hash;
    size_t entries, bad;
} seen;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_listing: %s\n", what);
    abort();
}

static void mix(seen *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        s->hash = (s->hash ^ b[i]) * 1099511628211ull;
}

static int on_entry(void *ctx, const sr_listed *e, sr_err *err)
{
    (void)err;
    seen *s = ctx;
    s->entries++;
    size_t n = strlen(e->name);
    if (n == 0 || strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0 ||
        strchr(e->name, '/') != NULL || n > SR_LISTING_LINE_MAX)
        fail("an entry with a name no folder has");
    if (e->size < -1)
        fail("a size below -1");
    mode_t type = e->mode & S_IFMT;
    if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK)
        fail("an entry that is not a file, a folder or a link");
    if (e->mtime.tv_nsec < 0 || e->mtime.tv_nsec >= 1000000000)
        fail("nanoseconds out of range");
    mix(s, e->name, n + 1);
    mix(s, &e->size, sizeof e->size);
    mix(s, &e->mode, sizeof e->mode);
    mix(s, &e->has_mtime, sizeof e->has_mtime);
    if (e->has_mtime)
        mix(s, &e->mtime, sizeof e->mtime);
    if (e->link != NULL)
        mix(s, e->link, strlen(e->link) + 1);
    return SR_OK;
}

static void on_bad(void *ctx, const char *line)
{
    seen *s = ctx;
    s->bad++;
    if (strlen(line) > SR_LISTING_LINE_MAX)
        fail("a bad line longer than the limit");
    mix(s, line, strlen(line) + 1);
}

static void run(sr_listing_format f, const char *tz, const uint8_t *text, size_t len, size_t piece,
                seen *s)
{
    memset(s, 0, sizeof *s);
    s->hash = 14695981039346656037ull;
    sr_listing_sink sink = {.entry = on_entry, .bad = on_bad, .ctx = s};
    sr_listing_options o = {.timezone = tz, .now = 1796556000};
    sr_listing *l = NULL;
    sr_err err;
    if (sr_listing_new(f, &o, &sink, &l, &err) != SR_OK)
        fail(err.msg);
    if (piece == 0)
        piece = len ? len : 1;
    for (size_t i = 0; i < len; i += piece)
        if (sr_listing_feed(l, (const char *)text + i, len - i < piece ? len - i : piece, &err) !=
            SR_OK)
            fail("feed failed without a sink stopping it");
    if (sr_listing_end(l, &err) != SR_OK)
        fail("end failed without a sink stopping it");
    if (sr_listing_entries(l) != s->entries || sr_listing_bad_lines(l) != s->bad)
        fail("the counts are not what the sink saw");
    sr_listing_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    sr_listing_format f = (sr_listing_format)(data[0] % 3);
    const char *tz = (data[0] & 4) ? "America/Montreal" : NULL;
    size_t piece = data[1];
    seen whole, pieces;
    run(f, tz, data + 2, size - 2, 0, &whole);
    run(f, tz, data + 2, size - 2, piece ? piece : 1, &pieces);
    if (whole.hash != pieces.hash || whole.entries != pieces.entries || whole.bad != pieces.bad)
        fail("fed in pieces, the reply gives other entries than fed whole");
    return 0;
}
