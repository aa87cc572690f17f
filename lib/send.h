/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * send: the work step of sr_sender (sr_sender(1), DESCRIPTION): push the local file a message
 * announces to the server `sendTo` names.
 *
 *   local file   baseDir/relPath (or /relPath when baseDir is unset)
 *   remote file  the placement of the message (directory [+ its folders when mirror],
 *                strip, flatten) on sendTo's server: sftp first, ftp/ftps and file too
 *   written under the inflight name and renamed, chmod (permDefault, or the message's
 *   mode with permCopy) and times (timeCopy) applied, folders made on the way; one
 *   session reused for every file. Removals, renames, links and folders are forwarded
 *   unless fileEvents excludes them.
 */
#ifndef SR_SEND_H
#define SR_SEND_H

#include "component.h"
#include "flow.h"
#include "transfer.h"

typedef struct sr_send sr_send;

int sr_send_new(const sr_flow_services *svc, sr_send **out, sr_err *err);
void sr_send_free(sr_send *s);

/* The flow component: broker gather, this work step, files placed (remotely). */
void sr_send_component(sr_send *s, sr_flow_component *out);

/* The work step sr_sender gives its main (component.h: sr_component_main_work). */
const sr_component_work *sr_send_work(void);

#endif
