/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * status: see status.h.
 *
 * Cost: per config one sr_cli_load (about 0.1 ms: options and masks, no broker), one
 * folder listing for the pid files, one stat per possible metrics file and one small
 * JSON parse per fresh one. A metrics file too old to be summed is only stat()ed: its
 * mtime is all the hung test needs.
 */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "timefmt.h"

/* ---- figures ---- */

const char *sr_status_bytes_rate(double v, char *buf, size_t size)
{
    static const char *const units[] = {"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"};
    int u = 0;
    if (!(v > 0)) /* also NaN */
        v = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f %s", v, units[u]);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

const char *sr_status_count_rate(double v, char *buf, size_t size)
{
    static const char *const units[] = {"", "k", "M", "G"};
    int u = 0;
    if (!(v > 0))
        v = 0;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    if (u > 0)
        snprintf(buf, size, "%.1f%s/s", v, units[u]);
    else if (v == 0 || v >= 10)
        snprintf(buf, size, "%.0f/s", v);
    else
        snprintf(buf, size, "%.1f/s", v);
    return buf;
}

const char *sr_status_duration(double s, char *buf, size_t size)
{
    if (s < 0 || isnan(s))
        snprintf(buf, size, "n/a");
    else if (s < 10)
        snprintf(buf, size, "%.2fs", s);
    else if (s < 120)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 2 * 3600)
        snprintf(buf, size, "%.0fm", s / 60);
    else if (s < 2 * 86400)
        snprintf(buf, size, "%.0fh", s / 3600);
    else
        snprintf(buf, size, "%.0fd", s / 86400);
    return buf;
}

/* ---- one row ---- */

static const sr_instance_info *instance_info(const sr_status_input *in, int instance)
{
    for (size_t i = 0; i < in->instance_count; i++)
        if (in->instances[i].instance == instance)
            return &in->instances[i];
    return NULL;
}

static double max_d(double a, double b)
{
    return a > b ? a : b;
}

/* Add a snapshot's plugin figures into *sums (made when needed): numbers summed by
 * plugin and figure, as the instances' counters are. */
static void add_plugin_figures(json_t **sums, const json_t *plugins)
{
    const char *plugin, *figure;
    json_t *figures, *value;
    json_object_foreach((json_t *)plugins, plugin, figures) {
        if (!json_is_object(figures))
            continue;
        if (*sums == NULL && (*sums = json_object()) == NULL)
            return;
        json_t *into = json_object_get(*sums, plugin);
        if (into == NULL) {
            into = json_object();
            if (into == NULL || json_object_set_new(*sums, plugin, into) != 0)
                return;
        }
        json_object_foreach(figures, figure, value) {
            if (!json_is_number(value))
                continue;
            double was = json_number_value(json_object_get(into, figure));
            json_object_set_new(into, figure, json_real(was + json_number_value(value)));
        }
    }
}

void sr_status_row_fini(sr_status_row *row)
{
    json_decref(row->plugins);
    row->plugins = NULL;
    json_decref(row->nodes);
    row->nodes = NULL;
}

void sr_status_compute(const sr_status_input *in, sr_status_row *row)
{
    memset(row, 0, sizeof *row);
    row->name = in->name;
    row->expected = in->expected;
    row->msg_connected = row->data_connected = -1;
    row->queued = -1;
    row->lag_avg = row->last = row->reject_percent = -1;

    bool foreground = false;
    for (size_t i = 0; i < in->instance_count; i++) {
        const sr_instance_info *info = &in->instances[i];
        if (info->state == SR_INSTANCE_RUNNING && info->instance == 0)
            foreground = true;
        else if (info->state == SR_INSTANCE_RUNNING)
            row->running++;
        else if (info->state == SR_INSTANCE_DEAD)
            row->dead++;
    }

    bool hung = false;
    unsigned passive = 0;
    double msg_pct = 0, data_pct = 0, lag_total = 0, last_transfer = 0, last_message = 0;
    unsigned long long received = 0, refused = 0;
    for (size_t i = 0; i < in->metrics_count; i++) {
        const sr_metrics_snapshot *s = &in->metrics[i];
        const sr_instance_info *info = instance_info(in, s->instance);
        /* Only what runs now counts: a stopped instance's last file says nothing of the
         * config's present. */
        if (info == NULL || info->state != SR_INSTANCE_RUNNING)
            continue;
        double age = in->now - s->time;
        if (s->instance > 0 && in->thresholds.hung > 0 && age > in->thresholds.hung)
            hung = true;
        if (age > SR_STATUS_METRICS_MAX_AGE || s->time <= 0 || s->schema < 0)
            continue;
        row->fresh++;
        /* A file written right at a reset has an empty interval: counts, no rates. */
        double span = s->time - s->time_base;
        double per = span > 0.5 ? 1 / span : 0;
        const unsigned long long *c = s->counters;
        row->retry += s->retry_work + s->retry_post;
        msg_pct += span > 0 ? fmin(100, 100 * s->broker_connected_seconds / span)
                            : (s->broker_connected ? 100 : 0);
        data_pct += span > 0 ? fmin(100, 100 * s->transfer_connected_seconds / span) : 0;
        if (s->broker_queued >= 0)
            row->queued = (row->queued < 0 ? 0 : row->queued) + s->broker_queued;
        row->lag_max = max_d(row->lag_max, s->lag_max);
        lag_total += s->lag_avg * (double)s->lag_count;
        row->lag_count += s->lag_count;
        last_transfer = max_d(last_transfer, s->last_transfer);
        last_message = max_d(last_message, max_d(s->last_rx, s->last_tx));
        received += c[SR_METRIC_RX_GOOD] + c[SR_METRIC_RX_BAD];
        refused += c[SR_METRIC_REJECTED] + c[SR_METRIC_RX_BAD];
        row->msg_rx_bytes_rate += (double)c[SR_METRIC_RX_BYTES] * per;
        row->msg_tx_bytes_rate += (double)c[SR_METRIC_TX_BYTES] * per;
        row->message_rate += (double)(c[SR_METRIC_RX_GOOD] + c[SR_METRIC_RX_BAD]) * per;
        row->posted_rate += (double)c[SR_METRIC_POSTED] * per;
        row->rx_data_rate += (double)c[SR_METRIC_DATA_RX] * per;
        row->tx_data_rate += (double)c[SR_METRIC_DATA_TX] * per;
        row->rx_file_rate += (double)c[SR_METRIC_FILES_RX] * per;
        row->tx_file_rate += (double)c[SR_METRIC_FILES_TX] * per;
        row->cpu_user += s->cpu_user;
        row->cpu_system += s->cpu_system;
        row->rss_bytes += s->rss_bytes;
        if (s->plugins != NULL)
            add_plugin_figures(&row->plugins, s->plugins);
        if (s->broker_node != NULL) {
            char key[16];
            snprintf(key, sizeof key, "%d", s->instance);
            if (row->nodes == NULL)
                row->nodes = json_object();
            if (row->nodes != NULL)
                json_object_set_new(row->nodes, key, json_string(s->broker_node));
            row->cluster |= s->broker_nodes > 1;
        }
        if (s->passive)
            passive++;
    }
    row->pubsub_rate = row->msg_rx_bytes_rate + row->msg_tx_bytes_rate;
    if (row->fresh > 0) {
        row->msg_connected = msg_pct / row->fresh;
        row->data_connected = data_pct / row->fresh;
    }
    if (row->lag_count > 0)
        row->lag_avg = lag_total / (double)row->lag_count;
    /* sr3: time since the last file transfer, else since the last message. */
    double last = last_transfer > 0 ? last_transfer : last_message;
    if (last > 0)
        row->last = max_d(0, in->now - last);
    if (received > 0)
        row->reject_percent = fmin(100, 100.0 * (double)refused / (double)received);

    const sr_status_thresholds *t = &in->thresholds;
    double data_rate = row->rx_data_rate + row->tx_data_rate;
    if (in->config_error)
        row->state = "bad";
    else if (in->disabled)
        row->state = "disa";
    else if (hung)
        row->state = "hung";
    else if (row->running == 0)
        row->state = foreground ? "fore" : row->dead > 0 ? "miss" : "stop";
    else if (row->running < row->expected)
        row->state = "part";
    else if (row->fresh > 0 && passive == row->fresh)
        row->state = "wVip";
    else if (t->slow > 0 && data_rate > 0 && data_rate < t->slow)
        row->state = "slow";
    else if (t->retry > 0 && (double)row->retry > t->retry)
        row->state = "rtry";
    else if (t->lag > 0 && row->lag_avg > t->lag)
        row->state = "lag";
    else if (t->reject > 0 && row->reject_percent > t->reject)
        row->state = "reje";
    else if (t->idle > 0 && row->last > t->idle)
        row->state = "idle";
    else
        row->state = "run";
}

/* ---- printing ---- */

static const char *percent(double v, char *buf, size_t size)
{
    if (v < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.0f%%", v);
    return buf;
}

static const char *queued_text(long long v, char *buf, size_t size)
{
    if (v < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%lld", v);
    return buf;
}

static const char *bytes_text(double v, char *buf, size_t size)
{
    /* A size, not a rate: the same scale without "/s". */
    sr_status_bytes_rate(v, buf, size);
    char *slash = strstr(buf, "/s");
    if (slash != NULL)
        *slash = '\0';
    return buf;
}

/* Configs that are meant to run: not stopped on purpose, not disabled, readable. */
static bool meant_to_run(const sr_status_row *r)
{
    return strcmp(r->state, "stop") != 0 && strcmp(r->state, "disa") != 0 &&
           strcmp(r->state, "bad") != 0 && strcmp(r->state, "fore") != 0;
}

typedef struct totals {
    size_t configs, running_configs;
    long processes, missing;
    unsigned long long retry, lag_count;
    long long queued;
    double lag_total, rx_msgs, tx_msgs, rx_bytes, tx_bytes, rx_files, tx_files, rx_data, tx_data;
    double cpu_user, cpu_system;
    long long rss;
} totals;

static void sum(const sr_status_row *rows, size_t count, totals *t)
{
    memset(t, 0, sizeof *t);
    t->queued = -1;
    t->configs = count;
    for (size_t i = 0; i < count; i++) {
        const sr_status_row *r = &rows[i];
        if (r->running > 0)
            t->running_configs++;
        t->processes += r->running;
        if (meant_to_run(r) && r->expected > r->running)
            t->missing += r->expected - r->running;
        t->retry += r->retry;
        if (r->queued >= 0)
            t->queued = (t->queued < 0 ? 0 : t->queued) + r->queued;
        if (r->lag_count > 0) {
            t->lag_total += r->lag_avg * (double)r->lag_count;
            t->lag_count += r->lag_count;
        }
        t->rx_msgs += r->message_rate;
        t->tx_msgs += r->posted_rate;
        t->rx_bytes += r->msg_rx_bytes_rate;
        t->tx_bytes += r->msg_tx_bytes_rate;
        t->rx_files += r->rx_file_rate;
        t->tx_files += r->tx_file_rate;
        t->rx_data += r->rx_data_rate;
        t->tx_data += r->tx_data_rate;
        t->cpu_user += r->cpu_user;
        t->cpu_system += r->cpu_system;
        t->rss += r->rss_bytes;
    }
}

/* For configs on a cluster (a broker URL naming several nodes): the node each instance
 * is on, one line per config: "  sarra/pump: i1 h1:5672, i2 h2:5672". */
static void print_nodes(const sr_status_row *rows, size_t count, FILE *out)
{
    bool heading = false;
    for (size_t i = 0; i < count; i++) {
        const sr_status_row *r = &rows[i];
        if (!r->cluster || r->nodes == NULL)
            continue;
        if (!heading)
            fprintf(out, "               Broker nodes:\n");
        heading = true;
        fprintf(out, "  %s:", r->name);
        /* in instance order, whatever the object's order */
        int last = -1;
        for (size_t n = json_object_size(r->nodes); n > 0; n--) {
            const char *key, *best = NULL;
            json_t *value, *best_value = NULL;
            int best_i = 0;
            json_object_foreach((json_t *)r->nodes, key, value) {
                int k = atoi(key);
                if (k > last && (best == NULL || k < best_i)) {
                    best = key;
                    best_i = k;
                    best_value = value;
                }
            }
            if (best == NULL)
                break;
            fprintf(out, "%s i%d %s", last >= 0 ? "," : "", best_i, json_string_value(best_value));
            last = best_i;
        }
        fputc('\n', out);
    }
}

void sr_status_print_table(const sr_status_row *rows, size_t count, long strays, bool full,
                           FILE *out)
{
    int w = (int)strlen("Component/Config");
    for (size_t i = 0; i < count; i++)
        if ((int)strlen(rows[i].name) > w)
            w = (int)strlen(rows[i].name);
    /* Groups over the columns, as sr3's first header row. */
    fprintf(out, "%-*s %-18s %-16s %-28s %s\n", w, "", "Processes", "Connection", "Lag", "Rates");
    fprintf(out, "%-*s %-5s %5s %6s %4s %4s %6s %7s %7s %6s %5s %12s %9s %12s %12s", w,
            "Component/Config", "State", "Run", "Retry", "msg", "data", "Que", "LagMax", "LagAvg",
            "Last", "%rej", "pubsub", "messages", "RxData", "TxData");
    if (full)
        fprintf(out, " %9s %9s %9s %9s %9s %10s", "posted", "rxFiles", "txFiles", "cpuUser",
                "cpuSys", "rss");
    fputc('\n', out);
    fprintf(out, "%-*s %-5s %5s %6s %4s %4s %6s %7s %7s %6s %5s %12s %9s %12s %12s", w,
            "----------------", "-----", "---", "-----", "---", "----", "---", "------", "------",
            "----", "----", "------", "--------", "------", "------");
    if (full)
        fprintf(out, " %9s %9s %9s %9s %9s %10s", "------", "-------", "-------", "-------",
                "------", "---");
    fputc('\n', out);
    for (size_t i = 0; i < count; i++) {
        const sr_status_row *r = &rows[i];
        char run[24], msg[16], data[16], que[24], lmax[16], lavg[16], last[16], rej[16];
        char pubsub[24], messages[24], rx[24], tx[24];
        if (strcmp(r->state, "bad") == 0)
            snprintf(run, sizeof run, "%d/-", r->running);
        else
            snprintf(run, sizeof run, "%d/%d", r->running, r->expected);
        if (r->reject_percent < 0)
            snprintf(rej, sizeof rej, "-");
        else
            snprintf(rej, sizeof rej, "%.1f%%", r->reject_percent);
        fprintf(out, "%-*s %-5s %5s %6llu %4s %4s %6s %7s %7s %6s %5s %12s %9s %12s %12s", w,
                r->name, r->state, run, r->retry, percent(r->msg_connected, msg, sizeof msg),
                percent(r->data_connected, data, sizeof data),
                queued_text(r->queued, que, sizeof que),
                r->lag_count > 0 ? sr_status_duration(r->lag_max, lmax, sizeof lmax) : "n/a",
                sr_status_duration(r->lag_avg, lavg, sizeof lavg),
                sr_status_duration(r->last, last, sizeof last), rej,
                sr_status_bytes_rate(r->pubsub_rate, pubsub, sizeof pubsub),
                sr_status_count_rate(r->message_rate, messages, sizeof messages),
                sr_status_bytes_rate(r->rx_data_rate, rx, sizeof rx),
                sr_status_bytes_rate(r->tx_data_rate, tx, sizeof tx));
        if (full) {
            char posted[24], rxf[24], txf[24], rss[24];
            fprintf(out, " %9s %9s %9s %8.2fs %8.2fs %10s",
                    sr_status_count_rate(r->posted_rate, posted, sizeof posted),
                    sr_status_count_rate(r->rx_file_rate, rxf, sizeof rxf),
                    sr_status_count_rate(r->tx_file_rate, txf, sizeof txf), r->cpu_user,
                    r->cpu_system, bytes_text((double)r->rss_bytes, rss, sizeof rss));
        }
        fputc('\n', out);
    }
    totals t;
    sum(rows, count, &t);
    char a[24], b[24], c[24], d[24], e[24], lag[16], stray[24], que[24];
    if (strays < 0)
        snprintf(stray, sizeof stray, "?");
    else
        snprintf(stray, sizeof stray, "%ld", strays);
    fprintf(out,
            "      Total Running Configs: %zu of %zu ( Processes: %ld missing: %ld stray: %s )\n",
            t.running_configs, t.configs, t.processes, t.missing, stray);
    fprintf(out, "                     Memory: rss: %s\n", bytes_text((double)t.rss, a, sizeof a));
    fprintf(out, "                   CPU Time: User: %.2fs System: %.2fs\n", t.cpu_user,
            t.cpu_system);
    fprintf(
        out,
        "           Pub/Sub Received: %s (%s), Sent: %s (%s) Queued: %s Retry: %llu, "
        "Mean lag: %s\n",
        sr_status_count_rate(t.rx_msgs, a, sizeof a), sr_status_bytes_rate(t.rx_bytes, b, sizeof b),
        sr_status_count_rate(t.tx_msgs, c, sizeof c), sr_status_bytes_rate(t.tx_bytes, d, sizeof d),
        queued_text(t.queued, que, sizeof que), t.retry,
        t.lag_count > 0 ? sr_status_duration(t.lag_total / (double)t.lag_count, lag, sizeof lag)
                        : "n/a");
    fprintf(out, "              Data Received: %s (%s), Sent: %s (%s)\n",
            sr_status_count_rate(t.rx_files, a, sizeof a),
            sr_status_bytes_rate(t.rx_data, b, sizeof b),
            sr_status_count_rate(t.tx_files, c, sizeof c),
            sr_status_bytes_rate(t.tx_data, e, sizeof e));
    print_nodes(rows, count, out);
}

/* A number, or null when negative (unknown). */
static json_t *known(double v)
{
    return v < 0 || isnan(v) ? json_null() : json_real(v);
}

static json_t *row_json(const sr_status_row *r)
{
    const char *slash = strchr(r->name, '/');
    int clen = slash ? (int)(slash - r->name) : 0;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "config", json_string(r->name));
    bad |= json_object_set_new(o, "component", json_stringn(r->name, (size_t)clen));
    bad |= json_object_set_new(o, "name", json_string(slash ? slash + 1 : r->name));
    bad |= json_object_set_new(o, "state", json_string(r->state));
    bad |= json_object_set_new(o, "running", json_integer(r->running));
    bad |= json_object_set_new(
        o, "expected", strcmp(r->state, "bad") == 0 ? json_null() : json_integer(r->expected));
    bad |= json_object_set_new(o, "dead", json_integer(r->dead));
    bad |= json_object_set_new(o, "metricsFiles", json_integer(r->fresh));
    bad |= json_object_set_new(o, "retry", json_integer((json_int_t)r->retry));
    bad |= json_object_set_new(o, "msgConnectedPercent", known(r->msg_connected));
    bad |= json_object_set_new(o, "dataConnectedPercent", known(r->data_connected));
    bad |= json_object_set_new(o, "queued",
                               r->queued < 0 ? json_null() : json_integer((json_int_t)r->queued));
    bad |= json_object_set_new(o, "lagMaxSeconds",
                               r->lag_count > 0 ? json_real(r->lag_max) : json_null());
    bad |= json_object_set_new(o, "lagAvgSeconds", known(r->lag_avg));
    bad |= json_object_set_new(o, "lastSeconds", known(r->last));
    bad |= json_object_set_new(o, "rejectPercent", known(r->reject_percent));
    bad |= json_object_set_new(o, "pubsubBytesPerSecond", json_real(r->pubsub_rate));
    bad |= json_object_set_new(o, "messagesPerSecond", json_real(r->message_rate));
    bad |= json_object_set_new(o, "postedPerSecond", json_real(r->posted_rate));
    bad |= json_object_set_new(o, "rxDataBytesPerSecond", json_real(r->rx_data_rate));
    bad |= json_object_set_new(o, "txDataBytesPerSecond", json_real(r->tx_data_rate));
    bad |= json_object_set_new(o, "rxFilesPerSecond", json_real(r->rx_file_rate));
    bad |= json_object_set_new(o, "txFilesPerSecond", json_real(r->tx_file_rate));
    bad |= json_object_set_new(o, "cpuUserSeconds", json_real(r->cpu_user));
    bad |= json_object_set_new(o, "cpuSystemSeconds", json_real(r->cpu_system));
    bad |= json_object_set_new(o, "rssBytes", json_integer((json_int_t)r->rss_bytes));
    if (r->plugins != NULL)
        bad |= json_object_set(o, "plugins", r->plugins);
    bad |= json_object_set(o, "brokerNodes", r->nodes != NULL ? r->nodes : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int sr_status_print_json(const sr_status_row *rows, size_t count, long strays, FILE *out,
                         sr_err *err)
{
    json_t *root = json_object(), *configs = json_array();
    int bad = root == NULL || configs == NULL;
    for (size_t i = 0; !bad && i < count; i++)
        bad = json_array_append_new(configs, row_json(&rows[i])) != 0;
    totals t;
    sum(rows, count, &t);
    json_t *tot =
        bad ? NULL
            : json_pack(
                  "{s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:f, "
                  "s:f, s:f, s:f, s:f, s:I}",
                  "configs", (json_int_t)t.configs, "runningConfigs", (json_int_t)t.running_configs,
                  "processes", (json_int_t)t.processes, "missing", (json_int_t)t.missing, "strays",
                  strays < 0 ? json_null() : json_integer(strays), "retry", (json_int_t)t.retry,
                  "queued", t.queued < 0 ? json_null() : json_integer((json_int_t)t.queued),
                  "lagAvgSeconds",
                  t.lag_count ? json_real(t.lag_total / (double)t.lag_count) : json_null(),
                  "messagesPerSecond", t.rx_msgs, "postedPerSecond", t.tx_msgs, "rxBytesPerSecond",
                  t.rx_bytes, "txBytesPerSecond", t.tx_bytes, "rxFilesPerSecond", t.rx_files,
                  "txFilesPerSecond", t.tx_files, "rxDataBytesPerSecond", t.rx_data,
                  "txDataBytesPerSecond", t.tx_data, "cpuUserSeconds", t.cpu_user,
                  "cpuSystemSeconds", t.cpu_system, "rssBytes", (json_int_t)t.rss);
    bad = bad || tot == NULL || json_object_set_new(root, "configs", configs) != 0;
    if (!bad)
        configs = NULL;
    bad = bad || json_object_set_new(root, "totals", tot) != 0;
    if (!bad)
        tot = NULL;
    if (bad || json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        json_decref(root);
        json_decref(configs);
        json_decref(tot);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    fputc('\n', out);
    json_decref(root);
    return SR_OK;
}

/* ---- gathering ---- */

/* What one config's row is computed from, and who owns it. */
typedef struct gathered {
    sr_status_input in;
    sr_instance_info *infos;
    sr_metrics_snapshot *metrics;
    size_t metrics_cap;
} gathered;

static void gathered_fini(gathered *g)
{
    for (size_t i = 0; i < g->in.metrics_count; i++)
        sr_metrics_snapshot_fini(&g->metrics[i]);
    free(g->metrics);
    free(g->infos);
    memset(g, 0, sizeof *g);
}

/* The next free snapshot slot, or NULL when out of memory. */
static sr_metrics_snapshot *next_slot(gathered *g)
{
    if (g->in.metrics_count == g->metrics_cap) {
        size_t cap = g->metrics_cap ? 2 * g->metrics_cap : 4;
        sr_metrics_snapshot *grown = realloc(g->metrics, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        g->metrics = grown;
        g->metrics_cap = cap;
    }
    return &g->metrics[g->in.metrics_count];
}

/* A snapshot that only dates an instance (schema -1: nothing to sum). */
static int push_placeholder(gathered *g, int n, double time)
{
    sr_metrics_snapshot *s = next_slot(g);
    if (s == NULL)
        return -1;
    memset(s, 0, sizeof *s);
    s->schema = -1;
    s->instance = n;
    s->time = time;
    s->broker_queued = -1;
    g->in.metrics_count++;
    return 0;
}

/* Read instance n's metrics file into the next slot: parsed when fresh, only its mtime
 * (as "time") when older, nothing when absent or unreadable (a file being replaced). */
static int read_metrics(gathered *g, const sr_paths *paths, const char *comp, const char *name,
                        int n, double now)
{
    char *path = sr_paths_metrics_file(paths, comp, name, n);
    if (path == NULL)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0) {
        free(path);
        return 0;
    }
    double mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
    sr_metrics_snapshot *s = next_slot(g);
    sr_err err;
    if (s == NULL) {
        free(path);
        return -1;
    } else if (now - mtime > SR_STATUS_METRICS_MAX_AGE) {
        if (push_placeholder(g, n, mtime) != 0) {
            free(path);
            return -1;
        }
    } else if (sr_metrics_read(path, s, &err) == SR_OK) {
        s->instance = n; /* the file's name says which instance, whatever it holds */
        if (s->time <= 0)
            s->time = mtime;
        g->in.metrics_count++;
    } else if (err.code == SR_ENOMEM) {
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

static int push_info(gathered *g, int instance, pid_t pid)
{
    sr_instance_info *grown = realloc(g->infos, (g->in.instance_count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    g->infos = grown;
    g->infos[g->in.instance_count++] = (sr_instance_info){instance, pid, SR_INSTANCE_RUNNING};
    return 0;
}

/* Everything about one config. Returns -1 when out of memory; a config that does not load
 * is a row too (config_error), with its message in err. */
static int gather_config(const sr_cli *cli, const sr_paths *host_paths, const char *comp,
                         const char *name, double now, gathered *g, sr_err *err)
{
    memset(g, 0, sizeof *g);
    g->in.now = now;
    sr_config *cfg = NULL;
    const sr_paths *paths = &cli->paths;
    if (sr_cli_load(cli, sr_component_from_name(comp), name, &cfg, err) != SR_OK) {
        if (err->code == SR_ENOMEM)
            return -1;
        g->in.config_error = true;
        g->in.expected = 0;
    } else {
        long long n = sr_config_count(cfg, SR_OPT_instances);
        /* post and watch have no `instances`: one process. */
        g->in.expected = n > 0 ? (int)n : 1;
        sr_status_thresholds *t = &g->in.thresholds;
        t->hung = sr_config_seconds(cfg, SR_OPT_runStateThreshold_hung);
        t->idle = sr_config_seconds(cfg, SR_OPT_runStateThreshold_idle);
        t->lag = sr_config_seconds(cfg, SR_OPT_runStateThreshold_lag);
        t->reject = (double)sr_config_count(cfg, SR_OPT_runStateThreshold_reject);
        t->retry = (double)sr_config_count(cfg, SR_OPT_runStateThreshold_retry);
        t->slow = (double)sr_config_count(cfg, SR_OPT_runStateThreshold_slow);
        if (sr_config_flag(cfg, SR_OPT_statehost) && host_paths != NULL)
            paths = host_paths;
        sr_config_free(cfg);
    }
    /* pid files and `disabled` stay in the plain state folder (the supervisor's, whatever
     * statehost says); the flow writes its metrics under the per-host one. */
    g->in.disabled = sr_instance_disabled(&cli->paths, comp, name);
    size_t count = 0;
    sr_err scan_err;
    if (sr_instance_scan(&cli->paths, comp, name, &g->infos, &count, &scan_err) != SR_OK) {
        if (scan_err.code == SR_ENOMEM)
            return -1;
        if (!g->in.config_error)
            *err = scan_err; /* shown, the row stays */
        g->infos = NULL;
        count = 0;
    }
    g->in.instance_count = count;
    int top = g->in.expected;
    for (size_t i = 0; i < count; i++)
        if (g->infos[i].instance > top)
            top = g->infos[i].instance;
    for (int n = 0; n <= top; n++)
        if (read_metrics(g, paths, comp, name, n, now) != 0)
            return -1;
    /* A running instance that has written no metrics yet is timed from its pid file, as
     * sanity does: one stuck before its first write is hung too. */
    for (size_t i = 0; i < count; i++) {
        bool seen = false;
        for (size_t j = 0; j < g->in.metrics_count; j++)
            seen |= g->metrics[j].instance == g->infos[i].instance;
        if (seen || g->infos[i].state != SR_INSTANCE_RUNNING || g->infos[i].instance < 1)
            continue;
        char *pidf = sr_paths_pid_file(&cli->paths, comp, name, g->infos[i].instance);
        struct stat st;
        if (pidf != NULL && stat(pidf, &st) == 0 &&
            push_placeholder(g, g->infos[i].instance,
                             (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9) != 0) {
            free(pidf);
            return -1;
        }
        free(pidf);
    }
    /* A foreground instance (0) may have no pid file: its fresh metrics name its pid. */
    for (size_t i = 0; i < g->in.metrics_count; i++) {
        const sr_metrics_snapshot *s = &g->metrics[i];
        bool known_pid = false;
        for (size_t j = 0; j < g->in.instance_count; j++)
            known_pid |= g->infos[j].instance == 0;
        if (s->instance == 0 && !known_pid && s->pid > 0 &&
            now - s->time <= SR_STATUS_METRICS_MAX_AGE &&
            sr_instance_is_ours((pid_t)s->pid, comp, name) && push_info(g, 0, (pid_t)s->pid) != 0)
            return -1;
    }
    g->in.instances = g->infos;
    g->in.metrics = g->metrics;
    return 0;
}

/* Live instance processes that no pid file of the listed configs names (when every
 * config is listed, also those of configs that no longer exist). -1 when unknown. */
static long count_strays(const sr_cli *cli, const sr_strlist *names, const gathered *g, bool all)
{
    sr_instance_process *procs = NULL;
    size_t n = 0;
    sr_err err;
    if (sr_instance_processes(&cli->paths, &procs, &n, &err) != SR_OK)
        return -1;
    long strays = 0;
    for (size_t i = 0; i < n; i++) {
        char full[300];
        snprintf(full, sizeof full, "%s/%s", procs[i].component, procs[i].config);
        bool listed = false, claimed = false;
        for (size_t c = 0; c < names->count && !listed; c++) {
            if (strcmp(names->items[c], full) != 0)
                continue;
            listed = true;
            for (size_t j = 0; j < g[c].in.instance_count; j++)
                claimed |= g[c].in.instances[j].pid == procs[i].pid;
        }
        if ((listed || all) && !claimed)
            strays++;
    }
    free(procs);
    return strays;
}

int sr_status_collect(sr_cli *cli, char *const *patterns, size_t npat, sr_status_report *out,
                      sr_err *err)
{
    memset(out, 0, sizeof *out);
    if (sr_cli_find_configs(cli, patterns, npat, &out->names, err) != SR_OK)
        return err->code;
    size_t n = out->names.count;
    /* statehost configs keep their state under <state>/<short host>: made once, if any
     * config wants it (it costs a gethostname only). */
    sr_paths host_paths = {0};
    sr_err host_err;
    bool have_host = sr_paths_init(&host_paths, true, &host_err) == SR_OK;
    double now = sr_time_now_s();
    gathered *g = calloc(n + 1, sizeof *g);
    out->priv = g;
    out->inputs = calloc(n + 1, sizeof *out->inputs);
    out->rows = calloc(n + 1, sizeof *out->rows);
    out->errors = calloc(n + 1, sizeof *out->errors);
    bool nomem = g == NULL || out->inputs == NULL || out->rows == NULL || out->errors == NULL;
    for (size_t i = 0; !nomem && i < n; i++) {
        char *slash = strchr(out->names.items[i], '/');
        *slash = '\0';
        sr_err one;
        sr_err_clear(&one);
        if (gather_config(cli, have_host ? &host_paths : NULL, out->names.items[i], slash + 1, now,
                          &g[i], &one) != 0)
            nomem = true;
        *slash = '/';
        g[i].in.name = out->names.items[i];
        if (one.code != SR_OK && (out->errors[i] = strdup(one.msg)) == NULL)
            nomem = true;
        sr_status_compute(&g[i].in, &out->rows[i]);
        out->inputs[i] = g[i].in;
    }
    out->strays = nomem ? -1 : count_strays(cli, &out->names, g, npat == 0);
    sr_paths_fini(&host_paths);
    if (nomem) {
        sr_status_report_fini(out);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    return SR_OK;
}

void sr_status_report_fini(sr_status_report *r)
{
    gathered *g = r->priv;
    for (size_t i = 0; i < r->names.count; i++) {
        if (g != NULL)
            gathered_fini(&g[i]);
        if (r->errors != NULL)
            free(r->errors[i]);
    }
    free(g);
    free(r->inputs);
    for (size_t i = 0; r->rows != NULL && i < r->names.count; i++)
        sr_status_row_fini(&r->rows[i]);
    free(r->rows);
    free(r->errors);
    sr_strlist_clear(&r->names);
    memset(r, 0, sizeof *r);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sr status [--json] [--full] [PATTERN ...]\n"
                 "  one row per config: state, instances running/expected, retry queue,\n"
                 "  connection, lag, rejects and rates from the instances' metrics files;\n"
                 "  --json for scripts, --full for more columns. See sr(1).\n");
}

int sr_status_main(sr_cli *cli, int argc, char **argv)
{
    bool json = false, full = false;
    char **patterns = calloc((size_t)argc + 1, sizeof *patterns);
    size_t npat = 0;
    if (patterns == NULL) {
        sr_log_stderr("sr status: out of memory");
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--full") == 0) {
            full = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(patterns);
            return 0;
        } else if (argv[i][0] == '-') {
            sr_log_stderr("sr status: unknown flag %s", argv[i]);
            usage(stderr);
            free(patterns);
            return 2;
        } else {
            patterns[npat++] = argv[i];
        }
    }
    int status = 0;
    sr_err err;
    sr_status_report r;
    if (sr_status_collect(cli, patterns, npat, &r, &err) != SR_OK) {
        sr_log_stderr("sr status: %s", err.msg);
        free(patterns);
        return 1;
    }
    if (r.names.count == 0 && npat > 0) {
        sr_log_stderr("sr status: no configuration matches under %s", cli->paths.config_dir);
        status = 1;
    }
    for (size_t i = 0; i < r.names.count; i++)
        if (r.errors[i] != NULL) {
            sr_log_stderr("sr status: %s: %s", r.names.items[i], r.errors[i]);
            status = 1;
        }
    if (json) {
        if (sr_status_print_json(r.rows, r.names.count, r.strays, stdout, &err) != SR_OK) {
            sr_log_stderr("sr status: %s", err.msg);
            status = 1;
        }
    } else {
        sr_status_print_table(r.rows, r.names.count, r.strays, full, stdout);
    }
    sr_status_report_fini(&r);
    free(patterns);
    return status;
}
