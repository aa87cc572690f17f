/*
 * trigger: see trigger.h.
 */
#include "trigger.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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
    const char *names[] = {"SR_RELPATH", "SR_BASEURL", "SR_LOCALPATH", "SR_IDENTITY",
                           "SR_SIZE",    "SR_PUBTIME", "SR_FILEOP",    "SR_COMPONENT",
                           "SR_CONFIG"};
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

int sr_trigger_run(const char *command, const sr_message *m, const sr_trigger_context *ctx,
                   double timeout, sr_err *err)
{
    char *extra[9] = {0};
    char **env = environment(m, ctx, extra);
    if (env == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    for (size_t i = 0; i < 9; i++)
        free(extra[i]);
    if (rc != 0)
        return sr_err_set(err, SR_EIO, true, "trigger \"%s\": cannot start: %s", command,
                          strerror(rc));
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (done < 0 && errno != EINTR)
            return sr_err_set(err, SR_EIO, true, "trigger \"%s\": %s", command, strerror(errno));
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double ran = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (timeout > 0 && ran > timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return sr_err_set(err, SR_EIO, true, "trigger \"%s\" ran past %.0f s: killed", command,
                              timeout);
        }
        struct timespec nap = {0, ran < 0.1 ? 2000000 : 20000000}; /* short commands return fast */
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return SR_OK;
    if (WIFEXITED(status))
        return sr_err_set(err, SR_EIO, true, "trigger \"%s\" exited with %d", command,
                          WEXITSTATUS(status));
    return sr_err_set(err, SR_EIO, true, "trigger \"%s\" was killed by signal %d", command,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
