/* SPDX-License-Identifier: GPL-2.0-only */
/* test_credentials: credentials.conf as bob writes it, and the line each flow URL finds. */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials.h"

/* A private directory for copies with chosen modes (git does not keep modes). */
static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sr_test_credentials.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    setenv("HOME", "/home/tester", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write len bytes to tmpdir/name with mode; returns the path (static buffer). */
static const char *write_tmp(const char *name, const char *data, size_t len, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

/* Copy test/data/credentials/name to tmpdir with mode; returns the new path. */
static const char *copy_tmp(const char *name, mode_t mode)
{
    char src[512];
    snprintf(src, sizeof src, "credentials/%s", name);
    FILE *f = fopen(test_data(src), "rb");
    assert_non_null(f);
    char data[8192];
    size_t len = fread(data, 1, sizeof data, f);
    fclose(f);
    return write_tmp(name, data, len, mode);
}

static sr_credentials *load_ok(const char *path)
{
    sr_credentials *c = NULL;
    sr_err err;
    sr_err_clear(&err);
    int rc = sr_credentials_load(path, &c, &err);
    if (rc != SR_OK)
        fail_msg("%s: %s", path, err.msg);
    assert_non_null(c);
    return c;
}

/* Look text up; NULL when it finds nothing. */
static const sr_credential *find(const sr_credentials *c, const char *text)
{
    sr_url u;
    sr_err err;
    if (sr_url_parse(text, &u, &err) != SR_OK)
        fail_msg("%s", err.msg);
    const sr_credential *cr = sr_credentials_find(c, &u);
    sr_url_fini(&u);
    return cr;
}

/* text must find the line `line`, whose user and password are given. */
static const sr_credential *finds(const sr_credentials *c, const char *text, int line,
                                  const char *user, const char *password)
{
    const sr_credential *cr = find(c, text);
    if (cr == NULL)
        fail_msg("%s found nothing, expected line %d", text, line);
    if (cr->line != line)
        fail_msg("%s found line %d, expected line %d", text, cr->line, line);
    if (user == NULL)
        assert_null(cr->url.user);
    else
        assert_string_equal(cr->url.user, user);
    if (password == NULL)
        assert_null(cr->url.password);
    else
        assert_string_equal(cr->url.password, password);
    return cr;
}

static void finds_nothing(const sr_credentials *c, const char *text)
{
    const sr_credential *cr = find(c, text);
    if (cr != NULL)
        fail_msg("%s found line %d, expected nothing", text, cr->line);
}

static void parsed_values(void **state)
{
    (void)state;
    const char *path = copy_tmp("pump.conf", 0600);
    sr_credentials *c = load_ok(path);
    assert_int_equal(sr_credentials_warnings(c)->count, 0);
    assert_int_equal(sr_credentials_count(c), 16);
    assert_null(sr_credentials_get(c, 16));

    const sr_credential *cr = sr_credentials_get(c, 0);
    assert_string_equal(cr->url.scheme, "amqps");
    assert_string_equal(cr->url.user, "bob");
    assert_string_equal(cr->url.password, "s3cret");
    assert_string_equal(cr->url.host, "pump.example.com");
    assert_int_equal(cr->url.port, 0);
    assert_string_equal(cr->url.path, "/");
    assert_string_equal(cr->file, path);
    assert_int_equal(cr->line, 5);
    /* the defaults */
    assert_true(cr->passive);
    assert_true(cr->binary);
    assert_false(cr->tls);
    assert_false(cr->prot_p);
    assert_false(cr->implicit_ftps);
    assert_null(cr->ssh_keyfile);
    assert_null(cr->bearer_token);
    assert_null(cr->login_method);
    assert_null(cr->s3_endpoint);
    assert_null(cr->s3_session_token);
    assert_null(cr->azure_storage_credentials);

    cr = sr_credentials_get(c, 1);
    assert_string_equal(cr->url.password, "other/pw");
    assert_string_equal(cr->url.path, "/ingest");
    assert_int_equal(cr->line, 6);

    cr = sr_credentials_get(c, 2);
    assert_string_equal(cr->url.user, "feeder");
    assert_string_equal(cr->url.password, "F33d:er/@x");
    assert_int_equal(cr->url.port, 5671);

    cr = sr_credentials_get(c, 3); /* the indented comment is skipped */
    assert_string_equal(cr->url.scheme, "amqp");
    assert_string_equal(cr->url.host, "localhost");
    assert_string_equal(cr->url.path, "");
    assert_int_equal(cr->line, 9);

    cr = sr_credentials_get(c, 5); /* trailing blanks */
    assert_string_equal(cr->url.password, "guestpw");
    assert_int_equal(cr->url.port, 8883);
    assert_string_equal(cr->url.path, "");

    cr = sr_credentials_get(c, 6);
    assert_string_equal(cr->url.scheme, "sftp");
    assert_null(cr->url.password);
    assert_string_equal(cr->ssh_keyfile, "/home/tester/.ssh/id_ed25519");
    cr = sr_credentials_get(c, 7);
    assert_string_equal(cr->ssh_keyfile, "/home/alice/.ssh/id_rsa");

    cr = sr_credentials_get(c, 8);
    assert_string_equal(cr->url.password, "anon@example.com");
    assert_true(cr->passive);
    assert_true(cr->binary);
    assert_true(cr->tls);
    assert_true(cr->prot_p);
    assert_false(cr->implicit_ftps);

    cr = sr_credentials_get(c, 9);
    assert_false(cr->passive);
    assert_false(cr->binary);
    assert_false(cr->tls);

    cr = sr_credentials_get(c, 10); /* a tab before the details, blanks around commas */
    assert_int_equal(cr->url.port, 990);
    assert_true(cr->implicit_ftps);
    assert_true(cr->tls);
    assert_true(cr->prot_p);
    assert_true(cr->passive);

    cr = sr_credentials_get(c, 11);
    assert_string_equal(cr->bearer_token, "89APCBF0-FEBE");
    assert_null(cr->url.user);
    assert_string_equal(cr->url.path, "/");
    cr = sr_credentials_get(c, 12);
    assert_string_equal(cr->bearer_token, "eyJhbGciOi.J9==");
    cr = sr_credentials_get(c, 13);
    assert_string_equal(cr->s3_endpoint, "https://s3.example.com");
    assert_string_equal(cr->s3_session_token, "tok/en");

    cr = sr_credentials_get(c, 14);
    assert_string_equal(cr->url.host, "2001:db8::10");
    assert_int_equal(cr->url.port, 5671);
    assert_string_equal(cr->url.password, "Adm1n");

    cr = sr_credentials_get(c, 15);
    assert_string_equal(cr->login_method, "EXTERNAL");
    assert_int_equal(cr->line, 31);
    sr_credentials_free(c);
}

static void lookup(void **state)
{
    (void)state;
    sr_credentials *c = load_ok(copy_tmp("pump.conf", 0600));

    /* amqps: vhost "" is "/" */
    finds(c, "amqps://bob@pump.example.com/", 5, "bob", "s3cret");
    finds(c, "amqps://bob@pump.example.com", 5, "bob", "s3cret");
    finds(c, "amqps://bob@PUMP.Example.com/", 5, "bob", "s3cret");
    finds(c, "amqps://bob:s3cret@pump.example.com/", 5, "bob", "s3cret");
    finds(c, "amqps://bob@pump.example.com/ingest", 6, "bob", "other/pw");
    /* no user: the first line for that scheme, host and port */
    finds(c, "amqps://pump.example.com/", 5, "bob", "s3cret");
    finds(c, "amqps://feeder@pump.example.com:5671/", 7, "feeder", "F33d:er/@x");
    finds(c, "amqps://pump.example.com:5671", 7, "feeder", "F33d:er/@x");
    finds_nothing(c, "amqps://bob@pump.example.com/nope");    /* wrong vhost */
    finds_nothing(c, "amqps://bob@pump.example.com/ingest/"); /* vhosts compare as written */
    finds_nothing(c, "amqps://carl@pump.example.com/");       /* wrong user */
    finds_nothing(c, "amqps://Bob@pump.example.com/");        /* users are case-sensitive */
    finds_nothing(c, "amqp://bob@pump.example.com/");         /* wrong scheme */
    finds_nothing(c, "amqps://bob:wrong@pump.example.com/");  /* sr3 compares a given password */
    finds_nothing(c, "amqps://bob@pump2.example.com/");       /* wrong host */
    finds_nothing(c, "amqps://bob@pump.example.com:5672/");   /* wrong port */
    /* sr3's rule: an explicit port, even the usual one, does not match a line without one,
     * nor the other way round */
    finds_nothing(c, "amqps://bob@pump.example.com:5671/");
    finds_nothing(c, "amqps://feeder@pump.example.com/");
    finds(c, "amqp://anonymous@localhost/", 9, "anonymous", "anonymous");
    finds(c, "amqp://localhost", 9, "anonymous", "anonymous");

    /* mqtt: the path is not compared */
    finds(c, "mqtts://bob@mqtt.example.com", 12, "bob", "mqttpw");
    finds(c, "mqtts://bob@mqtt.example.com/anything", 12, "bob", "mqttpw");
    finds(c, "mqtts://mqtt.example.com", 12, "bob", "mqttpw");
    finds_nothing(c, "mqtts://guest@mqtt.example.com");
    finds(c, "mqtts://guest@mqtt.example.com:8883", 13, "guest", "guestpw");
    finds_nothing(c, "mqtt://bob@mqtt.example.com");

    /* sftp */
    const sr_credential *cr = finds(c, "sftp://bob@cluster.example.com/data/in", 16, "bob", NULL);
    assert_string_equal(cr->ssh_keyfile, "/home/tester/.ssh/id_ed25519");
    finds(c, "sftp://cluster.example.com/", 16, "bob", NULL);
    cr = finds(c, "sftp://alice@cluster.example.com/", 17, "alice", NULL);
    assert_string_equal(cr->ssh_keyfile, "/home/alice/.ssh/id_rsa");
    finds_nothing(c, "sftp://carol@cluster.example.com/");
    finds_nothing(c, "sftp://bob@cluster.example.com:2222/");

    /* ftp */
    cr = finds(c, "ftp://ftp.example.com/pub/", 20, "anon", "anon@example.com");
    assert_true(cr->tls);
    cr = finds(c, "ftp://bob@ftp2.example.com/", 21, "bob", "ftppw");
    assert_false(cr->passive);
    finds(c, "ftp://carol@ftp3.example.com:990/", 22, "carol", "cpw");
    finds_nothing(c, "ftp://carol@ftp3.example.com/");
    finds_nothing(c, "ftps://anon@ftp.example.com/");

    /* https */
    cr = finds(c, "https://api.example.com/some/where?x=1", 25, NULL, NULL);
    assert_string_equal(cr->bearer_token, "89APCBF0-FEBE");
    cr = finds(c, "https://data.example.com/", 26, NULL, NULL);
    assert_string_equal(cr->bearer_token, "eyJhbGciOi.J9==");
    finds_nothing(c, "http://api.example.com/");
    finds_nothing(c, "https://api.example.com:8443/");
    finds_nothing(c, "https://someone@api.example.com/"); /* the line names no user */

    /* IPv6 */
    finds(c, "amqps://admin@[2001:db8::10]:5671/", 30, "admin", "Adm1n");
    finds(c, "amqps://[2001:DB8:0::10]:5671", 30, "admin", "Adm1n"); /* the same address */
    finds_nothing(c, "amqps://admin@[2001:db8::11]:5671/");
    cr = finds(c, "amqp://bob@broker.example.com", 31, "bob", "loginpw");
    assert_string_equal(cr->login_method, "EXTERNAL");

    /* no set, no URL */
    assert_null(sr_credentials_find(NULL, &cr->url));
    assert_null(sr_credentials_find(c, NULL));
    sr_url zero = {0};
    assert_null(sr_credentials_find(c, &zero));
    sr_credentials_free(c);
}

static void check_complete(const sr_credentials *c, const char *in_text, const char *want_user,
                           const char *want_password)
{
    sr_url in, out;
    sr_err err;
    assert_int_equal(sr_url_parse(in_text, &in, &err), SR_OK);
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(sr_credentials_complete(c, &in, &out, &err), SR_OK);
    if (want_user == NULL)
        assert_null(out.user);
    else
        assert_string_equal(out.user, want_user);
    if (want_password == NULL)
        assert_null(out.password);
    else
        assert_string_equal(out.password, want_password);
    /* everything else is in's */
    assert_string_equal(out.scheme, in.scheme);
    assert_string_equal(out.host, in.host);
    assert_int_equal(out.port, in.port);
    assert_string_equal(out.path, in.path);
    sr_url_fini(&out);

    /* out may be in */
    assert_int_equal(sr_credentials_complete(c, &in, &in, &err), SR_OK);
    if (want_password == NULL)
        assert_null(in.password);
    else
        assert_string_equal(in.password, want_password);
    sr_url_fini(&in);
}

static void complete(void **state)
{
    (void)state;
    sr_credentials *c = load_ok(copy_tmp("pump.conf", 0600));
    check_complete(c, "amqps://bob@pump.example.com/", "bob", "s3cret");
    check_complete(c, "amqps://pump.example.com/", "bob", "s3cret");
    check_complete(c, "amqps://bob@pump.example.com/ingest", "bob", "other/pw");
    check_complete(c, "amqps://feeder@pump.example.com:5671/", "feeder", "F33d:er/@x");
    /* the path of in is kept, even where the line has none */
    check_complete(c, "mqtts://bob@mqtt.example.com/x", "bob", "mqttpw");
    /* no match: a plain copy, not an error */
    check_complete(c, "amqps://nobody@pump.example.com/", "nobody", NULL);
    check_complete(c, "amqps://bob@pump.example.com:5671/", "bob", NULL);
    check_complete(c, "amqps://bob:given@pump.example.com/", "bob", "given");
    check_complete(c, "amqps://unknown.example.com/", NULL, NULL);
    /* a line without a password fills only the user */
    check_complete(c, "sftp://cluster.example.com/", "bob", NULL);
    check_complete(NULL, "amqps://bob@pump.example.com/", "bob", NULL);

    /* the completed URL rebuilds with the password for the connection, never in logs */
    sr_url in, out;
    sr_err err;
    assert_int_equal(sr_url_parse("amqps://bob@pump.example.com/ingest", &in, &err), SR_OK);
    assert_int_equal(sr_credentials_complete(c, &in, &out, &err), SR_OK);
    char *with = sr_url_format(&out, true);
    char *without = sr_url_format(&out, false);
    assert_string_equal(with, "amqps://bob:other%2Fpw@pump.example.com/ingest");
    assert_string_equal(without, "amqps://bob:***@pump.example.com/ingest");
    free(with);
    free(without);
    sr_url_fini(&in);
    sr_url_fini(&out);
    sr_credentials_free(c);
}

/* A broker URL naming the nodes of a cluster finds a line naming the same list, or else
 * the first line naming one of its nodes. */
static void cluster_urls(void **state)
{
    (void)state;
    static const char text[] = "amqps://bob:one@n1.example.com/\n"
                               "amqps://bob:all@n1.example.com,n2.example.com:5673,n3/\n"
                               "amqps://carl:two@n2.example.com:5673/\n";
    sr_credentials *c = load_ok(write_tmp("cluster.conf", text, sizeof text - 1, 0600));
    finds(c, "amqps://bob@n1.example.com,n2.example.com:5673,n3/", 2, "bob", "all");
    finds(c, "amqps://bob@N1.example.com,n2.example.com:5673,N3/", 2, "bob", "all");
    /* another list: the first line that names one of its nodes */
    finds(c, "amqps://bob@n3,n1.example.com/", 1, "bob", "one");
    finds(c, "amqps://carl@n9,n2.example.com:5673/", 3, "carl", "two");
    /* a port is part of the node, as for one host */
    finds_nothing(c, "amqps://carl@n9,n2.example.com/");
    finds_nothing(c, "amqps://bob@n2.example.com:5673,n3/");
    sr_credentials_free(c);
}

static void missing_and_empty_files(void **state)
{
    (void)state;
    sr_credentials *c = load_ok(test_data("credentials/not-there.conf"));
    assert_int_equal(sr_credentials_count(c), 0);
    assert_int_equal(sr_credentials_warnings(c)->count, 0);
    finds_nothing(c, "amqps://bob@pump.example.com/");
    sr_url in, out;
    sr_err err;
    assert_int_equal(sr_url_parse("amqps://bob@pump.example.com/", &in, &err), SR_OK);
    assert_int_equal(sr_credentials_complete(c, &in, &out, &err), SR_OK);
    assert_string_equal(out.user, "bob");
    assert_null(out.password);
    sr_url_fini(&in);
    sr_url_fini(&out);
    sr_credentials_free(c);

    c = load_ok(copy_tmp("empty.conf", 0600));
    assert_int_equal(sr_credentials_count(c), 0);
    assert_int_equal(sr_credentials_warnings(c)->count, 0);
    sr_credentials_free(c);

    c = load_ok(write_tmp("zero.conf", "", 0, 0600));
    assert_int_equal(sr_credentials_count(c), 0);
    sr_credentials_free(c);

    sr_credentials_free(NULL);
    assert_int_equal(sr_credentials_warnings(NULL)->count, 0);
    assert_int_equal(sr_credentials_count(NULL), 0);
    assert_null(sr_credentials_get(NULL, 0));
}

static void warnings(void **state)
{
    (void)state;
    const char *path = copy_tmp("warnings.conf", 0600);
    sr_credentials *c = load_ok(path);
    const sr_strlist *w = sr_credentials_warnings(c);
    assert_int_equal(w->count, 3);
    char want[1024];
    snprintf(want, sizeof want, "%s:2: unknown credential detail \"turbo\"; ignored", path);
    assert_string_equal(w->items[0], want);
    snprintf(want, sizeof want,
             "%s:3: unknown credential detail \"passive binary\" (details are separated by "
             "commas); ignored",
             path);
    assert_string_equal(w->items[1], want);
    snprintf(want, sizeof want, "%s:5: same URL as line 4, which this line replaces", path);
    assert_string_equal(w->items[2], want);

    /* the known details around an unknown one still apply */
    const sr_credential *cr = finds(c, "ftp://ftp.example.com/", 2, "bob", "pw");
    assert_true(cr->passive && cr->binary);
    cr = finds(c, "sftp://bob@host.example.com/", 3, "bob", NULL);
    assert_string_equal(cr->ssh_keyfile, "/keys/bob");
    /* as in sr3, the later line wins */
    finds(c, "amqps://bob@pump.example.com/", 5, "bob", "newpw");
    assert_int_equal(sr_credentials_count(c), 3);
    sr_credentials_free(c);
}

static void group_readable(void **state)
{
    (void)state;
    mode_t modes[] = {0644, 0640, 0604, 0660};
    const char *shown[] = {"0644", "0640", "0604", "0660"};
    for (size_t i = 0; i < 4; i++) {
        const char *path = copy_tmp("pump.conf", modes[i]);
        sr_credentials *c = load_ok(path);
        const sr_strlist *w = sr_credentials_warnings(c);
        assert_int_equal(w->count, 1);
        char want[1024];
        snprintf(want, sizeof want,
                 "%s: credentials file is readable by group or others (mode %s); chmod 600 it",
                 path, shown[i]);
        assert_string_equal(w->items[0], want);
        assert_int_equal(sr_credentials_count(c), 16); /* still read */
        sr_credentials_free(c);
    }
    mode_t quiet[] = {0600, 0400, 0620};
    for (size_t i = 0; i < 3; i++) {
        sr_credentials *c = load_ok(copy_tmp("pump.conf", quiet[i]));
        assert_int_equal(sr_credentials_warnings(c)->count, 0);
        sr_credentials_free(c);
    }
}

/* name must fail to load with "<path>:<want>", and show none of the secret pieces. */
static void load_error(const char *name, const char *want_tail)
{
    const char *path = test_data("credentials/");
    char full[1024], want[2048];
    snprintf(full, sizeof full, "%s%s", path, name);
    snprintf(want, sizeof want, "%s:%s", full, want_tail);
    sr_credentials *c = (sr_credentials *)&c;
    sr_err err;
    sr_err_clear(&err);
    assert_int_equal(sr_credentials_load(full, &c, &err), SR_EINVAL);
    assert_null(c);
    assert_int_equal(err.code, SR_EINVAL);
    assert_string_equal(err.msg, want);
    const char *secrets[] = {"Secr3t", "S3cr3t", "ssw0rd", "zzword", "my "};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(err.msg, secrets[i]) != NULL)
            fail_msg("%s: the error shows %s: %s", name, secrets[i], err.msg);
}

static void malformed(void **state)
{
    (void)state;
    load_error("bad_port.conf", "3: bad URL \"amqps://bob:***@pump.example.com:99999/\": port "
                                "99999 out of range 1-65535");
    load_error("bad_at.conf", "2: bad URL \"amqps://bob:***@pump.example.com/\": '@' in a user "
                              "or password must be written %40");
    load_error("bad_escape.conf", "3: bad URL \"sftp://bob:***@cluster.example.com/\": bad "
                                  "percent escape in the password (% must start %XX)");
    load_error("bad_noscheme.conf",
               "2: bad URL \"bob:***@pump.example.com\": expected \"//\" after \"bob:\"");
    load_error("bad_keyfile.conf",
               "1: credential detail \"ssh_keyfile\" needs a value (ssh_keyfile=...)");
    load_error("bad_login.conf",
               "1: login_method \"kerberos\" is not one of PLAIN, AMQPLAIN, EXTERNAL, GSSAPI");
    load_error("bad_flag.conf",
               "1: credential detail \"passive\" takes no value, or true/false (not \"maybe\")");
    load_error("bad_nouser.conf",
               "1: bad credential \"amqps://:***@pump.example.com/\": a password but no user");
    /* a raw space cuts the URL: the whole line is reported, its password hidden */
    load_error("bad_space.conf", "2: bad URL \"ftp://bob:***@ftp.example.com passive\": a space "
                                 "in a user or password must be written %20");
    load_error("bad_space_digits.conf", "1: bad URL \"ftp://bob:***@ftp.example.com\": a space in "
                                        "a user or password must be written %20");
}

static void file_shapes(void **state)
{
    (void)state;
    /* CRLF line ends, no newline at the end, blanks around '=' and values */
    const char crlf[] = "# edited on windows\r\n"
                        "ftp://a:b@h1 tls\r\n"
                        "\r\n"
                        "ftp://a:b@h2  passive = false ,  binary=no , tls=YES, ascii=off\r\n"
                        "ftp://a:b@h3 implicit_ftps, ssl,,";
    sr_credentials *c = load_ok(write_tmp("crlf.conf", crlf, sizeof crlf - 1, 0600));
    assert_int_equal(sr_credentials_warnings(c)->count, 0);
    const sr_credential *cr = finds(c, "ftp://h1", 2, "a", "b");
    assert_true(cr->tls);
    cr = finds(c, "ftp://h2", 4, "a", "b");
    assert_false(cr->passive);
    assert_true(cr->binary); /* binary=no then ascii=off */
    assert_true(cr->tls);
    /* details apply in order: implicit_ftps sets tls, ssl then clears it (as sr3) */
    cr = finds(c, "ftp://h3", 5, "a", "b");
    assert_true(cr->implicit_ftps);
    assert_false(cr->tls);
    sr_credentials_free(c);

    /* no fixed-size line buffer: a 20000-character token */
    size_t big = 20000;
    char *text = malloc(big + 100);
    assert_non_null(text);
    int n = sprintf(text, "https://big.example.com bearer_token=");
    memset(text + n, 'T', big);
    strcpy(text + n + big, "\nhttps://after.example.com bt=x\n");
    c = load_ok(write_tmp("big.conf", text, strlen(text), 0600));
    free(text);
    cr = finds(c, "https://big.example.com/", 1, NULL, NULL);
    assert_int_equal(strlen(cr->bearer_token), big);
    assert_int_equal(cr->bearer_token[big - 1], 'T');
    finds(c, "https://after.example.com/", 2, NULL, NULL);
    sr_credentials_free(c);

    /* ~ alone, ~user left alone, a later value replaces an earlier one, azure decoded */
    const char home[] = "sftp://a@h1 ssh_keyfile=~\n"
                        "sftp://a@h2 ssh_keyfile=~bob/.ssh/k\n"
                        "sftp://a@h3 ssh_keyfile=/one, ssh_keyfile = ~/two\n"
                        "https://h4 azure_storage_credentials=a%3Db%zz, bt=x=y=\n"
                        "sftp://:pw@h5\n";
    c = load_ok(write_tmp("home.conf", home, sizeof home - 1, 0600));
    assert_string_equal(finds(c, "sftp://h1", 1, "a", NULL)->ssh_keyfile, "/home/tester");
    assert_string_equal(finds(c, "sftp://h2", 2, "a", NULL)->ssh_keyfile, "~bob/.ssh/k");
    assert_string_equal(finds(c, "sftp://h3", 3, "a", NULL)->ssh_keyfile, "/home/tester/two");
    cr = finds(c, "https://h4", 4, NULL, NULL);
    assert_string_equal(cr->azure_storage_credentials, "a=b%zz");
    assert_string_equal(cr->bearer_token, "x=y=");
    /* sftp may name a password without a user (the user comes from ~/.ssh/config) */
    finds(c, "sftp://h5", 5, NULL, "pw");
    sr_credentials_free(c);

    /* a NUL byte in a line */
    const char nul[] = "amqps://a:b@h/\n"
                       "amqps://c:d@h/\0x\n";
    const char *path = write_tmp("nul.conf", nul, sizeof nul - 1, 0600);
    sr_err err;
    assert_int_equal(sr_credentials_load(path, &c, &err), SR_EINVAL);
    char want[1024];
    snprintf(want, sizeof want, "%s:2: NUL byte in the line", path);
    assert_string_equal(err.msg, want);
    assert_null(c);
}

static void unreadable(void **state)
{
    (void)state;
    sr_credentials *c;
    sr_err err;
    /* a directory */
    assert_int_equal(sr_credentials_load(tmpdir, &c, &err), SR_EIO);
    char want[1024];
    snprintf(want, sizeof want, "%s: is a directory", tmpdir);
    assert_string_equal(err.msg, want);
    assert_null(c);

    assert_int_equal(sr_credentials_load(NULL, &c, &err), SR_EINVAL);
    assert_null(c);

    /* a file we may not read (root reads anything: skip then) */
    if (geteuid() != 0) {
        const char *path = copy_tmp("pump.conf", 0000);
        assert_int_equal(sr_credentials_load(path, &c, &err), SR_EPERM);
        snprintf(want, sizeof want, "%s: cannot open: Permission denied", path);
        assert_string_equal(err.msg, want);
        assert_null(c);
        chmod(path, 0600);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parsed_values), cmocka_unit_test(lookup),
        cmocka_unit_test(complete),      cmocka_unit_test(cluster_urls),
        cmocka_unit_test(missing_and_empty_files),
        cmocka_unit_test(warnings),      cmocka_unit_test(group_readable),
        cmocka_unit_test(malformed),     cmocka_unit_test(file_shapes),
        cmocka_unit_test(unreadable),
    };
    return cmocka_run_group_tests_name("credentials", tests, setup, teardown);
}
