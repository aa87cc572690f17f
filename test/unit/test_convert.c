/* SPDX-License-Identifier: GPL-2.0-only */
/* test_convert: a v2 config rewritten in sr3 form line by line as sr3 convert rewrites it
 * (names, checksum letters, date patterns, the acceptUnmatched default), v2 plugins that
 * have no sr equivalent kept commented out and reported with file:line. */
#include "unit.h"

#include "convert.h"

/* The conversion of text for component; problems and notes into the lists given. */
static char *convert(const char *component, const char *text, sr_strlist *problems,
                     sr_strlist *notes)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    char *out_buf = NULL;
    size_t out_len = 0;
    FILE *out = open_memstream(&out_buf, &out_len);
    assert_non_null(in);
    assert_non_null(out);
    sr_err err;
    assert_int_equal(sr_convert_stream(component, "v2.conf", in, out, problems, notes, &err),
                     SR_OK);
    fclose(in);
    fclose(out);
    return out_buf;
}

/* Does text hold line as a whole line? */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static bool list_has(const sr_strlist *l, const char *needle)
{
    for (size_t i = 0; i < l->count; i++)
        if (strstr(l->items[i], needle) != NULL)
            return true;
    return false;
}

static void v2_names_become_sr3_names(void **state)
{
    (void)state;
    sr_strlist problems = {0}, notes = {0};
    char *out = convert("sender",
                        "# my sender\n"
                        "\n"
                        "destination sftp://bob@host/\n"
                        "sum d\n"
                        "post_base_url http://example.com\n"
                        "events create,modify\n"
                        "directory /data/${YYYYMMDD}/${HH}\n"
                        "accept_unmatch True\n"
                        "accept .*\\.txt\n",
                        &problems, &notes);
    assert_true(has_line(out, "# my sender"));
    assert_non_null(strstr(out, "# my sender\n\n")); /* the blank line kept */
    assert_true(has_line(out, "sendTo sftp://bob@host/"));
    assert_true(has_line(out, "identity md5"));
    assert_true(has_line(out, "post_baseUrl http://example.com/"));
    assert_true(has_line(out, "fileEvents +create,modify"));
    assert_true(has_line(out, "directory /data/${%Y%m%d}/${%H}"));
    assert_true(has_line(out, "accept .*\\.txt"));
    /* the file's own acceptUnmatched comes last, where sr3 puts it */
    const char *last = strstr(out, "acceptUnmatched True\n");
    assert_non_null(last);
    assert_string_equal(last, "acceptUnmatched True\n");
    assert_int_equal(problems.count, 0);
    free(out);
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
}

static void checksum_letters_and_cod(void **state)
{
    (void)state;
    sr_strlist problems = {0}, notes = {0};
    char *out = convert("subscribe", "sum z,s\nsum n\nsum sha512\nsum q\n", &problems, &notes);
    assert_true(has_line(out, "identity cod,sha512"));
    assert_true(has_line(out, "identity none"));
    assert_true(has_line(out, "identity sha512"));
    assert_true(has_line(out, "#sum q")); /* neither v2 nor sr3: left out */
    assert_true(list_has(&problems, "v2.conf:4: sum q"));
    free(out);
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
}

static void subscribers_get_the_v2_default_of_accept_unmatched(void **state)
{
    (void)state;
    sr_strlist problems = {0}, notes = {0};
    char *out = convert("subscribe", "broker amqp://h/\naccept .*a.*\n", &problems, &notes);
    assert_true(has_line(out, "acceptUnmatched False"));
    free(out);
    /* accept .* is the same as sr3's default: dropped, and no acceptUnmatched added */
    out = convert("subscribe", "broker amqp://h/\naccept .*\n", &problems, &notes);
    assert_false(has_line(out, "accept .*"));
    assert_null(strstr(out, "\nacceptUnmatched"));
    assert_true(list_has(&notes, "v2.conf:2: accept .*"));
    free(out);
    /* a shovel had no such default */
    out = convert("shovel", "broker amqp://h/\n", &problems, &notes);
    assert_null(strstr(out, "\nacceptUnmatched"));
    assert_true(has_line(out, "#topicCopy on"));
    free(out);
    assert_int_equal(problems.count, 0);
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
}

static void plugins_without_sr_equivalent_are_commented_out_and_reported(void **state)
{
    (void)state;
    sr_strlist problems = {0}, notes = {0};
    char *out = convert("subscribe",
                        "broker amqp://h/\n"
                        "on_message msg_skip_old\n"
                        "plugin accel_wget.py\n"
                        "on_message msg_log\n"
                        "do_send my_sender.py\n"
                        "cache_stat on\n"
                        "no_download\n",
                        &problems, &notes);
    /* sr3's callback form, commented, below the reason */
    assert_true(has_line(out, "#callback accept.skipold.SkipOld"));
    assert_non_null(strstr(out, "NOT CONVERTED"));
    assert_true(list_has(&problems, "v2.conf:2: on_message msg_skip_old"));
    /* built into sr3 and sr: dropped, said in a comment and a note, not a problem */
    assert_true(list_has(&notes, "v2.conf:3: plugin accel_wget.py"));
    assert_false(has_line(out, "plugin accel_wget.py"));
    /* a plugin sr3 turns into an option sr has */
    assert_true(has_line(out, "logEvents +after_accept"));
    /* unknown to sr3 too */
    assert_true(has_line(out, "#do_send my_sender.py"));
    assert_true(list_has(&problems, "v2.conf:5: do_send my_sender.py"));
    assert_true(list_has(&notes, "v2.conf:6: cache_stat on"));
    assert_true(has_line(out, "download off"));
    assert_int_equal(problems.count, 2);
    free(out);
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
}

static void numbered_groups_keep_v2_numbering(void **state)
{
    (void)state;
    sr_strlist problems = {0}, notes = {0};
    char *out = convert("subscribe", "accept .*/(a)/(b).* directory /x/${1}\naccept (c) \n",
                        &problems, &notes);
    assert_true(has_line(out, "sundew_compat_regex_first_match_is_zero True"));
    /* once */
    const char *first = strstr(out, "sundew_compat");
    assert_null(strstr(first + 1, "sundew_compat"));
    free(out);
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
}

static void components_sr_lacks_have_no_conversion(void **state)
{
    (void)state;
    assert_string_equal(sr_convert_component("subscribe"), "subscribe");
    assert_string_equal(sr_convert_component("cpump"), "shovel");
    assert_string_equal(sr_convert_component("poll"), "poll");
    assert_null(sr_convert_component("report"));
}

static void a_poll_destination_is_the_server_it_lists(void **state)
{
    (void)state;
    sr_strlist problems = {0}, notes = {0};
    char *out = convert("poll", "destination sftp://bob@host/\n", &problems, &notes);
    assert_true(has_line(out, "pollUrl sftp://bob@host/"));
    free(out);
    sr_strlist_clear(&problems);
    sr_strlist_clear(&notes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v2_names_become_sr3_names),
        cmocka_unit_test(checksum_letters_and_cod),
        cmocka_unit_test(subscribers_get_the_v2_default_of_accept_unmatched),
        cmocka_unit_test(plugins_without_sr_equivalent_are_commented_out_and_reported),
        cmocka_unit_test(numbered_groups_keep_v2_numbering),
        cmocka_unit_test(components_sr_lacks_have_no_conversion),
        cmocka_unit_test(a_poll_destination_is_the_server_it_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
