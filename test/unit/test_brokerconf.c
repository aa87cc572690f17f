/* SPDX-License-Identifier: GPL-2.0-only */
/* test_brokerconf: the queue, bindings and publishing routes a config gives, as sr3
 * derives them, and the queue name kept across restarts. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "brokerconf.h"

static char state[64];
static sr_paths paths;

static int setup(void **st)
{
    (void)st;
    snprintf(state, sizeof state, "/tmp/sr-test-brokerconf-XXXXXX");
    assert_non_null(mkdtemp(state));
    memset(&paths, 0, sizeof paths);
    paths.state_dir = state;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", state);
    return system(cmd);
}

static sr_config *load(enum sr_component c, const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_data("config/good"));
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {c, name, dir, confd ? confd : "conf.d", NULL, 0};
    sr_config *cfg = NULL;
    sr_err err;
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return cfg;
}

static void amqp_consumer_and_saved_queue_name(void **st)
{
    (void)st;
    sr_config *cfg = load(SR_C_SUBSCRIBE, "hpfx_grib");
    sr_consumer_setup s;
    sr_err err;
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 1, NULL, &s, &err), SR_OK);
    assert_false(s.mqtt);
    assert_null(s.client_id);
    /* q_<user>.<component>.<config>.<user>_<host>_<8 digits> */
    assert_true(strncmp(s.queue_name, "q_anonymous.subscribe.hpfx_grib.anonymous_", 42) == 0);
    assert_int_equal(s.binding_count, 1);
    assert_string_equal(s.bindings[0].exchange, "xpublic");
    assert_string_equal(s.bindings[0].key, "v02.post.*.WXO-DD.model_gem_global.25km.grib2.#");
    assert_true(s.queue.declare && s.queue.bind);
    assert_int_equal(s.broker.prefetch, 25);
    char *first = strdup(s.queue_name);
    sr_consumer_setup_fini(&s);

    /* saved where sr3 saves it, and reused by a restart and by instance 2 */
    char file[512];
    snprintf(file, sizeof file, "%s/subscribe/hpfx_grib/subscribe.hpfx_grib.anonymous.qname",
             state);
    assert_int_equal(access(file, R_OK), 0);
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 1, NULL, &s, &err), SR_OK);
    assert_string_equal(s.queue_name, first);
    sr_consumer_setup_fini(&s);
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 2, NULL, &s, &err), SR_OK);
    assert_string_equal(s.queue_name, first);
    assert_false(s.queue.declare); /* instance 1 declares, the others attach */
    sr_consumer_setup_fini(&s);
    free(first);
    sr_config_free(cfg);
}

static void mqtt_consumer_and_publisher(void **st)
{
    (void)st;
    sr_config *cfg = load(SR_C_SUBSCRIBE, "mqtt_mesh");
    sr_consumer_setup s;
    sr_err err;
    /* queueName given: every instance uses it, nothing to wait for */
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 3, NULL, &s, &err), SR_OK);
    assert_string_equal(s.queue_name, "q_guest.subscribe.mqtt_mesh.peerB");
    sr_consumer_setup_fini(&s);
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 1, NULL, &s, &err), SR_OK);
    assert_true(s.mqtt);
    char want[512];
    snprintf(want, sizeof want, "%s_i01", s.queue_name);
    assert_string_equal(s.client_id, want);
    assert_true(strncmp(s.bindings[0].key, "$share/", 7) == 0);
    assert_true(s.broker.session_expiry > 0);
    sr_consumer_setup_fini(&s);
    sr_config_free(cfg);

    cfg = load(SR_C_SHOVEL, "amqp2mqtt");
    sr_publisher_setup p;
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_OK);
    assert_true(p.mqtt);
    assert_string_equal(p.exchange, "xpublic");
    assert_int_equal(p.format, SR_FORMAT_V03);
    sr_message *m = NULL;
    assert_int_equal(sr_message_new("20261125T101010", "https://e/", "sub/a/f.txt", &m, &err),
                     SR_OK);
    char *exchange, *topic;
    bool cut;
    assert_int_equal(sr_publisher_route(&p, m, &exchange, &topic, &cut, &err), SR_OK);
    assert_string_equal(exchange, "xpublic");
    assert_string_equal(topic, "xpublic/v03/sub/a");
    free(exchange);
    free(topic);
    sr_message_free(m);
    sr_publisher_setup_fini(&p);
    sr_config_free(cfg);
}

static void split_exchanges(void **st)
{
    (void)st;
    sr_config *cfg = load(SR_C_SHOVEL, "split");
    sr_publisher_setup p;
    sr_err err;
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_OK);
    assert_true(p.split > 1);
    sr_message *m = NULL;
    assert_int_equal(sr_message_new("20261125T101010", "https://e/", "a/f", &m, &err), SR_OK);
    sr_identity id = {SR_ID_MD5, "b1kCrCNwJL3QwXbLkwY9xA=="};
    assert_int_equal(sr_message_set_identity(m, &id, &err), SR_OK);
    char *exchange, *topic, want[128];
    bool cut;
    assert_int_equal(sr_publisher_route(&p, m, &exchange, &topic, &cut, &err), SR_OK);
    snprintf(want, sizeof want, "%s%02u", p.exchange,
             sr_topic_split_index("b1kCrCNwJL3QwXbLkwY9xA==", p.split));
    assert_string_equal(exchange, want);
    free(exchange);
    free(topic);
    sr_message_free(m);
    sr_publisher_setup_fini(&p);
    sr_config_free(cfg);

    /* no post_broker: nothing to publish to */
    cfg = load(SR_C_SUBSCRIBE, "hpfx_grib");
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_ENOENT);
    sr_config_free(cfg);
}

/* exchangeSplit: instance i consumes exchange + two digits, i - 1 (what post_exchangeSplit
 * publishes to: 00..N-1), from a queue of its own that it declares and binds itself. */
static void exchange_split_consumers(void **st)
{
    (void)st;
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/conf", state);
    snprintf(path, sizeof path, "%s/winnow", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/winnow/w.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("broker amqp://feeder@localhost/\nexchange xwinnow\nexchangeSplit 3\ninstances 3\n"
          "post_broker amqp://feeder@localhost/\npost_exchange xpublic\n",
          f);
    fclose(f);
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {SR_C_WINNOW, "w", dir, confd ? confd : "conf.d", NULL, 0};
    sr_config *cfg = NULL;
    sr_err err;
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    char *names[3];
    for (int i = 1; i <= 3; i++) {
        sr_consumer_setup s;
        assert_int_equal(sr_brokerconf_consumer(cfg, &paths, i, NULL, &s, &err), SR_OK);
        char want[32];
        snprintf(want, sizeof want, "xwinnow%02d", i - 1);
        assert_string_equal(s.bindings[0].exchange, want);
        assert_true(s.queue.declare && s.queue.bind);
        names[i - 1] = strdup(s.queue_name);
        sr_consumer_setup_fini(&s);
        /* the queue name of each instance is saved apart, and reused */
        snprintf(path, sizeof path, "%s/winnow/w/winnow.w.feeder%02d.qname", state, i);
        assert_int_equal(access(path, R_OK), 0);
        assert_int_equal(sr_brokerconf_consumer(cfg, &paths, i, NULL, &s, &err), SR_OK);
        assert_string_equal(s.queue_name, names[i - 1]);
        sr_consumer_setup_fini(&s);
    }
    assert_string_not_equal(names[0], names[1]);
    assert_string_not_equal(names[1], names[2]);
    for (int i = 0; i < 3; i++)
        free(names[i]);
    sr_config_free(cfg);
}

static sr_config *load_with(enum sr_component c, const char *name, const sr_override *ov,
                            size_t nov)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_data("config/good"));
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {c, name, dir, confd ? confd : "conf.d", ov, nov};
    sr_config *cfg = NULL;
    sr_err err;
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return cfg;
}

/* The queue arguments of the queue options: none by default; quorum with its delivery
 * limit and dead-lettering at least once; a classic queue's dead-lettering as RabbitMQ
 * does it for classic queues (at most once). */
static void quorum_queue_arguments(void **st)
{
    (void)st;
    sr_consumer_setup s;
    sr_err err;
    sr_config *cfg = load(SR_C_SUBSCRIBE, "hpfx_grib");
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 1, NULL, &s, &err), SR_OK);
    assert_null(s.queue.queue_type);
    assert_int_equal(s.queue.delivery_limit, 0);
    assert_null(s.queue.dead_letter_exchange);
    assert_null(s.queue.dead_letter_routing_key);
    assert_false(s.queue.dead_letter_at_least_once);
    assert_true(s.queue.durable);
    sr_consumer_setup_fini(&s);
    sr_config_free(cfg);

    const sr_override quorum[] = {{"queueType", "quorum"},
                                  {"deliveryLimit", "4"},
                                  {"deadLetterExchange", "xs_anonymous_dead"},
                                  {"deadLetterRoutingKey", "parked.#"}};
    cfg = load_with(SR_C_SUBSCRIBE, "hpfx_grib", quorum, 4);
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 1, NULL, &s, &err), SR_OK);
    assert_string_equal(s.queue.queue_type, "quorum");
    assert_int_equal(s.queue.delivery_limit, 4);
    assert_string_equal(s.queue.dead_letter_exchange, "xs_anonymous_dead");
    assert_string_equal(s.queue.dead_letter_routing_key, "parked.#");
    assert_true(s.queue.dead_letter_at_least_once);
    assert_true(s.queue.durable);
    assert_false(s.queue.auto_delete);
    sr_consumer_setup_fini(&s);
    sr_config_free(cfg);

    const sr_override classic[] = {{"deadLetterExchange", "xs_anonymous_dead"}};
    cfg = load_with(SR_C_SUBSCRIBE, "hpfx_grib", classic, 1);
    assert_int_equal(sr_brokerconf_consumer(cfg, &paths, 1, NULL, &s, &err), SR_OK);
    assert_null(s.queue.queue_type);
    assert_string_equal(s.queue.dead_letter_exchange, "xs_anonymous_dead");
    assert_false(s.queue.dead_letter_at_least_once);
    sr_consumer_setup_fini(&s);
    sr_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quorum_queue_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(amqp_consumer_and_saved_queue_name, setup, teardown),
        cmocka_unit_test_setup_teardown(mqtt_consumer_and_publisher, setup, teardown),
        cmocka_unit_test_setup_teardown(split_exchanges, setup, teardown),
        cmocka_unit_test_setup_teardown(exchange_split_consumers, setup, teardown),
    };
    return cmocka_run_group_tests_name("brokerconf", tests, NULL, NULL);
}
