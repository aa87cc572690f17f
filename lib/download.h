/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * download: the work step of sr_subscribe and sr_sarra (sr_subscribe(1) and sr_sarra(1),
 * DESCRIPTION).
 *
 * For each accepted message, with the file's place already worked out by the flow
 * (placement.h):
 *   - a fileOp (remove, rmdir, mkdir, link, hlink, rename) is applied locally when
 *     fileEvents allows it, never outside the destination tree;
 *   - `download off`: nothing is fetched (the message is still posted if posting);
 *   - inline content is written without a download;
 *   - an existing file is kept when `overwrite off`, or when it already has the announced
 *     identity (compared through the xattr cache: the mesh rule of sarra, which also
 *     means it is not announced again);
 *   - otherwise the file is fetched through the transfer layer (one session per remote,
 *     inflight name, resume, identity checked on the fly, times and mode applied), and
 *     the source removed when `delete` says so.
 * sarra announces the identity computed while downloading (what stops loops in a mesh:
 * sr_sarra(1), DESCRIPTION).
 */
#ifndef SR_DOWNLOAD_H
#define SR_DOWNLOAD_H

#include "component.h"
#include "flow.h"
#include "transfer.h"

typedef struct sr_download sr_download;

/* Set up from svc->cfg (transfer options, inflight, modes, fileEvents). sarra: announce
 * the computed identity. What it does and transfer events (connected, host key, TLS
 * relaxed) go to svc->log, its counts to svc->metrics; svc outlives it. */
int sr_download_new(const sr_flow_services *svc, bool sarra, sr_download **out, sr_err *err);
void sr_download_free(sr_download *d);

/* The flow component: broker gather, this work step, files placed. */
void sr_download_component(sr_download *d, sr_flow_component *out);

/* The work step sr_subscribe (sarra false) and sr_sarra (true) give their main
 * (component.h: sr_component_main_work). */
const sr_component_work *sr_download_work(bool sarra);

#endif
