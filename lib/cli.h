/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cli: what every sr executable does before its own work: find its folders, split the
 * command line into options and words, load a config, print its options for --help.
 * It keeps the mains in cmd/ to a screenful each.
 */
#ifndef SR_CLI_H
#define SR_CLI_H

#include <stdio.h>

#include "config.h"
#include "credentials.h"
#include "error.h"
#include "paths.h"

typedef struct sr_cli {
    sr_paths paths;
    sr_override *overrides; /* --option value, applied over every config loaded */
    size_t override_count;
    char **positional;      /* the other words: verb, config names, files */
    size_t positional_count;
    sr_credentials *credentials; /* loaded by sr_cli_credentials, NULL before */
} sr_cli;

/* Parse argv[1..] and find the folders. Free with sr_cli_fini, even after an error. */
int sr_cli_init(sr_cli *cli, int argc, char **argv, sr_err *err);
void sr_cli_fini(sr_cli *cli);

/* Load a component's config by name (or path), with the command line's overrides. */
int sr_cli_load(const sr_cli *cli, enum sr_component component, const char *config,
                sr_config **out, sr_err *err);

/* The config folder's credentials.conf, read on first use (a missing file is an empty
 * set). *warnings gets the file's warnings the first time only, for the caller to print;
 * a malformed file is an error naming file:line. */
int sr_cli_credentials(sr_cli *cli, const sr_credentials **out, const sr_strlist **warnings,
                       sr_err *err);

/* Does the command line hold this word (e.g. "--json", "-h")? Removes it when found. */
int sr_cli_take(sr_cli *cli, const char *word);

/* The configs under the config folder ("component/name", sorted) that match any of the
 * fnmatch patterns (all configs when there are none). A pattern without '/' matches a
 * component name ("subscribe") or a config name ("hpfx"). */
int sr_cli_find_configs(const sr_cli *cli, char *const *patterns, size_t pattern_count,
                        sr_strlist *found, sr_err *err);

/* The options a component takes, with type and help, for --help. */
void sr_cli_print_options(enum sr_component component, FILE *out);

#endif
