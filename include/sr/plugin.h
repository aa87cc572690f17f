/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr/plugin.h: the C plugin API of sr (sr-plugin(7)). The one header a plugin includes;
 * it needs nothing else from sr, and a plugin links against nothing of sr's: every call
 * into sr goes through the table of functions (sr_plugin_api) sr hands the plugin.
 *
 * A plugin is a shared object that exports two symbols:
 *
 *     const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;
 *     const sr_plugin *sr_plugin_entry(const sr_plugin_api *api);
 *
 * sr reads sr_plugin_abi_version before it calls anything, and refuses a plugin built
 * for another ABI. sr_plugin_entry returns the plugin's description: its name, the
 * options it reads, and the hooks it has (any may be NULL). A config loads it with
 * `flowcb NAME` (or sr3's `callback NAME`, `flowCallback NAME`): NAME.so is looked for in
 * ~/.config/sr/plugins, then in sr's system plugin folder; a NAME with a '/' is a path.
 * The file, and the folder it is in, must not be writable by others than its owner, and
 * the owner must be the user running sr or root.
 *
 * The hooks are sr3's flowcb entry points, at the same moments with the same meaning:
 *
 *   on_start         the flow is set up, before the first message
 *   on_stop          the flow stops (after its last pass is settled)
 *   on_housekeeping  every `housekeeping` seconds
 *   after_accept     a message passed accept/reject and the duplicate cache; its
 *                    destination (new_dir, new_file) is known. May change its fields,
 *                    reject it, or send it to the retry queue.
 *   after_work       its work (download, send, nothing) is done or failed. May reject
 *                    it (it is not posted) or send it to the retry queue.
 *   after_post       it was posted and the broker confirmed it
 *   gather           adds new messages (a source of its own), up to max of them
 *   poll             sr_poll only: lists a remote instead of sr's own listing
 *   destfn           `filename DESTFNSCRIPT=NAME`: names the destination file
 *   download, send   transfer files for the URL schemes the plugin lists
 *   metrics_report   adds figures to the instance's metrics (sr status)
 *
 * Messages are reached only through the api's accessors (never their layout), by the
 * field names of the v03 format (sr-message(7)). Whatever a plugin sets is checked as a
 * received message is checked; a destination a plugin chooses stays inside the
 * destination root, as one a message chooses does (sr-security(7)).
 *
 * Hooks run in the component's one thread, one at a time, plugin after plugin in the
 * order of the flowcb lines. A hook that blocks stops the flow: keep them short.
 */
#ifndef SR_PLUGIN_H
#define SR_PLUGIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised when a change would break a plugin built against an older header: a new
 * member added at the end of sr_plugin_api or sr_plugin does not raise it. */
#define SR_PLUGIN_ABI_VERSION 1

/* The names of the two symbols sr looks up in a plugin. */
#define SR_PLUGIN_ABI_SYMBOL "sr_plugin_abi_version"
#define SR_PLUGIN_ENTRY_SYMBOL "sr_plugin_entry"

typedef struct sr_plugin_api sr_plugin_api;
typedef struct sr_plugin_msg sr_plugin_msg;       /* one message (opaque) */
typedef struct sr_plugin_sink sr_plugin_sink;     /* where a download's bytes go (opaque) */
typedef struct sr_plugin_source sr_plugin_source; /* where a send's bytes come from (opaque) */

/* What every hook is given: one per plugin per flow. */
typedef struct sr_plugin_host {
    const sr_plugin_api *api;
    void *state; /* the plugin's own: on_start may set it; sr never touches it */
} sr_plugin_host;

enum sr_plugin_level {
    SR_PLUGIN_DEBUG,
    SR_PLUGIN_INFO,
    SR_PLUGIN_WARNING,
    SR_PLUGIN_ERROR,
    SR_PLUGIN_CRITICAL,
};

/* What after_accept and after_work decide for one message. */
enum sr_plugin_verdict {
    SR_PLUGIN_KEEP = 0, /* it goes on */
    SR_PLUGIN_REJECT,   /* it goes no further: logged as rejected with the reason, acked,
                         * not worked on (after_accept) or not posted (after_work) */
    SR_PLUGIN_RETRY,    /* to the retry queue, tried again later (acked once queued) */
};

/* What became of a message's work, for after_work. */
enum sr_plugin_outcome {
    SR_PLUGIN_DONE,   /* done: it will be posted (when the component posts) */
    SR_PLUGIN_FAILED, /* failed for now: it goes to the retry queue */
};

/* Everything sr does for a plugin. Strings returned are sr's: valid until the hook
 * returns (or, for msg_get, until the message is changed), never freed by the plugin. */
struct sr_plugin_api {
    unsigned abi_version; /* SR_PLUGIN_ABI_VERSION */
    size_t size;          /* sizeof (sr_plugin_api) in the sr that loaded the plugin */

    /* One line in the instance's log, with the config, instance and plugin name. */
    void (*log)(sr_plugin_host *h, enum sr_plugin_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Why the last call of this plugin's that failed (returned -1 or NULL) failed. */
    const char *(*error)(sr_plugin_host *h);

    /* Options: any sr option by its name (as `sr show` prints its value), or one the
     * plugin declared in sr_plugin.options. NULL when unset. An option given on several
     * lines (a declared one, or a list such as `path`) has option_count values. */
    const char *(*option)(sr_plugin_host *h, const char *name);
    size_t (*option_count)(sr_plugin_host *h, const char *name);
    const char *(*option_at)(sr_plugin_host *h, const char *name, size_t i);

    /* Where it runs: "subscribe", the config's name, the instance (0: foreground), and
     * the folder for the plugin's own files (the instance's state folder). */
    const char *(*component)(sr_plugin_host *h);
    const char *(*config_name)(sr_plugin_host *h);
    int (*instance)(sr_plugin_host *h);
    const char *(*state_dir)(sr_plugin_host *h);

    /* ---- messages ----
     * msg_get: a string field as it is ("relPath", "baseUrl", "pubTime", "mtime",
     * "source"...); any other field as its JSON text ("size" -> "42", "identity" ->
     * {"method":...}). The destination, once known (after_accept on): "new_dir",
     * "new_file" (where the file is written or sent), "new_relPath", "new_baseUrl" (how
     * it is announced after). NULL when absent. */
    const char *(*msg_get)(sr_plugin_msg *m, const char *field);
    /* Set a string field, or (msg_set_json) any field from its JSON text. new_dir and
     * new_file may be set in after_accept: new_file is a name (no '/'), new_dir must lie
     * inside the destination root; new_relPath follows them. 0, or -1 when refused
     * (error says why; the message is unchanged). */
    int (*msg_set)(sr_plugin_msg *m, const char *field, const char *value);
    int (*msg_set_json)(sr_plugin_msg *m, const char *field, const char *json);
    /* Remove a field (a required one, pubTime, baseUrl or relPath, cannot be: -1). */
    int (*msg_remove)(sr_plugin_msg *m, const char *field);
    /* The whole message as v03 JSON. */
    const char *(*msg_json)(sr_plugin_msg *m);

    /* gather and poll: a new message, stamped with pubTime now, that enters the flow when
     * the hook returns. Its fields are then set with msg_set. NULL when refused. */
    sr_plugin_msg *(*msg_new)(sr_plugin_host *h, const char *base_url, const char *rel_path);

    /* download: hand the file's bytes to sr in order; sr checksums them, counts them and
     * writes them to the partial file. 0, or -1: stop (more bytes than announced, disk
     * full...) and return -1. */
    int (*sink_write)(sr_plugin_sink *s, const void *buf, size_t n);
    /* send: the file's next bytes: how many were read, 0 at its end, -1 on error. */
    long (*source_read)(sr_plugin_source *s, void *buf, size_t n);

    /* metrics_report: one figure, shown under the plugin's name. */
    void (*metric)(sr_plugin_host *h, const char *name, double value);
};

/* What a plugin is and does. Any hook may be NULL. */
typedef struct sr_plugin {
    unsigned abi_version; /* SR_PLUGIN_ABI_VERSION */
    const char *name;     /* as logs show it */
    /* The options the plugin reads, NULL-terminated (or NULL): a config may then set
     * them, on any line; a line sr does not know and no plugin declares is refused. */
    const char *const *options;
    /* The URL schemes download and send handle, NULL-terminated (or NULL). */
    const char *const *schemes;

    /* 0, or -1: the component does not start (log why first). */
    int (*on_start)(sr_plugin_host *h);
    void (*on_stop)(sr_plugin_host *h);
    void (*on_housekeeping)(sr_plugin_host *h);
    /* *why (for REJECT and RETRY): a reason that lives until the hook returns. */
    enum sr_plugin_verdict (*after_accept)(sr_plugin_host *h, sr_plugin_msg *m,
                                           const char **why);
    enum sr_plugin_verdict (*after_work)(sr_plugin_host *h, sr_plugin_msg *m,
                                         enum sr_plugin_outcome outcome, const char **why);
    void (*after_post)(sr_plugin_host *h, sr_plugin_msg *m);
    /* Up to max new messages with api->msg_new. How many, or -1 (error says why). */
    int (*gather)(sr_plugin_host *h, size_t max);
    /* sr_poll, on its schedule and with the vip: new messages with api->msg_new. How
     * many, or -1. */
    int (*poll)(sr_plugin_host *h);
    /* Write the destination file name (one name: no '/', not "." or "..") into name,
     * which starts empty; 0 leaving it empty keeps the name. -1: failed (error says why),
     * the message is rejected, not written or sent. */
    int (*destfn)(sr_plugin_host *h, sr_plugin_msg *m, char *name, size_t size);
    /* Fetch url's bytes into sink. 0 done, -1 failed (retried later). */
    int (*download)(sr_plugin_host *h, sr_plugin_msg *m, const char *url, sr_plugin_sink *sink);
    /* Send source's bytes to remote_path (the final name: the plugin makes the write
     * atomic if its protocol can). 0 done, -1 failed (retried later). */
    int (*send)(sr_plugin_host *h, sr_plugin_msg *m, sr_plugin_source *source,
                const char *remote_path);
    void (*metrics_report)(sr_plugin_host *h);
} sr_plugin;

typedef const sr_plugin *(*sr_plugin_entry_fn)(const sr_plugin_api *api);

/* What a plugin defines (declared here so a plugin built with -Wmissing-prototypes or
 * -Wmissing-variable-declarations compiles clean; sr itself defines neither). */
extern const unsigned sr_plugin_abi_version;
const sr_plugin *sr_plugin_entry(const sr_plugin_api *api);

#ifdef __cplusplus
}
#endif

#endif
