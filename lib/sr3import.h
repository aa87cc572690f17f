/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr3import: `sr import`, copy an sr3 configuration tree (~/.config/sr3, or a folder given)
 * into ours (paths.h config_dir), and say what in it sr will not honour.
 *
 * Copied: default.conf, admin.conf, credentials.conf (mode 0600, it holds passwords) and
 * every <component>/<name>.conf and <component>/<name>.inc of a component sr has. sr3's
 * cpost and cpump (the C implementations) become post and shovel. flow and report
 * configs, and plugins/, are skipped, each file named. An existing file is kept unless
 * --force. Each config is loaded first, the way config.c loads it: one the loader
 * refuses is not copied (it could not run), with the loader's file:line and reason; every
 * line it does not honour is reported as file:line with the reason (the option table's
 * SR_UNSUPPORTED entries, unknown names with a "did you mean", options without effect in
 * that component, plugins sr lacks: an sr3 poll's `callback poll.airnow` among them, as
 * sr_poll lists only the servers it has built in).
 */
#ifndef SR_SR3IMPORT_H
#define SR_SR3IMPORT_H

#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "strlist.h"

/* sr's component for an sr3 component folder name ("cpump" -> "shovel"), or NULL when
 * sr has no such component (flow, report...). */
const char *sr_import_component(const char *sr3_name);

/* sr's component for one sr3 config: as sr_import_component, except that a cpost config
 * with `sleep` above 0 watches a tree (sr3_cpost's daemon mode), which is sr's watch. */
const char *sr_import_component_of(const char *sr3_name, const char *path);

/* How a warning (a line that changes nothing, kept and run) starts in sr_import_check_file's
 * list. */
#define SR_IMPORT_WARNING "warning: "

/* Read the sr3 config at path as sr would for component (an sr name), with the sr3 tree's
 * default.conf and admin.conf (sr3_dir) and the shipped defaults (confd_dir), and append
 * to out, one "file:line: ..." string each (a string already in out is not added twice):
 * the lines sr would not run (the return is then SR_EREFUSED: `sr start` refuses the
 * config), then the warnings, prefixed SR_IMPORT_WARNING. A value sr cannot read is
 * appended prefixed "error: " and makes the return SR_EINVAL. */
int sr_import_check_file(const char *sr3_dir, const char *confd_dir, const char *path,
                         const char *component, sr_strlist *out, sr_err *err);

/* `sr import [--force] [DIR]`: argv holds what follows the verb. Exit status 0 when every
 * file was imported and nothing was reported, 1 when anything was not imported (a config
 * refused or of a component sr lacks, a line sr does not honour, a file kept because it
 * exists without --force, or not copied), 2 usage. */
int sr_import_main(sr_cli *cli, int argc, char **argv);

#endif
