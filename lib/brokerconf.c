/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * brokerconf: see brokerconf.h.
 */
#include "brokerconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "topic.h"
#include "url.h"
#include "varsub.h"

/* How long instances 2..N wait for instance 1 to save the queue name. */
#define QNAME_WAIT_SECONDS 30

static enum sr_tls_rigour tls_of(const sr_config *cfg)
{
    return (enum sr_tls_rigour)sr_config_choice(cfg, SR_OPT_tlsRigour);
}

static bool is_mqtt(const char *url)
{
    return strncmp(url, "mqtt://", 7) == 0 || strncmp(url, "mqtts://", 8) == 0;
}

static int read_line(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char buf[512];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (line == NULL)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0')
        return -1;
    *out = strdup(buf);
    return *out ? 0 : -1;
}

static int write_atomically(const char *path, const char *text, sr_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return sr_err_set(err, SR_EIO, false, "cannot write %s: %s", tmp, strerror(errno));
    int bad = fprintf(f, "%s\n", text) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return sr_err_set(err, SR_EIO, false, "cannot write %s", path);
    }
    return SR_OK;
}

/* queueName, else the saved one, else a new one saved by instance 1. With exchangeSplit
 * each instance has a queue of its own (split > 0: its two digits end the saved file's
 * name, where sr3 puts them), made and saved by itself. */
static int queue_name(const sr_config *cfg, const sr_paths *paths, int instance, int split,
                      const char *user, char **out, sr_err *err)
{
    const char *given = sr_config_str(cfg, SR_OPT_queueName);
    if (given != NULL) {
        *out = strdup(given);
        return *out ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    const char *comp = sr_component_name(sr_config_component(cfg));
    const char *name = sr_config_name(cfg);
    char *dir = sr_paths_instance_dir(paths, comp, name);
    char *file = NULL;
    char own[16] = "";
    if (split > 0)
        snprintf(own, sizeof own, "%02d", split);
    if (dir == NULL || asprintf(&file, "%s/%s.%s.%s%s.qname", dir, comp, name, user, own) < 0) {
        free(dir);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    int rc = SR_OK;
    if (read_line(file, out) == 0) {
        /* reused: the queue and what waits in it survive a restart */
    } else if (instance > 1 && split == 0) {
        rc = SR_ENOENT;
        for (int i = 0; i < QNAME_WAIT_SECONDS * 5 && rc != SR_OK; i++) {
            if (read_line(file, out) == 0)
                rc = SR_OK;
            else
                usleep(200000);
        }
        if (rc != SR_OK)
            rc = sr_err_set(err, SR_ENOENT, true,
                            "instance %d: instance 1 has not saved the queue name in %s "
                            "(is it running?)",
                            instance, file);
    } else {
        char share[300];
        const char *qs = sr_config_str(cfg, SR_OPT_queueShare);
        if (qs == NULL) {
            char host[256] = "localhost";
            gethostname(host, sizeof host - 1);
            host[strcspn(host, ".")] = '\0';
            unsigned r = 0;
            if (getrandom(&r, sizeof r, 0) != sizeof r)
                r = (unsigned)getpid() * 2654435761u;
            snprintf(share, sizeof share, "%s_%s_%08u", user, host, r % 100000000u);
            qs = share;
        }
        if (asprintf(out, "q_%s.%s.%s.%s", user, comp, name, qs) < 0) {
            *out = NULL;
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        if (rc == SR_OK)
            rc = sr_mkdir_p(dir, 0700, err);
        if (rc == SR_OK)
            rc = write_atomically(file, *out, err);
    }
    free(dir);
    free(file);
    if (rc != SR_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static int bindings(const sr_config *cfg, const char *exchange, int split, sr_consumer_setup *s,
                    sr_err *err)
{
    const char *prefix = sr_config_str(cfg, SR_OPT_topicPrefix);
    const char *raw = sr_config_str(cfg, SR_OPT_topic);
    enum sr_topic_proto proto = s->mqtt ? SR_TOPIC_MQTT : SR_TOPIC_AMQP;
    size_t n = raw ? 1 : sr_config_subtopic_count(cfg);
    s->bindings = calloc(n ? n : 1, sizeof *s->bindings);
    if (s->bindings == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int rc = SR_OK;
    if (raw != NULL) {
        rc = sr_topic_binding_raw(proto, exchange, raw, &s->bindings[0], err);
        s->binding_count = rc == SR_OK;
        return rc;
    }
    for (size_t i = 0; rc == SR_OK && i < n; i++) {
        const sr_subtopic *line = sr_config_subtopic(cfg, i);
        /* a line's own exchange is split as the config's is */
        sr_subtopic split_line;
        char *split_name = NULL;
        if (split > 0 && line != NULL && line->exchange != NULL) {
            rc = sr_topic_split_exchange(line->exchange, (unsigned)split - 1, &split_name, err);
            if (rc != SR_OK)
                break;
            split_line = *line;
            split_line.exchange = split_name;
            line = &split_line;
        }
        rc = s->mqtt ? sr_topic_binding_mqtt(line, exchange, prefix, s->queue_name, &s->bindings[i],
                                             err)
                     : sr_topic_binding_amqp(line, exchange, prefix, &s->bindings[i], err);
        free(split_name);
        if (rc == SR_OK)
            s->binding_count = i + 1;
    }
    return rc;
}

int sr_brokerconf_consumer(const sr_config *cfg, const sr_paths *paths, int instance,
                           const sr_credentials *creds, sr_consumer_setup *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    const char *url = sr_config_str(cfg, SR_OPT_broker);
    if (url == NULL)
        return sr_err_set(err, SR_EINVAL, false, "%s/%s: no broker to consume from",
                          sr_component_name(sr_config_component(cfg)), sr_config_name(cfg));
    out->mqtt = is_mqtt(url);
    char *user = sr_url_user(url);
    if (user == NULL) {
        char *shown = sr_url_redacted(url); /* never the password */
        int rc = sr_err_set(err, SR_EINVAL, false, "broker %s: not a URL", shown ? shown : "");
        free(shown);
        return rc;
    }
    /* exchangeSplit: instance i consumes exchange + two digits, i - 1 of them, the names
     * post_exchangeSplit publishes to (00..N-1). sr3 appends i itself (01..N), so that its
     * last instance binds an exchange no split publisher writes and 00 goes unread. */
    int split = sr_config_count(cfg, SR_OPT_exchangeSplit) > 0 ? (instance > 0 ? instance : 1) : 0;
    char *exchange = NULL;
    int rc = SR_OK;
    if (split > 0)
        rc = sr_topic_split_exchange(sr_config_str(cfg, SR_OPT_exchange), (unsigned)split - 1,
                                     &exchange, err);
    if (rc == SR_OK)
        rc = queue_name(cfg, paths, instance, split, user, &out->queue_name, err);
    free(user);
    if (rc == SR_OK)
        rc = bindings(cfg, exchange ? exchange : sr_config_str(cfg, SR_OPT_exchange), split, out,
                      err);
    free(exchange);
    if (rc == SR_OK && out->mqtt &&
        asprintf(&out->client_id, "%s_i%02d", out->queue_name, instance > 0 ? instance : 1) < 0) {
        out->client_id = NULL;
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (rc != SR_OK) {
        sr_consumer_setup_fini(out);
        return rc;
    }
    long long prefetch = sr_config_count(cfg, SR_OPT_prefetch);
    long long receive_max = sr_config_count(cfg, SR_OPT_receiveMaximum);
    out->broker = (sr_broker_options){
        .url = url,
        .credentials = creds,
        .client_id = out->client_id,
        .tls = tls_of(cfg),
        .prefetch = (unsigned)(out->mqtt && receive_max > 0 ? receive_max : prefetch),
        .persistent = sr_config_flag(cfg, SR_OPT_persistent),
        .session_expiry = sr_config_seconds(cfg, SR_OPT_expire),
    };
    /* classic is what a queue is without x-queue-type: only another type is sent */
    enum sr_queue_type type = (enum sr_queue_type)sr_config_choice(cfg, SR_OPT_queueType);
    bool typed = type != SR_QUEUE_CLASSIC;
    const char *dlx = sr_config_str(cfg, SR_OPT_deadLetterExchange);
    /* instance 1 (or foreground) declares; the others attach, but to a queue of their own
     * with exchangeSplit */
    bool first = instance <= 1 || split > 0;
    out->queue = (sr_queue_spec){
        .name = out->queue_name,
        .declare = first && sr_config_flag(cfg, SR_OPT_queueDeclare),
        .bind = first && sr_config_flag(cfg, SR_OPT_queueBind),
        .durable = sr_config_flag(cfg, SR_OPT_durable),
        .auto_delete = sr_config_flag(cfg, SR_OPT_auto_delete),
        .expire = sr_config_seconds(cfg, SR_OPT_expire),
        .message_ttl = sr_config_seconds(cfg, SR_OPT_messageAgeMax),
        .queue_type = typed ? sr_config_str(cfg, SR_OPT_queueType) : NULL,
        .delivery_limit = sr_config_count(cfg, SR_OPT_deliveryLimit),
        .dead_letter_exchange = dlx,
        .dead_letter_routing_key = sr_config_str(cfg, SR_OPT_deadLetterRoutingKey),
        /* A quorum queue can keep a dead message until the exchange has routed it
         * (at-least-once), where a classic one hands it over and forgets it: a poison
         * message is then parked even while no queue is bound to the exchange yet. */
        .dead_letter_at_least_once = dlx != NULL && type == SR_QUEUE_QUORUM,
        .bindings = out->bindings,
        .binding_count = out->binding_count,
    };
    return SR_OK;
}

void sr_consumer_setup_fini(sr_consumer_setup *s)
{
    for (size_t i = 0; i < s->binding_count; i++)
        sr_topic_binding_fini(&s->bindings[i]);
    free(s->bindings);
    free(s->queue_name);
    free(s->client_id);
    memset(s, 0, sizeof *s);
}

int sr_brokerconf_publisher(const sr_config *cfg, const sr_credentials *creds,
                            sr_publisher_setup *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    const char *url = sr_config_str(cfg, SR_OPT_post_broker);
    if (url == NULL)
        return SR_ENOENT;
    out->mqtt = is_mqtt(url);
    const char *exchange = sr_config_str(cfg, SR_OPT_post_exchange);
    const char *prefix = sr_config_str(cfg, SR_OPT_post_topicPrefix);
    const char *topic = sr_config_str(cfg, SR_OPT_post_topic);
    /* post_exchange is derived from post_broker when the config sets none (config.h) */
    if (exchange == NULL)
        return sr_err_set(err, SR_EINVAL, false, "%s/%s: no post_exchange to publish to",
                          sr_component_name(sr_config_component(cfg)), sr_config_name(cfg));
    /* post_topicPrefix None (or topicPrefix None): topics without a prefix */
    if ((out->exchange = strdup(exchange)) == NULL ||
        (prefix && (out->topic_prefix = strdup(prefix)) == NULL) ||
        (topic && (out->topic = strdup(topic)) == NULL)) {
        sr_publisher_setup_fini(out);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    long long split = sr_config_count(cfg, SR_OPT_post_exchangeSplit);
    out->split = split > 1 ? (unsigned)split : 0;
    out->topic_copy = sr_config_flag(cfg, SR_OPT_topicCopy);
    out->format = (enum sr_msg_format)sr_config_choice(cfg, SR_OPT_post_format);
    out->wis_centre_id = sr_config_str(cfg, SR_OPT_wisCentreId);
    out->wis_data_id = sr_config_str(cfg, SR_OPT_wisDataId);
    out->wis_metadata_id = sr_config_str(cfg, SR_OPT_wisMetadataId);
    out->wis_geometry = sr_config_str(cfg, SR_OPT_wisGeometry);
    out->post_base_dir = sr_config_str(cfg, SR_OPT_post_baseDir);
    out->time_offset = sr_config_seconds(cfg, SR_OPT_varTimeOffset);
    const char *in_url = sr_config_str(cfg, SR_OPT_broker);
    out->in_known = in_url != NULL;
    out->in_mqtt = in_url != NULL && is_mqtt(in_url);
    out->in_topic_prefix = sr_config_str(cfg, SR_OPT_topicPrefix);
    out->broker = (sr_broker_options){
        .url = url,
        .credentials = creds,
        .tls = tls_of(cfg),
        .persistent = sr_config_flag(cfg, SR_OPT_persistent),
        .message_expiry = sr_config_seconds(cfg, SR_OPT_post_messageAgeMax),
    };
    return SR_OK;
}

void sr_publisher_setup_fini(sr_publisher_setup *s)
{
    free(s->exchange);
    free(s->topic_prefix);
    free(s->topic);
    memset(s, 0, sizeof *s);
}

int sr_publisher_route(const sr_publisher_setup *s, const sr_message *m, char **exchange,
                       char **topic, bool *truncated, sr_err *err)
{
    *exchange = NULL;
    *topic = NULL;
    *truncated = false;
    int rc = SR_OK;
    if (s->split > 1) {
        sr_identity id;
        const char *value = sr_message_identity(m, &id) ? id.value : "";
        rc = sr_topic_split_exchange(s->exchange, sr_topic_split_index(value, s->split), exchange,
                                     err);
    } else if ((*exchange = strdup(s->exchange)) == NULL) {
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    const char *received = s->topic_copy ? sr_message_received_topic(m) : NULL;
    const char *fixed = received != NULL ? received : s->topic;
    bool wis = s->format == SR_FORMAT_WIS;
    const char *subtopic = wis ? sr_message_str(m, "subtopic") : NULL;
    enum sr_topic_proto proto = s->mqtt ? SR_TOPIC_MQTT : SR_TOPIC_AMQP;
    if (rc == SR_OK && fixed != NULL) {
        if ((*topic = strdup(fixed)) == NULL)
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    } else if (rc == SR_OK && subtopic != NULL) {
        rc = sr_topic_with_subtopic(proto, *exchange, s->topic_prefix, subtopic, topic, truncated,
                                    err);
    } else if (rc == SR_OK) {
        const char *rel = sr_message_rel_path(m);
        rc = s->mqtt ? sr_topic_mqtt(*exchange, s->topic_prefix, rel, topic, err)
                     : sr_topic_amqp(s->topic_prefix, rel, topic, truncated, err);
    }
    if (rc == SR_OK && wis)
        rc = sr_topic_wis_check(proto, *exchange, *topic, s->wis_centre_id, true, err);
    if (rc != SR_OK) {
        free(*exchange);
        free(*topic);
        *exchange = *topic = NULL;
    }
    return rc;
}

int sr_publisher_keep_subtopic(const sr_publisher_setup *s, sr_message *m, sr_err *err)
{
    if (s->format != SR_FORMAT_WIS)
        return SR_OK;
    /* never one a stranger wrote: it would choose the topic */
    sr_message_remove(m, "subtopic");
    const char *topic = sr_message_received_topic(m);
    if (topic == NULL || !s->in_known)
        return SR_OK;
    char *sub = NULL;
    int rc = sr_topic_subtopic_path(s->in_mqtt ? SR_TOPIC_MQTT : SR_TOPIC_AMQP, topic,
                                    s->in_topic_prefix, &sub, err);
    if (rc == SR_OK)
        rc = sr_message_set_str(m, "subtopic", sub, err);
    free(sub);
    return rc;
}

/* Does m have field, of any JSON type (geometry may be an object or null)? message.h reads
 * strings only, so the fields are read from their v03 text: only done when wisGeometry is
 * set, once per message posted. When in doubt (out of memory), yes: m's own is kept. */
static bool has_field(const sr_message *m, const char *field)
{
    sr_encoded enc = {0};
    sr_err ignored;
    if (sr_message_encode(m, SR_FORMAT_V03, &enc, &ignored) != SR_OK)
        return true;
    json_t *o = json_loadb(enc.body, enc.body_len, 0, NULL);
    bool has = o == NULL || json_object_get(o, field) != NULL;
    json_decref(o);
    sr_encoded_fini(&enc);
    return has;
}

/* The default data_id: the topic's levels after wis2, '/', the file name. */
static int default_data_id(const sr_publisher_setup *s, const sr_message *m, const char *topic,
                           char **out, sr_err *err)
{
    char *tail = NULL;
    int rc = sr_topic_wis_tail(s->mqtt ? SR_TOPIC_MQTT : SR_TOPIC_AMQP, topic, &tail, err);
    if (rc != SR_OK)
        return rc;
    const char *rel = sr_message_rel_path(m);
    const char *slash = strrchr(rel, '/');
    if (asprintf(out, "%s/%s", tail, slash ? slash + 1 : rel) < 0) {
        *out = NULL;
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    free(tail);
    return rc;
}

int sr_publisher_fill_wis(const sr_publisher_setup *s, sr_message *m, const char *topic,
                          sr_err *err)
{
    if (s->format != SR_FORMAT_WIS)
        return SR_OK;
    int rc = SR_OK;
    if (sr_message_str(m, "data_id") == NULL) {
        char *id = NULL;
        if (s->wis_data_id != NULL) {
            sr_msgvars vars = {.now = time(NULL),
                               .time_offset = s->time_offset,
                               .post_base_dir = s->post_base_dir,
                               .base_url = sr_message_base_url(m),
                               .source = sr_message_str(m, "source"),
                               .rel_path = sr_message_rel_path(m)};
            rc = sr_varsub_message(s->wis_data_id, &vars, &id, NULL, err);
            if (rc != SR_OK)
                sr_err_prefix(err, "wisDataId %s", s->wis_data_id);
        } else {
            rc = default_data_id(s, m, topic, &id, err);
        }
        if (rc == SR_OK)
            rc = sr_message_set_str(m, "data_id", id, err);
        free(id);
    }
    if (rc == SR_OK && s->wis_metadata_id != NULL && sr_message_str(m, "metadata_id") == NULL)
        rc = sr_message_set_str(m, "metadata_id", s->wis_metadata_id, err);
    /* null is what the encoder writes for a message without geometry */
    if (rc == SR_OK && s->wis_geometry != NULL && strcmp(s->wis_geometry, "null") != 0 &&
        !has_field(m, "geometry"))
        rc = sr_message_set_json(m, "geometry", s->wis_geometry, err);
    return rc;
}
