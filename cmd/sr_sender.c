/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_sender: the sender component: the flow of libsr with sending as its work step
 * (send.h).
 */
#include "component.h"
#include "send.h"

int main(int argc, char **argv)
{
    return sr_component_main_work(SR_C_SENDER, sr_send_work(), argc, argv);
}
