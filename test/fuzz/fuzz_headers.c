/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_headers: libFuzzer target for what a broker's headers go through before they are
 * a message: an AMQP header frame decoded by rabbitmq-c, or MQTT 5 properties built with
 * libmosquitto; then lib/brokerhdr.c (their text, brokerhdr_impl.h) and on into
 * sr_message_decode as a v02 message carrying them, and the encoders after it.
 *
 * Input scheme: the first byte's low bit picks the protocol; the rest is
 *   AMQP (even)  the content of an application headers table: entries of
 *                KEYLEN KEY KIND VALUE as on the wire (AMQP 0-9-1 field tables, rabbitmq-c's
 *                kind letters). The target wraps it in a whole content header frame (class
 *                basic, content type text/plain, the headers flag, the table's 32-bit size
 *                = the rest's length) and hands the frame to amqp_handle_input, rabbitmq-c's
 *                public frame decoder: the bytes take the path a broker's bytes take.
 *   MQTT (odd)   a list of properties, each OP then its operands (lengths big-endian, each
 *                cut to what is left of the input):
 *                  OP % 6 = 0  user property: NAMELEN(1) NAME VALUELEN(2) VALUE
 *                           1  content type: LEN(2) TEXT
 *                           2  payload format indicator: BYTE
 *                           3  message expiry interval: 4 bytes
 *                           4  correlation data: LEN(2) BYTES
 *                           5  response topic: LEN(2) TEXT
 *                added with mosquitto_property_add_* (which refuses what is not UTF-8, as
 *                libmosquitto does on receipt; such a property is left out).
 * The message body is a fixed, valid v02 body. test/fuzz/make-corpus.sh writes the seeds.
 *
 * Invariants checked (abort): every header's name is at most SR_MSG_HEADER_MAX + 1 bytes
 * and its value NULL or at most SR_MSG_HEADER_TEXT_MAX + 1; an AMQP value's text, asked
 * for with a short buffer, is cut there and its length is the whole text's; decoding
 * returns a message or an error and NULL; a message that decodes encodes to v03 and that
 * encoding decodes again; encoding back to v02 works or fails cleanly.
 */
#include "brokerhdr_impl.h"
#include "message.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char body[] = "20261125210405.123 https://example.com/data/ a/b.txt";

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_headers: %s: %s\n", what, detail);
    abort();
}

static void check_headers(const sr_header *h, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (h[i].name == NULL)
            fail("a header without a name", "");
        if (strlen(h[i].name) > SR_MSG_HEADER_MAX + 1)
            fail("a name past its bound", h[i].name);
        if (h[i].value != NULL && strlen(h[i].value) > SR_MSG_HEADER_TEXT_MAX + 1)
            fail("a value past its bound", h[i].name);
    }
}

/* Decode the fixed body with these headers, and encode what decodes, as fuzz_v02 does. */
static void decode(const sr_header *h, size_t count, const char *content_type)
{
    sr_wire wire = {.body = body,
                    .body_len = sizeof body - 1,
                    .content_type = content_type,
                    .headers = h,
                    .header_count = count};
    sr_message *m = NULL;
    sr_err err = {0};
    if (sr_message_decode(&wire, &m, &err) != SR_OK) {
        if (m != NULL)
            fail("failed decode left a message behind", err.msg);
        return;
    }
    if (m == NULL)
        fail("decode returned SR_OK without a message", "");
    sr_encoded v03 = {0};
    if (sr_message_encode(m, SR_FORMAT_V03, &v03, &err) != SR_OK)
        fail("a decoded message does not encode to v03", err.msg);
    sr_message *again = NULL;
    if (sr_message_decode_v03(v03.body, v03.body_len, &again, &err) != SR_OK)
        fail("the v03 encoding does not decode", err.msg);
    sr_message_free(again);
    sr_encoded_fini(&v03);
    sr_encoded v02 = {0};
    if (sr_message_encode(m, SR_FORMAT_V02, &v02, &err) != SR_OK && v02.body != NULL)
        fail("failed v02 encoding left a body behind", err.msg);
    sr_encoded_fini(&v02);
    sr_message_free(m);
}

/* ---- AMQP ---- */

/* v in bytes big-endian bytes at p; returns the byte after them. */
static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return p + bytes;
}

/* The snprintf contract of sr_brokerhdr__amqp_value, on a value rabbitmq-c decoded. */
static void check_value_text(const amqp_field_value_t *v)
{
    char small[8], whole[SR_MSG_HEADER_TEXT_MAX + 2];
    bool nul = false;
    size_t n = sr_brokerhdr__amqp_value(v, NULL, 0, NULL);
    if (n > SR_MSG_HEADER_TEXT_MAX + 1)
        fail("a value's text past its bound", "");
    if (sr_brokerhdr__amqp_value(v, whole, sizeof whole, &nul) != n)
        fail("a value's length depends on the buffer", "");
    if (!nul && strlen(whole) != n)
        fail("a value's text is not its length", whole);
    memset(small, 'Z', sizeof small);
    if (sr_brokerhdr__amqp_value(v, small, sizeof small, NULL) != n)
        fail("a value's length depends on the buffer", "");
    if (memchr(small, '\0', sizeof small) == NULL)
        fail("a short buffer is left without its NUL", "");
}

static void amqp(const uint8_t *table, size_t len)
{
    static const char type[] = "text/plain";
    /* frame header (7), class and weight (4), body size (8), flags (2), content type
     * (1 + its text), table size (4), the table, frame end (1) */
    size_t payload = 4 + 8 + 2 + 1 + (sizeof type - 1) + 4 + len;
    size_t frame_len = 7 + payload + 1;
    if (payload > UINT32_MAX)
        return;
    uint8_t *frame = malloc(frame_len);
    if (frame == NULL)
        return;
    uint8_t *p = frame;
    *p++ = AMQP_FRAME_HEADER;
    p = put_be(p, 1, 2); /* channel */
    p = put_be(p, payload, 4);
    p = put_be(p, AMQP_BASIC_CLASS, 2);
    p = put_be(p, 0, 2); /* weight */
    p = put_be(p, sizeof body - 1, 8);
    p = put_be(p, AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG, 2);
    *p++ = (uint8_t)(sizeof type - 1);
    memcpy(p, type, sizeof type - 1);
    p += sizeof type - 1;
    p = put_be(p, len, 4);
    if (len > 0)
        memcpy(p, table, len);
    p += len;
    *p = AMQP_FRAME_END;

    amqp_connection_state_t conn = amqp_new_connection();
    if (conn == NULL) {
        free(frame);
        return;
    }
    amqp_frame_t f;
    memset(&f, 0, sizeof f);
    int got = amqp_handle_input(conn, (amqp_bytes_t){frame_len, frame}, &f);
    if (got >= 0 && f.frame_type == AMQP_FRAME_HEADER) {
        const amqp_basic_properties_t *props = f.payload.properties.decoded;
        const amqp_table_t *h = (props->_flags & AMQP_BASIC_HEADERS_FLAG) ? &props->headers : NULL;
        for (int i = 0; h != NULL && i < h->num_entries; i++)
            check_value_text(&h->entries[i].value);
        sr_header *headers = NULL;
        size_t count = 0;
        if (sr_brokerhdr__amqp(h, &headers, &count, NULL) == SR_OK) {
            check_headers(headers, count);
            decode(headers, count, type);
            free(headers);
        }
    }
    amqp_destroy_connection(conn);
    free(frame);
}

/* ---- MQTT 5 ---- */

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static size_t left(const reader *r)
{
    return (size_t)(r->end - r->p);
}

static uint32_t take_be(reader *r, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes && r->p < r->end; i++)
        v = v << 8 | *r->p++;
    return v;
}

/* The next len bytes (cut to what is left) as a new string: a NUL among them ends it, as
 * libmosquitto's strings end there too. */
static char *take_text(reader *r, size_t len)
{
    if (len > left(r))
        len = left(r);
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, r->p, len);
    s[len] = '\0';
    r->p += len;
    return s;
}

static void mqtt(const uint8_t *data, size_t len)
{
    reader r = {data, data + len};
    mosquitto_property *props = NULL;
    while (left(&r) > 0) {
        uint8_t op = *r.p++;
        switch (op % 6) {
        case 0: {
            char *name = take_text(&r, take_be(&r, 1));
            char *value = name ? take_text(&r, take_be(&r, 2)) : NULL;
            if (name != NULL && value != NULL)
                mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, name, value);
            free(name);
            free(value);
            break;
        }
        case 1:
        case 5: {
            char *text = take_text(&r, take_be(&r, 2));
            if (text != NULL)
                mosquitto_property_add_string(
                    &props, op % 6 == 1 ? MQTT_PROP_CONTENT_TYPE : MQTT_PROP_RESPONSE_TOPIC, text);
            free(text);
            break;
        }
        case 2:
            mosquitto_property_add_byte(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR,
                                        (uint8_t)take_be(&r, 1));
            break;
        case 3:
            mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, take_be(&r, 4));
            break;
        case 4: {
            size_t n = take_be(&r, 2);
            if (n > left(&r))
                n = left(&r);
            mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, r.p, (uint16_t)n);
            r.p += n;
            break;
        }
        }
    }
    sr_header *headers = NULL;
    size_t count = 0;
    char *type = sr_brokerhdr__mqtt_content_type(props);
    if (type != NULL && strlen(type) > SR_MSG_HEADER_MAX)
        fail("a content type past its bound", type);
    if (sr_brokerhdr__mqtt(props, &headers, &count, NULL) == SR_OK) {
        check_headers(headers, count);
        decode(headers, count, type);
        free(headers);
    }
    free(type);
    mosquitto_property_free_all(&props);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        mqtt(data + 1, size - 1);
    else
        amqp(data + 1, size - 1);
    return 0;
}
