/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr: the supervisor's command line (sr(1)): `sr [--option value ...] VERB [PATTERN ...]`.
 * Each verb is a call into lib/: supervise.h runs instances, status.h reads their state,
 * declare.h talks to brokers, sr3import.h reads an sr3 tree, convert.h rewrites a v2
 * config, dump.h and srfeatures.h report, show.h prints configs. This
 * file parses the words, finds the configs and turns results into exit statuses:
 * 0 ok, 1 some config failed, 2 usage.
 */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "convert.h"
#include "declare.h"
#include "dump.h"
#include "srfeatures.h"
#include "instance.h"
#include "log.h"
#include "plugins.h"
#include "show.h"
#include "sr3import.h"
#include "status.h"
#include "supervise.h"
#include "builtins.h"

/* send.email is a sender's: linked here (builtins.h) */
SR_BUILTIN_EMAIL_LINK;

#define EXIT_USAGE 2

typedef struct verb verb;

/* What a verb is handed: the words after it (config patterns, mostly), the command line
 * and a supervisor, which knows the instances. */
typedef struct verb_call {
    const verb *verb;
    sr_cli *cli;
    sr_supervisor *s;
    char **words;
    size_t n;
} verb_call;

/* One row per verb: the help (`sr --help`, `sr VERB --help`) and the handler `sr VERB`
 * runs, which returns the exit status. */
struct verb {
    const char *name;
    const char *args;
    const char *summary; /* one line for `sr --help` */
    const char *detail;  /* more for `sr VERB --help`, or NULL */
    int (*run)(const verb_call *c);
    bool takes_wait; /* `--wait SECONDS` is taken off the words first */
};

static void verb_usage(const verb *v, FILE *out)
{
    fprintf(out, "usage: sr [--option value ...] %s %s\n  %s\n", v->name, v->args, v->summary);
    const char *p = v->detail ? v->detail : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(out, "  %.*s\n", len, p);
        p += len + (nl ? 1 : 0);
    }
}

/* ---- verbs that read configs ---- */

static int show(sr_cli *cli, bool json, char *const *patterns, size_t n)
{
    sr_err err;
    sr_strlist found = {0};
    int status = 0;
    const sr_credentials *creds = NULL;
    const sr_strlist *warnings = NULL;
    if (sr_cli_credentials(cli, &creds, &warnings, &err) != SR_OK) {
        sr_log_stderr("sr show: %s", err.msg);
        return 1;
    }
    for (size_t i = 0; warnings && i < warnings->count; i++)
        sr_log_stderr("sr show: warning: %s", warnings->items[i]);
    if (sr_cli_find_configs(cli, patterns, n, &found, &err) != SR_OK) {
        sr_log_stderr("sr show: %s", err.msg);
        return 1;
    }
    if (found.count == 0) {
        sr_log_stderr("sr show: no configuration matches under %s", cli->paths.config_dir);
        status = 1;
    }
    for (size_t i = 0; i < found.count; i++) {
        char *slash = strchr(found.items[i], '/');
        *slash = '\0';
        sr_config *cfg = NULL;
        if (sr_cli_load(cli, sr_component_from_name(found.items[i]), slash + 1, &cfg, &err) !=
            SR_OK) {
            sr_log_stderr("sr show: %s", err.msg);
            status = 1;
            continue;
        }
        /* the plugins' lines shown as a running instance takes them (cli.h's loads do
         * not load plugins); one that cannot load is said, the config still shown */
        if (sr_plugins_probe(cfg, &cli->paths, &err) != SR_OK)
            sr_log_stderr("sr show: warning: %s/%s: %s", found.items[i], slash + 1, err.msg);
        if (i > 0 && !json)
            fputc('\n', stdout);
        /* which broker node each running instance is on, as sr status reads it */
        char *pattern = NULL;
        sr_status_report report = {0};
        bool have_report = asprintf(&pattern, "%s/%s", found.items[i], slash + 1) >= 0 &&
                           sr_status_collect(cli, &pattern, 1, &report, &err) == SR_OK;
        const json_t *nodes = have_report && report.names.count == 1 ? report.rows[0].nodes : NULL;
        if ((json ? sr_show_json(cfg, creds, nodes, stdout, &err)
                  : sr_show_text(cfg, creds, nodes, stdout, &err)) != SR_OK) {
            sr_log_stderr("sr show: %s", err.msg);
            status = 1;
        }
        if (have_report)
            sr_status_report_fini(&report);
        free(pattern);
        sr_config_free(cfg);
    }
    sr_strlist_clear(&found);
    return status;
}

static int cmd_show(const verb_call *c)
{
    bool json = sr_cli_take(c->cli, "--json");
    return show(c->cli, json, c->cli->positional + 1, c->cli->positional_count - 1);
}

/* The examples folder: beside conf.d (share/sr/examples when installed, examples/ in a
 * source tree, where conf.d's link resolves). New string or NULL. */
static char *examples_dir(const sr_cli *cli)
{
    char real[PATH_MAX];
    if (realpath(cli->paths.confd_dir, real) == NULL)
        return NULL;
    char *slash = strrchr(real, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    char *dir = NULL;
    if (asprintf(&dir, "%s/examples", real) < 0)
        return NULL;
    return dir;
}

static int cmd_list(const verb_call *c)
{
    sr_cli *cli = c->cli;
    char *const *patterns = c->words;
    size_t n = c->n;
    sr_err err;
    sr_strlist found = {0};
    if (n == 1 && strcmp(patterns[0], "examples") == 0) {
        char *dir = examples_dir(cli);
        if (dir == NULL) {
            sr_log_stderr("sr list: cannot find the examples beside %s", cli->paths.confd_dir);
            return 1;
        }
        printf("examples: %s\n", dir);
        /* the examples folder is laid out as a config folder: list it as one */
        sr_cli examples = *cli;
        examples.paths.config_dir = dir;
        int status = 0;
        if (sr_cli_find_configs(&examples, NULL, 0, &found, &err) != SR_OK) {
            sr_log_stderr("sr list: %s", err.msg);
            status = 1;
        }
        for (size_t i = 0; i < found.count; i++)
            printf("%s\n", found.items[i]);
        sr_strlist_clear(&found);
        free(dir);
        return status;
    }
    if (sr_cli_find_configs(cli, patterns, n, &found, &err) != SR_OK) {
        sr_log_stderr("sr list: %s", err.msg);
        return 1;
    }
    printf("configs: %s\nstate: %s\nlogs: %s\ndefaults: %s\n", cli->paths.config_dir,
           cli->paths.state_dir, cli->paths.log_dir, cli->paths.confd_dir);
    for (size_t i = 0; i < found.count; i++)
        printf("%s\n", found.items[i]);
    sr_strlist_clear(&found);
    return 0;
}

/* ---- verbs on config files and markers ---- */

/* Split "component/name" into a known component and a name; prints why not. */
static bool component_and_name(const char *verb_name, const char *word, char *component,
                               size_t csize, const char **name)
{
    const char *slash = strchr(word, '/');
    if (slash == NULL || slash == word || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
        (size_t)(slash - word) >= csize) {
        sr_log_stderr("sr %s: \"%s\" is not COMPONENT/NAME", verb_name, word);
        return false;
    }
    snprintf(component, csize, "%.*s", (int)(slash - word), word);
    if (sr_component_from_name(component) == 0) {
        sr_log_stderr("sr %s: \"%s\": no component is called %s", verb_name, word, component);
        return false;
    }
    *name = slash + 1;
    return true;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "re");
    if (in == NULL) {
        sr_log_stderr("sr add: %s: %s", from, strerror(errno));
        return 1;
    }
    /* O_EXCL: never overwrite a config someone already has */
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (out == NULL) {
        sr_log_stderr("sr add: %s: %s", to, strerror(errno));
        if (fd >= 0)
            close(fd);
        fclose(in);
        return 1;
    }
    char buf[8192];
    size_t got;
    bool ok = true;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        ok = ok && fwrite(buf, 1, got, out) == got;
    ok = !ferror(in) && ok;
    ok = fclose(out) == 0 && ok;
    fclose(in);
    if (!ok) {
        sr_log_stderr("sr add: writing %s failed", to);
        unlink(to);
        return 1;
    }
    return 0;
}

static int cmd_add(const verb_call *c)
{
    sr_cli *cli = c->cli;
    char *const *words = c->words;
    size_t n = c->n;
    if (n == 0) {
        verb_usage(c->verb, stderr);
        return EXIT_USAGE;
    }
    char *dir = examples_dir(cli);
    if (dir == NULL) {
        sr_log_stderr("sr add: cannot find the examples beside %s", cli->paths.confd_dir);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < n; i++) {
        char component[32], name[256];
        const char *given;
        if (!component_and_name("add", words[i], component, sizeof component, &given)) {
            status = 1;
            continue;
        }
        size_t len = strlen(given);
        snprintf(name, sizeof name, "%.*s",
                 (int)(len > 5 && strcmp(given + len - 5, ".conf") == 0 ? len - 5 : len), given);
        char *from = NULL, *to = sr_paths_config_file(&cli->paths, component, name), *todir = NULL;
        sr_err err;
        if (to == NULL || asprintf(&from, "%s/%s/%s.conf", dir, component, name) < 0 ||
            asprintf(&todir, "%s/%s", cli->paths.config_dir, component) < 0) {
            sr_log_stderr("sr add: out of memory");
            free(to);
            free(dir);
            return 1;
        }
        if (access(from, R_OK) != 0) {
            sr_log_stderr("sr add: no example %s/%s (%s); sr list examples shows them", component,
                          name, from);
            status = 1;
        } else if (sr_mkdir_p(todir, 0700, &err) != SR_OK) {
            sr_log_stderr("sr add: %s", err.msg);
            status = 1;
        } else if (copy_file(from, to) != 0) {
            status = 1;
        } else {
            printf("%s/%s: added %s (from %s)\n", component, name, to, from);
        }
        free(from);
        free(to);
        free(todir);
    }
    free(dir);
    return status;
}

static int remove_tree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int cmd_remove(const verb_call *c)
{
    sr_supervisor *s = c->s;
    char *const *patterns = c->words;
    size_t n = c->n;
    if (n == 0) {
        verb_usage(c->verb, stderr);
        return EXIT_USAGE;
    }
    sr_cli *cli = s->cli;
    sr_strlist found = {0};
    sr_err err;
    if (sr_cli_find_configs(cli, patterns, n, &found, &err) != SR_OK || found.count == 0) {
        sr_log_stderr("sr remove: %s", found.count == 0 ? "no configuration matches" : err.msg);
        sr_strlist_clear(&found);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < found.count; i++) {
        char *component = found.items[i];
        char *slash = strchr(component, '/');
        *slash = '\0';
        const char *name = slash + 1;
        if (sr_supervise_running(s, component, name)) {
            sr_log_stderr("sr remove: %s/%s is running: sr stop %s/%s first", component, name,
                          component, name);
            status = 1;
            continue;
        }
        char *conf = sr_paths_config_file(&cli->paths, component, name);
        char *state = sr_paths_instance_dir(&cli->paths, component, name);
        if (conf == NULL || state == NULL || unlink(conf) != 0) {
            sr_log_stderr("sr remove: %s: %s", conf ? conf : component,
                          conf ? strerror(errno) : "out of memory");
            status = 1;
        } else if (nftw(state, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
                   errno != ENOENT) {
            sr_log_stderr("sr remove: %s: %s", state, strerror(errno));
            status = 1;
        } else {
            /* the broker queue is the broker's: `sr cleanup` deletes it, before this */
            printf("%s/%s: removed %s and %s\n", component, name, conf, state);
        }
        free(conf);
        free(state);
    }
    sr_strlist_clear(&found);
    return status;
}

static int enable_disable(const verb_call *c, bool enable)
{
    sr_supervisor *s = c->s;
    char *const *patterns = c->words;
    size_t n = c->n;
    const char *verb_name = c->verb->name;
    if (n == 0) {
        verb_usage(c->verb, stderr);
        return EXIT_USAGE;
    }
    sr_strlist found = {0};
    sr_err err;
    if (sr_cli_find_configs(s->cli, patterns, n, &found, &err) != SR_OK || found.count == 0) {
        sr_log_stderr("sr %s: %s", verb_name,
                      found.count == 0 ? "no configuration matches" : err.msg);
        sr_strlist_clear(&found);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < found.count; i++) {
        char *component = found.items[i];
        char *slash = strchr(component, '/');
        *slash = '\0';
        const char *name = slash + 1;
        char *marker = sr_instance_disabled_file(&s->cli->paths, component, name);
        char *dir = sr_paths_instance_dir(&s->cli->paths, component, name);
        if (marker == NULL || dir == NULL) {
            sr_log_stderr("sr %s: out of memory", verb_name);
            status = 1;
        } else if (enable) {
            if (unlink(marker) != 0 && errno != ENOENT) {
                sr_log_stderr("sr enable: %s: %s", marker, strerror(errno));
                status = 1;
            } else {
                printf("%s/%s: enabled\n", component, name);
            }
        } else {
            FILE *f = NULL;
            if (sr_mkdir_p(dir, 0700, &err) != SR_OK || (f = fopen(marker, "we")) == NULL) {
                sr_log_stderr("sr disable: %s: %s", marker,
                              f == NULL && errno ? strerror(errno) : err.msg);
                status = 1;
            } else {
                fclose(f);
                /* unlike sr3 a running config may be disabled: it runs on until stopped */
                if (sr_supervise_running(s, component, name))
                    printf("%s/%s: disabled; its instances still run until `sr stop %s/%s` "
                           "(or sr sanity stops them)\n",
                           component, name, component, name);
                else
                    printf("%s/%s: disabled\n", component, name);
            }
        }
        free(marker);
        free(dir);
    }
    sr_strlist_clear(&found);
    return status;
}

static int cmd_enable(const verb_call *c)
{
    return enable_disable(c, true);
}

static int cmd_disable(const verb_call *c)
{
    return enable_disable(c, false);
}

/* ---- verbs that hand the terminal over ---- */

/* The one config a pattern names, as "component/name" (new string), or NULL (printed). */
static char *one_config(sr_cli *cli, const char *verb_name, const char *pattern)
{
    sr_strlist found = {0};
    sr_err err;
    char *one = NULL;
    if (sr_cli_find_configs(cli, (char *const *)&pattern, 1, &found, &err) != SR_OK)
        sr_log_stderr("sr %s: %s", verb_name, err.msg);
    else if (found.count == 0)
        sr_log_stderr("sr %s: no configuration matches \"%s\" under %s", verb_name, pattern,
                      cli->paths.config_dir);
    else if (found.count > 1)
        sr_log_stderr("sr %s: \"%s\" matches %zu configs (%s, %s...): name one", verb_name, pattern,
                      found.count, found.items[0], found.items[1]);
    else
        one = strdup(found.items[0]);
    sr_strlist_clear(&found);
    return one;
}

static int cmd_foreground(const verb_call *c)
{
    sr_supervisor *s = c->s;
    char *const *words = c->words;
    if (c->n != 1) {
        verb_usage(c->verb, stderr);
        return EXIT_USAGE;
    }
    char *full = one_config(s->cli, "foreground", words[0]);
    if (full == NULL)
        return 1;
    char *name = strchr(full, '/');
    *name++ = '\0';
    if (sr_supervise_running(s, full, name)) {
        sr_log_stderr("sr foreground: %s/%s has running instances: sr stop %s/%s first", full, name,
                      full, name);
        free(full);
        return 1;
    }
    const char *cmd[] = {"foreground", name, NULL};
    char **argv = sr_supervise_argv(s, full, cmd);
    if (argv != NULL) {
        fflush(NULL);
        execvp(argv[0], argv);
        sr_log_stderr("sr foreground: cannot run %s: %s", argv[0], strerror(errno));
    }
    sr_supervise_argv_free(argv);
    free(full);
    return 1;
}

static int cmd_edit(const verb_call *c)
{
    sr_cli *cli = c->cli;
    char *const *words = c->words;
    if (c->n != 1) {
        verb_usage(c->verb, stderr);
        return EXIT_USAGE;
    }
    char component[32];
    const char *name;
    char *full = NULL;
    /* an existing config by any pattern, or a new one by its COMPONENT/NAME */
    if (strchr(words[0], '/') != NULL && strpbrk(words[0], "*?[") == NULL) {
        if (!component_and_name("edit", words[0], component, sizeof component, &name))
            return EXIT_USAGE;
        if (asprintf(&full, "%s", words[0]) < 0)
            full = NULL;
    } else {
        full = one_config(cli, "edit", words[0]);
    }
    if (full == NULL)
        return 1;
    char *slash = strchr(full, '/');
    *slash = '\0';
    char *path = sr_paths_config_file(&cli->paths, full, slash + 1);
    const char *editor = getenv("EDITOR");
    if (editor == NULL || editor[0] == '\0')
        editor = "vi";
    char *dir = NULL;
    sr_err err;
    /* a new config's component folder, so the editor can save it */
    if (asprintf(&dir, "%s/%s", cli->paths.config_dir, full) < 0)
        dir = NULL;
    if (dir == NULL || sr_mkdir_p(dir, 0700, &err) != SR_OK) {
        sr_log_stderr("sr edit: %s", dir ? err.msg : "out of memory");
        free(dir);
        free(path);
        free(full);
        return 1;
    }
    free(dir);
    if (path != NULL) {
        fflush(NULL);
        /* through the shell: EDITOR may hold arguments ("emacs -nw") */
        execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", editor, path, (char *)NULL);
        sr_log_stderr("sr edit: cannot run %s: %s", editor, strerror(errno));
    }
    free(path);
    free(full);
    return 1;
}

static int cmd_log(const verb_call *c)
{
    sr_cli *cli = c->cli;
    char *const *words = c->words;
    size_t n = c->n;
    if (n < 1 || n > 2) {
        verb_usage(c->verb, stderr);
        return EXIT_USAGE;
    }
    int instance = 1;
    if (n == 2) {
        char *end;
        long v = strtol(words[1], &end, 10);
        if (*end != '\0' || v < 0 || v > 999) {
            sr_log_stderr("sr log: \"%s\" is not an instance number", words[1]);
            return EXIT_USAGE;
        }
        instance = (int)v;
    }
    char *full = one_config(cli, "log", words[0]);
    if (full == NULL)
        return 1;
    char *slash = strchr(full, '/');
    *slash = '\0';
    char *path = sr_paths_log_file(&cli->paths, full, slash + 1, instance);
    if (path != NULL) {
        if (access(path, R_OK) != 0)
            sr_log_stderr("sr log: %s: %s (waiting for it)", path, strerror(errno));
        fflush(NULL);
        /* -F: follows the file across logrotate, and waits for one not written yet */
        execlp("tail", "tail", "-F", path, (char *)NULL);
        sr_log_stderr("sr log: cannot run tail: %s", strerror(errno));
    }
    free(path);
    free(full);
    return 1;
}

/* `--wait SECONDS` of stop, restart and run: not a config option, so a word of sr's own. */
static int take_wait(sr_cli *cli, double *seconds)
{
    for (size_t i = 0; i < cli->positional_count; i++) {
        if (strcmp(cli->positional[i], "--wait") != 0)
            continue;
        char *end;
        double v = i + 1 < cli->positional_count ? strtod(cli->positional[i + 1], &end) : -1;
        if (i + 1 >= cli->positional_count || *end != '\0' || v < 0) {
            sr_log_stderr("sr: --wait needs a number of seconds");
            return -1;
        }
        *seconds = v;
        memmove(&cli->positional[i], &cli->positional[i + 2],
                (cli->positional_count - i - 2) * sizeof cli->positional[0]);
        cli->positional_count -= 2;
        return 0;
    }
    return 0;
}

/* Set by the signal handlers of `sr run`, read by its loop (supervise.h). */
static volatile sig_atomic_t run_stop;
static volatile sig_atomic_t run_hup;

static void on_run_stop(int sig)
{
    (void)sig;
    run_stop = 1;
}

static void on_run_hup(int sig)
{
    (void)sig;
    run_hup = 1;
}

static int cmd_run(const verb_call *c)
{
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_run_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_run_hup;
    sigaction(SIGHUP, &sa, NULL);
    return sr_supervise_run(c->s, c->words, c->n, &run_stop, &run_hup);
}

/* ---- verbs that are a call into lib/ ---- */

static int cmd_start(const verb_call *c)
{
    return sr_supervise_start(c->s, c->words, c->n);
}

static int cmd_stop(const verb_call *c)
{
    return sr_supervise_stop(c->s, c->words, c->n);
}

static int cmd_restart(const verb_call *c)
{
    int status = sr_supervise_stop(c->s, c->words, c->n);
    return status | sr_supervise_start(c->s, c->words, c->n);
}

static int cmd_sanity(const verb_call *c)
{
    return sr_supervise_sanity(c->s, c->words, c->n);
}

static int cmd_reload(const verb_call *c)
{
    return sr_supervise_reload(c->s, c->words, c->n);
}

static int cmd_status(const verb_call *c)
{
    return sr_status_main(c->cli, (int)c->n, c->words);
}

static int cmd_declare(const verb_call *c)
{
    return sr_declare_main(c->cli, (int)c->n, c->words);
}

static int cmd_cleanup(const verb_call *c)
{
    return sr_cleanup_main(c->cli, (int)c->n, c->words);
}

static int cmd_import(const verb_call *c)
{
    return sr_import_main(c->cli, (int)c->n, c->words);
}

static int cmd_convert(const verb_call *c)
{
    return sr_convert_main(c->cli, (int)c->n, c->words);
}

static int cmd_features(const verb_call *c)
{
    return sr_features_main(c->cli, (int)c->n, c->words);
}

static int cmd_dump(const verb_call *c)
{
    return sr_dump_main(c->cli, (int)c->n, c->words);
}

static int cmd_overview(const verb_call *c)
{
    return sr_overview_main(c->cli, (int)c->n, c->words);
}

/* ---- the verbs ---- */

/* The one list of verbs: `sr --help` prints it, `sr VERB --help` a row of it, and `sr VERB`
 * runs the row's handler. A new verb is a handler above and a row here. */
static const verb verbs[] = {
    {"start", "[PATTERN ...]", "start the missing instances of enabled configs",
     "Each instance (1..`instances`) is a daemon logging to its file; sr returns once each\n"
     "wrote its pid file, or says which did not start and shows the end of its log.\n"
     "Running instances are left alone; disabled configs are skipped.",
     .run = cmd_start},
    {"stop", "[--wait SECONDS] [PATTERN ...]", "stop the instances",
     "SIGTERM, wait up to --wait seconds (10), SIGKILL what is left, remove the pid files.\n"
     "With no pattern: every instance process of ours, even of a removed config.",
     .run = cmd_stop, .takes_wait = true},
    {"restart", "[--wait SECONDS] [PATTERN ...]", "stop, then start", NULL, .run = cmd_restart,
     .takes_wait = true},
    {"status", "[--json] [--full] [PATTERN ...]", "one row per config: state, instances, rates",
     NULL, .run = cmd_status},
    {"overview", "[--json] [PATTERN ...]", "one line per component: running, stopped, mixed",
     "sr3's summary: state and config count per component, processes that are no\n"
     "configured instance, and a total. Exit 1 when a component is mixed or a stray runs.",
     .run = cmd_overview},
    {"dump", "[PATTERN ...]", "the supervisor's state as one JSON document",
     "sr3 dump's sections: Processes, Configs, States, Bindings, Missing instances.",
     .run = cmd_dump},
    {"sanity", "[PATTERN ...]", "restart missing and hung instances, stop stray ones",
     "One line per action, or \"no missing/hung/stray processes found\" (for cron and\n"
     "sr-sanity.timer). Hung: no metrics written for runStateThreshold_hung. Stray: a\n"
     "process of ours whose config is gone or disabled, or that no pid file names.",
     .run = cmd_sanity},
    {"foreground", "PATTERN", "run one config attached to the terminal",
     "Instance 0, logging to stderr, until ^C; refused while the config's instances run.",
     .run = cmd_foreground},
    {"run", "[--wait SECONDS] [PATTERN ...]", "start the instances as children and stay",
     "Restarts an instance that dies (backoff from 1 s to 30 s), passes SIGHUP on, and stops\n"
     "them all on SIGTERM or ^C. For containers and systemd Type=simple.",
     .run = cmd_run, .takes_wait = true},
    {"reload", "[PATTERN ...]", "make running instances reopen their logs (SIGHUP)", NULL,
     .run = cmd_reload},
    {"list", "[examples | PATTERN ...]", "list the configs (or the examples) and sr's folders",
     NULL, .run = cmd_list},
    {"show", "[--json] [PATTERN ...]", "print each config fully resolved",
     "Every option, its value and where it came from (passwords hidden).", .run = cmd_show},
    {"add", "COMPONENT/NAME ...", "copy an example config into the config folder",
     "`sr list examples` names them; an existing config is never overwritten.", .run = cmd_add},
    {"remove", "PATTERN ...", "delete stopped configs (.conf and state folder)",
     "The broker's queue is left: `sr cleanup` deletes it, before remove.", .run = cmd_remove},
    {"enable", "PATTERN ...", "remove the `disabled` marker", NULL, .run = cmd_enable},
    {"disable", "PATTERN ...", "mark configs disabled: not started, stopped by sanity",
     "Running instances keep running until `sr stop` or `sr sanity`.", .run = cmd_disable},
    {"edit", "COMPONENT/NAME", "open the .conf in $EDITOR (vi when unset)", NULL, .run = cmd_edit},
    {"log", "PATTERN [INSTANCE]", "follow the log of instance 1 (or INSTANCE)", NULL,
     .run = cmd_log},
    {"declare", "[--users] [PATTERN ...]", "declare the exchanges and queues the configs need",
     "--users: first create the broker users of admin.conf (admin, feeder, declare source\n"
     "and declare subscriber lines) with sr3's permissions, through the RabbitMQ management\n"
     "API (port 15672, 15671 for amqps, or managementPort), passwords from credentials.conf.",
     .run = cmd_declare},
    {"cleanup", "[PATTERN ...]", "delete stopped configs' queues and state", NULL,
     .run = cmd_cleanup},
    {"import", "[--force] [SR3_CONFIG_DIR]", "copy an sr3 configuration tree into sr's",
     "Configs sr refuses are not copied; each, and each line sr does not honour, is named\n"
     "with file:line and the reason. Exit 1 when anything was not imported.",
     .run = cmd_import},
    {"convert", "[--force] {COMPONENT/NAME | default.conf | admin.conf} ...",
     "rewrite a v2 (sarra) config in sr3 form",
     "Reads ~/.config/sarra/COMPONENT/NAME.conf, writes ~/.config/sr/COMPONENT/NAME.conf.\n"
     "Lines sr cannot carry (v2 plugins, sr3 callbacks) are kept commented out and\n"
     "reported as file:line; the result is then loaded and what sr refuses is reported.\n"
     "Exit 1 when anything was left out or refused.",
     .run = cmd_convert},
    {"features", "[--json]", "what this build supports",
     "Protocols (asked of the libraries in use), message formats, identity methods,\n"
     "components, sr3 components sr lacks, and the sr3 options sr does not support.",
     .run = cmd_features},
};

static const verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sr [--option value ...] VERB [PATTERN ...]\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(out, "  %-11s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(out,
            "  PATTERN: component/config, a component, a config name, or a glob (subscribe/*);\n"
            "  none: every config. Options before the verb apply to every config and instance.\n"
            "  Exit status: 0 ok, 1 some config failed, 2 usage. sr VERB --help, sr --version;\n"
            "  see sr(1).\n");
}

static int dispatch(sr_cli *cli, const char *verb_name, char **rest, size_t n)
{
    const verb *v = find_verb(verb_name);
    if (v == NULL) {
        sr_log_stderr("sr: unknown verb \"%s\"", verb_name);
        usage(stderr);
        return EXIT_USAGE;
    }
    sr_supervisor s;
    sr_supervisor_init(&s, cli, "sr");
    if (v->takes_wait) {
        if (take_wait(cli, &s.stop_timeout) != 0) {
            sr_supervisor_fini(&s);
            return EXIT_USAGE;
        }
        rest = cli->positional + 1;
        n = cli->positional_count - 1;
    }
    verb_call call = {.verb = v, .cli = cli, .s = &s, .words = rest, .n = n};
    int status = v->run(&call);
    sr_supervisor_fini(&s);
    return status;
}

int main(int argc, char **argv)
{
    sr_cli cli;
    sr_err err;
    if (sr_cli_init(&cli, argc, argv, &err) != SR_OK) {
        sr_log_stderr("sr: %s", err.msg);
        sr_cli_fini(&cli);
        return EXIT_USAGE;
    }
    int status;
    bool help = sr_cli_take(&cli, "--help") || sr_cli_take(&cli, "-h");
    if (sr_cli_take(&cli, "--version")) {
        printf("sr %s\n", SR_VERSION);
        status = 0;
    } else if (cli.positional_count == 0) {
        usage(help ? stdout : stderr);
        status = help ? 0 : EXIT_USAGE;
    } else if (help) {
        const verb *v = find_verb(cli.positional[0]);
        if (v != NULL) {
            verb_usage(v, stdout);
            status = 0;
        } else {
            sr_log_stderr("sr: unknown verb \"%s\"", cli.positional[0]);
            usage(stderr);
            status = EXIT_USAGE;
        }
    } else {
        status = dispatch(&cli, cli.positional[0], cli.positional + 1, cli.positional_count - 1);
    }
    sr_cli_fini(&cli);
    return status;
}
