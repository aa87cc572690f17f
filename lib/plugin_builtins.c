/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_builtins: STUB so libsr links while the built-in plugins are written by another
 * helper; it replaces this file whole. No built-in yet.
 */
#include "plugins_impl.h"

const sr_plugin *sr_plugin_builtin_find(const char *short_name)
{
    (void)short_name;
    return NULL;
}

const char *const *sr_plugin_builtin_names(void)
{
    static const char *const none[] = {NULL};
    return none;
}
