/* SPDX-License-Identifier: GPL-2.0-only */
/* noentry: a plugin that forgot sr_plugin_entry (only the ABI version is there). */
#include <sr/plugin.h>

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;
