/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_exec: plugins in any language, as a long-running co-process (sr-plugin(7),
 * EXEC PLUGINS). `flowcb exec:COMMAND ARG...` starts COMMAND (split on blanks, looked up
 * on PATH, no shell) with its standard input and output as the protocol channel; what it
 * writes to standard error goes to the instance's log, a line at a time, under the
 * plugin's name.
 *
 * THE PROTOCOL (version 1). One JSON object per line (UTF-8, no newline inside an
 * object), each way. sr writes a request and waits for its reply; the plugin answers
 * every request, in order, with the request's "id".
 *
 *   handshake (sr first, once per process):
 *     > {"sr_exec": 1, "component": "subscribe", "config": "NAME", "instance": 1,
 *        "state_dir": "/...", "options": {"NAME": ["value", ...], ...}}
 *       options: every option the config sets, as its text values (one per line given),
 *       with the lines sr itself does not know (the plugin's own options)
 *     < {"sr_exec": 1, "name": "rename", "hooks": ["after_accept", ...],
 *        "options": ["myOption", ...]}
 *       name: what logs and `filename DESTFNSCRIPT=NAME` call it (required).
 *       hooks: any of on_start on_stop on_housekeeping after_accept after_work after_post
 *       gather poll destfn metrics_report (download and send move bytes and are for C
 *       plugins only: an exec plugin naming them is refused). options: the option names
 *       the plugin reads; a config line naming one is then not refused. Other keys are
 *       ignored (room for later versions).
 *     A reply that is not this (another version, not JSON, an unknown hook) is an error
 *     naming the plugin: the component does not start.
 *
 *   then requests, "id" counting from 1:
 *     > {"id": N, "hook": "on_start" | "on_stop" | "on_housekeeping"}
 *     < {"id": N}                                  or {"id": N, "error": "why"}
 *
 *     > {"id": N, "hook": "after_accept", "messages": [MSG, ...]}
 *     > {"id": N, "hook": "after_work", "messages": [MSG, ...],
 *        "outcomes": ["done" | "failed", ...]}
 *     < {"id": N, "results": [RESULT, ...]}        one per message, in order
 *       MSG: the message as v03 JSON, with new_dir, new_file, new_relPath, new_baseUrl
 *       when its destination is known.
 *       RESULT: {"verdict": "keep" | "reject" | "retry", "why": "reason",
 *                "set": {"FIELD": VALUE or null, ...}}   (all but verdict optional;
 *       null removes a field; fields as sr/plugin.h's msg_set allows, checked alike)
 *
 *     > {"id": N, "hook": "after_post", "messages": [MSG, ...]}
 *     < {"id": N}
 *
 *     > {"id": N, "hook": "gather", "max": 100}   or {"id": N, "hook": "poll"}
 *     < {"id": N, "messages": [MSG, ...]}          baseUrl and relPath required; pubTime
 *                                                  is now when absent; at most max
 *
 *     > {"id": N, "hook": "destfn", "message": MSG}
 *     < {"id": N, "name": "file name" | null}      null: the name stays
 *
 *     > {"id": N, "hook": "metrics_report"}
 *     < {"id": N, "metrics": {"NAME": NUMBER, ...}}
 *
 *   Any request may be answered {"id": N, "error": "why"}: the plugin is well but could
 *   not do it. on_start: the component does not start; after_accept, after_work: every
 *   message of the request goes to the retry queue with the reason; gather, poll: nothing
 *   this time; destfn: the message is rejected (not written or sent) with the reason;
 *   the others (after_post: the messages are posted already): logged.
 *   Blank lines from the plugin are skipped. A reply line may be up to 256 MiB.
 *
 * Failure. A plugin that exits, closes its output, answers with something that is not
 * the reply to the request (not JSON, another id, results of another length), or takes
 * longer than pluginTimeout to answer, is killed (its process group) and logged as an
 * error naming it; every message of the request in flight goes to the retry queue (never
 * acked before it is queued there), and the plugin is started again (handshake and
 * on_start) at its next call, after a pause that doubles from 1 s to 60 s while it keeps
 * failing (a request answered sets it back to 1 s). Meanwhile messages it should see go
 * to the retry queue too, and gather and poll give nothing. A plugin started again must
 * declare the hooks it declared at first.
 *
 * Ending. At on_stop sr sends on_stop (to a plugin that has it) and waits for its answer
 * up to pluginTimeout, then closes the plugin's standard input: the plugin should exit
 * when it reads end of file. One still running 2 s later gets SIGTERM, 2 s after that
 * SIGKILL (its whole process group, each time).
 */
#ifndef SR_PLUGIN_EXEC_H
#define SR_PLUGIN_EXEC_H

#define SR_EXEC_PROTOCOL_VERSION 1

#endif
