/* SPDX-License-Identifier: GPL-2.0-only */
/* test_flow: the flow's ack contract, against the in-process broker (broker_mem.h).
 *
 * What the flow promises (flow.h): a message from the broker is acked only once its work
 * is done and its post confirmed, or once it is safely in a retry queue on disk; a crash
 * at any point loses nothing that was acked; a message that is malformed or rejected is
 * acked exactly once. Each test runs a real flow (config, retry queues, placement) with a
 * hub whose hook sees every step, checks the promise at each ack, and can crash the
 * broker connection at any step. */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "broker_mem.h"
#include "flow.h"
#include "timefmt.h"

#define MSGS_MAX 64
#define EVENTS_MAX 200000 /* a flow that has not finished after this many steps is stuck */

typedef struct fixture {
    char dir[256];      /* everything of this test */
    char instance[512]; /* the flow's state folder: retry queues */
    char snapshot[512]; /* the state folder as it was at a crash */
    sr_paths paths;
    sr_config *cfg;
    sr_log *log;
    sr_metrics *metrics;
    sr_mem_hub *hub;
    volatile sig_atomic_t stop, reopen;

    size_t count;                 /* messages injected */
    char rel[MSGS_MAX][64];       /* their relPaths, by id */
    unsigned work_calls[MSGS_MAX];
    unsigned fail_first[MSGS_MAX]; /* the work step fails this many times first */
    bool never_posted[MSGS_MAX];   /* malformed or rejected: acked without a post */

    size_t events;      /* calls of the hook */
    size_t steps;       /* deliveries, sends, confirms and acks: a pass's steps */
    size_t crash_at;    /* crash the broker at this step (0: never) */
    bool crashed;
    size_t acked_before_crash;
    char violation[512]; /* the first broken promise, or "" */
    /* the window: a delivery of a later pass while posts of an earlier one await their
     * confirm */
    size_t sent_unconfirmed;
    bool delivered_while_unconfirmed;
    /* the post window's bounds: the most deliveries unacked and posts unconfirmed at once,
     * and whether every ack came in delivery order */
    size_t max_unacked, max_unconfirmed;
    size_t acks_seen, last_acked;
    bool acks_out_of_order;
    double run_at_least; /* seconds the flow runs before the hook may stop it */
    double started;
} fixture;

/* ---- set up ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void load_config(fixture *fx, const char *extra)
{
    char path[600], confdir[300];
    snprintf(confdir, sizeof confdir, "%s/config", fx->dir);
    snprintf(path, sizeof path, "%s/shovel", confdir);
    mkdir(confdir, 0700);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/shovel/t.conf", confdir);
    char text[2048];
    snprintf(text, sizeof text,
             "broker mem://tester@hub/\n"
             "exchange xin\n"
             "post_broker mem://tester@hub/\n"
             "post_exchange xout\n"
             "batch 4\n"
             "prefetch 8\n"
             "retryDelay 0.01\n"
             "housekeeping 3600\n"
             "%s",
             extra ? extra : "");
    write_file(path, text);
    const char *confd = getenv("SR_CONFD");
    sr_config_request req = {SR_C_SHOVEL, "t", confdir, confd ? confd : "conf.d", NULL, 0};
    sr_err err;
    if (sr_config_load(&req, &fx->cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
}

static fixture *fixture_new(const char *extra)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    test_tmp_template(fx->dir, sizeof fx->dir, "sr_test_flow");
    assert_non_null(mkdtemp(fx->dir));
    char state[300], metrics[300], logpath[300];
    snprintf(state, sizeof state, "%s/state", fx->dir);
    snprintf(metrics, sizeof metrics, "%s/state/metrics", fx->dir);
    snprintf(logpath, sizeof logpath, "%s/flow.log", fx->dir);
    fx->paths.state_dir = strdup(state);
    fx->paths.metrics_dir = strdup(metrics);
    snprintf(fx->instance, sizeof fx->instance, "%s/shovel/t", state);
    snprintf(fx->snapshot, sizeof fx->snapshot, "%s/snapshot", fx->dir);
    load_config(fx, extra);
    sr_log_options lo = {.path = logpath, .ident = "shovel/t_00", .level = SR_LOG_DEBUG};
    sr_err err;
    fx->log = sr_log_open(&lo, &err);
    assert_non_null(fx->log);
    fx->metrics = sr_metrics_new("shovel", "t", 0, 0);
    assert_non_null(fx->metrics);
    fx->hub = sr_mem_hub_new();
    assert_non_null(fx->hub);
    return fx;
}

static void fixture_free(fixture *fx)
{
    sr_mem_hub_free(fx->hub);
    sr_metrics_free(fx->metrics);
    sr_log_close(fx->log);
    sr_config_free(fx->cfg);
    free(fx->paths.state_dir);
    free(fx->paths.metrics_dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
}

static void inject(fixture *fx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t id;
        char body[256];
        snprintf(fx->rel[fx->count], sizeof fx->rel[0], "d/f%02zu.txt", fx->count);
        snprintf(body, sizeof body,
                 "{\"pubTime\":\"20261206T051000\",\"baseUrl\":\"http://example.com/\","
                 "\"relPath\":\"%s\"}",
                 fx->rel[fx->count]);
        sr_err err;
        assert_int_equal(sr_mem_hub_inject(fx->hub, "v03.d", "application/json", body, &id, &err),
                         SR_OK);
        assert_int_equal(id, fx->count);
        fx->count++;
    }
}

/* ---- what the promise means ---- */

static char *rel_path_of(const char *body)
{
    const char *key = "\"relPath\":";
    const char *at = strstr(body, key);
    if (at == NULL)
        return NULL;
    at += strlen(key);
    while (*at == ' ' || *at == '"')
        at++;
    size_t n = strcspn(at, "\"");
    return strndup(at, n);
}

static bool confirmed(const fixture *fx, const char *rel)
{
    for (size_t i = 0; i < sr_mem_hub_published_count(fx->hub); i++) {
        const sr_mem_published *p = sr_mem_hub_published(fx->hub, i);
        if (!p->confirmed)
            continue;
        char *r = rel_path_of(p->body);
        /* a WIS2 notification has no relPath: its link's href ends with it */
        bool same = r != NULL ? strcmp(r, rel) == 0 : strstr(p->body, rel) != NULL;
        free(r);
        if (same)
            return true;
    }
    return false;
}

/* Is rel in the retry queue file `name` of the state folder, as written so far? */
static bool queued_on_disk(const fixture *fx, const char *name, const char *rel)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", fx->instance, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char needle[128];
    snprintf(needle, sizeof needle, "\"%s\"", rel);
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, "\"retry\"") != NULL && strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static bool safe(const fixture *fx, const char *rel)
{
    return confirmed(fx, rel) || queued_on_disk(fx, "retry_work_00.jsonl", rel) ||
           queued_on_disk(fx, "retry_post_00.jsonl", rel);
}

static bool all_confirmed(const fixture *fx)
{
    for (size_t i = 0; i < fx->count; i++)
        if (!fx->never_posted[i] && !confirmed(fx, fx->rel[i]))
            return false;
    return true;
}

/* Copy every file of the state folder (flat) into the snapshot folder: the disk as a
 * kill -9 at this instant would leave it. */
static void snapshot_state(fixture *fx)
{
    mkdir(fx->snapshot, 0700);
    DIR *d = opendir(fx->instance);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char from[800], to[800], buf[8192];
        snprintf(from, sizeof from, "%s/%s", fx->instance, e->d_name);
        snprintf(to, sizeof to, "%s/%s", fx->snapshot, e->d_name);
        int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ssize_t n;
        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
            assert_int_equal(write(out, buf, (size_t)n), n);
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
    closedir(d);
}

static void restore_state(fixture *fx)
{
    char cmd[1800];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/* && cp '%s'/* '%s'/ 2>/dev/null; rm -rf '%s'",
             fx->instance, fx->snapshot, fx->instance, fx->snapshot);
    assert_int_equal(system(cmd) >= 0, 1);
}

/* ---- the hook: every step of the broker ---- */

static void hook(void *ctx, sr_mem_hub *hub, enum sr_mem_event event, size_t which)
{
    fixture *fx = ctx;
    fx->events++;
    if (fx->events > EVENTS_MAX) {
        snprintf(fx->violation, sizeof fx->violation, "the flow did not finish in %d steps",
                 EVENTS_MAX);
        fx->stop = 1;
    }
    if (event != SR_MEM_CONSUME && event != SR_MEM_CONNECT)
        fx->steps++; /* how often a flow asks for more (CONSUME) depends on timing */
    if (fx->crash_at != 0 && fx->steps == fx->crash_at && !fx->crashed) {
        snapshot_state(fx);
        sr_mem_hub_crash(hub);
        fx->crashed = true;
        fx->stop = 1;
        return;
    }
    switch (event) {
    case SR_MEM_ACK:
        if (fx->acks_seen++ > 0 && which < fx->last_acked)
            fx->acks_out_of_order = true;
        fx->last_acked = which;
        if (!sr_mem_hub_crashed(hub) && which < fx->count && fx->violation[0] == '\0' &&
            !fx->never_posted[which] && !safe(fx, fx->rel[which]))
            snprintf(fx->violation, sizeof fx->violation,
                     "%s acked at step %zu before its post was confirmed or it was queued on disk",
                     fx->rel[which], fx->steps);
        break;
    case SR_MEM_SEND:
        fx->sent_unconfirmed++;
        if (fx->sent_unconfirmed > fx->max_unconfirmed)
            fx->max_unconfirmed = fx->sent_unconfirmed;
        break;
    case SR_MEM_CONFIRM:
        if (fx->sent_unconfirmed > 0)
            fx->sent_unconfirmed--;
        break;
    case SR_MEM_DELIVER:
        if (fx->sent_unconfirmed > 0)
            fx->delivered_while_unconfirmed = true;
        /* called before the delivery takes effect: it is one more unacked */
        if (sr_mem_hub_unacked(hub) + 1 > fx->max_unacked)
            fx->max_unacked = sr_mem_hub_unacked(hub) + 1;
        break;
    case SR_MEM_CONSUME:
        /* everything handed out has been acked and every message is posted: done */
        if (sr_mem_hub_ready(hub) == 0 && sr_mem_hub_unacked(hub) == 0 && all_confirmed(fx) &&
            sr_time_now_s() - fx->started >= fx->run_at_least)
            fx->stop = 1;
        break;
    case SR_MEM_CONNECT:
        break;
    }
}

/* ---- a work step that fails as told ---- */

static int id_of(const fixture *fx, const sr_message *m)
{
    for (size_t i = 0; i < fx->count; i++)
        if (strcmp(fx->rel[i], sr_message_rel_path(m)) == 0)
            return (int)i;
    return -1;
}

static enum sr_work_result flaky_work(void *ctx, sr_work *w, sr_err *err)
{
    fixture *fx = ctx;
    int id = id_of(fx, w->msg);
    if (id < 0)
        return SR_WORK_OK;
    if (fx->work_calls[id]++ < fx->fail_first[id]) {
        sr_err_set(err, SR_EIO, true, "remote said no (attempt %u)", fx->work_calls[id]);
        return SR_WORK_RETRY;
    }
    return SR_WORK_OK;
}

/* Run one flow over the hub until the hook stops it. */
static void run_flow(fixture *fx, bool with_work)
{
    sr_flow_services svc = {.cfg = fx->cfg,
                            .paths = &fx->paths,
                            .instance = 0,
                            .log = fx->log,
                            .metrics = fx->metrics};
    sr_flow_component comp = {.mem_hub = fx->hub};
    if (with_work) {
        comp.work = flaky_work;
        comp.ctx = fx;
    }
    sr_flow *flow = NULL;
    sr_err err;
    if (sr_flow_new(&svc, &comp, &flow, &err) != SR_OK)
        fail_msg("sr_flow_new: %s", err.msg);
    sr_mem_hub_set_hook(fx->hub, hook, fx);
    fx->stop = 0;
    fx->started = sr_time_now_s();
    assert_int_equal(sr_flow_run(flow, &fx->stop, &fx->reopen), SR_OK);
    sr_flow_free(flow);
    sr_mem_hub_set_hook(fx->hub, NULL, NULL);
}

static void assert_kept(const fixture *fx)
{
    if (fx->violation[0] != '\0')
        fail_msg("%s", fx->violation);
}

/* ---- the tests ---- */

/* A shovel: each message acked only after the broker confirmed its re-post, each acked
 * exactly once; with prefetch 8 and passes of 4 the next pass is taken while the posts
 * of the one before await their confirms (the window). */
static void acks_come_after_confirms(void **state)
{
    (void)state;
    fixture *fx = fixture_new(NULL);
    inject(fx, 20);
    run_flow(fx, false);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++) {
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
        assert_true(confirmed(fx, fx->rel[i]));
    }
    assert_int_equal(sr_mem_hub_published_count(fx->hub), 20);
    assert_true(fx->delivered_while_unconfirmed);
    fixture_free(fx);
}

/* A shovel (no work step) keeps several full passes awaiting their confirms, up to
 * postWindow messages, and the broker may send prefetch + postWindow unacked: prefetch 8,
 * passes of 4, postWindow 12 -> more than one pass's posts unconfirmed at once, more
 * than prefetch unacked, never more than 20; acks still in delivery order, each after its
 * confirm. */
static void the_post_window_holds_several_passes(void **state)
{
    (void)state;
    fixture *fx = fixture_new("postWindow 12\n");
    inject(fx, 40);
    run_flow(fx, false);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++) {
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
        assert_true(confirmed(fx, fx->rel[i]));
    }
    assert_false(fx->acks_out_of_order);
    assert_true(fx->max_unconfirmed > 4);
    assert_true(fx->max_unacked > 8);
    assert_true(fx->max_unacked <= 8 + 12);
    fixture_free(fx);
}

/* postWindow 0: a pass is settled before the next is taken. */
static void post_window_zero_settles_each_pass(void **state)
{
    (void)state;
    fixture *fx = fixture_new("postWindow 0\n");
    inject(fx, 12);
    run_flow(fx, false);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++)
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
    assert_false(fx->delivered_while_unconfirmed);
    assert_true(fx->max_unconfirmed <= 4);
    fixture_free(fx);
}

/* A consumer with a work step (download, send): prefetch is what shares the work out
 * between instances, so the broker never sends more than prefetch unacked, whatever
 * postWindow says; passes of half of it still overlap. */
static void a_consumer_with_work_keeps_to_prefetch(void **state)
{
    (void)state;
    fixture *fx = fixture_new("postWindow 100\n");
    inject(fx, 24);
    run_flow(fx, true);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++)
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
    assert_false(fx->acks_out_of_order);
    assert_true(fx->max_unacked <= 8);
    assert_true(fx->delivered_while_unconfirmed);
    fixture_free(fx);
}

/* Publishes the broker refuses go to the post retry queue (on disk before the ack) and
 * are posted again later. */
static void refused_posts_are_queued_then_posted(void **state)
{
    (void)state;
    fixture *fx = fixture_new(NULL);
    inject(fx, 10);
    sr_mem_hub_refuse_publishes(fx->hub, 3);
    run_flow(fx, false);
    assert_kept(fx);
    size_t refused = 0;
    for (size_t i = 0; i < sr_mem_hub_published_count(fx->hub); i++)
        refused += sr_mem_hub_published(fx->hub, i)->refused;
    assert_int_equal(refused, 3);
    for (size_t i = 0; i < fx->count; i++) {
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
        assert_true(confirmed(fx, fx->rel[i]));
    }
    fixture_free(fx);
}

/* Work that fails goes to the work retry queue (on disk before the ack), is taken back
 * and, once it succeeds, posted. */
static void failed_work_round_trips_through_the_retry_queue(void **state)
{
    (void)state;
    fixture *fx = fixture_new(NULL);
    inject(fx, 8);
    fx->fail_first[1] = 1;
    fx->fail_first[5] = 3;
    run_flow(fx, true);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++) {
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
        assert_true(confirmed(fx, fx->rel[i]));
    }
    assert_int_equal(fx->work_calls[1], 2);
    assert_int_equal(fx->work_calls[5], 4);
    assert_int_equal(fx->work_calls[0], 1);
    fixture_free(fx);
}

/* A body that is not a message and a message a reject line refuses are acked once each
 * and posted never; the others flow on. */
static void malformed_and_rejected_are_acked_once(void **state)
{
    (void)state;
    fixture *fx = fixture_new("reject .*f01.*\naccept .*\n");
    inject(fx, 4);
    size_t bad;
    sr_err err;
    assert_int_equal(sr_mem_hub_inject(fx->hub, "v03.x", "application/json", "{not json", &bad,
                                       &err),
                     SR_OK);
    /* the hook's rel table: the malformed one and the rejected one are never posted */
    snprintf(fx->rel[bad], sizeof fx->rel[0], "(malformed)");
    fx->count = bad + 1;
    fx->never_posted[1] = fx->never_posted[bad] = true;
    run_flow(fx, false);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++)
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
    assert_false(confirmed(fx, fx->rel[1]));
    assert_int_equal(sr_mem_hub_published_count(fx->hub), 3);
    fixture_free(fx);
}

/* Count the steps of a clean run of the crash scenario, then crash the broker at each of
 * them in turn (the disk as a kill -9 would leave it at that instant) and restart: every
 * message is posted in the end, whatever was acked before the crash. */
static void a_crash_at_any_step_loses_nothing(void **state)
{
    (void)state;
    size_t steps = 0;
    for (size_t crash_at = 0;; crash_at++) {
        fixture *fx = fixture_new(NULL);
        inject(fx, 6);
        fx->fail_first[2] = 1;
        sr_mem_hub_refuse_publishes(fx->hub, 1);
        fx->crash_at = crash_at;
        run_flow(fx, true);
        assert_kept(fx);
        if (crash_at == 0) {
            steps = fx->steps;
            assert_int_equal(steps, 6 + 7 + 7 + 6); /* deliveries, sends, confirms, acks */
        } else {
            if (!fx->crashed)
                fail_msg("crash at step %zu of %zu: never reached", crash_at, steps);
            restore_state(fx);
            sr_mem_hub_revive(fx->hub);
            fx->crash_at = 0;
            run_flow(fx, true);
            assert_kept(fx);
        }
        for (size_t i = 0; i < fx->count; i++)
            if (!confirmed(fx, fx->rel[i]))
                fail_msg("crash at step %zu of %zu: %s never posted", crash_at, steps, fx->rel[i]);
        assert_int_equal(sr_mem_hub_ready(fx->hub), 0);
        assert_int_equal(sr_mem_hub_unacked(fx->hub), 0);
        fixture_free(fx);
        if (crash_at > 0 && crash_at >= steps)
            break;
    }
}

/* ---- options acted on in the flow ---- */

/* A message with a body of our own: fields (JSON members, without braces) after pubTime,
 * baseUrl and relPath. */
static void inject_rel(fixture *fx, const char *rel, const char *fields)
{
    size_t id;
    char body[1024];
    snprintf(fx->rel[fx->count], sizeof fx->rel[0], "%s", rel);
    snprintf(body, sizeof body,
             "{\"pubTime\":\"20261206T051000\",\"baseUrl\":\"http://example.com/\","
             "\"relPath\":\"%s\"%s%s}",
             fx->rel[fx->count], fields[0] ? "," : "", fields);
    sr_err err;
    assert_int_equal(sr_mem_hub_inject(fx->hub, "v03.d", "application/json", body, &id, &err),
                     SR_OK);
    fx->count++;
}

static void inject_with(fixture *fx, const char *fields)
{
    char rel[64];
    snprintf(rel, sizeof rel, "d/f%02zu.txt", fx->count);
    inject_rel(fx, rel, fields);
}

/* The published message i, decoded (caller json_decref's). */
static json_t *published_json(const fixture *fx, size_t i)
{
    const sr_mem_published *p = sr_mem_hub_published(fx->hub, i);
    json_error_t jerr;
    json_t *o = json_loads(p->body, 0, &jerr);
    assert_non_null(o);
    return o;
}

static const char *field_of(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static bool log_has(const fixture *fx, const char *text)
{
    char path[300], line[4096];
    snprintf(path, sizeof path, "%s/flow.log", fx->dir);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, text) != NULL;
    if (f != NULL)
        fclose(f);
    return found;
}

/* The source field a shovel posts, as sr3 sets it on receipt: by default the post_broker
 * user's (whatever the message said), `source` when set, the message's own with
 * sourceFromMessage, and none with sourceFromExchange when the exchange is not xs_...
 * (the in-process broker's exchange is ""). */
static void source_is_set_on_receipt_as_sr3_does(void **state)
{
    (void)state;
    static const struct {
        const char *extra, *want; /* want NULL: no source field */
    } cases[] = {
        {"", "tester"},
        {"source bob\n", "bob"},
        {"sourceFromMessage on\n", "alice"},
        {"sourceFromExchange on\n", NULL},
        {"source bob\nsourceFromMessage on\n", "alice"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture *fx = fixture_new(cases[c].extra);
        inject_with(fx, "\"source\":\"alice\"");
        run_flow(fx, false);
        assert_kept(fx);
        assert_int_equal(sr_mem_hub_published_count(fx->hub), 1);
        json_t *o = published_json(fx, 0);
        const char *got = field_of(o, "source");
        if (cases[c].want == NULL) {
            if (got != NULL)
                fail_msg("%s: source %s, want none", cases[c].extra, got);
        } else if (got == NULL || strcmp(got, cases[c].want) != 0) {
            fail_msg("%s: source %s, want %s", cases[c].extra, got ? got : "(none)", cases[c].want);
        }
        json_decref(o);
        fixture_free(fx);
    }
}

/* inlineOnly: a message whose data is not inline is dropped (acked, not posted); one
 * with content and a fileOp (no data to carry) go on. */
static void inline_only_drops_what_is_not_inline(void **state)
{
    (void)state;
    fixture *fx = fixture_new("inlineOnly on\nlogReject on\n");
    inject_with(fx, "\"size\":3,\"content\":{\"encoding\":\"utf-8\",\"value\":\"abc\"}");
    inject_with(fx, "\"size\":3");
    inject_with(fx, "\"fileOp\":{\"remove\":\"\"}");
    fx->never_posted[1] = true;
    run_flow(fx, false);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++)
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
    assert_int_equal(sr_mem_hub_published_count(fx->hub), 2);
    assert_true(confirmed(fx, fx->rel[0]));
    assert_false(confirmed(fx, fx->rel[1]));
    assert_true(confirmed(fx, fx->rel[2]));
    assert_true(log_has(fx, "inlineOnly"));
    fixture_free(fx);
}

/* dry_run: the work step (a transfer) is never run, yet every message is posted and acked
 * as sr3 does, each logged as not transferred. */
static void dry_run_posts_without_work(void **state)
{
    (void)state;
    fixture *fx = fixture_new("dry_run on\n");
    inject(fx, 5);
    fx->fail_first[2] = 5; /* would go to the retry queue if the work ran */
    run_flow(fx, true);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++) {
        assert_int_equal(fx->work_calls[i], 0);
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
        assert_true(confirmed(fx, fx->rel[i]));
    }
    assert_true(log_has(fx, "dry_run: d/f02.txt not transferred"));
    fixture_free(fx);
}

/* report on: one report per message, to xr_<broker user> (or report_exchange, or xreport
 * for the feeder), topic v03 + folders, the message in v03 with a report field {code,
 * timeCompleted, message} and no content: 201 for one passed on, 404 for one no accept
 * line takes, 304 for a duplicate. The posts go on as before. */
static void reports_go_to_the_report_exchange(void **state)
{
    (void)state;
    static const struct {
        const char *extra, *exchange;
    } cases[] = {
        {"", "xr_tester"},
        {"report_exchange xmine\n", "xmine"},
        {"feeder mem://tester@hub/\n", "xreport"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char extra[512];
        snprintf(extra, sizeof extra, "%sreport on\nnodupe_ttl 300\nreject .*f01.*\naccept .*\n",
                 cases[c].extra);
        fixture *fx = fixture_new(extra);
        inject_with(fx, "\"size\":3,\"content\":{\"encoding\":\"utf-8\",\"value\":\"abc\"}");
        inject_with(fx, "\"size\":4");
        inject_rel(fx, fx->rel[0], /* a duplicate of f00 */
                   "\"size\":3,\"content\":{\"encoding\":\"utf-8\",\"value\":\"abc\"}");
        fx->never_posted[1] = fx->never_posted[2] = true;
        run_flow(fx, false);
        assert_kept(fx);
        size_t posts = 0, reports = 0;
        int codes[3] = {0};
        for (size_t i = 0; i < sr_mem_hub_published_count(fx->hub); i++) {
            const sr_mem_published *p = sr_mem_hub_published(fx->hub, i);
            if (strcmp(p->exchange, "xout") == 0) {
                posts++;
                continue;
            }
            assert_string_equal(p->exchange, cases[c].exchange);
            assert_string_equal(p->topic, "v03.d");
            assert_string_equal(p->content_type, "application/json");
            json_t *o = published_json(fx, i);
            json_t *r = json_object_get(o, "report");
            assert_true(json_is_object(r));
            assert_true(json_is_integer(json_object_get(r, "code")));
            assert_non_null(json_string_value(json_object_get(r, "timeCompleted")));
            assert_non_null(json_string_value(json_object_get(r, "message")));
            assert_null(json_object_get(o, "content"));
            assert_string_equal(field_of(o, "source"), "tester");
            if (reports < 3)
                codes[reports] = (int)json_integer_value(json_object_get(r, "code"));
            reports++;
            json_decref(o);
        }
        assert_int_equal(posts, 1);
        assert_int_equal(reports, 3);
        /* in the order of the pass: f00 passed on, f01 unmatched, f00 again a duplicate */
        assert_int_equal(codes[0], 201);
        assert_int_equal(codes[1], 404);
        assert_int_equal(codes[2], 304);
        fixture_free(fx);
    }
}

/* messageRateMin: a warning at housekeeping when fewer messages per second came in over
 * the interval; none when the rate is above it. */
static void message_rate_min_warns_when_below(void **state)
{
    (void)state;
    static const struct {
        const char *extra;
        bool warned;
    } cases[] = {
        {"housekeeping 0.2\nmessageRateMin 1000\n", true},
        {"housekeeping 0.2\n", false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture *fx = fixture_new(cases[c].extra);
        inject(fx, 4);
        fx->run_at_least = 0.6;
        run_flow(fx, false);
        assert_kept(fx);
        assert_true(log_has(fx, "housekeeping:"));
        if (log_has(fx, "below the minimum message rate") != cases[c].warned)
            fail_msg("%s: warned %d, want %d", cases[c].extra, !cases[c].warned, cases[c].warned);
        fixture_free(fx);
    }
}

/* post_format wis (sr-config(5), WIS2), a relay from origin to cache: each message posts
 * as a WNM under the new exchange with the subtopic it came with, data_id and
 * metadata_id filled where it has none; one whose topic is not a WIS2 one is refused
 * (logged with the level, acked, never posted); the duplicate cache keys on data_id: an
 * older pubTime is a duplicate, a newer one an update that posts. */
static void wis2_relay_posts_under_the_new_channel(void **state)
{
    (void)state;
    fixture *fx = fixture_new("topicPrefix a.wis2\npost_exchange cache\npost_topicPrefix a.wis2\n"
                              "post_format wis\nwisCentreId ca-x\n"
                              "wisMetadataId urn:wmo:md:ca-x:relay\nnodupe_ttl 300\n");
    static const struct {
        const char *topic, *pub, *fields;
        bool posted;
    } in[] = {
        {"a.wis2.ca-y.data.core.weather.s", "20261206T230000", "", true},
        {"a.wis2.ca-y.data.core.wether.s", "20261206T230000", "", false},
        {"a.wis2.ca-y.data.core.weather.s", "20261206T230000", ",\"data_id\":\"ca-y/p1\"", true},
        {"a.wis2.ca-y.data.core.weather.s", "20261206T225900", ",\"data_id\":\"ca-y/p1\"", false},
        {"a.wis2.ca-y.data.core.weather.s", "20261206T230100", ",\"data_id\":\"ca-y/p1\"", true},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char body[1024];
        size_t id;
        sr_err err;
        snprintf(fx->rel[fx->count], sizeof fx->rel[0], "d/f%02zu.txt", fx->count);
        snprintf(body, sizeof body,
                 "{\"pubTime\":\"%s\",\"baseUrl\":\"http://example.com/\",\"relPath\":\"%s\","
                 "\"size\":3%s}",
                 in[i].pub, fx->rel[fx->count], in[i].fields);
        assert_int_equal(
            sr_mem_hub_inject(fx->hub, in[i].topic, "application/json", body, &id, &err), SR_OK);
        fx->never_posted[fx->count] = !in[i].posted;
        fx->count++;
    }
    /* a WNM relayed: its own id (WIS2's loop detection), data_id, metadata_id and geometry */
    const char *wnm =
        "{\"id\":\"31e9d66a-cd83-4174-9429-b932f1abcdef\",\"conformsTo\":"
        "[\"http://wis.wmo.int/spec/wnm/1/conf/core\"],\"type\":\"Feature\",\"geometry\":null,"
        "\"properties\":{\"pubtime\":\"2026-12-06T23:00:00Z\",\"datetime\":null,"
        "\"data_id\":\"ca-y/data/core/weather/w.txt\",\"metadata_id\":\"urn:wmo:md:ca-y:obs\"},"
        "\"links\":[{\"href\":\"http://example.com/d/f05.txt\",\"rel\":\"canonical\"}]}";
    size_t wnm_id;
    sr_err err;
    snprintf(fx->rel[fx->count], sizeof fx->rel[0], "d/f05.txt");
    assert_int_equal(sr_mem_hub_inject(fx->hub, "a.wis2.ca-y.data.core.weather.s",
                                       "application/geo+json", wnm, &wnm_id, &err),
                     SR_OK);
    fx->count++;
    run_flow(fx, false);
    assert_kept(fx);
    for (size_t i = 0; i < fx->count; i++)
        assert_int_equal(sr_mem_hub_acks_of(fx->hub, i), 1);
    assert_int_equal(sr_mem_hub_published_count(fx->hub), 4);
    const char *data_ids[] = {"ca-y/data/core/weather/s/f00.txt", "ca-y/p1", "ca-y/p1"};
    for (size_t i = 0; i < 3; i++) {
        const sr_mem_published *p = sr_mem_hub_published(fx->hub, i);
        assert_string_equal(p->exchange, "cache");
        assert_string_equal(p->topic, "a.wis2.ca-y.data.core.weather.s");
        assert_string_equal(p->content_type, "application/geo+json");
        json_t *o = published_json(fx, i);
        assert_string_equal(field_of(o, "type"), "Feature");
        json_t *props = json_object_get(o, "properties");
        assert_string_equal(field_of(props, "data_id"), data_ids[i]);
        assert_string_equal(field_of(props, "metadata_id"), "urn:wmo:md:ca-x:relay");
        assert_null(json_object_get(props, "subtopic"));
        assert_null(json_object_get(o, "subtopic"));
        json_decref(o);
    }
    json_t *o = published_json(fx, 3);
    assert_string_equal(sr_mem_hub_published(fx->hub, 3)->topic, "a.wis2.ca-y.data.core.weather.s");
    assert_string_equal(field_of(o, "id"), "31e9d66a-cd83-4174-9429-b932f1abcdef");
    assert_true(json_is_null(json_object_get(o, "geometry")));
    json_t *props = json_object_get(o, "properties");
    assert_string_equal(field_of(props, "data_id"), "ca-y/data/core/weather/w.txt");
    assert_string_equal(field_of(props, "metadata_id"), "urn:wmo:md:ca-y:obs");
    json_decref(o);
    assert_true(confirmed(fx, fx->rel[4])); /* the update, not the older one */
    assert_false(confirmed(fx, fx->rel[3]));
    assert_true(log_has(fx, "refused d/f01.txt: exchange cache topic "
                            "a.wis2.ca-y.data.core.wether.s: level 7 (earth-system-discipline)"));
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acks_come_after_confirms),
        cmocka_unit_test(the_post_window_holds_several_passes),
        cmocka_unit_test(post_window_zero_settles_each_pass),
        cmocka_unit_test(a_consumer_with_work_keeps_to_prefetch),
        cmocka_unit_test(refused_posts_are_queued_then_posted),
        cmocka_unit_test(failed_work_round_trips_through_the_retry_queue),
        cmocka_unit_test(malformed_and_rejected_are_acked_once),
        cmocka_unit_test(a_crash_at_any_step_loses_nothing),
        cmocka_unit_test(source_is_set_on_receipt_as_sr3_does),
        cmocka_unit_test(inline_only_drops_what_is_not_inline),
        cmocka_unit_test(dry_run_posts_without_work),
        cmocka_unit_test(reports_go_to_the_report_exchange),
        cmocka_unit_test(message_rate_min_warns_when_below),
        cmocka_unit_test(wis2_relay_posts_under_the_new_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
