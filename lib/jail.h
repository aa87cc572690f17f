/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * jail: the file system beneath one folder, and nothing outside it (sr-security(7)).
 *
 * Every file-system operation on a path that a message can influence goes through here:
 * the destination of subscribe and sarra (downloads, inline content, fileOps, blocks and
 * their state files, locks and temporary names), and the files a sender reads beneath
 * its baseDir. A jail is a root folder opened once; paths are given relative to it and
 * resolved below it without following anything:
 *
 *   - with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) where
 *     the kernel has it (Linux 5.6), else component by component with O_NOFOLLOW;
 *   - a symbolic link met on the way, or as the final name of a file to open, is an
 *     error (SR_EREFUSED), never a path: not even a link that stays inside the tree;
 *   - a relative path holding ".." is refused before anything is looked up;
 *   - operations act on the resolved parent folder with the *at calls (renameat,
 *     unlinkat, mkdirat, symlinkat, linkat), and modes and times are set on open
 *     descriptors, so nothing is resolved twice within an operation (nor within a piece
 *     of work in a hold: sr_jail_hold);
 *   - files opened for writing must be regular files with one name (a hard link would
 *     make a write change another file), and are opened non-blocking first so a FIFO
 *     cannot hang the process.
 *
 * The root itself comes from the configuration (directory, baseDir, the state folder)
 * and is trusted: symbolic links in it are followed, once, when it is opened. If the
 * root is replaced while sr runs (removed and made again), sr_jails_get opens the new one.
 *
 * Errors name the root and the path; SR_EREFUSED (not retryable) means the path was
 * refused for safety, and the flow counts the message as rejected.
 */
#ifndef SR_JAIL_H
#define SR_JAIL_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

typedef struct sr_jail sr_jail;

/* Open root (made with make_mode when missing and make_mode is not 0; its parents too).
 * walk_only: resolve component by component even where openat2 exists (tests). */
int sr_jail_new(const char *root, mode_t make_mode, bool walk_only, sr_jail **out, sr_err *err);
void sr_jail_free(sr_jail *j);

/* The root as given. */
const char *sr_jail_root(const sr_jail *j);

/* Whether rel is a path the jail takes: relative, no "..", not empty. Leading '/' and
 * empty or "." components are ignored, as everywhere in the jail. */
bool sr_jail_rel_ok(const char *rel);

/* A hold: one piece of work (one file) about to make several operations in one folder
 * (look, make the folder, open a temporary name, rename it). Until sr_jail_release, the
 * first folder resolved (or made by sr_jail_mkdirs) stays open and the operations after
 * it in that same folder use it instead of resolving its path again; a rename or the
 * removal of a folder forgets it. As safe as resolving each time: it was resolved beneath
 * the root without following anything, every operation still acts on one name in it
 * without following it, and a folder moved meanwhile is where the work's open temporary
 * file is anyway, so renaming that file to its final name there reveals nothing more.
 * Holds count: the last release closes it. */
void sr_jail_hold(sr_jail *j);
void sr_jail_release(sr_jail *j);
/* Make the folder rel_dir and its parents beneath the root (mode for each one made, the
 * umask applying), like mkdir -p. "" is the root. A folder that exists is fine; anything
 * else there (a file, a symbolic link) is an error. */
int sr_jail_mkdirs(sr_jail *j, const char *rel_dir, mode_t mode, sr_err *err);

/* Open the regular file rel with open(2) flags (O_CLOEXEC and O_NOFOLLOW are added; with
 * O_CREAT, mode is the new file's). Its folder must exist. A symbolic link, or anything
 * but a regular file, is SR_EREFUSED; opened for writing, a file with more than one name
 * is refused too. SR_ENOENT when it is missing (and not created). */
int sr_jail_open(sr_jail *j, const char *rel, int flags, mode_t mode, int *fd, sr_err *err);

/* Open rel for reading and writing, made when missing (O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0666 less the umask) and locked with an exclusive flock that *fd holds until closed.
 * The file locked is still the one named rel (a process that renamed it away meanwhile
 * would otherwise have us lock a file nobody looks at). wait false: a file another
 * process holds is a retryable SR_EIO at once. *created (may be NULL): this call made it. */
int sr_jail_open_locked(sr_jail *j, const char *rel, bool wait, int *fd, bool *created,
                        sr_err *err);

/* lstat of rel: a symbolic link is reported as one, never followed. SR_ENOENT when it
 * (or a folder on its way) is missing. */
int sr_jail_lstat(sr_jail *j, const char *rel, struct stat *st, sr_err *err);

/* renameat from one name beneath the root to another. */
int sr_jail_rename(sr_jail *j, const char *from, const char *to, sr_err *err);

/* Remove a file or symbolic link (unlink), or an empty folder (rmdir: is_dir). SR_ENOENT
 * when it is not there. A symbolic link is removed itself, never what it points to. */
int sr_jail_remove(sr_jail *j, const char *rel, bool is_dir, sr_err *err);

/* Make rel a symbolic link holding target, replacing a file or link already there
 * (atomically: made under a temporary name, then renamed). The target is written as
 * given; the jail never follows it. Whether a target may point outside is the caller's
 * decision (sr_jail_link_target_inside). */
int sr_jail_symlink(sr_jail *j, const char *target, const char *rel, sr_err *err);

/* Make rel another name (hard link) of the file existing, both beneath the root,
 * replacing a file or link at rel. */
int sr_jail_hardlink(sr_jail *j, const char *existing, const char *rel, sr_err *err);

/* chmod of the folder rel (on a descriptor: a symbolic link is refused). */
int sr_jail_chmod_dir(sr_jail *j, const char *rel, mode_t mode, sr_err *err);

/* Whether a symbolic link at rel holding target would point beneath the root: target is
 * relative and its ".." never climb above the root from rel's folder. */
bool sr_jail_link_target_inside(const char *rel, const char *target);

/* ---- several roots ----
 * A component whose destination depends on the message (directory per accept line, dates
 * in directory) keeps its jails here, one per root, each opened on first use and
 * re-opened when the folder at its path was replaced. */
typedef struct sr_jails sr_jails;

/* make_mode: as sr_jail_new (roots are made when missing). NULL when out of memory. */
sr_jails *sr_jails_new(mode_t make_mode, bool walk_only);
void sr_jails_free(sr_jails *js);

/* The jail for root; it belongs to js. */
int sr_jails_get(sr_jails *js, const char *root, sr_jail **out, sr_err *err);

#endif
