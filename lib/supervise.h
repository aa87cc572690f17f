/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * supervise: starting, stopping and watching instances, what `sr start|stop|restart|run|
 * sanity|reload` and the sr_sanity executable do (sr(1), VERBS; sr_sanity(1)).
 *
 * An instance is the process `sr_<component> [--option value ...] instance N CONFIG`
 * (component.h), found next to the running executable (/proc/self/exe's folder) or else on
 * PATH. It writes its own pid file (instance.h) once its config is read, and removes it
 * when stopped; the supervisor keeps no state of its own, so any `sr` invocation, cron's
 * sr_sanity and systemd see the same picture.
 *
 * Each verb function prints one line per config or action on the supervisor's out (errors
 * on errs, naming the config, and file:line for a config that does not load), and returns
 * an exit status: 0 ok, 1 some config failed. Only processes of ours are ever signalled
 * (instance.h: our uid, our program and config, our state folder).
 */
#ifndef SR_SUPERVISE_H
#define SR_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

#define SR_SUPERVISE_STOP_TIMEOUT 10.0  /* seconds from SIGTERM to SIGKILL, by default */
#define SR_SUPERVISE_START_TIMEOUT 10.0 /* seconds an instance has to write its pid file */

typedef struct sr_supervisor {
    sr_cli *cli;         /* borrowed: folders and the --option overrides passed on */
    const char *prog;    /* "sr" or "sr_sanity": the start of every message */
    char *bin_dir;       /* where the sr_<component> executables are; NULL: PATH */
    double stop_timeout; /* seconds */
    double start_timeout;
    FILE *out, *errs;
} sr_supervisor;

/* Set up for cli; free with sr_supervisor_fini. Never fails: without /proc/self/exe the
 * executables are looked up on PATH. */
void sr_supervisor_init(sr_supervisor *s, sr_cli *cli, const char *prog);
void sr_supervisor_fini(sr_supervisor *s);

/* The configs that match patterns (all with none), as sr_cli_find_configs; every verb
 * below takes the same patterns. */

/* Start the missing instances (1..instances) of each enabled config, daemons whose
 * stdout and stderr are appended to their log, and wait until each wrote its pid file or
 * died (then say which and show the end of its log). Running instances are left alone. */
int sr_supervise_start(sr_supervisor *s, char *const *patterns, size_t n);

/* SIGTERM the instances of the configs (and with no pattern, every instance process of
 * ours, even of a removed config), wait up to stop_timeout, SIGKILL the rest, remove the
 * pid files. */
int sr_supervise_stop(sr_supervisor *s, char *const *patterns, size_t n);

/* SIGHUP the running instances: each reopens its log (after logrotate). */
int sr_supervise_reload(sr_supervisor *s, char *const *patterns, size_t n);

/* One pass for cron: restart missing instances (a pid file naming a dead process) and hung
 * ones (metrics file not written for runStateThreshold_hung, else 3 x housekeeping), stop
 * strays (a process of ours whose config is gone or disabled, or that no pid file names).
 * Prints one line per action, and "no missing/hung/stray processes found" otherwise. */
int sr_supervise_sanity(sr_supervisor *s, char *const *patterns, size_t n);

/* Start the configs' instances as children of this process (not daemons) and stay:
 * restart a child that dies of a signal or fails (backoff 1 s doubling to 30 s), pass
 * SIGHUP on when *hup is set, and once *stop is set stop them all and return. The caller's
 * signal handlers set *stop (SIGTERM, SIGINT) and *hup (SIGHUP). For containers and
 * systemd Type=simple. */
int sr_supervise_run(sr_supervisor *s, char *const *patterns, size_t n, volatile sig_atomic_t *stop,
                     volatile sig_atomic_t *hup);

/* Whether any instance of component/config runs (for verbs refused while it does). */
bool sr_supervise_running(const sr_supervisor *s, const char *component, const char *config);

/* The path of the executable sr_<component> (new string, or NULL when out of memory). */
char *sr_supervise_executable(const sr_supervisor *s, const char *component);

/* argv for `sr_<component> [overrides] WORDS...` (words NULL-terminated): a new array of
 * new strings, freed with sr_supervise_argv_free; NULL when out of memory. */
char **sr_supervise_argv(const sr_supervisor *s, const char *component, const char *const *words);
void sr_supervise_argv_free(char **argv);

#endif
