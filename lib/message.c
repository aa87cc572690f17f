/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message: see message.h. The v03 model and its checks; v02 is in message_v02.c.
 */
#include "message.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message_impl.h"
#include "timefmt.h"

/* ---- checks, shared by the decoder and the setters ---- */

static int bad(sr_err *err, const char *field, const char *value, const char *why)
{
    char shown[SR_QUOTE_BUF];
    sr_err_quote(value ? value : "", shown, sizeof shown);
    return sr_err_set(err, SR_EINVAL, false, "message field %s %s: %s", field, shown, why);
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int sr_msg_check_string(const char *field, const char *value, size_t max, sr_err *err)
{
    if (strlen(value) > max) {
        char why[64];
        snprintf(why, sizeof why, "longer than %zu bytes", max);
        return bad(err, field, value, why);
    }
    if (has_control(value))
        return bad(err, field, value, "holds a control character");
    return SR_OK;
}

int sr_msg_check_path(const char *field, const char *value, sr_err *err)
{
    int rc = sr_msg_check_string(field, value, SR_MSG_PATH_MAX, err);
    if (rc != SR_OK)
        return rc;
    /* Walk the components, counting depth: `a/../b` is fine, `a/../../b` climbs out. */
    int depth = 0;
    bool any = false;
    for (const char *p = value; *p;) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            break;
        if (len > SR_MSG_NAME_MAX)
            return bad(err, field, value, "a path component is longer than 255 bytes");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return bad(err, field, value, "climbs out of the tree with ..");
        } else if (!(len == 1 && p[0] == '.')) {
            depth++;
            any = true;
        }
        p += len;
    }
    if (!any)
        return bad(err, field, value, "names no file");
    return SR_OK;
}

static int check_time(const char *field, const char *value, sr_err *err)
{
    struct timespec t;
    if (strlen(value) > 40 || sr_time_parse(value, &t, NULL) != SR_OK)
        return bad(err, field, value, "not a time (YYYYMMDDTHHMMSS[.fraction])");
    return SR_OK;
}

static int check_mode(const char *value, sr_err *err)
{
    size_t n = strlen(value);
    if (n == 0 || n > 5 || strspn(value, "01234567") != n || strtoul(value, NULL, 8) > 07777)
        return bad(err, "mode", value, "not permission bits in octal (e.g. 644)");
    return SR_OK;
}

static int check_base_url(const char *value, sr_err *err)
{
    int rc = sr_msg_check_string("baseUrl", value, SR_MSG_URL_MAX, err);
    if (rc != SR_OK)
        return rc;
    const char *colon = strchr(value, ':');
    if (colon == NULL || colon == value)
        return bad(err, "baseUrl", value, "not a URL (scheme:...)");
    for (const char *p = value; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return bad(err, "baseUrl", value, "not a URL (scheme:...)");
    return SR_OK;
}

/* A number that sr3 writes as an integer and sarrac as a string of digits. */
bool sr_msg_json_count(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out >= 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
            return false;
        *out = strtoll(s, NULL, 10);
        return true;
    }
    return false;
}

/* A v03 identity object's two strings as an sr_identity sr can compare. A method sr does
 * not know (sr3 lets plugins add some) is not an error: the message keeps it and passes it
 * on, and to sr it carries no identity. */
static int identity_from_fields(const char *method, const char *value, sr_identity *out,
                                bool *known, sr_err *err)
{
    *known = false;
    if (method == NULL || value == NULL)
        return sr_err_set(err, SR_EINVAL, false, "missing method or value");
    if (strlen(method) > 64 || has_control(method))
        return sr_err_set(err, SR_EINVAL, false, "method is not a short name");
    if (strlen(value) >= sizeof out->value)
        return sr_err_set(err, SR_EINVAL, false, "value longer than %zu bytes",
                          sizeof out->value - 1);
    if (sr_identity_method_from_name(method, &out->method) != SR_OK)
        return SR_OK;
    bool digest = sr_identity_is_digest(out->method);
    /* digest values are base64, which PY wraps with newlines after 76 characters. */
    if (digest &&
        strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\r") !=
            strlen(value))
        return sr_err_set(err, SR_EINVAL, false, "%s value is not base64", method);
    if (!digest && has_control(value))
        return sr_err_set(err, SR_EINVAL, false, "value holds a control character");
    if (out->method == SR_ID_NONE || out->method == SR_ID_MD5NAME)
        return SR_OK; /* say nothing about the content */
    strcpy(out->value, value);
    *known = true;
    return SR_OK;
}

static int check_identity(const json_t *v, sr_err *err)
{
    if (!json_is_object(v))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field identity: not an object {\"method\", \"value\"}");
    const json_t *method = json_object_get(v, "method"), *value = json_object_get(v, "value");
    if (!json_is_string(method))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field identity.method: missing or not "
                          "a string");
    if (!json_is_string(value))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field identity.value: missing or not "
                          "a string");
    sr_identity id;
    sr_err why;
    bool known;
    if (identity_from_fields(json_string_value(method), json_string_value(value), &id, &known,
                             &why) != SR_OK)
        return sr_err_set(err, SR_EINVAL, false, "message field identity: %s", why.msg);
    return SR_OK;
}

static int check_fileop(const json_t *v, sr_err *err)
{
    if (!json_is_object(v))
        return sr_err_set(err, SR_EINVAL, false, "message field fileOp: not an object");
    const char *key;
    const json_t *value;
    bool known = false;
    json_object_foreach((json_t *)v, key, value)
    {
        char field[64];
        snprintf(field, sizeof field, "fileOp.%s", key);
        bool is_path = strcmp(key, "rename") == 0 || strcmp(key, "hlink") == 0;
        bool is_flag = strcmp(key, "remove") == 0 || strcmp(key, "directory") == 0;
        if (!is_path && !is_flag && strcmp(key, "link") != 0)
            continue; /* unknown keys pass through */
        known = true;
        if (!json_is_string(value))
            return sr_err_set(err, SR_EINVAL, false, "message field %s: not a string", field);
        const char *s = json_string_value(value);
        int rc = is_path ? sr_msg_check_path(field, s, err)
                         : sr_msg_check_string(field, s, SR_MSG_PATH_MAX, err);
        if (rc != SR_OK)
            return rc;
        if (strcmp(key, "link") == 0 && s[0] == '\0')
            return bad(err, field, s, "a link needs a target");
    }
    if (!known)
        return sr_err_set(err, SR_EINVAL, false,
                          "message field fileOp: none of remove, directory, link, hlink, rename");
    return SR_OK;
}

static int check_content(const json_t *v, sr_err *err)
{
    const json_t *enc = json_object_get(v, "encoding"), *val = json_object_get(v, "value");
    if (!json_is_object(v) || !json_is_string(enc) || !json_is_string(val))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field content: not an object {\"encoding\", \"value\"} of "
                          "strings");
    const char *e = json_string_value(enc);
    /* gzip comes in WNMs (message_wis.c): kept and passed on, never written (see
     * sr_message_content) */
    if (strcmp(e, "utf-8") != 0 && strcmp(e, "base64") != 0 && strcmp(e, "iso-8859-1") != 0 &&
        strcmp(e, "gzip") != 0)
        return bad(err, "content.encoding", e, "not utf-8, base64, iso-8859-1 or gzip");
    return SR_OK;
}

/* blocks (sr-message(7), Blocks): sr3's manifest, or sarrac's count and remainder. Every number
 * is bounded so a receiver can add up offsets without overflow and keep a record of the blocks
 * in a small file. */
#define BLOCK_SIZE_MAX (1LL << 40) /* with SR_MSG_BLOCKS_MAX: a total below 2^60 */
static int check_blocks(const json_t *v, sr_err *err)
{
    if (!json_is_object(v))
        return sr_err_set(err, SR_EINVAL, false, "message field blocks: not an object");
    const json_t *method = json_object_get(v, "method");
    long long size = 0, number = 0, count = 0, rem = 0;
    if (!json_is_string(method) || (strcmp(json_string_value(method), "inplace") != 0 &&
                                    strcmp(json_string_value(method), "partitioned") != 0))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks.method: not \"inplace\" or \"partitioned\"");
    if (!sr_msg_json_count(json_object_get(v, "size"), &size) || size <= 0 || size > BLOCK_SIZE_MAX)
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks.size: not a positive number of bytes");
    if (!sr_msg_json_count(json_object_get(v, "number"), &number) ||
        number >= (long long)SR_MSG_BLOCKS_MAX)
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks.number: not a block number below %u",
                          SR_MSG_BLOCKS_MAX);
    const json_t *c = json_object_get(v, "count"), *r = json_object_get(v, "remainder");
    if (c != NULL && (!sr_msg_json_count(c, &count) || count < 1 ||
                      count > (long long)SR_MSG_BLOCKS_MAX || number >= count))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks.count: not a number of blocks past number %lld",
                          number);
    if (r != NULL && (!sr_msg_json_count(r, &rem) || rem >= size))
        return sr_err_set(
            err, SR_EINVAL, false,
            "message field blocks.remainder: not a number of bytes below blocks.size");
    const json_t *manifest = json_object_get(v, "manifest");
    if (manifest == NULL)
        return SR_OK;
    if (!json_is_object(manifest))
        return sr_err_set(err, SR_EINVAL, false, "message field blocks.manifest: not an object");
    size_t n = json_object_size(manifest);
    if (n > SR_MSG_BLOCKS_MAX)
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks.manifest: %zu blocks, more than %u", n,
                          SR_MSG_BLOCKS_MAX);
    if ((size_t)number >= n)
        return sr_err_set(err, SR_EINVAL, false,
                          "message field blocks.number: %lld is past the manifest's %zu blocks",
                          number, n);
    for (size_t i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        const json_t *b = json_object_get(manifest, key);
        const json_t *id = json_object_get(b, "identity");
        long long bsize;
        if (!json_is_object(b) || !sr_msg_json_count(json_object_get(b, "size"), &bsize) ||
            !json_is_string(id))
            return sr_err_set(err, SR_EINVAL, false,
                              "message field blocks.manifest.%s: missing, or not {\"size\", "
                              "\"identity\"}",
                              key);
        if (bsize > size)
            return sr_err_set(err, SR_EINVAL, false,
                              "message field blocks.manifest.%s.size: %lld is larger than "
                              "blocks.size %lld",
                              key, bsize, size);
        if (strlen(json_string_value(id)) >= SR_IDENTITY_VALUE_MAX ||
            has_control(json_string_value(id)))
            return sr_err_set(err, SR_EINVAL, false,
                              "message field blocks.manifest.%s.identity: longer than %d bytes "
                              "or holds a control character",
                              key, SR_IDENTITY_VALUE_MAX - 1);
    }
    return SR_OK;
}

/* The strings sr reads, with the check each needs. */
typedef enum { K_STR, K_PATH, K_TIME, K_URL, K_MODE } string_kind;
static const struct {
    const char *name;
    string_kind kind;
} string_fields[] = {
    {"pubTime", K_TIME}, {"baseUrl", K_URL}, {"relPath", K_PATH},     {"retrievePath", K_PATH},
    {"mtime", K_TIME},   {"atime", K_TIME},  {"mode", K_MODE},        {"contentType", K_STR},
    {"rename", K_PATH},  {"source", K_STR},  {"from_cluster", K_STR}, {"to_clusters", K_STR},
    {"topic", K_STR},
};

static int check_string_field(const char *name, string_kind kind, const json_t *v, sr_err *err)
{
    if (!json_is_string(v))
        return sr_err_set(err, SR_EINVAL, false, "message field %s: not a string", name);
    const char *s = json_string_value(v);
    switch (kind) {
    case K_PATH:
        return sr_msg_check_path(name, s, err);
    case K_TIME:
        return check_time(name, s, err);
    case K_URL:
        return check_base_url(s, err);
    case K_MODE:
        return check_mode(s, err);
    default:
        return sr_msg_check_string(name, s, SR_MSG_FIELD_MAX, err);
    }
}

/* Check one known field; unknown ones are fine as they are. */
static int check_field(const char *name, const json_t *v, sr_err *err)
{
    for (size_t i = 0; i < sizeof string_fields / sizeof string_fields[0]; i++)
        if (strcmp(name, string_fields[i].name) == 0)
            return check_string_field(name, string_fields[i].kind, v, err);
    long long n;
    if (strcmp(name, "size") == 0 && !sr_msg_json_count(v, &n))
        return sr_err_set(err, SR_EINVAL, false,
                          "message field size: not a number of bytes (an integer >= 0)");
    if (strcmp(name, "identity") == 0)
        return check_identity(v, err);
    if (strcmp(name, "fileOp") == 0)
        return check_fileop(v, err);
    if (strcmp(name, "content") == 0)
        return check_content(v, err);
    if (strcmp(name, "blocks") == 0)
        return check_blocks(v, err);
    return SR_OK;
}

/* ---- the model ---- */

sr_message *sr_msg_wrap(json_t *fields)
{
    sr_message *m = malloc(sizeof *m);
    if (m == NULL) {
        json_decref(fields);
        return NULL;
    }
    m->fields = fields;
    m->received_topic = NULL;
    return m;
}

/* Old names sr3 still reads: retPath, integrity. */
static void rename_old_fields(json_t *o)
{
    static const char *const renames[][2] = {{"retPath", "retrievePath"},
                                             {"integrity", "identity"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, renames[i][0]);
        if (v != NULL && json_object_get(o, renames[i][1]) == NULL) {
            json_object_set(o, renames[i][1], v);
            json_object_del(o, renames[i][0]);
        }
    }
}

int sr_msg_check_all(json_t *o, sr_err *err)
{
    rename_old_fields(o);
    static const char *const required[] = {"pubTime", "baseUrl", "relPath"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(o, required[i]) == NULL)
            return sr_err_set(err, SR_EINVAL, false, "message field %s: missing", required[i]);
    const char *key;
    json_t *value;
    json_object_foreach(o, key, value)
    {
        int rc = check_field(key, value, err);
        if (rc != SR_OK && strcmp(key, "blocks") == 0 &&
            json_is_string(json_object_get(o, "relPath"))) {
            /* a block message is one of many for a file: say which file */
            char shown[SR_QUOTE_BUF];
            sr_err_quote(json_string_value(json_object_get(o, "relPath")), shown, sizeof shown);
            sr_err_prefix(err, "message for %s", shown);
        }
        if (rc != SR_OK)
            return rc;
    }
    /* sarrac writes size as a string: keep the integer sr3 writes. */
    long long size;
    json_t *s = json_object_get(o, "size");
    if (json_is_string(s) && sr_msg_json_count(s, &size))
        json_object_set_new(o, "size", json_integer(size));
    /* sarrac's block of a file has count and remainder and no size: this block's size, as
     * v02's parts gives it (the remainder for the last block, when there is one) */
    long long count, rem = 0, bsz, number;
    json_t *blocks = json_object_get(o, "blocks");
    if (s == NULL && sr_msg_json_count(json_object_get(blocks, "count"), &count) &&
        sr_msg_json_count(json_object_get(blocks, "size"), &bsz) &&
        sr_msg_json_count(json_object_get(blocks, "number"), &number)) {
        sr_msg_json_count(json_object_get(blocks, "remainder"), &rem);
        json_object_set_new(o, "size", json_integer(number == count - 1 && rem > 0 ? rem : bsz));
    }
    return SR_OK;
}

/* Sarracenia v2 (2.20.08p1 and before) wrote its v02 `parts` header into v03 messages. sr3
 * reads it as size (or blocks, for a block of a file) in place of any size given, and drops
 * it; so does sr, refusing a parts it cannot read (sr3 stops on one). */
static int read_v2_parts(json_t *o, sr_err *err)
{
    json_t *parts = json_object_get(o, "parts");
    if (parts == NULL)
        return SR_OK;
    if (!json_is_string(parts))
        return sr_err_set(err, SR_EINVAL, false, "message field parts: not a string");
    int rc = sr_msg_decode_parts("message field parts", json_string_value(parts), o, err);
    if (rc == SR_OK)
        json_object_del(o, "parts");
    return rc;
}

int sr_message_decode_v03(const char *body, size_t len, sr_message **out, sr_err *err)
{
    *out = NULL;
    if (len > SR_MSG_BODY_MAX)
        return sr_err_set(err, SR_EINVAL, false, "message of %zu bytes: longer than %u", len,
                          SR_MSG_BODY_MAX);
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL)
        return sr_err_set(err, SR_EINVAL, false, "message body: not JSON: %s at byte %d", jerr.text,
                          jerr.position);
    if (!json_is_object(o)) {
        json_decref(o);
        return sr_err_set(err, SR_EINVAL, false, "message body: JSON, but not an object");
    }
    if (sr_msg_looks_wnm(o))
        return sr_msg_decode_wis(o, out, err);
    int rc = read_v2_parts(o, err);
    if (rc == SR_OK)
        rc = sr_msg_check_all(o, err);
    if (rc != SR_OK) {
        json_decref(o);
        return rc;
    }
    *out = sr_msg_wrap(o);
    return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

enum sr_msg_format sr_message_detect(const sr_wire *in)
{
    if (in->content_type != NULL) {
        if (strncmp(in->content_type, "application/json", 16) == 0 ||
            strncmp(in->content_type, "application/geo+json", 20) == 0)
            return SR_FORMAT_V03;
        if (strncmp(in->content_type, "text/plain", 10) == 0)
            return SR_FORMAT_V02;
    }
    size_t i = 0;
    while (i < in->body_len && isspace((unsigned char)in->body[i]))
        i++;
    return i < in->body_len && in->body[i] == '{' ? SR_FORMAT_V03 : SR_FORMAT_V02;
}

int sr_message_decode(const sr_wire *in, sr_message **out, sr_err *err)
{
    *out = NULL;
    int rc = sr_message_detect(in) == SR_FORMAT_V03
                 ? sr_message_decode_v03(in->body, in->body_len, out, err)
                 : sr_msg_decode_v02(in, out, err);
    if (rc != SR_OK || in->topic == NULL)
        return rc;
    /* The topic it came with, for relays that must re-use it (topicCopy, or a topic that
     * does not follow relPath): kept beside the wire fields, never written into them. */
    rc = sr_msg_check_string("topic", in->topic, 65535, err);
    if (rc == SR_OK && ((*out)->received_topic = strdup(in->topic)) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc != SR_OK) {
        sr_message_free(*out);
        *out = NULL;
    }
    return rc;
}

int sr_message_new(const char *pub_time, const char *base_url, const char *rel_path,
                   sr_message **out, sr_err *err)
{
    *out = NULL;
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "pubTime", pub_time, "baseUrl", base_url, "relPath", rel_path);
    if (o == NULL)
        return sr_err_set(err, SR_EINVAL, false, "message fields: not valid UTF-8 strings");
    int rc = sr_msg_check_all(o, err);
    if (rc != SR_OK) {
        json_decref(o);
        return rc;
    }
    *out = sr_msg_wrap(o);
    return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

sr_message *sr_message_copy(const sr_message *m)
{
    json_t *o = json_deep_copy(m->fields);
    sr_message *copy = o ? sr_msg_wrap(o) : NULL;
    if (copy != NULL && m->received_topic != NULL &&
        (copy->received_topic = strdup(m->received_topic)) == NULL) {
        sr_message_free(copy);
        return NULL;
    }
    return copy;
}

const char *sr_message_received_topic(const sr_message *m)
{
    return m->received_topic;
}

void sr_message_free(sr_message *m)
{
    if (m == NULL)
        return;
    json_decref(m->fields);
    free(m->received_topic);
    free(m);
}

/* ---- encoding ---- */

int sr_message_encode(const sr_message *m, enum sr_msg_format format, sr_encoded *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    if (format == SR_FORMAT_V02)
        return sr_msg_encode_v02(m, out, err);
    if (format == SR_FORMAT_WIS)
        return sr_msg_encode_wis(m, out, err);
    out->body = json_dumps(m->fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (out->body == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    out->body_len = strlen(out->body);
    out->content_type = "application/json";
    return SR_OK;
}

void sr_encoded_fini(sr_encoded *e)
{
    free(e->body);
    for (size_t i = 0; i < e->header_count; i++) {
        free((char *)e->headers[i].name);
        free((char *)e->headers[i].value);
    }
    free(e->headers);
    memset(e, 0, sizeof *e);
}

/* ---- reading ---- */

const char *sr_message_str(const sr_message *m, const char *field)
{
    return json_string_value(json_object_get(m->fields, field));
}

const char *sr_message_pub_time(const sr_message *m)
{
    return sr_message_str(m, "pubTime");
}

const char *sr_message_base_url(const sr_message *m)
{
    return sr_message_str(m, "baseUrl");
}

const char *sr_message_rel_path(const sr_message *m)
{
    return sr_message_str(m, "relPath");
}

bool sr_message_size(const sr_message *m, long long *size)
{
    return sr_msg_json_count(json_object_get(m->fields, "size"), size);
}

bool sr_message_mode(const sr_message *m, unsigned *mode)
{
    const char *s = sr_message_str(m, "mode");
    if (s == NULL)
        return false;
    *mode = (unsigned)strtoul(s, NULL, 8);
    return true;
}

bool sr_message_identity(const sr_message *m, sr_identity *out)
{
    const json_t *v = json_object_get(m->fields, "identity");
    bool known = false;
    return v != NULL &&
           identity_from_fields(json_string_value(json_object_get(v, "method")),
                                json_string_value(json_object_get(v, "value")), out, &known,
                                NULL) == SR_OK &&
           known;
}

double sr_message_lag(const sr_message *m, const struct timespec *now)
{
    struct timespec pub;
    if (sr_time_parse(sr_message_pub_time(m), &pub, NULL) != SR_OK)
        return 0;
    return sr_time_lag(&pub, now);
}

char *sr_message_url(const sr_message *m)
{
    const char *base = sr_message_base_url(m);
    const char *path = sr_message_str(m, "retrievePath");
    if (path == NULL)
        path = sr_message_rel_path(m);
    size_t blen = strlen(base);
    bool base_slash = blen > 0 && base[blen - 1] == '/';
    bool path_slash = path[0] == '/';
    char *url = NULL;
    int n;
    if (base_slash && path_slash)
        n = asprintf(&url, "%s%s", base, path + 1);
    else
        n = asprintf(&url, "%s%s%s", base, base_slash || path_slash ? "" : "/", path);
    return n < 0 ? NULL : url;
}

bool sr_message_fileop(const sr_message *m, sr_fileop *out)
{
    const json_t *v = json_object_get(m->fields, "fileOp");
    if (!json_is_object(v))
        return false;
    memset(out, 0, sizeof *out);
    out->remove = json_object_get(v, "remove") != NULL;
    out->directory = json_object_get(v, "directory") != NULL;
    out->link = json_string_value(json_object_get(v, "link"));
    out->hlink = json_string_value(json_object_get(v, "hlink"));
    out->rename = json_string_value(json_object_get(v, "rename"));
    return true;
}

bool sr_message_content(const sr_message *m, sr_content *out)
{
    const json_t *v = json_object_get(m->fields, "content");
    if (!json_is_object(v))
        return false;
    out->encoding = json_string_value(json_object_get(v, "encoding"));
    out->value = json_string_value(json_object_get(v, "value"));
    /* gzip would need inflating, and sr links no zlib: such a message carries nothing sr
     * can write, and the file is fetched from its URL like any other */
    return out->encoding == NULL || strcmp(out->encoding, "gzip") != 0;
}

bool sr_message_blocks(const sr_message *m, sr_blocks *out)
{
    const json_t *v = json_object_get(m->fields, "blocks");
    if (!json_is_object(v))
        return false;
    out->method = json_string_value(json_object_get(v, "method"));
    sr_msg_json_count(json_object_get(v, "size"), &out->block_size);
    sr_msg_json_count(json_object_get(v, "number"), &out->number);
    out->manifest_count = json_object_size(json_object_get(v, "manifest"));
    return true;
}

bool sr_message_block(const sr_message *m, size_t i, long long *size, const char **identity)
{
    const json_t *manifest = json_object_get(json_object_get(m->fields, "blocks"), "manifest");
    char key[24];
    snprintf(key, sizeof key, "%zu", i);
    const json_t *b = json_object_get(manifest, key);
    if (b == NULL || !sr_msg_json_count(json_object_get(b, "size"), size))
        return false;
    *identity = json_string_value(json_object_get(b, "identity"));
    return true;
}

bool sr_message_blocks_count(const sr_message *m, long long *count, long long *remainder)
{
    const json_t *b = json_object_get(m->fields, "blocks");
    *remainder = 0;
    if (!sr_msg_json_count(json_object_get(b, "count"), count))
        return false;
    sr_msg_json_count(json_object_get(b, "remainder"), remainder);
    return true;
}

/* ---- writing ---- */

/* Set field to v (taking the reference) if it passes the decoder's check. */
static int set_checked(sr_message *m, const char *field, json_t *v, sr_err *err)
{
    if (v == NULL)
        return sr_err_set(err, SR_EINVAL, false, "message field %s: not valid UTF-8", field);
    int rc = check_field(field, v, err);
    if (rc == SR_OK && json_object_set_new(m->fields, field, v) != 0)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc != SR_OK)
        json_decref(v);
    return rc;
}

int sr_message_set_str(sr_message *m, const char *field, const char *value, sr_err *err)
{
    return set_checked(m, field, json_string(value), err);
}

int sr_message_set_json(sr_message *m, const char *field, const char *json_text, sr_err *err)
{
    json_error_t jerr;
    json_t *v = json_loads(json_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL)
        return sr_err_set(err, SR_EINVAL, false, "message field %s: not JSON: %s", field,
                          jerr.text);
    return set_checked(m, field, v, err);
}

void sr_message_remove(sr_message *m, const char *field)
{
    json_object_del(m->fields, field);
}

int sr_message_set_size(sr_message *m, long long size, sr_err *err)
{
    return set_checked(m, "size", json_integer(size), err);
}

int sr_message_set_identity(sr_message *m, const sr_identity *id, sr_err *err)
{
    if (id->method == SR_ID_NONE || id->method == SR_ID_MD5NAME) {
        json_object_del(m->fields, "identity");
        return SR_OK;
    }
    return set_checked(
        m, "identity",
        json_pack("{s:s, s:s}", "method", sr_identity_method_name(id->method), "value", id->value),
        err);
}

int sr_message_set_fileop(sr_message *m, const sr_fileop *op, sr_err *err)
{
    json_t *o = json_object();
    if (o == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (op->remove)
        json_object_set_new(o, "remove", json_string(""));
    if (op->directory)
        json_object_set_new(o, "directory", json_string(""));
    if (op->link)
        json_object_set_new(o, "link", json_string(op->link));
    if (op->hlink)
        json_object_set_new(o, "hlink", json_string(op->hlink));
    if (op->rename)
        json_object_set_new(o, "rename", json_string(op->rename));
    return set_checked(m, "fileOp", o, err);
}

int sr_message_set_content(sr_message *m, const sr_content *content, sr_err *err)
{
    return set_checked(
        m, "content",
        json_pack("{s:s, s:s}", "encoding", content->encoding, "value", content->value), err);
}

int sr_message_set_blocks(sr_message *m, const sr_blocks *b, const sr_block_entry *manifest,
                          size_t count, sr_err *err)
{
    json_t *list = json_object();
    json_t *o = list ? json_pack("{s:s, s:I, s:I}", "method", b->method ? b->method : "inplace",
                                 "size", (json_int_t)b->block_size, "number", (json_int_t)b->number)
                     : NULL;
    if (o == NULL) {
        json_decref(list);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        json_t *e = json_pack("{s:I, s:s}", "size", (json_int_t)manifest[i].size, "identity",
                              manifest[i].identity ? manifest[i].identity : "");
        if (e == NULL || json_object_set_new(list, key, e) != 0) {
            json_decref(list);
            json_decref(o);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
    }
    json_object_set_new(o, "manifest", list);
    return set_checked(m, "blocks", o, err);
}
