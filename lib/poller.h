/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * poller: the gather step of sr_poll (sr_poll(1)), which lists a server that announces
 * nothing and announces what is new or changed on it, as sr3's poll does.
 *
 * On its schedule (schedule.h) a poll lists each `path` (dates like ${YYYYMMDD} filled at
 * each run) on pollUrl through the transfer layer (sr_transfer_list_each: sftp, ftp/ftps,
 * http/https, file), descending into sub-folders when `recursive`. Each entry, as the
 * listing arrives:
 *   - a folder: with `recursive`, listed in turn and announced with a fileOp directory
 *     (its mode, no times) when fileEvents has mkdir, as sr3 does;
 *   - a link: announced with a fileOp link when fileEvents has link and the listing gives
 *     its target;
 *   - kept only when its mode has every bit of permDefault (when the listing shows
 *     modes), a file's mtime is within fileAgeMin..fileAgeMax (when shown), and its URL
 *     (post_baseUrl + relPath) is accepted by the accept/reject lines;
 *   - announced when its relPath (its name with nodupe_basis name) is new, or listed with
 *     another mtime or size than when announced (seen.h); the memory outlives restarts.
 * A message: baseUrl post_baseUrl, relPath "<path>/<name>" as sr3 writes it, size and
 * mtime (and atime) as listed, mode (permCopy), an identity "cod,<algorithm>" when the
 * identity option is cod (the default: the content is read only by who downloads it), and
 * rename when set. The flow then filters, posts and settles them as any other.
 *
 * A plugin with a poll hook (sr-plugin(7)) lists instead: at each scheduled run (and only
 * with the vip, as the listing) the plugins' poll hooks are called once, and their
 * messages take the place of the listing's, filtered as sr3 filters a poll plugin's:
 * an mtime older than fileAgeMax drops one, younger than fileAgeMin leaves it for a later
 * run; the accept/reject lines on its URL; then the memory (announced before with the
 * same mtime and size: not again). permDefault, recursive and fileEvents are the
 * listing's and do not apply; the message is announced as the plugin made it.
 *
 * With `vip`, the poll also reads its own posts (broker and exchange default to the
 * post_broker and post_exchange): what arrives only updates the memory (acked, never
 * posted), and the poll lists only while its queue is empty and this host holds the vip.
 * The node that does not hold it keeps reading, so when the vip moves to it its memory is
 * current and it announces nothing twice (sr3's approach).
 *
 * A listing line the poll cannot read is logged once per listing (the server, the folder,
 * the first such line and how many there were), skipped and counted; a server that
 * refuses or times out is logged and tried again at the next scheduled run, the memory
 * kept.
 */
#ifndef SR_POLLER_H
#define SR_POLLER_H

#include "component.h"

/* The gather step sr_poll gives its main (component.h: sr_component_main_work). */
const sr_component_work *sr_poll_work(void);

#endif
