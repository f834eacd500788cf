/* raft/snapshot.c: log compaction and snapshot transfer (section 7).
 *
 * Compaction: the application says its state up to index i is captured in
 * a durable snapshot; the core remembers the snapshot's metadata and frees
 * log entries up to i - snapshot_trailing.
 *
 * Transfer: when a follower needs entries the leader no longer holds, the
 * leader streams its snapshot in chunks of at most snapshot_chunk_bytes, one
 * at a time. The core never holds the snapshot itself: it asks the
 * application for each chunk (Ready.snapshot_reads, answered with
 * sampan_raft_snapshot_chunk) and hands received chunks to the application
 * to write (Ready.snapshot_chunks). The follower acknowledges the offset it
 * expects next, so a lost chunk is resent from there (the leader retries
 * when a heartbeat is answered but the chunk is not); a new leader starts
 * over from offset 0, since two nodes' snapshot files of the same index
 * need not be byte-identical. The follower installs only a complete
 * snapshot newer than its commit index: snapshots only move state forward. */
#include <string.h>

#include "raft/internal.h"

int sampan_raft_compact(struct sampan_raft *r, uint64_t index)
{
    struct raft_log *l = &r->log;
    if (index > l->applied) {
        return SAMPAN_EINVAL; /* the snapshot cannot cover unapplied state */
    }
    if (index <= r->snap.index) {
        return SAMPAN_ECOMPACTED;
    }
    uint64_t term;
    int rv = log_term(l, index, &term);
    if (rv != 0) {
        return rv;
    }
    struct sampan_membership conf;
    rv = sampan_raft_conf_at(r, index, &conf);
    if (rv != 0) {
        return rv;
    }
    r->snap.index = index;
    r->snap.term = term;
    r->snap.conf = conf; /* the configuration in effect at `index` */
    /* Keep a tail of entries so a follower slightly behind is caught up
     * from the log, which is cheaper than a snapshot. */
    if (index > r->cfg.snapshot_trailing) {
        log_compact_to(l, index - r->cfg.snapshot_trailing);
    }
    return 0;
}

static void request_chunk(struct sampan_raft *r, struct progress *pr)
{
    if (pr->snap_read_pending || pr->snap_chunk_sent) {
        return;
    }
    struct sampan_snapshot_read rd = {.to = pr->id,
                                      .index = pr->snap_index,
                                      .offset = pr->snap_offset,
                                      .max_len = r->cfg.snapshot_chunk_bytes};
    if (vec_push(&r->snap_reads, &rd) == 0) {
        pr->snap_read_pending = true;
        pr->snap_read_offset = pr->snap_offset;
    }
}

void snapshot_start_send(struct sampan_raft *r, struct progress *pr)
{
    if (r->snap.index == 0) {
        return; /* nothing compacted: cannot happen with a sane log */
    }
    progress_become_snapshot(pr, r->snap.index);
    request_chunk(r, pr);
}

int sampan_raft_snapshot_chunk(struct sampan_raft *r, uint64_t to,
                               uint64_t index, uint64_t offset,
                               const void *data, size_t len, bool done)
{
    if (len > r->cfg.snapshot_chunk_bytes || (len > 0 && data == NULL)) {
        return SAMPAN_EINVAL;
    }
    struct progress *pr = raft_progress(r, to);
    if (r->role != SAMPAN_LEADER || pr == NULL ||
        pr->state != PROGRESS_SNAPSHOT || !pr->snap_read_pending ||
        pr->snap_index != index || pr->snap_read_offset != offset) {
        return 0; /* not the answer to the outstanding read: stale */
    }
    pr->snap_read_pending = false;
    if (index != r->snap.index) {
        /* A newer snapshot replaced the one being sent: start over. */
        snapshot_start_send(r, pr);
        return 0;
    }
    if (pr->snap_offset != offset) {
        /* The follower moved while the read was out (it answered a chunk
         * that was sent twice): read again where it stands. Dropping the
         * read instead would leave the transfer waiting for good. */
        request_chunk(r, pr);
        return 0;
    }
    struct sampan_msg m = {.type = SAMPAN_MSG_SNAPSHOT,
                           .to = to,
                           .snapshot = r->snap,
                           .offset = offset,
                           .len = (uint32_t)len,
                           .done = done};
    int rv = payload_copy(data, (uint32_t)len, &m.data);
    if (rv != 0) {
        return rv;
    }
    raft_send(r, &m, false);
    pr->snap_chunk_sent = true;
    return 0;
}

int sampan_raft_snapshot_failed(struct sampan_raft *r, uint64_t to)
{
    struct progress *pr = raft_progress(r, to);
    if (r->role == SAMPAN_LEADER && pr != NULL &&
        pr->state == PROGRESS_SNAPSHOT) {
        /* Back to probing; the next heartbeat answer retries, from the
         * newest snapshot. */
        progress_become_probe(pr);
    }
    return 0;
}

int snapshot_on_response(struct sampan_raft *r, const struct sampan_msg *m)
{
    if (r->role != SAMPAN_LEADER) {
        return 0;
    }
    if (m->done && m->index > log_last_index(&r->log)) {
        return SAMPAN_EINVAL; /* acknowledges entries we never had */
    }
    struct progress *pr = raft_progress(r, m->from);
    if (pr == NULL) {
        return 0;
    }
    pr->last_heard = r->ticks;
    if (pr->state != PROGRESS_SNAPSHOT) {
        return 0;
    }
    if (m->done) {
        /* Installed (or already covered): resume with AppendEntries. */
        progress_become_probe(pr);
        progress_maybe_update(pr, m->index);
        pr->next = pr->match + 1;
        replication_want_send(r, pr);
        return 0;
    }
    if (m->reject || m->index != pr->snap_index) {
        progress_become_probe(pr);
        replication_want_send(r, pr);
        return 0;
    }
    pr->snap_offset = m->offset;
    pr->snap_chunk_sent = false;
    request_chunk(r, pr);
    return 0;
}

void snapshot_on_heartbeat_response(struct sampan_raft *r, struct progress *pr)
{
    if (pr->state == PROGRESS_SNAPSHOT && pr->snap_chunk_sent) {
        /* The follower is alive but did not answer the chunk: assume it
         * was lost and resend from the last acknowledged offset. */
        pr->snap_chunk_sent = false;
        request_chunk(r, pr);
    }
}

static void send_response(struct sampan_raft *r, const struct sampan_msg *m,
                          uint64_t offset, bool done, uint64_t index)
{
    struct sampan_msg resp = {.type = SAMPAN_MSG_SNAPSHOT_RESP,
                              .to = m->from,
                              .index = index,
                              .offset = offset,
                              .done = done};
    /* Offsets and installs claim durable bytes: answer after persisting. */
    raft_send(r, &resp, true);
}

int snapshot_on_chunk(struct sampan_raft *r, const struct sampan_msg *m)
{
    struct raft_log *l = &r->log;
    const struct sampan_snapshot_meta *meta = &m->snapshot;
    replication_hear_from_leader(r, m);
    if (meta->index <= l->committed) {
        /* Not newer than our state: never move backwards. */
        send_response(r, m, 0, true, l->committed);
        return 0;
    }
    if (log_match_term(l, meta->index, meta->term)) {
        /* We hold the snapshot's last entry, hence (Log Matching) all it
         * covers: commit up to it instead of restoring. */
        l->committed = meta->index;
        send_response(r, m, 0, true, meta->index);
        return 0;
    }
    if (r->install_pending) {
        /* A completed snapshot waits to be handed out with the next Ready
         * (a write is in flight meanwhile). Another transfer's chunks in
         * the same batch would replace the file it installs from: refuse
         * them until it is handed out; the leader resends from 0. */
        send_response(r, m, 0, false, meta->index);
        return 0;
    }
    if (m->offset == 0) {
        r->recv_active = true; /* a new transfer replaces any partial one */
        r->recv_meta = *meta;
        r->recv_from = m->from;
        r->recv_term = m->term;
        r->recv_offset = 0;
    } else if (!r->recv_active || r->recv_meta.index != meta->index ||
               r->recv_meta.term != meta->term || r->recv_term != m->term ||
               r->recv_from != m->from || m->offset != r->recv_offset) {
        /* Out of sequence: tell the leader where we are. */
        bool same = r->recv_active && r->recv_meta.index == meta->index &&
                    r->recv_meta.term == meta->term &&
                    r->recv_term == m->term && r->recv_from == m->from;
        send_response(r, m, same ? r->recv_offset : 0, false, meta->index);
        return 0;
    }
    struct sampan_snapshot_chunk chunk = {
        .meta = *meta, .offset = m->offset, .len = m->len, .done = m->done};
    int rv = payload_copy(m->data, m->len, &chunk.data);
    if (rv != 0) {
        return rv;
    }
    rv = vec_push(&r->snap_chunks, &chunk);
    if (rv != 0) {
        payload_unref(chunk.data); /* too many queued: leader resends */
        send_response(r, m, r->recv_offset, false, meta->index);
        return 0;
    }
    r->recv_offset += m->len;
    if (!m->done) {
        send_response(r, m, r->recv_offset, false, meta->index);
        return 0;
    }
    /* Complete. Once this Ready's writes are durable the snapshot replaces
     * the whole log and the state machine restores from it. */
    r->recv_active = false;
    log_restore(l, meta->index, meta->term);
    r->snap = *meta;
    r->install_pending = true;
    r->install = *meta;
    /* The snapshot's configuration is the one in effect now. */
    rv = membership_set(r, &meta->conf, meta->index, meta->term);
    if (rv != 0) {
        return rv;
    }
    send_response(r, m, r->recv_offset, true, meta->index);
    return 0;
}
