/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * seen: see seen.h.
 *
 * The table is 64 shards (by the hash's low bits), each open addressing with Robin Hood
 * insertion and backward-shift deletion (no tombstones) in one array of 40-byte slots. A
 * shard's size is not a power of two: a hash's home slot is the hash scaled to the size
 * (the high half of hash * size), so a shard grows by 30% at a time and is at most 90%
 * full. An entry costs 40 / 0.9 = 44 to 40 * 1.3 / 0.9 = 58 bytes; while a shard grows,
 * its old and new arrays are both held for a moment: 1/64 of the table, where one array
 * would need the whole table twice over at that moment (the peak a poll of 100,000 files
 * would reach).
 *
 * Invariants: a slot with hash 0 is empty (a key hashing to 0 is taken as hashing to 1).
 * Every entry recorded since the last flush is PENDING and its hash is in `pending`: a save
 * copies such an entry's old lines as they are instead of writing the new mark, which is not
 * announced until the flush (a kill -9 after the save must not make it look announced).
 * WRITTEN is set on the entries a rewrite has written and cleared before each rewrite.
 */
#include "seen.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "buf.h"
#include "paths.h"

/* A rewrite writes its lines in chunks of this many bytes. */
#define SEEN_CHUNK_BYTES (64u * 1024u)
/* The table: smallest size, most entries per slot, growth. */
#define SEEN_SHARDS 64u /* a power of two */
#define SEEN_MIN_SLOTS 16u
#define SEEN_MAX_LOAD 0.9
#define SEEN_GROWTH 1.3

/* slot.ns: the nanoseconds of the mtime (or NO_MTIME) and two flags. */
#define NS_MASK 0x3fffffffu
#define NO_MTIME NS_MASK /* more than any nanosecond count */
#define F_WRITTEN 0x40000000u
#define F_PENDING 0x80000000u

typedef struct slot {
    uint64_t hash; /* of the key, seeded; 0: empty */
    int64_t sec;   /* mtime, when ns is not NO_MTIME */
    int64_t size;  /* -1: unknown */
    double time;   /* last listed or recorded */
    uint32_t ns;
} slot;

_Static_assert(sizeof(slot) == 40, "a seen entry is 40 bytes");

/* One shard of the table. */
typedef struct table {
    slot *slots;
    size_t cap, count;
} table;

struct sr_seen {
    table shards[SEEN_SHARDS];
    size_t count;
    double ttl;
    uint64_t seed;
    char *path;        /* NULL: memory only */
    int fd;            /* the file, open for appending; -1 without */
    off_t size;        /* its length: only this store writes it */
    sr_buf out;        /* lines recorded and not flushed */
    uint64_t *pending; /* their hashes */
    size_t npending, pending_cap;
    sr_buf key; /* scratch: a key read from the file, unescaped */
};

/* ---- the table ---- */

static size_t home(const table *s, uint64_t h)
{
    return (size_t)(((unsigned __int128)h * s->cap) >> 64);
}

/* How far slot i is from the home of the entry in it. */
static size_t dist(const table *s, size_t i, uint64_t h)
{
    size_t at = home(s, h);
    return i >= at ? i - at : i + s->cap - at;
}

static size_t next_slot(const table *s, size_t i)
{
    return i + 1 == s->cap ? 0 : i + 1;
}

static slot *find_in(const table *s, uint64_t h)
{
    if (s->cap == 0)
        return NULL;
    size_t i = home(s, h);
    for (size_t d = 0;; d++) {
        slot *e = &s->slots[i];
        /* Robin Hood: the key would have taken the place of an entry nearer its home. */
        if (e->hash == 0 || dist(s, i, e->hash) < d)
            return NULL;
        if (e->hash == h)
            return e;
        i = next_slot(s, i);
    }
}

/* Put e (not in the table; room for it) in; returns where it landed. */
static slot *place(table *s, slot e)
{
    slot *landed = NULL;
    size_t i = home(s, e.hash);
    for (size_t d = 0;; d++) {
        slot *at = &s->slots[i];
        if (at->hash == 0) {
            *at = e;
            return landed != NULL ? landed : at;
        }
        size_t d_at = dist(s, i, at->hash);
        if (d_at < d) {
            slot t = *at;
            *at = e;
            e = t;
            d = d_at;
            if (landed == NULL)
                landed = at;
        }
        i = next_slot(s, i);
    }
}

/* Move every entry into a table of cap slots (cap > count). False when out of memory: the
 * table is as it was. */
static bool resize(table *s, size_t cap)
{
    slot *fresh = calloc(cap, sizeof *fresh);
    if (fresh == NULL)
        return false;
    slot *old = s->slots;
    size_t old_cap = s->cap;
    s->slots = fresh;
    s->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].hash != 0)
            place(s, old[i]);
    free(old);
    return true;
}

/* A new entry for h (not in the shard). NULL when out of memory. */
static slot *insert_in(table *s, uint64_t h)
{
    if ((double)(s->count + 1) > SEEN_MAX_LOAD * (double)s->cap) {
        size_t cap = s->cap < SEEN_MIN_SLOTS ? SEEN_MIN_SLOTS : (size_t)(s->cap * SEEN_GROWTH);
        if (!resize(s, cap))
            return NULL;
    }
    slot e = {.hash = h, .size = -1, .ns = NO_MTIME};
    s->count++;
    return place(s, e);
}

/* Take the entry at i out, moving the ones after it back (no tombstones). */
static void delete_at(table *s, size_t i)
{
    size_t j = next_slot(s, i);
    while (s->slots[j].hash != 0 && dist(s, j, s->slots[j].hash) > 0) {
        s->slots[i] = s->slots[j];
        i = j;
        j = next_slot(s, j);
    }
    s->slots[i].hash = 0;
    s->count--;
}

/* Drop the entries not listed for ttl and clear WRITTEN on the others; shrink a table left
 * mostly empty. Returns how many were dropped. */
static size_t expire_in(table *s, double now, double ttl)
{
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        /* An entry shifted back into i has not been looked at yet (or, wrapped round from
         * slot 0, was kept already): look again. */
        while (s->slots[i].hash != 0 && now - s->slots[i].time > ttl) {
            delete_at(s, i);
            n++;
        }
        s->slots[i].ns &= ~F_WRITTEN;
    }
    if (s->cap > SEEN_MIN_SLOTS && (double)s->count < (double)s->cap / 3) {
        size_t cap = (size_t)((double)s->count * SEEN_GROWTH / SEEN_MAX_LOAD) + 1;
        resize(s, cap < SEEN_MIN_SLOTS ? SEEN_MIN_SLOTS : cap); /* kept as is when it fails */
    }
    return n;
}

static table *shard_of(const sr_seen *s, uint64_t h)
{
    return (table *)&s->shards[h & (SEEN_SHARDS - 1)];
}

static slot *find(const sr_seen *s, uint64_t h)
{
    return find_in(shard_of(s, h), h);
}

static slot *insert(sr_seen *s, uint64_t h)
{
    slot *e = insert_in(shard_of(s, h), h);
    if (e != NULL)
        s->count++;
    return e;
}

static size_t expire(sr_seen *s, double now)
{
    size_t n = 0;
    for (size_t i = 0; i < SEEN_SHARDS; i++)
        n += expire_in(&s->shards[i], now, s->ttl);
    s->count -= n;
    return n;
}

static uint64_t hash_key(const sr_seen *s, const void *key, size_t len)
{
    uint64_t h = XXH3_64bits_withSeed(key, len, s->seed);
    return h != 0 ? h : 1;
}

/* ---- marks ---- */

/* The mark as a slot holds it: nanoseconds folded into range, any negative size unknown. */
static void set_mark(slot *e, const sr_seen_mark *m)
{
    e->ns = (e->ns & (F_WRITTEN | F_PENDING)) | NO_MTIME;
    if (m->has_mtime) {
        long long sec = m->mtime.tv_sec;
        long ns = m->mtime.tv_nsec;
        sec += ns / 1000000000L;
        ns %= 1000000000L;
        if (ns < 0) {
            ns += 1000000000L;
            sec--;
        }
        e->sec = sec;
        e->ns = (e->ns & ~NS_MASK) | (uint32_t)ns;
    }
    e->size = m->size < 0 ? -1 : m->size;
}

static bool same_mark(const slot *e, const sr_seen_mark *m)
{
    slot t = {0};
    set_mark(&t, m);
    return (e->ns & NS_MASK) == (t.ns & NS_MASK) && e->size == t.size &&
           ((t.ns & NS_MASK) == NO_MTIME || e->sec == t.sec);
}

/* ---- the file's lines ---- */

/* The escaped key word w[0..n) decoded into b (emptied first). False for a bad escape or a
 * byte that escaping would have encoded. */
static bool unescape_into(sr_buf *b, const char *w, size_t n)
{
    b->len = 0;
    if (!sr_buf_reserve(b, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == '%') {
            int hi = i + 2 < n ? sr_hex_value(w[i + 1]) : -1;
            int lo = i + 2 < n ? sr_hex_value(w[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        b->p[b->len++] = (char)c;
    }
    return true;
}

/* "<mtime> <size> <time> " of an entry onto b. */
static bool head_onto(sr_buf *b, const slot *e)
{
    char mtime[48] = "-", size[24] = "-";
    if ((e->ns & NS_MASK) != NO_MTIME)
        snprintf(mtime, sizeof mtime, "%lld.%09u", (long long)e->sec, e->ns & NS_MASK);
    if (e->size >= 0)
        snprintf(size, sizeof size, "%lld", (long long)e->size);
    return sr_buf_printf(b, "%s %s %.3f ", mtime, size, e->time);
}

/* Digits only, at most max: the value of w[0..n). */
static bool read_count(const char *w, size_t n, long long max, long long *out)
{
    if (n == 0)
        return false;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9')
            return false;
        int d = w[i] - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* One line as read from the file. */
typedef struct line {
    slot e;           /* hash, mark and time */
    const char *word; /* the key as written (escaped) */
    size_t word_len;
} line;

/* Read text[0..n) (a line without its '\n'). False when it is not an entry. */
static bool read_line(sr_seen *s, const char *text, size_t n, line *l)
{
    const char *w[4];
    size_t len[4];
    const char *p = text, *end = text + n;
    for (int i = 0; i < 4; i++) {
        const char *sp = i < 3 ? memchr(p, ' ', (size_t)(end - p)) : end;
        if (sp == NULL)
            return false;
        w[i] = p;
        len[i] = (size_t)(sp - p);
        p = sp + 1;
    }
    if (memchr(w[3], ' ', len[3]) != NULL)
        return false;
    memset(l, 0, sizeof *l);
    l->e.ns = NO_MTIME;
    l->e.size = -1;
    /* mtime: "-", or "[-]<seconds>.<9 digits>" */
    if (!(len[0] == 1 && w[0][0] == '-')) {
        const char *dot = memchr(w[0], '.', len[0]);
        bool neg = len[0] > 0 && w[0][0] == '-';
        long long sec, ns;
        if (dot == NULL || w[0] + len[0] - dot - 1 != 9 ||
            !read_count(w[0] + neg, (size_t)(dot - w[0]) - neg, INT64_MAX, &sec) ||
            !read_count(dot + 1, 9, 999999999, &ns))
            return false;
        l->e.sec = neg ? -sec : sec;
        l->e.ns = (uint32_t)ns;
    }
    if (!(len[1] == 1 && w[1][0] == '-')) {
        long long size;
        if (!read_count(w[1], len[1], INT64_MAX, &size))
            return false;
        l->e.size = size;
    }
    char t[40];
    if (len[2] == 0 || len[2] >= sizeof t)
        return false;
    memcpy(t, w[2], len[2]);
    t[len[2]] = '\0';
    char *t_end;
    errno = 0;
    l->e.time = strtod(t, &t_end);
    if (*t_end != '\0' || errno != 0 || !isfinite(l->e.time) || l->e.time < 0 ||
        !(t[0] >= '0' && t[0] <= '9'))
        return false;
    if (!unescape_into(&s->key, w[3], len[3]))
        return false;
    l->e.hash = hash_key(s, s->key.p, s->key.len);
    l->word = w[3];
    l->word_len = len[3];
    return true;
}

/* ---- the file ---- */

static int io_error(sr_err *err, const char *what, const char *path)
{
    return sr_err_set(err, SR_EIO, true, "seen file %s: %s: %s", path, what, strerror(errno));
}

static int oom(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

static void clear_pending(sr_seen *s)
{
    for (size_t i = 0; i < s->npending; i++) {
        slot *e = find(s, s->pending[i]);
        if (e != NULL)
            e->ns &= ~F_PENDING;
    }
    s->npending = 0;
}

int sr_seen_flush(sr_seen *s, sr_err *err)
{
    if (s->out.len == 0) {
        clear_pending(s);
        return SR_OK;
    }
    int rc = SR_OK;
    if (s->fd >= 0) {
        /* One write(2): the lines land whole or are cut off again, never half. */
        ssize_t n;
        do
            n = write(s->fd, s->out.p, s->out.len);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)s->out.len) {
            s->size += n;
        } else {
            if (n < 0)
                rc = io_error(err, "cannot append", s->path);
            else
                rc = sr_err_set(err, SR_EIO, true,
                                "seen file %s: cannot append: %zd of %zu bytes written", s->path, n,
                                s->out.len);
            /* Cut off what got written, so that the next line does not join a torn one.
             * The lines are dropped: their marks stay in memory for the next save. */
            if (ftruncate(s->fd, s->size) != 0) {
                struct stat st;
                if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode))
                    s->size = st.st_size;
            }
        }
    }
    s->out.len = 0;
    /* Written or dropped, the marks are announced: a save may write them now. */
    clear_pending(s);
    return rc;
}

/* Read the file into the table, the last line of a key winning. A missing file is an empty
 * store. */
static int load(sr_seen *s, double now, sr_seen_load_stats *st, sr_err *err)
{
    FILE *f = fopen(s->path, "re");
    if (f == NULL)
        return errno == ENOENT ? SR_OK : io_error(err, "cannot read", s->path);
    char *text = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = SR_OK;
    while ((n = getline(&text, &cap, f)) >= 0) {
        line l;
        /* a line without its '\n' is the torn end of an append */
        if (n == 0 || text[n - 1] != '\n' || !read_line(s, text, (size_t)n - 1, &l)) {
            st->malformed++;
            continue;
        }
        if (now - l.e.time > s->ttl) {
            st->expired++;
            continue;
        }
        slot *e = find(s, l.e.hash);
        if (e == NULL && (e = insert(s, l.e.hash)) == NULL) {
            rc = oom(err);
            break;
        }
        *e = l.e;
    }
    if (rc == SR_OK && ferror(f))
        rc = io_error(err, "cannot read", s->path);
    free(text);
    fclose(f);
    return rc;
}

/* Write out[0..) to fd when it is full enough (or force). */
static bool spill(int fd, sr_buf *out, off_t *size, bool force)
{
    if (out->len == 0 || (!force && out->len < SEEN_CHUNK_BYTES))
        return true;
    if (!sr_write_all(fd, out->p, out->len))
        return false;
    *size += (off_t)out->len;
    out->len = 0;
    return true;
}

/* Stream the old file into <path>.tmp: each live entry once, at its first line, with its
 * mark and time from memory; a pending entry's old lines as they were (while not expired);
 * lines of forgotten entries and malformed ones left out. Then fsync, rename, and append
 * to the new file. WRITTEN must be clear on every entry. */
static int rewrite(sr_seen *s, double now, sr_err *err)
{
    char *tmp = sr_strdup_printf("%s.tmp", s->path);
    if (tmp == NULL)
        return oom(err);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = io_error(err, "cannot create", tmp);
        free(tmp);
        return rc;
    }
    int rc = SR_OK;
    FILE *f = fopen(s->path, "re");
    if (f == NULL && errno != ENOENT)
        rc = io_error(err, "cannot read", s->path);
    sr_buf b = {0};
    off_t size = 0;
    char *text = NULL;
    size_t cap = 0;
    ssize_t n;
    while (rc == SR_OK && f != NULL && (n = getline(&text, &cap, f)) >= 0) {
        line l;
        if (n == 0 || text[n - 1] != '\n' || !read_line(s, text, (size_t)n - 1, &l))
            continue;
        slot *e = find(s, l.e.hash);
        if (e == NULL)
            continue;
        bool ok = true;
        if (e->ns & F_PENDING) {
            if (now - l.e.time <= s->ttl)
                ok = sr_buf_add(&b, text, (size_t)n);
        } else if (!(e->ns & F_WRITTEN)) {
            e->ns |= F_WRITTEN;
            ok = head_onto(&b, e) && sr_buf_add(&b, l.word, l.word_len) && sr_buf_add(&b, "\n", 1);
        }
        if (!ok)
            rc = oom(err);
        else if (!spill(fd, &b, &size, false))
            rc = io_error(err, "cannot write", tmp);
    }
    if (rc == SR_OK && f != NULL && ferror(f))
        rc = io_error(err, "cannot read", s->path);
    if (rc == SR_OK && !spill(fd, &b, &size, true))
        rc = io_error(err, "cannot write", tmp);
    free(text);
    free(b.p);
    if (f != NULL)
        fclose(f);
    if (rc == SR_OK && fsync(fd) != 0)
        rc = io_error(err, "cannot fsync", tmp);
    if (rc == SR_OK && rename(tmp, s->path) != 0)
        rc = io_error(err, "cannot rename to it", tmp);
    if (rc != SR_OK) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    sr_sync_parent_dir(s->path);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    s->size = size;
    return SR_OK;
}

/* ---- the API ---- */

static uint64_t new_seed(const sr_seen *s)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    /* No entropy yet (early boot) or no getrandom: something no server can guess ahead. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return XXH3_64bits_withSeed(&ts, sizeof ts, (uint64_t)getpid() ^ (uint64_t)(uintptr_t)s);
}

int sr_seen_open(const char *path, double ttl, double now, sr_seen **out, sr_seen_load_stats *stats,
                 sr_err *err)
{
    *out = NULL;
    sr_seen_load_stats st = {0};
    if (stats != NULL)
        *stats = st;
    if (!(ttl > 0) || !isfinite(ttl))
        return sr_err_set(err, SR_EINVAL, false, "nodupe_ttl %g: must be more than 0", ttl);
    sr_seen *s = calloc(1, sizeof *s);
    if (s == NULL)
        return oom(err);
    s->ttl = ttl;
    s->fd = -1;
    s->seed = new_seed(s);
    if (path != NULL) {
        int rc = SR_OK;
        if ((s->path = strdup(path)) == NULL)
            rc = oom(err);
        if (rc == SR_OK)
            rc = load(s, now, &st, err);
        if (rc == SR_OK)
            rc = rewrite(s, now, err);
        if (rc != SR_OK) {
            sr_seen_free(s);
            return rc;
        }
    }
    st.loaded = s->count;
    if (stats != NULL)
        *stats = st;
    *out = s;
    return SR_OK;
}

void sr_seen_free(sr_seen *s)
{
    if (s == NULL)
        return;
    sr_seen_flush(s, NULL);
    if (s->fd >= 0)
        close(s->fd);
    for (size_t i = 0; i < SEEN_SHARDS; i++)
        free(s->shards[i].slots);
    free(s->out.p);
    free(s->pending);
    free(s->key.p);
    free(s->path);
    free(s);
}

enum sr_seen_state sr_seen_look(sr_seen *s, const char *key, size_t len, const sr_seen_mark *mark,
                                double now)
{
    slot *e = find(s, hash_key(s, key, len));
    /* sr3: a duplicate while seen within ttl; an entry older than that is forgotten, even
     * before a save drops it. */
    if (e == NULL || now - e->time > s->ttl)
        return SR_SEEN_NEW;
    if (!same_mark(e, mark))
        return SR_SEEN_CHANGED;
    e->time = now;
    return SR_SEEN_SAME;
}

int sr_seen_record(sr_seen *s, const char *key, size_t len, const sr_seen_mark *mark, double now,
                   sr_err *err)
{
    uint64_t h = hash_key(s, key, len);
    size_t old_len = s->out.len;
    slot line_mark = {.hash = h, .time = now};
    set_mark(&line_mark, mark);
    if (s->fd >= 0) {
        /* The line first: nothing has changed yet when memory runs out. */
        if (s->npending == s->pending_cap) {
            size_t cap = s->pending_cap ? 2 * s->pending_cap : 64;
            uint64_t *p = realloc(s->pending, cap * sizeof *p);
            if (p == NULL)
                return oom(err);
            s->pending = p;
            s->pending_cap = cap;
        }
        if (!head_onto(&s->out, &line_mark) || !sr_buf_add_escaped(&s->out, key, len) ||
            !sr_buf_add(&s->out, "\n", 1)) {
            s->out.len = old_len;
            return oom(err);
        }
    }
    slot *e = find(s, h);
    if (e == NULL && (e = insert(s, h)) == NULL) {
        s->out.len = old_len;
        return oom(err);
    }
    e->time = now;
    set_mark(e, mark);
    if (s->fd >= 0) {
        e->ns |= F_PENDING;
        s->pending[s->npending++] = h;
    }
    return SR_OK;
}

int sr_seen_save(sr_seen *s, double now, size_t *expired, sr_err *err)
{
    size_t n = expire(s, now);
    if (expired != NULL)
        *expired = n;
    return s->path == NULL ? SR_OK : rewrite(s, now, err);
}

size_t sr_seen_count(const sr_seen *s)
{
    return s->count;
}
