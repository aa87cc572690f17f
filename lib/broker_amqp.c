/*
 * broker_amqp: placeholder while the backend is being written (issue 4); replaced by the
 * real one before that issue closes.
 */
#include "broker_impl.h"

int sr_broker_amqp_init(sr_broker *b, sr_err *err)
{
    (void)b;
    return sr_err_set(err, SR_EINVAL, false, "this build has no amqp backend yet");
}
