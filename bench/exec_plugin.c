/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench/exec_plugin: how many messages a second an exec plugin (sr-plugin(7)) takes through
 * after_accept, batched as the flow batches them, with no broker in the way: the
 * capacity of the co-process channel itself (issue 18's goal: at least 5,000 msg/s).
 * bench/plugin.py measures the same plugin inside sr_shovel, where the broker sets the
 * pace; this says how far below the plugin's own limit that pace is.
 *
 *   exec_plugin CONFD PLUGIN      (make bench-plugin)
 *
 * PLUGIN is the exec plugin's command (bench/plugin_noop_exec.py: keeps every message).
 * Messages are shovel-like v03 messages (bench/flow.py's shape: identity, size, mtime,
 * mode). Beside it, in the same run: the same batches through a built-in C plugin with
 * after_accept (accept.printlag: reads a field and logs nothing at its level), the cost
 * the loop and message handling have without a co-process. SR_BENCH_RUNS (5) runs,
 * median; SR_BENCH_BATCH (100, the default `batch`) messages a request;
 * SR_BENCH_MSGS (200000) messages a run.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "config.h"
#include "log.h"
#include "message.h"
#include "plugins.h"

#define GOAL 5000.0

/* nftw: each entry of the scratch folder, deepest first (never following a link). */
static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void die(const char *what, const sr_err *err)
{
    fprintf(stderr, "exec_plugin: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* A shovel config with the one flowcb line, loaded, its plugins loaded and started. */
static sr_plugins *start(const char *dir, const char *confd, const char *flowcb, sr_log *log,
                         sr_config **cfg)
{
    char path[8300];
    snprintf(path, sizeof path, "%s/shovel", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/shovel/b.conf", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        die(path, NULL);
    fprintf(f, "broker amqp://bench@localhost/\nexchange xbench\nflowcb %s\n", flowcb);
    fclose(f);
    sr_err err;
    sr_config_request req = {SR_C_SHOVEL, "b", dir, confd, NULL, 0};
    if (sr_config_load(&req, cfg, &err) != SR_OK)
        die("config", &err);
    sr_plugins_env env = {.config_dir = dir, .state_dir = dir, .log = log};
    sr_plugins *ps = NULL;
    if (sr_plugins_load(*cfg, &env, &ps, &err) != SR_OK)
        die(flowcb, &err);
    sr_plugins_attach(ps, log, NULL);
    if (sr_plugins_start(ps, &err) != SR_OK)
        die(flowcb, &err);
    return ps;
}

/* msgs messages through after_accept in batches; messages a second. */
static double run(sr_plugins *ps, sr_work *works, size_t count, size_t batch, long msgs)
{
    sr_plugin_item *items = calloc(batch, sizeof *items);
    if (items == NULL)
        die("out of memory", NULL);
    double t0 = sr_time_mono_s();
    for (long done = 0; done < msgs;) {
        size_t n = batch;
        for (size_t i = 0; i < n; i++) {
            items[i] = (sr_plugin_item){.w = &works[(size_t)(done + (long)i) % count]};
        }
        sr_plugins_after_accept(ps, items, n);
        for (size_t i = 0; i < n; i++)
            if (items[i].verdict != SR_PLUGIN_KEEP) {
                fprintf(stderr, "exec_plugin: message %zu not kept: %s\n", i,
                        items[i].why ? items[i].why : "");
                exit(1);
            }
        sr_plugin_items_fini(items, n);
        done += (long)n;
    }
    double rate = (double)msgs / (sr_time_mono_s() - t0);
    free(items);
    return rate;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: exec_plugin CONFD PLUGIN-COMMAND\n");
        return 2;
    }
    int runs = (int)env_long("exec_plugin", "SR_BENCH_RUNS", 5, 1, 99);
    size_t batch = (size_t)env_long("exec_plugin", "SR_BENCH_BATCH", 100, 1, 100000);
    long msgs = env_long("exec_plugin", "SR_BENCH_MSGS", 200000, 1000, 100000000);
    /* a scratch folder under $TMPDIR (else /tmp), removed at the end */
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sr-bench-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/bench.log", dir);
    sr_err err;
    sr_log_options lo = {.path = logpath, .ident = "shovel/b", .level = SR_LOG_WARNING};
    sr_log *log = sr_log_open(&lo, &err);
    if (log == NULL)
        die("log", &err);

    /* messages of the shape a shovel relays */
    size_t count = 1000;
    sr_work *works = calloc(count, sizeof *works);
    if (works == NULL)
        die("out of memory", NULL);
    for (size_t i = 0; i < count; i++) {
        char body[600];
        int len = snprintf(body, sizeof body,
                           "{\"pubTime\":\"20260301T1200%02zu.%03zu\",\"baseUrl\":"
                           "\"https://dd.example.com/\",\"relPath\":\"bench/%02zu/obs/"
                           "f%06zu.grib2\",\"identity\":{\"method\":\"sha512\",\"value\":"
                           "\"%086zu==\"},\"size\":%zu,\"mtime\":\"20260301T120000.5\","
                           "\"mode\":\"644\"}",
                           i % 60, i % 1000, i % 24, i, i, 1000 + i);
        if (sr_message_decode_v03(body, (size_t)len, &works[i].msg, &err) != SR_OK)
            die("message", &err);
    }

    char exec_line[4200];
    snprintf(exec_line, sizeof exec_line, "exec:%s", argv[2]);
    sr_config *exec_cfg = NULL, *c_cfg = NULL;
    sr_plugins *exec_ps = start(dir, argv[1], exec_line, log, &exec_cfg);
    char c_dir[4200];
    snprintf(c_dir, sizeof c_dir, "%s/c", dir);
    mkdir(c_dir, 0700);
    sr_plugins *c_ps = start(c_dir, argv[1], "accept.printlag", log, &c_cfg);

    double *exec_rates = calloc((size_t)runs, sizeof *exec_rates);
    double *c_rates = calloc((size_t)runs, sizeof *c_rates);
    if (exec_rates == NULL || c_rates == NULL)
        die("out of memory", NULL);
    run(exec_ps, works, count, batch, msgs / 10); /* warm: Python's first batches */
    for (int r = 0; r < runs; r++) {
        exec_rates[r] = run(exec_ps, works, count, batch, msgs);
        c_rates[r] = run(c_ps, works, count, batch, msgs);
    }
    double exec_rate = median(exec_rates, runs), c_rate = median(c_rates, runs);
    printf("after_accept, batches of %zu, %ld messages a run, median of %d runs\n", batch, msgs,
           runs);
    printf("  exec plugin (%s)  %9.0f msg/s  %6.1f us/msg  (goal >= %.0f: %s)\n", argv[2],
           exec_rate, 1e6 / exec_rate, GOAL, exec_rate >= GOAL ? "met" : "MISSED");
    printf("  built-in C plugin (accept.printlag)  %9.0f msg/s  %6.2f us/msg  ratio exec/C %.3f\n",
           c_rate, 1e6 / c_rate, exec_rate / c_rate);

    sr_plugins_stop(exec_ps);
    sr_plugins_stop(c_ps);
    sr_plugins_free(exec_ps);
    sr_plugins_free(c_ps);
    sr_config_free(exec_cfg);
    sr_config_free(c_cfg);
    for (size_t i = 0; i < count; i++)
        sr_message_free(works[i].msg);
    free(works);
    free(exec_rates);
    free(c_rates);
    sr_log_close(log);
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : 1;
}
