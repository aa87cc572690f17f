/* SPDX-License-Identifier: GPL-2.0-only */
/* test_transfer: the transfer layer (transfer.h) through its file: backend, in a temporary
 * folder: inflight names (sr-options(7), inflight), downloads with the identity and size
 * checks, resume, byteRateMax, sends, permissions and times (sr_subscribe(1) and
 * sr_sender(1), DESCRIPTION), and the file backend's single operations. */
#include "unit.h"

#include "transfer.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static char tmpdir[256];
static bool tmp_xattrs; /* does tmpdir's file system keep user xattrs? */

/* A temporary folder, on a file system with user xattrs when one of the usual places has
 * them (tmpfs before Linux 6.6 does not). */
static int setup(void **state)
{
    (void)state;
    const char *candidates[] = {getenv("SR_TEST_TMPDIR"), getenv("TMPDIR"), "/tmp", "/var/tmp"};
    tmpdir[0] = '\0';
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (candidates[i] == NULL || candidates[i][0] == '\0')
            continue;
        char dir[256];
        snprintf(dir, sizeof dir, "%s/sr_test_transfer.XXXXXX", candidates[i]);
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

/* tmpdir/<test>/<name>: each test has its own folder. */
static const char *path_in(const char *test, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%s", tmpdir, test, name);
    return buf;
}

static void make_dir(const char *test)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, test);
    assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
}

/* sr_transfer_download to the local path dst: through a jail rooted at tmpdir, as the
 * download step does with its destination. */
static int download(sr_transfer *t, const char *remote, const char *dst,
                    const sr_transfer_plan *plan, sr_identity *got, sr_transfer_result *res,
                    sr_err *err)
{
    sr_jail *j;
    int rc = sr_jail_new(tmpdir, 0, false, &j, err);
    if (rc == SR_OK)
        rc = sr_transfer_download(t, remote, j, dst + strlen(tmpdir) + 1, plan, got, res, err);
    sr_jail_free(j);
    return rc;
}

/* Open a local file for sr_transfer_put / send, as the sender does; a missing one is
 * SR_ENOENT. */
static int open_src(const char *path, int *fd, sr_err *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    return *fd >= 0 ? SR_OK
                    : sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, false, "cannot read %s",
                                 path);
}

static int send_path(sr_transfer *t, const char *src, const char *dst, const sr_transfer_plan *plan,
                     sr_transfer_result *res, sr_err *err)
{
    int fd;
    int rc = open_src(src, &fd, err);
    if (rc == SR_OK) {
        rc = sr_transfer_send(t, fd, dst, plan, res, err);
        close(fd);
    }
    return rc;
}

static int put_path(sr_transfer *t, const char *src, const char *dst, const sr_range *range,
                    sr_transfer_result *res, sr_err *err)
{
    int fd;
    int rc = open_src(src, &fd, err);
    if (rc == SR_OK) {
        rc = sr_transfer_put(t, fd, dst, range, res, err);
        close(fd);
    }
    return rc;
}

/* A file of len bytes of a pattern that shows any shift (not a multiple of 256). */
static void write_pattern(const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc((int)((i * 7 + i / 251) & 0xff), f);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool same_content(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = false;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static sr_identity sha512_of(const char *path)
{
    sr_identity_spec spec = {.method = SR_ID_SHA512};
    sr_identity id;
    sr_err err;
    assert_int_equal(sr_identity_of_file(path, &spec, SR_IDENTITY_NO_CACHE, &id, NULL, &err),
                     SR_OK);
    return id;
}

/* A pool with one file: session. */
typedef struct fixture {
    sr_transfer_pool *pool;
    sr_transfer *t;
} fixture;

static void open_file_session(fixture *fx, double rate)
{
    sr_transfer_options o = {.byte_rate_max = rate};
    sr_err err;
    fx->pool = sr_transfer_pool_new(&o, &err);
    assert_non_null(fx->pool);
    assert_int_equal(sr_transfer_pool_get(fx->pool, "file:", &fx->t, &err), SR_OK);
    assert_non_null(fx->t);
}

static sr_transfer_plan plan_of(const char *inflight)
{
    sr_transfer_plan plan = {.size = -1, .mode = -1};
    sr_err err;
    assert_int_equal(sr_inflight_parse(inflight, &plan.inflight, &err), SR_OK);
    return plan;
}

/* ---------------------------------------------------------------------------------- */

static void inflight_names(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        sr_inflight_kind kind;
        const char *path;
    } cases[] = {
        {NULL, SR_INFLIGHT_NONE, "/d/f"},           {"", SR_INFLIGHT_NONE, "/d/f"},
        {"None", SR_INFLIGHT_NONE, "/d/f"},         {".tmp", SR_INFLIGHT_SUFFIX, "/d/f.tmp"},
        {".part", SR_INFLIGHT_SUFFIX, "/d/f.part"}, {".", SR_INFLIGHT_PREFIX, "/d/.f"},
        {"tmp/", SR_INFLIGHT_DIR, "/d/tmp/f"},      {"/tmp", SR_INFLIGHT_DIR, "/d/tmp/f"},
        {"/work/", SR_INFLIGHT_DIR, "/d/work/f"},   {"pre_", SR_INFLIGHT_PREFIX, "/d/pre_f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_inflight in;
        sr_err err;
        assert_int_equal(sr_inflight_parse(cases[i].value, &in, &err), SR_OK);
        assert_int_equal(in.kind, cases[i].kind);
        char *p = sr_inflight_path(&in, "/d/f");
        assert_string_equal(p, cases[i].path);
        free(p);
    }
    /* a name without a folder */
    sr_inflight in;
    sr_err err;
    assert_int_equal(sr_inflight_parse("tmp/", &in, &err), SR_OK);
    char *p = sr_inflight_path(&in, "f");
    assert_string_equal(p, "tmp/f");
    free(p);

    /* a number is sr3's fileAgeMin spelling: posting only, an error here naming it */
    const char *numbers[] = {"10", "1.5", "30s", "2m"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        sr_err_clear(&err);
        assert_int_equal(sr_inflight_parse(numbers[i], &in, &err), SR_EINVAL);
        assert_false(err.retryable);
        assert_non_null(strstr(err.msg, numbers[i]));
        assert_non_null(strstr(err.msg, "fileAgeMin"));
    }
    /* a sub-folder is one name */
    assert_int_equal(sr_inflight_parse("a/b/", &in, &err), SR_EINVAL);
}

static void download_right_identity(void **state)
{
    (void)state;
    char src[512], dst[512], tmp[512];
    make_dir("ok");
    path_in("ok", "src.bin", src, sizeof src);
    path_in("ok", "out/sub/dst.bin", dst, sizeof dst);
    path_in("ok", "out/sub/dst.bin.tmp", tmp, sizeof tmp);
    write_pattern(src, 3 * MIB + 17);
    sr_identity want = sha512_of(src);

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    plan.identity = &want;
    plan.size = 3 * MIB + 17;
    sr_identity got;
    sr_transfer_result res;
    sr_err err;
    int rc = download(fx.t, src, dst, &plan, &got, &res, &err);
    assert_int_equal(rc, SR_OK);
    assert_true(same_content(src, dst));
    assert_false(exists(tmp));
    assert_int_equal(res.bytes, 3 * MIB + 17);
    assert_false(res.resumed);
    assert_int_equal(got.method, SR_ID_SHA512);
    assert_string_equal(got.value, want.value);

    /* the identity computed on the fly went to the xattr cache */
    if (tmp_xattrs) {
        char buf[512] = "";
        ssize_t n = getxattr(dst, "user.sr_identity", buf, sizeof buf - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "sha512"));
        assert_non_null(strstr(buf, want.value));
    } else {
        print_message("no file system with user xattrs in reach: cache not checked\n");
    }

    /* the same through a "//" remote path, into a tmp/ sub-folder */
    char dst2[512];
    path_in("ok", "out/dst2.bin", dst2, sizeof dst2);
    char remote[600];
    snprintf(remote, sizeof remote, "/%s", src);
    plan = plan_of("tmp/");
    plan.identity = &want;
    assert_int_equal(download(fx.t, remote, dst2, &plan, NULL, &res, &err), SR_OK);
    assert_true(same_content(src, dst2));
    path_in("ok", "out/tmp/dst2.bin", tmp, sizeof tmp);
    assert_false(exists(tmp));
    sr_transfer_pool_free(fx.pool);
}

static void download_wrong_identity(void **state)
{
    (void)state;
    char src[512], other[512], dst[512], tmp[512];
    make_dir("wrong");
    path_in("wrong", "src.bin", src, sizeof src);
    path_in("wrong", "other.bin", other, sizeof other);
    path_in("wrong", "dst.bin", dst, sizeof dst);
    path_in("wrong", "dst.bin.tmp", tmp, sizeof tmp);
    write_text(src, "what the server has\n");
    write_text(other, "what the message announced\n");
    sr_identity announced = sha512_of(other), actual = sha512_of(src);

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    plan.identity = &announced;
    sr_err err;
    int rc = download(fx.t, src, dst, &plan, NULL, NULL, &err);
    assert_int_equal(rc, SR_EINVAL);
    assert_true(err.retryable);
    assert_non_null(strstr(err.msg, announced.value));
    assert_non_null(strstr(err.msg, actual.value));
    assert_non_null(strstr(err.msg, src));
    assert_false(exists(dst));
    assert_false(exists(tmp));

    /* the same with resume asked: a wrong file is not kept for resuming */
    plan.resume = true;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_EINVAL);
    assert_false(exists(dst));
    assert_false(exists(tmp));
    sr_transfer_pool_free(fx.pool);
}

/* A WIS2 message's integrity (sha256, sha3-512 ...) is checked as sha512 is: computed on
 * the fly with the message's method, a download that differs refused. */
static void download_checks_wis2_digests(void **state)
{
    (void)state;
    char src[512], other[512], dst[512];
    make_dir("wis2");
    path_in("wis2", "src.bin", src, sizeof src);
    path_in("wis2", "other.bin", other, sizeof other);
    path_in("wis2", "dst.bin", dst, sizeof dst);
    write_pattern(src, MIB + 3);
    write_text(other, "what the message announced\n");
    const char *methods[] = {"sha256", "sha384", "sha3-256", "sha3-384", "sha3-512"};
    fixture fx;
    open_file_session(&fx, 0);
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        sr_identity_spec spec;
        sr_err err;
        assert_int_equal(sr_identity_spec_parse(methods[i], &spec, &err), SR_OK);
        sr_identity want, wrong, got;
        assert_int_equal(sr_identity_of_file(src, &spec, SR_IDENTITY_NO_CACHE, &want, NULL, &err),
                         SR_OK);
        assert_int_equal(
            sr_identity_of_file(other, &spec, SR_IDENTITY_NO_CACHE, &wrong, NULL, &err), SR_OK);
        sr_transfer_plan plan = plan_of(".tmp");
        plan.identity = &want;
        assert_int_equal(download(fx.t, src, dst, &plan, &got, NULL, &err), SR_OK);
        assert_int_equal(got.method, spec.method);
        assert_string_equal(got.value, want.value);
        assert_true(same_content(src, dst));
        assert_int_equal(unlink(dst), 0);
        plan.identity = &wrong;
        assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_EINVAL);
        assert_non_null(strstr(err.msg, methods[i]));
        assert_non_null(strstr(err.msg, wrong.value));
        assert_false(exists(dst));
    }
    sr_transfer_pool_free(fx.pool);
}

/* Two instances given the same file: the one that finds the temporary file locked by the
 * other leaves it alone (no truncation, no removal) and says to retry later. */
static void download_temp_held_by_another(void **state)
{
    (void)state;
    char src[512], dst[512], tmp[512];
    make_dir("held");
    path_in("held", "src.txt", src, sizeof src);
    path_in("held", "dst.txt", dst, sizeof dst);
    path_in("held", "dst.txt.tmp", tmp, sizeof tmp);
    write_text(src, "what the server has\n");
    write_text(tmp, "half of it");
    int other = open(tmp, O_RDWR);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX), 0); /* the other instance, downloading */

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    sr_err err;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_EIO);
    assert_true(err.retryable);
    assert_non_null(strstr(err.msg, "being written by another process"));
    assert_non_null(strstr(err.msg, tmp));
    assert_false(exists(dst));
    struct stat st;
    assert_int_equal(stat(tmp, &st), 0);
    assert_int_equal(st.st_size, 10); /* not truncated, not removed */

    /* the other one is gone (killed: its lock with it): the download goes ahead */
    assert_int_equal(close(other), 0);
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_OK);
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_size, 20);
    assert_false(exists(tmp));
    sr_transfer_pool_free(fx.pool);
}

static void download_wrong_size(void **state)
{
    (void)state;
    char src[512], dst[512], tmp[512];
    make_dir("size");
    path_in("size", "src.txt", src, sizeof src);
    path_in("size", "dst.txt", dst, sizeof dst);
    path_in("size", ".dst.txt", tmp, sizeof tmp);
    write_text(src, "twelve bytes");

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".");
    plan.size = 13;
    sr_err err;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "received 12 bytes"));
    assert_non_null(strstr(err.msg, "13"));
    assert_false(exists(dst));
    assert_false(exists(tmp));
    sr_transfer_pool_free(fx.pool);
}

/* A server that sends more than announced is stopped there, whatever it has left: the
 * temporary file goes, nothing under the final name (sr-security(7)). */
static void download_stops_past_the_size(void **state)
{
    (void)state;
    char src[512], dst[512], tmp[512];
    make_dir("limit");
    path_in("limit", "src.bin", src, sizeof src);
    path_in("limit", "dst.bin", dst, sizeof dst);
    path_in("limit", "dst.bin.tmp", tmp, sizeof tmp);
    write_pattern(src, 3 * MIB);

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    off_t max = 100000;
    plan.max_bytes = &max;
    sr_transfer_result res;
    sr_err err;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, &res, &err), SR_EREFUSED);
    assert_false(err.retryable);
    assert_non_null(strstr(err.msg, "more than the 100000 bytes"));
    assert_true(res.bytes <= max);
    assert_false(exists(dst));
    assert_false(exists(tmp));
    /* an empty file announced: not one byte */
    max = 0;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, &res, &err), SR_EREFUSED);
    assert_int_equal(res.bytes, 0);
    /* exactly the size: fine */
    max = 3 * MIB;
    plan.size = 3 * MIB;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, &res, &err), SR_OK);
    assert_true(same_content(src, dst));
    sr_transfer_pool_free(fx.pool);
}

static void download_resume(void **state)
{
    (void)state;
    char src[512], dst[512], tmp[512];
    make_dir("resume");
    path_in("resume", "src.bin", src, sizeof src);
    path_in("resume", "dst.bin", dst, sizeof dst);
    path_in("resume", "dst.bin.tmp", tmp, sizeof tmp);
    const size_t size = 2 * MIB + 333, have = MIB + 5;
    write_pattern(src, size);
    /* what an interrupted download left: the first `have` bytes under the temporary name */
    int in = open(src, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    char *buf = malloc(have);
    assert_int_equal(read(in, buf, have), (ssize_t)have);
    assert_int_equal(write(out, buf, have), (ssize_t)have);
    free(buf);
    close(in);
    close(out);
    sr_identity want = sha512_of(src);

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    plan.identity = &want;
    plan.size = (off_t)size;
    plan.resume = true;
    sr_identity got;
    sr_transfer_result res;
    sr_err err;
    assert_int_equal(download(fx.t, src, dst, &plan, &got, &res, &err), SR_OK);
    assert_true(res.resumed);
    assert_int_equal(res.bytes, (off_t)(size - have)); /* only the missing part moved */
    assert_string_equal(got.value, want.value);        /* the digest covers the whole file */
    assert_true(same_content(src, dst));
    assert_false(exists(tmp));
    sr_transfer_pool_free(fx.pool);
}

static void byte_rate_max(void **state)
{
    (void)state;
    char src[512], dst[512];
    make_dir("rate");
    path_in("rate", "src.bin", src, sizeof src);
    path_in("rate", "dst.bin", dst, sizeof dst);
    const double rate = 4.0 * MIB, size = 10.0 * MIB; /* 2.5 s */
    write_pattern(src, (size_t)size);

    fixture fx;
    open_file_session(&fx, rate);
    sr_transfer_plan plan = plan_of(".tmp");
    sr_transfer_result res;
    sr_err err;
    double start = sr_time_mono_s();
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, &res, &err), SR_OK);
    double took = sr_time_mono_s() - start, expected = size / rate;
    print_message("byteRateMax %.0f B/s: %.0f bytes in %.3f s (%.3f s expected)\n", rate, size,
                  took, expected);
    assert_true(took >= expected * 0.95);
    assert_true(took <= expected * 1.05);
    assert_true(same_content(src, dst));

    /* sends are throttled too */
    char dst2[512];
    path_in("rate", "sent.bin", dst2, sizeof dst2);
    sr_transfer_pool_free(fx.pool);
    open_file_session(&fx, 8.0 * MIB);
    start = sr_time_mono_s();
    assert_int_equal(put_path(fx.t, src, dst2, NULL, &res, &err), SR_OK);
    took = sr_time_mono_s() - start;
    assert_true(took >= size / (8.0 * MIB) * 0.95 && took <= size / (8.0 * MIB) * 1.05);
    assert_true(same_content(src, dst2));
    sr_transfer_pool_free(fx.pool);
}

static void send_inflight(void **state)
{
    (void)state;
    char src[512], dst[512], dst2[512], tmpdir_path[512];
    make_dir("send");
    path_in("send", "src.txt", src, sizeof src);
    path_in("send", "remote/a/b/dst.txt", dst, sizeof dst);
    path_in("send", "remote/c/dst.txt", dst2, sizeof dst2);
    path_in("send", "remote/c/tmp", tmpdir_path, sizeof tmpdir_path);
    write_text(src, "sent with an inflight name\n");

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    plan.mode = 0640;
    plan.dir_mode = 0750;
    struct timespec mtime = {1700000000, 123456789}, atime = {1700000100, 0};
    plan.mtime = &mtime;
    plan.atime = &atime;
    sr_transfer_result res;
    sr_err err;
    assert_int_equal(send_path(fx.t, src, dst, &plan, &res, &err), SR_OK);
    struct stat st; /* before reading it, which moves the atime */
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_mtim.tv_sec, mtime.tv_sec);
    assert_int_equal(st.st_mtim.tv_nsec, mtime.tv_nsec);
    assert_int_equal(st.st_atim.tv_sec, atime.tv_sec);
    assert_true(same_content(src, dst));
    assert_int_equal(res.bytes, 27);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    assert_false(exists(tmp));
    char dir[512];
    path_in("send", "remote/a/b", dir, sizeof dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);

    /* tmp/: written in the sub-folder, renamed into its parent */
    plan = plan_of("tmp/");
    assert_int_equal(send_path(fx.t, src, dst2, &plan, &res, &err), SR_OK);
    assert_true(same_content(src, dst2));
    assert_int_equal(stat(tmpdir_path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(tmp, sizeof tmp, "%s/dst.txt", tmpdir_path);
    assert_false(exists(tmp));

    /* a missing local file: an error naming it, nothing made remotely */
    char missing[512], nothing[512];
    path_in("send", "missing.txt", missing, sizeof missing);
    path_in("send", "remote/none.txt", nothing, sizeof nothing);
    plan = plan_of(".tmp");
    assert_int_equal(send_path(fx.t, missing, nothing, &plan, &res, &err), SR_ENOENT);
    assert_non_null(strstr(err.msg, missing));
    assert_false(exists(nothing));
    sr_transfer_pool_free(fx.pool);
}

static void download_mode_and_times(void **state)
{
    (void)state;
    char src[512], dst[512];
    make_dir("modes");
    path_in("modes", "src.txt", src, sizeof src);
    path_in("modes", "dst.txt", dst, sizeof dst);
    write_text(src, "permissions and times\n");

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_plan plan = plan_of(".tmp");
    plan.mode = 0604;
    struct timespec mtime = {1600000000, 500000000};
    plan.mtime = &mtime;
    sr_err err;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_OK);
    struct stat st;
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0604);
    assert_int_equal(st.st_mtim.tv_sec, mtime.tv_sec);
    assert_int_equal(st.st_mtim.tv_nsec, mtime.tv_nsec);
    assert_int_equal(st.st_atim.tv_sec, mtime.tv_sec); /* no atime: the mtime */

    /* no mode asked: the umask decides, as sr3 with permDefault 0 */
    char dst2[512];
    path_in("modes", "dst2.txt", dst2, sizeof dst2);
    mode_t old = umask(022);
    plan = plan_of(".tmp");
    assert_int_equal(download(fx.t, src, dst2, &plan, NULL, NULL, &err), SR_OK);
    umask(old);
    assert_int_equal(stat(dst2, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    sr_transfer_pool_free(fx.pool);
}

static void failure_leaves_no_final_name(void **state)
{
    (void)state;
    char missing[512], dst[512];
    make_dir("fail");
    path_in("fail", "missing.bin", missing, sizeof missing);
    path_in("fail", "dst.bin", dst, sizeof dst);

    fixture fx;
    open_file_session(&fx, 0);
    const char *inflights[] = {".tmp", ".", "tmp/", "None"};
    for (size_t i = 0; i < sizeof inflights / sizeof inflights[0]; i++) {
        sr_transfer_plan plan = plan_of(inflights[i]);
        sr_err err;
        int rc = download(fx.t, missing, dst, &plan, NULL, NULL, &err);
        assert_int_equal(rc, SR_ENOENT);
        assert_false(err.retryable);
        assert_non_null(strstr(err.msg, missing));
        assert_false(exists(dst));
        char *tmp = sr_inflight_path(&plan.inflight, dst);
        assert_false(exists(tmp));
        free(tmp);
    }
    /* inflight None and a wrong identity: the file written under its final name goes */
    char src[512];
    path_in("fail", "src.txt", src, sizeof src);
    write_text(src, "content\n");
    sr_identity wrong = {.method = SR_ID_SHA512};
    snprintf(wrong.value, sizeof wrong.value, "%s", sha512_of(src).value);
    wrong.value[0] = wrong.value[0] == 'A' ? 'B' : 'A';
    sr_transfer_plan plan = plan_of("None");
    plan.identity = &wrong;
    sr_err err;
    assert_int_equal(download(fx.t, src, dst, &plan, NULL, NULL, &err), SR_EINVAL);
    assert_false(exists(dst));
    sr_transfer_pool_free(fx.pool);
}

static void file_get_put_ranges(void **state)
{
    (void)state;
    char src[512], part[512], whole[512];
    make_dir("ranges");
    path_in("ranges", "src.bin", src, sizeof src);
    path_in("ranges", "part.bin", part, sizeof part);
    path_in("ranges", "whole.bin", whole, sizeof whole);
    write_pattern(src, 100000);

    fixture fx;
    open_file_session(&fx, 0);
    sr_transfer_result res;
    sr_err err;
    /* get bytes 1000..1499, written at offset 1000 */
    sr_range r = {1000, 500};
    sr_digest *d = sr_digest_new(SR_ID_SHA512, &err);
    int out = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(out >= 0);
    assert_int_equal(sr_transfer_get(fx.t, src, out, &r, d, &res, &err), SR_OK);
    assert_int_equal(res.bytes, 500);
    sr_identity got, want;
    assert_int_equal(sr_digest_final(d, &got, &err), SR_OK);
    int fd = open(src, O_RDONLY);
    sr_identity_spec spec = {.method = SR_ID_SHA512};
    assert_int_equal(sr_identity_of_range(fd, 1000, 500, &spec, &want, NULL, &err), SR_OK);
    close(fd);
    assert_string_equal(got.value, want.value);
    struct stat st;
    assert_int_equal(stat(part, &st), 0);
    assert_int_equal(st.st_size, 1500);
    sr_digest_free(d);

    /* a range past the end: an error, the file may still grow */
    r = (sr_range){99000, 2000};
    assert_int_equal(sr_transfer_get(fx.t, src, out, &r, NULL, &res, &err), SR_EIO);
    assert_true(err.retryable);
    close(out);

    /* whole put (the kernel copies), then a range put into it */
    assert_int_equal(put_path(fx.t, src, whole, NULL, &res, &err), SR_OK);
    assert_int_equal(res.bytes, 100000);
    assert_true(same_content(src, whole));
    r = (sr_range){50000, 0};
    assert_int_equal(put_path(fx.t, src, whole, &r, &res, &err), SR_OK);
    assert_int_equal(res.bytes, 50000);
    assert_true(same_content(src, whole));
    /* a file onto itself is refused, not truncated */
    assert_int_equal(put_path(fx.t, src, src, NULL, &res, &err), SR_EINVAL);
    assert_int_equal(stat(src, &st), 0);
    assert_int_equal(st.st_size, 100000);
    sr_transfer_pool_free(fx.pool);
}

static int entry_index(const sr_remote_entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void file_operations(void **state)
{
    (void)state;
    char base[512], p[512], q[512];
    make_dir("ops");
    path_in("ops", "tree", base, sizeof base);

    fixture fx;
    open_file_session(&fx, 0);
    sr_err err;
    /* mkdir -p, twice (the second finds it there) */
    path_in("ops", "tree/a/b/c", p, sizeof p);
    assert_int_equal(sr_transfer_mkdir_p(fx.t, p, 0700, &err), SR_OK);
    assert_int_equal(sr_transfer_mkdir_p(fx.t, p, 0700, &err), SR_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* a file in the way */
    path_in("ops", "tree/file", q, sizeof q);
    write_text(q, "x");
    char under[600];
    snprintf(under, sizeof under, "%s/sub", q);
    assert_int_not_equal(sr_transfer_mkdir_p(fx.t, under, 0755, &err), SR_OK);
    assert_non_null(strstr(err.msg, q));

    /* rename, stat, chmod, utime */
    path_in("ops", "tree/renamed", p, sizeof p);
    assert_int_equal(sr_transfer_rename(fx.t, q, p, &err), SR_OK);
    assert_false(exists(q));
    assert_int_equal(sr_transfer_chmod(fx.t, p, 0600, &err), SR_OK);
    struct timespec mt = {1500000000, 0};
    assert_int_equal(sr_transfer_utime(fx.t, p, NULL, &mt, &err), SR_OK);
    sr_remote_stat rs;
    assert_int_equal(sr_transfer_stat(fx.t, p, &rs, &err), SR_OK);
    assert_int_equal(rs.size, 1);
    assert_int_equal(rs.mode & 07777, 0600);
    assert_true(S_ISREG(rs.mode));
    assert_false(rs.is_dir);
    assert_int_equal(rs.mtime.tv_sec, 1500000000);
    char remote[600];
    snprintf(remote, sizeof remote, "/%s", p); /* "//x" is /x */
    assert_int_equal(sr_transfer_stat(fx.t, remote, &rs, &err), SR_OK);
    assert_int_equal(rs.size, 1);

    /* symlink, replacing what has the name */
    path_in("ops", "tree/link", q, sizeof q);
    assert_int_equal(sr_transfer_symlink(fx.t, "renamed", q, &err), SR_OK);
    assert_int_equal(sr_transfer_symlink(fx.t, "a", q, &err), SR_OK);
    char target[64] = "";
    assert_int_equal(readlink(q, target, sizeof target - 1), 1);
    assert_string_equal(target, "a");
    assert_int_equal(sr_transfer_stat(fx.t, q, &rs, &err), SR_OK);
    assert_true(S_ISLNK(rs.mode));

    /* list: no . and .., sorted, with kinds and sizes */
    sr_remote_entry *e;
    size_t n;
    assert_int_equal(sr_transfer_list(fx.t, base, &e, &n, &err), SR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].name, "a");
    assert_true(e[entry_index(e, n, "a")].stat.is_dir);
    assert_int_equal(e[entry_index(e, n, "renamed")].stat.size, 1);
    assert_true(S_ISLNK(e[entry_index(e, n, "link")].stat.mode));
    sr_remote_entries_free(e, n);

    /* remove: a file, an empty folder; a folder with something in it is refused */
    assert_int_equal(sr_transfer_delete(fx.t, q, false, &err), SR_OK);
    assert_int_equal(sr_transfer_delete(fx.t, p, false, &err), SR_OK);
    path_in("ops", "tree/a", p, sizeof p);
    assert_int_not_equal(sr_transfer_delete(fx.t, p, true, &err), SR_OK);
    assert_false(err.retryable);
    path_in("ops", "tree/a/b/c", p, sizeof p);
    assert_int_equal(sr_transfer_delete(fx.t, p, true, &err), SR_OK);
    assert_false(exists(p));

    /* what is not there: SR_ENOENT, not retryable, naming the path */
    path_in("ops", "tree/nothing", p, sizeof p);
    assert_int_equal(sr_transfer_delete(fx.t, p, false, &err), SR_ENOENT);
    assert_false(err.retryable);
    assert_non_null(strstr(err.msg, p));
    assert_int_equal(sr_transfer_stat(fx.t, p, &rs, &err), SR_ENOENT);
    assert_int_equal(sr_transfer_list(fx.t, p, &e, &n, &err), SR_ENOENT);
    assert_int_equal(sr_transfer_rename(fx.t, p, q, &err), SR_ENOENT);
    assert_non_null(strstr(err.msg, p));
    assert_int_equal(sr_transfer_chmod(fx.t, p, 0644, &err), SR_ENOENT);
    sr_transfer_pool_free(fx.pool);
}

static void sessions_and_schemes(void **state)
{
    (void)state;
    sr_transfer_options o = {0};
    sr_err err;
    sr_transfer_pool *pool = sr_transfer_pool_new(&o, &err);
    assert_non_null(pool);
    sr_transfer *a, *b;
    assert_int_equal(sr_transfer_pool_get(pool, "file:/x/y", &a, &err), SR_OK);
    assert_int_equal(sr_transfer_pool_get(pool, "file:/z", &b, &err), SR_OK);
    assert_ptr_equal(a, b); /* one session per remote, whatever the path */
    assert_string_equal(sr_transfer_url(a), "file:");
    assert_int_equal(sr_transfer_pool_get(pool, "gopher://h/x", &b, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "gopher"));
    /* a curl session is made without connecting */
    assert_int_equal(sr_transfer_pool_get(pool, "http://127.0.0.1:9/", &b, &err), SR_OK);
    assert_ptr_not_equal(a, b);
    sr_transfer_pool_free(pool);
}

/* Compares and frees a string made by the function under test. */
static void check_path(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* A sender's remote folder as sr3 changes into it from the login folder (verified by
 * running sr3 against an sshd and an ftp server, test/integration/test_remote_paths.py):
 * absolute stays absolute ("//", this API's form), relative stays in the login folder. */
static void folder_paths(void **state)
{
    (void)state;
    check_path(sr_transfer_folder_path("/home/bob/on_hpfx", "f"), "//home/bob/on_hpfx/f");
    check_path(sr_transfer_folder_path("//scratch/in/", "f"), "//scratch/in/f");
    check_path(sr_transfer_folder_path("/abs/sub/f", NULL), "//abs/sub/f");
    check_path(sr_transfer_folder_path("/", "f"), "//f");
    check_path(sr_transfer_folder_path("on_hpfx", "f"), "on_hpfx/f");
    check_path(sr_transfer_folder_path("./sub/f", NULL), "sub/f");
    check_path(sr_transfer_folder_path(".", "f"), "f");
    check_path(sr_transfer_folder_path(".", NULL), ".");
    check_path(sr_transfer_folder_path(NULL, "f"), "f");
    check_path(sr_transfer_folder_path("rel", ""), "rel");
}

/* A download's remote path from the baseUrl's path and relPath, as sr3 reads them. */
static void url_paths(void **state)
{
    (void)state;
    /* sftp and ftp: a path after the host is absolute, "//" or not */
    check_path(sr_transfer_url_path("sftp", "/data", "a/f"), "//data/a/f");
    check_path(sr_transfer_url_path("sftp", "//data", "a/f"), "//data/a/f");
    check_path(sr_transfer_url_path("sftp", "/data/", "/a/f"), "//data/a/f");
    check_path(sr_transfer_url_path("ftp", "/", "a/f"), "//a/f");
    check_path(sr_transfer_url_path("ftps", "", "/a/f"), "//a/f");
    /* ... and only a baseUrl ending at the host, with a relative relPath, is in the login
     * folder */
    check_path(sr_transfer_url_path("sftp", "", "a/f"), "a/f");
    check_path(sr_transfer_url_path("ftp", "", "f"), "f");
    /* other schemes: the URL's path, one '/' between the two */
    check_path(sr_transfer_url_path("https", "/data", "a/f"), "/data/a/f");
    check_path(sr_transfer_url_path("http", "/data/", "/a/f"), "/data/a/f");
    check_path(sr_transfer_url_path("http", "", "a/f"), "/a/f");
    check_path(sr_transfer_url_path("file", "/data", "a/f"), "/data/a/f");
}

/* file: listings, one entry at a time: kinds, sizes, times, modes, a link's target;
 * devices and pipes left out; a sink that stops stops the listing; a missing folder is
 * SR_ENOENT. */
typedef struct listed_names {
    char text[1024];
    int seen, stop_at;
} listed_names;

static int note_listed(void *ctx, const sr_listed *e, sr_err *err)
{
    listed_names *ln = ctx;
    if (++ln->seen == ln->stop_at)
        return sr_err_set(err, SR_EREFUSED, false, "enough");
    /* readdir's order is the file system's: one line per entry, sorted by the caller */
    char line[256];
    /* (a folder's size is the file system's: not compared) */
    snprintf(line, sizeof line, "%s|%lld|%lld|%c|%o|%s\n", e->name,
             S_ISDIR(e->mode) ? -2LL : (long long)e->size,
             e->has_mtime ? (long long)e->mtime.tv_sec : -1LL,
             S_ISDIR(e->mode)   ? 'd'
             : S_ISLNK(e->mode) ? 'l'
                                : 'f',
             e->has_perms ? (unsigned)(e->mode & 07777) : 0u, e->link ? e->link : "");
    /* insertion in order keeps the text comparable */
    char *at = ln->text;
    while (*at != '\0' && strcmp(at, line) < 0 && strchr(at, '\n') != NULL)
        at = strchr(at, '\n') + 1;
    size_t used = strlen(ln->text), add = strlen(line);
    assert_true(used + add < sizeof ln->text);
    memmove(at + add, at, strlen(at) + 1);
    memcpy(at, line, add);
    return SR_OK;
}

static void file_list_each(void **state)
{
    (void)state;
    make_dir("each");
    char p[512], q[512], base[512];
    path_in("each", "", base, sizeof base);
    write_text(path_in("each", "f.txt", p, sizeof p), "12345");
    chmod(p, 0640);
    struct timespec times[2] = {{.tv_sec = 1500000000}, {.tv_sec = 1500000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    assert_int_equal(mkdir(path_in("each", "d", q, sizeof q), 0750), 0);
    assert_int_equal(utimensat(AT_FDCWD, q, times, 0), 0);
    assert_int_equal(symlink("f.txt", path_in("each", "l", q, sizeof q)), 0);
    assert_int_equal(utimensat(AT_FDCWD, q, times, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(mkfifo(path_in("each", "fifo", q, sizeof q), 0600), 0);

    fixture fx;
    open_file_session(&fx, 0);
    sr_err err;
    listed_names ln = {0};
    sr_listing_sink sink = {.entry = note_listed, .ctx = &ln};
    assert_int_equal(sr_transfer_list_each(fx.t, base, NULL, &sink, &err), SR_OK);
    assert_string_equal(ln.text, "d|-2|1500000000|d|750|\n"
                                 "f.txt|5|1500000000|f|640|\n"
                                 "l|5|1500000000|l|777|f.txt\n");
    assert_int_equal(ln.seen, 3);

    listed_names stop = {.stop_at = 2};
    sink.ctx = &stop;
    assert_int_equal(sr_transfer_list_each(fx.t, base, NULL, &sink, &err), SR_EREFUSED);
    assert_string_equal(err.msg, "enough");
    assert_int_equal(stop.seen, 2);

    /* the gathered form: sorted, UTC, no fifo */
    sr_remote_entry *e;
    size_t n;
    assert_int_equal(sr_transfer_list(fx.t, base, &e, &n, &err), SR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].name, "d");
    assert_true(e[0].stat.is_dir);
    assert_string_equal(e[1].name, "f.txt");
    assert_int_equal(e[1].stat.size, 5);
    assert_int_equal(e[1].stat.mtime.tv_sec, 1500000000);
    assert_int_equal(e[1].stat.mode, S_IFREG | 0640);
    assert_true(S_ISLNK(e[2].stat.mode));
    sr_remote_entries_free(e, n);

    path_in("each", "none", p, sizeof p);
    assert_int_equal(sr_transfer_list_each(fx.t, p, NULL, &sink, &err), SR_ENOENT);
    assert_non_null(strstr(err.msg, p));
    sr_transfer_pool_free(fx.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inflight_names),
        cmocka_unit_test(download_right_identity),
        cmocka_unit_test(download_wrong_identity),
        cmocka_unit_test(download_checks_wis2_digests),
        cmocka_unit_test(download_temp_held_by_another),
        cmocka_unit_test(download_wrong_size),
        cmocka_unit_test(download_resume),
        cmocka_unit_test(byte_rate_max),
        cmocka_unit_test(send_inflight),
        cmocka_unit_test(download_mode_and_times),
        cmocka_unit_test(failure_leaves_no_final_name),
        cmocka_unit_test(file_get_put_ranges),
        cmocka_unit_test(file_operations),
        cmocka_unit_test(sessions_and_schemes),
        cmocka_unit_test(download_stops_past_the_size),
        cmocka_unit_test(folder_paths),
        cmocka_unit_test(url_paths),
        cmocka_unit_test(file_list_each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
