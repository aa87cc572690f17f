/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * url: split and rebuild the URLs sr meets in configs and credentials.conf
 * (amqp[s]://user:pw@host:port/vhost, mqtt[s]://, sftp://, http[s]://, ftp[s]://, file:).
 * A broker URL may name several hosts, the nodes of a cluster: amqp://u@h1,h2:5673,h3/.
 *
 * User and password are percent-decoded (credentials.conf writes %3A for ':' and %2f for
 * '/'); everything else is kept as written. A URL is never logged with its password:
 * use sr_url_redacted().
 */
#ifndef SR_URL_H
#define SR_URL_H

#include <stdbool.h>

#include "error.h"

/* One host of a URL that names several (a broker's cluster nodes). */
typedef struct sr_url_node {
    char *host; /* lower case */
    int port;   /* 0 when not written */
} sr_url_node;

typedef struct sr_url {
    char *scheme;   /* lower case, never NULL after a successful parse */
    char *user;     /* decoded; NULL when the URL names none */
    char *password; /* decoded; NULL when the URL has none */
    char *host;     /* lower case; NULL for file: URLs */
    int port;       /* 0 when the URL gives none (see sr_url_port) */
    char *path;     /* as written, starting with '/', or "" when there is none */
    /* Broker URLs (amqp, amqps, mqtt, mqtts) may name several hosts, each with its own
     * port or none: amqp://user@h1,h2:5673,h3/vhost. host and port above are the first;
     * the others, in the order written, are here. Any other scheme refuses a list. */
    sr_url_node *others;
    size_t other_count;
} sr_url;

/* How closely TLS peers are checked (the tlsRigour option), for brokers and transfers. In
 * the order of tlsRigour's choices in options.def (sr_config_choice), normal first so that
 * a zeroed options struct checks TLS. */
enum sr_tls_rigour {
    SR_TLS_NORMAL, /* certificate chain and host name checked (default) */
    SR_TLS_LAX,    /* neither checked: for a test server; reported as a warning on connect */
    SR_TLS_STRICT, /* as normal, and TLS 1.2 or later */
};

/* Parse text into url (which need not be initialised). On error url is left zeroed and
 * err names the URL (redacted) and what is wrong with it. Free with sr_url_fini. */
int sr_url_parse(const char *text, sr_url *url, sr_err *err);

/* Free what url holds and zero it. Safe on a zeroed url. */
void sr_url_fini(sr_url *url);

/* The port to connect to: url->port, or the scheme's usual one (amqp 5672, amqps 5671,
 * mqtt 1883, mqtts 8883, sftp 22, http 80, https 443, ftp 21, ftps 990), or 0. */
int sr_url_port(const sr_url *url);

/* The URL rebuilt, password included only when with_password is true (otherwise the
 * password, if any, is written as "***"). New string, caller frees; NULL when out of memory. */
char *sr_url_format(const sr_url *url, bool with_password);

/* text with any password between "//user:" and "@" replaced by "***", for logs. Works on
 * text that does not parse as a URL too. New string, caller frees. */
char *sr_url_redacted(const char *text);

/* The user a URL text names, or "anonymous" when it names none (sr3's rule for broker
 * users: exchange xs_<user>, queue q_<user>..., source). New string; NULL when the text
 * is not a URL or out of memory. */
char *sr_url_user(const char *text);

/* How many hosts the URL names: 1 + other_count (0 for a file: URL). */
size_t sr_url_node_count(const sr_url *url);

/* Host i of the URL (0 is url->host) and its port as written (0: none). */
sr_url_node sr_url_node_at(const sr_url *url, size_t i);

/* "host:port" of node i, the port filled in with the scheme's usual one (sr_url_port),
 * an IPv6 host in brackets: what logs and `sr status` show. */
void sr_url_node_text(const sr_url *url, size_t i, char *out, size_t size);

/* A copy of src into dst (dst need not be initialised). Returns SR_OK or SR_ENOMEM. */
int sr_url_copy(sr_url *dst, const sr_url *src);

#endif
