/* SPDX-License-Identifier: GPL-2.0-only */
/* test_seen: what a poll announced (seen.h): new, changed and same files, expiry, what
 * survives a restart and what does not, the file's text after a save, a failed append, and
 * the memory a million entries take. SR_SEEN_TEST_N sets that million (valgrind runs fewer). */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seen.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sr_test_seen.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name, unlinked, in a static buffer. */
static const char *fresh_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
    return path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return text;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static sr_seen *open_store(const char *path, double ttl, double now, sr_seen_load_stats *st)
{
    sr_seen *s = NULL;
    sr_err err = {0};
    int rc = sr_seen_open(path, ttl, now, &s, st, &err);
    if (rc != SR_OK)
        fail_msg("sr_seen_open %s: %s", path ? path : "(memory)", err.msg);
    return s;
}

static sr_seen_mark mark(long long sec, long ns, long long size)
{
    sr_seen_mark m = {.has_mtime = true, .size = size};
    m.mtime.tv_sec = sec;
    m.mtime.tv_nsec = ns;
    return m;
}

static const sr_seen_mark NO_MARK = {.has_mtime = false, .size = -1};

static enum sr_seen_state look(sr_seen *s, const char *key, sr_seen_mark m, double now)
{
    return sr_seen_look(s, key, strlen(key), &m, now);
}

static void record(sr_seen *s, const char *key, sr_seen_mark m, double now)
{
    sr_err err = {0};
    assert_int_equal(sr_seen_record(s, key, strlen(key), &m, now, &err), SR_OK);
}

static void flush(sr_seen *s)
{
    sr_err err = {0};
    if (sr_seen_flush(s, &err) != SR_OK)
        fail_msg("flush: %s", err.msg);
}

static void save(sr_seen *s, double now, size_t *expired)
{
    sr_err err = {0};
    if (sr_seen_save(s, now, expired, &err) != SR_OK)
        fail_msg("save: %s", err.msg);
}

static void new_changed_same(void **state)
{
    (void)state;
    sr_seen *s = open_store(NULL, 300, 0, NULL);
    sr_seen_mark m = mark(1700000000, 123456789, 100);
    assert_int_equal(look(s, "a/f", m, 1), SR_SEEN_NEW);
    /* nothing changes until the record */
    assert_int_equal(look(s, "a/f", m, 1), SR_SEEN_NEW);
    record(s, "a/f", m, 1);
    assert_int_equal(sr_seen_count(s), 1);
    assert_int_equal(look(s, "a/f", m, 2), SR_SEEN_SAME);
    /* the mtime's nanoseconds, its seconds, the size */
    assert_int_equal(look(s, "a/f", mark(1700000000, 123456788, 100), 2), SR_SEEN_CHANGED);
    assert_int_equal(look(s, "a/f", mark(1700000001, 123456789, 100), 2), SR_SEEN_CHANGED);
    assert_int_equal(look(s, "a/f", mark(1700000000, 123456789, 101), 2), SR_SEEN_CHANGED);
    /* an mtime or a size that the listing stops (or starts) showing is another mark */
    sr_seen_mark no_size = mark(1700000000, 123456789, -1);
    assert_int_equal(look(s, "a/f", no_size, 2), SR_SEEN_CHANGED);
    sr_seen_mark no_mtime = {.has_mtime = false, .size = 100};
    assert_int_equal(look(s, "a/f", no_mtime, 2), SR_SEEN_CHANGED);
    /* a listing that shows neither: the same while the name is there */
    assert_int_equal(look(s, "b", NO_MARK, 2), SR_SEEN_NEW);
    record(s, "b", NO_MARK, 2);
    assert_int_equal(look(s, "b", NO_MARK, 3), SR_SEEN_SAME);
    assert_int_equal(look(s, "b", no_size, 3), SR_SEEN_CHANGED);
    /* a change recorded is the new mark */
    record(s, "a/f", no_size, 3);
    assert_int_equal(look(s, "a/f", no_size, 4), SR_SEEN_SAME);
    assert_int_equal(look(s, "a/f", m, 4), SR_SEEN_CHANGED);
    assert_int_equal(sr_seen_count(s), 2);
    /* keys are bytes: a prefix or a NUL inside is another key */
    assert_int_equal(sr_seen_look(s, "a/f\0x", 5, &no_size, 4), SR_SEEN_NEW);
    assert_int_equal(sr_seen_look(s, "a/", 2, &no_size, 4), SR_SEEN_NEW);
    sr_seen_free(s);
}

static void refresh_keeps_an_entry_and_expiry_forgets(void **state)
{
    (void)state;
    sr_seen *s = open_store(NULL, 100, 0, NULL);
    sr_seen_mark m = mark(1, 0, 1);
    record(s, "kept", m, 0);
    record(s, "gone", m, 0);
    /* listed every 60 s: alive long past ttl from its record */
    for (double t = 60; t <= 600; t += 60)
        assert_int_equal(look(s, "kept", m, t), SR_SEEN_SAME);
    /* not listed for more than ttl: announced again, even before a save */
    assert_int_equal(look(s, "gone", m, 600), SR_SEEN_NEW);
    /* exactly ttl is still seen (sr3: last time + ttl >= now) */
    assert_int_equal(look(s, "kept", m, 700), SR_SEEN_SAME);
    size_t expired = 0;
    save(s, 750, &expired);
    assert_int_equal(expired, 1);
    assert_int_equal(sr_seen_count(s), 1);
    assert_int_equal(look(s, "kept", m, 750), SR_SEEN_SAME);
    sr_seen_free(s);

    sr_err err = {0};
    sr_seen *bad = (sr_seen *)&err;
    assert_int_equal(sr_seen_open(NULL, 0, 0, &bad, NULL, &err), SR_EINVAL);
    assert_null(bad);
    assert_non_null(strstr(err.msg, "nodupe_ttl"));
}

static void what_was_flushed_survives_a_restart(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_01.txt");
    sr_seen_load_stats st;
    sr_seen *s = open_store(path, 300, 10, &st);
    assert_int_equal(st.loaded, 0);
    record(s, "a", mark(5, 1, 10), 10);
    record(s, "b", NO_MARK, 10);
    flush(s);
    record(s, "c", mark(6, 0, 20), 11); /* announced, never confirmed */
    record(s, "a", mark(7, 0, 11), 11); /* changed, never confirmed */
    /* a kill -9: the copy of the file is what the process left on disk */
    char *text = slurp(path);
    char copy[300];
    snprintf(copy, sizeof copy, "%s/copy.txt", tmpdir);
    spit(copy, text);
    free(text);
    sr_seen_free(s); /* (free flushes: that is the clean stop) */

    s = open_store(copy, 300, 20, &st);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(look(s, "a", mark(5, 1, 10), 20), SR_SEEN_SAME);
    assert_int_equal(look(s, "b", NO_MARK, 20), SR_SEEN_SAME);
    assert_int_equal(look(s, "c", mark(6, 0, 20), 20), SR_SEEN_NEW);
    assert_int_equal(look(s, "a", mark(7, 0, 11), 20), SR_SEEN_CHANGED);
    sr_seen_free(s);

    /* the clean stop flushed everything */
    s = open_store(path, 300, 20, &st);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(look(s, "a", mark(7, 0, 11), 20), SR_SEEN_SAME);
    assert_int_equal(look(s, "c", mark(6, 0, 20), 20), SR_SEEN_SAME);
    sr_seen_free(s);
}

/* A save while records wait for their flush keeps the old, confirmed marks on disk. */
static void a_save_keeps_what_is_not_flushed_out_of_the_file(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_02.txt");
    sr_seen *s = open_store(path, 300, 0, NULL);
    record(s, "a", mark(1, 0, 1), 1);
    flush(s);
    record(s, "a", mark(2, 0, 2), 2);
    record(s, "new", mark(3, 0, 3), 2);
    save(s, 3, NULL);
    char *text = slurp(path);
    assert_string_equal(text, "1.000000000 1 1.000 a\n");
    free(text);
    flush(s);
    text = slurp(path);
    assert_string_equal(text, "1.000000000 1 1.000 a\n"
                              "2.000000000 2 2.000 a\n"
                              "3.000000000 3 2.000 new\n");
    free(text);
    save(s, 4, NULL);
    text = slurp(path);
    assert_string_equal(text, "2.000000000 2 2.000 a\n"
                              "3.000000000 3 2.000 new\n");
    free(text);
    sr_seen_free(s);
}

static void torn_and_junk_lines_are_skipped_and_counted(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_03.txt");
    spit(path, "1700000000.000000001 10 100.000 good\n"
               "\n"
               "hello world\n"
               "- - 100.000 two words\n"
               "x - 100.000 badmtime\n"
               "1.5 - 100.000 shortns\n"
               "- 1x 100.000 badsize\n"
               "- - nan badtime\n"
               "- - -1 negtime\n"
               "- - 100.000 bad%4gscape\n"
               "- - 100.000 bad%\n"
               "- - 100.000\n"
               "- - 50.000 old\n"
               "- 7 100.000 also%20good\n"
               "- - 100.000 torn");
    sr_seen_load_stats st;
    sr_seen *s = open_store(path, 100, 190, &st);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.malformed, 12);
    assert_int_equal(look(s, "good", mark(1700000000, 1, 10), 190), SR_SEEN_SAME);
    sr_seen_mark seven = {.has_mtime = false, .size = 7};
    assert_int_equal(look(s, "also good", seven, 190), SR_SEEN_SAME);
    assert_int_equal(look(s, "torn", NO_MARK, 190), SR_SEEN_NEW);
    /* the file was rewritten at open: only what was read, each with its time */
    char *text = slurp(path);
    assert_string_equal(text, "1700000000.000000001 10 100.000 good\n"
                              "- 7 100.000 also%20good\n");
    free(text);
    /* the refreshes (memory only) reach the file at the save */
    save(s, 191, NULL);
    text = slurp(path);
    assert_string_equal(text, "1700000000.000000001 10 190.000 good\n"
                              "- 7 190.000 also%20good\n");
    free(text);
    sr_seen_free(s);
}

static void keys_of_any_bytes_round_trip(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_04.txt");
    static const char *keys[] = {
        "with space", "100%", "%41", "line\nbreak\r", "tab\there", "del\x7f", "été/Ελλάδα/日本",
        "-",          "",     " ",
    };
    size_t n = sizeof keys / sizeof keys[0];
    sr_seen *s = open_store(path, 300, 0, NULL);
    for (size_t i = 0; i < n; i++)
        record(s, keys[i], mark((long long)i, 0, (long long)i), 1);
    flush(s);
    sr_seen_free(s);
    char *text = slurp(path);
    assert_non_null(strstr(text, " 1.000 with%20space\n"));
    assert_non_null(strstr(text, " 1.000 100%25\n"));
    assert_non_null(strstr(text, " 1.000 %2541\n"));
    assert_non_null(strstr(text, " 1.000 line%0Abreak%0D\n"));
    assert_non_null(strstr(text, " 1.000 del%7F\n"));
    assert_non_null(strstr(text, " 1.000 été/Ελλάδα/日本\n"));
    assert_non_null(strstr(text, "8.000000000 8 1.000 \n"));
    free(text);
    sr_seen_load_stats st;
    s = open_store(path, 300, 2, &st);
    assert_int_equal(st.loaded, n);
    assert_int_equal(st.malformed, 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(look(s, keys[i], mark((long long)i, 0, (long long)i), 2), SR_SEEN_SAME);
        assert_int_equal(look(s, keys[i], mark((long long)i, 1, (long long)i), 2), SR_SEEN_CHANGED);
    }
    /* a mtime before 1970 and the largest size */
    record(s, "old", mark(-5, 250000000, LLONG_MAX), 3);
    sr_seen_mark normalised = mark(-4, -750000000, LLONG_MAX); /* the same instant */
    assert_int_equal(look(s, "old", normalised, 3), SR_SEEN_SAME);
    sr_seen_free(s);
    s = open_store(path, 300, 4, &st);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(look(s, "old", mark(-5, 250000000, LLONG_MAX), 4), SR_SEEN_SAME);
    sr_seen_free(s);
}

static void a_save_drops_expired_and_superseded_lines(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_05.txt");
    sr_seen *s = open_store(path, 100, 0, NULL);
    record(s, "x", mark(1, 0, 1), 0);
    record(s, "y", mark(1, 0, 1), 0);
    record(s, "z", mark(1, 0, 1), 0);
    flush(s);
    record(s, "x", mark(2, 0, 2), 50); /* superseded */
    flush(s);
    record(s, "x", mark(3, 0, 3), 60);
    flush(s);
    assert_int_equal(look(s, "z", mark(1, 0, 1), 90), SR_SEEN_SAME); /* refreshed: memory */
    char *text = slurp(path);
    assert_string_equal(text, "1.000000000 1 0.000 x\n"
                              "1.000000000 1 0.000 y\n"
                              "1.000000000 1 0.000 z\n"
                              "2.000000000 2 50.000 x\n"
                              "3.000000000 3 60.000 x\n");
    free(text);
    size_t expired = 0;
    save(s, 150, &expired);
    assert_int_equal(expired, 1); /* y */
    text = slurp(path);
    assert_string_equal(text, "3.000000000 3 60.000 x\n"
                              "1.000000000 1 90.000 z\n");
    free(text);
    /* appended to the new file */
    record(s, "w", NO_MARK, 151);
    flush(s);
    text = slurp(path);
    assert_string_equal(text, "3.000000000 3 60.000 x\n"
                              "1.000000000 1 90.000 z\n"
                              "- - 151.000 w\n");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    sr_seen_free(s);
}

/* The store's file descriptor: the one open on path. */
static int fd_of(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *de;
    int found = -1;
    while ((de = readdir(d)) != NULL) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) == 0)
            found = atoi(de->d_name);
    }
    closedir(d);
    assert_true(found >= 0);
    return found;
}

static void a_failed_flush_leaves_the_file_as_it_was(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_06.txt");
    char saved_path[300];
    snprintf(saved_path, sizeof saved_path, "%s", path);
    sr_seen *s = open_store(saved_path, 300, 0, NULL);
    record(s, "a", mark(1, 0, 1), 1);
    flush(s);
    char *before = slurp(saved_path);

    /* a write error: the store's descriptor made /dev/full's */
    int fd = fd_of(saved_path);
    int keep = dup(fd);
    int full = open("/dev/full", O_WRONLY);
    assert_true(keep >= 0 && full >= 0);
    assert_int_equal(dup2(full, fd), fd);
    record(s, "b", mark(2, 0, 2), 2);
    sr_err err = {0};
    assert_int_equal(sr_seen_flush(s, &err), SR_EIO);
    assert_non_null(strstr(err.msg, saved_path));
    assert_non_null(strstr(err.msg, "No space left"));
    assert_int_equal(dup2(keep, fd), fd);
    close(keep);
    close(full);
    char *after = slurp(saved_path);
    assert_string_equal(after, before);
    free(after);
    /* memory keeps the entry; the lines were dropped, not kept for the next flush */
    assert_int_equal(look(s, "b", mark(2, 0, 2), 3), SR_SEEN_SAME);
    flush(s);
    after = slurp(saved_path);
    assert_string_equal(after, before);
    free(after);
    free(before);

    /* a short write (the file size limit, as a full disk would): cut back */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct stat st;
        if (stat(saved_path, &st) != 0)
            _exit(100);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = (rlim_t)st.st_size + 10;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(101);
        for (int i = 0; i < 10; i++) {
            char key[16];
            snprintf(key, sizeof key, "short%d", i);
            sr_seen_mark m = mark(3, 0, 3);
            if (sr_seen_record(s, key, strlen(key), &m, 4, NULL) != SR_OK)
                _exit(102);
        }
        sr_err e2 = {0};
        if (sr_seen_flush(s, &e2) != SR_EIO || strstr(e2.msg, "bytes written") == NULL)
            _exit(103);
        if (stat(saved_path, &st) != 0 || st.st_size != (off_t)strlen("1.000000000 1 1.000 a\n"))
            _exit(104);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    after = slurp(saved_path);
    assert_string_equal(after, "1.000000000 1 1.000 a\n");
    free(after);

    /* the next save writes what it can: b had no line, a has its own */
    save(s, 5, NULL);
    after = slurp(saved_path);
    assert_string_equal(after, "1.000000000 1 1.000 a\n");
    free(after);
    sr_seen_free(s);
}

static void a_failed_save_leaves_the_file_as_it_was(void **state)
{
    (void)state;
    const char *path = fresh_path("poll_seen_07.txt");
    char p[300];
    snprintf(p, sizeof p, "%s", path);
    sr_seen *s = open_store(p, 300, 0, NULL);
    record(s, "a", mark(1, 0, 1), 1);
    flush(s);
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    assert_int_equal(mkdir(tmp, 0755), 0); /* the tmp file cannot be made */
    record(s, "b", mark(2, 0, 2), 2);
    sr_err err = {0};
    assert_int_equal(sr_seen_save(s, 3, NULL, &err), SR_EIO);
    assert_int_equal(err.code, SR_EIO);
    assert_non_null(strstr(err.msg, tmp));
    char *text = slurp(p);
    assert_string_equal(text, "1.000000000 1 1.000 a\n");
    free(text);
    /* still appended to */
    flush(s);
    text = slurp(p);
    assert_string_equal(text, "1.000000000 1 1.000 a\n2.000000000 2 2.000 b\n");
    free(text);
    sr_seen_free(s);
    rmdir(tmp);

    /* a file that cannot be read is an error at open, naming it */
    sr_seen *bad = NULL;
    assert_int_equal(sr_seen_open(tmpdir, 300, 0, &bad, NULL, &err), SR_EIO);
    assert_null(bad);
    assert_non_null(strstr(err.msg, tmpdir));
}

static size_t test_n(void)
{
    const char *v = getenv("SR_SEEN_TEST_N");
    return v != NULL && atol(v) > 0 ? (size_t)atol(v) : 1000000;
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void a_million_entries_take_under_64_bytes_each(void **state)
{
    (void)state;
    size_t n = test_n();
    size_t before = heap_used();
    sr_seen *s = open_store(NULL, 3600, 0, NULL);
    char key[64];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(key, sizeof key, "data/2026120%zu/file-%07zu.grib2", i % 7, i);
        sr_seen_mark m = mark((long long)(1700000000 + i), (long)i, (long long)i);
        assert_int_equal(sr_seen_look(s, key, (size_t)len, &m, 1), SR_SEEN_NEW);
        assert_int_equal(sr_seen_record(s, key, (size_t)len, &m, 1, NULL), SR_OK);
    }
    size_t after = heap_used();
    assert_int_equal(sr_seen_count(s), n);
    for (size_t i = 0; i < n; i += 997) {
        int len = snprintf(key, sizeof key, "data/2026120%zu/file-%07zu.grib2", i % 7, i);
        sr_seen_mark m = mark((long long)(1700000000 + i), (long)i, (long long)i);
        assert_int_equal(sr_seen_look(s, key, (size_t)len, &m, 2), SR_SEEN_SAME);
        m.size++;
        assert_int_equal(sr_seen_look(s, key, (size_t)len, &m, 2), SR_SEEN_CHANGED);
    }
    if (after > before) {
        double per = (double)(after - before) / (double)n;
        print_message("seen: %zu entries, %.1f bytes each (mallinfo2)\n", n, per);
        if (n >= 100000)
            assert_true(per < 64);
    } else {
        print_message("seen: %zu entries; memory not measured (malloc replaced)\n", n);
    }
    /* expiry empties the table and gives the memory back */
    size_t expired = 0;
    assert_int_equal(sr_seen_save(s, 10000, &expired, NULL), SR_OK);
    assert_int_equal(expired, n);
    assert_int_equal(sr_seen_count(s), 0);
    if (after > before)
        assert_true(heap_used() - before < 64 * 1024);
    sr_seen_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_changed_same),
        cmocka_unit_test(refresh_keeps_an_entry_and_expiry_forgets),
        cmocka_unit_test(what_was_flushed_survives_a_restart),
        cmocka_unit_test(a_save_keeps_what_is_not_flushed_out_of_the_file),
        cmocka_unit_test(torn_and_junk_lines_are_skipped_and_counted),
        cmocka_unit_test(keys_of_any_bytes_round_trip),
        cmocka_unit_test(a_save_drops_expired_and_superseded_lines),
        cmocka_unit_test(a_failed_flush_leaves_the_file_as_it_was),
        cmocka_unit_test(a_failed_save_leaves_the_file_as_it_was),
        cmocka_unit_test(a_million_entries_take_under_64_bytes_each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
