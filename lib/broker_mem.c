/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * broker_mem: see broker_mem.h. The backend (struct mem_client) is one per sr_broker; the
 * hub they share holds the queue and the record of publishes.
 */
#include "broker_mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker_impl.h"

enum mem_state { MEM_READY, MEM_OUT, MEM_ACKED };

typedef struct mem_message {
    char *topic, *content_type, *body;
    size_t body_len;
    enum mem_state state;
    bool redelivered;
    unsigned deliveries, acks;
} mem_message;

struct sr_mem_hub {
    mem_message *msgs;
    size_t count, cap;
    sr_mem_published *pub;
    size_t pub_count, pub_cap;
    sr_mem_hook hook;
    void *hook_ctx;
    bool down;           /* crashed, not revived */
    unsigned long epoch; /* +1 on each crash: clients of an older one are cut off */
    size_t refuse_next;  /* publishes still to refuse */
};

typedef struct mem_client {
    sr_mem_hub *hub;
    unsigned long epoch; /* the hub's epoch when this client connected */
    bool consumer;       /* subscribed: its deliveries go back to the queue when it leaves */
} mem_client;

/* A publish begun: which records it sent and where their status goes. */
typedef struct mem_ticket {
    size_t first, count; /* in hub->pub */
    int *status;
    size_t status_count;
    unsigned long epoch;
} mem_ticket;

static char *dup_or_null(const char *s, bool *failed)
{
    if (s == NULL)
        return NULL;
    char *c = strdup(s);
    if (c == NULL)
        *failed = true;
    return c;
}

sr_mem_hub *sr_mem_hub_new(void)
{
    return calloc(1, sizeof(sr_mem_hub));
}

static void published_fini(sr_mem_published *p)
{
    free(p->exchange);
    free(p->topic);
    free(p->content_type);
    free(p->body);
    for (size_t i = 0; i < p->header_count; i++) {
        free(p->header_names[i]);
        free(p->header_values[i]);
    }
    free(p->header_names);
    free(p->header_values);
}

void sr_mem_hub_free(sr_mem_hub *hub)
{
    if (hub == NULL)
        return;
    for (size_t i = 0; i < hub->count; i++) {
        free(hub->msgs[i].topic);
        free(hub->msgs[i].content_type);
        free(hub->msgs[i].body);
    }
    for (size_t i = 0; i < hub->pub_count; i++)
        published_fini(&hub->pub[i]);
    free(hub->msgs);
    free(hub->pub);
    free(hub);
}

static bool grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *grown = realloc(*items, n * size);
    if (grown == NULL)
        return false;
    *items = grown;
    *cap = n;
    return true;
}

int sr_mem_hub_inject(sr_mem_hub *hub, const char *topic, const char *content_type,
                      const char *body, size_t *id, sr_err *err)
{
    if (!grow((void **)&hub->msgs, &hub->cap, hub->count + 1, sizeof *hub->msgs))
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    mem_message *m = &hub->msgs[hub->count];
    memset(m, 0, sizeof *m);
    bool failed = false;
    m->topic = dup_or_null(topic, &failed);
    m->content_type = dup_or_null(content_type, &failed);
    m->body = dup_or_null(body ? body : "", &failed);
    if (failed) {
        free(m->topic);
        free(m->content_type);
        free(m->body);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    m->body_len = strlen(m->body);
    if (id != NULL)
        *id = hub->count;
    hub->count++;
    return SR_OK;
}

void sr_mem_hub_set_hook(sr_mem_hub *hub, sr_mem_hook hook, void *ctx)
{
    hub->hook = hook;
    hub->hook_ctx = ctx;
}

/* Every delivery not acked goes back to the queue, as a broker does with those of a
 * connection it lost. */
static void requeue_unacked(sr_mem_hub *hub)
{
    for (size_t i = 0; i < hub->count; i++)
        if (hub->msgs[i].state == MEM_OUT) {
            hub->msgs[i].state = MEM_READY;
            hub->msgs[i].redelivered = true;
        }
}

void sr_mem_hub_crash(sr_mem_hub *hub)
{
    hub->down = true;
    hub->epoch++;
    requeue_unacked(hub);
}

void sr_mem_hub_revive(sr_mem_hub *hub)
{
    hub->down = false;
}

bool sr_mem_hub_crashed(const sr_mem_hub *hub)
{
    return hub->down;
}

void sr_mem_hub_refuse_publishes(sr_mem_hub *hub, size_t count)
{
    hub->refuse_next = count;
}

static size_t count_in(const sr_mem_hub *hub, enum mem_state state)
{
    size_t n = 0;
    for (size_t i = 0; i < hub->count; i++)
        n += hub->msgs[i].state == state;
    return n;
}

size_t sr_mem_hub_ready(const sr_mem_hub *hub)
{
    return count_in(hub, MEM_READY);
}

size_t sr_mem_hub_unacked(const sr_mem_hub *hub)
{
    return count_in(hub, MEM_OUT);
}

bool sr_mem_hub_is_acked(const sr_mem_hub *hub, size_t id)
{
    return id < hub->count && hub->msgs[id].state == MEM_ACKED;
}

unsigned sr_mem_hub_acks_of(const sr_mem_hub *hub, size_t id)
{
    return id < hub->count ? hub->msgs[id].acks : 0;
}

unsigned sr_mem_hub_deliveries_of(const sr_mem_hub *hub, size_t id)
{
    return id < hub->count ? hub->msgs[id].deliveries : 0;
}

size_t sr_mem_hub_published_count(const sr_mem_hub *hub)
{
    return hub->pub_count;
}

const sr_mem_published *sr_mem_hub_published(const sr_mem_hub *hub, size_t i)
{
    return i < hub->pub_count ? &hub->pub[i] : NULL;
}

/* ---- the backend ---- */

static void tell(sr_mem_hub *hub, enum sr_mem_event event, size_t which)
{
    if (hub->hook != NULL)
        hub->hook(hub->hook_ctx, hub, event, which);
}

static bool alive(const mem_client *c)
{
    return !c->hub->down && c->epoch == c->hub->epoch;
}

static int lost(sr_err *err)
{
    return sr_err_set(err, SR_ECONN, true, "mem broker: connection lost");
}

static int mem_connect(sr_broker *b, sr_err *err)
{
    mem_client *c = b->backend;
    tell(c->hub, SR_MEM_CONNECT, 0);
    if (c->hub->down)
        return sr_err_set(err, SR_ECONN, true, "mem broker: down");
    c->epoch = c->hub->epoch;
    return SR_OK;
}

static void mem_disconnect(sr_broker *b)
{
    mem_client *c = b->backend;
    if (c->consumer && alive(c))
        requeue_unacked(c->hub);
    c->consumer = false;
}

static int mem_declare_exchange(sr_broker *b, const char *exchange, sr_err *err)
{
    (void)exchange;
    return alive(b->backend) ? SR_OK : lost(err);
}

static int mem_subscribe(sr_broker *b, const sr_queue_spec *queue, sr_err *err)
{
    (void)queue;
    mem_client *c = b->backend;
    if (!alive(c))
        return lost(err);
    c->consumer = true;
    return SR_OK;
}

static int mem_delete_queue(sr_broker *b, const char *queue, sr_err *err)
{
    (void)queue;
    return alive(b->backend) ? SR_OK : lost(err);
}

static int record(sr_mem_hub *hub, const sr_outgoing *o)
{
    if (!grow((void **)&hub->pub, &hub->pub_cap, hub->pub_count + 1, sizeof *hub->pub))
        return SR_ENOMEM;
    sr_mem_published *p = &hub->pub[hub->pub_count];
    memset(p, 0, sizeof *p);
    bool failed = false;
    p->exchange = dup_or_null(o->exchange, &failed);
    p->topic = dup_or_null(o->topic, &failed);
    p->content_type = dup_or_null(o->message->content_type, &failed);
    p->body = malloc(o->message->body_len + 1);
    size_t n = o->message->header_count;
    p->header_names = calloc(n ? n : 1, sizeof *p->header_names);
    p->header_values = calloc(n ? n : 1, sizeof *p->header_values);
    if (p->body == NULL || p->header_names == NULL || p->header_values == NULL)
        failed = true;
    for (size_t i = 0; !failed && i < n; i++) {
        p->header_names[i] = dup_or_null(o->message->headers[i].name, &failed);
        p->header_values[i] = dup_or_null(o->message->headers[i].value, &failed);
        p->header_count = i + 1;
    }
    if (failed) {
        published_fini(p);
        return SR_ENOMEM;
    }
    memcpy(p->body, o->message->body, o->message->body_len);
    p->body[o->message->body_len] = '\0';
    p->body_len = o->message->body_len;
    hub->pub_count++;
    return SR_OK;
}

static int mem_publish_begin(sr_broker *b, const sr_outgoing *messages, size_t count, int *status,
                             void **ticket, sr_err *err)
{
    mem_client *c = b->backend;
    mem_ticket *t = calloc(1, sizeof *t);
    *ticket = t;
    if (t == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    t->first = c->hub->pub_count;
    t->status = status;
    t->status_count = count;
    t->epoch = c->epoch;
    int rc = SR_OK;
    for (size_t i = 0; i < count; i++) {
        status[i] = SR_ECONN;
        if (rc != SR_OK)
            continue;
        tell(c->hub, SR_MEM_SEND, c->hub->pub_count);
        if (!alive(c)) {
            rc = lost(err);
            continue;
        }
        if (record(c->hub, &messages[i]) != SR_OK) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            continue;
        }
        t->count++;
    }
    return rc == SR_ENOMEM ? SR_OK : rc; /* what was not sent is reported by end */
}

static int mem_publish_end(sr_broker *b, void *ticket, sr_err *err)
{
    mem_client *c = b->backend;
    mem_ticket *t = ticket;
    int rc = SR_OK;
    for (size_t i = 0; i < t->count; i++) {
        size_t which = t->first + i;
        tell(c->hub, SR_MEM_CONFIRM, which);
        if (!alive(c) || t->epoch != c->hub->epoch) {
            if (rc == SR_OK)
                rc = lost(err);
            continue; /* status stays SR_ECONN: the confirm never came */
        }
        if (c->hub->refuse_next > 0) {
            c->hub->refuse_next--;
            c->hub->pub[which].refused = true;
            t->status[i] = SR_EPROTO;
            if (rc == SR_OK)
                rc = sr_err_set(err, SR_EPROTO, false, "mem broker: publish refused");
            continue;
        }
        c->hub->pub[which].confirmed = true;
        t->status[i] = SR_OK;
    }
    if (rc == SR_OK && t->count < t->status_count)
        rc = sr_err_set(err, SR_ECONN, true, "mem broker: %zu of %zu not sent",
                        t->status_count - t->count, t->status_count);
    free(t);
    return rc;
}

static int mem_poll(sr_broker *b, sr_err *err)
{
    return alive(b->backend) ? SR_OK : lost(err);
}

static void delivery_release(sr_delivery *d)
{
    free(d);
}

static int mem_consume(sr_broker *b, size_t max, double timeout, sr_delivery ***deliveries,
                       size_t *got, sr_err *err)
{
    mem_client *c = b->backend;
    sr_mem_hub *hub = c->hub;
    tell(hub, SR_MEM_CONSUME, 0);
    if (!alive(c))
        return lost(err);
    size_t room = sr_broker_prefetch(b);
    size_t out = sr_mem_hub_unacked(hub);
    room = out < room ? room - out : 0;
    if (max > room)
        max = room;
    sr_delivery **list = calloc(max ? max : 1, sizeof *list);
    if (list == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    size_t n = 0;
    int rc = SR_OK;
    for (size_t id = 0; id < hub->count && n < max; id++) {
        mem_message *m = &hub->msgs[id];
        if (m->state != MEM_READY)
            continue;
        tell(hub, SR_MEM_DELIVER, id);
        if (!alive(c)) { /* the crash put back what this call handed out */
            rc = lost(err);
            break;
        }
        sr_delivery *d = calloc(1, sizeof *d);
        if (d == NULL) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
        d->wire = (sr_wire){.body = m->body,
                            .body_len = m->body_len,
                            .content_type = m->content_type,
                            .topic = m->topic};
        d->exchange = "";
        d->redelivered = m->redelivered;
        d->tag = id;
        d->connection = b->connection;
        d->release = delivery_release;
        m->state = MEM_OUT;
        m->deliveries++;
        list[n++] = d;
    }
    if (rc != SR_OK) {
        for (size_t i = 0; i < n; i++) {
            if (hub->msgs[list[i]->tag].state == MEM_OUT)
                hub->msgs[list[i]->tag].state = MEM_READY;
            delivery_release(list[i]);
        }
        free(list);
        return rc;
    }
    if (n == 0 && timeout > 0) {
        /* nothing will come in the meantime (one thread): a short pause, not the timeout */
        struct timespec t = {0, 1000000L};
        nanosleep(&t, NULL);
    }
    *deliveries = n ? list : NULL;
    if (n == 0)
        free(list);
    *got = n;
    return SR_OK;
}

static int mem_ack(sr_broker *b, const sr_delivery *d, sr_err *err)
{
    mem_client *c = b->backend;
    tell(c->hub, SR_MEM_ACK, (size_t)d->tag);
    if (!alive(c))
        return lost(err);
    mem_message *m = &c->hub->msgs[d->tag];
    if (m->state != MEM_OUT) /* AMQP closes the channel: PRECONDITION_FAILED, unknown tag */
        return sr_err_set(err, SR_EPROTO, false, "mem broker: message %llu acked twice",
                          (unsigned long long)d->tag);
    m->state = MEM_ACKED;
    m->acks++;
    return SR_OK;
}

static void mem_destroy(sr_broker *b)
{
    free(b->backend);
    b->backend = NULL;
}

static const sr_broker_ops mem_ops = {
    .connect = mem_connect,
    .disconnect = mem_disconnect,
    .declare_exchange = mem_declare_exchange,
    .subscribe = mem_subscribe,
    .delete_queue = mem_delete_queue,
    .publish_begin = mem_publish_begin,
    .publish_end = mem_publish_end,
    .poll = mem_poll,
    .consume = mem_consume,
    .ack = mem_ack,
    .destroy = mem_destroy,
};

int sr_broker_mem_init(sr_broker *b, sr_err *err)
{
    if (b->options.mem_hub == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "broker %s: mem: is the tests' in-process broker; nothing here provides one",
                          b->shown_url);
    mem_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    c->hub = b->options.mem_hub;
    b->backend = c;
    b->ops = &mem_ops;
    return SR_OK;
}
