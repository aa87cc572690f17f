/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xfer_upper: a destfn for test_plugin_transfer.py (`filename DESTFNSCRIPT=upper`): the
 * destination file is the last name of relPath in upper case; a name holding "refuse"
 * makes it fail, one holding "climb" makes it answer "..", which sr must refuse.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sr/plugin.h>

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

static const sr_plugin_api *api;

static int upper_destfn(sr_plugin_host *h, sr_plugin_msg *m, char *name, size_t size)
{
    (void)h;
    const char *rel = api->msg_get(m, "relPath");
    if (rel == NULL || strstr(rel, "refuse") != NULL)
        return -1;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    if (strstr(base, "climb") != NULL)
        base = "..";
    snprintf(name, size, "%s", base);
    for (char *c = name; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    return 0;
}

static const sr_plugin plugin = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "upper",
    .destfn = upper_destfn,
};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *a)
{
    api = a;
    return &plugin;
}
