/* SPDX-License-Identifier: GPL-2.0-only */
/* test_brokerhdr: a broker's headers made into text, every AMQP field kind and MQTT 5 user
 * properties, always bounded: the decimal that used to read past its buffer, nesting past
 * the limit, values and names longer than the decoder takes, NUL bytes; and the v02
 * decoder refusing what was cut, naming the header. */
#include "unit.h"

#include <mqtt_protocol.h>

#include "brokerhdr_impl.h"
#include "message.h"

/* ---- building AMQP values ---- */

static amqp_field_value_t kind(uint8_t k)
{
    amqp_field_value_t v;
    memset(&v, 0, sizeof v);
    v.kind = k;
    return v;
}

static amqp_field_value_t str(const char *s)
{
    amqp_field_value_t v = kind(AMQP_FIELD_KIND_UTF8);
    v.value.bytes = amqp_cstring_bytes(s);
    return v;
}

static amqp_field_value_t bytes(const void *s, size_t len)
{
    amqp_field_value_t v = kind(AMQP_FIELD_KIND_BYTES);
    v.value.bytes = (amqp_bytes_t){len, (void *)s};
    return v;
}

static amqp_field_value_t decimal(uint32_t value, uint8_t scale)
{
    amqp_field_value_t v = kind(AMQP_FIELD_KIND_DECIMAL);
    v.value.decimal.value = value;
    v.value.decimal.decimals = scale;
    return v;
}

static amqp_field_value_t array(amqp_field_value_t *entries, int n)
{
    amqp_field_value_t v = kind(AMQP_FIELD_KIND_ARRAY);
    v.value.array = (amqp_array_t){n, entries};
    return v;
}

static amqp_field_value_t table(amqp_table_entry_t *entries, int n)
{
    amqp_field_value_t v = kind(AMQP_FIELD_KIND_TABLE);
    v.value.table = (amqp_table_t){n, entries};
    return v;
}

/* The text of v, checked to be what the function says its length is. */
static char *text_of(const amqp_field_value_t *v, bool *nul)
{
    static char buf[4096];
    size_t n = sr_brokerhdr__amqp_value(v, buf, sizeof buf, nul);
    assert_true(n < sizeof buf);
    if (nul == NULL || !*nul)
        assert_int_equal(strlen(buf), n);
    return buf;
}

static void expect_text(amqp_field_value_t v, const char *want)
{
    bool nul = true;
    assert_string_equal(text_of(&v, &nul), want);
    assert_false(nul);
}

/* ---- each kind ---- */

static void every_kind_as_text(void **state)
{
    (void)state;
    expect_text(str("d,6f5902ac237024bdd0c176cb93063dc4"), "d,6f5902ac237024bdd0c176cb93063dc4");
    expect_text(bytes("raw", 3), "raw");
    expect_text(str(""), "");

    amqp_field_value_t v = kind(AMQP_FIELD_KIND_BOOLEAN);
    v.value.boolean = 1;
    expect_text(v, "true");
    v.value.boolean = 0;
    expect_text(v, "false");

    v = kind(AMQP_FIELD_KIND_I8);
    v.value.i8 = INT8_MIN;
    expect_text(v, "-128");
    v = kind(AMQP_FIELD_KIND_U8);
    v.value.u8 = UINT8_MAX;
    expect_text(v, "255");
    v = kind(AMQP_FIELD_KIND_I16);
    v.value.i16 = INT16_MIN;
    expect_text(v, "-32768");
    v = kind(AMQP_FIELD_KIND_U16);
    v.value.u16 = UINT16_MAX;
    expect_text(v, "65535");
    v = kind(AMQP_FIELD_KIND_I32);
    v.value.i32 = INT32_MIN;
    expect_text(v, "-2147483648");
    v = kind(AMQP_FIELD_KIND_U32);
    v.value.u32 = UINT32_MAX;
    expect_text(v, "4294967295");
    v = kind(AMQP_FIELD_KIND_I64);
    v.value.i64 = INT64_MIN;
    expect_text(v, "-9223372036854775808");
    v = kind(AMQP_FIELD_KIND_U64);
    v.value.u64 = UINT64_MAX;
    expect_text(v, "18446744073709551615");
    v = kind(AMQP_FIELD_KIND_TIMESTAMP);
    v.value.u64 = 1795564800;
    expect_text(v, "1795564800");

    v = kind(AMQP_FIELD_KIND_F32);
    v.value.f32 = 1.5f;
    expect_text(v, "1.5");
    v.value.f32 = -3.40282347e38f;
    expect_text(v, "-3.40282347e+38");
    v = kind(AMQP_FIELD_KIND_F64);
    v.value.f64 = 0.1;
    expect_text(v, "0.10000000000000001");
    v.value.f64 = -2.2250738585072014e-308;
    expect_text(v, "-2.2250738585072014e-308");

    expect_text(decimal(12345, 2), "123.45");
    expect_text(decimal(5, 3), "0.005");
    expect_text(decimal(42, 0), "42");
    expect_text(decimal(0, 1), "0.0");
    expect_text(decimal(123, 3), "0.123");

    expect_text(kind(AMQP_FIELD_KIND_VOID), "");

    amqp_field_value_t items[3] = {str("a"), decimal(15, 1), kind(AMQP_FIELD_KIND_VOID)};
    expect_text(array(items, 3), "[a,1.5,]");
    expect_text(array(NULL, 0), "[]");
    amqp_table_entry_t entries[2] = {{amqp_cstring_bytes("k"), str("v")},
                                     {amqp_cstring_bytes("list"), array(items, 2)}};
    expect_text(table(entries, 2), "{k=v,list=[a,1.5]}");
}

/* snprintf style: a short buffer gets what fits, the return says the whole length. */
static void short_buffer_gets_a_cut_text_and_the_whole_length(void **state)
{
    (void)state;
    amqp_field_value_t v = str("0123456789");
    char buf[5];
    memset(buf, '#', sizeof buf);
    assert_int_equal(sr_brokerhdr__amqp_value(&v, buf, sizeof buf, NULL), 10);
    assert_string_equal(buf, "0123");
    assert_int_equal(sr_brokerhdr__amqp_value(&v, NULL, 0, NULL), 10);
}

/* A decimal's scale goes up to 255: its text then has 255 digits after the point. It used
 * to be printed into a 64-byte buffer and copied from there at its whole length (a read
 * past the buffer, and through a relay, stack bytes passed on to other sites). */
static void decimal_of_scale_255_is_exact_and_read_within_bounds(void **state)
{
    (void)state;
    char want[300];
    int n = snprintf(want, sizeof want, "0.%0*d%s", 255 - 10, 0, "4294967295");
    assert_int_equal(n, 257);
    expect_text(decimal(UINT32_MAX, 255), want);
    n = snprintf(want, sizeof want, "0.%0*d%s", 255 - 1, 0, "7");
    expect_text(decimal(7, 255), want);

    /* Inside an array, a long way past the 64 bytes of the old buffer. */
    amqp_field_value_t items[2] = {decimal(1, 200), decimal(2, 200)};
    amqp_field_value_t both = array(items, 2);
    char *text = text_of(&both, NULL);
    assert_int_equal(strlen(text), 1 + 202 + 1 + 202 + 1);
    assert_int_equal(text[0], '[');
    assert_int_equal(text[202], '1');
    assert_int_equal(text[203], ',');
    assert_int_equal(text[405], '2');
}

/* Arrays and tables are written to SR_BROKERHDR_DEPTH_MAX levels; deeper ones as a marker. */
static void nesting_past_the_limit_is_a_marker(void **state)
{
    (void)state;
    enum { DEEP = 40 };
    amqp_field_value_t arrays[DEEP];
    arrays[DEEP - 1] = str("bottom");
    for (int i = DEEP - 2; i >= 0; i--)
        arrays[i] = array(&arrays[i + 1], 1);
    char want[128] = "";
    for (int i = 0; i < SR_BROKERHDR_DEPTH_MAX; i++)
        strcat(want, "[");
    strcat(want, "[...]");
    for (int i = 0; i < SR_BROKERHDR_DEPTH_MAX; i++)
        strcat(want, "]");
    expect_text(arrays[0], want);

    amqp_table_entry_t entries[DEEP];
    amqp_field_value_t tables[DEEP];
    tables[DEEP - 1] = str("bottom");
    for (int i = DEEP - 2; i >= 0; i--) {
        entries[i] = (amqp_table_entry_t){amqp_cstring_bytes("a"), tables[i + 1]};
        tables[i] = table(&entries[i], 1);
    }
    want[0] = '\0';
    for (int i = 0; i < SR_BROKERHDR_DEPTH_MAX; i++)
        strcat(want, "{a=");
    strcat(want, "{...}");
    for (int i = 0; i < SR_BROKERHDR_DEPTH_MAX; i++)
        strcat(want, "}");
    expect_text(tables[0], want);

    /* exactly at the limit: written whole */
    expect_text(arrays[DEEP - 1 - SR_BROKERHDR_DEPTH_MAX], "[[[[[[[[bottom]]]]]]]]");
}

/* Whatever a value weighs on the wire, its text stops one byte past the decoder's limit. */
static void long_values_stop_one_byte_past_the_limit(void **state)
{
    (void)state;
    char *big = malloc(100000);
    assert_non_null(big);
    memset(big, 'x', 100000);
    amqp_field_value_t v = bytes(big, 100000);
    char *text = text_of(&v, NULL);
    assert_int_equal(strlen(text), SR_MSG_HEADER_TEXT_MAX + 1);

    /* many small entries: voids, decimals of 255 digits */
    enum { MANY = 2000 };
    amqp_field_value_t *items = calloc(MANY, sizeof *items);
    assert_non_null(items);
    for (int i = 0; i < MANY; i++)
        items[i] = kind(AMQP_FIELD_KIND_VOID);
    v = array(items, MANY);
    assert_int_equal(sr_brokerhdr__amqp_value(&v, NULL, 0, NULL), SR_MSG_HEADER_TEXT_MAX + 1);
    for (int i = 0; i < MANY; i++)
        items[i] = decimal(UINT32_MAX, 255);
    assert_int_equal(sr_brokerhdr__amqp_value(&v, NULL, 0, NULL), SR_MSG_HEADER_TEXT_MAX + 1);
    text = text_of(&v, NULL);
    assert_int_equal(strlen(text), SR_MSG_HEADER_TEXT_MAX + 1);
    free(items);
    free(big);

    /* at the limit: whole */
    char exact[SR_MSG_HEADER_TEXT_MAX + 1];
    memset(exact, 'y', SR_MSG_HEADER_TEXT_MAX);
    exact[SR_MSG_HEADER_TEXT_MAX] = '\0';
    expect_text(str(exact), exact);
}

static void nul_bytes_are_reported(void **state)
{
    (void)state;
    bool nul = false;
    amqp_field_value_t v = bytes("a\0b", 3);
    assert_int_equal(sr_brokerhdr__amqp_value(&v, NULL, 0, &nul), 3);
    assert_true(nul);
    amqp_table_entry_t e = {{3, "k\0k"}, str("v")};
    nul = false;
    v = table(&e, 1);
    text_of(&v, &nul);
    assert_true(nul);
}

/* ---- whole header tables, and the decoder after them ---- */

static const char body[] = "20261125210405.123 https://example.com/data/ a/b.txt";

static int decode_with(const sr_header *headers, size_t count, sr_message **m, sr_err *err)
{
    sr_wire wire = {.body = body,
                    .body_len = strlen(body),
                    .content_type = "text/plain",
                    .headers = headers,
                    .header_count = count};
    return sr_message_decode(&wire, m, err);
}

static void amqp_table_as_headers_and_decoded(void **state)
{
    (void)state;
    amqp_field_value_t size = kind(AMQP_FIELD_KIND_I64);
    size.value.i64 = 1024;
    amqp_table_entry_t entries[] = {
        {amqp_cstring_bytes("sum"), str("d,6f5902ac237024bdd0c176cb93063dc4")},
        {amqp_cstring_bytes("parts"), str("1,1024,1,0,0")},
        {amqp_cstring_bytes("station"), decimal(4567, 2)},
        {amqp_cstring_bytes("count"), size},
    };
    amqp_table_t t = {4, entries};
    sr_header *h = NULL;
    size_t n = 0;
    sr_err err;
    assert_int_equal(sr_brokerhdr__amqp(&t, &h, &n, &err), SR_OK);
    assert_int_equal(n, 4);
    assert_string_equal(h[0].name, "sum");
    assert_string_equal(h[0].value, "d,6f5902ac237024bdd0c176cb93063dc4");
    assert_string_equal(h[2].value, "45.67");
    assert_string_equal(h[3].value, "1024");
    sr_message *m = NULL;
    assert_int_equal(decode_with(h, n, &m, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "station"), "45.67");
    long long bytes_ = 0;
    assert_true(sr_message_size(m, &bytes_));
    assert_int_equal(bytes_, 1024);
    sr_message_free(m);
    free(h);

    assert_int_equal(sr_brokerhdr__amqp(NULL, &h, &n, &err), SR_OK);
    assert_null(h);
    assert_int_equal(n, 0);
    amqp_table_t empty = {0, NULL};
    assert_int_equal(sr_brokerhdr__amqp(&empty, &h, &n, &err), SR_OK);
    assert_null(h);
}

/* A value cut at the limit is refused by the decoder, which names the header. */
static void cut_values_are_refused_naming_the_header(void **state)
{
    (void)state;
    char *big = malloc(5000);
    assert_non_null(big);
    memset(big, 'x', 5000);
    amqp_field_value_t deep[3] = {bytes(big, 5000), str("b"), str("c")};
    amqp_table_entry_t entries[] = {
        {amqp_cstring_bytes("sum"), str("d,6f5902ac237024bdd0c176cb93063dc4")},
        {amqp_cstring_bytes("station"), array(deep, 3)},
    };
    amqp_table_t t = {2, entries};
    sr_header *h = NULL;
    size_t n = 0;
    sr_err err;
    assert_int_equal(sr_brokerhdr__amqp(&t, &h, &n, &err), SR_OK);
    assert_int_equal(strlen(h[1].value), SR_MSG_HEADER_TEXT_MAX + 1);
    sr_message *m = (sr_message *)1;
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_null(m);
    assert_string_equal(err.msg, "v02 message header station: longer than 1020 bytes");
    free(h);
    free(big);
}

/* A NUL inside a value or a key: no value, and the decoder refuses it, naming the header. */
static void nul_in_a_header_is_refused_naming_it(void **state)
{
    (void)state;
    amqp_table_entry_t entries[] = {
        {amqp_cstring_bytes("sum"), bytes("d,6f5902ac237024bdd0c176cb93063dc4\0junk", 39)},
    };
    amqp_table_t t = {1, entries};
    sr_header *h = NULL;
    size_t n = 0;
    sr_err err;
    assert_int_equal(sr_brokerhdr__amqp(&t, &h, &n, &err), SR_OK);
    assert_string_equal(h[0].name, "sum");
    assert_null(h[0].value);
    sr_message *m = (sr_message *)1;
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_string_equal(err.msg, "v02 message header sum: holds a NUL byte");
    free(h);

    entries[0] = (amqp_table_entry_t){{8, "mtime\0xy"}, str("20261125210405")};
    assert_int_equal(sr_brokerhdr__amqp(&t, &h, &n, &err), SR_OK);
    assert_string_equal(h[0].name, "mtime");
    assert_null(h[0].value);
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_string_equal(err.msg, "v02 message header mtime: holds a NUL byte");
    free(h);
}

static void name_not_utf8_is_refused(void **state)
{
    (void)state;
    amqp_table_entry_t entries[] = {{amqp_cstring_bytes("caf\xe9"), str("x")}};
    amqp_table_t t = {1, entries};
    sr_header *h = NULL;
    size_t n = 0;
    sr_err err;
    assert_int_equal(sr_brokerhdr__amqp(&t, &h, &n, &err), SR_OK);
    sr_message *m = (sr_message *)1;
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_memory_equal(err.msg, "v02 message header \"caf", 23);
    assert_non_null(strstr(err.msg, "\": name not valid UTF-8"));
    free(h);

    /* and a value not UTF-8, as before */
    entries[0] = (amqp_table_entry_t){amqp_cstring_bytes("station"), bytes("\xff\xfe", 2)};
    assert_int_equal(sr_brokerhdr__amqp(&t, &h, &n, &err), SR_OK);
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_string_equal(err.msg, "v02 message field station: not valid UTF-8");
    free(h);
}

/* ---- MQTT 5 ---- */

static void mqtt_user_properties_as_headers(void **state)
{
    (void)state;
    mosquitto_property *props = NULL;
    assert_int_equal(mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "text/plain"),
                     MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "sum",
                                                        "d,6f5902ac237024bdd0c176cb93063dc4"),
                     MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 60),
                     MOSQ_ERR_SUCCESS);
    assert_int_equal(
        mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "station", "été"),
        MOSQ_ERR_SUCCESS);
    sr_header *h = NULL;
    size_t n = 0;
    sr_err err;
    assert_int_equal(sr_brokerhdr__mqtt(props, &h, &n, &err), SR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].name, "sum");
    assert_string_equal(h[1].name, "station");
    assert_string_equal(h[1].value, "été");
    char *type = sr_brokerhdr__mqtt_content_type(props);
    assert_string_equal(type, "text/plain");
    free(type);
    sr_message *m = NULL;
    assert_int_equal(decode_with(h, n, &m, &err), SR_OK);
    assert_string_equal(sr_message_str(m, "station"), "été");
    sr_message_free(m);
    free(h);
    mosquitto_property_free_all(&props);

    assert_int_equal(sr_brokerhdr__mqtt(NULL, &h, &n, &err), SR_OK);
    assert_null(h);
    assert_int_equal(n, 0);
    assert_null(sr_brokerhdr__mqtt_content_type(NULL));
}

/* MQTT strings go to 65535 bytes: names, values and the content type are cut, and the
 * decoder refuses a cut name or value, naming it. */
static void mqtt_long_strings_are_cut_and_refused(void **state)
{
    (void)state;
    char *big = malloc(65536);
    assert_non_null(big);
    memset(big, 'n', 65535);
    big[65535] = '\0';
    mosquitto_property *props = NULL;
    assert_int_equal(mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, big),
                     MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, big, "v"),
                     MOSQ_ERR_SUCCESS);
    sr_header *h = NULL;
    size_t n = 0;
    sr_err err;
    assert_int_equal(sr_brokerhdr__mqtt(props, &h, &n, &err), SR_OK);
    assert_int_equal(strlen(h[0].name), SR_MSG_HEADER_MAX + 1);
    char *type = sr_brokerhdr__mqtt_content_type(props);
    assert_int_equal(strlen(type), SR_MSG_HEADER_MAX);
    free(type);
    sr_message *m = (sr_message *)1;
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "name longer than 255 bytes"));
    assert_non_null(strstr(err.msg, "v02 message header \"nnnn"));
    free(h);
    mosquitto_property_free_all(&props);

    memset(big, 'v', 65535);
    assert_int_equal(
        mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "station", big),
        MOSQ_ERR_SUCCESS);
    assert_int_equal(sr_brokerhdr__mqtt(props, &h, &n, &err), SR_OK);
    assert_int_equal(strlen(h[0].value), SR_MSG_HEADER_TEXT_MAX + 1);
    assert_int_equal(decode_with(h, n, &m, &err), SR_EINVAL);
    assert_string_equal(err.msg, "v02 message header station: longer than 1020 bytes");
    free(h);
    mosquitto_property_free_all(&props);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_as_text),
        cmocka_unit_test(short_buffer_gets_a_cut_text_and_the_whole_length),
        cmocka_unit_test(decimal_of_scale_255_is_exact_and_read_within_bounds),
        cmocka_unit_test(nesting_past_the_limit_is_a_marker),
        cmocka_unit_test(long_values_stop_one_byte_past_the_limit),
        cmocka_unit_test(nul_bytes_are_reported),
        cmocka_unit_test(amqp_table_as_headers_and_decoded),
        cmocka_unit_test(cut_values_are_refused_naming_the_header),
        cmocka_unit_test(nul_in_a_header_is_refused_naming_it),
        cmocka_unit_test(name_not_utf8_is_refused),
        cmocka_unit_test(mqtt_user_properties_as_headers),
        cmocka_unit_test(mqtt_long_strings_are_cut_and_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
