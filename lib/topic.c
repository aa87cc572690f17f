/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * topic: build, read and subscribe to sr3 topics. See topic.h for the rules.
 *
 * Every topic is built level by level into a growing buffer (struct tbuf): a level is
 * appended with the protocol's separator before it, escaped or not. An allocation
 * failure is remembered in the buffer and reported once at the end, so the builders
 * stay straight-line code. Nothing here trusts a length it did not measure: relPaths and
 * received topics come from the network.
 */
#include "topic.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* a growing string                                                                   */
/* ---------------------------------------------------------------------------------- */

typedef struct tbuf {
    char *s;
    size_t len, cap;
    bool oom;
    char sep;   /* between levels: '.' (AMQP) or '/' (MQTT) */
    bool first; /* no level written yet */
} tbuf;

static void put(tbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->oom = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (grown == NULL) {
            b->oom = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* A new buffer holding "" (so an empty topic is "" rather than NULL). */
static void tbuf_start(tbuf *b, enum sr_topic_proto proto)
{
    memset(b, 0, sizeof *b);
    b->sep = proto == SR_TOPIC_AMQP ? '.' : '/';
    b->first = true;
    put(b, "", 0);
}

/* What c becomes on the wire of proto, or NULL when it is sent as is. */
static const char *escape_of(enum sr_topic_proto proto, char c)
{
    if (c == '#')
        return "%23";
    /* sr3 writes '*' as "%22" (the code of '"'; "%2A" would be the right one). Peers
     * decode "%22", so that is what goes on the wire. */
    if (proto == SR_TOPIC_AMQP && c == '*')
        return "%22";
    if (proto == SR_TOPIC_MQTT && c == '+')
        return "%2B";
    return NULL;
}

/* Append one level (with the separator before it unless it is the first), escaping the
 * wildcard characters of the protocol when escape is true. */
static void level(tbuf *b, enum sr_topic_proto proto, const char *s, size_t n, bool escape)
{
    if (!b->first)
        put(b, &b->sep, 1);
    b->first = false;
    if (!escape) {
        put(b, s, n);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = escape_of(proto, s[i]);
        if (esc != NULL) {
            put(b, s + start, i - start);
            put(b, esc, 3);
            start = i + 1;
        }
    }
    put(b, s + start, n - start);
}

/* The levels of a topicPrefix ("v03", "v02.post", "v02/post"): empty ones are skipped. */
static void prefix_levels(tbuf *b, enum sr_topic_proto proto, const char *prefix, bool escape)
{
    if (prefix == NULL)
        return;
    const char *p = prefix;
    while (*p != '\0') {
        size_t n = strcspn(p, "./");
        if (n > 0)
            level(b, proto, p, n, escape);
        p += n;
        if (*p != '\0')
            p++;
    }
}

static size_t prefix_level_count(const char *prefix)
{
    size_t count = 0;
    if (prefix == NULL)
        return 0;
    const char *p = prefix;
    while (*p != '\0') {
        size_t n = strcspn(p, "./");
        if (n > 0)
            count++;
        p += n;
        if (*p != '\0')
            p++;
    }
    return count;
}

/* The directories of relPath: everything before its last '/', empty components (from a
 * leading '/' or "//") skipped. */
static void dir_levels(tbuf *b, enum sr_topic_proto proto, const char *relpath)
{
    if (relpath == NULL)
        return;
    const char *end = strrchr(relpath, '/');
    if (end == NULL)
        return;
    const char *p = relpath;
    while (p < end) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (q == NULL)
            q = end;
        if (q > p)
            level(b, proto, p, (size_t)(q - p), true);
        p = q + 1;
    }
}

/* root (the MQTT exchange, or NULL) / prefix / directories, escaped. */
static void build_topic(tbuf *b, enum sr_topic_proto proto, const char *root, const char *prefix,
                        const char *relpath)
{
    tbuf_start(b, proto);
    if (root != NULL)
        level(b, proto, root, strlen(root), true);
    prefix_levels(b, proto, prefix, true);
    dir_levels(b, proto, relpath);
}

/* The longest length <= max that does not split a UTF-8 character of s (len bytes). If
 * s is not UTF-8 there (more than 3 continuation bytes in a row), cut at max. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* s[n] is the first byte dropped: while it continues a character, that character
     * started in the kept part, so keep less. */
    for (int back = 0; back < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; back++)
        n--;
    if (((unsigned char)s[n] & 0xC0) == 0x80)
        return max;
    return n;
}

static int oom(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

/* Messages quote at most SHOWN_MAX bytes of a relPath, pattern or name (cut on a
 * character, "..." added): these come from configs and the network and may be huge. */
#define SHOWN_MAX 64
#define SHOWN(s) shown_len(s), (s), (s)[shown_len(s)] ? "..." : ""

static int shown_len(const char *s)
{
    return (int)utf8_cut(s, strlen(s), SHOWN_MAX);
}

/* ---------------------------------------------------------------------------------- */
/* publishing                                                                         */
/* ---------------------------------------------------------------------------------- */

/* Cut the AMQP key in b to the protocol's limit; true when something was cut. */
static bool amqp_limit(tbuf *b)
{
    size_t n = utf8_cut(b->s, b->len, SR_TOPIC_AMQP_MAX);
    if (n == b->len)
        return false;
    b->len = n;
    b->s[n] = '\0';
    return true;
}

int sr_topic_amqp(const char *topic_prefix, const char *relpath, char **out, bool *truncated,
                  sr_err *err)
{
    *out = NULL;
    if (truncated != NULL)
        *truncated = false;
    tbuf b;
    build_topic(&b, SR_TOPIC_AMQP, NULL, topic_prefix, relpath);
    if (b.oom) {
        free(b.s);
        return oom(err);
    }
    /* sr3 logs an error and publishes the cut key: the caller logs, from the flag. */
    bool cut = amqp_limit(&b);
    if (truncated != NULL)
        *truncated = cut;
    *out = b.s;
    return SR_OK;
}

int sr_topic_mqtt(const char *exchange, const char *topic_prefix, const char *relpath, char **out,
                  sr_err *err)
{
    *out = NULL;
    if (exchange == NULL || exchange[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false,
                          "exchange: not set (it is the first level of an MQTT topic)");
    tbuf b;
    build_topic(&b, SR_TOPIC_MQTT, exchange, topic_prefix, relpath);
    if (b.oom) {
        free(b.s);
        return oom(err);
    }
    if (b.len > SR_TOPIC_MQTT_MAX) {
        size_t len = b.len;
        free(b.s);
        const char *rp = relpath ? relpath : "";
        return sr_err_set(err, SR_EINVAL, false,
                          "relPath %.*s%s: MQTT topic of %zu bytes is longer than the %d allowed",
                          SHOWN(rp), len, SR_TOPIC_MQTT_MAX);
    }
    *out = b.s;
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* receiving                                                                          */
/* ---------------------------------------------------------------------------------- */

int sr_topic_unescape(enum sr_topic_proto proto, const char *topic, char **out, sr_err *err)
{
    *out = NULL;
    if (topic == NULL)
        return sr_err_set(err, SR_EINVAL, false, "topic: none received");
    /* Never longer than the input. A single pass gives the same result as sr3's chained
     * str.replace(): a decoded '#', '*' or '+' cannot start a new escape. */
    char *s = malloc(strlen(topic) + 1);
    if (s == NULL)
        return oom(err);
    size_t n = 0;
    for (const char *p = topic; *p != '\0';) {
        if (p[0] == '%' && p[1] == '2') {
            char c = '\0';
            if (p[2] == '3')
                c = '#';
            else if (proto == SR_TOPIC_AMQP && p[2] == '2')
                c = '*';
            else if (proto == SR_TOPIC_MQTT && p[2] == 'B')
                c = '+';
            if (c != '\0') {
                s[n++] = c;
                p += 3;
                continue;
            }
        }
        s[n++] = *p++;
    }
    s[n] = '\0';
    *out = s;
    return SR_OK;
}

int sr_topic_subtopic(enum sr_topic_proto proto, const char *topic, const char *topic_prefix,
                      sr_strlist *levels, sr_err *err)
{
    sr_strlist_clear(levels);
    char *plain;
    int rc = sr_topic_unescape(proto, topic, &plain, err);
    if (rc != SR_OK)
        return rc;
    char sep = proto == SR_TOPIC_AMQP ? '.' : '/';
    /* sr3 drops as many levels as the prefix has, without comparing them. */
    size_t skip = prefix_level_count(topic_prefix) + (proto == SR_TOPIC_MQTT ? 1 : 0);
    size_t index = 0;
    char *p = plain;
    for (;;) {
        char *q = strchr(p, sep);
        if (q != NULL)
            *q = '\0';
        if (index++ >= skip && sr_strlist_push(levels, p) != 0) {
            free(plain);
            sr_strlist_clear(levels);
            return oom(err);
        }
        if (q == NULL)
            break;
        p = q + 1;
    }
    free(plain);
    return SR_OK;
}

int sr_topic_subtopic_string(enum sr_topic_proto proto, const char *topic, const char *topic_prefix,
                             char **out, sr_err *err)
{
    *out = NULL;
    sr_strlist levels = {0};
    int rc = sr_topic_subtopic(proto, topic, topic_prefix, &levels, err);
    if (rc != SR_OK)
        return rc;
    *out = sr_strlist_join(&levels, proto == SR_TOPIC_AMQP ? "." : "/");
    sr_strlist_clear(&levels);
    return *out ? SR_OK : oom(err);
}

bool sr_topic_matches_relpath(enum sr_topic_proto proto, const char *topic,
                              const char *topic_prefix, const char *relpath)
{
    if (topic == NULL)
        return false;
    if (proto == SR_TOPIC_MQTT) {
        const char *slash = strchr(topic, '/');
        if (slash == NULL)
            return false;
        topic = slash + 1;
    }
    tbuf b;
    build_topic(&b, proto, NULL, topic_prefix, relpath);
    if (b.oom) {
        free(b.s);
        return false;
    }
    if (proto == SR_TOPIC_AMQP)
        amqp_limit(&b);
    bool same = strcmp(b.s, topic) == 0;
    free(b.s);
    return same;
}

/* ---------------------------------------------------------------------------------- */
/* subscribing                                                                        */
/* ---------------------------------------------------------------------------------- */

void sr_topic_binding_fini(sr_topic_binding *b)
{
    if (b == NULL)
        return;
    free(b->exchange);
    free(b->key);
    b->exchange = NULL;
    b->key = NULL;
}

/* "file:line: " for a subtopic read from a file or the command line, else "". */
static void line_where(const sr_subtopic *line, char *buf, size_t size)
{
    buf[0] = '\0';
    if (line == NULL)
        return;
    switch (line->origin.kind) {
    case SR_ORIGIN_FILE:
    case SR_ORIGIN_CONFD:
        if (line->origin.file == NULL)
            return;
        /* fall through */
    case SR_ORIGIN_CMDLINE: {
        char at[PATH_MAX + 32];
        sr_origin_format(&line->origin, at, sizeof at);
        snprintf(buf, size, "%s: ", at);
        return;
    }
    case SR_ORIGIN_UNSET:
    case SR_ORIGIN_DEFAULT:
    case SR_ORIGIN_DERIVED:
        return;
    }
}

/* Check the levels of a pattern split on sep: '#' must be the whole last level (or, with
 * hash_anywhere, a whole level), each character of `single` a whole level. On error
 * fills err with "<what> <pattern>: ..." and returns SR_EINVAL. */
static int check_wildcards(const char *pattern, size_t len, char sep, const char *single,
                           bool hash_anywhere, const char *what, const char *where, sr_err *err)
{
    const char *p = pattern, *end = pattern + len;
    for (;;) {
        const char *q = memchr(p, sep, (size_t)(end - p));
        if (q == NULL)
            q = end;
        size_t n = (size_t)(q - p);
        if (memchr(p, '#', n) != NULL && (n != 1 || (q != end && !hash_anywhere)))
            return sr_err_set(err, SR_EINVAL, false, "%s%s %.*s%s: '#' must be %s", where, what,
                              SHOWN(pattern),
                              n != 1 ? "a whole level" : "the whole last level");
        for (const char *c = single; *c != '\0'; c++)
            if (memchr(p, *c, n) != NULL && n != 1)
                return sr_err_set(err, SR_EINVAL, false, "%s%s %.*s%s: '%c' must be a whole level",
                                  where, what, SHOWN(pattern), *c);
        if (q == end)
            return SR_OK;
        p = q + 1;
    }
}

/* Append the subtopic's levels, in either style, translated for b's protocol. */
static int subtopic_levels(tbuf *b, enum sr_topic_proto proto, const char *sub, const char *where,
                           sr_err *err)
{
    bool mqtt_style = strchr(sub, '/') != NULL;
    char sep = mqtt_style ? '/' : '.';
    size_t len = strlen(sub);
    /* "a.b/" names the single MQTT level "a.b": a filter ending in an empty level would
     * match nothing sr publishes. */
    if (mqtt_style && len > 1 && sub[len - 1] == '/')
        len--;
    /* AMQP lets '#' (zero or more words) stand anywhere as a whole level, and sr3 configs
     * use it (`subtopic *.#.grib2`); an MQTT filter allows it only at the end. */
    int rc = check_wildcards(sub, len, sep, "*+", proto == SR_TOPIC_AMQP, "subtopic", where, err);
    if (rc != SR_OK)
        return rc;
    const char *wild = proto == SR_TOPIC_AMQP ? "*" : "+";
    const char *p = sub, *end = sub + len;
    for (;;) {
        const char *q = memchr(p, sep, (size_t)(end - p));
        if (q == NULL)
            q = end;
        size_t n = (size_t)(q - p);
        if (n == 1 && (*p == '*' || *p == '+'))
            level(b, proto, wild, 1, false);
        else
            level(b, proto, p, n, false); /* a pattern is written as on the wire */
        if (q == end)
            return SR_OK;
        p = q + 1;
    }
}

/* The effective exchange, topicPrefix and pattern of a line, with fallbacks. */
static void line_values(const sr_subtopic *line, const char *exchange, const char *topic_prefix,
                        const char **ex, const char **prefix, const char **pattern)
{
    *ex = line && line->exchange ? line->exchange : exchange;
    *prefix = line && line->topic_prefix ? line->topic_prefix : topic_prefix;
    *pattern = line && line->pattern && line->pattern[0] ? line->pattern : "#";
}

static int finish_binding(tbuf *b, const char *ex, size_t max, const char *what,
                          const char *pattern, const char *where, const char *kind,
                          sr_topic_binding *out, sr_err *err)
{
    if (b->oom) {
        free(b->s);
        return oom(err);
    }
    if (b->len > max) {
        size_t len = b->len;
        free(b->s);
        return sr_err_set(err, SR_EINVAL, false, "%s%s %.*s%s: %s of %zu bytes is longer than %zu",
                          where, what, SHOWN(pattern), kind, len, max);
    }
    out->key = b->s;
    if (ex != NULL) {
        out->exchange = strdup(ex);
        if (out->exchange == NULL) {
            sr_topic_binding_fini(out);
            return oom(err);
        }
    }
    return SR_OK;
}

int sr_topic_binding_amqp(const sr_subtopic *line, const char *exchange, const char *topic_prefix,
                          sr_topic_binding *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    const char *ex, *prefix, *pattern;
    line_values(line, exchange, topic_prefix, &ex, &prefix, &pattern);
    char where[PATH_MAX + 48];
    line_where(line, where, sizeof where);
    if (ex == NULL || ex[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "%ssubtopic %.*s%s: no exchange to bind to", where,
                          SHOWN(pattern));
    tbuf b;
    tbuf_start(&b, SR_TOPIC_AMQP);
    /* The prefix as written, like sr3's '.'.join(topicPrefix + subtopic). */
    prefix_levels(&b, SR_TOPIC_AMQP, prefix, false);
    int rc = subtopic_levels(&b, SR_TOPIC_AMQP, pattern, where, err);
    if (rc != SR_OK) {
        free(b.s);
        return rc;
    }
    return finish_binding(&b, ex, SR_TOPIC_AMQP_MAX, "subtopic", pattern, where, "AMQP binding key",
                          out, err);
}

int sr_topic_binding_mqtt(const sr_subtopic *line, const char *exchange, const char *topic_prefix,
                          const char *queue_name, sr_topic_binding *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    const char *ex, *prefix, *pattern;
    line_values(line, exchange, topic_prefix, &ex, &prefix, &pattern);
    char where[PATH_MAX + 48];
    line_where(line, where, sizeof where);
    if (queue_name == NULL || queue_name[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false,
                          "queueName: not set (an MQTT shared subscription needs one)");
    if (strpbrk(queue_name, "/+#") != NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "queueName %.*s%s: an MQTT share name cannot contain '/', '+' or '#'",
                          SHOWN(queue_name));
    if (ex == NULL || ex[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "%ssubtopic %.*s%s: no exchange to subscribe to",
                          where, SHOWN(pattern));
    if (strpbrk(ex, "+#") != NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%sexchange %.*s%s: '+' and '#' are not allowed in an MQTT topic level",
                          where, SHOWN(ex));
    if (prefix != NULL && strpbrk(prefix, "+#") != NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "%stopicPrefix %.*s%s: '+' and '#' are not allowed in an MQTT topic "
                          "level",
                          where, SHOWN(prefix));
    tbuf b;
    tbuf_start(&b, SR_TOPIC_MQTT);
    level(&b, SR_TOPIC_MQTT, "$share", 6, false);
    level(&b, SR_TOPIC_MQTT, queue_name, strlen(queue_name), false);
    level(&b, SR_TOPIC_MQTT, ex, strlen(ex), false);
    prefix_levels(&b, SR_TOPIC_MQTT, prefix, false);
    int rc = subtopic_levels(&b, SR_TOPIC_MQTT, pattern, where, err);
    if (rc != SR_OK) {
        free(b.s);
        return rc;
    }
    return finish_binding(&b, ex, SR_TOPIC_MQTT_MAX, "subtopic", pattern, where,
                          "MQTT topic filter", out, err);
}

int sr_topic_binding_raw(enum sr_topic_proto proto, const char *exchange, const char *topic,
                         sr_topic_binding *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    if (topic == NULL || topic[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "topic: empty");
    bool amqp = proto == SR_TOPIC_AMQP;
    if (amqp && (exchange == NULL || exchange[0] == '\0'))
        return sr_err_set(err, SR_EINVAL, false, "topic %.*s%s: no exchange to bind to",
                          SHOWN(topic));
    /* The protocol's own rules: AMQP lets '#' stand for zero or more words anywhere. */
    int rc = check_wildcards(topic, strlen(topic), amqp ? '.' : '/', amqp ? "*" : "+", amqp,
                             "topic", "", err);
    if (rc != SR_OK)
        return rc;
    tbuf b;
    tbuf_start(&b, proto);
    put(&b, topic, strlen(topic));
    return finish_binding(&b, exchange, amqp ? SR_TOPIC_AMQP_MAX : SR_TOPIC_MQTT_MAX, "topic",
                          topic, "", amqp ? "AMQP binding key" : "MQTT topic filter", out, err);
}

/* ---------------------------------------------------------------------------------- */
/* split exchanges                                                                    */
/* ---------------------------------------------------------------------------------- */

unsigned sr_topic_split_index(const char *identity_value, unsigned n)
{
    if (n < 2 || identity_value == NULL)
        return 0;
    /* sr3: sum(bytearray(value, 'ascii')) % n. Bytes are summed unsigned, so a value
     * that is not ASCII (sr3 would raise) still gives an index. */
    unsigned long long sum = 0;
    for (const unsigned char *p = (const unsigned char *)identity_value; *p != '\0'; p++)
        sum += *p;
    return (unsigned)(sum % n);
}

int sr_topic_split_exchange(const char *exchange, unsigned index, char **out, sr_err *err)
{
    *out = NULL;
    if (exchange == NULL || exchange[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "exchange: not set (needed to split it)");
    char *name = NULL;
    if (asprintf(&name, "%s%02u", exchange, index) < 0)
        return oom(err);
    if (strlen(name) > SR_TOPIC_AMQP_MAX) {
        free(name);
        return sr_err_set(err, SR_EINVAL, false,
                          "exchange %.*s%s: split exchange name with index %u is longer than %d "
                          "bytes",
                          SHOWN(exchange), index, SR_TOPIC_AMQP_MAX);
    }
    *out = name;
    return SR_OK;
}

/* ---------------------------------------------------------------------------------- */
/* WIS2                                                                               */
/* ---------------------------------------------------------------------------------- */

/* The levels of a WIS2 topic that have a fixed meaning (WMO's WIS2 Topic Hierarchy, as
 * sr-config(5), WIS2, gives it): their names, for the messages, and their choices (NULL:
 * the centre id, checked by its form). */
static const char *const wis_channels[] = {"origin", "cache", NULL};
static const char *const wis_versions[] = {"a", NULL};
static const char *const wis_systems[] = {"wis2", NULL};
static const char *const wis_types[] = {"data", "metadata", NULL};
static const char *const wis_policies[] = {"core", "recommended", NULL};
static const char *const wis_disciplines[] = {
    "atmospheric-composition", "climate", "cryosphere", "hydrology", "ocean",
    "space-weather",           "weather", NULL};

static const struct {
    const char *name;
    const char *const *choices;
} wis_levels[] = {
    {"channel", wis_channels},
    {"version", wis_versions},
    {"system", wis_systems},
    {"centre-id", NULL},
    {"notification-type", wis_types},
    {"data-policy", wis_policies},
    {"earth-system-discipline", wis_disciplines},
};
#define WIS_FIXED_LEVELS (sizeof wis_levels / sizeof wis_levels[0])

bool sr_topic_wis_centre_ok(const char *id)
{
    if (id == NULL || id[0] == '\0' || id[0] == '-' || id[strlen(id) - 1] == '-' ||
        strchr(id, '-') == NULL)
        return false;
    for (const char *p = id; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    return true;
}

/* Why a level may not be in a WIS2 topic, or NULL when it may. '%' is refused with the
 * wildcards: it is how a wildcard of a directory's name is escaped on the wire. */
static const char *wis_level_fault(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            return "holds an upper-case letter (WIS2 topic levels are lowercase)";
        if (c <= 0x20 || c == 0x7f)
            return "holds a space or a control character";
        if (strchr(".#+*%/", c) != NULL)
            return "holds '.', '/', '%' or a wildcard ('#', '+', '*')";
    }
    return NULL;
}

static void join_words(const char *const *words, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; words[i] != NULL; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "%s%s", i ? ", " : "", words[i]);
    }
}

/* A topic as the messages about it show it (cut to TOPIC_SHOWN_MAX bytes). */
#define TOPIC_SHOWN_MAX 200
static void wis_shown(enum sr_topic_proto proto, const char *exchange, const char *topic, char *buf,
                      size_t size)
{
    size_t n = utf8_cut(topic, strlen(topic), TOPIC_SHOWN_MAX);
    const char *more = topic[n] ? "..." : "";
    if (proto == SR_TOPIC_MQTT)
        snprintf(buf, size, "topic %.*s%s", (int)n, topic, more);
    else if (topic[0] == '\0')
        snprintf(buf, size, "exchange %.64s", exchange);
    else
        snprintf(buf, size, "exchange %.64s topic %.*s%s", exchange, (int)n, topic, more);
}

/* Check level number index (0-based) s[0..n). */
static int wis_level(size_t index, const char *s, size_t n, const char *centre_id, bool origin,
                     const char *shown, sr_err *err)
{
    char list[256];
    const char *fault = wis_level_fault(s, n);
    int len = (int)(n > TOPIC_SHOWN_MAX ? TOPIC_SHOWN_MAX : n);
    if (index >= WIS_FIXED_LEVELS) {
        if (fault != NULL)
            return sr_err_set(err, SR_EREFUSED, false, "%s: level %zu \"%.*s\" %s", shown,
                              index + 1, len, s, fault);
        return SR_OK;
    }
    const char *name = wis_levels[index].name;
    const char *const *choices = wis_levels[index].choices;
    if (choices != NULL) {
        for (size_t i = 0; choices[i] != NULL; i++)
            if (strlen(choices[i]) == n && strncmp(choices[i], s, n) == 0)
                return SR_OK;
        join_words(choices, list, sizeof list);
        if (choices[1] == NULL)
            return sr_err_set(err, SR_EREFUSED, false, "%s: level %zu (%s) \"%.*s\" is not \"%s\"",
                              shown, index + 1, name, len, s, list);
        return sr_err_set(err, SR_EREFUSED, false, "%s: level %zu (%s) \"%.*s\" is not one of %s",
                          shown, index + 1, name, len, s, list);
    }
    /* the centre id */
    char id[256];
    snprintf(id, sizeof id, "%.*s", len, s);
    if (fault != NULL || !sr_topic_wis_centre_ok(id))
        return sr_err_set(err, SR_EREFUSED, false,
                          "%s: level %zu (%s) \"%s\" is not a WIS2 centre id (tld-name: "
                          "lowercase letters, digits, '-' and '_', e.g. ca-eccc-msc)",
                          shown, index + 1, name, id);
    if (origin && centre_id != NULL && strcmp(id, centre_id) != 0)
        return sr_err_set(err, SR_EREFUSED, false,
                          "%s: level %zu (%s) \"%s\" is not this node's wisCentreId %s (a node "
                          "publishes on the origin channel under its own centre id only)",
                          shown, index + 1, name, id, centre_id);
    return SR_OK;
}

int sr_topic_wis_check(enum sr_topic_proto proto, const char *exchange, const char *topic,
                       const char *centre_id, bool complete, sr_err *err)
{
    if (topic == NULL)
        topic = "";
    if (proto == SR_TOPIC_AMQP && (exchange == NULL || exchange[0] == '\0'))
        return sr_err_set(err, SR_EREFUSED, false,
                          "topic %.*s%s: no exchange (on AMQP the exchange is the WIS2 "
                          "channel, origin or cache)",
                          SHOWN(topic));
    char shown[TOPIC_SHOWN_MAX + 300];
    wis_shown(proto, exchange, topic, shown, sizeof shown);
    char sep = proto == SR_TOPIC_AMQP ? '.' : '/';
    size_t index = 0;
    bool origin = false;
    int rc = SR_OK;
    if (proto == SR_TOPIC_AMQP) { /* the exchange is the first level */
        rc = wis_level(index++, exchange, strlen(exchange), centre_id, false, shown, err);
        origin = strcmp(exchange, "origin") == 0;
    }
    /* AMQP: an empty routing key has no levels (a prefix not given yet) */
    for (const char *p = topic; rc == SR_OK && !(proto == SR_TOPIC_AMQP && topic[0] == '\0');) {
        size_t n = strcspn(p, (char[]){sep, '\0'});
        rc = wis_level(index, p, n, centre_id, origin, shown, err);
        if (index++ == 0)
            origin = n == 6 && strncmp(p, "origin", 6) == 0;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if (rc == SR_OK && complete && index < WIS_FIXED_LEVELS) {
        char list[256];
        join_words(wis_disciplines, list, sizeof list);
        rc = sr_err_set(err, SR_EREFUSED, false,
                        "%s: level %zu (%s) missing: a WIS2 topic starts with "
                        "origin|cache/a/wis2/<centre-id>/data|metadata/core|recommended/"
                        "<earth-system-discipline: %s>",
                        shown, index + 1, wis_levels[index].name, list);
    }
    return rc;
}

int sr_topic_wis_tail(enum sr_topic_proto proto, const char *topic, char **out, sr_err *err)
{
    *out = NULL;
    char sep = proto == SR_TOPIC_AMQP ? '.' : '/';
    /* MQTT: channel/a/wis2/...; AMQP (the channel is the exchange): a.wis2.... */
    size_t skip = proto == SR_TOPIC_AMQP ? 2 : 3;
    const char *p = topic ? topic : "";
    for (size_t i = 0; i < skip; i++) {
        const char *q = strchr(p, sep);
        if (q == NULL)
            return sr_err_set(err, SR_EINVAL, false, "topic %.*s%s: no levels after wis2",
                              SHOWN(topic ? topic : ""));
        p = q + 1;
    }
    char *s = strdup(p);
    if (s == NULL)
        return oom(err);
    for (char *c = s; *c != '\0'; c++)
        if (*c == sep)
            *c = '/';
    *out = s;
    return SR_OK;
}

int sr_topic_with_subtopic(enum sr_topic_proto proto, const char *exchange,
                           const char *topic_prefix, const char *subtopic, char **out,
                           bool *truncated, sr_err *err)
{
    *out = NULL;
    if (truncated != NULL)
        *truncated = false;
    if (proto == SR_TOPIC_MQTT && (exchange == NULL || exchange[0] == '\0'))
        return sr_err_set(err, SR_EINVAL, false,
                          "exchange: not set (it is the first level of an MQTT topic)");
    tbuf b;
    tbuf_start(&b, proto);
    if (proto == SR_TOPIC_MQTT)
        level(&b, proto, exchange, strlen(exchange), true);
    prefix_levels(&b, proto, topic_prefix, true);
    /* every level kept, an empty one too: a topic check says what is wrong with it */
    for (const char *p = subtopic ? subtopic : ""; subtopic != NULL && subtopic[0] != '\0';) {
        size_t n = strcspn(p, "/");
        level(&b, proto, p, n, true);
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if (b.oom) {
        free(b.s);
        return oom(err);
    }
    if (proto == SR_TOPIC_AMQP) {
        bool cut = amqp_limit(&b);
        if (truncated != NULL)
            *truncated = cut;
    } else if (b.len > SR_TOPIC_MQTT_MAX) {
        size_t len = b.len;
        free(b.s);
        return sr_err_set(err, SR_EINVAL, false,
                          "subtopic %.*s%s: MQTT topic of %zu bytes is longer than the %d allowed",
                          SHOWN(subtopic), len, SR_TOPIC_MQTT_MAX);
    }
    *out = b.s;
    return SR_OK;
}

int sr_topic_subtopic_path(enum sr_topic_proto proto, const char *topic, const char *topic_prefix,
                           char **out, sr_err *err)
{
    *out = NULL;
    sr_strlist levels = {0};
    int rc = sr_topic_subtopic(proto, topic, topic_prefix, &levels, err);
    if (rc != SR_OK)
        return rc;
    tbuf b;
    tbuf_start(&b, SR_TOPIC_MQTT);
    for (size_t i = 0; i < levels.count; i++) {
        /* an AMQP level may hold '/': kept one level, escaped (a WIS2 check refuses it) */
        const char *s = levels.items[i];
        if (!b.first)
            put(&b, "/", 1);
        b.first = false;
        for (size_t n; *s != '\0'; s += n) {
            n = strcspn(s, "/");
            put(&b, s, n);
            if (s[n] == '/') {
                put(&b, "%2F", 3);
                n++;
            }
        }
    }
    sr_strlist_clear(&levels);
    if (b.oom) {
        free(b.s);
        return oom(err);
    }
    *out = b.s;
    return SR_OK;
}
