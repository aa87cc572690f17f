/*
 * transferconf: see transferconf.h.
 */
#include "transferconf.h"

#include <string.h>

static void transfer_event(void *ctx, enum sr_level level, const char *text)
{
    sr_log_write((sr_log *)ctx, level, "%s", text);
}

int sr_transferconf(const sr_config *cfg, const sr_credentials *creds, sr_log *log,
                    sr_transfer_setup *out, sr_err *err)
{
    memset(out, 0, sizeof *out);
    const sr_value *timeout = sr_config_value(cfg, SR_OPT_timeout);
    const sr_value *rate = sr_config_value(cfg, SR_OPT_byteRateMax);
    const char *tls = sr_config_str(cfg, SR_OPT_tlsRigour);
    out->options = (sr_transfer_options){
        .credentials = creds,
        .timeout = timeout->set ? timeout->u.seconds : 0,
        .tls = tls && strcmp(tls, "lax") == 0      ? SR_TLS_LAX
               : tls && strcmp(tls, "strict") == 0 ? SR_TLS_STRICT
                                                   : SR_TLS_NORMAL,
        .byte_rate_max = rate->set ? (double)rate->u.count : 0,
        .notify = transfer_event,
        .notify_ctx = log,
    };
    const sr_value *perm = sr_config_value(cfg, SR_OPT_permDefault);
    out->perm_default = perm->set && perm->u.bits != 0 ? (int)perm->u.bits : -1;
    const sr_value *dir = sr_config_value(cfg, SR_OPT_permDirDefault);
    out->dir_mode = dir->set && dir->u.bits ? (mode_t)dir->u.bits : 0755;
    const sr_value *attempts = sr_config_value(cfg, SR_OPT_attempts);
    out->attempts = attempts->set && attempts->u.count > 0 ? (int)attempts->u.count : 3;
    const sr_value *umask = sr_config_value(cfg, SR_OPT_permUmask);
    out->perm_umask = umask->set ? (mode_t)(umask->u.bits & 0777) : 002;
    return sr_inflight_parse(sr_config_str(cfg, SR_OPT_inflight), &out->inflight, err);
}

mode_t sr_transfer_safe_mode(const sr_transfer_setup *ts, unsigned message_mode)
{
    return (mode_t)(message_mode & 0777) & (mode_t)~ts->perm_umask;
}
