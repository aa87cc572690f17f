/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * trigger: see trigger.h.
 */
#include "trigger.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *fileop_word(const sr_message *m)
{
    sr_fileop op;
    if (!sr_message_fileop(m, &op))
        return "";
    if (op.rename)
        return "rename";
    if (op.link)
        return "link";
    if (op.remove)
        return op.directory ? "rmdir" : "remove";
    if (op.directory)
        return "mkdir";
    return "";
}

/* The process environment plus the SR_* variables (those replace any inherited). */
static char **environment(const sr_message *m, const sr_trigger_context *ctx, char **extra)
{
    sr_identity id;
    long long size;
    char sizebuf[32] = "";
    if (sr_message_size(m, &size))
        snprintf(sizebuf, sizeof sizebuf, "%lld", size);
    bool has_id = sr_message_identity(m, &id);
    const char *names[] = {"SR_RELPATH", "SR_BASEURL", "SR_LOCALPATH", "SR_IDENTITY", "SR_SIZE",
                           "SR_PUBTIME", "SR_FILEOP",  "SR_COMPONENT", "SR_CONFIG"};
    const char *values[] = {sr_message_rel_path(m),
                            sr_message_base_url(m),
                            ctx->local_path ? ctx->local_path : "",
                            NULL,
                            sizebuf,
                            sr_message_pub_time(m),
                            fileop_word(m),
                            ctx->component ? ctx->component : "",
                            ctx->config ? ctx->config : ""};
    size_t n = sizeof names / sizeof names[0];
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + n + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "SR_", 3) != 0)
            env[k++] = environ[i];
    for (size_t i = 0; i < n; i++) {
        int r = i == 3 ? asprintf(&extra[i], "%s=%s%s%s", names[i],
                                  has_id ? sr_identity_method_name(id.method) : "",
                                  has_id ? "," : "", has_id ? id.value : "")
                       : asprintf(&extra[i], "%s=%s", names[i], values[i] ? values[i] : "");
        if (r < 0)
            extra[i] = NULL;
        else
            env[k++] = extra[i];
    }
    env[k] = NULL;
    return env;
}

/* How long a killed trigger's shell may take to be reaped: SIGKILL is not waited for by
 * a process in an uninterruptible sleep (a hung NFS read), and sr must not hang with it. */
#define REAP_TIMEOUT 5.0
/* Longest line of output logged whole; a longer one is logged in pieces of this size. */
#define OUTPUT_LINE_MAX 1024
/* Output read after the shell exited, at most: a descendant that goes on writing must not
 * keep sr reading. */
#define OUTPUT_DRAIN_MAX (64 * 1024)

static double since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- the command's output, a log line per line ---- */

typedef struct output {
    int fd; /* the pipe's read end, or -1 (none, or closed at its end) */
    sr_log *log;
    const char *rel_path;
    char line[OUTPUT_LINE_MAX];
    size_t len;
} output;

static void output_flush(output *o)
{
    if (o->len > 0)
        sr_log_write(o->log, SR_LOG_INFO, "%s: trigger: %.*s", o->rel_path, (int)o->len, o->line);
    o->len = 0;
}

/* What one read(2) gave: complete lines are logged (a NUL byte ends a line too, as it
 * ends the text a log line is made from), the rest kept for the next. */
static void output_take(output *o, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || buf[i] == '\0') {
            output_flush(o);
            continue;
        }
        o->line[o->len++] = buf[i];
        if (o->len == sizeof o->line)
            output_flush(o);
    }
}

/* Read what the pipe holds now; false at its end (every writer gone) or on an error,
 * when the pipe is closed. */
static bool output_read(output *o)
{
    char buf[4096];
    ssize_t n = read(o->fd, buf, sizeof buf);
    if (n > 0) {
        output_take(o, buf, (size_t)n);
        return true;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    close(o->fd);
    o->fd = -1;
    return false;
}

/* Wait up to ms for output (logging what comes), or just wait when there is no pipe. */
static void output_wait(output *o, int ms)
{
    if (o->fd < 0) {
        struct timespec nap = {0, (long)ms * 1000000L};
        nanosleep(&nap, NULL);
        return;
    }
    struct pollfd p = {.fd = o->fd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0)
        output_read(o);
}

/* The shell is gone: log what it and its group wrote (up to OUTPUT_DRAIN_MAX bytes, not
 * waiting for any writer still running), then close the pipe. A descendant that writes
 * after that gets EPIPE (or SIGPIPE): it cannot keep sr waiting. */
static void output_finish(output *o)
{
    if (o->fd >= 0) {
        fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) | O_NONBLOCK);
        char buf[4096];
        for (size_t total = 0; total < OUTPUT_DRAIN_MAX;) {
            ssize_t n = read(o->fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            output_take(o, buf, (size_t)n);
            total += (size_t)n;
        }
        close(o->fd);
        o->fd = -1;
    }
    output_flush(o);
}

/* ---- the process ---- */

/* Start /bin/sh -c command as the leader of a new process group, with stdin from
 * /dev/null, stdout and stderr to out (when >= 0; else sr's own), none of sr's other
 * descriptors (its broker sockets, lock files and log must not live on in whatever the
 * command leaves behind), and signals as a shell would give them (sr ignores SIGPIPE,
 * which a pipeline in the command needs). */
static int spawn(const char *command, char **env, int out, pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0)
        return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    rc = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0 && out >= 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    if (rc == 0 && out >= 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out, STDERR_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&attr, 0); /* its own group, numbered by its pid */
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    if (rc == 0)
        rc = posix_spawn(pid, "/bin/sh", &actions, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

/* Kill the trigger's whole process group (the shell and all it started that stayed in
 * the group: a pipeline, `cmd &`) and reap the shell. Its other descendants are not our
 * children: init reaps them, and nothing here waits for them. */
static bool kill_group(pid_t pid, int *status)
{
    kill(-pid, SIGKILL);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR))
            return done == pid;
        if (since(&start) > REAP_TIMEOUT)
            return false;
        struct timespec nap = {0, 10000000};
        nanosleep(&nap, NULL);
    }
}

/* Run the command to its end or its timeout; SR_OK with *status, or an error. */
static int wait_for(const char *command, pid_t pid, double timeout, output *out, int *status,
                    sr_err *err)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        /* Only the shell is waited for: what it leaves running when it exits is not (it
         * keeps none of our descriptors, so it holds nothing of ours either). */
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid)
            return SR_OK;
        if (done < 0 && errno != EINTR) {
            int saved = errno;
            kill_group(pid, status);
            return sr_err_set(err, SR_EIO, true, "trigger \"%s\": %s", command, strerror(saved));
        }
        double ran = since(&start);
        if (timeout > 0 && ran > timeout) {
            if (!kill_group(pid, status))
                return sr_err_set(err, SR_EIO, true,
                                  "trigger \"%s\" ran past %.0f s: killed, but not gone after "
                                  "%.0f s more",
                                  command, timeout, REAP_TIMEOUT);
            return sr_err_set(err, SR_EIO, true,
                              "trigger \"%s\" ran past %.0f s: killed with its process group",
                              command, timeout);
        }
        output_wait(out, ran < 0.1 ? 2 : 20); /* short commands return fast */
    }
}

int sr_trigger_run(const char *command, const sr_message *m, const sr_trigger_context *ctx,
                   double timeout, sr_err *err)
{
    char *extra[9] = {0};
    char **env = environment(m, ctx, extra);
    if (env == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    output out = {.fd = -1, .log = ctx->log, .rel_path = sr_message_rel_path(m)};
    int pipe_fds[2] = {-1, -1};
    int rc = 0;
    if (ctx->log != NULL && pipe2(pipe_fds, O_CLOEXEC) != 0)
        rc = errno;
    pid_t pid;
    if (rc == 0)
        rc = spawn(command, env, pipe_fds[1], &pid);
    free(env);
    for (size_t i = 0; i < 9; i++)
        free(extra[i]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]); /* the command holds the write end now */
    out.fd = pipe_fds[0];
    if (rc != 0) {
        output_finish(&out);
        return sr_err_set(err, SR_EIO, true, "trigger \"%s\": cannot start: %s", command,
                          strerror(rc));
    }
    int status = 0;
    rc = wait_for(command, pid, timeout, &out, &status, err);
    output_finish(&out);
    if (rc != SR_OK)
        return rc;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return SR_OK;
    if (WIFEXITED(status))
        return sr_err_set(err, SR_EIO, true, "trigger \"%s\" exited with %d", command,
                          WEXITSTATUS(status));
    return sr_err_set(err, SR_EIO, true, "trigger \"%s\" was killed by signal %d", command,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
