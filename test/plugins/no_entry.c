/* SPDX-License-Identifier: GPL-2.0-only */
/* no_entry: a test plugin without sr_plugin_entry (test_plugins.c). */
#include "sr/plugin.h"

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;
