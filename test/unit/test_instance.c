/* SPDX-License-Identifier: GPL-2.0-only */
/* test_instance: pid files, and telling our instances from any other process.
 *
 * The processes are real: the test binary re-executes itself named sr_subscribe (or
 * sr_sender) with `instance N CONFIG` at the end of its command line, as `sr start` runs a
 * component, and that child only waits to be killed. */
#include "unit.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"

typedef struct fixture {
    char dir[4096];
    sr_paths paths;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    test_tmp_template(f->dir, sizeof f->dir, "test_instance");
    assert_non_null(mkdtemp(f->dir));
    f->paths.state_dir = f->dir;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A child that looks like `sr_<component> instance N config`, with SR_STATE_DIR=state. */
static pid_t fake_instance(const char *component, const char *config, const char *state)
{
    char name[64], instance[] = "1";
    snprintf(name, sizeof name, "/opt/sr/bin/sr_%s", component);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("SR_STATE_DIR", state, 1);
        char *argv[] = {name, "--logLevel", "debug", "instance", instance, (char *)config, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    /* wait until the exec is done: until then the child's cmdline is ours */
    for (int i = 0; i < 200; i++) {
        char path[64], buf[256] = "";
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
        FILE *fp = fopen(path, "r");
        if (fp != NULL) {
            size_t n = fread(buf, 1, sizeof buf - 1, fp);
            buf[n] = '\0';
            fclose(fp);
        }
        if (strcmp(buf, name) == 0)
            return pid;
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    fail_msg("the fake instance did not start");
    return -1;
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void is_ours_checks_program_config_and_life(void **state)
{
    fixture *f = *state;
    pid_t pid = fake_instance("subscribe", "hpfx", f->dir);
    assert_true(sr_instance_is_ours(pid, "subscribe", "hpfx"));
    assert_false(sr_instance_is_ours(pid, "subscribe", "hpf"));
    assert_false(sr_instance_is_ours(pid, "subscribe", "other"));
    assert_false(sr_instance_is_ours(pid, "sender", "hpfx"));
    /* this test program is not an instance of anything */
    assert_false(sr_instance_is_ours(getpid(), "subscribe", "hpfx"));
    kill(pid, SIGKILL);
    /* a zombie (killed, not reaped yet) is not a live instance */
    for (int i = 0; i < 200 && sr_instance_is_ours(pid, "subscribe", "hpfx"); i++) {
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_false(sr_instance_is_ours(pid, "subscribe", "hpfx"));
    waitpid(pid, NULL, 0);
    assert_false(sr_instance_is_ours(pid, "subscribe", "hpfx"));
    assert_false(sr_instance_is_ours(0, "subscribe", "hpfx"));
}

static void scan_sorts_and_tells_running_from_dead(void **state)
{
    fixture *f = *state;
    sr_err err;
    sr_instance_info *infos = NULL;
    size_t n = 99;
    /* no state folder yet: no instance, no error */
    assert_int_equal(sr_instance_scan(&f->paths, "subscribe", "hpfx", &infos, &n, &err), SR_OK);
    assert_int_equal(n, 0);
    assert_null(infos);

    pid_t live = fake_instance("subscribe", "hpfx", f->dir);
    pid_t gone = fake_instance("subscribe", "hpfx", f->dir);
    kill_and_reap(gone);
    pid_t other = fake_instance("sender", "hpfx", f->dir); /* alive, but not this config's */
    assert_int_equal(sr_instance_write_pid(&f->paths, "subscribe", "hpfx", 3, other, &err), SR_OK);
    assert_int_equal(sr_instance_write_pid(&f->paths, "subscribe", "hpfx", 12, gone, &err), SR_OK);
    assert_int_equal(sr_instance_write_pid(&f->paths, "subscribe", "hpfx", 1, live, &err), SR_OK);

    char path[256];
    snprintf(path, sizeof path, "%s/subscribe/hpfx/i002.pid", f->dir);
    FILE *fp = fopen(path, "w");
    fputs("not a pid\n", fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/subscribe/hpfx/notes.txt", f->dir);
    fp = fopen(path, "w");
    fclose(fp);

    assert_int_equal(sr_instance_scan(&f->paths, "subscribe", "hpfx", &infos, &n, &err), SR_OK);
    assert_int_equal(n, 4);
    assert_int_equal(infos[0].instance, 1);
    assert_int_equal(infos[0].pid, live);
    assert_int_equal(infos[0].state, SR_INSTANCE_RUNNING);
    assert_int_equal(infos[1].instance, 2);
    assert_int_equal(infos[1].pid, 0);
    assert_int_equal(infos[1].state, SR_INSTANCE_DEAD);
    assert_int_equal(infos[2].instance, 3);
    assert_int_equal(infos[2].state, SR_INSTANCE_DEAD); /* a live pid of another program */
    assert_int_equal(infos[3].instance, 12);
    assert_int_equal(infos[3].pid, gone);
    assert_int_equal(infos[3].state, SR_INSTANCE_DEAD);
    free(infos);

    /* removing pid files: once, and again (already gone is fine) */
    assert_int_equal(sr_instance_remove_pid(&f->paths, "subscribe", "hpfx", 12, &err), SR_OK);
    assert_int_equal(sr_instance_remove_pid(&f->paths, "subscribe", "hpfx", 12, &err), SR_OK);
    assert_int_equal(sr_instance_scan(&f->paths, "subscribe", "hpfx", &infos, &n, &err), SR_OK);
    assert_int_equal(n, 3);
    free(infos);
    kill_and_reap(live);
    kill_and_reap(other);
}

static void pid_file_is_written_whole(void **state)
{
    fixture *f = *state;
    sr_err err;
    assert_int_equal(sr_instance_write_pid(&f->paths, "watch", "hot", 1, 4242, &err), SR_OK);
    char path[256], buf[64] = "";
    snprintf(path, sizeof path, "%s/watch/hot/i001.pid", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "4242\n");
    snprintf(path, sizeof path, "%s/watch/hot/i001.pid.tmp", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);

    /* a state folder that cannot be made is an error naming it */
    sr_paths bad = {.state_dir = "/proc/nope"};
    assert_int_not_equal(sr_instance_write_pid(&bad, "watch", "hot", 1, 4242, &err), SR_OK);
    assert_non_null(strstr(err.msg, "/proc/nope"));
}

static void disabled_marker(void **state)
{
    fixture *f = *state;
    assert_false(sr_instance_disabled(&f->paths, "sender", "out"));
    char *path = sr_instance_disabled_file(&f->paths, "sender", "out");
    char expect[256];
    snprintf(expect, sizeof expect, "%s/sender/out/disabled", f->dir);
    assert_string_equal(path, expect);
    sr_err err;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/sender/out", f->dir);
    assert_int_equal(sr_mkdir_p(dir, 0700, &err), SR_OK);
    FILE *fp = fopen(path, "w");
    fclose(fp);
    assert_true(sr_instance_disabled(&f->paths, "sender", "out"));
    free(path);
}

static void processes_of_this_state_folder_only(void **state)
{
    fixture *f = *state;
    sr_err err;
    pid_t mine = fake_instance("sender", "to_hpfx", f->dir);
    pid_t elsewhere = fake_instance("sender", "to_hpfx", "/tmp/another-tree");
    sr_instance_process *procs = NULL;
    size_t n = 0;
    assert_int_equal(sr_instance_processes(&f->paths, &procs, &n, &err), SR_OK);
    bool found_mine = false;
    for (size_t i = 0; i < n; i++) {
        assert_int_not_equal(procs[i].pid, elsewhere);
        if (procs[i].pid == mine) {
            found_mine = true;
            assert_string_equal(procs[i].component, "sender");
            assert_string_equal(procs[i].config, "to_hpfx");
            assert_int_equal(procs[i].instance, 1);
            assert_true(procs[i].age >= 0 && procs[i].age < 60);
        }
    }
    assert_true(found_mine);
    free(procs);
    kill_and_reap(mine);
    kill_and_reap(elsewhere);
}

int main(int argc, char **argv)
{
    /* re-executed as a fake instance: wait to be killed */
    if (argc >= 4 && strcmp(argv[argc - 3], "instance") == 0) {
        for (;;)
            pause();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(is_ours_checks_program_config_and_life, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_sorts_and_tells_running_from_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(pid_file_is_written_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(disabled_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(processes_of_this_state_folder_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
