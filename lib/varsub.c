/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * varsub: see varsub.h. The scanner is shared by both passes; each pass supplies its own
 * look-up.
 */
#include "varsub.h"
#include "units.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing output buffer. */
typedef struct buf {
    char *data;
    size_t len, cap;
    bool failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

int sr_varsub(const char *text, sr_var_lookup lookup, void *ctx, char **out, sr_strlist *unknown,
              sr_err *err)
{
    buf b = {0};
    *out = NULL;
    const char *p = text;
    buf_add(&b, "", 0);
    while (*p) {
        const char *start = strstr(p, "${");
        if (start == NULL) {
            buf_add(&b, p, strlen(p));
            break;
        }
        buf_add(&b, p, (size_t)(start - p));
        const char *close = strchr(start + 2, '}');
        if (close == NULL) {
            free(b.data);
            return sr_err_set(err, SR_EINVAL, false, "\"${\" without a closing \"}\" in \"%s\"",
                              text);
        }
        size_t nlen = (size_t)(close - start - 2);
        char *name = strndup(start + 2, nlen);
        if (name == NULL) {
            free(b.data);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        char *value = lookup(ctx, name);
        if (value != NULL) {
            buf_add(&b, value, strlen(value));
            free(value);
        } else {
            buf_add(&b, start, (size_t)(close - start + 1));
            if (unknown != NULL && !sr_strlist_contains(unknown, name))
                sr_strlist_push(unknown, name);
        }
        free(name);
        p = close + 1;
    }
    if (b.failed) {
        free(b.data);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    *out = b.data;
    return SR_OK;
}

/* ---- per-message variables ---- */

static const char *const message_vars[] = {
    "BD",   "PBD", "BUP", "BUPL", "baseUrlPath", "baseUrlPathLast", "SOURCE",   "YYYYMMDD",
    "YYYY", "MM",  "DD",  "HH",   "JJJ",         "relPath",         "filename",
};

/* A date variable with an offset: YYYYMMDD-1d, HH+2h ... The offset is a signed number and
 * one unit (s m h d w). Returns the base name length, or 0 when name has no valid offset. */
static size_t split_offset(const char *name, double *offset)
{
    const char *sign = strpbrk(name, "+-");
    if (sign == NULL || sign == name)
        return 0;
    char *end;
    double n = strtod(sign + 1, &end);
    if (end == sign + 1)
        return 0;
    double unit = sr_unit_seconds(*end);
    if (unit < 0 || end[1] != '\0')
        return 0;
    *offset = (*sign == '-' ? -n : n) * unit;
    return (size_t)(sign - name);
}

static bool is_date_name(const char *name, size_t len)
{
    static const char *const dates[] = {"YYYYMMDD", "YYYY", "MM", "DD", "HH", "JJJ"};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++)
        if (strlen(dates[i]) == len && strncmp(dates[i], name, len) == 0)
            return true;
    return false;
}

bool sr_varsub_is_message_var(const char *name)
{
    if (name[0] == '%')
        return true;
    if (isdigit((unsigned char)name[0]))
        return true;
    for (size_t i = 0; i < sizeof message_vars / sizeof message_vars[0]; i++)
        if (strcmp(name, message_vars[i]) == 0)
            return true;
    double off;
    size_t base = split_offset(name, &off);
    return base > 0 && is_date_name(name, base);
}

static char *format_time(const char *fmt, time_t when)
{
    struct tm tm;
    gmtime_r(&when, &tm);
    char out[256];
    size_t n = strftime(out, sizeof out, fmt, &tm);
    if (n == 0 && fmt[0] != '\0')
        return NULL;
    return strdup(out);
}

static char *date_value(const char *name, size_t len, time_t when)
{
    static const struct {
        const char *name, *fmt;
    } formats[] = {
        {"YYYYMMDD", "%Y%m%d"}, {"YYYY", "%Y"}, {"MM", "%m"},
        {"DD", "%d"},           {"HH", "%H"},   {"JJJ", "%j"},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strlen(formats[i].name) == len && strncmp(formats[i].name, name, len) == 0)
            return format_time(formats[i].fmt, when);
    return NULL;
}

/* The path part of a URL: after scheme://host, or all of it when there is no "//". */
static const char *url_path(const char *url)
{
    const char *p = strstr(url, "//");
    if (p == NULL) {
        const char *colon = strchr(url, ':');
        return colon ? colon + 1 : url;
    }
    const char *slash = strchr(p + 2, '/');
    return slash ? slash : "";
}

static char *message_lookup(void *ctx, const char *name)
{
    const sr_msgvars *v = ctx;
    time_t base = v->now + (time_t)v->time_offset;
    if (name[0] == '%') {
        /* ${%o-1h%Y%m%d}: an offset, then a strftime pattern. */
        const char *fmt = name;
        time_t when = base;
        if (strncmp(name, "%o", 2) == 0) {
            const char *p = name + 2;
            char *end;
            double n = strtod(p, &end);
            if (end == p || (*p != '-' && *p != '+'))
                return NULL;
            double unit = sr_unit_seconds(*end);
            if (unit < 0)
                return NULL;
            when += (time_t)(n * unit);
            fmt = end + 1;
        }
        return format_time(fmt, when);
    }
    if (isdigit((unsigned char)name[0])) {
        char *end;
        long i = strtol(name, &end, 10);
        if (*end != '\0' || v->groups == NULL || i < 1 || i > v->group_count)
            return NULL;
        return strdup(v->groups[i - 1] ? v->groups[i - 1] : "");
    }
    if (strcmp(name, "BD") == 0)
        return v->base_dir ? strdup(v->base_dir) : NULL;
    if (strcmp(name, "PBD") == 0)
        return v->post_base_dir ? strdup(v->post_base_dir) : NULL;
    if (strcmp(name, "SOURCE") == 0)
        return v->source ? strdup(v->source) : NULL;
    if (strcmp(name, "relPath") == 0)
        return v->rel_path ? strdup(v->rel_path) : NULL;
    if (strcmp(name, "filename") == 0) {
        if (v->rel_path == NULL)
            return NULL;
        const char *slash = strrchr(v->rel_path, '/');
        return strdup(slash ? slash + 1 : v->rel_path);
    }
    if (strcmp(name, "BUP") == 0 || strcmp(name, "baseUrlPath") == 0)
        return v->base_url ? strdup(url_path(v->base_url)) : NULL;
    if (strcmp(name, "BUPL") == 0 || strcmp(name, "baseUrlPathLast") == 0) {
        if (v->base_url == NULL)
            return NULL;
        const char *path = url_path(v->base_url);
        size_t len = strlen(path);
        while (len > 0 && path[len - 1] == '/')
            len--;
        size_t start = len;
        while (start > 0 && path[start - 1] != '/')
            start--;
        return strndup(path + start, len - start);
    }
    double offset = 0;
    size_t len = split_offset(name, &offset);
    if (len == 0)
        len = strlen(name);
    return date_value(name, len, base + (time_t)offset);
}

/* Variables whose value the message chooses (sr-security(7)): its source, its baseUrl's
 * path, what the accept's groups captured from its URL. */
static bool from_message(const char *name)
{
    static const char *const names[] = {"SOURCE",          "BUP",     "BUPL",    "baseUrlPath",
                                        "baseUrlPathLast", "relPath", "filename"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return isdigit((unsigned char)name[0]);
}

/* One name (SOURCE, BUPL) or a path (BUP, groups)? */
static bool single_name(const char *name)
{
    return strcmp(name, "SOURCE") == 0 || strcmp(name, "BUPL") == 0 ||
           strcmp(name, "baseUrlPathLast") == 0 || strcmp(name, "filename") == 0;
}

/* Why value may not stand in a path, or NULL when it may. */
static const char *unsafe_value(const char *name, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "holds a control character";
    if (single_name(name) && strchr(value, '/') != NULL)
        return "holds \"/\" where one name is expected";
    for (const char *p = value; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return "holds \"..\"";
        if (len == 1 && p[0] == '.' && single_name(name))
            return "is \".\"";
        p += len;
    }
    return NULL;
}

typedef struct checked {
    const sr_msgvars *vars;
    char *bad_name, *bad_value; /* the first value refused */
    const char *why;
} checked;

static char *checked_lookup(void *ctx, const char *name)
{
    checked *c = ctx;
    char *value = message_lookup((void *)c->vars, name);
    if (value == NULL || !from_message(name))
        return value;
    const char *why = unsafe_value(name, value);
    if (why != NULL && c->bad_name == NULL) {
        c->bad_name = strdup(name);
        c->bad_value = strdup(value);
        c->why = why;
    }
    return value;
}

int sr_varsub_message(const char *text, const sr_msgvars *vars, char **out, size_t *trusted_len,
                      sr_err *err)
{
    *out = NULL;
    checked c = {.vars = vars};
    int rc = sr_varsub(text, checked_lookup, &c, out, NULL, err);
    if (rc == SR_OK && c.bad_name != NULL) {
        char q[SR_QUOTE_BUF];
        rc = sr_err_set(err, SR_EREFUSED, false,
                        "${%s} is %s, from the message, and %s: it may not stand in a path",
                        c.bad_name, sr_err_quote(c.bad_value ? c.bad_value : "", q, sizeof q),
                        c.why);
        free(*out);
        *out = NULL;
    }
    free(c.bad_name);
    free(c.bad_value);
    if (rc != SR_OK || trusted_len == NULL)
        return rc;
    /* What comes before the first variable the message chooses is the configuration's. */
    *trusted_len = strlen(*out);
    for (const char *p = strstr(text, "${"); p != NULL; p = strstr(p + 2, "${")) {
        const char *close = strchr(p + 2, '}');
        if (close == NULL)
            break;
        char *name = strndup(p + 2, (size_t)(close - p - 2));
        bool chosen = name != NULL && from_message(name);
        free(name);
        if (!chosen)
            continue;
        char *prefix = strndup(text, (size_t)(p - text)), *expanded = NULL;
        if (prefix == NULL ||
            sr_varsub(prefix, message_lookup, (void *)vars, &expanded, NULL, err) != SR_OK) {
            free(prefix);
            free(*out);
            *out = NULL;
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        *trusted_len = strlen(expanded);
        free(prefix);
        free(expanded);
        break;
    }
    return SR_OK;
}
