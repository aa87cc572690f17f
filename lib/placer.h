/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * placer: a config's placement rules (directory, mirror, strip, flatten, filename, baseDir,
 * post_baseDir, post_baseUrl, baseUrl_relPath, varTimeOffset; per accept line where it
 * sets them) applied to messages, with each strip regex compiled once. The flow places every
 * accepted message with one; a work step that must place another name (the old name of a rename, a
 * hard link's target) keeps its own, so it needs nothing from the flow.
 */
#ifndef SR_PLACER_H
#define SR_PLACER_H

#include "config.h"
#include "message.h"
#include "placement.h"

typedef struct sr_placer sr_placer;

struct sr_plugins;
/* Rules of cfg, which must outlive the placer, with plugins (may be NULL) for
 * `filename DESTFNSCRIPT=`. NULL when out of memory. */
sr_placer *sr_placer_new(const sr_config *cfg, struct sr_plugins *plugins);
void sr_placer_free(sr_placer *p);

/* Every `filename DESTFNSCRIPT=X` (the option, or an accept line's keyword) answered by a
 * plugin of the placer's called X with destfn: SR_EINVAL naming the file:line and X
 * otherwise. The components that place files call it when they are set up, so such a
 * config does not start. */
int sr_placer_check(const sr_placer *p, sr_err *err);
/* The same for cfg and its plugins (may be NULL) without a placer: for `check`, once the
 * plugins are loaded. */
int sr_placer_check_config(const sr_config *cfg, const struct sr_plugins *plugins, sr_err *err);

/* Where m's file goes by the rules in force at mask (NULL: the config's own), with the
 * capture groups of that accept line (${1}..; groups may be NULL). See placement.h. */
int sr_placer_place(sr_placer *p, const sr_message *m, const sr_mask *mask,
                    const char *const *groups, int group_count, sr_placement *out, sr_err *err);

/* The local file a sender reads for m: sr_placement_source with the config's baseDir. */
int sr_placer_source(sr_placer *p, const sr_message *m, char **root, char **under_root,
                     sr_err *err);

#endif
