/* SPDX-License-Identifier: GPL-2.0-only */
/* oldabi: a plugin built for an ABI sr does not have (SR_PLUGIN_ABI_VERSION + 100). sr
 * must refuse it before calling anything: sr_plugin_entry aborts if called. */
#include <stdlib.h>

#include <sr/plugin.h>

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION + 100;

const sr_plugin *sr_plugin_entry(const sr_plugin_api *api)
{
    (void)api;
    abort();
}
