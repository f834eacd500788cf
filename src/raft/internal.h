/* raft/internal.h: the core's private types, shared by the files of src/raft/.
 * Nothing here is part of the public API; see include/sampan/raft.h. */
#ifndef SAMPAN_RAFT_INTERNAL_H
#define SAMPAN_RAFT_INTERNAL_H

#include "sampan/raft.h"

/* ---- payload.c: reference-counted entry payloads -------------------------
 * An entry's data is shared between the log, queued messages and a Ready, so
 * truncating the log never frees bytes a message still points to. */
/* Bytes each payload spends on its reference count and length. */
#define PAYLOAD_OVERHEAD 8u
int payload_copy(const void *src, uint32_t len, uint8_t **out);
void payload_ref(uint8_t *data);
void payload_unref(uint8_t *data);
uint32_t payload_len(const uint8_t *data);
/* Shallow-copies `n` entries into a new array, taking a payload reference for
 * each. *out is NULL when n == 0. */
int entries_share(const struct sampan_entry *src, size_t n,
                  struct sampan_entry **out);
void entries_release(struct sampan_entry *ents, size_t n);

/* ---- log.c: the in-memory log --------------------------------------------
 * Holds entries offset+1 .. last. Entries up to `stable` are acknowledged
 * durable; entries up to `handed` were handed out for persistence. */
struct raft_log {
    struct sampan_entry *ents;
    size_t n;
    size_t cap;
    uint64_t offset;      /* index of the last entry discarded (snapshot) */
    uint64_t offset_term; /* its term                                     */
    uint64_t committed;
    uint64_t applied; /* highest index handed out for applying            */
    uint64_t stable;  /* highest index acknowledged durable              */
    uint64_t handed;  /* highest index handed out for persistence        */
    uint64_t bytes;   /* payload bytes of the entries held               */
    /* Payloads compaction discarded, freed a bounded batch at a time
     * (log_reap), so compacting a million entries never stalls a caller. */
    uint8_t **grave;
    size_t n_grave;
    size_t cap_grave;
    uint64_t grave_bytes;
};

/* Frees at most `max` discarded payloads. */
#define LOG_REAP_BATCH 8192u
void log_reap(struct raft_log *l, size_t max);

void log_init(struct raft_log *l, uint64_t offset, uint64_t offset_term);
void log_destroy(struct raft_log *l);
uint64_t log_last_index(const struct raft_log *l);
uint64_t log_last_term(const struct raft_log *l);
int log_term(const struct raft_log *l, uint64_t index, uint64_t *term);
bool log_match_term(const struct raft_log *l, uint64_t index, uint64_t term);
const struct sampan_entry *log_entry(const struct raft_log *l, uint64_t index);
/* Appends copies of entries that follow the last index exactly. */
int log_append_copy(struct raft_log *l, const struct sampan_entry *e, size_t n);
/* Appends a new entry taking ownership of the payload reference `data`. */
int log_append_owned(struct raft_log *l, uint64_t term, uint8_t type,
                     uint8_t *data, uint32_t len);
/* Discards entries after `index` (a conflicting suffix, section 5.3). */
void log_truncate_after(struct raft_log *l, uint64_t index);
/* Section 5.3 receiver rules 3-4 for entries following prev_index whose
 * term matched: skips entries already present, truncates at the first
 * conflict, appends the rest. */
int log_merge(struct raft_log *l, const struct sampan_entry *e, size_t n);
/* 5.4.1: is a log ending at (last_index, last_term) at least as up to date
 * as ours? */
bool log_is_up_to_date(const struct raft_log *l, uint64_t last_index,
                       uint64_t last_term);
/* Largest index <= index whose term is <= term (fast backtracking hint). */
uint64_t log_find_conflict_by_term(const struct raft_log *l, uint64_t index,
                                   uint64_t term);
/* Number of entries from `lo` on whose size (payload plus
 * SAMPAN_ENTRY_OVERHEAD each) stays within max_bytes, always at least one
 * when lo <= last; *bytes gets that size. */
size_t log_count_within(const struct raft_log *l, uint64_t lo,
                        uint64_t max_bytes, uint64_t *bytes);
uint64_t log_bytes_between(const struct raft_log *l, uint64_t lo, uint64_t hi);
/* Frees entries up to `index` (compaction, section 7). */
void log_compact_to(struct raft_log *l, uint64_t index);
/* Replaces the whole log by a snapshot ending at (index, term). */
void log_restore(struct raft_log *l, uint64_t index, uint64_t term);

/* ---- progress.c: the leader's view of each follower ---------------------- */
enum progress_state {
    PROGRESS_PROBE = 0,     /* one AppendEntries at a time to find the match */
    PROGRESS_REPLICATE = 1, /* pipelined, bounded by the inflight window     */
    PROGRESS_SNAPSHOT = 2,  /* receiving a snapshot, one chunk at a time     */
};

struct inflights {
    uint64_t *last_index; /* ring of the last index of each message */
    uint64_t *bytes;      /* ring of each message's payload bytes   */
    size_t start;
    size_t count;
    size_t cap;
    uint64_t total_bytes;
    uint64_t max_bytes;
};

struct progress {
    uint64_t id;
    uint64_t match; /* highest index known replicated durably (Figure 2) */
    uint64_t next;  /* next index to send (Figure 2)                     */
    enum progress_state state;
    bool probe_sent;     /* probe state: a probe awaits its answer         */
    uint64_t last_heard; /* leader's tick count when it last answered     */
    bool want_send;      /* an append should go out at the next flush      */
    bool send_empty; /* replicate: an empty append checks for lost batches */
    /* Highest commit index sent to it (0 after a rejection: unknown). When
     * it is behind the leader's, an append, empty if need be, carries the
     * new one, so a follower never waits for a heartbeat to learn it. */
    uint64_t sent_commit;
    struct inflights inflights;
    uint64_t acked_round; /* highest heartbeat round it answered (reads) */
    /* Snapshot state: which snapshot, the offset the follower expects,
     * whether a chunk read is outstanding / a chunk awaits its answer. */
    uint64_t snap_index;
    uint64_t snap_offset;      /* the follower's next expected byte   */
    uint64_t snap_read_offset; /* what the outstanding read asked for */
    bool snap_read_pending;
    bool snap_chunk_sent;
    bool timeout_now_sent; /* leadership transfer: TIMEOUT_NOW went out */
    /* Leader only: no longer a member. It is still sent appends and
     * heartbeats for a while after the change commits, so it learns it
     * was removed (membership.c). */
    bool departing;
    uint64_t depart_tick;
};

int progress_init(struct progress *p, uint64_t id, uint32_t max_msgs,
                  uint64_t max_bytes);
void progress_destroy(struct progress *p);
void progress_reset(struct progress *p, uint64_t next);
bool progress_is_paused(const struct progress *p);
/* Records a successful acknowledgement; returns true if match moved. */
bool progress_maybe_update(struct progress *p, uint64_t index);
/* Handles a rejection of prev index `rejected`; `probe_from` is where the
 * next probe should start (from the conflict hint). Returns false when the
 * rejection is stale. */
bool progress_maybe_decrease(struct progress *p, uint64_t rejected,
                             uint64_t probe_from);
void progress_become_probe(struct progress *p);
void progress_become_replicate(struct progress *p);
void progress_become_snapshot(struct progress *p, uint64_t snap_index);
/* Notes that an AppendEntries ending at last_index with `bytes` of payload
 * went out. */
void progress_sent(struct progress *p, uint64_t last_index, uint64_t bytes,
                   size_t n_entries);
void inflights_free_to(struct inflights *in, uint64_t index);

/* ---- quorum.c: majorities over the configuration in effect ------------- */
struct sampan_raft;
/* The largest index acknowledged by a majority of `n` match indexes. */
uint64_t quorum_committed_index(const uint64_t *match, size_t n);
enum vote_result {
    VOTE_PENDING,
    VOTE_WON,
    VOTE_LOST
};
enum vote_result quorum_vote_result(size_t n_voters, size_t granted,
                                    size_t rejected);
/* The largest value held by a majority of the voters, given one value per
 * progress slot; in a joint configuration, the smaller of the values
 * held by a majority of each voter set (thesis section 4.3). */
uint64_t quorum_index(const struct sampan_raft *r, const uint64_t *by_slot);
/* The election's outcome from r->votes_granted/rejected: won only if won
 * in every voter set, lost if lost in any. */
enum vote_result quorum_vote(const struct sampan_raft *r);
/* True if this node is the only voter (it alone forms a majority). */
bool quorum_self_only(const struct sampan_raft *r);

/* ---- conf.c: configurations as values ------------------------------------ */
bool conf_equal(const struct sampan_membership *a,
                const struct sampan_membership *b);
/* The configuration `changes` lead to from `cur` (which must not be joint):
 * direct when at most one voter changes, else joint (outgoing = cur's
 * voters). caught_up[i] (may be NULL) says whether change i's member is
 * close enough to the log to be promoted now. */
int conf_apply_changes(const struct sampan_membership *cur,
                       const struct sampan_conf_change *changes, size_t n,
                       const bool *caught_up, struct sampan_membership *out);
/* The configuration that ends the joint configuration `cur`. */
void conf_leave_joint(const struct sampan_membership *cur,
                      struct sampan_membership *out);

/* ---- prng.c -------------------------------------------------------------- */
uint64_t prng_next(uint64_t *state);

/* ---- msgq.c: bounded queue of outgoing messages ---------------------------
 */
struct msgq {
    struct sampan_msg *msgs;
    size_t n;
    size_t cap;
    size_t limit;
    uint64_t dropped; /* messages refused because the queue was full */
};
void msgq_init(struct msgq *q, size_t limit);
/* Appends `m`, taking over its entries array (and their payload refs). When
 * the queue is full the message is dropped (Raft tolerates loss) and its
 * entries are released. */
void msgq_push(struct msgq *q, struct sampan_msg *m);
void msgq_clear(struct msgq *q);
void msgq_destroy(struct msgq *q);
/* Releases what a message owns: its entries and its snapshot chunk. */
void msg_release(struct sampan_msg *m);

/* ---- vec.c: a bounded array of plain structs ------------------------------
 */
struct vec {
    void *items;
    size_t n;
    size_t cap;
    size_t limit; /* at most this many items; vec_push fails past it */
    size_t size;  /* bytes per item */
};
void vec_init(struct vec *v, size_t size, size_t limit);
/* Appends a copy of *item. SAMPAN_EBUSY past the limit, SAMPAN_ENOMEM. */
int vec_push(struct vec *v, const void *item);
/* Hands the array to the caller (who frees it) and empties the vector. */
void *vec_take(struct vec *v, size_t *n);
void vec_destroy(struct vec *v);

/* ---- read_index.c ----------------------------------------------------------
 */
struct pending_read {
    uint64_t context;
    uint64_t from;  /* who asked: this node or a follower         */
    uint64_t index; /* read index, 0 until the leader has one      */
    uint64_t round; /* heartbeat round that must confirm it        */
};
#define READ_ROUND_TICKS 64 /* rounds whose send tick is remembered */

/* ---- the core ------------------------------------------------------------ */
/* Progress slots: this node, the members, and as many departing ones. */
#define PRS_MAX (2u * SAMPAN_MAX_MEMBERS + 1u)

struct sampan_raft {
    struct sampan_raft_config cfg;
    uint64_t id;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    enum sampan_role role;
    struct raft_log log;

    /* The configuration in effect: the last one in the log (thesis 4.1),
     * the entry that holds it (0: initial or snapshot configuration). */
    struct sampan_membership conf;
    uint64_t conf_index;
    uint64_t conf_term;

    /* One progress slot per member, this node always included (first
     * when it is a member), then departing members (leader only). */
    struct progress prs[PRS_MAX];
    size_t n_prs;

    /* Election state (Figure 2, "Candidates"), by progress slot. */
    bool votes_granted[PRS_MAX];
    bool votes_rejected[PRS_MAX];
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint64_t ticks; /* ticks since this core was created */
    uint32_t randomized_timeout;
    uint64_t prng;

    /* Leader: payload bytes appended but not yet committed. */
    uint64_t uncommitted_bytes;
    bool flush_pending; /* some progress has want_send set */

    struct msgq msgs;       /* may be sent at once            */
    struct msgq msgs_after; /* sent after this Ready persists */

    /* What the last Ready recorded as persisted. */
    struct sampan_hard_state prev_hs;

    /* Snapshots: our newest snapshot, a snapshot being received, and what
     * the next Ready must carry about them. */
    struct sampan_snapshot_meta snap;
    bool recv_active;
    struct sampan_snapshot_meta recv_meta;
    uint64_t recv_from;
    uint64_t recv_term; /* leader term the transfer belongs to */
    uint64_t recv_offset;
    struct vec snap_chunks; /* struct sampan_snapshot_chunk */
    struct vec snap_reads;  /* struct sampan_snapshot_read  */
    bool install_pending;
    struct sampan_snapshot_meta install;

    /* ReadIndex: requests awaiting confirmation, and confirmed ones. */
    struct vec reads;       /* struct pending_read */
    struct vec read_states; /* struct sampan_read_state */
    uint64_t hb_round;      /* heartbeat rounds broadcast in this term */
    uint64_t round_tick[READ_ROUND_TICKS];
    bool read_round_wanted;
    uint32_t boot_quiet; /* lease reads: ticks left refusing votes */

    /* Leadership transfer. */
    uint64_t transferee;
    uint32_t transfer_elapsed;
    /* A TIMEOUT_NOW went out in this term: its target may win an election
     * past leader stickiness at any time, even after the transfer was
     * abandoned, so lease reads stay off until the term ends. */
    bool timeout_now_in_term;

    /* The outstanding Ready, if any, and the arrays it owns. */
    bool ready_out;
    struct sampan_ready out;
};

/* raft.c */
void raft_become_follower(struct sampan_raft *r, uint64_t term,
                          uint64_t leader);
void raft_become_precandidate(struct sampan_raft *r);
void raft_become_candidate(struct sampan_raft *r);
void raft_become_leader(struct sampan_raft *r);
void raft_reset_election_timer(struct sampan_raft *r);
struct progress *raft_progress(struct sampan_raft *r, uint64_t id);
int raft_voter_slot(const struct sampan_raft *r, uint64_t id);
void raft_send(struct sampan_raft *r, struct sampan_msg *m, bool after_persist);

/* election.c */
void election_campaign(struct sampan_raft *r, bool pre_vote);
/* Campaigns at once without PreVote, marked as a transfer (TIMEOUT_NOW). */
void election_campaign_transfer(struct sampan_raft *r);
int election_on_vote_request(struct sampan_raft *r, const struct sampan_msg *m);
int election_on_vote_response(struct sampan_raft *r,
                              const struct sampan_msg *m);
bool election_in_lease(const struct sampan_raft *r);

/* replication.c */
void replication_flush(struct sampan_raft *r);
void replication_bcast_heartbeat(struct sampan_raft *r);
void replication_want_send_all(struct sampan_raft *r);
void replication_want_send(struct sampan_raft *r, struct progress *pr);
int replication_append_local(struct sampan_raft *r, uint8_t type,
                             const void *data, uint32_t len, uint64_t *index);
int replication_on_append(struct sampan_raft *r, const struct sampan_msg *m);
int replication_on_heartbeat(struct sampan_raft *r, const struct sampan_msg *m);
int replication_on_append_response(struct sampan_raft *r,
                                   const struct sampan_msg *m);
int replication_on_heartbeat_response(struct sampan_raft *r,
                                      const struct sampan_msg *m);
int replication_on_propose(struct sampan_raft *r, const struct sampan_msg *m);
bool replication_maybe_commit(struct sampan_raft *r);
void replication_hear_from_leader(struct sampan_raft *r,
                                  const struct sampan_msg *m);

/* read_index.c */
int read_index_request(struct sampan_raft *r, uint64_t context, uint64_t from);
void read_index_advance(struct sampan_raft *r);
void read_index_reset(struct sampan_raft *r);
int read_index_on_response(struct sampan_raft *r, const struct sampan_msg *m);
bool read_index_lease_valid(const struct sampan_raft *r);

/* transfer.c */
void transfer_maybe_send_timeout_now(struct sampan_raft *r,
                                     struct progress *pr);
void transfer_tick(struct sampan_raft *r);
int transfer_on_timeout_now(struct sampan_raft *r, const struct sampan_msg *m);

/* membership.c: putting configurations into effect */
/* Makes `c` (held by the entry at index/term, 0/0 for an initial or
 * snapshot configuration) the configuration in effect and rebuilds the
 * progress slots. May move slots: no progress pointer survives it. */
int membership_set(struct sampan_raft *r, const struct sampan_membership *c,
                   uint64_t index, uint64_t term);
/* After entries from index `first` on were written into the log (perhaps
 * replacing others): the configuration in effect is the last one in the
 * log again. */
int membership_on_log_change(struct sampan_raft *r, uint64_t first);
/* Leader housekeeping once something committed or time passed: leave a
 * committed joint configuration, promote caught-up learners, step down
 * once its own removal committed, forget departed members. May move
 * slots or change role. */
void membership_leader_check(struct sampan_raft *r);
/* Drops departing slots (leadership ended). */
void membership_drop_departing(struct sampan_raft *r);
bool membership_self_is_voter(const struct sampan_raft *r);
/* Whether this node may start an election: a voter of its latest
 * configuration, or of the committed one while a later one that removes
 * it is not committed yet (thesis 4.2.2). */
bool membership_may_campaign(const struct sampan_raft *r);

/* snapshot.c */
void snapshot_start_send(struct sampan_raft *r, struct progress *pr);
int snapshot_on_chunk(struct sampan_raft *r, const struct sampan_msg *m);
int snapshot_on_response(struct sampan_raft *r, const struct sampan_msg *m);
void snapshot_on_heartbeat_response(struct sampan_raft *r, struct progress *pr);

/* validate.c */
int validate_config(const struct sampan_raft_config *cfg);
int validate_boot(const struct sampan_boot *boot);
int validate_msg(const struct sampan_raft *r, const struct sampan_msg *m);

#endif
