/* tests/unit/test_raft_ready.c: the Ready contract of include/sampan/raft.h:
 * what must be persisted, what may be sent when, what is handed out once,
 * and that data in an outstanding Ready stays valid while the core keeps
 * running (Figure 2 "respond after persisting"; thesis 10.2.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

/* A brand-new core has nothing to do. */
static void test_idle_core_has_no_ready(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    assert_false(sampan_raft_has_ready(r));
    sampan_raft_tick(r);
    assert_false(sampan_raft_has_ready(r));
    sampan_raft_free(r);
}

/* Booted entries are already durable: they are not handed out again. */
static void test_boot_entries_not_handed_out(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 2};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    struct sampan_raft *r = fx_new_boot(&cfg, 2, 3, terms, 3);
    assert_false(sampan_raft_has_ready(r));
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.stable_index, 3);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, 3);
    assert_int_equal(st.commit, 0);
    sampan_raft_free(r);
}

/* hard_state_changed is set exactly when term or vote changed since the
 * last Ready; other progress (leader, commit) does not set it. */
static void test_hard_state_changed_only_on_term_or_vote(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 1);
    fx_step(r, &hb);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.term, 1);
    assert_int_equal(rd.hard_state.vote, SAMPAN_NONE);
    fx_rd_free(&rd);

    const char *data[] = {"a"};
    const uint64_t terms[] = {1};
    fx_step_append(r, 2, 1, 0, 0, 1, terms, 1, data);
    fx_drain(r, &rd);
    assert_false(rd.hard_state_changed);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.n_committed, 1);
    fx_rd_free(&rd);

    /* A vote within the same term changes the hard state too. */
    struct sampan_raft *c = fx_new(1, 3, 1);
    struct sampan_msg bump = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 1);
    fx_step(c, &bump); /* term 1, no leader, no vote */
    fx_drain(c, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.vote, SAMPAN_NONE);
    fx_rd_free(&rd);
    struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE, 3, 1, 1);
    fx_step(c, &v);
    fx_drain(c, &rd);
    assert_int_equal(rd.hard_state.term, 1);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.vote, 3);
    fx_rd_free(&rd);
    fx_step(c, &v); /* granted again: nothing new to persist */
    fx_drain(c, &rd);
    assert_false(rd.hard_state_changed);
    assert_int_equal(rd.n_msgs, 1);
    fx_rd_free(&rd);
    sampan_raft_free(c);
    sampan_raft_free(r);
}

/* Entries are handed out for persisting once; advance makes them stable. */
static void test_entries_handed_out_once(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const char *data[] = {"x", "y", "z"};
    const uint64_t terms[] = {1, 1, 1};
    fx_step_append(r, 1, 1, 0, 0, 0, terms, 3, data);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 3);
    assert_int_equal(ready.entries[0].index, 1);
    assert_int_equal(fx_status(r).stable_index, 0);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    assert_int_equal(fx_status(r).stable_index, 3);
    assert_false(sampan_raft_has_ready(r));

    const char *more[] = {"w"};
    const uint64_t t1[] = {1};
    fx_step_append(r, 1, 1, 3, 1, 0, t1, 1, more);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.entries[0].index, 4);
    assert_memory_equal(rd.entries[0].data, "w", 1);
    assert_int_equal(fx_status(r).stable_index, 4);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Committed entries are handed out in order, each exactly once. */
static void test_committed_handed_out_in_order_once(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const char *data[] = {"a", "b", "c"};
    const uint64_t terms[] = {1, 1, 1};
    fx_step_append(r, 1, 1, 0, 0, 2, terms, 3, data);
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(rd.n_committed, 2);
    assert_int_equal(rd.committed[0].index, 1);
    assert_int_equal(rd.committed[1].index, 2);
    assert_memory_equal(rd.committed[1].data, "b", 1);
    assert_int_equal(fx_status(r).applied, 2);
    fx_rd_free(&rd);

    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 1);
    hb.commit = 3;
    fx_step(r, &hb);
    fx_drain(r, &rd);
    assert_int_equal(rd.n_committed, 1);
    assert_int_equal(rd.committed[0].index, 3);
    assert_memory_equal(rd.committed[0].data, "c", 1);
    fx_rd_free(&rd);

    fx_step(r, &hb); /* same commit again */
    fx_drain(r, &rd);
    assert_int_equal(rd.n_committed, 0);
    fx_rd_free(&rd);
    assert_int_equal(fx_status(r).applied, 3);
    sampan_raft_free(r);
}

/* A vote response, granted or not, is never in `messages`: it depends on
 * the hard state being durable. */
static void test_vote_response_only_persisted(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE, 2, 1, 1);
    fx_step(r, &v);
    v.from = 3; /* refused: already voted for 2 */
    fx_step(r, &v);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_messages, 0);
    assert_int_equal(ready.n_persisted_messages, 2);
    assert_int_equal(ready.persisted_messages[0].to, 2);
    assert_false(ready.persisted_messages[0].reject);
    assert_int_equal(ready.persisted_messages[1].to, 3);
    assert_true(ready.persisted_messages[1].reject);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

/* Thesis 10.2.1: the leader may send AppendEntries before its own write is
 * durable: they are in `messages`, in the same Ready as the entries. */
static void test_leader_append_in_messages(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    fx_ack(r, 3, 1);
    fx_discard(r);
    assert_int_equal(sampan_raft_propose(r, "p", 1, NULL), 0);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 1);
    assert_int_equal(ready.n_messages, 2);
    assert_int_equal(ready.n_persisted_messages, 0);
    for (size_t i = 0; i < ready.n_messages; i++) {
        assert_int_equal(ready.messages[i].type, SAMPAN_MSG_APPEND);
        assert_int_equal(ready.messages[i].n_entries, 1);
    }
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

/* While a Ready's write is in flight, sampan_raft_take_messages hands out
 * what needs nothing durable, so a driver writing on another thread keeps
 * the leader heartbeating and replicating (thesis 10.2.1); without it a
 * leader whose fdatasync outlasts an election timeout is deposed. */
static void test_take_messages_while_write_in_flight(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct sampan_msg *msgs = NULL;
    size_t n = 0;
    /* No Ready outstanding: the Ready itself hands messages out. */
    assert_int_equal(sampan_raft_take_messages(r, &msgs, &n), SAMPAN_ESTATE);
    assert_int_equal(n, 0);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    fx_ack(r, 3, 1);
    fx_discard(r);
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 1);
    /* A proposal during the write goes to the followers at once. */
    assert_int_equal(sampan_raft_propose(r, "b", 1, NULL), 0);
    assert_int_equal(sampan_raft_take_messages(r, &msgs, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(msgs[i].type, SAMPAN_MSG_APPEND);
        assert_int_equal(msgs[i].n_entries, 1);
        assert_int_equal(msgs[i].entries[0].index, 3);
    }
    sampan_raft_messages_free(msgs, n);
    /* So do heartbeats, and the followers' acknowledgements commit
     * without the leader's own write. */
    for (unsigned t = 0; t < FX_HEARTBEAT; t++) {
        sampan_raft_tick(r);
    }
    assert_int_equal(sampan_raft_take_messages(r, &msgs, &n), 0);
    size_t heartbeats = 0;
    for (size_t i = 0; i < n; i++) {
        heartbeats += msgs[i].type == SAMPAN_MSG_HEARTBEAT;
    }
    assert_true(heartbeats >= 2);
    sampan_raft_messages_free(msgs, n);
    fx_ack(r, 2, 3);
    fx_ack(r, 3, 3);
    assert_int_equal(fx_status(r).commit, 3);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

/* A follower's acknowledgement claims durability: stepped during a write,
 * it waits for the next Ready (written after the one in flight), while its
 * answer to a heartbeat goes at once. */
static void test_take_messages_keeps_acknowledgements(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const uint64_t t1[] = {1};
    fx_step_append(r, 1, 1, 0, 0, 0, t1, 1, NULL);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 1);
    fx_step_append(r, 1, 1, 1, 1, 0, t1, 1, NULL);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 2, 1);
    fx_step(r, &hb);
    struct sampan_msg *msgs = NULL;
    size_t n = 0;
    assert_int_equal(sampan_raft_take_messages(r, &msgs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(msgs[0].type, SAMPAN_MSG_HEARTBEAT_RESP);
    sampan_raft_messages_free(msgs, n);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_true(fx_is_persisted(&rd, ack));
    assert_int_equal(ack->index, 2);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* At most one Ready is outstanding. */
static void test_second_ready_refused(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 1);
    fx_step(r, &hb);
    struct sampan_ready a;
    struct sampan_ready b;
    assert_int_equal(sampan_raft_ready(r, &a), 0);
    assert_false(sampan_raft_has_ready(r));
    fx_step(r, &hb);
    assert_int_equal(sampan_raft_ready(r, &b), SAMPAN_ESTATE);
    assert_int_equal(b.n_messages, 0);
    assert_int_equal(b.n_persisted_messages, 0);
    assert_int_equal(sampan_raft_advance(r, &a), 0);
    assert_int_equal(sampan_raft_advance(r, &a), SAMPAN_ESTATE);
    /* What was stepped meanwhile is in the next Ready. */
    assert_true(sampan_raft_has_ready(r));
    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_HEARTBEAT_RESP, 2), 1);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* Steps between ready() and advance() are allowed, and the outstanding
 * Ready's data stays valid even when the log entries it points at are
 * truncated meanwhile (section 5.3 conflict). The next Ready re-hands the
 * replacement entries from the truncation point. ASan catches any
 * use-after-free here. */
static void test_outstanding_ready_survives_truncation(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const char *data[] = {"aaa", "bbb", "ccc"};
    const uint64_t terms[] = {1, 1, 1};
    fx_step_append(r, 1, 1, 0, 0, 0, terms, 3, data);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_entries, 3);

    /* Leader 3 of term 2 replaces everything after index 1. */
    const char *repl[] = {"XX"};
    const uint64_t t2[] = {2};
    fx_step_append(r, 3, 2, 1, 1, 0, t2, 1, repl);
    assert_int_equal(fx_status(r).last_index, 2);
    assert_int_equal(fx_term_at(r, 2), 2);

    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ready.entries[i].len, 3);
        assert_memory_equal(ready.entries[i].data, data[i], 3);
    }
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    /* Index 3 of term 1 is gone: it does not count as durable. */
    assert_true(fx_status(r).stable_index <= 1);

    struct fx_rd rd;
    fx_drain(r, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.term, 2);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.entries[0].index, 2);
    assert_int_equal(rd.entries[0].term, 2);
    assert_memory_equal(rd.entries[0].data, "XX", 2);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 3);
    assert_non_null(ack);
    assert_int_equal(ack->index, 2);
    fx_rd_free(&rd);
    assert_int_equal(fx_status(r).stable_index, 2);
    sampan_raft_free(r);
}

/* A leader's messages in an outstanding Ready keep their payloads while
 * the leader steps down and the core moves on. */
static void test_outstanding_ready_messages_stay_valid(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 3, 1);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    fx_discard(r);
    assert_int_equal(sampan_raft_propose(r, "payload", 7, NULL), 0);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    const struct sampan_msg *a = NULL;
    for (size_t i = 0; i < ready.n_messages; i++) {
        if (ready.messages[i].n_entries > 0) {
            a = &ready.messages[i];
        }
    }
    assert_non_null(a);
    /* Deposed by term 5; a new leader truncates our uncommitted entry. */
    struct sampan_entry e = {
        .term = 5, .index = 2, .type = SAMPAN_ENTRY_NORMAL};
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 3, 1, 5);
    m.index = 1;
    m.log_term = 1;
    m.entries = &e;
    m.n_entries = 1;
    fx_step(r, &m);
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    assert_int_equal(fx_term_at(r, 2), 5);
    assert_memory_equal(a->entries[0].data, "payload", 7);
    assert_memory_equal(ready.entries[0].data, "payload", 7);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    fx_discard(r);
    sampan_raft_free(r);
}

/* Freeing a core with a Ready outstanding releases everything (LSan). */
static void test_free_with_outstanding_ready(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const char *data[] = {"abc"};
    const uint64_t terms[] = {1};
    fx_step_append(r, 1, 1, 0, 0, 1, terms, 1, data);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_committed, 1);
    sampan_raft_free(r);
    sampan_raft_free(NULL);
}

/* The committed entries of a Ready are local-durable once its writes are:
 * a follower never hands out a committed entry that is neither stable nor
 * in the same Ready. */
static void test_committed_within_persisted(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 1);
    const char *data[] = {"a", "b"};
    const uint64_t terms[] = {1, 1};
    fx_step_append(r, 1, 1, 0, 0, 2, terms, 2, data);
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    assert_int_equal(ready.n_committed, 2);
    uint64_t last_entry = ready.entries[ready.n_entries - 1].index;
    assert_true(ready.committed[1].index <= last_entry);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    sampan_raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_core_has_no_ready),
        cmocka_unit_test(test_boot_entries_not_handed_out),
        cmocka_unit_test(test_hard_state_changed_only_on_term_or_vote),
        cmocka_unit_test(test_entries_handed_out_once),
        cmocka_unit_test(test_committed_handed_out_in_order_once),
        cmocka_unit_test(test_vote_response_only_persisted),
        cmocka_unit_test(test_leader_append_in_messages),
        cmocka_unit_test(test_take_messages_while_write_in_flight),
        cmocka_unit_test(test_take_messages_keeps_acknowledgements),
        cmocka_unit_test(test_second_ready_refused),
        cmocka_unit_test(test_outstanding_ready_survives_truncation),
        cmocka_unit_test(test_outstanding_ready_messages_stay_valid),
        cmocka_unit_test(test_free_with_outstanding_ready),
        cmocka_unit_test(test_committed_within_persisted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
