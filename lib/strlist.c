/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * strlist: see strlist.h.
 */
#include "strlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int take(sr_strlist *list, char *owned)
{
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? list->capacity * 2 : 8;
        char **grown = realloc(list->items, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        list->items = grown;
        list->capacity = cap;
    }
    list->items[list->count++] = owned;
    return 0;
}

int sr_strlist_push(sr_strlist *list, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        return -1;
    if (take(list, copy) != 0) {
        free(copy);
        return -1;
    }
    return 0;
}

int sr_strlist_pushf(sr_strlist *list, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if (take(list, text) != 0) {
        free(text);
        return -1;
    }
    return 0;
}

size_t sr_strlist_remove(sr_strlist *list, const char *s)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i], s) == 0) {
            free(list->items[i]);
            removed++;
        } else {
            list->items[kept++] = list->items[i];
        }
    }
    list->count = kept;
    return removed;
}

int sr_strlist_contains(const sr_strlist *list, const char *s)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i], s) == 0)
            return 1;
    return 0;
}

void sr_strlist_clear(sr_strlist *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

char *sr_strlist_join(const sr_strlist *list, const char *sep)
{
    size_t seplen = strlen(sep), total = 1;
    for (size_t i = 0; i < list->count; i++)
        total += strlen(list->items[i]) + (i ? seplen : 0);
    char *out = malloc(total);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < list->count; i++) {
        if (i) {
            memcpy(p, sep, seplen);
            p += seplen;
        }
        size_t n = strlen(list->items[i]);
        memcpy(p, list->items[i], n);
        p += n;
    }
    *p = '\0';
    return out;
}
