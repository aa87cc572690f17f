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
#include "options.h"
#include "plugins_impl.h"

/* send.email is in the executables that write SR_BUILTIN_EMAIL_LINK (builtins.h says
 * why); elsewhere its address is NULL. */
#pragma weak sr_builtin_email

static const struct {
    const char *name;
    const sr_plugin *desc;   /* NULL: not linked into this executable */
    unsigned components;     /* the components it may be used in (enum sr_component); 0: all */
} builtins[] = {
    {"accept.hourtree", &sr_builtin_hourtree, 0},
    {"accept.httptohttps", &sr_builtin_httptohttps, 0},
    {"accept.pathreplace", &sr_builtin_pathreplace, 0},
    {"accept.posthourtree", &sr_builtin_posthourtree, 0},
    {"accept.printlag", &sr_builtin_printlag, 0},
    {"accept.renamedmf", &sr_builtin_renamedmf, 0},
    {"accept.renamewhatfn", &sr_builtin_renamewhatfn, 0},
    {"accept.sundewpxroute", &sr_builtin_sundewpxroute, 0},
    {"accept.toclusters", &sr_builtin_toclusters, 0},
    {"accept.wmotypesuffix", &sr_builtin_wmotypesuffix, 0},
    {"destfn.replace", &sr_builtin_destfn_replace, 0},
    {"destfn.sample", &sr_builtin_destfn_sample, 0},
    {"send.email", &sr_builtin_email, SR_C_SENDER},
    {"work.rxpipe", &sr_builtin_rxpipe, 0},
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
    unsigned components;
    const sr_plugin *desc;
    return sr_plugin_builtin_known(short_name, &desc, &components) ? desc : NULL;
}

bool sr_plugin_builtin_known(const char *short_name, const sr_plugin **desc,
                             unsigned *components)
{
    *desc = NULL;
    *components = 0;
    if (short_name == NULL)
        return false;
    for (size_t i = 0; i < NBUILTINS; i++)
        if (strcmp(builtins[i].name, short_name) == 0) {
            *desc = builtins[i].desc;
            *components = builtins[i].components;
            return true;
        }
    return false;
}

const char *const *sr_plugin_builtin_names(void)
{
    return names;
}
