/* SPDX-License-Identifier: GPL-2.0-only */
/* test_url: the URLs of configs and credentials.conf, split, rebuilt and redacted. */
#include "unit.h"

#include "url.h"

/* Parse text, which must succeed. */
static void parse_ok(const char *text, sr_url *url)
{
    sr_err err;
    sr_err_clear(&err);
    int rc = sr_url_parse(text, url, &err);
    if (rc != SR_OK)
        fail_msg("%s: %s", text, err.msg);
}

static void assert_opt_string(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void check(const char *text, const char *scheme, const char *user, const char *password,
                  const char *host, int port, const char *path)
{
    sr_url u;
    parse_ok(text, &u);
    assert_string_equal(u.scheme, scheme);
    assert_opt_string(u.user, user);
    assert_opt_string(u.password, password);
    assert_opt_string(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.path, path);
    sr_url_fini(&u);
}

static void brokers(void **state)
{
    (void)state;
    check("amqps://bob:s3cret@broker.example.com/", "amqps", "bob", "s3cret", "broker.example.com",
          0, "/");
    check("amqps://anonymous@hpfx.collab.science.gc.ca/", "amqps", "anonymous", NULL,
          "hpfx.collab.science.gc.ca", 0, "/");
    /* scheme and host lower-cased, user kept as written */
    check("AMQP://Bob@Broker.Example.COM:5672/vhost", "amqp", "Bob", NULL, "broker.example.com",
          5672, "/vhost");
    check("mqtts://bob:s3cret@broker.example.com", "mqtts", "bob", "s3cret", "broker.example.com",
          0, "");
    check("mqtt://guest@peerC.example.com:1883", "mqtt", "guest", NULL, "peerc.example.com", 1883,
          "");
    check("amqp://localhost", "amqp", NULL, NULL, "localhost", 0, "");
    check("amqp://h:1/", "amqp", NULL, NULL, "h", 1, "/");
    check("amqp://h:65535/", "amqp", NULL, NULL, "h", 65535, "/");
    check("amqp://h:0005672/", "amqp", NULL, NULL, "h", 5672, "/");
    check("amqps://feeder@pump.example.com/ingest", "amqps", "feeder", NULL, "pump.example.com", 0,
          "/ingest");
}

/* A broker URL may name the nodes of a cluster; other schemes refuse a list. */
static void node_lists(void **state)
{
    (void)state;
    sr_url u;
    parse_ok("amqp://bob:pw@H1.example.com,h2:5673,[::1]:5674,h4/vhost", &u);
    assert_string_equal(u.host, "h1.example.com");
    assert_int_equal(u.port, 0);
    assert_string_equal(u.path, "/vhost");
    assert_int_equal(sr_url_node_count(&u), 4);
    assert_string_equal(sr_url_node_at(&u, 1).host, "h2");
    assert_int_equal(sr_url_node_at(&u, 1).port, 5673);
    assert_string_equal(sr_url_node_at(&u, 2).host, "::1");
    assert_int_equal(sr_url_node_at(&u, 3).port, 0);
    assert_null(sr_url_node_at(&u, 4).host);
    char text[64];
    sr_url_node_text(&u, 0, text, sizeof text);
    assert_string_equal(text, "h1.example.com:5672");
    sr_url_node_text(&u, 2, text, sizeof text);
    assert_string_equal(text, "[::1]:5674");
    char *back = sr_url_format(&u, true);
    assert_string_equal(back, "amqp://bob:pw@h1.example.com,h2:5673,[::1]:5674,h4/vhost");
    free(back);
    sr_url c;
    assert_int_equal(sr_url_copy(&c, &u), SR_OK);
    sr_url_fini(&u);
    back = sr_url_format(&c, false);
    assert_string_equal(back, "amqp://bob:***@h1.example.com,h2:5673,[::1]:5674,h4/vhost");
    free(back);
    sr_url_fini(&c);

    parse_ok("mqtts://n1:8883,n2:8884", &u);
    assert_int_equal(sr_url_node_count(&u), 2);
    sr_url_node_text(&u, 1, text, sizeof text);
    assert_string_equal(text, "n2:8884");
    sr_url_fini(&u);
    parse_ok("amqp://one/", &u);
    assert_int_equal(sr_url_node_count(&u), 1);
    sr_url_fini(&u);
    parse_ok("file:/tmp", &u);
    assert_int_equal(sr_url_node_count(&u), 0);
    sr_url_fini(&u);
}

static void userinfo_decoding(void **state)
{
    (void)state;
    /* credentials.conf writes %3A for ':', %2f for '/', %40 for '@' */
    check("amqps://bob%40ec:p%3Ass%2fw%40rd@host/", "amqps", "bob@ec", "p:ss/w@rd", "host", 0, "/");
    check("amqps://bob:a%20b%25c@host/", "amqps", "bob", "a b%c", "host", 0, "/");
    /* only the first ':' splits user from password */
    check("ftp://anon:a:b:c@ftp.example.com/", "ftp", "anon", "a:b:c", "ftp.example.com", 0, "/");
    /* the authority ends at '/', so '#' and '?' may stay raw in a password */
    check("amqp://bob:pa#s?s@host/", "amqp", "bob", "pa#s?s", "host", 0, "/");
    /* empty user or password are absent */
    check("amqp://:pw@host/", "amqp", NULL, "pw", "host", 0, "/");
    check("amqp://bob:@host/", "amqp", "bob", NULL, "host", 0, "/");
    check("amqp://@host/", "amqp", NULL, NULL, "host", 0, "/");
}

static void hosts_paths_and_files(void **state)
{
    (void)state;
    check("amqp://[::1]:5672/", "amqp", NULL, NULL, "::1", 5672, "/");
    check("amqps://bob:pw@[2001:DB8::10]/", "amqps", "bob", "pw", "2001:db8::10", 0, "/");
    check("https://[::ffff:192.0.2.1]/x", "https", NULL, NULL, "::ffff:192.0.2.1", 0, "/x");
    check("amqp://[2001:DB8:0:0::10]", "amqp", NULL, NULL, "2001:db8::10", 0, "");
    check("sftp://bob@cluster.example.com/", "sftp", "bob", NULL, "cluster.example.com", 0, "/");
    check("sftp://bob@cluster.example.com//abs/dir", "sftp", "bob", NULL, "cluster.example.com", 0,
          "//abs/dir");
    /* the path is kept as written, query string, escapes and '@' included */
    check("https://api.example.com/data/x%20y?a=1&b=2#f", "https", NULL, NULL, "api.example.com", 0,
          "/data/x%20y?a=1&b=2#f");
    check("sftp://bob@host/a:b@c", "sftp", "bob", NULL, "host", 0, "/a:b@c");
    check("http://host_1.example-2.com/", "http", NULL, NULL, "host_1.example-2.com", 0, "/");
    check("file:", "file", NULL, NULL, NULL, 0, "");
    check("file:/abs/path", "file", NULL, NULL, NULL, 0, "/abs/path");
    check("file:///abs", "file", NULL, NULL, NULL, 0, "/abs");
    check("FILE://localhost/x", "file", NULL, NULL, NULL, 0, "/x");
    check("file://", "file", NULL, NULL, NULL, 0, "");
    check("s3://bucket.example.com/key", "s3", NULL, NULL, "bucket.example.com", 0, "/key");
}

static void parse_error(const char *text, const char *want)
{
    sr_url u;
    sr_err err;
    sr_err_clear(&err);
    memset(&u, 0x5a, sizeof u);
    assert_int_equal(sr_url_parse(text, &u, &err), SR_EINVAL);
    assert_int_equal(err.code, SR_EINVAL);
    assert_false(err.retryable);
    assert_string_equal(err.msg, want);
    /* left zeroed, so sr_url_fini is safe */
    assert_null(u.scheme);
    assert_null(u.host);
    assert_null(u.path);
    assert_int_equal(u.port, 0);
    sr_url_fini(&u);
    /* a NULL err is allowed */
    assert_int_equal(sr_url_parse(text, &u, NULL), SR_EINVAL);
}

static void errors(void **state)
{
    (void)state;
    parse_error("amqp://bob:secret@host:99999/",
                "bad URL \"amqp://bob:***@host:99999/\": port 99999 out of range 1-65535");
    parse_error("amqp://host:0/", "bad URL \"amqp://host:0/\": port 0 out of range 1-65535");
    parse_error("amqp://host:123456789012345678901234567890/",
                "bad URL \"amqp://host:123456789012345678901234567890/\": port "
                "12345678901234567890 out of range 1-65535");
    parse_error("amqp://host:56x2/", "bad URL \"amqp://host:***/\": port is not a number");
    parse_error("amqp://host:-1/", "bad URL \"amqp://host:***/\": port is not a number");
    parse_error("amqp://host:/", "bad URL \"amqp://host:/\": empty port after ':'");
    parse_error("sftp://bob@h1,h2/x", "bad URL \"sftp://bob@h1,h2/x\": several hosts (separated "
                                      "by ',') are for broker URLs only (amqp, amqps, mqtt, mqtts)");
    parse_error("amqp://bob@h1,,h2/", "bad URL \"amqp://bob@h1,,h2/\": no host");
    parse_error("amqp://bob@h1,/", "bad URL \"amqp://bob@h1,/\": no host");
    parse_error("amqp://bob:pw@h1,h2:x/", "bad URL \"amqp://bob:***@h1,h2:x/\": port is not a number");
    parse_error("broker.example.com",
                "bad URL \"broker.example.com\": no scheme (expected scheme://host/...)");
    parse_error("//host/", "bad URL \"//host/\": no scheme (expected scheme://host/...)");
    parse_error("http//host/", "bad URL \"http//host/\": no scheme (expected scheme://host/...)");
    parse_error("1amqp://host/",
                "bad URL \"1amqp://host/\": no scheme (expected scheme://host/...)");
    parse_error("", "bad URL \"\": empty");
    parse_error("amqp:host", "bad URL \"amqp:host\": expected \"//\" after \"amqp:\"");
    parse_error("amqp:///vhost", "bad URL \"amqp:///vhost\": no host");
    parse_error("amqp://", "bad URL \"amqp://\": no host");
    parse_error("amqp://bob:pw@/", "bad URL \"amqp://bob:***@/\": no host");
    parse_error("amqp://bob@:5672/", "bad URL \"amqp://bob@:5672/\": no host");
    parse_error("amqp://bob:p@ss@host/",
                "bad URL \"amqp://bob:***@host/\": '@' in a user or password must be written %40");
    parse_error("amqp://bob:p ss@host/",
                "bad URL \"amqp://bob:***@host/\": a space in a user or password must be written "
                "%20");
    parse_error("amqp://bob:p%zzw@host/",
                "bad URL \"amqp://bob:***@host/\": bad percent escape in the password (% must "
                "start %XX)");
    parse_error("amqp://bob:pw%4@host/",
                "bad URL \"amqp://bob:***@host/\": bad percent escape in the password (% must "
                "start %XX)");
    parse_error("amqp://b%g0b:pw@host/",
                "bad URL \"amqp://b%g0b:***@host/\": bad percent escape in the user (% must start "
                "%XX)");
    parse_error("amqp://bob:pw%00x@host/",
                "bad URL \"amqp://bob:***@host/\": the password encodes a NUL byte (%00)");
    parse_error("http://host/a%2", "bad URL \"http://host/a%2\": bad percent escape in the path (% "
                                   "must start %XX)");
    parse_error("http://host/100%", "bad URL \"http://host/100%\": bad percent escape in the path "
                                    "(% must start %XX)");
    parse_error("amqp://host/\n",
                "bad URL \"amqp://host/?\": control character (byte 0x0a) in the URL");
    parse_error("amqp://ho\tst/",
                "bad URL \"amqp://ho?st/\": control character (byte 0x09) in the URL");
    parse_error("amqp://host/\x7f", "bad URL \"amqp://host/?\": control character (byte 0x7f) in "
                                    "the URL");
    parse_error("amqp://ho st/", "bad URL \"amqp://ho st/\": bad character ' ' in the host");
    parse_error("amqp://h\xc3\xa9/",
                "bad URL \"amqp://h\xc3\xa9/\": bad character (byte 0xc3) in the host");
    parse_error("amqp://host?x/", "bad URL \"amqp://host?x/\": bad character '?' in the host");
    parse_error("amqp://[::1/", "bad URL \"amqp://[::1/\": '[' in the host is not closed by ']'");
    parse_error("amqp://[::g]/", "bad URL \"amqp://[::g]/\": bad IPv6 address \"::g\"");
    parse_error("amqp://[]/", "bad URL \"amqp://[]/\": no host");
    parse_error("amqp://[::1]x/", "bad URL \"amqp://[::1]x/\": unexpected text after ']' in the "
                                  "host");
    parse_error("amqp://[::1]:99999/",
                "bad URL \"amqp://[::1]:99999/\": port 99999 out of range 1-65535");
    parse_error("amqp://host:5672:1/", "bad URL \"amqp://host:***/\": port is not a number");
    parse_error("file://otherhost/x",
                "bad URL \"file://otherhost/x\": a file: URL names no host (write file:/path)");
    parse_error("file:relative/x",
                "bad URL \"file:relative/x\": a file: path must be absolute (file:/path)");

    sr_url u;
    sr_err err;
    assert_int_equal(sr_url_parse(NULL, &u, &err), SR_EINVAL);
    assert_string_equal(err.msg, "bad URL: none given");

    /* a long URL is cut in the message, never overrunning it */
    char long_url[2048];
    snprintf(long_url, sizeof long_url, "amqp://host:0/%01500d", 7);
    assert_int_equal(sr_url_parse(long_url, &u, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "...\": port 0 out of range 1-65535"));
    assert_true(strlen(err.msg) < 300);
}

/* Whatever is wrong with a URL, neither the error nor the redacted text shows the password. */
static void passwords_never_leak(void **state)
{
    (void)state;
    const char *broken[] = {
        "amqp://bob:S3cr3t@host:99999/",
        "amqp://bob:S3cr3t@host:0/",
        "amqp://bob:S3c@r3t@host/",
        "amqp://bob:S3c/r3t@host/",
        "amqp://bob:S3c/r3t@host:99999/x@y",
        "amqp://bob:S3c r3t@host/",
        "amqp://bob:S3cr3t",
        "amqp://bob:S3cr3t/",
        "amqp://bob:S3cr3t@",
        "amqp://bob:S3cr3t@/",
        "amqp://bob:S3cr3t@[::1/",
        "amqp://bob:S3cr3t@[zz]/",
        "amqp://bob:S3cr%zzr3t@host/",
        "amqp://bob:S3cr3t@ho st/",
        "amqp://bob:S3cr3t@host/\x01",
        "amqp://bob:S3cr3t@host:x/",
        "amqp:bob:S3cr3t@host",
        "amqp:/bob:S3cr3t@host",
        "bob:S3cr3t@host",
        ":S3cr3t@host",
        "file://bob:S3cr3t@host/x",
        "AMQP://bob:S3cr3t@host:0",
        "amqp://bob:S3c\nr3t@host/",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        sr_url u;
        sr_err err;
        sr_err_clear(&err);
        if (sr_url_parse(broken[i], &u, &err) == SR_OK)
            fail_msg("%s parsed", broken[i]);
        char *red = sr_url_redacted(broken[i]);
        assert_non_null(red);
        const char *pieces[] = {"S3c", "r3t"};
        for (size_t p = 0; p < 2; p++) {
            if (strstr(err.msg, pieces[p]) != NULL)
                fail_msg("error for case %zu leaks %s: %s", i, pieces[p], err.msg);
            if (strstr(red, pieces[p]) != NULL)
                fail_msg("redaction of case %zu leaks %s: %s", i, pieces[p], red);
        }
        free(red);
    }
}

static void check_redacted(const char *text, const char *want)
{
    char *red = sr_url_redacted(text);
    assert_non_null(red);
    assert_string_equal(red, want);
    free(red);
}

static void redaction(void **state)
{
    (void)state;
    check_redacted("amqps://bob:s3cret@host/", "amqps://bob:***@host/");
    check_redacted("amqps://bob:s3cret@host:5671/v", "amqps://bob:***@host:5671/v");
    check_redacted("amqps://bob@host/", "amqps://bob@host/");
    check_redacted("amqps://host:5671/", "amqps://host:5671/");
    check_redacted("amqps://host", "amqps://host");
    check_redacted("amqps://h1:5671,h2,h3:5673/", "amqps://h1:5671,h2,h3:5673/");
    check_redacted("amqps://h1:5671,[::1]:5672/", "amqps://h1:5671,[::1]:5672/");
    check_redacted("amqps://bob:pw@h1:5671,h2/", "amqps://bob:***@h1:5671,h2/");
    /* a user and password cut short is hidden, list-like or not */
    check_redacted("amqps://bob:s3cret,h2/", "amqps://bob:***/");
    check_redacted("amqps://bob:12,h2:x/", "amqps://bob:***/");
    check_redacted("amqp://bob:p@ss@host/", "amqp://bob:***@host/");
    check_redacted("amqp://bob:pa/ss@host/", "amqp://bob:***@host/");
    check_redacted("amqp://bob:@host/", "amqp://bob:***@host/");
    check_redacted("ftp://bob:my", "ftp://bob:***");
    check_redacted("bob:secret@host", "bob:***@host");
    check_redacted("amqp:bob:secret@host", "amqp:***@host");
    check_redacted("amqp://[::1]:5672/", "amqp://[::1]:5672/");
    check_redacted("amqp://bob@[::1]:5672/", "amqp://bob@[::1]:5672/");
    check_redacted("amqp://bob:pw@[::1]:5672/", "amqp://bob:***@[::1]:5672/");
    check_redacted("sftp://bob@host/a:b@c", "sftp://bob@host/a:b@c");
    check_redacted("sftp://host/a:b@c", "sftp://host/a:b@c");
    check_redacted("file:/a/b", "file:/a/b");
    check_redacted("file:relative/x", "file:relative/x");
    check_redacted("amqp:host", "amqp:host");
    check_redacted("amqp:/bob:pw@host", "amqp:***@host");
    check_redacted("ftp://bob:1234", "ftp://bob:1234"); /* cannot tell from host:port */
    check_redacted("not a url", "not a url");
    check_redacted("", "");
    /* Over-redaction, on purpose: a raw '/' in a password looks just like this. */
    check_redacted("https://host:8080/a@b", "https://host:***@b");
    check_redacted("file:/a:b@c", "file:***@c");
    assert_null(sr_url_redacted(NULL));
}

static void check_format(const char *text, const char *with, const char *without)
{
    sr_url u;
    parse_ok(text, &u);
    char *s = sr_url_format(&u, true);
    assert_non_null(s);
    assert_string_equal(s, with);
    /* what it writes parses back to the same */
    sr_url back;
    parse_ok(s, &back);
    assert_string_equal(back.scheme, u.scheme);
    assert_opt_string(back.user, u.user);
    assert_opt_string(back.password, u.password);
    assert_opt_string(back.host, u.host);
    assert_int_equal(back.port, u.port);
    assert_string_equal(back.path, u.path);
    sr_url_fini(&back);
    free(s);
    s = sr_url_format(&u, false);
    assert_non_null(s);
    assert_string_equal(s, without);
    free(s);
    sr_url_fini(&u);
}

static void format(void **state)
{
    (void)state;
    check_format("amqps://bob:s3cret@broker.example.com/", "amqps://bob:s3cret@broker.example.com/",
                 "amqps://bob:***@broker.example.com/");
    check_format("AMQPS://bob%40ec:p%3Ass%2fw%40rd@Host:5671/v",
                 "amqps://bob%40ec:p%3Ass%2Fw%40rd@host:5671/v",
                 "amqps://bob%40ec:***@host:5671/v");
    check_format("amqps://bob:a%20b%25c%C3%A9!$&'()*+,;=-._~@host/",
                 "amqps://bob:a%20b%25c%C3%A9!$&'()*+,;=-._~@host/", "amqps://bob:***@host/");
    check_format("mqtt://guest@peer.example.com", "mqtt://guest@peer.example.com",
                 "mqtt://guest@peer.example.com");
    check_format("amqp://:pw@h/", "amqp://:pw@h/", "amqp://:***@h/");
    check_format("amqp://[::1]:5672/", "amqp://[::1]:5672/", "amqp://[::1]:5672/");
    check_format("amqps://bob:pw@[2001:DB8::10]/", "amqps://bob:pw@[2001:db8::10]/",
                 "amqps://bob:***@[2001:db8::10]/");
    check_format("file:", "file:", "file:");
    check_format("file:///abs", "file:/abs", "file:/abs");
    check_format("https://api.example.com/a?b=c", "https://api.example.com/a?b=c",
                 "https://api.example.com/a?b=c");
    sr_url zero = {0};
    assert_null(sr_url_format(&zero, true));
    assert_null(sr_url_format(NULL, true));
}

static void ports(void **state)
{
    (void)state;
    struct {
        const char *text;
        int port;
    } cases[] = {
        {"amqp://h", 5672},  {"amqps://h", 5671}, {"mqtt://h", 1883}, {"mqtts://h", 8883},
        {"sftp://h", 22},    {"http://h", 80},    {"https://h", 443}, {"ftp://h", 21},
        {"ftps://h", 990},   {"s3://h", 0},       {"file:/x", 0},     {"amqps://h:15671/", 15671},
        {"HTTPS://h/", 443},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sr_url u;
        parse_ok(cases[i].text, &u);
        assert_int_equal(sr_url_port(&u), cases[i].port);
        sr_url_fini(&u);
    }
    assert_int_equal(sr_url_port(NULL), 0);
    sr_url zero = {0};
    assert_int_equal(sr_url_port(&zero), 0);
}

static void copy_and_fini(void **state)
{
    (void)state;
    sr_url u, c;
    parse_ok("amqps://bob:pw@host:5671/v", &u);
    memset(&c, 0x5a, sizeof c);
    assert_int_equal(sr_url_copy(&c, &u), SR_OK);
    sr_url_fini(&u);
    assert_string_equal(c.scheme, "amqps");
    assert_string_equal(c.user, "bob");
    assert_string_equal(c.password, "pw");
    assert_string_equal(c.host, "host");
    assert_int_equal(c.port, 5671);
    assert_string_equal(c.path, "/v");
    sr_url_fini(&c);
    assert_null(c.scheme);
    sr_url_fini(&c); /* twice is fine */
    sr_url_fini(NULL);

    parse_ok("file:", &u);
    assert_int_equal(sr_url_copy(&c, &u), SR_OK);
    assert_null(c.host);
    assert_null(c.user);
    assert_string_equal(c.path, "");
    sr_url_fini(&u);
    sr_url_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(brokers),
        cmocka_unit_test(node_lists),
        cmocka_unit_test(userinfo_decoding),
        cmocka_unit_test(hosts_paths_and_files),
        cmocka_unit_test(errors),
        cmocka_unit_test(passwords_never_leak),
        cmocka_unit_test(redaction),
        cmocka_unit_test(format),
        cmocka_unit_test(ports),
        cmocka_unit_test(copy_and_fini),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
