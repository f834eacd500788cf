/* bench/bench_hist.c: the fixed-size log-linear latency histogram (see
 * bench.h for why it is fixed-size). */
#include <string.h>

#include "bench.h"

void bench_hist_reset(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned hist_index(uint64_t v)
{
    if (v < BENCH_HIST_SUB) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - BENCH_HIST_SUB_BITS;
    return (shift + 1u) * BENCH_HIST_SUB +
           (unsigned)((v >> shift) & (BENCH_HIST_SUB - 1u));
}

/* Midpoint of bucket `idx`: the inverse of hist_index. */
static uint64_t hist_value(unsigned idx)
{
    if (idx < BENCH_HIST_SUB) {
        return idx;
    }
    unsigned shift = idx / BENCH_HIST_SUB - 1u;
    uint64_t low = (uint64_t)(BENCH_HIST_SUB + idx % BENCH_HIST_SUB) << shift;
    return low + ((UINT64_C(1) << shift) >> 1);
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
    h->buckets[hist_index(ns)]++;
    h->count++;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    /* The smallest value with at least ceil(q * count) samples at or
     * below it. */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) {
        rank++;
    }
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            return hist_value(i);
        }
    }
    return hist_value(BENCH_HIST_BUCKETS - 1u);
}
