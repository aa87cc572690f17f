/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * brokeradmin: see brokeradmin.h.
 *
 * One CURL easy handle per client, so all the PUTs of one `sr declare --users` share a
 * kept-alive connection. Bodies are built and read with jansson. The broker's answer to
 * a failed request is a small JSON object {"error": ..., "reason": ...}: its text goes
 * into the error, cut and with control characters replaced, since it comes from outside.
 */
#include "brokeradmin.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What is kept of a response body: enough for RabbitMQ's error objects. */
#define BODY_MAX 2048
/* How much of the broker's reason an error message shows. */
#define REASON_MAX 200

struct sr_brokeradmin {
    CURL *curl;
    /* http[s]://host:port of each node the URL names (a cluster's management API answers
     * on any node); endpoint is the one in use, moved on when one does not answer. */
    char **endpoints;
    size_t endpoint_count;
    const char *endpoint;
    char *vhost;    /* decoded */
    char *vhost_escaped;
    char *user, *password;
    enum sr_tls_rigour tls;
    bool https;
    long timeout_ms;
};

typedef struct body {
    char data[BODY_MAX + 1];
    size_t len;
} body;

const char *sr_broker_role_name(enum sr_broker_role role)
{
    switch (role) {
    case SR_ROLE_ADMIN:
        return "admin";
    case SR_ROLE_FEEDER:
        return "feeder";
    case SR_ROLE_SOURCE:
        return "source";
    case SR_ROLE_SUBSCRIBER:
        return "subscriber";
    }
    return "?";
}

/* user with the characters an Erlang (PCRE) regex treats specially escaped. New string. */
static char *regex_quote(const char *user)
{
    static const char special[] = "\\^$.|?*+()[]{}";
    char *out = malloc(2 * strlen(user) + 1);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (const char *s = user; *s; s++) {
        if (strchr(special, *s) != NULL)
            *p++ = '\\';
        *p++ = *s;
    }
    *p = '\0';
    return out;
}

void sr_broker_permissions_fini(sr_broker_permissions *p)
{
    free(p->configure);
    free(p->write);
    free(p->read);
    memset(p, 0, sizeof *p);
}

int sr_broker_permissions_of(enum sr_broker_role role, const char *user, sr_broker_permissions *out,
                             sr_err *err)
{
    memset(out, 0, sizeof *out);
    if (role == SR_ROLE_ADMIN || role == SR_ROLE_FEEDER) {
        out->configure = strdup(".*");
        out->write = strdup(".*");
        out->read = strdup(".*");
    } else {
        char *u = regex_quote(user);
        if (u == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        /* sr3's scheme: a user owns the queues q_USER*; a source also owns its exchanges
         * xs_USER*, where a subscriber may only write (post) to xs_USER itself; both read
         * their own exchanges (xl_, xr_, xs_) and every exchange ending in "public". */
        int rc = 0;
        if (role == SR_ROLE_SOURCE) {
            rc |= asprintf(&out->configure, "^q_%s.*|^xs_%s.*", u, u) < 0;
            rc |= asprintf(&out->write, "^q_%s.*|^xs_%s.*", u, u) < 0;
        } else {
            rc |= asprintf(&out->configure, "^q_%s.*", u) < 0;
            rc |= asprintf(&out->write, "^q_%s.*|^xs_%s$", u, u) < 0;
        }
        rc |= asprintf(&out->read, "^q_%s.*|^x[lrs]_%s.*|^x.*public$", u, u) < 0;
        free(u);
        if (rc != 0) {
            /* asprintf leaves its pointer undefined on failure */
            out->configure = out->write = out->read = NULL;
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
    }
    if (out->configure == NULL || out->write == NULL || out->read == NULL) {
        sr_broker_permissions_fini(out);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    return SR_OK;
}

void sr_brokeradmin_free(sr_brokeradmin *a)
{
    if (a == NULL)
        return;
    if (a->curl != NULL)
        curl_easy_cleanup(a->curl);
    for (size_t i = 0; i < a->endpoint_count; i++)
        free(a->endpoints[i]);
    free(a->endpoints);
    free(a->vhost);
    curl_free(a->vhost_escaped);
    free(a->user);
    if (a->password != NULL) {
        /* the admin's password: not left behind in freed memory */
        memset(a->password, 0, strlen(a->password));
        free(a->password);
    }
    free(a);
}

int sr_brokeradmin_new(const sr_brokeradmin_options *o, sr_brokeradmin **out, sr_err *err)
{
    *out = NULL;
    const sr_url *u = o->admin;
    bool amqps = strcmp(u->scheme, "amqps") == 0;
    if (!amqps && strcmp(u->scheme, "amqp") != 0)
        return sr_err_set(err, SR_EINVAL, false,
                          "admin: %s:// is not a RabbitMQ broker (amqp:// or amqps:// needed)",
                          u->scheme);
    if (u->host == NULL || u->host[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "admin: the URL names no host");
    if (u->user == NULL || u->user[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "admin: the URL names no user");
    if (u->password == NULL)
        return sr_err_set(err, SR_EINVAL, false,
                          "admin: no password for %s@%s (in the URL or credentials.conf)", u->user,
                          u->host);
    sr_brokeradmin *a = calloc(1, sizeof *a);
    if (a == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    a->https = amqps;
    a->tls = o->tls;
    a->timeout_ms = (long)((o->timeout > 0 ? o->timeout : 30) * 1000);
    int port = o->management_port > 0
                   ? o->management_port
                   : (amqps ? SR_BROKERADMIN_HTTPS_PORT : SR_BROKERADMIN_HTTP_PORT);
    a->curl = curl_easy_init();
    a->user = strdup(u->user);
    a->password = strdup(u->password);
    size_t nodes = sr_url_node_count(u);
    a->endpoints = calloc(nodes, sizeof *a->endpoints);
    for (size_t i = 0; a->endpoints != NULL && i < nodes; i++) {
        const char *host = sr_url_node_at(u, i).host;
        /* An IPv6 literal needs its brackets back in an http URL. */
        bool v6 = strchr(host, ':') != NULL;
        if (asprintf(&a->endpoints[i], "%s://%s%s%s:%d", amqps ? "https" : "http", v6 ? "[" : "",
                     host, v6 ? "]" : "", port) < 0) {
            a->endpoints[i] = NULL;
            break;
        }
        a->endpoint_count = i + 1;
    }
    a->endpoint = a->endpoint_count == nodes ? a->endpoints[0] : NULL;
    /* The vhost is the URL's path without its '/', percent-decoded ("%2f" is a '/' in a
     * vhost name); none or "/" alone is the default vhost "/". */
    const char *path = u->path ? u->path : "";
    if (path[0] == '/')
        path++;
    if (a->curl != NULL) {
        if (path[0] == '\0') {
            a->vhost = strdup("/");
        } else {
            int n = 0;
            char *dec = curl_easy_unescape(a->curl, path, 0, &n);
            a->vhost = dec ? strndup(dec, (size_t)n) : NULL;
            curl_free(dec);
        }
        if (a->vhost != NULL)
            a->vhost_escaped = curl_easy_escape(a->curl, a->vhost, 0);
    }
    if (a->curl == NULL || a->user == NULL || a->password == NULL || a->endpoint == NULL ||
        a->vhost == NULL || a->vhost_escaped == NULL) {
        sr_brokeradmin_free(a);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory (or libcurl could not start)");
    }
    *out = a;
    return SR_OK;
}

const char *sr_brokeradmin_endpoint(const sr_brokeradmin *a)
{
    return a->endpoint;
}

const char *sr_brokeradmin_vhost(const sr_brokeradmin *a)
{
    return a->vhost;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    body *b = ctx;
    size_t len = size * n;
    size_t room = BODY_MAX - b->len;
    size_t take = len < room ? len : room;
    memcpy(b->data + b->len, data, take);
    b->len += take;
    b->data[b->len] = '\0';
    return len; /* the rest is dropped, not an error */
}

/* The broker's reason for a refusal, printable and cut to REASON_MAX, into out. */
static void reason_of(const body *b, char *out, size_t size)
{
    const char *text = b->data;
    char joined[2 * REASON_MAX + 8];
    json_t *doc = json_loadb(b->data, b->len, 0, NULL);
    if (doc != NULL) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        const char *r = json_string_value(json_object_get(doc, "reason"));
        if (e != NULL || r != NULL) {
            snprintf(joined, sizeof joined, "%.*s%s%.*s", REASON_MAX, e ? e : "",
                     e && r ? ": " : "", REASON_MAX, r ? r : "");
            text = joined;
        }
    }
    size_t i = 0;
    for (; i < REASON_MAX && i + 4 < size && text[i] != '\0'; i++)
        out[i] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) ? '?' : text[i];
    if (text[i] != '\0' && i + 4 < size)
        memcpy(out + i, "...", 4);
    else
        out[i] = '\0';
    json_decref(doc);
}

/* The request never reached the node: worth trying another node of the cluster. */
static bool unreachable(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_OPERATION_TIMEDOUT;
}

/* One PUT of a JSON document to endpoint + path (path already percent-encoded). what
 * ("user bob") starts every error message. */
static int put(sr_brokeradmin *a, const char *path, json_t *doc, const char *what, sr_err *err)
{
    if (doc == NULL)
        /* json_pack refuses strings that are not UTF-8 */
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: a name or password is not valid UTF-8: cannot send it", what);
    char *payload = json_dumps(doc, JSON_COMPACT);
    char *url = NULL;
    if (payload == NULL || asprintf(&url, "%s%s", a->endpoint, path) < 0) {
        free(payload);
        return sr_err_set(err, SR_ENOMEM, false, "%s: out of memory", what);
    }
    CURL *c = a->curl;
    /* reset keeps the live connection, drops the previous request's options */
    curl_easy_reset(c);
    char errbuf[CURL_ERROR_SIZE] = "";
    body b = {.len = 0};
    b.data[0] = '\0';
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    int rc = SR_OK;
    if (headers == NULL) {
        rc = sr_err_set(err, SR_ENOMEM, false, "%s: out of memory", what);
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, a->user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, a->password);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sr/" SR_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (a->https) {
        if (a->tls == SR_TLS_LAX) {
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        } else if (a->tls == SR_TLS_STRICT) {
            curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        }
        /* libcurl's compiled-in bundle would win over OpenSSL's reading of these */
        const char *ca = getenv("SSL_CERT_FILE");
        if (ca != NULL && ca[0] != '\0')
            curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        const char *ca_dir = getenv("SSL_CERT_DIR");
        if (ca_dir != NULL && ca_dir[0] != '\0')
            curl_easy_setopt(c, CURLOPT_CAPATH, ca_dir);
    }
    CURLcode cc = curl_easy_perform(c);
    /* A node that does not answer: the next one of the cluster, each once. */
    for (size_t tried = 1; unreachable(cc) && tried < a->endpoint_count; tried++) {
        size_t next = 0;
        while (a->endpoints[next] != a->endpoint)
            next++;
        a->endpoint = a->endpoints[(next + 1) % a->endpoint_count];
        free(url);
        url = NULL;
        if (asprintf(&url, "%s%s", a->endpoint, path) < 0) {
            url = NULL;
            rc = sr_err_set(err, SR_ENOMEM, false, "%s: out of memory", what);
            goto done;
        }
        b.len = 0;
        b.data[0] = '\0';
        errbuf[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        cc = curl_easy_perform(c);
    }
    if (cc != CURLE_OK) {
        rc = sr_err_set(err, SR_ECONN, true,
                        "%s: PUT %s: %s (is RabbitMQ's management plugin on at %s? see "
                        "managementPort)",
                        what, url, errbuf[0] ? errbuf : curl_easy_strerror(cc), a->endpoint);
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        char reason[REASON_MAX + 8];
        reason_of(&b, reason, sizeof reason);
        int code = status == 401 || status == 403 ? SR_EPERM
                   : status >= 500                ? SR_EPROTO
                                                  : SR_EINVAL;
        if (status == 401)
            rc = sr_err_set(err, code, false,
                            "%s: PUT %s: HTTP 401 (%s): the admin user %s was refused: check "
                            "its password in credentials.conf and its administrator tag",
                            what, url, reason, a->user);
        else
            rc = sr_err_set(err, code, status >= 500, "%s: PUT %s: HTTP %ld%s%s%s", what, url,
                            status, reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
    }
done:
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    /* the body may hold a user's password */
    memset(payload, 0, strlen(payload));
    free(payload);
    free(url);
    return rc;
}

int sr_brokeradmin_put_user(sr_brokeradmin *a, const char *user, const char *password,
                            const char *tags, sr_err *err)
{
    char what[300];
    snprintf(what, sizeof what, "user %s", user);
    char *u = curl_easy_escape(a->curl, user, 0);
    char *path = NULL;
    if (u == NULL || asprintf(&path, "/api/users/%s", u) < 0) {
        curl_free(u);
        return sr_err_set(err, SR_ENOMEM, false, "%s: out of memory", what);
    }
    curl_free(u);
    json_t *doc = json_pack("{s:s, s:s}", "password", password, "tags", tags ? tags : "");
    int rc = put(a, path, doc, what, err);
    json_decref(doc);
    free(path);
    return rc;
}

int sr_brokeradmin_put_permissions(sr_brokeradmin *a, const char *user,
                                   const sr_broker_permissions *p, sr_err *err)
{
    char what[300];
    snprintf(what, sizeof what, "permissions of %s on vhost %s", user, a->vhost);
    char *u = curl_easy_escape(a->curl, user, 0);
    char *path = NULL;
    if (u == NULL || asprintf(&path, "/api/permissions/%s/%s", a->vhost_escaped, u) < 0) {
        curl_free(u);
        return sr_err_set(err, SR_ENOMEM, false, "%s: out of memory", what);
    }
    curl_free(u);
    json_t *doc =
        json_pack("{s:s, s:s, s:s}", "configure", p->configure, "write", p->write, "read", p->read);
    int rc = put(a, path, doc, what, err);
    json_decref(doc);
    free(path);
    return rc;
}

int sr_brokeradmin_put_exchange(sr_brokeradmin *a, const char *name, sr_err *err)
{
    char what[300];
    snprintf(what, sizeof what, "exchange %s", name);
    char *x = curl_easy_escape(a->curl, name, 0);
    char *path = NULL;
    if (x == NULL || asprintf(&path, "/api/exchanges/%s/%s", a->vhost_escaped, x) < 0) {
        curl_free(x);
        return sr_err_set(err, SR_ENOMEM, false, "%s: out of memory", what);
    }
    curl_free(x);
    /* as the flows declare theirs (broker_amqp.c): durable topic, kept when unused */
    json_t *doc = json_pack("{s:s, s:b, s:b, s:b}", "type", "topic", "durable", 1, "auto_delete", 0,
                            "internal", 0);
    int rc = put(a, path, doc, what, err);
    json_decref(doc);
    free(path);
    return rc;
}
