/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transfer_sftp: the sftp backend (schemes sftp:, scp:, ssh:) on libssh 0.10.
 *
 * One SSH connection and one SFTP channel per session, opened by the first operation
 * that needs it and kept for every file after; an operation that finds the connection
 * broken closes it and returns a retryable error, and the next operation reconnects.
 *
 * ~ is sr_transfer_home() ($HOME, as in the shell and sr3), not the password database's
 * home that libssh would use: every ssh file is passed to libssh by its path. The config
 * is <home>/.ssh/config, then /etc/ssh/ssh_config, read for the URL's host, so the URL
 * may name a Host alias (`sftp://cluster/`) whose HostName, User, Port and IdentityFile
 * apply; a user or port written in the URL wins over the config, as on ssh's command
 * line. One IdentityFile per host is used (libssh keeps the last one given); ~ and %d in
 * it are expanded here. UserKnownHostsFile, StrictHostKeyChecking and Include lines are
 * not honoured.
 *
 * Host keys are checked strictly against <home>/.ssh/known_hosts (and libssh's global
 * /etc/ssh/ssh_known_hosts): an unknown host is refused with the command that adds its
 * key, a changed key with a loud warning. sr3 (paramiko's AutoAddPolicy) accepts unknown
 * keys silently, which lets the first man in the middle in for good; sr does better and
 * never adds a key itself. tlsRigour lax does not relax this: it is about TLS
 * certificates, and adding a host key once is cheap. Both errors are retryable: the
 * operator's fix (known_hosts) lets the queued files through.
 *
 * Authentication, in this order: the key of credentials.conf's ssh_keyfile when set,
 * else the IdentityFile of the ssh config, else the default keys (<home>/.ssh/id_ed25519,
 * id_ecdsa, id_rsa); then ssh-agent when SSH_AUTH_SOCK is set; then the password of the
 * URL (credentials.conf) when there is one. Keys with a passphrase need the agent.
 *
 * Paths are transfer.h's: a remote path starting with "//" is absolute ("//data/x" is
 * /data/x), any other is relative to the login folder (one leading '/' is dropped). The
 * sender and the download write "//" for what sr3 reads as absolute (an absolute
 * directory, a baseUrl with a path: sr_transfer_folder_path, sr_transfer_url_path).
 *
 * Speed. libssh 0.10 has no asynchronous write (sftp_write sends one request and waits
 * for its answer: a round trip per chunk), and its asynchronous read cannot be trusted
 * with several requests in flight: sftp_async_read reads a new packet before looking in
 * its queue, so it blocks for good when the answer it waits for was queued by an earlier
 * call (an answer out of order, a short read re-asked). So the file transfers speak the
 * protocol themselves on libssh's SFTP channel, the same packets libssh would send:
 *  - put: OPEN, WRITEs with several in flight, the CLOSE sent behind the last one, then
 *    every answer collected: a small file costs two round trips;
 *  - get: OPEN, READs in flight (one at first, doubling with each full answer, so a
 *    small file costs no wasted requests), answers taken in any order (one that comes
 *    before its turn waits in memory), a short answer re-asked for the rest, CLOSE;
 *  - posix-rename@openssh.com and limits@openssh.com, which 0.10 has no call for.
 * These raw requests run only between libssh calls, with none of libssh's own requests in
 * flight, so neither reads the other's answers; their ids come from libssh's counter
 * (sftp->id_counter, a public field in 0.10). libssh >= 0.11 has sftp_aio_* and
 * sftp_limits: with it as the floor, the raw layer can go. Everything else (stat, mkdir,
 * rmdir, remove, rename without the extension, symlink, chmod, utime, list) is libssh's.
 * Requests are as large as the server takes (limits@openssh.com; 32 KiB, the size every
 * server must accept, when it does not say) and the copy buffer allows, with up to 8 MiB
 * in flight.
 *
 * Timeouts: the `timeout` option bounds libssh's waits (connect and its blocking calls)
 * and each answer to a raw request; the socket gets TCP keep-alive and TCP_USER_TIMEOUT
 * from it too, so a silent or vanished peer fails the operation rather than hanging it.
 *
 * rename replaces an existing target (posix-rename, else remove then rename); chmod,
 * utime (whole seconds: SFTP v3), symlink, mkdir -p and list are supported.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "transfer_impl.h"

/* Every SFTP server takes requests of this size (draft-ietf-secsh-filexfer-02 §3). */
#define SFTP_SAFE_CHUNK 32768u
/* What one transfer keeps in flight, and the most requests that makes. */
#define IN_FLIGHT_BYTES (8u << 20)
#define MAX_REQUESTS 64
/* A handle is at most 256 bytes (filexfer-02 §6.2); room for a WRITE header before it. */
#define HANDLE_MAX 256
#define WRITE_HEADER_MAX (4 + 1 + 4 + 4 + HANDLE_MAX + 8 + 4)
/* Answers to raw requests (STATUS, HANDLE, EXTENDED_REPLY) are small. */
#define REPLY_MAX 65536
/* Folders known to exist, so sending many files to one folder costs no mkdir. */
#define DIR_CACHE_MAX 256

typedef struct sftp_backend {
    ssh_session ssh;
    sftp_session sftp;
    char where[320];   /* "bob@10.0.0.1 port 22": where the config led, for messages */
    uint32_t max_read; /* bytes per READ / WRITE the server takes */
    uint32_t max_write;
    bool posix_rename;  /* posix-rename@openssh.com */
    unsigned char *buf; /* copy buffer: WRITE_HEADER_MAX + chunk */
    size_t buf_size;
    unsigned char *reply; /* body of the last raw answer */
    size_t reply_len;
    char *dirs[DIR_CACHE_MAX];
    size_t ndirs;
} sftp_backend;

/* ---- helpers ---- */

/* transfer.h's form: "//x" is the absolute /x, "/x" and "x" are x in the login folder. */
static const char *remote(const char *path)
{
    if (path[0] == '/' && path[1] == '/')
        return path + 1;
    if (path[0] == '/')
        path++;
    return path[0] != '\0' ? path : ".";
}

static void dirs_clear(sftp_backend *b)
{
    for (size_t i = 0; i < b->ndirs; i++)
        free(b->dirs[i]);
    b->ndirs = 0;
}

static bool dirs_known(const sftp_backend *b, const char *dir)
{
    for (size_t i = 0; i < b->ndirs; i++)
        if (strcmp(b->dirs[i], dir) == 0)
            return true;
    return false;
}

static void dirs_add(sftp_backend *b, const char *dir)
{
    if (b->ndirs == DIR_CACHE_MAX)
        dirs_clear(b); /* a cache: starting over costs a stat per folder */
    char *copy = strdup(dir);
    if (copy != NULL)
        b->dirs[b->ndirs++] = copy;
}

static void disconnect(sr_transfer *t)
{
    sftp_backend *b = t->backend;
    if (b->sftp != NULL)
        sftp_free(b->sftp);
    b->sftp = NULL;
    if (b->ssh != NULL) {
        if (ssh_is_connected(b->ssh))
            ssh_disconnect(b->ssh);
        ssh_free(b->ssh);
    }
    b->ssh = NULL;
    dirs_clear(b);
    t->connected = false;
}

/* Release a folder's memory without a CLOSE, which a broken connection cannot carry
 * (sftp_closedir would try, and could wait for an answer that never comes). */
static void dir_forget(sftp_dir d)
{
    ssh_string_free(d->handle);
    ssh_buffer_free(d->buffer);
    free(d->name);
    free(d);
}

/* Whether the session is unusable: closed, or out of step with the server. (Not
 * ssh_get_error_code() == SSH_FATAL: it is never reset, and a refused ssh-agent during the
 * login may have set it on a session that works.) */
static bool connection_broken(const sr_transfer *t)
{
    const sftp_backend *b = t->backend;
    if (!t->connected || b->ssh == NULL || b->sftp == NULL)
        return true;
    int fx = sftp_get_error(b->sftp);
    return !ssh_is_connected(b->ssh) || ssh_channel_is_closed(b->sftp->channel) ||
           ssh_channel_is_eof(b->sftp->channel) || fx == SSH_FX_BAD_MESSAGE ||
           fx == SSH_FX_NO_CONNECTION || fx == SSH_FX_CONNECTION_LOST;
}

/* The connection is gone (or out of step): mark it so, and the next operation reconnects.
 * Its memory stays until then, so open files and folders can still be released. */
static int lost(sr_transfer *t, const char *what, const char *path, const char *why, sr_err *err)
{
    char text[256];
    sftp_backend *b = t->backend;
    snprintf(text, sizeof text, "%s", why != NULL ? why : b->ssh ? ssh_get_error(b->ssh) : "");
    if (text[0] == '\0')
        snprintf(text, sizeof text, "closed by the server or the network");
    t->connected = false;
    return sr_err_set(err, SR_ECONN, true, "%s: %s %s: connection lost: %s", t->shown_url, what,
                      path, text);
}

/* An SFTP status code as an error. */
static int status_error(sr_transfer *t, const char *what, const char *path, int status,
                        const char *server_text, sr_err *err)
{
    const char *u = t->shown_url;
    const char *said = server_text != NULL && server_text[0] ? server_text : NULL;
    switch (status) {
    case SSH_FX_NO_SUCH_FILE:
    case SSH_FX_NO_SUCH_PATH:
        return sr_err_set(err, SR_ENOENT, false, "%s: %s %s: no such file or folder", u, what,
                          path);
    case SSH_FX_PERMISSION_DENIED:
    case SSH_FX_WRITE_PROTECT:
        return sr_err_set(err, SR_EPERM, false, "%s: %s %s: permission denied", u, what, path);
    case SSH_FX_FILE_ALREADY_EXISTS:
        return sr_err_set(err, SR_EIO, false, "%s: %s %s: already exists", u, what, path);
    case SSH_FX_OP_UNSUPPORTED:
        return sr_err_set(err, SR_EPROTO, false, "%s: %s %s: the server does not support it", u,
                          what, path);
    default:
        /* SSH_FX_FAILURE covers a full disk, a folder that is a file and more: the text is
         * the server's, and a later try may succeed. */
        return sr_err_set(err, SR_EIO, true, "%s: %s %s: failed (sftp status %d%s%s)", u, what,
                          path, status, said ? ": " : "", said ? said : "");
    }
}

/* After a failed libssh sftp call. */
static int op_error(sr_transfer *t, const char *what, const char *path, sr_err *err)
{
    sftp_backend *b = t->backend;
    if (connection_broken(t))
        return lost(t, what, path, NULL, err);
    return status_error(t, what, path, sftp_get_error(b->sftp), ssh_get_error(b->ssh), err);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* ---- raw requests on libssh's SFTP channel (see the top of the file) ---- */

static uint32_t next_id(sftp_backend *b)
{
    return ++b->sftp->id_counter; /* as libssh's sftp_get_new_id */
}

static int raw_write(sr_transfer *t, const void *data, size_t len, const char *what,
                     const char *path, sr_err *err)
{
    sftp_backend *b = t->backend;
    const unsigned char *p = data;
    while (len > 0) {
        uint32_t n = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
        int w = ssh_channel_write(b->sftp->channel, p, n);
        if (w <= 0 && ssh_is_connected(b->ssh) && ssh_get_error(b->ssh)[0] == '\0') {
            char why[96];
            snprintf(why, sizeof why, "the server took no data for %g s", sr_transfer_timeout(t));
            return lost(t, what, path, why, err);
        }
        if (w <= 0)
            return lost(t, what, path, NULL, err);
        p += w;
        len -= (size_t)w;
    }
    return SR_OK;
}

static int raw_read_all(sr_transfer *t, void *dst, size_t len, const char *what, const char *path,
                        sr_err *err)
{
    sftp_backend *b = t->backend;
    double timeout = sr_transfer_timeout(t);
    int timeout_ms = timeout * 1000 > INT_MAX ? INT_MAX : (int)(timeout * 1000);
    unsigned char *p = dst;
    while (len > 0) {
        uint32_t want = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
        int r = ssh_channel_read_timeout(b->sftp->channel, p, want, 0, timeout_ms);
        if (r == SSH_ERROR || (r == 0 && (ssh_channel_is_eof(b->sftp->channel) ||
                                          ssh_channel_is_closed(b->sftp->channel))))
            return lost(t, what, path, NULL, err);
        if (r == 0) {
            char why[96];
            snprintf(why, sizeof why, "no answer from the server in %g s", timeout);
            return lost(t, what, path, why, err);
        }
        p += r;
        len -= (size_t)r;
    }
    return SR_OK;
}

/* Read the head of the next answer: its type, its id and how many bytes follow. */
static int raw_head(sr_transfer *t, uint8_t *type, uint32_t *id, uint32_t *rest, const char *what,
                    const char *path, sr_err *err)
{
    unsigned char head[9];
    int rc = raw_read_all(t, head, sizeof head, what, path, err);
    if (rc != SR_OK)
        return rc;
    uint32_t len = get_u32(head);
    if (len < 5)
        return lost(t, what, path, "an answer of unexpected size from the sftp server", err);
    *type = head[4];
    *id = get_u32(head + 5);
    *rest = len - 5;
    return SR_OK;
}

/* The rest of a small answer (STATUS, HANDLE, EXTENDED_REPLY) into b->reply. */
static int raw_body(sr_transfer *t, uint32_t rest, const char *what, const char *path, sr_err *err)
{
    sftp_backend *b = t->backend;
    if (rest > REPLY_MAX)
        return lost(t, what, path, "an answer of unexpected size from the sftp server", err);
    b->reply_len = rest;
    return raw_read_all(t, b->reply, rest, what, path, err);
}

/* Read one small answer: its type and id; its body is in b->reply. */
static int raw_reply(sr_transfer *t, uint8_t *type, uint32_t *id, const char *what,
                     const char *path, sr_err *err)
{
    uint32_t rest;
    int rc = raw_head(t, type, id, &rest, what, path, err);
    return rc == SR_OK ? raw_body(t, rest, what, path, err) : rc;
}

/* The status in b->reply: SR_OK for SSH_FX_OK, else the error. */
static int reply_status(sr_transfer *t, uint8_t type, const char *what, const char *path,
                        sr_err *err)
{
    sftp_backend *b = t->backend;
    if (type != SSH_FXP_STATUS || b->reply_len < 4)
        return lost(t, what, path, "the sftp server answered out of turn", err);
    uint32_t code = get_u32(b->reply);
    if (code == SSH_FX_OK)
        return SR_OK;
    char text[128] = "";
    if (b->reply_len >= 8) {
        uint32_t n = get_u32(b->reply + 4);
        if (n <= b->reply_len - 8)
            snprintf(text, sizeof text, "%.*s", (int)n, (const char *)b->reply + 8);
    }
    return status_error(t, what, path, (int)code, text, err);
}

/* Send a request whose body is the strings given (each a uint32 length and its bytes). */
static int raw_request(sr_transfer *t, uint8_t type, uint32_t id, const char *const *strings,
                       size_t nstrings, const char *what, const char *path, sr_err *err)
{
    size_t len = 1 + 4;
    for (size_t i = 0; i < nstrings; i++)
        len += 4 + strlen(strings[i]);
    if (len > UINT32_MAX - 4)
        return sr_err_set(err, SR_EINVAL, false, "%s: %s %s: path too long", t->shown_url, what,
                          path);
    unsigned char *p = malloc(4 + len), *q = p;
    if (p == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    put_u32(q, (uint32_t)len);
    q[4] = type;
    put_u32(q + 5, id);
    q += 9;
    for (size_t i = 0; i < nstrings; i++) {
        size_t n = strlen(strings[i]);
        put_u32(q, (uint32_t)n);
        memcpy(q + 4, strings[i], n);
        q += 4 + n;
    }
    int rc = raw_write(t, p, 4 + len, what, path, err);
    free(p);
    return rc;
}

/* One extended request and its answer (the reply body stays in b->reply). */
static int raw_extended(sr_transfer *t, const char *const *strings, size_t nstrings, uint8_t *type,
                        const char *what, const char *path, sr_err *err)
{
    sftp_backend *b = t->backend;
    uint32_t id = next_id(b), got;
    int rc = raw_request(t, SSH_FXP_EXTENDED, id, strings, nstrings, what, path, err);
    if (rc == SR_OK)
        rc = raw_reply(t, type, &got, what, path, err);
    if (rc == SR_OK && got != id)
        rc = lost(t, what, path, "the sftp server answered another request", err);
    return rc;
}

/* ---- connecting ---- */

static int set_opt(sr_transfer *t, enum ssh_options_e opt, const void *value, const char *name,
                   sr_err *err)
{
    sftp_backend *b = t->backend;
    if (ssh_options_set(b->ssh, opt, value) < 0)
        return sr_err_set(err, SR_EINVAL, false, "%s: ssh option %s: %s", t->shown_url, name,
                          ssh_get_error(b->ssh));
    return SR_OK;
}

/* path with a leading ~ or %d expanded (home, home/.ssh). New string or NULL. */
static char *expand(const char *path, const char *home)
{
    char *out = NULL;
    int n;
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0'))
        n = asprintf(&out, "%s%s", home, path + 1);
    else if (strncmp(path, "%d", 2) == 0)
        n = asprintf(&out, "%s/.ssh%s", home, path + 2);
    else
        n = asprintf(&out, "%s", path);
    return n < 0 ? NULL : out;
}

/* The IdentityFile of the config for this host (libssh gives the last one), expanded, or
 * NULL when the config names none (libssh then lists its defaults, "%d/id_..."). Read
 * before ssh_connect, which expands ~ in it from the passwd home. */
static char *config_identity(sr_transfer *t, const char *home)
{
    sftp_backend *b = t->backend;
    char *value = NULL;
    if (ssh_options_get(b->ssh, SSH_OPTIONS_IDENTITY, &value) != SSH_OK || value == NULL)
        return NULL;
    char *out = NULL;
    if (strncmp(value, "%d/id_", 6) != 0)
        out = expand(value, home);
    ssh_string_free_char(value);
    return out;
}

/* Keep-alive and TCP_USER_TIMEOUT: a dead peer fails an operation within about `timeout`. */
static void tune_socket(sr_transfer *t)
{
    sftp_backend *b = t->backend;
    socket_t fd = ssh_get_fd(b->ssh);
    if (fd == SSH_INVALID_SOCKET)
        return;
    double timeout = sr_transfer_timeout(t);
    if (timeout > 30000)
        timeout = 30000; /* TCP_KEEPIDLE stops at 32767 s */
    int on = 1, idle = (int)(timeout / 2) + 1, intvl = (int)(timeout / 6) + 1, cnt = 3;
    unsigned int user_timeout = (unsigned int)(timeout * 1000);
    /* Best effort: a failure leaves the kernel's defaults. */
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
}

static int check_host_key(sr_transfer *t, const char *host, unsigned int port,
                          const char *known_hosts, char *fingerprint, size_t fsize, sr_err *err)
{
    sftp_backend *b = t->backend;
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    const char *type = "?";
    snprintf(fingerprint, fsize, "(unknown)");
    if (ssh_get_server_publickey(b->ssh, &key) == SSH_OK) {
        type = ssh_key_type_to_char(ssh_key_type(key));
        if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
            char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
            if (fp != NULL)
                snprintf(fingerprint, fsize, "%s %s", type ? type : "?", fp);
            ssh_string_free_char(fp);
            ssh_clean_pubkey_hash(&hash);
        }
        ssh_key_free(key);
    }
    char shown_host[300];
    if (port == 22)
        snprintf(shown_host, sizeof shown_host, "%s", host);
    else
        snprintf(shown_host, sizeof shown_host, "[%s]:%u", host, port);
    switch (ssh_session_is_known_server(b->ssh)) {
    case SSH_KNOWN_HOSTS_OK:
        return SR_OK;
    /* (kept short: SR_ERR_MSG_MAX holds them with long paths) */
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        return sr_err_set(err, SR_EPERM, true,
                          "%s: HOST KEY CHANGED for %s: it offers %s, not the key known_hosts "
                          "holds. Someone may be intercepting the connection, or the server "
                          "was reinstalled: refused. If expected, verify the new fingerprint, "
                          "run `ssh-keygen -R '%s' -f %s` and add the new key",
                          t->shown_url, shown_host, fingerprint, shown_host, known_hosts);
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        return sr_err_set(err, SR_EPERM, true,
                          "%s: unknown host key: %s (%s) is not in known_hosts and sr never "
                          "accepts an unknown key. Verify the fingerprint, then run "
                          "`ssh-keyscan -p %u %s >> %s` (or connect once with ssh)",
                          t->shown_url, shown_host, fingerprint, port, host, known_hosts);
    default:
        return sr_err_set(err, SR_EIO, true, "%s: cannot check the host key of %s against %s: %s",
                          t->shown_url, shown_host, known_hosts, ssh_get_error(b->ssh));
    }
}

/* Append ", text" (or text) to list; dropped when it does not fit. */
static void list_add(char *list, size_t size, const char *text)
{
    size_t n = strlen(list), sep = n ? 2 : 0, add = strlen(text);
    if (n + sep + add + 1 > size)
        return;
    memcpy(list + n, ", ", sep);
    memcpy(list + n + sep, text, add + 1);
}

/* Try one key file. SR_OK when logged in; SR_ENOENT when refused or unusable (why in
 * refused/unusable lists); an error when the connection failed. */
static int try_key(sr_transfer *t, const char *path, bool named, char *refused, size_t rsize,
                   char *unusable, size_t usize, sr_err *err)
{
    sftp_backend *b = t->backend;
    char note[PATH_MAX + 64];
    if (access(path, R_OK) != 0) {
        if (named) {
            snprintf(note, sizeof note, "%s (%s)", path, strerror(errno));
            list_add(unusable, usize, note);
        }
        return SR_ENOENT;
    }
    ssh_key key = NULL;
    if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
        snprintf(note, sizeof note,
                 "%s (not a key sr can read without a passphrase: use "
                 "ssh-agent for keys with one)",
                 path);
        list_add(unusable, usize, note);
        return SR_ENOENT;
    }
    int rc = ssh_userauth_publickey(b->ssh, NULL, key);
    ssh_key_free(key);
    if (rc == SSH_AUTH_SUCCESS)
        return SR_OK;
    if (rc == SSH_AUTH_ERROR)
        return sr_err_set(err, SR_ECONN, true, "%s: logging in with key %s to %s: %s", t->shown_url,
                          path, b->where, ssh_get_error(b->ssh));
    snprintf(note, sizeof note, "key %s", path);
    list_add(refused, rsize, note);
    return SR_ENOENT;
}

static int authenticate(sr_transfer *t, const char *home, const char *user, const char *config_key,
                        sr_err *err)
{
    sftp_backend *b = t->backend;
    int rc = ssh_userauth_none(b->ssh, NULL);
    if (rc == SSH_AUTH_SUCCESS)
        return SR_OK;
    if (rc == SSH_AUTH_ERROR)
        return sr_err_set(err, SR_ECONN, true, "%s: logging in to %s: %s", t->shown_url, b->where,
                          ssh_get_error(b->ssh));
    int methods = ssh_userauth_list(b->ssh, NULL);
    char refused[1024] = "", unusable[1024] = "";
    bool any_key = false;

    if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
        char *named = NULL;
        if (t->credential != NULL && t->credential->ssh_keyfile != NULL)
            named = expand(t->credential->ssh_keyfile, home);
        else if (config_key != NULL)
            named = strdup(config_key);
        if (named != NULL) {
            any_key = true;
            rc = try_key(t, named, true, refused, sizeof refused, unusable, sizeof unusable, err);
            free(named);
            if (rc != SR_ENOENT)
                return rc;
        } else {
            static const char *const defaults[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
            for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/.ssh/%s", home, defaults[i]);
                if (access(path, F_OK) == 0)
                    any_key = true;
                rc = try_key(t, path, false, refused, sizeof refused, unusable, sizeof unusable,
                             err);
                if (rc != SR_ENOENT)
                    return rc;
            }
        }
        const char *agent = getenv("SSH_AUTH_SOCK");
        if (agent != NULL && agent[0] != '\0') {
            any_key = true;
            rc = ssh_userauth_agent(b->ssh, NULL);
            if (rc == SSH_AUTH_SUCCESS)
                return SR_OK;
            if (rc == SSH_AUTH_ERROR && !ssh_is_connected(b->ssh))
                return sr_err_set(err, SR_ECONN, true, "%s: logging in to %s: %s", t->shown_url,
                                  b->where, ssh_get_error(b->ssh));
            list_add(refused, sizeof refused, "the keys of ssh-agent");
        }
    }
    if (t->url.password != NULL && (methods & SSH_AUTH_METHOD_PASSWORD)) {
        rc = ssh_userauth_password(b->ssh, NULL, t->url.password);
        if (rc == SSH_AUTH_SUCCESS)
            return SR_OK;
        if (rc == SSH_AUTH_ERROR)
            return sr_err_set(err, SR_ECONN, true, "%s: logging in to %s: %s", t->shown_url,
                              b->where, ssh_get_error(b->ssh));
        list_add(refused, sizeof refused, "the password from credentials.conf");
    }

    char detail[2200];
    if (refused[0] != '\0')
        snprintf(detail, sizeof detail, "the server refused %s for %s", refused, user);
    else if (!(methods & SSH_AUTH_METHOD_PUBLICKEY) && t->url.password == NULL)
        snprintf(detail, sizeof detail,
                 "the server takes no keys for %s, and credentials.conf has no password", user);
    else if (!any_key)
        snprintf(detail, sizeof detail,
                 "no key to offer for %s: no ssh_keyfile in credentials.conf, no IdentityFile in "
                 "%s/.ssh/config, none of id_ed25519, id_ecdsa, id_rsa in %s/.ssh, no ssh-agent",
                 user, home, home);
    else
        snprintf(detail, sizeof detail, "nothing the server accepts for %s", user);
    if (unusable[0] != '\0') {
        size_t n = strlen(detail);
        snprintf(detail + n, sizeof detail - n, "; unusable: %s", unusable);
    }
    return sr_err_set(err, SR_EPERM, true, "%s: cannot log in to %s: %s", t->shown_url, b->where,
                      detail);
}

/* limits@openssh.com: the largest READ and WRITE the server takes. */
static int query_limits(sr_transfer *t, sr_err *err)
{
    sftp_backend *b = t->backend;
    b->max_read = b->max_write = SFTP_SAFE_CHUNK;
    if (sftp_extension_supported(b->sftp, "limits@openssh.com", "1") != 1)
        return SR_OK;
    const char *req[] = {"limits@openssh.com"};
    uint8_t type;
    int rc = raw_extended(t, req, 1, &type, "asking the limits of", "the server", err);
    if (rc != SR_OK)
        return rc;
    if (type != SSH_FXP_EXTENDED_REPLY || b->reply_len < 32)
        return SR_OK; /* keep the safe sizes */
    uint64_t rd = get_u64(b->reply + 8), wr = get_u64(b->reply + 16);
    if (rd >= SFTP_SAFE_CHUNK)
        b->max_read = rd > (1u << 24) ? (1u << 24) : (uint32_t)rd;
    if (wr >= SFTP_SAFE_CHUNK)
        b->max_write = wr > (1u << 24) ? (1u << 24) : (uint32_t)wr;
    return SR_OK;
}

static int connect_session(sr_transfer *t, sr_err *err)
{
    sftp_backend *b = t->backend;
    const char *home = sr_transfer_home(t);
    char ssh_dir[PATH_MAX], known_hosts[PATH_MAX], config[PATH_MAX];
    if (snprintf(ssh_dir, sizeof ssh_dir, "%s/.ssh", home) >= (int)sizeof ssh_dir ||
        snprintf(known_hosts, sizeof known_hosts, "%s/known_hosts", ssh_dir) >=
            (int)sizeof known_hosts ||
        snprintf(config, sizeof config, "%s/config", ssh_dir) >= (int)sizeof config)
        return sr_err_set(err, SR_EINVAL, false, "%s: home folder path too long: %s", t->shown_url,
                          home);
    if (t->url.host == NULL || t->url.host[0] == '\0')
        return sr_err_set(err, SR_EINVAL, false, "%s: no host to connect to", t->shown_url);

    b->ssh = ssh_new();
    if (b->ssh == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    double timeout = sr_transfer_timeout(t);
    long secs = (long)timeout, usecs = (long)((timeout - (double)secs) * 1e6);
    bool no = false;
    int yes = 1;
    unsigned int port = (unsigned int)t->url.port;
    int rc = set_opt(t, SSH_OPTIONS_PROCESS_CONFIG, &no, "ProcessConfig", err);
    if (rc == SR_OK)
        rc = set_opt(t, SSH_OPTIONS_HOST, t->url.host, "Host", err);
    /* Set before the config is read: what is set first wins, as on ssh's command line. */
    if (rc == SR_OK && t->url.user != NULL)
        rc = set_opt(t, SSH_OPTIONS_USER, t->url.user, "User", err);
    if (rc == SR_OK && port != 0)
        rc = set_opt(t, SSH_OPTIONS_PORT, &port, "Port", err);
    if (rc == SR_OK)
        rc = set_opt(t, SSH_OPTIONS_SSH_DIR, ssh_dir, "ssh dir", err);
    if (rc == SR_OK)
        rc = set_opt(t, SSH_OPTIONS_TIMEOUT, &secs, "ConnectTimeout", err);
    if (rc == SR_OK)
        rc = set_opt(t, SSH_OPTIONS_TIMEOUT_USEC, &usecs, "ConnectTimeout", err);
    if (rc == SR_OK)
        rc = set_opt(t, SSH_OPTIONS_NODELAY, &yes, "NoDelay", err);
    if (rc == SR_OK && access(config, F_OK) == 0 && ssh_options_parse_config(b->ssh, config) < 0)
        rc = sr_err_set(err, SR_EINVAL, false, "%s: %s: %s", t->shown_url, config,
                        ssh_get_error(b->ssh));
    if (rc == SR_OK && access("/etc/ssh/ssh_config", F_OK) == 0 &&
        ssh_options_parse_config(b->ssh, "/etc/ssh/ssh_config") < 0)
        rc = sr_err_set(err, SR_EINVAL, false, "%s: /etc/ssh/ssh_config: %s", t->shown_url,
                        ssh_get_error(b->ssh));
    /* After the config: a UserKnownHostsFile there would be expanded from the passwd home. */
    if (rc == SR_OK)
        rc = set_opt(t, SSH_OPTIONS_KNOWNHOSTS, known_hosts, "UserKnownHostsFile", err);
    if (rc != SR_OK) {
        disconnect(t);
        return rc;
    }

    char *host = NULL, *user = NULL;
    unsigned int real_port = 22;
    char *config_key = config_identity(t, home);
    if (ssh_options_get(b->ssh, SSH_OPTIONS_HOST, &host) != SSH_OK)
        host = NULL;
    if (ssh_options_get(b->ssh, SSH_OPTIONS_USER, &user) != SSH_OK)
        user = NULL;
    ssh_options_get_port(b->ssh, &real_port);
    snprintf(b->where, sizeof b->where, "%s@%s port %u", user ? user : "?",
             host ? host : t->url.host, real_port);
    char login[300];
    snprintf(login, sizeof login, "%s@%s", user ? user : "?", host ? host : t->url.host);

    if (ssh_connect(b->ssh) != SSH_OK) {
        rc = sr_err_set(err, SR_ECONN, true, "%s: cannot connect to %s port %u: %s", t->shown_url,
                        host ? host : t->url.host, real_port, ssh_get_error(b->ssh));
        goto out;
    }
    tune_socket(t);
    if (user == NULL && ssh_options_get(b->ssh, SSH_OPTIONS_USER, &user) == SSH_OK) {
        /* libssh picks the local user name at connect time when nothing named one */
        snprintf(b->where, sizeof b->where, "%s@%s port %u", user, host ? host : t->url.host,
                 real_port);
        snprintf(login, sizeof login, "%s@%s", user, host ? host : t->url.host);
    }
    char fingerprint[160];
    rc = check_host_key(t, host ? host : t->url.host, real_port, known_hosts, fingerprint,
                        sizeof fingerprint, err);
    if (rc == SR_OK)
        rc = authenticate(t, home, login, config_key, err);
    if (rc != SR_OK)
        goto out;
    b->sftp = sftp_new(b->ssh);
    if (b->sftp == NULL || sftp_init(b->sftp) < 0) {
        rc = sr_err_set(err, SR_ECONN, true, "%s: starting sftp on %s: %s", t->shown_url, b->where,
                        ssh_get_error(b->ssh));
        goto out;
    }
    b->posix_rename = sftp_extension_supported(b->sftp, "posix-rename@openssh.com", "1") == 1;
    rc = query_limits(t, err);
    if (rc != SR_OK)
        goto out;
    t->connected = true;
    sr_transfer_notify(t, SR_LOG_INFO,
                       "%s: connected to %s, host key %s found in %s; sftp requests of %u/%u "
                       "bytes (read/write)",
                       t->shown_url, b->where, fingerprint, known_hosts, b->max_read, b->max_write);
out:
    free(config_key);
    ssh_string_free_char(host);
    ssh_string_free_char(user);
    if (rc != SR_OK && b->ssh != NULL)
        disconnect(t);
    return rc;
}

static int ensure(sr_transfer *t, sr_err *err)
{
    if (t->connected)
        return SR_OK;
    disconnect(t); /* what a broken connection left */
    return connect_session(t, err);
}

/* The copy buffer: chunk bytes of data after room for a WRITE header. */
static int buffer_for(sr_transfer *t, size_t chunk, sr_err *err)
{
    sftp_backend *b = t->backend;
    size_t need = WRITE_HEADER_MAX + chunk;
    if (b->buf_size >= need)
        return SR_OK;
    unsigned char *p = realloc(b->buf, need);
    if (p == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    b->buf = p;
    b->buf_size = need;
    return SR_OK;
}

static uint32_t chunk_size(sr_transfer *t, uint32_t server_max)
{
    size_t want = sr_transfer_buffer_size(t);
    return want < server_max ? (uint32_t)(want < 1024 ? 1024 : want) : server_max;
}

static size_t requests_for(uint32_t chunk)
{
    size_t n = IN_FLIGHT_BYTES / chunk;
    return n < 2 ? 2 : n > MAX_REQUESTS ? MAX_REQUESTS : n;
}

/* ---- operations ---- */

/* A file handle from the server (at most HANDLE_MAX bytes). */
typedef struct remote_file {
    unsigned char handle[HANDLE_MAX];
    uint32_t len;
} remote_file;

/* OPEN: uint32 id, string path, uint32 pflags, ATTRS (flags 0: the server's modes). */
static int raw_open(sr_transfer *t, const char *path, uint32_t pflags, remote_file *f,
                    const char *what, sr_err *err)
{
    sftp_backend *b = t->backend;
    size_t plen = strlen(path);
    if (plen + 21 > b->buf_size)
        return sr_err_set(err, SR_EINVAL, false, "%s: %s %.64s...: path too long", t->shown_url,
                          what, path);
    unsigned char *p = b->buf;
    uint32_t open_id = next_id(b);
    put_u32(p, (uint32_t)(1 + 4 + 4 + plen + 4 + 4));
    p[4] = SSH_FXP_OPEN;
    put_u32(p + 5, open_id);
    put_u32(p + 9, (uint32_t)plen);
    memcpy(p + 13, path, plen);
    put_u32(p + 13 + plen, pflags);
    put_u32(p + 17 + plen, 0);
    uint8_t type;
    uint32_t id;
    int rc = raw_write(t, p, 21 + plen, what, path, err);
    if (rc == SR_OK)
        rc = raw_reply(t, &type, &id, what, path, err);
    if (rc != SR_OK)
        return rc;
    if (id != open_id)
        return lost(t, what, path, "the sftp server answered another request", err);
    if (type != SSH_FXP_HANDLE) {
        rc = reply_status(t, type, what, path, err);
        if (rc == SR_ENOENT)
            dirs_clear(b); /* a folder thought to be there is gone */
        return rc != SR_OK ? rc : lost(t, what, path, "the sftp server sent no handle", err);
    }
    f->len = b->reply_len >= 4 ? get_u32(b->reply) : UINT32_MAX;
    if (f->len == 0 || f->len > HANDLE_MAX || f->len > b->reply_len - 4)
        return lost(t, what, path, "the sftp server sent a bad handle", err);
    memcpy(f->handle, b->reply + 4, f->len);
    return SR_OK;
}

/* CLOSE: uint32 id, string handle; the answer is the caller's to collect. */
static int send_close(sr_transfer *t, const remote_file *f, uint32_t id, const char *what,
                      const char *path, sr_err *err)
{
    unsigned char p[13 + HANDLE_MAX];
    put_u32(p, 1 + 4 + 4 + f->len);
    p[4] = SSH_FXP_CLOSE;
    put_u32(p + 5, id);
    put_u32(p + 9, f->len);
    memcpy(p + 13, f->handle, f->len);
    return raw_write(t, p, 13 + f->len, what, path, err);
}

/* READ: uint32 id, string handle, uint64 offset, uint32 len. */
static int send_read(sr_transfer *t, const remote_file *f, uint32_t id, uint64_t offset,
                     uint32_t len, const char *path, sr_err *err)
{
    unsigned char p[25 + HANDLE_MAX];
    put_u32(p, 1 + 4 + 4 + f->len + 8 + 4);
    p[4] = SSH_FXP_READ;
    put_u32(p + 5, id);
    put_u32(p + 9, f->len);
    memcpy(p + 13, f->handle, f->len);
    put_u64(p + 13 + f->len, offset);
    put_u32(p + 21 + f->len, len);
    return raw_write(t, p, 25 + f->len, "get", path, err);
}

/* A READ in flight. */
typedef struct read_slot {
    uint32_t id;
    uint64_t offset;
    uint32_t len;
    bool answered, eof, delivered;
    uint32_t got;         /* bytes the answer carried */
    unsigned char *early; /* an answer that came before its turn waits here */
} read_slot;

#define RING (MAX_REQUESTS + 1)

/* Read the next answer of a download into its slot: the data of the oldest request goes
 * straight to the file (when `deliver`), that of a younger one waits in memory. */
static int read_answer(sr_transfer *t, read_slot *q, size_t head, size_t count, int fd,
                       sr_digest *digest, sr_transfer_result *result, bool *finished, sr_err *first,
                       int *first_rc, const char *path, sr_err *err)
{
    sftp_backend *b = t->backend;
    uint8_t type;
    uint32_t id, rest;
    int rc = raw_head(t, &type, &id, &rest, "get", path, err);
    if (rc != SR_OK)
        return rc;
    size_t k = 0;
    while (k < count && q[(head + k) % RING].id != id)
        k++;
    if (k == count || q[(head + k) % RING].answered)
        return lost(t, "get", path, "the sftp server answered an unknown request", err);
    read_slot *s = &q[(head + k) % RING];
    s->answered = true;
    if (type == SSH_FXP_STATUS) {
        if ((rc = raw_body(t, rest, "get", path, err)) != SR_OK)
            return rc;
        s->eof = true;
        if (b->reply_len >= 4 && get_u32(b->reply) == SSH_FX_EOF)
            return SR_OK;
        sr_err e = {0};
        int src = reply_status(t, type, "get", path, &e);
        if (src == SR_OK)
            src = sr_err_set(&e, SR_EPROTO, true,
                             "%s: get %s: the server answered a read with "
                             "no data",
                             t->shown_url, path);
        if (*first_rc == SR_OK) {
            *first_rc = src;
            *first = e;
        }
        *finished = true;
        return SR_OK;
    }
    if (type != SSH_FXP_DATA || rest < 4)
        return lost(t, "get", path, "the sftp server answered out of turn", err);
    unsigned char nb[4];
    if ((rc = raw_read_all(t, nb, 4, "get", path, err)) != SR_OK)
        return rc;
    uint32_t n = get_u32(nb);
    if (n > s->len || n != rest - 4)
        return lost(t, "get", path, "the sftp server sent more than was asked", err);
    unsigned char *dst = b->buf + WRITE_HEADER_MAX;
    if (k != 0 && !*finished) {
        s->early = malloc(n > 0 ? n : 1);
        if (s->early == NULL) {
            lost(t, "get", path, "out of memory", err);
            return sr_err_set(err, SR_ENOMEM, true, "out of memory");
        }
        dst = s->early;
    }
    if ((rc = raw_read_all(t, dst, n, "get", path, err)) != SR_OK)
        return rc;
    s->got = n;
    s->eof = n == 0;
    if (k == 0 && !*finished && n > 0) {
        s->delivered = true;
        if (sr_transfer_sink_write(t, fd, dst, n, digest, result, first) != SR_OK) {
            *first_rc = first->code;
            *finished = true;
        }
    }
    return SR_OK;
}

/* Download: OPEN, READs in flight (one at first, doubling per full answer), CLOSE. */
static int sftp_get(sr_transfer *t, const char *remote_path, int fd, off_t offset, off_t length,
                    sr_digest *digest, sr_transfer_result *result, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    uint32_t chunk = chunk_size(t, b->max_read);
    size_t most = requests_for(chunk);
    remote_file f;
    if ((rc = buffer_for(t, chunk, err)) != SR_OK ||
        (rc = raw_open(t, path, SSH_FXF_READ, &f, "get", err)) != SR_OK)
        return rc;

    read_slot q[RING];
    size_t head = 0, count = 0, window = 1;
    uint64_t next = (uint64_t)offset;
    uint64_t end = length > 0 ? (uint64_t)offset + (uint64_t)length : UINT64_MAX;
    bool finished = false; /* no more requests: the end, or a failure; answers still read */
    sr_err first = {0};
    int first_rc = SR_OK;
    for (;;) {
        while (!finished && count < window && next < end) {
            uint32_t len = end - next < chunk ? (uint32_t)(end - next) : chunk;
            uint32_t id = next_id(b);
            if ((rc = send_read(t, &f, id, next, len, path, err)) != SR_OK)
                goto out;
            q[(head + count) % RING] = (read_slot){.id = id, .offset = next, .len = len};
            count++;
            next += len;
        }
        if (count == 0)
            break;
        if (!q[head].answered) {
            rc = read_answer(t, q, head, count, fd, digest, result, &finished, &first, &first_rc,
                             path, err);
            if (rc != SR_OK)
                goto out;
            continue;
        }
        read_slot s = q[head];
        head = (head + 1) % RING;
        count--;
        if (!finished && !s.delivered && s.got > 0 &&
            sr_transfer_sink_write(t, fd, s.early, s.got, digest, result, &first) != SR_OK) {
            first_rc = first.code;
            finished = true;
        }
        free(s.early);
        if (finished)
            continue;
        if (s.eof) {
            finished = true;
        } else if (s.got < s.len) {
            /* a short answer: the rest of its range comes before anything after it */
            head = (head + RING - 1) % RING;
            count++;
            uint32_t id = next_id(b);
            q[head] = (read_slot){.id = id, .offset = s.offset + s.got, .len = s.len - s.got};
            if ((rc = send_read(t, &f, id, q[head].offset, q[head].len, path, err)) != SR_OK)
                goto out;
        } else if (window < most) {
            window = window * 2 > most ? most : window * 2;
        }
    }
    uint32_t close_id = next_id(b), id;
    uint8_t type;
    if ((rc = send_close(t, &f, close_id, "get", path, err)) != SR_OK ||
        (rc = raw_reply(t, &type, &id, "get", path, err)) != SR_OK)
        goto out;
    if (id != close_id) {
        rc = lost(t, "get", path, "the sftp server answered another request", err);
        goto out;
    }
    rc = reply_status(t, type, "closing", path, err);
    if (first_rc != SR_OK)
        rc = sr_err_set(err, first_rc, first.retryable, "%s", first.msg);
out:
    for (size_t i = 0; i < count; i++)
        free(q[(head + i) % RING].early);
    return rc;
}

/* Upload: OPEN, WRITEs in flight, the CLOSE behind the last one, then every answer. */
static int sftp_put(sr_transfer *t, int fd, const char *remote_path, off_t offset, off_t length,
                    sr_transfer_result *result, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    uint32_t chunk = chunk_size(t, b->max_write);
    size_t most = requests_for(chunk);
    /* a block (length > 0) goes into the file as it is: other blocks may be there */
    uint32_t pflags =
        SSH_FXF_WRITE | SSH_FXF_CREAT | (offset == 0 && length == 0 ? SSH_FXF_TRUNC : 0);
    remote_file f;
    if ((rc = buffer_for(t, chunk, err)) != SR_OK ||
        (rc = raw_open(t, path, pflags, &f, "put", err)) != SR_OK)
        return rc;
    /* WRITE: uint32 id, string handle, uint64 offset, string data; the header is built
     * just before the data in the buffer, so each request is one write to the channel */
    size_t header = 4 + 1 + 4 + 4 + f.len + 8 + 4;
    unsigned char *data = b->buf + WRITE_HEADER_MAX;
    unsigned char *frame = data - header;

    uint32_t ids[RING];
    size_t head = 0, count = 0;
    uint32_t close_id = 0;
    bool done = false, closed = false;
    uint64_t at = (uint64_t)offset;
    uint64_t end = length > 0 ? (uint64_t)offset + (uint64_t)length : UINT64_MAX;
    sr_err first = {0}; /* the first failure, local or the server's; the CLOSE still goes */
    int first_rc = SR_OK;
    for (;;) {
        while (!done && first_rc == SR_OK && count < most) {
            size_t want = end - at < chunk ? (size_t)(end - at) : chunk;
            ssize_t n = want == 0
                            ? 0
                            : sr_transfer_source_read(t, fd, data, want, (off_t)at, result, &first);
            if (n < 0) {
                first_rc = first.code;
                break;
            }
            if (n == 0) {
                done = true;
                break;
            }
            uint32_t wid = next_id(b);
            put_u32(frame, (uint32_t)(header - 4 + (size_t)n));
            frame[4] = SSH_FXP_WRITE;
            put_u32(frame + 5, wid);
            put_u32(frame + 9, f.len);
            memcpy(frame + 13, f.handle, f.len);
            put_u64(frame + 13 + f.len, at);
            put_u32(frame + 21 + f.len, (uint32_t)n);
            if ((rc = raw_write(t, frame, header + (size_t)n, "put", path, err)) != SR_OK)
                return rc;
            ids[(head + count) % RING] = wid;
            count++;
            at += (uint64_t)n;
        }
        if (!closed && (done || first_rc != SR_OK)) {
            close_id = next_id(b);
            if ((rc = send_close(t, &f, close_id, "put", path, err)) != SR_OK)
                return rc;
            ids[(head + count) % RING] = close_id;
            count++;
            closed = true;
        }
        if (count == 0)
            break;
        uint8_t type;
        uint32_t id;
        if ((rc = raw_reply(t, &type, &id, "put", path, err)) != SR_OK)
            return rc;
        /* servers may answer out of order: find the request */
        size_t k = 0;
        while (k < count && ids[(head + k) % RING] != id)
            k++;
        if (k == count)
            return lost(t, "put", path, "the sftp server answered an unknown request", err);
        ids[(head + k) % RING] = ids[head];
        head = (head + 1) % RING;
        count--;
        sr_err e = {0};
        int src = reply_status(t, type, id == close_id ? "closing" : "put", path, &e);
        if (src == SR_ECONN)
            return sr_err_set(err, e.code, e.retryable, "%s", e.msg);
        if (src != SR_OK && first_rc == SR_OK) {
            first_rc = src;
            first = e;
        }
    }
    if (first_rc != SR_OK)
        return sr_err_set(err, first_rc, first.retryable, "%s", first.msg);
    return SR_OK;
}

/* Make one folder, its parents first when they are missing. */
static int make_dir(sr_transfer *t, char *dir, mode_t mode, int depth, sr_err *err)
{
    sftp_backend *b = t->backend;
    int made = sftp_mkdir(b->sftp, dir, mode);
    if (made < 0 && connection_broken(t))
        return lost(t, "mkdir", dir, NULL, err);
    char *slash = strrchr(dir, '/');
    if (made < 0 && sftp_get_error(b->sftp) == SSH_FX_NO_SUCH_FILE && depth < 64 && slash != NULL &&
        slash != dir) {
        *slash = '\0';
        int rc = make_dir(t, dir, mode, depth + 1, err);
        *slash = '/';
        if (rc != SR_OK)
            return rc;
        made = sftp_mkdir(b->sftp, dir, mode);
    }
    if (made == 0) {
        /* the server's umask applied: chmod gives the mode asked for */
        if (sftp_chmod(b->sftp, dir, mode) < 0)
            return op_error(t, "chmod", dir, err);
    } else {
        if (connection_broken(t))
            return lost(t, "mkdir", dir, NULL, err);
        /* SFTP v3 has no "already exists": look */
        sftp_attributes a = sftp_stat(b->sftp, dir);
        if (a == NULL)
            return op_error(t, "mkdir", dir, err);
        bool is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
        sftp_attributes_free(a);
        if (!is_dir)
            return sr_err_set(err, SR_EIO, false, "%s: mkdir %s: exists and is not a folder",
                              t->shown_url, dir);
    }
    dirs_add(b, dir);
    return SR_OK;
}

/* The folder and its missing parents; those made get `mode`. Folders seen to exist are
 * remembered for the session, so sending many files to one folder costs nothing more. */
static int sftp_mkdir_p(sr_transfer *t, const char *remote_dir, mode_t mode, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *dir = remote(remote_dir);
    if (strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0 || dirs_known(b, dir))
        return SR_OK;
    char *copy = strdup(dir);
    if (copy == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    rc = make_dir(t, copy, mode & 07777, 0, err);
    free(copy);
    return rc;
}

static int sftp_rename_op(sr_transfer *t, const char *from, const char *to, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *f = remote(from), *d = remote(to);
    if (b->posix_rename) {
        /* EXTENDED "posix-rename@openssh.com" string old, string new: replaces `to` */
        const char *req[] = {"posix-rename@openssh.com", f, d};
        uint8_t type;
        rc = raw_extended(t, req, 3, &type, "rename", f, err);
        return rc == SR_OK ? reply_status(t, type, "rename", f, err) : rc;
    }
    if (sftp_rename(b->sftp, f, d) == 0)
        return SR_OK;
    if (connection_broken(t))
        return lost(t, "rename", f, NULL, err);
    if (sftp_get_error(b->sftp) != SSH_FX_FAILURE &&
        sftp_get_error(b->sftp) != SSH_FX_FILE_ALREADY_EXISTS)
        return op_error(t, "rename", f, err);
    /* SFTP v3's rename refuses an existing target: remove it, then rename */
    sftp_attributes a = sftp_lstat(b->sftp, d);
    if (a == NULL)
        return op_error(t, "rename", f, err);
    bool is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
    sftp_attributes_free(a);
    if ((is_dir ? sftp_rmdir(b->sftp, d) : sftp_unlink(b->sftp, d)) < 0)
        return op_error(t, "rename: removing the old", d, err);
    if (sftp_rename(b->sftp, f, d) < 0)
        return op_error(t, "rename", f, err);
    return SR_OK;
}

static int sftp_remove(sr_transfer *t, const char *remote_path, bool is_dir, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    if (is_dir)
        dirs_clear(b);
    if ((is_dir ? sftp_rmdir(b->sftp, path) : sftp_unlink(b->sftp, path)) < 0)
        return op_error(t, is_dir ? "rmdir" : "delete", path, err);
    return SR_OK;
}

static int sftp_symlink_op(sr_transfer *t, const char *target, const char *remote_path, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    /* the target is the link's text, kept as given (libssh handles OpenSSH's swapped
     * argument order) */
    if (sftp_symlink(b->sftp, target, path) < 0)
        return op_error(t, "symlink", path, err);
    return SR_OK;
}

static int sftp_chmod_op(sr_transfer *t, const char *remote_path, mode_t mode, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    if (sftp_chmod(b->sftp, path, mode & 07777) < 0)
        return op_error(t, "chmod", path, err);
    return SR_OK;
}

static int sftp_utime_op(sr_transfer *t, const char *remote_path, const struct timespec *atime,
                         const struct timespec *mtime, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    struct timeval tv[2] = {{atime->tv_sec, atime->tv_nsec / 1000},
                            {mtime->tv_sec, mtime->tv_nsec / 1000}};
    if (sftp_utimes(b->sftp, path, tv) < 0)
        return op_error(t, "utime", path, err);
    return SR_OK;
}

static void fill_stat(const sftp_attributes a, sr_remote_stat *st)
{
    st->size = (a->flags & SSH_FILEXFER_ATTR_SIZE) ? (off_t)a->size : 0;
    st->mtime.tv_sec = (a->flags & SSH_FILEXFER_ATTR_ACMODTIME) ? (time_t)a->mtime : 0;
    st->mtime.tv_nsec = 0;
    st->mode = (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS) ? (mode_t)a->permissions : 0;
    st->is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
    if ((st->mode & S_IFMT) == 0)
        st->mode |= a->type == SSH_FILEXFER_TYPE_DIRECTORY ? S_IFDIR
                    : a->type == SSH_FILEXFER_TYPE_SYMLINK ? S_IFLNK
                    : a->type == SSH_FILEXFER_TYPE_REGULAR ? S_IFREG
                                                           : 0;
}

static int sftp_stat_op(sr_transfer *t, const char *remote_path, sr_remote_stat *st, sr_err *err)
{
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_path);
    sftp_attributes a = sftp_stat(b->sftp, path);
    if (a == NULL)
        return op_error(t, "stat", path, err);
    fill_stat(a, st);
    sftp_attributes_free(a);
    return SR_OK;
}

/* readdir one entry at a time (libssh reads the server's replies in batches and hands
 * them out one by one): exact sizes, UTC times, modes; a link's target read with readlink
 * (a request between two readdirs, none of libssh's own pending). */
static int sftp_list_each(sr_transfer *t, const char *remote_dir, const sr_listing_options *o,
                          const sr_listing_sink *sink, sr_err *err)
{
    (void)o;
    int rc = ensure(t, err);
    if (rc != SR_OK)
        return rc;
    sftp_backend *b = t->backend;
    const char *path = remote(remote_dir);
    sftp_dir d = sftp_opendir(b->sftp, path);
    if (d == NULL)
        return op_error(t, "list", path, err);
    sftp_attributes a;
    char *full = NULL;
    size_t full_cap = 0, plen = strlen(path);
    while (rc == SR_OK && (a = sftp_readdir(b->sftp, d)) != NULL) {
        if (a->name == NULL || strcmp(a->name, ".") == 0 || strcmp(a->name, "..") == 0) {
            sftp_attributes_free(a);
            continue;
        }
        sr_remote_stat st;
        fill_stat(a, &st);
        sr_listed e = {.name = a->name,
                       .size = (a->flags & SSH_FILEXFER_ATTR_SIZE) ? st.size : -1,
                       .mtime = st.mtime,
                       .has_mtime = (a->flags & SSH_FILEXFER_ATTR_ACMODTIME) != 0,
                       .mode = st.mode & (S_IFMT | 07777),
                       .has_perms = (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS) != 0};
        char *target = NULL;
        if (S_ISLNK(e.mode)) {
            size_t need = plen + strlen(a->name) + 2;
            if (need > full_cap) {
                char *grown = realloc(full, need);
                if (grown == NULL)
                    rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
                else
                    full = grown, full_cap = need;
            }
            if (rc == SR_OK) {
                snprintf(full, full_cap, "%s%s%s", path,
                         plen > 0 && path[plen - 1] != '/' ? "/" : "", a->name);
                target = sftp_readlink(b->sftp, full); /* NULL: a link, target unknown */
                e.link = target;
            }
        }
        if (rc == SR_OK && (S_ISREG(e.mode) || S_ISDIR(e.mode) || S_ISLNK(e.mode)))
            rc = sink->entry(sink->ctx, &e, err);
        ssh_string_free_char(target);
        sftp_attributes_free(a);
    }
    free(full);
    if (rc == SR_OK && !sftp_dir_eof(d))
        rc = op_error(t, "list", path, err);
    if (connection_broken(t))
        dir_forget(d);
    else
        sftp_closedir(d);
    return rc;
}

static void sftp_destroy(sr_transfer *t)
{
    sftp_backend *b = t->backend;
    if (b == NULL)
        return;
    disconnect(t);
    free(b->buf);
    free(b->reply);
    free(b);
    t->backend = NULL;
}

static const sr_transfer_ops sftp_ops = {
    .put_ranges = true,
    .get = sftp_get,
    .put = sftp_put,
    .mkdir_p = sftp_mkdir_p,
    .rename = sftp_rename_op,
    .remove = sftp_remove,
    .symlink = sftp_symlink_op,
    .chmod = sftp_chmod_op,
    .utime = sftp_utime_op,
    .stat = sftp_stat_op,
    .list_each = sftp_list_each,
    .destroy = sftp_destroy,
};

int sr_transfer_sftp_init(sr_transfer *t, sr_err *err)
{
    sftp_backend *b = calloc(1, sizeof *b);
    unsigned char *reply = malloc(REPLY_MAX);
    if (b == NULL || reply == NULL) {
        free(b);
        free(reply);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    b->reply = reply;
    t->backend = b;
    t->ops = &sftp_ops;
    return SR_OK;
}
