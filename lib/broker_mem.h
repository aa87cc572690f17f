/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker_mem: an in-process broker for tests of the flow, behind the same sr_broker
 * interface as AMQP and MQTT (broker.h). It is a seam of our own, not a stand-in for a
 * server users run: the pytest stories still run RabbitMQ and Mosquitto.
 *
 * A test makes a hub, hands it to the flow (sr_flow_component.mem_hub) and writes
 * `broker mem://user@hub/` and `post_broker mem://user@hub/` in the config. Every broker
 * made with that hub shares it: messages the test injects form one queue that consumers
 * take from (bindings are not applied), and what publishers send is recorded in order.
 *
 * It behaves as AMQP with publisher confirms does, in the points the flow relies on:
 *  - a consumer holds at most `prefetch` unacknowledged deliveries; each is acked once;
 *  - a publish is sent at begin and confirmed (or refused) only at end;
 *  - a lost connection (sr_mem_hub_crash) puts every unacknowledged delivery back in the
 *    queue, marked redelivered, and fails every operation until a client connects again
 *    (refused until sr_mem_hub_revive). Acks and confirms that did not happen are lost.
 *
 * The test sees each step through a hook, called before the step takes effect; the hook
 * may crash the hub there (the step then fails as on a lost connection). That is how a
 * test stops a flow at any point of a pass. One thread; no global state.
 */
#ifndef SR_BROKER_MEM_H
#define SR_BROKER_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct sr_mem_hub sr_mem_hub;

/* What a hook is told of; `which` is the message id (DELIVER, ACK) or the index of the
 * publish (SEND, CONFIRM), 0 for CONSUME and CONNECT. */
enum sr_mem_event {
    SR_MEM_CONNECT, /* a client connects */
    SR_MEM_CONSUME, /* a consumer asks for messages (each pass of a consuming flow) */
    SR_MEM_DELIVER, /* message `which` is handed to the consumer */
    SR_MEM_SEND,    /* publish `which` is sent, not yet confirmed */
    SR_MEM_CONFIRM, /* publish `which` is confirmed to the publisher (or refused) */
    SR_MEM_ACK,     /* message `which` is acknowledged */
};

typedef void (*sr_mem_hook)(void *ctx, sr_mem_hub *hub, enum sr_mem_event event, size_t which);

/* One message a publisher sent. */
typedef struct sr_mem_published {
    char *exchange, *topic, *content_type; /* content_type may be NULL */
    char *body;                            /* NUL-terminated copy */
    size_t body_len;
    size_t header_count;
    char **header_names, **header_values;
    bool confirmed; /* the publisher was told the broker has it */
    bool refused;   /* the publisher was told it was refused (nack) */
} sr_mem_published;

/* NULL when out of memory. */
sr_mem_hub *sr_mem_hub_new(void);
void sr_mem_hub_free(sr_mem_hub *hub);

/* Put a message in the queue; *id (may be NULL) gets its id (0, 1, ...). */
int sr_mem_hub_inject(sr_mem_hub *hub, const char *topic, const char *content_type,
                      const char *body, size_t *id, sr_err *err);

void sr_mem_hub_set_hook(sr_mem_hub *hub, sr_mem_hook hook, void *ctx);

/* The connection is lost now: see the top. Clients cannot connect until revive. */
void sr_mem_hub_crash(sr_mem_hub *hub);
void sr_mem_hub_revive(sr_mem_hub *hub);
bool sr_mem_hub_crashed(const sr_mem_hub *hub);

/* The next count publishes are refused (nack, SR_EPROTO) instead of confirmed. */
void sr_mem_hub_refuse_publishes(sr_mem_hub *hub, size_t count);

/* Messages waiting in the queue, handed out and not yet acked, acked (each id once). */
size_t sr_mem_hub_ready(const sr_mem_hub *hub);
size_t sr_mem_hub_unacked(const sr_mem_hub *hub);
bool sr_mem_hub_is_acked(const sr_mem_hub *hub, size_t id);
/* How many times message id was acked (a second ack of a delivery is a bug). */
unsigned sr_mem_hub_acks_of(const sr_mem_hub *hub, size_t id);
/* How many times message id was handed out. */
unsigned sr_mem_hub_deliveries_of(const sr_mem_hub *hub, size_t id);

size_t sr_mem_hub_published_count(const sr_mem_hub *hub);
const sr_mem_published *sr_mem_hub_published(const sr_mem_hub *hub, size_t i);

#endif
