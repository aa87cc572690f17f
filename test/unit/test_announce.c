/* SPDX-License-Identifier: GPL-2.0-only */
/* test_announce: the messages sr_post and sr_watch send for files, folders, links,
 * removals and renames, checked against what sr3 writes (test/data/messages). */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "announce.h"

static char dir[64];

static int make_tree(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sr-test-announce-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/sub/hello.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello world\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    /* the mtime of test/data/messages/v03/hello_sha512.json: 20241001T123456.789000034 */
    struct timespec times[2] = {{1727786096, 789000034}, {1727786096, 789000034}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    snprintf(path, sizeof path, "%s/sub/bin.dat", dir);
    f = fopen(path, "w");
    fwrite("\x00\x01\x02\xff", 1, 4, f);
    fclose(f);
    char target[256];
    snprintf(path, sizeof path, "%s/sub/latest", dir);
    snprintf(target, sizeof target, "hello.txt");
    assert_int_equal(symlink(target, path), 0);
    return 0;
}

static int remove_tree(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const struct timespec now = {1795601414, 368511915}; /* 20261125T101014.368511915 */

static sr_announce_options options(void)
{
    static sr_identity_spec sha512 = {SR_ID_SHA512, SR_ID_NONE, NULL};
    sr_announce_options o = {.base_url = "sftp://bob@host",
                             .base_dir = dir,
                             .identity = &sha512,
                             .identity_flags = SR_IDENTITY_NO_CACHE,
                             .time_copy = true,
                             .perm_copy = true,
                             .inline_max = 4096};
    return o;
}

static char *path_of(const char *rel)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    return buf;
}

static void a_file_as_sr3_announces_it(void **state)
{
    (void)state;
    sr_announce_options o = options();
    sr_message *m = NULL;
    sr_err err;
    sr_announce_stats stats;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, &stats, &err), SR_OK);
    assert_string_equal(sr_message_pub_time(m), "20261125T101014.368511915");
    assert_string_equal(sr_message_base_url(m), "sftp://bob@host");
    assert_string_equal(sr_message_rel_path(m), "sub/hello.txt");
    assert_string_equal(sr_message_str(m, "mtime"), "20241001T123456.789000034");
    assert_string_equal(sr_message_str(m, "mode"), "644");
    long long size;
    assert_true(sr_message_size(m, &size));
    assert_int_equal(size, 12);
    sr_identity id;
    assert_true(sr_message_identity(m, &id));
    assert_string_equal(id.value, "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUK"
                                  "IF/Cbaidgw/imZM6ulNJDSlkw==");
    assert_int_equal(stats.bytes_read, 12);
    sr_fileop op;
    assert_false(sr_message_fileop(m, &op));
    sr_content c;
    assert_false(sr_message_content(m, &c)); /* inline is off */
    sr_message_free(m);

    /* without timeCopy and permCopy: neither times nor mode */
    o.time_copy = o.perm_copy = false;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_null(sr_message_str(m, "mtime"));
    assert_null(sr_message_str(m, "atime"));
    assert_null(sr_message_str(m, "mode"));
    sr_message_free(m);

    /* no post_baseDir: the absolute path without its leading '/' */
    o.base_dir = NULL;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_string_equal(sr_message_rel_path(m), path_of("sub/hello.txt") + 1);
    sr_message_free(m);
}

static void inline_content(void **state)
{
    (void)state;
    sr_announce_options o = options();
    o.inline_content = true;
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    sr_content c;
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.encoding, "utf-8");
    assert_string_equal(c.value, "hello world\n");
    sr_message_free(m);
    /* bytes that are not UTF-8 go as base64 */
    assert_int_equal(sr_announce_path(&o, path_of("sub/bin.dat"), &now, &m, NULL, &err), SR_OK);
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.encoding, "base64");
    assert_string_equal(c.value, "AAEC/w==");
    sr_message_free(m);
    /* inlineEncoding binary forces base64; a file over inlineByteMax is not inlined */
    o.inline_encoding = SR_INLINE_BINARY;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.value, "aGVsbG8gd29ybGQK");
    sr_message_free(m);
    o.inline_max = 11;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_false(sr_message_content(m, &c));
    sr_message_free(m);
}

static void folders_links_removals_renames(void **state)
{
    (void)state;
    sr_announce_options o = options();
    sr_message *m = NULL;
    sr_err err;
    sr_fileop op;
    assert_int_equal(sr_announce_path(&o, path_of("sub"), &now, &m, NULL, &err), SR_OK);
    assert_true(sr_message_fileop(m, &op));
    assert_true(op.directory && !op.remove);
    assert_string_equal(sr_message_str(m, "contentType"), "text/directory");
    assert_string_equal(sr_message_str(m, "mode"), "755");
    sr_message_free(m);

    assert_int_equal(sr_announce_path(&o, path_of("sub/latest"), &now, &m, NULL, &err), SR_OK);
    assert_true(sr_message_fileop(m, &op));
    assert_string_equal(op.link, "hello.txt");
    sr_identity id;
    assert_false(sr_message_identity(m, &id));
    sr_message_free(m);

    assert_int_equal(sr_announce_removal(&o, path_of("sub/gone.txt"), false, &now, &m, &err),
                     SR_OK);
    assert_true(sr_message_fileop(m, &op));
    assert_true(op.remove && !op.directory);
    assert_string_equal(sr_message_rel_path(m), "sub/gone.txt");
    sr_message_free(m);
    assert_int_equal(sr_announce_removal(&o, path_of("old"), true, &now, &m, &err), SR_OK);
    assert_true(sr_message_fileop(m, &op));
    assert_true(op.remove && op.directory);
    sr_message_free(m);

    /* a rename: the new file, with the old relPath */
    char from[256];
    snprintf(from, sizeof from, "%s", path_of("sub/hello.txt"));
    assert_int_equal(rename(from, path_of("sub/renamed.txt")), 0);
    assert_int_equal(sr_announce_rename(&o, from, path_of("sub/renamed.txt"), &now, &m, NULL, &err),
                     SR_OK);
    assert_string_equal(sr_message_rel_path(m), "sub/renamed.txt");
    assert_true(sr_message_fileop(m, &op));
    assert_string_equal(op.rename, "sub/hello.txt");
    assert_true(sr_message_identity(m, &id)); /* the file's data goes with it */
    sr_message_free(m);
}

static void errors_name_the_path(void **state)
{
    (void)state;
    sr_announce_options o = options();
    sr_message *m = (sr_message *)1;
    sr_err err;
    assert_int_equal(sr_announce_path(&o, path_of("nope.txt"), &now, &m, NULL, &err), SR_ENOENT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "nope.txt"));
    assert_int_equal(sr_announce_path(&o, "/etc/hostname", &now, &m, NULL, &err), SR_EINVAL);
    char want[256];
    snprintf(want, sizeof want, "/etc/hostname is not under post_baseDir %s", dir);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(sr_announce_path(&o, dir, &now, &m, NULL, &err), SR_EINVAL);
    o.base_url = NULL;
    assert_int_equal(sr_announce_path(&o, path_of("sub/bin.dat"), &now, &m, NULL, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "post_baseUrl is not set"));
    char *rel = NULL;
    assert_int_equal(sr_announce_rel_path("/data/x/", "/data/xy/f", &rel, &err), SR_EINVAL);
    assert_int_equal(sr_announce_rel_path("/data/x/", "/data/x/a/f", &rel, &err), SR_OK);
    assert_string_equal(rel, "a/f");
    free(rel);
}

static void headers_and_clusters(void **state)
{
    (void)state;
    sr_strlist headers = {0};
    sr_strlist_push(&headers, "station=YOW");
    sr_announce_options o = options();
    o.headers = &headers;
    o.from_cluster = "ddsr";
    o.to_clusters = "ALL";
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_announce_path(&o, path_of("sub/bin.dat"), &now, &m, NULL, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "station"), "YOW");
    assert_string_equal(sr_message_str(m, "from_cluster"), "ddsr");
    assert_string_equal(sr_message_str(m, "to_clusters"), "ALL");
    sr_message_free(m);
    sr_strlist_clear(&headers);
}

/* rename: every message names where subscribers write the file (its relPath stays) */
static void rename_option(void **state)
{
    (void)state;
    sr_announce_options o = options();
    sr_message *m = NULL;
    sr_err err;
    o.rename = "/new/place/";
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_string_equal(sr_message_rel_path(m), "sub/hello.txt");
    assert_string_equal(sr_message_str(m, "rename"), "/new/place/hello.txt");
    sr_message_free(m);
    o.rename = "other/${YYYYMMDD}.txt";
    assert_int_equal(sr_announce_removal(&o, path_of("sub/gone.txt"), false, &now, &m, &err),
                     SR_OK);
    assert_string_equal(sr_message_str(m, "rename"), "other/20261125.txt");
    sr_message_free(m);
    o.rename = "sub/hello.txt"; /* the relPath already: no field */
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_null(sr_message_str(m, "rename"));
    sr_message_free(m);
    o.rename = NULL;
    assert_int_equal(sr_announce_path(&o, path_of("sub/hello.txt"), &now, &m, NULL, &err), SR_OK);
    assert_null(sr_message_str(m, "rename"));
    sr_message_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_file_as_sr3_announces_it, make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(inline_content, make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(folders_links_removals_renames, make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(errors_name_the_path, make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(headers_and_clusters, make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(rename_option, make_tree, remove_tree),
    };
    return cmocka_run_group_tests_name("announce", tests, NULL, NULL);
}
