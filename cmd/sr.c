/*
 * sr: the supervisor's command line. This build knows the verbs that read configs
 * (show, list); the ones that run instances come with the supervisor.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "show.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sr [--option value ...] VERB [component/config ...]\n"
            "  show [--json] [PATTERN ...]  print each config fully resolved: every option, its\n"
            "                               value and where it came from (passwords hidden)\n"
            "  list [PATTERN ...]           list the configs and where sr keeps its files\n"
            "  PATTERN: component/config, a component, a config name, or a glob (subscribe/*)\n"
            "  sr --version; see sr(1)\n");
}

static int show(sr_cli *cli, bool json, char *const *patterns, size_t n)
{
    sr_err err;
    sr_strlist found = {0};
    int status = 0;
    const sr_credentials *creds = NULL;
    const sr_strlist *warnings = NULL;
    if (sr_cli_credentials(cli, &creds, &warnings, &err) != SR_OK) {
        fprintf(stderr, "sr show: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; warnings && i < warnings->count; i++)
        fprintf(stderr, "sr show: warning: %s\n", warnings->items[i]);
    if (sr_cli_find_configs(cli, patterns, n, &found, &err) != SR_OK) {
        fprintf(stderr, "sr show: %s\n", err.msg);
        return 1;
    }
    if (found.count == 0) {
        fprintf(stderr, "sr show: no configuration matches under %s\n", cli->paths.config_dir);
        status = 1;
    }
    for (size_t i = 0; i < found.count; i++) {
        char *slash = strchr(found.items[i], '/');
        *slash = '\0';
        sr_config *cfg = NULL;
        if (sr_cli_load(cli, sr_component_from_name(found.items[i]), slash + 1, &cfg, &err) !=
            SR_OK) {
            fprintf(stderr, "sr show: %s\n", err.msg);
            status = 1;
            continue;
        }
        if (i > 0 && !json)
            fputc('\n', stdout);
        if ((json ? sr_show_json(cfg, creds, stdout, &err) : sr_show_text(cfg, creds, stdout, &err)) != SR_OK) {
            fprintf(stderr, "sr show: %s\n", err.msg);
            status = 1;
        }
        sr_config_free(cfg);
    }
    sr_strlist_clear(&found);
    return status;
}

static int list(sr_cli *cli, char *const *patterns, size_t n)
{
    sr_err err;
    sr_strlist found = {0};
    if (sr_cli_find_configs(cli, patterns, n, &found, &err) != SR_OK) {
        fprintf(stderr, "sr list: %s\n", err.msg);
        return 1;
    }
    printf("configs: %s\nstate: %s\nlogs: %s\ndefaults: %s\n", cli->paths.config_dir,
           cli->paths.state_dir, cli->paths.log_dir, cli->paths.confd_dir);
    for (size_t i = 0; i < found.count; i++)
        printf("%s\n", found.items[i]);
    sr_strlist_clear(&found);
    return 0;
}

int main(int argc, char **argv)
{
    sr_cli cli;
    sr_err err;
    if (sr_cli_init(&cli, argc, argv, &err) != SR_OK) {
        fprintf(stderr, "sr: %s\n", err.msg);
        sr_cli_fini(&cli);
        return 2;
    }
    int status;
    if (sr_cli_take(&cli, "--version")) {
        printf("sr %s\n", SR_VERSION);
        status = 0;
    } else if (sr_cli_take(&cli, "--help") || sr_cli_take(&cli, "-h")) {
        usage(stdout);
        status = 0;
    } else if (cli.positional_count == 0) {
        usage(stderr);
        status = 2;
    } else {
        bool json = sr_cli_take(&cli, "--json");
        const char *verb = cli.positional[0];
        char *const *rest = cli.positional + 1;
        size_t n = cli.positional_count - 1;
        if (strcmp(verb, "show") == 0) {
            status = show(&cli, json, rest, n);
        } else if (strcmp(verb, "list") == 0) {
            status = list(&cli, rest, n);
        } else {
            fprintf(stderr, "sr: unknown verb \"%s\"\n", verb);
            usage(stderr);
            status = 2;
        }
    }
    sr_cli_fini(&cli);
    return status;
}
