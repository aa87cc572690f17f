/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * show: print a loaded config as `sr show` does: every option, its value in force and
 * where that value came from; then masks, subtopics, declarations and warnings.
 * Passwords never appear: URLs are redacted. Given the credentials, a URL option without
 * a password is shown as the flow will use it (user and password filled in from
 * credentials.conf, the password as ***) with the credentials line it came from, so an
 * operator sees at once whether a broker will find its password.
 */
#ifndef SR_SHOW_H
#define SR_SHOW_H

#include <stdio.h>

#include "config.h"
#include "credentials.h"
#include "error.h"

struct json_t;

/* The value of one option as `sr show` prints it ("on", "300", "0644", a redacted URL,
 * "None" when unset). New string, caller frees; NULL when out of memory. */
char *sr_show_value(const sr_config *cfg, enum sr_option_id id);

/* Human-readable listing, one option per line. creds may be NULL (none loaded). nodes,
 * when not NULL, is which broker node each running instance is on (instance number as
 * text -> "host:port", sr_status_row's nodes): shown as a last `# brokerNodes` line. */
int sr_show_text(const sr_config *cfg, const sr_credentials *creds, const struct json_t *nodes,
                 FILE *out, sr_err *err);

/* The same as one JSON object (see sr(1) for its shape); nodes as "brokerNodes" (null
 * when NULL). */
int sr_show_json(const sr_config *cfg, const sr_credentials *creds, const struct json_t *nodes,
                 FILE *out, sr_err *err);

#endif
