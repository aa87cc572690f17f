/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * watch: the source of sr_watch (sr_watch(1), DESCRIPTION): what happens under the `path`
 * folders becomes messages, through the flow's gather hook.
 *
 * Two ways to see the tree:
 *   inotify        (the default) a watch on every folder, new ones added as they appear;
 *                  a reader thread drains the kernel's queue as events come, so a burst
 *                  between wake-ups does not overflow it; if it overflows anyway, the
 *                  tree is scanned again and compared with what is known (nothing lost)
 *   force_polling  no inotify: the tree is scanned every `sleep` and compared with the
 *                  previous scan (type, size, mtime). Limits: a rename is seen as a
 *                  removal plus a new file; a file is posted only once two scans one
 *                  interval apart see it unchanged; a folder that cannot be read (an NFS
 *                  outage) is skipped rather than announced as removed; each pass costs
 *                  a stat of every entry of the tree.
 *
 * Events are gathered between wake-ups (`sleep`): several changes to one path in one
 * interval give one message. A file is posted once it is complete and has stopped
 * changing: after IN_CLOSE_WRITE and when its mtime is older than fileAgeMin, never on a
 * write alone (a file written and left open is posted only once it has not changed for a
 * minute); older than fileAgeMax it is dropped; gone before it was posted, it is skipped
 * silently. Renames inside the tree are one message with fileOp.rename (of a folder too:
 * one message for the whole folder), a move in from outside is a new file (a folder moved
 * in is walked), a move out is a removal. `fileEvents` chooses which become messages
 * (a rename is posted when create or modify is on, as sr3 does). post_on_start posts what
 * is there at start; otherwise only changes are posted. Not announced: a change of mode
 * or times alone (chmod, touch of an existing file without writing it); a hard link is
 * announced as a file.
 *
 * sr_watch keeps the type, size and mtime of every entry under its paths (about 100
 * bytes plus the path each): it is what tells a rename of a known file from a new one,
 * and what a rescan is compared with. Paths must not nest (one inside another).
 */
#ifndef SR_WATCH_H
#define SR_WATCH_H

#include "config.h"
#include "error.h"
#include "flow.h"

typedef struct sr_watch sr_watch;

/* The watch of cfg's `path` folders, logging to log (which outlives it). Opens inotify
 * (unless force_polling) and starts its reader thread; the trees are walked at the first
 * gather.
 * Errors: no path, an inotify limit (named with its sysctl), bad announce options. */
int sr_watch_new(const sr_config *cfg, sr_log *log, sr_watch **out, sr_err *err);

/* Stops the reader thread and frees everything. NULL is fine. */
void sr_watch_free(sr_watch *w);

/* The flow component of sr_watch: gather from w (never exhausted), housekeeping log
 * line, no work step. */
void sr_watch_component(sr_watch *w, sr_flow_component *out);

#endif
