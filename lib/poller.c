/* SPDX-License-Identifier: GPL-2.0-only */
/* poller: see poller.h. (Being written: attach refuses for now.) */
#include "poller.h"

static int attach(const sr_flow_services *svc, sr_flow_component *fc, void **state, sr_err *err)
{
    (void)svc;
    (void)fc;
    *state = NULL;
    return sr_err_set(err, SR_EINVAL, false, "sr_poll is not finished yet");
}

static void release(void *state)
{
    (void)state;
}

const sr_component_work *sr_poll_work(void)
{
    static const sr_component_work work = {.attach = attach, .release = release};
    return &work;
}
