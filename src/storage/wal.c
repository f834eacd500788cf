/* storage/wal.c: the WAL writer. Appends batches (one write, one sync) to
 * the open segment, rolls over to a new preallocated segment when a batch
 * does not fit, and removes segments a snapshot made unnecessary. The
 * order of every step is what makes a crash at any point recoverable; the
 * comments say what each step protects. */
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

static uint64_t round_sector(uint64_t n)
{
    return (n + FMT_SECTOR - 1) / FMT_SECTOR * FMT_SECTOR;
}

/* Closes the open segment: truncate to what it holds, sync, rename to its
 * closed name, sync the directory. A crash before the rename leaves a
 * valid .open segment, which recovery reads the same way. */
static int close_open_segment(struct sampan_storage *st)
{
    const struct sampan_vfs *v = &st->vfs;
    struct seg_info *seg = &st->segs.v[st->segs.n - 1];
    int rc = v->ops->truncate(v->ctx, st->wal_fd, st->wal_off);
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, st->wal_fd);
    }
    v->ops->close(v->ctx, st->wal_fd);
    st->wal_fd = -1;
    if (rc != 0) {
        return rc;
    }
    char name[FMT_NAME_MAX];
    name_wal_closed(name, seg->seq, seg->first, seg->last);
    rc = v->ops->rename(v->ctx, seg->name, name);
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    if (rc == 0) {
        memcpy(seg->name, name, sizeof(name));
        seg->open = false;
    }
    return rc;
}

int wal_start_segment(struct sampan_storage *st, uint64_t prev_index,
                      uint64_t prev_term, uint64_t min_bytes)
{
    const struct sampan_vfs *v = &st->vfs;
    int rc;
    if (st->wal_fd >= 0) {
        struct seg_info *cur = &st->segs.v[st->segs.n - 1];
        if (cur->has_records) {
            rc = close_open_segment(st);
            if (rc != 0) {
                return rc;
            }
        } else {
            /* Nothing was ever appended to it: rewrite it in place under
             * the same name and seq (a crash midway leaves a segment with
             * no valid header, which recovery discards). */
            v->ops->close(v->ctx, st->wal_fd);
            st->wal_fd = -1;
            st->next_seq = cur->seq;
            st->segs.n--;
        }
    }
    struct seg_info seg;
    memset(&seg, 0, sizeof(seg));
    seg.seq = st->next_seq;
    seg.open = true;
    seg.prev_index = prev_index;
    seg.prev_term = prev_term;
    seg.first = prev_index + 1;
    seg.last = prev_index;
    name_wal_open(seg.name, seg.seq);
    uint64_t size = round_sector(st->cfg.segment_bytes);
    if (size < FMT_SECTOR + min_bytes) {
        size = FMT_SECTOR + round_sector(min_bytes);
    }
    int fd;
    rc = v->ops->open(v->ctx, seg.name, true, &fd);
    if (rc != 0) {
        return rc;
    }
    uint8_t hdr[FMT_SECTOR];
    struct fmt_seg_header h = {seg.seq, prev_index, prev_term};
    segment_header_encode(&h, hdr);
    /* Zero-filled and preallocated before the header goes in, so the end
     * of the log is always a zero sector and appends never extend it. */
    rc = v->ops->truncate(v->ctx, fd, 0);
    if (rc == 0) {
        rc = v->ops->allocate(v->ctx, fd, size);
    }
    if (rc == 0) {
        rc = v->ops->write(v->ctx, fd, 0, hdr, sizeof(hdr));
    }
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, fd);
    }
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    if (rc == 0) {
        rc = seg_list_push(&st->segs, &seg);
    }
    if (rc != 0) {
        v->ops->close(v->ctx, fd);
        return rc;
    }
    st->wal_fd = fd;
    st->wal_off = FMT_SECTOR;
    st->wal_cap = size;
    st->next_seq = seg.seq + 1;
    return 0;
}

int wal_append(struct sampan_storage *st, const struct sampan_entry *ents,
               size_t n)
{
    const struct sampan_vfs *v = &st->vfs;
    uint64_t size = batch_size(ents, n);
    if (size == 0 || size > SIZE_MAX / 2) {
        return SAMPAN_EINVAL;
    }
    uint8_t *buf = malloc((size_t)size);
    if (buf == NULL) {
        return SAMPAN_ENOMEM;
    }
    batch_encode(ents, n, buf);
    int rc = 0;
    if (st->wal_fd < 0) {
        rc = wal_start_segment(st, st->last_index, st->last_term, size);
    } else if (st->wal_off + size > st->wal_cap) {
        if (st->segs.v[st->segs.n - 1].has_records) {
            rc = wal_start_segment(st, st->last_index, st->last_term, size);
        } else {
            /* An empty segment too small for this batch: grow it. */
            st->wal_cap = st->wal_off + size;
            rc = v->ops->allocate(v->ctx, st->wal_fd, st->wal_cap);
        }
    }
    if (rc == 0) {
        rc = v->ops->write(v->ctx, st->wal_fd, st->wal_off, buf, (size_t)size);
    }
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, st->wal_fd);
    }
    free(buf);
    if (rc != 0) {
        return rc;
    }
    struct seg_info *seg = &st->segs.v[st->segs.n - 1];
    if (!seg->has_records) {
        seg->first = ents[0].index;
        seg->has_records = true;
    }
    seg->last = ents[n - 1].index;
    seg->batches++;
    st->wal_off += size;
    st->last_index = ents[n - 1].index;
    st->last_term = ents[n - 1].term;
    return 0;
}

int wal_remove_prefix(struct sampan_storage *st, uint64_t below_index,
                      bool all_but_newest)
{
    const struct sampan_vfs *v = &st->vfs;
    size_t k = 0;
    /* Oldest first, and only a prefix: the seqs left stay consecutive
     * even if a crash makes only the first removals durable. */
    while (k + 1 < st->segs.n &&
           (all_but_newest || st->segs.v[k].last < below_index)) {
        int rc = v->ops->remove(v->ctx, st->segs.v[k].name);
        if (rc != 0 && rc != SAMPAN_ENOENT) {
            memmove(st->segs.v, st->segs.v + k,
                    (st->segs.n - k) * sizeof(*st->segs.v));
            st->segs.n -= k;
            return rc;
        }
        k++;
    }
    if (k > 0) {
        memmove(st->segs.v, st->segs.v + k,
                (st->segs.n - k) * sizeof(*st->segs.v));
        st->segs.n -= k;
    }
    return 0;
}
