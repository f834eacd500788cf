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

const struct sim_scenario sim_scenarios_beyond[] = {
    {"pre_vote", pre_vote},
    {"check_quorum", check_quorum},
    {"partial_partition", partial_partition},
    {NULL, NULL},
};
