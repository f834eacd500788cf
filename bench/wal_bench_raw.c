/* bench/wal_bench_raw.c: the baseline side of the WAL benchmark: the
 * cheapest durable append the file system offers for the same bytes, one
 * pwrite of batch * entry_bytes appended to a preallocated file, then one
 * fdatasync. Preallocated (and the allocation made durable up front) as
 * sampan's segments are, so fdatasync has only data to flush; the offset
 * wraps to 0 at the end of the file, keeping disk use bounded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "sampan/error.h"

static int raw_prepare(const char *path, uint64_t bytes, int *out, char *err,
                       size_t errlen)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return SAMPAN_EIO;
    }
    int e = posix_fallocate(fd, 0, (off_t)bytes);
    if (e != 0) {
        snprintf(err, errlen, "cannot preallocate %llu bytes for %s: %s",
                 (unsigned long long)bytes, path, strerror(e));
        close(fd);
        return e == ENOSPC ? SAMPAN_ENOSPC : SAMPAN_EIO;
    }
    if (fsync(fd) != 0) {
        snprintf(err, errlen, "fsync of %s failed: %s", path, strerror(errno));
        close(fd);
        return SAMPAN_EIO;
    }
    *out = fd;
    return 0;
}

static int raw_loop(int fd, const char *path, const struct bench_params *p,
                    size_t batch, struct bench_result *res, char *err,
                    size_t errlen)
{
    size_t len = batch * p->entry_bytes;
    uint64_t off = 0;
    uint64_t start = bench_now_ns();
    uint64_t now = start;
    while (now - start < p->run_ns) {
        if (off + len > p->file_bytes) {
            off = 0;
        }
        uint64_t t0 = now;
        ssize_t w = pwrite(fd, p->buf, len, (off_t)off);
        if (w != (ssize_t)len) {
            snprintf(err, errlen, "write of %zu bytes at %llu of %s: %s", len,
                     (unsigned long long)off, path,
                     w < 0 ? strerror(errno) : "short write");
            return SAMPAN_EIO;
        }
        if (fdatasync(fd) != 0) {
            snprintf(err, errlen, "fdatasync of %s failed: %s", path,
                     strerror(errno));
            return SAMPAN_EIO;
        }
        now = bench_now_ns();
        bench_hist_add(&res->lat, now - t0);
        res->batches++;
        off += len;
    }
    res->elapsed_ns = now - start;
    res->records = res->batches * batch;
    res->payload_bytes = res->records * p->entry_bytes;
    return 0;
}

int bench_run_raw(const struct bench_params *p, size_t batch, bool fresh,
                  struct bench_result *res, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/raw-%zu", p->dir, batch);
    int fd;
    struct bench_params q = *p;
    if (fresh) {
        q.file_bytes = (uint64_t)4 << 30; /* more than a row can write */
    }
    int rc = raw_prepare(path, q.file_bytes, &fd, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = raw_loop(fd, path, &q, batch, res, err, errlen);
    close(fd);
    /* The file is not needed past its row; keep the directory small. */
    unlink(path);
    return rc;
}
