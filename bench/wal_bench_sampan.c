/* bench/wal_bench_sampan.c: the sampan side of the WAL benchmark: batches
 * of consecutive entries through sampan_storage_persist(), each call one
 * write plus one fdatasync by the storage's contract. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "sampan/storage.h"
#include "sampan/vfs.h"

static int persist_loop(struct sampan_storage *st, const struct bench_params *p,
                        size_t batch, struct sampan_entry *ents,
                        struct bench_result *res, char *err, size_t errlen)
{
    uint64_t next = 1;
    uint64_t start = bench_now_ns();
    uint64_t now = start;
    while (now - start < p->run_ns) {
        for (size_t i = 0; i < batch; i++) {
            ents[i].index = next + i;
        }
        struct sampan_storage_batch b = {
            .n_entries = batch,
            .entries = ents,
        };
        uint64_t t0 = now;
        int rc = sampan_storage_persist(st, &b);
        now = bench_now_ns();
        if (rc != 0) {
            snprintf(err, errlen, "persist of entries %llu..%llu failed: %s",
                     (unsigned long long)next,
                     (unsigned long long)(next + batch - 1),
                     sampan_strerror(rc));
            return rc;
        }
        bench_hist_add(&res->lat, now - t0);
        res->batches++;
        next += batch;
    }
    res->elapsed_ns = now - start;
    res->records = res->batches * batch;
    res->payload_bytes = res->records * p->entry_bytes;
    return 0;
}

int bench_run_sampan(const struct bench_params *p, size_t batch,
                     struct bench_result *res, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/sampan-%zu", p->dir, batch);
    struct sampan_vfs vfs;
    int rc = sampan_vfs_posix_open(dir, true, false, &vfs, err, errlen);
    if (rc != 0) {
        return rc;
    }
    struct sampan_storage_config cfg;
    sampan_storage_config_default(&cfg);
    cfg.segment_bytes = p->file_bytes;
    struct sampan_storage *st = NULL;
    struct sampan_storage_state state;
    rc = sampan_storage_open(&vfs, &cfg, &st, &state, err, errlen);
    if (rc != 0) {
        sampan_vfs_posix_close(&vfs);
        return rc;
    }
    sampan_storage_drop_recovered(st);

    /* Term 1 made durable first (outside the timed loop), as a node would
     * have before its first entries of term 1. */
    struct sampan_hard_state hs = {.term = 1, .vote = SAMPAN_NONE};
    struct sampan_storage_batch first = {.hard_state = &hs};
    rc = sampan_storage_persist(st, &first);
    if (rc != 0) {
        snprintf(err, errlen, "persist of the hard state in %s failed: %s", dir,
                 sampan_strerror(rc));
    }

    /* Every entry points into the same payload bytes: the storage copies
     * what it writes, and memory stays at one batch whatever the rate. */
    struct sampan_entry *ents = NULL;
    if (rc == 0) {
        ents = calloc(batch, sizeof(*ents));
        if (ents == NULL) {
            snprintf(err, errlen, "out of memory for %zu entries", batch);
            rc = SAMPAN_ENOMEM;
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < batch; i++) {
            ents[i].term = 1;
            ents[i].type = SAMPAN_ENTRY_NORMAL;
            ents[i].len = (uint32_t)p->entry_bytes;
            ents[i].data = p->buf + i * p->entry_bytes;
        }
        rc = persist_loop(st, p, batch, ents, res, err, errlen);
    }
    free(ents);
    sampan_storage_close(st);
    sampan_vfs_posix_close(&vfs);
    /* Rows can write hundreds of MB; free the space before the next. */
    char rm_err[512];
    int rm = bench_rmtree(dir, rm_err, sizeof(rm_err));
    if (rc == 0 && rm != 0) {
        snprintf(err, errlen, "%s", rm_err);
        rc = rm;
    }
    return rc;
}
