/* bench/bench.h: what the WAL benchmark's files share: the per-row result,
 * the latency histogram, the clock, the temporary directory, and the two
 * loops being compared (sampan storage vs raw write+fdatasync). */
#ifndef SAMPAN_BENCH_BENCH_H
#define SAMPAN_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Latency histogram, log-linear: exact below 32 ns, then 32 buckets per
 * power of two (about 3% resolution). Fixed size, so memory stays bounded
 * however long a row runs. */
#define BENCH_HIST_SUB_BITS 5u
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS ((64u - BENCH_HIST_SUB_BITS + 1u) * BENCH_HIST_SUB)

struct bench_hist {
    uint64_t count;
    uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t ns);
/* The value (ns, bucket midpoint) at quantile q in [0, 1]; 0 if empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

/* What one loop measured. */
struct bench_result {
    uint64_t batches; /* persist calls = write + fdatasync pairs */
    uint64_t records;
    uint64_t payload_bytes; /* records * entry size (not framing) */
    uint64_t elapsed_ns;
    struct bench_hist lat; /* per-batch latency */
};

/* Shared, reused buffers and parameters of a run. */
struct bench_params {
    const char *dir;     /* the run's private temporary directory */
    uint64_t run_ns;     /* how long each loop runs                 */
    size_t entry_bytes;  /* payload per entry (100)                 */
    uint64_t file_bytes; /* segment size / raw file preallocation  */
    uint8_t *buf;        /* max_batch * entry_bytes, filled        */
};

/* Persists batches of `batch` consecutive entries through sampan_storage
 * in a fresh sub-directory of p->dir until p->run_ns elapse. Returns 0 or a
 * negative SAMPAN_E* code with a message in err. */
int bench_run_sampan(const struct bench_params *p, size_t batch,
                     struct bench_result *res, char *err, size_t errlen);

/* The baseline: write(fd) of batch * entry_bytes bytes appended to a
 * preallocated file, then fdatasync, until p->run_ns elapse. With `fresh`
 * the file is large enough never to wrap, so every write lands in newly
 * allocated space as a WAL's appends do (on ext4 fdatasync must then also
 * journal the conversion of unwritten extents); without, it wraps within
 * p->file_bytes and soon only overwrites written blocks, the cheapest
 * case a file system offers. */
int bench_run_raw(const struct bench_params *p, size_t batch, bool fresh,
                  struct bench_result *res, char *err, size_t errlen);

/* Creates a fresh directory "<parent>/sampan-bench-wal.XXXXXX" into out. */
int bench_mkdtemp(const char *parent, char *out, size_t outlen, char *err,
                  size_t errlen);
/* Removes `path` and everything below it. */
int bench_rmtree(const char *path, char *err, size_t errlen);

#endif
