/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * test_brokeradmin: the permissions of sr3's user scheme as `sr declare --users` grants
 * them, the escaping of user names in them, and what a client needs before any request.
 * (The requests themselves are tested against a real RabbitMQ: test_declare_users.py.)
 */
#include "unit.h"

#include "brokeradmin.h"

static void expect(enum sr_broker_role role, const char *user, const char *configure,
                   const char *write, const char *read)
{
    sr_broker_permissions p;
    assert_int_equal(sr_broker_permissions_of(role, user, &p, NULL), SR_OK);
    assert_string_equal(p.configure, configure);
    assert_string_equal(p.write, write);
    assert_string_equal(p.read, read);
    sr_broker_permissions_fini(&p);
}

static void roles_get_sr3s_permissions(void **state)
{
    (void)state;
    expect(SR_ROLE_ADMIN, "bunnymaster", ".*", ".*", ".*");
    expect(SR_ROLE_FEEDER, "tfeed", ".*", ".*", ".*");
    expect(SR_ROLE_SOURCE, "tsource", "^q_tsource.*|^xs_tsource.*", "^q_tsource.*|^xs_tsource.*",
           "^q_tsource.*|^x[lrs]_tsource.*|^x.*public$");
    expect(SR_ROLE_SUBSCRIBER, "tsub", "^q_tsub.*", "^q_tsub.*|^xs_tsub$",
           "^q_tsub.*|^x[lrs]_tsub.*|^x.*public$");
    assert_string_equal(sr_broker_role_name(SR_ROLE_SUBSCRIBER), "subscriber");
}

static void a_dot_in_a_user_name_is_not_a_wildcard(void **state)
{
    (void)state;
    sr_broker_permissions p;
    assert_int_equal(sr_broker_permissions_of(SR_ROLE_SUBSCRIBER, "a.b", &p, NULL), SR_OK);
    /* user a.b must get no rights on queue q_aXb */
    assert_null(strstr(p.configure, "q_a.b"));
    assert_non_null(strstr(p.configure, "a\\.b"));
    sr_broker_permissions_fini(&p);
}

static void a_client_needs_an_admin_with_a_password(void **state)
{
    (void)state;
    sr_url url;
    sr_err err;
    sr_brokeradmin *a = NULL;
    assert_int_equal(sr_url_parse("amqp://bunnymaster@pump.example.com/", &url, NULL), SR_OK);
    sr_brokeradmin_options o = {.admin = &url};
    assert_int_not_equal(sr_brokeradmin_new(&o, &a, &err), SR_OK);
    assert_null(a);
    assert_non_null(strstr(err.msg, "password"));
    sr_url_fini(&url);

    assert_int_equal(sr_url_parse("amqps://bunnymaster:pw@pump.example.com/v%2fh", &url, NULL),
                     SR_OK);
    assert_int_equal(sr_brokeradmin_new(&o, &a, &err), SR_OK);
    assert_string_equal(sr_brokeradmin_endpoint(a), "https://pump.example.com:15671");
    assert_string_equal(sr_brokeradmin_vhost(a), "v/h");
    assert_null(strstr(sr_brokeradmin_endpoint(a), "pw"));
    sr_brokeradmin_free(a);
    sr_url_fini(&url);

    assert_int_equal(sr_url_parse("amqp://bunnymaster:pw@127.0.0.1:5673", &url, NULL), SR_OK);
    o.management_port = 25672;
    assert_int_equal(sr_brokeradmin_new(&o, &a, &err), SR_OK);
    assert_string_equal(sr_brokeradmin_endpoint(a), "http://127.0.0.1:25672");
    assert_string_equal(sr_brokeradmin_vhost(a), "/");
    sr_brokeradmin_free(a);
    sr_url_fini(&url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roles_get_sr3s_permissions),
        cmocka_unit_test(a_dot_in_a_user_name_is_not_a_wildcard),
        cmocka_unit_test(a_client_needs_an_admin_with_a_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
