/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message_v02: the v02 wire format (sr-message(7), V02 and ON THE WIRE) to and from the v03
 * model.
 *
 * v02 is a text body `pubTime baseUrl relPath` plus string headers (sum, parts, mtime ...).
 * Reading converts it to v03 fields as sr3 does; writing is the inverse, with two of sr3's
 * slips fixed: a symbolic link keeps its `link` header, and a removed directory is `r`.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "message_impl.h"

/* ---- small text helpers ---- */

/* s with every `from` replaced by `to` (a string). New string or NULL. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t flen = strlen(from), tlen = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + flen, from))
        count++;
    char *out = malloc(strlen(s) + count * (tlen > flen ? tlen - flen : 0) + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = s;;) {
        const char *hit = strstr(p, from);
        if (hit == NULL) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tlen);
        o += tlen;
        p = hit + flen;
    }
    return out;
}

/* v02 body fields escape space and '#' (case of the hex digits as sr3 writes them). */
static char *unescape_field(const char *s)
{
    char *a = replace_all(s, "%20", " ");
    char *b = a ? replace_all(a, "%23", "#") : NULL;
    free(a);
    return b;
}

static char *escape_field(const char *s)
{
    char *a = replace_all(s, " ", "%20");
    char *b = a ? replace_all(a, "#", "%23") : NULL;
    free(a);
    return b;
}

/* A v02 time (no T) as v03 (with T), keeping the fraction's digits as they are. */
static char *time_v02_to_v03(const char *t)
{
    if (strlen(t) < 14 || t[8] == 'T')
        return strdup(t);
    char *out = malloc(strlen(t) + 2);
    if (out != NULL)
        sprintf(out, "%.8sT%s", t, t + 8);
    return out;
}

static char *time_v03_to_v02(const char *t)
{
    char *out = strdup(t);
    if (out != NULL && strlen(out) > 8 && out[8] == 'T')
        memmove(out + 8, out + 9, strlen(out + 9) + 1);
    return out;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- decoding ---- */

static const char *header(const sr_wire *in, const char *name)
{
    for (size_t i = 0; i < in->header_count; i++)
        if (in->headers[i].name && strcmp(in->headers[i].name, name) == 0)
            return in->headers[i].value;
    return NULL;
}

static int set_string(json_t *o, const char *name, char *value, sr_err *err)
{
    if (value == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    json_t *s = json_string(value);
    free(value);
    if (s == NULL)
        return sr_err_set(err, SR_EINVAL, false, "v02 message field %s: not valid UTF-8", name);
    /* the value is text: a failure is the name's (a header's, from outside) */
    if (json_object_set_new(o, name, s) != 0) {
        char shown[SR_QUOTE_BUF];
        return sr_err_set(err, SR_EINVAL, false, "v02 message header %s: name not valid UTF-8",
                          sr_err_quote(name, shown, sizeof shown));
    }
    return SR_OK;
}

/* sum `L,<hex>` `R,..` `m,..` `r,..`: file operations, not identities. */
static int decode_sum(const sr_wire *in, json_t *o, sr_err *err)
{
    const char *sum = header(in, "sum");
    if (sum == NULL)
        return SR_OK;
    json_t *op = NULL;
    switch (sum[0]) {
    case 'L': {
        const char *link = header(in, "link");
        if (link == NULL)
            return sr_err_set(err, SR_EINVAL, false,
                              "v02 message header sum \"L,...\": a link without a link header");
        op = json_pack("{s:s}", "link", link);
        break;
    }
    case 'R':
        op = json_pack("{s:s}", "remove", "");
        break;
    case 'm':
        op = json_pack("{s:s}", "directory", "");
        break;
    case 'r':
        op = json_pack("{s:s, s:s}", "remove", "", "directory", "");
        break;
    case 'n': /* md5 of the name: v03 has no identity for it */
        return SR_OK;
    default: {
        sr_identity id;
        sr_err why;
        bool no_identity = false;
        if (sr_identity_from_v02(sum, &id, &no_identity, &why) != SR_OK)
            return sr_err_set(err, SR_EINVAL, false, "v02 message header sum: %s", why.msg);
        if (!no_identity)
            json_object_set_new(o, "identity",
                                json_pack("{s:s, s:s}", "method",
                                          sr_identity_method_name(id.method), "value", id.value));
        return SR_OK;
    }
    }
    if (op == NULL)
        return sr_err_set(err, SR_EINVAL, false, "v02 message header link: not valid UTF-8");
    json_object_set_new(o, "fileOp", op);
    return SR_OK;
}

/* Are the four numbers after parts' letter plain decimal digits, 1 to 18 each? (sscanf
 * alone would take signs, spaces and values past long long.) */
static bool parts_numbers_plain(const char *p)
{
    int numbers = 0;
    while (*p == ',') {
        size_t n = strspn(++p, "0123456789");
        if (n == 0 || n > 18)
            return false;
        p += n;
        numbers++;
    }
    return *p == '\0' && numbers == 4;
}

/* parts `1,<size>,1,0,0` (whole file) or `i|p,<block size>,<count>,<remainder>,<number>`. */
int sr_msg_decode_parts(const char *what, const char *parts, json_t *o, sr_err *err)
{
    char kind[2] = "";
    long long bsz, count, rem, number;
    int used = 0;
    if (!parts_numbers_plain(parts + (parts[0] != '\0')) ||
        sscanf(parts, "%1[1ip],%lld,%lld,%lld,%lld%n", kind, &bsz, &count, &rem, &number, &used) !=
            5 ||
        parts[used] != '\0' || bsz < 0 || count < 1 || rem < 0 || number < 0 || number >= count) {
        char shown[SR_QUOTE_BUF];
        sr_err_quote(parts, shown, sizeof shown);
        return sr_err_set(err, SR_EINVAL, false,
                          "%s %s: not 1,<size>,1,0,0 or "
                          "i|p,<block size>,<count>,<remainder>,<number>",
                          what, shown);
    }
    if (kind[0] == '1') {
        json_object_set_new(o, "size", json_integer(bsz));
        return SR_OK;
    }
    long long this_size = (number == count - 1 && rem > 0) ? rem : bsz;
    json_object_set_new(o, "size", json_integer(this_size));
    /* count and remainder kept (as sarrac sends them) so the message can go out as v02
     * again without a manifest to derive them from */
    json_object_set_new(o, "blocks",
                        json_pack("{s:s, s:I, s:I, s:I, s:I}", "method",
                                  kind[0] == 'i' ? "inplace" : "partitioned", "size",
                                  (json_int_t)bsz, "number", (json_int_t)number, "count",
                                  (json_int_t)count, "remainder", (json_int_t)rem));
    return SR_OK;
}

/* Headers that become something else in v03, or that v03 does not carry. */
static bool converted_header(const char *name)
{
    static const char *const names[] = {"sum", "parts", "mtime", "atime", "oldname", "link"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static int decode_headers(const sr_wire *in, json_t *o, sr_err *err)
{
    for (size_t i = 0; i < in->header_count; i++) {
        const char *name = in->headers[i].name, *value = in->headers[i].value;
        if (name == NULL)
            continue;
        /* A broker's header that text cannot carry whole (brokerhdr_impl.h) comes cut
         * past these bounds, or with no value when it held a NUL byte. */
        if (strlen(name) > SR_MSG_HEADER_MAX) {
            char shown[SR_QUOTE_BUF];
            return sr_err_set(err, SR_EINVAL, false,
                              "v02 message header %s: name longer than %d bytes",
                              sr_err_quote(name, shown, sizeof shown), SR_MSG_HEADER_MAX);
        }
        if (value == NULL)
            return sr_err_set(err, SR_EINVAL, false, "v02 message header %.64s: holds a NUL byte",
                              name);
        if (strlen(value) > SR_MSG_HEADER_TEXT_MAX)
            return sr_err_set(err, SR_EINVAL, false,
                              "v02 message header %.64s: longer than %d bytes", name,
                              SR_MSG_HEADER_TEXT_MAX);
        int rc = SR_OK;
        if (strcmp(name, "mtime") == 0 || strcmp(name, "atime") == 0)
            rc = set_string(o, name, time_v02_to_v03(value), err);
        else if (strcmp(name, "parts") == 0)
            rc = sr_msg_decode_parts("v02 message header parts", value, o, err);
        else if (!converted_header(name))
            rc = set_string(o, name, strdup(value), err);
        if (rc != SR_OK)
            return rc;
    }
    int rc = decode_sum(in, o, err);
    const char *oldname = header(in, "oldname");
    if (rc == SR_OK && oldname != NULL) {
        json_t *op = json_object_get(o, "fileOp");
        if (op == NULL) {
            op = json_object();
            json_object_set_new(o, "fileOp", op);
        }
        if (op == NULL || json_object_set_new(op, "rename", json_string(oldname)) != 0)
            rc = sr_err_set(err, SR_EINVAL, false, "v02 message header oldname: not valid UTF-8");
    }
    if (rc == SR_OK && json_object_get(o, "to_clusters") == NULL)
        json_object_set_new(o, "to_clusters", json_string("ALL"));
    return rc;
}

int sr_msg_decode_v02(const sr_wire *in, sr_message **out, sr_err *err)
{
    *out = NULL;
    if (in->body_len > SR_MSG_BODY_MAX)
        return sr_err_set(err, SR_EINVAL, false, "v02 message of %zu bytes: longer than %u",
                          in->body_len, SR_MSG_BODY_MAX);
    if (memchr(in->body, '\0', in->body_len) != NULL)
        return sr_err_set(err, SR_EINVAL, false, "v02 message body: holds a NUL byte");
    char *body = strndup(in->body, in->body_len);
    if (body == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    /* sarrac ends the line with " \n" */
    size_t n = strlen(body);
    while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
        body[--n] = '\0';
    char *words[4] = {NULL};
    int count = 0;
    char *save = NULL;
    for (char *w = strtok_r(body, " ", &save); w && count < 4; w = strtok_r(NULL, " ", &save))
        words[count++] = w;
    json_t *o = json_object();
    int rc = SR_OK;
    if (o == NULL) {
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    } else if (count != 3) {
        char shown[SR_QUOTE_BUF];
        sr_err_quote_n(in->body, in->body_len, shown, sizeof shown); /* not NUL-terminated */
        rc = sr_err_set(err, SR_EINVAL, false,
                        "v02 message body %s: not \"pubTime baseUrl relPath\"", shown);
    } else {
        rc = set_string(o, "pubTime", time_v02_to_v03(words[0]), err);
        if (rc == SR_OK)
            rc = set_string(o, "baseUrl", unescape_field(words[1]), err);
        if (rc == SR_OK)
            rc = set_string(o, "relPath", unescape_field(words[2]), err);
        if (rc == SR_OK)
            rc = decode_headers(in, o, err);
        if (rc == SR_OK)
            rc = sr_msg_check_all(o, err);
    }
    free(body);
    if (rc != SR_OK) {
        json_decref(o);
        return rc;
    }
    *out = sr_msg_wrap(o);
    return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

/* ---- encoding ---- */

typedef struct headers {
    sr_header *items;
    size_t count, cap;
} headers;

/* Add a header, taking value (malloc'd). Refuses values past AMQP's 255 bytes. */
static int add_header(headers *h, const char *name, char *value, sr_err *err)
{
    if (value == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (strlen(value) > SR_MSG_HEADER_MAX) {
        free(value);
        return sr_err_set(err, SR_EINVAL, false,
                          "v02 message header %s: longer than %d bytes (AMQP's limit); send "
                          "this message as v03",
                          name, SR_MSG_HEADER_MAX);
    }
    if (h->count == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        sr_header *grown = realloc(h->items, cap * sizeof *grown);
        if (grown == NULL) {
            free(value);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        h->items = grown;
        h->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        free(value);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    h->items[h->count++] = (sr_header){copy, value};
    return SR_OK;
}

static int encode_sum(const sr_message *m, headers *h, sr_err *err)
{
    sr_fileop op;
    char hex[129];
    const char *rel = sr_message_rel_path(m);
    if (sr_message_fileop(m, &op) && (op.link || op.remove || op.directory)) {
        char letter = op.link ? 'L' : op.remove && op.directory ? 'r' : op.remove ? 'R' : 'm';
        const char *named = op.link ? op.link : basename_of(rel);
        int rc = sr_identity_hex_of(SR_ID_SHA512, named, strlen(named), hex, sizeof hex, err);
        if (rc == SR_OK)
            rc = add_header(h, "sum", sr_strdup_printf("%c,%s", letter, hex), err);
        if (rc == SR_OK && op.link)
            rc = add_header(h, "link", strdup(op.link), err);
        return rc;
    }
    sr_identity id;
    /* WIS2's digests (sha256, sha3-...) have no v02 letter: such a file goes as one with no
     * identity, named by the md5 of its name, rather than not at all */
    if (!sr_message_identity(m, &id) ||
        (sr_identity_is_digest(id.method) && id.method != SR_ID_SHA512 && id.method != SR_ID_MD5)) {
        const char *base = basename_of(rel);
        int rc = sr_identity_hex_of(SR_ID_MD5, base, strlen(base), hex, sizeof hex, err);
        return rc != SR_OK ? rc : add_header(h, "sum", sr_strdup_printf("n,%s", hex), err);
    }
    char sum[SR_IDENTITY_V02_MAX];
    sr_err why;
    if (sr_identity_to_v02(&id, sum, sizeof sum, &why) != SR_OK)
        return sr_err_set(err, SR_EINVAL, false, "v02 message header sum: %s", why.msg);
    return add_header(h, "sum", strdup(sum), err);
}

static int encode_parts(const sr_message *m, headers *h, sr_err *err)
{
    long long size;
    if (!sr_message_size(m, &size))
        return SR_OK;
    sr_blocks b;
    if (!sr_message_blocks(m, &b))
        return add_header(h, "parts", sr_strdup_printf("1,%lld,1,0,0", size), err);
    long long count = (long long)b.manifest_count, rem = 0, last;
    const char *ignored;
    const json_t *blocks = json_object_get(m->fields, "blocks");
    if (count > 0) {
        if (sr_message_block(m, (size_t)count - 1, &last, &ignored) && last != b.block_size)
            rem = last;
    } else if (!sr_msg_json_count(json_object_get(blocks, "count"), &count) ||
               !sr_msg_json_count(json_object_get(blocks, "remainder"), &rem)) {
        /* neither manifest nor count (sarrac v03): this block is the last one known */
        count = b.number + 1;
        rem = size != b.block_size ? size : 0;
    }
    return add_header(h, "parts",
                      sr_strdup_printf("%c,%lld,%lld,%lld,%lld",
                                       strcmp(b.method, "partitioned") == 0 ? 'p' : 'i',
                                       b.block_size, count, rem, b.number),
                      err);
}

/* Fields that are in the body, or become sum/parts/oldname, or that v02 cannot carry. */
static bool not_a_header(const char *name)
{
    static const char *const names[] = {"pubTime", "baseUrl", "relPath", "identity", "size",
                                        "blocks",  "fileOp",  "content", "topic"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static int encode_headers(const sr_message *m, headers *h, sr_err *err)
{
    const char *name;
    json_t *value;
    int rc = encode_sum(m, h, err);
    if (rc == SR_OK)
        rc = encode_parts(m, h, err);
    sr_fileop op;
    if (rc == SR_OK && sr_message_fileop(m, &op) && op.rename)
        rc = add_header(h, "oldname", strdup(op.rename), err);
    json_object_foreach(m->fields, name, value)
    {
        if (rc != SR_OK)
            break;
        if (not_a_header(name))
            continue;
        if (strcmp(name, "mtime") == 0 || strcmp(name, "atime") == 0)
            rc = add_header(h, name, time_v03_to_v02(json_string_value(value)), err);
        else if (json_is_string(value))
            rc = add_header(h, name, strdup(json_string_value(value)), err);
        else /* a user's field that is not a string travels as its JSON text */
            rc = add_header(h, name, json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY), err);
    }
    return rc;
}

int sr_msg_encode_v02(const sr_message *m, sr_encoded *out, sr_err *err)
{
    headers h = {0};
    char *t = time_v03_to_v02(sr_message_pub_time(m));
    char *base = escape_field(sr_message_base_url(m));
    char *rel = escape_field(sr_message_rel_path(m));
    int rc = t && base && rel ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK && asprintf(&out->body, "%s %s %s", t, base, rel) < 0) {
        out->body = NULL;
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(t);
    free(base);
    free(rel);
    if (rc == SR_OK)
        rc = encode_headers(m, &h, err);
    out->headers = h.items;
    out->header_count = h.count;
    if (rc != SR_OK) {
        sr_encoded_fini(out);
        return rc;
    }
    out->body_len = strlen(out->body);
    out->content_type = "text/plain";
    return SR_OK;
}
