/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * brokerconf: from a loaded config to what the broker layer needs, for the consumer side
 * (broker, queue, bindings) and the publisher side (post_broker, exchange, topics), the
 * way sr3 derives them (sr-config(5) and sr(1), Brokers, state them for users).
 *
 * The queue name: queueName when the config sets it; else the one saved in the config's
 * state folder (<component>.<config>.<broker user>.qname, as sr3 names the file) so a
 * restart reuses the queue; else a new one, q_<user>.<component>.<config>.<queueShare>
 * with queueShare defaulting to <user>_<short host>_<8 random digits>, saved there by
 * instance 1 (tmp + rename). Instances 2..N read it and wait (up to a timeout) for
 * instance 1 to have written it, as sr3's do.
 */
#ifndef SR_BROKERCONF_H
#define SR_BROKERCONF_H

#include "broker.h"
#include "config.h"
#include "credentials.h"
#include "paths.h"

typedef struct sr_consumer_setup {
    sr_broker_options broker; /* url and options; client_id points into this struct */
    sr_queue_spec queue;      /* name and bindings point into this struct */
    char *queue_name;
    char *client_id; /* MQTT: <queueName>_iNN; NULL on AMQP */
    sr_topic_binding *bindings;
    size_t binding_count;
    bool mqtt;
} sr_consumer_setup;

/* The consumer side of cfg for instance (1..N; 0 = foreground/declare, which behaves as
 * instance 1). paths->state_dir holds the .qname file. Errors name the option. */
int sr_brokerconf_consumer(const sr_config *cfg, const sr_paths *paths, int instance,
                           const sr_credentials *creds, sr_consumer_setup *out, sr_err *err);
void sr_consumer_setup_fini(sr_consumer_setup *s);

typedef struct sr_publisher_setup {
    sr_broker_options broker;
    bool mqtt;
    char *exchange;            /* post_exchange (split: the base name, without the index) */
    unsigned split;            /* post_exchangeSplit, 0 or 1: no split */
    char *topic_prefix;        /* post_topicPrefix; NULL: none (post_topicPrefix None) */
    char *topic;               /* post_topic (raw), or NULL */
    enum sr_msg_format format; /* post_format */
    /* topicCopy: publish with the topic a message came with. The flow clears it when the
     * consumer's protocol differs from the publisher's (a topic of one is not one of the
     * other). */
    bool topic_copy;
} sr_publisher_setup;

/* The publisher side of cfg; SR_ENOENT when cfg has no post_broker. */
int sr_brokerconf_publisher(const sr_config *cfg, const sr_credentials *creds,
                            sr_publisher_setup *out, sr_err *err);
void sr_publisher_setup_fini(sr_publisher_setup *s);

/* The exchange and topic to publish m with, the one place they are decided: split
 * exchange from the identity; topic from topicCopy (the topic m came with, when it came
 * with one), or post_topic, or post_topicPrefix and m's relPath (topic.h), escaped for
 * the protocol.
 * New strings the caller frees. A routing key cut at 255 bytes sets *truncated. */
int sr_publisher_route(const sr_publisher_setup *s, const sr_message *m, char **exchange,
                       char **topic, bool *truncated, sr_err *err);

#endif
