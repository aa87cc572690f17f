/* SPDX-License-Identifier: GPL-2.0-only */
/* test_identity: file identities (sr-message(7), Identity methods), the identity option, the
 * sr3 xattr cache and the v02 sum spellings (sr-message(7), V02), with the values of sr3's
 * own messages for the same file (test/data/messages: v03/hello_sha512.json, v02/hello.v02,
 * v02/dd_md5.v02). */
#include "unit.h"

#include "identity.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* "hello world\n", the file of sr3's messages in test/data/messages and of sr-message(7)'s
 * examples */
#define HELLO "hello world\n"
#define HELLO_SHA512                                                                               \
    "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw=="
#define HELLO_SHA512_HEX                                                                           \
    "db3974a97f2407b7cae1ae637c0030687a11913274d578492558e39c16c017de84eacdc8c62fe34ee4e12b4b1428" \
    "817f09b6a2760c3f8a664ceae94d2434a593"
/* sr3's v02 to v03 conversion wraps base64 at 76 characters (sr-message(7), Identity
 * methods) */
#define HELLO_SHA512_WRAPPED                                                                       \
    "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM\n"               \
    "6ulNJDSlkw=="
#define HELLO_MD5 "b1kCrCNwJL3QwXbLkwY9xA=="
#define HELLO_MD5_HEX "6f5902ac237024bdd0c176cb93063dc4"
#define EMPTY_SHA512                                                                               \
    "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
#define EMPTY_MD5 "1B2M2Y8AsgTpgAmY7PhCfg=="
/* WIS2's methods (a WNM's integrity), of HELLO, as Python's hashlib and base64 give them */
#define HELLO_SHA256 "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc="
#define HELLO_SHA256_HEX "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define HELLO_SHA384 "aztp/wpATyjXXpigZtP8ZP/9mUCHDMaL7OKFRbmnUIazQ9ehNmg4CD5Ljzym/TyA"
#define HELLO_SHA3_256 "qACaelKNh3eMNW2jpV2WRxnoGGZqBOT5YMniQ5418Tg="
#define HELLO_SHA3_384 "KPwwjU1cHvnmCs7bE8Oh/PcmZWBgLGOQAFgK41Qd6lznimhd6Jfpa2Wg/BVRXDeA"
#define HELLO_SHA3_512                                                                             \
    "SpNsvB2ylr0I0cC79aZqGJfzXubZMEfg7f+JPfvLoC8eFXDoXRGH6ia+ptVBmeBlbxt8IbnMIQK47SoSdp9FMQ=="
#define MIB (1024 * 1024)

/* ---------------------------------------------------------------------------------- */
/* helpers                                                                             */

static char tmpdir[256];
static bool tmp_xattrs; /* does tmpdir's file system keep user xattrs? */

/* A temporary folder, on a file system with user xattrs when one of the usual places has
 * them (tmpfs before Linux 6.6 does not). */
static int setup(void **state)
{
    (void)state;
    /* "build": the build folder `make unit` runs beside, on the disk of the checkout */
    const char *candidates[] = {getenv("SR_TEST_TMPDIR"), getenv("TMPDIR"), "/tmp", "/var/tmp",
                                "build"};
    tmpdir[0] = '\0';
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (candidates[i] == NULL || candidates[i][0] == '\0')
            continue;
        char dir[256];
        snprintf(dir, sizeof dir, "%s/sr_test_identity.XXXXXX", candidates[i]);
        if (mkdtemp(dir) == NULL)
            continue;
        bool xattrs = setxattr(dir, "user.sr_probe", "1", 1, 0) == 0;
        if (tmpdir[0] == '\0' || xattrs) {
            if (tmpdir[0] != '\0')
                rmdir(tmpdir);
            snprintf(tmpdir, sizeof tmpdir, "%s", dir);
            tmp_xattrs = xattrs;
        } else {
            rmdir(dir);
        }
        if (tmp_xattrs)
            break;
    }
    return tmpdir[0] == '\0' ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
    return buf;
}

/* Write len bytes to path in place (keeping the inode and its xattrs). */
static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void set_mtime(const char *path, const char *v03)
{
    struct timespec t[2];
    assert_int_equal(sr_time_parse(v03, &t[1], NULL), SR_OK);
    t[0] = t[1];
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Pseudo-random bytes (xorshift), the same for a given seed. */
static unsigned char *noise(size_t len, unsigned seed)
{
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    unsigned x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    return buf;
}

static void digest_of(enum sr_identity_method method, const void *data, size_t len,
                      sr_identity *out)
{
    sr_err err = {0};
    sr_digest *d = sr_digest_new(method, &err);
    assert_non_null(d);
    sr_digest_update(d, data, len);
    assert_int_equal(sr_digest_final(d, out, &err), SR_OK);
    sr_digest_free(d);
}

static sr_identity_spec spec_of(const char *text)
{
    sr_identity_spec spec;
    sr_err err = {0};
    assert_int_equal(sr_identity_spec_parse(text, &spec, &err), SR_OK);
    return spec;
}

/* The identity of path with spec text and flags; the stats come back through stats. */
static sr_identity file_id(const char *path, const char *spec_text, int flags,
                           sr_identity_stats *stats)
{
    sr_identity_spec spec = spec_of(spec_text);
    sr_identity id;
    sr_err err = {0};
    int rc = sr_identity_of_file(path, &spec, flags, &id, stats, &err);
    if (rc != SR_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, SR_OK);
    sr_identity_spec_fini(&spec);
    return id;
}

static const char *xattr_text(const char *path, const char *name, char *buf, size_t size)
{
    ssize_t n = getxattr(path, name, buf, size - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

/* ---------------------------------------------------------------------------------- */
/* names and the option                                                                */

static void method_names(void **state)
{
    (void)state;
    const char *names[] = {"none",    "sha512", "md5",    "cod",      "arbitrary", "random",
                           "md5name", "sha256", "sha384", "sha3-256", "sha3-384",  "sha3-512"};
    enum sr_identity_method methods[] = {
        SR_ID_NONE,    SR_ID_SHA512, SR_ID_MD5,    SR_ID_COD,      SR_ID_ARBITRARY, SR_ID_RANDOM,
        SR_ID_MD5NAME, SR_ID_SHA256, SR_ID_SHA384, SR_ID_SHA3_256, SR_ID_SHA3_384,  SR_ID_SHA3_512};
    for (size_t i = 0; i < 12; i++) {
        assert_string_equal(sr_identity_method_name(methods[i]), names[i]);
        enum sr_identity_method m = SR_ID_NONE;
        assert_int_equal(sr_identity_method_from_name(names[i], &m), SR_OK);
        assert_int_equal(m, methods[i]);
    }
    assert_string_equal(sr_identity_method_name((enum sr_identity_method)99), "unknown");
    /* a message's method is spelled exactly; others are not known */
    const char *unknown[] = {"SHA512", "sha3_256", "s", "", "integrity"};
    for (size_t i = 0; i < 5; i++) {
        enum sr_identity_method m = SR_ID_MD5;
        assert_int_equal(sr_identity_method_from_name(unknown[i], &m), SR_EINVAL);
        assert_int_equal(m, SR_ID_MD5);
    }
}

static void spec_accepts(void **state)
{
    (void)state;
    char long_value[300];
    memcpy(long_value, "a,", 2);
    memset(long_value + 2, 'v', 255);
    long_value[257] = '\0';
    struct {
        const char *text;
        enum sr_identity_method method, cod;
        const char *value;
    } ok[] = {
        {"sha512", SR_ID_SHA512, SR_ID_NONE, NULL},
        {"SHA512", SR_ID_SHA512, SR_ID_NONE, NULL},
        {"s", SR_ID_SHA512, SR_ID_NONE, NULL},
        {"md5", SR_ID_MD5, SR_ID_NONE, NULL},
        {"d", SR_ID_MD5, SR_ID_NONE, NULL},
        {"cod,sha512", SR_ID_COD, SR_ID_SHA512, NULL},
        {"cod,md5", SR_ID_COD, SR_ID_MD5, NULL},
        {"cod,s", SR_ID_COD, SR_ID_SHA512, NULL},
        {"z,s", SR_ID_COD, SR_ID_SHA512, NULL},
        {"z,d", SR_ID_COD, SR_ID_MD5, NULL},
        {"random", SR_ID_RANDOM, SR_ID_NONE, NULL},
        {"0", SR_ID_RANDOM, SR_ID_NONE, NULL},
        {"arbitrary,v1.2", SR_ID_ARBITRARY, SR_ID_NONE, "v1.2"},
        {"a,Hello World", SR_ID_ARBITRARY, SR_ID_NONE, "Hello World"},
        {"a,x,y", SR_ID_ARBITRARY, SR_ID_NONE, "x,y"},
        {long_value, SR_ID_ARBITRARY, SR_ID_NONE, long_value + 2},
        {"md5name", SR_ID_MD5NAME, SR_ID_NONE, NULL},
        {"n", SR_ID_MD5NAME, SR_ID_NONE, NULL},
        {"None", SR_ID_NONE, SR_ID_NONE, NULL},
        {"none", SR_ID_NONE, SR_ID_NONE, NULL},
        {"sha256", SR_ID_SHA256, SR_ID_NONE, NULL},
        {"SHA384", SR_ID_SHA384, SR_ID_NONE, NULL},
        {"sha3-256", SR_ID_SHA3_256, SR_ID_NONE, NULL},
        {"sha3-384", SR_ID_SHA3_384, SR_ID_NONE, NULL},
        {"sha3-512", SR_ID_SHA3_512, SR_ID_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sr_identity_spec spec;
        sr_err err = {0};
        assert_int_equal(sr_identity_spec_parse(ok[i].text, &spec, &err), SR_OK);
        assert_int_equal(spec.method, ok[i].method);
        assert_int_equal(spec.cod_algorithm, ok[i].cod);
        if (ok[i].value == NULL)
            assert_null(spec.arbitrary_value);
        else
            assert_string_equal(spec.arbitrary_value, ok[i].value);
        sr_identity_spec_fini(&spec);
        assert_null(spec.arbitrary_value);
        sr_identity_spec_fini(&spec); /* twice is harmless */
    }
}

static void spec_rejects(void **state)
{
    (void)state;
#define HELP                                                                                       \
    "(sha512, md5, sha256, sha384, sha3-256, sha3-384, sha3-512, cod,sha512, cod,md5, random, "    \
    "arbitrary,VALUE, md5name, none)"
    char too_long[300], too_long_msg[200];
    memcpy(too_long, "a,", 2);
    memset(too_long + 2, 'v', 256);
    too_long[258] = '\0';
    snprintf(too_long_msg, sizeof too_long_msg,
             "identity \"a,%.62s...\": the arbitrary value is 256 bytes long, the most is 255",
             too_long + 2);
    struct {
        const char *text, *message;
    } bad[] = {
        {"", "identity \"\": no method given " HELP},
        {"sha1", "identity \"sha1\": unknown method " HELP},
        {"sha3_256", "identity \"sha3_256\": unknown method " HELP},
        {"sha512,x", "identity \"sha512,x\": unknown method " HELP},
        {"p", "identity \"p\": unknown method " HELP},
        {"m", "identity \"m\": unknown method " HELP},
        {"random,5", "identity \"random,5\": unknown method " HELP},
        {"cod", "identity \"cod\": cod needs the algorithm to use on download: cod,sha512 or "
                "cod,md5"},
        {"cod,", "identity \"cod,\": cod needs the algorithm to use on download: cod,sha512 or "
                 "cod,md5"},
        {"cod,sha256", "identity \"cod,sha256\": cod needs the algorithm to use on download: "
                       "cod,sha512 or cod,md5"},
        {"z,x", "identity \"z,x\": cod needs the algorithm to use on download: cod,sha512 or "
                "cod,md5"},
        {"arbitrary",
         "identity \"arbitrary\": arbitrary needs its value: arbitrary,VALUE or a,VALUE"},
        {"a,", "identity \"a,\": arbitrary needs its value: arbitrary,VALUE or a,VALUE"},
        {too_long, too_long_msg},
    };
#undef HELP
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sr_identity_spec spec = {.method = SR_ID_MD5};
        sr_err err = {0};
        assert_int_equal(sr_identity_spec_parse(bad[i].text, &spec, &err), SR_EINVAL);
        assert_string_equal(err.msg, bad[i].message);
        assert_int_equal(spec.method, SR_ID_NONE);
        assert_null(spec.arbitrary_value);
    }
    sr_identity_spec spec;
    sr_err err = {0};
    assert_int_equal(sr_identity_spec_parse(NULL, &spec, &err), SR_EINVAL);
}

/* ---------------------------------------------------------------------------------- */
/* digests                                                                             */

static void known_digests(void **state)
{
    (void)state;
    sr_identity id;
    digest_of(SR_ID_SHA512, HELLO, 12, &id);
    assert_int_equal(id.method, SR_ID_SHA512);
    assert_string_equal(id.value, HELLO_SHA512);
    digest_of(SR_ID_MD5, HELLO, 12, &id);
    assert_int_equal(id.method, SR_ID_MD5);
    assert_string_equal(id.value, HELLO_MD5);
    digest_of(SR_ID_SHA512, "", 0, &id);
    assert_string_equal(id.value, EMPTY_SHA512);
    digest_of(SR_ID_MD5, "", 0, &id);
    assert_string_equal(id.value, EMPTY_MD5);

    sr_err err = {0};
    assert_null(sr_digest_new(SR_ID_COD, &err));
    assert_string_equal(err.msg, "digest: method cod has no digest (sha512, md5, sha256, sha384, "
                                 "sha3-256, sha3-384, sha3-512 only)");

    /* WIS2's: the digest, its size, and what a value of it looks like */
    struct {
        enum sr_identity_method method;
        const char *value;
        size_t bytes;
    } wis[] = {
        {SR_ID_SHA256, HELLO_SHA256, 32},     {SR_ID_SHA384, HELLO_SHA384, 48},
        {SR_ID_SHA3_256, HELLO_SHA3_256, 32}, {SR_ID_SHA3_384, HELLO_SHA3_384, 48},
        {SR_ID_SHA3_512, HELLO_SHA3_512, 64},
    };
    for (size_t i = 0; i < sizeof wis / sizeof wis[0]; i++) {
        digest_of(wis[i].method, HELLO, 12, &id);
        assert_int_equal(id.method, wis[i].method);
        assert_string_equal(id.value, wis[i].value);
        assert_true(sr_identity_is_digest(wis[i].method));
        assert_int_equal(sr_identity_digest_bytes(wis[i].method), wis[i].bytes);
        assert_true(sr_identity_value_valid(wis[i].method, wis[i].value));
        assert_false(sr_identity_value_valid(wis[i].method, HELLO_MD5));
    }
    assert_true(sr_identity_value_valid(SR_ID_SHA512, HELLO_SHA512_WRAPPED));
    assert_false(sr_identity_value_valid(SR_ID_SHA512, "A2KNxvks...S8qfSCw=="));
    assert_false(sr_identity_value_valid(SR_ID_ARBITRARY, "x"));
    assert_false(sr_identity_is_digest(SR_ID_COD));
    assert_false(sr_identity_is_digest(SR_ID_ARBITRARY));
    assert_int_equal(sr_identity_digest_bytes(SR_ID_RANDOM), 0);
    assert_null(sr_digest_new(SR_ID_RANDOM, NULL));
    sr_digest_free(NULL);

    char hex[129];
    assert_int_equal(sr_identity_hex_of(SR_ID_MD5, "hello.txt", 9, hex, sizeof hex, &err), 0);
    assert_string_equal(hex, "2e54144ba487ae25d03a3caba233da71");
    assert_int_equal(sr_identity_hex_of(SR_ID_SHA512, HELLO, 12, hex, sizeof hex, &err), 0);
    assert_string_equal(hex, HELLO_SHA512_HEX);
    assert_int_equal(sr_identity_hex_of(SR_ID_SHA512, HELLO, 12, hex, 128, &err), SR_EINVAL);
    assert_string_equal(err.msg, "digest sha512: hex needs 129 bytes, have 128");
    assert_int_equal(sr_identity_hex_of(SR_ID_SHA256, HELLO, 12, hex, sizeof hex, &err), 0);
    assert_string_equal(hex, HELLO_SHA256_HEX);
}

/* The transfer layer feeds downloads in whatever pieces the network gives. */
static void streaming_pieces(void **state)
{
    (void)state;
    const size_t len = 3 * MIB + 5;
    unsigned char *data = noise(len, 7);
    const size_t pieces[] = {1, 7, 4093, 65537, MIB + 1, 3};
    enum sr_identity_method methods[] = {SR_ID_SHA512, SR_ID_MD5};
    for (size_t m = 0; m < 2; m++) {
        sr_identity whole, streamed;
        digest_of(methods[m], data, len, &whole);
        sr_err err = {0};
        sr_digest *d = sr_digest_new(methods[m], &err);
        assert_non_null(d);
        size_t off = 0;
        for (size_t i = 0; off < len; i++) {
            size_t n = pieces[i % 6] < len - off ? pieces[i % 6] : len - off;
            sr_digest_update(d, data + off, n);
            sr_digest_update(d, data, 0);
            off += n;
        }
        assert_int_equal(sr_digest_final(d, &streamed, &err), SR_OK);
        assert_string_equal(streamed.value, whole.value);
        /* final resets: the same digest serves the next stream */
        sr_digest_update(d, HELLO, 12);
        assert_int_equal(sr_digest_final(d, &streamed, &err), SR_OK);
        assert_string_equal(streamed.value, methods[m] == SR_ID_SHA512 ? HELLO_SHA512 : HELLO_MD5);
        assert_int_equal(sr_digest_final(d, &streamed, &err), SR_OK);
        assert_string_equal(streamed.value, methods[m] == SR_ID_SHA512 ? EMPTY_SHA512 : EMPTY_MD5);
        sr_digest_free(d);
    }
    free(data);
}

/* ---------------------------------------------------------------------------------- */
/* files and blocks                                                                    */

static void file_identities(void **state)
{
    (void)state;
    char path[300];
    sr_identity_stats st;
    tmp_path("hello.txt", path, sizeof path);
    write_file(path, HELLO, 12);
    sr_identity id = file_id(path, "sha512", SR_IDENTITY_NO_CACHE, &st);
    assert_int_equal(id.method, SR_ID_SHA512);
    assert_string_equal(id.value, HELLO_SHA512);
    assert_int_equal(st.bytes_read, 12);
    assert_false(st.from_cache);
    id = file_id(path, "md5", SR_IDENTITY_NO_CACHE, &st);
    assert_int_equal(id.method, SR_ID_MD5);
    assert_string_equal(id.value, HELLO_MD5);
    id = file_id(path, "sha256", SR_IDENTITY_NO_CACHE, &st);
    assert_int_equal(id.method, SR_ID_SHA256);
    assert_string_equal(id.value, HELLO_SHA256);
    id = file_id(path, "sha3-512", SR_IDENTITY_NO_CACHE, &st);
    assert_int_equal(id.method, SR_ID_SHA3_512);
    assert_string_equal(id.value, HELLO_SHA3_512);
    assert_int_equal(st.bytes_read, 12);

    tmp_path("empty", path, sizeof path);
    write_file(path, "", 0);
    id = file_id(path, "sha512", SR_IDENTITY_NO_CACHE, &st);
    assert_string_equal(id.value, EMPTY_SHA512);
    assert_int_equal(st.bytes_read, 0);
    id = file_id(path, "md5", SR_IDENTITY_NO_CACHE, NULL);
    assert_string_equal(id.value, EMPTY_MD5);

    /* larger than the 1 MiB read buffer, and not a multiple of it */
    const size_t len = 2 * MIB + 12345;
    unsigned char *data = noise(len, 42);
    tmp_path("big", path, sizeof path);
    write_file(path, data, len);
    sr_identity want;
    digest_of(SR_ID_SHA512, data, len, &want);
    id = file_id(path, "sha512", SR_IDENTITY_NO_CACHE, &st);
    assert_string_equal(id.value, want.value);
    assert_int_equal(st.bytes_read, len);
    digest_of(SR_ID_MD5, data, len, &want);
    id = file_id(path, "md5", SR_IDENTITY_NO_CACHE, &st);
    assert_string_equal(id.value, want.value);
    free(data);
}

static void file_errors(void **state)
{
    (void)state;
    char path[300], want[400];
    sr_identity_spec spec = spec_of("sha512");
    sr_identity id = {.method = SR_ID_MD5, .value = "untouched"};
    sr_identity_stats st;
    sr_err err = {0};

    tmp_path("missing", path, sizeof path);
    assert_int_equal(sr_identity_of_file(path, &spec, 0, &id, &st, &err), SR_ENOENT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.msg, want);
    assert_string_equal(id.value, "untouched");

    assert_int_equal(sr_identity_of_file(tmpdir, &spec, 0, &id, &st, &err), SR_EINVAL);
    snprintf(want, sizeof want, "%s: not a regular file", tmpdir);
    assert_string_equal(err.msg, want);

    /* a FIFO is refused, not waited on */
    tmp_path("fifo", path, sizeof path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(sr_identity_of_file(path, &spec, 0, &id, &st, &err), SR_EINVAL);
    snprintf(want, sizeof want, "%s: not a regular file", path);
    assert_string_equal(err.msg, want);
    assert_string_equal(id.value, "untouched");
    sr_identity_spec_fini(&spec);
}

/* Methods that say nothing about the content never open the file. */
static void methods_without_content(void **state)
{
    (void)state;
    char path[300];
    tmp_path("never-created", path, sizeof path);
    sr_identity_stats st;
    sr_identity id = file_id(path, "cod,sha512", 0, &st);
    assert_int_equal(id.method, SR_ID_COD);
    assert_string_equal(id.value, "sha512");
    assert_int_equal(st.bytes_read, 0);
    id = file_id(path, "z,d", 0, NULL);
    assert_string_equal(id.value, "md5");
    id = file_id(path, "a,release-42", 0, NULL);
    assert_int_equal(id.method, SR_ID_ARBITRARY);
    assert_string_equal(id.value, "release-42");
    id = file_id(path, "none", 0, NULL);
    assert_int_equal(id.method, SR_ID_NONE);
    assert_string_equal(id.value, "");
    id = file_id(path, "md5name", 0, NULL);
    assert_int_equal(id.method, SR_ID_MD5NAME);
    assert_string_equal(id.value, "");

    /* random: 4 digits, 0000..9999, spread over the range (200 draws of 10000 values give
     * about 198 different ones; fewer than 150 would be astronomically unlikely) */
    static bool seen[10000];
    int distinct = 0, high = 0;
    for (int i = 0; i < 200; i++) {
        id = file_id(path, "random", 0, NULL);
        assert_int_equal(id.method, SR_ID_RANDOM);
        assert_int_equal(strlen(id.value), 4);
        for (int k = 0; k < 4; k++)
            assert_true(id.value[k] >= '0' && id.value[k] <= '9');
        int v = atoi(id.value);
        distinct += !seen[v];
        seen[v] = true;
        high += v >= 5000;
    }
    assert_true(distinct >= 150);
    assert_true(high > 50 && high < 150);

    /* a spec built by hand without its value is refused, not sent empty */
    sr_identity_spec bare = {.method = SR_ID_ARBITRARY};
    sr_err err = {0};
    assert_int_equal(sr_identity_of_file(path, &bare, 0, &id, NULL, &err), SR_EINVAL);
    assert_string_equal(err.msg, "identity arbitrary: no value (arbitrary,VALUE or a,VALUE)");
}

/* Blocks of a partitioned file (sr-message(7), Blocks): 1024, 1024, 1024 and 308 bytes, as
 * in test/data/messages/v03/block_md5.json. */
static void ranges(void **state)
{
    (void)state;
    char path[300], want_msg[200];
    const size_t len = 3 * 1024 + 308;
    unsigned char *data = noise(len, 3);
    tmp_path("blocks", path, sizeof path);
    write_file(path, data, len);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
    const char *methods[] = {"md5", "sha512", "sha256", "sha3-384"};
    for (size_t m = 0; m < 4; m++) {
        sr_identity_spec spec = spec_of(methods[m]);
        for (size_t b = 0; b < 4; b++) {
            size_t off = b * 1024, n = b < 3 ? 1024 : 308;
            sr_identity want, got;
            sr_identity_stats st;
            sr_err err = {0};
            digest_of(spec.method, data + off, n, &want);
            assert_int_equal(sr_identity_of_range(fd, off, n, &spec, &got, &st, &err), SR_OK);
            assert_int_equal(got.method, spec.method);
            assert_string_equal(got.value, want.value);
            assert_int_equal(st.bytes_read, n);
            assert_false(st.from_cache);
        }
        sr_identity_spec_fini(&spec);
    }
    /* pread: the caller's file offset has not moved */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);

    sr_identity_spec spec = spec_of("md5");
    sr_identity got;
    sr_err err = {0};
    assert_int_equal(sr_identity_of_range(fd, 0, 0, &spec, &got, NULL, &err), SR_OK);
    assert_string_equal(got.value, EMPTY_MD5);
    /* the file ends before the block does: retryable */
    assert_int_equal(sr_identity_of_range(fd, 3000, 1000, &spec, &got, NULL, &err), SR_EIO);
    snprintf(want_msg, sizeof want_msg,
             "fd %d bytes 3000..4000: ended at byte 3380, 620 bytes before the 4000 expected", fd);
    assert_string_equal(err.msg, want_msg);
    assert_true(err.retryable);
    assert_int_equal(sr_identity_of_range(fd, -1, 10, &spec, &got, NULL, &err), SR_EINVAL);
    snprintf(want_msg, sizeof want_msg, "fd %d: bad range: offset -1, length 10", fd);
    assert_string_equal(err.msg, want_msg);
    sr_identity_spec_fini(&spec);
    close(fd);
    free(data);
}

/* ---------------------------------------------------------------------------------- */
/* the xattr cache                                                                     */

static void xattr_cache(void **state)
{
    (void)state;
    if (!tmp_xattrs) /* the cache is a requirement: its test fails, never skips */
        fail_msg("no file system with user xattrs in reach (tried $SR_TEST_TMPDIR, $TMPDIR, "
                 "/tmp, /var/tmp, build): set SR_TEST_TMPDIR to a folder on one");
    char path[300], buf[512];
    sr_identity_stats st;
    tmp_path("cached.txt", path, sizeof path);
    write_file(path, HELLO, 12);
    set_mtime(path, "20241001T123456.789000034");

    /* first: read and remembered, in sr3's format */
    sr_identity id = file_id(path, "sha512", 0, &st);
    assert_string_equal(id.value, HELLO_SHA512);
    assert_int_equal(st.bytes_read, 12);
    assert_false(st.from_cache);
    assert_string_equal(xattr_text(path, "user.sr_identity", buf, sizeof buf),
                        "{\"method\": \"sha512\", \"value\": \"" HELLO_SHA512 "\"}");
    assert_string_equal(xattr_text(path, "user.sr_mtime", buf, sizeof buf),
                        "20241001T123456.789000034");
    assert_string_equal(xattr_text(path, "user.sr_size", buf, sizeof buf), "12");

    /* second: from the cache, the file not read */
    id = file_id(path, "sha512", 0, &st);
    assert_string_equal(id.value, HELLO_SHA512);
    assert_int_equal(st.bytes_read, 0);
    assert_true(st.from_cache);

    /* another method: computed, and it replaces the cache */
    id = file_id(path, "md5", 0, &st);
    assert_string_equal(id.value, HELLO_MD5);
    assert_int_equal(st.bytes_read, 12);
    assert_string_equal(xattr_text(path, "user.sr_identity", buf, sizeof buf),
                        "{\"method\": \"md5\", \"value\": \"" HELLO_MD5 "\"}");
    id = file_id(path, "md5", 0, &st);
    assert_true(st.from_cache);
    /* WIS2's methods are cached the same way */
    id = file_id(path, "sha256", 0, &st);
    assert_string_equal(id.value, HELLO_SHA256);
    assert_false(st.from_cache);
    assert_string_equal(xattr_text(path, "user.sr_identity", buf, sizeof buf),
                        "{\"method\": \"sha256\", \"value\": \"" HELLO_SHA256 "\"}");
    id = file_id(path, "sha256", 0, &st);
    assert_string_equal(id.value, HELLO_SHA256);
    assert_true(st.from_cache);
    id = file_id(path, "md5", 0, &st);
    assert_false(st.from_cache);
    id = file_id(path, "sha512", 0, &st);
    assert_int_equal(st.bytes_read, 12);

    /* touching the file (a newer mtime) invalidates */
    set_mtime(path, "20241001T123456.789000035");
    id = file_id(path, "sha512", 0, &st);
    assert_int_equal(st.bytes_read, 12);
    assert_string_equal(id.value, HELLO_SHA512);
    assert_string_equal(xattr_text(path, "user.sr_mtime", buf, sizeof buf),
                        "20241001T123456.789000035");

    /* new content written in place: the old inode's xattrs are still there, the new mtime
     * makes them stale */
    write_file(path, "", 0);
    id = file_id(path, "sha512", 0, &st);
    assert_string_equal(id.value, EMPTY_SHA512);
    assert_false(st.from_cache);

    /* NO_CACHE: read every time, nothing written */
    write_file(path, HELLO, 12);
    set_mtime(path, "20241001T123456");
    assert_int_equal(removexattr(path, "user.sr_identity"), 0);
    assert_int_equal(removexattr(path, "user.sr_mtime"), 0);
    id = file_id(path, "sha512", SR_IDENTITY_NO_CACHE, &st);
    assert_int_equal(st.bytes_read, 12);
    assert_null(xattr_text(path, "user.sr_identity", buf, sizeof buf));
    assert_int_equal(errno, ENODATA);
    id = file_id(path, "sha512", 0, &st);                    /* fills the cache */
    id = file_id(path, "sha512", SR_IDENTITY_NO_CACHE, &st); /* and ignores it */
    assert_int_equal(st.bytes_read, 12);
    assert_false(st.from_cache);
    assert_string_equal(xattr_text(path, "user.sr_mtime", buf, sizeof buf), "20241001T123456");

    /* methods that read nothing leave the cache alone */
    id = file_id(path, "cod,md5", 0, &st);
    id = file_id(path, "random", 0, &st);
    assert_string_equal(xattr_text(path, "user.sr_identity", buf, sizeof buf),
                        "{\"method\": \"sha512\", \"value\": \"" HELLO_SHA512 "\"}");
}

/* A file read while one large write(2) was filling it: the write set the mtime before its
 * data landed, so the file ends with the mtime the partial read cached. The size the
 * cache records tells the partial digest from the whole file's. */
static void xattr_cache_wants_the_size(void **state)
{
    (void)state;
    if (!tmp_xattrs)
        fail_msg("no file system with user xattrs in reach: set SR_TEST_TMPDIR");
    char path[300], buf[64];
    sr_identity_stats st;
    tmp_path("growing.dat", path, sizeof path);
    write_file(path, HELLO, 12);
    set_mtime(path, "20241001T123456");
    sr_identity partial = file_id(path, "sha512", 0, &st); /* cached for 12 bytes */
    assert_string_equal(partial.value, HELLO_SHA512);

    /* the rest of the write lands; the mtime stays what it was */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, HELLO, 12), 12);
    assert_int_equal(close(fd), 0);
    set_mtime(path, "20241001T123456");

    sr_identity whole = file_id(path, "sha512", 0, &st);
    assert_false(st.from_cache);
    assert_int_equal(st.bytes_read, 24);
    assert_string_not_equal(whole.value, partial.value);
    sr_identity uncached = file_id(path, "sha512", SR_IDENTITY_NO_CACHE, &st);
    assert_string_equal(whole.value, uncached.value);
    assert_string_equal(xattr_text(path, "user.sr_size", buf, sizeof buf), "24");
    whole = file_id(path, "sha512", 0, &st); /* and now cached for 24 */
    assert_true(st.from_cache);

    /* a size that is not a number: not trusted */
    assert_int_equal(setxattr(path, "user.sr_size", "24x", 3, 0), 0);
    file_id(path, "sha512", 0, &st);
    assert_false(st.from_cache);
}

/* A cache sr3 wrote is trusted as sr3 trusts it; a damaged one is recomputed. */
static void xattr_cache_from_sr3(void **state)
{
    (void)state;
    if (!tmp_xattrs)
        fail_msg("no file system with user xattrs in reach: set SR_TEST_TMPDIR");
    char path[300], buf[512];
    sr_identity_stats st;
    tmp_path("sr3.txt", path, sizeof path);
    write_file(path, HELLO, 12);
    set_mtime(path, "20241001T123456.789000034");
    /* sr3 writes json.dumps of the identity and its {:.9g} mtime, which can be longer */
    const char *planted = "{\"method\": \"sha512\", \"value\": \"" EMPTY_SHA512 "\"}";
    assert_int_equal(setxattr(path, "user.sr_identity", planted, strlen(planted), 0), 0);
    const char *later = "20241001T123456.7890000341";
    assert_int_equal(setxattr(path, "user.sr_mtime", later, strlen(later), 0), 0);
    sr_identity id = file_id(path, "sha512", 0, &st);
    assert_true(st.from_cache);
    assert_string_equal(id.value, EMPTY_SHA512); /* the cache is believed, as in sr3 */

    /* an older cached mtime is not trusted */
    const char *older = "20241001T123456.789000033";
    assert_int_equal(setxattr(path, "user.sr_mtime", older, strlen(older), 0), 0);
    id = file_id(path, "sha512", 0, &st);
    assert_false(st.from_cache);
    assert_string_equal(id.value, HELLO_SHA512);
    assert_string_equal(xattr_text(path, "user.sr_mtime", buf, sizeof buf),
                        "20241001T123456.789000034");

    /* damaged caches: recomputed, then replaced */
    const char *junk[][2] = {
        {"not json", "20991231T000000"},
        {"{\"method\": \"sha512\"}", "20991231T000000"},
        {"{\"method\": \"sha512\", \"value\": \"abc=\"}", "20991231T000000"},
        {"{\"method\": \"md5\", \"value\": \"" HELLO_MD5 "\"}", "20991231T000000"},
        {"{\"method\": \"sha512\", \"value\": \"" EMPTY_SHA512 "\"}", "tomorrow"},
        {"cod,sha512", "20991231T000000"}, /* sr3 stores cod as a bare string */
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        assert_int_equal(setxattr(path, "user.sr_identity", junk[i][0], strlen(junk[i][0]), 0), 0);
        assert_int_equal(setxattr(path, "user.sr_mtime", junk[i][1], strlen(junk[i][1]), 0), 0);
        id = file_id(path, "sha512", 0, &st);
        assert_false(st.from_cache);
        assert_int_equal(st.bytes_read, 12);
        assert_string_equal(id.value, HELLO_SHA512);
        assert_string_equal(xattr_text(path, "user.sr_identity", buf, sizeof buf),
                            "{\"method\": \"sha512\", \"value\": \"" HELLO_SHA512 "\"}");
    }
}

/* After a download the transfer layer stores what it computed on the fly. */
static void xattr_cache_store(void **state)
{
    (void)state;
    if (!tmp_xattrs)
        fail_msg("no file system with user xattrs in reach: set SR_TEST_TMPDIR");
    char path[300], buf[512];
    tmp_path("downloaded.txt", path, sizeof path);
    write_file(path, HELLO, 12);
    set_mtime(path, "20241001T123456.789000034");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    sr_identity id;
    digest_of(SR_ID_MD5, HELLO, 12, &id);
    sr_err err = {0};
    assert_int_equal(sr_identity_cache_store(fd, &id, &err), SR_OK);
    sr_identity_stats st;
    sr_identity got = file_id(path, "md5", 0, &st);
    assert_true(st.from_cache);
    assert_string_equal(got.value, HELLO_MD5);
    assert_string_equal(xattr_text(path, "user.sr_mtime", buf, sizeof buf),
                        "20241001T123456.789000034");

    /* only real digests are stored */
    sr_identity rnd = {.method = SR_ID_RANDOM, .value = "0042"};
    assert_int_equal(sr_identity_cache_store(fd, &rnd, &err), SR_OK);
    assert_string_equal(xattr_text(path, "user.sr_identity", buf, sizeof buf),
                        "{\"method\": \"md5\", \"value\": \"" HELLO_MD5 "\"}");
    sr_identity bad = {.method = SR_ID_SHA512, .value = HELLO_MD5};
    assert_int_equal(sr_identity_cache_store(fd, &bad, &err), SR_EINVAL);
    assert_string_equal(err.msg,
                        "identity cache: the sha512 value is not base64 of a 64-byte digest");
    close(fd);
}

/* The same with the size and mtime the caller has just written and set: what is stored
 * is what the file has, byte for byte as sr_identity_cache_store would write it. */
static void xattr_cache_store_as(void **state)
{
    (void)state;
    if (!tmp_xattrs)
        fail_msg("no file system with user xattrs in reach: set SR_TEST_TMPDIR");
    char path[300], buf[512];
    tmp_path("downloaded_as.txt", path, sizeof path);
    write_file(path, HELLO, 12);
    set_mtime(path, "20241001T123456.789000034");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    sr_identity id;
    digest_of(SR_ID_MD5, HELLO, 12, &id);
    struct stat fst;
    assert_int_equal(fstat(fd, &fst), 0);
    sr_err err = {0};
    assert_int_equal(sr_identity_cache_store_as(fd, &id, 12, &fst.st_mtim, &err), SR_OK);
    sr_identity_stats st;
    sr_identity got = file_id(path, "md5", 0, &st);
    assert_true(st.from_cache);
    assert_string_equal(got.value, HELLO_MD5);
    assert_string_equal(xattr_text(path, "user.sr_mtime", buf, sizeof buf),
                        "20241001T123456.789000034");
    assert_string_equal(xattr_text(path, "user.sr_size", buf, sizeof buf), "12");
    /* a size other than the file's: the entry is not trusted */
    assert_int_equal(sr_identity_cache_store_as(fd, &id, 11, &fst.st_mtim, &err), SR_OK);
    got = file_id(path, "md5", 0, &st);
    assert_false(st.from_cache);
    assert_string_equal(got.value, HELLO_MD5);
    close(fd);
}

/* A file sr may not annotate (here: immutable, so setxattr is EPERM even for root) still gets
 * its identity; it is just never cached. */
static void xattr_unwritable(void **state)
{
    (void)state;
    char path[300];
    tmp_path("immutable.txt", path, sizeof path);
    write_file(path, HELLO, 12);
    sr_identity_spec spec = spec_of("sha512");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    int flags = 0;
    bool immutable = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
                     (flags |= FS_IMMUTABLE_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0);
    if (!immutable) {
        close(fd);
        sr_identity_spec_fini(&spec);
        /* root (make check, CI) can: there it must; another user cannot, and is told */
        if (geteuid() == 0)
            fail_msg("cannot make a file immutable in %s", tmpdir);
        print_message("cannot make a file immutable here (needs CAP_LINUX_IMMUTABLE)\n");
        skip();
    }
    /* gather the results, make the file mutable again, then check */
    sr_identity first, second;
    sr_identity_stats st1, st2;
    sr_err err = {0};
    int rc1 = sr_identity_of_file(path, &spec, 0, &first, &st1, &err);
    int rc2 = sr_identity_of_file(path, &spec, 0, &second, &st2, &err);
    char buf[256];
    ssize_t cached = getxattr(path, "user.sr_identity", buf, sizeof buf);
    flags &= ~FS_IMMUTABLE_FL;
    assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
    close(fd);
    sr_identity_spec_fini(&spec);
    assert_int_equal(rc1, SR_OK);
    assert_int_equal(rc2, SR_OK);
    assert_string_equal(first.value, HELLO_SHA512);
    assert_string_equal(second.value, HELLO_SHA512);
    assert_int_equal(st2.bytes_read, 12);
    assert_false(st2.from_cache);
    assert_int_equal(cached, -1);
}

/* ---------------------------------------------------------------------------------- */
/* comparing                                                                           */

static void equality(void **state)
{
    (void)state;
    sr_identity a = {.method = SR_ID_SHA512, .value = HELLO_SHA512};
    sr_identity wrapped = {.method = SR_ID_SHA512, .value = HELLO_SHA512_WRAPPED};
    sr_identity crlf = {.method = SR_ID_SHA512,
                        .value = "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/"
                                 "Cbaidgw/imZM\r\n6ulNJDSlkw==\n"};
    /* sarrac (sr_hex2base64) breaks its base64 after 78 characters */
    sr_identity sarrac = {.method = SR_ID_SHA512,
                          .value =
                              "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/"
                              "Cbaidgw/imZM6u\nlNJDSlkw=="};
    sr_identity other = {.method = SR_ID_SHA512, .value = EMPTY_SHA512};
    sr_identity md5 = {.method = SR_ID_MD5, .value = HELLO_SHA512};
    sr_identity sha3 = {.method = SR_ID_SHA3_512, .value = HELLO_SHA512};
    sr_identity sha256 = {.method = SR_ID_SHA256, .value = HELLO_SHA256};
    sr_identity sha256b = {.method = SR_ID_SHA256, .value = HELLO_SHA256};
    assert_true(sr_identity_equal(&sha256, &sha256b));
    assert_false(sr_identity_equal(&a, &sha3)); /* same length and text, other method */
    assert_true(sr_identity_equal(&a, &a));
    assert_true(sr_identity_equal(&a, &wrapped));
    assert_true(sr_identity_equal(&wrapped, &a));
    assert_true(sr_identity_equal(&crlf, &a));
    assert_true(sr_identity_equal(&sarrac, &a));
    assert_true(sr_identity_equal(&sarrac, &wrapped));
    assert_false(sr_identity_equal(&a, &other));
    assert_false(sr_identity_equal(&a, &md5)); /* same text, other method */
    assert_false(sr_identity_equal(&a, NULL));

    sr_identity arb1 = {.method = SR_ID_ARBITRARY, .value = "v1"};
    sr_identity arb1b = {.method = SR_ID_ARBITRARY, .value = "v1"};
    sr_identity arb2 = {.method = SR_ID_ARBITRARY, .value = "v2"};
    assert_true(sr_identity_equal(&arb1, &arb1b));
    assert_false(sr_identity_equal(&arb1, &arb2));

    /* these say nothing about the content: never equal, not even to themselves */
    sr_identity rnd = {.method = SR_ID_RANDOM, .value = "0042"};
    sr_identity cod = {.method = SR_ID_COD, .value = "sha512"};
    sr_identity none = {.method = SR_ID_NONE, .value = ""};
    sr_identity md5name = {.method = SR_ID_MD5NAME, .value = ""};
    assert_false(sr_identity_equal(&rnd, &rnd));
    assert_false(sr_identity_equal(&cod, &cod));
    assert_false(sr_identity_equal(&none, &none));
    assert_false(sr_identity_equal(&md5name, &md5name));
}

/* ---------------------------------------------------------------------------------- */
/* v02                                                                                 */

static void expect_to_v02(enum sr_identity_method method, const char *value, const char *want)
{
    sr_identity id = {.method = method};
    snprintf(id.value, sizeof id.value, "%s", value);
    char buf[SR_IDENTITY_V02_MAX];
    sr_err err = {0};
    int rc = sr_identity_to_v02(&id, buf, sizeof buf, &err);
    if (rc != SR_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, SR_OK);
    assert_string_equal(buf, want);
}

static void to_v02(void **state)
{
    (void)state;
    expect_to_v02(SR_ID_SHA512, HELLO_SHA512, "s," HELLO_SHA512_HEX);
    expect_to_v02(SR_ID_SHA512, HELLO_SHA512_WRAPPED, "s," HELLO_SHA512_HEX);
    expect_to_v02(SR_ID_SHA512,
                  "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6u\n"
                  "lNJDSlkw==",
                  "s," HELLO_SHA512_HEX); /* sarrac's wrapping */
    expect_to_v02(SR_ID_MD5, HELLO_MD5, "d," HELLO_MD5_HEX);
    expect_to_v02(SR_ID_COD, "sha512", "z,s");
    expect_to_v02(SR_ID_COD, "md5", "z,d");
    expect_to_v02(SR_ID_ARBITRARY, "v1,2", "a,v1,2");
    expect_to_v02(SR_ID_RANDOM, "0042", "0,0042");

    struct {
        enum sr_identity_method method;
        const char *value, *message;
    } bad[] = {
        {SR_ID_NONE, "",
         "identity none has no v02 sum of its own (the converter writes n,<md5 of the file "
         "name>)"},
        {SR_ID_MD5NAME, "",
         "identity md5name has no v02 sum of its own (the converter writes n,<md5 of the file "
         "name>)"},
        {SR_ID_SHA512, HELLO_MD5,
         "identity sha512 value \"" HELLO_MD5 "\" is not base64 of a 64-byte digest"},
        {SR_ID_MD5, "b1kCrCNwJL3QwXbLkwY9xA=", /* one '=' short */
         "identity md5 value \"b1kCrCNwJL3QwXbLkwY9xA=\" is not base64 of a 16-byte digest"},
        {SR_ID_MD5, "b1kCrCNwJL3QwXbLkwY9xB==", /* stray bits in the last quartet */
         "identity md5 value \"b1kCrCNwJL3QwXbLkwY9xB==\" is not base64 of a 16-byte digest"},
        {SR_ID_MD5, "b1kCrCNwJL3QwXbLkwY9xA==b1kC",
         "identity md5 value \"b1kCrCNwJL3QwXbLkwY9xA==b1kC\" is not base64 of a 16-byte "
         "digest"},
        {SR_ID_MD5, "b1kCrCNwJL3QwXbLkwY9x!==",
         "identity md5 value \"b1kCrCNwJL3QwXbLkwY9x!==\" is not base64 of a 16-byte digest"},
        {SR_ID_COD, "sha256",
         "identity cod value \"sha256\" names no algorithm sr knows (sha512, md5)"},
        {SR_ID_ARBITRARY, "", "identity arbitrary has an empty value"},
        {SR_ID_SHA256, HELLO_SHA256,
         "identity sha256 has no v02 sum (v02 knows sha512 and md5 digests only)"},
        {SR_ID_SHA3_512, HELLO_SHA3_512,
         "identity sha3-512 has no v02 sum (v02 knows sha512 and md5 digests only)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sr_identity id = {.method = bad[i].method};
        snprintf(id.value, sizeof id.value, "%s", bad[i].value);
        char buf[SR_IDENTITY_V02_MAX] = "untouched";
        sr_err err = {0};
        assert_int_equal(sr_identity_to_v02(&id, buf, sizeof buf, &err), SR_EINVAL);
        assert_string_equal(err.msg, bad[i].message);
        assert_string_equal(buf, "untouched");
    }
    sr_identity a = {.method = SR_ID_MD5, .value = HELLO_MD5};
    char small[34];
    sr_err err = {0};
    assert_int_equal(sr_identity_to_v02(&a, small, sizeof small, &err), SR_EINVAL);
    assert_string_equal(err.msg, "v02 sum: needs 35 bytes, the buffer has 34");
}

static void expect_from_v02(const char *sum, enum sr_identity_method method, const char *value,
                            bool no_identity)
{
    sr_identity id;
    bool none = !no_identity;
    sr_err err = {0};
    int rc = sr_identity_from_v02(sum, &id, &none, &err);
    if (rc != SR_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, SR_OK);
    assert_int_equal(id.method, method);
    assert_string_equal(id.value, value);
    assert_int_equal(none, no_identity);
}

static void from_v02(void **state)
{
    (void)state;
    /* the sums of test/data/messages/v02/hello.v02 and dd_md5.v02 */
    expect_from_v02("s," HELLO_SHA512_HEX, SR_ID_SHA512, HELLO_SHA512, false);
    expect_from_v02("d," HELLO_MD5_HEX, SR_ID_MD5, HELLO_MD5, false);
    expect_from_v02("d,6F5902AC237024BDD0C176CB93063DC4", SR_ID_MD5, HELLO_MD5, false);
    expect_from_v02("z,s", SR_ID_COD, "sha512", false);
    expect_from_v02("z,d", SR_ID_COD, "md5", false);
    expect_from_v02("z,sha512", SR_ID_COD, "sha512", false);
    expect_from_v02("a,v1,2", SR_ID_ARBITRARY, "v1,2", false);
    expect_from_v02("0,0042", SR_ID_RANDOM, "0042", false);
    /* no identity in v03 */
    expect_from_v02("n,2e54144ba487ae25d03a3caba233da71", SR_ID_MD5NAME, "", true);
    expect_from_v02("p,whatever", SR_ID_NONE, "", true);

    /* fileOps spelled as sums: their own return code */
    const char *fileops[] = {"L," HELLO_SHA512_HEX, "R," HELLO_SHA512_HEX, "m,x", "r,x", "R"};
    for (size_t i = 0; i < 5; i++) {
        sr_identity id = {.method = SR_ID_MD5};
        bool none = false;
        sr_err err = {.msg = "untouched"};
        assert_int_equal(sr_identity_from_v02(fileops[i], &id, &none, &err), SR_IDENTITY_FILEOP);
        assert_true(none);
        assert_int_equal(id.method, SR_ID_NONE);
        assert_string_equal(err.msg, "untouched");
    }

    struct {
        const char *sum, *message;
    } bad[] = {
        {"", "v02 sum \"\": empty"},
        {"s", "v02 sum \"s\": not <letter>,<value>"},
        {"s;abc", "v02 sum \"s;abc\": not <letter>,<value>"},
        {"s,abc", "v02 sum \"s,abc\": sha512 needs 128 hex digits"},
        {"d," HELLO_MD5_HEX "0", "v02 sum \"d," HELLO_MD5_HEX "0\": md5 needs 32 hex digits"},
        {"d,6f5902ac237024bdd0c176cb93063dcg",
         "v02 sum \"d,6f5902ac237024bdd0c176cb93063dcg\": md5 needs 32 hex digits"},
        {"z,q", "v02 sum \"z,q\": cod needs its algorithm: z,s or z,d"},
        {"a,", "v02 sum \"a,\": the arbitrary value must be 1 to 255 bytes, not 0"},
        {"x,1", "v02 sum \"x,1\": unknown method letter 'x'"},
        {"L2", "v02 sum \"L2\": not <letter>,<value>"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sr_identity id = {.method = SR_ID_MD5, .value = "untouched"};
        bool none = true;
        sr_err err = {0};
        assert_int_equal(sr_identity_from_v02(bad[i].sum, &id, &none, &err), SR_EINVAL);
        assert_string_equal(err.msg, bad[i].message);
        assert_string_equal(id.value, "untouched");
    }
}

/* v03 -> v02 -> v03 gives back the same identity, byte for byte. */
static void v02_round_trips(void **state)
{
    (void)state;
    sr_identity ids[] = {
        {.method = SR_ID_SHA512, .value = HELLO_SHA512},
        {.method = SR_ID_SHA512, .value = EMPTY_SHA512},
        {.method = SR_ID_MD5, .value = HELLO_MD5},
        {.method = SR_ID_MD5, .value = EMPTY_MD5},
        {.method = SR_ID_COD, .value = "sha512"},
        {.method = SR_ID_COD, .value = "md5"},
        {.method = SR_ID_ARBITRARY, .value = "anything at all"},
        {.method = SR_ID_RANDOM, .value = "9999"},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char sum[SR_IDENTITY_V02_MAX];
        sr_identity back;
        bool none = true;
        assert_int_equal(sr_identity_to_v02(&ids[i], sum, sizeof sum, NULL), SR_OK);
        assert_int_equal(sr_identity_from_v02(sum, &back, &none, NULL), SR_OK);
        assert_false(none);
        assert_int_equal(back.method, ids[i].method);
        assert_string_equal(back.value, ids[i].value);
    }
    /* and a 1 MiB-odd file's digest through hex and back */
    unsigned char *data = noise(MIB + 3, 9);
    sr_identity id, back;
    digest_of(SR_ID_SHA512, data, MIB + 3, &id);
    char sum[SR_IDENTITY_V02_MAX], hex[129];
    assert_int_equal(sr_identity_to_v02(&id, sum, sizeof sum, NULL), SR_OK);
    assert_int_equal(sr_identity_hex_of(SR_ID_SHA512, data, MIB + 3, hex, sizeof hex, NULL), 0);
    assert_string_equal(sum + 2, hex);
    bool none;
    assert_int_equal(sr_identity_from_v02(sum, &back, &none, NULL), SR_OK);
    assert_true(sr_identity_equal(&id, &back));
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(method_names),
        cmocka_unit_test(spec_accepts),
        cmocka_unit_test(spec_rejects),
        cmocka_unit_test(known_digests),
        cmocka_unit_test(streaming_pieces),
        cmocka_unit_test(file_identities),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(methods_without_content),
        cmocka_unit_test(ranges),
        cmocka_unit_test(xattr_cache),
        cmocka_unit_test(xattr_cache_wants_the_size),
        cmocka_unit_test(xattr_cache_from_sr3),
        cmocka_unit_test(xattr_cache_store),
        cmocka_unit_test(xattr_cache_store_as),
        cmocka_unit_test(xattr_unwritable),
        cmocka_unit_test(equality),
        cmocka_unit_test(to_v02),
        cmocka_unit_test(from_v02),
        cmocka_unit_test(v02_round_trips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
