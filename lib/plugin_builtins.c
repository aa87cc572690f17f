/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_builtins: the table of the plugins compiled into libsr (builtins.h), by sr3's
 * short flowcb name (plugins_impl.h). The host strips sr3's "sarracenia." and "flowcb."
 * prefixes and a trailing ".ClassName" before it looks a name up here, so
 * `flowcb sarracenia.flowcb.accept.renamewhatfn.RenameWhatFn` finds accept.renamewhatfn.
 *
 * The names are sorted: sr-plugin(7) and the "no sr plugin named X" refusal list them in
 * this order.
 */
#include <stddef.h>
#include <string.h>

#include "builtins.h"
#include "plugins_impl.h"

static const struct {
    const char *name;
    const sr_plugin *desc;
} builtins[] = {
    {"accept.hourtree", &sr_builtin_hourtree},
    {"accept.httptohttps", &sr_builtin_httptohttps},
    {"accept.pathreplace", &sr_builtin_pathreplace},
    {"accept.posthourtree", &sr_builtin_posthourtree},
    {"accept.printlag", &sr_builtin_printlag},
    {"accept.renamedmf", &sr_builtin_renamedmf},
    {"accept.renamewhatfn", &sr_builtin_renamewhatfn},
    {"accept.sundewpxroute", &sr_builtin_sundewpxroute},
    {"accept.toclusters", &sr_builtin_toclusters},
    {"accept.wmotypesuffix", &sr_builtin_wmotypesuffix},
    {"destfn.replace", &sr_builtin_destfn_replace},
    {"destfn.sample", &sr_builtin_destfn_sample},
    {"send.email", &sr_builtin_email},
    {"work.rxpipe", &sr_builtin_rxpipe},
};

#define NBUILTINS (sizeof builtins / sizeof builtins[0])

static const char *const names[NBUILTINS + 1] = {
    "accept.hourtree",      "accept.httptohttps",   "accept.pathreplace",
    "accept.posthourtree",  "accept.printlag",      "accept.renamedmf",
    "accept.renamewhatfn",  "accept.sundewpxroute", "accept.toclusters",
    "accept.wmotypesuffix", "destfn.replace",       "destfn.sample",
    "send.email",           "work.rxpipe",          NULL,
};

const sr_plugin *sr_plugin_builtin_find(const char *short_name)
{
    if (short_name == NULL)
        return NULL;
    for (size_t i = 0; i < NBUILTINS; i++)
        if (strcmp(builtins[i].name, short_name) == 0)
            return builtins[i].desc;
    return NULL;
}

const char *const *sr_plugin_builtin_names(void)
{
    return names;
}
