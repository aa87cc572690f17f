/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr_status_tool: runs `sr status|declare|cleanup|import` through the library entry points
 * (status.h, declare.h, sr3import.h) the way cmd/sr.c dispatches to them, so the
 * integration tests can drive these verbs whichever build of cmd/sr.c is at hand.
 * Usage: sr_status_tool [--option value ...] VERB [ARGS ...]
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "declare.h"
#include "sr3import.h"
#include "status.h"

int main(int argc, char **argv)
{
    sr_cli cli;
    sr_err err;
    if (sr_cli_init(&cli, argc, argv, &err) != SR_OK) {
        fprintf(stderr, "sr_status_tool: %s\n", err.msg);
        sr_cli_fini(&cli);
        return 2;
    }
    int status = 2;
    if (cli.positional_count == 0) {
        fprintf(stderr, "usage: sr_status_tool VERB [ARGS ...]\n");
    } else {
        const char *verb = cli.positional[0];
        char **rest = cli.positional + 1;
        int n = (int)cli.positional_count - 1;
        if (strcmp(verb, "status") == 0)
            status = sr_status_main(&cli, n, rest);
        else if (strcmp(verb, "declare") == 0)
            status = sr_declare_main(&cli, n, rest);
        else if (strcmp(verb, "cleanup") == 0)
            status = sr_cleanup_main(&cli, n, rest);
        else if (strcmp(verb, "import") == 0)
            status = sr_import_main(&cli, n, rest);
        else
            fprintf(stderr, "sr_status_tool: unknown verb %s\n", verb);
    }
    sr_cli_fini(&cli);
    return status;
}
