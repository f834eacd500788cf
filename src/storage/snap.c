/* storage/snap.c: snapshot files. Saving a local snapshot and installing a
 * received one both write a temporary file, sync it, rename it into place
 * and sync the directory, so a snapshot file either is complete or does
 * not exist; only then are the WAL segments and older snapshots it makes
 * unnecessary removed. */
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "storage/internal.h"

/* The meta a snapshot file may be written for: its configuration must be
 * one the header can hold and a reader will accept (the one encoding of a
 * configuration refuses anything else), so it is checked before any file
 * is touched. */
static bool meta_ok(const struct sampan_snapshot_meta *meta)
{
    return meta->index > 0 &&
           sampan_membership_validate(&meta->conf, NULL) == 0;
}

/* Writes the header of a snapshot of `meta` holding data_len bytes of
 * checksum data_crc at the start of fd (FMT_SNAP_HDR_BYTES; the data goes
 * after it). */
static int write_header(const struct sampan_vfs *v, int fd,
                        const struct sampan_snapshot_meta *meta,
                        uint64_t data_len, uint32_t data_crc)
{
    struct fmt_snap_header h;
    memset(&h, 0, sizeof(h));
    h.meta = *meta;
    h.data_len = data_len;
    h.data_crc = data_crc;
    uint8_t hdr[FMT_SNAP_HDR_BYTES];
    int rc = snap_header_encode(&h, hdr);
    if (rc == 0) {
        rc = v->ops->write(v->ctx, fd, 0, hdr, sizeof(hdr));
    }
    return rc;
}

/* Writes header + data to `tmp`, syncs, renames to `final`, syncs dir. */
static int write_snapshot_file(struct sampan_storage *st, const char *tmp,
                               const char *final,
                               const struct sampan_snapshot_meta *meta,
                               const void *data, size_t len)
{
    const struct sampan_vfs *v = &st->vfs;
    int fd;
    int rc = v->ops->open(v->ctx, tmp, true, &fd);
    if (rc != 0) {
        return rc;
    }
    rc = v->ops->truncate(v->ctx, fd, 0);
    if (rc == 0) {
        rc = write_header(v, fd, meta, len, crc32c(0, data, len));
    }
    if (rc == 0 && len > 0) {
        rc = v->ops->write(v->ctx, fd, FMT_SNAP_HDR_BYTES, data, len);
    }
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, fd);
    }
    v->ops->close(v->ctx, fd);
    if (rc == 0) {
        rc = v->ops->rename(v->ctx, tmp, final);
    }
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    return rc;
}

static int add_snapshot(struct sampan_storage *st,
                        const struct sampan_snapshot_meta *meta, uint64_t len)
{
    struct snap_info s;
    memset(&s, 0, sizeof(s));
    name_snap(s.name, meta->term, meta->index);
    s.meta = *meta;
    s.data_len = len;
    for (size_t i = 0; i < st->snaps.n; i++) {
        if (strcmp(st->snaps.v[i].name, s.name) == 0) {
            st->snaps.v[i] = s; /* the rename replaced it */
            return 0;
        }
    }
    return snap_list_insert(&st->snaps, &s);
}

int snap_prune(struct sampan_storage *st)
{
    const struct sampan_vfs *v = &st->vfs;
    size_t keep = (size_t)st->cfg.keep_snapshots + 1;
    size_t k = 0;
    int rc = 0;
    while (st->snaps.n - k > keep) {
        rc = v->ops->remove(v->ctx, st->snaps.v[k].name);
        if (rc != 0 && rc != SAMPAN_ENOENT) {
            break;
        }
        rc = 0;
        k++;
    }
    if (k > 0) {
        memmove(st->snaps.v, st->snaps.v + k,
                (st->snaps.n - k) * sizeof(*st->snaps.v));
        st->snaps.n -= k;
    }
    return rc;
}

static const struct snap_info *newest(const struct sampan_storage *st)
{
    return st->snaps.n ? &st->snaps.v[st->snaps.n - 1] : NULL;
}

int sampan_storage_save_snapshot(struct sampan_storage *st,
                                 const struct sampan_snapshot_meta *meta,
                                 const void *data, size_t len)
{
    const struct snap_info *cur = newest(st);
    uint64_t base = cur ? cur->meta.index : 0;
    if (!meta_ok(meta) || meta->index < base || meta->index > st->last_index ||
        (len > 0 && !data)) {
        return SAMPAN_EINVAL;
    }
    char tmp[FMT_NAME_MAX], final[FMT_NAME_MAX];
    name_snap_tmp(tmp, meta->term, meta->index);
    name_snap(final, meta->term, meta->index);
    int rc = write_snapshot_file(st, tmp, final, meta, data, len);
    if (rc == 0) {
        rc = add_snapshot(st, meta, len);
    }
    /* Segments whose records all precede the snapshot; the one holding
     * its index stays, so the log's term there stays known. */
    if (rc == 0) {
        rc = wal_remove_prefix(st, meta->index, false);
    }
    if (rc == 0) {
        rc = snap_prune(st);
    }
    if (rc == 0) {
        rc = st->vfs.ops->sync_dir(st->vfs.ctx);
    }
    return rc;
}

struct sampan_snapshot_writer {
    struct sampan_vfs vfs;
    int fd;
    struct sampan_snapshot_meta meta;
    char tmp[FMT_NAME_MAX];
    char final[FMT_NAME_MAX];
    uint64_t len;
    uint32_t crc;
    bool finished;
};

int sampan_storage_snapshot_create(struct sampan_storage *st,
                                   const struct sampan_snapshot_meta *meta,
                                   struct sampan_snapshot_writer **out)
{
    *out = NULL;
    if (!meta_ok(meta) || meta->index > st->last_index) {
        return SAMPAN_EINVAL;
    }
    struct sampan_snapshot_writer *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return SAMPAN_ENOMEM;
    }
    w->vfs = st->vfs;
    w->meta = *meta;
    name_snap_tmp(w->tmp, meta->term, meta->index);
    name_snap(w->final, meta->term, meta->index);
    int rc = w->vfs.ops->open(w->vfs.ctx, w->tmp, true, &w->fd);
    if (rc == 0) {
        rc = w->vfs.ops->truncate(w->vfs.ctx, w->fd, 0);
        if (rc != 0) {
            w->vfs.ops->close(w->vfs.ctx, w->fd);
        }
    }
    if (rc != 0) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int sampan_snapshot_writer_append(struct sampan_snapshot_writer *w,
                                  const void *data, size_t len)
{
    if (w->finished || (len > 0 && data == NULL)) {
        return SAMPAN_EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    int rc = w->vfs.ops->write(w->vfs.ctx, w->fd, FMT_SNAP_HDR_BYTES + w->len,
                               data, len);
    if (rc == 0) {
        w->crc = crc32c(w->crc, data, len);
        w->len += len;
    }
    return rc;
}

int sampan_snapshot_writer_finish(struct sampan_snapshot_writer *w)
{
    if (w->finished) {
        return SAMPAN_EINVAL;
    }
    /* The header last: a file cut short by a crash never validates. */
    int rc = write_header(&w->vfs, w->fd, &w->meta, w->len, w->crc);
    if (rc == 0) {
        rc = w->vfs.ops->sync(w->vfs.ctx, w->fd);
    }
    w->finished = rc == 0;
    return rc;
}

void sampan_snapshot_writer_discard(struct sampan_snapshot_writer *w)
{
    if (w == NULL) {
        return;
    }
    w->vfs.ops->close(w->vfs.ctx, w->fd);
    w->vfs.ops->remove(w->vfs.ctx, w->tmp); /* or left for the next open */
    free(w);
}

int sampan_storage_snapshot_commit(struct sampan_storage *st,
                                   struct sampan_snapshot_writer *w)
{
    if (!w->finished) {
        sampan_snapshot_writer_discard(w);
        return SAMPAN_EINVAL;
    }
    const struct sampan_vfs *v = &st->vfs;
    v->ops->close(v->ctx, w->fd);
    int rc = v->ops->rename(v->ctx, w->tmp, w->final);
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    if (rc == 0) {
        rc = add_snapshot(st, &w->meta, w->len);
    }
    /* As in sampan_storage_save_snapshot: segments wholly before it go;
     * if a newer snapshot arrived meanwhile this removes nothing more. */
    if (rc == 0) {
        rc = wal_remove_prefix(st, w->meta.index, false);
    }
    if (rc == 0) {
        rc = snap_prune(st);
    }
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    free(w);
    return rc;
}

int snap_receive(struct sampan_storage *st,
                 const struct sampan_snapshot_chunk *c)
{
    const struct sampan_vfs *v = &st->vfs;
    int rc;
    if (c->len > 0 && c->data == NULL) {
        return SAMPAN_EINVAL;
    }
    if (c->offset == 0) {
        if (st->recv_fd >= 0) {
            v->ops->close(v->ctx, st->recv_fd);
            st->recv_fd = -1;
        }
        rc = v->ops->open(v->ctx, FMT_SNAP_RECV_TMP, true, &st->recv_fd);
        if (rc != 0) {
            st->recv_fd = -1;
            return rc;
        }
        rc = v->ops->truncate(v->ctx, st->recv_fd, 0);
        if (rc != 0) {
            return rc;
        }
        st->recv_meta = c->meta;
        st->recv_len = 0;
        st->recv_crc = 0;
        st->recv_done = false;
    } else if (st->recv_fd < 0 || c->meta.index != st->recv_meta.index ||
               c->meta.term != st->recv_meta.term ||
               c->offset != st->recv_len || st->recv_done) {
        /* Chunks arrive in order and belong to one snapshot. */
        return SAMPAN_EINVAL;
    }
    if (c->len > 0) {
        rc = v->ops->write(v->ctx, st->recv_fd, FMT_SNAP_HDR_BYTES + c->offset,
                           c->data, c->len);
        if (rc != 0) {
            return rc;
        }
        st->recv_crc = crc32c(st->recv_crc, c->data, c->len);
        st->recv_len += c->len;
    }
    st->recv_done = c->done;
    return 0;
}

int snap_install(struct sampan_storage *st,
                 const struct sampan_snapshot_meta *m)
{
    const struct sampan_vfs *v = &st->vfs;
    if (st->recv_fd < 0 || !st->recv_done || !meta_ok(m) ||
        m->index != st->recv_meta.index || m->term != st->recv_meta.term) {
        return SAMPAN_EINVAL;
    }
    int rc = write_header(v, st->recv_fd, m, st->recv_len, st->recv_crc);
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, st->recv_fd);
    }
    v->ops->close(v->ctx, st->recv_fd);
    st->recv_fd = -1;
    char final[FMT_NAME_MAX];
    name_snap(final, m->term, m->index);
    if (rc == 0) {
        rc = v->ops->rename(v->ctx, FMT_SNAP_RECV_TMP, final);
    }
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    if (rc == 0) {
        rc = add_snapshot(st, m, st->recv_len);
    }
    /* The snapshot is durable: from here a crash leaves it newer than a
     * log that may disagree with it, which recovery resolves in the
     * snapshot's favour. The new segment records that the log continues
     * from the snapshot; then the old log goes. */
    if (rc == 0) {
        rc = wal_start_segment(st, m->index, m->term, 0);
    }
    if (rc == 0) {
        st->last_index = m->index;
        st->last_term = m->term;
        rc = wal_remove_prefix(st, 0, true);
    }
    if (rc == 0) {
        rc = snap_prune(st);
    }
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    return rc;
}

int sampan_storage_load_snapshot(struct sampan_storage *st,
                                 struct sampan_snapshot_meta *meta, void **data,
                                 size_t *len)
{
    const struct snap_info *s = newest(st);
    *data = NULL;
    *len = 0;
    if (s == NULL) {
        return SAMPAN_ENOENT;
    }
    if (s->data_len > SIZE_MAX / 2) {
        return SAMPAN_ENOMEM;
    }
    const struct sampan_vfs *v = &st->vfs;
    int fd;
    int rc = v->ops->open(v->ctx, s->name, false, &fd);
    if (rc != 0) {
        return rc;
    }
    uint8_t hdr[FMT_SNAP_HDR_BYTES];
    struct fmt_snap_header h;
    uint8_t *buf = NULL;
    rc = io_read_exact(v, fd, 0, hdr, sizeof(hdr));
    if (rc == 0 && (snap_header_decode(hdr, sizeof(hdr), &h, NULL, NULL) != 0 ||
                    h.data_len != s->data_len)) {
        rc = SAMPAN_ECORRUPT;
    }
    if (rc == 0 && h.data_len > 0) {
        buf = malloc((size_t)h.data_len);
        rc = buf ? io_read_exact(v, fd, FMT_SNAP_HDR_BYTES, buf,
                                 (size_t)h.data_len)
                 : SAMPAN_ENOMEM;
        /* Verified at open, and again here: the bytes are read anew. */
        if (rc == 0 && crc32c(0, buf, (size_t)h.data_len) != h.data_crc) {
            rc = SAMPAN_ECORRUPT;
        }
    }
    v->ops->close(v->ctx, fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *meta = h.meta;
    *data = buf;
    *len = (size_t)h.data_len;
    return 0;
}

int sampan_storage_read_snapshot(struct sampan_storage *st, uint64_t index,
                                 uint64_t off, void *buf, size_t len,
                                 size_t *got, uint64_t *total)
{
    const struct snap_info *s = NULL;
    for (size_t i = st->snaps.n; i-- > 0;) {
        if (st->snaps.v[i].meta.index == index) {
            s = &st->snaps.v[i];
            break;
        }
    }
    *got = 0;
    if (s == NULL) {
        return SAMPAN_ENOENT;
    }
    *total = s->data_len;
    if (off > s->data_len) {
        return SAMPAN_EINVAL;
    }
    if (len > s->data_len - off) {
        len = (size_t)(s->data_len - off);
    }
    if (len == 0) {
        return 0;
    }
    const struct sampan_vfs *v = &st->vfs;
    int fd;
    int rc = v->ops->open(v->ctx, s->name, false, &fd);
    if (rc != 0) {
        return rc;
    }
    rc = io_read_exact(v, fd, FMT_SNAP_HDR_BYTES + off, buf, len);
    v->ops->close(v->ctx, fd);
    if (rc == 0) {
        *got = len;
    }
    return rc;
}
