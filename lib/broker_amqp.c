/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker_amqp: the AMQP 0-9-1 backend of broker.h, on rabbitmq-c (librabbitmq 0.11).
 *
 * One connection, one channel in confirm mode. The channel publishes (basic.publish for a
 * whole batch, then the confirms read back, `multiple` ones included; a batch's confirms
 * may still be outstanding while the next batch is sent: a ticket per batch) and consumes
 * (basic.consume with manual acks, bounded by basic.qos prefetch), so a flow that does both
 * on one broker needs one connection. Deliveries that arrive while publish waits for its
 * confirms are kept and handed over by the next consume.
 *
 * Invariants:
 *  - a->conn is NULL exactly when there is no connection; a->broken says the connection
 *    failed (socket error, timeout, connection.close), so disconnect drops it without the
 *    close handshake, which could only wait.
 *  - Pointers into rabbitmq-c's frame pools are used only until the next
 *    amqp_maybe_release_buffers; a delivery copies what it keeps into one allocation.
 *  - A channel the broker closes (an unknown exchange on publish: 404, a refused declare)
 *    is replaced at once by a new one with a new number, in confirm mode and consuming
 *    again when it was, so the connection stays usable and the caller gets SR_EPROTO for
 *    what the broker refused. Deliveries from the old channel cannot be acked any more (the
 *    broker has requeued them); acking one is a no-op, as for a lost connection.
 *  - rabbitmq-c sends heartbeats only while it is called: a caller must publish or consume
 *    at least once per heartbeat interval, or the broker drops the connection (which then
 *    shows as SR_ECONN and is reconnected).
 *  - Flow control: we ask for connection.blocked (a capability at login). RabbitMQ blocks
 *    a connection that publishes while one of its memory or disk alarms is in effect: it
 *    sends connection.blocked with its reason and stops reading the socket (its heartbeat
 *    monitor paused, its own heartbeats still sent) until every alarm is cleared, then
 *    sends connection.unblocked and reads on. A connection that only consumes is never
 *    blocked. While a->blocked, waiting for confirms is not timed: the broker is alive and
 *    will confirm what it reads (the options' while_blocked is called meanwhile and may
 *    end the wait); the timeout counts again from connection.unblocked. A connection
 *    dropped while blocked skips the close handshake, which the broker would not read.
 *
 * Codes: anything that leaves the connection in doubt is SR_ECONN (socket errors, a
 * confirm or a content frame not coming within the timeout, connection.close, a channel
 * closed or a subscription cancelled while consuming), so broker.c reconnects and
 * re-declares. A refused login or vhost is SR_EPERM, a certificate that does not verify
 * SR_EINVAL (both a matter of configuration), a nack or a broker-closed channel on publish
 * or declare SR_EPROTO (SR_EPERM for 403) with a new channel already in place.
 */
#include "broker_impl.h"
#include "brokerhdr_impl.h"
#include "timefmt.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* status[i] while message i waits for its confirm (broker.h codes are all >= 0). */
#define PENDING (-1)
/* How long closing a healthy connection may take: the broker answers at once or is gone. */
#define CLOSE_TIMEOUT 5.0
/* The vhost is an AMQP short string. */
#define VHOST_MAX 255
/* While blocked: how often a wait for confirms calls the options' while_blocked. */
#define BLOCKED_SLICE 1.0

/* A batch sent and waiting for its confirms (broker.h: sr_broker_publish_begin). The
 * backend lists the outstanding ones, oldest first, because a confirm read while waiting
 * for one batch (or while consuming) may be for another. */
typedef struct amqp_ticket {
    struct amqp_ticket *next;
    int *status;            /* the caller's: one per message, PENDING until confirmed */
    size_t count, sent;     /* messages in the batch, and how many went out */
    size_t pending, nacked; /* sent and not yet confirmed; refused by a nack */
    uint64_t first;         /* sequence number of message 0 on its channel */
    amqp_channel_t channel; /* confirms count on this channel only */
    bool channel_gone;      /* the broker closed that channel: what is pending was refused */
    bool dead;              /* its connection is gone: what is pending was not taken */
    int rc;                 /* a failure met while sending, with its text */
    char why[SR_ERR_MSG_MAX];
} amqp_ticket;

typedef struct amqp_backend {
    amqp_connection_state_t conn; /* NULL when not connected */
    amqp_channel_t channel;       /* the channel in use; a new number after a broker close */
    bool broken;                  /* the connection failed: drop it without closing it */
    uint64_t next_seq;            /* publish sequence number of the next message (confirms) */
    bool consuming;               /* basic.consume done on this channel */
    bool cancelled;               /* the broker cancelled our consumer (queue deleted) */
    char *queue;                  /* the queue consumed (its server-given name if unnamed) */
    char *consumer_tag;           /* the broker's name for our consumer */
    /* deliveries read while waiting for confirms, for the next consume (FIFO) */
    sr_delivery **stash;
    size_t stash_count, stash_cap;
    amqp_ticket *tickets; /* outstanding batches, oldest first */
    /* Delivery tags of this channel not yet acked (ascending: the broker numbers them in
     * order), held ones included: the broker still counts those as unacknowledged, so a
     * basic.ack with `multiple` may only cover a run that starts at the oldest of them. */
    uint64_t *unacked;
    size_t unacked_count, unacked_cap;
    bool unacked_lost; /* out of memory once: no multiple acks on this channel */
    /* scratch for the headers of the message being published */
    amqp_table_entry_t *entries;
    size_t entries_cap;
    /* connection.blocked received and no connection.unblocked since (b->stats.blocked
     * says the same), since when (sr_time_mono_s) and why (the broker's words) */
    bool blocked;
    double blocked_since;
    char blocked_why[128];
} amqp_backend;

/* A new channel: nothing on it is unacknowledged yet. */
static void forget_unacked(amqp_backend *a)
{
    a->unacked_count = 0;
    a->unacked_lost = false;
}

/* A delivery read on the current channel: one more unacknowledged. */
static void note_unacked(amqp_backend *a, uint64_t tag)
{
    if (a->unacked_count == a->unacked_cap) {
        size_t cap = a->unacked_cap ? a->unacked_cap * 2 : 64;
        uint64_t *grown = realloc(a->unacked, cap * sizeof *grown);
        if (grown == NULL) {
            a->unacked_lost = true; /* acks go one by one from now on: always right */
            return;
        }
        a->unacked = grown;
        a->unacked_cap = cap;
    }
    a->unacked[a->unacked_count++] = tag;
}

/* tag was acked: no longer unacknowledged. */
static void drop_unacked(amqp_backend *a, uint64_t tag)
{
    size_t lo = 0, hi = a->unacked_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->unacked[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < a->unacked_count && a->unacked[lo] == tag) {
        memmove(a->unacked + lo, a->unacked + lo + 1,
                (a->unacked_count - lo - 1) * sizeof *a->unacked);
        a->unacked_count--;
    }
}

/* The broker closed channel ch: the confirms of its tickets will not come. */
static void channel_gone(amqp_backend *a, amqp_channel_t ch)
{
    for (amqp_ticket *t = a->tickets; t != NULL; t = t->next)
        if (t->channel == ch)
            t->channel_gone = true;
}

/* A delivery and everything it points to, in one allocation. */
typedef struct amqp_delivery {
    sr_delivery d;
    amqp_channel_t channel; /* the channel it came on: acked only on that one */
    sr_header *headers;     /* the application headers as text (brokerhdr_impl.h), or NULL */
} amqp_delivery;

/* ---- small helpers ---- */

static struct timeval timeval_of(double seconds)
{
    if (seconds < 0)
        seconds = 0;
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - floor(seconds)) * 1e6)};
    return tv;
}

/* rabbitmq-c's bytes for a C string (no copy); NULL gives empty bytes. */
static amqp_bytes_t bytes_of(const char *s)
{
    return s != NULL ? amqp_cstring_bytes(s) : amqp_empty_bytes;
}

/* A length-bounded string from the wire, printable in one log line: at most 200 bytes,
 * control characters as '?'. */
static const char *wire_text(amqp_bytes_t bytes, char *buf, size_t size)
{
    size_t n = bytes.len < size - 1 ? bytes.len : size - 1;
    if (n > 200)
        n = 200;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = ((const unsigned char *)bytes.bytes)[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[n] = '\0';
    return buf;
}

/* The connection is gone (or unusable): record it and say why. */
static int lost(sr_broker *b, const char *what, const char *why, sr_err *err)
{
    amqp_backend *a = b->backend;
    a->broken = true;
    return sr_err_set(err, SR_ECONN, true, "%s: %s: %s", b->shown_url, what, why);
}

static void send_connection_close_ok(amqp_backend *a)
{
    amqp_connection_close_ok_t ok = {0};
    amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    a->broken = true;
}

/* The broker closed the connection: answer and describe it. */
static int connection_closed(sr_broker *b, const amqp_connection_close_t *c, const char *what,
                             sr_err *err)
{
    char text[256];
    char why[320];
    snprintf(why, sizeof why, "the broker closed the connection: %u %s", c->reply_code,
             wire_text(c->reply_text, text, sizeof text));
    send_connection_close_ok(b->backend);
    return lost(b, what, why, err);
}

/* connection.blocked: one warning, however many alarms follow (RabbitMQ sends it once
 * until all are cleared). */
static void blocked(sr_broker *b, const amqp_connection_blocked_t *m)
{
    amqp_backend *a = b->backend;
    if (a->blocked)
        return;
    a->blocked = true;
    b->stats.blocked = true;
    a->blocked_since = sr_time_mono_s();
    wire_text(m->reason, a->blocked_why, sizeof a->blocked_why);
    sr_broker_notify(b, SR_LOG_WARNING,
                     "%s: the broker blocks publishing: %s (a resource alarm); posting waits "
                     "until it unblocks",
                     b->shown_url, a->blocked_why[0] ? a->blocked_why : "no reason given");
}

static void unblocked(sr_broker *b)
{
    amqp_backend *a = b->backend;
    if (!a->blocked)
        return;
    a->blocked = false;
    b->stats.blocked = false;
    sr_broker_notify(b, SR_LOG_INFO, "%s: the broker unblocked publishing after %.1f s",
                     b->shown_url, sr_time_mono_s() - a->blocked_since);
}

/* A method on channel 0 met while reading: connection.close ends the connection;
 * connection.blocked and unblocked are noted; anything else is ignored. */
static int connection_method(sr_broker *b, amqp_method_number_t id, void *m, const char *what,
                             sr_err *err)
{
    if (id == AMQP_CONNECTION_CLOSE_METHOD)
        return connection_closed(b, m, what, err);
    if (id == AMQP_CONNECTION_BLOCKED_METHOD)
        blocked(b, m);
    else if (id == AMQP_CONNECTION_UNBLOCKED_METHOD)
        unblocked(b);
    return SR_OK;
}

/* ---- the channel ---- */

/* Open a.channel in confirm mode (publisher confirms start again at 1). */
static int open_channel(sr_broker *b, sr_err *err);
static int start_consuming(sr_broker *b, sr_err *err);

/* The broker closed our channel with c: acknowledge the close and carry on with a fresh
 * channel (consuming again if we were), so one refused operation does not cost the
 * connection. Returns the code for what was refused: SR_EPERM for 403, else SR_EPROTO;
 * SR_ECONN when the new channel cannot be had. */
static int channel_closed(sr_broker *b, const amqp_channel_close_t *c, const char *what,
                          sr_err *err)
{
    amqp_backend *a = b->backend;
    char text[256];
    char refused[SR_ERR_MSG_MAX];
    int code = c->reply_code == AMQP_ACCESS_REFUSED ? SR_EPERM : SR_EPROTO;
    channel_gone(a, a->channel);
    snprintf(refused, sizeof refused, "%s: %s: the broker refused: %u %s", b->shown_url, what,
             c->reply_code, wire_text(c->reply_text, text, sizeof text));
    amqp_channel_close_ok_t ok = {0};
    if (amqp_send_method(a->conn, a->channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) < 0) {
        a->broken = true;
        return sr_err_set(err, SR_ECONN, true, "%s; then the connection broke", refused);
    }
    int max = amqp_get_channel_max(a->conn);
    a->channel = (amqp_channel_t)(a->channel >= (max > 0 ? max : 2047) ? 1 : a->channel + 1);
    forget_unacked(a); /* the old channel's deliveries went back to the queue with it */
    bool was_consuming = a->consuming;
    a->consuming = false;
    sr_err inner;
    int rc = open_channel(b, &inner);
    if (rc == SR_OK && was_consuming)
        rc = start_consuming(b, &inner);
    if (rc != SR_OK) {
        a->broken = true;
        return sr_err_set(err, SR_ECONN, true, "%s; then: %s", refused, inner.msg);
    }
    return sr_err_set(err, code, false, "%s", refused);
}

/* After an RPC (rabbitmq-c's *_ok_t calls) returned NULL: why, as an sr code. */
static int rpc_failed(sr_broker *b, const char *what, sr_err *err)
{
    amqp_backend *a = b->backend;
    amqp_rpc_reply_t r = amqp_get_rpc_reply(a->conn);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
        return channel_closed(b, r.reply.decoded, what, err);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
        return connection_closed(b, r.reply.decoded, what, err);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        return lost(b, what, amqp_error_string2(r.library_error), err);
    return lost(b, what, "no answer from the broker", err);
}

static int open_channel(sr_broker *b, sr_err *err)
{
    amqp_backend *a = b->backend;
    if (amqp_channel_open(a->conn, a->channel) == NULL)
        return rpc_failed(b, "opening a channel", err);
    if (amqp_confirm_select(a->conn, a->channel) == NULL)
        return rpc_failed(b, "confirm.select", err);
    a->next_seq = 1;
    return SR_OK;
}

/* basic.qos and basic.consume (manual acks) on a->queue. */
static int start_consuming(sr_broker *b, sr_err *err)
{
    amqp_backend *a = b->backend;
    unsigned prefetch = sr_broker_prefetch(b);
    if (amqp_basic_qos(a->conn, a->channel, 0, (uint16_t)(prefetch > 65535 ? 65535 : prefetch),
                       0) == NULL)
        return rpc_failed(b, "basic.qos", err);
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(a->conn, a->channel, bytes_of(a->queue),
                                                     amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (ok == NULL) {
        char what[300];
        snprintf(what, sizeof what, "consuming from queue %s", a->queue);
        return rpc_failed(b, what, err);
    }
    free(a->consumer_tag);
    a->consumer_tag = strndup(ok->consumer_tag.bytes, ok->consumer_tag.len);
    if (a->consumer_tag == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    a->consuming = true;
    a->cancelled = false;
    return SR_OK;
}

/* ---- connecting ---- */

/* The vhost from the URL path: percent-decoded, without the leading '/'; "" and "/" mean
 * "/" (sr3's rule; rabbitmq-c's own URL parser would make "/" the vhost ""). */
static int vhost_of(const char *path, char *out, size_t size)
{
    const char *p = path != NULL && path[0] == '/' ? path + 1 : (path ? path : "");
    size_t n = 0;
    for (; *p != '\0'; p++) {
        char c = *p;
        if (c == '%' && p[1] != '\0' && p[2] != '\0') {
            char hex[3] = {p[1], p[2], '\0'};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end == '\0' && v > 0) {
                c = (char)v;
                p += 2;
            }
        }
        if (n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return 0;
}

/* A TCP connection to host:port within timeout, non-blocking as rabbitmq-c wants it. Our
 * own rather than rabbitmq-c's, whose errors do not tell a refused port from a timeout. */
static int tcp_connect(sr_broker *b, const char *host, int port, double timeout, int *out,
                       sr_err *err)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int gai = getaddrinfo(host, service, &hints, &list);
    if (gai != 0)
        return sr_err_set(err, SR_ECONN, true, "%s: unknown host %s (%s)", b->shown_url, host,
                          gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    double deadline = sr_time_mono_s() + timeout;
    int last = ECONNREFUSED;
    int fd = -1;
    for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            double left = deadline - sr_time_mono_s();
            rc = poll(&pfd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
            if (rc == 0) {
                errno = ETIMEDOUT;
                rc = -1;
            } else if (rc > 0) {
                int soerr = 0;
                socklen_t len = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
                errno = soerr;
                rc = soerr == 0 ? 0 : -1;
            }
        }
        if (rc != 0) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd < 0) {
        if (last == ETIMEDOUT)
            return sr_err_set(err, SR_ECONN, true, "%s: no answer from %s port %d within %g s",
                              b->shown_url, host, port, timeout);
        return sr_err_set(err, SR_ECONN, true, "%s: cannot connect to %s port %d: %s", b->shown_url,
                          host, port, strerror(last));
    }
    *out = fd;
    return SR_OK;
}

/* The TLS socket, with the checks tlsRigour asks for. */
static int tls_socket(sr_broker *b, amqp_socket_t **out, sr_err *err)
{
    amqp_backend *a = b->backend;
    amqp_socket_t *s = amqp_ssl_socket_new(a->conn);
    if (s == NULL)
        return sr_err_set(err, SR_EINVAL, false, "%s: cannot set up TLS", b->shown_url);
    /* rabbitmq-c 0.11 trusts nothing by default: the system CAs, then $SSL_CERT_FILE. */
    SSL_CTX *ctx = amqp_ssl_socket_get_context(s);
    if (ctx != NULL)
        SSL_CTX_set_default_verify_paths(ctx);
    const char *cafile = getenv("SSL_CERT_FILE");
    if (cafile != NULL && cafile[0] != '\0' && amqp_ssl_socket_set_cacert(s, cafile) != 0)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: cannot read the CA certificates of SSL_CERT_FILE=%s", b->shown_url,
                          cafile);
    bool check = b->options.tls != SR_TLS_LAX;
    amqp_ssl_socket_set_verify_peer(s, check);
    amqp_ssl_socket_set_verify_hostname(s, check);
    if (!check)
        sr_broker_notify(b, SR_LOG_WARNING,
                         "%s: tlsRigour lax: the broker's certificate and host name are NOT "
                         "checked; anyone on the path can read and change the messages",
                         b->shown_url);
    if (b->options.tls == SR_TLS_STRICT &&
        amqp_ssl_socket_set_ssl_versions(s, AMQP_TLSv1_2, AMQP_TLSvLATEST) != AMQP_STATUS_OK)
        return sr_err_set(err, SR_EINVAL, false, "%s: this TLS library cannot require TLS 1.2",
                          b->shown_url);
    *out = s;
    return SR_OK;
}

/* Why a TLS connection failed, as a user can act on it. */
static int tls_failed(sr_broker *b, int status, const char *host, int port, double timeout,
                      sr_err *err)
{
    switch (status) {
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: TLS: the broker's certificate is not signed by a trusted CA; "
                          "give the CA file in SSL_CERT_FILE, or tlsRigour lax for a test broker",
                          b->shown_url);
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: TLS: the broker's certificate is not for host %s; use the host "
                          "name it names, or tlsRigour lax for a test broker",
                          b->shown_url, host);
    case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
    case AMQP_STATUS_SOCKET_ERROR:
    case AMQP_STATUS_TCP_ERROR:
    case AMQP_STATUS_TIMEOUT: {
        /* rabbitmq-c does not say which: ask the network ourselves. */
        int fd;
        int rc = tcp_connect(b, host, port, timeout, &fd, err);
        if (rc != SR_OK)
            return rc;
        close(fd);
        return sr_err_set(err, SR_ECONN, true, "%s: TLS connection failed: %s", b->shown_url,
                          amqp_error_string2(status));
    }
    default: {
        unsigned long e = ERR_peek_last_error();
        const char *reason = e ? ERR_reason_error_string(e) : NULL;
        ERR_clear_error();
        return sr_err_set(err, SR_ECONN, true, "%s: TLS handshake failed (%s%s%s)", b->shown_url,
                          amqp_error_string2(status), reason ? ": " : "", reason ? reason : "");
    }
    }
}

/* Why login failed. */
static int login_failed(sr_broker *b, amqp_rpc_reply_t r, const char *user, const char *vhost,
                        sr_err *err)
{
    char text[256];
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *c = r.reply.decoded;
        wire_text(c->reply_text, text, sizeof text);
        send_connection_close_ok(b->backend);
        if (c->reply_code == AMQP_ACCESS_REFUSED)
            return sr_err_set(err, SR_EPERM, false,
                              "%s: login refused for user %s (wrong user or password?): %s",
                              b->shown_url, user, text);
        if (c->reply_code == AMQP_NOT_ALLOWED)
            return sr_err_set(err, SR_EPERM, false,
                              "%s: vhost \"%s\" refused (no such vhost, or no permission): %s",
                              b->shown_url, vhost, text);
        return sr_err_set(err, SR_ECONN, true, "%s: the broker closed the connection: %u %s",
                          b->shown_url, c->reply_code, text);
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        return sr_err_set(err, SR_ECONN, true, "%s: login failed: %s", b->shown_url,
                          amqp_error_string2(r.library_error));
    return sr_err_set(err, SR_ECONN, true, "%s: login failed", b->shown_url);
}

static void amqp_disconnect(sr_broker *b);

static int amqp_connect(sr_broker *b, sr_err *err)
{
    amqp_backend *a = b->backend;
    const char *host = b->url.host;
    int port = sr_url_port(&b->url);
    double timeout = sr_broker_timeout(b);
    char vhost[VHOST_MAX + 1];
    if (vhost_of(b->url.path, vhost, sizeof vhost) != 0)
        return sr_err_set(err, SR_EINVAL, false, "%s: the vhost is longer than %d bytes",
                          b->shown_url, VHOST_MAX);
    /* AMQP's default account, as sr3's amqp library has it when the URL names none. */
    const char *user = b->url.user != NULL ? b->url.user : "guest";
    const char *password =
        b->url.password != NULL ? b->url.password : (b->url.user != NULL ? "" : "guest");

    a->conn = amqp_new_connection();
    if (a->conn == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    a->broken = true; /* until the connection is up: a failure drops it without ceremony */
    a->blocked = false;
    b->stats.blocked = false;
    struct timeval tv = timeval_of(timeout);
    int rc = SR_OK;
    if (strcmp(b->url.scheme, "amqps") == 0) {
        amqp_socket_t *s = NULL;
        rc = tls_socket(b, &s, err);
        if (rc == SR_OK) {
            int status = amqp_socket_open_noblock(s, host, port, &tv);
            if (status != AMQP_STATUS_OK)
                rc = tls_failed(b, status, host, port, timeout, err);
        }
    } else {
        int fd = -1;
        rc = tcp_connect(b, host, port, timeout, &fd, err);
        if (rc == SR_OK) {
            amqp_socket_t *s = amqp_tcp_socket_new(a->conn);
            if (s == NULL) {
                close(fd);
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            } else {
                amqp_tcp_socket_set_sockfd(s, fd);
            }
        }
    }
    if (rc == SR_OK) {
        amqp_set_handshake_timeout(a->conn, &tv);
        amqp_set_rpc_timeout(a->conn, &tv);
        /* consumer_cancel_notify: a deleted queue cancels our consumer with basic.cancel
         * (then we subscribe again) instead of leaving it silently idle. */
        /* connection.blocked: the broker says when an alarm blocks our publishing (and
         * when it ends) rather than going silent. */
        amqp_table_entry_t caps[3];
        caps[0].key = amqp_cstring_bytes("consumer_cancel_notify");
        caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        caps[0].value.value.boolean = 1;
        caps[1].key = amqp_cstring_bytes("authentication_failure_close");
        caps[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        caps[1].value.value.boolean = 1;
        caps[2].key = amqp_cstring_bytes("connection.blocked");
        caps[2].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        caps[2].value.value.boolean = 1;
        amqp_table_entry_t props[4];
        int n = 0;
        props[n].key = amqp_cstring_bytes("capabilities");
        props[n].value.kind = AMQP_FIELD_KIND_TABLE;
        props[n++].value.value.table = (amqp_table_t){3, caps};
        props[n].key = amqp_cstring_bytes("product");
        props[n].value.kind = AMQP_FIELD_KIND_UTF8;
        props[n++].value.value.bytes = amqp_cstring_bytes("sr");
        props[n].key = amqp_cstring_bytes("version");
        props[n].value.kind = AMQP_FIELD_KIND_UTF8;
        props[n++].value.value.bytes = amqp_cstring_bytes(SR_VERSION);
        if (b->client_id != NULL) {
            props[n].key = amqp_cstring_bytes("connection_name");
            props[n].value.kind = AMQP_FIELD_KIND_UTF8;
            props[n++].value.value.bytes = amqp_cstring_bytes(b->client_id);
        }
        amqp_table_t table = {n, props};
        double hb = ceil(sr_broker_heartbeat(b));
        amqp_rpc_reply_t r = amqp_login_with_properties(a->conn, vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
                                                        (int)(hb > 65535 ? 65535 : hb), &table,
                                                        AMQP_SASL_METHOD_PLAIN, user, password);
        if (r.reply_type != AMQP_RESPONSE_NORMAL)
            rc = login_failed(b, r, user, vhost, err);
    }
    if (rc == SR_OK) {
        a->broken = false;
        a->channel = 1;
        forget_unacked(a);
        rc = open_channel(b, err);
    }
    if (rc != SR_OK)
        amqp_disconnect(b);
    return rc;
}

static void delivery_release(sr_delivery *d)
{
    free(((amqp_delivery *)d)->headers);
    free(d); /* the amqp_delivery it starts */
}

static void drop_stash(amqp_backend *a)
{
    for (size_t i = 0; i < a->stash_count; i++)
        sr_delivery_free(a->stash[i]);
    a->stash_count = 0;
}

static void amqp_disconnect(sr_broker *b)
{
    amqp_backend *a = b->backend;
    if (a->conn != NULL) {
        /* A blocked broker reads nothing: the close would only wait for CLOSE_TIMEOUT. */
        if (!a->broken && !a->blocked) {
            struct timeval tv = timeval_of(fmin(sr_broker_timeout(b), CLOSE_TIMEOUT));
            amqp_set_rpc_timeout(a->conn, &tv);
            /* Unacked deliveries go back to the queue when the channel closes. */
            amqp_rpc_reply_t r = amqp_channel_close(a->conn, a->channel, AMQP_REPLY_SUCCESS);
            if (r.reply_type == AMQP_RESPONSE_NORMAL)
                amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(a->conn);
        a->conn = NULL;
    }
    drop_stash(a);
    /* Their confirms can no longer come: each ticket's owner learns it at publish_end. */
    for (amqp_ticket *t = a->tickets, *next; t != NULL; t = next) {
        next = t->next;
        t->dead = true;
        t->next = NULL;
    }
    a->tickets = NULL;
    free(a->queue);
    a->queue = NULL;
    free(a->consumer_tag);
    a->consumer_tag = NULL;
    a->consuming = false;
    a->cancelled = false;
    a->broken = false;
    a->blocked = false;
    b->stats.blocked = false;
}

static void amqp_destroy(sr_broker *b)
{
    amqp_backend *a = b->backend;
    if (a == NULL)
        return;
    if (a->conn != NULL)
        amqp_disconnect(b);
    free(a->stash);
    free(a->unacked);
    free(a->entries);
    free(a);
    b->backend = NULL;
}

/* ---- declaring ---- */

static int amqp_declare_exchange(sr_broker *b, const char *exchange, sr_err *err)
{
    amqp_backend *a = b->backend;
    if (amqp_exchange_declare(a->conn, a->channel, bytes_of(exchange), amqp_cstring_bytes("topic"),
                              0, 1, 0, 0, amqp_empty_table) != NULL)
        return SR_OK;
    char what[300];
    snprintf(what, sizeof what, "declaring exchange %s", exchange);
    return rpc_failed(b, what, err);
}

/* A queue.declare the broker refused (rc, err from rpc_failed): when the queue exists
 * with other arguments (406 "inequivalent arg 'x-...'"), say which and what to do; the
 * broker's own text stays in front. */
static int declare_refused(int rc, sr_err *err)
{
    const char *mark = "inequivalent arg '";
    const char *at = rc == SR_EPROTO && err != NULL ? strstr(err->msg, mark) : NULL;
    if (at == NULL)
        return rc;
    at += strlen(mark);
    size_t len = strcspn(at, "'");
    char arg[64];
    snprintf(arg, sizeof arg, "%.*s", (int)(len < sizeof arg - 1 ? len : sizeof arg - 1), at);
    char first[SR_ERR_MSG_MAX];
    snprintf(first, sizeof first, "%s", err->msg);
    /* SR_ERR_MSG_MAX holds the broker's text (at most 200 bytes) and this */
    return sr_err_set(err, rc, false,
                      "%s; the queue exists with another %s than the config declares: `sr "
                      "cleanup` deletes it (and what waits in it) for the next start to declare "
                      "it anew, or queueName names another",
                      first, arg);
}

static int amqp_subscribe(sr_broker *b, const sr_queue_spec *q, sr_err *err)
{
    amqp_backend *a = b->backend;
    char what[600];
    if (a->consuming) {
        /* A new subscription on a live connection: the old consumer stops first. */
        a->consuming = false;
        if (amqp_basic_cancel(a->conn, a->channel, bytes_of(a->consumer_tag)) == NULL)
            return rpc_failed(b, "cancelling the previous subscription", err);
    }
    free(a->queue);
    a->queue = strdup(q->name != NULL ? q->name : "");
    if (a->queue == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (q->declare && q->dead_letter_exchange != NULL) {
        /* before the queue: RabbitMQ drops what it dead-letters to a missing exchange */
        int rc = amqp_declare_exchange(b, q->dead_letter_exchange, err);
        if (rc != SR_OK)
            return rc;
    }
    if (q->declare) {
        amqp_table_entry_t args[9];
        int n = 0;
        if (q->expire > 0) {
            args[n].key = amqp_cstring_bytes("x-expires");
            args[n].value.kind = AMQP_FIELD_KIND_I64;
            args[n++].value.value.i64 = (int64_t)ceil(q->expire * 1000);
        }
        if (q->message_ttl > 0) {
            args[n].key = amqp_cstring_bytes("x-message-ttl");
            args[n].value.kind = AMQP_FIELD_KIND_I64;
            args[n++].value.value.i64 = (int64_t)ceil(q->message_ttl * 1000);
        }
        if (q->queue_type != NULL && q->queue_type[0] != '\0') {
            args[n].key = amqp_cstring_bytes("x-queue-type");
            args[n].value.kind = AMQP_FIELD_KIND_UTF8;
            args[n++].value.value.bytes = amqp_cstring_bytes(q->queue_type);
        }
        if (q->delivery_limit > 0) {
            args[n].key = amqp_cstring_bytes("x-delivery-limit");
            args[n].value.kind = AMQP_FIELD_KIND_I64;
            args[n++].value.value.i64 = q->delivery_limit;
        }
        if (q->dead_letter_exchange != NULL) {
            args[n].key = amqp_cstring_bytes("x-dead-letter-exchange");
            args[n].value.kind = AMQP_FIELD_KIND_UTF8;
            args[n++].value.value.bytes = amqp_cstring_bytes(q->dead_letter_exchange);
        }
        if (q->dead_letter_routing_key != NULL) {
            args[n].key = amqp_cstring_bytes("x-dead-letter-routing-key");
            args[n].value.kind = AMQP_FIELD_KIND_UTF8;
            args[n++].value.value.bytes = amqp_cstring_bytes(q->dead_letter_routing_key);
        }
        if (q->dead_letter_at_least_once) {
            /* RabbitMQ falls back to at-most-once without reject-publish; with no
             * x-max-length the overflow rule never acts */
            args[n].key = amqp_cstring_bytes("x-dead-letter-strategy");
            args[n].value.kind = AMQP_FIELD_KIND_UTF8;
            args[n++].value.value.bytes = amqp_cstring_bytes("at-least-once");
            args[n].key = amqp_cstring_bytes("x-overflow");
            args[n].value.kind = AMQP_FIELD_KIND_UTF8;
            args[n++].value.value.bytes = amqp_cstring_bytes("reject-publish");
        }
        amqp_table_t table = {n, args};
        amqp_queue_declare_ok_t *ok = amqp_queue_declare(a->conn, a->channel, bytes_of(a->queue), 0,
                                                         q->durable, 0, q->auto_delete, table);
        if (ok == NULL) {
            snprintf(what, sizeof what, "declaring queue %s", a->queue);
            return declare_refused(rpc_failed(b, what, err), err);
        }
        if (a->queue[0] == '\0') {
            /* Unnamed: the broker named it. */
            char *named = strndup(ok->queue.bytes, ok->queue.len);
            if (named == NULL)
                return sr_err_set(err, SR_ENOMEM, false, "out of memory");
            free(a->queue);
            a->queue = named;
        }
    }
    for (size_t i = 0; q->bind && i < q->binding_count; i++) {
        const sr_topic_binding *bind = &q->bindings[i];
        if (amqp_queue_bind(a->conn, a->channel, bytes_of(a->queue), bytes_of(bind->exchange),
                            bytes_of(bind->key), amqp_empty_table) == NULL) {
            snprintf(what, sizeof what, "binding queue %s to exchange %s with key %s", a->queue,
                     bind->exchange ? bind->exchange : "", bind->key ? bind->key : "");
            return rpc_failed(b, what, err);
        }
    }
    amqp_maybe_release_buffers(a->conn);
    return start_consuming(b, err);
}

static int amqp_delete_queue(sr_broker *b, const char *queue, sr_err *err)
{
    amqp_backend *a = b->backend;
    if (amqp_queue_delete(a->conn, a->channel, bytes_of(queue), 0, 0) != NULL)
        return SR_OK;
    char what[300];
    snprintf(what, sizeof what, "deleting queue %s", queue);
    return rpc_failed(b, what, err);
}

/* ---- receiving ---- */

/* The next frame within the deadline; SR_ECONN (with err) when the connection failed. */
static int next_frame(sr_broker *b, double deadline, amqp_frame_t *f, bool *timed_out, sr_err *err)
{
    amqp_backend *a = b->backend;
    struct timeval tv = timeval_of(deadline - sr_time_mono_s());
    int s = amqp_simple_wait_frame_noblock(a->conn, f, &tv);
    *timed_out = s == AMQP_STATUS_TIMEOUT;
    if (s == AMQP_STATUS_OK || *timed_out)
        return SR_OK;
    return lost(b, "reading", amqp_error_string2(s), err);
}

/* A frame of the content that follows basic.deliver; frames of other channels (an old
 * one's leftovers) are skipped, a connection.close ends the connection. */
static int content_frame(sr_broker *b, double deadline, uint8_t type, amqp_frame_t *f, sr_err *err)
{
    amqp_backend *a = b->backend;
    for (;;) {
        bool timed_out;
        int rc = next_frame(b, deadline, f, &timed_out, err);
        if (rc != SR_OK)
            return rc;
        if (timed_out)
            return lost(b, "reading a message", "its content did not come", err);
        if (f->frame_type == AMQP_FRAME_METHOD && f->channel == 0) {
            rc = connection_method(b, f->payload.method.id, f->payload.method.decoded,
                                   "reading a message", err);
            if (rc != SR_OK)
                return rc;
            continue;
        }
        if (f->channel != a->channel)
            continue;
        if (f->frame_type != type)
            return lost(b, "reading a message", "a frame out of place in its content", err);
        return SR_OK;
    }
}

/* The content of the delivery m (header and body frames), copied into one new delivery.
 * A body larger than a message can be (SR_MSG_BODY_MAX) is read and dropped: the delivery
 * comes with an empty body, which the caller refuses and acks like any bad message. */
static int read_delivery(sr_broker *b, const amqp_basic_deliver_t *m, sr_delivery **out,
                         sr_err *err)
{
    amqp_backend *a = b->backend;
    double deadline = sr_time_mono_s() + sr_broker_timeout(b);
    amqp_frame_t f;
    int rc = content_frame(b, deadline, AMQP_FRAME_HEADER, &f, err);
    if (rc != SR_OK)
        return rc;
    const amqp_basic_properties_t *p = f.payload.properties.decoded;
    uint64_t body_size = f.payload.properties.body_size;
    size_t keep = body_size <= SR_MSG_BODY_MAX ? (size_t)body_size : 0;
    const amqp_table_t *h = (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? &p->headers : NULL;
    bool has_type = (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG) != 0;
    sr_header *headers = NULL;
    size_t nh = 0;
    rc = sr_brokerhdr__amqp(h, &headers, &nh, err);
    if (rc != SR_OK)
        return rc;

    size_t size = sizeof(amqp_delivery) + m->exchange.len + 1 + m->routing_key.len + 1 +
                  (has_type ? p->content_type.len + 1 : 0) + keep + 1;
    amqp_delivery *ad = malloc(size);
    if (ad == NULL) {
        free(headers);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    memset(ad, 0, sizeof *ad);
    ad->headers = headers;
    char *text = (char *)(ad + 1);

    ad->channel = a->channel;
    sr_delivery *d = &ad->d;
    d->redelivered = m->redelivered != 0;
    d->tag = m->delivery_tag;
    d->connection = b->connection;
    d->release = delivery_release;
    d->exchange = text;
    text = (char *)memcpy(text, m->exchange.bytes, m->exchange.len) + m->exchange.len;
    *text++ = '\0';
    d->wire.topic = text;
    text = (char *)memcpy(text, m->routing_key.bytes, m->routing_key.len) + m->routing_key.len;
    *text++ = '\0';
    if (has_type) {
        d->wire.content_type = text;
        text =
            (char *)memcpy(text, p->content_type.bytes, p->content_type.len) + p->content_type.len;
        *text++ = '\0';
    }
    d->wire.headers = headers;
    d->wire.header_count = nh;
    char *body = text;
    d->wire.body = body;
    d->wire.body_len = keep;

    /* The header frame's memory is not needed any more; the body frames follow. */
    uint64_t got = 0;
    while (got < body_size) {
        rc = content_frame(b, deadline, AMQP_FRAME_BODY, &f, err);
        if (rc != SR_OK) {
            delivery_release(d);
            return rc;
        }
        amqp_bytes_t frag = f.payload.body_fragment;
        if (frag.len > body_size - got) {
            delivery_release(d);
            return lost(b, "reading a message", "more body than its header announced", err);
        }
        if (keep > 0)
            memcpy(body + got, frag.bytes, frag.len);
        got += frag.len;
    }
    body[keep] = '\0';
    note_unacked(a, d->tag);
    *out = d;
    return SR_OK;
}

static int stash_push(amqp_backend *a, sr_delivery *d)
{
    if (a->stash_count == a->stash_cap) {
        size_t cap = a->stash_cap ? a->stash_cap * 2 : 16;
        sr_delivery **grown = realloc(a->stash, cap * sizeof *grown);
        if (grown == NULL)
            return SR_ENOMEM;
        a->stash = grown;
        a->stash_cap = cap;
    }
    a->stash[a->stash_count++] = d;
    return SR_OK;
}

/* ---- publishing ---- */

/* Mark the messages a confirm covers (tag, or all up to tag when multiple) with code.
 * first is the sequence number of message 0, sent how many went out. Returns how many
 * pending messages it settled. */
static size_t settle(int *status, uint64_t first, size_t sent, uint64_t tag, bool multiple,
                     int code)
{
    if (tag < first || sent == 0)
        return 0;
    uint64_t last = first + sent - 1;
    uint64_t hi = tag < last ? tag : last;
    uint64_t lo = multiple ? first : tag;
    size_t n = 0;
    for (uint64_t seq = lo; seq <= hi; seq++) {
        if (status[seq - first] == PENDING) {
            status[seq - first] = code;
            n++;
        }
    }
    return n;
}

/* A basic.ack or basic.nack on channel ch: settle what it covers in every outstanding
 * ticket of that channel. */
static void confirm(amqp_backend *a, amqp_channel_t ch, amqp_method_number_t id, const void *m)
{
    bool nack = id == AMQP_BASIC_NACK_METHOD;
    uint64_t tag = nack ? ((const amqp_basic_nack_t *)m)->delivery_tag
                        : ((const amqp_basic_ack_t *)m)->delivery_tag;
    bool multiple =
        nack ? ((const amqp_basic_nack_t *)m)->multiple : ((const amqp_basic_ack_t *)m)->multiple;
    for (amqp_ticket *t = a->tickets; t != NULL; t = t->next) {
        if (t->channel != ch || t->pending == 0)
            continue;
        size_t n = settle(t->status, t->first, t->sent, tag, multiple, nack ? SR_EPROTO : SR_OK);
        t->pending -= n;
        if (nack)
            t->nacked += n;
    }
}

static void unlink_ticket(amqp_backend *a, amqp_ticket *t)
{
    for (amqp_ticket **p = &a->tickets; *p != NULL; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
}

static int amqp_publish_begin(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                              void **ticket, sr_err *err)
{
    amqp_backend *a = b->backend;
    amqp_ticket *t = calloc(1, sizeof *t);
    if (t == NULL) {
        for (size_t i = 0; i < count; i++)
            status[i] = SR_ENOMEM;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    t->status = status;
    t->count = count;
    t->first = a->next_seq;
    t->channel = a->channel;
    char expiration[32] = "";
    if (b->options.message_expiry > 0)
        snprintf(expiration, sizeof expiration, "%.0f", ceil(b->options.message_expiry * 1000));
    for (size_t i = 0; i < count; i++)
        status[i] = PENDING;

    int rc = SR_OK;
    for (; t->sent < count; t->sent++) {
        const sr_outgoing *o = &messages[t->sent];
        const sr_encoded *e = o->message;
        if (e->header_count > a->entries_cap) {
            amqp_table_entry_t *grown = realloc(a->entries, e->header_count * sizeof *grown);
            if (grown == NULL) {
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                break;
            }
            a->entries = grown;
            a->entries_cap = e->header_count;
        }
        for (size_t h = 0; h < e->header_count; h++) {
            a->entries[h].key = amqp_cstring_bytes(e->headers[h].name);
            a->entries[h].value.kind = AMQP_FIELD_KIND_UTF8;
            a->entries[h].value.value.bytes = amqp_cstring_bytes(e->headers[h].value);
        }
        /* sr3 always sends the headers table (empty for v03). */
        amqp_basic_properties_t props = {
            ._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
            .headers = {(int)e->header_count, a->entries},
            .delivery_mode = b->options.persistent ? 2 : 1,
        };
        if (e->content_type != NULL) {
            props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
            props.content_type = amqp_cstring_bytes(e->content_type);
        }
        if (expiration[0] != '\0') {
            props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
            props.expiration = amqp_cstring_bytes(expiration);
        }
        amqp_bytes_t body = {e->body_len, e->body};
        int s = amqp_basic_publish(a->conn, a->channel, bytes_of(o->exchange), bytes_of(o->topic),
                                   0, 0, &props, body);
        if (s != AMQP_STATUS_OK) {
            rc = lost(b, "publishing", amqp_error_string2(s), err);
            break;
        }
        a->next_seq++;
    }
    t->pending = t->sent;
    for (size_t i = t->sent; i < count; i++)
        status[i] = rc; /* not sent */
    if (rc != SR_OK) {
        t->rc = rc;
        snprintf(t->why, sizeof t->why, "%s", err ? err->msg : "not sent");
    }
    /* Listed even when sending failed: the messages that went out may still be confirmed
     * (a local error), and a lost connection marks it dead through disconnect. */
    amqp_ticket **tail = &a->tickets;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = t;
    *ticket = t;
    return rc;
}

/* Read frames until t is settled (its confirms, a nack, its channel or connection gone)
 * or the deadline, or with t NULL until none is waiting; what else comes is dealt with
 * on the way: confirms of other tickets, deliveries kept for the next consume. Reading
 * is also what makes rabbitmq-c send its heartbeats. */
static int read_frames(sr_broker *b, amqp_ticket *t, double deadline, sr_err *err)
{
    amqp_backend *a = b->backend;
    int rc = SR_OK;
    double next_call = sr_time_mono_s() + BLOCKED_SLICE; /* of while_blocked */
    while (rc == SR_OK && (t == NULL || (t->pending > 0 && !t->dead && !t->channel_gone))) {
        amqp_frame_t f;
        bool timed_out;
        bool waiting_blocked = t != NULL && a->blocked;
        if (waiting_blocked && sr_time_mono_s() >= next_call) {
            next_call = sr_time_mono_s() + BLOCKED_SLICE;
            if (b->options.while_blocked != NULL &&
                b->options.while_blocked(b->options.notify_ctx)) {
                char why[200];
                snprintf(why, sizeof why, "stopping while the broker blocks publishing (%s)",
                         a->blocked_why);
                rc = lost(b, "publishing", why, err);
                break;
            }
        }
        /* Blocked: no deadline, in slices, for while_blocked. */
        rc = next_frame(b, waiting_blocked ? next_call : deadline, &f, &timed_out, err);
        if (rc != SR_OK || (timed_out && t == NULL))
            break;
        if (timed_out && waiting_blocked)
            continue;
        if (timed_out) {
            rc = lost(b, "publishing", "the broker did not confirm in time", err);
            break;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue; /* content of an old channel's delivery */
        amqp_method_number_t id = f.payload.method.id;
        void *m = f.payload.method.decoded;
        if (f.channel == 0) {
            bool was_blocked = a->blocked;
            rc = connection_method(b, id, m, "publishing", err);
            /* The broker reads again: the confirms of what waited may take the timeout. */
            if (was_blocked && !a->blocked && t != NULL)
                deadline = sr_time_mono_s() + sr_broker_timeout(b);
        } else if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
            confirm(a, f.channel, id, m);
        } else if (f.channel != a->channel) {
            continue;
        } else if (id == AMQP_CHANNEL_CLOSE_METHOD) {
            /* An unknown exchange (404): what was not confirmed is refused. */
            rc = channel_closed(b, m, "publishing", err);
        } else if (id == AMQP_BASIC_DELIVER_METHOD) {
            sr_delivery *d = NULL;
            rc = read_delivery(b, m, &d, err);
            if (rc == SR_OK && stash_push(a, d) != SR_OK) {
                sr_delivery_free(d);
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            }
        } else if (id == AMQP_BASIC_CANCEL_METHOD) {
            a->cancelled = true;
        }
        amqp_maybe_release_buffers(a->conn);
    }
    return rc;
}

static int wait_confirms(sr_broker *b, amqp_ticket *t, sr_err *err)
{
    return read_frames(b, t, sr_time_mono_s() + sr_broker_timeout(b), err);
}

/* Idle: answer the broker (heartbeats) and take what it sent, without waiting. */
static int amqp_poll(sr_broker *b, sr_err *err)
{
    return read_frames(b, NULL, 0, err);
}

static int amqp_publish_end(sr_broker *b, void *ticket, sr_err *err)
{
    amqp_backend *a = b->backend;
    amqp_ticket *t = ticket;
    sr_err waited;
    int rc = t->dead ? SR_OK : wait_confirms(b, t, &waited);
    if (!t->dead)
        unlink_ticket(a, t);
    size_t failed = 0;
    int first_code = SR_OK;
    for (size_t i = 0; i < t->count; i++) {
        if (t->status[i] == PENDING)
            t->status[i] = t->channel_gone ? SR_EPROTO : SR_ECONN;
        if (t->status[i] != SR_OK) {
            failed++;
            if (first_code == SR_OK)
                first_code = t->status[i];
        }
    }
    int sent_rc = t->rc;
    char why[SR_ERR_MSG_MAX];
    if (rc != SR_OK)
        snprintf(why, sizeof why, "%s", waited.msg);
    else if (sent_rc != SR_OK)
        snprintf(why, sizeof why, "%s", t->why);
    else if (t->dead)
        snprintf(why, sizeof why, "%s: the connection was lost before the broker confirmed",
                 b->shown_url);
    else
        why[0] = '\0';
    size_t nacked = t->nacked, count = t->count;
    free(t);
    if (failed == 0)
        return SR_OK;
    /* A connection lost now is SR_ECONN whatever the first message's fate: broker.c
     * reconnects. */
    if (rc == SR_ECONN)
        first_code = SR_ECONN;
    /* Only nacks: the refused go to the post retry queue, and the connection is made
     * anew (SR_ECONN: broker.c reconnects), because RabbitMQ 3.10 keeps refusing on a
     * channel that was publishing to a quorum queue when its leader died, long after a
     * new leader took over, while a new connection is served at once (test_cluster). */
    if (why[0] == '\0')
        return sr_err_set(err, SR_ECONN, true,
                          "%s: the broker refused (nack) %zu of %zu messages; connecting anew "
                          "before they are posted again",
                          b->shown_url, nacked, count);
    sr_err_set(err, first_code, first_code == SR_ECONN, "%s (%zu of %zu messages not taken)", why,
               failed, count);
    return first_code;
}

static int amqp_consume(sr_broker *b, size_t max, double timeout, sr_delivery ***deliveries,
                        size_t *got, sr_err *err)
{
    amqp_backend *a = b->backend;
    *deliveries = NULL;
    *got = 0;
    if (max == 0)
        return SR_OK;
    size_t cap = a->stash_count + sr_broker_prefetch(b);
    if (cap > max)
        cap = max;
    sr_delivery **out = malloc(cap * sizeof *out);
    if (out == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    size_t n = 0;
    int rc = SR_OK;

    /* First what came while publish waited for confirms. */
    size_t from_stash = a->stash_count < max ? a->stash_count : max;
    if (from_stash > 0) {
        memcpy(out, a->stash, from_stash * sizeof *out);
        memmove(a->stash, a->stash + from_stash, (a->stash_count - from_stash) * sizeof *out);
        a->stash_count -= from_stash;
        n = from_stash;
    }

    double deadline = sr_time_mono_s() + (timeout > 0 ? timeout : 0);
    if (a->cancelled)
        rc = lost(b, "consuming",
                  "the broker cancelled the subscription (queue deleted?); subscribing again", err);
    while (rc == SR_OK && n < max) {
        amqp_frame_t f;
        bool timed_out;
        /* Wait for the first message only; then take what has already arrived. */
        rc = next_frame(b, n == 0 ? deadline : 0, &f, &timed_out, err);
        if (rc != SR_OK || (timed_out && (n > 0 || sr_time_mono_s() >= deadline)))
            break;
        if (timed_out || f.frame_type != AMQP_FRAME_METHOD)
            continue;
        amqp_method_number_t id = f.payload.method.id;
        void *m = f.payload.method.decoded;
        if (f.channel == 0) {
            rc = connection_method(b, id, m, "consuming", err);
        } else if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
            confirm(a, f.channel, id, m); /* of a batch still outstanding */
        } else if (f.channel != a->channel) {
            /* an old channel's leftovers */
        } else if (id == AMQP_BASIC_DELIVER_METHOD) {
            if (n == cap) {
                cap = cap * 2 < max ? cap * 2 : max;
                sr_delivery **grown = realloc(out, cap * sizeof *out);
                if (grown == NULL) {
                    rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                    break;
                }
                out = grown;
            }
            rc = read_delivery(b, m, &out[n], err);
            if (rc == SR_OK)
                n++;
        } else if (id == AMQP_CHANNEL_CLOSE_METHOD) {
            /* The consumer went with the channel: start again from a new connection. */
            char text[256];
            const amqp_channel_close_t *c = m;
            char why[320];
            snprintf(why, sizeof why, "the broker closed the channel: %u %s", c->reply_code,
                     wire_text(c->reply_text, text, sizeof text));
            rc = lost(b, "consuming", why, err);
        } else if (id == AMQP_BASIC_CANCEL_METHOD) {
            a->cancelled = true;
            rc = lost(b, "consuming",
                      "the broker cancelled the subscription (queue deleted?); subscribing again",
                      err);
        }
        amqp_maybe_release_buffers(a->conn);
    }
    if (rc != SR_OK) {
        /* From a dead connection they cannot be acked: the broker redelivers them. */
        for (size_t i = 0; i < n; i++)
            sr_delivery_free(out[i]);
        free(out);
        return rc;
    }
    if (n == 0) {
        free(out);
        return SR_OK;
    }
    *deliveries = out;
    *got = n;
    return SR_OK;
}

static int amqp_ack(sr_broker *b, const sr_delivery *d, sr_err *err)
{
    amqp_backend *a = b->backend;
    const amqp_delivery *ad = (const amqp_delivery *)d;
    if (a->conn == NULL || ad->channel != a->channel)
        return SR_OK; /* its channel is gone: the broker has requeued it */
    int s = amqp_basic_ack(a->conn, a->channel, d->tag, 0);
    if (s != AMQP_STATUS_OK)
        return lost(b, "acknowledging", amqp_error_string2(s), err);
    drop_unacked(a, d->tag);
    return SR_OK;
}

/* A pass's deliveries, in the order they came: when they are exactly the oldest ones still
 * unacknowledged on the channel, one basic.ack with `multiple` covers them all (one frame
 * for the broker to handle instead of n); otherwise, or after a lost memory, one each. */
static int amqp_ack_many(sr_broker *b, sr_delivery *const *d, size_t n, sr_err *err)
{
    amqp_backend *a = b->backend;
    bool run = n > 1 && !a->unacked_lost && a->conn != NULL && n <= a->unacked_count;
    for (size_t i = 0; run && i < n; i++)
        run = ((const amqp_delivery *)d[i])->channel == a->channel && d[i]->tag == a->unacked[i];
    if (!run) {
        for (size_t i = 0; i < n; i++) {
            int rc = amqp_ack(b, d[i], err);
            if (rc != SR_OK)
                return rc;
        }
        return SR_OK;
    }
    int s = amqp_basic_ack(a->conn, a->channel, d[n - 1]->tag, 1);
    if (s != AMQP_STATUS_OK)
        return lost(b, "acknowledging", amqp_error_string2(s), err);
    memmove(a->unacked, a->unacked + n, (a->unacked_count - n) * sizeof *a->unacked);
    a->unacked_count -= n;
    return SR_OK;
}

static const sr_broker_ops amqp_ops = {
    .connect = amqp_connect,
    .disconnect = amqp_disconnect,
    .declare_exchange = amqp_declare_exchange,
    .subscribe = amqp_subscribe,
    .delete_queue = amqp_delete_queue,
    .publish_begin = amqp_publish_begin,
    .publish_end = amqp_publish_end,
    .poll = amqp_poll,
    .consume = amqp_consume,
    .ack = amqp_ack,
    .ack_many = amqp_ack_many,
    .destroy = amqp_destroy,
};

int sr_broker_amqp_init(sr_broker *b, sr_err *err)
{
    amqp_backend *a = calloc(1, sizeof *a);
    if (a == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    b->backend = a;
    b->ops = &amqp_ops;
    return SR_OK;
}
