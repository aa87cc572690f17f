/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * test_config: the configs of test/data/config read as a user wrote them.
 *   good/    realistic configs of every component: the values sr show would print
 *   layers/  admin.conf, default.conf and includes under one config folder
 *   bad/     one mistake each: the exact error a user sees, with file:line
 */
#include "unit.h"

#include <unistd.h>

#include "config.h"
#include "show.h"

static const char *confd(void)
{
    const char *d = getenv("SR_CONFD");
    return d ? d : "conf.d";
}

static int load_in(const char *tree, enum sr_component c, const char *name, const sr_override *ov,
                   size_t nov, sr_config **cfg, sr_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_data(tree));
    sr_config_request req = {c, name, dir, confd(), ov, nov};
    return sr_config_load(&req, cfg, err);
}

static sr_config *load_good(enum sr_component c, const char *name)
{
    sr_config *cfg = NULL;
    sr_err err = {0};
    int rc = load_in("config/good", c, name, NULL, 0, &cfg, &err);
    if (rc != SR_OK)
        fail_msg("%s/%s: %s", sr_component_name(c), name, err.msg);
    return cfg;
}

/* What `sr show` prints for an option. */
static void expect(const sr_config *cfg, enum sr_option_id id, const char *want)
{
    char *got = sr_show_value(cfg, id);
    if (strcmp(got, want) != 0) {
        fail_msg("%s/%s: %s is \"%s\", expected \"%s\"",
                 sr_component_name(sr_config_component(cfg)), sr_config_name(cfg),
                 sr_option_get(id)->name, got, want);
    }
    free(got);
}

static void expect_origin(const sr_config *cfg, enum sr_option_id id, const char *want)
{
    char buf[4096];
    sr_origin_format(&sr_config_value(cfg, id)->origin, buf, sizeof buf);
    if (strstr(buf, want) == NULL ||
        strlen(buf) - strlen(want) != (size_t)(strstr(buf, want) - buf))
        fail_msg("%s: origin is \"%s\", expected it to end in \"%s\"", sr_option_get(id)->name, buf,
                 want);
}

static void no_warnings(const sr_config *cfg)
{
    const sr_strlist *w = sr_config_warnings(cfg);
    if (w->count)
        fail_msg("unexpected warning: %s", w->items[0]);
    const sr_strlist *r = sr_config_refused(cfg);
    if (r->count)
        fail_msg("unexpected refused line: %s", r->items[0]);
}

/* ---- good configs ---- */

static void subscribe_hpfx(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "hpfx_grib");
    no_warnings(cfg);
    expect(cfg, SR_OPT_broker, "amqps://anonymous@hpfx.collab.science.gc.ca/");
    expect(cfg, SR_OPT_exchange, "xpublic");
    expect(cfg, SR_OPT_topicPrefix, "v02.post");
    expect(cfg, SR_OPT_post_topicPrefix, "v02.post");
    expect(cfg, SR_OPT_acceptUnmatched, "off");
    expect(cfg, SR_OPT_mirror, "off"); /* subscribe's conf.d default */
    expect(cfg, SR_OPT_download, "on");
    expect(cfg, SR_OPT_batch, "25");
    expect(cfg, SR_OPT_prefetch, "25");
    expect(cfg, SR_OPT_expire, "86400");
    expect_origin(cfg, SR_OPT_mirror, "conf.d/subscribe.conf:6");
    expect_origin(cfg, SR_OPT_exchange, "good/subscribe/hpfx_grib.conf:3");
    assert_int_equal(sr_config_subtopic_count(cfg), 1);
    const sr_subtopic *s = sr_config_subtopic(cfg, 0);
    assert_string_equal(s->pattern, "*.WXO-DD.model_gem_global.25km.grib2.#");
    assert_string_equal(s->exchange, "xpublic");
    assert_string_equal(s->topic_prefix, "v02.post");
    assert_int_equal(sr_config_mask_count(cfg), 2);
    const sr_mask *m = sr_config_mask(cfg, 1);
    assert_true(m->accept);
    assert_string_equal(m->pattern, ".*GLB.*\\.grib2$");
    assert_string_equal(m->directory, "/data/gem");
    assert_false(m->mirror);

    bool accepted;
    const char *base = "https://hpfx.collab.science.gc.ca/20241024/WXO-DD/model_gem_global/";
    char url[512];
    snprintf(url, sizeof url, "%sCMC_glb_GLB_2024.grib2", base);
    assert_ptr_equal(sr_config_match(cfg, url, &accepted, NULL, 0, NULL), m);
    assert_true(accepted);
    snprintf(url, sizeof url, "%sCMC_GLB.grib2.tmp", base);
    assert_ptr_equal(sr_config_match(cfg, url, &accepted, NULL, 0, NULL), sr_config_mask(cfg, 0));
    assert_false(accepted);
    snprintf(url, sizeof url, "%sreadme.txt", base);
    assert_null(sr_config_match(cfg, url, &accepted, NULL, 0, NULL));
    assert_false(accepted); /* acceptUnmatched off */
    sr_config_free(cfg);
}

static void subscribe_masks_capture_placement(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "dd_swob");
    no_warnings(cfg);
    assert_int_equal(sr_config_mask_count(cfg), 3);
    const sr_mask *a = sr_config_mask(cfg, 0), *b = sr_config_mask(cfg, 1);
    assert_string_equal(a->directory, "/data/swob/partners");
    assert_true(a->mirror);
    assert_string_equal(a->strip, "3");
    assert_string_equal(a->flatten, "/");
    assert_string_equal(b->directory, "/data/swob/flat");
    assert_false(b->mirror);
    assert_string_equal(b->flatten, "-");
    assert_false(sr_config_mask(cfg, 2)->accept);
    /* re.match semantics: anchored at the start, not at the end; groups for ${1} */
    bool accepted;
    char *groups[4];
    int n = 0;
    const sr_mask *m =
        sr_config_match(cfg, "https://dd.weather.gc.ca/observations/swob-ml/20241024/CYUL/x.xml",
                        &accepted, groups, 4, &n);
    assert_ptr_equal(m, b);
    assert_true(accepted);
    assert_int_equal(n, 1);
    assert_string_equal(groups[0], "CYUL");
    free(groups[0]);
    m = sr_config_match(cfg, "https://dd.weather.gc.ca/observations/swob-ml/CYOW/x.xml", &accepted,
                        NULL, 0, NULL);
    assert_ptr_equal(m, sr_config_mask(cfg, 2));
    assert_false(accepted);
    sr_config_free(cfg);
}

static void subscribe_mqtt_and_durations(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "mqtt_mesh");
    no_warnings(cfg);
    expect(cfg, SR_OPT_broker, "mqtts://guest@peerA.example.com:8883");
    expect(cfg, SR_OPT_queueName, "q_guest.subscribe.mqtt_mesh.peerB");
    expect(cfg, SR_OPT_nodupe_ttl, "3600");
    expect(cfg, SR_OPT_mirror, "on");
    assert_string_equal(sr_config_subtopic(cfg, 0)->pattern, "#");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SUBSCRIBE, "timing");
    no_warnings(cfg);
    expect(cfg, SR_OPT_prefetch, "1000");
    expect(cfg, SR_OPT_batch, "100");
    expect(cfg, SR_OPT_housekeeping, "300");
    expect(cfg, SR_OPT_timeout, "90");
    expect(cfg, SR_OPT_attempts, "5");
    expect(cfg, SR_OPT_retry_ttl, "129600");
    expect(cfg, SR_OPT_messageAgeMax, "7200");
    expect(cfg, SR_OPT_fileAgeMax, "604800");
    expect(cfg, SR_OPT_bufSize, "4194304");
    expect(cfg, SR_OPT_byteRateMax, "1048576");
    expect(cfg, SR_OPT_sleep, "0.5");
    assert_true(sr_config_seconds(cfg, SR_OPT_timeout) == 90);
    assert_int_equal(sr_config_count(cfg, SR_OPT_bufSize), 4194304);
    sr_config_free(cfg);
}

static void subscribe_aliases_and_v2(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "notify_only");
    no_warnings(cfg);
    expect(cfg, SR_OPT_download, "off");
    expect(cfg, SR_OPT_logLevel, "debug");
    expect(cfg, SR_OPT_messageCountMax, "500");
    expect(cfg, SR_OPT_exchange, "xpublic"); /* anonymous broker user */
    sr_config_free(cfg);

    cfg = load_good(SR_C_SUBSCRIBE, "v2_synonyms");
    no_warnings(cfg);
    expect(cfg, SR_OPT_broker, "amqps://anonymous@dd.weather.gc.ca/");
    expect(cfg, SR_OPT_exchange, "xpublic");
    expect(cfg, SR_OPT_topicPrefix, "v02.post");
    expect(cfg, SR_OPT_acceptUnmatched, "off");
    expect(cfg, SR_OPT_permDefault, "0644");
    expect(cfg, SR_OPT_permDirDefault, "0755");
    expect(cfg, SR_OPT_timeCopy, "off");
    expect(cfg, SR_OPT_permCopy, "off");
    expect(cfg, SR_OPT_identity, "md5");
    expect(cfg, SR_OPT_housekeeping, "600");
    expect(cfg, SR_OPT_nodupe_ttl, "900");
    assert_int_equal(sr_config_bits(cfg, SR_OPT_permDefault), 0644);
    sr_config_free(cfg);
}

static void subscribe_sets_and_inline(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "inline");
    no_warnings(cfg);
    expect(cfg, SR_OPT_inline, "on");
    expect(cfg, SR_OPT_inlineByteMax, "8000");
    expect(cfg, SR_OPT_fileEvents, "create,link,modify,mkdir,rmdir");
    expect(cfg, SR_OPT_overwrite, "off");
    expect(cfg, SR_OPT_discard, "on");
    expect(cfg, SR_OPT_exchange, "xs_bob");
    assert_false(sr_config_has(cfg, SR_OPT_fileEvents, "delete"));
    assert_true(sr_config_has(cfg, SR_OPT_fileEvents, "link"));
    sr_config_free(cfg);

    cfg = load_good(SR_C_SUBSCRIBE, "fileops");
    no_warnings(cfg);
    expect(cfg, SR_OPT_fileEvents, "create,delete,link,modify,mkdir");
    expect(cfg, SR_OPT_acceptSizeWrong, "on");
    expect(cfg, SR_OPT_fileSizeMax, "2000000000");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SUBSCRIBE, "logging");
    no_warnings(cfg);
    expect(cfg, SR_OPT_logLevel, "warning");
    expect(cfg, SR_OPT_logRotateInterval, "21600");
    expect(cfg, SR_OPT_logRotateCount, "10");
    expect(cfg, SR_OPT_logReject, "on");
    expect(cfg, SR_OPT_logEvents, "after_accept,after_work,after_post,on_housekeeping,reject");
    expect(cfg, SR_OPT_statehost, "on");
    expect(cfg, SR_OPT_runStateThreshold_hung, "900");
    expect(cfg, SR_OPT_runStateThreshold_lag, "120");
    expect(cfg, SR_OPT_runStateThreshold_reject, "50");
    expect(cfg, SR_OPT_runStateThreshold_retry, "200");
    sr_config_free(cfg);
}

static void subscribe_variables_and_include(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "vars");
    no_warnings(cfg);
    /* declared and built-in variables now; the date is left for each message */
    expect(cfg, SR_OPT_directory, "/srv/data/vars/${YYYYMMDD}");
    expect(cfg, SR_OPT_post_baseDir, "/srv/data");
    expect(cfg, SR_OPT_expire, "172800");
    expect(cfg, SR_OPT_prefetch, "10");
    expect_origin(cfg, SR_OPT_prefetch, "good/subscribe/common.inc:3");
    assert_int_equal(sr_config_env(cfg)->count, 1);
    assert_string_equal(sr_config_env(cfg)->items[0], "DATAROOT=/srv/data");
    assert_string_equal(sr_config_mask(cfg, 0)->directory, "/srv/data/vars/${YYYYMMDD}");
    sr_err err;
    assert_int_equal(sr_config_export_env(cfg, &err), SR_OK);
    assert_string_equal(getenv("DATAROOT"), "/srv/data");
    unsetenv("DATAROOT");
    sr_config_free(cfg);
}

static void subscribe_trailing_comments(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "trailing_comments");
    no_warnings(cfg);
    expect(cfg, SR_OPT_broker, "amqps://bob@pump.example.com/");
    expect(cfg, SR_OPT_exchange, "xs_bob_hot");
    expect(cfg, SR_OPT_expire, "86400");
    expect(cfg, SR_OPT_directory, "/data/in#coming");
    assert_string_equal(sr_config_subtopic(cfg, 0)->pattern, "#");
    assert_string_equal(sr_config_mask(cfg, 0)->pattern, ".*#.*");
    sr_config_free(cfg);
}

static void subscribe_queue_and_tls(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SUBSCRIBE, "queue_share");
    no_warnings(cfg);
    expect(cfg, SR_OPT_exchange, "xs_bob_hot");
    expect(cfg, SR_OPT_queueShare, "cluster1");
    expect(cfg, SR_OPT_instances, "4");
    expect(cfg, SR_OPT_durable, "off");
    expect(cfg, SR_OPT_auto_delete, "on");
    sr_config_free(cfg);
    cfg = load_good(SR_C_SUBSCRIBE, "tls_lax");
    no_warnings(cfg);
    expect(cfg, SR_OPT_tlsRigour, "lax");
    expect(cfg, SR_OPT_reset, "on");
    expect(cfg, SR_OPT_queueDeclare, "off");
    expect(cfg, SR_OPT_queueBind, "off");
    expect(cfg, SR_OPT_exchangeDeclare, "on");
    sr_config_free(cfg);
}

static void sarra_pump_and_mesh(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SARRA, "from_peerA");
    no_warnings(cfg);
    expect(cfg, SR_OPT_post_broker, "mqtts://owner@localhost");
    expect(cfg, SR_OPT_post_exchange, "xpublic");
    expect(cfg, SR_OPT_post_baseUrl, "https://this-peer.example.com/data");
    expect(cfg, SR_OPT_nodupe_ttl, "3600");
    expect(cfg, SR_OPT_mirror, "on");
    expect(cfg, SR_OPT_download, "on");
    sr_err err;
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    sr_config_free(cfg);

    cfg = load_good(SR_C_SARRA, "pump_vhost");
    no_warnings(cfg);
    expect(cfg, SR_OPT_broker, "amqps://feeder@pump.example.com/ingest");
    expect(cfg, SR_OPT_post_exchangeSplit, "4");
    expect(cfg, SR_OPT_directory, "/srv/pump/data/${SOURCE}");
    expect(cfg, SR_OPT_to_clusters, "pump1,pump2");
    expect(cfg, SR_OPT_sourceFromExchange, "on");
    expect(cfg, SR_OPT_instances, "3");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SARRA, "mesh_md5");
    no_warnings(cfg);
    expect(cfg, SR_OPT_identity, "md5");
    expect(cfg, SR_OPT_nodupe_basis, "data");
    expect(cfg, SR_OPT_nodupe_ttl, "300"); /* "on" means sr3's 300 s */
    sr_config_free(cfg);
}

static void sender_recipes(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SENDER, "tocluster");
    no_warnings(cfg);
    expect(cfg, SR_OPT_exchange, "xs_bob_hot");
    expect(cfg, SR_OPT_sendTo, "sftp://bob@cluster.example.com/");
    expect(cfg, SR_OPT_strip, ".*/hot/");
    expect(cfg, SR_OPT_inflight, ".tmp");
    expect(cfg, SR_OPT_instances, "4");
    assert_string_equal(sr_config_mask(cfg, 0)->strip, ".*/hot/");
    assert_string_equal(sr_config_mask(cfg, 0)->directory, "/scratch/bob/incoming");
    /* sr3's recipe reads / + relPath: sr refuses to run a sender without baseDir, and
     * says what to write (sr-security(7)) */
    sr_err err;
    assert_int_equal(sr_config_check(cfg, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "baseDir"));
    sr_config_free(cfg);

    cfg = load_good(SR_C_SENDER, "file_copy");
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    sr_config_free(cfg);

    cfg = load_good(SR_C_SENDER, "ftps_push");
    no_warnings(cfg);
    expect(cfg, SR_OPT_permDefault, "0644");
    expect(cfg, SR_OPT_permDirDefault, "0755");
    expect(cfg, SR_OPT_byteRateMax, "10000000");
    expect(cfg, SR_OPT_inflight, "tmp/");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SENDER, "file_copy");
    no_warnings(cfg);
    expect(cfg, SR_OPT_sendTo, "file:/mnt/archive");
    expect(cfg, SR_OPT_baseDir, "/srv/outgoing");
    expect(cfg, SR_OPT_delete, "on");
    expect(cfg, SR_OPT_timeCopy, "off");
    expect(cfg, SR_OPT_directory, "/mnt/archive/${YYYY}/${MM}");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SENDER, "repost");
    no_warnings(cfg);
    expect(cfg, SR_OPT_post_exchange, "xs_bob_arrivals");
    expect(cfg, SR_OPT_post_baseDir, "/scratch/bob/incoming");
    sr_config_free(cfg);
}

static void shovels(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SHOVEL, "amqp2mqtt");
    no_warnings(cfg);
    expect(cfg, SR_OPT_download, "off");
    expect(cfg, SR_OPT_nodupe_ttl, "0");
    expect(cfg, SR_OPT_post_broker, "mqtts://feeder@mqtt.example.com");
    expect(cfg, SR_OPT_post_format, "v03");
    expect(cfg, SR_OPT_instances, "2");
    sr_err err;
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    sr_config_free(cfg);

    cfg = load_good(SR_C_SHOVEL, "v02_to_v03");
    no_warnings(cfg);
    assert_int_equal(sr_config_subtopic_count(cfg), 2);
    assert_string_equal(sr_config_subtopic(cfg, 0)->exchange, "xs_radar");
    assert_string_equal(sr_config_subtopic(cfg, 1)->exchange, "xs_sat");
    assert_string_equal(sr_config_subtopic(cfg, 1)->topic_prefix, "v02.post");
    expect(cfg, SR_OPT_post_topicPrefix, "v03");
    expect(cfg, SR_OPT_post_format, "v03");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SHOVEL, "mqtt2amqp");
    no_warnings(cfg);
    expect(cfg, SR_OPT_topicCopy, "on");
    assert_int_equal(sr_config_headers(cfg)->count, 2);
    assert_string_equal(sr_config_headers(cfg)->items[0], "origin=mqtt-bridge");
    assert_string_equal(sr_config_headers(cfg)->items[1], "priority=2");
    sr_config_free(cfg);

    cfg = load_good(SR_C_SHOVEL, "split");
    no_warnings(cfg);
    expect(cfg, SR_OPT_exchangeSplit, "2");
    expect(cfg, SR_OPT_messageRateMax, "100.5");
    expect(cfg, SR_OPT_vip, "192.0.2.10 192.0.2.11");
    assert_int_equal(sr_config_list(cfg, SR_OPT_vip)->count, 2);
    sr_config_free(cfg);
}

static void winnows(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_WINNOW, "ha_pair");
    no_warnings(cfg);
    /* sr3 documents 300 s for winnow but never applies it; sr does */
    expect(cfg, SR_OPT_nodupe_ttl, "300");
    expect_origin(cfg, SR_OPT_nodupe_ttl, "conf.d/winnow.conf:6");
    expect(cfg, SR_OPT_logDuplicates, "on");
    assert_int_equal(sr_config_subtopic_count(cfg), 2);
    assert_string_equal(sr_config_subtopic(cfg, 0)->exchange, "xs_watch_a");
    assert_string_equal(sr_config_subtopic(cfg, 1)->exchange, "xs_watch_b");
    sr_config_free(cfg);

    cfg = load_good(SR_C_WINNOW, "by_name");
    no_warnings(cfg);
    expect(cfg, SR_OPT_nodupe_basis, "name");
    expect(cfg, SR_OPT_nodupe_ttl, "3600");
    expect(cfg, SR_OPT_logDuplicates, "off");
    expect(cfg, SR_OPT_post_exchange, "xs_feeder");
    sr_config_free(cfg);
}

static void watches_and_posts(void **state)
{
    (void)state;
    sr_err err;
    sr_config *cfg = load_good(SR_C_WATCH, "hot");
    no_warnings(cfg);
    expect(cfg, SR_OPT_post_exchange, "xs_bob_hot");
    expect(cfg, SR_OPT_path, "/home/bob/hot");
    expect(cfg, SR_OPT_post_baseUrl, "file:");
    expect(cfg, SR_OPT_fileAgeMin, "2");
    expect(cfg, SR_OPT_sleep, "5");
    expect(cfg, SR_OPT_blockSize, "1");
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    assert_int_equal(sr_config_subtopic_count(cfg), 0); /* a watch binds nothing */
    sr_config_free(cfg);

    cfg = load_good(SR_C_WATCH, "polling");
    no_warnings(cfg);
    expect(cfg, SR_OPT_force_polling, "on");
    expect(cfg, SR_OPT_sleep, "30");
    expect(cfg, SR_OPT_fileEvents, "create,modify");
    expect(cfg, SR_OPT_follow_symlinks, "on");
    expect(cfg, SR_OPT_post_on_start, "on");
    assert_int_equal(sr_config_list(cfg, SR_OPT_path)->count, 2);
    assert_string_equal(sr_config_list(cfg, SR_OPT_path)->items[1], "/nfs/exports/b");
    sr_config_free(cfg);

    cfg = load_good(SR_C_WATCH, "tree_blocks");
    no_warnings(cfg);
    expect(cfg, SR_OPT_blockSize, "104857600");
    expect(cfg, SR_OPT_identity, "cod,sha512");
    expect(cfg, SR_OPT_inflight, "10");
    sr_config_free(cfg);

    cfg = load_good(SR_C_POST, "once");
    no_warnings(cfg);
    expect(cfg, SR_OPT_identity, "cod,md5");
    expect(cfg, SR_OPT_sleep, "-1");
    expect(cfg, SR_OPT_realpathPost, "off");
    expect(cfg, SR_OPT_post_exchange, "xs_bob_batch");
    assert_int_equal(sr_config_check(cfg, &err), SR_OK);
    sr_config_free(cfg);

    cfg = load_good(SR_C_POST, "inline_small");
    no_warnings(cfg);
    expect(cfg, SR_OPT_inlineOnly, "on");
    expect(cfg, SR_OPT_inlineEncoding, "text");
    expect(cfg, SR_OPT_post_messageAgeMax, "600");
    expect(cfg, SR_OPT_post_exchange, "xs_bob");
    sr_config_free(cfg);
}

static void expect_lines(const sr_strlist *got, const char *file, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < got->count; i++) {
        char line[1024];
        snprintf(line, sizeof line, want[i], file);
        assert_string_equal(got->items[i], line);
    }
    assert_int_equal(got->count, n);
}

/* Each line without an effect says so with its file:line: refused (the config cannot be
 * checked OK), a warning (sr3 ignores it too), or a note (sr does it built in). */
static void lines_without_effect_name_file_and_line(void **state)
{
    (void)state;
    sr_config *cfg = load_good(SR_C_SENDER, "warnings");
    char file[4096];
    snprintf(file, sizeof file, "%s", test_data("config/good/sender/warnings.conf"));
    const char *refused[] = {
        "%s:4: unknown option \"postbroker\" (did you mean \"post_broker\"?)",
        "%s:5: callback log.fancy: no sr plugin named log.fancy is loaded (sr-plugin(7): where "
        "sr looks for plugins, and the ones it has built in)",
        "%s:7: set sarracenia.flowcb.log.Log.logLevel debug: a setting of one sr3 Python class; "
        "sr has no such classes (write the option itself, e.g. logLevel debug, for every part "
        "of the flow)",
        "%s:8: unknown option \"frobnicate\"",
        "%s:13: option \"randomize\" is not supported by sr: an sr3 test aid (a random checksum "
        "method per file, blocks sent in random order) sr does not have",
        "%s:16: callback send.email: no sr plugin named send.email is loaded (sr-plugin(7): "
        "where sr looks for plugins, and the ones it has built in)",
    };
    expect_lines(sr_config_refused(cfg), file, refused, sizeof refused / sizeof refused[0]);
    const char *warnings[] = {
        "%s:6: option \"path\" has no effect in a sender config (only in: post, watch, poll)",
        "%s:9: ${UNDEFINED_THING} is not defined (not an option, not declared with declare env, "
        "not in the environment); left as written",
        "%s:11: option \"xattr_disable\" has no effect, in sr3 either: an sr v2 option sr3 drops",
        "%s:14: on_message msg_total: a v2 plugin sr3 drops; ignored",
    };
    expect_lines(sr_config_warnings(cfg), file, warnings, sizeof warnings / sizeof warnings[0]);
    const char *notes[] = {
        "%s:10: callback sarracenia.flowcb.log.Log: built into sr (sr logs the events logEvents "
        "names)",
        "%s:12: option \"randomize off\": sr does not do randomize at all",
        "%s:15: on_post post_log.py: read as \"logEvents +after_work\", as sr3 converts it",
        "%s:16: do_send file_email: read as \"callback send.email\", as sr3 converts it",
    };
    expect_lines(sr_config_notes(cfg), file, notes, sizeof notes / sizeof notes[0]);
    assert_int_equal(sr_config_settings(cfg)->count, 1);
    assert_string_equal(sr_config_settings(cfg)->items[0],
                        "sarracenia.flowcb.log.Log.logLevel debug");
    /* refused lines make the check fail, naming the first and counting the others */
    sr_err err;
    assert_int_equal(sr_config_check(cfg, &err), SR_EINVAL);
    char want[1024];
    snprintf(want, sizeof want,
             "%s:4: unknown option \"postbroker\" (did you mean \"post_broker\"?) (and 5 more "
             "refused line(s): sr_sender check %s lists them)",
             file, file);
    assert_string_equal(err.msg, want);
    sr_config_free(cfg);
}

/* ---- the value grammar, as sr3's parser reads it ---- */

/* Load a config of component c written from text (lines separated by \n); the test fails
 * with the loader's message when it does not load. */
static int load_text_rc(enum sr_component c, const char *text, sr_config **cfg, sr_err *err)
{
    char dir[4096];
    test_tmp_template(dir, sizeof dir, "sr-test-config");
    assert_non_null(mkdtemp(dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/t.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    sr_config_request req = {c, path, NULL, confd(), NULL, 0};
    int rc = sr_config_load(&req, cfg, err);
    unlink(path);
    rmdir(dir);
    return rc;
}

static sr_config *load_text(enum sr_component c, const char *text)
{
    sr_config *cfg = NULL;
    sr_err err;
    if (load_text_rc(c, text, &cfg, &err) != SR_OK)
        fail_msg("%s", err.msg);
    return cfg;
}

static void set_options_follow_sr3s_grammar(void **state)
{
    (void)state;
    static const struct {
        const char *lines, *want;
    } cases[] = {
        /* a leading - removes the whole list that follows (the hot-directory guide) */
        {"fileEvents -delete,rmdir\n", "create,link,modify,mkdir"},
        {"fileEvents -delete|rmdir\n", "create,link,modify,mkdir"},
        /* a leading + adds the whole list */
        {"fileEvents None\nfileEvents +create,mkdir\n", "create,mkdir"},
        {"fileEvents create\nfileEvents +delete|link\n", "create,delete,link"},
        /* a plain list replaces */
        {"fileEvents delete,rmdir\n", "delete,rmdir"},
        {"fileEvents modify\n", "modify"},
        /* None empties, all is every choice */
        {"fileEvents None\n", ""},
        {"fileEvents none\n", ""},
        {"fileEvents None\nfileEvents all\n", "create,delete,link,modify,mkdir,rmdir"},
        {"fileEvents modify\nfileEvents +all\n", "create,delete,link,modify,mkdir,rmdir"},
        {"logEvents -after_work,after_post\n", "after_accept,on_housekeeping"},
        {"fileEvents -all\n", ""}, /* sr3 leaves the set as it was */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_config *cfg = load_text(SR_C_WATCH, cases[i].lines);
        enum sr_option_id id =
            strncmp(cases[i].lines, "log", 3) == 0 ? SR_OPT_logEvents : SR_OPT_fileEvents;
        char *got = sr_show_value(cfg, id);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("\"%s\" gives \"%s\", expected \"%s\"", cases[i].lines, got, cases[i].want);
        free(got);
        sr_config_free(cfg);
    }
    sr_config *cfg = load_text(SR_C_WATCH, "fileEvents -delete,rmdir\n");
    assert_false(sr_config_has(cfg, SR_OPT_fileEvents, "rmdir"));
    assert_false(sr_config_has(cfg, SR_OPT_fileEvents, "delete"));
    assert_true(sr_config_has(cfg, SR_OPT_fileEvents, "create"));
    sr_config_free(cfg);
}

static void lists_append_and_none_empties(void **state)
{
    (void)state;
    sr_config *cfg = load_text(SR_C_WATCH, "path /a\np /b c\nvip 10.0.0.1\nvip 10.0.0.2\n");
    const sr_strlist *p = sr_config_list(cfg, SR_OPT_path);
    assert_int_equal(p->count, 2);
    assert_string_equal(p->items[0], "/a");
    assert_string_equal(p->items[1], "/b c"); /* the rest of the line, as sr3 */
    assert_int_equal(sr_config_list(cfg, SR_OPT_vip)->count, 2);
    sr_config_free(cfg);
    cfg = load_text(SR_C_WATCH, "path /a\npath None\npath /c\n");
    p = sr_config_list(cfg, SR_OPT_path);
    assert_int_equal(p->count, 1);
    assert_string_equal(p->items[0], "/c");
    sr_config_free(cfg);
}

static void log_levels_as_python_names_them(void **state)
{
    (void)state;
    static const struct {
        const char *given, *shown;
    } cases[] = {
        {"debug", "debug"},    {"DEBUG", "debug"},  {"info", "info"},   {"warning", "warning"},
        {"warn", "warning"},   {"WARN", "warning"}, {"error", "error"}, {"critical", "critical"},
        {"fatal", "critical"}, {"notset", "debug"}, {"none", "none"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "logLevel %s\n", cases[i].given);
        sr_config *cfg = load_text(SR_C_WATCH, text);
        expect(cfg, SR_OPT_logLevel, cases[i].shown);
        sr_config_free(cfg);
    }
}

/* hostname sets what ${HOSTNAME} stands for in the lines after it, as in sr3. */
static void hostname_and_metrics_interval(void **state)
{
    (void)state;
    sr_config *cfg = load_text(SR_C_WATCH, "directory /a/${HOSTNAME}\nhostname relay1.example.com\n"
                                           "post_baseDir /data/${HOSTNAME}\n");
    assert_string_equal(sr_config_str(cfg, SR_OPT_post_baseDir), "/data/relay1.example.com");
    assert_null(strstr(sr_config_str(cfg, SR_OPT_directory), "relay1"));
    expect(cfg, SR_OPT_metrics_writeInterval, "5");
    sr_config_free(cfg);
    cfg = load_text(SR_C_WATCH, "metrics_writeInterval 1m\n");
    assert_true(sr_config_seconds(cfg, SR_OPT_metrics_writeInterval) == 60);
    sr_config_free(cfg);
}

/* An sr3 option sr does not do is refused unless its value asks for nothing (off, 0, None);
 * a line sr3 ignores only warns; check passes only without refused lines. */
static void refused_and_ignored_lines(void **state)
{
    (void)state;
    const char *base = "post_broker amqp://bob@localhost/\npost_baseUrl file:/\npath /tmp\n";
    char text[512];
    static const struct {
        const char *line;
        size_t refused, warned;
    } cases[] = {
        {"amqp_consumer on\n", 1, 0},
        {"amqp_consumer off\n", 0, 0},
        {"amqp_consumer\n", 1, 0},
        {"accelThreshold 1M\n", 0, 1},
        {"logFormat None\n", 0, 0},
        {"runStateThreshold_cpuSlow 5\n", 1, 0},
        {"frobnicate 1\n", 1, 0},
        {"set a.b.c 1\n", 1, 0},
        {"callback log\n", 0, 0},
        {"flowcb sarracenia.flowcb.post.message.Message\n", 0, 0},
        {"callback accept.pathreplace\n", 1, 0},
        {"timezone EST\n", 0, 1},
        {"save\n", 0, 1},
        {"nodupe_driver disk\n", 0, 0},
        {"on_message msg_log\n", 0, 0},
        {"plugin accel_wget\n", 0, 1},
        {"on_file file_age\n", 1, 0},
        {"cb name\n", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "%s%s", base, cases[i].line);
        sr_config *cfg = load_text(SR_C_WATCH, text);
        if (sr_config_refused(cfg)->count != cases[i].refused ||
            sr_config_warnings(cfg)->count != cases[i].warned)
            fail_msg("\"%s\": %zu refused, %zu warned; expected %zu, %zu", cases[i].line,
                     sr_config_refused(cfg)->count, sr_config_warnings(cfg)->count,
                     cases[i].refused, cases[i].warned);
        sr_err err;
        assert_int_equal(sr_config_check(cfg, &err), cases[i].refused ? SR_EINVAL : SR_OK);
        sr_config_free(cfg);
    }
    /* nodupe_driver redis is refused with the choices sr has */
    sr_config *cfg = NULL;
    sr_err err;
    assert_int_equal(load_text_rc(SR_C_WATCH, "nodupe_driver redis\n", &cfg, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "nodupe_driver: \"redis\" is not one of disk"));
    /* on_message msg_log adds after_accept to logEvents, as sr3 converts it */
    cfg = load_text(SR_C_WATCH, "logEvents None\non_message msg_log\n");
    expect(cfg, SR_OPT_logEvents, "after_accept");
    sr_config_free(cfg);
    cfg = load_text(SR_C_WATCH, "cb name\n");
    expect(cfg, SR_OPT_nodupe_basis, "name");
    sr_config_free(cfg);
    /* sr3 reads `declare subscribe` as `declare subscriber` */
    cfg = load_text(SR_C_WATCH, "declare subscribe anne\n");
    assert_int_equal(sr_config_declared(cfg)->count, 1);
    assert_string_equal(sr_config_declared(cfg)->items[0], "subscriber anne");
    sr_config_free(cfg);
}

/* ---- layers: conf.d, admin.conf, default.conf, the config, the command line ---- */

static void layers_in_order(void **state)
{
    (void)state;
    sr_override ov[] = {{"batch", "99"}, {"logLevel", "error"}, {"mirror", ""}};
    sr_config *cfg = NULL;
    sr_err err;
    assert_int_equal(load_in("config/layers", SR_C_SUBSCRIBE, "layered", ov, 3, &cfg, &err), SR_OK);
    no_warnings(cfg);
    expect(cfg, SR_OPT_admin, "amqps://bunnymaster@pump.example.com/");
    expect(cfg, SR_OPT_batch, "99");
    expect_origin(cfg, SR_OPT_batch, "command line");
    expect(cfg, SR_OPT_logLevel, "error");
    expect(cfg, SR_OPT_mirror, "on");
    expect(cfg, SR_OPT_housekeeping, "600");
    expect_origin(cfg, SR_OPT_housekeeping, "layers/shared.inc:2");
    expect_origin(cfg, SR_OPT_prefetch, "default"); /* the option table's */
    expect_origin(cfg, SR_OPT_exchange, "derived");
    expect_origin(cfg, SR_OPT_post_broker, "unset");
    assert_int_equal(sr_config_declared(cfg)->count, 2);
    assert_string_equal(sr_config_declared(cfg)->items[0], "source alice");
    sr_config_free(cfg);

    /* without overrides, the config beats default.conf, which beats admin.conf */
    assert_int_equal(load_in("config/layers", SR_C_SUBSCRIBE, "layered", NULL, 0, &cfg, &err),
                     SR_OK);
    expect(cfg, SR_OPT_batch, "75");
    expect_origin(cfg, SR_OPT_batch, "layers/default.conf:2");
    expect(cfg, SR_OPT_logLevel, "info");
    expect_origin(cfg, SR_OPT_logLevel, "layers/subscribe/layered.conf:2");
    sr_config_free(cfg);
}

static void command_line_arguments(void **state)
{
    (void)state;
    char *argv[] = {
        "--broker", "amqp://bob@localhost/", "show", "--mirror", "--debug", "--no",
        "3",        "--logReject",           "off",  "--json",   "hot",     "--timeout=5m"};
    sr_override *ov;
    size_t nov, npos;
    char **pos;
    sr_err err;
    assert_int_equal(sr_config_parse_args(12, argv, &ov, &nov, &pos, &npos, &err), SR_OK);
    assert_int_equal(nov, 6);
    assert_string_equal(ov[0].name, "broker");
    assert_string_equal(ov[0].value, "amqp://bob@localhost/");
    assert_string_equal(ov[1].name, "mirror");
    assert_string_equal(ov[1].value, "");
    assert_string_equal(ov[2].name, "debug");
    assert_string_equal(ov[3].name, "no");
    assert_string_equal(ov[3].value, "3");
    assert_string_equal(ov[4].value, "off");
    assert_string_equal(ov[5].name, "timeout");
    assert_string_equal(ov[5].value, "5m");
    assert_int_equal(npos, 3);
    assert_string_equal(pos[0], "show");
    assert_string_equal(pos[1], "--json");
    assert_string_equal(pos[2], "hot");
    sr_config *cfg = NULL;
    sr_config_request req = {SR_C_SUBSCRIBE, NULL, NULL, confd(), ov, nov};
    assert_int_equal(sr_config_load(&req, &cfg, &err), SR_OK);
    expect(cfg, SR_OPT_logLevel, "debug");
    expect(cfg, SR_OPT_no, "3");
    expect(cfg, SR_OPT_timeout, "300");
    expect(cfg, SR_OPT_exchange, "xs_bob");
    sr_config_free(cfg);
    sr_overrides_free(ov, nov, pos);

    char *missing[] = {"--broker"};
    assert_int_equal(sr_config_parse_args(1, missing, &ov, &nov, &pos, &npos, &err), SR_EINVAL);
    assert_string_equal(err.msg, "command line: --broker needs a value");

    sr_override bad[] = {{"batch", "many"}};
    sr_config_request req2 = {SR_C_SUBSCRIBE, NULL, NULL, confd(), bad, 1};
    assert_int_equal(sr_config_load(&req2, &cfg, &err), SR_EINVAL);
    assert_null(cfg);
    assert_string_equal(err.msg, "command line: batch: \"many\" is not a count (a whole number, "
                                 "optionally with k, m, g, t; ki or kb for 1024)");
}

/* ---- malformed configs: the exact error ---- */

static void malformed(void **state)
{
    (void)state;
    static const struct {
        enum sr_component c;
        const char *name;
        const char *where; /* file:line relative to config/bad, or "" for a whole-file error */
        const char *msg;
    } cases[] = {
        {SR_C_SUBSCRIBE, "bad_flag", "subscribe/bad_flag.conf:2",
         "mirror: \"onn\" is not a flag (use on/off, true/false, yes/no, 1/0)"},
        {SR_C_SUBSCRIBE, "bad_duration", "subscribe/bad_duration.conf:3",
         "expire: \"5x\" is not a duration (seconds, or with units s m h d w, e.g. 90, 1.5h, "
         "1h30m)"},
        {SR_C_SUBSCRIBE, "bad_size", "subscribe/bad_size.conf:1",
         "blockSize: \"10q\" is not a size (a whole number, optionally with k, m, g, t; ki or kb "
         "for 1024)"},
        {SR_C_SUBSCRIBE, "bad_octal", "subscribe/bad_octal.conf:2",
         "chmod: \"999\" is not an octal mode (e.g. 644, 0755)"},
        {SR_C_SUBSCRIBE, "bad_enum", "subscribe/bad_enum.conf:1",
         "logLevel: \"loud\" is not one of debug, info, warning, error, critical, none"},
        {SR_C_SUBSCRIBE, "bad_set", "subscribe/bad_set.conf:1",
         "fileEvents: \"crate\" is not one of create, delete, link, modify, mkdir, rmdir (or all, "
         "None; +a,b adds, -a,b removes)"},
        {SR_C_SUBSCRIBE, "bad_regex", "subscribe/bad_regex.conf:1",
         "accept: bad regex \".*\\.(grib2$\": missing closing parenthesis at offset 11"},
        {SR_C_SUBSCRIBE, "bad_header", "subscribe/bad_header.conf:1",
         "header: expected NAME=VALUE, got \"nonsense\""},
        {SR_C_SUBSCRIBE, "bad_declare", "subscribe/bad_declare.conf:1",
         "declare: \"thing\" is not env, source, subscriber or exchange"},
        {SR_C_SUBSCRIBE, "bad_declare_env", "subscribe/bad_declare_env.conf:1",
         "declare env: expected NAME=VALUE, got \"=x\""},
        {SR_C_SUBSCRIBE, "bad_identity", "subscribe/bad_identity.conf:1",
         "identity \"sha1\": unknown method (sha512, md5, sha256, sha384, sha3-256, sha3-384, "
         "sha3-512, cod,sha512, cod,md5, random, arbitrary,VALUE, md5name, none)"},
        {SR_C_SUBSCRIBE, "bad_strip", "subscribe/bad_strip.conf:1",
         "strip: bad regex \"[unclosed\": missing terminating ] for character class at offset 9"},
        {SR_C_SUBSCRIBE, "bad_subst", "subscribe/bad_subst.conf:1",
         "\"${\" without a closing \"}\" in \"/data/${HOSTNAME\""},
        {SR_C_SUBSCRIBE, "bad_count", "subscribe/bad_count.conf:1",
         "batch: \"lots\" is not a count (a whole number, optionally with k, m, g, t; ki or kb for "
         "1024)"},
        {SR_C_SUBSCRIBE, "bad_float", "subscribe/bad_float.conf:1",
         "messageRateMax: \"fast\" is not a number"},
        {SR_C_SUBSCRIBE, "missing_value", "subscribe/missing_value.conf:1",
         "sleep: a duration is needed"},
        {SR_C_SUBSCRIBE, "empty_accept", "subscribe/empty_accept.conf:1",
         "accept: a regular expression is needed"},
        {SR_C_SUBSCRIBE, "bad_set_line", "subscribe/bad_set_line.conf:1",
         "set: expected CLASS.SETTING VALUE, got \"onlyone\""},
        {SR_C_SUBSCRIBE, "bad_on_duration", "subscribe/bad_on_duration.conf:2",
         "expire: \"on\" is not a duration here; give a time (e.g. 300, 5m, 1h30m)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_config *cfg = (sr_config *)1;
        sr_err err = {0};
        int rc = load_in("config/bad", cases[i].c, cases[i].name, NULL, 0, &cfg, &err);
        char want[8192];
        snprintf(want, sizeof want, "%s/%s: %s", test_data("config/bad"), cases[i].where,
                 cases[i].msg);
        if (rc != SR_EINVAL || strcmp(err.msg, want) != 0)
            fail_msg("%s: rc %d\n got: %s\nwant: %s", cases[i].name, rc, err.msg, want);
        assert_null(cfg);
    }
}

static void malformed_urls_and_includes(void **state)
{
    (void)state;
    sr_config *cfg;
    sr_err err;
    char want[8192];
    const char *bad = test_data("config/bad");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", bad);

    assert_int_equal(load_in("config/bad", SR_C_SUBSCRIBE, "bad_url", NULL, 0, &cfg, &err),
                     SR_EINVAL);
    snprintf(want, sizeof want, "%s/subscribe/bad_url.conf:1: broker: ", dir);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_non_null(strstr(err.msg, "99999"));

    assert_int_equal(load_in("config/bad", SR_C_SUBSCRIBE, "include_missing", NULL, 0, &cfg, &err),
                     SR_EINVAL);
    snprintf(want, sizeof want,
             "%s/subscribe/include_missing.conf:2: include: cannot find \"nothere.inc\" (looked "
             "for %s/subscribe/nothere.inc, %s/nothere.inc)",
             dir, dir, dir);
    assert_string_equal(err.msg, want);

    assert_int_equal(load_in("config/bad", SR_C_SUBSCRIBE, "include_loop", NULL, 0, &cfg, &err),
                     SR_EINVAL);
    char real[4096];
    snprintf(want, sizeof want, "%s/subscribe/loop_a.inc", dir);
    assert_non_null(realpath(want, real));
    snprintf(want, sizeof want, "%s/subscribe/loop_b.inc:2: include loop: %s is already being read",
             dir, real);
    assert_string_equal(err.msg, want);

    assert_int_equal(load_in("config/bad", SR_C_SUBSCRIBE, "does_not_exist", NULL, 0, &cfg, &err),
                     SR_ENOENT);
    snprintf(want, sizeof want,
             "no configuration subscribe/does_not_exist: %s/subscribe/does_not_exist.conf does not "
             "exist",
             dir);
    assert_string_equal(err.msg, want);
}

static void check_what_components_need(void **state)
{
    (void)state;
    const struct {
        enum sr_component c;
        const char *name, *msg;
    } cases[] = {
        {SR_C_SENDER, "no_sendto",
         "sender/no_sendto.conf: a sender needs sendTo, the server to send to (e.g. sendTo "
         "sftp://user@host/)"},
        {SR_C_WATCH, "no_path",
         "watch/no_path.conf: a watch needs a path, the directory to watch (e.g. path "
         "/home/me/hot)"},
        {SR_C_SUBSCRIBE, "no_broker",
         "subscribe/no_broker.conf: a subscribe needs a broker to consume from (e.g. broker "
         "amqps://user@host/)"},
        {SR_C_POLL, "no_pollurl",
         "poll/no_pollurl.conf: a poll needs pollUrl, the server to list (e.g. pollUrl "
         "sftp://user@host/)"},
        /* what the poll could not run with is refused by check, naming the line */
        {SR_C_POLL, "bad_hour",
         "poll/bad_hour.conf:4: scheduled_hour \"25\": not an hour (0 to 23, UTC)"},
        {SR_C_POLL, "bad_timezone",
         "poll/bad_timezone.conf:4: timezone Mars/Olympus: not a zone of the tz database (UTC, "
         "EST, America/Montreal...)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_config *cfg;
        sr_err err;
        assert_int_equal(load_in("config/bad", cases[i].c, cases[i].name, NULL, 0, &cfg, &err),
                         SR_OK);
        assert_int_equal(sr_config_check(cfg, &err), SR_EINVAL);
        char want[8192];
        snprintf(want, sizeof want, "%s/%s", test_data("config/bad"), cases[i].msg);
        assert_string_equal(err.msg, want);
        sr_config_free(cfg);
    }
}

static void missing_confd_is_an_error(void **state)
{
    (void)state;
    sr_config *cfg;
    sr_err err;
    sr_config_request req = {SR_C_SUBSCRIBE, NULL, NULL, "/nonexistent/conf.d", NULL, 0};
    assert_int_equal(sr_config_load(&req, &cfg, &err), SR_ENOENT);
    assert_string_equal(err.msg,
                        "the shipped defaults are missing (is SR_CONFD right?): cannot "
                        "read /nonexistent/conf.d/subscribe.conf: No such file or directory");
}

/* Every good config loads and shows, as text and JSON, without a password in sight. */
static void every_good_config_shows(void **state)
{
    (void)state;
    static const struct {
        enum sr_component c;
        const char *names[16];
    } all[] = {
        {SR_C_SUBSCRIBE,
         {"hpfx_grib", "dd_swob", "mqtt_mesh", "notify_only", "inline", "vars", "v2_synonyms",
          "timing", "queue_share", "fileops", "logging", "trailing_comments", "tls_lax", NULL}},
        {SR_C_SARRA, {"from_peerA", "pump_vhost", "mesh_md5", NULL}},
        {SR_C_SENDER, {"tocluster", "ftps_push", "file_copy", "repost", "warnings", NULL}},
        {SR_C_SHOVEL, {"amqp2mqtt", "v02_to_v03", "mqtt2amqp", "split", NULL}},
        {SR_C_WINNOW, {"ha_pair", "by_name", NULL}},
        {SR_C_WATCH, {"hot", "polling", "tree_blocks", NULL}},
        {SR_C_POST, {"once", "inline_small", NULL}},
    };
    int count = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        for (size_t j = 0; all[i].names[j]; j++) {
            sr_config *cfg = load_good(all[i].c, all[i].names[j]);
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            sr_err err;
            assert_int_equal(sr_show_text(cfg, NULL, NULL, f, &err), SR_OK);
            assert_int_equal(sr_show_json(cfg, NULL, NULL, f, &err), SR_OK);
            fclose(f);
            assert_non_null(strstr(text, "acceptUnmatched"));
            free(text);
            sr_config_free(cfg);
            count++;
        }
    }
    assert_true(count >= 30);
}

static void passwords_are_redacted(void **state)
{
    (void)state;
    sr_override ov[] = {{"broker", "amqps://bob:S3cr3tPw@pump.example.com/"},
                        {"post_broker", "mqtts://bob:An0therPw@mqtt.example.com"},
                        {"directory", "/data/${broker}"}};
    sr_config *cfg;
    sr_err err;
    sr_config_request req = {SR_C_SHOVEL, NULL, NULL, confd(), ov, 3};
    assert_int_equal(sr_config_load(&req, &cfg, &err), SR_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(sr_show_text(cfg, NULL, NULL, f, &err), SR_OK);
    assert_int_equal(sr_show_json(cfg, NULL, NULL, f, &err), SR_OK);
    fclose(f);
    assert_null(strstr(text, "S3cr3tPw"));
    assert_null(strstr(text, "An0therPw"));
    assert_non_null(strstr(text, "amqps://bob:***@pump.example.com/"));
    free(text);
    /* ${broker} in a value gives the URL without its password */
    assert_string_equal(sr_config_str(cfg, SR_OPT_directory),
                        "/data/amqps://bob@pump.example.com/");
    /* the program itself still has the password */
    assert_string_equal(sr_config_str(cfg, SR_OPT_broker),
                        "amqps://bob:S3cr3tPw@pump.example.com/");
    sr_config_free(cfg);
}

static void long_lines_keep_every_word(void **state)
{
    (void)state;
    char dir[] = "/tmp/sr-test-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/many.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("path", f);
    for (int i = 0; i < 300; i++)
        fprintf(f, " /data/%03d", i);
    fputs("\npost_broker amqp://bob@localhost/\npost_baseUrl file:/", f); /* no final newline */
    fclose(f);
    sr_config *cfg;
    sr_err err;
    sr_config_request req = {SR_C_POST, path, NULL, confd(), NULL, 0};
    assert_int_equal(sr_config_load(&req, &cfg, &err), SR_OK);
    char *all = sr_show_value(cfg, SR_OPT_path);
    assert_int_equal(strlen(all), 300 * strlen("/data/000 ") - 1);
    assert_non_null(strstr(all, "/data/298 /data/299"));
    free(all);
    expect(cfg, SR_OPT_post_baseUrl, "file:/");
    sr_config_free(cfg);
    unlink(path);
    rmdir(dir);
}

/* What sr3 derives where the config is silent: post_baseDir from a file: or sftp:
 * post_baseUrl, else from baseDir; batch cut to messageCountMax; ${SOURCE} is the source
 * option once a line sets it. */
static void derived_as_sr3_derives(void **state)
{
    (void)state;
    static const struct {
        enum sr_component c;
        const char *lines;
        enum sr_option_id id;
        const char *want, *origin;
    } cases[] = {
        {SR_C_WATCH, "post_baseUrl file:/srv/out\n", SR_OPT_post_baseDir, "/srv/out", "derived"},
        {SR_C_WATCH, "post_baseUrl file:///srv/out\n", SR_OPT_post_baseDir, "/srv/out",
         "derived"},
        {SR_C_WATCH, "post_baseUrl sftp://bob@host/data/x\nbaseDir /other\n",
         SR_OPT_post_baseDir, "/data/x", "derived"},
        /* sftp with no path: empty in sr3, not baseDir */
        {SR_C_WATCH, "post_baseUrl sftp://bob@host\nbaseDir /other\n", SR_OPT_post_baseDir,
         "None", "unset"},
        {SR_C_SENDER, "post_baseUrl http://host/x\nbaseDir /srv/hot\n", SR_OPT_post_baseDir,
         "/srv/hot", "derived"},
        {SR_C_SENDER, "baseDir /srv/hot\npost_baseDir /mine\n", SR_OPT_post_baseDir, "/mine",
         NULL},
        {SR_C_SUBSCRIBE, "messageCountMax 10\n", SR_OPT_batch, "10", "derived"},
        {SR_C_SUBSCRIBE, "messageCountMax 100\n", SR_OPT_batch, "25", "default"},
        {SR_C_SARRA, "source PROVINCIAL\ndirectory /tmp/${SOURCE}/x\n", SR_OPT_directory,
         "/tmp/PROVINCIAL/x", NULL},
        /* before a source line: the message's source, filled per message */
        {SR_C_SARRA, "directory /tmp/${SOURCE}/x\nsource PROVINCIAL\n", SR_OPT_directory,
         "/tmp/${SOURCE}/x", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_config *cfg = load_text(cases[i].c, cases[i].lines);
        expect(cfg, cases[i].id, cases[i].want);
        if (cases[i].origin)
            expect_origin(cfg, cases[i].id, cases[i].origin);
        sr_config_free(cfg);
    }
}

/* Case i of a table: the config text, loaded for component, passes sr_config_check (want
 * NULL) or is refused at line with a message starting with want. */
static void expect_checked(size_t i, enum sr_component component, const char *text, int line,
                           const char *want)
{
    char dir[4096];
    test_tmp_template(dir, sizeof dir, "sr-test-config");
    assert_non_null(mkdtemp(dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/c.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    sr_config_request req = {component, path, NULL, confd(), NULL, 0};
    sr_config *cfg = NULL;
    sr_err err = {0};
    if (sr_config_load(&req, &cfg, &err) != SR_OK)
        fail_msg("case %zu: %s", i, err.msg);
    int rc = sr_config_check(cfg, &err);
    if (want == NULL) {
        if (rc != SR_OK)
            fail_msg("case %zu: %s", i, err.msg);
    } else {
        char prefix[4300];
        snprintf(prefix, sizeof prefix, "%s:%d: %s", path, line, want);
        assert_int_equal(rc, SR_EINVAL);
        if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
            fail_msg("case %zu: got \"%s\", want it to start \"%s\"", i, err.msg, prefix);
    }
    sr_config_free(cfg);
    unlink(path);
    rmdir(dir);
}

/* Queue options RabbitMQ would refuse at queue.declare (a 406 at start-up, after the
 * instances run) are refused by check, at the line that sets them (sr-config(5), Quorum
 * queues). want: NULL when the config passes; else the line number and a part of the
 * message after "file:line: ". */
static void quorum_queue_options_checked(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
        const char *want;
    } cases[] = {
        {"broker amqp://u@h/\nqueueType quorum\ndeliveryLimit 3\ndeadLetterExchange xs_u_dead\n"
         "deadLetterRoutingKey parked\nexpire 2h\nmessageAgeMax 1h\n",
         0, NULL},
        {"broker amqp://u@h/\nqueueType classic\ndeadLetterExchange xs_u_dead\n", 0, NULL},
        {"broker amqp://u@h/\n\nqueueType stream\n", 3,
         "queueType stream: refused: a stream keeps every message after it is acknowledged"},
        {"broker amqp://u@h/\nqueueType quorum\ndurable no\n", 3,
         "durable off: refused with queueType quorum ("},
        {"broker amqp://u@h/\nauto_delete on\nqueueType quorum\n", 2,
         "auto_delete on: refused with queueType quorum ("},
        {"broker amqp://u@h/\ndeliveryLimit 5\n", 2,
         "deliveryLimit: refused: only a quorum queue counts the deliveries of a message"},
        {"broker amqp://u@h/\nqueueType quorum\ndeliveryLimit 0\n", 3,
         "deliveryLimit 0: give 1 or more"},
        {"broker amqp://u@h/\nqueueType quorum\ndeadLetterRoutingKey k\n", 3,
         "deadLetterRoutingKey without deadLetterExchange"},
        {"broker mqtt://u@h/\nqueueType quorum\ndeadLetterExchange xs_u_dead\n", 3,
         "deadLetterExchange: refused: it is an argument of a RabbitMQ (AMQP) queue"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_checked(i, SR_C_SUBSCRIBE, cases[i].text, cases[i].line, cases[i].want);
}

/* post_format wis and the wis* options (sr-config(5), WIS2): what a WNM needs and what
 * the config fixes of its topic, refused by check at the line at fault, naming the
 * option; nothing asked of a config that does not post. */
static void wis2_options_checked(void **state)
{
    (void)state;
#define WIS_IN "broker mqtt://u@h/\nexchange origin\ntopicPrefix a/wis2\n"
#define WIS_OUT "post_broker mqtt://u@h/\npost_exchange cache\npost_topicPrefix a/wis2\n"
#define WIS_IDS "wisCentreId ca-x\nwisMetadataId urn:wmo:md:ca-x:synop\n"
    static const struct {
        enum sr_component component;
        const char *text;
        int line;
        const char *want;
    } cases[] = {
        {SR_C_SHOVEL, WIS_IN WIS_OUT "post_format wis\n" WIS_IDS, 0, NULL},
        {SR_C_SHOVEL,
         WIS_IN WIS_OUT "post_format wis\n" WIS_IDS
                        "wisGeometry {\"type\": \"Polygon\", \"coordinates\": [[[0, 0], [1, 0], "
                        "[1, 1], [0, 0]]]}\nwisDataId ca-x/${YYYYMMDD}/${filename}\n",
         0, NULL},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "post_format wis\n" WIS_IDS "wisGeometry null\n", 0, NULL},
        /* the AMQP way: the exchange is the channel */
        {SR_C_SHOVEL,
         WIS_IN "post_broker amqp://u@h/\npost_exchange origin\n"
                "post_topicPrefix a.wis2.ca-x.data.core\npost_format wis\n" WIS_IDS,
         0, NULL},
        /* a subscriber does not post: nothing needed */
        {SR_C_SUBSCRIBE, WIS_IN "post_format wis\n", 0, NULL},
        /* what announces its own files needs both; a relay neither */
        {SR_C_POST, WIS_OUT "post_format wis\nwisMetadataId urn:x\npost_baseUrl http://h/\n", 4,
         "post_format wis needs wisCentreId, the WIS2 centre id of this node"},
        {SR_C_POST, WIS_OUT "\npost_format wis\nwisCentreId ca-x\npost_baseUrl http://h/\n", 5,
         "post_format wis needs wisMetadataId, the metadata_id (WCMP2 record id)"},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "post_format wis\n", 0, NULL},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "wisCentreId CA\n", 7,
         "wisCentreId CA: not a WIS2 centre id (tld-name"},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "wisCentreId caeccc\n", 7,
         "wisCentreId caeccc: not a WIS2 centre id"},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "wisGeometry {\"type\": \"Point\", \"coordinates\": [1]}\n", 7,
         "wisGeometry: a Point's coordinates must be a position"},
        {SR_C_SHOVEL,
         WIS_IN WIS_OUT
         "wisGeometry {\"type\": \"Polygon\", \"coordinates\": [[[0, 0], [1, 1]]]}\n",
         7, "wisGeometry: a Polygon's coordinates must be an array of rings"},
        {SR_C_SHOVEL,
         WIS_IN WIS_OUT
         "wisGeometry {\"type\": \"LineString\", \"coordinates\": [[0, 0], [1, 1]]}\n",
         7, "wisGeometry: type LineString: a WIS2 notification's geometry is a Point"},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "wisGeometry [1, 2\n", 7, "wisGeometry: not JSON"},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "wisGeometry \"Point\"\n", 7,
         "wisGeometry: not a GeoJSON geometry"},
        {SR_C_SHOVEL,
         WIS_IN "post_broker mqtt://u@h/\npost_exchange cache\npost_topicPrefix a/wis3\n"
                "post_format wis\n" WIS_IDS,
         6,
         "post_topicPrefix a/wis3 with post_format wis: topic cache/a/wis3: level 3 (system) "
         "\"wis3\" is not \"wis2\""},
        {SR_C_SHOVEL,
         WIS_IN "post_broker mqtt://u@h/\npost_exchange xpublic\npost_topicPrefix a/wis2\n"
                "post_format wis\n" WIS_IDS,
         5,
         "post_exchange xpublic with post_format wis: topic xpublic: level 1 (channel) "
         "\"xpublic\" is not one of origin, cache"},
        /* derived values: the post_format line, naming the option */
        {SR_C_SHOVEL, "broker mqtt://u@h/\npost_broker mqtt://bob@h/\npost_format wis\n" WIS_IDS, 3,
         "post_exchange xs_bob with post_format wis: topic xs_bob: level 1 (channel)"},
        {SR_C_SHOVEL,
         "broker mqtt://u@h/\npost_broker mqtt://u@h/\npost_exchange origin\npost_format "
         "wis\n" WIS_IDS,
         4,
         "post_topicPrefix v03 with post_format wis: topic origin/v03: level 2 (version) \"v03\" "
         "is not \"a\""},
        {SR_C_SHOVEL,
         WIS_IN "post_broker mqtt://u@h/\npost_exchange origin\npost_topicPrefix "
                "a/wis2/ca-y\npost_format wis\n" WIS_IDS,
         6,
         "post_topicPrefix a/wis2/ca-y with post_format wis: topic origin/a/wis2/ca-y: level 4 "
         "(centre-id) \"ca-y\" is not this node's wisCentreId ca-x"},
        {SR_C_SHOVEL, WIS_IN WIS_OUT "post_exchangeSplit 2\npost_format wis\n" WIS_IDS, 7,
         "post_exchangeSplit 2: refused with post_format wis"},
        {SR_C_SHOVEL,
         WIS_IN WIS_OUT
         "post_topic origin/a/wis2/ca-x/data/core/weather\npost_format wis\n" WIS_IDS,
         0, NULL},
        {SR_C_SHOVEL,
         WIS_IN WIS_OUT "post_topic origin/a/wis2/ca-x/data\npost_format wis\n" WIS_IDS, 7,
         "post_topic origin/a/wis2/ca-x/data with post_format wis: topic "
         "origin/a/wis2/ca-x/data: level 6 (data-policy) missing"},
    };
#undef WIS_IN
#undef WIS_OUT
#undef WIS_IDS
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_checked(i, cases[i].component, cases[i].text, cases[i].line, cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subscribe_hpfx),
        cmocka_unit_test(subscribe_masks_capture_placement),
        cmocka_unit_test(subscribe_mqtt_and_durations),
        cmocka_unit_test(subscribe_aliases_and_v2),
        cmocka_unit_test(subscribe_sets_and_inline),
        cmocka_unit_test(subscribe_variables_and_include),
        cmocka_unit_test(subscribe_trailing_comments),
        cmocka_unit_test(subscribe_queue_and_tls),
        cmocka_unit_test(sarra_pump_and_mesh),
        cmocka_unit_test(sender_recipes),
        cmocka_unit_test(shovels),
        cmocka_unit_test(winnows),
        cmocka_unit_test(watches_and_posts),
        cmocka_unit_test(lines_without_effect_name_file_and_line),
        cmocka_unit_test(set_options_follow_sr3s_grammar),
        cmocka_unit_test(lists_append_and_none_empties),
        cmocka_unit_test(log_levels_as_python_names_them),
        cmocka_unit_test(hostname_and_metrics_interval),
        cmocka_unit_test(refused_and_ignored_lines),
        cmocka_unit_test(layers_in_order),
        cmocka_unit_test(command_line_arguments),
        cmocka_unit_test(malformed),
        cmocka_unit_test(malformed_urls_and_includes),
        cmocka_unit_test(check_what_components_need),
        cmocka_unit_test(quorum_queue_options_checked),
        cmocka_unit_test(wis2_options_checked),
        cmocka_unit_test(missing_confd_is_an_error),
        cmocka_unit_test(every_good_config_shows),
        cmocka_unit_test(passwords_are_redacted),
        cmocka_unit_test(long_lines_keep_every_word),
        cmocka_unit_test(derived_as_sr3_derives),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
