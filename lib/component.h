/*
 * component: the shared main of the component executables (sr_subscribe, sr_sarra...).
 * Each cmd/sr_<component>.c calls sr_component_main with its component; what differs
 * between components is their configuration (conf.d/<component>.conf), not this code.
 */
#ifndef SR_COMPONENT_H
#define SR_COMPONENT_H

#include "options.h"

/* Usage: sr_<component> [--option value ...] ACTION CONFIG
 *   ACTION: show (print the resolved config), check (load and check it, exit 0 if it
 *   can run), foreground (run one instance attached to the terminal).
 * Returns the process exit status: 0 ok, 1 the config has an error, 2 usage. */
int sr_component_main(enum sr_component component, int argc, char **argv);

#endif
