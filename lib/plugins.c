/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugins: the chain of plugins of one flow (plugins.h). Resolves each flowcb line to a
 * backend (plugins_impl.h), claims the options the plugins declare, and runs each hook
 * over the plugins that have it, in the order of the lines. A message one plugin rejects
 * or sends to retry is not shown to the next (the backends skip items already decided).
 */
#include "plugins.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugins_impl.h"

struct sr_plugins {
    sr_plugin_instance **items;
    size_t count;
    unsigned hooks;     /* the union of every plugin's */
    sr_plugins_env env; /* each plugin's env points here; its strings are ours */
};

static void env_fini(sr_plugins_env *env)
{
    free((char *)env->config_dir);
    free((char *)env->system_dir);
    free((char *)env->state_dir);
}

/* A copy of env whose strings the sr_plugins owns. */
static int env_copy(sr_plugins_env *to, const sr_plugins_env *from)
{
    *to = *from;
    to->config_dir = from->config_dir ? strdup(from->config_dir) : NULL;
    to->system_dir = from->system_dir ? strdup(from->system_dir) : NULL;
    to->state_dir = from->state_dir ? strdup(from->state_dir) : NULL;
    if ((from->config_dir && !to->config_dir) || (from->system_dir && !to->system_dir) ||
        (from->state_dir && !to->state_dir)) {
        env_fini(to);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* loading                                                                             */

static void instance_free(sr_plugin_instance *pi)
{
    if (pi == NULL)
        return;
    if (pi->ops != NULL && pi->ops->destroy != NULL)
        pi->ops->destroy(pi);
    for (size_t i = 0; pi->schemes && pi->schemes[i]; i++)
        free(pi->schemes[i]);
    for (size_t i = 0; pi->options && pi->options[i]; i++)
        free(pi->options[i]);
    free(pi->schemes);
    free(pi->options);
    free(pi->name);
    free(pi->short_name);
    free(pi);
}

/* sr3's short name of a flowcb class: "sarracenia.flowcb.accept.delete.Delete",
 * "flowcb.accept.delete" and "accept.delete" are the same plugin. */
static char *short_name_of(const char *name)
{
    const char *v = name;
    if (strncmp(v, "exec:", 5) == 0) {
        /* the command's file name without its folder and extension: what logs show */
        v += 5;
        while (*v == ' ')
            v++;
        size_t n = strcspn(v, " ");
        char *cmd = strndup(v, n);
        if (cmd == NULL)
            return NULL;
        const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
        char *out = strndup(base, strcspn(base, "."));
        free(cmd);
        return out;
    }
    if (strchr(v, '/') != NULL) {
        const char *base = strrchr(v, '/') + 1;
        size_t n = strlen(base);
        if (n > 3 && strcmp(base + n - 3, ".so") == 0)
            n -= 3;
        return strndup(base, n);
    }
    if (strncmp(v, "sarracenia.", 11) == 0)
        v += 11;
    if (strncmp(v, "flowcb.", 7) == 0)
        v += 7;
    char *out = strdup(v);
    if (out == NULL)
        return NULL;
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".so") == 0)
        out[n - 3] = '\0';
    char *last = strrchr(out, '.');
    if (last != NULL && isupper((unsigned char)last[1]))
        *last = '\0'; /* the class name after the module */
    return out;
}

/* Is there something at path (a file, or anything the native loader will then judge)? */
static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int load_one(sr_plugins *ps, const sr_config *cfg, const sr_config_plugin *line,
                    sr_plugin_instance **out, sr_err *err)
{
    *out = NULL;
    sr_plugin_instance *pi = calloc(1, sizeof *pi);
    if (pi == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    pi->name = strdup(line->name);
    pi->short_name = short_name_of(line->name);
    pi->origin = line->origin;
    pi->env = &ps->env;
    pi->cfg = cfg; /* before the backend loads: an exec plugin's handshake sends options */
    if (pi->name == NULL || pi->short_name == NULL) {
        instance_free(pi);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    int rc;
    const sr_plugin *builtin = NULL;
    unsigned only = 0;
    char path[PATH_MAX];
    path[0] = '\0';
    if (strncmp(pi->name, "exec:", 5) == 0) {
        rc = sr_plugin_exec_load(pi, pi->name + 5, err);
    } else if (strchr(pi->name, '/') != NULL) {
        rc = sr_plugin_native_load(pi, pi->name, err);
    } else if (sr_plugin_builtin_known(pi->short_name, &builtin, &only)) {
        enum sr_component c = sr_config_component(cfg);
        if (only != 0 && !(only & (unsigned)c))
            rc = sr_err_set(err, SR_EINVAL, false,
                            "%s is built in for %s only, not for a %s: line refused "
                            "(sr-plugin(7))",
                            pi->name, only == SR_C_SENDER ? "sr_sender" : "other components",
                            sr_component_name(c));
        else if (builtin == NULL)
            rc = sr_err_set(err, SR_ENOENT, false,
                            "%s is not built into this program: line refused (sr-plugin(7))",
                            pi->name);
        else
            rc = sr_plugin_builtin_load(pi, builtin, err);
    } else {
        const char *dirs[2] = {NULL, ps->env.system_dir};
        char user_dir[PATH_MAX];
        if (ps->env.config_dir != NULL) {
            snprintf(user_dir, sizeof user_dir, "%s/plugins", ps->env.config_dir);
            dirs[0] = user_dir;
        }
        for (size_t i = 0; i < 2 && path[0] == '\0'; i++) {
            char candidate[PATH_MAX];
            if (dirs[i] == NULL || snprintf(candidate, sizeof candidate, "%s/%s.so", dirs[i],
                                            pi->short_name) >= (int)sizeof candidate)
                continue;
            if (exists(candidate))
                snprintf(path, sizeof path, "%s", candidate);
        }
        if (path[0] == '\0')
            rc = sr_err_set(err, SR_ENOENT, false,
                            "no sr plugin named %s: line refused (looked for %s.so in %s%s%s; "
                            "sr-plugin(7))",
                            pi->name, pi->short_name, dirs[0] ? dirs[0] : "",
                            dirs[1] ? " and " : "", dirs[1] ? dirs[1] : "");
        else
            rc = sr_plugin_native_load(pi, path, err);
    }
    if (rc == SR_OK)
        pi->started = false;
    if (rc != SR_OK) {
        /* the flowcb line it came from, as config errors name theirs */
        char at[PATH_MAX + 32];
        sr_origin_format(&pi->origin, at, sizeof at);
        sr_err_prefix(err, "%s", at);
        instance_free(pi);
        return rc;
    }
    *out = pi;
    return SR_OK;
}

int sr_plugins_load(sr_config *cfg, const sr_plugins_env *env, sr_plugins **out, sr_err *err)
{
    *out = NULL;
    sr_plugins *ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (env_copy(&ps->env, env) != 0) {
        free(ps);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    size_t n = 0;
    const sr_config_plugin *lines = sr_config_plugins(cfg, &n);
    if (n > 0 && (ps->items = calloc(n, sizeof *ps->items)) == NULL) {
        env_fini(&ps->env);
        free(ps);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        sr_plugin_instance *pi = NULL;
        int rc = load_one(ps, cfg, &lines[i], &pi, err);
        if (rc != SR_OK) {
            sr_plugins_free(ps);
            return rc;
        }
        sr_config_plugin_found(cfg, i);
        ps->items[ps->count++] = pi;
        ps->hooks |= pi->hooks;
        for (size_t k = 0; pi->options && pi->options[k]; k++)
            sr_config_claim(cfg, pi->options[k]);
    }
    *out = ps;
    return SR_OK;
}

void sr_plugins_free(sr_plugins *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = ps->count; i-- > 0;)
        instance_free(ps->items[i]);
    free(ps->items);
    env_fini(&ps->env);
    free(ps);
}

const char *sr_plugins_system_dir(void)
{
    const char *dir = getenv("SR_PLUGIN_DIR");
    return dir && dir[0] ? dir : SR_PLUGIN_DIR;
}

int sr_plugins_load_for(sr_config *cfg, const sr_paths *paths, int instance, sr_plugins **out,
                        sr_err *err)
{
    char *state = sr_paths_instance_dir(paths, sr_component_name(sr_config_component(cfg)),
                                        sr_config_name(cfg));
    if (state == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    sr_plugins_env env = {.config_dir = paths->config_dir,
                          .system_dir = sr_plugins_system_dir(),
                          .state_dir = state,
                          .instance = instance};
    int rc = sr_plugins_load(cfg, &env, out, err);
    free(state);
    return rc;
}

bool sr_plugin_is_builtin(const char *name)
{
    char *shortname = short_name_of(name);
    const sr_plugin *desc;
    unsigned components;
    bool found = sr_plugin_builtin_known(shortname, &desc, &components);
    free(shortname);
    return found;
}

int sr_plugins_probe(sr_config *cfg, const sr_paths *paths, sr_err *err)
{
    sr_plugins *ps = NULL;
    int rc = sr_plugins_load_for(cfg, paths, 0, &ps, err);
    sr_plugins_free(ps);
    return rc;
}

void sr_plugins_attach(sr_plugins *ps, sr_log *log, sr_metrics *metrics)
{
    if (ps == NULL)
        return;
    ps->env.log = log;
    ps->env.metrics = metrics;
}

size_t sr_plugins_count(const sr_plugins *ps)
{
    return ps ? ps->count : 0;
}

bool sr_plugins_have(const sr_plugins *ps, unsigned hooks)
{
    return ps != NULL && (ps->hooks & hooks) != 0;
}

/* ---------------------------------------------------------------------------------- */
/* the hooks                                                                           */

int sr_plugins_start(sr_plugins *ps, sr_err *err)
{
    if (ps == NULL)
        return SR_OK;
    for (size_t i = 0; i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        int rc = pi->ops->start != NULL && (pi->hooks & SR_PLUGIN_HOOK_ON_START)
                     ? pi->ops->start(pi, err)
                     : SR_OK;
        if (rc != SR_OK) {
            sr_plugins_stop(ps);
            return rc;
        }
        pi->started = true;
    }
    return SR_OK;
}

void sr_plugins_stop(sr_plugins *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = ps->count; i-- > 0;) {
        sr_plugin_instance *pi = ps->items[i];
        if (!pi->started)
            continue;
        pi->started = false;
        /* called whether or not the plugin has on_stop: a backend's stop also ends what
         * it started (an exec co-process) */
        if (pi->ops->stop != NULL)
            pi->ops->stop(pi);
    }
}

void sr_plugins_housekeeping(sr_plugins *ps)
{
    if (!sr_plugins_have(ps, SR_PLUGIN_HOOK_ON_HOUSEKEEPING))
        return;
    for (size_t i = 0; i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if ((pi->hooks & SR_PLUGIN_HOOK_ON_HOUSEKEEPING) && pi->ops->housekeeping)
            pi->ops->housekeeping(pi);
    }
}

/* After pi decided: who decided each new verdict, and its name in the reason. */
static void mark(sr_plugin_instance *pi, sr_plugin_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sr_plugin_item *it = &items[i];
        if (it->verdict == SR_PLUGIN_KEEP || it->by != NULL)
            continue;
        it->by = pi;
        char *why = NULL;
        if (asprintf(&why, "plugin %s: %s", pi->short_name,
                     it->why                           ? it->why
                     : it->verdict == SR_PLUGIN_REJECT ? "rejected"
                                                       : "to retry") < 0)
            why = NULL;
        if (why != NULL) {
            free(it->why);
            it->why = why;
        }
    }
}

typedef void (*item_hook)(sr_plugin_instance *pi, sr_plugin_item *items, size_t n);

static void over_items(sr_plugins *ps, unsigned hook, sr_plugin_item *items, size_t n)
{
    if (!sr_plugins_have(ps, hook) || n == 0)
        return;
    for (size_t i = 0; i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if ((pi->hooks & hook) == 0)
            continue;
        item_hook fn = hook == SR_PLUGIN_HOOK_AFTER_ACCEPT ? pi->ops->after_accept
                       : hook == SR_PLUGIN_HOOK_AFTER_WORK ? pi->ops->after_work
                                                           : pi->ops->after_post;
        if (fn == NULL)
            continue;
        fn(pi, items, n);
        if (hook != SR_PLUGIN_HOOK_AFTER_POST)
            mark(pi, items, n);
    }
}

void sr_plugins_after_accept(sr_plugins *ps, sr_plugin_item *items, size_t n)
{
    over_items(ps, SR_PLUGIN_HOOK_AFTER_ACCEPT, items, n);
}

void sr_plugins_after_work(sr_plugins *ps, sr_plugin_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        items[i].placed_already = true;
    over_items(ps, SR_PLUGIN_HOOK_AFTER_WORK, items, n);
}

void sr_plugins_after_post(sr_plugins *ps, sr_plugin_item *items, size_t n)
{
    over_items(ps, SR_PLUGIN_HOOK_AFTER_POST, items, n);
}

void sr_plugin_items_fini(sr_plugin_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].why);
        items[i].why = NULL;
    }
}

int sr_plugins_gather(sr_plugins *ps, size_t max, sr_message ***msgs, size_t *count, sr_err *err)
{
    (void)err; /* a plugin that fails is logged and skipped: the pass goes on */
    if (!sr_plugins_have(ps, SR_PLUGIN_HOOK_GATHER))
        return SR_OK;
    for (size_t i = 0; i < ps->count && *count < max; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if ((pi->hooks & SR_PLUGIN_HOOK_GATHER) == 0 || pi->ops->gather == NULL)
            continue;
        sr_err perr;
        if (pi->ops->gather(pi, max - *count, msgs, count, &perr) != SR_OK)
            sr_log_write(ps->env.log, SR_LOG_WARNING, "%s (skipped for this pass)", perr.msg);
    }
    return SR_OK;
}

int sr_plugins_poll(sr_plugins *ps, sr_message ***msgs, size_t *count, bool *polled, sr_err *err)
{
    *polled = sr_plugins_have(ps, SR_PLUGIN_HOOK_POLL);
    int result = SR_OK;
    for (size_t i = 0; *polled && i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if ((pi->hooks & SR_PLUGIN_HOOK_POLL) == 0 || pi->ops->poll == NULL)
            continue;
        sr_err perr;
        int rc = pi->ops->poll(pi, msgs, count, &perr);
        if (rc != SR_OK && result == SR_OK) {
            result = rc;
            if (err != NULL)
                *err = perr;
        }
    }
    return result;
}

/* DESTFNSCRIPT=script names the plugin whose short name's last dot-separated part is
 * script's, the first letter in either case (sr3 compares class names that way). */
static bool names_match(const char *script, const char *short_name)
{
    const char *a = strrchr(script, '.') ? strrchr(script, '.') + 1 : script;
    const char *b = strrchr(short_name, '.') ? strrchr(short_name, '.') + 1 : short_name;
    if (*a == '\0' || *b == '\0' || tolower((unsigned char)*a) != tolower((unsigned char)*b))
        return false;
    return strcmp(a + 1, b + 1) == 0;
}

static sr_plugin_instance *destfn_plugin(const sr_plugins *ps, const char *script)
{
    for (size_t i = 0; ps != NULL && script != NULL && i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if ((pi->hooks & SR_PLUGIN_HOOK_DESTFN) && pi->ops->destfn != NULL &&
            names_match(script, pi->short_name))
            return pi;
    }
    return NULL;
}

bool sr_plugins_has_destfn(const sr_plugins *ps, const char *script)
{
    return destfn_plugin(ps, script) != NULL;
}

int sr_plugins_destfn(sr_plugins *ps, const char *script, const sr_message *m, char **name,
                      sr_err *err)
{
    *name = NULL;
    sr_plugin_instance *pi = destfn_plugin(ps, script);
    if (pi == NULL)
        return sr_err_set(err, SR_ENOENT, false,
                          "DESTFNSCRIPT=%s: no loaded plugin of that name has destfn",
                          script ? script : "");
    char *got = NULL;
    int rc = pi->ops->destfn(pi, m, &got, err);
    if (rc != SR_OK)
        return rc;
    if (got == NULL) /* a C plugin leaving it empty, an exec plugin answering null: kept */
        return SR_OK;
    if (got[0] == '\0' || strchr(got, '/') != NULL || strcmp(got, ".") == 0 ||
        strcmp(got, "..") == 0) {
        char shown[SR_QUOTE_BUF];
        sr_err_quote(got, shown, sizeof shown);
        free(got);
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: destfn gave %s, not one file name",
                          pi->short_name, shown);
    }
    *name = got;
    return SR_OK;
}

sr_plugin_instance *sr_plugins_for_scheme(const sr_plugins *ps, const char *scheme, bool send)
{
    unsigned hook = send ? SR_PLUGIN_HOOK_SEND : SR_PLUGIN_HOOK_DOWNLOAD;
    if (!sr_plugins_have(ps, hook) || scheme == NULL)
        return NULL;
    for (size_t i = 0; i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if ((pi->hooks & hook) == 0)
            continue;
        for (size_t k = 0; pi->schemes && pi->schemes[k]; k++)
            if (strcasecmp(pi->schemes[k], scheme) == 0)
                return pi;
    }
    return NULL;
}

int sr_plugin_download(sr_plugin_instance *pi, const sr_message *m, const char *url,
                       int (*write)(void *ctx, const void *buf, size_t n, sr_err *err), void *ctx,
                       sr_err *err)
{
    if (pi->ops->download == NULL)
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: no download", pi->short_name);
    return pi->ops->download(pi, m, url, write, ctx, err);
}

int sr_plugin_send(sr_plugin_instance *pi, const sr_message *m, const char *remote_path,
                   long (*read)(void *ctx, void *buf, size_t n, sr_err *err), void *ctx,
                   sr_err *err)
{
    if (pi->ops->send == NULL)
        return sr_err_set(err, SR_EINVAL, false, "plugin %s: no send", pi->short_name);
    return pi->ops->send(pi, m, remote_path, read, ctx, err);
}

void sr_plugins_metrics(sr_plugins *ps)
{
    if (!sr_plugins_have(ps, SR_PLUGIN_HOOK_METRICS_REPORT))
        return;
    for (size_t i = 0; i < ps->count; i++) {
        sr_plugin_instance *pi = ps->items[i];
        if (!pi->started || (pi->hooks & SR_PLUGIN_HOOK_METRICS_REPORT) == 0 ||
            pi->ops->metrics_report == NULL)
            continue; /* not between on_start and on_stop: the flow's last write is after */
        json_t *obj = json_object();
        if (obj == NULL)
            continue;
        pi->ops->metrics_report(pi, obj);
        sr_metrics_plugin(ps->env.metrics, pi->short_name, obj);
        json_decref(obj);
    }
}
