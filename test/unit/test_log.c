/* test_log: the lines an operator greps, rotation by period, reopen after logrotate. */
#include "unit.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* The test clock: seconds since the epoch, moved by the tests. */
static time_t fake_seconds;
static void fake_now(struct timespec *ts)
{
    ts->tv_sec = fake_seconds;
    ts->tv_nsec = 123456789;
}

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sr-test-log-XXXXXX");
    assert_non_null(mkdtemp(dir));
    setenv("TZ", "UTC", 1);
    tzset();
    fake_seconds = 1795564800; /* 2026-11-25 00:00:00 UTC */
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void levels(void **state)
{
    (void)state;
    enum sr_level l;
    assert_int_equal(sr_level_from_name("debug", &l), 0);
    assert_int_equal(l, SR_LOG_DEBUG);
    assert_int_equal(sr_level_from_name("WARNING", &l), 0);
    assert_int_equal(l, SR_LOG_WARNING);
    assert_int_equal(sr_level_from_name("warn", &l), 0);
    assert_int_equal(l, SR_LOG_WARNING);
    assert_int_equal(sr_level_from_name("Critical", &l), 0);
    assert_int_equal(l, SR_LOG_CRITICAL);
    assert_int_equal(sr_level_from_name("none", &l), 0);
    assert_int_equal(l, SR_LOG_NONE);
    assert_int_equal(sr_level_from_name("verbose", &l), -1);
    assert_string_equal(sr_level_name(SR_LOG_ERROR), "ERROR");
}

static void line_format_and_threshold(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/log/subscribe_hpfx_01.log", dir); /* folder made on open */
    sr_log_options o = {
        .path = path, .ident = "subscribe/hpfx_01", .level = SR_LOG_INFO, .now = fake_now};
    sr_err err;
    sr_log *log = sr_log_open(&o, &err);
    assert_non_null(log);
    fake_seconds += 3 * 3600 + 4 * 60 + 5;
    sr_log_write(log, SR_LOG_DEBUG, "not shown %d", 1);
    sr_log_write(log, SR_LOG_INFO, "downloaded %s (%d bytes)", "a/b.txt", 42);
    sr_log_write(log, SR_LOG_ERROR, "two\nlines\r\nbecome one");
    sr_log_set_level(log, SR_LOG_DEBUG);
    sr_log_write(log, SR_LOG_DEBUG, "now shown");
    sr_log_set_level(log, SR_LOG_NONE);
    sr_log_write(log, SR_LOG_CRITICAL, "nothing at none");
    assert_int_equal(sr_log_failures(log), 0);
    sr_log_close(log);

    char *text = slurp(path);
    assert_string_equal(text,
                        "2026-11-25 03:04:05,123 [INFO] subscribe/hpfx_01 downloaded a/b.txt "
                        "(42 bytes)\n"
                        "2026-11-25 03:04:05,123 [ERROR] subscribe/hpfx_01 two lines  become one\n"
                        "2026-11-25 03:04:05,123 [DEBUG] subscribe/hpfx_01 now shown\n");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void long_message_is_cut_not_overrun(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/long.log", dir);
    sr_log_options o = {.path = path, .level = SR_LOG_INFO, .now = fake_now, .perm = 0640};
    sr_log *log = sr_log_open(&o, NULL);
    assert_non_null(log);
    char *big = malloc(20000);
    memset(big, 'x', 19999);
    big[19999] = '\0';
    sr_log_write(log, SR_LOG_WARNING, "%s", big);
    free(big);
    sr_log_close(log);
    char *text = slurp(path);
    assert_int_equal(count_lines(text), 1);
    size_t len = strlen(text);
    assert_true(len < 9000);
    assert_memory_equal(text + len - 4, "...\n", 4);
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static size_t rotated(const char *path, char names[][256], size_t max)
{
    char pattern[256];
    snprintf(pattern, sizeof pattern, "%s.*", path);
    glob_t g;
    size_t n = 0;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (; n < g.gl_pathc && n < max; n++)
            snprintf(names[n], 256, "%s", g.gl_pathv[n]);
        globfree(&g);
    }
    return n;
}

static void daily_rotation_keeps_count(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/sender_tocluster_02.log", dir);
    sr_log_options o = {.path = path,
                        .level = SR_LOG_INFO,
                        .rotate_interval = 86400,
                        .rotate_count = 2,
                        .now = fake_now};
    sr_log *log = sr_log_open(&o, NULL);
    assert_non_null(log);
    fake_seconds += 3600;
    sr_log_write(log, SR_LOG_INFO, "day 1");
    for (int day = 2; day <= 5; day++) {
        fake_seconds += 86400;
        sr_log_write(log, SR_LOG_INFO, "day %d", day);
    }
    sr_log_close(log);

    char names[8][256];
    size_t n = rotated(path, names, 8);
    assert_int_equal(n, 2); /* days 3 and 4 kept; 1 and 2 pruned */
    char want[256];
    snprintf(want, sizeof want, "%s.2026-11-27", path);
    assert_string_equal(names[0], want);
    snprintf(want, sizeof want, "%s.2026-11-28", path);
    assert_string_equal(names[1], want);
    char *text = slurp(names[1]);
    assert_non_null(strstr(text, "day 4"));
    free(text);
    text = slurp(path);
    assert_int_equal(count_lines(text), 1);
    assert_non_null(strstr(text, "day 5"));
    free(text);
}

static void restart_after_the_period_rotates_old_file(void **state)
{
    (void)state;
    /* Yesterday's file, left by an earlier run, is rotated by the first line of today. */
    char path[128];
    snprintf(path, sizeof path, "%s/watch_hot_01.log", dir);
    sr_log_options o = {.path = path,
                        .level = SR_LOG_INFO,
                        .rotate_interval = 3600,
                        .rotate_count = 5,
                        .now = fake_now};
    sr_log *log = sr_log_open(&o, NULL);
    sr_log_write(log, SR_LOG_INFO, "before");
    sr_log_close(log);
    struct timespec times[2] = {{.tv_sec = fake_seconds}, {.tv_sec = fake_seconds}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);

    fake_seconds += 2 * 3600 + 30;
    log = sr_log_open(&o, NULL);
    sr_log_write(log, SR_LOG_INFO, "after");
    sr_log_close(log);
    char names[4][256];
    assert_int_equal(rotated(path, names, 4), 1);
    char want[256];
    snprintf(want, sizeof want, "%s.2026-11-25_00-00-00", path);
    assert_string_equal(names[0], want);
    char *text = slurp(path);
    assert_null(strstr(text, "before"));
    free(text);
}

static void reopen_follows_logrotate(void **state)
{
    (void)state;
    char path[128], moved[160];
    snprintf(path, sizeof path, "%s/shovel_a2m_01.log", dir);
    snprintf(moved, sizeof moved, "%s.1", path);
    sr_log_options o = {.path = path, .level = SR_LOG_INFO, .now = fake_now};
    sr_err err;
    sr_log *log = sr_log_open(&o, &err);
    sr_log_write(log, SR_LOG_INFO, "first");
    assert_int_equal(rename(path, moved), 0);
    sr_log_write(log, SR_LOG_INFO, "second"); /* still the old file */
    assert_int_equal(sr_log_reopen(log, &err), SR_OK);
    sr_log_write(log, SR_LOG_INFO, "third");
    sr_log_close(log);
    char *old = slurp(moved), *now = slurp(path);
    assert_int_equal(count_lines(old), 2);
    assert_int_equal(count_lines(now), 1);
    assert_non_null(strstr(now, "third"));
    free(old);
    free(now);
}

static void unwritable_folder_is_an_error_naming_it(void **state)
{
    (void)state;
    char blocker[128], path[192];
    snprintf(blocker, sizeof blocker, "%s/not_a_dir", dir);
    FILE *f = fopen(blocker, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sub/x.log", blocker);
    sr_log_options o = {.path = path, .level = SR_LOG_INFO};
    sr_err err;
    assert_null(sr_log_open(&o, &err));
    assert_non_null(strstr(err.msg, blocker));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(levels),
        cmocka_unit_test_setup_teardown(line_format_and_threshold, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(long_message_is_cut_not_overrun, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(daily_rotation_keeps_count, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(restart_after_the_period_rotates_old_file, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(reopen_follows_logrotate, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(unwritable_folder_is_an_error_naming_it, make_dir,
                                        remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
