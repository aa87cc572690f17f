/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * strlist: a growable list of owned strings. Used for warnings a module collects for its
 * caller to log, for list options, and anywhere else a handful of strings is kept in order.
 */
#ifndef SR_STRLIST_H
#define SR_STRLIST_H

#include <stddef.h>

typedef struct sr_strlist {
    char **items;
    size_t count;
    size_t capacity;
} sr_strlist;

/* A zeroed sr_strlist is an empty list; no init needed. */

/* Append a copy of s. Returns 0, or -1 when out of memory (the list is unchanged). */
int sr_strlist_push(sr_strlist *list, const char *s);

/* Append a formatted string. Returns 0, or -1 when out of memory. */
int sr_strlist_pushf(sr_strlist *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Remove every item equal to s; returns how many were removed. */
size_t sr_strlist_remove(sr_strlist *list, const char *s);

/* Does the list hold s? */
int sr_strlist_contains(const sr_strlist *list, const char *s);

/* Free every item and the array; the list is empty (and reusable) after. */
void sr_strlist_clear(sr_strlist *list);

/* The items joined by sep, into a new string the caller frees (NULL when out of memory). */
char *sr_strlist_join(const sr_strlist *list, const char *sep);

#endif
