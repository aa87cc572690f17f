/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * url: split and rebuild URLs. See url.h.
 *
 * The grammar is RFC 3986's, narrowed to what sr meets:
 *
 *     scheme ":" "//" [user [":" password] "@"] host [":" port] ["," host [":" port]]... [path]
 *     "file:" [path] | "file://" ["localhost"] path
 *
 * Choices worth knowing:
 *  - The authority ends at the first '/', not at '?' or '#': a password with an
 *    unencoded '#' then still parses (sr3 users write them), and http query strings stay
 *    in the path, which is kept as written.
 *  - The LAST '@' of the authority ends the userinfo. A raw '@' left in the userinfo is
 *    refused (it must be written %40) rather than guessed at.
 *  - An IPv6 host is written [::1] and kept without its brackets ("::1"), in inet_ntop's
 *    canonical form, which getaddrinfo takes; sr_url_format puts the brackets back.
 *  - Empty user or password ("amqp://:pw@h", "amqp://bob:@h") are kept as NULL.
 *  - Several hosts separated by ',' only for the broker schemes (the nodes of a cluster);
 *    elsewhere a list is refused rather than silently cut to its first host.
 *  - Error messages name the URL through sr_url_redacted and never echo text that could
 *    be part of a password (a port that is not a number is not quoted back).
 */
#include "url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "buf.h"

/* Longest URL quoted in an error message; the rest is cut (it is already redacted). */
#define URL_QUOTE_MAX 200

static bool is_scheme_char(char c)
{
    return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

static bool is_host_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static char *dup_range(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static void lower_in_place(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Fill err with 'bad URL "<redacted text>": <problem>' and return SR_EINVAL. */
static int url_fail(sr_err *err, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int url_fail(sr_err *err, const char *text, const char *fmt, ...)
{
    if (err == NULL)
        return SR_EINVAL;
    char problem[SR_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    char *red = sr_url_redacted(text);
    if (red == NULL)
        return sr_err_set(err, SR_EINVAL, false, "bad URL: %s", problem);
    size_t len = strlen(red);
    for (char *c = red; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?'; /* keep log lines one line */
    sr_err_set(err, SR_EINVAL, false, "bad URL \"%.*s%s\": %s", URL_QUOTE_MAX, red,
               len > URL_QUOTE_MAX ? "..." : "", problem);
    free(red);
    return SR_EINVAL;
}

/* Does every '%' in s[0..n) start a valid %XX escape? */
static bool escapes_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%')
            continue;
        if (n - i < 3 || sr_hex_value(s[i + 1]) < 0 || sr_hex_value(s[i + 2]) < 0)
            return false;
        i += 2;
    }
    return true;
}

enum decode_result { DECODE_OK, DECODE_BAD_ESCAPE, DECODE_NUL, DECODE_NOMEM };

/* Percent-decode s[0..n) into a new string (NULL when n is 0). */
static enum decode_result decode_range(const char *s, size_t n, char **out)
{
    *out = NULL;
    if (n == 0)
        return DECODE_OK;
    if (!escapes_ok(s, n))
        return DECODE_BAD_ESCAPE;
    char *d = malloc(n + 1);
    if (d == NULL)
        return DECODE_NOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            char c = (char)(sr_hex_value(s[i + 1]) * 16 + sr_hex_value(s[i + 2]));
            if (c == '\0') {
                free(d);
                return DECODE_NUL;
            }
            d[j++] = c;
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    return DECODE_OK;
}

static int decode_field(const char *text, const char *s, size_t n, const char *what, char **out,
                        sr_err *err)
{
    switch (decode_range(s, n, out)) {
    case DECODE_OK:
        return SR_OK;
    case DECODE_BAD_ESCAPE:
        return url_fail(err, text, "bad percent escape in the %s (%% must start %%XX)", what);
    case DECODE_NUL:
        return url_fail(err, text, "the %s encodes a NUL byte (%%00)", what);
    case DECODE_NOMEM:
        break;
    }
    return sr_err_set(err, SR_ENOMEM, false, "out of memory parsing a URL");
}

/* Parse the port text p[0..n) into *port. */
static int parse_port(const char *text, const char *p, size_t n, int *port, sr_err *err)
{
    if (n == 0)
        return url_fail(err, text, "empty port after ':'");
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return url_fail(err, text, "port is not a number");
    /* Skip leading zeros so a long run of them still reads as a small number. */
    size_t i = 0;
    while (i < n - 1 && p[i] == '0')
        i++;
    long v = 0;
    if (n - i <= 5) {
        for (; i < n; i++)
            v = v * 10 + (p[i] - '0');
    } else {
        v = 100000;
    }
    if (v < 1 || v > 65535)
        return url_fail(err, text, "port %.*s out of range 1-65535", (int)(n > 20 ? 20 : n), p);
    *port = (int)v;
    return SR_OK;
}

/* One host and port of an authority: host, [v6], host:port, [v6]:port. */
static int parse_node(const char *text, const char *h, size_t n, sr_url_node *node, sr_err *err)
{
    const char *host;
    size_t hlen;
    const char *rest;
    if (n > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (close == NULL)
            return url_fail(err, text, "'[' in the host is not closed by ']'");
        host = h + 1;
        hlen = (size_t)(close - host);
        rest = close + 1;
        char addr[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (hlen == 0)
            return url_fail(err, text, "no host");
        if (hlen >= sizeof addr)
            return url_fail(err, text, "bad IPv6 address in the host");
        memcpy(addr, host, hlen);
        addr[hlen] = '\0';
        if (inet_pton(AF_INET6, addr, &a6) != 1)
            return url_fail(err, text, "bad IPv6 address \"%s\"", addr);
        if (rest < h + n && *rest != ':')
            return url_fail(err, text, "unexpected text after ']' in the host");
        /* Keep the canonical form, so [2001:DB8:0::10] and [2001:db8::10] compare equal. */
        char canon[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &a6, canon, sizeof canon) == NULL)
            return url_fail(err, text, "bad IPv6 address \"%s\"", addr);
        node->host = strdup(canon);
        if (node->host == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory parsing a URL");
    } else {
        const char *colon = memchr(h, ':', n);
        host = h;
        hlen = colon ? (size_t)(colon - h) : n;
        rest = colon ? colon : h + n;
        if (hlen == 0)
            return url_fail(err, text, "no host");
        for (size_t i = 0; i < hlen; i++) {
            unsigned char c = (unsigned char)host[i];
            if (!is_host_char((char)c)) {
                if (isprint(c))
                    return url_fail(err, text, "bad character '%c' in the host", c);
                return url_fail(err, text, "bad character (byte 0x%02x) in the host", c);
            }
        }
    }
    if (rest < h + n) {
        /* *rest == ':' */
        int rc = parse_port(text, rest + 1, (size_t)(h + n - rest - 1), &node->port, err);
        if (rc != SR_OK)
            return rc;
    }
    if (node->host != NULL)
        return SR_OK; /* IPv6, already set */
    node->host = dup_range(host, hlen);
    if (node->host == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory parsing a URL");
    lower_in_place(node->host);
    return SR_OK;
}

static bool is_broker_scheme(const char *scheme)
{
    static const char *const brokers[] = {"amqp", "amqps", "mqtt", "mqtts"};
    for (size_t i = 0; i < sizeof brokers / sizeof brokers[0]; i++)
        if (strcmp(scheme, brokers[i]) == 0)
            return true;
    return false;
}

/* The hosts of an authority: one, or for a broker several separated by ',' (a ',' is not
 * a host character, so nothing that parsed before reads differently now). */
static int parse_hostport(const char *text, const char *h, size_t n, sr_url *url, sr_err *err)
{
    size_t count = 1;
    bool bracket = false;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '[')
            bracket = true;
        else if (h[i] == ']')
            bracket = false;
        else if (h[i] == ',' && !bracket)
            count++;
    }
    if (count > 1 && !is_broker_scheme(url->scheme))
        return url_fail(err, text,
                        "several hosts (separated by ',') are for broker URLs only (amqp, "
                        "amqps, mqtt, mqtts)");
    if (count > 1 && (url->others = calloc(count - 1, sizeof *url->others)) == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory parsing a URL");
    const char *from = h, *end = h + n;
    for (size_t k = 0; k < count; k++) {
        const char *stop = from;
        for (bool in = false; stop < end && (in || *stop != ','); stop++)
            in = *stop == '[' ? true : *stop == ']' ? false : in;
        sr_url_node node = {0};
        int rc = parse_node(text, from, (size_t)(stop - from), &node, err);
        if (rc != SR_OK) {
            free(node.host); /* an IPv6 host is kept before its port is read */
            return rc;
        }
        if (k == 0) {
            url->host = node.host;
            url->port = node.port;
        } else {
            url->others[k - 1] = node;
            url->other_count = k;
        }
        from = stop + 1;
    }
    return SR_OK;
}

static int parse_userinfo(const char *text, const char *u, size_t n, sr_url *url, sr_err *err)
{
    if (memchr(u, '@', n) != NULL)
        return url_fail(err, text, "'@' in a user or password must be written %%40");
    if (memchr(u, ' ', n) != NULL)
        return url_fail(err, text, "a space in a user or password must be written %%20");
    const char *colon = memchr(u, ':', n);
    size_t ulen = colon ? (size_t)(colon - u) : n;
    int rc = decode_field(text, u, ulen, "user", &url->user, err);
    if (rc != SR_OK)
        return rc;
    if (colon)
        rc = decode_field(text, colon + 1, (size_t)(u + n - colon - 1), "password", &url->password,
                          err);
    return rc;
}

static int set_path(const char *text, const char *p, sr_url *url, sr_err *err)
{
    if (!escapes_ok(p, strlen(p)))
        return url_fail(err, text, "bad percent escape in the path (%% must start %%XX)");
    url->path = strdup(p);
    if (url->path == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory parsing a URL");
    return SR_OK;
}

static int parse_file(const char *text, const char *rest, sr_url *url, sr_err *err)
{
    const char *path = rest;
    if (rest[0] == '/' && rest[1] == '/') {
        const char *auth = rest + 2;
        const char *slash = strchr(auth, '/');
        size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
        if (alen > 0 && !(alen == 9 && strncasecmp(auth, "localhost", 9) == 0))
            return url_fail(err, text, "a file: URL names no host (write file:/path)");
        path = auth + alen;
    }
    if (path[0] != '\0' && path[0] != '/')
        return url_fail(err, text, "a file: path must be absolute (file:/path)");
    return set_path(text, path, url, err);
}

static int parse_into(const char *text, sr_url *url, sr_err *err)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return url_fail(err, text, "control character (byte 0x%02x) in the URL", *p);
    if (text[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "bad URL \"\": empty");

    size_t slen = 0;
    if (isalpha((unsigned char)text[0]))
        while (is_scheme_char(text[slen]))
            slen++;
    if (slen == 0 || text[slen] != ':')
        return url_fail(err, text, "no scheme (expected scheme://host/...)");
    url->scheme = dup_range(text, slen);
    if (url->scheme == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory parsing a URL");
    lower_in_place(url->scheme);

    const char *rest = text + slen + 1;
    if (strcmp(url->scheme, "file") == 0)
        return parse_file(text, rest, url, err);

    if (rest[0] != '/' || rest[1] != '/')
        return url_fail(err, text, "expected \"//\" after \"%s:\"", url->scheme);
    const char *auth = rest + 2;
    const char *slash = strchr(auth, '/');
    size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
    const char *at = NULL;
    for (size_t i = alen; i > 0; i--)
        if (auth[i - 1] == '@') {
            at = auth + i - 1;
            break;
        }
    const char *hostport = auth;
    if (at) {
        int rc = parse_userinfo(text, auth, (size_t)(at - auth), url, err);
        if (rc != SR_OK)
            return rc;
        hostport = at + 1;
    }
    int rc = parse_hostport(text, hostport, (size_t)(auth + alen - hostport), url, err);
    if (rc != SR_OK)
        return rc;
    return set_path(text, auth + alen, url, err);
}

int sr_url_parse(const char *text, sr_url *url, sr_err *err)
{
    memset(url, 0, sizeof *url);
    if (text == NULL)
        return sr_err_set(err, SR_EINVAL, false, "bad URL: none given");
    int rc = parse_into(text, url, err);
    if (rc != SR_OK)
        sr_url_fini(url);
    return rc;
}

void sr_url_fini(sr_url *url)
{
    if (url == NULL)
        return;
    free(url->scheme);
    free(url->user);
    if (url->password) {
        /* Do not leave the secret lying in freed memory. */
        explicit_bzero(url->password, strlen(url->password));
        free(url->password);
    }
    free(url->host);
    free(url->path);
    for (size_t i = 0; i < url->other_count; i++)
        free(url->others[i].host);
    free(url->others);
    memset(url, 0, sizeof *url);
}

int sr_url_port(const sr_url *url)
{
    static const struct {
        const char *scheme;
        int port;
    } known[] = {
        {"amqp", 5672}, {"amqps", 5671}, {"mqtt", 1883}, {"mqtts", 8883}, {"sftp", 22},
        {"http", 80},   {"https", 443},  {"ftp", 21},    {"ftps", 990},
    };
    if (url == NULL)
        return 0;
    if (url->port > 0)
        return url->port;
    if (url->scheme == NULL)
        return 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(url->scheme, known[i].scheme) == 0)
            return known[i].port;
    return 0;
}

/* Write s percent-encoded for a userinfo field: all but unreserved and sub-delims. */
static void put_encoded(FILE *f, const char *s)
{
    static const char keep[] = "-._~!$&'()*+,;=";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || (*p != '\0' && strchr(keep, *p) != NULL))
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
}

char *sr_url_format(const sr_url *url, bool with_password)
{
    if (url == NULL || url->scheme == NULL)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        return NULL;
    fprintf(f, "%s:", url->scheme);
    if (url->host != NULL || url->user != NULL || url->password != NULL) {
        fputs("//", f);
        if (url->user != NULL || url->password != NULL) {
            if (url->user)
                put_encoded(f, url->user);
            if (url->password) {
                fputc(':', f);
                if (with_password)
                    put_encoded(f, url->password);
                else
                    fputs("***", f);
            }
            fputc('@', f);
        }
        for (size_t i = 0; i < sr_url_node_count(url); i++) {
            sr_url_node node = sr_url_node_at(url, i);
            if (i > 0)
                fputc(',', f);
            if (node.host != NULL && strchr(node.host, ':') != NULL)
                fprintf(f, "[%s]", node.host);
            else if (node.host != NULL)
                fputs(node.host, f);
            if (node.port > 0)
                fprintf(f, ":%d", node.port);
        }
        if (url->host == NULL && url->port > 0)
            fprintf(f, ":%d", url->port);
    }
    if (url->path)
        fputs(url->path, f);
    if (ferror(f)) {
        fclose(f);
        free(out);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Last occurrence of c in s[from..to), or -1. */
static long last_of(const char *s, size_t from, size_t to, char c)
{
    for (size_t i = to; i > from; i--)
        if (s[i - 1] == c)
            return (long)(i - 1);
    return -1;
}

static long first_of(const char *s, size_t from, size_t to, char c)
{
    for (size_t i = from; i < to; i++)
        if (s[i] == c)
            return (long)i;
    return -1;
}

/* p[0..n) is "port" then any ",host[:port]" (host possibly [v6]): what follows the first
 * ':' of a host list without a user. */
static bool ports_and_hosts(const char *p, size_t n)
{
    size_t i = 0;
    for (bool port = true;; port = false) {
        if (!port) {
            size_t from = i;
            if (i < n && p[i] == '[') {
                while (i < n && p[i] != ']')
                    i++;
                if (i == n)
                    return false;
                i++;
            } else {
                while (i < n && is_host_char(p[i]))
                    i++;
            }
            if (i == from)
                return false;
            if (i < n && p[i] == ':')
                i++;
            else if (i == n || p[i] == ',')
                goto next;
            else
                return false;
        }
        size_t digits = i;
        while (i < n && isdigit((unsigned char)p[i]))
            i++;
        if (i == digits && i < n) /* an empty port is shown only at the end ("host:") */
            return false;
    next:
        if (i == n)
            return true;
        if (p[i] != ',')
            return false;
        i++;
    }
}

/*
 * Redaction errs on the side of hiding too much: it must hold for URLs that do not
 * parse (a raw '/' or '@' in the password, a credentials.conf token cut at a space, a
 * missing scheme), where it cannot know where the password ends.
 */
char *sr_url_redacted(const char *text)
{
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);

    /* Where the authority starts: after "scheme://", else (broken URL) at the start. */
    size_t start = 0, after_scheme = 0;
    if (isalpha((unsigned char)text[0])) {
        size_t i = 0;
        while (is_scheme_char(text[i]))
            i++;
        if (text[i] == ':')
            after_scheme = i + 1;
        if (text[i] == ':' && text[i + 1] == '/' && text[i + 2] == '/')
            start = i + 3;
    }
    long slash = first_of(text, start, n, '/');
    size_t auth_end = slash < 0 ? n : (size_t)slash;

    long cut_from = -1, cut_to = -1; /* replace text[cut_from..cut_to) with "***" */
    long at = last_of(text, start, auth_end, '@');
    if (at >= 0) {
        /* Well formed: user:password@host; the password is between the first ':' and
         * the last '@' of the authority. */
        long colon = first_of(text, start, (size_t)at, ':');
        if (colon >= 0) {
            cut_from = colon + 1;
            cut_to = at;
        }
    } else {
        /* No '@' before the first '/': host[:port], unless the password held a raw '/'. */
        size_t from = start;
        if (text[start] == '[') {
            long close = first_of(text, start, auth_end, ']');
            from = close < 0 ? auth_end : (size_t)close;
        }
        long later_at = last_of(text, auth_end, n, '@');
        long colon = first_of(text, from, auth_end, ':');
        if (colon >= 0 && later_at >= 0) {
            cut_from = colon + 1;
            cut_to = later_at;
        } else {
            /* Without "//", the first ':' is the scheme's: "file:rel", "amqp:host". */
            if (start == 0 && after_scheme > 0)
                colon = first_of(text, after_scheme, auth_end, ':');
            if (colon >= 0) {
                /* "host:port" (or a list of them), or "user:pass" cut short: hide
                 * anything that is not a port and more hosts. */
                if (!ports_and_hosts(text + colon + 1, auth_end - (size_t)colon - 1)) {
                    cut_from = colon + 1;
                    cut_to = (long)auth_end;
                }
            }
        }
    }

    if (cut_from < 0)
        return strdup(text);
    size_t head = (size_t)cut_from, tail = n - (size_t)cut_to;
    char *out = malloc(head + 3 + tail + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, text, head);
    memcpy(out + head, "***", 3);
    memcpy(out + head + 3, text + cut_to, tail);
    out[head + 3 + tail] = '\0';
    return out;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst == NULL ? -1 : 0;
}

size_t sr_url_node_count(const sr_url *url)
{
    return url == NULL || url->host == NULL ? 0 : 1 + url->other_count;
}

sr_url_node sr_url_node_at(const sr_url *url, size_t i)
{
    if (i == 0)
        return (sr_url_node){url->host, url->port};
    return i <= url->other_count ? url->others[i - 1] : (sr_url_node){NULL, 0};
}

void sr_url_node_text(const sr_url *url, size_t i, char *out, size_t size)
{
    sr_url_node node = sr_url_node_at(url, i);
    sr_url one = *url;
    one.port = node.port;
    int port = sr_url_port(&one);
    const char *host = node.host != NULL ? node.host : "";
    if (strchr(host, ':') != NULL)
        snprintf(out, size, "[%s]:%d", host, port);
    else
        snprintf(out, size, "%s:%d", host, port);
}

int sr_url_copy(sr_url *dst, const sr_url *src)
{
    sr_url tmp = {0};
    tmp.port = src->port;
    bool failed = false;
    if (src->other_count > 0) {
        tmp.others = calloc(src->other_count, sizeof *tmp.others);
        failed = tmp.others == NULL;
        for (size_t i = 0; !failed && i < src->other_count; i++) {
            tmp.others[i].port = src->others[i].port;
            failed = dup_opt(&tmp.others[i].host, src->others[i].host) != 0;
            tmp.other_count = i + 1;
        }
    }
    if (failed || dup_opt(&tmp.scheme, src->scheme) || dup_opt(&tmp.user, src->user) ||
        dup_opt(&tmp.password, src->password) || dup_opt(&tmp.host, src->host) ||
        dup_opt(&tmp.path, src->path)) {
        sr_url_fini(&tmp);
        memset(dst, 0, sizeof *dst);
        return SR_ENOMEM;
    }
    *dst = tmp;
    return SR_OK;
}

char *sr_url_user(const char *text)
{
    sr_url url;
    if (text == NULL || sr_url_parse(text, &url, NULL) != SR_OK)
        return NULL;
    char *user = strdup(url.user ? url.user : "anonymous");
    sr_url_fini(&url);
    return user;
}
