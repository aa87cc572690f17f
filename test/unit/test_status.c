/* SPDX-License-Identifier: GPL-2.0-only */
/* test_status: one `sr status` row from pid files and metrics (sr(1), VERBS, status): the state
 * with sr3's precedence, the sums and rates over instances, what is too old to count, and the
 * figures as an operator reads them in the table and in --json. */
#include "unit.h"

#include <jansson.h>
#include <unistd.h>

#include "status.h"

#define NOW 1700000000.0

static const sr_status_thresholds defaults = {
    .hung = 450, .idle = 900, .lag = 30, .reject = 80, .retry = 1000, .slow = 0};

/* A metrics snapshot of instance n written at NOW - age, interval of 100 s. */
static sr_metrics_snapshot snap(int n, double age)
{
    sr_metrics_snapshot s;
    memset(&s, 0, sizeof s);
    s.instance = n;
    s.time = NOW - age;
    s.time_base = s.time - 100;
    s.broker_connected = true;
    s.broker_connected_seconds = 100;
    s.broker_queued = -1;
    return s;
}

static sr_status_row row_of(const sr_instance_info *infos, size_t ninfo,
                            const sr_metrics_snapshot *m, size_t nm, int expected)
{
    sr_status_input in = {
        .name = "subscribe/dd",
        .expected = expected,
        .thresholds = defaults,
        .instances = infos,
        .instance_count = ninfo,
        .metrics = m,
        .metrics_count = nm,
        .now = NOW,
    };
    sr_status_row row;
    sr_status_compute(&in, &row);
    return row;
}

static const sr_instance_info run1 = {1, 101, SR_INSTANCE_RUNNING};
static const sr_instance_info run2 = {2, 102, SR_INSTANCE_RUNNING};
static const sr_instance_info dead3 = {3, 103, SR_INSTANCE_DEAD};

static void no_pid_file_is_stopped_and_a_dead_one_missing(void **state)
{
    (void)state;
    sr_status_row r = row_of(NULL, 0, NULL, 0, 2);
    assert_string_equal(r.state, "stop");
    assert_int_equal(r.running, 0);
    assert_int_equal(r.expected, 2);
    sr_instance_info dead = {1, 99, SR_INSTANCE_DEAD};
    r = row_of(&dead, 1, NULL, 0, 1);
    assert_string_equal(r.state, "miss");
    assert_int_equal(r.dead, 1);
    sr_instance_info some[] = {run1, run2, dead3};
    r = row_of(some, 3, NULL, 0, 3);
    assert_string_equal(r.state, "part");
    assert_int_equal(r.running, 2);
}

static void instances_are_summed_and_rates_are_per_second(void **state)
{
    (void)state;
    sr_instance_info infos[] = {run1, run2};
    sr_metrics_snapshot m[2] = {snap(1, 2), snap(2, 3)};
    m[0].counters[SR_METRIC_RX_GOOD] = 180;
    m[0].counters[SR_METRIC_RX_BAD] = 20;
    m[0].counters[SR_METRIC_REJECTED] = 30;
    m[0].counters[SR_METRIC_RX_BYTES] = 100000;
    m[0].counters[SR_METRIC_DATA_RX] = 1048576;
    m[1].counters[SR_METRIC_RX_GOOD] = 100;
    m[1].counters[SR_METRIC_TX_BYTES] = 50000;
    m[1].counters[SR_METRIC_DATA_TX] = 500;
    m[0].retry_work = 3;
    m[1].retry_post = 4;
    m[0].lag_count = 10;
    m[0].lag_avg = 2;
    m[0].lag_max = 5;
    m[1].lag_count = 30;
    m[1].lag_avg = 6;
    m[1].lag_max = 9;
    m[1].broker_connected_seconds = 50;
    m[0].last_rx = NOW - 4;
    m[1].last_transfer = NOW - 7;
    sr_status_row r = row_of(infos, 2, m, 2, 2);
    assert_string_equal(r.state, "run");
    assert_int_equal(r.running, 2);
    assert_int_equal(r.fresh, 2);
    assert_int_equal(r.retry, 7);
    assert_true(r.message_rate > 2.99 && r.message_rate < 3.01); /* (200 + 100) / 100 s */
    assert_true(r.pubsub_rate > 1499 && r.pubsub_rate < 1501);   /* 150000 bytes / 100 s */
    assert_true(r.rx_data_rate > 10485 && r.rx_data_rate < 10486);
    assert_true(r.tx_data_rate > 4.99 && r.tx_data_rate < 5.01);
    assert_true(r.msg_connected > 74.9 && r.msg_connected < 75.1); /* 100% and 50% */
    assert_true(r.lag_max > 8.99 && r.lag_max < 9.01);
    assert_true(r.lag_avg > 4.99 && r.lag_avg < 5.01); /* (10*2 + 30*6) / 40 */
    /* the last transfer counts before the last message */
    assert_true(r.last > 6.99 && r.last < 7.01);
    /* (30 rejected + 20 bad) / (280 good + 20 bad) */
    assert_true(r.reject_percent > 16.6 && r.reject_percent < 16.7);
}

static void old_or_stopped_instances_do_not_count(void **state)
{
    (void)state;
    sr_instance_info infos[] = {run1};
    sr_metrics_snapshot m[2] = {snap(1, SR_STATUS_METRICS_MAX_AGE + 1), snap(2, 1)};
    m[0].counters[SR_METRIC_RX_GOOD] = 100;
    m[1].counters[SR_METRIC_RX_GOOD] = 100; /* instance 2 has no pid file: stopped */
    sr_status_row r = row_of(infos, 1, m, 2, 1);
    assert_int_equal(r.fresh, 0);
    assert_true(r.message_rate == 0);
    assert_true(r.msg_connected < 0); /* unknown, not 0% */
    assert_true(r.reject_percent < 0);
    assert_true(r.last < 0);
    assert_string_equal(r.state, "run");
}

static void states_follow_sr3_precedence(void **state)
{
    (void)state;
    sr_instance_info infos[] = {run1};
    sr_metrics_snapshot m = snap(1, 1);
    /* everything wrong at once: retry, lag and rejects; retry wins */
    m.retry_work = 5000;
    m.lag_count = 1;
    m.lag_avg = 100;
    m.counters[SR_METRIC_RX_GOOD] = 10;
    m.counters[SR_METRIC_REJECTED] = 9;
    assert_string_equal(row_of(infos, 1, &m, 1, 1).state, "rtry");
    m.retry_work = 0;
    assert_string_equal(row_of(infos, 1, &m, 1, 1).state, "lag");
    m.lag_avg = 1;
    assert_string_equal(row_of(infos, 1, &m, 1, 1).state, "reje");
    m.counters[SR_METRIC_REJECTED] = 0;
    m.last_rx = NOW - 1000;
    assert_string_equal(row_of(infos, 1, &m, 1, 1).state, "idle");
    m.passive = true;
    assert_string_equal(row_of(infos, 1, &m, 1, 1).state, "wVip");
    /* instances missing come before any of those */
    assert_string_equal(row_of(infos, 1, &m, 1, 2).state, "part");
    /* hung: running, but its metrics stopped coming */
    sr_metrics_snapshot old = snap(1, 600);
    assert_string_equal(row_of(infos, 1, &old, 1, 1).state, "hung");
    /* no metrics yet: dated by its pid file (a placeholder), hung once that is old */
    sr_metrics_snapshot placeholder = {
        .schema = -1, .instance = 1, .time = NOW - 10, .broker_queued = -1};
    sr_status_row young = row_of(infos, 1, &placeholder, 1, 1);
    assert_string_equal(young.state, "run");
    assert_int_equal(young.fresh, 0);
    placeholder.time = NOW - 600;
    assert_string_equal(row_of(infos, 1, &placeholder, 1, 1).state, "hung");
    /* disabled before everything */
    sr_status_input in = {.name = "x/y",
                          .disabled = true,
                          .expected = 1,
                          .thresholds = defaults,
                          .instances = infos,
                          .instance_count = 1,
                          .metrics = &old,
                          .metrics_count = 1,
                          .now = NOW};
    sr_status_row r;
    sr_status_compute(&in, &r);
    assert_string_equal(r.state, "disa");
    in.config_error = true;
    sr_status_compute(&in, &r);
    assert_string_equal(r.state, "bad");
}

static void slow_only_with_a_threshold_and_transfers(void **state)
{
    (void)state;
    sr_instance_info infos[] = {run1};
    sr_metrics_snapshot m = snap(1, 1);
    m.counters[SR_METRIC_DATA_RX] = 1000; /* 10 B/s */
    sr_status_input in = {.name = "x/y",
                          .expected = 1,
                          .thresholds = defaults,
                          .instances = infos,
                          .instance_count = 1,
                          .metrics = &m,
                          .metrics_count = 1,
                          .now = NOW};
    sr_status_row r;
    sr_status_compute(&in, &r);
    assert_string_equal(r.state, "run");
    in.thresholds.slow = 1000;
    sr_status_compute(&in, &r);
    assert_string_equal(r.state, "slow");
}

static void a_foreground_instance_alone_is_fore(void **state)
{
    (void)state;
    sr_instance_info fg = {0, 200, SR_INSTANCE_RUNNING};
    sr_metrics_snapshot m = snap(0, 1);
    sr_status_row r = row_of(&fg, 1, &m, 1, 1);
    assert_string_equal(r.state, "fore");
    assert_int_equal(r.running, 0);
    assert_int_equal(r.fresh, 1);
}

static void figures_read_like_sr3s(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(sr_status_bytes_rate(0, b, sizeof b), "0 B/s");
    assert_string_equal(sr_status_bytes_rate(512, b, sizeof b), "512 B/s");
    assert_string_equal(sr_status_bytes_rate(1229, b, sizeof b), "1.2 KiB/s");
    assert_string_equal(sr_status_bytes_rate(3.4 * 1048576, b, sizeof b), "3.4 MiB/s");
    assert_string_equal(sr_status_count_rate(0, b, sizeof b), "0/s");
    assert_string_equal(sr_status_count_rate(0.5, b, sizeof b), "0.5/s");
    assert_string_equal(sr_status_count_rate(12, b, sizeof b), "12/s");
    assert_string_equal(sr_status_count_rate(1200, b, sizeof b), "1.2k/s");
    assert_string_equal(sr_status_count_rate(3.4e6, b, sizeof b), "3.4M/s");
    assert_string_equal(sr_status_duration(-1, b, sizeof b), "n/a");
    assert_string_equal(sr_status_duration(0.25, b, sizeof b), "0.25s");
    assert_string_equal(sr_status_duration(42, b, sizeof b), "42s");
    assert_string_equal(sr_status_duration(300, b, sizeof b), "5m");
    assert_string_equal(sr_status_duration(3 * 86400, b, sizeof b), "3d");
}

static void waiting_for_a_vip_travels_through_the_metrics_file(void **state)
{
    (void)state;
    char path[4096];
    test_tmp_template(path, sizeof path, "sr_test_status_vip");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sr_metrics *m = sr_metrics_new("subscribe", "dd", 1, NOW);
    assert_non_null(m);
    sr_metrics_passive(m, true);
    sr_err err;
    assert_int_equal(sr_metrics_write(m, path, NOW, &err), SR_OK);
    sr_metrics_snapshot s;
    assert_int_equal(sr_metrics_read(path, &s, &err), SR_OK);
    assert_true(s.passive);
    sr_metrics_snapshot_fini(&s);
    sr_metrics_passive(m, false);
    assert_int_equal(sr_metrics_write(m, path, NOW, &err), SR_OK);
    assert_int_equal(sr_metrics_read(path, &s, &err), SR_OK);
    assert_false(s.passive);
    sr_metrics_snapshot_fini(&s);
    sr_metrics_free(m);
    unlink(path);
}

static char *printed(const sr_status_row *rows, size_t n, bool json);

/* Instances on a cluster: the node each is on goes through its metrics file to `sr
 * status`, which lists them under the table and in --json; an instance on one broker
 * alone adds no such lines. */
static void the_node_of_each_instance_on_a_cluster(void **state)
{
    (void)state;
    char path[4096];
    test_tmp_template(path, sizeof path, "sr_test_status_node");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sr_metrics *m = sr_metrics_new("sarra", "pump", 2, NOW);
    assert_non_null(m);
    sr_metrics_broker_node(m, "n2.example.com:5673", 3);
    sr_err err;
    assert_int_equal(sr_metrics_write(m, path, NOW, &err), SR_OK);
    sr_metrics_snapshot s[2];
    assert_int_equal(sr_metrics_read(path, &s[1], &err), SR_OK);
    assert_string_equal(s[1].broker_node, "n2.example.com:5673");
    assert_int_equal(s[1].broker_nodes, 3);
    sr_metrics_free(m);
    unlink(path);
    s[1].time = NOW - 1;
    s[1].time_base = NOW - 101;
    s[0] = snap(1, 1);
    s[0].broker_node = strdup("n1.example.com:5672");
    s[0].broker_nodes = 3;

    sr_instance_info infos[] = {run1, run2};
    sr_status_row rows[2];
    rows[0] = row_of(infos, 2, s, 2, 2);
    rows[0].name = "sarra/pump";
    sr_metrics_snapshot single = snap(1, 1);
    single.broker_node = strdup("localhost:5672");
    single.broker_nodes = 1;
    rows[1] = row_of(infos, 1, &single, 1, 1);
    char *table = printed(rows, 2, false);
    assert_non_null(strstr(table, "Broker nodes:\n  sarra/pump: i1 n1.example.com:5672, i2 "
                                  "n2.example.com:5673\n"));
    assert_null(strstr(table, "localhost:5672"));
    free(table);
    char *text = printed(rows, 2, true);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    json_t *nodes = json_object_get(json_array_get(json_object_get(doc, "configs"), 0),
                                    "brokerNodes");
    assert_string_equal(json_string_value(json_object_get(nodes, "2")), "n2.example.com:5673");
    nodes = json_object_get(json_array_get(json_object_get(doc, "configs"), 1), "brokerNodes");
    assert_string_equal(json_string_value(json_object_get(nodes, "1")), "localhost:5672");
    json_decref(doc);
    free(text);
    for (int i = 0; i < 2; i++) {
        sr_status_row_fini(&rows[i]);
        sr_metrics_snapshot_fini(&s[i]);
    }
    sr_metrics_snapshot_fini(&single);
}

/* Print to a temporary file and read it back. */
static char *printed(const sr_status_row *rows, size_t n, bool json)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    sr_err err;
    if (json)
        assert_int_equal(sr_status_print_json(rows, n, 0, f, &err), SR_OK);
    else
        sr_status_print_table(rows, n, 0, false, f);
    long len = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

static void table_and_json_say_the_same(void **state)
{
    (void)state;
    sr_instance_info infos[] = {run1, run2, dead3};
    sr_metrics_snapshot m[2] = {snap(1, 1), snap(2, 1)};
    m[0].counters[SR_METRIC_RX_GOOD] = 120000;
    m[0].broker_queued = 42;
    sr_status_row rows[2];
    rows[0] = row_of(infos, 3, m, 2, 3);
    rows[1] = row_of(NULL, 0, NULL, 0, 1);
    rows[1].name = "sender/tocluster";
    char *table = printed(rows, 2, false);
    assert_non_null(strstr(table, "Component/Config"));
    assert_non_null(strstr(table, "subscribe/dd     part    2/3"));
    assert_non_null(strstr(table, "1.2k/s"));
    assert_non_null(strstr(table, "sender/tocluster stop    0/1"));
    assert_non_null(
        strstr(table, "Total Running Configs: 1 of 2 ( Processes: 2 missing: 1 stray: 0 )"));
    free(table);

    char *text = printed(rows, 2, true);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    json_t *dd = json_array_get(json_object_get(doc, "configs"), 0);
    assert_string_equal(json_string_value(json_object_get(dd, "config")), "subscribe/dd");
    assert_string_equal(json_string_value(json_object_get(dd, "component")), "subscribe");
    assert_string_equal(json_string_value(json_object_get(dd, "state")), "part");
    assert_int_equal(json_integer_value(json_object_get(dd, "running")), 2);
    assert_int_equal(json_integer_value(json_object_get(dd, "expected")), 3);
    assert_int_equal(json_integer_value(json_object_get(dd, "queued")), 42);
    assert_true(json_number_value(json_object_get(dd, "messagesPerSecond")) > 1199);
    json_t *snd = json_array_get(json_object_get(doc, "configs"), 1);
    assert_true(json_is_null(json_object_get(snd, "lastSeconds")));
    assert_true(json_is_null(json_object_get(snd, "queued")));
    json_t *totals = json_object_get(doc, "totals");
    assert_int_equal(json_integer_value(json_object_get(totals, "configs")), 2);
    assert_int_equal(json_integer_value(json_object_get(totals, "missing")), 1);
    json_decref(doc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_pid_file_is_stopped_and_a_dead_one_missing),
        cmocka_unit_test(instances_are_summed_and_rates_are_per_second),
        cmocka_unit_test(old_or_stopped_instances_do_not_count),
        cmocka_unit_test(states_follow_sr3_precedence),
        cmocka_unit_test(slow_only_with_a_threshold_and_transfers),
        cmocka_unit_test(a_foreground_instance_alone_is_fore),
        cmocka_unit_test(figures_read_like_sr3s),
        cmocka_unit_test(waiting_for_a_vip_travels_through_the_metrics_file),
        cmocka_unit_test(the_node_of_each_instance_on_a_cluster),
        cmocka_unit_test(table_and_json_say_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
