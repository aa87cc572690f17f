/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * placement: where an accepted message's file goes, and what it is announced as after
 * (sr_subscribe(1) and sr_sender(1), DESCRIPTION; sr(1), THE FLOW, post), from the accept
 * line's settings (directory, mirror, strip, flatten, in force where the accept was written:
 * sr-config(5), Lines) and the config's baseDir, post_baseDir and post_baseUrl.
 *
 *   relPath "a/b/c.txt", directory /data/in:
 *     mirror on      -> /data/in/a/b/c.txt
 *     mirror off     -> /data/in/c.txt
 *     strip 1        -> /data/in/b/c.txt (mirror on)
 *     flatten "-"    -> /data/in/a-b-c.txt
 *   the message's `rename` field (set by the poster) replaces the name; ending in '/' it
 *   names the folder instead.
 *   baseUrl_relPath: baseUrl https://h/x/y, relPath a/c.txt is placed as x/y/a/c.txt.
 *   filename (Sundew naming, sr-config(5)): the file name, after all the above, rewritten
 *   by the spec (sr_placement_sundew_name).
 *   Re-announced relPath: the destination path relative to post_baseDir (the absolute
 *   path without its leading '/' when post_baseDir is unset, as sr3 does), baseUrl:
 *   post_baseUrl.
 *
 * directory may hold per-message variables (${YYYYMMDD}, ${SOURCE}, regex groups ${1}
 * ...: varsub.h), filled here. Whatever the message says, the destination stays inside
 * `directory`: a relPath that would climb out is refused (the message decoder refuses
 * those already; this is the second lock), and so is a value of a variable the message
 * chooses that holds ".." (or "/" in a single name); the work step then resolves
 * under_root beneath root through the jail (jail.h), the third.
 */
#ifndef SR_PLACEMENT_H
#define SR_PLACEMENT_H

#include <stdbool.h>
#include <time.h>

#include "error.h"
#include "message.h"
#include "regex.h"
#include "strlist.h"

typedef struct sr_placement_rules {
    const char *directory; /* destination root (per-message variables allowed); NULL: "." */
    bool mirror;
    long long strip_count;       /* leading path elements removed (0: none) */
    const sr_regex *strip_regex; /* or: what it matches is removed from relPath; may be NULL */
    const char *flatten;         /* NULL or "/": keep the folders; else join the elements with it */
    const char *base_dir;        /* baseDir: a relPath starting with it loses that prefix */
    const char *post_base_dir;   /* post_baseDir */
    const char *post_base_url;   /* post_baseUrl */
    const char *source;          /* ${SOURCE} */
    double time_offset;          /* varTimeOffset */
    const char *const *groups;   /* regex groups of the accept that matched: ${1}.. */
    int group_count;
    const char *filename;   /* the Sundew naming spec in force (filename option or the
                               accept line's keyword), or NULL: the name as it is */
    bool base_url_rel_path; /* baseUrl_relPath: the baseUrl's path goes before relPath */
    /* filename DESTFNSCRIPT=script: the name the plugin `script` gives m's file, as a new
     * string in *name (placer.c asks the config's plugins). NULL: such a spec is
     * SR_EINVAL. Whatever it returns is checked here like any Sundew name. */
    int (*destfn)(void *ctx, const char *script, const sr_message *m, char **name, sr_err *err);
    void *destfn_ctx;
} sr_placement_rules;

typedef struct sr_placement {
    char *dir;      /* destination folder */
    char *name;     /* destination file name */
    char *path;     /* dir/name */
    char *rel_path; /* relPath to announce it as (relative to post_baseDir) */
    char *base_url; /* baseUrl to announce it with (post_baseUrl), or NULL when unset */
    /* Where the file may go (jail.h): the destination root, the part of directory the
     * configuration wrote before any value the message chose (${SOURCE}, ${BUP}, groups),
     * and path relative to it. */
    char *root;
    char *under_root;
} sr_placement;

/* Work out the placement of m's file by the rules, at time now (dates in directory). */
int sr_placement_compute(const sr_placement_rules *rules, const sr_message *m, time_t now,
                         sr_placement *out, sr_err *err);
void sr_placement_fini(sr_placement *p);

/* Sundew's naming (the filename option, or the keyword after an accept's regex): name
 * rewritten by spec, a ':' separated list applied left to right, as sr3 applies it:
 *   WHATFN       the name up to its first ':'
 *   HEADFN       of that, the first two '_' separated fields
 *   NONE         the first six ':' fields (five when the fifth is longer than one
 *                character), or what comes before "SENDER=" when the name holds one
 *   NONESENDER   as NONE, keeping the SENDER=value field
 *   SENDER       the value of the name's SENDER= field (no change when it has none)
 *   DESTFN=NAME  NAME
 *   DESTFNSCRIPT=SCRIPT  the name a plugin with destfn gives (sr-plugin(7)): only through
 *                sr_placement_compute, whose rules reach the plugins; here SR_EINVAL
 *   SATNET=X     ":SATNET=X" appended after the rest
 *   TIME         ":YYYYMMDDHHMMSS" of pubTime appended (the name's own last field
 *                instead, when that is a 14-digit time already)
 * spec NULL or "None": the name unchanged. extension (a Sundew message's
 * sundew_extension field, or NULL) replaces the fields after the first. *out is a new
 * string. SR_EINVAL for a form sr does not do (sr_placement_filename_check says which),
 * SR_EREFUSED when the result is not one file name ("/", "..", empty). */
int sr_placement_sundew_name(const char *spec, const char *name, const char *extension,
                             const char *pub_time, char **out, sr_err *err);

/* Can sr apply this filename spec? SR_EINVAL naming the form otherwise: a DESTFN= name
 * holding '/', a DESTFNSCRIPT= without a name, a word sr3 does not know either. Whether
 * a plugin answers DESTFNSCRIPT= is for sr_placer_check, which knows the plugins. */
int sr_placement_filename_check(const char *spec, sr_err *err);

/* The SCRIPT of each DESTFNSCRIPT=SCRIPT word of spec (may be NULL), appended to out.
 * 0, or -1 when out of memory. */
int sr_placement_filename_scripts(const char *spec, sr_strlist *out);

/* The local file a sender reads for m (sr3: baseDir + "/" + relPath, baseDir's
 * per-message variables filled; a relPath that starts with baseDir already, as a watch
 * posting absolute paths writes, is read where it is), as a root (the part of baseDir the
 * configuration wrote) and the path beneath it: new strings the caller frees. A relPath
 * holding ".." is SR_EREFUSED; no baseDir is SR_EINVAL. */
int sr_placement_source(const sr_placement_rules *r, const sr_message *m, time_t now, char **root,
                        char **under_root, sr_err *err);

#endif
