/* fuzz/fuzz_raft_step.c: the Raft core against arbitrary operation
 * sequences. The input decodes to a config and boot state for node 1..3 of
 * a 3-voter cluster, then a sequence of operations through the public API
 * only: tick, step (a message with every field, entries and snapshot chunk
 * taken from the input), propose, ready, advance, read_index,
 * transfer_leader, compact, campaign, snapshot_chunk/failed. Values are
 * drawn near the core's own term and indexes so messages pass validation
 * often enough to reach deep states (elections won, logs replaced,
 * snapshots installed).
 *
 * The core must never crash, trip ASan/UBSan, leak, or break the cheap
 * invariants checked after every operation (term and commit never go back,
 * applied <= commit <= last index). Everything is freed at the end, with a
 * Ready possibly still outstanding (sampan_raft_free allows it).
 *
 *   build/bin/fuzz-raft_step-standalone --iterations 100000
 *   build-fuzz/bin/fuzz-raft_step CORPUS_DIR   (SAMPAN_FUZZ=ON, clang) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "sampan/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 1024u
#define MAX_ENTRIES 8u
#define MAX_PAYLOAD 64u
#define MAX_READS 16u
#define MAX_SENT 8u
#define BOOT_INDEX_CAP ((UINT64_C(1) << 62) - 1u)

enum op {
    OP_TICK,
    OP_STEP,
    OP_PROPOSE,
    OP_READY,
    OP_ADVANCE,
    OP_READ_INDEX,
    OP_TRANSFER,
    OP_COMPACT,
    OP_CAMPAIGN,
    OP_CHUNK,
    OP_REPLY,
    OP_REPLY2, /* twice the weight: replies are what make progress */
    OP_COUNT
};

/* Stops the process loudly: an invariant broke (a bug, not bad input). */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_raft_step: invariant failed: %s (%s:%d)\n",  \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* What the core sent, kept so a later OP_REPLY can answer it the way its
 * peer would: random messages alone rarely win an election. */
struct sent {
    uint8_t type;
    uint64_t to, term, index, n_entries, context, snap_index, offset, len;
    bool done;
};

struct driver {
    struct sampan_raft *r;
    struct sent sent[MAX_SENT];
    size_t n_sent;
    struct sampan_ready rd;
    int outstanding; /* a Ready handed out and not advanced */
    uint64_t applied;
    struct sampan_status last; /* for monotonicity checks */
};

static void build_config(struct fuzz_in *in, struct sampan_raft_config *cfg)
{
    sampan_raft_config_default(cfg);
    uint8_t b = fuzz_u8(in);
    cfg->id = 1u + b % 3u;
    cfg->members.n_voters = 3;
    for (uint32_t i = 0; i < 3; i++) {
        cfg->members.voters[i] = i + 1u;
    }
    cfg->election_ticks = 4u + (b >> 2) % 8u;
    cfg->heartbeat_ticks = 1u + (b >> 5) % 2u;
    cfg->seed = fuzz_u8(in);
    uint8_t f = fuzz_u8(in);
    cfg->disable_pre_vote = (f & 1u) != 0;
    cfg->disable_check_quorum = (f & 2u) != 0;
    cfg->lease_reads = (f & 4u) != 0 && !cfg->disable_check_quorum;
    cfg->lease_margin_ticks = 1;
    /* Small limits so bounds, chunking and flow control are all reached
     * with inputs of a few KB. */
    cfg->max_inflight_msgs = 1u + (f >> 3) % 4u;
    cfg->max_msg_bytes = 1u + fuzz_u8(in);
    cfg->max_uncommitted_bytes = 64u + 16u * fuzz_u8(in);
    cfg->max_entry_bytes = MAX_PAYLOAD;
    cfg->max_ready_msgs = 8u + (f >> 5) * 4u;
    cfg->snapshot_trailing = fuzz_u8(in) % 4u;
    cfg->snapshot_chunk_bytes = 1u + fuzz_u8(in) % 32u;
    cfg->max_pending_reads = 1u + fuzz_u8(in) % 8u;
}

/* Fills n entries from the input; data is heap-allocated (free_entries). */
static void build_entries(struct fuzz_in *in, struct sampan_entry *ents,
                          size_t n, uint64_t first_index, uint64_t term)
{
    for (size_t i = 0; i < n; i++) {
        struct sampan_entry *e = &ents[i];
        memset(e, 0, sizeof(*e));
        uint8_t b = fuzz_u8(in);
        /* Mostly consecutive and well-formed; sometimes anything. */
        e->index = (b & 7u) != 0 ? first_index + i : fuzz_near(in, first_index);
        e->term = (b & 0x18u) != 0 ? term : fuzz_near(in, term);
        e->type = (b & 0x60u) != 0 ? SAMPAN_ENTRY_NORMAL : fuzz_u8(in) % 4u;
        e->data = fuzz_bytes(in, MAX_PAYLOAD, &e->len);
    }
}

static void free_entries(struct sampan_entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ents[i].data);
    }
}

static int new_core(struct fuzz_in *in, struct driver *d)
{
    struct sampan_raft_config cfg;
    build_config(in, &cfg);
    struct sampan_boot boot;
    memset(&boot, 0, sizeof(boot));
    struct sampan_entry ents[MAX_ENTRIES];
    uint8_t b = fuzz_u8(in);
    int use_boot = (b & 3u) == 3u; /* a quarter: most runs start fresh */
    if (use_boot) {
        boot.hard_state.term = fuzz_near(in, 1);
        boot.hard_state.vote = fuzz_u8(in) % 5u;
        if ((b & 4u) != 0) {
            /* Capped: sampan_raft_new() accepts a boot snapshot index near
             * UINT64_MAX and the next append wraps the log to index 0
             * (reported to the core's owner; remove the cap once boot
             * indexes are bounded like terms are by SAMPAN_MAX_TERM). */
            boot.snapshot_index = fuzz_near(in, 2) & BOOT_INDEX_CAP;
            boot.snapshot_term = fuzz_near(in, 1);
            boot.snapshot_conf = cfg.members;
        }
        boot.n_entries = (b >> 3) % (MAX_ENTRIES + 1u);
        build_entries(in, ents, boot.n_entries, boot.snapshot_index + 1,
                      boot.snapshot_term > 0 ? boot.snapshot_term : 1);
        boot.entries = ents;
    }
    int rc = sampan_raft_new(&cfg, use_boot ? &boot : NULL, &d->r);
    if (use_boot) {
        free_entries(ents, boot.n_entries);
    }
    return rc;
}

static void build_msg(struct fuzz_in *in, const struct sampan_status *st,
                      struct sampan_msg *m, struct sampan_entry *ents)
{
    memset(m, 0, sizeof(*m));
    uint8_t b = fuzz_u8(in);
    m->type = (uint8_t)(b % 16u); /* 0 and 15 are invalid types */
    m->reject = (b & 0x10u) != 0;
    m->done = (b & 0x20u) != 0;
    uint8_t who = fuzz_u8(in);
    m->from = who % 5u; /* 0 and 4 are not members */
    m->to = (who & 0x70u) != 0 ? st->id : (who >> 4) % 5u;
    m->term = fuzz_near(in, st->term);
    m->log_term = fuzz_near(in, st->last_term);
    m->index = fuzz_near(in, st->last_index);
    m->commit = fuzz_near(in, st->commit);
    m->hint_index = fuzz_near(in, m->index);
    m->hint_term = fuzz_near(in, m->log_term);
    m->context = fuzz_near(in, 0);
    m->n_entries = fuzz_u8(in) % (MAX_ENTRIES + 1u);
    build_entries(in, ents, m->n_entries, m->index + 1, m->term);
    m->entries = m->n_entries > 0 ? ents : NULL;
    if (m->type == SAMPAN_MSG_SNAPSHOT || m->type == SAMPAN_MSG_SNAPSHOT_RESP ||
        (b & 0xc0u) == 0xc0u) {
        m->snapshot.index = fuzz_near(in, st->commit);
        m->snapshot.term = fuzz_near(in, st->term);
        uint8_t c = fuzz_u8(in);
        /* Up to SAMPAN_MAX_VOTERS + 1: the core must refuse the extra. */
        m->snapshot.conf.n_voters = (c & 3u) != 0 ? 3u : c % 18u;
        for (uint32_t i = 0; i < SAMPAN_MAX_VOTERS; i++) {
            m->snapshot.conf.voters[i] =
                (c & 3u) != 0 && i < 3 ? i + 1u : fuzz_u8(in) % 6u;
        }
        m->offset = fuzz_near(in, 0);
        m->data = fuzz_bytes(in, MAX_PAYLOAD, &m->len);
    }
}

static void do_step(struct fuzz_in *in, struct driver *d)
{
    struct sampan_status st;
    sampan_raft_status(d->r, &st);
    struct sampan_msg m;
    struct sampan_entry ents[MAX_ENTRIES];
    build_msg(in, &st, &m, ents);
    (void)sampan_raft_step(d->r, &m);
    free_entries(ents, m.n_entries);
    free(m.data);
}

/* Answers the snapshot reads of the outstanding Ready (copied first: its
 * arrays die at advance) with chunks from the input, or a failure. */
static void answer_reads(struct fuzz_in *in, struct driver *d)
{
    struct sampan_snapshot_read reads[MAX_READS];
    size_t n =
        d->rd.n_snapshot_reads < MAX_READS ? d->rd.n_snapshot_reads : MAX_READS;
    if (n > 0) {
        memcpy(reads, d->rd.snapshot_reads, n * sizeof(reads[0]));
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t b = fuzz_u8(in);
        if ((b & 7u) == 0) {
            (void)sampan_raft_snapshot_failed(d->r, reads[i].to);
            continue;
        }
        uint32_t len;
        size_t max =
            reads[i].max_len < MAX_PAYLOAD ? reads[i].max_len : MAX_PAYLOAD;
        uint8_t *buf = fuzz_bytes(in, max, &len);
        (void)sampan_raft_snapshot_chunk(d->r, reads[i].to, reads[i].index,
                                         reads[i].offset, buf, len,
                                         (b & 8u) != 0);
        free(buf);
    }
}

/* Keeps the newest MAX_SENT outgoing messages (headers only). */
static void remember_sent(struct driver *d, const struct sampan_msg *m,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sent *s = &d->sent[d->n_sent % MAX_SENT];
        d->n_sent++;
        s->type = m[i].type;
        s->to = m[i].to;
        s->term = m[i].term;
        s->index = m[i].index;
        s->n_entries = m[i].n_entries;
        s->context = m[i].context;
        s->snap_index = m[i].snapshot.index;
        s->offset = m[i].offset;
        s->len = m[i].len;
        s->done = m[i].done;
    }
}

/* Answers a remembered message as its recipient would (mostly agreeing,
 * sometimes rejecting), so elections, replication, reads and snapshot
 * transfers complete. */
static void do_reply(struct fuzz_in *in, struct driver *d)
{
    if (d->n_sent == 0) {
        return;
    }
    size_t avail = d->n_sent < MAX_SENT ? d->n_sent : MAX_SENT;
    const struct sent *s = &d->sent[fuzz_u8(in) % avail];
    uint8_t b = fuzz_u8(in);
    struct sampan_status st;
    sampan_raft_status(d->r, &st);
    struct sampan_msg m;
    memset(&m, 0, sizeof(m));
    m.from = s->to;
    m.to = st.id;
    m.term = s->term;
    m.reject = (b & 7u) == 0;
    switch (s->type) {
    case SAMPAN_MSG_PREVOTE:
    case SAMPAN_MSG_VOTE:
    case SAMPAN_MSG_APPEND:
    case SAMPAN_MSG_HEARTBEAT:
    case SAMPAN_MSG_READ_INDEX:
    case SAMPAN_MSG_SNAPSHOT:
        m.type = (uint8_t)(s->type + 1u);
        break;
    default:
        return; /* PROPOSE, TIMEOUT_NOW, responses: nothing to answer */
    }
    m.index = s->index + (m.reject ? 0 : s->n_entries);
    if (m.reject) {
        m.hint_index = fuzz_near(in, s->index > 0 ? s->index - 1 : 0);
        m.hint_term = fuzz_near(in, 0);
    }
    m.context = s->context;
    if (s->type == SAMPAN_MSG_READ_INDEX) {
        m.index = fuzz_near(in, st.commit);
    } else if (s->type == SAMPAN_MSG_SNAPSHOT) {
        m.index = s->snap_index;
        m.offset = s->offset + s->len;
        m.done = s->done && !m.reject;
    }
    (void)sampan_raft_step(d->r, &m);
}

static void do_ready(struct fuzz_in *in, struct driver *d)
{
    if (d->outstanding || !sampan_raft_has_ready(d->r)) {
        return;
    }
    FUZZ_CHECK(sampan_raft_ready(d->r, &d->rd) == 0);
    d->outstanding = 1;
    if (d->rd.has_snapshot) {
        d->applied = d->rd.snapshot.index;
    }
    for (size_t i = 0; i < d->rd.n_committed; i++) {
        /* Committed entries come in order, each after the last applied. */
        FUZZ_CHECK(d->rd.committed[i].index == d->applied + 1);
        d->applied = d->rd.committed[i].index;
    }
    remember_sent(d, d->rd.messages, d->rd.n_messages);
    remember_sent(d, d->rd.persisted_messages, d->rd.n_persisted_messages);
    if ((fuzz_u8(in) & 1u) != 0) {
        answer_reads(in, d);
    }
}

static void do_advance(struct driver *d)
{
    if (!d->outstanding) {
        return;
    }
    FUZZ_CHECK(sampan_raft_advance(d->r, &d->rd) == 0);
    d->outstanding = 0;
}

static void do_chunk(struct fuzz_in *in, struct driver *d)
{
    uint8_t b = fuzz_u8(in);
    uint64_t to = b % 5u;
    if ((b & 8u) != 0) {
        (void)sampan_raft_snapshot_failed(d->r, to);
        return;
    }
    struct sampan_status st;
    sampan_raft_status(d->r, &st);
    uint64_t index = fuzz_near(in, st.snapshot_index);
    uint64_t off = fuzz_near(in, 0);
    uint32_t len;
    uint8_t *buf = fuzz_bytes(in, MAX_PAYLOAD, &len);
    (void)sampan_raft_snapshot_chunk(d->r, to, index, off, buf, len,
                                     (b & 16u) != 0);
    free(buf);
}

static void do_op(struct fuzz_in *in, struct driver *d)
{
    uint8_t b = fuzz_u8(in);
    switch (b % OP_COUNT) {
    case OP_TICK:
        for (unsigned i = 0; i < 1u + (b >> 4); i++) {
            sampan_raft_tick(d->r);
        }
        break;
    case OP_STEP:
        do_step(in, d);
        break;
    case OP_PROPOSE: {
        uint32_t len;
        uint8_t *buf = fuzz_bytes(in, MAX_PAYLOAD + 8u, &len);
        uint64_t idx;
        (void)sampan_raft_propose(d->r, buf, len, &idx);
        free(buf);
        break;
    }
    case OP_READY:
        do_ready(in, d);
        if ((b & 0x80u) != 0) {
            do_advance(d); /* the usual driver: ready then advance */
        }
        break;
    case OP_ADVANCE:
        do_advance(d);
        break;
    case OP_READ_INDEX:
        (void)sampan_raft_read_index(d->r, fuzz_u8(in));
        break;
    case OP_TRANSFER:
        (void)sampan_raft_transfer_leader(d->r, fuzz_u8(in) % 5u);
        break;
    case OP_COMPACT:
        (void)sampan_raft_compact(d->r, fuzz_near(in, d->applied));
        break;
    case OP_CAMPAIGN:
        (void)sampan_raft_campaign(d->r);
        break;
    case OP_CHUNK:
        do_chunk(in, d);
        break;
    default:
        do_reply(in, d);
        break;
    }
}

static void check_invariants(struct driver *d)
{
    struct sampan_status st;
    sampan_raft_status(d->r, &st);
    FUZZ_CHECK(st.term >= d->last.term);     /* Figure 2: terms only grow */
    FUZZ_CHECK(st.commit >= d->last.commit); /* commits are never undone  */
    FUZZ_CHECK(st.applied <= st.commit);
    FUZZ_CHECK(st.commit <= st.last_index);
    FUZZ_CHECK(st.term <= SAMPAN_MAX_TERM);
    d->last = st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    struct driver d;
    memset(&d, 0, sizeof(d));
    if (new_core(&in, &d) != 0) {
        return 0; /* a refused config or boot state is a fine outcome */
    }
    sampan_raft_status(d.r, &d.last);
    d.applied = d.last.applied;
    for (unsigned ops = 0; in.n > 0 && ops < MAX_OPS; ops++) {
        do_op(&in, &d);
        check_invariants(&d);
    }
    sampan_raft_free(d.r);
    return 0;
}
