/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message_wis: WMO WIS2 Notification Messages (WNM 1.0), the third wire format (message.h;
 * sr-message(7), WIS2 NOTIFICATION MESSAGES).
 *
 * A WNM is a GeoJSON Feature. Reading one, sr checks every rule of WNM 1.0 (the members and
 * their JSON types, the enums, the one temporal description, the inline content's limits,
 * the links) and its own rules for what comes from a stranger (lengths, control characters,
 * links of http, https, ftp and sftp only, the announced path checked as any relPath, no
 * property named as one of sr's own fields), then maps it onto sr's v03 fields:
 *
 *   properties.pubtime        pubTime (v03 form, every fraction digit kept)
 *   the primary link          baseUrl (scheme://authority), relPath (its path, decoded),
 *                             retrievePath (path and query, as written, when it has a
 *                             query), size (length), contentType (type); rel deletion
 *                             makes fileOp {"remove": ""}
 *   properties.integrity      identity (the method as WNM spells it)
 *   properties.content        content (gzip keeps its size: sr does not inflate it)
 *   id, conformsTo, geometry, links, and every other property: fields of their own name
 *
 * The primary link is the first with rel deletion, else update, else canonical. Writing a
 * WNM maps the fields back, rebuilding the primary link from baseUrl and the path, and
 * checks the result with the same rules: what sr writes, sr reads. The id is kept only when
 * the primary link still points where it pointed (a relay: WIS2's loop detection needs the
 * same id); otherwise it is a new random UUID (version 4).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "buf.h"
#include "message_impl.h"
#include "timefmt.h"

#define WNM_CONFORMANCE "http://wis.wmo.int/spec/wnm/1/conf/core"
#define WNM_REL_UPDATE "http://def.wmo.int/def/rel/wnm/-/update"
#define WNM_REL_DELETION "http://def.wmo.int/def/rel/wnm/-/deletion"
/* WNM 1.0's bound on inline content: its size in bytes and its value in characters. */
#define WNM_CONTENT_MAX 4096
/* sr's bounds on lists a stranger sends (WNM sets none): far above what WIS2 centres write. */
#define WNM_LINKS_MAX 256
#define WNM_CONFORMS_MAX 64
/* Fraction digits of a time kept in the v03 form: with "YYYYMMDDTHHMMSS." that is the 40
 * bytes the v03 check takes. */
#define WNM_FRACTION_MAX 24

static const char *const wnm_methods[] = {"sha256",   "sha384",   "sha512",
                                          "sha3-256", "sha3-384", "sha3-512"};
#define WNM_METHODS_TEXT "sha256, sha384, sha512, sha3-256, sha3-384, sha3-512"

/* Fields that are sr's own (v03's and those sr reads or writes for itself): a WNM property
 * may not carry one of these names, since it would set the field; and when writing a WNM,
 * these are the fields that are not properties. */
static const char *const own_fields[] = {
    "pubTime",   "baseUrl",  "relPath",     "retrievePath", "retPath",          "identity",
    "integrity", "size",     "parts",       "blocks",       "fileOp",           "content",
    "mtime",     "atime",    "mode",        "source",       "from_cluster",     "to_clusters",
    "topic",     "subtopic", "contentType", "id",           "conformsTo",       "geometry",
    "links",     "type",     "newname",     "oldname",      "sundew_extension", "report",
    "sum",       "pubtime",
};

static bool own_field(const char *name)
{
    /* called for every property of every message: most names fail on the first byte */
    for (size_t i = 0; i < sizeof own_fields / sizeof own_fields[0]; i++)
        if (name[0] == own_fields[i][0] && strcmp(name, own_fields[i]) == 0)
            return true;
    return false;
}

/* ---- errors: "WNM <JSON path>: <why>" ---- */

static int wnm_bad(sr_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wnm_bad(sr_err *err, const char *path, const char *fmt, ...)
{
    char why[SR_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return sr_err_set(err, SR_EINVAL, false, "WNM %s: %s", path, why);
}

static int out_of_memory(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "WNM: out of memory");
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* A string of at most max bytes without control characters. */
static int check_string(const json_t *v, const char *path, size_t max, sr_err *err)
{
    if (v == NULL)
        return wnm_bad(err, path, "missing");
    if (!json_is_string(v))
        return wnm_bad(err, path, "not a string");
    const char *s = json_string_value(v);
    char q[SR_QUOTE_BUF];
    if (strlen(s) > max)
        return wnm_bad(err, path, "%s is longer than %zu bytes", sr_err_quote(s, q, sizeof q), max);
    if (has_control(s))
        return wnm_bad(err, path, "%s holds a control character", sr_err_quote(s, q, sizeof q));
    return SR_OK;
}

/* "head[index].member" (no index when it is < 0, no member when NULL) into buf, cut to
 * size: the JSON path an error names. Written by hand, not with snprintf: it is made for
 * every member of every message, and printf's machinery costs more than the checks. */
static const char *path_at(char *buf, size_t size, const char *head, long index,
                           const char *member)
{
    size_t n = 0;
    for (const char *p = head; *p && n + 1 < size; p++)
        buf[n++] = *p;
    if (index >= 0 && n + 24 < size) {
        char digits[24];
        int k = 0;
        unsigned long v = (unsigned long)index;
        do
            digits[k++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        buf[n++] = '[';
        while (k > 0)
            buf[n++] = digits[--k];
        buf[n++] = ']';
    }
    if (member != NULL && n + 1 < size)
        buf[n++] = '.';
    for (const char *p = member ? member : ""; *p && n + 1 < size; p++)
        buf[n++] = *p;
    buf[n] = '\0';
    return buf;
}

/* ---- times ---- */

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int number(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int days_in(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* An RFC 3339 date-time in UTC: YYYY-MM-DDTHH:MM:SS[.fraction] then Z (or z, +00:00,
 * -00:00), every field in range (a leap second's :60 too). *frac and *frac_len say where
 * the fraction's digits are (length 0 when none). */
static bool rfc3339_utc(const char *s, const char **frac, size_t *frac_len)
{
    if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return false;
    int year = number(s, 4), month = number(s + 5, 2), day = number(s + 8, 2);
    if (month < 1 || month > 12 || day < 1 || day > days_in(year, month) ||
        number(s + 11, 2) > 23 || number(s + 14, 2) > 59 || number(s + 17, 2) > 60)
        return false;
    const char *p = s + 19;
    *frac = p;
    *frac_len = 0;
    if (*p == '.') {
        *frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        *frac_len = (size_t)(p - *frac);
        if (*frac_len == 0)
            return false;
    }
    return strcmp(p, "Z") == 0 || strcmp(p, "z") == 0 || strcmp(p, "+00:00") == 0 ||
           strcmp(p, "-00:00") == 0;
}

static int check_datetime(const json_t *v, const char *path, bool null_ok, sr_err *err)
{
    if (v == NULL)
        return wnm_bad(err, path, "missing");
    if (null_ok && json_is_null(v))
        return SR_OK;
    if (!json_is_string(v))
        return wnm_bad(err, path, "%s", null_ok ? "not a string or null" : "not a string");
    const char *frac;
    size_t frac_len;
    char q[SR_QUOTE_BUF];
    if (!rfc3339_utc(json_string_value(v), &frac, &frac_len))
        return wnm_bad(err, path, "%s is not an RFC 3339 time in UTC (YYYY-MM-DDTHH:MM:SS[.f]Z)",
                       sr_err_quote(json_string_value(v), q, sizeof q));
    return SR_OK;
}

/* pubtime (checked) into the v03 form, every fraction digit kept. */
static int pubtime_to_v03(const char *s, char *out, size_t size, sr_err *err)
{
    const char *frac;
    size_t frac_len;
    char q[SR_QUOTE_BUF];
    if (!rfc3339_utc(s, &frac, &frac_len))
        return wnm_bad(err, "properties.pubtime",
                       "%s is not an RFC 3339 time in UTC (YYYY-MM-DDTHH:MM:SS[.f]Z)",
                       sr_err_quote(s, q, sizeof q));
    if (frac_len > WNM_FRACTION_MAX)
        return wnm_bad(err, "properties.pubtime", "%s has more than %d fraction digits",
                       sr_err_quote(s, q, sizeof q), WNM_FRACTION_MAX);
    /* by hand, as path_at: YYYYMMDDTHHMMSS[.f], from a checked YYYY-MM-DDTHH:MM:SS */
    if (size < 17 + frac_len)
        return wnm_bad(err, "properties.pubtime", "too long");
    static const int from[] = {0, 1, 2, 3, 5, 6, 8, 9, -1, 11, 12, 14, 15, 17, 18};
    for (size_t i = 0; i < 15; i++)
        out[i] = from[i] < 0 ? 'T' : s[from[i]];
    size_t n = 15;
    if (frac_len > 0) {
        out[n++] = '.';
        memcpy(out + n, frac, frac_len);
        n += frac_len;
    }
    out[n] = '\0';
    struct timespec t;
    if (sr_time_parse(out, &t, NULL) != SR_OK)
        return wnm_bad(err, "properties.pubtime", "%s is not a time sr can keep (1970 to 9999)",
                       sr_err_quote(s, q, sizeof q));
    return SR_OK;
}

/* A v03 (or v02) time string, which the v03 check has accepted, as RFC 3339 UTC. */
static int v03_to_rfc3339(const char *field, const char *t, char *out, size_t size, sr_err *err)
{
    struct timespec ts;
    char q[SR_QUOTE_BUF];
    if (t == NULL || sr_time_parse(t, &ts, NULL) != SR_OK)
        return sr_err_set(err, SR_EINVAL, false, "message field %s %s: not a time", field,
                          sr_err_quote(t ? t : "", q, sizeof q));
    const char *hms = t[8] == 'T' ? t + 9 : t + 8;
    const char *frac = hms[6] == '.' ? hms + 7 : "";
    snprintf(out, size, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s%s%sZ", t, t + 4, t + 6, hms, hms + 2,
             hms + 4, frac[0] ? "." : "", frac);
    return SR_OK;
}

/* ---- the parts ---- */

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static bool is_position(const json_t *p)
{
    if (!json_is_array(p) || json_array_size(p) < 2)
        return false;
    size_t i;
    const json_t *n;
    json_array_foreach(p, i, n)
    {
        if (!json_is_number(n))
            return false;
    }
    return true;
}

static int check_geometry(const json_t *g, sr_err *err)
{
    if (json_is_null(g))
        return SR_OK;
    if (!json_is_object(g))
        return wnm_bad(err, "geometry", "not null, a Point or a Polygon");
    const json_t *type = json_object_get(g, "type"), *c = json_object_get(g, "coordinates");
    char q[SR_QUOTE_BUF];
    if (type == NULL)
        return wnm_bad(err, "geometry.type", "missing");
    if (!json_is_string(type))
        return wnm_bad(err, "geometry.type", "not a string (Point or Polygon)");
    const char *t = json_string_value(type);
    bool point = strcmp(t, "Point") == 0;
    if (!point && strcmp(t, "Polygon") != 0)
        return wnm_bad(err, "geometry.type", "%s is not Point or Polygon",
                       sr_err_quote(t, q, sizeof q));
    if (c == NULL)
        return wnm_bad(err, "geometry.coordinates", "missing");
    if (point)
        return is_position(c) ? SR_OK
                              : wnm_bad(err, "geometry.coordinates",
                                        "a Point's coordinates are an array of 2 or more numbers");
    if (!json_is_array(c))
        return wnm_bad(err, "geometry.coordinates",
                       "a Polygon's coordinates are an array of rings");
    size_t i, j;
    const json_t *ring, *pos;
    json_array_foreach(c, i, ring)
    {
        char path[96];
        snprintf(path, sizeof path, "geometry.coordinates[%zu]", i);
        if (!json_is_array(ring) || json_array_size(ring) < 4)
            return wnm_bad(err, path, "a ring is an array of 4 or more positions");
        json_array_foreach(ring, j, pos)
        {
            if (!is_position(pos)) {
                snprintf(path, sizeof path, "geometry.coordinates[%zu][%zu]", i, j);
                return wnm_bad(err, path, "a position is an array of 2 or more numbers");
            }
        }
    }
    return SR_OK;
}

static int check_conforms_to(const json_t *v, sr_err *err)
{
    if (!json_is_array(v))
        return wnm_bad(err, "conformsTo", "not an array");
    if (json_array_size(v) > WNM_CONFORMS_MAX)
        return wnm_bad(err, "conformsTo", "more than %d items", WNM_CONFORMS_MAX);
    size_t i;
    const json_t *item;
    bool core = false;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (s != NULL && strcmp(s, WNM_CONFORMANCE) == 0)
            core = true;
    }
    return core ? SR_OK : wnm_bad(err, "conformsTo", "does not hold \"" WNM_CONFORMANCE "\"");
}

/* Standard padded base64 without line breaks: its decoded byte count, or -1. */
static long b64_bytes(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n % 4 != 0)
        return -1;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/')
            return -1;
    return (long)(n / 4 * 3 - pad);
}

/* Characters (code points) of UTF-8 text, as JSON Schema's maxLength counts them. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

/* The bytes the value of a content of this encoding stands for: -1 when it is not of that
 * encoding, -2 when sr cannot tell (gzip: the inflated size is in the stream). */
static long content_bytes(const char *encoding, const char *value)
{
    if (strcmp(encoding, "utf-8") == 0)
        return (long)strlen(value);
    long n = b64_bytes(value);
    if (n < 0 || strcmp(encoding, "base64") == 0)
        return n;
    return -2;
}

static int check_integrity(const json_t *v, sr_err *err)
{
    if (!json_is_object(v))
        return wnm_bad(err, "properties.integrity", "not an object {\"method\", \"value\"}");
    const json_t *method = json_object_get(v, "method"), *value = json_object_get(v, "value");
    char q[SR_QUOTE_BUF];
    if (method == NULL)
        return wnm_bad(err, "properties.integrity.method", "missing");
    if (!json_is_string(method))
        return wnm_bad(err, "properties.integrity.method", "not a string");
    const char *m = json_string_value(method);
    bool known = false;
    for (size_t i = 0; i < sizeof wnm_methods / sizeof wnm_methods[0]; i++)
        known = known || strcmp(m, wnm_methods[i]) == 0;
    if (!known)
        return wnm_bad(err, "properties.integrity.method", "%s is not one of " WNM_METHODS_TEXT,
                       sr_err_quote(m, q, sizeof q));
    int rc = check_string(value, "properties.integrity.value", SR_IDENTITY_VALUE_MAX - 1, err);
    if (rc != SR_OK)
        return rc;
    enum sr_identity_method id = SR_ID_NONE;
    if (sr_identity_method_from_name(m, &id) != SR_OK ||
        !sr_identity_value_valid(id, json_string_value(value)))
        return wnm_bad(
            err, "properties.integrity.value", "%s is not base64 of a %zu-byte %s digest",
            sr_err_quote(json_string_value(value), q, sizeof q), sr_identity_digest_bytes(id), m);
    return SR_OK;
}

static int check_content(const json_t *v, sr_err *err)
{
    if (!json_is_object(v))
        return wnm_bad(err, "properties.content",
                       "not an object {\"encoding\", \"size\", \"value\"}");
    const json_t *enc = json_object_get(v, "encoding"), *size = json_object_get(v, "size"),
                 *value = json_object_get(v, "value");
    char q[SR_QUOTE_BUF];
    if (enc == NULL)
        return wnm_bad(err, "properties.content.encoding", "missing");
    const char *e = json_string_value(enc);
    if (e == NULL ||
        (strcmp(e, "utf-8") != 0 && strcmp(e, "base64") != 0 && strcmp(e, "gzip") != 0))
        return wnm_bad(err, "properties.content.encoding", "%s is not one of utf-8, base64, gzip",
                       e ? sr_err_quote(e, q, sizeof q) : "(not a string)");
    if (size == NULL)
        return wnm_bad(err, "properties.content.size", "missing");
    if (!json_is_integer(size))
        return wnm_bad(err, "properties.content.size", "not an integer");
    long long n = json_integer_value(size);
    if (n < 0 || n > WNM_CONTENT_MAX)
        return wnm_bad(err, "properties.content.size", "%lld is not a size of 0 to %d bytes", n,
                       WNM_CONTENT_MAX);
    if (value == NULL)
        return wnm_bad(err, "properties.content.value", "missing");
    if (!json_is_string(value))
        return wnm_bad(err, "properties.content.value", "not a string");
    const char *s = json_string_value(value);
    if (utf8_chars(s) > WNM_CONTENT_MAX)
        return wnm_bad(err, "properties.content.value", "longer than %d characters",
                       WNM_CONTENT_MAX);
    long bytes = content_bytes(e, s);
    if (bytes == -1)
        return wnm_bad(err, "properties.content.value", "not base64 (the encoding is %s)", e);
    /* the size is what a receiver checks the file it writes against: it must be the truth */
    if (bytes >= 0 && bytes != n)
        return wnm_bad(err, "properties.content.size", "%lld, but the value holds %ld bytes", n,
                       bytes);
    return SR_OK;
}

static int check_properties(const json_t *p, sr_err *err)
{
    if (!json_is_object(p))
        return wnm_bad(err, "properties", "not an object");
    int rc = check_datetime(json_object_get(p, "pubtime"), "properties.pubtime", false, err);
    if (rc == SR_OK)
        rc =
            check_string(json_object_get(p, "data_id"), "properties.data_id", SR_MSG_PATH_MAX, err);
    if (rc == SR_OK)
        rc = check_string(json_object_get(p, "metadata_id"), "properties.metadata_id",
                          SR_MSG_FIELD_MAX, err);
    static const char *const strings[] = {"producer", "global-cache"};
    for (size_t i = 0; rc == SR_OK && i < 2; i++) {
        char path[96];
        path_at(path, sizeof path, "properties", -1, strings[i]);
        const json_t *v = json_object_get(p, strings[i]);
        if (v != NULL)
            rc = check_string(v, path, SR_MSG_FIELD_MAX, err);
    }
    const json_t *dt = json_object_get(p, "datetime"),
                 *start = json_object_get(p, "start_datetime"),
                 *end = json_object_get(p, "end_datetime");
    if (rc == SR_OK && dt != NULL)
        rc = check_datetime(dt, "properties.datetime", true, err);
    if (rc == SR_OK && start != NULL)
        rc = check_datetime(start, "properties.start_datetime", false, err);
    if (rc == SR_OK && end != NULL)
        rc = check_datetime(end, "properties.end_datetime", false, err);
    /* WNM's oneOf: a time (datetime), or a span (start_datetime and end_datetime) */
    bool span = start != NULL && end != NULL;
    if (rc == SR_OK && span && dt != NULL)
        rc = wnm_bad(err, "properties",
                     "both datetime and start_datetime/end_datetime (one or the other)");
    if (rc == SR_OK && !span && dt == NULL)
        rc = wnm_bad(err, "properties.datetime", "%s",
                     start != NULL || end != NULL
                         ? "missing, and start_datetime and end_datetime come only together"
                         : "missing (or start_datetime and end_datetime)");
    const json_t *cache = json_object_get(p, "cache");
    if (rc == SR_OK && cache != NULL && !json_is_boolean(cache))
        rc = wnm_bad(err, "properties.cache", "not true or false");
    if (rc == SR_OK && json_object_get(p, "integrity") != NULL)
        rc = check_integrity(json_object_get(p, "integrity"), err);
    if (rc == SR_OK && json_object_get(p, "content") != NULL)
        rc = check_content(json_object_get(p, "content"), err);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)p, key, value)
    {
        if (rc != SR_OK)
            break;
        char q[SR_QUOTE_BUF];
        if (strlen(key) > SR_MSG_NAME_MAX || has_control(key) || key[0] == '\0')
            rc = wnm_bad(err, "properties",
                         "a property named %s: empty, longer than %d bytes or "
                         "holding a control character",
                         sr_err_quote(key, q, sizeof q), SR_MSG_NAME_MAX);
    }
    return rc;
}

/* Where a link's href is a URL sr may fetch from: http, https, ftp or sftp (WNM's rule). */
static bool fetchable_scheme(const char *href)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "sftp://"};
    for (size_t i = 0; i < 4; i++)
        if (strncasecmp(href, schemes[i], strlen(schemes[i])) == 0)
            return true;
    return false;
}

/* 3 deletion, 2 update, 1 canonical, 0 any other rel. */
static int rel_rank(const char *rel)
{
    if (rel == NULL)
        return 0;
    if (strcmp(rel, WNM_REL_DELETION) == 0 || strcmp(rel, "deletion") == 0)
        return 3;
    if (strcmp(rel, WNM_REL_UPDATE) == 0 || strcmp(rel, "update") == 0)
        return 2;
    return strcmp(rel, "canonical") == 0 ? 1 : 0;
}

/* The index of the primary link of a links array (checked), or -1. */
static long primary_of(const json_t *links)
{
    long best = -1;
    int best_rank = 0;
    size_t i;
    const json_t *link;
    json_array_foreach(links, i, link)
    {
        int r = rel_rank(json_string_value(json_object_get(link, "rel")));
        if (r > best_rank) {
            best = (long)i;
            best_rank = r;
        }
    }
    return best;
}

static int check_link(const json_t *link, size_t i, sr_err *err)
{
    char path[96];
    path_at(path, sizeof path, "links", (long)i, NULL);
    if (!json_is_object(link))
        return wnm_bad(err, path, "not an object");
    path_at(path, sizeof path, "links", (long)i, "href");
    const json_t *href = json_object_get(link, "href");
    int rc = check_string(href, path, SR_MSG_URL_MAX + SR_MSG_PATH_MAX, err);
    char q[SR_QUOTE_BUF];
    if (rc == SR_OK && !fetchable_scheme(json_string_value(href)))
        rc = wnm_bad(err, path, "%s: a link is http, https, ftp or sftp",
                     sr_err_quote(json_string_value(href), q, sizeof q));
    path_at(path, sizeof path, "links", (long)i, "rel");
    if (rc == SR_OK)
        rc = check_string(json_object_get(link, "rel"), path, SR_MSG_FIELD_MAX, err);
    static const char *const strings[] = {"type", "hreflang", "title"};
    for (size_t k = 0; rc == SR_OK && k < 3; k++) {
        const json_t *v = json_object_get(link, strings[k]);
        path_at(path, sizeof path, "links", (long)i, strings[k]);
        if (v != NULL)
            rc = check_string(v, path, SR_MSG_FIELD_MAX, err);
    }
    const json_t *length = json_object_get(link, "length");
    path_at(path, sizeof path, "links", (long)i, "length");
    if (rc == SR_OK && length != NULL &&
        (!json_is_integer(length) || json_integer_value(length) < 0))
        rc = wnm_bad(err, path, "not a number of bytes (an integer >= 0)");
    const json_t *security = json_object_get(link, "security");
    path_at(path, sizeof path, "links", (long)i, "security");
    if (rc == SR_OK && security != NULL && !json_is_object(security))
        rc = wnm_bad(err, path, "not an object");
    return rc;
}

static int check_links(const json_t *links, long *primary, sr_err *err)
{
    if (!json_is_array(links))
        return wnm_bad(err, "links", "not an array");
    if (json_array_size(links) == 0)
        return wnm_bad(err, "links", "empty (one link or more is needed)");
    if (json_array_size(links) > WNM_LINKS_MAX)
        return wnm_bad(err, "links", "more than %d links", WNM_LINKS_MAX);
    size_t i;
    const json_t *link;
    json_array_foreach(links, i, link)
    {
        int rc = check_link(link, i, err);
        if (rc != SR_OK)
            return rc;
    }
    *primary = primary_of(links);
    if (*primary < 0)
        return wnm_bad(err, "links",
                       "no link with rel canonical, " WNM_REL_UPDATE " or " WNM_REL_DELETION);
    return SR_OK;
}

/* Every rule of WNM 1.0, and sr's bounds; *primary: the primary link's index. */
static int wnm_check(const json_t *o, long *primary, sr_err *err)
{
    static const char *const required[] = {"id",       "conformsTo", "type",
                                           "geometry", "properties", "links"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (json_object_get(o, required[i]) == NULL)
            return wnm_bad(err, required[i], "missing");
    char q[SR_QUOTE_BUF];
    const json_t *id = json_object_get(o, "id"), *type = json_object_get(o, "type");
    if (!json_is_string(id) || !is_uuid(json_string_value(id)))
        return wnm_bad(err, "id", "%s is not a UUID",
                       json_is_string(id) ? sr_err_quote(json_string_value(id), q, sizeof q)
                                          : "(not a string)");
    int rc = check_conforms_to(json_object_get(o, "conformsTo"), err);
    if (rc != SR_OK)
        return rc;
    if (!json_is_string(type) || strcmp(json_string_value(type), "Feature") != 0)
        return wnm_bad(err, "type", "%s is not \"Feature\"",
                       json_is_string(type) ? sr_err_quote(json_string_value(type), q, sizeof q)
                                            : "(not a string)");
    rc = check_geometry(json_object_get(o, "geometry"), err);
    if (rc == SR_OK)
        rc = check_properties(json_object_get(o, "properties"), err);
    if (rc == SR_OK)
        rc = check_links(json_object_get(o, "links"), primary, err);
    return rc;
}

/* ---- links and URLs ---- */

/* An href cut at its parts: base "scheme://authority", the path as written (from its '/',
 * or ""), the query (after '?', or NULL); the fragment is dropped (never sent). */
typedef struct href_parts {
    char *base, *path, *query;
} href_parts;

static void href_fini(href_parts *h)
{
    free(h->base);
    free(h->path);
    free(h->query);
    memset(h, 0, sizeof *h);
}

/* false: no "://" or no authority (a checked href has the scheme); NULL members on ENOMEM
 * are reported by the caller through all three being checked. */
static bool href_split(const char *href, href_parts *h)
{
    memset(h, 0, sizeof *h);
    const char *sep = strstr(href, "://");
    if (sep == NULL)
        return false;
    const char *auth = sep + 3, *p = auth + strcspn(auth, "/?#");
    if (p == auth)
        return false;
    const char *q = p + strcspn(p, "?#");
    h->base = strndup(href, (size_t)(p - href));
    h->path = strndup(p, (size_t)(q - p));
    if (*q == '?') {
        size_t qlen = strcspn(q + 1, "#");
        h->query = strndup(q + 1, qlen);
    }
    return true;
}

/* Percent-decoded path without its leading '/'s; NULL with *why set when it holds a bad
 * escape or decodes to a NUL byte (or out of memory: *why NULL). */
static char *path_decode(const char *path, const char **why)
{
    *why = NULL;
    while (*path == '/')
        path++;
    char *out = malloc(strlen(path) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = path; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int hi = sr_hex_value(p[1]), lo = hi < 0 ? -1 : sr_hex_value(p[2]);
        if (hi < 0 || lo < 0) {
            *why = "a '%' that is not followed by two hex digits";
            free(out);
            return NULL;
        }
        if (hi == 0 && lo == 0) {
            *why = "%00 (a NUL byte)";
            free(out);
            return NULL;
        }
        *o++ = (char)(hi << 4 | lo);
        p += 2;
    }
    *o = '\0';
    return out;
}

/* Bytes a URL path carries as they are (RFC 3986 pchar and '/'); others are %XX. */
static bool path_char_ok(unsigned char c)
{
    return isalnum(c) || strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

static char *path_encode(const char *path)
{
    char *out = malloc(3 * strlen(path) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (path_char_ok(*p))
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return out;
}

/* The href of m's file: baseUrl, '/', then retrievePath as written (a URL's text, as sr3
 * takes it) or relPath percent-encoded. New string, or NULL when out of memory. */
static char *href_of(const sr_message *m)
{
    const char *base = sr_message_base_url(m), *retrieve = sr_message_str(m, "retrievePath");
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    const char *path = retrieve ? retrieve : sr_message_rel_path(m);
    while (*path == '/')
        path++;
    char *encoded = retrieve ? strdup(path) : path_encode(path), *href = NULL;
    if (encoded != NULL && asprintf(&href, "%.*s/%s", (int)blen, base, encoded) < 0)
        href = NULL;
    free(encoded);
    return href;
}

/* Do two hrefs name the same file: the same base, the same decoded path and query? */
static bool same_target(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    href_parts ha, hb;
    bool split = href_split(a, &ha);
    split = href_split(b, &hb) && split;
    bool same = false;
    if (split && ha.base && ha.path && hb.base && hb.path) {
        const char *why;
        char *pa = path_decode(ha.path, &why), *pb = path_decode(hb.path, &why);
        same = pa && pb && strcasecmp(ha.base, hb.base) == 0 && strcmp(pa, pb) == 0 &&
               (ha.query == NULL) == (hb.query == NULL) &&
               (ha.query == NULL || strcmp(ha.query, hb.query) == 0);
        free(pa);
        free(pb);
    }
    href_fini(&ha);
    href_fini(&hb);
    return same;
}

/* ---- WNM -> sr's fields ---- */

static int set_new(json_t *f, const char *key, json_t *v, sr_err *err)
{
    if (v == NULL || json_object_set_new(f, key, v) != 0)
        return out_of_memory(err);
    return SR_OK;
}

static int map_link(const json_t *link, long i, json_t *f, sr_err *err)
{
    const char *href = json_string_value(json_object_get(link, "href"));
    char path[96];
    path_at(path, sizeof path, "links", i, "href");
    href_parts h;
    char q[SR_QUOTE_BUF];
    if (!href_split(href, &h)) {
        href_fini(&h);
        return wnm_bad(err, path, "%s names no host", sr_err_quote(href, q, sizeof q));
    }
    if (h.base == NULL || h.path == NULL) {
        href_fini(&h);
        return out_of_memory(err);
    }
    const char *why;
    char *rel = path_decode(h.path, &why);
    int rc = SR_OK;
    if (rel == NULL)
        rc = why ? wnm_bad(err, path, "%s: its path holds %s", sr_err_quote(href, q, sizeof q), why)
                 : out_of_memory(err);
    json_t *s = rc == SR_OK ? json_string(rel) : NULL;
    if (rc == SR_OK && s == NULL)
        rc = wnm_bad(err, path, "%s: its path is not UTF-8 once decoded",
                     sr_err_quote(href, q, sizeof q));
    json_decref(s);
    /* the path is where the file goes in the receiver's tree: checked as any relPath */
    if (rc == SR_OK && (rc = sr_msg_check_path("relPath", rel, err)) != SR_OK)
        sr_err_prefix(err, "WNM %s", path);
    if (rc == SR_OK)
        rc = set_new(f, "baseUrl", json_string(h.base), err);
    if (rc == SR_OK)
        rc = set_new(f, "relPath", json_string(rel), err);
    if (rc == SR_OK && h.query != NULL) {
        char *retrieve = NULL;
        if (asprintf(&retrieve, "%s?%s", h.path, h.query) < 0)
            retrieve = NULL;
        if (retrieve != NULL && (rc = sr_msg_check_path("retrievePath", retrieve, err)) != SR_OK)
            sr_err_prefix(err, "WNM %s", path);
        else if (retrieve != NULL)
            rc = set_new(f, "retrievePath", json_string(retrieve), err);
        else
            rc = out_of_memory(err);
        free(retrieve);
    }
    free(rel);
    href_fini(&h);
    const json_t *length = json_object_get(link, "length"), *type = json_object_get(link, "type");
    if (rc == SR_OK && length != NULL)
        rc = set_new(f, "size", json_integer(json_integer_value(length)), err);
    if (rc == SR_OK && type != NULL)
        rc = set_new(f, "contentType", json_string(json_string_value(type)), err);
    if (rc == SR_OK && rel_rank(json_string_value(json_object_get(link, "rel"))) == 3)
        rc = set_new(f, "fileOp", json_pack("{s:s}", "remove", ""), err);
    return rc;
}

static int map_wnm(const json_t *o, long primary, json_t *f, sr_err *err)
{
    const json_t *props = json_object_get(o, "properties");
    char pub[64];
    int rc =
        pubtime_to_v03(json_string_value(json_object_get(props, "pubtime")), pub, sizeof pub, err);
    if (rc == SR_OK)
        rc = set_new(f, "pubTime", json_string(pub), err);
    if (rc == SR_OK)
        rc =
            map_link(json_array_get(json_object_get(o, "links"), (size_t)primary), primary, f, err);
    const json_t *integrity = json_object_get(props, "integrity");
    if (rc == SR_OK && integrity != NULL)
        rc = set_new(f, "identity",
                     json_pack("{s:O, s:O}", "method", json_object_get(integrity, "method"),
                               "value", json_object_get(integrity, "value")),
                     err);
    const json_t *content = json_object_get(props, "content");
    if (rc == SR_OK && content != NULL) {
        /* sr's content is {encoding, value}; gzip keeps its size, which only the stream
         * holds otherwise */
        const char *enc = json_string_value(json_object_get(content, "encoding"));
        json_t *c = json_pack("{s:O, s:O}", "encoding", json_object_get(content, "encoding"),
                              "value", json_object_get(content, "value"));
        if (c != NULL && strcmp(enc, "gzip") == 0)
            json_object_set(c, "size", json_object_get(content, "size"));
        rc = set_new(f, "content", c, err);
    }
    static const char *const kept[] = {"id", "conformsTo", "geometry", "links"};
    for (size_t i = 0; rc == SR_OK && i < 4; i++)
        if (json_object_set(f, kept[i], json_object_get(o, kept[i])) != 0)
            rc = out_of_memory(err);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)props, key, value)
    {
        if (rc != SR_OK)
            break;
        if (strcmp(key, "pubtime") == 0 || strcmp(key, "integrity") == 0 ||
            strcmp(key, "content") == 0)
            continue;
        char path[SR_MSG_NAME_MAX + 16];
        path_at(path, sizeof path, "properties", -1, key);
        if (own_field(key))
            rc = wnm_bad(err, path, "a property may not be named as one of sr's own fields");
        else if (json_object_set(f, key, value) != 0)
            rc = out_of_memory(err);
    }
    return rc;
}

/* Every v03 message has a pubTime, and a WNM has none at its top (its pubtime is a
 * property): an object without one, with a WNM's type "Feature" or any other of its
 * members, is a WNM, and a broken one is refused as a WNM (its error names what is wrong
 * with it rather than v03's missing pubTime). A v03 message may carry fields of a
 * Feature's names (sr3 keeps a user's fields): with its pubTime, it stays v03. */
bool sr_msg_looks_wnm(const json_t *o)
{
    if (json_object_get(o, "pubTime") != NULL)
        return false;
    static const char *const members[] = {"type", "properties", "links", "conformsTo", "geometry"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if (json_object_get(o, members[i]) != NULL)
            return true;
    return false;
}

int sr_msg_decode_wis(json_t *o, sr_message **out, sr_err *err)
{
    *out = NULL;
    long primary = -1;
    int rc = wnm_check(o, &primary, err);
    json_t *f = rc == SR_OK ? json_object() : NULL;
    if (rc == SR_OK && f == NULL)
        rc = out_of_memory(err);
    if (rc == SR_OK)
        rc = map_wnm(o, primary, f, err);
    if (rc == SR_OK && (rc = sr_msg_check_all(f, err)) != SR_OK)
        sr_err_prefix(err, "WNM read as sr's fields");
    if (rc != SR_OK) {
        json_decref(o);
        json_decref(f);
        return rc;
    }
    *out = sr_msg_wrap(f);
    if (*out == NULL) {
        json_decref(o);
        return out_of_memory(err);
    }
    /* a relay posts it as it came (message_impl.h), unless its primary link has a short
     * rel: what sr writes is WNM 1.0's long form */
    const char *rel = json_string_value(
        json_object_get(json_array_get(json_object_get(o, "links"), (size_t)primary), "rel"));
    if (rel != NULL && (strcmp(rel, "update") == 0 || strcmp(rel, "deletion") == 0))
        json_decref(o);
    else
        (*out)->wnm = o;
    return SR_OK;
}

/* ---- sr's fields -> WNM ---- */

/* A random UUID, version 4 (RFC 9562), from the kernel's generator. */
static int uuid4(char out[37], sr_err *err)
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sr_err_set(err, SR_EIO, true, "WNM id: getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return SR_OK;
}

/* properties.content from sr's content, when WNM can carry it: utf-8 and base64 (with their
 * byte count) and gzip (with the size it came with), within WNM's limits. Otherwise none:
 * receivers fetch the file from the link. */
static json_t *content_of(const json_t *c)
{
    const char *enc = json_string_value(json_object_get(c, "encoding"));
    const char *value = json_string_value(json_object_get(c, "value"));
    if (enc == NULL || value == NULL || utf8_chars(value) > WNM_CONTENT_MAX)
        return NULL;
    long long size = content_bytes(enc, value);
    if (strcmp(enc, "gzip") == 0 && size == -2 && json_is_integer(json_object_get(c, "size")))
        size = json_integer_value(json_object_get(c, "size"));
    if ((strcmp(enc, "utf-8") != 0 && strcmp(enc, "base64") != 0 && strcmp(enc, "gzip") != 0) ||
        size < 0 || size > WNM_CONTENT_MAX)
        return NULL;
    return json_pack("{s:s, s:s, s:I}", "encoding", enc, "value", value, "size", (json_int_t)size);
}

static int build_properties(const sr_message *m, json_t *p, sr_err *err)
{
    char t[64];
    int rc = v03_to_rfc3339("pubTime", sr_message_pub_time(m), t, sizeof t, err);
    if (rc == SR_OK)
        rc = set_new(p, "pubtime", json_string(t), err);
    static const char *const needed[] = {"data_id", "metadata_id"};
    for (size_t i = 0; rc == SR_OK && i < 2; i++)
        if (!json_is_string(json_object_get(m->fields, needed[i])))
            rc = sr_err_set(err, SR_EINVAL, false,
                            "message field %s: missing or not a string (a WNM needs one)",
                            needed[i]);
    const char *key;
    json_t *value;
    json_object_foreach(m->fields, key, value)
    {
        if (rc != SR_OK)
            break;
        if (!own_field(key) && json_object_set(p, key, value) != 0)
            rc = out_of_memory(err);
    }
    /* a time for the data: the message's own, else the file's mtime, else pubtime */
    bool span = json_object_get(p, "start_datetime") && json_object_get(p, "end_datetime");
    if (rc == SR_OK && !span && json_object_get(p, "datetime") == NULL) {
        const char *mtime = sr_message_str(m, "mtime");
        if (mtime == NULL || v03_to_rfc3339("mtime", mtime, t, sizeof t, NULL) != SR_OK)
            rc = v03_to_rfc3339("pubTime", sr_message_pub_time(m), t, sizeof t, err);
        if (rc == SR_OK)
            rc = set_new(p, "datetime", json_string(t), err);
    }
    sr_identity id;
    const json_t *identity = json_object_get(m->fields, "identity");
    const char *method = json_string_value(json_object_get(identity, "method"));
    for (size_t i = 0; rc == SR_OK && method && i < sizeof wnm_methods / sizeof wnm_methods[0]; i++)
        if (strcmp(method, wnm_methods[i]) == 0 && sr_message_identity(m, &id))
            rc = set_new(p, "integrity",
                         json_pack("{s:s, s:s}", "method", method, "value", id.value), err);
    const json_t *content = json_object_get(m->fields, "content");
    json_t *c = rc == SR_OK && content != NULL ? content_of(content) : NULL;
    if (c != NULL)
        rc = set_new(p, "content", c, err);
    return rc;
}

/* The primary link as it goes out: the message's (its other members kept), with href, rel,
 * length and type from the fields. *keep_id: the old link pointed at the same file. */
static int build_link(const sr_message *m, const json_t *old, json_t **out, bool *keep_id,
                      sr_err *err)
{
    *out = NULL;
    *keep_id = false;
    sr_fileop op;
    bool has_op = sr_message_fileop(m, &op);
    if (has_op && (op.directory || op.link || op.hlink))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field fileOp: a %s has no WNM (files and removals only)",
                          op.directory ? "folder"
                          : op.link    ? "symbolic link"
                                       : "hard link");
    if (json_object_get(m->fields, "blocks") != NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks: a block of a file has no WNM (blockSize 0)");
    char *href = href_of(m);
    if (href == NULL)
        return out_of_memory(err);
    json_t *link = json_is_object(old) ? json_deep_copy(old) : json_object();
    int old_rank = rel_rank(json_string_value(json_object_get(old, "rel")));
    const char *rel = has_op && op.remove ? WNM_REL_DELETION
                      : old_rank == 2     ? WNM_REL_UPDATE
                                          : "canonical";
    /* the same notification: the same file, and still a deletion, update or new file (a
     * removal made of a new file's message is a new notification) */
    const char *old_href = json_string_value(json_object_get(old, "href"));
    if (old_href != NULL && rel_rank(rel) == old_rank && same_target(old_href, href)) {
        *keep_id = true;
        free(href);
        href = strdup(old_href); /* byte for byte, as it came */
    }
    long long size;
    const char *type = sr_message_str(m, "contentType");
    int rc = link != NULL && href != NULL ? SR_OK : out_of_memory(err);
    if (rc == SR_OK)
        rc = set_new(link, "href", json_string(href), err);
    if (rc == SR_OK)
        rc = set_new(link, "rel", json_string(rel), err);
    json_object_del(link, "length");
    json_object_del(link, "type");
    if (rc == SR_OK && sr_message_size(m, &size))
        rc = set_new(link, "length", json_integer(size), err);
    if (rc == SR_OK && type != NULL)
        rc = set_new(link, "type", json_string(type), err);
    free(href);
    if (rc != SR_OK) {
        json_decref(link);
        return rc;
    }
    *out = link;
    return SR_OK;
}

static int build_wnm(const sr_message *m, json_t *o, sr_err *err)
{
    const json_t *links = json_object_get(m->fields, "links");
    if (!json_is_array(links))
        links = NULL;
    long primary = links ? primary_of(links) : -1;
    json_t *link = NULL;
    bool keep_id = false;
    int rc = build_link(m, primary >= 0 ? json_array_get(links, (size_t)primary) : NULL, &link,
                        &keep_id, err);
    json_t *list = rc == SR_OK ? (links ? json_copy((json_t *)links) : json_array()) : NULL;
    if (rc == SR_OK && list == NULL)
        rc = out_of_memory(err);
    if (rc == SR_OK && primary >= 0)
        rc = json_array_set_new(list, (size_t)primary, link) == 0 ? SR_OK : out_of_memory(err);
    else if (rc == SR_OK)
        rc = json_array_append_new(list, link) == 0 ? SR_OK : out_of_memory(err);
    else
        json_decref(link);
    const char *id = sr_message_str(m, "id");
    char uuid[37];
    if (rc == SR_OK && !(keep_id && id != NULL && is_uuid(id))) {
        rc = uuid4(uuid, err);
        id = uuid;
    }
    const json_t *conforms = json_object_get(m->fields, "conformsTo");
    const json_t *geometry = json_object_get(m->fields, "geometry");
    json_t *props = rc == SR_OK ? json_object() : NULL;
    if (rc == SR_OK && props == NULL)
        rc = out_of_memory(err);
    if (rc == SR_OK)
        rc = set_new(o, "id", json_string(id), err);
    if (rc == SR_OK)
        rc = set_new(o, "conformsTo",
                     json_is_array(conforms) ? json_copy((json_t *)conforms)
                                             : json_pack("[s]", WNM_CONFORMANCE),
                     err);
    if (rc == SR_OK)
        rc = set_new(o, "type", json_string("Feature"), err);
    if (rc == SR_OK)
        rc = set_new(o, "geometry", geometry ? json_incref((json_t *)geometry) : json_null(), err);
    if (rc == SR_OK)
        rc = build_properties(m, props, err);
    if (rc == SR_OK) {
        rc = set_new(o, "properties", props, err);
        props = NULL;
    }
    json_decref(props);
    if (rc == SR_OK)
        rc = set_new(o, "links", list, err);
    else
        json_decref(list);
    return rc;
}

int sr_msg_encode_wis(const sr_message *m, sr_encoded *out, sr_err *err)
{
    /* a WNM read and not changed since goes out as it came (checked when it was read) */
    json_t *o = m->wnm ? json_incref(m->wnm) : json_object();
    int rc = o ? SR_OK : out_of_memory(err);
    long primary;
    if (rc == SR_OK && m->wnm == NULL)
        rc = build_wnm(m, o, err);
    /* what sr writes passes what sr reads: a field that makes no WNM is named here */
    if (rc == SR_OK && m->wnm == NULL)
        rc = wnm_check(o, &primary, err);
    if (rc == SR_OK && (out->body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        rc = out_of_memory(err);
    json_decref(o);
    if (rc != SR_OK) {
        sr_err_prefix(err, "post_format wis");
        return rc;
    }
    out->body_len = strlen(out->body);
    if (out->body_len > SR_MSG_BODY_MAX) {
        sr_encoded_fini(out);
        return sr_err_set(err, SR_EINVAL, false, "post_format wis: a WNM of more than %u bytes",
                          SR_MSG_BODY_MAX);
    }
    out->content_type = "application/geo+json";
    return SR_OK;
}
