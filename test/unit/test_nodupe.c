/* SPDX-License-Identifier: GPL-2.0-only */
/* test_nodupe: the duplicate cache (sr(1), THE FLOW, Duplicate cache): keys as sr3 derives
 * them, ttl and LRU refresh, retries never rejected as their own duplicate, and the cache file
 * surviving a crash, a torn line and lines that are not ours. */
#include "unit.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nodupe.h"

TEST_TMPDIR_FIXTURE("sr_test_nodupe")

/* tmpdir/name in a static buffer. */
static const char *tmp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static sr_message *msg(const char *json)
{
    sr_message *m = NULL;
    sr_err err;
    int rc = sr_message_decode_v03(json, strlen(json), &m, &err);
    if (rc != SR_OK)
        fail_msg("%s: %s", json, err.msg);
    return m;
}

/* A file message with a sha512 identity (value given) at relPath. */
static sr_message *file_msg(const char *rel, const char *value)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"pubTime\":\"20240101T000000\",\"baseUrl\":\"sftp://h/\",\"relPath\":\"%s\","
             "\"identity\":{\"method\":\"sha512\",\"value\":\"%s\"},\"size\":10}",
             rel, value);
    return msg(json);
}

static void expect_key(const char *json, enum sr_nodupe_basis basis, const sr_nodupe_hint *hint,
                       const char *key, const char *path)
{
    sr_message *m = msg(json);
    char *k, *p;
    assert_int_equal(sr_nodupe_derive(m, basis, hint, &k, &p, NULL), SR_OK);
    assert_string_equal(k, key);
    assert_string_equal(p, path);
    free(k);
    free(p);
    sr_message_free(m);
}

#define HEAD "{\"pubTime\":\"20240101T000000.5\",\"baseUrl\":\"https://h/\","

static void keys_as_sr3_derives_them(void **state)
{
    (void)state;
    /* identity: method,value with PY's base64 line break taken out */
    expect_key(HEAD "\"relPath\":\"/a/b.txt\",\"identity\":{\"method\":\"sha512\","
                    "\"value\":\"q6ur\\nq6urqw==\"},\"size\":3}",
               SR_NODUPE_PATH, NULL, "sha512,q6urq6urqw==", "a/b.txt");
    expect_key(HEAD "\"relPath\":\"a/b.txt\",\"identity\":{\"method\":\"md5\","
                    "\"value\":\"1B2M2Y8AsgTpgAmY7PhCfg==\"}}",
               SR_NODUPE_PATH, NULL, "md5,1B2M2Y8AsgTpgAmY7PhCfg==", "a/b.txt");
    expect_key(HEAD "\"relPath\":\"a/b.txt\",\"identity\":{\"method\":\"arbitrary\","
                    "\"value\":\"v 1\"}}",
               SR_NODUPE_PATH, NULL, "arbitrary,v 1", "a/b.txt");
    /* cod and random say nothing about the content: relPath, mtime, size */
    expect_key(HEAD "\"relPath\":\"a/b.txt\",\"identity\":{\"method\":\"cod\","
                    "\"value\":\"sha512\"},\"mtime\":\"20231231T235959\",\"size\":42}",
               SR_NODUPE_PATH, NULL, "a/b.txt,20231231T235959,42", "a/b.txt");
    expect_key(HEAD "\"relPath\":\"a/b.txt\",\"identity\":{\"method\":\"random\","
                    "\"value\":\"0042\"},\"size\":\"42\"}",
               SR_NODUPE_PATH, NULL, "a/b.txt,20240101T000000.5,42", "a/b.txt");
    /* no identity, no mtime, no size: relPath and pubTime */
    expect_key(HEAD "\"relPath\":\"a/b.txt\"}", SR_NODUPE_PATH, NULL, "a/b.txt,20240101T000000.5",
               "a/b.txt");
    /* fileOps: a link's text, a directory's relPath; a file's rename keys as the file;
     * the others skip the identity */
    expect_key(HEAD "\"relPath\":\"a/l\",\"fileOp\":{\"link\":\"../t x\"}}", SR_NODUPE_PATH, NULL,
               "../t x", "a/l");
    expect_key(HEAD "\"relPath\":\"/a/d\",\"fileOp\":{\"directory\":\"\"}}", SR_NODUPE_PATH, NULL,
               "a/d", "a/d");
    expect_key(HEAD "\"relPath\":\"a/d\",\"fileOp\":{\"directory\":\"\",\"remove\":\"\"}}",
               SR_NODUPE_PATH, NULL, "a/d,rmdir", "a/d");
    expect_key(HEAD "\"relPath\":\"a/new\",\"fileOp\":{\"rename\":\"a/old\"},\"identity\":{"
                    "\"method\":\"md5\",\"value\":\"1B2M2Y8AsgTpgAmY7PhCfg==\"},\"size\":0}",
               SR_NODUPE_PATH, NULL, "md5,1B2M2Y8AsgTpgAmY7PhCfg==", "a/new");
    /* nodupe_basis data and name */
    const char *file = HEAD "\"relPath\":\"x/y/c.txt\",\"identity\":{\"method\":\"md5\","
                            "\"value\":\"1B2M2Y8AsgTpgAmY7PhCfg==\"}}";
    expect_key(file, SR_NODUPE_DATA, NULL, "md5,1B2M2Y8AsgTpgAmY7PhCfg==", "data");
    expect_key(file, SR_NODUPE_NAME, NULL, "c.txt", "c.txt");
    /* nodupe_override */
    sr_nodupe_hint h = {.key = "K", .path = "P"};
    expect_key(file, SR_NODUPE_NAME, &h, "K", "P");
    sr_nodupe_hint only_path = {.path = "P"};
    expect_key(file, SR_NODUPE_PATH, &only_path, "md5,1B2M2Y8AsgTpgAmY7PhCfg==", "P");
    /* blocks of a partitioned file with the same content (all zeros): each its own key */
    const char *block = HEAD "\"relPath\":\"z.bin\",\"identity\":{\"method\":\"md5\","
                             "\"value\":\"Dh3Y4ohVbq7N2nLYPlmIVw==\"},\"size\":4,\"blocks\":"
                             "{\"method\":\"inplace\",\"size\":4,\"number\":1,\"manifest\":{"
                             "\"0\":{\"size\":4,\"identity\":\"Dh3Y4ohVbq7N2nLYPlmIVw==\"},"
                             "\"1\":{\"size\":4,\"identity\":\"Dh3Y4ohVbq7N2nLYPlmIVw==\"}}}}";
    expect_key(block, SR_NODUPE_PATH, NULL, "md5,Dh3Y4ohVbq7N2nLYPlmIVw==,block 1", "z.bin");
}

static void new_cache(const char *path, double ttl, enum sr_nodupe_basis basis, int flags,
                      double now, sr_nodupe **c, sr_nodupe_load_stats *st)
{
    sr_err err;
    int rc = sr_nodupe_new(path, ttl, basis, flags, now, c, st, &err);
    if (rc != SR_OK)
        fail_msg("sr_nodupe_new: %s", err.msg);
}

static bool check(sr_nodupe *c, const sr_message *m, const sr_nodupe_hint *h, double now)
{
    bool dup = true;
    sr_err err;
    int rc = sr_nodupe_check(c, m, h, now, &dup, &err);
    if (rc != SR_OK)
        fail_msg("sr_nodupe_check: %s", err.msg);
    return dup;
}

static void same_key_and_path_within_ttl(void **state)
{
    (void)state;
    sr_nodupe *c;
    new_cache(NULL, 300, SR_NODUPE_PATH, 0, 1000, &c, NULL);
    sr_message *a = file_msg("a/f", "AAAA"), *b = file_msg("b/f", "AAAA");
    sr_message *a2 = file_msg("a/f", "BBBB");
    assert_false(check(c, a, NULL, 1000));
    assert_true(check(c, a, NULL, 1001));
    assert_false(check(c, b, NULL, 1002));  /* same content, other path */
    assert_false(check(c, a2, NULL, 1003)); /* same path, new content */
    assert_int_equal(sr_nodupe_count(c), 3);
    /* last seen at 1001: a duplicate up to and including 1301 (sr3: t + ttl >= now) */
    assert_true(check(c, a, NULL, 1301));
    /* every hit refreshes: 1301 + 300 */
    assert_true(check(c, a, NULL, 1601));
    assert_false(check(c, a, NULL, 1901.5));
    sr_nodupe_free(c);

    new_cache(NULL, 300, SR_NODUPE_DATA, 0, 1000, &c, NULL);
    assert_false(check(c, a, NULL, 1000));
    assert_true(check(c, b, NULL, 1000)); /* data: any path */
    sr_nodupe_free(c);
    sr_message_free(a);
    sr_message_free(b);
    sr_message_free(a2);
}

static void name_basis_for_products_from_two_trees(void **state)
{
    (void)state;
    sr_nodupe *c;
    new_cache(NULL, 60, SR_NODUPE_NAME, 0, 0, &c, NULL);
    sr_message *x = file_msg("radarA/2024/img.gif", "AAAA");
    sr_message *y = file_msg("radarB/2024/img.gif", "BBBB"); /* not binary identical */
    assert_false(check(c, x, NULL, 1));
    assert_true(check(c, y, NULL, 2));
    sr_nodupe_free(c);
    sr_message_free(x);
    sr_message_free(y);
}

static void a_retry_is_not_its_own_duplicate(void **state)
{
    (void)state;
    sr_nodupe *c;
    new_cache(NULL, 300, SR_NODUPE_PATH, 0, 0, &c, NULL);
    sr_message *m = file_msg("a/f", "AAAA");
    sr_nodupe_hint retry = {.retry = true};
    assert_false(check(c, m, NULL, 10));
    assert_false(check(c, m, &retry, 100)); /* the retry goes through */
    assert_int_equal(sr_nodupe_count(c), 1);
    /* and refreshed the entry: 100 + 300 */
    assert_true(check(c, m, NULL, 400));
    /* a retry of a message never seen is recorded */
    sr_message *n = file_msg("a/g", "CCCC");
    assert_false(check(c, n, &retry, 500));
    assert_true(check(c, n, NULL, 501));
    sr_nodupe_free(c);
    sr_message_free(m);
    sr_message_free(n);
}

static void expiry_drops_the_oldest_first(void **state)
{
    (void)state;
    sr_nodupe *c;
    new_cache(NULL, 100, SR_NODUPE_PATH, 0, 0, &c, NULL);
    sr_message *m = file_msg("a/f", "AAAA");
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        sr_nodupe_hint h = {.key = key};
        assert_false(check(c, m, &h, 10.0 * i));
    }
    sr_nodupe_hint k0 = {.key = "k0"};
    assert_true(check(c, m, &k0, 95));             /* k0 now the newest */
    assert_int_equal(sr_nodupe_expire(c, 150), 4); /* k1..k4 (10..40) are older than 50 */
    assert_int_equal(sr_nodupe_count(c), 6);
    assert_int_equal(sr_nodupe_expire(c, 150), 0);
    assert_int_equal(sr_nodupe_expire(c, 1000), 6);
    assert_int_equal(sr_nodupe_count(c), 0);
    sr_nodupe_free(c);
    sr_message_free(m);
}

/* The lines of a file, joined, in a new string. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void the_file_survives_a_kill(void **state)
{
    (void)state;
    const char *path = tmp_path("recent_files_01.cache");
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sr_nodupe *c;
        if (sr_nodupe_new(path, 300, SR_NODUPE_PATH, 0, 1000, &c, NULL, NULL) != SR_OK)
            _exit(2);
        for (int i = 0; i < 50; i++) {
            char rel[32];
            snprintf(rel, sizeof rel, "dir/f%02d", i);
            sr_message *m = file_msg(rel, "AAAA");
            bool dup;
            if (sr_nodupe_check(c, m, NULL, 1000 + i, &dup, NULL) != SR_OK || dup)
                _exit(3);
            sr_message_free(m);
        }
        _exit(0); /* no free, no save: as killed */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    sr_nodupe *c;
    sr_nodupe_load_stats st;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 1100, &c, &st);
    assert_int_equal(st.loaded, 50);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.malformed, 0);
    sr_message *m = file_msg("dir/f07", "AAAA");
    assert_true(check(c, m, NULL, 1100));
    sr_message_free(m);
    /* f00..f09 were last seen at 1000..1009: expired at 1305 */
    size_t expired = 99;
    assert_int_equal(sr_nodupe_save(c, 1305, &expired, NULL), SR_OK);
    assert_int_equal(expired, 5); /* f00..f04; f07 was refreshed at 1100 */
    assert_int_equal(sr_nodupe_count(c), 45);
    sr_nodupe_free(c);
    /* the saved file: one "<key> <time> <path>" line per entry, oldest first */
    char *text = slurp(path);
    assert_non_null(strstr(text, "sha512,AAAA 1005.000000 dir/f05\n"));
    assert_non_null(strstr(text, "sha512,AAAA 1100.000000 dir/f07\n"));
    assert_null(strstr(text, "dir/f04"));
    assert_true(strstr(text, "dir/f05") < strstr(text, "dir/f07"));
    free(text);
    /* no temporary file left behind */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void bad_lines_are_skipped_and_counted(void **state)
{
    (void)state;
    const char *path = tmp_path("recent_files_02.cache");
    write_file(path, "sha512,AAAA 1000.000000 a/f\n"      /* good */
                     "sha512,BBBB 10.5 a/old\n"           /* expired */
                     "sha512,CCCC 1000 sub%2Fdir/g%20h\n" /* sr3 url-quoted path: good */
                     "only-two-words 1000\n"              /* malformed */
                     "k 1000 p extra\n"                   /* malformed */
                     "k notatime p\n"                     /* malformed */
                     "k 1000 bad%zzescape\n"              /* malformed */
                     "k -5 p\n"                           /* malformed */
                     "\n"                                 /* malformed */
                     "sha512,AAAA 1001.000000 a/f\n"      /* a refresh of the first */
                     "sha512,DDDD 1000.000000 torn/li");  /* no newline: still whole */
    sr_nodupe *c;
    sr_nodupe_load_stats st;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 1200, &c, &st);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.malformed, 6);
    sr_nodupe_hint h = {.key = "sha512,CCCC", .path = "sub/dir/g h"};
    sr_message *m = file_msg("a/f", "AAAA");
    assert_true(check(c, m, &h, 1200));
    /* a/f was refreshed at 1001 in the file: still there at 1301 */
    assert_int_equal(sr_nodupe_expire(c, 1301), 1); /* torn/li at 1000 */
    assert_true(check(c, m, NULL, 1301));
    sr_nodupe_free(c);
    sr_message_free(m);
    /* the load rewrote the file without the bad lines */
    char *text = slurp(path);
    assert_null(strstr(text, "extra"));
    assert_null(strstr(text, "BBBB"));
    assert_non_null(strstr(text, "sha512,CCCC 1000.000000 sub/dir/g%20h\n"));
    free(text);
}

static void odd_bytes_survive_the_file(void **state)
{
    (void)state;
    const char *path = tmp_path("recent_files_03.cache");
    unlink(path);
    sr_nodupe *c;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 0, &c, NULL);
    sr_message *m = file_msg("a/f", "AAAA");
    sr_nodupe_hint h = {.key = "a key\nwith %41 \t\r", .path = "p ath%\x7f/é"};
    assert_false(check(c, m, &h, 10));
    sr_nodupe_hint empty = {.key = "", .path = ""};
    assert_false(check(c, m, &empty, 10));
    sr_nodupe_free(c);
    char *text = slurp(path);
    assert_string_equal(text, "a%20key%0Awith%20%2541%20%09%0D 10.000000 p%20ath%25%7F/é\n"
                              " 10.000000 \n");
    free(text);
    sr_nodupe_load_stats st;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 20, &c, &st);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.malformed, 0);
    assert_true(check(c, m, &h, 20));
    assert_true(check(c, m, &empty, 20));
    sr_nodupe_free(c);
    sr_message_free(m);
}

/* The file hits a size limit (as a full disk would): check() still answers, says the line
 * was not written, and the next save puts every entry in the file. */
static void a_full_disk_costs_no_entry(void **state)
{
    (void)state;
    const char *path = tmp_path("recent_files_06.cache");
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        sr_nodupe *c;
        if (sr_nodupe_new(path, 300, SR_NODUPE_PATH, 0, 0, &c, NULL, NULL) != SR_OK)
            _exit(100);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rlim_t hard = rl.rlim_max;
        rl.rlim_cur = 100;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(101);
        int failed = 0;
        for (int i = 0; i < 20; i++) {
            char rel[16];
            snprintf(rel, sizeof rel, "full/%02d", i);
            sr_message *m = file_msg(rel, "AAAA");
            bool dup = true;
            int rc = sr_nodupe_check(c, m, NULL, 1, &dup, NULL);
            if (rc == SR_EIO)
                failed++;
            else if (rc != SR_OK)
                _exit(102);
            if (dup)
                _exit(103);
            /* the answer holds after a failed write too */
            rc = sr_nodupe_check(c, m, NULL, 2, &dup, NULL);
            if ((rc != SR_OK && rc != SR_EIO) || !dup)
                _exit(104);
            sr_message_free(m);
        }
        if (failed == 0)
            _exit(105);
        rl.rlim_cur = hard;
        setrlimit(RLIMIT_FSIZE, &rl);
        if (sr_nodupe_save(c, 3, NULL, NULL) != SR_OK)
            _exit(106);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sr_nodupe *c;
    sr_nodupe_load_stats st;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 4, &c, &st);
    assert_int_equal(st.loaded, 20);
    assert_int_equal(st.malformed, 0);
    sr_nodupe_free(c);
}

static void buffered_lines_wait_for_flush(void **state)
{
    (void)state;
    const char *path = tmp_path("recent_files_04.cache");
    unlink(path);
    sr_nodupe *c;
    new_cache(path, 300, SR_NODUPE_PATH, SR_NODUPE_BUFFERED, 0, &c, NULL);
    sr_message *m = file_msg("a/f", "AAAA");
    assert_false(check(c, m, NULL, 1));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    assert_int_equal(sr_nodupe_flush(c, NULL), SR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 0);
    sr_nodupe_free(c);
    sr_message_free(m);
}

static void bad_arguments(void **state)
{
    (void)state;
    sr_nodupe *c = (sr_nodupe *)1;
    sr_err err;
    assert_int_equal(sr_nodupe_new(NULL, 0, SR_NODUPE_PATH, 0, 0, &c, NULL, &err), SR_EINVAL);
    assert_null(c);
    assert_int_equal(sr_nodupe_new("/nonexistent/dir/recent_files_01.cache", 10, SR_NODUPE_PATH, 0,
                                   0, &c, NULL, &err),
                     SR_EIO);
    assert_null(c);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/recent_files_01.cache"));
    sr_nodupe_free(NULL);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 100,000 entries: all found again, saved and loaded back; the rate is printed. */
static void a_hundred_thousand_entries(void **state)
{
    (void)state;
    enum { N = 100000 };
    const char *path = tmp_path("recent_files_05.cache");
    unlink(path);
    sr_nodupe *c;
    new_cache(path, 3600, SR_NODUPE_PATH, SR_NODUPE_BUFFERED, 0, &c, NULL);
    sr_message *m = file_msg("some/dir/file.grib2", "AAAA");
    char key[32];
    sr_nodupe_hint h = {.key = key};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "sha512,%08d", i);
        assert_false(check(c, m, &h, 1));
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "sha512,%08d", i);
        assert_true(check(c, m, &h, 2));
    }
    double s = seconds_since(&t0);
    print_message("nodupe: %d checks (file, buffered) in %.3f s: %.0f/s\n", 2 * N, s, 2 * N / s);
    assert_int_equal(sr_nodupe_count(c), N);
    assert_int_equal(sr_nodupe_save(c, 3, NULL, NULL), SR_OK);
    sr_nodupe_free(c);
    sr_nodupe_load_stats st;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    new_cache(path, 3600, SR_NODUPE_PATH, 0, 4, &c, &st);
    print_message("nodupe: load of %zu entries in %.3f s\n", st.loaded, seconds_since(&t0));
    assert_int_equal(st.loaded, N);
    snprintf(key, sizeof key, "sha512,%08d", N / 2);
    assert_true(check(c, m, &h, 5));
    sr_nodupe_free(c);

    /* the table alone, keys derived from the message */
    new_cache(NULL, 3600, SR_NODUPE_PATH, 0, 0, &c, NULL);
    sr_message *msgs[1000];
    for (int i = 0; i < 1000; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "20240101/WXO-DD/citypage/file_%04d.xml", i);
        msgs[i] = file_msg(rel, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6ur"
                                "q6urq6urq6urq6urq6urq6urq6urq6urqw==");
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < 100; r++)
        for (int i = 0; i < 1000; i++)
            assert_true(check(c, msgs[i], NULL, 1) == (r > 0));
    s = seconds_since(&t0);
    print_message("nodupe: %d checks (memory) in %.3f s: %.0f/s\n", 100000, s, 100000 / s);
    for (int i = 0; i < 1000; i++)
        sr_message_free(msgs[i]);
    sr_nodupe_free(c);
    sr_message_free(m);
}

/* ---- WIS2: keyed on data_id (nodupe.h) ---- */

/* A WIS2 notification as sr holds it: data_id, pubTime, and a relPath of its own. */
static sr_message *wnm(const char *data_id, const char *pub, const char *rel)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"pubTime\":\"%s\",\"baseUrl\":\"https://gc.example/\",\"relPath\":\"%s\","
             "\"identity\":{\"method\":\"sha512\",\"value\":\"AAAA\"},\"data_id\":\"%s\"}",
             pub, rel, data_id);
    return msg(json);
}

/* The same data_id: an older or the same pubTime is a duplicate (from any Global Cache,
 * under any path, whatever the identity), a newer one is an update that passes and
 * becomes the reference; a message without a data_id is keyed as before. */
static void data_id_with_the_pubtime_rule(void **state)
{
    (void)state;
    expect_key("{\"pubTime\":\"20261206T230000\",\"baseUrl\":\"https://h/\",\"relPath\":\"a/f\","
               "\"identity\":{\"method\":\"md5\",\"value\":\"AAAA\"},\"data_id\":\"ca-x/w/f\"}",
               SR_NODUPE_NAME, NULL, "data_id,ca-x/w/f", "a/f");
    sr_nodupe_hint own = {.key = "k"};
    expect_key("{\"pubTime\":\"20261206T230000\",\"baseUrl\":\"https://h/\",\"relPath\":\"a/f\","
               "\"data_id\":\"ca-x/w/f\"}",
               SR_NODUPE_PATH, &own, "k", "a/f");

    for (int basis = SR_NODUPE_PATH; basis <= SR_NODUPE_DATA; basis++) {
        sr_nodupe *c;
        new_cache(NULL, 300, (enum sr_nodupe_basis)basis, 0, 1000, &c, NULL);
        sr_message *first = wnm("ca-x/data/core/weather/f.bufr", "20261206T230000", "gc1/f.bufr");
        sr_message *same = wnm("ca-x/data/core/weather/f.bufr", "20261206T230000", "gc2/x/f.bufr");
        sr_message *older =
            wnm("ca-x/data/core/weather/f.bufr", "20261206T225959.999", "gc3/f.bufr");
        sr_message *newer = wnm("ca-x/data/core/weather/f.bufr", "20261206T230000.5", "gc1/f.bufr");
        sr_message *other = wnm("ca-x/data/core/weather/g.bufr", "20261206T230000", "gc1/f.bufr");
        assert_false(check(c, first, NULL, 1000));
        assert_true(check(c, same, NULL, 1001));
        assert_true(check(c, older, NULL, 1002));
        assert_false(check(c, newer, NULL, 1003)); /* an update */
        assert_true(check(c, first, NULL, 1004));  /* now older than the reference */
        assert_true(check(c, newer, NULL, 1005));
        assert_false(check(c, other, NULL, 1006));
        assert_int_equal(sr_nodupe_count(c), 2);
        /* a retry passes, and does not move the reference back */
        sr_nodupe_hint retry = {.retry = true};
        assert_false(check(c, first, &retry, 1007));
        assert_true(check(c, newer, NULL, 1008));
        /* past ttl the data_id is forgotten: an older one passes and is the reference */
        assert_false(check(c, older, NULL, 1400));
        assert_true(check(c, older, NULL, 1401));
        sr_message_free(first);
        sr_message_free(same);
        sr_message_free(older);
        sr_message_free(newer);
        sr_message_free(other);
        sr_nodupe_free(c);
    }

    /* without a data_id: as before (identity and path) */
    sr_nodupe *c;
    new_cache(NULL, 300, SR_NODUPE_PATH, 0, 1000, &c, NULL);
    sr_message *a = file_msg("a/f", "AAAA"), *b = file_msg("b/f", "AAAA");
    assert_false(check(c, a, NULL, 1000));
    assert_true(check(c, a, NULL, 1001));
    assert_false(check(c, b, NULL, 1002));
    /* an empty data_id is none */
    sr_message *e = wnm("", "20261206T230000", "c/f");
    assert_false(check(c, e, NULL, 1003)); /* its identity is its own */
    assert_true(check(c, e, NULL, 1004));
    sr_message_free(a);
    sr_message_free(b);
    sr_message_free(e);
    sr_nodupe_free(c);
}

/* The cache file keeps each data_id's newest pubTime (a fourth word) across a restart,
 * killed or stopped; a line with a fourth word that is not a data_id entry, or whose
 * time does not parse, is malformed. */
static void data_id_survives_a_restart(void **state)
{
    (void)state;
    const char *path = tmp_path("recent_files_wis.cache");
    unlink(path);
    sr_nodupe *c;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 1000, &c, NULL);
    sr_message *first = wnm("ca-x/d/f 1", "20261206T230000", "a/f");
    sr_message *newer = wnm("ca-x/d/f 1", "20261206T230001.25", "a/f");
    sr_message *older = wnm("ca-x/d/f 1", "20261206T230001", "b/f");
    assert_false(check(c, first, NULL, 1000));
    assert_false(check(c, newer, NULL, 1001));
    sr_nodupe_free(c); /* appended lines only: as a kill leaves them */
    char *text = slurp(path);
    assert_non_null(strstr(text, "data_id,ca-x/d/f%201 1001.000000 a/f 20261206T230001.25\n"));
    free(text);

    sr_nodupe_load_stats st;
    new_cache(path, 300, SR_NODUPE_PATH, 0, 1100, &c, &st);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(st.malformed, 0);
    assert_true(check(c, older, NULL, 1100)); /* older than the reference kept */
    assert_true(check(c, newer, NULL, 1101));
    assert_int_equal(sr_nodupe_save(c, 1102, NULL, NULL), SR_OK);
    sr_nodupe_free(c);
    new_cache(path, 300, SR_NODUPE_PATH, 0, 1103, &c, &st);
    assert_int_equal(st.loaded, 1);
    assert_true(check(c, first, NULL, 1103));
    sr_message *newest = wnm("ca-x/d/f 1", "20261206T230002", "a/f");
    assert_false(check(c, newest, NULL, 1104));
    sr_nodupe_free(c);

    write_file(path, "data_id,x 1000 p 20261206T230000\n"   /* good */
                     "sha512,AAAA 1000 p 20261206T230000\n" /* not a data_id entry */
                     "data_id,y 1000 p notatime\n"          /* malformed */
                     "data_id,z 1000 p 20261206T230000 5\n" /* malformed */
                     "data_id,x 1001 p 20261206T230009\n"); /* the newest of x */
    new_cache(path, 300, SR_NODUPE_PATH, 0, 1100, &c, &st);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(st.malformed, 3);
    sr_message *x = wnm("x", "20261206T230005", "q");
    assert_true(check(c, x, NULL, 1100));
    sr_message_free(x);
    x = wnm("x", "20261206T230010", "q");
    assert_false(check(c, x, NULL, 1101));
    sr_message_free(x);
    sr_nodupe_free(c);
    sr_message_free(first);
    sr_message_free(newer);
    sr_message_free(older);
    sr_message_free(newest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_as_sr3_derives_them),
        cmocka_unit_test(same_key_and_path_within_ttl),
        cmocka_unit_test(name_basis_for_products_from_two_trees),
        cmocka_unit_test(a_retry_is_not_its_own_duplicate),
        cmocka_unit_test(expiry_drops_the_oldest_first),
        cmocka_unit_test(the_file_survives_a_kill),
        cmocka_unit_test(bad_lines_are_skipped_and_counted),
        cmocka_unit_test(odd_bytes_survive_the_file),
        cmocka_unit_test(a_full_disk_costs_no_entry),
        cmocka_unit_test(buffered_lines_wait_for_flush),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(a_hundred_thousand_entries),
        cmocka_unit_test(data_id_with_the_pubtime_rule),
        cmocka_unit_test(data_id_survives_a_restart),
    };
    return cmocka_run_group_tests_name("nodupe", tests, setup, teardown);
}
