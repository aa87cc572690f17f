/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * status: `sr status`, one row per config in sr3's layout (sr(1), VERBS, status), from what is
 * on disk only: the configs (for `instances` and the runStateThreshold_* options), the pid
 * files (instance.h), the `disabled` markers and the instances' metrics files (metrics.h). It
 * never contacts a broker, so it answers the same with brokers down, and reads nothing it does
 * not show, so 50 configs answer in a few milliseconds.
 *
 * Counters are summed over the instances whose metrics file was written in the last
 * SR_STATUS_METRICS_MAX_AGE seconds; rates are each instance's counter over its own
 * interval (time - timeBase), summed.
 */
#ifndef SR_STATUS_H
#define SR_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "instance.h"
#include "metrics.h"
#include "strlist.h"

#define SR_STATUS_METRICS_MAX_AGE 300.0 /* seconds, as sr3 */

/* The runStateThreshold_* options of a config (conf.d gives their defaults). */
typedef struct sr_status_thresholds {
    double hung;   /* seconds without a metrics write: hung */
    double idle;   /* seconds without a message or transfer: idle */
    double lag;    /* average lag above this (s): lag */
    double reject; /* % rejected above this: reje */
    double retry;  /* retry queue length above this: rtry */
    double slow;   /* transfer bytes/s below this: slow (0: never) */
} sr_status_thresholds;

/* What is known of one config before its row is computed. */
typedef struct sr_status_input {
    const char *name;  /* "component/config" */
    bool config_error; /* the config does not load: expected and thresholds are unknown */
    bool disabled;
    int expected; /* option `instances` */
    sr_status_thresholds thresholds;
    const sr_instance_info *instances; /* the pid files (instance.h) */
    size_t instance_count;
    /* The metrics files of the config's instances (0 = foreground included), any age:
     * sr_status_compute sums those younger than SR_STATUS_METRICS_MAX_AGE, and takes the
     * time of all (schema -1: a placeholder that only dates an instance) for the hung
     * test. */
    const sr_metrics_snapshot *metrics;
    size_t metrics_count;
    double now;
} sr_status_input;

/* One row: the table's columns as numbers. Unknown values are negative. */
typedef struct sr_status_row {
    const char *name;  /* borrowed from the input */
    const char *state; /* "run", "stop", "part", "miss", "hung", "idle", "lag", "rtry", "reje",
                          "slow", "wVip", "disa", "fore", "bad" (config error) */
    int running, expected, dead;
    unsigned fresh; /* metrics files summed */
    unsigned long long retry;
    double msg_connected;    /* % of the interval connected to the broker; -1: unknown */
    double data_connected;   /* % of the interval with a transfer session open; -1 */
    long long queued;        /* messages waiting in the queue; -1: unknown */
    double lag_max, lag_avg; /* seconds; lag_avg -1 when no message was accepted */
    double last;             /* seconds since the last transfer (else message); -1: n/a */
    double reject_percent;   /* -1 when nothing was received */
    double msg_rx_bytes_rate, msg_tx_bytes_rate; /* message bytes per second */
    double pubsub_rate;                          /* message bytes received + posted per second */
    double message_rate;                         /* messages received (good + bad) per second */
    double posted_rate;                          /* messages posted per second (for the footer) */
    double rx_data_rate, tx_data_rate;           /* file bytes per second */
    double rx_file_rate, tx_file_rate;           /* files per second (footer) */
    unsigned long long lag_count;                /* accepted messages with a lag (for the mean) */
    double cpu_user, cpu_system;                 /* seconds, of the instances summed */
    long long rss_bytes;
    /* the plugins' figures of the instances summed: plugin -> {figure: number}; owned
     * (sr_status_row_fini), NULL when none */
    struct json_t *plugins;
    /* Which broker node each running instance is on: instance number (as text) -> "host:
     * port", from the metrics files; owned, NULL when none says. cluster is true when an
     * instance's broker URL names several nodes (the table then lists them). */
    struct json_t *nodes;
    bool cluster;
} sr_status_row;
void sr_status_row_fini(sr_status_row *row);

/* The row of one config: sums, rates and the state with sr3's precedence: disabled, hung,
 * instances missing (part/miss/stop; fore when only a foreground instance runs), waiting
 * for a vip, slow, retry, lag, reject, idle, run. */
void sr_status_compute(const sr_status_input *in, sr_status_row *row);

/* The table (two header rows, one row per config, a footer of totals) or the JSON
 * document {"configs": [...], "totals": {...}} with the same fields, numbers as numbers
 * and null for unknown. full adds columns (posted, files, CPU, memory). strays: live instance
 * processes no pid file names (-1: unknown). */
void sr_status_print_table(const sr_status_row *rows, size_t count, long strays, bool full,
                           FILE *out);
int sr_status_print_json(const sr_status_row *rows, size_t count, long strays, FILE *out,
                         sr_err *err);

/* Human-readable figures as sr3 prints them, into buf (returned):
 * bytes per second "0 B/s", "512 B/s", "1.2 KiB/s", "3.4 MiB/s";
 * a count per second "0/s", "12/s", "1.2k/s", "3.4M/s"; a duration "0.25s", "12s", "5m",
 * "2h", "3d" ("n/a" when negative). */
const char *sr_status_bytes_rate(double bytes_per_second, char *buf, size_t size);
const char *sr_status_count_rate(double per_second, char *buf, size_t size);
const char *sr_status_duration(double seconds, char *buf, size_t size);

/* What `sr status` gathers, for `sr dump` and `sr overview` too: the configs matched
 * ("component/config", sorted), and for each its input (pid files, metrics; owned by the
 * report), its row, and why it did not load or scan (NULL when it did). strays: live
 * instance processes no pid file names (of any config when no pattern was given; -1:
 * unknown). */
typedef struct sr_status_report {
    sr_strlist names;
    sr_status_input *inputs;
    sr_status_row *rows;
    char **errors;
    long strays;
    void *priv; /* what the inputs point into */
} sr_status_report;

/* Gather the report of the configs matching the patterns (all when none). Returns SR_OK
 * (a config that does not load is a row with its error), or an error (out of memory, the
 * config folder unreadable). Free with sr_status_report_fini. */
int sr_status_collect(sr_cli *cli, char *const *patterns, size_t npat, sr_status_report *out,
                      sr_err *err);
void sr_status_report_fini(sr_status_report *r);

/* `sr status [--json] [--full] [PATTERN ...]`: argv holds what follows the verb. Exit
 * status: 0, 1 when a config could not be read (its row says "bad"), 2 usage. */
int sr_status_main(sr_cli *cli, int argc, char **argv);

#endif
