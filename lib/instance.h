/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * instance: pid files and process identity, what `sr start`, `sr stop`, `sr status` and
 * `sr sanity` agree on (sr(1), VERBS and FILES).
 *
 * An instance started by the supervisor runs `sr_<component> [options] instance N CONFIG`.
 * Once its config is read it writes <state>/<component>/<config>/iNNN.pid
 * (sr_paths_pid_file) holding its pid, and removes it when it stops on request, so:
 *   no pid file                      the instance is stopped (on purpose)
 *   pid file, process of ours alive  running
 *   pid file, no such process        dead: `sr sanity` restarts it
 * A pid alone proves nothing (pids are recycled): a process is "ours" only when it runs as
 * our uid, its argv[0] is sr_<component> and its command line ends with that config.
 */
#ifndef SR_INSTANCE_H
#define SR_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "paths.h"

enum sr_instance_state {
    SR_INSTANCE_NONE,    /* no pid file */
    SR_INSTANCE_RUNNING, /* the pid file names a live process of ours */
    SR_INSTANCE_DEAD     /* pid file names no live process of ours */
};

typedef struct sr_instance_info {
    int instance;
    pid_t pid; /* 0 when the pid file does not hold a number */
    enum sr_instance_state state;
} sr_instance_info;

/* The instances of component/config that have a pid file, sorted by instance number;
 * *infos is a new array the caller free()s (NULL when *count is 0). A missing state
 * folder is no instance, not an error. */
int sr_instance_scan(const sr_paths *paths, const char *component, const char *config,
                     sr_instance_info **infos, size_t *count, sr_err *err);

/* Whether pid is a live process of ours running that component and config (reads
 * /proc/<pid>/cmdline; a recycled pid of another program is not ours, nor is a zombie). */
bool sr_instance_is_ours(pid_t pid, const char *component, const char *config);

/* Write the pid file of an instance (making its folder), atomically: a reader sees the
 * whole pid or no file. */
int sr_instance_write_pid(const sr_paths *paths, const char *component, const char *config,
                          int instance, pid_t pid, sr_err *err);

/* Remove an instance's pid file; a file already gone is fine. */
int sr_instance_remove_pid(const sr_paths *paths, const char *component, const char *config,
                           int instance, sr_err *err);

/* The path of a config's `disabled` marker (<state>/<component>/<config>/disabled, as
 * sr3), new string or NULL; and whether it exists. */
char *sr_instance_disabled_file(const sr_paths *paths, const char *component, const char *config);
bool sr_instance_disabled(const sr_paths *paths, const char *component, const char *config);

/* A running instance process found in /proc, whether or not a pid file names it. */
typedef struct sr_instance_process {
    pid_t pid;
    char component[32];
    char config[256];
    int instance;
    double age; /* seconds since the process started */
} sr_instance_process;

/* Every live `sr_<component> ... instance N CONFIG` process of our uid whose environment
 * gives it the same state folder as paths (so instances of another SR_STATE_DIR or HOME
 * are never taken for ours). *procs is a new array the caller free()s. */
int sr_instance_processes(const sr_paths *paths, sr_instance_process **procs, size_t *count,
                          sr_err *err);

#endif
