/* sampan/vfs.h: the file-system interface the storage layer is written
 * against. `sampan serve` uses the POSIX implementation over a data
 * directory; the simulator supplies one that models a page cache (writes
 * are durable only after a sync; a crash loses the rest and may tear the
 * last write) and injects I/O errors. All names are plain file names inside
 * one directory (no slashes). Every function returns 0 or a negative
 * SAMPAN_E* code: SAMPAN_ENOENT (no such file), SAMPAN_ENOSPC (disk full),
 * SAMPAN_EIO (anything else). */
#ifndef SAMPAN_VFS_H
#define SAMPAN_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sampan_vfs_ops {
    /* Opens `name`, creating it (empty) if `create` and it is missing. */
    int (*open)(void *ctx, const char *name, bool create, int *fd);
    int (*close)(void *ctx, int fd);
    /* Reads up to len bytes at off; *got < len only at end of file. */
    int (*read)(void *ctx, int fd, uint64_t off, void *buf, size_t len,
                size_t *got);
    /* Writes all len bytes at off (extending the file as needed). Not
     * durable until sync. */
    int (*write)(void *ctx, int fd, uint64_t off, const void *buf, size_t len);
    /* Makes the file's data and size durable (fdatasync). */
    int (*sync)(void *ctx, int fd);
    int (*size)(void *ctx, int fd, uint64_t *size);
    /* Sets the file's size; bytes past the old size read as zeros. */
    int (*truncate)(void *ctx, int fd, uint64_t size);
    /* Reserves space up to `size` bytes (zero-filled), for preallocated
     * segments; may fail with SAMPAN_ENOSPC. */
    int (*allocate)(void *ctx, int fd, uint64_t size);
    /* Atomically renames (replacing `to`); durable after sync_dir. */
    int (*rename)(void *ctx, const char *from, const char *to);
    /* Removes a file; durable after sync_dir. SAMPAN_ENOENT if missing. */
    int (*remove)(void *ctx, const char *name);
    /* Makes creations, renames and removals in the directory durable. */
    int (*sync_dir)(void *ctx);
    /* Calls cb(arg, name) for every file, in no particular order; stops and
     * returns cb's value when it is non-zero. */
    int (*list)(void *ctx, int (*cb)(void *arg, const char *name), void *arg);
};

/* A file system: operations and their context. Copied by value; the
 * context is owned by whoever created the vfs. */
struct sampan_vfs {
    const struct sampan_vfs_ops *ops;
    void *ctx;
};

/* Opens the POSIX file system over directory `dir` (created if `create`),
 * and takes an exclusive lock on it (a LOCK file held with flock), so two
 * processes can never open one data directory. On success *out owns the
 * directory handle and lock until sampan_vfs_posix_close(). Errors:
 * SAMPAN_ELOCKED (another process holds it), SAMPAN_ENOENT, SAMPAN_EIO; a
 * message naming the directory and the cause goes into err. `read_only`
 * skips the lock (for `sampan storage check`) and refuses writes. */
int sampan_vfs_posix_open(const char *dir, bool create, bool read_only,
                          struct sampan_vfs *out, char *err, size_t errlen);
void sampan_vfs_posix_close(struct sampan_vfs *vfs);

#ifdef __cplusplus
}
#endif

#endif
