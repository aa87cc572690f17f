/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xfer_fake: a made-up URL scheme, fake://, for test_plugin_transfer.py.
 *
 * download: the bytes of fake://HOST/PATH are made up: byte i is (i * 31 + 7) & 0xff, as
 * many as the message's size says, handed to sr in pieces of 1000; a PATH holding
 * "greedy" hands 1000 bytes more than announced (sr must stop it).
 * send: what sr hands over is written to <xfer_fake_root>/<remote path>, under a
 * temporary name renamed when complete (the atomic write sr/plugin.h asks of a send).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sr/plugin.h>

const unsigned sr_plugin_abi_version = SR_PLUGIN_ABI_VERSION;

static const sr_plugin_api *api;

static int fake_download(sr_plugin_host *h, sr_plugin_msg *m, const char *url, sr_plugin_sink *sink)
{
    const char *size = api->msg_get(m, "size");
    if (size == NULL) {
        api->log(h, SR_PLUGIN_ERROR, "%s: the message has no size", url);
        return -1;
    }
    long long total = atoll(size);
    if (strstr(url, "greedy") != NULL)
        total += 1000;
    unsigned char buf[1000];
    for (long long at = 0; at < total;) {
        size_t n = total - at < (long long)sizeof buf ? (size_t)(total - at) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(((at + (long long)i) * 31 + 7) & 0xff);
        if (api->sink_write(sink, buf, n) != 0)
            return -1; /* sr said stop */
        at += (long long)n;
    }
    api->log(h, SR_PLUGIN_INFO, "made up %lld bytes for %s", total, url);
    return 0;
}

/* mkdir -p of path's folder. */
static int make_parent(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return -1;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            free(dir);
            return -1;
        }
        *p = '/';
    }
    free(dir);
    return 0;
}

static int fake_send(sr_plugin_host *h, sr_plugin_msg *m, sr_plugin_source *source,
                     const char *remote_path)
{
    (void)m;
    const char *root = api->option(h, "xfer_fake_root");
    if (root == NULL || strstr(remote_path, "..") != NULL)
        return -1;
    char final[4096], tmp[4200];
    snprintf(final, sizeof final, "%s/%s", root, remote_path);
    snprintf(tmp, sizeof tmp, "%s.fake-partial", final);
    if (make_parent(final) != 0)
        return -1;
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return -1;
    char buf[4096];
    long n;
    long long total = 0;
    while ((n = api->source_read(source, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)n, f);
        total += n;
    }
    if (fclose(f) != 0 || n < 0 || rename(tmp, final) != 0) {
        remove(tmp);
        return -1;
    }
    api->log(h, SR_PLUGIN_INFO, "stored %lld bytes as %s", total, final);
    return 0;
}

static const char *const options[] = {"xfer_fake_root", NULL};
static const char *const schemes[] = {"fake", NULL};

static const sr_plugin plugin = {
    .abi_version = SR_PLUGIN_ABI_VERSION,
    .name = "xfer_fake",
    .options = options,
    .schemes = schemes,
    .download = fake_download,
    .send = fake_send,
};

const sr_plugin *sr_plugin_entry(const sr_plugin_api *a)
{
    api = a;
    return &plugin;
}
