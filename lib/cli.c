/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cli: see cli.h.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sr_cli_init(sr_cli *cli, int argc, char **argv, sr_err *err)
{
    memset(cli, 0, sizeof *cli);
    int rc = sr_config_parse_args(argc - 1, argv + 1, &cli->overrides, &cli->override_count,
                                  &cli->positional, &cli->positional_count, err);
    if (rc != SR_OK)
        return rc;
    /* statehost is read per config; the folders here are the ones without it. */
    return sr_paths_init(&cli->paths, false, err);
}

void sr_cli_fini(sr_cli *cli)
{
    sr_overrides_free(cli->overrides, cli->override_count, cli->positional);
    sr_credentials_free(cli->credentials);
    sr_paths_fini(&cli->paths);
    memset(cli, 0, sizeof *cli);
}

int sr_cli_load(const sr_cli *cli, enum sr_component component, const char *config,
                sr_config **out, sr_err *err)
{
    sr_config_request req = {
        .component = component,
        .config = config,
        .config_dir = cli->paths.config_dir,
        .confd_dir = cli->paths.confd_dir,
        .overrides = cli->overrides,
        .override_count = cli->override_count,
    };
    return sr_config_load(&req, out, err);
}

int sr_cli_credentials(sr_cli *cli, const sr_credentials **out, const sr_strlist **warnings,
                       sr_err *err)
{
    *warnings = NULL;
    if (cli->credentials == NULL) {
        char *path = NULL;
        if (asprintf(&path, "%s/credentials.conf", cli->paths.config_dir) < 0)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        int rc = sr_credentials_load(path, &cli->credentials, err);
        free(path);
        if (rc != SR_OK)
            return rc;
        *warnings = sr_credentials_warnings(cli->credentials);
    }
    *out = cli->credentials;
    return SR_OK;
}

int sr_cli_take(sr_cli *cli, const char *word)
{
    for (size_t i = 0; i < cli->positional_count; i++) {
        if (strcmp(cli->positional[i], word) == 0) {
            memmove(&cli->positional[i], &cli->positional[i + 1],
                    (cli->positional_count - i - 1) * sizeof cli->positional[0]);
            cli->positional_count--;
            return 1;
        }
    }
    return 0;
}

void sr_cli_print_options(enum sr_component component, FILE *out)
{
    fprintf(out, "Options (in a config file as `name value`, on the command line as --name value;\n"
                 "see sr-options(7)):\n");
    for (int id = 0; id < SR_OPT_COUNT; id++) {
        const sr_option *opt = sr_option_get(id);
        if ((opt->components & component) == 0)
            continue;
        fprintf(out, "  %-26s %-12s %s\n", opt->name, sr_type_name(opt->type), opt->help);
    }
}

static bool matches(const char *component, const char *name, char *const *patterns, size_t n)
{
    if (n == 0)
        return true;
    char full[512];
    snprintf(full, sizeof full, "%s/%s", component, name);
    for (size_t i = 0; i < n; i++) {
        const char *p = patterns[i];
        if (strchr(p, '/') ? fnmatch(p, full, 0) == 0
                           : fnmatch(p, component, 0) == 0 || fnmatch(p, name, 0) == 0)
            return true;
    }
    return false;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sr_cli_find_configs(const sr_cli *cli, char *const *patterns, size_t pattern_count,
                        sr_strlist *found, sr_err *err)
{
    for (int i = 0; i < SR_COMPONENT_COUNT; i++) {
        const char *component = sr_component_name(sr_component_at(i));
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", cli->paths.config_dir, component);
        DIR *d = opendir(dir);
        if (d == NULL) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue;
            return sr_err_set(err, SR_EIO, false, "cannot list %s: %s", dir, strerror(errno));
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len <= 5 || strcmp(e->d_name + len - 5, ".conf") != 0 || e->d_name[0] == '.')
                continue;
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
            if (!matches(component, name, patterns, pattern_count))
                continue;
            if (sr_strlist_pushf(found, "%s/%s", component, name) != 0) {
                closedir(d);
                return sr_err_set(err, SR_ENOMEM, false, "out of memory");
            }
        }
        closedir(d);
    }
    qsort(found->items, found->count, sizeof found->items[0], compare_strings);
    return SR_OK;
}
