/* SPDX-License-Identifier: GPL-2.0-only */
/* wrong_abi: a test plugin built for another ABI version (test_plugins.c). */
#include "sr/plugin.h"

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION + 98;

static const sr_plugin desc = {.abi_version = SR_PLUGIN_ABI_VERSION + 98, .name = "wrong_abi"};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    return &desc;
}
