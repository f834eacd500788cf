/* tests/unit/test_raft_log.c: the in-memory log (src/raft/log.c) through its
 * module-internal interface: term lookups, the section 5.3 merge rules, the
 * fast-backtracking hint and the size accounting used by flow control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "raft/internal.h"
#include "support/raft_fixture.h"

/* Appends entries of terms[] (NORMAL, payload of lens[i] bytes, or empty
 * when lens is NULL) after the log's last index. */
static void append_terms(struct raft_log *l, const uint64_t *terms,
                         const uint32_t *lens, size_t n)
{
    static const uint8_t bytes[64] = {0};
    struct sampan_entry ents[16];
    assert_true(n <= 16);
    fx_entries(ents, log_last_index(l) + 1, terms, n);
    for (size_t i = 0; i < n; i++) {
        if (lens != NULL && lens[i] > 0) {
            assert_true(lens[i] <= sizeof(bytes));
            ents[i].len = lens[i];
            ents[i].data = (uint8_t *)bytes;
        }
    }
    assert_int_equal(log_append_copy(l, ents, n), 0);
}

static uint64_t term_of(const struct raft_log *l, uint64_t index)
{
    uint64_t t = 99;
    assert_int_equal(log_term(l, index, &t), 0);
    return t;
}

/* Index 0 has term 0; entries answer with their term; past the end is
 * unavailable. */
static void test_log_term_at(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 1, 2};
    append_terms(&l, terms, NULL, 3);
    assert_int_equal(log_last_index(&l), 3);
    assert_int_equal(log_last_term(&l), 2);
    assert_int_equal(term_of(&l, 0), 0);
    assert_int_equal(term_of(&l, 1), 1);
    assert_int_equal(term_of(&l, 3), 2);
    uint64_t t;
    assert_int_equal(log_term(&l, 4, &t), SAMPAN_EUNAVAIL);
    assert_null(log_entry(&l, 0));
    assert_null(log_entry(&l, 4));
    assert_int_equal(log_entry(&l, 2)->index, 2);
    log_destroy(&l);
}

/* After a snapshot at (offset, offset_term) the snapshot index answers
 * with its term and earlier indexes are compacted. */
static void test_log_term_at_with_offset(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 10, 3);
    assert_int_equal(log_last_index(&l), 10);
    assert_int_equal(log_last_term(&l), 3);
    assert_int_equal(l.committed, 10);
    const uint64_t terms[] = {3, 4};
    append_terms(&l, terms, NULL, 2);
    assert_int_equal(term_of(&l, 10), 3);
    assert_int_equal(term_of(&l, 12), 4);
    uint64_t t;
    assert_int_equal(log_term(&l, 9, &t), SAMPAN_ECOMPACTED);
    assert_int_equal(log_term(&l, 13, &t), SAMPAN_EUNAVAIL);
    assert_null(log_entry(&l, 10));
    assert_int_equal(log_entry(&l, 11)->term, 3);
    log_destroy(&l);
}

/* The AppendEntries consistency check (Figure 2, receiver rule 2). */
static void test_log_match_term(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 2};
    append_terms(&l, terms, NULL, 2);
    assert_true(log_match_term(&l, 0, 0));
    assert_true(log_match_term(&l, 2, 2));
    assert_false(log_match_term(&l, 2, 1));
    assert_false(log_match_term(&l, 3, 2));
    log_destroy(&l);
}

/* Section 5.3 rule 3: a conflict deletes the entry and all that follow;
 * the durability marks drop to the truncation point. */
static void test_log_merge_conflict_truncates(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 1, 1, 1};
    append_terms(&l, terms, NULL, 4);
    l.stable = l.handed = 4;
    struct sampan_entry ents[3];
    const uint64_t new_terms[] = {2, 2, 2};
    fx_entries(ents, 3, new_terms, 3);
    assert_int_equal(log_merge(&l, ents, 3), 0);
    assert_int_equal(log_last_index(&l), 5);
    assert_int_equal(term_of(&l, 2), 1);
    assert_int_equal(term_of(&l, 3), 2);
    assert_int_equal(term_of(&l, 5), 2);
    assert_int_equal(l.stable, 2);
    assert_int_equal(l.handed, 2);
    log_destroy(&l);
}

/* Rule 3 only on a conflict: matching entries leave the log alone, even
 * when the log is longer than the message. */
static void test_log_merge_matching_keeps_suffix(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 1, 2, 2};
    append_terms(&l, terms, NULL, 4);
    l.stable = l.handed = 4;
    struct sampan_entry ents[2];
    const uint64_t dup[] = {1, 2};
    fx_entries(ents, 2, dup, 2);
    assert_int_equal(log_merge(&l, ents, 2), 0);
    assert_int_equal(log_last_index(&l), 4);
    assert_int_equal(l.stable, 4);
    assert_int_equal(l.handed, 4);
    log_destroy(&l);
}

/* Rule 4: overlapping entries are skipped, new ones appended. */
static void test_log_merge_appends_past_end(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 1};
    append_terms(&l, terms, NULL, 2);
    l.stable = l.handed = 2;
    struct sampan_entry ents[3];
    const uint64_t more[] = {1, 1, 3};
    fx_entries(ents, 2, more, 3);
    assert_int_equal(log_merge(&l, ents, 3), 0);
    assert_int_equal(log_last_index(&l), 4);
    assert_int_equal(term_of(&l, 4), 3);
    assert_int_equal(l.stable, 2);
    log_destroy(&l);
}

/* Entries covered by the snapshot are committed: skipped, never a conflict. */
static void test_log_merge_skips_compacted(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 5, 2);
    struct sampan_entry ents[3];
    const uint64_t terms[] = {1, 2, 2};
    fx_entries(ents, 4, terms, 3); /* 4 and 5 compacted, 6 new */
    assert_int_equal(log_merge(&l, ents, 3), 0);
    assert_int_equal(log_last_index(&l), 6);
    assert_int_equal(term_of(&l, 6), 2);
    log_destroy(&l);
}

/* Payloads are copied on append and survive the caller's buffer. */
static void test_log_append_copies_payload(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    uint8_t buf[3] = {'a', 'b', 'c'};
    struct sampan_entry e = {.term = 1,
                             .index = 1,
                             .type = SAMPAN_ENTRY_NORMAL,
                             .len = 3,
                             .data = buf};
    assert_int_equal(log_append_copy(&l, &e, 1), 0);
    buf[0] = 'X';
    const struct sampan_entry *got = log_entry(&l, 1);
    assert_ptr_not_equal(got->data, buf);
    assert_memory_equal(got->data, "abc", 3);
    log_truncate_after(&l, 0);
    assert_int_equal(log_last_index(&l), 0);
    log_destroy(&l);
}

/* Growth past the initial capacity keeps every entry in place. */
static void test_log_grows(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    for (uint64_t i = 1; i <= 1000; i++) {
        assert_int_equal(
            log_append_owned(&l, 1 + i / 100, SAMPAN_ENTRY_NOOP, NULL, 0), 0);
    }
    assert_int_equal(log_last_index(&l), 1000);
    for (uint64_t i = 1; i <= 1000; i++) {
        assert_int_equal(log_entry(&l, i)->index, i);
        assert_int_equal(term_of(&l, i), 1 + i / 100);
    }
    log_destroy(&l);
}

/* Section 5.4.1: later last term wins; same last term, longer log wins. */
static void test_log_is_up_to_date(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    assert_true(log_is_up_to_date(&l, 0, 0));
    const uint64_t terms[] = {1, 2, 2};
    append_terms(&l, terms, NULL, 3);
    assert_true(log_is_up_to_date(&l, 3, 2));
    assert_true(log_is_up_to_date(&l, 9, 2));
    assert_true(log_is_up_to_date(&l, 1, 3));
    assert_false(log_is_up_to_date(&l, 2, 2));
    assert_false(log_is_up_to_date(&l, 9, 1));
    assert_false(log_is_up_to_date(&l, 0, 0));
    log_destroy(&l);
}

/* The fast-backtracking hint: the largest index <= index whose term is
 * <= term, clamped to the log and to the snapshot. */
static void test_log_find_conflict_by_term(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 1, 2, 2, 4, 4};
    append_terms(&l, terms, NULL, 6);
    assert_int_equal(log_find_conflict_by_term(&l, 6, 4), 6);
    assert_int_equal(log_find_conflict_by_term(&l, 6, 3), 4);
    assert_int_equal(log_find_conflict_by_term(&l, 6, 2), 4);
    assert_int_equal(log_find_conflict_by_term(&l, 3, 1), 2);
    assert_int_equal(log_find_conflict_by_term(&l, 6, 0), 0);
    assert_int_equal(log_find_conflict_by_term(&l, 100, 9), 6);
    assert_int_equal(log_find_conflict_by_term(&l, 100, 3), 4);
    assert_int_equal(log_find_conflict_by_term(&l, 0, 9), 0);
    log_destroy(&l);

    log_init(&l, 10, 3);
    const uint64_t after[] = {5, 5};
    append_terms(&l, after, NULL, 2);
    assert_int_equal(log_find_conflict_by_term(&l, 12, 4), 10);
    assert_int_equal(log_find_conflict_by_term(&l, 12, 5), 12);
    log_destroy(&l);
}

/* Size accounting for max_msg_bytes: as many entries as fit, each charged
 * its payload plus SAMPAN_ENTRY_OVERHEAD (so empty entries are bounded
 * too), but always at least one. */
static void test_log_count_within(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[] = {1, 1, 1, 1, 1};
    const uint32_t lens[] = {3, 3, 3, 10, 0};
    append_terms(&l, terms, lens, 5);
    uint64_t bytes = 99;
    const uint64_t o = SAMPAN_ENTRY_OVERHEAD;
    assert_int_equal(log_count_within(&l, 1, 2 * (3 + o), &bytes), 2);
    assert_int_equal(bytes, 2 * (3 + o));
    assert_int_equal(log_count_within(&l, 1, 2 * (3 + o) - 1, &bytes), 1);
    assert_int_equal(bytes, 3 + o);
    assert_int_equal(log_count_within(&l, 1, 1000, &bytes), 5);
    assert_int_equal(bytes, 19 + 5 * o);
    assert_int_equal(log_count_within(&l, 4, 1, &bytes), 1); /* oversized */
    assert_int_equal(bytes, 10 + o);
    /* An empty entry still costs its framing. */
    assert_int_equal(log_count_within(&l, 4, 10 + 2 * o, &bytes), 2);
    assert_int_equal(log_count_within(&l, 4, 10 + 2 * o - 1, &bytes), 1);
    assert_int_equal(log_count_within(&l, 6, 10, &bytes), 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(log_bytes_between(&l, 2, 4), 16);
    assert_int_equal(log_bytes_between(&l, 0, 100), 19);
    log_destroy(&l);
}

/* Truncation below the snapshot stops at the snapshot. */
static void test_log_truncate_after(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 2, 1);
    const uint64_t terms[] = {1, 2, 2};
    append_terms(&l, terms, NULL, 3);
    l.stable = 5;
    l.handed = 5;
    log_truncate_after(&l, 4);
    assert_int_equal(log_last_index(&l), 4);
    assert_int_equal(l.stable, 4);
    log_truncate_after(&l, 9); /* past the end: nothing */
    assert_int_equal(log_last_index(&l), 4);
    log_truncate_after(&l, 0);
    assert_int_equal(log_last_index(&l), 2);
    assert_int_equal(l.stable, 2);
    assert_int_equal(l.handed, 2);
    log_destroy(&l);
}

/* Compaction unhooks the discarded entries at once but frees their
 * payloads a bounded batch at a time (log_reap), so compacting a huge log
 * never stalls its caller; the memory is accounted until freed. */
static void test_log_compaction_frees_in_batches(void **state)
{
    (void)state;
    struct raft_log l;
    log_init(&l, 0, 0);
    const uint64_t terms[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const uint32_t lens[16] = {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
    for (int k = 0; k < 1000; k++) {
        append_terms(&l, terms, lens, 16);
    }
    log_compact_to(&l, 16000 - 10);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.bytes, 80);
    assert_int_equal(l.n_grave, 15990);
    assert_int_equal(l.grave_bytes, 15990 * (8 + PAYLOAD_OVERHEAD));
    log_reap(&l, LOG_REAP_BATCH);
    assert_int_equal(l.n_grave, 15990 - LOG_REAP_BATCH);
    log_reap(&l, LOG_REAP_BATCH);
    assert_int_equal(l.n_grave, 0);
    assert_int_equal(l.grave_bytes, 0);
    assert_null(l.grave);
    /* Entries kept are intact. */
    assert_int_equal(log_entry(&l, 15995)->len, 8);
    log_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_term_at),
        cmocka_unit_test(test_log_term_at_with_offset),
        cmocka_unit_test(test_log_match_term),
        cmocka_unit_test(test_log_merge_conflict_truncates),
        cmocka_unit_test(test_log_merge_matching_keeps_suffix),
        cmocka_unit_test(test_log_merge_appends_past_end),
        cmocka_unit_test(test_log_merge_skips_compacted),
        cmocka_unit_test(test_log_append_copies_payload),
        cmocka_unit_test(test_log_grows),
        cmocka_unit_test(test_log_is_up_to_date),
        cmocka_unit_test(test_log_find_conflict_by_term),
        cmocka_unit_test(test_log_count_within),
        cmocka_unit_test(test_log_compaction_frees_in_batches),
        cmocka_unit_test(test_log_truncate_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
