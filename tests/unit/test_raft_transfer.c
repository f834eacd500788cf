/* tests/unit/test_raft_transfer.c: leadership transfer, after the Raft
 * thesis section 3.10: the leader stops accepting client requests, brings
 * the target's log up to date, and sends it TimeoutNow; the target starts
 * an election at once (no PreVote, thesis 9.6), and voters set leader
 * stickiness (4.2.3) aside for it. The attempt is abandoned after an
 * election timeout. Public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

/* A leader of term 1 in a 3-node cluster whose no-op (index 1) both
 * followers acknowledged: both are caught up and replicating. */
static struct sampan_raft *leader3(void)
{
    struct sampan_raft *r = fx_new(1, 3, 3);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    fx_ack(r, 3, 1);
    fx_discard(r);
    assert_int_equal(fx_status(r).commit, 1);
    return r;
}

/* Node `id` of 3, a follower of leader 1 in term 1 that just heard from it
 * (so leader stickiness applies). */
static struct sampan_raft *follower_of_1(uint64_t id)
{
    struct sampan_raft *f = fx_new(id, 3, 4);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, id, 1);
    fx_step(f, &hb);
    fx_discard(f);
    assert_int_equal(fx_status(f).leader, 1);
    assert_int_equal(fx_status(f).term, 1);
    return f;
}

static void step_hb_resp(struct sampan_raft *r, uint64_t from)
{
    struct sampan_msg m =
        fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, from, 1, fx_status(r).term);
    fx_step(r, &m);
}

static struct sampan_msg vote_req(uint64_t from, uint64_t to, uint64_t term,
                                  uint64_t index, uint64_t log_term,
                                  uint64_t context)
{
    struct sampan_msg m = fx_msg(SAMPAN_MSG_VOTE, from, to, term);
    m.index = index;
    m.log_term = log_term;
    m.context = context;
    return m;
}

/* Ticks and settles until some node leads; returns it (fails after 100). */
static uint64_t net_elect(struct fx_net *net)
{
    for (int i = 0; i < 100; i++) {
        fx_net_tick(net);
        fx_net_settle(net);
        uint64_t leader = fx_net_leader(net);
        if (leader != 0) {
            return leader;
        }
    }
    fail_msg("no leader elected");
    return 0;
}

/* ---- the leader -----------------------------------------------------------
 */

/* Thesis 3.10 names a target among the other voters: the leader itself is
 * not one, nor is a non-member, and only a leader can transfer. */
static void test_transfer_argument_errors(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(sampan_raft_transfer_leader(r, 1), SAMPAN_EINVAL);
    assert_int_equal(sampan_raft_transfer_leader(r, 7), SAMPAN_ENOTMEMBER);
    assert_int_equal(sampan_raft_transfer_leader(r, SAMPAN_NONE),
                     SAMPAN_ENOTMEMBER);
    assert_int_equal(fx_status(r).lead_transferee, 0);
    assert_false(sampan_raft_has_ready(r));
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);

    struct sampan_raft *f = follower_of_1(2);
    assert_int_equal(sampan_raft_transfer_leader(f, 3), SAMPAN_ENOTLEADER);
    assert_int_equal(sampan_raft_transfer_leader(f, 2), SAMPAN_ENOTLEADER);
    assert_false(sampan_raft_has_ready(f));
    sampan_raft_free(f);
    sampan_raft_free(r);
}

/* Thesis 3.10 step 2: a target whose log is already up to date is sent
 * TimeoutNow at once; asking again changes nothing. */
static void test_caught_up_target_gets_timeout_now_at_once(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(sampan_raft_transfer_leader(r, 2), 0);
    assert_int_equal(fx_status(r).lead_transferee, 2);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 1);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_TIMEOUT_NOW, 2);
    assert_non_null(m);
    assert_int_equal(m->from, 1);
    assert_int_equal(m->term, 1);
    assert_false(fx_is_persisted(&rd, m));
    fx_rd_free(&rd);
    assert_int_equal(sampan_raft_transfer_leader(r, 2), 0);
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 0);
    fx_rd_free(&rd);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    sampan_raft_free(r);
}

/* Thesis 3.10 step 1: "the prior leader sends its log entries to the target
 * server" first; TimeoutNow goes out only once the target's match index
 * reaches the leader's last index. */
static void test_lagging_target_caught_up_first(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    assert_int_equal(sampan_raft_propose(r, "b", 1, NULL), 0);
    assert_int_equal(sampan_raft_transfer_leader(r, 3), 0);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 0);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(a);
    assert_int_equal(a->index, 1);
    assert_int_equal(a->n_entries, 2);
    fx_rd_free(&rd);
    fx_ack(r, 2, 3); /* another follower catching up does not count */
    fx_ack(r, 3, 2);
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 0);
    fx_rd_free(&rd);
    fx_ack(r, 3, 3);
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 1);
    assert_non_null(fx_find(&rd, SAMPAN_MSG_TIMEOUT_NOW, 3));
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* A target in probe state (its match unknown) is probed, then sent the
 * missing entries, then TimeoutNow. */
static void test_probing_target_caught_up_first(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 3);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    fx_discard(r);
    /* Node 3 never answered the first probe. */
    assert_int_equal(sampan_raft_transfer_leader(r, 3), 0);
    step_hb_resp(r, 3);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 0);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(a);
    assert_int_equal(a->index, 0);
    assert_int_equal(a->n_entries, 2);
    fx_rd_free(&rd);
    fx_ack(r, 3, 2);
    fx_drain(r, &rd);
    assert_non_null(fx_find(&rd, SAMPAN_MSG_TIMEOUT_NOW, 3));
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Thesis 3.10 step 1: during the transfer the leader stops accepting client
 * requests (SAMPAN_ETRANSFER); after an election timeout without the
 * transfer completing it is abandoned and they are accepted again, and a
 * late catch-up of the target no longer triggers TimeoutNow. */
static void test_proposals_refused_until_transfer_abandoned(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    fx_discard(r);
    assert_int_equal(sampan_raft_transfer_leader(r, 3), 0);
    uint64_t index = 99;
    assert_int_equal(sampan_raft_propose(r, "b", 1, &index), SAMPAN_ETRANSFER);
    assert_int_equal(index, 0);
    assert_int_equal(fx_status(r).last_index, 2);
    for (unsigned i = 1; i < FX_ELECTION; i++) {
        sampan_raft_tick(r);
        step_hb_resp(r, 2); /* keep CheckQuorum satisfied */
        fx_discard(r);
        assert_int_equal(fx_status(r).lead_transferee, 3);
        assert_int_equal(sampan_raft_propose(r, "b", 1, NULL),
                         SAMPAN_ETRANSFER);
    }
    sampan_raft_tick(r);
    step_hb_resp(r, 2);
    fx_discard(r);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_LEADER);
    assert_int_equal(st.lead_transferee, 0);
    assert_int_equal(sampan_raft_propose(r, "b", 1, &index), 0);
    assert_int_equal(index, 3);
    fx_discard(r);
    fx_ack(r, 3, 3);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 0);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* A proposal forwarded by a follower during the transfer is dropped like a
 * lost message (the follower learns the outcome by applying), not turned
 * into an error of sampan_raft_step. */
static void test_forwarded_proposal_dropped_during_transfer(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    fx_discard(r);
    assert_int_equal(sampan_raft_transfer_leader(r, 3), 0);
    struct sampan_entry e = {.type = SAMPAN_ENTRY_NORMAL,
                             .len = 1,
                             .data = (uint8_t *)(uintptr_t) "p"};
    struct sampan_msg m = fx_msg(SAMPAN_MSG_PROPOSE, 2, 1, 1);
    m.entries = &e;
    m.n_entries = 1;
    assert_int_equal(sampan_raft_step(r, &m), 0);
    assert_int_equal(fx_status(r).last_index, 2);
    sampan_raft_free(r);
}

/* Stepping down ends the transfer. */
static void test_step_down_ends_transfer(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    fx_discard(r);
    assert_int_equal(sampan_raft_transfer_leader(r, 3), 0);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 2);
    fx_step(r, &hb);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.lead_transferee, 0);
    sampan_raft_free(r);
}

/* ---- the target and the voters -------------------------------------------
 */

/* Thesis 3.10 step 2: upon TimeoutNow the target starts an election at
 * once: a real one in term+1 (not PreVote, which the old leader's
 * followers would refuse), its VOTE marked as a transfer campaign. */
static void test_timeout_now_campaigns_without_prevote(void **state)
{
    (void)state;
    struct sampan_raft *f = follower_of_1(2);
    struct sampan_msg tn = fx_msg(SAMPAN_MSG_TIMEOUT_NOW, 1, 2, 1);
    fx_step(f, &tn);
    struct sampan_status st = fx_status(f);
    assert_int_equal(st.role, SAMPAN_CANDIDATE);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, 2);
    struct fx_rd rd;
    fx_drain(f, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.term, 2);
    assert_int_equal(rd.hard_state.vote, 2);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_PREVOTE, 0), 0);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 0), 2);
    for (uint64_t to = 1; to <= 3; to += 2) {
        const struct sampan_msg *v = fx_find(&rd, SAMPAN_MSG_VOTE, to);
        assert_non_null(v);
        assert_int_equal(v->term, 2);
        assert_int_equal(v->context, SAMPAN_CAMPAIGN_TRANSFER);
        assert_true(fx_is_persisted(&rd, v));
    }
    fx_rd_free(&rd);
    sampan_raft_free(f);
}

/* TimeoutNow is only obeyed from the leader of the current term: a stale
 * or foreign one does not start an election. */
static void test_timeout_now_from_non_leader_ignored(void **state)
{
    (void)state;
    struct sampan_raft *f = follower_of_1(2);
    struct sampan_msg tn = fx_msg(SAMPAN_MSG_TIMEOUT_NOW, 3, 2, 1);
    fx_step(f, &tn);
    struct sampan_status st = fx_status(f);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 1);
    assert_false(sampan_raft_has_ready(f));
    sampan_raft_free(f);

    struct sampan_raft *g = fx_new(2, 3, 4);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 2);
    fx_step(g, &m);
    fx_discard(g);
    tn = fx_msg(SAMPAN_MSG_TIMEOUT_NOW, 1, 2, 1); /* older term */
    fx_step(g, &tn);
    st = fx_status(g);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 2);
    sampan_raft_free(g);
}

/* Thesis 3.10 / 4.2.3: a follower that heard from its leader recently
 * ignores a higher-term RequestVote (leader stickiness) but not one of a
 * transfer campaign, which the leader itself asked for. */
static void test_transfer_vote_overrides_stickiness(void **state)
{
    (void)state;
    struct sampan_raft *f = follower_of_1(3);
    struct sampan_msg v = vote_req(2, 3, 2, 0, 0, 0);
    fx_step(f, &v);
    struct sampan_status st = fx_status(f);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.leader, 1);
    assert_false(sampan_raft_has_ready(f));

    v = vote_req(2, 3, 2, 0, 0, SAMPAN_CAMPAIGN_TRANSFER);
    fx_step(f, &v);
    st = fx_status(f);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, 2);
    struct fx_rd rd;
    fx_drain(f, &rd);
    const struct sampan_msg *resp = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2);
    assert_non_null(resp);
    assert_false(resp->reject);
    assert_int_equal(resp->term, 2);
    assert_true(fx_is_persisted(&rd, resp));
    fx_rd_free(&rd);
    sampan_raft_free(f);
}

/* Section 5.4.1 still holds for a transfer campaign: a voter whose log is
 * more up to date than the candidate's refuses it. */
static void test_transfer_vote_keeps_election_restriction(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 3, 3, 4);
    struct sampan_raft *f = fx_new_boot(&cfg, 1, SAMPAN_NONE, terms, 3);
    fx_step_append(f, 1, 1, 3, 1, 3, NULL, 0, NULL);
    fx_discard(f);
    struct sampan_msg v = vote_req(2, 3, 2, 2, 1, SAMPAN_CAMPAIGN_TRANSFER);
    fx_step(f, &v);
    struct fx_rd rd;
    fx_drain(f, &rd);
    const struct sampan_msg *resp = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2);
    assert_non_null(resp);
    assert_true(resp->reject);
    fx_rd_free(&rd);
    assert_int_equal(fx_status(f).vote, SAMPAN_NONE);
    sampan_raft_free(f);
}

/* The old leader, too, steps down for the transfer campaign it started,
 * while it ignores an ordinary disruptive one. */
static void test_leader_grants_transfer_vote(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    struct sampan_msg v = vote_req(2, 1, 2, 1, 1, 0);
    fx_step(r, &v);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    assert_int_equal(fx_status(r).term, 1);
    assert_false(sampan_raft_has_ready(r));

    assert_int_equal(sampan_raft_transfer_leader(r, 2), 0);
    fx_discard(r);
    v = vote_req(2, 1, 2, 1, 1, SAMPAN_CAMPAIGN_TRANSFER);
    fx_step(r, &v);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, 2);
    assert_int_equal(st.lead_transferee, 0);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *resp = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2);
    assert_non_null(resp);
    assert_false(resp->reject);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* ---- end to end -----------------------------------------------------------
 */

/* Thesis 3.10 end to end: leadership moves to the target in the next term,
 * without a period of no leader long enough for an election timeout, and
 * the cluster keeps committing under the new leader. */
static void test_net_transfer_moves_leadership(void **state)
{
    (void)state;
    struct fx_net net;
    fx_net_init(&net, 3, 21, NULL);
    uint64_t old = net_elect(&net);
    uint64_t term = fx_status(net.nodes[old]).term;
    uint64_t target = old % 3 + 1;
    assert_int_equal(sampan_raft_transfer_leader(net.nodes[old], target), 0);
    fx_net_settle(&net);
    assert_int_equal(fx_net_leader(&net), target);
    for (uint64_t id = 1; id <= 3; id++) {
        struct sampan_status st = fx_status(net.nodes[id]);
        assert_int_equal(st.term, term + 1);
        assert_int_equal(st.leader, target);
        assert_int_equal(st.lead_transferee, 0);
    }
    uint64_t index = 0;
    assert_int_equal(sampan_raft_propose(net.nodes[target], "x", 1, &index), 0);
    fx_net_settle(&net);
    fx_net_tick(&net);
    fx_net_settle(&net);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_true(fx_status(net.nodes[id]).commit >= index);
    }
    assert_int_equal(net.step_errors, 0);
    fx_net_free(&net);
}

/* Thesis 3.10 end to end with a target that missed entries: it is caught
 * up before it campaigns, so it can win (5.4.1) and keeps every committed
 * entry (Leader Completeness). */
static void test_net_transfer_to_lagging_target(void **state)
{
    (void)state;
    struct fx_net net;
    fx_net_init(&net, 3, 22, NULL);
    uint64_t old = net_elect(&net);
    uint64_t target = old % 3 + 1;
    fx_net_isolate(&net, target);
    char buf[16];
    for (int i = 0; i < 5; i++) {
        int len = snprintf(buf, sizeof(buf), "cmd-%d", i);
        assert_int_equal(
            sampan_raft_propose(net.nodes[old], buf, (size_t)len, NULL), 0);
        fx_net_settle(&net);
    }
    uint64_t last = fx_status(net.nodes[old]).last_index;
    assert_true(fx_status(net.nodes[target]).last_index < last);
    assert_int_equal(fx_status(net.nodes[old]).commit, last);
    fx_net_heal(&net);
    assert_int_equal(sampan_raft_transfer_leader(net.nodes[old], target), 0);
    fx_net_settle(&net);
    for (int i = 0; i < 5 && fx_net_leader(&net) != target; i++) {
        fx_net_tick(&net);
        fx_net_settle(&net);
    }
    assert_int_equal(fx_net_leader(&net), target);
    struct sampan_status st = fx_status(net.nodes[target]);
    assert_true(st.last_index > last); /* its own no-op follows */
    for (uint64_t i = 1; i <= last; i++) {
        const struct sampan_entry *a = sampan_raft_entry_at(net.nodes[old], i);
        const struct sampan_entry *b =
            sampan_raft_entry_at(net.nodes[target], i);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(a->term, b->term);
        assert_int_equal(a->len, b->len);
    }
    assert_int_equal(net.step_errors, 0);
    fx_net_free(&net);
}

static void lease_cfg(struct sampan_raft_config *cfg, uint64_t id)
{
    fx_config(cfg, id, 3, 3);
    cfg->lease_reads = true;
    cfg->lease_margin_ticks = 2;
}

static void hb_resp(struct sampan_raft *r, uint64_t from, uint64_t ctx)
{
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, from, 1, 1);
    m.context = ctx;
    fx_step(r, &m);
}

/* Thesis 6.4.1 + 3.10: a TimeoutNow delivered after the transfer was
 * abandoned elects the target past stickiness; the old leader must not be
 * serving lease reads then, so once it sent a TimeoutNow it holds no lease
 * for the rest of its term. */
static void test_no_lease_after_abandoned_transfer(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    lease_cfg(&cfg, 1);
    struct sampan_raft *l = fx_new_cfg(&cfg, NULL);
    fx_make_leader(l, 3);
    fx_ack(l, 2, 1);
    fx_ack(l, 3, 1);
    fx_discard(l);
    assert_int_equal(sampan_raft_transfer_leader(l, 2), 0);
    struct fx_rd rd;
    fx_drain(l, &rd);
    struct sampan_msg held;
    fx_msg_copy(&held, fx_find(&rd, SAMPAN_MSG_TIMEOUT_NOW, 2));
    fx_rd_free(&rd);
    for (uint64_t round = 1; round <= FX_ELECTION; round++) {
        sampan_raft_tick(l);
        hb_resp(l, 2, round);
        hb_resp(l, 3, round);
        fx_discard(l);
    }
    assert_int_equal(fx_status(l).lead_transferee, 0);
    lease_cfg(&cfg, 2);
    struct sampan_raft *f2 = fx_new_cfg(&cfg, NULL);
    lease_cfg(&cfg, 3);
    struct sampan_raft *f3 = fx_new_cfg(&cfg, NULL);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 1);
    fx_step(f2, &hb);
    hb.to = 3;
    fx_step(f3, &hb);
    fx_discard(f2);
    fx_discard(f3);
    fx_step(f2, &held); /* the late TimeoutNow */
    fx_drain(f2, &rd);
    fx_step(f3, fx_find(&rd, SAMPAN_MSG_VOTE, 3));
    fx_rd_free(&rd);
    fx_drain(f3, &rd);
    fx_step(f2, fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2));
    fx_rd_free(&rd);
    assert_int_equal(fx_status(f2).role, SAMPAN_LEADER); /* term 2 */
    assert_int_equal(sampan_raft_read_index(l, 7), 0);
    struct sampan_ready r;
    assert_int_equal(sampan_raft_ready(l, &r), 0);
    assert_int_equal(r.n_read_states, 0); /* no lease: a round is needed */
    sampan_raft_advance(l, &r);
    fx_msg_free(&held);
    sampan_raft_free(f2);
    sampan_raft_free(f3);
    sampan_raft_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_argument_errors),
        cmocka_unit_test(test_caught_up_target_gets_timeout_now_at_once),
        cmocka_unit_test(test_lagging_target_caught_up_first),
        cmocka_unit_test(test_probing_target_caught_up_first),
        cmocka_unit_test(test_proposals_refused_until_transfer_abandoned),
        cmocka_unit_test(test_forwarded_proposal_dropped_during_transfer),
        cmocka_unit_test(test_step_down_ends_transfer),
        cmocka_unit_test(test_timeout_now_campaigns_without_prevote),
        cmocka_unit_test(test_timeout_now_from_non_leader_ignored),
        cmocka_unit_test(test_transfer_vote_overrides_stickiness),
        cmocka_unit_test(test_transfer_vote_keeps_election_restriction),
        cmocka_unit_test(test_leader_grants_transfer_vote),
        cmocka_unit_test(test_net_transfer_moves_leadership),
        cmocka_unit_test(test_net_transfer_to_lagging_target),
        cmocka_unit_test(test_no_lease_after_abandoned_transfer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
