/* SPDX-License-Identifier: GPL-2.0-only */
/* test_metrics: the per-instance metrics file `sr status` reads (sr(1), THE FLOW, Metrics):
 * what the flow counts comes back from the file, connected time adds up over an interval, a
 * reset starts a new interval, and a reader never sees half a file. */
#include "unit.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

TEST_TMPDIR_FIXTURE("sr_test_metrics")

static const char *tmp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void what_is_counted_comes_back(void **state)
{
    (void)state;
    sr_metrics *m = sr_metrics_new("subscribe", "dd", 3, 1000);
    assert_non_null(m);
    sr_metrics_broker(m, true, 1000);
    sr_metrics_add(m, SR_METRIC_RX_GOOD, 10, 1001);
    sr_metrics_add(m, SR_METRIC_RX_BAD, 2, 1002);
    sr_metrics_add(m, SR_METRIC_REJECTED, 3, 1002);
    sr_metrics_add(m, SR_METRIC_ACCEPTED, 7, 1002);
    sr_metrics_add(m, SR_METRIC_POSTED, 6, 1003);
    sr_metrics_add(m, SR_METRIC_POST_BAD, 1, 1003);
    sr_metrics_add(m, SR_METRIC_RX_BYTES, 12345, 1002);
    sr_metrics_add(m, SR_METRIC_TX_BYTES, 5000000000ULL, 1003);
    sr_metrics_add(m, SR_METRIC_FILES_RX, 7, 1004);
    sr_metrics_add(m, SR_METRIC_DATA_RX, 700, 1004);
    sr_metrics_add(m, SR_METRIC_FILES_TX, 1, 1005);
    sr_metrics_add(m, SR_METRIC_DATA_TX, 100, 1005);
    sr_metrics_lag(m, 2.5);
    sr_metrics_lag(m, 0.5);
    sr_metrics_lag(m, 6);
    sr_metrics_retry(m, 4, 2);
    sr_metrics_queued(m, 77);
    sr_metrics_blocked(m, true);
    sr_metrics_transfer_sessions(m, 1, 1010);
    const char *path = tmp_path("subscribe_dd_03.json");
    sr_err err;
    assert_true(sr_metrics_due(m, 1020));
    assert_int_equal(sr_metrics_write(m, path, 1020, &err), SR_OK);

    sr_metrics_snapshot s;
    assert_int_equal(sr_metrics_read(path, &s, &err), SR_OK);
    assert_int_equal(s.schema, SR_METRICS_SCHEMA);
    assert_string_equal(s.component, "subscribe");
    assert_string_equal(s.config, "dd");
    assert_int_equal(s.instance, 3);
    assert_int_equal(s.pid, getpid());
    assert_true(s.time == 1020);
    assert_true(s.time_base == 1000);
    unsigned long long want[SR_METRIC_COUNT] = {10, 2,   3, 7,  6, 1, 12345, 5000000000ULL,
                                                7,  700, 1, 100};
    for (int i = 0; i < SR_METRIC_COUNT; i++)
        assert_true(s.counters[i] == want[i]);
    assert_int_equal(s.lag_count, 3);
    assert_true(s.lag_min == 0.5);
    assert_true(s.lag_max == 6);
    assert_true(s.lag_avg == 3);
    assert_true(s.last_rx == 1002);
    assert_true(s.last_tx == 1003);
    assert_true(s.last_transfer == 1005);
    assert_int_equal(s.retry_work, 4);
    assert_int_equal(s.retry_post, 2);
    assert_true(s.broker_connected);
    assert_true(s.broker_connected_seconds == 20);
    assert_int_equal(s.broker_queued, 77);
    assert_true(s.broker_blocked);
    assert_int_equal(s.transfer_sessions, 1);
    assert_true(s.transfer_connected_seconds == 10);
    assert_true(s.cpu_user >= 0 && s.cpu_system >= 0);
    assert_true(s.rss_bytes > 0);
    sr_metrics_snapshot_fini(&s);
    assert_null(s.component);
    sr_metrics_free(m);
}

static void connected_time_over_an_interval(void **state)
{
    (void)state;
    sr_metrics *m = sr_metrics_new("shovel", "x", 1, 100);
    sr_metrics_snapshot s;
    sr_metrics_broker(m, true, 100);
    sr_metrics_broker(m, true, 110); /* no change */
    sr_metrics_broker(m, false, 150);
    sr_metrics_broker(m, false, 155);
    sr_metrics_broker(m, true, 160);
    sr_metrics_transfer_sessions(m, 2, 100);
    sr_metrics_transfer_sessions(m, 1, 120);
    sr_metrics_transfer_sessions(m, 0, 130);
    assert_int_equal(sr_metrics_get(m, 170, &s, NULL), SR_OK);
    assert_true(s.broker_connected_seconds == 60); /* 100-150, 160-170 */
    assert_true(s.transfer_connected_seconds == 30);
    assert_int_equal(s.transfer_sessions, 0);
    sr_metrics_snapshot_fini(&s);
    /* housekeeping: a new interval */
    sr_metrics_add(m, SR_METRIC_RX_GOOD, 5, 165);
    sr_metrics_lag(m, 1);
    sr_metrics_retry(m, 9, 0);
    sr_metrics_reset(m, 170);
    assert_int_equal(sr_metrics_get(m, 180, &s, NULL), SR_OK);
    assert_true(s.time_base == 170);
    assert_true(s.broker_connected_seconds == 10);
    assert_true(s.transfer_connected_seconds == 0);
    assert_true(s.counters[SR_METRIC_RX_GOOD] == 0);
    assert_int_equal(s.lag_count, 0);
    assert_true(s.lag_max == 0 && s.lag_min == 0 && s.lag_avg == 0);
    assert_true(s.last_rx == 165); /* kept across the reset */
    assert_int_equal(s.retry_work, 9);
    assert_int_equal(s.broker_queued, -1);
    sr_metrics_snapshot_fini(&s);
    sr_metrics_free(m);
}

static void writes_come_at_the_interval(void **state)
{
    (void)state;
    sr_metrics *m = sr_metrics_new("post", "p", 0, 0);
    const char *path = tmp_path("post_p_00.json");
    assert_true(sr_metrics_due(m, 100));
    assert_int_equal(sr_metrics_write(m, path, 100, NULL), SR_OK);
    assert_false(sr_metrics_due(m, 104.9));
    assert_true(sr_metrics_due(m, 105));
    sr_metrics_set_interval(m, 30);
    assert_false(sr_metrics_due(m, 129));
    assert_true(sr_metrics_due(m, 130));
    sr_metrics_set_interval(m, 0);
    assert_true(sr_metrics_due(m, 100));
    sr_err err;
    assert_int_equal(sr_metrics_write(m, "/nonexistent/dir/m.json", 200, &err), SR_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/m.json.tmp"));
    sr_metrics_free(m);
    sr_metrics_free(NULL);
    assert_string_equal(sr_metric_name(SR_METRIC_POSTED), "txGoodCount");
    assert_null(sr_metric_name(SR_METRIC_COUNT));
}

static void a_reader_takes_what_it_finds(void **state)
{
    (void)state;
    const char *path = tmp_path("old.json");
    sr_metrics_snapshot s;
    sr_err err;
    write_file(path, "{\"schema\": 7, \"counters\": {\"rxGoodCount\": 5, \"rxBadCount\": \"x\","
                     " \"futureCount\": 3}, \"broker\": {\"connected\": 1}, \"lag\": [],"
                     " \"process\": {\"rssBytes\": 1.5e6}, \"new\": {\"thing\": true}}");
    assert_int_equal(sr_metrics_read(path, &s, &err), SR_OK);
    assert_int_equal(s.schema, 7);
    assert_null(s.component);
    assert_true(s.counters[SR_METRIC_RX_GOOD] == 5);
    assert_true(s.counters[SR_METRIC_RX_BAD] == 0);
    assert_false(s.broker_connected);
    assert_false(s.broker_blocked); /* absent: not blocked (a file of an older sr) */
    assert_int_equal(s.broker_queued, -1);
    assert_int_equal(s.lag_count, 0);
    assert_int_equal(s.rss_bytes, 1500000);
    sr_metrics_snapshot_fini(&s);

    write_file(path, "{\"schema\": 1, \"counters\": {");
    assert_int_equal(sr_metrics_read(path, &s, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, path));
    write_file(path, "[1]");
    assert_int_equal(sr_metrics_read(path, &s, &err), SR_EINVAL);
    assert_int_equal(sr_metrics_read(tmp_path("missing.json"), &s, &err), SR_ENOENT);
}

/* A child rewrites the file as fast as it can, its size changing each time, while the
 * parent reads it: every read is whole and consistent. */
static void a_reader_never_sees_half_a_file(void **state)
{
    (void)state;
    const char *path = tmp_path("watch_hot_01.json");
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char name[200];
        for (unsigned long long i = 1;; i++) {
            /* a config name of varying length, so the file's size changes */
            int len = (int)(i % 150) + 1;
            memset(name, 'c', (size_t)len);
            name[len] = '\0';
            sr_metrics *m = sr_metrics_new("watch", name, 1, 0);
            if (m == NULL)
                _exit(2);
            sr_metrics_add(m, SR_METRIC_RX_GOOD, i, 1);
            sr_metrics_add(m, SR_METRIC_RX_BYTES, 2 * i, 1);
            sr_metrics_add(m, SR_METRIC_POSTED, (unsigned long long)len, 1);
            if (sr_metrics_write(m, path, (double)i, NULL) != SR_OK)
                _exit(3);
            sr_metrics_free(m);
        }
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int reads = 0, missing = 0;
    unsigned long long last = 0;
    do {
        sr_metrics_snapshot s;
        sr_err err;
        int rc = sr_metrics_read(path, &s, &err);
        if (rc == SR_ENOENT) {
            missing++;
        } else {
            if (rc != SR_OK) {
                kill(pid, SIGKILL);
                fail_msg("read %d: %s", reads, err.msg);
            }
            unsigned long long i = s.counters[SR_METRIC_RX_GOOD];
            assert_true(i >= last);
            last = i;
            assert_true(s.counters[SR_METRIC_RX_BYTES] == 2 * i);
            assert_non_null(s.config);
            assert_int_equal(strlen(s.config), s.counters[SR_METRIC_POSTED]);
            assert_true(s.time == (double)i);
            reads++;
        }
        sr_metrics_snapshot_fini(&s);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 700);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status)); /* the writer was still going: it never failed */
    print_message("metrics: %d whole reads while rewritten (%d before the first), last %llu\n",
                  reads, missing, last);
    assert_true(reads > 10);
    assert_true(last > 10);
}

static int count_history(const char *base, char *newest, size_t size)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    newest[0] = '\0';
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (strncmp(e->d_name, base, strlen(base)) == 0 && e->d_name[strlen(base)] == '.') {
            n++;
            if (strcmp(e->d_name, newest) > 0)
                snprintf(newest, size, "%s", e->d_name);
        }
    }
    closedir(d);
    return n;
}

/* logMetrics: each write is a line of the day's history file; a new day starts a new
 * file and only logRotateCount of them are kept. */
static void log_metrics_keeps_a_history_per_period(void **state)
{
    (void)state;
    const double day0 = 1764979200.0; /* 2025-12-06 00:00:00 UTC */
    sr_metrics *m = sr_metrics_new("subscribe", "hist", 1, day0);
    assert_non_null(m);
    sr_metrics_set_history(m, 86400, 2);
    const char *path = tmp_path("subscribe_hist_01.json");
    sr_err err;
    char newest[256];
    for (int day = 0; day < 4; day++) {
        for (int i = 0; i < 3; i++)
            assert_int_equal(sr_metrics_write(m, path, day0 + day * 86400 + 60 * i + 5, &err),
                             SR_OK);
        assert_int_equal(count_history("subscribe_hist_01.json", newest, sizeof newest),
                         day < 1 ? 1 : 2);
    }
    assert_string_equal(newest, "subscribe_hist_01.json.20251209");
    char full[512];
    snprintf(full, sizeof full, "%s/%s", tmpdir, newest);
    FILE *f = fopen(full, "r");
    assert_non_null(f);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        assert_memory_equal(line, "\"20251209-00", 12);
        assert_non_null(strstr(line, "\" : {\"schema\":1,"));
        assert_string_equal(line + strlen(line) - 3, "},\n");
    }
    fclose(f);
    assert_int_equal(lines, 3);
    sr_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(what_is_counted_comes_back),
        cmocka_unit_test(connected_time_over_an_interval),
        cmocka_unit_test(writes_come_at_the_interval),
        cmocka_unit_test(a_reader_takes_what_it_finds),
        cmocka_unit_test(a_reader_never_sees_half_a_file),
        cmocka_unit_test(log_metrics_keeps_a_history_per_period),
    };
    return cmocka_run_group_tests_name("metrics", tests, setup, teardown);
}
