/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_shovel: the shovel component. Everything it does is in libsr; this file only names it.
 */
#include "component.h"

int main(int argc, char **argv)
{
    return sr_component_main(SR_C_SHOVEL, argc, argv);
}
