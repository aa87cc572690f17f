/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * blocks: partitioned files (sr-config(5), Partitioned transfers; sr-message(7), Blocks): a
 * large file announced as one message per block, each block fetched or sent on its own and the
 * file put together again at the destination.
 *
 * Producing (sr_post, sr_watch): with `blockSize` N > 1 a file larger than N becomes
 * ceil(size / N) messages, each with
 *     "blocks": {"method": "inplace", "size": N, "number": i,
 *                "manifest": {"0": {"size": n0, "identity": "<b64>"}, ...}},
 *     "size": <this block's size>, "identity": <this block's digest>
 * exactly as sr3 writes them. blockSize 0 means sr3's automatic choice (50 MiB blocks),
 * 1 means never split.
 *
 * Receiving (subscribe, sarra) and sending (sender): every block is written at its offset
 * into the one temporary (inflight) name of the file, so a partial file is never visible
 * under its final name. Which blocks are in is kept in a small state file beside the
 * temporary one (`<temporary>.blocks`): it survives a restart and is shared by the
 * instances of a config, which take turns through an exclusive flock on the temporary
 * file itself. The state names the version of the file it is for (a digest of the
 * manifest and mtime): blocks of a newer version start the record afresh. The block that
 * completes the record is told so while the lock is still held, so that exactly one
 * instance renames the file to its final name.
 */
#ifndef SR_BLOCKS_H
#define SR_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "identity.h"
#include "jail.h"
#include "message.h"

/* sr3's block size for `blockSize 0` (PY's "automatic" choice). */
#define SR_BLOCKS_AUTO_SIZE (50LL << 20)
/* Length of a version key (base64 md5, and its NUL). */
#define SR_BLOCKS_KEY_MAX 32

/* The block size to split a file of file_size bytes into under `blockSize` option_value,
 * or 0 when the file goes whole (option 1, or a file no larger than one block). */
long long sr_blocks_size_for(long long option_value, long long file_size);

/* The block messages for the file at path, made from whole (the message for the whole
 * file): copies of it with `blocks`, `size` and `identity` per block, identities computed
 * as spec says (sha512 or md5 per block; other methods give every block the whole
 * message's identity, as they say nothing about content). Inline content is dropped.
 * *out is a new array of *count new messages (caller frees both). A file that changed
 * size since whole was made is a retryable SR_EIO. */
int sr_blocks_split(const sr_message *whole, const char *path, long long block_size,
                    const sr_identity_spec *spec, sr_message ***out, size_t *count, sr_err *err);

/* Where a block message's block lies in the file. */
typedef struct sr_block_layout {
    size_t count;                /* blocks in the file */
    size_t number;               /* this block, from 0 */
    off_t offset;                /* its first byte */
    off_t length;                /* its size */
    off_t total;                 /* the whole file's size */
    char key[SR_BLOCKS_KEY_MAX]; /* the file version the block belongs to */
} sr_block_layout;

/* The layout of m's block, from the manifest (sr3) or from count and remainder (sarrac, v02
 * `parts`). SR_EINVAL naming the message's relPath and the field when they do not add up
 * (a block past the end, sizes that disagree with `size`, a manifest too large). */
int sr_blocks_layout(const sr_message *m, sr_block_layout *out, sr_err *err);

/* Whether the file rel beneath the jail already holds m's block: its size is the whole
 * file's and the block's bytes have the identity the message announces (sha512 or md5
 * only). */
bool sr_blocks_in_file(sr_jail *jail, const char *rel, const sr_message *m,
                       const sr_block_layout *l);

/* Called under the lock when a fresh record starts (no record, or one for another
 * version): the place the blocks go is emptied of anything older (fd is tmp's). */
typedef int (*sr_blocks_fresh_fn)(void *ctx, int fd, sr_err *err);

/* Before writing a block into the temporary file tmp (beneath the jail, as the state file
 * beside it): creates tmp when missing, starts a fresh record when the state is for
 * another version (calling fresh, when not NULL, first), and says whether this block is
 * in already (*have: a duplicate message, or a second instance got there first). tmp is
 * the lock (and, when receiving, where the blocks go). */
int sr_blocks_claim(sr_jail *jail, const char *tmp, const sr_block_layout *l,
                    sr_blocks_fresh_fn fresh, void *ctx, bool *have, sr_err *err);

/* A block assembly held under lock: see sr_blocks_record. */
typedef struct sr_blocks_lock {
    sr_jail *jail;
    int fd;           /* tmp, opened (read and write) and flocked */
    char *state_path; /* tmp + ".blocks", beneath the jail */
} sr_blocks_lock;

/* After the block was written into tmp and checked: record it. *complete says whether
 * every block of the file is now in; then the lock stays held in *lk and the caller
 * finishes the file (rename to the final name, times, mode) and calls
 * sr_blocks_release(lk, true). Otherwise the lock is already released. A block of an older
 * version than the record holds is SR_EINVAL (not retryable: the newer version wins). */
int sr_blocks_record(sr_jail *jail, const char *tmp, const sr_block_layout *l, sr_blocks_lock *lk,
                     bool *complete, sr_err *err);

/* Remove the state file (when done) and release the lock. */
void sr_blocks_release(sr_blocks_lock *lk, bool done);

/* The path of the state file kept for the temporary file tmp. New string, caller frees. */
char *sr_blocks_state_path(const char *tmp);

#endif
