/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * announce: the message that announces a local file event, as sr_post, sr_watch and
 * sr_sarra post them (sr-message(7), V03; sr_post(1) and sr_watch(1), DESCRIPTION).
 *
 *   a regular file    pubTime, baseUrl, relPath, identity, size, and mtime/atime
 *                     (timeCopy), mode (permCopy), inline content (inline)
 *   a directory       fileOp {"directory": ""} (mkdir)
 *   a symbolic link   fileOp {"link": "<its text>"}
 *   a removal         fileOp {"remove": ""} (+ "directory" for a folder)
 *   a rename          the new file as above, with fileOp {"rename": "<old relPath>"}
 *   a remote file     what a poll's listing shows of it (sr_announce_listed)
 *
 * With the rename option every message also carries a `rename` field: the relPath
 * subscribers write the file to instead of its own (sr3's post does the same); relPath
 * stays the file's, so it can still be fetched.
 *
 * relPath is the path relative to post_baseDir (the whole absolute path without its
 * leading '/' when post_baseDir is unset, as sr3 writes it); a path outside post_baseDir
 * is an error naming both. The topic and the source are the flow's to set (they depend
 * on the post broker).
 */
#ifndef SR_ANNOUNCE_H
#define SR_ANNOUNCE_H

#include <stdbool.h>
#include <time.h>

#include "error.h"
#include "identity.h"
#include "listing.h"
#include "message.h"
#include "strlist.h"

/* In the order of inlineEncoding's choices in options.def (sr_config_choice). */
enum sr_inline_encoding { SR_INLINE_GUESS, SR_INLINE_TEXT, SR_INLINE_BINARY };

typedef struct sr_announce_options {
    const char *base_url;             /* post_baseUrl (required) */
    const char *base_dir;             /* post_baseDir; NULL: "/" */
    const sr_identity_spec *identity; /* the identity option; NULL: sha512 */
    int identity_flags;               /* SR_IDENTITY_NO_CACHE to skip the xattr cache */
    bool time_copy;                   /* timeCopy: mtime and atime */
    bool perm_copy;                   /* permCopy: mode */
    bool inline_content;              /* inline */
    long long inline_max;             /* inlineByteMax */
    enum sr_inline_encoding inline_encoding;
    bool realpath;             /* realpathPost: resolve links in the path first */
    const sr_strlist *headers; /* header NAME=VALUE lines, added as fields */
    const char *from_cluster;  /* cluster option, or NULL */
    const char *to_clusters;   /* to_clusters option, or NULL */
    long long block_size;      /* blockSize: 0 = sr3's choice (50 MiB), 1 = never split, N */
    const char *rename;        /* rename option, or NULL: the `rename` field of every message
                                  (dates filled; ending in '/': a folder, the file's name
                                  appended) */
    double time_offset;        /* varTimeOffset, for the dates in rename */
} sr_announce_options;

/* What announcing cost: bytes read for the identity (0 when the xattr cache answered). */
typedef struct sr_announce_stats {
    unsigned long long bytes_read;
    bool identity_cached;
} sr_announce_stats;

/* The message for what is at path now: a file, a directory or a symbolic link (lstat).
 * SR_ENOENT when it is gone (the caller may announce a removal instead). now is pubTime. */
int sr_announce_path(const sr_announce_options *o, const char *path, const struct timespec *now,
                     sr_message **out, sr_announce_stats *stats, sr_err *err);

/* The message for a removed file, or folder when was_dir. */
int sr_announce_removal(const sr_announce_options *o, const char *path, bool was_dir,
                        const struct timespec *now, sr_message **out, sr_err *err);

/* The message for old_path renamed to new_path (what is at new_path now, plus
 * fileOp.rename). */
int sr_announce_rename(const sr_announce_options *o, const char *old_path, const char *new_path,
                       const struct timespec *now, sr_message **out, sr_announce_stats *stats,
                       sr_err *err);

/* blockSize (blocks.h): the messages to post for m, the message sr_announce_path made for
 * path. A file no larger than one block, a folder, a link, a removal or a rename goes as m
 * alone; a larger file as one message per block, and m is freed. *out is a new array of
 * *count messages (caller frees the array and them); on error m is freed and *out NULL. */
int sr_announce_blocks(const sr_announce_options *o, const char *path, sr_message *m,
                       sr_message ***out, size_t *count, sr_err *err);

/* The message for an entry of a remote listing (a poll: poller.h), announced as
 * rel_path, from what the listing showed, the file never read: a folder as a fileOp
 * directory, a link as a fileOp link (SR_EINVAL when the listing gave no target), a file
 * with its size when known and an identity only of a method that needs no content (cod,
 * arbitrary); mtime (atime the same) and mode when the listing shows them (timeCopy,
 * permCopy). */
int sr_announce_listed(const sr_announce_options *o, const char *rel_path, const sr_listed *e,
                       const struct timespec *now, sr_message **out, sr_err *err);

/* relPath of path under base_dir (NULL: "/"), into a new string. SR_EINVAL when path is
 * not under base_dir. */
int sr_announce_rel_path(const char *base_dir, const char *path, char **out, sr_err *err);

#endif
