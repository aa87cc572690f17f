/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker: see broker.h. The protocol-independent half: URL and credentials, connection
 * state, reconnect backoff, re-declaring after a reconnect, statistics.
 */
#include "broker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker_impl.h"

#define DEFAULT_HEARTBEAT 60.0
#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_BACKOFF_MIN 1.0
#define DEFAULT_BACKOFF_MAX 64.0

double sr_broker_heartbeat(const sr_broker *b)
{
    return b->options.heartbeat > 0 ? b->options.heartbeat : DEFAULT_HEARTBEAT;
}

double sr_broker_timeout(const sr_broker *b)
{
    return b->options.timeout > 0 ? b->options.timeout : DEFAULT_TIMEOUT;
}

unsigned sr_broker_prefetch(const sr_broker *b)
{
    return b->options.prefetch > 0 ? b->options.prefetch : 1; /* a consumer takes one at least */
}

void sr_broker_notify(const sr_broker *b, enum sr_level level, const char *fmt, ...)
{
    if (b->options.notify == NULL)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    b->options.notify(b->options.notify_ctx, level, text);
}

static double since(const struct timespec *then, const struct timespec *now)
{
    return (double)(now->tv_sec - then->tv_sec) + (double)(now->tv_nsec - then->tv_nsec) / 1e9;
}

static void monotonic(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

/* ---- life cycle ---- */

static bool scheme_is(const sr_url *u, const char *a, const char *b)
{
    return strcmp(u->scheme, a) == 0 || strcmp(u->scheme, b) == 0;
}

sr_broker *sr_broker_new(const sr_broker_options *options, sr_err *err)
{
    if (options->url == NULL) {
        sr_err_set(err, SR_EINVAL, false, "no broker URL");
        return NULL;
    }
    sr_broker *b = calloc(1, sizeof *b);
    if (b == NULL) {
        sr_err_set(err, SR_ENOMEM, false, "out of memory");
        return NULL;
    }
    b->options = *options;
    sr_url given;
    int rc = sr_url_parse(options->url, &given, err);
    if (rc == SR_OK) {
        rc = options->credentials != NULL
                 ? sr_credentials_complete(options->credentials, &given, &b->url, err)
                 : sr_url_copy(&b->url, &given);
        if (rc == SR_ENOMEM)
            sr_err_set(err, rc, false, "out of memory");
        if (options->credentials != NULL && given.password == NULL)
            b->credential = sr_credentials_find(options->credentials, &given);
        sr_url_fini(&given);
    }
    /* The URL as given may hold a password: errors show it redacted. */
    char *shown = rc == SR_OK ? sr_url_redacted(options->url) : NULL;
    bool mem = rc == SR_OK && strcmp(b->url.scheme, "mem") == 0 && options->mem_hub != NULL;
    if (rc == SR_OK && !mem && !scheme_is(&b->url, "amqp", "amqps") &&
        !scheme_is(&b->url, "mqtt", "mqtts"))
        rc = sr_err_set(err, SR_EINVAL, false,
                        "broker %s: the scheme must be amqp, amqps, mqtt or mqtts",
                        shown ? shown : "URL");
    if (rc == SR_OK && (b->url.host == NULL || b->url.host[0] == '\0'))
        rc = sr_err_set(err, SR_EINVAL, false, "broker %s: no host", shown ? shown : "URL");
    free(shown);
    if (rc == SR_OK && sr_url_copy(&b->all, &b->url) != SR_OK)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK &&
        ((b->shown_url = sr_url_format(&b->url, false)) == NULL ||
         (options->client_id != NULL && (b->client_id = strdup(options->client_id)) == NULL)))
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    b->options.client_id = b->client_id;
    if (rc == SR_OK) {
        /* b->url is one node at a time (use_node); the list stays in b->all. */
        for (size_t i = 0; i < b->url.other_count; i++)
            free(b->url.others[i].host);
        free(b->url.others);
        b->url.others = NULL;
        b->url.other_count = 0;
        sr_url_node_text(&b->all, 0, b->stats.node, sizeof b->stats.node);
    }
    if (rc == SR_OK)
        rc = mem                                  ? sr_broker_mem_init(b, err)
             : scheme_is(&b->url, "amqp", "amqps") ? sr_broker_amqp_init(b, err)
                                                   : sr_broker_mqtt_init(b, err);
    if (rc != SR_OK) {
        sr_broker_close(b);
        return NULL;
    }
    monotonic(&b->next_attempt);
    return b;
}

const char *sr_broker_url(const sr_broker *b)
{
    return b->shown_url;
}

bool sr_broker_is_mqtt(const sr_broker *b)
{
    return scheme_is(&b->url, "mqtt", "mqtts");
}

static void queue_spec_free(sr_queue_spec *q)
{
    if (q == NULL)
        return;
    free((char *)q->name);
    free((char *)q->queue_type);
    free((char *)q->dead_letter_exchange);
    free((char *)q->dead_letter_routing_key);
    for (size_t i = 0; i < q->binding_count; i++)
        sr_topic_binding_fini((sr_topic_binding *)&q->bindings[i]);
    free((sr_topic_binding *)q->bindings);
    free(q);
}

static sr_queue_spec *queue_spec_copy(const sr_queue_spec *q)
{
    sr_queue_spec *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    *c = *q;
    c->name = NULL;
    c->queue_type = NULL;
    c->dead_letter_exchange = NULL;
    c->dead_letter_routing_key = NULL;
    c->bindings = NULL;
    c->binding_count = 0;
    sr_topic_binding *bindings = calloc(q->binding_count ? q->binding_count : 1, sizeof *bindings);
    bool failed = bindings == NULL || (q->name && (c->name = strdup(q->name)) == NULL) ||
                  (q->queue_type && (c->queue_type = strdup(q->queue_type)) == NULL) ||
                  (q->dead_letter_exchange &&
                   (c->dead_letter_exchange = strdup(q->dead_letter_exchange)) == NULL) ||
                  (q->dead_letter_routing_key &&
                   (c->dead_letter_routing_key = strdup(q->dead_letter_routing_key)) == NULL);
    if (bindings != NULL)
        c->bindings = bindings;
    for (size_t i = 0; !failed && i < q->binding_count; i++) {
        bindings[i].exchange = q->bindings[i].exchange ? strdup(q->bindings[i].exchange) : NULL;
        bindings[i].key = q->bindings[i].key ? strdup(q->bindings[i].key) : NULL;
        c->binding_count = i + 1;
        failed = (q->bindings[i].exchange && bindings[i].exchange == NULL) ||
                 (q->bindings[i].key && bindings[i].key == NULL);
    }
    if (failed) {
        queue_spec_free(c);
        return NULL;
    }
    return c;
}

void sr_broker_close(sr_broker *b)
{
    if (b == NULL)
        return;
    if (b->ops != NULL) {
        if (b->connected)
            b->ops->disconnect(b);
        b->ops->destroy(b);
    }
    sr_strlist_clear(&b->exchanges);
    queue_spec_free(b->queue);
    sr_url_fini(&b->url);
    sr_url_fini(&b->all);
    free(b->shown_url);
    free(b->client_id);
    free(b);
}

/* ---- the connection ---- */

/* The next attempt after a failed one: the delay doubles up to the cap, +-25% jitter. */
static void schedule_retry(sr_broker *b)
{
    double lo = b->options.backoff_min > 0 ? b->options.backoff_min : DEFAULT_BACKOFF_MIN;
    double hi = b->options.backoff_max > 0 ? b->options.backoff_max : DEFAULT_BACKOFF_MAX;
    b->delay = b->delay <= 0 ? lo : b->delay * 2;
    if (b->delay > hi)
        b->delay = hi;
    unsigned short r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (unsigned short)(b->stats.disconnects * 7919u);
    double wait = b->delay * (0.75 + 0.5 * (double)r / 65535.0);
    monotonic(&b->next_attempt);
    b->next_attempt.tv_sec += (time_t)wait;
    b->next_attempt.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
    if (b->next_attempt.tv_nsec >= 1000000000L) {
        b->next_attempt.tv_sec++;
        b->next_attempt.tv_nsec -= 1000000000L;
    }
}

static void mark_down(sr_broker *b)
{
    struct timespec now;
    monotonic(&now);
    if (b->connected) {
        b->stats.connected_seconds += since(&b->connected_since, &now);
        b->stats.disconnects++;
    }
    b->connected = false;
    b->ops->disconnect(b);
}

/* Point b->url at node i of the URL; false when out of memory (b->url is unchanged). */
static bool use_node(sr_broker *b, size_t i)
{
    sr_url_node node = sr_url_node_at(&b->all, i);
    if (node.host == NULL)
        return false;
    if (b->url.host == NULL || strcmp(b->url.host, node.host) != 0) {
        char *host = strdup(node.host);
        if (host == NULL)
            return false;
        free(b->url.host);
        b->url.host = host;
    }
    b->url.port = node.port;
    b->node = i;
    sr_url_node_text(&b->all, i, b->stats.node, sizeof b->stats.node);
    return true;
}

/* The node after the current one, for the next attempt (the same one when there is one). */
static void next_node(sr_broker *b)
{
    size_t count = sr_url_node_count(&b->all);
    if (count > 1)
        use_node(b, (b->node + 1) % count);
}

/* Connect, then declare again what was declared before. */
static int connect_and_declare(sr_broker *b, sr_err *err)
{
    int rc = b->ops->connect(b, err);
    if (rc != SR_OK)
        return rc;
    b->connected = true;
    b->connection++;
    for (size_t i = 0; rc == SR_OK && i < b->exchanges.count; i++)
        rc = b->ops->declare_exchange(b, b->exchanges.items[i], err);
    if (rc == SR_OK && b->queue != NULL)
        rc = b->ops->subscribe(b, b->queue, err);
    if (rc != SR_OK) {
        b->connected = false;
        b->ops->disconnect(b);
    }
    return rc;
}

static int ensure_connected(sr_broker *b, sr_err *err)
{
    if (b->connected)
        return SR_OK;
    struct timespec now;
    monotonic(&now);
    double wait = since(&now, &b->next_attempt);
    if (wait > 0)
        /* last_error names the URL already (the backends' errors do) */
        return sr_err_set(err, SR_ECONN, true, "not connected (%s); next attempt in %.0f s",
                          b->last_error, wait + 0.5);
    /* One round over the nodes: each that does not answer hands over to the next at
     * once; only when none answers does the backoff start. A refused login or a bad
     * setting would be the same on every node of a cluster: no point going round. */
    size_t count = sr_url_node_count(&b->all), tried = 0;
    int rc;
    for (;;) {
        rc = connect_and_declare(b, err);
        if (rc == SR_OK)
            break;
        char failed[sizeof b->stats.node];
        snprintf(failed, sizeof failed, "%s", b->stats.node);
        next_node(b);
        if (++tried >= count || rc == SR_EINVAL || rc == SR_EPERM)
            break;
        sr_broker_notify(b, SR_LOG_WARNING, "cannot connect to node %s: %s; trying node %s",
                         failed, err ? err->msg : "failed", b->stats.node);
    }
    if (rc != SR_OK) {
        snprintf(b->last_error, sizeof b->last_error, "%s", err ? err->msg : "failed");
        schedule_retry(b);
        sr_broker_notify(b, SR_LOG_WARNING, "cannot connect: %s; next attempt in %.0f s",
                         b->last_error, b->delay);
        if (err != NULL)
            err->retryable = true;
        return rc == SR_EINVAL || rc == SR_EPERM ? rc : SR_ECONN;
    }
    b->delay = 0;
    b->last_error[0] = '\0';
    b->stats.connects++;
    monotonic(&b->connected_since);
    if (count > 1)
        sr_broker_notify(b, SR_LOG_INFO, "connected to %s%s, node %s", b->shown_url,
                         b->stats.connects > 1 ? " again" : "", b->stats.node);
    else
        sr_broker_notify(b, SR_LOG_INFO, "connected to %s%s", b->shown_url,
                         b->stats.connects > 1 ? " again" : "");
    return SR_OK;
}

/* After an operation: a lost connection is closed here and retried at once on the next
 * call (then with backoff if that fails). */
static int after(sr_broker *b, int rc, sr_err *err)
{
    if (rc == SR_ECONN) {
        snprintf(b->last_error, sizeof b->last_error, "%s", err ? err->msg : "connection lost");
        if (sr_url_node_count(&b->all) > 1)
            sr_broker_notify(b, SR_LOG_WARNING, "connection lost to node %s: %s", b->stats.node,
                             b->last_error);
        else
            sr_broker_notify(b, SR_LOG_WARNING, "connection lost: %s", b->last_error);
        mark_down(b);
        /* The node may be gone for a while (killed, restarting): the next attempt goes
         * to the next node of the cluster, and comes back round to this one last. */
        next_node(b);
        b->delay = 0;
        monotonic(&b->next_attempt);
        if (err != NULL)
            err->retryable = true;
    }
    return rc;
}

int sr_broker_connect(sr_broker *b, sr_err *err)
{
    return ensure_connected(b, err);
}

/* ---- operations ---- */

int sr_broker_declare_exchange(sr_broker *b, const char *exchange, sr_err *err)
{
    if (!sr_strlist_contains(&b->exchanges, exchange) &&
        sr_strlist_push(&b->exchanges, exchange) != 0)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (!b->connected)
        return ensure_connected(b, err); /* declares it */
    return after(b, b->ops->declare_exchange(b, exchange, err), err);
}

int sr_broker_subscribe(sr_broker *b, const sr_queue_spec *queue, sr_err *err)
{
    sr_queue_spec *copy = queue_spec_copy(queue);
    if (copy == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    queue_spec_free(b->queue);
    b->queue = copy;
    if (!b->connected)
        return ensure_connected(b, err); /* subscribes */
    return after(b, b->ops->subscribe(b, b->queue, err), err);
}

int sr_broker_delete_queue(sr_broker *b, const char *queue, sr_err *err)
{
    int rc = ensure_connected(b, err);
    return rc != SR_OK ? rc : after(b, b->ops->delete_queue(b, queue, err), err);
}

/* A publish begun (broker.h): the backend's ticket, or the outcome of a publish already
 * done (a backend without begin/end, or no connection). */
struct sr_publishing {
    void *ticket;             /* the backend's, until end */
    unsigned long connection; /* the connection it was sent over */
    int rc;                   /* the outcome known at begin */
    sr_err err;
};

int sr_broker_publish_begin(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                            sr_publishing **out, sr_err *err)
{
    sr_publishing *p = calloc(1, sizeof *p);
    *out = p;
    if (p == NULL) {
        for (size_t i = 0; i < count; i++)
            status[i] = SR_ENOMEM;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    p->rc = ensure_connected(b, &p->err);
    if (p->rc != SR_OK) {
        for (size_t i = 0; i < count; i++)
            status[i] = p->rc;
        return SR_OK;
    }
    p->connection = b->connection;
    if (b->ops->publish_begin == NULL) {
        p->rc = after(b, b->ops->publish(b, messages, count, status, &p->err), &p->err);
        return SR_OK;
    }
    p->rc = b->ops->publish_begin(b, messages, count, status, &p->ticket, &p->err);
    if (p->ticket == NULL) { /* out of memory: nothing was sent */
        free(p);
        *out = NULL;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    p->rc = after(b, p->rc, &p->err);
    return SR_OK;
}

int sr_broker_publish_end(sr_broker *b, sr_publishing *p, sr_err *err)
{
    if (p == NULL)
        return SR_OK;
    int rc = p->rc;
    if (p->ticket != NULL) {
        sr_err waited;
        int end_rc = b->ops->publish_end(b, p->ticket, &waited);
        /* A loss seen now is this connection's; one of a connection since replaced was
         * dealt with when it happened and must not drop the new one. */
        if (b->connected && b->connection == p->connection)
            end_rc = after(b, end_rc, &waited);
        if (rc == SR_OK && end_rc != SR_OK) {
            rc = end_rc;
            p->err = waited;
        }
    }
    if (rc != SR_OK && err != NULL)
        *err = p->err;
    free(p);
    return rc;
}

int sr_broker_publish(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                      sr_err *err)
{
    sr_publishing *p = NULL;
    int rc = sr_broker_publish_begin(b, messages, count, status, &p, err);
    return rc != SR_OK ? rc : sr_broker_publish_end(b, p, err);
}

int sr_broker_poll(sr_broker *b, sr_err *err)
{
    if (!b->connected || b->ops->poll == NULL)
        return SR_OK;
    return after(b, b->ops->poll(b, err), err);
}

int sr_broker_consume(sr_broker *b, size_t max, double timeout, sr_delivery ***deliveries,
                      size_t *got, sr_err *err)
{
    *deliveries = NULL;
    *got = 0;
    int rc = ensure_connected(b, err);
    return rc != SR_OK ? rc : after(b, b->ops->consume(b, max, timeout, deliveries, got, err), err);
}

int sr_broker_ack(sr_broker *b, const sr_delivery *d, sr_err *err)
{
    /* From a connection since lost: the broker has already put it back in the queue. */
    if (!b->connected || d->connection != b->connection)
        return SR_OK;
    return after(b, b->ops->ack(b, d, err), err);
}

int sr_broker_ack_many(sr_broker *b, sr_delivery *const *d, size_t n, sr_err *err)
{
    /* From a connection since lost: the broker has already put them back in the queue. */
    size_t from = 0;
    while (from < n && (!b->connected || d[from]->connection != b->connection))
        from++;
    bool same = true;
    for (size_t i = from; i < n && same; i++)
        same = d[i]->connection == b->connection;
    if (from == n)
        return SR_OK;
    if (!same || b->ops->ack_many == NULL) {
        for (size_t i = from; i < n; i++) {
            int rc = sr_broker_ack(b, d[i], err);
            if (rc != SR_OK)
                return rc;
        }
        return SR_OK;
    }
    return after(b, b->ops->ack_many(b, d + from, n - from, err), err);
}

void sr_delivery_free(sr_delivery *d)
{
    if (d != NULL)
        d->release(d);
}

void sr_broker_get_stats(const sr_broker *b, sr_broker_stats *stats)
{
    *stats = b->stats;
    stats->connected = b->connected;
    struct timespec now;
    monotonic(&now);
    if (b->connected)
        stats->connected_seconds += since(&b->connected_since, &now);
    double wait = since(&now, &b->next_attempt);
    stats->next_attempt = !b->connected && wait > 0 ? wait : 0;
}

unsigned sr_broker_node_count(const sr_broker *b)
{
    return (unsigned)sr_url_node_count(&b->all);
}
