/* sim/members.c: driving membership changes (thesis chapter 4) in the
 * simulator: which nodes the committed configuration holds, and the driver
 * that moves a cluster toward a wanted set of voters one change at a time
 * through whichever node leads, whatever faults are going on, retiring
 * nodes once their removal committed. The scenarios of scen_membership.c
 * and the random schedules of random.c are written with it. */
#include <string.h>

#include "sim.h"

static bool lists(const struct sampan_membership *c, uint64_t id)
{
    return sampan_membership_is_voter(c, id) ||
           sampan_membership_is_learner(c, id);
}

bool sim_committed_member(const struct sim *s, uint64_t id)
{
    return lists(&s->committed_conf, id);
}

int sim_n_members(const struct sim *s)
{
    int n = 0;
    for (int id = 1; id <= s->n; id++) {
        n += !s->nodes[id].retired && sim_committed_member(s, (uint64_t)id);
    }
    return n;
}

/* `c` has exactly the wanted voters, no learners, and is not joint. */
static bool conf_is(const struct sim *s, const struct sampan_membership *c,
                    const bool *want)
{
    if (c->n_outgoing > 0 || c->n_learners > 0) {
        return false;
    }
    uint32_t wanted = 0;
    for (int id = 1; id <= s->n; id++) {
        if (want[id]) {
            wanted++;
            if (!sampan_membership_is_voter(c, (uint64_t)id)) {
                return false;
            }
        }
    }
    return c->n_voters == wanted;
}

/* A removed node is stopped for good once its removal is committed (it
 * may have learned of it or not: nothing depends on it any more). */
static void retire_removed(struct sim *s, const bool *want)
{
    for (int id = 1; id <= s->n; id++) {
        struct sim_node *nd = &s->nodes[id];
        if (nd->was_member && !nd->retired && !want[id] &&
            !sim_committed_member(s, (uint64_t)id)) {
            sim_retire(s, (uint64_t)id);
        }
    }
}

/* Close enough to the leader's log to become a voter at once (what the
 * core calls caught up: within promote_lag_entries). */
static bool caught_up(struct sim *s, const struct sampan_raft *r, uint64_t id)
{
    struct sampan_status st;
    sampan_raft_status(r, &st);
    uint64_t match = 0;
    return sampan_raft_member_match(r, id, &match) == 0 && match > 0 &&
           match + s->base_cfg.promote_lag_entries >= st.last_index;
}

static int change(struct sim *s, uint64_t leader, uint8_t type, uint64_t id)
{
    struct sampan_conf_change ch = {.type = type, .id = id};
    return sim_change(s, leader, &ch, 1, NULL);
}

/* Joint mode, once every wanted node is at least a learner: promote the
 * wanted learners and remove the unwanted voters in one change. */
static void joint_swap(struct sim *s, uint64_t leader,
                       const struct sampan_membership *c, const bool *want)
{
    const struct sampan_raft *r = s->nodes[leader].raft;
    struct sampan_conf_change ch[SAMPAN_MAX_MEMBERS];
    size_t n = 0;
    for (uint32_t i = 0; i < c->n_learners; i++) {
        uint64_t id = c->learners[i];
        if (id <= (uint64_t)s->n && want[id]) {
            if (!caught_up(s, r, id)) {
                return; /* wait: it would only be marked for promotion */
            }
            ch[n++] = (struct sampan_conf_change){.type = SAMPAN_CONF_ADD_VOTER,
                                                  .id = id};
        }
    }
    for (uint32_t i = 0; i < c->n_voters && n < SAMPAN_MAX_MEMBERS; i++) {
        uint64_t id = c->voters[i];
        if (id > (uint64_t)s->n || !want[id]) {
            ch[n++] = (struct sampan_conf_change){.type = SAMPAN_CONF_REMOVE,
                                                  .id = id};
        }
    }
    if (n > 0) {
        sim_change(s, leader, ch, n, NULL);
    }
}

void sim_check_conf(struct sim *s, uint64_t id, const bool *want)
{
    SIM_ASSERT(s, s->nodes[id].up, "n%llu is down", (unsigned long long)id);
    const struct sampan_membership *c =
        sampan_raft_membership(s->nodes[id].raft, NULL);
    if (conf_is(s, c, want)) {
        return;
    }
    char got[256];
    char asked[256];
    size_t used = 0;
    got[0] = asked[0] = '\0';
    for (uint32_t i = 0; i < c->n_voters && used < sizeof(got); i++) {
        used += (size_t)snprintf(got + used, sizeof(got) - used, " n%llu",
                                 (unsigned long long)c->voters[i]);
    }
    used = 0;
    for (int k = 1; k <= s->n && used < sizeof(asked); k++) {
        if (want[k]) {
            used +=
                (size_t)snprintf(asked + used, sizeof(asked) - used, " n%d", k);
        }
    }
    sim_fail(s, "n%llu holds voters%s (%u outgoing, %u learners); asked for%s",
             (unsigned long long)id, got, c->n_outgoing, c->n_learners, asked);
}

bool sim_members_step(struct sim *s, const bool *want, bool joint)
{
    retire_removed(s, want);
    uint64_t leader = sim_leader(s);
    if (leader == 0) {
        return false;
    }
    const struct sampan_raft *r = s->nodes[leader].raft;
    struct sampan_status st;
    sampan_raft_status(r, &st);
    uint64_t conf_index = 0;
    const struct sampan_membership *c = sampan_raft_membership(r, &conf_index);
    if (conf_index > st.commit || c->n_outgoing > 0) {
        return false; /* a change is pending (joint ones end by themselves) */
    }
    if (conf_is(s, c, want)) {
        /* Done once the checker saw it committed too (a change pending in
         * the leader's log, say a demotion, would not be). */
        return conf_is(s, &s->committed_conf, want);
    }
    /* Add first, so the cluster keeps its fault tolerance throughout. */
    for (int id = 1; id <= s->n; id++) {
        if (want[id] && !lists(c, (uint64_t)id) && !s->nodes[id].retired) {
            change(s, leader,
                   joint ? SAMPAN_CONF_ADD_LEARNER : SAMPAN_CONF_ADD_VOTER,
                   (uint64_t)id);
            return false;
        }
    }
    if (joint) {
        joint_swap(s, leader, c, want);
        return false;
    }
    for (uint32_t i = 0; i < c->n_learners; i++) {
        uint64_t id = c->learners[i];
        if (id <= (uint64_t)s->n && want[id]) {
            /* Promoted by the leader once caught up if it is marked;
             * otherwise ask. */
            if (!(c->learners_promote >> i & 1u)) {
                change(s, leader, SAMPAN_CONF_ADD_VOTER, id);
            }
            return false;
        }
    }
    for (uint32_t i = 0; i < c->n_learners; i++) {
        if (c->learners[i] > (uint64_t)s->n || !want[c->learners[i]]) {
            change(s, leader, SAMPAN_CONF_REMOVE, c->learners[i]);
            return false;
        }
    }
    for (uint32_t i = 0; i < c->n_voters; i++) {
        if (c->voters[i] > (uint64_t)s->n || !want[c->voters[i]]) {
            change(s, leader, SAMPAN_CONF_REMOVE, c->voters[i]);
            return false;
        }
    }
    return false;
}
