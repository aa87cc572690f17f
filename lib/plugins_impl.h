/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugins_impl: what plugins.c shares with its backends (plugin_native.c: built-in and
 * C plugins; plugin_exec.c: co-processes). Not installed, not public: the flow's API is
 * plugins.h, a plugin's is sr/plugin.h.
 *
 * plugins.c owns the chain (order, which hooks each has, turning a failed plugin into
 * verdicts the flow understands); a backend calls one plugin. Field reads and changes
 * from any backend go through sr_plugin_field_get / sr_plugin_field_set, the one place
 * that checks what a plugin may do to a message and its destination.
 */
#ifndef SR_PLUGINS_IMPL_H
#define SR_PLUGINS_IMPL_H

#include <jansson.h>

#include "plugins.h"

typedef struct sr_plugin_backend_ops {
    /* Each returns SR_OK or an error naming the plugin. NULL members: the hook is absent
     * (pi->hooks says which are present). */
    int (*start)(sr_plugin_instance *pi, sr_err *err);
    /* Called at every stop of a started plugin, whether it has on_stop or not: it calls
     * on_stop when the plugin has it, and ends what the backend started. */
    void (*stop)(sr_plugin_instance *pi);
    void (*housekeeping)(sr_plugin_instance *pi);
    /* Fill items[i].verdict / why for items whose verdict is KEEP. A backend that fails
     * as a whole (a co-process died mid-batch) sets every item it held to RETRY with the
     * reason: those messages are then queued to retry, never acked before. */
    void (*after_accept)(sr_plugin_instance *pi, sr_plugin_item *items, size_t n);
    void (*after_work)(sr_plugin_instance *pi, sr_plugin_item *items, size_t n);
    void (*after_post)(sr_plugin_instance *pi, sr_plugin_item *items, size_t n);
    /* Append new messages to *msgs (*count of them, realloc'd). */
    int (*gather)(sr_plugin_instance *pi, size_t max, sr_message ***msgs, size_t *count,
                  sr_err *err);
    int (*poll)(sr_plugin_instance *pi, sr_message ***msgs, size_t *count, sr_err *err);
    int (*destfn)(sr_plugin_instance *pi, const sr_message *m, char **name, sr_err *err);
    int (*download)(sr_plugin_instance *pi, const sr_message *m, const char *url,
                    int (*write)(void *ctx, const void *buf, size_t n, sr_err *err), void *ctx,
                    sr_err *err);
    int (*send)(sr_plugin_instance *pi, const sr_message *m, const char *remote_path,
                long (*read)(void *ctx, void *buf, size_t n, sr_err *err), void *ctx,
                sr_err *err);
    /* Figures as name -> number into obj. */
    void (*metrics_report)(sr_plugin_instance *pi, json_t *obj);
    /* Free pi->backend (after stop). */
    void (*destroy)(sr_plugin_instance *pi);
} sr_plugin_backend_ops;

/* One loaded plugin. plugins.c frees name, short_name, schemes and options (each string
 * and the array); a backend's destroy frees its backend only. */
struct sr_plugin_instance {
    const sr_plugin_backend_ops *ops;
    char *name;          /* as the flowcb line wrote it ("accept.delete", "exec:./x.py") */
    char *short_name;    /* the name destfn scripts and logs use */
    sr_origin origin;    /* its flowcb line */
    unsigned hooks;      /* SR_PLUGIN_HOOK_* it has */
    char **schemes;      /* NULL-terminated: what download/send handle */
    char **options;      /* NULL-terminated: options it declared */
    bool started;
    const sr_config *cfg;
    const sr_plugins_env *env;
    void *backend;
};

/* The fields of a message (with its destination, when w is placed) as plugins see them
 * (sr/plugin.h, msg_get): string fields as strings, others as JSON text, the
 * destination as new_dir, new_file, new_relPath, new_baseUrl. A new JSON value (a
 * json string for strings), or NULL when absent. */
json_t *sr_plugin_field_get(const sr_message *m, const sr_placement *placement,
                            const char *field);
/* Set field to value (NULL: remove it) on m, or on placement for new_dir / new_file
 * (the new path checked to stay under placement->root, new_relPath recomputed), as a
 * received message's field is checked. SR_EINVAL naming the field when refused; the
 * message and placement are then unchanged. placement may be NULL (not placed: the
 * destination fields are refused). */
int sr_plugin_field_set(sr_message *m, sr_placement *placement, const char *field,
                        const json_t *value, sr_err *err);

/* The backends' constructors: fill pi (ops, hooks, schemes, options, backend). */
int sr_plugin_native_load(sr_plugin_instance *pi, const char *path, sr_err *err);
int sr_plugin_builtin_load(sr_plugin_instance *pi, const sr_plugin *desc, sr_err *err);
int sr_plugin_exec_load(sr_plugin_instance *pi, const char *command, sr_err *err);

/* The built-in plugins, by sr3's short name ("accept.delete"), or NULL. */
const sr_plugin *sr_plugin_builtin_find(const char *short_name);
/* Is short_name one of the built-ins? Then *desc is its description (NULL when this
 * executable was not linked with it: builtins.h, SR_BUILTIN_EMAIL_LINK) and *components
 * the components it may be used in (0: all). */
bool sr_plugin_builtin_known(const char *short_name, const sr_plugin **desc,
                             unsigned *components);
/* Every built-in name, NULL-terminated (sr-plugin(7) and the refusal list them). */
const char *const *sr_plugin_builtin_names(void);

#endif
