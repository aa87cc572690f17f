/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nodupe: see nodupe.h.
 *
 * Invariants: every entry is in the hash table (keyed by "<key>\0<path>", or by "<key>"
 * alone for an entry of a message with a data_id) and in the LRU list, oldest refresh
 * first, so expiry stops at the first entry still young. The two kinds of hash key never
 * meet: only the first holds a NUL. The file holds at least what memory held at the last
 * save plus every line appended since; its lines may repeat an entry (each refresh
 * appends one), and the loader keeps the newest.
 */
#include "nodupe.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* uthash must not exit() when malloc fails: a failed add leaves hh.tbl NULL instead. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>
#include <utlist.h>

#include "buf.h"
#include "identity.h"
#include "paths.h"
#include "timefmt.h"

/* Buffered lines are written once they reach this many bytes. */
#define NODUPE_FLUSH_BYTES (64u * 1024u)

/* What the key of a message with a data_id starts with. Its line in the file has a fourth
 * word, the pubTime, which no other line has: the two say together which kind it is. */
#define DATA_ID_KEY "data_id,"

typedef struct entry {
    UT_hash_handle hh;
    struct entry *prev, *next; /* LRU list (utlist: head->prev is the tail) */
    double time;               /* last refresh */
    unsigned key_len;          /* blob = key '\0' path '\0' */
    unsigned blob_len;         /* key_len + 1 + path length */
    unsigned hash_len;         /* what the hash covers: blob_len, or key_len (by_data_id) */
    bool by_data_id;           /* keyed on a data_id: ref is the newest pubTime seen */
    struct timespec ref;
    char blob[];
} entry;

typedef sr_buf buf;

struct sr_nodupe {
    entry *table; /* uthash head */
    entry *lru;   /* utlist head: oldest */
    size_t count;
    double ttl;
    enum sr_nodupe_basis basis;
    int flags;
    char *path; /* NULL: memory only */
    int fd;     /* the cache file, open for appending; -1 without */
    off_t size; /* its length: only this cache writes it */
    buf out;    /* lines not yet written */
    buf key;    /* scratch: the blob of the message being checked */
};

/* ---- growable buffers ---- */

/* ---- keys ---- */

static const char *skip_slashes(const char *p)
{
    while (*p == '/')
        p++;
    return p;
}

/* The file name of a relPath: after the last '/', ignoring trailing ones. */
static void file_name(const char *rel, const char **name, size_t *len)
{
    rel = skip_slashes(rel);
    size_t n = strlen(rel);
    while (n > 0 && rel[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && rel[start - 1] != '/')
        start--;
    *name = rel + start;
    *len = n - start;
}

/* The derived key (sr3's deriveKey, with the exceptions nodupe.h lists) onto b. */
static bool derive_key(const sr_message *m, buf *b)
{
    const char *rel = skip_slashes(sr_message_rel_path(m));
    sr_fileop op;
    bool fileop = sr_message_fileop(m, &op);
    /* A file's rename that carries the identity of what is now at relPath is keyed as
     * that file: an HA pair's two announcements of it are one, and so is a restarted
     * watch's announcement of the file it finds there (sr3 keys a rename by pubTime). */
    bool renamed_file = fileop && op.rename != NULL && !op.directory && op.link == NULL &&
                        !op.remove;
    if (fileop && !renamed_file) {
        if (op.link != NULL)
            return sr_buf_str(b, op.link);
        if (op.directory && !op.remove)
            return sr_buf_str(b, rel);
        /* A folder's removal: its relPath alone (with a mark, not to be the duplicate of
         * its creation). sr3 keys it by pubTime, which no two watches share, so an HA
         * pair's two announcements of one rmdir both pass a winnow; a folder has no mtime
         * that both would agree on either. */
        if (op.directory && op.remove)
            return sr_buf_str(b, rel) && sr_buf_str(b, ",rmdir");
    } else {
        sr_identity id;
        if (sr_message_identity(m, &id) && id.method != SR_ID_COD && id.method != SR_ID_RANDOM) {
            size_t n = strlen(id.value);
            if (!sr_buf_str(b, sr_identity_method_name(id.method)) || !sr_buf_add(b, ",", 1) ||
                !sr_buf_reserve(b, n))
                return false;
            for (const char *p = id.value; *p; p++)
                if (*p != '\n' && *p != '\r')
                    b->p[b->len++] = *p;
            return true;
        }
    }
    const char *t = sr_message_str(m, "mtime");
    if (t == NULL)
        t = sr_message_pub_time(m);
    if (!sr_buf_str(b, rel) || !sr_buf_add(b, ",", 1) || !sr_buf_str(b, t))
        return false;
    long long size;
    if (sr_message_size(m, &size)) {
        char num[32];
        int n = snprintf(num, sizeof num, ",%lld", size);
        return sr_buf_add(b, num, (size_t)n);
    }
    return true;
}

/* The data_id m is keyed on (nodupe.h), or NULL: not when the caller gives a key or a
 * path of its own. */
static const char *data_id_of(const sr_message *m, const sr_nodupe_hint *hint)
{
    if (hint != NULL && (hint->key != NULL || hint->path != NULL))
        return NULL;
    const char *id = sr_message_str(m, "data_id");
    return id != NULL && id[0] != '\0' ? id : NULL;
}

/* "<key>\0<path>" into b (emptied first); *key_len is the key's length. */
static bool derive(const sr_message *m, enum sr_nodupe_basis basis, const sr_nodupe_hint *hint,
                   buf *b, size_t *key_len)
{
    b->len = 0;
    const char *name = NULL;
    size_t name_len = 0;
    const char *data_id = data_id_of(m, hint);
    if (data_id != NULL)
        basis = SR_NODUPE_PATH; /* the path is only shown: the key alone is looked up */
    if (basis == SR_NODUPE_NAME)
        file_name(sr_message_rel_path(m), &name, &name_len);
    bool ok;
    if (hint != NULL && hint->key != NULL)
        ok = sr_buf_str(b, hint->key);
    else if (data_id != NULL)
        ok = sr_buf_str(b, DATA_ID_KEY) && sr_buf_str(b, data_id);
    else if (basis == SR_NODUPE_NAME)
        ok = sr_buf_add(b, name, name_len);
    else
        ok = derive_key(m, b);
    sr_blocks blocks;
    if (ok && (hint == NULL || hint->key == NULL) && sr_message_blocks(m, &blocks)) {
        /* Each block of a partitioned file is a product of its own: two blocks with the
         * same content (zeros, say) are not duplicates of each other. */
        char num[32];
        int n = snprintf(num, sizeof num, ",block %lld", blocks.number);
        ok = sr_buf_add(b, num, (size_t)n);
    }
    if (!ok)
        return false;
    *key_len = b->len;
    if (!sr_buf_add(b, "", 1))
        return false;
    if (hint != NULL && hint->path != NULL)
        ok = sr_buf_str(b, hint->path);
    else if (basis == SR_NODUPE_DATA)
        ok = sr_buf_str(b, "data");
    else if (basis == SR_NODUPE_NAME)
        ok = sr_buf_add(b, name, name_len);
    else
        ok = sr_buf_str(b, skip_slashes(sr_message_rel_path(m)));
    return ok && sr_buf_add(b, "", 1);
}

int sr_nodupe_derive(const sr_message *msg, enum sr_nodupe_basis basis, const sr_nodupe_hint *hint,
                     char **key, char **path, sr_err *err)
{
    *key = *path = NULL;
    buf b = {0};
    size_t key_len;
    if (derive(msg, basis, hint, &b, &key_len)) {
        *key = strdup(b.p);
        *path = strdup(b.p + key_len + 1);
    }
    free(b.p);
    if (*key == NULL || *path == NULL) {
        free(*key);
        free(*path);
        *key = *path = NULL;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    return SR_OK;
}

/* ---- the file's lines ---- */

/* "<key> <time> <path>\n", and " <pubTime>" before the newline for an entry keyed on a
 * data_id (sr3 reads the first three words of a line and ignores the rest). */
static bool line_onto(buf *b, const entry *e)
{
    char t[48], ref[SR_TIME_MAX + 1] = "";
    int n = snprintf(t, sizeof t, " %.6f ", e->time);
    if (e->by_data_id) {
        ref[0] = ' ';
        if (sr_time_format(&e->ref, true, ref + 1, sizeof ref - 1) < 0)
            ref[0] = '\0'; /* cannot happen: ref came from a time that parsed */
    }
    return sr_buf_add_escaped(b, e->blob, e->key_len) && sr_buf_add(b, t, (size_t)n) &&
           sr_buf_add_escaped(b, e->blob + e->key_len + 1, e->blob_len - e->key_len - 1) &&
           sr_buf_str(b, ref) && sr_buf_add(b, "\n", 1);
}

/* Decode the percent escapes of s[0..n) in place; the new length, or -1 for a bad one. */
static long unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            s[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? sr_hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? sr_hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        s[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    return (long)o;
}

/* ---- the table ---- */

static void drop(sr_nodupe *c, entry *e)
{
    HASH_DELETE(hh, c->table, e);
    DL_DELETE(c->lru, e);
    c->count--;
    free(e);
}

/* Refresh e to time t and make it the newest. */
static void touch(sr_nodupe *c, entry *e, double t)
{
    e->time = t;
    DL_DELETE(c->lru, e);
    DL_APPEND(c->lru, e);
}

/* A new entry for blob ("<key>\0<path>", blob_len bytes without the final NUL) at time t,
 * the newest; ref not NULL: keyed on the key alone (a data_id), with that pubTime. NULL
 * when out of memory. */
static entry *insert(sr_nodupe *c, const char *blob, size_t key_len, size_t blob_len, double t,
                     const struct timespec *ref)
{
    entry *e = malloc(sizeof *e + blob_len + 1);
    if (e == NULL)
        return NULL;
    e->time = t;
    e->key_len = (unsigned)key_len;
    e->blob_len = (unsigned)blob_len;
    e->by_data_id = ref != NULL;
    e->hash_len = ref != NULL ? e->key_len : e->blob_len;
    e->ref = ref != NULL ? *ref : (struct timespec){0};
    memcpy(e->blob, blob, blob_len);
    e->blob[blob_len] = '\0';
    HASH_ADD_KEYPTR(hh, c->table, e->blob, e->hash_len, e);
    if (e->hh.tbl == NULL) { /* uthash could not grow */
        free(e);
        return NULL;
    }
    DL_APPEND(c->lru, e);
    c->count++;
    return e;
}

static entry *find(const sr_nodupe *c, const char *blob, size_t blob_len)
{
    entry *e = NULL;
    HASH_FIND(hh, c->table, blob, (unsigned)blob_len, e);
    return e;
}

size_t sr_nodupe_expire(sr_nodupe *c, double now)
{
    size_t n = 0;
    while (c->lru != NULL && now - c->lru->time > c->ttl) {
        drop(c, c->lru);
        n++;
    }
    return n;
}

size_t sr_nodupe_count(const sr_nodupe *c)
{
    return c->count;
}

/* ---- the file ---- */

static int io_error(sr_err *err, const char *what, const char *path)
{
    return sr_err_set(err, SR_EIO, true, "nodupe cache %s: %s: %s", path, what, strerror(errno));
}

int sr_nodupe_flush(sr_nodupe *c, sr_err *err)
{
    if (c->out.len == 0)
        return SR_OK;
    if (c->fd < 0) {
        c->out.len = 0;
        return SR_OK;
    }
    if (sr_write_all(c->fd, c->out.p, c->out.len)) {
        c->size += (off_t)c->out.len;
        c->out.len = 0;
        return SR_OK;
    }
    int rc = io_error(err, "cannot append", c->path);
    /* Cut off what got written, so the next line does not join a torn one. The lines are
     * dropped: memory holds their entries and the next save rewrites the file from memory
     * (keeping them would grow without bound on a full disk). */
    if (ftruncate(c->fd, c->size) != 0) {
        struct stat st;
        if (fstat(c->fd, &st) == 0)
            c->size = st.st_size;
    }
    c->out.len = 0;
    return rc;
}

/* Read the file into the table: lines that are expired or malformed are counted and
 * skipped. A missing file is an empty cache. */
static int load(sr_nodupe *c, double now, sr_nodupe_load_stats *st, sr_err *err)
{
    FILE *f = fopen(c->path, "r");
    if (f == NULL)
        return errno == ENOENT ? SR_OK : io_error(err, "cannot read", c->path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = SR_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        char *sp1 = memchr(line, ' ', (size_t)n);
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line + n - sp1 - 1)) : NULL;
        /* a fourth word: the pubTime of an entry keyed on a data_id */
        char *sp3 = sp2 ? memchr(sp2 + 1, ' ', (size_t)(line + n - sp2 - 1)) : NULL;
        struct timespec ref = {0};
        if (sp2 == NULL ||
            (sp3 != NULL && (memchr(sp3 + 1, ' ', (size_t)(line + n - sp3 - 1)) != NULL ||
                             strncmp(line, DATA_ID_KEY, strlen(DATA_ID_KEY)) != 0 ||
                             sr_time_parse(sp3 + 1, &ref, NULL) != SR_OK))) {
            st->malformed++;
            continue;
        }
        if (sp3 != NULL) {
            *sp3 = '\0';
            n = sp3 - line;
        }
        *sp1 = *sp2 = '\0';
        char *end;
        errno = 0;
        double t = strtod(sp1 + 1, &end);
        long key_len = unescape(line, (size_t)(sp1 - line));
        long path_len = unescape(sp2 + 1, (size_t)(line + n - sp2 - 1));
        if (end == sp1 + 1 || *end != '\0' || errno != 0 || !isfinite(t) || t < 0 || key_len < 0 ||
            path_len < 0) {
            st->malformed++;
            continue;
        }
        if (now - t > c->ttl) {
            st->expired++;
            continue;
        }
        /* Make the blob "<key>\0<path>" in place: the path moves next to the key. */
        memmove(line + key_len + 1, sp2 + 1, (size_t)path_len);
        line[key_len] = '\0';
        size_t blob_len = (size_t)key_len + 1 + (size_t)path_len;
        entry *e = find(c, line, sp3 != NULL ? (size_t)key_len : blob_len);
        if (e != NULL) { /* a refresh appended later: keep the newest time */
            if (t >= e->time) {
                touch(c, e, t);
                if (sp3 != NULL)
                    e->ref = ref;
            }
        } else if (insert(c, line, (size_t)key_len, blob_len, t, sp3 ? &ref : NULL) == NULL) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
    }
    if (rc == SR_OK && ferror(f))
        rc = io_error(err, "cannot read", c->path);
    free(line);
    fclose(f);
    return rc;
}

static int by_time(const entry *a, const entry *b)
{
    return a->time < b->time ? -1 : a->time > b->time ? 1 : 0;
}

/* Rewrite the file from memory (tmp, fsync, rename) and append to the new one. */
static int rewrite(sr_nodupe *c, sr_err *err)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", c->path) < 0)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = io_error(err, "cannot create", tmp);
        free(tmp);
        return rc;
    }
    buf b = {0};
    int rc = SR_OK;
    off_t size = 0;
    for (const entry *e = c->lru; e != NULL; e = e->next) {
        if (!line_onto(&b, e)) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
        if (b.len >= NODUPE_FLUSH_BYTES || e->next == NULL) {
            if (!sr_write_all(fd, b.p, b.len)) {
                rc = io_error(err, "cannot write", tmp);
                break;
            }
            size += (off_t)b.len;
            b.len = 0;
        }
    }
    free(b.p);
    if (rc == SR_OK && fsync(fd) != 0)
        rc = io_error(err, "cannot fsync", tmp);
    if (rc == SR_OK && rename(tmp, c->path) != 0)
        rc = io_error(err, "cannot rename to", tmp);
    if (rc != SR_OK) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    sr_sync_parent_dir(c->path);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = fd;
    c->size = size;
    c->out.len = 0; /* memory, now in the file, already holds what they said */
    return SR_OK;
}

int sr_nodupe_save(sr_nodupe *c, double now, size_t *expired, sr_err *err)
{
    size_t n = sr_nodupe_expire(c, now);
    if (expired != NULL)
        *expired = n;
    return c->path == NULL ? SR_OK : rewrite(c, err);
}

int sr_nodupe_new(const char *path, double ttl, enum sr_nodupe_basis basis, int flags, double now,
                  sr_nodupe **out, sr_nodupe_load_stats *stats, sr_err *err)
{
    *out = NULL;
    sr_nodupe_load_stats st = {0};
    if (stats != NULL)
        *stats = st;
    if (!(ttl > 0) || !isfinite(ttl))
        return sr_err_set(err, SR_EINVAL, false, "nodupe_ttl %g: must be more than 0", ttl);
    sr_nodupe *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    c->ttl = ttl;
    c->basis = basis;
    c->flags = flags;
    c->fd = -1;
    if (path != NULL) {
        c->path = strdup(path);
        if (c->path == NULL) {
            sr_nodupe_free(c);
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        }
        int rc = load(c, now, &st, err);
        if (rc == SR_OK) {
            DL_SORT(c->lru, by_time); /* lines need not come in time order */
            rc = rewrite(c, err);
        }
        if (rc != SR_OK) {
            sr_nodupe_free(c);
            return rc;
        }
    }
    st.loaded = c->count;
    if (stats != NULL)
        *stats = st;
    *out = c;
    return SR_OK;
}

void sr_nodupe_free(sr_nodupe *c)
{
    if (c == NULL)
        return;
    sr_nodupe_flush(c, NULL);
    if (c->fd >= 0)
        close(c->fd);
    entry *e, *tmp;
    HASH_ITER(hh, c->table, e, tmp)
    {
        HASH_DELETE(hh, c->table, e);
        free(e);
    }
    free(c->out.p);
    free(c->key.p);
    free(c->path);
    free(c);
}

int sr_nodupe_check(sr_nodupe *c, const sr_message *msg, const sr_nodupe_hint *hint, double now,
                    bool *duplicate, sr_err *err)
{
    *duplicate = false;
    size_t key_len;
    if (!derive(msg, c->basis, hint, &c->key, &key_len))
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    size_t blob_len = c->key.len - 1;
    /* A WIS2 message's data_id names the product: when it was seen with the same or a
     * later pubTime this is a duplicate; a later pubTime makes it an update (nodupe.h). */
    struct timespec pub = {0};
    bool by_data_id = data_id_of(msg, hint) != NULL &&
                      sr_time_parse(sr_message_pub_time(msg), &pub, NULL) == SR_OK;
    entry *e = find(c, c->key.p, by_data_id ? key_len : blob_len);
    bool retry = hint != NULL && hint->retry;
    /* sr3: a duplicate when seen within ttl, i.e. last time + ttl >= now. */
    bool seen = e != NULL && now - e->time <= c->ttl;
    bool dup = seen && !retry && (!by_data_id || sr_time_cmp(&pub, &e->ref) <= 0);
    if (e != NULL) {
        touch(c, e, now);
        if (by_data_id && (!seen || sr_time_cmp(&pub, &e->ref) > 0))
            e->ref = pub;
    } else if ((e = insert(c, c->key.p, key_len, blob_len, now, by_data_id ? &pub : NULL)) ==
               NULL) {
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    *duplicate = dup;
    if (c->fd < 0)
        return SR_OK;
    if (!line_onto(&c->out, e)) {
        *duplicate = false;
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    if (!(c->flags & SR_NODUPE_BUFFERED) || c->out.len >= NODUPE_FLUSH_BYTES)
        return sr_nodupe_flush(c, err);
    return SR_OK;
}
