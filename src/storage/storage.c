/* storage/storage.c: the sampan_storage API: open (recovery, then the
 * writer's state), persist (chunks, install, hard state, entries, each
 * synced before persist returns), term/vote in two alternating meta files,
 * close, and the read-only inspect. Files are created lazily: the meta
 * files on the first hard-state write, the first segment on the first
 * append. */
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

void sampan_storage_config_default(struct sampan_storage_config *cfg)
{
    cfg->segment_bytes = UINT64_C(64) << 20;
    cfg->keep_snapshots = 1;
}

static int open_tail(struct sampan_storage *st, const struct recovery *r)
{
    const struct sampan_vfs *v = &st->vfs;
    if (!r->tail_open) {
        return 0; /* the next append starts a new segment */
    }
    int rc = v->ops->open(v->ctx, st->segs.v[st->segs.n - 1].name, false,
                          &st->wal_fd);
    if (rc != 0) {
        st->wal_fd = -1;
        return rc;
    }
    st->wal_off = r->tail_off;
    st->wal_cap = r->tail_size;
    return 0;
}

/* Moves what recovery found into the handle and the caller's state. */
static int adopt(struct sampan_storage *st, struct recovery *r,
                 struct sampan_storage_state *state)
{
    st->meta_cur = r->meta_cur;
    st->meta_seq = r->have_meta ? r->meta.seq : 0;
    st->segs = r->segs;
    st->snaps = r->snaps;
    memset(&r->segs, 0, sizeof(r->segs));
    memset(&r->snaps, 0, sizeof(r->snaps));
    st->next_seq = st->segs.n ? st->segs.v[st->segs.n - 1].seq + 1 : 1;
    st->last_index = r->base_index + r->n;
    st->last_term = r->n ? r->ents[r->n - 1].term : r->base_term;
    st->rec = r->ents;
    st->n_rec = r->n;
    r->ents = NULL;
    r->n = r->cap = 0;

    memset(state, 0, sizeof(*state));
    if (r->have_meta) {
        state->hard_state.term = r->meta.term;
        state->hard_state.vote = r->meta.vote;
    }
    state->snapshot = r->snap;
    state->snapshot_bytes = r->snap_bytes;
    state->n_entries = st->n_rec;
    state->entries = st->rec;

    int rc = open_tail(st, r);
    if (rc == 0 && r->need_new_segment) {
        /* Finish an interrupted install: the log continues from the
         * snapshot, and the old segments it replaced go. */
        rc = wal_start_segment(st, r->snap.index, r->snap.term, 0);
        if (rc == 0) {
            rc = wal_remove_prefix(st, 0, true);
        }
        if (rc == 0) {
            rc = st->vfs.ops->sync_dir(st->vfs.ctx);
        }
    }
    memcpy(state->repaired, r->repaired, sizeof(state->repaired));
    return rc;
}

int sampan_storage_open(const struct sampan_vfs *vfs,
                        const struct sampan_storage_config *cfg,
                        struct sampan_storage **out,
                        struct sampan_storage_state *state, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (cfg->segment_bytes < 2 * FMT_SECTOR) {
        errf(err, errlen, "segment_bytes %llu is below the minimum %u",
             (unsigned long long)cfg->segment_bytes, 2 * FMT_SECTOR);
        return SAMPAN_EINVAL;
    }
    struct sampan_storage *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        errf(err, errlen, "storage: out of memory");
        return SAMPAN_ENOMEM;
    }
    st->vfs = *vfs;
    st->cfg = *cfg;
    st->meta_fd[0] = st->meta_fd[1] = -1;
    st->wal_fd = -1;
    st->recv_fd = -1;

    struct recovery r;
    memset(&r, 0, sizeof(r));
    r.vfs = vfs;
    r.repair = true;
    r.err = err;
    r.errlen = errlen;
    int rc = recover_run(&r);
    if (rc == 0) {
        rc = adopt(st, &r, state);
        if (rc != 0) {
            errf(err, errlen, "storage: finishing an interrupted install: %s",
                 sampan_strerror(rc));
        }
    }
    recovery_free(&r);
    if (rc != 0) {
        sampan_storage_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void sampan_storage_drop_recovered(struct sampan_storage *st)
{
    for (size_t i = 0; i < st->n_rec; i++) {
        free(st->rec[i].data);
    }
    free(st->rec);
    st->rec = NULL;
    st->n_rec = 0;
}

void sampan_storage_close(struct sampan_storage *st)
{
    if (st == NULL) {
        return;
    }
    const struct sampan_vfs *v = &st->vfs;
    for (int i = 0; i < 2; i++) {
        if (st->meta_fd[i] >= 0) {
            v->ops->close(v->ctx, st->meta_fd[i]);
        }
    }
    if (st->wal_fd >= 0) {
        v->ops->close(v->ctx, st->wal_fd);
    }
    if (st->recv_fd >= 0) {
        v->ops->close(v->ctx, st->recv_fd);
    }
    sampan_storage_drop_recovered(st);
    free(st->segs.v);
    free(st->snaps.v);
    free(st);
}

/* Writes a meta file's first record: to a temporary name, synced, then
 * renamed, so a meta file never exists without a complete record (a torn
 * first write would otherwise leave one invalid file and no valid one). */
static int meta_create(struct sampan_storage *st, int which,
                       const uint8_t *sector)
{
    static const char *const tmps[2] = {FMT_META_A ".tmp", FMT_META_B ".tmp"};
    static const char *const names[2] = {FMT_META_A, FMT_META_B};
    const struct sampan_vfs *v = &st->vfs;
    int fd;
    int rc = v->ops->open(v->ctx, tmps[which], true, &fd);
    if (rc != 0) {
        return rc;
    }
    rc = v->ops->truncate(v->ctx, fd, 0);
    if (rc == 0) {
        rc = v->ops->write(v->ctx, fd, 0, sector, FMT_SECTOR);
    }
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, fd);
    }
    if (rc == 0) {
        rc = v->ops->rename(v->ctx, tmps[which], names[which]);
    }
    if (rc == 0) {
        rc = v->ops->sync_dir(v->ctx);
    }
    if (rc != 0) {
        v->ops->close(v->ctx, fd);
        return rc;
    }
    st->meta_fd[which] = fd; /* the descriptor follows the rename */
    return 0;
}

/* Term and vote go to the file not holding the newest valid record, with
 * the next seq: a torn write leaves the newest record intact. */
static int meta_write(struct sampan_storage *st,
                      const struct sampan_hard_state *hs)
{
    static const char *const names[2] = {FMT_META_A, FMT_META_B};
    const struct sampan_vfs *v = &st->vfs;
    int which = st->meta_cur == 0 ? 1 : 0;
    struct fmt_meta m = {st->meta_seq + 1, hs->term, hs->vote};
    uint8_t sector[FMT_SECTOR];
    meta_encode(&m, sector);
    int rc;
    if (st->meta_fd[which] < 0) {
        int fd;
        uint64_t size = 0;
        rc = v->ops->open(v->ctx, names[which], false, &fd);
        if (rc == 0) {
            rc = v->ops->size(v->ctx, fd, &size);
            if (rc != 0 || size < FMT_SECTOR) {
                v->ops->close(v->ctx, fd);
            } else {
                st->meta_fd[which] = fd;
            }
        }
        if (rc != 0 && rc != SAMPAN_ENOENT) {
            return rc;
        }
    }
    if (st->meta_fd[which] < 0) {
        rc = meta_create(st, which, sector);
    } else {
        rc = v->ops->write(v->ctx, st->meta_fd[which], 0, sector, FMT_SECTOR);
        if (rc == 0) {
            rc = v->ops->sync(v->ctx, st->meta_fd[which]);
        }
    }
    if (rc == 0) {
        st->meta_cur = which;
        st->meta_seq = m.seq;
    }
    return rc;
}

static int check_batch(const struct sampan_storage *st,
                       const struct sampan_storage_batch *b)
{
    uint64_t last = st->last_index;
    uint64_t snap = st->snaps.n ? st->snaps.v[st->snaps.n - 1].meta.index : 0;
    if (b->install) {
        last = snap = b->install->index;
    }
    if (b->n_chunks > 0 && b->chunks == NULL) {
        return SAMPAN_EINVAL;
    }
    if (b->n_entries == 0) {
        return 0;
    }
    if (b->entries == NULL) {
        return SAMPAN_EINVAL;
    }
    const struct sampan_entry *e = b->entries;
    if (e[0].index <= snap || e[0].index > last + 1) {
        return SAMPAN_EINVAL;
    }
    for (size_t i = 0; i < b->n_entries; i++) {
        if (e[i].index != e[0].index + i ||
            !sampan_entry_type_known(e[i].type) ||
            (e[i].len > 0 && e[i].data == NULL)) {
            return SAMPAN_EINVAL;
        }
    }
    return 0;
}

int sampan_storage_persist(struct sampan_storage *st,
                           const struct sampan_storage_batch *b)
{
    int rc = check_batch(st, b);
    for (size_t i = 0; rc == 0 && i < b->n_chunks; i++) {
        rc = snap_receive(st, &b->chunks[i]);
    }
    if (rc == 0 && b->n_chunks > 0) {
        rc = st->vfs.ops->sync(st->vfs.ctx, st->recv_fd);
    }
    if (rc == 0 && b->install) {
        rc = snap_install(st, b->install);
    }
    if (rc == 0 && b->hard_state) {
        rc = meta_write(st, b->hard_state);
    }
    if (rc == 0 && b->n_entries > 0) {
        rc = wal_append(st, b->entries, b->n_entries);
    }
    return rc;
}

int sampan_storage_inspect(const struct sampan_vfs *vfs, bool dump,
                           void (*emit)(void *arg, const char *line), void *arg,
                           char *err, size_t errlen)
{
    struct recovery r;
    memset(&r, 0, sizeof(r));
    r.vfs = vfs;
    r.repair = false;
    r.dump = dump;
    r.emit = emit;
    r.emit_arg = arg;
    r.err = err;
    r.errlen = errlen;
    int rc = recover_run(&r);
    recovery_free(&r);
    return rc;
}
