/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * varsub: ${NAME} substitution in option values (sr-config(5), Variables).
 *
 * Two passes, as in sr3. At parse time the config module substitutes what it knows then
 * (options, declared env, the environment, HOSTNAME, RAND8...) through a look-up function,
 * and leaves the per-message variables in place. Per message, sr_varsub_message() fills
 * those: ${BD} ${PBD} ${BUP} ${BUPL} ${SOURCE}, ${relPath} and ${filename} (its last
 * element; both sr extensions, for wisDataId), dates (${YYYYMMDD}, ${YYYY} ${MM} ${DD}
 * ${HH} ${JJJ}, offsets ${YYYYMMDD-1d}, strftime patterns ${%Y/%m/%d} with an optional
 * offset ${%o-1h%Y%m%d}) and regex groups ${1}..${9}.
 *
 * Dates are UTC, always. sr3 uses the process's local time although its docs say UTC; a
 * pump's directory tree should not move when the host's time zone does.
 */
#ifndef SR_VARSUB_H
#define SR_VARSUB_H

#include <stdbool.h>
#include <time.h>

#include "error.h"
#include "strlist.h"

/* Returns the value of name in a new string the caller frees, or NULL when unknown. */
typedef char *(*sr_var_lookup)(void *ctx, const char *name);

/* Replace each ${NAME} in text by lookup's value. Unknown names are left as written and
 * appended to unknown (if not NULL). "$" not followed by "{" is literal. An unclosed "${"
 * is an error. *out is a new string the caller frees. */
int sr_varsub(const char *text, sr_var_lookup lookup, void *ctx, char **out, sr_strlist *unknown,
              sr_err *err);

/* Is name a per-message variable (one that parse time leaves for sr_varsub_message)? */
bool sr_varsub_is_message_var(const char *name);

/* What a per-message substitution knows. Any pointer may be NULL: its variables are then
 * left as written. */
typedef struct sr_msgvars {
    time_t now;              /* the time dates are taken from (before offset) */
    double time_offset;      /* varTimeOffset, seconds */
    const char *base_dir;    /* ${BD} */
    const char *post_base_dir; /* ${PBD} */
    const char *base_url;    /* ${BUP} is its path, ${BUPL} the path's last element */
    const char *source;      /* ${SOURCE} */
    const char *rel_path;    /* ${relPath}, and ${filename} its last element */
    const char *const *groups; /* ${1}.. : groups[0] is ${1} */
    int group_count;
} sr_msgvars;

/* Substitute the per-message variables of text. Unknown names are left as written.
 * A value the message chooses (${SOURCE}, ${BUP}, ${BUPL}, ${relPath}, ${filename}, regex
 * groups ${1}..) may not hold a control character or a ".." component, and ${SOURCE},
 * ${BUPL} and ${filename} (one name) no "/" either: SR_EREFUSED naming the variable and
 * its value. *trusted_len (may be NULL) receives how much of *out comes from the
 * configuration alone: the length of what the text before the first such variable
 * expanded to (all of *out when there is none). */
int sr_varsub_message(const char *text, const sr_msgvars *vars, char **out, size_t *trusted_len,
                      sr_err *err);

#endif
