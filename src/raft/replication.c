/* raft/replication.c: log replication (section 5.3): the leader's
 * AppendEntries and heartbeats, the follower's consistency check and conflict
 * handling, fast conflict backtracking, flow control, and advancing the commit
 * index by counting only current-term entries (section 5.4.2, Figure 8). */
#include <stdlib.h>

#include "raft/internal.h"

static void commit_to(struct sampan_raft *r, uint64_t index)
{
    if (index > r->log.committed) {
        r->log.committed = index;
    }
}

void replication_want_send_all(struct sampan_raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id != r->id) {
            r->prs[i].want_send = true;
            r->flush_pending = true;
        }
    }
}

void replication_want_send(struct sampan_raft *r, struct progress *pr)
{
    pr->want_send = true;
    r->flush_pending = true;
}

int replication_append_local(struct sampan_raft *r, uint8_t type,
                             const void *data, uint32_t len, uint64_t *index)
{
    if (r->role != SAMPAN_LEADER) {
        return SAMPAN_ENOTLEADER;
    }
    if (r->transferee != SAMPAN_NONE && type == SAMPAN_ENTRY_NORMAL) {
        return SAMPAN_ETRANSFER; /* thesis 3.10: the target must catch up */
    }
    /* Bound the memory of entries that cannot commit (for example while a
     * majority is unreachable). A lone oversized entry is still admitted
     * when nothing else is pending, so a large command cannot wedge. */
    if (len > 0 && r->uncommitted_bytes > 0 &&
        r->uncommitted_bytes + len > r->cfg.max_uncommitted_bytes) {
        return SAMPAN_EBUSY;
    }
    uint8_t *copy;
    int rv = payload_copy(data, len, &copy);
    if (rv != 0) {
        return rv;
    }
    rv = log_append_owned(&r->log, r->term, type, copy, len);
    if (rv != 0) {
        payload_unref(copy);
        return rv;
    }
    r->uncommitted_bytes += len;
    if (index != NULL) {
        *index = log_last_index(&r->log);
    }
    /* Appends go out at the next Ready: proposals made together share one
     * AppendEntries per follower. */
    replication_want_send_all(r);
    return 0;
}

/* Sends AppendEntries to one follower as far as flow control allows. */
static void send_append(struct sampan_raft *r, struct progress *pr)
{
    struct raft_log *l = &r->log;
    uint64_t last = log_last_index(l);
    while (!progress_is_paused(pr)) {
        uint64_t prev = pr->next - 1;
        uint64_t prev_term;
        if (log_term(l, prev, &prev_term) != 0) {
            /* The follower needs entries we no longer hold: send it our
             * snapshot instead (section 7). */
            snapshot_start_send(r, pr);
            return;
        }
        bool has_entries = pr->next <= last;
        /* In probe state an empty AppendEntries still checks the match; in
         * replicate state one is sent when a heartbeat answer shows the
         * follower behind with nothing left to send (a batch was lost); and
         * in either state one carries a commit index it has not been sent. */
        bool empty_ok = (pr->state == PROGRESS_REPLICATE ? pr->send_empty
                                                         : pr->match < prev) ||
                        pr->sent_commit < l->committed;
        pr->send_empty = false;
        if (!has_entries && !empty_ok) {
            return;
        }
        uint64_t bytes = 0;
        size_t n = has_entries ? log_count_within(l, pr->next,
                                                  r->cfg.max_msg_bytes, &bytes)
                               : 0;
        struct sampan_msg m = {.type = SAMPAN_MSG_APPEND,
                               .to = pr->id,
                               .index = prev,
                               .log_term = prev_term,
                               .commit = l->committed};
        if (entries_share(log_entry(l, pr->next), n, &m.entries) != 0) {
            return; /* out of memory: retried at the next heartbeat */
        }
        m.n_entries = n;
        pr->sent_commit = l->committed;
        raft_send(r, &m, false);
        progress_sent(pr, prev + n, bytes, n);
        if (pr->state == PROGRESS_PROBE) {
            return;
        }
    }
}

void replication_flush(struct sampan_raft *r)
{
    if (!r->flush_pending) {
        return;
    }
    r->flush_pending = false;
    if (r->role != SAMPAN_LEADER) {
        return;
    }
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->want_send && pr->id != r->id) {
            pr->want_send = false;
            send_append(r, pr);
        }
    }
}

void replication_bcast_heartbeat(struct sampan_raft *r)
{
    /* Each broadcast is a numbered round; answers echo the number, which
     * confirms pending ReadIndex requests (read_index.c). */
    r->hb_round++;
    r->round_tick[r->hb_round % READ_ROUND_TICKS] = r->ticks;
    r->read_round_wanted = false;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id == r->id) {
            continue;
        }
        /* Never tell a follower to commit past what it is known to hold:
         * its log beyond `match` may still differ from ours. */
        uint64_t commit =
            pr->match < r->log.committed ? pr->match : r->log.committed;
        if (commit > pr->sent_commit) {
            pr->sent_commit = commit;
        }
        struct sampan_msg m = {.type = SAMPAN_MSG_HEARTBEAT,
                               .to = pr->id,
                               .commit = commit,
                               .context = r->hb_round};
        raft_send(r, &m, false);
    }
}

bool replication_maybe_commit(struct sampan_raft *r)
{
    uint64_t match[PRS_MAX];
    for (size_t i = 0; i < r->n_prs; i++) {
        match[i] = r->prs[i].match;
    }
    uint64_t index = quorum_index(r, match);
    if (index <= r->log.committed) {
        return false;
    }
    /* Section 5.4.2 / Figure 8: only an entry of the leader's current term
     * is committed by counting replicas; earlier ones commit with it. */
    uint64_t term;
    if (log_term(&r->log, index, &term) != 0 || term != r->term) {
        return false;
    }
    uint64_t bytes = log_bytes_between(&r->log, r->log.committed + 1, index);
    r->uncommitted_bytes =
        bytes < r->uncommitted_bytes ? r->uncommitted_bytes - bytes : 0;
    commit_to(r, index);
    /* Tell the followers at once (an empty AppendEntries carrying the new
     * commit index, at the next Ready): a follower that took a client's
     * write answers it only once it learns the entry committed, and
     * waiting for the next heartbeat would add up to a heartbeat interval
     * to every write made through a follower. */
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id != r->id && pr->sent_commit < index) {
            replication_want_send(r, pr); /* carries the new commit index */
        }
    }
    return true;
}

void replication_hear_from_leader(struct sampan_raft *r,
                                  const struct sampan_msg *m)
{
    if (r->role != SAMPAN_FOLLOWER) {
        /* Section 5.2: a candidate that hears from a leader of its own term
         * recognizes it and returns to follower. */
        raft_become_follower(r, r->term, m->from);
    }
    r->leader = m->from;
    r->election_elapsed = 0;
}

int replication_on_append(struct sampan_raft *r, const struct sampan_msg *m)
{
    struct raft_log *l = &r->log;
    replication_hear_from_leader(r, m);
    struct sampan_msg resp = {.type = SAMPAN_MSG_APPEND_RESP, .to = m->from};
    if (m->index < l->committed) {
        /* Everything up to our commit index is settled; say so, and the
         * leader resumes from there. */
        resp.index = l->committed;
        raft_send(r, &resp, true);
        return 0;
    }
    if (!log_match_term(l, m->index, m->log_term)) {
        /* Figure 2, AppendEntries receiver rule 2: reject. Hint the last
         * entry at or before prevLogIndex whose term is <= prevLogTerm, so
         * the leader skips a whole term per round trip (section 5.3, "the
         * protocol can be optimized"). */
        uint64_t hint = log_find_conflict_by_term(l, m->index, m->log_term);
        resp.reject = true;
        resp.index = m->index;
        resp.hint_index = hint;
        log_term(l, hint, &resp.hint_term);
        raft_send(r, &resp, false);
        return 0;
    }
    int rv = log_merge(l, m->entries, m->n_entries);
    if (rv != 0) {
        return rv;
    }
    if (m->n_entries > 0) {
        /* A configuration takes effect once in the log, and one that a
         * conflict truncated away is undone (thesis 4.1). */
        rv = membership_on_log_change(r, m->index + 1);
        if (rv != 0) {
            return rv;
        }
    }
    uint64_t last_new = m->index + m->n_entries;
    /* Receiver rule 5: commit no further than the entries just verified. */
    commit_to(r, m->commit < last_new ? m->commit : last_new);
    resp.index = last_new;
    /* The acknowledgement claims durability: send after persisting. */
    raft_send(r, &resp, true);
    return 0;
}

int replication_on_heartbeat(struct sampan_raft *r, const struct sampan_msg *m)
{
    replication_hear_from_leader(r, m);
    uint64_t last = log_last_index(&r->log);
    commit_to(r, m->commit < last ? m->commit : last);
    struct sampan_msg resp = {.type = SAMPAN_MSG_HEARTBEAT_RESP,
                              .to = m->from,
                              .context = m->context};
    raft_send(r, &resp, false);
    return 0;
}

int replication_on_append_response(struct sampan_raft *r,
                                   const struct sampan_msg *m)
{
    if (r->role != SAMPAN_LEADER) {
        return 0;
    }
    if (!m->reject && m->index > log_last_index(&r->log)) {
        return SAMPAN_EINVAL; /* acknowledges entries we never had */
    }
    struct progress *pr = raft_progress(r, m->from);
    if (pr == NULL) {
        return 0; /* not a member (validate_msg lets none through) */
    }
    pr->last_heard = r->ticks;
    if (m->reject) {
        /* What the follower holds, and so which commit it could take, is
         * unknown again: tell it afresh with the next append. */
        pr->sent_commit = 0;
        uint64_t probe_from =
            log_find_conflict_by_term(&r->log, m->hint_index, m->hint_term);
        if (progress_maybe_decrease(pr, m->index, probe_from)) {
            if (pr->state == PROGRESS_REPLICATE) {
                progress_become_probe(pr);
            }
            replication_want_send(r, pr);
        }
        return 0;
    }
    bool updated = progress_maybe_update(pr, m->index);
    if (updated || (pr->state == PROGRESS_PROBE && m->index == pr->match)) {
        /* A success at the match point while probing answers the probe,
         * even if it moved nothing (the match was learned from an earlier,
         * overtaken answer): resume pipelining, or the follower would sit
         * paused until a heartbeat answer. */
        if (pr->state == PROGRESS_PROBE) {
            progress_become_replicate(pr);
        } else {
            inflights_free_to(&pr->inflights, m->index);
        }
        if (replication_maybe_commit(r)) {
            read_index_advance(r);
        }
    }
    transfer_maybe_send_timeout_now(r, pr);
    if (pr->match < log_last_index(&r->log) ||
        pr->sent_commit < r->log.committed) {
        replication_want_send(r, pr);
    }
    return 0;
}

int replication_on_heartbeat_response(struct sampan_raft *r,
                                      const struct sampan_msg *m)
{
    if (r->role != SAMPAN_LEADER) {
        return 0;
    }
    struct progress *pr = raft_progress(r, m->from);
    if (pr == NULL) {
        return 0;
    }
    pr->last_heard = r->ticks;
    pr->probe_sent = false;
    if (m->context > pr->acked_round && m->context <= r->hb_round) {
        pr->acked_round = m->context;
        read_index_advance(r);
    }
    snapshot_on_heartbeat_response(r, pr);
    /* If every AppendEntries of a full window was lost, nothing would ever
     * answer: let one more through so a rejection can reset the pipeline
     * (section 5.3: the leader retries AppendEntries until the follower
     * holds everything). Full by messages or by bytes: a single entry of
     * max_inflight_bytes or more (a configuration entry, with a small window)
     * fills it alone, and its loss stalled the follower for good (found by the
     * simulator's random schedules with membership changes). */
    if (pr->state == PROGRESS_REPLICATE && progress_is_paused(pr)) {
        inflights_free_to(&pr->inflights,
                          pr->inflights.last_index[pr->inflights.start]);
    }
    if (pr->match < log_last_index(&r->log)) {
        pr->send_empty = true;
        replication_want_send(r, pr);
    }
    return 0;
}

int replication_on_propose(struct sampan_raft *r, const struct sampan_msg *m)
{
    if (r->role != SAMPAN_LEADER) {
        return 0; /* no forwarding chains: the proposer retries */
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct sampan_entry *e = &m->entries[i];
        int rv = replication_append_local(r, SAMPAN_ENTRY_NORMAL, e->data,
                                          e->len, NULL);
        if (rv != 0) {
            /* Over the uncommitted bound or during a transfer: dropped
             * like a lost message; the proposer learns nothing applied
             * and retries. */
            return rv == SAMPAN_EBUSY || rv == SAMPAN_ETRANSFER ? 0 : rv;
        }
    }
    return 0;
}
