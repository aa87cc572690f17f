/* SPDX-License-Identifier: GPL-2.0-only */
/* test_plugin_exec: exec plugins (plugin_exec.h, protocol 1) against real python3
 * co-processes from test/plugins/exec: the handshake, good and bad; every hook; verdicts
 * and field changes checked by sr_plugin_field_set; a plugin that dies mid-batch, one that
 * speaks garbage, one that hangs: every message it held comes back RETRY, the process is
 * killed with its group and reaped, and it is started again after its pause. Downloads
 * and sends as base64 data lines: the bytes exact, a sink that refuses them (the plugin
 * killed, the refusal returned as it is), error replies, the deadline between lines, a
 * plugin that answers a send before reading it all. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "placement.h"
#include "plugins_impl.h"
#include "timefmt.h"

TEST_TMPDIR_FIXTURE("sr_test_plugin_exec")

static sr_config *cfg;
static sr_log *logp;
static sr_plugins_env env;
static char logpath[300];

/* test/plugins/exec/NAME, found beside test/data. */
static const char *script(const char *name)
{
    static char buf[4096];
    const char *root = getenv("SR_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/../plugins/exec/%s", root ? root : "test/data", name);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A subscribe config t with pluginTimeout timeout and a plugin option; a log to a file. */
static void setup_env(const char *timeout)
{
    char dir[400], path[500], text[300];
    snprintf(dir, sizeof dir, "%s/config", tmpdir);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/subscribe", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/subscribe/t.conf", dir);
    snprintf(text, sizeof text, "pluginTimeout %s\nmyOption hello\nmyOption world\n", timeout);
    write_file(path, text);
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {SR_C_SUBSCRIBE, "t", dir, confd ? confd : "conf.d", NULL, 0};
    sr_err err;
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    snprintf(logpath, sizeof logpath, "%s/sr.log", tmpdir);
    sr_log_options lo = {.path = logpath, .ident = "subscribe/t_01", .level = SR_LOG_DEBUG};
    logp = sr_log_open(&lo, &err);
    assert_non_null(logp);
    env = (sr_plugins_env){.state_dir = tmpdir, .instance = 1, .log = logp};
}

static void teardown_env(void)
{
    sr_log_close(logp);
    sr_config_free(cfg);
    logp = NULL;
    cfg = NULL;
}

/* Everything the log holds (a new string). */
static char *log_text(void)
{
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    size_t cap = 1 << 22;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_log_has(const char *text)
{
    char *log = log_text();
    if (strstr(log, text) == NULL)
        fail_msg("the log lacks \"%s\":\n%s", text, log);
    free(log);
}

/* No child left, running or zombie: whatever a test started was reaped. */
static void assert_no_children(void)
{
    errno = 0;
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (!(pid == -1 && errno == ECHILD))
        fail_msg("a child is left behind (waitpid gave %d)", (int)pid);
}

static int load(sr_plugin_instance *pi, const char *command, sr_err *err)
{
    memset(pi, 0, sizeof *pi);
    char name[4200];
    snprintf(name, sizeof name, "exec:%s", command);
    pi->name = strdup(name);
    pi->short_name = strdup("placeholder");
    pi->cfg = cfg;
    pi->env = &env;
    return sr_plugin_exec_load(pi, command, err);
}

static void unload(sr_plugin_instance *pi)
{
    if (pi->ops && pi->ops->destroy)
        pi->ops->destroy(pi);
    for (size_t i = 0; pi->options && pi->options[i]; i++)
        free(pi->options[i]);
    free(pi->options);
    for (size_t i = 0; pi->schemes && pi->schemes[i]; i++)
        free(pi->schemes[i]);
    free(pi->schemes);
    free(pi->name);
    free(pi->short_name);
    memset(pi, 0, sizeof *pi);
}

static char *command(const char *name, const char *args)
{
    static char buf[4200];
    snprintf(buf, sizeof buf, "%s%s%s", script(name), args ? " " : "", args ? args : "");
    return buf;
}

/* Messages placed under tmpdir/dest, mirrored. */
static sr_work *works_new(const char *const *rels, size_t n, sr_plugin_item *items)
{
    sr_work *w = calloc(n, sizeof *w);
    assert_non_null(w);
    char dest[400];
    snprintf(dest, sizeof dest, "%s/dest", tmpdir);
    sr_placement_rules rules = {.directory = dest, .mirror = true};
    for (size_t i = 0; i < n; i++) {
        sr_err err;
        assert_int_equal(
            sr_message_new("20261125T101010", "https://example.com/", rels[i], &w[i].msg, &err),
            SR_OK);
        if (sr_placement_compute(&rules, w[i].msg, 0, &w[i].placement, &err) != SR_OK)
            fail_msg("%s", err.msg);
        w[i].placed = true;
        items[i] = (sr_plugin_item){.w = &w[i], .verdict = SR_PLUGIN_KEEP};
    }
    return w;
}

static void works_free(sr_work *w, sr_plugin_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sr_message_free(w[i].msg);
        sr_placement_fini(&w[i].placement);
        free(items[i].why);
        items[i].why = NULL;
    }
    free(w);
}

/* after_accept on one message: its verdict (why into buf when not KEEP). */
static enum sr_plugin_verdict accept_one(sr_plugin_instance *pi, const char *rel, char *why,
                                         size_t size)
{
    sr_plugin_item it;
    sr_work *w = works_new(&rel, 1, &it);
    pi->ops->after_accept(pi, &it, 1);
    enum sr_plugin_verdict v = it.verdict;
    snprintf(why, size, "%s", it.why ? it.why : "");
    works_free(w, &it, 1);
    return v;
}

/* ---- handshake ---- */

static void handshake_good(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    sr_err err;
    if (load(&pi, command("good.py", NULL), &err) != SR_OK)
        fail_msg("%s", err.msg);
    unsigned all = SR_PLUGIN_HOOK_ON_START | SR_PLUGIN_HOOK_ON_STOP |
                   SR_PLUGIN_HOOK_ON_HOUSEKEEPING | SR_PLUGIN_HOOK_AFTER_ACCEPT |
                   SR_PLUGIN_HOOK_AFTER_WORK | SR_PLUGIN_HOOK_AFTER_POST | SR_PLUGIN_HOOK_GATHER |
                   SR_PLUGIN_HOOK_POLL | SR_PLUGIN_HOOK_DESTFN | SR_PLUGIN_HOOK_METRICS_REPORT;
    assert_int_equal(pi.hooks, all);
    assert_string_equal(pi.short_name, "good");
    assert_non_null(pi.options);
    assert_string_equal(pi.options[0], "myOption");
    assert_null(pi.options[1]);
    /* a check loads and frees without a start: the process is ended all the same */
    unload(&pi);
    assert_no_children();
    /* the hello carried the config and the plugin's own option lines */
    assert_log_has("plugin \"exec:");
    assert_log_has("hello component=subscribe config=t myOption=hello,world");
    teardown_env();
}

static void expect_bad(const char *cmd, const char *what)
{
    sr_plugin_instance pi;
    sr_err err;
    int rc = load(&pi, cmd, &err);
    if (rc == SR_OK)
        fail_msg("%s: loaded", cmd);
    assert_int_equal(rc, SR_EINVAL);
    assert_false(err.retryable);
    assert_null(pi.ops);
    assert_null(pi.backend);
    if (strstr(err.msg, what) == NULL || strstr(err.msg, "plugin \"exec:") == NULL)
        fail_msg("%s: \"%s\" lacks \"%s\"", cmd, err.msg, what);
    unload(&pi);
    assert_no_children();
}

static void handshake_bad(void **state)
{
    (void)state;
    setup_env("1");
    expect_bad(command("garbage.py", "hello"),
               "answered the handshake with \"hello there\", not a JSON object");
    expect_bad(command("badhello.py", "version"),
               "handshake: it speaks protocol version 2, sr speaks 1");
    expect_bad(command("badhello.py", "unknown"), "handshake: unknown hook \"on_message\"");
    expect_bad(command("badhello.py", "download"),
               "handshake: it downloads or sends but \"schemes\" is not a list");
    expect_bad(command("badhello.py", "scheme"), "handshake: scheme \"fa ke\" is not a URL scheme");
    expect_bad(command("badhello.py", "exit"),
               "exited with status 2 before answering the handshake (its last words: cannot "
               "read my settings)");
    expect_bad(command("badhello.py", "silent"),
               "did not answer the handshake within pluginTimeout (1 s)");
    /* COMMAND is looked up on PATH, never through a shell */
    sr_plugin_instance pi;
    sr_err err;
    assert_int_not_equal(load(&pi, "no-such-plugin-command --x", &err), SR_OK);
    /* (under valgrind the spawn cannot tell a failed exec: the child exits 127) */
    if (strstr(err.msg, "cannot start no-such-plugin-command: No such file") == NULL &&
        strstr(err.msg, "exited with status 127 before") == NULL)
        fail_msg("%s", err.msg);
    unload(&pi);
    assert_int_not_equal(load(&pi, "   ", &err), SR_OK);
    assert_non_null(strstr(err.msg, "no command"));
    unload(&pi);
    assert_no_children();
    teardown_env();
}

/* ---- every hook ---- */

static void every_hook(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    sr_err err;
    if (load(&pi, command("good.py", NULL), &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(pi.ops->start(&pi, &err), SR_OK);

    const char *rels[] = {"a/plain.txt",  "a/reject.txt", "a/retry.txt",
                          "a/rename.txt", "a/escape.txt", "a/source.txt"};
    sr_plugin_item items[6];
    sr_work *w = works_new(rels, 6, items);
    items[1].verdict = SR_PLUGIN_REJECT; /* decided before: not sent, left alone */
    items[1].why = strdup("earlier");
    pi.ops->after_accept(&pi, items, 6);
    assert_int_equal(items[0].verdict, SR_PLUGIN_KEEP);
    assert_int_equal(items[1].verdict, SR_PLUGIN_REJECT);
    assert_string_equal(items[1].why, "earlier");
    assert_int_equal(items[2].verdict, SR_PLUGIN_RETRY);
    assert_string_equal(items[2].why, "later");
    /* new_file renamed, through the placement: the path and the announced relPath follow */
    assert_int_equal(items[3].verdict, SR_PLUGIN_KEEP);
    assert_string_equal(w[3].placement.name, "renamed-rename.txt");
    assert_non_null(strstr(w[3].placement.path, "/dest/a/renamed-rename.txt"));
    assert_non_null(strstr(w[3].placement.rel_path, "dest/a/renamed-rename.txt"));
    /* relPath "../x" refused by the field check: that message rejected, unchanged */
    assert_int_equal(items[4].verdict, SR_PLUGIN_REJECT);
    assert_non_null(strstr(items[4].why, "set refused"));
    assert_non_null(strstr(items[4].why, "relPath"));
    assert_string_equal(sr_message_rel_path(w[4].msg), "a/escape.txt");
    assert_int_equal(items[5].verdict, SR_PLUGIN_KEEP);
    assert_string_equal(sr_message_str(w[5].msg, "source"), "plugin");

    /* after_work: a failed outcome sent back to retry by this plugin */
    for (size_t i = 0; i < 6; i++) {
        free(items[i].why);
        items[i] = (sr_plugin_item){.w = &w[i],
                                    .verdict = SR_PLUGIN_KEEP,
                                    .outcome = i == 1 ? SR_PLUGIN_FAILED : SR_PLUGIN_DONE};
    }
    pi.ops->after_work(&pi, items, 6);
    assert_int_equal(items[0].verdict, SR_PLUGIN_KEEP);
    assert_int_equal(items[1].verdict, SR_PLUGIN_RETRY);
    assert_string_equal(items[1].why, "work failed");
    pi.ops->after_post(&pi, items, 1);
    assert_int_equal(items[0].verdict, SR_PLUGIN_KEEP);
    works_free(w, items, 6);

    /* gather: max messages asked, the bad one dropped and logged, the others kept */
    sr_message **msgs = NULL;
    size_t count = 0;
    assert_int_equal(pi.ops->gather(&pi, 3, &msgs, &count, &err), SR_OK);
    assert_int_equal(count, 2);
    assert_string_equal(sr_message_rel_path(msgs[0]), "gathered/0.txt");
    assert_string_equal(sr_message_rel_path(msgs[1]), "gathered/2.txt");
    long long size = 0;
    assert_true(sr_message_size(msgs[1], &size));
    assert_int_equal(size, 2);
    assert_non_null(sr_message_pub_time(msgs[0])); /* now, when the plugin gave none */
    assert_int_equal(pi.ops->poll(&pi, &msgs, &count, &err), SR_OK);
    assert_int_equal(count, 3);
    assert_string_equal(sr_message_rel_path(msgs[2]), "polled.txt");
    assert_string_equal(sr_message_pub_time(msgs[2]), "20260101T000000");

    /* destfn: a name, or null (the name stays) */
    char *name = NULL;
    assert_int_equal(pi.ops->destfn(&pi, msgs[0], &name, &err), SR_OK);
    assert_string_equal(name, "dest-0.txt");
    free(name);
    sr_message *keep = NULL;
    assert_int_equal(
        sr_message_new("20261125T101010", "https://example.com/", "x/keep.txt", &keep, &err),
        SR_OK);
    assert_int_equal(pi.ops->destfn(&pi, keep, &name, &err), SR_OK);
    assert_null(name);
    sr_message_free(keep);
    for (size_t i = 0; i < count; i++)
        sr_message_free(msgs[i]);
    free(msgs);

    json_t *figures = json_object();
    pi.ops->metrics_report(&pi, figures);
    assert_true(json_is_number(json_object_get(figures, "calls")));
    assert_null(json_object_get(figures, "label")); /* not a number: left out */
    json_decref(figures);
    pi.ops->housekeeping(&pi);
    pi.ops->stop(&pi);
    assert_no_children();
    unload(&pi);

    assert_log_has("plugin \"exec:");
    assert_log_has("gather: message 1 dropped");
    assert_log_has("metrics_report: label is not a number");
    assert_log_has("hook on_start");
    assert_log_has("hook on_housekeeping");
    assert_log_has("posted a/plain.txt");
    assert_log_has("hook on_stop");
    assert_log_has("end of input"); /* it saw its input close and ended by itself */
    teardown_env();
}

/* ---- failures ---- */

static void garbage_replies(void **state)
{
    (void)state;
    setup_env("10");
    static const struct {
        const char *mode, *why;
    } cases[] = {
        {"reply", "answered request 1 with \"<html>oops</html>\", not a JSON object"},
        {"id", "answered request 1 with id 8"},
        {"count", "answered 1 results to 2 messages"},
        {"verdict", "result 0: \"verdict\" is not keep, reject or retry"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sr_plugin_instance pi;
        sr_err err;
        if (load(&pi, command("garbage.py", cases[c].mode), &err) != SR_OK)
            fail_msg("%s", err.msg);
        const char *rels[] = {"a/1.txt", "a/2.txt"};
        sr_plugin_item items[2];
        sr_work *w = works_new(rels, 2, items);
        pi.ops->after_accept(&pi, items, 2);
        for (size_t i = 0; i < 2; i++) {
            assert_int_equal(items[i].verdict, SR_PLUGIN_RETRY);
            if (strstr(items[i].why, cases[c].why) == NULL)
                fail_msg("%s: \"%s\" lacks \"%s\"", cases[c].mode, items[i].why, cases[c].why);
        }
        works_free(w, items, 2);
        assert_no_children(); /* killed and reaped at once */
        /* while it pauses, what it should see goes to the retry queue too */
        char why[600];
        assert_int_equal(accept_one(&pi, "a/3.txt", why, sizeof why), SR_PLUGIN_RETRY);
        assert_non_null(strstr(why, "failed before and is started again in"));
        unload(&pi);
    }
    assert_log_has("; killed, started again in 1 s at the earliest");
    teardown_env();
}

/* A plugin that writes a lot to stderr before it reads a large batch: sr reads while it
 * writes, so neither waits on the other. */
static void flood_no_deadlock(void **state)
{
    (void)state;
    setup_env("20");
    sr_plugin_instance pi;
    sr_err err;
    if (load(&pi, command("garbage.py", "flood"), &err) != SR_OK)
        fail_msg("%s", err.msg);
    enum { N = 2000 };
    static const char *rels[N];
    static char names[N][32];
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "big/batch/file-%zu.txt", i);
        rels[i] = names[i];
    }
    static sr_plugin_item items[N];
    sr_work *w = works_new(rels, N, items);
    for (int round = 0; round < 2; round++) {
        pi.ops->after_accept(&pi, items, N);
        for (size_t i = 0; i < N; i++)
            if (items[i].verdict != SR_PLUGIN_KEEP)
                fail_msg("item %zu: %s", i, items[i].why);
    }
    works_free(w, items, N);
    unload(&pi);
    assert_no_children();
    assert_log_has("noise 16383 ");
    teardown_env();
}

/* Wait (up to seconds) until after_accept keeps a message again: the plugin restarted. */
static bool wait_restart(sr_plugin_instance *pi, double seconds)
{
    char why[600];
    double end = sr_time_mono_s() + seconds;
    while (sr_time_mono_s() < end) {
        if (accept_one(pi, "a/fine.txt", why, sizeof why) == SR_PLUGIN_KEEP)
            return true;
        struct timespec nap = {0, 50000000};
        nanosleep(&nap, NULL);
    }
    return false;
}

static void crash_mid_batch(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    sr_err err;
    if (load(&pi, command("crash.py", NULL), &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(pi.ops->start(&pi, &err), SR_OK);
    const char *rels[] = {"a/1.txt", "a/crash.txt", "a/3.txt"};
    sr_plugin_item items[3];
    sr_work *w = works_new(rels, 3, items);
    pi.ops->after_accept(&pi, items, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(items[i].verdict, SR_PLUGIN_RETRY);
        assert_non_null(strstr(items[i].why, "exited with status 3 before answering request"));
    }
    assert_no_children();
    assert_log_has("Traceback: dying on purpose"); /* its stderr, in sr's log */
    assert_log_has("exited with status 3 before answering request 2; gone, started again in "
                   "1 s at the earliest");
    /* the pause: nothing reaches it until it is started (handshake, on_start) again; the
     * same batch then kills it again, before it answered anything: a pause twice as long */
    char why[600];
    assert_int_equal(accept_one(&pi, "a/4.txt", why, sizeof why), SR_PLUGIN_RETRY);
    assert_non_null(strstr(why, "failed before and is started again in"));
    double end = sr_time_mono_s() + 10;
    bool crashed = false;
    while (!crashed && sr_time_mono_s() < end) {
        for (size_t i = 0; i < 3; i++) {
            free(items[i].why);
            items[i] = (sr_plugin_item){.w = &w[i], .verdict = SR_PLUGIN_KEEP};
        }
        pi.ops->after_accept(&pi, items, 3);
        assert_int_equal(items[0].verdict, SR_PLUGIN_RETRY);
        crashed = strstr(items[0].why, "exited with status 3") != NULL;
        struct timespec nap = {0, 50000000};
        nanosleep(&nap, NULL);
    }
    assert_true(crashed);
    works_free(w, items, 3);
    assert_log_has("started again (process ");
    assert_log_has("gone, started again in 2 s at the earliest");
    /* and once that pause is over it works again */
    assert_true(wait_restart(&pi, 10));
    pi.ops->stop(&pi); /* while it pauses: nothing to end */
    unload(&pi);
    assert_no_children();
    teardown_env();
}

static void timeout_kills_group(void **state)
{
    (void)state;
    setup_env("1");
    sr_plugin_instance pi;
    sr_err err;
    if (load(&pi, command("hang.py", NULL), &err) != SR_OK)
        fail_msg("%s", err.msg);
    char why[600];
    double t0 = sr_time_mono_s();
    assert_int_equal(accept_one(&pi, "a/1.txt", why, sizeof why), SR_PLUGIN_RETRY);
    double took = sr_time_mono_s() - t0;
    assert_true(took >= 0.9 && took < 8);
    assert_non_null(strstr(why, "did not answer request 1 within pluginTimeout (1 s)"));
    assert_no_children();
    /* the child it left in its group was killed with it (init reaps it: wait for that) */
    char *log = log_text();
    const char *at = strstr(log, "child ");
    assert_non_null(at);
    int child = atoi(at + 6);
    free(log);
    assert_true(child > 0);
    double end = sr_time_mono_s() + 5;
    while (kill(child, 0) == 0 && sr_time_mono_s() < end) {
        struct timespec nap = {0, 20000000};
        nanosleep(&nap, NULL);
    }
    assert_int_equal(kill(child, 0), -1);
    assert_log_has("did not answer request 1 within pluginTimeout (1 s); killed, started again "
                   "in 1 s at the earliest");
    unload(&pi);
    teardown_env();
}

/* Plugins loaded, then the process forks (an instance started after a load): the child
 * starts a co-process of its own, and leaves its parent's alone. */
static void fork_after_load(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    sr_err err;
    if (load(&pi, command("keep.py", NULL), &err) != SR_OK)
        fail_msg("%s", err.msg);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char why[600];
        int ok = accept_one(&pi, "a/child.txt", why, sizeof why) == SR_PLUGIN_KEEP;
        unload(&pi);
        errno = 0;
        ok = ok && waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char why[600];
    assert_int_equal(accept_one(&pi, "a/parent.txt", why, sizeof why), SR_PLUGIN_KEEP);
    unload(&pi);
    assert_no_children();
    teardown_env();
}


/* ---- download and send ---- */

/* The bytes test/plugins/exec/xfer.py makes up: byte i is (i * 31 + 7) & 0xFF. */
static unsigned char made_up(size_t i)
{
    return (unsigned char)((i * 31 + 7) & 0xFF);
}

/* A download's sink: the bytes kept (when keep), at most limit of them (0: no limit). */
typedef struct mem_sink {
    unsigned char *data;
    size_t len, cap, limit, calls;
    bool keep;
} mem_sink;

static int mem_write(void *ctx, const void *buf, size_t n, sr_err *err)
{
    mem_sink *s = ctx;
    s->calls++;
    if (s->limit && s->len + n > s->limit)
        return sr_err_set(err, SR_EREFUSED, false, "sent more than the %zu bytes announced",
                          s->limit);
    if (s->keep) {
        if (s->len + n > s->cap) {
            s->cap = (s->len + n) * 2;
            s->data = realloc(s->data, s->cap);
            assert_non_null(s->data);
        }
        memcpy(s->data + s->len, buf, n);
    }
    s->len += n;
    return SR_OK;
}

/* A send's source: len made-up bytes; fail_at: read fails there (0: never). */
typedef struct mem_source {
    size_t len, pos, fail_at;
} mem_source;

static long mem_read(void *ctx, void *buf, size_t n, sr_err *err)
{
    mem_source *s = ctx;
    if (s->fail_at && s->pos >= s->fail_at)
        return sr_err_set(err, SR_EIO, false, "reading the file: disk gone"), -1;
    size_t k = s->len - s->pos < n ? s->len - s->pos : n;
    for (size_t i = 0; i < k; i++)
        ((unsigned char *)buf)[i] = made_up(s->pos + i);
    s->pos += k;
    return (long)k;
}

static int download(sr_plugin_instance *pi, const char *url, mem_sink *s, sr_err *err)
{
    sr_message *m = NULL;
    assert_int_equal(sr_message_new("20261125T101010", "fake://h/", "x", &m, err), SR_OK);
    int rc = sr_plugin_download(pi, m, url, mem_write, s, err);
    sr_message_free(m);
    return rc;
}

static int send_bytes(sr_plugin_instance *pi, const char *remote, mem_source *src, sr_err *err)
{
    sr_message *m = NULL;
    assert_int_equal(sr_message_new("20261125T101010", "file:/", "x", &m, err), SR_OK);
    int rc = sr_plugin_send(pi, m, remote, mem_read, src, err);
    sr_message_free(m);
    return rc;
}

static void assert_made_up(const unsigned char *data, size_t len, size_t want)
{
    assert_int_equal(len, want);
    for (size_t i = 0; i < len; i++)
        if (data[i] != made_up(i))
            fail_msg("byte %zu is %u, not %u", i, data[i], made_up(i));
}

static void load_xfer(sr_plugin_instance *pi)
{
    sr_err err;
    if (load(pi, command("xfer.py", NULL), &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(pi->hooks, SR_PLUGIN_HOOK_DOWNLOAD | SR_PLUGIN_HOOK_SEND);
    assert_non_null(pi->schemes);
    assert_string_equal(pi->schemes[0], "fake");
    assert_null(pi->schemes[1]);
    assert_int_equal(pi->ops->start(pi, &err), SR_OK);
}

static void download_known_bytes(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    load_xfer(&pi);
    static const struct {
        const char *url;
        size_t size;
    } cases[] = {
        {"fake://h/bytes/1000003/65536", 1000003},   /* many lines, the last short */
        {"fake://h/bytes/2097152/1048576", 2097152}, /* lines at the bound */
        {"fake://h/bytes/7/1", 7},                   /* padded, line by line */
        {"fake://h/bytes/0/1", 0},                   /* no data line at all */
        {"fake://h/escaped/100000", 100000},         /* JSON of another shape */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mem_sink s = {.keep = true};
        sr_err err;
        if (download(&pi, cases[c].url, &s, &err) != SR_OK)
            fail_msg("%s: %s", cases[c].url, err.msg);
        assert_made_up(s.data, s.len, cases[c].size);
        free(s.data);
    }
    /* lines that break the protocol: the plugin is killed, the download failed */
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"fake://h/bad/pad", "with a data line that is not base64"},
        {"fake://h/bad/big", "with a data line of more than 1048576 bytes"},
        {"fake://h/bad/both", "with both data and an error"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        mem_sink s = {0};
        sr_err err;
        pi.ops->stop(&pi); /* a plugin of its own: none waits out the last one's pause */
        unload(&pi);
        load_xfer(&pi);
        assert_int_equal(download(&pi, bad[c].url, &s, &err), SR_EIO);
        assert_true(err.retryable);
        if (strstr(err.msg, bad[c].why) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[c].url, err.msg, bad[c].why);
        assert_int_equal(s.len, 0);
        assert_no_children();
    }
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    assert_log_has("download fake://h/bytes/1000003/65536");
    teardown_env();
}

/* The sink refuses (more bytes than announced): the refusal comes back as it is, the
 * plugin, out of step, is killed and reaped, and the next call starts it again at once. */
static void download_refused_by_sink(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    load_xfer(&pi);
    mem_sink s = {.limit = 100};
    sr_err err;
    assert_int_equal(download(&pi, "fake://h/bytes/5000/1000", &s, &err), SR_EREFUSED);
    assert_string_equal(err.msg, "sent more than the 100 bytes announced");
    assert_false(err.retryable);
    assert_int_equal(s.calls, 1); /* not a line more was read */
    assert_no_children();
    assert_log_has("download stopped half-way (sent more than the 100 bytes announced); "
                   "killed, as it is out of step, and started again at its next call");
    mem_sink ok = {.keep = true};
    if (download(&pi, "fake://h/bytes/300/64", &ok, &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_made_up(ok.data, ok.len, 300);
    free(ok.data);
    assert_log_has("started again (process ");
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    teardown_env();
}

/* An error line: the plugin's word, retried later; the plugin is well and stays. */
static void download_error_reply(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    load_xfer(&pi);
    mem_sink s = {.keep = true};
    sr_err err;
    assert_int_equal(download(&pi, "fake://h/error", &s, &err), SR_EIO);
    assert_true(err.retryable);
    if (strstr(err.msg, "plugin \"exec:") == NULL ||
        strstr(err.msg, "download of fake://h/error failed: no such file") == NULL)
        fail_msg("%s", err.msg);
    free(s.data);
    memset(&s, 0, sizeof s);
    s.keep = true;
    if (download(&pi, "fake://h/bytes/10/3", &s, &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_made_up(s.data, s.len, 10);
    free(s.data);
    char *log = log_text();
    assert_null(strstr(log, "killed"));
    assert_null(strstr(log, "started again"));
    free(log);
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    teardown_env();
}

/* pluginTimeout runs between lines: a download slower than it in all, but with a line
 * every 0.4 s, goes through; one that says nothing for pluginTimeout is given up. */
static void download_timeout_between_lines(void **state)
{
    (void)state;
    setup_env("2");
    sr_plugin_instance pi;
    load_xfer(&pi);
    mem_sink s = {.keep = true};
    sr_err err;
    double t0 = sr_time_mono_s();
    if (download(&pi, "fake://h/slow/8", &s, &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_true(sr_time_mono_s() - t0 > 2.5); /* longer than pluginTimeout, in all */
    assert_made_up(s.data, s.len, 8000);
    free(s.data);
    memset(&s, 0, sizeof s);
    assert_int_equal(download(&pi, "fake://h/stall", &s, &err), SR_EIO);
    assert_true(err.retryable);
    if (strstr(err.msg, "download of fake://h/stall: did not answer request") == NULL ||
        strstr(err.msg, "within pluginTimeout (2 s)") == NULL)
        fail_msg("%s", err.msg);
    assert_no_children();
    pi.ops->stop(&pi);
    unload(&pi);
    teardown_env();
}

/* The file the plugin wrote for a send to remote (under tmpdir/sent): its bytes. */
static unsigned char *sent_file(const char *remote, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/sent%s", tmpdir, remote);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    *len = fread(data, 1, (size_t)size, f);
    fclose(f);
    return data;
}

static void send_known_bytes(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    load_xfer(&pi);
    static const struct {
        const char *remote;
        size_t size;
    } cases[] = {{"/out/d/file.bin", 1000003}, {"/out/one", 1}, {"/out/empty", 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mem_source src = {.len = cases[c].size};
        sr_err err;
        if (send_bytes(&pi, cases[c].remote, &src, &err) != SR_OK)
            fail_msg("%s: %s", cases[c].remote, err.msg);
        size_t len;
        unsigned char *data = sent_file(cases[c].remote, &len);
        assert_made_up(data, len, cases[c].size);
        free(data);
    }
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    assert_log_has("send /out/d/file.bin 1000003 bytes");
    teardown_env();
}

/* An error line after the whole file: the plugin's word, and it stays. A source that
 * fails half-way: its error, as it is, and the plugin (out of step) is killed. */
static void send_errors(void **state)
{
    (void)state;
    setup_env("10");
    sr_plugin_instance pi;
    load_xfer(&pi);
    mem_source src = {.len = 600000};
    sr_err err;
    assert_int_equal(send_bytes(&pi, "/out/refuse.txt", &src, &err), SR_EIO);
    assert_true(err.retryable);
    if (strstr(err.msg, "plugin \"exec:") == NULL ||
        strstr(err.msg, "send to /out/refuse.txt failed: the remote is full") == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(src.pos, 600000);
    char *log = log_text();
    assert_null(strstr(log, "killed"));
    free(log);

    mem_source bad = {.len = 2000000, .fail_at = 600000};
    assert_int_equal(send_bytes(&pi, "/out/broken.bin", &bad, &err), SR_EIO);
    assert_string_equal(err.msg, "reading the file: disk gone");
    assert_no_children();
    assert_log_has("send stopped half-way (reading the file: disk gone); killed");

    mem_source again = {.len = 5};
    if (send_bytes(&pi, "/out/after.txt", &again, &err) != SR_OK)
        fail_msg("%s", err.msg);
    size_t len;
    unsigned char *data = sent_file("/out/after.txt", &len);
    assert_made_up(data, len, 5);
    free(data);
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    teardown_env();
}

/* A plugin that answers a large send with an error at once, then floods stderr before it
 * reads on: sr reads both while it writes, so neither waits on the other; it stops
 * sending the file, ends the request, and the plugin, in step, serves the next one. */
static void send_early_error_no_deadlock(void **state)
{
    (void)state;
    setup_env("20");
    sr_plugin_instance pi;
    load_xfer(&pi);
    mem_source src = {.len = 64u << 20};
    sr_err err;
    assert_int_equal(send_bytes(&pi, "/out/early.bin", &src, &err), SR_EIO);
    if (strstr(err.msg, "send to /out/early.bin failed: the remote refused it at once") == NULL)
        fail_msg("%s", err.msg);
    assert_true(src.pos < src.len); /* not all of the file was read */
    mem_source next = {.len = 70000};
    if (send_bytes(&pi, "/out/next.bin", &next, &err) != SR_OK)
        fail_msg("%s", err.msg);
    size_t len;
    unsigned char *data = sent_file("/out/next.bin", &len);
    assert_made_up(data, len, 70000);
    free(data);
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    char *log = log_text();
    assert_non_null(strstr(log, "noise noise"));
    assert_null(strstr(log, "killed"));
    assert_null(strstr(log, "out of step"));
    free(log);
    teardown_env();
}

/* A download of many 1 MiB data lines (the largest a line may hold) arrives whole and in
 * order. How fast is bench/'s business (make bench-plugin), not a test's. */
static void large_download_arrives_whole(void **state)
{
    (void)state;
    setup_env("30");
    size_t mib = 8;
    sr_plugin_instance pi;
    load_xfer(&pi);
    mem_sink s = {0};
    sr_err err;
    char url[64];
    snprintf(url, sizeof url, "fake://h/big/%zu", mib << 20);
    if (download(&pi, url, &s, &err) != SR_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(s.len, mib << 20);
    pi.ops->stop(&pi);
    unload(&pi);
    assert_no_children();
    teardown_env();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(handshake_good, setup, teardown),
        cmocka_unit_test_setup_teardown(handshake_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(every_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(flood_no_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_mid_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_kills_group, setup, teardown),
        cmocka_unit_test_setup_teardown(fork_after_load, setup, teardown),
        cmocka_unit_test_setup_teardown(download_known_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(download_refused_by_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(download_error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(download_timeout_between_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(send_known_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(send_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(send_early_error_no_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(large_download_arrives_whole, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
