/* sim/sim.c: the simulator's engine: the virtual clock and its event queue,
 * the simulated network and disk, and the per-node driver that runs the
 * core's Ready loop (send what may go at once, write, fsync, then send what
 * had to wait, apply, advance). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum sim_event_type {
    EV_TICK = 1,
    EV_DELIVER = 2,
    EV_FSYNC = 3
};

struct sim_event {
    uint64_t time;
    uint64_t seq;
    int type;
    uint64_t node;        /* the node the event happens on         */
    uint64_t incarnation; /* of that node when the event was made   */
    struct sampan_msg msg;
};

/* ---- utilities ----------------------------------------------------------- */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "sim: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "sim: out of memory\n");
        abort();
    }
    return p;
}

uint64_t sim_hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h ? h : 1;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

uint64_t sim_rand(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sim_rand_range(struct sim *s, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) {
        return lo;
    }
    return lo + sim_rand(s) % (hi - lo);
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int off = snprintf(s->fail_msg, sizeof(s->fail_msg),
                       "t=%.3fms: ", (double)s->now / SIM_MS);
    if (off < 0) {
        off = 0;
    }
    vsnprintf(s->fail_msg + off, sizeof(s->fail_msg) - (size_t)off, fmt, ap);
    va_end(ap);
    if (s->trace != NULL) {
        fprintf(s->trace, "FAIL %s\n", s->fail_msg);
    }
    if (s->fail_jmp != NULL) {
        longjmp(*s->fail_jmp, 1);
    }
    fprintf(stderr, "sim: %s\n", s->fail_msg);
    abort();
}

/* ---- messages -------------------------------------------------------------
 */

uint64_t sim_msg_wire_size(const struct sampan_msg *m)
{
    /* A fixed 64-byte header, and per entry 24 bytes of framing (term,
     * index, type, length) plus the payload. */
    uint64_t size = 64 + m->len;
    for (size_t i = 0; i < m->n_entries; i++) {
        size += 24 + m->entries[i].len;
    }
    return size;
}

static void msg_copy(struct sampan_msg *dst, const struct sampan_msg *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->data = NULL;
    if (src->len > 0) {
        dst->data = xcalloc(1, src->len);
        memcpy(dst->data, src->data, src->len);
    }
    if (src->n_entries == 0) {
        return;
    }
    dst->entries = xcalloc(src->n_entries, sizeof(struct sampan_entry));
    for (size_t i = 0; i < src->n_entries; i++) {
        dst->entries[i] = src->entries[i];
        if (src->entries[i].len > 0) {
            dst->entries[i].data = xcalloc(1, src->entries[i].len);
            memcpy(dst->entries[i].data, src->entries[i].data,
                   src->entries[i].len);
        }
    }
}

static void msg_free(struct sampan_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        free(m->entries[i].data);
    }
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
    free(m->data);
    m->data = NULL;
}

static bool is_reply(uint8_t type)
{
    switch (type) {
    case SAMPAN_MSG_PREVOTE_RESP:
    case SAMPAN_MSG_VOTE_RESP:
    case SAMPAN_MSG_APPEND_RESP:
    case SAMPAN_MSG_HEARTBEAT_RESP:
    case SAMPAN_MSG_READ_INDEX_RESP:
        return true;
    default:
        return false;
    }
}

/* ---- the event queue ------------------------------------------------------
 */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct sim_event *ev)
{
    ev->seq = s->seq++;
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 256;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(ev, s->heap[parent])) {
            break;
        }
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = ev;
}

static struct sim_event *heap_pop(struct sim *s)
{
    struct sim_event *top = s->heap[0];
    struct sim_event *last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= s->heap_n) {
            break;
        }
        if (child + 1 < s->heap_n &&
            ev_before(s->heap[child + 1], s->heap[child])) {
            child++;
        }
        if (!ev_before(s->heap[child], last)) {
            break;
        }
        s->heap[i] = s->heap[child];
        i = child;
    }
    if (s->heap_n > 0) {
        s->heap[i] = last;
    }
    return top;
}

static struct sim_event *event_new(struct sim *s, int type, uint64_t node,
                                   uint64_t at)
{
    struct sim_event *ev = xcalloc(1, sizeof(*ev));
    ev->type = type;
    ev->node = node;
    ev->time = at;
    ev->incarnation = s->nodes[node].incarnation;
    return ev;
}

static void event_free(struct sim_event *ev)
{
    msg_free(&ev->msg);
    free(ev);
}

/* ---- the network ----------------------------------------------------------
 */

static bool link_up(struct sim *s, uint64_t from, uint64_t to)
{
    return s->net.connected[from] && s->net.connected[to] &&
           !s->net.cut[from][to];
}

static uint64_t net_delay(struct sim *s, uint8_t type)
{
    if (s->net.long_reordering && is_reply(type) && sim_rand(s) % 3 != 0) {
        return sim_rand_range(s, 200 * SIM_MS, 2200 * SIM_MS);
    }
    if (!s->net.reliable) {
        return sim_rand_range(s, 0, 27 * SIM_MS);
    }
    return sim_rand_range(s, 100, 1000);
}

static void net_send(struct sim *s, struct sim_node *from,
                     const struct sampan_msg *m)
{
    uint64_t size = sim_msg_wire_size(m);
    from->msgs_sent++;
    from->bytes_sent += size;
    s->msgs_total++;
    s->bytes_total += size;
    uint64_t to = m->to;
    if (to < 1 || to > (uint64_t)s->n) {
        sim_fail(s, "n%llu sent a message to unknown node %llu",
                 (unsigned long long)from->id, (unsigned long long)to);
    }
    if (!link_up(s, from->id, to)) {
        return;
    }
    if (!s->net.reliable && sim_rand(s) % 10 == 0) {
        return; /* 10% of requests and 10% of replies are lost */
    }
    int copies = 1;
    if (s->net.dup_permille > 0 && sim_rand(s) % 1000 < s->net.dup_permille) {
        copies = 2;
    }
    for (int c = 0; c < copies; c++) {
        struct sim_event *ev =
            event_new(s, EV_DELIVER, to, s->now + net_delay(s, m->type));
        msg_copy(&ev->msg, m);
        heap_push(s, ev);
    }
}

void sim_connect(struct sim *s, uint64_t id)
{
    s->net.connected[id] = true;
    if (s->trace) {
        fprintf(s->trace, "%10.3fms n%llu connected\n", (double)s->now / SIM_MS,
                (unsigned long long)id);
    }
}

void sim_disconnect(struct sim *s, uint64_t id)
{
    s->net.connected[id] = false;
    if (s->trace) {
        fprintf(s->trace, "%10.3fms n%llu disconnected\n",
                (double)s->now / SIM_MS, (unsigned long long)id);
    }
}

void sim_cut(struct sim *s, uint64_t from, uint64_t to, bool cut)
{
    s->net.cut[from][to] = cut;
    if (s->trace) {
        fprintf(s->trace, "%10.3fms link n%llu->n%llu %s\n",
                (double)s->now / SIM_MS, (unsigned long long)from,
                (unsigned long long)to, cut ? "cut" : "healed");
    }
}

void sim_partition(struct sim *s, const int *group)
{
    for (int a = 1; a <= s->n; a++) {
        for (int b = 1; b <= s->n; b++) {
            s->net.cut[a][b] = group[a] != group[b];
        }
    }
    if (s->trace) {
        fprintf(s->trace, "%10.3fms partition:", (double)s->now / SIM_MS);
        for (int a = 1; a <= s->n; a++) {
            fprintf(s->trace, " n%d:%d", a, group[a]);
        }
        fprintf(s->trace, "\n");
    }
}

void sim_heal(struct sim *s)
{
    memset(s->net.cut, 0, sizeof(s->net.cut));
    for (int a = 1; a <= s->n; a++) {
        s->net.connected[a] = true;
    }
    if (s->trace) {
        fprintf(s->trace, "%10.3fms network healed\n", (double)s->now / SIM_MS);
    }
}

void sim_set_reliable(struct sim *s, bool reliable)
{
    s->net.reliable = reliable;
}

void sim_set_long_reordering(struct sim *s, bool on)
{
    s->net.long_reordering = on;
}

/* ---- the disk -------------------------------------------------------------
 */

static void store_truncate(struct sim_store *d, uint64_t from_index)
{
    while (d->n > 0 && d->ents[d->n - 1].index >= from_index) {
        free(d->ents[d->n - 1].data);
        d->n--;
    }
}

static void store_append(struct sim_store *d, const struct sampan_entry *e)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
    }
    struct sampan_entry *c = &d->ents[d->n++];
    *c = *e;
    c->data = NULL;
    if (e->len > 0) {
        c->data = xcalloc(1, e->len);
        memcpy(c->data, e->data, e->len);
    }
}

/* Drops durable entries up to and including `index` (compaction). */
static void store_compact(struct sim_store *d, uint64_t index)
{
    size_t drop = 0;
    while (drop < d->n && d->ents[drop].index <= index) {
        free(d->ents[drop].data);
        drop++;
    }
    memmove(d->ents, d->ents + drop, (d->n - drop) * sizeof(*d->ents));
    d->n -= drop;
}

static void snapshot_clear(struct sim_snapshot *sn)
{
    free(sn->data);
    memset(sn, 0, sizeof(*sn));
}

static void store_free(struct sim_store *d)
{
    store_truncate(d, 0);
    free(d->ents);
    snapshot_clear(&d->snap);
    snapshot_clear(&d->recv);
    memset(d, 0, sizeof(*d));
}

/* Writes one received snapshot chunk into the partial snapshot file. */
static void store_write_chunk(struct sim *s, struct sim_node *nd,
                              const struct sampan_snapshot_chunk *c)
{
    struct sim_snapshot *recv = &nd->disk.recv;
    if (c->offset == 0) {
        snapshot_clear(recv); /* a new transfer replaces a partial file */
        recv->meta = c->meta;
    }
    SIM_ASSERT(s, recv->meta.index == c->meta.index && c->offset == recv->len,
               "n%llu got chunk at offset %llu of snapshot %llu while "
               "holding %zu bytes of snapshot %llu",
               (unsigned long long)nd->id, (unsigned long long)c->offset,
               (unsigned long long)c->meta.index, recv->len,
               (unsigned long long)recv->meta.index);
    recv->data = xrealloc(recv->data, recv->len + c->len);
    if (c->len > 0) {
        memcpy(recv->data + recv->len, c->data, c->len);
    }
    recv->len += c->len;
}

uint64_t sim_persisted_bytes(struct sim *s, uint64_t id)
{
    const struct sim_store *d = &s->nodes[id].disk;
    uint64_t bytes = 16; /* term + vote */
    for (size_t i = 0; i < d->n; i++) {
        bytes += 24 + d->ents[i].len;
    }
    return bytes;
}

/* ---- the node driver ------------------------------------------------------
 */

static void trace_msg(struct sim *s, const char *dir, uint64_t node,
                      const struct sampan_msg *m)
{
    if (s->trace == NULL) {
        return;
    }
    fprintf(s->trace,
            "%10.3fms n%llu %s n%llu %-13s term=%llu index=%llu "
            "log_term=%llu commit=%llu entries=%zu%s\n",
            (double)s->now / SIM_MS, (unsigned long long)node, dir,
            (unsigned long long)(dir[0] == '<' ? m->from : m->to),
            sampan_msg_type_name(m->type), (unsigned long long)m->term,
            (unsigned long long)m->index, (unsigned long long)m->log_term,
            (unsigned long long)m->commit, m->n_entries,
            m->reject ? " reject" : "");
}

static void apply_committed(struct sim *s, struct sim_node *nd,
                            const struct sampan_ready *rd)
{
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct sampan_entry *e = &rd->committed[i];
        check_applied(s, nd, e);
        if (s->snapshot_every > 0 && e->index % s->snapshot_every == 0) {
            nd->snap_wanted = e->index;
        }
    }
}

/* The state machine snapshots itself (written atomically: temp file,
 * fsync, rename) and tells the core, which frees the log it covers. */
static void take_snapshot(struct sim *s, struct sim_node *nd)
{
    if (nd->snap_wanted <= nd->disk.snap.meta.index) {
        return;
    }
    struct sim_snapshot snap;
    sim_snapshot_encode(s, nd, nd->snap_wanted, &snap);
    snap.meta.conf = s->base_cfg.members;
    snapshot_clear(&nd->disk.snap);
    nd->disk.snap = snap;
    int rv = sampan_raft_compact(nd->raft, snap.meta.index);
    SIM_ASSERT(s, rv == 0, "n%llu compact(%llu): %s",
               (unsigned long long)nd->id, (unsigned long long)snap.meta.index,
               sampan_strerror(rv));
    struct sampan_status st;
    sampan_raft_status(nd->raft, &st);
    store_compact(&nd->disk, st.first_index - 1);
    nd->snapshots_taken++;
    if (s->trace) {
        fprintf(s->trace, "%10.3fms n%llu snapshot at index %llu\n",
                (double)s->now / SIM_MS, (unsigned long long)nd->id,
                (unsigned long long)snap.meta.index);
    }
}

/* Serves reads whose read index the node has applied. */
static void serve_reads(struct sim *s, struct sim_node *nd)
{
    for (size_t i = 0; i < s->n_reads; i++) {
        struct sim_read *rd = &s->reads[i];
        if (rd->node == nd->id && rd->incarnation == nd->incarnation &&
            rd->index != 0 && !rd->served && nd->applied.last >= rd->index) {
            rd->served = true;
            rd->served_at = s->now;
            s->reads_served++;
        }
    }
}

static void note_read_states(struct sim *s, struct sim_node *nd,
                             const struct sampan_ready *rd)
{
    for (size_t i = 0; i < rd->n_read_states; i++) {
        const struct sampan_read_state *st = &rd->read_states[i];
        SIM_ASSERT(s, st->context >= 1 && st->context <= s->n_reads,
                   "n%llu answered unknown read %llu",
                   (unsigned long long)nd->id, (unsigned long long)st->context);
        struct sim_read *r = &s->reads[st->context - 1];
        SIM_ASSERT(s, r->node == nd->id, "read %llu answered on n%llu",
                   (unsigned long long)st->context, (unsigned long long)nd->id);
        if (r->incarnation != nd->incarnation) {
            continue; /* asked before a crash: the application forgot it */
        }
        /* Linearizability: the read must see every entry committed before
         * it was issued, so its read index must cover them all. */
        SIM_ASSERT(s, st->index >= r->required,
                   "stale read: n%llu answered read %llu at index %llu, but "
                   "index %llu was committed before it was issued",
                   (unsigned long long)nd->id, (unsigned long long)st->context,
                   (unsigned long long)st->index,
                   (unsigned long long)r->required);
        if (r->index == 0) {
            r->index = st->index; /* a duplicate answer is ignored */
        }
    }
}

/* The leader's core asked for bytes of its snapshot to send. */
static void read_snapshot_chunks(struct sim *s, struct sim_node *nd,
                                 const struct sampan_ready *rd)
{
    for (size_t i = 0; i < rd->n_snapshot_reads; i++) {
        const struct sampan_snapshot_read *q = &rd->snapshot_reads[i];
        const struct sim_snapshot *snap = &nd->disk.snap;
        int rv;
        if (snap->meta.index != q->index || q->offset > snap->len) {
            rv = sampan_raft_snapshot_failed(nd->raft, q->to);
        } else {
            size_t len = snap->len - (size_t)q->offset;
            if (len > q->max_len) {
                len = q->max_len;
            }
            rv = sampan_raft_snapshot_chunk(nd->raft, q->to, q->index,
                                            q->offset, snap->data + q->offset,
                                            len, q->offset + len == snap->len);
        }
        SIM_ASSERT(s, rv == 0, "n%llu snapshot chunk: %s",
                   (unsigned long long)nd->id, sampan_strerror(rv));
    }
}

static void send_all(struct sim *s, struct sim_node *nd,
                     const struct sampan_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        net_send(s, nd, &msgs[i]);
    }
}

static void pump(struct sim *s, struct sim_node *nd);

/* The fsync of the outstanding Ready completed: its writes are durable. */
static void complete_write(struct sim *s, struct sim_node *nd)
{
    struct sampan_ready *rd = &nd->rd;
    for (size_t i = 0; i < rd->n_snapshot_chunks; i++) {
        store_write_chunk(s, nd, &rd->snapshot_chunks[i]);
    }
    if (rd->has_snapshot) {
        /* The received snapshot is complete and durable: it becomes the
         * base of the log, and the state machine restores from it. */
        struct sim_snapshot *recv = &nd->disk.recv;
        SIM_ASSERT(s, recv->meta.index == rd->snapshot.index,
                   "n%llu installs snapshot %llu but received %llu",
                   (unsigned long long)nd->id,
                   (unsigned long long)rd->snapshot.index,
                   (unsigned long long)recv->meta.index);
        snapshot_clear(&nd->disk.snap);
        nd->disk.snap = *recv;
        memset(recv, 0, sizeof(*recv));
        store_truncate(&nd->disk, 0);
        check_restored(s, nd, &nd->disk.snap);
        nd->snapshots_installed++;
        if (s->trace) {
            fprintf(s->trace,
                    "%10.3fms n%llu installed snapshot index=%llu term=%llu "
                    "(%zu bytes)\n",
                    (double)s->now / SIM_MS, (unsigned long long)nd->id,
                    (unsigned long long)rd->snapshot.index,
                    (unsigned long long)rd->snapshot.term, nd->disk.snap.len);
        }
    }
    if (rd->hard_state_changed) {
        nd->disk.hs = rd->hard_state;
    }
    if (rd->n_entries > 0) {
        store_truncate(&nd->disk, rd->entries[0].index);
        for (size_t i = 0; i < rd->n_entries; i++) {
            store_append(&nd->disk, &rd->entries[i]);
        }
    }
    send_all(s, nd, rd->persisted_messages, rd->n_persisted_messages);
    apply_committed(s, nd, rd);
    note_read_states(s, nd, rd);
    int rv = sampan_raft_advance(nd->raft, rd);
    SIM_ASSERT(s, rv == 0, "n%llu advance: %s", (unsigned long long)nd->id,
               sampan_strerror(rv));
    nd->write_inflight = false;
    take_snapshot(s, nd);
    serve_reads(s, nd);
    pump(s, nd);
}

static void pump(struct sim *s, struct sim_node *nd)
{
    if (!nd->up || nd->write_inflight || !sampan_raft_has_ready(nd->raft)) {
        return;
    }
    int rv = sampan_raft_ready(nd->raft, &nd->rd);
    SIM_ASSERT(s, rv == 0, "n%llu ready: %s", (unsigned long long)nd->id,
               sampan_strerror(rv));
    struct sampan_ready *rd = &nd->rd;
    /* Messages that need nothing durable go out at once: a leader sends its
     * AppendEntries while its own write is in flight. */
    send_all(s, nd, rd->messages, rd->n_messages);
    read_snapshot_chunks(s, nd, rd);
    if (rd->has_snapshot) {
        check_restore_prefix(s, nd, rd->snapshot.index, rd->snapshot.term);
    }
    check_written(s, nd, rd->entries, rd->n_entries);
    nd->write_inflight = true;
    if (rd->hard_state_changed || rd->n_entries > 0 ||
        rd->n_snapshot_chunks > 0 || rd->has_snapshot) {
        /* The write reaches the disk's cache now; it is durable only when
         * the fsync event fires. A crash before then loses it. */
        struct sim_event *ev =
            event_new(s, EV_FSYNC, nd->id, s->now + sim_rand_range(s, 50, 300));
        heap_push(s, ev);
        return;
    }
    complete_write(s, nd);
}

static void schedule_tick(struct sim *s, struct sim_node *nd)
{
    /* Ticks fall on a per-node phase so nodes do not tick in lockstep. */
    uint64_t next = (s->now / s->tick_us + 1) * s->tick_us + nd->tick_phase;
    if (next <= s->now) {
        next += s->tick_us;
    }
    heap_push(s, event_new(s, EV_TICK, nd->id, next));
}

static void node_boot(struct sim *s, struct sim_node *nd)
{
    struct sampan_raft_config cfg = s->base_cfg;
    cfg.id = nd->id;
    cfg.seed = s->seed * 0x2545f4914f6cdd1dull + nd->incarnation * 977 + nd->id;
    /* The log on disk may keep a few entries behind the snapshot; the core
     * boots from the ones after it. */
    size_t skip = 0;
    while (skip < nd->disk.n &&
           nd->disk.ents[skip].index <= nd->disk.snap.meta.index) {
        skip++;
    }
    struct sampan_boot boot = {.hard_state = nd->disk.hs,
                               .snapshot_index = nd->disk.snap.meta.index,
                               .snapshot_term = nd->disk.snap.meta.term,
                               .snapshot_conf = nd->disk.snap.meta.conf,
                               .entries = nd->disk.ents + skip,
                               .n_entries = nd->disk.n - skip};
    int rv = sampan_raft_new(&cfg, &boot, &nd->raft);
    SIM_ASSERT(s, rv == 0, "n%llu boot: %s", (unsigned long long)nd->id,
               sampan_strerror(rv));
    nd->up = true;
    nd->write_inflight = false;
    nd->last_role = SAMPAN_FOLLOWER;
    nd->last_term = nd->disk.hs.term;
    nd->commit_seen = 0;
    free(nd->applied.hash);
    free(nd->applied.ehash);
    free(nd->applied.term);
    memset(&nd->applied, 0, sizeof(nd->applied));
    if (nd->disk.snap.meta.index > 0) {
        check_restored(s, nd, &nd->disk.snap);
    }
    check_rebuild_prefix(s, nd);
    schedule_tick(s, nd);
}

struct sim *sim_new(int n, uint64_t seed, sim_tweak_fn *tweak)
{
    if (n < 1 || n > SIM_MAX_NODES) {
        fprintf(stderr, "sim: %d nodes is out of range 1..%d\n", n,
                SIM_MAX_NODES);
        abort();
    }
    struct sim *s = xcalloc(1, sizeof(*s));
    s->seed = seed;
    s->rng = seed ^ 0x5eed5eed5eed5eedull;
    s->n = n;
    s->tick_us = 10 * SIM_MS;
    s->net.reliable = true;
    sampan_raft_config_default(&s->base_cfg);
    /* One tick is 10 ms: heartbeats every 100 ms, election timeouts
     * randomized in [300, 600) ms. */
    s->base_cfg.heartbeat_ticks = 10;
    s->base_cfg.election_ticks = 30;
    /* Small chunks, so snapshot transfers take several messages. */
    s->base_cfg.snapshot_chunk_bytes = 256;
    s->base_cfg.members.n_voters = (uint32_t)n;
    for (int i = 1; i <= n; i++) {
        s->base_cfg.members.voters[i - 1] = (uint64_t)i;
        s->net.connected[i] = true;
    }
    if (tweak != NULL) {
        tweak(&s->base_cfg);
    }
    for (int i = 1; i <= n; i++) {
        struct sim_node *nd = &s->nodes[i];
        nd->id = (uint64_t)i;
        nd->tick_phase = sim_rand_range(s, 0, s->tick_us);
        node_boot(s, nd);
    }
    return s;
}

static void node_stop(struct sim_node *nd)
{
    sampan_raft_free(nd->raft);
    nd->raft = NULL;
    nd->up = false;
    nd->write_inflight = false;
    nd->incarnation++;
}

void sim_free(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    for (int i = 1; i <= s->n; i++) {
        struct sim_node *nd = &s->nodes[i];
        node_stop(nd);
        store_free(&nd->disk);
        free(nd->prefix);
        free(nd->applied.hash);
        free(nd->applied.ehash);
        free(nd->applied.term);
    }
    while (s->heap_n > 0) {
        event_free(heap_pop(s));
    }
    if (s->current != NULL) {
        event_free(s->current);
    }
    free(s->heap);
    check_free(s);
    free(s);
}

void sim_crash(struct sim *s, uint64_t id)
{
    struct sim_node *nd = &s->nodes[id];
    if (!nd->up) {
        return;
    }
    node_stop(nd);
    if (s->trace) {
        fprintf(s->trace,
                "%10.3fms n%llu CRASH (durable: term=%llu vote=%llu "
                "last=%zu)\n",
                (double)s->now / SIM_MS, (unsigned long long)id,
                (unsigned long long)nd->disk.hs.term,
                (unsigned long long)nd->disk.hs.vote, nd->disk.n);
    }
    check_durability(s);
}

void sim_restart(struct sim *s, uint64_t id)
{
    struct sim_node *nd = &s->nodes[id];
    if (nd->up) {
        return;
    }
    node_boot(s, nd);
    if (s->trace) {
        fprintf(s->trace,
                "%10.3fms n%llu RESTART from disk (term=%llu "
                "last=%zu)\n",
                (double)s->now / SIM_MS, (unsigned long long)id,
                (unsigned long long)nd->disk.hs.term, nd->disk.n);
    }
}

/* ---- running --------------------------------------------------------------
 */

static void process(struct sim *s, struct sim_event *ev)
{
    struct sim_node *nd = &s->nodes[ev->node];
    if (!nd->up || nd->incarnation != ev->incarnation) {
        return; /* the node crashed since: its pending events are void */
    }
    s->events++;
    s->trace_hash =
        mix(mix(mix(s->trace_hash, s->now), (uint64_t)ev->type), ev->node);
    switch (ev->type) {
    case EV_TICK:
        sampan_raft_tick(nd->raft);
        schedule_tick(s, nd);
        break;
    case EV_DELIVER: {
        const struct sampan_msg *m = &ev->msg;
        if (!link_up(s, m->from, m->to)) {
            return; /* the link went down while it was in flight */
        }
        s->trace_hash =
            mix(mix(mix(s->trace_hash, m->type), m->from), m->index);
        trace_msg(s, "<-", nd->id, m);
        int rv = sampan_raft_step(nd->raft, m);
        SIM_ASSERT(s, rv == 0, "n%llu rejected a %s from n%llu: %s",
                   (unsigned long long)nd->id, sampan_msg_type_name(m->type),
                   (unsigned long long)m->from, sampan_strerror(rv));
        break;
    }
    case EV_FSYNC:
        complete_write(s, nd);
        break;
    }
    pump(s, nd);
    check_after_event(s, nd);
}

void sim_run_until(struct sim *s, uint64_t until)
{
    while (s->heap_n > 0 && s->heap[0]->time <= until) {
        struct sim_event *ev = heap_pop(s);
        s->now = ev->time;
        s->current = ev;
        process(s, ev);
        s->current = NULL;
        event_free(ev);
    }
    if (until > s->now) {
        s->now = until;
    }
}

void sim_run_for(struct sim *s, uint64_t us)
{
    sim_run_until(s, s->now + us);
}

/* ---- inspection -----------------------------------------------------------
 */

bool sim_is_leader(struct sim *s, uint64_t id)
{
    struct sampan_status st;
    if (!s->nodes[id].up) {
        return false;
    }
    sampan_raft_status(s->nodes[id].raft, &st);
    return st.role == SAMPAN_LEADER;
}

void sim_status(struct sim *s, uint64_t id, struct sampan_status *st)
{
    memset(st, 0, sizeof(*st));
    if (s->nodes[id].up) {
        sampan_raft_status(s->nodes[id].raft, st);
    }
}

int sim_propose(struct sim *s, uint64_t id, const void *data, size_t len,
                uint64_t *index)
{
    struct sim_node *nd = &s->nodes[id];
    if (!nd->up) {
        return SAMPAN_ESTATE;
    }
    int rv = sampan_raft_propose(nd->raft, data, len, index);
    if (rv == 0) {
        pump(s, nd);
        check_after_event(s, nd);
    }
    return rv;
}

/* Registers a read and hands it to the core, without running the node. */
static uint64_t read_issue(struct sim *s, struct sim_node *nd)
{
    if (s->n_reads == s->cap_reads) {
        s->cap_reads = s->cap_reads ? s->cap_reads * 2 : 64;
        s->reads = xrealloc(s->reads, s->cap_reads * sizeof(*s->reads));
    }
    uint64_t context = s->n_reads + 1;
    struct sim_read *r = &s->reads[s->n_reads];
    memset(r, 0, sizeof(*r));
    r->incarnation = nd->incarnation;
    r->required = s->committed.max;
    r->node = nd->id;
    if (sampan_raft_read_index(nd->raft, context) != 0) {
        return 0;
    }
    s->n_reads++;
    return context;
}

uint64_t sim_read_batch(struct sim *s, uint64_t id, int n)
{
    struct sim_node *nd = &s->nodes[id];
    if (!nd->up) {
        return 0;
    }
    uint64_t first = 0;
    for (int k = 0; k < n; k++) {
        uint64_t context = read_issue(s, nd);
        if (context == 0) {
            break;
        }
        first = first ? first : context;
    }
    pump(s, nd);
    check_after_event(s, nd);
    return first;
}

uint64_t sim_read(struct sim *s, uint64_t id)
{
    return sim_read_batch(s, id, 1);
}

bool sim_read_served(struct sim *s, uint64_t context, uint64_t *index)
{
    if (context < 1 || context > s->n_reads) {
        return false;
    }
    const struct sim_read *r = &s->reads[context - 1];
    if (index != NULL) {
        *index = r->index;
    }
    return r->served;
}

uint64_t sim_applied_index(struct sim *s, uint64_t id)
{
    return s->nodes[id].up ? s->nodes[id].applied.last : 0;
}

int sim_transfer(struct sim *s, uint64_t leader, uint64_t target)
{
    struct sim_node *nd = &s->nodes[leader];
    if (!nd->up) {
        return SAMPAN_ESTATE;
    }
    int rv = sampan_raft_transfer_leader(nd->raft, target);
    pump(s, nd);
    check_after_event(s, nd);
    return rv;
}

uint64_t sim_msgs_total(struct sim *s)
{
    return s->msgs_total;
}

uint64_t sim_bytes_total(struct sim *s)
{
    return s->bytes_total;
}
