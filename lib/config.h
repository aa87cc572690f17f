/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * config: read a configuration in the sr3 option syntax (sr-config(5)) into typed values.
 *
 * A config is read in layers, each overriding the one before, lowest first:
 *   1. the option table's defaults   options.def, the only place defaults are written
 *                                     (conf.d/default.conf lists them; it is not read)
 *   2. conf.d/<component>.conf       what one component starts with differently; this
 *                                     file must exist: it tells conf.d was found
 *   3. <config_dir>/admin.conf       the pump operator's (optional)
 *   4. <config_dir>/default.conf     the user's defaults for every config (optional)
 *   5. <config_dir>/<component>/<name>.conf  the config itself
 *   6. --option value on the command line
 * Then a few values are derived where still unset (exchange xs_<user>, post_exchange,
 * post_topicPrefix, subtopic #). Every value remembers where it came from, for `sr show`.
 * So every option with a default in the table has a value once loaded: code reads it
 * with the accessors below and never defaults it again.
 *
 * Syntax: `name value...` per line; `#` starts a comment line, and a lone `#` word after
 * the value starts a trailing comment (so `subtopic #  # all` works as sr3's own examples
 * expect); `include FILE`; `declare env NAME=VALUE`; ${VAR} substitution (varsub.h).
 * accept/reject masks are PCRE2, matched anchored at the start (Python's re.match), and
 * each keeps the directory/mirror/strip/flatten/filename in force at its line; each
 * subtopic keeps the exchange and topicPrefix in force at its line.
 *
 * Every line has an effect, or says why not, with its file:line:
 *   - refused (sr_config_refused): a line sr3 acts on and sr would not: an unknown option
 *     (until a plugin declares it: sr_config_claim), an sr3 option sr does not do
 *     (SR_UNSUPPORTED), a flowcb plugin (until sr_plugins_load finds it), a `set` line. The
 *     config still loads, so show, stop and cleanup work on it, but sr_config_check fails:
 *     check, start and foreground refuse to run it.
 *   - warnings (sr_config_warnings): lines sr3 itself ignores (SR_IGNORED names, an option
 *     outside the components it applies to), an undefined ${VAR}.
 *   - notes (sr_config_notes): lines sr does without being told (`callback log`), or reads
 *     as sr3 converts them (`on_message msg_log`).
 * A bad value stops the load with an error at file:line.
 */
#ifndef SR_CONFIG_H
#define SR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "options.h"
#include "strlist.h"

enum sr_origin_kind {
    SR_ORIGIN_UNSET,   /* never given */
    SR_ORIGIN_DEFAULT, /* the option table's default (options.def) */
    SR_ORIGIN_CONFD,   /* a component's shipped default in conf.d/<component>.conf */
    SR_ORIGIN_FILE,    /* a user's file: admin.conf, default.conf, the config, an include */
    SR_ORIGIN_CMDLINE, /* --option value */
    SR_ORIGIN_DERIVED, /* computed from other values (exchange from the broker user...) */
};

typedef struct sr_origin {
    enum sr_origin_kind kind;
    const char *file; /* CONFD and FILE: the file's path (owned by the config); else NULL */
    int line;
} sr_origin;

/* "/path/file.conf:12", "conf.d/subscribe.conf:3", "default", "command line", "derived",
 * "unset". */
void sr_origin_format(const sr_origin *origin, char *buf, size_t size);

/* One value of one option. */
typedef struct sr_value {
    bool set;         /* false when never given, or given as None */
    sr_origin origin; /* where the value in force came from */
    char *text;       /* the value as given, after ${VAR} substitution (normalised for
                         ENUM, SET and IDENTITY); NULL when unset */
    union {
        bool flag;         /* FLAG */
        double seconds;    /* DURATION */
        long long count;   /* COUNT, SIZE, and STRIP when it is a number */
        double number;     /* FLOAT */
        unsigned bits;     /* OCTAL: the mode; SET: bit i = i-th choice of the table */
        int choice;        /* ENUM: index of the choice in the table (sr_config_choice) */
    } u;
    sr_strlist list;  /* LIST: every value in order */
} sr_value;

/* An accept or reject line, with the placement in force where it was written. */
typedef struct sr_mask {
    bool accept;
    char *pattern;   /* the regex as written */
    char *keyword;   /* the optional Sundew filename keyword after it, or NULL */
    char *directory; /* directory, strip, flatten, filename in force at this line (NULL if unset) */
    bool mirror;
    char *strip;
    char *flatten;
    char *filename;
    sr_origin origin;
    void *regex;     /* compiled pattern (private) */
} sr_mask;

/* A subtopic line, with the exchange and topicPrefix in force where it was written. */
typedef struct sr_subtopic {
    char *pattern;
    char *exchange;     /* NULL: the config's final exchange */
    char *topic_prefix; /* NULL: the config's final topicPrefix */
    sr_origin origin;
} sr_subtopic;

typedef struct sr_config sr_config;

/* An --option value given on the command line. */
typedef struct sr_override {
    const char *name;
    const char *value; /* "" for a bare flag */
} sr_override;

typedef struct sr_config_request {
    enum sr_component component;
    const char *config;     /* a name (read <config_dir>/<component>/<name>.conf) or a
                               path to a .conf file; NULL: only the defaults and overrides */
    const char *config_dir; /* ~/.config/sr (paths.h) */
    const char *confd_dir;  /* the shipped conf.d */
    const sr_override *overrides;
    size_t override_count;
} sr_config_request;

/* Read a configuration. On success *out is a new config the caller frees with
 * sr_config_free; on failure *out is NULL and err says file:line and what is wrong. */
int sr_config_load(const sr_config_request *req, sr_config **out, sr_err *err);

void sr_config_free(sr_config *cfg);

/* Check what a component needs before it can run: no refused line (the first is the
 * message), a consumer needs a broker, a sender a sendTo... Returns SR_OK or SR_EINVAL with
 * a message naming the config file. */
int sr_config_check(const sr_config *cfg, sr_err *err);

/* The queue options alone (part of sr_config_check, and what `sr declare` checks before
 * it declares): what RabbitMQ would refuse at queue.declare, refused at its line. */
int sr_config_check_queue(const sr_config *cfg, sr_err *err);

/* Turn "--name value" / "--flag" arguments into overrides. Arguments that are not options
 * (the verb, config names, files to post) are returned in positional, in order. Both
 * arrays are new; free with sr_overrides_free (positional holds pointers into argv). */
int sr_config_parse_args(int argc, char **argv, sr_override **overrides, size_t *override_count,
                         char ***positional, size_t *positional_count, sr_err *err);
void sr_overrides_free(sr_override *overrides, size_t count, char **positional);

/* Export the `declare env` variables to this process's environment (a component's main
 * calls this once: children such as triggers see them, as in sr3). */
int sr_config_export_env(const sr_config *cfg, sr_err *err);

/* ---- what was read ---- */
enum sr_component sr_config_component(const sr_config *cfg);
const char *sr_config_name(const sr_config *cfg); /* "hpfx"; "" with no config file */
const char *sr_config_path(const sr_config *cfg); /* the .conf path, or NULL */
const sr_strlist *sr_config_warnings(const sr_config *cfg);
const sr_strlist *sr_config_refused(const sr_config *cfg); /* "file:line: why", in order */
const sr_strlist *sr_config_notes(const sr_config *cfg);

/* ---- plugins (plugins.h) ---- */
/* A flowcb / callback / flowCallback line (or a _prepend form) naming a plugin sr does not
 * do itself (sr3's log, nodupe, retry... are notes instead). */
typedef struct sr_config_plugin {
    char *name;       /* as written: "rename.by_pattern", "exec:./x.py --n 2", "/p/x.so" */
    sr_origin origin; /* its line */
    char *refusal;    /* config.c's: the line's refusal until the plugin is found */
} sr_config_plugin;
/* The plugin lines in the order sr3 runs them: the _prepend forms first, then the others,
 * each in file order. *count of them; NULL when none. */
const sr_config_plugin *sr_config_plugins(const sr_config *cfg, size_t *count);
/* Plugin i of sr_config_plugins was found and loaded (sr_plugins_load): its line is no
 * longer refused. Until then every plugin line is (sr_config_refused), so a config is
 * never run without the plugins it names. */
void sr_config_plugin_found(sr_config *cfg, size_t i);
/* A plugin of the config declares option name: the lines naming it are no longer refused
 * (sr_config_check passes them) and their values are read with sr_config_extra. A name
 * no line gives, or one claimed already, changes nothing. */
void sr_config_claim(sr_config *cfg, const char *name);
/* The values of the lines of a claimed option, in order (after ${VAR} substitution);
 * NULL when the option is not claimed or no line gives it. */
const sr_strlist *sr_config_extra(const sr_config *cfg, const char *name);
/* The names of the claimed options given by lines, appended to out (returned; NULL when
 * out of memory). */
const sr_strlist *sr_config_extra_names(const sr_config *cfg, sr_strlist *out);
/* The i-th option sr does not know that lines give, claimed or not, with its values in
 * order; false past the last. An exec plugin's handshake hands them all over, before the
 * plugin declares which it reads (plugin_exec.h). */
bool sr_config_extra_at(const sr_config *cfg, size_t i, const char **name,
                        const sr_strlist **values);

const sr_value *sr_config_value(const sr_config *cfg, enum sr_option_id id);
bool sr_config_is_set(const sr_config *cfg, enum sr_option_id id);
const char *sr_config_str(const sr_config *cfg, enum sr_option_id id); /* NULL when unset */
bool sr_config_flag(const sr_config *cfg, enum sr_option_id id);       /* false when unset */
double sr_config_seconds(const sr_config *cfg, enum sr_option_id id);  /* 0 when unset */
long long sr_config_count(const sr_config *cfg, enum sr_option_id id); /* 0 when unset */
double sr_config_number(const sr_config *cfg, enum sr_option_id id);   /* 0 when unset */
unsigned sr_config_bits(const sr_config *cfg, enum sr_option_id id);   /* OCTAL, SET */
/* ENUM: the index of the value among the table's choices, decoded at load (0, the first
 * choice, when unset: every ENUM has a default). Cast it to the C enum that lists the
 * choices in the table's order (enum sr_tls_rigour for tlsRigour, enum sr_level for
 * logLevel...; test_options ties each to the table). */
int sr_config_choice(const sr_config *cfg, enum sr_option_id id);
bool sr_config_has(const sr_config *cfg, enum sr_option_id id, const char *choice); /* SET */
const sr_strlist *sr_config_list(const sr_config *cfg, enum sr_option_id id);     /* LIST */

size_t sr_config_mask_count(const sr_config *cfg);
const sr_mask *sr_config_mask(const sr_config *cfg, size_t i);
size_t sr_config_subtopic_count(const sr_config *cfg);
const sr_subtopic *sr_config_subtopic(const sr_config *cfg, size_t i);
const sr_strlist *sr_config_headers(const sr_config *cfg);   /* "name=value" */
const sr_strlist *sr_config_env(const sr_config *cfg);       /* "NAME=VALUE", declare env */
const sr_strlist *sr_config_declared(const sr_config *cfg);  /* "source NAME", "subscriber NAME", "exchange NAME" */
const sr_strlist *sr_config_settings(const sr_config *cfg);  /* "class.setting value" (set lines, refused) */

/* The first mask matching subject (a full URL: baseUrl + relPath), or NULL. *accepted says
 * what happens to subject: the mask's verdict, or acceptUnmatched when no mask matched.
 * groups (may be NULL) receives up to group_max capture groups as new strings the caller
 * frees, and *group_count their number. */
const sr_mask *sr_config_match(const sr_config *cfg, const char *subject, bool *accepted,
                               char **groups, int group_max, int *group_count);

#endif
