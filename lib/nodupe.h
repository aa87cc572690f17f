/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nodupe: the duplicate cache, sr3's "nodupe" (sr(1), THE FLOW, Duplicate cache), one per
 * instance.
 *
 * A message is a duplicate when an entry with the same key AND the same path was seen
 * less than ttl seconds ago. Every lookup refreshes its entry (LRU, as sr3): a product
 * announced every minute with ttl 300 stays a duplicate for as long as it keeps coming.
 *
 * Key, in order (sr3's NoDupe.deriveKey):
 *   1. hint->key when the caller gives one (sr3's nodupe_override.key);
 *   2. a message with a fileOp: the link text for a link; the relPath for a directory
 *      creation; "<relPath>,rmdir" for a directory removal (sr: sr3 falls through to 5,
 *      whose pubTime differs between the two watches of an HA pair, so both of their
 *      announcements of one rmdir would pass); a file's rename with an identity is keyed
 *      as the file now at relPath (3.: sr3 falls through to 5), so a restarted watch's
 *      announcement of that file is its duplicate; anything else (remove, hlink, a
 *      folder's rename) falls through to 5, skipping the identity as sr3 does (sr_watch
 *      puts the removed file's last mtime in a remove, so an HA pair's removals key
 *      alike);
 *   3. (no fileOp) an identity: "<method>,<value>" with '\n' and '\r' taken out of the
 *      value (sr3's v02 conversion wraps base64 at 76 characters), unless the method is
 *      cod (its value is an algorithm name), random (a value that means nothing) or sr
 *      does not know it;
 *   4. (5.) otherwise "<relPath>,<mtime or else pubTime>[,<size>]", times as received;
 *   and for a block of a partitioned file (not with hint->key), ",block <number>" after
 *   the key: two blocks of the same content are not duplicates of each other.
 * Path: hint->path when given (nodupe_override.path); else by basis:
 *   SR_NODUPE_PATH  relPath without its leading '/'s (the default);
 *   SR_NODUPE_DATA  the constant "data": the same content under any name is a duplicate;
 *   SR_NODUPE_NAME  the file name (after the last '/'), and the key is the file name too:
 *                   the same name from any source is a duplicate. sr3's documentation says
 *                   this; its name.py only sets the path (so identity still counts).
 * nodupe_basis name applies to the key only when the caller gave no hint->key.
 *
 * A message with a data_id (a WIS2 notification, sr-config(5), WIS2) is keyed on it
 * instead, whatever nodupe_basis says, unless the caller gives hint->key or hint->path:
 * key "data_id,<data_id>" (",block N" after it for a block), looked up alone, with the
 * relPath as its path for the file's sake. The entry remembers the newest pubTime seen.
 * The message is a duplicate when an entry seen within ttl has the same or a later
 * pubTime; a later pubTime is an update of the product: it passes and becomes the one
 * remembered. (sr: sr3 keys such messages as any other.)
 *
 * A retried message is never its own duplicate (sr3 loses retries that way: sr(1), DIFFERENCES
 * FROM SR3): with hint->retry the message is accepted whatever the cache holds, and its entry
 * refreshed.
 *
 * The fileAgeMin/fileAgeMax checks (sr-options(7)) come before the lookup and belong to the
 * flow.
 *
 * The cache file (recent_files_NN.cache in the instance's state folder; the caller names
 * it) is sr3's line format, one entry per line:
 *
 *     <key> <time> <path>\n
 *
 * and for an entry keyed on a data_id, its newest pubTime (v03 form) as a fourth word:
 *
 *     data_id,<data_id> <time> <path> <pubTime>\n
 *
 * time is seconds since the epoch ("%.6f", when the entry was last refreshed); key and path
 * are percent-escaped: '%', space, and bytes below 0x20 or 0x7f become %XX (upper-case
 * hex), so each is one word; a loader decodes any %XX. sr3 writes the same three words
 * (its path url-quoted, its key bare), so sr reads sr3's lines (one whose key holds a
 * space is skipped as malformed), and sr3 reads sr's (it ignores a fourth word);
 * sarrac's "<sum> <time> <path> <partstr>" is not read (not data_id, so malformed).
 * A new or refreshed entry appends one line (one write(2): a kill -9 loses at most the
 * lines not yet written, never a line already written, and a torn last line is skipped at
 * the next load). SR_NODUPE_BUFFERED keeps lines in memory until sr_nodupe_flush (or
 * 64 KiB): the flow flushes once per batch before it acks, so what a crash loses was not
 * acked either and comes back to be checked again. The file is rewritten (tmp + fsync +
 * rename) at load and at save, with expired entries left out. Nothing is fsync'ed between
 * saves: a lost entry only lets a duplicate through.
 *
 * Times are seconds since the epoch as a double (sr3's nowflt); `now` should not go
 * backwards (entries are expired in the order they were refreshed).
 * One cache, one thread; no global state. Memory: one allocation per entry (key + path +
 * about 90 bytes) and the hash table's buckets.
 */
#ifndef SR_NODUPE_H
#define SR_NODUPE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "message.h"

typedef struct sr_nodupe sr_nodupe;

/* In the order of nodupe_basis's choices in options.def (sr_config_choice gives the
 * index; test_options checks the order). */
enum sr_nodupe_basis {
    SR_NODUPE_PATH, /* nodupe_basis path (default) */
    SR_NODUPE_NAME, /* nodupe_basis name */
    SR_NODUPE_DATA, /* nodupe_basis data */
};

/* sr_nodupe_new flags. */
#define SR_NODUPE_BUFFERED 0x1 /* keep appended lines until sr_nodupe_flush (or 64 KiB) */

/* What loading the cache file found. */
typedef struct sr_nodupe_load_stats {
    size_t loaded;    /* entries kept */
    size_t expired;   /* lines skipped: older than ttl */
    size_t malformed; /* lines skipped: not "<key> <time> <path>" (counted, never fatal) */
} sr_nodupe_load_stats;

/* A new cache remembering entries for ttl seconds (> 0: the flow makes no cache when
 * nodupe_ttl is 0). With a path, the file is loaded (a missing file is an empty cache)
 * and rewritten at once without the expired and malformed lines, then kept open for
 * appending; with path NULL the cache lives in memory only. stats may be NULL.
 * Errors: SR_EINVAL (ttl), SR_EIO (the file cannot be read or rewritten: err names it;
 * the caller may go on with a cache in memory), SR_ENOMEM. *out is NULL on error. */
int sr_nodupe_new(const char *path, double ttl, enum sr_nodupe_basis basis, int flags, double now,
                  sr_nodupe **out, sr_nodupe_load_stats *stats, sr_err *err);

/* Flush (errors ignored: call sr_nodupe_save first to keep the cache), close and free.
 * NULL is a no-op. */
void sr_nodupe_free(sr_nodupe *c);

/* What the caller may say about one message; pass NULL for none. */
typedef struct sr_nodupe_hint {
    bool retry;       /* from the retry queue: never a duplicate, entry refreshed */
    const char *key;  /* nodupe_override.key: replaces the derived key */
    const char *path; /* nodupe_override.path: replaces the path */
} sr_nodupe_hint;

/* Look msg up at time now: *duplicate is true when the same key and path were seen
 * within ttl. Either way the entry is recorded (new) or refreshed (time = now) and a line
 * is appended to the file. *duplicate is always set:
 *   SR_OK      the answer;
 *   SR_EIO     the answer, and the entry is in memory, but its line could not be written
 *              (err names the file); the next sr_nodupe_save rewrites the file from memory;
 *   SR_ENOMEM  false (when in doubt, the message goes through). */
int sr_nodupe_check(sr_nodupe *c, const sr_message *msg, const sr_nodupe_hint *hint, double now,
                    bool *duplicate, sr_err *err);

/* The key and path sr_nodupe_check would use for msg (for logs and tests). Two new
 * strings the caller frees; SR_ENOMEM leaves both NULL. */
int sr_nodupe_derive(const sr_message *msg, enum sr_nodupe_basis basis, const sr_nodupe_hint *hint,
                     char **key, char **path, sr_err *err);

/* Forget entries last refreshed more than ttl before now (memory only; the file follows at
 * the next save). Returns how many were dropped. */
size_t sr_nodupe_expire(sr_nodupe *c, double now);

/* Write the buffered lines (SR_NODUPE_BUFFERED) to the file. SR_OK with nothing to do or
 * no file. On SR_EIO the lines are dropped and any part of them written is cut off again
 * (memory keeps their entries and the next sr_nodupe_save rewrites the file from memory). */
int sr_nodupe_flush(sr_nodupe *c, sr_err *err);

/* Housekeeping and stop: expire, then rewrite the file from memory (tmp, fsync, rename)
 * and reopen it for appending. *expired (may be NULL) gets the number expired. SR_OK
 * without a file. On SR_EIO the old file is left as it was (still appended to). */
int sr_nodupe_save(sr_nodupe *c, double now, size_t *expired, sr_err *err);

/* Entries held now (expired ones count until sr_nodupe_expire or save drops them). */
size_t sr_nodupe_count(const sr_nodupe *c);

#endif
