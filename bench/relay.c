/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench/relay: bench/flow.py's clock and reference for a shovel whose far queue nobody
 * consumes, in rabbitmq-c alone (nothing of sr's flow, only its URL parser).
 *
 *   relay depth URL QUEUE N TIMEOUT
 *       polls the message count of the existing QUEUE (a passive queue.declare, every
 *       10 ms) until it holds N; prints "ready" once the first poll answered, then "done C T"
 *       with T the CLOCK_MONOTONIC time of the poll that first saw C >= N, or "timeout C T"
 *       when the count did not grow for TIMEOUT seconds. Nothing is taken from the queue:
 *       RabbitMQ serves a queue being drained faster than one that only fills (issue 19:
 *       the same shovel measured 0.77 of its ceiling one way, 0.44 the other), and a
 *       shovel's far queue is the second kind whenever its consumer is away or slower.
 *   relay relay URL QUEUE_IN EXCHANGE_OUT N
 *       the ceiling of a shovel: N messages taken from QUEUE_IN (basic.consume, basic.qos
 *       prefetch SR_BENCH_RELAY_PREFETCH, 1000 by default) and each published to
 *       EXCHANGE_OUT with its own routing key and properties (persistent, as they came), on
 *       a second connection, without confirm.select, then acked (basic.ack, one per
 *       message; one per SR_BENCH_RELAY_ACK_EVERY with multiple when set above 1).
 *       SR_BENCH_RELAY_WINDOW=W (0 by default: none) makes it the best a confirming relay
 *       can do instead: confirm.select on the out channel, each message acked only once
 *       its publish is confirmed, at most W (up to the prefetch) awaiting their confirms. It
 *       waits for nothing the broker sends but the messages, so no relay that waits for
 *       confirms before it acks, as a shovel must, can do better on the same broker.
 *       Prints "relayed N T" (T: CLOCK_MONOTONIC when the last ack was written); flow.py
 *       times it with `depth` on a queue bound to EXCHANGE_OUT, as it times sr_shovel.
 *
 *   relay consume URL QUEUE N
 *       a subscriber's ceiling (bench/cluster.py): N messages taken from QUEUE
 *       (basic.consume, basic.qos prefetch SR_BENCH_RELAY_PREFETCH, 25 by default here: sr's
 *       default prefetch), each acked once read (basic.ack, one per message), nothing done
 *       with them; prints "consumed N T" (T: CLOCK_MONOTONIC when the last ack was written).
 *       Several at once share QUEUE as instances of one subscriber do, each taking N.
 *
 *   relay publish URL EXCHANGE N SIZE WINDOW
 *       sr_post's other reference: N persistent messages of SIZE bytes published to
 *       EXCHANGE (declared, a topic exchange, with a durable queue of its name bound to it
 *       by #, empty before and deleted after: durable messages reach a queue's disk, as
 *       sr_post's do) with confirm.select, at most WINDOW awaiting their confirms, as fast as
 *       rabbitmq-c goes; prints "published N R", R messages a second from the first
 *       publish to the last confirm. The most any publisher that waits for the broker's
 *       confirms (as sr_post must, before it counts a message posted) gets from it.
 *
 * Exit 0 when done, 1 on a timeout or a broker error (said on stderr), 2 on a usage error.
 */
#include "bench.h"
#include "url.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLL_US 10000 /* between two counts: a 10 ms resolution on runs of seconds */
#define WAIT_S 30     /* the longest the relay waits for one message */

static void die(const char *what)
{
    fprintf(stderr, "relay: %s\n", what);
    exit(1);
}

static void check(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    fprintf(stderr, "relay: rabbitmq-c: %s failed (%s)\n", what,
            r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error)
                                                            : "broker exception");
    exit(1);
}

/* A connection with channel 1 open, no confirms. */
static amqp_connection_state_t open_amqp(const char *text)
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
    check(amqp_login(c, vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 60, AMQP_SASL_METHOD_PLAIN,
                     u.user ? u.user : "guest", u.password ? u.password : "guest"),
          "login");
    amqp_channel_open(c, 1);
    check(amqp_get_rpc_reply(c), "channel.open");
    sr_url_fini(&u);
    return c;
}

static void close_amqp(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Messages ready in the queue: a passive queue.declare, which fails if it does not exist. */
static long queue_count(amqp_connection_state_t c, const char *queue)
{
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(c), "queue.declare passive");
    long n = (long)ok->message_count;
    amqp_maybe_release_buffers(c);
    return n;
}

static int depth_mode(const char *url, const char *queue, long n, double timeout)
{
    amqp_connection_state_t c = open_amqp(url);
    long count = queue_count(c, queue);
    printf("ready\n");
    fflush(stdout);
    double now = sr_time_mono_s(), deadline = now + timeout;
    while (count < n && now < deadline) {
        usleep(POLL_US);
        long before = count;
        count = queue_count(c, queue);
        now = sr_time_mono_s();
        if (count > before)
            deadline = now + timeout;
    }
    close_amqp(c);
    printf(count >= n ? "done %ld %.6f\n" : "timeout %ld %.6f\n", count, now);
    return count >= n ? 0 : 1;
}

/* The tag of the next confirm (basic.ack) on c's channel 1; dies on a nack, a return or
 * WAIT_S seconds without one. */
static uint64_t next_confirm(amqp_connection_state_t c)
{
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = {WAIT_S, 0};
        if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK)
            die("rabbitmq-c: no confirm");
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id != AMQP_BASIC_ACK_METHOD)
            die("rabbitmq-c: a publish was refused (nack or return)");
        uint64_t tag = ((const amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag;
        amqp_maybe_release_buffers(c);
        return tag;
    }
}

/* Confirms of the out channel read until at most `keep` publishes await theirs; each
 * advance acks, with multiple, every input message whose publish is confirmed. Publishes
 * and deliveries are both numbered in order on one channel each, so the kth publish
 * relays the delivery tags[k - 1]; RabbitMQ confirms one channel's publishes in order. */
static void settle(amqp_connection_state_t in, amqp_connection_state_t out, const uint64_t *tags,
                   uint64_t published, uint64_t *confirmed, uint64_t keep)
{
    while (published - *confirmed > keep) {
        uint64_t tag = next_confirm(out);
        if (tag <= *confirmed)
            continue;
        *confirmed = tag;
        if (amqp_basic_ack(in, 1, tags[tag - 1], 1) != AMQP_STATUS_OK)
            die("rabbitmq-c: basic.ack failed");
    }
}

static int relay_mode(const char *url, const char *queue, const char *exchange, long n)
{
    long prefetch = env_long("relay", "SR_BENCH_RELAY_PREFETCH", 1000, 1, 65535);
    long ack_every = env_long("relay", "SR_BENCH_RELAY_ACK_EVERY", 1, 1, 65535);
    long window = env_long("relay", "SR_BENCH_RELAY_WINDOW", 0, 0, 65535);
    if (window > prefetch) /* more would wait for a delivery the broker holds back */
        window = prefetch;
    /* Two connections, as a shovel has one per broker: RabbitMQ's flow control stops
     * reading a connection that publishes faster than its queues take, and on one
     * connection that would hold back the acks too. */
    amqp_connection_state_t in = open_amqp(url), out = open_amqp(url);
    uint64_t *tags = NULL, published = 0, confirmed = 0;
    if (window > 0) {
        tags = malloc((size_t)n * sizeof *tags);
        if (tags == NULL)
            die("out of memory");
        amqp_confirm_select(out, 1);
        check(amqp_get_rpc_reply(out), "confirm.select");
    }
    amqp_basic_qos(in, 1, 0, (uint16_t)prefetch, 0);
    check(amqp_get_rpc_reply(in), "basic.qos");
    amqp_basic_consume(in, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check(amqp_get_rpc_reply(in), "basic.consume");
    amqp_bytes_t to = amqp_cstring_bytes(exchange);
    for (long done = 0; done < n; done++) {
        amqp_envelope_t e;
        struct timeval tv = {WAIT_S, 0};
        amqp_maybe_release_buffers(in);
        check(amqp_consume_message(in, &e, &tv, 0), "consuming");
        if (amqp_basic_publish(out, 1, to, e.routing_key, 0, 0, &e.message.properties,
                               e.message.body) != AMQP_STATUS_OK)
            die("rabbitmq-c: basic.publish failed");
        if (window > 0) {
            tags[published++] = e.delivery_tag;
            settle(in, out, tags, published, &confirmed, (uint64_t)window - 1);
        } else if ((done + 1) % ack_every == 0 || done + 1 == n) {
            if (amqp_basic_ack(in, 1, e.delivery_tag, ack_every > 1) != AMQP_STATUS_OK)
                die("rabbitmq-c: basic.ack failed");
        }
        amqp_destroy_envelope(&e);
    }
    if (window > 0)
        settle(in, out, tags, published, &confirmed, 0);
    double t = sr_time_mono_s();
    free(tags);
    close_amqp(out);
    close_amqp(in);
    printf("relayed %ld %.6f\n", n, t);
    return 0;
}

static int consume_mode(const char *url, const char *queue, long n)
{
    long prefetch = env_long("relay", "SR_BENCH_RELAY_PREFETCH", 25, 1, 65535);
    amqp_connection_state_t c = open_amqp(url);
    amqp_basic_qos(c, 1, 0, (uint16_t)prefetch, 0);
    check(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check(amqp_get_rpc_reply(c), "basic.consume");
    for (long done = 0; done < n; done++) {
        amqp_envelope_t e;
        struct timeval tv = {WAIT_S, 0};
        amqp_maybe_release_buffers(c);
        check(amqp_consume_message(c, &e, &tv, 0), "consuming");
        if (amqp_basic_ack(c, 1, e.delivery_tag, 0) != AMQP_STATUS_OK)
            die("rabbitmq-c: basic.ack failed");
        amqp_destroy_envelope(&e);
    }
    double t = sr_time_mono_s();
    close_amqp(c);
    printf("consumed %ld %.6f\n", n, t);
    return 0;
}

/* The confirms up to published - keep, whatever they are for (no consumer here). */
static void await_confirms(amqp_connection_state_t c, uint64_t published, uint64_t *confirmed,
                           uint64_t keep)
{
    while (published - *confirmed > keep) {
        uint64_t tag = next_confirm(c);
        if (tag > *confirmed)
            *confirmed = tag;
    }
}

static int publish_mode(const char *url, const char *exchange, long n, long size, long window)
{
    amqp_connection_state_t c = open_amqp(url);
    amqp_bytes_t name = amqp_cstring_bytes(exchange);
    amqp_exchange_declare(c, 1, name, amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(c), "exchange.declare");
    amqp_queue_declare(c, 1, name, 0, 1, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(c), "queue.declare");
    amqp_queue_bind(c, 1, name, name, amqp_cstring_bytes("#"), amqp_empty_table);
    check(amqp_get_rpc_reply(c), "queue.bind");
    amqp_queue_purge(c, 1, name);
    check(amqp_get_rpc_reply(c), "queue.purge");
    amqp_confirm_select(c, 1);
    check(amqp_get_rpc_reply(c), "confirm.select");
    char *body = malloc((size_t)size);
    if (body == NULL)
        die("out of memory");
    memset(body, 'x', (size_t)size);
    amqp_basic_properties_t p = {0};
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    p.delivery_mode = 2;
    p.content_type = amqp_cstring_bytes("application/json");
    amqp_bytes_t to = amqp_cstring_bytes(exchange), b = {(size_t)size, body};
    uint64_t published = 0, confirmed = 0;
    double t0 = sr_time_mono_s();
    for (long i = 0; i < n; i++) {
        if (amqp_basic_publish(c, 1, to, amqp_cstring_bytes("v03.bench"), 0, 0, &p, b) !=
            AMQP_STATUS_OK)
            die("rabbitmq-c: basic.publish failed");
        published++;
        await_confirms(c, published, &confirmed, (uint64_t)window);
    }
    await_confirms(c, published, &confirmed, 0);
    double t = sr_time_mono_s() - t0;
    free(body);
    amqp_queue_delete(c, 1, name, 0, 0);
    check(amqp_get_rpc_reply(c), "queue.delete");
    close_amqp(c);
    printf("published %ld %.1f\n", n, n / t);
    return 0;
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: relay depth URL QUEUE N TIMEOUT\n"
                    "       relay relay URL QUEUE_IN EXCHANGE_OUT N  (SR_BENCH_RELAY_PREFETCH, "
                    "SR_BENCH_RELAY_ACK_EVERY, SR_BENCH_RELAY_WINDOW)\n"
                    "       relay consume URL QUEUE N  (SR_BENCH_RELAY_PREFETCH)\n"
                    "       relay publish URL EXCHANGE N SIZE WINDOW\n");
    exit(2);
}

static long count_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "depth") == 0) {
        char *end;
        double timeout = strtod(argv[5], &end);
        if (*end != '\0' || timeout <= 0)
            usage();
        return depth_mode(argv[2], argv[3], count_arg(argv[4]), timeout);
    }
    if (argc == 7 && strcmp(argv[1], "publish") == 0)
        return publish_mode(argv[2], argv[3], count_arg(argv[4]), count_arg(argv[5]),
                            count_arg(argv[6]));
    if (argc == 5 && strcmp(argv[1], "consume") == 0)
        return consume_mode(argv[2], argv[3], count_arg(argv[4]));
    if (argc == 6 && strcmp(argv[1], "relay") == 0)
        return relay_mode(argv[2], argv[3], argv[4], count_arg(argv[5]));
    usage();
}
