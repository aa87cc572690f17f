/* SPDX-License-Identifier: GPL-2.0-only */
/* test_message: v03 and v02 messages as they arrive from sr3, sarrac and sr, decoded field
 * by field, re-encoded and decoded again; the hostile ones refused with the field named. */
#include "unit.h"

#include <jansson.h>
#include <time.h>

#include "message.h"
#include "message_expect.h"

/* ---- reading test/data/messages ---- */

static char *slurp(const char *relative, size_t *len)
{
    FILE *f = fopen(test_data(relative), "rb");
    if (f == NULL)
        fail_msg("cannot open %s", test_data(relative));
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* A .v02 file (see test/data/messages/README) as the wire a broker hands over. */
typedef struct v02_file {
    char *text;
    char body[8192];
    char content_type[64];
    char topic[512];
    sr_header headers[32];
    size_t header_count;
    sr_wire wire;
} v02_file;

static void read_v02(const char *relative, v02_file *f)
{
    memset(f, 0, sizeof *f);
    size_t len;
    f->text = slurp(relative, &len);
    char *save = NULL;
    for (char *line = strtok_r(f->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "body ", 5) == 0) {
            /* "\n" in the file stands for a newline in the body */
            char *o = f->body;
            for (const char *p = line + 5; *p; p++) {
                if (p[0] == '\\' && p[1] == 'n') {
                    *o++ = '\n';
                    p++;
                } else {
                    *o++ = *p;
                }
            }
            *o = '\0';
        } else if (strncmp(line, "content_type ", 13) == 0) {
            snprintf(f->content_type, sizeof f->content_type, "%s", line + 13);
        } else if (strncmp(line, "topic ", 6) == 0) {
            snprintf(f->topic, sizeof f->topic, "%s", line + 6);
        } else if (strncmp(line, "header ", 7) == 0) {
            char *eq = strchr(line + 7, '=');
            assert_non_null(eq);
            *eq = '\0';
            f->headers[f->header_count++] = (sr_header){line + 7, eq + 1};
        }
    }
    f->wire = (sr_wire){f->body,
                        strlen(f->body),
                        f->content_type[0] ? f->content_type : NULL,
                        f->topic[0] ? f->topic : NULL,
                        f->headers,
                        f->header_count};
}

/* Decode a file of test/data/messages as a broker would hand it over. */
static int decode_any(const char *relative, sr_message **m, sr_err *err)
{
    int rc;
    if (strstr(relative, ".v02") != NULL) {
        v02_file f;
        read_v02(relative, &f);
        rc = sr_message_decode(&f.wire, m, err);
        free(f.text);
    } else {
        size_t len;
        char *body = slurp(relative, &len);
        sr_wire w = {body, len, "application/json", NULL, NULL, 0};
        rc = sr_message_decode(&w, m, err);
        free(body);
    }
    return rc;
}

static sr_message *decode_file(const char *relative)
{
    sr_message *m = NULL;
    sr_err err = {0};
    if (decode_any(relative, &m, &err) != SR_OK)
        fail_msg("%s: %s", relative, err.msg);
    return m;
}

/* The message as v03 JSON, parsed back, for comparing two messages as values. */
static json_t *as_json(const sr_message *m)
{
    sr_encoded e;
    sr_err err;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    assert_string_equal(e.content_type, "application/json");
    json_t *j = json_loadb(e.body, e.body_len, 0, NULL);
    assert_non_null(j);
    sr_encoded_fini(&e);
    return j;
}

/* ---- golden messages, field by field ---- */

typedef struct golden {
    const char *file;
    const char *pub_time, *base_url, *rel_path;
    long long size;                   /* -1: absent */
    const char *id_method, *id_value; /* NULL: no identity sr can use */
    const char *fileop;      /* "remove", "rmdir", "mkdir", "link:T", "rename:OLD", or NULL */
    const char *url;         /* what a downloader fetches */
    const char *extra[4][2]; /* other fields: name, value (NULL value: absent) */
} golden;

static const golden goldens[] = {
    {"messages/v03/hello_sha512.json",
     "20261124T192335.368511915",
     "sftp://bob@host",
     "sub/hello.txt",
     12,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw==",
     NULL,
     "sftp://bob@host/sub/hello.txt",
     {{"atime", "20261124T192335.0825042725"},
      {"mtime", "20241001T123456.789000034"},
      {"mode", "644"},
      {"source", "bob"}}},
    {"messages/v03/inline_utf8.json",
     "20261124T192512.581284761",
     "https://example.com/data",
     "sub/hello.txt",
     12,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw==",
     NULL,
     "https://example.com/data/sub/hello.txt",
     {{"source", "bob"}}},
    {"messages/v03/inline_base64.json",
     "20261125T080000",
     "https://example.com/data",
     "bin/tiny.bin",
     4,
     "md5",
     "BBbauBmIczOvgx+MdlrCrg==",
     NULL,
     "https://example.com/data/bin/tiny.bin",
     {{"contentType", "application/octet-stream"}}},
    {"messages/v03/remove.json",
     "20261124T192512.587235689",
     "https://example.com/data",
     "sub/gone.txt",
     -1,
     NULL,
     NULL,
     "remove",
     "https://example.com/data/sub/gone.txt",
     {{"source", "bob"}}},
    {"messages/v03/block_md5.json",
     "20261124T192512.579945326",
     "https://example.com/data",
     "sub/big.txt",
     1024,
     "md5",
     "RI2+Wv9fx60IJF+NBAPwwA==",
     NULL,
     "https://example.com/data/sub/big.txt",
     {{"mtime", "20261124T192512.283407927"}}},
    {"messages/v03/rename.json",
     "20261125T101010.25",
     "sftp://bob@host",
     "in/new_name.txt",
     12,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw==",
     "rename:in/old_name.txt",
     "sftp://bob@host/in/new_name.txt",
     {{"mode", "640"}}},
    {"messages/v03/link.json",
     "20261125T101011",
     "file:",
     "data/latest",
     -1,
     NULL,
     NULL,
     "link:../archive/2026/11/25/obs.csv",
     "file:/data/latest",
     {{"contentType", "text/link"}}},
    {"messages/v03/mkdir.json",
     "20261125T101012.5",
     "https://example.com/",
     "radar/2026",
     -1,
     NULL,
     NULL,
     "mkdir",
     "https://example.com/radar/2026",
     {{"mode", "2775"}}},
    {"messages/v03/rmdir.json",
     "20261125T101013.5",
     "https://example.com/",
     "radar/2025",
     -1,
     NULL,
     NULL,
     "rmdir",
     "https://example.com/radar/2025",
     {{NULL, NULL}}},
    /* sarrac: size as a string, relPath with a leading '/', cod */
    {"messages/v03/sarrac_style.json",
     "20261125T101014.123",
     "http://localhost:8001",
     "/hot/a b#1.txt",
     1048576,
     "cod",
     "sha512",
     NULL,
     "http://localhost:8001/hot/a b#1.txt",
     {{"mode", "4755"}, {"from_cluster", "ddsr"}, {"to_clusters", "ALL"}}},
    /* old names: retPath -> retrievePath, integrity -> identity */
    {"messages/v03/legacy_names.json",
     "20261125T101015.0001",
     "https://api.example.com",
     "obs/station42.json",
     -1,
     "md5",
     "b1kCrCNwJL3QwXbLkwY9xA==",
     NULL,
     "https://api.example.com/api/v1/obs?station=42&format=json",
     {{"retrievePath", "/api/v1/obs?station=42&format=json"},
      {"retPath", NULL},
      {"integrity", NULL}}},
    {"messages/v03/user_fields.json",
     "20261125T101016.75",
     "https://example.com/",
     "geo/points.json",
     -1,
     "arbitrary",
     "batch-2026-11-25/42",
     NULL,
     "https://example.com/geo/points.json",
     {{"type", "Feature"},
      {"unicode", "Montr\xc3\xa9"
                  "al \xc3\xa9t\xc3\xa9"}}},
    {"messages/v03/random_identity.json",
     "20261125T101017",
     "https://example.com/",
     "ever/changing.txt",
     0,
     "random",
     "0042",
     NULL,
     "https://example.com/ever/changing.txt",
     {{NULL, NULL}}},
    /* PY's v02 conversion wraps base64 after 76 characters */
    {"messages/v03/wrapped_base64.json",
     "20241001T123500.5",
     "https://dd.example.com/",
     "sub/hello.txt",
     -1,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbai\ndgw/imZM6ulNJDSlkw==",
     NULL,
     "https://dd.example.com/sub/hello.txt",
     {{"to_clusters", "ALL"}}},
    /* sarrac's v03: the old name integrity, its base64 with a newline after 78 characters
     * (kept as sent; sr_identity_equal ignores it), size as a string, relPath from the root,
     * the topic in the body */
    {"messages/v03/sarrac_wrapped.json",
     "20261125T101018.25",
     "sftp://bob@host",
     "/data/x/sub/hello.txt",
     12,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6u\nlNJDSlkw==",
     NULL,
     "sftp://bob@host/data/x/sub/hello.txt",
     {{"integrity", NULL},
      {"mode", "0644"},
      {"topic", "v03.data.x.sub"},
      {"mtime", "20261125T101017.5"}}},
    /* sarrac's v03 block of a file: count and remainder as strings, no size (that of this
     * block, the last, is the remainder), the same block as v02/block.v02 */
    {"messages/v03/sarrac_block.json",
     "20261124T192512.579945326",
     "https://example.com/data",
     "/sub/big.txt",
     308,
     "md5",
     "yK9MH8tJ9PGm/hSk1qHhsw==",
     NULL,
     "https://example.com/data/sub/big.txt",
     {{"integrity", NULL}, {"mode", "0644"}}},
    /* a folder posted with sr3_post (3.00.56): a fileOp, no size, no identity */
    {"messages/v03/sr3_folder.json",
     "20261206T082153.395539522",
     "file:/data/x",
     "folder",
     -1,
     NULL,
     NULL,
     "mkdir",
     "file:/data/x/folder",
     {{"contentType", "text/directory"}, {"mode", "755"}}},
    /* Sarracenia 2.20.08p1 and before: v02's parts in a v03 message, read as size */
    {"messages/v03/v2_parts.json",
     "20201125T101010.5",
     "https://dd.example.com/",
     "sub/hello.txt",
     12,
     "md5",
     "b1kCrCNwJL3QwXbLkwY9xA==",
     NULL,
     "https://dd.example.com/sub/hello.txt",
     {{"parts", NULL}, {"integrity", NULL}}},
    /* v02 with a T in pubTime, times without a fraction, cod as z,d */
    {"messages/v02/sr2_times.v02",
     "20261125T101010.5",
     "https://example.com/",
     "sub/hello.txt",
     12,
     "cod",
     "md5",
     NULL,
     "https://example.com/sub/hello.txt",
     {{"mtime", "20261125T101009"}, {"atime", "20261125T101008.5"}, {"parts", NULL}}},
    /* v02's m: a folder made (sarrac, sr2) */
    {"messages/v02/mkdir.v02",
     "20261125T101012.5",
     "https://example.com/",
     "radar/2026",
     -1,
     NULL,
     NULL,
     "mkdir",
     "https://example.com/radar/2026",
     {{"mode", "2775"}, {"sum", NULL}}},
    /* v02, converted as sr3 converts it */
    {"messages/v02/hello.v02",
     "20261124T192335.368511915",
     "sftp://bob@host",
     "sub/hello.txt",
     12,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw==",
     NULL,
     "sftp://bob@host/sub/hello.txt",
     {{"mtime", "20241001T123456.789000034"},
      {"atime", "20261124T192335.0825042725"},
      {"to_clusters", "ALL"},
      {"sum", NULL}}},
    {"messages/v02/dd_md5.v02",
     "20241001T123500.5",
     "https://dd.example.com/",
     "sub/hello.txt",
     12,
     "md5",
     "b1kCrCNwJL3QwXbLkwY9xA==",
     NULL,
     "https://dd.example.com/sub/hello.txt",
     {{"mtime", "20241001T123456.789"}, {"to_clusters", "ALL"}, {"parts", NULL}}},
    {"messages/v02/sarrac_line.v02",
     "20261125T101014.123",
     "http://localhost:8001",
     "/hot/a b#1.txt",
     1048576,
     "cod",
     "sha512",
     NULL,
     "http://localhost:8001/hot/a b#1.txt",
     {{"to_clusters", "ddsr,hpfx"}, {"from_cluster", "ddsr"}, {"mode", "4755"}}},
    {"messages/v02/link.v02",
     "20261125T101011",
     "file:",
     "data/latest",
     -1,
     NULL,
     NULL,
     "link:../archive/2026/11/25/obs.csv",
     "file:/data/latest",
     {{"link", NULL}}},
    {"messages/v02/remove.v02",
     "20261124T192512.587235689",
     "https://example.com/data",
     "sub/gone.txt",
     -1,
     NULL,
     NULL,
     "remove",
     "https://example.com/data/sub/gone.txt",
     {{"source", "bob"}}},
    {"messages/v02/rmdir.v02",
     "20261125T101013.5",
     "https://example.com/",
     "radar/2025",
     -1,
     NULL,
     NULL,
     "rmdir",
     "https://example.com/radar/2025",
     {{NULL, NULL}}},
    {"messages/v02/rename.v02",
     "20261125T101010.25",
     "sftp://bob@host",
     "in/new_name.txt",
     12,
     "sha512",
     "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw==",
     "rename:in/old_name.txt",
     "sftp://bob@host/in/new_name.txt",
     {{"oldname", NULL}, {"mode", "640"}}},
    /* the last of 4 blocks: this block's size is the remainder */
    {"messages/v02/block.v02",
     "20261124T192512.579945326",
     "https://example.com/data",
     "sub/big.txt",
     308,
     "md5",
     "yK9MH8tJ9PGm/hSk1qHhsw==",
     NULL,
     "https://example.com/data/sub/big.txt",
     {{NULL, NULL}}},
    {"messages/v02/user_headers.v02",
     "20261125T101016.75",
     "https://example.com/",
     "geo/points.json",
     -1,
     "arbitrary",
     "batch-2026-11-25/42",
     NULL,
     "https://example.com/geo/points.json",
     {{"station", "YOW"}, {"priority", "7"}}},
};

static void check_golden(const golden *g, const sr_message *m)
{
    assert_string_equal(sr_message_pub_time(m), g->pub_time);
    assert_string_equal(sr_message_base_url(m), g->base_url);
    assert_string_equal(sr_message_rel_path(m), g->rel_path);
    long long size = -1;
    if (!sr_message_size(m, &size))
        size = -1;
    assert_int_equal(size, g->size);
    sr_identity id;
    if (g->id_method == NULL) {
        assert_false(sr_message_identity(m, &id));
    } else {
        assert_true(sr_message_identity(m, &id));
        assert_string_equal(sr_identity_method_name(id.method), g->id_method);
        assert_string_equal(id.value, g->id_value);
    }
    sr_fileop op;
    if (g->fileop == NULL) {
        assert_false(sr_message_fileop(m, &op));
    } else {
        assert_true(sr_message_fileop(m, &op));
        if (strcmp(g->fileop, "remove") == 0)
            assert_true(op.remove && !op.directory && !op.link && !op.rename);
        else if (strcmp(g->fileop, "rmdir") == 0)
            assert_true(op.remove && op.directory);
        else if (strcmp(g->fileop, "mkdir") == 0)
            assert_true(!op.remove && op.directory);
        else if (strncmp(g->fileop, "link:", 5) == 0)
            assert_string_equal(op.link, g->fileop + 5);
        else if (strncmp(g->fileop, "rename:", 7) == 0)
            assert_string_equal(op.rename, g->fileop + 7);
        else
            fail_msg("bad fileop in the table: %s", g->fileop);
    }
    char *url = sr_message_url(m);
    assert_string_equal(url, g->url);
    free(url);
    for (size_t i = 0; i < 4 && g->extra[i][0]; i++)
        expect_str(m, g->extra[i][0], g->extra[i][1]);
}

static void golden_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        const golden *g = &goldens[i];
        sr_message *m = decode_file(g->file);
        check_golden(g, m);

        /* v03 out and back: the same values, every field (unknown ones too) kept */
        json_t *first = as_json(m);
        sr_encoded e;
        sr_err err;
        assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
        sr_message *again = NULL;
        if (sr_message_decode_v03(e.body, e.body_len, &again, &err) != SR_OK)
            fail_msg("%s: re-decoding v03: %s", g->file, err.msg);
        check_golden(g, again);
        json_t *second = as_json(again);
        if (!json_equal(first, second))
            fail_msg("%s: v03 round trip changed the message", g->file);
        json_decref(second);
        sr_message_free(again);
        sr_encoded_fini(&e);

        /* v02 out and back: what v02 can carry comes back the same */
        assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
        assert_string_equal(e.content_type, "text/plain");
        sr_wire w = {e.body, e.body_len, e.content_type, NULL, e.headers, e.header_count};
        if (sr_message_decode(&w, &again, &err) != SR_OK)
            fail_msg("%s: re-decoding v02: %s", g->file, err.msg);
        assert_string_equal(sr_message_pub_time(again), g->pub_time);
        assert_string_equal(sr_message_rel_path(again), g->rel_path);
        assert_string_equal(sr_message_base_url(again), g->base_url);
        long long size = -1, size2 = -1;
        sr_message_size(m, &size);
        sr_message_size(again, &size2);
        assert_int_equal(size, size2);
        sr_identity a, b;
        bool has_a = sr_message_identity(m, &a), has_b = sr_message_identity(again, &b);
        assert_int_equal(has_a, has_b);
        if (has_a && a.method != SR_ID_RANDOM && a.method != SR_ID_COD)
            assert_true(sr_identity_equal(&a, &b));
        sr_fileop op1, op2;
        bool f1 = sr_message_fileop(m, &op1), f2 = sr_message_fileop(again, &op2);
        assert_int_equal(f1, f2);
        if (f1) {
            assert_int_equal(op1.remove, op2.remove);
            assert_int_equal(op1.directory, op2.directory);
            assert_true((op1.link == NULL) == (op2.link == NULL));
            assert_true((op1.rename == NULL) == (op2.rename == NULL));
        }
        sr_message_free(again);
        sr_encoded_fini(&e);

        json_decref(first);
        sr_message_free(m);
    }
}

/* ---- what sr3 writes, byte for byte where it matters ---- */

static const char *header_of(const sr_encoded *e, const char *name)
{
    for (size_t i = 0; i < e->header_count; i++)
        if (strcmp(e->headers[i].name, name) == 0)
            return e->headers[i].value;
    return NULL;
}

static void v03_to_v02_as_sr3(void **state)
{
    (void)state;
    sr_message *m = decode_file("messages/v03/hello_sha512.json");
    sr_encoded e;
    sr_err err;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
    /* test/data/messages/v02/hello.v02: the same message as sr3 writes it with post_format v02 */
    assert_string_equal(e.body, "20261124192335.368511915 sftp://bob@host sub/hello.txt");
    assert_string_equal(header_of(&e, "source"), "bob");
    assert_string_equal(header_of(&e, "mode"), "644");
    assert_string_equal(header_of(&e, "mtime"), "20241001123456.789000034");
    assert_string_equal(header_of(&e, "atime"), "20261124192335.0825042725");
    assert_string_equal(header_of(&e, "parts"), "1,12,1,0,0");
    assert_string_equal(header_of(&e, "sum"),
                        "s,db3974a97f2407b7cae1ae637c0030687a11913274d578492558e39c16c017de84eacd"
                        "c8c62fe34ee4e12b4b1428817f09b6a2760c3f8a664ceae94d2434a593");
    assert_null(header_of(&e, "identity"));
    assert_null(header_of(&e, "size"));
    sr_encoded_fini(&e);
    sr_message_free(m);

    /* space and '#' escaped in the body, a link keeps its link header, rmdir is 'r' */
    m = decode_file("messages/v03/sarrac_style.json");
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
    assert_string_equal(e.body, "20261125101014.123 http://localhost:8001 /hot/a%20b%231.txt");
    assert_string_equal(header_of(&e, "sum"), "z,s");
    sr_encoded_fini(&e);
    sr_message_free(m);
    m = decode_file("messages/v03/link.json");
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
    assert_int_equal(header_of(&e, "sum")[0], 'L');
    assert_string_equal(header_of(&e, "link"), "../archive/2026/11/25/obs.csv");
    sr_encoded_fini(&e);
    sr_message_free(m);
    m = decode_file("messages/v03/rmdir.json");
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
    assert_int_equal(header_of(&e, "sum")[0], 'r');
    assert_null(header_of(&e, "parts"));
    sr_encoded_fini(&e);
    sr_message_free(m);

    /* blocks: method letter, block size, count, remainder, number */
    m = decode_file("messages/v03/block_md5.json");
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
    assert_string_equal(header_of(&e, "parts"), "i,1024,4,308,1");
    sr_encoded_fini(&e);
    sr_message_free(m);
}

static void v02_names_without_identity(void **state)
{
    (void)state;
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_new("20261125T101010", "https://e/", "a/points.json", &m, &err),
                     SR_OK);
    sr_encoded e;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_OK);
    /* md5("points.json") */
    assert_string_equal(header_of(&e, "sum"), "n,106a62d6e0d8187d08cdf1a52020487b");
    sr_encoded_fini(&e);
    sr_message_free(m);
}

static void v03_encoding_is_compact_json_with_content_type(void **state)
{
    (void)state;
    sr_message *m = decode_file("messages/v03/user_fields.json");
    sr_encoded e;
    sr_err err;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    assert_string_equal(e.content_type, "application/json");
    assert_null(e.headers);
    assert_int_equal(e.body[0], '{');
    assert_null(strchr(e.body, '\n'));
    /* unknown fields travel untouched, in order (numbers as values: jansson writes
     * -75.69 with 17 significant digits, which reads back as the same double) */
    json_t *sent = json_loadb(e.body, e.body_len, 0, NULL);
    json_t *want = json_loads("{\"type\": \"Point\", \"coordinates\": [-75.69, 45.42]}", 0, NULL);
    assert_true(json_equal(json_object_get(sent, "geometry"), want));
    json_decref(want);
    json_decref(sent);
    assert_non_null(strstr(e.body, "\"x-priority\":7"));
    assert_non_null(strstr(e.body, "\"none\":null"));
    sr_encoded_fini(&e);
    sr_message_free(m);
}

static void format_detection(void **state)
{
    (void)state;
    const char *json =
        "{\"pubTime\":\"20261125T101010\",\"baseUrl\":\"https://e/\",\"relPath\":\"a\"}";
    const char *text = "20261125101010 https://e/ a";
    sr_wire w = {json, strlen(json), "application/json", NULL, NULL, 0};
    assert_int_equal(sr_message_detect(&w), SR_FORMAT_V03);
    w.content_type = NULL; /* MQTT 3.1.1, or a client that forgot: sr3 drops it, sr reads it */
    assert_int_equal(sr_message_detect(&w), SR_FORMAT_V03);
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_decode(&w, &m, &err), SR_OK);
    assert_string_equal(sr_message_rel_path(m), "a");
    sr_message_free(m);
    w = (sr_wire){text, strlen(text), NULL, NULL, NULL, 0};
    assert_int_equal(sr_message_detect(&w), SR_FORMAT_V02);
    w.content_type = "text/plain; charset=utf-8";
    assert_int_equal(sr_message_detect(&w), SR_FORMAT_V02);
    w = (sr_wire){json, strlen(json), "application/geo+json", NULL, NULL, 0};
    assert_int_equal(sr_message_detect(&w), SR_FORMAT_V03);
}

static void received_topic_is_kept_beside_the_fields(void **state)
{
    (void)state;
    v02_file f;
    read_v02("messages/v02/hello.v02", &f);
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_decode(&f.wire, &m, &err), SR_OK);
    assert_string_equal(sr_message_received_topic(m), "v02.post.sub");
    assert_null(sr_message_str(m, "topic"));
    sr_message *copy = sr_message_copy(m);
    assert_string_equal(sr_message_received_topic(copy), "v02.post.sub");
    sr_message_free(copy);
    sr_message_free(m);
    free(f.text);
}

static void sizes_and_times(void **state)
{
    (void)state;
    sr_message *m = decode_file("messages/v03/sarrac_style.json");
    json_t *j = as_json(m);
    /* sarrac's "1048576" becomes the integer sr3 writes */
    assert_true(json_is_integer(json_object_get(j, "size")));
    json_decref(j);
    unsigned mode = 0;
    assert_true(sr_message_mode(m, &mode));
    assert_int_equal(mode, 04755);
    struct timespec now = {.tv_sec = 1795601414 + 10, .tv_nsec = 123000000}; /* pubTime + 10 s */
    double lag = sr_message_lag(m, &now);
    assert_true(lag > 9.999 && lag < 10.001);
    sr_message_free(m);
}

/* Forms other producers write that sr reads as sr3 does (sr-message(7), FROM OTHER
 * IMPLEMENTATIONS): size as a string of digits, times with or without the T and the
 * fraction (kept as received), sarrac's wrapped base64 the same identity as sr's. */
static void other_producers_forms(void **state)
{
    (void)state;
    static const struct {
        const char *size;
        long long want;
    } sizes[] = {{"\"0\"", 0},
                 {"\"0012\"", 12},
                 {"\"999999999999999999\"", 999999999999999999LL},
                 {"12", 12}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"pubTime\": \"20261125101010\", \"baseUrl\": \"https://e/\", "
                 "\"relPath\": \"a\", \"size\": %s, \"mtime\": \"20261125T101009\", "
                 "\"atime\": \"20261125101008.000000001\"}",
                 sizes[i].size);
        sr_message *m = NULL;
        sr_err err = {0};
        if (sr_message_decode_v03(body, strlen(body), &m, &err) != SR_OK)
            fail_msg("%s: %s", body, err.msg);
        long long size = -1;
        assert_true(sr_message_size(m, &size));
        assert_int_equal(size, sizes[i].want);
        /* the times as the producer wrote them, read as the same instants */
        assert_string_equal(sr_message_pub_time(m), "20261125101010");
        expect_str(m, "mtime", "20261125T101009");
        expect_str(m, "atime", "20261125101008.000000001");
        struct timespec now = {.tv_sec = 1795601410 + 3, .tv_nsec = 0}; /* pubTime + 3 s */
        double lag = sr_message_lag(m, &now);
        assert_true(lag > 2.999 && lag < 3.001);
        sr_message_free(m);
    }

    /* sarrac wraps after 78 characters, sr3 after 76: both name the content sr computes */
    sr_identity clean = {.method = SR_ID_SHA512,
                         .value = "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/"
                                  "jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw=="};
    const char *files[] = {"messages/v03/sarrac_wrapped.json", "messages/v03/wrapped_base64.json"};
    for (size_t i = 0; i < 2; i++) {
        sr_message *m = decode_file(files[i]);
        sr_identity got;
        assert_true(sr_message_identity(m, &got));
        assert_non_null(strchr(got.value, '\n'));
        assert_true(sr_identity_equal(&got, &clean));
        sr_message_free(m);
    }
}

static void blocks_and_content(void **state)
{
    (void)state;
    sr_message *m = decode_file("messages/v03/block_md5.json");
    sr_blocks b;
    assert_true(sr_message_blocks(m, &b));
    assert_string_equal(b.method, "inplace");
    assert_int_equal(b.block_size, 1024);
    assert_int_equal(b.number, 1);
    assert_int_equal(b.manifest_count, 4);
    long long size;
    const char *id;
    assert_true(sr_message_block(m, 3, &size, &id));
    assert_int_equal(size, 308);
    assert_string_equal(id, "/L7bKolFnRe0jEGfqd6Njw==");
    assert_false(sr_message_block(m, 4, &size, &id));
    sr_message_free(m);

    /* sarrac's form: numbers as strings, count and remainder, no manifest */
    m = decode_file("messages/v03/sarrac_block.json");
    assert_true(sr_message_blocks(m, &b));
    assert_string_equal(b.method, "inplace");
    assert_int_equal(b.block_size, 1024);
    assert_int_equal(b.number, 3);
    assert_int_equal(b.manifest_count, 0);
    long long count, remainder;
    assert_true(sr_message_blocks_count(m, &count, &remainder));
    assert_int_equal(count, 4);
    assert_int_equal(remainder, 308);
    sr_message_free(m);

    m = decode_file("messages/v03/inline_utf8.json");
    sr_content c;
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.encoding, "utf-8");
    assert_string_equal(c.value, "hello world\n");
    sr_message_free(m);
    m = decode_file("messages/v03/inline_base64.json");
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.encoding, "base64");
    assert_string_equal(c.value, "AAEC/w==");
    sr_message_free(m);
}

static void unknown_identity_method_passes_through(void **state)
{
    (void)state;
    const char *body =
        "{\"pubTime\":\"20261125T101010\",\"baseUrl\":\"https://e/\",\"relPath\":\"a\","
        "\"identity\":{\"method\":\"sha3_256\",\"value\":\"q83v\"}}";
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_decode_v03(body, strlen(body), &m, &err), SR_OK);
    sr_identity id;
    assert_false(sr_message_identity(m, &id)); /* nothing sr can compare */
    sr_encoded e;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    assert_non_null(strstr(e.body, "\"identity\":{\"method\":\"sha3_256\",\"value\":\"q83v\"}"));
    sr_encoded_fini(&e);
    sr_message_free(m);
}

static void setters_check_like_the_decoder(void **state)
{
    (void)state;
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_new("20261125T101010.5", "sftp://bob@host", "in/a.txt", &m, &err),
                     SR_OK);
    assert_int_equal(sr_message_set_str(m, "relPath", "../../etc/passwd", &err), SR_EINVAL);
    assert_string_equal(
        err.msg, "message field relPath \"../../etc/passwd\": climbs out of the tree with ..");
    assert_string_equal(sr_message_rel_path(m), "in/a.txt"); /* unchanged */
    assert_int_equal(sr_message_set_str(m, "mtime", "yesterday", &err), SR_EINVAL);
    assert_int_equal(sr_message_set_size(m, -1, &err), SR_EINVAL);
    assert_int_equal(sr_message_set_size(m, 42, &err), SR_OK);
    sr_identity id = {SR_ID_MD5, "b1kCrCNwJL3QwXbLkwY9xA=="};
    assert_int_equal(sr_message_set_identity(m, &id, &err), SR_OK);
    sr_fileop op = {.rename = "in/old.txt"};
    assert_int_equal(sr_message_set_fileop(m, &op, &err), SR_OK);
    sr_content c = {"utf-8", "hi"};
    assert_int_equal(sr_message_set_content(m, &c, &err), SR_OK);
    sr_content bad = {"utf-16", "hi"};
    assert_int_equal(sr_message_set_content(m, &bad, &err), SR_EINVAL);
    assert_int_equal(sr_message_set_str(m, "source", "bob", &err), SR_OK);
    sr_message_remove(m, "source");
    assert_null(sr_message_str(m, "source"));
    sr_encoded e;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    assert_string_equal(e.body,
                        "{\"pubTime\":\"20261125T101010.5\",\"baseUrl\":\"sftp://bob@host\","
                        "\"relPath\":\"in/a.txt\",\"size\":42,\"identity\":{\"method\":"
                        "\"md5\",\"value\":\"b1kCrCNwJL3QwXbLkwY9xA==\"},\"fileOp\":"
                        "{\"rename\":\"in/old.txt\"},\"content\":{\"encoding\":\"utf-8\","
                        "\"value\":\"hi\"}}");
    sr_encoded_fini(&e);
    sr_message_free(m);
    assert_int_equal(sr_message_new("now", "sftp://bob@host", "a", &m, &err), SR_EINVAL);
    assert_null(m);
}

static void v02_header_limit(void **state)
{
    (void)state;
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_new("20261125T101010", "https://e/", "a/b", &m, &err), SR_OK);
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sr_message_set_str(m, "station", big, &err), SR_OK);
    sr_encoded e;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V02, &e, &err), SR_EINVAL);
    assert_string_equal(err.msg, "v02 message header station: longer than 255 bytes (AMQP's "
                                 "limit); send this message as v03");
    assert_null(e.body);
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    sr_encoded_fini(&e);
    sr_message_free(m);
}

/* ---- hostile input ---- */

static const struct {
    const char *file, *error;
} bad[] = {
    {"missing_relpath.json", "message field relPath: missing"},
    {"missing_pubtime.json", "message field pubTime: missing"},
    {"dotdot_relpath.json",
     "message field relPath \"a/../../etc/passwd\": climbs out of the tree with .."},
    {"dotdot_retrievepath.json",
     "message field retrievePath \"../secret\": climbs out of the tree with .."},
    {"dotdot_rename.json", "message field fileOp.rename \"x/../../../root/.ssh/authorized_keys\": "
                           "climbs out of the tree with .."},
    {"dotdot_hlink.json",
     "message field fileOp.hlink \"../../etc/shadow\": climbs out of the tree with .."},
    {"control_relpath.json", "message field relPath \"a/b?c.txt\": holds a control character"},
    {"newline_source.json",
     "message field source \"bob?INFO forged log line\": holds a control character"},
    {"size_array.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_negative.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_words.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"identity_string.json", "message field identity: not an object {\"method\", \"value\"}"},
    {"identity_not_base64.json", "message field identity: sha512 value is not base64"},
    {"pubtime_iso.json", "message field pubTime \"2026-11-25T10:10:10Z\": not a time "
                         "(YYYYMMDDTHHMMSS[.fraction])"},
    {"mtime_number.json", "message field mtime: not a string"},
    {"mode_symbolic.json",
     "message field mode \"rwxr-xr-x\": not permission bits in octal (e.g. 644)"},
    {"fileop_empty.json", "message field fileOp: none of remove, directory, link, hlink, rename"},
    {"fileop_link_number.json", "message field fileOp.link: not a string"},
    {"content_utf16.json",
     "message field content.encoding \"utf-16\": not utf-8, base64, iso-8859-1 or gzip"},
    {"blocks_past_manifest.json", "message field blocks.number: 5 is past the manifest's 1 blocks"},
    /* a malformed blocks field names the message (its relPath) and the field */
    {"blocks_manifest_oversize.json",
     "message for \"a/big.bin\": message field blocks.manifest.1.size: 4096 is larger than "
     "blocks.size 1024"},
    {"blocks_no_size.json",
     "message for \"a/big.bin\": message field blocks.size: not a positive number of bytes"},
    {"blocks_method.json",
     "message for \"a/big.bin\": message field blocks.method: not \"inplace\" or "
     "\"partitioned\""},
    {"blocks_manifest_hole.json",
     "message for \"a/big.bin\": message field blocks.manifest.1: missing, or not "
     "{\"size\", \"identity\"}"},
    {"baseurl_no_scheme.json",
     "message field baseUrl \"example.com/data\": not a URL (scheme:...)"},
    {"relpath_slash_only.json", "message field relPath \"/\": names no file"},
    {"relpath_long_name.json", "a path component is longer than 255 bytes"},
    {"duplicate_key.json", "message body: not JSON: duplicate object key"},
    {"truncated.json", "message body: not JSON:"},
    {"array.json", "message body: JSON, but not an object"},
    {"nul_relpath.json", "message body: not JSON: \\u0000 is not allowed"},
    {"words.v02",
     "v02 message body \"20261125101010 https://e/\": not \"pubTime baseUrl relPath\""},
    {"parts_garbage.v02", "v02 message header parts \"1,twelve,1,0,0\": not 1,<size>,1,0,0 or "
                          "i|p,<block size>,<count>,<remainder>,<number>"},
    {"link_without_target.v02", "v02 message header sum \"L,...\": a link without a link header"},
    {"dotdot.v02", "message field relPath \"../../etc/passwd\": climbs out of the tree with .."},
    {"sum_letter.v02", "v02 message header sum: "},
    /* what sr refuses from other producers, naming the field (sr-message(7), FROM OTHER
     * IMPLEMENTATIONS) */
    {"relpath_empty.json", "message field relPath \"\": names no file"},
    {"fileop_rmdir.json", "message field fileOp: none of remove, directory, link, hlink, rename"},
    {"parts_short.json", "message field parts \"1,12\": not 1,<size>,1,0,0 or "
                         "i|p,<block size>,<count>,<remainder>,<number>"},
    {"parts_number.json", "message field parts: not a string"},
    {"mtime_dashes.json",
     "message field mtime \"2026-11-25\": not a time (YYYYMMDDTHHMMSS[.fraction])"},
    {"size_string_negative.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_string_underscore.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_string_space.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_string_plus.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_string_huge.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"size_string_hex.json", "message field size: not a number of bytes (an integer >= 0)"},
    {"words_extra.v02", "v02 message body \"20261125101010 https://e/ a/b extra\": not "
                        "\"pubTime baseUrl relPath\""},
    {"sum_not_hex.v02", "v02 message header sum: v02 sum \"s,zz\": sha512 needs 128 hex digits"},
    /* old sarrac sent v03 JSON as text/plain: read as v02, as sr3 reads it */
    {"v03_as_text_plain.v02", "\": not \"pubTime baseUrl relPath\""},
    {"parts_signed.v02", "v02 message header parts \"1,+12,1,0,0\": not 1,<size>,1,0,0"},
};

static void hostile_messages_are_refused_naming_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char relative[256];
        snprintf(relative, sizeof relative, "messages/bad/%s", bad[i].file);
        sr_message *m = (sr_message *)1;
        sr_err err = {0};
        int rc = decode_any(relative, &m, &err);
        if (rc != SR_EINVAL)
            fail_msg("%s: decoded (rc %d), expected the error %s", bad[i].file, rc, bad[i].error);
        assert_null(m);
        if (strstr(err.msg, bad[i].error) == NULL)
            fail_msg("%s: error \"%s\", expected it to hold \"%s\"", bad[i].file, err.msg,
                     bad[i].error);
    }
}

/* Every prefix of every golden message: refused or accepted, never a crash (ASan watches). */
static void truncations_never_crash(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        if (strstr(goldens[i].file, ".v02") != NULL) {
            /* v02 bodies cut short, in buffers of exactly their length, headers kept */
            v02_file f;
            read_v02(goldens[i].file, &f);
            for (size_t n = 0; n <= f.wire.body_len; n++) {
                char *copy = malloc(n ? n : 1);
                memcpy(copy, f.body, n);
                sr_wire w = f.wire;
                w.body = copy;
                w.body_len = n;
                sr_message *m = NULL;
                sr_err err;
                if (sr_message_decode(&w, &m, &err) == SR_OK)
                    sr_message_free(m);
                free(copy);
            }
            free(f.text);
            continue;
        }
        size_t len;
        char *body = slurp(goldens[i].file, &len);
        for (size_t n = 0; n < len; n++) {
            char *copy = malloc(n ? n : 1); /* exactly n bytes: no NUL for a reader to lean on */
            memcpy(copy, body, n);
            sr_wire w = {copy, n, NULL, "v03.x", NULL, 0};
            sr_message *m = NULL;
            sr_err err;
            if (sr_message_decode(&w, &m, &err) == SR_OK)
                sr_message_free(m);
            free(copy);
        }
        free(body);
    }
}

static void oversized_message_is_refused(void **state)
{
    (void)state;
    size_t n = SR_MSG_BODY_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    sr_wire w = {big, n, "application/json", NULL, NULL, 0};
    sr_message *m = NULL;
    sr_err err;
    assert_int_equal(sr_message_decode(&w, &m, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "longer than"));
    w.content_type = "text/plain";
    assert_int_equal(sr_message_decode(&w, &m, &err), SR_EINVAL);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_messages),
        cmocka_unit_test(v03_to_v02_as_sr3),
        cmocka_unit_test(v02_names_without_identity),
        cmocka_unit_test(v03_encoding_is_compact_json_with_content_type),
        cmocka_unit_test(format_detection),
        cmocka_unit_test(received_topic_is_kept_beside_the_fields),
        cmocka_unit_test(sizes_and_times),
        cmocka_unit_test(other_producers_forms),
        cmocka_unit_test(blocks_and_content),
        cmocka_unit_test(unknown_identity_method_passes_through),
        cmocka_unit_test(setters_check_like_the_decoder),
        cmocka_unit_test(v02_header_limit),
        cmocka_unit_test(hostile_messages_are_refused_naming_the_field),
        cmocka_unit_test(truncations_never_crash),
        cmocka_unit_test(oversized_message_is_refused),
    };
    return cmocka_run_group_tests_name("message", tests, NULL, NULL);
}
