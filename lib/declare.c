/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * declare: see declare.h.
 *
 * Both verbs talk to brokers through broker.h only, with the setup brokerconf.h derives
 * from a config, so what is declared here is exactly what instance 1 declares when it
 * starts (same queue name, arguments and bindings).
 */
#include "declare.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker.h"
#include "brokeradmin.h"
#include "brokerconf.h"
#include "instance.h"
#include "log.h"
#include "topic.h"
#include "url.h"

/* One verb over the selected configs: what each needs, the common part. */
typedef struct verb {
    const char *name; /* "declare", "cleanup" */
    sr_cli *cli;
    const sr_credentials *creds;
    sr_paths host_paths; /* statehost on: <state>/<short host> */
    bool have_host;
    bool users; /* declare --users */
} verb;

static void usage(const char *name, FILE *out)
{
    if (strcmp(name, "declare") == 0)
        fprintf(out, "usage: sr declare [--users] [PATTERN ...]\n"
                     "  declare on the brokers the exchanges each config posts to and the\n"
                     "  queue (with its bindings) it consumes from.\n"
                     "  --users: first, on the admin broker (admin.conf), create the users of\n"
                     "  the pump (admin, feeder, declare source|subscriber USER) with their\n"
                     "  passwords from credentials.conf and their permissions, and the\n"
                     "  `declare exchange` exchanges, through RabbitMQ's management API\n"
                     "  (managementPort). With no PATTERN and no config, only that. See sr(1).\n");
    else
        fprintf(out, "usage: sr [--dangerWillRobinson N] cleanup [PATTERN ...]\n"
                     "  delete each (stopped) config's queue on its broker and its state\n"
                     "  files, keeping `disabled`; N confirms a cleanup of N > 1 configs.\n");
}

/* Patterns from argv; -1 for --help (printed), -2 for a bad flag (usage printed). */
static int patterns_of(const char *name, int argc, char **argv, char **patterns, size_t *n,
                       bool *users)
{
    *n = 0;
    *users = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(name, stdout);
            return -1;
        }
        if (strcmp(argv[i], "--users") == 0 && strcmp(name, "declare") == 0) {
            *users = true;
            continue;
        }
        if (strncmp(argv[i], "--dangerWillRobinson=", 21) == 0)
            continue; /* read with the overrides */
        if (argv[i][0] == '-') {
            sr_log_stderr("sr %s: unknown flag %s", name, argv[i]);
            usage(name, stderr);
            return -2;
        }
        patterns[(*n)++] = argv[i];
    }
    return 0;
}

/* "broker URL: " before a broker's error, unless the message names the URL already. */
static void broker_error(const char *verb_name, const char *full, const char *which,
                         const sr_broker *b, const sr_err *err)
{
    const char *url = sr_broker_url(b);
    if (strstr(err->msg, url) != NULL)
        sr_log_stderr("sr %s: %s: %s: %s", verb_name, full, which, err->msg);
    else
        sr_log_stderr("sr %s: %s: %s %s: %s", verb_name, full, which, url, err->msg);
}

/* Where the flow keeps cfg's state (queue name, retry queues, cache, metrics): the per-host
 * folder with statehost. Pid files and `disabled` are always in the plain one
 * (v->cli->paths), as the supervisor keeps them. */
static const sr_paths *paths_for(verb *v, const sr_config *cfg)
{
    return sr_config_flag(cfg, SR_OPT_statehost) && v->have_host ? &v->host_paths : &v->cli->paths;
}

/* ---- declare ---- */

static int declare_exchanges(verb *v, const char *full, const sr_config *cfg)
{
    sr_publisher_setup pub;
    sr_err err;
    int rc = sr_brokerconf_publisher(cfg, v->creds, &pub, &err);
    if (rc == SR_ENOENT)
        return 0; /* posts nothing */
    if (rc != SR_OK) {
        sr_log_stderr("sr declare: %s: %s", full, err.msg);
        return 1;
    }
    if (pub.mqtt) {
        /* MQTT has no exchanges: the topic's first level names it. */
        sr_publisher_setup_fini(&pub);
        return 0;
    }
    int status = 0;
    sr_broker *b = sr_broker_new(&pub.broker, &err);
    if (b == NULL) {
        sr_log_stderr("sr declare: %s: post_broker: %s", full, err.msg);
        sr_publisher_setup_fini(&pub);
        return 1;
    }
    unsigned n = pub.split > 1 ? pub.split : 1;
    for (unsigned i = 0; i < n && status == 0; i++) {
        char *exchange = NULL;
        if (pub.split > 1)
            rc = sr_topic_split_exchange(pub.exchange, i, &exchange, &err);
        else if ((exchange = strdup(pub.exchange)) == NULL)
            rc = sr_err_set(&err, SR_ENOMEM, false, "out of memory");
        if (rc == SR_OK)
            rc = sr_broker_declare_exchange(b, exchange, &err);
        if (rc == SR_OK) {
            printf("%s: declared exchange %s on %s\n", full, exchange, sr_broker_url(b));
        } else {
            broker_error("declare", full, "post_broker", b, &err);
            status = 1;
        }
        free(exchange);
    }
    sr_broker_close(b);
    sr_publisher_setup_fini(&pub);
    return status;
}

/* The instances that each have a queue of their own: with exchangeSplit, every one
 * (brokerconf.h); otherwise none (0: the one shared queue). */
static int split_instances(const sr_config *cfg)
{
    if (sr_config_count(cfg, SR_OPT_exchangeSplit) <= 0)
        return 0;
    long long n = sr_config_count(cfg, SR_OPT_instances);
    return n > 0 ? (int)n : 1;
}

static int declare_one_queue(verb *v, const char *full, const sr_config *cfg, int instance);

static int declare_queue(verb *v, const char *full, const sr_config *cfg)
{
    if ((sr_config_component(cfg) & SR_C_CONSUMERS) == 0 ||
        sr_config_str(cfg, SR_OPT_broker) == NULL)
        return 0;
    int split = split_instances(cfg);
    if (split == 0)
        return declare_one_queue(v, full, cfg, 0);
    int status = 0;
    for (int i = 1; i <= split && status == 0; i++)
        status = declare_one_queue(v, full, cfg, i);
    return status;
}

static int declare_one_queue(verb *v, const char *full, const sr_config *cfg, int instance)
{
    sr_consumer_setup cons;
    sr_err err;
    /* What the broker would refuse with a 406 is refused here at its line, as at start. */
    if (sr_config_check_queue(cfg, &err) != SR_OK) {
        sr_log_stderr("sr declare: %s: %s", full, err.msg);
        return 1;
    }
    /* Instance 0 declares as instance 1 does, and saves the queue name for the instances. */
    if (sr_brokerconf_consumer(cfg, paths_for(v, cfg), instance, v->creds, &cons, &err) != SR_OK) {
        sr_log_stderr("sr declare: %s: %s", full, err.msg);
        return 1;
    }
    sr_broker *b = sr_broker_new(&cons.broker, &err);
    int status = 0;
    if (b == NULL) {
        sr_log_stderr("sr declare: %s: broker: %s", full, err.msg);
        status = 1;
    } else if (sr_broker_subscribe(b, &cons.queue, &err) != SR_OK) {
        broker_error("declare", full, "broker", b, &err);
        status = 1;
    } else if (cons.mqtt) {
        printf("%s: declared MQTT session %s on %s\n", full, cons.client_id, sr_broker_url(b));
        for (size_t i = 0; i < cons.binding_count; i++)
            printf("%s: subscribed %s to %s\n", full, cons.client_id, cons.bindings[i].key);
    } else {
        if (cons.queue.declare)
            printf("%s: declared queue %s on %s\n", full, cons.queue_name, sr_broker_url(b));
        for (size_t i = 0; cons.queue.bind && i < cons.binding_count; i++)
            printf("%s: bound queue %s to exchange %s with key %s\n", full, cons.queue_name,
                   cons.bindings[i].exchange, cons.bindings[i].key);
        if (!cons.queue.declare && !cons.queue.bind)
            printf("%s: queue %s exists on %s (queueDeclare and queueBind off)\n", full,
                   cons.queue_name, sr_broker_url(b));
    }
    /* Closing puts back what the subscription may have prefetched. */
    sr_broker_close(b);
    sr_consumer_setup_fini(&cons);
    return status;
}

/* ---- declare --users ---- */

/* One user of the pump's scheme, with the role it is declared with. */
typedef struct pump_user {
    char *name;
    enum sr_broker_role role;
    char *password; /* given in its admin or feeder URL, or NULL: see credentials.conf */
} pump_user;

typedef struct pump_users {
    pump_user *items;
    size_t count, cap;
} pump_users;

static void pump_users_fini(pump_users *u)
{
    for (size_t i = 0; i < u->count; i++) {
        free(u->items[i].name);
        if (u->items[i].password != NULL)
            memset(u->items[i].password, 0, strlen(u->items[i].password));
        free(u->items[i].password);
    }
    free(u->items);
    memset(u, 0, sizeof *u);
}

/* Add name with role, unless it is there already: the first role given wins (admin, then
 * feeder, then the declare lines in order), and a repeat with another role is reported.
 * 0, or -1 when out of memory. */
static int pump_users_add(pump_users *u, const char *name, enum sr_broker_role role,
                          const char *password)
{
    for (size_t i = 0; i < u->count; i++) {
        if (strcmp(u->items[i].name, name) != 0)
            continue;
        if (u->items[i].role != role)
            sr_log_stderr("sr declare: warning: user %s: declared %s too; kept as %s", name,
                          sr_broker_role_name(role), sr_broker_role_name(u->items[i].role));
        return 0;
    }
    if (u->count == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 8;
        pump_user *items = realloc(u->items, cap * sizeof *items);
        if (items == NULL)
            return -1;
        u->items = items;
        u->cap = cap;
    }
    char *copy = strdup(name);
    char *pw = password ? strdup(password) : NULL;
    if (copy == NULL || (password != NULL && pw == NULL)) {
        free(copy);
        free(pw);
        return -1;
    }
    u->items[u->count++] = (pump_user){copy, role, pw};
    return 0;
}

static bool is_amqp_scheme(const char *scheme)
{
    return strcmp(scheme, "amqp") == 0 || strcmp(scheme, "amqps") == 0;
}

/* user's password for the admin broker, or NULL. First sr3's lookup for the admin URL
 * with user in it (same scheme, host, port, vhost: the most specific line wins), then,
 * as sr3's declare does, any broker line (amqp or amqps) naming that user on the admin
 * host. The result belongs to creds. */
static const char *password_for(const sr_credentials *creds, const sr_url *admin, const char *user)
{
    sr_url probe;
    if (sr_url_copy(&probe, admin) == SR_OK) {
        free(probe.user);
        free(probe.password);
        probe.password = NULL;
        probe.user = strdup(user);
        const sr_credential *c = probe.user ? sr_credentials_find(creds, &probe) : NULL;
        sr_url_fini(&probe);
        if (c != NULL && c->url.password != NULL)
            return c->url.password;
    }
    for (size_t i = 0; i < sr_credentials_count(creds); i++) {
        const sr_url *u = &sr_credentials_get(creds, i)->url;
        if (u->user != NULL && u->password != NULL && u->host != NULL &&
            is_amqp_scheme(u->scheme) && strcmp(u->user, user) == 0 &&
            strcasecmp(u->host, admin->host) == 0)
            return u->password;
    }
    return NULL;
}

/* The users of the scheme from the settings: admin, feeder, declare source|subscriber.
 * 0, or -1 when out of memory. */
static int collect_users(const sr_config *cfg, const sr_url *admin, pump_users *users)
{
    if (pump_users_add(users, admin->user, SR_ROLE_ADMIN, admin->password) != 0)
        return -1;
    const char *feeder = sr_config_str(cfg, SR_OPT_feeder);
    if (feeder != NULL) {
        sr_url f;
        sr_err err;
        /* the user sr3 would take (anonymous when none), and a password written in the
         * URL itself, which wins over credentials.conf as it does for any broker URL */
        char *name = sr_url_user(feeder);
        bool parsed = sr_url_parse(feeder, &f, &err) == SR_OK;
        int rc =
            name ? pump_users_add(users, name, SR_ROLE_FEEDER, parsed ? f.password : NULL) : -1;
        free(name);
        if (parsed) {
            if (f.password != NULL)
                memset(f.password, 0, strlen(f.password));
            sr_url_fini(&f);
        }
        if (rc != 0)
            return -1;
    }
    const sr_strlist *declared = sr_config_declared(cfg);
    for (size_t i = 0; i < declared->count; i++) {
        const char *d = declared->items[i];
        int rc = 0;
        if (strncmp(d, "source ", 7) == 0)
            rc = pump_users_add(users, d + 7, SR_ROLE_SOURCE, NULL);
        else if (strncmp(d, "subscriber ", 11) == 0)
            rc = pump_users_add(users, d + 11, SR_ROLE_SUBSCRIBER, NULL);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Create one user and set its permissions. 0, or 1 when it failed (reported); *stop is
 * set when nothing more can work (broker unreachable, admin refused). */
static int declare_user(verb *v, sr_brokeradmin *a, const sr_url *admin, const pump_user *u,
                        bool *stop)
{
    const char *role = sr_broker_role_name(u->role);
    const char *password = u->password ? u->password : password_for(v->creds, admin, u->name);
    if (password == NULL) {
        /* Never created without one: RabbitMQ would make a user no one can log in as,
         * and an operator would not notice until a client fails. */
        sr_log_stderr("sr declare: users: %s user %s: no password for %s on %s in "
                      "credentials.conf: not created",
                      role, u->name, u->name, admin->host);
        return 1;
    }
    sr_err err;
    int rc = sr_brokeradmin_put_user(a, u->name, password,
                                     u->role == SR_ROLE_ADMIN ? "administrator" : "", &err);
    if (rc == SR_OK) {
        printf("users: declared user %s (%s) on %s\n", u->name, role, sr_brokeradmin_endpoint(a));
        sr_broker_permissions p;
        rc = sr_broker_permissions_of(u->role, u->name, &p, &err);
        if (rc == SR_OK) {
            rc = sr_brokeradmin_put_permissions(a, u->name, &p, &err);
            if (rc == SR_OK)
                printf("users: set permissions of %s on vhost %s: configure \"%s\" write "
                       "\"%s\" read \"%s\"\n",
                       u->name, sr_brokeradmin_vhost(a), p.configure, p.write, p.read);
            sr_broker_permissions_fini(&p);
        }
    }
    if (rc != SR_OK) {
        /* err.msg starts with "user NAME" or "permissions of NAME" */
        sr_log_stderr("sr declare: users: %s %s", role, err.msg);
        *stop = rc == SR_ECONN || rc == SR_EPERM;
        return 1;
    }
    return 0;
}

/* `declare --users`: the pump's users, their permissions and the admin's exchanges, from
 * admin.conf (and default.conf, and the command line's options) alone, on the admin
 * broker. */
static int declare_users(verb *v)
{
    sr_config *cfg = NULL;
    sr_err err;
    /* No config file: only the settings every config reads first. The component only
     * picks conf.d's defaults, none of which matter here. */
    if (sr_cli_load(v->cli, SR_C_SHOVEL, NULL, &cfg, &err) != SR_OK) {
        sr_log_stderr("sr declare: users: %s", err.msg);
        return 1;
    }
    const char *admin_text = sr_config_str(cfg, SR_OPT_admin);
    if (admin_text == NULL) {
        sr_log_stderr("sr declare: users: no admin broker: set `admin amqp[s]://USER@HOST/` "
                      "in %s/admin.conf",
                      v->cli->paths.config_dir);
        sr_config_free(cfg);
        return 1;
    }
    int status = 0;
    sr_url admin = {0};
    pump_users users = {0};
    sr_brokeradmin *a = NULL;
    if (sr_url_parse(admin_text, &admin, &err) != SR_OK) {
        sr_log_stderr("sr declare: users: admin: %s", err.msg);
        status = 1;
        goto done;
    }
    if (admin.user != NULL && admin.password == NULL) {
        const char *pw = password_for(v->creds, &admin, admin.user);
        if (pw != NULL && (admin.password = strdup(pw)) == NULL) {
            sr_log_stderr("sr declare: users: out of memory");
            status = 1;
            goto done;
        }
    }
    sr_brokeradmin_options o = {
        .admin = &admin,
        .management_port = (int)sr_config_count(cfg, SR_OPT_managementPort),
        .tls = (enum sr_tls_rigour)sr_config_choice(cfg, SR_OPT_tlsRigour),
    };
    if (sr_brokeradmin_new(&o, &a, &err) != SR_OK) {
        sr_log_stderr("sr declare: users: %s", err.msg);
        status = 1;
        goto done;
    }
    if (collect_users(cfg, &admin, &users) != 0) {
        sr_log_stderr("sr declare: users: out of memory");
        status = 1;
        goto done;
    }
    bool stop = false;
    for (size_t i = 0; i < users.count && !stop; i++)
        status |= declare_user(v, a, &admin, &users.items[i], &stop);
    const sr_strlist *declared = sr_config_declared(cfg);
    for (size_t i = 0; i < declared->count && !stop; i++) {
        const char *d = declared->items[i];
        if (strncmp(d, "exchange ", 9) != 0)
            continue;
        if (sr_brokeradmin_put_exchange(a, d + 9, &err) == SR_OK) {
            printf("users: declared exchange %s on vhost %s of %s\n", d + 9,
                   sr_brokeradmin_vhost(a), sr_brokeradmin_endpoint(a));
        } else {
            sr_log_stderr("sr declare: users: %s", err.msg);
            status = 1;
            stop = err.code == SR_ECONN || err.code == SR_EPERM;
        }
    }
    if (stop)
        sr_log_stderr("sr declare: users: stopped: the rest would fail the same way");
done:
    pump_users_fini(&users);
    sr_brokeradmin_free(a);
    if (admin.password != NULL)
        memset(admin.password, 0, strlen(admin.password));
    sr_url_fini(&admin);
    sr_config_free(cfg);
    return status;
}

/* ---- cleanup ---- */

/* The queue name without making one: queueName, or the one saved by instance 1 (or a
 * declare). NULL when the config never had a queue (nothing on the broker to delete). */
/* own: the instance whose own queue it is (exchangeSplit), 0 for the shared one. */
static char *saved_queue_name(const sr_config *cfg, const sr_paths *paths, int own, char **qfile)
{
    *qfile = NULL;
    const char *given = sr_config_str(cfg, SR_OPT_queueName);
    if (given != NULL)
        return strdup(given);
    char *user = sr_url_user(sr_config_str(cfg, SR_OPT_broker));
    const char *comp = sr_component_name(sr_config_component(cfg));
    const char *name = sr_config_name(cfg);
    char *dir = sr_paths_instance_dir(paths, comp, name);
    char *file = NULL, *queue = NULL;
    char suffix[16] = "";
    if (own > 0)
        snprintf(suffix, sizeof suffix, "%02d", own);
    if (user != NULL && dir != NULL &&
        asprintf(&file, "%s/%s.%s.%s%s.qname", dir, comp, name, user, suffix) >= 0) {
        FILE *f = fopen(file, "r");
        char buf[512];
        if (f != NULL && fgets(buf, sizeof buf, f) != NULL) {
            buf[strcspn(buf, "\r\n")] = '\0';
            if (buf[0] != '\0')
                queue = strdup(buf);
        }
        if (f != NULL)
            fclose(f);
        *qfile = file;
    } else {
        free(file);
    }
    free(user);
    free(dir);
    return queue;
}

static int delete_one_queue(verb *v, const char *full, const sr_config *cfg, int instances,
                            int own);

static int delete_queue(verb *v, const char *full, const sr_config *cfg, int instances)
{
    if ((sr_config_component(cfg) & SR_C_CONSUMERS) == 0 ||
        sr_config_str(cfg, SR_OPT_broker) == NULL)
        return 0;
    if (split_instances(cfg) == 0)
        return delete_one_queue(v, full, cfg, instances, 0);
    /* exchangeSplit: each instance's own queue (brokerconf.h) */
    int status = 0;
    for (int i = 1; i <= instances && status == 0; i++)
        status = delete_one_queue(v, full, cfg, 1, i);
    return status;
}

static int delete_one_queue(verb *v, const char *full, const sr_config *cfg, int instances, int own)
{
    char *qfile = NULL;
    char *queue = saved_queue_name(cfg, paths_for(v, cfg), own, &qfile);
    free(qfile);
    if (queue == NULL) {
        printf("%s: no queue was ever declared (no saved queue name)\n", full);
        return 0;
    }
    free(queue);
    sr_consumer_setup cons;
    sr_err err;
    if (sr_brokerconf_consumer(cfg, paths_for(v, cfg), own > 0 ? own : 1, v->creds, &cons, &err) !=
        SR_OK) {
        sr_log_stderr("sr cleanup: %s: %s", full, err.msg);
        return 1;
    }
    int status = 0;
    /* MQTT keeps messages in one session per instance (client id <queue>_iNN): each is
     * ended. AMQP has the one queue. */
    int rounds = cons.mqtt ? (instances > 0 ? instances : 1) : 1;
    for (int i = 1; i <= rounds && status == 0; i++) {
        char id[600];
        sr_broker_options opts = cons.broker;
        if (cons.mqtt) {
            snprintf(id, sizeof id, "%s_i%02d", cons.queue_name, own > 0 ? own : i);
            opts.client_id = id;
        }
        sr_broker *b = sr_broker_new(&opts, &err);
        if (b == NULL) {
            sr_log_stderr("sr cleanup: %s: broker: %s", full, err.msg);
            status = 1;
        } else if (sr_broker_delete_queue(b, cons.queue_name, &err) != SR_OK) {
            broker_error("cleanup", full, "broker", b, &err);
            status = 1;
        } else if (cons.mqtt) {
            printf("%s: ended MQTT session %s on %s\n", full, id, sr_broker_url(b));
        } else {
            printf("%s: deleted queue %s on %s\n", full, cons.queue_name, sr_broker_url(b));
        }
        sr_broker_close(b);
    }
    sr_consumer_setup_fini(&cons);
    return status;
}

/* Is this a state file a cleanup removes? What flow.c and brokerconf.c write there (and
 * their .tmp); never `disabled`, never a pid file (a dead instance's is removed through
 * instance.h). */
static bool is_state_file(const char *name, const char *qname_suffix)
{
    static const char *const prefixes[] = {"recent_files_", "retry_work_", "retry_post_",
                                           "diskqueue_", "subscriptions.json"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    size_t len = strlen(name), sl = strlen(qname_suffix);
    return (len > sl && strcmp(name + len - sl, qname_suffix) == 0) ||
           (len > sl + 4 && strncmp(name + len - sl - 4, qname_suffix, sl) == 0 &&
            strcmp(name + len - 4, ".tmp") == 0);
}

static int remove_state(verb *v, const char *full, const sr_config *cfg,
                        const sr_instance_info *infos, size_t count, int instances)
{
    const sr_paths *paths = paths_for(v, cfg);
    const char *comp = sr_component_name(sr_config_component(cfg));
    const char *name = sr_config_name(cfg);
    int status = 0;
    size_t removed = 0;
    char *dir = sr_paths_instance_dir(paths, comp, name);
    DIR *d = dir ? opendir(dir) : NULL;
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!is_state_file(e->d_name, ".qname"))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0) {
                removed++;
            } else if (errno != ENOENT) {
                sr_log_stderr("sr cleanup: %s: cannot remove %s: %s", full, path, strerror(errno));
                status = 1;
            }
        }
        closedir(d);
    } else if (dir != NULL && errno != ENOENT) {
        sr_log_stderr("sr cleanup: %s: cannot list %s: %s", full, dir, strerror(errno));
        status = 1;
    }
    free(dir);
    sr_err err;
    int top = instances;
    for (size_t i = 0; i < count; i++) {
        if (infos[i].instance > top)
            top = infos[i].instance;
        if (infos[i].state == SR_INSTANCE_DEAD &&
            sr_instance_remove_pid(&v->cli->paths, comp, name, infos[i].instance, &err) == SR_OK)
            removed++;
    }
    for (int n = 0; n <= top; n++) {
        char *m = sr_paths_metrics_file(paths, comp, name, n);
        if (m != NULL && unlink(m) == 0)
            removed++;
        free(m);
    }
    printf("%s: removed %zu state file(s)%s\n", full, removed,
           sr_instance_disabled(&v->cli->paths, comp, name) ? " (kept disabled)" : "");
    return status;
}

static int cleanup_one(verb *v, const char *full, const sr_config *cfg)
{
    const char *comp = sr_component_name(sr_config_component(cfg));
    const char *name = sr_config_name(cfg);
    sr_instance_info *infos = NULL;
    size_t count = 0;
    sr_err err;
    if (sr_instance_scan(&v->cli->paths, comp, name, &infos, &count, &err) != SR_OK) {
        sr_log_stderr("sr cleanup: %s: %s", full, err.msg);
        return 1;
    }
    int running = 0;
    for (size_t i = 0; i < count; i++)
        running += infos[i].state == SR_INSTANCE_RUNNING;
    if (running > 0) {
        sr_log_stderr("sr cleanup: %s: %d instance(s) running: stop it first (sr stop %s); nothing "
                      "removed",
                      full, running, full);
        free(infos);
        return 1;
    }
    long long n = sr_config_count(cfg, SR_OPT_instances);
    int instances = n > 0 ? (int)n : 1;
    for (size_t i = 0; i < count; i++)
        if (infos[i].instance > instances)
            instances = infos[i].instance;
    int status = delete_queue(v, full, cfg, instances);
    if (status == 0)
        status = remove_state(v, full, cfg, infos, count, instances);
    else
        sr_log_stderr("sr cleanup: %s: state files kept, so that a later cleanup still "
                      "finds the queue",
                      full);
    free(infos);
    return status;
}

/* --dangerWillRobinson N, from the overrides (the command line's options) or argv. */
static long long danger(const sr_cli *cli, int argc, char **argv)
{
    long long n = 0;
    for (size_t i = 0; i < cli->override_count; i++)
        if (strcmp(cli->overrides[i].name, "dangerWillRobinson") == 0)
            n = strtoll(cli->overrides[i].value, NULL, 10);
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "--dangerWillRobinson=", 21) == 0)
            n = strtoll(argv[i] + 21, NULL, 10);
    return n;
}

/* ---- both ---- */

static int declare_or_cleanup(const char *name, sr_cli *cli, int argc, char **argv)
{
    char **patterns = calloc((size_t)argc + 1, sizeof *patterns);
    size_t npat = 0;
    if (patterns == NULL) {
        sr_log_stderr("sr %s: out of memory", name);
        return 1;
    }
    bool users = false;
    int p = patterns_of(name, argc, argv, patterns, &npat, &users);
    if (p < 0) {
        free(patterns);
        return p == -1 ? 0 : 2;
    }
    verb v = {.name = name, .cli = cli, .users = users};
    sr_err err;
    const sr_strlist *warnings = NULL;
    sr_strlist found = {0};
    int status = 0;
    if (sr_cli_credentials(cli, &v.creds, &warnings, &err) != SR_OK ||
        sr_cli_find_configs(cli, patterns, npat, &found, &err) != SR_OK) {
        sr_log_stderr("sr %s: %s", name, err.msg);
        free(patterns);
        sr_strlist_clear(&found);
        return 1;
    }
    for (size_t i = 0; warnings && i < warnings->count; i++)
        sr_log_stderr("sr %s: warning: %s", name, warnings->items[i]);
    /* Users first: the configs declared next may post and consume as those users. */
    if (v.users)
        status |= declare_users(&v);
    /* `sr declare --users` alone on a pump with no config yet is not an error; a pattern
     * that selects nothing still is. */
    if (found.count == 0 && !(v.users && npat == 0)) {
        sr_log_stderr("sr %s: no configuration matches under %s", name, cli->paths.config_dir);
        status = 1;
    }
    bool cleanup = strcmp(name, "cleanup") == 0;
    if (cleanup && found.count > 1 && danger(cli, argc, argv) != (long long)found.count) {
        sr_log_stderr("sr cleanup: %zu configs selected: confirm with --dangerWillRobinson %zu "
                      "(nothing removed)",
                      found.count, found.count);
        sr_strlist_clear(&found);
        free(patterns);
        return 2;
    }
    v.have_host = sr_paths_init(&v.host_paths, true, &err) == SR_OK;
    /* Every exchange before any queue, as sr3 declares: a consumer's queue is bound to an
     * exchange another config posts to (the guide's sender/to_hpfx binds to what
     * watch/to_hpfx posts to), and configs come in name order. */
    sr_config **cfgs = calloc(found.count + 1, sizeof *cfgs);
    if (cfgs == NULL) {
        sr_log_stderr("sr %s: out of memory", name);
        status = 1;
    }
    for (size_t i = 0; cfgs != NULL && i < found.count; i++) {
        char *full = found.items[i];
        char *slash = strchr(full, '/');
        *slash = '\0';
        int rc = sr_cli_load(cli, sr_component_from_name(full), slash + 1, &cfgs[i], &err);
        *slash = '/';
        if (rc != SR_OK) {
            sr_log_stderr("sr %s: %s: %s", name, full, err.msg);
            cfgs[i] = NULL;
            status = 1;
        } else if (cleanup) {
            status |= cleanup_one(&v, full, cfgs[i]);
        } else {
            status |= declare_exchanges(&v, full, cfgs[i]);
        }
    }
    for (size_t i = 0; cfgs != NULL && !cleanup && i < found.count; i++)
        if (cfgs[i] != NULL)
            status |= declare_queue(&v, found.items[i], cfgs[i]);
    for (size_t i = 0; cfgs != NULL && i < found.count; i++)
        sr_config_free(cfgs[i]);
    free(cfgs);
    sr_paths_fini(&v.host_paths);
    sr_strlist_clear(&found);
    free(patterns);
    return status;
}

int sr_declare_main(sr_cli *cli, int argc, char **argv)
{
    return declare_or_cleanup("declare", cli, argc, argv);
}

int sr_cleanup_main(sr_cli *cli, int argc, char **argv)
{
    return declare_or_cleanup("cleanup", cli, argc, argv);
}
