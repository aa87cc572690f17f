/* test_placement: where a subscriber puts a file and what it re-announces it as, for the
 * directory/mirror/strip/flatten combinations sr3 configs use (digest §6.5). */
#include "unit.h"

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
    /* digest §6.5: no post_baseDir, mirror on: /data/in/a/b/c.txt announced as data/in/... */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mirror_strip_flatten),
        cmocka_unit_test(strip_regex_and_base_dirs),
        cmocka_unit_test(dates_and_rename),
        cmocka_unit_test(never_outside_the_directory),
    };
    return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
