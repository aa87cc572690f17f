/* SPDX-License-Identifier: GPL-2.0-only */
/* test_timefmt: sr3 time strings (sr-message(7), Encodings), with the times of sr3's own
 * messages in test/data/messages. */
#include "unit.h"

#include "timefmt.h"

#include <math.h>

/* Epoch seconds of the whole-second part of those times (computed with calendar.timegm). */
#define T_20261124_192335 1795548215
#define T_20261124_192512 1795548312
#define T_20241001_123456 1727786096
#define T_20241001_123500 1727786100

static void expect_format(time_t sec, long nsec, bool v03, const char *want)
{
    struct timespec t = {.tv_sec = sec, .tv_nsec = nsec};
    char buf[SR_TIME_MAX];
    assert_int_equal(sr_time_format(&t, v03, buf, sizeof buf), (int)strlen(want));
    assert_string_equal(buf, want);
}

static void expect_parse(const char *text, time_t sec, long nsec)
{
    struct timespec t = {-1, -1};
    sr_err err = {0};
    assert_int_equal(sr_time_parse(text, &t, &err), SR_OK);
    assert_int_equal(t.tv_sec, sec);
    assert_int_equal(t.tv_nsec, nsec);
}

static void format_fraction(void **state)
{
    (void)state;
    /* nanoseconds, trailing zeros stripped; no point at all for a whole second (as sr3) */
    expect_format(T_20261124_192335, 368511915, true, "20261124T192335.368511915");
    expect_format(T_20241001_123456, 500000000, true, "20241001T123456.5");
    expect_format(T_20241001_123456, 0, true, "20241001T123456");
    expect_format(T_20241001_123456, 789000034, true, "20241001T123456.789000034");
    expect_format(T_20241001_123456, 50000000, true, "20241001T123456.05");
    expect_format(T_20241001_123456, 1, true, "20241001T123456.000000001");
    expect_format(T_20241001_123456, 120, true, "20241001T123456.00000012");
    /* v02: the same without the T */
    expect_format(T_20261124_192335, 368511915, false, "20261124192335.368511915");
    expect_format(T_20241001_123500, 500000000, false, "20241001123500.5");
    expect_format(T_20241001_123456, 0, false, "20241001123456");
}

static void format_limits(void **state)
{
    (void)state;
    expect_format(0, 0, true, "19700101T000000");
    /* the longest string: SR_TIME_MAX holds it exactly */
    expect_format(253402300799, 999999999, true, "99991231T235959.999999999");
    assert_int_equal(strlen("99991231T235959.999999999") + 1, SR_TIME_MAX);

    struct timespec t = {.tv_sec = T_20261124_192335, .tv_nsec = 368511915};
    char small[25];
    assert_int_equal(sr_time_format(&t, true, small, sizeof small), -1);
    assert_string_equal(small, "");
    char buf[SR_TIME_MAX];
    struct timespec bad[] = {
        {.tv_sec = -1, .tv_nsec = 0},           /* 1969 */
        {.tv_sec = 253402300800, .tv_nsec = 0}, /* year 10000 */
        {.tv_sec = 0, .tv_nsec = 1000000000},   /* not a nanosecond count */
        {.tv_sec = 0, .tv_nsec = -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sr_time_format(&bad[i], true, buf, sizeof buf), -1);
}

static void parse_forms(void **state)
{
    (void)state;
    expect_parse("20261124T192335.368511915", T_20261124_192335, 368511915);
    expect_parse("20261124192335.368511915", T_20261124_192335, 368511915);
    expect_parse("20241001T123456", T_20241001_123456, 0);
    expect_parse("20241001123456", T_20241001_123456, 0);
    expect_parse("20241001T123456.5", T_20241001_123456, 500000000);
    expect_parse("20241001123500.5", T_20241001_123500, 500000000);
    /* sarrac writes .0 for a whole second */
    expect_parse("20241001T123456.0", T_20241001_123456, 0);
    expect_parse("20241001T123456.789", T_20241001_123456, 789000000);
    /* sr3's {:.9g} can give 10 digits: past the 9th they are dropped (truncated) */
    expect_parse("20261124T192335.0825042725", T_20261124_192335, 82504272);
    expect_parse("20241001T123456.9999999999999", T_20241001_123456, 999999999);
    expect_parse("19700101T000000", 0, 0);
    expect_parse("99991231T235959.999999999", 253402300799, 999999999);
    expect_parse("20240229T000000", 1709164800, 0); /* a leap day */
}

/* parse then format gives back every string sr3 writes with <= 9 fraction digits and no
 * trailing zero: the times of test/data/messages among them. */
static void round_trip(void **state)
{
    (void)state;
    const char *v03[] = {
        "20261124T192335.368511915", "20241001T123456.789000034", "20261124T192512.581284761",
        "20261124T192512.587235689", "20261124T192512.579945326", "20261124T192512.283407927",
        "20241001T123500.5",         "20241001T123456.789",       "20241001T123456",
        "20241001T123456.123456717", "20210921T011331.0123",      "19700101T000000.000000001",
    };
    for (size_t i = 0; i < sizeof v03 / sizeof v03[0]; i++) {
        struct timespec t;
        char buf[SR_TIME_MAX], v02[SR_TIME_MAX], back[SR_TIME_MAX];
        assert_int_equal(sr_time_parse(v03[i], &t, NULL), SR_OK);
        assert_true(sr_time_format(&t, true, buf, sizeof buf) > 0);
        assert_string_equal(buf, v03[i]);
        /* and the v02 spelling of it, both ways */
        assert_true(sr_time_format(&t, false, v02, sizeof v02) > 0);
        assert_int_equal(strlen(v02), strlen(v03[i]) - 1);
        assert_int_equal(sr_time_parse(v02, &t, NULL), SR_OK);
        assert_true(sr_time_format(&t, true, back, sizeof back) > 0);
        assert_string_equal(back, v03[i]);
    }
}

static void expect_bad(const char *text, const char *message)
{
    struct timespec t = {.tv_sec = 42, .tv_nsec = 7};
    sr_err err = {0};
    assert_int_equal(sr_time_parse(text, &t, &err), SR_EINVAL);
    assert_string_equal(err.msg, message);
    /* *t is untouched */
    assert_int_equal(t.tv_sec, 42);
    assert_int_equal(t.tv_nsec, 7);
}

static void parse_rejects(void **state)
{
    (void)state;
    expect_bad("", "time \"\": not a time (YYYYMMDD[T]HHMMSS[.fraction], UTC)");
    expect_bad("20241001T12345",
               "time \"20241001T12345\": not a time (YYYYMMDD[T]HHMMSS[.fraction], UTC)");
    expect_bad("2024-10-01T12:34:56",
               "time \"2024-10-01T12:34:56\": not a time (YYYYMMDD[T]HHMMSS[.fraction], UTC)");
    expect_bad("20241001t123456",
               "time \"20241001t123456\": not a time (YYYYMMDD[T]HHMMSS[.fraction], UTC)");
    expect_bad("20241001TT123456",
               "time \"20241001TT123456\": not a time (YYYYMMDD[T]HHMMSS[.fraction], UTC)");
    expect_bad("20241001T123456.", "time \"20241001T123456.\": no digits after the '.'");
    expect_bad("20241001T123456.5x", "time \"20241001T123456.5x\": unexpected text after the time");
    expect_bad("20241001T1234567", "time \"20241001T1234567\": unexpected text after the time");
    expect_bad("20241001T123456Z", "time \"20241001T123456Z\": unexpected text after the time");
    expect_bad("20241001T123456 ", "time \"20241001T123456 \": unexpected text after the time");
    expect_bad("20241301T123456", "time \"20241301T123456\": month 13 is out of range");
    expect_bad("20240001T123456", "time \"20240001T123456\": month 0 is out of range");
    expect_bad("20230229T123456", "time \"20230229T123456\": day 29 is out of range");
    expect_bad("20240431T123456", "time \"20240431T123456\": day 31 is out of range");
    expect_bad("20241000T123456", "time \"20241000T123456\": day 0 is out of range");
    expect_bad("20241001T243456", "time \"20241001T243456\": hour 24 is out of range");
    expect_bad("20241001T126056", "time \"20241001T126056\": minute 60 is out of range");
    expect_bad("20241001T123460", "time \"20241001T123460\": second 60 is out of range");
    expect_bad("19691231T235959",
               "time \"19691231T235959\": year 1969 is out of range (1970..9999)");
    /* long junk is quoted cut at 64 characters, control characters shown as '?' */
    char junk[200];
    memset(junk, 'x', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    memcpy(junk, "20241001T123456\n", 16);
    char want[256];
    snprintf(want, sizeof want, "time \"20241001T123456?%.48s...\": unexpected text after the time",
             junk + 16);
    expect_bad(junk, want);
    sr_err err = {0};
    struct timespec t;
    assert_int_equal(sr_time_parse(NULL, &t, &err), SR_EINVAL);
    assert_string_equal(err.msg, "time: no text given");
}

static void lag_and_order(void **state)
{
    (void)state;
    struct timespec pub, now;
    assert_int_equal(sr_time_parse("20261124T192335.368511915", &pub, NULL), SR_OK);
    assert_int_equal(sr_time_parse("20261124T192512.581284761", &now, NULL), SR_OK);
    /* 97 s minus the borrowed fraction: 97.212772846 s */
    assert_true(fabs(sr_time_lag(&pub, &now) - 97.212772846) < 1e-9);
    assert_true(fabs(sr_time_lag(&now, &pub) + 97.212772846) < 1e-9);
    assert_true(sr_time_lag(&pub, &pub) == 0.0);
    assert_int_equal(sr_time_cmp(&pub, &now), -1);
    assert_int_equal(sr_time_cmp(&now, &pub), 1);
    assert_int_equal(sr_time_cmp(&pub, &pub), 0);
    struct timespec a = {.tv_sec = 5, .tv_nsec = 2}, b = {.tv_sec = 5, .tv_nsec = 1};
    assert_int_equal(sr_time_cmp(&a, &b), 1);
}

static void now_is_utc(void **state)
{
    (void)state;
    struct timespec now, back;
    time_t before = time(NULL);
    sr_time_now(&now);
    time_t after = time(NULL);
    assert_true(now.tv_sec >= before && now.tv_sec <= after);
    /* formatting is UTC whatever TZ says */
    setenv("TZ", "America/St_Johns", 1);
    tzset();
    char buf[SR_TIME_MAX];
    assert_true(sr_time_format(&now, true, buf, sizeof buf) >= 15);
    assert_int_equal(sr_time_parse(buf, &back, NULL), SR_OK);
    assert_int_equal(sr_time_cmp(&now, &back), 0);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char hour[3];
    snprintf(hour, sizeof hour, "%02d", tm.tm_hour);
    assert_memory_equal(buf + 9, hour, 2);
    unsetenv("TZ");
    tzset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_fraction), cmocka_unit_test(format_limits),
        cmocka_unit_test(parse_forms),     cmocka_unit_test(round_trip),
        cmocka_unit_test(parse_rejects),   cmocka_unit_test(lag_and_order),
        cmocka_unit_test(now_is_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
