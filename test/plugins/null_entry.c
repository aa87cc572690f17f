/* SPDX-License-Identifier: GPL-2.0-only */
/* null_entry: a test plugin whose sr_plugin_entry returns no description (test_plugins.c). */
#include <stddef.h>

#include "sr/plugin.h"

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return NULL;
}
