/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * identity: file identities, the checksums sr3 puts in a message's `identity` field, their
 * v02 `sum` spellings, and the extended-attribute cache (sr-message(7), Identity methods).
 *
 *   method      v03 value                                    v02 sum
 *   sha512      base64 (RFC 4648, padded) of the digest      s,<lowercase hex>
 *   md5         base64 of the digest                         d,<hex>
 *   sha256, sha384, sha3-256, sha3-384, sha3-512
 *               base64 of the digest (the methods of a WIS2 notification message's
 *               integrity, spelled as it spells them)        - (v02 has no letter)
 *   cod         the algorithm name, "sha512" or "md5"        z,s / z,d
 *   arbitrary   a value given by the config or the producer  a,<value>
 *   random      4 decimal digits, "0000".."9999"             0,<value>
 *   md5name     (no identity field in v03)                   n,<md5 hex of the file name>
 *   none        (no identity field)                          -
 *
 * Digests stream (sr_digest_*), so the transfer layer can checksum a download on the fly.
 * The cache is sr3's, byte for byte, so sr and sr3 share it on the same files:
 *   user.sr_identity  {"method": "sha512", "value": "<base64>"}
 *   user.sr_mtime     the file's mtime when it was computed, a v03 time string
 * and a cached identity is used when its method is the one asked for and the cached mtime
 * is >= the file's mtime (sr3's rule). sr adds
 *   user.sr_size      the file's size when it was computed, in decimal
 * and then also wants that size: a single large write(2) sets the mtime before its data
 * lands, so a file read during one already has its final mtime, and sr3's rule alone
 * would trust the digest of the partial file later. sr caches nothing read while the
 * file's size or mtime changed. A file whose content changes within one tick of
 * the file system's timestamp clock, after sr has read its mtime, can keep a stale entry:
 * sr3 shares this limit, and kernels with fine-grained timestamps (Linux 6.13+) close it.
 * Whoever writes a file in place must store the new identity (sr_identity_cache_store),
 * since the old inode's attributes survive the write.
 */
#ifndef SR_IDENTITY_H
#define SR_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

enum sr_identity_method {
    SR_ID_NONE,
    SR_ID_SHA512,
    SR_ID_MD5,
    SR_ID_COD,
    SR_ID_ARBITRARY,
    SR_ID_RANDOM,
    SR_ID_MD5NAME,
    /* WIS2's (WNM integrity.method): digests like sha512, unknown to sr3 and v02 */
    SR_ID_SHA256,
    SR_ID_SHA384,
    SR_ID_SHA3_256,
    SR_ID_SHA3_384,
    SR_ID_SHA3_512,
};

/* Is method a digest of the content (sha512, md5 and the WIS2 ones): the methods that say
 * whether two files are the same, that a download is checked against and the cache keeps. */
bool sr_identity_is_digest(enum sr_identity_method method);

/* Bytes of method's digest (64 for sha512), or 0 for a method that is no digest. */
size_t sr_identity_digest_bytes(enum sr_identity_method method);

/* Is value base64 (padded, RFC 4648; newlines ignored) of a digest of method's size? False
 * for a method that is no digest. */
bool sr_identity_value_valid(enum sr_identity_method method, const char *value);

/* "none", "sha512", "md5", "cod", "arbitrary", "random", "md5name", "sha256", "sha384",
 * "sha3-256", "sha3-384", "sha3-512" (the v03 and WNM spelling); "unknown" for a value
 * outside the enum. */
const char *sr_identity_method_name(enum sr_identity_method method);

/* The method a v03 name (exactly as above, case sensitive) stands for: SR_OK, or SR_EINVAL
 * leaving *out untouched (a message may carry a method sr does not know). */
int sr_identity_method_from_name(const char *name, enum sr_identity_method *out);

/* The `identity` option's value (aliases `sum`, `integrity`). */
typedef struct sr_identity_spec {
    enum sr_identity_method method;
    enum sr_identity_method cod_algorithm; /* SR_ID_SHA512 or SR_ID_MD5 when method is COD */
    char *arbitrary_value;                 /* owned; set when method is ARBITRARY */
} sr_identity_spec;

/* Longest arbitrary (or received) identity value, in bytes; sr_identity.value holds it and
 * its NUL. Longer values are refused, never cut. */
#define SR_IDENTITY_VALUE_MAX 256

/* Parse an `identity` option value. Method words and v2 letters in any case:
 *   sha512 | s     md5 | d     random | 0     md5name | n     none
 *   sha256 | sha384 | sha3-256 | sha3-384 | sha3-512   (WIS2's; no v02 letter)
 *   cod,ALGO | z,ALGO   (ALGO: sha512, md5, s or d)
 *   arbitrary,VALUE | a,VALUE   (VALUE: 1..255 bytes, kept as written)
 * *out is overwritten (call sr_identity_spec_fini first when reusing one); on error it is
 * left as SR_ID_NONE with nothing to free and err quotes the value. */
int sr_identity_spec_parse(const char *option_value, sr_identity_spec *out, sr_err *err);

/* Free what a spec owns and reset it to SR_ID_NONE. */
void sr_identity_spec_fini(sr_identity_spec *spec);

/* A message's identity: the method and its value as a NUL-terminated string ("" for NONE
 * and MD5NAME). */
typedef struct sr_identity {
    enum sr_identity_method method;
    char value[SR_IDENTITY_VALUE_MAX];
} sr_identity;

/* Streaming digest (OpenSSL EVP). sr_digest_new accepts the digest methods only
 * (sr_identity_is_digest; NULL and err set otherwise, or when out of memory). Feed bytes
 * in pieces of any size; sr_digest_final writes the base64 value into out and resets d for a new
 * stream, so one digest can checksum block after block. A failure inside update is kept and
 * reported by the next final. sr_digest_free(NULL) is a no-op. */
typedef struct sr_digest sr_digest;
sr_digest *sr_digest_new(enum sr_identity_method method, sr_err *err);
void sr_digest_update(sr_digest *d, const void *data, size_t len);
int sr_digest_final(sr_digest *d, sr_identity *out, sr_err *err);
void sr_digest_free(sr_digest *d);

/* sr_identity_of_file flags. */
#define SR_IDENTITY_NO_CACHE 0x1 /* neither read nor write the xattr cache */

/* What computing an identity cost: bytes read from the file, and whether the xattr cache
 * answered (then bytes_read is 0). */
typedef struct sr_identity_stats {
    unsigned long long bytes_read;
    bool from_cache;
} sr_identity_stats;

/* The identity of the file at path, as spec asks:
 *   sha512, md5 (and every digest method)
 *                 the digest of the file's first st_size bytes (as fstat reports them when
 *                 it is opened, so it matches the size announced), read in 1 MiB pieces;
 *                 the xattr cache is used and refreshed unless flags has
 *                 SR_IDENTITY_NO_CACHE. A file system without user xattrs (ENOTSUP),
 *                 or a file sr may not annotate (EPERM, EACCES, EROFS, and ENOSPC, EDQUOT,
 *                 E2BIG) works without the cache: those write errors are ignored.
 *   cod           value = the algorithm name; the file is not opened
 *   random        value = 4 random decimal digits; the file is not opened
 *   arbitrary     value = spec->arbitrary_value; the file is not opened
 *   none, md5name method NONE / MD5NAME with an empty value; the file is not opened
 * Refuses what is not a regular file. A file that ends before its fstat size (it shrank
 * while read) is a retryable SR_EIO. stats may be NULL. */
int sr_identity_of_file(const char *path, const sr_identity_spec *spec, int flags, sr_identity *out,
                        sr_identity_stats *stats, sr_err *err);

/* The same for a file already open (read with pread from offset 0: fd's offset does not
 * move); name is for error messages. */
int sr_identity_of_fd(int fd, const char *name, const sr_identity_spec *spec, int flags,
                      sr_identity *out, sr_identity_stats *stats, sr_err *err);

/* The identity of length bytes of fd from offset (one block of a partitioned file),
 * methods as above; read with pread, so fd's offset does not move; never cached. Bytes
 * missing before offset + length are a retryable SR_EIO. Errors name the fd and range:
 * callers prefix the path (sr_err_prefix). */
int sr_identity_of_range(int fd, off_t offset, off_t length, const sr_identity_spec *spec,
                         sr_identity *out, sr_identity_stats *stats, sr_err *err);

/* Store id in fd's xattr cache with fd's current mtime: for the transfer layer after a
 * download (identity computed on the fly, mtime set from the message). The caller vouches
 * that id is the identity of the file's content. Only digest identities are
 * stored (others return SR_OK doing nothing); the write errors sr_identity_of_file
 * ignores are ignored here too. */
int sr_identity_cache_store(int fd, const sr_identity *id, sr_err *err);

/* The same with the size and mtime the caller knows fd has, having just written the one
 * and set the other (an fstat saved per file). mtime may be coarser on disk (a file
 * system with a coarser clock truncates it): the cached one is then newer, still valid. */
int sr_identity_cache_store_as(int fd, const sr_identity *id, off_t size,
                               const struct timespec *mtime, sr_err *err);

/* Do a and b name the same content? Same method, and the same value ignoring '\n' and '\r'
 * inside digest values (sr3's v02 to v03 conversion wraps base64 at 76 characters);
 * arbitrary values compare exactly. Never true when either is random, cod, none or
 * md5name: those say nothing about the content. */
bool sr_identity_equal(const sr_identity *a, const sr_identity *b);

/* Longest v02 sum sr_identity_to_v02 writes, with its NUL ("a," + 255 bytes). */
#define SR_IDENTITY_V02_MAX (SR_IDENTITY_VALUE_MAX + 2)

/* The v02 `sum` header for id: s,<hex>, d,<hex>, z,s, z,d, a,<value>, 0,<value>.
 * SR_EINVAL for none and md5name (the converter writes n,<md5 hex of the basename>
 * itself, see sr_identity_hex_of) and for a sha512/md5 value that is not base64 of a
 * digest of the method's size (newlines inside are ignored). */
int sr_identity_to_v02(const sr_identity *id, char *buf, size_t size, sr_err *err);

/* Returned by sr_identity_from_v02 for a fileOp sum (not an identity, not an error). */
#define SR_IDENTITY_FILEOP 64

/* Read a v02 `sum` header "<letter>,<value>" into *out:
 *   s,<128 hex> sha512   d,<32 hex> md5 (either case; becomes base64)
 *   z,s z,d (z,sha512 z,md5) cod     a,<value> arbitrary     0,<value> random
 * Returns SR_OK with *no_identity false for those.
 *   n,<anything>  (md5name) and p,<anything> (sarrac's sum of the name and parts, not of
 *                 the content): SR_OK, *no_identity true, out->method MD5NAME or NONE,
 *                 value "": the v03 message carries no identity.
 *   L, R, m, r    (link, remove, mkdir, rmdir: fileOps spelled as sums): returns
 *                 SR_IDENTITY_FILEOP, *no_identity true, out->method NONE, err untouched.
 *                 The letter is sum_header[0]; the converter builds the fileOp from it.
 * Anything else is SR_EINVAL with err quoting the header. */
int sr_identity_from_v02(const char *sum_header, sr_identity *out, bool *no_identity, sr_err *err);

/* The lowercase hex digest (any digest method) of len bytes at data, into hex (129 bytes
 * hold the largest, a sha512 or sha3-512): for v02's n,<md5 of the name> and L/R/m/r,<sha512 of the
 * name or link>. */
int sr_identity_hex_of(enum sr_identity_method method, const void *data, size_t len, char *hex,
                       size_t size, sr_err *err);

#endif
