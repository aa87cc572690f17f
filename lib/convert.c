/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * convert: see convert.h.
 *
 * The rewrite works line by line on words, as sr3's own does (a line's words are joined
 * back with one space), so that what sr writes and what sr3 writes for the same v2 file
 * load to the same options. Option names are renamed through the option table (one list
 * of spellings for the parser and for convert); what is specific to v2 (its plugins, its
 * obsolete keywords, its checksum letters and date patterns) is in the tables below.
 */
#include "convert.h"
#include "plugins.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "options.h"
#include "paths.h"
#include "sr3import.h"

/* v2 keywords sr3 drops on conversion: their work is built in, or gone. */
static const char *const obsolete[] = {
    "cache_stat",
    "cluster_aliases",
    "from_cluster",
    "to_clusters",
    "to",
    "ls_file_index",
    "file_total_interval",
    "post_total_interval",
    "post_log_format",
    "msg_total_interval",
    "parts",
    "pump",
    "pump_flag",
    "reconnect",
    "report_daemons",
    "restore",
    "retry_mode",
    "save",
    "set_passwords",
    "windows_run",
    "xattr_disable",
};

/* v2 options that name a plugin (Python code run at some point of the flow). */
static const char *const plugin_keys[] = {
    "plugin",   "on_message",   "on_msg",        "on_file",          "on_post",  "on_part",
    "on_line",  "on_heartbeat", "on_html_page",  "on_report",        "on_start", "on_stop",
    "on_watch", "do_send",      "do_get",        "do_put",           "do_poll",  "do_download",
    "do_task",  "do_data",      "destfn_script", "poll_without_vip",
};

/* What sr3's conversion makes of a known v2 plugin: dropped (its work is built in: the
 * accelerators, the totals), an option sr has (logEvents), or a Python callback. */
enum plugin_fate { DROPPED, OPTION, CALLBACK };

typedef struct plugin_rule {
    const char *key;    /* the v2 option ("on_message"); "on_msg" is looked up as it */
    const char *plugin; /* the v2 plugin, without .py */
    enum plugin_fate fate;
    const char *sr3; /* the sr3 line it becomes (OPTION, CALLBACK) */
} plugin_rule;

static const plugin_rule plugin_rules[] = {
    {"plugin", "accel_wget", DROPPED, NULL},
    {"plugin", "accel_scp", DROPPED, NULL},
    {"plugin", "accel_cp", DROPPED, NULL},
    {"plugin", "msg_total_save", DROPPED, NULL},
    {"plugin", "file_total_save", DROPPED, NULL},
    {"plugin", "post_total_save", DROPPED, NULL},
    {"plugin", "msg_fdelay", CALLBACK, "callback filter.fdelay"},
    {"plugin", "msg_pclean_f90", CALLBACK, "callback filter.pclean_f90.PClean_F90"},
    {"plugin", "msg_pclean_f92", CALLBACK, "callback filter.pclean_f92.PClean_F92"},
    {"do_send", "file_email", CALLBACK, "callback send.email"},
    {"on_file", "file_age", CALLBACK, "callback work.age"},
    {"on_message", "msg_log", OPTION, "logEvents +after_accept"},
    {"on_message", "msg_rawlog", OPTION, "logEvents +after_accept"},
    {"on_message", "msg_by_source", DROPPED, NULL},
    {"on_message", "msg_by_user", DROPPED, NULL},
    {"on_message", "msg_download", DROPPED, NULL},
    {"on_message", "msg_dump", DROPPED, NULL},
    {"on_message", "msg_total", DROPPED, NULL},
    {"on_message", "msg_from_cluster", DROPPED, NULL},
    {"on_message", "msg_stdfiles", DROPPED, NULL},
    {"on_message", "msg_stopper", DROPPED, NULL},
    {"on_message", "msg_overwrite_sum", DROPPED, NULL},
    {"on_message", "msg_gts2wistopic", DROPPED, NULL},
    {"on_message", "msg_delete", CALLBACK, "callback filter.deleteflowfiles.DeleteFlowFiles"},
    {"on_message", "msg_print_lag", CALLBACK, "callback accept.printlag.PrintLag"},
    {"on_message", "msg_replace_new_dir", CALLBACK, "callback accept.pathreplace"},
    {"on_message", "msg_skip_old", CALLBACK, "callback accept.skipold.SkipOld"},
    {"on_message", "msg_test_retry", CALLBACK, "callback accept.testretry.TestRetry"},
    {"on_message", "msg_to_clusters", CALLBACK, "callback accept.toclusters.ToClusters"},
    {"on_message", "msg_save", CALLBACK, "callback accept.save"},
    {"on_message", "msg_2localfile", CALLBACK, "callback accept.tolocalfile.ToLocalFile"},
    {"on_message", "msg_rename_whatfn", CALLBACK, "callback accept.renamewhatfn.RenameWhatFn"},
    {"on_message", "msg_rename_dmf", CALLBACK, "callback accept.renamedmf.RenameDMF"},
    {"on_message", "msg_hour_tree", CALLBACK, "callback accept.hourtree.HourTree"},
    {"on_message", "msg_renamer", CALLBACK, "callback accept.renamer.Renamer"},
    {"on_message", "msg_http_to_https", CALLBACK, "callback accept.httptohttps.HttpToHttps"},
    {"on_message", "msg_speedo", CALLBACK, "callback accept.speedo.Speedo"},
    {"on_message", "msg_WMO_type_suffix", CALLBACK, "callback accept.wmotypesuffix.WmoTypeSuffix"},
    {"on_message", "msg_sundew_pxroute", CALLBACK, "callback accept.sundewpxroute.SundewPxRoute"},
    {"on_message", "msg_rename4jicc", CALLBACK, "flow_callback accept.rename4jicc.Rename4Jicc"},
    {"on_message", "msg_delay", CALLBACK, "callback accept.messagedelay.MessageDelay"},
    {"on_message", "msg_download_baseurl", CALLBACK,
     "callback accept.downloadbaseurl.DownloadBaseUrl"},
    {"on_message", "msg_fdelay", CALLBACK, "callback filter.fdelay"},
    {"on_post", "post_log", OPTION, "logEvents +after_work"},
    {"on_post", "post_total", DROPPED, NULL},
    {"on_post", "post_rate_limit", DROPPED, NULL},
    {"on_post", "to", DROPPED, NULL},
    {"on_post", "wmo2msc", CALLBACK, "callback filter.wmo2msc.Wmo2Msc"},
    {"on_post", "post_hour_tree", CALLBACK, "callback accept.posthourtree.PostHourTree"},
    {"on_post", "post_long_flow", CALLBACK, "callback accept.longflow.LongFLow"},
    {"on_post", "post_override", CALLBACK, "callback accept.postoverride.PostOverride"},
};

/* v2's one-letter checksum methods (the v02 `sum` header's first field). */
static const struct {
    const char *v2, *sr3;
} sum_letters[] = {
    {"s", "sha512"},       {"d", "md5"},       {"n", "none"},   {"a", "arbitrary"},
    {"r", "random"},       {"0", "random"},    {"L", "link"},   {"R", "remove"},
    {"z,s", "cod,sha512"}, {"z,d", "cod,md5"}, {"z,n", "none"},
};

/* v2 date patterns and their strftime forms (sr3's). Longest first: each is a prefix of
 * a later one. No closing brace: an offset (-1h) may follow the name. */
static const struct {
    const char *v2, *sr3;
} date_patterns[] = {
    {"${YYYYMMDD-1D", "${%o-1d%Y%m%d"},
    {"${YYYYMMDD-2D", "${%o-2d%Y%m%d"},
    {"${YYYYMMDD", "${%Y%m%d"},
    {"${YYYY", "${%Y"},
    {"${JJJ", "${%j"},
    {"${HH", "${%H"},
    {"${DD", "${%d"},
    {"${MM", "${%m"},
    {"${SS", "${%S"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *const *list, size_t n, const char *word)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], word) == 0)
            return true;
    return false;
}

const char *sr_convert_component(const char *v2_component)
{
    /* v2 had the same component names as sr3 for those sr has, and the C ones */
    return sr_import_component(v2_component);
}

/* ---- one line ---- */

/* A line split into words; the words are new strings (replaced in place as converted). */
typedef struct words {
    char **w;
    size_t n;
} words;

static void words_free(words *ws)
{
    for (size_t i = 0; i < ws->n; i++)
        free(ws->w[i]);
    free(ws->w);
    ws->w = NULL;
    ws->n = 0;
}

static int words_split(const char *line, words *ws)
{
    ws->w = NULL;
    ws->n = 0;
    const char *p = line;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        char **grown = realloc(ws->w, (ws->n + 1) * sizeof *grown);
        if (grown == NULL)
            return -1;
        ws->w = grown;
        if ((ws->w[ws->n] = strndup(start, (size_t)(p - start))) == NULL)
            return -1;
        ws->n++;
    }
    return 0;
}

static int word_set(words *ws, size_t i, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return -1;
    free(ws->w[i]);
    ws->w[i] = copy;
    return 0;
}

/* Replace every v2 date pattern in s (a new string, or NULL when out of memory). */
static char *convert_patterns(const char *s)
{
    char *cur = strdup(s);
    for (size_t i = 0; cur != NULL && i < COUNT(date_patterns); i++) {
        char *at;
        while (cur != NULL && (at = strstr(cur, date_patterns[i].v2)) != NULL) {
            char *next = NULL;
            if (asprintf(&next, "%.*s%s%s", (int)(at - cur), cur, date_patterns[i].sr3,
                         at + strlen(date_patterns[i].v2)) < 0)
                next = NULL;
            free(cur);
            cur = next;
        }
    }
    return cur;
}

/* Does any value word hold a positional group reference ${0}..${9}? */
static bool has_group_ref(const words *ws)
{
    for (size_t i = 1; i < ws->n; i++)
        for (const char *p = strstr(ws->w[i], "${"); p != NULL; p = strstr(p + 2, "${"))
            if (isdigit((unsigned char)p[2]) && p[3] == '}')
                return true;
    return false;
}

static const plugin_rule *find_plugin_rule(const char *key, const char *plugin)
{
    if (strcmp(key, "on_msg") == 0)
        key = "on_message";
    for (size_t i = 0; i < COUNT(plugin_rules); i++)
        if (strcmp(plugin_rules[i].key, key) == 0 && strcmp(plugin_rules[i].plugin, plugin) == 0)
            return &plugin_rules[i];
    return NULL;
}

const char *sr_convert_v2_callback(const char *entry, const char *plugin)
{
    const plugin_rule *r = find_plugin_rule(entry, plugin);
    return r != NULL && r->fate == CALLBACK ? r->sr3 : NULL;
}

/* The v2 plugin name of a value: without its folder and its first ".py". */
static void plugin_name(const char *value, char *buf, size_t size)
{
    const char *slash = strrchr(value, '/');
    snprintf(buf, size, "%s", slash ? slash + 1 : value);
    char *py = strstr(buf, ".py");
    if (py != NULL)
        memmove(py, py + 3, strlen(py + 3) + 1);
}

/* What the conversion of one file keeps between lines. */
typedef struct state {
    const char *component, *label;
    FILE *out;
    sr_strlist *problems, *notes;
    unsigned lineno;
    bool accept_all_seen, group_refs_declared;
    char *accept_unmatched; /* the file's own acceptUnmatched value, written last */
} state;

static bool is_false_word(const char *v)
{
    return strcasecmp(v, "off") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
           strcmp(v, "0") == 0;
}

/* A line sr cannot carry: commented out below the reason, and reported. */
static int left_out(state *st, const char *why, const char *line)
{
    if (fprintf(st->out, "# sr convert: NOT CONVERTED: %s\n#%s\n", why, line) < 0)
        return -1;
    return sr_strlist_pushf(st->problems, "%s:%u: %s: %s", st->label, st->lineno, line, why);
}

/* A line sr3 drops too: a comment says so. */
static int dropped(state *st, const char *why, const char *line)
{
    if (fprintf(st->out, "# sr convert: dropped (%s): %s\n", why, line) < 0)
        return -1;
    return sr_strlist_pushf(st->notes, "%s:%u: %s: dropped, %s", st->label, st->lineno, line, why);
}

static int convert_plugin_line(state *st, const words *ws, const char *line)
{
    char why[512];
    if (ws->n < 2) {
        snprintf(why, sizeof why, "v2 option \"%s\" without a plugin name", ws->w[0]);
        return left_out(st, why, line);
    }
    char name[256];
    plugin_name(ws->w[1], name, sizeof name);
    const plugin_rule *r = find_plugin_rule(ws->w[0], name);
    if (r == NULL) {
        snprintf(why, sizeof why,
                 "v2 plugin %s has no sr3 equivalent (sr3 convert asks for a manual "
                 "conversion) and sr runs no Python plugins",
                 name);
        return left_out(st, why, line);
    }
    if (r->fate == DROPPED)
        return dropped(st, "its work is built into sr3 and sr", line);
    if (r->fate == OPTION)
        return fprintf(st->out, "%s\n", r->sr3) < 0 ? -1 : 0;
    const char *callback = strchr(r->sr3, ' ') + 1;
    if (sr_plugin_is_builtin(callback))
        return fprintf(st->out, "%s\n", r->sr3) < 0 ? -1 : 0; /* sr has it built in */
    snprintf(why, sizeof why,
             "sr3 converts v2 plugin %s to a Python callback, and sr has no plugin of that "
             "name (sr-plugin(7)); the sr3 form is kept below",
             name);
    if (fprintf(st->out, "# sr convert: NOT CONVERTED: %s (v2: %s)\n#%s\n", why, line, r->sr3) < 0)
        return -1;
    return sr_strlist_pushf(st->problems, "%s:%u: %s: %s", st->label, st->lineno, line, why);
}

/* The sr3 method for a v2 `sum` value, or NULL when it is not one. */
static const char *identity_value(const char *v)
{
    for (size_t i = 0; i < COUNT(sum_letters); i++)
        if (strcmp(sum_letters[i].v2, v) == 0)
            return sum_letters[i].sr3;
    static const char *const v3[] = {"sha512", "md5",     "none",       "arbitrary",
                                     "random", "md5name", "cod,sha512", "cod,md5"};
    for (size_t i = 0; i < COUNT(v3); i++)
        if (strcmp(v3[i], v) == 0)
            return v3[i];
    return NULL;
}

static int convert_line(state *st, char *line)
{
    words ws;
    if (words_split(line, &ws) != 0) {
        words_free(&ws);
        return -1;
    }
    int rc = 0;
    const char *k = ws.w[0];
    if (in_list(obsolete, COUNT(obsolete), k)) {
        rc = dropped(st, "obsolete v2 option", line);
        goto done;
    }
    if (in_list(plugin_keys, COUNT(plugin_keys), k)) {
        rc = convert_plugin_line(st, &ws, line);
        goto done;
    }
    /* the name sr3 gives it (in a poll, destination is the server listed) */
    if (strcmp(k, "destination") == 0) {
        rc = word_set(&ws, 0, strcmp(st->component, "poll") == 0 ? "pollUrl" : "sendTo");
    } else if (strcmp(k, "sum") == 0 || strcmp(k, "integrity") == 0 || strcmp(k, "identity") == 0) {
        const char *method = ws.n > 1 ? identity_value(ws.w[1]) : NULL;
        if (method == NULL) {
            rc = left_out(st, "not a checksum method of v2 or sr3", line);
            goto done;
        }
        rc = word_set(&ws, 0, "identity") | word_set(&ws, 1, method);
    } else {
        sr_option_match m = sr_option_lookup(k);
        if (m.id >= 0 && m.forced != NULL) {
            /* a bare word that sets an option (notify_only): the option and its value */
            const char *value = m.forced;
            if (ws.n > 1 && is_false_word(ws.w[1]))
                value = strcmp(m.forced, "off") == 0 ? "on" : m.forced;
            char *joined = NULL;
            if (asprintf(&joined, "%s %s", sr_option_get(m.id)->name, value) < 0)
                joined = NULL;
            rc = joined == NULL ? -1 : fprintf(st->out, "%s\n", joined) < 0 ? -1 : 0;
            free(joined);
            goto done;
        }
        if (m.id >= 0)
            rc = word_set(&ws, 0, sr_option_get(m.id)->name);
        /* an unknown or unsupported name is written as it is: the load afterwards says
         * what sr makes of it */
    }
    if (rc != 0)
        goto done;
    k = ws.w[0];
    if (strcmp(k, "accept") == 0 && ws.n > 1 && strcmp(ws.w[1], ".*") == 0) {
        /* with no accept .*, unmatched files are accepted by sr3's default */
        st->accept_all_seen = true;
        rc = dropped(st, "accept .* is sr3's default, acceptUnmatched", line);
        goto done;
    }
    if (strcmp(k, "acceptUnmatched") == 0) {
        free(st->accept_unmatched);
        st->accept_unmatched = strdup(ws.n > 1 ? ws.w[1] : "True");
        rc = st->accept_unmatched == NULL ? -1 : 0;
        goto done;
    }
    if (strcmp(k, "post_baseUrl") == 0 && ws.n > 1 && ws.w[1][0] != '\0' &&
        ws.w[1][strlen(ws.w[1]) - 1] != '/') {
        /* sr3 appends the base URL and relPath without a separator */
        char *slashed = NULL;
        if (asprintf(&slashed, "%s/", ws.w[1]) < 0) {
            rc = -1;
            goto done;
        }
        free(ws.w[1]);
        ws.w[1] = slashed;
    }
    if ((strcmp(k, "fileEvents") == 0 || strcmp(k, "logEvents") == 0) && ws.n > 1 &&
        strcasestr(ws.w[1], "none") == NULL && ws.w[1][0] != '+' && ws.w[1][0] != '-') {
        /* a v2 list named the events to add to the defaults; sr3 spells that +list */
        char *plus = NULL;
        if (asprintf(&plus, "+%s", ws.w[1]) < 0) {
            rc = -1;
            goto done;
        }
        free(ws.w[1]);
        ws.w[1] = plus;
    }
    for (size_t i = 1; i < ws.n; i++) {
        char *converted = convert_patterns(ws.w[i]);
        if (converted == NULL) {
            rc = -1;
            goto done;
        }
        free(ws.w[i]);
        ws.w[i] = converted;
    }
    if (!st->group_refs_declared && has_group_ref(&ws)) {
        /* v2 (sundew) numbered regex groups from 0 */
        st->group_refs_declared = true;
        if (fprintf(st->out, "sundew_compat_regex_first_match_is_zero True\n") < 0) {
            rc = -1;
            goto done;
        }
    }
    for (size_t i = 0; i < ws.n && rc == 0; i++)
        rc = fprintf(st->out, "%s%s", i ? " " : "", ws.w[i]) < 0 ? -1 : 0;
    if (rc == 0 && fputc('\n', st->out) == EOF)
        rc = -1;
done:
    words_free(&ws);
    return rc;
}

int sr_convert_stream(const char *v2_component, const char *label, FILE *in, FILE *out,
                      sr_strlist *problems, sr_strlist *notes, sr_err *err)
{
    state st = {.component = v2_component,
                .label = label,
                .out = out,
                .problems = problems,
                .notes = notes};
    int rc = 0;
    if (fprintf(out, "# converted from Sarracenia v2 %s by sr convert (sr3 option syntax)\n",
                label) < 0)
        rc = -1;
    if (rc == 0 && (strcmp(v2_component, "shovel") == 0 || strcmp(v2_component, "winnow") == 0))
        /* v2 re-posted with the topic received; sr3 and sr derive it from the path */
        rc = fprintf(out, "# v2 posted with the topic it received; uncomment to keep that:\n"
                          "#topicCopy on\n") < 0
                 ? -1
                 : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (rc == 0 && (got = getline(&line, &cap, in)) >= 0) {
        st.lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        const char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            rc = fputc('\n', out) == EOF ? -1 : 0;
        else if (*p == '#')
            rc = fprintf(out, "%s\n", line) < 0 ? -1 : 0;
        else
            rc = convert_line(&st, (char *)p);
    }
    bool read_failed = ferror(in);
    free(line);
    if (rc == 0 && !read_failed) {
        /* v2 subscribers and senders rejected what no mask matched; sr3 accepts it */
        if (st.accept_all_seen)
            ;
        else if (st.accept_unmatched != NULL)
            rc = fprintf(out, "acceptUnmatched %s\n", st.accept_unmatched) < 0 ? -1 : 0;
        else if (strcmp(v2_component, "subscribe") == 0 || strcmp(v2_component, "sender") == 0 ||
                 strcmp(v2_component, "poll") == 0)
            rc = fprintf(out, "acceptUnmatched False\n") < 0 ? -1 : 0;
    }
    free(st.accept_unmatched);
    if (read_failed)
        return sr_err_set(err, SR_EIO, false, "%s: read failed", label);
    if (rc != 0)
        return sr_err_set(err, errno == ENOMEM ? SR_ENOMEM : SR_EIO, false,
                          "%s: writing the conversion failed", label);
    return SR_OK;
}

/* ---- the verb ---- */

/* ~/.config/sarra, where v2 kept its configs ($XDG_CONFIG_HOME/sarra when set). */
static char *v2_dir(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *path = NULL;
    int n = xdg && xdg[0] ? asprintf(&path, "%s/sarra", xdg)
                          : asprintf(&path, "%s/.config/sarra", home ? home : "");
    return n < 0 ? NULL : path;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* v2's default.conf or admin.conf (read by every config): converted as a config of no
 * component, into sr's folder. sr3 convert cannot convert them (it makes a folder of the
 * name); a v2 user has both. 0 when clean, 1 otherwise (said). */
static int convert_top(sr_cli *cli, const char *base, const char *file, bool force)
{
    char *src = NULL, *dest = NULL, *tmp = NULL;
    if (asprintf(&src, "%s/%s", base, file) < 0)
        src = NULL;
    if (src == NULL || asprintf(&dest, "%s/%s", cli->paths.config_dir, file) < 0)
        dest = NULL;
    if (dest == NULL || asprintf(&tmp, "%s.tmp", dest) < 0)
        tmp = NULL;
    sr_strlist problems = {0}, notes = {0};
    sr_err err;
    int status = 1;
    FILE *in = NULL, *out = NULL;
    if (tmp == NULL)
        sr_log_stderr("sr convert: out of memory");
    else if (!is_file(src))
        sr_log_stderr("sr convert: %s: no v2 %s", src, file);
    else if (!force && access(dest, F_OK) == 0)
        sr_log_stderr("sr convert: %s exists: not overwritten (--force to overwrite)", dest);
    else if (sr_mkdir_p(cli->paths.config_dir, 0755, &err) != SR_OK)
        sr_log_stderr("sr convert: %s", err.msg);
    else if ((in = fopen(src, "re")) == NULL || (out = fopen(tmp, "we")) == NULL)
        sr_log_stderr("sr convert: %s: %s", in == NULL ? src : tmp, strerror(errno));
    else {
        int rc = sr_convert_stream("", src, in, out, &problems, &notes, &err);
        int closed = fclose(out);
        out = NULL;
        if (rc != SR_OK || closed != 0 || rename(tmp, dest) != 0) {
            sr_log_stderr("sr convert: %s", rc != SR_OK ? err.msg : strerror(errno));
            unlink(tmp);
        } else {
            printf("%s: converted to %s\n", file, dest);
            for (size_t i = 0; i < notes.count; i++)
                printf("%s\n", notes.items[i]);
            for (size_t i = 0; i < problems.count; i++)
                printf("%s\n", problems.items[i]);
            status = problems.count > 0;
            if (status != 0)
                printf("%s: NOT fully converted: %zu line(s) left out; see above\n", file,
                       problems.count);
        }
    }
    if (in != NULL)
        fclose(in);
    if (out != NULL) {
        fclose(out);
        unlink(tmp);
    }
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
    free(src);
    free(dest);
    free(tmp);
    return status;
}

/* Convert one COMPONENT/NAME; 0 when clean, 1 otherwise (said). */
static int convert_one(sr_cli *cli, const char *base, const char *spec, bool force)
{
    if (strcmp(spec, "default.conf") == 0 || strcmp(spec, "admin.conf") == 0)
        return convert_top(cli, base, spec, force);
    if (strcmp(spec, "default") == 0 || strcmp(spec, "admin") == 0) {
        char file[32];
        snprintf(file, sizeof file, "%s.conf", spec);
        return convert_top(cli, base, file, force);
    }
    const char *slash = strchr(spec, '/');
    if (slash == NULL || slash == spec || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
        sr_log_stderr("sr convert: \"%s\" is not COMPONENT/NAME", spec);
        return 1;
    }
    char comp[64];
    snprintf(comp, sizeof comp, "%.*s", (int)(slash - spec), spec);
    const char *name = slash + 1;
    /* NAME, NAME.conf or NAME.inc, as sr3 looks for them */
    char *src = NULL, *stem = NULL;
    const char *ext = ".conf";
    if (asprintf(&src, "%s/%s", base, spec) < 0)
        src = NULL;
    if (src != NULL && is_file(src) && (ends_with(name, ".conf") || ends_with(name, ".inc"))) {
        ext = ends_with(name, ".inc") ? ".inc" : ".conf";
        stem = strndup(name, strlen(name) - strlen(ext));
    } else {
        free(src);
        src = NULL;
        for (int i = 0; i < 2 && src == NULL; i++) {
            ext = i == 0 ? ".conf" : ".inc";
            if (asprintf(&src, "%s/%s%s", base, spec, ext) < 0)
                return 1;
            if (!is_file(src)) {
                free(src);
                src = NULL;
            }
        }
        stem = strdup(name);
    }
    if (src == NULL || stem == NULL) {
        sr_log_stderr("sr convert: %s: no v2 configuration %s/%s{,.conf,.inc}", spec, base, spec);
        free(src);
        free(stem);
        return 1;
    }
    const char *component =
        strcmp(ext, ".conf") == 0 ? sr_import_component_of(comp, src) : sr_convert_component(comp);
    if (component == NULL) {
        sr_log_stderr("sr convert: %s: not converted: sr has no %s component", src, comp);
        free(src);
        free(stem);
        return 1;
    }
    char *destdir = NULL, *dest = NULL, *tmp = NULL;
    sr_err err;
    int status = 0;
    if (asprintf(&destdir, "%s/%s", cli->paths.config_dir, component) < 0)
        destdir = NULL;
    if (destdir == NULL || asprintf(&dest, "%s/%s%s", destdir, stem, ext) < 0)
        dest = NULL;
    if (dest == NULL || asprintf(&tmp, "%s.tmp", dest) < 0)
        tmp = NULL;
    sr_strlist problems = {0}, notes = {0}, loaded = {0};
    FILE *in = NULL, *out = NULL;
    if (tmp == NULL) {
        sr_log_stderr("sr convert: out of memory");
        status = 1;
    } else if (!force && access(dest, F_OK) == 0) {
        sr_log_stderr("sr convert: %s exists: not overwritten (--force to overwrite)", dest);
        status = 1;
    } else if (sr_mkdir_p(destdir, 0755, &err) != SR_OK) {
        sr_log_stderr("sr convert: %s", err.msg);
        status = 1;
    } else if ((in = fopen(src, "re")) == NULL || (out = fopen(tmp, "we")) == NULL) {
        sr_log_stderr("sr convert: %s: %s", in == NULL ? src : tmp, strerror(errno));
        status = 1;
    } else {
        int rc = sr_convert_stream(comp, src, in, out, &problems, &notes, &err);
        int closed = fclose(out);
        out = NULL;
        if (rc != SR_OK || closed != 0 || rename(tmp, dest) != 0) {
            sr_log_stderr("sr convert: %s", rc != SR_OK ? err.msg : strerror(errno));
            unlink(tmp);
            status = 1;
        } else {
            if (strcmp(component, comp) != 0)
                printf("%s: a v2 %s config becomes an sr %s config\n", src, comp, component);
            printf("%s: converted to %s\n", spec, dest);
            for (size_t i = 0; i < notes.count; i++)
                printf("%s\n", notes.items[i]);
            for (size_t i = 0; i < problems.count; i++)
                printf("%s\n", problems.items[i]);
            status = problems.count > 0;
            /* what sr itself makes of the result: refusals and ignored lines */
            if (strcmp(ext, ".conf") == 0) {
                int lrc = sr_import_check_file(cli->paths.config_dir, cli->paths.confd_dir, dest,
                                               component, &loaded, &err);
                for (size_t i = 0; i < loaded.count; i++)
                    printf("%s\n", loaded.items[i]);
                if (lrc != SR_OK || loaded.count > 0)
                    status = 1;
            }
            if (status != 0)
                printf("%s: NOT fully converted: %zu line(s) left out, %zu problem(s) when "
                       "sr loads it; see above\n",
                       spec, problems.count, loaded.count);
        }
    }
    if (in != NULL)
        fclose(in);
    if (out != NULL) {
        fclose(out);
        unlink(tmp);
    }
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
    sr_strlist_clear(&loaded);
    free(src);
    free(stem);
    free(destdir);
    free(dest);
    free(tmp);
    return status;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sr convert [--force] {COMPONENT/NAME | default.conf | admin.conf} ...\n"
                 "  rewrite a Sarracenia v2 config (~/.config/sarra/COMPONENT/NAME.conf) in sr3\n"
                 "  form into sr's config folder; lines sr cannot carry are kept commented out\n"
                 "  and reported as file:line. An existing config is kept unless --force.\n"
                 "  See sr(1).\n");
}

int sr_convert_main(sr_cli *cli, int argc, char **argv)
{
    bool force = false;
    int specs = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "--wololo") == 0) {
            force = true; /* --wololo: sr3's spelling */
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            sr_log_stderr("sr convert: unexpected %s", argv[i]);
            usage(stderr);
            return 2;
        } else {
            specs++;
        }
    }
    if (specs == 0) {
        usage(stderr);
        return 2;
    }
    char *base = v2_dir();
    if (base == NULL) {
        sr_log_stderr("sr convert: out of memory");
        return 1;
    }
    int status = 0;
    for (int i = 0; i < argc; i++)
        if (argv[i][0] != '-')
            status |= convert_one(cli, base, argv[i], force);
    free(base);
    return status;
}
