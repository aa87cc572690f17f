/* SPDX-License-Identifier: GPL-2.0-only */
/* test_retryq: the retry queue of sr(1), THE FLOW, Retry queues, as the flow uses it: failures
 * queued and taken back with spacing, nothing lost to a kill -9 or a torn line, expiry by
 * retry_ttl and duplicates dropped at housekeeping. */
#include "unit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "retryq.h"

TEST_TMPDIR_FIXTURE("sr_test_retryq")

/* A fresh file name under tmpdir, in a static buffer. */
static const char *fresh_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
    return path;
}

static sr_message *msg(const char *rel, const char *pub, const char *extra)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"pubTime\":\"%s\",\"baseUrl\":\"sftp://bob@h/data\",\"relPath\":\"%s\"%s%s}", pub,
             rel, extra ? "," : "", extra ? extra : "");
    sr_message *m = NULL;
    sr_err err;
    if (sr_message_decode_v03(json, strlen(json), &m, &err) != SR_OK)
        fail_msg("%s: %s", json, err.msg);
    return m;
}

static sr_retryq *open_q(const char *path, sr_retryq_load_stats *st)
{
    sr_retryq *q = NULL;
    sr_err err;
    if (sr_retryq_open(path, NULL, &q, st, &err) != SR_OK)
        fail_msg("open: %s", err.msg);
    return q;
}

static void add(sr_retryq *q, const char *rel, const char *pub, const char *extra, double now,
                const char *error)
{
    sr_message *m = msg(rel, pub, extra);
    sr_err err;
    if (sr_retryq_add(q, m, now, error, &err) != SR_OK)
        fail_msg("add: %s", err.msg);
    sr_message_free(m);
}

static size_t take(sr_retryq *q, size_t max, double now, sr_retryq_item *items)
{
    size_t n = 99;
    sr_err err;
    if (sr_retryq_take(q, max, now, items, &n, &err) != SR_OK)
        fail_msg("take: %s", err.msg);
    return n;
}

static void free_items(sr_retryq_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sr_message_free(items[i].msg);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

#define PUB "20240101T000000"

static void failures_come_back_spaced_then_leave(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_work_01.jsonl");
    sr_retryq *q = open_q(path, NULL);
    add(q, "a/1", PUB, NULL, 1000, "connection refused");
    add(q, "a/2", PUB, NULL, 1000, NULL);
    add(q, "a/3", PUB, NULL, 1001, NULL);
    assert_int_equal(sr_retryq_sync(q, NULL), SR_OK);
    assert_int_equal(sr_retryq_length(q), 3);
    double due;
    assert_true(sr_retryq_next_due(q, &due));
    assert_true(due == 1060);

    sr_retryq_item it[8];
    assert_int_equal(take(q, 8, 1059, it), 0); /* not before 60 s */
    assert_int_equal(take(q, 8, 1060, it), 2);
    assert_string_equal(sr_message_rel_path(it[0].msg), "a/1");
    assert_string_equal(sr_message_rel_path(it[1].msg), "a/2");
    assert_string_equal(it[0].last_error, "connection refused");
    assert_string_equal(it[1].last_error, "");
    assert_int_equal(it[0].attempts, 1);
    assert_true(it[0].first_failure == 1000);
    assert_int_equal(sr_retryq_in_flight(q), 2);
    assert_int_equal(sr_retryq_length(q), 3);

    /* a/1 fails again: 120 s later; a/2 succeeds */
    assert_int_equal(sr_retryq_again(q, it[0].id, 1060, "timeout", NULL), SR_OK);
    assert_int_equal(sr_retryq_done(q, it[1].id, NULL), SR_OK);
    assert_int_equal(sr_retryq_done(q, it[1].id, NULL), SR_ENOENT);
    assert_int_equal(sr_retryq_again(q, it[1].id, 1060, NULL, NULL), SR_ENOENT);
    uint64_t id1 = it[0].id;
    free_items(it, 2);
    assert_int_equal(sr_retryq_length(q), 2);

    assert_int_equal(take(q, 8, 1061, it), 1); /* a/3 */
    assert_string_equal(sr_message_rel_path(it[0].msg), "a/3");
    assert_int_equal(sr_retryq_done(q, it[0].id, NULL), SR_OK);
    free_items(it, 1);
    assert_int_equal(take(q, 8, 1179, it), 0);
    assert_int_equal(take(q, 8, 1180, it), 1);
    assert_true(it[0].id == id1);
    assert_int_equal(it[0].attempts, 2);
    assert_string_equal(it[0].last_error, "timeout");
    /* 240, 480, then the 900 s cap */
    double t = 1180;
    double want[] = {240, 480, 900, 900};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sr_retryq_again(q, it[0].id, t, NULL, NULL), SR_OK);
        free_items(it, 1);
        assert_int_equal(take(q, 8, t + want[i] - 0.5, it), 0);
        assert_int_equal(take(q, 8, t + want[i], it), 1);
        t += want[i];
    }
    assert_int_equal(it[0].attempts, 6);
    /* given back untried: due at once, attempts unchanged */
    assert_int_equal(sr_retryq_release(q, it[0].id, NULL), SR_OK);
    free_items(it, 1);
    assert_int_equal(take(q, 8, t, it), 1);
    assert_int_equal(it[0].attempts, 6);
    assert_int_equal(sr_retryq_done(q, it[0].id, NULL), SR_OK);
    free_items(it, 1);
    /* empty: the file is truncated */
    assert_int_equal(sr_retryq_length(q), 0);
    assert_false(sr_retryq_next_due(q, &due));
    assert_int_equal(file_size(path), 0);
    sr_retryq_close(q);
}

static void spacing_is_configurable(void **state)
{
    (void)state;
    sr_retryq *q;
    sr_retryq_options o = {.delay_min = 10, .delay_max = 25};
    assert_int_equal(sr_retryq_open(fresh_path("retry_o.jsonl"), &o, &q, NULL, NULL), SR_OK);
    add(q, "a/1", PUB, NULL, 0, NULL);
    sr_retryq_item it[1];
    assert_int_equal(take(q, 1, 9, it), 0);
    assert_int_equal(take(q, 1, 10, it), 1);
    assert_int_equal(sr_retryq_again(q, it[0].id, 10, NULL, NULL), SR_OK); /* +20 */
    free_items(it, 1);
    assert_int_equal(take(q, 1, 29, it), 0);
    assert_int_equal(take(q, 1, 30, it), 1);
    assert_int_equal(sr_retryq_again(q, it[0].id, 30, NULL, NULL), SR_OK); /* +25, not 40 */
    free_items(it, 1);
    assert_int_equal(take(q, 1, 55, it), 1);
    free_items(it, 1);
    sr_retryq_close(q);
}

static void state_survives_close_and_open(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_post_01.jsonl");
    sr_retryq *q = open_q(path, NULL);
    for (int i = 0; i < 5; i++) {
        char rel[16];
        snprintf(rel, sizeof rel, "f/%d", i);
        add(q, rel, PUB, "\"identity\":{\"method\":\"md5\",\"value\":\"1B2M2Y8AsgTpgAmY7PhCfg==\"}",
            100 + i, "it \"failed\"\\ here\nreally");
    }
    sr_retryq_item it[5];
    assert_int_equal(take(q, 3, 1000, it), 3);
    assert_int_equal(sr_retryq_done(q, it[0].id, NULL), SR_OK);
    assert_int_equal(sr_retryq_again(q, it[1].id, 1000, "again \xff", NULL), SR_OK);
    /* it[2] stays in flight: a crash now must not lose it */
    free_items(it, 3);
    sr_retryq_close(q);

    sr_retryq_load_stats st;
    q = open_q(path, &st);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(sr_retryq_length(q), 4);
    assert_int_equal(sr_retryq_in_flight(q), 0);
    assert_int_equal(take(q, 5, 1000, it), 3); /* f/2 (was in flight), f/3, f/4 */
    assert_string_equal(sr_message_rel_path(it[0].msg), "f/2");
    assert_string_equal(it[0].last_error, "it \"failed\"\\ here really");
    assert_string_equal(sr_message_rel_path(it[1].msg), "f/3");
    sr_identity id;
    assert_true(sr_message_identity(it[1].msg, &id));
    assert_string_equal(id.value, "1B2M2Y8AsgTpgAmY7PhCfg==");
    free_items(it, 3);
    assert_int_equal(take(q, 5, 1119.9, it), 0);
    assert_int_equal(take(q, 5, 1120, it), 1);
    assert_string_equal(sr_message_rel_path(it[0].msg), "f/1");
    assert_int_equal(it[0].attempts, 2);
    assert_true(it[0].first_failure == 101);
    assert_string_equal(it[0].last_error, "again ?");
    free_items(it, 1);
    sr_retryq_close(q);
}

/* A child adds (and takes) entries and dies without closing: every entry add() returned
 * for is there after the restart. */
static void nothing_added_is_lost_to_a_kill(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_work_02.jsonl");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sr_retryq *q;
        if (sr_retryq_open(path, NULL, &q, NULL, NULL) != SR_OK)
            _exit(2);
        for (int i = 0; i < 50; i++) {
            char rel[16];
            snprintf(rel, sizeof rel, "k/%02d", i);
            sr_message *m = msg(rel, PUB, NULL);
            if (sr_retryq_add(q, m, 0, "boom", NULL) != SR_OK)
                _exit(3);
            sr_message_free(m);
            if (i == 24)
                sr_retryq_sync(q, NULL); /* half synced, half not: both survive a kill */
        }
        sr_retryq_item it[10];
        size_t n;
        if (sr_retryq_take(q, 10, 100, it, &n, NULL) != SR_OK || n != 10)
            _exit(4);
        sr_retryq_done(q, it[0].id, NULL);
        _exit(0); /* killed: nine entries in flight, nothing closed */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sr_retryq_load_stats st;
    sr_retryq *q = open_q(path, &st);
    assert_int_equal(st.loaded, 49);
    assert_int_equal(st.malformed, 0);
    sr_retryq_item it[64];
    assert_int_equal(take(q, 64, 100, it), 49);
    for (int i = 0; i < 49; i++) {
        char rel[16];
        snprintf(rel, sizeof rel, "k/%02d", i + 1);
        assert_string_equal(sr_message_rel_path(it[i].msg), rel);
    }
    free_items(it, 49);
    sr_retryq_close(q);
}

static void append_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void bad_lines_are_skipped_and_counted(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_work_03.jsonl");
    sr_retryq *q = open_q(path, NULL);
    add(q, "good/1", PUB, NULL, 0, NULL);
    add(q, "good/2", PUB, NULL, 0, NULL);
    sr_retryq_close(q);
    append_text(
        path, "not json at all\n"
              "{}\n"
              "[1,2]\n"
              "{\"retry\":{\"id\":\"x\",\"first\":0,\"attempts\":1,\"next\":0},"
              "\"message\":{\"pubTime\":\"" PUB "\",\"baseUrl\":\"http://h/\",\"relPath\":\"x\"}}\n"
              /* a message that does not decode: relPath climbs out */
              "{\"retry\":{\"id\":90,\"first\":0,\"attempts\":1,\"next\":0},"
              "\"message\":{\"pubTime\":\"" PUB "\",\"baseUrl\":\"http://h/\","
              "\"relPath\":\"../../etc/passwd\"}}\n"
              /* the same id twice */
              "{\"retry\":{\"id\":1,\"first\":0,\"attempts\":1,\"next\":0},"
              "\"message\":{\"pubTime\":\"" PUB "\",\"baseUrl\":\"http://h/\",\"relPath\":\"y\"}}\n"
              "\n"                                       /* blank: ignored */
              "{\"done\":12345}\n"                       /* an entry already gone: fine */
              "{\"retry\":{\"id\":7,\"first\":0,\"att"); /* torn by a crash */
    sr_retryq_load_stats st;
    q = open_q(path, &st);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.malformed, 7);
    /* the torn line is gone: a new entry does not join it */
    add(q, "good/3", PUB, NULL, 0, NULL);
    sr_retryq_close(q);
    q = open_q(path, &st);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.malformed, 0);
    sr_retryq_item it[4];
    assert_int_equal(take(q, 4, 60, it), 3);
    assert_string_equal(sr_message_rel_path(it[2].msg), "good/3");
    free_items(it, 3);
    sr_retryq_close(q);
}

/* The file hits a size limit (as a full disk would) in the middle of a line: add() says
 * so, the torn part is cut off, and once there is room again nothing is lost or joined. */
static void a_full_disk_leaves_no_torn_line(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_work_07.jsonl");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG */
        sr_retryq *q;
        if (sr_retryq_open(path, NULL, &q, NULL, NULL) != SR_OK)
            _exit(100);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rlim_t hard = rl.rlim_max;
        rl.rlim_cur = 1000;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(101);
        int ok = 0, failed = 0;
        for (int i = 0; i < 20; i++) {
            char rel[16];
            snprintf(rel, sizeof rel, "full/%02d", i);
            sr_message *m = msg(rel, PUB, NULL);
            sr_err err;
            int rc = sr_retryq_add(q, m, 0, NULL, &err);
            sr_message_free(m);
            if (rc == SR_OK)
                ok++;
            else if (rc == SR_EIO && strstr(err.msg, "cannot append") != NULL)
                failed++;
            else
                _exit(102);
        }
        if (ok == 0 || failed == 0)
            _exit(103);
        rl.rlim_cur = hard;
        setrlimit(RLIMIT_FSIZE, &rl);
        sr_message *m = msg("after", PUB, NULL);
        if (sr_retryq_add(q, m, 0, NULL, NULL) != SR_OK)
            _exit(104);
        sr_message_free(m);
        sr_retryq_close(q);
        _exit(ok + 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int added = WEXITSTATUS(status);
    assert_true(added >= 2 && added < 100);
    sr_retryq_load_stats st;
    sr_retryq *q = open_q(path, &st);
    assert_int_equal(st.loaded, added);
    assert_int_equal(st.malformed, 0);
    sr_retryq_item it[32];
    assert_int_equal(take(q, 32, 60, it), added);
    assert_string_equal(sr_message_rel_path(it[added - 1].msg), "after");
    free_items(it, (size_t)added);
    sr_retryq_close(q);
}

typedef struct drops {
    int n;
    char seen[8][64];
} drops;

static void on_drop(void *arg, const sr_message *m, const char *why)
{
    drops *d = arg;
    if (d->n < 8)
        snprintf(d->seen[d->n], sizeof d->seen[0], "%s %s", why, sr_message_rel_path(m));
    d->n++;
}

static void housekeeping_drops_old_and_duplicate_entries(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_work_04.jsonl");
    sr_retryq *q = open_q(path, NULL);
    /* pubTime 20240101T000000 is 1704067200 */
    const double pub = 1704067200;
    const char *md5a = "\"identity\":{\"method\":\"md5\",\"value\":\"1B2M2Y8AsgTpgAmY7PhCfg==\"}";
    const char *md5b = "\"identity\":{\"method\":\"md5\",\"value\":\"rL0Y20zC+Fzt72VPzMSk2A==\"}";
    add(q, "old/1", "20231231T000000", NULL, pub, NULL);     /* a day older */
    add(q, "dup/1", PUB, md5a, pub, NULL);                   /* kept (oldest) */
    add(q, "dup/1", PUB, md5a, pub + 1, NULL);               /* duplicate */
    add(q, "dup/1", "20240101T000001", md5a, pub + 2, NULL); /* same identity: duplicate */
    add(q, "dup/1", PUB, md5b, pub + 3, NULL);               /* new content: kept */
    add(q, "rm/1", PUB, "\"fileOp\":{\"remove\":\"\"}", pub, NULL);
    add(q, "rm/1", "20240101T000009", "\"fileOp\":{\"remove\":\"\"}", pub, NULL); /* dup */
    add(q, "nosum/1", PUB, NULL, pub, NULL);
    add(q, "nosum/1", "20240101T000009", NULL, pub, NULL); /* new pubTime: kept */
    assert_int_equal(sr_retryq_length(q), 9);
    off_t before = file_size(path);

    drops d = {0};
    sr_retryq_hk_stats st;
    assert_int_equal(sr_retryq_housekeep(q, pub + 100, 3600, on_drop, &d, &st, NULL), SR_OK);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.duplicates, 3);
    assert_int_equal(st.kept, 5);
    assert_int_equal(d.n, 4);
    assert_string_equal(d.seen[0], "expired old/1");
    assert_int_equal(sr_retryq_length(q), 5);
    assert_true(file_size(path) < before);

    /* retry_ttl 0: nothing expires; a queued copy of an entry in flight goes */
    sr_retryq_item it[8];
    assert_int_equal(take(q, 1, pub + 1000, it), 1); /* dup/1 (md5a), the oldest */
    add(q, "dup/1", PUB, md5a, pub + 1000, NULL);
    assert_int_equal(sr_retryq_housekeep(q, pub + 99999, 0, NULL, NULL, &st, NULL), SR_OK);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.kept, 5);
    assert_int_equal(sr_retryq_in_flight(q), 1);
    /* in flight through a compaction: still done-able, still in the file */
    sr_retryq_close(q);
    sr_retryq_load_stats ls;
    sr_retryq *q2 = open_q(path, &ls);
    assert_int_equal(ls.loaded, 5);
    sr_retryq_close(q2);
    free_items(it, 1);
}

static void in_flight_entries_stay_through_housekeeping(void **state)
{
    (void)state;
    const char *path = fresh_path("retry_work_05.jsonl");
    sr_retryq *q = open_q(path, NULL);
    add(q, "a", "20200101T000000", NULL, 0, NULL);
    add(q, "b", PUB, NULL, 0, NULL);
    sr_retryq_item it[2];
    assert_int_equal(take(q, 2, 60, it), 2);
    /* both too old by pubTime, but in flight: kept */
    assert_int_equal(sr_retryq_housekeep(q, 1e10, 10, NULL, NULL, NULL, NULL), SR_OK);
    assert_int_equal(sr_retryq_length(q), 2);
    assert_int_equal(sr_retryq_done(q, it[0].id, NULL), SR_OK);
    assert_int_equal(sr_retryq_again(q, it[1].id, 100, NULL, NULL), SR_OK);
    free_items(it, 2);
    assert_int_equal(sr_retryq_length(q), 1);
    sr_retryq_close(q);
    sr_retryq_load_stats st;
    q = open_q(path, &st);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(take(q, 2, 219.9, it), 0);
    assert_int_equal(take(q, 2, 220, it), 1);
    assert_string_equal(sr_message_rel_path(it[0].msg), "b");
    free_items(it, 1);
    sr_retryq_close(q);
}

static void ten_thousand_entries(void **state)
{
    (void)state;
    enum { N = 10000 };
    const char *path = fresh_path("retry_work_06.jsonl");
    sr_retryq *q = open_q(path, NULL);
    for (int i = 0; i < N; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "big/%05d", i);
        add(q, rel, PUB, NULL, i, NULL);
    }
    assert_int_equal(sr_retryq_sync(q, NULL), SR_OK);
    sr_retryq_hk_stats st;
    assert_int_equal(sr_retryq_housekeep(q, N, 0, NULL, NULL, &st, NULL), SR_OK);
    assert_int_equal(st.kept, N);
    sr_retryq_close(q);
    q = open_q(path, NULL);
    static sr_retryq_item it[100];
    int seen = 0;
    for (double now = 60; seen < N; now += 100) {
        size_t n = take(q, 100, now, it);
        for (size_t i = 0; i < n; i++) {
            char rel[32];
            snprintf(rel, sizeof rel, "big/%05d", seen++);
            assert_string_equal(sr_message_rel_path(it[i].msg), rel);
            assert_int_equal(sr_retryq_done(q, it[i].id, NULL), SR_OK);
        }
        free_items(it, n);
    }
    assert_int_equal(sr_retryq_length(q), 0);
    assert_int_equal(file_size(path), 0);
    sr_retryq_close(q);
}

static void bad_arguments(void **state)
{
    (void)state;
    sr_retryq *q = (sr_retryq *)1;
    sr_err err;
    assert_int_equal(sr_retryq_open("/nonexistent/dir/retry.jsonl", NULL, &q, NULL, &err), SR_EIO);
    assert_null(q);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/retry.jsonl"));
    q = open_q(fresh_path("retry_x.jsonl"), NULL);
    assert_int_equal(sr_retryq_done(q, 1, &err), SR_ENOENT);
    assert_int_equal(sr_retryq_release(q, 1, &err), SR_ENOENT);
    sr_retryq_close(q);
    sr_retryq_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failures_come_back_spaced_then_leave),
        cmocka_unit_test(spacing_is_configurable),
        cmocka_unit_test(state_survives_close_and_open),
        cmocka_unit_test(nothing_added_is_lost_to_a_kill),
        cmocka_unit_test(bad_lines_are_skipped_and_counted),
        cmocka_unit_test(a_full_disk_leaves_no_torn_line),
        cmocka_unit_test(housekeeping_drops_old_and_duplicate_entries),
        cmocka_unit_test(in_flight_entries_stay_through_housekeeping),
        cmocka_unit_test(ten_thousand_entries),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests_name("retryq", tests, setup, teardown);
}
