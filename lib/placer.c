/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * placer: see placer.h.
 */
#include "placer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins.h"
#include "regex.h"

struct sr_placer {
    const sr_config *cfg;
    struct sr_plugins *plugins; /* DESTFNSCRIPT's; may be NULL */
    sr_regex **strip_regex;     /* per mask, compiled on first use */
    size_t mask_count;
};

sr_placer *sr_placer_new(const sr_config *cfg, struct sr_plugins *plugins)
{
    sr_placer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->cfg = cfg;
    p->plugins = plugins;
    p->mask_count = sr_config_mask_count(cfg);
    p->strip_regex = calloc(p->mask_count ? p->mask_count : 1, sizeof *p->strip_regex);
    if (p->strip_regex == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void sr_placer_free(sr_placer *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->mask_count; i++)
        sr_regex_free(p->strip_regex[i]);
    free(p->strip_regex);
    free(p);
}

/* One filename spec's DESTFNSCRIPT= names, each answered by a plugin with destfn; where
 * says where the spec was written. */
static int check_scripts(const struct sr_plugins *plugins, const char *spec, const char *where,
                         sr_err *err)
{
    sr_strlist scripts = {0};
    int rc = sr_placement_filename_scripts(spec, &scripts) == 0
                 ? SR_OK
                 : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    for (size_t i = 0; rc == SR_OK && i < scripts.count; i++)
        if (plugins == NULL || !sr_plugins_has_destfn(plugins, scripts.items[i]))
            rc = sr_err_set(err, SR_EINVAL, false,
                            "%s: filename DESTFNSCRIPT=%s: no sr plugin named %s with destfn "
                            "(load one with flowcb %s; sr-plugin(7))",
                            where, scripts.items[i], scripts.items[i], scripts.items[i]);
    sr_strlist_clear(&scripts);
    return rc;
}

int sr_placer_check_config(const sr_config *cfg, const struct sr_plugins *plugins, sr_err *err)
{
    int rc = check_scripts(plugins, sr_config_str(cfg, SR_OPT_filename), sr_config_name(cfg), err);
    for (size_t i = 0; rc == SR_OK && i < sr_config_mask_count(cfg); i++) {
        const sr_mask *m = sr_config_mask(cfg, i);
        char where[512];
        sr_origin_format(&m->origin, where, sizeof where);
        rc = check_scripts(plugins, m->keyword ? m->keyword : m->filename, where, err);
    }
    return rc;
}

int sr_placer_check(const sr_placer *p, sr_err *err)
{
    return sr_placer_check_config(p->cfg, p->plugins, err);
}

/* rules.destfn: the placer's plugins name the file. */
static int plugin_destfn(void *ctx, const char *script, const sr_message *m, char **name,
                         sr_err *err)
{
    sr_placer *p = ctx;
    if (p->plugins == NULL)
        return sr_err_set(err, SR_ENOENT, false,
                          "filename DESTFNSCRIPT=%s: no sr plugin named %s with destfn", script,
                          script);
    return sr_plugins_destfn(p->plugins, script, m, name, err);
}

/* The strip setting in force at mask: a count, or a regex compiled once. */
static void strip_of(sr_placer *p, const sr_mask *mask, sr_placement_rules *r)
{
    const char *strip = mask ? mask->strip : sr_config_str(p->cfg, SR_OPT_strip);
    if (strip == NULL || strip[0] == '\0')
        return;
    if (strspn(strip, "0123456789") == strlen(strip)) {
        r->strip_count = atoll(strip);
        return;
    }
    size_t idx = 0;
    for (; mask && idx < p->mask_count && sr_config_mask(p->cfg, idx) != mask; idx++)
        ;
    if (mask == NULL || idx >= p->mask_count)
        return;
    if (p->strip_regex[idx] == NULL)
        p->strip_regex[idx] = sr_regex_new(strip, NULL);
    r->strip_regex = p->strip_regex[idx];
}

/* The Sundew naming in force: the accept line's own keyword, else the filename option
 * where the line was written, else (no line matched) the config's. */
static const char *filename_of(const sr_config *cfg, const sr_mask *mask)
{
    if (mask == NULL)
        return sr_config_str(cfg, SR_OPT_filename);
    return mask->keyword ? mask->keyword : mask->filename;
}

static double time_offset(const sr_config *cfg)
{
    return sr_config_seconds(cfg, SR_OPT_varTimeOffset);
}

int sr_placer_place(sr_placer *p, const sr_message *m, const sr_mask *mask,
                    const char *const *groups, int group_count, sr_placement *out, sr_err *err)
{
    const sr_config *cfg = p->cfg;
    sr_placement_rules r = {
        .directory =
            mask && mask->directory ? mask->directory : sr_config_str(cfg, SR_OPT_directory),
        .mirror = mask ? mask->mirror : sr_config_flag(cfg, SR_OPT_mirror),
        .flatten = mask && mask->flatten ? mask->flatten : sr_config_str(cfg, SR_OPT_flatten),
        .base_dir = sr_config_str(cfg, SR_OPT_baseDir),
        .post_base_dir = sr_config_str(cfg, SR_OPT_post_baseDir),
        .post_base_url = sr_config_str(cfg, SR_OPT_post_baseUrl),
        .source = sr_message_str(m, "source"),
        .time_offset = time_offset(cfg),
        .groups = groups,
        .group_count = group_count,
        .filename = filename_of(cfg, mask),
        .base_url_rel_path = sr_config_flag(cfg, SR_OPT_baseUrl_relPath),
        .destfn = plugin_destfn,
        .destfn_ctx = p,
    };
    strip_of(p, mask, &r);
    return sr_placement_compute(&r, m, time(NULL), out, err);
}

int sr_placer_source(sr_placer *p, const sr_message *m, char **root, char **under_root, sr_err *err)
{
    sr_placement_rules r = {
        .base_dir = sr_config_str(p->cfg, SR_OPT_baseDir),
        .post_base_dir = sr_config_str(p->cfg, SR_OPT_post_baseDir),
        .source = sr_message_str(m, "source"),
        .time_offset = time_offset(p->cfg),
    };
    return sr_placement_source(&r, m, time(NULL), root, under_root, err);
}
