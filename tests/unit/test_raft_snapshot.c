/* tests/unit/test_raft_snapshot.c: log compaction and snapshot transfer,
 * after the Raft paper section 7 ("Log compaction", the InstallSnapshot
 * RPC of Figure 13) as sampan streams it: the application captures its
 * state, the core forgets the log behind it, and a lagging follower is sent
 * the snapshot in chunks the application reads (Ready.snapshot_reads) and
 * writes (Ready.snapshot_chunks). Public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/raft_fixture.h"

#define CHUNK 8u /* snapshot_chunk_bytes used by these tests */
#define MAX_X 16u

/* What one Ready handed out, deep-copied (fx_drain copies messages but a
 * SNAPSHOT message's data and the snapshot fields of the Ready belong to
 * the core only until advance). */
struct snap_rd {
    struct fx_rd rd;
    bool has_snapshot;
    struct sampan_snapshot_meta snapshot;
    size_t n_chunks;
    struct sampan_snapshot_chunk chunks[MAX_X];
    size_t n_reads;
    struct sampan_snapshot_read reads[MAX_X];
};

static uint8_t *dup_bytes(const uint8_t *p, size_t len)
{
    if (len == 0) {
        return NULL;
    }
    uint8_t *c = malloc(len);
    assert_non_null(c);
    memcpy(c, p, len);
    return c;
}

/* Collects one Ready (if any) into x and advances. */
static void drain_x(struct sampan_raft *r, struct snap_rd *x)
{
    memset(x, 0, sizeof(*x));
    if (!sampan_raft_has_ready(r)) {
        return;
    }
    struct sampan_ready rd;
    assert_int_equal(sampan_raft_ready(r, &rd), 0);
    fx_rd_append(&x->rd, &rd);
    for (size_t i = 0; i < x->rd.n_msgs; i++) {
        struct sampan_msg *m = &x->rd.msgs[i];
        m->data =
            m->type == SAMPAN_MSG_SNAPSHOT ? dup_bytes(m->data, m->len) : NULL;
    }
    x->has_snapshot = rd.has_snapshot;
    x->snapshot = rd.snapshot;
    assert_true(rd.n_snapshot_chunks <= MAX_X);
    assert_true(rd.n_snapshot_reads <= MAX_X);
    x->n_chunks = rd.n_snapshot_chunks;
    for (size_t i = 0; i < rd.n_snapshot_chunks; i++) {
        x->chunks[i] = rd.snapshot_chunks[i];
        x->chunks[i].data =
            dup_bytes(rd.snapshot_chunks[i].data, rd.snapshot_chunks[i].len);
    }
    x->n_reads = rd.n_snapshot_reads;
    for (size_t i = 0; i < rd.n_snapshot_reads; i++) {
        x->reads[i] = rd.snapshot_reads[i];
    }
    assert_int_equal(sampan_raft_advance(r, &rd), 0);
}

static void free_x(struct snap_rd *x)
{
    for (size_t i = 0; i < x->rd.n_msgs; i++) {
        free(x->rd.msgs[i].data);
        x->rd.msgs[i].data = NULL;
    }
    for (size_t i = 0; i < x->n_chunks; i++) {
        free(x->chunks[i].data);
    }
    fx_rd_free(&x->rd);
    memset(x, 0, sizeof(*x));
}

/* Readies and advances until the core is idle, copying nothing. */
static void pump(struct sampan_raft *r)
{
    for (int i = 0; i < 100 && sampan_raft_has_ready(r); i++) {
        struct sampan_ready rd;
        assert_int_equal(sampan_raft_ready(r, &rd), 0);
        assert_int_equal(sampan_raft_advance(r, &rd), 0);
    }
    assert_false(sampan_raft_has_ready(r));
}

static void cfg3(struct sampan_raft_config *cfg, uint64_t id)
{
    fx_config(cfg, id, 3, 11);
    cfg->snapshot_chunk_bytes = CHUNK;
}

/* A leader of term 1 in a 3-node cluster whose log is 1..last (the no-op
 * and last-1 one-byte commands), all committed and applied through node 2.
 * Node 3 never answered: it is probing at index 1 with its probe in
 * flight. */
static struct sampan_raft *leader_with_log(struct sampan_raft_config *cfg,
                                           uint64_t last)
{
    struct sampan_raft *r = fx_new_cfg(cfg, NULL);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    for (uint64_t i = 2; i <= last; i++) {
        assert_int_equal(sampan_raft_propose(r, "x", 1, NULL), 0);
    }
    pump(r);
    fx_ack(r, 2, last);
    pump(r);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.commit, last);
    assert_int_equal(st.applied, last);
    return r;
}

static struct sampan_raft *leader10(void)
{
    struct sampan_raft_config cfg;
    cfg3(&cfg, 1);
    return leader_with_log(&cfg, 10);
}

static void step_hb_resp(struct sampan_raft *r, uint64_t from, uint64_t ctx)
{
    struct sampan_msg m =
        fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, from, 1, fx_status(r).term);
    m.context = ctx;
    fx_step(r, &m);
}

static void step_snap_resp(struct sampan_raft *r, uint64_t from, uint64_t index,
                           uint64_t offset, bool done)
{
    struct sampan_msg m =
        fx_msg(SAMPAN_MSG_SNAPSHOT_RESP, from, 1, fx_status(r).term);
    m.index = index;
    m.offset = offset;
    m.done = done;
    fx_step(r, &m);
}

/* Leader 10 compacted to `snap`; node 3's heartbeat answer starts the
 * transfer. Asserts the first read request and returns the core. */
static struct sampan_raft *leader_sending(uint64_t snap)
{
    struct sampan_raft *r = leader10();
    assert_int_equal(sampan_raft_compact(r, snap), 0);
    step_hb_resp(r, 3, 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].to, 3);
    assert_int_equal(x.reads[0].index, snap);
    assert_int_equal(x.reads[0].offset, 0);
    free_x(&x);
    return r;
}

static struct sampan_msg snap_msg(uint64_t term, uint64_t index, uint64_t sterm,
                                  uint64_t offset, const char *data, bool done)
{
    struct sampan_msg m = fx_msg(SAMPAN_MSG_SNAPSHOT, 1, 2, term);
    m.snapshot.index = index;
    m.snapshot.term = sterm;
    m.snapshot.conf.n_voters = 3;
    for (uint32_t i = 0; i < 3; i++) {
        m.snapshot.conf.voters[i] = i + 1;
    }
    m.offset = offset;
    m.len = (uint32_t)strlen(data);
    m.data = m.len ? (uint8_t *)(uintptr_t)data : NULL;
    m.done = done;
    return m;
}

static void step_chunk(struct sampan_raft *r, uint64_t term, uint64_t index,
                       uint64_t sterm, uint64_t offset, const char *data,
                       bool done)
{
    struct sampan_msg m = snap_msg(term, index, sterm, offset, data, done);
    fx_step(r, &m);
}

/* The single SNAPSHOT_RESP to the leader in x; asserts it was sent after
 * persisting (it claims durable bytes). */
static const struct sampan_msg *snap_resp(const struct snap_rd *x)
{
    assert_int_equal(fx_count(&x->rd, SAMPAN_MSG_SNAPSHOT_RESP, 1), 1);
    const struct sampan_msg *m = fx_find(&x->rd, SAMPAN_MSG_SNAPSHOT_RESP, 1);
    assert_true(fx_is_persisted(&x->rd, m));
    return m;
}

/* A follower (node 2, 3 voters) whose log holds terms[], in term `term`. */
static struct sampan_raft *follower_with_log(uint64_t term,
                                             const uint64_t *terms, size_t n)
{
    struct sampan_raft_config cfg;
    cfg3(&cfg, 2);
    return fx_new_boot(&cfg, term, SAMPAN_NONE, terms, n);
}

/* ---- compaction -----------------------------------------------------------
 */

/* Section 7: a snapshot captures the state machine's current state, so it
 * can only cover entries already applied. */
static void test_compact_beyond_applied_is_einval(void **state)
{
    (void)state;
    struct sampan_raft *r = leader10();
    assert_int_equal(sampan_raft_compact(r, 11), SAMPAN_EINVAL);
    assert_int_equal(sampan_raft_propose(r, "y", 1, NULL), 0);
    /* Index 11 exists now but is neither committed nor applied. */
    assert_int_equal(sampan_raft_compact(r, 11), SAMPAN_EINVAL);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.snapshot_index, 0);
    assert_int_equal(st.first_index, 1);
    sampan_raft_free(r);
}

/* Section 7: snapshots only move forward; a compaction not past the
 * previous snapshot has nothing to discard. */
static void test_compact_not_past_snapshot_is_ecompacted(void **state)
{
    (void)state;
    struct sampan_raft *r = leader10();
    assert_int_equal(sampan_raft_compact(r, 0), SAMPAN_ECOMPACTED);
    assert_int_equal(sampan_raft_compact(r, 6), 0);
    assert_int_equal(sampan_raft_compact(r, 6), SAMPAN_ECOMPACTED);
    assert_int_equal(sampan_raft_compact(r, 4), SAMPAN_ECOMPACTED);
    assert_int_equal(fx_status(r).snapshot_index, 6);
    assert_int_equal(sampan_raft_compact(r, 7), 0);
    assert_int_equal(fx_status(r).snapshot_index, 7);
    sampan_raft_free(r);
}

/* Section 7: "the entire log up through that point is discarded"; the
 * snapshot keeps the last included index and term, so the consistency check
 * of the entry after it still works. */
static void test_compact_discards_entries_keeps_last_term(void **state)
{
    (void)state;
    struct sampan_raft *r = leader10();
    struct sampan_status before = fx_status(r);
    assert_int_equal(before.log_bytes, 9);
    assert_non_null(sampan_raft_entry_at(r, 6));
    assert_int_equal(sampan_raft_compact(r, 6), 0);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.snapshot_index, 6);
    assert_int_equal(st.first_index, 7);
    assert_int_equal(st.last_index, 10);
    assert_int_equal(st.commit, 10);
    assert_int_equal(st.log_bytes, 4);
    for (uint64_t i = 1; i <= 6; i++) {
        assert_null(sampan_raft_entry_at(r, i));
    }
    assert_non_null(sampan_raft_entry_at(r, 7));
    assert_int_equal(sampan_raft_entry_at(r, 7)->index, 7);
    uint64_t term = 99;
    assert_int_equal(sampan_raft_term_at(r, 6, &term), 0);
    assert_int_equal(term, 1);
    assert_int_equal(sampan_raft_term_at(r, 5, &term), SAMPAN_ECOMPACTED);
    assert_int_equal(sampan_raft_term_at(r, 1, &term), SAMPAN_ECOMPACTED);
    assert_int_equal(fx_term_at(r, 10), 1);
    sampan_raft_free(r);
}

/* Compaction keeps snapshot_trailing entries behind the snapshot point, so
 * a follower slightly behind is caught up from the log (cheaper than a
 * snapshot, section 7 "the leader must occasionally send snapshots"). */
static void test_compact_keeps_trailing_entries(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    cfg3(&cfg, 1);
    cfg.snapshot_trailing = 3;
    struct sampan_raft *r = leader_with_log(&cfg, 10);
    assert_int_equal(sampan_raft_compact(r, 8), 0);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.snapshot_index, 8);
    assert_int_equal(st.first_index, 6);
    assert_int_equal(st.log_bytes, 5);
    assert_null(sampan_raft_entry_at(r, 5));
    assert_non_null(sampan_raft_entry_at(r, 6));
    assert_non_null(sampan_raft_entry_at(r, 8));
    uint64_t term;
    assert_int_equal(sampan_raft_term_at(r, 5, &term), 0);
    assert_int_equal(sampan_raft_term_at(r, 4, &term), SAMPAN_ECOMPACTED);

    /* Node 3 holds 1..6: it gets entries 7..10 by AppendEntries. */
    fx_ack(r, 3, 6);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 0);
    const struct sampan_msg *a = fx_find(&x.rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(a);
    assert_int_equal(a->index, 6);
    assert_int_equal(a->log_term, 1);
    assert_int_equal(a->n_entries, 4);
    assert_int_equal(a->entries[0].index, 7);
    free_x(&x);

    /* A compaction point within the trailing window discards nothing. */
    struct sampan_raft_config cfg1;
    fx_config(&cfg1, 1, 1, 1);
    cfg1.snapshot_trailing = 5;
    struct sampan_raft *s = fx_new_cfg(&cfg1, NULL);
    assert_int_equal(sampan_raft_campaign(s), 0);
    assert_int_equal(sampan_raft_propose(s, "ab", 2, NULL), 0);
    pump(s);
    assert_int_equal(fx_status(s).applied, 2);
    assert_int_equal(sampan_raft_compact(s, 2), 0);
    st = fx_status(s);
    assert_int_equal(st.snapshot_index, 2);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(st.log_bytes, 2);
    sampan_raft_free(s);
    sampan_raft_free(r);
}

/* Section 7's purpose: the log does not grow without bound. Compacting most
 * of a large log gives its memory back (log_bytes; ASan/LSan checks that
 * nothing leaks). */
static void test_compact_large_log_frees_memory(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(1, 1, 1);
    assert_int_equal(sampan_raft_campaign(r), 0);
    char payload[100];
    memset(payload, 'p', sizeof(payload));
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(sampan_raft_propose(r, payload, sizeof(payload), NULL),
                         0);
        if (i % 1000 == 999) {
            pump(r);
        }
    }
    pump(r);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.last_index, 10001);
    assert_int_equal(st.applied, 10001);
    assert_int_equal(st.log_bytes, 1000000);
    assert_int_equal(sampan_raft_compact(r, 9991), 0);
    st = fx_status(r);
    assert_int_equal(st.log_bytes, 1000);
    assert_int_equal(st.first_index, 9992);
    assert_null(sampan_raft_entry_at(r, 9991));
    assert_int_equal(sampan_raft_entry_at(r, 9992)->len, 100);
    /* The log keeps working after compaction. */
    uint64_t index = 0;
    assert_int_equal(sampan_raft_propose(r, payload, 10, &index), 0);
    assert_int_equal(index, 10002);
    pump(r);
    assert_int_equal(fx_status(r).applied, 10002);
    sampan_raft_free(r);
}

/* ---- leader: sending a snapshot ------------------------------------------ */

/* Section 7: "the leader uses a new RPC called InstallSnapshot to send
 * snapshots to followers that are too far behind" - when the entry a
 * follower needs next was discarded, the leader asks the application for
 * the first chunk instead of sending AppendEntries. */
static void test_leader_requests_snapshot_for_compacted_follower(void **state)
{
    (void)state;
    struct sampan_raft *r = leader10();
    assert_int_equal(sampan_raft_compact(r, 8), 0);
    step_hb_resp(r, 3, 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_APPEND, 3), 0);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].to, 3);
    assert_int_equal(x.reads[0].index, 8);
    assert_int_equal(x.reads[0].offset, 0);
    assert_int_equal(x.reads[0].max_len, CHUNK);
    free_x(&x);
    /* While the transfer is under way no AppendEntries go to node 3. */
    assert_int_equal(sampan_raft_propose(r, "z", 1, NULL), 0);
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_APPEND, 3), 0);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_APPEND, 2), 1);
    assert_int_equal(x.n_reads, 0);
    free_x(&x);
    sampan_raft_free(r);
}

/* Figure 13 InstallSnapshot arguments: lastIncludedIndex/Term, offset,
 * data[], done. The chunk the application read goes out as a SNAPSHOT
 * message carrying the snapshot's metadata. */
static void test_leader_sends_chunk_with_meta(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_SNAPSHOT, 0), 1);
    const struct sampan_msg *m = fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT, 3);
    assert_non_null(m);
    assert_false(fx_is_persisted(&x.rd, m));
    assert_int_equal(m->from, 1);
    assert_int_equal(m->term, 1);
    assert_int_equal(m->snapshot.index, 8);
    assert_int_equal(m->snapshot.term, 1);
    assert_int_equal(m->snapshot.conf.n_voters, 3);
    assert_int_equal(m->offset, 0);
    assert_int_equal(m->len, 8);
    assert_memory_equal(m->data, "01234567", 8);
    assert_false(m->done);
    free_x(&x);
    sampan_raft_free(r);
}

/* A chunk that does not answer the outstanding read (other offset, other
 * snapshot, other follower, or already answered) is ignored. */
static void test_leader_ignores_stale_chunk(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 4, "abcd", 4, false),
                     0);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 7, 0, "abcd", 4, false),
                     0);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 2, 8, 0, "abcd", 4, false),
                     0);
    assert_false(sampan_raft_has_ready(r));
    /* The read is still outstanding: the right chunk goes out. */
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 0, "good", 4, false),
                     0);
    /* A second answer to the same read is a duplicate. */
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 0, "dupe", 4, false),
                     0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_SNAPSHOT, 0), 1);
    assert_memory_equal(fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT, 3)->data, "good",
                        4);
    free_x(&x);
    sampan_raft_free(r);
}

/* A chunk larger than snapshot_chunk_bytes (or with no data) is refused:
 * messages stay bounded. */
static void test_chunk_too_big_is_einval(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "012345678", CHUNK + 1, false),
        SAMPAN_EINVAL);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 0, NULL, 4, false),
                     SAMPAN_EINVAL);
    assert_false(sampan_raft_has_ready(r));
    /* The read is still pending and can be answered properly. */
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 0, "ok", 2, true), 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_SNAPSHOT, 3), 1);
    free_x(&x);
    sampan_raft_free(r);
}

/* The follower acknowledges the offset it expects next; the leader asks
 * for the chunk at that offset (Figure 13: chunks are sent in order). */
static void test_leader_next_chunk_at_acked_offset(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    pump(r);
    step_snap_resp(r, 3, 8, 8, false);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].to, 3);
    assert_int_equal(x.reads[0].index, 8);
    assert_int_equal(x.reads[0].offset, 8);
    assert_int_equal(x.reads[0].max_len, CHUNK);
    free_x(&x);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 8, "89", 2, true), 0);
    drain_x(r, &x);
    const struct sampan_msg *m = fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT, 3);
    assert_non_null(m);
    assert_int_equal(m->offset, 8);
    assert_int_equal(m->len, 2);
    assert_memory_equal(m->data, "89", 2);
    assert_true(m->done);
    free_x(&x);
    sampan_raft_free(r);
}

/* A chunk sent twice (the heartbeat resend below, while the follower's
 * answer waited for its disk) is answered twice; the follower moves on
 * between the two answers. If that happens while the leader's read for
 * the next chunk is out, the read comes back for an offset the follower
 * has passed: the leader must read again where the follower stands, not
 * drop it (then no chunk and no read were ever outstanding again, and the
 * transfer waited for good; found by the simulator with disk latency). */
static void test_leader_rereads_when_follower_moved_during_read(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    pump(r);
    step_snap_resp(r, 3, 8, 8, false); /* read for offset 8 goes out */
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].offset, 8);
    free_x(&x);
    /* The follower's later answer (to a duplicate) says 16. */
    step_snap_resp(r, 3, 8, 16, false);
    pump(r);
    /* The read for 8 is answered: no chunk for 8, a read for 16. */
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 8, "89abcdef", 8, false), 0);
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_SNAPSHOT, 3), 0);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].offset, 16);
    free_x(&x);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 16, "gh", 2, true), 0);
    drain_x(r, &x);
    const struct sampan_msg *m = fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT, 3);
    assert_non_null(m);
    assert_int_equal(m->offset, 16);
    free_x(&x);
    sampan_raft_free(r);
}

/* Once the follower installed the snapshot it is back to AppendEntries,
 * starting right after the snapshot's last index. */
static void test_leader_resumes_append_after_install(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 3, 8, 0, "snap", 4, true),
                     0);
    pump(r);
    step_snap_resp(r, 3, 8, 4, true);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 0);
    const struct sampan_msg *a = fx_find(&x.rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(a);
    assert_int_equal(a->index, 8);
    assert_int_equal(a->log_term, 1);
    assert_int_equal(a->n_entries, 2);
    assert_int_equal(a->entries[0].index, 9);
    assert_int_equal(a->entries[1].index, 10);
    free_x(&x);
    /* Its acknowledgement puts it into pipelined replication. */
    fx_ack(r, 3, 10);
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0);
    assert_int_equal(sampan_raft_propose(r, "b", 1, NULL), 0);
    drain_x(r, &x);
    a = fx_find(&x.rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(a);
    assert_int_equal(a->index, 10);
    assert_int_equal(a->n_entries, 2);
    free_x(&x);
    sampan_raft_free(r);
}

/* A chunk may be lost. When the follower answers a heartbeat but not the
 * chunk, the leader asks for the same chunk again. */
static void test_leader_resends_unanswered_chunk_on_heartbeat(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    /* While the read is outstanding a heartbeat answer asks for nothing. */
    step_hb_resp(r, 3, 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 0);
    assert_int_equal(x.rd.n_msgs, 0);
    free_x(&x);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    pump(r);
    step_snap_resp(r, 3, 8, 8, false);
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 1);
    free_x(&x);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 8, "89abcdef", 8, false), 0);
    pump(r); /* this chunk is dropped on the way */
    step_hb_resp(r, 3, 0);
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].to, 3);
    assert_int_equal(x.reads[0].index, 8);
    assert_int_equal(x.reads[0].offset, 8);
    free_x(&x);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 8, "89abcdef", 8, false), 0);
    drain_x(r, &x);
    assert_int_equal(fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT, 3)->offset, 8);
    free_x(&x);
    sampan_raft_free(r);
}

/* The application could not read the snapshot: the transfer is abandoned
 * (a late chunk is ignored) and retried later from the newest snapshot,
 * from offset 0. */
static void test_snapshot_failed_abandons_transfer(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(sampan_raft_snapshot_failed(r, 3), 0);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    assert_false(sampan_raft_has_ready(r));
    assert_int_equal(sampan_raft_compact(r, 10), 0);
    step_hb_resp(r, 3, 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].to, 3);
    assert_int_equal(x.reads[0].index, 10);
    assert_int_equal(x.reads[0].offset, 0);
    free_x(&x);
    sampan_raft_free(r);
}

/* When a newer snapshot replaced the one being sent, the chunk read for the
 * old one is not sent; the transfer starts over with the newer one. */
static void test_newer_snapshot_restarts_transfer(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    assert_int_equal(sampan_raft_compact(r, 10), 0);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_SNAPSHOT, 0), 0);
    assert_int_equal(x.n_reads, 1);
    assert_int_equal(x.reads[0].index, 10);
    assert_int_equal(x.reads[0].offset, 0);
    free_x(&x);
    sampan_raft_free(r);
}

/* A leader that stepped down sends no more chunks. */
static void test_chunk_ignored_after_step_down(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT, 2, 1, 2);
    fx_step(r, &m);
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    pump(r);
    assert_int_equal(
        sampan_raft_snapshot_chunk(r, 3, 8, 0, "01234567", 8, false), 0);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(fx_count(&x.rd, SAMPAN_MSG_SNAPSHOT, 0), 0);
    free_x(&x);
    sampan_raft_free(r);
}

/* ---- follower: receiving a snapshot -------------------------------------- */

/* Figure 13 receiver rules 2-4: the first chunk (offset 0) starts a new
 * snapshot file; each chunk is written at its offset and acknowledged,
 * after it is durable, with the offset expected next. */
static void test_follower_hands_out_and_acks_chunk(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 5);
    step_chunk(r, 1, 10, 1, 0, "abcd", false);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.leader, 1);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 1);
    assert_int_equal(x.chunks[0].meta.index, 10);
    assert_int_equal(x.chunks[0].meta.term, 1);
    assert_int_equal(x.chunks[0].meta.conf.n_voters, 3);
    assert_int_equal(x.chunks[0].offset, 0);
    assert_int_equal(x.chunks[0].len, 4);
    assert_memory_equal(x.chunks[0].data, "abcd", 4);
    assert_false(x.chunks[0].done);
    assert_false(x.has_snapshot);
    const struct sampan_msg *resp = snap_resp(&x);
    assert_int_equal(resp->term, 1);
    assert_int_equal(resp->index, 10);
    assert_int_equal(resp->offset, 4);
    assert_false(resp->done);
    assert_false(resp->reject);
    free_x(&x);
    /* Nothing is installed yet. */
    st = fx_status(r);
    assert_int_equal(st.commit, 0);
    assert_int_equal(st.snapshot_index, 0);
    sampan_raft_free(r);
}

/* A chunk that does not continue the transfer (a gap after a lost chunk) is
 * not written; the follower tells the leader the offset it expects. */
static void test_follower_out_of_order_chunk(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 5);
    step_chunk(r, 1, 10, 1, 0, "abcd", false);
    pump(r);
    step_chunk(r, 1, 10, 1, 8, "ijkl", false);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 0);
    const struct sampan_msg *resp = snap_resp(&x);
    assert_int_equal(resp->index, 10);
    assert_int_equal(resp->offset, 4);
    assert_false(resp->done);
    free_x(&x);
    /* A chunk without any transfer started is answered with offset 0. */
    struct sampan_raft *s = fx_new(2, 3, 5);
    step_chunk(s, 1, 10, 1, 4, "efgh", false);
    drain_x(s, &x);
    assert_int_equal(x.n_chunks, 0);
    resp = snap_resp(&x);
    assert_int_equal(resp->offset, 0);
    assert_false(resp->done);
    free_x(&x);
    sampan_raft_free(s);
    /* The expected chunk continues the transfer. */
    step_chunk(r, 1, 10, 1, 4, "efgh", false);
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 1);
    assert_int_equal(x.chunks[0].offset, 4);
    assert_int_equal(snap_resp(&x)->offset, 8);
    free_x(&x);
    sampan_raft_free(r);
}

/* Figure 13 receiver rules 5-8: the done chunk completes the snapshot; the
 * log is discarded and the state machine restored from it, and the next
 * entries continue right after it. */
static void test_follower_installs_on_done(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 5);
    step_chunk(r, 1, 10, 1, 0, "abcd", false);
    pump(r);
    step_chunk(r, 1, 10, 1, 4, "ef", true);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.commit, 10);
    assert_int_equal(st.last_index, 10);
    assert_int_equal(st.last_term, 1);
    assert_int_equal(st.first_index, 11);
    assert_int_equal(st.snapshot_index, 10);
    assert_int_equal(fx_term_at(r, 10), 1);
    struct snap_rd x;
    drain_x(r, &x);
    assert_true(x.has_snapshot);
    assert_int_equal(x.snapshot.index, 10);
    assert_int_equal(x.snapshot.term, 1);
    assert_int_equal(x.snapshot.conf.n_voters, 3);
    assert_int_equal(x.n_chunks, 1);
    assert_true(x.chunks[0].done);
    assert_int_equal(x.chunks[0].offset, 4);
    assert_memory_equal(x.chunks[0].data, "ef", 2);
    assert_int_equal(x.rd.n_committed, 0);
    assert_int_equal(x.rd.n_entries, 0);
    const struct sampan_msg *resp = snap_resp(&x);
    assert_true(resp->done);
    assert_int_equal(resp->index, 10);
    assert_int_equal(resp->offset, 6);
    free_x(&x);
    assert_int_equal(fx_status(r).applied, 10);

    const uint64_t terms[] = {1, 1};
    const char *const data[] = {"k", "l"};
    fx_step_append(r, 1, 1, 10, 1, 12, terms, 2, data);
    drain_x(r, &x);
    assert_false(x.has_snapshot);
    assert_int_equal(x.rd.n_entries, 2);
    assert_int_equal(x.rd.entries[0].index, 11);
    assert_int_equal(x.rd.n_committed, 2);
    assert_int_equal(x.rd.committed[0].index, 11);
    assert_memory_equal(x.rd.committed[0].data, "k", 1);
    assert_int_equal(x.rd.committed[1].index, 12);
    const struct sampan_msg *ack = fx_find(&x.rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, 12);
    free_x(&x);
    st = fx_status(r);
    assert_int_equal(st.commit, 12);
    assert_int_equal(st.applied, 12);
    assert_int_equal(st.log_bytes, 2);
    sampan_raft_free(r);
}

/* While a write is in flight a follower goes on stepping, so one batch
 * can hold a completed snapshot (to install) and then the first chunk of
 * a newer one from a new leader. Storage writes the chunks in order, so
 * the newer chunk would replace the file the install reads (found by the
 * simulator: the install failed and the node stopped). The newer
 * transfer is refused (offset 0) until the install is handed out. */
static void
test_follower_refuses_new_transfer_while_install_pending(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 5);
    step_chunk(r, 1, 10, 1, 0, "abcdef", true);
    step_chunk(r, 2, 18, 2, 0, "ghij", false);
    struct snap_rd x;
    drain_x(r, &x);
    assert_true(x.has_snapshot);
    assert_int_equal(x.snapshot.index, 10);
    assert_int_equal(x.n_chunks, 1);
    assert_int_equal(x.chunks[0].meta.index, 10);
    /* Answers: the install done, the newer transfer back to offset 0. */
    size_t refusals = 0;
    for (size_t i = 0; i < x.rd.n_msgs; i++) {
        const struct sampan_msg *m = &x.rd.msgs[i];
        if (m->type == SAMPAN_MSG_SNAPSHOT_RESP && m->index == 18) {
            assert_false(m->done);
            assert_int_equal(m->offset, 0);
            refusals++;
        }
    }
    assert_int_equal(refusals, 1);
    free_x(&x);
    /* Handed out: the newer snapshot is taken now. */
    step_chunk(r, 2, 18, 2, 0, "ghij", false);
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 1);
    assert_int_equal(x.chunks[0].meta.index, 18);
    free_x(&x);
    sampan_raft_free(r);
}

/* Figure 13 receiver rule 7: the snapshot replaces a log that conflicts
 * with it (the entry at its last index has another term). */
static void test_follower_install_discards_conflicting_log(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 2, 2};
    struct sampan_raft *r = follower_with_log(2, terms, 5);
    assert_int_equal(fx_status(r).log_bytes, 5);
    step_chunk(r, 3, 4, 3, 0, "snap", true);
    assert_int_equal(fx_status(r).log_bytes, 0);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.last_index, 4);
    assert_int_equal(st.last_term, 3);
    assert_int_equal(st.commit, 4);
    assert_null(sampan_raft_entry_at(r, 5));
    struct snap_rd x;
    drain_x(r, &x);
    assert_true(x.has_snapshot);
    assert_int_equal(x.snapshot.index, 4);
    assert_int_equal(x.snapshot.term, 3);
    assert_int_equal(x.rd.n_committed, 0);
    assert_true(snap_resp(&x)->done);
    free_x(&x);
    sampan_raft_free(r);
}

/* Snapshots only move state forward: one not newer than the follower's
 * commit index is not installed; the answer reports the commit index so the
 * leader resumes from there. */
static void test_follower_refuses_snapshot_not_newer_than_commit(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1, 1};
    struct sampan_raft *r = follower_with_log(1, terms, 5);
    fx_step_append(r, 1, 1, 5, 1, 5, NULL, 0, NULL);
    pump(r);
    assert_int_equal(fx_status(r).commit, 5);
    for (uint64_t index = 4; index <= 5; index++) {
        step_chunk(r, 1, index, 1, 0, "snap", true);
        struct snap_rd x;
        drain_x(r, &x);
        assert_false(x.has_snapshot);
        assert_int_equal(x.n_chunks, 0);
        const struct sampan_msg *resp = snap_resp(&x);
        assert_true(resp->done);
        assert_int_equal(resp->index, 5);
        free_x(&x);
        struct sampan_status st = fx_status(r);
        assert_int_equal(st.last_index, 5);
        assert_int_equal(st.first_index, 1);
        assert_int_equal(st.snapshot_index, 0);
        assert_int_equal(st.commit, 5);
    }
    sampan_raft_free(r);
}

/* Figure 13 receiver rule 6: "If existing log entry has same index and term
 * as snapshot's last included entry, retain log entries following it" - the
 * follower already holds everything the snapshot covers, so it commits up to
 * it instead of restoring. */
static void test_follower_fast_forwards_when_it_has_last_entry(void **state)
{
    (void)state;
    const uint64_t terms[] = {1, 1, 1, 1, 1};
    struct sampan_raft *r = follower_with_log(1, terms, 5);
    fx_step_append(r, 1, 1, 5, 1, 2, NULL, 0, NULL);
    pump(r);
    assert_int_equal(fx_status(r).applied, 2);
    step_chunk(r, 1, 4, 1, 0, "snap", false);
    struct snap_rd x;
    drain_x(r, &x);
    assert_false(x.has_snapshot);
    assert_int_equal(x.n_chunks, 0);
    assert_int_equal(x.rd.n_committed, 2);
    assert_int_equal(x.rd.committed[0].index, 3);
    assert_int_equal(x.rd.committed[1].index, 4);
    const struct sampan_msg *resp = snap_resp(&x);
    assert_true(resp->done);
    assert_int_equal(resp->index, 4);
    free_x(&x);
    struct sampan_status st = fx_status(r);
    assert_int_equal(st.commit, 4);
    assert_int_equal(st.last_index, 5);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(st.snapshot_index, 0);
    assert_non_null(sampan_raft_entry_at(r, 5));
    sampan_raft_free(r);
}

/* A new transfer (offset 0) replaces a partial one; chunks of the replaced
 * transfer no longer fit. */
static void test_follower_new_transfer_replaces_partial(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 5);
    step_chunk(r, 1, 10, 1, 0, "abcd", false);
    pump(r);
    step_chunk(r, 1, 12, 1, 0, "xyz", false);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 1);
    assert_int_equal(x.chunks[0].meta.index, 12);
    assert_int_equal(x.chunks[0].offset, 0);
    assert_int_equal(snap_resp(&x)->offset, 3);
    assert_int_equal(snap_resp(&x)->index, 12);
    free_x(&x);
    /* The old transfer's next chunk is not written. */
    step_chunk(r, 1, 10, 1, 4, "ef", true);
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 0);
    assert_false(x.has_snapshot);
    assert_false(snap_resp(&x)->done);
    free_x(&x);
    assert_int_equal(fx_status(r).commit, 0);
    /* The new one completes. */
    step_chunk(r, 1, 12, 1, 3, "w", true);
    drain_x(r, &x);
    assert_true(x.has_snapshot);
    assert_int_equal(x.snapshot.index, 12);
    assert_true(snap_resp(&x)->done);
    assert_int_equal(snap_resp(&x)->offset, 4);
    free_x(&x);
    assert_int_equal(fx_status(r).commit, 12);
    sampan_raft_free(r);
}

/* A new leader starts over from offset 0 (two nodes' files of the same
 * snapshot need not be byte-identical): a chunk of a later term does not
 * continue the earlier leader's partial transfer. */
static void test_follower_chunk_from_new_term_does_not_continue(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(2, 3, 5);
    step_chunk(r, 1, 10, 1, 0, "abcd", false);
    pump(r);
    struct sampan_msg m = snap_msg(2, 10, 1, 4, "ef", true);
    m.from = 3;
    fx_step(r, &m);
    struct snap_rd x;
    drain_x(r, &x);
    assert_int_equal(x.n_chunks, 0);
    assert_false(x.has_snapshot);
    const struct sampan_msg *resp = fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT_RESP, 3);
    assert_non_null(resp);
    assert_int_equal(resp->offset, 0);
    assert_false(resp->done);
    free_x(&x);
    assert_int_equal(fx_status(r).commit, 0);
    sampan_raft_free(r);
}

/* End to end between two cores: the leader's chunks, relayed by hand, are
 * written and installed by the follower, whose acknowledgements drive the
 * leader to the next chunk and back to AppendEntries. */
static void test_transfer_end_to_end(void **state)
{
    (void)state;
    struct sampan_raft *l = leader_sending(10);
    struct sampan_raft_config fcfg;
    cfg3(&fcfg, 3);
    struct sampan_raft *f = fx_new_cfg(&fcfg, NULL);
    const char snapshot[] = "0123456789abcdefXYZ"; /* 19 bytes, 3 chunks */
    uint64_t offset = 0;
    size_t chunks_written = 0;
    bool installed = false;
    for (int round = 0; round < 10 && !installed; round++) {
        size_t len = sizeof(snapshot) - 1 - offset;
        if (len > CHUNK) {
            len = CHUNK;
        }
        bool done = offset + len == sizeof(snapshot) - 1;
        assert_int_equal(sampan_raft_snapshot_chunk(
                             l, 3, 10, offset, snapshot + offset, len, done),
                         0);
        struct snap_rd x;
        drain_x(l, &x);
        const struct sampan_msg *m = fx_find(&x.rd, SAMPAN_MSG_SNAPSHOT, 3);
        assert_non_null(m);
        fx_step(f, m);
        free_x(&x);
        drain_x(f, &x);
        for (size_t i = 0; i < x.n_chunks; i++) {
            assert_memory_equal(x.chunks[i].data, snapshot + x.chunks[i].offset,
                                x.chunks[i].len);
            chunks_written++;
        }
        installed = x.has_snapshot;
        const struct sampan_msg *resp = snap_resp(&x);
        fx_step(l, resp);
        free_x(&x);
        if (!installed) {
            drain_x(l, &x);
            assert_int_equal(x.n_reads, 1);
            offset = x.reads[0].offset;
            free_x(&x);
        }
    }
    assert_true(installed);
    assert_int_equal(chunks_written, 3);
    struct sampan_status st = fx_status(f);
    assert_int_equal(st.commit, 10);
    assert_int_equal(st.last_index, 10);
    /* The leader continues with AppendEntries from index 11. */
    assert_int_equal(sampan_raft_propose(l, "n", 1, NULL), 0);
    struct snap_rd x;
    drain_x(l, &x);
    const struct sampan_msg *a = fx_find(&x.rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(a);
    assert_int_equal(a->index, 10);
    assert_int_equal(a->n_entries, 1);
    fx_step(f, a);
    free_x(&x);
    drain_x(f, &x);
    const struct sampan_msg *ack = fx_find(&x.rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, 11);
    free_x(&x);
    sampan_raft_free(f);
    sampan_raft_free(l);
}

/* raft.h: a malformed message leaves the core unchanged. An install
 * acknowledgement naming an index past the leader's log is refused: it
 * must not become a match index that counts toward commit. */
static void test_leader_refuses_install_ack_past_its_log(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_sending(8);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_SNAPSHOT_RESP, 3, 1, 1);
    m.index = 50;
    m.done = true;
    assert_int_equal(sampan_raft_step(r, &m), SAMPAN_EINVAL);
    sampan_raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_beyond_applied_is_einval),
        cmocka_unit_test(test_compact_not_past_snapshot_is_ecompacted),
        cmocka_unit_test(test_compact_discards_entries_keeps_last_term),
        cmocka_unit_test(test_compact_keeps_trailing_entries),
        cmocka_unit_test(test_compact_large_log_frees_memory),
        cmocka_unit_test(test_leader_requests_snapshot_for_compacted_follower),
        cmocka_unit_test(test_leader_sends_chunk_with_meta),
        cmocka_unit_test(test_leader_ignores_stale_chunk),
        cmocka_unit_test(test_chunk_too_big_is_einval),
        cmocka_unit_test(test_leader_next_chunk_at_acked_offset),
        cmocka_unit_test(test_leader_rereads_when_follower_moved_during_read),
        cmocka_unit_test(test_leader_resumes_append_after_install),
        cmocka_unit_test(test_leader_resends_unanswered_chunk_on_heartbeat),
        cmocka_unit_test(test_snapshot_failed_abandons_transfer),
        cmocka_unit_test(test_newer_snapshot_restarts_transfer),
        cmocka_unit_test(test_chunk_ignored_after_step_down),
        cmocka_unit_test(test_follower_hands_out_and_acks_chunk),
        cmocka_unit_test(test_follower_out_of_order_chunk),
        cmocka_unit_test(test_follower_installs_on_done),
        cmocka_unit_test(
            test_follower_refuses_new_transfer_while_install_pending),
        cmocka_unit_test(test_follower_install_discards_conflicting_log),
        cmocka_unit_test(test_follower_refuses_snapshot_not_newer_than_commit),
        cmocka_unit_test(test_follower_fast_forwards_when_it_has_last_entry),
        cmocka_unit_test(test_follower_new_transfer_replaces_partial),
        cmocka_unit_test(test_follower_chunk_from_new_term_does_not_continue),
        cmocka_unit_test(test_transfer_end_to_end),
        cmocka_unit_test(test_leader_refuses_install_ack_past_its_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
