/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * credentials: the secrets file, ~/.config/sr/credentials.conf (sr-credentials(5); sr3 keeps
 * it in ~/.config/sr3/).
 *
 * One credential per line: `URL [detail[,detail...]]`. The URL carries the user and the
 * password (percent-encoded: %3A for ':', %2f for '/', %40 for '@'); the details are
 * `name` or `name=value` words that tune the protocol (ssh_keyfile=, passive, tls, ...).
 * Blank lines and lines whose first non-blank character is '#' are skipped.
 *
 * Configurations name a URL without its password (amqps://bob@pump/); the flow asks this
 * module for the matching line, sr3's lookup rule (see sr_credentials_find).
 */
#ifndef SR_CREDENTIALS_H
#define SR_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "strlist.h"
#include "url.h"

typedef struct sr_credential {
    sr_url url;                 /* with the password */
    char *ssh_keyfile;          /* ssh_keyfile=PATH, ~ expanded from $HOME, or NULL */
    bool passive;               /* ftp; default true (active turns it off) */
    bool binary;                /* ftp; default true (ascii turns it off) */
    bool tls;                   /* tls; ssl turns it off */
    bool prot_p, implicit_ftps; /* implicit_ftps also sets tls */
    char *bearer_token;         /* bearer_token=T or bt=T */
    char *login_method;         /* PLAIN|AMQPLAIN|EXTERNAL|GSSAPI (upper case), or NULL */
    char *s3_endpoint, *s3_session_token, *azure_storage_credentials; /* kept, unused yet */
    char *file;                                                       /* where it was read */
    int line;
} sr_credential;

/* The parsed file; opaque. */
typedef struct sr_credentials sr_credentials;

/* Read the credentials file at path into a new set (*out; free with sr_credentials_free).
 * A missing file is not an error: *out is an empty set. A malformed line is an error
 * (SR_EINVAL) naming path:line and the problem, the URL redacted; an unreadable file is
 * SR_EIO or SR_EPERM. Lesser problems (an unknown detail word, a file readable by group
 * or others, a line repeating an earlier URL) become warnings: see
 * sr_credentials_warnings. On error *out is NULL. */
int sr_credentials_load(const char *path, sr_credentials **out, sr_err *err);

/* The warnings collected while loading, for the caller to log. Never NULL for a set. */
const sr_strlist *sr_credentials_warnings(const sr_credentials *c);

/* How many credentials the set holds, and the i-th of them in file order (NULL when i is
 * out of range). For `sr declare --users`, which walks them all. */
size_t sr_credentials_count(const sr_credentials *c);
const sr_credential *sr_credentials_get(const sr_credentials *c, size_t i);

/* The first credential matching url by sr3's rule, or NULL:
 *  - same scheme, same host (case-insensitive), same port as written: an explicit port on
 *    one side does not match an absent one, even the scheme's usual port (sr3 compares
 *    urllib's .port, which is None when not written);
 *  - when url names a user, the same user; when it names none, any user (the first line
 *    for that scheme/host/port wins);
 *  - when url has a password, the same password (sr3 does this too);
 *  - for amqp and amqps, the same vhost (path), with "" counting as "/".
 * A broker URL naming several nodes (url.h) takes the first line naming the same list,
 * else the first line naming one of its nodes, with the same other tests.
 * The result belongs to c. */
const sr_credential *sr_credentials_find(const sr_credentials *c, const sr_url *url);

/* out = a copy of in, with the user and password taken from the matching credential
 * (sr_credentials_find) when in lacks them. No match is not an error: out is then a plain
 * copy of in. Returns SR_OK or SR_ENOMEM (out zeroed, or left as it was when it is in).
 * out may be in. */
int sr_credentials_complete(const sr_credentials *c, const sr_url *in, sr_url *out, sr_err *err);

/* Free the set (NULL-safe); secrets are wiped before the memory is released. */
void sr_credentials_free(sr_credentials *c);

#endif
