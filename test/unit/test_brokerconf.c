/* SPDX-License-Identifier: GPL-2.0-only */
/* test_brokerconf: the queue, bindings and publishing routes a config gives, as sr3
 * derives them, and the queue name kept across restarts. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

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

/* A message as it came from the broker on topic, or (topic NULL) as a gathered one. */
static sr_message *received(const char *topic, const char *fields)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"pubTime\":\"20261206T230000\",\"baseUrl\":\"https://c.example/\","
             "\"relPath\":\"x/f.bufr\"%s%s}",
             fields[0] ? "," : "", fields);
    sr_wire w = {
        .body = body, .body_len = strlen(body), .content_type = "application/json", .topic = topic};
    sr_message *m = NULL;
    sr_err err;
    if (sr_message_decode(&w, &m, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return m;
}

/* m's field as JSON text (geometry is an object), or NULL; caller frees. */
static char *field_json(const sr_message *m, const char *field)
{
    sr_encoded enc;
    sr_err err;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &enc, &err), SR_OK);
    json_t *o = json_loadb(enc.body, enc.body_len, 0, NULL);
    assert_non_null(o);
    json_t *v = json_object_get(o, field);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(o);
    sr_encoded_fini(&enc);
    return text;
}

/* route + fill as the flow does them; the topic into *topic (caller frees). */
static int post_as(const sr_publisher_setup *p, sr_message *m, char **exchange, char **topic,
                   sr_err *err)
{
    bool cut;
    int rc = sr_publisher_route(p, m, exchange, topic, &cut, err);
    if (rc == SR_OK)
        rc = sr_publisher_fill_wis(p, m, *topic, err);
    return rc;
}

/* post_format wis: a received message posts under the new exchange and prefix with the
 * subtopic it came with (AMQP in, MQTT out, and the other way), a stranger's subtopic
 * field counts for nothing, a gathered one under its relPath's directories; a topic
 * outside the WIS2 hierarchy is refused, named; data_id (the topic after wis2 and the
 * file name, or wisDataId), metadata_id and geometry filled where the message has none. */
static void wis2_relay_routes_and_fills(void **st)
{
    (void)st;
    const sr_override amqp_in[] = {
        {"topicPrefix", "a.wis2"},
        {"post_format", "wis"},
        {"post_exchange", "cache"},
        {"post_topicPrefix", "a/wis2"},
        {"wisCentreId", "ca-x"},
        {"wisMetadataId", "urn:wmo:md:ca-x:relay"},
        {"wisGeometry", "{\"type\": \"Point\", \"coordinates\": [-73.5, 45.5]}"}};
    sr_config *cfg = load_with(SR_C_SHOVEL, "amqp2mqtt", amqp_in, 7);
    sr_err err;
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    sr_publisher_setup p;
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_OK);
    assert_int_equal(p.format, SR_FORMAT_WIS);
    char *exchange = NULL, *topic = NULL;

    sr_message *m = received("a.wis2.ca-y.data.core.weather.surface",
                             "\"subtopic\":\"evil/x\",\"geometry\":null");
    assert_int_equal(sr_publisher_keep_subtopic(&p, m, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "subtopic"), "ca-y/data/core/weather/surface");
    assert_int_equal(post_as(&p, m, &exchange, &topic, &err), SR_OK);
    assert_string_equal(exchange, "cache");
    assert_string_equal(topic, "cache/a/wis2/ca-y/data/core/weather/surface");
    assert_string_equal(sr_message_str(m, "data_id"), "ca-y/data/core/weather/surface/f.bufr");
    assert_string_equal(sr_message_str(m, "metadata_id"), "urn:wmo:md:ca-x:relay");
    char *g = field_json(m, "geometry");
    assert_string_equal(g, "null"); /* its own, kept */
    free(g);
    free(exchange);
    free(topic);
    sr_message_free(m);

    /* what the message has is kept; a geometry it lacks comes from wisGeometry */
    m = received("a.wis2.ca-y.data.core.weather.surface",
                 "\"data_id\":\"ca-y/own\",\"metadata_id\":\"urn:wmo:md:ca-y:own\"");
    assert_int_equal(sr_publisher_keep_subtopic(&p, m, &err), SR_OK);
    assert_int_equal(post_as(&p, m, &exchange, &topic, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "data_id"), "ca-y/own");
    assert_string_equal(sr_message_str(m, "metadata_id"), "urn:wmo:md:ca-y:own");
    g = field_json(m, "geometry");
    assert_string_equal(g, "{\"type\":\"Point\",\"coordinates\":[-73.5,45.5]}");
    free(g);
    free(exchange);
    free(topic);
    sr_message_free(m);

    /* gathered (no topic): a stranger's subtopic is dropped, the relPath's directories
     * follow the prefix, and that topic is not a WIS2 one: refused, named */
    m = received(NULL, "\"subtopic\":\"ca-y/data/core/weather\"");
    assert_int_equal(sr_publisher_keep_subtopic(&p, m, &err), SR_OK);
    assert_null(sr_message_str(m, "subtopic"));
    assert_int_equal(post_as(&p, m, &exchange, &topic, &err), SR_EREFUSED);
    assert_null(exchange);
    assert_null(topic);
    assert_string_equal(err.msg, "topic cache/a/wis2/x: level 4 (centre-id) \"x\" is not a WIS2 "
                                 "centre id (tld-name: lowercase letters, digits, '-' and '_', "
                                 "e.g. ca-eccc-msc)");
    sr_message_free(m);
    sr_publisher_setup_fini(&p);
    sr_config_free(cfg);

    /* MQTT in, AMQP out, wisDataId with the per-message variables */
    const sr_override mqtt_in[] = {
        {"topicPrefix", "a/wis2"},      {"topicCopy", "off"},
        {"post_format", "wis"},         {"post_exchange", "cache"},
        {"post_topicPrefix", "a.wis2"}, {"wisCentreId", "ca-x"},
        {"wisMetadataId", "urn:x"},     {"wisDataId", "ca-x/${filename}/${relPath}"}};
    cfg = load_with(SR_C_SHOVEL, "mqtt2amqp", mqtt_in, 8);
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_OK);
    m = received("origin/a/wis2/ca-y/data/core/ocean/s", "");
    assert_int_equal(sr_publisher_keep_subtopic(&p, m, &err), SR_OK);
    assert_int_equal(post_as(&p, m, &exchange, &topic, &err), SR_OK);
    assert_string_equal(exchange, "cache");
    assert_string_equal(topic, "a.wis2.ca-y.data.core.ocean.s");
    assert_string_equal(sr_message_str(m, "data_id"), "ca-x/f.bufr/x/f.bufr");
    free(exchange);
    free(topic);
    sr_message_free(m);
    sr_publisher_setup_fini(&p);
    sr_config_free(cfg);

    /* the default data_id on AMQP: the routing key after wis2 */
    const sr_override amqp_out[] = {{"topicPrefix", "a/wis2"},      {"topicCopy", "off"},
                                    {"post_format", "wis"},         {"post_exchange", "cache"},
                                    {"post_topicPrefix", "a.wis2"}, {"wisCentreId", "ca-x"},
                                    {"wisMetadataId", "urn:x"}};
    cfg = load_with(SR_C_SHOVEL, "mqtt2amqp", amqp_out, 7);
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_OK);
    m = received("origin/a/wis2/ca-y/data/core/ocean/s", "");
    assert_int_equal(sr_publisher_keep_subtopic(&p, m, &err), SR_OK);
    assert_int_equal(post_as(&p, m, &exchange, &topic, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "data_id"), "ca-y/data/core/ocean/s/f.bufr");
    free(exchange);
    free(topic);
    sr_message_free(m);
    sr_publisher_setup_fini(&p);
    sr_config_free(cfg);

    /* another format: nothing kept, nothing filled, no WIS2 check */
    cfg = load(SR_C_SHOVEL, "amqp2mqtt");
    assert_int_equal(sr_brokerconf_publisher(cfg, NULL, &p, &err), SR_OK);
    m = received("v03.x", "\"subtopic\":\"kept/as/is\"");
    assert_int_equal(sr_publisher_keep_subtopic(&p, m, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "subtopic"), "kept/as/is");
    assert_int_equal(post_as(&p, m, &exchange, &topic, &err), SR_OK);
    assert_string_equal(topic, "xpublic/v03/x");
    assert_null(sr_message_str(m, "data_id"));
    free(exchange);
    free(topic);
    sr_message_free(m);
    sr_publisher_setup_fini(&p);
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
        cmocka_unit_test_setup_teardown(wis2_relay_routes_and_fills, setup, teardown),
    };
    return cmocka_run_group_tests_name("brokerconf", tests, NULL, NULL);
}
