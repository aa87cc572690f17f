/* SPDX-License-Identifier: GPL-2.0-only */
/* test_jail: nothing resolved beneath a root leaves it, whatever the path and whatever
 * symbolic links lie in the tree; each case runs with openat2 and with the walk. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail.h"

typedef struct fixture {
    char top[256]; /* scratch: top/root is the jail, top/outside the canary */
    char root[300];
    char outside[300];
    sr_jail *j;
} fixture;

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *at(const fixture *fx, const char *rel)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", fx->root, rel);
    return buf;
}

static int setup(void **state, bool walk_only)
{
    fixture *fx = calloc(1, sizeof *fx);
    test_tmp_template(fx->top, sizeof fx->top, "jail");
    assert_non_null(mkdtemp(fx->top));
    snprintf(fx->root, sizeof fx->root, "%s/root", fx->top);
    snprintf(fx->outside, sizeof fx->outside, "%s/outside", fx->top);
    assert_int_equal(mkdir(fx->outside, 0755), 0);
    char secret[400];
    snprintf(secret, sizeof secret, "%s/secret", fx->outside);
    put(secret, "canary");
    sr_err err;
    /* the root is made when missing */
    assert_int_equal(sr_jail_new(fx->root, 0755, walk_only, &fx->j, &err), SR_OK);
    *state = fx;
    return 0;
}

static int setup_openat2(void **state)
{
    return setup(state, false);
}

static int setup_walk(void **state)
{
    return setup(state, true);
}

static int teardown(void **state)
{
    fixture *fx = *state;
    sr_jail_free(fx->j);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->top);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static void assert_canary(const fixture *fx)
{
    char path[400];
    snprintf(path, sizeof path, "%s/secret", fx->outside);
    assert_string_equal(slurp(path), "canary");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_nlink, 1);
}

static void write_file(fixture *fx, const char *rel, const char *text)
{
    int fd;
    sr_err err;
    assert_int_equal(sr_jail_open(fx->j, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd, &err),
                     SR_OK);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void files_and_folders(void **state)
{
    fixture *fx = *state;
    sr_err err;
    assert_int_equal(sr_jail_mkdirs(fx->j, "a/b/c", 0755, &err), SR_OK);
    assert_int_equal(sr_jail_mkdirs(fx->j, "/a//b/./c/", 0755, &err), SR_OK); /* there */
    write_file(fx, "a/b/c/f.txt", "hello");
    assert_string_equal(slurp(at(fx, "a/b/c/f.txt")), "hello");
    struct stat st;
    assert_int_equal(sr_jail_lstat(fx->j, "a/b/c/f.txt", &st, &err), SR_OK);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(sr_jail_lstat(fx->j, "a/nope", &st, &err), SR_ENOENT);
    assert_int_equal(sr_jail_lstat(fx->j, "nope/f", &st, &err), SR_ENOENT);
    assert_int_equal(sr_jail_rename(fx->j, "a/b/c/f.txt", "a/g.txt", &err), SR_OK);
    assert_string_equal(slurp(at(fx, "a/g.txt")), "hello");
    assert_int_equal(sr_jail_remove(fx->j, "a/g.txt", false, &err), SR_OK);
    assert_int_equal(sr_jail_remove(fx->j, "a/g.txt", false, &err), SR_ENOENT);
    assert_int_equal(sr_jail_remove(fx->j, "a/b/c", true, &err), SR_OK);
    assert_int_equal(sr_jail_chmod_dir(fx->j, "a/b", 0700, &err), SR_OK);
    assert_int_equal(stat(at(fx, "a/b"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* a file where a folder should be */
    write_file(fx, "file", "x");
    assert_int_not_equal(sr_jail_mkdirs(fx->j, "file/sub", 0755, &err), SR_OK);
    assert_int_equal(sr_jail_lstat(fx->j, "file/sub", &st, &err), SR_EIO);
}

static void dotdot_refused(void **state)
{
    fixture *fx = *state;
    sr_err err;
    int fd;
    assert_int_equal(sr_jail_open(fx->j, "../outside/secret", O_RDONLY, 0, &fd, &err), SR_EREFUSED);
    assert_int_equal(sr_jail_open(fx->j, "a/../../outside/secret", O_WRONLY, 0, &fd, &err),
                     SR_EREFUSED);
    assert_int_equal(sr_jail_mkdirs(fx->j, "x/../../evil", 0755, &err), SR_EREFUSED);
    assert_int_equal(sr_jail_rename(fx->j, "x", "../outside/secret", &err), SR_EREFUSED);
    assert_int_equal(sr_jail_symlink(fx->j, "t", "../evil", &err), SR_EREFUSED);
    assert_false(sr_jail_rel_ok("a/../b"));
    assert_false(sr_jail_rel_ok(""));
    assert_false(sr_jail_rel_ok("/./"));
    assert_true(sr_jail_rel_ok("/a/./b"));
    assert_canary(fx);
}

/* A folder of the tree that is a symbolic link, to outside or even to inside: never a
 * path, for every operation. */
static void folder_link_refused(void **state)
{
    fixture *fx = *state;
    sr_err err;
    int fd;
    struct stat st;
    assert_int_equal(symlink(fx->outside, at(fx, "out")), 0);
    assert_int_equal(sr_jail_mkdirs(fx->j, "in", 0755, &err), SR_OK);
    assert_int_equal(symlink("in", at(fx, "alias")), 0);
    const char *through[] = {"out/secret", "alias/x"};
    for (size_t i = 0; i < 2; i++) {
        const char *rel = through[i];
        assert_int_equal(sr_jail_open(fx->j, rel, O_RDONLY, 0, &fd, &err), SR_EREFUSED);
        assert_non_null(strstr(err.msg, "symbolic link"));
        assert_int_equal(sr_jail_open(fx->j, rel, O_WRONLY | O_CREAT, 0644, &fd, &err),
                         SR_EREFUSED);
        assert_int_equal(sr_jail_open_locked(fx->j, rel, false, &fd, NULL, &err), SR_EREFUSED);
        assert_int_equal(sr_jail_lstat(fx->j, rel, &st, &err), SR_EREFUSED);
        assert_int_equal(sr_jail_remove(fx->j, rel, false, &err), SR_EREFUSED);
        assert_int_equal(sr_jail_rename(fx->j, rel, "moved", &err), SR_EREFUSED);
        assert_int_equal(sr_jail_rename(fx->j, "in", "out/in", &err), SR_EREFUSED);
        assert_int_equal(sr_jail_symlink(fx->j, "t", rel, &err), SR_EREFUSED);
        assert_int_equal(sr_jail_mkdirs(fx->j, "out/made", 0755, &err), SR_EREFUSED);
        assert_int_equal(sr_jail_mkdirs(fx->j, "alias", 0755, &err), SR_EREFUSED);
        assert_int_equal(sr_jail_chmod_dir(fx->j, "out", 0777, &err), SR_EREFUSED);
    }
    assert_int_equal(sr_jail_remove(fx->j, "out", true, &err), SR_EREFUSED);
    /* the link itself can be removed: that touches nothing it points to */
    assert_int_equal(sr_jail_remove(fx->j, "out", false, &err), SR_OK);
    assert_canary(fx);
    struct stat o;
    assert_int_equal(stat(fx->outside, &o), 0);
    assert_int_equal(o.st_mode & 07777, 0755);
}

static void final_link_refused(void **state)
{
    fixture *fx = *state;
    sr_err err;
    int fd;
    char secret[400];
    snprintf(secret, sizeof secret, "%s/secret", fx->outside);
    assert_int_equal(symlink(secret, at(fx, "f.tmp")), 0);
    assert_int_equal(sr_jail_open(fx->j, "f.tmp", O_WRONLY | O_TRUNC, 0, &fd, &err), SR_EREFUSED);
    assert_int_equal(sr_jail_open(fx->j, "f.tmp", O_WRONLY | O_CREAT, 0644, &fd, &err),
                     SR_EREFUSED);
    assert_int_equal(sr_jail_open_locked(fx->j, "f.tmp", false, &fd, NULL, &err), SR_EREFUSED);
    struct stat st;
    assert_int_equal(sr_jail_lstat(fx->j, "f.tmp", &st, &err), SR_OK);
    assert_true(S_ISLNK(st.st_mode));
    /* a dangling link is not created through either */
    assert_int_equal(symlink("../outside/new", at(fx, "g")), 0);
    assert_int_equal(sr_jail_open(fx->j, "g", O_WRONLY | O_CREAT, 0644, &fd, &err), SR_EREFUSED);
    char made[400];
    snprintf(made, sizeof made, "%s/new", fx->outside);
    assert_int_equal(access(made, F_OK), -1);
    /* renaming a file over a link replaces the link, the target is untouched */
    write_file(fx, "h", "mine");
    assert_int_equal(sr_jail_rename(fx->j, "h", "f.tmp", &err), SR_OK);
    assert_string_equal(slurp(at(fx, "f.tmp")), "mine");
    assert_canary(fx);
}

static void hard_links_and_fifos(void **state)
{
    fixture *fx = *state;
    sr_err err;
    int fd;
    write_file(fx, "one", "1");
    assert_int_equal(sr_jail_hardlink(fx->j, "one", "two", &err), SR_OK);
    struct stat a, b;
    assert_int_equal(stat(at(fx, "one"), &a), 0);
    assert_int_equal(stat(at(fx, "two"), &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    /* a file with two names is not written through (it would change the other) */
    assert_int_equal(sr_jail_open(fx->j, "two", O_WRONLY, 0, &fd, &err), SR_EREFUSED);
    assert_int_equal(sr_jail_open_locked(fx->j, "two", false, &fd, NULL, &err), SR_EREFUSED);
    assert_int_equal(sr_jail_open(fx->j, "two", O_RDONLY, 0, &fd, &err), SR_OK);
    close(fd);
    /* hard link from a link: refused (never to what it points to) */
    assert_int_equal(symlink("../outside/secret", at(fx, "l")), 0);
    assert_int_equal(sr_jail_hardlink(fx->j, "l", "three", &err), SR_EREFUSED);
    assert_int_equal(sr_jail_hardlink(fx->j, "../outside/secret", "four", &err), SR_EREFUSED);
    /* a FIFO neither hangs the open nor is taken for a file */
    assert_int_equal(mkfifo(at(fx, "fifo"), 0644), 0);
    assert_int_equal(sr_jail_open(fx->j, "fifo", O_WRONLY, 0, &fd, &err), SR_EREFUSED);
    assert_int_equal(sr_jail_open(fx->j, "fifo", O_RDONLY, 0, &fd, &err), SR_EREFUSED);
    assert_canary(fx);
}

static void locks(void **state)
{
    fixture *fx = *state;
    sr_err err;
    int fd, other;
    bool created;
    assert_int_equal(sr_jail_open_locked(fx->j, "f.tmp", false, &fd, &created, &err), SR_OK);
    assert_true(created);
    /* another process cannot take it, and says so retryably */
    pid_t pid = fork();
    if (pid == 0) {
        sr_err e;
        int f;
        _exit(sr_jail_open_locked(fx->j, "f.tmp", false, &f, NULL, &e) == SR_EIO && e.retryable
                  ? 0
                  : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    close(fd);
    assert_int_equal(sr_jail_open_locked(fx->j, "f.tmp", false, &other, &created, &err), SR_OK);
    assert_false(created);
    close(other);
}

static void symlinks_made_not_followed(void **state)
{
    fixture *fx = *state;
    sr_err err;
    assert_int_equal(sr_jail_mkdirs(fx->j, "d", 0755, &err), SR_OK);
    assert_int_equal(sr_jail_symlink(fx->j, "../x", "d/l", &err), SR_OK);
    char text[64] = "";
    assert_int_equal(readlink(at(fx, "d/l"), text, sizeof text - 1), 4);
    assert_string_equal(text, "../x");
    /* replaced, not followed */
    assert_int_equal(sr_jail_symlink(fx->j, fx->outside, "d/l", &err), SR_OK);
    memset(text, 0, sizeof text);
    assert_true(readlink(at(fx, "d/l"), text, sizeof text - 1) > 0);
    assert_string_equal(text, fx->outside);
    int fd;
    assert_int_equal(sr_jail_open(fx->j, "d/l/secret", O_WRONLY | O_TRUNC, 0, &fd, &err),
                     SR_EREFUSED);
    assert_canary(fx);
}

static void link_targets(void **state)
{
    (void)state;
    assert_true(sr_jail_link_target_inside("a/b/l", "x"));
    assert_true(sr_jail_link_target_inside("a/b/l", "../../x"));
    assert_false(sr_jail_link_target_inside("a/b/l", "../../../x"));
    assert_false(sr_jail_link_target_inside("l", "../x"));
    assert_false(sr_jail_link_target_inside("a/l", "/etc/passwd"));
    assert_true(sr_jail_link_target_inside("/a//b/l", "c/../../y"));
    assert_false(sr_jail_link_target_inside("a/l", "c/../../../y"));
    assert_false(sr_jail_link_target_inside("a/l", ""));
}

/* The root removed and made again while sr runs: the new folder is used, not the one
 * that no longer has a name. */
static void root_replaced(void **state)
{
    fixture *fx = *state;
    sr_jails *js = sr_jails_new(0755, false);
    sr_jail *j1, *j2;
    sr_err err;
    assert_int_equal(sr_jails_get(js, fx->root, &j1, &err), SR_OK);
    assert_int_equal(sr_jails_get(js, fx->root, &j2, &err), SR_OK);
    assert_ptr_equal(j1, j2);
    char moved[400];
    snprintf(moved, sizeof moved, "%s/old", fx->top);
    assert_int_equal(rename(fx->root, moved), 0);
    assert_int_equal(mkdir(fx->root, 0755), 0);
    assert_int_equal(sr_jails_get(js, fx->root, &j2, &err), SR_OK);
    int fd;
    assert_int_equal(sr_jail_open(j2, "new", O_WRONLY | O_CREAT, 0644, &fd, &err), SR_OK);
    close(fd);
    assert_int_equal(access(at(fx, "new"), F_OK), 0);
    sr_jails_free(js);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* In a hold every operation does what it does outside one, and no descriptor outlives
 * the hold. */
static void held_same_results(void **state)
{
    fixture *fx = *state;
    int before = open_fds();
    sr_jail_hold(fx->j);
    files_and_folders(state);
    sr_jail_release(fx->j);
    assert_int_equal(open_fds(), before);
    sr_jail_hold(fx->j);
    hard_links_and_fifos(state);
    symlinks_made_not_followed(state);
    sr_jail_release(fx->j);
    assert_int_equal(open_fds(), before);
    assert_canary(fx);
}

/* The folder held is the one resolved (beneath the root, without links): a link put in
 * its place meanwhile is not followed, and after the release it is refused. Outside a
 * hold nothing stays open. */
static void held_folder_replaced_by_link(void **state)
{
    fixture *fx = *state;
    sr_err err;
    int fd, before = open_fds();
    assert_int_equal(sr_jail_mkdirs(fx->j, "a/b", 0755, &err), SR_OK);
    write_file(fx, "a/b/one", "1");
    assert_int_equal(open_fds(), before);
    sr_jail_hold(fx->j);
    struct stat st;
    assert_int_equal(sr_jail_lstat(fx->j, "a/b/one", &st, &err), SR_OK);
    assert_int_equal(open_fds(), before + 1); /* a/b, held */
    char old[400], link_at[400];
    snprintf(old, sizeof old, "%s", at(fx, "a/old"));
    snprintf(link_at, sizeof link_at, "%s", at(fx, "a/b"));
    assert_int_equal(rename(link_at, old), 0);
    assert_int_equal(symlink(fx->outside, link_at), 0);
    assert_int_equal(sr_jail_mkdirs(fx->j, "a/b", 0755, &err), SR_OK); /* the held one */
    assert_int_equal(sr_jail_open(fx->j, "a/b/two", O_WRONLY | O_CREAT, 0644, &fd, &err), SR_OK);
    close(fd);
    assert_int_equal(access(at(fx, "a/old/two"), F_OK), 0); /* where the held folder went */
    char escaped[400];
    snprintf(escaped, sizeof escaped, "%s/two", fx->outside);
    assert_int_equal(access(escaped, F_OK), -1);
    /* a rename forgets it: the next resolution meets the link */
    assert_int_equal(sr_jail_rename(fx->j, "a/b/two", "a/b/three", &err), SR_OK);
    assert_int_equal(access(at(fx, "a/old/three"), F_OK), 0);
    assert_int_equal(sr_jail_open(fx->j, "a/b/four", O_WRONLY | O_CREAT, 0644, &fd, &err),
                     SR_EREFUSED);
    sr_jail_release(fx->j);
    assert_int_equal(open_fds(), before);
    assert_int_equal(sr_jail_open(fx->j, "a/b/four", O_WRONLY | O_CREAT, 0644, &fd, &err),
                     SR_EREFUSED);
    assert_canary(fx);
}

#define BOTH(t)                                                                                    \
    cmocka_unit_test_setup_teardown(t, setup_openat2, teardown),                                   \
        cmocka_unit_test_setup_teardown(t, setup_walk, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(files_and_folders),
        BOTH(dotdot_refused),
        BOTH(folder_link_refused),
        BOTH(final_link_refused),
        BOTH(hard_links_and_fifos),
        BOTH(locks),
        BOTH(symlinks_made_not_followed),
        BOTH(held_same_results),
        BOTH(held_folder_replaced_by_link),
        cmocka_unit_test(link_targets),
        cmocka_unit_test_setup_teardown(root_replaced, setup_openat2, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
