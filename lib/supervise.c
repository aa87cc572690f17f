/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * supervise: see supervise.h.
 *
 * Invariants: a process is signalled only after sr_instance_is_ours (or, for strays,
 * sr_instance_processes) said it is ours; pid files are removed only once their process
 * is gone; a config that does not load is reported and its instances are left as they are
 * (we cannot tell how many it should have).
 */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"
#include "plugins.h"
#include "strlist.h"
#include "timefmt.h"

#define POLL_S 0.05          /* how often waits look again */
#define STRAY_GRACE_S 5.0    /* a process this young may not have written its pid file yet */
#define LOG_TAIL_LINES 5     /* lines of its log shown for an instance that did not start */
#define RUN_BACKOFF_MAX 30.0 /* seconds between restarts of a child that keeps dying (run) */

static void pause_s(double seconds)
{
    struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&t, NULL);
}

void sr_supervisor_init(sr_supervisor *s, sr_cli *cli, const char *prog)
{
    memset(s, 0, sizeof *s);
    s->cli = cli;
    s->prog = prog;
    s->stop_timeout = SR_SUPERVISE_STOP_TIMEOUT;
    s->start_timeout = SR_SUPERVISE_START_TIMEOUT;
    s->out = stdout;
    s->errs = stderr;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            s->bin_dir = strdup(exe);
        }
    }
}

void sr_supervisor_fini(sr_supervisor *s)
{
    free(s->bin_dir);
    s->bin_dir = NULL;
}

char *sr_supervise_executable(const sr_supervisor *s, const char *component)
{
    char *path = NULL;
    /* beside sr first: a build tree or a prefix runs its own components, not the PATH's */
    if (s->bin_dir != NULL && asprintf(&path, "%s/sr_%s", s->bin_dir, component) >= 0) {
        if (access(path, X_OK) == 0)
            return path;
        free(path);
    }
    if (asprintf(&path, "sr_%s", component) < 0)
        path = NULL;
    return path;
}

void sr_supervise_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **sr_supervise_argv(const sr_supervisor *s, const char *component, const char *const *words)
{
    size_t nwords = 0;
    while (words[nwords] != NULL)
        nwords++;
    size_t max = 1 + 2 * s->cli->override_count + nwords + 1;
    char **argv = calloc(max, sizeof *argv);
    if (argv == NULL)
        return NULL;
    size_t n = 0;
    bool ok = (argv[n++] = sr_supervise_executable(s, component)) != NULL;
    /* the options given before the verb apply to every instance, as in sr3 */
    for (size_t i = 0; ok && i < s->cli->override_count; i++) {
        const sr_override *o = &s->cli->overrides[i];
        ok = asprintf(&argv[n], "--%s", o->name) >= 0;
        if (!ok) {
            argv[n] = NULL;
            break;
        }
        n++;
        if (o->value[0] != '\0')
            ok = (argv[n++] = strdup(o->value)) != NULL;
    }
    for (size_t i = 0; ok && i < nwords; i++)
        ok = (argv[n++] = strdup(words[i])) != NULL;
    if (!ok) {
        sr_supervise_argv_free(argv);
        return NULL;
    }
    return argv;
}

/* ---- the configs a verb works on ---- */

/* "component/config" split in place: returns the config part (after the '/'). */
static char *split_name(char *full)
{
    char *slash = strchr(full, '/');
    *slash = '\0';
    return slash + 1;
}

static int find_configs(sr_supervisor *s, const char *verb, char *const *patterns, size_t n,
                        sr_strlist *found)
{
    sr_err err;
    if (sr_cli_find_configs(s->cli, patterns, n, found, &err) != SR_OK) {
        fprintf(s->errs, "%s %s: %s\n", s->prog, verb, err.msg);
        return 1;
    }
    if (found->count == 0 && n > 0) {
        fprintf(s->errs, "%s %s: no configuration matches under %s\n", s->prog, verb,
                s->cli->paths.config_dir);
        return 1;
    }
    /* sanity and stop still look for strays of removed configs */
    if (found->count == 0 && strcmp(verb, "sanity") != 0 && strcmp(verb, "stop") != 0)
        fprintf(s->out, "no configuration under %s\n", s->cli->paths.config_dir);
    return 0;
}

/* The rule of sr_cli_find_configs, for processes whose config file may be gone. */
static bool pattern_match(const char *component, const char *config, char *const *patterns,
                          size_t n)
{
    if (n == 0)
        return true;
    char full[512];
    snprintf(full, sizeof full, "%s/%s", component, config);
    for (size_t i = 0; i < n; i++) {
        const char *p = patterns[i];
        if (strchr(p, '/') ? fnmatch(p, full, 0) == 0
                           : fnmatch(p, component, 0) == 0 || fnmatch(p, config, 0) == 0)
            return true;
    }
    return false;
}

static int instances_of(const sr_config *cfg)
{
    long long n = sr_config_count(cfg, SR_OPT_instances);
    return n > 0 ? (int)n : 1; /* instances 0 still runs the config once */
}

/* ---- launching ---- */

enum launch_mode { LAUNCH_DAEMON, LAUNCH_CHILD };

/* Fork and exec instance `instance` of component/config. A daemon gets its own session
 * (no terminal, no signals from the shell that ran sr); stdin is /dev/null and stdout and
 * stderr are appended to the instance's log, so a crash's last words land there (sr3 does
 * the same). With logStdout a child of `sr run` keeps sr's stderr instead. */
static int launch(sr_supervisor *s, const char *component, const char *config, int instance,
                  enum launch_mode mode, bool log_stdout, pid_t *pid, sr_err *err)
{
    char number[16];
    snprintf(number, sizeof number, "%d", instance);
    const char *words[] = {"instance", number, config, NULL};
    char **argv = sr_supervise_argv(s, component, words);
    char *log_path = sr_paths_log_file(&s->cli->paths, component, config, instance);
    int rc = argv && log_path ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = sr_mkdir_p(s->cli->paths.log_dir, 0700, err);
    int log_fd = -1, null_fd = -1;
    if (rc == SR_OK && !(mode == LAUNCH_CHILD && log_stdout)) {
        log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (log_fd < 0)
            rc = sr_err_set(err, SR_EIO, false, "cannot open %s: %s", log_path, strerror(errno));
    }
    if (rc == SR_OK && (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        rc = sr_err_set(err, SR_EIO, false, "cannot open /dev/null: %s", strerror(errno));
    if (rc == SR_OK) {
        fflush(NULL);
        pid_t child = fork();
        if (child < 0) {
            rc = sr_err_set(err, SR_EIO, true, "fork: %s", strerror(errno));
        } else if (child == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            signal(SIGPIPE, SIG_DFL);
            if (mode == LAUNCH_DAEMON)
                setsid();
            dup2(null_fd, 0);
            if (log_fd >= 0) {
                dup2(log_fd, 1);
                dup2(log_fd, 2);
            }
            execvp(argv[0], argv);
            fprintf(stderr, "%s: cannot run %s: %s\n", s->prog, argv[0], strerror(errno));
            _exit(127);
        } else {
            *pid = child;
        }
    }
    if (log_fd >= 0)
        close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    sr_supervise_argv_free(argv);
    free(log_path);
    return rc;
}

/* The last lines of a log, indented, for a report. */
static void print_log_tail(FILE *out, const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        fprintf(out, "    (no log at %s)\n", path);
        return;
    }
    char *lines[LOG_TAIL_LINES] = {0};
    size_t next = 0, total = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        free(lines[next]);
        lines[next] = strdup(line);
        next = (next + 1) % LOG_TAIL_LINES;
        total++;
    }
    free(line);
    fclose(f);
    fprintf(out, "    last lines of %s:\n", path);
    size_t shown = total < LOG_TAIL_LINES ? total : LOG_TAIL_LINES;
    for (size_t i = 0; i < shown; i++) {
        char *l = lines[(next + LOG_TAIL_LINES - shown + i) % LOG_TAIL_LINES];
        if (l != NULL)
            fprintf(out, "    %s%s", l, l[0] && l[strlen(l) - 1] == '\n' ? "" : "\n");
    }
    for (size_t i = 0; i < LOG_TAIL_LINES; i++)
        free(lines[i]);
}

/* The pid a pid file holds now, or 0. */
static pid_t pid_in_file(const sr_paths *paths, const char *component, const char *config,
                         int instance)
{
    char *path = sr_paths_pid_file(paths, component, config, instance);
    long pid = 0;
    FILE *f = path ? fopen(path, "re") : NULL;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    free(path);
    return (pid_t)pid;
}

typedef struct launched {
    const char *component, *config; /* borrowed */
    int instance;
    pid_t pid;
    bool up, failed;
} launched;

/* Wait until each launched instance wrote its pid file or died; report those that died or
 * never wrote it. Returns the number that did not start. */
static size_t wait_started(sr_supervisor *s, launched *l, size_t n)
{
    double deadline = sr_time_mono_s() + s->start_timeout;
    size_t pending = n;
    while (pending > 0) {
        for (size_t i = 0; i < n; i++) {
            if (l[i].up || l[i].failed)
                continue;
            int st;
            if (pid_in_file(&s->cli->paths, l[i].component, l[i].config, l[i].instance) ==
                l[i].pid) {
                l[i].up = true;
                pending--;
            } else if (waitpid(l[i].pid, &st, WNOHANG) == l[i].pid) {
                l[i].failed = true;
                pending--;
                char why[64];
                if (WIFEXITED(st))
                    snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(st));
                else
                    snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(st));
                fprintf(s->errs, "%s: %s/%s instance %d did not start (%s)\n", s->prog,
                        l[i].component, l[i].config, l[i].instance, why);
                char *log =
                    sr_paths_log_file(&s->cli->paths, l[i].component, l[i].config, l[i].instance);
                if (log != NULL)
                    print_log_tail(s->errs, log);
                free(log);
            }
        }
        if (pending == 0 || sr_time_mono_s() > deadline)
            break;
        pause_s(POLL_S);
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!l[i].up && !l[i].failed) {
            fprintf(s->errs,
                    "%s: %s/%s instance %d (pid %d) wrote no pid file within %.0f s; it is left "
                    "running (see its log)\n",
                    s->prog, l[i].component, l[i].config, l[i].instance, (int)l[i].pid,
                    s->start_timeout);
            l[i].failed = true;
        }
        bad += l[i].failed;
    }
    return bad;
}

/* The pid files of component/config, printing an error (returns -1) when unreadable. */
static ssize_t scan(sr_supervisor *s, const char *component, const char *config,
                    sr_instance_info **infos)
{
    size_t count = 0;
    sr_err err;
    if (sr_instance_scan(&s->cli->paths, component, config, infos, &count, &err) != SR_OK) {
        fprintf(s->errs, "%s: %s/%s: %s\n", s->prog, component, config, err.msg);
        return -1;
    }
    return (ssize_t)count;
}

bool sr_supervise_running(const sr_supervisor *s, const char *component, const char *config)
{
    sr_instance_info *infos = NULL;
    size_t count = 0;
    bool running = false;
    if (sr_instance_scan(&s->cli->paths, component, config, &infos, &count, NULL) == SR_OK)
        for (size_t i = 0; i < count; i++)
            running = running || infos[i].state == SR_INSTANCE_RUNNING;
    free(infos);
    return running;
}

/* Load a config for a verb; an error is printed with its file:line. */
static sr_config *load(sr_supervisor *s, const char *component, const char *config)
{
    sr_config *cfg = NULL;
    sr_plugins *plugins = NULL;
    sr_err err;
    /* its plugins loaded (and let go: each instance loads its own) so that one that
     * cannot load stops the config here, naming it, and their option lines are claimed */
    int rc = sr_cli_load(s->cli, sr_component_from_name(component), config, &cfg, &err);
    if (rc == SR_OK)
        rc = sr_plugins_load_for(cfg, &s->cli->paths, 0, &plugins, &err);
    sr_plugins_free(plugins);
    if (rc == SR_OK)
        rc = sr_config_check(cfg, &err);
    if (rc != SR_OK) {
        fprintf(s->errs, "%s: %s/%s: %s\n", s->prog, component, config, err.msg);
        sr_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Whether the supervisor starts this config at all: sr_post posts once and exits unless
 * its sleep makes it a daemon (sr3 starts post only then). */
static bool is_daemon(const sr_config *cfg)
{
    if (sr_config_component(cfg) != SR_C_POST)
        return true;
    return sr_config_seconds(cfg, SR_OPT_sleep) > 0;
}

/* ---- start ---- */

/* Launch the instances of one config that do not run; append them to *l. Returns 0, or 1
 * when the config failed. */
static int start_config(sr_supervisor *s, const char *component, const char *config, launched **l,
                        size_t *ln, size_t *lcap)
{
    sr_config *cfg = load(s, component, config);
    if (cfg == NULL)
        return 1;
    int status = 0;
    if (sr_instance_disabled(&s->cli->paths, component, config)) {
        fprintf(s->out, "%s/%s: disabled, not started (sr enable %s/%s)\n", component, config,
                component, config);
    } else if (!is_daemon(cfg)) {
        fprintf(s->out, "%s/%s: sr_post with sleep <= 0 posts once: not started\n", component,
                config);
    } else {
        int expected = instances_of(cfg);
        sr_instance_info *infos = NULL;
        ssize_t count = scan(s, component, config, &infos);
        if (count < 0) {
            sr_config_free(cfg);
            return 1;
        }
        int running = 0, started = 0;
        for (int i = 1; i <= expected; i++) {
            bool up = false;
            for (ssize_t j = 0; j < count; j++)
                up = up || (infos[j].instance == i && infos[j].state == SR_INSTANCE_RUNNING);
            if (up) {
                running++;
                continue;
            }
            sr_err err;
            pid_t pid;
            /* a stale pid file names a dead process: replace it */
            sr_instance_remove_pid(&s->cli->paths, component, config, i, NULL);
            if (*ln == *lcap) {
                size_t cap = *lcap ? 2 * *lcap : 16;
                launched *grown = realloc(*l, cap * sizeof *grown);
                if (grown == NULL) {
                    fprintf(s->errs, "%s: out of memory\n", s->prog);
                    status = 1;
                    break;
                }
                *l = grown;
                *lcap = cap;
            }
            if (launch(s, component, config, i, LAUNCH_DAEMON, false, &pid, &err) != SR_OK) {
                fprintf(s->errs, "%s: %s/%s instance %d: %s\n", s->prog, component, config, i,
                        err.msg);
                status = 1;
                continue;
            }
            (*l)[(*ln)++] = (launched){component, config, i, pid, false, false};
            started++;
        }
        if (started == 0 && status == 0)
            fprintf(s->out, "%s/%s: already running (%d/%d instances)\n", component, config,
                    running, expected);
        else if (running > 0)
            fprintf(s->out, "%s/%s: starting %d instance(s); %d already running\n", component,
                    config, started, running);
        free(infos);
    }
    sr_config_free(cfg);
    return status;
}

int sr_supervise_start(sr_supervisor *s, char *const *patterns, size_t n)
{
    sr_strlist found = {0};
    int status = find_configs(s, "start", patterns, n, &found);
    launched *l = NULL;
    size_t ln = 0, lcap = 0;
    for (size_t i = 0; i < found.count; i++) {
        char *config = split_name(found.items[i]);
        status |= start_config(s, found.items[i], config, &l, &ln, &lcap);
    }
    /* all launched first, then one wait: 50 configs start in about the time of one */
    if (wait_started(s, l, ln) > 0)
        status = 1;
    /* one line per config started */
    for (size_t i = 0; i < ln;) {
        size_t j = i, up = 0;
        for (; j < ln && l[j].component == l[i].component && l[j].config == l[i].config; j++)
            up += l[j].up;
        if (up > 0) {
            fprintf(s->out, "%s/%s: started %zu instance(s), pid", l[i].component, l[i].config, up);
            for (size_t k = i; k < j; k++)
                if (l[k].up)
                    fprintf(s->out, " %d", (int)l[k].pid);
            fputc('\n', s->out);
        }
        i = j;
    }
    free(l);
    sr_strlist_clear(&found);
    return status;
}

/* ---- stop ---- */

typedef struct victim {
    char component[32];
    char config[256];
    int instance;
    pid_t pid;
    bool gone;
} victim;

typedef struct victims {
    victim *v;
    size_t count, cap;
} victims;

static int victims_add(victims *vs, const char *component, const char *config, int instance,
                       pid_t pid)
{
    for (size_t i = 0; i < vs->count; i++)
        if (vs->v[i].pid == pid)
            return 0;
    if (vs->count == vs->cap) {
        size_t cap = vs->cap ? 2 * vs->cap : 16;
        victim *grown = realloc(vs->v, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        vs->v = grown;
        vs->cap = cap;
    }
    victim *v = &vs->v[vs->count++];
    memset(v, 0, sizeof *v);
    snprintf(v->component, sizeof v->component, "%s", component);
    snprintf(v->config, sizeof v->config, "%s", config);
    v->instance = instance;
    v->pid = pid;
    return 0;
}

/* Whether a process still stands; reaps it when it is our child (a restart or `run`). */
static bool still_there(const victim *v)
{
    waitpid(v->pid, NULL, WNOHANG);
    return sr_instance_is_ours(v->pid, v->component, v->config);
}

/* SIGTERM every victim, wait up to timeout, SIGKILL the rest and wait for them to go.
 * Returns the number that had to be killed. */
static size_t terminate(sr_supervisor *s, victims *vs, double timeout)
{
    for (size_t i = 0; i < vs->count; i++)
        if (kill(vs->v[i].pid, SIGTERM) != 0)
            vs->v[i].gone = true;
    double deadline = sr_time_mono_s() + timeout;
    size_t left;
    bool killed = false;
    size_t killed_count = 0;
    for (;;) {
        left = 0;
        for (size_t i = 0; i < vs->count; i++) {
            if (!vs->v[i].gone && !still_there(&vs->v[i]))
                vs->v[i].gone = true;
            left += !vs->v[i].gone;
        }
        if (left == 0)
            break;
        if (sr_time_mono_s() > deadline) {
            if (killed)
                break;
            /* what did not stop in time: no second chance for a stuck process */
            for (size_t i = 0; i < vs->count; i++) {
                if (vs->v[i].gone)
                    continue;
                fprintf(s->errs, "%s: %s/%s instance %d (pid %d) did not stop in %.0f s: killed\n",
                        s->prog, vs->v[i].component, vs->v[i].config, vs->v[i].instance,
                        (int)vs->v[i].pid, timeout);
                kill(vs->v[i].pid, SIGKILL);
                killed_count++;
            }
            killed = true;
            deadline = sr_time_mono_s() + 5;
        }
        pause_s(POLL_S);
    }
    for (size_t i = 0; i < vs->count; i++)
        if (!vs->v[i].gone)
            fprintf(s->errs, "%s: %s/%s instance %d (pid %d) is still there after SIGKILL\n",
                    s->prog, vs->v[i].component, vs->v[i].config, vs->v[i].instance,
                    (int)vs->v[i].pid);
    return killed_count;
}

/* Remove the pid files of a config whose processes are gone. */
static void remove_pid_files(sr_supervisor *s, const char *component, const char *config)
{
    sr_instance_info *infos = NULL;
    size_t count = 0;
    sr_err err;
    if (sr_instance_scan(&s->cli->paths, component, config, &infos, &count, &err) != SR_OK)
        return;
    for (size_t i = 0; i < count; i++)
        if (infos[i].state != SR_INSTANCE_RUNNING &&
            sr_instance_remove_pid(&s->cli->paths, component, config, infos[i].instance, &err) !=
                SR_OK)
            fprintf(s->errs, "%s: %s\n", s->prog, err.msg);
    free(infos);
}

int sr_supervise_stop(sr_supervisor *s, char *const *patterns, size_t n)
{
    sr_strlist found = {0};
    int status = find_configs(s, "stop", patterns, n, &found);
    victims vs = {0};
    for (size_t i = 0; i < found.count; i++) {
        char *config = split_name(found.items[i]);
        sr_instance_info *infos = NULL;
        ssize_t count = scan(s, found.items[i], config, &infos);
        if (count < 0)
            status = 1;
        for (ssize_t j = 0; j < count; j++)
            if (infos[j].state == SR_INSTANCE_RUNNING &&
                victims_add(&vs, found.items[i], config, infos[j].instance, infos[j].pid) != 0)
                status = 1;
        free(infos);
    }
    /* instances no pid file names (a config removed, a start that raced a stop) are ours too
     * when they run our program on our state folder */
    sr_instance_process *procs = NULL;
    size_t pcount = 0;
    sr_err err;
    if (sr_instance_processes(&s->cli->paths, &procs, &pcount, &err) != SR_OK) {
        fprintf(s->errs, "%s stop: %s\n", s->prog, err.msg);
        status = 1;
    }
    for (size_t i = 0; i < pcount; i++)
        if (pattern_match(procs[i].component, procs[i].config, patterns, n) &&
            victims_add(&vs, procs[i].component, procs[i].config, procs[i].instance,
                        procs[i].pid) != 0)
            status = 1;
    free(procs);

    size_t killed = terminate(s, &vs, s->stop_timeout);
    for (size_t i = 0; i < found.count; i++) {
        const char *component = found.items[i];
        const char *config = component + strlen(component) + 1;
        size_t stopped = 0;
        for (size_t j = 0; j < vs.count; j++)
            if (strcmp(vs.v[j].component, component) == 0 && strcmp(vs.v[j].config, config) == 0)
                stopped++;
        remove_pid_files(s, component, config);
        if (stopped > 0)
            fprintf(s->out, "%s/%s: stopped %zu instance(s)\n", component, config, stopped);
        else if (n > 0)
            fprintf(s->out, "%s/%s: not running\n", component, config);
    }
    for (size_t j = 0; j < vs.count; j++) {
        bool listed = false;
        for (size_t i = 0; i < found.count && !listed; i++)
            listed = strcmp(vs.v[j].component, found.items[i]) == 0 &&
                     strcmp(vs.v[j].config, found.items[i] + strlen(found.items[i]) + 1) == 0;
        if (!listed)
            fprintf(s->out, "%s/%s: stopped instance %d (pid %d), whose config is gone\n",
                    vs.v[j].component, vs.v[j].config, vs.v[j].instance, (int)vs.v[j].pid);
    }
    if (vs.count == 0 && n == 0)
        fprintf(s->out, "nothing was running\n");
    for (size_t j = 0; j < vs.count; j++)
        if (!vs.v[j].gone)
            status = 1;
    (void)killed;
    free(vs.v);
    sr_strlist_clear(&found);
    return status;
}

/* ---- reload ---- */

int sr_supervise_reload(sr_supervisor *s, char *const *patterns, size_t n)
{
    sr_strlist found = {0};
    int status = find_configs(s, "reload", patterns, n, &found);
    for (size_t i = 0; i < found.count; i++) {
        char *config = split_name(found.items[i]);
        sr_instance_info *infos = NULL;
        ssize_t count = scan(s, found.items[i], config, &infos);
        if (count < 0)
            status = 1;
        int told = 0;
        for (ssize_t j = 0; j < count; j++)
            if (infos[j].state == SR_INSTANCE_RUNNING && kill(infos[j].pid, SIGHUP) == 0)
                told++;
        if (told > 0)
            fprintf(s->out, "%s/%s: %d instance(s) reopen their logs\n", found.items[i], config,
                    told);
        free(infos);
    }
    sr_strlist_clear(&found);
    return status;
}

/* ---- sanity ---- */

/* Seconds since the instance last wrote its metrics (since it wrote its pid file, when it
 * has written no metrics yet, for it may be starting), or -1 when unknown. */
static double quiet_for(sr_supervisor *s, const sr_config *cfg, const char *component,
                        const char *config, int instance)
{
    sr_paths host = {0};
    const sr_paths *paths = &s->cli->paths;
    /* metrics live under the per-host state folder with statehost, as the flow writes them */
    if (sr_config_flag(cfg, SR_OPT_statehost) && sr_paths_init(&host, true, NULL) == SR_OK)
        paths = &host;
    char *metrics = sr_paths_metrics_file(paths, component, config, instance);
    char *pidf = sr_paths_pid_file(&s->cli->paths, component, config, instance);
    struct stat ms, ps;
    bool have_m = metrics && stat(metrics, &ms) == 0;
    bool have_p = pidf && stat(pidf, &ps) == 0;
    double age = -1, latest = 0;
    if (have_m)
        latest = (double)ms.st_mtim.tv_sec + (double)ms.st_mtim.tv_nsec / 1e9;
    if (have_p && (double)ps.st_mtim.tv_sec + (double)ps.st_mtim.tv_nsec / 1e9 > latest)
        latest = (double)ps.st_mtim.tv_sec + (double)ps.st_mtim.tv_nsec / 1e9;
    if (latest > 0)
        age = sr_time_now_s() - latest;
    free(metrics);
    free(pidf);
    sr_paths_fini(&host);
    return age;
}

static double hung_threshold(const sr_config *cfg)
{
    double limit = sr_config_seconds(cfg, SR_OPT_runStateThreshold_hung);
    if (limit <= 0) /* runStateThreshold_hung 0: three housekeeping intervals */
        limit = 3 * sr_config_seconds(cfg, SR_OPT_housekeeping);
    return limit > 0 ? limit : INFINITY; /* both 0: never hung */
}

/* Kill one instance for good (a hung one gets no SIGTERM: it would not act on it). */
static void kill_now(const char *component, const char *config, int instance, pid_t pid)
{
    victims vs = {0};
    if (victims_add(&vs, component, config, instance, pid) == 0) {
        kill(pid, SIGKILL);
        double deadline = sr_time_mono_s() + 5;
        while (still_there(&vs.v[0]) && sr_time_mono_s() < deadline)
            pause_s(POLL_S);
    }
    free(vs.v);
}

int sr_supervise_sanity(sr_supervisor *s, char *const *patterns, size_t n)
{
    sr_strlist found = {0};
    int status = find_configs(s, "sanity", patterns, n, &found);
    size_t missing = 0, hung = 0, strays = 0;
    launched *l = NULL;
    size_t ln = 0, lcap = 0;
    /* per config found: loaded (bad configs' processes are not strays: we cannot judge) */
    bool *disabled = calloc(found.count ? found.count : 1, sizeof *disabled);
    if (disabled == NULL) {
        fprintf(s->errs, "%s: out of memory\n", s->prog);
        sr_strlist_clear(&found);
        return 1;
    }
    for (size_t i = 0; i < found.count; i++) {
        char *component = found.items[i];
        char *config = split_name(component);
        disabled[i] = sr_instance_disabled(&s->cli->paths, component, config);
        sr_instance_info *infos = NULL;
        ssize_t count = scan(s, component, config, &infos);
        if (count < 0) {
            status = 1;
            continue;
        }
        sr_config *cfg = count > 0 && !disabled[i] ? load(s, component, config) : NULL;
        if (count > 0 && !disabled[i] && cfg == NULL) {
            fprintf(s->errs, "%s: %s/%s: its instances are left as they are\n", s->prog, component,
                    config);
            status = 1;
        }
        for (ssize_t j = 0; cfg != NULL && j < count; j++) {
            sr_instance_info *in = &infos[j];
            const char *why = NULL;
            char reason[128];
            if (in->state == SR_INSTANCE_DEAD) {
                missing++;
                snprintf(reason, sizeof reason, "pid %d is gone", (int)in->pid);
                why = "missing";
            } else if (in->state == SR_INSTANCE_RUNNING) {
                double quiet = quiet_for(s, cfg, component, config, in->instance);
                double limit = hung_threshold(cfg);
                if (quiet > limit) {
                    hung++;
                    snprintf(reason, sizeof reason,
                             "pid %d wrote no metrics for %.0f s (runStateThreshold_hung %.0f s)",
                             (int)in->pid, quiet, limit);
                    why = "hung";
                    kill_now(component, config, in->instance, in->pid);
                }
            }
            if (why == NULL)
                continue;
            fprintf(s->out, "%s/%s: restarting %s instance %d (%s)\n", component, config, why,
                    in->instance, reason);
            sr_instance_remove_pid(&s->cli->paths, component, config, in->instance, NULL);
            sr_err err;
            pid_t pid;
            if (ln == lcap) {
                size_t cap = lcap ? 2 * lcap : 16;
                launched *grown = realloc(l, cap * sizeof *grown);
                if (grown == NULL) {
                    status = 1;
                    continue;
                }
                l = grown;
                lcap = cap;
            }
            if (launch(s, component, config, in->instance, LAUNCH_DAEMON, false, &pid, &err) !=
                SR_OK) {
                fprintf(s->errs, "%s: %s/%s instance %d: %s\n", s->prog, component, config,
                        in->instance, err.msg);
                status = 1;
                continue;
            }
            l[ln++] = (launched){component, config, in->instance, pid, false, false};
        }
        sr_config_free(cfg);
        free(infos);
    }
    if (wait_started(s, l, ln) > 0)
        status = 1;

    /* strays: ours, but no config wants them */
    sr_instance_process *procs = NULL;
    size_t pcount = 0;
    sr_err err;
    if (sr_instance_processes(&s->cli->paths, &procs, &pcount, &err) != SR_OK) {
        fprintf(s->errs, "%s sanity: %s\n", s->prog, err.msg);
        status = 1;
    }
    victims vs = {0};
    for (size_t i = 0; i < pcount; i++) {
        sr_instance_process *p = &procs[i];
        if (!pattern_match(p->component, p->config, patterns, n))
            continue;
        const char *reason = "its config is gone";
        for (size_t j = 0; j < found.count; j++) {
            if (strcmp(found.items[j], p->component) != 0 ||
                strcmp(found.items[j] + strlen(found.items[j]) + 1, p->config) != 0)
                continue;
            if (disabled[j]) {
                reason = "its config is disabled";
            } else {
                reason = NULL;
                bool named =
                    pid_in_file(&s->cli->paths, p->component, p->config, p->instance) == p->pid;
                /* a young process may be writing its pid file right now */
                if (!named && p->age >= STRAY_GRACE_S)
                    reason = "no pid file names it";
            }
            break;
        }
        if (reason == NULL)
            continue;
        strays++;
        fprintf(s->out, "%s/%s: stopping stray instance %d (pid %d): %s\n", p->component, p->config,
                p->instance, (int)p->pid, reason);
        if (victims_add(&vs, p->component, p->config, p->instance, p->pid) != 0)
            status = 1;
    }
    terminate(s, &vs, s->stop_timeout);
    for (size_t j = 0; j < vs.count; j++) {
        if (!vs.v[j].gone)
            status = 1;
        else if (pid_in_file(&s->cli->paths, vs.v[j].component, vs.v[j].config, vs.v[j].instance) ==
                 vs.v[j].pid)
            sr_instance_remove_pid(&s->cli->paths, vs.v[j].component, vs.v[j].config,
                                   vs.v[j].instance, NULL);
    }
    /* a disabled config keeps no pid file of a dead process: it is stopped, not missing */
    for (size_t i = 0; i < found.count; i++)
        if (disabled[i])
            remove_pid_files(s, found.items[i], found.items[i] + strlen(found.items[i]) + 1);
    free(vs.v);
    free(procs);
    free(disabled);
    free(l);
    if (missing == 0)
        fprintf(s->out, "no missing processes found\n");
    if (hung == 0)
        fprintf(s->out, "no hung processes found\n");
    if (strays == 0)
        fprintf(s->out, "no stray processes found\n");
    sr_strlist_clear(&found);
    return status;
}

/* ---- run ---- */

typedef struct child {
    char *component, *config; /* borrowed from the found list */
    int instance;
    bool log_stdout;
    pid_t pid;      /* 0 while waiting to be restarted */
    double started; /* monotonic */
    double backoff;
    double restart_at;
} child;

int sr_supervise_run(sr_supervisor *s, char *const *patterns, size_t n,
                     volatile sig_atomic_t *run_stop, volatile sig_atomic_t *run_hup)
{
    sr_strlist found = {0};
    int status = find_configs(s, "run", patterns, n, &found);
    child *kids = NULL;
    size_t nkids = 0, cap = 0;
    for (size_t i = 0; i < found.count; i++) {
        char *component = found.items[i];
        char *config = split_name(component);
        sr_config *cfg = load(s, component, config);
        if (cfg == NULL) {
            status = 1;
            continue;
        }
        if (sr_instance_disabled(&s->cli->paths, component, config)) {
            fprintf(s->out, "%s/%s: disabled, not started\n", component, config);
        } else if (!is_daemon(cfg)) {
            fprintf(s->out, "%s/%s: sr_post with sleep <= 0 posts once: not started\n", component,
                    config);
        } else if (sr_supervise_running(s, component, config)) {
            fprintf(s->errs, "%s run: %s/%s is already running (sr stop %s/%s first)\n", s->prog,
                    component, config, component, config);
            status = 1;
        } else {
            int expected = instances_of(cfg);
            for (int k = 1; k <= expected; k++) {
                if (nkids == cap) {
                    size_t ncap = cap ? 2 * cap : 16;
                    child *grown = realloc(kids, ncap * sizeof *grown);
                    if (grown == NULL)
                        break;
                    kids = grown;
                    cap = ncap;
                }
                kids[nkids++] = (child){
                    component, config, k, sr_config_flag(cfg, SR_OPT_logStdout), 0, 0, 1.0, 0};
            }
        }
        sr_config_free(cfg);
    }
    if (nkids == 0) {
        fprintf(s->errs, "%s run: nothing to run\n", s->prog);
        free(kids);
        sr_strlist_clear(&found);
        return 1;
    }
    fprintf(s->out, "%s run: %zu instance(s); SIGTERM or ^C stops them all\n", s->prog, nkids);
    fflush(s->out);
    while (!*run_stop) {
        double now = sr_time_mono_s();
        for (size_t i = 0; i < nkids; i++) {
            child *c = &kids[i];
            if (c->pid != 0 || now < c->restart_at)
                continue;
            sr_err err;
            sr_instance_remove_pid(&s->cli->paths, c->component, c->config, c->instance, NULL);
            if (launch(s, c->component, c->config, c->instance, LAUNCH_CHILD, c->log_stdout,
                       &c->pid, &err) != SR_OK) {
                fprintf(s->errs, "%s run: %s/%s instance %d: %s\n", s->prog, c->component,
                        c->config, c->instance, err.msg);
                c->pid = 0;
                c->restart_at = now + c->backoff;
                c->backoff = c->backoff * 2 < RUN_BACKOFF_MAX ? c->backoff * 2 : RUN_BACKOFF_MAX;
                continue;
            }
            c->started = now;
        }
        if (*run_hup) {
            *run_hup = 0;
            for (size_t i = 0; i < nkids; i++)
                if (kids[i].pid > 0)
                    kill(kids[i].pid, SIGHUP);
        }
        int st;
        pid_t dead;
        while ((dead = waitpid(-1, &st, WNOHANG)) > 0) {
            for (size_t i = 0; i < nkids; i++) {
                child *c = &kids[i];
                if (c->pid != dead)
                    continue;
                c->pid = 0;
                if (*run_stop)
                    break;
                if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
                    /* stopped on request (`sr stop` from elsewhere) or done: not restarted */
                    fprintf(s->out, "%s run: %s/%s instance %d stopped\n", s->prog, c->component,
                            c->config, c->instance);
                    c->restart_at = 1e300;
                    break;
                }
                /* one that keeps dying young waits longer each time; one that ran a while
                 * is restarted at once */
                if (sr_time_mono_s() - c->started > 60)
                    c->backoff = 1.0;
                char why[64];
                if (WIFEXITED(st))
                    snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(st));
                else
                    snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(st));
                fprintf(s->errs,
                        "%s run: %s/%s instance %d (pid %d) died (%s); restarting in "
                        "%.0f s\n",
                        s->prog, c->component, c->config, c->instance, (int)dead, why, c->backoff);
                c->restart_at = sr_time_mono_s() + c->backoff;
                c->backoff = c->backoff * 2 < RUN_BACKOFF_MAX ? c->backoff * 2 : RUN_BACKOFF_MAX;
                break;
            }
        }
        fflush(s->out);
        pause_s(0.1);
    }
    victims vs = {0};
    for (size_t i = 0; i < nkids; i++)
        if (kids[i].pid > 0 &&
            victims_add(&vs, kids[i].component, kids[i].config, kids[i].instance, kids[i].pid) != 0)
            status = 1;
    terminate(s, &vs, s->stop_timeout);
    for (size_t i = 0; i < found.count; i++)
        remove_pid_files(s, found.items[i], found.items[i] + strlen(found.items[i]) + 1);
    fprintf(s->out, "%s run: stopped %zu instance(s)\n", s->prog, vs.count);
    free(vs.v);
    free(kids);
    sr_strlist_clear(&found);
    return status;
}
