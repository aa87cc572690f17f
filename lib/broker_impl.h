/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker_impl: what broker.c shares with its backends (broker_amqp.c, broker_mqtt.c).
 * Not installed, not public: the module's API is broker.h.
 *
 * broker.c owns everything that does not depend on the protocol: the URL and its
 * password, the connection state and generation, the reconnect backoff, what was declared
 * (to declare it again after a reconnect), the statistics and the notify callback. A
 * backend implements the operations below on a connection that broker.c says is up; it
 * returns SR_ECONN when it finds the connection broken, and broker.c then calls its
 * disconnect and schedules the reconnect.
 */
#ifndef SR_BROKER_IMPL_H
#define SR_BROKER_IMPL_H

#include <time.h>

#include "broker.h"
#include "strlist.h"
#include "url.h"

typedef struct sr_broker_ops {
    /* Open the connection (TLS, login, vhost, channel / session) into b->backend. On
     * failure leave nothing open. */
    int (*connect)(sr_broker *b, sr_err *err);
    /* Drop the connection, whatever its state; keep what sr_broker_new set up. */
    void (*disconnect)(sr_broker *b);
    int (*declare_exchange)(sr_broker *b, const char *exchange, sr_err *err);
    int (*subscribe)(sr_broker *b, const sr_queue_spec *queue, sr_err *err);
    int (*delete_queue)(sr_broker *b, const char *queue, sr_err *err);
    /* Publishing, one of two ways. publish sends and waits for the broker (broker.h's
     * sr_broker_publish). publish_begin sends and leaves a ticket (also when sending
     * failed, unless out of memory); publish_end waits for the confirms still missing,
     * settles status and frees the ticket, whatever became of the connection meanwhile:
     * a ticket of a connection since lost settles at once with SR_ECONN. A backend gives
     * begin and end, or publish alone (broker.c then publishes it all in begin). */
    int (*publish)(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                   sr_err *err);
    int (*publish_begin)(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                         void **ticket, sr_err *err);
    int (*publish_end)(sr_broker *b, void *ticket, sr_err *err);
    /* Service an idle connection without waiting (AMQP heartbeats); NULL when the
     * backend's own thread does it (MQTT). */
    int (*poll)(sr_broker *b, sr_err *err);
    int (*consume)(sr_broker *b, size_t max, double timeout, sr_delivery ***deliveries,
                   size_t *got, sr_err *err);
    int (*ack)(sr_broker *b, const sr_delivery *d, sr_err *err);
    /* Several of this connection's deliveries, in the order they came; NULL: broker.c
     * calls ack on each. */
    int (*ack_many)(sr_broker *b, sr_delivery *const *d, size_t n, sr_err *err);
    /* Free b->backend (after disconnect). */
    void (*destroy)(sr_broker *b);
} sr_broker_ops;

struct sr_broker {
    const sr_broker_ops *ops;
    sr_broker_options options; /* client_id copied below; the rest as given */
    char *client_id;           /* owned copy, or NULL */
    /* The node being used, with the password from credentials.conf: what the backends
     * connect to. Its host and port change when broker.c moves to another node. */
    sr_url url;
    sr_url all;                /* the whole URL, every node the config names */
    size_t node;               /* index of url's node in all (sr_url_node_at) */
    char *shown_url;           /* redacted */
    const sr_credential *credential; /* the credentials.conf line used, or NULL */

    bool connected;
    unsigned long connection; /* generation: +1 on each connect; deliveries remember it */
    sr_strlist exchanges;     /* declared, to re-declare */
    sr_queue_spec *queue;     /* subscribed (deep copy), to re-subscribe; or NULL */

    double delay;                  /* current reconnect delay, seconds */
    struct timespec next_attempt;  /* not before this (CLOCK_MONOTONIC) */
    char last_error[SR_ERR_MSG_MAX];
    sr_broker_stats stats;
    struct timespec connected_since;

    void *backend; /* the backend's own state */
};

/* The backends' constructors: set b->ops and b->backend from b->url and b->options. */
int sr_broker_amqp_init(sr_broker *b, sr_err *err);
int sr_broker_mqtt_init(sr_broker *b, sr_err *err);
int sr_broker_mem_init(sr_broker *b, sr_err *err); /* tests' in-process broker (broker_mem.h) */

/* Pass an event to the notify callback (printf style). */
void sr_broker_notify(const sr_broker *b, enum sr_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The options with their defaults filled in. */
double sr_broker_heartbeat(const sr_broker *b);
double sr_broker_timeout(const sr_broker *b);
unsigned sr_broker_prefetch(const sr_broker *b);

#endif
