/* sim/vfs_sim.c: the simulated disk (see vfs_sim.h). Files are inodes with
 * a current image (what reads see) and a durable image; names live in a
 * current and a durable directory. Unsynced writes are remembered as
 * extents, so a crash can let each of their sectors reach the disk or not. */
#include "vfs_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 96
#define MAX_FDS 64
#define MAX_EXTENTS 32
#define SECTOR 512u

struct extent {
    uint64_t off;
    uint64_t len;
};

struct inode {
    uint8_t *cur;
    uint64_t cur_len;
    uint8_t *dur;
    uint64_t dur_len;
    struct extent unsynced[MAX_EXTENTS];
    size_t n_unsynced;
    bool live; /* referenced by a directory or a descriptor */
};

struct dirent_sim {
    char name[NAME_MAX_LEN];
    int inode; /* index into inodes */
};

struct directory {
    struct dirent_sim *ents;
    size_t n;
    size_t cap;
};

struct vfs_sim {
    struct inode *inodes;
    size_t n_inodes;
    size_t cap_inodes;
    struct directory cur;
    struct directory dur;
    int fds[MAX_FDS]; /* inode index + 1; 0 = free */
    uint64_t ops;
    uint64_t fail_at; /* absolute op number of power loss; 0 = never */
    bool powered_off;
    bool fail_next_sync;
    uint64_t capacity;
};

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "vfs_sim: out of memory\n");
        abort();
    }
    return p;
}

struct vfs_sim *vfs_sim_new(void)
{
    struct vfs_sim *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        abort();
    }
    return d;
}

void vfs_sim_free(struct vfs_sim *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n_inodes; i++) {
        free(d->inodes[i].cur);
        free(d->inodes[i].dur);
    }
    free(d->inodes);
    free(d->cur.ents);
    free(d->dur.ents);
    free(d);
}

/* ---- directories ------------------------------------------------------- */

static struct dirent_sim *dir_find(struct directory *dir, const char *name)
{
    for (size_t i = 0; i < dir->n; i++) {
        if (strcmp(dir->ents[i].name, name) == 0) {
            return &dir->ents[i];
        }
    }
    return NULL;
}

static void dir_add(struct directory *dir, const char *name, int inode)
{
    if (dir->n == dir->cap) {
        dir->cap = dir->cap ? dir->cap * 2 : 16;
        dir->ents = xrealloc(dir->ents, dir->cap * sizeof(*dir->ents));
    }
    snprintf(dir->ents[dir->n].name, NAME_MAX_LEN, "%s", name);
    dir->ents[dir->n].inode = inode;
    dir->n++;
}

static void dir_remove(struct directory *dir, struct dirent_sim *e)
{
    *e = dir->ents[--dir->n];
}

static void dir_copy(struct directory *to, const struct directory *from)
{
    if (to->cap < from->n) {
        to->cap = from->n;
        to->ents = xrealloc(to->ents, to->cap * sizeof(*to->ents));
    }
    if (from->n > 0) {
        memcpy(to->ents, from->ents, from->n * sizeof(*from->ents));
    }
    to->n = from->n;
}

/* Frees the images of inodes nothing refers to any more. */
static void collect(struct vfs_sim *d)
{
    for (size_t i = 0; i < d->n_inodes; i++) {
        d->inodes[i].live = false;
    }
    for (size_t i = 0; i < d->cur.n; i++) {
        d->inodes[d->cur.ents[i].inode].live = true;
    }
    for (size_t i = 0; i < d->dur.n; i++) {
        d->inodes[d->dur.ents[i].inode].live = true;
    }
    for (int fd = 0; fd < MAX_FDS; fd++) {
        if (d->fds[fd] != 0) {
            d->inodes[d->fds[fd] - 1].live = true;
        }
    }
    for (size_t i = 0; i < d->n_inodes; i++) {
        struct inode *in = &d->inodes[i];
        if (!in->live && (in->cur != NULL || in->dur != NULL)) {
            free(in->cur);
            free(in->dur);
            memset(in, 0, sizeof(*in));
        }
    }
}

uint64_t vfs_sim_used(const struct vfs_sim *d)
{
    uint64_t used = 0;
    for (size_t i = 0; i < d->n_inodes; i++) {
        const struct inode *in = &d->inodes[i];
        used += in->cur_len > in->dur_len ? in->cur_len : in->dur_len;
    }
    return used;
}

/* ---- operations ---------------------------------------------------------- */

/* Counts an operation; false when the disk has lost power. */
static bool op(struct vfs_sim *d)
{
    if (d->powered_off) {
        return false;
    }
    d->ops++;
    if (d->fail_at != 0 && d->ops >= d->fail_at) {
        d->powered_off = true;
        return false;
    }
    return true;
}

static struct inode *inode_of(struct vfs_sim *d, int fd)
{
    if (fd < 0 || fd >= MAX_FDS || d->fds[fd] == 0) {
        return NULL;
    }
    return &d->inodes[d->fds[fd] - 1];
}

static int resize(struct vfs_sim *d, struct inode *in, uint64_t len)
{
    if (len > in->cur_len) {
        uint64_t growth =
            len - (in->cur_len > in->dur_len ? in->cur_len : in->dur_len);
        if (len > in->dur_len && d->capacity != 0 &&
            vfs_sim_used(d) + growth > d->capacity) {
            return SAMPAN_ENOSPC;
        }
        in->cur = xrealloc(in->cur, (size_t)len);
        memset(in->cur + in->cur_len, 0, (size_t)(len - in->cur_len));
    }
    in->cur_len = len;
    return 0;
}

static void note_unsynced(struct inode *in, uint64_t off, uint64_t len)
{
    if (in->n_unsynced == MAX_EXTENTS) {
        /* Merge everything into one covering extent. */
        uint64_t lo = off;
        uint64_t hi = off + len;
        for (size_t i = 0; i < in->n_unsynced; i++) {
            struct extent *x = &in->unsynced[i];
            lo = x->off < lo ? x->off : lo;
            hi = x->off + x->len > hi ? x->off + x->len : hi;
        }
        in->unsynced[0].off = lo;
        in->unsynced[0].len = hi - lo;
        in->n_unsynced = 1;
        return;
    }
    in->unsynced[in->n_unsynced].off = off;
    in->unsynced[in->n_unsynced].len = len;
    in->n_unsynced++;
}

static int s_open(void *ctx, const char *name, bool create, int *fd)
{
    struct vfs_sim *d = ctx;
    if (!op(d)) {
        return SAMPAN_EIO;
    }
    if (strlen(name) >= NAME_MAX_LEN) {
        return SAMPAN_EIO;
    }
    struct dirent_sim *e = dir_find(&d->cur, name);
    int inode;
    if (e != NULL) {
        inode = e->inode;
    } else if (!create) {
        return SAMPAN_ENOENT;
    } else {
        if (d->n_inodes == d->cap_inodes) {
            d->cap_inodes = d->cap_inodes ? d->cap_inodes * 2 : 32;
            d->inodes = xrealloc(d->inodes, d->cap_inodes * sizeof(*d->inodes));
        }
        inode = (int)d->n_inodes++;
        memset(&d->inodes[inode], 0, sizeof(d->inodes[inode]));
        dir_add(&d->cur, name, inode);
    }
    for (int i = 0; i < MAX_FDS; i++) {
        if (d->fds[i] == 0) {
            d->fds[i] = inode + 1;
            *fd = i;
            return 0;
        }
    }
    return SAMPAN_EIO; /* too many open files */
}

static int s_close(void *ctx, int fd)
{
    struct vfs_sim *d = ctx;
    if (inode_of(d, fd) == NULL) {
        return SAMPAN_EIO;
    }
    d->fds[fd] = 0; /* closing is not an I/O operation: never fails */
    return 0;
}

static int s_read(void *ctx, int fd, uint64_t off, void *buf, size_t len,
                  size_t *got)
{
    struct vfs_sim *d = ctx;
    struct inode *in = inode_of(d, fd);
    *got = 0;
    if (!op(d) || in == NULL) {
        return SAMPAN_EIO;
    }
    if (off < in->cur_len) {
        uint64_t n = in->cur_len - off;
        *got = n < len ? (size_t)n : len;
        memcpy(buf, in->cur + off, *got);
    }
    return 0;
}

static int s_write(void *ctx, int fd, uint64_t off, const void *buf, size_t len)
{
    struct vfs_sim *d = ctx;
    struct inode *in = inode_of(d, fd);
    if (!op(d) || in == NULL) {
        return SAMPAN_EIO;
    }
    if (off + len > in->cur_len) {
        int rv = resize(d, in, off + len);
        if (rv != 0) {
            return rv;
        }
    }
    memcpy(in->cur + off, buf, len);
    note_unsynced(in, off, len);
    return 0;
}

static int s_sync(void *ctx, int fd)
{
    struct vfs_sim *d = ctx;
    struct inode *in = inode_of(d, fd);
    if (!op(d) || in == NULL) {
        return SAMPAN_EIO;
    }
    if (d->fail_next_sync) {
        /* Like Linux after a writeback error: the data may or may not be
         * on disk, and the error is reported once. */
        d->fail_next_sync = false;
        return SAMPAN_EIO;
    }
    in->dur = xrealloc(in->dur, (size_t)in->cur_len);
    if (in->cur_len > 0) {
        memcpy(in->dur, in->cur, (size_t)in->cur_len);
    }
    in->dur_len = in->cur_len;
    in->n_unsynced = 0;
    return 0;
}

static int s_size(void *ctx, int fd, uint64_t *size)
{
    struct vfs_sim *d = ctx;
    struct inode *in = inode_of(d, fd);
    if (!op(d) || in == NULL) {
        return SAMPAN_EIO;
    }
    *size = in->cur_len;
    return 0;
}

static int s_truncate(void *ctx, int fd, uint64_t size)
{
    struct vfs_sim *d = ctx;
    struct inode *in = inode_of(d, fd);
    if (!op(d) || in == NULL) {
        return SAMPAN_EIO;
    }
    return resize(d, in, size);
}

static int s_allocate(void *ctx, int fd, uint64_t size)
{
    struct vfs_sim *d = ctx;
    struct inode *in = inode_of(d, fd);
    if (!op(d) || in == NULL) {
        return SAMPAN_EIO;
    }
    return size > in->cur_len ? resize(d, in, size) : 0;
}

static int s_rename(void *ctx, const char *from, const char *to)
{
    struct vfs_sim *d = ctx;
    if (!op(d)) {
        return SAMPAN_EIO;
    }
    struct dirent_sim *e = dir_find(&d->cur, from);
    if (e == NULL || strlen(to) >= NAME_MAX_LEN) {
        return e == NULL ? SAMPAN_ENOENT : SAMPAN_EIO;
    }
    if (strcmp(from, to) == 0) {
        return 0; /* POSIX: renaming a file to itself does nothing */
    }
    struct dirent_sim *old = dir_find(&d->cur, to);
    if (old != NULL) {
        dir_remove(&d->cur, old); /* may move entries: look `from` up again */
    }
    e = dir_find(&d->cur, from);
    if (e == NULL) {
        return SAMPAN_EIO;
    }
    snprintf(e->name, NAME_MAX_LEN, "%s", to);
    return 0;
}

static int s_remove(void *ctx, const char *name)
{
    struct vfs_sim *d = ctx;
    if (!op(d)) {
        return SAMPAN_EIO;
    }
    struct dirent_sim *e = dir_find(&d->cur, name);
    if (e == NULL) {
        return SAMPAN_ENOENT;
    }
    dir_remove(&d->cur, e);
    return 0;
}

static int s_sync_dir(void *ctx)
{
    struct vfs_sim *d = ctx;
    if (!op(d)) {
        return SAMPAN_EIO;
    }
    dir_copy(&d->dur, &d->cur);
    collect(d);
    return 0;
}

static int s_list(void *ctx, int (*cb)(void *arg, const char *name), void *arg)
{
    struct vfs_sim *d = ctx;
    if (!op(d)) {
        return SAMPAN_EIO;
    }
    /* Copy first: the callback may change the directory. */
    struct directory snap = {0};
    dir_copy(&snap, &d->cur);
    int rv = 0;
    for (size_t i = 0; i < snap.n && rv == 0; i++) {
        rv = cb(arg, snap.ents[i].name);
    }
    free(snap.ents);
    return rv;
}

static const struct sampan_vfs_ops sim_ops = {
    .open = s_open,
    .close = s_close,
    .read = s_read,
    .write = s_write,
    .sync = s_sync,
    .size = s_size,
    .truncate = s_truncate,
    .allocate = s_allocate,
    .rename = s_rename,
    .remove = s_remove,
    .sync_dir = s_sync_dir,
    .list = s_list,
};

struct sampan_vfs vfs_sim_vfs(struct vfs_sim *d)
{
    struct sampan_vfs vfs = {.ops = &sim_ops, .ctx = d};
    return vfs;
}

/* ---- crashes and faults ---------------------------------------------------
 */

static uint64_t next_rand(uint64_t *rng)
{
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Lets each sector of each unsynced write reach the durable image, or not. */
static void tear(struct inode *in, uint64_t *rng)
{
    for (size_t k = 0; k < in->n_unsynced; k++) {
        const struct extent *x = &in->unsynced[k];
        uint64_t first = x->off / SECTOR;
        uint64_t last = (x->off + x->len + SECTOR - 1) / SECTOR;
        for (uint64_t s = first; s < last; s++) {
            if (next_rand(rng) % 2 == 0) {
                continue;
            }
            uint64_t lo = s * SECTOR;
            uint64_t hi = lo + SECTOR;
            if (hi > in->cur_len) {
                hi = in->cur_len;
            }
            if (lo >= hi) {
                continue;
            }
            if (hi > in->dur_len) {
                in->dur = xrealloc(in->dur, (size_t)hi);
                memset(in->dur + in->dur_len, 0, (size_t)(hi - in->dur_len));
                in->dur_len = hi;
            }
            memcpy(in->dur + lo, in->cur + lo, (size_t)(hi - lo));
        }
    }
}

void vfs_sim_crash(struct vfs_sim *d, bool tearing, uint64_t *rng)
{
    for (size_t i = 0; i < d->n_inodes; i++) {
        struct inode *in = &d->inodes[i];
        if (tearing && in->n_unsynced > 0) {
            tear(in, rng);
        }
        in->cur = xrealloc(in->cur, (size_t)in->dur_len);
        if (in->dur_len > 0) {
            memcpy(in->cur, in->dur, (size_t)in->dur_len);
        }
        in->cur_len = in->dur_len;
        in->n_unsynced = 0;
    }
    dir_copy(&d->cur, &d->dur);
    memset(d->fds, 0, sizeof(d->fds));
    d->powered_off = false;
    d->fail_at = 0;
    d->fail_next_sync = false;
    collect(d);
}

void vfs_sim_fail_at(struct vfs_sim *d, uint64_t op_number)
{
    d->fail_at = op_number ? d->ops + op_number : 0;
}

bool vfs_sim_powered_off(const struct vfs_sim *d)
{
    return d->powered_off;
}

void vfs_sim_clear_faults(struct vfs_sim *d)
{
    d->fail_at = 0;
    d->fail_next_sync = false;
    d->capacity = 0;
}

void vfs_sim_fail_next_sync(struct vfs_sim *d)
{
    d->fail_next_sync = true;
}

void vfs_sim_set_capacity(struct vfs_sim *d, uint64_t bytes)
{
    d->capacity = bytes;
}

bool vfs_sim_flip(struct vfs_sim *d, const char *name, uint64_t off, int bit)
{
    struct dirent_sim *e = dir_find(&d->dur, name);
    if (e == NULL) {
        return false;
    }
    struct inode *in = &d->inodes[e->inode];
    if (off >= in->dur_len) {
        return false;
    }
    in->dur[off] ^= (uint8_t)(1u << (bit & 7));
    if (off < in->cur_len) {
        in->cur[off] ^= (uint8_t)(1u << (bit & 7));
    }
    return true;
}

bool vfs_sim_cut_file(struct vfs_sim *d, const char *name, uint64_t off,
                      const void *buf, size_t len)
{
    struct dirent_sim *e = dir_find(&d->dur, name);
    if (e == NULL) {
        return false;
    }
    struct inode *in = &d->inodes[e->inode];
    if (off + len > in->dur_len || off + len > in->cur_len) {
        return false;
    }
    memcpy(in->dur + off, buf, len);
    memcpy(in->cur + off, buf, len);
    in->dur_len = in->cur_len = off + len;
    return true;
}

const uint8_t *vfs_sim_durable(const struct vfs_sim *d, const char *name,
                               uint64_t *len)
{
    struct dirent_sim *e = dir_find((struct directory *)&d->dur, name);
    if (e == NULL) {
        return NULL;
    }
    *len = d->inodes[e->inode].dur_len;
    return d->inodes[e->inode].dur;
}

uint64_t vfs_sim_ops(const struct vfs_sim *d)
{
    return d->ops;
}

void vfs_sim_list_durable(const struct vfs_sim *d,
                          void (*cb)(void *arg, const char *name,
                                     uint64_t size),
                          void *arg)
{
    for (size_t i = 0; i < d->dur.n; i++) {
        const struct inode *in = &d->inodes[d->dur.ents[i].inode];
        cb(arg, d->dur.ents[i].name, in->dur_len);
    }
}
