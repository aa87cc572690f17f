/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * blocks: see blocks.h.
 *
 * The state file is text: the version key on the first line, then one character per
 * block ('1' in, '0' not yet). It is rewritten whole (write to a new name, rename) under
 * the lock, so a crash leaves either the old record or the new one, never half of one: a
 * block recorded is a block written, and a block written but not recorded is fetched
 * again after a restart (harmless: it lands on the same bytes).
 */
#include "blocks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

long long sr_blocks_size_for(long long option_value, long long file_size)
{
    long long n = option_value == 0 ? SR_BLOCKS_AUTO_SIZE : option_value;
    if (n <= 1 || file_size <= n)
        return 0;
    return n;
}

/* ---- producing ---- */

int sr_blocks_split(const sr_message *whole, const char *path, long long block_size,
                    const sr_identity_spec *spec, sr_message ***out, size_t *count, sr_err *err)
{
    *out = NULL;
    *count = 0;
    long long size;
    if (block_size <= 1 || !sr_message_size(whole, &size) || size <= block_size)
        return sr_err_set(err, SR_EINVAL, false, "%s: nothing to split into blocks", path);
    size_t n = (size_t)((size + block_size - 1) / block_size);
    if (n > SR_MSG_BLOCKS_MAX)
        return sr_err_set(err, SR_EINVAL, false,
                          "%s: %zu blocks of %lld bytes, more than %u: raise blockSize", path, n,
                          block_size, SR_MSG_BLOCKS_MAX);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sr_err_set(err, errno == ENOENT ? SR_ENOENT : SR_EIO, true, "cannot read %s: %s",
                          path, strerror(errno));
    struct stat st;
    sr_block_entry *manifest = calloc(n, sizeof *manifest);
    sr_identity *ids = calloc(n, sizeof *ids);
    sr_message **msgs = calloc(n, sizeof *msgs);
    int rc = manifest && ids && msgs ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK && (fstat(fd, &st) != 0 || st.st_size != size))
        rc = sr_err_set(err, SR_EIO, true, "%s changed size while it was announced", path);
    sr_identity whole_id;
    bool has_whole = sr_message_identity(whole, &whole_id);
    for (size_t i = 0; rc == SR_OK && i < n; i++) {
        off_t off = (off_t)i * block_size;
        manifest[i].size = size - off < block_size ? size - off : block_size;
        if (sr_identity_is_digest(spec->method)) {
            rc = sr_identity_of_range(fd, off, manifest[i].size, spec, &ids[i], NULL, err);
            if (rc != SR_OK)
                sr_err_prefix(err, "%s", path);
        } else if (has_whole) {
            ids[i] = whole_id; /* cod, random, arbitrary: nothing per block to compute */
        } else {
            ids[i].method = SR_ID_NONE;
        }
        manifest[i].identity = ids[i].value;
    }
    close(fd);
    for (size_t i = 0; rc == SR_OK && i < n; i++) {
        sr_blocks b = {.method = "inplace", .block_size = block_size, .number = (long long)i};
        if ((msgs[i] = sr_message_copy(whole)) == NULL) {
            rc = sr_err_set(err, SR_ENOMEM, false, "out of memory");
            break;
        }
        sr_message_remove(msgs[i], "content"); /* a block is never inline */
        rc = sr_message_set_blocks(msgs[i], &b, manifest, n, err);
        if (rc == SR_OK)
            rc = sr_message_set_size(msgs[i], manifest[i].size, err);
        if (rc == SR_OK)
            rc = sr_message_set_identity(msgs[i], &ids[i], err);
    }
    free(manifest);
    free(ids);
    if (rc != SR_OK) {
        for (size_t i = 0; msgs && i < n; i++)
            sr_message_free(msgs[i]);
        free(msgs);
        return rc;
    }
    *out = msgs;
    *count = n;
    return SR_OK;
}

/* ---- layout ---- */

static int bad_layout(sr_err *err, const sr_message *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_layout(sr_err *err, const sr_message *m, const char *fmt, ...)
{
    char shown[SR_QUOTE_BUF];
    sr_err_quote(sr_message_rel_path(m), shown, sizeof shown);
    char text[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return sr_err_set(err, SR_EINVAL, false, "message for %s: field blocks: %s", shown, text);
}

/* The version key: an md5 over what makes the file what it is (sizes, block identities,
 * mtime), so that blocks of another version of the same file never mix with these. */
static int version_key(const sr_message *m, const sr_block_layout *l, char *key, sr_err *err)
{
    sr_digest *d = sr_digest_new(SR_ID_MD5, err);
    if (d == NULL)
        return err ? err->code : SR_ENOMEM;
    char line[64];
    int n = snprintf(line, sizeof line, "%lld/%zu/", (long long)l->total, l->count);
    sr_digest_update(d, line, (size_t)n);
    const char *mtime = sr_message_str(m, "mtime");
    if (mtime != NULL)
        sr_digest_update(d, mtime, strlen(mtime));
    for (size_t i = 0; i < l->count; i++) {
        long long size;
        const char *id;
        if (sr_message_block(m, i, &size, &id) && id != NULL)
            sr_digest_update(d, id, strlen(id) + 1);
    }
    sr_identity out;
    int rc = sr_digest_final(d, &out, err);
    sr_digest_free(d);
    if (rc == SR_OK)
        snprintf(key, SR_BLOCKS_KEY_MAX, "%.*s", SR_BLOCKS_KEY_MAX - 1, out.value);
    return rc;
}

int sr_blocks_layout(const sr_message *m, sr_block_layout *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    sr_blocks b;
    long long size;
    if (!sr_message_blocks(m, &b))
        return bad_layout(err, m, "missing");
    if (!sr_message_size(m, &size))
        return bad_layout(err, m, "a block message without size");
    long long count, rem, offset = 0, total = 0, length = 0;
    if (b.manifest_count > 0) {
        count = (long long)b.manifest_count;
        for (long long i = 0; i < count; i++) {
            long long bs;
            const char *id;
            if (!sr_message_block(m, (size_t)i, &bs, &id))
                return bad_layout(err, m, "manifest entry %lld missing", i);
            /* every block but the last is full: offsets are number * size, as sr3 writes */
            if (i < count - 1 && bs != b.block_size)
                return bad_layout(err, m, "manifest block %lld is not the full block size %lld", i,
                                  b.block_size);
            if (i == b.number)
                length = bs, offset = total;
            total += bs;
        }
    } else if (sr_message_blocks_count(m, &count, &rem)) {
        offset = b.number * b.block_size;
        length = b.number == count - 1 && rem > 0 ? rem : b.block_size;
        total = (count - 1) * b.block_size + (rem > 0 ? rem : b.block_size);
    } else {
        return bad_layout(err, m, "neither a manifest nor count");
    }
    if (b.number >= count)
        return bad_layout(err, m, "block %lld of %lld", b.number, count);
    if (size != length)
        return bad_layout(err, m, "size %lld, but the manifest says %lld for this block", size,
                          length);
    out->count = (size_t)count;
    out->number = (size_t)b.number;
    out->offset = (off_t)offset;
    out->length = (off_t)length;
    out->total = (off_t)total;
    return version_key(m, out, out->key, err);
}

bool sr_blocks_in_file(sr_jail *jail, const char *rel, const sr_message *m,
                       const sr_block_layout *l)
{
    sr_identity want, have;
    if (!sr_message_identity(m, &want) || !sr_identity_is_digest(want.method))
        return false;
    int fd;
    if (sr_jail_open(jail, rel, O_RDONLY, 0, &fd, NULL) != SR_OK)
        return false;
    struct stat st;
    sr_identity_spec spec = {want.method, SR_ID_NONE, NULL};
    bool in = fstat(fd, &st) == 0 && st.st_size == l->total &&
              sr_identity_of_range(fd, l->offset, l->length, &spec, &have, NULL, NULL) == SR_OK &&
              sr_identity_equal(&want, &have);
    close(fd);
    return in;
}

/* ---- the record ---- */

char *sr_blocks_state_path(const char *tmp)
{
    char *out = NULL;
    return asprintf(&out, "%s.blocks", tmp) < 0 ? NULL : out;
}

/* The record for l's version: *bits (count characters) from the state file, or all '0'
 * when the file is missing or holds another version. *same says whether it held ours. */
static int read_state(sr_jail *jail, const char *state, const sr_block_layout *l, char *bits,
                      bool *same, sr_err *err)
{
    memset(bits, '0', l->count);
    bits[l->count] = '\0';
    *same = false;
    int fd;
    int rc = sr_jail_open(jail, state, O_RDONLY, 0, &fd, err);
    if (rc == SR_ENOENT)
        return SR_OK;
    FILE *f = rc == SR_OK ? fdopen(fd, "r") : NULL;
    if (f == NULL) {
        if (rc == SR_OK)
            close(fd);
        return rc != SR_OK ? rc : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    char key[SR_BLOCKS_KEY_MAX + 2];
    if (fgets(key, sizeof key, f) != NULL) {
        key[strcspn(key, "\n")] = '\0';
        if (strcmp(key, l->key) == 0) {
            size_t got = fread(bits, 1, l->count, f);
            if (got == l->count && strspn(bits, "01") == l->count)
                *same = true;
            else
                memset(bits, '0', l->count); /* damaged: start over */
        }
    }
    fclose(f);
    return SR_OK;
}

static int write_state(sr_jail *jail, const char *state, const sr_block_layout *l, const char *bits,
                       sr_err *err)
{
    char *next = NULL;
    if (asprintf(&next, "%s.new", state) < 0)
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    int fd;
    int rc = sr_jail_open(jail, next, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd, err);
    FILE *f = rc == SR_OK ? fdopen(fd, "w") : NULL;
    if (rc == SR_OK && f == NULL)
        close(fd);
    bool ok = f != NULL && fprintf(f, "%s\n%s\n", l->key, bits) > 0;
    if (f != NULL)
        ok = fclose(f) == 0 && ok;
    if (rc == SR_OK && !ok)
        rc = sr_err_set(err, SR_EIO, true, "cannot write %s/%s: %s", sr_jail_root(jail), next,
                        strerror(errno));
    if (rc == SR_OK)
        rc = sr_jail_rename(jail, next, state, err);
    if (rc != SR_OK)
        sr_jail_remove(jail, next, false, NULL);
    free(next);
    return rc;
}

int sr_blocks_claim(sr_jail *jail, const char *tmp, const sr_block_layout *l,
                    sr_blocks_fresh_fn fresh, void *ctx, bool *have, sr_err *err)
{
    *have = false;
    char *state = sr_blocks_state_path(tmp);
    char *bits = malloc(l->count + 1);
    int fd = -1, rc = state && bits ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = sr_jail_open_locked(jail, tmp, true, &fd, NULL, err);
    bool same = false;
    if (rc == SR_OK)
        rc = read_state(jail, state, l, bits, &same, err);
    if (rc == SR_OK && !same && fresh != NULL)
        rc = fresh(ctx, fd, err);
    if (rc == SR_OK && !same)
        rc = write_state(jail, state, l, bits, err); /* this version's record starts here */
    /* A full record whose file is still here was not finished (the rename failed): the
     * block is fetched again so that its arrival finishes the file. */
    if (rc == SR_OK)
        *have = bits[l->number] == '1' && strspn(bits, "1") != l->count;
    if (fd >= 0)
        close(fd); /* releases the lock */
    free(bits);
    free(state);
    return rc;
}

int sr_blocks_record(sr_jail *jail, const char *tmp, const sr_block_layout *l, sr_blocks_lock *lk,
                     bool *complete, sr_err *err)
{
    *complete = false;
    lk->jail = jail;
    lk->fd = -1;
    lk->state_path = sr_blocks_state_path(tmp);
    char *bits = malloc(l->count + 1);
    int rc = lk->state_path && bits ? SR_OK : sr_err_set(err, SR_ENOMEM, false, "out of memory");
    if (rc == SR_OK)
        rc = sr_jail_open_locked(jail, tmp, true, &lk->fd, NULL, err);
    bool same = false;
    if (rc == SR_OK)
        rc = read_state(jail, lk->state_path, l, bits, &same, err);
    if (rc == SR_OK && !same)
        rc = sr_err_set(err, SR_EINVAL, false,
                        "%s/%s: block %zu is of another version of the file than the blocks "
                        "being put together there",
                        sr_jail_root(jail), tmp, l->number);
    if (rc == SR_OK) {
        bits[l->number] = '1';
        rc = write_state(jail, lk->state_path, l, bits, err);
    }
    if (rc == SR_OK)
        *complete = strspn(bits, "1") == l->count;
    free(bits);
    if (rc != SR_OK || !*complete)
        sr_blocks_release(lk, false);
    return rc;
}

void sr_blocks_release(sr_blocks_lock *lk, bool done)
{
    if (done && lk->state_path != NULL && lk->jail != NULL)
        sr_jail_remove(lk->jail, lk->state_path, false, NULL);
    if (lk->fd >= 0)
        close(lk->fd);
    lk->fd = -1;
    free(lk->state_path);
    lk->state_path = NULL;
}
