/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_broker_tool: the broker layer (lib/broker.h) from the command line, for the
 * integration tests and for poking at a broker by hand. Not installed.
 *
 *   sr_broker_tool publish URL EXCHANGE TOPIC [options] < messages
 *       one v03 JSON message per input line; published with confirms, in batches of
 *       --batch (default 25); prints "published N" or the errors
 *   sr_broker_tool consume URL [options]
 *       prints each message received as one JSON line {"topic", "exchange",
 *       "content_type", "redelivered", "body", "headers"}, acking it unless --no-ack
 *   sr_broker_tool delete URL QUEUE
 *
 * options: --queue Q  --bind EXCHANGE:KEY (repeat; MQTT: the filter as KEY)  --max N
 *          (stop after N messages)  --timeout S (stop after S seconds without one)
 *          --prefetch N  --client-id ID  --expire S  --v02  --batch N  --no-ack
 *          --tls lax|normal|strict  --hold S (sleep S seconds after receiving, before
 *          acking: a test can kill the process while it holds unacked messages)
 *          --heartbeat S (AMQP heartbeat, MQTT keepalive; default the broker layer's)
 * publish only: --retry (publish the messages of a failed batch again, 0.2 s later, until
 *          they go: what a flow's retry queue does)  --pause S (wait S seconds between
 *          batches, polling the connection every 0.1 s as a flow's idle passes do)  --echo (print each message the broker took, once it took it, as a
 *          JSON line like consume's, without "redelivered")  --no-declare (do not declare
 *          EXCHANGE first)  --window (send each batch before waiting for the confirms of
 *          the one before: sr_broker_publish_begin/end with one batch outstanding)
 * consume only: --ack-all-but K (ack nothing until --max messages are in, then ack them
 *          all with one sr_broker_ack_many but the K-th, counted from 0, which is left
 *          unacked: the broker sends it again after the process ends)  --decode (add "message": the message decoded and encoded again as v03
 *          JSON, or "decode_error": why it does not decode)  --queue-type T (AMQP
 *          x-queue-type: classic or quorum)
 * Broker events (connected, lost) go to stderr. Exit 0 on success, 1 on failure.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "message.h"

typedef struct tool_options {
    const char *queue, *client_id, *queue_type;
    sr_topic_binding binds[16];
    size_t bind_count;
    long max;
    long ack_all_but; /* -1: not asked */
    double timeout, expire, hold, pause, heartbeat;
    unsigned prefetch, batch;
    bool v02, no_ack, retry, echo, decode, no_declare, window;
    enum sr_tls_rigour tls;
} tool_options;

static void notify(void *ctx, enum sr_level level, const char *text)
{
    (void)ctx;
    fprintf(stderr, "[%s] %s\n", sr_level_name(level), text);
}

static int parse_options(int argc, char **argv, tool_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout = 5;
    o->ack_all_but = -1;
    o->batch = 25;
    o->prefetch = 25; /* sr3's and sr's default prefetch */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--window") == 0) {
            o->window = true;
            continue;
        }
        if (strcmp(a, "--v02") == 0) {
            o->v02 = true;
            continue;
        }
        if (strcmp(a, "--no-ack") == 0) {
            o->no_ack = true;
            continue;
        }
        if (strcmp(a, "--retry") == 0) {
            o->retry = true;
            continue;
        }
        if (strcmp(a, "--echo") == 0) {
            o->echo = true;
            continue;
        }
        if (strcmp(a, "--no-declare") == 0) {
            o->no_declare = true;
            continue;
        }
        if (strcmp(a, "--decode") == 0) {
            o->decode = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "sr_broker_tool: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--queue") == 0) {
            o->queue = v;
        } else if (strcmp(a, "--queue-type") == 0) {
            o->queue_type = v;
        } else if (strcmp(a, "--client-id") == 0) {
            o->client_id = v;
        } else if (strcmp(a, "--bind") == 0 && o->bind_count < 16) {
            const char *colon = strchr(v, ':');
            if (colon == NULL) {
                fprintf(stderr, "sr_broker_tool: --bind EXCHANGE:KEY, got %s\n", v);
                return -1;
            }
            o->binds[o->bind_count].exchange = strndup(v, (size_t)(colon - v));
            o->binds[o->bind_count++].key = strdup(colon + 1);
        } else if (strcmp(a, "--ack-all-but") == 0) {
            o->ack_all_but = atol(v);
        } else if (strcmp(a, "--max") == 0) {
            o->max = atol(v);
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout = atof(v);
        } else if (strcmp(a, "--expire") == 0) {
            o->expire = atof(v);
        } else if (strcmp(a, "--hold") == 0) {
            o->hold = atof(v);
        } else if (strcmp(a, "--pause") == 0) {
            o->pause = atof(v);
        } else if (strcmp(a, "--heartbeat") == 0) {
            o->heartbeat = atof(v);
        } else if (strcmp(a, "--prefetch") == 0) {
            o->prefetch = (unsigned)atoi(v);
        } else if (strcmp(a, "--batch") == 0) {
            o->batch = (unsigned)atoi(v);
        } else if (strcmp(a, "--tls") == 0) {
            o->tls = strcmp(v, "lax") == 0      ? SR_TLS_LAX
                     : strcmp(v, "strict") == 0 ? SR_TLS_STRICT
                                                : SR_TLS_NORMAL;
        } else {
            fprintf(stderr, "sr_broker_tool: unknown option %s\n", a);
            return -1;
        }
    }
    return 0;
}

/* The wire fields of a message as a JSON object (NULL if the body is not UTF-8). */
static json_t *wire_json(const sr_wire *w, const char *exchange)
{
    json_t *headers = json_object();
    for (size_t i = 0; i < w->header_count; i++)
        json_object_set_new(headers, w->headers[i].name, json_string(w->headers[i].value));
    return json_pack("{s:s?, s:s?, s:s?, s:s%, s:o}", "topic", w->topic, "exchange", exchange,
                     "content_type", w->content_type, "body", w->body, w->body_len, "headers",
                     headers);
}

static void print_json(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", text ? text : "{\"error\": \"body is not UTF-8\"}");
    fflush(stdout);
    free(text);
    json_decref(o);
}

/* One batch: its messages, and while it is outstanding (--window) its publish. */
typedef struct out_batch {
    sr_encoded *encoded;
    sr_outgoing *out;
    int *status;
    size_t n;
    sr_publishing *pending;
} out_batch;

/* After a publish of bt: echo and count what the broker took, keep the rest at the front
 * of bt->encoded; returns how many are left. */
static size_t settle(out_batch *bt, const char *exchange, const char *topic, const tool_options *o,
                     size_t *published)
{
    size_t keep = 0;
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->status[i] != SR_OK) {
            bt->encoded[keep++] = bt->encoded[i];
            continue;
        }
        (*published)++;
        if (o->echo) {
            sr_encoded *e = &bt->encoded[i];
            sr_wire w = {e->body, e->body_len, e->content_type, topic, e->headers, e->header_count};
            print_json(wire_json(&w, exchange));
        }
        sr_encoded_fini(&bt->encoded[i]);
    }
    bt->n = keep;
    return keep;
}

static void address(out_batch *bt, const char *exchange, const char *topic)
{
    for (size_t i = 0; i < bt->n; i++)
        bt->out[i] = (sr_outgoing){exchange, topic, &bt->encoded[i]};
}

/* The messages of bt not published, given up: how many. */
static size_t drop_rest(out_batch *bt)
{
    size_t failed = bt->n;
    for (size_t i = 0; i < bt->n; i++)
        sr_encoded_fini(&bt->encoded[i]);
    bt->n = 0;
    return failed;
}

/* Publish bt (retrying the failed ones with --retry, each round waited for); returns how
 * many failed for good, and finalises them all. */
static size_t publish_batch(sr_broker *b, const char *exchange, const char *topic, out_batch *bt,
                            const tool_options *o, size_t *published)
{
    sr_err err;
    while (bt->n > 0) {
        address(bt, exchange, topic);
        if (sr_broker_publish(b, bt->out, bt->n, bt->status, &err) != SR_OK)
            fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
        if (settle(bt, exchange, topic, o, published) == 0 || !o->retry)
            break;
        usleep(200000);
    }
    return drop_rest(bt);
}

/* --window: wait for the outstanding batch, then deal with it as publish_batch does. */
static size_t finish_window(sr_broker *b, const char *exchange, const char *topic, out_batch *bt,
                            const tool_options *o, size_t *published)
{
    if (bt->pending == NULL)
        return 0;
    sr_err err;
    if (sr_broker_publish_end(b, bt->pending, &err) != SR_OK)
        fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
    bt->pending = NULL;
    if (settle(bt, exchange, topic, o, published) == 0 || !o->retry)
        return drop_rest(bt);
    usleep(200000);
    return publish_batch(b, exchange, topic, bt, o, published);
}

/* Wait seconds as a flow with nothing to do: sr_broker_poll every 0.1 s. */
static void idle(sr_broker *b, double seconds)
{
    for (double waited = 0; waited < seconds; waited += 0.1) {
        sr_err err;
        if (sr_broker_poll(b, &err) != SR_OK)
            fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
        usleep(100000);
    }
}

static int publish(sr_broker *b, const char *exchange, const char *topic, const tool_options *o)
{
    sr_err err;
    if (!sr_broker_is_mqtt(b) && !o->no_declare &&
        sr_broker_declare_exchange(b, exchange, &err) != SR_OK) {
        fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
        return 1;
    }
    unsigned size = o->batch ? o->batch : 1;
    out_batch two[2];
    for (int k = 0; k < 2; k++)
        two[k] = (out_batch){calloc(size, sizeof(sr_encoded)), calloc(size, sizeof(sr_outgoing)),
                         calloc(size, sizeof(int)), 0, NULL};
    out_batch *cur = &two[0], *prev = &two[1];
    char *line = NULL;
    size_t cap = 0, published = 0, failed = 0, lineno = 0;
    int result = 0;
    for (;;) {
        ssize_t len = getline(&line, &cap, stdin);
        if (len > 0) {
            lineno++;
            sr_message *m = NULL;
            if (sr_message_decode_v03(line, (size_t)len, &m, &err) != SR_OK ||
                sr_message_encode(m, o->v02 ? SR_FORMAT_V02 : SR_FORMAT_V03, &cur->encoded[cur->n],
                                  &err) != SR_OK) {
                fprintf(stderr, "sr_broker_tool: input line %zu: %s\n", lineno, err.msg);
                sr_message_free(m);
                result = 1;
                continue;
            }
            sr_message_free(m);
            cur->n++;
        }
        if (cur->n > 0 && (cur->n == size || len <= 0)) {
            if (!o->window) {
                failed += publish_batch(b, exchange, topic, cur, o, &published);
            } else {
                address(cur, exchange, topic);
                if (sr_broker_publish_begin(b, cur->out, cur->n, cur->status, &cur->pending,
                                            &err) != SR_OK)
                    fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
                failed += finish_window(b, exchange, topic, prev, o, &published);
                out_batch *t = prev;
                prev = cur;
                cur = t;
            }
            if (o->pause > 0 && len > 0)
                idle(b, o->pause);
        }
        if (len <= 0)
            break;
    }
    failed += finish_window(b, exchange, topic, prev, o, &published);
    free(line);
    for (int k = 0; k < 2; k++) {
        free(two[k].encoded);
        free(two[k].out);
        free(two[k].status);
    }
    printf("published %zu\n", published);
    if (failed)
        printf("failed %zu\n", failed);
    return result || failed ? 1 : 0;
}

static void print_delivery(const sr_delivery *d, const tool_options *o)
{
    json_t *j = wire_json(&d->wire, d->exchange);
    if (j != NULL)
        json_object_set_new(j, "redelivered", json_boolean(d->redelivered));
    if (j != NULL && o->decode) {
        sr_message *m = NULL;
        sr_encoded e = {0};
        sr_err err;
        json_t *decoded = NULL;
        if (sr_message_decode(&d->wire, &m, &err) == SR_OK &&
            sr_message_encode(m, SR_FORMAT_V03, &e, &err) == SR_OK)
            decoded = json_loadb(e.body, e.body_len, 0, NULL);
        if (decoded != NULL)
            json_object_set_new(j, "message", decoded);
        else
            json_object_set_new(j, "decode_error", json_string(err.msg));
        sr_encoded_fini(&e);
        sr_message_free(m);
    }
    print_json(j);
}

static int consume(sr_broker *b, const tool_options *o)
{
    sr_err err;
    sr_queue_spec q = {.name = o->queue,
                       .declare = true,
                       .bind = true,
                       .durable = true,
                       .expire = o->expire,
                       .queue_type = o->queue_type,
                       .bindings = o->binds,
                       .binding_count = o->bind_count};
    if (sr_broker_subscribe(b, &q, &err) != SR_OK) {
        fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
        return 1;
    }
    printf("{\"subscribed\": true}\n");
    fflush(stdout);
    long received = 0;
    sr_delivery **kept = NULL; /* --ack-all-but: every delivery until the end */
    if (o->ack_all_but >= 0 && (o->max <= 0 || (kept = calloc((size_t)o->max, sizeof *kept)) == NULL)) {
        fprintf(stderr, "sr_broker_tool: --ack-all-but needs --max\n");
        return 2;
    }
    while (o->max == 0 || received < o->max) {
        sr_delivery **batch = NULL;
        size_t got = 0;
        size_t want = o->max ? (size_t)(o->max - received) : 100;
        int rc = sr_broker_consume(b, want, o->timeout, &batch, &got, &err);
        if (rc != SR_OK && rc != SR_ECONN) {
            fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
            return 1;
        }
        if (rc == SR_ECONN) {
            fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
            sleep(1);
            continue;
        }
        if (got == 0)
            break; /* --timeout seconds without a message */
        for (size_t i = 0; i < got; i++)
            print_delivery(batch[i], o);
        if (o->hold > 0)
            usleep((useconds_t)(o->hold * 1e6));
        for (size_t i = 0; i < got && kept != NULL; i++)
            kept[received + (long)i] = batch[i];
        for (size_t i = 0; i < got && kept == NULL; i++) {
            if (!o->no_ack && sr_broker_ack(b, batch[i], &err) != SR_OK)
                fprintf(stderr, "sr_broker_tool: ack: %s\n", err.msg);
            sr_delivery_free(batch[i]);
        }
        free(batch);
        received += (long)got;
    }
    if (kept != NULL) {
        sr_delivery **acks = calloc((size_t)received + 1, sizeof *acks);
        size_t n = 0;
        for (long i = 0; acks != NULL && i < received; i++)
            if (i != o->ack_all_but)
                acks[n++] = kept[i];
        if (acks == NULL || sr_broker_ack_many(b, acks, n, &err) != SR_OK)
            fprintf(stderr, "sr_broker_tool: ack: %s\n", acks ? err.msg : "out of memory");
        for (long i = 0; i < received; i++)
            sr_delivery_free(kept[i]);
        free(acks);
        free(kept);
    }
    fprintf(stderr, "received %ld\n", received);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sr_broker_tool publish|consume|delete URL ...\n");
        return 2;
    }
    const char *verb = argv[1];
    int fixed = strcmp(verb, "publish") == 0 ? 5 : strcmp(verb, "delete") == 0 ? 4 : 3;
    if (argc < fixed) {
        fprintf(stderr, "sr_broker_tool: %s: missing arguments\n", verb);
        return 2;
    }
    tool_options o;
    if (parse_options(argc - fixed, argv + fixed, &o) != 0)
        return 2;
    sr_broker_options bo = {.url = argv[2],
                            .client_id = o.client_id,
                            .tls = o.tls,
                            .prefetch = o.prefetch,
                            .heartbeat = o.heartbeat,
                            .persistent = true,
                            .session_expiry = o.expire ? o.expire : 86400,
                            .timeout = 10,
                            .backoff_max = 4,
                            .notify = notify};
    sr_err err;
    sr_broker *b = sr_broker_new(&bo, &err);
    if (b == NULL) {
        fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
        return 1;
    }
    int rc;
    if (strcmp(verb, "publish") == 0) {
        rc = publish(b, argv[3], argv[4], &o);
    } else if (strcmp(verb, "consume") == 0) {
        rc = consume(b, &o);
    } else if (strcmp(verb, "delete") == 0) {
        rc = sr_broker_delete_queue(b, argv[3], &err) == SR_OK ? 0 : 1;
        if (rc)
            fprintf(stderr, "sr_broker_tool: %s\n", err.msg);
    } else {
        fprintf(stderr, "sr_broker_tool: unknown verb %s\n", verb);
        rc = 2;
    }
    sr_broker_close(b);
    for (size_t i = 0; i < o.bind_count; i++)
        sr_topic_binding_fini(&o.binds[i]);
    return rc;
}
