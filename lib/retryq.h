/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * retryq: a retry queue on disk (sr(1), THE FLOW, Retry queues): messages whose work
 * (download, send) or whose post failed, kept until a later attempt succeeds or they grow too
 * old. One queue per instance and kind; the caller names the file, e.g.
 * <instance dir>/retry_work_NN.jsonl and retry_post_NN.jsonl.
 *
 * The flow acks a message only once it is in the retry queue, so the queue must not lose
 * what it took: sr_retryq_add writes the entry to the file (write(2)) before it returns,
 * so a kill -9 of the process at any later point loses nothing; sr_retryq_sync
 * (fdatasync) makes the entries added so far survive a power cut too. The flow adds the
 * failures of a batch, syncs once, then acks. An entry stays in the file while it is
 * taken ("in flight") until sr_retryq_done says it succeeded: a crash in between retries
 * it after the restart (a duplicate, never a loss).
 *
 * Spacing: an entry that has failed n times (n = 1 when added) is not taken before
 * last failure + min(delay_min * 2^(n-1), delay_max): 60, 120, 240, 480, 900, 900... s by
 * default. sr3 instead retries every entry at the next housekeeping (<= 300 s), however
 * often it failed.
 *
 * The file is a log, one JSON object per line ("JSON lines"), written by sr and read back
 * by sr only (sr3's jsonpickle queues are not read):
 *
 *   {"retry":{"id":7,"first":1700000000.250000,"attempts":1,"next":1700000060.250000,
 *             "error":"sftp://host: connection refused"},"message":{...v03 message...}}
 *        an entry: its id (1, 2, ... per file), the time of its first failure, its
 *        failures so far, when it may next be taken, the last error ("" when none given);
 *        "message" is the message exactly as sr_message_encode writes v03
 *   {"again":{"id":7,"attempts":2,"next":1700000180.5,"error":"..."}}
 *        entry 7 failed again: its new count, time and error replace the old ones
 *   {"done":7}
 *        entry 7 is finished (succeeded, or dropped): it is gone
 *
 * Only appends happen between compactions. Compaction writes the live entries as "retry"
 * lines to <path>.tmp, fsyncs it, renames it over the file and fsyncs the folder: it
 * happens when the queue is opened and at each housekeeping, and a queue that empties is
 * truncated. A line that is not one of the three forms (a torn last line after a crash, a
 * message that no longer decodes) is skipped and counted, never fatal.
 *
 * Memory: the messages stay on disk; each entry costs about 100 bytes in memory (its place
 * in the file, times, attempts, a digest of its duplicate key, its last error).
 * One queue, one thread, one process per file; no global state. Times are seconds since
 * the epoch as a double.
 */
#ifndef SR_RETRYQ_H
#define SR_RETRYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "message.h"

typedef struct sr_retryq sr_retryq;

/* Spacing between attempts, in seconds; 0 takes the default. */
#define SR_RETRYQ_DELAY_MIN 60.0
#define SR_RETRYQ_DELAY_MAX 900.0
typedef struct sr_retryq_options {
    double delay_min; /* before the first retry (SR_RETRYQ_DELAY_MIN) */
    double delay_max; /* the longest spacing (SR_RETRYQ_DELAY_MAX) */
} sr_retryq_options;

/* Longest error text kept with an entry, in bytes (longer ones are cut). */
#define SR_RETRYQ_ERROR_MAX 256

typedef struct sr_retryq_load_stats {
    size_t loaded;    /* entries in the queue */
    size_t malformed; /* lines skipped */
} sr_retryq_load_stats;

/* Open (creating it when missing) the queue in the file at path, load it and compact it.
 * opts and stats may be NULL. Errors: SR_EIO (the file or its folder: err names it),
 * SR_ENOMEM. *out is NULL on error. */
int sr_retryq_open(const char *path, const sr_retryq_options *opts, sr_retryq **out,
                   sr_retryq_load_stats *stats, sr_err *err);

/* Close and free. Entries in flight stay in the file, to be taken after the next open.
 * NULL is a no-op. */
void sr_retryq_close(sr_retryq *q);

/* Queue a copy of msg that failed at time now with the given error (may be NULL). The
 * line is written before this returns (see the top for durability); it can first be
 * taken at now + delay_min. Errors: SR_EIO (nothing queued), SR_ENOMEM, SR_EINVAL (the
 * message cannot be encoded). */
int sr_retryq_add(sr_retryq *q, const sr_message *msg, double now, const char *error, sr_err *err);

/* fdatasync the file when anything was written since the last sync. */
int sr_retryq_sync(sr_retryq *q, sr_err *err);

/* One entry handed out by sr_retryq_take. */
typedef struct sr_retryq_item {
    uint64_t id;            /* for sr_retryq_done / again / release */
    sr_message *msg;        /* the caller's: free with sr_message_free */
    unsigned attempts;      /* failures so far */
    double first_failure;   /* when it was added */
    const char *last_error; /* the queue's; valid until done, again or release of id */
} sr_retryq_item;

/* Hand out up to max entries whose time has come (next attempt <= now), soonest first,
 * into items[0 .. *taken). They are in flight until sr_retryq_done, sr_retryq_again or
 * sr_retryq_release. An entry whose message no longer decodes is dropped (counted by
 * sr_retryq_unreadable). On SR_EIO (reading the file) or SR_ENOMEM the items already in
 * items[0 .. *taken) are valid and in flight; the entry being read stays queued. */
int sr_retryq_take(sr_retryq *q, size_t max, double now, sr_retryq_item *items, size_t *taken,
                   sr_err *err);

/* Entry id (in flight) succeeded or is given up: it leaves the queue. SR_ENOENT when id is
 * not in flight. SR_EIO when its "done" line could not be written: it is gone from memory
 * but would come back after a restart. */
int sr_retryq_done(sr_retryq *q, uint64_t id, sr_err *err);

/* Entry id (in flight) failed again at now: one more failure, next attempt spaced as at
 * the top, error (may be NULL) kept. SR_ENOENT when id is not in flight. SR_EIO: the
 * change holds in memory but its line was not written. */
int sr_retryq_again(sr_retryq *q, uint64_t id, double now, const char *error, sr_err *err);

/* Entry id (in flight) goes back to the queue unchanged (not attempted: e.g. at stop).
 * SR_ENOENT when id is not in flight. */
int sr_retryq_release(sr_retryq *q, uint64_t id, sr_err *err);

/* Called for each entry housekeeping drops, with why = "expired" or "duplicate"; msg is
 * valid during the call only. */
typedef void (*sr_retryq_drop_fn)(void *arg, const sr_message *msg, const char *why);

typedef struct sr_retryq_hk_stats {
    size_t expired;    /* dropped: pubTime older than retry_ttl */
    size_t duplicates; /* dropped: same as an older entry (see below) */
    size_t kept;       /* entries left, in flight included */
} sr_retryq_hk_stats;

/* Housekeeping at now: drop the queued entries whose pubTime is more than retry_ttl
 * seconds old (retry_ttl <= 0: never, sr3's default), and those that duplicate an older
 * entry or one in flight (sr3's test: the same baseUrl + relPath and the same fileOp, or
 * failing that the same identity, or failing that the same pubTime; and the same block),
 * then compact the file. Entries in flight are never dropped. drop (may be NULL) is told
 * of each entry dropped; stats may be NULL. SR_EIO: the compaction failed, the old file
 * is kept and a "done" line is appended for each entry dropped. */
int sr_retryq_housekeep(sr_retryq *q, double now, double retry_ttl, sr_retryq_drop_fn drop,
                        void *arg, sr_retryq_hk_stats *stats, sr_err *err);

/* Entries in the queue, in flight included. */
size_t sr_retryq_length(const sr_retryq *q);

/* Entries in flight. */
size_t sr_retryq_in_flight(const sr_retryq *q);

/* The time the soonest queued entry may be taken: false when none is queued. */
bool sr_retryq_next_due(const sr_retryq *q, double *when);

/* Entries dropped since open because their line no longer decoded when taken. */
size_t sr_retryq_unreadable(const sr_retryq *q);

#endif
