/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * flow: see flow.h.
 */
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "brokerconf.h"
#include "nodupe.h"
#include "placer.h"
#include "plugins.h"
#include "report.h"
#include "retryq.h"
#include "timefmt.h"
#include "topic.h"
#include "trigger.h"

#define GROUPS_MAX 9
#define IDLE_WAIT_MIN 0.1        /* seconds: the first wait of an idle flow whose sleep is <= 0 */
#define IDLE_WAIT_MAX 5.0        /* seconds: the longest wait between empty passes (sr3's) */
#define DRAIN_WAIT_S 1.0         /* seconds: the wait that finds the queue of a poll (vip) empty */
#define VIP_CHECK_S 1.0          /* seconds between looks at the host's addresses (option vip) */
#define POST_RETRY_DELAY_MIN 2.0 /* seconds before a failed post is tried again */
#define QOS_MAX 65535u           /* AMQP basic.qos prefetch-count is 16 bits */

static bool while_blocked(void *ctx);

struct sr_flow {
    const sr_config *cfg;
    const sr_paths *paths;
    int instance;
    sr_log *log;
    sr_metrics *metrics;
    sr_flow_component comp;

    /* consumer side */
    bool consumes;   /* messages come from the broker (gather is NULL) */
    bool catches_up; /* gathers, and reads its own posts for its memory (ingest) */
    bool drained;    /* catches_up: the queue was found empty since the last connect */
    sr_consumer_setup consumer;
    sr_broker *in;
    /* publisher side */
    bool publishes;
    sr_publisher_setup publisher;
    sr_broker *out;
    volatile sig_atomic_t *stop; /* sr_flow_run's: a blocked post broker's wait ends on it */

    sr_nodupe *nodupe;
    sr_retryq *work_retry;
    sr_retryq *post_retry;
    char *metrics_path;
    sr_placer *placer;
    sr_plugins *plugins; /* the config's, or NULL; hooks called only when one has them */

    /* settings read once */
    size_t batch;
    double sleep;
    double housekeeping;
    double message_age_max;
    double retry_ttl;
    long long message_count_max;
    double message_rate_max;
    bool debug_dump;  /* messageDebugDump: each message as on the wire, at INFO */
    bool dry_run;     /* no work step: nothing transferred, nothing changed on disk */
    bool inline_only; /* messages about data without inline content are rejected */
    double message_rate_min;
    const char *post_base_url;
    /* The source field, as sr3 sets it (sr_subscribe(1), Sources): `source`, else the post_broker
     * user, else the broker user; with sourceFromExchange and no `source`, the exchange's
     * xs_<source> instead. NULL: none. */
    char *source;
    bool source_from_exchange, source_from_message;
    const char *trigger; /* the trigger command, or NULL */
    sr_report *report;   /* `report` on: reports back to the sources, else NULL */
    bool reset_done;     /* `reset`: the queue is deleted at the first start only */

    /* The post window: full passes whose posts wait for the broker's confirms while the
     * next passes are gathered, worked on and posted (sr_flow_new says when and how deep).
     * Settled oldest first, so acks keep the order of the deliveries. */
    bool window;
    size_t pass_max;      /* messages a pass takes from the broker: batch, or less */
    size_t window_max;    /* messages the outstanding passes may hold, at most */
    size_t window_held;   /* messages the outstanding passes hold now */
    struct posting *outstanding, *outstanding_last; /* oldest first; NULL: none */

    /* state */
    double last_housekeeping;
    unsigned long long handled;
    unsigned long long post_failures; /* publishes that went to the post retry queue */
};

unsigned long long sr_flow_post_failures(const sr_flow *f)
{
    return f->post_failures;
}

/* Broker events go to the log, prefixed as every line of the instance. */
static void broker_event(void *ctx, enum sr_level level, const char *text)
{
    sr_flow *f = ctx;
    sr_log_write(f->log, level, "%s", text);
}

/* ---- set up ---- */

static int open_state(sr_flow *f, sr_err *err)
{
    const char *comp = sr_component_name(sr_config_component(f->cfg));
    const char *name = sr_config_name(f->cfg);
    char *dir = sr_paths_instance_dir(f->paths, comp, name);
    if (dir == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = sr_mkdir_p(dir, 0700, err);
    char path[4096];
    double now = sr_time_now_s();
    double ttl = sr_config_seconds(f->cfg, SR_OPT_nodupe_ttl);
    if (rc == SR_OK && ttl > 0 && !f->comp.remembers) {
        enum sr_nodupe_basis basis =
            (enum sr_nodupe_basis)sr_config_choice(f->cfg, SR_OPT_nodupe_basis);
        snprintf(path, sizeof path, "%s/recent_files_%03d.cache", dir, f->instance);
        sr_nodupe_load_stats st;
        rc = sr_nodupe_new(path, ttl, basis, SR_NODUPE_BUFFERED, now, &f->nodupe, &st, err);
        if (rc == SR_OK && st.malformed > 0)
            sr_log_write(f->log, SR_LOG_WARNING, "%s: %zu unreadable lines skipped", path,
                         st.malformed);
    }
    sr_retryq_load_stats rs;
    sr_retryq_options ro = {sr_config_seconds(f->cfg, SR_OPT_retryDelay), SR_RETRYQ_DELAY_MAX};
    if (ro.delay_min <= 0)
        ro.delay_min = SR_RETRYQ_DELAY_MIN;
    if (ro.delay_max < ro.delay_min)
        ro.delay_max = ro.delay_min;
    if (rc == SR_OK) {
        snprintf(path, sizeof path, "%s/retry_work_%02d.jsonl", dir, f->instance);
        rc = sr_retryq_open(path, &ro, &f->work_retry, &rs, err);
    }
    /* A post fails only while the post broker cannot be reached, and the broker layer's
     * reconnect backoff paces the attempts: a failed post is tried again after
     * POST_RETRY_DELAY_MIN seconds (doubling), not after the minute a failed transfer
     * waits, so a broker restart delays posts by seconds. */
    sr_retryq_options po = {
        POST_RETRY_DELAY_MIN < ro.delay_min ? POST_RETRY_DELAY_MIN : ro.delay_min, ro.delay_max};
    if (rc == SR_OK) {
        snprintf(path, sizeof path, "%s/retry_post_%02d.jsonl", dir, f->instance);
        rc = sr_retryq_open(path, &po, &f->post_retry, &rs, err);
    }
    free(dir);
    if (rc == SR_OK) {
        f->metrics_path = sr_paths_metrics_file(f->paths, comp, name, f->instance);
        if (f->metrics_path == NULL)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
        else
            rc = sr_mkdir_p(f->paths->metrics_dir, 0700, err);
    }
    return rc;
}

/* The post window (man sr(1), Brokers): how many messages the passes whose posts await
 * the broker's confirms may hold while the flow goes on, and what a pass takes. Before
 * the consumer's broker is made: a shovel's basic.qos grows by the window.
 *  - No window with a duplicate cache (nor a component's memory): the next pass's entries
 *    would reach the cache's file with this pass's (settle), before their own posts are
 *    confirmed. Nor for an MQTT consumer, whose PUBACKs leave only when every message
 *    received is acked (broker_mqtt.c): its passes are settled in turn.
 *  - post, watch: postWindow messages, passes of batch.
 *  - A consumer with no work step (shovel): the messages awaiting confirms hold no work
 *    back, and sr3, which acks before it posts, would not count them either; so the
 *    broker may send prefetch + postWindow unacked (prefetch keeps its meaning: what an
 *    instance takes ahead of the work it does), passes take at most prefetch.
 *  - A consumer that downloads or sends: its work is what prefetch shares out between
 *    instances, so the broker sends prefetch and no more; a pass takes at most half of it
 *    and the rest is the window (sr3's batch = prefetch = 25: passes of 12 overlap where
 *    passes of 25 would stop in turn). */
static void size_window(sr_flow *f)
{
    size_t post_window = (size_t)sr_config_count(f->cfg, SR_OPT_postWindow);
    f->pass_max = f->batch;
    f->window = f->publishes && f->nodupe == NULL && !f->comp.remembers &&
                !(f->consumes && f->consumer.mqtt);
    if (!f->window)
        return;
    if (!f->consumes) {
        f->window_max = post_window;
    } else if (f->comp.work == NULL) {
        unsigned prefetch = f->consumer.broker.prefetch ? f->consumer.broker.prefetch : 1;
        if (post_window > QOS_MAX - prefetch)
            post_window = QOS_MAX - prefetch;
        f->consumer.broker.prefetch = prefetch + (unsigned)post_window;
        if (f->pass_max > prefetch)
            f->pass_max = prefetch;
        f->window_max = post_window;
    } else {
        unsigned prefetch = f->consumer.broker.prefetch;
        if (f->pass_max > prefetch / 2)
            f->pass_max = prefetch / 2;
        f->window_max = prefetch - f->pass_max;
    }
    f->window = f->window_max > 0 && f->pass_max > 0;
    if (!f->window)
        f->pass_max = f->batch;
}

int sr_flow_new(const sr_flow_services *svc, const sr_flow_component *component, sr_flow **out,
                sr_err *err)
{
    *out = NULL;
    sr_flow *f = calloc(1, sizeof *f);
    if (f == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    const sr_config *cfg = svc->cfg;
    f->cfg = cfg;
    f->paths = svc->paths;
    f->instance = svc->instance;
    f->log = svc->log;
    f->metrics = svc->metrics;
    f->comp = *component;
    f->batch = (size_t)sr_config_count(cfg, SR_OPT_batch);
    if (f->batch == 0)
        f->batch = 1;
    f->sleep = sr_config_seconds(cfg, SR_OPT_sleep);
    f->housekeeping = sr_config_seconds(cfg, SR_OPT_housekeeping);
    f->message_age_max = sr_config_seconds(cfg, SR_OPT_messageAgeMax);
    /* retry_ttl 0: as long as the queue itself lives (expire), not forever as sr3 */
    f->retry_ttl = sr_config_seconds(cfg, SR_OPT_retry_ttl);
    if (f->retry_ttl <= 0)
        f->retry_ttl = sr_config_seconds(cfg, SR_OPT_expire);
    f->message_count_max = sr_config_count(cfg, SR_OPT_messageCountMax);
    f->message_rate_max = sr_config_number(cfg, SR_OPT_messageRateMax);
    f->debug_dump = sr_config_flag(cfg, SR_OPT_messageDebugDump);
    f->trigger = sr_config_str(cfg, SR_OPT_trigger);
    f->post_base_url = sr_config_str(cfg, SR_OPT_post_baseUrl);
    f->dry_run = sr_config_flag(cfg, SR_OPT_dry_run);
    f->inline_only = sr_config_flag(cfg, SR_OPT_inlineOnly);
    f->message_rate_min = sr_config_number(cfg, SR_OPT_messageRateMin);
    f->source_from_exchange = sr_config_flag(cfg, SR_OPT_sourceFromExchange);
    f->source_from_message = sr_config_flag(cfg, SR_OPT_sourceFromMessage);
    const char *source = sr_config_str(cfg, SR_OPT_source);
    if (source != NULL)
        f->source = strdup(source);
    else if (!f->source_from_exchange && sr_config_str(cfg, SR_OPT_post_broker) != NULL)
        f->source = sr_url_user(sr_config_str(cfg, SR_OPT_post_broker));
    else if (!f->source_from_exchange && sr_config_str(cfg, SR_OPT_broker) != NULL)
        f->source = sr_url_user(sr_config_str(cfg, SR_OPT_broker));
    f->last_housekeeping = sr_time_now_s();
    f->placer = sr_placer_new(cfg, svc->plugins);
    f->plugins = svc->plugins;

    int rc = f->placer ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = open_state(f, err);
    f->consumes = component->gather == NULL;
    f->catches_up = component->gather != NULL && component->ingest != NULL &&
                    sr_config_str(cfg, SR_OPT_broker) != NULL;
    bool consumer_set = false;
    if (rc == SR_OK && (f->consumes || f->catches_up)) {
        rc = sr_brokerconf_consumer(cfg, svc->paths, svc->instance, svc->creds, &f->consumer, err);
        consumer_set = rc == SR_OK;
    }
    if (rc == SR_OK) {
        int prc = sr_brokerconf_publisher(cfg, svc->creds, &f->publisher, err);
        if (prc == SR_OK) {
            f->publishes = true;
            f->publisher.broker.notify = broker_event;
            f->publisher.broker.notify_ctx = f;
            f->publisher.broker.while_blocked = while_blocked;
            f->publisher.broker.mem_hub = component->mem_hub;
            /* topicCopy keeps a received topic only between brokers of one protocol */
            f->publisher.topic_copy = f->publisher.topic_copy &&
                                      (!consumer_set || f->consumer.mqtt == f->publisher.mqtt);
            f->out = sr_broker_new(&f->publisher.broker, err);
            if (f->out == NULL)
                rc = err ? err->code : SR_EINVAL;
        } else if (prc != SR_ENOENT) {
            rc = prc;
        }
    }
    if (rc == SR_OK)
        size_window(f);
    if (rc == SR_OK && consumer_set) {
        f->consumer.broker.notify = broker_event;
        f->consumer.broker.notify_ctx = f;
        f->consumer.broker.while_blocked = while_blocked; /* the reports' broker publishes */
        f->consumer.broker.mem_hub = component->mem_hub;
        f->in = sr_broker_new(&f->consumer.broker, err);
        if (f->in == NULL)
            rc = err ? err->code : SR_EINVAL;
        if (rc == SR_OK && f->consumes)
            rc = sr_report_new(cfg, &f->consumer.broker, &f->report, err);
        if (rc == SR_OK && f->report != NULL)
            sr_log_write(f->log, SR_LOG_INFO, "reports go to exchange %s",
                         sr_report_exchange(f->report));
    }
    if (rc != SR_OK) {
        sr_flow_free(f);
        return rc;
    }
    *out = f;
    return SR_OK;
}

void sr_flow_free(sr_flow *f)
{
    if (f == NULL)
        return;
    sr_err err;
    if (f->nodupe != NULL && sr_nodupe_save(f->nodupe, sr_time_now_s(), NULL, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_ERROR, "%s", err.msg);
    sr_nodupe_free(f->nodupe);
    sr_retryq_close(f->work_retry);
    sr_retryq_close(f->post_retry);
    if (f->metrics != NULL && f->metrics_path != NULL) {
        sr_plugins_metrics(f->plugins);
        sr_metrics_write(f->metrics, f->metrics_path, sr_time_now_s(), NULL);
    }
    free(f->metrics_path);
    sr_report_free(f->report); /* before the consumer setup its broker options point into */
    sr_broker_close(f->in);
    sr_broker_close(f->out);
    if (f->consumes || f->catches_up)
        sr_consumer_setup_fini(&f->consumer);
    if (f->publishes)
        sr_publisher_setup_fini(&f->publisher);
    sr_placer_free(f->placer);
    free(f->source);
    free(f);
}

enum sr_work_result sr_work_result_of(int rc, const sr_err *err)
{
    if (rc == SR_OK)
        return SR_WORK_OK;
    if (rc == SR_EREFUSED)
        return SR_WORK_REFUSE;
    return err->retryable ? SR_WORK_RETRY : SR_WORK_DROP;
}

/* ---- one pass ---- */

typedef struct pass {
    sr_work *items;
    size_t count, cap;
} pass;

/* Room for n more items, so that adding them cannot fail. */
static bool pass_reserve(pass *p, size_t n)
{
    if (p->count + n <= p->cap)
        return true;
    size_t cap = p->cap ? p->cap : 32;
    while (cap < p->count + n)
        cap *= 2;
    sr_work *grown = realloc(p->items, cap * sizeof *grown);
    if (grown == NULL)
        return false;
    p->items = grown;
    p->cap = cap;
    return true;
}

/* Only after pass_reserve. */
static sr_work *pass_add(pass *p, sr_message *m, sr_delivery *d)
{
    sr_work *w = &p->items[p->count++];
    memset(w, 0, sizeof *w);
    w->msg = m;
    w->delivery = d;
    w->disposition = m != NULL ? SR_DISP_GOING : SR_DISP_DONE;
    return w;
}

static void work_fini(sr_work *w)
{
    if (w->placed)
        sr_placement_fini(&w->placement);
    sr_message_free(w->msg);
    sr_delivery_free(w->delivery);
    free(w->why);
    free(w->report_text);
    memset(w, 0, sizeof *w);
}

static void pass_fini(pass *p)
{
    for (size_t i = 0; i < p->count; i++)
        work_fini(&p->items[i]);
    free(p->items);
    *p = (pass){0};
}

/* Decide what becomes of w (see enum sr_disposition); why (may be NULL) goes with it to a
 * retry queue. */
static void dispose(sr_work *w, enum sr_disposition d, const char *why)
{
    w->disposition = d;
    free(w->why);
    w->why = why ? strdup(why) : NULL; /* NULL when out of memory: the entry has no error */
}

/* messageDebugDump: a message as it crosses the wire, its body and headers (v02 keeps its
 * fields there), one line each, escaped by the log as any text from outside. */
static void dump_wire(sr_flow *f, const char *direction, const char *exchange, const char *topic,
                      const char *body, size_t body_len, const sr_header *headers,
                      size_t header_count)
{
    sr_log_write(f->log, SR_LOG_INFO,
                 "raw message %s: exchange: %s topic: %s body (%zu bytes): %.*s", direction,
                 exchange ? exchange : "-", topic ? topic : "-", body_len,
                 body_len > INT_MAX ? INT_MAX : (int)body_len, body ? body : "");
    for (size_t i = 0; i < header_count; i++)
        sr_log_write(f->log, SR_LOG_INFO, "raw message %s: header %s: %s", direction,
                     headers[i].name, headers[i].value);
}

/* What a report on w will say (report on): the last outcome set is the one sent. */
static void report_as(sr_work *w, int code, const char *text)
{
    w->report_code = code;
    free(w->report_text);
    w->report_text = text ? strdup(text) : NULL;
}

/* The source field of a message from the broker, set as sr3 sets it on receipt (sr_subscribe(1),
 * Sources): kept when sourceFromMessage says so and it has one; else the flow's source
 * (`source`, the post_broker user, the broker user), or with sourceFromExchange the
 * <source> of an exchange named xs_<source> or xs_<source>_<more>; else none. */
static int derive_source(const sr_flow *f, sr_message *m, const char *exchange, sr_err *err)
{
    if (f->source_from_message && sr_message_str(m, "source") != NULL)
        return SR_OK;
    char *from_exchange = NULL;
    const char *source = f->source;
    if (source == NULL && f->source_from_exchange && exchange != NULL &&
        strncmp(exchange, "xs_", 3) == 0 && exchange[3] != '\0' && exchange[3] != '_') {
        from_exchange = strndup(exchange + 3, strcspn(exchange + 3, "_"));
        if (from_exchange == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        source = from_exchange;
    }
    int rc = SR_OK;
    if (source != NULL)
        rc = sr_message_set_str(m, "source", source, err);
    else
        sr_message_remove(m, "source");
    free(from_exchange);
    return rc;
}

/* From the broker: decode each delivery; one that does not decode is logged with its
 * reason and finished (acked at the end of the pass, never requeued for ever). */
static int gather_broker(sr_flow *f, pass *p, double wait, sr_err *err)
{
    sr_delivery **got = NULL;
    size_t n = 0;
    int rc = sr_broker_consume(f->in, f->pass_max, wait, &got, &n, err);
    if (n > 0 && !pass_reserve(p, n)) {
        for (size_t i = 0; i < n; i++)
            sr_delivery_free(got[i]); /* not acked: they come back */
        free(got);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory: %zu messages left to the broker", n);
    }
    double now = sr_time_now_s();
    for (size_t i = 0; i < n; i++) {
        sr_message *m = NULL;
        sr_err bad;
        sr_metrics_add(f->metrics, SR_METRIC_RX_BYTES, got[i]->wire.body_len, now);
        if (f->debug_dump)
            dump_wire(f, "received", got[i]->exchange, got[i]->wire.topic, got[i]->wire.body,
                      got[i]->wire.body_len, got[i]->wire.headers, got[i]->wire.header_count);
        int drc = sr_message_decode(&got[i]->wire, &m, &bad);
        if (drc == SR_OK && (drc = derive_source(f, m, got[i]->exchange, &bad)) == SR_OK &&
            f->publishes)
            drc = sr_publisher_keep_subtopic(&f->publisher, m, &bad);
        if (drc != SR_OK) {
            sr_message_free(m);
            m = NULL;
        }
        if (drc != SR_OK) {
            sr_metrics_add(f->metrics, SR_METRIC_RX_BAD, 1, now);
            const char *topic = got[i]->wire.topic;
            sr_log_write(f->log, SR_LOG_WARNING, "malformed message on topic %s dropped: %s",
                         topic == NULL ? "?" : topic[0] == '\0' ? "\"\" (empty)" : topic,
                         bad.msg);
            m = NULL;
        } else {
            sr_metrics_add(f->metrics, SR_METRIC_RX_GOOD, 1, now);
        }
        pass_add(p, m, got[i]);
    }
    free(got);
    return rc;
}

static int gather_local(sr_flow *f, pass *p, bool *exhausted, sr_err *err)
{
    sr_message **msgs = NULL;
    size_t n = 0;
    int rc = f->comp.gather(f->comp.ctx, &msgs, &n, f->batch, exhausted, err);
    double now = sr_time_now_s();
    if (n > 0 && !pass_reserve(p, n)) {
        for (size_t i = 0; i < n; i++)
            sr_message_free(msgs[i]);
        n = 0;
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        sr_metrics_add(f->metrics, SR_METRIC_RX_GOOD, 1, now);
        pass_add(p, msgs[i], NULL);
    }
    free(msgs);
    return rc;
}

/* A flow that catches up: what it read from the broker only updates the component's
 * memory (ingest), and is finished (acked when the pass is settled). */
static void ingest(sr_flow *f, pass *p)
{
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        sr_err err;
        if (w->msg != NULL && f->comp.ingest(f->comp.ctx, w->msg, &err) != SR_OK)
            sr_log_write(f->log, SR_LOG_ERROR, "%s: %s", sr_message_rel_path(w->msg), err.msg);
        dispose(w, SR_DISP_DONE, NULL);
    }
}

/* Retried messages, when the pass has room: up to batch/2 - what came in. */
static void gather_retries(sr_flow *f, pass *p)
{
    size_t half = f->batch / 2 ? f->batch / 2 : 1;
    if (p->count >= half)
        return;
    size_t want = half - p->count;
    if (!pass_reserve(p, want))
        return;
    sr_retryq_item *items = calloc(want, sizeof *items);
    size_t taken = 0;
    sr_err err;
    if (items != NULL && sr_retryq_take(f->work_retry, want, sr_time_now_s(), items, &taken, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_ERROR, "retry queue: %s", err.msg);
    for (size_t i = 0; i < taken; i++) {
        sr_work *w = pass_add(p, items[i].msg, NULL);
        w->from_retry = true;
        w->retry_id = items[i].id;
    }
    free(items);
}

/* A message filtered out: counted, logged when logEvents has reject (logReject) or, for a
 * duplicate, nodupe (logDuplicates); always when loud. Finished (acked at the end of the
 * pass), never retried. */
static void reject_event(sr_flow *f, sr_work *w, int code, const char *why, bool loud,
                         enum sr_log_event event)
{
    report_as(w, code, why);
    sr_metrics_add(f->metrics, SR_METRIC_REJECTED, 1, sr_time_now_s());
    if (loud)
        sr_log_write(f->log, SR_LOG_WARNING, "rejected %s: %s", sr_message_rel_path(w->msg), why);
    else if (sr_log_event_on(f->log, event))
        sr_log_event(f->log, event, "rejected %s: %s", sr_message_rel_path(w->msg), why);
    dispose(w, SR_DISP_DONE, NULL);
}

static void reject_as(sr_flow *f, sr_work *w, int code, const char *why, bool loud)
{
    reject_event(f, w, code, why, loud, SR_EVENT_REJECT);
}

static void reject(sr_flow *f, sr_work *w, int code, const char *why)
{
    reject_as(f, w, code, why, false);
}

/* What a message asked that sr refuses for safety (sr-security(7)): one line, always,
 * with the reason; counted as rejected; finished. */
static void refuse(sr_flow *f, sr_work *w, const char *why)
{
    report_as(w, SR_REPORT_REFUSED, why);
    sr_metrics_add(f->metrics, SR_METRIC_REJECTED, 1, sr_time_now_s());
    sr_log_write(f->log, SR_LOG_WARNING, "refused %s: %s", sr_message_rel_path(w->msg), why);
    dispose(w, SR_DISP_DONE, NULL);
}

static int place(sr_flow *f, sr_work *w, char **groups, int group_count, sr_err *err)
{
    int rc = sr_placer_place(f->placer, w->msg, w->mask, (const char *const *)groups, group_count,
                             &w->placement, err);
    w->placed = rc == SR_OK;
    return rc;
}

/* messageAgeMax, accept/reject, nodupe, placement. */
static void filter(sr_flow *f, pass *p)
{
    struct timespec now;
    sr_time_now(&now);
    bool refilter = sr_config_flag(f->cfg, SR_OPT_retry_refilter);
    /* Entries older than nodupe_ttl go now, not at the next housekeeping: the cache then
     * holds one nodupe_ttl of messages, not up to one more housekeeping interval's (the
     * winnow's memory in the soak went up and down by 40 MiB every 5 minutes). The oldest
     * entry is checked first, so a pass with nothing to drop costs one comparison. */
    if (f->nodupe != NULL)
        sr_nodupe_expire(f->nodupe, (double)now.tv_sec + now.tv_nsec / 1e9);
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if (w->disposition != SR_DISP_GOING)
            continue;
        double lag = sr_message_lag(w->msg, &now);
        sr_metrics_lag(f->metrics, lag);
        if (f->message_age_max > 0 && lag > f->message_age_max && !w->from_retry) {
            char why[96];
            snprintf(why, sizeof why, "%.0f s old, messageAgeMax is %.0f s", lag,
                     f->message_age_max);
            reject(f, w, SR_REPORT_TOO_OLD, why);
            continue;
        }
        /* inlineOnly: what announces data must carry it (a fileOp has none to carry) */
        sr_fileop op;
        sr_content content;
        if (f->inline_only && !sr_message_content(w->msg, &content) &&
            !sr_message_fileop(w->msg, &op)) {
            reject(f, w, SR_REPORT_NOT_ACCEPTABLE, "content not inline (inlineOnly)");
            continue;
        }
        char *groups[GROUPS_MAX] = {0};
        int group_count = 0;
        if (!w->from_retry || refilter) {
            char *url = sr_message_url(w->msg);
            bool accepted = false;
            w->mask =
                url ? sr_config_match(f->cfg, url, &accepted, groups, GROUPS_MAX, &group_count)
                    : NULL;
            free(url);
            if (!accepted) {
                for (int g = 0; g < group_count; g++)
                    free(groups[g]);
                reject(f, w, SR_REPORT_NO_MATCH,
                       w->mask ? "matched a reject line" : "matched no accept line");
                continue;
            }
        }
        bool duplicate = false;
        sr_err err;
        sr_nodupe_hint hint = {.retry = w->from_retry};
        if (f->nodupe != NULL &&
            sr_nodupe_check(f->nodupe, w->msg, &hint, sr_time_now_s(), &duplicate, &err) != SR_OK)
            sr_log_write(f->log, SR_LOG_ERROR, "duplicate cache: %s", err.msg);
        if (duplicate) {
            for (int g = 0; g < group_count; g++)
                free(groups[g]);
            /* sr3 logs duplicates with either logReject or logDuplicates */
            reject_event(f, w, SR_REPORT_NOT_MODIFIED, "duplicate (nodupe_ttl)", false,
                         sr_log_event_on(f->log, SR_EVENT_NODUPE) ? SR_EVENT_NODUPE
                                                                  : SR_EVENT_REJECT);
            continue;
        }
        int rc = SR_OK;
        if (f->comp.places_files)
            rc = place(f, w, groups, group_count, &err);
        for (int g = 0; g < group_count; g++)
            free(groups[g]);
        if (rc == SR_EREFUSED) {
            refuse(f, w, err.msg);
            continue;
        }
        if (rc != SR_OK) {
            char why[SR_ERR_MSG_MAX + 32];
            snprintf(why, sizeof why, "no place for it: %s", err.msg);
            reject_as(f, w, SR_REPORT_NO_PLACE, why, true);
            continue;
        }
        sr_metrics_add(f->metrics, SR_METRIC_ACCEPTED, 1, sr_time_now_s());
        sr_log_event(f->log, SR_EVENT_AFTER_ACCEPT, "accepted: (lag: %.2f) baseUrl: %s relPath: %s",
                     lag, sr_message_base_url(w->msg), sr_message_rel_path(w->msg));
    }
}

/* The trigger option: an external command after each file; its failure is logged and,
 * with triggerFailure retry, sends the message to the retry queue. */
static enum sr_work_result run_trigger(sr_flow *f, sr_work *w, sr_err *err)
{
    char *local = NULL;
    if (w->placed) {
        local = strdup(w->placement.path);
    } else {
        const char *pbd = sr_config_str(f->cfg, SR_OPT_post_baseDir);
        if (asprintf(&local, "%s/%s", pbd ? pbd : "", sr_message_rel_path(w->msg)) < 0)
            local = NULL;
    }
    sr_trigger_context ctx = {sr_component_name(sr_config_component(f->cfg)),
                              sr_config_name(f->cfg), local, f->log};
    sr_err why;
    int rc = sr_trigger_run(f->trigger, w->msg, &ctx, sr_config_seconds(f->cfg, SR_OPT_triggerTimeout),
                            &why);
    free(local);
    if (rc == SR_OK)
        return SR_WORK_OK;
    if (sr_config_choice(f->cfg, SR_OPT_triggerFailure) == SR_TRIGGER_FAILURE_RETRY) {
        *err = why;
        return SR_WORK_RETRY;
    }
    sr_log_write(f->log, SR_LOG_ERROR, "%s: %s", sr_message_rel_path(w->msg), why.msg);
    return SR_WORK_OK;
}

/* The component's work on each message still going, and what becomes of it. */
static void pass_work(sr_flow *f, pass *p)
{
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if (w->disposition != SR_DISP_GOING)
            continue;
        enum sr_work_result r = SR_WORK_OK;
        sr_err err = {0};
        /* what sr3's reports say, by component */
        enum sr_component c = sr_config_component(f->cfg);
        const char *done = f->comp.work == NULL                     ? "passed on"
                           : c == SR_C_SENDER                       ? "file sent"
                           : c == SR_C_SUBSCRIBE || c == SR_C_SARRA ? "Download successful"
                                                                    : "done";
        if (f->dry_run && f->comp.work != NULL) {
            /* sr3's dry_run: the message goes on as if its transfer had been done */
            sr_log_write(f->log, SR_LOG_INFO, "dry_run: %s not transferred",
                         sr_message_rel_path(w->msg));
            done = "dry_run: not transferred";
        } else {
            if (f->comp.work != NULL)
                r = f->comp.work(f->comp.ctx, w, &err);
            if (r == SR_WORK_OK && f->trigger != NULL)
                r = run_trigger(f, w, &err);
        }
        w->worked = r == SR_WORK_OK || r == SR_WORK_RETRY;
        switch (r) {
        case SR_WORK_OK:
            report_as(w, SR_REPORT_DONE, done);
            dispose(w, f->publishes ? SR_DISP_POST : SR_DISP_DONE, NULL);
            break;
        case SR_WORK_SKIP:
            report_as(w, SR_REPORT_NOT_MODIFIED, "not modified: nothing to do");
            dispose(w, SR_DISP_DONE, NULL);
            break;
        case SR_WORK_RETRY:
            sr_log_write(f->log, SR_LOG_WARNING, "%s: %s; will retry", sr_message_rel_path(w->msg),
                         err.msg);
            report_as(w, SR_REPORT_FAILED, err.msg);
            dispose(w, SR_DISP_RETRY, err.msg);
            break;
        case SR_WORK_DROP:
            sr_log_write(f->log, SR_LOG_ERROR, "%s: %s; not retried", sr_message_rel_path(w->msg),
                         err.msg);
            report_as(w, SR_REPORT_FAILED, err.msg);
            dispose(w, SR_DISP_DONE, NULL);
            break;
        case SR_WORK_REFUSE:
            refuse(f, w, err.msg);
            break;
        }
    }
}

/* ---- plugins (plugins.h): only called when a plugin has the hook ---- */

/* The items of p a hook is shown: those still going (after_accept) or whose work ran
 * this pass (after_work). NULL (and *n 0) when none, or out of memory (logged: the
 * plugins then do not see this pass, which goes on as without them). */
static sr_plugin_item *plugin_items(sr_flow *f, pass *p, bool worked, size_t *n)
{
    *n = 0;
    size_t want = 0;
    for (size_t i = 0; i < p->count; i++)
        want += worked ? p->items[i].worked : p->items[i].disposition == SR_DISP_GOING;
    if (want == 0)
        return NULL;
    sr_plugin_item *items = calloc(want, sizeof *items);
    if (items == NULL) {
        sr_log_write(f->log, SR_LOG_ERROR, "out of memory: plugins skipped for %zu messages", want);
        return NULL;
    }
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if (worked ? !w->worked : w->disposition != SR_DISP_GOING)
            continue;
        items[*n].w = w;
        items[*n].outcome = w->disposition == SR_DISP_RETRY ? SR_PLUGIN_FAILED : SR_PLUGIN_DONE;
        (*n)++;
    }
    return items;
}

/* What the plugins decided, acted on: a rejection is one as the filter's are (counted,
 * logged with the reason, acked, never worked on or posted); a retry goes to the work
 * retry queue (acked once queued). */
static void plugin_verdicts(sr_flow *f, sr_plugin_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sr_work *w = items[i].w;
        const char *why = items[i].why ? items[i].why : "plugin";
        if (items[i].verdict == SR_PLUGIN_REJECT) {
            reject(f, w, SR_REPORT_NO_MATCH, why);
        } else if (items[i].verdict == SR_PLUGIN_RETRY) {
            sr_log_write(f->log, SR_LOG_WARNING, "%s: %s; will retry", sr_message_rel_path(w->msg),
                         why);
            report_as(w, SR_REPORT_FAILED, why);
            dispose(w, SR_DISP_RETRY, why);
        }
    }
}

static void plugins_after(sr_flow *f, pass *p, unsigned hook)
{
    if (!sr_plugins_have(f->plugins, hook))
        return;
    size_t n = 0;
    sr_plugin_item *items = plugin_items(f, p, hook == SR_PLUGIN_HOOK_AFTER_WORK, &n);
    if (items == NULL)
        return;
    if (hook == SR_PLUGIN_HOOK_AFTER_ACCEPT)
        sr_plugins_after_accept(f->plugins, items, n);
    else
        sr_plugins_after_work(f->plugins, items, n);
    plugin_verdicts(f, items, n);
    sr_plugin_items_fini(items, n);
    free(items);
}

/* gather: new messages from the plugins, up to what the pass has room for; they come
 * from no broker, so nothing is acked for them. */
static void gather_plugins(sr_flow *f, pass *p)
{
    if (!sr_plugins_have(f->plugins, SR_PLUGIN_HOOK_GATHER) || p->count >= f->batch)
        return;
    sr_message **msgs = NULL;
    size_t n = 0;
    sr_err err;
    if (sr_plugins_gather(f->plugins, f->batch - p->count, &msgs, &n, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING, "gather: %s", err.msg);
    if (n > 0 && !pass_reserve(p, n)) {
        sr_log_write(f->log, SR_LOG_ERROR, "out of memory: %zu gathered messages dropped", n);
        for (size_t i = 0; i < n; i++)
            sr_message_free(msgs[i]);
        n = 0;
    }
    double now = sr_time_now_s();
    for (size_t i = 0; i < n; i++) {
        sr_metrics_add(f->metrics, SR_METRIC_RX_GOOD, 1, now);
        pass_add(p, msgs[i], NULL);
    }
    free(msgs);
}

/* The message as it is posted: where it now is (placement), the source, no fields that
 * only meant something upstream. */
static int rewrite_for_post(sr_flow *f, sr_work *w, sr_err *err)
{
    int rc = SR_OK;
    if (w->placed) {
        if (w->placement.base_url)
            rc = sr_message_set_str(w->msg, "baseUrl", w->placement.base_url, err);
        if (rc == SR_OK)
            rc = sr_message_set_str(w->msg, "relPath", w->placement.rel_path, err);
        sr_message_remove(w->msg, "retrievePath");
        sr_message_remove(w->msg, "rename");
    } else if (f->post_base_url != NULL && f->comp.gather == NULL) {
        rc = sr_message_set_str(w->msg, "baseUrl", f->post_base_url, err);
    }
    /* what post and watch announce is theirs: `source`, else the post_broker user (sr3);
     * a consumer set the source of what it received when it received it */
    if (rc == SR_OK && f->comp.gather != NULL && f->source != NULL)
        rc = sr_message_set_str(w->msg, "source", f->source, err);
    return rc;
}

/* A pass after its work: its messages being posted. Settled (settle) once the broker has
 * taken or refused each post. */
typedef struct posting {
    struct posting *next; /* the next younger outstanding pass */
    pass p;
    size_t count; /* messages published */
    sr_publishing *publishing;
    sr_outgoing *out;
    sr_encoded *enc;
    char **exchanges, **topics;
    sr_work **which;
    int *status;
} posting;

static void posting_free(posting *po)
{
    for (size_t i = 0; i < po->count; i++) {
        sr_encoded_fini(&po->enc[i]);
        free(po->exchanges[i]);
        free(po->topics[i]);
    }
    pass_fini(&po->p);
    free(po->out);
    free(po->enc);
    free(po->exchanges);
    free(po->topics);
    free(po->which);
    free(po->status);
    free(po);
}

/* Encode and send what the pass posts, without waiting for the broker. Takes the pass
 * (*p is emptied). NULL only when out of memory: the pass is then left to the caller.
 * A message that cannot be posted here (out of memory) stays POST: settle queues it for
 * a later post. */
static posting *post_begin(sr_flow *f, pass *p)
{
    posting *po = calloc(1, sizeof *po);
    if (po == NULL)
        return NULL;
    po->p = *p;
    *p = (pass){0};
    p = &po->p;
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++)
        n += p->items[i].disposition == SR_DISP_POST;
    if (n == 0)
        return po;
    po->out = calloc(n, sizeof *po->out);
    po->enc = calloc(n, sizeof *po->enc);
    po->exchanges = calloc(n, sizeof *po->exchanges);
    po->topics = calloc(n, sizeof *po->topics);
    po->which = calloc(n, sizeof *po->which);
    po->status = calloc(n, sizeof *po->status);
    if (!po->out || !po->enc || !po->exchanges || !po->topics || !po->which || !po->status) {
        sr_log_write(f->log, SR_LOG_ERROR, "out of memory: %zu messages to the post retry queue", n);
        n = 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < p->count && k < n; i++) {
        sr_work *w = &p->items[i];
        if (w->disposition != SR_DISP_POST)
            continue;
        sr_err err;
        bool cut = false;
        int rc = rewrite_for_post(f, w, &err);
        if (rc == SR_OK)
            rc = sr_publisher_route(&f->publisher, w->msg, &po->exchanges[k], &po->topics[k], &cut,
                                    &err);
        if (rc == SR_OK)
            rc = sr_publisher_fill_wis(&f->publisher, w->msg, po->topics[k], &err);
        if (rc == SR_OK)
            rc = sr_message_encode(w->msg, f->publisher.format, &po->enc[k], &err);
        if (rc == SR_OK && cut)
            sr_log_write(f->log, SR_LOG_ERROR, "%s: topic cut at 255 bytes (AMQP's limit)",
                         sr_message_rel_path(w->msg));
        if (rc != SR_OK) {
            free(po->exchanges[k]);
            free(po->topics[k]);
            po->exchanges[k] = po->topics[k] = NULL;
            /* what a post may not be (a topic outside the WIS2 hierarchy): refused, named */
            if (rc == SR_EREFUSED) {
                refuse(f, w, err.msg);
                continue;
            }
            sr_log_write(f->log, SR_LOG_ERROR, "cannot post %s: %s", sr_message_rel_path(w->msg),
                         err.msg);
            /* out of memory: tried again later; anything else will never post */
            dispose(w, rc == SR_ENOMEM ? SR_DISP_POST_RETRY : SR_DISP_DONE, err.msg);
            continue;
        }
        if (f->debug_dump)
            dump_wire(f, "posted", po->exchanges[k], po->topics[k], po->enc[k].body,
                      po->enc[k].body_len, po->enc[k].headers, po->enc[k].header_count);
        po->out[k] = (sr_outgoing){po->exchanges[k], po->topics[k], &po->enc[k]};
        po->which[k] = w;
        k++;
    }
    po->count = k;
    sr_err err;
    if (k > 0 &&
        sr_broker_publish_begin(f->out, po->out, k, po->status, &po->publishing, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING, "posting: %s", err.msg);
    return po;
}

/* Put each item of p that asks for it in its retry queue and sync the queues: an item
 * that could not be queued safely is held instead. */
static void queue_retries(sr_flow *f, pass *p)
{
    double now = sr_time_now_s();
    bool work_added = false, post_added = false;
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        sr_err qerr;
        int rc = SR_OK;
        if (w->disposition == SR_DISP_POST) /* never published (out of memory) */
            dispose(w, SR_DISP_POST_RETRY, "not posted");
        if (w->disposition == SR_DISP_RETRY) {
            rc = w->from_retry ? sr_retryq_again(f->work_retry, w->retry_id, now, w->why, &qerr)
                               : sr_retryq_add(f->work_retry, w->msg, now, w->why, &qerr);
            work_added = true;
        } else if (w->disposition == SR_DISP_POST_RETRY) {
            f->post_failures++;
            rc = sr_retryq_add(f->post_retry, w->msg, now, w->why, &qerr);
            post_added = true;
        }
        if (rc != SR_OK) {
            sr_log_write(f->log, SR_LOG_ERROR, "%s retry queue: %s",
                         w->disposition == SR_DISP_RETRY ? "work" : "post", qerr.msg);
            dispose(w, SR_DISP_HOLD, NULL);
        }
    }
    sr_err err;
    bool work_safe = !work_added || sr_retryq_sync(f->work_retry, &err) == SR_OK;
    if (!work_safe)
        sr_log_write(f->log, SR_LOG_ERROR, "work retry queue: %s", err.msg);
    bool post_safe = !post_added || sr_retryq_sync(f->post_retry, &err) == SR_OK;
    if (!post_safe)
        sr_log_write(f->log, SR_LOG_ERROR, "post retry queue: %s", err.msg);
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if ((w->disposition == SR_DISP_RETRY && !work_safe) ||
            (w->disposition == SR_DISP_POST_RETRY && !post_safe))
            dispose(w, SR_DISP_HOLD, NULL);
    }
}

/* `report`: one report per message of the pass that is finished or queued for a retry
 * (a held one comes back and is reported then). Telemetry: a report that fails is
 * logged and dropped and never holds an ack. */
static void send_reports(sr_flow *f, pass *p)
{
    if (f->report == NULL)
        return;
    sr_err err;
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if (w->msg == NULL || w->report_code == 0 || w->disposition == SR_DISP_HOLD)
            continue;
        if (sr_report_add(f->report, w->msg, w->report_code, w->report_text, &err) != SR_OK)
            sr_log_write(f->log, SR_LOG_WARNING, "report on %s: %s", sr_message_rel_path(w->msg),
                         err.msg);
    }
    size_t failed = 0;
    if (sr_report_flush(f->report, &failed, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING, "%zu report(s) to %s not sent: %s", failed,
                     sr_report_exchange(f->report), err.msg);
}

/* after_post: the messages of a settled pass the broker confirmed. */
static void plugins_after_post(sr_flow *f, posting *po)
{
    size_t n = 0;
    sr_plugin_item *items = calloc(po->count ? po->count : 1, sizeof *items);
    if (items == NULL)
        return;
    for (size_t i = 0; i < po->count; i++)
        if (po->status[i] == SR_OK)
            items[n++].w = po->which[i];
    if (n > 0)
        sr_plugins_after_post(f->plugins, items, n);
    sr_plugin_items_fini(items, n);
    free(items);
}

/* The one place a pass ends: wait for the broker to take its posts (a refused or lost one
 * goes to the post retry queue), queue what is to be retried, and only then ack: every
 * delivery whose message is done or safely queued, none that is held. A message taken
 * from the work retry queue leaves it only once it is done or in the post retry queue.
 * So a kill -9 at any point loses nothing that was acked. Frees po. */
static void settle(sr_flow *f, posting *po)
{
    if (po == NULL)
        return;
    sr_err err;
    if (po->count > 0 && sr_broker_publish_end(f->out, po->publishing, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING, "posting: %s", err.msg);
    double now = sr_time_now_s();
    for (size_t i = 0; i < po->count; i++) {
        sr_work *w = po->which[i];
        if (po->status[i] == SR_OK) {
            sr_metrics_add(f->metrics, SR_METRIC_POSTED, 1, now);
            sr_metrics_add(f->metrics, SR_METRIC_TX_BYTES, po->enc[i].body_len, now);
            sr_log_event(f->log, SR_EVENT_AFTER_POST, "posted %s to %s",
                         sr_message_rel_path(w->msg), po->topics[i]);
            dispose(w, SR_DISP_DONE, NULL);
        } else {
            sr_metrics_add(f->metrics, SR_METRIC_POST_BAD, 1, now);
            dispose(w, SR_DISP_POST_RETRY, "publish failed");
        }
    }
    if (po->count > 0 && sr_plugins_have(f->plugins, SR_PLUGIN_HOOK_AFTER_POST))
        plugins_after_post(f, po);
    pass *p = &po->p;
    queue_retries(f, p);
    /* Retried messages leave the work retry queue now that they are done or in the post
     * retry queue; one held goes back to it as it was. */
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if (!w->from_retry || w->disposition == SR_DISP_RETRY)
            continue;
        if (w->disposition == SR_DISP_HOLD)
            sr_retryq_release(f->work_retry, w->retry_id, NULL);
        else
            sr_retryq_done(f->work_retry, w->retry_id, NULL);
    }
    /* The duplicate cache reaches its file only now, with the work and the posts done and
     * just before the acks: after a kill -9 a message the cache knows was posted, and one
     * it does not know comes back and is posted (again, at worst), never dropped unposted
     * (what a winnow killed between writing the cache and posting would do). */
    if (f->nodupe != NULL && sr_nodupe_flush(f->nodupe, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_ERROR, "duplicate cache: %s", err.msg);
    if (f->comp.settled != NULL)
        f->comp.settled(f->comp.ctx);
    send_reports(f, p);
    sr_log_flush(f->log); /* what the pass did is on disk before the broker forgets it */
    size_t held = 0, acks = 0;
    sr_delivery **to_ack = malloc((p->count ? p->count : 1) * sizeof *to_ack);
    for (size_t i = 0; i < p->count; i++) {
        sr_work *w = &p->items[i];
        if (w->delivery == NULL)
            continue;
        if (w->disposition == SR_DISP_HOLD) {
            held++;
            continue; /* freed unacked: the broker sends it again */
        }
        if (to_ack != NULL) {
            to_ack[acks++] = w->delivery; /* in the order they came */
        } else if (sr_broker_ack(f->in, w->delivery, &err) != SR_OK) {
            sr_log_write(f->log, SR_LOG_WARNING, "ack of %s: %s (the broker will send it again)",
                         w->msg ? sr_message_rel_path(w->msg) : "a message", err.msg);
        }
    }
    /* one basic.ack for the whole pass where AMQP allows it (broker.h) */
    if (acks > 0 && sr_broker_ack_many(f->in, to_ack, acks, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING,
                     "ack of %zu message(s): %s (the broker will send the rest again)", acks,
                     err.msg);
    free(to_ack);
    if (held > 0)
        sr_log_write(f->log, SR_LOG_ERROR,
                     "%zu message(s) not acknowledged: the broker keeps them and sends them again",
                     held);
    posting_free(po);
}

/* The outstanding passes, oldest first, until they hold at most keep messages. */
static void settle_outstanding(sr_flow *f, size_t keep)
{
    while (f->outstanding != NULL && (keep == 0 || f->window_held > keep)) {
        posting *po = f->outstanding;
        f->outstanding = po->next;
        if (f->outstanding == NULL)
            f->outstanding_last = NULL;
        f->window_held -= po->p.count;
        settle(f, po);
    }
}

/* The oldest pass waiting for the broker, if any: finished now. */
static void settle_oldest(sr_flow *f)
{
    if (f->outstanding != NULL)
        settle_outstanding(f, f->window_held - f->outstanding->p.count);
}

/* Every pass still waiting for the broker: finished now. */
static void finish_outstanding(sr_flow *f)
{
    settle_outstanding(f, 0);
}

/* A full pass whose posts went out: it waits in the window while the next passes are
 * gathered, and the oldest are settled once the window holds more than it may. */
static void hold_outstanding(sr_flow *f, posting *po)
{
    po->next = NULL;
    if (f->outstanding_last != NULL)
        f->outstanding_last->next = po;
    else
        f->outstanding = po;
    f->outstanding_last = po;
    f->window_held += po->p.count;
    settle_outstanding(f, f->window_max);
}

/* Posts that failed before: republished when the post broker is back. */
static void post_retries(sr_flow *f)
{
    if (!f->publishes || sr_retryq_length(f->post_retry) == 0)
        return;
    size_t want = f->batch / 2 ? f->batch / 2 : 1;
    sr_retryq_item *items = calloc(want, sizeof *items);
    size_t taken = 0;
    if (items == NULL ||
        sr_retryq_take(f->post_retry, want, sr_time_now_s(), items, &taken, NULL) != SR_OK) {
        free(items);
        return;
    }
    for (size_t i = 0; i < taken; i++) {
        char *exchange = NULL, *topic = NULL;
        bool cut;
        sr_encoded enc = {0};
        int status = SR_EINVAL;
        sr_err err;
        int rc = sr_publisher_route(&f->publisher, items[i].msg, &exchange, &topic, &cut, &err);
        if (rc == SR_OK)
            rc = sr_publisher_fill_wis(&f->publisher, items[i].msg, topic, &err);
        if (rc == SR_OK)
            rc = sr_message_encode(items[i].msg, f->publisher.format, &enc, &err);
        if (rc == SR_OK) {
            sr_outgoing o = {exchange, topic, &enc};
            sr_broker_publish(f->out, &o, 1, &status, &err);
        }
        if (status == SR_OK) {
            sr_retryq_done(f->post_retry, items[i].id, NULL);
            sr_metrics_add(f->metrics, SR_METRIC_POSTED, 1, sr_time_now_s());
        } else if (rc != SR_OK && rc != SR_ENOMEM) {
            /* it will never post (the config changed since it was queued): said, and gone,
             * as post_begin does with one that cannot be posted */
            sr_log_write(f->log, rc == SR_EREFUSED ? SR_LOG_WARNING : SR_LOG_ERROR, "%s %s: %s",
                         rc == SR_EREFUSED ? "refused" : "cannot post",
                         sr_message_rel_path(items[i].msg), err.msg);
            sr_metrics_add(f->metrics, SR_METRIC_REJECTED, 1, sr_time_now_s());
            sr_retryq_done(f->post_retry, items[i].id, NULL);
        } else {
            sr_retryq_again(f->post_retry, items[i].id, sr_time_now_s(), err.msg, NULL);
        }
        sr_encoded_fini(&enc);
        free(exchange);
        free(topic);
        sr_message_free(items[i].msg);
    }
    sr_retryq_sync(f->post_retry, NULL);
    free(items);
}

static void drop_expired(void *arg, const sr_message *m, const char *why)
{
    sr_flow *f = arg;
    sr_log_write(f->log, SR_LOG_WARNING, "%s dropped from the retry queue: %s",
                 sr_message_rel_path(m), why);
}

/* The counters since the last housekeeping in one line, for the logEvents on_housekeeping,
 * on_start and on_stop. */
static void log_summary(sr_flow *f, double now, enum sr_log_event event, const char *when)
{
    sr_metrics_snapshot s;
    sr_err err;
    if (sr_log_event_on(f->log, event) && sr_metrics_get(f->metrics, now, &s, &err) == SR_OK) {
        double span = now - s.time_base > 0 ? now - s.time_base : 1;
        sr_log_event(f->log, event,
                     "%s: %llu received (%llu bad), %llu accepted, %llu rejected, "
                     "%llu posted in %.0f s (%.1f/s); lag avg %.2f s max %.2f s; retry "
                     "queues %zu work, %zu post",
                     when, s.counters[SR_METRIC_RX_GOOD] + s.counters[SR_METRIC_RX_BAD],
                     s.counters[SR_METRIC_RX_BAD], s.counters[SR_METRIC_ACCEPTED],
                     s.counters[SR_METRIC_REJECTED], s.counters[SR_METRIC_POSTED], span,
                     (double)(s.counters[SR_METRIC_RX_GOOD] + s.counters[SR_METRIC_RX_BAD]) / span,
                     s.lag_avg, s.lag_max, sr_retryq_length(f->work_retry),
                     sr_retryq_length(f->post_retry));
        sr_metrics_snapshot_fini(&s);
    }
}

/* messageRateMin: once per housekeeping, over the whole interval (sr3 warns on every pass). */
static void check_message_rate(sr_flow *f, double now)
{
    sr_metrics_snapshot s;
    sr_err err;
    if (f->message_rate_min <= 0 || sr_metrics_get(f->metrics, now, &s, &err) != SR_OK)
        return;
    double span = now - s.time_base > 0 ? now - s.time_base : 1;
    double rate = (double)(s.counters[SR_METRIC_RX_GOOD] + s.counters[SR_METRIC_RX_BAD]) / span;
    if (rate < f->message_rate_min)
        sr_log_write(f->log, SR_LOG_WARNING,
                     "receiving below the minimum message rate: %.2f/s over %.0f s, "
                     "messageRateMin is %g/s",
                     rate, span, f->message_rate_min);
    sr_metrics_snapshot_fini(&s);
}

static void housekeeping(sr_flow *f, double now)
{
    sr_err err;
    log_summary(f, now, SR_EVENT_ON_HOUSEKEEPING, "housekeeping");
    check_message_rate(f, now);
    size_t expired = 0;
    if (f->nodupe != NULL && sr_nodupe_save(f->nodupe, now, &expired, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_ERROR, "duplicate cache: %s", err.msg);
    sr_retryq_hk_stats hk;
    if (sr_retryq_housekeep(f->work_retry, now, f->retry_ttl, drop_expired, f, &hk, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_ERROR, "retry queue: %s", err.msg);
    if (sr_retryq_housekeep(f->post_retry, now, f->retry_ttl, drop_expired, f, &hk, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_ERROR, "post retry queue: %s", err.msg);
    if (f->comp.housekeeping != NULL)
        f->comp.housekeeping(f->comp.ctx);
    sr_plugins_housekeeping(f->plugins);
    sr_metrics_reset(f->metrics, now);
#ifdef __GLIBC__
    /* Give back to the kernel what a backlog made us allocate and has since freed: glibc
     * keeps freed memory for reuse, so without this an instance's RSS shows its largest
     * backlog ever rather than what it holds now, and an operator (or sr3's memory check)
     * cannot tell a drained backlog from a leak. Every housekeeping: a few ms. */
    malloc_trim(0);
#endif
    f->last_housekeeping = now;
}

static void update_metrics(sr_flow *f, double now)
{
    sr_broker_stats bs;
    sr_broker *main_broker = f->in != NULL ? f->in : f->out;
    if (main_broker != NULL) {
        sr_broker_get_stats(main_broker, &bs);
        sr_metrics_broker(f->metrics, bs.connected, now);
        sr_metrics_broker_node(f->metrics, bs.node, sr_broker_node_count(main_broker));
    }
    if (f->out != NULL) {
        sr_broker_get_stats(f->out, &bs);
        sr_metrics_blocked(f->metrics, bs.blocked);
    }
    sr_metrics_retry(f->metrics, sr_retryq_length(f->work_retry), sr_retryq_length(f->post_retry));
    if (sr_metrics_due(f->metrics, now)) {
        sr_err err;
        sr_plugins_metrics(f->plugins);
        if (sr_metrics_write(f->metrics, f->metrics_path, now, &err) != SR_OK)
            sr_log_write(f->log, SR_LOG_WARNING, "metrics: %s", err.msg);
    }
}

/* While a broker blocks our publishing (a memory or disk alarm: broker.h, while_blocked),
 * called about once a second from its wait for confirms: the consumer's connection is
 * looked after (heartbeats; what arrives waits for the next pass, unacked), the metrics
 * are written (`sr status` shows blocked), and a stop request ends the wait. */
static bool while_blocked(void *ctx)
{
    sr_flow *f = ctx;
    sr_err err;
    if (f->in != NULL && sr_broker_poll(f->in, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING, "broker: %s", err.msg);
    update_metrics(f, sr_time_now_s());
    return f->stop != NULL && *f->stop;
}

static void pause_for(double seconds, volatile sig_atomic_t *stop)
{
    /* in slices, so a stop request is seen within 0.1 s */
    while (seconds > 0 && !*stop) {
        double d = seconds < 0.1 ? seconds : 0.1;
        struct timespec t = {0, (long)(d * 1e9)};
        nanosleep(&t, NULL);
        seconds -= d;
    }
}

/* Before a pass posts: when the post broker has blocked our publishing (it said so in
 * what the connection has read; one non-blocking read looks), the passes in the window
 * are settled first (their wait lasts until it unblocks) and the pass waits, posting
 * nothing more into a connection the broker does not read, until it unblocks or the
 * process stops (then the pass posts and its posts, not confirmed, go to the post retry
 * queue). */
static void pause_while_blocked(sr_flow *f)
{
    sr_err err;
    sr_broker_stats bs;
    if (sr_broker_poll(f->out, &err) != SR_OK)
        return; /* lost: the pass's post reconnects */
    sr_broker_get_stats(f->out, &bs);
    if (!bs.blocked)
        return;
    finish_outstanding(f);
    sr_broker_get_stats(f->out, &bs);
    while (bs.blocked && !*f->stop) {
        while_blocked(f);
        pause_for(1, f->stop);
        if (sr_broker_poll(f->out, &err) != SR_OK)
            return;
        sr_broker_get_stats(f->out, &bs);
    }
}

/* SIGHUP: logrotate moved the file; write to a new one at the path. */
static void reopen_if_asked(sr_flow *f, volatile sig_atomic_t *reopen)
{
    if (!*reopen)
        return;
    *reopen = 0;
    sr_err err;
    if (sr_log_reopen(f->log, &err) != SR_OK)
        sr_log_stderr("%s", err.msg);
    else
        sr_log_write(f->log, SR_LOG_INFO, "log reopened");
}

/* The post exchange (each of them when split), declared as sr3 declares it. */
static void declare_post_exchanges(sr_flow *f)
{
    unsigned n = f->publisher.split > 1 ? f->publisher.split : 1;
    for (unsigned i = 0; i < n; i++) {
        char *name = NULL;
        sr_err err;
        int rc = n > 1 ? sr_topic_split_exchange(f->publisher.exchange, i, &name, &err)
                       : ((name = strdup(f->publisher.exchange)) ? SR_OK : SR_ENOMEM);
        if (rc == SR_OK)
            rc = sr_broker_declare_exchange(f->out, name, &err);
        if (rc != SR_OK)
            sr_log_write(f->log, SR_LOG_WARNING, "declaring exchange %s: %s (will retry)",
                         name ? name : f->publisher.exchange, err.msg);
        free(name);
    }
}

/* ---- vip: active only on the host that holds one of the addresses (sr(1), Virtual IP
 * addresses) ---- */

/* The first vip of the list this host holds now (getifaddrs), or NULL. A vip is an IPv4 or
 * IPv6 address, optionally with a /prefix (ignored). */
static const char *held_vip(const sr_strlist *vips)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return NULL;
    const char *held = NULL;
    for (size_t i = 0; i < vips->count && held == NULL; i++) {
        char addr[INET6_ADDRSTRLEN + 1];
        snprintf(addr, sizeof addr, "%.*s", (int)strcspn(vips->items[i], "/"), vips->items[i]);
        struct in_addr v4;
        struct in6_addr v6;
        bool is4 = inet_pton(AF_INET, addr, &v4) == 1;
        bool is6 = !is4 && inet_pton(AF_INET6, addr, &v6) == 1;
        for (struct ifaddrs *a = ifs; a != NULL && held == NULL; a = a->ifa_next) {
            if (a->ifa_addr == NULL)
                continue;
            if (is4 && a->ifa_addr->sa_family == AF_INET &&
                memcmp(&((struct sockaddr_in *)a->ifa_addr)->sin_addr, &v4, sizeof v4) == 0)
                held = vips->items[i];
            if (is6 && a->ifa_addr->sa_family == AF_INET6 &&
                memcmp(&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, &v6, sizeof v6) == 0)
                held = vips->items[i];
        }
    }
    freeifaddrs(ifs);
    return held;
}

/* Declare the queue, bind it and start consuming (reset first when asked). */
static void subscribe_consumer(sr_flow *f)
{
    if (!f->reset_done && sr_config_flag(f->cfg, SR_OPT_reset) &&
        f->consumer.queue.declare) {
        /* reset: the instance that declares the queue deletes it first, with what waits in
         * it, once per start (not after a vip moves back); the others find theirs gone and
         * subscribe again (broker.h) */
        sr_err err;
        if (sr_broker_delete_queue(f->in, f->consumer.queue.name, &err) == SR_OK)
            sr_log_write(f->log, SR_LOG_INFO, "reset: queue %s deleted, declared anew",
                         f->consumer.queue.name);
        else
            sr_log_write(f->log, SR_LOG_WARNING, "reset: deleting queue %s: %s",
                         f->consumer.queue.name, err.msg);
    }
    f->reset_done = true;
    sr_err err;
    if (sr_broker_subscribe(f->in, &f->consumer.queue, &err) != SR_OK)
        sr_log_write(f->log, SR_LOG_WARNING, "%s (will retry)", err.msg);
    for (size_t i = 0; i < f->consumer.binding_count; i++)
        sr_log_write(f->log, SR_LOG_INFO, "queue %s: exchange %s, topic %s",
                     f->consumer.queue.name,
                     f->consumer.bindings[i].exchange ? f->consumer.bindings[i].exchange : "",
                     f->consumer.bindings[i].key);
}

/* Connect the consumer and declare the post exchanges: the start of an active flow. (A
 * flow that catches up consumes from its start, active or not: sr_flow_run.) */
static void go_active(sr_flow *f)
{
    if (f->consumes)
        subscribe_consumer(f);
    if (f->publishes && !f->publisher.mqtt && sr_config_flag(f->cfg, SR_OPT_exchangeDeclare))
        declare_post_exchanges(f);
}

/* Drop the broker connections: messages the broker sent us but we did not ack go back to
 * the queue, for the host that now holds the vip. The brokers are made anew (not
 * connected: that happens when the flow is active again). */
static int go_passive(sr_flow *f, sr_err *err)
{
    finish_outstanding(f);
    if (f->in != NULL && !f->catches_up) { /* a flow that catches up keeps reading */
        sr_broker_close(f->in);
        if ((f->in = sr_broker_new(&f->consumer.broker, err)) == NULL)
            return err->code;
    }
    if (f->out != NULL) {
        sr_broker_close(f->out);
        if ((f->out = sr_broker_new(&f->publisher.broker, err)) == NULL)
            return err->code;
    }
    return SR_OK;
}

int sr_flow_run(sr_flow *f, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen)
{
    double idle = f->sleep > 0 ? f->sleep : IDLE_WAIT_MIN;
    bool exhausted = false, waiting_logged = false;
    int result = SR_OK;
    f->stop = stop;
    sr_log_write(f->log, SR_LOG_INFO, "starting (pid %d)", (int)getpid());
    if (sr_plugins_count(f->plugins) > 0) {
        sr_err err;
        if (sr_plugins_start(f->plugins, &err) != SR_OK) {
            sr_log_write(f->log, SR_LOG_ERROR, "%s", err.msg);
            return err.code;
        }
    }
    log_summary(f, sr_time_now_s(), SR_EVENT_ON_START, "at start");
    /* with vip, passive (connected to nothing, consuming and posting nothing) until this
     * host holds one of the addresses; looked at every VIP_CHECK_S */
    const sr_strlist *vips = sr_config_list(f->cfg, SR_OPT_vip);
    bool use_vip = vips != NULL && vips->count > 0;
    bool passive = use_vip && held_vip(vips) == NULL;
    double next_vip_check = sr_time_now_s() + VIP_CHECK_S;
    if (f->catches_up) {
        /* its own posts, read whether it is active or not: the queue binds to the post
         * exchange, declared here first in case no node has posted yet */
        if (f->publishes && !f->publisher.mqtt && sr_config_flag(f->cfg, SR_OPT_exchangeDeclare))
            declare_post_exchanges(f);
        subscribe_consumer(f);
    }
    if (passive && f->catches_up)
        sr_log_write(f->log, SR_LOG_INFO,
                     "passive: this host holds no vip (%s%s); reading what the active node "
                     "posts, posting nothing until it does",
                     vips->items[0], vips->count > 1 ? ", ..." : "");
    else if (passive)
        sr_log_write(f->log, SR_LOG_INFO,
                     "passive: this host holds no vip (%s%s); consuming nothing until it does",
                     vips->items[0], vips->count > 1 ? ", ..." : "");
    else
        go_active(f);
    sr_metrics_passive(f->metrics, passive);
    while (!*stop) {
        double now = sr_time_now_s();
        reopen_if_asked(f, reopen);
        if (now - f->last_housekeeping >= f->housekeeping)
            housekeeping(f, now);
        if (use_vip && now >= next_vip_check) {
            next_vip_check = now + VIP_CHECK_S;
            const char *held = held_vip(vips);
            if (passive && held != NULL) {
                sr_log_write(f->log, SR_LOG_INFO, "active: this host now holds vip %s", held);
                passive = false;
                go_active(f);
            } else if (!passive && held == NULL) {
                sr_log_write(f->log, SR_LOG_WARNING,
                             "passive: this host no longer holds a vip (%s%s); disconnected",
                             vips->items[0], vips->count > 1 ? ", ..." : "");
                passive = true;
                sr_err err;
                if (go_passive(f, &err) != SR_OK) {
                    sr_log_write(f->log, SR_LOG_ERROR, "%s", err.msg);
                    result = err.code;
                    break;
                }
            }
            sr_metrics_passive(f->metrics, passive);
        }
        if (passive && !f->catches_up) {
            update_metrics(f, sr_time_now_s());
            pause_for(VIP_CHECK_S, stop);
            continue;
        }

        pass p = {0};
        sr_err err;
        int rc;
        if (f->consumes) {
            /* the wait for the first message doubles while idle, up to 5 s, in 1 s slices
             * so SIGTERM is answered quickly */
            /* with a pass outstanding, take only what is already here: its acks must not
             * wait for new messages */
            rc = gather_broker(f, &p, f->outstanding ? 0 : (idle < 1 ? idle : 1), &err);
            if (rc == SR_ECONN) {
                sr_broker_stats bs;
                sr_broker_get_stats(f->in, &bs);
                pause_for(bs.next_attempt > 0 ? (bs.next_attempt < 5 ? bs.next_attempt : 5) : 1,
                          stop);
            } else if (rc != SR_OK) {
                sr_log_write(f->log, SR_LOG_ERROR, "%s", err.msg);
            }
        } else {
            bool caught_up = true;
            if (f->catches_up) {
                /* what waits in the queue first; passive, that is all there is to do.
                 * Caught up means connected and the queue found empty once after a wait
                 * of a second (what the broker had for us has arrived), then empty at
                 * each pass: until then the component gathers nothing, so a node that
                 * just started or reconnected announces nothing its peer announced. */
                double wait = passive ? VIP_CHECK_S : f->drained ? 0 : DRAIN_WAIT_S;
                rc = gather_broker(f, &p, wait, &err);
                if (rc == SR_ECONN)
                    pause_for(passive ? VIP_CHECK_S : 0.1, stop);
                else if (rc != SR_OK)
                    sr_log_write(f->log, SR_LOG_ERROR, "%s", err.msg);
                sr_broker_stats bs;
                sr_broker_get_stats(f->in, &bs);
                if (!bs.connected)
                    f->drained = false;
                else if (rc == SR_OK && p.count == 0 && wait >= DRAIN_WAIT_S)
                    f->drained = true;
                caught_up = f->drained && rc == SR_OK && p.count == 0;
                ingest(f, &p);
            }
            if (caught_up && !passive) {
                rc = gather_local(f, &p, &exhausted, &err);
                if (rc != SR_OK)
                    sr_log_write(f->log, SR_LOG_ERROR, "%s", err.msg);
            }
        }
        reopen_if_asked(f, reopen); /* a SIGHUP during the wait: this pass logs anew */
        /* the pass's lines (a few per message) go out in one write, at its end or before
         * its acks: log.h */
        sr_log_hold(f->log);
        if (!passive)
            gather_plugins(f, &p);
        gather_retries(f, &p);
        bool any = p.count > 0;
        size_t pass_count = p.count; /* p is moved into its posting below */
        filter(f, &p);
        plugins_after(f, &p, SR_PLUGIN_HOOK_AFTER_ACCEPT);
        pass_work(f, &p);
        plugins_after(f, &p, SR_PLUGIN_HOOK_AFTER_WORK);
        if (f->out != NULL && p.count > 0)
            pause_while_blocked(f);
        posting *po = post_begin(f, &p);
        if (po == NULL) { /* out of memory: nothing acked, the broker sends it all again */
            sr_log_write(f->log, SR_LOG_ERROR, "out of memory: %zu messages not posted", p.count);
            for (size_t i = 0; i < p.count; i++)
                dispose(&p.items[i], SR_DISP_HOLD, NULL);
            if ((po = calloc(1, sizeof *po)) != NULL) {
                po->p = p;
                p = (pass){0};
            }
        }
        if (po != NULL && f->window && po->p.count > 0) {
            /* it waits in the window with the passes before it, while the next are taken:
             * a pass that is not full may just mean the broker's next messages are still on
             * their way, and settling everything for it would empty the pipeline */
            hold_outstanding(f, po);
        } else if (f->consumes && f->outstanding != NULL) {
            /* nothing came at once: the oldest pass is settled (its confirms are likely in)
             * and its acks let the broker send more; when traffic is light the rest follow
             * one a pass, without a wait, since gathering does not wait while any is out */
            settle(f, po);
            settle_oldest(f);
        } else {
            /* the passes before first, so the acks keep the order of the deliveries */
            finish_outstanding(f);
            settle(f, po);
        }
        post_retries(f);
        f->handled += pass_count;
        pass_fini(&p);
        update_metrics(f, sr_time_now_s());
        sr_log_release(f->log);
        if (result != SR_OK)
            break;
        if (f->message_count_max > 0 && f->handled >= (unsigned long long)f->message_count_max) {
            sr_log_write(f->log, SR_LOG_INFO, "messageCountMax %lld reached", f->message_count_max);
            break;
        }
        if (!f->consumes && exhausted && f->sleep < 0) {
            /* post: one pass; with retryEmptyBeforeExit, until its post retry queue is sent
             * (the broker back), retried at the pace of retryDelay. The passes still in the
             * window first: what failed among them is in that queue then. */
            finish_outstanding(f);
            size_t left = sr_retryq_length(f->post_retry);
            if (!sr_config_flag(f->cfg, SR_OPT_retryEmptyBeforeExit) || left == 0) {
                if (left == 0)
                    f->post_failures = 0; /* whatever failed went out on a retry */
                break;
            }
            if (!waiting_logged)
                sr_log_write(f->log, SR_LOG_INFO,
                             "%zu message(s) in the post retry queue: retrying until they are "
                             "posted (retryEmptyBeforeExit)",
                             left);
            waiting_logged = true;
        }
        if (!any && f->out != NULL && f->outstanding == NULL) {
            /* a publisher with nothing to post: keep its connection (heartbeats) */
            sr_err perr;
            if (sr_broker_poll(f->out, &perr) != SR_OK)
                sr_log_write(f->log, SR_LOG_WARNING, "post broker: %s", perr.msg);
        }
        if (any) {
            idle = f->sleep > 0 ? f->sleep : IDLE_WAIT_MIN;
            if (f->message_rate_max > 0)
                pause_for((double)pass_count / f->message_rate_max, stop);
        } else {
            if (!f->consumes)
                pause_for(f->sleep > 0 ? f->sleep : idle, stop);
            idle = idle * 2 < IDLE_WAIT_MAX ? idle * 2 : IDLE_WAIT_MAX;
        }
    }
    finish_outstanding(f);
    sr_plugins_stop(f->plugins); /* the last pass settled */
    log_summary(f, sr_time_now_s(), SR_EVENT_ON_STOP, "at stop");
    sr_log_write(f->log, SR_LOG_INFO, "stopping");
    return result;
}
