/*
 * sr_subscribe: the subscribe component: the flow of libsr with downloading as its work
 * step (download.h).
 */
#include "component.h"
#include "download.h"

static int attach(const sr_config *cfg, const sr_credentials *creds, sr_log *log,
                  sr_flow_component *fc, void **state, sr_err *err)
{
    sr_download *download = NULL;
    int rc = sr_download_new(cfg, creds, false, log, &download, err);
    if (rc != SR_OK)
        return rc;
    sr_download_component(download, fc);
    *state = download;
    return SR_OK;
}

static void release(void *state)
{
    sr_download_free(state);
}

int main(int argc, char **argv)
{
    static const sr_component_work work = {.attach = attach, .release = release};
    return sr_component_main_work(SR_C_SUBSCRIBE, &work, argc, argv);
}
