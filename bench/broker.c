/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench/broker: messages per second through sr's broker layer (lib/broker.h), next to the
 * same broker driven by the bare client library in the same run: the ceiling.
 *
 *   broker AMQP_URL MQTT_URL [MQTT_NODELAY_URL]
 *                                the whole benchmark, against brokers already running
 *                                (bench/broker.py starts private ones); the third URL, a
 *                                mosquitto with set_tcp_nodelay true, adds sr's publish
 *                                rate against it (see MQTT below)
 *   broker ceiling URL N SIZE    the ceiling alone, once, for N messages of SIZE bytes:
 *                                prints "ceiling publish R consume R" (AMQP) or "ceiling
 *                                publish R" (MQTT), in messages/s (bench/flow.py's reference)
 *   broker count URL WHERE N TIMEOUT
 *                                take messages until N came (AMQP: from the existing queue
 *                                WHERE, auto-ack; MQTT: subscribed to the filter WHERE at
 *                                QoS 1); prints "ready" once listening, then "done N T" with
 *                                T the CLOCK_MONOTONIC time of the Nth, or "timeout N T"
 *                                after TIMEOUT seconds without one (bench/flow.py's clock)
 *   SR_BENCH_BROKER_MSGS  messages per run (default 10000)
 *   SR_BENCH_RUNS         runs, the median is shown (default 5)
 *   SR_BENCH_SIZE         bytes of each v03 message body (default 1024)
 *   SR_BENCH_SECONDS      a confirmed publish stops at the first batch boundary past this
 *                         many seconds (default 2), so a slow path cannot make the run
 *                         endless
 *
 * What is compared, per protocol, on the same message (one v03 body, persistent):
 *  publish  sr_broker_publish in batches of 25 and of 100, each batch confirmed (AMQP
 *           publisher confirms, MQTT QoS 1 PUBACKs), against the fastest the client library
 *           can push: AMQP basic.publish in a tight loop on a channel without confirm.select
 *           (timed until the queue holds them all), MQTT QoS 0 (timed until the PUBACK of a
 *           QoS 1 marker sent last, which the broker handles after them). To tell what is
 *           sr's from what is the broker's, the library alone also publishes with confirms
 *           in batches of 25: the most any client that waits for them per batch can do;
 *           for MQTT also with TCP_NODELAY, and with TCP_QUICKACK set before each read,
 *           which is what gets round mosquitto's Nagle-delayed PUBACKs (see the output).
 *           MQTT also with every message in flight (one sr_broker_publish of all N, and a
 *           window of 8 batches of 100), against libmosquitto alone with all N in flight:
 *           the library's best on this broker.
 *  consume  sr_broker_consume + sr_broker_ack + sr_delivery_free per message (prefetch 25,
 *           up to 25 per call as a flow asks; MQTT: receive maximum 25, the PUBACKs held
 *           until all read is acked), against the library's own loop with the same
 *           prefetch (AMQP: amqp_consume_message + basic.ack each; MQTT: libmosquitto's
 *           automatic PUBACK, receive maximum 25).
 * After its text, "figure NAME VALUE" lines give bench/broker.py sr's figures to print
 * Python sr3's beside.
 * AMQP messages go to a durable classic queue bound to the exchange; each publish starts
 * from an empty queue, each consume drains what the publish before it left. MQTT publishes
 * go to a topic nobody subscribes to (mosquitto never queues QoS 0 for an offline session,
 * so that is the only fair ground for QoS 0 against QoS 1); the consumers drain two
 * persistent sessions (one for sr, one for the reference), filled beforehand by
 * libmosquitto with all N messages in flight at once.
 * Runs alternate sr and the reference, so drift on a busy machine hits both alike. Exit 1
 * when something fails.
 */
#include "bench.h"
#include "broker.h"
#include "message.h"
#include "url.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAX_RUNS 99
#define PREFETCH 25
#define TIMEOUT 30.0 /* seconds any single wait may take before the run is called failed */
#define AMQP_EXCHANGE "xs_bench"
#define AMQP_QUEUE "q_bench.broker"
#define AMQP_TOPIC "v03.bench.data"
#define MQTT_PUB_TOPIC "xs_bench/v03/nobody/data" /* no subscriber */
#define MQTT_Q_TOPIC "xs_bench/v03/queued/data"   /* the two sessions' filter matches */
#define MQTT_Q_FILTER "xs_bench/v03/queued/#"
#define SESSION_SR "bench_broker_sr"
#define SESSION_RAW "bench_broker_raw"
#define SESSION_EXPIRY 3600
#define CONTENT_TYPE "application/json"

static void die(const char *what)
{
    fprintf(stderr, "broker: %s\n", what);
    exit(1);
}

/* ---- the message ---- */

/* One v03 message whose encoded body is size bytes (at least what the fields need): the
 * fields an sr3 post carries, then an unknown field of padding, which sr keeps as is. */
static void make_message(size_t size, sr_encoded *out)
{
    const char *head =
        "{\"pubTime\":\"20260301T120000.123456789\",\"baseUrl\":\"https://dd.example.com/\","
        "\"relPath\":\"bench/20260301/WXO/12/CMC_glb_TMP_TGL_2_latlon.15x.15_2026030112_P000."
        "grib2\",\"identity\":{\"method\":\"sha512\",\"value\":\"z4PhNX7vuL3xVChQ1m2AB8Yc0q5aZyf"
        "G+3H4Jk2LmNoPqRsTuVwXyZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS==\"},"
        "\"size\":1048576,\"mtime\":\"20260301T115959.5\",\"atime\":\"20260301T115959.5\","
        "\"mode\":\"644\",\"source\":\"tfeed\",\"pad\":\"";
    size_t pad = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        size_t len = strlen(head) + pad + 2;
        char *text = malloc(len + 1);
        if (text == NULL)
            die("out of memory");
        memcpy(text, head, strlen(head));
        memset(text + strlen(head), 'x', pad);
        memcpy(text + strlen(head) + pad, "\"}", 3);
        sr_message *m;
        sr_err err;
        if (sr_message_decode_v03(text, len, &m, &err) != SR_OK ||
            sr_message_encode(m, SR_FORMAT_V03, out, &err) != SR_OK) {
            fprintf(stderr, "broker: the bench message: %s\n", err.msg);
            exit(1);
        }
        sr_message_free(m);
        free(text);
        if (out->body_len >= size || attempt == 3)
            return;
        pad += size - out->body_len;
        sr_encoded_fini(out);
    }
}

/* ---- sr: lib/broker.h ---- */

static void notify(void *ctx, enum sr_level level, const char *text)
{
    (void)ctx;
    if (level >= SR_LOG_WARNING) /* connections come and go by the dozen: not worth a line */
        fprintf(stderr, "broker: [%s] %s\n", sr_level_name(level), text);
}

static sr_broker *sr_open(const char *url, const char *client_id)
{
    sr_broker_options o = {.url = url,
                           .client_id = client_id,
                           .timeout = TIMEOUT,
                           .prefetch = PREFETCH,
                           .persistent = true,
                           .session_expiry = SESSION_EXPIRY,
                           .backoff_max = 2,
                           .notify = notify};
    sr_err err;
    sr_broker *b = sr_broker_new(&o, &err);
    if (b == NULL)
        die(err.msg);
    return b;
}

/* A publish phase stops at the first batch boundary past this many seconds
 * (SR_BENCH_SECONDS), so a slow path (MQTT confirms, below) cannot make the run endless. */
static double max_seconds = 2;

/* sr publishes up to n messages in batches (*sent says how many); messages/s. With a
 * window of depth batches (depth >= 2), each batch is sent before the confirms of the
 * oldest of the depth - 1 before it are awaited (sr_broker_publish_begin/end); depth 0
 * or 1 waits for each batch (sr_broker_publish). Every message is confirmed before the
 * clock stops. */
#define WINDOW_MAX 16
static double sr_publish_window(const char *url, const char *exchange, const char *topic,
                                const sr_encoded *msg, long n, size_t batch, int depth, long *sent)
{
    sr_broker *b = sr_open(url, NULL);
    sr_err err;
    /* connected (and the exchange declared) before the clock starts */
    if (sr_broker_connect(b, &err) != SR_OK ||
        (!sr_broker_is_mqtt(b) && sr_broker_declare_exchange(b, exchange, &err) != SR_OK))
        die(err.msg);
    if (depth < 1)
        depth = 1;
    if (depth > WINDOW_MAX)
        depth = WINDOW_MAX;
    sr_outgoing *out = calloc(batch, sizeof *out);
    int *status[WINDOW_MAX] = {0};
    sr_publishing *pending[WINDOW_MAX] = {0};
    for (int i = 0; i < depth; i++)
        if ((status[i] = calloc(batch, sizeof(int))) == NULL)
            die("out of memory");
    if (out == NULL)
        die("out of memory");
    for (size_t i = 0; i < batch; i++)
        out[i] = (sr_outgoing){exchange, topic, msg};
    double t0 = sr_time_mono_s();
    long done = 0;
    for (int slot = 0; done < n && sr_time_mono_s() - t0 < max_seconds; slot = (slot + 1) % depth) {
        size_t k = (size_t)(n - done) < batch ? (size_t)(n - done) : batch;
        if (depth == 1) {
            if (sr_broker_publish(b, out, k, status[0], &err) != SR_OK)
                die(err.msg);
        } else {
            /* the slot's previous batch is the oldest outstanding: settle it first */
            if (sr_broker_publish_end(b, pending[slot], &err) != SR_OK ||
                sr_broker_publish_begin(b, out, k, status[slot], &pending[slot], &err) != SR_OK)
                die(err.msg);
        }
        done += (long)k;
    }
    for (int i = 0; i < depth; i++) {
        if (sr_broker_publish_end(b, pending[i], &err) != SR_OK)
            die(err.msg);
        free(status[i]);
    }
    double t = sr_time_mono_s() - t0;
    sr_broker_close(b);
    free(out);
    if (sent != NULL)
        *sent = done;
    return done / t;
}

static double sr_publish(const char *url, const char *exchange, const char *topic,
                         const sr_encoded *msg, long n, size_t batch, long *sent)
{
    return sr_publish_window(url, exchange, topic, msg, n, batch, 1, sent);
}

/* sr consumes and acks n messages (AMQP: from the queue; MQTT: from the session of
 * client_id); messages/s. */
static double sr_consume(const char *url, const char *client_id, long n)
{
    sr_broker *b = sr_open(url, client_id);
    bool mqtt = sr_broker_is_mqtt(b);
    sr_err err;
    /* AMQP: connected before the clock starts. MQTT: a consumer connects in subscribe. */
    if (!mqtt && sr_broker_connect(b, &err) != SR_OK)
        die(err.msg);
    sr_topic_binding bind = {mqtt ? NULL : (char *)AMQP_EXCHANGE,
                             mqtt ? (char *)MQTT_Q_FILTER : (char *)"v03.#"};
    sr_queue_spec q = {.name = AMQP_QUEUE,
                       .declare = true,
                       .bind = true,
                       .durable = true,
                       .bindings = &bind,
                       .binding_count = 1};
    double t0 = sr_time_mono_s();
    if (sr_broker_subscribe(b, &q, &err) != SR_OK)
        die(err.msg);
    for (long done = 0; done < n;) {
        sr_delivery **got = NULL;
        size_t k = 0;
        size_t want = (size_t)(n - done) < PREFETCH ? (size_t)(n - done) : PREFETCH;
        if (sr_broker_consume(b, want, TIMEOUT, &got, &k, &err) != SR_OK)
            die(err.msg);
        if (k == 0) {
            fprintf(stderr, "broker: sr consumer: %ld of %ld messages, then none for %.0f s\n",
                    done, n, TIMEOUT);
            exit(1);
        }
        for (size_t i = 0; i < k; i++) {
            if (sr_broker_ack(b, got[i], &err) != SR_OK)
                die(err.msg);
            sr_delivery_free(got[i]);
        }
        free(got);
        done += (long)k;
    }
    double t = sr_time_mono_s() - t0;
    sr_broker_close(b);
    return n / t;
}

/* ---- the AMQP reference: rabbitmq-c alone ---- */

static void amqp_check(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    fprintf(stderr, "broker: rabbitmq-c: %s failed (reply type %d, %s)\n", what, r.reply_type,
            r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error)
                                                            : "broker exception");
    exit(1);
}

/* A connection with channel 1 open, confirm mode when asked. */
static amqp_connection_state_t raw_amqp_open(const char *text, bool confirms)
{
    sr_url u;
    sr_err err;
    if (sr_url_parse(text, &u, &err) != SR_OK)
        die(err.msg);
    const char *vhost = u.path[0] == '\0' || strcmp(u.path, "/") == 0 ? "/" : u.path + 1;
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = c ? amqp_tcp_socket_new(c) : NULL;
    if (s == NULL || amqp_socket_open(s, u.host, sr_url_port(&u)) != AMQP_STATUS_OK)
        die("rabbitmq-c: cannot connect");
    amqp_check(amqp_login(c, vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 60, AMQP_SASL_METHOD_PLAIN,
                          u.user ? u.user : "guest", u.password ? u.password : "guest"),
               "login");
    amqp_channel_open(c, 1);
    amqp_check(amqp_get_rpc_reply(c), "channel.open");
    if (confirms) {
        amqp_confirm_select(c, 1);
        amqp_check(amqp_get_rpc_reply(c), "confirm.select");
    }
    sr_url_fini(&u);
    return c;
}

static void raw_amqp_close(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Messages ready in the queue (queue.declare passive). */
static long raw_amqp_count(amqp_connection_state_t c, const char *queue)
{
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(c), "queue.declare passive");
    long n = (long)ok->message_count;
    amqp_maybe_release_buffers(c);
    return n;
}

/* The exchange, the durable queue bound to it, emptied. */
static void raw_amqp_setup(const char *url, const char *exchange, const char *queue, bool drop)
{
    amqp_connection_state_t c = raw_amqp_open(url, false);
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes("topic"), 0, 1, 0,
                          0, amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(c), "exchange.declare");
    if (drop) {
        amqp_queue_delete(c, 1, amqp_cstring_bytes(queue), 0, 0);
        amqp_check(amqp_get_rpc_reply(c), "queue.delete");
    } else {
        amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
        amqp_check(amqp_get_rpc_reply(c), "queue.declare");
        amqp_queue_bind(c, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                        amqp_cstring_bytes("#"), amqp_empty_table);
        amqp_check(amqp_get_rpc_reply(c), "queue.bind");
        amqp_queue_purge(c, 1, amqp_cstring_bytes(queue));
        amqp_check(amqp_get_rpc_reply(c), "queue.purge");
    }
    raw_amqp_close(c);
}

/* What sr's backend sends with each message: headers table (empty for v03), persistent,
 * content type. */
static amqp_basic_properties_t raw_amqp_props(void)
{
    amqp_basic_properties_t p = {0};
    p._flags =
        AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    p.headers = amqp_empty_table;
    p.delivery_mode = 2;
    p.content_type = amqp_cstring_bytes(CONTENT_TYPE);
    return p;
}

/* basic.publish n times, no confirms; timed until the queue (empty before) holds all n. */
static double raw_amqp_publish(const char *url, const char *exchange, const char *queue,
                               const sr_encoded *msg, long n)
{
    amqp_connection_state_t c = raw_amqp_open(url, false);
    amqp_basic_properties_t p = raw_amqp_props();
    amqp_bytes_t body = {msg->body_len, msg->body};
    double t0 = sr_time_mono_s();
    for (long i = 0; i < n; i++)
        if (amqp_basic_publish(c, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(AMQP_TOPIC),
                               0, 0, &p, body) != AMQP_STATUS_OK)
            die("rabbitmq-c: basic.publish failed");
    double deadline = sr_time_mono_s() + TIMEOUT;
    while (raw_amqp_count(c, queue) < n) {
        if (sr_time_mono_s() > deadline)
            die("rabbitmq-c: the published messages did not all reach the queue");
        usleep(1000);
    }
    double t = sr_time_mono_s() - t0;
    raw_amqp_close(c);
    return n / t;
}

/* basic.publish in batches with confirms, as sr_broker_publish does, without sr. */
static double raw_amqp_publish_confirmed(const char *url, const char *exchange,
                                         const sr_encoded *msg, long n, long batch)
{
    amqp_connection_state_t c = raw_amqp_open(url, true);
    amqp_basic_properties_t p = raw_amqp_props();
    amqp_bytes_t body = {msg->body_len, msg->body};
    uint64_t seq = 0, confirmed = 0;
    double t0 = sr_time_mono_s();
    long done = 0;
    while (done < n && sr_time_mono_s() - t0 < max_seconds) {
        long k = n - done < batch ? n - done : batch;
        for (long i = 0; i < k; i++)
            if (amqp_basic_publish(c, 1, amqp_cstring_bytes(exchange),
                                   amqp_cstring_bytes(AMQP_TOPIC), 0, 0, &p,
                                   body) != AMQP_STATUS_OK)
                die("rabbitmq-c: basic.publish failed");
        seq += (uint64_t)k;
        while (confirmed < seq) {
            amqp_frame_t f;
            struct timeval tv = {(time_t)TIMEOUT, 0};
            if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK)
                die("rabbitmq-c: no confirm");
            if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                const amqp_basic_ack_t *a = f.payload.method.decoded;
                confirmed = a->delivery_tag; /* multiple or not: in order on one channel */
            } else if (f.frame_type == AMQP_FRAME_METHOD) {
                die("rabbitmq-c: unexpected method while waiting for confirms");
            }
            amqp_maybe_release_buffers(c);
        }
        done += k;
    }
    double t = sr_time_mono_s() - t0;
    raw_amqp_close(c);
    return done / t;
}

/* basic.consume under basic.qos prefetch, basic.ack each, nothing else. */
static double raw_amqp_consume(const char *url, const char *queue, long n)
{
    amqp_connection_state_t c = raw_amqp_open(url, false);
    double t0 = sr_time_mono_s();
    amqp_basic_qos(c, 1, 0, PREFETCH, 0);
    amqp_check(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    amqp_check(amqp_get_rpc_reply(c), "basic.consume");
    for (long done = 0; done < n; done++) {
        amqp_envelope_t e;
        struct timeval tv = {(time_t)TIMEOUT, 0};
        amqp_maybe_release_buffers(c);
        amqp_check(amqp_consume_message(c, &e, &tv, 0), "consuming");
        if (amqp_basic_ack(c, 1, e.delivery_tag, 0) != AMQP_STATUS_OK)
            die("rabbitmq-c: basic.ack failed");
        amqp_destroy_envelope(&e);
    }
    double t = sr_time_mono_s() - t0;
    raw_amqp_close(c);
    return n / t;
}

/* ---- the MQTT reference: libmosquitto alone, in this thread ---- */

typedef struct raw_mqtt {
    struct mosquitto *mosq;
    bool connected;
    int connack;
    int marker_mid;
    bool marker_done;
    bool subscribed;
    long received;
    long acked;  /* PUBACKs received */
    double last; /* CLOCK_MONOTONIC of the last message received */
} raw_mqtt;

static void raw_on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                           const mosquitto_property *props)
{
    (void)m;
    (void)flags;
    (void)props;
    raw_mqtt *r = obj;
    r->connected = true;
    r->connack = rc;
}

static void raw_on_publish(struct mosquitto *m, void *obj, int mid, int reason,
                           const mosquitto_property *props)
{
    (void)m;
    (void)reason;
    (void)props;
    raw_mqtt *r = obj;
    if (mid == r->marker_mid)
        r->marker_done = true;
    r->acked++;
}

static void raw_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                           const mosquitto_property *props)
{
    (void)m;
    (void)msg;
    (void)props;
    raw_mqtt *r = obj;
    r->received++;
    r->last = sr_time_mono_s();
}

static void raw_on_subscribe(struct mosquitto *m, void *obj, int mid, int count, const int *granted,
                             const mosquitto_property *props)
{
    (void)m;
    (void)mid;
    (void)props;
    raw_mqtt *r = obj;
    if (count < 1 || granted[0] >= 128)
        die("libmosquitto: subscription refused");
    r->subscribed = true;
}

/* Run the loop until *flag or the deadline; false on timeout. */
static bool raw_mqtt_until(raw_mqtt *r, const bool *flag, double seconds)
{
    double deadline = sr_time_mono_s() + seconds;
    while (!*flag) {
        int rc = mosquitto_loop(r->mosq, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "broker: libmosquitto: %s\n", mosquitto_strerror(rc));
            exit(1);
        }
        if (sr_time_mono_s() > deadline)
            return false;
    }
    return true;
}

/* A connected v5 client: client_id NULL for a clean one, else that persistent session. */
static void raw_mqtt_open(raw_mqtt *r, const char *text, const char *client_id, int receive_max,
                          bool nodelay)
{
    memset(r, 0, sizeof *r);
    r->marker_mid = -1;
    sr_url u;
    sr_err err;
    if (sr_url_parse(text, &u, &err) != SR_OK)
        die(err.msg);
    r->mosq = mosquitto_new(client_id, client_id == NULL, r);
    if (r->mosq == NULL)
        die("libmosquitto: cannot create a client");
    mosquitto_int_option(r->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(r->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, receive_max);
    mosquitto_int_option(r->mosq, MOSQ_OPT_TCP_NODELAY, nodelay);
    mosquitto_username_pw_set(r->mosq, u.user, u.password);
    mosquitto_connect_v5_callback_set(r->mosq, raw_on_connect);
    mosquitto_publish_v5_callback_set(r->mosq, raw_on_publish);
    mosquitto_message_v5_callback_set(r->mosq, raw_on_message);
    mosquitto_subscribe_v5_callback_set(r->mosq, raw_on_subscribe);
    mosquitto_property *props = NULL;
    if (client_id != NULL)
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, SESSION_EXPIRY);
    int rc = mosquitto_connect_bind_v5(r->mosq, u.host, sr_url_port(&u), 60, NULL, props);
    mosquitto_property_free_all(&props);
    sr_url_fini(&u);
    if (rc != MOSQ_ERR_SUCCESS || !raw_mqtt_until(r, &r->connected, TIMEOUT) || r->connack != 0)
        die("libmosquitto: cannot connect");
}

static void raw_mqtt_close(raw_mqtt *r)
{
    mosquitto_disconnect_v5(r->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
    mosquitto_loop(r->mosq, 100, 1);
    mosquitto_destroy(r->mosq);
    r->mosq = NULL;
}

/* The properties sr's backend sends with a v03 message. */
static mosquitto_property *raw_mqtt_props(void)
{
    mosquitto_property *p = NULL;
    mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, CONTENT_TYPE);
    mosquitto_property_add_byte(&p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    return p;
}

/* n QoS 0 publishes in a tight loop, timed until the PUBACK of a QoS 1 marker sent after
 * them (the broker handles one client's packets in order). */
static double raw_mqtt_publish(const char *url, const char *topic, const sr_encoded *msg, long n)
{
    raw_mqtt r;
    raw_mqtt_open(&r, url, NULL, 65535, false);
    mosquitto_property *p = raw_mqtt_props();
    double t0 = sr_time_mono_s();
    for (long i = 0; i < n; i++) {
        int rc =
            mosquitto_publish_v5(r.mosq, NULL, topic, (int)msg->body_len, msg->body, 0, false, p);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "broker: libmosquitto publish: %s\n", mosquitto_strerror(rc));
            exit(1);
        }
    }
    if (mosquitto_publish_v5(r.mosq, &r.marker_mid, topic, (int)msg->body_len, msg->body, 1, false,
                             p) != MOSQ_ERR_SUCCESS ||
        !raw_mqtt_until(&r, &r.marker_done, TIMEOUT))
        die("libmosquitto: the marker was not acknowledged");
    double t = sr_time_mono_s() - t0;
    mosquitto_property_free_all(&p);
    raw_mqtt_close(&r);
    return n / t;
}

/* How the reference QoS 1 publisher treats its socket. */
enum tcp_tweak {
    TCP_AS_IS,    /* libmosquitto's default, as sr's backend has it */
    TCP_NO_DELAY, /* MOSQ_OPT_TCP_NODELAY: our own writes leave at once */
    TCP_QUICK_ACK /* TCP_QUICKACK set before each read: we ACK the broker's data at once */
};

/* n QoS 1 publishes in batches, each batch's PUBACKs awaited, as sr_broker_publish does,
 * without sr. */
static double raw_mqtt_publish_confirmed(const char *url, const char *topic, const sr_encoded *msg,
                                         long n, long batch, enum tcp_tweak tweak)
{
    raw_mqtt r;
    raw_mqtt_open(&r, url, NULL, 65535, tweak == TCP_NO_DELAY);
    mosquitto_property *p = raw_mqtt_props();
    double t0 = sr_time_mono_s();
    long done = 0;
    while (done < n && sr_time_mono_s() - t0 < max_seconds) {
        long k = n - done < batch ? n - done : batch;
        r.acked = 0;
        for (long i = 0; i < k; i++)
            if (mosquitto_publish_v5(r.mosq, NULL, topic, (int)msg->body_len, msg->body, 1, false,
                                     p) != MOSQ_ERR_SUCCESS)
                die("libmosquitto: publish failed");
        double deadline = sr_time_mono_s() + TIMEOUT;
        while (r.acked < k) {
            if (tweak == TCP_QUICK_ACK) {
                /* Linux leaves quick-ack mode by itself: set it again before each read */
                int one = 1;
                setsockopt(mosquitto_socket(r.mosq), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
            }
            if (mosquitto_loop(r.mosq, 100, 1) != MOSQ_ERR_SUCCESS || sr_time_mono_s() > deadline)
                die("libmosquitto: PUBACKs did not come");
        }
        done += k;
    }
    double t = sr_time_mono_s() - t0;
    mosquitto_property_free_all(&p);
    raw_mqtt_close(&r);
    return done / t;
}

/* Drain n messages from the persistent session client_id: libmosquitto PUBACKs each as it
 * comes, receive maximum as sr's prefetch. */
static double raw_mqtt_consume(const char *url, const char *client_id, long n)
{
    raw_mqtt r;
    double t0 = sr_time_mono_s();
    raw_mqtt_open(&r, url, client_id, PREFETCH, false);
    double deadline = sr_time_mono_s() + TIMEOUT;
    while (r.received < n) {
        long before = r.received;
        int rc = mosquitto_loop(r.mosq, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "broker: libmosquitto: %s\n", mosquitto_strerror(rc));
            exit(1);
        }
        if (r.received > before)
            deadline = sr_time_mono_s() + TIMEOUT;
        else if (sr_time_mono_s() > deadline)
            die("libmosquitto consumer: the messages stopped coming");
    }
    double t = r.last - t0;
    raw_mqtt_close(&r);
    return n / t;
}

/* A persistent session for client_id subscribed to MQTT_Q_FILTER (QoS 1), left offline. */
static void raw_mqtt_session(const char *url, const char *client_id)
{
    raw_mqtt r;
    raw_mqtt_open(&r, url, client_id, PREFETCH, false);
    if (mosquitto_subscribe_v5(r.mosq, NULL, MQTT_Q_FILTER, 1, 0, NULL) != MOSQ_ERR_SUCCESS ||
        !raw_mqtt_until(&r, &r.subscribed, TIMEOUT))
        die("libmosquitto: cannot subscribe");
    raw_mqtt_close(&r);
}

/* ---- report ---- */

static void describe_machine(void)
{
    struct utsname u;
    uname(&u);
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0 && strchr(line, ':') != NULL) {
                snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    printf("machine: %s, %ld cores, Linux %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.release,
           u.machine);
    printf("clients: rabbitmq-c %s, libmosquitto %d.%d.%d\n", amqp_version(), LIBMOSQUITTO_MAJOR,
           LIBMOSQUITTO_MINOR, LIBMOSQUITTO_REVISION);
}

static const char *goal(double ratio, double want)
{
    return ratio >= want ? "met" : "MISSED";
}

typedef struct figures {
    double pub25[MAX_RUNS], pub100[MAX_RUNS], raw_pub[MAX_RUNS], raw_conf[MAX_RUNS];
    double win25[MAX_RUNS], win100[MAX_RUNS], win8[MAX_RUNS], raw_all[MAX_RUNS];
    double raw_conf_nd[MAX_RUNS], con[MAX_RUNS], raw_con[MAX_RUNS];
    double nd25[MAX_RUNS], nd100[MAX_RUNS], raw_nd[MAX_RUNS], raw_conf_qa[MAX_RUNS];
    double all[MAX_RUNS];
} figures;

/* A line bench/broker.py reads (and does not show): sr's figure beside which it prints
 * Python sr3's on the same work. */
static void figure(const char *name, double value)
{
    printf("figure %s %.0f\n", name, value);
}

static void bench_amqp(const char *url, const sr_encoded *msg, long n, int runs)
{
    figures f;
    long k;
    raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, false);
    /* warm-up: connections, the queue's files, both code paths */
    long w = n / 10 > 100 ? n / 10 : 100;
    sr_publish(url, AMQP_EXCHANGE, AMQP_TOPIC, msg, w, 25, &k);
    sr_consume(url, NULL, k);
    raw_amqp_publish(url, AMQP_EXCHANGE, AMQP_QUEUE, msg, w);
    raw_amqp_consume(url, AMQP_QUEUE, w);
    for (int r = 0; r < runs; r++) {
        /* each publish starts from an empty queue; each consume takes what the publish
         * before it left */
        f.pub25[r] = sr_publish(url, AMQP_EXCHANGE, AMQP_TOPIC, msg, n, 25, &k);
        f.con[r] = sr_consume(url, NULL, k);
        f.raw_pub[r] = raw_amqp_publish(url, AMQP_EXCHANGE, AMQP_QUEUE, msg, n);
        f.raw_con[r] = raw_amqp_consume(url, AMQP_QUEUE, n);
        f.pub100[r] = sr_publish(url, AMQP_EXCHANGE, AMQP_TOPIC, msg, n, 100, NULL);
        raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, false); /* purge */
        f.win25[r] = sr_publish_window(url, AMQP_EXCHANGE, AMQP_TOPIC, msg, n, 25, 2, NULL);
        raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, false);
        f.win100[r] = sr_publish_window(url, AMQP_EXCHANGE, AMQP_TOPIC, msg, n, 100, 2, NULL);
        raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, false);
        f.win8[r] = sr_publish_window(url, AMQP_EXCHANGE, AMQP_TOPIC, msg, n, 100, 8, NULL);
        raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, false);
        f.raw_conf[r] = raw_amqp_publish_confirmed(url, AMQP_EXCHANGE, msg, n, 25);
        raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, false);
        fprintf(stderr, "broker: amqp run %d/%d done\n", r + 1, runs);
    }
    raw_amqp_setup(url, AMQP_EXCHANGE, AMQP_QUEUE, true);
    double p25 = median(f.pub25, runs), p100 = median(f.pub100, runs);
    double w25 = median(f.win25, runs), w100 = median(f.win100, runs), w8 = median(f.win8, runs);
    double rp = median(f.raw_pub, runs), rc = median(f.raw_conf, runs);
    double c = median(f.con, runs), rcon = median(f.raw_con, runs);
    printf("AMQP publish (to a durable classic queue, persistent messages)\n");
    printf("  sr_broker_publish, confirms, batch 25    %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           p25, p25 / rp, goal(p25 / rp, 0.7));
    printf("  sr_broker_publish, confirms, batch 100   %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           p100, p100 / rp, goal(p100 / rp, 0.7));
    printf("  the same, window of 2 batches of 25      %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           w25, w25 / rp, goal(w25 / rp, 0.7));
    printf("  the same, window of 2 batches of 100     %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           w100, w100 / rp, goal(w100 / rp, 0.7));
    printf("  the same, window of 8 batches of 100     %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           w8, w8 / rp, goal(w8 / rp, 0.7));
    printf("    (window: sr_broker_publish_begin sends a batch before sr_broker_publish_end "
           "waits for the oldest outstanding one)\n");
    printf("  ceiling: rabbitmq-c basic.publish, no confirm.select  %8.0f msg/s\n", rp);
    printf("  rabbitmq-c alone, confirms, batch 25     %8.0f msg/s   ratio to the ceiling %.2f: "
           "what waiting for\n"
           "    the broker's confirms costs any client; sr batch 25 / this = %.2f\n",
           rc, rc / rp, p25 / rc);
    if (p25 / rp < 0.7 && p25 / rc >= 0.9)
        printf("    => the broker's confirms bind, not sr: a client that waits for them per batch "
               "gets no more\n");
    printf("AMQP consume (prefetch %d, an ack per message)\n", PREFETCH);
    printf("  sr_broker_consume + ack                  %8.0f msg/s   ratio sr/ceiling %.2f\n", c,
           c / rcon);
    printf("  ceiling: rabbitmq-c consume + basic.ack  %8.0f msg/s\n", rcon);
    figure("amqp_publish", p25);
    figure("amqp_consume", c);
    fflush(stdout);
}

static void bench_mqtt(const char *url, const char *nodelay_url, const sr_encoded *msg, long n,
                       int runs)
{
    figures f;
    /* the two persistent sessions the consumers drain, subscribed before anything is sent */
    sr_broker *b = sr_open(url, SESSION_SR);
    sr_topic_binding bind = {NULL, (char *)MQTT_Q_FILTER};
    sr_queue_spec q = {.name = SESSION_SR, .bindings = &bind, .binding_count = 1};
    sr_err err;
    if (sr_broker_subscribe(b, &q, &err) != SR_OK)
        die(err.msg);
    sr_broker_close(b);
    raw_mqtt_session(url, SESSION_RAW);

    long w = n / 10 > 100 ? n / 10 : 100;
    sr_publish(url, NULL, MQTT_PUB_TOPIC, msg, w, 25, NULL);
    raw_mqtt_publish(url, MQTT_PUB_TOPIC, msg, w);
    raw_mqtt_publish_confirmed(url, MQTT_Q_TOPIC, msg, w, w, TCP_AS_IS);
    sr_consume(url, SESSION_SR, w);
    raw_mqtt_consume(url, SESSION_RAW, w);
    for (int r = 0; r < runs; r++) {
        f.pub25[r] = sr_publish(url, NULL, MQTT_PUB_TOPIC, msg, n, 25, NULL);
        f.raw_pub[r] = raw_mqtt_publish(url, MQTT_PUB_TOPIC, msg, n);
        f.pub100[r] = sr_publish(url, NULL, MQTT_PUB_TOPIC, msg, n, 100, NULL);
        f.raw_conf[r] = raw_mqtt_publish_confirmed(url, MQTT_PUB_TOPIC, msg, n, 25, TCP_AS_IS);
        f.raw_conf_nd[r] =
            raw_mqtt_publish_confirmed(url, MQTT_PUB_TOPIC, msg, n, 25, TCP_NO_DELAY);
        f.raw_conf_qa[r] =
            raw_mqtt_publish_confirmed(url, MQTT_PUB_TOPIC, msg, n, 25, TCP_QUICK_ACK);
        f.raw_all[r] = raw_mqtt_publish_confirmed(url, MQTT_PUB_TOPIC, msg, n, n, TCP_QUICK_ACK);
        f.all[r] = sr_publish(url, NULL, MQTT_PUB_TOPIC, msg, n, (size_t)n, NULL);
        f.win8[r] = sr_publish_window(url, NULL, MQTT_PUB_TOPIC, msg, n, 100, 8, NULL);
        if (nodelay_url != NULL) {
            f.nd25[r] = sr_publish(nodelay_url, NULL, MQTT_PUB_TOPIC, msg, n, 25, NULL);
            f.nd100[r] = sr_publish(nodelay_url, NULL, MQTT_PUB_TOPIC, msg, n, 100, NULL);
            f.raw_nd[r] =
                raw_mqtt_publish_confirmed(nodelay_url, MQTT_PUB_TOPIC, msg, n, 25, TCP_AS_IS);
        }
        /* n messages into both sessions: one window of QoS 1, not stopping per batch */
        raw_mqtt_publish_confirmed(url, MQTT_Q_TOPIC, msg, n, n, TCP_AS_IS);
        f.con[r] = sr_consume(url, SESSION_SR, n);
        f.raw_con[r] = raw_mqtt_consume(url, SESSION_RAW, n);
        fprintf(stderr, "broker: mqtt run %d/%d done\n", r + 1, runs);
    }
    double p25 = median(f.pub25, runs), p100 = median(f.pub100, runs);
    double rp = median(f.raw_pub, runs);
    double rc = median(f.raw_conf, runs), rcn = median(f.raw_conf_nd, runs);
    double rcq = median(f.raw_conf_qa, runs), rall = median(f.raw_all, runs);
    double c = median(f.con, runs), rcon = median(f.raw_con, runs);
    double all = median(f.all, runs), w8 = median(f.win8, runs);
    printf("MQTT publish (MQTT 5, to a topic nobody subscribes to)\n");
    printf("  sr_broker_publish, QoS 1, all %ld in flight %8.0f msg/s   ratio sr/libmosquitto's "
           "best %.2f (goal >= 0.9: %s)\n",
           n, all, all / rall, goal(all / rall, 0.9));
    printf("  the same, window of 8 batches of 100     %8.0f msg/s   ratio sr/libmosquitto's best "
           "%.2f\n",
           w8, w8 / rall);
    printf("    (libmosquitto's best: libmosquitto alone, QoS 1, all in flight, below)\n");
    printf("  sr_broker_publish, QoS 1, batch 25       %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           p25, p25 / rp, goal(p25 / rp, 0.7));
    printf("  sr_broker_publish, QoS 1, batch 100      %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           p100, p100 / rp, goal(p100 / rp, 0.7));
    printf("  ceiling: libmosquitto QoS 0, tight loop  %8.0f msg/s\n", rp);
    printf("  libmosquitto alone, QoS 1, batch 25      %8.0f msg/s   (sr batch 25 / this = %.2f)\n",
           rc, p25 / rc);
    printf("  the same with TCP_NODELAY on the client  %8.0f msg/s\n", rcn);
    printf(
        "  the same with TCP_QUICKACK before each read %5.0f msg/s   ratio to the ceiling %.2f\n",
        rcq, rcq / rp);
    printf("  libmosquitto alone, QoS 1, all %ld in flight at once %5.0f msg/s   ratio to the "
           "ceiling %.2f:\n"
           "    the most any QoS 1 publisher gets from this broker, however it batches; "
           "sr batch 25 / this = %.2f\n",
           n, rall, rall / rp, p25 / rall);
    if (rall / rp < 0.9)
        printf("    => the broker binds QoS 1: libmosquitto alone with every message in flight "
               "gets %.2f of its QoS 0 rate\n",
               rall / rp);
    if (nodelay_url != NULL) {
        double nd25 = median(f.nd25, runs), nd100 = median(f.nd100, runs);
        double rnd = median(f.raw_nd, runs);
        printf("  against a mosquitto with set_tcp_nodelay true:\n");
        printf("    sr_broker_publish, QoS 1, batch 25     %8.0f msg/s   ratio sr/ceiling %.2f\n",
               nd25, nd25 / rp);
        printf("    sr_broker_publish, QoS 1, batch 100    %8.0f msg/s   ratio sr/ceiling %.2f\n",
               nd100, nd100 / rp);
        printf("    libmosquitto alone, QoS 1, batch 25    %8.0f msg/s   (sr batch 25 / this = "
               "%.2f)\n",
               rnd, nd25 / rnd);
        if (nd25 > 3 * p25)
            printf("    => with mosquitto's default (set_tcp_nodelay false) its PUBACKs after the "
                   "first of a batch wait\n"
                   "       behind Nagle for the client's delayed ACK (~40 ms, once per batch); "
                   "a client that ACKs at\n"
                   "       once (TCP_QUICKACK before each read) or a broker with "
                   "set_tcp_nodelay true avoids it\n");
    }
    printf("MQTT consume (persistent session, QoS 1, receive maximum %d)\n", PREFETCH);
    printf("  sr_broker_consume (up to %d) + ack each  %8.0f msg/s   ratio sr/ceiling %.2f "
           "(goal >= 0.7: %s)\n",
           PREFETCH, c, c / rcon, goal(c / rcon, 0.7));
    printf("    (PUBACKs held until every message read is acked, then written together, in "
           "order)\n");
    printf("  ceiling: libmosquitto, PUBACK at once, receive maximum %d  %8.0f msg/s\n", PREFETCH,
           rcon);
    figure("mqtt_publish", p25);
    figure("mqtt_publish_all", all);
    figure("mqtt_consume", c);
    fflush(stdout);
}

/* ---- the modes bench/flow.py uses ---- */

static int ceiling_mode(const char *url, long n, long size)
{
    sr_encoded msg;
    make_message((size_t)size, &msg);
    if (strncmp(url, "mqtt", 4) == 0) {
        raw_mqtt_publish(url, MQTT_PUB_TOPIC, &msg, n / 10 > 100 ? n / 10 : 100);
        printf("ceiling publish %.0f\n", raw_mqtt_publish(url, MQTT_PUB_TOPIC, &msg, n));
    } else {
        const char *ex = "xs_bench_ceiling", *q = "q_bench.ceiling";
        raw_amqp_setup(url, ex, q, false);
        double p = raw_amqp_publish(url, ex, q, &msg, n);
        double c = raw_amqp_consume(url, q, n);
        raw_amqp_setup(url, ex, q, true);
        printf("ceiling publish %.0f consume %.0f\n", p, c);
    }
    sr_encoded_fini(&msg);
    return 0;
}

static int count_mode(const char *url, const char *where, long n, double timeout)
{
    long got = 0;
    double last = 0;
    if (strncmp(url, "mqtt", 4) == 0) {
        raw_mqtt r;
        raw_mqtt_open(&r, url, NULL, 65535, false);
        if (mosquitto_subscribe_v5(r.mosq, NULL, where, 1, 0, NULL) != MOSQ_ERR_SUCCESS ||
            !raw_mqtt_until(&r, &r.subscribed, TIMEOUT))
            die("libmosquitto: cannot subscribe");
        printf("ready\n");
        fflush(stdout);
        double deadline = sr_time_mono_s() + timeout;
        while (r.received < n && sr_time_mono_s() < deadline) {
            long before = r.received;
            if (mosquitto_loop(r.mosq, 100, 1) != MOSQ_ERR_SUCCESS)
                die("libmosquitto: connection lost");
            if (r.received > before)
                deadline = sr_time_mono_s() + timeout;
        }
        got = r.received;
        last = r.last;
        raw_mqtt_close(&r);
    } else {
        amqp_connection_state_t c = raw_amqp_open(url, false);
        amqp_basic_consume(c, 1, amqp_cstring_bytes(where), amqp_empty_bytes, 0, 1, 0,
                           amqp_empty_table);
        amqp_check(amqp_get_rpc_reply(c), "basic.consume");
        printf("ready\n");
        fflush(stdout);
        while (got < n) {
            amqp_envelope_t e;
            struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (long)timeout) * 1e6)};
            amqp_maybe_release_buffers(c);
            amqp_rpc_reply_t rr = amqp_consume_message(c, &e, &tv, 0);
            if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                rr.library_error == AMQP_STATUS_TIMEOUT)
                break;
            amqp_check(rr, "consuming");
            amqp_destroy_envelope(&e);
            got++;
            last = sr_time_mono_s();
        }
        raw_amqp_close(c);
    }
    printf(got >= n ? "done %ld %.6f\n" : "timeout %ld %.6f\n", got, last);
    return got >= n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "ceiling") == 0) {
        mosquitto_lib_init();
        return ceiling_mode(argv[2], atol(argv[3]), atol(argv[4]));
    }
    if (argc == 6 && strcmp(argv[1], "count") == 0) {
        mosquitto_lib_init();
        return count_mode(argv[2], argv[3], atol(argv[4]), atof(argv[5]));
    }
    if (argc < 3 || argc > 4 || argv[1][0] == '-') {
        fprintf(stderr,
                "usage: broker AMQP_URL MQTT_URL [MQTT_NODELAY_URL]  (SR_BENCH_BROKER_MSGS, "
                "SR_BENCH_RUNS, SR_BENCH_SIZE, SR_BENCH_SECONDS)\n"
                "       broker ceiling URL N SIZE\n"
                "       broker count URL QUEUE|FILTER N TIMEOUT\n");
        return 2;
    }
    long n = env_long("broker", "SR_BENCH_BROKER_MSGS", 10000, 100, 10000000L);
    int runs = (int)env_long("broker", "SR_BENCH_RUNS", 5, 1, MAX_RUNS);
    long size = env_long("broker", "SR_BENCH_SIZE", 1024, 300, 65536);
    max_seconds = (double)env_long("broker", "SR_BENCH_SECONDS", 2, 1, 3600);
    mosquitto_lib_init();
    sr_encoded msg;
    make_message((size_t)size, &msg);
    describe_machine();
    printf("data:    one v03 message of %zu bytes (%s), %ld per run (a confirmed publish stops "
           "at the first\n"
           "         batch past %.0f s)\n",
           msg.body_len, CONTENT_TYPE, n, max_seconds);
    printf("figures: median of %d runs, wall clock, sr and the reference alternating\n", runs);
    fflush(stdout);
    bench_amqp(argv[1], &msg, n, runs);
    bench_mqtt(argv[2], argc > 3 ? argv[3] : NULL, &msg, n, runs);
    sr_encoded_fini(&msg);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld KiB (this process: sr and the references)\n", ru.ru_maxrss);
    return 0;
}
