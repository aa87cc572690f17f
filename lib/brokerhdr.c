/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * brokerhdr: see brokerhdr_impl.h.
 *
 * Every text is written through one bounded writer (struct text) that keeps at most one
 * byte past its limit and stops the walk once there, so neither the bytes a value takes
 * on the wire nor its nesting decide how much is read, copied or allocated: a decimal's
 * 255 digits, a table of a thousand voids or a 100 KB string all cost at most the limit.
 * Headers are made in two passes over the same walk (measure, then write into one
 * allocation), as the AMQP delivery that holds them is itself one allocation.
 */
#include "brokerhdr_impl.h"

#include <inttypes.h>
#include <mqtt_protocol.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal's text: up to 10 digits of its 32-bit value, a point, and up to 255 digits
 * after it (a "0." in front when the scale is larger than the digits). */
#define DECIMAL_TEXT_MAX (2 + UINT8_MAX + 1)

typedef struct text {
    char *out;    /* where the text goes, or NULL to measure it only */
    size_t len;   /* bytes so far, never more than limit + 1 */
    size_t limit; /* bytes a whole text may have; one more says it was cut */
    bool nul;     /* a NUL byte is among the bytes kept */
} text;

static bool full(const text *t)
{
    return t->len > t->limit;
}

static void put(text *t, const void *s, size_t n)
{
    size_t room = t->limit + 1 - t->len;
    if (n > room)
        n = room;
    if (n == 0)
        return;
    if (memchr(s, '\0', n) != NULL)
        t->nul = true;
    if (t->out != NULL)
        memcpy(t->out + t->len, s, n);
    t->len += n;
}

static void put_str(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* value / 10^scale, exactly: no binary floating point between the wire and the text. */
static size_t decimal_text(uint32_t value, uint8_t scale, char buf[DECIMAL_TEXT_MAX])
{
    char digits[16];
    size_t n = (size_t)snprintf(digits, sizeof digits, "%" PRIu32, value);
    if (scale == 0) {
        memcpy(buf, digits, n);
        return n;
    }
    size_t at = 0;
    if (n <= scale) {
        buf[at++] = '0';
        buf[at++] = '.';
        memset(buf + at, '0', scale - n);
        at += scale - n;
        memcpy(buf + at, digits, n);
        return at + n;
    }
    memcpy(buf, digits, n - scale);
    at = n - scale;
    buf[at++] = '.';
    memcpy(buf + at, digits + n - scale, scale);
    return at + scale;
}

/* snprintf's text of a number, never more than its buffer holds. */
static void put_number(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_number(text *t, const char *fmt, ...)
{
    char num[64]; /* a 64-bit integer or a %.17g double needs 24 */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(num, sizeof num, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(t, num, (size_t)n < sizeof num ? (size_t)n : sizeof num - 1);
}

/* The text of v, inside depth arrays and tables. */
static void field(text *t, const amqp_field_value_t *v, int depth)
{
    switch (v->kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        put(t, v->value.bytes.bytes, v->value.bytes.len);
        break;
    case AMQP_FIELD_KIND_BOOLEAN:
        put_str(t, v->value.boolean ? "true" : "false");
        break;
    case AMQP_FIELD_KIND_I8:
        put_number(t, "%d", v->value.i8);
        break;
    case AMQP_FIELD_KIND_U8:
        put_number(t, "%u", v->value.u8);
        break;
    case AMQP_FIELD_KIND_I16:
        put_number(t, "%d", v->value.i16);
        break;
    case AMQP_FIELD_KIND_U16:
        put_number(t, "%u", v->value.u16);
        break;
    case AMQP_FIELD_KIND_I32:
        put_number(t, "%" PRId32, v->value.i32);
        break;
    case AMQP_FIELD_KIND_U32:
        put_number(t, "%" PRIu32, v->value.u32);
        break;
    case AMQP_FIELD_KIND_I64:
        put_number(t, "%" PRId64, v->value.i64);
        break;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        put_number(t, "%" PRIu64, v->value.u64);
        break;
    case AMQP_FIELD_KIND_F32:
        put_number(t, "%.9g", (double)v->value.f32);
        break;
    case AMQP_FIELD_KIND_F64:
        put_number(t, "%.17g", v->value.f64);
        break;
    case AMQP_FIELD_KIND_DECIMAL: {
        char buf[DECIMAL_TEXT_MAX];
        size_t n = decimal_text(v->value.decimal.value, v->value.decimal.decimals, buf);
        put(t, buf, n);
        break;
    }
    case AMQP_FIELD_KIND_ARRAY:
        if (depth >= SR_BROKERHDR_DEPTH_MAX) {
            put_str(t, "[...]");
            break;
        }
        put_str(t, "[");
        for (int i = 0; i < v->value.array.num_entries && !full(t); i++) {
            if (i > 0)
                put_str(t, ",");
            field(t, &v->value.array.entries[i], depth + 1);
        }
        put_str(t, "]");
        break;
    case AMQP_FIELD_KIND_TABLE:
        if (depth >= SR_BROKERHDR_DEPTH_MAX) {
            put_str(t, "{...}");
            break;
        }
        put_str(t, "{");
        for (int i = 0; i < v->value.table.num_entries && !full(t); i++) {
            const amqp_table_entry_t *e = &v->value.table.entries[i];
            if (i > 0)
                put_str(t, ",");
            put(t, e->key.bytes, e->key.len);
            put_str(t, "=");
            field(t, &e->value, depth + 1);
        }
        put_str(t, "}");
        break;
    default: /* void, and any kind rabbitmq-c may add: no text */
        break;
    }
}

size_t sr_brokerhdr__amqp_value(const amqp_field_value_t *v, char *out, size_t size, bool *nul)
{
    /* Written whole into a scratch buffer first, so out may be any size, snprintf style. */
    char scratch[SR_MSG_HEADER_TEXT_MAX + 2] = "";
    text t = {.out = scratch, .limit = SR_MSG_HEADER_TEXT_MAX};
    field(&t, v, 0);
    if (out != NULL && size > 0) {
        size_t n = t.len < size ? t.len : size - 1;
        memcpy(out, scratch, n);
        out[n] = '\0';
    }
    if (nul != NULL)
        *nul = t.nul;
    return t.len;
}

/* ---- headers in one allocation ---- */

/* How to write header i's name and value of some source (an AMQP table, a list of MQTT
 * user properties) into a text. */
typedef struct source {
    const void *items;
    size_t count;
    void (*name)(text *t, const void *items, size_t i);
    void (*value)(text *t, const void *items, size_t i);
} source;

/* Most bytes one header takes: its entry, its name and value, each cut one past its limit,
 * with their NULs. */
#define HEADER_BYTES_MAX (sizeof(sr_header) + SR_MSG_HEADER_MAX + 2 + SR_MSG_HEADER_TEXT_MAX + 2)

static int assemble(const source *src, sr_header **headers, size_t *count, sr_err *err)
{
    *headers = NULL;
    *count = 0;
    if (src->count == 0)
        return SR_OK;
    if (src->count > SIZE_MAX / HEADER_BYTES_MAX)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory: %zu headers", src->count);
    size_t size = src->count * sizeof(sr_header);
    for (size_t i = 0; i < src->count; i++) {
        text name = {.limit = SR_MSG_HEADER_MAX}, value = {.limit = SR_MSG_HEADER_TEXT_MAX};
        src->name(&name, src->items, i);
        src->value(&value, src->items, i);
        size += name.len + 1 + value.len + 1;
    }
    sr_header *h = malloc(size);
    if (h == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    char *at = (char *)(h + src->count);
    for (size_t i = 0; i < src->count; i++) {
        text name = {.out = at, .limit = SR_MSG_HEADER_MAX};
        src->name(&name, src->items, i);
        at[name.len] = '\0'; /* a NUL kept inside cuts the name there, as wanted */
        h[i].name = at;
        at += name.len + 1;
        text value = {.out = at, .limit = SR_MSG_HEADER_TEXT_MAX};
        src->value(&value, src->items, i);
        at[value.len] = '\0';
        h[i].value = name.nul || value.nul ? NULL : at;
        at += value.len + 1;
    }
    *headers = h;
    *count = src->count;
    return SR_OK;
}

/* ---- AMQP ---- */

static void amqp_name(text *t, const void *items, size_t i)
{
    const amqp_table_entry_t *e = (const amqp_table_entry_t *)items + i;
    put(t, e->key.bytes, e->key.len);
}

static void amqp_value(text *t, const void *items, size_t i)
{
    field(t, &((const amqp_table_entry_t *)items + i)->value, 0);
}

int sr_brokerhdr__amqp(const amqp_table_t *table, sr_header **headers, size_t *count, sr_err *err)
{
    source src = {.name = amqp_name, .value = amqp_value};
    if (table != NULL && table->num_entries > 0) {
        src.items = table->entries;
        src.count = (size_t)table->num_entries;
    }
    return assemble(&src, headers, count, err);
}

/* ---- MQTT 5 ---- */

typedef struct mqtt_pair {
    char *name, *value;
} mqtt_pair;

static void mqtt_name(text *t, const void *items, size_t i)
{
    put_str(t, ((const mqtt_pair *)items)[i].name);
}

static void mqtt_value(text *t, const void *items, size_t i)
{
    put_str(t, ((const mqtt_pair *)items)[i].value);
}

int sr_brokerhdr__mqtt(const mosquitto_property *props, sr_header **headers, size_t *count,
                       sr_err *err)
{
    /* libmosquitto hands a property's strings over only as copies: take them all, then
     * make the headers from them. */
    size_t n = 0, cap = 0;
    mqtt_pair *pairs = NULL;
    int rc = SR_OK;
    for (const mosquitto_property *p = props; p != NULL && rc == SR_OK;
         p = mosquitto_property_next(p)) {
        if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY)
            continue;
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 8;
            mqtt_pair *grown = realloc(pairs, grown_cap * sizeof *grown);
            if (grown == NULL) {
                rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                break;
            }
            pairs = grown;
            cap = grown_cap;
        }
        char *name = NULL, *value = NULL;
        if (mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, false) ==
                NULL ||
            name == NULL || value == NULL) {
            free(name);
            free(value);
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
        pairs[n++] = (mqtt_pair){name, value};
    }
    if (rc == SR_OK) {
        source src = {.items = pairs, .count = n, .name = mqtt_name, .value = mqtt_value};
        rc = assemble(&src, headers, count, err);
    }
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return rc;
}

char *sr_brokerhdr__mqtt_content_type(const mosquitto_property *props)
{
    char *type = NULL;
    if (props == NULL ||
        mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &type, false) == NULL)
        return NULL;
    if (type != NULL && strlen(type) > SR_MSG_HEADER_MAX)
        type[SR_MSG_HEADER_MAX] = '\0';
    return type;
}
