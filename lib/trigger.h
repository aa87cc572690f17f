/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * trigger: an external command run after each file is done (the `trigger` option, an sr
 * extension: sr3 does this with Python plugins). The command runs through /bin/sh -c with
 * the message in its environment:
 *
 *   SR_RELPATH    relPath as posted        SR_BASEURL   baseUrl as posted
 *   SR_LOCALPATH  the local file (where the component wrote or read it), or ""
 *   SR_IDENTITY   "method,value", or ""    SR_SIZE      bytes, or ""
 *   SR_PUBTIME    pubTime                  SR_FILEOP    remove, rmdir, mkdir, link,
 *                                                       rename, or "" for file data
 *   SR_COMPONENT, SR_CONFIG                who ran it
 *
 * Its stdin is /dev/null; each line of its output (stdout and stderr) is logged as
 * "<relPath>: trigger: <line>" at INFO (escaped as every log line is: the output may
 * quote a file from outside); it gets none of the instance's other descriptors, and
 * signals at their defaults. It fails when it exits non-zero, is killed, or runs past the
 * timeout.
 *
 * It runs as the leader of a process group of its own. Past the timeout the whole group
 * is killed (SIGKILL): the shell and what it started that stayed in the group (a pipeline,
 * `cmd &`). A descendant that left the group (setsid) is out of reach. sr waits for the
 * shell alone: what the command leaves running when it exits in time is neither waited
 * for nor killed, and holds none of sr's descriptors; its output is read until the shell
 * ends (then what is already written, up to 64 KB), and after that it writes to a closed
 * pipe (EPIPE, or SIGPIPE at its default).
 */
#ifndef SR_TRIGGER_H
#define SR_TRIGGER_H

#include "error.h"
#include "log.h"
#include "message.h"

/* What a failed trigger does (triggerFailure), in the order of the option's choices in
 * options.def (sr_config_choice). */
enum sr_trigger_failure {
    SR_TRIGGER_FAILURE_LOG,   /* log it; the file counts as done */
    SR_TRIGGER_FAILURE_RETRY, /* log it and send the message to the retry queue */
};

typedef struct sr_trigger_context {
    const char *component, *config;
    const char *local_path; /* may be NULL */
    sr_log *log;            /* where its output goes; NULL: sr's own stdout and stderr */
} sr_trigger_context;

/* Run command for m and wait for it (up to timeout seconds; 0: no limit). SR_OK when it
 * exited 0; otherwise SR_EIO with err saying how it ended. */
int sr_trigger_run(const char *command, const sr_message *m, const sr_trigger_context *ctx,
                   double timeout, sr_err *err);

#endif
