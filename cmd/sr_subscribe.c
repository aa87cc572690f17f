/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_subscribe: the subscribe component: the flow of libsr with downloading as its work step (download.h).
 */
#include "component.h"
#include "download.h"

int main(int argc, char **argv)
{
    return sr_component_main_work(SR_C_SUBSCRIBE, sr_download_work(false), argc, argv);
}
