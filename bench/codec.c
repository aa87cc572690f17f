/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench/codec: how many messages per second sr decodes and encodes on one core, next to
 * jansson alone parsing and dumping the same bodies in the same run.
 *
 *   codec [DIR [WIS]]  DIR holds v03/NAME.json and v02/NAME.v02 (default test/data/messages,
 *                      the golden messages; see its README); WIS the WIS2 notification
 *                      messages, its example*.json (default test/data/wis2, the examples
 *                      of the WNM specification; see its README)
 *   SR_BENCH_MSGS      messages per timed run (default 200000, cycling through the set)
 *   SR_BENCH_RUNS      timed runs per figure, the median is shown (default 5)
 *
 * v03: sr_message_decode_v03 + sr_message_encode(V03) per message, against json_loadb +
 * json_dumps with the flags sr uses (duplicate keys refused, compact, key order kept) and
 * nothing else: the difference is what sr's field checks and its message object cost.
 * v02: sr_message_decode + sr_message_encode(V02) per message, against sr doing v03 on
 * the same messages (each v02 message decoded once and encoded as v03 for that), since
 * no outside library reads v02.
 * wis: sr_message_decode + sr_message_encode(WIS) per WNM, against the same jansson
 * loadb + dumps of the same bodies, and beside sr's v03 figure. Twice: as a relay passes
 * a WNM on (its id and links kept), and as a cache re-announces it from a new baseUrl
 * (sr_message_set_str before the encoding: a new id and canonical link are made).
 *
 * The process is pinned to the core it starts on; runs of sr and the reference
 * alternate so drift on a busy machine hits both alike. A warm-up pass checks that
 * every message decodes. Exit status 1 when something fails.
 */
#include "bench.h"
#include "message.h"

#include <dirent.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 99
#define MAX_MESSAGES 256 /* files per folder: the golden set has a few dozen */
#define MAX_HEADERS 64   /* headers per .v02 file */

/* One message as a broker hands it over, with the storage its wire points into. */
typedef struct sample {
    char *name;
    char *text; /* the file; a .v02 file's lines are cut up in place */
    char *body;
    size_t body_len;
    char content_type[64];
    char topic[512];
    sr_header headers[MAX_HEADERS];
    sr_wire wire;
} sample;

typedef struct set {
    sample *s;
    int n;
} set;

/* What a pass produced, summed and printed, so no work can be optimised away. */
static size_t sink;


static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        perror(path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A .v02 file (content_type, topic, body, header lines) cut up into s->wire. */
static int parse_v02(sample *s, size_t len)
{
    size_t count = 0;
    s->body = malloc(len + 1);
    if (s->body == NULL)
        return -1;
    s->body[0] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(s->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "body ", 5) == 0) {
            char *o = s->body; /* "\n" in the file stands for a newline */
            for (const char *p = line + 5; *p; p++) {
                if (p[0] == '\\' && p[1] == 'n') {
                    *o++ = '\n';
                    p++;
                } else {
                    *o++ = *p;
                }
            }
            *o = '\0';
        } else if (strncmp(line, "content_type ", 13) == 0) {
            snprintf(s->content_type, sizeof s->content_type, "%s", line + 13);
        } else if (strncmp(line, "topic ", 6) == 0) {
            snprintf(s->topic, sizeof s->topic, "%s", line + 6);
        } else if (strncmp(line, "header ", 7) == 0) {
            char *eq = strchr(line + 7, '=');
            if (eq == NULL || count == MAX_HEADERS) {
                fprintf(stderr, "codec: %s: bad or too many header lines\n", s->name);
                return -1;
            }
            *eq = '\0';
            s->headers[count++] = (sr_header){line + 7, eq + 1};
        }
    }
    s->body_len = strlen(s->body);
    s->wire = (sr_wire){s->body,
                        s->body_len,
                        s->content_type[0] ? s->content_type : NULL,
                        s->topic[0] ? s->topic : NULL,
                        count ? s->headers : NULL,
                        count};
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

/* Every file of DIR/SUB ending in SUFFIX (and starting with PREFIX, when given), in name
 * order: v03 and WNM bodies as they are (a wire with the body alone), .v02 files parsed. */
static int load(const char *dir, const char *sub, const char *prefix, const char *suf, set *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        perror(path);
        return -1;
    }
    int rc = 0;
    out->s = calloc(n > MAX_MESSAGES ? MAX_MESSAGES : (size_t)n + 1, sizeof *out->s);
    if (out->s == NULL)
        rc = -1;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && out->n < MAX_MESSAGES && has_suffix(names[i]->d_name, suf) &&
            (prefix == NULL || strncmp(names[i]->d_name, prefix, strlen(prefix)) == 0)) {
            sample *s = &out->s[out->n++];
            size_t len = 0;
            if (snprintf(path, sizeof path, "%s/%s/%s", dir, sub, names[i]->d_name) >=
                    (int)sizeof path ||
                (s->name = strdup(names[i]->d_name)) == NULL ||
                (s->text = slurp(path, &len)) == NULL)
                rc = -1;
            else if (strcmp(suf, ".v02") == 0)
                rc = parse_v02(s, len);
            else
                s->body = s->text, s->body_len = len,
                s->wire = (sr_wire){.body = s->body, .body_len = len};
        }
        free(names[i]);
    }
    free(names);
    if (rc == 0 && out->n == 0) {
        fprintf(stderr, "codec: no %s%s files in %s/%s\n", prefix ? prefix : "", suf, dir, sub);
        rc = -1;
    }
    return rc;
}

static void set_free(set *t)
{
    for (int i = 0; i < t->n; i++) {
        if (t->s[i].body != t->s[i].text)
            free(t->s[i].body);
        free(t->s[i].text);
        free(t->s[i].name);
    }
    free(t->s);
}

/* ---- the timed passes: seconds for n messages, or -1 ---- */

static double sr_v03_pass(const set *t, long n)
{
    double t0 = sr_time_mono_s();
    for (long i = 0; i < n; i++) {
        const sample *s = &t->s[i % t->n];
        sr_message *m;
        sr_encoded e;
        sr_err err;
        if (sr_message_decode_v03(s->body, s->body_len, &m, &err) != SR_OK ||
            sr_message_encode(m, SR_FORMAT_V03, &e, &err) != SR_OK) {
            fprintf(stderr, "codec: v03/%s: %s\n", s->name, err.msg);
            sr_message_free(m);
            return -1;
        }
        sink += e.body_len;
        sr_encoded_fini(&e);
        sr_message_free(m);
    }
    return sr_time_mono_s() - t0;
}

static double jansson_pass(const set *t, long n)
{
    double t0 = sr_time_mono_s();
    for (long i = 0; i < n; i++) {
        const sample *s = &t->s[i % t->n];
        json_error_t jerr;
        json_t *o = json_loadb(s->body, s->body_len, JSON_REJECT_DUPLICATES, &jerr);
        char *out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (out == NULL) {
            fprintf(stderr, "codec: v03/%s: jansson: %s\n", s->name, o ? "dump failed" : jerr.text);
            json_decref(o);
            return -1;
        }
        sink += strlen(out);
        free(out);
        json_decref(o);
    }
    return sr_time_mono_s() - t0;
}

/* The v02 messages as v03 bodies, for the v02 figure's reference. */
static int v02_as_v03(const set *v02, set *out)
{
    out->s = calloc((size_t)v02->n, sizeof *out->s);
    if (out->s == NULL)
        return -1;
    for (int i = 0; i < v02->n; i++) {
        const sample *s = &v02->s[i];
        sr_message *m;
        sr_encoded e;
        sr_err err;
        if (sr_message_decode(&s->wire, &m, &err) != SR_OK ||
            sr_message_encode(m, SR_FORMAT_V03, &e, &err) != SR_OK) {
            fprintf(stderr, "codec: v02/%s: %s\n", s->name, err.msg);
            sr_message_free(m);
            return -1;
        }
        sr_message_free(m);
        sample *o = &out->s[out->n++];
        o->name = strdup(s->name);
        o->text = o->body = e.body; /* taken over from e: e has no headers in v03 */
        o->body_len = e.body_len;
        if (o->name == NULL)
            return -1;
    }
    return 0;
}

/* Wire messages (v02, WNM) decoded and encoded in format; moved: re-announced from a new
 * baseUrl before the encoding, as a cache does (for a WNM: a new id and links). */
static double sr_wire_pass(const set *t, long n, enum sr_msg_format format, int moved)
{
    static const char *const names[] = {"v03", "v02", "wis"};
    double t0 = sr_time_mono_s();
    for (long i = 0; i < n; i++) {
        const sample *s = &t->s[i % t->n];
        sr_message *m;
        sr_encoded e;
        sr_err err;
        if (sr_message_decode(&s->wire, &m, &err) != SR_OK ||
            (moved && sr_message_set_str(m, "baseUrl", "https://cache.example.net", &err) != SR_OK) ||
            sr_message_encode(m, format, &e, &err) != SR_OK) {
            fprintf(stderr, "codec: %s/%s: %s\n", names[format], s->name, err.msg);
            sr_message_free(m);
            return -1;
        }
        sink += e.body_len + e.header_count;
        sr_encoded_fini(&e);
        sr_message_free(m);
    }
    return sr_time_mono_s() - t0;
}

static double sr_v02_pass(const set *t, long n)
{
    return sr_wire_pass(t, n, SR_FORMAT_V02, 0);
}

static double sr_wis_relay_pass(const set *t, long n)
{
    return sr_wire_pass(t, n, SR_FORMAT_WIS, 0);
}

static double sr_wis_moved_pass(const set *t, long n)
{
    return sr_wire_pass(t, n, SR_FORMAT_WIS, 1);
}

typedef double (*pass_fn)(const set *, long);

/* Median seconds of both sides, their runs alternating; -1 on failure. */
static int race(pass_fn ours, const set *a, pass_fn ref, const set *b, long n, int runs,
                double *t_ours, double *t_ref)
{
    double x[MAX_RUNS], y[MAX_RUNS];
    /* warm-up: caches, allocator, and every message must go through */
    if (ours(a, a->n) < 0 || ref(b, b->n) < 0 || ours(a, n / 10) < 0 || ref(b, n / 10) < 0)
        return -1;
    for (int r = 0; r < runs; r++) {
        x[r] = ours(a, n);
        y[r] = ref(b, n);
        if (x[r] < 0 || y[r] < 0)
            return -1;
    }
    *t_ours = median(x, runs);
    *t_ref = median(y, runs);
    return 0;
}

static double mean_size(const set *t)
{
    size_t sum = 0;
    for (int i = 0; i < t->n; i++)
        sum += t->s[i].body_len;
    return (double)sum / t->n;
}

static void describe_machine(int cpu)
{
    struct utsname u;
    uname(&u);
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0 && strchr(line, ':') != NULL) {
                snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    printf("machine: %s, %ld cores, Linux %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.release,
           u.machine);
    if (cpu >= 0)
        printf("pinned:  core %d (one thread)\n", cpu);
    else
        printf("pinned:  no (sched_setaffinity failed), one thread\n");
    printf("jansson: %s\n", JANSSON_VERSION);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "test/data/messages";
    const char *wis_dir = argc > 2 ? argv[2] : "test/data/wis2";
    if (argc > 3 || dir[0] == '-') {
        fprintf(stderr, "usage: codec [DIR [WIS]]  (SR_BENCH_MSGS, SR_BENCH_RUNS)\n");
        return 2;
    }
    long n = env_long("codec", "SR_BENCH_MSGS", 200000, 100, 1000000000L);
    int runs = (int)env_long("codec", "SR_BENCH_RUNS", 5, 1, MAX_RUNS);

    int cpu = sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    if (cpu >= 0)
        CPU_SET(cpu, &one);
    if (cpu < 0 || sched_setaffinity(0, sizeof one, &one) != 0)
        cpu = -1;

    set v03 = {0}, v02 = {0}, v02v03 = {0}, wis = {0};
    int rc = load(dir, "v03", NULL, ".json", &v03) == 0 &&
                     load(dir, "v02", NULL, ".v02", &v02) == 0 && v02_as_v03(&v02, &v02v03) == 0 &&
                     load(wis_dir, ".", "example", ".json", &wis) == 0
                 ? 0
                 : -1;
    double t_sr, t_js, t_v02, t_v02v03, t_wis, t_wjs, t_moved, t_mjs;
    if (rc == 0) {
        describe_machine(cpu);
        printf("data:    %d v03 bodies (mean %.0f bytes), %d v02 messages (mean body %.0f "
               "bytes), from %s; %d WNM bodies (mean %.0f bytes) from %s\n",
               v03.n, mean_size(&v03), v02.n, mean_size(&v02), dir, wis.n, mean_size(&wis),
               wis_dir);
        printf("figures: median of %d runs of %ld messages each, wall clock\n", runs, n);
        fflush(stdout);
        rc = race(sr_v03_pass, &v03, jansson_pass, &v03, n, runs, &t_sr, &t_js);
    }
    if (rc == 0) {
        printf("v03  sr decode+encode %9.0f msg/s   jansson loadb+dumps %9.0f msg/s   "
               "ratio sr/jansson %.3f\n",
               n / t_sr, n / t_js, t_js / t_sr);
        fflush(stdout);
        rc = race(sr_v02_pass, &v02, sr_v03_pass, &v02v03, n, runs, &t_v02, &t_v02v03);
    }
    if (rc == 0) {
        printf("v02  sr decode+encode %9.0f msg/s   sr v03 on the same   %9.0f msg/s   "
               "ratio v02/v03 %.3f\n",
               n / t_v02, n / t_v02v03, t_v02v03 / t_v02);
        fflush(stdout);
        rc = race(sr_wis_relay_pass, &wis, jansson_pass, &wis, n, runs, &t_wis, &t_wjs);
    }
    if (rc == 0) {
        printf("wis  sr decode+encode %9.0f msg/s   jansson loadb+dumps %9.0f msg/s   "
               "ratio sr/jansson %.3f   (relayed: id and links kept; v03 above: %.0f msg/s, "
               "wis/v03 %.3f)\n",
               n / t_wis, n / t_wjs, t_wjs / t_wis, n / t_sr, t_sr / t_wis);
        fflush(stdout);
        rc = race(sr_wis_moved_pass, &wis, jansson_pass, &wis, n, runs, &t_moved, &t_mjs);
    }
    if (rc == 0)
        printf("wis  sr decode+encode %9.0f msg/s   jansson loadb+dumps %9.0f msg/s   "
               "ratio sr/jansson %.3f   (re-announced from a new baseUrl: new id and links)\n",
               n / t_moved, n / t_mjs, t_mjs / t_moved);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld KiB (checksum %zu)\n", ru.ru_maxrss, sink);
    set_free(&v03);
    set_free(&v02);
    set_free(&v02v03);
    set_free(&wis);
    return rc == 0 ? 0 : 1;
}
