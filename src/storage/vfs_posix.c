/* storage/vfs_posix.c: the POSIX sampan_vfs over one data directory. It
 * owns the directory descriptor and the flock on its LOCK file; every name
 * is opened relative to the directory (openat and friends), so the process
 * working directory never matters. A vfs "fd" is the real descriptor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sampan/vfs.h"

#define LOCK_NAME "LOCK"

struct posix_ctx {
    int dirfd;
    int lockfd; /* -1 in read-only mode */
    bool read_only;
};

static int map_errno(int e)
{
    switch (e) {
    case ENOENT:
        return SAMPAN_ENOENT;
    case ENOSPC:
    case EDQUOT:
        return SAMPAN_ENOSPC;
    case ENOMEM:
        return SAMPAN_ENOMEM;
    default:
        return SAMPAN_EIO;
    }
}

static int p_open(void *ctx, const char *name, bool create, int *fd)
{
    struct posix_ctx *c = ctx;
    int flags = O_CLOEXEC | (c->read_only ? O_RDONLY : O_RDWR);
    if (create && !c->read_only) {
        flags |= O_CREAT;
    }
    int f = openat(c->dirfd, name, flags, 0644);
    if (f < 0) {
        return map_errno(errno);
    }
    *fd = f;
    return 0;
}

static int p_close(void *ctx, int fd)
{
    (void)ctx;
    /* close() errors after fdatasync carry no information we could act
     * on (Linux releases the descriptor either way); report them anyway. */
    return close(fd) == 0 ? 0 : map_errno(errno);
}

static int p_read(void *ctx, int fd, uint64_t off, void *buf, size_t len,
                  size_t *got)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n =
            pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return map_errno(errno);
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

static int p_write(void *ctx, int fd, uint64_t off, const void *buf, size_t len)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
                           (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return map_errno(errno);
        }
        done += (size_t)n;
    }
    return 0;
}

static int p_sync(void *ctx, int fd)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    /* No EINTR retry: a failed fdatasync may have dropped dirty pages, so
     * the caller must treat any failure as fatal (fail-stop). */
    return fdatasync(fd) == 0 ? 0 : map_errno(errno);
}

static int p_size(void *ctx, int fd, uint64_t *size)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return map_errno(errno);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

static int p_truncate(void *ctx, int fd, uint64_t size)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    return ftruncate(fd, (off_t)size) == 0 ? 0 : map_errno(errno);
}

static int p_allocate(void *ctx, int fd, uint64_t size)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    /* posix_fallocate returns the error instead of setting errno. */
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == 0) {
        return 0;
    }
    if (e == EOPNOTSUPP || e == EINVAL) {
        /* The file system cannot reserve blocks (e.g. some network file
         * systems): a sparse extension still reads as zeros, and writes
         * may then fail with ENOSPC later, which is fatal anyway. */
        uint64_t cur = 0;
        int rc = p_size(ctx, fd, &cur);
        if (rc != 0 || cur >= size) {
            return rc;
        }
        return p_truncate(ctx, fd, size);
    }
    return map_errno(e);
}

static int p_rename(void *ctx, const char *from, const char *to)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    return renameat(c->dirfd, from, c->dirfd, to) == 0 ? 0 : map_errno(errno);
}

static int p_remove(void *ctx, const char *name)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    return unlinkat(c->dirfd, name, 0) == 0 ? 0 : map_errno(errno);
}

static int p_sync_dir(void *ctx)
{
    struct posix_ctx *c = ctx;
    if (c->read_only) {
        return SAMPAN_EIO;
    }
    return fsync(c->dirfd) == 0 ? 0 : map_errno(errno);
}

static int p_list(void *ctx, int (*cb)(void *arg, const char *name), void *arg)
{
    struct posix_ctx *c = ctx;
    /* fdopendir takes over the descriptor it is given: hand it a copy. */
    int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return map_errno(errno);
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int rc = map_errno(errno);
        close(fd);
        return rc;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            rc = errno != 0 ? map_errno(errno) : 0;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, LOCK_NAME) == 0) {
            continue;
        }
        rc = cb(arg, de->d_name);
        if (rc != 0) {
            break;
        }
    }
    closedir(d);
    return rc;
}

static const struct sampan_vfs_ops posix_ops = {
    .open = p_open,
    .close = p_close,
    .read = p_read,
    .write = p_write,
    .sync = p_sync,
    .size = p_size,
    .truncate = p_truncate,
    .allocate = p_allocate,
    .rename = p_rename,
    .remove = p_remove,
    .sync_dir = p_sync_dir,
    .list = p_list,
};

int sampan_vfs_posix_open(const char *dir, bool create, bool read_only,
                          struct sampan_vfs *out, char *err, size_t errlen)
{
    if (create && !read_only && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "data directory %s: cannot create: %s", dir,
                 strerror(e));
        return map_errno(e);
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int e = errno;
        snprintf(err, errlen, "data directory %s: cannot open: %s", dir,
                 strerror(e));
        return map_errno(e);
    }
    int lockfd = -1;
    if (!read_only) {
        lockfd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lockfd < 0) {
            int e = errno;
            snprintf(err, errlen, "data directory %s: cannot open %s: %s", dir,
                     LOCK_NAME, strerror(e));
            close(dirfd);
            return map_errno(e);
        }
        if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(lockfd);
            close(dirfd);
            if (e == EWOULDBLOCK) {
                snprintf(err, errlen,
                         "data directory %s is locked by another process "
                         "(flock on %s/%s)",
                         dir, dir, LOCK_NAME);
                return SAMPAN_ELOCKED;
            }
            snprintf(err, errlen, "data directory %s: cannot lock %s: %s", dir,
                     LOCK_NAME, strerror(e));
            return map_errno(e);
        }
    }
    struct posix_ctx *c = malloc(sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "data directory %s: out of memory", dir);
        if (lockfd >= 0) {
            close(lockfd);
        }
        close(dirfd);
        return SAMPAN_ENOMEM;
    }
    c->dirfd = dirfd;
    c->lockfd = lockfd;
    c->read_only = read_only;
    out->ops = &posix_ops;
    out->ctx = c;
    return 0;
}

void sampan_vfs_posix_close(struct sampan_vfs *vfs)
{
    if (vfs == NULL || vfs->ctx == NULL) {
        return;
    }
    struct posix_ctx *c = vfs->ctx;
    if (c->lockfd >= 0) {
        close(c->lockfd); /* releases the flock */
    }
    close(c->dirfd);
    free(c);
    vfs->ctx = NULL;
}
