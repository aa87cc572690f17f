/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message: one notification message, read from and written to the wire in sr3's v03 (JSON
 * body) and v02 (text body + headers) formats, and as WMO WIS2 Notification Messages (WNM
 * 1.0, a GeoJSON Feature; message_wis.c) (sr-message(7)).
 *
 * A message holds its wire fields under their v03 names, in a JSON object: the fields sr
 * knows are checked when the message is decoded and read through the typed getters below;
 * fields sr does not know are kept and written out again untouched, as relays must. The
 * time strings are kept as received, so a relay passes on sr3's exact bytes.
 *
 * Decoding is where hostile input stops. Every known field is checked for its JSON type,
 * length and content; paths (relPath, retrievePath, fileOp.rename, fileOp.hlink) must not
 * climb out of the tree with `..`, hold NUL or control characters, or be empty. A path that
 * starts with `/` (v02 and sarrac write one) means the same as without it: paths in a
 * message are always relative to baseUrl and to the receiver's tree, never to the
 * receiver's root. The error names the field and the value (cut to 64 bytes).
 *
 * A WNM is held the same way, mapped onto the v03 fields (pubTime, baseUrl, relPath, size,
 * identity, content, fileOp ...), with its id, conformsTo, geometry, links and every other
 * property kept as fields of their own name, so that it goes out again as it came. Its
 * errors name the member as a JSON path ("WNM properties.integrity.method: ...").
 */
#ifndef SR_MESSAGE_H
#define SR_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "identity.h"

/* Limits past which a message is refused (sr3 has none; a pump needs some). */
#define SR_MSG_BODY_MAX (4u << 20)   /* bytes of one encoded message */
#define SR_MSG_PATH_MAX 4096         /* bytes of relPath, retrievePath, rename, link, hlink */
#define SR_MSG_NAME_MAX 255          /* bytes of one path component */
#define SR_MSG_URL_MAX 4096          /* bytes of baseUrl */
#define SR_MSG_FIELD_MAX 1024        /* bytes of the other short strings (source, mode ...) */
#define SR_MSG_HEADER_MAX 255        /* bytes of one v02 header value (AMQP's limit) */
#define SR_MSG_BLOCKS_MAX (1u << 20) /* blocks in one manifest (1 TiB in 1 MiB blocks) */

/* Bytes of one v02 header value read: 255 characters of UTF-8 (sr3 counts characters). */
#define SR_MSG_HEADER_TEXT_MAX (4 * SR_MSG_HEADER_MAX)

/* In the order of post_format's choices in options.def (v03 first: a zeroed struct posts
 * v03); sr_config_choice(cfg, SR_OPT_post_format) is one. SR_FORMAT_WIS is a WMO WIS2
 * Notification Message (WNM, a GeoJSON Feature; sr3 calls the format "wis"). */
enum sr_msg_format { SR_FORMAT_V03, SR_FORMAT_V02, SR_FORMAT_WIS };

typedef struct sr_message sr_message;

/* One AMQP application header or MQTT user property, both strings. A broker's header that
 * text cannot carry (a NUL byte in it) comes with value NULL; the decoder refuses it. */
typedef struct sr_header {
    const char *name, *value;
} sr_header;

/* A message as a broker hands it over. Any member but body may be NULL/0. */
typedef struct sr_wire {
    const char *body;
    size_t body_len;
    const char *content_type; /* "application/json", "text/plain", or NULL when absent */
    const char *topic;        /* AMQP routing key or MQTT topic, escaped as on the wire */
    const sr_header *headers;
    size_t header_count;
} sr_wire;

/* A message ready for a broker: free with sr_encoded_fini. */
typedef struct sr_encoded {
    char *body;
    size_t body_len;
    const char *content_type; /* static string */
    sr_header *headers;       /* v02 only: names and values are owned here */
    size_t header_count;
} sr_encoded;

/* Which format a wire message is in: content type application/json (or geo+json) -> v03,
 * text/plain -> v02; with none (MQTT 3.1.1, some old C clients) the body decides: JSON
 * starts with `{`. sr3 drops JSON that arrives without a content type; sr reads it. JSON is
 * reported as SR_FORMAT_V03 whether it is v03 or a WNM: the decoder tells them apart by
 * their content (a WNM is a Feature, with no pubTime at its top; v03 always has one). */
enum sr_msg_format sr_message_detect(const sr_wire *in);

/* Decode and check a wire message (v03, v02 or WNM). On error *out is NULL and err names
 * the field. A v02
 * header is refused, named, when its name passes SR_MSG_HEADER_MAX bytes, its value
 * SR_MSG_HEADER_TEXT_MAX bytes, either is not UTF-8, or its value is NULL. */
int sr_message_decode(const sr_wire *in, sr_message **out, sr_err *err);

/* Decode a JSON body alone (files, tests, the retry queue): v03, or a WNM by its content. */
int sr_message_decode_v03(const char *body, size_t len, sr_message **out, sr_err *err);

/* Encode in the given format. v02 fails (SR_EINVAL, naming the header) when a header
 * value would pass AMQP's 255 bytes, as sr3 refuses it. A WNM (content type
 * application/geo+json) needs the fields data_id and metadata_id (the error names the one
 * missing), and a message that is a file or a removal (a fileOp directory, link or hlink,
 * or a block of a file, is refused, named); its id is the message's own when its primary
 * link still names baseUrl + retrievePath|relPath (a relay), a new random UUID otherwise.
 * What it writes passes what sr_message_decode reads. */
int sr_message_encode(const sr_message *m, enum sr_msg_format format, sr_encoded *out, sr_err *err);
void sr_encoded_fini(sr_encoded *e);

/* A new message with the three required fields (checked like a decoded one). */
int sr_message_new(const char *pub_time, const char *base_url, const char *rel_path,
                   sr_message **out, sr_err *err);
sr_message *sr_message_copy(const sr_message *m);
void sr_message_free(sr_message *m);

/* ---- reading: NULL / false when the field is absent ---- */
const char *sr_message_pub_time(const sr_message *m);
const char *sr_message_base_url(const sr_message *m);
const char *sr_message_rel_path(const sr_message *m);
/* Any string field by its v03 name (retrievePath, source, mtime, mode, topic ...). NULL when
 * absent or not a string. */
const char *sr_message_str(const sr_message *m, const char *field);
bool sr_message_size(const sr_message *m, long long *size);
bool sr_message_mode(const sr_message *m, unsigned *mode);
/* The identity, or false when the message has none. */
bool sr_message_identity(const sr_message *m, sr_identity *out);
/* The topic the message arrived with, as on the wire (escaped), or NULL. */
const char *sr_message_received_topic(const sr_message *m);
/* lag = now - pubTime, in seconds. */
double sr_message_lag(const sr_message *m, const struct timespec *now);
/* The URL to fetch: baseUrl + retrievePath (or relPath) with exactly one '/' between.
 * New string, caller frees. */
char *sr_message_url(const sr_message *m);

typedef struct sr_fileop {
    bool remove;        /* "remove" key present */
    bool directory;     /* "directory" key present */
    const char *link;   /* symbolic link text, or NULL */
    const char *hlink;  /* hard link target path, or NULL */
    const char *rename; /* old relPath (relPath is the new name), or NULL */
} sr_fileop;
/* The fileOp, or false when the message carries file data (no fileOp). */
bool sr_message_fileop(const sr_message *m, sr_fileop *out);

typedef struct sr_content {
    const char *encoding; /* "utf-8", "base64" or "iso-8859-1" */
    const char *value;
} sr_content;
/* The inline content sr can write, or false. A WNM's gzip content is kept in the message
 * (and written out again) but is not returned here: sr does not inflate it, and the file
 * is fetched from its URL instead. */
bool sr_message_content(const sr_message *m, sr_content *out);

typedef struct sr_blocks {
    const char *method;    /* "inplace" or "partitioned" */
    long long block_size;  /* nominal size of a block */
    long long number;      /* this block, from 0 */
    size_t manifest_count; /* 0 when the sender gave no manifest (sarrac) */
} sr_blocks;
bool sr_message_blocks(const sr_message *m, sr_blocks *out);
/* Block i of the manifest: its size and identity value. */
bool sr_message_block(const sr_message *m, size_t i, long long *size, const char **identity);
/* sarrac's and v02's count and remainder, when the message has them (no manifest). */
bool sr_message_blocks_count(const sr_message *m, long long *count, long long *remainder);

/* ---- writing: each value is checked as the decoder checks it ---- */
int sr_message_set_str(sr_message *m, const char *field, const char *value, sr_err *err);
/* Any field from its JSON text (an object, array, number, string, true/false or null),
 * checked as the decoder checks it; err names the field when the text is not JSON. */
int sr_message_set_json(sr_message *m, const char *field, const char *json_text, sr_err *err);
void sr_message_remove(sr_message *m, const char *field);
int sr_message_set_size(sr_message *m, long long size, sr_err *err);
int sr_message_set_identity(sr_message *m, const sr_identity *id, sr_err *err);
int sr_message_set_fileop(sr_message *m, const sr_fileop *op, sr_err *err);
int sr_message_set_content(sr_message *m, const sr_content *content, sr_err *err);
/* One manifest entry for sr_message_set_blocks. */
typedef struct sr_block_entry {
    long long size;
    const char *identity; /* the block's identity value ("" when the method has none) */
} sr_block_entry;
/* `blocks` as sr3 writes it: method, size (b->block_size), number and the manifest of
 * count entries (keys "0", "1", ...); b->manifest_count is ignored. */
int sr_message_set_blocks(sr_message *m, const sr_blocks *b, const sr_block_entry *manifest,
                          size_t count, sr_err *err);

#endif
