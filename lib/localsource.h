/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * localsource: announcing local files from a config, for sr_post and sr_watch.
 *
 * sr_local_announce_options turns a config's posting options (post_baseUrl,
 * post_baseDir, identity, timeCopy, permCopy, inline*, realpathPost, header, cluster,
 * to_clusters, rename) into announce.h's options. sr_post_source walks the paths sr_post is
 * given and hands the flow their messages a batch at a time: its gather hook. A folder
 * is posted as the files (and links) in it, recursively when `recursive` (the default),
 * as sr3 does; the folder itself is not announced. With follow_symlinks a link to a
 * folder is announced and also walked, its files announced under the link's name (loops
 * cut: sr_local_follow_ok).
 */
#ifndef SR_LOCALSOURCE_H
#define SR_LOCALSOURCE_H

#include "announce.h"
#include "config.h"
#include "flow.h"

/* The announce options of cfg. spec receives the parsed identity option (free with
 * sr_identity_spec_fini); o points into cfg and spec. */
int sr_local_announce_options(const sr_config *cfg, sr_identity_spec *spec,
                              sr_announce_options *o, sr_err *err);

/* follow_symlinks: is path, a symbolic link, one to descend into? It must lead to a
 * folder, and not to one of the folders path is in (a loop). */
bool sr_local_follow_ok(const char *path);

typedef struct sr_post_source sr_post_source;

/* The paths to post: those given (the command line), else the config's `path` lines;
 * problems with them go to log (which outlives s). */
int sr_post_source_new(const sr_config *cfg, sr_log *log, char *const *paths, size_t count,
                       sr_post_source **out, sr_err *err);
void sr_post_source_free(sr_post_source *s);

/* How many paths could not be announced (missing, unreadable, outside post_baseDir):
 * sr_post's exit status says whether all were posted. */
size_t sr_post_source_failures(const sr_post_source *s);

/* The flow component of sr_post: gather from s, no work step. */
void sr_post_source_component(sr_post_source *s, sr_flow_component *out);

#endif
