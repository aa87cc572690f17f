/* test_options: the one option table is consistent, and look-ups find what a user types. */
#include "unit.h"

#include <dirent.h>

#include "config.h"
#include "options.h"

static void names_are_unique_and_documented(void **state)
{
    (void)state;
    for (int i = 0; i < SR_OPT_COUNT; i++) {
        const sr_option *a = sr_option_get(i);
        assert_non_null(a->help);
        assert_true(strlen(a->help) > 10);
        assert_true(a->components != 0);
        if (a->type == SR_T_SET || a->type == SR_T_ENUM)
            assert_true(strlen(a->extra) > 0);
        for (int j = i + 1; j < SR_OPT_COUNT; j++)
            assert_string_not_equal(a->name, sr_option_get(j)->name);
        sr_option_match m = sr_option_lookup(a->name);
        assert_int_equal(m.id, i);
    }
}

static void aliases_reach_their_option(void **state)
{
    (void)state;
    struct {
        const char *alias, *option;
    } cases[] = {
        {"b", "broker"},         {"chmod", "permDefault"},   {"preserve_time", "timeCopy"},
        {"sum", "identity"},     {"heartbeat", "housekeeping"}, {"postBroker", "post_broker"},
        {"qn", "queueName"},     {"sanity_log_dead", "runStateThreshold_hung"},
        {"destination", "sendTo"}, {"e", "fileEvents"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_option_match m = sr_option_lookup(cases[i].alias);
        assert_true(m.id >= 0);
        assert_string_equal(sr_option_get(m.id)->name, cases[i].option);
        assert_null(m.forced);
    }
    sr_option_match m = sr_option_lookup("notify_only");
    assert_string_equal(sr_option_get(m.id)->name, "download");
    assert_string_equal(m.forced, "off");
    m = sr_option_lookup("callback");
    assert_int_equal(m.id, -1);
    assert_non_null(m.unsupported);
    m = sr_option_lookup("Broker"); /* names are case sensitive, as in sr3 */
    assert_int_equal(m.id, -1);
    assert_null(m.unsupported);
    char buf[256];
    sr_option_aliases(SR_OPT_nodupe_ttl, buf, sizeof buf);
    assert_string_equal(buf, "cache,caching,suppress_duplicates,sd,nd");
}

static void nearest_suggests_real_names(void **state)
{
    (void)state;
    assert_string_equal(sr_option_nearest("Broker"), "broker");
    assert_string_equal(sr_option_nearest("postbroker"), "post_broker");
    assert_string_equal(sr_option_nearest("acceptUnmatch"), "acceptUnmatched");
    assert_string_equal(sr_option_nearest("subtopics"), "subtopic");
    assert_null(sr_option_nearest("frobnicate"));
    assert_null(sr_option_nearest("x"));
}

static void components(void **state)
{
    (void)state;
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        enum sr_component c = sr_component_at(i);
        assert_int_equal(sr_component_from_name(sr_component_name(c)), c);
    }
    assert_int_equal(sr_component_from_name("poll"), 0);
    assert_string_equal(sr_type_name(SR_T_DURATION), "duration");
    assert_true(sr_choice_valid("path,name,data", "name"));
    assert_false(sr_choice_valid("path,name,data", "nam"));
}

/* Every line of conf.d names an option of the table and loads without a warning:
 * the shipped defaults and the table cannot drift apart. */
static void confd_matches_the_table(void **state)
{
    (void)state;
    const char *confd = getenv("SR_CONFD") ? getenv("SR_CONFD") : "conf.d";
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        sr_config *cfg = NULL;
        sr_err err;
        sr_config_request req = {sr_component_at(i), NULL, NULL, confd, NULL, 0};
        if (sr_config_load(&req, &cfg, &err) != SR_OK)
            fail_msg("%s", err.msg);
        const sr_strlist *w = sr_config_warnings(cfg);
        if (w->count)
            fail_msg("conf.d warning: %s", w->items[0]);
        /* things every component relies on having a value */
        assert_true(sr_config_is_set(cfg, SR_OPT_batch));
        assert_true(sr_config_is_set(cfg, SR_OPT_logLevel));
        assert_true(sr_config_is_set(cfg, SR_OPT_housekeeping));
        sr_config_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_unique_and_documented),
        cmocka_unit_test(aliases_reach_their_option),
        cmocka_unit_test(nearest_suggests_real_names),
        cmocka_unit_test(components),
        cmocka_unit_test(confd_matches_the_table),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
