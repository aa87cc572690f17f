/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * flow: the one loop every component runs (sr(1), THE FLOW, states it for users).
 *
 *   gather  messages from the broker (consumers), or from the component (post: the
 *           command line, watch: file events), plus retried ones when traffic is light
 *   filter  messageAgeMax, accept/reject (on baseUrl + relPath, as sr3), duplicate
 *           suppression (nodupe_ttl; a retried message is never its own duplicate), and
 *           where the file goes (placement.h) for components that place files
 *   work    the component's step: download, send, or nothing
 *   post    to post_broker: baseUrl/relPath rewritten, topic from post_topicPrefix,
 *           post_exchange (split), post_format; a publish that fails goes to the post
 *           retry queue
 *   settle  once per pass, the one place acks happen: the posts' confirms awaited, what
 *           failed written and synced to its retry queue, then every message from the
 *           broker that is done or safely queued is acked; one that could not be
 *           queued is held (not acked, so the broker sends it again): a kill -9 at any
 *           point loses nothing acked
 *
 * Around it: housekeeping every `housekeeping` seconds (one summary line, cache and retry
 * expiry, metrics reset), a metrics file per instance for `sr status`, the stop and
 * log-reopen flags a component's signal handlers set.
 */
#ifndef SR_FLOW_H
#define SR_FLOW_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker.h"
#include "config.h"
#include "credentials.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "paths.h"
#include "placement.h"

typedef struct sr_flow sr_flow;

/* What becomes of a message, decided by the steps of a pass and acted on once, when the
 * pass is settled (its posts confirmed or failed): there, and only there, the retry
 * queues are written and synced, then what may be acked is acked. */
enum sr_disposition {
    SR_DISP_GOING,      /* still on its way through the pass */
    SR_DISP_POST,       /* its work is done: to be posted, acked once the broker has it */
    SR_DISP_DONE,       /* finished (done, rejected, refused, dropped): acked */
    SR_DISP_RETRY,      /* its work failed for now: acked once in the work retry queue */
    SR_DISP_POST_RETRY, /* its post failed: acked once in the post retry queue */
    SR_DISP_HOLD,       /* not acked: the broker keeps it and sends it again */
};

/* One message on its way through a pass. */
typedef struct sr_work {
    sr_message *msg;       /* NULL for a delivery that did not decode (DONE at once) */
    sr_delivery *delivery; /* where it came from on the broker, or NULL */
    enum sr_disposition disposition;
    char *why; /* RETRY, POST_RETRY: the error kept with the retry queue entry */
    bool from_retry;
    uint64_t retry_id;
    const sr_mask *mask; /* the accept line that matched, or NULL (acceptUnmatched) */
    bool placed;
    sr_placement placement; /* when placed: the local file and how it is re-announced */
    bool worked;            /* its work step ran this pass, done or failed (after_work) */
    int report_code;        /* `report`: what the report on it says (report.h); 0: none */
    char *report_text;
} sr_work;

enum sr_work_result {
    SR_WORK_OK,     /* done: post it (when there is a post_broker) */
    SR_WORK_SKIP,   /* nothing to do and nothing to post (already have it) */
    SR_WORK_RETRY,  /* failed for now: to the retry queue */
    SR_WORK_DROP,   /* failed for good: logged, not retried */
    SR_WORK_REFUSE, /* refused for safety (sr-security(7)): logged once with err's reason,
                     * counted as rejected, acked, never retried */
};

/* The result of a step that returned rc (err filled when rc is not SR_OK): done,
 * refused for safety (SR_EREFUSED), worth another try (err->retryable), or failed for
 * good. */
enum sr_work_result sr_work_result_of(int rc, const sr_err *err);

/* What a flow and the steps a component adds to it are given: made by the component's
 * main (or a test), outliving the flow. */
typedef struct sr_flow_services {
    const sr_config *cfg;
    const sr_paths *paths; /* state folders */
    const sr_credentials *creds;
    int instance; /* 1..N; 0: foreground */
    sr_log *log;
    sr_metrics *metrics; /* written to the instance's metrics file by the flow */
    struct sr_plugins *plugins; /* the config's plugins (plugins.h), started and called by
                                 * the flow and the steps; NULL: none */
} sr_flow_services;

/* What a component adds to the loop. Any function may be NULL. The steps get what they
 * need when they are made (sr_flow_services), not from the flow. */
typedef struct sr_flow_component {
    /* Messages from elsewhere than a broker (post, watch): up to max new messages in
     * *msgs (an array the flow frees, with the messages). *exhausted: there will be no
     * more (post's single pass). NULL: the component consumes from `broker`. */
    int (*gather)(void *ctx, sr_message ***msgs, size_t *count, size_t max, bool *exhausted,
                  sr_err *err);
    /* The work on one accepted message; err explains RETRY and DROP. NULL: none. */
    enum sr_work_result (*work)(void *ctx, sr_work *w, sr_err *err);
    /* Called at each housekeeping, after the flow's own. */
    void (*housekeeping)(void *ctx);
    /* A component that gathers and also reads messages from `broker` (a poll with vip:
     * its own posts): each message received is handed here only, to update what the
     * component remembers, then acked; it is neither filtered, worked on nor posted. The
     * flow then gathers only while nothing waits in the queue, and while passive (no vip)
     * keeps reading (without posting). NULL: a gathering component consumes nothing. */
    int (*ingest)(void *ctx, const sr_message *m, sr_err *err);
    /* Called once per pass when it is settled, after its posts are confirmed or queued
     * for a retry and before its acks: where a component makes what it remembers durable
     * (what a kill -9 loses was not announced either). NULL: nothing. */
    void (*settled)(void *ctx);
    /* The component remembers what it announced itself (a poll: seen.h), so the flow
     * keeps no duplicate cache of its own (nodupe_ttl is the component's). */
    bool remembers;
    void *ctx;
    bool places_files; /* compute sr_work.placement (subscribe, sarra, sender) */
    /* Tests only: the in-process broker that mem:// URLs name (broker_mem.h). */
    struct sr_mem_hub *mem_hub;
} sr_flow_component;

/* Set up the flow of svc->cfg: brokers, caches, retry queues. Connects nothing yet.
 * Errors name the option or file. */
int sr_flow_new(const sr_flow_services *svc, const sr_flow_component *component, sr_flow **out,
                sr_err *err);

/* Run until *stop is set (SIGTERM: the pass in hand is finished and acked first), the
 * component's gather is exhausted with sleep < 0, or messageCountMax is reached. *reopen
 * (SIGHUP) makes the log reopen. Returns SR_OK, or the error that stopped it. */
int sr_flow_run(sr_flow *f, volatile sig_atomic_t *stop, volatile sig_atomic_t *reopen);

void sr_flow_free(sr_flow *f);

/* Messages whose publish failed (they wait in the post retry queue): sr_post's exit
 * status says whether everything was posted. */
unsigned long long sr_flow_post_failures(const sr_flow *f);

#endif
