/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * brokeradmin: the pump's user scheme on a RabbitMQ broker, through its management HTTP
 * API, for `sr declare --users` (sr(1), VERBS, declare: the users of admin.conf with their
 * passwords from credentials.conf).
 *
 * AMQP 0-9-1 cannot create users or grant permissions; RabbitMQ's management plugin can,
 * over HTTP with the administrator's basic auth. sr3 does the same (through rabbitmqadmin).
 * The API is on the admin broker's host: http on 15672 for an amqp:// admin URL, https on
 * 15671 for amqps:// (sr3's choice), or on the managementPort option. TLS is checked as
 * tlsRigour says, with the CA bundle from $SSL_CERT_FILE / $SSL_CERT_DIR when set.
 *
 * Everything happens on the vhost of the admin URL ("/" when it names none). A PUT of a
 * user or of permissions that exist already replaces them, so running it twice is safe
 * and changes a password that changed in credentials.conf.
 *
 * Secrets: passwords go in request bodies and the basic auth header only, never in an
 * error message.
 */
#ifndef SR_BROKERADMIN_H
#define SR_BROKERADMIN_H

#include "error.h"
#include "url.h"

/* The management API's usual ports (RabbitMQ's defaults). */
#define SR_BROKERADMIN_HTTP_PORT 15672
#define SR_BROKERADMIN_HTTPS_PORT 15671

/* The roles of sr3's user scheme, as admin.conf names them. */
enum sr_broker_role {
    SR_ROLE_ADMIN,      /* the admin URL's user: tag administrator, all permissions */
    SR_ROLE_FEEDER,     /* the feeder URL's user: all permissions, no tag */
    SR_ROLE_SOURCE,     /* declare source USER: its own queues and xs_USER exchanges */
    SR_ROLE_SUBSCRIBER, /* declare subscriber USER: its own queues, reads public exchanges */
};

/* "admin", "feeder", "source", "subscriber". */
const char *sr_broker_role_name(enum sr_broker_role role);

/* RabbitMQ permissions: three regexes over resource names. */
typedef struct sr_broker_permissions {
    char *configure, *write, *read;
} sr_broker_permissions;

/* The permissions sr3 grants a role (the user name is escaped where it would be a regex
 * metacharacter, so that user a.b gets no rights on q_aXb). Fills *out with new strings
 * (free with sr_broker_permissions_fini). SR_OK or SR_ENOMEM. */
int sr_broker_permissions_of(enum sr_broker_role role, const char *user, sr_broker_permissions *out,
                             sr_err *err);
void sr_broker_permissions_fini(sr_broker_permissions *p);

typedef struct sr_brokeradmin sr_brokeradmin;

typedef struct sr_brokeradmin_options {
    const sr_url *admin;    /* amqp[s]://user:password@host[:port][/vhost]; copied */
    int management_port;    /* 0: SR_BROKERADMIN_HTTP_PORT or _HTTPS_PORT by scheme */
    enum sr_tls_rigour tls; /* for https */
    double timeout;         /* seconds per request; 0: 30 */
} sr_brokeradmin_options;

/* A client for the management API of the admin broker (no request is made yet). The
 * admin URL must be amqp or amqps and carry a user and a password (SR_EINVAL otherwise,
 * naming what is missing). Free with sr_brokeradmin_free. */
int sr_brokeradmin_new(const sr_brokeradmin_options *o, sr_brokeradmin **out, sr_err *err);
void sr_brokeradmin_free(sr_brokeradmin *a);

/* "http://host:15672" (no credentials), for messages. */
const char *sr_brokeradmin_endpoint(const sr_brokeradmin *a);

/* The vhost everything is done on, decoded ("/" by default). */
const char *sr_brokeradmin_vhost(const sr_brokeradmin *a);

/* Create or update a user (PUT /api/users/USER) with a password and the tags
 * ("" or "administrator"). On failure err names the user and the HTTP status with the
 * broker's reason, or the connection problem (SR_ECONN, retryable). */
int sr_brokeradmin_put_user(sr_brokeradmin *a, const char *user, const char *password,
                            const char *tags, sr_err *err);

/* Set user's permissions on the vhost (PUT /api/permissions/VHOST/USER). */
int sr_brokeradmin_put_permissions(sr_brokeradmin *a, const char *user,
                                   const sr_broker_permissions *p, sr_err *err);

/* Declare a durable topic exchange on the vhost (PUT /api/exchanges/VHOST/NAME), as the
 * admin user. One that exists with the same type and durability is left as it is. */
int sr_brokeradmin_put_exchange(sr_brokeradmin *a, const char *name, sr_err *err);

#endif
