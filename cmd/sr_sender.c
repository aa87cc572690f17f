/*
 * sr_sender: the sender component: the flow of libsr with sending as its work step
 * (send.h).
 */
#include "component.h"
#include "send.h"

static int attach(const sr_config *cfg, const sr_credentials *creds, sr_log *log,
                  sr_flow_component *fc, void **state, sr_err *err)
{
    sr_send *send = NULL;
    int rc = sr_send_new(cfg, creds, log, &send, err);
    if (rc != SR_OK)
        return rc;
    sr_send_component(send, fc);
    *state = send;
    return SR_OK;
}

static void release(void *state)
{
    sr_send_free(state);
}

int main(int argc, char **argv)
{
    static const sr_component_work work = {.attach = attach, .release = release};
    return sr_component_main_work(SR_C_SENDER, &work, argc, argv);
}
