/* tests/unit/test_raft_validate.c: the core never trusts its input
 * (docs: "every field is checked at step"). A malformed or impossible
 * message, configuration or boot state is refused with an error and leaves
 * the core exactly as it was. Ends with a randomized garbage test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

/* Follower 1 of 3 with log [1:1, 2:1] at term 1. */
static struct sampan_raft *new_core(void)
{
    const uint64_t terms[] = {1, 1};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    return fx_new_boot(&cfg, 1, SAMPAN_NONE, terms, 2);
}

/* Steps m, expects `err`, and checks that nothing changed. */
static void expect_refused(struct sampan_raft *r, const struct sampan_msg *m,
                           int err)
{
    struct sampan_status before = fx_status(r);
    bool had_ready = sampan_raft_has_ready(r);
    assert_int_equal(sampan_raft_step(r, m), err);
    struct sampan_status after = fx_status(r);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(sampan_raft_has_ready(r), had_ready);
}

static void refuse_one(struct sampan_msg m, int err)
{
    struct sampan_raft *r = new_core();
    expect_refused(r, &m, err);
    /* The same core still accepts a good message afterwards. */
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 1);
    fx_step(r, &hb);
    assert_int_equal(fx_status(r).leader, 2);
    sampan_raft_free(r);
}

/* A valid APPEND from 2 at term 2 with prev (2, 1) and `n` entries. */
static struct sampan_msg good_append(struct sampan_entry *ents, size_t n)
{
    const uint64_t terms[] = {2, 2, 2, 2};
    fx_entries(ents, 3, terms, n);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 2, 1, 2);
    m.index = 2;
    m.log_term = 1;
    m.entries = ents;
    m.n_entries = n;
    return m;
}

static void test_good_append_accepted(void **state)
{
    (void)state;
    struct sampan_entry ents[3];
    struct sampan_msg m = good_append(ents, 3);
    struct sampan_raft *r = new_core();
    fx_step(r, &m);
    assert_int_equal(fx_status(r).last_index, 5);
    sampan_raft_free(r);
}

static void test_unknown_message_type(void **state)
{
    (void)state;
    refuse_one(fx_msg(0, 2, 1, 1), SAMPAN_EINVAL);
    refuse_one(fx_msg(200, 2, 1, 1), SAMPAN_EINVAL);
    refuse_one(fx_msg(SAMPAN_MSG_TYPE_MAX + 1, 2, 1, 1), SAMPAN_EINVAL);
}

static void test_bad_addressing(void **state)
{
    (void)state;
    refuse_one(fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 1, 1), SAMPAN_EINVAL);
    refuse_one(fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 3, 1), SAMPAN_EINVAL);
    refuse_one(fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 0, 1), SAMPAN_EINVAL);
}

static void test_sender_not_member(void **state)
{
    (void)state;
    /* Answers, proposals and reads come from members only. */
    refuse_one(fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, 7, 1, 1), SAMPAN_ENOTMEMBER);
    refuse_one(fx_msg(SAMPAN_MSG_APPEND_RESP, 4, 1, 1), SAMPAN_ENOTMEMBER);
    refuse_one(fx_msg(SAMPAN_MSG_VOTE_RESP, 4, 1, 1), SAMPAN_ENOTMEMBER);
    refuse_one(fx_msg(SAMPAN_MSG_PROPOSE, 4, 1, 0), SAMPAN_ENOTMEMBER);
    refuse_one(fx_msg(SAMPAN_MSG_READ_INDEX, 4, 1, 0), SAMPAN_ENOTMEMBER);
    refuse_one(fx_msg(SAMPAN_MSG_HEARTBEAT, 0, 1, 1), SAMPAN_ENOTMEMBER);
    refuse_one(fx_msg(SAMPAN_MSG_VOTE, 0, 1, 5), SAMPAN_ENOTMEMBER);
}

/* Thesis 4.1: a leader (or candidate) this node does not know of yet, from
 * a configuration its log has not caught up with, is heard. */
static void test_unknown_leader_is_heard(void **state)
{
    (void)state;
    struct sampan_raft *r = new_core();
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 7, 1, 2);
    assert_int_equal(sampan_raft_step(r, &hb), 0);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.leader, 7);
    assert_int_equal(st.term, 2);
    sampan_raft_free(r);
}

static void test_term_zero(void **state)
{
    (void)state;
    refuse_one(fx_msg(SAMPAN_MSG_VOTE, 2, 1, 0), SAMPAN_EINVAL);
    refuse_one(fx_msg(SAMPAN_MSG_APPEND, 2, 1, 0), SAMPAN_EINVAL);
    refuse_one(fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, 2, 1, 0), SAMPAN_EINVAL);
}

/* A candidate's last log term cannot exceed the term it campaigns in, and
 * an empty log (index 0) has term 0 (section 5.4.1 inputs). */
static void test_vote_log_position(void **state)
{
    (void)state;
    struct sampan_msg m = fx_msg(SAMPAN_MSG_VOTE, 2, 1, 3);
    m.index = 5;
    m.log_term = 4;
    refuse_one(m, SAMPAN_EINVAL);
    m.type = SAMPAN_MSG_PREVOTE;
    refuse_one(m, SAMPAN_EINVAL);
    m = fx_msg(SAMPAN_MSG_VOTE, 2, 1, 3);
    m.index = 0;
    m.log_term = 1;
    refuse_one(m, SAMPAN_EINVAL);
}

static void test_append_prev_position(void **state)
{
    (void)state;
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 2, 1, 2);
    m.index = 2;
    m.log_term = 3; /* > term */
    refuse_one(m, SAMPAN_EINVAL);
    m.index = 0;
    m.log_term = 1; /* index 0 has term 0 */
    refuse_one(m, SAMPAN_EINVAL);
}

/* Entries follow prevLogIndex consecutively (Figure 2: "log entries to
 * store"). */
static void test_append_entries_not_consecutive(void **state)
{
    (void)state;
    struct sampan_entry ents[3];
    struct sampan_msg m = good_append(ents, 3);
    ents[2].index = 6; /* 3, 4, 6 */
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 3);
    ents[0].index = 4; /* does not start at prev + 1 */
    ents[1].index = 5;
    ents[2].index = 6;
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 2);
    ents[1].index = 3; /* repeated index */
    refuse_one(m, SAMPAN_EINVAL);
}

/* Entry terms are no newer than the leader's term, never decrease, and are
 * no older than prevLogTerm (Log Matching). */
static void test_append_entry_terms(void **state)
{
    (void)state;
    struct sampan_entry ents[3];
    struct sampan_msg m = good_append(ents, 3);
    ents[2].term = 3; /* > msg term 2 */
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 3);
    ents[0].term = 2;
    ents[1].term = 1; /* decreasing (still >= log_term 1) */
    ents[2].term = 2;
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 1);
    m.log_term = 2;   /* prev (2, 2) */
    ents[0].term = 1; /* < prevLogTerm */
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 1);
    ents[0].term = 0;
    m.log_term = 0;
    m.index = 2;
    refuse_one(m, SAMPAN_EINVAL);
}

static void test_append_entry_payload_and_type(void **state)
{
    (void)state;
    struct sampan_entry ents[2];
    struct sampan_msg m = good_append(ents, 2);
    ents[1].len = 4; /* data NULL */
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 2);
    ents[0].type = 0;
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 2);
    ents[1].type = 3;
    refuse_one(m, SAMPAN_EINVAL);
    m = good_append(ents, 2);
    m.entries = NULL; /* n_entries 2 */
    refuse_one(m, SAMPAN_EINVAL);
}

static void test_entry_over_max_entry_bytes(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    cfg.max_entry_bytes = 4;
    struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
    uint8_t data[5] = {1, 2, 3, 4, 5};
    struct sampan_entry e = {.term = 1,
                             .index = 1,
                             .type = SAMPAN_ENTRY_NORMAL,
                             .len = 5,
                             .data = data};
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 2, 1, 1);
    m.entries = &e;
    m.n_entries = 1;
    expect_refused(r, &m, SAMPAN_EINVAL);
    m = fx_msg(SAMPAN_MSG_PROPOSE, 2, 1, 0);
    m.entries = &e;
    m.n_entries = 1;
    expect_refused(r, &m, SAMPAN_EINVAL);
    sampan_raft_free(r);
}

/* Only APPEND and PROPOSE carry entries. */
static void test_entries_on_other_types(void **state)
{
    (void)state;
    struct sampan_entry e = {
        .term = 1, .index = 3, .type = SAMPAN_ENTRY_NORMAL};
    const uint8_t types[] = {SAMPAN_MSG_HEARTBEAT, SAMPAN_MSG_VOTE,
                             SAMPAN_MSG_APPEND_RESP, SAMPAN_MSG_PREVOTE_RESP};
    for (size_t i = 0; i < sizeof(types); i++) {
        struct sampan_msg m = fx_msg(types[i], 2, 1, 2);
        m.index = 2;
        m.log_term = 1;
        m.entries = &e;
        m.n_entries = 1;
        refuse_one(m, SAMPAN_EINVAL);
    }
}

/* A rejection's hint lies at or before the rejected index. */
static void test_append_resp_bad_hint(void **state)
{
    (void)state;
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 1);
    m.reject = true;
    m.index = 2;
    m.hint_index = 3;
    refuse_one(m, SAMPAN_EINVAL);
    m.hint_index = 0;
    m.hint_term = 1;
    refuse_one(m, SAMPAN_EINVAL);
}

static void test_step_null_message(void **state)
{
    (void)state;
    struct sampan_raft *r = new_core();
    assert_int_equal(sampan_raft_step(r, NULL), SAMPAN_EINVAL);
    sampan_raft_free(r);
}

/* ---- configuration ----------------------------------------------------------
 */

static void expect_bad_config(const struct sampan_raft_config *cfg)
{
    struct sampan_raft *r = (struct sampan_raft *)(uintptr_t)1;
    assert_int_equal(sampan_raft_new(cfg, NULL, &r), SAMPAN_EINVAL);
    assert_null(r);
}

static void test_bad_config_membership(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 0, 3, 1); /* id 0 */
    expect_bad_config(&cfg);
    fx_config(&cfg, 4, 3, 1); /* not a voter */
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.members.voters[2] = 2; /* duplicate */
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.members.voters[1] = 0; /* voter 0 */
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.members.n_voters = 0; /* learners but no voters */
    cfg.members.n_learners = 1;
    cfg.members.learners[0] = 1;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.members.n_learners = 1; /* a learner that is also a voter */
    cfg.members.learners[0] = 2;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 0, 1); /* empty: a node that joins later is fine */
    sampan_raft_free(fx_new_cfg(&cfg, NULL));
    fx_config(&cfg, 1, 16, 1);
    cfg.members.n_voters = 17;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 16, 1); /* 16 is fine */
    struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
    sampan_raft_free(r);
    expect_bad_config(NULL);
}

static void test_bad_config_timing_and_limits(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    cfg.heartbeat_ticks = cfg.election_ticks; /* heartbeat >= election */
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.heartbeat_ticks = 11;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.election_ticks = 0;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.heartbeat_ticks = 0;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.max_inflight_msgs = 0;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.max_msg_bytes = 0;
    expect_bad_config(&cfg);
    fx_config(&cfg, 1, 3, 1);
    cfg.max_entry_bytes = (uint64_t)UINT32_MAX + 1;
    expect_bad_config(&cfg);
}

/* ---- boot state -------------------------------------------------------------
 */

static void expect_bad_boot(const struct sampan_boot *boot)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    struct sampan_raft *r = (struct sampan_raft *)(uintptr_t)1;
    assert_int_equal(sampan_raft_new(&cfg, boot, &r), SAMPAN_EINVAL);
    assert_null(r);
}

static void test_bad_boot(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 2};
    struct sampan_entry ents[3];
    struct sampan_boot boot = {
        .hard_state = {.term = 2}, .n_entries = 3, .entries = ents};
    fx_entries(ents, 1, terms, 3);
    ents[2].index = 4; /* not consecutive */
    expect_bad_boot(&boot);

    fx_entries(ents, 1, terms, 3);
    boot.hard_state.term = 1; /* entry term 2 > current term */
    expect_bad_boot(&boot);
    boot.hard_state.term = 2;

    fx_entries(ents, 2, terms, 3); /* does not start at 1 */
    expect_bad_boot(&boot);

    const uint64_t down[] = {2, 1, 2};
    fx_entries(ents, 1, down, 3); /* decreasing */
    expect_bad_boot(&boot);

    /* After a snapshot at (5, 2): entries start at 6, terms >= 2. */
    fx_entries(ents, 6, terms, 3);
    boot.snapshot_index = 5;
    boot.snapshot_term = 2;
    expect_bad_boot(&boot); /* terms 1 < snapshot term */
    boot.snapshot_term = 3; /* snapshot term > current term */
    boot.n_entries = 0;
    expect_bad_boot(&boot);
    boot.snapshot_index = 0; /* index 0 with a term */
    boot.snapshot_term = 1;
    expect_bad_boot(&boot);
}

/* A boot from a snapshot: the log starts after it; term_at answers for the
 * snapshot index and reports what is compacted or missing. */
static void test_boot_with_snapshot(void **state)
{
    (void)state;
    const uint64_t terms[] = {2, 3};
    struct sampan_entry ents[2];
    fx_entries(ents, 6, terms, 2);
    struct sampan_boot boot = {.hard_state = {.term = 3, .vote = 2},
                               .snapshot_index = 5,
                               .snapshot_term = 2,
                               .n_entries = 2,
                               .entries = ents};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    boot.snapshot_conf = cfg.members;
    struct sampan_raft *r = fx_new_cfg(&cfg, &boot);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.vote, 2);
    assert_int_equal(st.first_index, 6);
    assert_int_equal(st.last_index, 7);
    assert_int_equal(st.last_term, 3);
    assert_int_equal(st.commit, 5);
    assert_int_equal(st.stable_index, 7);
    assert_int_equal(fx_term_at(r, 5), 2);
    assert_int_equal(fx_term_at(r, 7), 3);
    uint64_t t;
    assert_int_equal(sampan_raft_term_at(r, 4, &t), SAMPAN_ECOMPACTED);
    assert_int_equal(sampan_raft_term_at(r, 8, &t), SAMPAN_EUNAVAIL);
    assert_null(sampan_raft_entry_at(r, 5));
    assert_non_null(sampan_raft_entry_at(r, 6));
    assert_false(sampan_raft_has_ready(r));
    sampan_raft_free(r);
}

/* ---- randomized garbage
 * ------------------------------------------------------ */

static uint64_t rnd_state;
static bool extreme_terms; /* allow terms near UINT64_MAX */

static uint64_t rnd(void)
{
    /* xorshift64* */
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 2685821657736338717ull;
}

static uint64_t pick(uint64_t n)
{
    return rnd() % n;
}

/* Mostly small values near the interesting range, sometimes extremes. */
static uint64_t rnd_u64(uint64_t small)
{
    switch (pick(16)) {
    case 0:
        return UINT64_MAX - pick(3);
    case 1:
        return rnd();
    default:
        return pick(small);
    }
}

/* `base` is the core's current term: most messages land near it. */
static void random_msg(struct sampan_msg *m, struct sampan_entry *ents,
                       uint8_t *payload, uint64_t base)
{
    memset(m, 0, sizeof(*m));
    m->type = (uint8_t)(pick(10) == 0 ? rnd() : 1 + pick(SAMPAN_MSG_TYPE_MAX));
    m->from = pick(20) == 0 ? rnd_u64(6) : 2 + pick(2);
    m->to = pick(20) == 0 ? rnd_u64(4) : 1;
    if (extreme_terms) {
        m->term = rnd_u64(8);
        m->log_term = rnd_u64(8);
    } else {
        uint64_t k = pick(16);
        m->term = k == 0 ? base + 1 : k < 3 && base > 0 ? base - 1 : base;
        m->term += m->term == 0;
        m->log_term = pick(m->term + 1);
    }
    m->index = rnd_u64(12);
    m->commit = rnd_u64(14);
    m->reject = pick(4) == 0;
    m->hint_index = rnd_u64(12);
    m->hint_term = rnd_u64(8);
    m->context = rnd();
    size_t n = pick(4) == 0 ? pick(5) : 0;
    if (m->type == SAMPAN_MSG_APPEND && pick(2)) {
        n = 1 + pick(4);
    }
    uint64_t t = m->log_term;
    for (size_t i = 0; i < n; i++) {
        struct sampan_entry *e = &ents[i];
        bool sane = pick(4) != 0;
        e->index = sane ? m->index + 1 + i : rnd_u64(14);
        if (sane && t < m->term && pick(3) == 0) {
            t++;
        }
        e->term = sane ? t : rnd_u64(8);
        e->type = (uint8_t)(sane ? 1 + pick(2) : pick(4));
        e->len = (uint32_t)pick(5);
        e->data = (e->len > 0 && pick(30) == 0) ? NULL : payload;
        if (e->len == 0 && pick(2)) {
            e->data = NULL;
        }
    }
    m->n_entries = n;
    m->entries = (n > 0 && pick(30) == 0) ? NULL : ents;
    if (n == 0 && pick(2)) {
        m->entries = NULL;
    }
}

/* 100k random messages interleaved with ticks, proposals, campaigns and
 * Ready handling (sometimes stepping while a Ready is outstanding) must
 * never crash, leak or corrupt the core (ASan/UBSan/LSan watch), refused
 * messages change nothing visible, and the core keeps working. */
static size_t run_random_garbage(uint64_t seed, int steps)
{
    rnd_state = seed;
    struct sampan_raft *r = fx_new(1, 3, seed);
    struct sampan_entry ents[8];
    uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct sampan_ready ready;
    bool outstanding = false;
    const struct sampan_entry *held = NULL; /* an entry of the Ready */
    uint8_t held_byte = 0;
    size_t refused = 0;
    size_t as_leader = 0;

    for (int i = 0; i < steps; i++) {
        uint64_t what = pick(100);
        if (what < 80) {
            struct sampan_msg m;
            struct sampan_status before = fx_status(r);
            random_msg(&m, ents, payload, before.term);
            int rv = sampan_raft_step(r, &m);
            if (rv != 0) {
                refused++;
                assert_true(rv == SAMPAN_EINVAL || rv == SAMPAN_ENOTMEMBER);
                struct sampan_status after = fx_status(r);
                assert_memory_equal(&before, &after, sizeof(before));
            }
        } else if (what < 88) {
            sampan_raft_tick(r);
        } else if (what < 91) {
            int rv = sampan_raft_propose(r, payload, pick(5), NULL);
            assert_true(rv == 0 || rv == SAMPAN_ENOLEADER ||
                        rv == SAMPAN_EBUSY);
        } else if (what < 92) {
            int rv = sampan_raft_campaign(r);
            assert_true(rv == 0 || rv == SAMPAN_ESTATE);
        } else if (!outstanding) {
            if (sampan_raft_has_ready(r)) {
                assert_int_equal(sampan_raft_ready(r, &ready), 0);
                outstanding = true;
                held = NULL;
                for (size_t k = 0; k < ready.n_entries; k++) {
                    if (ready.entries[k].len > 0) {
                        held = &ready.entries[k];
                        held_byte = held->data[held->len - 1];
                    }
                }
            }
        } else {
            /* Whatever happened meanwhile, the Ready's data is intact. */
            if (held != NULL) {
                assert_int_equal(held->data[held->len - 1], held_byte);
            }
            for (size_t k = 0; k < ready.n_messages; k++) {
                const struct sampan_msg *m = &ready.messages[k];
                assert_int_equal(m->from, 1);
                /* Members, or a (garbage) leader or candidate answered. */
                assert_true(m->to != 0 && m->to != 1);
            }
            assert_int_equal(sampan_raft_advance(r, &ready), 0);
            outstanding = false;
        }
        struct sampan_status st = fx_status(r);
        assert_true(st.commit <= st.last_index);
        assert_true(st.applied <= st.commit);
        as_leader += st.role == SAMPAN_LEADER;
    }
    if (outstanding) {
        assert_int_equal(sampan_raft_advance(r, &ready), 0);
    }
    assert_true(refused > (size_t)steps / 100);
    fx_discard(r);

    /* Still works: a leader of a newer term replicates one entry to it. */
    struct sampan_status st = fx_status(r);
    /* (Garbage may have pushed the term to UINT64_MAX; then stay there.) */
    uint64_t term = st.term == UINT64_MAX ? st.term : st.term + 1;
    struct sampan_entry e = {.term = term,
                             .index = st.commit + 1,
                             .type = SAMPAN_ENTRY_NORMAL,
                             .len = 3,
                             .data = (uint8_t *)"abc"};
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND, 2, 1, term);
    m.index = st.commit;
    m.log_term = fx_term_at(r, st.commit);
    m.commit = st.commit + 1;
    m.entries = &e;
    m.n_entries = 1;
    fx_step(r, &m);
    struct fx_rd rd;
    fx_drain(r, &rd);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 2);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, st.commit + 1);
    assert_int_equal(fx_status(r).commit, st.commit + 1);
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    assert_true(rd.n_committed >= 1);
    assert_memory_equal(rd.committed[rd.n_committed - 1].data, "abc", 3);
    fx_rd_free(&rd);
    sampan_raft_free(r);
    return as_leader;
}

static void test_random_garbage(void **state)
{
    (void)state;
    extreme_terms = true;
    run_random_garbage(0x9e3779b97f4a7c15ull, 100000);
}

/* The same with terms kept small, so the core keeps moving between roles
 * (it becomes leader now and then) instead of being parked at a huge term. */
static void test_random_garbage_small_terms(void **state)
{
    (void)state;
    extreme_terms = false;
    size_t as_leader = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        as_leader += run_random_garbage(seed * 0x2545f4914f6cdd1dull, 25000);
    }
    print_message("steps spent as leader: %zu\n", as_leader);
    assert_true(as_leader > 0);
}

/* Figure 2: currentTerm only increases. A term beyond SAMPAN_MAX_TERM is
 * refused, so no campaign can ever wrap the term around to 0. */
static void test_term_overflow_refused(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, 1);
    cfg.disable_pre_vote = true;
    struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, UINT64_MAX);
    assert_int_equal(sampan_raft_step(r, &hb), SAMPAN_EINVAL);
    hb.term = SAMPAN_MAX_TERM + 1;
    assert_int_equal(sampan_raft_step(r, &hb), SAMPAN_EINVAL);
    hb.term = SAMPAN_MAX_TERM;
    assert_int_equal(sampan_raft_step(r, &hb), 0);
    fx_discard(r);
    assert_int_equal(fx_status(r).term, SAMPAN_MAX_TERM);
    /* At the end of the term space a campaign does nothing. */
    assert_int_equal(sampan_raft_campaign(r), 0);
    assert_int_equal(fx_status(r).term, SAMPAN_MAX_TERM);
    sampan_raft_free(r);
}

/* Every message type has a name, and an unknown one gets "Unknown". */
static void test_msg_type_names(void **state)
{
    (void)state;
    for (int t = 1; t <= SAMPAN_MSG_TYPE_MAX; t++) {
        const char *name = sampan_msg_type_name(t);
        assert_non_null(name);
        assert_string_not_equal(name, "Unknown");
    }
    assert_string_equal(sampan_msg_type_name(0), "Unknown");
    assert_string_equal(sampan_msg_type_name(SAMPAN_MSG_TYPE_MAX + 1),
                        "Unknown");
    for (int e = 0; e >= -18; e--) {
        assert_string_not_equal(sampan_strerror(e), "unknown error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_append_accepted),
        cmocka_unit_test(test_unknown_message_type),
        cmocka_unit_test(test_bad_addressing),
        cmocka_unit_test(test_sender_not_member),
        cmocka_unit_test(test_unknown_leader_is_heard),
        cmocka_unit_test(test_term_zero),
        cmocka_unit_test(test_vote_log_position),
        cmocka_unit_test(test_append_prev_position),
        cmocka_unit_test(test_append_entries_not_consecutive),
        cmocka_unit_test(test_append_entry_terms),
        cmocka_unit_test(test_append_entry_payload_and_type),
        cmocka_unit_test(test_entry_over_max_entry_bytes),
        cmocka_unit_test(test_entries_on_other_types),
        cmocka_unit_test(test_append_resp_bad_hint),
        cmocka_unit_test(test_step_null_message),
        cmocka_unit_test(test_bad_config_membership),
        cmocka_unit_test(test_bad_config_timing_and_limits),
        cmocka_unit_test(test_bad_boot),
        cmocka_unit_test(test_boot_with_snapshot),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_random_garbage_small_terms),
        cmocka_unit_test(test_term_overflow_refused),
        cmocka_unit_test(test_msg_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
