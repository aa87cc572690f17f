/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_exec: STUB so libsr links while the exec plugin backend (plugin_exec.h) is
 * written by another helper; it replaces this file whole.
 */
#include "plugins_impl.h"

int sr_plugin_exec_load(sr_plugin_instance *pi, const char *command, sr_err *err)
{
    (void)command;
    return sr_err_set(err, SR_EINVAL, false, "plugin %s: exec plugins are not built yet",
                      pi->name);
}
