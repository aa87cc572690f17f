/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_transfer_tool: the transfer layer (lib/transfer.h) from the command line, for the
 * integration tests, the benchmarks and trying a server by hand. Not installed.
 *
 *   sr_transfer_tool [options] URL VERB ARGS... [; VERB ARGS...]...
 *
 * URL names the remote (scheme://user@host:port); every verb runs over the one session
 * the pool gives for it, in order, so a test can show that many files share a connection:
 *   get REMOTE LOCAL             sr_transfer_get (prints the bytes and the sha512)
 *   put LOCAL REMOTE             sr_transfer_put
 *   download REMOTE LOCAL        sr_transfer_download with --inflight/--identity/--size/--resume
 *   send LOCAL REMOTE            sr_transfer_send with --inflight/--mode
 *   mkdir DIR | rename FROM TO | delete PATH | rmdir PATH | symlink TARGET PATH
 *   chmod MODE PATH | stat PATH
 *   list DIR                     sr_transfer_list_each: one line per entry as it arrives,
 *                                "entry\tNAME\tSIZE\tTYPE\tMTIME\tPERMS\tLINK" (tabs
 *                                apart; SIZE and MTIME -1 when unknown, TYPE f, d or l,
 *                                PERMS octal or "-", LINK the target or empty), one
 *                                "bad\tLINE" per line not understood, then "ok list N
 *                                entries B bad"
 *   listall DIR                  sr_transfer_list (gathered, sorted): "ok listall N
 *                                entries", then "entry\tNAME\tSIZE\tDIR" lines
 *   putmany LOCALDIR REMOTEDIR   every regular file of LOCALDIR, sent (send) one by one
 *   getmany REMOTEDIR LOCALDIR N NAME_PREFIX  N files REMOTEDIR/NAME_PREFIX<i> downloaded
 *   getrange REMOTE LOCAL OFFSET LENGTH  sr_transfer_get of bytes OFFSET.. (LENGTH 0: to
 *                                the end) written at OFFSET in LOCAL (prints as get does)
 * options (before URL): --credentials FILE  --timeout S  --rate BYTES_PER_S
 *   --tls lax|normal|strict  --inflight VALUE  --identity METHOD,VALUE  --size N
 *   --resume  --mode OCTAL  --home DIR  --timezone ZONE (list: the dates of LIST and HTML)
 *   --no-digest   get computes no sha512 (prints "-"), to time the transfer alone
 *   --mtime S     send and download set this mtime (and atime), seconds since the epoch
 *   waitfile PATH   wait (up to 120 s) until the local PATH exists: a test changes the
 *                   server meanwhile (kills, restarts), then the next verb runs on the
 *                   same session
 * Prints one line per verb ("ok VERB ..." or "error VERB <code> retryable=<0|1>: <message>")
 * and exits 1 when any verb failed. Events from the layer go to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "credentials.h"
#include "identity.h"
#include "transfer.h"

typedef struct tool {
    sr_transfer *t;
    sr_transfer_plan plan;
    sr_identity identity;
    bool have_identity;
    bool no_digest;
    struct timespec mtime;
    const char *timezone;
    int failures;
} tool;

static void notify(void *ctx, enum sr_level level, const char *text)
{
    (void)ctx;
    fprintf(stderr, "[%s] %s\n", sr_level_name(level), text);
}

static void report(tool *tl, const char *verb, int rc, const sr_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(tool *tl, const char *verb, int rc, const sr_err *err, const char *fmt, ...)
{
    if (rc != SR_OK) {
        printf("error %s %s retryable=%d: %s\n", verb, sr_code_name(rc), err->retryable ? 1 : 0,
               err->msg);
        tl->failures++;
    } else {
        printf("ok %s", verb);
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
}

/* list: each entry as the layer hands it over (counts[0]: entries, counts[1]: bad lines) */
static int print_entry(void *ctx, const sr_listed *e, sr_err *err)
{
    (void)err;
    ((size_t *)ctx)[0]++;
    char perms[16] = "-";
    if (e->has_perms)
        snprintf(perms, sizeof perms, "%o", (unsigned)(e->mode & 07777));
    printf("entry\t%s\t%lld\t%c\t%lld\t%s\t%s\n", e->name, (long long)e->size,
           S_ISDIR(e->mode) ? 'd' : S_ISLNK(e->mode) ? 'l' : 'f',
           e->has_mtime ? (long long)e->mtime.tv_sec : -1LL, perms, e->link ? e->link : "");
    return SR_OK;
}

static void print_bad(void *ctx, const char *line)
{
    ((size_t *)ctx)[1]++;
    printf("bad\t%s\n", line);
}

static int need(int argc, int i, int n, const char *verb)
{
    if (i + n >= argc) {
        fprintf(stderr, "sr_transfer_tool: %s needs %d argument(s)\n", verb, n);
        exit(2);
    }
    return 1;
}

/* The folder of local path as a jail (made when missing), and its last name. */
static int local_jail(const char *path, sr_jail **j, const char **name, sr_err *err)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    *name = slash ? slash + 1 : path;
    return sr_jail_new(dir[0] ? dir : "/", 0755, false, j, err);
}

static int open_local(const char *path, int flags, int *fd, sr_err *err)
{
    *fd = open(path, flags | O_CLOEXEC, 0644);
    if (*fd < 0)
        return sr_err_set(err, SR_EIO, false, "cannot open %s: %s", path, strerror(errno));
    return SR_OK;
}

static int download_to(tool *tl, const char *remote, const char *local, sr_identity *got,
                       sr_transfer_result *res, sr_err *err)
{
    sr_jail *j;
    const char *name;
    int rc = local_jail(local, &j, &name, err);
    if (rc == SR_OK)
        rc = sr_transfer_download(tl->t, remote, j, name, &tl->plan, got, res, err);
    sr_jail_free(j);
    return rc;
}

static int send_from(tool *tl, const char *local, const char *remote, sr_transfer_result *res,
                     sr_err *err)
{
    int fd;
    int rc = open_local(local, O_RDONLY, &fd, err);
    if (rc == SR_OK) {
        rc = sr_transfer_send(tl->t, fd, remote, &tl->plan, res, err);
        close(fd);
    }
    return rc;
}

/* Run the verb at argv[i]; returns the index after its arguments. */
static int run(tool *tl, int argc, char **argv, int i)
{
    const char *verb = argv[i];
    sr_err err = {0};
    sr_transfer_result res = {0};
    int rc;
    if (strcmp(verb, "get") == 0 && need(argc, i, 2, verb)) {
        sr_digest *d = tl->no_digest ? NULL : sr_digest_new(SR_ID_SHA512, &err);
        int fd;
        rc = open_local(argv[i + 2], O_WRONLY | O_CREAT | O_TRUNC, &fd, &err);
        if (rc == SR_OK) {
            rc = sr_transfer_get(tl->t, argv[i + 1], fd, NULL, d, &res, &err);
            close(fd);
        }
        sr_identity id = {0};
        if (tl->no_digest)
            snprintf(id.value, sizeof id.value, "-");
        else if (rc == SR_OK)
            rc = sr_digest_final(d, &id, &err);
        sr_digest_free(d);
        report(tl, verb, rc, &err, " %lld bytes sha512 %s", (long long)res.bytes, id.value);
        return i + 3;
    }
    if (strcmp(verb, "getrange") == 0 && need(argc, i, 4, verb)) {
        sr_range range = {(off_t)atoll(argv[i + 3]), (off_t)atoll(argv[i + 4])};
        sr_digest *d = sr_digest_new(SR_ID_SHA512, &err);
        int fd;
        rc = open_local(argv[i + 2], O_WRONLY | O_CREAT, &fd, &err);
        if (rc == SR_OK) {
            rc = sr_transfer_get(tl->t, argv[i + 1], fd, &range, d, &res, &err);
            close(fd);
        }
        sr_identity id = {0};
        if (rc == SR_OK)
            rc = sr_digest_final(d, &id, &err);
        sr_digest_free(d);
        report(tl, verb, rc, &err, " %lld bytes sha512 %s", (long long)res.bytes, id.value);
        return i + 5;
    }
    if (strcmp(verb, "put") == 0 && need(argc, i, 2, verb)) {
        int fd;
        rc = open_local(argv[i + 1], O_RDONLY, &fd, &err);
        if (rc == SR_OK) {
            rc = sr_transfer_put(tl->t, fd, argv[i + 2], NULL, &res, &err);
            close(fd);
        }
        report(tl, verb, rc, &err, " %lld bytes", (long long)res.bytes);
        return i + 3;
    }
    if (strcmp(verb, "download") == 0 && need(argc, i, 2, verb)) {
        sr_identity got = {0};
        rc = download_to(tl, argv[i + 1], argv[i + 2], &got, &res, &err);
        report(tl, verb, rc, &err, " %lld bytes resumed=%d %s %s", (long long)res.bytes,
               res.resumed, sr_identity_method_name(got.method), got.value);
        return i + 3;
    }
    if (strcmp(verb, "send") == 0 && need(argc, i, 2, verb)) {
        rc = send_from(tl, argv[i + 1], argv[i + 2], &res, &err);
        report(tl, verb, rc, &err, " %lld bytes", (long long)res.bytes);
        return i + 3;
    }
    if (strcmp(verb, "mkdir") == 0 && need(argc, i, 1, verb)) {
        rc = sr_transfer_mkdir_p(tl->t, argv[i + 1], 0755, &err);
        report(tl, verb, rc, &err, " %s", argv[i + 1]);
        return i + 2;
    }
    if (strcmp(verb, "rename") == 0 && need(argc, i, 2, verb)) {
        rc = sr_transfer_rename(tl->t, argv[i + 1], argv[i + 2], &err);
        report(tl, verb, rc, &err, " %s", argv[i + 2]);
        return i + 3;
    }
    if ((strcmp(verb, "delete") == 0 || strcmp(verb, "rmdir") == 0) && need(argc, i, 1, verb)) {
        rc = sr_transfer_delete(tl->t, argv[i + 1], strcmp(verb, "rmdir") == 0, &err);
        report(tl, verb, rc, &err, " %s", argv[i + 1]);
        return i + 2;
    }
    if (strcmp(verb, "symlink") == 0 && need(argc, i, 2, verb)) {
        rc = sr_transfer_symlink(tl->t, argv[i + 1], argv[i + 2], &err);
        report(tl, verb, rc, &err, " %s", argv[i + 2]);
        return i + 3;
    }
    if (strcmp(verb, "chmod") == 0 && need(argc, i, 2, verb)) {
        rc = sr_transfer_chmod(tl->t, argv[i + 2], (mode_t)strtoul(argv[i + 1], NULL, 8), &err);
        report(tl, verb, rc, &err, " %s", argv[i + 2]);
        return i + 3;
    }
    if (strcmp(verb, "stat") == 0 && need(argc, i, 1, verb)) {
        sr_remote_stat st;
        rc = sr_transfer_stat(tl->t, argv[i + 1], &st, &err);
        report(tl, verb, rc, &err, " size=%lld mtime=%lld mode=%o dir=%d", (long long)st.size,
               (long long)st.mtime.tv_sec, (unsigned)(st.mode & 07777), st.is_dir);
        return i + 2;
    }
    if (strcmp(verb, "list") == 0 && need(argc, i, 1, verb)) {
        size_t counts[2] = {0, 0};
        sr_listing_options lo = {.timezone = tl->timezone};
        sr_listing_sink sink = {.entry = print_entry, .bad = print_bad, .ctx = counts};
        rc = sr_transfer_list_each(tl->t, argv[i + 1], &lo, &sink, &err);
        report(tl, verb, rc, &err, " %zu entries %zu bad", counts[0], counts[1]);
        return i + 2;
    }
    if (strcmp(verb, "listall") == 0 && need(argc, i, 1, verb)) {
        sr_remote_entry *e = NULL;
        size_t n = 0;
        rc = sr_transfer_list(tl->t, argv[i + 1], &e, &n, &err);
        report(tl, verb, rc, &err, " %zu entries", n);
        for (size_t k = 0; k < n; k++)
            printf("entry\t%s\t%lld\t%d\n", e[k].name, (long long)e[k].stat.size,
                   e[k].stat.is_dir);
        sr_remote_entries_free(e, n);
        return i + 2;
    }
    if (strcmp(verb, "putmany") == 0 && need(argc, i, 2, verb)) {
        DIR *d = opendir(argv[i + 1]);
        size_t sent = 0, failed = 0;
        long long bytes = 0;
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char local[4096], remote[4096];
            snprintf(local, sizeof local, "%s/%s", argv[i + 1], e->d_name);
            snprintf(remote, sizeof remote, "%s/%s", argv[i + 2], e->d_name);
            if (send_from(tl, local, remote, &res, &err) == SR_OK) {
                sent++;
                bytes += res.bytes;
            } else {
                failed++;
                printf("error send %s: %s\n", e->d_name, err.msg);
            }
        }
        if (d)
            closedir(d);
        rc = failed || d == NULL ? SR_EIO : SR_OK;
        if (d == NULL)
            sr_err_set(&err, SR_EIO, false, "cannot list %s", argv[i + 1]);
        report(tl, verb, rc, &err, " %zu files %lld bytes", sent, bytes);
        return i + 3;
    }
    if (strcmp(verb, "getmany") == 0 && need(argc, i, 4, verb)) {
        long n = atol(argv[i + 3]);
        size_t done = 0, failed = 0;
        long long bytes = 0;
        for (long k = 0; k < n; k++) {
            char local[4096], remote[4096];
            snprintf(remote, sizeof remote, "%s/%s%ld", argv[i + 1], argv[i + 4], k);
            snprintf(local, sizeof local, "%s/%s%ld", argv[i + 2], argv[i + 4], k);
            if (download_to(tl, remote, local, NULL, &res, &err) == SR_OK) {
                done++;
                bytes += res.bytes;
            } else {
                failed++;
                printf("error download %s: %s\n", remote, err.msg);
            }
        }
        rc = failed ? SR_EIO : SR_OK;
        report(tl, verb, rc, &err, " %zu files %lld bytes", done, bytes);
        return i + 5;
    }
    if (strcmp(verb, "waitfile") == 0 && need(argc, i, 1, verb)) {
        int waited = 0;
        while (access(argv[i + 1], F_OK) != 0 && waited++ < 1200)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
        rc = access(argv[i + 1], F_OK) == 0
                 ? SR_OK
                 : sr_err_set(&err, SR_ENOENT, false, "%s did not appear", argv[i + 1]);
        report(tl, verb, rc, &err, " %s", argv[i + 1]);
        return i + 2;
    }
    fprintf(stderr, "sr_transfer_tool: unknown verb %s\n", verb);
    exit(2);
}

int main(int argc, char **argv)
{
    sr_transfer_options o = {.notify = notify};
    tool tl = {0};
    tl.plan.size = -1;
    tl.plan.mode = -1;
    const char *credentials = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--resume") == 0) {
            tl.plan.resume = true;
            continue;
        }
        if (strcmp(a, "--no-digest") == 0) {
            tl.no_digest = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sr_transfer_tool: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        sr_err err;
        if (strcmp(a, "--credentials") == 0) {
            credentials = v;
        } else if (strcmp(a, "--timeout") == 0) {
            o.timeout = atof(v);
        } else if (strcmp(a, "--rate") == 0) {
            o.byte_rate_max = atof(v);
        } else if (strcmp(a, "--timezone") == 0) {
            tl.timezone = v;
        } else if (strcmp(a, "--home") == 0) {
            o.home = v;
        } else if (strcmp(a, "--tls") == 0) {
            o.tls = strcmp(v, "lax") == 0 ? SR_TLS_LAX : strcmp(v, "strict") == 0 ? SR_TLS_STRICT
                                                                                 : SR_TLS_NORMAL;
        } else if (strcmp(a, "--inflight") == 0) {
            if (sr_inflight_parse(v, &tl.plan.inflight, &err) != SR_OK) {
                fprintf(stderr, "sr_transfer_tool: %s\n", err.msg);
                return 2;
            }
        } else if (strcmp(a, "--identity") == 0) {
            const char *comma = strchr(v, ',');
            char method[32] = "";
            if (comma != NULL && (size_t)(comma - v) < sizeof method)
                memcpy(method, v, (size_t)(comma - v));
            if (comma == NULL || sr_identity_method_from_name(method, &tl.identity.method) != SR_OK) {
                fprintf(stderr, "sr_transfer_tool: --identity METHOD,VALUE\n");
                return 2;
            }
            snprintf(tl.identity.value, sizeof tl.identity.value, "%s", comma + 1);
            tl.plan.identity = &tl.identity;
        } else if (strcmp(a, "--size") == 0) {
            tl.plan.size = atoll(v);
        } else if (strcmp(a, "--mtime") == 0) {
            tl.mtime.tv_sec = (time_t)atoll(v);
            tl.plan.mtime = &tl.mtime;
        } else if (strcmp(a, "--mode") == 0) {
            tl.plan.mode = (int)strtol(v, NULL, 8);
        } else {
            fprintf(stderr, "sr_transfer_tool: unknown option %s\n", a);
            return 2;
        }
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: sr_transfer_tool [options] URL VERB ARGS... [; VERB ...]\n");
        return 2;
    }
    sr_err err;
    sr_credentials *creds = NULL;
    if (credentials != NULL && sr_credentials_load(credentials, &creds, &err) != SR_OK) {
        fprintf(stderr, "sr_transfer_tool: %s\n", err.msg);
        return 1;
    }
    o.credentials = creds;
    sr_transfer_pool *pool = sr_transfer_pool_new(&o, &err);
    if (pool == NULL || sr_transfer_pool_get(pool, argv[i], &tl.t, &err) != SR_OK) {
        printf("error open %s retryable=%d: %s\n", sr_code_name(err.code), err.retryable, err.msg);
        sr_transfer_pool_free(pool);
        sr_credentials_free(creds);
        return 1;
    }
    for (i++; i < argc;) {
        if (strcmp(argv[i], ";") == 0) {
            i++;
            continue;
        }
        i = run(&tl, argc, argv, i);
    }
    sr_transfer_pool_free(pool);
    sr_credentials_free(creds);
    return tl.failures ? 1 : 0;
}
