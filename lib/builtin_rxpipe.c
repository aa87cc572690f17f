/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtin_rxpipe: work.rxpipe (builtins.h). After each file is received (after_work,
 * its work done), its path, new_dir/new_file and a newline, is written to the named pipe
 * rxpipe_name, for a program that processes files as they arrive.
 *
 * The pipe never holds the flow up, where sr3's blocks:
 *   - it is opened O_WRONLY|O_NONBLOCK: with no reader yet, the open fails (ENXIO) and is
 *     tried again at the next file, the names meanwhile dropped with a warning (sr3 waits
 *     in open for a reader);
 *   - one write per name, each at most PIPE_BUF bytes, so a name is written whole or not
 *     at all: a full pipe drops the name with a warning (sr3 waits for room);
 *   - a reader that went away (EPIPE; sr ignores SIGPIPE) closes it; it is reopened later.
 * Lost names are counted and said once the pipe takes names again. The file itself was
 * received either way: the message goes on.
 *
 * rxpipe_name must already be a named pipe (mkfifo): a missing path, a symbolic link or
 * a regular file is refused at start (sr3 would create and fill a regular file, or follow
 * the link).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtins.h"

static const char *const rxpipe_options[] = {"rxpipe_name", NULL};

typedef struct rxpipe_state {
    char *path;
    int fd;             /* -1: not open (no reader yet, or it went away) */
    unsigned long lost; /* names dropped since the pipe last took one */
} rxpipe_state;

/* Open the pipe without waiting and without following a link. 0, 1 when there is no
 * reader yet (ENXIO), -1 when the path is not a pipe or cannot be opened (logged). */
static int rxpipe_open(sr_plugin_host *h, rxpipe_state *st)
{
    int fd = open(st->path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENXIO)
            return 1;
        h->api->log(h, SR_PLUGIN_ERROR, "rxpipe_name %s: %s", st->path,
                    errno == ELOOP ? "a symbolic link, refused" : strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISFIFO(sb.st_mode)) {
        h->api->log(h, SR_PLUGIN_ERROR, "rxpipe_name %s: not a named pipe, refused", st->path);
        close(fd);
        return -1;
    }
    st->fd = fd;
    return 0;
}

static void rxpipe_stop(sr_plugin_host *h)
{
    rxpipe_state *st = h->state;
    if (st == NULL)
        return;
    if (st->lost > 0)
        h->api->log(h, SR_PLUGIN_WARNING, "%lu names not written to %s", st->lost, st->path);
    if (st->fd >= 0)
        close(st->fd);
    free(st->path);
    free(st);
    h->state = NULL;
}

static int rxpipe_start(sr_plugin_host *h)
{
    const char *path = h->api->option(h, "rxpipe_name");
    if (path == NULL || path[0] == '\0') {
        h->api->log(h, SR_PLUGIN_ERROR, "rxpipe_name (the named pipe to write to) is mandatory");
        return -1;
    }
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        h->api->log(h, SR_PLUGIN_ERROR, "rxpipe_name %s: %s", path,
                    errno == ENOENT ? "missing (make it with mkfifo)" : strerror(errno));
        return -1;
    }
    if (!S_ISFIFO(sb.st_mode)) {
        h->api->log(h, SR_PLUGIN_ERROR, "rxpipe_name %s: %s", path,
                    S_ISLNK(sb.st_mode) ? "a symbolic link, refused" : "not a named pipe, refused");
        return -1;
    }
    rxpipe_state *st = calloc(1, sizeof *st);
    if (st == NULL || (st->path = strdup(path)) == NULL) {
        free(st);
        return -1;
    }
    st->fd = -1;
    h->state = st;
    int r = rxpipe_open(h, st);
    if (r < 0) {
        rxpipe_stop(h);
        return -1;
    }
    if (r == 1)
        h->api->log(h, SR_PLUGIN_WARNING, "%s has no reader yet: names wait for one", path);
    else
        h->api->log(h, SR_PLUGIN_INFO, "writing names of files received to %s", path);
    return 0;
}

static void lose(sr_plugin_host *h, rxpipe_state *st, const char *line, const char *why)
{
    if (st->lost++ == 0)
        h->api->log(h, SR_PLUGIN_WARNING, "%s: %s, name not written: %.*s", st->path, why,
                    (int)strcspn(line, "\n"), line);
}

/* Write one line whole, or drop it. */
static void rxpipe_write(sr_plugin_host *h, rxpipe_state *st, const char *line, size_t len)
{
    if (len > PIPE_BUF) {
        lose(h, st, line, "name longer than a pipe writes whole");
        return;
    }
    if (st->fd < 0) {
        int r = rxpipe_open(h, st);
        if (r != 0) {
            lose(h, st, line, r > 0 ? "no reader" : "cannot open");
            return;
        }
    }
    ssize_t n = write(st->fd, line, len);
    if (n == (ssize_t)len) {
        if (st->lost > 0)
            h->api->log(h, SR_PLUGIN_WARNING, "%s takes names again; %lu were not written",
                        st->path, st->lost);
        st->lost = 0;
        return;
    }
    if (n < 0 && errno == EPIPE) {
        close(st->fd);
        st->fd = -1;
        lose(h, st, line, "its reader went away");
    } else if (n < 0 && errno == EAGAIN) {
        lose(h, st, line, "pipe full");
    } else {
        lose(h, st, line, n < 0 ? strerror(errno) : "short write");
    }
}

static enum sr_plugin_verdict rxpipe_after_work(sr_plugin_host *h, sr_plugin_msg *m,
                                                enum sr_plugin_outcome outcome, const char **why)
{
    (void)why;
    rxpipe_state *st = h->state;
    if (st == NULL || outcome != SR_PLUGIN_DONE)
        return SR_PLUGIN_KEEP;
    const char *dir = h->api->msg_get(m, "new_dir");
    const char *file = h->api->msg_get(m, "new_file");
    if (dir == NULL || file == NULL)
        return SR_PLUGIN_KEEP;
    char line[PIPE_BUF + 2];
    int n = snprintf(line, sizeof line, "%s/%s\n", dir, file);
    if (n < 0)
        return SR_PLUGIN_KEEP;
    rxpipe_write(h, st, line, (size_t)n);
    return SR_PLUGIN_KEEP;
}

const sr_plugin sr_builtin_rxpipe = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "work.rxpipe",
    .options = rxpipe_options,
    .on_start = rxpipe_start,
    .on_stop = rxpipe_stop,
    .after_work = rxpipe_after_work,
};
