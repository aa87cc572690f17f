/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * srfeatures: see srfeatures.h (not features.h: glibc has one).
 *
 * The report is built once as a JSON value; the text form is printed from it, so the two
 * cannot say different things.
 */
#include "srfeatures.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libssh/libssh.h>
#include <mosquitto.h>

#include "identity.h"
#include "log.h"
#include "options.h"

/* Does this libcurl speak the protocol (its list, at run time: a distribution's libcurl
 * may be built without ftp or with a TLS library that lacks ftps)? */
static bool curl_has(const char *proto)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    for (const char *const *p = v ? v->protocols : NULL; p && *p; p++)
        if (strcmp(*p, proto) == 0)
            return true;
    return false;
}

static int add_feature(json_t *obj, const char *name, bool present, const char *library,
                       const char *description)
{
    json_t *f = json_pack("{s:b, s:s, s:s}", "present", present, "library", library, "description",
                          description);
    return f == NULL ? -1 : json_object_set_new(obj, name, f);
}

static json_t *protocols(void)
{
    json_t *p = json_object();
    if (p == NULL)
        return NULL;
    char amqp_lib[64], mqtt_lib[64], curl_lib[64], ssh_lib[64];
    int major, minor, rev;
    mosquitto_lib_version(&major, &minor, &rev);
    snprintf(amqp_lib, sizeof amqp_lib, "librabbitmq %s", amqp_version());
    snprintf(mqtt_lib, sizeof mqtt_lib, "libmosquitto %d.%d.%d", major, minor, rev);
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    snprintf(curl_lib, sizeof curl_lib, "libcurl %s", cv ? cv->version : "?");
    /* "0.10.6/openssl/zlib": the version is enough for the table */
    snprintf(ssh_lib, sizeof ssh_lib, "libssh %.*s", (int)strcspn(ssh_version(0), "/"),
             ssh_version(0));
    int rc = 0;
    rc |= add_feature(p, "amqp", true, amqp_lib, "AMQP 0-9-1 brokers (RabbitMQ)");
    rc |= add_feature(p, "amqps", true, amqp_lib, "AMQP 0-9-1 brokers over TLS");
    rc |= add_feature(p, "mqtt", true, mqtt_lib, "MQTT 3.1.1 and 5 brokers");
    rc |= add_feature(p, "mqtts", true, mqtt_lib, "MQTT brokers over TLS");
    rc |= add_feature(p, "sftp", true, ssh_lib, "download and send over SFTP (ssh ~/.ssh/config)");
    bool ftp = curl_has("ftp"), ftps = curl_has("ftps"), http = curl_has("http"),
         https = curl_has("https");
    rc |= add_feature(p, "ftp", ftp, curl_lib,
                      ftp ? "download and send over FTP" : "this libcurl has no FTP");
    rc |= add_feature(p, "ftps", ftps, curl_lib,
                      ftps ? "download and send over FTP with TLS" : "this libcurl has no FTPS");
    rc |= add_feature(p, "http", http, curl_lib,
                      http ? "download over HTTP" : "this libcurl has no HTTP");
    rc |= add_feature(p, "https", https, curl_lib,
                      https ? "download over HTTPS" : "this libcurl has no HTTPS");
    rc |= add_feature(p, "file", true, "", "local files (file: URLs, post, watch, baseDir)");
    if (rc != 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* The comma separated choices of an option in the table, as a JSON array. */
static json_t *choices(enum sr_option_id id)
{
    json_t *a = json_array();
    const char *p = sr_option_get(id)->extra;
    while (a != NULL && p != NULL && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (json_array_append_new(a, json_stringn(p, len)) != 0) {
            json_decref(a);
            return NULL;
        }
        p += len + (comma ? 1 : 0);
    }
    return a;
}

static json_t *identities(void)
{
    json_t *a = json_array();
    for (int m = 0; a != NULL; m++) {
        const char *name = sr_identity_method_name((enum sr_identity_method)m);
        if (name == NULL || strcmp(name, "unknown") == 0)
            break;
        if (json_array_append_new(a, json_string(name)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *components(void)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < SR_COMPONENT_COUNT; i++)
        if (json_array_append_new(a, json_string(sr_component_name(sr_component_at(i)))) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* sr3's components that sr has not, and what to use instead (sr3's C cpost and cpump are
 * not here: sr import makes them post, watch or shovel). */
static json_t *absent_components(void)
{
    return json_pack("{s:s, s:s}", "flow", "no generic flow: each component is its own program",
                     "report", "no report component");
}

static json_t *unsupported(void)
{
    json_t *o = json_object();
    const char *name, *reason;
    for (size_t i = 0; o != NULL && sr_option_unsupported_at(i, &name, &reason); i++)
        if (json_object_set_new(o, name, json_string(reason)) != 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static json_t *build(const sr_cli *cli)
{
    json_t *root = json_object();
    if (root == NULL)
        return NULL;
    int rc = json_object_set_new(root, "version", json_string(SR_VERSION));
    rc |= json_object_set_new(root, "protocols", protocols());
    rc |= json_object_set_new(root, "formats", choices(SR_OPT_post_format));
    rc |= json_object_set_new(root, "identityMethods", identities());
    rc |= json_object_set_new(root, "components", components());
    rc |= json_object_set_new(root, "absentComponents", absent_components());
    rc |= json_object_set_new(root, "unsupportedOptions", unsupported());
    rc |= json_object_set_new(root, "configDir", json_string(cli->paths.config_dir));
    rc |= json_object_set_new(root, "stateDir", json_string(cli->paths.state_dir));
    if (rc != 0) {
        /* json_object_set_new fails on a NULL value (out of memory) */
        json_decref(root);
        return NULL;
    }
    return root;
}

char *sr_features_json(const sr_cli *cli)
{
    json_t *root = build(cli);
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return s;
}

static void print_words(const char *title, json_t *array, FILE *out)
{
    fprintf(out, "%-18s", title);
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) fprintf(out, "%s%s", i ? " " : "", json_string_value(v));
    fputc('\n', out);
}

/* The text form: sr3's table (status, feature, library, description), then the rest. */
static void print_text(json_t *root, FILE *out)
{
    const char *key;
    json_t *v;
    fprintf(out, "%-10s %-10s %-22s %s\n", "Status:", "feature:", "library:", "Description:");
    json_object_foreach(json_object_get(root, "protocols"), key, v)
    {
        fprintf(out, "%-10s %-10s %-22s %s\n",
                json_is_true(json_object_get(v, "present")) ? "Installed" : "Absent", key,
                json_string_value(json_object_get(v, "library")),
                json_string_value(json_object_get(v, "description")));
    }
    json_object_foreach(json_object_get(root, "absentComponents"), key, v)
    {
        fprintf(out, "%-10s %-10s %-22s %s\n", "Absent", key, "", json_string_value(v));
    }
    fputc('\n', out);
    print_words("message formats:", json_object_get(root, "formats"), out);
    print_words("identity methods:", json_object_get(root, "identityMethods"), out);
    print_words("components:", json_object_get(root, "components"), out);
    fprintf(out, "\nsr3 options sr does not support:\n");
    json_object_foreach(json_object_get(root, "unsupportedOptions"), key, v)
    {
        fprintf(out, "  %-26s %s\n", key, json_string_value(v));
    }
    fprintf(out, "\n state dir: %s\n config dir: %s\n",
            json_string_value(json_object_get(root, "stateDir")),
            json_string_value(json_object_get(root, "configDir")));
}

int sr_features_main(sr_cli *cli, int argc, char **argv)
{
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: sr features [--json]\n  what this build supports: protocols, "
                   "message formats, identity methods,\n  components, and the sr3 options it "
                   "does not support. See sr(1).\n");
            return 0;
        } else {
            sr_log_stderr("sr features: unexpected %s", argv[i]);
            return 2;
        }
    }
    json_t *root = build(cli);
    if (root == NULL) {
        sr_log_stderr("sr features: out of memory");
        return 1;
    }
    if (json) {
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        print_text(root, stdout);
    }
    json_t *p = json_object_get(root, "protocols");
    bool broker = false;
    const char *names[] = {"amqp", "amqps", "mqtt", "mqtts"};
    for (size_t i = 0; i < 4; i++)
        broker |= json_is_true(json_object_get(json_object_get(p, names[i]), "present"));
    json_decref(root);
    if (!broker) {
        sr_log_stderr("sr features: ERROR: no broker protocol (amqp or mqtt) in this build");
        return 1;
    }
    return 0;
}
