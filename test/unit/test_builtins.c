/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * test_builtins: the built-in plugins (builtins.h) driven as a component drives them: a
 * config with `flowcb NAME` lines loaded by sr_plugins_load, started, and messages
 * placed under a scratch destination handed to the hooks through the real api table.
 * Each test asserts what a user would see: the file's destination, the baseUrl
 * announced, the rejections, the names read from a real FIFO, the mail a real SMTP
 * server (Python's smtpd, started by the test) received.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "flow.h"
#include "message.h"
#include "placement.h"
#include "plugins.h"
#include "plugins_impl.h"
#include "builtins.h"

/* send.email is a sender's: linked here (builtins.h) */
SR_BUILTIN_EMAIL_LINK;

TEST_TMPDIR_FIXTURE("sr-test-builtins")

static const char *confd(void)
{
    const char *d = getenv("SR_CONFD");
    return d ? d : "conf.d";
}

/* A component's config written from text, its plugins loaded and started. */
typedef struct setup {
    sr_config *cfg;
    sr_plugins *ps;
    sr_plugins_env env;
} loaded;

static int try_load(enum sr_component c, const char *text, loaded *s, sr_err *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    memset(s, 0, sizeof *s);
    s->env.config_dir = tmpdir;
    s->env.state_dir = tmpdir;
    sr_config_request req = {c, path, NULL, confd(), NULL, 0};
    int rc = sr_config_load(&req, &s->cfg, err);
    if (rc == SR_OK)
        rc = sr_plugins_load(s->cfg, &s->env, &s->ps, err);
    if (rc == SR_OK)
        rc = sr_plugins_start(s->ps, err);
    return rc;
}

static void load(enum sr_component c, const char *text, loaded *s)
{
    sr_err err = {0};
    if (try_load(c, text, s, &err) != SR_OK)
        fail_msg("%s", err.msg);
    const sr_strlist *refused = sr_config_refused(s->cfg);
    if (refused && refused->count)
        fail_msg("refused: %s", refused->items[0]);
}

static void unload(loaded *s)
{
    sr_plugins_stop(s->ps);
    sr_plugins_free(s->ps);
    sr_config_free(s->cfg);
}

/* A config that must not start: the error it gives. */
static void load_fails(enum sr_component c, const char *text, const char *expect)
{
    loaded s;
    sr_err err = {0};
    int rc = try_load(c, text, &s, &err);
    assert_int_not_equal(rc, SR_OK);
    if (expect && strstr(err.msg, expect) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, expect);
    sr_plugins_free(s.ps);
    sr_config_free(s.cfg);
}

/* A v03 message (extra: more JSON members, or ""), placed under tmpdir (mirror: the
 * relPath's folders kept). */
static void work_new(sr_work *w, const char *base_url, const char *rel_path, const char *extra,
                     bool mirror)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"pubTime\":\"20240102T030405.5\",\"baseUrl\":\"%s\",\"relPath\":\"%s\"%s%s}",
             base_url, rel_path, extra[0] ? "," : "", extra);
    memset(w, 0, sizeof *w);
    sr_err err = {0};
    if (sr_message_decode_v03(json, strlen(json), &w->msg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    sr_placement_rules rules = {.directory = tmpdir, .mirror = mirror};
    if (sr_placement_compute(&rules, w->msg, time(NULL), &w->placement, &err) != SR_OK)
        fail_msg("%s", err.msg);
    w->placed = true;
}

static void work_free(sr_work *w)
{
    sr_placement_fini(&w->placement);
    sr_message_free(w->msg);
}

/* after_accept on one message: its verdict. */
static enum sr_plugin_verdict accept_one(loaded *s, sr_work *w)
{
    sr_plugin_item it = {.w = w, .verdict = SR_PLUGIN_KEEP};
    sr_plugins_after_accept(s->ps, &it, 1);
    enum sr_plugin_verdict v = it.verdict;
    sr_plugin_items_fini(&it, 1);
    return v;
}

static void expect_dir(const sr_work *w, const char *sub)
{
    char want[1024];
    snprintf(want, sizeof want, "%s%s%s", tmpdir, sub[0] ? "/" : "", sub);
    assert_string_equal(w->placement.dir, want);
}

/* ---- the table ---- */

static void every_name_finds_its_plugin(void **state)
{
    (void)state;
    const char *const *names = sr_plugin_builtin_names();
    size_t n = 0;
    for (; names[n]; n++) {
        const sr_plugin *p = sr_plugin_builtin_find(names[n]);
        assert_non_null(p);
        assert_string_equal(p->name, names[n]);
        assert_int_equal(p->abi_version, SR_PLUGIN_ABI_VERSION);
        if (n > 0)
            assert_true(strcmp(names[n - 1], names[n]) < 0); /* sorted, no duplicates */
    }
    assert_true(n >= 14);
    assert_null(sr_plugin_builtin_find("accept.delete")); /* not built in: refused */
    assert_null(sr_plugin_builtin_find("log"));
    assert_null(sr_plugin_builtin_find(NULL));
}

static void sr3_long_names_load_the_builtin(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE,
         "flowcb sarracenia.flowcb.accept.httptohttps.HttpToHttps\n"
         "callback accept.renamewhatfn\n",
         &s);
    assert_int_equal(sr_plugins_count(s.ps), 2);
    assert_true(sr_plugins_have(s.ps, SR_PLUGIN_HOOK_AFTER_ACCEPT));
    unload(&s);
    load_fails(SR_C_SUBSCRIBE, "flowcb accept.nosuchthing\n", "no sr plugin named");
}

/* ---- accept.* ---- */

static void httptohttps_secures_the_base_url(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.httptohttps\n", &s);
    sr_work w;
    work_new(&w, "http://dd.weather.gc.ca/", "a/b.txt", "", false);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    assert_string_equal(sr_message_base_url(w.msg), "https://dd.weather.gc.ca/");
    work_free(&w);
    work_new(&w, "sftp://h/", "a/b.txt", "", false);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    assert_string_equal(sr_message_base_url(w.msg), "sftp://h/");
    work_free(&w);
    unload(&s);
}

static void renamewhatfn_cuts_the_name_at_its_first_colon(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.renamewhatfn\n", &s);
    sr_work w;
    work_new(&w, "http://h/", "imp/mdicp4d:pull-international-metadata:CMC:DICTIONARY:4:ASCII:1",
             "", false);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    assert_string_equal(w.placement.name, "mdicp4d");
    expect_dir(&w, "");
    work_free(&w);
    work_new(&w, "http://h/", "plain.txt", "", false); /* no colon: unchanged */
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    assert_string_equal(w.placement.name, "plain.txt");
    work_free(&w);
    unload(&s);
}

static void renamedmf_appends_the_time(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.renamedmf\n", &s);
    sr_work w;
    const char *name = "CACN00_CWAO_081900__WZS_14623:pxatx:CWAO:CA:5:Direct:20081008190602";
    char rel[256];
    snprintf(rel, sizeof rel, "b/%s", name);
    work_new(&w, "http://h/", rel, "", false);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    const char *got = w.placement.name;
    assert_int_equal(strlen(got), strlen(name) + 15);
    assert_memory_equal(got, name, strlen(name));
    assert_int_equal(got[strlen(name)], ':');
    assert_int_equal(strspn(got + strlen(name) + 1, "0123456789"), 14);
    work_free(&w);
    unload(&s);
}

static void hourtrees_add_the_hour_folder(void **state)
{
    (void)state;
    const char *confs[] = {"flowcb accept.hourtree\n", "flowcb accept.posthourtree\n"};
    for (int utc = 0; utc < 2; utc++) {
        loaded s;
        load(SR_C_SUBSCRIBE, confs[utc], &s);
        sr_work w;
        work_new(&w, "http://h/", "A/B/c.gif", "", true);
        time_t t0 = time(NULL);
        assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
        time_t t1 = time(NULL);
        char h0[64], h1[64];
        struct tm tm;
        strftime(h0, sizeof h0, "A/B/%H", utc ? gmtime_r(&t0, &tm) : localtime_r(&t0, &tm));
        strftime(h1, sizeof h1, "A/B/%H", utc ? gmtime_r(&t1, &tm) : localtime_r(&t1, &tm));
        char w0[1024], w1[1024];
        snprintf(w0, sizeof w0, "%s/%s", tmpdir, h0);
        snprintf(w1, sizeof w1, "%s/%s", tmpdir, h1);
        if (strcmp(w.placement.dir, w0) != 0) /* the hour may turn meanwhile */
            assert_string_equal(w.placement.dir, w1);
        assert_string_equal(w.placement.name, "c.gif");
        work_free(&w);
        unload(&s);
    }
}

static void toclusters_keeps_only_listed_clusters(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.toclusters\nmsgToClusters DDI\nmsgToClusters DD\n", &s);
    static const struct {
        const char *extra;
        enum sr_plugin_verdict v;
    } cases[] = {
        {"\"to_clusters\":\"DD\"", SR_PLUGIN_KEEP},
        {"\"to_clusters\":\"DDI\"", SR_PLUGIN_KEEP},
        {"\"to_clusters\":\"DDSR\"", SR_PLUGIN_REJECT},
        {"\"to_clusters\":\"DDSR,DD\"", SR_PLUGIN_KEEP},
        {"", SR_PLUGIN_REJECT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_work w;
        work_new(&w, "http://h/", "x.txt", cases[i].extra, false);
        assert_int_equal(accept_one(&s, &w), cases[i].v);
        work_free(&w);
    }
    unload(&s);
    load_fails(SR_C_SUBSCRIBE, "flowcb accept.toclusters\n", "accept.toclusters");
}

static void wmotypesuffix_names_the_file_type(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.wmotypesuffix\n", &s);
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"IUPA54_LFPW_150000", "IUPA54_LFPW_150000.bufr"},
        {"IXAA01_KWBC_150000", "IXAA01_KWBC_150000.hdf"},
        {"SACN31_CWAO_150000", "SACN31_CWAO_150000.txt"},
        {"LTAA01_CWAO_150000", "LTAA01_CWAO_150000.iwxxm"},
        {"HRPA01_KWBC_150000", "HRPA01_KWBC_150000.grib"},
        {"XWCN01_CWAO_1.cap", "XWCN01_CWAO_1.cap.txt"},
        {"GSAA01.grid", "GSAA01.grid"}, /* not twice */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_work w;
        char rel[128];
        snprintf(rel, sizeof rel, "bulletins/%s", cases[i].name);
        work_new(&w, "http://h/", rel, "", false);
        assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
        assert_string_equal(w.placement.name, cases[i].want);
        work_free(&w);
    }
    unload(&s);
}

static void printlag_only_logs(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.printlag\n", &s);
    sr_work w;
    work_new(&w, "http://h/", "x.txt", "", false);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    assert_string_equal(w.placement.name, "x.txt");
    work_free(&w);
    unload(&s);
}

static void pathreplace_moves_the_destination_and_stays_inside(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE, "flowcb accept.pathreplace\npathReplace site5,site6\n", &s);
    sr_work w;
    work_new(&w, "http://h/", "data/site5/obs/site5.txt", "", true);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    expect_dir(&w, "data/site6/obs");
    assert_string_equal(w.placement.name, "site6.txt");
    work_free(&w);
    unload(&s);

    /* a replacement that would write outside the destination is refused: rejected */
    char conf[1024];
    snprintf(conf, sizeof conf, "flowcb accept.pathreplace\npathReplace %s/data,/etc\n", tmpdir);
    load(SR_C_SUBSCRIBE, conf, &s);
    work_new(&w, "http://h/", "data/f.txt", "", true);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_REJECT);
    expect_dir(&w, "data");
    work_free(&w);
    unload(&s);

    /* v2's option name; only the directory */
    load(SR_C_SUBSCRIBE,
         "flowcb accept.pathreplace\nmsg_replace_new_dir obs,o\npathReplaceFields dir\n", &s);
    work_new(&w, "http://h/", "obs/obs.txt", "", true);
    assert_int_equal(accept_one(&s, &w), SR_PLUGIN_KEEP);
    expect_dir(&w, "o");
    assert_string_equal(w.placement.name, "obs.txt");
    work_free(&w);
    unload(&s);

    load_fails(SR_C_SUBSCRIBE, "flowcb accept.pathreplace\n", "accept.pathreplace");
    load_fails(SR_C_SUBSCRIBE, "flowcb accept.pathreplace\npathReplace a,b,c\n",
               "accept.pathreplace");
}

static void sundewpxroute_routes_as_the_table_says(void **state)
{
    (void)state;
    char table[512];
    snprintf(table, sizeof table, "%s/pxRouting.conf", tmpdir);
    FILE *f = fopen(table, "w");
    assert_non_null(f);
    fputs("# Sundew routing\n"
          "clientAlias amis navcan-amis,other\n"
          "key SACN31_CWAO amis\n"
          "key FTCN32_CWAO someoneelse\n"
          "key WACN07_CWAO navcan-amis,x\n",
          f);
    fclose(f);
    char conf[1024];
    snprintf(conf, sizeof conf, "pxRouting %s\npxClient navcan-amis\nflowcb accept.sundewpxroute\n",
             table);
    loaded s;
    load(SR_C_SUBSCRIBE, conf, &s);
    static const struct {
        const char *rel;
        enum sr_plugin_verdict v;
    } cases[] = {
        {"b/SACN31_CWAO_081900__WZS", SR_PLUGIN_KEEP},  /* through the alias */
        {"b/WACN07_CWAO_082327_CZEG", SR_PLUGIN_KEEP},  /* named */
        {"b/FTCN32_CWAO_100500_AAM", SR_PLUGIN_REJECT}, /* someone else's */
        {"b/SACN31", SR_PLUGIN_REJECT},                 /* no header */
        {"b/SACN31-CWAO_081900", SR_PLUGIN_REJECT},     /* not TTAAii_CCCC */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_work w;
        work_new(&w, "http://h/", cases[i].rel, "", false);
        assert_int_equal(accept_one(&s, &w), cases[i].v);
        work_free(&w);
    }
    unload(&s);
    load_fails(SR_C_SUBSCRIBE, "pxClient x\nflowcb accept.sundewpxroute\n", "sundewpxroute");
    load_fails(SR_C_SUBSCRIBE,
               "pxRouting /nonexistent/px\npxClient x\nflowcb accept.sundewpxroute\n",
               "sundewpxroute");
}

/* ---- destfn.* ---- */

static void destfns_name_the_file(void **state)
{
    (void)state;
    loaded s;
    load(SR_C_SUBSCRIBE,
         "flowcb destfn.sample\nflowcb destfn.replace\n"
         "destfn_replace SRCN,sssssRCCCn\ndestfn_replace _,-\n",
         &s);
    sr_work w;
    work_new(&w, "http://h/", "a/b/xSRCN_y_z.txt", "", false);
    char *name = NULL;
    sr_err err = {0};
    assert_true(sr_plugins_has_destfn(s.ps, "destfn.sample"));
    assert_int_equal(sr_plugins_destfn(s.ps, "destfn.sample", w.msg, &name, &err), SR_OK);
    assert_string_equal(name, "renamed_xSRCN_y_z.txt");
    free(name);
    name = NULL;
    assert_int_equal(
        sr_plugins_destfn(s.ps, "sarracenia.flowcb.destfn.replace.Replace", w.msg, &name, &err),
        SR_OK);
    assert_string_equal(name, "xsssssRCCCn-y_z.txt"); /* each replaces its first only */
    free(name);
    work_free(&w);
    unload(&s);
    load_fails(SR_C_SUBSCRIBE, "flowcb destfn.replace\ndestfn_replace nocomma\n", "destfn.replace");
}

/* ---- work.rxpipe ---- */

static void after_work(loaded *s, sr_work *w, size_t n, enum sr_plugin_outcome outcome)
{
    sr_plugin_item *items = calloc(n, sizeof *items);
    assert_non_null(items);
    for (size_t i = 0; i < n; i++) {
        items[i].w = &w[i];
        items[i].outcome = outcome;
    }
    sr_plugins_after_work(s->ps, items, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(items[i].verdict, SR_PLUGIN_KEEP); /* the file was received */
    sr_plugin_items_fini(items, n);
    free(items);
}

/* Whatever the FIFO holds now. */
static size_t drain(int fd, char *buf, size_t size)
{
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    return got;
}

static void rxpipe_writes_each_received_path(void **state)
{
    (void)state;
    char fifo[512], conf[1024];
    snprintf(fifo, sizeof fifo, "%s/rx.pipe", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(rd >= 0);
    snprintf(conf, sizeof conf, "flowcb work.rxpipe\nrxpipe_name %s\n", fifo);
    loaded s;
    load(SR_C_SUBSCRIBE, conf, &s);

    sr_work w[3];
    work_new(&w[0], "http://h/", "obs/a.txt", "", true);
    work_new(&w[1], "http://h/", "obs/b.txt", "", true);
    work_new(&w[2], "http://h/", "obs/failed.txt", "", true);
    after_work(&s, w, 2, SR_PLUGIN_DONE);
    after_work(&s, &w[2], 1, SR_PLUGIN_FAILED); /* not received: not written */
    char buf[1 << 17], want[2048];
    drain(rd, buf, sizeof buf);
    snprintf(want, sizeof want, "%s/obs/a.txt\n%s/obs/b.txt\n", tmpdir, tmpdir);
    assert_string_equal(buf, want);

    /* the reader goes away: no stall, nothing written; a new reader gets the next ones */
    close(rd);
    after_work(&s, w, 1, SR_PLUGIN_DONE);
    rd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(rd >= 0);
    after_work(&s, &w[1], 1, SR_PLUGIN_DONE);
    drain(rd, buf, sizeof buf);
    snprintf(want, sizeof want, "%s/obs/b.txt\n", tmpdir);
    assert_string_equal(buf, want);

    /* a reader that does not read: the pipe fills, the flow goes on, and what is in the
     * pipe is whole lines */
    enum { MANY = 4000 };
    sr_work *many = calloc(MANY, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < MANY; i++)
        many[i] = w[i % 2];
    after_work(&s, many, MANY, SR_PLUGIN_DONE);
    free(many);
    size_t got = drain(rd, buf, sizeof buf);
    assert_true(got > 0 && got < (size_t)MANY * strlen(want));
    assert_int_equal(buf[got - 1], '\n');
    char line_a[1024], line_b[1024];
    snprintf(line_a, sizeof line_a, "%s/obs/a.txt", tmpdir);
    snprintf(line_b, sizeof line_b, "%s/obs/b.txt", tmpdir);
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        assert_true(strcmp(l, line_a) == 0 || strcmp(l, line_b) == 0);
    /* room again: names flow again */
    after_work(&s, w, 1, SR_PLUGIN_DONE);
    drain(rd, buf, sizeof buf);
    snprintf(want, sizeof want, "%s/obs/a.txt\n", tmpdir);
    assert_string_equal(buf, want);

    for (int i = 0; i < 3; i++)
        work_free(&w[i]);
    unload(&s);
    close(rd);

    /* no reader at start: it starts, and names wait for one */
    load(SR_C_SUBSCRIBE, conf, &s);
    unload(&s);
}

static void rxpipe_refuses_what_is_not_a_pipe(void **state)
{
    (void)state;
    char path[512], link[512], fifo[512], conf[2048];
    snprintf(path, sizeof path, "%s/regular", tmpdir);
    snprintf(fifo, sizeof fifo, "%s/p", tmpdir);
    snprintf(link, sizeof link, "%s/link", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(fifo, link), 0);
    const char *paths[] = {path, link, "/nonexistent/x.pipe"};
    for (int i = 0; i < 3; i++) {
        snprintf(conf, sizeof conf, "flowcb work.rxpipe\nrxpipe_name %s\n", paths[i]);
        load_fails(SR_C_SUBSCRIBE, conf, "work.rxpipe");
    }
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0); /* nothing written to the regular file */
    load_fails(SR_C_SUBSCRIBE, "flowcb work.rxpipe\n", "work.rxpipe");
}

/* ---- send.email, against Python's smtpd ---- */

static const char smtp_sink[] =
    "import os, sys, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "import asyncore, smtpd\n"
    "out = sys.argv[1]\n"
    "count = [0]\n"
    "class Sink(smtpd.SMTPServer):\n"
    "    def process_message(self, peer, mailfrom, rcpttos, data, **kw):\n"
    "        count[0] += 1\n"
    "        p = os.path.join(out, 'mail.%d' % count[0])\n"
    "        with open(p + '.tmp', 'wb') as f:\n"
    "            f.write(('MAIL FROM %s\\nRCPT TO %s\\n' % (mailfrom, ','.join(rcpttos)))"
    ".encode() + data)\n"
    "        os.rename(p + '.tmp', p)\n"
    "s = Sink(('127.0.0.1', 0), None)\n"
    "print(s.socket.getsockname()[1], flush=True)\n"
    "asyncore.loop()\n";

/* Start the sink writing mails to dir: its pid, and the port in *port; -1 when there is
 * no Python with smtpd here. */
static pid_t smtp_start(const char *dir, int *port)
{
    char script[512];
    snprintf(script, sizeof script, "%s/sink.py", tmpdir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(smtp_sink, f);
    fclose(f);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl("/usr/bin/python3", "python3", script, dir, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[32] = {0};
    size_t got = 0;
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    while (got < sizeof line - 1 && strchr(line, '\n') == NULL && poll(&pfd, 1, 30000) > 0) {
        ssize_t n = read(p[0], line + got, sizeof line - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(p[0]);
    *port = atoi(line);
    if (*port <= 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static pid_t smtp_pid = -1; /* stopped by teardown_smtp when a test fails half-way */

static void smtp_stop(void)
{
    if (smtp_pid > 0) {
        kill(smtp_pid, SIGTERM);
        waitpid(smtp_pid, NULL, 0);
    }
    smtp_pid = -1;
}

static int teardown_smtp(void **state)
{
    smtp_stop();
    return teardown(state);
}

typedef struct source {
    const char *p;
    size_t left;
} source;

static long source_read(void *ctx, void *buf, size_t n, sr_err *err)
{
    (void)err;
    source *s = ctx;
    size_t k = n < s->left ? n : s->left;
    memcpy(buf, s->p, k);
    s->p += k;
    s->left -= k;
    return (long)k;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int send_file(loaded *s, const char *rel, const char *body, sr_err *err)
{
    sr_plugin_instance *pi = sr_plugins_for_scheme(s->ps, "smtp", true);
    assert_non_null(pi);
    sr_message *m = NULL;
    char json[1024];
    snprintf(json, sizeof json,
             "{\"pubTime\":\"20240102T030405\",\"baseUrl\":\"file:/\",\"relPath\":\"%s\"}", rel);
    assert_int_equal(sr_message_decode_v03(json, strlen(json), &m, err), SR_OK);
    source src = {body, strlen(body)};
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char remote[512];
    snprintf(remote, sizeof remote, "/out/%s", base);
    int rc = sr_plugin_send(pi, m, remote, source_read, &src, err);
    sr_message_free(m);
    return rc;
}

static void email_mails_each_recipient_through_the_relay(void **state)
{
    (void)state;
    char maildir[512];
    snprintf(maildir, sizeof maildir, "%s/mail", tmpdir);
    assert_int_equal(mkdir(maildir, 0700), 0);
    int port = 0;
    smtp_pid = smtp_start(maildir, &port);
    /* a test that needs a server it cannot start fails (python3's smtpd: Debian 12's 3.11) */
    if (smtp_pid < 0)
        fail_msg("could not start the test's SMTP server (python3 -m smtpd)");
    char conf[1024];
    snprintf(conf, sizeof conf,
             "sendTo smtp://127.0.0.1:%d\n"
             "flowcb send.email\n"
             "file_email_to AACN2 ops@example.com, duty@example.com\n"
             "file_email_to SACN late@example.com\n"
             "file_email_from sr@example.com\n",
             port);
    loaded s;
    load(SR_C_SENDER, conf, &s);
    sr_err err = {0};
    const char *body = "AACN27 CWAO 081900\nline two\n.a line that starts with a dot\n";
    if (send_file(&s, "bulletins/AACN27_CWAO_081900", body, &err) != SR_OK)
        fail_msg("%s", err.msg);
    /* a name no pattern matches: done, nothing sent */
    assert_int_equal(send_file(&s, "bulletins/FTCN32_CWAO_100500", "x\n", &err), SR_OK);

    const char *to[] = {"ops@example.com", "duty@example.com"};
    for (int i = 0; i < 2; i++) {
        char path[600], want[256];
        snprintf(path, sizeof path, "%s/mail.%d", maildir, i + 1);
        char *mail = read_all(path); /* smtpd wrote it before it said 250 */
        assert_non_null(mail);
        assert_non_null(strstr(mail, "MAIL FROM sr@example.com\n"));
        snprintf(want, sizeof want, "RCPT TO %s\n", to[i]);
        assert_non_null(strstr(mail, want));
        snprintf(want, sizeof want, "\nTo: %s\n", to[i]);
        assert_non_null(strstr(mail, want));
        assert_non_null(strstr(mail, "\nSubject: AACN27_CWAO_081900\n"));
        assert_non_null(strstr(mail, "\nFrom: sr@example.com\n"));
        /* smtpd gives the lines without the last line end; the dot line unstuffed */
        if (strstr(mail, "\n\nAACN27 CWAO 081900\nline two\n"
                         ".a line that starts with a dot") == NULL)
            fail_msg("body not as sent:\n%s", mail);
        free(mail);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/mail.3", maildir);
    assert_int_equal(access(path, F_OK), -1);
    unload(&s);

    /* a relay that is down: the file is not sent (retried later) */
    smtp_stop();
    load(SR_C_SENDER, conf, &s);
    assert_int_not_equal(send_file(&s, "bulletins/SACN31_CWAO", "x\n", &err), SR_OK);
    unload(&s);
}

static void email_refuses_a_relay_it_cannot_use(void **state)
{
    (void)state;
    /* a sender's plugin: refused elsewhere, saying where it belongs */
    load_fails(SR_C_SHOVEL, "flowcb send.email\nfile_email_to A a@b\n", "sr_sender only");
    load_fails(SR_C_SENDER, "sendTo sftp://h/\nflowcb send.email\nfile_email_to A a@b\n",
               "send.email");
    load_fails(SR_C_SENDER,
               "sendTo smtp://mail.example.com\nflowcb send.email\nfile_email_relay other.example\n"
               "file_email_to A a@b\n",
               "send.email");
    load_fails(SR_C_SENDER, "sendTo smtp://h\nflowcb send.email\nfile_email_to A a@b x@y\n",
               "send.email");
    load_fails(SR_C_SENDER, "sendTo smtp://h\nflowcb send.email\nfile_email_to ([ a@b\n",
               "send.email");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as every sr component does (component.c) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_name_finds_its_plugin),
        cmocka_unit_test_setup_teardown(sr3_long_names_load_the_builtin, setup, teardown),
        cmocka_unit_test_setup_teardown(httptohttps_secures_the_base_url, setup, teardown),
        cmocka_unit_test_setup_teardown(renamewhatfn_cuts_the_name_at_its_first_colon, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(renamedmf_appends_the_time, setup, teardown),
        cmocka_unit_test_setup_teardown(hourtrees_add_the_hour_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(toclusters_keeps_only_listed_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(wmotypesuffix_names_the_file_type, setup, teardown),
        cmocka_unit_test_setup_teardown(printlag_only_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(pathreplace_moves_the_destination_and_stays_inside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sundewpxroute_routes_as_the_table_says, setup, teardown),
        cmocka_unit_test_setup_teardown(destfns_name_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(rxpipe_writes_each_received_path, setup, teardown),
        cmocka_unit_test_setup_teardown(rxpipe_refuses_what_is_not_a_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(email_mails_each_recipient_through_the_relay, setup,
                                        teardown_smtp),
        cmocka_unit_test_setup_teardown(email_refuses_a_relay_it_cannot_use, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
