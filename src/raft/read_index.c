/* raft/read_index.c: linearizable reads without writing the log (ReadIndex,
 * thesis section 6.4). The leader records its commit index as the read
 * index, once it has committed an entry of its own term (before that its
 * commit index may lag entries committed by earlier leaders), then confirms
 * it is still leader by a heartbeat round acknowledged by a majority. Reads
 * that arrive together share one round: each waits for the first round
 * broadcast after it arrived. Optionally, lease reads (6.4.1) skip the round
 * while a majority acknowledged a recent enough heartbeat. */
#include <stdlib.h>

#include "raft/internal.h"

static bool committed_in_term(const struct sampan_raft *r)
{
    uint64_t term;
    return log_term(&r->log, r->log.committed, &term) == 0 && term == r->term;
}

/* The newest heartbeat round acknowledged by a majority (this leader counts
 * as having acknowledged every round it sent). */
static uint64_t quorum_round(const struct sampan_raft *r)
{
    uint64_t rounds[PRS_MAX];
    for (size_t i = 0; i < r->n_prs; i++) {
        rounds[i] = r->prs[i].id == r->id ? r->hb_round : r->prs[i].acked_round;
    }
    return quorum_index(r, rounds);
}

bool read_index_lease_valid(const struct sampan_raft *r)
{
    if (!r->cfg.lease_reads || r->role != SAMPAN_LEADER ||
        r->transferee != SAMPAN_NONE || r->timeout_now_in_term) {
        return false;
    }
    uint64_t round = quorum_round(r);
    if (round == 0 || r->hb_round - round >= READ_ROUND_TICKS) {
        return false;
    }
    /* Followers that acknowledged `round` refuse to vote for anyone else
     * for an election timeout after receiving it, which was no earlier
     * than it was sent. */
    uint64_t sent = r->round_tick[round % READ_ROUND_TICKS];
    return r->ticks - sent + r->cfg.lease_margin_ticks < r->cfg.election_ticks;
}

static int deliver(struct sampan_raft *r, const struct pending_read *rd)
{
    if (rd->from == r->id) {
        struct sampan_read_state st = {.context = rd->context,
                                       .index = rd->index};
        return vec_push(&r->read_states, &st);
    }
    struct sampan_msg m = {.type = SAMPAN_MSG_READ_INDEX_RESP,
                           .to = rd->from,
                           .context = rd->context,
                           .index = rd->index};
    raft_send(r, &m, false);
    return 0;
}

int read_index_request(struct sampan_raft *r, uint64_t context, uint64_t from)
{
    if (r->role != SAMPAN_LEADER) {
        if (from != r->id) {
            return 0; /* not ours to answer: the asker times out */
        }
        if (r->leader == SAMPAN_NONE) {
            return SAMPAN_ENOLEADER;
        }
        struct sampan_msg m = {
            .type = SAMPAN_MSG_READ_INDEX, .to = r->leader, .context = context};
        raft_send(r, &m, false);
        return 0;
    }
    struct pending_read rd = {.context = context, .from = from};
    if (quorum_self_only(r) || read_index_lease_valid(r)) {
        if (committed_in_term(r)) {
            rd.index = r->log.committed;
            return deliver(r, &rd);
        }
    }
    /* Wait for the first round broadcast from now on. */
    rd.round = r->hb_round + 1;
    int rv = vec_push(&r->reads, &rd);
    if (rv != 0) {
        return rv;
    }
    r->read_round_wanted = true;
    read_index_advance(r);
    return 0;
}

void read_index_advance(struct sampan_raft *r)
{
    if (r->role != SAMPAN_LEADER || r->reads.n == 0 || !committed_in_term(r)) {
        return;
    }
    struct pending_read *reads = r->reads.items;
    uint64_t confirmed = quorum_round(r);
    size_t done = 0;
    for (; done < r->reads.n; done++) {
        struct pending_read *rd = &reads[done];
        if (rd->index == 0) {
            /* The own-term commit makes the commit index at least as
             * high as anything committed when the read arrived. */
            rd->index = r->log.committed;
        }
        if (rd->round > confirmed && !quorum_self_only(r)) {
            break; /* rounds confirm in order, so later reads wait too */
        }
        if (deliver(r, rd) != 0) {
            break; /* read_states full: retried at the next advance */
        }
    }
    /* Assign indexes to reads still waiting, then drop the delivered. */
    for (size_t i = done; i < r->reads.n; i++) {
        if (reads[i].index == 0) {
            reads[i].index = r->log.committed;
        }
    }
    for (size_t i = done; i < r->reads.n; i++) {
        reads[i - done] = reads[i];
    }
    r->reads.n -= done;
}

void read_index_reset(struct sampan_raft *r)
{
    /* Pending reads die with the leadership that would have confirmed
     * them; their callers time out and retry. */
    r->reads.n = 0;
    r->read_round_wanted = false;
    r->hb_round = 0;
}

int read_index_on_response(struct sampan_raft *r, const struct sampan_msg *m)
{
    if (m->from != r->leader) {
        return 0;
    }
    struct sampan_read_state st = {.context = m->context, .index = m->index};
    return vec_push(&r->read_states, &st) == SAMPAN_ENOMEM ? SAMPAN_ENOMEM : 0;
}
