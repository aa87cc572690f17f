/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * config: read sr3-syntax configuration files into typed values. See config.h for the
 * layers, the syntax and what becomes a warning or an error.
 *
 * Invariants: every value in cfg->values has the type of its option in the table; masks
 * and subtopics are in file order; every sr_origin.file points into cfg->files, which
 * lives as long as the config.
 */
#include "config.h"
#include "convert.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "identity.h"
#include "listing.h"
#include "paths.h"
#include "placement.h"
#include "regex.h"
#include "schedule.h"
#include "topic.h"
#include "units.h"
#include "url.h"
#include "varsub.h"

/* Deeper than this is surely a loop the realpath check could not see (a file system
 * that gives no stable real path). */
#define INCLUDE_DEPTH_MAX 16

struct sr_config {
    enum sr_component component;
    char *name;
    char *path;
    char *config_dir;
    sr_value values[SR_OPT_COUNT];
    sr_mask *masks;
    size_t mask_count, mask_cap;
    sr_subtopic *subtopics;
    size_t subtopic_count, subtopic_cap;
    sr_strlist headers, env, declared, settings, warnings;
    sr_strlist refused; /* lines without effect in sr: check and start fail (config.h) */
    sr_strlist notes;   /* lines sr does without being told (built-in callbacks) */
    sr_strlist files;   /* every file read: sr_origin.file points at these */
    /* flowcb lines naming plugins (config.h): the _prepend ones first, each in file order */
    sr_config_plugin *plugins;
    size_t plugin_count, plugin_cap, plugin_prepended;
    /* lines naming an option sr does not know: refused until a plugin claims the name */
    struct extra_option *extras;
    size_t extra_count, extra_cap;
    sr_strlist reading; /* real paths of the files being read, for include loops */
    char hostname[256];
    char randid[5];
};

/* The lines of one option name sr does not know (a plugin's, perhaps): their values in
 * order and the refusals they made, withdrawn when a plugin claims the name. */
struct extra_option {
    char *name;
    sr_strlist values;
    sr_strlist refusals;
    bool claimed;
};

/* Where the line being applied came from. */
typedef struct line_ctx {
    sr_origin origin;
    bool user_config; /* the config itself (or its includes, or the command line) */
    const char *dir;  /* folder of the file being read, for relative includes */
    int depth;
} line_ctx;

static int parse_file(sr_config *cfg, const char *path, enum sr_origin_kind kind,
                      bool user_config, int depth, sr_err *err);
static int apply_value(sr_config *cfg, const line_ctx *lc, const char *name, enum sr_option_id id,
                       const char *value, sr_err *err);

/* ---------------------------------------------------------------------------------- */
/* origins and messages                                                                */

void sr_origin_format(const sr_origin *origin, char *buf, size_t size)
{
    switch (origin->kind) {
    case SR_ORIGIN_UNSET:
        snprintf(buf, size, "unset");
        return;
    case SR_ORIGIN_DEFAULT:
        snprintf(buf, size, "default");
        return;
    case SR_ORIGIN_DERIVED:
        snprintf(buf, size, "derived");
        return;
    case SR_ORIGIN_CMDLINE:
        snprintf(buf, size, "command line");
        return;
    case SR_ORIGIN_CONFD: {
        const char *base = strrchr(origin->file, '/');
        snprintf(buf, size, "conf.d/%s:%d", base ? base + 1 : origin->file, origin->line);
        return;
    }
    case SR_ORIGIN_FILE:
        snprintf(buf, size, "%s:%d", origin->file, origin->line);
        return;
    }
}

/* "file:line: " or "command line: " in front of a message about a line. */
static void where(const line_ctx *lc, char *buf, size_t size)
{
    if (lc->origin.kind == SR_ORIGIN_CMDLINE)
        snprintf(buf, size, "command line");
    else if (lc->origin.kind == SR_ORIGIN_DEFAULT)
        snprintf(buf, size, "the default in options.def");
    else
        sr_origin_format(&lc->origin, buf, size);
}

__attribute__((format(printf, 3, 4))) static int line_error(const line_ctx *lc, sr_err *err,
                                                            const char *fmt, ...)
{
    char at[PATH_MAX + 32], msg[SR_ERR_MSG_MAX];
    where(lc, at, sizeof at);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sr_err_set(err, SR_EINVAL, false, "%s: %s", at, msg);
}

/* "file:line: message" onto one of the config's lists of remarks. */
static void line_remark(sr_strlist *list, const line_ctx *lc, const char *fmt, va_list ap)
{
    char at[PATH_MAX + 32], msg[SR_ERR_MSG_MAX];
    where(lc, at, sizeof at);
    vsnprintf(msg, sizeof msg, fmt, ap);
    sr_strlist_pushf(list, "%s: %s", at, msg);
}

__attribute__((format(printf, 3, 4))) static void line_warning(sr_config *cfg, const line_ctx *lc,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line_remark(&cfg->warnings, lc, fmt, ap);
    va_end(ap);
}

/* A line that would have no effect in sr although it has one in sr3: the config loads
 * (show, stop and cleanup still work on it) but cannot be checked OK or started. */
__attribute__((format(printf, 3, 4))) static void line_refused(sr_config *cfg, const line_ctx *lc,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line_remark(&cfg->refused, lc, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void line_note(sr_config *cfg, const line_ctx *lc,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line_remark(&cfg->notes, lc, fmt, ap);
    va_end(ap);
}

static int oom(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "out of memory reading the configuration");
}

/* ---------------------------------------------------------------------------------- */
/* values                                                                              */

static int value_set_text(sr_value *v, const char *text, const sr_origin *origin)
{
    char *copy = text ? strdup(text) : NULL;
    if (text && copy == NULL)
        return -1;
    free(v->text);
    v->text = copy;
    v->set = text != NULL;
    v->origin = *origin;
    return 0;
}

static const char *intern_file(sr_config *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->files.count; i++)
        if (strcmp(cfg->files.items[i], path) == 0)
            return cfg->files.items[i];
    if (sr_strlist_push(&cfg->files, path) != 0)
        return NULL;
    return cfg->files.items[cfg->files.count - 1];
}

/* ---------------------------------------------------------------------------------- */
static const char *env_lookup(const sr_config *cfg, const char *name)
{
    size_t len = strlen(name);
    /* Later declarations win: search from the end. */
    for (size_t i = cfg->env.count; i-- > 0;) {
        const char *item = cfg->env.items[i];
        if (strncmp(item, name, len) == 0 && item[len] == '=')
            return item + len + 1;
    }
    return NULL;
}

/* ${broker} and the like: the URL with its password left out, so a password written in a
 * URL cannot travel into a directory name, a header or a log line. */
static char *url_without_password(const char *text)
{
    sr_url url;
    if (sr_url_parse(text, &url, NULL) != SR_OK)
        return sr_url_redacted(text);
    free(url.password);
    url.password = NULL;
    char *out = sr_url_format(&url, false);
    sr_url_fini(&url);
    return out;
}

static char *parse_time_lookup(void *ctx, const char *name)
{
    sr_config *cfg = ctx;
    if (strcmp(name, "BROKER_USER") == 0)
        return sr_url_user(cfg->values[SR_OPT_broker].text);
    if (strcmp(name, "POST_BROKER_USER") == 0)
        return sr_url_user(cfg->values[SR_OPT_post_broker].text);
    if (strcmp(name, "RAND8") == 0) {
        unsigned n = 0;
        if (getrandom(&n, sizeof n, 0) != sizeof n)
            n = (unsigned)getpid() * 2654435761u;
        char out[16];
        snprintf(out, sizeof out, "%08u", n % 100000000u);
        return strdup(out);
    }
    if (strcmp(name, "RANDID") == 0)
        return strdup(cfg->randid);
    if (strcmp(name, "HOSTNAME") == 0) /* sr3: the hostname option, else this host's */
        return strdup(cfg->values[SR_OPT_hostname].set ? cfg->values[SR_OPT_hostname].text
                                                       : cfg->hostname);
    if (strcmp(name, "PROGRAM") == 0)
        return strdup(sr_component_name(cfg->component));
    if (strcmp(name, "CONFIG") == 0)
        return strdup(cfg->name);
    if (strcmp(name, "USER") == 0 && getenv("USER") == NULL) {
        /* cron and systemd may run us without USER set */
        struct passwd *pw = getpwuid(getuid());
        return pw ? strdup(pw->pw_name) : NULL;
    }
    /* ${SOURCE} is the message's source, but sr3 puts in the `source` option's value when
     * a line before this one set it */
    if (strcmp(name, "SOURCE") == 0 && cfg->values[SR_OPT_source].set)
        return strdup(cfg->values[SR_OPT_source].text);
    if (sr_varsub_is_message_var(name))
        return NULL; /* filled per message */
    for (int i = 0; i < SR_OPT_COUNT; i++) {
        if (strcasecmp(sr_option_get(i)->name, name) == 0 && cfg->values[i].text != NULL)
            return sr_option_get(i)->type == SR_T_URL ? url_without_password(cfg->values[i].text)
                                                      : strdup(cfg->values[i].text);
    }
    const char *declared = env_lookup(cfg, name);
    if (declared != NULL)
        return strdup(declared);
    const char *env = getenv(name);
    return env ? strdup(env) : NULL;
}

static int substitute(sr_config *cfg, const line_ctx *lc, const char *text, char **out, sr_err *err)
{
    sr_strlist unknown = {0};
    int rc = sr_varsub(text, parse_time_lookup, cfg, out, &unknown, err);
    if (rc != SR_OK) {
        char at[PATH_MAX + 32];
        where(lc, at, sizeof at);
        sr_err_prefix(err, "%s", at);
        sr_strlist_clear(&unknown);
        return rc;
    }
    for (size_t i = 0; i < unknown.count; i++) {
        if (!sr_varsub_is_message_var(unknown.items[i]))
            line_warning(cfg, lc,
                         "${%s} is not defined (not an option, not declared with declare env, "
                         "not in the environment); left as written",
                         unknown.items[i]);
    }
    sr_strlist_clear(&unknown);
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* the value types                                                                     */

static void join_choices(const char *choices, char *buf, size_t size)
{
    /* "a,b|bb,c" -> "a, b, c" for messages: the other spellings are not shown */
    size_t o = 0;
    bool other = false;
    for (const char *p = choices; *p && o + 3 < size; p++) {
        if (*p == '|')
            other = true;
        else if (*p == ',')
            other = false;
        if (other)
            continue;
        buf[o++] = *p;
        if (*p == ',')
            buf[o++] = ' ';
    }
    buf[o] = '\0';
}

/* The choices whose bits are set, comma separated, in table order. */
static char *set_text_of(const char *choices, unsigned bits)
{
    size_t cap = strlen(choices) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t used = 0;
    int i = 0;
    const char *p = choices;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (bits & (1u << i)) {
            if (used)
                out[used++] = ',';
            memcpy(out + used, p, len);
            used += len;
        }
        if (!comma)
            break;
        p = comma + 1;
        i++;
    }
    out[used] = '\0';
    return out;
}

/* The identity option in its v03 spelling ("sha512", "cod,md5", "arbitrary,VALUE"),
 * whatever spelling the config used (v2 letters, any case): parsed by identity.h. */
static char *normal_identity(const sr_identity_spec *spec)
{
    char *out = NULL;
    int n;
    switch (spec->method) {
    case SR_ID_COD:
        n = asprintf(&out, "cod,%s", sr_identity_method_name(spec->cod_algorithm));
        break;
    case SR_ID_ARBITRARY:
        n = asprintf(&out, "arbitrary,%s", spec->arbitrary_value);
        break;
    default:
        n = asprintf(&out, "%s", sr_identity_method_name(spec->method));
        break;
    }
    return n < 0 ? NULL : out;
}

/* ---------------------------------------------------------------------------------- */
/* masks, subtopics, declarations, includes                                            */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_mask(sr_config *cfg, const line_ctx *lc, bool accept, const char *value,
                    sr_err *err)
{
    const char *name = accept ? "accept" : "reject";
    if (value[0] == '\0')
        return line_error(lc, err, "%s: a regular expression is needed", name);
    char *pattern = strdup(value);
    if (pattern == NULL)
        return oom(err);
    char *keyword = NULL;
    char *space = strchr(pattern, ' ');
    if (space != NULL) {
        *space = '\0';
        keyword = strdup(space + 1);
        if (keyword == NULL) {
            free(pattern);
            return oom(err);
        }
    }
    sr_err rerr;
    sr_regex *re = sr_regex_new(pattern, &rerr);
    if (re == NULL) {
        free(pattern);
        free(keyword);
        return line_error(lc, err, "%s: %s", name, rerr.msg);
    }
    if (cfg->mask_count == cfg->mask_cap) {
        size_t cap = cfg->mask_cap ? cfg->mask_cap * 2 : 8;
        sr_mask *grown = realloc(cfg->masks, cap * sizeof *grown);
        if (grown == NULL) {
            sr_regex_free(re);
            free(pattern);
            free(keyword);
            return oom(err);
        }
        cfg->masks = grown;
        cfg->mask_cap = cap;
    }
    sr_mask *m = &cfg->masks[cfg->mask_count++];
    memset(m, 0, sizeof *m);
    m->accept = accept;
    m->pattern = pattern;
    m->keyword = keyword;
    m->regex = re;
    m->origin = lc->origin;
    m->directory = dup_or_null(cfg->values[SR_OPT_directory].text);
    m->mirror = cfg->values[SR_OPT_mirror].set && cfg->values[SR_OPT_mirror].u.flag;
    m->strip = dup_or_null(cfg->values[SR_OPT_strip].text);
    m->flatten = dup_or_null(cfg->values[SR_OPT_flatten].text);
    m->filename = dup_or_null(cfg->values[SR_OPT_filename].text);
    if ((cfg->values[SR_OPT_directory].text && !m->directory) ||
        (cfg->values[SR_OPT_strip].text && !m->strip) ||
        (cfg->values[SR_OPT_flatten].text && !m->flatten) ||
        (cfg->values[SR_OPT_filename].text && !m->filename))
        return oom(err);
    return SR_OK;
}

static int add_subtopic(sr_config *cfg, const sr_origin *origin, const char *pattern,
                        const char *exchange, const char *prefix, sr_err *err)
{
    if (cfg->subtopic_count == cfg->subtopic_cap) {
        size_t cap = cfg->subtopic_cap ? cfg->subtopic_cap * 2 : 4;
        sr_subtopic *grown = realloc(cfg->subtopics, cap * sizeof *grown);
        if (grown == NULL)
            return oom(err);
        cfg->subtopics = grown;
        cfg->subtopic_cap = cap;
    }
    sr_subtopic *s = &cfg->subtopics[cfg->subtopic_count];
    memset(s, 0, sizeof *s);
    s->pattern = strdup(pattern);
    s->exchange = dup_or_null(exchange);
    s->topic_prefix = dup_or_null(prefix);
    s->origin = *origin;
    cfg->subtopic_count++;
    if (!s->pattern || (exchange && !s->exchange) || (prefix && !s->topic_prefix))
        return oom(err);
    return SR_OK;
}

static int add_declaration(sr_config *cfg, const line_ctx *lc, const char *value, sr_err *err)
{
    const char *rest = strchr(value, ' ');
    size_t kind_len = rest ? (size_t)(rest - value) : strlen(value);
    rest = rest ? rest + 1 : "";
    static const char *const env_words[] = {"env", "envvar", "var", "value"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(env_words[i]) == kind_len && strncmp(value, env_words[i], kind_len) == 0) {
            const char *eq = strchr(rest, '=');
            if (eq == NULL || eq == rest)
                return line_error(lc, err, "declare env: expected NAME=VALUE, got \"%s\"", rest);
            for (const char *p = rest; p < eq; p++)
                if (!isalnum((unsigned char)*p) && *p != '_')
                    return line_error(lc, err, "declare env: \"%.*s\" is not a variable name",
                                      (int)(eq - rest), rest);
            if (sr_strlist_push(&cfg->env, rest) != 0)
                return oom(err);
            return SR_OK;
        }
    }
    /* sr3 also reads `declare subscribe NAME` as a subscriber */
    static const char *const kinds[] = {"source", "subscriber", "exchange", "subscribe"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(kinds[i]) == kind_len && strncmp(value, kinds[i], kind_len) == 0) {
            if (rest[0] == '\0')
                return line_error(lc, err, "declare %s: a name is needed", kinds[i]);
            if (sr_strlist_pushf(&cfg->declared, "%s %s", i == 3 ? "subscriber" : kinds[i],
                                 rest) != 0)
                return oom(err);
            return SR_OK;
        }
    }
    return line_error(lc, err,
                      "declare: \"%.*s\" is not env, source, subscriber or exchange",
                      (int)kind_len, value);
}

/* Exists, readable or not: an unreadable file must fail loudly when opened, not be
 * skipped as if absent. */
static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int read_include(sr_config *cfg, const line_ctx *lc, const char *value, sr_err *err)
{
    if (value[0] == '\0')
        return line_error(lc, err, "include: a file name is needed");
    if (lc->depth >= INCLUDE_DEPTH_MAX)
        return line_error(lc, err, "include: more than %d nested includes", INCLUDE_DEPTH_MAX);
    /* Where sr3 looks: the path as given (absolute or ~), else next to the including
     * file, else the configuration folder. */
    char *candidates[2] = {NULL, NULL};
    int n = 0, failed = 0;
    if (value[0] == '/') {
        failed |= (candidates[n++] = strdup(value)) == NULL;
    } else if (value[0] == '~' && (value[1] == '/' || value[1] == '\0')) {
        failed |= (candidates[n++] = sr_paths_expand_home(value)) == NULL;
    } else {
        if (lc->dir)
            failed |= asprintf(&candidates[n++], "%s/%s", lc->dir, value) < 0;
        if (cfg->config_dir)
            failed |= asprintf(&candidates[n++], "%s/%s", cfg->config_dir, value) < 0;
    }
    int rc = SR_ENOENT;
    for (int i = 0; !failed && i < n && rc == SR_ENOENT; i++) {
        if (!file_exists(candidates[i]))
            continue;
        char *real = realpath(candidates[i], NULL);
        if (real != NULL && sr_strlist_contains(&cfg->reading, real))
            rc = line_error(lc, err, "include loop: %s is already being read", real);
        else
            rc = parse_file(cfg, candidates[i],
                            lc->origin.kind == SR_ORIGIN_CONFD ? SR_ORIGIN_CONFD : SR_ORIGIN_FILE,
                            lc->user_config, lc->depth + 1, err);
        free(real);
    }
    if (failed)
        rc = oom(err);
    else if (rc == SR_ENOENT)
        rc = line_error(lc, err, "include: cannot find \"%s\" (looked for %s%s%s)", value,
                        n > 0 ? candidates[0] : "", n > 1 ? ", " : "", n > 1 ? candidates[1] : "");
    for (int i = 0; i < n; i++)
        free(candidates[i]);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* one value of one type                                                               */

/* An option line (or a table default) being applied: what a type's function needs. */
typedef struct setting {
    sr_config *cfg;
    const line_ctx *lc;
    const char *name; /* as written: an alias names itself in messages */
    enum sr_option_id id;
    const sr_option *opt;
    sr_value *v;
    const char *value; /* after ${VAR} substitution */
    bool is_none;      /* the value is None */
} setting;

static int set_text(const setting *s, const char *text, sr_err *err)
{
    return value_set_text(s->v, text, &s->lc->origin) != 0 ? oom(err) : SR_OK;
}

static int apply_flag(const setting *s, sr_err *err)
{
    bool on = true;
    if (s->value[0] != '\0' && sr_parse_flag(s->value, &on) != 0)
        return line_error(s->lc, err,
                          "%s: \"%s\" is not a flag (use on/off, true/false, yes/no, 1/0)", s->name,
                          s->value);
    s->v->u.flag = on;
    return set_text(s, on ? "on" : "off", err);
}

static int apply_duration(const setting *s, sr_err *err)
{
    double seconds;
    const char *value = s->value;
    if (value[0] == '\0')
        return line_error(s->lc, err, "%s: a duration is needed", s->name);
    if (strcasecmp(value, "on") == 0 || strcasecmp(value, "true") == 0 ||
        strcasecmp(value, "yes") == 0) {
        if (s->opt->extra[0] == '\0')
            return line_error(
                s->lc, err, "%s: \"%s\" is not a duration here; give a time (e.g. 300, 5m, 1h30m)",
                s->opt->name, value);
        sr_parse_duration(s->opt->extra, &seconds);
    } else if (sr_parse_duration(value, &seconds) != 0) {
        return line_error(s->lc, err,
                          "%s: \"%s\" is not a duration (seconds, or with units s m h d w, e.g. "
                          "90, 1.5h, 1h30m)",
                          s->name, value);
    }
    s->v->u.seconds = seconds;
    return set_text(s, value, err);
}

static int apply_count(const setting *s, sr_err *err) /* COUNT and SIZE */
{
    long long n;
    if (sr_parse_count(s->value, &n) != 0)
        return line_error(s->lc, err,
                          "%s: \"%s\" is not a %s (a whole number, optionally with k, m, g, t; ki "
                          "or kb for 1024)",
                          s->opt->name, s->value, s->opt->type == SR_T_SIZE ? "size" : "count");
    s->v->u.count = n;
    return set_text(s, s->value, err);
}

static int apply_float(const setting *s, sr_err *err)
{
    double n;
    if (sr_parse_float(s->value, &n) != 0)
        return line_error(s->lc, err, "%s: \"%s\" is not a number", s->name, s->value);
    s->v->u.number = n;
    return set_text(s, s->value, err);
}

static int apply_octal(const setting *s, sr_err *err)
{
    unsigned mode;
    if (sr_parse_octal(s->value, &mode) != 0)
        return line_error(s->lc, err, "%s: \"%s\" is not an octal mode (e.g. 644, 0755)", s->name,
                          s->value);
    s->v->u.bits = mode;
    return set_text(s, s->value, err);
}

static int apply_str(const setting *s, sr_err *err)
{
    return set_text(s, s->is_none ? NULL : s->value, err);
}

static int apply_url(const setting *s, sr_err *err)
{
    if (!s->is_none) {
        if (s->value[0] == '\0')
            return line_error(s->lc, err, "%s: a URL is needed", s->name);
        sr_url url;
        sr_err uerr;
        if (sr_url_parse(s->value, &url, &uerr) != SR_OK)
            return line_error(s->lc, err, "%s: %s", s->name, uerr.msg);
        sr_url_fini(&url);
    }
    return set_text(s, s->is_none ? NULL : s->value, err);
}

/* One of the choices, in any case: kept as its index (decoded here, once) and its
 * spelling in the table. */
static int apply_enum(const setting *s, sr_err *err)
{
    const char *choices = s->opt->extra;
    int i = sr_choice_index(choices, s->value, true);
    if (i < 0) {
        char list[512];
        join_choices(choices, list, sizeof list);
        return line_error(s->lc, err, "%s: \"%s\" is not one of %s", s->name, s->value, list);
    }
    const char *p = choices;
    for (int k = 0; k < i; k++)
        p = strchr(p, ',') + 1;
    size_t len = strcspn(p, ",|"); /* the first spelling of the choice */
    char *word = strndup(p, len);
    if (word == NULL)
        return oom(err);
    int rc = set_text(s, word, err);
    free(word);
    s->v->u.choice = i;
    return rc;
}

/* A comma (or |) list of choices, read as sr3 reads it: a leading + adds the whole list
 * that follows, a leading - removes it, a plain list replaces what was there; None empties,
 * all is every choice. */
static int apply_set(const setting *s, sr_err *err)
{
    const char *choices = s->opt->extra;
    unsigned all = (1u << sr_choice_count(choices)) - 1;
    unsigned old = s->v->set ? s->v->u.bits : 0, bits = 0;
    const char *p = s->value;
    char op = 0;
    for (; *p == '+' || *p == '-' || *p == ' '; p++)
        if (*p != ' ')
            op = *p; /* sr3: the last sign before the list counts */
    char *copy = strdup(p);
    if (copy == NULL)
        return oom(err);
    char *save = NULL;
    bool empty = false, any = false;
    for (char *item = strtok_r(copy, ",|", &save); item; item = strtok_r(NULL, ",|", &save)) {
        while (isspace((unsigned char)*item))
            item++;
        item[strcspn(item, " \t")] = '\0';
        if (*item == '\0')
            continue;
        any = true;
        if (strcasecmp(item, "all") == 0) {
            bits = all;
            continue;
        }
        if (strcasecmp(item, "none") == 0) {
            empty = true;
            continue;
        }
        int i = sr_choice_index(choices, item, false);
        if (i < 0) {
            char list[512];
            join_choices(choices, list, sizeof list);
            int rc = line_error(
                s->lc, err, "%s: \"%s\" is not one of %s (or all, None; +a,b adds, -a,b removes)",
                s->name, item, list);
            free(copy);
            return rc;
        }
        bits |= 1u << i;
    }
    free(copy);
    if (!any)
        return line_error(s->lc, err, "%s: a list of choices is needed", s->name);
    if (empty && op == 0)
        bits = 0; /* None */
    if (op == '+')
        bits = old | bits;
    else if (op == '-')
        bits = old & ~bits;
    char *text = set_text_of(choices, bits);
    if (text == NULL)
        return oom(err);
    free(s->v->text);
    s->v->text = text;
    s->v->set = true;
    s->v->u.bits = bits;
    s->v->origin = s->lc->origin;
    return SR_OK;
}

static int apply_list(const setting *s, sr_err *err)
{
    if (s->is_none) {
        sr_strlist_clear(&s->v->list);
        s->v->set = false;
        s->v->origin = s->lc->origin;
        return SR_OK;
    }
    if (s->value[0] == '\0')
        return line_error(s->lc, err, "%s: a value is needed", s->name);
    if (sr_strlist_push(&s->v->list, s->value) != 0)
        return oom(err);
    s->v->set = true;
    s->v->origin = s->lc->origin;
    return SR_OK;
}

static int apply_identity(const setting *s, sr_err *err)
{
    sr_identity_spec spec;
    sr_err why;
    if (sr_identity_spec_parse(s->value, &spec, &why) != SR_OK) {
        /* the message names the option "identity"; say so when it was spelled otherwise */
        return strcmp(s->name, "identity") == 0
                   ? line_error(s->lc, err, "%s", why.msg)
                   : line_error(s->lc, err, "%s: %s", s->name, why.msg);
    }
    char *normal = normal_identity(&spec);
    sr_identity_spec_fini(&spec);
    int rc = normal ? set_text(s, normal, err) : oom(err);
    free(normal);
    return rc;
}

static int apply_strip(const setting *s, sr_err *err)
{
    if (s->value[0] == '\0')
        return line_error(s->lc, err, "%s: a count or a regular expression is needed", s->name);
    bool digits = true;
    for (const char *p = s->value; *p; p++)
        digits = digits && isdigit((unsigned char)*p);
    if (digits) {
        s->v->u.count = atoll(s->value);
    } else {
        sr_err rerr;
        sr_regex *re = sr_regex_new(s->value, &rerr);
        if (re == NULL)
            return line_error(s->lc, err, "%s: %s", s->name, rerr.msg);
        sr_regex_free(re);
        s->v->u.count = 0;
    }
    return set_text(s, s->value, err);
}

static int apply_mask(const setting *s, sr_err *err)
{
    return add_mask(s->cfg, s->lc, s->id == SR_OPT_accept, s->value, err);
}

static int apply_subtopic(const setting *s, sr_err *err)
{
    if (s->value[0] == '\0')
        return line_error(s->lc, err, "subtopic: a topic pattern is needed (# for all)");
    return add_subtopic(s->cfg, &s->lc->origin, s->value, s->cfg->values[SR_OPT_exchange].text,
                        s->cfg->values[SR_OPT_topicPrefix].text, err);
}

static int apply_header(const setting *s, sr_err *err)
{
    const char *eq = strchr(s->value, '=');
    if (eq == NULL || eq == s->value)
        return line_error(s->lc, err, "header: expected NAME=VALUE, got \"%s\"", s->value);
    return sr_strlist_push(&s->cfg->headers, s->value) != 0 ? oom(err) : SR_OK;
}

static int apply_declare(const setting *s, sr_err *err)
{
    return add_declaration(s->cfg, s->lc, s->value, err);
}

static int apply_include(const setting *s, sr_err *err)
{
    return read_include(s->cfg, s->lc, s->value, err);
}

/* sr3 hands a `set` line to one Python class when it is made; sr has no such classes, so
 * the line would do nothing: it is kept (sr show lists it) and refused. */
static int apply_classset(const setting *s, sr_err *err)
{
    if (strchr(s->value, ' ') == NULL)
        return line_error(s->lc, err, "set: expected CLASS.SETTING VALUE, got \"%s\"", s->value);
    line_refused(s->cfg, s->lc,
                 "%s %s: a setting of one sr3 Python class; sr has no such classes (write the "
                 "option itself, e.g. logLevel debug, for every part of the flow)",
                 s->name, s->value);
    return sr_strlist_push(&s->cfg->settings, s->value) != 0 ? oom(err) : SR_OK;
}

/* The sr3 callbacks whose work sr does without being told, by their short name. */
static const struct {
    const char *name, *what;
} builtin_callbacks[] = {
    {"log", "sr logs the events logEvents names"},
    {"gather.message", "a consumer reads its messages from the broker"},
    {"gather.file", "post and watch read the files of path"},
    {"post.message", "messages are posted to post_broker"},
    {"nodupe", "duplicates are suppressed when nodupe_ttl is set"},
    {"nodupe.disk", "duplicates are suppressed when nodupe_ttl is set, with a cache on disk"},
    {"retry", "failed transfers and posts go to retry queues on disk"},
    {"poll", "sr_poll lists sftp, ftp, ftps, http, https and file servers itself"},
    {"scheduled", "sr_poll lists on scheduled_interval, scheduled_hour, scheduled_minute and "
                  "scheduled_time"},
    {"scheduled.poll", "sr_poll lists on scheduled_interval, scheduled_hour, scheduled_minute "
                       "and scheduled_time"},
};

/* A flowcb line naming a plugin sr does not do itself: kept for sr_plugins_load (plugins.h),
 * and refused (as before plugins existed, with why) until sr_plugins_load finds the plugin
 * and withdraws the refusal (sr_config_plugin_found): whatever runs a config without
 * loading its plugins refuses it rather than run it without them. sr3 runs the _prepend
 * forms before the others, each group in file order. */
static int add_plugin(const setting *s, const char *shortname, sr_err *err)
{
    sr_config *cfg = s->cfg;
    if (cfg->plugin_count == cfg->plugin_cap) {
        size_t cap = cfg->plugin_cap ? cfg->plugin_cap * 2 : 4;
        sr_config_plugin *grown = realloc(cfg->plugins, cap * sizeof *grown);
        if (grown == NULL)
            return oom(err);
        cfg->plugins = grown;
        cfg->plugin_cap = cap;
    }
    if (strncmp(shortname, "poll.", 5) == 0)
        line_refused(cfg, s->lc,
                     "%s %s: no sr plugin named %s is loaded; sr_poll lists sftp, ftp, "
                     "ftps, http and https index pages, and file: folders itself (sr-plugin(7))",
                     s->name, s->value, shortname);
    else
        line_refused(cfg, s->lc,
                     "%s %s: no sr plugin named %s is loaded (sr-plugin(7): where sr looks "
                     "for plugins, and the ones it has built in)",
                     s->name, s->value, shortname);
    char *name = strdup(s->value);
    char *refusal = strdup(cfg->refused.items[cfg->refused.count - 1]);
    if (name == NULL || refusal == NULL) {
        free(name);
        free(refusal);
        return oom(err);
    }
    bool prepend = strstr(s->name, "repend") != NULL || strcmp(s->name, "cbp") == 0 ||
                   strcmp(s->name, "fcbp") == 0;
    size_t at = prepend ? cfg->plugin_prepended++ : cfg->plugin_count;
    memmove(&cfg->plugins[at + 1], &cfg->plugins[at],
            (cfg->plugin_count - at) * sizeof *cfg->plugins);
    cfg->plugins[at] = (sr_config_plugin){name, s->lc->origin, refusal};
    cfg->plugin_count++;
    return SR_OK;
}

/* callback NAME (flowcb, callback_prepend...): "sarracenia.flowcb.log.Log", "flowcb.log.Log"
 * and "log" name the same class. */
static int apply_callback(const setting *s, sr_err *err)
{
    if (s->value[0] == '\0')
        return line_error(s->lc, err, "%s: a plugin class name is needed", s->name);
    if (strncmp(s->value, "exec:", 5) == 0)
        return add_plugin(s, s->value, err);
    char shortname[256];
    const char *v = s->value;
    if (strncmp(v, "sarracenia.", 11) == 0)
        v += 11;
    if (strncmp(v, "flowcb.", 7) == 0)
        v += 7;
    snprintf(shortname, sizeof shortname, "%s", v);
    char *last = strrchr(shortname, '.');
    if (last != NULL && isupper((unsigned char)last[1]))
        *last = '\0'; /* the class name after the module */
    for (size_t i = 0; i < sizeof builtin_callbacks / sizeof builtin_callbacks[0]; i++) {
        if (strcmp(shortname, builtin_callbacks[i].name) == 0) {
            line_note(s->cfg, s->lc, "%s %s: built into sr (%s)", s->name, s->value,
                      builtin_callbacks[i].what);
            return SR_OK;
        }
    }
    return add_plugin(s, shortname, err);
}

/* What sr3 makes of a v2 plugin line, when it makes something of it (the rest is refused):
 * an option line, or nothing at all (option NULL). */
static const struct {
    const char *entry, *plugin;
    const char *option, *value;
} v2_plugins[] = {
    {"on_message", "msg_log", "logEvents", "+after_accept"},
    {"on_message", "msg_rawlog", "logEvents", "+after_accept"},
    {"on_post", "post_log", "logEvents", "+after_work"},
    {"on_message", "msg_by_source", NULL, NULL},
    {"on_message", "msg_by_user", NULL, NULL},
    {"on_message", "msg_download", NULL, NULL},
    {"on_message", "msg_dump", NULL, NULL},
    {"on_message", "msg_total", NULL, NULL},
    {"on_message", "msg_from_cluster", NULL, NULL},
    {"on_message", "msg_stdfiles", NULL, NULL},
    {"on_message", "msg_stopper", NULL, NULL},
    {"on_message", "msg_overwrite_sum", NULL, NULL},
    {"on_message", "msg_gts2wistopic", NULL, NULL},
    {"on_post", "post_total", NULL, NULL},
    {"on_post", "post_rate_limit", NULL, NULL},
    {"on_post", "to", NULL, NULL},
    {"plugin", "accel_wget", NULL, NULL},
    {"plugin", "accel_scp", NULL, NULL},
    {"plugin", "accel_cp", NULL, NULL},
    {"plugin", "msg_total_save", NULL, NULL},
    {"plugin", "file_total_save", NULL, NULL},
    {"plugin", "post_total_save", NULL, NULL},
};

static int apply_v2plugin(const setting *s, sr_err *err)
{
    if (s->value[0] == '\0')
        return line_error(s->lc, err, "%s: a plugin name is needed", s->name);
    const char *entry = strcmp(s->name, "on_msg") == 0 ? "on_message" : s->name;
    char plugin[256];
    snprintf(plugin, sizeof plugin, "%s", s->value);
    char *py = strstr(plugin, ".py"); /* sr3 removes the first ".py" */
    if (py != NULL)
        memmove(py, py + 3, strlen(py + 3) + 1);
    for (size_t i = 0; i < sizeof v2_plugins / sizeof v2_plugins[0]; i++) {
        if (strcmp(entry, v2_plugins[i].entry) != 0 || strcmp(plugin, v2_plugins[i].plugin) != 0)
            continue;
        if (v2_plugins[i].option == NULL) {
            line_warning(s->cfg, s->lc, "%s %s: a v2 plugin sr3 drops; ignored", s->name, s->value);
            return SR_OK;
        }
        sr_option_match m = sr_option_lookup(v2_plugins[i].option);
        line_note(s->cfg, s->lc, "%s %s: read as \"%s %s\", as sr3 converts it", s->name, s->value,
                  v2_plugins[i].option, v2_plugins[i].value);
        return apply_value(s->cfg, s->lc, v2_plugins[i].option, m.id, v2_plugins[i].value, err);
    }
    /* sr3 reads the v2 plugins it has a flowcb for as that flowcb line */
    const char *callback = sr_convert_v2_callback(entry, plugin);
    if (callback != NULL) {
        line_note(s->cfg, s->lc, "%s %s: read as \"%s\", as sr3 converts it", s->name, s->value,
                  callback);
        setting as = *s;
        as.name = "callback";
        as.value = strchr(callback, ' ') + 1;
        return apply_callback(&as, err);
    }
    line_refused(s->cfg, s->lc,
                 "%s %s: a v2 plugin sr3 has no flowcb for (sr3 runs it in Python, through its v2 "
                 "wrapper); sr runs no Python: write an sr plugin (sr-plugin(7))",
                 s->name, s->value);
    return SR_OK;
}

/* How each type of value is read: the parser is chosen by type, never by option name. */
typedef int (*apply_fn)(const setting *s, sr_err *err);
static const apply_fn appliers[SR_TYPE_COUNT] = {
    [SR_T_FLAG] = apply_flag,         [SR_T_DURATION] = apply_duration,
    [SR_T_COUNT] = apply_count,       [SR_T_SIZE] = apply_count,
    [SR_T_FLOAT] = apply_float,       [SR_T_OCTAL] = apply_octal,
    [SR_T_STR] = apply_str,           [SR_T_URL] = apply_url,
    [SR_T_ENUM] = apply_enum,         [SR_T_SET] = apply_set,
    [SR_T_LIST] = apply_list,         [SR_T_IDENTITY] = apply_identity,
    [SR_T_STRIP] = apply_strip,       [SR_T_MASK] = apply_mask,
    [SR_T_SUBTOPIC] = apply_subtopic, [SR_T_HEADER] = apply_header,
    [SR_T_DECLARE] = apply_declare,   [SR_T_INCLUDE] = apply_include,
    [SR_T_CLASSSET] = apply_classset, [SR_T_CALLBACK] = apply_callback,
    [SR_T_V2PLUGIN] = apply_v2plugin,
};

/* Set option id from value (already substituted), by the parser of its type. */
static int apply_value(sr_config *cfg, const line_ctx *lc, const char *name, enum sr_option_id id,
                       const char *value, sr_err *err)
{
    const sr_option *opt = sr_option_get(id);
    setting s = {cfg, lc, name, id, opt, &cfg->values[id], value, strcmp(value, "None") == 0};
    apply_fn fn = (unsigned)opt->type < SR_TYPE_COUNT ? appliers[opt->type] : NULL;
    if (fn == NULL)
        return line_error(lc, err, "%s: type %d has no parser (a bug)", name, (int)opt->type);
    return fn(&s, err);
}

/* ---------------------------------------------------------------------------------- */
/* one option line                                                                     */

static void warn_component(sr_config *cfg, const line_ctx *lc, const char *name,
                           const sr_option *opt)
{
    char comps[128] = "";
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        if (opt->components & sr_component_at(i)) {
            strncat(comps, comps[0] ? ", " : "", sizeof comps - strlen(comps) - 1);
            strncat(comps, sr_component_name(sr_component_at(i)), sizeof comps - strlen(comps) - 1);
        }
    }
    line_warning(cfg, lc, "option \"%s\" has no effect in a %s config (only in: %s)", name,
                 sr_component_name(cfg->component), comps);
}

static struct extra_option *find_extra(const sr_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->extra_count; i++)
        if (strcmp(cfg->extras[i].name, name) == 0)
            return &cfg->extras[i];
    return NULL;
}

/* A line naming an option sr does not know (or does not support: unsupported says why):
 * refused, unless a plugin of the config declares the option (sr_config_claim); its value
 * is kept for the plugin either way. */
static int add_extra(sr_config *cfg, const line_ctx *lc, const char *name, const char *raw,
                     const char *unsupported, sr_err *err)
{
    struct extra_option *x = find_extra(cfg, name);
    if (x == NULL) {
        if (cfg->extra_count == cfg->extra_cap) {
            size_t cap = cfg->extra_cap ? cfg->extra_cap * 2 : 4;
            struct extra_option *grown = realloc(cfg->extras, cap * sizeof *grown);
            if (grown == NULL)
                return oom(err);
            cfg->extras = grown;
            cfg->extra_cap = cap;
        }
        x = &cfg->extras[cfg->extra_count];
        memset(x, 0, sizeof *x);
        if ((x->name = strdup(name)) == NULL)
            return oom(err);
        cfg->extra_count++;
    }
    /* ${VAR} as in any value; a value that does not substitute is kept as written (the
     * line is refused anyway unless a plugin claims it, and then check names it) */
    char *value = NULL;
    sr_err ignored;
    if (substitute(cfg, lc, raw, &value, &ignored) != SR_OK)
        value = strdup(raw);
    if (value == NULL || sr_strlist_push(&x->values, value) != 0) {
        free(value);
        return oom(err);
    }
    free(value);
    size_t before = cfg->refused.count;
    const char *near = unsupported ? NULL : sr_option_nearest(name);
    if (unsupported)
        line_refused(cfg, lc, "option \"%s\" is not supported by sr: %s", name, unsupported);
    else if (near)
        line_refused(cfg, lc, "unknown option \"%s\" (did you mean \"%s\"?)", name, near);
    else
        line_refused(cfg, lc, "unknown option \"%s\"", name);
    if (cfg->refused.count > before &&
        sr_strlist_push(&x->refusals, cfg->refused.items[cfg->refused.count - 1]) != 0)
        return oom(err);
    return SR_OK;
}

static int apply_option(sr_config *cfg, const line_ctx *lc, const char *name, const char *raw,
                        sr_err *err)
{
    /* sr3 reads two names its own way in a poll: `destination` is the server listed
     * (pollUrl, not a sender's sendTo) and `broker` the one posted to (post_broker) */
    if (cfg->component == SR_C_POLL && strcmp(name, "destination") == 0)
        name = "pollUrl";
    else if (cfg->component == SR_C_POLL && strcmp(name, "broker") == 0)
        name = "post_broker";
    sr_option_match m = sr_option_lookup(name);
    if (m.ignored) {
        line_warning(cfg, lc, "option \"%s\" has no effect, in sr3 either: %s", name, m.ignored);
        return SR_OK;
    }
    if (m.unsupported) {
        /* `randomize off`, `accelThreshold 0`: asks for nothing sr lacks */
        bool off = false;
        if (strcasecmp(raw, "None") == 0 || strcmp(raw, "0") == 0 ||
            (sr_parse_flag(raw, &off) == 0 && !off && raw[0] != '\0'))
            line_note(cfg, lc, "option \"%s %s\": sr does not do %s at all", name, raw, name);
        else /* a plugin may declare it (pathReplace: accept.pathreplace) */
            return add_extra(cfg, lc, name, raw, m.unsupported, err);
        return SR_OK;
    }
    if (m.id < 0)
        return add_extra(cfg, lc, name, raw, NULL, err);
    const sr_option *opt = sr_option_get(m.id);

    char *value = NULL;
    int rc = substitute(cfg, lc, raw, &value, err);
    if (rc != SR_OK)
        return rc;

    if (m.forced) {
        /* `notify_only`, `debug`: a bare word (or `word on`) that sets another option. */
        bool on = true;
        if (value[0] != '\0' && sr_parse_flag(value, &on) != 0) {
            rc = line_error(lc, err, "%s: \"%s\" is not a flag (use on/off, true/false, yes/no, 1/0)",
                            name, value);
            free(value);
            return rc;
        }
        free(value);
        if (!on)
            return SR_OK;
        value = strdup(m.forced);
        if (value == NULL)
            return oom(err);
    }

    if (lc->user_config && (opt->components & cfg->component) == 0)
        warn_component(cfg, lc, name, opt);
    rc = apply_value(cfg, lc, name, m.id, value, err);
    free(value);
    return rc;
}

/* The lowest layer: every option's default from the table, read by its type's parser as
 * a line would be (no ${VAR} substitution: a default is a constant). */
static int apply_defaults(sr_config *cfg, sr_err *err)
{
    line_ctx lc = {{SR_ORIGIN_DEFAULT, NULL, 0}, false, NULL, 0};
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        const sr_option *opt = sr_option_get(id);
        if (opt->default_value[0] == '\0')
            continue;
        int rc = apply_value(cfg, &lc, opt->name, id, opt->default_value, err);
        if (rc != SR_OK)
            return rc;
    }
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* lines and files                                                                     */

/* Split line into its option name and its value (the other words joined by single spaces,
 * a trailing comment removed). Returns false for blank and comment lines. */
static bool split_line(char *line, char **name, char **value)
{
    char *save = NULL;
    char *first = strtok_r(line, " \t\r\n\v\f", &save);
    if (first == NULL || first[0] == '#')
        return false;
    *name = first;
    /* Join the value words in place, each moved left over the blanks before it; there is
     * no limit on their number. */
    char *start = first + strlen(first) + 1, *out = start;
    int words = 0;
    for (char *w = strtok_r(NULL, " \t\r\n\v\f", &save); w;
         w = strtok_r(NULL, " \t\r\n\v\f", &save)) {
        /* A lone "#" after the first value word starts a comment: `subtopic #  # all`. */
        if (words > 0 && strcmp(w, "#") == 0)
            break;
        size_t len = strlen(w);
        if (words > 0)
            *out++ = ' ';
        memmove(out, w, len);
        out += len;
        words++;
    }
    if (words == 0) {
        *value = first + strlen(first); /* "" without touching what follows the name */
        return true;
    }
    *out = '\0';
    *value = start;
    return true;
}

static int parse_file(sr_config *cfg, const char *path, enum sr_origin_kind kind,
                      bool user_config, int depth, sr_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, false, "cannot read %s: %s",
                          path, strerror(errno));
    const char *file = intern_file(cfg, path);
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        snprintf(real, sizeof real, "%s", path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (file == NULL || sr_strlist_push(&cfg->reading, real) != 0) {
        fclose(f);
        return oom(err);
    }

    line_ctx lc = {{kind, file, 0}, user_config, dir, depth};
    char *line = NULL;
    size_t cap = 0;
    int rc = SR_OK;
    while (rc == SR_OK && getline(&line, &cap, f) >= 0) {
        lc.origin.line++;
        char *name, *value;
        if (!split_line(line, &name, &value))
            continue;
        rc = apply_option(cfg, &lc, name, value, err);
    }
    if (rc == SR_OK && ferror(f))
        rc = sr_err_set(err, SR_EIO, false, "cannot read %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    sr_strlist_remove(&cfg->reading, real);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* derived values                                                                      */

static int derive_exchange(sr_config *cfg, enum sr_option_id exchange, enum sr_option_id broker,
                           enum sr_option_id suffix, sr_err *err)
{
    if (cfg->values[exchange].set || !cfg->values[broker].set)
        return SR_OK;
    char *user = sr_url_user(cfg->values[broker].text);
    if (user == NULL)
        return oom(err);
    char *name;
    int n;
    if (strcmp(user, "anonymous") == 0)
        n = asprintf(&name, "xpublic");
    else if (cfg->values[suffix].set)
        n = asprintf(&name, "xs_%s_%s", user, cfg->values[suffix].text);
    else
        n = asprintf(&name, "xs_%s", user);
    free(user);
    if (n < 0)
        return oom(err);
    sr_origin derived = {SR_ORIGIN_DERIVED, NULL, 0};
    int rc = value_set_text(&cfg->values[exchange], name, &derived) ? oom(err) : SR_OK;
    free(name);
    return rc;
}

/* post_baseDir where unset, as sr3 derives it: the path of a file: or sftp: post_baseUrl
 * (sftp://host/data: /data), else baseDir. Readers of post_baseDir (what a watch or a post
 * announces a file as, a sender's remote folder) then see what an sr3 config meant. */
static int derive_post_base_dir(sr_config *cfg, sr_err *err)
{
    if (cfg->values[SR_OPT_post_baseDir].set)
        return SR_OK;
    sr_origin derived = {SR_ORIGIN_DERIVED, NULL, 0};
    const char *url = cfg->values[SR_OPT_post_baseUrl].text;
    char *dir = NULL;
    if (url != NULL && strncmp(url, "file:", 5) == 0) {
        const char *p = url + 5;
        if (strncmp(p, "//", 2) == 0 && p[2] != '/')
            p += 2 + strcspn(p + 2, "/"); /* file://host/path: the path */
        while (p[0] == '/' && p[1] == '/')
            p++;
        dir = strdup(p);
    } else if (url != NULL && strncmp(url, "sftp:", 5) == 0) {
        sr_url u;
        sr_err ignored;
        /* sr3 takes the URL's path as it is; one that does not parse is refused later */
        if (sr_url_parse(url, &u, &ignored) != SR_OK)
            return SR_OK;
        dir = u.path && u.path[0] ? strdup(u.path) : NULL;
        sr_url_fini(&u);
        if (dir == NULL)
            return SR_OK; /* sftp://host: sr3's post_baseDir is empty, not baseDir */
    } else if (cfg->values[SR_OPT_baseDir].set) {
        dir = strdup(cfg->values[SR_OPT_baseDir].text);
    } else {
        return SR_OK;
    }
    if (dir == NULL)
        return oom(err);
    int rc = dir[0] && value_set_text(&cfg->values[SR_OPT_post_baseDir], dir, &derived) != 0
                 ? oom(err)
                 : SR_OK;
    free(dir);
    return rc;
}

/* A poll's post_baseUrl, as sr3 derives it: pollUrl, its password left out, a '/' at the
 * end, "file:" for a file: URL. (Before post_baseDir, which sr3 derives from it.) */
static int derive_poll_base_url(sr_config *cfg, sr_err *err)
{
    sr_origin derived = {SR_ORIGIN_DERIVED, NULL, 0};
    const char *poll_url = cfg->values[SR_OPT_pollUrl].text;
    if (!cfg->values[SR_OPT_post_baseUrl].set && poll_url != NULL) {
        char *base = NULL;
        if (strncmp(poll_url, "file:", 5) == 0) {
            base = strdup("file:");
        } else {
            sr_url u;
            sr_err ignored;
            if (sr_url_parse(poll_url, &u, &ignored) != SR_OK)
                return SR_OK; /* refused by the check, naming the line */
            free(u.password); /* sr3 leaves it out: subscribers find theirs */
            u.password = NULL;
            base = sr_url_format(&u, false);
            sr_url_fini(&u);
            size_t n = base ? strlen(base) : 0;
            if (base != NULL && (n == 0 || base[n - 1] != '/')) {
                char *slash = NULL;
                if (asprintf(&slash, "%s/", base) < 0)
                    slash = NULL;
                free(base);
                base = slash;
            }
        }
        if (base == NULL)
            return oom(err);
        int bad = value_set_text(&cfg->values[SR_OPT_post_baseUrl], base, &derived);
        free(base);
        if (bad)
            return oom(err);
    }
    return SR_OK;
}

/* The rest of a poll, as sr3 completes its config: with vip, the broker and exchange it
 * reads its own posts from are its post_broker and post_exchange; without any scheduled_*
 * option a sleep of more than 1 s is the scheduled_interval (and the pause between passes
 * becomes 1 s). */
static int derive_poll(sr_config *cfg, sr_err *err)
{
    sr_origin derived = {SR_ORIGIN_DERIVED, NULL, 0};
    if (cfg->values[SR_OPT_vip].list.count > 0) {
        if (!cfg->values[SR_OPT_broker].set && cfg->values[SR_OPT_post_broker].set &&
            value_set_text(&cfg->values[SR_OPT_broker], cfg->values[SR_OPT_post_broker].text,
                           &derived) != 0)
            return oom(err);
        if (!cfg->values[SR_OPT_exchange].set && cfg->values[SR_OPT_post_exchange].set &&
            value_set_text(&cfg->values[SR_OPT_exchange], cfg->values[SR_OPT_post_exchange].text,
                           &derived) != 0)
            return oom(err);
    }
    bool scheduled = cfg->values[SR_OPT_scheduled_interval].set ||
                     cfg->values[SR_OPT_scheduled_hour].list.count > 0 ||
                     cfg->values[SR_OPT_scheduled_minute].list.count > 0 ||
                     cfg->values[SR_OPT_scheduled_time].list.count > 0;
    double sleep = sr_config_seconds(cfg, SR_OPT_sleep);
    if (!scheduled && sleep > 1) {
        if (value_set_text(&cfg->values[SR_OPT_scheduled_interval],
                           cfg->values[SR_OPT_sleep].text, &derived) != 0 ||
            value_set_text(&cfg->values[SR_OPT_sleep], "1", &derived) != 0)
            return oom(err);
        cfg->values[SR_OPT_scheduled_interval].u.seconds = sleep;
        cfg->values[SR_OPT_sleep].u.seconds = 1;
    }
    return SR_OK;
}

static int derive(sr_config *cfg, sr_err *err)
{
    sr_origin derived = {SR_ORIGIN_DERIVED, NULL, 0};
    /* sr3: a batch larger than messageCountMax is cut to it */
    long long count_max = sr_config_count(cfg, SR_OPT_messageCountMax);
    if (count_max > 0 && sr_config_count(cfg, SR_OPT_batch) > count_max) {
        char text[32];
        snprintf(text, sizeof text, "%lld", count_max);
        if (value_set_text(&cfg->values[SR_OPT_batch], text, &derived) != 0)
            return oom(err);
        cfg->values[SR_OPT_batch].u.count = count_max;
    }
    /* sr3 derives post_baseDir from the post_baseUrl a poll derives from pollUrl */
    if (cfg->component == SR_C_POLL && derive_poll_base_url(cfg, err) != SR_OK)
        return err->code;
    if (derive_post_base_dir(cfg, err) != SR_OK)
        return err->code;
    /* the name ${HOSTNAME} stands for, shown as sr3 shows it */
    if (!cfg->values[SR_OPT_hostname].set &&
        value_set_text(&cfg->values[SR_OPT_hostname], cfg->hostname, &derived) != 0)
        return oom(err);
    int rc = derive_exchange(cfg, SR_OPT_post_exchange, SR_OPT_post_broker,
                             SR_OPT_post_exchangeSuffix, err);
    if (rc == SR_OK && cfg->component == SR_C_POLL)
        rc = derive_poll(cfg, err);
    if (rc == SR_OK)
        rc = derive_exchange(cfg, SR_OPT_exchange, SR_OPT_broker, SR_OPT_exchangeSuffix, err);
    if (rc != SR_OK)
        return rc;
    if (!cfg->values[SR_OPT_post_topicPrefix].set && cfg->values[SR_OPT_topicPrefix].set) {
        if (value_set_text(&cfg->values[SR_OPT_post_topicPrefix],
                           cfg->values[SR_OPT_topicPrefix].text, &derived) != 0)
            return oom(err);
    }
    bool consumes = (cfg->component & SR_C_CONSUMERS) ||
                    (cfg->component == SR_C_POLL && cfg->values[SR_OPT_vip].list.count > 0);
    if (cfg->subtopic_count == 0 && consumes)
        return add_subtopic(cfg, &derived, "#", NULL, NULL, err);
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* loading                                                                             */

static sr_config *config_new(const sr_config_request *req)
{
    sr_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
    cfg->component = req->component;
    if (gethostname(cfg->hostname, sizeof cfg->hostname - 1) != 0)
        snprintf(cfg->hostname, sizeof cfg->hostname, "localhost");
    unsigned short r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (unsigned short)getpid();
    snprintf(cfg->randid, sizeof cfg->randid, "%04x", r);
    cfg->config_dir = dup_or_null(req->config_dir);
    if (req->config_dir && !cfg->config_dir) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

/* The config file's path and name for a request: a path (has a '/' or ends in .conf) is
 * taken as is; a name is looked up under config_dir/component/. */
static int resolve_config(sr_config *cfg, const sr_config_request *req, sr_err *err)
{
    const char *given = req->config;
    if (given == NULL) {
        cfg->name = strdup("");
        return cfg->name ? SR_OK : oom(err);
    }
    size_t len = strlen(given);
    bool is_path = strchr(given, '/') != NULL || (len > 5 && strcmp(given + len - 5, ".conf") == 0);
    if (is_path) {
        cfg->path = strdup(given);
    } else {
        if (req->config_dir == NULL)
            return sr_err_set(err, SR_EINVAL, false, "no configuration folder to find %s in", given);
        if (asprintf(&cfg->path, "%s/%s/%s.conf", req->config_dir,
                     sr_component_name(req->component), given) < 0)
            cfg->path = NULL;
    }
    if (cfg->path == NULL)
        return oom(err);
    const char *base = strrchr(cfg->path, '/');
    base = base ? base + 1 : cfg->path;
    size_t blen = strlen(base);
    if (blen > 5 && strcmp(base + blen - 5, ".conf") == 0)
        blen -= 5;
    cfg->name = strndup(base, blen);
    if (cfg->name == NULL)
        return oom(err);
    if (!file_exists(cfg->path))
        return sr_err_set(err, SR_ENOENT, false, "no configuration %s/%s: %s does not exist",
                          sr_component_name(req->component), cfg->name, cfg->path);
    return SR_OK;
}

static int read_optional(sr_config *cfg, const char *dir, const char *file,
                         enum sr_origin_kind kind, sr_err *err)
{
    if (dir == NULL)
        return SR_OK;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    /* Absent is fine; present but unreadable is an error, never silently skipped. */
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return SR_OK;
    return parse_file(cfg, path, kind, false, 0, err);
}

int sr_config_load(const sr_config_request *req, sr_config **out, sr_err *err)
{
    *out = NULL;
    if (sr_component_name(req->component)[0] == '?')
        return sr_err_set(err, SR_EINVAL, false, "not a component");
    sr_config *cfg = config_new(req);
    if (cfg == NULL)
        return oom(err);
    int rc = resolve_config(cfg, req, err);

    if (rc == SR_OK)
        rc = apply_defaults(cfg, err);
    if (rc == SR_OK) {
        if (req->confd_dir == NULL)
            rc = sr_err_set(err, SR_ENOENT, false,
                            "the shipped defaults (conf.d) were not found: set SR_CONFD");
        else {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s.conf", req->confd_dir,
                     sr_component_name(req->component));
            rc = parse_file(cfg, path, SR_ORIGIN_CONFD, false, 0, err);
            if (rc == SR_ENOENT)
                sr_err_prefix(err, "the shipped defaults are missing (is SR_CONFD right?)");
        }
    }
    if (rc == SR_OK)
        rc = read_optional(cfg, req->config_dir, "admin.conf", SR_ORIGIN_FILE, err);
    if (rc == SR_OK)
        rc = read_optional(cfg, req->config_dir, "default.conf", SR_ORIGIN_FILE, err);
    if (rc == SR_OK && cfg->path)
        rc = parse_file(cfg, cfg->path, SR_ORIGIN_FILE, true, 0, err);
    for (size_t i = 0; rc == SR_OK && i < req->override_count; i++) {
        line_ctx lc = {{SR_ORIGIN_CMDLINE, NULL, 0}, true, NULL, 0};
        char *value = strdup(req->overrides[i].value ? req->overrides[i].value : "");
        if (value == NULL) {
            rc = oom(err);
            break;
        }
        rc = apply_option(cfg, &lc, req->overrides[i].name, value, err);
        free(value);
    }
    if (rc == SR_OK)
        rc = derive(cfg, err);
    if (rc != SR_OK) {
        sr_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return SR_OK;
}

void sr_config_free(sr_config *cfg)
{
    if (cfg == NULL)
        return;
    for (int i = 0; i < SR_OPT_COUNT; i++) {
        free(cfg->values[i].text);
        sr_strlist_clear(&cfg->values[i].list);
    }
    for (size_t i = 0; i < cfg->mask_count; i++) {
        sr_mask *m = &cfg->masks[i];
        free(m->pattern);
        free(m->keyword);
        free(m->directory);
        free(m->strip);
        free(m->flatten);
        free(m->filename);
        sr_regex_free(m->regex);
    }
    free(cfg->masks);
    for (size_t i = 0; i < cfg->subtopic_count; i++) {
        free(cfg->subtopics[i].pattern);
        free(cfg->subtopics[i].exchange);
        free(cfg->subtopics[i].topic_prefix);
    }
    free(cfg->subtopics);
    sr_strlist_clear(&cfg->headers);
    sr_strlist_clear(&cfg->env);
    sr_strlist_clear(&cfg->declared);
    sr_strlist_clear(&cfg->settings);
    sr_strlist_clear(&cfg->warnings);
    sr_strlist_clear(&cfg->refused);
    sr_strlist_clear(&cfg->notes);
    sr_strlist_clear(&cfg->files);
    sr_strlist_clear(&cfg->reading);
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        free(cfg->plugins[i].name);
        free(cfg->plugins[i].refusal);
    }
    free(cfg->plugins);
    for (size_t i = 0; i < cfg->extra_count; i++) {
        free(cfg->extras[i].name);
        sr_strlist_clear(&cfg->extras[i].values);
        sr_strlist_clear(&cfg->extras[i].refusals);
    }
    free(cfg->extras);
    free(cfg->name);
    free(cfg->path);
    free(cfg->config_dir);
    free(cfg);
}

/* ---------------------------------------------------------------------------------- */
/* checks before running                                                               */

/* A poll's schedule and timezone, read now so that `check` refuses what the poll could
 * not run with, naming the line. */
static int check_poll(const sr_config *cfg, sr_err *err)
{
    static const enum sr_option_id sched[] = {SR_OPT_scheduled_interval, SR_OPT_scheduled_hour,
                                              SR_OPT_scheduled_minute, SR_OPT_scheduled_time};
    char where[PATH_MAX + 32];
    sr_schedule s;
    sr_err why;
    if (sr_schedule_init(&s, sr_config_seconds(cfg, SR_OPT_scheduled_interval),
                         sr_config_list(cfg, SR_OPT_scheduled_hour),
                         sr_config_list(cfg, SR_OPT_scheduled_minute),
                         sr_config_list(cfg, SR_OPT_scheduled_time), &why) != SR_OK) {
        /* the message starts with the option's name: its line is the place to look */
        snprintf(where, sizeof where, "%s", cfg->path ? cfg->path : "command line");
        for (size_t i = 0; i < sizeof sched / sizeof sched[0]; i++) {
            const char *name = sr_option_get(sched[i])->name;
            if (strncmp(why.msg, name, strlen(name)) == 0 && why.msg[strlen(name)] == ' ')
                sr_origin_format(&cfg->values[sched[i]].origin, where, sizeof where);
        }
        return sr_err_set(err, SR_EINVAL, false, "%s: %s", where, why.msg);
    }
    sr_schedule_fini(&s);
    const char *tz = cfg->values[SR_OPT_timezone].text;
    if (tz != NULL && !sr_listing_zone_known(tz)) {
        sr_origin_format(&cfg->values[SR_OPT_timezone].origin, where, sizeof where);
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: timezone %s: not a zone of the tz database (UTC, EST, "
                          "America/Montreal...)",
                          where, tz);
    }
    return SR_OK;
}

/* The queue options (sr-config(5), Quorum queues): what RabbitMQ would refuse at
 * queue.declare (406, tested on 3.10 by test_quorum.py) is refused here, at its line. */
int sr_config_check_queue(const sr_config *cfg, sr_err *err)
{
    char where[PATH_MAX + 32], type_at[PATH_MAX + 32];
    const sr_value *type = &cfg->values[SR_OPT_queueType];
    const sr_value *limit = &cfg->values[SR_OPT_deliveryLimit];
    const sr_value *dlx = &cfg->values[SR_OPT_deadLetterExchange];
    const sr_value *dlk = &cfg->values[SR_OPT_deadLetterRoutingKey];
    /* the ENUM's text is its choice, normalised (broker.h's enum is not config's to know) */
    bool quorum = type->text != NULL && strcmp(type->text, "quorum") == 0;
    sr_origin_format(&type->origin, type_at, sizeof type_at);
    if (type->text != NULL && strcmp(type->text, "stream") == 0)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: queueType stream: refused: a stream keeps every message after it "
                          "is acknowledged and each consumer reads it from an offset it keeps; "
                          "sr's consumers acknowledge a message so that its queue forgets it, "
                          "and would be handed everything again at each start (queueType "
                          "quorum is the replicated queue sr consumes from)",
                          type_at);
    const char *url = cfg->values[SR_OPT_broker].text;
    bool mqtt = url != NULL && strncmp(url, "mqtt", 4) == 0;
    const sr_value *amqp_only[] = {limit, dlx, dlk};
    const char *amqp_names[] = {"deliveryLimit", "deadLetterExchange", "deadLetterRoutingKey"};
    for (size_t i = 0; mqtt && i < sizeof amqp_only / sizeof amqp_only[0]; i++)
        if (amqp_only[i]->set) {
            sr_origin_format(&amqp_only[i]->origin, where, sizeof where);
            return sr_err_set(err, SR_EINVAL, false,
                              "%s: %s: refused: it is an argument of a RabbitMQ (AMQP) queue, "
                              "and the broker is MQTT, which has nothing like it",
                              where, amqp_names[i]);
        }
    if (quorum) {
        const sr_value *durable = &cfg->values[SR_OPT_durable];
        const sr_value *autodel = &cfg->values[SR_OPT_auto_delete];
        const sr_value *bad = !durable->u.flag ? durable : autodel->u.flag ? autodel : NULL;
        if (bad != NULL) {
            sr_origin_format(&bad->origin, where, sizeof where);
            return sr_err_set(err, SR_EINVAL, false,
                              "%s: %s %s: refused with queueType quorum (%s): a quorum queue "
                              "is durable and never auto-deleted (RabbitMQ refuses to declare "
                              "it %s); expire removes an unused one",
                              where, bad == durable ? "durable" : "auto_delete",
                              bad == durable ? "off" : "on", type_at,
                              bad == durable ? "non-durable" : "auto-delete");
        }
    }
    if (limit->set) {
        sr_origin_format(&limit->origin, where, sizeof where);
        if (!quorum)
            return sr_err_set(err, SR_EINVAL, false,
                              "%s: deliveryLimit: refused: only a quorum queue counts the "
                              "deliveries of a message (RabbitMQ refuses x-delivery-limit on a "
                              "classic one): add queueType quorum",
                              where);
        if (limit->u.count < 1 || limit->u.count > INT_MAX)
            return sr_err_set(err, SR_EINVAL, false,
                              "%s: deliveryLimit %lld: give 1 or more: every message a consumer "
                              "holds when it stops, a restart included, counts one more "
                              "delivery, and 0 would dead-letter them all",
                              where, limit->u.count);
    }
    if (dlk->set && !dlx->set) {
        sr_origin_format(&dlk->origin, where, sizeof where);
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: deadLetterRoutingKey without deadLetterExchange: there is "
                          "nowhere to send dead messages with it",
                          where);
    }
    return SR_OK;
}

/* Is v a GeoJSON position: an array of two or more numbers? */
static bool geo_position(const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) < 2)
        return false;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_number(json_array_get(v, i)))
            return false;
    return true;
}

/* What is wrong with text as a WNM's geometry (null, a Point or a Polygon), or "" when
 * nothing is: why gets one line. */
static void check_geometry(const char *text, char *why, size_t size)
{
    why[0] = '\0';
    json_error_t jerr;
    json_t *g = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (g == NULL) {
        snprintf(why, size, "not JSON (%s, at character %d)", jerr.text, jerr.position);
        return;
    }
    const char *type = json_string_value(json_object_get(g, "type"));
    const json_t *coords = json_object_get(g, "coordinates");
    if (json_is_null(g)) {
        /* no geometry: what a WNM says when the data has no place */
    } else if (!json_is_object(g) || type == NULL) {
        snprintf(why, size, "not a GeoJSON geometry (an object with a type) nor null");
    } else if (strcmp(type, "Point") == 0) {
        if (!geo_position(coords))
            snprintf(why, size,
                     "a Point's coordinates must be a position: [longitude, "
                     "latitude] (two or more numbers)");
    } else if (strcmp(type, "Polygon") == 0) {
        bool ok = json_is_array(coords) && json_array_size(coords) >= 1;
        for (size_t r = 0; ok && r < json_array_size(coords); r++) {
            const json_t *ring = json_array_get(coords, r);
            ok = json_is_array(ring) && json_array_size(ring) >= 4;
            for (size_t i = 0; ok && i < json_array_size(ring); i++)
                ok = geo_position(json_array_get(ring, i));
        }
        if (!ok)
            snprintf(why, size,
                     "a Polygon's coordinates must be an array of rings, each of 4 "
                     "or more positions [longitude, latitude]");
    } else {
        snprintf(why, size,
                 "type %.64s: a WIS2 notification's geometry is a Point, a Polygon "
                 "or null",
                 type);
    }
    json_decref(g);
}

/* The line a value came from, for a refusal about it: its own when a user wrote it, else
 * fallback's (the post_format wis line that makes it matter). */
static void value_where(const sr_config *cfg, const sr_value *v, const sr_value *fallback,
                        char *buf, size_t size)
{
    bool written = v->origin.kind == SR_ORIGIN_FILE || v->origin.kind == SR_ORIGIN_CMDLINE;
    sr_origin_format(written ? &v->origin : &fallback->origin, buf, size);
    if (!written && fallback->origin.kind != SR_ORIGIN_FILE &&
        fallback->origin.kind != SR_ORIGIN_CMDLINE)
        snprintf(buf, size, "%s", cfg->path ? cfg->path : "command line");
}

/* The wis* options and post_format wis (sr-config(5), WIS2): a value of the wrong form, or
 * what a WIS2 notification needs and the config does not give, refused at its line; and
 * the part of the topic the config fixes (post_exchange, post_topicPrefix, post_topic),
 * checked against the WIS2 topic hierarchy as each message's whole topic will be. */
static int check_wis(const sr_config *cfg, sr_err *err)
{
    char where[PATH_MAX + 32], why[256];
    const sr_value *format = &cfg->values[SR_OPT_post_format];
    const sr_value *centre = &cfg->values[SR_OPT_wisCentreId];
    const sr_value *geometry = &cfg->values[SR_OPT_wisGeometry];
    const sr_value *metadata = &cfg->values[SR_OPT_wisMetadataId];
    if (centre->set && !sr_topic_wis_centre_ok(centre->text)) {
        sr_origin_format(&centre->origin, where, sizeof where);
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: wisCentreId %s: not a WIS2 centre id (tld-name: lowercase "
                          "letters, digits, '-' and '_', e.g. ca-eccc-msc)",
                          where, centre->text);
    }
    why[0] = '\0';
    if (geometry->set)
        check_geometry(geometry->text, why, sizeof why);
    if (why[0] != '\0') {
        sr_origin_format(&geometry->origin, where, sizeof where);
        return sr_err_set(err, SR_EINVAL, false, "%s: wisGeometry: %s", where, why);
    }
    if (metadata->set && metadata->text[0] == '\0') {
        sr_origin_format(&metadata->origin, where, sizeof where);
        return sr_err_set(err, SR_EINVAL, false, "%s: wisMetadataId: empty", where);
    }
    if (format->text == NULL || strcmp(format->text, "wis") != 0 ||
        !cfg->values[SR_OPT_post_broker].set)
        return SR_OK;
    sr_origin_format(&format->origin, where, sizeof where);
    /* What announces files of its own (post, watch, poll) makes every WNM from scratch and
     * needs both; a relay's messages carry their own metadata_id and name their centre in
     * their topic (one that arrives without a metadata_id is refused when it is posted). */
    bool originates = (cfg->component & (SR_C_LOCAL | SR_C_POLL)) != 0;
    if (!centre->set && originates)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: post_format wis needs wisCentreId, the WIS2 centre id of this "
                          "node (e.g. wisCentreId ca-eccc-msc)",
                          where);
    if (!metadata->set && originates)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: post_format wis needs wisMetadataId, the metadata_id (WCMP2 "
                          "record id) of what it posts (e.g. wisMetadataId "
                          "urn:wmo:md:ca-eccc-msc:observations.swob)",
                          where);
    const sr_value *split = &cfg->values[SR_OPT_post_exchangeSplit];
    if (split->u.count > 1) {
        value_where(cfg, split, format, where, sizeof where);
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: post_exchangeSplit %lld: refused with post_format wis: a WIS2 "
                          "topic starts with its channel, origin or cache, not a split "
                          "exchange's name",
                          where, split->u.count);
    }
    /* What the config fixes of the topic, checked as the flow will build it (brokerconf.h):
     * the exchange alone, then with the prefix, or the raw post_topic. */
    const sr_value *exchange = &cfg->values[SR_OPT_post_exchange];
    const sr_value *prefix = &cfg->values[SR_OPT_post_topicPrefix];
    const sr_value *raw = &cfg->values[SR_OPT_post_topic];
    const char *url = cfg->values[SR_OPT_post_broker].text;
    enum sr_topic_proto proto = strncmp(url, "mqtt", 4) == 0 ? SR_TOPIC_MQTT : SR_TOPIC_AMQP;
    /* an MQTT post_topic is the whole topic: the exchange is not in it */
    const sr_value *steps[] = {raw->set && proto == SR_TOPIC_MQTT ? NULL : exchange,
                               raw->set ? raw : prefix};
    int rc = SR_OK;
    for (size_t i = 0; rc == SR_OK && i < 2; i++) {
        const sr_value *v = steps[i];
        if (v == NULL)
            continue;
        const char *ex = exchange->text ? exchange->text : "";
        char *topic = NULL;
        sr_err why_not;
        if (v == raw)
            rc = (topic = strdup(raw->text)) ? SR_OK : oom(err);
        else if (proto == SR_TOPIC_MQTT)
            rc = sr_topic_mqtt(ex, v == prefix ? prefix->text : NULL, "", &topic, err);
        else
            rc = sr_topic_amqp(v == prefix ? prefix->text : NULL, "", &topic, NULL, err);
        if (rc == SR_OK &&
            sr_topic_wis_check(proto, ex, topic, centre->text, v == raw, &why_not) != SR_OK) {
            value_where(cfg, v, format, where, sizeof where);
            const char *name = v == exchange ? "post_exchange"
                               : v == raw    ? "post_topic"
                                             : "post_topicPrefix";
            rc = sr_err_set(err, SR_EINVAL, false, "%s: %s %s with post_format wis: %s", where,
                            name, v->text ? v->text : "None", why_not.msg);
        }
        free(topic);
    }
    return rc;
}

int sr_config_check(const sr_config *cfg, sr_err *err)
{
    const char *file = cfg->path ? cfg->path : "command line";
    const char *comp = sr_component_name(cfg->component);
    if (cfg->refused.count == 1)
        return sr_err_set(err, SR_EINVAL, false, "%s", cfg->refused.items[0]);
    if (cfg->refused.count > 1)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s (and %zu more refused line(s): sr_%s check %s "
                          "lists them)",
                          cfg->refused.items[0], cfg->refused.count - 1, comp, file);
    if ((cfg->component & SR_C_CONSUMERS) && !cfg->values[SR_OPT_broker].set)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a %s needs a broker to consume from (e.g. broker amqps://user@host/)",
                          file, comp);
    bool needs_post =
        (cfg->component & (SR_C_LOCAL | SR_C_SHOVEL | SR_C_WINNOW | SR_C_SARRA | SR_C_POLL)) != 0;
    if (needs_post && !cfg->values[SR_OPT_post_broker].set)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a %s needs a post_broker to publish to (e.g. post_broker amqps://user@host/)",
                          file, comp);
    if (cfg->component == SR_C_SENDER && !cfg->values[SR_OPT_sendTo].set &&
        !(cfg->values[SR_OPT_download].set && !cfg->values[SR_OPT_download].u.flag))
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a sender needs sendTo, the server to send to (e.g. sendTo sftp://user@host/)",
                          file);
    /* sr3 reads "/" + relPath without baseDir: any file of the host a message names */
    if (cfg->component == SR_C_SENDER && !cfg->values[SR_OPT_baseDir].set &&
        !(cfg->values[SR_OPT_download].set && !cfg->values[SR_OPT_download].u.flag))
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a sender needs baseDir, the folder whose files it may send: it "
                          "reads baseDir/relPath and nothing outside (e.g. baseDir /home/me/hot; "
                          "`baseDir /` reads any file, as sr3 does without one: sr-security(7))",
                          file);
    if (cfg->component == SR_C_POLL && !cfg->values[SR_OPT_pollUrl].set)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a poll needs pollUrl, the server to list (e.g. pollUrl sftp://user@host/)",
                          file);
    if (cfg->component == SR_C_POLL && check_poll(cfg, err) != SR_OK)
        return SR_EINVAL;
    if ((cfg->component & SR_C_QUEUE) && cfg->values[SR_OPT_broker].set &&
        sr_config_check_queue(cfg, err) != SR_OK)
        return SR_EINVAL;
    if (cfg->component == SR_C_WATCH && cfg->values[SR_OPT_path].list.count == 0)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a watch needs a path, the directory to watch (e.g. path /home/me/hot)",
                          file);
    /* filename, and the Sundew keyword after an accept: a form sr cannot apply is refused */
    sr_err ferr;
    if (sr_placement_filename_check(cfg->values[SR_OPT_filename].text, &ferr) != SR_OK)
        return sr_err_set(err, SR_EINVAL, false, "%s: %s", file, ferr.msg);
    for (size_t i = 0; i < cfg->mask_count; i++) {
        char where[512];
        const sr_mask *m = &cfg->masks[i];
        sr_origin_format(&m->origin, where, sizeof where);
        if (sr_placement_filename_check(m->keyword ? m->keyword : m->filename, &ferr) != SR_OK)
            return sr_err_set(err, SR_EINVAL, false, "%s: %s %s: %s", where,
                              m->accept ? "accept" : "reject", m->pattern, ferr.msg);
    }
    if ((cfg->component & (SR_C_LOCAL)) && !cfg->values[SR_OPT_post_baseUrl].set)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a %s needs post_baseUrl, the URL subscribers fetch files from (e.g. post_baseUrl sftp://me@host/)",
                          file, comp);
    return check_wis(cfg, err);
}

/* ---------------------------------------------------------------------------------- */
/* command line                                                                        */

int sr_config_parse_args(int argc, char **argv, sr_override **overrides, size_t *override_count,
                         char ***positional, size_t *positional_count, sr_err *err)
{
    *overrides = calloc((size_t)argc + 1, sizeof **overrides);
    *positional = calloc((size_t)argc + 1, sizeof **positional);
    *override_count = *positional_count = 0;
    if (*overrides == NULL || *positional == NULL) {
        free(*overrides);
        free(*positional);
        *overrides = NULL;
        *positional = NULL;
        return oom(err);
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            (*positional)[(*positional_count)++] = argv[i];
            continue;
        }
        const char *name = arg + 2;
        char *eq = strchr(name, '=');
        sr_override *o = &(*overrides)[*override_count];
        if (eq != NULL) {
            o->name = strndup(name, (size_t)(eq - name));
            o->value = strdup(eq + 1);
        } else {
            sr_option_match m = sr_option_lookup(name);
            const sr_option *opt = m.id >= 0 ? sr_option_get(m.id) : NULL;
            bool bare = opt && (opt->type == SR_T_FLAG || m.forced);
            const char *value = "";
            if (bare) {
                bool ignored;
                if (i + 1 < argc && sr_parse_flag(argv[i + 1], &ignored) == 0)
                    value = argv[++i];
            } else if (m.id < 0) {
                /* not an option sr has: the command's own flag (--json, --help), or a name
                 * the command then refuses as an unknown word */
                (*positional)[(*positional_count)++] = argv[i];
                continue;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                sr_overrides_free(*overrides, *override_count, *positional);
                *overrides = NULL;
                *positional = NULL;
                return sr_err_set(err, SR_EINVAL, false, "command line: --%s needs a value", name);
            }
            o->name = strdup(name);
            o->value = strdup(value);
        }
        (*override_count)++;
        if (o->name == NULL || o->value == NULL) {
            sr_overrides_free(*overrides, *override_count, *positional);
            *overrides = NULL;
            *positional = NULL;
            return oom(err);
        }
    }
    return SR_OK;
}

void sr_overrides_free(sr_override *overrides, size_t count, char **positional)
{
    for (size_t i = 0; overrides && i < count; i++) {
        free((char *)overrides[i].name);
        free((char *)overrides[i].value);
    }
    free(overrides);
    free(positional);
}

int sr_config_export_env(const sr_config *cfg, sr_err *err)
{
    for (size_t i = 0; i < cfg->env.count; i++) {
        const char *item = cfg->env.items[i];
        const char *eq = strchr(item, '=');
        char *name = strndup(item, (size_t)(eq - item));
        if (name == NULL)
            return oom(err);
        int rc = setenv(name, eq + 1, 1);
        free(name);
        if (rc != 0)
            return sr_err_set(err, SR_EIO, false, "declare env %s: %s", item, strerror(errno));
    }
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* accessors                                                                           */

enum sr_component sr_config_component(const sr_config *cfg)
{
    return cfg->component;
}
const char *sr_config_name(const sr_config *cfg)
{
    return cfg->name;
}
const char *sr_config_path(const sr_config *cfg)
{
    return cfg->path;
}
const sr_strlist *sr_config_warnings(const sr_config *cfg)
{
    return &cfg->warnings;
}
const sr_strlist *sr_config_refused(const sr_config *cfg)
{
    return &cfg->refused;
}
const sr_strlist *sr_config_notes(const sr_config *cfg)
{
    return &cfg->notes;
}

const sr_config_plugin *sr_config_plugins(const sr_config *cfg, size_t *count)
{
    *count = cfg->plugin_count;
    return cfg->plugins;
}

void sr_config_plugin_found(sr_config *cfg, size_t i)
{
    if (i < cfg->plugin_count && cfg->plugins[i].refusal != NULL) {
        sr_strlist_remove(&cfg->refused, cfg->plugins[i].refusal);
        free(cfg->plugins[i].refusal);
        cfg->plugins[i].refusal = NULL;
    }
}

void sr_config_claim(sr_config *cfg, const char *name)
{
    struct extra_option *x = find_extra(cfg, name);
    if (x == NULL || x->claimed)
        return;
    x->claimed = true;
    for (size_t i = 0; i < x->refusals.count; i++)
        sr_strlist_remove(&cfg->refused, x->refusals.items[i]);
}

const sr_strlist *sr_config_extra(const sr_config *cfg, const char *name)
{
    const struct extra_option *x = find_extra(cfg, name);
    return x != NULL && x->claimed ? &x->values : NULL;
}

const sr_strlist *sr_config_extra_names(const sr_config *cfg, sr_strlist *out)
{
    for (size_t i = 0; i < cfg->extra_count; i++)
        if (cfg->extras[i].claimed && sr_strlist_push(out, cfg->extras[i].name) != 0)
            return NULL;
    return out;
}

bool sr_config_extra_at(const sr_config *cfg, size_t i, const char **name,
                        const sr_strlist **values)
{
    if (i >= cfg->extra_count)
        return false;
    *name = cfg->extras[i].name;
    *values = &cfg->extras[i].values;
    return true;
}
const sr_value *sr_config_value(const sr_config *cfg, enum sr_option_id id)
{
    return &cfg->values[id];
}
bool sr_config_is_set(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set;
}
const char *sr_config_str(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set ? cfg->values[id].text : NULL;
}
bool sr_config_flag(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set && cfg->values[id].u.flag;
}
double sr_config_seconds(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set ? cfg->values[id].u.seconds : 0;
}
long long sr_config_count(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set ? cfg->values[id].u.count : 0;
}
double sr_config_number(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set ? cfg->values[id].u.number : 0;
}
unsigned sr_config_bits(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set ? cfg->values[id].u.bits : 0;
}
bool sr_config_has(const sr_config *cfg, enum sr_option_id id, const char *choice)
{
    const sr_option *opt = sr_option_get(id);
    int i = sr_choice_index(opt->extra, choice, false);
    return i >= 0 && cfg->values[id].set && (cfg->values[id].u.bits & (1u << i));
}
int sr_config_choice(const sr_config *cfg, enum sr_option_id id)
{
    return cfg->values[id].set ? cfg->values[id].u.choice : 0;
}
const sr_strlist *sr_config_list(const sr_config *cfg, enum sr_option_id id)
{
    return &cfg->values[id].list;
}
size_t sr_config_mask_count(const sr_config *cfg)
{
    return cfg->mask_count;
}
const sr_mask *sr_config_mask(const sr_config *cfg, size_t i)
{
    return i < cfg->mask_count ? &cfg->masks[i] : NULL;
}
size_t sr_config_subtopic_count(const sr_config *cfg)
{
    return cfg->subtopic_count;
}
const sr_subtopic *sr_config_subtopic(const sr_config *cfg, size_t i)
{
    return i < cfg->subtopic_count ? &cfg->subtopics[i] : NULL;
}
const sr_strlist *sr_config_headers(const sr_config *cfg)
{
    return &cfg->headers;
}
const sr_strlist *sr_config_env(const sr_config *cfg)
{
    return &cfg->env;
}
const sr_strlist *sr_config_declared(const sr_config *cfg)
{
    return &cfg->declared;
}
const sr_strlist *sr_config_settings(const sr_config *cfg)
{
    return &cfg->settings;
}

const sr_mask *sr_config_match(const sr_config *cfg, const char *subject, bool *accepted,
                               char **groups, int group_max, int *group_count)
{
    if (group_count)
        *group_count = 0;
    for (size_t i = 0; i < cfg->mask_count; i++) {
        const sr_mask *m = &cfg->masks[i];
        int rc = sr_regex_match(m->regex, subject, true, groups, group_max, group_count, NULL,
                                NULL);
        if (rc == 1) {
            *accepted = m->accept;
            return m;
        }
    }
    *accepted = sr_config_flag(cfg, SR_OPT_acceptUnmatched);
    return NULL;
}
