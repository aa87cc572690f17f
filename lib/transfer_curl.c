/*
 * transfer_curl: placeholder while the backend is being written (issue 5); replaced by the
 * real one before that issue closes.
 */
#include "transfer_impl.h"

int sr_transfer_curl_init(sr_transfer *t, sr_err *err)
{
    return sr_err_set(err, SR_EINVAL, false, "%s: this build has no curl transfer backend yet",
                      t->shown_url);
}
