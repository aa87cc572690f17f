/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dump: `sr dump` and `sr overview`, sr3's two other views of the supervisor's state,
 * from what `sr status` gathers (status.h: configs, pid files, metrics) and, for dump,
 * the configs' brokers and queues. Like status they read the disk only, never a broker.
 *
 * dump prints one JSON document with sr3 dump's sections, under sr3's names:
 *   "Processes"          {pid: {component, config, instance, age, claimed}}: every live
 *                        instance process of ours; claimed when a pid file names it
 *   "Configs"            {component: {config: {status, state, instances, running,
 *                        disabled, file, error?}}}: status in sr3's words (running,
 *                        partial, missing, stopped, disabled, foreground, error), state in sr
 *                        status's; options are left to `sr show`, as sr3 leaves them
 *   "States"             {component: {config: {instance_pids, queueName, status,
 *                        has_state}}}
 *   "Bindings"           {broker host: {exchanges: {exchange: [component/config]},
 *                        queues: {queue: [component/config]}}}
 *   "Missing instances"  ["component/config_N"]: instances meant to run that do not
 * Unlike sr3's, the document is valid JSON (sr3's is assembled by hand).
 *
 * overview prints sr3's summary: one line per component (state, OK or not, how many
 * configs, which, each running one with -i<running>/<expected>), a line per status when
 * a component is mixed, the processes that are no configured instance, and a total.
 */
#ifndef SR_DUMP_H
#define SR_DUMP_H

#include "cli.h"

/* `sr dump [PATTERN ...]`: exit status 0, 1 when a config could not be read (its entry
 * says why), 2 usage. --json is accepted: the output is JSON either way. */
int sr_dump_main(sr_cli *cli, int argc, char **argv);

/* `sr overview [--json] [PATTERN ...]`: exit status 0 when every component is stopped,
 * running, or running but for disabled configs, and no stray process runs; 1 otherwise
 * (as sr3's overview); 2 usage. */
int sr_overview_main(sr_cli *cli, int argc, char **argv);

#endif
