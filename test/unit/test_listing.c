/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * test_listing: lib/listing.c on what real servers send (test/data/listings, captured
 * from nginx, Apache, lighttpd, pyftpdlib and vsftpd over one tree: its README) and on
 * the forms no server here writes (DOS/IIS, the extra owner column, MLSD links).
 *
 * Each capture is fed whole, one byte at a time and in pieces of 7 bytes: the entries
 * must be the same, so lines and tags split across pieces are read alike.
 */
#include "unit.h"

#include <sys/stat.h>
#include <time.h>

#include "listing.h"

/* The captured tree's times (UTC), as the expected lines write them:
 *   1796549400 2026-12-06 09:30     1796549460 2026-12-06 09:31 (the link itself)
 *   1795183500 2026-11-20 14:05     1709633460 2024-03-05 10:11 (1709596800: the day,
 *                                   as LIST shows it, year and no time)
 * and the moment of the capture, listing's "now" for the dates without a year. */
#define NOW 1796556000LL /* 2026-12-06 11:20 */

typedef struct collected {
    char text[16384];
    size_t len;
    int stop_at; /* entry number (1-based) whose sink returns SR_EREFUSED; 0: never */
    int entries;
    int bad;
    char last_bad[256];
} collected;

static int collect_entry(void *ctx, const sr_listed *e, sr_err *err)
{
    collected *c = ctx;
    c->entries++;
    if (c->stop_at != 0 && c->entries == c->stop_at)
        return sr_err_set(err, SR_EREFUSED, false, "stopped at %s", e->name);
    char perms[16] = "-";
    if (e->has_perms)
        snprintf(perms, sizeof perms, "%o", (unsigned)(e->mode & 07777));
    char ns[16] = "";
    if (e->mtime.tv_nsec != 0)
        snprintf(ns, sizeof ns, ".%09ld", (long)e->mtime.tv_nsec);
    int n =
        snprintf(c->text + c->len, sizeof c->text - c->len, "%s|%lld|%lld%s|%c|%s|%s\n", e->name,
                 (long long)e->size, e->has_mtime ? (long long)e->mtime.tv_sec : -1LL, ns,
                 S_ISDIR(e->mode)   ? 'd'
                 : S_ISLNK(e->mode) ? 'l'
                 : S_ISREG(e->mode) ? 'f'
                                    : '?',
                 perms, e->link ? e->link : "");
    assert_true(n > 0 && (size_t)n < sizeof c->text - c->len);
    c->len += (size_t)n;
    return SR_OK;
}

static void collect_bad(void *ctx, const char *line)
{
    collected *c = ctx;
    c->bad++;
    snprintf(c->last_bad, sizeof c->last_bad, "%s", line);
}

/* Parse text fed in pieces of `piece` bytes (0: whole) into c; returns the last rc. */
static int parse(sr_listing_format f, const char *tz, const char *text, size_t len, size_t piece,
                 collected *c)
{
    memset(c->text, 0, sizeof c->text);
    c->len = 0;
    c->entries = c->bad = 0;
    sr_listing_sink sink = {.entry = collect_entry, .bad = collect_bad, .ctx = c};
    sr_listing_options o = {.timezone = tz, .now = (time_t)NOW};
    sr_listing *l = NULL;
    sr_err err;
    assert_int_equal(sr_listing_new(f, &o, &sink, &l, &err), SR_OK);
    int rc = SR_OK;
    if (piece == 0)
        piece = len ? len : 1;
    for (size_t i = 0; i < len && rc == SR_OK; i += piece)
        rc = sr_listing_feed(l, text + i, len - i < piece ? len - i : piece, &err);
    if (rc == SR_OK)
        rc = sr_listing_end(l, &err);
    assert_int_equal(sr_listing_bad_lines(l), (size_t)c->bad);
    sr_listing_free(l);
    return rc;
}

static char *slurp(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "listings/%s", name);
    FILE *f = fopen(test_data(rel), "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The capture, fed whole, byte by byte and by 7 bytes, gives exactly `want`. */
static void check_capture(sr_listing_format f, const char *file, const char *want)
{
    size_t len;
    char *text = slurp(file, &len);
    static const size_t pieces[] = {0, 1, 7};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        collected c = {0};
        assert_int_equal(parse(f, NULL, text, len, pieces[k], &c), SR_OK);
        if (strcmp(c.text, want) != 0)
            fail_msg("%s in pieces of %zu:\n%s\nwanted:\n%s", file, pieces[k], c.text, want);
        assert_int_equal(c.bad, 0);
    }
    free(text);
}

/* ---- FTP ---- */

/* pyftpdlib and vsftpd write the same lines (owner names or numbers apart) */
static const char unix_list[] = "a&b.txt|4|1796549400|f|644|\n"
                                "alpha.txt|6|1796549400|f|644|\n"
                                "beta.bin|1234|1796549400|f|644|\n"
                                "big.bin|3000000|1795183500|f|644|\n"
                                "café.txt|5|1796549400|f|644|\n"
                                "empty.dat|0|1796549400|f|644|\n"
                                "link|9|1796549460|l|777|alpha.txt\n"
                                "old.txt|4|1709596800|f|644|\n"
                                "sub|4096|1796549400|d|755|\n"
                                "with space.txt|7|1796549400|f|644|\n";

static void list_pyftpdlib(void **state)
{
    (void)state;
    check_capture(SR_LISTING_FTP_LIST, "pyftpdlib-list.txt", unix_list);
}

static void list_vsftpd(void **state)
{
    (void)state;
    check_capture(SR_LISTING_FTP_LIST, "vsftpd-list.txt", unix_list);
}

static void mlsd_pyftpdlib(void **state)
{
    (void)state;
    /* pyftpdlib follows the link (type=file, the target's size) and gives no mode */
    check_capture(SR_LISTING_FTP_MLSD, "pyftpdlib-mlsd.txt",
                  "café.txt|5|1796549400|f|-|\n"
                  "empty.dat|0|1796549400|f|-|\n"
                  "beta.bin|1234|1796549400|f|-|\n"
                  "link|6|1796549400|f|-|\n"
                  "sub|4096|1796549400|d|-|\n"
                  "old.txt|4|1709633460|f|-|\n"
                  "with space.txt|7|1796549400|f|-|\n"
                  "alpha.txt|6|1796549400|f|-|\n"
                  "big.bin|3000000|1795183500|f|-|\n"
                  "a&b.txt|4|1796549400|f|-|\n");
}

static void list_forms(void **state)
{
    (void)state;
    static const char text[] = "total 24\r\n"
                               "\r\n"
                               "drwxr-xr-x   2 u g 4096 Dec 06 09:30 .\r\n"
                               "drwxr-xr-x   2 u g 4096 Dec 06 09:30 ..\r\n"
                               /* one more owner column (sr3: "university of wisconsin") */
                               "-rw-r--r--   1 u other g 1234 Dec 06 09:30 extra owner\r\n"
                               /* no group column */
                               "-rw-r--r--   1 u 77 Dec 06 09:30 nogroup\r\n"
                               /* setuid, setgid without x, sticky; an ACL mark */
                               "-rwsr-Sr-t+  1 u g 1 Mar 05  2024 bits\r\n"
                               /* a device: understood, not a file to fetch */
                               "crw-rw----   1 u g 4, 1 Dec 06 09:30 tty1\r\n"
                               /* ls --time-style=long-iso */
                               "-rw-r--r--   1 u g 5 2024-03-05 10:11 iso\r\n"
                               "lrwxrwxrwx   1 u g 9 Dec 06 09:31 a link -> some where\r\n"
                               /* DOS / IIS */
                               "12-06-26  09:30AM       <DIR>          Folder Name\r\n"
                               "03-05-24  10:11PM                 1234 dos file.txt\r\n"
                               "12-06-2026  12:05AM                0 midnight\r\n"
                               "this is not a listing line\r\n"
                               "-rw-r--r--   1 u g x Dec 06 09:30 bad size\r\n"
                               "-rw-r--r--   1 u g 5 Dec 06 09:30 no newline at the end";
    collected c = {0};
    assert_int_equal(parse(SR_LISTING_FTP_LIST, NULL, text, sizeof text - 1, 0, &c), SR_OK);
    assert_string_equal(c.text, "extra owner|1234|1796549400|f|644|\n"
                                "nogroup|77|1796549400|f|644|\n"
                                "bits|1|1709596800|f|7745|\n"
                                "iso|5|1709633460|f|644|\n"
                                "a link|9|1796549460|l|777|some where\n"
                                "Folder Name|-1|1796549400|d|-|\n"
                                "dos file.txt|1234|1709676660|f|-|\n"
                                "midnight|0|1796515500|f|-|\n"
                                "no newline at the end|5|1796549400|f|644|\n");
    assert_int_equal(c.bad, 2);
    assert_string_equal(c.last_bad, "-rw-r--r--   1 u g x Dec 06 09:30 bad size");
}

/* sr3's rule for a date without a year: this year, or last year when its month is six or
 * more after this month (flowcb/poll filedate). */
static void list_year_rule(void **state)
{
    (void)state;
    static const struct {
        const char *now;  /* "YYYY-MM-DD" (noon UTC) */
        const char *line; /* month and day of the listed file */
        int year;         /* the year it is given */
    } cases[] = {
        {"2026-01-10", "Dec 31 23:59", 2025}, /* 12 - 1 = 11 */
        {"2026-01-10", "Jul 01 00:00", 2025}, /* 7 - 1 = 6 */
        {"2026-01-10", "Jun 30 10:00", 2026}, /* 5: this year, even in the future */
        {"2026-06-15", "Dec 01 10:00", 2025}, {"2026-06-15", "Nov 30 10:00", 2026},
        {"2026-12-06", "Jan 02 10:00", 2026}, {"2026-12-06", "Dec 06 09:30", 2026},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tm now = {.tm_hour = 12};
        assert_non_null(strptime(cases[i].now, "%Y-%m-%d", &now));
        char line[128];
        snprintf(line, sizeof line, "-rw-r--r-- 1 u g 1 %s f\n", cases[i].line);
        sr_listing_options o = {.now = timegm(&now)};
        collected c = {0};
        sr_listing_sink sink = {.entry = collect_entry, .ctx = &c};
        sr_listing *l;
        sr_err err;
        assert_int_equal(sr_listing_new(SR_LISTING_FTP_LIST, &o, &sink, &l, &err), SR_OK);
        assert_int_equal(sr_listing_feed(l, line, strlen(line), &err), SR_OK);
        assert_int_equal(sr_listing_end(l, &err), SR_OK);
        sr_listing_free(l);
        struct tm want = {0};
        char when[64];
        snprintf(when, sizeof when, "%d %s", cases[i].year, cases[i].line);
        assert_non_null(strptime(when, "%Y %b %d %H:%M", &want));
        char expect[64];
        snprintf(expect, sizeof expect, "f|1|%lld|f|644|\n", (long long)timegm(&want));
        if (strcmp(c.text, expect) != 0)
            fail_msg("now %s, %s: got %s want %s", cases[i].now, cases[i].line, c.text, expect);
    }
}

static void mlsd_forms(void **state)
{
    (void)state;
    static const char text[] =
        "type=cdir;modify=20261206093000;perm=el; .\r\n"
        "type=pdir;modify=20261206093000;perm=el; ..\r\n"
        "type=file;size=10;modify=20261206093000.250;UNIX.mode=0640; frac\r\n"
        "Type=OS.unix=slink:/data/x;Modify=20261206093100; ln\r\n"
        "type=OS.unix=symlink;modify=20261206093100; ln2\r\n"
        "type=dir;sizd=4096;modify=20261206093000;unix.mode=2755; d;with;semis\r\n"
        " nofacts\r\n"
        "size=abc; badsize\r\n"
        "type=file;modify=2026; short date\r\n"
        "nospace\r\n"
        "type=OS.unix=chr-4/1; tty\r\n";
    collected c = {0};
    assert_int_equal(parse(SR_LISTING_FTP_MLSD, "America/Montreal", text, sizeof text - 1, 1, &c),
                     SR_OK);
    /* MLSD is UTC whatever the timezone option */
    assert_string_equal(c.text, "frac|10|1796549400.250000000|f|640|\n"
                                "ln|-1|1796549460|l|-|/data/x\n"
                                "ln2|-1|1796549460|l|-|\n"
                                "d;with;semis|-1|1796549400|d|2755|\n"
                                "nofacts|-1|-1|f|-|\n");
    assert_int_equal(c.bad, 3);
    assert_string_equal(c.last_bad, "nospace");
}

static void mlsd_nanoseconds(void **state)
{
    (void)state;
    static const char text[] = "type=file;modify=20261206093000.123456789; ns\n"
                               "type=file;modify=20261206093000.5; half\n"
                               "type=file;modify=20261206093000.1234567891; too fine\n"
                               "type=file;modify=20261206093000.x; not digits\n";
    collected c = {0};
    assert_int_equal(parse(SR_LISTING_FTP_MLSD, NULL, text, sizeof text - 1, 0, &c), SR_OK);
    /* finer than nanoseconds: cut */
    assert_string_equal(c.text, "ns|-1|1796549400.123456789|f|-|\n"
                                "half|-1|1796549400.500000000|f|-|\n"
                                "too fine|-1|1796549400.123456789|f|-|\n");
    assert_int_equal(c.bad, 1);
}

/* ---- HTML ---- */

static void html_nginx(void **state)
{
    (void)state;
    static const char common[] = "a&b.txt|4|1796549400|f|-|\n"
                                 "alpha.txt|6|1796549400|f|-|\n"
                                 "beta.bin|1234|1796549400|f|-|\n"
                                 "%s"
                                 "café.txt|5|1796549400|f|-|\n"
                                 "empty.dat|0|1796549400|f|-|\n"
                                 "link|6|1796549400|f|-|\n"
                                 "old.txt|4|1709633460|f|-|\n"
                                 "with space.txt|7|1796549400|f|-|\n";
    char want[1024];
    snprintf(want, sizeof want, "sub|-1|1796549400|d|-|\n%s", common);
    char exact[1024], rounded[1024];
    snprintf(exact, sizeof exact, want, "big.bin|3000000|1795183500|f|-|\n");
    snprintf(rounded, sizeof rounded, want, "big.bin|-1|1795183500|f|-|\n"); /* "3M" */
    check_capture(SR_LISTING_HTML, "nginx-exact.html", exact);
    check_capture(SR_LISTING_HTML, "nginx-rounded.html", rounded);
}

static const char apache_want[] = "a&b.txt|4|1796549400|f|-|\n"
                                  "alpha.txt|6|1796549400|f|-|\n"
                                  "beta.bin|-1|1796549400|f|-|\n" /* 1.2K */
                                  "big.bin|-1|1795183500|f|-|\n"  /* 2.9M */
                                  "café.txt|5|1796549400|f|-|\n"
                                  "empty.dat|0|1796549400|f|-|\n"
                                  "link|6|1796549400|f|-|\n"
                                  "old.txt|4|1709633460|f|-|\n"
                                  "sub|-1|1796549400|d|-|\n"
                                  "with space.txt|7|1796549400|f|-|\n";

static void html_apache(void **state)
{
    (void)state;
    check_capture(SR_LISTING_HTML, "apache-debian.html", apache_want);
    check_capture(SR_LISTING_HTML, "apache-fancy.html", apache_want);
    check_capture(SR_LISTING_HTML, "apache-plain.html",
                  "a&b.txt|-1|-1|f|-|\n"
                  "alpha.txt|-1|-1|f|-|\n"
                  "beta.bin|-1|-1|f|-|\n"
                  "big.bin|-1|-1|f|-|\n"
                  "café.txt|-1|-1|f|-|\n"
                  "empty.dat|-1|-1|f|-|\n"
                  "link|-1|-1|f|-|\n"
                  "old.txt|-1|-1|f|-|\n"
                  "sub|-1|-1|d|-|\n"
                  "with space.txt|-1|-1|f|-|\n");
}

static void html_lighttpd(void **state)
{
    (void)state;
    /* every size rounded ("0.1K"); the JavaScript after the table is not read for links */
    check_capture(SR_LISTING_HTML, "lighttpd.html",
                  "sub|-1|1796549400|d|-|\n"
                  "a&b.txt|-1|1796549400|f|-|\n"
                  "alpha.txt|-1|1796549400|f|-|\n"
                  "beta.bin|-1|1796549400|f|-|\n"
                  "big.bin|-1|1795183500|f|-|\n"
                  "café.txt|-1|1796549400|f|-|\n"
                  "empty.dat|-1|1796549400|f|-|\n"
                  "link|-1|1796549400|f|-|\n"
                  "old.txt|-1|1709633460|f|-|\n"
                  "with space.txt|-1|1796549400|f|-|\n");
}

static void html_any_page(void **state)
{
    (void)state;
    static const char page[] =
        "<!DOCTYPE html><html><head><title>a & b</title>\n"
        "<script>var s = '<a href=\"script.txt\">'; if (a<b) {}</script>\n"
        "<style>a:after { content: \"<a href='style.txt'>\" }</style>\n"
        "<!-- <a href=\"comment.txt\">x</a> -- still a comment -->\n"
        "</head><body>\n"
        "<p>Files: <A HREF='one.txt'>one</A>, <a class=x href=two%20words.txt>two</a>\n"
        "<a href=\"?C=N;O=D\">sort</a> <a href=\"../\">up</a> <a href=\"/abs.txt\">abs</a>\n"
        "<a href=\"http://example.com/x.txt\">far</a> <a href=\"mailto:x@y\">mail</a>\n"
        "<a href=\"#top\">top</a> <a href=\"deeper/x.txt\">deeper</a> <a href=\".\">dot</a>\n"
        "<a href=\"x.txt?download=1\">query</a> <a href=\"a%2Fb\">slash</a>\n"
        "<a href=\"&lt;t&gt;&quot;q&quot;&#38;&#x41;&apos;.txt\">entities</a>\n"
        "<a title=\"x > y\" href=\"gt.txt\">quoted gt</a>\n"
        "<a href=\"./dotslash.txt\">dot slash</a> <a href=\"folder/\">folder</a>\n"
        "<a href=\"icon.gif\"><img src=\"i.gif\"></a> <a href=\"icon.gif\">icon.gif</a> "
        "2024-03-05 10:11 12\n"
        "a < b is text, &amp; so is this\n"
        "<a href=\"last.txt\">last</a>";
    collected c = {0};
    assert_int_equal(parse(SR_LISTING_HTML, NULL, page, sizeof page - 1, 0, &c), SR_OK);
    static const char want[] = "one.txt|-1|-1|f|-|\n"
                               "two words.txt|-1|-1|f|-|\n"
                               "<t>\"q\"&A'.txt|-1|-1|f|-|\n"
                               "gt.txt|-1|-1|f|-|\n"
                               "dotslash.txt|-1|-1|f|-|\n"
                               "folder|-1|-1|d|-|\n"
                               "icon.gif|12|1709633460|f|-|\n"
                               "last.txt|-1|-1|f|-|\n";
    assert_string_equal(c.text, want);
    for (size_t piece = 1; piece < 12; piece++) {
        collected p = {0};
        assert_int_equal(parse(SR_LISTING_HTML, NULL, page, sizeof page - 1, piece, &p), SR_OK);
        assert_string_equal(p.text, want);
    }
    assert_int_equal(c.bad, 0);
}

/* ---- time zones ---- */

static void timezones(void **state)
{
    (void)state;
    setenv("TZ", "Asia/Tokyo", 1);
    tzset();
    static const char list[] = "-rw-r--r-- 1 u g 1 Dec 06 09:30 winter\n"
                               "-rw-r--r-- 1 u g 1 Jul 06 09:30 summer\n";
    collected c = {0};
    /* 09:30 EST is 14:30 UTC; in July (EDT) 13:30 */
    assert_int_equal(parse(SR_LISTING_FTP_LIST, "America/Montreal", list, sizeof list - 1, 0, &c),
                     SR_OK);
    assert_string_equal(c.text, "winter|1|1796567400|f|644|\n"
                                "summer|1|1783344600|f|644|\n");
    static const char page[] = "<a href=\"x\">x</a> 06-Dec-2026 09:30 5\n";
    assert_int_equal(parse(SR_LISTING_HTML, "EST", page, sizeof page - 1, 0, &c), SR_OK);
    assert_string_equal(c.text, "x|5|1796567400|f|-|\n");
    assert_int_equal(parse(SR_LISTING_HTML, "UTC", page, sizeof page - 1, 0, &c), SR_OK);
    assert_string_equal(c.text, "x|5|1796549400|f|-|\n");
    /* TZ is put back */
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    tzset();
    assert_int_equal(parse(SR_LISTING_FTP_LIST, "Europe/Paris", list, 40, 0, &c), SR_OK);
    assert_null(getenv("TZ"));

    sr_listing_sink sink = {.entry = collect_entry, .ctx = &c};
    sr_listing_options o = {.timezone = "Nowhere/Atlantis"};
    sr_listing *l = (sr_listing *)&c;
    sr_err err;
    assert_int_equal(sr_listing_new(SR_LISTING_FTP_LIST, &o, &sink, &l, &err), SR_EINVAL);
    assert_null(l);
    assert_non_null(strstr(err.msg, "Nowhere/Atlantis"));
    o.timezone = "../../etc/passwd";
    assert_int_equal(sr_listing_new(SR_LISTING_FTP_LIST, &o, &sink, &l, &err), SR_EINVAL);
}

/* ---- limits ---- */

static void sink_stops_the_listing(void **state)
{
    (void)state;
    size_t len;
    char *text = slurp("vsftpd-list.txt", &len);
    collected c = {.stop_at = 3};
    sr_listing_sink sink = {.entry = collect_entry, .ctx = &c};
    sr_listing *l;
    sr_err err;
    assert_int_equal(sr_listing_new(SR_LISTING_FTP_LIST, NULL, &sink, &l, &err), SR_OK);
    assert_int_equal(sr_listing_feed(l, text, len, &err), SR_EREFUSED);
    assert_string_equal(err.msg, "stopped at beta.bin");
    assert_int_equal(sr_listing_feed(l, text, len, &err), SR_EREFUSED);
    assert_int_equal(sr_listing_end(l, &err), SR_EREFUSED);
    assert_int_equal(c.entries, 3); /* nothing after the stop */
    sr_listing_free(l);
    free(text);
}

static void long_lines_are_bad(void **state)
{
    (void)state;
    size_t n = SR_LISTING_LINE_MAX + 100;
    static const char rest[] = "\n-rw-r--r-- 1 u g 5 Dec 06 09:30 after\nnul\0here\n";
    char *text = malloc(n + sizeof rest);
    assert_non_null(text);
    memset(text, 'x', n);
    memcpy(text + n, rest, sizeof rest - 1);
    for (size_t piece = 0; piece < 2; piece++) {
        collected c = {0};
        assert_int_equal(
            parse(SR_LISTING_FTP_LIST, NULL, text, n + sizeof rest - 1, piece ? 4096 : 0, &c),
            SR_OK);
        assert_string_equal(c.text, "after|5|1796549400|f|644|\n");
        assert_int_equal(c.bad, 2); /* the long line (cut), the line with a NUL */
        assert_string_equal(c.last_bad, "nul");
    }
    /* a tag that never ends is one bad line, and the page goes on after its '>' */
    static const char page_rest[] = "\">x</a>\n<a href=\"ok\">ok</a>\n";
    memcpy(text, "<a href=\"", 9);
    memcpy(text + n, page_rest, sizeof page_rest - 1);
    collected c = {0};
    assert_int_equal(parse(SR_LISTING_HTML, NULL, text, n + sizeof page_rest - 1, 0, &c), SR_OK);
    assert_string_equal(c.text, "ok|-1|-1|f|-|\n");
    assert_int_equal(c.bad, 1);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_pyftpdlib),
        cmocka_unit_test(list_vsftpd),
        cmocka_unit_test(mlsd_pyftpdlib),
        cmocka_unit_test(list_forms),
        cmocka_unit_test(list_year_rule),
        cmocka_unit_test(mlsd_forms),
        cmocka_unit_test(mlsd_nanoseconds),
        cmocka_unit_test(html_nginx),
        cmocka_unit_test(html_apache),
        cmocka_unit_test(html_lighttpd),
        cmocka_unit_test(html_any_page),
        cmocka_unit_test(timezones),
        cmocka_unit_test(sink_stops_the_listing),
        cmocka_unit_test(long_lines_are_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
