/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * convert: `sr convert COMPONENT/NAME`, a Sarracenia v2 configuration
 * (~/.config/sarra/<component>/NAME.conf) rewritten in sr3 form into sr's config folder,
 * as `sr3 convert` rewrites it into sr3's.
 *
 * Per line: v2 spellings become the sr3 option names (the option table's aliases,
 * destination -> sendTo, sum -> identity with v2's one-letter methods spelled out, the
 * v2 ${YYYYMMDD}-style patterns as strftime patterns); obsolete v2 keywords and plugins
 * that sr3 made built-in are dropped (a comment says so); v2 plugins that sr3 turns into
 * Python callbacks, and plugins sr3 cannot convert, have no sr equivalent: the line is
 * kept commented out, with the reason above it, and convert reports it. At the end, as
 * sr3 does: `accept .*` is left out, and subscribers and senders get the v2 default
 * `acceptUnmatched False` unless the file set it. The file written is then loaded as sr
 * would load it, and every warning or refusal is reported as file:line.
 */
#ifndef SR_CONVERT_H
#define SR_CONVERT_H

#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "strlist.h"

/* sr's component for a v2 component folder name ("cpump" -> "shovel"; "cpost" is "post"),
 * or NULL when sr has none (poll, report, audit...). */
const char *sr_convert_component(const char *v2_component);

/* Convert the v2 config read from in (named label in the reports) for the v2 component
 * (its folder name), writing the sr3 form to out. Each line not carried over is appended
 * to problems ("label:line: why"); lines dropped because sr3 dropped them too are
 * appended to notes. Returns SR_OK, or an error when reading or writing failed. */
int sr_convert_stream(const char *v2_component, const char *label, FILE *in, FILE *out,
                      sr_strlist *problems, sr_strlist *notes, sr_err *err);

/* The sr3 line a v2 plugin line (entry "on_message", plugin "msg_rename_whatfn", without
 * its ".py") becomes when sr3 turns it into a flowcb ("callback accept.renamewhatfn"), or
 * NULL when sr3 makes an option of it, drops it, or has no rule for it. */
const char *sr_convert_v2_callback(const char *entry, const char *plugin);

/* `sr convert [--force] COMPONENT/NAME ...`: argv holds what follows the verb; a word
 * default.conf or admin.conf converts v2's file of that name (read by every config) into
 * sr's folder, which sr3 convert cannot do. Exit
 * status 0 when every config converted with nothing left out and loads cleanly, 1 when
 * a line was left out, the result does not load or warns, or a config could not be
 * written (exists without --force, no v2 file, a component sr lacks), 2 usage. */
int sr_convert_main(sr_cli *cli, int argc, char **argv);

#endif
