/* SPDX-License-Identifier: GPL-2.0-only */
/* test_schedule: when a poll lists (schedule.h, sr3's scheduled_interval, scheduled_hour,
 * scheduled_minute and scheduled_time): intervals, appointments across midnight and across
 * days, the default, the values refused, and the schedule in words. */
#include "unit.h"

#include <math.h>
#include <time.h>

#include "schedule.h"

/* Seconds since the epoch of a UTC date and time. */
static double utc(int year, int month, int day, int hour, int minute, double second)
{
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute};
    return (double)timegm(&tm) + second;
}

/* A list of the given items (NULL-terminated); NULL: an empty list. */
static sr_strlist list_of(const char *const *items)
{
    sr_strlist l = {0};
    for (size_t i = 0; items != NULL && items[i] != NULL; i++)
        assert_int_equal(sr_strlist_push(&l, items[i]), 0);
    return l;
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static sr_schedule make(double interval, const char *const *hours, const char *const *minutes,
                        const char *const *times)
{
    sr_strlist h = list_of(hours), m = list_of(minutes), t = list_of(times);
    sr_schedule s;
    sr_err err = {0};
    if (sr_schedule_init(&s, interval, &h, &m, &t, &err) != SR_OK)
        fail_msg("sr_schedule_init: %s", err.msg);
    sr_strlist_clear(&h);
    sr_strlist_clear(&m);
    sr_strlist_clear(&t);
    return s;
}

static void expect_describe(const sr_schedule *s, const char *text)
{
    char buf[256];
    sr_schedule_describe(s, buf, sizeof buf);
    assert_string_equal(buf, text);
}

static void an_interval_counts_from_the_last_start(void **state)
{
    (void)state;
    sr_schedule s = make(90, NULL, NULL, NULL);
    double start = utc(2026, 12, 6, 10, 0, 12.5);
    assert_true(sr_schedule_first(&s, start) == start);
    assert_true(sr_schedule_next(&s, start) == start + 90);
    assert_true(sr_schedule_next(&s, start + 100) == start + 190);
    expect_describe(&s, "every 90 s");
    sr_schedule_fini(&s);
    /* the interval wins over appointments, as in sr3 */
    s = make(0.5, L("4"), L("33"), L("13:15"));
    assert_true(sr_schedule_first(&s, start) == start);
    assert_true(sr_schedule_next(&s, start) == start + 0.5);
    assert_int_equal(s.count, 0);
    expect_describe(&s, "every 0.5 s");
    sr_schedule_fini(&s);
}

static void hours_and_minutes_across_midnight_and_days(void **state)
{
    (void)state;
    /* one item with commas, or several items: the same */
    sr_schedule s = make(0, L("4,9"), L("33", "45"), NULL);
    assert_int_equal(s.count, 4);
    expect_describe(&s, "at 04:33, 04:45, 09:33, 09:45 UTC");
    double start = utc(2026, 12, 6, 3, 0, 0);
    assert_true(sr_schedule_first(&s, start) == utc(2026, 12, 6, 4, 33, 0));
    /* strictly after the last start: a run at 04:33 sharp is followed by 04:45 */
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 4, 33, 0)) == utc(2026, 12, 6, 4, 45, 0));
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 4, 33, 0.25)) == utc(2026, 12, 6, 4, 45, 0));
    /* a run that went on past an appointment skips it */
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 4, 45, 30)) == utc(2026, 12, 6, 9, 33, 0));
    /* after the last of the day: the first of the next */
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 9, 45, 0)) == utc(2026, 12, 7, 4, 33, 0));
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 23, 59, 59.9)) == utc(2026, 12, 7, 4, 33, 0));
    assert_true(sr_schedule_first(&s, utc(2026, 12, 6, 0, 0, 0)) == utc(2026, 12, 6, 4, 33, 0));
    /* across a month and a year */
    assert_true(sr_schedule_next(&s, utc(2026, 12, 31, 10, 0, 0)) == utc(2027, 1, 1, 4, 33, 0));
    assert_true(sr_schedule_next(&s, utc(2028, 2, 28, 22, 0, 0)) == utc(2028, 2, 29, 4, 33, 0));
    sr_schedule_fini(&s);

    /* hours alone: at minute 0; minutes alone: every hour; spaces as sr3's int() allows */
    s = make(0, L(" 7", "23 "), NULL, NULL);
    expect_describe(&s, "at 07:00, 23:00 UTC");
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 23, 0, 0)) == utc(2026, 12, 7, 7, 0, 0));
    sr_schedule_fini(&s);
    s = make(0, NULL, L("30"), NULL);
    assert_int_equal(s.count, 24);
    expect_describe(&s, "at 00:30, 01:30, 02:30, 03:30, 04:30, 05:30, 06:30, 07:30, ... UTC");
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 23, 30, 0)) == utc(2026, 12, 7, 0, 30, 0));
    sr_schedule_fini(&s);
    /* repeats count once */
    s = make(0, L("4,4"), L("0,00"), NULL);
    assert_int_equal(s.count, 1);
    sr_schedule_fini(&s);
}

static void scheduled_time(void **state)
{
    (void)state;
    sr_schedule s = make(0, NULL, NULL, L("13:15,04:00"));
    /* scheduled_time alone: those times only (sr3 adds hourly ones only with hour/minute) */
    assert_int_equal(s.count, 2);
    expect_describe(&s, "at 04:00, 13:15 UTC");
    assert_true(sr_schedule_first(&s, utc(2026, 12, 6, 12, 0, 0)) == utc(2026, 12, 6, 13, 15, 0));
    assert_true(sr_schedule_next(&s, utc(2026, 12, 6, 13, 15, 0)) == utc(2026, 12, 7, 4, 0, 0));
    assert_true(sr_schedule_next(&s, utc(2026, 12, 7, 3, 59, 59)) == utc(2026, 12, 7, 4, 0, 0));
    sr_schedule_fini(&s);
    /* with hours: both */
    s = make(0, L("1"), NULL, L("2:30", "7:5"));
    expect_describe(&s, "at 01:00, 02:30, 07:05 UTC");
    sr_schedule_fini(&s);
}

static void nothing_set_is_every_300_s_from_start(void **state)
{
    (void)state;
    sr_schedule s = make(0, NULL, NULL, NULL);
    double start = utc(2026, 12, 6, 10, 7, 3);
    assert_true(s.interval == SR_SCHEDULE_DEFAULT_INTERVAL);
    assert_true(sr_schedule_first(&s, start) == start);
    assert_true(sr_schedule_next(&s, start) == start + 300);
    expect_describe(&s, "every 300 s");
    sr_schedule_fini(&s);
    /* NULL lists are empty ones */
    sr_err err = {0};
    assert_int_equal(sr_schedule_init(&s, 0, NULL, NULL, NULL, &err), SR_OK);
    assert_true(s.interval == 300);
    sr_schedule_fini(&s);
}

static void expect_refused(const char *const *hours, const char *const *minutes,
                           const char *const *times, const char *option, const char *value)
{
    sr_strlist h = list_of(hours), m = list_of(minutes), t = list_of(times);
    sr_schedule s;
    sr_err err = {0};
    /* refused even with an interval that would not use it */
    for (double interval = 0; interval <= 60; interval += 60) {
        assert_int_equal(sr_schedule_init(&s, interval, &h, &m, &t, &err), SR_EINVAL);
        assert_non_null(strstr(err.msg, option));
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", value);
        if (strstr(err.msg, quoted) == NULL)
            fail_msg("%s: %s not named", err.msg, quoted);
        assert_null(s.minutes);
    }
    sr_strlist_clear(&h);
    sr_strlist_clear(&m);
    sr_strlist_clear(&t);
}

static void bad_values_are_refused_by_name(void **state)
{
    (void)state;
    expect_refused(L("25"), NULL, NULL, "scheduled_hour", "25");
    expect_refused(L("4,x"), NULL, NULL, "scheduled_hour", "x");
    expect_refused(L("-1"), NULL, NULL, "scheduled_hour", "-1");
    expect_refused(L("4,,9"), NULL, NULL, "scheduled_hour", "");
    expect_refused(NULL, L("60"), NULL, "scheduled_minute", "60");
    expect_refused(NULL, L("1.5"), NULL, "scheduled_minute", "1.5");
    expect_refused(NULL, NULL, L("7:61"), "scheduled_time", "7:61");
    expect_refused(NULL, NULL, L("04:00,24:00"), "scheduled_time", "24:00");
    expect_refused(NULL, NULL, L("7"), "scheduled_time", "7");
    expect_refused(NULL, NULL, L("7:00:00"), "scheduled_time", "7:00:00");
    sr_schedule s;
    sr_err err = {0};
    assert_int_equal(sr_schedule_init(&s, INFINITY, NULL, NULL, NULL, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "scheduled_interval"));
}

static void describe_fits_any_buffer(void **state)
{
    (void)state;
    sr_schedule s = make(0, NULL, L("0,15,30,45"), NULL);
    char small[12];
    sr_schedule_describe(&s, small, sizeof small);
    assert_string_equal(small, "at 00:00, 0");
    sr_schedule_describe(&s, small, 1);
    assert_string_equal(small, "");
    sr_schedule_fini(&s);
    sr_schedule_fini(&s); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_interval_counts_from_the_last_start),
        cmocka_unit_test(hours_and_minutes_across_midnight_and_days),
        cmocka_unit_test(scheduled_time),
        cmocka_unit_test(nothing_set_is_every_300_s_from_start),
        cmocka_unit_test(bad_values_are_refused_by_name),
        cmocka_unit_test(describe_fits_any_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
