/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtin_email: send.email (builtins.h), sr3's emailing sender: each file sent becomes
 * one mail per recipient, through the relay sendTo names (smtp://RELAY[:PORT], or
 * smtps:// for TLS), with libcurl's SMTP.
 *
 * Options, as sr3's:
 *   file_email_to PATTERN ADDR[, ADDR...]   (one or more lines) a file whose name begins
 *                  with PATTERN (a regular expression, matched at the start as sr3's
 *                  re.search('^'+PATTERN)) is mailed to each ADDR
 *   file_email_from ADDR   the sender (default "sarracenia-emailer", as sr3)
 *   file_email_relay HOST  sr3's relay; here the relay is sendTo's host, so this must be
 *                  that host when set (the start is refused otherwise)
 *   file_email_command     accepted and unused (sr3 declares it and does not use it)
 * The mail: Subject the file's name (new_file), From, To the one recipient, Date. A text
 * file (UTF-8, lines under 998 bytes) is the body as text/plain; anything else is sent
 * base64-encoded as an attachment (sr3 fails on a file that is not text). A file no
 * pattern matches is not mailed and counts as sent, as in sr3.
 *
 * Differences: no SMTP AUTH (sendTo's credentials are not passed); sr3 reads the file at
 * relPath relative to its working directory, here sr hands the bytes of the file it
 * sends. If one recipient fails the file is sent again later to all of them.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "builtins.h"
#include "regex.h"

/* Larger files are refused rather than held in memory: relays commonly refuse mail over
 * 10 to 25 MB anyway. */
#define EMAIL_MAX_BYTES (25u * 1024 * 1024)
/* RFC 5322: a line is at most 998 characters before its CRLF. */
#define EMAIL_LINE_MAX 998
#define EMAIL_DEFAULT_FROM "sarracenia-emailer"
#define EMAIL_TIMEOUT_S 60L

static const char *const email_options[] = {"file_email_to", "file_email_from", "file_email_relay",
                                            "file_email_command", NULL};
static const char *const email_schemes[] = {"smtp", "smtps", NULL};

typedef struct email_rule {
    sr_regex *re;
    char **to;
    size_t nto;
} email_rule;

typedef struct email_state {
    email_rule *rules;
    size_t nrules;
    char *from; /* the address alone, for MAIL FROM */
    char *from_header;
    CURL *curl;
} email_state;

static void email_stop(sr_plugin_host *h)
{
    email_state *st = h->state;
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nrules; i++) {
        sr_regex_free(st->rules[i].re);
        for (size_t j = 0; j < st->rules[i].nto; j++)
            free(st->rules[i].to[j]);
        free(st->rules[i].to);
    }
    free(st->rules);
    free(st->from);
    free(st->from_header);
    if (st->curl)
        curl_easy_cleanup(st->curl);
    free(st);
    h->state = NULL;
}

/* An address from config: printable, no blanks, nothing a header could be split on. */
static bool address_ok(const char *a)
{
    if (a[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == ',')
            return false;
    return true;
}

/* "PATTERN a@b, c@d" into a rule. 0, or -1 (logged). */
static int parse_rule(sr_plugin_host *h, const char *line, email_rule *r)
{
    const char *ws = " \t";
    const char *p = line + strspn(line, ws);
    size_t plen = strcspn(p, ws);
    const char *rest = p + plen;
    if (plen == 0 || rest[strspn(rest, ws)] == '\0') {
        h->api->log(h, SR_PLUGIN_ERROR, "file_email_to %s: not PATTERN ADDRESS[, ADDRESS...]",
                    line);
        return -1;
    }
    char *pat = strndup(p, plen);
    sr_err err = {0};
    r->re = pat ? sr_regex_new(pat, &err) : NULL;
    free(pat);
    if (r->re == NULL) {
        h->api->log(h, SR_PLUGIN_ERROR, "file_email_to %s: %s", line, err.msg);
        return -1;
    }
    for (const char *q = rest; *q;) {
        q += strspn(q, ", \t");
        size_t n = strcspn(q, ",");
        while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t'))
            n--;
        if (n == 0)
            break;
        char **to = realloc(r->to, (r->nto + 1) * sizeof *to);
        if (to == NULL)
            return -1;
        r->to = to;
        if ((r->to[r->nto] = strndup(q, n)) == NULL)
            return -1;
        if (!address_ok(r->to[r->nto++])) {
            h->api->log(h, SR_PLUGIN_ERROR, "file_email_to %s: %s is not an address", line,
                        r->to[r->nto - 1]);
            return -1;
        }
        q += n;
        q += strcspn(q, ",");
    }
    return 0;
}

/* The host of scheme://[user@]host[:port][/...], into buf. */
static void url_host(const char *url, char *buf, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t hn = p[0] == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":/");
    if (hn > n)
        hn = n;
    snprintf(buf, size, "%.*s", (int)hn, p);
}

static int email_start(sr_plugin_host *h)
{
    const char *send_to = h->api->option(h, "sendTo");
    if (send_to == NULL ||
        (strncasecmp(send_to, "smtp://", 7) != 0 && strncasecmp(send_to, "smtps://", 8) != 0)) {
        h->api->log(h, SR_PLUGIN_ERROR,
                    "send.email sends through sendTo smtp://RELAY (or smtps://); sendTo is %s",
                    send_to ? send_to : "unset");
        return -1;
    }
    const char *relay = h->api->option(h, "file_email_relay");
    char host[256];
    url_host(send_to, host, sizeof host);
    if (relay != NULL && relay[0] != '\0' && strcasecmp(relay, host) != 0) {
        h->api->log(h, SR_PLUGIN_ERROR,
                    "file_email_relay %s differs from sendTo's host %s: sr mails through "
                    "sendTo (set sendTo smtp://%s)",
                    relay, host, relay);
        return -1;
    }
    email_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    h->state = st;
    size_t n = h->api->option_count(h, "file_email_to");
    if (n == 0)
        h->api->log(h, SR_PLUGIN_WARNING, "no file_email_to line: no file will be mailed");
    st->rules = calloc(n ? n : 1, sizeof *st->rules);
    if (st->rules == NULL) {
        email_stop(h);
        return -1;
    }
    for (; st->nrules < n; st->nrules++)
        if (parse_rule(h, h->api->option_at(h, "file_email_to", st->nrules),
                       &st->rules[st->nrules]) != 0) {
            st->nrules++;
            email_stop(h);
            return -1;
        }
    const char *from = h->api->option(h, "file_email_from");
    if (from == NULL || from[0] == '\0')
        from = EMAIL_DEFAULT_FROM;
    if (!address_ok(from)) {
        h->api->log(h, SR_PLUGIN_ERROR, "file_email_from %s is not an address", from);
        email_stop(h);
        return -1;
    }
    size_t fl = strlen(from) + 3;
    st->from_header = strdup(from);
    st->from = malloc(fl);
    st->curl = curl_easy_init();
    if (st->from == NULL || st->from_header == NULL || st->curl == NULL) {
        email_stop(h);
        return -1;
    }
    snprintf(st->from, fl, "<%s>", from);
    return 0;
}

/* ---- the mail ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_str(buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static int buf_base64(buf *b, const unsigned char *s, size_t n, size_t wrap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        if (buf_add(b, q, 4) != 0)
            return -1;
        col += 4;
        if (wrap && col >= wrap && i + 3 < n) {
            if (buf_add(b, "\r\n", 2) != 0)
                return -1;
            col = 0;
        }
    }
    return 0;
}

/* Whether data is text a mail can carry as is: UTF-8, no NUL or bare CR, short lines.
 * *ascii: only 7-bit bytes. */
static bool is_text(const unsigned char *d, size_t n, bool *ascii)
{
    size_t line = 0;
    *ascii = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = d[i];
        if (c == '\n') {
            line = 0;
            continue;
        }
        if (++line > EMAIL_LINE_MAX || c == 0 || (c == '\r' && (i + 1 == n || d[i + 1] != '\n')))
            return false;
        if (c < 0x80)
            continue;
        *ascii = false;
        size_t more = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (more == 9 || c == 0xc0 || c == 0xc1)
            return false;
        for (size_t k = 1; k <= more; k++)
            if (i + k >= n || (d[i + k] & 0xc0) != 0x80)
                return false;
        i += more;
        line += more;
    }
    return true;
}

/* A header value from a file name: control characters become '?', so a name cannot add
 * a header; not ASCII: RFC 2047 encoded. */
static int buf_header_text(buf *b, const char *s)
{
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            ascii = false;
    size_t n = strlen(s);
    char *clean = strdup(s);
    if (clean == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)clean[i] < ' ' || clean[i] == 0x7f)
            clean[i] = '?';
    int r;
    if (ascii)
        r = buf_str(b, clean);
    else
        r = buf_str(b, "=?utf-8?B?") || buf_base64(b, (unsigned char *)clean, n, 0) ||
            buf_str(b, "?=");
    free(clean);
    return r;
}

static int build_mail(buf *b, const email_state *st, const char *to, const char *name,
                      const unsigned char *data, size_t n)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[64];
    snprintf(date, sizeof date, "Date: %s, %02d %s %d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    bool ascii;
    bool text = is_text(data, n, &ascii);
    if (buf_str(b, date) || buf_str(b, "From: ") || buf_str(b, st->from_header) ||
        buf_str(b, "\r\nTo: ") || buf_str(b, to) || buf_str(b, "\r\nSubject: ") ||
        buf_header_text(b, name) || buf_str(b, "\r\nMIME-Version: 1.0\r\n"))
        return -1;
    if (text) {
        if (buf_str(b, "Content-Type: text/plain; charset=\"utf-8\"\r\n"
                       "Content-Transfer-Encoding: ") ||
            buf_str(b, ascii ? "7bit\r\n\r\n" : "8bit\r\n\r\n"))
            return -1;
        /* LF to CRLF, as SMTP wants (libcurl escapes a leading '.') */
        for (size_t i = 0; i < n; i++) {
            if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) {
                if (buf_add(b, "\r\n", 2))
                    return -1;
            } else if (buf_add(b, (const char *)data + i, 1)) {
                return -1;
            }
        }
        return 0;
    }
    if (buf_str(b, "Content-Type: application/octet-stream\r\n"
                   "Content-Transfer-Encoding: base64\r\n"
                   "Content-Disposition: attachment; filename=\"") ||
        buf_header_text(b, name) || buf_str(b, "\"\r\n\r\n") || buf_base64(b, data, n, 76) ||
        buf_str(b, "\r\n"))
        return -1;
    return 0;
}

typedef struct reader {
    const char *p;
    size_t left;
} reader;

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ctx)
{
    reader *r = ctx;
    size_t n = size * nmemb < r->left ? size * nmemb : r->left;
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

static int mail_one(sr_plugin_host *h, email_state *st, const char *url, const char *to,
                    const buf *mail)
{
    char rcpt[512];
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *list = curl_slist_append(NULL, rcpt);
    if (list == NULL)
        return -1;
    reader r = {mail->p, mail->len};
    CURL *c = st->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, st->from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, list);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &r);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)mail->len);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, EMAIL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, EMAIL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    if (rc != CURLE_OK) {
        h->api->log(h, SR_PLUGIN_ERROR, "mail to %s through %s: %s", to, url,
                    curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static int email_send(sr_plugin_host *h, sr_plugin_msg *m, sr_plugin_source *source,
                      const char *remote_path)
{
    email_state *st = h->state;
    const char *url = h->api->option(h, "sendTo");
    if (st == NULL || url == NULL)
        return -1;
    const char *name = h->api->msg_get(m, "new_file");
    if (name == NULL) {
        name = strrchr(remote_path, '/');
        name = name ? name + 1 : remote_path;
    }
    size_t matched = 0;
    for (size_t i = 0; i < st->nrules; i++)
        if (sr_regex_match(st->rules[i].re, name, true, NULL, 0, NULL, NULL, NULL) == 1)
            matched++;
    if (matched == 0) {
        h->api->log(h, SR_PLUGIN_INFO, "%s: no file_email_to pattern matches, not mailed", name);
        return 0;
    }
    buf data = {0};
    char chunk[65536];
    long got;
    while ((got = h->api->source_read(source, chunk, sizeof chunk)) > 0) {
        if (data.len + (size_t)got > EMAIL_MAX_BYTES) {
            h->api->log(h, SR_PLUGIN_ERROR, "%s: larger than %u bytes, too large to mail", name,
                        EMAIL_MAX_BYTES);
            free(data.p);
            return -1;
        }
        if (buf_add(&data, chunk, (size_t)got) != 0) {
            free(data.p);
            return -1;
        }
    }
    if (got < 0) {
        free(data.p);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < st->nrules && rc == 0; i++) {
        if (sr_regex_match(st->rules[i].re, name, true, NULL, 0, NULL, NULL, NULL) != 1)
            continue;
        for (size_t j = 0; j < st->rules[i].nto && rc == 0; j++) {
            buf mail = {0};
            const char *to = st->rules[i].to[j];
            rc = build_mail(&mail, st, to, name, (const unsigned char *)(data.p ? data.p : ""),
                            data.len);
            if (rc == 0)
                rc = mail_one(h, st, url, to, &mail);
            if (rc == 0)
                h->api->log(h, SR_PLUGIN_INFO, "sent file %s to %s", name, to);
            free(mail.p);
        }
    }
    free(data.p);
    return rc;
}

const sr_plugin sr_builtin_email = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "send.email",
    .options = email_options,
    .schemes = email_schemes,
    .on_start = email_start,
    .on_stop = email_stop,
    .send = email_send,
};
