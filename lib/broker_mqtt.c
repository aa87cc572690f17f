/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker_mqtt: the MQTT 5 / 3.1.1 backend of broker.h, on libmosquitto 2.0.
 *
 * One connection = one mqtt_conn: a struct mosquitto, the network thread that runs its
 * loop, and the state the thread shares with the caller under conn->lock. A connection is
 * never reused: broker.c's reconnect makes a new one, so nothing of libmosquitto's own
 * session state (unacked outgoing messages it would resend) outlives a connection.
 *
 * Protocol: MQTT 5 first; a broker that answers "unsupported protocol version" (the v5
 * reason code, or a v3 CONNACK with return code 1, which a 3.1.1-only broker sends) gets
 * MQTT 3.1.1 at once and on every later reconnect. 3.1.1 has no properties: no content
 * type (message.h reads the JSON body without one), no v02 headers (such a message fails
 * with SR_EINVAL), no session expiry (a 3.1.1 persistent session lasts until the broker's
 * persistent_client_expiration), no receive maximum.
 *
 * Consumers: clean start off, SessionExpiryInterval = session_expiry (sr3 sends none, so
 * its sessions end on disconnect; conf.d sets `expire 1d`), ReceiveMaximum = prefetch,
 * QoS 1 subscriptions to each binding's filter ($share/<queue>/... from topic.h).
 * Publishers: clean start on, QoS 1, retain never, ContentType, PayloadFormatIndicator 1,
 * user properties for v02 headers, MessageExpiryInterval when message_expiry is set.
 *
 * Acks after work. libmosquitto 2.0 has no manual ack: handle__publish queues the PUBACK
 * of a QoS 1 message (packet__queue: with mosquitto_threaded_set it is only queued) and
 * then calls on_message; the PUBACK leaves when the loop next writes, and a write sends
 * the whole out queue in receipt order. So our network thread runs the loop's parts
 * itself (mosquitto_loop_read / _misc / _write, public API) instead of mosquitto_loop:
 *  - it reads whenever the broker sends: on_message copies each message into the list of
 *    deliveries read and returns at once, so up to the receive maximum (= prefetch) are
 *    in flight, and sr_broker_consume hands over up to max of them in one call;
 *  - it writes (mosquitto_loop_write) only when every delivery read on this connection
 *    has been acked: the queued PUBACKs are then exactly those of acked messages, in the
 *    order MQTT requires. An acked prefix cannot be written alone (libmosquitto writes
 *    its whole queue), so the acks of a pass leave when its last one is acked. A caller
 *    must therefore ack (or close) all it took before expecting more than the broker
 *    sends within the receive maximum; the flow settles a whole pass before gathering
 *    the next on MQTT, so it never waits on itself.
 *  - a consumer does not read while a write is left half done (the socket was full):
 *    a message read then would have its PUBACK queued behind, and written by the rest of
 *    that write before its ack.
 * What that costs, and how each cost is met:
 *  - keepalive: while something is held, the loop's keepalive (mosquitto_loop_misc) is
 *    not run, as its PINGREQ would be queued behind held PUBACKs and the client would then
 *    drop the connection itself for want of a PINGRESP; the broker would drop it after
 *    1.5 x keepalive and redeliver: forever, for any work longer than that (a long
 *    download). So the thread writes a PINGREQ every keepalive/2 straight to the socket
 *    (ping_raw). That is at a packet boundary: nothing is written while something is held,
 *    and nothing is read (so nothing held) while a write is half done. libmosquitto takes
 *    the unasked-for PINGRESPs (it only clears its ping timer).
 *  - closing: when all is acked, the queue (the last PUBACKs) leaves, then DISCONNECT.
 *    Otherwise the thread writes PUBACKs of the acked prefix itself (raw, in order), a
 *    DISCONNECT, and shuts the socket down, so the queued PUBACKs of what is not acked can
 *    never leave: the broker redelivers those on the next connection. A process killed
 *    outright writes nothing more: what it had acked since its last write comes again
 *    too, at most a receive maximum (prefetch) of messages, with what it held.
 *  - acking twice, or a delivery of an older write or connection, is a no-op.
 *  - the DUP flag is not exposed by libmosquitto: `redelivered` is always false.
 *  - publishing on a connection that holds unacked deliveries would wait behind them:
 *    refused then; a flow posts through a second sr_broker (sr3 also uses two
 *    connections).
 *
 * Threads. We run our own network thread (with mosquitto_threaded_set) rather than
 * mosquitto_loop_start, because loop_start's thread (mosquitto_loop_forever) reconnects
 * by itself after a loss, behind broker.c's back:
 * with our thread a lost connection stays lost, and broker.c reconnects with its backoff,
 * generations and re-subscribe. The thread also resolves and connects (blocking calls in
 * libmosquitto), so the caller gives up after `timeout` and leaves an abandoned thread to
 * clean up after itself; it blocks SIGPIPE for itself (OpenSSL writes to a closed socket
 * with write(2)), and is stopped without pthread_cancel.
 * Only the network thread reads and writes the socket; the caller's thread calls
 * mosquitto_publish_v5 / mosquitto_subscribe_v5 (which only queue packets; the caller
 * then wakes the thread through conn->wake_fd) with conn->lock held, so a PUBACK or SUBACK
 * callback (which takes conn->lock) always finds its message id recorded. libmosquitto
 * calls callbacks with its callback_mutex held, never with the locks publish and
 * subscribe take, so that order is deadlock free. The log callback can run in either thread, inside
 * those calls: it takes only conn->log_lock. Nothing in the network thread touches the sr_broker
 * (its connection generation or notify callback): the caller's thread fills those in.
 *
 * Mosquitto 2.0.11 saves a persistent session over a restart but not its shared ($share)
 * subscriptions: until the consumer is back and has subscribed again, what is posted for
 * the shared subscription is dropped by the broker. Plain subscriptions are kept.
 */
#include "broker_impl.h"
#include "brokerhdr_impl.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* How long the network thread sleeps in select at most: how soon it sees a stop. */
#define LOOP_MS 100
/* How long a closing connection may take to write its DISCONNECT. */
#define DISCONNECT_SECONDS 2.0
/* MQTT's 16-bit keepalive; libmosquitto refuses less than 5 s. */
#define KEEPALIVE_MIN 5
#define KEEPALIVE_MAX 65535
/* ReceiveMaximum and send maximum are 16-bit and at least 1. */
#define INFLIGHT_MAX 65535
/* A 32-bit expiry interval; 0xFFFFFFFF means "never" in MQTT 5, so stay below. */
#define EXPIRY_MAX 4294967294.0
#define REASON_MAX 256
/* Packets read at most before the thread looks at its wake-ups and writes again. */
#define READ_BURST 256

/* A message read since the thread last wrote: its PUBACK is queued in libmosquitto. */
typedef struct read_msg {
    uint16_t mid;
    bool puback; /* QoS 1: a PUBACK is queued for it (QoS 0 has none) */
    bool acked;
} read_msg;

typedef struct pub_slot {
    int mid;
    bool pending;
    int reason; /* PUBACK reason code */
} pub_slot;

/* A batch published and waiting for its PUBACKs (broker.h: sr_broker_publish_begin). The
 * connection lists the outstanding ones; the network thread settles their slots. */
typedef struct mqtt_ticket {
    struct mqtt_ticket *next;
    pub_slot *slots;
    size_t count;
    size_t outstanding; /* slots still pending, under the connection's lock */
    size_t hint;        /* where the next PUBACK is likely to be */
    int *status;        /* the caller's */
    size_t failed;      /* not published at all */
    sr_err first;       /* why the first of those failed */
    bool dead;          /* the connection went before end: pending ones were not taken */
    char reason[REASON_MAX];
} mqtt_ticket;

typedef struct mqtt_conn {
    struct mosquitto *mosq;
    pthread_t thread;
    bool thread_started;
    int version;     /* MQTT_PROTOCOL_V5 or MQTT_PROTOCOL_V311 */
    bool consumer;   /* persistent session (clean start off) */
    char *client_id; /* NULL: libmosquitto's random one */
    char *host;
    int port, keepalive;
    double ping_every;                 /* seconds between PINGREQs while the flow holds a message */
    mosquitto_property *connect_props; /* CONNECT properties, until the thread connects */

    pthread_mutex_t log_lock;
    char last_log[REASON_MAX]; /* libmosquitto's last error line (OpenSSL's reason) */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* everything below is guarded by lock */
    bool connect_done; /* the thread's mosquitto_connect returned */
    int connect_rc;    /* ... with this, and errno */
    int connect_errno;
    bool abandoned;       /* the caller gave up waiting for connect_done */
    bool connack;         /* CONNACK received */
    int connack_rc;       /* its reason code (v5) or return code (3.1.1) */
    bool session_present; /* the broker still had our session */
    bool shared_subs;     /* MQTT 5 CONNACK: SharedSubscriptionAvailable (default yes) */
    bool finished;        /* the network thread has left */
    bool lost;            /* the connection broke (not asked for) */
    char lost_reason[REASON_MAX];
    bool stop;   /* close asked: the thread disconnects and leaves */
    bool killed; /* socket shut down so nothing queued can be written */

    /* Every message read since the thread last wrote, in receipt order; the delivery of
     * read[i] has the tag read_base + i, so an ack finds its entry at once and one of an
     * older write (tag below read_base) is a no-op. */
    read_msg *read;
    size_t read_count, read_cap;
    uint64_t read_base;
    size_t unacked;                           /* entries of read not acked */
    struct mqtt_delivery *ready, *ready_last; /* read, not yet handed over, oldest first */
    size_t ready_count;

    int *sub_mids; /* SUBSCRIBE message ids, one per filter in sub_filters */
    sr_strlist sub_filters;
    size_t sub_pending;
    char sub_error[REASON_MAX]; /* a refused subscription; reported by consume too */
    bool sub_qos0;              /* a subscription was granted QoS 0 only */

    mqtt_ticket *tickets; /* batches waiting for PUBACKs, oldest first */

    int wake_fd; /* eventfd: the caller's thread wakes the network thread's poll */
} mqtt_conn;

typedef struct mqtt_backend {
    int version; /* what to try: V5 until a broker refuses it, then V311 */
    mqtt_conn *conn;
} mqtt_backend;

typedef struct mqtt_delivery {
    sr_delivery d;              /* first: release gets a pointer to it */
    struct mqtt_delivery *next; /* in the connection's ready list */
    char *body, *topic, *exchange, *content_type;
    sr_header *headers;
    size_t header_count;
} mqtt_delivery;

/* ---- small helpers ---- */

static void deadline_after(struct timespec *t, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    if (seconds < 0)
        seconds = 0;
    t->tv_sec += (time_t)seconds;
    t->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static bool past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Wait on conn->cond until deadline; false once it has passed. */
static bool wait_until(mqtt_conn *c, const struct timespec *deadline)
{
    if (past(deadline))
        return false;
    pthread_cond_timedwait(&c->cond, &c->lock, deadline);
    return true;
}

/* libmosquitto's text for a reason code: v5 reason codes are >= 128 (or a few small
 * success codes), MOSQ_ERR_* codes are small. */
static const char *reason_text(int rc)
{
    return rc >= 128 ? mosquitto_reason_string(rc) : mosquitto_strerror(rc);
}

static bool is_shared(const char *filter)
{
    return strncmp(filter, "$share/", 7) == 0;
}

static int ms_option(int value)
{
    return value < 1 ? 1 : value > INFLIGHT_MAX ? INFLIGHT_MAX : value;
}

/* ---- deliveries ---- */

static void delivery_release(sr_delivery *d)
{
    mqtt_delivery *md = (mqtt_delivery *)d;
    free(md->headers); /* one allocation with their text (brokerhdr_impl.h) */
    free(md->body);
    free(md->topic);
    free(md->exchange);
    free(md->content_type);
    free(md);
}

/* A delivery owning copies of what libmosquitto hands to on_message. NULL: no memory. */
static sr_delivery *delivery_new(const struct mosquitto_message *msg,
                                 const mosquitto_property *props)
{
    mqtt_delivery *md = calloc(1, sizeof *md);
    if (md == NULL)
        return NULL;
    md->d.release = delivery_release;
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    const char *topic = msg->topic != NULL ? msg->topic : "";
    const char *slash = strchr(topic, '/');
    md->body = malloc(len + 1);
    md->topic = strdup(topic);
    md->exchange = strndup(topic, slash != NULL ? (size_t)(slash - topic) : strlen(topic));
    bool failed = md->body == NULL || md->topic == NULL || md->exchange == NULL;
    if (!failed && props != NULL) {
        /* v02 over MQTT: the headers are user properties (bounded, brokerhdr_impl.h) */
        md->content_type = sr_brokerhdr__mqtt_content_type(props);
        failed = sr_brokerhdr__mqtt(props, &md->headers, &md->header_count, NULL) != SR_OK;
    }
    if (failed) {
        delivery_release(&md->d);
        return NULL;
    }
    if (len > 0)
        memcpy(md->body, msg->payload, len);
    md->body[len] = '\0';
    md->d.wire = (sr_wire){.body = md->body,
                           .body_len = len,
                           .content_type = md->content_type,
                           .topic = md->topic,
                           .headers = md->headers,
                           .header_count = md->header_count};
    md->d.exchange = md->exchange;
    md->d.redelivered = false; /* libmosquitto does not pass the DUP flag on */
    return &md->d;
}

/* ---- callbacks: all run in the network thread (on_log in either) ---- */

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    (void)mosq;
    if (level != MOSQ_LOG_ERR)
        return;
    mqtt_conn *c = obj;
    pthread_mutex_lock(&c->log_lock);
    snprintf(c->last_log, sizeof c->last_log, "%s", text);
    pthread_mutex_unlock(&c->log_lock);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)mosq;
    mqtt_conn *c = obj;
    uint8_t shared = 1;
    if (props != NULL)
        mosquitto_property_read_byte(props, MQTT_PROP_SHARED_SUB_AVAILABLE, &shared, false);
    pthread_mutex_lock(&c->lock);
    c->connack = true;
    c->connack_rc = rc;
    c->session_present = (flags & 1) != 0;
    c->shared_subs = shared != 0;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    mqtt_conn *c = obj;
    int saved = errno;
    pthread_mutex_lock(&c->lock);
    if (!c->stop && !c->lost && rc != 0) {
        c->lost = true;
        if (rc == MOSQ_ERR_ERRNO)
            snprintf(c->lost_reason, sizeof c->lost_reason, "%s", strerror(saved));
        else if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_PROTOCOL) {
            pthread_mutex_lock(&c->log_lock);
            snprintf(c->lost_reason, sizeof c->lost_reason, "%s%s%.200s", reason_text(rc),
                     c->last_log[0] ? ": " : "", c->last_log);
            pthread_mutex_unlock(&c->log_lock);
        } else
            snprintf(c->lost_reason, sizeof c->lost_reason, "%s", reason_text(rc));
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Wake the network thread out of its poll: an ack that settled everything read, a
 * packet queued, a stop. */
static void wake(mqtt_conn *c)
{
    uint64_t one = 1;
    ssize_t n = write(c->wake_fd, &one, sizeof one);
    (void)n; /* a full counter wakes the thread all the same */
}

/* Write len bytes straight to the socket (TLS or not), at a packet boundary, waiting up
 * to the deadline for room; false when they did not all go. Only the network thread
 * writes the socket, and only where libmosquitto has no packet half written. */
static bool write_raw(mqtt_conn *c, const unsigned char *buf, size_t len,
                      const struct timespec *deadline)
{
    int fd = mosquitto_socket(c->mosq);
    SSL *ssl = mosquitto_ssl_get(c->mosq);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n;
        if (ssl != NULL) {
            /* Without partial writes, SSL_write sends all or, retried with the same
             * bytes, goes on where it stopped. */
            ERR_clear_error();
            int w = SSL_write(ssl, buf + done, (int)(len - done));
            int why = w > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, w);
            ERR_clear_error();
            if (w <= 0 && why != SSL_ERROR_WANT_WRITE && why != SSL_ERROR_WANT_READ)
                return false;
            n = w > 0 ? w : 0;
        } else {
            n = send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return false;
        }
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (past(deadline))
            return false;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 10);
    }
    return done == len;
}

/* A PINGREQ written straight to the socket while deliveries are held: libmosquitto's own
 * would wait in its queue behind their PUBACKs, and without one the broker drops the
 * connection after 1.5 x keepalive and redelivers, again and again for any work longer
 * than that. Skipped when the socket cannot take it now; a failed write shows later as a
 * lost connection (the messages then come again). */
static void ping_raw(mqtt_conn *c)
{
    static const unsigned char pingreq[2] = {0xC0, 0x00}; /* PINGREQ, remaining length 0 */
    struct pollfd p = {.fd = mosquitto_socket(c->mosq), .events = POLLOUT};
    if (p.fd < 0 || poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0)
        return;
    struct timespec now;
    deadline_after(&now, 0);
    write_raw(c, pingreq, sizeof pingreq, &now);
}

/* Make sure nothing queued (a PUBACK for a message not acked) is ever written: the broker
 * will redeliver the message on the next connection. Called with c->lock held. */
static void kill_socket(mqtt_conn *c)
{
    if (!c->killed) {
        c->killed = true;
        int fd = mosquitto_socket(c->mosq);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
}

/* Closing while something read is not acked: the PUBACKs of the acked prefix (in receipt
 * order, as MQTT wants them), a DISCONNECT, written by hand; then the socket is shut down
 * so that libmosquitto's queue, with the PUBACKs of what is not acked, never leaves.
 * Called with c->lock held, in the network thread. */
static void close_holding(mqtt_conn *c, const struct timespec *deadline)
{
    size_t n = 0;
    while (n < c->read_count && c->read[n].acked)
        n++;
    unsigned char *buf = malloc(n * 4 + 2);
    if (buf != NULL) {
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            if (!c->read[i].puback)
                continue;
            /* PUBACK, remaining length 2, the message id: reason Success (MQTT 5 lets it
             * be left out) */
            buf[len++] = 0x40;
            buf[len++] = 0x02;
            buf[len++] = (unsigned char)(c->read[i].mid >> 8);
            buf[len++] = (unsigned char)(c->read[i].mid & 0xFF);
        }
        buf[len++] = 0xE0; /* DISCONNECT, remaining length 0: normal disconnection */
        buf[len++] = 0x00;
        write_raw(c, buf, len, deadline);
        free(buf);
    }
    kill_socket(c);
}

/* A message read: kept (with its PUBACK queued) until consume hands it over and the flow
 * acks it. Returns at once, so the thread goes on reading. */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)mosq;
    mqtt_conn *c = obj;
    int saved = errno; /* the thread's read loop looks at errno after each packet */
    mqtt_delivery *md = (mqtt_delivery *)delivery_new(msg, props);
    pthread_mutex_lock(&c->lock);
    if (md != NULL && c->read_count == c->read_cap) {
        size_t cap = c->read_cap ? 2 * c->read_cap : 64;
        read_msg *grown = realloc(c->read, cap * sizeof *grown);
        if (grown == NULL) {
            md->d.release(&md->d);
            md = NULL;
        } else {
            c->read = grown;
            c->read_cap = cap;
        }
    }
    if (c->stop || c->killed || md == NULL) {
        /* Its PUBACK is queued: it must never leave. */
        if (md == NULL && !c->stop && !c->lost) {
            c->lost = true;
            snprintf(c->lost_reason, sizeof c->lost_reason,
                     "out of memory receiving a message (it will be redelivered)");
        }
        kill_socket(c);
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        if (md != NULL)
            md->d.release(&md->d);
        errno = saved;
        return;
    }
    c->read[c->read_count] =
        (read_msg){.mid = (uint16_t)msg->mid, .puback = msg->qos == 1, .acked = false};
    md->d.tag = c->read_base + c->read_count++;
    c->unacked++;
    if (c->ready_last != NULL)
        c->ready_last->next = md;
    else
        c->ready = md;
    c->ready_last = md;
    c->ready_count++;
    /* consume is woken once the read burst is over (net_thread), to take them together */
    pthread_mutex_unlock(&c->lock);
    errno = saved;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    mqtt_conn *c = obj;
    pthread_mutex_lock(&c->lock);
    /* PUBACKs come in publish order, mostly: start looking after the last one found. */
    bool found = false, settled = false;
    for (mqtt_ticket *t = c->tickets; t != NULL && !found; t = t->next) {
        for (size_t k = 0; t->outstanding > 0 && k < t->count; k++) {
            size_t i = (t->hint + k) % t->count;
            if (t->slots[i].pending && t->slots[i].mid == mid) {
                t->slots[i].pending = false;
                t->slots[i].reason = reason;
                settled = --t->outstanding == 0;
                t->hint = i + 1;
                found = true;
                break;
            }
        }
    }
    /* publish_end waits for a whole ticket: waking it at each PUBACK nearly halved the
     * rate of QoS 1 publishing (bench/broker: batch 25 went from ~9,700 to ~18,500 msg/s
     * without it) */
    if (settled)
        pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted,
                         const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    mqtt_conn *c = obj;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->sub_filters.count; i++) {
        if (c->sub_mids[i] != mid)
            continue;
        c->sub_mids[i] = 0;
        c->sub_pending--;
        int code = count > 0 ? granted[0] : MQTT_RC_UNSPECIFIED;
        const char *filter = c->sub_filters.items[i];
        if (code >= 128 && c->sub_error[0] == '\0') {
            if (is_shared(filter) &&
                (code == MQTT_RC_SHARED_SUBS_NOT_SUPPORTED || c->version != MQTT_PROTOCOL_V5))
                snprintf(c->sub_error, sizeof c->sub_error,
                         "the broker refused the shared subscription \"%s\" (%s)%s", filter,
                         c->version == MQTT_PROTOCOL_V5 ? reason_text(code) : "failure",
                         c->version == MQTT_PROTOCOL_V5
                             ? ""
                             : ": this MQTT 3.1.1 broker may not support shared subscriptions");
            else
                snprintf(c->sub_error, sizeof c->sub_error,
                         "the broker refused the subscription \"%s\" (%s)", filter,
                         c->version == MQTT_PROTOCOL_V5 ? reason_text(code) : "failure");
        } else if (code == 0) {
            c->sub_qos0 = true;
        }
        break;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* ---- one connection ---- */

/* Free what c holds; the network thread is gone (or is the caller). */
static void conn_release(mqtt_conn *c)
{
    if (c->mosq != NULL)
        mosquitto_destroy(c->mosq);
    mosquitto_property_free_all(&c->connect_props);
    for (mqtt_delivery *md = c->ready, *next; md != NULL; md = next) {
        next = md->next;
        md->d.release(&md->d);
    }
    free(c->read);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    free(c->sub_mids);
    sr_strlist_clear(&c->sub_filters);
    free(c->client_id);
    free(c->host);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->log_lock);
    free(c);
}

/* ---- the network thread ---- */

/* True when the next read would not wait: bytes in the socket, or decrypted ones inside
 * OpenSSL (which poll cannot see). */
static bool readable_now(mqtt_conn *c)
{
    SSL *ssl = mosquitto_ssl_get(c->mosq);
    if (ssl != NULL && SSL_pending(ssl) > 0)
        return true;
    struct pollfd p = {.fd = mosquitto_socket(c->mosq), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 1;
}

/* Read what the broker has sent, packet by packet (mosquitto_loop_read reads one when
 * nothing of ours is in flight), until none is left or READ_BURST. */
static int read_burst(mqtt_conn *c)
{
    /* Mosquitto's PUBACKs after the first of a batch otherwise wait for this side's
     * delayed ACK (~40 ms each): quick ACKs make batched QoS 1 publishing ~60 times
     * faster against a stock broker (bench/broker.py). Linux clears the flag after use,
     * so it is set before every burst. */
    int quick = 1, fd = mosquitto_socket(c->mosq);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &quick, sizeof quick);
    for (int i = 0; i < READ_BURST; i++) {
        errno = 0;
        int rc = mosquitto_loop_read(c->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS)
            return rc;
        if (mosquitto_socket(c->mosq) < 0)
            return MOSQ_ERR_NO_CONN;
        /* EAGAIN: nothing more to read, or only libmosquitto's full wake-up pipe (each
         * packet queued writes a byte to it, and nobody reads it here) */
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && !readable_now(c))
            break;
    }
    return MOSQ_ERR_SUCCESS;
}

/* The connection's life after CONNACK was asked for: read as the broker sends, write
 * when nothing read is unacked (see the top of the file), until stopped or lost. */
static int run_loop(mqtt_conn *c)
{
    bool closing = false, asked = false;
    struct timespec give_up = {0, 0}, next_ping;
    deadline_after(&next_ping, c->ping_every);
    for (;;) {
        pthread_mutex_lock(&c->lock);
        bool stop = c->stop, settled = c->unacked == 0, connack = c->connack;
        if (settled && c->read_count > 0) {
            /* All acked: the PUBACKs queued are theirs; a new write starts the count. */
            c->read_base += c->read_count;
            c->read_count = 0;
        }
        if (stop && !closing) {
            closing = true;
            deadline_after(&give_up, DISCONNECT_SECONDS);
        }
        if (closing && !settled) {
            close_holding(c, &give_up);
            pthread_mutex_unlock(&c->lock);
            return MOSQ_ERR_SUCCESS;
        }
        bool ping = !settled && !c->killed && past(&next_ping);
        pthread_mutex_unlock(&c->lock);
        if (closing && past(&give_up))
            return MOSQ_ERR_SUCCESS;
        int rc = MOSQ_ERR_SUCCESS;
        if (settled) {
            if (!closing)
                rc = mosquitto_loop_misc(c->mosq); /* keepalive: a PINGREQ when due */
            /* What is queued (the last PUBACKs) leaves first, while the connection is
             * active: once disconnecting, libmosquitto takes a PINGRESP still unread as a
             * protocol error and closes the socket without writing anything more. */
            if (rc == MOSQ_ERR_SUCCESS && closing && !asked && !mosquitto_want_write(c->mosq)) {
                /* A normal DISCONNECT: the session stays (clean start off, its expiry). */
                mosquitto_disconnect_v5(c->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
                asked = true;
            }
            if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(c->mosq))
                rc = mosquitto_loop_write(c->mosq, 1);
            deadline_after(&next_ping, c->ping_every);
        } else if (ping) {
            ping_raw(c);
            deadline_after(&next_ping, c->ping_every);
        }
        if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(c->mosq) < 0)
            rc = MOSQ_ERR_CONN_LOST;
        if (rc != MOSQ_ERR_SUCCESS)
            return closing ? MOSQ_ERR_SUCCESS : rc;
        /* A consumer reads nothing while a write is half done (the socket was full): the
         * PUBACK of a message read then would go out with the rest of that write. Before
         * CONNACK nothing can come but the CONNACK (and a TLS handshake needs reads). */
        bool flushing = settled && mosquitto_want_write(c->mosq);
        bool may_read = !asked && (!flushing || !c->consumer || !connack);
        struct pollfd p[2] = {
            {.fd = mosquitto_socket(c->mosq),
             .events = (short)((may_read ? POLLIN : 0) | (flushing ? POLLOUT : 0))},
            {.fd = c->wake_fd, .events = POLLIN},
        };
        bool pending = may_read && readable_now(c);
        int n = poll(p, 2, pending ? 0 : LOOP_MS);
        if (n < 0 && errno != EINTR)
            return MOSQ_ERR_ERRNO;
        if (n > 0 && (p[1].revents & POLLIN)) {
            uint64_t count;
            ssize_t got = read(c->wake_fd, &count, sizeof count);
            (void)got;
        }
        if (may_read && (pending || (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))))) {
            rc = read_burst(c);
            pthread_mutex_lock(&c->lock);
            pthread_cond_broadcast(&c->cond); /* consume takes what came, all together */
            pthread_mutex_unlock(&c->lock);
            if (rc != MOSQ_ERR_SUCCESS)
                return closing ? MOSQ_ERR_SUCCESS : rc;
        }
    }
}

static void *net_thread(void *arg)
{
    mqtt_conn *c = arg;
    /* OpenSSL writes with write(2): a broker gone away must not kill the process. */
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);

    /* Resolving, the TCP connect and the TLS handshake block: done here, so the caller
     * can give up after its timeout (and leave this thread to clean up). */
    errno = 0;
    int rc =
        mosquitto_connect_bind_v5(c->mosq, c->host, c->port, c->keepalive, NULL, c->connect_props);
    int saved = errno;
    mosquitto_property_free_all(&c->connect_props);
    pthread_mutex_lock(&c->lock);
    c->connect_done = true;
    c->connect_rc = rc;
    c->connect_errno = saved;
    c->finished = rc != MOSQ_ERR_SUCCESS;
    bool abandoned = c->abandoned;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (abandoned) {
        conn_release(c); /* the caller timed out and detached us */
        return NULL;
    }
    if (rc != MOSQ_ERR_SUCCESS)
        return NULL;

    rc = run_loop(c);
    saved = errno;
    pthread_mutex_lock(&c->lock);
    if (!c->stop && !c->lost) {
        c->lost = true;
        if (rc == MOSQ_ERR_ERRNO)
            snprintf(c->lost_reason, sizeof c->lost_reason, "%s", strerror(saved));
        else
            snprintf(c->lost_reason, sizeof c->lost_reason, "%s", reason_text(rc));
    }
    c->finished = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Stop the thread (after a DISCONNECT when the connection still works) and free all. */
static void conn_free(mqtt_conn *c)
{
    if (c == NULL)
        return;
    if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        wake(c);
        pthread_join(c->thread, NULL);
    }
    conn_release(c);
}

static mqtt_conn *conn_alloc(void)
{
    mqtt_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->log_lock, NULL);
    c->shared_subs = true;
    c->read_base = 1;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0) {
        conn_release(c);
        return NULL;
    }
    return c;
}

/* What libmosquitto's setup calls return, as our error. */
static int setup_error(const sr_broker *b, int mrc, const char *what, sr_err *err)
{
    if (mrc == MOSQ_ERR_NOMEM)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    return sr_err_set(err, SR_EINVAL, false, "%s: %s: %s", sr_broker_url(b), what,
                      mosquitto_strerror(mrc));
}

/* The CAs trusted: $SSL_CERT_FILE, as OpenSSL reads it, else the system's directory. */
static const char *ca_file(void)
{
    const char *cafile = getenv("SSL_CERT_FILE");
    return cafile != NULL && cafile[0] != '\0' ? cafile : NULL;
}

#define SYSTEM_CA_DIR "/etc/ssl/certs"

static int setup_tls(sr_broker *b, mqtt_conn *c, sr_err *err)
{
    const char *cafile = ca_file();
    int mrc = mosquitto_tls_set(c->mosq, cafile, cafile ? NULL : SYSTEM_CA_DIR, NULL, NULL, NULL);
    if (mrc != MOSQ_ERR_SUCCESS) {
        char what[SR_ERR_MSG_MAX / 2];
        snprintf(what, sizeof what, "cannot use the CA %s %.200s",
                 cafile ? "file (SSL_CERT_FILE)" : "directory", cafile ? cafile : SYSTEM_CA_DIR);
        return setup_error(b, mrc, what, err);
    }
    bool lax = b->options.tls == SR_TLS_LAX;
    /* libmosquitto's "tlsv1.2" refuses anything older (1.3 stays allowed). */
    const char *version = b->options.tls == SR_TLS_STRICT ? "tlsv1.2" : NULL;
    mrc = mosquitto_tls_opts_set(c->mosq, lax ? 0 : 1, version, NULL);
    if (mrc == MOSQ_ERR_SUCCESS)
        mrc = mosquitto_tls_insecure_set(c->mosq, lax);
    return mrc == MOSQ_ERR_SUCCESS ? SR_OK : setup_error(b, mrc, "TLS options", err);
}

/* A failed TLS handshake, with OpenSSL's reason and where the trusted CAs came from. */
static int tls_error(const sr_broker *b, const char *why, sr_err *err)
{
    const char *cafile = ca_file();
    return sr_err_set(err, SR_ECONN, true,
                      "%s: TLS handshake failed: %s (CAs trusted: %s %.150s; tlsRigour lax skips "
                      "the check)",
                      sr_broker_url(b), why, cafile ? "SSL_CERT_FILE" : "the directory",
                      cafile ? cafile : SYSTEM_CA_DIR);
}

/* The error for a connection that ended before its CONNACK. Called with c->lock held. */
static int failed_before_connack(const sr_broker *b, mqtt_conn *c, sr_err *err)
{
    int rc = c->connect_rc;
    if (rc == MOSQ_ERR_EAI)
        return sr_err_set(err, SR_ECONN, true, "%s: cannot resolve host \"%s\"", sr_broker_url(b),
                          c->host);
    if (rc == MOSQ_ERR_ERRNO)
        return sr_err_set(err, SR_ECONN, true, "%s: cannot connect to %s port %d: %s",
                          sr_broker_url(b), c->host, c->port, strerror(c->connect_errno));
    pthread_mutex_lock(&c->log_lock);
    char why[REASON_MAX];
    snprintf(why, sizeof why, "%s", c->last_log);
    pthread_mutex_unlock(&c->log_lock);
    /* "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed" */
    bool tls = strcmp(b->url.scheme, "mqtts") == 0;
    if (tls && (rc == MOSQ_ERR_TLS || strstr(c->lost_reason, "TLS") != NULL))
        return tls_error(b, why[0] ? why : mosquitto_strerror(MOSQ_ERR_TLS), err);
    if (rc != MOSQ_ERR_SUCCESS)
        return sr_err_set(err, SR_ECONN, true, "%s: cannot connect: %s", sr_broker_url(b),
                          mosquitto_strerror(rc));
    return sr_err_set(err, SR_ECONN, true, "%s: connection closed before the broker answered: %s",
                      sr_broker_url(b), c->lost_reason[0] ? c->lost_reason : "no reason given");
}

enum { CONNECT_FALLBACK = -1 };

/* A new client, set up for this connection; not yet connected. */
static int conn_setup(sr_broker *b, mqtt_conn *c, const char *client_id, sr_err *err)
{
    int version = c->version;
    bool consumer = c->consumer;
    c->mosq = mosquitto_new(client_id, !consumer, c);
    if (c->mosq == NULL)
        return errno == ENOMEM ? sr_err_set(err, SR_ENOMEM, false, "out of memory")
                               : sr_err_set(err, SR_EINVAL, false, "%s: cannot create a client: %s",
                                            sr_broker_url(b), strerror(errno));
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, version);
    mosquitto_threaded_set(c->mosq, true);
    if (version == MQTT_PROTOCOL_V5) {
        mosquitto_int_option(c->mosq, MOSQ_OPT_RECEIVE_MAXIMUM,
                             ms_option((int)sr_broker_prefetch(b)));
        mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM, INFLIGHT_MAX);
    }
    int mrc = mosquitto_username_pw_set(c->mosq, b->url.user, b->url.password);
    if (mrc != MOSQ_ERR_SUCCESS)
        return setup_error(b, mrc, "user name or password", err);
    if (strcmp(b->url.scheme, "mqtts") == 0) {
        int rc = setup_tls(b, c, err);
        if (rc != SR_OK)
            return rc;
    }
    if (consumer && version == MQTT_PROTOCOL_V5 && b->options.session_expiry > 0) {
        double expiry =
            b->options.session_expiry < EXPIRY_MAX ? b->options.session_expiry : EXPIRY_MAX;
        mrc = mosquitto_property_add_int32(&c->connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                           (uint32_t)(expiry + 0.5));
        if (mrc != MOSQ_ERR_SUCCESS)
            return setup_error(b, mrc, "session expiry", err);
    }
    mosquitto_log_callback_set(c->mosq, on_log);
    mosquitto_connect_v5_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
    mosquitto_message_v5_callback_set(c->mosq, on_message);
    mosquitto_publish_v5_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_v5_callback_set(c->mosq, on_subscribe);
    double hb = sr_broker_heartbeat(b);
    c->keepalive = hb < KEEPALIVE_MIN   ? KEEPALIVE_MIN
                   : hb > KEEPALIVE_MAX ? KEEPALIVE_MAX
                                        : (int)(hb + 0.5);
    c->ping_every = c->keepalive / 2.0;
    c->port = sr_url_port(&b->url);
    return SR_OK;
}

/* Open one connection: id and clean start as given, consumer properties when consumer.
 * SR_OK with *out set, CONNECT_FALLBACK when the broker refuses this protocol version, or
 * an error code. */
static int conn_open(sr_broker *b, int version, const char *client_id, bool consumer,
                     mqtt_conn **out, sr_err *err)
{
    *out = NULL;
    mqtt_conn *c = conn_alloc();
    if (c == NULL || (client_id != NULL && (c->client_id = strdup(client_id)) == NULL) ||
        (c->host = strdup(b->url.host)) == NULL) {
        if (c != NULL)
            conn_release(c);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    c->version = version;
    c->consumer = consumer;
    int rc = conn_setup(b, c, client_id, err);
    if (rc == SR_OK && pthread_create(&c->thread, NULL, net_thread, c) != 0)
        rc = sr_err_set(err, SR_EIO, true, "%s: cannot start the network thread", sr_broker_url(b));
    if (rc != SR_OK) {
        conn_release(c);
        return rc;
    }
    c->thread_started = true;

    struct timespec deadline;
    deadline_after(&deadline, sr_broker_timeout(b));
    pthread_mutex_lock(&c->lock);
    while (!c->connack && !c->finished && !c->lost && wait_until(c, &deadline))
        ;
    if (!c->connect_done) {
        /* Still resolving or connecting: leave the thread to finish and free it all. */
        c->abandoned = true;
        pthread_detach(c->thread);
        pthread_mutex_unlock(&c->lock);
        return sr_err_set(err, SR_ECONN, true, "%s: no answer from %s port %d within %.0f s",
                          sr_broker_url(b), b->url.host, sr_url_port(&b->url),
                          sr_broker_timeout(b));
    }
    bool connack = c->connack, lost = c->lost || c->finished;
    int code = c->connack_rc;
    if (connack && code == 0) {
        pthread_mutex_unlock(&c->lock);
        *out = c;
        return SR_OK;
    }
    const char *why =
        version == MQTT_PROTOCOL_V5 ? reason_text(code) : mosquitto_connack_string(code);
    if (connack && version == MQTT_PROTOCOL_V5 &&
        (code == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION || code == CONNACK_REFUSED_PROTOCOL_VERSION))
        rc = CONNECT_FALLBACK;
    else if (connack &&
             (code == MQTT_RC_BAD_USERNAME_OR_PASSWORD || code == MQTT_RC_NOT_AUTHORIZED ||
              code == CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
              code == CONNACK_REFUSED_NOT_AUTHORIZED))
        rc = sr_err_set(err, SR_EPERM, false,
                        "%s: login refused (%s): check the user name and password",
                        sr_broker_url(b), why);
    else if (connack)
        rc = sr_err_set(err, SR_ECONN, true, "%s: connection refused by the broker: %s",
                        sr_broker_url(b), why);
    else if (lost)
        rc = failed_before_connack(b, c, err);
    else
        rc = sr_err_set(err, SR_ECONN, true, "%s: no answer (CONNACK) within %.0f s",
                        sr_broker_url(b), sr_broker_timeout(b));
    pthread_mutex_unlock(&c->lock);
    conn_free(c);
    return rc;
}

/* Connect with the protocol the broker takes: MQTT 5, or 3.1.1 once it refused 5. */
static int conn_open_any(sr_broker *b, const char *client_id, bool consumer, mqtt_conn **out,
                         sr_err *err)
{
    mqtt_backend *mb = b->backend;
    int rc = conn_open(b, mb->version, client_id, consumer, out, err);
    if (rc == CONNECT_FALLBACK) {
        mb->version = MQTT_PROTOCOL_V311;
        sr_broker_notify(b, SR_LOG_WARNING,
                         "%s refuses MQTT 5: using MQTT 3.1.1 (no content type, no v02 headers, "
                         "no session expiry)",
                         sr_broker_url(b));
        rc = conn_open(b, mb->version, client_id, consumer, out, err);
        if (rc == CONNECT_FALLBACK)
            rc = sr_err_set(err, SR_EPROTO, false, "%s: the broker refuses MQTT 5 and 3.1.1",
                            sr_broker_url(b));
    }
    if (rc == SR_OK && b->options.tls == SR_TLS_LAX && strcmp(b->url.scheme, "mqtts") == 0)
        sr_broker_notify(b, SR_LOG_WARNING,
                         "%s: TLS certificate and host name NOT verified (tlsRigour lax): "
                         "anyone between here and the broker can read and change the traffic",
                         sr_broker_url(b));
    return rc;
}

/* ---- the operations ---- */

static int m_connect(sr_broker *b, sr_err *err)
{
    mqtt_backend *mb = b->backend;
    /* A consumer (subscribe came first) keeps a persistent session under its id. */
    bool consumer = b->queue != NULL;
    if (consumer && b->client_id == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: an MQTT consumer needs a client id (<queueName>_iNN) to find its "
                          "session again",
                          sr_broker_url(b));
    int rc = conn_open_any(b, b->client_id, consumer, &mb->conn, err);
    if (rc != SR_OK || !consumer || b->stats.connects == 0)
        return rc;
    pthread_mutex_lock(&mb->conn->lock);
    bool kept = mb->conn->session_present;
    pthread_mutex_unlock(&mb->conn->lock);
    if (!kept)
        sr_broker_notify(b, SR_LOG_WARNING,
                         "%s: the broker kept no session for %s (expired, or lost in a broker "
                         "restart): what was posted while disconnected is not there",
                         sr_broker_url(b), b->client_id);
    return SR_OK;
}

static void m_disconnect(sr_broker *b)
{
    mqtt_backend *mb = b->backend;
    mqtt_conn *c = mb->conn;
    if (c != NULL) {
        /* Their PUBACKs can no longer come: each owner learns it at publish_end. */
        pthread_mutex_lock(&c->lock);
        for (mqtt_ticket *t = c->tickets, *next; t != NULL; t = next) {
            next = t->next;
            t->dead = true;
            t->next = NULL;
            snprintf(t->reason, sizeof t->reason, "%s",
                     c->lost_reason[0] ? c->lost_reason : "disconnected");
        }
        c->tickets = NULL;
        pthread_mutex_unlock(&c->lock);
    }
    conn_free(mb->conn);
    mb->conn = NULL;
}

static int m_declare_exchange(sr_broker *b, const char *exchange, sr_err *err)
{
    (void)b;
    (void)exchange;
    (void)err;
    return SR_OK; /* MQTT has no exchanges: the topic's first level names it */
}

static int lost_error(const sr_broker *b, mqtt_conn *c, sr_err *err)
{
    return sr_err_set(err, SR_ECONN, true, "%s: connection lost: %s", sr_broker_url(b),
                      c->lost_reason[0] ? c->lost_reason : "closed");
}

static int m_subscribe(sr_broker *b, const sr_queue_spec *queue, sr_err *err)
{
    mqtt_backend *mb = b->backend;
    if (queue->binding_count == 0)
        return sr_err_set(err, SR_EINVAL, false, "%s: nothing to subscribe to (no binding)",
                          sr_broker_url(b));
    if (!mb->conn->consumer) {
        /* Connected as a publisher (clean session): come back with the persistent one. */
        m_disconnect(b);
        int rc = m_connect(b, err);
        if (rc != SR_OK)
            return rc;
    }
    mqtt_conn *c = mb->conn;
    int rc = SR_OK;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; rc == SR_OK && i < queue->binding_count; i++) {
        const char *filter = queue->bindings[i].key;
        if (filter == NULL || filter[0] == '\0') {
            rc = sr_err_set(err, SR_EINVAL, false, "%s: empty subscription filter",
                            sr_broker_url(b));
            break;
        }
        if (is_shared(filter) && !c->shared_subs) {
            rc = sr_err_set(err, SR_EPROTO, false,
                            "%s: the broker does not support shared subscriptions "
                            "(SharedSubscriptionAvailable 0), needed for \"%s\"",
                            sr_broker_url(b), filter);
            break;
        }
        int *mids = realloc(c->sub_mids, (c->sub_filters.count + 1) * sizeof *mids);
        if (mids == NULL || sr_strlist_push(&c->sub_filters, filter) != 0) {
            if (mids != NULL)
                c->sub_mids = mids;
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
        c->sub_mids = mids;
        int mid = 0;
        int mrc = mosquitto_subscribe_v5(c->mosq, &mid, filter, 1, 0, NULL);
        c->sub_mids[c->sub_filters.count - 1] = mrc == MOSQ_ERR_SUCCESS ? mid : 0;
        if (mrc == MOSQ_ERR_SUCCESS)
            c->sub_pending++;
        else if (mrc == MOSQ_ERR_NO_CONN || mrc == MOSQ_ERR_CONN_LOST)
            rc = sr_err_set(err, SR_ECONN, true, "%s: connection lost while subscribing",
                            sr_broker_url(b));
        else
            rc = sr_err_set(err, SR_EINVAL, false, "%s: cannot subscribe to \"%s\": %s",
                            sr_broker_url(b), filter, mosquitto_strerror(mrc));
    }
    wake(c);
    /* Wait for the SUBACKs, unless messages of the session come first: the SUBSCRIBEs
     * then leave with their PUBACKs, once the flow has acked them (a refusal is then
     * reported by consume). */
    struct timespec deadline;
    deadline_after(&deadline, sr_broker_timeout(b));
    while (rc == SR_OK && c->sub_pending > 0 && c->unacked == 0 && !c->lost && !c->finished &&
           c->sub_error[0] == '\0' && wait_until(c, &deadline))
        ;
    if (rc == SR_OK && c->sub_error[0] != '\0')
        rc = sr_err_set(err, SR_EPROTO, false, "%s: %s", sr_broker_url(b), c->sub_error);
    else if (rc == SR_OK && (c->lost || c->finished))
        rc = lost_error(b, c, err);
    else if (rc == SR_OK && c->sub_pending > 0 && c->unacked == 0)
        rc = sr_err_set(err, SR_ECONN, true, "%s: no SUBACK within %.0f s", sr_broker_url(b),
                        sr_broker_timeout(b));
    bool qos0 = c->sub_qos0;
    c->sub_qos0 = false;
    pthread_mutex_unlock(&c->lock);
    if (qos0)
        sr_broker_notify(b, SR_LOG_WARNING,
                         "%s: the broker granted QoS 0 only: messages are not acknowledged and "
                         "can be lost in a crash",
                         sr_broker_url(b));
    return rc;
}

static int m_delete_queue(sr_broker *b, const char *queue, sr_err *err)
{
    (void)queue; /* MQTT keeps messages in the session of a client id, not in a queue */
    mqtt_backend *mb = b->backend;
    if (b->client_id == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: ending an MQTT session needs the consumer's client id "
                          "(<queueName>_iNN)",
                          sr_broker_url(b));
    mqtt_conn *c = mb->conn;
    if (c != NULL && !c->consumer && c->client_id != NULL &&
        strcmp(c->client_id, b->client_id) == 0)
        return SR_OK; /* this connection's clean start ended it; it expires when we close */
    /* Clean start discards the session, expiry 0 ends the new one on disconnect. If this
     * broker's own connection used the id, the broker drops it (session taken over) and
     * the next call reconnects. */
    mqtt_conn *once = NULL;
    int rc = conn_open_any(b, b->client_id, false, &once, err);
    conn_free(once);
    return rc;
}

/* The properties of a batch's messages, built once for all that share them: a v03 batch
 * is one content type and no headers, and building them per message cost a few
 * allocations each. */
typedef struct props_cache {
    mosquitto_property *props;
    bool valid;               /* props fits a message without headers of content_type */
    const char *content_type; /* of props (the batch's own string) */
} props_cache;

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The MQTT 5 properties of e, in cache->props. */
static int message_props(const sr_broker *b, const sr_encoded *e, props_cache *cache)
{
    if (cache->valid && e->header_count == 0 && same_text(cache->content_type, e->content_type))
        return MOSQ_ERR_SUCCESS;
    mosquitto_property_free_all(&cache->props);
    cache->valid = false;
    mosquitto_property **props = &cache->props;
    int mrc = MOSQ_ERR_SUCCESS;
    if (e->content_type != NULL)
        mrc = mosquitto_property_add_string(props, MQTT_PROP_CONTENT_TYPE, e->content_type);
    if (mrc == MOSQ_ERR_SUCCESS)
        mrc = mosquitto_property_add_byte(props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    double expiry = b->options.message_expiry;
    if (mrc == MOSQ_ERR_SUCCESS && expiry > 0)
        mrc = mosquitto_property_add_int32(
            props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
            (uint32_t)(expiry < EXPIRY_MAX ? (expiry < 1 ? 1 : expiry + 0.5) : EXPIRY_MAX));
    for (size_t i = 0; mrc == MOSQ_ERR_SUCCESS && i < e->header_count; i++)
        mrc = mosquitto_property_add_string_pair(props, MQTT_PROP_USER_PROPERTY, e->headers[i].name,
                                                 e->headers[i].value);
    if (mrc == MOSQ_ERR_SUCCESS && e->header_count == 0) {
        cache->valid = true;
        cache->content_type = e->content_type;
    }
    return mrc;
}

static int publish_one(mqtt_conn *c, const sr_broker *b, const sr_outgoing *m, int *mid,
                       props_cache *cache, sr_err *err)
{
    const sr_encoded *e = m->message;
    if (c->version != MQTT_PROTOCOL_V5 && e->header_count > 0)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: MQTT 3.1.1 cannot carry v02 headers: post v03 (postFormat v03) "
                          "or use an MQTT 5 broker",
                          sr_broker_url(b));
    if (e->body_len > INT32_MAX)
        return sr_err_set(err, SR_EINVAL, false, "%s: message too large for MQTT",
                          sr_broker_url(b));
    int mrc = c->version == MQTT_PROTOCOL_V5 ? message_props(b, e, cache) : MOSQ_ERR_SUCCESS;
    if (mrc == MOSQ_ERR_SUCCESS)
        mrc = mosquitto_publish_v5(c->mosq, mid, m->topic, (int)e->body_len, e->body, 1, false,
                                   c->version == MQTT_PROTOCOL_V5 ? cache->props : NULL);
    if (mrc == MOSQ_ERR_SUCCESS)
        return SR_OK;
    if (mrc == MOSQ_ERR_NOMEM)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (mrc == MOSQ_ERR_NO_CONN || mrc == MOSQ_ERR_CONN_LOST)
        return sr_err_set(err, SR_ECONN, true, "%s: connection lost", sr_broker_url(b));
    char q[SR_QUOTE_BUF];
    return sr_err_set(err, SR_EINVAL, false, "%s: cannot publish to topic %s: %s", sr_broker_url(b),
                      sr_err_quote(m->topic, q, sizeof q), mosquitto_strerror(mrc));
}

static int m_publish_begin(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                           void **ticket, sr_err *err)
{
    mqtt_conn *c = ((mqtt_backend *)b->backend)->conn;
    mqtt_ticket *t = calloc(1, sizeof *t);
    pub_slot *slots = calloc(count ? count : 1, sizeof *slots);
    if (t == NULL || slots == NULL) {
        free(t);
        free(slots);
        for (size_t i = 0; i < count; i++)
            status[i] = SR_ENOMEM;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    t->slots = slots;
    t->count = count;
    t->status = status;
    props_cache cache = {0};
    size_t sent = 0;
    /* One lock for the batch (a PUBACK waits for it to find its message id recorded). */
    pthread_mutex_lock(&c->lock);
    bool held = c->unacked > 0;
    /* Listed before the first publish: its PUBACK may come before the loop ends. */
    mqtt_ticket **tail = &c->tickets;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = t;
    for (size_t i = 0; i < count; i++) {
        sr_err one;
        int rc;
        if (c->lost || c->finished)
            rc = lost_error(b, c, &one);
        else if (held)
            rc = sr_err_set(&one, SR_EINVAL, false,
                            "%s: cannot publish on a connection holding unacked deliveries "
                            "(ack them first, or post through a second connection)",
                            sr_broker_url(b));
        else
            rc = publish_one(c, b, &messages[i], &slots[i].mid, &cache, &one);
        status[i] = rc;
        if (rc == SR_OK) {
            slots[i].pending = true;
            t->outstanding++;
            /* the thread starts writing while the rest is queued */
            if (sent++ == 0)
                wake(c);
        } else if (t->failed++ == 0) {
            t->first = one;
        }
    }
    pthread_mutex_unlock(&c->lock);
    mosquitto_property_free_all(&cache.props);
    if (sent > 1)
        wake(c);
    *ticket = t;
    return SR_OK;
}

static void unlink_ticket(mqtt_conn *c, mqtt_ticket *t)
{
    for (mqtt_ticket **p = &c->tickets; *p != NULL; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
}

static int m_publish_end(sr_broker *b, void *ticket, sr_err *err)
{
    mqtt_ticket *t = ticket;
    bool lost = t->dead;
    char reason[REASON_MAX];
    snprintf(reason, sizeof reason, "%s", t->reason);
    if (!t->dead) {
        /* Not dead: the connection it went over is the current one, still allocated. */
        mqtt_conn *c = ((mqtt_backend *)b->backend)->conn;
        struct timespec deadline;
        deadline_after(&deadline, sr_broker_timeout(b));
        pthread_mutex_lock(&c->lock);
        while (t->outstanding > 0 && !c->lost && !c->finished && wait_until(c, &deadline))
            ;
        lost = c->lost || c->finished;
        snprintf(reason, sizeof reason, "%s", c->lost_reason[0] ? c->lost_reason : "closed");
        unlink_ticket(c, t);
        pthread_mutex_unlock(&c->lock);
    }

    /* The slots are ours again: the network thread no longer looks at them. */
    int *status = t->status;
    size_t count = t->count, failed = t->failed;
    sr_err first = t->first;
    size_t unconfirmed = 0, refused = 0;
    int refusal = 0;
    for (size_t i = 0; i < count; i++) {
        if (status[i] != SR_OK)
            continue;
        if (t->slots[i].pending) {
            status[i] = SR_ECONN;
            unconfirmed++;
        } else if (t->slots[i].reason >= 128) {
            status[i] = SR_EPROTO;
            if (refused++ == 0)
                refusal = t->slots[i].reason;
        }
    }
    free(t->slots);
    free(t);
    int rc = SR_OK;
    for (size_t i = 0; i < count && rc == SR_OK; i++)
        rc = status[i];
    if (rc == SR_OK)
        return SR_OK;
    size_t bad = failed + unconfirmed + refused;
    if (failed > 0)
        sr_err_set(err, first.code, first.retryable, "%zu of %zu messages not published: %s", bad,
                   count, first.msg);
    else if (unconfirmed > 0)
        sr_err_set(err, SR_ECONN, true, "%s: %zu of %zu messages not confirmed (no PUBACK): %s",
                   sr_broker_url(b), unconfirmed, count,
                   lost ? reason : "timed out waiting for the broker");
    else
        sr_err_set(err, SR_EPROTO, false, "%s: the broker refused %zu of %zu messages: %s",
                   sr_broker_url(b), refused, count, reason_text(refusal));
    if (err != NULL)
        err->code = rc;
    return rc;
}

static int m_consume(sr_broker *b, size_t max, double timeout, sr_delivery ***deliveries,
                     size_t *got, sr_err *err)
{
    mqtt_conn *c = ((mqtt_backend *)b->backend)->conn;
    if (max == 0)
        return SR_OK;
    struct timespec deadline;
    deadline_after(&deadline, timeout);
    sr_delivery **list = NULL;
    size_t n = 0;
    int rc = SR_OK;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->ready_count > 0) {
            n = c->ready_count < max ? c->ready_count : max;
            list = malloc(n * sizeof *list);
            if (list == NULL) {
                n = 0;
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                break;
            }
            for (size_t i = 0; i < n; i++) {
                mqtt_delivery *md = c->ready;
                c->ready = md->next;
                md->next = NULL;
                list[i] = &md->d;
            }
            if (c->ready == NULL)
                c->ready_last = NULL;
            c->ready_count -= n;
            break;
        }
        if (c->sub_error[0] != '\0') {
            rc = sr_err_set(err, SR_EPROTO, false, "%s: %s", sr_broker_url(b), c->sub_error);
            break;
        }
        if (c->lost || c->finished) {
            rc = lost_error(b, c, err);
            break;
        }
        /* Nothing read: either the broker sends nothing, or it waits for PUBACKs that
         * wait for the caller to ack what it took. */
        if (!wait_until(c, &deadline))
            break;
    }
    pthread_mutex_unlock(&c->lock);
    if (n == 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        list[i]->connection = b->connection;
    *deliveries = list;
    *got = n;
    return SR_OK;
}

static int m_ack(sr_broker *b, const sr_delivery *d, sr_err *err)
{
    (void)err;
    mqtt_conn *c = ((mqtt_backend *)b->backend)->conn;
    pthread_mutex_lock(&c->lock);
    /* A tag below read_base was acked and its PUBACK written already; one acked twice
     * changes nothing. */
    if (d->tag >= c->read_base && d->tag - c->read_base < c->read_count) {
        read_msg *r = &c->read[d->tag - c->read_base];
        if (!r->acked) {
            r->acked = true;
            if (--c->unacked == 0)
                wake(c); /* everything read is acked: the PUBACKs may leave */
        }
    }
    pthread_mutex_unlock(&c->lock);
    return SR_OK;
}

static void m_destroy(sr_broker *b)
{
    mqtt_backend *mb = b->backend;
    if (mb == NULL)
        return;
    conn_free(mb->conn);
    free(mb);
    b->backend = NULL;
}

static const sr_broker_ops mqtt_ops = {
    .connect = m_connect,
    .disconnect = m_disconnect,
    .declare_exchange = m_declare_exchange,
    .subscribe = m_subscribe,
    .delete_queue = m_delete_queue,
    .publish_begin = m_publish_begin,
    .publish_end = m_publish_end,
    .consume = m_consume,
    .ack = m_ack,
    .destroy = m_destroy,
};

/* mosquitto_lib_init is process-wide and not thread safe: done once, never undone (its
 * OpenSSL state lives as long as the process). */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
    lib_rc = mosquitto_lib_init();
}

int sr_broker_mqtt_init(sr_broker *b, sr_err *err)
{
    pthread_once(&lib_once, lib_init);
    if (lib_rc != MOSQ_ERR_SUCCESS)
        return sr_err_set(err, SR_EIO, false, "cannot initialise libmosquitto: %s",
                          mosquitto_strerror(lib_rc));
    mqtt_backend *mb = calloc(1, sizeof *mb);
    if (mb == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    mb->version = MQTT_PROTOCOL_V5;
    b->backend = mb;
    b->ops = &mqtt_ops;
    return SR_OK;
}
