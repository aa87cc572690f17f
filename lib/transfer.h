/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer: moving files to and from remote servers, for subscribe, sarra and sender.
 *
 * One session per remote (scheme + host + port + user), opened on first use, reused for
 * every file of the instance and reopened after a failure: sr_transfer_pool hands them
 * out. Backends: file: (local copies), http/https and ftp/ftps (libcurl), sftp (libssh),
 * and any scheme a plugin of the config lists (its download and send hooks,
 * transfer_plugin.c), which takes precedence over sr's own for that scheme.
 *
 * Two levels:
 *  - the operations (get, put, mkdir -p, rename, delete, symlink, stat, list, chmod,
 *    utime) do one thing on one remote path and report what failed, on which URL, and
 *    whether a retry can help (sr_err.retryable);
 *  - sr_transfer_download and sr_transfer_send do what every transfer needs around them:
 *    write under the inflight name and rename when complete (a partial file is never
 *    visible under its final name), check the received identity against the message's,
 *    set permissions and times, resume an interrupted download.
 *
 * Nothing here logs; events worth a log line (connected, host key accepted from
 * known_hosts, TLS relaxed) go to the notify callback.
 */
#ifndef SR_TRANSFER_H
#define SR_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "credentials.h"
#include "error.h"
#include "identity.h"
#include "jail.h"
#include "listing.h"
#include "log.h"
#include "url.h"

struct sr_plugins;
struct sr_message;

typedef struct sr_transfer_options {
    const sr_credentials *credentials; /* passwords, ssh_keyfile, ftp details; may be NULL */
    /* The config's plugins (plugins.h): the URL schemes their download and send hooks
     * handle are transferred through them. NULL: none. */
    const struct sr_plugins *plugins;
    /* The fields that mirror an option (timeout, tlsRigour, byteRateMax, bufSize) are
     * always given the option's value by transferconf.h; the "0:" values below are for
     * tools and tests that give none. */
    double timeout; /* seconds one operation may take without progress; 0: 300 */
    enum sr_tls_rigour tls;
    double byte_rate_max; /* bytes per second over all transfers of the pool; 0: no limit */
    size_t buffer_size;   /* copy and checksum buffer; 0: 1 MiB */
    /* The home folder for ~ and the ssh files (~/.ssh/config, known_hosts, keys): NULL
     * means $HOME, as in the shell and sr3 (not the password database's home). */
    const char *home;
    void (*notify)(void *ctx, enum sr_level level, const char *text);
    void *notify_ctx;
} sr_transfer_options;

typedef struct sr_transfer sr_transfer;
typedef struct sr_transfer_pool sr_transfer_pool;

/* A pool of sessions; options are copied (the pointers in it must outlive the pool). */
sr_transfer_pool *sr_transfer_pool_new(const sr_transfer_options *options, sr_err *err);
/* Close every session. NULL-safe. */
void sr_transfer_pool_free(sr_transfer_pool *pool);

/* The session for url's scheme, host, port and user (the path is ignored), made on first
 * use; it connects when an operation needs it. The session belongs to the pool. SR_EINVAL
 * for a scheme sr cannot transfer with. */
int sr_transfer_pool_get(sr_transfer_pool *pool, const char *url, sr_transfer **out, sr_err *err);

/* The session's URL as logs show it (no password): "sftp://bob@cluster". */
const char *sr_transfer_url(const sr_transfer *t);

/* ---- operations on remote paths ----
 * A remote path is the path part of a URL, percent-decoding done: for sftp and ftp a path
 * starting with "//" is absolute, any other is relative to the login folder (one leading
 * '/' dropped); for file both "//x" and "/x" are /x; for http it is the URL path.
 * sr_transfer_folder_path and sr_transfer_url_path make such paths from what a config or
 * a message says, as sr3 reads it. */

/* The remote path of name in folder, as sr3 changes into a folder from the login folder
 * (a sender's `directory`): a folder starting with '/' is absolute on the server ("/x"
 * and "//x" are /x), any other relative to the login folder; name (may be NULL or "")
 * beneath it. Leading "./" elements of a relative folder are dropped. New string, NULL
 * when out of memory. */
char *sr_transfer_folder_path(const char *folder, const char *name);

/* The remote path of a download from scheme, the path of the message's baseUrl and its
 * relPath (percent-decoding done), as sr3 reads them for sftp and ftp: the two joined
 * with one '/' between them are absolute when the result starts with '/' (baseUrl has a
 * path, even just "/", or relPath starts with '/'), and relative to the login folder
 * only when baseUrl ends at the host and relPath is relative. For other schemes the URL
 * path (base_path + '/' + rel_path, one '/' between them). New string, NULL when out of
 * memory. */
char *sr_transfer_url_path(const char *scheme, const char *base_path, const char *rel_path);

/* Part of a file: offset and length in bytes; length 0 means to the end. */
typedef struct sr_range {
    off_t offset;
    off_t length;
} sr_range;

/* What a get or put moved. */
typedef struct sr_transfer_result {
    off_t bytes;    /* bytes moved by this call */
    double seconds; /* wall clock */
    bool resumed;   /* a get continued a partial file */
} sr_transfer_result;

/* Fetch remote_path into the open file fd from its start (with range: only those bytes,
 * written at range.offset). digest, when not NULL, is fed every byte received, in order
 * (on-the-fly checksum). */
int sr_transfer_get(sr_transfer *t, const char *remote_path, int fd, const sr_range *range,
                    sr_digest *digest, sr_transfer_result *result, sr_err *err);

/* Send the open file fd (or its range) to remote_path (created or truncated; with range,
 * written at range.offset into the file as it is, the rest kept, where
 * sr_transfer_puts_ranges says the protocol can: sftp and file, not ftp). */
int sr_transfer_put(sr_transfer *t, int fd, const char *remote_path, const sr_range *range,
                    sr_transfer_result *result, sr_err *err);

/* Whether a ranged put writes at its offset and keeps the rest of the remote file. */
bool sr_transfer_puts_ranges(const sr_transfer *t);

/* Whether a put writes its remote path whole and atomically itself, making the folders it
 * needs, so a send needs no inflight name, rename nor mkdir (a plugin's scheme). */
bool sr_transfer_writes_final(const sr_transfer *t);

int sr_transfer_mkdir_p(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err);
int sr_transfer_rename(sr_transfer *t, const char *from, const char *to, sr_err *err);
/* Delete a file, or an empty folder when is_dir. A missing one is SR_ENOENT. */
int sr_transfer_delete(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err);
int sr_transfer_symlink(sr_transfer *t, const char *target, const char *remote_path, sr_err *err);
int sr_transfer_chmod(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err);
int sr_transfer_utime(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                      const struct timespec *mtime, sr_err *err);

typedef struct sr_remote_stat {
    off_t size;
    struct timespec mtime;
    mode_t mode; /* permission bits and S_IFDIR/S_IFREG/S_IFLNK when known, else 0 */
    bool is_dir;
} sr_remote_stat;
/* SR_ENOENT when it does not exist. http gives size and mtime from a HEAD request. */
int sr_transfer_stat(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err);

typedef struct sr_remote_entry {
    char *name; /* no folder part */
    sr_remote_stat stat;
} sr_remote_entry;
/* The entries of a remote folder, one at a time as the server's reply arrives, for the
 * poll (poller.h): sftp reads the folder (exact sizes, UTC times, modes; a link is a link,
 * its target read with readlink), ftp asks MLSD where the server has it and LIST where
 * not, http reads the index page, file reads the folder with lstat. Entries go to sink, the
 * lines of a reply not understood to sink->bad (listing.h); o's timezone applies to the
 * dates of LIST and HTML listings. Nothing of the reply is held whole. SR_ENOENT when the
 * folder does not exist; what a sink's entry returned when it stopped the listing. */
int sr_transfer_list_each(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                          const sr_listing_sink *sink, sr_err *err);

/* The entries of a remote folder (no "." and ".."), all at once (sr_transfer_list_each
 * gathered, UTC dates). Free with sr_remote_entries_free. */
int sr_transfer_list(sr_transfer *t, const char *remote_dir, sr_remote_entry **entries,
                     size_t *count, sr_err *err);
void sr_remote_entries_free(sr_remote_entry *entries, size_t count);

/* ---- whole transfers ---- */

/* How a file is named while it is written (the inflight option). */
typedef enum sr_inflight_kind {
    SR_INFLIGHT_NONE,   /* written under its final name */
    SR_INFLIGHT_SUFFIX, /* name + text (".tmp") */
    SR_INFLIGHT_PREFIX, /* text + name (".": ".name") */
    SR_INFLIGHT_DIR,    /* text/name: a sub-folder ("tmp/") of the destination folder */
} sr_inflight_kind;

typedef struct sr_inflight {
    sr_inflight_kind kind;
    char text[64];
} sr_inflight;

/* The inflight option's value: "None" (or empty), ".tmp" or any ".xyz" (suffix), "."
 * (prefix "."), "tmp/" or "/tmp" (folder), any other text: a prefix. A number (sr3's
 * fileAgeMin spelling, for posting) is SR_EINVAL here, naming the value. */
int sr_inflight_parse(const char *value, sr_inflight *out, sr_err *err);

/* The temporary path for final_path. New string, caller frees. */
char *sr_inflight_path(const sr_inflight *inflight, const char *final_path);

/* What sr_transfer_download and sr_transfer_send do besides moving the bytes. */
typedef struct sr_transfer_plan {
    sr_inflight inflight;
    const sr_identity *identity; /* expected identity, or NULL (none to check) */
    off_t size;                  /* expected size, or -1 */
    /* The most bytes the file may have, or NULL: no limit (a range: its length). A server
     * that sends more is stopped at once (SR_EREFUSED): the announced size, or fileSizeMax
     * when the message says none (sr-security(7)). */
    const off_t *max_bytes;
    const sr_range *range; /* one block of a partitioned file, or NULL */
    bool resume;           /* continue a partial temporary file (download) */
    int mode;              /* permissions to set after (permCopy / chmod), -1: leave */
    mode_t dir_mode;       /* for folders made on the way (permDirDefault); 0: 0755,
                              for tools and tests (transferconf never passes 0) */
    const struct timespec *mtime, *atime; /* timeCopy, or NULL */
    /* The message whose file it is, or NULL: a plugin's download or send is given it (a
     * plugin scheme refuses a transfer without one). */
    const struct sr_message *message;
} sr_transfer_plan;

/* The temporary name sr_transfer_download writes path under: the inflight name, or path +
 * ".sr-partial" when inflight is None. New string, caller frees. */
char *sr_transfer_download_temp(const sr_inflight *inflight, const char *path);

/* Download remote_path to rel beneath the jail's root (every local operation through the
 * jail: nothing is followed, nothing written outside): into the inflight name (folders
 * made with dir_mode), resumed when asked and the server allows it, the identity
 * computed on the fly and compared with plan->identity (a mismatch removes the file and
 * is a retryable SR_EINVAL naming both values), the size checked (more than
 * *plan->max_bytes stops the transfer: SR_EREFUSED), then renamed to rel, mode and times
 * set on the open file, and the identity stored in the xattr cache. *computed (may be
 * NULL) receives the identity computed (sha512 or md5, as plan->identity's method, else
 * sha512). A failure never leaves a file under rel that was not there.
 * With plan->range (one block of a partitioned file, blocks.h) only those bytes are fetched
 * (http: a Range request; sftp: reads at the offset; file: pread) and written at the same
 * offset into the temporary name (sr_transfer_download_temp), which is neither truncated,
 * nor renamed, nor removed on failure: plan->identity is the block's, and the caller
 * renames the file when every block is in. */
int sr_transfer_download(sr_transfer *t, const char *remote_path, sr_jail *jail, const char *rel,
                         const sr_transfer_plan *plan, sr_identity *computed,
                         sr_transfer_result *result, sr_err *err);

/* The end of a download, for a file whose blocks were fetched one by one (fd: the
 * temporary file tmp, open for writing): mode (plan->mode) and times (plan->mtime, atime)
 * set on fd, computed stored in the xattr cache, then tmp renamed to rel in the jail.
 * has_mode: the mode bits fd is known to have (-1: unknown); plan->mode is not set again
 * when they are the same. */
int sr_transfer_finish_download(sr_jail *jail, int fd, const char *tmp, const char *rel,
                                const sr_transfer_plan *plan, int has_mode,
                                const sr_identity *computed, sr_err *err);

/* Send the open file fd to remote_path: folders made (dir_mode), written under the
 * inflight name, renamed, chmod and utime applied where the protocol can. A plugin's
 * scheme writes remote_path directly (the plugin's send makes it atomic and makes the
 * folders; sr_transfer_writes_final), inflight ignored. (For the blocks
 * of a partitioned file, sr_transfer_put each range into the temporary name, then
 * sr_transfer_send_finish.) */
int sr_transfer_send(sr_transfer *t, int fd, const char *remote_path, const sr_transfer_plan *plan,
                     sr_transfer_result *result, sr_err *err);

/* The end of a send: chmod (plan->mode), utime (plan->mtime, atime) where the protocol
 * can, then tmp renamed to remote_path. */
int sr_transfer_send_finish(sr_transfer *t, const char *tmp, const char *remote_path,
                            const sr_transfer_plan *plan, sr_err *err);

#endif
