/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * topic: the topics of sr3 messages (sr-message(7), TOPICS): the AMQP routing key or MQTT
 * topic a message is published under, what a receiver reads back from it, the bindings and
 * subscription filters a consumer asks for, and the choice among split exchanges.
 *
 * Publishing (what sr3 puts on the wire):
 *   AMQP  topicPrefix + the directories of relPath, joined by '.':
 *         "sub/a/f.txt" -> "v03.sub.a" (v02: "v02.post.sub.a"); "f.txt" -> "v03".
 *   MQTT  exchange + topicPrefix + the directories, joined by '/': "xpublic/v03/sub/a".
 * topicPrefix may be written with '.' or '/' between its levels ("v02.post", "v02/post").
 * A leading '/' on relPath and empty components ("a//b") are dropped; the file name is
 * never part of the topic. A '.' inside a directory name is not escaped, so on AMQP it
 * adds a level ("a.b/f" -> "v03.a.b"); on MQTT it does not ("xpublic/v03/a.b").
 * Wildcard characters are escaped: AMQP '#' -> "%23", '*' -> "%22"; MQTT '#' -> "%23",
 * '+' -> "%2B". '%' itself is not escaped (as in sr3), so a directory literally named
 * "%23" reads back as "#".
 *
 * Subscribing: one binding per subtopic line, with the exchange and topicPrefix in force
 * at that line. sr3 passes subtopics to the broker untranslated; sr accepts either way of
 * writing them for either protocol:
 *   - a subtopic containing no '/' is AMQP style: levels separated by '.';
 *   - a subtopic containing a '/' is MQTT style: levels separated by '/' (one trailing '/'
 *     is dropped, so "a.b/" names the single level "a.b").
 * In both styles '*' and '+' are the one-level wildcard and '#' matches any number of
 * levels; each must be a whole level, and for MQTT '#' only the last one ("a.*.#",
 * "a/+/#"); AMQP, like RabbitMQ and sr3, also takes '#' inside ("*.#.grib2").
 * Translation replaces the separators and writes the wildcards the target protocol's
 * way (AMQP '*', MQTT '+'). Because an AMQP-style '.' is a level separator, a directory
 * name containing '.' must be written MQTT style to be matched on MQTT ("obs.v2/#"). A
 * directory whose name contains '#', '*' or '+' is matched by writing the name as it is
 * escaped on that protocol's wire ("a%23b").
 */
#ifndef SR_TOPIC_H
#define SR_TOPIC_H

#include <stdbool.h>

#include "config.h"
#include "error.h"
#include "strlist.h"

/* AMQP 0-9-1 routing and binding keys are short strings: at most 255 bytes. */
#define SR_TOPIC_AMQP_MAX 255
/* MQTT topic names and filters carry a 16-bit length: at most 65535 bytes. */
#define SR_TOPIC_MQTT_MAX 65535

enum sr_topic_proto {
    SR_TOPIC_AMQP,
    SR_TOPIC_MQTT,
};

/* ---- publishing ---- */

/* The AMQP routing key for relPath under topic_prefix (NULL or "": no prefix), escaped,
 * into *out (new string, caller frees). A key longer than SR_TOPIC_AMQP_MAX bytes is cut
 * on a UTF-8 character boundary and *truncated (may be NULL) set, so the caller can log
 * an error as sr3 does; the message is still published. Returns SR_OK or SR_ENOMEM. */
int sr_topic_amqp(const char *topic_prefix, const char *relpath, char **out, bool *truncated,
                  sr_err *err);

/* The MQTT topic for relPath: exchange (the topic root, required) / topic_prefix levels /
 * directories, escaped, into *out (new string, caller frees). SR_EINVAL when exchange is
 * missing or the topic would be longer than SR_TOPIC_MQTT_MAX bytes. */
int sr_topic_mqtt(const char *exchange, const char *topic_prefix, const char *relpath, char **out,
                  sr_err *err);

/* ---- receiving ---- */

/* topic as received, with the escapes of proto undone (AMQP "%23" -> '#', "%22" -> '*';
 * MQTT "%23" -> '#', "%2B" -> '+'), into *out (new string, caller frees). */
int sr_topic_unescape(enum sr_topic_proto proto, const char *topic, char **out, sr_err *err);

/* The subtopic of a received topic: its levels, unescaped, after the exchange (MQTT) and
 * as many levels as topic_prefix has. Like sr3, the prefix levels are skipped by count,
 * not compared. levels is cleared first and left empty on error. */
int sr_topic_subtopic(enum sr_topic_proto proto, const char *topic, const char *topic_prefix,
                      sr_strlist *levels, sr_err *err);

/* The same levels joined by the protocol's separator ("sub.a", "sub/a") into *out (new
 * string, caller frees). */
int sr_topic_subtopic_string(enum sr_topic_proto proto, const char *topic, const char *topic_prefix,
                             char **out, sr_err *err);

/* Would publishing relPath under topic_prefix give back exactly topic (as received, still
 * escaped)? For MQTT the first level of topic (the exchange) is not compared. When this
 * is false the received topic carries something the relPath does not, and sr3 keeps it
 * in the message to re-publish it verbatim. Also false when memory runs out (keeping the
 * topic is the safe answer). */
bool sr_topic_matches_relpath(enum sr_topic_proto proto, const char *topic,
                              const char *topic_prefix, const char *relpath);

/* ---- subscribing ---- */

/* What a consumer asks the broker for: AMQP queue_bind(queue, exchange, key), or an MQTT
 * SUBSCRIBE to key (the filter, which already holds the exchange). */
typedef struct sr_topic_binding {
    char *exchange;
    char *key;
} sr_topic_binding;

/* Free what b holds and zero it. Safe on a zeroed binding. */
void sr_topic_binding_fini(sr_topic_binding *b);

/* The AMQP binding for one subtopic line: the line's exchange and topicPrefix, or
 * exchange and topic_prefix (the config's final values) where the line has none; key =
 * topicPrefix levels + the subtopic translated to AMQP style ("v03.a.*.#"). line NULL (or
 * its pattern NULL) means subtopic "#". SR_EINVAL, naming the line (file:line) and the
 * subtopic, for a misplaced wildcard, no exchange, or a key over SR_TOPIC_AMQP_MAX.
 * *out need not be initialised; free it with sr_topic_binding_fini. */
int sr_topic_binding_amqp(const sr_subtopic *line, const char *exchange, const char *topic_prefix,
                          sr_topic_binding *out, sr_err *err);

/* The MQTT subscription for one subtopic line, as sr3 writes it:
 * "$share/<queue_name>/<exchange>/<topicPrefix levels>/<subtopic levels>", the subtopic
 * translated to MQTT style. Same fallbacks and errors as the AMQP one, and SR_EINVAL when
 * queue_name is missing or holds '/', '+' or '#' (not allowed in a share name), or the
 * exchange or topicPrefix holds '+' or '#'. */
int sr_topic_binding_mqtt(const sr_subtopic *line, const char *exchange, const char *topic_prefix,
                          const char *queue_name, sr_topic_binding *out, sr_err *err);

/* The `topic` option: a raw topic that replaces topicPrefix and every subtopic, passed to
 * the broker as written (MQTT: the whole filter, without $share). Only checked: AMQP
 * '*' and '#' must be whole words (AMQP allows '#' anywhere) and an exchange is needed;
 * MQTT '+' must be a whole level and '#' the whole last one; and the protocol's length
 * limit. exchange is copied into out when given. */
int sr_topic_binding_raw(enum sr_topic_proto proto, const char *exchange, const char *topic,
                         sr_topic_binding *out, sr_err *err);

/* ---- WIS2 (sr-config(5), WIS2) ---- */

/* The levels of a received topic after the exchange (MQTT) and topic_prefix, as
 * sr_topic_subtopic gives them, joined by '/' ("ca-x/data/core/weather/x"): the subtopic
 * a relay of WIS2 messages posts under (sr_topic_with_subtopic). A '/' inside a level (an
 * AMQP routing key may hold one) is written "%2F", so the level stays one. *out is a new
 * string the caller frees. */
int sr_topic_subtopic_path(enum sr_topic_proto proto, const char *topic, const char *topic_prefix,
                           char **out, sr_err *err);

/* The topic of a message posted under a subtopic instead of its relPath's directories:
 * MQTT exchange / topic_prefix levels / the levels of subtopic (separated by '/'); AMQP
 * topic_prefix levels . subtopic levels. Each level escaped as sr_topic_amqp and
 * sr_topic_mqtt escape them, empty ones kept. The limits and errors of those two (an AMQP
 * key cut at 255 bytes sets *truncated). *out is a new string the caller frees. */
int sr_topic_with_subtopic(enum sr_topic_proto proto, const char *exchange,
                           const char *topic_prefix, const char *subtopic, char **out,
                           bool *truncated, sr_err *err);

/* Is id a WIS2 centre id (tld-name): lowercase letters, digits, '-' and '_', with a '-'
 * that neither starts nor ends it ("ca-eccc-msc", "int-wmo-test")? */
bool sr_topic_wis_centre_ok(const char *id);

/* Does a topic follow the WIS2 topic hierarchy? Levels, from 1: channel origin|cache, a,
 * wis2, centre-id (a valid one; on origin, centre_id when it is not NULL), data|metadata,
 * core|recommended, the earth-system-discipline (atmospheric-composition, climate,
 * cryosphere, hydrology, ocean, space-weather, weather), then any further levels; every
 * level non-empty and lowercase, without '.', '/', '%', spaces, control characters or
 * wildcards. MQTT: topic is the whole topic (exchange ignored); AMQP: exchange is level 1
 * and topic the routing key ("" for none). complete false checks only the levels there
 * are (a config's exchange and topicPrefix); true also requires the first 7.
 * SR_EREFUSED with "topic T: level N (name) "value" is not ..." when it does not. */
int sr_topic_wis_check(enum sr_topic_proto proto, const char *exchange, const char *topic,
                       const char *centre_id, bool complete, sr_err *err);

/* The levels of a WIS2 topic after `wis2`, joined by '/' ("ca-x/data/core/weather/x"):
 * what a posted WNM's default data_id starts with. MQTT skips 3 levels (channel/a/wis2),
 * AMQP 2 (its channel is the exchange). SR_EINVAL when the topic is shorter. *out is a
 * new string the caller frees. */
int sr_topic_wis_tail(enum sr_topic_proto proto, const char *topic, char **out, sr_err *err);

/* ---- split exchanges ---- */

/* Which of n split exchanges a message goes to: the sum of the bytes of its identity
 * value, modulo n (sr3's rule). 0 when n < 2 or identity_value is NULL (a message without
 * identity always goes to the first one). */
unsigned sr_topic_split_index(const char *identity_value, unsigned n);

/* The name of split exchange index: exchange (suffix included) followed by the index on
 * at least two digits, as sr3 names them ("xs_bob" 0 -> "xs_bob00", 7 -> "xs_bob07",
 * 100 -> "xs_bob100"), into *out (new string, caller frees). sr3 splits only when
 * post_exchangeSplit is 2 or more; below that the plain name is used. SR_EINVAL when the
 * name would exceed SR_TOPIC_AMQP_MAX bytes. */
int sr_topic_split_exchange(const char *exchange, unsigned index, char **out, sr_err *err);

#endif
