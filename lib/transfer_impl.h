/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer_impl: what transfer.c shares with its backends (transfer_file.c,
 * transfer_curl.c, transfer_sftp.c, transfer_plugin.c). Not installed, not public: the API is
 * transfer.h.
 *
 * transfer.c owns the pool, the session's URL and credential, the inflight names, the
 * on-the-fly checksum, the rate limit and the whole-transfer logic (download, send). A
 * backend moves bytes and does single operations on remote paths; it connects lazily in
 * each operation (t->connected tells whether its session is up) and, when it finds the
 * session broken, drops it and returns a retryable error: the next operation reconnects.
 *
 * Bytes always go through sr_transfer_sink_write (downloads) and
 * sr_transfer_source_read (uploads), so the checksum, the byte count and byteRateMax
 * apply to every backend alike.
 */
#ifndef SR_TRANSFER_IMPL_H
#define SR_TRANSFER_IMPL_H

#include "transfer.h"

typedef struct sr_transfer_ops {
    /* Get remote_path from byte `offset` (to the end, or `length` bytes when length > 0)
     * and hand every byte, in order, to sr_transfer_sink_write(t, fd, ...). The server
     * must support starting at offset when offset > 0; if it cannot, SR_EPROTO (not
     * retryable) so the caller starts over from 0. */
    int (*get)(sr_transfer *t, const char *remote_path, int fd, off_t offset, off_t length,
               sr_digest *digest, sr_transfer_result *result, sr_err *err);
    /* Send `length` bytes (0: to the end) of fd from `offset`, read with
     * sr_transfer_source_read, to remote_path at the same offset. The whole file (offset
     * and length 0) creates or truncates the remote file; a range (length > 0) is written
     * into it as it is, other bytes kept (the blocks of a partitioned file, in any order),
     * where put_ranges says the backend can. */
    int (*put)(sr_transfer *t, int fd, const char *remote_path, off_t offset, off_t length,
               sr_transfer_result *result, sr_err *err);
    int (*mkdir_p)(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err);
    int (*rename)(sr_transfer *t, const char *from, const char *to, sr_err *err);
    int (*remove)(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err);
    int (*symlink)(sr_transfer *t, const char *target, const char *remote_path, sr_err *err);
    /* chmod and utime: where the protocol cannot (http, utime over ftp), SR_OK doing
     * nothing; the backend's header comment says which. */
    int (*chmod)(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err);
    int (*utime)(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                 const struct timespec *mtime, sr_err *err);
    int (*stat)(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err);
    /* The entries of remote_dir, each to sink->entry as it is read (sr_transfer_list_each:
     * o and sink are never NULL, o's timezone applies to LIST and HTML dates); what a
     * sink's entry returned stops it, the folder closed. */
    int (*list_each)(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                     const sr_listing_sink *sink, sr_err *err);
    /* Close the session and free t->backend. */
    void (*destroy)(sr_transfer *t);
    /* put can write a range at its offset without touching the rest (sftp, file; not
     * ftp, whose STOR truncates and APPE only appends). */
    bool put_ranges;
    /* put writes remote_path whole and atomically, making its folders (a plugin's send):
     * sr_transfer_send then writes no inflight name and makes no folder. */
    bool put_final;
} sr_transfer_ops;

struct sr_transfer {
    const sr_transfer_ops *ops;
    sr_transfer_pool *pool;
    const sr_transfer_options *options; /* the pool's copy */
    sr_url url;                         /* scheme, user, password (from credentials), host, port */
    const sr_credential *credential;    /* its credentials.conf line, or NULL */
    char *shown_url;                    /* "sftp://bob@cluster": no password, no path */
    bool connected;                     /* the backend's session is up */
    /* The most bytes the get in progress may hand to sr_transfer_sink_write, or -1: the
     * announced size (or block) less what was there, so a server that sends more is
     * stopped however long it goes on (sr-security(7)). Set around each get. */
    off_t sink_limit;
    /* The message of the whole transfer in progress (sr_transfer_plan.message), set around
     * its get or put: a plugin's hook is given it. NULL otherwise. */
    const struct sr_message *message;
    void *backend;
};

/* The backends' constructors: set t->ops and t->backend; connect nothing. */
int sr_transfer_file_init(sr_transfer *t, sr_err *err);
int sr_transfer_curl_init(sr_transfer *t, sr_err *err);
int sr_transfer_sftp_init(sr_transfer *t, sr_err *err);
/* A scheme a plugin of t->options->plugins lists (transfer_plugin.c); SR_ENOENT, setting
 * nothing, when none does. */
int sr_transfer_plugin_init(sr_transfer *t, sr_err *err);

/* Downloads: write n bytes to fd (all of them, retrying short writes), feed digest (may
 * be NULL), count them in result, and sleep as byteRateMax asks. SR_EIO naming the remote
 * the bytes came from on a write error (a full disk is retryable: space may be freed);
 * SR_EREFUSED, writing nothing, when the bytes would pass t->sink_limit. */
int sr_transfer_sink_write(sr_transfer *t, int fd, const void *buf, size_t n, sr_digest *digest,
                           sr_transfer_result *result, sr_err *err);

/* Uploads: read up to n bytes from fd at offset into buf, sleeping as byteRateMax asks
 * and counting them in result. Returns the bytes read (0 at end of file) or -1 with err. */
ssize_t sr_transfer_source_read(sr_transfer *t, int fd, void *buf, size_t n, off_t offset,
                                sr_transfer_result *result, sr_err *err);

/* The pool's options with defaults filled in. */
double sr_transfer_timeout(const sr_transfer *t);
size_t sr_transfer_buffer_size(const sr_transfer *t);
/* The home folder for ~ and ssh files: options.home, else $HOME. */
const char *sr_transfer_home(const sr_transfer *t);

void sr_transfer_notify(const sr_transfer *t, enum sr_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
