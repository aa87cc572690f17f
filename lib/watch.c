/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * watch: see watch.h.
 *
 * State, all in sr_watch and touched by the flow's thread only, except the raw event
 * buffer that the reader thread fills under `lock`:
 *   known    path -> {type, size, mtime}: the tree as last announced (or as found at
 *            start); what subscribers have. Updated when a message is handed to the flow
 *            (or deliberately not posted: fileEvents, fileAgeMax), never on an event.
 *   pending  path -> record, in arrival order: what changed and is not posted yet
 *   dirs     the folders watched, by path and by watch descriptor
 *   moves    IN_MOVED_FROM halves waiting for their IN_MOVED_TO (same cookie)
 *
 * A record is a file, a folder, a link or a removal; a file, folder or link may carry
 * rename_from, the name subscribers know it by (it is posted as fileOp.rename). How a
 * file record becomes ready (its `how`):
 *   CLOSED   IN_CLOSE_WRITE seen after its last write: ready when its mtime is older
 *            than fileAgeMin
 *   OPEN     written (IN_MODIFY) and not closed yet: waits for IN_CLOSE_WRITE; a file
 *            left open that has not changed for OPEN_QUIET is posted anyway (a writer
 *            that never closes, a log, would otherwise never be posted)
 *   CREATED  IN_CREATE alone: a hard link or a linkat() of an O_TMPFILE (complete), or a
 *            writer that has not written yet; as SEEN when not empty, as OPEN when empty
 *   SEEN     found by a scan (a new folder's content, polling, a rescan), no writer known:
 *            ready when two looks at least an interval apart see the same size and mtime
 * Events move a file between these (IN_MODIFY -> OPEN, IN_CLOSE_WRITE -> CLOSED). Each
 * wake-up (every `sleep`) examines every record once, in order, and hands the flow the
 * messages of those ready, a batch per gather call.
 *
 * Renames: a record whose path is renamed goes with it; a rename of something
 * subscribers know (in `known`) becomes a record with rename_from, of something they do
 * not know (created in this interval, like x.tmp renamed to x) a new file. When a
 * renamed record is overwritten or removed before it is posted, subscribers still have
 * the old name: a removal of it is posted instead.
 */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* uthash must not exit() when malloc fails: a failed add leaves the handle's tbl NULL. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "announce.h"
#include "localsource.h"
#include "log.h"
#include "strlist.h"
#include "timefmt.h"
#include "units.h"

/* One read() of the inotify descriptor: room for thousands of events at once. */
#define READ_BUF_SIZE (256 * 1024)
/* Events read but not yet applied, at most: past this they are dropped and the tree is
 * scanned again (as after a kernel queue overflow). */
#define RAW_MAX ((size_t)64 * 1024 * 1024)
/* Seconds without a change after which a file still open for writing is posted anyway. */
#define OPEN_QUIET 60.0
/* Seconds an IN_MOVED_FROM waits for its IN_MOVED_TO before it is a move out of the tree
 * (the kernel queues both in the one rename; only a read between them splits them). */
#define MOVE_PAIR_WAIT 0.5

#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_CREATE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

enum { EV_CREATE = 1, EV_DELETE = 2, EV_LINK = 4, EV_MODIFY = 8, EV_MKDIR = 16, EV_RMDIR = 32 };

/* ---- state ---- */

typedef struct known {
    char *path;            /* its key in sr_watch.known */
    char type;             /* 'f' file, 'd' folder, 'l' link */
    long long size, mtime; /* mtime in ns */
    unsigned gen;          /* the last scan that saw it */
    UT_hash_handle hh;
} known;

typedef struct wdir {
    char *path;   /* its key in sr_watch.dirs_by_path */
    int wd;       /* its key in sr_watch.dirs_by_wd */
    int root;     /* index in roots, or -1 */
    unsigned gen; /* the last scan that saw it */
    UT_hash_handle by_path, by_wd;
} wdir;

enum pkind { P_FILE, P_DIR, P_LINK, P_REMOVE };
enum phow { H_CLOSED, H_OPEN, H_CREATED, H_SEEN };

typedef struct record {
    char *path; /* its key in sr_watch.pending */
    struct record *prev, *next;
    enum pkind kind;
    enum phow how;     /* P_FILE: see the top of the file */
    char *rename_from; /* the path subscribers know it by, or NULL */
    bool was_dir;      /* P_REMOVE of a folder */
    bool observed;     /* obs_* hold a look at it */
    long long obs_size, obs_mtime;
    double obs_time; /* when that look was taken (monotonic) */
    unsigned gen;    /* the last scan that saw it */
    UT_hash_handle hh;
} record;

typedef struct move {
    uint32_t cookie;
    char *path;
    bool is_dir;
    double at;   /* when the reader thread read it (monotonic) */
    record *rec; /* the record the path had (detached), or NULL */
} move;

typedef struct root {
    char *path;
    int wd;       /* -1: not watched (missing, removed, not a folder) */
    bool missing; /* the log said so already */
    bool bad;     /* not a folder: never watched */
} root;

/* The unapplied events: chunks of [chunk header][what one read() returned]. */
typedef struct chunk {
    double at;
    size_t len;
} chunk;

struct sr_watch {
    sr_identity_spec spec;
    sr_announce_options announce;
    root *roots;
    size_t root_count;
    bool double_post; /* v2compatRenameDoublePost */
    bool follow;      /* follow_symlinks: links to folders are walked and watched */
    bool recursive, polling, post_on_start;
    unsigned events; /* EV_* of fileEvents */
    double age_min, age_max, interval;
    sr_log *log;
    bool started;

    int ifd, stopfd;
    bool reader_running;
    pthread_t reader;
    pthread_mutex_t lock;
    /* under lock: */
    unsigned char *raw;
    size_t raw_len, raw_cap;
    bool raw_overflow;
    int raw_errno;

    /* uthash tables, by the keys their elements name (NULL when empty) */
    known *known;
    record *pending; /* the records of the list head..tail */
    wdir *dirs_by_path, *dirs_by_wd;
    record *head, *tail, *cursor;
    move *moves;
    size_t move_count, move_cap;

    double wake_started; /* monotonic */
    bool waking;
    unsigned gen;
    bool rescan; /* after an overflow: compare the whole tree with known */
    bool limit_logged;
    unsigned long overflows, unwatched, posted;
};

static long long mtime_ns(const struct stat *st)
{
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

static double age_of(const struct stat *st, double now)
{
    return now - ((double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9);
}

static char *join(const char *dir, const char *name)
{
    char *out = NULL;
    size_t n = strlen(dir);
    if (asprintf(&out, "%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name) < 0)
        return NULL;
    return out;
}

/* Is path prefix itself or under it? */
static bool under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n > 0 && prefix[n - 1] == '/')
        return strncmp(path, prefix, n) == 0;
    return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* path, which is under old, moved under new. */
static char *rebase(const char *path, const char *old, const char *new_prefix)
{
    char *out = NULL;
    if (asprintf(&out, "%s%s", new_prefix, path + strlen(old)) < 0)
        return NULL;
    return out;
}

static void oom(sr_watch *w, const char *what)
{
    sr_log_write(w->log, SR_LOG_ERROR, "out of memory (%s): the tree will be scanned again", what);
    w->rescan = true;
}

static int kind_of(const struct stat *st)
{
    if (S_ISREG(st->st_mode))
        return P_FILE;
    if (S_ISDIR(st->st_mode))
        return P_DIR;
    if (S_ISLNK(st->st_mode))
        return P_LINK;
    return -1; /* a fifo, socket or device: not announced */
}

static char type_of(const struct stat *st)
{
    return S_ISDIR(st->st_mode) ? 'd' : S_ISLNK(st->st_mode) ? 'l' : 'f';
}

/* ---- known ---- */

static known *known_get(sr_watch *w, const char *path)
{
    known *k = NULL;
    HASH_FIND_STR(w->known, path, k);
    return k;
}

/* Add k under its path (not there yet: the caller checked). -1 when out of memory. */
static int known_add(sr_watch *w, known *k)
{
    HASH_ADD_KEYPTR(hh, w->known, k->path, strlen(k->path), k);
    return k->hh.tbl != NULL ? 0 : -1;
}

static void known_set(sr_watch *w, const char *path, const struct stat *st)
{
    known *k = known_get(w, path);
    if (k == NULL) {
        k = calloc(1, sizeof *k);
        if (k == NULL || (k->path = strdup(path)) == NULL || known_add(w, k) != 0) {
            if (k != NULL)
                free(k->path);
            free(k);
            oom(w, "known files");
            return;
        }
    }
    k->type = type_of(st);
    k->size = (long long)st->st_size;
    k->mtime = mtime_ns(st);
    k->gen = w->gen;
}

static void known_free(known *k)
{
    free(k->path);
    free(k);
}

/* Forget path, and when subtree what is under it. */
static void known_del(sr_watch *w, const char *path, bool subtree)
{
    known *k = known_get(w, path), *next;
    if (k != NULL) {
        HASH_DEL(w->known, k);
        known_free(k);
    }
    if (!subtree)
        return;
    for (k = w->known; k != NULL; k = next) {
        next = k->hh.next; /* k may be deleted */
        if (under(k->path, path)) {
            HASH_DEL(w->known, k);
            known_free(k);
        }
    }
}

/* What subscribers had at from (and under it) is now at to. */
static void known_rekey(sr_watch *w, const char *from, const char *to)
{
    size_t n = HASH_COUNT(w->known), m = 0;
    known **all = n ? malloc(n * sizeof *all) : NULL, *k;
    if (all == NULL) {
        if (n > 0)
            oom(w, "known files");
        return;
    }
    for (k = w->known; k != NULL; k = k->hh.next)
        if (under(k->path, from))
            all[m++] = k; /* only these: an entry replaced at `to` is freed below */
    for (size_t i = 0; i < m; i++) {
        k = all[i];
        char *moved = rebase(k->path, from, to);
        if (moved == NULL) {
            oom(w, "known files");
            continue;
        }
        HASH_DEL(w->known, k);
        free(k->path);
        k->path = moved;
        known *there = known_get(w, moved);
        if (there != NULL) {
            HASH_DEL(w->known, there);
            known_free(there);
        }
        if (known_add(w, k) != 0) {
            known_free(k);
            oom(w, "known files");
        }
    }
    free(all);
}

/* ---- pending records ---- */

static record *rec_get(sr_watch *w, const char *path)
{
    record *r = NULL;
    HASH_FIND_STR(w->pending, path, r);
    return r;
}

/* Add r under its path (not there yet: the caller checked). -1 when out of memory. */
static int rec_add(sr_watch *w, record *r)
{
    HASH_ADD_KEYPTR(hh, w->pending, r->path, strlen(r->path), r);
    return r->hh.tbl != NULL ? 0 : -1;
}

/* What subscribers have at the live path: its entry in known or, under a folder whose
 * rename is not posted yet, the entry of its name before that rename (once the folder's
 * rename is posted, which comes first, they have it at the live path). */
static known *known_live_at(sr_watch *w, const char *path, int depth)
{
    known *k = known_get(w, path);
    if (k != NULL || depth > 16)
        return k;
    char *p = strdup(path);
    if (p == NULL)
        return NULL;
    for (char *slash = strrchr(p, '/'); slash != NULL && slash > p; slash = strrchr(p, '/')) {
        *slash = '\0';
        record *r = rec_get(w, p);
        if (r == NULL || r->kind != P_DIR || r->rename_from == NULL)
            continue;
        char *before = NULL;
        if (strcmp(r->rename_from, p) != 0 &&
            asprintf(&before, "%s%s", r->rename_from, path + strlen(p)) >= 0) {
            k = known_live_at(w, before, depth + 1);
            free(before);
        }
        break;
    }
    free(p);
    return k;
}

static known *known_live(sr_watch *w, const char *path)
{
    return known_live_at(w, path, 0);
}

static void list_unlink(sr_watch *w, record *r)
{
    if (w->cursor == r)
        w->cursor = r->next;
    if (r->prev)
        r->prev->next = r->next;
    else
        w->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        w->tail = r->prev;
    r->prev = r->next = NULL;
}

static void list_append(sr_watch *w, record *r)
{
    r->prev = w->tail;
    r->next = NULL;
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r;
    w->tail = r;
    if (w->waking && w->cursor == NULL)
        w->cursor = r; /* the wake-up in progress sees it too */
}

static void rec_free(record *r)
{
    if (r == NULL)
        return;
    free(r->path);
    free(r->rename_from);
    free(r);
}

/* Take r out of the list and the table (the caller keeps or frees it). */
static void rec_detach(sr_watch *w, record *r)
{
    list_unlink(w, r);
    if (rec_get(w, r->path) == r)
        HASH_DEL(w->pending, r);
}

static void rec_drop(sr_watch *w, record *r)
{
    rec_detach(w, r);
    rec_free(r);
}

static record *rec_set(sr_watch *w, const char *path, enum pkind kind, enum phow how);

/* r goes away (overwritten, removed) before it was posted: subscribers still have it
 * under its old name, which is no longer anywhere: a removal of that name. */
static void orphan(sr_watch *w, record *r)
{
    if (r->rename_from == NULL)
        return;
    known *k = known_live(w, r->rename_from);
    if (k != NULL && rec_get(w, r->rename_from) == NULL) {
        record *rm = rec_set(w, r->rename_from, P_REMOVE, H_CLOSED);
        if (rm != NULL)
            rm->was_dir = k->type == 'd';
    }
    free(r->rename_from);
    r->rename_from = NULL;
}

/* The record of path, new or the one it had (reset, its old name orphaned), at the end
 * of the list. NULL when out of memory (logged). */
static record *rec_set(sr_watch *w, const char *path, enum pkind kind, enum phow how)
{
    record *r = rec_get(w, path);
    if (r != NULL) {
        orphan(w, r);
        list_unlink(w, r);
    } else {
        r = calloc(1, sizeof *r);
        if (r == NULL || (r->path = strdup(path)) == NULL || rec_add(w, r) != 0) {
            rec_free(r);
            oom(w, "pending events");
            return NULL;
        }
    }
    r->kind = kind;
    r->how = how;
    r->was_dir = false;
    r->observed = false;
    r->gen = w->gen;
    list_append(w, r);
    return r;
}

static void observe(record *r, const struct stat *st)
{
    r->observed = true;
    r->obs_size = (long long)st->st_size;
    r->obs_mtime = mtime_ns(st);
    r->obs_time = sr_time_mono_s();
}

/* ---- watched folders ---- */

static wdir *wdir_by_path(sr_watch *w, const char *path)
{
    wdir *d = NULL;
    HASH_FIND(by_path, w->dirs_by_path, path, strlen(path), d);
    return d;
}

static wdir *wdir_by_wd(sr_watch *w, int wd)
{
    wdir *d = NULL;
    HASH_FIND(by_wd, w->dirs_by_wd, &wd, sizeof wd, d);
    return d;
}

/* Add d under its path, or its wd (not there yet: the caller checked). -1 when out of
 * memory. */
static int wdir_add_path(sr_watch *w, wdir *d)
{
    HASH_ADD_KEYPTR(by_path, w->dirs_by_path, d->path, strlen(d->path), d);
    return d->by_path.tbl != NULL ? 0 : -1;
}

static int wdir_add_wd(sr_watch *w, wdir *d)
{
    HASH_ADD(by_wd, w->dirs_by_wd, wd, sizeof d->wd, d);
    return d->by_wd.tbl != NULL ? 0 : -1;
}

/* Take d out of dirs_by_path, if it is there (before its path changes). */
static void wdir_unmap_path(sr_watch *w, wdir *d)
{
    if (wdir_by_path(w, d->path) == d)
        HASH_DELETE(by_path, w->dirs_by_path, d);
}

static void wdir_drop(sr_watch *w, wdir *d, bool rm_watch)
{
    if (rm_watch && w->ifd >= 0)
        inotify_rm_watch(w->ifd, d->wd); /* fails harmlessly when the folder is gone */
    wdir_unmap_path(w, d);
    if (wdir_by_wd(w, d->wd) == d)
        HASH_DELETE(by_wd, w->dirs_by_wd, d);
    if (d->root >= 0 && w->roots[d->root].wd == d->wd)
        w->roots[d->root].wd = -1;
    free(d->path);
    free(d);
}

/* Stop watching path and every folder under it. */
static void unwatch_tree(sr_watch *w, const char *path)
{
    wdir *d, *next;
    for (d = w->dirs_by_path; d != NULL; d = next) {
        next = d->by_path.next; /* d may be deleted */
        if (under(d->path, path))
            wdir_drop(w, d, true);
    }
}

/* The watched folders under old are now under new. */
static void rekey_dirs(sr_watch *w, const char *old, const char *new_path)
{
    size_t n = HASH_CNT(by_path, w->dirs_by_path), m = 0;
    wdir **all = n ? malloc(n * sizeof *all) : NULL, *d;
    if (all == NULL) {
        if (n > 0)
            oom(w, "watched folders");
        return;
    }
    for (d = w->dirs_by_path; d != NULL; d = d->by_path.next)
        if (under(d->path, old))
            all[m++] = d; /* only these: a folder replaced at new is freed below */
    for (size_t i = 0; i < m; i++) {
        d = all[i];
        char *moved = rebase(d->path, old, new_path);
        if (moved == NULL) {
            oom(w, "watched folders");
            continue;
        }
        wdir_unmap_path(w, d);
        free(d->path);
        d->path = moved;
        wdir *there = wdir_by_path(w, moved);
        if (there != NULL)
            wdir_drop(w, there, true);
        if (wdir_add_path(w, d) != 0) {
            wdir_drop(w, d, true);
            oom(w, "watched folders");
        }
    }
    free(all);
}

static long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* Watch the folder path (following it when it is a link only for a root, or via_link: a
 * link followed by follow_symlinks). false when path is a followed link to a folder that
 * is watched already under another name: inotify has one watch per folder, so it is
 * watched (and its changes reported) under the first name only. */
static bool watch_dir(sr_watch *w, const char *path, int root_index, bool via_link)
{
    uint32_t mask = WATCH_MASK | (root_index >= 0 || via_link ? 0 : IN_DONT_FOLLOW);
    int wd = inotify_add_watch(w->ifd, path, mask);
    if (wd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return true; /* gone already: its parent reports it */
        w->unwatched++;
        if (e == ENOSPC) {
            if (!w->limit_logged)
                sr_log_write(w->log, SR_LOG_ERROR,
                             "cannot watch %s: the limit of inotify watches is reached "
                             "(sysctl fs.inotify.max_user_watches = %ld): changes under it are "
                             "not seen; raise the limit or use force_polling",
                             path, read_sysctl("/proc/sys/fs/inotify/max_user_watches"));
            w->limit_logged = true;
        } else {
            sr_log_write(w->log, e == EACCES ? SR_LOG_WARNING : SR_LOG_ERROR,
                         "cannot watch %s: %s: changes under it are not seen", path, strerror(e));
        }
        return true;
    }
    wdir *d = wdir_by_wd(w, wd);
    if (d != NULL && strcmp(d->path, path) != 0 && via_link) {
        sr_log_write(w->log, SR_LOG_INFO,
                     "%s leads to %s, watched already: not followed (follow_symlinks)", path,
                     d->path);
        return false;
    }
    if (d != NULL && strcmp(d->path, path) != 0) {
        /* the folder was known under another name (a rename this watch missed) */
        char *p = strdup(path);
        if (p == NULL) {
            oom(w, "watched folders");
            return true;
        }
        wdir_unmap_path(w, d);
        free(d->path);
        d->path = p;
        wdir *there = wdir_by_path(w, p);
        if (there != NULL)
            wdir_drop(w, there, true);
        if (wdir_add_path(w, d) != 0) {
            wdir_drop(w, d, false);
            oom(w, "watched folders");
            return true;
        }
    } else if (d == NULL) {
        wdir *there = wdir_by_path(w, path);
        if (there != NULL)
            wdir_drop(w, there, true); /* another folder had that name: it is gone */
        d = calloc(1, sizeof *d);
        if (d == NULL || (d->path = strdup(path)) == NULL) {
            free(d);
            inotify_rm_watch(w->ifd, wd);
            oom(w, "watched folders");
            return true;
        }
        d->wd = wd;
        d->root = -1;
        if (wdir_add_path(w, d) != 0) {
            free(d->path);
            free(d);
            inotify_rm_watch(w->ifd, wd);
            oom(w, "watched folders");
            return true;
        }
        if (wdir_add_wd(w, d) != 0) {
            wdir_drop(w, d, true);
            oom(w, "watched folders");
            return true;
        }
    }
    d->gen = w->gen;
    if (root_index >= 0) {
        d->root = root_index;
        w->roots[root_index].wd = wd;
    }
    return true;
}

/* ---- walking a tree ---- */

enum walk_mode {
    WALK_KNOWN, /* at start: what is there is what subscribers have */
    WALK_POST,  /* at start with post_on_start: post what is there */
    WALK_DIFF,  /* a new folder, a rescan, a poll: compare with known and pending */
};

static void visit(sr_watch *w, const char *path, const struct stat *st, enum walk_mode mode)
{
    int kind = kind_of(st);
    if (kind < 0)
        return;
    if (mode == WALK_KNOWN) {
        known_set(w, path, st);
        return;
    }
    record *r = rec_get(w, path);
    if (mode == WALK_POST) {
        if (r == NULL)
            rec_set(w, path, (enum pkind)kind, H_CLOSED);
        return;
    }
    if (r != NULL && r->kind != P_REMOVE) {
        r->gen = w->gen; /* events already say more */
        return;
    }
    known *k = known_live(w, path);
    if (k != NULL) {
        k->gen = w->gen;
        if (r == NULL && k->type == type_of(st) &&
            (kind == P_DIR || (k->size == (long long)st->st_size && k->mtime == mtime_ns(st))))
            return; /* unchanged */
    }
    r = rec_set(w, path, (enum pkind)kind, H_SEEN);
    if (r != NULL)
        observe(r, st);
}

static char *pop(sr_strlist *stack)
{
    if (stack->count == 0)
        return NULL;
    char *top = stack->items[--stack->count];
    stack->items[stack->count] = NULL;
    return top;
}

/* Walk the tree under top (top itself is not visited), watching each folder (inotify).
 * Returns false when top itself cannot be read; the folders under it that cannot be read
 * are added to unreadable (when not NULL). */
static bool walk(sr_watch *w, const char *top, int root_index, enum walk_mode mode,
                 sr_strlist *unreadable)
{
    /* links followed (follow_symlinks) wait until the real folders are walked, so a
     * folder reached both ways is watched under its own name */
    sr_strlist stack = {0}, links = {0};
    if (sr_strlist_push(&stack, top) != 0) {
        oom(w, "walk");
        return false;
    }
    bool ok = true, first = true;
    char *dir;
    while ((dir = pop(&stack)) != NULL || (dir = pop(&links)) != NULL) {
        struct stat self;
        bool via_link = w->follow && !(first && root_index >= 0) && lstat(dir, &self) == 0 &&
                        S_ISLNK(self.st_mode);
        if (!w->polling && !watch_dir(w, dir, first ? root_index : -1, via_link)) {
            first = false;
            free(dir);
            continue;
        }
        DIR *d = opendir(dir);
        if (d == NULL) {
            int e = errno;
            if (first)
                ok = false;
            if (e != ENOENT && e != ENOTDIR) {
                sr_log_write(w->log, SR_LOG_WARNING, "cannot read folder %s: %s", dir, strerror(e));
                if (unreadable != NULL && sr_strlist_push(unreadable, dir) != 0)
                    oom(w, "walk");
            }
            first = false;
            free(dir);
            continue;
        }
        first = false;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *path = join(dir, e->d_name);
            struct stat st;
            if (path == NULL) {
                oom(w, "walk");
                break;
            }
            if (lstat(path, &st) == 0) {
                visit(w, path, &st, mode);
                if (S_ISDIR(st.st_mode) && w->recursive && sr_strlist_push(&stack, path) != 0)
                    oom(w, "walk");
                if (S_ISLNK(st.st_mode) && w->follow && w->recursive && sr_local_follow_ok(path) &&
                    sr_strlist_push(&links, path) != 0)
                    oom(w, "walk");
            }
            free(path);
        }
        closedir(d);
        free(dir);
    }
    sr_strlist_clear(&stack);
    sr_strlist_clear(&links);
    return ok;
}

static int reverse_cmp(const void *a, const void *b)
{
    /* reversed: a/b sorts before a, so a folder's contents are removed before it */
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Is path under one of the folders a walk could not read? */
static bool unseen(const sr_strlist *unreadable, const char *path)
{
    for (size_t i = 0; i < unreadable->count; i++)
        if (under(path, unreadable->items[i]) && strcmp(path, unreadable->items[i]) != 0)
            return true;
    return false;
}

/* Compare the tree (the roots, or only one) with what is known and pending: new and
 * changed entries become SEEN records, known ones that are gone removals. A root that
 * cannot be read is skipped rather than announced as removed (an NFS outage is not a
 * deletion). after_overflow: events were lost, what a file's events said is unsure. */
static void rescan(sr_watch *w, const root *only, bool after_overflow)
{
    w->gen++;
    w->limit_logged = false;
    sr_strlist unreadable = {0}; /* what is under these is not gone, only unseen */
    bool *readable = calloc(w->root_count, sizeof *readable);
    if (readable == NULL) {
        oom(w, "rescan");
        return;
    }
    for (size_t i = 0; i < w->root_count; i++) {
        root *r = &w->roots[i];
        if (r->bad || (only != NULL && only != r))
            continue;
        struct stat st;
        int found = stat(r->path, &st);
        if (found != 0 || !S_ISDIR(st.st_mode)) {
            if (!r->missing)
                sr_log_write(w->log, SR_LOG_WARNING, "%s: %s; watching for it to appear", r->path,
                             found != 0 ? strerror(errno) : "not a folder");
            r->missing = true;
            continue;
        }
        if (r->missing)
            sr_log_write(w->log, SR_LOG_INFO, "%s is there now: watching it", r->path);
        r->missing = false;
        readable[i] = walk(w, r->path, (int)i, WALK_DIFF, &unreadable);
    }
    /* what is known and was not seen is gone */
    size_t n = HASH_COUNT(w->known);
    char **lost = n ? calloc(n, sizeof *lost) : NULL;
    size_t lost_count = 0;
    known *k;
    for (k = w->known; k != NULL; k = k->hh.next) {
        if (lost == NULL || k->gen == w->gen || rec_get(w, k->path) != NULL ||
            unseen(&unreadable, k->path))
            continue;
        for (size_t j = 0; j < w->root_count; j++)
            if (readable[j] && under(k->path, w->roots[j].path)) {
                lost[lost_count++] = k->path;
                break;
            }
    }
    if (lost_count > 1)
        qsort(lost, lost_count, sizeof *lost, reverse_cmp);
    for (size_t i = 0; i < lost_count; i++) {
        k = known_get(w, lost[i]);
        record *rm = rec_set(w, lost[i], P_REMOVE, H_CLOSED);
        if (rm != NULL && k != NULL)
            rm->was_dir = k->type == 'd';
    }
    free(lost);
    /* watches of folders that are gone */
    wdir *d, *dnext;
    for (d = w->dirs_by_path; d != NULL; d = dnext) {
        dnext = d->by_path.next; /* d may be deleted */
        if (d->gen == w->gen || unseen(&unreadable, d->path))
            continue;
        for (size_t j = 0; j < w->root_count; j++)
            if (readable[j] && under(d->path, w->roots[j].path)) {
                wdir_drop(w, d, true);
                break;
            }
    }
    free(readable);
    sr_strlist_clear(&unreadable);
    if (after_overflow)
        for (record *r = w->head; r != NULL; r = r->next)
            if (r->kind == P_FILE && r->how != H_CLOSED)
                r->how = H_SEEN; /* a close may have been lost: judge by what is seen */
}

/* ---- events ---- */

static int reverse_cmp(const void *a, const void *b);

/* follow_symlinks: path, a link whose folder was followed, is gone or renamed: its watches
 * go, and what subscribers know beneath it under its name is announced as removed, as a
 * scan (force_polling) finds it gone. */
static void unfollow(sr_watch *w, const char *path)
{
    if (!w->follow || wdir_by_path(w, path) == NULL)
        return;
    unwatch_tree(w, path);
    size_t n = HASH_COUNT(w->known), count = 0;
    char **lost = n ? calloc(n, sizeof *lost) : NULL;
    for (known *k = w->known; lost != NULL && k != NULL; k = k->hh.next)
        if (under(k->path, path) && strcmp(k->path, path) != 0)
            lost[count++] = k->path;
    if (count > 1)
        qsort(lost, count, sizeof *lost, reverse_cmp); /* contents before their folder */
    for (size_t i = 0; i < count; i++) {
        known *k = known_get(w, lost[i]);
        bool was_dir = k != NULL && k->type == 'd';
        record *rm = rec_set(w, lost[i], P_REMOVE, H_CLOSED);
        if (rm != NULL)
            rm->was_dir = was_dir;
    }
    if (n > 0 && lost == NULL)
        oom(w, "follow_symlinks");
    free(lost);
}

/* path is gone (deleted, moved out): r is the record it had (detached) or NULL. */
static void gone(sr_watch *w, const char *path, bool is_dir, record *r)
{
    if (!is_dir)
        unfollow(w, path);
    if (r == NULL) {
        r = rec_get(w, path);
        if (r != NULL)
            rec_detach(w, r);
    }
    if (r != NULL && r->kind == P_REMOVE) {
        rec_free(r);
        r = NULL;
    }
    if (r != NULL)
        orphan(w, r);
    rec_free(r);
    known *k = known_live(w, path);
    if (k != NULL) {
        record *rm = rec_set(w, path, P_REMOVE, H_CLOSED);
        if (rm != NULL)
            rm->was_dir = is_dir || k->type == 'd';
    }
}

static void on_create(sr_watch *w, const char *path, bool is_dir, bool moved_in)
{
    if (is_dir) {
        rec_set(w, path, P_DIR, H_SEEN);
        /* what was made in it before its watch was added is found by the walk */
        if (w->recursive)
            walk(w, path, -1, WALK_DIFF, NULL);
        return;
    }
    struct stat st;
    if (lstat(path, &st) != 0)
        return; /* gone already */
    int kind = kind_of(&st);
    if (kind < 0)
        return;
    record *r = rec_set(w, path, (enum pkind)kind, moved_in ? H_CLOSED : H_CREATED);
    if (r != NULL)
        observe(r, &st);
    /* follow_symlinks: a new link to a folder is walked and watched under its name */
    if (kind == P_LINK && w->follow && w->recursive && sr_local_follow_ok(path))
        walk(w, path, -1, WALK_DIFF, NULL);
}

static void on_write(sr_watch *w, const char *path, enum phow how)
{
    record *r = rec_get(w, path);
    if (r == NULL)
        rec_set(w, path, P_FILE, how);
    else if (r->kind == P_FILE)
        r->how = how;
}

/* Records under old (not old itself) are now under new, after the record of new; their
 * old names under old are under new for subscribers too once the folder's rename is
 * posted (when they know the folder). */
static void move_subtree(sr_watch *w, const char *old, const char *new_path, bool rename_known)
{
    size_t cap = 0, count = 0;
    record **moved = NULL;
    for (record *r = w->head; r != NULL; r = r->next) {
        if (!under(r->path, old) || strcmp(r->path, old) == 0)
            continue;
        if (count == cap) {
            size_t c = cap ? 2 * cap : 16;
            record **grown = realloc(moved, c * sizeof *grown);
            if (grown == NULL) {
                oom(w, "rename");
                break;
            }
            moved = grown;
            cap = c;
        }
        moved[count++] = r;
    }
    for (size_t i = 0; i < count; i++) {
        record *r = moved[i];
        char *p = rebase(r->path, old, new_path);
        char *from = r->rename_from && rename_known && under(r->rename_from, old)
                         ? rebase(r->rename_from, old, new_path)
                         : NULL;
        rec_detach(w, r);
        if (p == NULL) {
            free(from);
            rec_free(r);
            oom(w, "rename");
            continue;
        }
        free(r->path);
        r->path = p;
        if (from != NULL) {
            free(r->rename_from);
            r->rename_from = from;
        }
        record *there = rec_get(w, p);
        if (there != NULL)
            rec_drop(w, there);
        if (rec_add(w, r) != 0) {
            rec_free(r);
            oom(w, "rename");
            continue;
        }
        list_append(w, r);
    }
    free(moved);
}

static void on_rename(sr_watch *w, const char *old, const char *new_path, bool is_dir, record *was)
{
    if (was != NULL && was->kind == P_REMOVE) {
        rec_free(was);
        was = NULL;
    }
    const char *origin = was && was->rename_from ? was->rename_from : old;
    bool origin_known = known_live(w, origin) != NULL;
    int kind = P_DIR;
    struct stat st;
    bool have_st = lstat(new_path, &st) == 0;
    if (!is_dir)
        kind = have_st && kind_of(&st) >= 0 ? kind_of(&st) : P_FILE;
    enum phow how = was && was->kind == P_FILE ? was->how : H_CLOSED;
    if (origin_known && strcmp(origin, new_path) == 0)
        origin_known = false; /* back where subscribers have it: not a rename */
    char *from = origin_known ? strdup(origin) : NULL;
    if (origin_known && from == NULL) {
        oom(w, "rename");
        rec_free(was);
        return;
    }
    if (is_dir && !w->polling)
        rekey_dirs(w, old, new_path);
    if (!is_dir)
        unfollow(w, old); /* a followed link: walked again under its new name below */
    record *r = rec_set(w, new_path, (enum pkind)kind, how);
    if (r != NULL) {
        r->rename_from = from;
        from = NULL;
        if (was != NULL && was->observed) {
            r->observed = true;
            r->obs_size = was->obs_size;
            r->obs_mtime = was->obs_mtime;
            r->obs_time = was->obs_time;
        } else if (have_st && how == H_SEEN) {
            observe(r, &st);
        }
    }
    free(from);
    rec_free(was);
    if (is_dir)
        move_subtree(w, old, new_path, origin_known);
    if (kind == P_LINK && w->follow && w->recursive && sr_local_follow_ok(new_path))
        walk(w, new_path, -1, WALK_DIFF, NULL);
}

static void stash_move(sr_watch *w, uint32_t cookie, const char *path, bool is_dir, double at)
{
    if (w->move_count == w->move_cap) {
        size_t cap = w->move_cap ? 2 * w->move_cap : 16;
        move *grown = realloc(w->moves, cap * sizeof *grown);
        if (grown == NULL) {
            oom(w, "rename");
            return;
        }
        w->moves = grown;
        w->move_cap = cap;
    }
    move *m = &w->moves[w->move_count];
    m->path = strdup(path);
    if (m->path == NULL) {
        oom(w, "rename");
        return;
    }
    m->cookie = cookie;
    m->is_dir = is_dir;
    m->at = at;
    m->rec = rec_get(w, path);
    if (m->rec != NULL)
        rec_detach(w, m->rec);
    w->move_count++;
}

static void unstash(sr_watch *w, size_t i)
{
    free(w->moves[i].path);
    w->moves[i] = w->moves[--w->move_count];
}

/* A move whose other half never came: moved out of the tree. */
static void moved_out(sr_watch *w, move *m)
{
    if (m->is_dir && !w->polling)
        unwatch_tree(w, m->path); /* its watches would report from outside the tree */
    gone(w, m->path, m->is_dir, m->rec);
    m->rec = NULL;
}

static root *root_of_wdir(sr_watch *w, const wdir *d)
{
    return d->root >= 0 && w->roots[d->root].wd == d->wd ? &w->roots[d->root] : NULL;
}

static void handle_event(sr_watch *w, const struct inotify_event *ev, const char *name, double at)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        w->overflows++;
        sr_log_write(w->log, SR_LOG_WARNING,
                     "the kernel's queue of file events overflowed (sysctl "
                     "fs.inotify.max_queued_events = %ld): the tree is scanned again",
                     read_sysctl("/proc/sys/fs/inotify/max_queued_events"));
        w->rescan = true;
        return;
    }
    wdir *d = wdir_by_wd(w, ev->wd);
    if (d == NULL)
        return; /* a folder no longer watched */
    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        root *r = root_of_wdir(w, d);
        if (r != NULL) {
            sr_log_write(w->log, SR_LOG_WARNING,
                         "%s was removed or moved away: watching for it to come back", r->path);
            r->missing = true;
            unwatch_tree(w, r->path);
        } else if (ev->mask & IN_IGNORED) {
            wdir_drop(w, d, false); /* its parent reported the removal */
        }
        return;
    }
    if (ev->len == 0 || name[0] == '\0')
        return;
    char *path = join(d->path, name);
    if (path == NULL) {
        oom(w, "events");
        return;
    }
    bool is_dir = (ev->mask & IN_ISDIR) != 0;
    if (ev->mask & IN_MOVED_FROM) {
        stash_move(w, ev->cookie, path, is_dir, at);
    } else if (ev->mask & IN_MOVED_TO) {
        size_t i = 0;
        while (i < w->move_count && w->moves[i].cookie != ev->cookie)
            i++;
        if (i < w->move_count) {
            record *was = w->moves[i].rec;
            char *old = w->moves[i].path;
            w->moves[i].path = NULL;
            unstash(w, i);
            on_rename(w, old, path, is_dir, was);
            free(old);
        } else {
            on_create(w, path, is_dir, true); /* moved in from outside */
        }
    } else {
        if (ev->mask & IN_CREATE)
            on_create(w, path, is_dir, false);
        if (ev->mask & IN_MODIFY)
            on_write(w, path, H_OPEN);
        if (ev->mask & IN_CLOSE_WRITE)
            on_write(w, path, H_CLOSED);
        if (ev->mask & IN_DELETE)
            gone(w, path, is_dir, NULL);
    }
    free(path);
}

/* Apply what the reader thread has read since the last call. */
static void apply_events(sr_watch *w)
{
    pthread_mutex_lock(&w->lock);
    unsigned char *buf = w->raw;
    size_t len = w->raw_len;
    bool overflow = w->raw_overflow;
    int error = w->raw_errno;
    w->raw = NULL;
    w->raw_len = w->raw_cap = 0;
    w->raw_overflow = false;
    w->raw_errno = 0;
    pthread_mutex_unlock(&w->lock);

    size_t off = 0;
    while (buf != NULL && off + sizeof(chunk) <= len) {
        chunk c;
        memcpy(&c, buf + off, sizeof c);
        off += sizeof c;
        size_t end = off + c.len;
        while (off + sizeof(struct inotify_event) <= end) {
            struct inotify_event ev;
            memcpy(&ev, buf + off, sizeof ev);
            if (off + sizeof ev + ev.len > end)
                break;
            handle_event(w, &ev, (const char *)buf + off + sizeof ev, c.at);
            off += sizeof ev + ev.len;
        }
        off = end;
    }
    free(buf);
    if (overflow) {
        w->overflows++;
        sr_log_write(w->log, SR_LOG_WARNING,
                     "more than %zu MiB of file events waiting: dropped, the tree is scanned "
                     "again",
                     RAW_MAX >> 20);
        w->rescan = true;
    }
    if (error != 0) {
        sr_log_write(w->log, SR_LOG_ERROR,
                     "reading file events failed: %s; scanning the tree every %g s instead "
                     "(as force_polling)",
                     strerror(error), w->interval);
        w->polling = true;
        w->rescan = true;
    }
}

/* ---- the reader thread ---- */

static void *reader_main(void *arg)
{
    sr_watch *w = arg;
    unsigned char *buf = malloc(READ_BUF_SIZE);
    int error = buf ? 0 : ENOMEM;
    struct pollfd p[2] = {{.fd = w->ifd, .events = POLLIN}, {.fd = w->stopfd, .events = POLLIN}};
    while (error == 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno != EINTR)
                error = errno;
            continue;
        }
        if (p[1].revents)
            break;
        if (p[0].revents & (POLLERR | POLLNVAL)) {
            error = EIO;
            break;
        }
        ssize_t n = read(w->ifd, buf, READ_BUF_SIZE);
        if (n < 0) {
            if (errno != EINTR && errno != EAGAIN)
                error = errno;
            continue;
        }
        chunk c = {sr_time_mono_s(), (size_t)n};
        pthread_mutex_lock(&w->lock);
        size_t need = w->raw_len + sizeof c + (size_t)n;
        if (need > RAW_MAX) {
            w->raw_overflow = true;
        } else {
            if (need > w->raw_cap) {
                size_t cap = w->raw_cap ? w->raw_cap : READ_BUF_SIZE;
                while (cap < need)
                    cap *= 2;
                unsigned char *grown = realloc(w->raw, cap);
                if (grown == NULL) {
                    w->raw_overflow = true;
                    pthread_mutex_unlock(&w->lock);
                    continue;
                }
                w->raw = grown;
                w->raw_cap = cap;
            }
            memcpy(w->raw + w->raw_len, &c, sizeof c);
            memcpy(w->raw + w->raw_len + sizeof c, buf, (size_t)n);
            w->raw_len = need;
        }
        pthread_mutex_unlock(&w->lock);
    }
    if (error != 0) {
        pthread_mutex_lock(&w->lock);
        w->raw_errno = error;
        pthread_mutex_unlock(&w->lock);
    }
    free(buf);
    return NULL;
}

/* ---- a wake-up: examine each record ---- */

static bool allowed(const sr_watch *w, unsigned ev)
{
    return (w->events & ev) != 0;
}

/* Is the file of r complete and old enough? (st: what it is now) */
static bool file_ready(sr_watch *w, record *r, const struct stat *st, double now)
{
    double age = age_of(st, now);
    double quiet = w->age_min > OPEN_QUIET ? w->age_min : OPEN_QUIET;
    switch (r->how) {
    case H_CLOSED:
        break;
    case H_OPEN:
        if (age < quiet)
            return false; /* still being written: wait for its IN_CLOSE_WRITE */
        break;
    case H_CREATED:
        if (st->st_size == 0) {
            if (age < quiet)
                return false; /* a writer that has not written yet */
            break;
        }
        /* not empty and never written to: linked in whole (a hard link, an O_TMPFILE) */
        /* fallthrough */
    case H_SEEN:
        if (!r->observed || r->obs_size != (long long)st->st_size || r->obs_mtime != mtime_ns(st)) {
            observe(r, st);
            return false;
        }
        if (sr_time_mono_s() - r->obs_time < 0.9 * w->interval)
            return false; /* not yet seen unchanged an interval apart (0.9: wake-up jitter) */
        break;
    }
    return !(w->age_min > 0 && age < w->age_min);
}

/* The message is handed to the flow (or deliberately not posted): what subscribers have
 * now. */
static void now_known(sr_watch *w, record *r, const struct stat *st)
{
    if (r->rename_from != NULL)
        known_rekey(w, r->rename_from, r->path);
    known_set(w, r->path, st);
}

/* r's path is gone before it was posted: skipped silently; subscribers who have it under
 * an old name get a removal of that name. */
static void vanished(sr_watch *w, record *r)
{
    rec_detach(w, r);
    orphan(w, r);
    rec_free(r);
}

static sr_message *examine_removal(sr_watch *w, record *r, const struct timespec *ts)
{
    sr_message *m = NULL;
    if (allowed(w, r->was_dir ? EV_RMDIR : EV_DELETE)) {
        sr_err err;
        if (sr_announce_removal(&w->announce, r->path, r->was_dir, ts, &m, &err) != SR_OK)
            sr_log_write(w->log, SR_LOG_ERROR, "%s", err.msg);
        /* The mtime of what was removed, as last announced: two watches of one tree (an
         * HA pair) then announce the same removal alike, and a winnow keys it by relPath
         * and that mtime instead of each watch's own pubTime (one removal, not two),
         * while a file made again and removed again is a removal of its own. */
        known *k = m != NULL ? known_get(w, r->path) : NULL;
        char t[SR_TIME_MAX];
        struct timespec mt = {0};
        if (k != NULL) {
            mt.tv_sec = (time_t)(k->mtime / 1000000000LL);
            mt.tv_nsec = (long)(k->mtime % 1000000000LL);
        }
        if (k != NULL && k->mtime > 0 && sr_time_format(&mt, true, t, sizeof t) >= 0 &&
            sr_message_set_str(m, "mtime", t, &err) != SR_OK)
            sr_log_write(w->log, SR_LOG_WARNING, "%s", err.msg);
    }
    known_del(w, r->path, r->was_dir);
    rec_drop(w, r);
    return m;
}

/* v2compatRenameDoublePost: the first of the two messages v2 posted for a rename, the
 * removal of the old name carrying `newname`, the relPath it now has with a leading '/'
 * as v2 relPaths and sr3 write it (m, the rename message, is the second). NULL (logged)
 * when it cannot be made. */
static sr_message *rename_removal(sr_watch *w, const record *r, const sr_message *m,
                                  const struct timespec *ts)
{
    sr_message *rm = NULL;
    sr_err err;
    char newname[PATH_MAX + 2];
    snprintf(newname, sizeof newname, "/%s", sr_message_rel_path(m));
    if (sr_announce_removal(&w->announce, r->rename_from, r->kind == P_DIR, ts, &rm, &err) !=
            SR_OK ||
        sr_message_set_str(rm, "newname", newname, &err) != SR_OK) {
        sr_log_write(w->log, SR_LOG_ERROR, "%s; the removal half of the rename is not posted",
                     err.msg);
        sr_message_free(rm);
        return NULL;
    }
    return rm;
}

/* The message for r, if it is ready; *before (when not NULL) receives one to post ahead
 * of it (v2compatRenameDoublePost). */
static sr_message *examine(sr_watch *w, record *r, double now, const struct timespec *ts,
                           sr_message **before)
{
    *before = NULL;
    if (r->kind == P_REMOVE)
        return examine_removal(w, r, ts);
    struct stat st;
    if (lstat(r->path, &st) != 0) {
        vanished(w, r);
        return NULL;
    }
    int kind = kind_of(&st);
    if (kind < 0) {
        sr_log_write(w->log, SR_LOG_DEBUG, "%s is not a file, folder or link: not posted", r->path);
        rec_drop(w, r);
        return NULL;
    }
    if (kind != (int)r->kind) {
        r->kind = (enum pkind)kind; /* it changed under us: look again next time */
        r->how = H_SEEN;
        observe(r, &st);
        return NULL;
    }
    unsigned ev;
    if (r->rename_from != NULL) {
        ev = EV_CREATE | EV_MODIFY; /* sr3 posts moves when either is on */
    } else if (kind == P_DIR) {
        ev = EV_MKDIR;
    } else if (kind == P_LINK) {
        ev = EV_LINK;
    } else {
        known *k = known_live(w, r->path);
        ev = k != NULL && k->type == 'f' ? EV_MODIFY : EV_CREATE;
    }
    if (kind == P_FILE) {
        if (!file_ready(w, r, &st, now))
            return NULL;
        known *k = known_live(w, r->path);
        if (r->rename_from == NULL && k != NULL && k->type == 'f' &&
            k->size == (long long)st.st_size && k->mtime == mtime_ns(&st)) {
            rec_drop(w, r); /* closed without a change: nothing new to say */
            return NULL;
        }
        if (r->rename_from == NULL && w->age_max > 0 && age_of(&st, now) > w->age_max) {
            sr_log_write(w->log, SR_LOG_DEBUG, "%s is older than fileAgeMax: not posted", r->path);
            now_known(w, r, &st);
            rec_drop(w, r);
            return NULL;
        }
    }
    if (!allowed(w, ev)) {
        now_known(w, r, &st);
        rec_drop(w, r);
        return NULL;
    }
    sr_message *m = NULL;
    sr_err err;
    int rc = r->rename_from
                 ? sr_announce_rename(&w->announce, r->rename_from, r->path, ts, &m, NULL, &err)
                 : sr_announce_path(&w->announce, r->path, ts, &m, NULL, &err);
    if (rc == SR_ENOENT) {
        vanished(w, r);
        return NULL;
    }
    if (rc != SR_OK) {
        sr_log_write(w->log, SR_LOG_ERROR, "%s; not posted", err.msg);
        now_known(w, r, &st); /* not announced again until it changes */
        rec_drop(w, r);
        return NULL;
    }
    if (kind == P_FILE) {
        struct stat after;
        if (lstat(r->path, &after) != 0) {
            sr_message_free(m);
            vanished(w, r);
            return NULL;
        }
        if (after.st_size != st.st_size || mtime_ns(&after) != mtime_ns(&st)) {
            sr_message_free(m); /* written while it was read: look again next time */
            r->how = H_SEEN;
            observe(r, &after);
            return NULL;
        }
    }
    if (r->rename_from != NULL && w->double_post)
        *before = rename_removal(w, r, m, ts);
    now_known(w, r, &st);
    rec_drop(w, r);
    w->posted++;
    return m;
}

static void begin_wake(sr_watch *w, double mono)
{
    w->wake_started = mono;
    for (size_t i = 0; i < w->move_count;) {
        if (mono - w->moves[i].at >= MOVE_PAIR_WAIT) {
            moved_out(w, &w->moves[i]);
            unstash(w, i);
        } else {
            i++;
        }
    }
    if (w->polling || w->rescan) {
        rescan(w, NULL, w->rescan && !w->polling);
        w->rescan = false;
    } else {
        for (size_t i = 0; i < w->root_count; i++)
            if (w->roots[i].wd < 0 && w->roots[i].missing && !w->roots[i].bad)
                rescan(w, &w->roots[i], false); /* back, or there at last */
    }
    w->cursor = w->head;
    w->waking = true;
}

/* At the first gather: watch and walk the trees. */
static void watch_start(sr_watch *w)
{
    w->gen++;
    for (size_t i = 0; i < w->root_count; i++) {
        root *r = &w->roots[i];
        struct stat st;
        if (stat(r->path, &st) != 0) {
            sr_log_write(w->log, SR_LOG_WARNING, "%s: %s; watching for it to appear", r->path,
                         strerror(errno));
            r->missing = true;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            sr_log_write(w->log, SR_LOG_ERROR,
                         "%s is not a folder: sr_watch watches folders (sr_post posts files)",
                         r->path);
            r->bad = true;
            continue;
        }
        size_t dirs = HASH_CNT(by_path, w->dirs_by_path);
        walk(w, r->path, (int)i, w->post_on_start ? WALK_POST : WALK_KNOWN, NULL);
        if (w->polling)
            sr_log_write(w->log, SR_LOG_INFO, "watching %s by scanning it every %g s", r->path,
                         w->interval);
        else
            sr_log_write(w->log, SR_LOG_INFO, "watching %s (%zu folder(s))", r->path,
                         HASH_CNT(by_path, w->dirs_by_path) - dirs);
    }
    sr_log_write(w->log, SR_LOG_INFO, "%u entries known, %u to post at start", HASH_COUNT(w->known),
                 HASH_COUNT(w->pending));
}

static int watch_gather(void *ctx, sr_message ***msgs, size_t *count, size_t max, bool *exhausted,
                        sr_err *err)
{
    sr_watch *w = ctx;
    *exhausted = false; /* a watch runs until it is stopped */
    *count = 0;
    *msgs = calloc(max ? max : 1, sizeof **msgs);
    if (*msgs == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (!w->started) {
        watch_start(w);
        w->started = true;
    }
    if (w->reader_running)
        apply_events(w);
    double now = sr_time_now_s(), mono = sr_time_mono_s();
    if (!w->waking && (w->wake_started == 0 || mono - w->wake_started >= w->interval - 0.01))
        begin_wake(w, mono);
    struct timespec ts;
    sr_time_now(&ts);
    size_t cap = max ? max : 1;
    while (w->waking && *count < max) {
        record *r = w->cursor;
        if (r == NULL) {
            w->waking = false;
            break;
        }
        w->cursor = r->next;
        char *path = strdup(r->path); /* examine may free r */
        if (path == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        sr_message *before = NULL;
        sr_message *m = examine(w, r, now, &ts, &before);
        sr_message **parts = NULL;
        size_t n = 0;
        sr_err why;
        if (m != NULL && sr_announce_blocks(&w->announce, path, m, &parts, &n, &why) != SR_OK)
            sr_log_write(w->log, SR_LOG_ERROR, "%s; not posted", why.msg);
        free(path);
        if (n == 0) { /* the rename itself is not posted: nor its removal half */
            sr_message_free(before);
            before = NULL;
        }
        size_t extra = before != NULL ? 1 : 0;
        /* a file in blocks is several messages: the batch grows past max for it */
        if (*count + n + extra > cap) {
            sr_message **grown = realloc(*msgs, (*count + n + extra) * sizeof **msgs);
            if (grown == NULL) {
                for (size_t i = 0; i < n; i++)
                    sr_message_free(parts[i]);
                free(parts);
                sr_message_free(before);
                return sr_err_set(err, SR_ENOMEM, false, "out of memory");
            }
            *msgs = grown;
            cap = *count + n + extra;
        }
        if (before != NULL)
            (*msgs)[(*count)++] = before;
        for (size_t i = 0; i < n; i++)
            (*msgs)[(*count)++] = parts[i];
        free(parts);
    }
    return SR_OK;
}

static void watch_housekeeping(void *ctx)
{
    sr_watch *w = ctx;
    sr_log_write(w->log, SR_LOG_INFO,
                 "watch: %u folders watched, %u entries known, %u changes pending, %lu posted, "
                 "%lu queue overflows, %lu folders that could not be watched",
                 HASH_CNT(by_path, w->dirs_by_path), HASH_COUNT(w->known), HASH_COUNT(w->pending),
                 w->posted, w->overflows, w->unwatched);
    w->limit_logged = false; /* the watch limit is logged again, once per housekeeping */
}

void sr_watch_component(sr_watch *w, sr_flow_component *out)
{
    memset(out, 0, sizeof *out);
    out->gather = watch_gather;
    out->housekeeping = watch_housekeeping;
    out->ctx = w;
}

/* ---- set up ---- */

static int add_roots(sr_watch *w, const sr_config *cfg, sr_err *err)
{
    const sr_strlist *paths = sr_config_list(cfg, SR_OPT_path);
    if (paths->count == 0)
        return sr_err_set(err, SR_EINVAL, false, "nothing to watch: add `path` lines");
    w->roots = calloc(paths->count, sizeof *w->roots);
    if (w->roots == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    char cwd[PATH_MAX];
    for (size_t i = 0; i < paths->count; i++) {
        const char *p = paths->items[i];
        char *abs = NULL;
        if (p[0] == '/') {
            abs = strdup(p);
        } else if (getcwd(cwd, sizeof cwd) != NULL) {
            abs = join(cwd, p);
        } else {
            return sr_err_set(err, SR_EIO, false, "path %s: the current folder: %s", p,
                              strerror(errno));
        }
        if (abs == NULL)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        size_t n = strlen(abs);
        while (n > 1 && abs[n - 1] == '/')
            abs[--n] = '\0';
        w->roots[w->root_count].path = abs;
        w->roots[w->root_count].wd = -1;
        w->root_count++;
    }
    /* a folder inside another would be walked and watched twice (one watch per folder) */
    for (size_t i = 0; i < w->root_count; i++)
        for (size_t j = 0; j < w->root_count; j++)
            if (i != j && under(w->roots[i].path, w->roots[j].path))
                return sr_err_set(err, SR_EINVAL, false,
                                  "path %s is inside path %s: watch only the latter",
                                  w->roots[i].path, w->roots[j].path);
    return SR_OK;
}

static int start_reader(sr_watch *w, sr_err *err)
{
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd < 0) {
        if (errno == EMFILE)
            return sr_err_set(err, SR_EIO, false,
                              "inotify: too many instances for this user (sysctl "
                              "fs.inotify.max_user_instances = %ld): raise it or use "
                              "force_polling",
                              read_sysctl("/proc/sys/fs/inotify/max_user_instances"));
        return sr_err_set(err, SR_EIO, false, "inotify: %s (force_polling works without it)",
                          strerror(errno));
    }
    w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stopfd < 0)
        return sr_err_set(err, SR_EIO, false, "eventfd: %s", strerror(errno));
    /* signals go to the flow's thread, never to the reader */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->reader, NULL, reader_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return sr_err_set(err, SR_EIO, false, "cannot start the event reader thread: %s",
                          strerror(rc));
    w->reader_running = true;
    return SR_OK;
}

int sr_watch_new(const sr_config *cfg, sr_log *log, sr_watch **out, sr_err *err)
{
    *out = NULL;
    sr_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    w->log = log;
    w->ifd = w->stopfd = -1;
    pthread_mutex_init(&w->lock, NULL);
    int rc = sr_local_announce_options(cfg, &w->spec, &w->announce, err);
    w->recursive = sr_config_flag(cfg, SR_OPT_recursive);
    w->polling = sr_config_flag(cfg, SR_OPT_force_polling);
    w->post_on_start = sr_config_flag(cfg, SR_OPT_post_on_start);
    w->double_post = sr_config_flag(cfg, SR_OPT_v2compatRenameDoublePost);
    w->follow = sr_config_flag(cfg, SR_OPT_follow_symlinks);
    static const struct {
        const char *name;
        unsigned bit;
    } events[] = {{"create", EV_CREATE}, {"delete", EV_DELETE}, {"link", EV_LINK},
                  {"modify", EV_MODIFY}, {"mkdir", EV_MKDIR},   {"rmdir", EV_RMDIR}};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        if (sr_config_has(cfg, SR_OPT_fileEvents, events[i].name))
            w->events |= events[i].bit;
    w->age_min = sr_config_seconds(cfg, SR_OPT_fileAgeMin);
    const char *inflight = sr_config_str(cfg, SR_OPT_inflight);
    double d;
    if (!sr_config_is_set(cfg, SR_OPT_fileAgeMin) && inflight != NULL &&
        sr_parse_duration(inflight, &d) == 0 && d > 0)
        w->age_min = d; /* sr3: a number as inflight is fileAgeMin on the posting side */
    w->age_max = sr_config_seconds(cfg, SR_OPT_fileAgeMax);
    double sleep = sr_config_seconds(cfg, SR_OPT_sleep);
    w->interval = sleep > 0 ? sleep : 1;
    if (rc == SR_OK)
        rc = add_roots(w, cfg, err);
    if (rc == SR_OK && !w->polling)
        rc = start_reader(w, err);
    if (rc != SR_OK) {
        sr_watch_free(w);
        return rc;
    }
    *out = w;
    return SR_OK;
}

void sr_watch_free(sr_watch *w)
{
    if (w == NULL)
        return;
    if (w->reader_running) {
        uint64_t one = 1;
        if (write(w->stopfd, &one, sizeof one) != (ssize_t)sizeof one)
            pthread_cancel(w->reader); /* cannot happen with an eventfd; never block here */
        pthread_join(w->reader, NULL);
    }
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->stopfd >= 0)
        close(w->stopfd);
    pthread_mutex_destroy(&w->lock);
    free(w->raw);
    while (w->head != NULL)
        rec_drop(w, w->head);
    HASH_CLEAR(hh, w->pending); /* empty by now: every record is in the list */
    for (size_t i = 0; i < w->move_count; i++) {
        free(w->moves[i].path);
        rec_free(w->moves[i].rec);
    }
    free(w->moves);
    known *k, *knext;
    for (k = w->known; k != NULL; k = knext) {
        knext = k->hh.next; /* k may be deleted */
        HASH_DEL(w->known, k);
        known_free(k);
    }
    HASH_CLEAR(by_wd, w->dirs_by_wd); /* the same folders as dirs_by_path */
    wdir *d, *dnext;
    for (d = w->dirs_by_path; d != NULL; d = dnext) {
        dnext = d->by_path.next; /* d may be deleted */
        HASH_DELETE(by_path, w->dirs_by_path, d);
        free(d->path);
        free(d);
    }
    for (size_t i = 0; i < w->root_count; i++)
        free(w->roots[i].path);
    free(w->roots);
    sr_identity_spec_fini(&w->spec);
    free(w);
}
