/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_sanity: what cron or sr-sanity.timer runs, the same pass as `sr sanity` (supervise.h):
 * restart missing and hung instances, stop stray ones, one line per action.
 * Exit status: 0 ok, 1 an action failed or a config could not be read, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "supervise.h"

int main(int argc, char **argv)
{
    sr_cli cli;
    sr_err err;
    if (sr_cli_init(&cli, argc, argv, &err) != SR_OK) {
        fprintf(stderr, "sr_sanity: %s\n", err.msg);
        sr_cli_fini(&cli);
        return 2;
    }
    int status;
    if (sr_cli_take(&cli, "--help") || sr_cli_take(&cli, "-h")) {
        printf("usage: sr_sanity [--option value ...] [PATTERN ...]\n"
               "  restart missing instances (pid file of a dead process) and hung ones (no\n"
               "  metrics written for runStateThreshold_hung), stop stray ones (config gone or\n"
               "  disabled, or no pid file names them); the same as `sr sanity`, see sr(1).\n"
               "  cron: */5 * * * * sr_sanity >/dev/null 2>&1\n");
        status = 0;
    } else if (sr_cli_take(&cli, "--version")) {
        printf("sr_sanity %s\n", SR_VERSION);
        status = 0;
    } else {
        sr_supervisor s;
        sr_supervisor_init(&s, &cli, "sr_sanity");
        status = sr_supervise_sanity(&s, cli.positional, cli.positional_count);
        sr_supervisor_fini(&s);
    }
    sr_cli_fini(&cli);
    return status;
}
