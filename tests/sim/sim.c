/* sim/sim.c: the simulator's engine: the virtual clock and its event queue,
 * and the simulated network. The nodes themselves (the real node driver on
 * simulated disks) are hosted by simnode.c. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sampan/node.h"
#include "sim.h"

/* EV_PROCESS runs a node's Ready loop once for all inputs it took in the
 * same instant (as a server's event loop does per iteration). EV_WRITE is
 * a submitted write finishing (struct sim's write_latency_max_us). */
enum sim_event_type {
    EV_TICK = 1,
    EV_DELIVER = 2,
    EV_PROCESS = 3,
    EV_WRITE = 4
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

void sim_net_send(struct sim *s, struct sim_node *from,
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

/* ---- nodes ----------------------------------------------------------------
 */

void sim_trace_msg(struct sim *s, const char *dir, uint64_t node,
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

void sim_schedule_process(struct sim *s, struct sim_node *nd)
{
    if (!nd->process_pending) {
        nd->process_pending = true;
        heap_push(s, event_new(s, EV_PROCESS, nd->id, s->now));
    }
}

void sim_schedule_write(struct sim *s, struct sim_node *nd)
{
    uint64_t at = s->now + sim_rand_range(s, 0, s->write_latency_max_us + 1);
    if (at < nd->write_stall_until) {
        at = nd->write_stall_until;
    }
    heap_push(s, event_new(s, EV_WRITE, nd->id, at));
}

void sim_schedule_tick(struct sim *s, struct sim_node *nd)
{
    /* Ticks fall on a per-node phase so nodes do not tick in lockstep. */
    uint64_t next = (s->now / s->tick_us + 1) * s->tick_us + nd->tick_phase;
    if (next <= s->now) {
        next += s->tick_us;
    }
    heap_push(s, event_new(s, EV_TICK, nd->id, next));
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
    /* Small segments, so logs roll over and compaction removes files. */
    s->segment_bytes = 16 * 1024;
    s->tear_on_crash = true;
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
    s->committed_conf = s->base_cfg.members;
    for (int i = 1; i <= n; i++) {
        struct sim_node *nd = &s->nodes[i];
        nd->id = (uint64_t)i;
        nd->was_member = true;
        nd->tick_phase = sim_rand_range(s, 0, s->tick_us);
        simnode_boot(s, nd);
    }
    return s;
}

void sim_free(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    for (int i = 1; i <= s->n; i++) {
        simnode_free(&s->nodes[i]);
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

/* ---- running --------------------------------------------------------------
 */

/* Whether `id` is a voter or learner of node nd's configuration. */
static bool conf_lists(const struct sim_node *nd, uint64_t id)
{
    const struct sampan_membership *c = sampan_raft_membership(nd->raft, NULL);
    return sampan_membership_is_voter(c, id) ||
           sampan_membership_is_learner(c, id);
}

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
        sim_schedule_tick(s, nd);
        simnode_process(s, nd, sampan_node_tick(nd->node), "tick");
        break;
    case EV_PROCESS:
        nd->process_pending = false;
        simnode_process(s, nd, 0, "process");
        break;
    case EV_WRITE:
        /* Everything the write does happens now, in one go: a crash
         * before this instant found it not started at all. */
        sampan_node_write_run(nd->node);
        simnode_process(s, nd, sampan_node_write_done(nd->node), "write");
        break;
    case EV_DELIVER: {
        const struct sampan_msg *m = &ev->msg;
        if (!link_up(s, m->from, m->to)) {
            return; /* the link went down while it was in flight */
        }
        s->trace_hash =
            mix(mix(mix(s->trace_hash, m->type), m->from), m->index);
        sim_trace_msg(s, "<-", nd->id, m);
        int rv = sampan_node_step(nd->node, m);
        if (rv == SAMPAN_ENOTMEMBER && !conf_lists(nd, m->from)) {
            /* An answer, proposal or read from a node this one does not
             * count as a member (a departed member's late answer, a node
             * that does not know it was removed): ignored, as the server
             * does. From a member it would be a bug. */
            rv = 0;
        }
        SIM_ASSERT(s, rv == 0 || rv == SAMPAN_ESTOPPED,
                   "n%llu rejected a %s from n%llu: %s",
                   (unsigned long long)nd->id, sampan_msg_type_name(m->type),
                   (unsigned long long)m->from, sampan_strerror(rv));
        simnode_process(s, nd, rv, "step");
        break;
    }
    }
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

uint64_t sim_leader(struct sim *s)
{
    uint64_t leader = 0;
    uint64_t best_term = 0;
    for (int id = 1; id <= s->n; id++) {
        struct sampan_status st;
        sim_status(s, (uint64_t)id, &st);
        if (st.role == SAMPAN_LEADER && st.term >= best_term) {
            leader = (uint64_t)id;
            best_term = st.term;
        }
    }
    return leader;
}

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

uint64_t sim_msgs_total(struct sim *s)
{
    return s->msgs_total;
}

uint64_t sim_bytes_total(struct sim *s)
{
    return s->bytes_total;
}
