/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * declare: `sr declare` and `sr cleanup` (sr(1), VERBS), what sets a config up on its brokers
 * before it first runs and what takes it down after it is retired.
 *
 * declare, per config: the exchanges it posts to on post_broker (post_exchange, or each of
 * post_exchange00..NN-1 with post_exchangeSplit), and on its broker the queue it consumes
 * from with its bindings (queueDeclare, queueBind as configured), as instance 1 would at
 * start-up; on MQTT the persistent session of instance 1 and its subscriptions. The queue
 * name is saved in the state folder as instance 1 does, so the instances started later
 * consume from the queue declared here. One line per thing declared.
 *
 * cleanup, per config, refused while any instance runs: delete its queue (AMQP) or end the
 * persistent session of each instance (MQTT), then its state files (the saved queue name,
 * the retry queues, the duplicate cache, the metrics files, pid files of dead instances),
 * keeping `disabled`. When the broker cannot be reached the state files stay, so that a
 * later cleanup still knows the queue's name. Like sr3, more than one config needs
 * --dangerWillRobinson N, N the number of configs.
 */
#ifndef SR_DECLARE_H
#define SR_DECLARE_H

#include "cli.h"

/* `sr declare [PATTERN ...]`: argv holds what follows the verb. Exit status 0, 1 when
 * some config failed (its error names the config and the broker), 2 usage. */
int sr_declare_main(sr_cli *cli, int argc, char **argv);

/* `sr cleanup [PATTERN ...]`: the same exit statuses. */
int sr_cleanup_main(sr_cli *cli, int argc, char **argv);

#endif
