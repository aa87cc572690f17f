/* SPDX-License-Identifier: GPL-2.0-only */
/* test_varsub: ${VAR} substitution, at parse time and per message (sr-config(5), Variables). */
#include "unit.h"

#include "varsub.h"

static char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "HOSTNAME") == 0)
        return strdup("pump1");
    if (strcmp(name, "EMPTY") == 0)
        return strdup("");
    return NULL;
}

static void parse_time(void **state)
{
    (void)state;
    char *out;
    sr_strlist unknown = {0};
    assert_int_equal(sr_varsub("/data/${HOSTNAME}/in", lookup, NULL, &out, &unknown, NULL), SR_OK);
    assert_string_equal(out, "/data/pump1/in");
    free(out);
    assert_int_equal(
        sr_varsub("a${EMPTY}b $HOME ${NOPE}/${YYYYMMDD}", lookup, NULL, &out, &unknown, NULL),
        SR_OK);
    assert_string_equal(out, "ab $HOME ${NOPE}/${YYYYMMDD}");
    free(out);
    assert_int_equal(unknown.count, 2);
    assert_string_equal(unknown.items[0], "NOPE");
    assert_string_equal(unknown.items[1], "YYYYMMDD");
    sr_strlist_clear(&unknown);
    sr_err err;
    assert_int_equal(sr_varsub("/data/${HOSTNAME", lookup, NULL, &out, NULL, &err), SR_EINVAL);
    assert_string_equal(err.msg, "\"${\" without a closing \"}\" in \"/data/${HOSTNAME\"");
}

static void message_vars(void **state)
{
    (void)state;
    /* 2024-02-29 23:30:00 UTC, a leap day, so offsets cross a month. */
    const char *groups[] = {"CWAO", "grib2"};
    sr_msgvars v = {
        .now = 1709249400,
        .base_dir = "/local/data",
        .post_base_dir = "/var/www/html",
        .base_url = "https://hpfx.example.com/data/20240229/",
        .source = "WXO-DD",
        .groups = groups,
        .group_count = 2,
    };
    struct {
        const char *in, *out;
    } cases[] = {
        {"${YYYYMMDD}", "20240229"},
        {"${YYYY}/${MM}/${DD}/${HH}", "2024/02/29/23"},
        {"${JJJ}", "060"},
        {"${YYYYMMDD-1d}", "20240228"},
        {"${YYYYMMDD+1h}", "20240301"},
        {"${%Y/%m/%d}", "2024/02/29"},
        {"${%o-1h%Y%m%d%H}", "2024022922"},
        {"${BD}/${PBD}", "/local/data//var/www/html"},
        {"${BUP}", "/data/20240229/"},
        {"${BUPL}", "20240229"},
        {"${SOURCE}/${1}/${2}", "WXO-DD/CWAO/grib2"},
        {"${3}${CONFIG}", "${3}${CONFIG}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        assert_int_equal(sr_varsub_message(cases[i].in, &v, &out, NULL, NULL), SR_OK);
        assert_string_equal(out, cases[i].out);
        free(out);
    }
    v.time_offset = -86400;
    char *out;
    assert_int_equal(sr_varsub_message("${YYYYMMDD}", &v, &out, NULL, NULL), SR_OK);
    assert_string_equal(out, "20240228");
    free(out);
}

/* What the message chooses may not climb, hold a control character, or (one name) a "/". */
static void message_values_checked(void **state)
{
    (void)state;
    struct {
        const char *source, *base_url, *group, *text;
        bool ok;
    } cases[] = {
        {"alice", "http://h/data", "g", "/d/${SOURCE}", true},
        {"../../etc", "http://h/data", "g", "/d/${SOURCE}", false},
        {"a/b", "http://h/data", "g", "/d/${SOURCE}", false},
        {"..", "http://h/data", "g", "/d/${SOURCE}", false},
        {".", "http://h/data", "g", "/d/${SOURCE}", false},
        {"a\x1b"
         "b",
         "http://h/data", "g", "/d/${SOURCE}", false},
        {"a", "http://h/../../etc", "g", "/d/${BUP}", false},
        {"a", "http://h/data/x/", "g", "/d/${BUP}", true},
        {"a", "http://h/..", "g", "/d/${BUPL}", false},
        {"a", "http://h/d", "x/..", "/d/${1}", false},
        {"a", "http://h/d", "x/y", "/d/${1}", true},
        {"a", "http://h/d", "..", "/d/${1}/f", false},
        {"../x", "http://h/d", "..", "/d/${YYYY}", true}, /* not used: not checked */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *groups[] = {cases[i].group};
        sr_msgvars v = {.now = 1709249400,
                        .base_url = cases[i].base_url,
                        .source = cases[i].source,
                        .groups = groups,
                        .group_count = 1};
        char *out = NULL;
        sr_err err;
        int rc = sr_varsub_message(cases[i].text, &v, &out, NULL, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, SR_OK);
            free(out);
        } else {
            assert_int_equal(rc, SR_EREFUSED);
            assert_null(out);
            assert_non_null(strstr(err.msg, "from the message"));
        }
    }
}

/* How much of the result the configuration alone wrote: the jail's root. */
static void trusted_prefix(void **state)
{
    (void)state;
    const char *groups[] = {"g1"};
    sr_msgvars v = {.now = 1709249400,
                    .post_base_dir = "/var/www",
                    .base_url = "http://h/data",
                    .source = "alice",
                    .groups = groups,
                    .group_count = 1};
    struct {
        const char *in;
        size_t trusted;
    } cases[] = {
        {"/data/in", 8},           {"${PBD}/${YYYYMMDD}/x", 19},
        {"/data/${SOURCE}/in", 6}, {"/data/x_${1}", 8},
        {"${BUP}/y", 0},           {"/a/${YYYY}/${BUPL}/${SOURCE}", 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        size_t trusted = 99;
        assert_int_equal(sr_varsub_message(cases[i].in, &v, &out, &trusted, NULL), SR_OK);
        assert_int_equal(trusted, cases[i].trusted);
        free(out);
    }
}

static void which_are_message_vars(void **state)
{
    (void)state;
    assert_true(sr_varsub_is_message_var("YYYYMMDD"));
    assert_true(sr_varsub_is_message_var("YYYYMMDD-2d"));
    assert_true(sr_varsub_is_message_var("%Y"));
    assert_true(sr_varsub_is_message_var("PBD"));
    assert_true(sr_varsub_is_message_var("1"));
    assert_false(sr_varsub_is_message_var("HOSTNAME"));
    assert_false(sr_varsub_is_message_var("YYYYMMDD-2x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_time),
        cmocka_unit_test(message_vars),
        cmocka_unit_test(message_values_checked),
        cmocka_unit_test(trusted_prefix),
        cmocka_unit_test(which_are_message_vars),
    };
    return cmocka_run_group_tests_name("varsub", tests, NULL, NULL);
}
