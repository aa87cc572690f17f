/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * plugtest.h: what the test plugins of test_plugins.py share. Each keeps its record in a
 * file of its state folder (api->state_dir), one line per call, so that the test reads
 * what the plugin saw the way a plugin author would look.
 */
#ifndef PLUGTEST_H
#define PLUGTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sr/plugin.h>

/* A line appended to <state_dir>/<file>; logged as an error when it cannot be. */
static inline void __attribute__((format(printf, 3, 4)))
note(sr_plugin_host *h, const char *file, const char *fmt, ...)
{
    const char *dir = h->api->state_dir(h);
    char path[4096];
    if (dir == NULL || snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        h->api->log(h, SR_PLUGIN_ERROR, "no state folder for %s", file);
        return;
    }
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        h->api->log(h, SR_PLUGIN_ERROR, "cannot open %s", path);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

#endif
