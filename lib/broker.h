/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker: one interface to message brokers, AMQP 0-9-1 (rabbitmq-c) and MQTT 3.1.1/5
 * (libmosquitto), for the flow engine, which never needs to know which one it talks to.
 *
 * Guarantees the flow builds on:
 *  - sr_broker_publish returns only when the broker has taken responsibility for each
 *    message: AMQP publisher confirms (in batches, not sr3's transaction per message),
 *    MQTT QoS 1 PUBACK. A message whose confirm did not come is reported as failed and
 *    retryable, never as sent.
 *  - Consumed messages are acknowledged one by one with sr_broker_ack, after their work is
 *    done (never auto-ack: the old C pump loses its prefetched batch on a crash). What is
 *    not acked when the process dies comes back: AMQP to the next consumer of the queue,
 *    MQTT to the same client (its persistent session) when it reconnects.
 *  - AMQP consumes with basic.consume bounded by `prefetch` (basic.qos), not sr3's
 *    basic.get polling, which the broker cannot bound.
 *  - Losing the connection anywhere is a retryable SR_ECONN to the caller, never a crash.
 *    The next call reconnects, after a delay that doubles from backoff_min to backoff_max
 *    with +-25% jitter (so instances do not reconnect in step), re-declares the exchanges
 *    and the queue/subscription declared before, and resumes. Deliveries from the old
 *    connection can no longer be acked (the broker redelivers them); acking one is a no-op.
 *
 * Nothing here logs: events a log should show (connected, lost, TLS relaxed) go to the
 * notify callback, the errors to sr_err.
 */
#ifndef SR_BROKER_H
#define SR_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credentials.h"
#include "error.h"
#include "log.h"
#include "message.h"
#include "topic.h"
#include "url.h" /* enum sr_tls_rigour */

typedef struct sr_broker_options {
    const char *url; /* amqp[s]://user[:pw]@host[:port][/vhost] or mqtt[s]://user[:pw]@host[:port] */
    const sr_credentials *credentials; /* completes a URL without password; may be NULL */
    /* MQTT client id: consumers pass <queueName>_iNN so a restarted instance finds its
     * session again; NULL gives a random one (publishers). AMQP: the connection name
     * shown in the management UI. */
    const char *client_id;
    enum sr_tls_rigour tls;
    double heartbeat;       /* AMQP heartbeat, MQTT keepalive, seconds; 0: 60 */
    double timeout;         /* connecting, and waiting for confirms, seconds; 0: 30 */
    /* AMQP basic.qos, MQTT 5 receive maximum: prefetch (receiveMaximum), from the config
     * (brokerconf.h); 0 is taken as 1. */
    unsigned prefetch;
    bool persistent;        /* AMQP delivery_mode 2 (the persistent option) */
    double session_expiry;  /* MQTT session expiry of a consumer (`expire`), seconds */
    double message_expiry;  /* post_messageAgeMax: per-message expiry, seconds; 0: none */
    double backoff_min;     /* first reconnect delay, seconds; 0: 1 */
    double backoff_max;     /* reconnect delay cap, seconds; 0: 64 (sr3's) */
    /* Where events worth a log line go, with their level; may be NULL. */
    void (*notify)(void *ctx, enum sr_level level, const char *text);
    void *notify_ctx;
    /* Tests only: the in-process broker a mem://user@host/ URL stands for (broker_mem.h).
     * Without it a mem: URL is refused as any unknown scheme. */
    struct sr_mem_hub *mem_hub;
} sr_broker_options;

typedef struct sr_broker sr_broker;

/* Check the URL (scheme amqp, amqps, mqtt or mqtts), complete its password from the
 * credentials, and prepare; does not connect. NULL and err on a bad URL. */
sr_broker *sr_broker_new(const sr_broker_options *options, sr_err *err);

/* The URL as logs show it: password replaced by ***. */
const char *sr_broker_url(const sr_broker *b);
bool sr_broker_is_mqtt(const sr_broker *b);

/* Connect now (each other call also connects when it needs to). SR_ECONN (retryable)
 * with the reason; SR_EPERM for a refused login (not retryable until the config changes,
 * but still retried with backoff); SR_EINVAL for a TLS setup error. */
int sr_broker_connect(sr_broker *b, sr_err *err);

/* Declare a durable topic exchange (AMQP; nothing on MQTT). Remembered and re-declared on
 * every reconnect. */
int sr_broker_declare_exchange(sr_broker *b, const char *exchange, sr_err *err);

/* The AMQP queue types (queueType), in the order of the option's choices in options.def
 * (sr_config_choice). */
enum sr_queue_type { SR_QUEUE_CLASSIC, SR_QUEUE_QUORUM, SR_QUEUE_STREAM };

/* What a consumer subscribes to. */
typedef struct sr_queue_spec {
    const char *name;       /* AMQP queue; MQTT shared-subscription group (queueName) */
    bool declare;           /* AMQP: declare the queue (queueDeclare) */
    bool bind;              /* AMQP: bind it (queueBind) */
    bool durable;           /* AMQP */
    bool auto_delete;       /* AMQP */
    double expire;          /* AMQP x-expires, seconds; 0: none */
    double message_ttl;     /* AMQP x-message-ttl (messageAgeMax), seconds; 0: none */
    const char *queue_type; /* AMQP x-queue-type: NULL or "classic", or "quorum" */
    long long delivery_limit; /* AMQP x-delivery-limit (quorum); 0: none */
    /* AMQP x-dead-letter-exchange, or NULL: declared (a durable topic exchange) before
     * the queue, so what is dead-lettered has somewhere to go */
    const char *dead_letter_exchange;
    const char *dead_letter_routing_key; /* AMQP x-dead-letter-routing-key, or NULL */
    /* AMQP x-dead-letter-strategy at-least-once, with the x-overflow reject-publish it
     * needs (quorum queues): RabbitMQ keeps a dead message until the exchange routed it */
    bool dead_letter_at_least_once;
    const sr_topic_binding *bindings; /* AMQP: exchange + binding key; MQTT: the filter in key */
    size_t binding_count;
} sr_queue_spec;

/* Declare and bind the queue (AMQP) or subscribe (MQTT, QoS 1, persistent session with
 * session_expiry), then start consuming. Remembered and redone on every reconnect. */
int sr_broker_subscribe(sr_broker *b, const sr_queue_spec *queue, sr_err *err);

/* Delete the queue (AMQP) or end the session (MQTT): `sr cleanup`. */
int sr_broker_delete_queue(sr_broker *b, const char *queue, sr_err *err);

/* One message to publish. */
typedef struct sr_outgoing {
    const char *exchange;     /* AMQP exchange; MQTT: ignored (the topic holds it) */
    const char *topic;        /* AMQP routing key or MQTT topic, escaped (topic.h) */
    const sr_encoded *message; /* body, content type, v02 headers (message.h) */
} sr_outgoing;

/* Publish count messages and wait (up to timeout) until the broker has taken each.
 * status[i] is SR_OK or the code for message i: SR_ECONN (retryable) when the connection
 * broke or the confirm did not come, SR_EPROTO when the broker refused it (nack, unknown
 * exchange). Returns SR_OK when every message is taken; otherwise the first failure's code
 * and err saying how many of count failed and why. */
int sr_broker_publish(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                      sr_err *err);

/* The same in two steps, so a publisher can send the next batch while the broker works
 * on this one instead of stopping to wait for it (AMQP: one batch of 100 waited for at a
 * time gets 0.68 of the rate of publishing without confirms; with the next batch sent
 * before waiting, as bench/broker.c measures, nearly all of it). begin sends and returns
 * without waiting; end waits (up to timeout) until the broker has taken or refused each
 * message and sets status as sr_broker_publish does. status must stay valid until end.
 * Every begin needs its end, in any order, even after a lost connection (then end reports
 * the messages not confirmed as SR_ECONN). begin returns SR_OK, or SR_ENOMEM with *out
 * NULL and every status SR_ENOMEM; any other failure is reported by end. Only when end
 * returns has the broker taken responsibility for a message. */
typedef struct sr_publishing sr_publishing;
int sr_broker_publish_begin(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                            sr_publishing **out, sr_err *err);
int sr_broker_publish_end(sr_broker *b, sr_publishing *p, sr_err *err);

/* Look after a connection that has nothing to do, without waiting: a publisher that
 * posts nothing for longer than two heartbeats would otherwise be dropped by the broker
 * (rabbitmq-c sends heartbeats only while it is called) and its next post would fail
 * first. A flow calls it on each idle pass. SR_OK when not connected (nothing to keep);
 * SR_ECONN when the connection turns out lost (the next call reconnects). */
int sr_broker_poll(sr_broker *b, sr_err *err);

/* One message received. The wire part is what message.h decodes. */
typedef struct sr_delivery {
    sr_wire wire;         /* body, content type, topic (routing key / MQTT topic), headers */
    const char *exchange; /* AMQP: the exchange it was published to; MQTT: the topic's first level */
    bool redelivered;     /* the broker says it was delivered before (AMQP redelivered, MQTT DUP) */
    /* private to broker.c and the backend */
    uint64_t tag;             /* AMQP delivery tag, MQTT message id */
    unsigned long connection; /* which connection it came over */
    void *backend_data;
    void (*release)(struct sr_delivery *d); /* frees the delivery and all it holds */
} sr_delivery;

/* Up to max messages, waiting up to timeout seconds for the first one (0: do not wait).
 * *deliveries is a new array of *got deliveries (NULL when none), each to be acked with
 * sr_broker_ack and then freed with sr_delivery_free; free the array itself with free().
 * On MQTT up to prefetch (the receive maximum) messages are in flight, and their PUBACKs
 * leave, in order, only once every message read on the connection is acked (libmosquitto
 * 2.0 has no manual acks and writes its queued PUBACKs together; broker_mqtt.c explains).
 * So a caller must ack everything it took before it can get more than the broker sends
 * within prefetch: take, work, ack the lot, then consume again (as the flow's passes do).
 * A process killed outright may get again, besides what it held, what it acked since the
 * PUBACKs last left: at most prefetch messages. */
int sr_broker_consume(sr_broker *b, size_t max, double timeout, sr_delivery ***deliveries,
                      size_t *got, sr_err *err);

/* The message's work is done (or it was rejected, or it went to the retry queue): the
 * broker may forget it. A delivery from a connection since lost is not acked (the broker
 * redelivers it); that is SR_OK with nothing done. */
int sr_broker_ack(sr_broker *b, const sr_delivery *d, sr_err *err);
/* The same for n deliveries, given in the order they came (a pass's): on AMQP one
 * basic.ack with `multiple` when they are the oldest still unacknowledged on the channel,
 * else one each. Stops at the first failure (the rest come back from the broker). */
int sr_broker_ack_many(sr_broker *b, sr_delivery *const *d, size_t n, sr_err *err);
void sr_delivery_free(sr_delivery *d);

/* Connection state, for metrics and `sr status`. */
typedef struct sr_broker_stats {
    bool connected;
    unsigned long connects;     /* successful connections, the first included */
    unsigned long disconnects;  /* connections lost */
    double connected_seconds;   /* total time connected */
    double next_attempt;        /* seconds until the next reconnect may be tried; 0: now */
    /* AMQP: the broker has blocked this connection's publishing (connection.blocked: a
     * memory or disk alarm) and not yet unblocked it. */
    bool blocked;
    /* The node connected to (or tried last), host:port as the URL names it; "" before
     * the first attempt. A URL may name several (url.h). */
    char node[128];
} sr_broker_stats;
void sr_broker_get_stats(const sr_broker *b, sr_broker_stats *stats);
/* How many nodes the broker URL names (1 but for a cluster's list). */
unsigned sr_broker_node_count(const sr_broker *b);

/* Close: MQTT waits (up to timeout) for outstanding PUBACKs; unacked deliveries go back
 * to the broker. NULL-safe. */
void sr_broker_close(sr_broker *b);

#endif
