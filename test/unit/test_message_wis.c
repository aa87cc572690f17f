/* SPDX-License-Identifier: GPL-2.0-only */
/* test_message_wis: WIS2 Notification Messages (WNM 1.0, sr-message(7) WIS2 NOTIFICATION
 * MESSAGES). The examples of the specification read field by field; every variant of
 * test/data/wis2/cases.tsv read or refused, naming the member; what sr reads written again
 * and read back the same; what sr posts (a new file, a relay, a move, a removal) written as
 * a WNM that sr reads. */
#include "unit.h"

#include <jansson.h>

#include "message.h"
#include "message_expect.h"

/* ---- helpers ---- */

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

/* Decode a body as a broker hands it over with that content type (NULL: none). */
static int decode_body(const char *body, size_t len, const char *content_type, sr_message **m,
                       sr_err *err)
{
    sr_wire w = {body, len, content_type, NULL, NULL, 0};
    return sr_message_decode(&w, m, err);
}

static sr_message *decode_file(const char *relative)
{
    size_t len;
    char *body = slurp(relative, &len);
    sr_message *m = NULL;
    sr_err err = {0};
    if (decode_body(body, len, "application/geo+json", &m, &err) != SR_OK)
        fail_msg("%s: %s", relative, err.msg);
    free(body);
    return m;
}

/* The message's fields as JSON (its v03 form), for comparing two messages as values. */
static json_t *fields_of(const sr_message *m)
{
    sr_encoded e;
    sr_err err;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    json_t *j = json_loadb(e.body, e.body_len, 0, NULL);
    assert_non_null(j);
    sr_encoded_fini(&e);
    return j;
}

/* m written as a WNM, parsed; the body itself into *body when asked (caller frees). */
static json_t *wnm_of(const sr_message *m, char **body)
{
    sr_encoded e;
    sr_err err = {0};
    int rc = sr_message_encode(m, SR_FORMAT_WIS, &e, &err);
    if (rc != SR_OK)
        fail_msg("encoding a WNM: %s", err.msg);
    assert_string_equal(e.content_type, "application/geo+json");
    assert_int_equal(e.header_count, 0);
    assert_null(strchr(e.body, '\n')); /* compact */
    json_t *j = json_loadb(e.body, e.body_len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    if (body != NULL)
        *body = strdup(e.body);
    sr_encoded_fini(&e);
    return j;
}

static void expect_json(const sr_message *m, const char *field, const char *want_text)
{
    json_t *all = fields_of(m);
    json_t *got = json_object_get(all, field);
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (got == NULL || !json_equal(got, want)) {
        char *text = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        fail_msg("%s is %s, expected %s", field, text ? text : "(absent)", want_text);
    }
    json_decref(want);
    json_decref(all);
}

static bool is_uuid4(const char *s)
{
    if (s == NULL || strlen(s) != 36 || s[14] != '4' || strchr("89ab", s[19]) == NULL)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdef", s[i]) == NULL)
            return false;
    }
    return true;
}

/* ---- the examples of the specification ---- */

static void example_point_with_content(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/example1-point-content.json");
    expect_str(m, "pubTime", "20220320T045018");
    expect_str(m, "baseUrl", "https://example.org");
    expect_str(m, "relPath", "data/4Pubsub/92c557ef-d28e-4713-91af-2e2e7be6f8ab.bufr4");
    expect_str(m, "retrievePath", NULL);
    expect_str(m, "contentType", "application/bufr");
    expect_str(m, "datetime", "2022-03-20T04:45:00Z");
    expect_str(m, "metadata_id", "urn:wmo:md:ca-eccc-msc:observations.swob");
    expect_str(m, "data_id",
               "ca-eccc-msc/data/core/weather/surface-based-observations/synop/"
               "UANT01_CWAO_200445___15103.bufr4");
    expect_str(m, "id", "31e9d66a-cd83-4174-9429-b932f1abe1be");
    long long size;
    assert_false(sr_message_size(m, &size)); /* the link has no length */
    sr_identity id;
    assert_true(sr_message_identity(m, &id));
    assert_int_equal(id.method, SR_ID_SHA512);
    assert_true(sr_identity_value_valid(SR_ID_SHA512, id.value));
    sr_content c;
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.encoding, "utf-8");
    assert_string_equal(c.value, "encoded bytes from the file");
    expect_json(m, "content",
                "{\"encoding\": \"utf-8\", \"value\": \"encoded bytes from the file\"}");
    expect_json(m, "geometry",
                "{\"type\": \"Point\", \"coordinates\": [6.146255135536194, 46.223296618227444]}");
    expect_json(m, "conformsTo", "[\"http://wis.wmo.int/spec/wnm/1/conf/core\"]");
    sr_fileop op;
    assert_false(sr_message_fileop(m, &op));
    char *url = sr_message_url(m);
    assert_string_equal(
        url, "https://example.org/data/4Pubsub/92c557ef-d28e-4713-91af-2e2e7be6f8ab.bufr4");
    free(url);
    /* the second link (an item of an API) is kept, not followed */
    json_t *all = fields_of(m);
    assert_int_equal(json_array_size(json_object_get(all, "links")), 2);
    assert_null(json_object_get(all, "properties")); /* properties are fields of their own */
    assert_null(json_object_get(all, "pubtime"));
    assert_null(json_object_get(all, "type"));
    json_decref(all);
    sr_message_free(m);
}

static void example_polygon_with_span(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/example2-polygon-span.json");
    /* every fraction digit kept: back to RFC 3339 it is the same text */
    expect_str(m, "pubTime", "20220320T045018.314854383");
    expect_str(m, "start_datetime", "2022-03-20T00:06:00Z");
    expect_str(m, "end_datetime", "2022-03-20T00:12:00Z");
    expect_str(m, "datetime", NULL);
    expect_str(m, "relPath", "data/nwp/92c557ef-d28e-4713-91af-2e2e7be6f8ab.grib2");
    expect_str(m, "contentType", "application/x-grib2");
    long long size;
    assert_true(sr_message_size(m, &size));
    assert_int_equal(size, 1048576);
    sr_content c;
    assert_false(sr_message_content(m, &c));
    json_t *all = fields_of(m);
    json_t *ring =
        json_array_get(json_object_get(json_object_get(all, "geometry"), "coordinates"), 0);
    assert_int_equal(json_array_size(ring), 5);
    json_decref(all);
    sr_message_free(m);
}

static void example_null_geometry(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/example3-null-geometry.json");
    expect_str(m, "pubTime", "20221120T164037");
    expect_str(m, "relPath", "92c557ef-d28e-4713-91af-2e2e7be6f8ab.txt");
    expect_json(m, "geometry", "null");
    sr_identity id;
    assert_false(sr_message_identity(m, &id));
    sr_message_free(m);
}

static void example_deletion(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/example4-deletion.json");
    sr_fileop op;
    assert_true(sr_message_fileop(m, &op));
    assert_true(op.remove);
    assert_false(op.directory);
    assert_null(op.rename);
    expect_str(m, "relPath", "data/UANT01_CWAO_200445___15103.bufr4");
    expect_str(m, "pubTime", "20230320T045018.314854383");
    sr_message_free(m);
}

/* ---- every case of cases.tsv: read, or refused naming the member ---- */

typedef struct wnm_case {
    char file[128], sr[128], schema[16];
} wnm_case;

static size_t read_cases(wnm_case *cases, size_t max)
{
    size_t len, n = 0;
    char *text = slurp("wis2/cases.tsv", &len);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        assert_true(n < max);
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        char *tab3 = tab2 ? strchr(tab2 + 1, '\t') : NULL;
        if (tab3 == NULL)
            fail_msg("cases.tsv: not four columns: %s", line);
        snprintf(cases[n].file, sizeof cases[n].file, "wis2/%.*s", (int)(tab1 - line), line);
        snprintf(cases[n].sr, sizeof cases[n].sr, "%.*s", (int)(tab2 - tab1 - 1), tab1 + 1);
        snprintf(cases[n].schema, sizeof cases[n].schema, "%.*s", (int)(tab3 - tab2 - 1), tab2 + 1);
        n++;
    }
    free(text);
    return n;
}

static void every_case_read_or_refused_naming_the_member(void **state)
{
    (void)state;
    wnm_case cases[128];
    size_t n = read_cases(cases, 128), refused = 0;
    assert_true(n >= 60);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *body = slurp(cases[i].file, &len);
        sr_message *m = NULL;
        sr_err err = {0};
        /* as MQTT 3.1.1 brings it: no content type */
        int rc = decode_body(body, len, NULL, &m, &err);
        if (strcmp(cases[i].sr, "ok") == 0) {
            if (rc != SR_OK)
                fail_msg("%s: refused: %s", cases[i].file, err.msg);
            sr_message_free(m);
        } else {
            char want[160];
            snprintf(want, sizeof want, "WNM %s: ", cases[i].sr);
            if (rc == SR_OK)
                fail_msg("%s: read, expected refused naming %s", cases[i].file, cases[i].sr);
            assert_int_equal(rc, SR_EINVAL);
            assert_null(m);
            if (strncmp(err.msg, want, strlen(want)) != 0)
                fail_msg("%s: \"%s\", expected it to start with \"%s\"", cases[i].file, err.msg,
                         want);
            refused++;
        }
        free(body);
    }
    assert_true(refused >= 40);
}

/* A few errors in full: what an operator reads in the log. */
static void errors_say_what_is_wrong(void **state)
{
    (void)state;
    struct {
        const char *file, *msg;
    } want[] = {
        {"wis2/bad/integrity-md4.json",
         "WNM properties.integrity.method: \"md4\" is not one of sha256, sha384, sha512, "
         "sha3-256, sha3-384, sha3-512"},
        {"wis2/bad/content-size-5000.json",
         "WNM properties.content.size: 5000 is not a size of 0 to 4096 bytes"},
        {"wis2/bad/links-empty.json", "WNM links: empty (one link or more is needed)"},
        {"wis2/bad/link-file.json",
         "WNM links[0].href: \"file:///etc/passwd\": a link is http, https, ftp or sftp"},
        {"wis2/bad/relpath-dotdot.json",
         "WNM links[0].href: message field relPath \"data/../../etc/passwd\": climbs out of the "
         "tree with .."},
        {"wis2/bad/property-relPath.json",
         "WNM properties.relPath: a property may not be named as one of sr's own fields"},
        {"wis2/bad/datetime-and-span.json",
         "WNM properties: both datetime and start_datetime/end_datetime (one or the other)"},
        {"wis2/bad/pubtime-v03.json",
         "WNM properties.pubtime: \"20221120T164037\" is not an RFC 3339 time in UTC "
         "(YYYY-MM-DDTHH:MM:SS[.f]Z)"},
        {"wis2/bad/missing-links.json", "WNM links: missing"},
        {"wis2/bad/type-not-feature.json", "WNM type: \"FeatureCollection\" is not \"Feature\""},
        {"wis2/bad/content-size-wrong.json",
         "WNM properties.content.size: 457, but the value holds 27 bytes"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t len;
        char *body = slurp(want[i].file, &len);
        sr_message *m = NULL;
        sr_err err = {0};
        assert_int_equal(decode_body(body, len, "application/json", &m, &err), SR_EINVAL);
        if (strcmp(err.msg, want[i].msg) != 0)
            fail_msg("%s: \"%s\", expected \"%s\"", want[i].file, err.msg, want[i].msg);
        free(body);
    }
}

/* ---- round trips ---- */

/* Files whose WNM sr writes in another (equivalent) spelling: pubtime's +00:00 becomes Z,
 * the short rel deletion the long one. */
static bool rewritten(const char *file)
{
    return strstr(file, "pubtime-offset") != NULL || strstr(file, "link-deletion-short") != NULL;
}

static void round_trips_keep_every_field(void **state)
{
    (void)state;
    wnm_case cases[128];
    size_t n = read_cases(cases, 128), trips = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cases[i].sr, "ok") != 0)
            continue;
        size_t len;
        char *body = slurp(cases[i].file, &len);
        sr_message *first = decode_file(cases[i].file), *second = NULL;
        char *written = NULL;
        json_t *out = wnm_of(first, &written);
        sr_err err = {0};
        if (decode_body(written, strlen(written), "application/geo+json", &second, &err) != SR_OK)
            fail_msg("%s: sr refuses what it wrote: %s\n%s", cases[i].file, err.msg, written);
        /* decode -> encode -> decode: the same message (but for the rel written long) */
        json_t *a = fields_of(first), *b = fields_of(second);
        if (rewritten(cases[i].file)) {
            json_object_del(a, "links");
            json_object_del(b, "links");
        }
        if (!json_equal(a, b)) {
            char *ta = json_dumps(a, JSON_COMPACT), *tb = json_dumps(b, JSON_COMPACT);
            fail_msg("%s: read back differently:\n%s\n%s", cases[i].file, ta, tb);
        }
        /* the body: the same WNM, id included (its link is unchanged: a relay) */
        json_t *in = json_loadb(body, len, 0, NULL);
        assert_non_null(in);
        if (!rewritten(cases[i].file) && !json_equal(in, out)) {
            char *ti = json_dumps(in, JSON_COMPACT);
            fail_msg("%s: written differently:\n%s\n%s", cases[i].file, ti, written);
        }
        assert_string_equal(json_string_value(json_object_get(out, "id")),
                            json_string_value(json_object_get(in, "id")));
        json_decref(in);
        json_decref(a);
        json_decref(b);
        json_decref(out);
        free(written);
        free(body);
        sr_message_free(first);
        sr_message_free(second);
        trips++;
    }
    assert_true(trips >= 20);
}

/* What sr rebuilds (a field changed since it was read) it writes in WNM 1.0's long rels
 * and with Z times; a WNM relayed unchanged goes out as it came, but for a short rel. */
static void short_rels_are_written_long(void **state)
{
    (void)state;
    static const struct {
        const char *file, *member, *as_read, *rebuilt;
    } cases[] = {
        {"wis2/good/link-deletion-short.json", "rel", "http://def.wmo.int/def/rel/wnm/-/deletion",
         "http://def.wmo.int/def/rel/wnm/-/deletion"},
        {"wis2/good/link-update.json", "rel", NULL, "http://def.wmo.int/def/rel/wnm/-/update"},
        {"wis2/good/pubtime-offset.json", "pubtime", NULL, "2022-11-20T16:40:37.5Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_message *m = decode_file(cases[i].file);
        json_t *in = json_load_file(test_data(cases[i].file), 0, NULL);
        assert_non_null(in);
        for (int rebuilt = 0; rebuilt < 2; rebuilt++) {
            sr_err err;
            /* source is one of sr's own fields: no WNM carries it, but setting it is a
             * change, after which the WNM is rebuilt from the fields */
            if (rebuilt)
                assert_int_equal(sr_message_set_str(m, "source", "x", &err), SR_OK);
            json_t *out = wnm_of(m, NULL);
            const json_t *where = strcmp(cases[i].member, "rel") == 0
                                      ? json_array_get(json_object_get(out, "links"), 0)
                                      : json_object_get(out, "properties");
            const char *got = json_string_value(json_object_get(where, cases[i].member));
            if (rebuilt)
                assert_string_equal(got, cases[i].rebuilt);
            else if (cases[i].as_read != NULL)
                assert_string_equal(got, cases[i].as_read);
            else
                assert_true(json_equal(out, in)); /* as it came */
            json_decref(out);
        }
        json_decref(in);
        sr_message_free(m);
    }
    sr_message *m = decode_file("wis2/good/pubtime-offset.json");
    expect_str(m, "pubTime", "20221120T164037.5");
    sr_message_free(m);
}

/* ---- links: paths, queries, schemes ---- */

static void links_map_to_sr_paths(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/good/link-query.json");
    expect_str(m, "baseUrl", "https://example.org");
    expect_str(m, "relPath", "oapi/items/obs.txt");
    expect_str(m, "retrievePath", "/oapi/items/obs.txt?f=csv&lang=en");
    sr_message_free(m);

    m = decode_file("wis2/good/link-escaped.json");
    expect_str(m, "relPath", "data/a b+c.txt"); /* decoded: the file's name in the tree */
    json_t *out = wnm_of(m, NULL);
    /* written as it came, byte for byte */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "links"), 0), "href")),
                        "https://example.org/data/a%20b%2Bc.txt");
    json_decref(out);
    sr_message_free(m);

    m = decode_file("wis2/good/link-ftp.json");
    expect_str(m, "baseUrl", "ftp://example.org");
    expect_str(m, "relPath", "pub/obs/a.txt");
    sr_message_free(m);
    m = decode_file("wis2/good/link-sftp.json");
    expect_str(m, "baseUrl", "sftp://example.org");
    sr_message_free(m);

    m = decode_file("wis2/good/link-length.json");
    long long size;
    assert_true(sr_message_size(m, &size));
    assert_int_equal(size, 12);
    expect_str(m, "contentType", "text/plain");
    sr_message_free(m);
}

/* ---- content and integrity ---- */

static void content_and_integrity(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/good/content-base64.json");
    sr_content c;
    assert_true(sr_message_content(m, &c));
    assert_string_equal(c.encoding, "base64");
    sr_identity id;
    assert_true(sr_message_identity(m, &id));
    assert_int_equal(id.method, SR_ID_SHA256);
    expect_json(m, "identity",
                "{\"method\": \"sha256\", \"value\": "
                "\"QK/y6dLYki5Hr9RkjmlnSXFYeF+9Hahw5xECZr+USIA=\"}");
    sr_message_free(m);

    /* gzip: kept and written again, but sr writes no file from it (no zlib): fetched */
    m = decode_file("wis2/good/content-gzip.json");
    assert_false(sr_message_content(m, &c));
    json_t *all = fields_of(m);
    json_t *content = json_object_get(all, "content");
    assert_string_equal(json_string_value(json_object_get(content, "encoding")), "gzip");
    assert_int_equal(json_integer_value(json_object_get(content, "size")), 240);
    json_decref(all);
    json_t *out = wnm_of(m, NULL);
    content = json_object_get(json_object_get(out, "properties"), "content");
    assert_int_equal(json_integer_value(json_object_get(content, "size")), 240);
    json_decref(out);
    sr_message_free(m);

    const char *methods[][2] = {{"sha384", "integrity-sha384"},
                                {"sha3-256", "integrity-sha3-256"},
                                {"sha3-384", "integrity-sha3-384"},
                                {"sha3-512", "integrity-sha3-512"}};
    for (size_t i = 0; i < 4; i++) {
        char file[64];
        snprintf(file, sizeof file, "wis2/good/%s.json", methods[i][1]);
        m = decode_file(file);
        assert_true(sr_message_identity(m, &id));
        assert_string_equal(sr_identity_method_name(id.method), methods[i][0]);
        sr_message_free(m);
    }
}

/* ---- what sr posts ---- */

static sr_message *new_post(void)
{
    sr_message *m = NULL;
    sr_err err = {0};
    assert_int_equal(sr_message_new("20261206T230001.25", "https://node.example.net/data",
                                    "obs/a b#1.txt", &m, &err),
                     SR_OK);
    assert_int_equal(sr_message_set_size(m, 12, &err), SR_OK);
    sr_identity id = {.method = SR_ID_SHA256,
                      .value = "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc="};
    assert_int_equal(sr_message_set_identity(m, &id, &err), SR_OK);
    assert_int_equal(sr_message_set_str(m, "mtime", "20261206T225959.5", &err), SR_OK);
    assert_int_equal(sr_message_set_str(m, "mode", "644", &err), SR_OK);
    assert_int_equal(sr_message_set_str(m, "source", "bob", &err), SR_OK);
    assert_int_equal(
        sr_message_set_str(m, "data_id", "xy-nmhs/data/core/weather/obs/a b#1.txt", &err), SR_OK);
    assert_int_equal(sr_message_set_str(m, "metadata_id", "urn:wmo:md:xy-nmhs:obs", &err), SR_OK);
    return m;
}

static void a_new_post_becomes_a_wnm(void **state)
{
    (void)state;
    sr_message *m = new_post();
    char *body = NULL;
    json_t *out = wnm_of(m, &body);
    assert_true(is_uuid4(json_string_value(json_object_get(out, "id"))));
    json_t *want = json_loads(
        "{\"conformsTo\": [\"http://wis.wmo.int/spec/wnm/1/conf/core\"], \"type\": \"Feature\","
        " \"geometry\": null,"
        " \"properties\": {\"pubtime\": \"2026-12-06T23:00:01.25Z\","
        "   \"data_id\": \"xy-nmhs/data/core/weather/obs/a b#1.txt\","
        "   \"metadata_id\": \"urn:wmo:md:xy-nmhs:obs\","
        "   \"datetime\": \"2026-12-06T22:59:59.5Z\","
        "   \"integrity\": {\"method\": \"sha256\","
        "                   \"value\": \"qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc=\"}},"
        " \"links\": [{\"href\": \"https://node.example.net/data/obs/a%20b%231.txt\","
        "              \"rel\": \"canonical\", \"length\": 12}]}",
        0, NULL);
    assert_non_null(want);
    json_object_del(out, "id");
    if (!json_equal(out, want))
        fail_msg("written:\n%s", body);
    /* what sr wrote, sr reads: the same file from the same URL */
    sr_message *back = NULL;
    sr_err err = {0};
    assert_int_equal(decode_body(body, strlen(body), "application/geo+json", &back, &err), SR_OK);
    char *u1 = sr_message_url(m), *u2 = sr_message_url(back);
    assert_string_equal(u1, "https://node.example.net/data/obs/a b#1.txt");
    assert_string_equal(u2, u1);
    expect_str(back, "relPath", "data/obs/a b#1.txt");
    sr_identity a, b;
    assert_true(sr_message_identity(m, &a));
    assert_true(sr_message_identity(back, &b));
    assert_true(sr_identity_equal(&a, &b));
    free(u1);
    free(u2);
    /* two posts of one file are two notifications: two ids */
    json_t *again = wnm_of(m, NULL);
    assert_true(is_uuid4(json_string_value(json_object_get(again, "id"))));
    assert_string_not_equal(json_string_value(json_object_get(again, "id")),
                            sr_message_str(back, "id"));
    json_decref(again);
    json_decref(want);
    json_decref(out);
    free(body);
    sr_message_free(back);
    sr_message_free(m);
}

static void data_id_and_metadata_id_are_needed(void **state)
{
    (void)state;
    const char *fields[] = {"data_id", "metadata_id"};
    for (size_t i = 0; i < 2; i++) {
        sr_message *m = new_post();
        sr_message_remove(m, fields[i]);
        sr_encoded e;
        sr_err err = {0};
        assert_int_equal(sr_message_encode(m, SR_FORMAT_WIS, &e, &err), SR_EINVAL);
        char want[160];
        snprintf(want, sizeof want,
                 "post_format wis: message field %s: missing or not a string (a WNM needs one)",
                 fields[i]);
        assert_string_equal(err.msg, want);
        assert_null(e.body);
        sr_message_free(m);
    }
}

/* A relay keeps the id (WIS2's loop detection); a file announced from a new place (a
 * Global Cache's copy) is a new notification with a new id, its other links kept. */
static void relays_keep_the_id_new_places_get_a_new_one(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/example1-point-content.json");
    json_t *out = wnm_of(m, NULL);
    assert_string_equal(json_string_value(json_object_get(out, "id")),
                        "31e9d66a-cd83-4174-9429-b932f1abe1be");
    json_decref(out);

    sr_err err = {0};
    assert_int_equal(sr_message_set_str(m, "baseUrl", "https://cache.example.net/xy/", &err),
                     SR_OK);
    out = wnm_of(m, NULL);
    const char *id = json_string_value(json_object_get(out, "id"));
    assert_true(is_uuid4(id));
    assert_string_not_equal(id, "31e9d66a-cd83-4174-9429-b932f1abe1be");
    json_t *links = json_object_get(out, "links");
    assert_int_equal(json_array_size(links), 2);
    json_t *first = json_array_get(links, 0);
    assert_string_equal(json_string_value(json_object_get(first, "href")),
                        "https://cache.example.net/xy/data/4Pubsub/"
                        "92c557ef-d28e-4713-91af-2e2e7be6f8ab.bufr4");
    assert_string_equal(json_string_value(json_object_get(first, "rel")), "canonical");
    assert_string_equal(json_string_value(json_object_get(first, "type")), "application/bufr");
    assert_string_equal(json_string_value(json_object_get(json_array_get(links, 1), "href")),
                        "https://example.org/oapi/collections/my-dataset/items/my-data-granule");
    /* the data's own identifiers travel on */
    json_t *props = json_object_get(out, "properties");
    assert_string_equal(json_string_value(json_object_get(props, "metadata_id")),
                        "urn:wmo:md:ca-eccc-msc:observations.swob");
    assert_string_equal(json_string_value(json_object_get(props, "datetime")),
                        "2022-03-20T04:45:00Z");
    json_decref(out);
    sr_message_free(m);

    /* the same file, but now removed: a new notification */
    m = decode_file("wis2/example3-null-geometry.json");
    sr_fileop op = {.remove = true};
    assert_int_equal(sr_message_set_fileop(m, &op, &err), SR_OK);
    out = wnm_of(m, NULL);
    assert_true(is_uuid4(json_string_value(json_object_get(out, "id"))));
    json_t *link = json_array_get(json_object_get(out, "links"), 0);
    assert_string_equal(json_string_value(json_object_get(link, "rel")),
                        "http://def.wmo.int/def/rel/wnm/-/deletion");
    assert_string_equal(json_string_value(json_object_get(link, "href")),
                        "https://example.org/92c557ef-d28e-4713-91af-2e2e7be6f8ab.txt");
    json_decref(out);
    sr_message_free(m);
}

static void file_operations(void **state)
{
    (void)state;
    sr_err err = {0};
    /* a removal is a deletion */
    sr_message *m = new_post();
    sr_fileop op = {.remove = true};
    assert_int_equal(sr_message_set_fileop(m, &op, &err), SR_OK);
    json_t *out = wnm_of(m, NULL);
    json_t *link = json_array_get(json_object_get(out, "links"), 0);
    assert_string_equal(json_string_value(json_object_get(link, "rel")),
                        "http://def.wmo.int/def/rel/wnm/-/deletion");
    json_decref(out);
    sr_message_free(m);

    /* a rename announces the new name */
    m = new_post();
    op = (sr_fileop){.rename = "obs/old.txt"};
    assert_int_equal(sr_message_set_fileop(m, &op, &err), SR_OK);
    out = wnm_of(m, NULL);
    link = json_array_get(json_object_get(out, "links"), 0);
    assert_string_equal(json_string_value(json_object_get(link, "rel")), "canonical");
    assert_string_equal(json_string_value(json_object_get(link, "href")),
                        "https://node.example.net/data/obs/a%20b%231.txt");
    json_decref(out);
    sr_message_free(m);

    /* folders and links have no WNM */
    const sr_fileop refused[] = {{.directory = true},
                                 {.link = "target"},
                                 {.hlink = "obs/b.txt"},
                                 {.remove = true, .directory = true}};
    const char *names[] = {"folder", "symbolic link", "hard link", "folder"};
    for (size_t i = 0; i < 4; i++) {
        m = new_post();
        assert_int_equal(sr_message_set_fileop(m, &refused[i], &err), SR_OK);
        sr_encoded e;
        assert_int_equal(sr_message_encode(m, SR_FORMAT_WIS, &e, &err), SR_EINVAL);
        char want[160];
        snprintf(want, sizeof want,
                 "post_format wis: message field fileOp: a %s has no WNM (files and removals "
                 "only)",
                 names[i]);
        assert_string_equal(err.msg, want);
        sr_message_free(m);
    }
}

static void content_within_wnm_limits(void **state)
{
    (void)state;
    sr_err err = {0};
    sr_message *m = new_post();
    sr_content c = {"utf-8", "hello world\n"};
    assert_int_equal(sr_message_set_content(m, &c, &err), SR_OK);
    json_t *out = wnm_of(m, NULL);
    json_t *content = json_object_get(json_object_get(out, "properties"), "content");
    assert_string_equal(json_string_value(json_object_get(content, "encoding")), "utf-8");
    assert_int_equal(json_integer_value(json_object_get(content, "size")), 12);
    json_decref(out);

    /* 4096 bytes are 5464 base64 characters, past WNM's 4096: the file is fetched */
    char *big = malloc(5465);
    assert_non_null(big);
    memset(big, 'A', 5464);
    big[5464] = '\0';
    c = (sr_content){"base64", big};
    assert_int_equal(sr_message_set_content(m, &c, &err), SR_OK);
    out = wnm_of(m, NULL);
    assert_null(json_object_get(json_object_get(out, "properties"), "content"));
    json_decref(out);
    free(big);

    /* WNM has no iso-8859-1: left out too */
    c = (sr_content){"iso-8859-1", "caf\xc3\xa9"};
    assert_int_equal(sr_message_set_content(m, &c, &err), SR_OK);
    out = wnm_of(m, NULL);
    assert_null(json_object_get(json_object_get(out, "properties"), "content"));
    json_decref(out);
    sr_message_free(m);
}

/* What sr cannot write as a WNM is refused naming the member, as on receipt. */
static void encoding_checks_like_decoding(void **state)
{
    (void)state;
    sr_err err = {0};
    sr_message *m = new_post();
    assert_int_equal(sr_message_set_json(m, "geometry", "{\"type\": \"Circle\", \"r\": 5}", &err),
                     SR_OK);
    sr_encoded e;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_WIS, &e, &err), SR_EINVAL);
    assert_string_equal(err.msg,
                        "post_format wis: WNM geometry.type: \"Circle\" is not Point or Polygon");
    sr_message_remove(m, "geometry");
    assert_int_equal(sr_message_set_json(m, "cache", "\"yes\"", &err), SR_OK);
    assert_int_equal(sr_message_encode(m, SR_FORMAT_WIS, &e, &err), SR_EINVAL);
    assert_string_equal(err.msg, "post_format wis: WNM properties.cache: not true or false");
    sr_message_remove(m, "cache");
    /* md5 is no WNM method: the integrity is left out, the post goes */
    sr_identity md5 = {.method = SR_ID_MD5, .value = "b1kCrCNwJL3QwXbLkwY9xA=="};
    assert_int_equal(sr_message_set_identity(m, &md5, &err), SR_OK);
    json_t *out = wnm_of(m, NULL);
    assert_null(json_object_get(json_object_get(out, "properties"), "integrity"));
    json_decref(out);
    sr_message_free(m);
}

/* Through the retry queue a WNM's message travels as v03: it comes back the same, and
 * still makes the same WNM. */
static void v03_form_of_a_wnm_is_v03(void **state)
{
    (void)state;
    sr_message *m = decode_file("wis2/example2-polygon-span.json");
    sr_encoded e;
    sr_err err = {0};
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    sr_message *back = NULL;
    assert_int_equal(sr_message_decode_v03(e.body, e.body_len, &back, &err), SR_OK);
    json_t *a = fields_of(m), *b = fields_of(back);
    assert_true(json_equal(a, b));
    json_t *w1 = wnm_of(m, NULL), *w2 = wnm_of(back, NULL);
    assert_true(json_equal(w1, w2));
    json_decref(w1);
    json_decref(w2);
    json_decref(a);
    json_decref(b);
    sr_encoded_fini(&e);
    sr_message_free(back);

    /* v02 has no letter for sha256: such a file is sent named by its name, as sr3 does
     * for a message with no identity */
    sr_message *post = new_post();
    assert_int_equal(sr_message_encode(post, SR_FORMAT_V02, &e, &err), SR_OK);
    bool found = false;
    for (size_t i = 0; i < e.header_count; i++)
        if (strcmp(e.headers[i].name, "sum") == 0) {
            assert_true(strncmp(e.headers[i].value, "n,", 2) == 0);
            found = true;
        }
    assert_true(found);
    sr_encoded_fini(&e);
    sr_message_free(post);
    sr_message_free(m);
}

/* How a WNM comes: application/geo+json, application/json or nothing. */
static void content_types(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("wis2/example3-null-geometry.json", &len);
    const char *types[] = {"application/geo+json", "application/json", NULL};
    for (size_t i = 0; i < 3; i++) {
        sr_message *m = NULL;
        sr_err err = {0};
        assert_int_equal(decode_body(body, len, types[i], &m, &err), SR_OK);
        expect_str(m, "pubTime", "20221120T164037");
        sr_message_free(m);
    }
    /* text/plain is v02: a JSON body there is refused, as for v03 */
    sr_message *m = NULL;
    sr_err err = {0};
    assert_int_equal(decode_body(body, len, "text/plain", &m, &err), SR_EINVAL);
    free(body);

    /* v03 with a user's fields named as a Feature's stays v03 (its pubTime says so) */
    const char *v03 = "{\"pubTime\": \"20261125T101016\", \"baseUrl\": \"https://e/\", "
                      "\"relPath\": \"a\", \"type\": \"Feature\", \"properties\": {}}";
    assert_int_equal(decode_body(v03, strlen(v03), "application/json", &m, &err), SR_OK);
    expect_str(m, "type", "Feature");
    sr_message_free(m);
}

/* Every prefix of a WNM is refused cleanly (the fuzzers' cheap cousin). */
static void truncations_never_crash(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("wis2/example1-point-content.json", &len);
    for (size_t n = 0; n < len; n++) {
        sr_message *m = NULL;
        sr_err err = {0};
        int rc = decode_body(body, n, NULL, &m, &err);
        if (rc == SR_OK)
            sr_message_free(m);
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_point_with_content),
        cmocka_unit_test(example_polygon_with_span),
        cmocka_unit_test(example_null_geometry),
        cmocka_unit_test(example_deletion),
        cmocka_unit_test(every_case_read_or_refused_naming_the_member),
        cmocka_unit_test(errors_say_what_is_wrong),
        cmocka_unit_test(round_trips_keep_every_field),
        cmocka_unit_test(short_rels_are_written_long),
        cmocka_unit_test(links_map_to_sr_paths),
        cmocka_unit_test(content_and_integrity),
        cmocka_unit_test(a_new_post_becomes_a_wnm),
        cmocka_unit_test(data_id_and_metadata_id_are_needed),
        cmocka_unit_test(relays_keep_the_id_new_places_get_a_new_one),
        cmocka_unit_test(file_operations),
        cmocka_unit_test(content_within_wnm_limits),
        cmocka_unit_test(encoding_checks_like_decoding),
        cmocka_unit_test(v03_form_of_a_wnm_is_v03),
        cmocka_unit_test(content_types),
        cmocka_unit_test(truncations_never_crash),
    };
    return cmocka_run_group_tests_name("message_wis", tests, NULL, NULL);
}
