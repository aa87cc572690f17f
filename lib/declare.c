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
#include <unistd.h>

#include "broker.h"
#include "brokerconf.h"
#include "instance.h"
#include "topic.h"
#include "url.h"

/* One verb over the selected configs: what each needs, the common part. */
typedef struct verb {
    const char *name; /* "declare", "cleanup" */
    sr_cli *cli;
    const sr_credentials *creds;
    sr_paths host_paths; /* statehost on: <state>/<short host> */
    bool have_host;
} verb;

static void usage(const char *name, FILE *out)
{
    if (strcmp(name, "declare") == 0)
        fprintf(out, "usage: sr declare [PATTERN ...]\n"
                     "  declare on the brokers the exchanges each config posts to and the\n"
                     "  queue (with its bindings) it consumes from. See sr(1).\n");
    else
        fprintf(out, "usage: sr [--dangerWillRobinson N] cleanup [PATTERN ...]\n"
                     "  delete each (stopped) config's queue on its broker and its state\n"
                     "  files, keeping `disabled`; N confirms a cleanup of N > 1 configs.\n");
}

/* Patterns from argv; -1 for --help (printed), -2 for a bad flag (usage printed). */
static int patterns_of(const char *name, int argc, char **argv, char **patterns, size_t *n)
{
    *n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(name, stdout);
            return -1;
        }
        if (strncmp(argv[i], "--dangerWillRobinson=", 21) == 0)
            continue; /* read with the overrides */
        if (argv[i][0] == '-') {
            fprintf(stderr, "sr %s: unknown flag %s\n", name, argv[i]);
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
        fprintf(stderr, "sr %s: %s: %s: %s\n", verb_name, full, which, err->msg);
    else
        fprintf(stderr, "sr %s: %s: %s %s: %s\n", verb_name, full, which, url, err->msg);
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
        fprintf(stderr, "sr declare: %s: %s\n", full, err.msg);
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
        fprintf(stderr, "sr declare: %s: post_broker: %s\n", full, err.msg);
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

static int declare_queue(verb *v, const char *full, const sr_config *cfg)
{
    if ((sr_config_component(cfg) & SR_C_CONSUMERS) == 0 ||
        sr_config_str(cfg, SR_OPT_broker) == NULL)
        return 0;
    sr_consumer_setup cons;
    sr_err err;
    /* Instance 0 declares as instance 1 does, and saves the queue name for the instances. */
    if (sr_brokerconf_consumer(cfg, paths_for(v, cfg), 0, v->creds, &cons, &err) != SR_OK) {
        fprintf(stderr, "sr declare: %s: %s\n", full, err.msg);
        return 1;
    }
    sr_broker *b = sr_broker_new(&cons.broker, &err);
    int status = 0;
    if (b == NULL) {
        fprintf(stderr, "sr declare: %s: broker: %s\n", full, err.msg);
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

/* ---- cleanup ---- */

/* The queue name without making one: queueName, or the one saved by instance 1 (or a
 * declare). NULL when the config never had a queue (nothing on the broker to delete). */
static char *saved_queue_name(const sr_config *cfg, const sr_paths *paths, char **qfile)
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
    if (user != NULL && dir != NULL &&
        asprintf(&file, "%s/%s.%s.%s.qname", dir, comp, name, user) >= 0) {
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

static int delete_queue(verb *v, const char *full, const sr_config *cfg, int instances)
{
    if ((sr_config_component(cfg) & SR_C_CONSUMERS) == 0 ||
        sr_config_str(cfg, SR_OPT_broker) == NULL)
        return 0;
    char *qfile = NULL;
    char *queue = saved_queue_name(cfg, paths_for(v, cfg), &qfile);
    free(qfile);
    if (queue == NULL) {
        printf("%s: no queue was ever declared (no saved queue name)\n", full);
        return 0;
    }
    free(queue);
    sr_consumer_setup cons;
    sr_err err;
    if (sr_brokerconf_consumer(cfg, paths_for(v, cfg), 1, v->creds, &cons, &err) != SR_OK) {
        fprintf(stderr, "sr cleanup: %s: %s\n", full, err.msg);
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
            snprintf(id, sizeof id, "%s_i%02d", cons.queue_name, i);
            opts.client_id = id;
        }
        sr_broker *b = sr_broker_new(&opts, &err);
        if (b == NULL) {
            fprintf(stderr, "sr cleanup: %s: broker: %s\n", full, err.msg);
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
                fprintf(stderr, "sr cleanup: %s: cannot remove %s: %s\n", full, path,
                        strerror(errno));
                status = 1;
            }
        }
        closedir(d);
    } else if (dir != NULL && errno != ENOENT) {
        fprintf(stderr, "sr cleanup: %s: cannot list %s: %s\n", full, dir, strerror(errno));
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
        fprintf(stderr, "sr cleanup: %s: %s\n", full, err.msg);
        return 1;
    }
    int running = 0;
    for (size_t i = 0; i < count; i++)
        running += infos[i].state == SR_INSTANCE_RUNNING;
    if (running > 0) {
        fprintf(stderr,
                "sr cleanup: %s: %d instance(s) running: stop it first (sr stop %s); nothing "
                "removed\n",
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
        fprintf(stderr,
                "sr cleanup: %s: state files kept, so that a later cleanup still "
                "finds the queue\n",
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

static int run(const char *name, sr_cli *cli, int argc, char **argv)
{
    char **patterns = calloc((size_t)argc + 1, sizeof *patterns);
    size_t npat = 0;
    if (patterns == NULL) {
        fprintf(stderr, "sr %s: out of memory\n", name);
        return 1;
    }
    int p = patterns_of(name, argc, argv, patterns, &npat);
    if (p < 0) {
        free(patterns);
        return p == -1 ? 0 : 2;
    }
    verb v = {.name = name, .cli = cli};
    sr_err err;
    const sr_strlist *warnings = NULL;
    sr_strlist found = {0};
    int status = 0;
    if (sr_cli_credentials(cli, &v.creds, &warnings, &err) != SR_OK ||
        sr_cli_find_configs(cli, patterns, npat, &found, &err) != SR_OK) {
        fprintf(stderr, "sr %s: %s\n", name, err.msg);
        free(patterns);
        sr_strlist_clear(&found);
        return 1;
    }
    for (size_t i = 0; warnings && i < warnings->count; i++)
        fprintf(stderr, "sr %s: warning: %s\n", name, warnings->items[i]);
    if (found.count == 0) {
        fprintf(stderr, "sr %s: no configuration matches under %s\n", name, cli->paths.config_dir);
        status = 1;
    }
    bool cleanup = strcmp(name, "cleanup") == 0;
    if (cleanup && found.count > 1 && danger(cli, argc, argv) != (long long)found.count) {
        fprintf(stderr,
                "sr cleanup: %zu configs selected: confirm with --dangerWillRobinson %zu "
                "(nothing removed)\n",
                found.count, found.count);
        sr_strlist_clear(&found);
        free(patterns);
        return 2;
    }
    v.have_host = sr_paths_init(&v.host_paths, true, &err) == SR_OK;
    for (size_t i = 0; i < found.count; i++) {
        char *full = found.items[i];
        char *slash = strchr(full, '/');
        *slash = '\0';
        sr_config *cfg = NULL;
        int rc = sr_cli_load(cli, sr_component_from_name(full), slash + 1, &cfg, &err);
        *slash = '/';
        if (rc != SR_OK) {
            fprintf(stderr, "sr %s: %s: %s\n", name, full, err.msg);
            status = 1;
            continue;
        }
        if (cleanup) {
            status |= cleanup_one(&v, full, cfg);
        } else {
            status |= declare_exchanges(&v, full, cfg);
            status |= declare_queue(&v, full, cfg);
        }
        sr_config_free(cfg);
    }
    sr_paths_fini(&v.host_paths);
    sr_strlist_clear(&found);
    free(patterns);
    return status;
}

int sr_declare_main(sr_cli *cli, int argc, char **argv)
{
    return run("declare", cli, argc, argv);
}

int sr_cleanup_main(sr_cli *cli, int argc, char **argv)
{
    return run("cleanup", cli, argc, argv);
}
