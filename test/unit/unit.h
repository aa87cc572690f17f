/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * unit.h: what every cmocka test file includes. cmocka needs these system headers first.
 * Tests find their data through SR_TEST_DATA (set by `make unit`), falling back to the
 * path relative to the source tree so a test binary can be run by hand from the top.
 */
#ifndef SR_UNIT_H
#define SR_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The path of a file under test/data, in a static buffer (tests are single threaded). */
static inline const char *test_data(const char *relative)
{
    static char buf[4096];
    const char *root = getenv("SR_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "test/data", relative);
    return buf;
}

/* "<$TMPDIR or /tmp>/<name>.XXXXXX" into buf, for mkdtemp or mkstemp: tests write where
 * the machine says scratch files go, not always under /tmp. */
static inline char *test_tmp_template(char *buf, size_t size, const char *name)
{
    const char *root = getenv("TMPDIR");
    snprintf(buf, size, "%s/%s.XXXXXX", root && root[0] ? root : "/tmp", name);
    return buf;
}

/* A new scratch folder "<$TMPDIR or /tmp>/<name>.XXXXXX" into buf (size: room for it):
 * 0, or -1 when it cannot be made. For a cmocka setup. */
static inline int test_tmpdir_make(char *buf, size_t size, const char *name)
{
    test_tmp_template(buf, size, name);
    return mkdtemp(buf) == NULL ? -1 : 0;
}

/* Remove a scratch folder and what it holds: 0, or -1. For a cmocka teardown. */
static inline int test_tmpdir_remove(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The fixture of a test file whose tests each get a scratch folder: `tmpdir`, and the
 * cmocka setup and teardown that make and remove it. */
#define TEST_TMPDIR_FIXTURE(name)                                                          \
    static char tmpdir[256];                                                               \
    static int setup(void **state)                                                         \
    {                                                                                      \
        (void)state;                                                                       \
        return test_tmpdir_make(tmpdir, sizeof tmpdir, name);                              \
    }                                                                                      \
    static int teardown(void **state)                                                      \
    {                                                                                      \
        (void)state;                                                                       \
        return test_tmpdir_remove(tmpdir);                                                 \
    }

#endif
