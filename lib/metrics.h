/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * metrics: what an instance counts, written to one small JSON file per instance for
 * `sr status` and read back by it (sr(1), THE FLOW, Metrics; VERBS, status).
 *
 * The flow owns one sr_metrics, adds to its counters as messages and files go by, tells it
 * about connections and lag, writes it every metrics_writeInterval seconds (sr_metrics_due,
 * 5 s by default) to metrics/<component>_<config>_<NN>.json, and resets the counters at
 * each housekeeping (time_base), as sr3 does. Writes are atomic (<path>.tmp, then rename):
 * a reader sees the old file or the new one, never a mix. No fsync: the file is a
 * snapshot, rewritten seconds later.
 *
 * The file (schema 1; every number is a JSON number; times are seconds since the epoch):
 *
 * {
 *   "schema": 1,
 *   "component": "subscribe", "config": "dd", "instance": 1, "pid": 4242,
 *   "time": 1700000305.2,        when written
 *   "timeBase": 1700000005.0,    when the counters were last reset (the interval's start)
 *   "counters": {                since timeBase
 *     "rxGoodCount": 0,          messages received and decoded
 *     "rxBadCount": 0,           messages received that did not decode (acked, dropped)
 *     "rejectCount": 0,          messages rejected (filter, duplicate, too old...)
 *     "acceptCount": 0,          messages accepted for work
 *     "txGoodCount": 0,          messages posted
 *     "txBadCount": 0,           posts that failed (to the post retry queue)
 *     "rxByteCount": 0,          message bytes received (bodies as on the wire)
 *     "txByteCount": 0,          message bytes posted
 *     "transferRxFiles": 0,      files downloaded
 *     "transferRxBytes": 0,      file bytes downloaded
 *     "transferTxFiles": 0,      files sent
 *     "transferTxBytes": 0       file bytes sent
 *   },
 *   "lag": {"count": 0, "min": 0, "avg": 0, "max": 0},
 *                                now - pubTime of accepted messages (s); 0s when count is 0
 *   "last": {"rx": 0, "tx": 0, "transfer": 0},
 *                                last message received, posted, file transferred (0: never,
 *                                not reset with the counters)
 *   "retry": {"work": 0, "post": 0},          retry queue lengths now
 *   "broker": {"connected": true, "connectedSeconds": 300.0, "queued": -1},
 *                                state now; seconds connected since timeBase; messages
 *                                waiting in the queue (-1: unknown)
 *   "transfer": {"sessions": 0, "connectedSeconds": 0.0},
 *                                transfer sessions open now; seconds with one or more open
 *   "process": {"cpuUser": 1.25, "cpuSystem": 0.5, "rssBytes": 5242880},
 *                                getrusage (whole life of the process) and /proc/self/statm
 *   "vip": {"passive": false}    true while the instance waits for a vip it does not hold
 * }
 *
 * sr_metrics_read takes what it finds: a field missing or of the wrong type reads as 0 (or
 * -1 for queued, false for connected), and fields it does not know are ignored, so later
 * schemas stay readable. The counter names are sr3's where sr3 has the same counter.
 */
#ifndef SR_METRICS_H
#define SR_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define SR_METRICS_SCHEMA 1
#define SR_METRICS_WRITE_INTERVAL 5.0 /* seconds: metrics_writeInterval's default */

/* The counters, reset at each housekeeping. */
enum sr_metric {
    SR_METRIC_RX_GOOD,  /* "rxGoodCount" */
    SR_METRIC_RX_BAD,   /* "rxBadCount" */
    SR_METRIC_REJECTED, /* "rejectCount" */
    SR_METRIC_ACCEPTED, /* "acceptCount" */
    SR_METRIC_POSTED,   /* "txGoodCount" */
    SR_METRIC_POST_BAD, /* "txBadCount" */
    SR_METRIC_RX_BYTES, /* "rxByteCount" */
    SR_METRIC_TX_BYTES, /* "txByteCount" */
    SR_METRIC_FILES_RX, /* "transferRxFiles" */
    SR_METRIC_DATA_RX,  /* "transferRxBytes" */
    SR_METRIC_FILES_TX, /* "transferTxFiles" */
    SR_METRIC_DATA_TX,  /* "transferTxBytes" */
    SR_METRIC_COUNT
};

/* The JSON name of a counter ("rxGoodCount"...), NULL outside the enum. */
const char *sr_metric_name(enum sr_metric which);

/* Everything the file holds: what sr_metrics_read fills and sr_metrics_snapshot makes. */
typedef struct sr_metrics_snapshot {
    int schema;
    char *component, *config; /* owned; NULL when absent */
    int instance;
    long pid;
    double time, time_base;
    unsigned long long counters[SR_METRIC_COUNT];
    unsigned long long lag_count;
    double lag_min, lag_avg, lag_max;
    double last_rx, last_tx, last_transfer;
    unsigned long long retry_work, retry_post;
    bool broker_connected;
    double broker_connected_seconds;
    /* The broker node in use, host:port (owned; NULL when unknown), and how many nodes the
     * broker URL names: `sr status` lists the nodes of a cluster's instances. */
    char *broker_node;
    unsigned broker_nodes;
    long long broker_queued; /* -1: unknown */
    unsigned transfer_sessions;
    double transfer_connected_seconds;
    double cpu_user, cpu_system;
    long long rss_bytes;
    bool passive; /* waiting for a vip (`sr status`: wVip) */
    /* the plugins' figures (metrics_report): plugin name -> {figure: number}, owned; NULL
     * when none */
    struct json_t *plugins;
} sr_metrics_snapshot;

/* Free what a snapshot owns and zero it. */
void sr_metrics_snapshot_fini(sr_metrics_snapshot *s);

typedef struct sr_metrics sr_metrics;

/* A new set of counters for one instance, all zero, the interval starting at now.
 * NULL when out of memory. */
sr_metrics *sr_metrics_new(const char *component, const char *config, int instance, double now);
void sr_metrics_free(sr_metrics *m);

/* Add n to a counter; RX_GOOD/RX_BAD also set last rx, POSTED last tx, FILES_RX/FILES_TX
 * last transfer, to now. */
void sr_metrics_add(sr_metrics *m, enum sr_metric which, unsigned long long n, double now);

/* One accepted message's lag (now - pubTime), in seconds. */
void sr_metrics_lag(sr_metrics *m, double seconds);

/* The broker connection went up or down at now (calling again with the same state is
 * harmless). */
void sr_metrics_broker(sr_metrics *m, bool connected, double now);
/* The broker node the instance is on (host:port, copied) among nodes named by its URL. */
void sr_metrics_broker_node(sr_metrics *m, const char *node, unsigned nodes);

/* Transfer sessions open at now (time counts as connected while there is one or more). */
void sr_metrics_transfer_sessions(sr_metrics *m, unsigned open, double now);

/* Retry queue lengths now. */
void sr_metrics_retry(sr_metrics *m, size_t work, size_t post);

/* Messages waiting in the broker queue, -1 when unknown. */
void sr_metrics_queued(sr_metrics *m, long long queued);

/* The instance waits for a vip it does not hold (passive) or holds one (active). */
void sr_metrics_passive(sr_metrics *m, bool passive);

/* A plugin's figures (metrics_report: a JSON object of name -> number), written under
 * "plugins" -> plugin in the metrics file; a later call for the plugin replaces them. */
struct json_t;
void sr_metrics_plugin(sr_metrics *m, const char *plugin, const struct json_t *figures);

/* Housekeeping: counters and lag to zero, connected seconds restart, time_base = now.
 * States, gauges and last times are kept. */
void sr_metrics_reset(sr_metrics *m, double now);

/* Change metrics_writeInterval (seconds; <= 0 means write every time asked). */
void sr_metrics_set_interval(sr_metrics *m, double seconds);

/* logMetrics: each write also appends the snapshot, as the line
 *     "YYYYMMDD-HHMMSS" : {...},
 * to a history file beside the metrics file, <path>.<period>, a new one each period as
 * the logs rotate (<path>.YYYYMMDD when rotate_interval is a day or more, else
 * <path>.YYYYMMDD-HHMM or, under a minute, <path>.YYYYMMDD-HHMMSS; UTC), and only the
 * newest keep history files are kept. keep <= 0 turns the history off (the default). */
void sr_metrics_set_history(sr_metrics *m, double rotate_interval, int keep);

/* Is a write due: never written, or the interval has passed since the last write? */
bool sr_metrics_due(const sr_metrics *m, double now);

/* A snapshot of everything as of now, with this process's pid, CPU time and memory
 * (what sr_metrics_write writes). Finish it with sr_metrics_snapshot_fini. SR_ENOMEM. */
int sr_metrics_get(const sr_metrics *m, double now, sr_metrics_snapshot *out, sr_err *err);

/* Write the snapshot as of now to path through <path>.tmp and a rename (and append it to
 * the history, with sr_metrics_set_history). The folder must exist. SR_EIO names the
 * file. */
int sr_metrics_write(sr_metrics *m, const char *path, double now, sr_err *err);

/* Read a metrics file (see the top for what a missing field reads as). *out is zeroed
 * first and owns its strings. SR_ENOENT (no file), SR_EIO, SR_EINVAL (not a JSON object:
 * err quotes the file). */
int sr_metrics_read(const char *path, sr_metrics_snapshot *out, sr_err *err);

#endif
