/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugin_exec: see plugin_exec.h (the protocol) and plugins_impl.h (the backend).
 *
 * One co-process per plugin instance, spoken to one request at a time. Invariants:
 *   - ep->pid > 0 exactly while a process runs that has passed the handshake (and, once
 *     the flow started, on_start); its three pipes are open then, and only then.
 *   - Every wait is bounded: a request by pluginTimeout, the end of a process by a grace,
 *     the reaping of a killed one by REAP_WAIT. Nothing here blocks forever.
 *   - A process that failed is killed with its group and reaped before the call returns:
 *     no zombie, no orphaned pipe. The messages of the request in flight come back as
 *     RETRY, so the flow queues them before it acks anything.
 *   - While a process writes to stdout or stderr sr keeps reading both, also while it
 *     still writes the request: a plugin that logs a lot cannot deadlock against sr.
 *   - A download's or send's bytes cross the pipes as base64 lines, between the plugin
 *     and sr's sink or source: the plugin never gets a path or a descriptor of sr's. A
 *     transfer sr stops half-way leaves the plugin out of step: it is killed.
 */
#include "plugin_exec.h"
#include "url.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "message.h"
#include "placement.h"
#include "plugins_impl.h"
#include "timefmt.h"

extern char **environ;

/* Longest reply line taken (a gather of many large messages fits); past it the plugin is
 * taken as speaking garbage. */
#define EXEC_REPLY_MAX (256u << 20)
/* Longest stderr line logged as one line; a longer one is logged in pieces. */
#define EXEC_ERR_LINE_MAX 8192
/* Pauses before a failed plugin is started again: the first, doubled at each failure in a
 * row, up to the last. */
#define EXEC_BACKOFF_FIRST 1.0
#define EXEC_BACKOFF_MAX 60.0
/* How long an ending process gets after its input is closed, then after SIGTERM. */
#define EXEC_GRACE 2.0
/* How long sr waits for a process killed with SIGKILL to be reaped (one stuck in the
 * kernel cannot be waited for forever: it is then left, and logged). */
#define REAP_WAIT 5.0
/* Bytes read from a pipe at a time. */
#define EXEC_READ_CHUNK 65536
/* The most bytes one data line of a download may carry, decoded (plugin_exec.h), and so
 * the longest line a download's reply may have: that in base64, with room for the id. */
#define EXEC_DATA_MAX (1u << 20)
#define EXEC_DATA_LINE_MAX ((EXEC_DATA_MAX + 2) / 3 * 4 + 4096)
/* The bytes of a send put in one data line (base64 makes them a third more). */
#define EXEC_SEND_CHUNK (256u << 10)

typedef struct exec_buf {
    char *data;
    size_t len, cap;
} exec_buf;

typedef struct exec_plugin {
    char *command; /* as the flowcb line gave it, for messages */
    char **argv;   /* split on blanks */
    double timeout;
    pid_t pid;   /* 0: not running */
    pid_t owner; /* the sr process that started it (getpid()) */
    int to_fd, from_fd, err_fd;
    exec_buf out;         /* read from its stdout, not yet taken as a reply */
    exec_buf errline;     /* a stderr line not yet ended */
    char last_words[256]; /* its last stderr line, for the error of a failed handshake */
    unsigned long long next_id;
    bool started;      /* on_start was sent (a restart sends it again) */
    double backoff;    /* the pause before the next start after a failure; 0: none yet */
    double restart_at; /* sr_time_mono_s() before which it is not started again */
} exec_plugin;

static const struct {
    const char *name;
    unsigned bit;
} hook_names[] = {
    {"on_start", SR_PLUGIN_HOOK_ON_START},
    {"on_stop", SR_PLUGIN_HOOK_ON_STOP},
    {"on_housekeeping", SR_PLUGIN_HOOK_ON_HOUSEKEEPING},
    {"after_accept", SR_PLUGIN_HOOK_AFTER_ACCEPT},
    {"after_work", SR_PLUGIN_HOOK_AFTER_WORK},
    {"after_post", SR_PLUGIN_HOOK_AFTER_POST},
    {"gather", SR_PLUGIN_HOOK_GATHER},
    {"poll", SR_PLUGIN_HOOK_POLL},
    {"destfn", SR_PLUGIN_HOOK_DESTFN},
    {"metrics_report", SR_PLUGIN_HOOK_METRICS_REPORT},
    {"download", SR_PLUGIN_HOOK_DOWNLOAD},
    {"send", SR_PLUGIN_HOOK_SEND},
};

/* ---- small helpers ---- */

static void plog(sr_plugin_instance *pi, enum sr_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plog(sr_plugin_instance *pi, enum sr_level level, const char *fmt, ...)
{
    if (pi->env == NULL || pi->env->log == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    sr_log_vwrite(pi->env->log, level, fmt, ap);
    va_end(ap);
}

static int buf_reserve(exec_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

/* Drop the first n bytes. */
static void buf_consume(exec_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* COMMAND split on blanks (no shell: no quotes, no variables), NULL-terminated. */
static char **split_command(const char *command)
{
    size_t words = 0;
    for (const char *p = command; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        words++;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    char **argv = calloc(words + 1, sizeof *argv);
    if (argv == NULL)
        return NULL;
    size_t i = 0;
    for (const char *p = command; *p && i < words;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        argv[i] = strndup(start, (size_t)(p - start));
        if (argv[i++] == NULL) {
            free_strv(argv);
            return NULL;
        }
    }
    return argv;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- stderr: to the log, a line at a time ---- */

static void err_line(sr_plugin_instance *pi, exec_plugin *ep, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    size_t keep = len < sizeof ep->last_words - 1 ? len : sizeof ep->last_words - 1;
    if (len > 0) {
        memcpy(ep->last_words, line, keep);
        ep->last_words[keep] = '\0';
    }
    plog(pi, SR_LOG_INFO, "plugin \"%s\": %.*s", pi->name, (int)len, line);
}

/* Read what the plugin wrote to stderr (without waiting) and log each whole line; at its
 * end (eof), the unfinished line too. */
static void drain_stderr(sr_plugin_instance *pi, exec_plugin *ep)
{
    while (ep->err_fd >= 0) {
        char chunk[4096];
        ssize_t n = read(ep->err_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            close_fd(&ep->err_fd);
            break;
        }
        if (buf_reserve(&ep->errline, (size_t)n) != 0)
            break; /* out of memory: these bytes are not logged */
        memcpy(ep->errline.data + ep->errline.len, chunk, (size_t)n);
        ep->errline.len += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < ep->errline.len; i++) {
            if (ep->errline.data[i] == '\n' || i - start >= EXEC_ERR_LINE_MAX) {
                err_line(pi, ep, ep->errline.data + start, i - start);
                start = ep->errline.data[i] == '\n' ? i + 1 : i;
            }
        }
        buf_consume(&ep->errline, start);
    }
    if (ep->err_fd < 0 && ep->errline.len > 0) {
        err_line(pi, ep, ep->errline.data, ep->errline.len);
        ep->errline.len = 0;
    }
}

/* ---- the process ---- */

/* A descriptor of at least 3, close-on-exec: the child's 0, 1 and 2 are dup2'ed from
 * these, which must not be 0..2 themselves (a daemon may have closed its own). */
static int high_fd(int fd)
{
    if (fd >= 3)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fds[0] = high_fd(fds[0]);
    fds[1] = high_fd(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        close_fd(&fds[0]);
        close_fd(&fds[1]);
        return -1;
    }
    return 0;
}

/* Start argv as the leader of its own process group (so a kill reaches what it starts),
 * its stdin, stdout and stderr our pipes, none of sr's other descriptors, and signals at
 * their defaults (sr ignores SIGPIPE, which a child should not inherit). */
static int spawn(exec_plugin *ep, sr_err *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (make_pipe(in) != 0 || make_pipe(out) != 0 || make_pipe(errp) != 0) {
        int saved = errno;
        close_fd(&in[0]), close_fd(&in[1]), close_fd(&out[0]), close_fd(&out[1]);
        close_fd(&errp[0]), close_fd(&errp[1]);
        return sr_err_set(err, SR_EIO, true, "cannot start: pipe: %s", strerror(saved));
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc == 0 && (rc = posix_spawnattr_init(&attr)) != 0)
        posix_spawn_file_actions_destroy(&actions);
    if (rc == 0) {
        rc = posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&actions, errp[1], STDERR_FILENO);
        if (rc == 0)
            rc = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
        if (rc == 0)
            rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETSIGDEF);
        if (rc == 0)
            rc = posix_spawnattr_setpgroup(&attr, 0);
        if (rc == 0)
            rc = posix_spawnattr_setsigmask(&attr, &none);
        if (rc == 0)
            rc = posix_spawnattr_setsigdefault(&attr, &all);
        pid_t pid = 0;
        if (rc == 0)
            rc = posix_spawnp(&pid, ep->argv[0], &actions, &attr, ep->argv, environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&actions);
        if (rc == 0) {
            ep->pid = pid;
            ep->owner = getpid();
        }
    }
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&errp[1]);
    if (rc != 0) {
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&errp[0]);
        return sr_err_set(err, SR_EIO, true, "cannot start %s: %s", ep->argv[0], strerror(rc));
    }
    ep->to_fd = in[1];
    ep->from_fd = out[0];
    ep->err_fd = errp[0];
    fcntl(ep->to_fd, F_SETFL, fcntl(ep->to_fd, F_GETFL) | O_NONBLOCK);
    fcntl(ep->from_fd, F_SETFL, fcntl(ep->from_fd, F_GETFL) | O_NONBLOCK);
    fcntl(ep->err_fd, F_SETFL, fcntl(ep->err_fd, F_GETFL) | O_NONBLOCK);
    ep->out.len = 0;
    ep->errline.len = 0;
    ep->last_words[0] = '\0';
    ep->next_id = 1;
    return SR_OK;
}

/* Wait up to seconds for the process to end, logging its stderr meanwhile. true when it
 * has ended: it is then a zombie, not reaped yet (reap() does), so its process group
 * cannot be a new one by the same number while sr signals it. */
static bool wait_exit(sr_plugin_instance *pi, exec_plugin *ep, double seconds)
{
    double deadline = sr_time_mono_s() + seconds;
    for (;;) {
        siginfo_t info;
        info.si_pid = 0;
        int rc = waitid(P_PID, (id_t)ep->pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if (rc == 0 && info.si_pid == ep->pid)
            return true;
        if (rc < 0 && errno != EINTR)
            return errno == ECHILD; /* reaped by someone else (a SIGCHLD handler): gone */
        double left = deadline - sr_time_mono_s();
        if (left <= 0)
            return false;
        /* woken by its stderr or, at most 10 ms later, to look at it again */
        struct pollfd p = {.fd = ep->err_fd, .events = POLLIN};
        if (poll(&p, ep->err_fd >= 0 ? 1 : 0, left < 0.01 ? (int)(left * 1000) + 1 : 10) > 0)
            drain_stderr(pi, ep);
    }
}

static void describe_status(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "ended");
}

/* The process has ended: kill what is left of its group (what it started and left
 * running), reap it, close our pipes, log the rest of its stderr, forget it. *status:
 * how it ended (0 when unknown). */
static void reap(sr_plugin_instance *pi, exec_plugin *ep, int *status)
{
    kill(-ep->pid, SIGKILL);
    *status = 0;
    while (waitpid(ep->pid, status, 0) < 0 && errno == EINTR)
        ;
    close_fd(&ep->to_fd);
    close_fd(&ep->from_fd);
    drain_stderr(pi, ep); /* what a dead process wrote is still in the pipe */
    close_fd(&ep->err_fd);
    if (ep->errline.len > 0) {
        err_line(pi, ep, ep->errline.data, ep->errline.len);
        ep->errline.len = 0;
    }
    ep->pid = 0;
}

/* Kill the process and its group (SIGKILL) and reap it. */
static void kill_process(sr_plugin_instance *pi, exec_plugin *ep)
{
    if (ep->pid <= 0)
        return;
    kill(-ep->pid, SIGKILL);
    int status;
    if (!wait_exit(pi, ep, REAP_WAIT)) {
        /* stuck in the kernel: never waited for forever; our pipes are closed all the same */
        plog(pi, SR_LOG_ERROR, "plugin \"%s\": process %d killed but not gone after %.0f s",
             pi->name, (int)ep->pid, REAP_WAIT);
        close_fd(&ep->to_fd);
        close_fd(&ep->from_fd);
        close_fd(&ep->err_fd);
        ep->pid = 0;
        return;
    }
    reap(pi, ep, &status);
}

/* End a process politely: input closed, then SIGTERM, then SIGKILL, each after a grace. */
static void end_process(sr_plugin_instance *pi, exec_plugin *ep, double grace)
{
    if (ep->pid <= 0)
        return;
    close_fd(&ep->to_fd);
    int status;
    if (wait_exit(pi, ep, grace)) {
        reap(pi, ep, &status);
        return;
    }
    kill(-ep->pid, SIGTERM);
    if (wait_exit(pi, ep, grace)) {
        plog(pi, SR_LOG_WARNING, "plugin \"%s\": did not end when its input closed: terminated",
             pi->name);
        reap(pi, ep, &status);
        return;
    }
    plog(pi, SR_LOG_WARNING, "plugin \"%s\": did not end on SIGTERM either: killed", pi->name);
    kill_process(pi, ep);
}

/* After a read of eof or a write refused: why the process went away, when it did. */
static void why_gone(sr_plugin_instance *pi, exec_plugin *ep, const char *what, char *buf,
                     size_t size)
{
    /* Its output closes as it exits: give the kernel a moment to make it a zombie. */
    if (wait_exit(pi, ep, 0.5)) {
        int status;
        reap(pi, ep, &status);
        describe_status(status, buf, size);
        return;
    }
    snprintf(buf, size, "%s", what);
}

/* ---- one request and its reply ---- */

/* Write as much of buf as the pipe takes now. SIGPIPE is blocked around the write: sr's
 * components ignore it, but a tool that checks a config need not, and a plugin that died
 * must cost an error, not the process. */
static ssize_t write_some(int fd, const char *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n;
    do
        n = write(fd, buf, len);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

/* One conversation with the plugin: sr writes a request (and, for a send, the lines that
 * follow it) while it reads the plugin's lines, stdout and stderr both, until the plugin
 * has answered and sr has written everything. */
typedef struct exec_io {
    const char *what; /* "request 7", for errors */
    const char *out;  /* the bytes being written */
    size_t out_len, written;
    /* The next bytes to write once out is written (*len 0: everything is). NULL: out is
     * all there is. An error stops the conversation and is returned as it is. */
    int (*more)(void *ctx, const char **out, size_t *len, sr_err *err);
    /* A line from the plugin, o taken; *answered once it is the answer (after which no
     * other line may come). all_written: sr has written everything. An error stops. */
    int (*line)(void *ctx, json_t *o, bool all_written, bool *answered, sr_err *err);
    /* Optional, before line: a line taken as it is (*taken), without parsing it whole. */
    int (*raw)(void *ctx, const char *line, size_t len, bool *taken, sr_err *err);
    void *ctx;
    size_t line_max; /* the longest line taken */
    bool early;      /* a line may come before sr has written everything (a send) */
    bool rolling;    /* pluginTimeout runs from the last line read or byte written (a
                      * transfer), not from the request */
} exec_io;

/* Converse as io says, within its deadline, reading stdout and stderr all along. An error
 * says what went wrong, without the plugin's name (the caller adds it). */
static int converse(sr_plugin_instance *pi, exec_plugin *ep, exec_io *io, sr_err *err)
{
    double deadline = sr_time_mono_s() + ep->timeout;
    size_t scanned = 0;
    bool all_written = false, answered = false;
    for (;;) {
        while (!all_written && io->written == io->out_len) {
            if (io->more == NULL) {
                all_written = true;
                break;
            }
            io->written = io->out_len = 0;
            int rc = io->more(io->ctx, &io->out, &io->out_len, err);
            if (rc != SR_OK)
                return rc;
            all_written = io->out_len == 0;
            if (io->rolling) /* reading the file may take its time (byteRateMax) */
                deadline = sr_time_mono_s() + ep->timeout;
        }
        if (answered && all_written) {
            if (ep->out.len > 0)
                return sr_err_set(err, SR_EPROTO, true, "wrote more than one line in answer to %s",
                                  io->what);
            return SR_OK;
        }
        char *nl = ep->out.len > scanned
                       ? memchr(ep->out.data + scanned, '\n', ep->out.len - scanned)
                       : NULL;
        if (nl != NULL) {
            size_t line = (size_t)(nl - ep->out.data);
            size_t start = strspn(ep->out.data, " \t\r");
            if (start >= line) { /* a blank line: nothing said */
                buf_consume(&ep->out, line + 1);
                scanned = 0;
                continue;
            }
            if (answered)
                return sr_err_set(err, SR_EPROTO, true, "wrote more than one line in answer to %s",
                                  io->what);
            if (!all_written && !io->early)
                return sr_err_set(err, SR_EPROTO, true, "answered %s before reading all of it",
                                  io->what);
            if (line > io->line_max)
                return sr_err_set(err, SR_EPROTO, true,
                                  "answered %s with a line of %zu bytes, longer than %zu", io->what,
                                  line, io->line_max);
            bool taken = false;
            if (io->raw != NULL) {
                int rc = io->raw(io->ctx, ep->out.data, line, &taken, err);
                if (rc != SR_OK)
                    return rc;
            }
            if (taken) {
                buf_consume(&ep->out, line + 1);
                scanned = 0;
                if (io->rolling)
                    deadline = sr_time_mono_s() + ep->timeout;
                continue;
            }
            json_error_t jerr;
            json_t *o = json_loadb(ep->out.data, line, JSON_REJECT_DUPLICATES, &jerr);
            if (o == NULL || !json_is_object(o)) {
                char q[SR_QUOTE_BUF];
                sr_err_quote_n(ep->out.data, line, q, sizeof q);
                json_decref(o);
                return sr_err_set(err, SR_EPROTO, true, "answered %s with %s, not a JSON object",
                                  io->what, q);
            }
            buf_consume(&ep->out, line + 1);
            scanned = 0;
            int rc = io->line(io->ctx, o, all_written, &answered, err);
            if (rc != SR_OK)
                return rc;
            if (io->rolling)
                deadline = sr_time_mono_s() + ep->timeout;
            continue;
        }
        scanned = ep->out.len;
        double left = deadline - sr_time_mono_s();
        if (left <= 0) {
            if (io->more != NULL && !all_written)
                return sr_err_set(err, SR_EPROTO, true,
                                  "stopped reading %s for pluginTimeout (%g s)", io->what,
                                  ep->timeout);
            return sr_err_set(err, SR_EPROTO, true, "did not answer %s within pluginTimeout (%g s)",
                              io->what, ep->timeout);
        }
        struct pollfd p[3] = {{.fd = ep->from_fd, .events = POLLIN},
                              {.fd = ep->err_fd, .events = POLLIN},
                              {.fd = all_written ? -1 : ep->to_fd, .events = POLLOUT}};
        int ms = (int)ceil(left * 1000);
        int ready = poll(p, 3, ms);
        if (ready < 0 && errno != EINTR)
            return sr_err_set(err, SR_EIO, true, "poll: %s", strerror(errno));
        if (ready <= 0)
            continue;
        if (p[1].revents)
            drain_stderr(pi, ep);
        if (p[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
            ssize_t n = write_some(ep->to_fd, io->out + io->written, io->out_len - io->written);
            if (n < 0 && errno != EAGAIN) {
                char why[128];
                why_gone(pi, ep, "closed its input", why, sizeof why);
                return sr_err_set(err, SR_EPROTO, true, "%s before reading %s", why, io->what);
            }
            if (n > 0) {
                io->written += (size_t)n;
                if (io->rolling)
                    deadline = sr_time_mono_s() + ep->timeout;
            }
        }
        if (p[0].revents) {
            if (ep->out.len >= io->line_max)
                return sr_err_set(err, SR_EPROTO, true,
                                  "answered %s with a line longer than %zu bytes", io->what,
                                  io->line_max);
            if (buf_reserve(&ep->out, EXEC_READ_CHUNK) != 0)
                return sr_err_set(err, SR_ENOMEM, true, "out of memory");
            ssize_t n = read(ep->from_fd, ep->out.data + ep->out.len, EXEC_READ_CHUNK);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                char why[128];
                why_gone(pi, ep, "closed its output", why, sizeof why);
                return sr_err_set(err, SR_EPROTO, true, "%s before answering %s", why, io->what);
            }
            ep->out.len += (size_t)n;
        }
    }
}

/* The one line of a plain request's reply. */
static int one_reply(void *ctx, json_t *o, bool all_written, bool *answered, sr_err *err)
{
    (void)all_written;
    (void)err;
    *(json_t **)ctx = o;
    *answered = true;
    return SR_OK;
}

/* Send req (len bytes, its newline included) and read the one line that answers it,
 * within the timeout. *reply: the parsed object. */
static int exchange(sr_plugin_instance *pi, exec_plugin *ep, const char *req, size_t len,
                    const char *what, json_t **reply, sr_err *err)
{
    *reply = NULL;
    exec_io io = {.what = what,
                  .out = req,
                  .out_len = len,
                  .line = one_reply,
                  .ctx = reply,
                  .line_max = EXEC_REPLY_MAX};
    int rc = converse(pi, ep, &io, err);
    if (rc != SR_OK) {
        json_decref(*reply);
        *reply = NULL;
    }
    return rc;
}

/* ---- failure and restart ---- */

/* The plugin failed (err says how): kill it, log it once, and plan its restart. */
static void failed(sr_plugin_instance *pi, exec_plugin *ep, const sr_err *why)
{
    bool running = ep->pid > 0;
    kill_process(pi, ep);
    ep->backoff = ep->backoff <= 0 ? EXEC_BACKOFF_FIRST : fmin(ep->backoff * 2, EXEC_BACKOFF_MAX);
    ep->restart_at = sr_time_mono_s() + ep->backoff;
    plog(pi, SR_LOG_ERROR, "plugin \"%s\": %s; %s, started again in %g s at the earliest", pi->name,
         why->msg, running ? "killed" : "gone", ep->backoff);
}

/* The options of the hello: every option set (from the table, its default included), as
 * text values, one per line given, and the lines naming options sr does not know. */
static json_t *hello_options(const sr_config *cfg)
{
    json_t *o = json_object();
    if (o == NULL || cfg == NULL)
        return o;
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        const sr_option *opt = sr_option_get(id);
        const sr_value *v = sr_config_value(cfg, id);
        if (!v->set || sr_type_is_line(opt->type) || opt->type >= SR_T_MASK)
            continue;
        json_t *a = json_array();
        if (opt->type == SR_T_LIST) {
            for (size_t i = 0; a && i < v->list.count; i++)
                json_array_append_new(a, json_string(v->list.items[i]));
        } else if (a != NULL && v->text != NULL && opt->type == SR_T_URL) {
            /* a password written in a URL stays with sr: the plugin sees what sr show
             * prints (credentials.conf holds passwords, as sr3 advises) */
            char *shown = sr_url_redacted(v->text);
            json_array_append_new(a, json_string(shown ? shown : ""));
            free(shown);
        } else if (a != NULL && v->text != NULL) {
            json_array_append_new(a, json_string(v->text));
        }
        json_object_set_new(o, opt->name, a);
    }
    /* the lines sr does not know: the plugin's own options, before it declares them */
    const char *name;
    const sr_strlist *values;
    for (size_t i = 0; sr_config_extra_at(cfg, i, &name, &values); i++) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < values->count; k++)
            json_array_append_new(a, json_string(values->items[k]));
        json_object_set_new(o, name, a);
    }
    return o;
}

/* o (its reference taken) as one line with its newline: *line (new) of *len bytes. */
static int dump_line(json_t *o, char **line, size_t *len, sr_err *err)
{
    *line = NULL;
    if (o == NULL)
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    /* One buffer for the line and its newline: the dump's size is asked first. */
    size_t size = json_dumpb(o, NULL, 0, JSON_COMPACT);
    char *buf = size ? malloc(size + 1) : NULL;
    if (buf == NULL) {
        json_decref(o);
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    }
    json_dumpb(o, buf, size, JSON_COMPACT);
    json_decref(o);
    buf[size] = '\n';
    *line = buf;
    *len = size + 1;
    return SR_OK;
}

/* Write a line holding o (its reference taken) and read the reply. */
static int send_json(sr_plugin_instance *pi, exec_plugin *ep, json_t *o, unsigned long long id,
                     json_t **reply, sr_err *err)
{
    *reply = NULL;
    char *buf;
    size_t len;
    if (dump_line(o, &buf, &len, err) != SR_OK)
        return err->code;
    char what[48] = "the handshake";
    if (id > 0)
        snprintf(what, sizeof what, "request %llu", id);
    int rc = exchange(pi, ep, buf, len, what, reply, err);
    free(buf);
    return rc;
}

static bool valid_option_name(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

/* A URL scheme as RFC 3986 spells one (a letter, then letters, digits, '+', '-', '.'),
 * of a sane length. */
static bool valid_scheme(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") == n;
}

/* The "schemes" of a plugin that downloads or sends: a list of at least one scheme. */
static int read_schemes(const json_t *v, char ***schemes, sr_err *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return sr_err_set(err, SR_EINVAL, false,
                          "handshake: it downloads or sends but \"schemes\" is not a list of "
                          "the URL schemes it handles");
    char **list = calloc(json_array_size(v) + 1, sizeof *list);
    if (list == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char q[SR_QUOTE_BUF];
        if (!json_is_string(e) || !valid_scheme(json_string_value(e))) {
            free_strv(list);
            return sr_err_set(err, SR_EINVAL, false, "handshake: scheme %s is not a URL scheme",
                              json_is_string(e) ? sr_err_quote(json_string_value(e), q, sizeof q)
                                                : "(not a string)");
        }
        if ((list[i] = strdup(json_string_value(e))) == NULL) {
            free_strv(list);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
    }
    *schemes = list;
    return SR_OK;
}

/* Check the handshake's reply; fill *hooks, *options, *schemes and *name (new). */
static int read_hello(const json_t *r, unsigned *hooks, char ***options, char ***schemes,
                      char **name, sr_err *err)
{
    json_t *version = json_object_get(r, "sr_exec");
    if (!json_is_integer(version))
        return sr_err_set(err, SR_EINVAL, false,
                          "handshake: the reply has no \"sr_exec\" version number");
    if (json_integer_value(version) != SR_EXEC_PROTOCOL_VERSION)
        return sr_err_set(err, SR_EINVAL, false,
                          "handshake: it speaks protocol version %lld, sr speaks %d",
                          (long long)json_integer_value(version), SR_EXEC_PROTOCOL_VERSION);
    json_t *n = json_object_get(r, "name");
    if (!json_is_string(n) || json_string_length(n) == 0)
        return sr_err_set(err, SR_EINVAL, false, "handshake: \"name\" is not a non-empty string");
    json_t *h = json_object_get(r, "hooks");
    if (!json_is_array(h))
        return sr_err_set(err, SR_EINVAL, false, "handshake: \"hooks\" is not a list");
    *hooks = 0;
    size_t i;
    json_t *v;
    json_array_foreach(h, i, v)
    {
        char q[SR_QUOTE_BUF];
        if (!json_is_string(v))
            return sr_err_set(err, SR_EINVAL, false, "handshake: a hook that is not a string");
        const char *s = json_string_value(v);
        size_t k = 0;
        while (k < sizeof hook_names / sizeof hook_names[0] && strcmp(hook_names[k].name, s))
            k++;
        if (k == sizeof hook_names / sizeof hook_names[0])
            return sr_err_set(err, SR_EINVAL, false, "handshake: unknown hook %s",
                              sr_err_quote(s, q, sizeof q));
        *hooks |= hook_names[k].bit;
    }
    char **sch = NULL;
    if (*hooks & (SR_PLUGIN_HOOK_DOWNLOAD | SR_PLUGIN_HOOK_SEND)) {
        if (read_schemes(json_object_get(r, "schemes"), &sch, err) != SR_OK)
            return err->code;
    } else if ((sch = calloc(1, sizeof *sch)) == NULL) {
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    json_t *opts = json_object_get(r, "options");
    if (opts != NULL && !json_is_array(opts)) {
        free_strv(sch);
        return sr_err_set(err, SR_EINVAL, false, "handshake: \"options\" is not a list");
    }
    char **list = calloc(json_array_size(opts) + 1, sizeof *list);
    if (list == NULL) {
        free_strv(sch);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    json_array_foreach(opts, i, v)
    {
        char q[SR_QUOTE_BUF];
        if (!json_is_string(v) || !valid_option_name(json_string_value(v))) {
            free_strv(list);
            free_strv(sch);
            return sr_err_set(err, SR_EINVAL, false, "handshake: option %s is not a name",
                              json_is_string(v) ? sr_err_quote(json_string_value(v), q, sizeof q)
                                                : "(not a string)");
        }
        if ((list[i] = strdup(json_string_value(v))) == NULL) {
            free_strv(list);
            free_strv(sch);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
    }
    if ((*name = strdup(json_string_value(n))) == NULL) {
        free_strv(list);
        free_strv(sch);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    *options = list;
    *schemes = sch;
    return SR_OK;
}

/* Are two NULL-terminated lists the same? */
static bool same_strv(char *const *a, char *const *b)
{
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return (a == NULL || a[i] == NULL) && (b == NULL || b[i] == NULL);
}

/* Is this reply {"id": N, "error": "why"}? Then err says why, and true. */
static bool error_reply(const json_t *r, const char *hook, sr_err *err)
{
    json_t *e = json_object_get(r, "error");
    if (e == NULL)
        return false;
    char q[SR_QUOTE_BUF * 4];
    const char *why = json_is_string(e) ? json_string_value(e) : "(no reason given)";
    sr_log_escape(why, strlen(why), q, sizeof q, NULL);
    sr_err_set(err, SR_EINVAL, true, "%s failed: %s", hook, q);
    return true;
}

/* A request with the next id and its hook: the caller adds the rest. */
static json_t *request(exec_plugin *ep, const char *hook)
{
    return json_pack("{s:I, s:s}", "id", (json_int_t)ep->next_id++, "hook", hook);
}

static unsigned long long id_of(const json_t *req)
{
    return (unsigned long long)json_integer_value(json_object_get(req, "id"));
}

/* Send o (a request: taken) and read a reply with its id. */
static int call(sr_plugin_instance *pi, exec_plugin *ep, json_t *o, json_t **reply, sr_err *err)
{
    unsigned long long id = id_of(o);
    int rc = send_json(pi, ep, o, id, reply, err);
    if (rc == SR_OK) {
        json_t *rid = json_object_get(*reply, "id");
        if (!json_is_integer(rid) || (unsigned long long)json_integer_value(rid) != id) {
            char got[32] = "none";
            if (json_is_integer(rid))
                snprintf(got, sizeof got, "%lld", (long long)json_integer_value(rid));
            json_decref(*reply);
            *reply = NULL;
            rc = sr_err_set(err, SR_EPROTO, true, "answered request %llu with id %s", id, got);
        }
    }
    return rc;
}

/* Start the process and shake hands; on a restart (first false) also check it declares
 * what it declared at first and send on_start again. On failure the process is gone. */
static int start_process(sr_plugin_instance *pi, exec_plugin *ep, bool first, sr_err *err)
{
    int rc = spawn(ep, err);
    if (rc != SR_OK)
        return rc;
    const sr_config *cfg = pi->cfg;
    const char *state = pi->env && pi->env->state_dir ? pi->env->state_dir : NULL;
    json_t *hello = json_pack(
        "{s:i, s:s, s:s, s:i, s:o, s:o}", "sr_exec", SR_EXEC_PROTOCOL_VERSION, "component",
        cfg ? sr_component_name(sr_config_component(cfg)) : "", "config",
        cfg ? sr_config_name(cfg) : "", "instance", pi->env ? pi->env->instance : 0, "state_dir",
        state ? json_string(state) : json_null(), "options", hello_options(cfg));
    json_t *reply = NULL;
    rc = send_json(pi, ep, hello, 0, &reply, err);
    unsigned hooks = 0;
    char **options = NULL, **schemes = NULL, *name = NULL;
    if (rc == SR_OK)
        rc = read_hello(reply, &hooks, &options, &schemes, &name, err);
    json_decref(reply);
    if (rc == SR_OK && !first && (hooks != pi->hooks || !same_strv(schemes, pi->schemes)))
        rc = sr_err_set(err, SR_EINVAL, false,
                        "handshake: it declares other hooks or schemes than when it was first "
                        "started (restart the component to change them)");
    if (rc == SR_OK && first) {
        free_strv(pi->options);
        pi->options = options;
        options = NULL;
        free_strv(pi->schemes);
        pi->schemes = schemes;
        schemes = NULL;
        pi->hooks = hooks;
        free(pi->short_name);
        pi->short_name = name;
        name = NULL;
    }
    free_strv(options);
    free_strv(schemes);
    free(name);
    if (rc != SR_OK) {
        kill_process(pi, ep);
        if (ep->last_words[0] != '\0') {
            char q[SR_QUOTE_BUF * 2];
            sr_log_escape(ep->last_words, strlen(ep->last_words), q, sizeof q, NULL);
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof err->msg - used, " (its last words: %s)", q);
        }
        return rc;
    }
    if (!first && ep->started && (pi->hooks & SR_PLUGIN_HOOK_ON_START)) {
        rc = call(pi, ep, request(ep, "on_start"), &reply, err);
        if (rc == SR_OK && error_reply(reply, "on_start", err))
            rc = SR_EINVAL;
        json_decref(reply);
        if (rc != SR_OK)
            kill_process(pi, ep);
    }
    return rc;
}

/* A process started by the sr process this one was forked from (plugins loaded before
 * the instance forked) is not ours to talk to, signal or wait for: let go of its pipes,
 * and start one of our own at once. */
static void disown_inherited(exec_plugin *ep)
{
    if (ep->pid <= 0 || ep->owner == getpid())
        return;
    close_fd(&ep->to_fd);
    close_fd(&ep->from_fd);
    close_fd(&ep->err_fd);
    ep->out.len = 0;
    ep->errline.len = 0;
    ep->pid = 0;
    ep->restart_at = 0;
}

/* Make sure a process runs before a call: start it again when it failed and its pause
 * is over. SR_OK, or an error saying why it is not there (and the caller sends what it
 * held to the retry queue). Errors here and below do not name the plugin: the reason
 * kept with a message does not (plugins.c names who decided), the public calls add it. */
static int ensure_running(sr_plugin_instance *pi, exec_plugin *ep, sr_err *err)
{
    disown_inherited(ep);
    if (ep->pid > 0)
        return SR_OK;
    double wait = ep->restart_at - sr_time_mono_s();
    if (wait > 0)
        return sr_err_set(err, SR_EIO, true, "failed before and is started again in %.1f s", wait);
    int rc = start_process(pi, ep, false, err);
    if (rc != SR_OK) {
        /* start_process killed it already; failed() plans the next try */
        failed(pi, ep, err);
        return rc;
    }
    plog(pi, SR_LOG_WARNING, "plugin \"%s\": started again (process %d)", pi->name, (int)ep->pid);
    return SR_OK;
}

/* One simple request (a hook with no data): the reply, or an error after which the
 * plugin was killed (a protocol failure) or was not there. */
static int simple_call(sr_plugin_instance *pi, exec_plugin *ep, json_t *req, json_t **reply,
                       sr_err *err)
{
    int rc = call(pi, ep, req, reply, err);
    if (rc != SR_OK)
        failed(pi, ep, err);
    else
        ep->backoff = 0; /* it answers: the next failure starts the pauses over */
    return rc;
}

/* ---- messages to and from JSON ---- */

static const char *const dest_fields[] = {"new_dir", "new_file", "new_relPath", "new_baseUrl"};

/* MSG: the message as v03 JSON, with its destination when placed. */
static json_t *msg_json(const sr_message *m, const sr_placement *p)
{
    sr_encoded e;
    sr_err err;
    if (sr_message_encode(m, SR_FORMAT_V03, &e, &err) != SR_OK)
        return NULL;
    json_t *o = json_loadb(e.body, e.body_len, 0, NULL);
    sr_encoded_fini(&e);
    for (size_t i = 0; o != NULL && p != NULL && i < 4; i++) {
        json_t *v = sr_plugin_field_get(m, p, dest_fields[i]);
        if (v != NULL)
            json_object_set_new(o, dest_fields[i], v);
    }
    return o;
}

static sr_placement *placement_of(sr_work *w)
{
    return w->placed ? &w->placement : NULL;
}

/* A message a plugin made (gather, poll): the three required fields, pubTime now when
 * absent, then every other field through the one check. NULL and err naming the field. */
static sr_message *message_from(const json_t *o, sr_err *err)
{
    if (!json_is_object(o)) {
        sr_err_set(err, SR_EINVAL, false, "not a JSON object");
        return NULL;
    }
    const char *base = json_string_value(json_object_get(o, "baseUrl"));
    const char *rel = json_string_value(json_object_get(o, "relPath"));
    json_t *pt = json_object_get(o, "pubTime");
    if (base == NULL || rel == NULL) {
        sr_err_set(err, SR_EINVAL, false, "field %s: absent or not a string",
                   base == NULL ? "baseUrl" : "relPath");
        return NULL;
    }
    if (pt != NULL && !json_is_string(pt)) {
        sr_err_set(err, SR_EINVAL, false, "field pubTime: not a string");
        return NULL;
    }
    char now[SR_TIME_MAX] = "";
    if (pt == NULL) {
        struct timespec t;
        sr_time_now(&t);
        sr_time_format(&t, true, now, sizeof now);
    }
    sr_message *m = NULL;
    if (sr_message_new(pt ? json_string_value(pt) : now, base, rel, &m, err) != SR_OK)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (!strcmp(key, "baseUrl") || !strcmp(key, "relPath") || !strcmp(key, "pubTime"))
            continue;
        if (sr_plugin_field_set(m, NULL, key, json_is_null(v) ? NULL : v, err) != SR_OK) {
            sr_message_free(m);
            return NULL;
        }
    }
    return m;
}

/* ---- the backend ---- */

static exec_plugin *ep_of(sr_plugin_instance *pi)
{
    return pi->backend;
}

/* rc, with err naming the plugin: what a public call returns. */
static int named(sr_plugin_instance *pi, int rc, sr_err *err)
{
    if (rc != SR_OK)
        sr_err_prefix(err, "plugin \"%s\"", pi->name);
    return rc;
}

static int exec_start(sr_plugin_instance *pi, sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    int rc = ensure_running(pi, ep, err);
    if (rc != SR_OK)
        return named(pi, rc, err);
    if (pi->hooks & SR_PLUGIN_HOOK_ON_START) {
        json_t *reply = NULL;
        rc = simple_call(pi, ep, request(ep, "on_start"), &reply, err);
        if (rc == SR_OK && error_reply(reply, "on_start", err))
            rc = SR_EINVAL;
        json_decref(reply);
        if (rc != SR_OK)
            return named(pi, rc, err);
    }
    ep->started = true;
    pi->started = true;
    return SR_OK;
}

/* on_stop, then the end of the process: it gets pluginTimeout to answer, then a grace to
 * exit once its input is closed, then SIGTERM, then SIGKILL. */
static void exec_stop(sr_plugin_instance *pi)
{
    exec_plugin *ep = ep_of(pi);
    disown_inherited(ep);
    if (ep->pid > 0 && (pi->hooks & SR_PLUGIN_HOOK_ON_STOP)) {
        json_t *reply = NULL;
        sr_err err;
        int rc = call(pi, ep, request(ep, "on_stop"), &reply, &err);
        if (rc != SR_OK)
            plog(pi, SR_LOG_ERROR, "plugin \"%s\": %s", pi->name, err.msg);
        else if (error_reply(reply, "on_stop", &err))
            plog(pi, SR_LOG_WARNING, "plugin \"%s\": %s", pi->name, err.msg);
        json_decref(reply);
    }
    ep->started = false;
    pi->started = false;
    end_process(pi, ep, fmin(EXEC_GRACE, ep->timeout));
}

static void exec_housekeeping(sr_plugin_instance *pi)
{
    exec_plugin *ep = ep_of(pi);
    sr_err err;
    if (ensure_running(pi, ep, &err) != SR_OK) {
        drain_stderr(pi, ep);
        return;
    }
    if (!(pi->hooks & SR_PLUGIN_HOOK_ON_HOUSEKEEPING)) {
        drain_stderr(pi, ep);
        return;
    }
    json_t *reply = NULL;
    if (simple_call(pi, ep, request(ep, "on_housekeeping"), &reply, &err) == SR_OK &&
        error_reply(reply, "on_housekeeping", &err))
        plog(pi, SR_LOG_WARNING, "plugin \"%s\": %s", pi->name, err.msg);
    json_decref(reply);
}

static void set_verdict(sr_plugin_item *it, enum sr_plugin_verdict v, const char *why)
{
    it->verdict = v;
    free(it->why);
    it->why = why ? strdup(why) : NULL;
}

static const char *const verdict_names[] = {"keep", "reject", "retry"};

/* Check a batch reply whole before anything of it is applied: a results list as long as
 * the request, each a verdict the protocol knows. */
static int check_results(const json_t *results, size_t n, sr_err *err)
{
    if (!json_is_array(results))
        return sr_err_set(err, SR_EPROTO, true, "answered without a \"results\" list");
    if (json_array_size(results) != n)
        return sr_err_set(err, SR_EPROTO, true, "answered %zu results to %zu messages",
                          json_array_size(results), n);
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        if (!json_is_object(r))
            return sr_err_set(err, SR_EPROTO, true, "result %zu is not a JSON object", i);
        const char *v = json_string_value(json_object_get(r, "verdict"));
        size_t k = 0;
        while (v != NULL && k < 3 && strcmp(v, verdict_names[k]))
            k++;
        if (v == NULL || k == 3)
            return sr_err_set(err, SR_EPROTO, true,
                              "result %zu: \"verdict\" is not keep, reject or retry", i);
        json_t *why = json_object_get(r, "why");
        if (why != NULL && !json_is_string(why) && !json_is_null(why))
            return sr_err_set(err, SR_EPROTO, true, "result %zu: \"why\" is not a string", i);
        json_t *set = json_object_get(r, "set");
        if (set != NULL && !json_is_object(set) && !json_is_null(set))
            return sr_err_set(err, SR_EPROTO, true, "result %zu: \"set\" is not an object", i);
    }
    return SR_OK;
}

/* Apply one result to its item. A "set" refused (a relPath with "..", a new_dir out of
 * the root, a malformed field) rejects that message alone, with the reason: keeping it
 * unchanged would carry on a message the plugin meant to change, retrying it would only
 * be refused again, and its batch neighbours are answered on their own. */
static void apply_result(sr_plugin_item *it, const json_t *r)
{
    const char *v = json_string_value(json_object_get(r, "verdict"));
    const char *why = json_string_value(json_object_get(r, "why"));
    char reason[SR_ERR_MSG_MAX + 32];
    if (strcmp(v, "reject") == 0) {
        set_verdict(it, SR_PLUGIN_REJECT, why ? why : "rejected");
        return;
    }
    json_t *set = json_object_get(r, "set");
    const char *field;
    json_t *value;
    if (json_is_object(set)) {
        json_object_foreach(set, field, value)
        {
            sr_err err;
            if (it->placed_already && strncmp(field, "new_", 4) == 0) {
                snprintf(reason, sizeof reason,
                         "set refused: field %s: the file is written or sent already (set it "
                         "in after_accept)",
                         field);
                set_verdict(it, SR_PLUGIN_REJECT, reason);
                return;
            }
            if (sr_plugin_field_set(it->w->msg, placement_of(it->w), field,
                                    json_is_null(value) ? NULL : value, &err) != SR_OK) {
                snprintf(reason, sizeof reason, "set refused: %s", err.msg);
                set_verdict(it, SR_PLUGIN_REJECT, reason);
                return;
            }
        }
    }
    if (strcmp(v, "retry") == 0)
        set_verdict(it, SR_PLUGIN_RETRY, why ? why : "to retry");
}

/* after_accept, after_work and after_post: the KEEP items of the batch in one request. */
static void batch(sr_plugin_instance *pi, const char *hook, sr_plugin_item *items, size_t n,
                  bool outcomes, bool results)
{
    exec_plugin *ep = ep_of(pi);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    size_t count = 0;
    sr_err err;
    if (idx == NULL) {
        sr_err_set(&err, SR_ENOMEM, true, "out of memory");
        goto retry_all;
    }
    for (size_t i = 0; i < n; i++)
        if (items[i].verdict == SR_PLUGIN_KEEP && items[i].w && items[i].w->msg)
            idx[count++] = i;
    if (count == 0) {
        free(idx);
        return;
    }
    if (ensure_running(pi, ep, &err) != SR_OK)
        goto retry_all;
    json_t *req = request(ep, hook);
    unsigned long long id = id_of(req);
    json_t *msgs = json_array();
    json_t *outs = outcomes ? json_array() : NULL;
    if (req == NULL || msgs == NULL || (outcomes && outs == NULL)) {
        json_decref(req), json_decref(msgs), json_decref(outs);
        sr_err_set(&err, SR_ENOMEM, true, "out of memory");
        goto retry_all;
    }
    for (size_t k = 0; k < count; k++) {
        sr_work *w = items[idx[k]].w;
        json_t *mj = msg_json(w->msg, placement_of(w));
        if (mj == NULL || json_array_append_new(msgs, mj) != 0 ||
            (outs && json_array_append_new(outs, json_string(items[idx[k]].outcome == SR_PLUGIN_DONE
                                                                 ? "done"
                                                                 : "failed")) != 0)) {
            json_decref(req), json_decref(msgs), json_decref(outs);
            sr_err_set(&err, SR_ENOMEM, true, "out of memory");
            goto retry_all;
        }
    }
    json_object_set_new(req, "messages", msgs);
    if (outs)
        json_object_set_new(req, "outcomes", outs);
    json_t *reply = NULL;
    if (call(pi, ep, req, &reply, &err) != SR_OK) {
        failed(pi, ep, &err);
        goto retry_all;
    }
    if (error_reply(reply, hook, &err)) {
        /* The plugin is well and says it could not do this batch: retried later. */
        json_decref(reply);
        plog(pi, SR_LOG_WARNING, "plugin \"%s\": %s", pi->name, err.msg);
        goto retry_all;
    }
    if (results) {
        json_t *res = json_object_get(reply, "results");
        if (check_results(res, count, &err) != SR_OK) {
            json_decref(reply);
            sr_err_prefix(&err, "%s request %llu", hook, id);
            failed(pi, ep, &err);
            goto retry_all;
        }
        for (size_t k = 0; k < count; k++)
            apply_result(&items[idx[k]], json_array_get(res, k));
    }
    ep->backoff = 0;
    json_decref(reply);
    free(idx);
    return;

retry_all:
    for (size_t k = 0; idx != NULL && k < count; k++)
        set_verdict(&items[idx[k]], SR_PLUGIN_RETRY, err.msg);
    if (idx == NULL)
        for (size_t i = 0; i < n; i++)
            if (items[i].verdict == SR_PLUGIN_KEEP)
                set_verdict(&items[i], SR_PLUGIN_RETRY, err.msg);
    free(idx);
}

static void exec_after_accept(sr_plugin_instance *pi, sr_plugin_item *items, size_t n)
{
    batch(pi, "after_accept", items, n, false, true);
}

static void exec_after_work(sr_plugin_instance *pi, sr_plugin_item *items, size_t n)
{
    batch(pi, "after_work", items, n, true, true);
}

static void exec_after_post(sr_plugin_instance *pi, sr_plugin_item *items, size_t n)
{
    batch(pi, "after_post", items, n, false, false);
}

/* gather and poll: the messages of the reply, each checked; a bad one is logged and
 * dropped, the others kept. */
static int collect(sr_plugin_instance *pi, const char *hook, json_t *req, size_t max,
                   sr_message ***msgs, size_t *count, sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    json_t *reply = NULL;
    unsigned long long id = id_of(req);
    int rc = simple_call(pi, ep, req, &reply, err);
    if (rc != SR_OK)
        return named(pi, rc, err);
    if (error_reply(reply, hook, err)) {
        json_decref(reply);
        return named(pi, SR_EINVAL, err);
    }
    json_t *list = json_object_get(reply, "messages");
    if (!json_is_array(list) || json_array_size(list) > max) {
        if (!json_is_array(list))
            sr_err_set(err, SR_EPROTO, true,
                       "%s request %llu: answered without a \"messages\" list", hook, id);
        else
            sr_err_set(err, SR_EPROTO, true,
                       "%s request %llu: answered %zu messages, more than %zu", hook, id,
                       json_array_size(list), max);
        json_decref(reply);
        failed(pi, ep, err);
        return named(pi, SR_EPROTO, err);
    }
    size_t n = json_array_size(list);
    sr_message **grown = realloc(*msgs, (*count + n + 1) * sizeof *grown);
    if (grown == NULL) {
        json_decref(reply);
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    }
    *msgs = grown;
    for (size_t i = 0; i < n; i++) {
        sr_err merr;
        sr_message *m = message_from(json_array_get(list, i), &merr);
        if (m == NULL) {
            plog(pi, SR_LOG_ERROR, "plugin \"%s\": %s: message %zu dropped: %s", pi->name, hook, i,
                 merr.msg);
            continue;
        }
        grown[(*count)++] = m;
    }
    json_decref(reply);
    return SR_OK;
}

static int exec_gather(sr_plugin_instance *pi, size_t max, sr_message ***msgs, size_t *count,
                       sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    if (ensure_running(pi, ep, err) != SR_OK)
        return SR_OK; /* while it is down, nothing is gathered (its error is logged) */
    json_t *req = request(ep, "gather");
    if (req != NULL)
        json_object_set_new(req, "max", json_integer((json_int_t)max));
    return collect(pi, "gather", req, max, msgs, count, err);
}

static int exec_poll(sr_plugin_instance *pi, sr_message ***msgs, size_t *count, sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    if (ensure_running(pi, ep, err) != SR_OK)
        return SR_OK;
    return collect(pi, "poll", request(ep, "poll"), (size_t)-1, msgs, count, err);
}

static int exec_destfn(sr_plugin_instance *pi, const sr_message *m, char **name, sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    *name = NULL;
    int rc = ensure_running(pi, ep, err);
    if (rc != SR_OK)
        return named(pi, rc, err);
    json_t *req = request(ep, "destfn");
    unsigned long long id = id_of(req);
    json_t *mj = msg_json(m, NULL);
    if (req == NULL || mj == NULL) {
        json_decref(req), json_decref(mj);
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    }
    json_object_set_new(req, "message", mj);
    json_t *reply = NULL;
    rc = simple_call(pi, ep, req, &reply, err);
    if (rc != SR_OK)
        return named(pi, rc, err);
    if (error_reply(reply, "destfn", err)) {
        json_decref(reply);
        return named(pi, SR_EINVAL, err);
    }
    json_t *n = json_object_get(reply, "name");
    if (n != NULL && !json_is_null(n) && !json_is_string(n)) {
        json_decref(reply);
        sr_err_set(err, SR_EPROTO, true, "destfn request %llu: \"name\" is not a string or null",
                   id);
        failed(pi, ep, err);
        return named(pi, SR_EPROTO, err);
    }
    if (json_is_string(n) && (*name = strdup(json_string_value(n))) == NULL)
        rc = sr_err_set(err, SR_ENOMEM, true, "out of memory");
    json_decref(reply);
    return rc;
}

/* ---- download and send: bytes as base64 in data lines ---- */

/* s (len chars) is strict base64: whole groups of four, the alphabet only, '=' only as
 * the last one or two. EVP_DecodeBlock alone would take "A===" or trailing blanks. */
static bool strict_base64(const char *s, size_t len)
{
    if (len % 4 != 0)
        return false;
    size_t pad = len >= 1 && s[len - 1] == '=' ? len >= 2 && s[len - 2] == '=' ? 2 : 1 : 0;
    for (size_t i = 0; i < len - pad; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* The id of a line of a transfer's reply, checked. */
static int check_id(const json_t *o, unsigned long long id, const char *what, sr_err *err)
{
    json_t *rid = json_object_get(o, "id");
    if (json_is_integer(rid) && (unsigned long long)json_integer_value(rid) == id)
        return SR_OK;
    char got[32] = "none";
    if (json_is_integer(rid))
        snprintf(got, sizeof got, "%lld", (long long)json_integer_value(rid));
    return sr_err_set(err, SR_EPROTO, true, "answered %s with id %s", what, got);
}

typedef struct download_ctx {
    unsigned long long id;
    const char *what;
    int (*write)(void *ctx, const void *buf, size_t n, sr_err *err);
    void *write_ctx;
    unsigned char *bytes; /* EXEC_DATA_MAX + 3: a data line decoded */
    int sink_rc;          /* write's refusal, when it refused */
    sr_err sink_err;
    json_t *last; /* the line that ends the reply: {"id": N} or an error */
} download_ctx;

/* The bytes of a data line (b64, len chars, which live in o): decoded and handed to
 * write. o is the line (taken), checked for its id. */
static int download_bytes(download_ctx *c, json_t *o, const char *b64, size_t len, sr_err *err)
{
    int rc = check_id(o, c->id, c->what, err);
    if (rc == SR_OK && json_object_get(o, "error") != NULL)
        rc = sr_err_set(err, SR_EPROTO, true, "answered %s with both data and an error", c->what);
    else if (rc == SR_OK && len > (EXEC_DATA_MAX + 2) / 3 * 4)
        rc = sr_err_set(err, SR_EPROTO, true, "answered %s with a data line of more than %u bytes",
                        c->what, EXEC_DATA_MAX);
    else if (rc == SR_OK && !strict_base64(b64, len))
        rc = sr_err_set(err, SR_EPROTO, true, "answered %s with a data line that is not base64",
                        c->what);
    if (rc == SR_OK && len > 0) {
        int n = EVP_DecodeBlock(c->bytes, (const unsigned char *)b64, (int)len);
        /* it counts the padding as bytes of zero: they are not the file's */
        size_t got = n < 0 ? 0 : (size_t)n - (b64[len - 1] == '=') - (b64[len - 2] == '=');
        if (n < 0)
            rc = sr_err_set(err, SR_EPROTO, true, "answered %s with a data line that is not base64",
                            c->what);
        else if (got > EXEC_DATA_MAX) /* the base64 bound lets up to 2 bytes more by */
            rc = sr_err_set(err, SR_EPROTO, true,
                            "answered %s with a data line of more than %u bytes", c->what,
                            EXEC_DATA_MAX);
        else if ((rc = c->write(c->write_ctx, c->bytes, got, &c->sink_err)) != SR_OK)
            c->sink_rc = rc; /* sr refuses the bytes: the caller says so, unchanged */
    }
    json_decref(o);
    return rc;
}

/* A line of a download's reply, parsed: data handed to write at once, or the end. */
static int download_line(void *ctx, json_t *o, bool all_written, bool *answered, sr_err *err)
{
    (void)all_written;
    download_ctx *c = ctx;
    json_t *data = json_object_get(o, "data");
    if (data == NULL) {
        if (check_id(o, c->id, c->what, err) != SR_OK) {
            json_decref(o);
            return err->code;
        }
        c->last = o;
        *answered = true;
        return SR_OK;
    }
    if (!json_is_string(data)) {
        json_decref(o);
        return sr_err_set(err, SR_EPROTO, true, "answered %s with a \"data\" that is not a string",
                          c->what);
    }
    return download_bytes(c, o, json_string_value(data), json_string_length(data), err);
}

/* The end of the string that starts at s[i] (a quote): the index past its closing quote,
 * or 0 when the line ends first. *escaped: it holds a backslash. */
static size_t skip_string(const char *s, size_t len, size_t i, bool *escaped)
{
    *escaped = false;
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            *escaped = true, i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    return i;
}

/* Where the value of "data" lies in a line, found without parsing its megabyte (jansson
 * would take most of a download's time on it): the line is walked at its top level, and
 * when it is one flat object (no value an object or a list) with one key "data" whose
 * value is a string without escapes, [*from, *to) are that value's characters. false: not
 * that shape, and the line is parsed whole. */
static bool find_data(const char *s, size_t len, size_t *from, size_t *to)
{
    bool found = false, escaped;
    size_t i = skip_blanks(s, len, 0);
    if (i >= len || s[i] != '{')
        return false;
    for (i++;;) {
        i = skip_blanks(s, len, i);
        if (i >= len || s[i] != '"')
            return false;
        size_t key = i;
        if ((i = skip_string(s, len, i, &escaped)) == 0)
            return false;
        bool is_data = i - key == 6 && memcmp(s + key, "\"data\"", 6) == 0;
        i = skip_blanks(s, len, i);
        if (i >= len || s[i] != ':')
            return false;
        i = skip_blanks(s, len, i + 1);
        if (i >= len || s[i] == '{' || s[i] == '[')
            return false;
        if (s[i] == '"') {
            size_t value = i;
            if ((i = skip_string(s, len, i, &escaped)) == 0 || (is_data && (escaped || found)))
                return false;
            if (is_data) {
                found = true;
                *from = value + 1;
                *to = i - 1;
            }
        } else {
            while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\t')
                i++;
        }
        i = skip_blanks(s, len, i);
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '}')
            break;
        return false;
    }
    return found && skip_blanks(s, len, i + 1) == len;
}

/* A data line taken as it is: the rest of it (its "data" emptied) parsed by jansson,
 * which checks it as for any line; the base64 read in place. A line of another shape is
 * left to download_line. */
static int download_raw(void *ctx, const char *line, size_t len, bool *taken, sr_err *err)
{
    download_ctx *c = ctx;
    size_t from = 0, to = 0;
    *taken = false;
    if (!find_data(line, len, &from, &to))
        return SR_OK;
    char *rest = malloc(len - (to - from));
    if (rest == NULL)
        return SR_OK; /* parsed whole, then */
    memcpy(rest, line, from);
    memcpy(rest + from, line + to, len - to);
    json_t *o = json_loadb(rest, len - (to - from), JSON_REJECT_DUPLICATES, NULL);
    free(rest);
    json_t *data = json_object_get(o, "data");
    if (!json_is_object(o) || !json_is_string(data) || json_string_length(data) != 0) {
        json_decref(o);
        return SR_OK;
    }
    *taken = true;
    return download_bytes(c, o, line + from, to - from, err);
}

/* sr stopped a transfer half-way (its sink refused the bytes, its source failed): the
 * plugin is out of step, and is killed; the fault is not known to be its own, so it is
 * started again at its next call, without a pause. */
static void out_of_step(sr_plugin_instance *pi, exec_plugin *ep, const char *what,
                        const sr_err *why)
{
    kill_process(pi, ep);
    ep->restart_at = 0;
    plog(pi, SR_LOG_WARNING,
         "plugin \"%s\": %s stopped half-way (%s); killed, as it is out of step, and started "
         "again at its next call",
         pi->name, what, why->msg);
}

/* The end of a transfer's request: SR_OK, or an error naming the plugin and the file
 * (what: "download of URL"). A protocol failure (rc) has killed the plugin; an error line
 * is the plugin's word: it is well, and the file is retried. */
static int transfer_end(sr_plugin_instance *pi, exec_plugin *ep, int rc, const json_t *last,
                        const char *what, sr_err *err)
{
    if (rc != SR_OK) {
        failed(pi, ep, err);
        sr_err_prefix(err, "%s", what);
    } else if (!error_reply(last, what, err)) {
        ep->backoff = 0;
        return SR_OK;
    }
    err->code = SR_EIO; /* not SR_EPROTO: to transfer.c that means "cannot resume" */
    err->retryable = true;
    return named(pi, SR_EIO, err);
}

/* The first line of a download or send request: the hook, the message and key (the url
 * or the remote path) set to value; the request's id and its name for messages in *id and
 * what. */
static int transfer_request(sr_plugin_instance *pi, exec_plugin *ep, const char *hook,
                            const sr_message *m, const char *key, const char *value,
                            unsigned long long *id, char *what, size_t what_size, char **line,
                            size_t *len, sr_err *err)
{
    int rc = ensure_running(pi, ep, err);
    if (rc != SR_OK)
        return named(pi, rc, err);
    json_t *req = request(ep, hook);
    *id = id_of(req);
    json_t *mj = msg_json(m, NULL);
    if (req == NULL || mj == NULL || json_object_set_new(req, "message", mj) != 0 ||
        json_object_set_new(req, key, json_string(value)) != 0) {
        json_decref(req);
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    }
    snprintf(what, what_size, "request %llu", *id);
    return dump_line(req, line, len, err);
}

static int exec_download(sr_plugin_instance *pi, const sr_message *m, const char *url,
                         int (*write)(void *ctx, const void *buf, size_t n, sr_err *err), void *ctx,
                         sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    int rc;
    unsigned long long id;
    char what[48];
    char *line;
    size_t len;
    if (transfer_request(pi, ep, "download", m, "url", url, &id, what, sizeof what, &line, &len,
                         err) != SR_OK)
        return err->code;
    download_ctx c = {.id = id, .what = what, .write = write, .write_ctx = ctx, .sink_rc = SR_OK};
    c.bytes = malloc(EXEC_DATA_MAX + 3);
    if (c.bytes == NULL) {
        free(line);
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    }
    exec_io io = {.what = what,
                  .out = line,
                  .out_len = len,
                  .line = download_line,
                  .raw = download_raw,
                  .ctx = &c,
                  .line_max = EXEC_DATA_LINE_MAX,
                  .rolling = true};
    rc = converse(pi, ep, &io, err);
    free(line);
    free(c.bytes);
    if (c.sink_rc != SR_OK) {
        *err = c.sink_err;
        out_of_step(pi, ep, "download", err);
        return c.sink_rc;
    }
    char target[512];
    snprintf(target, sizeof target, "download of %s", url);
    rc = transfer_end(pi, ep, rc, c.last, target, err);
    json_decref(c.last);
    return rc;
}

typedef struct send_ctx {
    unsigned long long id;
    const char *what;
    long (*read)(void *ctx, void *buf, size_t n, sr_err *err);
    void *read_ctx;
    unsigned char *bytes; /* EXEC_SEND_CHUNK read */
    char *line;           /* a data line of them */
    char end[64];         /* the end line */
    bool ended;           /* the end line was given */
    bool source_failed;
    sr_err source_err;
    json_t *reply;
} send_ctx;

/* The next line of a send: the file's next bytes, or the end line once they are all
 * given or the plugin has answered early (it then skips what it is sent up to the end). */
static int send_more(void *ctx, const char **out, size_t *len, sr_err *err)
{
    send_ctx *c = ctx;
    *len = 0;
    if (c->ended)
        return SR_OK;
    long n = 0;
    if (c->reply == NULL) {
        n = c->read(c->read_ctx, c->bytes, EXEC_SEND_CHUNK, &c->source_err);
        if (n < 0) {
            c->source_failed = true;
            *err = c->source_err;
            return err->code != SR_OK ? err->code : SR_EIO;
        }
    }
    if (n == 0) {
        int k = snprintf(c->end, sizeof c->end, "{\"id\":%llu,\"end\":true}\n", c->id);
        *out = c->end;
        *len = (size_t)k;
        c->ended = true;
        return SR_OK;
    }
    /* base64 needs no JSON escape: the line is written as it is */
    int k = snprintf(c->line, 64, "{\"id\":%llu,\"data\":\"", c->id);
    int b = EVP_EncodeBlock((unsigned char *)c->line + k, c->bytes, (int)n);
    memcpy(c->line + k + b, "\"}\n", 3);
    *out = c->line;
    *len = (size_t)k + (size_t)b + 3;
    return SR_OK;
}

/* The plugin's answer to a send: an error may come early (it stopped reading the file's
 * bytes); done only after the end line. */
static int send_line(void *ctx, json_t *o, bool all_written, bool *answered, sr_err *err)
{
    send_ctx *c = ctx;
    if (check_id(o, c->id, c->what, err) != SR_OK) {
        json_decref(o);
        return err->code;
    }
    if (!all_written && json_object_get(o, "error") == NULL) {
        json_decref(o);
        return sr_err_set(err, SR_EPROTO, true, "answered %s before reading all of it", c->what);
    }
    c->reply = o;
    *answered = true;
    return SR_OK;
}

static int exec_send(sr_plugin_instance *pi, const sr_message *m, const char *remote_path,
                     long (*read)(void *ctx, void *buf, size_t n, sr_err *err), void *ctx,
                     sr_err *err)
{
    exec_plugin *ep = ep_of(pi);
    int rc;
    unsigned long long id;
    char what[48];
    char *line;
    size_t len;
    if (transfer_request(pi, ep, "send", m, "remote_path", remote_path, &id, what, sizeof what,
                         &line, &len, err) != SR_OK)
        return err->code;
    send_ctx c = {.id = id, .what = what, .read = read, .read_ctx = ctx};
    c.bytes = malloc(EXEC_SEND_CHUNK);
    c.line = malloc(64 + (EXEC_SEND_CHUNK + 2) / 3 * 4 + 4);
    if (c.bytes == NULL || c.line == NULL) {
        free(c.bytes);
        free(c.line);
        free(line);
        return sr_err_set(err, SR_ENOMEM, true, "out of memory");
    }
    exec_io io = {.what = what,
                  .out = line,
                  .out_len = len,
                  .more = send_more,
                  .line = send_line,
                  .ctx = &c,
                  .line_max = EXEC_REPLY_MAX,
                  .early = true,
                  .rolling = true};
    rc = converse(pi, ep, &io, err);
    free(line);
    free(c.bytes);
    free(c.line);
    if (c.source_failed) {
        *err = c.source_err;
        out_of_step(pi, ep, "send", err);
        json_decref(c.reply);
        return c.source_err.code != SR_OK ? c.source_err.code : SR_EIO;
    }
    char target[512];
    snprintf(target, sizeof target, "send to %s", remote_path);
    rc = transfer_end(pi, ep, rc, c.reply, target, err);
    json_decref(c.reply);
    return rc;
}

static void exec_metrics_report(sr_plugin_instance *pi, json_t *obj)
{
    exec_plugin *ep = ep_of(pi);
    sr_err err;
    if (ensure_running(pi, ep, &err) != SR_OK)
        return;
    json_t *reply = NULL;
    if (simple_call(pi, ep, request(ep, "metrics_report"), &reply, &err) != SR_OK)
        return;
    if (error_reply(reply, "metrics_report", &err)) {
        plog(pi, SR_LOG_WARNING, "plugin \"%s\": %s", pi->name, err.msg);
    } else {
        json_t *figures = json_object_get(reply, "metrics");
        const char *key = NULL;
        json_t *v = NULL;
        if (figures != NULL && !json_is_object(figures))
            plog(pi, SR_LOG_WARNING, "plugin \"%s\": metrics_report: \"metrics\" is not an object",
                 pi->name);
        else
            json_object_foreach(figures, key, v)
            {
                if (json_is_number(v))
                    json_object_set(obj, key, v); /* an integer stays one */
                else
                    plog(pi, SR_LOG_WARNING,
                         "plugin \"%s\": metrics_report: %s is not a number: left out", pi->name,
                         key);
            }
    }
    json_decref(reply);
}

static void exec_destroy(sr_plugin_instance *pi)
{
    exec_plugin *ep = ep_of(pi);
    if (ep == NULL)
        return;
    /* Not stopped (a check loads and frees): end it without on_stop. */
    disown_inherited(ep);
    end_process(pi, ep, fmin(EXEC_GRACE, ep->timeout));
    free(ep->out.data);
    free(ep->errline.data);
    free_strv(ep->argv);
    free(ep->command);
    free(ep);
    pi->backend = NULL;
}

static const sr_plugin_backend_ops exec_ops = {
    .start = exec_start,
    .stop = exec_stop,
    .housekeeping = exec_housekeeping,
    .after_accept = exec_after_accept,
    .after_work = exec_after_work,
    .after_post = exec_after_post,
    .gather = exec_gather,
    .poll = exec_poll,
    .destfn = exec_destfn,
    .download = exec_download,
    .send = exec_send,
    .metrics_report = exec_metrics_report,
    .destroy = exec_destroy,
};

int sr_plugin_exec_load(sr_plugin_instance *pi, const char *command, sr_err *err)
{
    exec_plugin *ep = calloc(1, sizeof *ep);
    if (ep == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    ep->to_fd = ep->from_fd = ep->err_fd = -1;
    ep->command = strdup(command);
    ep->argv = split_command(command);
    if (ep->command == NULL || ep->argv == NULL) {
        free(ep->command);
        free_strv(ep->argv);
        free(ep);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (ep->argv[0] == NULL) {
        free(ep->command);
        free_strv(ep->argv);
        free(ep);
        return sr_err_set(err, SR_EINVAL, false, "plugin \"%s\": exec: no command", pi->name);
    }
    ep->timeout = pi->cfg ? sr_config_seconds(pi->cfg, SR_OPT_pluginTimeout) : 0;
    if (ep->timeout <= 0)
        ep->timeout = 30;
    pi->backend = ep;
    pi->ops = &exec_ops;
    int rc = start_process(pi, ep, true, err);
    if (rc != SR_OK) {
        named(pi, rc, err);
        err->retryable = false; /* the component does not start: the config must change */
        if (err->code == SR_EPROTO)
            err->code = SR_EINVAL;
        exec_destroy(pi);
        pi->ops = NULL;
        return rc == SR_EPROTO ? SR_EINVAL : rc;
    }
    return SR_OK;
}
