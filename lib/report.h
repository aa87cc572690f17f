/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * report: the report messages a consumer sends back towards a message's source when
 * `report` is on (sr_subscribe(1), Reports), as sr3's report callback sends them.
 *
 * A report is the message as received, without its inline content, in v03 form, with one
 * more field: `report` = {"code": HTTP-like status, "timeCompleted": v03 time, "message":
 * text}. It is published on the consumer's own broker (sr3's report_broker default) to
 * report_exchange: by default xr_<broker user>, or xreport when that user is the pump's
 * feeder (the `feeder` option), as sr3 chooses; with the topic v03 + the relPath's folders
 * (sr3's report_topicPrefix default). Reports are telemetry: one that cannot be published
 * is logged and dropped, never retried, and never holds the message it is about.
 */
#ifndef SR_REPORT_H
#define SR_REPORT_H

#include "broker.h"
#include "config.h"
#include "message.h"

/* The codes sr sets (sr3's meanings). */
enum {
    SR_REPORT_DONE = 201,           /* downloaded, sent, or passed on */
    SR_REPORT_NOT_MODIFIED = 304,   /* already here, or a duplicate */
    SR_REPORT_REFUSED = 403,        /* refused for safety (sr-security(7)); an sr code */
    SR_REPORT_NO_MATCH = 404,       /* no accept line took it, or a reject line did */
    SR_REPORT_NOT_ACCEPTABLE = 406, /* inlineOnly and the content is not inline */
    SR_REPORT_NO_PLACE = 422,       /* no destination could be worked out */
    SR_REPORT_FAILED = 499,         /* the transfer failed (for now, or for good) */
    SR_REPORT_TOO_OLD = 504,        /* older than messageAgeMax */
};

typedef struct sr_report sr_report;

/* Set up from cfg when its `report` is on, on the broker consumer describes (the broker
 * the flow consumes from); *out NULL when report is off. Connects nothing yet. */
int sr_report_new(const sr_config *cfg, const sr_broker_options *consumer, sr_report **out,
                  sr_err *err);
void sr_report_free(sr_report *r);

/* The exchange reports go to. */
const char *sr_report_exchange(const sr_report *r);

/* Queue a report on m with code and text (text may be NULL: none). Sent by
 * sr_report_flush. Out of memory or a message that will not encode: err, nothing queued. */
int sr_report_add(sr_report *r, const sr_message *m, int code, const char *text, sr_err *err);

/* Publish what was queued (the exchange declared first, once, when exchangeDeclare is on)
 * and wait for the broker. Reports that failed are dropped: *failed says how many, err
 * why. */
int sr_report_flush(sr_report *r, size_t *failed, sr_err *err);

#endif
