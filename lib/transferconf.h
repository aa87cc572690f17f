/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transferconf: from a loaded config to what the transfer layer needs, for the components
 * that move files (subscribe, sarra, sender, and poll's listing): the pool's options
 * (credentials, the plugins' schemes, timeout, tlsRigour, byteRateMax, events to the log) and the
 * settings around each transfer (inflight, permDefault, permDirDefault, permUmask, attempts).
 */
#ifndef SR_TRANSFERCONF_H
#define SR_TRANSFERCONF_H

#include "config.h"
#include "credentials.h"
#include "log.h"
#include "transfer.h"

typedef struct sr_transfer_setup {
    sr_transfer_options options; /* notify writes to the log given */
    sr_inflight inflight;
    int perm_default;  /* permDefault, or -1 (0 in the config): leave it to the umask */
    mode_t dir_mode;   /* permDirDefault; 0755 for permDirDefault 0, never 0 */
    int attempts;      /* attempts: immediate tries before the retry queue, at least 1 */
    mode_t perm_umask; /* permUmask: bits cleared from any mode a message brings */
} sr_transfer_setup;

struct sr_plugins;
/* Fill out from cfg; errors name the option (a bad inflight). log, and plugins (the
 * config's, whose schemes are transferred through them; may be NULL), must outlive the
 * pool made from out->options. */
int sr_transferconf(const sr_config *cfg, const sr_credentials *creds,
                    const struct sr_plugins *plugins, sr_log *log, sr_transfer_setup *out,
                    sr_err *err);

/* A mode a message brings, made safe to apply (sr-security(7)): no bit beyond 0777
 * (setuid, setgid, sticky), and none of permUmask's. */
mode_t sr_transfer_safe_mode(const sr_transfer_setup *ts, unsigned message_mode);

#endif
