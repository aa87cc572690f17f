/* SPDX-License-Identifier: GPL-2.0-only */
/* test_sr3import: an sr3 user's tree (test/data/sr3import/tree) brought into sr: which
 * component each config becomes, every option sr will not honour named with file:line,
 * credentials kept private, and nothing of the user's overwritten without --force. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "sr3import.h"

static const char *confd(void)
{
    const char *d = getenv("SR_CONFD");
    return d ? d : "conf.d";
}

TEST_TMPDIR_FIXTURE("sr_test_import")

static void components_map_to_srs(void **state)
{
    (void)state;
    assert_string_equal(sr_import_component("subscribe"), "subscribe");
    assert_string_equal(sr_import_component("winnow"), "winnow");
    assert_string_equal(sr_import_component("cpump"), "shovel");
    assert_string_equal(sr_import_component("cpost"), "post");
    assert_string_equal(sr_import_component("poll"), "poll");
    assert_null(sr_import_component("flow"));
    assert_null(sr_import_component("report"));
    char path[4096];
    snprintf(path, sizeof path, "%s", test_data("sr3import/tree/cpost/hot.conf"));
    assert_string_equal(sr_import_component_of("cpost", path), "watch"); /* sleep 5 */
    snprintf(path, sizeof path, "%s", test_data("sr3import/tree/cpost/once.conf"));
    assert_string_equal(sr_import_component_of("cpost", path), "post");
}

static bool has(const sr_strlist *l, const char *needle)
{
    for (size_t i = 0; i < l->count; i++)
        if (strstr(l->items[i], needle) != NULL)
            return true;
    return false;
}

static void every_unsupported_option_is_named_with_file_and_line(void **state)
{
    (void)state;
    char tree[4096], path[4096], at[4200];
    snprintf(tree, sizeof tree, "%s", test_data("sr3import/tree"));
    snprintf(path, sizeof path, "%s/subscribe/dd.conf", tree);
    sr_strlist out = {0};
    sr_err err;
    assert_int_equal(sr_import_check_file(tree, confd(), path, "subscribe", &out, &err),
                     SR_EREFUSED);
    /* line 4, `callback log`, is built into sr: not reported */
    snprintf(at, sizeof at, "%s:4:", path);
    assert_false(has(&out, at));
    snprintf(at, sizeof at, "%s:6: unknown option \"frobnicate\"", path);
    assert_true(has(&out, at));
    snprintf(at, sizeof at, "%s:7: unknown option \"batchh\" (did you mean \"batch\"?)", path);
    assert_true(has(&out, at));
    assert_int_equal(out.count, 2);
    /* checked twice, reported once */
    assert_int_equal(sr_import_check_file(tree, confd(), path, "subscribe", &out, &err),
                     SR_EREFUSED);
    assert_int_equal(out.count, 2);
    sr_strlist_clear(&out);

    snprintf(path, sizeof path, "%s/cpump/pump.conf", tree);
    assert_int_equal(sr_import_check_file(tree, confd(), path, "shovel", &out, &err),
                     SR_EREFUSED);
    snprintf(at, sizeof at, "%s:3: unknown option \"outlet\"", path);
    assert_true(has(&out, at));
    sr_strlist_clear(&out);

    /* a poll written the sr3 way (broker: where it posts, destination: what it lists)
     * runs as it is: nothing to report */
    snprintf(path, sizeof path, "%s/poll/logger.conf", tree);
    assert_int_equal(sr_import_check_file(tree, confd(), path, "poll", &out, &err), SR_OK);
    assert_int_equal(out.count, 0);
    /* one that needs an sr3 poll plugin: the callback line named, with the reason */
    snprintf(path, sizeof path, "%s/poll/airnow.conf", tree);
    assert_int_equal(sr_import_check_file(tree, confd(), path, "poll", &out, &err),
                     SR_EREFUSED);
    snprintf(at, sizeof at, "%s:5: callback poll.airnow: no sr plugin named poll.airnow is loaded", path);
    assert_true(has(&out, at));
    assert_int_equal(out.count, 1);
    sr_strlist_clear(&out);
}

static void a_value_sr_refuses_is_an_error_with_file_and_line(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/bad.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("broker amqp://x@h/\nbatch lots\n", f);
    fclose(f);
    sr_strlist out = {0};
    sr_err err;
    assert_int_equal(sr_import_check_file(tmpdir, confd(), path, "shovel", &out, &err), SR_EINVAL);
    char at[300];
    snprintf(at, sizeof at, "error: %s:2:", path);
    assert_true(has(&out, at));
    sr_strlist_clear(&out);
}

static int run_import(const char *dest, const char *src, bool force)
{
    setenv("SR_CONFIG_DIR", dest, 1);
    char state[128];
    snprintf(state, sizeof state, "%s/state", tmpdir);
    setenv("SR_STATE_DIR", state, 1);
    char *argv[] = {"sr", "import", force ? "--force" : (char *)src, force ? (char *)src : NULL,
                    NULL};
    int argc = force ? 4 : 3;
    sr_cli cli;
    sr_err err;
    assert_int_equal(sr_cli_init(&cli, argc, argv, &err), SR_OK);
    /* quiet: the report goes to stdout, which cmocka uses too */
    fflush(stdout);
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    int rc = sr_import_main(&cli, (int)cli.positional_count - 1, cli.positional + 1);
    fclose(stdout);
    stdout = saved;
    sr_cli_fini(&cli);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void the_tree_is_copied_and_nothing_of_ours_overwritten(void **state)
{
    (void)state;
    char dest[128], src[4096], p[256];
    snprintf(dest, sizeof dest, "%s/sr", tmpdir);
    snprintf(src, sizeof src, "%s", test_data("sr3import/tree"));
    /* exit 1: the tree's flow config is not imported (sr has no flow), and dd.conf and
     * poll/airnow.conf have lines sr does not honour; everything else is copied */
    assert_int_equal(run_import(dest, src, false), 1);
    /* dd.conf has lines sr would not run: reported and copied, for its owner to mend (sr
     * start refuses it until then) */
    char dd[4096];
    sr_strlist out = {0};
    sr_err err;
    snprintf(dd, sizeof dd, "%s/subscribe/dd.conf", src);
    assert_int_equal(sr_import_check_file(src, confd(), dd, "subscribe", &out, &err),
                     SR_EREFUSED);
    sr_strlist_clear(&out);
    snprintf(p, sizeof p, "%s/subscribe/dd.conf", dest);
    assert_non_null(slurp(p));
    snprintf(p, sizeof p, "%s/subscribe/common.inc", dest);
    assert_non_null(slurp(p));
    snprintf(p, sizeof p, "%s/watch/hot.conf", dest);
    assert_non_null(slurp(p));
    snprintf(p, sizeof p, "%s/post/once.conf", dest);
    assert_non_null(slurp(p));
    snprintf(p, sizeof p, "%s/shovel/pump.conf", dest);
    assert_non_null(slurp(p));
    snprintf(p, sizeof p, "%s/poll/logger.conf", dest);
    assert_non_null(strstr(slurp(p), "destination sftp://bob@logger.example.com/"));
    snprintf(p, sizeof p, "%s/poll/airnow.conf", dest); /* copied, for its owner to mend */
    assert_non_null(slurp(p));
    snprintf(p, sizeof p, "%s/flow", dest);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/plugins", dest);
    assert_int_equal(access(p, F_OK), -1);
    struct stat st;
    snprintf(p, sizeof p, "%s/credentials.conf", dest);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* ours changed since: kept (--force overwrites it) */
    snprintf(p, sizeof p, "%s/post/once.conf", dest);
    FILE *f = fopen(p, "w");
    fputs("# mine\n", f);
    fclose(f);
    assert_int_equal(run_import(dest, src, false), 1);
    assert_string_equal(slurp(p), "# mine\n");
    assert_int_equal(run_import(dest, src, true), 1);
    assert_non_null(strstr(slurp(p), "post_baseUrl file:/"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(components_map_to_srs),
        cmocka_unit_test(every_unsupported_option_is_named_with_file_and_line),
        cmocka_unit_test_setup_teardown(a_value_sr_refuses_is_an_error_with_file_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_tree_is_copied_and_nothing_of_ours_overwritten, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
