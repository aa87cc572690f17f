/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer_curl: http, https, ftp and ftps through libcurl.
 *
 * One CURL easy handle per session, reset before each operation (a reset keeps the live
 * connections), so every file of an instance goes over one kept-alive connection. Bytes
 * reach the disk through sr_transfer_sink_write from the write callback and leave it
 * through sr_transfer_source_read from the read callback: checksum, count and
 * byteRateMax apply as everywhere.
 *
 * http/https (sr3 downloads over http and never sends, so put, mkdir, rename, delete and
 * symlink are SR_EINVAL; chmod and utime are SR_OK doing nothing):
 *  - redirects are followed (to http and https only); credentials are not sent to
 *    another host;
 *  - basic auth from the URL's user and password, or a bearer token (the credential's
 *    bearer_token), which wins when both are there;
 *  - TLS is verified (chain and host name) unless tlsRigour is lax, which says so in a
 *    warning on every new connection; strict also asks for TLS 1.2 or later. The CA
 *    bundle is $SSL_CERT_FILE (or $SSL_CERT_DIR) when set: libcurl has a compiled-in
 *    bundle that would otherwise win over OpenSSL's reading of those variables;
 *  - a range asked and answered with 200 instead of 206 is SR_EPROTO: the caller starts
 *    over rather than append the whole file to the part it has;
 *  - stat is a HEAD (Content-Length, Last-Modified); a listing is a GET of the folder
 *    (trailing '/'), its index page read by listing.h's HTML parser as it arrives.
 *
 * ftp: passive unless the credential says active; binary unless it says ascii.
 *  - TLS: sr3 has no ftps scheme: explicit TLS (AUTH TLS on the usual port 21) is an ftp
 *    URL whose credential has `tls`; implicit TLS (TLS from the first byte, port 990) is
 *    `implicit_ftps`. The data connections are encrypted only with `prot_p` (PROT P),
 *    as sr3 does. An ftps:// URL, which sr3 does not know, means what it means to curl,
 *    lftp and wget: implicit TLS, port 990, and here every connection protected.
 *    With a libcurl older than 8.9, FTP sessions stop at TLS 1.2: those lose the end of
 *    an upload now and then under TLS 1.3 (seen here, and in curl's known bugs).
 *  - Remote paths are relative to the login folder; "//x" is the absolute /x (as in
 *    sftp; the sender and the download make "//x" of what sr3 reads as absolute:
 *    transfer.h). Commands sent as text (MKD, RNFR/RNTO, DELE, RMD, SITE CHMOD) use absolute
 *    paths built from the login folder (PWD at login), since a reused connection may
 *    sit in any folder.
 *  - mkdir_p makes each missing folder with MKD and sets its mode with SITE CHMOD; put
 *    also makes missing folders (CURLOPT_FTP_CREATE_MISSING_DIRS).
 *  - chmod is SITE CHMOD; a server that refuses it gets an info note, not an error
 *    (many do not have it). utime is SR_OK doing nothing: FTP has no standard command
 *    for it (sr3's ftp does not set times either). symlink is SR_EINVAL.
 *  - stat is SIZE + MDTM (curl's NOBODY with FILETIME), a folder when CWD into it works;
 *    a listing is MLSD (exact sizes, UTC times), or LIST (listing.h reads Unix and DOS
 *    lines) on a server that refuses MLSD, remembered for the session.
 *  - A server's 4xx reply is transient (retryable), 5xx is not, as RFC 959 says.
 */
#include "transfer_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"

#ifndef SR_VERSION
#define SR_VERSION "0"
#endif

/* libcurl's buffers come from bufSize (bigger pieces mean fewer writes and checksum
 * calls), within what libcurl takes: 16 KiB (the upload buffer's least) to 512 KiB
 * (CURL_MAX_READ_SIZE). */
#define CURL_BUFFER_MIN (16 * 1024L)
#define CURL_BUFFER_MAX (512 * 1024L)
/* The first libcurl whose FTPS uploads are safe under TLS 1.3 (8.9.0). */
#define CURL_FTPS_TLS13_SAFE 0x080900
/* Longest FTP reply or HTTP reason kept for messages. */
#define REPLY_MAX 160

typedef struct curl_backend {
    CURL *easy;
    bool http;          /* http or https, else ftp */
    bool tls;           /* some TLS in use (https, ftp with tls or implicit) */
    char *base;         /* "scheme://host:port" as curl is given it: no user, no path */
    char *entry;        /* ftp: the login folder, learned from the first connection */
    bool ftp_tls12_max; /* FTP over TLS with a libcurl that loses uploads on TLS 1.3 */
    bool no_mlsd;       /* ftp: the server refused MLSD once; LIST from then on */
    curl_socket_t sock; /* the connection the last request used, and its local port */
    int sock_port;
    char errbuf[CURL_ERROR_SIZE];
} curl_backend;

/* One operation: where its bytes go or come from, and what the callbacks saw. */
typedef struct request {
    sr_transfer *t;
    curl_backend *b;
    const char *verb; /* for messages: GET, HEAD, PUT, LIST, MKD ... */
    const char *path; /* the remote path, for messages */
    /* get */
    int fd;
    sr_digest *digest;
    sr_transfer_result *result;
    bool ranged;
    off_t offset;
    off_t range_start; /* from Content-Range, -1 when none */
    /* put */
    int in_fd;
    off_t in_pos, in_end; /* in_end -1: to the end */
    /* list: the body goes to the parser as it arrives; probes: no body expected (curl
     * writes FTP "headers") */
    sr_listing *listing;
    bool discard;
    /* what the server said last: HTTP status line or FTP reply */
    long reply_code;
    char reply[REPLY_MAX];
    /* ftp: commands whose replies are wanted (ftp_run) */
    struct ftp_batch *batch;
    /* a failure inside a callback */
    int rc;
    sr_err err;
} request;

static void request_init(request *r, sr_transfer *t, const char *verb, const char *path)
{
    memset(r, 0, sizeof *r);
    r->t = t;
    r->b = t->backend;
    r->verb = verb;
    r->path = path;
    r->fd = -1;
    r->in_fd = -1;
    r->in_end = -1;
    r->range_start = -1;
}

static void request_fini(request *r)
{
    (void)r; /* nothing held yet: kept as the pair of request_init */
}

/* ---- URLs ---- */

/* Bytes a URL path may carry as they are; ';' is left out (curl reads ";type=" in ftp
 * URLs), and so are '?' and '#'. */
static bool path_char_ok(unsigned char c)
{
    return isalnum(c) || strchr("-._~/!$&'()*+,=:@", c) != NULL;
}

/* base + the remote path, percent-encoded; for ftp a leading "//" becomes "/%2F" (an
 * absolute path in an FTP URL). trailing_slash adds '/' when missing (a folder). New
 * string or NULL. */
static char *make_url(const curl_backend *b, const char *remote_path, bool trailing_slash)
{
    size_t n = strlen(remote_path);
    char *out = malloc(strlen(b->base) + 3 * n + 8);
    if (out == NULL)
        return NULL;
    char *p = out + sprintf(out, "%s", b->base);
    const char *s = remote_path;
    if (!b->http && s[0] == '/' && s[1] == '/') {
        p += sprintf(p, "/%%2F");
        s += 2;
    } else if (s[0] != '/') {
        *p++ = '/';
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (path_char_ok(c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    if (trailing_slash && p[-1] != '/')
        *p++ = '/';
    *p = '\0';
    return out;
}

/* The server's absolute path for a remote path, for FTP commands sent as text. New
 * string or NULL (out of memory). */
static char *ftp_abs(const curl_backend *b, const char *remote_path)
{
    char *out = NULL;
    if (remote_path[0] == '/' && remote_path[1] == '/')
        return strdup(remote_path + 1);
    const char *entry = b->entry != NULL ? b->entry : "/";
    size_t elen = strlen(entry);
    while (elen > 0 && entry[elen - 1] == '/')
        elen--;
    const char *rel = remote_path;
    while (*rel == '/')
        rel++;
    if (asprintf(&out, "%.*s/%s", (int)elen, entry, rel) < 0)
        return NULL;
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
    return out;
}

/* ---- callbacks ---- */

static void keep_reply(request *r, const char *text, size_t n)
{
    while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == '\n'))
        n--;
    if (n >= sizeof r->reply)
        n = sizeof r->reply - 1;
    for (size_t i = 0; i < n; i++)
        r->reply[i] = isprint((unsigned char)text[i]) ? text[i] : '?';
    r->reply[n] = '\0';
}

/* Headers (http) or every server reply line (ftp). */
static size_t on_header(char *data, size_t size, size_t nitems, void *userp)
{
    request *r = userp;
    size_t n = size * nitems;
    if (!r->b->http) {
        /* "213 20240101", "550 No such file"; continuation lines have '-' at [3] */
        if (n >= 4 && isdigit((unsigned char)data[0]) && isdigit((unsigned char)data[1]) &&
            isdigit((unsigned char)data[2]) && data[3] == ' ') {
            r->reply_code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
            keep_reply(r, data, n);
        }
        return n;
    }
    if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or a 100): forget the last one's */
        r->range_start = -1;
        const char *sp = memchr(data, ' ', n);
        if (sp != NULL)
            keep_reply(r, sp + 1, n - (size_t)(sp + 1 - data));
        return n;
    }
    static const char cr[] = "content-range:";
    if (n > sizeof cr && strncasecmp(data, cr, sizeof cr - 1) == 0) {
        char line[128];
        size_t len = n < sizeof line ? n : sizeof line - 1;
        memcpy(line, data, len);
        line[len] = '\0';
        long long start;
        if (sscanf(line + sizeof cr - 1, " bytes %lld-", &start) == 1)
            r->range_start = (off_t)start;
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    request *r = userp;
    size_t n = size * nmemb;
    if (r->discard)
        return n;
    if (r->b->http) {
        long code = 0;
        curl_easy_getinfo(r->b->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code >= 300)
            return n; /* an error page, not the file: the status says what happened */
        if (r->ranged && code != 206) {
            r->rc = sr_err_set(&r->err, SR_EPROTO, false,
                               "GET %s%s: the server ignored the byte range asked (HTTP %ld, "
                               "not 206): it cannot resume or send part of a file",
                               r->t->shown_url, r->path, code);
            return 0;
        }
        if (r->ranged && r->range_start != r->offset) {
            r->rc = sr_err_set(&r->err, SR_EPROTO, false,
                               "GET %s%s: asked for bytes from %lld, the server sent from %lld",
                               r->t->shown_url, r->path, (long long)r->offset,
                               (long long)r->range_start);
            return 0;
        }
    }
    if (r->listing != NULL) {
        /* no size limit: the parser keeps one line (or tag) whatever the reply's size */
        int rc = sr_listing_feed(r->listing, data, n, &r->err);
        if (rc != SR_OK) {
            r->rc = rc;
            return 0;
        }
        return n;
    }
    int rc = sr_transfer_sink_write(r->t, r->fd, data, n, r->digest, r->result, &r->err);
    if (rc != SR_OK) {
        r->rc = rc;
        return 0;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
    request *r = userp;
    size_t n = size * nitems;
    if (r->in_end >= 0) {
        if (r->in_pos >= r->in_end)
            return 0;
        if ((off_t)n > r->in_end - r->in_pos)
            n = (size_t)(r->in_end - r->in_pos);
    }
    ssize_t got = sr_transfer_source_read(r->t, r->in_fd, buf, n, r->in_pos, r->result, &r->err);
    if (got < 0) {
        r->rc = r->err.code != SR_OK ? r->err.code : SR_EIO;
        return CURL_READFUNC_ABORT;
    }
    r->in_pos += got;
    return (size_t)got;
}

/* curl positions the upload itself when it resumes one (APPE after the remote part). */
static int on_seek(void *userp, curl_off_t offset, int origin)
{
    request *r = userp;
    if (origin != SEEK_SET || offset < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    r->in_pos = (off_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ---- the request ---- */

static bool ftp_uses_tls(const sr_transfer *t)
{
    const sr_credential *c = t->credential;
    return strcmp(t->url.scheme, "ftps") == 0 || (c != NULL && (c->tls || c->implicit_ftps));
}

/* Options every request has, after a reset. 0 or a CURLcode (out of memory). */
static CURLcode setup(request *r, const char *url)
{
    sr_transfer *t = r->t;
    curl_backend *b = r->b;
    CURL *e = b->easy;
    curl_easy_reset(e);
    b->errbuf[0] = '\0';
    double timeout = sr_transfer_timeout(t);
    long timeout_ms = (long)(timeout * 1000);
    long timeout_s = (long)ceil(timeout);
    CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_ERRORBUFFER, b->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    /* "timeout": no progress for that long (a whole large file may take longer) */
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, timeout_s > 0 ? timeout_s : 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    size_t want = sr_transfer_buffer_size(t);
    /* no larger than the most a download may bring (one byte past it says "more"):
     * libcurl allocates its buffer for each transfer, and half a megabyte for a file of
     * a few kilobytes costs more than the file */
    if (t->sink_limit >= 0 && (size_t)t->sink_limit < want)
        want = (size_t)t->sink_limit + 1;
    long buffer = want < (size_t)CURL_BUFFER_MIN   ? CURL_BUFFER_MIN
                  : want > (size_t)CURL_BUFFER_MAX ? CURL_BUFFER_MAX
                                                   : (long)want;
    SET(CURLOPT_BUFFERSIZE, buffer);
    SET(CURLOPT_UPLOAD_BUFFERSIZE, buffer);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    if (t->url.user != NULL)
        SET(CURLOPT_USERNAME, t->url.user);
    if (t->url.password != NULL)
        SET(CURLOPT_PASSWORD, t->url.password);
    if (b->tls) {
        if (t->options->tls == SR_TLS_LAX) {
            SET(CURLOPT_SSL_VERIFYPEER, 0L);
            SET(CURLOPT_SSL_VERIFYHOST, 0L);
        } else if (t->options->tls == SR_TLS_STRICT) {
            SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        }
        const char *ca = getenv("SSL_CERT_FILE");
        if (ca != NULL && ca[0] != '\0')
            SET(CURLOPT_CAINFO, ca);
        const char *ca_dir = getenv("SSL_CERT_DIR");
        if (ca_dir != NULL && ca_dir[0] != '\0')
            SET(CURLOPT_CAPATH, ca_dir);
    }
    if (b->http) {
        SET(CURLOPT_USERAGENT, "sr/" SR_VERSION);
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, 10L);
        const char *bearer = t->credential ? t->credential->bearer_token : NULL;
        if (bearer != NULL && bearer[0] != '\0') {
            SET(CURLOPT_XOAUTH2_BEARER, bearer);
            SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        } else if (t->url.user != NULL) {
            SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        }
    } else {
        const sr_credential *c = t->credential;
        SET(CURLOPT_FTP_RESPONSE_TIMEOUT, timeout_s > 0 ? timeout_s : 1L);
        if (c != NULL && !c->passive)
            SET(CURLOPT_FTPPORT, "-");
        if (c != NULL && !c->binary)
            SET(CURLOPT_TRANSFERTEXT, 1L);
        if (b->tls) {
            bool protect = strcmp(t->url.scheme, "ftps") == 0 || (c != NULL && c->prot_p);
            SET(CURLOPT_USE_SSL, (long)(protect ? CURLUSESSL_ALL : CURLUSESSL_CONTROL));
            if (b->ftp_tls12_max)
                SET(CURLOPT_SSLVERSION,
                    (long)((t->options->tls == SR_TLS_STRICT ? CURL_SSLVERSION_TLSv1_2
                                                             : CURL_SSLVERSION_DEFAULT) |
                           CURL_SSLVERSION_MAX_TLSv1_2));
        }
    }
#undef SET
    return cc;
}

/* Whether an FTP reply code says "try later" (4xx) rather than "no" (5xx). */
static bool ftp_transient(long code)
{
    return code >= 400 && code < 500;
}

/* An HTTP status that is not success, as an error. */
static int http_status_error(request *r, long code, sr_err *err)
{
    int sr;
    bool retry;
    if (code == 404 || code == 410) {
        sr = SR_ENOENT, retry = false;
    } else if (code == 401 || code == 403 || code == 407) {
        sr = SR_EPERM, retry = false;
    } else if (code == 408 || code == 425 || code == 429) {
        sr = SR_ECONN, retry = true;
    } else if (code == 416 && r->ranged) {
        sr = SR_EPROTO, retry = false; /* nothing from that offset: start over */
    } else if (code >= 500) {
        sr = SR_EIO, retry = true;
    } else {
        sr = SR_EINVAL, retry = false;
    }
    const char *reason = r->reply;
    /* r->reply is "404 Not Found": the reason after the code */
    if (strlen(reason) > 4 && isdigit((unsigned char)reason[0]))
        reason += 4;
    else
        reason = "";
    return sr_err_set(err, sr, retry, "%s %s%s: HTTP %ld%s%s", r->verb, r->t->shown_url, r->path,
                      code, reason[0] ? " " : "", reason);
}

/* Run the request and turn what happened into SR_OK or an error. */
static int perform(request *r, sr_err *err)
{
    sr_transfer *t = r->t;
    curl_backend *b = r->b;
    CURLcode cc = curl_easy_perform(b->easy);

    /* A new control connection (NUM_CONNECTS counts FTP data connections too): the
     * socket, told apart by its local port, is not the one the last request used. No
     * connection made and the same socket: the same connection, without asking the
     * kernel for its port (a call per file saved). */
    curl_socket_t sock = CURL_SOCKET_BAD;
    int local_port = b->sock_port;
    long made = 1;
    if (curl_easy_getinfo(b->easy, CURLINFO_NUM_CONNECTS, &made) != CURLE_OK)
        made = 1;
    if (curl_easy_getinfo(b->easy, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
        sock != CURL_SOCKET_BAD && (made != 0 || sock != b->sock)) {
        local_port = 0;
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        if (getsockname(sock, (struct sockaddr *)&addr, &len) == 0)
            local_port = addr.ss_family == AF_INET6
                             ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                             : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
    if (sock != CURL_SOCKET_BAD && (sock != b->sock || local_port != b->sock_port)) {
        b->sock = sock;
        b->sock_port = local_port;
        sr_transfer_notify(t, SR_LOG_INFO, "connected to %s", t->shown_url);
        if (b->tls && t->options->tls == SR_TLS_LAX)
            sr_transfer_notify(t, SR_LOG_WARNING,
                               "TLS: the certificate and host name of %s are NOT checked "
                               "(tlsRigour lax): anyone on the path can read and change "
                               "this transfer; use it with test servers only",
                               t->shown_url);
    }
    if (!b->http && b->entry == NULL) {
        char *entry = NULL;
        if (curl_easy_getinfo(b->easy, CURLINFO_FTP_ENTRY_PATH, &entry) == CURLE_OK &&
            entry != NULL)
            b->entry = strdup(entry);
    }
    if (r->rc != SR_OK) {
        /* a callback stopped it and said why */
        if (err != NULL)
            *err = r->err;
        return r->rc;
    }
    const char *why = b->errbuf[0] ? b->errbuf : curl_easy_strerror(cc);
    int code = SR_EIO;
    bool retry = true;
    const char *what = NULL;
    switch (cc) {
    case CURLE_OK:
        t->connected = true;
        if (b->http) {
            long status = 0;
            curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 300)
                return http_status_error(r, status, err);
        }
        return SR_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        code = SR_ECONN, what = "cannot connect";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        code = SR_ECONN, what = "timed out";
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_FTP_ACCEPT_FAILED:
    case CURLE_FTP_ACCEPT_TIMEOUT:
    case CURLE_FTP_CANT_GET_HOST:
    case CURLE_FTP_WEIRD_PASV_REPLY:
    case CURLE_FTP_WEIRD_227_FORMAT:
    case CURLE_FTP_PORT_FAILED:
    case CURLE_FTP_WEIRD_SERVER_REPLY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_AGAIN:
        code = SR_ECONN, what = "connection lost or refused";
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        /* retryable, like every failure to reach the server: the files wait in the retry
         * queue while the operator fixes the CA or the credentials, instead of being lost */
        code = SR_ECONN, retry = true;
        what = "TLS: the server's certificate is not trusted (is its CA in SSL_CERT_FILE?)";
        break;
    case CURLE_SSL_CIPHER:
        code = SR_ECONN, retry = true, what = "TLS: no cipher in common with the server";
        break;
    case CURLE_USE_SSL_FAILED:
        code = SR_ECONN, retry = true, what = "the server refused TLS (AUTH TLS)";
        break;
    case CURLE_LOGIN_DENIED:
        code = SR_EPERM, retry = true, what = "login refused";
        break;
    case CURLE_REMOTE_FILE_NOT_FOUND:
        code = SR_ENOENT, retry = false, what = "no such file";
        break;
    case CURLE_REMOTE_ACCESS_DENIED:
        /* FTP: CWD into the folder failed; nearly always a missing folder */
        code = SR_ENOENT, retry = false, what = "no such folder, or access denied";
        break;
    case CURLE_RANGE_ERROR:
    case CURLE_BAD_DOWNLOAD_RESUME:
    case CURLE_FTP_COULDNT_USE_REST:
        code = SR_EPROTO, retry = false, what = "the server cannot start in the middle of a file";
        break;
    case CURLE_TOO_MANY_REDIRECTS:
        code = SR_EPROTO, retry = false, what = "too many redirects";
        break;
    case CURLE_UPLOAD_FAILED:
    case CURLE_QUOTE_ERROR:
    case CURLE_FTP_COULDNT_RETR_FILE:
        code = ftp_transient(r->reply_code) ? SR_EIO : SR_EPERM;
        retry = ftp_transient(r->reply_code);
        what = "the server refused";
        break;
    case CURLE_OUT_OF_MEMORY:
        code = SR_ENOMEM, retry = false, what = "out of memory";
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        code = SR_EINVAL, retry = false, what = "bad URL";
        break;
    default:
        what = "failed";
        break;
    }
    if (code == SR_ECONN && !b->http && r->reply_code >= 500 && cc != CURLE_OPERATION_TIMEDOUT) {
        /* the server answered, and its answer is no (PROT P required, EPSV refused...) */
        code = SR_EPERM, retry = true, what = "the server refused";
    }
    if (code == SR_ECONN)
        t->connected = false;
    if (!b->http && r->reply[0] != '\0' && r->reply_code >= 400)
        return sr_err_set(err, code, retry, "%s %s%s: %s: %s (server: %s)", r->verb, t->shown_url,
                          r->path, what, why, r->reply);
    return sr_err_set(err, code, retry, "%s %s%s: %s: %s", r->verb, t->shown_url, r->path, what,
                      why);
}

/* setup() failed: only out of memory or a libcurl without an option we need. */
static int setup_failed(request *r, CURLcode cc, sr_err *err)
{
    return sr_err_set(err, cc == CURLE_OUT_OF_MEMORY ? SR_ENOMEM : SR_EINVAL, false,
                      "%s %s%s: libcurl: %s", r->verb, r->t->shown_url, r->path,
                      curl_easy_strerror(cc));
}

static int no_memory(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

/* FTP commands go on one line: a path with CR or LF would smuggle another command. */
static int ftp_path_ok(const sr_transfer *t, const char *path, sr_err *err)
{
    if (strpbrk(path, "\r\n") == NULL)
        return SR_OK;
    return sr_err_set(err, SR_EINVAL, false, "%s: a path with a line break cannot go over ftp",
                      t->shown_url);
}

/* ---- get and put ---- */

static int curl_get(sr_transfer *t, const char *remote_path, int fd, off_t offset, off_t length,
                    sr_digest *digest, sr_transfer_result *result, sr_err *err)
{
    curl_backend *b = t->backend;
    if (!b->http && ftp_path_ok(t, remote_path, err) != SR_OK)
        return SR_EINVAL;
    request r;
    request_init(&r, t, b->http ? "GET" : "RETR", remote_path);
    r.fd = fd;
    r.digest = digest;
    r.result = result;
    r.offset = offset;
    char *url = make_url(b, remote_path, false);
    if (url == NULL)
        return no_memory(err);
    CURLcode cc = setup(&r, url);
    char range[64];
    if (offset > 0 || length > 0) {
        if (length > 0)
            snprintf(range, sizeof range, "%lld-%lld", (long long)offset,
                     (long long)(offset + length - 1));
        else
            snprintf(range, sizeof range, "%lld-", (long long)offset);
        if (b->http) {
            r.ranged = true;
            if (cc == CURLE_OK)
                cc = curl_easy_setopt(b->easy, CURLOPT_RANGE, range);
        } else if (length > 0) {
            if (cc == CURLE_OK)
                cc = curl_easy_setopt(b->easy, CURLOPT_RANGE, range);
        } else if (cc == CURLE_OK) {
            cc = curl_easy_setopt(b->easy, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)offset);
        }
    }
    off_t before = result->bytes;
    int rc = cc == CURLE_OK ? perform(&r, err) : setup_failed(&r, cc, err);
    if (rc == SR_OK && length > 0 && result->bytes - before < length)
        rc = sr_err_set(err, SR_EIO, true,
                        "%s %s%s: %lld bytes of the %lld asked from byte %lld: the file is "
                        "shorter",
                        r.verb, t->shown_url, remote_path, (long long)(result->bytes - before),
                        (long long)length, (long long)offset);
    request_fini(&r);
    free(url);
    return rc;
}

static int http_cannot(sr_transfer *t, const char *what, const char *path, sr_err *err)
{
    return sr_err_set(err, SR_EINVAL, false,
                      "%s%s: http cannot %s (sr sends over sftp, ftp or file)", t->shown_url, path,
                      what);
}

static int curl_put(sr_transfer *t, int fd, const char *remote_path, off_t offset, off_t length,
                    sr_transfer_result *result, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->http)
        return http_cannot(t, "send files", remote_path, err);
    if (ftp_path_ok(t, remote_path, err) != SR_OK)
        return SR_EINVAL;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sr_err_set(err, SR_EIO, false, "the file to send to %s%s: %s", t->shown_url,
                          remote_path, strerror(errno));
    off_t end = length > 0 ? offset + length : st.st_size;
    request r;
    request_init(&r, t, "STOR", remote_path);
    r.in_fd = fd;
    r.in_pos = offset;
    r.in_end = end;
    r.result = result;
    char *url = make_url(b, remote_path, false);
    if (url == NULL)
        return no_memory(err);
    CURLcode cc = setup(&r, url);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_UPLOAD, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_READFUNCTION, on_read);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_READDATA, &r);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)end);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_FTP_CREATE_MISSING_DIRS,
                              (long)CURLFTP_CREATE_DIR_RETRY);
    if (cc == CURLE_OK && offset > 0) {
        /* curl appends (APPE) after seeking the source to offset */
        r.verb = "APPE";
        cc = curl_easy_setopt(b->easy, CURLOPT_SEEKFUNCTION, on_seek);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(b->easy, CURLOPT_SEEKDATA, &r);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(b->easy, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)offset);
    }
    int rc = cc == CURLE_OK ? perform(&r, err) : setup_failed(&r, cc, err);
    request_fini(&r);
    free(url);
    return rc;
}

/* ---- ftp commands ---- */

/* Make sure the login folder is known (a request that only logs in). */
static int ftp_entry(sr_transfer *t, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->entry != NULL)
        return SR_OK;
    request r;
    request_init(&r, t, "PWD", "/");
    r.discard = true;
    char *url = make_url(b, "/", false);
    if (url == NULL)
        return no_memory(err);
    CURLcode cc = setup(&r, url);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_NOBODY, 1L);
    int rc = cc == CURLE_OK ? perform(&r, err) : setup_failed(&r, cc, err);
    request_fini(&r);
    free(url);
    if (rc == SR_OK && b->entry == NULL && (b->entry = strdup("/")) == NULL)
        rc = no_memory(err);
    return rc;
}

/* FTP commands sent as text, each with the reply the server gave it. They go as
 * "allowed to fail" quotes ('*'): a failing quote would make curl drop the connection,
 * and each reply is read here instead (from the debug stream, which pairs commands and
 * replies). */
typedef struct ftp_cmd {
    char *text; /* "DELE /x" */
    long code;  /* the reply's code, 0 while none was seen */
    char reply[REPLY_MAX];
} ftp_cmd;

struct ftp_batch {
    ftp_cmd *v;
    size_t n, cap;
    long current; /* the command waiting for its reply, or -1 */
};
typedef struct ftp_batch ftp_batch;

static int batch_add(ftp_batch *bt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int batch_add(ftp_batch *bt, const char *fmt, ...)
{
    if (bt->n == bt->cap) {
        size_t cap = bt->cap ? bt->cap * 2 : 4;
        ftp_cmd *grown = realloc(bt->v, cap * sizeof *grown);
        if (grown == NULL)
            return SR_ENOMEM;
        bt->v = grown;
        bt->cap = cap;
    }
    ftp_cmd *c = &bt->v[bt->n];
    memset(c, 0, sizeof *c);
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&c->text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SR_ENOMEM;
    bt->n++;
    return SR_OK;
}

static void batch_free(ftp_batch *bt)
{
    for (size_t i = 0; i < bt->n; i++)
        free(bt->v[i].text);
    free(bt->v);
    memset(bt, 0, sizeof *bt);
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp)
{
    (void)h;
    ftp_batch *bt = ((request *)userp)->batch;
    if (bt == NULL)
        return 0;
    if (type == CURLINFO_HEADER_OUT) {
        bt->current = -1;
        for (size_t i = 0; i < bt->n; i++) {
            size_t len = strlen(bt->v[i].text);
            if (bt->v[i].code == 0 && size >= len && memcmp(data, bt->v[i].text, len) == 0 &&
                (size == len || data[len] == '\r' || data[len] == '\n')) {
                bt->current = (long)i;
                break;
            }
        }
    } else if (type == CURLINFO_HEADER_IN && bt->current >= 0 && size >= 4 &&
               isdigit((unsigned char)data[0]) && isdigit((unsigned char)data[1]) &&
               isdigit((unsigned char)data[2]) && data[3] == ' ') {
        /* the last line of the reply (continuation lines have '-' after the code) */
        ftp_cmd *c = &bt->v[bt->current];
        c->code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
        size_t n = size;
        while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
            n--;
        if (n >= sizeof c->reply)
            n = sizeof c->reply - 1;
        for (size_t i = 0; i < n; i++)
            c->reply[i] = isprint((unsigned char)data[i]) ? data[i] : '?';
        c->reply[n] = '\0';
        bt->current = -1;
    }
    return 0;
}

/* Send the batch's commands (absolute paths) on the session, no transfer. SR_OK when
 * the session worked, whatever the replies: the caller reads them. */
static int ftp_run(sr_transfer *t, const char *verb, const char *path, ftp_batch *bt, sr_err *err)
{
    curl_backend *b = t->backend;
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < bt->n; i++) {
        char *line = NULL;
        struct curl_slist *grown = NULL;
        if (asprintf(&line, "*%s", bt->v[i].text) >= 0)
            grown = curl_slist_append(list, line);
        free(line);
        if (grown == NULL) {
            curl_slist_free_all(list);
            return no_memory(err);
        }
        list = grown;
    }
    bt->current = -1;
    request r;
    request_init(&r, t, verb, path);
    r.discard = true;
    r.batch = bt;
    char *url = make_url(b, "/", false);
    CURLcode cc = url != NULL ? setup(&r, url) : CURLE_OUT_OF_MEMORY;
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_NOBODY, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_QUOTE, list);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_DEBUGFUNCTION, on_debug);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_DEBUGDATA, &r);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_VERBOSE, 1L);
    int rc = cc == CURLE_OK ? perform(&r, err) : setup_failed(&r, cc, err);
    request_fini(&r);
    free(url);
    curl_slist_free_all(list);
    return rc;
}

/* A command the server refused (or did not answer): 4xx is worth a retry, 5xx not. */
static int ftp_refused(sr_transfer *t, const char *verb, const char *path, const ftp_cmd *c,
                       sr_err *err)
{
    if (c->code == 0)
        return sr_err_set(err, SR_EPROTO, true, "%s %s%s: no reply from the server", verb,
                          t->shown_url, path);
    return sr_err_set(err, ftp_transient(c->code) ? SR_EIO : SR_EPERM, ftp_transient(c->code),
                      "%s %s%s: the server refused: %s", verb, t->shown_url, path, c->reply);
}

static bool reply_ok(const ftp_cmd *c)
{
    return c->code >= 200 && c->code < 300;
}

/* NOBODY on a URL: for a file, SIZE and MDTM; for a folder (trailing '/'), CWD. */
static int probe(sr_transfer *t, const char *verb, const char *remote_path, bool dir,
                 sr_remote_stat *st, sr_err *err)
{
    curl_backend *b = t->backend;
    request r;
    request_init(&r, t, verb, remote_path);
    r.discard = true;
    char *url = make_url(b, remote_path, dir);
    CURLcode cc = url != NULL ? setup(&r, url) : CURLE_OUT_OF_MEMORY;
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_NOBODY, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(b->easy, CURLOPT_FILETIME, 1L);
    int rc = cc == CURLE_OK ? perform(&r, err) : setup_failed(&r, cc, err);
    if (rc == SR_OK && st != NULL) {
        curl_off_t size = -1, mtime = -1;
        curl_easy_getinfo(b->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size);
        curl_easy_getinfo(b->easy, CURLINFO_FILETIME_T, &mtime);
        char *effective = NULL;
        curl_easy_getinfo(b->easy, CURLINFO_EFFECTIVE_URL, &effective);
        st->size = size >= 0 ? (off_t)size : 0;
        st->mtime.tv_sec = mtime >= 0 ? (time_t)mtime : 0;
        st->mtime.tv_nsec = 0;
        size_t elen = effective ? strlen(effective) : 0;
        st->is_dir = dir || (b->http && elen > 0 && effective[elen - 1] == '/');
        st->mode = st->is_dir ? S_IFDIR : S_IFREG;
    }
    request_fini(&r);
    free(url);
    return rc;
}

/* After a refused command on path: SR_ENOENT when path is not there, else rc as is. */
static int ftp_refined(sr_transfer *t, const char *path, int rc, sr_err *err)
{
    if (rc != SR_EPERM)
        return rc;
    sr_err probe_err;
    sr_remote_stat st;
    if (probe(t, "SIZE", path, false, &st, &probe_err) == SR_ENOENT &&
        probe(t, "CWD", path, true, &st, &probe_err) == SR_ENOENT) {
        if (err != NULL) {
            err->code = SR_ENOENT;
            err->retryable = false;
        }
        return SR_ENOENT;
    }
    return rc;
}

/* ---- single operations ---- */

static int curl_mkdir_p(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->http)
        return http_cannot(t, "make folders", remote_dir, err);
    if (ftp_path_ok(t, remote_dir, err) != SR_OK)
        return SR_EINVAL;
    sr_err ignored;
    if (probe(t, "CWD", remote_dir, true, NULL, &ignored) == SR_OK)
        return SR_OK; /* there already: the usual case costs one request */
    int rc = ftp_entry(t, err);
    char *abs = rc == SR_OK ? ftp_abs(b, remote_dir) : NULL;
    if (rc == SR_OK && abs == NULL)
        rc = no_memory(err);
    /* MKD each prefix (those there already are refused, which is fine), then SITE CHMOD
     * the ones made: a folder that was there keeps its mode. */
    ftp_batch mkd = {0}, chmods = {0};
    for (char *p = abs ? abs + 1 : NULL; rc == SR_OK; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (batch_add(&mkd, "MKD %s", abs) != SR_OK)
            rc = no_memory(err);
        *p = saved;
        if (saved == '\0')
            break;
    }
    if (rc == SR_OK)
        rc = ftp_run(t, "MKD", remote_dir, &mkd, err);
    const ftp_cmd *refused = NULL;
    for (size_t i = 0; rc == SR_OK && i < mkd.n; i++) {
        if (mkd.v[i].code == 257 && batch_add(&chmods, "SITE CHMOD %o %s", (unsigned)(mode & 07777),
                                              mkd.v[i].text + 4) != SR_OK)
            rc = no_memory(err);
        else if (mkd.v[i].code != 257)
            refused = &mkd.v[i];
    }
    if (rc == SR_OK && chmods.n > 0)
        rc = ftp_run(t, "SITE CHMOD", remote_dir, &chmods, err);
    if (rc == SR_OK && (rc = probe(t, "MKD", remote_dir, true, NULL, err)) != SR_OK &&
        refused != NULL)
        rc = ftp_refused(t, "MKD", remote_dir, refused, err); /* the server's reason */
    batch_free(&mkd);
    batch_free(&chmods);
    free(abs);
    return rc;
}

static int curl_rename(sr_transfer *t, const char *from, const char *to, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->http)
        return http_cannot(t, "rename", from, err);
    if (ftp_path_ok(t, from, err) != SR_OK || ftp_path_ok(t, to, err) != SR_OK)
        return SR_EINVAL;
    int rc = ftp_entry(t, err);
    if (rc != SR_OK)
        return rc;
    char *afrom = ftp_abs(b, from), *ato = ftp_abs(b, to);
    ftp_batch bt = {0};
    if (afrom == NULL || ato == NULL || batch_add(&bt, "RNFR %s", afrom) != SR_OK ||
        batch_add(&bt, "RNTO %s", ato) != SR_OK)
        rc = no_memory(err);
    if (rc == SR_OK)
        rc = ftp_run(t, "RNFR", from, &bt, err);
    if (rc == SR_OK && bt.v[0].code / 100 != 3)
        rc = ftp_refined(t, from, ftp_refused(t, "RNFR", from, &bt.v[0], err), err);
    else if (rc == SR_OK && !reply_ok(&bt.v[1]))
        rc = ftp_refused(t, "RNTO", to, &bt.v[1], err);
    batch_free(&bt);
    free(afrom);
    free(ato);
    return rc;
}

static int curl_remove(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->http)
        return http_cannot(t, "delete", remote_path, err);
    if (ftp_path_ok(t, remote_path, err) != SR_OK)
        return SR_EINVAL;
    int rc = ftp_entry(t, err);
    if (rc != SR_OK)
        return rc;
    const char *verb = is_dir ? "RMD" : "DELE";
    char *abs = ftp_abs(b, remote_path);
    ftp_batch bt = {0};
    if (abs == NULL || batch_add(&bt, "%s %s", verb, abs) != SR_OK)
        rc = no_memory(err);
    if (rc == SR_OK)
        rc = ftp_run(t, verb, remote_path, &bt, err);
    if (rc == SR_OK && !reply_ok(&bt.v[0]))
        rc = ftp_refined(t, remote_path, ftp_refused(t, verb, remote_path, &bt.v[0], err), err);
    batch_free(&bt);
    free(abs);
    return rc;
}

static int curl_symlink(sr_transfer *t, const char *target, const char *remote_path, sr_err *err)
{
    (void)target;
    curl_backend *b = t->backend;
    if (b->http)
        return http_cannot(t, "make links", remote_path, err);
    return sr_err_set(err, SR_EINVAL, false, "%s%s: ftp cannot make links", t->shown_url,
                      remote_path);
}

static int curl_chmod(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->http)
        return SR_OK; /* nothing to set over http */
    if (ftp_path_ok(t, remote_path, err) != SR_OK)
        return SR_EINVAL;
    int rc = ftp_entry(t, err);
    if (rc != SR_OK)
        return rc;
    char *abs = ftp_abs(b, remote_path);
    ftp_batch bt = {0};
    if (abs == NULL || batch_add(&bt, "SITE CHMOD %o %s", (unsigned)(mode & 07777), abs) != SR_OK)
        rc = no_memory(err);
    if (rc == SR_OK)
        rc = ftp_run(t, "SITE CHMOD", remote_path, &bt, err);
    if (rc == SR_OK && !reply_ok(&bt.v[0]))
        sr_transfer_notify(t, SR_LOG_INFO,
                           "%s%s: the server refused SITE CHMOD %o (%s): the file keeps the "
                           "server's permissions",
                           t->shown_url, remote_path, (unsigned)(mode & 07777),
                           bt.v[0].reply[0] ? bt.v[0].reply : "no reply");
    batch_free(&bt);
    free(abs);
    return rc;
}

/* FTP has no standard command to set times (sr3 sets none either); http none at all. */
static int curl_utime(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                      const struct timespec *mtime, sr_err *err)
{
    (void)t, (void)remote_path, (void)atime, (void)mtime, (void)err;
    return SR_OK;
}

static int curl_stat(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err)
{
    curl_backend *b = t->backend;
    if (b->http)
        return probe(t, "HEAD", remote_path, false, st, err);
    if (ftp_path_ok(t, remote_path, err) != SR_OK)
        return SR_EINVAL;
    int rc = probe(t, "SIZE", remote_path, false, st, err);
    if (rc == SR_ENOENT) {
        sr_err dir_err;
        if (probe(t, "CWD", remote_path, true, st, &dir_err) == SR_OK) {
            st->size = 0;
            return SR_OK;
        }
    }
    return rc;
}

/* ---- listings ---- */

/* One listing request: GET of the folder (http), MLSD or LIST (ftp), the reply fed to
 * the parser from the write callback as it arrives. *reply: the FTP reply code last seen. */
static int list_once(sr_transfer *t, const char *remote_dir, const char *verb,
                     sr_listing_format format, const sr_listing_options *o,
                     const sr_listing_sink *sink, long *reply, size_t *entries, sr_err *err)
{
    curl_backend *b = t->backend;
    sr_listing *l = NULL;
    int rc = sr_listing_new(format, o, sink, &l, err);
    if (rc != SR_OK)
        return rc;
    request r;
    request_init(&r, t, verb, remote_dir);
    r.listing = l;
    char *url = make_url(b, remote_dir, true);
    CURLcode cc = url != NULL ? setup(&r, url) : CURLE_OUT_OF_MEMORY;
    /* on a folder URL curl lists it: the request replaces its LIST */
    if (cc == CURLE_OK && format == SR_LISTING_FTP_MLSD)
        cc = curl_easy_setopt(b->easy, CURLOPT_CUSTOMREQUEST, "MLSD");
    rc = cc == CURLE_OK ? perform(&r, err) : setup_failed(&r, cc, err);
    if (rc == SR_OK)
        rc = sr_listing_end(l, err);
    *reply = r.reply_code;
    *entries = sr_listing_entries(l);
    request_fini(&r);
    sr_listing_free(l);
    free(url);
    return rc;
}

/* http: the index page. ftp: MLSD (exact sizes and UTC times to the second), and LIST
 * where the server does not know it (a 500, 501 or 502 reply), remembered for the session. */
static int curl_list_each(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                          const sr_listing_sink *sink, sr_err *err)
{
    curl_backend *b = t->backend;
    long reply = 0;
    size_t entries = 0;
    if (b->http)
        return list_once(t, remote_dir, "GET", SR_LISTING_HTML, o, sink, &reply, &entries, err);
    if (ftp_path_ok(t, remote_dir, err) != SR_OK)
        return SR_EINVAL;
    if (!b->no_mlsd) {
        int rc =
            list_once(t, remote_dir, "MLSD", SR_LISTING_FTP_MLSD, o, sink, &reply, &entries, err);
        if (rc == SR_OK || entries > 0 || reply < 500 || reply > 502)
            return rc;
        b->no_mlsd = true;
        sr_transfer_notify(t, SR_LOG_INFO, "%s: the server does not know MLSD (%ld): LIST instead",
                           t->shown_url, reply);
    }
    return list_once(t, remote_dir, "LIST", SR_LISTING_FTP_LIST, o, sink, &reply, &entries, err);
}

/* ---- the session ---- */

static void curl_destroy(sr_transfer *t)
{
    curl_backend *b = t->backend;
    if (b != NULL) {
        if (b->easy != NULL)
            curl_easy_cleanup(b->easy);
        free(b->base);
        free(b->entry);
        free(b);
        curl_global_cleanup();
    }
    t->backend = NULL;
    t->connected = false;
}

static const sr_transfer_ops curl_ops = {
    .get = curl_get,
    .put = curl_put,
    .mkdir_p = curl_mkdir_p,
    .rename = curl_rename,
    .remove = curl_remove,
    .symlink = curl_symlink,
    .chmod = curl_chmod,
    .utime = curl_utime,
    .stat = curl_stat,
    .list_each = curl_list_each,
    .destroy = curl_destroy,
};

int sr_transfer_curl_init(sr_transfer *t, sr_err *err)
{
    const char *scheme = t->url.scheme;
    if (t->url.host == NULL || t->url.host[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "%s: no host in the URL", t->shown_url);
    /* libcurl counts its global users: one per session, released in destroy. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return sr_err_set(err, SR_ENOMEM, false, "%s: libcurl cannot start", t->shown_url);
    curl_backend *b = calloc(1, sizeof *b);
    if (b == NULL || (b->easy = curl_easy_init()) == NULL) {
        free(b);
        curl_global_cleanup();
        return no_memory(err);
    }
    b->sock = CURL_SOCKET_BAD;
    t->backend = b;
    t->ops = &curl_ops;
    b->http = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
    const sr_credential *c = t->credential;
    bool implicit = strcmp(scheme, "ftps") == 0 || (c != NULL && c->implicit_ftps);
    if (b->http)
        b->tls = strcmp(scheme, "https") == 0;
    else
        b->tls = ftp_uses_tls(t);
    /* libcurl before 8.9 closes an FTPS data connection under TLS 1.3 in a way that can
     * lose the end of an upload (curl's KNOWN_BUGS "FTPS upload data loss with TLS 1.3",
     * fixed by its graceful TLS shutdown): such a libcurl speaks TLS 1.2 to FTP servers. */
    b->ftp_tls12_max = !b->http && b->tls &&
                       curl_version_info(CURLVERSION_NOW)->version_num < CURL_FTPS_TLS13_SAFE;
    const char *curl_scheme = b->http ? scheme : implicit ? "ftps" : "ftp";
    int port = t->url.port > 0 ? t->url.port : implicit ? 990 : sr_url_port(&t->url);
    bool v6 = strchr(t->url.host, ':') != NULL;
    if (asprintf(&b->base, "%s://%s%s%s:%d", curl_scheme, v6 ? "[" : "", t->url.host, v6 ? "]" : "",
                 port) < 0) {
        b->base = NULL;
        curl_destroy(t);
        return no_memory(err);
    }
    return SR_OK;
}
