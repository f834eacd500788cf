/* sim/scen_membership.c: membership changes (SCENARIOS.md "membership":
 * add and remove one server, and joint changes, under faults; Raft thesis
 * chapter 4): growing 3 -> 5, shrinking 5 -> 3, replacing a node one change
 * after the other and in one joint change, and removing the leader. In
 * each, clients keep proposing through random nodes and the random
 * schedules' faults (partitions, one-way cuts, crashes and restarts, power
 * loss, fsync errors, message loss, duplication, reordering) strike while
 * the membership driver (members.c) works through whichever node leads.
 * The checker holds every invariant after every event throughout (one
 * leader per term, log matching, leader completeness, state machine
 * safety, durability against the committed configuration, only voters
 * elected); at the end the network heals and every member must hold the
 * configuration asked for, serve a read, and hold every command that was
 * seen committed. Each scenario also checks the path its change took
 * (learner first, one voter at a time, the joint configuration). */
#include <string.h>

#include "scenarios.h"

static uint32_t bit(uint64_t id)
{
    return 1u << id;
}

static int popcount(uint32_t bits)
{
    int n = 0;
    for (; bits != 0; bits &= bits - 1) {
        n++;
    }
    return n;
}

/* Clients propose and, one round in `fault_one_in` (0: never), a random
 * fault strikes, while the driver moves the cluster toward `want`: at
 * least `min_rounds` rounds, then until the change is done or `max_rounds`
 * passed. Returns whether it is done. */
static bool churn(struct sim *s, const bool *want, bool joint,
                  struct sim_history *h, int min_rounds, int max_rounds,
                  int fault_one_in)
{
    bool done = false;
    for (int round = 0; round < max_rounds && (round < min_rounds || !done);
         round++) {
        sim_client_propose(s, h);
        done = sim_members_step(s, want, joint);
        sim_run_for(s, sim_rand_range(s, 0, 20) * SIM_MS);
        if (fault_one_in > 0 && sim_rand(s) % (uint64_t)fault_one_in == 0) {
            sim_random_fault(s);
        }
        sim_run_for(s, sim_rand_range(s, 1, 150) * SIM_MS);
        sim_history_note(s, h);
    }
    return done;
}

/* One membership change under faults. If the faults keep it from
 * finishing, they stop (the network heals, nodes restart) and it must
 * finish under the clients alone. */
static void change_under_faults(struct sim *s, const bool *want, bool joint,
                                struct sim_history *h)
{
    if (churn(s, want, joint, h, 30, 300, 3)) {
        return;
    }
    sim_end_faults(s);
    SIM_ASSERT(s, churn(s, want, joint, h, 0, 300, 0),
               "the membership change did not complete after healing");
}

static struct sim *start(struct sim_ctx *ctx, int n, bool *want,
                         struct sim_history *h)
{
    struct sim *s = sim_start(ctx, n);
    sim_set_reliable(s, false); /* 10% of messages lost, 0-27 ms delays */
    memset(want, 0, (SIM_MAX_NODES + 1) * sizeof(*want));
    for (int id = 1; id <= n; id++) {
        want[id] = true;
    }
    memset(h, 0, sizeof(*h));
    h->next_value = 1;
    sim_check_one_leader(s);
    return s;
}

/* The first committed configuration listing id, or NULL. */
static const struct sim_conf_seen *first_listing(const struct sim *s,
                                                 uint64_t id)
{
    for (size_t i = 0; i < s->n_conf_seen; i++) {
        const struct sim_conf_seen *c = &s->conf_seen[i];
        if ((c->voters | c->outgoing | c->learners) & bit(id)) {
            return c;
        }
    }
    return NULL;
}

/* Thesis 4.2.1: a new node joined as a learner and became a voter later. */
static void check_joined_as_learner(struct sim *s, uint64_t id)
{
    const struct sim_conf_seen *first = first_listing(s, id);
    SIM_ASSERT(s, first != NULL, "n%llu was never committed as a member",
               (unsigned long long)id);
    SIM_ASSERT(s, (first->learners & bit(id)) && !(first->voters & bit(id)),
               "n%llu joined as a voter (configuration at %llu), not as a "
               "learner",
               (unsigned long long)id, (unsigned long long)first->index);
    SIM_ASSERT(s,
               s->committed_conf_index > first->index &&
                   sampan_membership_is_voter(&s->committed_conf, id),
               "n%llu was not promoted", (unsigned long long)id);
}

/* Outside a joint configuration, each committed configuration differs
 * from the one before in at most one voter (the single-server changes of
 * thesis 4.2). Returns how many joint configurations were committed. */
static int check_steps(struct sim *s, uint32_t initial)
{
    uint32_t prev = initial;
    int joint = 0;
    for (size_t i = 0; i < s->n_conf_seen; i++) {
        const struct sim_conf_seen *c = &s->conf_seen[i];
        if (c->outgoing != 0) {
            SIM_ASSERT(s, c->outgoing == prev,
                       "joint configuration at %llu does not leave the "
                       "voters before it",
                       (unsigned long long)c->index);
            joint++;
        } else {
            /* (Leaving a joint configuration keeps its incoming voters.) */
            SIM_ASSERT(s, popcount(c->voters ^ prev) <= 1,
                       "configuration at %llu changes %d voters at once "
                       "without a joint configuration",
                       (unsigned long long)c->index,
                       popcount(c->voters ^ prev));
        }
        prev = c->voters;
    }
    return joint;
}

static uint32_t bits_of(const bool *want, int n)
{
    uint32_t bits = 0;
    for (int id = 1; id <= n; id++) {
        bits |= want[id] ? bit((uint64_t)id) : 0;
    }
    return bits;
}

/* membership_grow (3 -> 5): two fresh nodes added one after the other,
 * each joining as a learner and promoted once caught up. The first
 * catches up from the log (nothing is compacted yet), the second, once
 * the others compact, usually by a snapshot; both then restart from their own
 * disks (a node that joined knows no configuration before its first
 * configuration entry, so it must not have snapshotted there). */
static void membership_grow(struct sim_ctx *ctx)
{
    bool want[SIM_MAX_NODES + 1];
    struct sim_history h;
    struct sim *s = start(ctx, 3, want, &h);
    uint64_t a = sim_add_node(s);
    want[a] = true;
    change_under_faults(s, want, false, &h);
    check_joined_as_learner(s, a);
    s->snapshot_every = 7;
    churn(s, want, false, &h, 20, 20, 0);
    uint64_t b = sim_add_node(s);
    want[b] = true;
    change_under_faults(s, want, false, &h);
    check_joined_as_learner(s, b);
    for (uint64_t id = a; id <= b; id++) {
        sim_crash(s, id);
        sim_restart_ok(s, id);
    }
    sim_heal_and_verify(s, want, false, &h);
    check_steps(s, bits_of(want, 3));
    SIM_ASSERT(s, sim_n_members(s) == 5, "%d members, not 5", sim_n_members(s));
    printf("grow: n%llu and n%llu joined as learners and were promoted; "
           "%zu configurations committed, n%llu installed %llu snapshots\n",
           (unsigned long long)a, (unsigned long long)b, s->n_conf_seen,
           (unsigned long long)b,
           (unsigned long long)s->nodes[b].snapshots_installed);
}

/* membership_shrink (5 -> 3): two voters removed, one at a time; the
 * removed nodes are retired; the three left still tolerate a crash. */
static void membership_shrink(struct sim_ctx *ctx)
{
    bool want[SIM_MAX_NODES + 1];
    struct sim_history h;
    struct sim *s = start(ctx, 5, want, &h);
    want[4] = want[5] = false;
    change_under_faults(s, want, false, &h);
    sim_heal_and_verify(s, want, false, &h);
    SIM_ASSERT(s, check_steps(s, 0x3e) == 0, "a joint configuration");
    SIM_ASSERT(s, s->nodes[4].retired && s->nodes[5].retired,
               "removed nodes still running");
    uint64_t leader = sim_check_one_leader(s);
    sim_crash(s, leader % 3 + 1);
    sim_one_u64(s, 0x5e7, 2, true);
    printf("shrink: %zu configurations committed, 3 voters commit with "
           "one of them down\n",
           s->n_conf_seen);
}

/* membership_replace: a fresh node added, then an old one removed (two
 * single-server changes). */
static void membership_replace(struct sim_ctx *ctx)
{
    bool want[SIM_MAX_NODES + 1];
    struct sim_history h;
    struct sim *s = start(ctx, 3, want, &h);
    uint64_t fresh = sim_add_node(s);
    want[fresh] = true;
    want[3] = false;
    change_under_faults(s, want, false, &h);
    sim_heal_and_verify(s, want, false, &h);
    check_joined_as_learner(s, fresh);
    SIM_ASSERT(s, check_steps(s, 0xe) == 0, "a joint configuration");
    SIM_ASSERT(s, s->nodes[3].retired, "n3 still running");
    /* Added before removing: never fewer than three voters. */
    for (size_t i = 0; i < s->n_conf_seen; i++) {
        SIM_ASSERT(s, popcount(s->conf_seen[i].voters) >= 3,
                   "only %d voters at %llu", popcount(s->conf_seen[i].voters),
                   (unsigned long long)s->conf_seen[i].index);
    }
}

/* membership_replace_joint: two voters replaced by two fresh nodes in one
 * change. The fresh nodes join as learners, and once they caught up one
 * change promotes them and removes two old voters: a joint configuration
 * (thesis 4.3), which the leader leaves by itself. */
static void membership_replace_joint(struct sim_ctx *ctx)
{
    bool want[SIM_MAX_NODES + 1];
    struct sim_history h;
    struct sim *s = start(ctx, 3, want, &h);
    uint64_t a = sim_add_node(s);
    uint64_t b = sim_add_node(s);
    want[a] = want[b] = true;
    want[2] = want[3] = false;
    change_under_faults(s, want, true, &h);
    sim_heal_and_verify(s, want, true, &h);
    int joint = check_steps(s, 0xe);
    SIM_ASSERT(s, joint >= 1, "no joint configuration was committed");
    SIM_ASSERT(s, s->nodes[2].retired && s->nodes[3].retired,
               "removed nodes still running");
    printf("replace_joint: %d joint configuration(s) committed and left\n",
           joint);
}

/* Runs until leader `id` has committed its configuration and every node
 * in `ids` holds its whole log (up to 10 s). */
static void settle_conf(struct sim *s, uint64_t id, const uint64_t *ids, int n)
{
    for (int k = 0; k < 1000; k++) {
        struct sampan_status st;
        sim_status(s, id, &st);
        bool done = st.role == SAMPAN_LEADER && st.conf_index <= st.commit;
        for (int i = 0; i < n && done; i++) {
            uint64_t match = 0;
            done = sampan_raft_member_match(s->nodes[id].raft, ids[i],
                                            &match) == 0 &&
                   match == st.last_index;
        }
        if (done) {
            return;
        }
        sim_run_for(s, 10 * SIM_MS);
    }
    sim_fail(s, "n%llu did not settle its configuration",
             (unsigned long long)id);
}

/* membership_joint_partitioned: a joint configuration's entries commit
 * only with a majority of the old voters as well (thesis 4.3). Right
 * after the leader enters the joint configuration that swaps the two
 * other old voters for two fresh nodes, it and the fresh nodes (a majority
 * of the new voters) are cut off from the old ones: nothing commits. The
 * leader then crashes and the partition heals: the old voters elect a
 * leader without the joint entry, which is truncated away on the fresh
 * nodes (their configuration reverts), and the change is done again. */
static void membership_joint_partitioned(struct sim_ctx *ctx)
{
    bool want[SIM_MAX_NODES + 1];
    struct sim_history h;
    struct sim *s = start(ctx, 3, want, &h);
    sim_set_reliable(s, true);
    sim_one_u64(s, 1, 3, true);
    uint64_t leader = sim_check_one_leader(s);
    uint64_t fresh[2] = {sim_add_node(s), sim_add_node(s)};
    uint64_t old[2];
    for (int i = 0, k = 0; i < 3; i++) {
        if ((uint64_t)i + 1 != leader) {
            old[k++] = (uint64_t)i + 1;
        }
    }
    for (int i = 0; i < 2; i++) {
        struct sampan_conf_change ch = {.type = SAMPAN_CONF_ADD_LEARNER,
                                        .id = fresh[i]};
        SIM_ASSERT(s, sim_change(s, leader, &ch, 1, NULL) == 0,
                   "adding learner n%llu refused",
                   (unsigned long long)fresh[i]);
        settle_conf(s, leader, fresh, i + 1);
    }
    int group[SIM_MAX_NODES + 1] = {0};
    group[old[0]] = group[old[1]] = 1;
    sim_partition(s, group);
    const struct sampan_conf_change swap[] = {
        {.type = SAMPAN_CONF_ADD_VOTER, .id = fresh[0]},
        {.type = SAMPAN_CONF_ADD_VOTER, .id = fresh[1]},
        {.type = SAMPAN_CONF_REMOVE, .id = old[0]},
        {.type = SAMPAN_CONF_REMOVE, .id = old[1]},
    };
    uint64_t joint_index = 0;
    SIM_ASSERT(s, sim_change(s, leader, swap, 4, &joint_index) == 0,
               "the joint change was refused");
    SIM_ASSERT(
        s, sampan_raft_membership(s->nodes[leader].raft, NULL)->n_outgoing > 0,
        "the leader did not enter the joint configuration");
    struct sampan_status st;
    sim_status(s, leader, &st);
    uint64_t commit = st.commit;
    for (int k = 0; k < 20; k++) {
        sim_propose(s, leader, "p", 1, NULL);
        sim_run_for(s, 100 * SIM_MS);
    }
    sim_status(s, leader, &st);
    SIM_ASSERT(s, st.commit == commit && s->committed_conf_index < joint_index,
               "entries committed without a majority of the old voters "
               "(commit %llu -> %llu)",
               (unsigned long long)commit, (unsigned long long)st.commit);
    sim_crash(s, leader);
    sim_heal(s);
    sim_run_for(s, 2 * SIM_SEC);
    uint64_t next = sim_check_one_leader(s);
    SIM_ASSERT(s, next == old[0] || next == old[1],
               "n%llu leads, not one of the old voters",
               (unsigned long long)next);
    sim_one_u64(s, 2, 4, true); /* the old voters and the learners */
    for (int i = 0; i < 2; i++) {
        const struct sampan_membership *c =
            sampan_raft_membership(s->nodes[fresh[i]].raft, NULL);
        SIM_ASSERT(
            s, c->n_outgoing == 0 && sampan_membership_is_learner(c, fresh[i]),
            "n%llu kept the truncated joint configuration",
            (unsigned long long)fresh[i]);
    }
    want[old[0]] = want[old[1]] = false;
    want[fresh[0]] = want[fresh[1]] = true;
    sim_restart_ok(s, leader);
    change_under_faults(s, want, true, &h);
    sim_heal_and_verify(s, want, true, &h);
    SIM_ASSERT(s, check_steps(s, 0xe) >= 1, "no joint configuration");
}

/* membership_remove_leader: the leader removes itself (thesis 4.2.2). It
 * keeps leading until the removal commits, then steps down and hands over
 * with TIMEOUT_NOW, so a new leader is elected well within an election
 * timeout; it never campaigns or leads again. Then, under faults, a fresh
 * node is added and whichever node leads by then is removed too. */
static void membership_remove_leader(struct sim_ctx *ctx)
{
    bool want[SIM_MAX_NODES + 1];
    struct sim_history h;
    struct sim *s = start(ctx, 3, want, &h);
    sim_set_reliable(s, true);
    uint64_t old = sim_check_one_leader(s);
    sim_one_u64(s, 1, 3, true); /* the leader committed in its term */
    old = sim_check_one_leader(s);
    struct sampan_conf_change ch = {.type = SAMPAN_CONF_REMOVE, .id = old};
    SIM_ASSERT(s, sim_change(s, old, &ch, 1, NULL) == 0,
               "the leader refused to remove itself");
    SIM_ASSERT(s,
               sim_is_leader(s, old) &&
                   !sampan_membership_is_voter(
                       sampan_raft_membership(s->nodes[old].raft, NULL), old),
               "n%llu stopped leading before its removal committed",
               (unsigned long long)old);
    uint64_t t0 = s->now;
    while (sim_is_leader(s, old) && s->now - t0 < SIM_SEC) {
        sim_run_for(s, 100);
    }
    SIM_ASSERT(s, !sim_is_leader(s, old), "n%llu still leads after 1 s",
               (unsigned long long)old);
    SIM_ASSERT(s, !sim_committed_member(s, old),
               "n%llu stepped down before its removal committed",
               (unsigned long long)old);
    uint64_t t_down = s->now;
    struct sampan_status st;
    sim_status(s, old, &st);
    uint64_t old_term = st.term;
    while (sim_leader(s) == 0 && s->now - t_down < SIM_SEC) {
        sim_run_for(s, 100);
    }
    uint64_t next = sim_leader(s);
    uint64_t handover = s->now - t_down;
    /* Elections wait at least 300 ms (30 ticks of 10 ms); TIMEOUT_NOW
     * does not. */
    SIM_ASSERT(s, next != 0 && next != old && handover < 100 * SIM_MS,
               "no new leader within 100 ms of n%llu stepping down",
               (unsigned long long)old);
    for (int k = 0; k < 60; k++) {
        sim_client_propose(s, &h);
        sim_run_for(s, 50 * SIM_MS);
        sim_history_note(s, &h);
        sim_status(s, old, &st);
        /* (Its term may follow a late answer to one of its appends.) */
        SIM_ASSERT(s, st.role == SAMPAN_FOLLOWER,
                   "removed n%llu is %s in term %llu", (unsigned long long)old,
                   sampan_role_name(st.role), (unsigned long long)st.term);
    }
    want[old] = false;
    printf("remove_leader: n%llu stepped down, n%llu led %.1f ms later\n",
           (unsigned long long)old, (unsigned long long)next,
           (double)handover / SIM_MS);
    /* Under faults: grow back, then remove whoever leads. */
    sim_set_reliable(s, false);
    uint64_t fresh = sim_add_node(s);
    want[fresh] = true;
    change_under_faults(s, want, false, &h);
    uint64_t second = sim_leader(s);
    for (int k = 0; k < 100 && second == 0; k++) {
        churn(s, want, false, &h, 1, 1, 3);
        second = sim_leader(s);
    }
    if (second == 0) { /* the faults left no majority: end them */
        sim_end_faults(s);
        second = sim_check_one_leader(s);
    }
    want[second] = false;
    change_under_faults(s, want, false, &h);
    sim_heal_and_verify(s, want, false, &h);
    SIM_ASSERT(s, s->nodes[old].retired && s->nodes[second].retired,
               "removed leaders still running");
    for (size_t t = old_term + 1; t < s->leader_of_term_cap; t++) {
        SIM_ASSERT(s, s->leader_of_term[t] != old, "removed n%llu led term %zu",
                   (unsigned long long)old, t);
    }
}

const struct sim_scenario sim_scenarios_membership[] = {
    {"membership_grow", membership_grow},
    {"membership_shrink", membership_shrink},
    {"membership_replace", membership_replace},
    {"membership_replace_joint", membership_replace_joint},
    {"membership_remove_leader", membership_remove_leader},
    {"membership_joint_partitioned", membership_joint_partitioned},
    {NULL, NULL},
};
