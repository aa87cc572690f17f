/*
 * component: see component.h.
 *
 * The flow engine (issue 6) is not here yet, so `foreground` loads and checks the config,
 * opens the log, says that this build cannot run the flow, and exits non-zero: a user
 * is never told a config runs when it does not.
 */
#include "component.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "show.h"
#include "url.h"

static void usage(enum sr_component component, FILE *out)
{
    const char *name = sr_component_name(component);
    fprintf(out,
            "usage: sr_%s [--option value ...] ACTION CONFIG\n"
            "  ACTION is one of:\n"
            "    show        print the resolved config: every option, its value, where it came from\n"
            "    check       load and check the config; exit 0 when it can run\n"
            "    foreground  run one instance attached to the terminal, logging to stderr\n"
            "  CONFIG is a name under ~/.config/sr/%s/ (without .conf) or a path to a .conf file.\n"
            "  sr_%s --help lists the options, --version the version; see sr_%s(1) and "
            "sr-options(7).\n",
            name, name, name, name);
}

static void print_warnings(const sr_config *cfg, sr_log *log)
{
    const sr_strlist *w = sr_config_warnings(cfg);
    for (size_t i = 0; i < w->count; i++)
        sr_log_write(log, SR_LOG_WARNING, "%s", w->items[i]);
}

/* A broker URL the flow cannot log in with is worth a warning before it is run. */
static void warn_missing_passwords(const sr_config *cfg, const sr_credentials *creds, sr_log *log)
{
    const enum sr_option_id brokers[] = {SR_OPT_broker, SR_OPT_post_broker};
    for (size_t i = 0; i < sizeof brokers / sizeof brokers[0]; i++) {
        const char *text = sr_config_str(cfg, brokers[i]);
        sr_url url;
        if (text == NULL || sr_url_parse(text, &url, NULL) != SR_OK)
            continue;
        sr_url done;
        if (sr_credentials_complete(creds, &url, &done, NULL) == SR_OK) {
            if (done.password == NULL) {
                char *shown = sr_url_format(&url, false);
                sr_log_write(log, SR_LOG_WARNING,
                             "%s %s: no password in the URL and no matching line in "
                             "credentials.conf; the broker will refuse the login",
                             sr_option_get(brokers[i])->name, shown ? shown : "");
                free(shown);
            }
            sr_url_fini(&done);
        }
        sr_url_fini(&url);
    }
}

int sr_component_main(enum sr_component component, int argc, char **argv)
{
    const char *name = sr_component_name(component);
    sr_cli cli;
    sr_err err;
    if (sr_cli_init(&cli, argc, argv, &err) != SR_OK) {
        fprintf(stderr, "sr_%s: %s\n", name, err.msg);
        sr_cli_fini(&cli);
        return 2;
    }
    if (sr_cli_take(&cli, "--version")) {
        printf("sr_%s %s\n", name, SR_VERSION);
        sr_cli_fini(&cli);
        return 0;
    }
    if (sr_cli_take(&cli, "--help") || sr_cli_take(&cli, "-h")) {
        usage(component, stdout);
        sr_cli_print_options(component, stdout);
        sr_cli_fini(&cli);
        return 0;
    }
    bool json = sr_cli_take(&cli, "--json");
    if (cli.positional_count != 2) {
        usage(component, stderr);
        sr_cli_fini(&cli);
        return 2;
    }
    const char *action = cli.positional[0], *config = cli.positional[1];
    if (strcmp(action, "show") != 0 && strcmp(action, "check") != 0 &&
        strcmp(action, "foreground") != 0) {
        fprintf(stderr, "sr_%s: unknown action \"%s\"\n", name, action);
        usage(component, stderr);
        sr_cli_fini(&cli);
        return 2;
    }

    sr_log_options lo = {.path = NULL, .ident = NULL, .level = SR_LOG_INFO};
    sr_log *log = sr_log_open(&lo, &err);
    sr_config *cfg = NULL;
    const sr_credentials *creds = NULL;
    const sr_strlist *cred_warnings = NULL;
    int status = 0;
    if (log == NULL) {
        fprintf(stderr, "sr_%s: %s\n", name, err.msg);
        status = 1;
    } else if (sr_cli_load(&cli, component, config, &cfg, &err) != SR_OK ||
               sr_cli_credentials(&cli, &creds, &cred_warnings, &err) != SR_OK) {
        sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
        status = 1;
    } else if (strcmp(action, "show") == 0) {
        for (size_t i = 0; cred_warnings && i < cred_warnings->count; i++)
            sr_log_write(log, SR_LOG_WARNING, "%s", cred_warnings->items[i]);
        status = (json ? sr_show_json(cfg, creds, stdout, &err)
                       : sr_show_text(cfg, creds, stdout, &err))
                     ? 1
                     : 0;
    } else {
        enum sr_level level;
        const char *level_name = sr_config_str(cfg, SR_OPT_logLevel);
        if (level_name != NULL && sr_level_from_name(level_name, &level) == 0)
            sr_log_set_level(log, level);
        for (size_t i = 0; cred_warnings && i < cred_warnings->count; i++)
            sr_log_write(log, SR_LOG_WARNING, "%s", cred_warnings->items[i]);
        print_warnings(cfg, log);
        warn_missing_passwords(cfg, creds, log);
        if (sr_config_check(cfg, &err) != SR_OK) {
            sr_log_write(log, SR_LOG_ERROR, "%s", err.msg);
            status = 1;
        } else if (strcmp(action, "check") == 0) {
            sr_log_write(log, SR_LOG_INFO, "%s/%s: configuration OK", name, sr_config_name(cfg));
        } else {
            sr_log_write(log, SR_LOG_CRITICAL,
                         "%s/%s: this build of sr reads and checks configurations only; the %s "
                         "flow is not implemented yet",
                         name, sr_config_name(cfg), name);
            status = 3;
        }
    }
    sr_config_free(cfg);
    sr_log_close(log);
    sr_cli_fini(&cli);
    return status;
}
