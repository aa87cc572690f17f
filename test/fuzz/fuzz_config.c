/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_config: libFuzzer target for the config parser, on top of the shipped defaults.
 *
 * Input scheme:
 *   byte 0    the component: (byte - '0') mod 7 as an unsigned byte, so '0' post, '1'
 *             watch, '2' subscribe, '3' sarra, '4' shovel, '5' sender, '6' winnow (the
 *             order of enum sr_component); any other byte picks one too
 *   the rest  the config file's text
 * The text is written to fuzz.conf in a folder this process makes once under /tmp
 * (sr_fuzz_config.XXXXXX, removed at exit), and read with sr_config_load as a path, with
 * conf.d from $SR_CONFD (default "conf.d", the source tree's when run from its top) and
 * no config_dir. The private folder keeps relative includes from reaching other files.
 * A config that loads is also put through sr_config_check, then everything is freed.
 *
 * Only memory errors, undefined behaviour and leaks are failures: a config that does
 * not load is what most inputs are. A setup problem (no /tmp, no conf.d) exits 1.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[96];
static const char *confd;

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/sr_fuzz_config.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("fuzz_config: mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/fuzz.conf", dir);
    atexit(cleanup);
    confd = getenv("SR_CONFD");
    if (confd == NULL || *confd == '\0')
        confd = "conf.d";
    /* Without conf.d every load fails at once (its <component>.conf files must exist)
     * and the parser goes unexplored. */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/subscribe.conf", confd);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "fuzz_config: %s not readable: set SR_CONFD to sr's conf.d\n", probe);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int index = (int)((uint8_t)(data[0] - '0') % SR_COMPONENT_COUNT);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) {
        perror(path);
        exit(1);
    }
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }

    sr_config_request req = {
        .component = sr_component_at(index),
        .config = path,
        .config_dir = NULL,
        .confd_dir = confd,
    };
    sr_config *cfg = NULL;
    sr_err err = {0};
    if (sr_config_load(&req, &cfg, &err) == SR_OK) {
        sr_config_check(cfg, &err);
        sr_config_free(cfg);
    }
    return 0;
}
