/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench/identity: how fast sr checksums files, next to `openssl dgst` on the same files in
 * the same run, and proof that a warm xattr cache reads nothing.
 *
 *   identity [DIR]     the files go in a new folder under DIR (default $TMPDIR or /tmp),
 *                      removed at the end
 *   SR_BENCH_MB        total size of the files in MiB (default 1024)
 *   SR_BENCH_FILES     how many files (default 16)
 *   SR_BENCH_RUNS      timed runs per figure, the median is shown (default 5)
 *   OPENSSL            the openssl program (default: openssl from PATH)
 *
 * Every figure is wall-clock over the whole set, after a warm-up pass that puts the files
 * in the page cache, so both sides read from memory and the digest is what is measured.
 * Runs of sr and openssl alternate so drift on a busy machine hits both alike.
 * Exit status 1 when something fails, including a cached pass that read file data.
 */
#include "bench.h"
#include "identity.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ULL * 1024ULL)
#define MAX_RUNS 99
#define MAX_FILES 4096

extern char **environ;

typedef struct bench {
    char dir[4096];
    char **files;
    int nfiles;
    unsigned long long total; /* bytes */
    int runs;
    const char *openssl;
} bench;


/* The first line of a command's output, for the machine description. */
static void first_line(const char *cmd, char *buf, size_t size)
{
    snprintf(buf, size, "?");
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return;
    if (fgets(buf, (int)size, p) != NULL)
        buf[strcspn(buf, "\n")] = '\0';
    pclose(p);
}

static void describe_machine(const bench *b)
{
    struct utsname u;
    uname(&u);
    char cpu[256] = "?", ssl[256], cmd[4200];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0 && strchr(line, ':') != NULL) {
                snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "'%s' version 2>&1", b->openssl);
    first_line(cmd, ssl, sizeof ssl);
    printf("machine: %s, %ld cores, Linux %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN), u.release,
           u.machine);
    printf("openssl: %s\n", ssl);
    printf("data:    %d files, %.0f MiB in all, in %s\n", b->nfiles, (double)b->total / MIB,
           b->dir);
}

/* Write the set: pseudo-random bytes (incompressible, no sparse blocks). */
static int make_files(bench *b, unsigned long long each)
{
    unsigned char *buf = malloc(MIB);
    if (buf == NULL)
        return -1;
    b->files = calloc((size_t)b->nfiles, sizeof *b->files);
    if (b->files == NULL) {
        free(buf);
        return -1;
    }
    unsigned x = 2463534242u;
    for (int i = 0; i < b->nfiles; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/file%03d", b->dir, i);
        b->files[i] = strdup(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (b->files[i] == NULL || fd < 0) {
            perror(path);
            free(buf);
            return -1;
        }
        for (unsigned long long done = 0; done < each;) {
            for (size_t k = 0; k < MIB; k += 4) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                memcpy(buf + k, &x, 4);
            }
            size_t n = each - done < MIB ? (size_t)(each - done) : MIB;
            if (write(fd, buf, n) != (ssize_t)n) {
                perror(path);
                close(fd);
                free(buf);
                return -1;
            }
            done += n;
        }
        close(fd);
        b->total += each;
    }
    free(buf);
    return 0;
}

/* One pass of sr over the set; seconds, or -1. */
static double sr_pass(const bench *b, const sr_identity_spec *spec, int flags,
                      unsigned long long *bytes_read, int *from_cache)
{
    double t0 = sr_time_mono_s();
    for (int i = 0; i < b->nfiles; i++) {
        sr_identity id;
        sr_identity_stats st;
        sr_err err = {0};
        if (sr_identity_of_file(b->files[i], spec, flags, &id, &st, &err) != SR_OK) {
            fprintf(stderr, "identity: %s\n", err.msg);
            return -1;
        }
        if (bytes_read != NULL)
            *bytes_read += st.bytes_read;
        if (from_cache != NULL)
            *from_cache += st.from_cache;
    }
    return sr_time_mono_s() - t0;
}

/* One `openssl dgst -ALGO` over the whole set, output to out_path; seconds, or -1. */
static double openssl_pass(const bench *b, const char *algo, const char *out_path)
{
    char flag[16];
    snprintf(flag, sizeof flag, "-%s", algo);
    char **argv = calloc((size_t)b->nfiles + 4, sizeof *argv);
    if (argv == NULL)
        return -1;
    argv[0] = (char *)b->openssl;
    argv[1] = (char *)"dgst";
    argv[2] = flag;
    for (int i = 0; i < b->nfiles; i++)
        argv[3 + i] = b->files[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = sr_time_mono_s();
    int rc = posix_spawnp(&pid, b->openssl, &fa, NULL, argv, environ);
    int status = 0;
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    double t = sr_time_mono_s() - t0;
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "identity: %s dgst %s failed\n", b->openssl, flag);
        return -1;
    }
    return t;
}

/* Do sr and openssl agree on every file? openssl prints "ALGO(path)= hex". */
static int same_digests(const bench *b, const sr_identity_spec *spec, const char *out_path)
{
    FILE *f = fopen(out_path, "r");
    if (f == NULL)
        return -1;
    char line[8192];
    int i = 0, bad = 0;
    while (fgets(line, sizeof line, f) != NULL && i < b->nfiles) {
        const char *hex = strstr(line, ")= ");
        sr_identity id;
        char sum[SR_IDENTITY_V02_MAX];
        sr_err err = {0};
        if (hex == NULL ||
            sr_identity_of_file(b->files[i], spec, SR_IDENTITY_NO_CACHE, &id, NULL, &err) != 0 ||
            sr_identity_to_v02(&id, sum, sizeof sum, &err) != 0 ||
            strncmp(hex + 3, sum + 2, strlen(sum + 2)) != 0) {
            fprintf(stderr, "identity: %s: sr and openssl disagree\n", b->files[i]);
            bad = 1;
        }
        i++;
    }
    fclose(f);
    return bad || i != b->nfiles ? -1 : 0;
}

static int throughput(const bench *b, const char *algo)
{
    sr_identity_spec spec;
    sr_err err = {0};
    if (sr_identity_spec_parse(algo, &spec, &err) != SR_OK) {
        fprintf(stderr, "identity: %s\n", err.msg);
        return -1;
    }
    char out_path[4200];
    snprintf(out_path, sizeof out_path, "%s/openssl.out", b->dir);
    /* warm-up: page cache, both programs' code; and check both compute the same thing */
    if (sr_pass(b, &spec, SR_IDENTITY_NO_CACHE, NULL, NULL) < 0 ||
        openssl_pass(b, algo, out_path) < 0 || same_digests(b, &spec, out_path) != 0) {
        sr_identity_spec_fini(&spec);
        return -1;
    }
    /* openssl's own start-up (an empty set), shown so the ratio can be read fairly */
    bench empty = *b;
    char *devnull = (char *)"/dev/null";
    empty.files = &devnull;
    empty.nfiles = 1;
    double ours[MAX_RUNS] = {0}, theirs[MAX_RUNS] = {0}, start[MAX_RUNS] = {0};
    for (int r = 0; r < b->runs; r++) {
        ours[r] = sr_pass(b, &spec, SR_IDENTITY_NO_CACHE, NULL, NULL);
        theirs[r] = openssl_pass(b, algo, "/dev/null");
        start[r] = openssl_pass(&empty, algo, "/dev/null");
        if (ours[r] < 0 || theirs[r] < 0 || start[r] < 0) {
            sr_identity_spec_fini(&spec);
            return -1;
        }
    }
    sr_identity_spec_fini(&spec);
    double mb = (double)b->total / 1e6;
    double t_sr = median(ours, b->runs), t_ssl = median(theirs, b->runs);
    double t_start = median(start, b->runs);
    double ratio = t_ssl / t_sr;
    double ratio_net = t_ssl > t_start ? (t_ssl - t_start) / t_sr : 0;
    printf("%-6s  sr %7.1f MB/s   openssl dgst %7.1f MB/s   ratio sr/openssl %.3f %s\n"
           "        (openssl start-up %.1f ms; without it openssl does %.1f MB/s, ratio %.3f)\n",
           algo, mb / t_sr, mb / t_ssl, ratio,
           ratio >= 0.95 ? "(goal >= 0.95: met)" : "(goal >= 0.95: MISSED)", t_start * 1e3,
           ratio_net > 0 ? mb / (t_ssl - t_start) : 0, ratio_net);
    return 0;
}

/* Bytes rchar may grow by when nothing but /proc/self/io is read (see bench_cached). */
#define PROC_IO_SLACK 16

/* rchar and read_bytes from /proc/self/io. */
static int proc_io(unsigned long long *rchar, unsigned long long *read_bytes)
{
    char text[1024];
    int fd = open("/proc/self/io", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    const char *r = strstr(text, "rchar:"), *rb = strstr(text, "read_bytes:");
    if (r == NULL || rb == NULL)
        return -1;
    *rchar = strtoull(r + 6, NULL, 10);
    *read_bytes = strtoull(rb + 11, NULL, 10);
    return 0;
}

static int cached_pass(const bench *b)
{
    sr_identity_spec spec;
    if (sr_identity_spec_parse("sha512", &spec, NULL) != SR_OK)
        return -1;
    int rc = 0;
    /* prime: compute and store the cache */
    if (sr_pass(b, &spec, 0, NULL, NULL) < 0) {
        sr_identity_spec_fini(&spec);
        return -1;
    }
    char probe[256];
    if (getxattr(b->files[0], "user.sr_identity", probe, sizeof probe) < 0) {
        printf("cached  skipped: no user xattrs on %s (%s): the cache cannot work there\n", b->dir,
               strerror(errno));
        sr_identity_spec_fini(&spec);
        return 0;
    }
    /* what reading /proc/self/io itself adds to rchar, to take it out */
    unsigned long long c0, c1, c2, c3, rb0, rb1, rb2, rb3;
    if (proc_io(&c0, &rb0) != 0 || proc_io(&c1, &rb1) != 0) {
        printf("cached  /proc/self/io not readable\n");
        sr_identity_spec_fini(&spec);
        return -1;
    }
    unsigned long long bytes_read = 0;
    int from_cache = 0;
    proc_io(&c2, &rb2);
    double t = sr_pass(b, &spec, 0, &bytes_read, &from_cache);
    proc_io(&c3, &rb3);
    sr_identity_spec_fini(&spec);
    if (t < 0)
        return -1;
    unsigned long long self = c1 - c0, rchar = c3 - c2 - self;
    printf("cached  %d/%d files from the xattr cache in %.2f ms; stats.bytes_read %llu; "
           "/proc/self/io rchar +%llu, read_bytes +%llu (less the %llu bytes of reading "
           "/proc/self/io)\n",
           from_cache, b->nfiles, t * 1e3, bytes_read, rchar, rb3 - rb2, self);
    /* The text of /proc/self/io grows when its numbers gain digits (a few bytes between
     * the calibrating read and the last one); a file's data would be megabytes. */
    if (from_cache != b->nfiles || bytes_read != 0 || rchar > PROC_IO_SLACK) {
        printf("cached  FAILED: a warm cache must read no file data\n");
        rc = -1;
    }
    return rc;
}

static void cleanup(bench *b)
{
    for (int i = 0; i < b->nfiles && b->files != NULL; i++) {
        if (b->files[i] != NULL)
            unlink(b->files[i]);
        free(b->files[i]);
    }
    free(b->files);
    char out_path[4200];
    snprintf(out_path, sizeof out_path, "%s/openssl.out", b->dir);
    unlink(out_path);
    rmdir(b->dir);
}

int main(int argc, char **argv)
{
    bench b = {0};
    long mb = env_long("identity", "SR_BENCH_MB", 1024, 1, 1L << 20);
    b.nfiles = (int)env_long("identity", "SR_BENCH_FILES", 16, 1, MAX_FILES);
    b.runs = (int)env_long("identity", "SR_BENCH_RUNS", 5, 1, MAX_RUNS);
    b.openssl = getenv("OPENSSL") != NULL ? getenv("OPENSSL") : "openssl";
    const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (argc > 2 || parent[0] == '-') {
        fprintf(stderr, "usage: identity [DIR]  (SR_BENCH_MB, SR_BENCH_FILES, SR_BENCH_RUNS)\n");
        return 2;
    }
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        perror(parent);
        return 1;
    }
    snprintf(b.dir, sizeof b.dir, "%s/sr_bench_identity.XXXXXX", parent);
    if (mkdtemp(b.dir) == NULL) {
        perror(b.dir);
        return 1;
    }
    unsigned long long each = (unsigned long long)mb * MIB / (unsigned long long)b.nfiles;
    int rc = make_files(&b, each);
    if (rc == 0) {
        describe_machine(&b);
        printf("figures: median of %d runs, wall clock, page cache warm\n", b.runs);
        rc = throughput(&b, "sha512");
        if (rc == 0)
            rc = throughput(&b, "md5");
        if (rc == 0)
            rc = cached_pass(&b);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("peak RSS %ld KiB\n", ru.ru_maxrss);
    }
    cleanup(&b);
    return rc == 0 ? 0 : 1;
}
