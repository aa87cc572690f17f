/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtins: the plugins compiled into libsr under sr3's flowcb names (sr-plugin(7)),
 * found by plugin_builtins.c's table. Each is written against the public sr/plugin.h as
 * a third-party C plugin is: messages, options and the log only through h->api, its own
 * state in h->state. They borrow libsr's utilities (regex with Python's semantics, the
 * v03 time parser) where sr3's Python leaned on the same, so they match it.
 *
 * Where sr3's plugin does something unsafe or crashes on a message it did not expect,
 * ours refuses (rejects the message, or does not start) and says why; each file says
 * where it differs from sr3.
 */
#ifndef SR_BUILTINS_H
#define SR_BUILTINS_H

#include <stddef.h>

#include "sr/plugin.h"

/* builtin_accept.c: after_accept rewrites and filters on message fields. */
extern const sr_plugin sr_builtin_httptohttps;   /* accept.httptohttps */
extern const sr_plugin sr_builtin_renamewhatfn;  /* accept.renamewhatfn */
extern const sr_plugin sr_builtin_renamedmf;     /* accept.renamedmf */
extern const sr_plugin sr_builtin_hourtree;      /* accept.hourtree */
extern const sr_plugin sr_builtin_posthourtree;  /* accept.posthourtree */
extern const sr_plugin sr_builtin_toclusters;    /* accept.toclusters */
extern const sr_plugin sr_builtin_wmotypesuffix; /* accept.wmotypesuffix */
extern const sr_plugin sr_builtin_printlag;      /* accept.printlag */
extern const sr_plugin sr_builtin_pathreplace;   /* accept.pathreplace */

/* builtin_pxroute.c: accept.sundewpxroute, a Sundew routing table as a filter. */
extern const sr_plugin sr_builtin_sundewpxroute;

/* builtin_destfn.c: DESTFNSCRIPT naming. */
extern const sr_plugin sr_builtin_destfn_sample;  /* destfn.sample */
extern const sr_plugin sr_builtin_destfn_replace; /* destfn.replace */

/* builtin_rxpipe.c: work.rxpipe, each file received written to a named pipe. */
extern const sr_plugin sr_builtin_rxpipe;

/* builtin_email.c: send.email, files sent as mail through sendTo smtp://RELAY. A sender's
 * plugin: refused in the other components (sr3 would load it there and never call it).
 * It links libcurl, and a process that loads libcurl maps and starts its TLS, Kerberos
 * and LDAP libraries: some 4 MiB more resident in a shovel that never sends a file. So
 * it is only in the executables that write SR_BUILTIN_EMAIL_LINK once at file scope
 * (sr_sender, and sr, which checks every configuration); elsewhere the table's entry is
 * empty (a weak reference). */
extern const sr_plugin sr_builtin_email;
#define SR_BUILTIN_EMAIL_LINK                                                                \
    __attribute__((used)) static const sr_plugin *const sr_builtin_email_link = &sr_builtin_email

/* Shared by the built-ins: s with the first occurrence of before replaced by after (as
 * Python's str.replace(before, after, 1)), as a new string; NULL when out of memory. An
 * empty before inserts after at the start, as Python does. */
char *sr_builtin_replace_first(const char *s, const char *before, const char *after);

/* "before,after" split at its comma into two new strings: 0, or -1 when it has not
 * exactly one comma (sr3's split(',') fails then too) or memory ran out. */
int sr_builtin_split_pair(const char *pair, char **before, char **after);

#endif
