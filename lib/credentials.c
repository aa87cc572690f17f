/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * credentials: read credentials.conf and find the line for a URL. See credentials.h.
 *
 * Follows sr3's sarracenia/config/credentials.py, with these differences, each on purpose:
 *  - sr3 logs a bad line and goes on; here a malformed line fails the load, naming
 *    path:line, so a typo in a password file is seen at once rather than as an
 *    authentication failure later.
 *  - sr3 ignores any value given to a flag detail (`passive=False` still means passive);
 *    here true/yes/on/1 and false/no/off/0 are honoured and anything else is an error.
 *  - sr3 cuts `bearer_token=abc==` at the second '='; here the value is everything after
 *    the first '=' (tokens are often base64).
 *  - ssh_keyfile expands a leading ~ (not ~user, not $VARS, which sr3's expandvars does).
 * As in sr3, a later line with the same URL (but for the password) replaces the earlier
 * one in place, so the first-match lookup order stays that of first appearance.
 *
 * Invariant: every sr_credential in a set owns all its strings; secrets are wiped on free.
 */
#include "credentials.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

struct sr_credentials {
    sr_credential *items;
    size_t count;
    size_t capacity;
    sr_strlist warnings;
};

/* What the parser of one line needs to report with. */
typedef struct line_ctx {
    sr_credentials *set;
    const char *path;
    int line;
    sr_err *err;
} line_ctx;

static int oom(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "out of memory reading credentials");
}

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static void credential_fini(sr_credential *cr)
{
    sr_url_fini(&cr->url);
    free(cr->ssh_keyfile);
    wipe_free(cr->bearer_token);
    free(cr->login_method);
    free(cr->s3_endpoint);
    wipe_free(cr->s3_session_token);
    wipe_free(cr->azure_storage_credentials);
    free(cr->file);
    memset(cr, 0, sizeof *cr);
}

static int warn(line_ctx *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add "path:line: <message>" to the set's warnings. */
static int warn(line_ctx *lc, const char *fmt, ...)
{
    char msg[SR_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sr_strlist_pushf(&lc->set->warnings, "%s:%d: %s", lc->path, lc->line, msg) != 0)
        return oom(lc->err);
    return SR_OK;
}

static int line_error(line_ctx *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int line_error(line_ctx *lc, const char *fmt, ...)
{
    char msg[SR_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sr_err_set(lc->err, SR_EINVAL, false, "%s:%d: %s", lc->path, lc->line, msg);
}

/* Python's urllib.parse.unquote, as sr3 applies it to s3 and azure secrets: %XX decoded,
 * anything else (a bad escape, %00) left as written. */
static char *unquote_lenient(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            char c = (char)strtol(hex, NULL, 16);
            if (c != '\0') {
                out[j++] = c;
                i += 2;
                continue;
            }
        }
        out[j++] = s[i];
    }
    out[j] = '\0';
    return out;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int flag_value(const char *v)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int set_string(line_ctx *lc, char **dst, char *value)
{
    if (value == NULL)
        return oom(lc->err);
    wipe_free(*dst);
    *dst = value;
    return SR_OK;
}

/* Apply one detail word to cr. value is NULL for a bare `name`. */
static int apply_detail(line_ctx *lc, sr_credential *cr, const char *name, const char *value)
{
    static const struct {
        const char *name;
        size_t field; /* offsetof the char * in sr_credential */
    } valued[] = {
        {"ssh_keyfile", offsetof(sr_credential, ssh_keyfile)},
        {"bearer_token", offsetof(sr_credential, bearer_token)},
        {"bt", offsetof(sr_credential, bearer_token)},
        {"login_method", offsetof(sr_credential, login_method)},
        {"s3_endpoint", offsetof(sr_credential, s3_endpoint)},
        {"s3_session_token", offsetof(sr_credential, s3_session_token)},
        {"azure_storage_credentials", offsetof(sr_credential, azure_storage_credentials)},
    };
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++) {
        if (strcmp(name, valued[i].name) != 0)
            continue;
        if (value == NULL || value[0] == '\0')
            return line_error(lc, "credential detail \"%s\" needs a value (%s=...)", name, name);
        char **dst = (char **)((char *)cr + valued[i].field);
        if (dst == &cr->ssh_keyfile)
            return set_string(lc, dst, sr_paths_expand_home(value));
        if (dst == &cr->s3_session_token || dst == &cr->azure_storage_credentials)
            return set_string(lc, dst, unquote_lenient(value));
        if (dst == &cr->login_method) {
            static const char *methods[] = {"PLAIN", "AMQPLAIN", "EXTERNAL", "GSSAPI"};
            for (size_t m = 0; m < 4; m++)
                if (strcasecmp(value, methods[m]) == 0)
                    return set_string(lc, dst, strdup(methods[m]));
            return line_error(lc,
                              "login_method \"%s\" is not one of PLAIN, AMQPLAIN, EXTERNAL, "
                              "GSSAPI",
                              value);
        }
        return set_string(lc, dst, strdup(value));
    }

    static const char *flags[] = {"passive", "active", "binary", "ascii",
                                  "tls",     "ssl",    "prot_p", "implicit_ftps"};
    size_t f = 0;
    while (f < sizeof flags / sizeof flags[0] && strcmp(name, flags[f]) != 0)
        f++;
    if (f == sizeof flags / sizeof flags[0]) {
        if (strpbrk(name, " \t") != NULL)
            return warn(lc,
                        "unknown credential detail \"%s\" (details are separated by commas); "
                        "ignored",
                        name);
        return warn(lc, "unknown credential detail \"%s\"; ignored", name);
    }
    bool on = true;
    if (value != NULL) {
        int v = flag_value(value);
        if (v < 0)
            return line_error(lc,
                              "credential detail \"%s\" takes no value, or true/false (not \"%s\")",
                              name, value);
        on = v == 1;
    }
    switch (f) {
    case 0:
        cr->passive = on;
        break;
    case 1:
        cr->passive = !on;
        break;
    case 2:
        cr->binary = on;
        break;
    case 3:
        cr->binary = !on;
        break;
    case 4:
        cr->tls = on;
        break;
    case 5:
        cr->tls = !on; /* sr3: "ssl" means the old protocol, i.e. not tls */
        break;
    case 6:
        cr->prot_p = on;
        break;
    default:
        cr->implicit_ftps = on;
        if (on)
            cr->tls = true;
        break;
    }
    return SR_OK;
}

static bool same_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool same_opt_nocase(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcasecmp(a, b) == 0;
}

/* The same hosts and ports, in the same order. */
static bool same_node_list(const sr_url *a, const sr_url *b)
{
    size_t n = sr_url_node_count(a);
    if (n != sr_url_node_count(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        sr_url_node x = sr_url_node_at(a, i), y = sr_url_node_at(b, i);
        if (!same_opt_nocase(x.host, y.host) || x.port != y.port)
            return false;
    }
    return true;
}

/* Same URL but for the password: sr3 keys its table on the URL text without it. */
static bool same_entry(const sr_url *a, const sr_url *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && same_opt(a->user, b->user) &&
           same_node_list(a, b) && a->port == b->port && same_opt(a->path, b->path);
}

/* Take cr (moved, zeroed in the caller's hands) into the set. */
static int add_credential(line_ctx *lc, sr_credential *cr)
{
    sr_credentials *set = lc->set;
    for (size_t i = 0; i < set->count; i++) {
        if (!same_entry(&set->items[i].url, &cr->url))
            continue;
        int rc = warn(lc, "same URL as line %d, which this line replaces", set->items[i].line);
        if (rc != SR_OK)
            return rc;
        credential_fini(&set->items[i]);
        set->items[i] = *cr;
        memset(cr, 0, sizeof *cr);
        return SR_OK;
    }
    if (set->count == set->capacity) {
        size_t cap = set->capacity ? set->capacity * 2 : 8;
        sr_credential *grown = realloc(set->items, cap * sizeof *grown);
        if (grown == NULL)
            return oom(lc->err);
        set->items = grown;
        set->capacity = cap;
    }
    set->items[set->count++] = *cr;
    memset(cr, 0, sizeof *cr);
    return SR_OK;
}

/* Does the first detail word (its name, before any '=' or ',') hold an '@'? Then the URL
 * was cut at a space inside its password ("ftp://bob:my secret@host"). */
static bool looks_cut(const char *details)
{
    details += strspn(details, " \t");
    size_t n = strcspn(details, ",=");
    return memchr(details, '@', n) != NULL;
}

/* One non-blank, non-comment line, leading blanks already skipped. s is modified. */
static int parse_line(line_ctx *lc, char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    size_t ulen = strcspn(s, " \t");
    char *details = s + ulen;

    if (*details != '\0' && looks_cut(details)) {
        /* Report on the whole line, so the error names the real problem (a raw space in
         * the password) and the redaction sees the '@' and hides all of the password. */
        sr_url whole;
        int rc = sr_url_parse(s, &whole, lc->err);
        if (rc != SR_OK) {
            sr_err_prefix(lc->err, "%s:%d", lc->path, lc->line);
            return rc;
        }
        sr_url_fini(&whole);
    }
    if (*details != '\0')
        *details++ = '\0';

    sr_credential cr = {0};
    cr.passive = true;
    cr.binary = true;
    cr.line = lc->line;
    int rc = sr_url_parse(s, &cr.url, lc->err);
    if (rc != SR_OK) {
        sr_err_prefix(lc->err, "%s:%d", lc->path, lc->line);
        return rc;
    }
    cr.file = strdup(lc->path);
    if (cr.file == NULL) {
        rc = oom(lc->err);
        goto fail;
    }
    if (cr.url.password != NULL && cr.url.user == NULL && strcmp(cr.url.scheme, "sftp") != 0) {
        char *red = sr_url_format(&cr.url, false);
        rc = line_error(lc, "bad credential \"%s\": a password but no user", red ? red : "");
        free(red);
        goto fail;
    }

    char *next = details;
    while (next != NULL) {
        char *item = next;
        char *comma = strchr(item, ',');
        if (comma != NULL)
            *comma = '\0';
        next = comma ? comma + 1 : NULL;
        item = trim(item);
        if (item[0] == '\0')
            continue;
        char *value = NULL;
        char *eq = strchr(item, '=');
        if (eq != NULL) {
            *eq = '\0';
            value = trim(eq + 1);
            item = trim(item);
        }
        rc = apply_detail(lc, &cr, item, value);
        if (rc != SR_OK)
            goto fail;
    }
    rc = add_credential(lc, &cr);
    if (rc == SR_OK)
        return SR_OK;
fail:
    credential_fini(&cr);
    return rc;
}

static int read_lines(sr_credentials *set, const char *path, FILE *f, sr_err *err)
{
    line_ctx lc = {set, path, 0, err};
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = SR_OK;
    errno = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        lc.line++;
        if (strlen(buf) != (size_t)len) {
            rc = line_error(&lc, "NUL byte in the line");
            break;
        }
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        char *s = buf;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        rc = parse_line(&lc, s);
        if (rc != SR_OK)
            break;
    }
    if (rc == SR_OK && ferror(f))
        rc = sr_err_set(err, SR_EIO, false, "%s: cannot read: %s", path, strerror(errno));
    if (buf != NULL) {
        explicit_bzero(buf, cap);
        free(buf);
    }
    return rc;
}

int sr_credentials_load(const char *path, sr_credentials **out, sr_err *err)
{
    *out = NULL;
    if (path == NULL)
        return sr_err_set(err, SR_EINVAL, false, "credentials: no file named");
    sr_credentials *set = calloc(1, sizeof *set);
    if (set == NULL)
        return oom(err);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        if (e == ENOENT) {
            *out = set;
            return SR_OK;
        }
        sr_credentials_free(set);
        return sr_err_set(err, e == EACCES ? SR_EPERM : SR_EIO, false, "%s: cannot open: %s", path,
                          strerror(e));
    }
    int rc = SR_OK;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        rc = sr_err_set(err, SR_EIO, false, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = sr_err_set(err, SR_EIO, false, "%s: is a directory", path);
    } else if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        if (sr_strlist_pushf(&set->warnings,
                             "%s: credentials file is readable by group or others (mode %04o); "
                             "chmod 600 it",
                             path, (unsigned)(st.st_mode & 07777)) != 0)
            rc = oom(err);
    }
    if (rc == SR_OK)
        rc = read_lines(set, path, f, err);
    fclose(f);
    if (rc != SR_OK) {
        sr_credentials_free(set);
        return rc;
    }
    *out = set;
    return SR_OK;
}

const sr_strlist *sr_credentials_warnings(const sr_credentials *c)
{
    static const sr_strlist none = {0};
    return c ? &c->warnings : &none;
}

size_t sr_credentials_count(const sr_credentials *c)
{
    return c ? c->count : 0;
}

const sr_credential *sr_credentials_get(const sr_credentials *c, size_t i)
{
    return c && i < c->count ? &c->items[i] : NULL;
}

static const char *vhost(const char *path)
{
    return path == NULL || path[0] == '\0' ? "/" : path;
}

/* A line naming one host that is one of url's several nodes. */
static bool names_one_node(const sr_url *url, const sr_url *line)
{
    size_t n = sr_url_node_count(url);
    if (sr_url_node_count(line) != 1 || n < 2)
        return false;
    sr_url_node b = sr_url_node_at(line, 0);
    for (size_t i = 0; i < n; i++) {
        sr_url_node a = sr_url_node_at(url, i);
        if (same_opt_nocase(a.host, b.host) && a.port == b.port)
            return true;
    }
    return false;
}

/* The first line that passes sr3's tests, its hosts compared by same_hosts. */
static const sr_credential *find_first(const sr_credentials *c, const sr_url *url,
                                       bool (*same_hosts)(const sr_url *, const sr_url *))
{
    bool amqp = strncmp(url->scheme, "amqp", 4) == 0;
    for (size_t i = 0; i < c->count; i++) {
        const sr_url *u = &c->items[i].url;
        if (strcmp(url->scheme, u->scheme) != 0)
            continue;
        if (!same_hosts(url, u))
            continue;
        if (url->user != NULL && !same_opt(url->user, u->user))
            continue;
        if (url->password != NULL && !same_opt(url->password, u->password))
            continue;
        /* amqp users have the same credentials on any vhost in RabbitMQ, but sr3 still
         * keys them by vhost; "/" may be left out. */
        if (amqp && strcmp(vhost(url->path), vhost(u->path)) != 0)
            continue;
        return &c->items[i];
    }
    return NULL;
}

static bool same_hosts_and_port(const sr_url *a, const sr_url *b)
{
    return same_node_list(a, b) && a->port == b->port; /* no host (file:): the port still */
}

/* sr3's CredentialDB._resolve: the first entry that passes every test. A URL naming
 * several nodes (an sr extension) takes a line naming the same list first, else the first
 * line naming one of its nodes (one line per node also works). */
const sr_credential *sr_credentials_find(const sr_credentials *c, const sr_url *url)
{
    if (c == NULL || url == NULL || url->scheme == NULL)
        return NULL;
    const sr_credential *found = find_first(c, url, same_hosts_and_port);
    return found != NULL ? found : find_first(c, url, names_one_node);
}

int sr_credentials_complete(const sr_credentials *c, const sr_url *in, sr_url *out, sr_err *err)
{
    sr_url tmp;
    if (sr_url_copy(&tmp, in) != SR_OK) {
        if (out != in)
            memset(out, 0, sizeof *out);
        return oom(err);
    }
    const sr_credential *found = sr_credentials_find(c, in);
    if (found != NULL) {
        const sr_url *u = &found->url;
        bool ok = true;
        if (tmp.user == NULL && u->user != NULL)
            ok = (tmp.user = strdup(u->user)) != NULL;
        if (ok && tmp.password == NULL && u->password != NULL)
            ok = (tmp.password = strdup(u->password)) != NULL;
        if (!ok) {
            sr_url_fini(&tmp);
            if (out != in)
                memset(out, 0, sizeof *out);
            return oom(err);
        }
    }
    if (out == in)
        sr_url_fini(out);
    *out = tmp;
    return SR_OK;
}

void sr_credentials_free(sr_credentials *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        credential_fini(&c->items[i]);
    free(c->items);
    sr_strlist_clear(&c->warnings);
    free(c);
}
