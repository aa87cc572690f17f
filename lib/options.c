/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * options: the option table built from options.def, and look-ups in it.
 * Everything here is const data; no state.
 */
#include "options.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const sr_option option_table[SR_OPT_COUNT] = {
#define SR_OPTION(name, type, comps, extra, def, help) {#name, type, comps, extra, def, help},
#define SR_ALIAS(alias, name)
#define SR_ALIAS_VALUE(alias, name, value)
#define SR_UNSUPPORTED(name, reason)
#define SR_IGNORED(name, reason)
#include "options.def"
#undef SR_OPTION
#undef SR_ALIAS
#undef SR_ALIAS_VALUE
#undef SR_UNSUPPORTED
#undef SR_IGNORED
};

typedef struct alias {
    const char *alias;
    enum sr_option_id id;
    const char *forced; /* NULL for a plain alias */
} alias;

static const alias alias_table[] = {
#define SR_OPTION(name, type, comps, extra, def, help)
#define SR_ALIAS(alias, name) {#alias, SR_OPT_##name, NULL},
#define SR_ALIAS_VALUE(alias, name, value) {#alias, SR_OPT_##name, value},
#define SR_UNSUPPORTED(name, reason)
#define SR_IGNORED(name, reason)
#include "options.def"
#undef SR_OPTION
#undef SR_ALIAS
#undef SR_ALIAS_VALUE
#undef SR_UNSUPPORTED
#undef SR_IGNORED
};

typedef struct unsupported {
    const char *name;
    const char *reason;
} unsupported;

static const unsupported unsupported_table[] = {
#define SR_OPTION(name, type, comps, extra, def, help)
#define SR_ALIAS(alias, name)
#define SR_ALIAS_VALUE(alias, name, value)
#define SR_UNSUPPORTED(name, reason) {#name, reason},
#define SR_IGNORED(name, reason)
#include "options.def"
#undef SR_OPTION
#undef SR_ALIAS
#undef SR_ALIAS_VALUE
#undef SR_UNSUPPORTED
#undef SR_IGNORED
};

static const unsupported ignored_table[] = {
#define SR_OPTION(name, type, comps, extra, def, help)
#define SR_ALIAS(alias, name)
#define SR_ALIAS_VALUE(alias, name, value)
#define SR_UNSUPPORTED(name, reason)
#define SR_IGNORED(name, reason) {#name, reason},
#include "options.def"
#undef SR_OPTION
#undef SR_ALIAS
#undef SR_ALIAS_VALUE
#undef SR_UNSUPPORTED
#undef SR_IGNORED
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

bool sr_option_value_alias_at(size_t i, const char **name, enum sr_option_id *id,
                              const char **value)
{
    for (size_t k = 0, n = 0; k < COUNT_OF(alias_table); k++) {
        if (alias_table[k].forced == NULL)
            continue;
        if (n++ == i) {
            *name = alias_table[k].alias;
            *id = alias_table[k].id;
            *value = alias_table[k].forced;
            return true;
        }
    }
    return false;
}

bool sr_option_unsupported_at(size_t i, const char **name, const char **reason)
{
    if (i >= COUNT_OF(unsupported_table))
        return false;
    *name = unsupported_table[i].name;
    *reason = unsupported_table[i].reason;
    return true;
}

bool sr_option_ignored_at(size_t i, const char **name, const char **reason)
{
    if (i >= COUNT_OF(ignored_table))
        return false;
    *name = ignored_table[i].name;
    *reason = ignored_table[i].reason;
    return true;
}

bool sr_type_is_line(enum sr_type type)
{
    switch (type) {
    case SR_T_MASK:
    case SR_T_SUBTOPIC:
    case SR_T_HEADER:
    case SR_T_DECLARE:
    case SR_T_INCLUDE:
    case SR_T_CLASSSET:
    case SR_T_CALLBACK:
    case SR_T_V2PLUGIN:
        return true;
    default:
        return false;
    }
}

const sr_option *sr_option_get(enum sr_option_id id)
{
    if ((int)id < 0 || id >= SR_OPT_COUNT)
        return NULL;
    return &option_table[id];
}

sr_option_match sr_option_lookup(const char *name)
{
    sr_option_match m = {-1, NULL, NULL, NULL};
    for (int i = 0; i < SR_OPT_COUNT; i++) {
        if (strcmp(option_table[i].name, name) == 0) {
            m.id = i;
            return m;
        }
    }
    for (size_t i = 0; i < COUNT_OF(alias_table); i++) {
        if (strcmp(alias_table[i].alias, name) == 0) {
            m.id = (int)alias_table[i].id;
            m.forced = alias_table[i].forced;
            return m;
        }
    }
    for (size_t i = 0; i < COUNT_OF(unsupported_table); i++) {
        if (strcmp(unsupported_table[i].name, name) == 0) {
            m.unsupported = unsupported_table[i].reason;
            return m;
        }
    }
    for (size_t i = 0; i < COUNT_OF(ignored_table); i++) {
        if (strcmp(ignored_table[i].name, name) == 0) {
            m.ignored = ignored_table[i].reason;
            return m;
        }
    }
    return m;
}

/* Edit distance, case-insensitive (a user who types `postbroker` means post_broker).
 * Names are short, so the O(n*m) table on the stack is fine; longer words are not typos
 * of any option. */
#define NAME_MAX_LEN 48
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= NAME_MAX_LEN || lb >= NAME_MAX_LEN)
        return 1000;
    int d[NAME_MAX_LEN + 1][NAME_MAX_LEN + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            char ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z')
                ca = (char)(ca - 'A' + 'a');
            if (cb >= 'A' && cb <= 'Z')
                cb = (char)(cb - 'A' + 'a');
            int cost = ca == cb ? 0 : 1;
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *sr_option_nearest(const char *name)
{
    const char *best = NULL;
    int best_d = 1000;
    for (int i = 0; i < SR_OPT_COUNT; i++) {
        int dd = distance(name, option_table[i].name);
        if (dd < best_d) {
            best_d = dd;
            best = option_table[i].name;
        }
    }
    for (size_t i = 0; i < COUNT_OF(alias_table); i++) {
        int dd = distance(name, alias_table[i].alias);
        if (dd < best_d) {
            best_d = dd;
            /* suggest the option's own name, not another old spelling of it */
            best = alias_table[i].forced ? alias_table[i].alias
                                         : option_table[alias_table[i].id].name;
        }
    }
    /* A third of the name may be wrong, at most three characters; a name of one or two
     * letters is only "near" when it differs in case, or every v2 letter would match. */
    int allowed = (int)strlen(name) / 3;
    if (allowed > 3)
        allowed = 3;
    return best_d <= allowed ? best : NULL;
}

void sr_option_aliases(enum sr_option_id id, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < COUNT_OF(alias_table); i++) {
        if (alias_table[i].id != id || alias_table[i].forced != NULL)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", alias_table[i].alias);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

const char *sr_type_name(enum sr_type type)
{
    static const char *const names[] = {
        [SR_T_FLAG] = "flag",         [SR_T_DURATION] = "duration", [SR_T_COUNT] = "count",
        [SR_T_SIZE] = "size",         [SR_T_FLOAT] = "number",      [SR_T_OCTAL] = "octal",
        [SR_T_STR] = "string",        [SR_T_URL] = "url",           [SR_T_ENUM] = "choice",
        [SR_T_SET] = "set",           [SR_T_LIST] = "list",         [SR_T_IDENTITY] = "identity",
        [SR_T_STRIP] = "count|regex", [SR_T_MASK] = "regex",        [SR_T_SUBTOPIC] = "topic",
        [SR_T_HEADER] = "name=value", [SR_T_DECLARE] = "declaration", [SR_T_INCLUDE] = "file",
        [SR_T_CLASSSET] = "setting",  [SR_T_CALLBACK] = "class",    [SR_T_V2PLUGIN] = "plugin",
    };
    if ((unsigned)type >= COUNT_OF(names) || names[type] == NULL)
        return "?";
    return names[type];
}

static const char *const component_names[SR_COMPONENT_COUNT] = {
    "post", "watch", "subscribe", "sarra", "shovel", "sender", "winnow", "poll",
};

const char *sr_component_name(enum sr_component c)
{
    for (int i = 0; i < SR_COMPONENT_COUNT; i++)
        if (c == (1u << i))
            return component_names[i];
    return "?";
}

enum sr_component sr_component_from_name(const char *name)
{
    for (int i = 0; i < SR_COMPONENT_COUNT; i++)
        if (strcmp(name, component_names[i]) == 0)
            return (enum sr_component)(1u << i);
    return 0;
}

enum sr_component sr_component_at(int i)
{
    if (i < 0 || i >= SR_COMPONENT_COUNT)
        return 0;
    return (enum sr_component)(1u << i);
}

int sr_choice_index(const char *choices, const char *word, bool nocase)
{
    int i = 0;
    size_t wl = strlen(word);
    const char *p = choices;
    while (*p) {
        size_t len = strcspn(p, ",|");
        if (len == wl && (nocase ? strncasecmp(p, word, len) : strncmp(p, word, len)) == 0)
            return i;
        p += len;
        if (*p == '\0')
            break;
        if (*p++ == ',')
            i++;
    }
    return -1;
}

int sr_choice_count(const char *choices)
{
    int n = 1;
    for (const char *p = choices; *p; p++)
        n += *p == ',';
    return n;
}

int sr_choice_valid(const char *choices, const char *word)
{
    return sr_choice_index(choices, word, false) >= 0;
}
