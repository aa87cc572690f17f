/* SPDX-License-Identifier: GPL-2.0-only */
/* test_blocks: partitioned files (sr-config(5), Partitioned transfers; sr-message(7), Blocks):
 * the block size blockSize asks for, the block messages made from a file as sr3 writes them
 * (v03 `blocks`, v02 `parts`), where a block lies in the file, and the record of the blocks in,
 * across versions. */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "announce.h"
#include "blocks.h"
#include "jail.h"
#include "message.h"

static char dir[4096];

static int setup(void **state)
{
    (void)state;
    test_tmp_template(dir, sizeof dir, "sr-test-blocks");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const char *path_in(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A file of n bytes of a pattern, at path. */
static void write_file(const char *path, size_t n, unsigned seed)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc((int)((i * 31 + seed) & 0xff), f);
    fclose(f);
}

static sr_message *whole_message(long long size)
{
    sr_message *m;
    sr_err err;
    assert_int_equal(
        sr_message_new("20261125T101010.5", "https://example.com/data", "sub/big.bin", &m, &err),
        SR_OK);
    assert_int_equal(sr_message_set_size(m, size, &err), SR_OK);
    assert_int_equal(sr_message_set_str(m, "mtime", "20261125T101010", &err), SR_OK);
    return m;
}

static void block_size_follows_the_option(void **state)
{
    (void)state;
    assert_int_equal(sr_blocks_size_for(0, 60LL << 20), SR_BLOCKS_AUTO_SIZE);
    assert_int_equal(sr_blocks_size_for(0, 10), 0);
    assert_int_equal(sr_blocks_size_for(1, 1LL << 40), 0); /* 1: never split */
    assert_int_equal(sr_blocks_size_for(1000, 1000), 0);   /* one block: whole */
    assert_int_equal(sr_blocks_size_for(1000, 1001), 1000);
}

static void blocks_encode_as_sr3_and_decode_back(void **state)
{
    (void)state;
    sr_message *m = whole_message(500);
    sr_err err;
    sr_block_entry manifest[] = {{1024, "aaaa"}, {1024, "bbbb"}, {500, "cccc"}};
    sr_blocks b = {.method = "inplace", .block_size = 1024, .number = 2};
    assert_int_equal(sr_message_set_blocks(m, &b, manifest, 3, &err), SR_OK);

    sr_encoded e;
    assert_int_equal(sr_message_encode(m, SR_FORMAT_V03, &e, &err), SR_OK);
    assert_non_null(strstr(e.body, "\"blocks\":{\"method\":\"inplace\",\"size\":1024,\"number\":2,"
                                   "\"manifest\":{\"0\":{\"size\":1024,\"identity\":\"aaaa\"},"));
    sr_message *back;
    assert_int_equal(sr_message_decode_v03(e.body, e.body_len, &back, &err), SR_OK);
    sr_encoded_fini(&e);
    sr_blocks got;
    assert_true(sr_message_blocks(back, &got));
    assert_string_equal(got.method, "inplace");
    assert_int_equal(got.block_size, 1024);
    assert_int_equal(got.number, 2);
    assert_int_equal(got.manifest_count, 3);
    long long size;
    const char *id;
    assert_true(sr_message_block(back, 2, &size, &id));
    assert_int_equal(size, 500);
    assert_string_equal(id, "cccc");

    /* v02: parts i,<block size>,<count>,<remainder>,<number> */
    assert_int_equal(sr_message_encode(back, SR_FORMAT_V02, &e, &err), SR_OK);
    const char *parts = NULL;
    for (size_t i = 0; i < e.header_count; i++)
        if (strcmp(e.headers[i].name, "parts") == 0)
            parts = e.headers[i].value;
    assert_non_null(parts);
    assert_string_equal(parts, "i,1024,3,500,2");
    sr_encoded_fini(&e);
    sr_message_free(back);

    /* a manifest entry larger than the block size is refused, naming the field */
    manifest[1].size = 2048;
    assert_int_equal(sr_message_set_blocks(m, &b, manifest, 3, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "blocks.manifest.1.size"));
    sr_message_free(m);
}

static void a_file_splits_into_sr3s_block_messages(void **state)
{
    (void)state;
    const char *path = path_in("big.bin");
    write_file(path, 2548, 7); /* 1024 + 1024 + 500 */
    sr_message *whole = whole_message(2548);
    sr_err err;
    sr_content c = {"utf-8", "not for blocks"};
    assert_int_equal(sr_message_set_content(whole, &c, &err), SR_OK);
    sr_identity_spec spec = {SR_ID_SHA512, SR_ID_NONE, NULL};
    sr_message **msgs;
    size_t n;
    assert_int_equal(sr_blocks_split(whole, path, 1024, &spec, &msgs, &n, &err), SR_OK);
    assert_int_equal(n, 3);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++) {
        sr_blocks b;
        assert_true(sr_message_blocks(msgs[i], &b));
        assert_string_equal(b.method, "inplace");
        assert_int_equal(b.block_size, 1024);
        assert_int_equal(b.number, (long long)i);
        assert_int_equal(b.manifest_count, 3);
        long long size, want_size = i < 2 ? 1024 : 500;
        assert_true(sr_message_size(msgs[i], &size));
        assert_int_equal(size, want_size);
        sr_identity want, got;
        assert_int_equal(
            sr_identity_of_range(fd, (off_t)i * 1024, want_size, &spec, &want, NULL, &err), SR_OK);
        assert_true(sr_message_identity(msgs[i], &got));
        assert_true(sr_identity_equal(&want, &got));
        const char *id;
        assert_true(sr_message_block(msgs[i], i, &size, &id));
        assert_string_equal(id, want.value);
        assert_false(sr_message_content(msgs[i], &c)); /* a block is never inline */
        assert_string_equal(sr_message_rel_path(msgs[i]), "sub/big.bin");

        sr_block_layout l;
        assert_int_equal(sr_blocks_layout(msgs[i], &l, &err), SR_OK);
        assert_int_equal(l.count, 3);
        assert_int_equal(l.number, i);
        assert_int_equal(l.offset, (off_t)i * 1024);
        assert_int_equal(l.length, want_size);
        assert_int_equal(l.total, 2548);
        /* the file itself holds every block */
        sr_jail *j;
        assert_int_equal(sr_jail_new(dir, 0, false, &j, &err), SR_OK);
        assert_true(sr_blocks_in_file(j, "big.bin", msgs[i], &l));
        sr_jail_free(j);
        sr_message_free(msgs[i]);
    }
    close(fd);
    free(msgs);

    /* random: nothing per block to compute, every block carries the file's identity */
    sr_identity r = {SR_ID_RANDOM, "0042"};
    assert_int_equal(sr_message_set_identity(whole, &r, &err), SR_OK);
    spec.method = SR_ID_RANDOM;
    assert_int_equal(sr_blocks_split(whole, path, 1024, &spec, &msgs, &n, &err), SR_OK);
    sr_identity got;
    assert_true(sr_message_identity(msgs[2], &got));
    assert_string_equal(got.value, "0042");
    for (size_t i = 0; i < n; i++)
        sr_message_free(msgs[i]);
    free(msgs);

    /* the file changed since it was announced */
    write_file(path, 3000, 7);
    spec.method = SR_ID_SHA512;
    assert_int_equal(sr_blocks_split(whole, path, 1024, &spec, &msgs, &n, &err), SR_EIO);
    assert_true(err.retryable);
    sr_message_free(whole);
}

static void layout_from_v02_parts_and_bad_sizes(void **state)
{
    (void)state;
    sr_header h[] = {{"parts", "i,1024,4,308,3"}, {"sum", "d,6f5902ac237024bdd0c176cb93063dc4"}};
    sr_wire w = {.body = "20261125101010 https://example.com/ sub/big.txt",
                 .content_type = "text/plain",
                 .headers = h,
                 .header_count = 2};
    w.body_len = strlen(w.body);
    sr_message *m;
    sr_err err;
    assert_int_equal(sr_message_decode(&w, &m, &err), SR_OK);
    sr_block_layout l;
    assert_int_equal(sr_blocks_layout(m, &l, &err), SR_OK);
    assert_int_equal(l.count, 4);
    assert_int_equal(l.number, 3);
    assert_int_equal(l.offset, 3072);
    assert_int_equal(l.length, 308);
    assert_int_equal(l.total, 3380);
    /* a size that disagrees with the block's: refused, naming the message and field */
    assert_int_equal(sr_message_set_size(m, 1024, &err), SR_OK);
    assert_int_equal(sr_blocks_layout(m, &l, &err), SR_EINVAL);
    assert_non_null(strstr(err.msg, "message for \"sub/big.txt\": field blocks: size 1024"));
    sr_message_free(m);
}

/* What sr_post and sr_watch do with blockSize: split a large file, leave the rest whole. */
static void announce_splits_large_files_only(void **state)
{
    (void)state;
    write_file(path_in("a.bin"), 2548, 3);
    write_file(path_in("small.bin"), 100, 3);
    sr_announce_options o = {.base_url = "sftp://bob@host", .base_dir = dir, .block_size = 1024};
    struct timespec now = {1764065410, 0};
    sr_message *m, **out;
    size_t n;
    sr_err err;
    assert_int_equal(sr_announce_path(&o, path_in("a.bin"), &now, &m, NULL, &err), SR_OK);
    assert_int_equal(sr_announce_blocks(&o, path_in("a.bin"), m, &out, &n, &err), SR_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        sr_blocks b;
        assert_true(sr_message_blocks(out[i], &b));
        assert_int_equal(b.number, (long long)i);
        assert_string_equal(sr_message_rel_path(out[i]), "a.bin");
        sr_message_free(out[i]);
    }
    free(out);
    assert_int_equal(sr_announce_path(&o, path_in("small.bin"), &now, &m, NULL, &err), SR_OK);
    assert_int_equal(sr_announce_blocks(&o, path_in("small.bin"), m, &out, &n, &err), SR_OK);
    assert_int_equal(n, 1);
    sr_blocks b;
    assert_false(sr_message_blocks(out[0], &b));
    sr_message_free(out[0]);
    free(out);
    /* blockSize 1: never split */
    o.block_size = 1;
    assert_int_equal(sr_announce_path(&o, path_in("a.bin"), &now, &m, NULL, &err), SR_OK);
    assert_int_equal(sr_announce_blocks(&o, path_in("a.bin"), m, &out, &n, &err), SR_OK);
    assert_int_equal(n, 1);
    assert_false(sr_message_blocks(out[0], &b));
    sr_message_free(out[0]);
    free(out);
}

static sr_block_layout layout3(const char *key)
{
    sr_block_layout l = {.count = 3, .total = 2548};
    snprintf(l.key, sizeof l.key, "%s", key);
    return l;
}

static void the_record_survives_and_one_block_finishes_the_file(void **state)
{
    (void)state;
    const char *tmp = "rec.bin.tmp";
    sr_jail *j;
    assert_int_equal(sr_jail_new(dir, 0, false, &j, NULL), SR_OK);
    sr_block_layout l = layout3("version-one");
    sr_err err;
    bool have, complete;
    sr_blocks_lock lk;

    /* out of order: 2, then 0 */
    l.number = 2;
    assert_int_equal(sr_blocks_claim(j, tmp, &l, NULL, NULL, &have, &err), SR_OK);
    assert_false(have);
    assert_int_equal(access(path_in(tmp), F_OK), 0); /* the temporary file is there at once */
    assert_int_equal(sr_blocks_record(j, tmp, &l, &lk, &complete, &err), SR_OK);
    assert_false(complete);
    assert_int_equal(lk.fd, -1); /* released */
    l.number = 0;
    assert_int_equal(sr_blocks_record(j, tmp, &l, &lk, &complete, &err), SR_OK);
    assert_false(complete);

    /* a duplicate of block 0 (another instance, or the message again): in already */
    assert_int_equal(sr_blocks_claim(j, tmp, &l, NULL, NULL, &have, &err), SR_OK);
    assert_true(have);

    /* the record is a file: what a restarted instance reads */
    char *state_name = sr_blocks_state_path(tmp);
    char state_path[4200];
    snprintf(state_path, sizeof state_path, "%s", path_in(state_name));
    FILE *f = fopen(state_path, "r");
    assert_non_null(f);
    char text[64] = "";
    assert_true(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    assert_string_equal(text, "version-one\n101\n");

    /* the last block completes it, and its caller holds the lock to finish the file */
    l.number = 1;
    assert_int_equal(sr_blocks_record(j, tmp, &l, &lk, &complete, &err), SR_OK);
    assert_true(complete);
    assert_true(lk.fd >= 0);
    sr_blocks_release(&lk, true);
    assert_int_equal(access(state_path, F_OK), -1);

    /* a newer version starts the record afresh; a late block of the old one is refused */
    sr_block_layout newer = layout3("version-two");
    newer.number = 1;
    l.number = 0;
    assert_int_equal(sr_blocks_claim(j, tmp, &l, NULL, NULL, &have, &err), SR_OK);
    assert_int_equal(sr_blocks_claim(j, tmp, &newer, NULL, NULL, &have, &err), SR_OK);
    assert_false(have);
    assert_int_equal(sr_blocks_record(j, tmp, &l, &lk, &complete, &err), SR_EINVAL);
    assert_false(err.retryable);
    assert_non_null(strstr(err.msg, "another version"));
    assert_int_equal(sr_blocks_record(j, tmp, &newer, &lk, &complete, &err), SR_OK);
    assert_false(complete);
    free(state_name);
    sr_jail_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(block_size_follows_the_option),
        cmocka_unit_test(blocks_encode_as_sr3_and_decode_back),
        cmocka_unit_test(a_file_splits_into_sr3s_block_messages),
        cmocka_unit_test(layout_from_v02_parts_and_bad_sizes),
        cmocka_unit_test(announce_splits_large_files_only),
        cmocka_unit_test(the_record_survives_and_one_block_finishes_the_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
