/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * paths: where sr keeps what it reads and what it writes.
 *
 *   configs   SR_CONFIG_DIR, else $XDG_CONFIG_HOME/sr, else $HOME/.config/sr
 *             holding <component>/<name>.conf, default.conf, admin.conf, credentials.conf
 *   state     SR_STATE_DIR, else $XDG_CACHE_HOME/sr, else $HOME/.cache/sr
 *             (with `statehost on`: <state>/<short hostname>), holding
 *             log/<component>_<name>_<NN>.log, metrics/<component>_<name>_<NN>.json (read
 *             by `sr status`), and <component>/<name>/ per config for pid files, the retry
 *             queue and the duplicate cache
 *   conf.d    SR_CONFD, else the installed share/sr/conf.d, else the conf.d next to the
 *             executable (<bin>/../share/sr/conf.d, which the build tree has too)
 *
 * Environment variables that are set but empty count as unset, as XDG says.
 */
#ifndef SR_PATHS_H
#define SR_PATHS_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

typedef struct sr_paths {
    char *config_dir;
    char *state_dir;
    char *log_dir;     /* state_dir/log */
    char *metrics_dir; /* state_dir/metrics: one small file per instance, for `sr status` */
    char *confd_dir;
} sr_paths;

/* Work the folders out from the environment. Creates nothing. Free with sr_paths_fini,
 * even after an error. */
int sr_paths_init(sr_paths *paths, bool statehost, sr_err *err);
void sr_paths_fini(sr_paths *paths);

/* Each returns a new string the caller frees, or NULL when out of memory. */
char *sr_paths_config_file(const sr_paths *paths, const char *component, const char *name);
char *sr_paths_instance_dir(const sr_paths *paths, const char *component, const char *name);
char *sr_paths_log_file(const sr_paths *paths, const char *component, const char *name,
                        int instance);
char *sr_paths_pid_file(const sr_paths *paths, const char *component, const char *name,
                        int instance);
char *sr_paths_metrics_file(const sr_paths *paths, const char *component, const char *name,
                            int instance);

/* "~" and "~/x" become $HOME and $HOME/x (the environment's, as in the shell and sr3, so
 * a private HOME is honoured); other paths are copied. New string, or NULL. */
char *sr_paths_expand_home(const char *path);

/* mkdir -p with the given mode for each folder it makes. */
int sr_mkdir_p(const char *path, mode_t mode, sr_err *err);

/* fsync the folder holding path, so that a file just renamed into it survives a power
 * cut. Best effort: a folder that cannot be opened or synced is left as it is. */
void sr_sync_parent_dir(const char *path);

/* Open the file named path for writing (made when missing, never truncated) and flock it
 * exclusively: *fd holds the lock until it is closed. The file locked is still the one
 * named path (one that waited while another process renamed the file away would otherwise
 * lock a file nobody else looks at). wait false: a file another process holds is a
 * retryable SR_EIO at once, naming path as being written by another process. */
int sr_lock_path(const char *path, bool wait, int *fd, sr_err *err);

#endif
