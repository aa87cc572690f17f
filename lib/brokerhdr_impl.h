/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * brokerhdr: the headers a broker hands over with a message (AMQP application headers of
 * any field type; MQTT 5 user properties and content type) made into the text headers
 * (sr_header) that message.h decodes. Not installed, not public: broker_amqp.c and
 * broker_mqtt.c use it; test/unit/test_brokerhdr.c and test/fuzz/fuzz_headers.c reach it
 * here.
 *
 * Headers come from whoever published the message, so every text made here is bounded,
 * whatever the broker passed on:
 *  - a value's text is cut one byte past SR_MSG_HEADER_TEXT_MAX, the most the v02 decoder
 *    takes: the decoder then refuses the message, naming the header, as it refuses such a
 *    value from anywhere, so a cut value is never taken for a whole one;
 *  - a name is cut one byte past SR_MSG_HEADER_MAX, which the decoder refuses likewise;
 *  - AMQP arrays and tables nested deeper than SR_BROKERHDR_DEPTH_MAX are written "[...]"
 *    and "{...}" (no header sr or sr3 reads is nested at all);
 *  - a NUL byte in a name or a value (AMQP long strings, byte strings and keys may hold
 *    one) leaves the name cut there and the value NULL, which the decoder refuses, naming
 *    the header: C text cannot carry the byte, and a value cut at it would be another value.
 * Other bytes are passed as they are: the decoder refuses a value that is not UTF-8.
 *
 * AMQP field values become text as sr3 would see them: strings and byte strings as they
 * are; booleans as true/false; integers, timestamps (seconds since 1970) and decimals as
 * decimal text (a decimal exactly, its scale's digits after the point); f32 and f64 with
 * the digits that round-trip; void as ""; arrays as [a,b]; tables as {key=value,...}.
 */
#ifndef SR_BROKERHDR_IMPL_H
#define SR_BROKERHDR_IMPL_H

#include <amqp.h>
#include <mosquitto.h>
#include <stddef.h>

#include "error.h"
#include "message.h"

/* Most arrays and tables one AMQP header value may hold inside each other. */
#define SR_BROKERHDR_DEPTH_MAX 8

/* The text of one AMQP field value, snprintf style: writes at most size bytes (the NUL
 * included) to out (NULL when size is 0) and returns the length of the text, which is
 * never more than SR_MSG_HEADER_TEXT_MAX + 1 (a longer text is cut there). *nul (when not
 * NULL) says whether the text kept holds a NUL byte. */
size_t sr_brokerhdr__amqp_value(const amqp_field_value_t *v, char *out, size_t size, bool *nul);

/* The entries of an AMQP headers table (NULL: none) as *count headers, in one new
 * allocation holding their text too (*headers; free() it; NULL when there are none).
 * SR_OK, or SR_ENOMEM. */
int sr_brokerhdr__amqp(const amqp_table_t *table, sr_header **headers, size_t *count, sr_err *err);

/* The user properties of an MQTT 5 PUBLISH (props may be NULL), likewise. */
int sr_brokerhdr__mqtt(const mosquitto_property *props, sr_header **headers, size_t *count,
                       sr_err *err);

/* The content type property of an MQTT 5 PUBLISH, cut after SR_MSG_HEADER_MAX bytes (only
 * its start is read), as a new string; NULL when it has none (or out of memory: the body
 * then decides the format, as for an MQTT 3.1.1 message). */
char *sr_brokerhdr__mqtt_content_type(const mosquitto_property *props);

#endif
