/* tests/unit/test_raft_read_index.c: linearizable reads without writing the
 * log, after the Raft thesis section 6.4 (ReadIndex: the leader records its
 * commit index once it has committed an entry of its own term, confirms its
 * leadership with a heartbeat round acknowledged by a majority, then serves
 * the read once applied up to that index; 6.4 "batching"; forwarding from
 * followers) and 6.4.1 (lease-based reads, which rely on CheckQuorum and
 * bounded clock drift). Public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

#define MAX_RS 64u

/* One or more Readies deep-copied, with their read_states. */
struct rs_rd {
    struct fx_rd rd;
    size_t n_rs;
    struct sampan_read_state rs[MAX_RS];
};

/* Collects every Ready until the core is idle, advancing each. */
static void drain_rs(struct sampan_raft *r, struct rs_rd *x)
{
    memset(x, 0, sizeof(*x));
    for (int i = 0; i < 100 && sampan_raft_has_ready(r); i++) {
        struct sampan_ready rd;
        assert_int_equal(sampan_raft_ready(r, &rd), 0);
        fx_rd_append(&x->rd, &rd);
        assert_true(x->n_rs + rd.n_read_states <= MAX_RS);
        for (size_t j = 0; j < rd.n_read_states; j++) {
            x->rs[x->n_rs++] = rd.read_states[j];
        }
        assert_int_equal(sampan_raft_advance(r, &rd), 0);
    }
    assert_false(sampan_raft_has_ready(r));
}

static void free_rs(struct rs_rd *x)
{
    fx_rd_free(&x->rd);
    memset(x, 0, sizeof(*x));
}

/* Asserts that draining r yields no read state at all. */
static void expect_no_read_state(struct sampan_raft *r)
{
    struct rs_rd x;
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 0);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_READ_INDEX_RESP, 0), 0);
    free_rs(&x);
}

/* Asserts that draining r yields exactly one read state, for the request
 * with this context, at this read index. */
static void expect_one_read_state(struct sampan_raft *r, uint64_t context,
                                  uint64_t index)
{
    struct rs_rd x;
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, context);
    assert_int_equal(x.rs[0].index, index);
    free_rs(&x);
}

static struct sampan_raft *single_node_leader(void)
{
    struct sampan_raft *r = fx_new(1, 1, 1);
    assert_int_equal(sampan_raft_campaign(r), 0);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    return r;
}

/* A leader of term 1 among n voters; when `commit`, nodes 2..majority
 * acknowledged its no-op so it has committed an entry of its term. */
static struct sampan_raft *leader_cfg(struct sampan_raft_config *cfg,
                                      bool commit)
{
    struct sampan_raft *r = fx_new_cfg(cfg, NULL);
    size_t n = cfg->members.n_voters;
    fx_make_leader(r, n);
    if (commit) {
        for (uint64_t id = 2; id <= n / 2 + 1; id++) {
            fx_ack(r, id, 1);
        }
        fx_discard(r);
        assert_int_equal(fx_status(r).commit, 1);
    }
    return r;
}

static struct sampan_raft *leader3(bool commit)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    return leader_cfg(&cfg, commit);
}

static struct sampan_raft *lease_leader(void)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    cfg.lease_reads = true;
    cfg.lease_margin_ticks = 2;
    return leader_cfg(&cfg, true);
}

static void step_hb_resp(struct sampan_raft *r, uint64_t from, uint64_t ctx)
{
    struct sampan_status st = fx_status(r);
    struct sampan_msg m =
        fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, from, st.id, st.term);
    m.context = ctx;
    fx_step(r, &m);
}

/* Asserts x holds one HEARTBEAT per follower 2..n, all of the same round,
 * and returns that round. */
static uint64_t one_round(const struct rs_rd *x, uint64_t n)
{
    assert_int_equal(fx_count(&x->rd, SAMPAN_MSG_HEARTBEAT, 0), n - 1);
    uint64_t round = fx_find(&x->rd, SAMPAN_MSG_HEARTBEAT, 2)->context;
    assert_true(round > 0);
    for (uint64_t to = 2; to <= n; to++) {
        const struct sampan_msg *hb = fx_find(&x->rd, SAMPAN_MSG_HEARTBEAT, to);
        assert_non_null(hb);
        assert_int_equal(hb->context, round);
    }
    return round;
}

/* A follower (node 2 of 3) that knows leader 1 of term 1. */
static struct sampan_raft *follower_of_1(void)
{
    struct sampan_raft *f = fx_new(2, 3, 4);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 1);
    fx_step(f, &hb);
    fx_discard(f);
    assert_int_equal(fx_status(f).leader, 1);
    return f;
}

/* ---- ReadIndex (thesis 6.4) ------------------------------------------------
 */

/* Thesis 6.4: with a single voter the leader's leadership needs no
 * confirmation; once it has committed in its term the read is safe at
 * once, at the commit index. */
static void test_single_node_reads_at_once(void **state)
{
    (void)state;
    struct sampan_raft *r = single_node_leader();
    fx_discard(r);
    assert_int_equal(fx_status(r).commit, 1);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct rs_rd x;
    drain_rs(r, &x);
    assert_int_equal(x.rd.n_ready, 1);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 7);
    assert_int_equal(x.rs[0].index, 1);
    assert_int_equal(x.rd.n_msgs, 0);
    free_rs(&x);
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    fx_discard(r);
    assert_int_equal(sampan_raft_read_index(r, 8), 0);
    expect_one_read_state(r, 8, 2);
    sampan_raft_free(r);
}

/* Thesis 6.4 step 1: "If the leader has not yet marked an entry from its
 * current term committed, it waits until it has done so." A three-node
 * leader whose no-op is not committed does not answer even after a majority
 * confirmed its round; the commit releases the read. The read index is then
 * the no-op's index, which covers everything earlier leaders committed. */
static void test_read_waits_for_commit_in_term(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    struct sampan_raft *r = fx_new_boot(&cfg, 1, SAMPAN_NONE, terms, 2);
    fx_make_leader(r, 3);
    assert_int_equal(fx_status(r).term, 2);
    assert_int_equal(fx_status(r).commit, 0);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    assert_int_equal(x.n_rs, 0);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    step_hb_resp(r, 3, round);
    expect_no_read_state(r);
    fx_ack(r, 2, 3);
    assert_int_equal(fx_status(r).commit, 3);
    expect_one_read_state(r, 7, 3);
    sampan_raft_free(r);
}

/* The same rule for a single-node leader: its no-op commits when its own
 * write is durable (advance), which must release a read that arrived
 * before. */
static void test_single_node_read_waits_for_commit_in_term(void **state)
{
    (void)state;
    struct sampan_raft *r = single_node_leader();
    assert_int_equal(fx_status(r).commit, 0);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct sampan_ready rd;
    assert_int_equal(sampan_raft_ready(r, &rd), 0);
    assert_int_equal(rd.n_read_states, 0);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(sampan_raft_advance(r, &rd), 0);
    assert_int_equal(fx_status(r).commit, 1);
    struct rs_rd x;
    drain_rs(r, &x);
    for (int i = 0; i < 3 * (int)FX_ELECTION && x.n_rs == 0; i++) {
        free_rs(&x);
        sampan_raft_tick(r);
        drain_rs(r, &x);
    }
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 7);
    assert_int_equal(x.rs[0].index, 1);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Thesis 6.4 step 2: the leader sends a new round of heartbeats and waits
 * for a majority to acknowledge them; until then the read is not safe. With
 * five voters one follower's answer is not enough, two are. */
static void test_read_needs_majority_heartbeat_round(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 5, 3);
    struct sampan_raft *r = leader_cfg(&cfg, true);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 5);
    assert_int_equal(x.n_rs, 0);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    expect_no_read_state(r);
    step_hb_resp(r, 2, round); /* a duplicate counts once */
    expect_no_read_state(r);
    step_hb_resp(r, 4, round);
    expect_one_read_state(r, 7, 1);
    sampan_raft_free(r);
}

/* Thesis 6.4 step 2 asks for a round sent after the read arrived: an
 * answer to an earlier heartbeat proves nothing about leadership now. */
static void test_older_round_does_not_confirm(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    sampan_raft_tick(r); /* a periodic heartbeat round */
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t old_round = one_round(&x, 3);
    free_rs(&x);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    assert_true(round > old_round);
    free_rs(&x);
    step_hb_resp(r, 2, old_round);
    step_hb_resp(r, 3, old_round);
    expect_no_read_state(r);
    step_hb_resp(r, 3, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 7);
    free_rs(&x);
    sampan_raft_free(r);
}

/* An answer naming a round the leader has not sent yet (forged, or from a
 * previous leadership) confirms nothing. */
static void test_answer_to_unsent_round_does_not_confirm(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    step_hb_resp(r, 2, 1);
    step_hb_resp(r, 3, 1);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    assert_int_equal(round, 1);
    assert_int_equal(x.n_rs, 0);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Thesis 6.4 "batching": reads that arrive together share one heartbeat
 * round (one HEARTBEAT per follower, not one per read); a read that arrives
 * after the round went out waits for the next one. */
static void test_reads_share_one_round(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    for (uint64_t ctx = 1; ctx <= 5; ctx++) {
        assert_int_equal(sampan_raft_read_index(r, ctx), 0);
    }
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    assert_int_equal(x.n_rs, 0);
    free_rs(&x);
    assert_int_equal(sampan_raft_read_index(r, 6), 0);
    step_hb_resp(r, 2, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(x.rs[i].context, i + 1);
        assert_int_equal(x.rs[i].index, 1);
    }
    /* Read 6 got its own round in the same Ready. */
    uint64_t round2 = one_round(&x, 3);
    assert_true(round2 > round);
    free_rs(&x);
    step_hb_resp(r, 3, round2);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 6);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Thesis 6.4 step 1: the read index is the commit index when the read
 * arrived; entries committed while it waits do not have to be applied
 * first. */
static void test_read_index_is_commit_at_request(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    free_rs(&x);
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    fx_discard(r);
    fx_ack(r, 2, 2);
    assert_int_equal(fx_status(r).commit, 2);
    step_hb_resp(r, 2, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].index, 1);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Thesis 6.4: a follower asks the leader for the read index. Without a
 * known leader the caller is told at once. */
static void test_follower_forwards_read(void **state)
{
    (void)state;
    struct sampan_raft *lone = fx_new(2, 3, 4);
    assert_int_equal(sampan_raft_read_index(lone, 9), SAMPAN_ENOLEADER);
    assert_false(sampan_raft_has_ready(lone));
    sampan_raft_free(lone);

    struct sampan_raft *f = follower_of_1();
    assert_int_equal(sampan_raft_read_index(f, 9), 0);
    struct rs_rd x;
    drain_rs(f, &x);
    assert_int_equal(x.n_rs, 0);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_READ_INDEX, 0), 1);
    const struct sampan_msg *m = fx_find(&x.rd, SAMPAN_MSG_READ_INDEX, 1);
    assert_non_null(m);
    assert_int_equal(m->from, 2);
    assert_int_equal(m->context, 9);
    assert_false(fx_is_persisted(&x.rd, m));
    free_rs(&x);
    sampan_raft_free(f);
}

/* Thesis 6.4: the leader confirms a forwarded read like its own and
 * answers with the read index; on the follower it becomes a read state. */
static void test_leader_answers_forwarded_read(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    struct sampan_raft *f = follower_of_1();
    assert_int_equal(sampan_raft_read_index(f, 9), 0);
    struct rs_rd fx;
    drain_rs(f, &fx);
    fx_step(r, fx_find(&fx.rd, SAMPAN_MSG_READ_INDEX, 1));
    free_rs(&fx);

    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_READ_INDEX_RESP, 0), 0);
    free_rs(&x);
    step_hb_resp(r, 3, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 0); /* not the leader's own read */
    const struct sampan_msg *resp =
        fx_find(&x.rd, SAMPAN_MSG_READ_INDEX_RESP, 2);
    assert_non_null(resp);
    assert_int_equal(resp->context, 9);
    assert_int_equal(resp->index, 1);
    assert_int_equal(resp->term, 1);

    /* An answer from someone else than the leader is ignored. */
    struct sampan_msg bogus = *resp;
    bogus.from = 3;
    fx_step(f, &bogus);
    expect_no_read_state(f);
    fx_step(f, resp);
    free_rs(&x);
    expect_one_read_state(f, 9, 1);
    sampan_raft_free(f);
    sampan_raft_free(r);
}

/* Thesis 6.4: the confirmation must come from this leadership. A leader
 * that steps down drops its pending reads: no read state appears, neither
 * from late answers nor after it is elected again (whose rounds restart). */
static void test_step_down_drops_pending_reads(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    free_rs(&x);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 2);
    fx_step(r, &hb);
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    step_hb_resp(r, 3, round);
    expect_no_read_state(r);

    fx_make_leader(r, 3);
    assert_int_equal(fx_status(r).term, 3);
    fx_ack(r, 2, 2);
    fx_ack(r, 3, 2);
    assert_int_equal(fx_status(r).commit, 2);
    expect_no_read_state(r);
    sampan_raft_tick(r);
    drain_rs(r, &x);
    round = one_round(&x, 3);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    step_hb_resp(r, 3, round);
    expect_no_read_state(r);
    sampan_raft_free(r);
}

/* CheckQuorum step-down (thesis 6.2) drops pending reads too. */
static void test_check_quorum_step_down_drops_reads(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(true);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    for (unsigned i = 0; i < 2 * FX_ELECTION; i++) {
        sampan_raft_tick(r);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    expect_no_read_state(r);
    sampan_raft_free(r);
}

/* max_pending_reads bounds the queue: a local read past it fails with
 * SAMPAN_EBUSY; a forwarded one is dropped like a lost message. Confirmed
 * reads free their slots. */
static void test_max_pending_reads(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    cfg.max_pending_reads = 3;
    struct sampan_raft *r = leader_cfg(&cfg, true);
    for (uint64_t ctx = 1; ctx <= 3; ctx++) {
        assert_int_equal(sampan_raft_read_index(r, ctx), 0);
    }
    assert_int_equal(sampan_raft_read_index(r, 4), SAMPAN_EBUSY);
    struct sampan_msg fwd = fx_msg(SAMPAN_MSG_READ_INDEX, 2, 1, 1);
    fwd.context = 50;
    fx_step(r, &fwd);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 3);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_READ_INDEX_RESP, 0), 0);
    free_rs(&x);
    assert_int_equal(sampan_raft_read_index(r, 4), 0);
    sampan_raft_free(r);
}

/* ---- lease reads (thesis 6.4.1) -------------------------------------------
 */

/* Thesis 6.4.1: a lease is only sound if the leader steps down when it
 * loses the majority (CheckQuorum), and the margin must leave some lease. */
static void test_lease_reads_require_check_quorum(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    cfg.lease_reads = true;
    cfg.disable_check_quorum = true;
    struct sampan_raft *r = NULL;
    assert_int_equal(sampan_raft_new(&cfg, NULL, &r), SAMPAN_EINVAL);
    assert_null(r);
    cfg.disable_check_quorum = false;
    cfg.lease_margin_ticks = cfg.election_ticks;
    assert_int_equal(sampan_raft_new(&cfg, NULL, &r), SAMPAN_EINVAL);
    assert_null(r);
    cfg.lease_margin_ticks = 2;
    assert_int_equal(sampan_raft_new(&cfg, NULL, &r), 0);
    assert_non_null(r);
    sampan_raft_free(r);
}

/* Thesis 6.4.1: after a majority acknowledged a heartbeat round, the leader
 * answers reads at once without a new round while the lease lasts. */
static void test_lease_read_answered_without_round(void **state)
{
    (void)state;
    struct sampan_raft *r = lease_leader();
    sampan_raft_tick(r);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    fx_discard(r);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    drain_rs(r, &x);
    assert_int_equal(x.rd.n_ready, 1);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 7);
    assert_int_equal(x.rs[0].index, 1);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_HEARTBEAT, 0), 0);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Without an acknowledged round there is no lease: the first read of a new
 * leader goes through a heartbeat round. */
static void test_lease_needs_acknowledged_round(void **state)
{
    (void)state;
    struct sampan_raft *r = lease_leader();
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    assert_int_equal(x.n_rs, 0);
    free_rs(&x);
    step_hb_resp(r, 3, round);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Thesis 6.4.1: the lease lasts election_ticks - lease_margin_ticks from
 * when the acknowledged round was SENT; after that reads need a new round
 * again. */
static void test_lease_expires(void **state)
{
    (void)state;
    struct sampan_raft *r = lease_leader();
    sampan_raft_tick(r); /* the round is sent at tick 1 */
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    fx_discard(r);
    /* Tick up to election - margin - 1 = 7 ticks after the round. */
    for (int i = 0; i < 7; i++) {
        sampan_raft_tick(r);
        fx_discard(r); /* periodic rounds, unanswered */
    }
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 7);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_HEARTBEAT, 0), 0);
    free_rs(&x);
    /* One more tick: 8 = election - margin ticks since the round. */
    sampan_raft_tick(r);
    fx_discard(r);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    assert_int_equal(sampan_raft_read_index(r, 8), 0);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 0);
    uint64_t round2 = one_round(&x, 3);
    free_rs(&x);
    step_hb_resp(r, 3, round2);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 1);
    assert_int_equal(x.rs[0].context, 8);
    free_rs(&x);
    sampan_raft_free(r);
}

/* Thesis 3.10 vs 6.4.1: the target of a leadership transfer campaigns past
 * the other voters' stickiness, so a leader transferring leadership holds no
 * lease: its reads need a heartbeat round. */
static void test_no_lease_during_transfer(void **state)
{
    (void)state;
    struct sampan_raft *r = lease_leader();
    sampan_raft_tick(r);
    struct rs_rd x;
    drain_rs(r, &x);
    uint64_t round = one_round(&x, 3);
    free_rs(&x);
    step_hb_resp(r, 2, round);
    step_hb_resp(r, 3, round);
    fx_discard(r);
    assert_int_equal(sampan_raft_transfer_leader(r, 3), 0);
    assert_int_equal(sampan_raft_read_index(r, 7), 0);
    drain_rs(r, &x);
    assert_int_equal(x.n_rs, 0);
    one_round(&x, 3);
    free_rs(&x);
    sampan_raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node_reads_at_once),
        cmocka_unit_test(test_read_waits_for_commit_in_term),
        cmocka_unit_test(test_single_node_read_waits_for_commit_in_term),
        cmocka_unit_test(test_read_needs_majority_heartbeat_round),
        cmocka_unit_test(test_older_round_does_not_confirm),
        cmocka_unit_test(test_answer_to_unsent_round_does_not_confirm),
        cmocka_unit_test(test_reads_share_one_round),
        cmocka_unit_test(test_read_index_is_commit_at_request),
        cmocka_unit_test(test_follower_forwards_read),
        cmocka_unit_test(test_leader_answers_forwarded_read),
        cmocka_unit_test(test_step_down_drops_pending_reads),
        cmocka_unit_test(test_check_quorum_step_down_drops_reads),
        cmocka_unit_test(test_max_pending_reads),
        cmocka_unit_test(test_lease_reads_require_check_quorum),
        cmocka_unit_test(test_lease_read_answered_without_round),
        cmocka_unit_test(test_lease_needs_acknowledged_round),
        cmocka_unit_test(test_lease_expires),
        cmocka_unit_test(test_no_lease_during_transfer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
