/* SPDX-License-Identifier: GPL-2.0-only */
/* test_trigger: the trigger command runs with the message in its environment, in its own
 * process group, without sr's descriptors, its output logged and escaped; past its timeout
 * it is killed with everything it started in that group (a background job, a pipeline),
 * and sr never waits for what a trigger leaves behind, even one that goes on writing.
 * Conditions are awaited with a deadline: the machine may be busy. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "message.h"
#include "timefmt.h"
#include "trigger.h"

/* Generous: a deadline only matters when something is wrong. */
#define DEADLINE 20.0

static char dir[256];
static sr_message *msg;
static const sr_trigger_context ctx = {"subscribe", "test", "/tmp/x/a/b.txt", NULL};

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(test_tmp_template(dir, sizeof dir, "sr-test-trigger")));
    sr_err err;
    assert_int_equal(sr_message_new("20261125T101010", "https://e/", "a/b.txt", &msg, &err), SR_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sr_message_free(msg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void nap(void)
{
    struct timespec t = {0, 10000000};
    nanosleep(&t, NULL);
}

/* The pid a command wrote to dir/name, waiting for it to be there. */
static pid_t read_pid(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (double end = sr_time_mono_s() + DEADLINE; sr_time_mono_s() < end; nap()) {
        FILE *f = fopen(path, "r");
        long pid = 0;
        int got = f ? fscanf(f, "%ld", &pid) : 0;
        if (f)
            fclose(f);
        if (got == 1 && pid > 1)
            return (pid_t)pid;
    }
    fail_msg("no pid in %s", path);
    return -1;
}

/* No such process, or a zombie (killed, not yet reaped by whoever adopted it). */
static bool gone(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], stat[512] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ..." */
    return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

static bool gone_within(pid_t pid, double seconds)
{
    for (double end = sr_time_mono_s() + seconds; sr_time_mono_s() < end; nap())
        if (gone(pid))
            return true;
    return gone(pid);
}

static int run(const char *command, double timeout, sr_err *err)
{
    return sr_trigger_run(command, msg, &ctx, timeout, err);
}

static void exit_status_and_environment(void **state)
{
    (void)state;
    char command[600];
    snprintf(command, sizeof command,
             "echo \"$SR_RELPATH|$SR_LOCALPATH|$SR_COMPONENT|$SR_CONFIG\" > %s/env", dir);
    sr_err err;
    assert_int_equal(run(command, 10, &err), SR_OK);
    char path[300], line[256] = "";
    snprintf(path, sizeof path, "%s/env", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "a/b.txt|/tmp/x/a/b.txt|subscribe|test\n");

    assert_int_equal(run("exit 3", 10, &err), SR_EIO);
    assert_string_equal(err.msg, "trigger \"exit 3\" exited with 3");
    assert_int_equal(run("kill -TERM $$", 10, &err), SR_EIO);
    assert_string_equal(err.msg, "trigger \"kill -TERM $$\" was killed by signal 15");
}

/* The acceptance case: the command starts a background grandchild that records its pid
 * and sleeps; the shell waits for it and so runs past the timeout. The grandchild must go
 * with the shell. */
static void timeout_kills_the_background_grandchild(void **state)
{
    (void)state;
    char command[600];
    snprintf(command, sizeof command, "sleep 100 & echo $! > %s/grandchild; wait", dir);
    sr_err err;
    double start = sr_time_mono_s();
    assert_int_equal(run(command, 2, &err), SR_EIO);
    pid_t grandchild = read_pid("grandchild");
    bool ok = gone_within(grandchild, DEADLINE);
    if (!ok)
        kill(grandchild, SIGKILL); /* leave nothing behind, then fail */
    assert_true(ok);
    assert_true(sr_time_mono_s() - start < DEADLINE);
    assert_non_null(strstr(err.msg, "ran past 2 s: killed with its process group"));
}

/* A pipeline's members are the shell's children in its group: all killed. */
static void timeout_kills_a_pipeline(void **state)
{
    (void)state;
    char command[600];
    snprintf(command, sizeof command,
             "sh -c 'echo $$ > %s/first; exec sleep 100' | sh -c 'echo $$ > %s/second; exec "
             "sleep 100'",
             dir, dir);
    sr_err err;
    assert_int_equal(run(command, 2, &err), SR_EIO);
    pid_t first = read_pid("first"), second = read_pid("second");
    bool ok = gone_within(first, DEADLINE) && gone_within(second, DEADLINE);
    if (!ok) {
        kill(first, SIGKILL);
        kill(second, SIGKILL);
    }
    assert_true(ok);
}

/* A trigger that exits in time is done: sr does not wait for what it left running. */
static void a_stray_left_behind_does_not_keep_sr_waiting(void **state)
{
    (void)state;
    char command[600];
    snprintf(command, sizeof command, "sleep 100 & echo $! > %s/stray", dir);
    sr_err err;
    double start = sr_time_mono_s();
    assert_int_equal(run(command, 60, &err), SR_OK);
    assert_true(sr_time_mono_s() - start < DEADLINE);
    pid_t stray = read_pid("stray");
    assert_false(gone(stray)); /* documented: neither waited for nor killed */
    kill(stray, SIGKILL);
    assert_true(gone_within(stray, DEADLINE));
}

/* Its own process group; none of sr's descriptors; SIGPIPE not ignored as sr ignores it. */
static void runs_in_its_own_group_without_our_descriptors(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/held", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600); /* no O_CLOEXEC: as a library might */
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 42), 42);
    close(fd);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    sr_err err;
    int rc = run("test -e /proc/$$/fd/42 && exit 7; "
                 "read -r _ _ _ _ pgrp _ < /proc/$$/stat; [ \"$pgrp\" = $$ ] || exit 8; "
                 "m=$(awk '/^SigIgn/ {print $2}' /proc/$$/status); "
                 "[ $((0x$m & 0x1000)) -eq 0 ] || exit 9",
                 10, &err);
    signal(SIGPIPE, old);
    close(42);
    if (rc != SR_OK)
        fail_msg("%s", err.msg);
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

/* Run command with its output logged to dir/trigger.log; returns the log's text. */
static char *run_logged(const char *command, double timeout, int *rc, sr_err *err)
{
    char path[300];
    snprintf(path, sizeof path, "%s/trigger.log", dir);
    sr_log_options o = {.path = path, .ident = "subscribe/test_01", .level = SR_LOG_INFO};
    sr_log *log = sr_log_open(&o, err);
    assert_non_null(log);
    sr_trigger_context logged = ctx;
    logged.log = log;
    *rc = sr_trigger_run(command, msg, &logged, timeout, err);
    sr_log_close(log);
    return slurp(path);
}

/* Its output is logged, a line per line, escaped: a file's content it prints cannot forge
 * a log line or reach the operator's terminal raw. */
static void output_is_logged_escaped(void **state)
{
    (void)state;
    sr_err err;
    int rc;
    char *text = run_logged("printf 'one\\ntwo\\033[31m\\r\\nforged\\n'; echo err >&2; "
                            "printf 'no newline'",
                            10, &rc, &err);
    assert_int_equal(rc, SR_OK);
    assert_non_null(strstr(text, " subscribe/test_01 a/b.txt: trigger: one\n"));
    assert_non_null(strstr(text, " a/b.txt: trigger: two\\x1b[31m\\r\n"));
    assert_non_null(strstr(text, " a/b.txt: trigger: forged\n"));
    assert_non_null(strstr(text, " a/b.txt: trigger: err\n"));
    assert_non_null(strstr(text, " a/b.txt: trigger: no newline\n"));
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    free(text);
}

/* A stray that goes on writing after the shell exited: sr reads a bounded amount, closes
 * the pipe and returns; the stray then meets a closed pipe and dies of it. */
static void a_stray_that_keeps_writing_does_not_keep_sr_reading(void **state)
{
    (void)state;
    char command[600];
    snprintf(command, sizeof command, "yes & echo $! > %s/yes; echo started", dir);
    sr_err err;
    int rc;
    double start = sr_time_mono_s();
    char *text = run_logged(command, 60, &rc, &err);
    assert_int_equal(rc, SR_OK);
    assert_true(sr_time_mono_s() - start < DEADLINE);
    assert_non_null(strstr(text, "a/b.txt: trigger: started\n"));
    free(text);
    pid_t yes = read_pid("yes");
    bool ok = gone_within(yes, DEADLINE);
    if (!ok)
        kill(yes, SIGKILL);
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exit_status_and_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_kills_the_background_grandchild, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_kills_a_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stray_left_behind_does_not_keep_sr_waiting, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(runs_in_its_own_group_without_our_descriptors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(output_is_logged_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stray_that_keeps_writing_does_not_keep_sr_reading, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
