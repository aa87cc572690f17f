/* SPDX-License-Identifier: GPL-2.0-only */
/* test_poller: sr_poll's gather step (poller.h) on a local tree (pollUrl file:), called as
 * the flow calls it: gather until a run ends, settled after each batch, housekeeping, and
 * a new poller for each restart, so that what a run announces is checked message by message
 * and the memory is seen to outlive the process. */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "poller.h"
#include "timefmt.h"

#define ANNOUNCED_MAX 256

typedef struct fixture {
    char dir[256];  /* everything of this test */
    char tree[300]; /* what is polled */
    sr_paths paths;
    sr_log *log;
    sr_metrics *metrics;
    char extra[1024]; /* config lines of the test */
    /* what the last run announced */
    size_t count;
    char rel[ANNOUNCED_MAX][256];
    sr_message *msgs[ANNOUNCED_MAX];
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void tree_file(fixture *fx, const char *rel, const char *text, time_t age)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fx->tree, rel);
    write_file(path, text);
    if (age != 0) {
        struct timespec t[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    }
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    test_tmp_template(fx->dir, sizeof fx->dir, "sr_test_poller");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->tree, sizeof fx->tree, "%s/tree", fx->dir);
    assert_int_equal(mkdir(fx->tree, 0755), 0);
    char state_dir[300], metrics[300], logpath[300];
    snprintf(state_dir, sizeof state_dir, "%s/state", fx->dir);
    snprintf(metrics, sizeof metrics, "%s/state/metrics", fx->dir);
    snprintf(logpath, sizeof logpath, "%s/poll.log", fx->dir);
    fx->paths.state_dir = strdup(state_dir);
    fx->paths.metrics_dir = strdup(metrics);
    sr_log_options lo = {.path = logpath, .ident = "poll/t_01", .level = SR_LOG_DEBUG};
    sr_err err;
    fx->log = sr_log_open(&lo, &err);
    assert_non_null(fx->log);
    fx->metrics = sr_metrics_new("poll", "t", 1, 0);
    assert_non_null(fx->metrics);
    *state = fx;
    return 0;
}

static void forget(fixture *fx)
{
    for (size_t i = 0; i < fx->count; i++)
        sr_message_free(fx->msgs[i]);
    fx->count = 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    forget(fx);
    sr_metrics_free(fx->metrics);
    sr_log_close(fx->log);
    free(fx->paths.state_dir);
    free(fx->paths.metrics_dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static sr_config *load(fixture *fx)
{
    char confdir[400], path[600], text[2048];
    snprintf(confdir, sizeof confdir, "%s/config", fx->dir);
    mkdir(confdir, 0700);
    snprintf(path, sizeof path, "%s/poll", confdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/poll/t.conf", confdir);
    snprintf(text, sizeof text,
             "post_broker mem://tester@hub/\n"
             "post_exchange xpoll\n"
             "pollUrl file:\n"
             "path %s\n"
             "scheduled_interval 1h\n"
             "%s",
             fx->tree, fx->extra);
    write_file(path, text);
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {SR_C_POLL, "t", confdir, confd ? confd : "conf.d", NULL, 0};
    sr_config *cfg = NULL;
    sr_err err;
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    if (sr_config_check(cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return cfg;
}

/* One run of a new poller (a start of sr_poll): what it announced into fx; ingest (may be
 * NULL) are messages it reads from the broker first, as a standby does. */
static void run_with(fixture *fx, sr_message **ingest, size_t ingest_count)
{
    forget(fx);
    sr_config *cfg = load(fx);
    sr_flow_services svc = {.cfg = cfg, .paths = &fx->paths, .instance = 1, .log = fx->log,
                            .metrics = fx->metrics};
    const sr_component_work *work = sr_poll_work();
    sr_flow_component fc = {0};
    void *st = NULL;
    sr_err err;
    if (work->attach(&svc, &fc, &st, &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_non_null(fc.gather);
    assert_non_null(fc.ingest);
    assert_true(fc.remembers);
    for (size_t i = 0; i < ingest_count; i++)
        assert_int_equal(fc.ingest(fc.ctx, ingest[i], &err), SR_OK);
    if (ingest_count > 0)
        fc.settled(fc.ctx);
    /* the first run is at start; batches of 3 until a call gives nothing: the run is over */
    for (;;) {
        sr_message **msgs = NULL;
        size_t n = 0;
        bool exhausted = true;
        assert_int_equal(fc.gather(fc.ctx, &msgs, &n, 3, &exhausted, &err), SR_OK);
        assert_false(exhausted);
        for (size_t i = 0; i < n; i++) {
            assert_true(fx->count < ANNOUNCED_MAX);
            snprintf(fx->rel[fx->count], sizeof fx->rel[0], "%s", sr_message_rel_path(msgs[i]));
            fx->msgs[fx->count++] = msgs[i];
        }
        free(msgs);
        fc.settled(fc.ctx);
        if (n == 0)
            break;
    }
    fc.housekeeping(fc.ctx);
    work->release(st);
    sr_config_free(cfg);
}

static void run(fixture *fx)
{
    run_with(fx, NULL, 0);
}

/* The message announcing name (under the tree), or NULL. */
static sr_message *announced(fixture *fx, const char *name)
{
    char rel[600];
    snprintf(rel, sizeof rel, "%s/%s", fx->tree + 1, name); /* relPath: no leading '/' */
    for (size_t i = 0; i < fx->count; i++)
        if (strcmp(fx->rel[i], rel) == 0)
            return fx->msgs[i];
    return NULL;
}

static void new_changed_unchanged_removed(void **state)
{
    fixture *fx = *state;
    tree_file(fx, "a.txt", "aaa", 0);
    tree_file(fx, "b.txt", "bbbb", 0);
    tree_file(fx, "c.txt", "c", 0);
    char sub[400];
    snprintf(sub, sizeof sub, "%s/sub", fx->tree);
    assert_int_equal(mkdir(sub, 0755), 0);
    tree_file(fx, "sub/d.txt", "dd", 0);
    run(fx);
    /* 4 files and the folder (fileEvents has mkdir, as sr3's default) */
    assert_int_equal(fx->count, 5);
    sr_message *a = announced(fx, "a.txt");
    assert_non_null(a);
    long long size = 0;
    assert_true(sr_message_size(a, &size));
    assert_int_equal(size, 3);
    sr_identity id;
    assert_true(sr_message_identity(a, &id));
    assert_int_equal(id.method, SR_ID_COD);
    assert_string_equal(id.value, "sha512");
    assert_string_equal(sr_message_base_url(a), "file:");
    assert_non_null(sr_message_str(a, "mtime"));
    sr_fileop op;
    sr_message *s = announced(fx, "sub");
    assert_non_null(s);
    assert_true(sr_message_fileop(s, &op));
    assert_true(op.directory);
    assert_non_null(announced(fx, "sub/d.txt"));

    /* restart with nothing changed: nothing */
    run(fx);
    assert_int_equal(fx->count, 0);

    /* 2 new, 1 changed size, 1 changed mtime only, 1 removed */
    tree_file(fx, "e.txt", "e", 0);
    tree_file(fx, "sub/f.txt", "f", 0);
    tree_file(fx, "a.txt", "aaaaaa", 0);
    struct timespec t[2] = {{0, UTIME_OMIT}, {time(NULL) - 3600, 0}};
    char b[400];
    snprintf(b, sizeof b, "%s/b.txt", fx->tree);
    assert_int_equal(utimensat(AT_FDCWD, b, t, 0), 0);
    char c[400];
    snprintf(c, sizeof c, "%s/c.txt", fx->tree);
    assert_int_equal(unlink(c), 0);
    run(fx);
    assert_int_equal(fx->count, 4);
    assert_non_null(announced(fx, "e.txt"));
    assert_non_null(announced(fx, "sub/f.txt"));
    assert_non_null(announced(fx, "a.txt"));
    assert_non_null(announced(fx, "b.txt"));
}

static void filters_as_sr3(void **state)
{
    fixture *fx = *state;
    snprintf(fx->extra, sizeof fx->extra,
             "fileEvents create,modify\n"
             "reject .*skip.*\n");
    tree_file(fx, "fresh.txt", "x", 0);
    tree_file(fx, "old.txt", "x", 40L * 86400); /* past the default fileAgeMax 30d */
    tree_file(fx, "future.txt", "x", -1000);    /* more than 100 s ahead */
    tree_file(fx, "skip-me.txt", "x", 0);
    tree_file(fx, "writeonly.txt", "x", 0);
    char wo[400];
    snprintf(wo, sizeof wo, "%s/writeonly.txt", fx->tree);
    assert_int_equal(chmod(wo, 0200), 0); /* not permDefault 0400 */
    char sub[400];
    snprintf(sub, sizeof sub, "%s/sub", fx->tree);
    assert_int_equal(mkdir(sub, 0755), 0);
    tree_file(fx, "sub/deep.txt", "x", 0);
    run(fx);
    assert_int_equal(fx->count, 2); /* fresh.txt, sub/deep.txt; no folder (no mkdir) */
    assert_non_null(announced(fx, "fresh.txt"));
    assert_non_null(announced(fx, "sub/deep.txt"));

    /* recursive off: the folder's files are not listed */
    tree_file(fx, "sub/deeper.txt", "x", 0);
    tree_file(fx, "top.txt", "x", 0);
    snprintf(fx->extra, sizeof fx->extra,
             "fileEvents create,modify\nreject .*skip.*\nrecursive off\n");
    run(fx);
    assert_int_equal(fx->count, 1);
    assert_non_null(announced(fx, "top.txt"));
}

/* A standby reads what the active node posted: once the vip moves to it, it announces
 * only what is new since. */
static void ingested_posts_are_not_announced_again(void **state)
{
    fixture *fx = *state;
    tree_file(fx, "one.txt", "1", 0);
    tree_file(fx, "two.txt", "22", 0);
    run(fx); /* node A */
    assert_int_equal(fx->count, 2);
    sr_message *posted[2] = {sr_message_copy(fx->msgs[0]), sr_message_copy(fx->msgs[1])};
    /* node B: its own state folder */
    char other[300];
    snprintf(other, sizeof other, "%s/state-b", fx->dir);
    free(fx->paths.state_dir);
    fx->paths.state_dir = strdup(other);
    tree_file(fx, "three.txt", "333", 0);
    run_with(fx, posted, 2);
    assert_int_equal(fx->count, 1);
    assert_non_null(announced(fx, "three.txt"));
    sr_message_free(posted[0]);
    sr_message_free(posted[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_changed_unchanged_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_as_sr3, setup, teardown),
        cmocka_unit_test_setup_teardown(ingested_posts_are_not_announced_again, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
