/* SPDX-License-Identifier: GPL-2.0-only */
/* test_placement: where a subscriber puts a file and what it re-announces it as, for the
 * directory/mirror/strip/flatten combinations sr3 configs use (sr_subscribe(1), DESCRIPTION;
 * sr-config(5), Lines; sr(1), THE FLOW, post). */
#include "unit.h"

#include <ctype.h>

#include "placement.h"

static sr_message *msg(const char *rel, const char *rename)
{
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_new("20261125T101010", "https://dd.example.com/", rel, &m, &err),
                     SR_OK);
    if (rename)
        assert_int_equal(sr_message_set_str(m, "rename", rename, &err), SR_OK);
    return m;
}

static void expect(const sr_placement_rules *r, const char *rel, const char *rename,
                   const char *path, const char *announced)
{
    sr_message *m = msg(rel, rename);
    sr_placement p;
    sr_err err;
    if (sr_placement_compute(r, m, 1795601414, &p, &err) != SR_OK)
        fail_msg("%s: %s", rel, err.msg);
    if (strcmp(p.path, path) != 0)
        fail_msg("%s: placed at %s, expected %s", rel, p.path, path);
    if (announced && strcmp(p.rel_path, announced) != 0)
        fail_msg("%s: announced as %s, expected %s", rel, p.rel_path, announced);
    sr_placement_fini(&p);
    sr_message_free(m);
}

static void mirror_strip_flatten(void **state)
{
    (void)state;
    sr_placement_rules r = {.directory = "/data/in", .mirror = true};
    /* sr(1), THE FLOW, post: no post_baseDir, mirror on: /data/in/a/b/c.txt announced as
     * data/in/... */
    expect(&r, "a/b/c.txt", NULL, "/data/in/a/b/c.txt", "data/in/a/b/c.txt");
    expect(&r, "/a/b/c.txt", NULL, "/data/in/a/b/c.txt", NULL); /* v02's leading '/' */
    r.mirror = false;
    expect(&r, "a/b/c.txt", NULL, "/data/in/c.txt", NULL);
    r.mirror = true;
    r.strip_count = 1;
    expect(&r, "a/b/c.txt", NULL, "/data/in/b/c.txt", NULL);
    r.strip_count = 9; /* more than there are folders: the name stays */
    expect(&r, "a/b/c.txt", NULL, "/data/in/c.txt", NULL);
    r.strip_count = 0;
    r.flatten = "-";
    expect(&r, "a/b/c.txt", NULL, "/data/in/a-b-c.txt", NULL);
    r.flatten = "/";
    expect(&r, "a/b/c.txt", NULL, "/data/in/a/b/c.txt", NULL);
}

static void strip_regex_and_base_dirs(void **state)
{
    (void)state;
    sr_err err;
    sr_regex *re = sr_regex_new("^[0-9]{8}/", &err);
    assert_non_null(re);
    sr_placement_rules r = {.directory = "/srv/obs",
                            .mirror = true,
                            .strip_regex = re,
                            .post_base_dir = "/srv",
                            .post_base_url = "http://me/"};
    sr_message *m = msg("20261125/WXO-DD/obs.xml", NULL);
    sr_placement p;
    assert_int_equal(sr_placement_compute(&r, m, 0, &p, &err), SR_OK);
    assert_string_equal(p.path, "/srv/obs/WXO-DD/obs.xml");
    assert_string_equal(p.rel_path, "obs/WXO-DD/obs.xml");
    assert_string_equal(p.base_url, "http://me/");
    sr_placement_fini(&p);
    sr_message_free(m);
    sr_regex_free(re);

    /* baseDir: a relPath carrying the sender's own root loses it */
    sr_placement_rules s = {.directory = "/dest", .mirror = true, .base_dir = "/data/x"};
    expect(&s, "data/x/sub/f", NULL, "/dest/sub/f", NULL);
    expect(&s, "other/sub/f", NULL, "/dest/other/sub/f", NULL);
}

static void dates_and_rename(void **state)
{
    (void)state;
    sr_placement_rules r = {
        .directory = "/data/${YYYYMMDD}/${SOURCE}", .mirror = false, .source = "bob"};
    expect(&r, "a/b/c.txt", NULL, "/data/20261125/bob/c.txt", NULL);
    /* the poster's rename: a new name, or with a trailing '/', a folder */
    sr_placement_rules q = {.directory = "/in", .mirror = true};
    expect(&q, "a/b/c.txt", "x/new.txt", "/in/x/new.txt", NULL);
    expect(&q, "a/b/c.txt", "new.txt", "/in/a/b/new.txt", NULL);
    expect(&q, "a/b/c.txt", "flat/", "/in/flat/c.txt", NULL);
}

static void never_outside_the_directory(void **state)
{
    (void)state;
    /* The first lock is the message itself: a rename or relPath climbing out with ".." is
     * refused before placement sees it (placement refuses it again). */
    sr_message *m = msg("a/b/c.txt", NULL);
    sr_err err;
    assert_int_equal(sr_message_set_str(m, "rename", "../../etc/passwd", &err), SR_EINVAL);
    sr_placement_rules q = {.directory = "/in", .mirror = true};
    sr_placement p;
    assert_int_equal(sr_placement_compute(&q, m, 0, &p, &err), SR_OK);
    assert_string_equal(p.path, "/in/a/b/c.txt");
    sr_placement_fini(&p);
    sr_message_free(m);
}

/* The root a file is kept beneath: what the configuration wrote in directory, before the
 * first value the message chose; and the file's path below it. */
static void root_is_the_configurations(void **state)
{
    (void)state;
    struct {
        const char *directory, *root, *under;
    } cases[] = {
        {"/data/in", "/data/in", "a/b/c.txt"},
        {"/data/in/", "/data/in", "a/b/c.txt"},
        {"/data/${SOURCE}/in", "/data", "bob/in/a/b/c.txt"},
        {"/data/x_${SOURCE}", "/data", "x_bob/a/b/c.txt"},
        {"/data/${YYYYMMDD}", "/data/20261125", "a/b/c.txt"},
        {"in", "in", "a/b/c.txt"},
        {"${SOURCE}/in", ".", "bob/in/a/b/c.txt"},
        {"/", "/", "a/b/c.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_placement_rules r = {.directory = cases[i].directory, .mirror = true, .source = "bob"};
        sr_message *m = msg("a/b/c.txt", NULL);
        sr_placement p;
        sr_err err;
        if (sr_placement_compute(&r, m, 1795601414, &p, &err) != SR_OK)
            fail_msg("%s: %s", cases[i].directory, err.msg);
        assert_string_equal(p.root, cases[i].root);
        assert_string_equal(p.under_root, cases[i].under);
        sr_placement_fini(&p);
        sr_message_free(m);
    }
    /* a directory the message chooses from its start is no one's: refused */
    sr_placement_rules r = {.directory = "${BUP}/x", .mirror = true};
    sr_message *m = msg("a/b/c.txt", NULL);
    sr_placement p;
    sr_err err;
    assert_int_equal(sr_placement_compute(&r, m, 1795601414, &p, &err), SR_EREFUSED);
    /* a source that climbs is refused, not placed */
    r.directory = "/data/${SOURCE}";
    r.source = "../etc";
    assert_int_equal(sr_placement_compute(&r, m, 1795601414, &p, &err), SR_EREFUSED);
    assert_non_null(strstr(err.msg, "SOURCE"));
    sr_message_free(m);
}

/* A sender's local file: baseDir + relPath, beneath baseDir's root; a relPath that
 * already starts with baseDir (absolute paths announced) is read where it is. */
static void sender_source(void **state)
{
    (void)state;
    struct {
        const char *base_dir, *rel, *root, *under;
    } cases[] = {
        {"/home/bob/hot", "obs/a.csv", "/home/bob/hot", "obs/a.csv"},
        {"/home/bob/hot/", "/obs/a.csv", "/home/bob/hot", "obs/a.csv"},
        {"/home/bob/hot", "home/bob/hot/obs/a.csv", "/home/bob/hot", "obs/a.csv"},
        {"/home/bob/hot", "home/bob/hotter/a.csv", "/home/bob/hot", "home/bob/hotter/a.csv"},
        {"/", "etc/x", "/", "etc/x"},
        {"/data/${SOURCE}", "f", "/data", "bob/f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_placement_rules r = {.base_dir = cases[i].base_dir, .source = "bob"};
        sr_message *m = msg(cases[i].rel, NULL);
        char *root = NULL, *under = NULL;
        sr_err err;
        if (sr_placement_source(&r, m, 1795601414, &root, &under, &err) != SR_OK)
            fail_msg("%s + %s: %s", cases[i].base_dir, cases[i].rel, err.msg);
        assert_string_equal(root, cases[i].root);
        assert_string_equal(under, cases[i].under);
        free(root);
        free(under);
        sr_message_free(m);
    }
    sr_placement_rules r = {.base_dir = "/data"};
    sr_message *m = msg("a/../b", NULL);
    char *root, *under;
    sr_err err;
    assert_int_equal(sr_placement_source(&r, m, 1795601414, &root, &under, &err), SR_EREFUSED);
    sr_message_free(m);
    r.base_dir = NULL;
    m = msg("a/b", NULL);
    assert_int_equal(sr_placement_source(&r, m, 1795601414, &root, &under, &err), SR_EINVAL);
    sr_message_free(m);
}

/* sundew(spec, name) gives want (NULL: refused) */
static void sundew(const char *spec, const char *name, const char *extension, const char *want)
{
    char *out = NULL;
    sr_err err;
    int rc = sr_placement_sundew_name(spec, name, extension, "20261125T101010.25", &out, &err);
    if (want == NULL) {
        if (rc == SR_OK)
            fail_msg("filename %s of %s: %s, expected a refusal", spec, name, out);
        return;
    }
    if (rc != SR_OK)
        fail_msg("filename %s of %s: %s", spec, name, err.msg);
    if (strcmp(out, want) != 0)
        fail_msg("filename %s of %s: %s, expected %s", spec, name, out, want);
    free(out);
}

static void sundew_filename_forms(void **state)
{
    (void)state;
    const char *px = "SACN43_CWAO_251010:CWAO:SA:3:Direct:20261125101010";
    sundew(NULL, px, NULL, px);
    sundew("None", px, NULL, px);
    sundew("WHATFN", px, NULL, "SACN43_CWAO_251010");
    sundew("HEADFN", px, NULL, "SACN43_CWAO");
    sundew("HEADFN", "single:x", NULL, "single");
    /* PX names keep six fields, PDS names (a fifth field longer than one) five */
    sundew("NONE", "a:b:c:d:e:f:g:h", NULL, "a:b:c:d:e:f");
    sundew("NONE", "a:b:c:d:long:f:g", NULL, "a:b:c:d:long");
    sundew("NONE", "a:b:c", NULL, "a:b:c");
    sundew("NONE", "a:b:SENDER=x:c", NULL, "a:b");
    sundew("NONESENDER", "a:b:SENDER=x:c", NULL, "a:b:SENDER=x");
    sundew("SENDER", "a:b:SENDER=x:c", NULL, "x");
    sundew("SENDER", "a:b", NULL, "a:b");
    sundew("DESTFN=fixed.txt", px, NULL, "fixed.txt");
    /* TIME: pubTime without fraction and T; a name ending in a time keeps its own */
    sundew("WHATFN:TIME", "obs.xml", NULL, "obs.xml:20261125101010");
    /* a PDS name: five fields kept, then its own time put back */
    sundew("NONE:TIME", px, NULL, "SACN43_CWAO_251010:CWAO:SA:3:Direct:20261125101010");
    sundew("NONE:TIME", "a:b:c:d:e:f:g", NULL, "a:b:c:d:e:f:20261125101010");
    sundew("TIME:", "obs.xml", NULL, "obs.xml:20261125101010");
    sundew("WHATFN:SATNET=7:TIME", "obs:x", NULL, "obs:SATNET=7:20261125101010");
    /* a Sundew source's fields travel in sundew_extension */
    sundew("NONE", "obs", "CWAO:SA:3:D:20261125101010:x", "obs:CWAO:SA:3:D:20261125101010");
    /* refused: a plugin's name where no plugin can be asked (test below), unknown words, a
     * name that is not one name */
    sundew("DESTFNSCRIPT=mine.Rename", px, NULL, NULL);
    sundew("WHATFN:BOGUS", px, NULL, NULL);
    sundew("DESTFN=a/b", px, NULL, NULL);
    sundew("WHATFN", "x", "../..", "x");
    sundew("NONE", "x", "/etc/passwd:b:c:d:e:f", NULL);
    sr_err err;
    assert_int_equal(sr_placement_filename_check("NONE:TIME", &err), SR_OK);
    /* which plugin answers is for the placer (it knows the plugins): the form is fine */
    assert_int_equal(sr_placement_filename_check("DESTFNSCRIPT=x", &err), SR_OK);
    assert_int_equal(sr_placement_filename_check("WHATFN:DESTFNSCRIPT=", &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "plugin"));
    assert_int_equal(sr_placement_filename_check("WHATFN:nope", &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "nope"));

    /* in placement: the file lands under the new name and is announced so */
    sr_placement_rules r = {.directory = "/data/in", .mirror = true, .filename = "WHATFN"};
    expect(&r, "a/obs.xml:CWAO:SA", NULL, "/data/in/a/obs.xml", "data/in/a/obs.xml");
    r.filename = "DESTFN=fixed";
    expect(&r, "a/b.txt", "x/y.txt", "/data/in/x/fixed", NULL); /* after the poster's rename */
}

/* baseUrl_relPath: the baseUrl's path is part of where the file goes */
static void base_url_rel_path(void **state)
{
    (void)state;
    sr_placement_rules r = {.directory = "/data/in", .mirror = true, .base_url_rel_path = true};
    sr_message *m = NULL;
    sr_err err;
    sr_placement p;
    assert_int_equal(
        sr_message_new("20261125T101010", "https://dd.example.com/x/y/", "a/c.txt", &m, &err),
        SR_OK);
    assert_int_equal(sr_placement_compute(&r, m, 0, &p, &err), SR_OK);
    assert_string_equal(p.path, "/data/in/x/y/a/c.txt");
    sr_placement_fini(&p);
    r.base_url_rel_path = false;
    assert_int_equal(sr_placement_compute(&r, m, 0, &p, &err), SR_OK);
    assert_string_equal(p.path, "/data/in/a/c.txt");
    sr_placement_fini(&p);
    sr_message_free(m);
    /* a baseUrl path with no folder adds nothing; one that climbs is refused */
    r.base_url_rel_path = true;
    expect(&r, "a/c.txt", NULL, "/data/in/a/c.txt", NULL); /* baseUrl https://dd.example.com/ */
    assert_int_equal(sr_message_new("20261125T101010", "https://h/../../etc", "passwd", &m, &err),
                     SR_OK);
    assert_int_equal(sr_placement_compute(&r, m, 0, &p, &err), SR_EREFUSED);
    sr_message_free(m);
}

/* A destfn standing for the plugins: "upper" upper-cases relPath's last name, "bad"
 * answers with whatever the test put in *ctx, "broken" fails. */
static int fake_destfn(void *ctx, const char *script, const sr_message *m, char **name, sr_err *err)
{
    if (strcmp(script, "upper") == 0) {
        const char *rel = sr_message_rel_path(m);
        const char *slash = strrchr(rel, '/');
        *name = strdup(slash ? slash + 1 : rel);
        for (char *c = *name; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        return SR_OK;
    }
    if (strcmp(script, "bad") == 0) {
        *name = strdup(ctx);
        return SR_OK;
    }
    return sr_err_set(err, SR_EINVAL, false, "plugin %s failed", script);
}

static void destfn_script(void **state)
{
    (void)state;
    sr_placement_rules r = {.directory = "/out", .mirror = true, .filename = "DESTFNSCRIPT=upper"};
    sr_message *m = msg("a/b/obs.txt", NULL);
    sr_placement p;
    sr_err err;
    /* no plugins to ask: the message has no place, and the error says why */
    assert_int_equal(sr_placement_compute(&r, m, 0, &p, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "no sr plugin named upper"));
    r.destfn = fake_destfn;
    expect(&r, "a/b/obs.txt", NULL, "/out/a/b/OBS.TXT", "out/a/b/OBS.TXT");
    /* later words apply to the plugin's name, as in sr3's left-to-right spec */
    r.filename = "DESTFNSCRIPT=upper:SATNET=7";
    expect(&r, "a/obs.txt", NULL, "/out/a/OBS.TXT:SATNET=7", NULL);
    /* the plugin failing: no place, its reason kept */
    r.filename = "DESTFNSCRIPT=broken";
    assert_int_equal(sr_placement_compute(&r, m, 0, &p, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "plugin broken failed"));
    /* a name that is not one name is refused like any other Sundew result */
    r.filename = "DESTFNSCRIPT=bad";
    const char *bad[] = {"../escape", "x/y", "..", ".", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r.destfn_ctx = (void *)bad[i];
        if (sr_placement_compute(&r, m, 0, &p, &err) != SR_EREFUSED)
            fail_msg("destfn name \"%s\" was not refused", bad[i]);
    }
    sr_message_free(m);

    sr_strlist scripts = {0};
    assert_int_equal(
        sr_placement_filename_scripts("WHATFN:DESTFNSCRIPT=a.B:TIME:DESTFNSCRIPT=c", &scripts), 0);
    assert_int_equal(scripts.count, 2);
    assert_string_equal(scripts.items[0], "a.B");
    assert_string_equal(scripts.items[1], "c");
    sr_strlist_clear(&scripts);
    assert_int_equal(sr_placement_filename_scripts(NULL, &scripts), 0);
    assert_int_equal(scripts.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mirror_strip_flatten),
        cmocka_unit_test(strip_regex_and_base_dirs),
        cmocka_unit_test(dates_and_rename),
        cmocka_unit_test(never_outside_the_directory),
        cmocka_unit_test(root_is_the_configurations),
        cmocka_unit_test(sender_source),
        cmocka_unit_test(sundew_filename_forms),
        cmocka_unit_test(base_url_rel_path),
        cmocka_unit_test(destfn_script),
    };
    return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
