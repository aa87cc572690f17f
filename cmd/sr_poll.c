/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_poll: the poll component. It lists remote servers with the transfer layer, so its
 * gather step lives in libsr's poll module and is attached here, as the work steps of the
 * components that move data are (component.h): the other executables do not link libcurl
 * and libssh.
 */
#include "component.h"
#include "poller.h"

int main(int argc, char **argv)
{
    return sr_component_main_work(SR_C_POLL, sr_poll_work(), argc, argv);
}
