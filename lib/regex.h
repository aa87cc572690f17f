/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regex: PCRE2 behind a small API, with Python `re` semantics where sr3 users rely on them.
 * sr3 matches accept/reject with re.match: anchored at the start, not at the end.
 */
#ifndef SR_REGEX_H
#define SR_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct sr_regex sr_regex;

/* Compile pattern. On error, NULL and err says where in the pattern and why
 * ("missing closing parenthesis at offset 4"). */
sr_regex *sr_regex_new(const char *pattern, sr_err *err);

void sr_regex_free(sr_regex *re);

/* Match subject. anchored: only at the start (re.match); otherwise anywhere (re.search).
 * Returns 1 on a match, 0 on none, -1 on a matching error (resource limits). On a match,
 * groups (may be NULL) get up to group_max capture groups 1..n as new strings the caller
 * frees (an unset group is ""), and *group_count (may be NULL) their number. If start and
 * end are not NULL they receive the offsets of the whole match. */
int sr_regex_match(const sr_regex *re, const char *subject, bool anchored, char **groups,
                   int group_max, int *group_count, size_t *start, size_t *end);

#endif
