/* SPDX-License-Identifier: GPL-2.0-only */
/* test_log: the lines an operator greps, text from outside escaped in them (each class of
 * byte), rotation by period, reopen after logrotate. */
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
                        "2026-11-25 03:04:05,123 [ERROR] subscribe/hpfx_01 two\\nlines\\r\\nbecome "
                        "one\n"
                        "2026-11-25 03:04:05,123 [DEBUG] subscribe/hpfx_01 now shown\n");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* A flow's pass holds its lines and writes them together: nothing reaches the file
 * until the flush, except a warning, which is written at once after what was held, in
 * order; after release each line is written as it comes; close writes what is held. */
static void held_lines_are_written_together_and_in_order(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/held.log", dir);
    sr_log_options o = {.path = path, .ident = "shovel/a_01", .level = SR_LOG_INFO, .now = fake_now};
    sr_err err;
    sr_log *log = sr_log_open(&o, &err);
    assert_non_null(log);
    sr_log_hold(log);
    sr_log_write(log, SR_LOG_INFO, "one");
    sr_log_write(log, SR_LOG_INFO, "two");
    char *text = slurp(path);
    assert_string_equal(text, "");
    free(text);
    sr_log_write(log, SR_LOG_WARNING, "three");
    text = slurp(path);
    assert_int_equal(count_lines(text), 3);
    assert_true(strstr(text, "one") < strstr(text, "two") && strstr(text, "two") < strstr(text, "three"));
    free(text);
    sr_log_write(log, SR_LOG_INFO, "four");
    sr_log_flush(log);
    text = slurp(path);
    assert_int_equal(count_lines(text), 4);
    free(text);
    sr_log_release(log);
    sr_log_write(log, SR_LOG_INFO, "five");
    text = slurp(path);
    assert_int_equal(count_lines(text), 5);
    free(text);
    sr_log_hold(log);
    sr_log_write(log, SR_LOG_INFO, "six");
    sr_log_close(log);
    text = slurp(path);
    assert_int_equal(count_lines(text), 6);
    assert_non_null(strstr(text, "shovel/a_01 six\n"));
    free(text);
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

/* ---- escaping: one class of bytes at a time ---- */

static const char *esc(const char *text, size_t len)
{
    static char out[1024];
    bool cut = true;
    size_t n = sr_log_escape(text, len, out, sizeof out, &cut);
    assert_false(cut);
    assert_int_equal(strlen(out), n);
    return out;
}
#define ESC(literal) esc(literal, sizeof literal - 1)

static void escapes_c0_controls_del_and_backslash(void **state)
{
    (void)state;
    assert_string_equal(ESC("a\nb\rc\td"), "a\\nb\\rc\\td");
    assert_string_equal(ESC("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
    assert_string_equal(ESC("\x01\x07\x08\x0b\x0c\x1f"), "\\x01\\x07\\x08\\x0b\\x0c\\x1f");
    assert_string_equal(ESC("nul\0here"), "nul\\x00here");
    assert_string_equal(ESC("del\x7f"), "del\\x7f");
    /* a backslash doubles, so "\\n" in a line is always an escape, never the text */
    assert_string_equal(ESC("C:\\dir\\n"), "C:\\\\dir\\\\n");
    assert_string_equal(ESC(" ~plain ASCII!"), " ~plain ASCII!");
}

static void escapes_c1_controls_and_hidden_formatting(void **state)
{
    (void)state;
    /* U+009B (CSI, a terminal's escape in one character) and U+0080, U+009F */
    assert_string_equal(ESC("\xc2\x9b"
                            "31m"),
                        "\\xc2\\x9b"
                        "31m");
    assert_string_equal(ESC("\xc2\x80\xc2\x9f"), "\\xc2\\x80\\xc2\\x9f");
    /* U+00A0 is the first character past C1: kept */
    assert_string_equal(ESC("\xc2\xa0"), "\xc2\xa0");
    /* U+202E turns the rest of a line around on screen; U+2028 breaks it in some viewers */
    assert_string_equal(ESC("a\xe2\x80\xaetxt.exe"), "a\\xe2\\x80\\xaetxt.exe");
    assert_string_equal(ESC("\xe2\x80\xa8\xe2\x80\xa9"), "\\xe2\\x80\\xa8\\xe2\\x80\\xa9");
    assert_string_equal(ESC("\xe2\x81\xa6\xd8\x9c\xe2\x80\x8f"),
                        "\\xe2\\x81\\xa6\\xd8\\x9c\\xe2\\x80\\x8f");
    /* neighbours that are ordinary text: U+2027, U+2030 (per mille), U+2065 */
    assert_string_equal(ESC("\xe2\x80\xa7\xe2\x80\xb0"), "\xe2\x80\xa7\xe2\x80\xb0");
}

static void escapes_invalid_utf8_byte_by_byte(void **state)
{
    (void)state;
    assert_string_equal(ESC("\xff\xfe"), "\\xff\\xfe");
    assert_string_equal(ESC("\x80x"), "\\x80x");                          /* stray continuation */
    assert_string_equal(ESC("\xc0\xaf"), "\\xc0\\xaf");                   /* overlong '/' */
    assert_string_equal(ESC("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");          /* overlong, 3 bytes */
    assert_string_equal(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");          /* a surrogate */
    assert_string_equal(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
    assert_string_equal(ESC("caf\xe9!"), "caf\\xe9!");                    /* Latin-1, not UTF-8 */
    assert_string_equal(ESC("\xe2\x82"), "\\xe2\\x82");                   /* cut short at the end */
    assert_string_equal(ESC("\xe2\x82x"), "\\xe2\\x82x"); /* cut short before ASCII */
}

static void keeps_valid_utf8(void **state)
{
    (void)state;
    assert_string_equal(ESC("été à Montréal"), "été à Montréal");
    assert_string_equal(ESC("日本語 данные"), "日本語 данные");
    assert_string_equal(ESC("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80"); /* 4 bytes */
    assert_string_equal(ESC("\xef\xbf\xbd"), "\xef\xbf\xbd");         /* U+FFFD */
}

/* A short buffer takes whole escapes and characters only, and says it cut. */
static void escaping_cuts_between_characters(void **state)
{
    (void)state;
    char out[8];
    bool cut = false;
    assert_int_equal(sr_log_escape("ab\x1b", 3, out, 5, &cut), 2);
    assert_string_equal(out, "ab");
    assert_true(cut);
    assert_int_equal(sr_log_escape("a\xc3\xa9", 3, out, 3, &cut), 1);
    assert_string_equal(out, "a");
    assert_true(cut);
    assert_int_equal(sr_log_escape("a\xc3\xa9", 3, out, 4, &cut), 3);
    assert_false(cut);
    assert_int_equal(sr_log_escape("x", 1, out, 0, &cut), 0);
    assert_true(cut);
}

/* Through the log: a forged line, a terminal escape, an ident, a message of escapes past
 * the line's length: one line each, nothing raw. */
static void log_lines_hold_no_raw_controls(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/hostile.log", dir);
    sr_log_options o = {
        .path = path, .ident = "sub\x1b]0;x\x07/1", .level = SR_LOG_INFO, .now = fake_now};
    sr_log *log = sr_log_open(&o, NULL);
    assert_non_null(log);
    sr_log_write(log, SR_LOG_WARNING, "server said: %s",
                 "ok\n2026-11-25 00:00:00,000 [INFO] forged\x1b[2K\xc2\x9b\xff");
    char *big = malloc(6000);
    assert_non_null(big);
    memset(big, '\x1b', 5999);
    big[5999] = '\0';
    sr_log_write(log, SR_LOG_ERROR, "%s", big);
    free(big);
    sr_log_close(log);
    char *text = slurp(path);
    assert_int_equal(count_lines(text), 2);
    const char *first_end = strchr(text, '\n');
    assert_memory_equal(text,
                        "2026-11-25 00:00:00,123 [WARNING] sub\\x1b]0;x\\x07/1 server said: "
                        "ok\\n2026-11-25 00:00:00,000 [INFO] forged\\x1b[2K\\xc2\\x9b\\xff\n",
                        (size_t)(first_end - text + 1));
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    size_t len = strlen(text);
    assert_true(len < 2 * 8192);
    assert_memory_equal(text + len - 4, "...\n", 4);
    assert_memory_equal(text + len - 8, "\\x1b", 4); /* cut after a whole escape */
    free(text);
}

static void stderr_lines_are_escaped(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    sr_log_stderr("sr declare: %s: %s", "amqp://h/", "403\r\nACCESS_REFUSED\x1b[8m");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char *text = slurp(path);
    assert_string_equal(text, "sr declare: amqp://h/: 403\\r\\nACCESS_REFUSED\\x1b[8m\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(levels),
        cmocka_unit_test_setup_teardown(line_format_and_threshold, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(held_lines_are_written_together_and_in_order, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(long_message_is_cut_not_overrun, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(daily_rotation_keeps_count, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(restart_after_the_period_rotates_old_file, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(reopen_follows_logrotate, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(unwritable_folder_is_an_error_naming_it, make_dir,
                                        remove_dir),
        cmocka_unit_test(escapes_c0_controls_del_and_backslash),
        cmocka_unit_test(escapes_c1_controls_and_hidden_formatting),
        cmocka_unit_test(escapes_invalid_utf8_byte_by_byte),
        cmocka_unit_test(keeps_valid_utf8),
        cmocka_unit_test(escaping_cuts_between_characters),
        cmocka_unit_test_setup_teardown(log_lines_hold_no_raw_controls, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(stderr_lines_are_escaped, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
