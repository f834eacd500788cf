/* sim/random.c: one randomized fault schedule, a function of its seed: 3 or
 * 5 nodes, rounds of random proposals mixed with random faults (disconnects,
 * partitions, one-way link cuts, crashes and restarts, power loss and
 * fsync errors, stalled disks, an unreliable network with duplication and
 * long reordering; half the seeds with disk latency, writes finishing
 * while the node goes on) and now and then a membership
 * change (a node added, removed or replaced, one at a time or jointly,
 * keeping 3 to 5 voters). The invariants are checked after every event by
 * check.c; at the end the network heals, the membership change under way
 * completes, and the cluster must elect a leader, commit a new command on
 * every member, and still hold every command it was seen to commit. */
#include <string.h>

#include "sim.h"
#include "vfs_sim.h"

void sim_random_fault(struct sim *s)
{
    uint64_t id = sim_rand_range(s, 1, (uint64_t)s->n + 1);
    uint64_t leader = sim_leader(s);
    switch (sim_rand(s) % 15) {
    case 0:
        sim_disconnect(s, id);
        break;
    case 1:
        sim_connect(s, id);
        break;
    case 2: {
        int group[SIM_MAX_NODES + 1];
        for (int i = 1; i <= s->n; i++) {
            group[i] = (int)(sim_rand(s) % 2);
        }
        sim_partition(s, group);
        break;
    }
    case 3: {
        uint64_t to = sim_rand_range(s, 1, (uint64_t)s->n + 1);
        if (to != id) {
            sim_cut(s, id, to, true);
        }
        break;
    }
    case 4:
        sim_heal(s);
        break;
    case 5:
        sim_crash(s, id);
        break;
    case 6:
        sim_restart_ok(s, id);
        break;
    case 7:
        sim_set_reliable(s, !s->net.reliable);
        s->net.dup_permille = s->net.reliable ? 0 : 50;
        break;
    case 8:
        sim_set_long_reordering(s, sim_rand(s) % 4 == 0);
        break;
    case 9:
        /* Crash the leader right after it took proposals: the classic
         * road to Figure 8's uncommitted entries of older terms. */
        if (leader != 0) {
            sim_crash(s, leader);
        }
        break;
    case 10:
        if (leader != 0) {
            sim_disconnect(s, leader);
        }
        break;
    case 11:
        for (int i = 1; i <= s->n; i++) {
            sim_restart_ok(s, (uint64_t)i);
            sim_connect(s, (uint64_t)i);
        }
        break;
    case 12:
        /* Power loss at one of the disk's next operations: the node
         * fail-stops mid-write; unsynced sectors may or may not land. */
        if (s->nodes[id].up) {
            vfs_sim_fail_at(s->nodes[id].disk, sim_rand_range(s, 1, 12));
        }
        break;
    case 13:
        if (s->nodes[id].up) {
            vfs_sim_fail_next_sync(s->nodes[id].disk);
        }
        break;
    case 14:
        /* A disk that stalls (behind another process's fsyncs, say):
         * the node's writes finish only after 50-800 ms. */
        s->nodes[id].write_stall_until =
            s->now + sim_rand_range(s, 50, 800) * SIM_MS;
        break;
    }
}

/* Small messages and windows: one entry per AppendEntries and few in
 * flight, so entries of one term can be acknowledged without the next
 * leader's no-op (what it takes to expose Figure 8) and flow control is
 * exercised. */
static void small_windows(struct sampan_raft_config *cfg)
{
    cfg->max_msg_bytes = 1;
    cfg->max_inflight_msgs = 2;
    cfg->max_inflight_bytes = 64;
}

/* Compaction keeps a few entries, so a slightly lagging follower is caught
 * up from the log rather than by snapshot. */
static void trailing_entries(struct sampan_raft_config *cfg)
{
    cfg->snapshot_trailing = 4;
}

/* Without CheckQuorum a deposed leader may believe it leads for long:
 * ReadIndex alone must keep its reads from going stale. */
static void no_check_quorum(struct sampan_raft_config *cfg)
{
    cfg->disable_check_quorum = true;
}

/* Reads from random nodes, and now and then a leadership transfer. */
static void reads_and_transfers(struct sim *s)
{
    int reads = (int)(sim_rand(s) % 3);
    for (int k = 0; k < reads; k++) {
        sim_read(s, sim_rand_range(s, 1, (uint64_t)s->n + 1));
    }
    if (sim_rand(s) % 10 == 0) {
        uint64_t leader = sim_leader(s);
        uint64_t target = sim_rand_range(s, 1, (uint64_t)s->n + 1);
        if (leader != 0 && target != leader) {
            sim_transfer(s, leader, target);
        }
    }
}

/* The membership a random schedule is moving to: the voters it wants. */
struct plan {
    bool want[SIM_MAX_NODES + 1];
    bool joint; /* replace through one joint change (members.c)  */
    bool done;  /* the committed configuration is `want`          */
};

static int wanted(const struct sim *s, const struct plan *p)
{
    int n = 0;
    for (int id = 1; id <= s->n; id++) {
        n += p->want[id];
    }
    return n;
}

/* A wanted voter: the leader one time in three (its own removal or
 * demotion is the case of thesis 4.2.2), else any. */
static uint64_t pick_voter(struct sim *s, const struct plan *p)
{
    uint64_t leader = sim_leader(s);
    if (leader != 0 && p->want[leader] && sim_rand(s) % 3 == 0) {
        return leader;
    }
    int k = (int)sim_rand_range(s, 0, (uint64_t)wanted(s, p));
    for (int id = 1; id <= s->n; id++) {
        if (p->want[id] && k-- == 0) {
            return (uint64_t)id;
        }
    }
    return 0;
}

enum change_kind {
    GROW,
    SHRINK,
    REPLACE,
    DEMOTE
};

/* Now and then, once the previous change is done, a new one: a fresh node
 * added, a voter removed, or one replaced by a fresh node (one change
 * after the other, or in one joint change); 3 to 5 voters throughout,
 * but for a voter demoted to learner now and then, which the driver then
 * promotes again. */
static void maybe_change_membership(struct sim *s, struct plan *p)
{
    if (!p->done || sim_rand(s) % 8 != 0) {
        return;
    }
    int voters = wanted(s, p);
    bool room = s->n < SIM_MAX_NODES;
    enum change_kind what = (enum change_kind)(sim_rand(s) % 4);
    if (what == DEMOTE) {
        uint64_t leader = sim_leader(s);
        uint64_t victim = pick_voter(s, p);
        if (leader != 0 && victim != 0) {
            struct sampan_conf_change ch = {.type = SAMPAN_CONF_ADD_LEARNER,
                                            .id = victim};
            sim_change(s, leader, &ch, 1, NULL);
            p->done = false;
        }
        return;
    }
    if (what == GROW && (voters >= 5 || !room)) {
        what = SHRINK;
    }
    if (what == SHRINK && voters <= 3) {
        what = REPLACE;
    }
    if (what == REPLACE && !room) {
        return;
    }
    if (what != GROW) {
        p->want[pick_voter(s, p)] = false;
    }
    if (what != SHRINK) {
        p->want[sim_add_node(s)] = true;
    }
    p->joint = what == REPLACE && sim_rand(s) % 2 == 0;
    p->done = false;
}

void sim_random_schedule(struct sim_ctx *ctx)
{
    int n = ctx->seed % 2 ? 3 : 5;
    sim_tweak_fn *tweak = NULL;
    if (ctx->seed % 3 == 0) {
        tweak = small_windows;
    } else if (ctx->seed % 3 == 1 && ctx->seed % 4 < 2) {
        tweak = trailing_entries;
    } else if (ctx->seed % 5 < 2) {
        tweak = no_check_quorum;
    }
    struct sim *s = sim_start_cfg(ctx, n, tweak);
    /* Two seeds in three snapshot the state machine, every 3 to 20
     * entries: compaction, snapshot transfer and restore under faults. */
    if (ctx->seed % 7 % 3 != 0) {
        s->snapshot_every = (uint32_t)sim_rand_range(s, 3, 21);
    }
    /* Half the seeds write as the server does, off the node's loop, with
     * disk latency up to 0.3, 3 or 30 ms. */
    static const uint64_t latencies[] = {300, 3000, 30000};
    if (sim_rand(s) % 2 == 0) {
        s->write_latency_max_us = latencies[sim_rand(s) % 3];
    }
    struct sim_history h = {.next_value = 1};
    s->net.reliable = sim_rand(s) % 3 != 0;
    struct plan plan = {.done = true};
    for (int id = 1; id <= n; id++) {
        plan.want[id] = true;
    }
    int rounds = (int)sim_rand_range(s, 20, 80);
    for (int round = 0; round < rounds; round++) {
        sim_client_propose(s, &h);
        reads_and_transfers(s);
        maybe_change_membership(s, &plan);
        plan.done = sim_members_step(s, plan.want, plan.joint);
        /* Faults land at any moment relative to the proposals: right
         * away, while they replicate, or after they committed. */
        sim_run_for(s, sim_rand_range(s, 0, 20) * SIM_MS);
        if (sim_rand(s) % 2 == 0) {
            sim_random_fault(s);
        }
        sim_run_for(s, sim_rand(s) % 10 == 0
                           ? sim_rand_range(s, 100, 1000) * SIM_MS
                           : sim_rand_range(s, 1, 150) * SIM_MS);
        sim_history_note(s, &h);
    }
    /* Heal everything: the cluster must recover, finish the membership
     * change and make progress, having lost nothing. */
    sim_heal_and_verify(s, plan.want, plan.joint, &h);
}
