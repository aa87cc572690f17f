/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * report: see report.h.
 */
#include "report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "topic.h"
#include "url.h"

#define REPORT_TOPIC_PREFIX "v03" /* sr3's report_topicPrefix default */

typedef struct pending {
    char *topic;
    sr_encoded enc; /* body only: v03 */
} pending;

struct sr_report {
    sr_broker *broker;
    char *exchange;
    bool declare;  /* exchangeDeclare */
    bool declared; /* done once, then the broker layer re-declares on reconnects */
    bool mqtt;
    pending *items;
    size_t count, cap;
};

static bool url_is_mqtt(const char *url)
{
    return strncmp(url, "mqtt://", 7) == 0 || strncmp(url, "mqtts://", 8) == 0;
}

int sr_report_new(const sr_config *cfg, const sr_broker_options *consumer, sr_report **out,
                  sr_err *err)
{
    *out = NULL;
    if (!sr_config_flag(cfg, SR_OPT_report))
        return SR_OK;
    sr_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    r->mqtt = url_is_mqtt(consumer->url);
    r->declare = sr_config_flag(cfg, SR_OPT_exchangeDeclare);
    const char *given = sr_config_str(cfg, SR_OPT_report_exchange);
    int rc = SR_OK;
    if (given != NULL) {
        r->exchange = strdup(given);
    } else {
        /* sr3: xr_<user>, but xreport for the pump's feeder, which routes reports */
        char *user = sr_url_user(consumer->url);
        const char *feeder_url = sr_config_str(cfg, SR_OPT_feeder);
        char *feeder = feeder_url ? sr_url_user(feeder_url) : NULL;
        if (user != NULL && feeder != NULL && strcmp(user, feeder) == 0)
            r->exchange = strdup("xreport");
        else if (user == NULL || asprintf(&r->exchange, "xr_%s", user) < 0)
            r->exchange = NULL;
        free(user);
        free(feeder);
    }
    if (r->exchange == NULL)
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory (report_exchange)");
    /* A connection of its own, with the consumer's URL and settings, not its client id
     * (an MQTT id is one session: the consumer's) */
    sr_broker_options o = *consumer;
    o.client_id = NULL;
    if (rc == SR_OK && (r->broker = sr_broker_new(&o, err)) == NULL)
        rc = err ? err->code : SR_EINVAL;
    if (rc != SR_OK) {
        sr_report_free(r);
        return rc;
    }
    *out = r;
    return SR_OK;
}

static void drop_pending(sr_report *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->items[i].topic);
        sr_encoded_fini(&r->items[i].enc);
    }
    r->count = 0;
}

void sr_report_free(sr_report *r)
{
    if (r == NULL)
        return;
    drop_pending(r);
    free(r->items);
    sr_broker_close(r->broker);
    free(r->exchange);
    free(r);
}

const char *sr_report_exchange(const sr_report *r)
{
    return r->exchange;
}

/* m in v03, without content, with the report field: a new body in *body. */
static int report_body(const sr_message *m, int code, const char *text, char **body, size_t *len,
                       sr_err *err)
{
    sr_encoded enc = {0};
    int rc = sr_message_encode(m, SR_FORMAT_V03, &enc, err);
    if (rc != SR_OK)
        return rc;
    json_error_t jerr;
    json_t *o = json_loadb(enc.body, enc.body_len, 0, &jerr);
    sr_encoded_fini(&enc);
    if (!json_is_object(o)) {
        json_decref(o);
        return sr_err_set(err, SR_EINVAL, false, "report on %s: the message does not re-encode",
                          sr_message_rel_path(m));
    }
    json_object_del(o, "content"); /* the data went where it went: the source has it */
    struct timespec now;
    char when[SR_TIME_MAX];
    sr_time_now(&now);
    if (sr_time_format(&now, true, when, sizeof when) < 0)
        when[0] = '\0';
    json_t *report = json_pack("{s:i, s:s, s:s}", "code", code, "timeCompleted", when, "message",
                               text ? text : "");
    char *out = NULL;
    if (report != NULL && json_object_set_new(o, "report", report) == 0)
        out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (out == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    *body = out;
    *len = strlen(out);
    return SR_OK;
}

int sr_report_add(sr_report *r, const sr_message *m, int code, const char *text, sr_err *err)
{
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        pending *grown = realloc(r->items, cap * sizeof *grown);
        if (grown == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        r->items = grown;
        r->cap = cap;
    }
    pending *p = &r->items[r->count];
    memset(p, 0, sizeof *p);
    bool cut = false;
    int rc = r->mqtt
                 ? sr_topic_mqtt(r->exchange, REPORT_TOPIC_PREFIX, sr_message_rel_path(m),
                                 &p->topic, err)
                 : sr_topic_amqp(REPORT_TOPIC_PREFIX, sr_message_rel_path(m), &p->topic, &cut, err);
    if (rc == SR_OK)
        rc = report_body(m, code, text, &p->enc.body, &p->enc.body_len, err);
    if (rc != SR_OK) {
        free(p->topic);
        free(p->enc.body);
        return rc;
    }
    p->enc.content_type = "application/json";
    r->count++;
    return SR_OK;
}

int sr_report_flush(sr_report *r, size_t *failed, sr_err *err)
{
    *failed = 0;
    if (r->count == 0)
        return SR_OK;
    int rc = SR_OK;
    if (r->declare && !r->declared && !r->mqtt) {
        rc = sr_broker_declare_exchange(r->broker, r->exchange, err);
        r->declared = rc == SR_OK;
    }
    sr_outgoing *out = calloc(r->count, sizeof *out);
    int *status = calloc(r->count, sizeof *status);
    if (rc == SR_OK && (out == NULL || status == NULL))
        rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK) {
        for (size_t i = 0; i < r->count; i++)
            out[i] = (sr_outgoing){r->exchange, r->items[i].topic, &r->items[i].enc};
        rc = sr_broker_publish(r->broker, out, r->count, status, err);
        for (size_t i = 0; i < r->count; i++)
            *failed += status[i] != SR_OK;
    } else {
        *failed = r->count;
    }
    free(out);
    free(status);
    drop_pending(r);
    return rc;
}
