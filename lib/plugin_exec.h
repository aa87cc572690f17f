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
 *        "options": ["myOption", ...], "schemes": ["fake", ...]}
 *       name: what logs and `filename DESTFNSCRIPT=NAME` call it (required).
 *       hooks: any of on_start on_stop on_housekeeping after_accept after_work after_post
 *       gather poll destfn download send metrics_report. options: the option names the
 *       plugin reads; a config line naming one is then not refused. schemes (required
 *       with download or send, at least one): the URL schemes they handle. Other keys
 *       are ignored (room for later versions).
 *     A reply that is not this (another version, not JSON, an unknown hook, download or
 *     send without schemes) is an error naming the plugin: the component does not start.
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
 *     > {"id": N, "hook": "download", "message": MSG, "url": "fake://host/a/b"}
 *     < {"id": N, "data": "BASE64"}                any number of them, the file in order
 *     < {"id": N}                                  done (or an error: failed, retried)
 *       Each data line's bytes go at once to sr's sink (checksum, announced size,
 *       byteRateMax, the partial file: the plugin never gets a path or a descriptor of
 *       sr's). A data line holds at most 1 MiB (decoded; strict base64, padded). When the
 *       sink refuses bytes (more than announced, disk full) sr stops reading the reply:
 *       the plugin is then out of step and is killed, the refusal is the download's
 *       error as it is, and the plugin is started again at its next call, without the
 *       pause of a failure (the fault may be the message's).
 *
 *     > {"id": N, "hook": "send", "message": MSG, "remote_path": "/x/y"}
 *     > {"id": N, "data": "BASE64"}                the file, in lines of 256 KiB
 *     > {"id": N, "end": true}
 *     < {"id": N}                                  or {"id": N, "error": "why"}
 *       remote_path is the final name: the plugin makes the write atomic if it can. It
 *       may answer an error before the end line (the remote refused at once): sr then
 *       stops reading the file and sends the end line after the line it was writing; the
 *       plugin skips the request's data lines up to it, and stays in step. Any other
 *       early answer is out of step. When sr cannot read the file, the plugin is killed
 *       as for a refused download.
 *
 *   For download and send, pluginTimeout runs between lines (a data line read or
 *   written, the end of a sink's or source's wait), not over the whole file: a slow but
 *   moving transfer is fine, a silent one is given up.
 *
 *   Download and send came after the first exec plugins, and are part of version 1: no
 *   program outside sr's own tree spoke the protocol yet, and a plugin without them is
 *   unchanged.
 *
 *   Any request may be answered {"id": N, "error": "why"}: the plugin is well but could
 *   not do it. on_start: the component does not start; after_accept, after_work: every
 *   message of the request goes to the retry queue with the reason; gather, poll: nothing
 *   this time; destfn: the message is rejected (not written or sent) with the reason;
 *   download, send: the file is retried later; the others (after_post: the messages are
 *   posted already): logged.
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
