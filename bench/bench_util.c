/* bench/bench_util.c: the clock and the benchmark's temporary directory
 * (created under a parent the user picks, so it is on the file system being
 * measured; removed afterwards). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "sampan/error.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

int bench_mkdtemp(const char *parent, char *out, size_t outlen, char *err,
                  size_t errlen)
{
    int n = snprintf(out, outlen, "%s/sampan-bench-wal.XXXXXX", parent);
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen, "directory name too long: %s", parent);
        return SAMPAN_EINVAL;
    }
    if (mkdtemp(out) == NULL) {
        snprintf(err, errlen, "cannot create a directory in %s: %s", parent,
                 strerror(errno));
        return errno == ENOENT ? SAMPAN_ENOENT : SAMPAN_EIO;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : errno;
}

int bench_rmtree(const char *path, char *err, size_t errlen)
{
    /* Depth first, so directories are empty when their turn comes. */
    int rc = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (rc != 0) {
        snprintf(err, errlen, "cannot remove %s: %s", path,
                 strerror(rc > 0 ? rc : errno));
        return SAMPAN_EIO;
    }
    return 0;
}
