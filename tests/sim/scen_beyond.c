/* sim/scen_beyond.c: scenarios beyond the classic suite (SCENARIOS.md,
 * "Beyond"): PreVote, CheckQuorum and a partial partition. Each also runs a
 * control with the protecting feature turned off and asserts that the
 * disruption then does happen, so the scenario is known to be able to fail. */
#include <string.h>

#include "scenarios.h"

static void no_pre_vote(struct sampan_raft_config *cfg)
{
    cfg->disable_pre_vote = true;
}

static void no_check_quorum(struct sampan_raft_config *cfg)
{
    cfg->disable_check_quorum = true;
}

static void no_pre_vote_no_check_quorum(struct sampan_raft_config *cfg)
{
    cfg->disable_pre_vote = true;
    cfg->disable_check_quorum = true;
}

static uint64_t term_of(struct sim *s, uint64_t id)
{
    struct sampan_status st;
    sim_status(s, id, &st);
    return st.term;
}

/* A follower partitioned away for 5 s rejoins. Returns true when the leader
 * and the term survived its return. */
static bool rejoin_disrupts(struct sim *s)
{
    uint64_t leader = sim_check_one_leader(s);
    uint64_t term = term_of(s, leader);
    uint64_t follower = leader % 3 + 1;
    sim_disconnect(s, follower);
    sim_run_for(s, 5 * SIM_SEC);
    uint64_t isolated_term = term_of(s, follower);
    sim_connect(s, follower);
    sim_run_for(s, 2 * SIM_SEC);
    uint64_t now_leader = sim_check_one_leader(s);
    printf("rejoin: leader n%llu term %llu; isolated follower reached term "
           "%llu; after rejoin leader n%llu term %llu\n",
           (unsigned long long)leader, (unsigned long long)term,
           (unsigned long long)isolated_term, (unsigned long long)now_leader,
           (unsigned long long)term_of(s, now_leader));
    return now_leader != leader || term_of(s, now_leader) != term;
}

/* pre_vote (3): a node partitioned away does not inflate its term (it only
 * pre-votes), and on rejoining it does not disrupt the leader. Control:
 * without PreVote the rejoining node, its term inflated by failed elections,
 * deposes the leader. */
static void pre_vote(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    uint64_t term = term_of(s, leader);
    uint64_t follower = leader % 3 + 1;
    sim_disconnect(s, follower);
    sim_run_for(s, 5 * SIM_SEC);
    SIM_ASSERT(s, term_of(s, follower) == term,
               "isolated n%llu moved from term %llu to %llu despite PreVote",
               (unsigned long long)follower, (unsigned long long)term,
               (unsigned long long)term_of(s, follower));
    sim_connect(s, follower);
    sim_run_for(s, 2 * SIM_SEC);
    SIM_ASSERT(s,
               sim_check_one_leader(s) == leader && term_of(s, leader) == term,
               "the rejoining follower disrupted the leader");
    sim_one_u64(s, 101, 3, false);
    sim_free(s);

    ctx->s = NULL;
    s = sim_start_cfg(ctx, 3, no_pre_vote);
    SIM_ASSERT(s, rejoin_disrupts(s),
               "control: without PreVote the rejoin should have disrupted "
               "the leader");
}

/* Steps until the node stops being leader; returns the virtual time it
 * took, or `limit` if it never stepped down. */
static uint64_t time_to_step_down(struct sim *s, uint64_t id, uint64_t limit)
{
    uint64_t start = s->now;
    while (s->now - start < limit && sim_is_leader(s, id)) {
        sim_run_for(s, 1 * SIM_MS);
    }
    return s->now - start;
}

/* check_quorum (3): a leader cut from the majority steps down within an
 * election timeout (30 ticks = 300 ms, plus at most one tick and one
 * heartbeat round trip, since it last heard from the majority). Control:
 * without CheckQuorum it stays leader indefinitely. */
static void check_quorum(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    sim_one_u64(s, 7, 3, false);
    sim_disconnect(s, leader);
    uint64_t took = time_to_step_down(s, leader, 5 * SIM_SEC);
    uint64_t bound = 30 * s->tick_us + s->tick_us + 2 * SIM_MS;
    printf("check_quorum: isolated leader stepped down after %.1f ms "
           "(bound %.1f ms)\n",
           (double)took / SIM_MS, (double)bound / SIM_MS);
    SIM_ASSERT(s, took <= bound,
               "isolated leader n%llu kept leading for %.1f ms",
               (unsigned long long)leader, (double)took / SIM_MS);
    /* The majority elected a new leader and goes on committing. */
    sim_one_u64(s, 8, 2, false);
    sim_connect(s, leader);
    sim_one_u64(s, 9, 3, true);
    sim_free(s);

    ctx->s = NULL;
    s = sim_start_cfg(ctx, 3, no_check_quorum);
    leader = sim_check_one_leader(s);
    sim_disconnect(s, leader);
    took = time_to_step_down(s, leader, 5 * SIM_SEC);
    SIM_ASSERT(s, took >= 5 * SIM_SEC,
               "control: without CheckQuorum the isolated leader should "
               "not step down, yet it did after %.1f ms",
               (double)took / SIM_MS);
}

/* Cuts the link between the leader and one follower, both ways; the third
 * node still sees both. Runs 5 s of proposals; returns how many times the
 * leadership changed. */
static int partial_partition_run(struct sim *s, bool expect_progress)
{
    uint64_t leader = sim_check_one_leader(s);
    uint64_t cut_off = leader % 3 + 1;
    sim_cut(s, leader, cut_off, true);
    sim_cut(s, cut_off, leader, true);
    uint64_t last_leader = leader;
    uint64_t last_term = term_of(s, leader);
    int changes = 0;
    for (int round = 0; round < 50; round++) {
        uint64_t current = 0;
        for (uint64_t id = 1; id <= 3; id++) {
            if (sim_is_leader(s, id) && term_of(s, id) >= last_term) {
                current = id;
            }
        }
        if (current != 0 &&
            (current != last_leader || term_of(s, current) != last_term)) {
            changes++;
            last_leader = current;
            last_term = term_of(s, current);
        }
        if (expect_progress) {
            sim_one_u64(s, 1000 + (uint64_t)round, 2, true);
        }
        sim_run_for(s, 100 * SIM_MS);
    }
    printf("partial_partition: leader n%llu, n%llu cut off from it: %d "
           "leadership changes in 50 rounds\n",
           (unsigned long long)leader, (unsigned long long)cut_off, changes);
    return changes;
}

/* partial_partition (3): A sees B and C, but B and C do not see each other.
 * With PreVote and CheckQuorum the cluster keeps one stable leader and
 * commits: the cut-off follower's pre-votes are refused by the node that
 * still hears the leader. Control: without them, the cut-off follower keeps
 * deposing the leader. */
static void partial_partition(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    int changes = partial_partition_run(s, true);
    SIM_ASSERT(s, changes == 0,
               "leadership changed %d times under a partial partition",
               changes);
    sim_heal(s);
    sim_one_u64(s, 42, 3, true);
    sim_free(s);

    ctx->s = NULL;
    s = sim_start_cfg(ctx, 3, no_pre_vote_no_check_quorum);
    changes = partial_partition_run(s, false);
    SIM_ASSERT(s, changes > 0,
               "control: without PreVote/CheckQuorum the cut-off follower "
               "should have disrupted the leader");
}

static void lease_reads(struct sampan_raft_config *cfg)
{
    cfg->lease_reads = true;
}

/* Issues a read on node id and runs until it is served or `limit` passes;
 * returns whether it was served. */
static bool read_within(struct sim *s, uint64_t id, uint64_t limit)
{
    uint64_t ctx = sim_read(s, id);
    if (ctx == 0) {
        return false; /* refused: no leader known */
    }
    uint64_t start = s->now;
    while (s->now - start < limit) {
        if (sim_read_served(s, ctx, NULL)) {
            return true;
        }
        sim_run_for(s, 5 * SIM_MS);
    }
    return sim_read_served(s, ctx, NULL);
}

static uint64_t other_than(uint64_t a, uint64_t b, int n)
{
    for (uint64_t id = 1; id <= (uint64_t)n; id++) {
        if (id != a && id != b) {
            return id;
        }
    }
    return 0;
}

/* read_index (3): no stale read across a leader change. Every answered read
 * is checked by the simulator to cover every entry committed before it was
 * issued.
 * 1. Without CheckQuorum (so ReadIndex alone is on trial), a leader cut off
 *    into a minority still believes it leads while the majority elects a
 *    new leader and overwrites the value; a read on the old leader is never
 *    answered, although a local read there would be stale (control).
 * 2. Reads through every node are served, linearizably, and fifty reads
 *    issued together share one heartbeat round.
 * 3. With lease reads, the isolated leader answers only while its lease
 *    lasts, which ends before the majority can elect another leader. */
static void read_index(struct sim_ctx *ctx)
{
    struct sim *s = sim_start_cfg(ctx, 3, no_check_quorum);
    uint64_t old = sim_check_one_leader(s);
    sim_one_u64(s, 1, 3, false);
    sim_disconnect(s, old);
    uint64_t fresh = sim_check_one_leader(s);
    SIM_ASSERT(s, fresh != old, "no new leader in the majority");
    uint64_t written = sim_one_u64(s, 2, 2, false);
    SIM_ASSERT(s, sim_is_leader(s, old),
               "the isolated leader stepped down: the hazard did not arise");
    SIM_ASSERT(s, sim_applied_index(s, old) < written,
               "control: a local read on the old leader should be stale");
    SIM_ASSERT(s, !read_within(s, old, 2 * SIM_SEC),
               "the isolated old leader answered a read");
    sim_connect(s, old);
    sim_run_for(s, SIM_SEC);

    /* Reads through each node, after a write, see it. */
    uint64_t leader = sim_check_one_leader(s);
    uint64_t index = sim_one_u64(s, 3, 3, true);
    for (uint64_t id = 1; id <= 3; id++) {
        uint64_t ctx_id = sim_read(s, id);
        SIM_ASSERT(s, ctx_id != 0, "n%llu refused a read",
                   (unsigned long long)id);
        sim_run_for(s, 300 * SIM_MS);
        uint64_t at = 0;
        SIM_ASSERT(s, sim_read_served(s, ctx_id, &at) && at >= index,
                   "read through n%llu not served at >= %llu",
                   (unsigned long long)id, (unsigned long long)index);
    }
    /* Batching: fifty reads issued together cost one heartbeat round. */
    uint64_t before = sim_msgs_total(s);
    uint64_t first = sim_read_batch(s, leader, 50);
    SIM_ASSERT(s, first != 0, "the leader refused reads");
    sim_run_for(s, 20 * SIM_MS);
    uint64_t cost = sim_msgs_total(s) - before;
    printf("read_index: 50 reads on the leader cost %llu messages\n",
           (unsigned long long)cost);
    for (uint64_t c = first; c < first + 50; c++) {
        SIM_ASSERT(s, sim_read_served(s, c, NULL), "read %llu not served",
                   (unsigned long long)c);
    }
    SIM_ASSERT(s, cost <= 8, "50 reads cost %llu messages, not one round",
               (unsigned long long)cost);
    sim_free(s);

    /* Lease reads. */
    ctx->s = NULL;
    s = sim_start_cfg(ctx, 3, lease_reads);
    old = sim_check_one_leader(s);
    sim_one_u64(s, 10, 3, false);
    sim_run_for(s, 200 * SIM_MS);
    SIM_ASSERT(s, read_within(s, old, 5 * SIM_MS),
               "a lease read was not answered at once");
    sim_disconnect(s, old);
    uint64_t cut = s->now;
    uint64_t last_answer = 0;
    for (int k = 0; k < 100; k++) {
        if (read_within(s, old, 5 * SIM_MS)) {
            last_answer = s->now - cut;
        }
        sim_run_for(s, 5 * SIM_MS);
    }
    fresh = sim_check_one_leader(s);
    sim_one_u64(s, 11, 2, false);
    printf("read_index: isolated lease holder answered reads until %.1f ms "
           "after the cut (lease %u ticks)\n",
           (double)last_answer / SIM_MS, 30 - 2);
    /* The lease ran from the last acknowledged heartbeat (at most one
     * heartbeat interval before the cut) for election - margin ticks. */
    SIM_ASSERT(s, last_answer < 30 * s->tick_us,
               "lease reads answered %.1f ms after the cut",
               (double)last_answer / SIM_MS);
    SIM_ASSERT(s, last_answer >= 100 * SIM_MS,
               "lease reads stopped %.1f ms after the cut; the lease should "
               "outlive a heartbeat interval",
               (double)last_answer / SIM_MS);
    SIM_ASSERT(s, !read_within(s, old, SIM_SEC),
               "the deposed lease holder answered a read");
    (void)fresh;
}

/* Polls until `id` leads (true) or `limit` passes. */
static bool becomes_leader(struct sim *s, uint64_t id, uint64_t limit)
{
    uint64_t start = s->now;
    while (s->now - start < limit) {
        if (sim_is_leader(s, id)) {
            return true;
        }
        sim_run_for(s, SIM_MS);
    }
    return false;
}

/* leader_transfer (3): leadership moves to a caught-up target at once
 * (well before an election timeout); to a lagging target once it has
 * caught up, with every entry; proposals during a transfer are refused
 * with SAMPAN_ETRANSFER, never silently lost; a target that crashes
 * mid-transfer does not wedge the cluster: the transfer is abandoned after
 * an election timeout and the leader takes proposals again. Bad targets are
 * refused. */
static void leader_transfer(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    sim_one_u64(s, 1, 3, false);
    SIM_ASSERT(s, sim_transfer(s, leader, leader) == SAMPAN_EINVAL,
               "transfer to self accepted");
    SIM_ASSERT(s, sim_transfer(s, leader, 7) == SAMPAN_ENOTMEMBER,
               "transfer to a non-member accepted");
    uint64_t target = leader % 3 + 1;
    SIM_ASSERT(s, sim_transfer(s, target, leader) == SAMPAN_ENOTLEADER,
               "a follower accepted a transfer request");

    /* Caught-up target. */
    struct sampan_status st;
    sim_status(s, leader, &st);
    uint64_t term = st.term;
    uint64_t start = s->now;
    SIM_ASSERT(s, sim_transfer(s, leader, target) == 0, "transfer refused");
    uint64_t idx;
    SIM_ASSERT(s, sim_propose(s, leader, "x", 1, &idx) == SAMPAN_ETRANSFER,
               "a proposal during the transfer was not refused");
    SIM_ASSERT(s, becomes_leader(s, target, 100 * SIM_MS),
               "caught-up target n%llu did not take over within 100 ms",
               (unsigned long long)target);
    sim_status(s, target, &st);
    printf("leader_transfer: n%llu -> n%llu in %.1f ms, term %llu -> %llu\n",
           (unsigned long long)leader, (unsigned long long)target,
           (double)(s->now - start) / SIM_MS, (unsigned long long)term,
           (unsigned long long)st.term);
    SIM_ASSERT(s, st.term == term + 1, "transfer took more than one term");
    sim_one_u64(s, 2, 3, false);

    /* Lagging target: it misses entries, then must catch up first. */
    leader = target;
    target = other_than(leader, 0, 3);
    sim_disconnect(s, target);
    uint64_t last = 0;
    for (uint64_t v = 10; v < 15; v++) {
        last = sim_one_u64(s, v, 2, false);
    }
    sim_connect(s, target);
    SIM_ASSERT(s, sim_transfer(s, leader, target) == 0, "transfer refused");
    SIM_ASSERT(s, becomes_leader(s, target, 300 * SIM_MS),
               "lagging target n%llu did not take over",
               (unsigned long long)target);
    sim_status(s, target, &st);
    SIM_ASSERT(s, st.last_index > last, "new leader lacks committed entries");
    sim_one_u64(s, 20, 3, false);

    /* Target crashes mid-transfer. */
    leader = target;
    target = other_than(leader, 0, 3);
    SIM_ASSERT(s, sim_transfer(s, leader, target) == 0, "transfer refused");
    sim_crash(s, target);
    sim_run_for(s, 100 * SIM_MS);
    if (sim_is_leader(s, leader)) {
        SIM_ASSERT(s, sim_propose(s, leader, "y", 1, &idx) == SAMPAN_ETRANSFER,
                   "proposal accepted while the transfer was pending");
    }
    sim_run_for(s, 400 * SIM_MS); /* past an election timeout */
    sim_one_u64(s, 30, 2, true);
    sim_status(s, sim_check_one_leader(s), &st);
    SIM_ASSERT(s, st.lead_transferee == 0, "transfer never abandoned");
    sim_restart(s, target);
    sim_one_u64(s, 31, 3, true);
}

const struct sim_scenario sim_scenarios_beyond[] = {
    {"pre_vote", pre_vote},
    {"check_quorum", check_quorum},
    {"partial_partition", partial_partition},
    {"read_index", read_index},
    {"leader_transfer", leader_transfer},
    {NULL, NULL},
};
