/* SPDX-License-Identifier: GPL-2.0-only */
/* test_topic: the topics of sr-message(7), TOPICS, published, read back and subscribed to. */
#include "unit.h"

#include "topic.h"

/* ---- helpers ---- */

static void check_amqp(const char *prefix, const char *relpath, const char *want, bool want_cut)
{
    sr_err err;
    sr_err_clear(&err);
    char *got = NULL;
    bool cut = !want_cut;
    int rc = sr_topic_amqp(prefix, relpath, &got, &cut, &err);
    if (rc != SR_OK)
        fail_msg("%s: %s", relpath ? relpath : "(null)", err.msg);
    assert_string_equal(got, want);
    assert_int_equal(cut, want_cut);
    free(got);
}

static void check_mqtt(const char *exchange, const char *prefix, const char *relpath,
                       const char *want)
{
    sr_err err;
    sr_err_clear(&err);
    char *got = NULL;
    int rc = sr_topic_mqtt(exchange, prefix, relpath, &got, &err);
    if (rc != SR_OK)
        fail_msg("%s: %s", relpath ? relpath : "(null)", err.msg);
    assert_string_equal(got, want);
    free(got);
}

static void check_unescape(enum sr_topic_proto proto, const char *topic, const char *want)
{
    char *got = NULL;
    assert_int_equal(sr_topic_unescape(proto, topic, &got, NULL), SR_OK);
    assert_string_equal(got, want);
    free(got);
}

/* The received subtopic, levels joined by '|' so empty levels show. */
static void check_subtopic(enum sr_topic_proto proto, const char *topic, const char *prefix,
                           const char *want)
{
    sr_strlist levels = {0};
    sr_err err;
    sr_err_clear(&err);
    if (sr_topic_subtopic(proto, topic, prefix, &levels, &err) != SR_OK)
        fail_msg("%s: %s", topic, err.msg);
    char *joined = sr_strlist_join(&levels, "|");
    assert_non_null(joined);
    assert_string_equal(joined, want);
    free(joined);
    sr_strlist_clear(&levels);
}

static sr_subtopic line_at(const char *pattern, const char *exchange, const char *prefix,
                           const char *file, int lineno)
{
    sr_subtopic s;
    memset(&s, 0, sizeof s);
    s.pattern = (char *)pattern;
    s.exchange = (char *)exchange;
    s.topic_prefix = (char *)prefix;
    if (file != NULL) {
        s.origin.kind = SR_ORIGIN_FILE;
        s.origin.file = file;
        s.origin.line = lineno;
    } else {
        s.origin.kind = SR_ORIGIN_DERIVED;
    }
    return s;
}

static void check_amqp_binding(const sr_subtopic *line, const char *exchange, const char *prefix,
                               const char *want_exchange, const char *want_key)
{
    sr_topic_binding b;
    sr_err err;
    sr_err_clear(&err);
    if (sr_topic_binding_amqp(line, exchange, prefix, &b, &err) != SR_OK)
        fail_msg("%s: %s", line && line->pattern ? line->pattern : "(none)", err.msg);
    assert_string_equal(b.exchange, want_exchange);
    assert_string_equal(b.key, want_key);
    sr_topic_binding_fini(&b);
    assert_null(b.key);
}

static void check_mqtt_binding(const sr_subtopic *line, const char *exchange, const char *prefix,
                               const char *queue, const char *want_filter)
{
    sr_topic_binding b;
    sr_err err;
    sr_err_clear(&err);
    if (sr_topic_binding_mqtt(line, exchange, prefix, queue, &b, &err) != SR_OK)
        fail_msg("%s: %s", line && line->pattern ? line->pattern : "(none)", err.msg);
    assert_string_equal(b.key, want_filter);
    sr_topic_binding_fini(&b);
}

/* Both protocols must refuse the subtopic with the same message. */
static void check_bad_subtopic(const sr_subtopic *line, const char *want)
{
    sr_topic_binding b;
    sr_err err;
    sr_err_clear(&err);
    assert_int_equal(sr_topic_binding_amqp(line, "xpublic", "v03", &b, &err), SR_EINVAL);
    assert_string_equal(err.msg, want);
    assert_null(b.key);
    sr_err_clear(&err);
    assert_int_equal(sr_topic_binding_mqtt(line, "xpublic", "v03", "q_bob", &b, &err), SR_EINVAL);
    assert_string_equal(err.msg, want);
    assert_null(b.key);
}

static char *repeat(const char *unit, size_t times, const char *before, const char *after)
{
    size_t u = strlen(unit);
    char *s = malloc(strlen(before) + u * times + strlen(after) + 1);
    assert_non_null(s);
    strcpy(s, before);
    char *p = s + strlen(before);
    for (size_t i = 0; i < times; i++, p += u)
        memcpy(p, unit, u);
    strcpy(p, after);
    return s;
}

/* ---- publishing ---- */

static void amqp_routing_keys(void **state)
{
    (void)state;
    check_amqp("v03", "sub/a/f.txt", "v03.sub.a", false);
    check_amqp("v02.post", "sub/a/f.txt", "v02.post.sub.a", false);
    check_amqp("v02/post", "sub/a/f.txt", "v02.post.sub.a", false); /* either separator */
    /* the file name is never in the topic: a file at the top is just the prefix */
    check_amqp("v03", "f.txt", "v03", false);
    check_amqp("v03", "/f.txt", "v03", false);
    check_amqp("v03", "", "v03", false);
    check_amqp("v03", NULL, "v03", false);
    /* a leading '/' and empty components are dropped */
    check_amqp("v03", "/sub/a/f.txt", "v03.sub.a", false);
    check_amqp("v03", "//sub//a///f.txt", "v03.sub.a", false);
    check_amqp("v03", "sub/a/", "v03.sub.a", false);
    check_amqp("v03", "/", "v03", false);
    /* no prefix */
    check_amqp(NULL, "sub/a/f.txt", "sub.a", false);
    check_amqp("", "f.txt", "", false);
    /* the truncation flag may be left out */
    char *got;
    assert_int_equal(sr_topic_amqp("v03", "a/b", &got, NULL, NULL), SR_OK);
    assert_string_equal(got, "v03.a");
    free(got);
}

static void mqtt_topics(void **state)
{
    (void)state;
    check_mqtt("xs_bob", "v03", "sub/f.txt", "xs_bob/v03/sub");
    check_mqtt("xpublic", "v03", "sub/f.txt", "xpublic/v03/sub");
    check_mqtt("xpublic", "v03", "sub/a/f.txt", "xpublic/v03/sub/a");
    check_mqtt("xpublic", "v02.post", "/sub/a/f.txt", "xpublic/v02/post/sub/a");
    check_mqtt("xpublic", "v03", "f.txt", "xpublic/v03");
    check_mqtt("xpublic", "v03", "a//b/f", "xpublic/v03/a/b");
    check_mqtt("xpublic", NULL, "a/f", "xpublic/a");

    sr_err err;
    sr_err_clear(&err);
    char *got = (char *)"untouched";
    assert_int_equal(sr_topic_mqtt(NULL, "v03", "a/f", &got, &err), SR_EINVAL);
    assert_null(got);
    assert_string_equal(err.msg, "exchange: not set (it is the first level of an MQTT topic)");
    assert_int_equal(sr_topic_mqtt("", "v03", "a/f", &got, &err), SR_EINVAL);
}

static void dot_in_directory(void **state)
{
    (void)state;
    /* AMQP: the '.' is not escaped, so it adds a level... */
    check_amqp("v03", "sub/a.b/f.txt", "v03.sub.a.b", false);
    check_subtopic(SR_TOPIC_AMQP, "v03.sub.a.b", "v03", "sub|a|b");
    /* ...MQTT keeps the directory as one level */
    check_mqtt("xpublic", "v03", "sub/a.b/f.txt", "xpublic/v03/sub/a.b");
    check_subtopic(SR_TOPIC_MQTT, "xpublic/v03/sub/a.b", "v03", "sub|a.b");
    /* either way the topic is the one sr3 would re-derive */
    assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.sub.a.b", "v03", "sub/a.b/f.txt"));
    assert_true(
        sr_topic_matches_relpath(SR_TOPIC_MQTT, "xpublic/v03/sub/a.b", "v03", "sub/a.b/f.txt"));
}

static void escaping(void **state)
{
    (void)state;
    check_amqp("v03", "a#b/c*d/e+f/f.txt", "v03.a%23b.c%22d.e+f", false);
    check_mqtt("xpublic", "v03", "a#b/c*d/e+f/f.txt", "xpublic/v03/a%23b/c*d/e%2Bf");
    check_amqp("v03", "#/*/f", "v03.%23.%22", false);
    check_mqtt("xpublic", "v03", "#/+/f", "xpublic/v03/%23/%2B");
    /* the file name is not in the topic, so neither are its wildcards */
    check_amqp("v03", "a/#*.txt", "v03.a", false);

    check_unescape(SR_TOPIC_AMQP, "v03.a%23b.c%22d.e+f", "v03.a#b.c*d.e+f");
    check_unescape(SR_TOPIC_MQTT, "xpublic/v03/a%23b/c*d/e%2Bf", "xpublic/v03/a#b/c*d/e+f");
    /* each protocol undoes only its own escapes, exactly as sr3 spells them */
    check_unescape(SR_TOPIC_AMQP, "v03.%2B.%2A", "v03.%2B.%2A");
    check_unescape(SR_TOPIC_MQTT, "x/v03/%22", "x/v03/%22");
    check_unescape(SR_TOPIC_MQTT, "x/v03/%2b", "x/v03/%2b");
    /* partial and overlapping escapes */
    check_unescape(SR_TOPIC_AMQP, "%", "%");
    check_unescape(SR_TOPIC_AMQP, "a%2", "a%2");
    check_unescape(SR_TOPIC_AMQP, "%%23", "%#");
    check_unescape(SR_TOPIC_AMQP, "%%2323", "%#23");
    check_unescape(SR_TOPIC_AMQP, "%2322", "#22");
    check_unescape(SR_TOPIC_AMQP, "", "");

    char *got = (char *)"untouched";
    sr_err err;
    sr_err_clear(&err);
    assert_int_equal(sr_topic_unescape(SR_TOPIC_AMQP, NULL, &got, &err), SR_EINVAL);
    assert_null(got);
    assert_string_equal(err.msg, "topic: none received");
}

static void round_trips(void **state)
{
    (void)state;
    /* relPath -> topic -> subtopic gives the directories back (AMQP: split on '.') */
    struct {
        const char *relpath, *amqp, *mqtt;
    } cases[] = {
        {"sub/a/f.txt", "sub|a", "sub|a"}, {"a#b/c*d/e+f/f", "a#b|c*d|e+f", "a#b|c*d|e+f"},
        {"#/*/+/f", "#|*|+", "#|*|+"},     {"/x y/été/f", "x y|été", "x y|été"},
        {"d.1/f", "d|1", "d.1"},           {"f", "", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *topic;
        assert_int_equal(sr_topic_amqp("v02.post", cases[i].relpath, &topic, NULL, NULL), SR_OK);
        check_subtopic(SR_TOPIC_AMQP, topic, "v02.post", cases[i].amqp);
        assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, topic, "v02.post", cases[i].relpath));
        free(topic);
        assert_int_equal(sr_topic_mqtt("xs_bob", "v03", cases[i].relpath, &topic, NULL), SR_OK);
        check_subtopic(SR_TOPIC_MQTT, topic, "v03", cases[i].mqtt);
        assert_true(sr_topic_matches_relpath(SR_TOPIC_MQTT, topic, "v03", cases[i].relpath));
        free(topic);
    }
    /* '%' is not escaped (as in sr3): a directory named "%23" reads back as "#" */
    check_amqp("v03", "%23/f", "v03.%23", false);
    check_subtopic(SR_TOPIC_AMQP, "v03.%23", "v03", "#");
}

static void truncation_on_utf8_boundary(void **state)
{
    (void)state;
    const char *ri = "\xe6\x97\xa5"; /* U+65E5, 3 bytes */
    /* "v03." is 4 bytes: 4 + 83*3 = 253, and the 84th character would end at 256 */
    char *rel = repeat(ri, 100, "", "/f.txt");
    char *want = repeat(ri, 83, "v03.", "");
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* "v03.abc." is 8 bytes: the cut at 255 falls just after a lead byte */
    rel = repeat(ri, 100, "abc/", "/f.txt");
    want = repeat(ri, 82, "v03.abc.", "");
    assert_int_equal(strlen(want), 254);
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* "v03.a." is 6 bytes: 6 + 83*3 = 255 exactly, on a boundary */
    rel = repeat(ri, 100, "a/", "/f.txt");
    want = repeat(ri, 83, "v03.a.", "");
    assert_int_equal(strlen(want), 255);
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* 4-byte characters: 4 + 62*4 = 252, three bytes backed out */
    rel = repeat("\xf0\x9f\x8c\xa7", 70, "", "/f");
    want = repeat("\xf0\x9f\x8c\xa7", 62, "v03.", "");
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* 255 bytes is allowed, 256 is cut */
    rel = repeat("a", 251, "", "/f");
    want = repeat("a", 251, "v03.", "");
    check_amqp("v03", rel, want, false);
    free(rel);
    rel = repeat("a", 252, "", "/f");
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* escapes count after expansion */
    rel = repeat("#", 100, "", "/f");
    want = repeat("%23", 83, "v03.", "%2");
    assert_int_equal(strlen(want), 255);
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* not UTF-8: cut at the byte limit, never before the topic */
    rel = repeat("\x80", 300, "", "/f");
    want = repeat("\x80", 251, "v03.", "");
    check_amqp("v03", rel, want, true);
    free(rel);
    free(want);
    /* a truncated key still matches the relPath it came from */
    rel = repeat(ri, 100, "", "/f.txt");
    char *topic;
    assert_int_equal(sr_topic_amqp("v03", rel, &topic, NULL, NULL), SR_OK);
    assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, topic, "v03", rel));
    free(topic);
    free(rel);
}

static void mqtt_length_limit(void **state)
{
    (void)state;
    /* "x/v03/" is 6 bytes: a 65529-byte directory makes 65535, the most allowed */
    char *rel = repeat("d", 65529, "", "/f");
    char *got;
    sr_err err;
    sr_err_clear(&err);
    assert_int_equal(sr_topic_mqtt("x", "v03", rel, &got, &err), SR_OK);
    assert_int_equal(strlen(got), 65535);
    free(got);
    free(rel);
    rel = repeat("d", 65530, "", "/f");
    got = (char *)"untouched";
    assert_int_equal(sr_topic_mqtt("x", "v03", rel, &got, &err), SR_EINVAL);
    assert_null(got);
    char *want = repeat("d", 64, "relPath ",
                        "...: MQTT topic of 65536 bytes is longer than the 65535 allowed");
    assert_string_equal(err.msg, want);
    free(want);
    free(rel);
}

static void odd_relpaths(void **state)
{
    (void)state;
    /* path safety is the decoder's job: here, only never crash or overrun */
    check_amqp("v03", "a/./b/../f", "v03.a...b...", false);
    check_amqp("v03",
               "a\x01"
               "b/\x7f/f",
               "v03.a\x01"
               "b.\x7f",
               false);
    check_mqtt("xpublic", "v03", "a/./b/f", "xpublic/v03/a/./b");
    check_amqp("v03", "////", "v03", false);
    check_amqp("v03", "..", "v03", false);
}

/* ---- receiving ---- */

static void subtopic_on_receipt(void **state)
{
    (void)state;
    check_subtopic(SR_TOPIC_AMQP, "v03.sub.a", "v03", "sub|a");
    check_subtopic(SR_TOPIC_AMQP, "v02.post.sub.a", "v02.post", "sub|a");
    check_subtopic(SR_TOPIC_AMQP, "v02.post.sub.a", "v02/post", "sub|a");
    check_subtopic(SR_TOPIC_AMQP, "v03", "v03", "");
    check_subtopic(SR_TOPIC_AMQP, "v03.a%23b.c%22", "v03", "a#b|c*");
    check_subtopic(SR_TOPIC_MQTT, "xs_bob/v03/sub", "v03", "sub");
    check_subtopic(SR_TOPIC_MQTT, "xpublic/v03/sub/a", "v03", "sub|a");
    check_subtopic(SR_TOPIC_MQTT, "xpublic/v02/post/sub/a", "v02.post", "sub|a");
    check_subtopic(SR_TOPIC_MQTT, "xs_bob/v03/c%2B%2B/x%23", "v03", "c++|x#");
    /* like sr3, the prefix is skipped by its number of levels, not compared */
    check_subtopic(SR_TOPIC_AMQP, "v02.post.sub.a", "v03", "post|sub|a");
    /* shorter than the prefix: nothing left */
    check_subtopic(SR_TOPIC_MQTT, "xpublic", "v03", "");
    check_subtopic(SR_TOPIC_AMQP, "v03", "v02.post", "");
    /* empty levels are kept, as Python's split keeps them */
    check_subtopic(SR_TOPIC_AMQP, "v03.a..b", "v03", "a||b");
    check_subtopic(SR_TOPIC_AMQP, "sub.a", NULL, "sub|a");

    char *s;
    assert_int_equal(sr_topic_subtopic_string(SR_TOPIC_AMQP, "v03.sub.a%23", "v03", &s, NULL),
                     SR_OK);
    assert_string_equal(s, "sub.a#");
    free(s);
    assert_int_equal(
        sr_topic_subtopic_string(SR_TOPIC_MQTT, "xpublic/v03/sub/a.b", "v03", &s, NULL), SR_OK);
    assert_string_equal(s, "sub/a.b");
    free(s);
    assert_int_equal(sr_topic_subtopic_string(SR_TOPIC_MQTT, "xpublic/v03", "v03", &s, NULL),
                     SR_OK);
    assert_string_equal(s, "");
    free(s);

    /* the list is cleared first, and left empty on error */
    sr_strlist levels = {0};
    assert_int_equal(sr_strlist_push(&levels, "stale"), 0);
    assert_int_equal(sr_topic_subtopic(SR_TOPIC_AMQP, NULL, "v03", &levels, NULL), SR_EINVAL);
    assert_int_equal(levels.count, 0);
    sr_strlist_clear(&levels);
}

static void topic_kept_when_it_differs(void **state)
{
    (void)state;
    /* same as re-deriving: not kept */
    assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.sub.a", "v03", "sub/a/f.txt"));
    assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.sub.a", "v03", "/sub/a/f.txt"));
    assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03", "v03", "f.txt"));
    assert_true(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.a%23b", "v03", "a#b/f"));
    assert_true(sr_topic_matches_relpath(SR_TOPIC_MQTT, "xpublic/v03/sub/a", "v03", "sub/a/f.txt"));
    /* the exchange level is not compared */
    assert_true(sr_topic_matches_relpath(SR_TOPIC_MQTT, "xs_bob/v03/sub/a", "v03", "sub/a/f"));
    /* different: kept, to be re-published verbatim */
    assert_false(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.sub", "v03", "sub/a/f.txt"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.WXO-DD.a", "v03", "a/f.txt"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v02.post.sub.a", "v03", "sub/a/f"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.a#b", "v03", "a#b/f"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_AMQP, "v03.a..b", "v03", "a//b/f"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_MQTT, "v03", "v03", "f"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_MQTT, "xpublic/v03/sub", "v03", "sub/a/f"));
    assert_false(sr_topic_matches_relpath(SR_TOPIC_AMQP, NULL, "v03", "sub/a/f"));
}

/* ---- subscribing ---- */

static void amqp_bindings(void **state)
{
    (void)state;
    /* no subtopic: everything */
    check_amqp_binding(NULL, "xpublic", "v03", "xpublic", "v03.#");
    sr_subtopic s = line_at("#", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xs_bob", "v03", "xs_bob", "v03.#");
    s = line_at("*.WXO-DD.observations.#", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v02.post", "xpublic", "v02.post.*.WXO-DD.observations.#");
    /* MQTT style, translated */
    s = line_at("a/+/#", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xpublic", "v03.a.*.#");
    s = line_at("a/*/b", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xpublic", "v03.a.*.b");
    /* a directory with a '.' is two AMQP levels, as it is when published */
    s = line_at("obs.v2/#", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xpublic", "v03.obs.v2.#");
    s = line_at("a.b/", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xpublic", "v03.a.b");
    /* the exchange and topicPrefix in force at the line win over the final ones */
    s = line_at("a.#", "xs_other", "v02.post", NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xs_other", "v02.post.a.#");
    s = line_at("a.#", NULL, "v02/post", NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xpublic", "v02.post.a.#");
    s = line_at("a.#", "xs_other", NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xs_other", "v03.a.#");
    /* no prefix at all */
    s = line_at("a.#", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", NULL, "xpublic", "a.#");
    /* a literal directory with a wildcard character: written as on the wire */
    s = line_at("a%23b.#", NULL, NULL, NULL, 0);
    check_amqp_binding(&s, "xpublic", "v03", "xpublic", "v03.a%23b.#");
}

static void mqtt_filters(void **state)
{
    (void)state;
    check_mqtt_binding(NULL, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v03/#");
    sr_subtopic s = line_at("#", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xs_bob", "v03", "q_bob", "$share/q_bob/xs_bob/v03/#");
    /* AMQP style, translated */
    s = line_at("*.WXO-DD.observations.#", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob",
                       "$share/q_bob/xpublic/v03/+/WXO-DD/observations/#");
    s = line_at("*.WXO-DD.model_gem_global.25km.grib2.#", "xpublic", "v02.post", NULL, 0);
    check_mqtt_binding(&s, "xs_bob", "v03", "q_bob",
                       "$share/q_bob/xpublic/v02/post/+/WXO-DD/model_gem_global/25km/grib2/#");
    /* MQTT style, as written */
    s = line_at("a/+/#", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v03/a/+/#");
    s = line_at("obs.v2/#", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v03/obs.v2/#");
    s = line_at("a.b/", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v03/a.b");
    /* either wildcard spelling in either style */
    s = line_at("a/*/#", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v03/a/+/#");
    s = line_at("+.b", NULL, NULL, NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v03/+/b");
    /* per line exchange and topicPrefix */
    s = line_at("a.#", "xs_other", "v02.post", NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xs_other/v02/post/a/#");
    s = line_at("a.#", NULL, "v02/post", NULL, 0);
    check_mqtt_binding(&s, "xpublic", "v03", "q_bob", "$share/q_bob/xpublic/v02/post/a/#");

    /* the exchange is returned too */
    sr_topic_binding b;
    assert_int_equal(sr_topic_binding_mqtt(NULL, "xpublic", "v03", "q", &b, NULL), SR_OK);
    assert_string_equal(b.exchange, "xpublic");
    sr_topic_binding_fini(&b);
    sr_topic_binding_fini(&b); /* safe twice */
}

static void bad_wildcards(void **state)
{
    (void)state;
    const char *file = "/home/bob/.config/sr/subscribe/x.conf";
    struct {
        const char *pattern, *why;
    } bad[] = {
        {"a.b#", "'#' must be a whole level"},
        {"#a", "'#' must be a whole level"},
        {"a/#x", "'#' must be a whole level"},
        {"a*.b", "'*' must be a whole level"},
        {"a/b*", "'*' must be a whole level"},
        {"a/b+/c", "'+' must be a whole level"},
        {"c++.#", "'+' must be a whole level"},
        {"**", "'*' must be a whole level"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[512];
        sr_subtopic s = line_at(bad[i].pattern, NULL, NULL, file, 4);
        snprintf(want, sizeof want, "%s:4: subtopic %s: %s", file, bad[i].pattern, bad[i].why);
        check_bad_subtopic(&s, want);
        /* a derived line has no place to name */
        s = line_at(bad[i].pattern, NULL, NULL, NULL, 0);
        snprintf(want, sizeof want, "subtopic %s: %s", bad[i].pattern, bad[i].why);
        check_bad_subtopic(&s, want);
    }
    sr_subtopic s = line_at("a.b#", NULL, NULL, NULL, 0);
    s.origin.kind = SR_ORIGIN_CMDLINE;
    check_bad_subtopic(&s, "command line: subtopic a.b#: '#' must be a whole level");

    /* '#' inside a pattern: AMQP takes it (zero or more words), MQTT does not. */
    const char *middle[] = {"*.#.grib2", "a/#/b"};
    const char *keys[] = {"v03.*.#.grib2", "v03.a.#.b"};
    for (size_t i = 0; i < 2; i++) {
        sr_topic_binding b;
        sr_err err;
        s = line_at(middle[i], NULL, NULL, file, 7);
        assert_int_equal(sr_topic_binding_amqp(&s, "xpublic", "v03", &b, &err), SR_OK);
        assert_string_equal(b.key, keys[i]);
        sr_topic_binding_fini(&b);
        assert_int_equal(sr_topic_binding_mqtt(&s, "xpublic", "v03", "q_bob", &b, &err), SR_EINVAL);
        char want[512];
        snprintf(want, sizeof want, "%s:7: subtopic %s: '#' must be the whole last level", file,
                 middle[i]);
        assert_string_equal(err.msg, want);
    }
}

static void binding_errors(void **state)
{
    (void)state;
    sr_topic_binding b;
    sr_err err;
    sr_err_clear(&err);
    sr_subtopic s = line_at("a.#", NULL, NULL, "/c/x.conf", 7);
    assert_int_equal(sr_topic_binding_amqp(&s, NULL, "v03", &b, &err), SR_EINVAL);
    assert_string_equal(err.msg, "/c/x.conf:7: subtopic a.#: no exchange to bind to");
    assert_int_equal(sr_topic_binding_mqtt(&s, "", "v03", "q", &b, &err), SR_EINVAL);
    assert_string_equal(err.msg, "/c/x.conf:7: subtopic a.#: no exchange to subscribe to");
    assert_int_equal(sr_topic_binding_mqtt(&s, "xpublic", "v03", NULL, &b, &err), SR_EINVAL);
    assert_string_equal(err.msg, "queueName: not set (an MQTT shared subscription needs one)");
    const char *queues[] = {"q/1", "q+", "q#"};
    for (size_t i = 0; i < 3; i++) {
        char want[256];
        assert_int_equal(sr_topic_binding_mqtt(&s, "xpublic", "v03", queues[i], &b, &err),
                         SR_EINVAL);
        snprintf(want, sizeof want,
                 "queueName %s: an MQTT share name cannot contain '/', '+' or '#'", queues[i]);
        assert_string_equal(err.msg, want);
    }
    assert_int_equal(sr_topic_binding_mqtt(&s, "x#", "v03", "q", &b, &err), SR_EINVAL);
    assert_string_equal(err.msg,
                        "/c/x.conf:7: exchange x#: '+' and '#' are not allowed in an MQTT topic "
                        "level");
    assert_int_equal(sr_topic_binding_mqtt(&s, "xpublic", "v0+", "q", &b, &err), SR_EINVAL);
    assert_string_equal(err.msg,
                        "/c/x.conf:7: topicPrefix v0+: '+' and '#' are not allowed in an MQTT "
                        "topic level");
    /* over the protocol's length */
    char *long_sub = repeat("a", 260, "", ".#");
    s = line_at(long_sub, NULL, NULL, NULL, 0);
    assert_int_equal(sr_topic_binding_amqp(&s, "xpublic", "v03", &b, &err), SR_EINVAL);
    /* (the message quotes 64 bytes of it) */
    char *want =
        repeat("a", 64, "subtopic ", "...: AMQP binding key of 266 bytes is longer than 255");
    assert_string_equal(err.msg, want);
    assert_null(b.key);
    free(want);
    /* ...which MQTT allows */
    want = repeat("a", 260, "$share/q/x/v03/", "/#");
    check_mqtt_binding(&s, "x", "v03", "q", want);
    free(want);
    free(long_sub);
}

static void mqtt_filter_length(void **state)
{
    (void)state;
    /* "$share/q/x/v03/" is 15 bytes */
    char *sub = repeat("a", 65520, "", "");
    sr_subtopic s = line_at(sub, NULL, NULL, NULL, 0);
    sr_topic_binding b;
    sr_err err;
    sr_err_clear(&err);
    assert_int_equal(sr_topic_binding_mqtt(&s, "x", "v03", "q", &b, &err), SR_OK);
    assert_int_equal(strlen(b.key), 65535);
    sr_topic_binding_fini(&b);
    free(sub);
    sub = repeat("a", 65521, "", "");
    s = line_at(sub, NULL, NULL, NULL, 0);
    assert_int_equal(sr_topic_binding_mqtt(&s, "x", "v03", "q", &b, &err), SR_EINVAL);
    char *want =
        repeat("a", 64, "subtopic ", "...: MQTT topic filter of 65536 bytes is longer than 65535");
    assert_string_equal(err.msg, want);
    free(want);
    free(sub);
}

static void raw_topic_option(void **state)
{
    (void)state;
    sr_topic_binding b;
    sr_err err;
    sr_err_clear(&err);
    /* AMQP: as written, '#' allowed anywhere as a whole word */
    assert_int_equal(sr_topic_binding_raw(SR_TOPIC_AMQP, "xpublic", "v02.post.#.grib2", &b, &err),
                     SR_OK);
    assert_string_equal(b.exchange, "xpublic");
    assert_string_equal(b.key, "v02.post.#.grib2");
    sr_topic_binding_fini(&b);
    /* MQTT: the whole filter, no $share added, exchange optional */
    assert_int_equal(sr_topic_binding_raw(SR_TOPIC_MQTT, NULL, "xpublic/v03/+/obs/#", &b, &err),
                     SR_OK);
    assert_null(b.exchange);
    assert_string_equal(b.key, "xpublic/v03/+/obs/#");
    sr_topic_binding_fini(&b);
    assert_int_equal(sr_topic_binding_raw(SR_TOPIC_MQTT, "xpublic", "$share/g/xpublic/#", &b, &err),
                     SR_OK);
    assert_string_equal(b.key, "$share/g/xpublic/#");
    sr_topic_binding_fini(&b);

    struct {
        enum sr_topic_proto proto;
        const char *exchange, *topic, *msg;
    } bad[] = {
        {SR_TOPIC_AMQP, "xpublic", "v03.a*", "topic v03.a*: '*' must be a whole level"},
        {SR_TOPIC_AMQP, "xpublic", "v03.#a", "topic v03.#a: '#' must be a whole level"},
        {SR_TOPIC_AMQP, NULL, "v03.#", "topic v03.#: no exchange to bind to"},
        {SR_TOPIC_AMQP, "xpublic", "", "topic: empty"},
        {SR_TOPIC_MQTT, NULL, "xpublic/#/a", "topic xpublic/#/a: '#' must be the whole last level"},
        {SR_TOPIC_MQTT, NULL, "xpublic/a+/b", "topic xpublic/a+/b: '+' must be a whole level"},
        {SR_TOPIC_MQTT, NULL, NULL, "topic: empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            sr_topic_binding_raw(bad[i].proto, bad[i].exchange, bad[i].topic, &b, &err), SR_EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        assert_null(b.key);
    }
    /* '*' is no wildcard in MQTT, '+' none in AMQP: literal characters there */
    assert_int_equal(sr_topic_binding_raw(SR_TOPIC_MQTT, NULL, "x/a*b", &b, &err), SR_OK);
    sr_topic_binding_fini(&b);
    assert_int_equal(sr_topic_binding_raw(SR_TOPIC_AMQP, "x", "v03.c++", &b, &err), SR_OK);
    sr_topic_binding_fini(&b);
    char *long_key = repeat("a", 256, "", "");
    assert_int_equal(sr_topic_binding_raw(SR_TOPIC_AMQP, "x", long_key, &b, &err), SR_EINVAL);
    char *want = repeat("a", 64, "topic ", "...: AMQP binding key of 256 bytes is longer than 255");
    assert_string_equal(err.msg, want);
    free(want);
    free(long_key);
}

/* ---- split exchanges ---- */

static void split_index(void **state)
{
    (void)state;
    /* sums worked by hand */
    assert_int_equal(sr_topic_split_index("A", 2), 1);     /* 65 % 2 */
    assert_int_equal(sr_topic_split_index("AB", 10), 1);   /* 131 % 10 */
    assert_int_equal(sr_topic_split_index("abc", 4), 2);   /* 294 % 4 */
    assert_int_equal(sr_topic_split_index("abc", 3), 0);   /* 294 % 3 */
    assert_int_equal(sr_topic_split_index("abc", 5), 4);   /* 294 % 5 */
    assert_int_equal(sr_topic_split_index("zz", 7), 6);    /* 244 % 7 */
    assert_int_equal(sr_topic_split_index("a+/=", 16), 8); /* 97+43+47+61 = 248 % 16 */
    /* bytes are unsigned: 0xc3 + 0xa9 = 195 + 169 = 364 */
    assert_int_equal(sr_topic_split_index("\xc3\xa9", 10), 4);
    /* no split, or no identity: the first exchange */
    assert_int_equal(sr_topic_split_index("abc", 0), 0);
    assert_int_equal(sr_topic_split_index("abc", 1), 0);
    assert_int_equal(sr_topic_split_index(NULL, 4), 0);
    assert_int_equal(sr_topic_split_index("", 4), 0);
}

static void split_exchange_names(void **state)
{
    (void)state;
    char *name;
    assert_int_equal(sr_topic_split_exchange("xs_bob", 0, &name, NULL), SR_OK);
    assert_string_equal(name, "xs_bob00");
    free(name);
    assert_int_equal(sr_topic_split_exchange("xs_bob", 7, &name, NULL), SR_OK);
    assert_string_equal(name, "xs_bob07");
    free(name);
    assert_int_equal(sr_topic_split_exchange("xs_bob_suffix", 12, &name, NULL), SR_OK);
    assert_string_equal(name, "xs_bob_suffix12");
    free(name);
    assert_int_equal(sr_topic_split_exchange("xs_bob", 100, &name, NULL), SR_OK);
    assert_string_equal(name, "xs_bob100"); /* Python's {i:02d} */
    free(name);
    /* the index of a message, then its exchange */
    assert_int_equal(sr_topic_split_exchange("xs_bob", sr_topic_split_index("abc", 4), &name, NULL),
                     SR_OK);
    assert_string_equal(name, "xs_bob02");
    free(name);

    sr_err err;
    sr_err_clear(&err);
    assert_int_equal(sr_topic_split_exchange(NULL, 1, &name, &err), SR_EINVAL);
    assert_null(name);
    assert_string_equal(err.msg, "exchange: not set (needed to split it)");
    char *ex = repeat("x", 253, "", "");
    assert_int_equal(sr_topic_split_exchange(ex, 1, &name, &err), SR_OK); /* 255 bytes */
    free(name);
    assert_int_equal(sr_topic_split_exchange(ex, 100, &name, &err), SR_EINVAL);
    assert_null(name);
    char *want = repeat("x", 64, "exchange ",
                        "...: split exchange name with index 100 is longer than 255 bytes");
    assert_string_equal(err.msg, want);
    free(want);
    free(ex);
}

/* ---- WIS2 ---- */

/* sr_topic_wis_check on one topic: want NULL for a topic that passes, else the whole
 * message the refusal must carry. */
static void check_wis(enum sr_topic_proto proto, const char *exchange, const char *topic,
                      bool complete, const char *want)
{
    sr_err err;
    sr_err_clear(&err);
    int rc = sr_topic_wis_check(proto, exchange, topic, "ca-x", complete, &err);
    if (want == NULL) {
        if (rc != SR_OK)
            fail_msg("%s: %s", topic, err.msg);
        return;
    }
    if (rc != SR_EREFUSED)
        fail_msg("%s: passed, want \"%s\"", topic, want);
    if (strcmp(err.msg, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", topic, err.msg, want);
}

/* The WIS2 topic hierarchy: each fixed level's choices, the centre id (this node's on
 * origin, any valid one on cache), what any level may hold, and the first 7 levels
 * required of a message's topic but not of a config's exchange and prefix. */
static void wis2_topic_hierarchy(void **state)
{
    (void)state;
    const enum sr_topic_proto M = SR_TOPIC_MQTT, A = SR_TOPIC_AMQP;
    check_wis(M, NULL, "origin/a/wis2/ca-x/data/core/weather/surface-based-observations/synop",
              true, NULL);
    check_wis(M, NULL, "cache/a/wis2/fr-meteo_france/metadata/recommended/ocean", true, NULL);
    check_wis(A, "origin", "a.wis2.ca-x.data.core.space-weather.x1", true, NULL);
    check_wis(A, "cache", "a.wis2.jp-jma.data.core.hydrology", true, NULL);
    /* what a config fixes: fewer levels are fine, wrong ones are not */
    check_wis(M, NULL, "origin/a/wis2", false, NULL);
    check_wis(A, "cache", "", false, NULL);
    check_wis(A, "origin", "a.wis2.ca-x.data", false, NULL);

    check_wis(M, NULL, "origin/a/wis2/ca-x/data/core/wether", true,
              "topic origin/a/wis2/ca-x/data/core/wether: level 7 (earth-system-discipline) "
              "\"wether\" is not one of atmospheric-composition, climate, cryosphere, "
              "hydrology, ocean, space-weather, weather");
    check_wis(M, NULL, "xpublic/a/wis2", false,
              "topic xpublic/a/wis2: level 1 (channel) \"xpublic\" is not one of origin, cache");
    check_wis(A, "xpublic", "", false,
              "exchange xpublic: level 1 (channel) \"xpublic\" is not one of origin, cache");
    check_wis(M, NULL, "origin/v03/wis2", false,
              "topic origin/v03/wis2: level 2 (version) \"v03\" is not \"a\"");
    check_wis(A, "origin", "a.wis1", false,
              "exchange origin topic a.wis1: level 3 (system) \"wis1\" is not \"wis2\"");
    check_wis(M, NULL, "cache/a/wis2/CA-x/data/core/weather", true,
              "topic cache/a/wis2/CA-x/data/core/weather: level 4 (centre-id) \"CA-x\" is not a "
              "WIS2 centre id (tld-name: lowercase letters, digits, '-' and '_', e.g. "
              "ca-eccc-msc)");
    check_wis(M, NULL, "cache/a/wis2/cax/data/core/weather", true,
              "topic cache/a/wis2/cax/data/core/weather: level 4 (centre-id) \"cax\" is not a "
              "WIS2 centre id (tld-name: lowercase letters, digits, '-' and '_', e.g. "
              "ca-eccc-msc)");
    check_wis(M, NULL, "origin/a/wis2/ca-y/data/core/weather", true,
              "topic origin/a/wis2/ca-y/data/core/weather: level 4 (centre-id) \"ca-y\" is not "
              "this node's wisCentreId ca-x (a node publishes on the origin channel under its "
              "own centre id only)");
    check_wis(M, NULL, "cache/a/wis2/ca-y/data/core/weather", true, NULL);
    check_wis(A, "origin", "a.wis2.ca-y.data.core.weather", true,
              "exchange origin topic a.wis2.ca-y.data.core.weather: level 4 (centre-id) \"ca-y\" "
              "is not this node's wisCentreId ca-x (a node publishes on the origin channel "
              "under its own centre id only)");
    check_wis(M, NULL, "origin/a/wis2/ca-x/dat/core/weather", true,
              "topic origin/a/wis2/ca-x/dat/core/weather: level 5 (notification-type) \"dat\" "
              "is not one of data, metadata");
    check_wis(M, NULL, "origin/a/wis2/ca-x/data/open/weather", true,
              "topic origin/a/wis2/ca-x/data/open/weather: level 6 (data-policy) \"open\" is "
              "not one of core, recommended");
    check_wis(M, NULL, "origin/a/wis2/ca-x/data/core/weather/Surface", true,
              "topic origin/a/wis2/ca-x/data/core/weather/Surface: level 8 \"Surface\" holds "
              "an upper-case letter (WIS2 topic levels are lowercase)");
    check_wis(M, NULL, "origin/a/wis2/ca-x/data/core/weather//x", true,
              "topic origin/a/wis2/ca-x/data/core/weather//x: level 8 \"\" is empty");
    check_wis(M, NULL, "origin/a/wis2/ca-x/data/core/weather/x/a%23b", true,
              "topic origin/a/wis2/ca-x/data/core/weather/x/a%23b: level 9 \"a%23b\" holds "
              "'.', '/', '%' or a wildcard ('#', '+', '*')");
    check_wis(M, NULL, "origin/a/wis2/ca-x/data/core/weather/a b", true,
              "topic origin/a/wis2/ca-x/data/core/weather/a b: level 8 \"a b\" holds a space "
              "or a control character");
    check_wis(M, NULL, "origin/a/wis2/ca-x/data", true,
              "topic origin/a/wis2/ca-x/data: level 6 (data-policy) missing: a WIS2 topic "
              "starts with origin|cache/a/wis2/<centre-id>/data|metadata/core|recommended/"
              "<earth-system-discipline: atmospheric-composition, climate, cryosphere, "
              "hydrology, ocean, space-weather, weather>");

    sr_err err;
    assert_int_equal(sr_topic_wis_check(A, NULL, "a.wis2", NULL, false, &err), SR_EREFUSED);
    assert_non_null(strstr(err.msg, "no exchange"));
    /* without a centre id to compare, origin takes any valid one */
    assert_int_equal(
        sr_topic_wis_check(M, NULL, "origin/a/wis2/ca-y/data/core/climate", NULL, true, &err),
        SR_OK);

    assert_true(sr_topic_wis_centre_ok("ca-eccc-msc"));
    assert_true(sr_topic_wis_centre_ok("int-wmo_test2"));
    assert_false(sr_topic_wis_centre_ok("caeccc"));
    assert_false(sr_topic_wis_centre_ok("-ca"));
    assert_false(sr_topic_wis_centre_ok("ca-"));
    assert_false(sr_topic_wis_centre_ok("Ca-eccc"));
    assert_false(sr_topic_wis_centre_ok("ca.eccc-x"));
    assert_false(sr_topic_wis_centre_ok(""));
    assert_false(sr_topic_wis_centre_ok(NULL));
}

/* A relay's topic: the received subtopic (after the exchange and topicPrefix), kept as
 * '/'-separated levels, and the topic it is posted under with a new exchange and prefix,
 * on either protocol. */
static void wis2_subtopic_carried_over(void **state)
{
    (void)state;
    char *got = NULL;
    sr_err err;
    assert_int_equal(sr_topic_subtopic_path(SR_TOPIC_MQTT, "origin/a/wis2/ca-x/data/core/weather/s",
                                            "a/wis2", &got, &err),
                     SR_OK);
    assert_string_equal(got, "ca-x/data/core/weather/s");
    free(got);
    assert_int_equal(sr_topic_subtopic_path(SR_TOPIC_AMQP, "a.wis2.ca-x.data.core.weather",
                                            "a.wis2", &got, &err),
                     SR_OK);
    assert_string_equal(got, "ca-x/data/core/weather");
    free(got);
    /* an AMQP level holding '/' stays one level; escapes are undone */
    assert_int_equal(
        sr_topic_subtopic_path(SR_TOPIC_AMQP, "a.wis2.x/y.a%23b", "a.wis2", &got, &err), SR_OK);
    assert_string_equal(got, "x%2Fy/a#b");
    free(got);
    assert_int_equal(sr_topic_subtopic_path(SR_TOPIC_MQTT, "origin/a/wis2", "a/wis2", &got, &err),
                     SR_OK);
    assert_string_equal(got, "");
    free(got);

    bool cut = true;
    assert_int_equal(sr_topic_with_subtopic(SR_TOPIC_MQTT, "cache", "a/wis2",
                                            "ca-x/data/core/weather/s", &got, &cut, &err),
                     SR_OK);
    assert_string_equal(got, "cache/a/wis2/ca-x/data/core/weather/s");
    assert_false(cut);
    free(got);
    assert_int_equal(sr_topic_with_subtopic(SR_TOPIC_AMQP, "cache", "a.wis2",
                                            "ca-x/data/core/weather/s", &got, &cut, &err),
                     SR_OK);
    assert_string_equal(got, "a.wis2.ca-x.data.core.weather.s");
    free(got);
    assert_int_equal(
        sr_topic_with_subtopic(SR_TOPIC_MQTT, "cache", "a/wis2", "x/a#b", &got, NULL, &err), SR_OK);
    assert_string_equal(got, "cache/a/wis2/x/a%23b");
    free(got);
    assert_int_equal(sr_topic_with_subtopic(SR_TOPIC_MQTT, "cache", "a/wis2", "", &got, NULL, &err),
                     SR_OK);
    assert_string_equal(got, "cache/a/wis2");
    free(got);
    assert_int_equal(sr_topic_with_subtopic(SR_TOPIC_MQTT, NULL, "a/wis2", "x", &got, NULL, &err),
                     SR_EINVAL);
    assert_null(got);

    /* the default data_id's start: the levels after wis2 */
    assert_int_equal(
        sr_topic_wis_tail(SR_TOPIC_MQTT, "origin/a/wis2/ca-x/data/core/weather/s", &got, &err),
        SR_OK);
    assert_string_equal(got, "ca-x/data/core/weather/s");
    free(got);
    assert_int_equal(sr_topic_wis_tail(SR_TOPIC_AMQP, "a.wis2.ca-x.data.core.weather", &got, &err),
                     SR_OK);
    assert_string_equal(got, "ca-x/data/core/weather");
    free(got);
    assert_int_equal(sr_topic_wis_tail(SR_TOPIC_MQTT, "origin/a/wis2", &got, &err), SR_EINVAL);
    assert_null(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amqp_routing_keys),    cmocka_unit_test(mqtt_topics),
        cmocka_unit_test(dot_in_directory),     cmocka_unit_test(escaping),
        cmocka_unit_test(round_trips),          cmocka_unit_test(truncation_on_utf8_boundary),
        cmocka_unit_test(mqtt_length_limit),    cmocka_unit_test(odd_relpaths),
        cmocka_unit_test(subtopic_on_receipt),  cmocka_unit_test(topic_kept_when_it_differs),
        cmocka_unit_test(amqp_bindings),        cmocka_unit_test(mqtt_filters),
        cmocka_unit_test(bad_wildcards),        cmocka_unit_test(binding_errors),
        cmocka_unit_test(mqtt_filter_length),   cmocka_unit_test(raw_topic_option),
        cmocka_unit_test(split_index),          cmocka_unit_test(split_exchange_names),
        cmocka_unit_test(wis2_topic_hierarchy), cmocka_unit_test(wis2_subtopic_carried_over),
    };
    return cmocka_run_group_tests_name("topic", tests, NULL, NULL);
}
