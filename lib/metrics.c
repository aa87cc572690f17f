/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * metrics: see metrics.h.
 *
 * Connected time is kept as seconds accumulated since time_base plus the open stretch
 * since the last change, so a snapshot taken while connected counts up to now without
 * the flow having to call anything.
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"

static const char *const names[SR_METRIC_COUNT] = {
    [SR_METRIC_RX_GOOD] = "rxGoodCount",      [SR_METRIC_RX_BAD] = "rxBadCount",
    [SR_METRIC_REJECTED] = "rejectCount",     [SR_METRIC_ACCEPTED] = "acceptCount",
    [SR_METRIC_POSTED] = "txGoodCount",       [SR_METRIC_POST_BAD] = "txBadCount",
    [SR_METRIC_RX_BYTES] = "rxByteCount",     [SR_METRIC_TX_BYTES] = "txByteCount",
    [SR_METRIC_FILES_RX] = "transferRxFiles", [SR_METRIC_DATA_RX] = "transferRxBytes",
    [SR_METRIC_FILES_TX] = "transferTxFiles", [SR_METRIC_DATA_TX] = "transferTxBytes",
};

/* A connection's time: up or down, since when, and seconds up since time_base. */
typedef struct uptime {
    bool up;
    double since;
    double seconds;
} uptime;

struct sr_metrics {
    char *component, *config;
    int instance;
    double interval, last_write; /* last_write < 0: never */
    double time_base;
    unsigned long long counters[SR_METRIC_COUNT];
    unsigned long long lag_count;
    double lag_total, lag_min, lag_max;
    double last_rx, last_tx, last_transfer;
    size_t retry_work, retry_post;
    long long queued;
    uptime broker, transfer;
    char broker_node[128]; /* host:port; "" unknown */
    unsigned broker_nodes;
    unsigned sessions;
    bool passive;
    double history_interval; /* logMetrics: period of the history files */
    int history_keep;        /* history files kept; 0: no history */
    char history_period[16]; /* the period of the history file last written */
    json_t *plugins;         /* plugin name -> {figure: number} (sr_metrics_plugin), or NULL */
};

const char *sr_metric_name(enum sr_metric which)
{
    return (unsigned)which < SR_METRIC_COUNT ? names[which] : NULL;
}

sr_metrics *sr_metrics_new(const char *component, const char *config, int instance, double now)
{
    sr_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->component = strdup(component ? component : "");
    m->config = strdup(config ? config : "");
    if (m->component == NULL || m->config == NULL) {
        sr_metrics_free(m);
        return NULL;
    }
    m->instance = instance;
    m->interval = SR_METRICS_WRITE_INTERVAL;
    m->last_write = -1;
    m->queued = -1;
    m->broker.since = m->transfer.since = now;
    sr_metrics_reset(m, now);
    return m;
}

void sr_metrics_free(sr_metrics *m)
{
    if (m == NULL)
        return;
    free(m->component);
    free(m->config);
    json_decref(m->plugins);
    free(m);
}

void sr_metrics_plugin(sr_metrics *m, const char *plugin, const json_t *figures)
{
    if (m == NULL || plugin == NULL || figures == NULL)
        return;
    if (m->plugins == NULL && (m->plugins = json_object()) == NULL)
        return;
    json_object_set_new(m->plugins, plugin, json_deep_copy(figures));
}

void sr_metrics_add(sr_metrics *m, enum sr_metric which, unsigned long long n, double now)
{
    if ((unsigned)which >= SR_METRIC_COUNT)
        return;
    m->counters[which] += n;
    switch (which) {
    case SR_METRIC_RX_GOOD:
    case SR_METRIC_RX_BAD:
        m->last_rx = now;
        break;
    case SR_METRIC_POSTED:
        m->last_tx = now;
        break;
    case SR_METRIC_FILES_RX:
    case SR_METRIC_FILES_TX:
        m->last_transfer = now;
        break;
    default:
        break;
    }
}

void sr_metrics_lag(sr_metrics *m, double seconds)
{
    if (!isfinite(seconds))
        return;
    if (m->lag_count == 0 || seconds < m->lag_min)
        m->lag_min = seconds;
    if (m->lag_count == 0 || seconds > m->lag_max)
        m->lag_max = seconds;
    m->lag_total += seconds;
    m->lag_count++;
}

/* Seconds up from time_base to now. */
static double uptime_at(const uptime *u, double now)
{
    double open = u->up && now > u->since ? now - u->since : 0;
    return u->seconds + open;
}

static void uptime_set(uptime *u, bool up, double now)
{
    u->seconds = uptime_at(u, now);
    u->since = now;
    u->up = up;
}

void sr_metrics_broker(sr_metrics *m, bool connected, double now)
{
    uptime_set(&m->broker, connected, now);
}

void sr_metrics_broker_node(sr_metrics *m, const char *node, unsigned nodes)
{
    snprintf(m->broker_node, sizeof m->broker_node, "%s", node ? node : "");
    m->broker_nodes = nodes;
}

void sr_metrics_transfer_sessions(sr_metrics *m, unsigned open, double now)
{
    m->sessions = open;
    uptime_set(&m->transfer, open > 0, now);
}

void sr_metrics_retry(sr_metrics *m, size_t work, size_t post)
{
    m->retry_work = work;
    m->retry_post = post;
}

void sr_metrics_queued(sr_metrics *m, long long queued)
{
    m->queued = queued < 0 ? -1 : queued;
}

void sr_metrics_passive(sr_metrics *m, bool passive)
{
    m->passive = passive;
}

void sr_metrics_reset(sr_metrics *m, double now)
{
    memset(m->counters, 0, sizeof m->counters);
    m->lag_count = 0;
    m->lag_total = m->lag_min = m->lag_max = 0;
    m->time_base = now;
    m->broker.seconds = m->transfer.seconds = 0;
    m->broker.since = m->transfer.since = now;
}

void sr_metrics_set_history(sr_metrics *m, double rotate_interval, int keep)
{
    m->history_interval = rotate_interval;
    m->history_keep = keep > 0 ? keep : 0;
}

void sr_metrics_set_interval(sr_metrics *m, double seconds)
{
    m->interval = seconds > 0 ? seconds : 0;
}

bool sr_metrics_due(const sr_metrics *m, double now)
{
    return m->last_write < 0 || now - m->last_write >= m->interval || now < m->last_write;
}

void sr_metrics_snapshot_fini(sr_metrics_snapshot *s)
{
    free(s->component);
    free(s->config);
    free(s->broker_node);
    json_decref(s->plugins);
    memset(s, 0, sizeof *s);
}

/* CPU seconds and resident bytes of this process; zeros where the system will not say. */
static void process_usage(double *user, double *sys, long long *rss)
{
    struct rusage ru;
    *user = *sys = 0;
    *rss = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        long long size, resident;
        long page = sysconf(_SC_PAGESIZE);
        if (fscanf(f, "%lld %lld", &size, &resident) == 2 && page > 0)
            *rss = resident * page;
        fclose(f);
    }
}

int sr_metrics_get(const sr_metrics *m, double now, sr_metrics_snapshot *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    out->component = strdup(m->component);
    out->config = strdup(m->config);
    if (out->component == NULL || out->config == NULL) {
        sr_metrics_snapshot_fini(out);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    out->schema = SR_METRICS_SCHEMA;
    out->instance = m->instance;
    out->pid = (long)getpid();
    out->time = now;
    out->time_base = m->time_base;
    memcpy(out->counters, m->counters, sizeof out->counters);
    out->lag_count = m->lag_count;
    out->lag_min = m->lag_min;
    out->lag_max = m->lag_max;
    out->lag_avg = m->lag_count ? m->lag_total / (double)m->lag_count : 0;
    out->last_rx = m->last_rx;
    out->last_tx = m->last_tx;
    out->last_transfer = m->last_transfer;
    out->retry_work = m->retry_work;
    out->retry_post = m->retry_post;
    out->broker_connected = m->broker.up;
    out->broker_connected_seconds = uptime_at(&m->broker, now);
    out->broker_nodes = m->broker_nodes;
    if (m->broker_node[0] != '\0' && (out->broker_node = strdup(m->broker_node)) == NULL) {
        sr_metrics_snapshot_fini(out);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    out->broker_queued = m->queued;
    out->transfer_sessions = m->sessions;
    out->transfer_connected_seconds = uptime_at(&m->transfer, now);
    process_usage(&out->cpu_user, &out->cpu_system, &out->rss_bytes);
    out->passive = m->passive;
    return SR_OK;
}

/* ---- the file ---- */

static json_t *to_json(const sr_metrics_snapshot *s)
{
    json_t *counters = json_object();
    for (int i = 0; counters != NULL && i < SR_METRIC_COUNT; i++)
        if (json_object_set_new(counters, names[i], json_integer((json_int_t)s->counters[i])) !=
            0) {
            json_decref(counters);
            counters = NULL;
        }
    if (counters == NULL)
        return NULL;
    /* "o" steals counters, even when json_pack fails. */
    json_t *o = json_pack(
        "{s:i, s:s, s:s, s:i, s:I, s:f, s:f, s:o,"
        " s:{s:I, s:f, s:f, s:f}, s:{s:f, s:f, s:f}, s:{s:I, s:I},"
        " s:{s:b, s:f, s:I}, s:{s:I, s:f}, s:{s:f, s:f, s:I}, s:{s:b}}",
        "schema", s->schema, "component", s->component ? s->component : "", "config",
        s->config ? s->config : "", "instance", s->instance, "pid", (json_int_t)s->pid, "time",
        s->time, "timeBase", s->time_base, "counters", counters, "lag", "count",
        (json_int_t)s->lag_count, "min", s->lag_min, "avg", s->lag_avg, "max", s->lag_max, "last",
        "rx", s->last_rx, "tx", s->last_tx, "transfer", s->last_transfer, "retry", "work",
        (json_int_t)s->retry_work, "post", (json_int_t)s->retry_post, "broker", "connected",
        s->broker_connected, "connectedSeconds", s->broker_connected_seconds, "queued",
        (json_int_t)s->broker_queued, "transfer", "sessions", (json_int_t)s->transfer_sessions,
        "connectedSeconds", s->transfer_connected_seconds, "process", "cpuUser", s->cpu_user,
        "cpuSystem", s->cpu_system, "rssBytes", (json_int_t)s->rss_bytes, "vip", "passive",
        s->passive);
    json_t *broker = json_object_get(o, "broker");
    if (broker != NULL && s->broker_node != NULL &&
        (json_object_set_new(broker, "node", json_string(s->broker_node)) != 0 ||
         json_object_set_new(broker, "nodes", json_integer(s->broker_nodes)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int history_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove all but the newest keep history files of path: <name>.<digits and ->, whose
 * names sort as their dates. */
static void prune_history(const char *path, int keep)
{
    char *dir_path = strdup(path);
    if (dir_path == NULL)
        return;
    char *slash = strrchr(dir_path, '/');
    const char *base = slash ? slash + 1 : dir_path;
    if (slash)
        *slash = '\0';
    DIR *dir = opendir(slash ? (dir_path[0] ? dir_path : "/") : ".");
    size_t base_len = strlen(base);
    char **found = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e = dir ? readdir(dir) : NULL; e; e = readdir(dir)) {
        const char *suffix = e->d_name + base_len + 1;
        if (strncmp(e->d_name, base, base_len) != 0 || e->d_name[base_len] != '.' ||
            suffix[0] == '\0' || strspn(suffix, "0123456789-") != strlen(suffix))
            continue;
        if (n == cap) {
            char **more = realloc(found, (cap = cap ? cap * 2 : 8) * sizeof *found);
            if (more == NULL)
                break;
            found = more;
        }
        if ((found[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    if (dir)
        closedir(dir);
    qsort(found, n, sizeof *found, history_name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (n - i > (size_t)keep) {
            char *full = NULL;
            if (asprintf(&full, "%s/%s", slash ? (dir_path[0] ? dir_path : "") : ".", found[i]) >=
                0)
                unlink(full);
            free(full);
        }
        free(found[i]);
    }
    free(found);
    free(dir_path);
}

/* logMetrics: text (one JSON object) as a line of the history file of the period of now. */
static int append_history(sr_metrics *m, const char *path, const char *text, double now,
                          sr_err *err)
{
    time_t t = (time_t)now;
    struct tm tm;
    char stamp[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm) == 0)
        return sr_err_set(err, SR_EINVAL, false, "metrics history: time %.0f out of range", now);
    /* the period in the name: a day (8 characters), a minute (13), a second (15) */
    int period = m->history_interval >= 86400 ? 8 : m->history_interval >= 60 ? 13 : 15;
    char *name = NULL;
    if (asprintf(&name, "%s.%.*s", path, period, stamp) < 0)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = SR_OK;
    int fd = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    char *line = NULL;
    int len = asprintf(&line, "\"%s\" : %s,\n", stamp, text);
    if (len < 0) {
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    } else if (fd < 0 || !sr_write_all(fd, line, (size_t)len)) {
        rc = sr_err_set(err, SR_EIO, true, "metrics history %s: %s", name, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    free(line);
    free(name);
    /* a new period's file: the oldest may go */
    if (rc == SR_OK && strncmp(m->history_period, stamp, (size_t)period) != 0) {
        snprintf(m->history_period, sizeof m->history_period, "%.*s", period, stamp);
        prune_history(path, m->history_keep);
    }
    return rc;
}

int sr_metrics_write(sr_metrics *m, const char *path, double now, sr_err *err)
{
    sr_metrics_snapshot s;
    int rc = sr_metrics_get(m, now, &s, err);
    if (rc != SR_OK)
        return rc;
    json_t *o = to_json(&s);
    sr_metrics_snapshot_fini(&s);
    /* plugins' figures (metrics_report): read back by sr_metrics_read, for sr status */
    if (o != NULL && m->plugins != NULL)
        json_object_set(o, "plugins", m->plugins);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    char *tmp = NULL;
    if (text == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
        free(text);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = sr_err_set(err, SR_EIO, true, "metrics %s: cannot create: %s", tmp, strerror(errno));
    } else {
        text[len] = '\n'; /* json_dumps's NUL: the file ends with a newline */
        bool ok = sr_write_all(fd, text, len + 1);
        int saved = errno;
        if (close(fd) != 0 && ok) {
            ok = false;
            saved = errno;
        }
        if (!ok) {
            unlink(tmp);
            rc =
                sr_err_set(err, SR_EIO, true, "metrics %s: cannot write: %s", tmp, strerror(saved));
        } else if (rename(tmp, path) != 0) {
            rc = sr_err_set(err, SR_EIO, true, "metrics %s: cannot rename to %s: %s", tmp, path,
                            strerror(errno));
            unlink(tmp);
        }
    }
    if (rc == SR_OK && m->history_keep > 0) {
        text[len] = '\0'; /* the history line is the object, without the newline */
        rc = append_history(m, path, text, now, err);
    }
    free(text);
    free(tmp);
    if (rc == SR_OK)
        m->last_write = now;
    return rc;
}

/* Tolerant getters: the wrong type or nothing reads as the fallback. */
static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static unsigned long long count(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? (unsigned long long)json_integer_value(v) : 0;
    if (json_is_real(v) && json_real_value(v) > 0 && json_real_value(v) < 1.8e19)
        return (unsigned long long)json_real_value(v);
    return 0;
}

static long long integer(const json_t *o, const char *key, long long fallback)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

static char *str(const json_t *o, const char *key, bool *nomem)
{
    const char *s = json_string_value(json_object_get(o, key));
    char *copy = s ? strdup(s) : NULL;
    if (s != NULL && copy == NULL)
        *nomem = true;
    return copy;
}

int sr_metrics_read(const char *path, sr_metrics_snapshot *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    out->broker_queued = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, false, "metrics %s: %s", path,
                          strerror(errno));
    json_error_t jerr;
    json_t *o = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!json_is_object(o)) {
        json_decref(o);
        return sr_err_set(err, SR_EINVAL, false, "metrics %s: not a JSON object%s%s", path,
                          o == NULL ? ": " : "", o == NULL ? jerr.text : "");
    }
    bool nomem = false;
    out->schema = (int)integer(o, "schema", 0);
    out->component = str(o, "component", &nomem);
    out->config = str(o, "config", &nomem);
    out->instance = (int)integer(o, "instance", 0);
    out->pid = (long)integer(o, "pid", 0);
    out->time = num(o, "time");
    out->time_base = num(o, "timeBase");
    const json_t *c = json_object_get(o, "counters");
    for (int i = 0; i < SR_METRIC_COUNT; i++)
        out->counters[i] = count(c, names[i]);
    const json_t *lag = json_object_get(o, "lag");
    out->lag_count = count(lag, "count");
    out->lag_min = num(lag, "min");
    out->lag_avg = num(lag, "avg");
    out->lag_max = num(lag, "max");
    const json_t *last = json_object_get(o, "last");
    out->last_rx = num(last, "rx");
    out->last_tx = num(last, "tx");
    out->last_transfer = num(last, "transfer");
    const json_t *retry = json_object_get(o, "retry");
    out->retry_work = count(retry, "work");
    out->retry_post = count(retry, "post");
    const json_t *broker = json_object_get(o, "broker");
    out->broker_connected = json_is_true(json_object_get(broker, "connected"));
    out->broker_connected_seconds = num(broker, "connectedSeconds");
    if (json_is_string(json_object_get(broker, "node")))
        out->broker_node = str(broker, "node", &nomem);
    out->broker_nodes = (unsigned)count(broker, "nodes");
    out->broker_queued = integer(broker, "queued", -1);
    const json_t *transfer = json_object_get(o, "transfer");
    out->transfer_sessions = (unsigned)count(transfer, "sessions");
    out->transfer_connected_seconds = num(transfer, "connectedSeconds");
    const json_t *proc = json_object_get(o, "process");
    out->cpu_user = num(proc, "cpuUser");
    out->cpu_system = num(proc, "cpuSystem");
    out->rss_bytes = (long long)count(proc, "rssBytes");
    out->passive = json_is_true(json_object_get(json_object_get(o, "vip"), "passive"));
    json_t *plugins = json_object_get(o, "plugins");
    if (json_is_object(plugins))
        out->plugins = json_incref(plugins);
    json_decref(o);
    if (nomem) {
        sr_metrics_snapshot_fini(out);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    return SR_OK;
}
