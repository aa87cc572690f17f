/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * retryq: see retryq.h.
 *
 * Invariants: q->e holds every entry of the file's current state sorted by id (dead ones
 * until the next compaction); each live entry's message is the JSON at [off, off+len) of
 * the file q->fd has open; q->heap holds exactly the queued entries (by index into q->e),
 * soonest first; q->size is the file's length, since only this queue writes it. Memory is
 * reserved before a line is written, so a line written is always an entry in memory.
 */
#include "retryq.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "identity.h"
#include "paths.h"
#include "timefmt.h"

/* Compaction writes in pieces of this size. */
#define RETRYQ_WRITE_BYTES (64u * 1024u)

enum { QUEUED, FLIGHT, DEAD };

typedef struct rq_entry {
    uint64_t id;
    off_t off;    /* the message's JSON; while loading, the whole line */
    size_t len;   /* its length */
    double first; /* added */
    double next;  /* may be taken from */
    double pub;   /* pubTime */
    unsigned attempts;
    unsigned char state;
    unsigned char dkey[16]; /* digest of the duplicate test's fields */
    char *error;            /* sanitised; NULL for none */
} rq_entry;

typedef sr_buf buf;

struct sr_retryq {
    char *path;
    int fd;
    off_t size; /* of the file */
    bool dirty; /* written since the last sync */
    sr_retryq_options opts;
    rq_entry *e; /* sorted by id */
    size_t n, cap;
    size_t live, flight;
    size_t *heap; /* indices into e of the queued entries; room for cap */
    size_t heap_n;
    uint64_t next_id;
    size_t unreadable;
    buf line; /* scratch */
};

/* ---- small helpers ---- */

static int nomem(sr_err *err)
{
    return sr_err_set(err, SR_ENOMEM, false, "out of memory");
}

static int io_error(sr_err *err, const char *what, const char *path)
{
    return sr_err_set(err, SR_EIO, true, "retry queue %s: %s: %s", path, what, strerror(errno));
}

static bool read_all(int fd, char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the file is shorter than the entry says */
            return false;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return true;
}

/* An error text fit for the file: cut to SR_RETRYQ_ERROR_MAX at a character boundary,
 * control characters as spaces, and bytes past ASCII as '?' unless it is valid UTF-8.
 * NULL for none or when out of memory (the text is a nicety, not worth failing for). */
static char *clean_error(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return NULL;
    size_t n = strlen(text);
    if (n > SR_RETRYQ_ERROR_MAX) {
        n = SR_RETRYQ_ERROR_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    char *s = strndup(text, n);
    if (s == NULL)
        return NULL;
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    json_t *probe = json_string(s); /* jansson checks UTF-8 */
    if (probe == NULL) {
        for (char *p = s; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    }
    json_decref(probe);
    return s;
}

/* s as a JSON string: a clean_error text needs only '"' and '\' escaped. */
static bool quote_onto(buf *b, const char *s)
{
    if (!sr_buf_add(b, "\"", 1))
        return false;
    for (; s != NULL && *s; s++) {
        if ((*s == '"' || *s == '\\') && !sr_buf_add(b, "\\", 1))
            return false;
        if (!sr_buf_add(b, s, 1))
            return false;
    }
    return sr_buf_add(b, "\"", 1);
}

static double delay(const sr_retryq_options *o, unsigned attempts)
{
    double d = o->delay_min;
    for (unsigned i = 1; i < attempts && d < o->delay_max; i++)
        d *= 2;
    return d < o->delay_max ? d : o->delay_max;
}

/* The digest of what makes two entries duplicates (sr3's DiskQueue.in_cache): baseUrl +
 * relPath, then the fileOp, or else the identity, or else the pubTime; and the block. */
static bool dedupe_key(const sr_message *m, unsigned char out[16], buf *b)
{
    b->len = 0;
    const char *base = sr_message_base_url(m), *rel = sr_message_rel_path(m);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    while (*rel == '/')
        rel++;
    bool ok = sr_buf_add(b, base, blen) && sr_buf_add(b, "/", 1) && sr_buf_add(b, rel, strlen(rel) + 1);
    sr_fileop op;
    sr_identity id;
    if (sr_message_fileop(m, &op)) {
        ok = ok && sr_buf_printf(b, "op:%d%d", op.remove, op.directory);
        const char *parts[] = {op.link, op.hlink, op.rename};
        for (size_t i = 0; i < 3; i++)
            ok = ok && sr_buf_add(b, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) + 1 : 1);
    } else if (sr_message_identity(m, &id)) {
        ok = ok && sr_buf_printf(b, "id:%s,", sr_identity_method_name(id.method));
        for (const char *p = id.value; ok && *p; p++)
            if (*p != '\n' && *p != '\r')
                ok = sr_buf_add(b, p, 1);
    } else {
        const char *pub = sr_message_pub_time(m);
        ok = ok && sr_buf_add(b, "pub:", 4) && sr_buf_add(b, pub, strlen(pub));
    }
    sr_blocks blk;
    if (ok && sr_message_blocks(m, &blk))
        ok = sr_buf_printf(b, "\nblock:%lld", blk.number);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!ok || EVP_Digest(b->p, b->len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
        return false;
    memcpy(out, md, 16);
    return true;
}

static double pub_time(const sr_message *m, double fallback)
{
    struct timespec t;
    if (sr_time_parse(sr_message_pub_time(m), &t, NULL) != SR_OK)
        return fallback;
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the entries and the heap ---- */

/* Room for more entries. The heap grows with the entries, so it always has a slot for
 * each of them: pushing an entry back (again, release) never allocates. */
static bool reserve_entries(sr_retryq *q, size_t more)
{
    if (q->n + more <= q->cap)
        return true;
    size_t cap = q->cap ? q->cap * 2 : 64;
    while (cap < q->n + more)
        cap *= 2;
    size_t *h = realloc(q->heap, cap * sizeof *h);
    if (h == NULL)
        return false;
    q->heap = h;
    rq_entry *e = realloc(q->e, cap * sizeof *e);
    if (e == NULL)
        return false;
    q->e = e;
    q->cap = cap;
    return true;
}

/* The index of entry id, or -1. */
static long find(const sr_retryq *q, uint64_t id)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < q->n && q->e[lo].id == id ? (long)lo : -1;
}

static bool sooner(const sr_retryq *q, size_t a, size_t b)
{
    const rq_entry *x = &q->e[a], *y = &q->e[b];
    return x->next < y->next || (x->next == y->next && x->id < y->id);
}

static void heap_swap(sr_retryq *q, size_t i, size_t j)
{
    size_t t = q->heap[i];
    q->heap[i] = q->heap[j];
    q->heap[j] = t;
}

static void sift_down(sr_retryq *q, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->heap_n && sooner(q, q->heap[l], q->heap[m]))
            m = l;
        if (r < q->heap_n && sooner(q, q->heap[r], q->heap[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(q, i, m);
        i = m;
    }
}

static void heap_push(sr_retryq *q, size_t index)
{
    size_t i = q->heap_n++;
    q->heap[i] = index;
    while (i > 0 && sooner(q, q->heap[i], q->heap[(i - 1) / 2])) {
        heap_swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static size_t heap_pop(sr_retryq *q)
{
    size_t top = q->heap[0];
    q->heap[0] = q->heap[--q->heap_n];
    sift_down(q, 0);
    return top;
}

static void heap_rebuild(sr_retryq *q)
{
    q->heap_n = 0;
    for (size_t i = 0; i < q->n; i++)
        if (q->e[i].state == QUEUED)
            q->heap[q->heap_n++] = i;
    for (size_t i = q->heap_n / 2; i-- > 0;)
        sift_down(q, i);
}

static void kill_entry(sr_retryq *q, rq_entry *e)
{
    if (e->state == FLIGHT)
        q->flight--;
    e->state = DEAD;
    free(e->error);
    e->error = NULL;
    q->live--;
}

/* ---- lines ---- */

/* Append a line to the file. A failed write is cut off again, so the next line does not
 * join a torn one. */
static int append(sr_retryq *q, const char *line, size_t len, sr_err *err)
{
    if (!sr_write_all(q->fd, line, len)) {
        int rc = io_error(err, "cannot append", q->path);
        if (ftruncate(q->fd, q->size) != 0) {
            struct stat st;
            if (fstat(q->fd, &st) == 0)
                q->size = st.st_size;
        }
        return rc;
    }
    q->size += (off_t)len;
    q->dirty = true;
    return SR_OK;
}

/* An entry's "retry" line for message JSON msg into b (emptied first); *msg_at is where
 * msg starts in the line. */
static bool entry_line(buf *b, const rq_entry *e, const char *msg, size_t len, size_t *msg_at)
{
    b->len = 0;
    bool ok = sr_buf_printf(b, "{\"retry\":{\"id\":%llu,\"first\":%.6f,\"attempts\":%u,\"next\":%.6f,",
                      (unsigned long long)e->id, e->first, e->attempts, e->next) &&
              sr_buf_add(b, "\"error\":", 8) && quote_onto(b, e->error) &&
              sr_buf_add(b, "},\"message\":", 12);
    *msg_at = b->len;
    return ok && sr_buf_add(b, msg, len) && sr_buf_add(b, "}\n", 2);
}

/* ---- compaction ---- */

/* The message JSON of a line as the loader left it (off/len cover the whole line). */
static char *message_of_line(sr_retryq *q, const rq_entry *e)
{
    q->line.len = 0;
    if (!sr_buf_reserve(&q->line, e->len + 1) || !read_all(q->fd, q->line.p, e->len, e->off))
        return NULL;
    json_t *o = json_loadb(q->line.p, e->len, 0, NULL);
    char *text =
        o ? json_dumps(json_object_get(o, "message"), JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* Write the live entries to <path>.tmp, fsync it and rename it over the file; then the
 * entries point into it and the dead ones are gone. whole_lines: the entries still point
 * at whole lines (just loaded). On error nothing changed. */
static int compact(sr_retryq *q, bool whole_lines, sr_err *err)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", q->path) < 0)
        return nomem(err);
    off_t *offs = malloc((q->n ? q->n : 1) * sizeof *offs);
    size_t *lens = malloc((q->n ? q->n : 1) * sizeof *lens);
    int fd = -1, rc = SR_OK;
    buf out = {0}, msgbuf = {0}, line = {0};
    if (offs == NULL || lens == NULL) {
        rc = nomem(err);
        goto done;
    }
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = io_error(err, "cannot create", tmp);
        goto done;
    }
    off_t size = 0;
    for (size_t i = 0; i < q->n && rc == SR_OK; i++) {
        rq_entry *e = &q->e[i];
        if (e->state == DEAD)
            continue;
        char *text = NULL;
        const char *msg;
        size_t len;
        if (whole_lines) {
            if ((text = message_of_line(q, e)) == NULL) {
                rc = io_error(err, "cannot read back", q->path);
                break;
            }
            msg = text;
            len = strlen(text);
        } else {
            msgbuf.len = 0;
            if (!sr_buf_reserve(&msgbuf, e->len)) {
                rc = nomem(err);
                break;
            }
            if (!read_all(q->fd, msgbuf.p, e->len, e->off)) {
                rc = io_error(err, "cannot read", q->path);
                break;
            }
            msg = msgbuf.p;
            len = e->len;
        }
        size_t at;
        bool ok = entry_line(&line, e, msg, len, &at) && sr_buf_add(&out, line.p, line.len);
        free(text);
        if (!ok) {
            rc = nomem(err);
            break;
        }
        offs[i] = size + (off_t)(out.len - line.len + at);
        lens[i] = len;
        if (out.len >= RETRYQ_WRITE_BYTES) {
            if (!sr_write_all(fd, out.p, out.len))
                rc = io_error(err, "cannot write", tmp);
            size += (off_t)out.len;
            out.len = 0;
        }
    }
    if (rc == SR_OK && out.len > 0) {
        if (!sr_write_all(fd, out.p, out.len))
            rc = io_error(err, "cannot write", tmp);
        size += (off_t)out.len;
    }
    if (rc == SR_OK && fsync(fd) != 0)
        rc = io_error(err, "cannot fsync", tmp);
    if (rc == SR_OK && rename(tmp, q->path) != 0)
        rc = io_error(err, "cannot rename to", tmp);
    if (rc != SR_OK) {
        unlink(tmp);
        goto done;
    }
    sr_sync_parent_dir(q->path);
    close(q->fd);
    q->fd = fd;
    fd = -1;
    q->size = size;
    q->dirty = false;
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->e[i].state == DEAD)
            continue;
        q->e[n] = q->e[i];
        q->e[n].off = offs[i];
        q->e[n].len = lens[i];
        n++;
    }
    q->n = n;
    heap_rebuild(q);
done:
    if (fd >= 0)
        close(fd);
    free(out.p);
    free(msgbuf.p);
    free(line.p);
    free(offs);
    free(lens);
    free(tmp);
    return rc;
}

/* ---- loading ---- */

/* Apply one line of the log (at off, len bytes, '\n' stripped). false when malformed. */
static bool load_line(sr_retryq *q, char *text, size_t len, off_t off)
{
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = false;
    json_t *retry = json_object_get(o, "retry"), *again = json_object_get(o, "again");
    json_t *done = json_object_get(o, "done");
    if (json_is_object(retry) && json_is_object(json_object_get(o, "message"))) {
        json_int_t id = json_integer_value(json_object_get(retry, "id"));
        json_int_t attempts = json_integer_value(json_object_get(retry, "attempts"));
        json_t *first = json_object_get(retry, "first"), *next = json_object_get(retry, "next");
        const char *error = json_string_value(json_object_get(retry, "error"));
        char *mtext = json_dumps(json_object_get(o, "message"), JSON_COMPACT | JSON_PRESERVE_ORDER);
        sr_message *m = NULL;
        rq_entry e = {0};
        if (id > 0 && attempts > 0 && attempts < 1000000 && json_is_number(first) &&
            json_is_number(next) && mtext != NULL &&
            sr_message_decode_v03(mtext, strlen(mtext), &m, NULL) == SR_OK &&
            find(q, (uint64_t)id) < 0 && dedupe_key(m, e.dkey, &q->line) && reserve_entries(q, 1)) {
            e.id = (uint64_t)id;
            e.off = off;
            e.len = len;
            e.first = json_number_value(first);
            e.next = json_number_value(next);
            e.pub = pub_time(m, e.first);
            e.attempts = (unsigned)attempts;
            e.state = QUEUED;
            e.error = clean_error(error);
            /* Lines come in id order unless someone merged files: keep e sorted. */
            size_t at = q->n;
            while (at > 0 && q->e[at - 1].id > e.id)
                at--;
            memmove(&q->e[at + 1], &q->e[at], (q->n - at) * sizeof e);
            q->e[at] = e;
            q->n++;
            q->live++;
            if (e.id >= q->next_id)
                q->next_id = e.id + 1;
            ok = true;
        }
        sr_message_free(m);
        free(mtext);
    } else if (json_is_object(again)) {
        json_int_t id = json_integer_value(json_object_get(again, "id"));
        json_int_t attempts = json_integer_value(json_object_get(again, "attempts"));
        json_t *next = json_object_get(again, "next");
        if (id > 0 && attempts > 0 && attempts < 1000000 && json_is_number(next)) {
            long i = find(q, (uint64_t)id);
            if (i >= 0 && q->e[i].state != DEAD) {
                q->e[i].attempts = (unsigned)attempts;
                q->e[i].next = json_number_value(next);
                free(q->e[i].error);
                q->e[i].error = clean_error(json_string_value(json_object_get(again, "error")));
            }
            ok = true; /* an entry already gone is no error */
        }
    } else if (json_is_integer(done) && json_integer_value(done) > 0) {
        long i = find(q, (uint64_t)json_integer_value(done));
        if (i >= 0 && q->e[i].state != DEAD)
            kill_entry(q, &q->e[i]);
        ok = true;
    }
    json_decref(o);
    return ok;
}

static int load(sr_retryq *q, sr_retryq_load_stats *st, sr_err *err)
{
    FILE *f = fopen(q->path, "r");
    if (f == NULL)
        return io_error(err, "cannot read", q->path);
    char *text = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t off = 0;
    while ((n = getline(&text, &cap, f)) >= 0) {
        off_t at = off;
        off += n;
        size_t len = (size_t)n;
        if (len > 0 && text[len - 1] == '\n')
            len--;
        if (len == 0)
            continue;
        if (!load_line(q, text, len, at))
            st->malformed++;
    }
    int rc = ferror(f) ? io_error(err, "cannot read", q->path) : SR_OK;
    free(text);
    fclose(f);
    return rc;
}

/* ---- the API ---- */

void sr_retryq_close(sr_retryq *q)
{
    if (q == NULL)
        return;
    if (q->fd >= 0)
        close(q->fd);
    for (size_t i = 0; i < q->n; i++)
        free(q->e[i].error);
    free(q->e);
    free(q->heap);
    free(q->line.p);
    free(q->path);
    free(q);
}

int sr_retryq_open(const char *path, const sr_retryq_options *opts, sr_retryq **out,
                   sr_retryq_load_stats *stats, sr_err *err)
{
    *out = NULL;
    sr_retryq_load_stats st = {0};
    if (stats != NULL)
        *stats = st;
    sr_retryq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return nomem(err);
    q->fd = -1;
    q->next_id = 1;
    q->opts.delay_min = opts && opts->delay_min > 0 ? opts->delay_min : SR_RETRYQ_DELAY_MIN;
    q->opts.delay_max = opts && opts->delay_max > 0 ? opts->delay_max : SR_RETRYQ_DELAY_MAX;
    if (q->opts.delay_max < q->opts.delay_min)
        q->opts.delay_max = q->opts.delay_min;
    if ((q->path = strdup(path)) == NULL) {
        sr_retryq_close(q);
        return nomem(err);
    }
    q->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int rc = q->fd < 0 ? io_error(err, "cannot open", path) : load(q, &st, err);
    if (rc == SR_OK && !reserve_entries(q, 1))
        rc = nomem(err);
    if (rc == SR_OK)
        rc = compact(q, true, err);
    if (rc != SR_OK) {
        sr_retryq_close(q);
        return rc;
    }
    st.loaded = q->live;
    if (stats != NULL)
        *stats = st;
    *out = q;
    return SR_OK;
}

int sr_retryq_add(sr_retryq *q, const sr_message *msg, double now, const char *error, sr_err *err)
{
    rq_entry e = {0};
    if (!reserve_entries(q, 1) || !dedupe_key(msg, e.dkey, &q->line))
        return nomem(err);
    sr_encoded enc;
    int rc = sr_message_encode(msg, SR_FORMAT_V03, &enc, err);
    if (rc != SR_OK)
        return rc;
    e.id = q->next_id;
    e.first = now;
    e.attempts = 1;
    e.next = now + delay(&q->opts, 1);
    e.pub = pub_time(msg, now);
    e.state = QUEUED;
    e.error = clean_error(error);
    size_t at;
    if (!entry_line(&q->line, &e, enc.body, enc.body_len, &at)) {
        sr_encoded_fini(&enc);
        free(e.error);
        return nomem(err);
    }
    e.off = q->size + (off_t)at;
    e.len = enc.body_len;
    sr_encoded_fini(&enc);
    rc = append(q, q->line.p, q->line.len, err);
    if (rc != SR_OK) {
        free(e.error);
        return rc;
    }
    q->next_id++;
    q->e[q->n] = e;
    heap_push(q, q->n);
    q->n++;
    q->live++;
    return SR_OK;
}

int sr_retryq_sync(sr_retryq *q, sr_err *err)
{
    if (!q->dirty)
        return SR_OK;
    if (fdatasync(q->fd) != 0)
        return io_error(err, "cannot sync", q->path);
    q->dirty = false;
    return SR_OK;
}

int sr_retryq_take(sr_retryq *q, size_t max, double now, sr_retryq_item *items, size_t *taken,
                   sr_err *err)
{
    *taken = 0;
    while (*taken < max && q->heap_n > 0 && q->e[q->heap[0]].next <= now) {
        size_t i = q->heap[0];
        rq_entry *e = &q->e[i];
        q->line.len = 0;
        if (!sr_buf_reserve(&q->line, e->len + 1))
            return nomem(err);
        if (!read_all(q->fd, q->line.p, e->len, e->off))
            return io_error(err, "cannot read", q->path);
        heap_pop(q);
        sr_message *m;
        if (sr_message_decode_v03(q->line.p, e->len, &m, NULL) != SR_OK) {
            /* the file changed under us: nothing to retry any more */
            q->unreadable++;
            char done[48];
            int n = snprintf(done, sizeof done, "{\"done\":%llu}\n", (unsigned long long)e->id);
            kill_entry(q, e);
            append(q, done, (size_t)n, NULL);
            continue;
        }
        e->state = FLIGHT;
        q->flight++;
        sr_retryq_item *it = &items[(*taken)++];
        it->id = e->id;
        it->msg = m;
        it->attempts = e->attempts;
        it->first_failure = e->first;
        it->last_error = e->error ? e->error : "";
    }
    return SR_OK;
}

/* The entry id, when in flight. */
static rq_entry *in_flight(sr_retryq *q, uint64_t id, sr_err *err)
{
    long i = find(q, id);
    if (i < 0 || q->e[i].state != FLIGHT) {
        sr_err_set(err, SR_ENOENT, false, "retry queue %s: entry %llu is not in flight", q->path,
                   (unsigned long long)id);
        return NULL;
    }
    return &q->e[i];
}

int sr_retryq_done(sr_retryq *q, uint64_t id, sr_err *err)
{
    rq_entry *e = in_flight(q, id, err);
    if (e == NULL)
        return SR_ENOENT;
    kill_entry(q, e);
    if (q->live == 0) {
        /* Empty: a truncated file says so, and stays small. */
        if (ftruncate(q->fd, 0) == 0) {
            q->size = 0;
            q->dirty = true;
            q->n = 0;
            q->heap_n = 0;
            return SR_OK;
        }
    }
    char line[48];
    int n = snprintf(line, sizeof line, "{\"done\":%llu}\n", (unsigned long long)id);
    return append(q, line, (size_t)n, err);
}

int sr_retryq_again(sr_retryq *q, uint64_t id, double now, const char *error, sr_err *err)
{
    rq_entry *e = in_flight(q, id, err);
    if (e == NULL)
        return SR_ENOENT;
    e->attempts++;
    e->next = now + delay(&q->opts, e->attempts);
    free(e->error);
    e->error = clean_error(error);
    e->state = QUEUED;
    q->flight--;
    heap_push(q, (size_t)(e - q->e));
    buf *b = &q->line;
    b->len = 0;
    if (!sr_buf_printf(b, "{\"again\":{\"id\":%llu,\"attempts\":%u,\"next\":%.6f,\"error\":",
                 (unsigned long long)e->id, e->attempts, e->next) ||
        !quote_onto(b, e->error) || !sr_buf_add(b, "}}\n", 3))
        return nomem(err);
    return append(q, b->p, b->len, err);
}

int sr_retryq_release(sr_retryq *q, uint64_t id, sr_err *err)
{
    rq_entry *e = in_flight(q, id, err);
    if (e == NULL)
        return SR_ENOENT;
    e->state = QUEUED;
    q->flight--;
    heap_push(q, (size_t)(e - q->e));
    return SR_OK;
}

typedef struct dup_ctx {
    const rq_entry *e;
} dup_ctx;

static int by_dkey(const void *a, const void *b, void *ctx)
{
    const rq_entry *e = ((const dup_ctx *)ctx)->e;
    const rq_entry *x = &e[*(const size_t *)a], *y = &e[*(const size_t *)b];
    int c = memcmp(x->dkey, y->dkey, sizeof x->dkey);
    if (c != 0)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Tell drop about entry i (read back from the file) and mark it dead. */
static void drop_entry(sr_retryq *q, size_t i, const char *why, sr_retryq_drop_fn fn, void *arg)
{
    rq_entry *e = &q->e[i];
    q->line.len = 0;
    if (fn != NULL && sr_buf_reserve(&q->line, e->len + 1) &&
        read_all(q->fd, q->line.p, e->len, e->off)) {
        sr_message *m;
        if (sr_message_decode_v03(q->line.p, e->len, &m, NULL) == SR_OK) {
            fn(arg, m, why);
            sr_message_free(m);
        }
    }
    kill_entry(q, e);
}

int sr_retryq_housekeep(sr_retryq *q, double now, double retry_ttl, sr_retryq_drop_fn fn, void *arg,
                        sr_retryq_hk_stats *stats, sr_err *err)
{
    sr_retryq_hk_stats st = {0};
    uint64_t *dropped = malloc((q->n ? q->n : 1) * sizeof *dropped);
    size_t *order = malloc((q->n ? q->n : 1) * sizeof *order);
    if (dropped == NULL || order == NULL) {
        free(dropped);
        free(order);
        return nomem(err);
    }
    size_t nd = 0, no = 0;
    for (size_t i = 0; i < q->n; i++) {
        rq_entry *e = &q->e[i];
        if (e->state == QUEUED && retry_ttl > 0 && now - e->pub > retry_ttl) {
            dropped[nd++] = e->id;
            drop_entry(q, i, "expired", fn, arg);
            st.expired++;
        } else if (e->state != DEAD) {
            order[no++] = i;
        }
    }
    dup_ctx ctx = {q->e};
    qsort_r(order, no, sizeof *order, by_dkey, &ctx);
    for (size_t g = 0; g < no;) {
        size_t end = g + 1;
        bool flying = q->e[order[g]].state == FLIGHT;
        while (end < no && memcmp(q->e[order[end]].dkey, q->e[order[g]].dkey, 16) == 0) {
            flying = flying || q->e[order[end]].state == FLIGHT;
            end++;
        }
        /* Keep what is in flight, or else the oldest (lowest id, first in the group). */
        for (size_t k = g; k < end; k++) {
            rq_entry *e = &q->e[order[k]];
            if (e->state == QUEUED && (flying || k > g)) {
                dropped[nd++] = e->id;
                drop_entry(q, order[k], "duplicate", fn, arg);
                st.duplicates++;
            }
        }
        g = end;
    }
    free(order);
    int rc = compact(q, false, err);
    if (rc != SR_OK) {
        /* The old file still holds them: say they are gone there too. */
        heap_rebuild(q);
        for (size_t i = 0; i < nd; i++) {
            char line[48];
            int n =
                snprintf(line, sizeof line, "{\"done\":%llu}\n", (unsigned long long)dropped[i]);
            append(q, line, (size_t)n, NULL);
        }
    }
    free(dropped);
    st.kept = q->live;
    if (stats != NULL)
        *stats = st;
    return rc;
}

size_t sr_retryq_length(const sr_retryq *q)
{
    return q->live;
}

size_t sr_retryq_in_flight(const sr_retryq *q)
{
    return q->flight;
}

bool sr_retryq_next_due(const sr_retryq *q, double *when)
{
    if (q->heap_n == 0)
        return false;
    *when = q->e[q->heap[0]].next;
    return true;
}

size_t sr_retryq_unreadable(const sr_retryq *q)
{
    return q->unreadable;
}
