/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * message_wis: WMO WIS2 Notification Messages (WNM), the third wire format (message.h).
 * Being written (issue 21): until then, posting in this format is refused, named.
 */
#include "message_impl.h"

int sr_msg_encode_wis(const sr_message *m, sr_encoded *out, sr_err *err)
{
    (void)m;
    (void)out;
    return sr_err_set(err, SR_EINVAL, false, "post_format wis: the WNM encoder is not built yet");
}
