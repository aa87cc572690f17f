/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * jail: see jail.h.
 *
 * Every operation resolves the folder that holds its last name (the parent) to a
 * descriptor beneath the root, then acts on that name with an *at call, so the only
 * names ever looked up outside the resolution are single components that the call itself
 * does not follow (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, unlinkat, renameat, mkdirat...).
 */
#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "paths.h"

struct sr_jail {
    char *root;
    int fd;
    dev_t dev;
    ino_t ino;
    bool walk_only; /* no openat2: asked for, or the kernel lacks it */
    /* sr_jail_hold: the first folder resolved during the hold ("a/b"; never the root,
     * which is fd), kept open for the operations after it; -1 and NULL when none */
    unsigned holds;
    char *held;
    int held_fd;
};

/* ---- relative paths ---- */

/* The components of rel, "" and "." dropped, in a new array of pointers into *copy (both
 * freed by the caller). ".." refused. */
static int split_rel(const sr_jail *j, const char *rel, char **copy, char ***parts, size_t *count,
                     sr_err *err)
{
    *copy = strdup(rel);
    size_t cap = 1;
    for (const char *p = rel; *p; p++)
        cap += *p == '/';
    *parts = calloc(cap, sizeof **parts);
    *count = 0;
    if (*copy == NULL || *parts == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    char *save = NULL;
    for (char *c = strtok_r(*copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0)
            return sr_err_set(err, SR_EREFUSED, false, "%s/%s: \"..\" would leave %s", j->root, rel,
                              j->root);
        (*parts)[(*count)++] = c;
    }
    return SR_OK;
}

bool sr_jail_rel_ok(const char *rel)
{
    bool any = false;
    for (const char *p = rel; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (len > 0 && !(len == 1 && p[0] == '.'))
            any = true;
        p += len;
    }
    return any;
}

bool sr_jail_link_target_inside(const char *rel, const char *target)
{
    if (target[0] == '/' || target[0] == '\0')
        return false;
    /* the link's folder depth beneath the root */
    long depth = 0;
    for (const char *p = rel; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        bool last = p[len] == '\0' || p[len + strspn(p + len, "/")] == '\0';
        if (!last && !(len == 1 && p[0] == '.'))
            depth += len == 2 && p[0] == '.' && p[1] == '.' ? -1 : 1;
        p += len;
    }
    for (const char *p = target; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        p += len;
    }
    return true;
}

/* ---- errors ---- */

static bool errno_retryable(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EIO || e == EAGAIN || e == EINTR || e == EMFILE ||
           e == ENFILE || e == ENOMEM || e == EBUSY || e == ESTALE || e == ENOTEMPTY;
}

/* "<what> <root>/<rel>: <reason>", classified from errno e: a symbolic link met is a
 * refusal, a missing name SR_ENOENT, permissions SR_EPERM, the rest SR_EIO. */
static int fail(const sr_jail *j, int e, const char *what, const char *rel, sr_err *err)
{
    while (*rel == '/')
        rel++;
    if (e == ELOOP || e == EXDEV)
        return sr_err_set(err, SR_EREFUSED, false,
                          "%s %s/%s: a symbolic link on the way (never followed beneath %s)", what,
                          j->root, rel, j->root);
    int code = e == ENOENT                               ? SR_ENOENT
               : e == EACCES || e == EPERM || e == EROFS ? SR_EPERM
               : e == ENOMEM                             ? SR_ENOMEM
                                                         : SR_EIO;
    return sr_err_set(err, code, errno_retryable(e), "%s %s/%s: %s", what, j->root, rel,
                      strerror(e));
}

/* fail; making: the operation makes something, so a folder that went (ENOENT) or turned
 * into something else (ENOTDIR) under it is another process at work in the tree, and
 * worth a retry. */
static int fail_as(const sr_jail *j, int e, bool making, const char *what, const char *rel,
                   sr_err *err)
{
    int rc = fail(j, e, what, rel, err);
    if (making && err != NULL && (e == ENOENT || e == ENOTDIR))
        err->retryable = true;
    return rc;
}

/* ---- resolving a folder beneath the root ----
 *
 * resolve() hands out either a descriptor of its own or one the jail keeps (the root's,
 * or the folder held): put_dir() gives either back, closing only the first kind. */

static void put_dir(const sr_jail *j, int fd)
{
    if (fd >= 0 && fd != j->fd && fd != j->held_fd)
        close(fd);
}

/* The folder held is forgotten (after a rename or a removal, which may have moved or
 * removed it); the next resolution in the hold is held instead. Called only at the end
 * of an operation, after its put_dir: no caller is using the descriptor then. */
static void drop_held(sr_jail *j)
{
    if (j->held_fd >= 0)
        close(j->held_fd);
    j->held_fd = -1;
    free(j->held);
    j->held = NULL;
}

/* In a hold with no folder held yet: fd (resolved beneath the root from path) becomes
 * the held one, else it stays the caller's. */
static void maybe_hold(sr_jail *j, const char *path, int fd)
{
    if (j->holds == 0 || j->held_fd >= 0 || fd < 0 || fd == j->fd)
        return;
    char *copy = strdup(path);
    if (copy == NULL)
        return; /* not held: still the caller's to close */
    j->held = copy;
    j->held_fd = fd;
}

/* parts[0..n) joined by '/', in a new string (NULL: out of memory). */
static char *join_parts(char **parts, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]) + 1;
    char *path = malloc(len);
    if (path == NULL)
        return NULL;
    char *p = path;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = '/';
        size_t l = strlen(parts[i]);
        memcpy(p, parts[i], l);
        p += l;
    }
    *p = '\0';
    return path;
}

static int open_beneath2(const sr_jail *j, const char *rel)
{
    struct open_how how = {
        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    for (int tries = 0;; tries++) {
        long fd = syscall(SYS_openat2, j->fd, rel, &how, sizeof how);
        /* EAGAIN: a rename beneath the root raced the lookup; the kernel asks to retry */
        if (fd >= 0 || errno != EAGAIN || tries >= 8)
            return (int)fd;
    }
}

/* One component below dirfd, without following it: O_PATH keeps it working on folders
 * sr may enter but not list. A symbolic link there is ELOOP, a file ENOTDIR. */
static int open_step(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 || (errno != ENOTDIR && errno != ELOOP))
        return fd;
    int e = errno;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        e = ELOOP;
    errno = e;
    return -1;
}

/* A descriptor of the folder made of parts[0..n) beneath the root (the root's own when n
 * is 0), to give back with put_dir. In a hold, the folder held when it is that one: the
 * same path, resolved beneath the root without links earlier in the same piece of work
 * (sr_jail_hold says why that is as safe). -1 with errno. */
static int resolve(sr_jail *j, char **parts, size_t n)
{
    if (n == 0)
        return j->fd;
    char *path = join_parts(parts, n);
    if (path == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (j->held != NULL && strcmp(path, j->held) == 0) {
        free(path);
        return j->held_fd;
    }
    int fd = -1, e = 0;
    bool walk = j->walk_only;
    if (!walk) {
        fd = open_beneath2(j, path);
        e = errno;
        /* Without openat2 (before Linux 5.6, or a seccomp filter that hides it): the walk,
         * from now on. */
        if (fd < 0 && (e == ENOSYS || e == EPERM || e == E2BIG))
            walk = j->walk_only = true;
    }
    if (walk) {
        fd = j->fd;
        for (size_t i = 0; fd >= 0 && i < n; i++) {
            int next = open_step(fd, parts[i]);
            e = errno;
            put_dir(j, fd);
            fd = next;
        }
    }
    maybe_hold(j, path, fd);
    free(path);
    errno = e;
    return fd;
}

/* The parent folder of rel, resolved, and the last name in it (pointing into *copy).
 * SR_EINVAL for a path that names nothing (the root itself). */
static int parent_of(sr_jail *j, bool making, const char *what, const char *rel, char **copy,
                     int *dirfd, const char **name, sr_err *err)
{
    char **parts = NULL;
    size_t n = 0;
    *dirfd = -1;
    int rc = split_rel(j, rel, copy, &parts, &n, err);
    if (rc == SR_OK && n == 0)
        rc = sr_err_set(err, SR_EINVAL, false, "%s %s/%s: names no file", what, j->root, rel);
    if (rc == SR_OK) {
        *dirfd = resolve(j, parts, n - 1);
        if (*dirfd < 0)
            rc = fail_as(j, errno, making, what, rel, err);
        else
            *name = parts[n - 1];
    }
    free(parts);
    return rc;
}

/* ---- the jail ---- */

int sr_jail_new(const char *root, mode_t make_mode, bool walk_only, sr_jail **out, sr_err *err)
{
    *out = NULL;
    sr_jail *j = calloc(1, sizeof *j);
    if (j == NULL || (j->root = strdup(root[0] ? root : ".")) == NULL) {
        free(j);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    j->held_fd = -1;
    j->walk_only = walk_only;
    /* The root is the configuration's: made and opened by its path, links followed. */
    int rc = make_mode != 0 ? sr_mkdir_p(j->root, make_mode, err) : SR_OK;
    if (rc == SR_OK) {
        j->fd = open(j->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        if (j->fd < 0 || fstat(j->fd, &st) != 0)
            rc = sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, errno_retryable(errno),
                            "cannot open the folder %s: %s", j->root, strerror(errno));
        else
            j->dev = st.st_dev, j->ino = st.st_ino;
    } else {
        j->fd = -1;
    }
    if (rc != SR_OK) {
        sr_jail_free(j);
        return rc;
    }
    *out = j;
    return SR_OK;
}

void sr_jail_free(sr_jail *j)
{
    if (j == NULL)
        return;
    drop_held(j);
    if (j->fd >= 0)
        close(j->fd);
    free(j->root);
    free(j);
}

void sr_jail_hold(sr_jail *j)
{
    j->holds++;
}

void sr_jail_release(sr_jail *j)
{
    if (j->holds > 0 && --j->holds == 0)
        drop_held(j);
}

const char *sr_jail_root(const sr_jail *j)
{
    return j->root;
}

int sr_jail_mkdirs(sr_jail *j, const char *rel_dir, mode_t mode, sr_err *err)
{
    char *copy = NULL, **parts = NULL;
    size_t n = 0;
    int rc = split_rel(j, rel_dir, &copy, &parts, &n, err);
    int fd = -1;
    /* the common case: it is there already, one lookup (none in a hold that has it) */
    if (rc == SR_OK && (fd = resolve(j, parts, n)) < 0) {
        if (errno != ENOENT)
            rc = fail_as(j, errno, true, "mkdir", rel_dir, err);
        else
            fd = j->fd;
        for (size_t i = 0; rc == SR_OK && fd >= 0 && i < n; i++) {
            if (mkdirat(fd, parts[i], mode) != 0 && errno != EEXIST) {
                rc = fail_as(j, errno, true, "mkdir", rel_dir, err);
                break;
            }
            int next = open_step(fd, parts[i]);
            int e = errno;
            put_dir(j, fd);
            fd = next;
            if (fd < 0)
                rc = fail_as(j, e, true, "mkdir", rel_dir, err);
        }
        /* made by the walk, beneath the root, without links: held as a resolution is */
        char *path = rc == SR_OK && fd >= 0 ? join_parts(parts, n) : NULL;
        if (path != NULL)
            maybe_hold(j, path, fd);
        free(path);
    }
    put_dir(j, fd);
    free(parts);
    free(copy);
    return rc;
}

/* fd must be a regular file (with one name, when written): else refused, fd closed.
 * *st: what fstat said of it. */
static int check_regular(sr_jail *j, int fd, bool writing, const char *rel, struct stat *out,
                         sr_err *err)
{
    struct stat local;
    struct stat *st = out != NULL ? out : &local;
    int rc = SR_OK;
    if (fstat(fd, st) != 0)
        rc = fail(j, errno, "stat", rel, err);
    else if (!S_ISREG(st->st_mode))
        rc = sr_err_set(err, SR_EREFUSED, false, "%s/%s: not a regular file", j->root, rel);
    else if (writing && st->st_nlink > 1)
        rc = sr_err_set(err, SR_EREFUSED, false,
                        "%s/%s: has %lu names (hard links): writing it would change the others",
                        j->root, rel, (unsigned long)st->st_nlink);
    /* O_NONBLOCK stays: Linux ignores it on regular files (what it guarded against, a
     * FIFO, was refused above), and clearing it would cost two calls a file */
    if (rc != SR_OK)
        close(fd);
    return rc;
}

int sr_jail_open(sr_jail *j, const char *rel, int flags, mode_t mode, int *fd, sr_err *err)
{
    *fd = -1;
    char *copy = NULL;
    const char *name = NULL;
    int dirfd;
    int rc = parent_of(j, (flags & O_CREAT) != 0, "open", rel, &copy, &dirfd, &name, err);
    if (rc == SR_OK) {
        /* O_NONBLOCK: a FIFO must not hang the open; check_regular refuses it after */
        int f = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, mode);
        struct stat st;
        if (f < 0 && errno == ENXIO && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISREG(st.st_mode)) /* a FIFO without a reader, a socket */
            rc = sr_err_set(err, SR_EREFUSED, false, "%s/%s: not a regular file", j->root, rel);
        else if (f < 0)
            rc = fail_as(j, errno, (flags & O_CREAT) != 0, "open", rel, err);
        else if ((rc = check_regular(j, f, (flags & O_ACCMODE) != O_RDONLY, rel, NULL, err)) ==
                 SR_OK)
            *fd = f;
    }
    put_dir(j, dirfd);
    free(copy);
    return rc;
}

int sr_jail_open_locked(sr_jail *j, const char *rel, bool wait, int *fd, bool *created, sr_err *err)
{
    *fd = -1;
    bool made = false;
    char *copy = NULL;
    const char *name = NULL;
    int dirfd;
    int rc = parent_of(j, true, "open", rel, &copy, &dirfd, &name, err);
    for (int attempt = 0; rc == SR_OK; attempt++) {
        if (attempt >= 10) {
            rc = sr_err_set(err, SR_EIO, true, "cannot lock %s/%s: it keeps being replaced",
                            j->root, rel);
            break;
        }
        const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
        int f = openat(dirfd, name, flags | O_CREAT | O_EXCL, 0666);
        made = f >= 0;
        if (f < 0 && errno == EEXIST)
            f = openat(dirfd, name, flags);
        if (f < 0 && errno == ENOENT)
            continue; /* removed between the two opens */
        if (f < 0) {
            rc = fail_as(j, errno, true, "open", rel, err);
            break;
        }
        struct stat held, named;
        if ((rc = check_regular(j, f, true, rel, &held, err)) != SR_OK)
            break;
        int r;
        do
            r = flock(f, LOCK_EX | (wait ? 0 : LOCK_NB));
        while (r != 0 && errno == EINTR);
        /* held: the inode of f, which the lock does not change */
        if (r == 0 && fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
            *fd = f;
            break;
        }
        int e = errno;
        close(f);
        if (r != 0 && e == EWOULDBLOCK)
            rc = sr_err_set(err, SR_EIO, true,
                            "%s/%s is being written by another process: left for later", j->root,
                            rel);
        else if (r != 0)
            rc = fail(j, e, "lock", rel, err);
    }
    if (created != NULL)
        *created = rc == SR_OK && made;
    put_dir(j, dirfd);
    free(copy);
    return rc;
}

int sr_jail_lstat(sr_jail *j, const char *rel, struct stat *st, sr_err *err)
{
    char *copy = NULL;
    const char *name = NULL;
    int dirfd;
    int rc = parent_of(j, false, "stat", rel, &copy, &dirfd, &name, err);
    if (rc == SR_OK && fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = fail(j, errno, "stat", rel, err);
    put_dir(j, dirfd);
    free(copy);
    return rc;
}

int sr_jail_rename(sr_jail *j, const char *from, const char *to, sr_err *err)
{
    char *fcopy = NULL, *tcopy = NULL;
    const char *fname = NULL, *tname = NULL;
    int fdir = -1, tdir = -1;
    int rc = parent_of(j, true, "rename", from, &fcopy, &fdir, &fname, err);
    if (rc == SR_OK)
        rc = parent_of(j, true, "rename to", to, &tcopy, &tdir, &tname, err);
    if (rc == SR_OK && renameat(fdir, fname, tdir, tname) != 0) {
        int e = errno;
        rc = fail_as(j, e, true, "rename", from, err);
        sr_err_prefix(err, "to %s/%s", j->root, to);
    }
    put_dir(j, fdir);
    put_dir(j, tdir);
    drop_held(j); /* it may have moved a folder: the next operation resolves afresh */
    free(fcopy);
    free(tcopy);
    return rc;
}

int sr_jail_remove(sr_jail *j, const char *rel, bool is_dir, sr_err *err)
{
    char *copy = NULL;
    const char *name = NULL;
    int dirfd;
    const char *what = is_dir ? "rmdir" : "remove";
    int rc = parent_of(j, false, what, rel, &copy, &dirfd, &name, err);
    if (rc == SR_OK && unlinkat(dirfd, name, is_dir ? AT_REMOVEDIR : 0) != 0) {
        /* rmdir of a symbolic link to a folder: ENOTDIR; say what it is */
        struct stat st;
        int e = errno;
        if (is_dir && e == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            e = ELOOP;
        rc = fail(j, e, what, rel, err);
    }
    put_dir(j, dirfd);
    if (is_dir)
        drop_held(j); /* it may have been the folder held */
    free(copy);
    return rc;
}

/* A temporary name beside name, for making a link then renaming it over name. */
static int temp_name(const char *name, char *buf, size_t size)
{
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (unsigned)clock();
    int n = snprintf(buf, size, ".%.200s.sr-%d-%08x", name, (int)getpid(), r);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Make a link under a temporary name with make(), then rename it over name. */
static int replace_with(sr_jail *j, const char *what, const char *rel, int dirfd, const char *name,
                        int (*make)(void *ctx, int dirfd, const char *tmp), void *ctx, sr_err *err)
{
    char tmp[NAME_MAX + 1];
    if (temp_name(name, tmp, sizeof tmp) != 0)
        return sr_err_set(err, SR_EINVAL, false, "%s %s/%s: name too long", what, j->root, rel);
    unlinkat(dirfd, tmp, 0); /* a leftover of a process killed here */
    if (make(ctx, dirfd, tmp) != 0)
        return fail_as(j, errno, true, what, rel, err);
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return fail_as(j, e, true, what, rel, err);
    }
    return SR_OK;
}

static int make_symlink(void *ctx, int dirfd, const char *tmp)
{
    return symlinkat(ctx, dirfd, tmp);
}

int sr_jail_symlink(sr_jail *j, const char *target, const char *rel, sr_err *err)
{
    char *copy = NULL;
    const char *name = NULL;
    int dirfd;
    int rc = parent_of(j, true, "symlink", rel, &copy, &dirfd, &name, err);
    if (rc == SR_OK)
        rc = replace_with(j, "symlink", rel, dirfd, name, make_symlink, (void *)target, err);
    put_dir(j, dirfd);
    free(copy);
    return rc;
}

typedef struct hard {
    int dirfd;
    const char *name;
} hard;

static int make_hardlink(void *ctx, int dirfd, const char *tmp)
{
    const hard *h = ctx;
    return linkat(h->dirfd, h->name, dirfd, tmp, 0); /* 0: a symbolic link is not followed */
}

int sr_jail_hardlink(sr_jail *j, const char *existing, const char *rel, sr_err *err)
{
    char *ecopy = NULL, *copy = NULL;
    const char *ename = NULL, *name = NULL;
    int edir = -1, dirfd = -1;
    int rc = parent_of(j, false, "hard link from", existing, &ecopy, &edir, &ename, err);
    struct stat st;
    if (rc == SR_OK && fstatat(edir, ename, &st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = fail(j, errno, "hard link from", existing, err);
    else if (rc == SR_OK && !S_ISREG(st.st_mode))
        rc = sr_err_set(err, SR_EREFUSED, false, "hard link from %s/%s: not a regular file",
                        j->root, existing);
    if (rc == SR_OK)
        rc = parent_of(j, true, "hard link", rel, &copy, &dirfd, &name, err);
    hard h = {edir, ename};
    if (rc == SR_OK)
        rc = replace_with(j, "hard link", rel, dirfd, name, make_hardlink, &h, err);
    put_dir(j, edir);
    put_dir(j, dirfd);
    free(ecopy);
    free(copy);
    return rc;
}

int sr_jail_chmod_dir(sr_jail *j, const char *rel, mode_t mode, sr_err *err)
{
    char *copy = NULL, **parts = NULL;
    size_t n = 0;
    int rc = split_rel(j, rel, &copy, &parts, &n, err);
    int fd = -1;
    if (rc == SR_OK && (fd = resolve(j, parts, n)) < 0)
        rc = fail(j, errno, "chmod", rel, err);
    /* fchmod needs a descriptor that is not O_PATH: the folder opened again as "." */
    int real = -1;
    if (rc == SR_OK && (real = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = fail(j, errno, "chmod", rel, err);
    if (rc == SR_OK && fchmod(real, mode) != 0)
        rc = fail(j, errno, "chmod", rel, err);
    if (real >= 0)
        close(real);
    put_dir(j, fd);
    free(parts);
    free(copy);
    return rc;
}

/* ---- several roots ---- */

struct sr_jails {
    mode_t make_mode;
    bool walk_only;
    sr_jail **items;
    size_t count;
};

sr_jails *sr_jails_new(mode_t make_mode, bool walk_only)
{
    sr_jails *js = calloc(1, sizeof *js);
    if (js != NULL) {
        js->make_mode = make_mode;
        js->walk_only = walk_only;
    }
    return js;
}

void sr_jails_free(sr_jails *js)
{
    if (js == NULL)
        return;
    for (size_t i = 0; i < js->count; i++)
        sr_jail_free(js->items[i]);
    free(js->items);
    free(js);
}

/* A root made by dates in `directory` changes every day: past this many roots, the
 * oldest opened is closed. */
#define JAILS_MAX 32

int sr_jails_get(sr_jails *js, const char *root, sr_jail **out, sr_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < js->count; i++) {
        sr_jail *j = js->items[i];
        if (strcmp(j->root, root) != 0)
            continue;
        /* still the folder at that path? (removed and made again: open the new one, or
         * files would go into a folder nobody can reach) */
        struct stat st;
        if (stat(root, &st) == 0 && st.st_dev == j->dev && st.st_ino == j->ino) {
            *out = j;
            return SR_OK;
        }
        sr_jail_free(j);
        js->items[i] = js->items[--js->count];
        break;
    }
    if (js->count >= JAILS_MAX) {
        sr_jail_free(js->items[0]);
        memmove(js->items, js->items + 1, (js->count - 1) * sizeof *js->items);
        js->count--;
    }
    sr_jail **grown = realloc(js->items, (js->count + 1) * sizeof *grown);
    if (grown == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    js->items = grown;
    sr_jail *j = NULL;
    int rc = sr_jail_new(root, js->make_mode, js->walk_only, &j, err);
    if (rc != SR_OK)
        return rc;
    js->items[js->count++] = j;
    *out = j;
    return SR_OK;
}
