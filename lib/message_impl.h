/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message_impl: what message.c and message_v02.c share. Not installed, not public: the
 * module's API is message.h.
 */
#ifndef SR_MESSAGE_IMPL_H
#define SR_MESSAGE_IMPL_H

#include <jansson.h>

#include "message.h"

struct sr_message {
    json_t *fields;       /* the wire fields, v03 names */
    char *received_topic; /* the topic it arrived with (unescaped), or NULL */
};

/* Take ownership of a checked object; NULL (and fields released) when out of memory. */
sr_message *sr_msg_wrap(json_t *fields);

/* Check every known field of o (renaming retPath/integrity first) and require the three
 * mandatory ones; normalise size to an integer. */
int sr_msg_check_all(json_t *o, sr_err *err);

int sr_msg_check_string(const char *field, const char *value, size_t max, sr_err *err);
int sr_msg_check_path(const char *field, const char *value, sr_err *err);
bool sr_msg_json_count(const json_t *v, long long *out);

/* A v02 `parts` value into o's size (and blocks, for a block of a file); what names it in
 * the error ("v02 message header parts", "message field parts"). */
int sr_msg_decode_parts(const char *what, const char *parts, json_t *o, sr_err *err);

/* The v02 half (message_v02.c). */
int sr_msg_decode_v02(const sr_wire *in, sr_message **out, sr_err *err);
int sr_msg_encode_v02(const sr_message *m, sr_encoded *out, sr_err *err);

/* The WIS2 half (message_wis.c). Decoding takes o (a parsed JSON object that is a WNM by
 * its content, sr_msg_looks_wnm), releasing it whatever happens; *out holds its mapping
 * onto sr's fields (message.h). */
bool sr_msg_looks_wnm(const json_t *o);
int sr_msg_decode_wis(json_t *o, sr_message **out, sr_err *err);
int sr_msg_encode_wis(const sr_message *m, sr_encoded *out, sr_err *err);

#endif
