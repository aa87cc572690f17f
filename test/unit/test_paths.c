/* SPDX-License-Identifier: GPL-2.0-only */
/* test_paths: where sr looks for configs and keeps state, as the environment says. */
#include "unit.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

static const char *const vars[] = {"SR_CONFIG_DIR", "SR_STATE_DIR", "SR_CONFD",
                                   "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HOME"};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv("HOME", "/home/ops", 1);
    return 0;
}

static void home_defaults(void **state)
{
    (void)state;
    sr_paths p;
    sr_err err;
    setenv("SR_CONFD", "/opt/sr/conf.d", 1);
    assert_int_equal(sr_paths_init(&p, false, &err), SR_OK);
    assert_string_equal(p.config_dir, "/home/ops/.config/sr");
    assert_string_equal(p.state_dir, "/home/ops/.cache/sr");
    assert_string_equal(p.log_dir, "/home/ops/.cache/sr/log");
    assert_string_equal(p.metrics_dir, "/home/ops/.cache/sr/metrics");
    assert_string_equal(p.confd_dir, "/opt/sr/conf.d");

    char *f = sr_paths_config_file(&p, "subscribe", "hpfx");
    assert_string_equal(f, "/home/ops/.config/sr/subscribe/hpfx.conf");
    free(f);
    f = sr_paths_instance_dir(&p, "sender", "tocluster");
    assert_string_equal(f, "/home/ops/.cache/sr/sender/tocluster");
    free(f);
    f = sr_paths_log_file(&p, "sender", "tocluster", 3);
    assert_string_equal(f, "/home/ops/.cache/sr/log/sender_tocluster_03.log");
    free(f);
    f = sr_paths_pid_file(&p, "sender", "tocluster", 12);
    assert_string_equal(f, "/home/ops/.cache/sr/sender/tocluster/i012.pid");
    free(f);
    f = sr_paths_metrics_file(&p, "watch", "hot", 1);
    assert_string_equal(f, "/home/ops/.cache/sr/metrics/watch_hot_01.json");
    free(f);
    sr_paths_fini(&p);
}

static void xdg_then_overrides(void **state)
{
    (void)state;
    sr_paths p;
    sr_err err;
    setenv("SR_CONFD", "/c", 1);
    setenv("XDG_CONFIG_HOME", "/x/config", 1);
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    assert_int_equal(sr_paths_init(&p, false, &err), SR_OK);
    assert_string_equal(p.config_dir, "/x/config/sr");
    assert_string_equal(p.state_dir, "/x/cache/sr");
    sr_paths_fini(&p);

    setenv("SR_CONFIG_DIR", "/etc/sr-ops", 1);
    setenv("SR_STATE_DIR", "/var/lib/sr-ops", 1);
    assert_int_equal(sr_paths_init(&p, false, &err), SR_OK);
    assert_string_equal(p.config_dir, "/etc/sr-ops");
    assert_string_equal(p.state_dir, "/var/lib/sr-ops");
    assert_string_equal(p.log_dir, "/var/lib/sr-ops/log");
    sr_paths_fini(&p);

    /* XDG: set but empty is the same as unset. */
    unsetenv("SR_CONFIG_DIR");
    setenv("XDG_CONFIG_HOME", "", 1);
    assert_int_equal(sr_paths_init(&p, false, &err), SR_OK);
    assert_string_equal(p.config_dir, "/home/ops/.config/sr");
    sr_paths_fini(&p);
}

static void statehost_adds_short_hostname(void **state)
{
    (void)state;
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    host[strcspn(host, ".")] = '\0';
    char want[512];
    snprintf(want, sizeof want, "/home/ops/.cache/sr/%s", host);
    setenv("SR_CONFD", "/c", 1);
    sr_paths p;
    sr_err err;
    assert_int_equal(sr_paths_init(&p, true, &err), SR_OK);
    assert_string_equal(p.state_dir, want);
    strcat(want, "/log");
    assert_string_equal(p.log_dir, want);
    /* configs are not per host */
    assert_string_equal(p.config_dir, "/home/ops/.config/sr");
    sr_paths_fini(&p);
}

static void confd_beside_the_binary(void **state)
{
    (void)state;
    /* With neither SR_CONFD nor an installed conf.d, the folder next to the executable
     * (<bin>/../share/sr/conf.d) is used, as in the build tree. */
    sr_paths p;
    sr_err err;
    struct stat st;
    assert_int_equal(sr_paths_init(&p, false, &err), SR_OK);
    if (stat(SR_CONFD_DIR, &st) == 0) /* an installed sr on this machine wins */
        assert_string_equal(p.confd_dir, SR_CONFD_DIR);
    else
        assert_non_null(strstr(p.confd_dir, "/../share/sr/conf.d"));
    sr_paths_fini(&p);
}

static void no_home_uses_the_password_database(void **state)
{
    (void)state;
    /* cron and some systemd units run without HOME: the passwd entry's home is used. */
    unsetenv("HOME");
    struct passwd *pw = getpwuid(getuid());
    assert_non_null(pw);
    char want[4096];
    snprintf(want, sizeof want, "%s/.config/sr", pw->pw_dir);
    sr_paths p;
    sr_err err;
    setenv("SR_CONFD", "/c", 1);
    assert_int_equal(sr_paths_init(&p, false, &err), SR_OK);
    assert_string_equal(p.config_dir, want);
    sr_paths_fini(&p);
}

static void expand_home(void **state)
{
    (void)state;
    char *s = sr_paths_expand_home("~/.ssh/id_ed25519");
    assert_string_equal(s, "/home/ops/.ssh/id_ed25519");
    free(s);
    s = sr_paths_expand_home("~");
    assert_string_equal(s, "/home/ops");
    free(s);
    s = sr_paths_expand_home("~bob/x"); /* other users' homes are not expanded */
    assert_string_equal(s, "~bob/x");
    free(s);
    s = sr_paths_expand_home("/abs/~/x");
    assert_string_equal(s, "/abs/~/x");
    free(s);
    setenv("HOME", "/home/ops/", 1);
    s = sr_paths_expand_home("~/a");
    assert_string_equal(s, "/home/ops/a");
    free(s);
}

static void mkdir_p(void **state)
{
    (void)state;
    char base[] = "/tmp/sr-test-paths-XXXXXX";
    assert_non_null(mkdtemp(base));
    char deep[512];
    snprintf(deep, sizeof deep, "%s/a/b/c", base);
    sr_err err;
    assert_int_equal(sr_mkdir_p(deep, 0700, &err), SR_OK);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    /* again: it exists, fine */
    assert_int_equal(sr_mkdir_p(deep, 0700, &err), SR_OK);

    /* a file in the way is an error naming it */
    char file[600], below[700];
    snprintf(file, sizeof file, "%s/a/file", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(below, sizeof below, "%s/x", file);
    assert_int_not_equal(sr_mkdir_p(below, 0700, &err), SR_OK);
    assert_non_null(strstr(err.msg, file));

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(home_defaults, clear_env),
        cmocka_unit_test_setup(xdg_then_overrides, clear_env),
        cmocka_unit_test_setup(statehost_adds_short_hostname, clear_env),
        cmocka_unit_test_setup(confd_beside_the_binary, clear_env),
        cmocka_unit_test_setup(no_home_uses_the_password_database, clear_env),
        cmocka_unit_test_setup(expand_home, clear_env),
        cmocka_unit_test_setup(mkdir_p, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
