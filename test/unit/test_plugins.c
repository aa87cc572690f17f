/* SPDX-License-Identifier: GPL-2.0-only */
/* test_plugins: the plugin host (plugins.h): loading C plugins and refusing bad ones with
 * their name, claiming their options, every hook driven through a real flow over the
 * in-process broker (broker_mem.h), and the checks on what a plugin may change.
 *
 * The test plugins are the C files of test/plugins, built by mk/plugins.mk into build/test/plugins
 * (SR_TEST_PLUGINS names another folder). */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "broker_mem.h"
#include "flow.h"
#include "plugins_impl.h"
#include "timefmt.h"

TEST_TMPDIR_FIXTURE("sr_test_plugins")

static const char *plugin_path(const char *name)
{
    static char buf[1024];
    const char *dir = getenv("SR_TEST_PLUGINS");
    snprintf(buf, sizeof buf, "%s/%s.so", dir && dir[0] ? dir : "build/test/plugins", name);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(chmod(to, mode), 0);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A shovel config over the mem broker, with extra lines; in tmpdir/config. */
static sr_config *load_config(const char *extra)
{
    char confdir[512], path[600];
    snprintf(confdir, sizeof confdir, "%s/config", tmpdir);
    mkdir(confdir, 0700);
    snprintf(path, sizeof path, "%s/shovel", confdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/shovel/t.conf", confdir);
    char text[4096];
    snprintf(text, sizeof text,
             "broker mem://tester@hub/\nexchange xin\npost_broker mem://tester@hub/\n"
             "post_exchange xout\nbatch 4\nprefetch 8\nretryDelay 0.01\nhousekeeping 3600\n%s",
             extra);
    write_file(path, text);
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {SR_C_SHOVEL, "t", confdir, confd ? confd : "conf.d", NULL, 0};
    sr_config *cfg = NULL;
    sr_err err;
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return cfg;
}

static sr_plugins_env test_env(void)
{
    static char confdir[512];
    snprintf(confdir, sizeof confdir, "%s/config", tmpdir);
    return (sr_plugins_env){.config_dir = confdir, .system_dir = NULL, .state_dir = tmpdir};
}

/* Load cfg's plugins: the error's text, or NULL when they loaded (then in *out). */
static char *try_load(sr_config *cfg, sr_plugins **out)
{
    sr_plugins_env env = test_env();
    sr_err err;
    sr_plugins *ps = NULL;
    if (sr_plugins_load(cfg, &env, &ps, &err) != SR_OK) {
        assert_null(ps);
        return strdup(err.msg);
    }
    assert_non_null(ps);
    if (out)
        *out = ps;
    else
        sr_plugins_free(ps);
    return NULL;
}

static void expect_refusal(const char *line, const char *const *wants)
{
    sr_config *cfg = load_config(line);
    char *msg = try_load(cfg, NULL);
    if (msg == NULL)
        fail_msg("%s: loaded", line);
    for (size_t i = 0; wants[i]; i++)
        if (strstr(msg, wants[i]) == NULL)
            fail_msg("%s: \"%s\" does not say \"%s\"", line, msg, wants[i]);
    free(msg);
    sr_config_free(cfg);
}

/* ---- loading ---- */

static void loads_by_path_and_by_name(void **state)
{
    (void)state;
    char line[1200];
    snprintf(line, sizeof line, "flowcb %s\n", plugin_path("every_hook"));
    sr_config *cfg = load_config(line);
    assert_int_equal(sr_config_refused(cfg)->count, 1); /* until loaded */
    sr_plugins *ps = NULL;
    char *msg = try_load(cfg, &ps);
    if (msg)
        fail_msg("%s", msg);
    assert_int_equal(sr_config_refused(cfg)->count, 0);
    assert_int_equal(sr_plugins_count(ps), 1);
    assert_true(sr_plugins_have(ps, SR_PLUGIN_HOOK_AFTER_ACCEPT | SR_PLUGIN_HOOK_GATHER));
    assert_true(sr_plugins_has_destfn(ps, "every_hook"));
    assert_true(sr_plugins_has_destfn(ps, "sarracenia.flowcb.Every_hook"));
    assert_false(sr_plugins_has_destfn(ps, "other"));
    assert_non_null(sr_plugins_for_scheme(ps, "madeup", false));
    assert_non_null(sr_plugins_for_scheme(ps, "madeup", true));
    assert_null(sr_plugins_for_scheme(ps, "http", false));
    sr_plugins_free(ps);
    sr_config_free(cfg);

    /* by name, from <config_dir>/plugins, sr3's long forms too */
    char dir[600], to[700];
    snprintf(dir, sizeof dir, "%s/config/plugins", tmpdir);
    mkdir(dir, 0755);
    snprintf(to, sizeof to, "%s/every_hook.so", dir);
    copy_file(plugin_path("every_hook"), to, 0755);
    cfg = load_config("flowcb every_hook\ncallback_prepend sarracenia.flowcb.every_hook.Every\n");
    size_t n = 0;
    const sr_config_plugin *lines = sr_config_plugins(cfg, &n);
    assert_int_equal(n, 2);
    assert_string_equal(lines[0].name, "sarracenia.flowcb.every_hook.Every"); /* prepended */
    msg = try_load(cfg, &ps);
    if (msg)
        fail_msg("%s", msg);
    assert_int_equal(sr_plugins_count(ps), 2);
    sr_plugins_free(ps);
    sr_config_free(cfg);

    /* a config without plugins: an empty set, nothing to call */
    cfg = load_config("");
    msg = try_load(cfg, &ps);
    assert_null(msg);
    assert_int_equal(sr_plugins_count(ps), 0);
    assert_false(sr_plugins_have(ps, ~0u));
    sr_plugins_free(ps);
    sr_config_free(cfg);
}

static void bad_plugins_are_refused_by_name(void **state)
{
    (void)state;
    char line[1200];
    snprintf(line, sizeof line, "flowcb %s\n", plugin_path("no_entry"));
    expect_refusal(line, (const char *const[]){"t.conf:9:", "no_entry", "sr_plugin_entry", NULL});
    snprintf(line, sizeof line, "flowcb %s\n", plugin_path("wrong_abi"));
    expect_refusal(line, (const char *const[]){"wrong_abi", "version 99", "version 1", NULL});
    snprintf(line, sizeof line, "flowcb %s\n", plugin_path("null_entry"));
    expect_refusal(line, (const char *const[]){"null_entry", "no description", NULL});
    expect_refusal("flowcb nothere\n", (const char *const[]){"t.conf:9: no sr plugin named nothere",
                                                             "sr-plugin(7)", NULL});
    expect_refusal(
        "callback sarracenia.flowcb.accept.nothere.Nothere\n",
        (const char *const[]){"t.conf:9:", "no sr plugin named", "accept.nothere", NULL});

    /* a file others may write, in a folder others may write (sticky or not), a link */
    char dir[600], to[700];
    snprintf(dir, sizeof dir, "%s/unsafe", tmpdir);
    mkdir(dir, 0755);
    snprintf(to, sizeof to, "%s/p.so", dir);
    copy_file(plugin_path("every_hook"), to, 0666);
    snprintf(line, sizeof line, "flowcb %s\n", to);
    expect_refusal(line, (const char *const[]){"p.so", "writable by group or others", NULL});
    assert_int_equal(chmod(to, 0755), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    expect_refusal(line, (const char *const[]){"p.so", "unsafe is writable by others", NULL});
    assert_int_equal(chmod(dir, 01777), 0);
    expect_refusal(line, (const char *const[]){"unsafe is writable by others", NULL});
    assert_int_equal(chmod(dir, 0755), 0);
    char *msg = NULL;
    char link[700];
    snprintf(link, sizeof link, "%s/link.so", dir);
    assert_int_equal(symlink(to, link), 0);
    snprintf(line, sizeof line, "flowcb %s\n", link);
    expect_refusal(line, (const char *const[]){"link.so", "symbolic link", NULL});
    /* once safe, it loads */
    snprintf(line, sizeof line, "flowcb %s\n", to);
    sr_config *cfg = load_config(line);
    msg = try_load(cfg, NULL);
    if (msg)
        fail_msg("%s", msg);
    sr_config_free(cfg);
}

static void declared_options_are_claimed(void **state)
{
    (void)state;
    char text[2000];
    snprintf(text, sizeof text,
             "everyReject a\nflowcb %s\neverySet x=1\neverySet y=2\nnotAnOption 3\n",
             plugin_path("every_hook"));
    sr_config *cfg = load_config(text);
    assert_int_equal(sr_config_refused(cfg)->count, 5);
    assert_null(sr_config_extra(cfg, "everySet"));
    sr_plugins *ps = NULL;
    char *msg = try_load(cfg, &ps);
    if (msg)
        fail_msg("%s", msg);
    /* only the line no plugin declares stays refused */
    assert_int_equal(sr_config_refused(cfg)->count, 1);
    assert_non_null(strstr(sr_config_refused(cfg)->items[0], "notAnOption"));
    const sr_strlist *set = sr_config_extra(cfg, "everySet");
    assert_non_null(set);
    assert_int_equal(set->count, 2);
    assert_string_equal(set->items[1], "y=2");
    assert_null(sr_config_extra(cfg, "notAnOption"));
    sr_plugins_free(ps);
    sr_config_free(cfg);
}

/* ---- the fields a plugin may change ---- */

static void field_changes_are_checked(void **state)
{
    (void)state;
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_new("20261206T051000", "http://h/", "a/b.txt", &m, &err), SR_OK);
    sr_placement p = {.dir = strdup("/dest/a"),
                      .name = strdup("b.txt"),
                      .path = strdup("/dest/a/b.txt"),
                      .rel_path = strdup("a/b.txt"),
                      .base_url = strdup("file:/dest/"),
                      .root = strdup("/dest"),
                      .under_root = strdup("a/b.txt")};
    json_t *v = json_string("../x");
    assert_int_equal(sr_plugin_field_set(m, &p, "relPath", v, &err), SR_EINVAL);
    assert_string_equal(sr_message_rel_path(m), "a/b.txt");
    json_decref(v);
    v = json_string("/elsewhere");
    assert_int_equal(sr_plugin_field_set(m, &p, "new_dir", v, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "outside the destination root"));
    json_decref(v);
    v = json_string("/dest/../etc");
    assert_int_equal(sr_plugin_field_set(m, &p, "new_dir", v, &err), SR_EINVAL);
    json_decref(v);
    v = json_string("x/y");
    assert_int_equal(sr_plugin_field_set(m, &p, "new_file", v, &err), SR_EINVAL);
    json_decref(v);
    assert_int_equal(sr_plugin_field_set(m, &p, "pubTime", NULL, &err), SR_EINVAL);
    assert_int_equal(sr_plugin_field_set(m, NULL, "new_file", NULL, &err), SR_EINVAL);
    v = json_string("not a number");
    assert_int_equal(sr_plugin_field_set(m, &p, "size", v, &err), SR_EINVAL);
    json_decref(v);
    assert_string_equal(p.path, "/dest/a/b.txt");

    /* allowed: a new name, a folder under the root; the derived names follow */
    v = json_string("c.txt");
    assert_int_equal(sr_plugin_field_set(m, &p, "new_file", v, &err), SR_OK);
    json_decref(v);
    v = json_string("/dest/z/");
    assert_int_equal(sr_plugin_field_set(m, &p, "new_dir", v, &err), SR_OK);
    json_decref(v);
    assert_string_equal(p.path, "/dest/z/c.txt");
    assert_string_equal(p.under_root, "z/c.txt");
    assert_string_equal(p.rel_path, "z/c.txt"); /* relative to post_baseDir /dest, as before */
    v = json_integer(42);
    assert_int_equal(sr_plugin_field_set(m, &p, "size", v, &err), SR_OK);
    json_decref(v);
    json_t *got = sr_plugin_field_get(m, &p, "size");
    assert_int_equal(json_integer_value(got), 42);
    json_decref(got);
    got = sr_plugin_field_get(m, &p, "new_file");
    assert_string_equal(json_string_value(got), "c.txt");
    json_decref(got);
    assert_null(sr_plugin_field_get(m, NULL, "new_file"));
    sr_placement_fini(&p);
    sr_message_free(m);
}

/* ---- hooks through a flow ---- */

typedef struct run {
    sr_mem_hub *hub;
    char trace[600];
    size_t expect_published;
    size_t want_retries; /* after_accept lines of the retried message before stopping */
    volatile sig_atomic_t stop, reopen;
    size_t events;
} run;

static void hook(void *ctx, sr_mem_hub *hub, enum sr_mem_event event, size_t which)
{
    (void)which;
    run *r = ctx;
    if (++r->events > 100000)
        r->stop = 1;
    if (event != SR_MEM_CONSUME || sr_mem_hub_ready(hub) > 0 || sr_mem_hub_unacked(hub) > 0)
        return;
    size_t confirmed = 0;
    for (size_t i = 0; i < sr_mem_hub_published_count(hub); i++)
        confirmed += sr_mem_hub_published(hub, i)->confirmed;
    if (confirmed < r->expect_published)
        return;
    char *text = read_text(r->trace);
    bool retried = count_of(text, "after_accept d/f02.txt") >= r->want_retries;
    free(text);
    if (retried)
        r->stop = 1;
}

static int run_flow(const char *extra, size_t inject_n, run *r, bool places, char **error)
{
    char text[3000];
    snprintf(r->trace, sizeof r->trace, "%s/trace", tmpdir);
    unlink(r->trace);
    snprintf(text, sizeof text, "flowcb %s\neveryTrace %s\n%s", plugin_path("every_hook"), r->trace,
             extra);
    sr_config *cfg = load_config(text);
    sr_plugins *ps = NULL;
    char *msg = try_load(cfg, &ps);
    if (msg)
        fail_msg("%s", msg);
    sr_err err;
    if (sr_config_check(cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    char state[600], metrics[700], logpath[600];
    snprintf(state, sizeof state, "%s/state", tmpdir);
    snprintf(metrics, sizeof metrics, "%s/state/metrics", tmpdir);
    snprintf(logpath, sizeof logpath, "%s/flow.log", tmpdir);
    sr_paths paths = {.state_dir = state, .metrics_dir = metrics};
    sr_log_options lo = {.path = logpath, .ident = "shovel/t_00", .level = SR_LOG_DEBUG};
    sr_log *log = sr_log_open(&lo, &err);
    assert_non_null(log);
    sr_metrics *mx = sr_metrics_new("shovel", "t", 0, 0);
    sr_plugins_attach(ps, log, mx);
    r->hub = sr_mem_hub_new();
    for (size_t i = 0; i < inject_n; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"pubTime\":\"20261206T051000\",\"baseUrl\":\"http://example.com/\","
                 "\"relPath\":\"d/f%02zu.txt\"}",
                 i);
        assert_int_equal(sr_mem_hub_inject(r->hub, "v03.d", "application/json", body, NULL, &err),
                         SR_OK);
    }
    sr_flow_services svc = {
        .cfg = cfg, .paths = &paths, .instance = 0, .log = log, .metrics = mx, .plugins = ps};
    sr_flow_component comp = {.mem_hub = r->hub, .places_files = places};
    sr_flow *flow = NULL;
    if (sr_flow_new(&svc, &comp, &flow, &err) != SR_OK)
        fail_msg("sr_flow_new: %s", err.msg);
    sr_mem_hub_set_hook(r->hub, hook, r);
    int rc = sr_flow_run(flow, &r->stop, &r->reopen);
    sr_flow_free(flow);
    sr_mem_hub_set_hook(r->hub, NULL, NULL);
    *error = rc != SR_OK ? read_text(logpath) : NULL;
    sr_plugins_free(ps);
    sr_metrics_free(mx);
    sr_log_close(log);
    sr_config_free(cfg);
    return rc;
}

static bool published(const run *r, const char *needle)
{
    for (size_t i = 0; i < sr_mem_hub_published_count(r->hub); i++)
        if (strstr(sr_mem_hub_published(r->hub, i)->body, needle) != NULL)
            return true;
    return false;
}

/* after_accept rejects one and retries another; the rest are worked on and posted; each
 * delivery is acked once; the hooks ran in their order, on_stop last. */
static void hooks_run_in_a_flow_with_their_verdicts(void **state)
{
    (void)state;
    run r = {.expect_published = 4, .want_retries = 2};
    char *error = NULL;
    int rc = run_flow("everyReject f01\neveryRetry f02\neveryWorkReject f03\neveryGather 2\n", 6,
                      &r, false, &error);
    if (rc != SR_OK)
        fail_msg("flow: %s", error);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(sr_mem_hub_acks_of(r.hub, i), 1);
    assert_true(published(&r, "d/f00.txt"));
    assert_false(published(&r, "d/f01.txt")); /* rejected in after_accept */
    assert_false(published(&r, "d/f02.txt")); /* retried, and retried again */
    assert_false(published(&r, "d/f03.txt")); /* rejected in after_work */
    assert_true(published(&r, "d/f04.txt"));
    assert_true(published(&r, "gathered/0"));
    assert_true(published(&r, "gathered/1"));
    char *text = read_text(r.trace);
    assert_true(strncmp(text, "on_start t\n", 11) == 0);
    assert_int_equal(count_of(text, "after_accept d/f01.txt"), 1);
    assert_int_equal(count_of(text, "after_work d/f01.txt"), 0);
    assert_int_equal(count_of(text, "after_work d/f00.txt done"), 1);
    assert_int_equal(count_of(text, "after_work d/f03.txt done"), 1);
    assert_int_equal(count_of(text, "after_post d/f00.txt"), 1);
    assert_int_equal(count_of(text, "after_post d/f03.txt"), 0);
    assert_int_equal(count_of(text, "after_post gathered/1"), 1);
    assert_int_equal(count_of(text, "gather 2"), 1);
    assert_true(count_of(text, "after_accept d/f02.txt") >= 2);
    assert_int_equal(count_of(text, "on_stop"), 1);
    size_t len = strlen(text);
    assert_true(len >= 10 && strcmp(text + len - 10, "on_stop -\n") == 0);
    free(text);
    char path[700];
    snprintf(path, sizeof path, "%s/flow.log", tmpdir);
    text = read_text(path);
    assert_non_null(strstr(text, "plugin every_hook: retry asked; will retry"));
    free(text);
    snprintf(path, sizeof path, "%s/state/metrics/shovel_t_00.json", tmpdir);
    sr_mem_hub_free(r.hub);
}

/* A placing flow: after_accept renames new_file, and what is posted says so; a change
 * sr refuses is refused to the plugin, and the message goes on unchanged. */
static void after_accept_renames_and_is_checked(void **state)
{
    (void)state;
    run r = {.expect_published = 2};
    char extra[1200];
    snprintf(extra, sizeof extra,
             "directory %s/dest\neveryRename .renamed\neverySet relPath=../x\n"
             "everySet new_dir=/etc\n",
             tmpdir);
    char *error = NULL;
    if (run_flow(extra, 2, &r, true, &error) != SR_OK)
        fail_msg("flow: %s", error);
    assert_true(published(&r, "f00.txt.renamed\""));
    assert_true(published(&r, "f01.txt.renamed\""));
    char *text = read_text(r.trace);
    assert_int_equal(count_of(text, "refused relPath"), 2);
    assert_int_equal(count_of(text, "refused new_dir"), 2);
    assert_non_null(strstr(text, "outside the destination root"));
    free(text);
    sr_mem_hub_free(r.hub);
}

/* on_start fails: the flow does not run, and the error names the plugin. */
static void a_failed_start_stops_the_flow(void **state)
{
    (void)state;
    run r = {0};
    char *error = NULL;
    assert_int_not_equal(run_flow("everyFailStart on\n", 1, &r, false, &error), SR_OK);
    assert_non_null(error);
    assert_non_null(strstr(error, "every_hook"));
    assert_non_null(strstr(error, "on_start failed"));
    free(error);
    assert_int_equal(sr_mem_hub_acks_of(r.hub, 0), 0);
    sr_mem_hub_free(r.hub);
}

/* The hooks the poller, placer and transfer layer call, and the rest, directly. */
static int collect(void *ctx, const void *buf, size_t n, sr_err *err)
{
    (void)err;
    strncat(ctx, buf, n);
    return SR_OK;
}

static long feed(void *ctx, void *buf, size_t n, sr_err *err)
{
    (void)err;
    int *left = ctx;
    size_t give = *left < (int)n ? (size_t)*left : n;
    memset(buf, 'x', give);
    *left -= (int)give;
    return (long)give;
}

/* A placed message: after_accept may move its file (new_file), after_work may not (the
 * file is written already: the plugin is told why); a destfn that leaves the name empty
 * keeps it. */
static void destination_is_set_in_after_accept_only(void **state)
{
    (void)state;
    char text[1500];
    char trace[600];
    snprintf(trace, sizeof trace, "%s/trace", tmpdir);
    snprintf(text, sizeof text,
             "flowcb %s\neveryTrace %s\neveryRename .a\neveryWorkRename .w\neveryDestfnKeep\n",
             plugin_path("every_hook"), trace);
    sr_config *cfg = load_config(text);
    sr_plugins *ps = NULL;
    char *msg = try_load(cfg, &ps);
    if (msg)
        fail_msg("%s", msg);
    sr_err err;
    assert_int_equal(sr_plugins_start(ps, &err), SR_OK);
    sr_work w = {0};
    const char *body = "{\"pubTime\":\"20260101T000000\",\"baseUrl\":\"file:/\","
                       "\"relPath\":\"in/x.txt\"}";
    assert_int_equal(sr_message_decode_v03(body, strlen(body), &w.msg, &err), SR_OK);
    w.placed = true;
    w.placement = (sr_placement){.dir = strdup("/data/in"),
                                 .name = strdup("x.txt"),
                                 .path = strdup("/data/in/x.txt"),
                                 .rel_path = strdup("in/x.txt"),
                                 .root = strdup("/data"),
                                 .under_root = strdup("in/x.txt")};
    sr_plugin_item item = {.w = &w};
    sr_plugins_after_accept(ps, &item, 1);
    assert_int_equal(item.verdict, SR_PLUGIN_KEEP);
    assert_string_equal(w.placement.name, "x.txt.a");
    assert_string_equal(w.placement.path, "/data/in/x.txt.a");
    assert_string_equal(w.placement.rel_path, "in/x.txt.a");
    sr_plugin_items_fini(&item, 1);
    item = (sr_plugin_item){.w = &w, .outcome = SR_PLUGIN_DONE};
    sr_plugins_after_work(ps, &item, 1);
    assert_int_equal(item.verdict, SR_PLUGIN_KEEP);
    assert_string_equal(w.placement.path, "/data/in/x.txt.a"); /* unmoved */
    sr_plugin_items_fini(&item, 1);
    char *name = NULL;
    assert_int_equal(sr_plugins_destfn(ps, "every_hook", w.msg, &name, &err), SR_OK);
    assert_null(name); /* left empty: the name stays */
    sr_plugins_stop(ps);
    char *got = read_text(trace);
    assert_non_null(strstr(got, "refused new_file field new_file: the file is written or sent "
                                "already"));
    assert_non_null(strstr(got, "destfn (kept)"));
    free(got);
    sr_placement_fini(&w.placement);
    sr_message_free(w.msg);
    sr_plugins_free(ps);
    sr_config_free(cfg);
}

static void poll_destfn_transfers_and_metrics(void **state)
{
    (void)state;
    char text[1500];
    char trace[600];
    snprintf(trace, sizeof trace, "%s/trace", tmpdir);
    snprintf(text, sizeof text, "flowcb %s\neveryTrace %s\n", plugin_path("every_hook"), trace);
    sr_config *cfg = load_config(text);
    sr_plugins *ps = NULL;
    char *msg = try_load(cfg, &ps);
    if (msg)
        fail_msg("%s", msg);
    sr_metrics *mx = sr_metrics_new("shovel", "t", 0, 0);
    sr_plugins_attach(ps, NULL, mx);
    sr_err err;
    assert_int_equal(sr_plugins_start(ps, &err), SR_OK);
    sr_message **msgs = NULL;
    size_t n = 0;
    bool polled = false;
    assert_int_equal(sr_plugins_poll(ps, &msgs, &n, &polled, &err), SR_OK);
    assert_true(polled);
    assert_int_equal(n, 1);
    assert_string_equal(sr_message_rel_path(msgs[0]), "polled/one");
    char *name = NULL;
    assert_int_equal(sr_plugins_destfn(ps, "Every_hook", msgs[0], &name, &err), SR_OK);
    assert_string_equal(name, "renamed_one");
    free(name);
    assert_int_equal(sr_plugins_destfn(ps, "other", msgs[0], &name, &err), SR_ENOENT);
    sr_plugin_instance *pi = sr_plugins_for_scheme(ps, "madeup", false);
    char got[256] = "";
    assert_int_equal(sr_plugin_download(pi, msgs[0], "madeup://h/x", collect, got, &err), SR_OK);
    assert_string_equal(got, "made up by every_hook\n");
    int left = 10000;
    assert_int_equal(sr_plugin_send(pi, msgs[0], "/remote/x", feed, &left, &err), SR_OK);
    sr_plugins_housekeeping(ps);
    sr_plugins_metrics(ps);
    char path[700];
    snprintf(path, sizeof path, "%s/metrics.json", tmpdir);
    assert_int_equal(sr_metrics_write(mx, path, sr_time_now_s(), &err), SR_OK);
    char *written = read_text(path);
    assert_non_null(strstr(written, "\"plugins\":{\"every_hook\":{\"calls\":1"));
    free(written);
    sr_plugins_stop(ps);
    char *t = read_text(trace);
    assert_non_null(strstr(t, "poll -\n"));
    assert_non_null(strstr(t, "download madeup://h/x\n"));
    assert_non_null(strstr(t, "send /remote/x 10000\n"));
    assert_non_null(strstr(t, "on_housekeeping -\non_stop -\n"));
    free(t);
    sr_message_free(msgs[0]);
    free(msgs);
    sr_plugins_free(ps);
    sr_metrics_free(mx);
    sr_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(loads_by_path_and_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_plugins_are_refused_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(declared_options_are_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(field_changes_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(hooks_run_in_a_flow_with_their_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(after_accept_renames_and_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_start_stops_the_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(destination_is_set_in_after_accept_only, setup, teardown),
        cmocka_unit_test_setup_teardown(poll_destfn_transfers_and_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
