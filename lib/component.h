/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * component: the shared main of the component executables (sr_subscribe, sr_sarra...).
 * Each cmd/sr_<component>.c calls sr_component_main with its component; what differs
 * between components is their configuration (conf.d/<component>.conf), not this code.
 */
#ifndef SR_COMPONENT_H
#define SR_COMPONENT_H

#include "options.h"

#include "config.h"
#include "credentials.h"
#include "error.h"
#include "flow.h"
#include "log.h"

/* The work step of the components that move data (subscribe, sarra, sender), given by
 * their executable. The component code reaches the transfer layer only through it, so
 * the executables that move no data (post, watch, shovel, winnow, sr) do not link libcurl
 * and libssh, whose two dozen libraries cost 4.5 MiB of resident memory at start. */
typedef struct sr_component_work {
    /* Make the work step of svc->cfg into fc, with what it needs from svc (which outlives
     * it); *state is passed to release. */
    int (*attach)(const sr_flow_services *svc, sr_flow_component *fc, void **state, sr_err *err);
    void (*release)(void *state);
} sr_component_work;

/* Usage: sr_<component> [--option value ...] ACTION CONFIG
 *   ACTION: show (print the resolved config), check (load and check it, exit 0 if it
 *   can run), foreground (run one instance attached to the terminal).
 * Returns the process exit status: 0 ok, 1 the config has an error, 2 usage. */
int sr_component_main(enum sr_component component, int argc, char **argv);
/* The same for a component with a work step (NULL: none). */
int sr_component_main_work(enum sr_component component, const sr_component_work *work,
                           int argc, char **argv);

#endif
