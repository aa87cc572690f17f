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
    /* post_format wis (sr-config(5), WIS2): the wis* options (pointing into the config;
     * NULL when unset), and what sr_publisher_fill_wis reads for the data_id pattern. */
    const char *wis_centre_id, *wis_data_id, *wis_metadata_id, *wis_geometry;
    const char *post_base_dir;
    double time_offset; /* varTimeOffset */
    /* The consumer side, for the subtopic of a received message: its broker's protocol
     * and topicPrefix (NULL: none); in_known false when the config consumes nothing. */
    bool in_known, in_mqtt;
    const char *in_topic_prefix;
} sr_publisher_setup;

/* The publisher side of cfg; SR_ENOENT when cfg has no post_broker. */
int sr_brokerconf_publisher(const sr_config *cfg, const sr_credentials *creds,
                            sr_publisher_setup *out, sr_err *err);
void sr_publisher_setup_fini(sr_publisher_setup *s);

/* The exchange and topic to publish m with, the one place they are decided: split
 * exchange from the identity; topic from topicCopy (the topic m came with, when it came
 * with one), or post_topic, or (post_format wis) post_topicPrefix and the subtopic m was
 * received with (sr_publisher_keep_subtopic), or post_topicPrefix and m's relPath
 * (topic.h), escaped for the protocol. With post_format wis the topic must follow the
 * WIS2 topic hierarchy (sr_topic_wis_check, wisCentreId on the origin channel):
 * SR_EREFUSED naming the level when it does not.
 * New strings the caller frees. A routing key cut at 255 bytes sets *truncated. */
int sr_publisher_route(const sr_publisher_setup *s, const sr_message *m, char **exchange,
                       char **topic, bool *truncated, sr_err *err);

/* post_format wis, for a message just received from the broker: its subtopic (the
 * received topic without its exchange and the consumer's topicPrefix levels, joined by
 * '/': sr_topic_subtopic_path) kept in its field "subtopic", which the retry queues keep
 * with it and a WNM does not carry; a field of that name the message came with is
 * dropped. So a relay posts WIS2 messages under a new channel (origin -> cache) with the
 * rest of their topic kept. Nothing to do with another post_format. */
int sr_publisher_keep_subtopic(const sr_publisher_setup *s, sr_message *m, sr_err *err);

/* post_format wis, before m is encoded: what a WNM needs that m may lack, from the
 * options: data_id (wisDataId with ${relPath}, ${filename} and the per-message
 * variables filled, else the levels of topic after wis2 + '/' + the file name of relPath),
 * metadata_id (wisMetadataId) and geometry (wisGeometry, unless null). A field m has is
 * kept. topic is the one sr_publisher_route gave m. SR_EREFUSED when a value the message
 * chooses may not stand in the data_id (varsub.h). Nothing to do with another format. */
int sr_publisher_fill_wis(const sr_publisher_setup *s, sr_message *m, const char *topic,
                          sr_err *err);

#endif
