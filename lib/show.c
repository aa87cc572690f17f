/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * show: see show.h. Built on the option table, so a new option shows up here by itself.
 */
#include "show.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strlist.h"
#include "units.h"
#include "url.h"

char *sr_show_value(const sr_config *cfg, enum sr_option_id id)
{
    const sr_option *opt = sr_option_get(id);
    const sr_value *v = sr_config_value(cfg, id);
    if (!v->set)
        return strdup("None");
    char buf[64];
    switch (opt->type) {
    case SR_T_FLAG:
        return strdup(v->u.flag ? "on" : "off");
    case SR_T_DURATION:
        return strdup(sr_format_number(v->u.seconds, buf, sizeof buf));
    case SR_T_COUNT:
    case SR_T_SIZE:
        snprintf(buf, sizeof buf, "%lld", v->u.count);
        return strdup(buf);
    case SR_T_FLOAT:
        return strdup(sr_format_number(v->u.number, buf, sizeof buf));
    case SR_T_OCTAL:
        snprintf(buf, sizeof buf, "%04o", v->u.bits);
        return strdup(buf);
    case SR_T_URL:
        return sr_url_redacted(v->text);
    case SR_T_LIST:
        return sr_strlist_join(&v->list, " ");
    default:
        return strdup(v->text ? v->text : "");
    }
}

static void origin_text(const sr_origin *o, char *buf, size_t size)
{
    sr_origin_format(o, buf, size);
}

static bool is_broker_scheme(const char *scheme)
{
    return strcmp(scheme, "amqp") == 0 || strcmp(scheme, "amqps") == 0 ||
           strcmp(scheme, "mqtt") == 0 || strcmp(scheme, "mqtts") == 0;
}

/* A URL option as the flow will use it: completed from credentials.conf, redacted.
 * *note says where the password comes from, or that a broker has none; "" otherwise. */
static char *url_value(const sr_config *cfg, const sr_credentials *creds, enum sr_option_id id,
                       char *note, size_t note_size)
{
    note[0] = '\0';
    const sr_value *v = sr_config_value(cfg, id);
    sr_url url;
    if (creds == NULL || !v->set || sr_url_parse(v->text, &url, NULL) != SR_OK)
        return sr_show_value(cfg, id);
    const sr_credential *cred = url.password ? NULL : sr_credentials_find(creds, &url);
    char *text = NULL;
    if (cred != NULL && cred->url.password != NULL) {
        sr_url done;
        if (sr_credentials_complete(creds, &url, &done, NULL) == SR_OK) {
            text = sr_url_format(&done, false);
            sr_url_fini(&done);
            snprintf(note, note_size, "password from %s:%d", cred->file, cred->line);
        }
    } else if (url.password == NULL && url.host != NULL && is_broker_scheme(url.scheme)) {
        snprintf(note, note_size, "no password: credentials.conf has no line for this URL");
    }
    sr_url_fini(&url);
    return text ? text : sr_show_value(cfg, id);
}

static const char *mask_flag(bool b)
{
    return b ? "on" : "off";
}

int sr_show_text(const sr_config *cfg, const sr_credentials *creds, const json_t *nodes,
                 FILE *out, sr_err *err)
{
    const char *path = sr_config_path(cfg);
    fprintf(out, "# %s/%s: %s\n", sr_component_name(sr_config_component(cfg)),
            sr_config_name(cfg), path ? path : "(no file)");
    char where[PATH_MAX + 32];
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        const sr_option *opt = sr_option_get(id);
        if (sr_type_is_line(opt->type))
            continue; /* listed below, one line per occurrence */
        char note[PATH_MAX + 64] = "";
        char *value = opt->type == SR_T_URL ? url_value(cfg, creds, id, note, sizeof note)
                                            : sr_show_value(cfg, id);
        if (value == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        origin_text(&sr_config_value(cfg, id)->origin, where, sizeof where);
        fprintf(out, "%-26s %-40s # %s%s%s\n", opt->name, value, where, note[0] ? "; " : "",
                note);
        free(value);
    }
    for (size_t i = 0; i < sr_config_subtopic_count(cfg); i++) {
        const sr_subtopic *s = sr_config_subtopic(cfg, i);
        origin_text(&s->origin, where, sizeof where);
        fprintf(out, "subtopic %-17s exchange=%s topicPrefix=%s # %s\n", s->pattern,
                s->exchange ? s->exchange : sr_config_str(cfg, SR_OPT_exchange) ? sr_config_str(cfg, SR_OPT_exchange) : "None",
                s->topic_prefix ? s->topic_prefix : sr_config_str(cfg, SR_OPT_topicPrefix) ? sr_config_str(cfg, SR_OPT_topicPrefix) : "None",
                where);
    }
    for (size_t i = 0; i < sr_config_mask_count(cfg); i++) {
        const sr_mask *m = sr_config_mask(cfg, i);
        origin_text(&m->origin, where, sizeof where);
        fprintf(out, "%s %s%s%s directory=%s mirror=%s strip=%s flatten=%s # %s\n",
                m->accept ? "accept" : "reject", m->pattern, m->keyword ? " " : "",
                m->keyword ? m->keyword : "", m->directory ? m->directory : "None",
                mask_flag(m->mirror), m->strip ? m->strip : "None",
                m->flatten ? m->flatten : "None", where);
    }
    const sr_strlist *lists[] = {sr_config_headers(cfg), sr_config_env(cfg),
                                 sr_config_declared(cfg), sr_config_settings(cfg)};
    const char *prefixes[] = {"header", "declare env", "declare", "set"};
    for (size_t l = 0; l < 4; l++)
        for (size_t i = 0; i < lists[l]->count; i++)
            fprintf(out, "%s %s\n", prefixes[l], lists[l]->items[i]);
    size_t plugin_count = 0;
    const sr_config_plugin *plugins = sr_config_plugins(cfg, &plugin_count);
    for (size_t i = 0; i < plugin_count; i++) {
        origin_text(&plugins[i].origin, where, sizeof where);
        fprintf(out, "flowcb %-19s # %s\n", plugins[i].name, where);
    }
    /* the options the plugins declared (claimed when they loaded: sr_plugins_probe) */
    sr_strlist extra = {0};
    if (sr_config_extra_names(cfg, &extra) != NULL)
        for (size_t i = 0; i < extra.count; i++) {
            const sr_strlist *values = sr_config_extra(cfg, extra.items[i]);
            for (size_t k = 0; values && k < values->count; k++)
                fprintf(out, "%-26s %-40s # a plugin's option\n", extra.items[i],
                        values->items[k]);
        }
    sr_strlist_clear(&extra);
    const sr_strlist *refused = sr_config_refused(cfg);
    for (size_t i = 0; i < refused->count; i++)
        fprintf(out, "# refused: %s\n", refused->items[i]);
    const sr_strlist *warnings = sr_config_warnings(cfg);
    for (size_t i = 0; i < warnings->count; i++)
        fprintf(out, "# warning: %s\n", warnings->items[i]);
    if (nodes != NULL && json_object_size(nodes) > 0) {
        /* in instance order (the keys are instance numbers) */
        fputs("# brokerNodes", out);
        long last = -1;
        for (size_t n = json_object_size(nodes); n > 0; n--) {
            const char *key, *node = NULL;
            json_t *value;
            long best = -1;
            json_object_foreach((json_t *)nodes, key, value) {
                long k = strtol(key, NULL, 10);
                if (k > last && (best < 0 || k < best)) {
                    best = k;
                    node = json_string_value(value);
                }
            }
            if (best < 0)
                break;
            fprintf(out, "%s i%ld %s", last >= 0 ? "," : "", best, node ? node : "?");
            last = best;
        }
        fputs(" (the running instances, from their metrics)\n", out);
    }
    return SR_OK;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The typed JSON value of an option: a number, a boolean, a string, a list, or null. */
static json_t *json_value(const sr_config *cfg, const sr_credentials *creds, enum sr_option_id id,
                          char *note, size_t note_size)
{
    const sr_option *opt = sr_option_get(id);
    const sr_value *v = sr_config_value(cfg, id);
    if (!v->set)
        return json_null();
    switch (opt->type) {
    case SR_T_FLAG:
        return json_boolean(v->u.flag);
    case SR_T_DURATION:
        return json_real(v->u.seconds);
    case SR_T_COUNT:
    case SR_T_SIZE:
        return json_integer(v->u.count);
    case SR_T_FLOAT:
        return json_real(v->u.number);
    case SR_T_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->list.count; i++)
            json_array_append_new(a, json_string(v->list.items[i]));
        return a;
    }
    case SR_T_SET: {
        json_t *a = json_array();
        char *copy = strdup(v->text ? v->text : "");
        char *save = NULL;
        for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; a && w;
             w = strtok_r(NULL, ",", &save))
            json_array_append_new(a, json_string(w));
        free(copy);
        return a;
    }
    case SR_T_URL: {
        char *text = url_value(cfg, creds, id, note, note_size);
        json_t *j = text ? json_string(text) : NULL;
        free(text);
        return j;
    }
    default: {
        char *text = sr_show_value(cfg, id);
        json_t *j = text ? json_string(text) : NULL;
        free(text);
        return j;
    }
    }
}

static json_t *strlist_json(const sr_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->count; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

int sr_show_json(const sr_config *cfg, const sr_credentials *creds, const json_t *nodes,
                 FILE *out, sr_err *err)
{
    char where[PATH_MAX + 32];
    json_t *root = json_object();
    json_t *options = json_object();
    json_t *masks = json_array();
    json_t *subtopics = json_array();
    if (!root || !options || !masks || !subtopics) {
        json_decref(root);
        json_decref(options);
        json_decref(masks);
        json_decref(subtopics);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    json_object_set_new(root, "component",
                        json_string(sr_component_name(sr_config_component(cfg))));
    json_object_set_new(root, "config", json_string(sr_config_name(cfg)));
    json_object_set_new(root, "file", str_or_null(sr_config_path(cfg)));
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        const sr_option *opt = sr_option_get(id);
        if (opt->type >= SR_T_MASK)
            continue;
        origin_text(&sr_config_value(cfg, id)->origin, where, sizeof where);
        json_t *o = json_object();
        char note[PATH_MAX + 64] = "";
        json_object_set_new(o, "value", json_value(cfg, creds, id, note, sizeof note));
        json_object_set_new(o, "origin", json_string(where));
        if (note[0] != '\0')
            json_object_set_new(o, "note", json_string(note));
        json_object_set_new(options, opt->name, o);
    }
    json_object_set_new(root, "options", options);
    for (size_t i = 0; i < sr_config_mask_count(cfg); i++) {
        const sr_mask *m = sr_config_mask(cfg, i);
        origin_text(&m->origin, where, sizeof where);
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:s}", "kind",
                              m->accept ? "accept" : "reject", "pattern", m->pattern, "keyword",
                              str_or_null(m->keyword), "directory", str_or_null(m->directory),
                              "mirror", m->mirror, "strip", str_or_null(m->strip), "flatten",
                              str_or_null(m->flatten), "filename", str_or_null(m->filename),
                              "origin", where);
        json_array_append_new(masks, o);
    }
    json_object_set_new(root, "masks", masks);
    for (size_t i = 0; i < sr_config_subtopic_count(cfg); i++) {
        const sr_subtopic *s = sr_config_subtopic(cfg, i);
        origin_text(&s->origin, where, sizeof where);
        const char *ex = s->exchange ? s->exchange : sr_config_str(cfg, SR_OPT_exchange);
        const char *tp = s->topic_prefix ? s->topic_prefix : sr_config_str(cfg, SR_OPT_topicPrefix);
        json_array_append_new(subtopics,
                              json_pack("{s:s, s:o, s:o, s:s}", "pattern", s->pattern, "exchange",
                                        str_or_null(ex), "topicPrefix", str_or_null(tp),
                                        "origin", where));
    }
    json_object_set_new(root, "subtopics", subtopics);
    json_object_set_new(root, "headers", strlist_json(sr_config_headers(cfg)));
    json_object_set_new(root, "env", strlist_json(sr_config_env(cfg)));
    json_object_set_new(root, "declare", strlist_json(sr_config_declared(cfg)));
    json_object_set_new(root, "set", strlist_json(sr_config_settings(cfg)));
    json_t *plugin_list = json_array(), *plugin_options = json_object();
    size_t plugin_count = 0;
    const sr_config_plugin *plugins = sr_config_plugins(cfg, &plugin_count);
    for (size_t i = 0; plugin_list && i < plugin_count; i++) {
        origin_text(&plugins[i].origin, where, sizeof where);
        json_array_append_new(plugin_list, json_pack("{s:s, s:s}", "name", plugins[i].name,
                                                     "origin", where));
    }
    sr_strlist extra = {0};
    if (plugin_options != NULL && sr_config_extra_names(cfg, &extra) != NULL)
        for (size_t i = 0; i < extra.count; i++)
            json_object_set_new(plugin_options, extra.items[i],
                                strlist_json(sr_config_extra(cfg, extra.items[i])));
    sr_strlist_clear(&extra);
    json_object_set_new(root, "plugins", plugin_list);
    json_object_set_new(root, "pluginOptions", plugin_options);
    json_object_set_new(root, "refused", strlist_json(sr_config_refused(cfg)));
    json_object_set_new(root, "warnings", strlist_json(sr_config_warnings(cfg)));
    json_object_set_new(root, "brokerNodes", nodes != NULL ? json_deep_copy(nodes) : json_null());
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    if (rc != 0)
        return sr_err_set(err, SR_EIO, false, "cannot write the JSON output");
    return SR_OK;
}
