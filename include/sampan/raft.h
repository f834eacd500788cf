/* sampan/raft.h: the public API of sampan's Raft consensus core.
 *
 * The core is a pure, deterministic state machine in the style of etcd's
 * RawNode. It performs no I/O, reads no clock, starts no thread, and its only
 * randomness comes from a PRNG seeded through the configuration, so a run is a
 * function of its inputs. The caller owns the loop:
 *
 *     sampan_raft_tick(r);                 one logical clock tick
 *     sampan_raft_step(r, &msg);           a message from a peer
 *     sampan_raft_propose(r, data, len);   a new command
 *     if (sampan_raft_has_ready(r)) {
 *         struct sampan_ready rd;
 *         sampan_raft_ready(r, &rd);
 *         1. send rd.messages           (may go out at once, before step 2)
 *         2. persist rd.hard_state and rd.entries, durably (fdatasync)
 *         3. send rd.persisted_messages (only after step 2 is durable)
 *         4. apply rd.committed in order
 *         sampan_raft_advance(r, &rd);   acknowledges durability by index
 *     }
 *
 * step / tick / propose may be called between sampan_raft_ready() and
 * sampan_raft_advance() (for example while a write is in flight); at most one
 * Ready may be outstanding at a time.
 *
 * Ownership, in general: the core never keeps a pointer the caller passed
 * in (it copies what it keeps), and everything a Ready points to is owned by
 * the core and stays valid until the matching sampan_raft_advance() or
 * sampan_raft_free(), whichever comes first.
 */
#ifndef SAMPAN_RAFT_H
#define SAMPAN_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node ids are non-zero; 0 means "none" (no vote, no known leader). */
#define SAMPAN_NONE 0u

/* Hard limits on what a configuration may ask for. */
#define SAMPAN_MAX_VOTERS 16u
/* Members of one configuration: voters, outgoing voters (joint) and
 * learners together. */
#define SAMPAN_MAX_MEMBERS 16u
/* A member's address (opaque to the core, for the caller's transport),
 * including its terminating NUL. */
#define SAMPAN_ADDR_MAX 64u
/* Terms above this are refused in messages and boot state, so the term can
 * never wrap around (Figure 2: terms only increase). No real cluster gets
 * near it: a new term every microsecond would take 146,000 years. */
#define SAMPAN_MAX_TERM (UINT64_C(1) << 62)
/* Likewise for log indexes: boot state and messages beyond it are refused,
 * so index arithmetic can never wrap. */
#define SAMPAN_MAX_INDEX (UINT64_C(1) << 62)
/* Bytes each entry is charged beyond its payload when sizing messages
 * (max_msg_bytes) and inflight windows (max_inflight_bytes): its framing
 * on the wire, so a run of empty entries is bounded too. */
#define SAMPAN_ENTRY_OVERHEAD 24u

/* Kind of a log entry. */
enum sampan_entry_type {
    SAMPAN_ENTRY_NORMAL = 1, /* an application command (may be empty) */
    SAMPAN_ENTRY_NOOP = 2,   /* appended by a new leader (section 8)   */
    /* A new configuration (section 6 / thesis chapter 4): the payload is a
     * struct sampan_membership in sampan_membership_encode()'s format. It
     * takes effect on every node as soon as it is in the node's log, and
     * is undone if a conflicting leader truncates it away. */
    SAMPAN_ENTRY_CONF = 3,
};

/* True for the entry types above (what storage and peers may carry). */
bool sampan_entry_type_known(uint8_t type);

/* One log entry. In a Ready, `data` is owned by the core (see file header).
 * When passed into the core (step, boot), `data` is borrowed and copied. */
struct sampan_entry {
    uint64_t term;  /* term of the leader that created it           */
    uint64_t index; /* position in the log, >= 1                    */
    uint8_t type;   /* enum sampan_entry_type                       */
    uint32_t len;   /* payload length in bytes                      */
    uint8_t *data;  /* payload, `len` bytes; NULL when len == 0     */
};

/* The state that must be durable before votes or acknowledgements that depend
 * on it are sent (Figure 2, "Persistent state on all servers"). */
struct sampan_hard_state {
    uint64_t term; /* currentTerm                               */
    uint64_t vote; /* votedFor in `term`, or SAMPAN_NONE        */
};

/* A member's address, carried with the configuration so every node (and a
 * node restored from a snapshot) knows where the others are. */
struct sampan_member_addr {
    uint64_t id;
    char addr[SAMPAN_ADDR_MAX]; /* NUL-terminated */
};

/* A configuration. Fixed-size so it can be embedded and copied.
 *   voters:   who votes and whose acknowledgements commit entries.
 *   outgoing: non-empty only in a joint configuration (thesis section 4.3):
 *             the previous voters. Elections and commitment then need a
 *             majority of `voters` AND a majority of `outgoing`.
 *   learners: receive the log but never vote or count toward a majority.
 *             Bit i of learners_promote marks learners[i] to be promoted to
 *             voter by the leader once it has caught up.
 *   addrs:    optional addresses of members (opaque to the core).
 * Ids are non-zero, distinct within each list, learners are neither voters
 * nor outgoing voters, and all the members together number at most
 * SAMPAN_MAX_MEMBERS. A node's initial configuration may be empty: a node
 * that joins an existing cluster learns its configuration from the
 * leader. */
struct sampan_membership {
    uint32_t n_voters;
    uint64_t voters[SAMPAN_MAX_VOTERS];
    uint32_t n_outgoing;
    uint64_t outgoing[SAMPAN_MAX_VOTERS];
    uint32_t n_learners;
    uint64_t learners[SAMPAN_MAX_MEMBERS];
    uint32_t learners_promote;
    uint32_t n_addrs;
    struct sampan_member_addr addrs[SAMPAN_MAX_MEMBERS];
};

/* The largest encoding of a membership (sampan_membership_encode). */
#define SAMPAN_MEMBERSHIP_MAX_BYTES                                            \
    (12u + 8u * (2u * SAMPAN_MAX_VOTERS + SAMPAN_MAX_MEMBERS) +                \
     SAMPAN_MAX_MEMBERS * (9u + SAMPAN_ADDR_MAX))

/* Encodes `m` into out[0..cap) (the format of SAMPAN_ENTRY_CONF payloads,
 * of snapshot headers and of snapshot messages; docs/disk-format.md) and
 * sets *len. Errors: SAMPAN_EINVAL (m is not a valid membership),
 * SAMPAN_ETOOBIG (cap too small). */
int sampan_membership_encode(const struct sampan_membership *m, uint8_t *out,
                             size_t cap, size_t *len);
/* Decodes and validates buf[0..len) into *m. Returns 0 or SAMPAN_EINVAL,
 * with *why (if non-NULL) set to a static string naming what was wrong. */
int sampan_membership_decode(const uint8_t *buf, size_t len,
                             struct sampan_membership *m, const char **why);
/* 0 if `m` obeys the rules above (an empty one included), else
 * SAMPAN_EINVAL with *why (if non-NULL) naming the broken rule. */
int sampan_membership_validate(const struct sampan_membership *m,
                               const char **why);
/* True if `id` is a voter or an outgoing voter / a learner. */
bool sampan_membership_is_voter(const struct sampan_membership *m, uint64_t id);
bool sampan_membership_is_learner(const struct sampan_membership *m,
                                  uint64_t id);
/* True if `id` is a voter, an outgoing voter or a learner. */
bool sampan_membership_is_member(const struct sampan_membership *m,
                                 uint64_t id);
/* Room for the ids of every list of a membership, repeats included. */
#define SAMPAN_MEMBERSHIP_LISTED_MAX                                           \
    (2u * SAMPAN_MAX_VOTERS + SAMPAN_MAX_MEMBERS)
/* Fills ids[] (caller's array) with every member once: voters, then
 * outgoing voters, then learners; returns how many. */
uint32_t sampan_membership_ids(const struct sampan_membership *m,
                               uint64_t ids[SAMPAN_MEMBERSHIP_LISTED_MAX]);
/* The address recorded for `id`, or NULL (points into m). */
const char *sampan_membership_addr(const struct sampan_membership *m,
                                   uint64_t id);

/* One change to the membership (sampan_raft_change_membership). */
enum sampan_conf_change_type {
    /* Make `id` a voter. A learner that has caught up is promoted at once;
     * a non-member (or a learner still behind) first joins as a learner
     * marked for promotion, and the leader promotes it once it is within
     * promote_lag_entries of the log, so adding a node never stalls
     * commits while it catches up. */
    SAMPAN_CONF_ADD_VOTER = 1,
    /* Make `id` a learner: add a non-member, or demote a voter. */
    SAMPAN_CONF_ADD_LEARNER = 2,
    /* Remove `id` (voter or learner), the leader itself included: a
     * leader that removes itself keeps leading without counting itself
     * until the change commits, then steps down (thesis section 4.2.2). */
    SAMPAN_CONF_REMOVE = 3,
};
struct sampan_conf_change {
    uint8_t type; /* enum sampan_conf_change_type */
    uint64_t id;
    const char *addr; /* ADD_*: the member's address, or NULL (borrowed) */
};

enum sampan_msg_type {
    SAMPAN_MSG_PREVOTE = 1,      /* PreVote request (thesis section 9.6)     */
    SAMPAN_MSG_PREVOTE_RESP = 2, /*                                          */
    SAMPAN_MSG_VOTE = 3,         /* RequestVote (Figure 2)                   */
    SAMPAN_MSG_VOTE_RESP = 4,    /*                                          */
    SAMPAN_MSG_APPEND = 5,       /* AppendEntries carrying entries (Fig. 2)  */
    SAMPAN_MSG_APPEND_RESP = 6,  /*                                          */
    SAMPAN_MSG_HEARTBEAT = 7,    /* AppendEntries without entries            */
    SAMPAN_MSG_HEARTBEAT_RESP = 8,
    SAMPAN_MSG_PROPOSE = 9,      /* a proposal forwarded by a follower       */
    SAMPAN_MSG_TIMEOUT_NOW = 10, /* leadership transfer: campaign now        */
    SAMPAN_MSG_READ_INDEX = 11,  /* a read request forwarded to the leader   */
    SAMPAN_MSG_READ_INDEX_RESP = 12,
    SAMPAN_MSG_SNAPSHOT = 13,      /* one chunk of a snapshot (section 7)   */
    SAMPAN_MSG_SNAPSHOT_RESP = 14, /*                                        */
    SAMPAN_MSG_TYPE_MAX = 14
};

/* VOTE context value: the campaign follows a leadership transfer
 * (TIMEOUT_NOW), so voters set leader stickiness aside (thesis 3.10). */
#define SAMPAN_CAMPAIGN_TRANSFER 1u

/* What a snapshot covers: the log up to and including `index`, whose entry
 * had `term`, and the membership in effect at that index. */
struct sampan_snapshot_meta {
    uint64_t index;
    uint64_t term;
    struct sampan_membership conf;
};

/* A message between two cores. Field meaning by type:
 *   PREVOTE/VOTE:      term = proposed term; index/log_term = candidate's last
 *                      log index and term (5.4.1).
 *   *_RESP (votes):    reject = vote denied.
 *   APPEND:            index/log_term = prevLogIndex/prevLogTerm; entries;
 *                      commit = leaderCommit.
 *   APPEND_RESP:       reject = false: index = highest index known to match.
 *                      reject = true:  index = the rejected prevLogIndex,
 *                      hint_index/hint_term = conflict hint (fast backtracking:
 *                      the follower's last index <= index, with its term).
 *   HEARTBEAT:         commit = min(leaderCommit, follower's match index);
 *                      context = read barrier id (ReadIndex), may be 0.
 *   HEARTBEAT_RESP:    context echoed.
 *   PROPOSE:           entries = commands to append (term/index ignored).
 *   READ_INDEX(_RESP): context = caller's request id; index = read index.
 *   TIMEOUT_NOW:       the leader asks the receiver to campaign at once.
 *   SNAPSHOT:          snapshot = what it covers; offset/data/len = one chunk
 *                      of its bytes; done = this is the last chunk.
 *   SNAPSHOT_RESP:     index = snapshot index; offset = the next byte offset
 *                      the follower expects; done = installed (then index is
 *                      the follower's new match); reject = not accepted.
 * When passed to sampan_raft_step() the message and its entries are borrowed
 * for the duration of the call only. In a Ready they are owned by the core. */
struct sampan_msg {
    uint8_t type; /* enum sampan_msg_type                         */
    bool reject;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t log_term;
    uint64_t index;
    uint64_t commit;
    uint64_t hint_index;
    uint64_t hint_term;
    uint64_t context;
    size_t n_entries;
    struct sampan_entry *entries;
    /* SNAPSHOT / SNAPSHOT_RESP only. */
    struct sampan_snapshot_meta snapshot;
    uint64_t offset;
    uint32_t len;
    uint8_t *data;
    bool done;
};

/* A chunk of a snapshot received from the leader, to be written durably at
 * `offset` of the snapshot file for (meta.index, meta.term). offset 0 starts
 * a new file (discarding any partial one). */
struct sampan_snapshot_chunk {
    struct sampan_snapshot_meta meta;
    uint64_t offset;
    uint32_t len;
    uint8_t *data;
    bool done; /* the last chunk: the snapshot is complete once durable */
};

/* A request from the leader's core for bytes of its own snapshot, to send
 * to follower `to`: answer with sampan_raft_snapshot_chunk() (or
 * sampan_raft_snapshot_failed() when it cannot be read). */
struct sampan_snapshot_read {
    uint64_t to;
    uint64_t index; /* which snapshot                */
    uint64_t offset;
    uint32_t max_len; /* read at most this many bytes */
};

/* A read that is now safe to serve once the state machine has applied up
 * to `index` (ReadIndex, thesis section 6.4). */
struct sampan_read_state {
    uint64_t context; /* the caller's request id                  */
    uint64_t index;   /* serve after applying at least this index */
};

enum sampan_role {
    SAMPAN_FOLLOWER = 0,
    SAMPAN_PRECANDIDATE = 1,
    SAMPAN_CANDIDATE = 2,
    SAMPAN_LEADER = 3,
};

/* Everything the caller must do next, handed out by sampan_raft_ready().
 * All pointers are owned by the core and valid until sampan_raft_advance(). */
struct sampan_ready {
    bool hard_state_changed;             /* persist `hard_state`            */
    struct sampan_hard_state hard_state; /* valid when hard_state_changed   */
    /* Entries to append durably. If entries[0].index is <= the last index
     * already persisted, the storage first discards its entries from
     * entries[0].index on (a conflicting suffix, section 5.3). */
    size_t n_entries;
    struct sampan_entry *entries;
    /* Messages that may be sent at once, even before the writes above are
     * durable (a leader's AppendEntries: thesis section 10.2.1). */
    size_t n_messages;
    struct sampan_msg *messages;
    /* Messages that may be sent only after the writes above are durable
     * (votes, acknowledgements: Figure 2 "respond after persisting"). */
    size_t n_persisted_messages;
    struct sampan_msg *persisted_messages;
    /* Committed entries to apply in order. Every one of them is durable
     * locally once this Ready's writes are. */
    size_t n_committed;
    struct sampan_entry *committed;
    /* Reads that became safe (see struct sampan_read_state). */
    size_t n_read_states;
    struct sampan_read_state *read_states;
    /* Snapshot chunks received, to write durably with the entries. */
    size_t n_snapshot_chunks;
    struct sampan_snapshot_chunk *snapshot_chunks;
    /* Set when a received snapshot was completed: once this Ready's writes
     * are durable, the storage makes it the base of the log (dropping every
     * log entry) and the state machine restores from it BEFORE applying
     * `committed`, which then continues at snapshot.index + 1. */
    bool has_snapshot;
    struct sampan_snapshot_meta snapshot;
    /* Bytes of our own snapshot the core wants to send to followers. */
    size_t n_snapshot_reads;
    struct sampan_snapshot_read *snapshot_reads;
};

/* Configuration. Times are in ticks; the caller decides how long one is. */
struct sampan_raft_config {
    uint64_t id; /* this node, non-zero                      */
    /* The initial configuration, used only when the log and snapshot hold
     * none (a brand-new cluster). It contains `id`, or is empty for a node
     * joining an existing cluster. */
    struct sampan_membership members;
    uint32_t election_ticks;  /* base election timeout; the actual one is
                                 random in [election_ticks, 2*election_ticks) */
    uint32_t heartbeat_ticks; /* leader heartbeat interval, < election_ticks  */
    uint64_t seed;            /* PRNG seed (timeouts)                         */
    bool disable_pre_vote;    /* PreVote is on unless this is set            */
    bool disable_check_quorum; /* CheckQuorum is on unless this is set        */
    uint32_t max_inflight_msgs; /* per follower, in AppendEntries messages */
    /* Sizes count each entry's payload plus SAMPAN_ENTRY_OVERHEAD. */
    uint64_t max_inflight_bytes; /* per follower, entry bytes in flight     */
    uint64_t max_msg_bytes;      /* entry bytes per AppendEntries           */
    uint64_t max_uncommitted_bytes; /* leader refuses proposals past this */
    uint64_t max_entry_bytes;      /* largest single command                  */
    uint32_t max_ready_msgs;       /* bound on messages queued per Ready      */
    uint32_t snapshot_trailing;    /* entries kept behind a compaction point */
    uint32_t snapshot_chunk_bytes; /* largest snapshot chunk in a message    */
    uint32_t max_pending_reads;    /* ReadIndex requests queued at most      */
    /* A learner marked for promotion becomes a voter once its log is
     * within this many entries of the leader's. */
    uint32_t promote_lag_entries;
    /* Lease-based reads (thesis section 6.4.1): the leader answers reads
     * without a heartbeat round while a majority acknowledged a heartbeat
     * sent less than election_ticks - lease_margin_ticks ago. Sound only
     * if no node's clock runs more than lease_margin_ticks per election
     * timeout slower than another's; requires CheckQuorum. Off by default:
     * the default confirms each batch of reads with a heartbeat round. */
    bool lease_reads;
    uint32_t lease_margin_ticks;
};

/* Fills `cfg` with defaults (PreVote and CheckQuorum on, election 10 ticks,
 * heartbeat 1 tick, 256 inflight messages, 1 MiB per message, 64 MiB
 * uncommitted, 16 MiB per entry, 1 MiB snapshot chunks, 0 trailing entries,
 * 4096 pending reads, no lease reads, promotion within 100 entries). The
 * caller still sets id and members. */
void sampan_raft_config_default(struct sampan_raft_config *cfg);

/* What a node recovered from its storage. All pointers are borrowed for the
 * duration of sampan_raft_new() only; the core copies what it keeps. */
struct sampan_boot {
    struct sampan_hard_state hard_state;
    uint64_t snapshot_index; /* log starts after this (0: no snapshot)  */
    uint64_t snapshot_term;
    /* The configuration in effect at snapshot_index (ignored when
     * snapshot_index is 0). The configuration in effect at boot is that of
     * the last SAMPAN_ENTRY_CONF entry, else this one, else cfg->members. */
    struct sampan_membership snapshot_conf;
    size_t n_entries; /* entries snapshot_index+1 ...          */
    const struct sampan_entry *entries;
};

struct sampan_raft;

/* Creates a core. `boot` may be NULL for a brand-new node. On success *out
 * is a new core owned by the caller (free with sampan_raft_free). Errors:
 * SAMPAN_EINVAL (bad config or inconsistent boot state), SAMPAN_ENOMEM. */
int sampan_raft_new(const struct sampan_raft_config *cfg,
                    const struct sampan_boot *boot, struct sampan_raft **out);

/* Frees the core and everything it owns, including an outstanding Ready.
 * NULL is allowed. */
void sampan_raft_free(struct sampan_raft *r);

/* Advances the logical clock by one tick. */
void sampan_raft_tick(struct sampan_raft *r);

/* Feeds one message from a peer. The message is borrowed for the call.
 * Returns 0, or SAMPAN_EINVAL for a malformed or impossible message (unknown
 * type, sender not a member, addressed to another node, indexes that do not
 * fit the terms), SAMPAN_ENOTMEMBER, SAMPAN_ENOMEM. A rejected message leaves
 * the core unchanged. */
int sampan_raft_step(struct sampan_raft *r, const struct sampan_msg *m);

/* Proposes a command (`data` borrowed, copied). On the leader the entry is
 * appended and *index (if non-NULL) is set to its index; on a follower it is
 * forwarded to the known leader and *index is set to 0 (the caller learns the
 * outcome by applying). Errors: SAMPAN_ENOLEADER (no leader known),
 * SAMPAN_ETOOBIG (entry over max_entry_bytes), SAMPAN_EBUSY (uncommitted
 * bytes over max_uncommitted_bytes), SAMPAN_ETRANSFER (leadership transfer in
 * progress), SAMPAN_ENOMEM. */
int sampan_raft_propose(struct sampan_raft *r, const void *data, size_t len,
                        uint64_t *index);

/* Requests a linearizable read (ReadIndex, thesis section 6.4). `context` is
 * the caller's id for the request. When it is safe, a Ready carries
 * {context, index} in read_states: serve the read once the state machine
 * has applied `index`. On a follower the request goes to the leader. A
 * request may be lost (leader change, message loss): the caller times out
 * and retries. Errors: SAMPAN_ENOLEADER, SAMPAN_EBUSY (max_pending_reads
 * requests queued). */
int sampan_raft_read_index(struct sampan_raft *r, uint64_t context);

/* Asks the leader to hand leadership to voter `target` (thesis 3.10): it
 * refuses proposals (SAMPAN_ETRANSFER) while it brings the target up to
 * date and sends it TIMEOUT_NOW; the attempt is abandoned after an election
 * timeout. Errors: SAMPAN_ENOTLEADER, SAMPAN_EINVAL (target is this node),
 * SAMPAN_ENOTMEMBER (target is not a voter). */
int sampan_raft_transfer_leader(struct sampan_raft *r, uint64_t target);

/* Proposes a membership change (thesis chapter 4). On the leader only.
 * `changes` (borrowed) are applied together: if they change the set of
 * voters by at most one member, the new configuration is entered directly
 * (the single-server change); otherwise a joint configuration is entered,
 * and the leader leaves it by itself once it commits. Only one change may
 * be pending at a time, and none before the leader has committed an entry
 * of its own term. *index (if non-NULL) gets the configuration entry's
 * index; the change is done when that entry is committed. Errors:
 * SAMPAN_ENOTLEADER; SAMPAN_EBUSY (a change is pending, the leader has
 * not committed in its term, a transfer is under way, or a change of
 * several members would remove voters while a member it makes a voter has
 * not caught up yet: add that one as a learner first); SAMPAN_ENOTMEMBER
 * (removing a non-member); SAMPAN_EINVAL (no voter would remain, too many
 * members, a demotion inside a joint change, a bad address, nothing
 * changes); SAMPAN_ENOMEM. */
int sampan_raft_change_membership(struct sampan_raft *r,
                                  const struct sampan_conf_change *changes,
                                  size_t n, uint64_t *index);

/* The configuration in effect (the last one in the log; section 4.1 of the
 * thesis), owned by the core and valid until the next call that changes
 * the log. *index (if non-NULL) gets the index of its entry (0: from the
 * initial configuration or a snapshot). */
const struct sampan_membership *
sampan_raft_membership(const struct sampan_raft *r, uint64_t *index);

/* The configuration in effect at log index `index` (for a snapshot's
 * metadata). Errors: SAMPAN_ECOMPACTED (before the newest snapshot),
 * SAMPAN_EUNAVAIL (past the last index, or not known here: a node that
 * joined with an empty configuration does not know the cluster's initial
 * one, in effect before the first configuration entry of its log, so it
 * cannot snapshot or compact there; sampan_raft_compact fails alike). */
int sampan_raft_conf_at(const struct sampan_raft *r, uint64_t index,
                        struct sampan_membership *out);

/* The leader's replication progress of member `id`: *match is the highest
 * index known to be durable there. Errors: SAMPAN_ENOTLEADER,
 * SAMPAN_ENOTMEMBER. */
int sampan_raft_member_match(const struct sampan_raft *r, uint64_t id,
                             uint64_t *match);

/* Tells the core that the application's state up to `index` (<= applied)
 * is captured in a durable snapshot. The core keeps its metadata (to send
 * the snapshot to lagging followers) and frees log entries up to
 * index - snapshot_trailing. Errors: SAMPAN_EINVAL (index beyond applied),
 * SAMPAN_ECOMPACTED (index not past the previous snapshot). */
int sampan_raft_compact(struct sampan_raft *r, uint64_t index);

/* Answers a sampan_snapshot_read: `len` bytes (<= max_len) of snapshot
 * `index` at `offset` for follower `to`; `done` when they end the snapshot.
 * `data` is borrowed and copied. A chunk that no longer fits the transfer
 * (the follower moved on, leadership changed) is ignored. */
int sampan_raft_snapshot_chunk(struct sampan_raft *r, uint64_t to,
                               uint64_t index, uint64_t offset,
                               const void *data, size_t len, bool done);

/* The snapshot for `to` could not be read: the transfer is abandoned and
 * retried later, from the newest snapshot. */
int sampan_raft_snapshot_failed(struct sampan_raft *r, uint64_t to);

/* Starts an election now, as if the election timer had fired. */
int sampan_raft_campaign(struct sampan_raft *r);

/* True when sampan_raft_ready() would hand out work. */
bool sampan_raft_has_ready(const struct sampan_raft *r);

/* Hands out the pending work. Returns SAMPAN_ESTATE when a previous Ready has
 * not been advanced. `rd` is filled; its pointers belong to the core. */
int sampan_raft_ready(struct sampan_raft *r, struct sampan_ready *rd);

/* Acknowledges that everything in `rd` was persisted, sent and applied as
 * described above. Entries up to rd's last entry count as durable here from
 * now on (unless a later conflict replaced them meanwhile). */
int sampan_raft_advance(struct sampan_raft *r, const struct sampan_ready *rd);

/* While a Ready's writes are in flight (between sampan_raft_ready() and
 * sampan_raft_advance()), hands out the messages queued since that need
 * nothing durable: heartbeats, a leader's AppendEntries for entries
 * proposed meanwhile, a ReadIndex round for reads queued meanwhile, the
 * answers to heartbeats. A driver that writes on another thread sends
 * them at once, so a slow fdatasync never silences a leader long enough
 * for its followers to elect another, and the leader replicates while its
 * own write is in flight (thesis 10.2.1). Messages that claim durability
 * (votes, acknowledgements of entries) stay queued for the Ready after
 * the one in flight (Figure 2: respond only after persisting). On success
 * *msgs (possibly NULL when *n is 0) is owned by the caller, who releases
 * it with sampan_raft_messages_free(). Errors: SAMPAN_ESTATE when no Ready
 * is outstanding (sampan_raft_ready() hands these out then). */
int sampan_raft_take_messages(struct sampan_raft *r, struct sampan_msg **msgs,
                              size_t *n);
void sampan_raft_messages_free(struct sampan_msg *msgs, size_t n);

/* Read-only inspection, for drivers, tests and status pages. */
struct sampan_status {
    uint64_t id;
    enum sampan_role role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;     /* known leader or SAMPAN_NONE                  */
    uint64_t commit;     /* commit index                                  */
    uint64_t applied;    /* highest index handed out in a Ready           */
    uint64_t last_index; /* last log index                                */
    uint64_t last_term;
    uint64_t first_index;    /* first index held in memory                   */
    uint64_t stable_index;   /* last index acknowledged durable               */
    uint64_t snapshot_index; /* index of the newest snapshot (0: none)    */
    uint64_t lead_transferee; /* leadership transfer target, or 0        */
    uint64_t conf_index; /* entry of the configuration in effect (0: initial) */
    uint64_t log_bytes;  /* payload bytes held in the in-memory log     */
    /* Memory the in-memory log holds: payloads, their headers and the
     * entry array (what compaction frees). */
    uint64_t log_mem_bytes;
};
void sampan_raft_status(const struct sampan_raft *r, struct sampan_status *st);

/* Term of the entry at `index` into *term. Errors: SAMPAN_ECOMPACTED,
 * SAMPAN_EUNAVAIL. Index 0 (and the snapshot index) are answerable. */
int sampan_raft_term_at(const struct sampan_raft *r, uint64_t index,
                        uint64_t *term);

/* Pointer to the entry at `index`, owned by the core and valid until the next
 * call that changes the log. NULL when not held. */
const struct sampan_entry *sampan_raft_entry_at(const struct sampan_raft *r,
                                                uint64_t index);

/* Human-readable names, static strings. */
const char *sampan_msg_type_name(int type);
const char *sampan_role_name(enum sampan_role role);

#ifdef __cplusplus
}
#endif

#endif
