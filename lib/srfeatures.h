/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * srfeatures: `sr features`, what this build of sr supports, in the spirit of `sr3 features`
 * (which lists the Python modules found): the protocols it speaks (brokers and transfers,
 * asked of the libraries it runs with, so a libcurl without ftps says so), the message
 * formats and identity methods, its components and the sr3 ones it lacks, and the sr3
 * options it does not support with the reason (from the option table, never a copy).
 */
#ifndef SR_SRFEATURES_H
#define SR_SRFEATURES_H

#include <stdio.h>

#include "cli.h"
#include "error.h"

/* The whole report as a JSON document (new jansson object, as a string the caller frees),
 * or NULL when out of memory. */
char *sr_features_json(const sr_cli *cli);

/* `sr features [--json]`: argv holds what follows the verb. Exit status 0; 1 when this
 * build can reach no broker at all (as sr3 says ERROR then), 2 usage. */
int sr_features_main(sr_cli *cli, int argc, char **argv);

#endif
