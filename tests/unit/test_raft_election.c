/* tests/unit/test_raft_election.c: leader election, after the Raft paper
 * (Figure 2, sections 5.1, 5.2, 5.4.1) and the thesis (9.6 PreVote, 6.2
 * CheckQuorum, 4.2.3 leader stickiness), in the spirit of etcd's
 * raft_paper_test.go. Every test drives cores through the public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

/* Ticks a fresh follower until it leaves the follower role; returns the
 * number of ticks it took (0 when it never did within 100). */
static unsigned ticks_to_campaign(uint64_t id, uint64_t seed)
{
    struct sampan_raft *r = fx_new(id, 3, seed);
    unsigned ticks = 0;
    for (unsigned i = 1; i <= 100; i++) {
        sampan_raft_tick(r);
        if (fx_status(r).role != SAMPAN_FOLLOWER) {
            ticks = i;
            break;
        }
    }
    sampan_raft_free(r);
    return ticks;
}

static struct sampan_raft *new_no_prevote(uint64_t id, size_t n, uint64_t seed)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, id, n, seed);
    cfg.disable_pre_vote = true;
    return fx_new_cfg(&cfg, NULL);
}

/* A follower of a 3-node cluster whose log holds terms[] and whose current
 * term is `term`. */
static struct sampan_raft *new_with_log(uint64_t id, uint64_t term,
                                        const uint64_t *terms, size_t n,
                                        bool pre_vote)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, id, 3, 7);
    cfg.disable_pre_vote = !pre_vote;
    return fx_new_boot(&cfg, term, SAMPAN_NONE, terms, n);
}

static void step_vote(struct sampan_raft *r, uint8_t type, uint64_t from,
                      uint64_t term, uint64_t index, uint64_t log_term)
{
    struct sampan_msg m = fx_msg(type, from, fx_status(r).id, term);
    m.index = index;
    m.log_term = log_term;
    fx_step(r, &m);
}

static void step_resp(struct sampan_raft *r, uint8_t type, uint64_t from,
                      uint64_t term, bool reject)
{
    struct sampan_msg m = fx_msg(type, from, fx_status(r).id, term);
    m.reject = reject;
    fx_step(r, &m);
}

/* Section 5.2: "If a follower receives no communication over a period of
 * time called the election timeout, then it assumes there is no viable
 * leader and begins an election." Election timeouts are chosen randomly
 * from a fixed interval; here [election_ticks, 2*election_ticks). */
static void test_follower_times_out_in_randomized_range(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        unsigned t = ticks_to_campaign(1, seed);
        assert_true(t >= FX_ELECTION);
        assert_true(t < 2 * FX_ELECTION);
    }
}

/* Section 5.2: "Raft uses randomized election timeouts to ensure that split
 * votes are rare." Different seeds and different ids must not all pick the
 * same timeout. */
static void test_randomized_timeouts_differ(void **state)
{
    (void)state;
    bool seen[2 * FX_ELECTION] = {false};
    size_t distinct = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        unsigned t = ticks_to_campaign(1, seed);
        if (!seen[t]) {
            seen[t] = true;
            distinct++;
        }
    }
    assert_true(distinct >= 3);
    /* Same seed, different ids. */
    memset(seen, 0, sizeof(seen));
    distinct = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        for (uint64_t seed = 100; seed < 105; seed++) {
            unsigned t = ticks_to_campaign(id, seed);
            if (!seen[t]) {
                seen[t] = true;
                distinct++;
            }
        }
    }
    assert_true(distinct >= 3);
}

/* Thesis 9.6: "a candidate would first ask other servers whether its log
 * was up-to-date enough to get their vote ... [it] does not increment its
 * term." The pre-vote asks for term+1 and carries the last log position. */
static void test_prevote_campaign_keeps_term(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 2};
    struct sampan_raft *r = new_with_log(1, 2, terms, 2, true);
    for (int i = 0; i < 30 && fx_status(r).role == SAMPAN_FOLLOWER; i++) {
        sampan_raft_tick(r);
    }
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_PRECANDIDATE);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, SAMPAN_NONE);

    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_false(rd.hard_state_changed);
    assert_int_equal(rd.n_msgs, 2);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 0), 0);
    for (uint64_t to = 2; to <= 3; to++) {
        const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_PREVOTE, to);
        assert_non_null(m);
        assert_int_equal(m->from, 1);
        assert_int_equal(m->term, 3);
        assert_int_equal(m->index, 2);
        assert_int_equal(m->log_term, 2);
        /* Nothing to persist: a pre-vote may go out at once. */
        assert_false(fx_is_persisted(&rd, m));
    }
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2, Candidates: "On conversion to candidate, start election:
 * increment currentTerm, vote for self, ... send RequestVote RPCs to all
 * other servers." RequestVote carries lastLogIndex and lastLogTerm, and it
 * may go out only after the new term and vote are durable. */
static void test_vote_campaign_increments_term_and_votes_self(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 2};
    struct sampan_raft *r = new_with_log(1, 2, terms, 2, false);
    assert_int_equal(sampan_raft_campaign(r), 0);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_CANDIDATE);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.vote, 1);

    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.term, 3);
    assert_int_equal(rd.hard_state.vote, 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 0), 2);
    for (uint64_t to = 2; to <= 3; to++) {
        const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_VOTE, to);
        assert_non_null(m);
        assert_int_equal(m->term, 3);
        assert_int_equal(m->index, 2);
        assert_int_equal(m->log_term, 2);
        assert_true(fx_is_persisted(&rd, m));
    }
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Section 5.2: "A candidate wins an election if it receives votes from a
 * majority of the servers in the full cluster for the same term." */
static void test_candidate_wins_with_majority(void **state)
{
    (void)state;
    struct sampan_raft *r = new_no_prevote(1, 5, 3);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 2, 1, false);
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE); /* 2 of 5 */
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 3, 1, true);
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 4, 1, false); /* 3 of 5 */
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_LEADER);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.leader, 1);
    sampan_raft_free(r);
}

/* Duplicate grants from one voter count once. */
static void test_duplicate_vote_counts_once(void **state)
{
    (void)state;
    struct sampan_raft *r = new_no_prevote(1, 5, 3);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    for (int i = 0; i < 4; i++) {
        step_resp(r, SAMPAN_MSG_VOTE_RESP, 2, 1, false);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
    sampan_raft_free(r);
}

/* Section 5.2 (third outcome, by majority): a candidate that a majority
 * refused cannot win this term and returns to follower, keeping its term
 * and its vote for itself. */
static void test_candidate_loses_on_majority_rejection(void **state)
{
    (void)state;
    struct sampan_raft *r = new_no_prevote(1, 5, 3);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 2, 1, true);
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 3, 1, true);
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 4, 1, true);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.vote, 1);
    assert_int_equal(st.leader, SAMPAN_NONE);
    sampan_raft_free(r);
}

/* Thesis 9.6: a pre-candidate that a majority would vote for becomes a real
 * candidate and only then increments its term. */
static void test_precandidate_becomes_candidate_on_majority(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 9);
    assert_int_equal(sampan_raft_campaign(r), 0);
    assert_int_equal(fx_status(r).role, SAMPAN_PRECANDIDATE);
    fx_discard(r);
    step_resp(r, SAMPAN_MSG_PREVOTE_RESP, 2, 1, false);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_CANDIDATE);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.vote, 1);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 0), 2);
    assert_int_equal(fx_find(&rd, SAMPAN_MSG_VOTE, 3)->term, 1);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Thesis 9.6: a pre-candidate rejected by a majority goes back to follower
 * without ever having changed its term. */
static void test_precandidate_loses_on_majority_rejection(void **state)
{
    (void)state;
    /* A rejection answers in the responder's own term, here equal to ours. */
    const uint64_t terms[] = {1};
    struct sampan_raft *r = new_with_log(1, 1, terms, 1, true);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    step_resp(r, SAMPAN_MSG_PREVOTE_RESP, 2, 1, true);
    step_resp(r, SAMPAN_MSG_PREVOTE_RESP, 3, 1, true);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 1);
    assert_false(sampan_raft_has_ready(r));
    sampan_raft_free(r);
}

/* A pre-vote granted for another term than the one we would campaign in is
 * a late answer and does not count. */
static void test_prevote_grant_for_wrong_term_ignored(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 9);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    step_resp(r, SAMPAN_MSG_PREVOTE_RESP, 2, 5, false);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_PRECANDIDATE);
    assert_int_equal(st.term, 0);
    sampan_raft_free(r);
}

/* Section 5.2 with a cluster of one: the node's own vote is a majority. */
static void test_single_node_becomes_leader(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 1, 5);
    for (int i = 0; i < 2 * (int)FX_ELECTION; i++) {
        sampan_raft_tick(r);
    }
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_LEADER);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.vote, 1);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    assert_int_equal(rd.n_msgs, 0);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.entries[0].type, SAMPAN_ENTRY_NOOP);
    /* Its own durable copy is a majority: the no-op commits. */
    assert_int_equal(rd.n_committed, 1);
    assert_int_equal(fx_status(r).commit, 1);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2, RequestVote receiver rule 2: "If votedFor is null or
 * candidateId, and candidate's log is at least as up-to-date as receiver's
 * log, grant vote." Section 5.2: "Each server will vote for at most one
 * candidate in a given term, on a first-come-first-served basis." */
static void test_vote_granted_once_per_term(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct fx_rd rd;

    step_vote(r, SAMPAN_MSG_VOTE, 2, 1, 0, 0);
    fx_drain(r, &rd);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2);
    assert_non_null(m);
    assert_false(m->reject);
    assert_int_equal(m->term, 1);
    assert_int_equal(fx_status(r).vote, 2);
    fx_rd_free(&rd);

    step_vote(r, SAMPAN_MSG_VOTE, 3, 1, 0, 0);
    fx_drain(r, &rd);
    m = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 3);
    assert_non_null(m);
    assert_true(m->reject);
    assert_int_equal(fx_status(r).vote, 2);
    fx_rd_free(&rd);

    /* The same candidate asking again (a retransmission) is granted. */
    step_vote(r, SAMPAN_MSG_VOTE, 2, 1, 0, 0);
    fx_drain(r, &rd);
    m = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2);
    assert_non_null(m);
    assert_false(m->reject);
    assert_false(rd.hard_state_changed);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Section 5.4.1: "If the logs have last entries with different terms, then
 * the log with the later term is more up-to-date." */
static void test_election_restriction_older_last_term(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 2};
    struct sampan_raft *r = new_with_log(1, 2, terms, 3, false);
    /* Longer log, but its last term (1) is older than ours (2). */
    step_vote(r, SAMPAN_MSG_VOTE, 2, 3, 5, 1);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2);
    assert_non_null(m);
    assert_true(m->reject);
    assert_int_equal(m->term, 3);
    /* The higher term was adopted all the same (Figure 2, all servers). */
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.vote, SAMPAN_NONE);
    fx_rd_free(&rd);

    /* A later last term wins even with a shorter log. */
    step_vote(r, SAMPAN_MSG_VOTE, 3, 3, 1, 3);
    fx_drain(r, &rd);
    m = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 3);
    assert_non_null(m);
    assert_false(m->reject);
    assert_int_equal(fx_status(r).vote, 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Section 5.4.1: "If the logs end with the same term, then whichever log is
 * longer is more up-to-date." */
static void test_election_restriction_same_term_shorter_log(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 2};
    struct sampan_raft *r = new_with_log(1, 2, terms, 3, false);
    step_vote(r, SAMPAN_MSG_VOTE, 2, 3, 2, 2);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_true(fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 2)->reject);
    assert_int_equal(fx_status(r).vote, SAMPAN_NONE);
    fx_rd_free(&rd);

    /* Equal logs are "at least as up-to-date". */
    step_vote(r, SAMPAN_MSG_VOTE, 3, 3, 3, 2);
    fx_drain(r, &rd);
    assert_false(fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 3)->reject);
    assert_int_equal(fx_status(r).vote, 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Section 5.4.1 applies to pre-votes too (thesis 9.6: "if its log was
 * up-to-date enough to get their vote"). */
static void test_prevote_restriction(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 2};
    struct sampan_raft *r = new_with_log(1, 2, terms, 3, true);
    step_vote(r, SAMPAN_MSG_PREVOTE, 2, 3, 2, 2);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_PREVOTE_RESP, 2);
    assert_non_null(m);
    assert_true(m->reject);
    assert_int_equal(m->term, 2);
    fx_rd_free(&rd);
    assert_int_equal(fx_status(r).term, 2);
    sampan_raft_free(r);
}

/* Thesis 9.6: granting a pre-vote changes nothing on the voter: no term, no
 * vote, nothing to persist, and the answer names the term asked for. */
static void test_prevote_grant_changes_nothing(void **state)
{
    (void)state;
    const uint64_t terms[] = {1};
    struct sampan_raft *r = new_with_log(1, 1, terms, 1, true);
    step_vote(r, SAMPAN_MSG_PREVOTE, 2, 5, 1, 1);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_false(rd.hard_state_changed);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_PREVOTE_RESP, 2);
    assert_non_null(m);
    assert_false(m->reject);
    assert_int_equal(m->term, 5);
    assert_false(fx_is_persisted(&rd, m));
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.vote, SAMPAN_NONE);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2: "Persistent state on all servers: (Updated on stable storage
 * before responding to RPCs)". A granted vote comes with the new hard state
 * in the same Ready and is only in persisted_messages. */
static void test_granted_vote_persisted_with_hard_state(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    step_vote(r, SAMPAN_MSG_VOTE, 3, 4, 0, 0);
    assert_true(sampan_raft_has_ready(r));
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_true(ready.hard_state_changed);
    assert_int_equal(ready.hard_state.term, 4);
    assert_int_equal(ready.hard_state.vote, 3);
    assert_int_equal(ready.n_messages, 0);
    assert_int_equal(ready.n_persisted_messages, 1);
    assert_int_equal(ready.persisted_messages[0].type, SAMPAN_MSG_VOTE_RESP);
    assert_int_equal(ready.persisted_messages[0].to, 3);
    assert_int_equal(ready.persisted_messages[0].from, 1);
    assert_int_equal(ready.persisted_messages[0].term, 4);
    assert_false(ready.persisted_messages[0].reject);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

/* Figure 2, all servers: "If RPC request or response contains term T >
 * currentTerm: set currentTerm = T, convert to follower." */
static void test_higher_term_response_deposes_leader(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    assert_int_equal(fx_status(r).term, 1);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 5);
    fx_step(r, &m);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 5);
    assert_int_equal(st.vote, SAMPAN_NONE);
    assert_int_equal(st.leader, SAMPAN_NONE);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.term, 5);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Same rule, from a leader of a newer term: we follow it at once. */
static void test_higher_term_append_deposes_leader(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT, 3, 1, 2);
    fx_step(r, &m);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.leader, 3);
    sampan_raft_free(r);
}

/* Same rule for a candidate: a rejection carrying a higher term. */
static void test_higher_term_deposes_candidate(void **state)
{
    (void)state;
    struct sampan_raft *r = new_no_prevote(1, 3, 1);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    step_resp(r, SAMPAN_MSG_VOTE_RESP, 2, 4, true);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 4);
    assert_int_equal(st.vote, SAMPAN_NONE);
    sampan_raft_free(r);
}

/* Figure 2, AppendEntries receiver rule 1: "Reply false if term <
 * currentTerm"; the reply carries currentTerm "for leader to update
 * itself", so a stale leader steps down. */
static void test_stale_append_answered_with_our_term(void **state)
{
    (void)state;
    const uint64_t terms[] = {1};
    struct sampan_raft *f = new_with_log(2, 3, terms, 1, true);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 1, 2, 1);
    m.index = 1;
    m.log_term = 1;
    fx_step(f, &m);
    struct fx_rd rd;
    fx_drain(f, &rd);
    const struct sampan_msg *resp = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(resp);
    assert_true(resp->reject);
    assert_int_equal(resp->term, 3);
    assert_int_equal(fx_status(f).term, 3);
    assert_int_equal(fx_status(f).last_index, 1);

    /* The stale leader of term 1 learns term 3 and steps down. */
    struct sampan_raft *l = fx_new(1, 3, 1);
    fx_make_leader(l, 3);
    fx_step(l, resp);
    struct sampan_status st = fx_status(l);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 3);
    fx_rd_free(&rd);
    sampan_raft_free(l);
    sampan_raft_free(f);
}

/* A stale heartbeat is answered the same way. */
static void test_stale_heartbeat_answered_with_our_term(void **state)
{
    (void)state;
    const uint64_t terms[] = {1};
    struct sampan_raft *f = new_with_log(2, 3, terms, 1, true);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 2);
    fx_step(f, &m);
    struct fx_rd rd;
    fx_drain(f, &rd);
    assert_int_equal(rd.n_msgs, 1);
    assert_int_equal(rd.msgs[0].term, 3);
    assert_true(rd.msgs[0].reject);
    assert_int_equal(fx_status(f).leader, SAMPAN_NONE);
    fx_rd_free(&rd);
    sampan_raft_free(f);
}

/* A vote request of an older term is ignored: no answer, no change. */
static void test_stale_vote_request_ignored(void **state)
{
    (void)state;
    const uint64_t terms[] = {1};
    struct sampan_raft *r = new_with_log(1, 3, terms, 1, false);
    step_vote(r, SAMPAN_MSG_VOTE, 2, 2, 5, 2);
    assert_false(sampan_raft_has_ready(r));
    assert_int_equal(fx_status(r).term, 3);
    assert_int_equal(fx_status(r).vote, SAMPAN_NONE);
    sampan_raft_free(r);
}

/* Section 5.2: "If the leader's term ... is at least as large as the
 * candidate's current term, then the candidate recognizes the leader as
 * legitimate and returns to follower state." */
static void test_candidate_append_same_term_becomes_follower(void **state)
{
    (void)state;
    struct sampan_raft *r = new_no_prevote(1, 3, 1);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 2, 1, 1);
    fx_step(r, &m);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.leader, 2);
    assert_int_equal(st.vote, 1); /* its vote in term 1 stands */
    sampan_raft_free(r);
}

/* The same for a pre-candidate hearing a heartbeat of its current term. */
static void test_precandidate_heartbeat_same_term_becomes_follower(void **state)
{
    (void)state;
    const uint64_t terms[] = {1};
    struct sampan_raft *r = new_with_log(1, 1, terms, 1, true);
    assert_int_equal(sampan_raft_campaign(r), 0);
    assert_int_equal(fx_status(r).role, SAMPAN_PRECANDIDATE);
    fx_discard(r);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT, 3, 1, 1);
    fx_step(r, &m);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.leader, 3);
    assert_int_equal(st.term, 1);
    sampan_raft_free(r);
}

/* Thesis 4.2.3: "if a server receives a RequestVote request within the
 * minimum election timeout of hearing from a current leader, it does not
 * update its term or grant its vote." */
static void test_leader_stickiness_ignores_vote_in_lease(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 1);
    fx_step(r, &hb);
    fx_discard(r);
    for (unsigned i = 0; i + 1 < FX_ELECTION; i++) {
        sampan_raft_tick(r);
    }
    step_vote(r, SAMPAN_MSG_VOTE, 3, 2, 0, 0);
    step_vote(r, SAMPAN_MSG_PREVOTE, 3, 2, 0, 0);
    assert_false(sampan_raft_has_ready(r));
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.vote, SAMPAN_NONE);
    assert_int_equal(st.leader, 2);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    sampan_raft_free(r);
}

/* Thesis 4.2.3, converse: once a minimum election timeout has passed
 * without hearing from the leader, vote requests are considered again. */
static void test_leader_stickiness_expires(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 1);
    fx_step(r, &hb);
    fx_discard(r);
    for (unsigned i = 0; i < FX_ELECTION; i++) {
        sampan_raft_tick(r);
    }
    fx_discard(r); /* maybe our own pre-votes */
    step_vote(r, SAMPAN_MSG_VOTE, 3, 2, 0, 0);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_VOTE_RESP, 3);
    assert_non_null(m);
    assert_false(m->reject);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Thesis 4.2.3 for the leader itself: with CheckQuorum a live leader does
 * not let a disruptive candidate depose it. */
static void test_leader_ignores_higher_term_vote_request(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    step_vote(r, SAMPAN_MSG_VOTE, 3, 9, 5, 1);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_LEADER);
    assert_int_equal(st.term, 1);
    sampan_raft_free(r);
}

/* Thesis 9.6: "a server that is partitioned ... will not be able to
 * increment its term" - repeated pre-vote rounds never change the term. */
static void test_prevote_partitioned_node_keeps_term(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 11);
    unsigned rounds = 0;
    for (int i = 0; i < 500; i++) {
        sampan_raft_tick(r);
        struct fx_rd rd;
        fx_drain(r, &rd);
        rounds += (unsigned)fx_count(&rd, SAMPAN_MSG_PREVOTE, 2);
        assert_false(rd.hard_state_changed);
        assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 0), 0);
        fx_rd_free(&rd);
    }
    assert_true(rounds >= 500 / (2 * FX_ELECTION));
    assert_int_equal(fx_status(r).term, 0);
    sampan_raft_free(r);
}

/* Thesis 9.6 end to end: a follower cut off from a working cluster keeps
 * campaigning; when the partition heals it does not disrupt the leader. */
static void test_prevote_rejoining_node_does_not_disrupt(void **state)
{
    (void)state;
    struct fx_net net;
    fx_net_init(&net, 3, 42, NULL);
    assert_int_equal(sampan_raft_campaign(net.nodes[1]), 0);
    fx_net_settle(&net);
    assert_int_equal(fx_net_leader(&net), 1);
    uint64_t term = fx_status(net.nodes[1]).term;

    fx_net_isolate(&net, 3);
    for (int i = 0; i < 100; i++) {
        fx_net_tick(&net);
        fx_net_settle(&net);
    }
    assert_int_equal(fx_status(net.nodes[3]).term, term);
    fx_net_heal(&net);
    for (int i = 0; i < 30; i++) {
        fx_net_tick(&net);
        fx_net_settle(&net);
    }
    assert_int_equal(fx_net_leader(&net), 1);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(fx_status(net.nodes[id]).term, term);
        assert_int_equal(fx_status(net.nodes[id]).leader, 1);
    }
    assert_int_equal(net.step_errors, 0);
    fx_net_free(&net);
}

/* Thesis 6.2: "a leader steps down if an election timeout elapses without
 * a successful round of heartbeats to a majority of its cluster." The
 * check is periodic, so silence is noticed within two timeouts. */
static void test_check_quorum_leader_steps_down(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    unsigned ticks = 0;
    while (fx_status(r).role == SAMPAN_LEADER && ticks < 100) {
        sampan_raft_tick(r);
        fx_discard(r);
        ticks++;
    }
    assert_true(ticks >= FX_ELECTION);
    assert_true(ticks <= 2 * FX_ELECTION);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.leader, SAMPAN_NONE);
    sampan_raft_free(r);
}

/* Thesis 6.2, converse: one follower's answers make a majority of three
 * with the leader itself, so the leader stays. */
static void test_check_quorum_leader_stays_with_majority(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    for (int i = 0; i < 10 * (int)FX_ELECTION; i++) {
        sampan_raft_tick(r);
        struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, 2, 1, 1);
        fx_step(r, &m);
        fx_discard(r);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    sampan_raft_free(r);
}

/* With CheckQuorum off a silent leader keeps its role. */
static void test_check_quorum_disabled_leader_stays(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    cfg.disable_check_quorum = true;
    struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
    fx_make_leader(r, 3);
    for (int i = 0; i < 10 * (int)FX_ELECTION; i++) {
        sampan_raft_tick(r);
        fx_discard(r);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    sampan_raft_free(r);
}

/* Section 5.2 end to end: a 5-node cluster elects exactly one leader and
 * every node learns it. */
static void test_net_elects_one_leader(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct fx_net net;
        fx_net_init(&net, 5, seed, NULL);
        uint64_t leader = 0;
        for (int i = 0; i < 100 && leader == 0; i++) {
            fx_net_tick(&net);
            fx_net_settle(&net);
            leader = fx_net_leader(&net);
        }
        assert_int_not_equal(leader, 0);
        uint64_t term = fx_status(net.nodes[leader]).term;
        for (int i = 0; i < 5; i++) {
            fx_net_tick(&net);
            fx_net_settle(&net);
        }
        for (uint64_t id = 1; id <= 5; id++) {
            struct sampan_status st = fx_status(net.nodes[id]);
            assert_int_equal(st.term, term);
            assert_int_equal(st.leader, leader);
        }
        assert_int_equal(net.step_errors, 0);
        fx_net_free(&net);
    }
}

/* campaign() on a leader is refused. */
static void test_campaign_on_leader_refused(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    assert_int_equal(sampan_raft_campaign(r), SAMPAN_ESTATE);
    assert_int_equal(fx_status(r).term, 1);
    sampan_raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_times_out_in_randomized_range),
        cmocka_unit_test(test_randomized_timeouts_differ),
        cmocka_unit_test(test_prevote_campaign_keeps_term),
        cmocka_unit_test(test_vote_campaign_increments_term_and_votes_self),
        cmocka_unit_test(test_candidate_wins_with_majority),
        cmocka_unit_test(test_duplicate_vote_counts_once),
        cmocka_unit_test(test_candidate_loses_on_majority_rejection),
        cmocka_unit_test(test_precandidate_becomes_candidate_on_majority),
        cmocka_unit_test(test_precandidate_loses_on_majority_rejection),
        cmocka_unit_test(test_prevote_grant_for_wrong_term_ignored),
        cmocka_unit_test(test_single_node_becomes_leader),
        cmocka_unit_test(test_vote_granted_once_per_term),
        cmocka_unit_test(test_election_restriction_older_last_term),
        cmocka_unit_test(test_election_restriction_same_term_shorter_log),
        cmocka_unit_test(test_prevote_restriction),
        cmocka_unit_test(test_prevote_grant_changes_nothing),
        cmocka_unit_test(test_granted_vote_persisted_with_hard_state),
        cmocka_unit_test(test_higher_term_response_deposes_leader),
        cmocka_unit_test(test_higher_term_append_deposes_leader),
        cmocka_unit_test(test_higher_term_deposes_candidate),
        cmocka_unit_test(test_stale_append_answered_with_our_term),
        cmocka_unit_test(test_stale_heartbeat_answered_with_our_term),
        cmocka_unit_test(test_stale_vote_request_ignored),
        cmocka_unit_test(test_candidate_append_same_term_becomes_follower),
        cmocka_unit_test(
            test_precandidate_heartbeat_same_term_becomes_follower),
        cmocka_unit_test(test_leader_stickiness_ignores_vote_in_lease),
        cmocka_unit_test(test_leader_stickiness_expires),
        cmocka_unit_test(test_leader_ignores_higher_term_vote_request),
        cmocka_unit_test(test_prevote_partitioned_node_keeps_term),
        cmocka_unit_test(test_prevote_rejoining_node_does_not_disrupt),
        cmocka_unit_test(test_check_quorum_leader_steps_down),
        cmocka_unit_test(test_check_quorum_leader_stays_with_majority),
        cmocka_unit_test(test_check_quorum_disabled_leader_stays),
        cmocka_unit_test(test_net_elects_one_leader),
        cmocka_unit_test(test_campaign_on_leader_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
