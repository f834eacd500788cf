/* tests/unit/test_raft_progress.c: the leader's per-follower record
 * (Figure 2 nextIndex/matchIndex) and its flow control (src/raft/progress.c),
 * plus the majority arithmetic of src/raft/quorum.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "raft/internal.h"

static void init(struct progress *p, uint32_t max_msgs, uint64_t max_bytes)
{
    assert_int_equal(progress_init(p, 2, max_msgs, max_bytes), 0);
    progress_reset(p, 1);
}

/* The inflight ring: full at capacity, frees in order, and wraps around
 * its end without losing a slot. */
static void test_inflights_ring_wraparound(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 3, 0);
    progress_become_replicate(&p);
    assert_false(progress_is_paused(&p));
    progress_sent(&p, 1, 10, 1);
    progress_sent(&p, 2, 10, 1);
    assert_false(progress_is_paused(&p));
    progress_sent(&p, 3, 10, 1);
    assert_true(progress_is_paused(&p));
    assert_int_equal(p.next, 4);
    assert_int_equal(p.inflights.count, 3);
    assert_int_equal(p.inflights.total_bytes, 30);

    inflights_free_to(&p.inflights, 1);
    assert_int_equal(p.inflights.count, 2);
    assert_int_equal(p.inflights.start, 1);
    assert_false(progress_is_paused(&p));
    progress_sent(&p, 5, 7, 2); /* lands in slot 0: wrapped */
    assert_int_equal(p.inflights.last_index[0], 5);
    assert_true(progress_is_paused(&p));

    inflights_free_to(&p.inflights, 3);
    assert_int_equal(p.inflights.count, 1);
    assert_int_equal(p.inflights.start, 0);
    assert_int_equal(p.inflights.total_bytes, 7);
    progress_sent(&p, 6, 1, 1);
    progress_sent(&p, 7, 1, 1);
    assert_true(progress_is_paused(&p));
    inflights_free_to(&p.inflights, 7);
    assert_int_equal(p.inflights.count, 0);
    assert_int_equal(p.inflights.total_bytes, 0);
    progress_destroy(&p);
}

/* free_to frees every message ending at or before the index, and only
 * those; a stale (lower) index frees nothing. */
static void test_inflights_free_to_partial(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 8, 0);
    progress_become_replicate(&p);
    progress_sent(&p, 3, 3, 3);
    progress_sent(&p, 6, 3, 3);
    progress_sent(&p, 9, 3, 3);
    inflights_free_to(&p.inflights, 2);
    assert_int_equal(p.inflights.count, 3);
    inflights_free_to(&p.inflights, 7);
    assert_int_equal(p.inflights.count, 1);
    assert_int_equal(p.inflights.last_index[p.inflights.start], 9);
    assert_int_equal(p.inflights.total_bytes, 3);
    inflights_free_to(&p.inflights, 5);
    assert_int_equal(p.inflights.count, 1);
    progress_destroy(&p);
}

/* The byte bound: the window is full once max_bytes are in flight. */
static void test_inflights_byte_bound(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 100, 100);
    progress_become_replicate(&p);
    progress_sent(&p, 1, 60, 1);
    assert_false(progress_is_paused(&p));
    progress_sent(&p, 2, 50, 1);
    assert_true(progress_is_paused(&p));
    inflights_free_to(&p.inflights, 1);
    assert_int_equal(p.inflights.total_bytes, 50);
    assert_false(progress_is_paused(&p));
    progress_destroy(&p);
}

/* An empty append in replicate state takes no window slot. */
static void test_empty_append_takes_no_slot(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 2, 0);
    progress_become_replicate(&p);
    progress_sent(&p, 0, 0, 0);
    progress_sent(&p, 0, 0, 0);
    assert_int_equal(p.inflights.count, 0);
    assert_false(progress_is_paused(&p));
    progress_destroy(&p);
}

/* Probe state: one message in flight; an acknowledgement that moves match
 * unpauses it. */
static void test_probe_pauses_after_one(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 4, 0);
    assert_int_equal(p.state, PROGRESS_PROBE);
    assert_false(progress_is_paused(&p));
    progress_sent(&p, 3, 0, 3);
    assert_true(progress_is_paused(&p));
    assert_int_equal(p.next, 1); /* probing does not move next */
    assert_true(progress_maybe_update(&p, 3));
    assert_false(progress_is_paused(&p));
    assert_int_equal(p.match, 3);
    assert_int_equal(p.next, 4);
    progress_destroy(&p);
}

/* matchIndex only moves forward (Figure 2: "increases monotonically"). */
static void test_maybe_update_monotonic(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 4, 0);
    assert_true(progress_maybe_update(&p, 5));
    assert_false(progress_maybe_update(&p, 5));
    assert_false(progress_maybe_update(&p, 2));
    assert_int_equal(p.match, 5);
    assert_int_equal(p.next, 6);
    p.next = 9;
    assert_true(progress_maybe_update(&p, 7));
    assert_int_equal(p.next, 9); /* never lowered by an ack */
    progress_destroy(&p);
}

/* Replicate state: a rejection below match comes from an older message
 * and is ignored. One exactly at match means the entries after match that
 * it carried were dropped (it overtook the message that made match), so,
 * like any real rejection, it sends next back to match + 1. */
static void test_maybe_decrease_replicate(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 4, 0);
    assert_true(progress_maybe_update(&p, 5));
    progress_become_replicate(&p);
    p.next = 10;
    assert_false(progress_maybe_decrease(&p, 4, 0));
    assert_false(progress_maybe_decrease(&p, 1, 0));
    assert_int_equal(p.next, 10);
    assert_true(progress_maybe_decrease(&p, 5, 0));
    assert_int_equal(p.next, 6);
    p.next = 10;
    assert_true(progress_maybe_decrease(&p, 8, 2));
    assert_int_equal(p.next, 6);
    progress_destroy(&p);
}

/* Probe state: only the answer to the probe in flight (prev == next - 1)
 * counts; the hint moves next back, never above the rejected index, and to
 * or below match only when the follower lost what it acknowledged. */
static void test_maybe_decrease_probe(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 4, 0);
    p.next = 10;
    p.probe_sent = true;
    assert_false(progress_maybe_decrease(&p, 5, 1)); /* stale */
    assert_int_equal(p.next, 10);
    assert_true(p.probe_sent);
    assert_true(progress_maybe_decrease(&p, 9, 3));
    assert_int_equal(p.next, 4);
    assert_false(p.probe_sent);
    /* A hint at or past the rejected index still moves back by one. */
    assert_true(progress_maybe_decrease(&p, 3, 7));
    assert_int_equal(p.next, 3);
    /* Not below match + 1 while the hint agrees with the match... */
    p.match = 1;
    p.next = 2;
    assert_true(progress_maybe_decrease(&p, 1, 1));
    assert_int_equal(p.next, 2);
    assert_int_equal(p.match, 1);
    /* ...but a hint below the match means the follower lost what it
     * acknowledged (a wiped disk): the match is forgotten. */
    p.match = 2;
    p.next = 3;
    assert_true(progress_maybe_decrease(&p, 2, 0));
    assert_int_equal(p.next, 1);
    assert_int_equal(p.match, 0);
    progress_destroy(&p);
}

/* Switching state restarts from match + 1 with an empty window. */
static void test_become_probe_and_replicate(void **state)
{
    (void)state;
    struct progress p;
    init(&p, 4, 0);
    assert_true(progress_maybe_update(&p, 3));
    progress_become_replicate(&p);
    progress_sent(&p, 5, 4, 2);
    progress_sent(&p, 7, 4, 2);
    assert_int_equal(p.next, 8);
    progress_become_probe(&p);
    assert_int_equal(p.state, PROGRESS_PROBE);
    assert_int_equal(p.next, 4);
    assert_int_equal(p.inflights.count, 0);
    assert_int_equal(p.inflights.total_bytes, 0);
    assert_false(progress_is_paused(&p));
    progress_reset(&p, 20);
    assert_int_equal(p.match, 0);
    assert_int_equal(p.next, 20);
    progress_destroy(&p);
}

/* Figure 2, Leaders: the commit point is the largest index replicated on a
 * majority. */
static void test_quorum_committed_index(void **state)
{
    (void)state;
    const uint64_t one[] = {7};
    assert_int_equal(quorum_committed_index(one, 1), 7);
    const uint64_t three[] = {5, 1, 3};
    assert_int_equal(quorum_committed_index(three, 3), 3);
    const uint64_t four[] = {5, 3, 1, 0};
    assert_int_equal(quorum_committed_index(four, 4), 1);
    const uint64_t five[] = {9, 9, 2, 8, 1};
    assert_int_equal(quorum_committed_index(five, 5), 8);
    assert_int_equal(quorum_committed_index(five, 0), 0);
}

/* Section 5.2: a majority of grants wins, a majority of refusals loses. */
static void test_quorum_vote_result(void **state)
{
    (void)state;
    assert_int_equal(quorum_vote_result(1, 1, 0), VOTE_WON);
    assert_int_equal(quorum_vote_result(3, 1, 0), VOTE_PENDING);
    assert_int_equal(quorum_vote_result(3, 2, 0), VOTE_WON);
    assert_int_equal(quorum_vote_result(3, 1, 2), VOTE_LOST);
    assert_int_equal(quorum_vote_result(4, 2, 1), VOTE_PENDING);
    assert_int_equal(quorum_vote_result(4, 2, 2), VOTE_LOST);
    assert_int_equal(quorum_vote_result(5, 2, 2), VOTE_PENDING);
    assert_int_equal(quorum_vote_result(5, 3, 2), VOTE_WON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflights_ring_wraparound),
        cmocka_unit_test(test_inflights_free_to_partial),
        cmocka_unit_test(test_inflights_byte_bound),
        cmocka_unit_test(test_empty_append_takes_no_slot),
        cmocka_unit_test(test_probe_pauses_after_one),
        cmocka_unit_test(test_maybe_update_monotonic),
        cmocka_unit_test(test_maybe_decrease_replicate),
        cmocka_unit_test(test_maybe_decrease_probe),
        cmocka_unit_test(test_become_probe_and_replicate),
        cmocka_unit_test(test_quorum_committed_index),
        cmocka_unit_test(test_quorum_vote_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
