/* SPDX-License-Identifier: GPL-2.0-only */
/* test_options: the one option table is consistent, and look-ups find what a user types. */
#include "unit.h"

#include <dirent.h>

#include "announce.h"
#include "broker.h"
#include "config.h"
#include "log.h"
#include "message.h"
#include "nodupe.h"
#include "options.h"
#include "trigger.h"
#include "url.h"

static const char *confd_dir(void)
{
    return getenv("SR_CONFD") ? getenv("SR_CONFD") : "conf.d";
}

/* A config of component c with only the defaults (and overrides): fails the test, with
 * the loader's message, when it does not load. */
static sr_config *defaults_of(enum sr_component c, const sr_override *ov, size_t nov)
{
    sr_config *cfg = NULL;
    sr_err err;
    sr_config_request req = {c, NULL, NULL, confd_dir(), ov, nov};
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return cfg;
}

static void names_are_unique_and_documented(void **state)
{
    (void)state;
    for (int i = 0; i < SR_OPT_COUNT; i++) {
        const sr_option *a = sr_option_get(i);
        assert_non_null(a->help);
        assert_true(strlen(a->help) > 10);
        assert_true(a->components != 0);
        if (a->type == SR_T_SET || a->type == SR_T_ENUM)
            assert_true(strlen(a->extra) > 0);
        for (int j = i + 1; j < SR_OPT_COUNT; j++)
            assert_string_not_equal(a->name, sr_option_get(j)->name);
        sr_option_match m = sr_option_lookup(a->name);
        assert_int_equal(m.id, i);
    }
}

static void aliases_reach_their_option(void **state)
{
    (void)state;
    struct {
        const char *alias, *option;
    } cases[] = {
        {"b", "broker"},         {"chmod", "permDefault"},   {"preserve_time", "timeCopy"},
        {"sum", "identity"},     {"heartbeat", "housekeeping"}, {"postBroker", "post_broker"},
        {"qn", "queueName"},     {"sanity_log_dead", "runStateThreshold_hung"},
        {"destination", "sendTo"}, {"e", "fileEvents"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_option_match m = sr_option_lookup(cases[i].alias);
        assert_true(m.id >= 0);
        assert_string_equal(sr_option_get(m.id)->name, cases[i].option);
        assert_null(m.forced);
    }
    sr_option_match m = sr_option_lookup("notify_only");
    assert_string_equal(sr_option_get(m.id)->name, "download");
    assert_string_equal(m.forced, "off");
    m = sr_option_lookup("logFormat");
    assert_int_equal(m.id, -1);
    assert_non_null(m.unsupported);
    assert_null(m.ignored);
    m = sr_option_lookup("xattr_disable");
    assert_int_equal(m.id, -1);
    assert_null(m.unsupported);
    assert_non_null(m.ignored);
    m = sr_option_lookup("Broker"); /* names are case sensitive, as in sr3 */
    assert_int_equal(m.id, -1);
    assert_null(m.unsupported);
    assert_null(m.ignored);
    char buf[256];
    sr_option_aliases(SR_OPT_nodupe_ttl, buf, sizeof buf);
    assert_string_equal(buf, "cache,caching,suppress_duplicates,sd,nd,no_duplicates");
}

/* Every name sr3 3.00.56 knows, read from its config/__init__.py: the option tables
 * (count_options, flag_options, float_options, duration_options, list_options, set_options,
 * perm_options, size_options, str_options), the default_options dict, both sides of the
 * synonyms dict, the v2 names of convert_to_v3, port_required, v2entry_points, and the names
 * parse_line and finalize handle themselves (include/config, declare, set/setting/s,
 * callback/flowcb/... and their _prepend forms, feeder/manager, import, no-import, strip,
 * inflight/lock, kbytes_ps, help). Each must be an option, an alias, refused with a reason
 * or ignored with a reason: none may fall back to "unknown". */
/* clang-format off */
static const char *const sr3_names[] = {
        "a", "accel_cp_command", "accel_cp_threshold", "accel_scp_command",
        "accel_scp_threshold", "accel_threshold", "accel_wget_command", "accel_wget_threshold",
        "accelCpCommand", "accelScpCommand", "accelThreshold", "accelWgetCommand", "accept",
        "accept_unmatch", "accept_unmatched", "acceptSizeWrong", "acceptUnmatched", "action",
        "admin", "amqp_consumer", "at", "attempts", "b", "base_dir", "basedir", "baseDir",
        "baseurl", "baseUrl", "baseUrl_relPath", "batch", "bd", "bind_queue", "blockSize",
        "blocksize", "broker", "bufSize", "bufsize", "byteRateMax", "c", "cache", "cache_basis",
        "cache_stat", "caching", "callback", "callback_prepend", "cb", "cbp", "chmod",
        "chmod_dir", "chmod_log", "cluster", "cluster_aliases", "config", "content",
        "content_encoding", "content_max", "count", "d", "debug", "declare", "declare_exchange",
        "declare_queue", "default_dir_mode", "default_log_mode", "default_mode", "delete",
        "destfn_script", "destination", "destination_timezone", "directory", "discard",
        "do_data", "do_download", "do_get", "do_poll", "do_put", "do_send", "do_task",
        "document_root", "documentRoot", "download", "download-and-discard",
        "download_cp_command", "dry_run", "durable", "e", "events", "ex", "exchange",
        "exchange_split", "exchange_suffix", "exchangeDeclare", "exchangeSplit",
        "exchangeSuffix", "expire", "expiry", "fcb", "fcbp", "fdelay", "feeder",
        "file_time_limit", "file_total_interval", "fileAgeMax", "fileAgeMin", "fileEvents",
        "filename", "fileSizeMax", "filter_wmo2msc_convert", "filter_wmo2msc_replace_dir",
        "filter_wmo2msc_treeify", "filter_wmo2msc_uniquify", "flatten", "flow_callback",
        "flow_callback_prepend", "flowCallback", "flowCallbackPrepend", "flowcb",
        "flowcb_prepend", "flowMain", "follow_symlinks", "force_polling", "fp", "from_cluster",
        "fs", "h", "hb_memory_baseline_file", "hb_memory_max", "hb_memory_multiplier", "header",
        "heartbeat", "help", "hostname", "housekeeping", "identity", "identity_method",
        "import", "imx", "include", "inflight", "inl", "inline", "inline_encoding",
        "inline_max", "inlineByteMax", "inlineEncoding", "inlineOnly", "inplace", "instance",
        "instances", "integrity", "kbytes_ps", "ll", "lock", "log_format", "log_reject",
        "log_rotate", "logdays", "logDuplicates", "logEvents", "logFormat", "logJson",
        "loglevel", "logLevel", "logMetrics", "logReject", "logRotate", "logRotate_interval",
        "logRotateCount", "logRotateInterval", "logStdout", "ls_file_index", "manager",
        "MemoryBaseLineFile", "MemoryMax", "MemoryMultiplier", "message-ttl", "message_ttl",
        "messageAgeMax", "messageCountMax", "messageDebugDump", "messageRateMax",
        "messageRateMin", "metrics_writeInterval", "mirror", "msg_fdelay",
        "msg_filter_wmo2msc_convert", "msg_filter_wmo2msc_replace_dir",
        "msg_filter_wmo2msc_tree", "msg_filter_wmo2msc_uniquify", "msg_replace_new_dir",
        "msg_total_interval", "n", "nd", "no", "no-import", "no_download", "no_duplicates",
        "nodupe_basis", "nodupe_driver", "nodupe_fileAgeMax", "nodupe_fileAgeMin", "nodupe_ttl",
        "notify_only", "o", "on_file", "on_heartbeat", "on_housekeeping", "on_html_page",
        "on_line", "on_message", "on_msg", "on_part", "on_post", "on_report", "on_start",
        "on_stop", "on_watch", "overwrite", "p", "parts", "path", "pathReplace", "permCopy",
        "permDefault", "permDirDefault", "permLog", "persistent", "plugin", "pm",
        "poll_without_vip", "pollUrl", "post_base_dir", "post_base_url", "post_baseDir",
        "post_basedir", "post_baseUrl", "post_baseurl", "post_broker", "post_document_root",
        "post_documentRoot", "post_exchange", "post_exchange_split", "post_exchange_suffix",
        "post_exchangeSplit", "post_exchangeSuffix", "post_format", "post_log_format",
        "post_messageAgeMax", "post_on_start", "post_rate_limit", "post_topic",
        "post_topic_prefix", "post_topicPrefix", "post_total_interval", "prefetch",
        "preserve_mode", "preserve_time", "pt", "pump", "pump_flag", "qn", "queue",
        "queue_name", "queueBind", "queueDeclare", "queueName", "queueShare", "randomize",
        "realpath", "realpath_filter", "realpath_post", "realpathFilter", "realpathPost",
        "reconnect", "recursive", "reject", "remoteUrl", "rename", "report", "report_back",
        "report_daemons", "report_exchange", "reset",
        "restore", "retry_mode", "retry_refilter", "retry_ttl", "retryEmptyBeforeExit",
        "runStateThreshold_cpuSlow", "runStateThreshold_hung", "runStateThreshold_idle",
        "runStateThreshold_lag", "runStateThreshold_reject", "runStateThreshold_retry",
        "runStateThreshold_slow", "s", "sanity_log_dead", "save", "sd", "sdb", "sendTo", "set",
        "set_passwords", "setting", "simulate", "simulation", "sleep", "source",
        "source_from_exchange", "sourceFromExchange", "sourceFromMessage", "statehost", "strip",
        "subtopic", "sum", "sundew_compat_regex_first_match_is_zero", "suppress_duplicates",
        "suppress_duplicates_basis", "timeCopy", "timeout", "timezone", "tls_rigour",
        "tlsRigour", "to_clusters", "topic", "topic_prefix", "topicCopy", "topicPrefix",
        "users", "v2compatRenameDoublePost", "varTimeOffset", "vip", "windows_run", "wololo",
        "xattr_disable",
};
/* clang-format on */

static void every_sr3_name_is_known(void **state)
{
    (void)state;
    size_t n = sizeof sr3_names / sizeof sr3_names[0];
    assert_true(n > 300);
    int unknown = 0;
    for (size_t i = 0; i < n; i++) {
        sr_option_match m = sr_option_lookup(sr3_names[i]);
        if (m.id < 0 && m.unsupported == NULL && m.ignored == NULL) {
            print_error("sr3 option \"%s\" is unknown to sr\n", sr3_names[i]);
            unknown++;
        }
    }
    assert_int_equal(unknown, 0);
}

/* The synonyms of sr3 reach the option sr3 maps them to (a few that differed once). */
static void sr3_synonyms_reach_sr3s_option(void **state)
{
    (void)state;
    static const struct {
        const char *alias, *option;
    } cases[] = {
        {"cb", "nodupe_basis"},
        {"nodupe_fileAgeMax", "fileAgeMax"},
        {"nodupe_fileAgeMin", "fileAgeMin"},
        {"d", "discard"},
        {"o", "overwrite"},
        {"p", "path"},
        {"at", "attempts"},
        {"default_mode", "permDefault"},
        {"basedir", "baseDir"},
        {"post_baseurl", "post_baseUrl"},
        {"no_duplicates", "nodupe_ttl"},
        {"message-ttl", "post_messageAgeMax"},
        {"inline_max", "inlineByteMax"},
        {"bufsize", "bufSize"},
        {"declare_exchange", "exchangeDeclare"},
        {"bind_queue", "queueBind"},
        {"realpath", "realpathPost"},
        {"documentRoot", "post_baseDir"},
        {"flowcb", "callback"},
        {"on_message", "plugin"},
        {"setting", "set"},
        {"manager", "feeder"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_option_match m = sr_option_lookup(cases[i].alias);
        if (m.id < 0)
            fail_msg("%s is not an alias", cases[i].alias);
        assert_string_equal(sr_option_get(m.id)->name, cases[i].option);
    }
    sr_option_match m = sr_option_lookup("n");
    assert_string_equal(sr_option_get(m.id)->name, "download");
    assert_string_equal(m.forced, "off");
}

/* A choice may have other spellings (logLevel warn): same index, the first is shown. */
static void choices_with_other_spellings(void **state)
{
    (void)state;
    const char *levels = sr_option_get(SR_OPT_logLevel)->extra;
    assert_int_equal(sr_choice_index(levels, "warn", false),
                     sr_choice_index(levels, "warning", false));
    assert_int_equal(sr_choice_index(levels, "FATAL", true),
                     sr_choice_index(levels, "critical", false));
    assert_int_equal(sr_choice_index(levels, "notset", false), 0);
    assert_int_equal(sr_choice_index(levels, "none", false), 5);
    assert_int_equal(sr_choice_index(levels, "warn|", false), -1);
    assert_int_equal(sr_choice_count(levels), 6);
}

static void nearest_suggests_real_names(void **state)
{
    (void)state;
    assert_string_equal(sr_option_nearest("Broker"), "broker");
    assert_string_equal(sr_option_nearest("postbroker"), "post_broker");
    assert_string_equal(sr_option_nearest("acceptUnmatch"), "acceptUnmatched");
    assert_string_equal(sr_option_nearest("subtopics"), "subtopic");
    assert_null(sr_option_nearest("frobnicate"));
    assert_null(sr_option_nearest("x"));
}

static void components(void **state)
{
    (void)state;
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        enum sr_component c = sr_component_at(i);
        assert_int_equal(sr_component_from_name(sr_component_name(c)), c);
    }
    assert_int_equal(sr_component_from_name("poll"), SR_C_POLL);
    assert_int_equal(sr_component_from_name("flow"), 0);
    assert_string_equal(sr_type_name(SR_T_DURATION), "duration");
    assert_true(sr_choice_valid("path,name,data", "name"));
    assert_false(sr_choice_valid("path,name,data", "nam"));
}

/* Every line of conf.d names an option of the table and loads without a warning:
 * the shipped defaults and the table cannot drift apart. */
static void confd_matches_the_table(void **state)
{
    (void)state;
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        sr_config *cfg = defaults_of(sr_component_at(i), NULL, 0);
        const sr_strlist *w = sr_config_warnings(cfg);
        if (w->count)
            fail_msg("conf.d warning: %s", w->items[0]);
        /* things every component relies on having a value */
        assert_true(sr_config_is_set(cfg, SR_OPT_batch));
        assert_true(sr_config_is_set(cfg, SR_OPT_logLevel));
        assert_true(sr_config_is_set(cfg, SR_OPT_housekeeping));
        sr_config_free(cfg);
    }
}

/* Every default of the table is read by its option's own parser: loading applies them all
 * (a bad one fails every load, naming the option), and the default given again as a
 * command-line value reads the same. Lines (accept, subtopic...) have no default. */
static void defaults_parse_as_their_type(void **state)
{
    (void)state;
    sr_config *base = defaults_of(SR_C_SUBSCRIBE, NULL, 0);
    int with_default = 0;
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        const sr_option *opt = sr_option_get(id);
        assert_non_null(opt->default_value);
        if (opt->default_value[0] == '\0') {
            if (opt->type == SR_T_ENUM)
                fail_msg("%s: a choice needs a default (sr_config_choice reads it)", opt->name);
            continue;
        }
        with_default++;
        if (sr_type_is_line(opt->type) || opt->type == SR_T_LIST)
            fail_msg("%s: a %s option cannot have a default", opt->name, sr_type_name(opt->type));
        const sr_value *v = sr_config_value(base, id);
        if (!v->set)
            fail_msg("%s: default \"%s\" left it unset", opt->name, opt->default_value);
        if (v->origin.kind == SR_ORIGIN_DEFAULT) {
            char where[64];
            sr_origin_format(&v->origin, where, sizeof where);
            assert_string_equal(where, "default");
        }
        sr_override ov = {opt->name, opt->default_value};
        sr_config *again = defaults_of(SR_C_SUBSCRIBE, &ov, 1);
        const sr_value *w = sr_config_value(again, id);
        if (w->origin.kind != SR_ORIGIN_CMDLINE || strcmp(w->text, opt->default_value) != 0)
            fail_msg("%s: default \"%s\" reads back as \"%s\"", opt->name, opt->default_value,
                     w->text);
        if (opt->type == SR_T_ENUM)
            assert_int_equal(sr_config_choice(again, id),
                             sr_choice_index(opt->extra, opt->default_value, false));
        sr_config_free(again);
    }
    assert_true(with_default > 40);
    sr_config_free(base);
}

/* The C enums code switches on list an ENUM option's choices in the table's order, so
 * sr_config_choice can be cast to them; every ENUM option has one here. */
static void c_enums_follow_the_choices(void **state)
{
    (void)state;
    static const struct {
        enum sr_option_id id;
        int value, count; /* count: how many values the C enum has */
        const char *word;
    } cases[] = {
        {SR_OPT_tlsRigour, SR_TLS_NORMAL, 3, "normal"},
        {SR_OPT_tlsRigour, SR_TLS_LAX, 3, "lax"},
        {SR_OPT_tlsRigour, SR_TLS_STRICT, 3, "strict"},
        {SR_OPT_logLevel, SR_LOG_DEBUG, SR_LOG_NONE + 1, "debug"},
        {SR_OPT_logLevel, SR_LOG_INFO, SR_LOG_NONE + 1, "info"},
        {SR_OPT_logLevel, SR_LOG_WARNING, SR_LOG_NONE + 1, "warning"},
        {SR_OPT_logLevel, SR_LOG_ERROR, SR_LOG_NONE + 1, "error"},
        {SR_OPT_logLevel, SR_LOG_CRITICAL, SR_LOG_NONE + 1, "critical"},
        {SR_OPT_logLevel, SR_LOG_NONE, SR_LOG_NONE + 1, "none"},
        {SR_OPT_nodupe_basis, SR_NODUPE_PATH, 3, "path"},
        {SR_OPT_nodupe_basis, SR_NODUPE_NAME, 3, "name"},
        {SR_OPT_nodupe_basis, SR_NODUPE_DATA, 3, "data"},
        {SR_OPT_triggerFailure, SR_TRIGGER_FAILURE_LOG, 2, "log"},
        {SR_OPT_triggerFailure, SR_TRIGGER_FAILURE_RETRY, 2, "retry"},
        {SR_OPT_post_format, SR_FORMAT_V03, 3, "v03"},
        {SR_OPT_post_format, SR_FORMAT_V02, 3, "v02"},
        {SR_OPT_post_format, SR_FORMAT_WIS, 3, "wis"},
        {SR_OPT_inlineEncoding, SR_INLINE_GUESS, 3, "guess"},
        {SR_OPT_inlineEncoding, SR_INLINE_TEXT, 3, "text"},
        {SR_OPT_inlineEncoding, SR_INLINE_BINARY, 3, "binary"},
        {SR_OPT_queueType, SR_QUEUE_CLASSIC, 3, "classic"},
        {SR_OPT_queueType, SR_QUEUE_QUORUM, 3, "quorum"},
        {SR_OPT_queueType, SR_QUEUE_STREAM, 3, "stream"},
        /* one choice each: accepted so that sr3's own default may be written; no C enum */
        {SR_OPT_nodupe_driver, 0, 1, "disk"},
        {SR_OPT_retry_driver, 0, 1, "disk"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        const sr_option *opt = sr_option_get(cases[i].id);
        assert_int_equal(opt->type, SR_T_ENUM);
        if (sr_choice_index(opt->extra, cases[i].word, false) != cases[i].value ||
            sr_choice_count(opt->extra) != cases[i].count)
            fail_msg("%s: \"%s\" is choice %d of %d in the table (\"%s\"), value %d of %d in "
                     "its C enum",
                     opt->name, cases[i].word, sr_choice_index(opt->extra, cases[i].word, false),
                     sr_choice_count(opt->extra), opt->extra, cases[i].value, cases[i].count);
    }
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        if (sr_option_get(id)->type != SR_T_ENUM)
            continue;
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed = listed || (int)cases[i].id == id;
        if (!listed)
            fail_msg("%s: a choice option without its C enum here", sr_option_get(id)->name);
    }
    /* decoded once, at load, whatever case the config used */
    sr_override ov[] = {{"tlsRigour", "STRICT"},     {"logLevel", "Warning"},
                        {"nodupe_basis", "data"},    {"postFormat", "v02"},
                        {"triggerFailure", "retry"}, {"inlineEncoding", "binary"},
                        {"queueType", "quorum"}};
    sr_config *cfg = defaults_of(SR_C_SUBSCRIBE, ov, sizeof ov / sizeof ov[0]);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_tlsRigour), SR_TLS_STRICT);
    assert_string_equal(sr_config_str(cfg, SR_OPT_tlsRigour), "strict");
    assert_int_equal(sr_config_choice(cfg, SR_OPT_logLevel), SR_LOG_WARNING);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_nodupe_basis), SR_NODUPE_DATA);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_post_format), SR_FORMAT_V02);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_triggerFailure), SR_TRIGGER_FAILURE_RETRY);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_inlineEncoding), SR_INLINE_BINARY);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_queueType), SR_QUEUE_QUORUM);
    sr_config_free(cfg);
    cfg = defaults_of(SR_C_SUBSCRIBE, NULL, 0);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_tlsRigour), SR_TLS_NORMAL);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_logLevel), SR_LOG_INFO);
    assert_int_equal(sr_config_choice(cfg, SR_OPT_post_format), SR_FORMAT_V03);
    sr_config_free(cfg);
}

/* conf.d/default.conf is the table's defaults, no more, no less (tools/gen_default_conf
 * writes it; `make confd-check` compares the text), and conf.d/<component>.conf holds only
 * what differs from the table. */
static void confd_default_conf_lists_the_table(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/default.conf", confd_dir());
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    int seen[SR_OPT_COUNT] = {0};
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *space = strchr(line, ' ');
        if (space == NULL)
            fail_msg("%s:%d: not \"name value\"", path, lineno);
        *space = '\0';
        sr_option_match m = sr_option_lookup(line);
        if (m.id < 0 || strcmp(sr_option_get(m.id)->name, line) != 0)
            fail_msg("%s:%d: %s is not an option's name", path, lineno, line);
        const char *want = sr_option_get(m.id)->default_value;
        if (strcmp(space + 1, want) != 0)
            fail_msg("%s:%d: %s %s, but the table says \"%s\" (make default-conf)", path, lineno,
                     line, space + 1, want);
        seen[m.id]++;
    }
    free(line);
    fclose(f);
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        bool has = sr_option_get(id)->default_value[0] != '\0';
        if (seen[id] != (has ? 1 : 0))
            fail_msg("%s: listed %d times in %s (make default-conf)", sr_option_get(id)->name,
                     seen[id], path);
    }
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        sr_config *cfg = defaults_of(sr_component_at(i), NULL, 0);
        for (int id = 0; id < SR_OPT_COUNT; id++) {
            const sr_value *v = sr_config_value(cfg, id);
            const char *def = sr_option_get(id)->default_value;
            if (v->origin.kind == SR_ORIGIN_CONFD && def[0] != '\0' && v->text != NULL &&
                strcmp(v->text, def) == 0)
                fail_msg("%s:%d: %s %s repeats the table's default", v->origin.file, v->origin.line,
                         sr_option_get(id)->name, def);
        }
        sr_config_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_unique_and_documented),
        cmocka_unit_test(aliases_reach_their_option),
        cmocka_unit_test(nearest_suggests_real_names),
        cmocka_unit_test(components),
        cmocka_unit_test(confd_matches_the_table),
        cmocka_unit_test(defaults_parse_as_their_type),
        cmocka_unit_test(c_enums_follow_the_choices),
        cmocka_unit_test(every_sr3_name_is_known),
        cmocka_unit_test(sr3_synonyms_reach_sr3s_option),
        cmocka_unit_test(choices_with_other_spellings),
        cmocka_unit_test(confd_default_conf_lists_the_table),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
