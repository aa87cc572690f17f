/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * seen: what a poll has announced, so that a file is announced once when it appears and
 * again only when its size or modification time changes (sr3 does this with its duplicate
 * cache, keyed "<relPath>,<mtime>,<size>"; sr-options(7), nodupe_ttl in a poll).
 *
 * One entry per key (the relPath, or the file name with nodupe_basis name): the mark it
 * was announced with (mtime and size, each possibly unknown) and when it was last listed.
 * An entry not listed (nor recorded) for ttl seconds is forgotten: a file that comes back
 * after that is announced again, as in sr3.
 *
 * Memory is the point: a poll of a million files keeps a million entries. An entry holds a
 * 64-bit hash of its key, not the key (a 40-byte slot of an open-addressing table that is
 * 69% to 90% full: 44 to 58 bytes an entry; the table is in 64 shards that grow one at a
 * time, so growing never holds the whole table twice); two keys with the same hash are
 * taken as one (for a million keys the chance of any such pair is about 3 in 100
 * million). The hash, XXH3 seeded at random per store, is fast but not a keyed
 * cryptographic hash: a name made on purpose from another known name collides with it at a
 * chance of about 1 in 130 million per store (names of 17 to 240 bytes), not 1 in 2^64; and
 * a collision hides a file only when its mtime and size are those of the other too. The
 * keys live only in the file.
 *
 * The file (poll_seen_NN.txt in the instance's state folder; the caller names it), one
 * entry per line, in the order the keys were first recorded, the lines appended since the
 * last rewrite after them (a key's last line wins):
 *
 *     <mtime> <size> <time> <key>\n
 *
 * mtime: seconds since the epoch with nanoseconds ("%lld.%09ld"), or "-" when unknown;
 * size: bytes or "-"; time: when last listed ("%.3f"); key: percent-escaped as nodupe.h
 * escapes ('%', space and bytes below 0x20 or 0x7f as %XX), so a line is four words.
 * A record appends a line to a buffer that sr_seen_flush writes (one write(2)), which the
 * poll does when the flow settles a pass, after its posts are confirmed and before its
 * acks: what a kill -9 loses was not announced yet either, and is announced (again, at
 * worst) after the restart, never missed. A refresh (the same mark listed again) changes
 * memory only. sr_seen_save rewrites the file (tmp, fsync, rename) from the old file and
 * memory: each live entry's line with its last mark and time, at the place of its first
 * line, the expired and superseded lines left out; it reads the old file a line at a time,
 * so it never holds the keys either. An entry recorded and not flushed yet keeps its old
 * lines as they were (its new mark is not announced until the flush, which appends it to
 * the new file); an entry whose every line was lost (a failed flush) has no key to write,
 * so it is left out of the file and is announced again after a restart. A torn last line or
 * a malformed line is skipped at load, counted.
 *
 * One store, one thread; no global state.
 */
#ifndef SR_SEEN_H
#define SR_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

typedef struct sr_seen sr_seen;

/* What identifies a version of a file: its mtime and size, as listed. */
typedef struct sr_seen_mark {
    bool has_mtime;
    struct timespec mtime;
    long long size; /* -1: unknown */
} sr_seen_mark;

enum sr_seen_state {
    SR_SEEN_NEW,     /* no entry for the key: announce it */
    SR_SEEN_CHANGED, /* an entry with another mark: announce it again */
    SR_SEEN_SAME,    /* the same mark: not announced; the entry's time is refreshed */
};

typedef struct sr_seen_load_stats {
    size_t loaded;    /* entries in memory after the load */
    size_t expired;   /* lines older than ttl, left out */
    size_t malformed; /* lines that do not read as an entry, left out */
} sr_seen_load_stats;

/* A store forgetting entries after ttl seconds (> 0). With a path, the file is loaded (a
 * missing one is an empty store) and rewritten without the expired, superseded and
 * malformed lines, then kept open for appending; path NULL: memory only. stats may be NULL.
 * Errors: SR_EINVAL (ttl), SR_EIO (err names the file), SR_ENOMEM; *out is NULL then. */
int sr_seen_open(const char *path, double ttl, double now, sr_seen **out, sr_seen_load_stats *stats,
                 sr_err *err);

/* Flush (errors ignored: sr_seen_save first to keep everything), close and free. NULL-safe. */
void sr_seen_free(sr_seen *s);

/* Is key (len bytes, any bytes) with mark new, changed or the same as announced? SAME
 * refreshes the entry's time to now; NEW and CHANGED change nothing (sr_seen_record does
 * once the message is handed on). */
enum sr_seen_state sr_seen_look(sr_seen *s, const char *key, size_t len, const sr_seen_mark *mark,
                                double now);

/* key was announced (or, on a standby, seen announced) with mark at now: the entry made or
 * updated, its line buffered for sr_seen_flush. SR_ENOMEM only. */
int sr_seen_record(sr_seen *s, const char *key, size_t len, const sr_seen_mark *mark, double now,
                   sr_err *err);

/* Write the buffered lines. SR_OK with nothing to write or no file. On SR_EIO (err names
 * the file) the lines are dropped and any part written cut off again; memory keeps the
 * entries, and the next sr_seen_save writes what it can. */
int sr_seen_flush(sr_seen *s, sr_err *err);

/* Forget the entries not refreshed for ttl, then rewrite the file as described above and
 * reopen it for appending. *expired (may be NULL): entries forgotten. SR_OK without a file.
 * On SR_EIO the old file is left as it was (and still appended to). */
int sr_seen_save(sr_seen *s, double now, size_t *expired, sr_err *err);

/* Entries held. */
size_t sr_seen_count(const sr_seen *s);

#endif
