/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * component: see component.h.
 *
 * The flow (flow.h) runs for the components whose steps exist: post (localsource.h),
 * watch (watch.h), shovel and winnow (broker to broker), and the components whose executable
 * gives a work step (component.h: subscribe and sarra download, sender sends). The others
 * still load and check their configuration and then say plainly that this build cannot run
 * them, exiting 3: a user is never told a config runs when it does not.
 */
#include "component.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <unistd.h>

#include "cli.h"
#include "flow.h"
#include "instance.h"
#include "localsource.h"
#include "config.h"
#include "log.h"
#include "placer.h"
#include "plugins.h"
#include "show.h"
#include "timefmt.h"
#include "url.h"
#include "watch.h"

static void usage(enum sr_component component, FILE *out)
{
    const char *name = sr_component_name(component);
    if (component == SR_C_POST)
        fprintf(out, "usage: sr_post [--option value ...] [-c CONFIG] PATH ...\n"
                     "  post each file (and each folder's files, recursively) once, then exit;\n"
                     "  exit status 0 when every path was posted\n"
                     "       sr_post [--option value ...] show|check CONFIG\n");
    fprintf(
        out,
        "usage: sr_%s [--option value ...] ACTION CONFIG\n"
        "  ACTION is one of:\n"
        "    show        print the resolved config: every option, its value, where it came from\n"
        "    check       load and check the config; exit 0 when it can run\n"
        "    foreground  run one instance attached to the terminal, logging to stderr\n"
        "    instance N  run instance N (1..instances) logging to its log file (what `sr\n"
        "                start` runs)\n"
        "  CONFIG is a name under ~/.config/sr/%s/ (without .conf) or a path to a .conf file.\n"
        "  sr_%s --help lists the options, --version the version; see sr_%s(1) and "
        "sr-options(7).\n",
        name, name, name, name);
}

/* Every line that has no effect, or an effect the user did not write, is said here:
 * refused lines as errors (the config then fails its check), then warnings and notes. */
static void print_warnings(const sr_config *cfg, sr_log *log, bool refused)
{
    const sr_strlist *r = sr_config_refused(cfg);
    for (size_t i = 0; refused && i < r->count; i++)
        sr_log_write(log, SR_LOG_ERROR, "%s", r->items[i]);
    const sr_strlist *w = sr_config_warnings(cfg);
    for (size_t i = 0; i < w->count; i++)
        sr_log_write(log, SR_LOG_WARNING, "%s", w->items[i]);
    const sr_strlist *n = sr_config_notes(cfg);
    for (size_t i = 0; i < n->count; i++)
        sr_log_write(log, SR_LOG_INFO, "%s", n->items[i]);
}

/* A broker URL the flow cannot log in with is worth a warning before it is run. */
static void warn_missing_passwords(const sr_config *cfg, const sr_credentials *creds, sr_log *log)
{
    const enum sr_option_id brokers[] = {SR_OPT_broker, SR_OPT_post_broker};
    for (size_t i = 0; i < sizeof brokers / sizeof brokers[0]; i++) {
        const char *text = sr_config_str(cfg, brokers[i]);
        sr_url url;
        if (text == NULL || sr_url_parse(text, &url, NULL) != SR_OK)
            continue;
        sr_url done;
        if (sr_credentials_complete(creds, &url, &done, NULL) == SR_OK) {
            if (done.password == NULL) {
                char *shown = sr_url_format(&url, false);
                sr_log_write(log, SR_LOG_WARNING,
                             "%s %s: no password in the URL and no matching line in "
                             "credentials.conf; the broker will refuse the login",
                             sr_option_get(brokers[i])->name, shown ? shown : "");
                free(shown);
            }
            sr_url_fini(&done);
        }
        sr_url_fini(&url);
    }
}

/* Set by the signal handlers, read by the flow between passes. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reopen_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The log of a running instance: its file (rotated as the config says), or stderr in
 * the foreground and with logStdout. */
/* The events the instance logs: logEvents, plus reject with logReject and nodupe with
 * logDuplicates, as sr3 adds them. By name, so the order of the choices is free. */
static unsigned log_events(const sr_config *cfg)
{
    static const struct {
        const char *name;
        enum sr_log_event event;
    } events[] = {
        {"after_accept", SR_EVENT_AFTER_ACCEPT},
        {"after_work", SR_EVENT_AFTER_WORK},
        {"after_post", SR_EVENT_AFTER_POST},
        {"on_housekeeping", SR_EVENT_ON_HOUSEKEEPING},
        {"on_start", SR_EVENT_ON_START},
        {"on_stop", SR_EVENT_ON_STOP},
        {"reject", SR_EVENT_REJECT},
        {"nodupe", SR_EVENT_NODUPE},
    };
    unsigned bits = 0;
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        if (sr_config_has(cfg, SR_OPT_logEvents, events[i].name))
            bits |= (unsigned)events[i].event;
    if (sr_config_flag(cfg, SR_OPT_logReject))
        bits |= SR_EVENT_REJECT;
    if (sr_config_flag(cfg, SR_OPT_logDuplicates))
        bits |= SR_EVENT_NODUPE;
    return bits;
}

static int open_instance_log(const sr_config *cfg, const sr_paths *paths, int instance,
                             sr_log **log, sr_err *err)
{
    const char *comp = sr_component_name(sr_config_component(cfg));
    char ident[512];
    snprintf(ident, sizeof ident, "%s/%s_%02d", comp, sr_config_name(cfg), instance);
    char *path = NULL;
    if (instance > 0 && !sr_config_flag(cfg, SR_OPT_logStdout))
        path = sr_paths_log_file(paths, comp, sr_config_name(cfg), instance);
    sr_log_options lo = {.path = path,
                         .ident = ident,
                         .level = (enum sr_level)sr_config_choice(cfg, SR_OPT_logLevel),
                         .rotate_interval = sr_config_seconds(cfg, SR_OPT_logRotateInterval),
                         .rotate_count = (int)sr_config_count(cfg, SR_OPT_logRotateCount),
                         .perm = sr_config_bits(cfg, SR_OPT_permLog)};
    *log = sr_log_open(&lo, err);
    free(path);
    if (*log != NULL)
        sr_log_set_events(*log, log_events(cfg));
    return *log ? SR_OK : (err ? err->code : SR_EIO);
}

/* Run the flow of cfg as instance (0: foreground). Returns the exit status. */
static int run_component(enum sr_component component, const sr_component_work *work, const sr_config *cfg,
               sr_cli *cli, const sr_credentials *creds, int instance, char *const *paths,
               size_t path_count, sr_log *log, sr_plugins *plugins)
{
    const char *name = sr_component_name(component);
    sr_err err;
    sr_paths host_paths = {0};
    sr_flow_services svc = {.cfg = cfg, .paths = &cli->paths, .creds = creds,
                            .instance = instance, .log = log, .plugins = plugins};
    if (sr_config_flag(cfg, SR_OPT_statehost)) {
        if (sr_paths_init(&host_paths, true, &err) != SR_OK) {
            sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
            sr_paths_fini(&host_paths);
            return 1;
        }
        svc.paths = &host_paths;
    }
    svc.metrics = sr_metrics_new(name, sr_config_name(cfg), instance, sr_time_now_s());
    if (svc.metrics == NULL) {
        sr_log_write(log, SR_LOG_ERROR, "out of memory");
        sr_paths_fini(&host_paths);
        return 1;
    }
    if (sr_config_flag(cfg, SR_OPT_logMetrics))
        sr_metrics_set_history(svc.metrics, sr_config_seconds(cfg, SR_OPT_logRotateInterval),
                               (int)sr_config_count(cfg, SR_OPT_logRotateCount));
    sr_metrics_set_interval(svc.metrics, sr_config_seconds(cfg, SR_OPT_metrics_writeInterval));
    sr_plugins_attach(plugins, log, svc.metrics);
    sr_flow_component fc = {0};
    sr_post_source *post = NULL;
    sr_watch *watch = NULL;
    void *work_state = NULL;
    int status = 0;
    switch (component) {
    case SR_C_POST:
        if (sr_post_source_new(cfg, log, paths, path_count, &post, &err) == SR_OK)
            sr_post_source_component(post, &fc);
        else
            status = 1;
        break;
    case SR_C_WATCH:
        if (sr_watch_new(cfg, log, &watch, &err) == SR_OK)
            sr_watch_component(watch, &fc);
        else
            status = 1;
        break;
    case SR_C_SHOVEL:
    case SR_C_WINNOW:
        break; /* from the broker to the post broker, no work step */
    case SR_C_SUBSCRIBE:
    case SR_C_SARRA:
    case SR_C_SENDER:
    case SR_C_POLL:
        if (work == NULL)
            goto cannot_run;
        if (work->attach(&svc, &fc, &work_state, &err) != SR_OK)
            status = 1;
        break;
    default:
    cannot_run:
        sr_log_write(log, SR_LOG_CRITICAL,
                     "%s/%s: this build of sr cannot run sr_%s yet (it reads and checks its "
                     "configuration only)",
                     name, sr_config_name(cfg), name);
        status = 3;
    }
    if (status == 1)
        sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
    sr_flow *flow = NULL;
    if (status == 0) {
        install_signals();
        if (sr_flow_new(&svc, &fc, &flow, &err) != SR_OK) {
            sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
            status = 1;
        } else if (sr_flow_run(flow, &stop_requested, &reopen_requested) != SR_OK) {
            status = 1;
        } else if (component == SR_C_POST && sr_flow_post_failures(flow) > 0) {
            sr_log_write(log, SR_LOG_ERROR,
                         "%llu message(s) not posted: kept in the post retry queue, sent by the "
                         "next run of this config",
                         sr_flow_post_failures(flow));
            status = 1;
        }
    }
    sr_flow_free(flow);
    sr_watch_free(watch);
    if (post != NULL && sr_post_source_failures(post) > 0) {
        sr_log_write(log, SR_LOG_ERROR, "%zu path(s) could not be posted",
                     sr_post_source_failures(post));
        status = 1;
    }
    sr_post_source_free(post);
    if (work_state != NULL)
        work->release(work_state);
    sr_plugins_attach(plugins, NULL, NULL); /* the log and metrics end here */
    sr_metrics_free(svc.metrics);
    sr_paths_fini(&host_paths);
    return status;
}

/* The action and config of the command line; for sr_post, its paths too. */
typedef struct command {
    const char *action;
    const char *config;
    int instance;
    char *const *paths;
    size_t path_count;
} command;

static int parse_command(enum sr_component component, sr_cli *cli, command *c)
{
    memset(c, 0, sizeof *c);
    char **w = cli->positional;
    size_t n = cli->positional_count;
    if (n == 2 && (strcmp(w[0], "show") == 0 || strcmp(w[0], "check") == 0 ||
                   strcmp(w[0], "foreground") == 0)) {
        c->action = w[0];
        c->config = w[1];
        return 0;
    }
    if (n == 3 && strcmp(w[0], "instance") == 0) {
        char *end;
        long i = strtol(w[1], &end, 10);
        if (*end != '\0' || i < 1 || i > 999)
            return -1;
        c->action = "instance";
        c->instance = (int)i;
        c->config = w[2];
        return 0;
    }
    if (component == SR_C_POST && n > 0) {
        /* sr_post [-c CONFIG] PATH ... */
        c->action = "post";
        if (n >= 2 && strcmp(w[0], "-c") == 0) {
            c->config = w[1];
            w += 2;
            n -= 2;
        }
        c->paths = w;
        c->path_count = n;
        return n > 0 ? 0 : -1;
    }
    return -1;
}

int sr_component_main(enum sr_component component, int argc, char **argv)
{
    return sr_component_main_work(component, NULL, argc, argv);
}

int sr_component_main_work(enum sr_component component, const sr_component_work *work, int argc,
                           char **argv)
{
    const char *name = sr_component_name(component);
    sr_cli cli;
    sr_err err;
    if (sr_cli_init(&cli, argc, argv, &err) != SR_OK) {
        sr_log_stderr("sr_%s: %s", name, err.msg);
        sr_cli_fini(&cli);
        return 2;
    }
    if (sr_cli_take(&cli, "--version")) {
        printf("sr_%s %s\n", name, SR_VERSION);
        sr_cli_fini(&cli);
        return 0;
    }
    if (sr_cli_take(&cli, "--help") || sr_cli_take(&cli, "-h")) {
        usage(component, stdout);
        sr_cli_print_options(component, stdout);
        sr_cli_fini(&cli);
        return 0;
    }
    bool json = sr_cli_take(&cli, "--json");
    command cmd;
    if (parse_command(component, &cli, &cmd) != 0) {
        if (cli.positional_count > 0 && component != SR_C_POST)
            sr_log_stderr("sr_%s: unknown action \"%s\"", name, cli.positional[0]);
        usage(component, stderr);
        sr_cli_fini(&cli);
        return 2;
    }

    /* Messages before the config is read go to stderr; a running instance then opens its
     * own log. */
    sr_log_options lo = {.path = NULL, .ident = NULL, .level = SR_LOG_INFO};
    sr_log *log = sr_log_open(&lo, &err);
    sr_config *cfg = NULL;
    sr_plugins *plugins = NULL;
    const sr_credentials *creds = NULL;
    const sr_strlist *cred_warnings = NULL;
    int status = 0;
    bool running = strcmp(cmd.action, "foreground") == 0 || strcmp(cmd.action, "instance") == 0 ||
                   strcmp(cmd.action, "post") == 0;
    if (log == NULL) {
        sr_log_stderr("sr_%s: %s", name, err.msg);
        status = 1;
    } else if (sr_cli_load(&cli, component, cmd.config, &cfg, &err) != SR_OK ||
               sr_cli_credentials(&cli, &creds, &cred_warnings, &err) != SR_OK) {
        sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
        status = 1;
    } else if (strcmp(cmd.action, "show") == 0) {
        for (size_t i = 0; cred_warnings && i < cred_warnings->count; i++)
            sr_log_write(log, SR_LOG_WARNING, "%s", cred_warnings->items[i]);
        /* what the plugins accept is shown as accepted; one that cannot load is said, and
         * its lines stay refused, but the config is still shown */
        if (sr_plugins_probe(cfg, &cli.paths, &err) != SR_OK)
            sr_log_write(log, SR_LOG_WARNING, "%s/%s: %s", name, sr_config_name(cfg), err.msg);
        status =
            (json ? sr_show_json(cfg, creds, NULL, stdout, &err) : sr_show_text(cfg, creds, NULL, stdout, &err))
                ? 1
                : 0;
    } else {
        sr_log_set_level(log, (enum sr_level)sr_config_choice(cfg, SR_OPT_logLevel));
        for (size_t i = 0; cred_warnings && i < cred_warnings->count; i++)
            sr_log_write(log, SR_LOG_WARNING, "%s", cred_warnings->items[i]);
        /* plugins first: they claim their option lines, and their flowcb lines are
         * refused until they are found (show reads the config without them) */
        int prc = sr_plugins_load_for(cfg, &cli.paths, cmd.instance, &plugins, &err);
        if (prc != SR_OK)
            sr_log_write(log, SR_LOG_ERROR, "%s/%s: %s", name, sr_config_name(cfg), err.msg);
        /* a plugin that did not load leaves its line and its options refused: its own
         * error says it all */
        print_warnings(cfg, log, prc == SR_OK);
        warn_missing_passwords(cfg, creds, log);
        size_t refused = sr_config_refused(cfg)->count;
        if (prc != SR_OK) {
            status = 1;
        } else if (refused > 0) {
            /* each was logged above with its file:line and reason */
            sr_log_write(log, SR_LOG_ERROR,
                         "%s/%s: %zu line(s) refused: sr would not do what they ask, so the "
                         "configuration does not run (sr-config(5): refused lines)",
                         name, sr_config_name(cfg), refused);
            status = 1;
        } else if (sr_config_check(cfg, &err) != SR_OK ||
                   sr_placer_check_config(cfg, plugins, &err) != SR_OK) {
            sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
            status = 1;
        } else if (strcmp(cmd.action, "check") == 0) {
            size_t warned = sr_config_warnings(cfg)->count;
            if (warned > 0)
                sr_log_write(log, SR_LOG_INFO,
                             "%s/%s: configuration OK, but for the %zu warning(s) above", name,
                             sr_config_name(cfg), warned);
            else
                sr_log_write(log, SR_LOG_INFO, "%s/%s: configuration OK", name,
                             sr_config_name(cfg));
        } else if (running) {
            sr_log *instance_log = NULL;
            /* `declare env` reaches what the instance runs (trigger), as in sr3 */
            if (sr_config_export_env(cfg, &err) != SR_OK ||
                open_instance_log(cfg, &cli.paths, cmd.instance, &instance_log, &err) != SR_OK) {
                sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
                status = 1;
            } else if (cmd.instance > 0 &&
                       sr_instance_write_pid(&cli.paths, name, sr_config_name(cfg), cmd.instance,
                                             getpid(), &err) != SR_OK) {
                sr_log_write(instance_log, SR_LOG_ERROR, "%s", err.msg);
                sr_log_close(instance_log);
                status = 1;
            } else {
                status = run_component(component, work, cfg, &cli, creds, cmd.instance, cmd.paths,
                             cmd.path_count, instance_log, plugins);
                /* Stopped on request or done: no pid file, so the supervisor sees a stopped
                 * config. Failed on its own: the pid file stays and names a dead process, so
                 * `sr sanity` restarts it, as after a crash (sr3's rule). */
                if (cmd.instance > 0 && (stop_requested || status == 0) &&
                    sr_instance_remove_pid(&cli.paths, name, sr_config_name(cfg), cmd.instance,
                                           &err) != SR_OK)
                    sr_log_write(instance_log, SR_LOG_ERROR, "%s", err.msg);
                sr_log_close(instance_log);
            }
        }
    }
    sr_plugins_free(plugins);
    sr_config_free(cfg);
    sr_log_close(log);
    sr_cli_fini(&cli);
    return status;
}
