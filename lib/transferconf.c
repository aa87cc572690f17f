/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * transferconf: see transferconf.h.
 */
#include "transferconf.h"

#include <string.h>

static void transfer_event(void *ctx, enum sr_level level, const char *text)
{
    sr_log_write((sr_log *)ctx, level, "%s", text);
}

int sr_transferconf(const sr_config *cfg, const sr_credentials *creds,
                    const struct sr_plugins *plugins, sr_log *log, sr_transfer_setup *out,
                    sr_err *err)
{
    memset(out, 0, sizeof *out);
    out->options = (sr_transfer_options){
        .credentials = creds,
        .plugins = plugins,
        .timeout = sr_config_seconds(cfg, SR_OPT_timeout),
        .tls = (enum sr_tls_rigour)sr_config_choice(cfg, SR_OPT_tlsRigour),
        .byte_rate_max = (double)sr_config_count(cfg, SR_OPT_byteRateMax),
        .buffer_size = (size_t)sr_config_count(cfg, SR_OPT_bufSize),
        .notify = transfer_event,
        .notify_ctx = log,
    };
    unsigned perm = sr_config_bits(cfg, SR_OPT_permDefault);
    out->perm_default = perm != 0 ? (int)perm : -1;
    /* permDirDefault 0 cannot mean a folder nobody may enter: it means 0755 (its help
     * says so); sftp sets the mode exactly, so it must not be a wider one. */
    unsigned dir = sr_config_bits(cfg, SR_OPT_permDirDefault);
    out->dir_mode = dir != 0 ? (mode_t)dir : 0755;
    /* at least the one try (attempts 0 cannot mean "never transfer") */
    long long attempts = sr_config_count(cfg, SR_OPT_attempts);
    out->attempts = attempts > 0 ? (int)attempts : 1;
    out->perm_umask = (mode_t)(sr_config_bits(cfg, SR_OPT_permUmask) & 0777);
    return sr_inflight_parse(sr_config_str(cfg, SR_OPT_inflight), &out->inflight, err);
}

mode_t sr_transfer_safe_mode(const sr_transfer_setup *ts, unsigned message_mode)
{
    return (mode_t)(message_mode & 0777) & (mode_t)~ts->perm_umask;
}
