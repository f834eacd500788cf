/* sim/sim.h: the deterministic simulator's API. Virtual time in microseconds,
 * N nodes each running the real Raft core over a simulated disk (writes are
 * lost on crash until their fsync completes) and a simulated network (delay,
 * drop, duplicate, reorder, disconnect, partitions, one-way link cuts). Every
 * event is drawn from one PRNG, so a run is a function of its seed. The Raft
 * invariants are checked after every event (check.c); a violation, like any
 * failed assertion of a scenario, aborts the run through sim_fail(). */
#ifndef SAMPAN_SIM_H
#define SAMPAN_SIM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sampan/raft.h"

/* Ids are never reused: a node added later takes the next free id, so
 * membership changes (members.c) can create up to this many in one run. */
#define SIM_MAX_NODES 16
#define SIM_MS 1000ull
#define SIM_SEC 1000000ull

/* Node ids are 1..n; arrays below are indexed by id. Nodes 1..n of
 * sim_new() start as the voters of the initial configuration; nodes added
 * later (sim_add_node) start with an empty one and learn theirs from the
 * leader. */

/* A snapshot of the simulated state machine: for every index up to
 * meta.index, its (term, entry hash, command hash), 24 bytes each. */
struct sim_snapshot {
    struct sampan_snapshot_meta meta; /* meta.index 0: none */
    uint8_t *data;                    /* owned */
    size_t len;
};

/* What a node's storage acknowledged as durable, index by index: the
 * simulator's record of every write whose persist() returned success. A
 * restart must recover all of it (no acknowledged write lost). */
struct sim_durable {
    struct sampan_hard_state hs;
    uint64_t snap_index;    /* newest snapshot saved or installed        */
    uint64_t install_index; /* newest installed: entries up to it are
                               only in that snapshot                   */
    uint64_t *term;         /* [index] for entries 1..last */
    uint32_t *len;
    size_t cap;
    uint64_t last;
    /* The batch being persisted when the node stopped, if any: after the
     * crash it may have landed whole or not at all (batches are atomic on
     * replay); term/vote likewise. */
    bool pending;
    struct sampan_ready pending_rd; /* shallow: only the fields below */
    uint64_t pending_first;
    size_t pending_n;
    uint64_t *pending_term; /* [k] for index pending_first + k */
    uint32_t *pending_len;
};

/* What a node has applied, index by index (1-based; [0] unused). */
struct sim_applied {
    uint64_t *hash;  /* hash of the command's bytes, 0 = not applied */
    uint64_t *ehash; /* hash of the whole entry (type and bytes)      */
    uint64_t *term;
    size_t cap;
    uint64_t last; /* last applied index */
};

struct vfs_sim;
struct sampan_node;
struct sim;

struct sim_node {
    uint64_t id;
    struct sim *sim; /* back pointer for the node's io callbacks */
    bool up;
    bool joining;         /* booted with an empty configuration (added later) */
    bool retired;         /* removed from the cluster: never runs again       */
    bool was_member;      /* listed in some committed configuration        */
    uint64_t incarnation; /* bumped on crash: stale events are dropped */
    struct sampan_node *node;
    const struct sampan_raft *raft; /* the node's core, while up */
    struct vfs_sim *disk;
    struct sim_durable durable;
    bool process_pending;  /* an EV_PROCESS is queued for this instant */
    bool booting;          /* restores during boot are not installs */
    char stop_reason[512]; /* why it last stopped or failed to boot */
    /* Per-index prefix hashes of the log as written (Log Matching). */
    uint64_t *prefix;
    size_t prefix_cap;
    uint64_t prefix_last;
    struct sim_applied applied;
    uint64_t commit_seen; /* highest commit index fed to the checker */
    enum sampan_role last_role;
    uint64_t last_term;
    uint64_t msgs_sent;
    uint64_t bytes_sent;
    uint64_t tick_phase;
    uint64_t write_stall_until; /* writes finish no earlier than this */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    uint64_t fail_stops; /* times the node stopped on a storage error */
    uint64_t repairs;    /* restarts whose recovery repaired a torn tail */
    char repaired[256];  /* what the last such recovery said            */
};

/* A linearizable read issued through sim_read(). */
struct sim_read {
    uint64_t node;
    uint64_t incarnation;
    uint64_t required; /* highest index known committed when issued */
    uint64_t index;    /* read index the core answered, 0 = none yet */
    bool served;       /* applied up to index: the read was served   */
    uint64_t served_at;
};

struct sim_event;

struct sim_net {
    bool reliable;         /* false: delays 0-27 ms, 10% drops each way  */
    bool long_reordering;  /* two thirds of replies delayed 200-2200 ms  */
    uint32_t dup_permille; /* duplicate this many messages per 1000     */
    bool connected[SIM_MAX_NODES + 1];
    bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* directed from->to */
};

struct sim_committed {
    uint64_t *term; /* per index; 0 = not known committed */
    uint64_t *hash;
    /* The lowest term a node was in when it saw the entry committed: an
     * upper bound of the term it was committed in. */
    uint64_t *commit_term;
    size_t cap;
    uint64_t max; /* highest index known committed */
};

/* A committed configuration as the checker saw it: its entry's index and
 * its members as bitmaps of ids (bit id). */
#define SIM_CONF_HISTORY 64
struct sim_conf_seen {
    uint64_t index;
    uint32_t voters;
    uint32_t outgoing;
    uint32_t learners;
};

struct sim {
    uint64_t seed;
    uint64_t rng;
    uint64_t now;
    uint64_t seq;
    int n;
    struct sim_node nodes[SIM_MAX_NODES + 1];
    struct sim_net net;
    struct sampan_raft_config base_cfg; /* id/members filled per node */
    uint64_t tick_us;
    uint32_t snapshot_every; /* state machine snapshots every N applied */
    uint64_t segment_bytes;  /* WAL segment size on the simulated disks  */
    bool tear_on_crash;      /* crashes tear unsynced writes by sector   */
    /* Writes go through sampan_node_io.submit_write, as the server's: with
     * 0 each runs at once (no time passes), otherwise on the side, each
     * finishing 0..max µs later while the node goes on ticking, stepping
     * and sending (and no earlier than its write_stall_until). */
    uint64_t write_latency_max_us;
    struct sim_read *reads; /* [context - 1] */
    size_t n_reads;
    size_t cap_reads;
    uint64_t reads_served;
    /* Event queue: a binary heap ordered by (time, seq). */
    struct sim_event **heap;
    struct sim_event *current; /* being processed; freed if a run fails */
    size_t heap_n;
    size_t heap_cap;
    /* Checker state (check.c). */
    uint64_t *leader_of_term; /* [term] = id of its leader, 0 = none */
    /* The newest configuration known committed (from committed CONF
     * entries and restored snapshots), and its index: what durability is
     * checked against. Starts as the initial configuration. */
    struct sampan_membership committed_conf;
    uint64_t committed_conf_index;
    /* The configurations seen committed, in order (the first
     * SIM_CONF_HISTORY), for scenarios to inspect. */
    struct sim_conf_seen conf_seen[SIM_CONF_HISTORY];
    size_t n_conf_seen;
    size_t leader_of_term_cap;
    struct sim_committed committed;
    struct sim_logmap *logmap; /* (index, term) -> prefix hash */
    /* Counters. */
    uint64_t msgs_total;
    uint64_t bytes_total;
    uint64_t events;
    uint64_t trace_hash; /* rolling hash of every event: determinism */
    FILE *trace;         /* non-NULL: print a readable trace here */
    /* Failure handling. */
    jmp_buf *fail_jmp;
    char fail_msg[512];
};

/* ---- lifecycle (sim.c) ----------------------------------------------------
 */
/* Creates a simulation of n nodes (1..SIM_MAX_NODES), all up and connected,
 * on a reliable network. The result is owned by the caller (sim_free). */
/* `tweak`, when non-NULL, adjusts the nodes' core configuration (for
 * example to turn PreVote off) before they boot. */
typedef void sim_tweak_fn(struct sampan_raft_config *cfg);
struct sim *sim_new(int n, uint64_t seed, sim_tweak_fn *tweak);
void sim_free(struct sim *s);
/* Aborts the run: records the message and longjmps to s->fail_jmp. */
void sim_fail(struct sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
#define SIM_ASSERT(s, cond, ...)                                               \
    do {                                                                       \
        if (!(cond)) {                                                         \
            sim_fail((s), __VA_ARGS__);                                        \
        }                                                                      \
    } while (0)

/* Runs events until virtual time `until` (absolute) / for `us` more. */
void sim_run_until(struct sim *s, uint64_t until);
void sim_run_for(struct sim *s, uint64_t us);
uint64_t sim_rand(struct sim *s);
uint64_t sim_rand_range(struct sim *s, uint64_t lo, uint64_t hi); /* [lo,hi) */

/* ---- faults ---------------------------------------------------------------
 */
void sim_connect(struct sim *s, uint64_t id);
void sim_disconnect(struct sim *s, uint64_t id);
/* Cuts / heals the directed link from -> to. */
void sim_cut(struct sim *s, uint64_t from, uint64_t to, bool cut);
/* Splits the nodes into groups: group[id] is a group number; links between
 * different groups are cut both ways, links within a group healed. */
void sim_partition(struct sim *s, const int *group);
void sim_heal(struct sim *s); /* all connected, no cuts */
void sim_set_reliable(struct sim *s, bool reliable);
void sim_set_long_reordering(struct sim *s, bool on);
/* Crash: the node loses every write whose fsync had not completed, and all
 * messages addressed to it in flight. */
void sim_crash(struct sim *s, uint64_t id);
/* Restart a crashed node from its own disk. Returns 0, or the error that
 * kept it from starting (for example SAMPAN_ECORRUPT: the node stays down
 * and nd->stop_reason says why). */
int sim_restart(struct sim *s, uint64_t id);
/* Wipes a down node's disk (an operator replacing a corrupted node): it
 * restarts empty and catches up from the others. */
void sim_wipe(struct sim *s, uint64_t id);

/* ---- membership (simnode.c, members.c) ------------------------------------
 */
/* Boots a brand-new node (the next id) on an empty disk with an empty
 * configuration, connected to everyone: it receives the log or a snapshot
 * once a leader adds it. Returns its id. */
uint64_t sim_add_node(struct sim *s);
/* Asks node `leader` for a membership change; returns the core's code. */
int sim_change(struct sim *s, uint64_t leader,
               const struct sampan_conf_change *changes, size_t n,
               uint64_t *index);
/* Stops a node removed from the cluster for good (a crash it never comes
 * back from): it is no longer scheduled, restarted or counted. */
void sim_retire(struct sim *s, uint64_t id);
/* Whether `id` is a voter or learner of the newest committed
 * configuration. */
bool sim_committed_member(const struct sim *s, uint64_t id);
/* Nodes neither retired nor outside the committed configuration. */
int sim_n_members(const struct sim *s);
/* The membership driver: moves the cluster, one change at a time through
 * whichever node leads, toward the voter set `want` (want[id] for ids
 * 1..n): missing voters are added (with ADD_VOTER: they join as learners
 * and the leader promotes them once caught up; with `joint`, as plain
 * learners that, once caught up, become voters in the same change that
 * removes the voters not wanted, which is then a joint change when it
 * touches more than one voter), then extra members are removed, and
 * removed members are retired once their removal commits. Call it now
 * and then; it returns true when a leader's configuration, committed, is
 * `want` (voters only, not joint) and nothing else is pending. */
bool sim_members_step(struct sim *s, const bool *want, bool joint);
/* Fails the run unless node id (up) holds exactly the voters `want`, not
 * joint, without learners. */
void sim_check_conf(struct sim *s, uint64_t id, const bool *want);
/* The current leader (the live leader of the highest term), or 0. */
uint64_t sim_leader(struct sim *s);

/* ---- reads, transfer ---- */
/* Issues a linearizable read on node id; returns its context (>= 1), or 0
 * when the node refused it (no leader known, node down). The simulator
 * checks, when the core answers, that the read index covers every entry
 * known committed when the read was issued (no stale read). */
uint64_t sim_read(struct sim *s, uint64_t id);
/* Issues n reads on node id in one event-loop iteration (one Ready), as a
 * server does with the requests that arrived together; returns the first
 * context (the others follow it), or 0 when refused. */
uint64_t sim_read_batch(struct sim *s, uint64_t id, int n);
/* Whether the read was served (its node applied up to its read index). */
bool sim_read_served(struct sim *s, uint64_t context, uint64_t *index);
/* Local, unsafe read: the node's applied index right now (for controls). */
uint64_t sim_applied_index(struct sim *s, uint64_t id);
/* Asks leader to transfer leadership to target; returns the core's code. */
int sim_transfer(struct sim *s, uint64_t leader, uint64_t target);

/* ---- inspection -----------------------------------------------------------
 */
bool sim_is_leader(struct sim *s, uint64_t id);
void sim_status(struct sim *s, uint64_t id, struct sampan_status *st);
/* Proposes on node id; returns 0 and *index when it accepted as leader. */
int sim_propose(struct sim *s, uint64_t id, const void *data, size_t len,
                uint64_t *index);
uint64_t sim_hash(const void *data, size_t len);
/* Bytes of durable Raft state on a node: hard state + retained log. */
uint64_t sim_persisted_bytes(struct sim *s, uint64_t id);
/* Wire size of a message, as an encoder would frame it. */
uint64_t sim_msg_wire_size(const struct sampan_msg *m);

/* ---- engine internals shared by sim.c and simnode.c ---- */
void sim_net_send(struct sim *s, struct sim_node *from,
                  const struct sampan_msg *m);
void sim_trace_msg(struct sim *s, const char *dir, uint64_t node,
                   const struct sampan_msg *m);
void sim_schedule_tick(struct sim *s, struct sim_node *nd);
/* Runs the node's loop later in this instant, once for all inputs. */
void sim_schedule_process(struct sim *s, struct sim_node *nd);
/* Finishes the node's submitted write later (write_latency_max_us). */
void sim_schedule_write(struct sim *s, struct sim_node *nd);
/* Hosting nodes (simnode.c). */
void simnode_boot(struct sim *s, struct sim_node *nd);
void simnode_stop(struct sim_node *nd);
void simnode_free(struct sim_node *nd);
/* Runs the node's Ready loop after an input; a storage failure stops it. */
void simnode_process(struct sim *s, struct sim_node *nd, int input_rv,
                     const char *what);

/* ---- invariant checks (check.c) ------------------------------------------ */
void check_after_event(struct sim *s, struct sim_node *nd);
void check_written(struct sim *s, struct sim_node *nd,
                   const struct sampan_entry *e, size_t n);
void check_applied(struct sim *s, struct sim_node *nd,
                   const struct sampan_entry *e);
void check_durability(struct sim *s);
void check_rebuild_prefix(struct sim *s, struct sim_node *nd);
/* After a restart: the recovered state holds everything the node's storage
 * acknowledged as durable before the crash. */
void check_recovered(struct sim *s, struct sim_node *nd);
/* The node's log now starts after a snapshot ending at (index, term). */
void check_restore_prefix(struct sim *s, struct sim_node *nd, uint64_t index,
                          uint64_t term);
/* Restores the node's applied state from snapshot bytes, checking every
 * index against what is known committed. */
void check_restored(struct sim *s, struct sim_node *nd,
                    const struct sim_snapshot *snap);
/* Serializes the node's applied state up to index into a snapshot. */
void sim_snapshot_encode(struct sim *s, struct sim_node *nd, uint64_t index,
                         struct sim_snapshot *out);
void check_free(struct sim *s);

/* ---- the lab-style harness (harness.c) ------------------------------------
 */
/* Number of nodes (retired ones aside) that applied something at `index`,
 * and its hash. */
int sim_n_committed(struct sim *s, uint64_t index, uint64_t *hash);
/* Offers the command to whichever connected node accepts it as leader,
 * retrying for up to 10 s, and requires at least `expected` nodes to apply it
 * at the returned index within 2 s. Returns the index. */
uint64_t sim_one(struct sim *s, const void *cmd, size_t len, int expected,
                 bool retry);
/* one() for an 8-byte integer command. */
uint64_t sim_one_u64(struct sim *s, uint64_t value, int expected, bool retry);
/* Finds the single leader among connected nodes, waiting up to 5 s. */
uint64_t sim_check_one_leader(struct sim *s);
/* All connected nodes agree on the term; returns it. */
uint64_t sim_check_terms(struct sim *s);
/* No connected node believes it is leader. */
void sim_check_no_leader(struct sim *s);
/* Waits until at least n nodes applied index (up to ~ a few seconds),
 * failing if the term moved past start_term meanwhile (returns 0 then). */
uint64_t sim_wait(struct sim *s, uint64_t index, int n, uint64_t start_term);
uint64_t sim_msgs_total(struct sim *s);
uint64_t sim_bytes_total(struct sim *s);

/* What clients saw committed in a faulty run: every index some node
 * applied, with its command's hash, in order. */
#define SIM_MAX_ACKED 4096
struct sim_history {
    struct {
        uint64_t index;
        uint64_t hash;
    } acked[SIM_MAX_ACKED];
    size_t n;
    uint64_t scanned;    /* indexes up to here are recorded      */
    uint64_t next_value; /* the next client command's number     */
};
/* A client: 1 to 5 commands proposed through random nodes. */
void sim_client_propose(struct sim *s, struct sim_history *h);
/* Records what was applied since the last call. */
void sim_history_note(struct sim *s, struct sim_history *h);
/* Restarts a down node (not a retired one) and fails the run if it
 * cannot start: crashes and disk faults never leave a disk recovery
 * refuses. */
void sim_restart_ok(struct sim *s, uint64_t id);
/* Ends every fault: the network heals (reliable, in order, no
 * duplicates), the disks' pending faults are cleared, every node that is
 * down (and not retired) restarts. */
void sim_end_faults(struct sim *s);
/* The end of a faulty run: heals the network and the disks, restarts every
 * node, completes the membership change toward `want` (sim_members_step),
 * then requires one leader, a new command committed on every member, a
 * read served through every member, every member holding the voters
 * `want`, and every command in `h` still on every member. */
void sim_heal_and_verify(struct sim *s, const bool *want, bool joint,
                         struct sim_history *h);

/* ---- scenarios and runners ------------------------------------------------
 */
/* What a scenario runs in: its seed, where a trace goes, and the simulation
 * it creates (with sim_start) so the runner can free it after a failure. */
struct sim_ctx {
    uint64_t seed;
    FILE *trace;
    jmp_buf jb;
    struct sim *s;
};
/* Creates the context's simulation of n nodes (see sim_new); failures in it
 * return control to the runner. */
struct sim *sim_start(struct sim_ctx *ctx, int n);
struct sim *sim_start_cfg(struct sim_ctx *ctx, int n, sim_tweak_fn *tweak);

struct sim_scenario {
    const char *name;
    void (*run)(struct sim_ctx *ctx);
};
/* The registry of scenarios (scenarios.c): copies up to cap of them into
 * out and returns how many there are. */
#define SIM_MAX_SCENARIOS 128
size_t sim_scenarios(struct sim_scenario *out, size_t cap);
/* Copies the scenario called `name` into *out; -1 when there is none. */
int sim_scenario_find(const char *name, struct sim_scenario *out);
/* Runs one scenario or schedule under a fresh context. Returns 0 on pass;
 * on failure copies the message into msg. *trace_hash gets the run's
 * rolling event hash (determinism checks). */
int sim_run_one(void (*run)(struct sim_ctx *), uint64_t seed, FILE *trace,
                uint64_t *trace_hash, char *msg, size_t msg_len);
/* One randomized fault schedule (random.c). */
void sim_random_schedule(struct sim_ctx *ctx);
/* One random fault of those schedules (random.c): a disconnect, partition,
 * link cut, crash or restart (of any node or the leader), power loss,
 * fsync error, lossy or reordering network, or healing. */
void sim_random_fault(struct sim *s);

#endif
