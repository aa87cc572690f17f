/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_sarra: the sarra component: the flow of libsr with downloading as its work step,
 * announcing each file it got (download.h).
 */
#include "component.h"
#include "download.h"

int main(int argc, char **argv)
{
    return sr_component_main_work(SR_C_SARRA, sr_download_work(true), argc, argv);
}
