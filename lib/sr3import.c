/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sr3import: see sr3import.h.
 *
 * Options are checked by loading each config with config.c itself (not a second parser):
 * what import reports is exactly what sr will warn about when the config runs.
 * Files are copied byte for byte through <dest>.tmp and a rename, so an interrupted import
 * leaves either the old file or the new one.
 */
#include "sr3import.h"
#include "plugins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "units.h"

const char *sr_import_component(const char *sr3_name)
{
    static const char *const same[] = {"post",  "watch",  "poll",   "subscribe",
                                       "sarra", "shovel", "sender", "winnow"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (strcmp(sr3_name, same[i]) == 0)
            return same[i];
    /* sr3's C implementations: sr3_cpump consumes and re-posts (a shovel), sr3_cpost
     * posts (post, or watch in daemon mode: sr_import_component_of). */
    if (strcmp(sr3_name, "cpump") == 0)
        return "shovel";
    if (strcmp(sr3_name, "cpost") == 0)
        return "post";
    return NULL;
}

/* The value of `sleep` in an sr3 file, 0 when absent or unreadable: enough to tell a
 * one-shot cpost from a watching one. */
static double sleep_of(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    double found = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[64], value[64];
        if (sscanf(line, " %63s %63s", name, value) == 2 && strcmp(name, "sleep") == 0) {
            double d;
            if (sr_parse_duration(value, &d) == 0)
                found = d;
        }
    }
    fclose(f);
    return found;
}

const char *sr_import_component_of(const char *sr3_name, const char *path)
{
    const char *c = sr_import_component(sr3_name);
    if (c != NULL && strcmp(sr3_name, "cpost") == 0 && sleep_of(path) > 0)
        return "watch";
    return c;
}

int sr_import_check_file(const char *sr3_dir, const char *confd_dir, const char *path,
                         const char *component, sr_strlist *out, sr_err *err)
{
    sr_config_request req = {
        .component = sr_component_from_name(component),
        .config = path,
        .config_dir = sr3_dir,
        .confd_dir = confd_dir,
    };
    if (req.component == 0)
        return sr_err_set(err, SR_EINVAL, false, "%s: sr has no %s component", path, component);
    sr_config *cfg = NULL;
    int rc = sr_config_load(&req, &cfg, err);
    if (rc == SR_ENOMEM)
        return rc;
    if (rc != SR_OK) {
        if (sr_strlist_pushf(out, "error: %s", err->msg) != 0)
            return sr_err_set(err, SR_ENOMEM, false, "out of memory");
        return rc;
    }
    /* the plugins sr has (built in, or in the system folder) take their flowcb and option
     * lines, as when the config runs; the others stay refused, named */
    sr_plugins *plugins = NULL;
    sr_err plugin_err;
    sr_plugins_env env = {.config_dir = sr3_dir, .system_dir = sr_plugins_system_dir()};
    if (sr_plugins_load(cfg, &env, &plugins, &plugin_err) == SR_ENOMEM) {
        sr_config_free(cfg);
        return sr_err_set(err, SR_ENOMEM, false, "out of memory");
    }
    sr_plugins_free(plugins);
    /* refused lines (sr_config_refused: `sr start` will not run the config) first, then
     * the warnings, marked as such: a config with warnings runs */
    const sr_strlist *lists[] = {sr_config_refused(cfg), sr_config_warnings(cfg)};
    for (size_t l = 0; l < 2; l++) {
        const sr_strlist *w = lists[l];
        for (size_t i = 0; i < w->count; i++) {
            char *line = sr_strdup_printf("%s%s", l == 1 ? SR_IMPORT_WARNING : "", w->items[i]);
            if (line == NULL ||
                (!sr_strlist_contains(out, line) && sr_strlist_push(out, line) != 0)) {
                free(line);
                sr_config_free(cfg);
                return sr_err_set(err, SR_ENOMEM, false, "out of memory");
            }
            free(line);
        }
    }
    rc = sr_config_refused(cfg)->count > 0 ? SR_EREFUSED : SR_OK;
    if (rc != SR_OK)
        sr_err_set(err, SR_EREFUSED, false, "%s: %zu line(s) sr would not run", path,
                   sr_config_refused(cfg)->count);
    sr_config_free(cfg);
    return rc;
}

/* ---- copying ---- */

typedef struct import {
    const char *src, *dest; /* the sr3 tree, our config folder */
    const char *confd;
    bool force;
    int status;
    unsigned copied, kept, skipped, checked;
    sr_strlist problems; /* file:line reports, each once */
} import;

/* Copy src to dest (mode), through dest.tmp; 1 when copied, 0 when kept (exists), -1 on
 * error (printed). */
static int copy_file(import *im, const char *src, const char *dest, mode_t mode)
{
    struct stat st;
    if (!im->force && lstat(dest, &st) == 0) {
        printf("kept %s (it exists; --force to overwrite)\n", dest);
        im->kept++;
        im->status = 1;
        return 0;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", dest);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int fd = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    bool ok = in >= 0 && fd >= 0;
    const char *failed = in < 0 ? src : tmp;
    int saved = errno;
    char buf[65536];
    while (ok) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            failed = src;
            ok = false;
        } else if (!sr_write_all(fd, buf, (size_t)n)) {
            saved = errno;
            ok = false;
        }
    }
    /* the mode asked for, whatever the umask (credentials must not be readable by others) */
    if (ok && fchmod(fd, mode) != 0) {
        saved = errno;
        ok = false;
    }
    if (fd >= 0 && close(fd) != 0 && ok) {
        saved = errno;
        ok = false;
    }
    if (in >= 0)
        close(in);
    if (ok && rename(tmp, dest) != 0) {
        saved = errno;
        failed = dest;
        ok = false;
    }
    if (!ok) {
        if (fd >= 0)
            unlink(tmp);
        sr_log_stderr("sr import: cannot copy %s to %s: %s: %s", src, dest, failed,
                      strerror(saved));
        im->status = 1;
        return -1;
    }
    printf("copied %s to %s\n", src, dest);
    im->copied++;
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a folder, sorted (so reports come in a stable order), without . and .. */
static int list_dir(const char *dir, sr_strlist *names)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && sr_strlist_push(names, e->d_name) != 0) {
            closedir(d);
            return -1;
        }
    closedir(d);
    qsort(names->items, names->count, sizeof names->items[0], compare_names);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Load the config as sr would; false when sr cannot read it (reported, not copied). A line
 * sr would not run is reported too and the config copied for its owner to mend (`sr start`
 * refuses it, naming the line); either makes the exit status 1. Warnings are reported and
 * change neither. */
static bool check(import *im, const char *path, const char *component)
{
    sr_err err;
    im->checked++;
    int rc = sr_import_check_file(im->src, im->confd, path, component, &im->problems, &err);
    if (rc == SR_ENOMEM) {
        sr_log_stderr("sr import: out of memory");
        im->status = 1;
    } else if (rc != SR_OK) {
        im->status = 1; /* reported with the problems */
    }
    return rc == SR_OK || rc == SR_EREFUSED;
}

static void import_component(import *im, const char *sr3_name)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", im->src, sr3_name);
    sr_strlist names = {0};
    if (list_dir(dir, &names) != 0) {
        sr_log_stderr("sr import: cannot list %s: %s", dir, strerror(errno));
        im->status = 1;
        sr_strlist_clear(&names);
        return;
    }
    if (strcmp(sr3_name, "plugins") == 0) {
        printf("skipped %s: Python plugins do not run in sr (their options are reported "
               "where configs use them)\n",
               dir);
        sr_strlist_clear(&names);
        return;
    }
    if (sr_import_component(sr3_name) == NULL) {
        /* each file named, so that an operator sees which configs did not come over */
        size_t confs = 0;
        for (size_t i = 0; i < names.count; i++) {
            if (!ends_with(names.items[i], ".conf") && !ends_with(names.items[i], ".inc"))
                continue;
            confs += ends_with(names.items[i], ".conf");
            if (sr_strlist_pushf(&im->problems, "%s/%s: not imported: sr has no %s component", dir,
                                 names.items[i], sr3_name) != 0)
                im->status = 1;
        }
        printf("skipped %s: sr has no %s component (%zu config(s) not imported)\n", dir, sr3_name,
               confs);
        im->skipped += (unsigned)confs;
        if (confs > 0)
            im->status = 1;
        sr_strlist_clear(&names);
        return;
    }
    for (size_t i = 0; i < names.count; i++) {
        const char *name = names.items[i];
        bool conf = ends_with(name, ".conf");
        if (!conf && !ends_with(name, ".inc"))
            continue; /* editor backups, .off files: not configs */
        char src[4096], destdir[4096], dest[4096];
        if ((size_t)snprintf(src, sizeof src, "%s/%s", dir, name) >= sizeof src) {
            sr_log_stderr("sr import: %s/%s: path too long", dir, name);
            im->status = 1;
            continue;
        }
        if (is_dir(src))
            continue;
        const char *component = sr_import_component_of(sr3_name, src);
        if (strcmp(component, sr3_name) != 0)
            printf("%s: an sr3 %s config becomes an sr %s config\n", src, sr3_name, component);
        sr_err err;
        if ((size_t)snprintf(destdir, sizeof destdir, "%s/%s", im->dest, component) >=
                sizeof destdir ||
            (size_t)snprintf(dest, sizeof dest, "%s/%s", destdir, name) >= sizeof dest) {
            sr_log_stderr("sr import: %s/%s/%s: path too long", im->dest, component, name);
            im->status = 1;
            continue;
        }
        if (sr_mkdir_p(destdir, 0755, &err) != SR_OK) {
            sr_log_stderr("sr import: %s", err.msg);
            im->status = 1;
            continue;
        }
        /* a config sr refuses to load is not copied: it could not run, and `sr start`
         * would fail on it; its reasons are reported with the problems */
        if (conf && !check(im, src, component)) {
            printf("not imported %s: sr refuses it (see below)\n", src);
            im->skipped++;
            continue;
        }
        copy_file(im, src, dest, 0644);
    }
    sr_strlist_clear(&names);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sr import [--force] [SR3_CONFIG_DIR]\n"
                 "  copy an sr3 configuration tree (default ~/.config/sr3) into sr's, and\n"
                 "  report every option sr does not support as file:line. Existing files are\n"
                 "  kept unless --force. See sr(1).\n");
}

/* ~/.config/sr3, or $XDG_CONFIG_HOME/sr3, as sr3 finds it (SR_DEV_APPNAME renames it). */
static char *default_source(void)
{
    const char *app = getenv("SR_DEV_APPNAME");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (app == NULL || app[0] == '\0')
        app = "sr3";
    char *path = NULL;
    int n = xdg && xdg[0] ? asprintf(&path, "%s/%s", xdg, app)
                          : asprintf(&path, "%s/.config/%s", home ? home : "", app);
    return n < 0 ? NULL : path;
}

int sr_import_main(sr_cli *cli, int argc, char **argv)
{
import im = {.dest = cli->paths.config_dir, .confd = cli->paths.confd_dir };
    const char *given = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            im.force = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || given != NULL) {
            sr_log_stderr("sr import: unexpected %s", argv[i]);
            usage(stderr);
            return 2;
        } else {
            given = argv[i];
        }
    }
    char *src = given ? strdup(given) : default_source();
    if (src == NULL) {
        sr_log_stderr("sr import: out of memory");
        return 1;
    }
    size_t len = strlen(src);
    while (len > 1 && src[len - 1] == '/')
        src[--len] = '\0';
    im.src = src;
    if (!is_dir(src)) {
        sr_log_stderr("sr import: %s: not a folder (an sr3 configuration tree is "
                      "~/.config/sr3)",
                      src);
        free(src);
        return 1;
    }
    sr_err err;
    sr_err_clear(&err);
    sr_strlist names = {0};
    if (sr_mkdir_p(im.dest, 0755, &err) != SR_OK || list_dir(src, &names) != 0) {
        sr_log_stderr("sr import: %s", err.code != SR_OK ? err.msg : strerror(errno));
        free(src);
        sr_strlist_clear(&names);
        return 1;
    }
    for (size_t i = 0; i < names.count; i++) {
        const char *name = names.items[i];
        char path[4096], dest[4096];
        snprintf(path, sizeof path, "%s/%s", src, name);
        snprintf(dest, sizeof dest, "%s/%s", im.dest, name);
        if (is_dir(path)) {
            import_component(&im, name);
        } else if (strcmp(name, "credentials.conf") == 0) {
            copy_file(&im, path, dest, 0600); /* passwords */
        } else if (strcmp(name, "default.conf") == 0 || strcmp(name, "admin.conf") == 0) {
            copy_file(&im, path, dest, 0644);
        } else if (ends_with(name, ".conf") || ends_with(name, ".inc")) {
            /* includes named from several components' configs live at the top too */
            copy_file(&im, path, dest, 0644);
        }
    }
    /* default.conf and admin.conf are read by every config: their problems came with the
     * first config checked; checked alone when there was none. */
    if (im.checked == 0) {
        for (size_t i = 0; i < names.count; i++) {
            if (strcmp(names.items[i], "default.conf") != 0 &&
                strcmp(names.items[i], "admin.conf") != 0)
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", src, names.items[i]);
            check(&im, path, "subscribe");
        }
    }
    for (size_t i = 0; i < im.problems.count; i++)
        printf("%s\n", im.problems.items[i]);
    printf("sr import: %u file(s) copied, %u kept, %u config(s) skipped, %zu problem(s) "
           "reported, from %s to %s\n",
           im.copied, im.kept, im.skipped, im.problems.count, src, im.dest);
    sr_strlist_clear(&names);
    sr_strlist_clear(&im.problems);
    free(src);
    return im.status;
}
