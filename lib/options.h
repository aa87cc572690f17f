/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * options: the table of every option sr knows (options.def), and look-ups in it.
 *
 * The table is static and read-only. Each option has an id (SR_OPT_<name>), a value type,
 * the components it has an effect in and its default (what every component starts with,
 * see options.def). Aliases (v2 spellings, camelCase forms) map to
 * one option; sr3 options sr does not implement are known by name so a config that uses
 * them is refused with the reason instead of "unknown option", and the sr3 names that have
 * no effect in sr3 either are known so that they only warn.
 */
#ifndef SR_OPTIONS_H
#define SR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum sr_type {
    SR_T_FLAG,     /* on/off; bare name means on */
    SR_T_DURATION, /* seconds, float; units s m h d w, combinable (1h30m) */
    SR_T_COUNT,    /* integer; k m g (x1000), ki/kb (x1024) */
    SR_T_SIZE,     /* bytes; same syntax as count */
    SR_T_FLOAT,    /* plain number */
    SR_T_OCTAL,    /* permission bits, digits 0-7 */
    SR_T_STR,      /* text; last one wins; None unsets */
    SR_T_URL,      /* scheme://[user@]host[:port][/path]; None unsets */
    SR_T_ENUM,     /* one of the choices in the table ("warning|warn": two spellings of one) */
    SR_T_SET,      /* comma list of choices; +x,y adds, -x,y removes them all, all, None */
    SR_T_LIST,     /* every line adds one value */
    SR_T_IDENTITY, /* checksum method (sha512, md5, cod,ALGO, ...) */
    SR_T_STRIP,    /* a count of path elements, or a regex */
    SR_T_MASK,     /* accept/reject REGEX [keyword] */
    SR_T_SUBTOPIC, /* binding pattern, captures exchange and topicPrefix */
    SR_T_HEADER,   /* NAME=VALUE */
    SR_T_DECLARE,  /* declare env|source|subscriber|exchange ... */
    SR_T_INCLUDE,  /* include FILE */
    SR_T_CLASSSET, /* set CLASS.SETTING VALUE */
    SR_T_CALLBACK, /* callback NAME: an sr3 plugin class, accepted when sr has it built in */
    SR_T_V2PLUGIN, /* on_message NAME ...: a v2 plugin, turned into options as sr3 does */
    SR_TYPE_COUNT  /* not a type: how many there are */
};

/* The components, as a bit mask. */
enum sr_component {
    SR_C_POST = 1 << 0,
    SR_C_WATCH = 1 << 1,
    SR_C_SUBSCRIBE = 1 << 2,
    SR_C_SARRA = 1 << 3,
    SR_C_SHOVEL = 1 << 4,
    SR_C_SENDER = 1 << 5,
    SR_C_WINNOW = 1 << 6,
    SR_C_POLL = 1 << 7,
};
#define SR_C_LOCAL (SR_C_POST | SR_C_WATCH)
#define SR_C_TRANSFER (SR_C_SUBSCRIBE | SR_C_SARRA | SR_C_SENDER)
#define SR_C_CONSUMERS (SR_C_TRANSFER | SR_C_SHOVEL | SR_C_WINNOW)
/* What a queue is declared for: the consumers, and a poll with `vip` (it reads its own posts
 * to keep its memory of the remote files current while another node polls). */
#define SR_C_QUEUE (SR_C_CONSUMERS | SR_C_POLL)
#define SR_C_ALL (SR_C_LOCAL | SR_C_CONSUMERS | SR_C_POLL)
#define SR_COMPONENT_COUNT 8

enum sr_option_id {
#define SR_OPTION(name, type, comps, extra, def, help) SR_OPT_##name,
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
    SR_OPT_COUNT
};

typedef struct sr_option {
    const char *name;
    enum sr_type type;
    unsigned components; /* enum sr_component mask */
    const char *extra;   /* choices (SET, ENUM) or the value of `on` (DURATION) */
    const char *default_value; /* in config syntax, parsed at load; "" when none */
    const char *help;
} sr_option;

/* The option with this id. */
const sr_option *sr_option_get(enum sr_option_id id);

/* What a name found in a config means. */
typedef struct sr_option_match {
    int id;                 /* SR_OPT_*, or -1 when the name is not an option */
    const char *forced;     /* an alias that sets a value ("notify_only"): that value */
    const char *unsupported; /* an sr3 option sr does not do: why; id is -1 */
    const char *ignored;     /* an sr3 name without effect in sr3 either: why; id is -1 */
} sr_option_match;

/* Look up a name or alias, exactly (option names are case sensitive as in sr3). */
sr_option_match sr_option_lookup(const char *name);

/* The known option or alias nearest to name (for "did you mean"), or NULL if none is
 * close enough to be a plausible typo. */
const char *sr_option_nearest(const char *name);

/* All aliases of an option, comma separated, into buf ("" when none). */
void sr_option_aliases(enum sr_option_id id, char *buf, size_t size);

/* The aliases that set a value (`notify_only` is `download off`), in table order: false
 * past the last. For listings (the man page). */
bool sr_option_value_alias_at(size_t i, const char **alias, enum sr_option_id *id,
                              const char **value);

/* The sr3 options sr refuses, with the reason, in table order: false past the last. */
bool sr_option_unsupported_at(size_t i, const char **name, const char **reason);

/* The sr3 names that have no effect in sr3 either (a warning in sr), with the reason, in
 * table order: false past the last. */
bool sr_option_ignored_at(size_t i, const char **name, const char **reason);

/* Does this type stand for lines that each add one item (accept, subtopic, header ...)
 * rather than for a value that the last line sets? */
bool sr_type_is_line(enum sr_type type);

/* The name of a type ("flag", "duration", ...). */
const char *sr_type_name(enum sr_type type);

/* Component names: "post", "watch", "subscribe", "sarra", "shovel", "sender", "winnow",
 * "poll". */
const char *sr_component_name(enum sr_component c);
/* The component bit for a name, or 0 when the name is not a component. */
enum sr_component sr_component_from_name(const char *name);
/* The component with index i (0..SR_COMPONENT_COUNT-1). */
enum sr_component sr_component_at(int i);

/* Choices are comma separated; one choice may have other spellings after a `|`
 * ("warning|warn"): they have its index, and the first spelling is the one shown. */

/* Is word one of the comma separated choices? */
int sr_choice_valid(const char *choices, const char *word);

/* The index (0, 1, ...) of word among the comma separated choices, or -1; nocase: in any
 * case. An ENUM value's index is what sr_config_choice returns. */
int sr_choice_index(const char *choices, const char *word, bool nocase);

/* How many comma separated choices there are. */
int sr_choice_count(const char *choices);

#endif
