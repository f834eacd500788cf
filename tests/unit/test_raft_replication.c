/* tests/unit/test_raft_replication.c: log replication, after the Raft paper
 * (Figure 2 AppendEntries, sections 5.3, 5.4.2 and Figure 8, section 8) and
 * the flow control a production core needs (etcd's probe/replicate states,
 * inflight windows, size limits). Public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

static struct sampan_raft *new_follower(uint64_t id, uint64_t term,
                                        const uint64_t *terms, size_t n)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, id, 3, 3);
    return fx_new_boot(&cfg, term, SAMPAN_NONE, terms, n);
}

/* A leader of term 1 (3 nodes) with the no-op at index 1 durable and, when
 * `ack`, both followers acknowledged so they are in replicate state. */
static struct sampan_raft *new_leader_cfg(struct sampan_raft_config *cfg,
                                          bool ack)
{
    struct sampan_raft *r = fx_new_cfg(cfg, NULL);
    fx_make_leader(r, cfg->members.n_voters);
    if (ack) {
        for (uint64_t id = 2; id <= cfg->members.n_voters; id++) {
            fx_ack(r, id, 1);
        }
        fx_discard(r);
        assert_int_equal(fx_status(r).commit, 1);
    }
    return r;
}

static struct sampan_raft *new_leader(bool ack)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    return new_leader_cfg(&cfg, ack);
}

static void propose(struct sampan_raft *r, const char *s)
{
    assert_int_equal(sampan_raft_propose(r, s, strlen(s), NULL), 0);
}

/* Section 8: "each leader commit a blank no-op entry into the log at the
 * start of its term." */
static void test_new_leader_appends_noop(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    struct sampan_raft *r = fx_new_boot(&cfg, 1, SAMPAN_NONE, terms, 2);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_PREVOTE_RESP, 2, 1, 2);
    fx_step(r, &m);
    fx_discard(r);
    m = fx_msg(SAMPAN_MSG_VOTE_RESP, 2, 1, 2);
    fx_step(r, &m);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_LEADER);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.last_index, 3);

    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.entries[0].index, 3);
    assert_int_equal(rd.entries[0].term, 2);
    assert_int_equal(rd.entries[0].type, SAMPAN_ENTRY_NOOP);
    assert_int_equal(rd.entries[0].len, 0);
    /* Figure 2 AppendEntries arguments: prevLogIndex, prevLogTerm,
     * entries[], leaderCommit. */
    for (uint64_t to = 2; to <= 3; to++) {
        const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, to);
        assert_non_null(a);
        assert_int_equal(a->term, 2);
        assert_int_equal(a->index, 2);
        assert_int_equal(a->log_term, 1);
        assert_int_equal(a->commit, 0);
        assert_int_equal(a->n_entries, 1);
        assert_int_equal(a->entries[0].index, 3);
        assert_int_equal(a->entries[0].type, SAMPAN_ENTRY_NOOP);
    }
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2: the leader's AppendEntries carry prevLogIndex/prevLogTerm of
 * the entry just before the new ones and its commit index. */
static void test_leader_append_carries_prev_and_commit(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(true);
    propose(r, "x");
    propose(r, "yz");
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->index, 1);
    assert_int_equal(a->log_term, 1);
    assert_int_equal(a->commit, 1);
    assert_int_equal(a->n_entries, 2);
    assert_int_equal(a->entries[0].index, 2);
    assert_int_equal(a->entries[0].len, 1);
    assert_memory_equal(a->entries[0].data, "x", 1);
    assert_int_equal(a->entries[1].index, 3);
    assert_memory_equal(a->entries[1].data, "yz", 2);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2, AppendEntries receiver rule 2: "Reply false if log doesn't
 * contain an entry at prevLogIndex whose term matches prevLogTerm." The
 * rejection hints the last index <= prevLogIndex with term <= prevLogTerm
 * (section 5.3's optimization). */
static void test_follower_rejects_mismatch_with_hint(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 2, 2, 2};
    struct sampan_raft *r = new_follower(2, 2, terms, 4);
    /* prevLogIndex past our log: hint our last entry. */
    fx_step_append(r, 1, 3, 6, 3, 0, NULL, 0, NULL);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(m);
    assert_true(m->reject);
    assert_int_equal(m->term, 3);
    assert_int_equal(m->index, 6);
    assert_int_equal(m->hint_index, 4);
    assert_int_equal(m->hint_term, 2);
    fx_rd_free(&rd);

    /* prevLogTerm 1 at index 3 where we hold term 2: the hint skips our
     * whole term 2 back to index 1. */
    fx_step_append(r, 1, 3, 3, 1, 0, NULL, 0, NULL);
    fx_drain(r, &rd);
    m = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(m);
    assert_true(m->reject);
    assert_int_equal(m->index, 3);
    assert_int_equal(m->hint_index, 1);
    assert_int_equal(m->hint_term, 1);
    fx_rd_free(&rd);
    assert_int_equal(fx_status(r).last_index, 4);
    sampan_raft_free(r);
}

/* Section 5.3: "the leader can decrement nextIndex to bypass all of the
 * conflicting entries in that term" - one round trip per term, not per
 * entry. */
static void test_leader_fast_backtracking_skips_term(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 2, 2, 2, 2};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    struct sampan_raft *r = fx_new_boot(&cfg, 2, SAMPAN_NONE, terms, 5);
    fx_make_leader(r, 3);
    assert_int_equal(fx_status(r).term, 3);
    /* The follower holds 1..5 all of term 1: it rejects prev (5, 2) with
     * hint (5, 1). */
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 3);
    m.reject = true;
    m.index = 5;
    m.hint_index = 5;
    m.hint_term = 1;
    fx_step(r, &m);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 1);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_int_equal(a->index, 1);
    assert_int_equal(a->log_term, 1);
    assert_int_equal(a->n_entries, 5);
    assert_int_equal(a->entries[0].index, 2);
    assert_int_equal(a->entries[4].index, 6);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* A rejection that does not answer the probe in flight (a duplicate or a
 * reordered old one) does not move nextIndex. */
static void test_leader_ignores_stale_rejection(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1, 1};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    struct sampan_raft *r = fx_new_boot(&cfg, 1, SAMPAN_NONE, terms, 5);
    fx_make_leader(r, 3); /* probe in flight: prev index 5 */
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 2);
    m.reject = true;
    m.index = 3;
    m.hint_index = 0;
    fx_step(r, &m);
    assert_false(sampan_raft_has_ready(r));
    sampan_raft_free(r);
}

/* A follower whose disk was wiped (restarted empty under the same id)
 * rejects at its old match point with a hint below it. The leader forgets
 * the match and probes further back; holding on to it, it probed at the
 * same point until its next compaction (88 s in bench/failover.py). A
 * rejection below the match stays stale (the test above). */
static void test_leader_forgets_match_of_wiped_follower(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1, 1};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    struct sampan_raft *r = fx_new_boot(&cfg, 1, SAMPAN_NONE, terms, 5);
    fx_make_leader(r, 3);
    uint64_t last = fx_status(r).last_index; /* 6: the leader's no-op */
    fx_ack(r, 2, last);
    fx_discard(r);
    /* A write the wiped follower never sees; it rejects the pipeline, then
     * the probe at its old match. */
    assert_int_equal(sampan_raft_propose(r, "x", 1, NULL), 0);
    fx_discard(r);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 2);
    m.reject = true;
    m.index = last;
    m.hint_index = 0;
    fx_step(r, &m);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *probe = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(probe);
    assert_int_equal(probe->index, last);
    fx_rd_free(&rd);
    fx_step(r, &m);
    fx_drain(r, &rd);
    probe = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(probe);
    assert_int_equal(probe->index, 0);
    assert_int_equal(probe->n_entries, last + 1);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Section 5.3 receiver rules 3 and 4: "If an existing entry conflicts with
 * a new one (same index but different terms), delete the existing entry
 * and all that follow it. Append any new entries not already in the log." */
static void test_follower_truncates_conflicting_suffix(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1};
    struct sampan_raft *r = new_follower(2, 1, terms, 4);
    const uint64_t new_terms[] = {2, 2, 2};
    fx_step_append(r, 1, 2, 2, 1, 0, new_terms, 3, NULL);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.last_index, 5);
    assert_int_equal(fx_term_at(r, 2), 1);
    assert_int_equal(fx_term_at(r, 3), 2);
    assert_int_equal(fx_term_at(r, 5), 2);
    struct fx_rd rd;
    fx_drain(r, &rd);
    /* Storage is told to replace its suffix from index 3 on. */
    assert_int_equal(rd.n_entries, 3);
    assert_int_equal(rd.entries[0].index, 3);
    assert_int_equal(rd.entries[0].term, 2);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, 5);
    assert_true(fx_is_persisted(&rd, ack));
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Rule 3 only deletes on a conflict: a duplicated or reordered older
 * AppendEntries whose entries all match must not truncate anything. */
static void test_follower_keeps_log_on_matching_append(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1};
    struct sampan_raft *r = new_follower(2, 1, terms, 3);
    const uint64_t dup[] = {1, 1};
    fx_step_append(r, 1, 1, 0, 0, 0, dup, 2, NULL);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.last_index, 3);
    assert_int_equal(st.stable_index, 3);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_entries, 0);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, 2); /* what this message verified */
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Rule 4 with an overlap: only the entries past our log are appended. */
static void test_follower_appends_only_new_entries(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1};
    struct sampan_raft *r = new_follower(2, 1, terms, 3);
    const uint64_t more[] = {1, 1, 1, 1};
    fx_step_append(r, 1, 1, 1, 1, 0, more, 4, NULL);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_entries, 2);
    assert_int_equal(rd.entries[0].index, 4);
    assert_int_equal(rd.entries[1].index, 5);
    assert_int_equal(fx_status(r).last_index, 5);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2, receiver rule 5: "If leaderCommit > commitIndex, set
 * commitIndex = min(leaderCommit, index of last new entry)." */
static void
test_follower_commit_is_min_of_leader_commit_and_last_new(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1, 1};
    struct sampan_raft *r = new_follower(2, 1, terms, 5);
    const uint64_t one[] = {1};
    fx_step_append(r, 1, 1, 1, 1, 5, one, 1, NULL);
    assert_int_equal(fx_status(r).commit, 2);
    /* A smaller leaderCommit never lowers the commit index. */
    fx_step_append(r, 1, 1, 2, 1, 1, NULL, 0, NULL);
    assert_int_equal(fx_status(r).commit, 2);
    fx_step_append(r, 1, 1, 3, 1, 4, NULL, 0, NULL);
    assert_int_equal(fx_status(r).commit, 3);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_committed, 3);
    assert_int_equal(rd.committed[2].index, 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* An AppendEntries below our commit index is answered with the commit
 * index: everything up to it is settled (Log Matching + commit safety). */
static void test_follower_append_below_commit(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1};
    struct sampan_raft *r = new_follower(2, 1, terms, 4);
    fx_step_append(r, 1, 1, 4, 1, 3, NULL, 0, NULL);
    fx_discard(r);
    assert_int_equal(fx_status(r).commit, 3);
    const uint64_t one[] = {1};
    fx_step_append(r, 1, 1, 1, 1, 0, one, 1, NULL);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, 3);
    assert_int_equal(fx_status(r).last_index, 4);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Figure 2, Leaders: "If there exists an N such that N > commitIndex, a
 * majority of matchIndex[i] >= N, and log[N].term == currentTerm: set
 * commitIndex = N." The leader's own copy counts only once durable, i.e.
 * after advance (thesis 10.2.1). */
static void test_leader_commits_after_own_durable_write(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(true);
    uint64_t idx = 0;
    assert_int_equal(sampan_raft_propose(r, "ab", 2, &idx), 0);
    assert_int_equal(idx, 2);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 1);
    /* One follower acknowledges while our own write is in flight: 1 of 3
     * durable copies is not a majority. */
    fx_ack(r, 2, 2);
    assert_int_equal(fx_status(r).commit, 1);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    assert_int_equal(fx_status(r).commit, 2);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_committed, 1);
    assert_int_equal(rd.committed[0].index, 2);
    assert_memory_equal(rd.committed[0].data, "ab", 2);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Two followers' durable copies are a majority even before the leader's own
 * write is done. */
static void test_leader_commits_on_follower_majority(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(true);
    propose(r, "a");
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    fx_ack(r, 2, 2);
    assert_int_equal(fx_status(r).commit, 1);
    fx_ack(r, 3, 2);
    assert_int_equal(fx_status(r).commit, 2);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

/* Section 5.4.2 / Figure 8: "Raft never commits log entries from previous
 * terms by counting replicas. Only log entries from the leader's current
 * term are committed by counting replicas." */
static void test_figure8_previous_term_not_committed_by_counting(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 2};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    struct sampan_raft *r = fx_new_boot(&cfg, 2, SAMPAN_NONE, terms, 2);
    fx_make_leader(r, 3);
    assert_int_equal(fx_status(r).term, 3);
    /* Follower 2 holds the term-2 entry at index 2: it is on a majority
     * (leader + 2) but of an older term. */
    fx_ack(r, 2, 2);
    assert_int_equal(fx_status(r).commit, 0);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    assert_int_equal(rd.n_committed, 0);
    fx_rd_free(&rd);
    /* Once the current-term no-op is on a majority, everything before it
     * commits too. */
    fx_ack(r, 2, 3);
    assert_int_equal(fx_status(r).commit, 3);
    fx_drain_all(r, &rd);
    assert_int_equal(rd.n_committed, 3);
    assert_int_equal(rd.committed[0].index, 1);
    assert_int_equal(rd.committed[1].term, 2);
    assert_int_equal(rd.committed[2].term, 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Acknowledgements beyond the leader's log are impossible and refused. */
static void test_leader_refuses_ack_past_its_log(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(true);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 1);
    m.index = 9;
    assert_int_equal(sampan_raft_step(r, &m), SAMPAN_EINVAL);
    assert_int_equal(fx_status(r).commit, 1);
    sampan_raft_free(r);
}

/* Section 8 / thesis 6.2: clients send requests to the leader; a follower
 * that knows it forwards proposals to it. */
static void test_follower_forwards_proposal(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 1);
    fx_step(r, &hb);
    fx_discard(r);
    uint64_t idx = 77;
    assert_int_equal(sampan_raft_propose(r, "hello", 5, &idx), 0);
    assert_int_equal(idx, 0);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_msgs, 1);
    const struct sampan_msg *p = fx_find(&rd, SAMPAN_MSG_PROPOSE, 1);
    assert_non_null(p);
    assert_false(fx_is_persisted(&rd, p));
    assert_int_equal(p->from, 2);
    assert_int_equal(p->n_entries, 1);
    assert_int_equal(p->entries[0].len, 5);
    assert_memory_equal(p->entries[0].data, "hello", 5);
    assert_int_equal(rd.n_entries, 0);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Without a known leader there is nobody to forward to. */
static void test_propose_without_leader(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    uint64_t idx = 77;
    assert_int_equal(sampan_raft_propose(r, "x", 1, &idx), SAMPAN_ENOLEADER);
    assert_int_equal(idx, 0);
    assert_false(sampan_raft_has_ready(r));
    assert_int_equal(sampan_raft_campaign(r), 0); /* pre-candidate */
    assert_int_equal(sampan_raft_propose(r, "x", 1, NULL), SAMPAN_ENOLEADER);
    sampan_raft_free(r);
}

/* The leader appends a forwarded proposal at its own term and index. */
static void test_leader_appends_forwarded_proposal(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(true);
    uint8_t data[3] = {7, 8, 9};
    struct sampan_entry e = {
        .type = SAMPAN_ENTRY_NORMAL, .len = 3, .data = data};
    struct sampan_msg m = fx_msg(SAMPAN_MSG_PROPOSE, 3, 1, 0);
    m.entries = &e;
    m.n_entries = 1;
    fx_step(r, &m);
    data[0] = 0; /* the core copied what it keeps */
    const struct sampan_entry *got = sampan_raft_entry_at(r, 2);
    assert_non_null(got);
    assert_int_equal(got->term, 1);
    assert_int_equal(got->type, SAMPAN_ENTRY_NORMAL);
    assert_int_equal(got->len, 3);
    assert_int_equal(got->data[0], 7);
    sampan_raft_free(r);
}

/* max_uncommitted_bytes bounds what the leader holds uncommitted; once
 * entries commit, room frees up again. */
static void test_max_uncommitted_bytes(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    cfg.max_uncommitted_bytes = 100;
    struct sampan_raft *r = new_leader_cfg(&cfg, true);
    char buf[60];
    memset(buf, 'a', sizeof(buf));
    assert_int_equal(sampan_raft_propose(r, buf, 60, NULL), 0);
    assert_int_equal(sampan_raft_propose(r, buf, 40, NULL), 0); /* = 100 */
    assert_int_equal(sampan_raft_propose(r, buf, 1, NULL), SAMPAN_EBUSY);
    assert_int_equal(sampan_raft_propose(r, buf, 60, NULL), SAMPAN_EBUSY);
    assert_int_equal(fx_status(r).last_index, 3);
    fx_discard(r);
    fx_ack(r, 2, 3);
    assert_int_equal(fx_status(r).commit, 3);
    assert_int_equal(sampan_raft_propose(r, buf, 60, NULL), 0);
    assert_int_equal(fx_status(r).last_index, 4);
    sampan_raft_free(r);
}

/* max_entry_bytes bounds a single command. */
static void test_max_entry_bytes(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    cfg.max_entry_bytes = 10;
    struct sampan_raft *r = new_leader_cfg(&cfg, true);
    char buf[11] = "0123456789";
    assert_int_equal(sampan_raft_propose(r, buf, 11, NULL), SAMPAN_ETOOBIG);
    assert_int_equal(fx_status(r).last_index, 1);
    assert_int_equal(sampan_raft_propose(r, buf, 10, NULL), 0);
    assert_int_equal(fx_status(r).last_index, 2);
    sampan_raft_free(r);
}

/* Probe state: while the match point is unknown, at most one AppendEntries
 * is in flight to a follower. */
static void test_probe_state_one_inflight(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(false); /* no-op probe in flight */
    propose(r, "a");
    propose(r, "b");
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 0), 0);
    fx_rd_free(&rd);
    /* A heartbeat answer unblocks exactly one new probe. */
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, 2, 1, 1);
    fx_step(r, &m);
    fx_step(r, &m);
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 3), 0);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_int_equal(a->index, 0);
    assert_int_equal(a->n_entries, 3);
    fx_rd_free(&rd);
    propose(r, "c");
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 0), 0);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Replicate state pipelines at most max_inflight_msgs AppendEntries; each
 * acknowledgement frees room for one more. */
static void test_replicate_inflight_msgs_window(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    cfg.max_inflight_msgs = 2;
    cfg.max_msg_bytes = 1; /* one 1-byte entry per message */
    struct sampan_raft *r = new_leader_cfg(&cfg, true);
    for (int i = 0; i < 5; i++) {
        propose(r, "z");
    }
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 2);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 3), 2);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_int_equal(a->index, 1);
    assert_int_equal(a->n_entries, 1);
    fx_rd_free(&rd);
    fx_ack(r, 2, 2);
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 3), 0);
    a = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_int_equal(a->index, 3);
    assert_int_equal(a->entries[0].index, 4);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Replicate state is also bounded by bytes in flight (payload plus
 * SAMPAN_ENTRY_OVERHEAD per entry): the window is full once
 * max_inflight_bytes are outstanding. */
static void test_replicate_inflight_bytes_window(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    const uint64_t e = 4 + SAMPAN_ENTRY_OVERHEAD; /* one entry's charge */
    cfg.max_inflight_bytes = 2 * e + 2;
    cfg.max_msg_bytes = e;
    struct sampan_raft *r = new_leader_cfg(&cfg, true);
    for (int i = 0; i < 6; i++) {
        propose(r, "4444");
    }
    struct fx_rd rd;
    fx_drain(r, &rd);
    /* 2e < 2e + 2 keeps sending; 3e fills the window. */
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 3);
    fx_rd_free(&rd);
    fx_ack(r, 2, 2); /* frees one entry: 2e < 2e + 2, one more goes */
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 1);
    assert_int_equal(fx_find(&rd, SAMPAN_MSG_APPEND, 2)->entries[0].index, 5);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* max_msg_bytes limits the entries per AppendEntries (each charged its
 * payload plus SAMPAN_ENTRY_OVERHEAD), but an entry larger than the limit
 * still goes out alone. */
static void test_max_msg_bytes_limits_entries(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 3);
    const uint64_t o = SAMPAN_ENTRY_OVERHEAD;
    cfg.max_msg_bytes = 4 + 2 * o;
    struct sampan_raft *r = new_leader_cfg(&cfg, true);
    propose(r, "0123456789"); /* 10 + o, with "ab" 2 + o: over the limit */
    propose(r, "ab");
    propose(r, "cd");
    propose(r, "e");
    struct fx_rd rd;
    fx_drain(r, &rd);
    size_t sizes[8] = {0};
    size_t n = 0;
    for (size_t i = 0; i < rd.n_msgs; i++) {
        if (rd.msgs[i].type == SAMPAN_MSG_APPEND && rd.msgs[i].to == 2) {
            sizes[n++] = rd.msgs[i].n_entries;
        }
    }
    assert_int_equal(n, 3);
    assert_int_equal(sizes[0], 1); /* the 10-byte entry alone */
    assert_int_equal(sizes[1], 2); /* "ab" + "cd" = 4 + 2o, the limit */
    assert_int_equal(sizes[2], 1); /* "e" */
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* A heartbeat never tells a follower to commit past what it is known to
 * hold: commit = min(match, leader commit). */
static void test_heartbeat_commit_is_min_match_commit(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(false);
    fx_ack(r, 2, 1);
    fx_discard(r);
    assert_int_equal(fx_status(r).commit, 1);
    sampan_raft_tick(r);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *h2 = fx_find(&rd, SAMPAN_MSG_HEARTBEAT, 2);
    const struct sampan_msg *h3 = fx_find(&rd, SAMPAN_MSG_HEARTBEAT, 3);
    assert_non_null(h2);
    assert_non_null(h3);
    assert_int_equal(h2->commit, 1);
    assert_int_equal(h3->commit, 0);
    assert_int_equal(h2->term, 1);
    assert_false(fx_is_persisted(&rd, h2));
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* A heartbeat advances a follower's commit index, never past its log. */
static void test_follower_heartbeat_commit(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1};
    struct sampan_raft *r = new_follower(2, 1, terms, 2);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 1);
    hb.commit = 9;
    hb.context = 1234;
    fx_step(r, &hb);
    assert_int_equal(fx_status(r).commit, 2);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *resp = fx_find(&rd, SAMPAN_MSG_HEARTBEAT_RESP, 1);
    assert_non_null(resp);
    assert_int_equal(resp->context, 1234);
    assert_int_equal(rd.n_committed, 2);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Proposals made together go out as one AppendEntries per follower. */
static void test_proposals_batched_per_follower(void **state)
{
    (void)state;
    struct sampan_raft *r = new_leader(true);
    propose(r, "a");
    propose(r, "b");
    propose(r, "c");
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 2), 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_APPEND, 3), 1);
    assert_int_equal(fx_find(&rd, SAMPAN_MSG_APPEND, 3)->n_entries, 3);
    assert_int_equal(rd.n_entries, 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* A follower's acknowledgement claims durability: it is only in
 * persisted_messages, with the entries it covers in the same Ready. */
static void test_follower_ack_after_persist(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const uint64_t terms[] = {1, 1};
    fx_step_append(r, 1, 1, 0, 0, 0, terms, 2, NULL);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 2);
    assert_int_equal(ready.n_messages, 0);
    assert_int_equal(ready.n_persisted_messages, 1);
    assert_int_equal(ready.persisted_messages[0].type, SAMPAN_MSG_APPEND_RESP);
    assert_int_equal(ready.persisted_messages[0].index, 2);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

/* End to end in a 3-node cluster: proposals commit everywhere, in the same
 * order, and every log matches (Log Matching Property, section 5.3). */
static void test_net_replicates_and_commits(void **state)
{
    (void)state;
    struct fx_net net;
    fx_net_init(&net, 3, 5, NULL);
    assert_int_equal(sampan_raft_campaign(net.nodes[1]), 0);
    fx_net_settle(&net);
    assert_int_equal(fx_net_leader(&net), 1);
    char buf[16];
    for (int i = 0; i < 20; i++) {
        int len = snprintf(buf, sizeof(buf), "cmd-%d", i);
        /* Half of them through a follower. */
        struct sampan_raft *via = net.nodes[i % 2 ? 2 : 1];
        assert_int_equal(sampan_raft_propose(via, buf, (size_t)len, NULL), 0);
        fx_net_settle(&net);
    }
    fx_net_tick(&net);
    fx_net_settle(&net);
    for (uint64_t id = 1; id <= 3; id++) {
        struct sampan_status st = fx_status(net.nodes[id]);
        assert_int_equal(st.last_index, 21);
        assert_int_equal(st.commit, 21);
        assert_int_equal(st.applied, 21);
        for (uint64_t i = 1; i <= 21; i++) {
            const struct sampan_entry *a =
                sampan_raft_entry_at(net.nodes[1], i);
            const struct sampan_entry *b =
                sampan_raft_entry_at(net.nodes[id], i);
            assert_non_null(a);
            assert_non_null(b);
            assert_int_equal(a->term, b->term);
            assert_int_equal(a->len, b->len);
            if (a->len) {
                assert_memory_equal(a->data, b->data, a->len);
            }
        }
    }
    assert_int_equal(net.step_errors, 0);
    fx_net_free(&net);
}

/* Section 5.3 end to end: a follower that missed entries while cut off is
 * brought up to date by the leader backing up nextIndex. */
static void test_net_lagging_follower_catches_up(void **state)
{
    (void)state;
    struct fx_net net;
    fx_net_init(&net, 3, 6, NULL);
    assert_int_equal(sampan_raft_campaign(net.nodes[1]), 0);
    fx_net_settle(&net);
    fx_net_isolate(&net, 3);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sampan_raft_propose(net.nodes[1], "v", 1, NULL), 0);
        fx_net_settle(&net);
    }
    assert_int_equal(fx_status(net.nodes[1]).commit, 11);
    assert_int_equal(fx_status(net.nodes[3]).last_index, 1);
    fx_net_heal(&net);
    for (int i = 0; i < 5; i++) {
        fx_net_tick(&net);
        fx_net_settle(&net);
    }
    /* Section 5.3: "the leader retries AppendEntries RPCs indefinitely
     * ... until all followers eventually store all log entries", even
     * with no new entry to send: heartbeats alone bring node 3 back. */
    assert_int_equal(fx_status(net.nodes[3]).last_index, 11);
    assert_int_equal(fx_status(net.nodes[3]).commit, 11);
    assert_int_equal(fx_net_leader(&net), 1);
    /* And it keeps up with new entries. */
    assert_int_equal(sampan_raft_propose(net.nodes[1], "w", 1, NULL), 0);
    fx_net_settle(&net);
    fx_net_tick(&net);
    fx_net_settle(&net);
    assert_int_equal(fx_status(net.nodes[3]).last_index, 12);
    assert_int_equal(fx_status(net.nodes[3]).commit, 12);
    assert_int_equal(fx_net_leader(&net), 1);
    fx_net_free(&net);
}

/* raft.h: a rejected message leaves the core unchanged. An acknowledgement
 * of entries the leader never had is refused, and does not count as hearing
 * from the follower: bogus acks cannot keep an isolated leader in office
 * under CheckQuorum (thesis 6.2). */
static void test_refused_ack_does_not_count_for_check_quorum(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    for (int i = 0; i < 5 * (int)FX_ELECTION; i++) {
        sampan_raft_tick(r);
        struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 1);
        m.index = 99; /* past the leader's log: refused */
        if (fx_status(r).role == SAMPAN_LEADER) {
            assert_int_equal(sampan_raft_step(r, &m), SAMPAN_EINVAL);
        }
        fx_discard(r);
    }
    /* Stepped down (and, hearing no one, campaigns by now). */
    assert_int_not_equal(fx_status(r).role, SAMPAN_LEADER);
    sampan_raft_free(r);
}

/* Reordering: an overtaken AppendEntries can be rejected at exactly the
 * follower's match index after the message that made the match was
 * acknowledged. The leader then probes again; a success at the match point
 * answers that probe even though it moves nothing, and must resume
 * replication at once (etcd: MaybeUpdate || Match == index in probe),
 * not leave the follower paused until a heartbeat answer. */
static void test_probe_answered_at_match_resumes_replication(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    uint64_t last = fx_status(r).last_index;
    fx_ack(r, 2, last);
    fx_ack(r, 3, last);
    fx_discard(r);
    /* The late rejection at match. */
    struct sampan_msg rej =
        fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, fx_status(r).term);
    rej.reject = true;
    rej.index = last;
    rej.hint_index = last; /* it holds `last` by now */
    rej.hint_term = fx_status(r).term;
    fx_step(r, &rej);
    fx_discard(r);      /* the probe goes out */
    fx_ack(r, 2, last); /* its answer: match unchanged */
    fx_discard(r);
    /* A new proposal must reach node 2 at once. */
    uint64_t index;
    assert_int_equal(sampan_raft_propose(r, "x", 1, &index), 0);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *a = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->n_entries, 1);
    assert_int_equal(a->entries[0].index, index);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_leader_appends_noop),
        cmocka_unit_test(test_leader_append_carries_prev_and_commit),
        cmocka_unit_test(test_follower_rejects_mismatch_with_hint),
        cmocka_unit_test(test_leader_fast_backtracking_skips_term),
        cmocka_unit_test(test_leader_ignores_stale_rejection),
        cmocka_unit_test(test_leader_forgets_match_of_wiped_follower),
        cmocka_unit_test(test_follower_truncates_conflicting_suffix),
        cmocka_unit_test(test_follower_keeps_log_on_matching_append),
        cmocka_unit_test(test_follower_appends_only_new_entries),
        cmocka_unit_test(
            test_follower_commit_is_min_of_leader_commit_and_last_new),
        cmocka_unit_test(test_follower_append_below_commit),
        cmocka_unit_test(test_leader_commits_after_own_durable_write),
        cmocka_unit_test(test_leader_commits_on_follower_majority),
        cmocka_unit_test(test_figure8_previous_term_not_committed_by_counting),
        cmocka_unit_test(test_leader_refuses_ack_past_its_log),
        cmocka_unit_test(test_follower_forwards_proposal),
        cmocka_unit_test(test_propose_without_leader),
        cmocka_unit_test(test_leader_appends_forwarded_proposal),
        cmocka_unit_test(test_max_uncommitted_bytes),
        cmocka_unit_test(test_max_entry_bytes),
        cmocka_unit_test(test_probe_state_one_inflight),
        cmocka_unit_test(test_replicate_inflight_msgs_window),
        cmocka_unit_test(test_replicate_inflight_bytes_window),
        cmocka_unit_test(test_max_msg_bytes_limits_entries),
        cmocka_unit_test(test_heartbeat_commit_is_min_match_commit),
        cmocka_unit_test(test_follower_heartbeat_commit),
        cmocka_unit_test(test_proposals_batched_per_follower),
        cmocka_unit_test(test_follower_ack_after_persist),
        cmocka_unit_test(test_net_replicates_and_commits),
        cmocka_unit_test(test_net_lagging_follower_catches_up),
        cmocka_unit_test(test_refused_ack_does_not_count_for_check_quorum),
        cmocka_unit_test(test_probe_answered_at_match_resumes_replication),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
