/* sim/scen_snapshot.c: the snapshot scenarios of the classic suite
 * (SCENARIOS.md, "Snapshots"), after MIT 6.824 Lab 2D (2022): the simulated
 * state machine snapshots itself every SNAPSHOT_INTERVAL applied entries and
 * the core compacts its log behind it, so the persisted Raft state (hard
 * state and retained log) stays small, and a follower that fell behind the
 * leader's compaction point is brought up to date by an InstallSnapshot
 * transfer (256-byte chunks, so several messages). The lab's crash1(i) +
 * start1(i) map to sim_crash + sim_restart (which keeps the node's
 * connectivity flag; we connect explicitly where the lab does). Node ids are
 * 1..n where the lab's are 0..n-1. Besides the assertions below, the
 * simulator's checkers verify after every event that a restored snapshot
 * agrees with committed state, that applied and commit indexes never move
 * backwards, and that applying resumes at the snapshot index + 1. */
#include <stdint.h>

#include <string.h>

#include "scenarios.h"

/* The lab's SnapShotInterval and MAXLOGSIZE. */
#define SNAPSHOT_INTERVAL 10
#define MAX_LOG_SIZE 2000

/* The lab's (leader + k) % servers for ids 1..n. */
static uint64_t peer(int n, uint64_t id, int k)
{
    return (id - 1 + (uint64_t)k) % (uint64_t)n + 1;
}

/* The lab's nn: SnapShotInterval / 2 + rand % SnapShotInterval (5..14). */
static int batch_size(struct sim *s)
{
    return (int)sim_rand_range(s, SNAPSHOT_INTERVAL / 2,
                               SNAPSHOT_INTERVAL / 2 + SNAPSHOT_INTERVAL);
}

/* The lab's cfg.LogSize() < MAXLOGSIZE, on every node (up or not: a crashed
 * node's disk counts too). Returns the largest size seen. */
static uint64_t check_log_size(struct sim *s, const char *when)
{
    uint64_t max = 0;
    for (int id = 1; id <= s->n; id++) {
        uint64_t bytes = sim_persisted_bytes(s, (uint64_t)id);
        SIM_ASSERT(s, bytes < MAX_LOG_SIZE,
                   "%s: n%d holds %llu bytes of persisted Raft state; the "
                   "log was not compacted below %d bytes",
                   when, id, (unsigned long long)bytes, MAX_LOG_SIZE);
        if (bytes > max) {
            max = bytes;
        }
    }
    return max;
}

/* A connected, live node that is leader now (the newest term's if several),
 * or, when there is none, the one sim_check_one_leader() finds. */
static uint64_t current_leader(struct sim *s)
{
    uint64_t best = 0;
    uint64_t best_term = 0;
    for (int id = 1; id <= s->n; id++) {
        if (!s->net.connected[id] || !sim_is_leader(s, (uint64_t)id)) {
            continue;
        }
        struct sampan_status st;
        sim_status(s, (uint64_t)id, &st);
        if (best == 0 || st.term > best_term) {
            best = (uint64_t)id;
            best_term = st.term;
        }
    }
    return best != 0 ? best : sim_check_one_leader(s);
}

static uint64_t sum_taken(struct sim *s)
{
    uint64_t sum = 0;
    for (int id = 1; id <= s->n; id++) {
        sum += s->nodes[id].snapshots_taken;
    }
    return sum;
}

static uint64_t sum_installed(struct sim *s)
{
    uint64_t sum = 0;
    for (int id = 1; id <= s->n; id++) {
        sum += s->nodes[id].snapshots_installed;
    }
    return sum;
}

/* ---- snapcommon ------------------------------------------------------------
 */

/* The lab's snapcommon(name, disconnect, reliable, crash) (3 servers, 30
 * rounds): each round a victim (the leader half the time, else the leader's
 * next peer) is disconnected or crashed; the others commit one command, take
 * 5-14 plain proposals on the leader and one more command; the persisted
 * Raft state of every node stays under 2000 bytes; then the victim rejoins
 * and one() must commit on all three, which needs the victim caught up
 * (typically by snapshot, the leader having compacted past its log); the
 * size bound holds again. In the fault variants the run must have installed
 * at least one snapshot; in snapshot_basic every node must have taken one. */
static void snapcommon(struct sim_ctx *ctx, const char *name, bool disconnect,
                       bool reliable, bool crash)
{
    const int n = 3;
    const int iters = 30;
    struct sim *s = sim_start(ctx, n);
    s->snapshot_every = SNAPSHOT_INTERVAL;
    sim_set_reliable(s, reliable);

    sim_one_u64(s, sim_rand(s), n, true);
    uint64_t leader1 = sim_check_one_leader(s);

    uint64_t max_bytes = 0;
    int proposed = 0;
    int leader_victims = 0;
    uint64_t last = 0;
    for (int i = 0; i < iters; i++) {
        uint64_t victim = peer(n, leader1, 1);
        if (sim_rand_range(s, 0, 1000) < 500) {
            victim = leader1;
            leader_victims++;
        }

        if (disconnect) {
            sim_disconnect(s, victim);
            sim_one_u64(s, sim_rand(s), n - 1, true);
        }
        if (crash) {
            sim_crash(s, victim);
            sim_one_u64(s, sim_rand(s), n - 1, true);
        }

        /* Perhaps enough to get a snapshot: plain Start()s on the leader,
         * not one()s (a proposal the leader loses is simply lost). */
        int nn = batch_size(s);
        uint64_t sender = current_leader(s);
        for (int k = 0; k < nn; k++) {
            uint64_t value = sim_rand(s);
            uint64_t index;
            if (sim_propose(s, sender, &value, sizeof(value), &index) == 0) {
                proposed++;
            }
        }

        /* Let everyone catch up with the proposals; in snapshot_basic all
         * three, so that no InstallSnapshot is needed there. */
        bool faults = disconnect || crash;
        last = sim_one_u64(s, sim_rand(s), faults ? n - 1 : n, true);

        uint64_t bytes = check_log_size(s, "after the round's proposals");
        max_bytes = bytes > max_bytes ? bytes : max_bytes;

        if (disconnect) {
            /* Reconnect the victim, which may be behind and need a
             * snapshot to catch up. */
            sim_connect(s, victim);
        }
        if (crash) {
            sim_restart(s, victim);
            sim_connect(s, victim);
        }
        if (faults) {
            last = sim_one_u64(s, sim_rand(s), n, true);
            leader1 = sim_check_one_leader(s);
        }
        bytes = check_log_size(s, "after the victim caught up");
        max_bytes = bytes > max_bytes ? bytes : max_bytes;
    }

    uint64_t taken = sum_taken(s);
    uint64_t installed = sum_installed(s);
    if (disconnect || crash) {
        SIM_ASSERT(s, installed > 0,
                   "%s: no follower was ever brought up to date by a "
                   "snapshot (%llu snapshots taken)",
                   name, (unsigned long long)taken);
    } else {
        for (int id = 1; id <= n; id++) {
            SIM_ASSERT(s, s->nodes[id].snapshots_taken > 0,
                       "%s: n%d never took a snapshot", name, id);
        }
    }

    struct sampan_status st;
    sim_status(s, leader1, &st);
    printf("%s: %d rounds (%d with the leader as victim), %d plain "
           "proposals accepted, max persisted state %llu bytes (limit %d), "
           "snapshots taken %llu (n1 %llu, n2 %llu, n3 %llu), installed %llu "
           "(n1 %llu, n2 %llu, n3 %llu), leader n%llu snapshot index %llu, "
           "final index %llu, final term %llu, %.1f s virtual\n",
           name, iters, leader_victims, proposed, (unsigned long long)max_bytes,
           MAX_LOG_SIZE, (unsigned long long)taken,
           (unsigned long long)s->nodes[1].snapshots_taken,
           (unsigned long long)s->nodes[2].snapshots_taken,
           (unsigned long long)s->nodes[3].snapshots_taken,
           (unsigned long long)installed,
           (unsigned long long)s->nodes[1].snapshots_installed,
           (unsigned long long)s->nodes[2].snapshots_installed,
           (unsigned long long)s->nodes[3].snapshots_installed,
           (unsigned long long)leader1, (unsigned long long)st.snapshot_index,
           (unsigned long long)last, (unsigned long long)sim_check_terms(s),
           (double)s->now / SIM_SEC);
}

/* snapshot_basic (3, reliable, no faults). */
static void snapshot_basic(struct sim_ctx *ctx)
{
    snapcommon(ctx, "snapshot_basic", false, true, false);
}

/* snapshot_install (3, reliable): the victim is disconnected. */
static void snapshot_install(struct sim_ctx *ctx)
{
    snapcommon(ctx, "snapshot_install", true, true, false);
}

/* snapshot_install_unreliable (3, unreliable): the victim is disconnected. */
static void snapshot_install_unreliable(struct sim_ctx *ctx)
{
    snapcommon(ctx, "snapshot_install_unreliable", true, false, false);
}

/* snapshot_install_crash (3, reliable): the victim crashes and restarts. */
static void snapshot_install_crash(struct sim_ctx *ctx)
{
    snapcommon(ctx, "snapshot_install_crash", false, true, true);
}

/* snapshot_install_uncrash (3, unreliable): the victim crashes and
 * restarts. */
static void snapshot_install_uncrash(struct sim_ctx *ctx)
{
    snapcommon(ctx, "snapshot_install_uncrash", false, false, true);
}

/* ---- crashing everyone -----------------------------------------------------
 */

/* The lab's crash1 + start1 + connect for every server. Returns how many
 * booted from a snapshot (their status shows a snapshot index). */
static int crash_restart_all(struct sim *s)
{
    for (int id = 1; id <= s->n; id++) {
        sim_crash(s, (uint64_t)id);
    }
    int from_snapshot = 0;
    for (int id = 1; id <= s->n; id++) {
        sim_restart(s, (uint64_t)id);
        sim_connect(s, (uint64_t)id);
        struct sampan_status st;
        sim_status(s, (uint64_t)id, &st);
        from_snapshot += st.snapshot_index > 0;
    }
    return from_snapshot;
}

/* snapshot_all_crash (3, reliable, 5 rounds): the lab's
 * TestSnapshotAllCrash2D: each round 5-14 one()s (perhaps enough for a
 * snapshot) and a last one() at index1; everyone crashes and restarts; the
 * next one() must commit on all three at an index after index1: the next
 * index never goes backwards, though the nodes boot from snapshot + log. */
static void snapshot_all_crash(struct sim_ctx *ctx)
{
    const int n = 3;
    const int iters = 5;
    struct sim *s = sim_start(ctx, n);
    s->snapshot_every = SNAPSHOT_INTERVAL;

    sim_one_u64(s, sim_rand(s), n, true);
    uint64_t max_bytes = 0;
    int booted_from_snapshot = 0;
    uint64_t index2 = 0;
    for (int i = 0; i < iters; i++) {
        int nn = batch_size(s);
        for (int k = 0; k < nn; k++) {
            sim_one_u64(s, sim_rand(s), n, true);
        }
        uint64_t index1 = sim_one_u64(s, sim_rand(s), n, true);

        booted_from_snapshot += crash_restart_all(s);

        index2 = sim_one_u64(s, sim_rand(s), n, true);
        SIM_ASSERT(s, index2 >= index1 + 1,
                   "round %d: index decreased from %llu to %llu after "
                   "everyone restarted",
                   i, (unsigned long long)index1, (unsigned long long)index2);
        uint64_t bytes = check_log_size(s, "after everyone restarted");
        max_bytes = bytes > max_bytes ? bytes : max_bytes;
    }
    SIM_ASSERT(s, booted_from_snapshot > 0,
               "no node ever booted from a snapshot (%llu taken)",
               (unsigned long long)sum_taken(s));

    printf("snapshot_all_crash: %d rounds, %d of %d restarts booted from a "
           "snapshot, snapshots taken %llu, installed %llu, max persisted "
           "state %llu bytes, final index %llu, final term %llu\n",
           iters, booted_from_snapshot, iters * n,
           (unsigned long long)sum_taken(s),
           (unsigned long long)sum_installed(s), (unsigned long long)max_bytes,
           (unsigned long long)index2, (unsigned long long)sim_check_terms(s));
}

/* Asserts that every node, just restarted, booted from a snapshot. */
static void check_booted_from_snapshot(struct sim *s, const char *when)
{
    for (int id = 1; id <= s->n; id++) {
        struct sampan_status st;
        sim_status(s, (uint64_t)id, &st);
        SIM_ASSERT(s, st.snapshot_index > 0,
                   "%s: n%d restarted without a snapshot (first index %llu)",
                   when, id, (unsigned long long)st.first_index);
        SIM_ASSERT(s, st.commit >= st.snapshot_index,
                   "%s: n%d restarted with commit %llu below its snapshot "
                   "index %llu",
                   when, id, (unsigned long long)st.commit,
                   (unsigned long long)st.snapshot_index);
    }
}

/* snapshot_init (3, reliable): the lab's TestSnapshotInit2D: one(), then
 * SnapShotInterval + 1 one()s so every node snapshots; everyone crashes and
 * restarts (booting from the snapshot); one op, so something is written back
 * to disk after the reboot; everyone crashes and restarts again; a final
 * one() must still commit on all three, after the previous ones. */
static void snapshot_init(struct sim_ctx *ctx)
{
    const int n = 3;
    struct sim *s = sim_start(ctx, n);
    s->snapshot_every = SNAPSHOT_INTERVAL;

    sim_one_u64(s, sim_rand(s), n, true);
    uint64_t index0 = 0;
    for (int k = 0; k < SNAPSHOT_INTERVAL + 1; k++) {
        index0 = sim_one_u64(s, sim_rand(s), n, true);
    }
    uint64_t taken = sum_taken(s);
    SIM_ASSERT(s, taken >= (uint64_t)n,
               "only %llu snapshots taken by index %llu",
               (unsigned long long)taken, (unsigned long long)index0);

    crash_restart_all(s);
    check_booted_from_snapshot(s, "first restart");
    struct sampan_status st1;
    sim_status(s, 1, &st1);

    uint64_t index1 = sim_one_u64(s, sim_rand(s), n, true);
    SIM_ASSERT(s, index1 > index0,
               "after the first restart one() committed at %llu, not after "
               "%llu",
               (unsigned long long)index1, (unsigned long long)index0);

    crash_restart_all(s);
    check_booted_from_snapshot(s, "second restart");
    struct sampan_status st2;
    sim_status(s, 1, &st2);

    uint64_t index2 = sim_one_u64(s, sim_rand(s), n, true);
    SIM_ASSERT(s, index2 > index1,
               "after the second restart one() committed at %llu, not after "
               "%llu",
               (unsigned long long)index2, (unsigned long long)index1);
    uint64_t max_bytes = check_log_size(s, "at the end");

    printf(
        "snapshot_init: snapshots taken %llu, installed %llu; n1 booted "
        "from snapshot %llu (first restart) and %llu (second); indexes "
        "%llu -> %llu -> %llu, max persisted state %llu bytes, final term "
        "%llu\n",
        (unsigned long long)sum_taken(s), (unsigned long long)sum_installed(s),
        (unsigned long long)st1.snapshot_index,
        (unsigned long long)st2.snapshot_index, (unsigned long long)index0,
        (unsigned long long)index1, (unsigned long long)index2,
        (unsigned long long)max_bytes, (unsigned long long)sim_check_terms(s));
}

/* As a production node would run: a few hundred entries kept behind each
 * snapshot for slightly lagging followers, and 64 KiB snapshot chunks. */
static void production_like(struct sampan_raft_config *cfg)
{
    cfg->snapshot_trailing = 200;
    cfg->snapshot_chunk_bytes = 64 * 1024;
}

/* Runs 100,000 100-byte commands through 3 nodes in batches of 100, with
 * the state machine snapshotting every `every` entries (0: never); returns
 * the largest log memory any node held at the end. */
static uint64_t fill_log(struct sim *s, uint32_t every, uint64_t *entries)
{
    s->snapshot_every = every;
    uint64_t leader = sim_check_one_leader(s);
    uint8_t cmd[100];
    memset(cmd, 'v', sizeof(cmd));
    uint64_t last = 0;
    for (uint64_t batch = 0; batch < 1000; batch++) {
        leader = sim_is_leader(s, leader) ? leader : sim_check_one_leader(s);
        for (uint64_t k = 0; k < 100; k++) {
            uint64_t v = batch * 100 + k;
            memcpy(cmd, &v, sizeof(v));
            SIM_ASSERT(s, sim_propose(s, leader, cmd, sizeof(cmd), &last) == 0,
                       "leader refused command %llu", (unsigned long long)v);
        }
        sim_run_for(s, 20 * SIM_MS);
    }
    sim_wait(s, last, 3, 0);
    uint64_t mem = 0;
    *entries = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        struct sampan_status st;
        sim_status(s, id, &st);
        if (st.log_mem_bytes > mem) {
            mem = st.log_mem_bytes;
        }
        uint64_t held = st.last_index - (st.first_index - 1);
        if (held > *entries) {
            *entries = held;
        }
    }
    return mem;
}

/* compaction_memory (3): 100,000 entries with a snapshot every 1,000: each
 * node's in-memory log ends holding at most a snapshot interval's worth of
 * entries plus the 200 kept behind it (and a small array): the memory of
 * discarded entries is freed.
 * Control: without snapshots the log holds all 100,000 entries. */
static void compaction_memory(struct sim_ctx *ctx)
{
    uint64_t held;
    struct sim *s = sim_start_cfg(ctx, 3, production_like);
    uint64_t with = fill_log(s, 1000, &held);
    printf("compaction_memory: snapshots every 1000: %llu entries, %llu "
           "bytes of log memory per node at most\n",
           (unsigned long long)held, (unsigned long long)with);
    SIM_ASSERT(s, held <= 1000 + 200, "log still holds %llu entries",
               (unsigned long long)held);
    SIM_ASSERT(s, with < 300 * 1000, "log holds %llu bytes",
               (unsigned long long)with);
    sim_free(s);

    ctx->s = NULL;
    s = sim_start_cfg(ctx, 3, production_like);
    uint64_t without = fill_log(s, 0, &held);
    printf("compaction_memory: no snapshots: %llu entries, %llu bytes of log "
           "memory per node at most\n",
           (unsigned long long)held, (unsigned long long)without);
    SIM_ASSERT(s, held >= 100000 && without > 10 * with,
               "control: without snapshots the log should hold everything");
}

const struct sim_scenario sim_scenarios_snapshot[] = {
    {"snapshot_basic", snapshot_basic},
    {"snapshot_install", snapshot_install},
    {"snapshot_install_unreliable", snapshot_install_unreliable},
    {"snapshot_install_crash", snapshot_install_crash},
    {"snapshot_install_uncrash", snapshot_install_uncrash},
    {"snapshot_all_crash", snapshot_all_crash},
    {"snapshot_init", snapshot_init},
    {"compaction_memory", compaction_memory},
    {NULL, NULL},
};
