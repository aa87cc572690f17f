/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dump: see dump.h.
 */
#include "dump.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "instance.h"
#include "log.h"
#include "options.h"
#include "status.h"
#include "url.h"

/* A config's status in sr3's words, from its sr status row. */
static const char *sr3_status(const sr_status_input *in, const sr_status_row *r)
{
    if (in->config_error)
        return "error";
    if (in->disabled)
        return "disabled";
    if (strcmp(r->state, "fore") == 0)
        return "foreground";
    if (r->running <= 0)
        /* pid files whose processes are gone: meant to run, and not running */
        return in->instance_count > 0 ? "missing" : "stopped";
    return r->running < r->expected ? "partial" : "running";
}

/* Words after the verb: --json (json_ok), --help, the patterns (pointers into argv). */
static int parse_args(const char *verb, int argc, char **argv, bool json_ok, bool *json,
                      char ***patterns, size_t *n)
{
    *json = false;
    *n = 0;
    *patterns = calloc((size_t)argc + 1, sizeof **patterns);
    if (*patterns == NULL) {
        sr_log_stderr("sr %s: out of memory", verb);
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && json_ok) {
            *json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: sr %s%s [PATTERN ...]\n  see sr(1)\n", verb, json_ok ? " [--json]" : "");
            return 0;
        } else if (argv[i][0] == '-') {
            sr_log_stderr("sr %s: unexpected %s", verb, argv[i]);
            return 2;
        } else {
            (*patterns)[(*n)++] = argv[i];
        }
    }
    return -1; /* go on */
}

/* obj[key], made an empty object when absent (NULL when out of memory). */
static json_t *child(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (c == NULL && (c = json_object()) != NULL && json_object_set_new(obj, key, c) != 0)
        c = NULL;
    return c;
}

/* Append who to the list obj[key] (made when absent), once. */
static int add_to_list(json_t *obj, const char *key, const char *who)
{
    json_t *list = json_object_get(obj, key);
    if (list == NULL) {
        list = json_array();
        if (list == NULL || json_object_set_new(obj, key, list) != 0)
            return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (strcmp(json_string_value(v), who) == 0) return 0;
    return json_array_append_new(list, json_string(who));
}

static char *read_first_line(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = getline(&line, &cap, f);
    fclose(f);
    if (got <= 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

/* The queue a consumer config uses: queueName, or the name instance 1 saved (brokerconf.h
 * names the file); NULL when neither (never made up here: dump changes nothing). */
static char *queue_of(const sr_cli *cli, const sr_config *cfg, const char *comp, const char *name,
                      const sr_url *broker)
{
    const char *given = sr_config_str(cfg, SR_OPT_queueName);
    if (given != NULL)
        return strdup(given);
    char *dir = sr_paths_instance_dir(&cli->paths, comp, name);
    char *file = NULL;
    if (dir != NULL && asprintf(&file, "%s/%s.%s.%s.qname", dir, comp, name,
                                broker->user ? broker->user : "anonymous") < 0)
        file = NULL;
    char *q = file ? read_first_line(file) : NULL;
    free(dir);
    free(file);
    return q;
}

/* The brokers, exchanges and queue of one config into bindings; the queue name into
 * *queue (new string or NULL). */
static int add_bindings(const sr_cli *cli, const char *full, const char *comp, const char *name,
                        json_t *bindings, char **queue)
{
    *queue = NULL;
    sr_config *cfg = NULL;
    sr_err err;
    if (sr_cli_load(cli, sr_component_from_name(comp), name, &cfg, &err) != SR_OK)
        return err.code == SR_ENOMEM ? -1 : 0; /* its error is in Configs */
    int rc = 0;
    sr_url url;
    const char *broker = sr_config_str(cfg, SR_OPT_broker);
    if (broker != NULL && sr_url_parse(broker, &url, &err) == SR_OK) {
        json_t *host = child(bindings, url.host ? url.host : url.scheme);
        json_t *xs = host ? child(host, "exchanges") : NULL;
        json_t *qs = host ? child(host, "queues") : NULL;
        rc = xs && qs ? 0 : -1;
        const char *final_x = sr_config_str(cfg, SR_OPT_exchange);
        for (size_t i = 0; rc == 0 && i < sr_config_subtopic_count(cfg); i++) {
            const sr_subtopic *st = sr_config_subtopic(cfg, i);
            const char *x = st->exchange ? st->exchange : final_x;
            if (x != NULL)
                rc = add_to_list(xs, x, full);
        }
        if (rc == 0 && (*queue = queue_of(cli, cfg, comp, name, &url)) != NULL)
            rc = add_to_list(qs, *queue, full);
        sr_url_fini(&url);
    }
    const char *post = sr_config_str(cfg, SR_OPT_post_broker);
    const char *post_x = sr_config_str(cfg, SR_OPT_post_exchange);
    if (rc == 0 && post != NULL && post_x != NULL && sr_url_parse(post, &url, &err) == SR_OK) {
        json_t *host = child(bindings, url.host ? url.host : url.scheme);
        json_t *xs = host ? child(host, "exchanges") : NULL;
        rc = xs ? add_to_list(xs, post_x, full) : -1;
        if (rc == 0 && json_object_get(host, "queues") == NULL)
            rc = child(host, "queues") ? 0 : -1;
        sr_url_fini(&url);
    }
    sr_config_free(cfg);
    return rc;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The instances meant to run that do not: of a config that runs at all (or should: not
 * stopped by hand, not disabled), each of 1..instances without a live process. */
static int add_missing(const sr_status_input *in, const sr_status_row *r, const char *full,
                       json_t *missing)
{
    if (in->config_error || in->disabled || in->instance_count == 0)
        return 0;
    (void)r;
    for (int n = 1; n <= in->expected; n++) {
        bool alive = false;
        for (size_t j = 0; j < in->instance_count; j++)
            alive |=
                in->instances[j].instance == n && in->instances[j].state == SR_INSTANCE_RUNNING;
        char buf[400];
        snprintf(buf, sizeof buf, "%s_%d", full, n);
        if (!alive && json_array_append_new(missing, json_string(buf)) != 0)
            return -1;
    }
    return 0;
}

static json_t *processes(const sr_cli *cli, const sr_status_report *rep)
{
    json_t *procs = json_object();
    sr_instance_process *ps = NULL;
    size_t n = 0;
    sr_err err;
    if (procs == NULL || sr_instance_processes(&cli->paths, &ps, &n, &err) != SR_OK)
        return procs; /* /proc unreadable: none known */
    for (size_t i = 0; i < n; i++) {
        bool claimed = false;
        for (size_t c = 0; c < rep->names.count; c++)
            for (size_t j = 0; j < rep->inputs[c].instance_count; j++)
                claimed |= rep->inputs[c].instances[j].pid == ps[i].pid;
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)ps[i].pid);
        json_t *p = json_pack("{s:s, s:s, s:i, s:f, s:b}", "component", ps[i].component, "config",
                              ps[i].config, "instance", ps[i].instance, "age", ps[i].age, "claimed",
                              claimed);
        if (p == NULL || json_object_set_new(procs, pid, p) != 0) {
            json_decref(procs);
            procs = NULL;
            break;
        }
    }
    free(ps);
    return procs;
}

/* The words after the verb, then the report of the configs they name (*npat: how many
 * patterns named them): -1 and *rep to go on with, or the exit status (--help, a usage
 * error, a report that cannot be made). */
static int collect(const char *verb, sr_cli *cli, int argc, char **argv, bool *json,
                   sr_status_report *rep, size_t *npat)
{
    char **patterns;
    int rc = parse_args(verb, argc, argv, true, json, &patterns, npat);
    if (rc < 0) {
        sr_err err;
        if (sr_status_collect(cli, patterns, *npat, rep, &err) != SR_OK) {
            sr_log_stderr("sr %s: %s", verb, err.msg);
            rc = 1;
        }
    }
    free(patterns);
    return rc;
}

int sr_dump_main(sr_cli *cli, int argc, char **argv)
{
    bool json;
    sr_status_report rep;
    size_t npat;
    int rc = collect("dump", cli, argc, argv, &json, &rep, &npat);
    if (rc >= 0)
        return rc;
    int status = 0;
    json_t *root = json_object();
    json_t *configs = json_object(), *states = json_object(), *bindings = json_object(),
           *missing = json_array();
    bool bad =
        root == NULL || configs == NULL || states == NULL || bindings == NULL || missing == NULL;
    for (size_t i = 0; !bad && i < rep.names.count; i++) {
        const char *full = rep.names.items[i];
        const sr_status_input *in = &rep.inputs[i];
        const sr_status_row *r = &rep.rows[i];
        char comp[64];
        const char *slash = strchr(full, '/');
        snprintf(comp, sizeof comp, "%.*s", (int)(slash - full), full);
        const char *name = slash + 1;
        const char *st = sr3_status(in, r);
        char *file = sr_paths_config_file(&cli->paths, comp, name);
        json_t *c = json_pack("{s:s, s:s, s:i, s:i, s:b, s:s?}", "status", st, "state", r->state,
                              "instances", in->expected, "running", r->running < 0 ? 0 : r->running,
                              "disabled", in->disabled, "file", file);
        free(file);
        if (c != NULL && rep.errors[i] != NULL) {
            json_object_set_new(c, "error", json_string(rep.errors[i]));
            status = 1;
        }
        json_t *comp_configs = child(configs, comp);
        bad = c == NULL || comp_configs == NULL || json_object_set_new(comp_configs, name, c) != 0;
        char *queue = NULL;
        bad = bad || add_bindings(cli, full, comp, name, bindings, &queue) != 0;
        json_t *pids = json_object();
        for (size_t j = 0; !bad && pids && j < in->instance_count; j++) {
            char n[16];
            snprintf(n, sizeof n, "%d", in->instances[j].instance);
            bad = json_object_set_new(pids, n, json_integer(in->instances[j].pid)) != 0;
        }
        char *dir = sr_paths_instance_dir(&cli->paths, comp, name);
        json_t *s = pids ? json_pack("{s:o, s:s?, s:s, s:b}", "instance_pids", pids, "queueName",
                                     queue, "status", st, "has_state", is_dir(dir))
                         : NULL;
        free(dir);
        free(queue);
        json_t *comp_states = child(states, comp);
        bad = bad || s == NULL || comp_states == NULL ||
              json_object_set_new(comp_states, name, s) != 0;
        bad = bad || add_missing(in, r, full, missing) != 0;
    }
    json_t *procs = bad ? NULL : processes(cli, &rep);
    bad = bad || procs == NULL;
    if (!bad) {
        bad = json_object_set_new(root, "Processes", procs) != 0 ||
              json_object_set_new(root, "Configs", configs) != 0 ||
              json_object_set_new(root, "States", states) != 0 ||
              json_object_set_new(root, "Bindings", bindings) != 0 ||
              json_object_set_new(root, "Missing instances", missing) != 0;
        configs = states = bindings = missing = NULL;
    }
    if (bad || json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        sr_log_stderr("sr dump: out of memory");
        status = 1;
    } else {
        fputc('\n', stdout);
    }
    json_decref(root);
    json_decref(configs);
    json_decref(states);
    json_decref(bindings);
    json_decref(missing);
    sr_status_report_fini(&rep);
    (void)json;
    return status;
}

/* ---- overview ---- */

/* The statuses in the order overview lists them for a mixed component. */
static const char *const statuses[] = {"running",  "partial", "foreground", "stopped",
                                       "disabled", "error",   "missing"};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

int sr_overview_main(sr_cli *cli, int argc, char **argv)
{
    bool json;
    sr_status_report rep;
    size_t npat;
    int rc = collect("overview", cli, argc, argv, &json, &rep, &npat);
    if (rc >= 0)
        return rc;
    sr_err err;
    int bad = 0;
    unsigned configs_running = 0;
    long missing = 0;
    json_t *root = json_object(), *comps = json_object();
    if (!json) {
        printf("%-10s %-10s %-6s %3s %s\n", "Component", "State", "Good?", "Qty",
               "Configurations-i(r/e)");
        printf("%-10s %-10s %-6s %3s %s\n", "---------", "-----", "-----", "---",
               "---------------------");
    }
    for (int ci = 0; ci < SR_COMPONENT_COUNT; ci++) {
        const char *comp = sr_component_name(sr_component_at(ci));
        size_t clen = strlen(comp);
        sr_strlist by[NSTATUS] = {{0}};
        size_t total = 0;
        for (size_t i = 0; i < rep.names.count; i++) {
            const char *full = rep.names.items[i];
            if (strncmp(full, comp, clen) != 0 || full[clen] != '/')
                continue;
            total++;
            const sr_status_input *in = &rep.inputs[i];
            const sr_status_row *r = &rep.rows[i];
            const char *st = sr3_status(in, r);
            for (int n = 1; n <= in->expected && in->instance_count > 0 && !in->disabled; n++) {
                bool alive = false;
                for (size_t j = 0; j < in->instance_count; j++)
                    alive |= in->instances[j].instance == n &&
                             in->instances[j].state == SR_INSTANCE_RUNNING;
                missing += !alive;
            }
            for (size_t s = 0; s < NSTATUS; s++) {
                if (strcmp(statuses[s], st) != 0)
                    continue;
                if (strcmp(st, "stopped") == 0 || strcmp(st, "disabled") == 0 ||
                    strcmp(st, "error") == 0)
                    sr_strlist_push(&by[s], full + clen + 1);
                else
                    sr_strlist_pushf(&by[s], "%s-i%d/%d", full + clen + 1, r->running,
                                     in->expected);
            }
        }
        if (total == 0)
            continue;
        size_t running = by[0].count, partial = by[1].count + by[2].count + by[6].count,
               disabled = by[4].count, errors = by[5].count;
        configs_running += (unsigned)running;
        const char *state, *good;
        const sr_strlist *shown = NULL;
        size_t qty = total;
        if (running + partial == 0 && errors == 0) {
            state = "stopped", good = "OK", shown = &by[3];
            /* disabled ones are stopped too */
            for (size_t k = 0; k < by[4].count; k++)
                sr_strlist_push(&by[3], by[4].items[k]);
        } else if (running == total) {
            state = "running", good = "OK", shown = &by[0];
        } else if (running == total - disabled && errors == 0) {
            state = "most", good = "OKd", shown = &by[0], qty = total - disabled;
        } else {
            state = "mixed", good = "mult";
            bad = 1;
        }
        char *list = shown ? sr_strlist_join(shown, ", ") : NULL;
        if (json) {
            json_t *c = json_pack("{s:s, s:s, s:i}", "state", state, "good", good, "count",
                                  (json_int_t)qty);
            json_t *per = json_object();
            for (size_t s = 0; c && per && s < NSTATUS; s++) {
                json_t *a = json_array();
                for (size_t k = 0; a && k < by[s].count; k++)
                    json_array_append_new(a, json_string(by[s].items[k]));
                json_object_set_new(per, statuses[s], a);
            }
            json_object_set_new(c, "configs", per);
            json_object_set_new(comps, comp, c);
        } else if (shown) {
            printf("%-10s %-10s %-6s %3zu %s\n", comp, state, good, qty, list ? list : "");
        } else {
            printf("%-10s %-10s %-6s %3zu\n", comp, state, good, qty);
            for (size_t s = 0; s < NSTATUS; s++) {
                char *l = by[s].count ? sr_strlist_join(&by[s], ", ") : NULL;
                if (l != NULL)
                    printf("    %3zu %s: %s\n", by[s].count, statuses[s], l);
                free(l);
            }
        }
        free(list);
        for (size_t s = 0; s < NSTATUS; s++)
            sr_strlist_clear(&by[s]);
    }
    /* processes of ours that no pid file names */
    sr_instance_process *ps = NULL;
    size_t nps = 0;
    long strays = 0;
    json_t *stray_list = json_array();
    if (sr_instance_processes(&cli->paths, &ps, &nps, &err) == SR_OK) {
        for (size_t i = 0; i < nps; i++) {
            bool claimed = false;
            char full[300];
            snprintf(full, sizeof full, "%s/%s", ps[i].component, ps[i].config);
            bool listed = sr_strlist_contains(&rep.names, full);
            for (size_t c = 0; c < rep.names.count; c++)
                for (size_t j = 0; j < rep.inputs[c].instance_count; j++)
                    claimed |= rep.inputs[c].instances[j].pid == ps[i].pid;
            if (claimed || (!listed && npat > 0))
                continue;
            strays++;
            bad = 1;
            if (json)
                json_array_append_new(stray_list, json_pack("{s:i, s:s, s:s, s:i}", "pid",
                                                            (json_int_t)ps[i].pid, "component",
                                                            ps[i].component, "config", ps[i].config,
                                                            "instance", ps[i].instance));
            else
                printf("pid: %d-\"sr_%s instance %d %s\" is not a configured instance\n",
                       (int)ps[i].pid, ps[i].component, ps[i].instance, ps[i].config);
        }
    }
    if (json) {
        json_object_set_new(root, "components", comps);
        json_object_set_new(root, "strays", stray_list);
        json_object_set_new(root, "totals",
                            json_pack("{s:i, s:i, s:i, s:i}", "runningConfigs",
                                      (json_int_t)configs_running, "processes", (json_int_t)nps,
                                      "missing", (json_int_t)missing, "stray", (json_int_t)strays));
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        json_decref(comps);
        json_decref(stray_list);
        printf("      total running configs: %3u ( processes: %zu missing: %ld stray: %ld )\n",
               configs_running, nps, missing, strays);
    }
    json_decref(root);
    free(ps);
    sr_status_report_fini(&rep);
    return bad;
}
