/* bench/wal_bench.c: sampan-bench-wal, the write-ahead log benchmark. Not a
 * test: it prints figures and never judges them.
 *
 * For each batch size (1, 8, 64, 512 entries of 100 bytes) it runs, in one
 * fresh temporary directory, first sampan_storage_persist() with 64 MiB
 * segments (each call one write + one fdatasync), then a raw loop of
 * pwrite + fdatasync of the same bytes into a preallocated file, each for
 * --seconds, and prints records/s, batches/s (= fdatasyncs/s), payload
 * MB/s and p50/p99 batch latency of both, and the ratio sampan/raw.
 *
 *   sampan-bench-wal [--dir PATH] [--seconds S] [--batches 1,8,64,512]
 *   make bench-wal                 Release build, then run with defaults
 *   make bench-wal BENCH_ARGS='--dir /mnt/ssd --seconds 10'
 *
 * --dir: parent of the temporary directory (so the file system measured is
 * PATH's); default is the build directory. The directory is removed at the
 * end. Memory stays at one batch of buffers plus fixed histograms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sampan/error.h"

#ifndef SAMPAN_BENCH_DEFAULT_DIR
#define SAMPAN_BENCH_DEFAULT_DIR "."
#endif

#define ENTRY_BYTES 100u
#define SEGMENT_BYTES (UINT64_C(64) << 20)
#define MAX_BATCHES 16

struct options {
    const char *parent;
    double seconds;
    size_t batches[MAX_BATCHES];
    size_t n_batches;
};

static int usage(const char *why)
{
    fprintf(stderr,
            "sampan-bench-wal: %s\n"
            "usage: sampan-bench-wal [--dir PATH] [--seconds S] "
            "[--batches N,N,...]\n",
            why);
    return 2;
}

static int parse_batches(const char *s, struct options *o)
{
    o->n_batches = 0;
    const char *p = s;
    while (*p != '\0') {
        char *end;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno != 0 || end == p || v == 0 || v > 65536 || *p == '-' ||
            o->n_batches == MAX_BATCHES || (*end != ',' && *end != '\0')) {
            return -1;
        }
        o->batches[o->n_batches++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return o->n_batches > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const size_t defaults[] = {1, 8, 64, 512};
    o->parent = SAMPAN_BENCH_DEFAULT_DIR;
    o->seconds = 3.0;
    o->n_batches = sizeof(defaults) / sizeof(defaults[0]);
    memcpy(o->batches, defaults, sizeof(defaults));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: sampan-bench-wal [--dir PATH] [--seconds S] "
                   "[--batches N,N,...]\n");
            exit(0);
        }
        if (i + 1 >= argc) {
            char why[256];
            snprintf(why, sizeof(why), "unknown option or missing value: %s",
                     a);
            return usage(why);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--dir") == 0) {
            o->parent = v;
        } else if (strcmp(a, "--seconds") == 0) {
            char *end;
            o->seconds = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->seconds > 0.0) ||
                o->seconds > 3600.0) {
                return usage("--seconds wants a number in (0, 3600]");
            }
        } else if (strcmp(a, "--batches") == 0) {
            if (parse_batches(v, o) != 0) {
                return usage("--batches wants up to 16 sizes in 1..65536, "
                             "comma-separated");
            }
        } else {
            char why[256];
            snprintf(why, sizeof(why), "unknown option %s", a);
            return usage(why);
        }
    }
    return 0;
}

static double per_sec(uint64_t n, uint64_t ns)
{
    return ns == 0 ? 0.0 : (double)n * 1e9 / (double)ns;
}

static void print_row(size_t batch, const char *what,
                      const struct bench_result *r)
{
    printf("%6zu  %-7s %11.0f  %10.0f  %8.2f  %9.1f  %9.1f\n", batch, what,
           per_sec(r->records, r->elapsed_ns),
           per_sec(r->batches, r->elapsed_ns),
           per_sec(r->payload_bytes, r->elapsed_ns) / 1e6,
           (double)bench_hist_quantile(&r->lat, 0.50) / 1e3,
           (double)bench_hist_quantile(&r->lat, 0.99) / 1e3);
}

static double ratio(double a, double b)
{
    return b == 0.0 ? 0.0 : a / b;
}

static void print_ratio(size_t batch, const char *label,
                        const struct bench_result *s,
                        const struct bench_result *r)
{
    double rec = ratio(per_sec(s->records, s->elapsed_ns),
                       per_sec(r->records, r->elapsed_ns));
    double p50 = ratio((double)bench_hist_quantile(&s->lat, 0.50),
                       (double)bench_hist_quantile(&r->lat, 0.50));
    double p99 = ratio((double)bench_hist_quantile(&s->lat, 0.99),
                       (double)bench_hist_quantile(&r->lat, 0.99));
    printf("%6zu  %-7s %10.2fx  %9.2fx  %7.2fx  %8.2fx  %8.2fx\n", batch, label,
           rec, rec, rec, p50, p99);
}

/* Runs every row, reusing the two results (and their histograms). */
static int run_rows(const struct options *o, struct bench_params *p,
                    struct bench_result *sam, struct bench_result *raw,
                    struct bench_result *fresh, char *err, size_t errlen)
{
    printf("%6s  %-7s %11s  %10s  %8s  %9s  %9s\n", "batch", "impl",
           "records/s", "batches/s", "MB/s", "p50 us", "p99 us");
    for (size_t i = 0; i < o->n_batches; i++) {
        size_t b = o->batches[i];
        memset(sam, 0, sizeof(*sam));
        memset(raw, 0, sizeof(*raw));
        memset(fresh, 0, sizeof(*fresh));
        int rc = bench_run_sampan(p, b, sam, err, errlen);
        if (rc == 0) {
            rc = bench_run_raw(p, b, true, fresh, err, errlen);
        }
        if (rc == 0) {
            rc = bench_run_raw(p, b, false, raw, err, errlen);
        }
        if (rc != 0) {
            return rc;
        }
        print_row(b, "sampan", sam);
        print_row(b, "raw-new", fresh);
        print_row(b, "raw-ow", raw);
        print_ratio(b, "s/new", sam, fresh);
        print_ratio(b, "s/ow", sam, raw);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    size_t max_batch = 0;
    for (size_t i = 0; i < o.n_batches; i++) {
        max_batch = o.batches[i] > max_batch ? o.batches[i] : max_batch;
    }
    char dir[4096];
    char err[1024] = "";
    if (bench_mkdtemp(o.parent, dir, sizeof(dir), err, sizeof(err)) != 0) {
        fprintf(stderr, "sampan-bench-wal: %s\n", err);
        return 1;
    }
    /* Payload bytes are arbitrary but not all zero, so no layer below can
     * shortcut them. Histograms are large: on the heap, once. */
    uint8_t *buf = malloc(max_batch * ENTRY_BYTES);
    struct bench_result *res = malloc(3 * sizeof(*res));
    if (buf == NULL || res == NULL) {
        fprintf(stderr, "sampan-bench-wal: out of memory\n");
        free(buf);
        free(res);
        bench_rmtree(dir, err, sizeof(err));
        return 1;
    }
    for (size_t i = 0; i < max_batch * ENTRY_BYTES; i++) {
        buf[i] = (uint8_t)(i * 131u + 7u);
    }
    struct bench_params p = {
        .dir = dir,
        .run_ns = (uint64_t)(o.seconds * 1e9),
        .entry_bytes = ENTRY_BYTES,
        .file_bytes = SEGMENT_BYTES,
        .buf = buf,
    };
    printf("sampan-bench-wal: %u-byte entries, %.1f s per row, 64 MiB "
           "segments, in %s\n"
           "MB/s counts payload bytes. raw-new: write+fdatasync into newly "
           "allocated space (as a WAL appends); raw-ow: overwriting written "
           "blocks (cheapest). s/new, s/ow = sampan / each "
           "(throughput: higher is better; latency: lower is better)\n\n",
           ENTRY_BYTES, o.seconds, dir);
    rc = run_rows(&o, &p, &res[0], &res[1], &res[2], err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "sampan-bench-wal: %s (%s)\n", err,
                sampan_strerror(rc));
    }
    free(buf);
    free(res);
    char rm_err[1024];
    if (bench_rmtree(dir, rm_err, sizeof(rm_err)) != 0) {
        fprintf(stderr, "sampan-bench-wal: %s\n", rm_err);
    }
    return rc != 0 ? 1 : 0;
}
