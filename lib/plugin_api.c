/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_api: what sr does for a C or built-in plugin (sr/plugin.h), and the one place
 * that checks what any plugin (exec ones too) may read and change on a message and its
 * destination: sr_plugin_field_get / sr_plugin_field_set (plugins_impl.h).
 *
 * A plugin is as trusted as the config that names it, but what it writes into a message
 * usually comes from the message (a pattern applied to relPath), so every change is
 * checked as a received message is checked (message_impl.h, sr_msg_check_all), and a
 * destination it chooses stays under the placement's root by the rules placement.c
 * follows (a path below the root, no ".." component: jail.h).
 */
#include "plugin_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jail.h"
#include "message_impl.h"
#include "timefmt.h"

/* ---------------------------------------------------------------------------------- */
/* fields                                                                              */

static const char *placement_field(const sr_placement *p, const char *field)
{
    if (strcmp(field, "new_dir") == 0)
        return p->dir;
    if (strcmp(field, "new_file") == 0)
        return p->name;
    if (strcmp(field, "new_relPath") == 0)
        return p->rel_path;
    if (strcmp(field, "new_baseUrl") == 0)
        return p->base_url;
    return NULL;
}

static bool is_destination_field(const char *field)
{
    return strcmp(field, "new_dir") == 0 || strcmp(field, "new_file") == 0 ||
           strcmp(field, "new_relPath") == 0 || strcmp(field, "new_baseUrl") == 0;
}

json_t *sr_plugin_field_get(const sr_message *m, const sr_placement *placement, const char *field)
{
    if (field == NULL)
        return NULL;
    if (is_destination_field(field)) {
        const char *v = placement ? placement_field(placement, field) : NULL;
        return v ? json_string(v) : NULL;
    }
    json_t *v = json_object_get(m->fields, field);
    return v ? json_deep_copy(v) : NULL;
}

/* path below root, as placement.c computes under_root: NULL when it is not. */
static const char *below_root(const char *root, const char *path)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (strcmp(root, "/") == 0)
        return path[0] == '/' ? path + 1 : NULL;
    if (strcmp(root, ".") == 0)
        return path[0] != '/' ? path : NULL;
    if (strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        return path[n] == '/' ? path + n + 1 : path + n;
    return NULL;
}

/* The announced relPath for a new path: the placement's is path relative to post_baseDir
 * (or path without its leading '/'), so the prefix the old pair shows is kept. */
static char *announced(const sr_placement *p, const char *path)
{
    const char *prefix = "/";
    size_t plen = 1;
    size_t pl = strlen(p->path), rl = p->rel_path ? strlen(p->rel_path) : 0;
    if (p->rel_path && rl <= pl && strcmp(p->path + pl - rl, p->rel_path) == 0) {
        prefix = p->path;
        plen = pl - rl;
    }
    if (strncmp(path, prefix, plen) == 0)
        return strdup(path + plen);
    return strdup(path[0] == '/' ? path + 1 : path);
}

static int refuse(sr_err *err, const char *field, const char *value, const char *why)
{
    char shown[SR_QUOTE_BUF];
    return sr_err_set(err, SR_EINVAL, false, "field %s %s refused: %s", field,
                      sr_err_quote(value ? value : "", shown, sizeof shown), why);
}

/* A new destination folder or file name: checked, then every derived name made anew
 * before any is changed, so a refusal or an allocation failure leaves p as it was. */
static int set_destination(sr_placement *p, const char *dir, const char *name, const char *field,
                           sr_err *err)
{
    const char *value = dir ? dir : name;
    if (name != NULL) {
        if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0)
            return refuse(err, field, value, "not one file name");
        if (sr_msg_check_string(field, name, SR_MSG_FIELD_MAX, err) != SR_OK)
            return err->code;
    }
    char *ndir = NULL;
    if (dir != NULL) {
        if (sr_msg_check_string(field, dir, SR_MSG_FIELD_MAX, err) != SR_OK)
            return err->code;
        ndir = strdup(dir);
        if (ndir == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        size_t n = strlen(ndir);
        while (n > 1 && ndir[n - 1] == '/')
            ndir[--n] = '\0';
        const char *rest = below_root(p->root, ndir);
        if (rest == NULL || (rest[0] != '\0' && !sr_jail_rel_ok(rest))) {
            free(ndir);
            return refuse(err, field, value, "outside the destination root");
        }
    }
    const char *d = ndir ? ndir : p->dir;
    const char *f = name ? name : p->name;
    char *path = NULL, *under = NULL, *rel = NULL, *nname = NULL;
    if (asprintf(&path, "%s%s%s", d, strcmp(d, "/") == 0 ? "" : "/", f) < 0)
        path = NULL;
    const char *b = path ? below_root(p->root, path) : NULL;
    if (path != NULL && b == NULL) {
        free(ndir);
        free(path);
        return refuse(err, field, value, "outside the destination root");
    }
    if (path != NULL) {
        under = strdup(b);
        rel = announced(p, path);
        nname = strdup(f);
    }
    if (path == NULL || under == NULL || rel == NULL || nname == NULL) {
        free(ndir);
        free(path);
        free(under);
        free(rel);
        free(nname);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (ndir != NULL) {
        free(p->dir);
        p->dir = ndir;
    }
    free(p->name);
    p->name = nname;
    free(p->path);
    p->path = path;
    free(p->under_root);
    p->under_root = under;
    free(p->rel_path);
    p->rel_path = rel;
    return SR_OK;
}

static int set_placement(sr_placement *p, const char *field, const json_t *value, sr_err *err)
{
    if (p == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "field %s: the message has no destination here (not placed)", field);
    if (value == NULL && strcmp(field, "new_baseUrl") != 0)
        return sr_err_set(err, SR_EINVAL, false, "field %s: cannot be removed", field);
    if (value != NULL && !json_is_string(value))
        return sr_err_set(err, SR_EINVAL, false, "field %s: not a string", field);
    const char *v = value ? json_string_value(value) : NULL;
    if (strcmp(field, "new_dir") == 0)
        return set_destination(p, v, NULL, field, err);
    if (strcmp(field, "new_file") == 0)
        return set_destination(p, NULL, v, field, err);
    if (strcmp(field, "new_relPath") == 0) {
        if (sr_msg_check_path(field, v, err) != SR_OK)
            return err->code;
        char *copy = strdup(v);
        if (copy == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        free(p->rel_path);
        p->rel_path = copy;
        return SR_OK;
    }
    /* new_baseUrl: checked as a message's baseUrl is */
    char *copy = NULL;
    if (v != NULL) {
        sr_message *probe = NULL;
        if (sr_message_new("20000101T000000", v, "x", &probe, err) != SR_OK)
            return err->code;
        sr_message_free(probe);
        if ((copy = strdup(v)) == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(p->base_url);
    p->base_url = copy;
    return SR_OK;
}

int sr_plugin_field_set(sr_message *m, sr_placement *placement, const char *field,
                        const json_t *value, sr_err *err)
{
    if (field == NULL || field[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "a field name is needed");
    if (is_destination_field(field))
        return set_placement(placement, field, value, err);
    if (value == NULL && (strcmp(field, "pubTime") == 0 || strcmp(field, "baseUrl") == 0 ||
                          strcmp(field, "relPath") == 0))
        return sr_err_set(err, SR_EINVAL, false, "field %s: required, cannot be removed", field);
    /* Checked on a copy, as the decoder checks a whole message (a field's check may
     * depend on another: blocks and size), then swapped in: a refused change leaves the
     * message as it was. */
    json_t *copy = json_deep_copy(m->fields);
    json_t *v = value ? json_deep_copy(value) : NULL;
    if (copy == NULL || (value != NULL && v == NULL)) {
        json_decref(copy);
        json_decref(v);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (v != NULL && json_object_set_new(copy, field, v) != 0) {
        json_decref(copy);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (v == NULL)
        json_object_del(copy, field);
    if (sr_msg_check_all(copy, err) != SR_OK) {
        json_decref(copy);
        return err->code;
    }
    sr_msg_fields_changed(m, field);
    json_decref(m->fields);
    m->fields = copy;
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* handles                                                                             */

void sr_plugin_hostctx_init(sr_plugin_hostctx *hc, sr_plugin_instance *pi)
{
    memset(hc, 0, sizeof *hc);
    hc->host.api = &sr_plugin_api_table;
    hc->pi = pi;
}

static void fresh_free(sr_plugin_msg *pm)
{
    sr_message_free(pm->m);
    sr_plugin_msg_fini(pm);
    free(pm);
}

void sr_plugin_hostctx_end(sr_plugin_hostctx *hc)
{
    for (size_t i = 0; i < hc->fresh_count; i++)
        fresh_free(hc->fresh[i]);
    free(hc->fresh);
    hc->fresh = NULL;
    hc->fresh_count = hc->fresh_cap = 0;
    hc->collecting = false;
    hc->metrics = NULL;
}

int sr_plugin_hostctx_take(sr_plugin_hostctx *hc, size_t max, sr_message ***msgs, size_t *count,
                           sr_err *err)
{
    size_t n = hc->fresh_count < max ? hc->fresh_count : max;
    int rc = SR_OK;
    if (n > 0) {
        sr_message **grown = realloc(*msgs, (*count + n) * sizeof *grown);
        if (grown == NULL) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            n = 0;
        } else {
            *msgs = grown;
        }
    }
    for (size_t i = 0; i < n; i++) {
        (*msgs)[(*count)++] = hc->fresh[i]->m;
        hc->fresh[i]->m = NULL;
    }
    sr_plugin_hostctx_end(hc);
    return rc;
}

void sr_plugin_msg_init(sr_plugin_msg *pm, sr_plugin_hostctx *hc, sr_message *m,
                        sr_placement *placement, bool readonly)
{
    memset(pm, 0, sizeof *pm);
    pm->m = m;
    pm->placement = placement;
    pm->host = hc;
    pm->readonly = readonly;
}

void sr_plugin_msg_fini(sr_plugin_msg *pm)
{
    sr_strlist_clear(&pm->scratch);
}

/* ---------------------------------------------------------------------------------- */
/* the api                                                                             */

static sr_plugin_hostctx *ctx_of(sr_plugin_host *h)
{
    return (sr_plugin_hostctx *)h;
}

__attribute__((format(printf, 2, 3))) static void fail(sr_plugin_hostctx *hc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hc->error, sizeof hc->error, fmt, ap);
    va_end(ap);
}

static void api_log(sr_plugin_host *h, enum sr_plugin_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void api_log(sr_plugin_host *h, enum sr_plugin_level level, const char *fmt, ...)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    static const enum sr_level levels[] = {SR_LOG_DEBUG, SR_LOG_INFO, SR_LOG_WARNING, SR_LOG_ERROR,
                                           SR_LOG_CRITICAL};
    enum sr_level lv = (unsigned)level < 5 ? levels[level] : SR_LOG_ERROR;
    /* the log adds the config and instance; the plugin's name says who speaks */
    if (hc->pi->env->log != NULL)
        sr_log_write(hc->pi->env->log, lv, "plugin %s: %s", hc->pi->short_name, text);
    else
        sr_log_stderr("plugin %s: %s", hc->pi->short_name, text);
}

static const char *api_error(sr_plugin_host *h)
{
    return ctx_of(h)->error;
}

static const sr_strlist *extra_of(sr_plugin_hostctx *hc, const char *name)
{
    return hc->pi->cfg ? sr_config_extra(hc->pi->cfg, name) : NULL;
}

static const char *api_option(sr_plugin_host *h, const char *name)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    if (name == NULL || hc->pi->cfg == NULL)
        return NULL;
    const sr_strlist *x = extra_of(hc, name);
    if (x != NULL) /* a later line overrides, as for any option */
        return x->count ? x->items[x->count - 1] : NULL;
    sr_option_match om = sr_option_lookup(name);
    if (om.id < 0)
        return NULL;
    const sr_value *v = sr_config_value(hc->pi->cfg, om.id);
    if (v->list.count > 0)
        return v->list.items[v->list.count - 1];
    return v->set ? v->text : NULL;
}

static size_t api_option_count(sr_plugin_host *h, const char *name)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    if (name == NULL || hc->pi->cfg == NULL)
        return 0;
    const sr_strlist *x = extra_of(hc, name);
    if (x != NULL)
        return x->count;
    sr_option_match om = sr_option_lookup(name);
    if (om.id < 0)
        return 0;
    const sr_value *v = sr_config_value(hc->pi->cfg, om.id);
    if (v->list.count > 0)
        return v->list.count;
    return v->set ? 1 : 0;
}

static const char *api_option_at(sr_plugin_host *h, const char *name, size_t i)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    if (name == NULL || hc->pi->cfg == NULL)
        return NULL;
    const sr_strlist *x = extra_of(hc, name);
    if (x != NULL)
        return i < x->count ? x->items[i] : NULL;
    sr_option_match om = sr_option_lookup(name);
    if (om.id < 0)
        return NULL;
    const sr_value *v = sr_config_value(hc->pi->cfg, om.id);
    if (v->list.count > 0)
        return i < v->list.count ? v->list.items[i] : NULL;
    return v->set && i == 0 ? v->text : NULL;
}

static const char *api_component(sr_plugin_host *h)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    return hc->pi->cfg ? sr_component_name(sr_config_component(hc->pi->cfg)) : "";
}

static const char *api_config_name(sr_plugin_host *h)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    return hc->pi->cfg ? sr_config_name(hc->pi->cfg) : "";
}

static int api_instance(sr_plugin_host *h)
{
    return ctx_of(h)->pi->env->instance;
}

static const char *api_state_dir(sr_plugin_host *h)
{
    return ctx_of(h)->pi->env->state_dir;
}

/* A text handed to the plugin: kept by the handle until the hook returns. */
static const char *keep(sr_plugin_msg *pm, char *text)
{
    if (text == NULL)
        return NULL;
    int rc = sr_strlist_push(&pm->scratch, text);
    free(text);
    return rc == 0 ? pm->scratch.items[pm->scratch.count - 1] : NULL;
}

static const char *api_msg_get(sr_plugin_msg *pm, const char *field)
{
    if (pm == NULL || field == NULL)
        return NULL;
    if (is_destination_field(field))
        return pm->placement ? placement_field(pm->placement, field) : NULL;
    json_t *v = json_object_get(pm->m->fields, field);
    if (v == NULL)
        return NULL;
    if (json_is_string(v))
        return json_string_value(v); /* sr/plugin.h: valid until the message changes */
    return keep(pm, json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
}

static int set_field(sr_plugin_msg *pm, const char *field, const json_t *value)
{
    sr_err err;
    if (pm->readonly) {
        fail(pm->host, "field %s: messages cannot be changed in this hook", field ? field : "");
        return -1;
    }
    if (pm->placed_already && field != NULL && strncmp(field, "new_", 4) == 0) {
        fail(pm->host, "field %s: the file is written or sent already (set it in after_accept)",
             field);
        return -1;
    }
    if (sr_plugin_field_set(pm->m, pm->placement, field, value, &err) != SR_OK) {
        fail(pm->host, "%s", err.msg);
        return -1;
    }
    return 0;
}

static int api_msg_set(sr_plugin_msg *pm, const char *field, const char *value)
{
    if (pm == NULL)
        return -1;
    if (value == NULL) {
        fail(pm->host, "field %s: no value (msg_remove removes a field)", field ? field : "");
        return -1;
    }
    json_t *v = json_string(value);
    if (v == NULL) {
        fail(pm->host, "field %s: not valid UTF-8", field ? field : "");
        return -1;
    }
    int rc = set_field(pm, field, v);
    json_decref(v);
    return rc;
}

static int api_msg_set_json(sr_plugin_msg *pm, const char *field, const char *json)
{
    if (pm == NULL)
        return -1;
    json_error_t jerr;
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, &jerr) : NULL;
    if (v == NULL) {
        fail(pm->host, "field %s: not JSON: %s", field ? field : "", json ? jerr.text : "none");
        return -1;
    }
    int rc = set_field(pm, field, v);
    json_decref(v);
    return rc;
}

static int api_msg_remove(sr_plugin_msg *pm, const char *field)
{
    return pm == NULL ? -1 : set_field(pm, field, NULL);
}

static const char *api_msg_json(sr_plugin_msg *pm)
{
    if (pm == NULL)
        return NULL;
    return keep(pm, json_dumps(pm->m->fields, JSON_COMPACT));
}

static sr_plugin_msg *api_msg_new(sr_plugin_host *h, const char *base_url, const char *rel_path)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    if (!hc->collecting) {
        fail(hc, "msg_new: only in gather and poll");
        return NULL;
    }
    struct timespec now;
    char stamp[64];
    sr_time_now(&now);
    sr_time_format(&now, true, stamp, sizeof stamp);
    sr_message *m = NULL;
    sr_err err;
    if (base_url == NULL || rel_path == NULL) {
        fail(hc, "msg_new: a baseUrl and a relPath are needed");
        return NULL;
    }
    if (sr_message_new(stamp, base_url, rel_path, &m, &err) != SR_OK) {
        fail(hc, "msg_new: %s", err.msg);
        return NULL;
    }
    sr_plugin_msg *pm = malloc(sizeof *pm);
    if (pm != NULL && hc->fresh_count == hc->fresh_cap) {
        size_t cap = hc->fresh_cap ? hc->fresh_cap * 2 : 16;
        sr_plugin_msg **grown = realloc(hc->fresh, cap * sizeof *grown);
        if (grown == NULL) {
            free(pm);
            pm = NULL;
        } else {
            hc->fresh = grown;
            hc->fresh_cap = cap;
        }
    }
    if (pm == NULL) {
        sr_message_free(m);
        fail(hc, "msg_new: out of memory");
        return NULL;
    }
    sr_plugin_msg_init(pm, hc, m, NULL, false);
    hc->fresh[hc->fresh_count++] = pm;
    return pm;
}

static int api_sink_write(sr_plugin_sink *s, const void *buf, size_t n)
{
    sr_err err;
    if (s == NULL)
        return -1;
    if (s->write(s->ctx, buf, n, &err) != SR_OK) {
        fail(s->host, "%s", err.msg);
        return -1;
    }
    return 0;
}

static long api_source_read(sr_plugin_source *s, void *buf, size_t n)
{
    sr_err err;
    if (s == NULL)
        return -1;
    long got = s->read(s->ctx, buf, n, &err);
    if (got < 0)
        fail(s->host, "%s", err.msg);
    return got;
}

static void api_metric(sr_plugin_host *h, const char *name, double value)
{
    sr_plugin_hostctx *hc = ctx_of(h);
    if (hc->metrics != NULL && name != NULL)
        json_object_set_new(hc->metrics, name, json_real(value));
}

const sr_plugin_api sr_plugin_api_table = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .size = sizeof(sr_plugin_api),
    .log = api_log,
    .error = api_error,
    .option = api_option,
    .option_count = api_option_count,
    .option_at = api_option_at,
    .component = api_component,
    .config_name = api_config_name,
    .instance = api_instance,
    .state_dir = api_state_dir,
    .msg_get = api_msg_get,
    .msg_set = api_msg_set,
    .msg_set_json = api_msg_set_json,
    .msg_remove = api_msg_remove,
    .msg_json = api_msg_json,
    .msg_new = api_msg_new,
    .sink_write = api_sink_write,
    .source_read = api_source_read,
    .metric = api_metric,
};
