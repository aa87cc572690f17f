/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * identity: checksums of files and blocks, the `identity` option, the xattr cache and
 * the v02 `sum` spellings. See identity.h for the formats.
 *
 * Invariants: an sr_identity's value is always NUL-terminated and never cut (too long is
 * an error); sha512/md5 values sr produces are clean base64 (no newline); the cache is
 * written identity first, mtime second, so a crash between the two leaves a cache whose
 * mtime is too old to be trusted rather than a stale identity under a fresh mtime.
 */
#include "identity.h"

#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "buf.h"

/* Read size: large reads keep the syscall count negligible next to the digest itself. */
#define READ_CHUNK (1024 * 1024)
/* sr3's attribute names (sarracenia/filemetadata.py prefixes "user.sr_"). */
#define XATTR_IDENTITY "user.sr_identity"
#define XATTR_MTIME "user.sr_mtime"
/* Ours, beside sr3's: the size the cached identity was computed on. A single large
 * write(2) sets the mtime once, before its data lands, so a file read while such a write
 * is under way has its final mtime already: sr3's mtime test alone would later trust the
 * digest of that partial file for the whole one. Absent (a cache sr3 wrote): the mtime
 * test alone, as sr3 does. */
#define XATTR_SIZE "user.sr_size"
/* Largest cached JSON read back: {"method": "sha512", "value": "<88>"} is about 50 bytes. */
#define XATTR_JSON_MAX 1024
/* The largest digest: sha512 and sha3-512. */
#define DIGEST_BYTES_MAX 64
#define METHODS_HELP                                                                               \
    "sha512, md5, sha256, sha384, sha3-256, sha3-384, sha3-512, cod,sha512, cod,md5, random, "     \
    "arbitrary,VALUE, md5name, none"

static const char *const method_names[] = {
    [SR_ID_NONE] = "none",         [SR_ID_SHA512] = "sha512",       [SR_ID_MD5] = "md5",
    [SR_ID_COD] = "cod",           [SR_ID_ARBITRARY] = "arbitrary", [SR_ID_RANDOM] = "random",
    [SR_ID_MD5NAME] = "md5name",   [SR_ID_SHA256] = "sha256",       [SR_ID_SHA384] = "sha384",
    [SR_ID_SHA3_256] = "sha3-256", [SR_ID_SHA3_384] = "sha3-384",   [SR_ID_SHA3_512] = "sha3-512",
};
#define METHOD_COUNT (sizeof method_names / sizeof method_names[0])

const char *sr_identity_method_name(enum sr_identity_method method)
{
    if ((unsigned)method >= METHOD_COUNT)
        return "unknown";
    return method_names[method];
}

/* The OpenSSL digest of a digest method, or NULL for a method that is none. */
static const EVP_MD *md_of(enum sr_identity_method method)
{
    switch (method) {
    case SR_ID_SHA512:
        return EVP_sha512();
    case SR_ID_MD5:
        return EVP_md5();
    case SR_ID_SHA256:
        return EVP_sha256();
    case SR_ID_SHA384:
        return EVP_sha384();
    case SR_ID_SHA3_256:
        return EVP_sha3_256();
    case SR_ID_SHA3_384:
        return EVP_sha3_384();
    case SR_ID_SHA3_512:
        return EVP_sha3_512();
    default:
        return NULL;
    }
}

bool sr_identity_is_digest(enum sr_identity_method method)
{
    return sr_identity_digest_bytes(method) > 0;
}

size_t sr_identity_digest_bytes(enum sr_identity_method method)
{
    switch (method) {
    case SR_ID_MD5:
        return 16;
    case SR_ID_SHA256:
    case SR_ID_SHA3_256:
        return 32;
    case SR_ID_SHA384:
    case SR_ID_SHA3_384:
        return 48;
    case SR_ID_SHA512:
    case SR_ID_SHA3_512:
        return 64;
    default:
        return 0;
    }
}

int sr_identity_method_from_name(const char *name, enum sr_identity_method *out)
{
    if (name == NULL)
        return SR_EINVAL;
    for (unsigned i = 0; i < METHOD_COUNT; i++) {
        if (strcmp(name, method_names[i]) == 0) {
            *out = (enum sr_identity_method)i;
            return SR_OK;
        }
    }
    return SR_EINVAL;
}

/* ---------------------------------------------------------------------------------- */
/* base64 and hex                                                                      */

static int b64_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard padded base64 (RFC 4648 §4), skipping '\n' and '\r' (sr3's MIME-wrapped
 * values). Strict otherwise: whole quartets, padding only at the end, no stray bits.
 * Returns the byte count, or -1 when in is not such base64 or needs more than outsize. */
static long b64_decode(const char *in, unsigned char *out, size_t outsize)
{
    char quad[4];
    int q = 0;
    size_t o = 0;
    bool ended = false;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            continue;
        if (ended)
            return -1;
        quad[q++] = *p;
        if (q < 4)
            continue;
        q = 0;
        int pad = quad[3] == '=' ? (quad[2] == '=' ? 2 : 1) : 0;
        int v[4];
        for (int i = 0; i < 4 - pad; i++)
            if ((v[i] = b64_digit(quad[i])) < 0)
                return -1;
        for (int i = 4 - pad; i < 4; i++)
            v[i] = 0;
        if ((pad == 2 && (v[1] & 0x0f) != 0) || (pad == 1 && (v[2] & 0x03) != 0))
            return -1;
        size_t n = 3 - (size_t)pad;
        if (o + n > outsize)
            return -1;
        unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
                              (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2),
                              (unsigned char)((v[2] & 0x03) << 6 | v[3])};
        memcpy(out + o, b, n);
        o += n;
        ended = pad != 0;
    }
    return q == 0 ? (long)o : -1;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Exactly 2*n hex digits (either case) into n bytes; false otherwise. */
static bool hex_decode(const char *in, unsigned char *out, size_t n)
{
    if (strlen(in) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = sr_hex_value(in[2 * i]), lo = sr_hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static size_t digest_bytes(enum sr_identity_method method)
{
    return sr_identity_digest_bytes(method);
}

/* Is value base64 of a digest of method's size? */
static bool valid_digest_value(const char *value, enum sr_identity_method method)
{
    unsigned char raw[DIGEST_BYTES_MAX];
    long n = b64_decode(value, raw, sizeof raw);
    return n > 0 && (size_t)n == digest_bytes(method);
}

bool sr_identity_value_valid(enum sr_identity_method method, const char *value)
{
    return value != NULL && sr_identity_is_digest(method) && valid_digest_value(value, method);
}

/* ---------------------------------------------------------------------------------- */
/* the option                                                                          */

int sr_identity_spec_parse(const char *value, sr_identity_spec *out, sr_err *err)
{
    static const struct {
        const char *word;
        enum sr_identity_method method;
    } plain[] = {
        {"sha512", SR_ID_SHA512},     {"s", SR_ID_SHA512},
        {"md5", SR_ID_MD5},           {"d", SR_ID_MD5},
        {"random", SR_ID_RANDOM},     {"0", SR_ID_RANDOM},
        {"md5name", SR_ID_MD5NAME},   {"n", SR_ID_MD5NAME},
        {"none", SR_ID_NONE},         {"sha256", SR_ID_SHA256},
        {"sha384", SR_ID_SHA384},     {"sha3-256", SR_ID_SHA3_256},
        {"sha3-384", SR_ID_SHA3_384}, {"sha3-512", SR_ID_SHA3_512},
    };
    char q[SR_QUOTE_BUF];
    *out = (sr_identity_spec){.method = SR_ID_NONE, .cod_algorithm = SR_ID_NONE};
    if (value == NULL || value[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false,
                          "identity \"\": no method given (" METHODS_HELP ")");
    const char *comma = strchr(value, ',');
    size_t wlen = comma != NULL ? (size_t)(comma - value) : strlen(value);
#define WORD_IS(w) (wlen == strlen(w) && strncasecmp(value, (w), wlen) == 0)
    bool cod = WORD_IS("cod") || WORD_IS("z");
    bool arbitrary = WORD_IS("arbitrary") || WORD_IS("a");
    if (comma == NULL) {
        for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
            if (WORD_IS(plain[i].word)) {
                out->method = plain[i].method;
                return SR_OK;
            }
        }
    }
#undef WORD_IS
    const char *arg = comma != NULL ? comma + 1 : "";
    if (cod) {
        enum sr_identity_method algo = SR_ID_NONE;
        if (strcasecmp(arg, "sha512") == 0 || strcasecmp(arg, "s") == 0)
            algo = SR_ID_SHA512;
        else if (strcasecmp(arg, "md5") == 0 || strcasecmp(arg, "d") == 0)
            algo = SR_ID_MD5;
        if (algo == SR_ID_NONE)
            return sr_err_set(err, SR_EINVAL, false,
                              "identity %s: cod needs the algorithm to use on download: "
                              "cod,sha512 or cod,md5",
                              sr_err_quote(value, q, sizeof q));
        out->method = SR_ID_COD;
        out->cod_algorithm = algo;
        return SR_OK;
    }
    if (arbitrary) {
        size_t len = strlen(arg);
        if (comma == NULL || len == 0)
            return sr_err_set(err, SR_EINVAL, false,
                              "identity %s: arbitrary needs its value: arbitrary,VALUE or a,VALUE",
                              sr_err_quote(value, q, sizeof q));
        if (len > SR_IDENTITY_VALUE_MAX - 1)
            return sr_err_set(err, SR_EINVAL, false,
                              "identity %s: the arbitrary value is %zu bytes long, the most is %d",
                              sr_err_quote(value, q, sizeof q), len, SR_IDENTITY_VALUE_MAX - 1);
        char *copy = strdup(arg);
        if (copy == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "identity: out of memory");
        out->method = SR_ID_ARBITRARY;
        out->arbitrary_value = copy;
        return SR_OK;
    }
    return sr_err_set(err, SR_EINVAL, false, "identity %s: unknown method (" METHODS_HELP ")",
                      sr_err_quote(value, q, sizeof q));
}

void sr_identity_spec_fini(sr_identity_spec *spec)
{
    if (spec == NULL)
        return;
    free(spec->arbitrary_value);
    *spec = (sr_identity_spec){.method = SR_ID_NONE, .cod_algorithm = SR_ID_NONE};
}

/* ---------------------------------------------------------------------------------- */
/* streaming digests                                                                   */

struct sr_digest {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
    enum sr_identity_method method;
    bool failed; /* an update failed: the next final reports it */
};

/* err from OpenSSL's error queue (which this empties). */
static int ssl_error(sr_err *err, const char *what, enum sr_identity_method method)
{
    unsigned long e = ERR_get_error();
    char text[256] = "unknown OpenSSL error";
    if (e != 0)
        ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    return sr_err_set(err, SR_EIO, false, "digest %s: %s: %s", sr_identity_method_name(method),
                      what, text);
}

sr_digest *sr_digest_new(enum sr_identity_method method, sr_err *err)
{
    const EVP_MD *md = md_of(method);
    if (md == NULL) {
        sr_err_set(err, SR_EINVAL, false,
                   "digest: method %s has no digest (sha512, md5, sha256, sha384, sha3-256, "
                   "sha3-384, sha3-512 only)",
                   sr_identity_method_name(method));
        return NULL;
    }
    sr_digest *d = calloc(1, sizeof *d);
    if (d == NULL || (d->ctx = EVP_MD_CTX_new()) == NULL) {
        free(d);
        sr_err_set(err, SR_ENOMEM, false, "digest %s: out of memory",
                   sr_identity_method_name(method));
        return NULL;
    }
    d->md = md;
    d->method = method;
    if (EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
        ssl_error(err, "cannot start", method);
        sr_digest_free(d);
        return NULL;
    }
    return d;
}

void sr_digest_update(sr_digest *d, const void *data, size_t len)
{
    if (d->failed || len == 0)
        return;
    if (EVP_DigestUpdate(d->ctx, data, len) != 1)
        d->failed = true;
}

int sr_digest_final(sr_digest *d, sr_identity *out, sr_err *err)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = SR_OK;
    if (d->failed)
        rc = ssl_error(err, "update failed", d->method);
    else if (EVP_DigestFinal_ex(d->ctx, raw, &n) != 1)
        rc = ssl_error(err, "cannot finish", d->method);
    else {
        out->method = d->method;
        /* base64 of 64 bytes (the largest digest) is 88 characters: well inside value. */
        EVP_EncodeBlock((unsigned char *)out->value, raw, (int)n);
    }
    /* Ready for the next stream, whatever happened to this one. */
    d->failed = EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1;
    if (d->failed)
        ERR_clear_error();
    return rc;
}

void sr_digest_free(sr_digest *d)
{
    if (d == NULL)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

int sr_identity_hex_of(enum sr_identity_method method, const void *data, size_t len, char *hex,
                       size_t size, sr_err *err)
{
    const EVP_MD *md = md_of(method);
    if (md == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "digest: method %s has no digest (sha512, md5, sha256, sha384, "
                          "sha3-256, sha3-384, sha3-512 only)",
                          sr_identity_method_name(method));
    size_t need = 2 * digest_bytes(method) + 1;
    if (hex == NULL || size < need)
        return sr_err_set(err, SR_EINVAL, false, "digest %s: hex needs %zu bytes, have %zu",
                          sr_identity_method_name(method), need, hex == NULL ? 0 : size);
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, raw, &n, md, NULL) != 1)
        return ssl_error(err, "cannot compute", method);
    hex_encode(raw, n, hex);
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* identities of files and blocks                                                      */

/* Methods that need no content: cod, random, arbitrary, none, md5name. */
static int identity_without_content(const sr_identity_spec *spec, sr_identity *out, sr_err *err)
{
    sr_identity id = {.method = spec->method};
    switch (spec->method) {
    case SR_ID_COD:
        if (spec->cod_algorithm != SR_ID_SHA512 && spec->cod_algorithm != SR_ID_MD5)
            return sr_err_set(err, SR_EINVAL, false,
                              "identity cod: no algorithm (cod,sha512 or cod,md5)");
        snprintf(id.value, sizeof id.value, "%s", sr_identity_method_name(spec->cod_algorithm));
        break;
    case SR_ID_RANDOM: {
        /* 0000..9999, uniformly: drop draws past the last whole multiple of 10000. */
        uint16_t r;
        do {
            ssize_t n = getrandom(&r, sizeof r, 0);
            if (n != (ssize_t)sizeof r) {
                if (n < 0 && errno == EINTR)
                    r = UINT16_MAX;
                else
                    return sr_err_set(err, SR_EIO, true, "identity random: getrandom: %s",
                                      n < 0 ? strerror(errno) : "short read");
            }
        } while (r >= 60000);
        snprintf(id.value, sizeof id.value, "%04u", (unsigned)(r % 10000));
        break;
    }
    case SR_ID_ARBITRARY: {
        const char *v = spec->arbitrary_value;
        if (v == NULL || v[0] == '\0')
            return sr_err_set(err, SR_EINVAL, false,
                              "identity arbitrary: no value (arbitrary,VALUE or a,VALUE)");
        if (strlen(v) > SR_IDENTITY_VALUE_MAX - 1)
            return sr_err_set(err, SR_EINVAL, false,
                              "identity arbitrary: the value is %zu bytes long, the most is %d",
                              strlen(v), SR_IDENTITY_VALUE_MAX - 1);
        memcpy(id.value, v, strlen(v) + 1);
        break;
    }
    case SR_ID_NONE:
    case SR_ID_MD5NAME:
        break;
    default:
        return sr_err_set(err, SR_EINVAL, false, "identity: method %s needs the content",
                          sr_identity_method_name(spec->method));
    }
    *out = id;
    return SR_OK;
}

static bool needs_content(enum sr_identity_method method)
{
    return sr_identity_is_digest(method);
}

/* Feed length bytes of fd from offset to d. Messages name the byte, not the file. */
static int digest_range(int fd, off_t offset, off_t length, sr_digest *d,
                        unsigned long long *bytes_read, sr_err *err)
{
    if (length <= 0)
        return SR_OK;
    size_t bufsize = length < READ_CHUNK ? (size_t)length : READ_CHUNK;
    unsigned char *buf = malloc(bufsize);
    if (buf == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory for a %zu-byte read buffer",
                          bufsize);
    (void)posix_fadvise(fd, offset, length, POSIX_FADV_SEQUENTIAL);
    int rc = SR_OK;
    off_t done = 0;
    while (done < length) {
        off_t left = length - done;
        size_t want = left < (off_t)bufsize ? (size_t)left : bufsize;
        ssize_t n = pread(fd, buf, want, offset + done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = sr_err_set(err, SR_EIO, true, "read at byte %lld: %s", (long long)(offset + done),
                            strerror(errno));
            break;
        }
        if (n == 0) {
            rc = sr_err_set(err, SR_EIO, true,
                            "ended at byte %lld, %lld bytes before the %lld expected",
                            (long long)(offset + done), (long long)(length - done),
                            (long long)(offset + length));
            break;
        }
        sr_digest_update(d, buf, (size_t)n);
        done += n;
        *bytes_read += (unsigned long long)n;
    }
    free(buf);
    return rc;
}

/* The cached identity of fd, when there is one for method at least as new as the file's
 * mtime, and computed on its size when the cache says which. */
static bool cache_load(int fd, enum sr_identity_method method, const struct stat *st,
                       sr_identity *out)
{
    char text[SR_TIME_MAX + 64];
    ssize_t n = fgetxattr(fd, XATTR_MTIME, text, sizeof text - 1);
    if (n <= 0)
        return false;
    text[n] = '\0';
    struct timespec cached;
    if (sr_time_parse(text, &cached, NULL) != SR_OK || sr_time_cmp(&cached, &st->st_mtim) < 0)
        return false;
    n = fgetxattr(fd, XATTR_SIZE, text, sizeof text - 1);
    if (n > 0) {
        text[n] = '\0';
        char *end;
        errno = 0;
        long long size = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || size != (long long)st->st_size)
            return false;
    } else if (n == 0 || errno != ENODATA) {
        return false;
    }
    char json[XATTR_JSON_MAX];
    n = fgetxattr(fd, XATTR_IDENTITY, json, sizeof json);
    if (n <= 0)
        return false;
    json_t *root = json_loadb(json, (size_t)n, 0, NULL);
    if (root == NULL)
        return false;
    const char *m = json_string_value(json_object_get(root, "method"));
    const char *v = json_string_value(json_object_get(root, "value"));
    bool ok = m != NULL && v != NULL && strcmp(m, sr_identity_method_name(method)) == 0 &&
              strlen(v) < sizeof out->value && valid_digest_value(v, method);
    if (ok) {
        out->method = method;
        memcpy(out->value, v, strlen(v) + 1);
    }
    json_decref(root);
    return ok;
}

/* Write errors that mean "no cache here", not "something is wrong". */
static bool cache_unavailable(int e)
{
    return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES || e == EROFS ||
           e == ENOSPC || e == EDQUOT || e == E2BIG;
}

static int cache_write(int fd, const sr_identity *id, const struct stat *st, sr_err *err)
{
    char mt[SR_TIME_MAX], size[32];
    if (sr_time_format(&st->st_mtim, true, mt, sizeof mt) < 0)
        return SR_OK; /* an mtime outside 1970..9999 cannot be written: no cache */
    snprintf(size, sizeof size, "%lld", (long long)st->st_size);
    /* Default separators, as sr3's json.dumps: {"method": "sha512", "value": "..."}. A
     * method name and a base64 value need no escaping, so the usual case is printed as
     * jansson would print it; a value with line breaks (wrapped base64) goes through
     * jansson, which escapes them. */
    char *json = NULL;
    if (strpbrk(id->value, "\r\n") == NULL) {
        if (asprintf(&json, "{\"method\": \"%s\", \"value\": \"%s\"}",
                     sr_identity_method_name(id->method), id->value) < 0)
            json = NULL;
    } else {
        json_t *obj = json_object();
        if (obj == NULL ||
            json_object_set_new(obj, "method", json_string(sr_identity_method_name(id->method))) ||
            json_object_set_new(obj, "value", json_string(id->value))) {
            json_decref(obj);
            return sr_err_set(err, SR_ENOMEM, false, "identity cache: out of memory");
        }
        json = json_dumps(obj, 0);
        json_decref(obj);
    }
    if (json == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "identity cache: out of memory");
    int rc = SR_OK;
    const char *name = XATTR_IDENTITY;
    int ok = fsetxattr(fd, name, json, strlen(json), 0);
    if (ok == 0) {
        name = XATTR_SIZE;
        ok = fsetxattr(fd, name, size, strlen(size), 0);
    }
    if (ok == 0) {
        name = XATTR_MTIME;
        ok = fsetxattr(fd, name, mt, strlen(mt), 0);
    }
    if (ok != 0 && !cache_unavailable(errno))
        rc = sr_err_set(err, SR_EIO, true, "cannot write the %s attribute: %s", name,
                        strerror(errno));
    free(json);
    return rc;
}

/* Whether id may be stored: SR_OK, -1 (a method not cached: nothing to do) or an error. */
static int cache_storable(const sr_identity *id, sr_err *err)
{
    if (!needs_content(id->method))
        return -1;
    if (!valid_digest_value(id->value, id->method))
        return sr_err_set(err, SR_EINVAL, false,
                          "identity cache: the %s value is not base64 of a %zu-byte digest",
                          sr_identity_method_name(id->method), digest_bytes(id->method));
    return SR_OK;
}

int sr_identity_cache_store(int fd, const sr_identity *id, sr_err *err)
{
    int rc = cache_storable(id, err);
    if (rc != SR_OK)
        return rc < 0 ? SR_OK : rc;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sr_err_set(err, SR_EIO, false, "identity cache: fstat fd %d: %s", fd,
                          strerror(errno));
    return cache_write(fd, id, &st, err);
}

int sr_identity_cache_store_as(int fd, const sr_identity *id, off_t size,
                               const struct timespec *mtime, sr_err *err)
{
    int rc = cache_storable(id, err);
    if (rc != SR_OK)
        return rc < 0 ? SR_OK : rc;
    struct stat st = {.st_size = size, .st_mtim = *mtime};
    return cache_write(fd, id, &st, err);
}

static int digest_fd(int fd, off_t offset, off_t length, enum sr_identity_method method,
                     sr_identity *out, unsigned long long *bytes_read, sr_err *err)
{
    sr_digest *d = sr_digest_new(method, err);
    if (d == NULL)
        return err != NULL ? err->code : SR_ENOMEM;
    int rc = digest_range(fd, offset, length, d, bytes_read, err);
    if (rc == SR_OK)
        rc = sr_digest_final(d, out, err);
    sr_digest_free(d);
    return rc;
}

static int open_error(const char *path, int e, sr_err *err)
{
    int code = e == ENOENT || e == ENOTDIR ? SR_ENOENT
               : e == EACCES || e == EPERM ? SR_EPERM
                                           : SR_EIO;
    return sr_err_set(err, code, code == SR_EIO, "%s: cannot open: %s", path, strerror(e));
}

int sr_identity_of_fd(int fd, const char *name, const sr_identity_spec *spec, int flags,
                      sr_identity *out, sr_identity_stats *stats, sr_err *err)
{
    sr_identity_stats ignored;
    if (stats == NULL)
        stats = &ignored;
    *stats = (sr_identity_stats){0};
    if (!needs_content(spec->method))
        return identity_without_content(spec, out, err);
    int rc = SR_OK;
    struct stat st;
    sr_identity id = {.method = SR_ID_NONE};
    bool use_cache = (flags & SR_IDENTITY_NO_CACHE) == 0;
    if (fstat(fd, &st) != 0)
        rc = sr_err_set(err, SR_EIO, true, "%s: fstat: %s", name, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = sr_err_set(err, SR_EINVAL, false, "%s: not a regular file", name);
    else if (use_cache && cache_load(fd, spec->method, &st, &id))
        stats->from_cache = true;
    else {
        /* Cached only when the file did not change while it was read: the digest is of
         * its first st_size bytes, which are not the file's content if it grew. */
        rc = digest_fd(fd, 0, st.st_size, spec->method, &id, &stats->bytes_read, err);
        struct stat after;
        if (rc == SR_OK && use_cache && fstat(fd, &after) == 0 && after.st_size == st.st_size &&
            sr_time_cmp(&after.st_mtim, &st.st_mtim) == 0)
            rc = cache_write(fd, &id, &st, err);
        if (rc != SR_OK)
            sr_err_prefix(err, "%s", name);
    }
    if (rc == SR_OK)
        *out = id;
    return rc;
}

int sr_identity_of_file(const char *path, const sr_identity_spec *spec, int flags, sr_identity *out,
                        sr_identity_stats *stats, sr_err *err)
{
    if (!needs_content(spec->method)) {
        if (stats != NULL)
            *stats = (sr_identity_stats){0};
        return identity_without_content(spec, out, err);
    }
    /* O_NONBLOCK: a FIFO must not hang us; it is refused as anything but a regular file */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return open_error(path, errno, err);
    int rc = sr_identity_of_fd(fd, path, spec, flags, out, stats, err);
    close(fd);
    return rc;
}

int sr_identity_of_range(int fd, off_t offset, off_t length, const sr_identity_spec *spec,
                         sr_identity *out, sr_identity_stats *stats, sr_err *err)
{
    sr_identity_stats ignored;
    if (stats == NULL)
        stats = &ignored;
    *stats = (sr_identity_stats){0};
    if (!needs_content(spec->method))
        return identity_without_content(spec, out, err);
    if (offset < 0 || length < 0)
        return sr_err_set(err, SR_EINVAL, false, "fd %d: bad range: offset %lld, length %lld", fd,
                          (long long)offset, (long long)length);
    sr_identity id = {.method = SR_ID_NONE};
    int rc = digest_fd(fd, offset, length, spec->method, &id, &stats->bytes_read, err);
    if (rc != SR_OK) {
        sr_err_prefix(err, "fd %d bytes %lld..%lld", fd, (long long)offset,
                      (long long)(offset + length));
        return rc;
    }
    *out = id;
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* comparing                                                                           */

/* Equal, ignoring '\n' and '\r' on either side. */
static bool b64_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == '\n' || *a == '\r')
            a++;
        while (*b == '\n' || *b == '\r')
            b++;
        if (*a != *b)
            return false;
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
}

bool sr_identity_equal(const sr_identity *a, const sr_identity *b)
{
    if (a == NULL || b == NULL || a->method != b->method)
        return false;
    if (sr_identity_is_digest(a->method))
        return a->value[0] != '\0' && b64_equal(a->value, b->value);
    if (a->method == SR_ID_ARBITRARY)
        return a->value[0] != '\0' && strcmp(a->value, b->value) == 0;
    return false;
}

/* ---------------------------------------------------------------------------------- */
/* v02 sums                                                                            */

int sr_identity_to_v02(const sr_identity *id, char *buf, size_t size, sr_err *err)
{
    char q[SR_QUOTE_BUF];
    char local[SR_IDENTITY_V02_MAX];
    int n = -1;
    switch (id->method) {
    case SR_ID_SHA512:
    case SR_ID_MD5: {
        unsigned char raw[DIGEST_BYTES_MAX];
        long len = b64_decode(id->value, raw, sizeof raw);
        if (len < 0 || (size_t)len != digest_bytes(id->method))
            return sr_err_set(err, SR_EINVAL, false,
                              "identity %s value %s is not base64 of a %zu-byte digest",
                              sr_identity_method_name(id->method),
                              sr_err_quote(id->value, q, sizeof q), digest_bytes(id->method));
        char hex[2 * DIGEST_BYTES_MAX + 1];
        hex_encode(raw, (size_t)len, hex);
        n = snprintf(local, sizeof local, "%c,%s", id->method == SR_ID_SHA512 ? 's' : 'd', hex);
        break;
    }
    case SR_ID_COD:
        if (strcmp(id->value, "sha512") != 0 && strcmp(id->value, "md5") != 0)
            return sr_err_set(err, SR_EINVAL, false,
                              "identity cod value %s names no algorithm sr knows (sha512, md5)",
                              sr_err_quote(id->value, q, sizeof q));
        n = snprintf(local, sizeof local, "z,%c", id->value[0] == 's' ? 's' : 'd');
        break;
    case SR_ID_ARBITRARY:
    case SR_ID_RANDOM:
        if (id->value[0] == '\0')
            return sr_err_set(err, SR_EINVAL, false, "identity %s has an empty value",
                              sr_identity_method_name(id->method));
        n = snprintf(local, sizeof local, "%c,%s", id->method == SR_ID_ARBITRARY ? 'a' : '0',
                     id->value);
        break;
    case SR_ID_SHA256:
    case SR_ID_SHA384:
    case SR_ID_SHA3_256:
    case SR_ID_SHA3_384:
    case SR_ID_SHA3_512:
        return sr_err_set(err, SR_EINVAL, false,
                          "identity %s has no v02 sum (v02 knows sha512 and md5 digests only)",
                          sr_identity_method_name(id->method));
    default:
        return sr_err_set(err, SR_EINVAL, false,
                          "identity %s has no v02 sum of its own (the converter writes "
                          "n,<md5 of the file name>)",
                          sr_identity_method_name(id->method));
    }
    if (n < 0 || (size_t)n >= sizeof local)
        return sr_err_set(err, SR_EINVAL, false, "identity %s: value too long for a v02 sum",
                          sr_identity_method_name(id->method));
    if (buf == NULL || (size_t)n >= size)
        return sr_err_set(err, SR_EINVAL, false, "v02 sum: needs %d bytes, the buffer has %zu",
                          n + 1, buf == NULL ? 0 : size);
    memcpy(buf, local, (size_t)n + 1);
    return SR_OK;
}

int sr_identity_from_v02(const char *sum, sr_identity *out, bool *no_identity, sr_err *err)
{
    char q[SR_QUOTE_BUF];
    sr_identity id = {.method = SR_ID_NONE};
    *no_identity = false;
    if (sum == NULL || sum[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "v02 sum \"\": empty");
    char letter = sum[0];
    if (strchr("LRmr", letter) != NULL && (sum[1] == ',' || sum[1] == '\0')) {
        *no_identity = true;
        *out = id;
        return SR_IDENTITY_FILEOP;
    }
    if (sum[1] != ',')
        return sr_err_set(err, SR_EINVAL, false, "v02 sum %s: not <letter>,<value>",
                          sr_err_quote(sum, q, sizeof q));
    const char *v = sum + 2;
    switch (letter) {
    case 's':
    case 'd': {
        id.method = letter == 's' ? SR_ID_SHA512 : SR_ID_MD5;
        size_t n = digest_bytes(id.method);
        unsigned char raw[DIGEST_BYTES_MAX];
        if (!hex_decode(v, raw, n))
            return sr_err_set(err, SR_EINVAL, false, "v02 sum %s: %s needs %zu hex digits",
                              sr_err_quote(sum, q, sizeof q), sr_identity_method_name(id.method),
                              2 * n);
        EVP_EncodeBlock((unsigned char *)id.value, raw, (int)n);
        break;
    }
    case 'z':
        id.method = SR_ID_COD;
        if (strcmp(v, "s") == 0 || strcmp(v, "sha512") == 0)
            memcpy(id.value, "sha512", 7);
        else if (strcmp(v, "d") == 0 || strcmp(v, "md5") == 0)
            memcpy(id.value, "md5", 4);
        else
            return sr_err_set(err, SR_EINVAL, false,
                              "v02 sum %s: cod needs its algorithm: z,s or z,d",
                              sr_err_quote(sum, q, sizeof q));
        break;
    case 'a':
    case '0': {
        id.method = letter == 'a' ? SR_ID_ARBITRARY : SR_ID_RANDOM;
        size_t len = strlen(v);
        if (len == 0 || len > SR_IDENTITY_VALUE_MAX - 1)
            return sr_err_set(err, SR_EINVAL, false,
                              "v02 sum %s: the %s value must be 1 to %d bytes, not %zu",
                              sr_err_quote(sum, q, sizeof q), sr_identity_method_name(id.method),
                              SR_IDENTITY_VALUE_MAX - 1, len);
        memcpy(id.value, v, len + 1);
        break;
    }
    case 'n':
    case 'p':
        /* md5name, and sarrac's p (a sum of the name and parts): nothing about the content */
        id.method = letter == 'n' ? SR_ID_MD5NAME : SR_ID_NONE;
        *no_identity = true;
        break;
    default:
        return sr_err_set(err, SR_EINVAL, false, "v02 sum %s: unknown method letter '%c'",
                          sr_err_quote(sum, q, sizeof q), letter);
    }
    *out = id;
    return SR_OK;
}
