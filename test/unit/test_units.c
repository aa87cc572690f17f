/* SPDX-License-Identifier: GPL-2.0-only */
/* test_units: the value syntaxes of sr-config(5), Values, as a config author writes them. */
#include "unit.h"

#include "units.h"

static void flags(void **state)
{
    (void)state;
    bool v = false;
    const char *yes[] = {"on", "ON", "true", "True", "yes", "1"};
    const char *no[] = {"off", "Off", "false", "FALSE", "no", "0"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(sr_parse_flag(yes[i], &v), 0);
        assert_true(v);
        assert_int_equal(sr_parse_flag(no[i], &v), 0);
        assert_false(v);
    }
    /* sr3 takes these as false without a word; sr refuses them. */
    assert_int_equal(sr_parse_flag("onn", &v), -1);
    assert_int_equal(sr_parse_flag("", &v), -1);
    assert_int_equal(sr_parse_flag("2", &v), -1);
}

static void durations(void **state)
{
    (void)state;
    struct {
        const char *text;
        double seconds;
    } ok[] = {
        {"0", 0},      {"90", 90},        {"0.02", 0.02},   {"5m", 300},     {"1.5h", 5400},
        {"1h30m", 5400}, {"1d12h", 129600}, {"2w", 1209600}, {"10S", 10},    {"3D", 259200},
        {"-1", -1},    {"off", 0},        {"None", 0},      {"false", 0},    {"1m30s", 90},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double s = -99;
        assert_int_equal(sr_parse_duration(ok[i].text, &s), 0);
        assert_true(s == ok[i].seconds);
    }
    const char *bad[] = {"", "m", "5x", "1h30", "five", "1..2", "-", "5 m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double s;
        assert_int_equal(sr_parse_duration(bad[i], &s), -1);
    }
}

static void counts_and_sizes(void **state)
{
    (void)state;
    struct {
        const char *text;
        long long n;
    } ok[] = {
        {"25", 25},          {"1k", 1000},        {"1K", 1000},         {"1kb", 1024},
        {"1ki", 1024},       {"1KiB", 1024},      {"2m", 2000000},      {"1Mi", 1048576},
        {"1mb", 1048576},    {"1g", 1000000000},  {"1Gi", 1073741824},  {"1t", 1000000000000LL},
        {"-5", -5},          {"1.5k", 1500},      {"0", 0},             {"10 kb", 10240},
        {"1b", 1},           {"1T", 1000000000000LL},
    };
    /* Each is what sr3's parse_count gives (base 10 unless a trailing i or b); a bare
     * "1.5" sr3 truncates to 1, sr refuses (below). */
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long long n = -99;
        assert_int_equal(sr_parse_count(ok[i].text, &n), 0);
        assert_int_equal(n, ok[i].n);
    }
    const char *bad[] = {"", "k", "1x", "1.5", "ten", "1kk", "99999999999t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long n;
        assert_int_equal(sr_parse_count(bad[i], &n), -1);
    }
}

static void octal_and_float(void **state)
{
    (void)state;
    unsigned m;
    assert_int_equal(sr_parse_octal("644", &m), 0);
    assert_int_equal(m, 0644);
    assert_int_equal(sr_parse_octal("0775", &m), 0);
    assert_int_equal(m, 0775);
    assert_int_equal(sr_parse_octal("2775", &m), 0);
    assert_int_equal(m, 02775);
    assert_int_equal(sr_parse_octal("8", &m), -1);
    assert_int_equal(sr_parse_octal("rw-r--r--", &m), -1);
    assert_int_equal(sr_parse_octal("07777", &m), -1);
    double d;
    assert_int_equal(sr_parse_float("2.5", &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(sr_parse_float("2.5/s", &d), -1);
    char buf[32];
    assert_string_equal(sr_format_number(300, buf, sizeof buf), "300");
    assert_string_equal(sr_format_number(0.1, buf, sizeof buf), "0.1");
    assert_string_equal(sr_format_number(-1, buf, sizeof buf), "-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flags),
        cmocka_unit_test(durations),
        cmocka_unit_test(counts_and_sizes),
        cmocka_unit_test(octal_and_float),
    };
    return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
