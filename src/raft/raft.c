/* raft/raft.c: the core's lifecycle, its roles and their transitions, the
 * logical clock, and the dispatch of incoming messages by term (Figure 2,
 * "Rules for Servers", all servers). Elections live in election.c, log
 * replication in replication.c, the Ready hand-off in ready.c. */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

void sampan_raft_config_default(struct sampan_raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = 1;
    cfg->max_inflight_msgs = 256;
    cfg->max_inflight_bytes = 64u << 20;
    cfg->max_msg_bytes = 1u << 20;
    cfg->max_uncommitted_bytes = 64u << 20;
    cfg->max_entry_bytes = 16u << 20;
    cfg->max_ready_msgs = 4096;
    cfg->snapshot_trailing = 0;
    cfg->snapshot_chunk_bytes = 1u << 20;
    cfg->max_pending_reads = 4096;
    cfg->promote_lag_entries = 100;
    cfg->lease_reads = false;
    cfg->lease_margin_ticks = 2;
}

int raft_voter_slot(const struct sampan_raft *r, uint64_t id)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

struct progress *raft_progress(struct sampan_raft *r, uint64_t id)
{
    int slot = raft_voter_slot(r, id);
    return slot < 0 ? NULL : &r->prs[slot];
}

int sampan_raft_new(const struct sampan_raft_config *cfg,
                    const struct sampan_boot *boot, struct sampan_raft **out)
{
    *out = NULL;
    int rv = validate_config(cfg);
    if (rv != 0) {
        return rv;
    }
    if (boot != NULL && (rv = validate_boot(boot)) != 0) {
        return rv;
    }
    struct sampan_raft *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return SAMPAN_ENOMEM;
    }
    r->cfg = *cfg;
    r->id = cfg->id;
    r->prng = cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ull);
    msgq_init(&r->msgs, cfg->max_ready_msgs);
    msgq_init(&r->msgs_after, cfg->max_ready_msgs);
    vec_init(&r->snap_chunks, sizeof(struct sampan_snapshot_chunk),
             cfg->max_ready_msgs);
    vec_init(&r->snap_reads, sizeof(struct sampan_snapshot_read),
             SAMPAN_MAX_VOTERS);
    vec_init(&r->reads, sizeof(struct pending_read), cfg->max_pending_reads);
    vec_init(&r->read_states, sizeof(struct sampan_read_state),
             cfg->max_pending_reads);
    log_init(&r->log, 0, 0);
    if (boot != NULL) {
        log_init(&r->log, boot->snapshot_index, boot->snapshot_term);
        rv = log_append_copy(&r->log, boot->entries, boot->n_entries);
        if (rv != 0) {
            sampan_raft_free(r);
            return rv;
        }
        /* What we booted from is on disk already; the application
         * restored its state from the snapshot. */
        r->log.stable = r->log.handed = log_last_index(&r->log);
        r->snap.index = boot->snapshot_index;
        r->snap.term = boot->snapshot_term;
        r->snap.conf =
            boot->snapshot_index > 0 ? boot->snapshot_conf : cfg->members;
        r->term = boot->hard_state.term;
        r->vote = boot->hard_state.vote;
        if (log_last_term(&r->log) > r->term) {
            sampan_raft_free(r);
            return SAMPAN_EINVAL;
        }
    }
    /* The configuration in effect: the snapshot's (or the initial one),
     * unless the log holds a later one. */
    rv = membership_set(r, r->snap.index > 0 ? &r->snap.conf : &cfg->members,
                        r->snap.index, r->snap.term);
    if (rv == 0) {
        rv = membership_on_log_change(r, r->log.offset + 1);
    }
    if (rv != 0) {
        sampan_raft_free(r);
        return rv;
    }
    r->prev_hs.term = r->term;
    r->prev_hs.vote = r->vote;
    raft_become_follower(r, r->term, SAMPAN_NONE);
    if (cfg->lease_reads) {
        /* A restarted node forgot which leader it heard from last, so it
         * refuses votes for an election timeout, as if it had just heard
         * from one: otherwise it could help elect a new leader while the
         * old one still serves reads from its lease. */
        r->boot_quiet = cfg->election_ticks;
    }
    *out = r;
    return 0;
}

static void ready_release(struct sampan_raft *r);

void sampan_raft_free(struct sampan_raft *r)
{
    if (r == NULL) {
        return;
    }
    ready_release(r);
    msgq_destroy(&r->msgs);
    msgq_destroy(&r->msgs_after);
    struct sampan_snapshot_chunk *chunks = r->snap_chunks.items;
    for (size_t i = 0; i < r->snap_chunks.n; i++) {
        payload_unref(chunks[i].data);
    }
    vec_destroy(&r->snap_chunks);
    vec_destroy(&r->snap_reads);
    vec_destroy(&r->reads);
    vec_destroy(&r->read_states);
    for (size_t i = 0; i < r->n_prs; i++) {
        progress_destroy(&r->prs[i]);
    }
    log_destroy(&r->log);
    free(r);
}

void raft_reset_election_timer(struct sampan_raft *r)
{
    r->election_elapsed = 0;
    /* Section 5.2: randomized timeouts in [T, 2T) make split votes rare. */
    r->randomized_timeout =
        r->cfg.election_ticks +
        (uint32_t)(prng_next(&r->prng) % r->cfg.election_ticks);
}

static void reset_term_state(struct sampan_raft *r, uint64_t term)
{
    if (r->term != term) {
        r->term = term;
        r->vote = SAMPAN_NONE;
    }
    r->leader = SAMPAN_NONE;
    r->heartbeat_elapsed = 0;
    r->uncommitted_bytes = 0;
    r->flush_pending = false;
    r->transferee = SAMPAN_NONE;
    r->transfer_elapsed = 0;
    r->timeout_now_in_term = false;
    read_index_reset(r);
    membership_drop_departing(r); /* only a leader keeps them */
    memset(r->votes_granted, 0, sizeof(r->votes_granted));
    memset(r->votes_rejected, 0, sizeof(r->votes_rejected));
    raft_reset_election_timer(r);
    for (size_t i = 0; i < r->n_prs; i++) {
        progress_reset(&r->prs[i], log_last_index(&r->log) + 1);
    }
}

void raft_become_follower(struct sampan_raft *r, uint64_t term, uint64_t leader)
{
    reset_term_state(r, term);
    r->role = SAMPAN_FOLLOWER;
    r->leader = leader;
}

void raft_become_precandidate(struct sampan_raft *r)
{
    /* PreVote (thesis section 9.6): term and vote are left alone, so a
     * node that cannot win disturbs nobody. */
    memset(r->votes_granted, 0, sizeof(r->votes_granted));
    memset(r->votes_rejected, 0, sizeof(r->votes_rejected));
    r->leader = SAMPAN_NONE;
    r->role = SAMPAN_PRECANDIDATE;
    raft_reset_election_timer(r);
}

void raft_become_candidate(struct sampan_raft *r)
{
    /* Figure 2, Candidates: increment currentTerm, vote for self. */
    reset_term_state(r, r->term + 1);
    r->vote = r->id;
    r->role = SAMPAN_CANDIDATE;
}

void raft_become_leader(struct sampan_raft *r)
{
    reset_term_state(r, r->term);
    r->role = SAMPAN_LEADER;
    r->leader = r->id;
    for (size_t i = 0; i < r->n_prs; i++) {
        /* Every follower gets a full election timeout to answer. */
        r->prs[i].last_heard = r->ticks;
    }
    struct progress *self = raft_progress(r, r->id);
    self->match = r->log.stable;
    self->state = PROGRESS_REPLICATE;
    /* Section 8: a new leader appends a no-op so entries of earlier terms
     * become committed through it (they cannot be counted, Figure 8). */
    replication_append_local(r, SAMPAN_ENTRY_NOOP, NULL, 0, NULL);
}

void raft_send(struct sampan_raft *r, struct sampan_msg *m, bool after_persist)
{
    m->from = r->id;
    if (m->term == 0) {
        m->term = r->term;
    }
    msgq_push(after_persist ? &r->msgs_after : &r->msgs, m);
}

/* CheckQuorum (thesis section 6.2): true while a majority, counting this
 * leader, answered within the last election timeout. */
static bool leader_has_quorum(const struct sampan_raft *r)
{
    uint64_t active[PRS_MAX];
    for (size_t i = 0; i < r->n_prs; i++) {
        active[i] = r->prs[i].id == r->id ||
                    r->ticks - r->prs[i].last_heard < r->cfg.election_ticks;
    }
    return quorum_index(r, active) >= 1; /* a majority (of each set) */
}

static void tick_leader(struct sampan_raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
    }
    transfer_tick(r);
    /* A leader cut off from the majority steps down as soon as it has not
     * heard from one for an election timeout, so it stops claiming
     * leadership (and serving reads) about when the others may elect a new
     * leader. Checked on every tick over a sliding window. */
    if (!r->cfg.disable_check_quorum && !leader_has_quorum(r)) {
        raft_become_follower(r, r->term, SAMPAN_NONE);
        return;
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        replication_bcast_heartbeat(r);
    }
    membership_leader_check(r);
}

void sampan_raft_tick(struct sampan_raft *r)
{
    r->ticks++;
    log_reap(&r->log, LOG_REAP_BATCH);
    if (r->boot_quiet > 0) {
        r->boot_quiet--;
    }
    if (r->role == SAMPAN_LEADER) {
        tick_leader(r);
        return;
    }
    r->election_elapsed++;
    if (r->election_elapsed >= r->randomized_timeout) {
        /* Figure 2, Followers: no word from a leader within the election
         * timeout: start an election. Learners and non-members never do
         * (thesis 4.2.1): they would only disturb the voters; a member
         * removed by a change not committed yet still does (4.2.2). */
        if (membership_may_campaign(r)) {
            election_campaign(r, !r->cfg.disable_pre_vote);
        } else {
            raft_reset_election_timer(r);
        }
    }
}

int sampan_raft_campaign(struct sampan_raft *r)
{
    if (r->role == SAMPAN_LEADER || !membership_may_campaign(r)) {
        return SAMPAN_ESTATE;
    }
    election_campaign(r, !r->cfg.disable_pre_vote);
    return 0;
}

static bool is_vote_request(uint8_t type)
{
    return type == SAMPAN_MSG_PREVOTE || type == SAMPAN_MSG_VOTE;
}

static bool is_from_leader(uint8_t type)
{
    return type == SAMPAN_MSG_APPEND || type == SAMPAN_MSG_HEARTBEAT ||
           type == SAMPAN_MSG_TIMEOUT_NOW;
}

/* Figure 2, all servers: a message with a newer term makes us a follower of
 * that term, with two exceptions that protect a live leader. Returns false
 * when the message is to be ignored. */
static bool step_higher_term(struct sampan_raft *r, const struct sampan_msg *m)
{
    bool transfer =
        m->type == SAMPAN_MSG_VOTE && m->context == SAMPAN_CAMPAIGN_TRANSFER;
    if (is_vote_request(m->type) && !transfer && election_in_lease(r)) {
        /* Leader stickiness (thesis section 4.2.3): we heard from a live
         * leader within the minimum election timeout, so a disruptive
         * candidate is ignored and our term is left alone. */
        return false;
    }
    if (m->type == SAMPAN_MSG_PREVOTE) {
        return true; /* a pre-vote never changes our term */
    }
    if (m->type == SAMPAN_MSG_PREVOTE_RESP && !m->reject) {
        return true; /* granted for the term we would campaign in */
    }
    raft_become_follower(r, m->term,
                         is_from_leader(m->type) ? m->from : SAMPAN_NONE);
    return true;
}

/* A message from an older term. Returns false when it is to be ignored. */
static void step_lower_term(struct sampan_raft *r, const struct sampan_msg *m)
{
    if (m->type == SAMPAN_MSG_APPEND || m->type == SAMPAN_MSG_HEARTBEAT) {
        /* A stale leader (for example one that was partitioned away and
         * whose followers moved on with PreVote/CheckQuorum stickiness) must
         * learn the new term, or it would never step down. */
        struct sampan_msg resp = {.type = SAMPAN_MSG_APPEND_RESP,
                                  .to = m->from,
                                  .reject = true,
                                  .index = m->index};
        raft_send(r, &resp, false);
    } else if (m->type == SAMPAN_MSG_PREVOTE) {
        /* Tell a lagging pre-candidate our term so it stops campaigning. */
        struct sampan_msg resp = {
            .type = SAMPAN_MSG_PREVOTE_RESP, .to = m->from, .reject = true};
        raft_send(r, &resp, false);
    }
}

int sampan_raft_step(struct sampan_raft *r, const struct sampan_msg *m)
{
    int rv = validate_msg(r, m);
    if (rv != 0) {
        return rv;
    }
    bool termless =
        m->type == SAMPAN_MSG_PROPOSE || m->type == SAMPAN_MSG_READ_INDEX;
    if (!termless) {
        if (m->term > r->term) {
            if (!step_higher_term(r, m)) {
                return 0;
            }
        } else if (m->term < r->term) {
            step_lower_term(r, m);
            return 0;
        }
    }
    switch (m->type) {
    case SAMPAN_MSG_PREVOTE:
    case SAMPAN_MSG_VOTE:
        return election_on_vote_request(r, m);
    case SAMPAN_MSG_PREVOTE_RESP:
    case SAMPAN_MSG_VOTE_RESP:
        return election_on_vote_response(r, m);
    case SAMPAN_MSG_APPEND:
        return replication_on_append(r, m);
    case SAMPAN_MSG_HEARTBEAT:
        return replication_on_heartbeat(r, m);
    case SAMPAN_MSG_APPEND_RESP:
        return replication_on_append_response(r, m);
    case SAMPAN_MSG_HEARTBEAT_RESP:
        return replication_on_heartbeat_response(r, m);
    case SAMPAN_MSG_PROPOSE:
        return replication_on_propose(r, m);
    case SAMPAN_MSG_TIMEOUT_NOW:
        return transfer_on_timeout_now(r, m);
    case SAMPAN_MSG_READ_INDEX:
        rv = read_index_request(r, m->context, m->from);
        return rv == SAMPAN_EBUSY ? 0 : rv; /* dropped like a lost msg */
    case SAMPAN_MSG_READ_INDEX_RESP:
        return read_index_on_response(r, m);
    case SAMPAN_MSG_SNAPSHOT:
        return snapshot_on_chunk(r, m);
    case SAMPAN_MSG_SNAPSHOT_RESP:
        return snapshot_on_response(r, m);
    default:
        return 0;
    }
}

int sampan_raft_read_index(struct sampan_raft *r, uint64_t context)
{
    return read_index_request(r, context, r->id);
}

int sampan_raft_propose(struct sampan_raft *r, const void *data, size_t len,
                        uint64_t *index)
{
    if (index != NULL) {
        *index = 0;
    }
    if (len > r->cfg.max_entry_bytes || len > UINT32_MAX) {
        return SAMPAN_ETOOBIG;
    }
    if (len > 0 && data == NULL) {
        return SAMPAN_EINVAL;
    }
    if (r->role == SAMPAN_LEADER) {
        return replication_append_local(r, SAMPAN_ENTRY_NORMAL, data,
                                        (uint32_t)len, index);
    }
    if (r->leader == SAMPAN_NONE) {
        return SAMPAN_ENOLEADER;
    }
    /* Forward to the leader; the outcome is learned by applying. */
    struct sampan_entry e = {
        .type = SAMPAN_ENTRY_NORMAL, .len = (uint32_t)len, .data = NULL};
    int rv = payload_copy(data, (uint32_t)len, &e.data);
    if (rv != 0) {
        return rv;
    }
    struct sampan_msg m = {.type = SAMPAN_MSG_PROPOSE, .to = r->leader};
    m.entries = malloc(sizeof(e));
    if (m.entries == NULL) {
        payload_unref(e.data);
        return SAMPAN_ENOMEM;
    }
    m.entries[0] = e;
    m.n_entries = 1;
    raft_send(r, &m, false);
    return 0;
}

void sampan_raft_status(const struct sampan_raft *r, struct sampan_status *st)
{
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->log.committed;
    st->applied = r->log.applied;
    st->last_index = log_last_index(&r->log);
    st->last_term = log_last_term(&r->log);
    st->first_index = r->log.offset + 1;
    st->stable_index = r->log.stable;
    st->snapshot_index = r->snap.index;
    st->lead_transferee = r->transferee;
    st->conf_index = r->conf_index;
    st->log_bytes = r->log.bytes;
    st->log_mem_bytes = r->log.bytes + r->log.grave_bytes +
                        r->log.n * PAYLOAD_OVERHEAD +
                        r->log.cap * sizeof(struct sampan_entry);
}

int sampan_raft_term_at(const struct sampan_raft *r, uint64_t index,
                        uint64_t *term)
{
    return log_term(&r->log, index, term);
}

const struct sampan_entry *sampan_raft_entry_at(const struct sampan_raft *r,
                                                uint64_t index)
{
    return log_entry(&r->log, index);
}

static void ready_release(struct sampan_raft *r)
{
    if (!r->ready_out) {
        return;
    }
    struct sampan_ready *rd = &r->out;
    entries_release(rd->entries, rd->n_entries);
    entries_release(rd->committed, rd->n_committed);
    for (size_t i = 0; i < rd->n_messages; i++) {
        msg_release(&rd->messages[i]);
    }
    free(rd->messages);
    for (size_t i = 0; i < rd->n_persisted_messages; i++) {
        msg_release(&rd->persisted_messages[i]);
    }
    free(rd->persisted_messages);
    free(rd->read_states);
    for (size_t i = 0; i < rd->n_snapshot_chunks; i++) {
        payload_unref(rd->snapshot_chunks[i].data);
    }
    free(rd->snapshot_chunks);
    free(rd->snapshot_reads);
    memset(rd, 0, sizeof(*rd));
    r->ready_out = false;
}

bool sampan_raft_has_ready(const struct sampan_raft *r)
{
    if (r->ready_out) {
        return false;
    }
    const struct raft_log *l = &r->log;
    uint64_t last = log_last_index(l);
    uint64_t commit = l->committed < last ? l->committed : last;
    return r->term != r->prev_hs.term || r->vote != r->prev_hs.vote ||
           l->handed < last || r->msgs.n > 0 || r->msgs_after.n > 0 ||
           r->flush_pending || commit > l->applied || r->install_pending ||
           r->snap_chunks.n > 0 || r->snap_reads.n > 0 ||
           r->read_states.n > 0 ||
           (r->read_round_wanted && r->role == SAMPAN_LEADER);
}

int sampan_raft_ready(struct sampan_raft *r, struct sampan_ready *rd)
{
    memset(rd, 0, sizeof(*rd));
    if (r->ready_out) {
        return SAMPAN_ESTATE;
    }
    membership_leader_check(r);
    replication_flush(r);
    if (r->read_round_wanted && r->role == SAMPAN_LEADER) {
        /* One heartbeat round confirms every read queued since the last
         * one (batched ReadIndex). */
        replication_bcast_heartbeat(r);
    }
    struct sampan_ready *out = &r->out;
    memset(out, 0, sizeof(*out));
    struct raft_log *l = &r->log;
    int rv;

    if (r->term != r->prev_hs.term || r->vote != r->prev_hs.vote) {
        out->hard_state_changed = true;
        out->hard_state.term = r->term;
        out->hard_state.vote = r->vote;
    }
    uint64_t last = log_last_index(l);
    if (l->handed < last) {
        const struct sampan_entry *first = log_entry(l, l->handed + 1);
        rv = entries_share(first, (size_t)(last - l->handed), &out->entries);
        if (rv != 0) {
            return rv;
        }
        out->n_entries = (size_t)(last - l->handed);
    }
    uint64_t commit = l->committed < last ? l->committed : last;
    uint64_t applied = l->applied;
    if (r->install_pending) {
        out->has_snapshot = true;
        out->snapshot = r->install;
        applied = r->install.index; /* the restore brings state to here */
    }
    if (applied < l->offset) {
        applied = l->offset; /* cannot happen: compaction needs applied */
    }
    if (commit > applied) {
        const struct sampan_entry *first = log_entry(l, applied + 1);
        rv = entries_share(first, (size_t)(commit - applied), &out->committed);
        if (rv != 0) {
            entries_release(out->entries, out->n_entries);
            memset(out, 0, sizeof(*out));
            return rv;
        }
        out->n_committed = (size_t)(commit - applied);
    }
    r->install_pending = false;
    out->snapshot_chunks = vec_take(&r->snap_chunks, &out->n_snapshot_chunks);
    out->snapshot_reads = vec_take(&r->snap_reads, &out->n_snapshot_reads);
    out->read_states = vec_take(&r->read_states, &out->n_read_states);
    /* Hand the message queues over whole; the core starts new ones. */
    out->messages = r->msgs.msgs;
    out->n_messages = r->msgs.n;
    out->persisted_messages = r->msgs_after.msgs;
    out->n_persisted_messages = r->msgs_after.n;
    msgq_init(&r->msgs, r->cfg.max_ready_msgs);
    msgq_init(&r->msgs_after, r->cfg.max_ready_msgs);

    l->handed = last;
    r->prev_hs.term = r->term;
    r->prev_hs.vote = r->vote;
    r->ready_out = true;
    *rd = *out;
    return 0;
}

int sampan_raft_take_messages(struct sampan_raft *r, struct sampan_msg **msgs,
                              size_t *n)
{
    *msgs = NULL;
    *n = 0;
    if (!r->ready_out) {
        return SAMPAN_ESTATE;
    }
    /* The same sends sampan_raft_ready() would start; only messages that
     * need nothing durable go to r->msgs, so all of it may leave now. */
    replication_flush(r);
    if (r->read_round_wanted && r->role == SAMPAN_LEADER) {
        replication_bcast_heartbeat(r);
    }
    *msgs = r->msgs.msgs;
    *n = r->msgs.n;
    msgq_init(&r->msgs, r->cfg.max_ready_msgs);
    return 0;
}

void sampan_raft_messages_free(struct sampan_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        msg_release(&msgs[i]);
    }
    free(msgs);
}

int sampan_raft_advance(struct sampan_raft *r, const struct sampan_ready *rd)
{
    (void)rd;
    if (!r->ready_out) {
        return SAMPAN_ESTATE;
    }
    struct sampan_ready *out = &r->out;
    struct raft_log *l = &r->log;
    if (out->n_entries > 0) {
        const struct sampan_entry *e = &out->entries[out->n_entries - 1];
        /* Durable up to e->index, unless a conflict replaced that entry
         * while the write was in flight (then the replacement is handed out
         * by the next Ready and `stable` was already lowered). */
        if (log_match_term(l, e->index, e->term) && e->index > l->stable) {
            l->stable = e->index;
        }
    }
    if (out->has_snapshot && out->snapshot.index > l->applied) {
        l->applied = out->snapshot.index;
    }
    if (out->n_committed > 0) {
        uint64_t applied = out->committed[out->n_committed - 1].index;
        if (applied > l->applied) {
            l->applied = applied;
        }
    }
    ready_release(r);
    log_reap(l, LOG_REAP_BATCH);
    if (r->role == SAMPAN_LEADER) {
        /* The leader's own copy counts toward a majority only once it is
         * durable (thesis section 10.2.1). */
        struct progress *self = raft_progress(r, r->id);
        if (progress_maybe_update(self, l->stable) &&
            replication_maybe_commit(r)) {
            read_index_advance(r); /* an own-term commit releases reads */
            membership_leader_check(r);
        }
    }
    return 0;
}
