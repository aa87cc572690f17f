/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugins: the plugins of one flow (sr-plugin(7)), loaded from the config's `flowcb` /
 * `callback` / `flowCallback` lines (and their _prepend forms) in order, and the calls
 * the flow, the placer, the poller and the transfer layer make into them.
 *
 * A plugin is one of three kinds, each a backend behind plugins_impl.h:
 *   built-in   compiled into libsr under sr3's names (accept.delete, rename.*...),
 *              written against the public sr/plugin.h like any other
 *   C          a shared object, NAME.so in <config_dir>/plugins then the system plugin
 *              folder, or a path; its ABI version checked before anything is called; the
 *              file and its folder must not be writable by others (sr-security(7))
 *   exec       `flowcb exec:COMMAND ARGS`: a co-process speaking JSON lines
 *              (plugin_exec.h); one that dies or times out is restarted and the messages
 *              it held go to the retry queue, never acked before
 * sr3's flowcb names whose work sr does itself (log, nodupe, retry, gather.message...)
 * are not plugins: config.c notes them. Any other name sr cannot find is an error:
 * "no sr plugin named X", naming the file:line of the flowcb line and sr-plugin(7).
 *
 * Plugin options: a line naming an option sr does not know is refused by config.c
 * unless a plugin of the config declares it; sr_plugins_load claims those lines
 * (sr_config_claim), so it runs before sr_config_check.
 */
#ifndef SR_PLUGINS_H
#define SR_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "flow.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "paths.h"
#include "sr/plugin.h"

typedef struct sr_plugins sr_plugins;
typedef struct sr_plugin_instance sr_plugin_instance; /* one loaded plugin */

/* Where plugins are found and what they run in (sr_plugins_load copies the strings). */
typedef struct sr_plugins_env {
    const char *config_dir; /* ~/.config/sr: C plugins in <config_dir>/plugins */
    const char *system_dir; /* the system plugin folder (SR_PLUGIN_DIR), or NULL */
    const char *state_dir;  /* the instance's state folder (api->state_dir), or NULL */
    int instance;           /* 1..N, 0: foreground */
    sr_log *log;            /* NULL until the flow runs (check, show): loading logs nothing */
    sr_metrics *metrics;    /* metrics_report's figures go here; may be NULL */
} sr_plugins_env;

/* Resolve and load every plugin the config names, claim the option lines they declare
 * and check what they need. Starts nothing (exec plugins are started by
 * sr_plugins_start; their declared options and hooks come from the flowcb line and the
 * handshake, see plugin_exec.h). On failure *out is NULL and err names the plugin and
 * the file:line of its flowcb line. A config with no plugins gives an empty set. */
int sr_plugins_load(sr_config *cfg, const sr_plugins_env *env, sr_plugins **out, sr_err *err);
void sr_plugins_free(sr_plugins *ps);

/* The system plugin folder: $SR_PLUGIN_DIR when set (tests, a relocated install), else
 * the one the build was made for. */
#ifndef SR_PLUGIN_DIR
#define SR_PLUGIN_DIR "/usr/local/lib/sr/plugins"
#endif
const char *sr_plugins_system_dir(void);
/* sr_plugins_load as a component loads them: C plugins from <paths->config_dir>/plugins
 * then sr_plugins_system_dir(), the state folder the instance's (paths.h). */
int sr_plugins_load_for(sr_config *cfg, const sr_paths *paths, int instance, sr_plugins **out,
                        sr_err *err);

/* Whether sr has a built-in plugin of that flowcb name ("accept.renamewhatfn",
 * "sarracenia.flowcb.accept.renamewhatfn.RenameWhatFn"...). */
bool sr_plugin_is_builtin(const char *name);

/* Load the config's plugins and let them go, for what shows a config without running it
 * (sr show): the plugins that load have their flowcb lines and option lines accepted,
 * as a running instance would; err says why the first that cannot load cannot. */
int sr_plugins_probe(sr_config *cfg, const sr_paths *paths, sr_err *err);

/* Set the log and metrics once the instance has them (after a load for check). */
void sr_plugins_attach(sr_plugins *ps, sr_log *log, sr_metrics *metrics);

size_t sr_plugins_count(const sr_plugins *ps);
/* Whether any loaded plugin has the hook (SR_PLUGIN_HOOK_*), so the flow skips the work
 * of preparing calls no plugin wants. */
enum sr_plugin_hook {
    SR_PLUGIN_HOOK_ON_START = 1u << 0,
    SR_PLUGIN_HOOK_ON_STOP = 1u << 1,
    SR_PLUGIN_HOOK_ON_HOUSEKEEPING = 1u << 2,
    SR_PLUGIN_HOOK_AFTER_ACCEPT = 1u << 3,
    SR_PLUGIN_HOOK_AFTER_WORK = 1u << 4,
    SR_PLUGIN_HOOK_AFTER_POST = 1u << 5,
    SR_PLUGIN_HOOK_GATHER = 1u << 6,
    SR_PLUGIN_HOOK_POLL = 1u << 7,
    SR_PLUGIN_HOOK_DESTFN = 1u << 8,
    SR_PLUGIN_HOOK_DOWNLOAD = 1u << 9,
    SR_PLUGIN_HOOK_SEND = 1u << 10,
    SR_PLUGIN_HOOK_METRICS_REPORT = 1u << 11,
};
bool sr_plugins_have(const sr_plugins *ps, unsigned hooks);

/* on_start of each, in order; the first that fails stops it (the ones started are
 * stopped again) and err names it. */
int sr_plugins_start(sr_plugins *ps, sr_err *err);
/* on_stop of each started one, in reverse order; exec plugins are ended. */
void sr_plugins_stop(sr_plugins *ps);
void sr_plugins_housekeeping(sr_plugins *ps);

/* One message of a pass handed to after_accept / after_work / after_post, and what the
 * plugins decided. The flow fills w; the plugins fill verdict and why (a new string the
 * flow frees with sr_plugin_items_fini, for REJECT and RETRY). Plugins run in order; a
 * message one plugin rejects or retries is not shown to the next. */
typedef struct sr_plugin_item {
    sr_work *w;
    enum sr_plugin_outcome outcome; /* after_work: what became of its work */
    enum sr_plugin_verdict verdict; /* KEEP on entry */
    char *why;                      /* "plugin NAME: reason" once decided */
    const sr_plugin_instance *by;   /* the plugin that decided (plugins.c sets it); NULL on
                                     * entry */
    bool placed_already; /* after_work: its file is written or sent, so new_dir and new_file
                          * are read only (plugins.c sets it) */
} sr_plugin_item;
void sr_plugins_after_accept(sr_plugins *ps, sr_plugin_item *items, size_t n);
void sr_plugins_after_work(sr_plugins *ps, sr_plugin_item *items, size_t n);
void sr_plugins_after_post(sr_plugins *ps, sr_plugin_item *items, size_t n);
void sr_plugin_items_fini(sr_plugin_item *items, size_t n);

/* gather: up to max new messages from the plugins that gather, appended to *msgs (an
 * array of *count, grown with realloc; the caller frees it and the messages). A plugin
 * that fails is logged and skipped for this pass. */
int sr_plugins_gather(sr_plugins *ps, size_t max, sr_message ***msgs, size_t *count,
                      sr_err *err);
/* poll (sr_poll): the same from the plugins that poll; *polled is false when none has a
 * poll hook (sr_poll then lists by itself). */
int sr_plugins_poll(sr_plugins *ps, sr_message ***msgs, size_t *count, bool *polled,
                    sr_err *err);

/* filename DESTFNSCRIPT=script: the name the plugin called `script` (sr3 compares the
 * last dot-separated part, case-insensitively in its first letter) gives m's file, as a
 * new string in *name, or NULL when the plugin keeps the name (an exec plugin answering
 * null). SR_ENOENT when no loaded plugin of that name has destfn; SR_EINVAL when the
 * plugin failed or gave a name with '/', "." or "..". */
int sr_plugins_destfn(sr_plugins *ps, const char *script, const sr_message *m, char **name,
                      sr_err *err);
/* Whether a loaded plugin called `script` has destfn (config checks, placer set-up). */
bool sr_plugins_has_destfn(const sr_plugins *ps, const char *script);

/* The plugin that downloads (or sends) for a URL scheme, or NULL: the transfer layer's
 * plugin backend (transfer_plugin.c) calls it. */
sr_plugin_instance *sr_plugins_for_scheme(const sr_plugins *ps, const char *scheme, bool send);
/* The transfer of one file through the plugin pi. write: each chunk of bytes, in order,
 * to its sink (return SR_OK or an error that stops the download); read: up to n bytes
 * into buf (bytes read, 0 at the end, -1 with err). err on failure names the plugin. */
int sr_plugin_download(sr_plugin_instance *pi, const sr_message *m, const char *url,
                       int (*write)(void *ctx, const void *buf, size_t n, sr_err *err),
                       void *ctx, sr_err *err);
int sr_plugin_send(sr_plugin_instance *pi, const sr_message *m, const char *remote_path,
                   long (*read)(void *ctx, void *buf, size_t n, sr_err *err), void *ctx,
                   sr_err *err);

/* metrics_report of each, into the instance's metrics (before they are written). */
void sr_plugins_metrics(sr_plugins *ps);

#endif
