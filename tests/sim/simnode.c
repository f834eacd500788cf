/* sim/simnode.c: hosts the real node driver (src/node/) on a simulated disk
 * (vfs_sim.c) for each simulated node: its io callbacks carry messages to
 * the simulated network and entries to the checked state machine, record
 * what storage acknowledged as durable, and crash, restart and wipe nodes.
 * No driver logic lives here: the Ready loop is sampan_node_process. */
#include <stdlib.h>
#include <string.h>

#include "sampan/node.h"
#include "sim.h"
#include "vfs_sim.h"

/* ---- what storage acknowledged as durable ---------------------------- */

static void durable_reserve(struct sim_durable *d, uint64_t index)
{
    if (index < d->cap) {
        return;
    }
    size_t cap = d->cap ? d->cap : 256;
    while (cap <= index) {
        cap *= 2;
    }
    uint64_t *term = realloc(d->term, cap * sizeof(*term));
    uint32_t *len = realloc(d->len, cap * sizeof(*len));
    if (term == NULL || len == NULL) {
        abort();
    }
    memset(term + d->cap, 0, (cap - d->cap) * sizeof(*term));
    memset(len + d->cap, 0, (cap - d->cap) * sizeof(*len));
    d->term = term;
    d->len = len;
    d->cap = cap;
}

static void durable_record(struct sim_durable *d, const struct sampan_ready *rd)
{
    if (rd->hard_state_changed) {
        d->hs = rd->hard_state;
    }
    if (rd->has_snapshot) {
        /* The installed snapshot replaced the whole log. */
        d->last = rd->snapshot.index;
        d->install_index = rd->snapshot.index;
        if (rd->snapshot.index > d->snap_index) {
            d->snap_index = rd->snapshot.index;
        }
    }
    for (size_t i = 0; i < rd->n_entries; i++) {
        const struct sampan_entry *e = &rd->entries[i];
        durable_reserve(d, e->index);
        d->term[e->index] = e->term;
        d->len[e->index] = e->len;
        d->last = e->index; /* a lower index replaced the suffix */
    }
}

/* After a restart the disk holds exactly what recovery found, which may
 * include writes that were never acknowledged (an unsynced batch that
 * reached the disk whole before the crash): that is the new baseline. */
static void durable_reset(struct sim_durable *d, const struct sampan_raft *r)
{
    struct sampan_status st;
    sampan_raft_status(r, &st);
    d->hs.term = st.term;
    d->hs.vote = st.vote;
    d->snap_index = st.first_index - 1;
    d->install_index = st.first_index - 1;
    d->last = st.last_index;
    d->pending = false;
    durable_reserve(d, st.last_index);
    for (uint64_t i = st.first_index; i <= st.last_index; i++) {
        const struct sampan_entry *e = sampan_raft_entry_at(r, i);
        d->term[i] = e->term;
        d->len[i] = e->len;
    }
}

static void durable_free(struct sim_durable *d)
{
    free(d->term);
    free(d->len);
    free(d->pending_term);
    free(d->pending_len);
    memset(d, 0, sizeof(*d));
}

uint64_t sim_persisted_bytes(struct sim *s, uint64_t id)
{
    const struct sim_durable *d = &s->nodes[id].durable;
    uint64_t bytes = 16; /* term and vote */
    for (uint64_t i = d->snap_index + 1; i <= d->last; i++) {
        bytes += 24 + d->len[i]; /* framing and payload, as in the WAL */
    }
    return bytes;
}

/* ---- the node's io callbacks --------------------------------------------- */

static void io_send(void *ctx, const struct sampan_msg *m)
{
    struct sim_node *nd = ctx;
    sim_net_send(nd->sim, nd, m);
}

static int io_apply(void *ctx, const struct sampan_entry *e)
{
    struct sim_node *nd = ctx;
    check_applied(nd->sim, nd, e);
    return 0;
}

static int io_snapshot(void *ctx, uint64_t index, void **data, size_t *len)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    struct sim_snapshot snap;
    sim_snapshot_encode(s, nd, index, &snap);
    *data = snap.data;
    *len = snap.len;
    nd->snapshots_taken++;
    /* Saved next by the node; if that fails the node stops, and the
     * restart check then finds the entries still in the log. */
    if (index > nd->durable.snap_index) {
        nd->durable.snap_index = index;
    }
    if (s->trace) {
        fprintf(s->trace, "%10.3fms n%llu snapshot at index %llu\n",
                (double)s->now / SIM_MS, (unsigned long long)nd->id,
                (unsigned long long)index);
    }
    return 0;
}

static int io_restore(void *ctx, const struct sampan_snapshot_meta *meta,
                      const void *data, size_t len)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    struct sim_snapshot snap = {
        .meta = *meta, .data = (uint8_t *)(uintptr_t)data, .len = len};
    check_restored(s, nd, &snap);
    if (!nd->booting) {
        nd->snapshots_installed++;
        if (s->trace) {
            fprintf(s->trace,
                    "%10.3fms n%llu installed snapshot index=%llu term=%llu "
                    "(%zu bytes)\n",
                    (double)s->now / SIM_MS, (unsigned long long)nd->id,
                    (unsigned long long)meta->index,
                    (unsigned long long)meta->term, len);
        }
    }
    return 0;
}

static void io_read_ready(void *ctx, uint64_t context, uint64_t index)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    SIM_ASSERT(s, context >= 1 && context <= s->n_reads,
               "n%llu answered unknown read %llu", (unsigned long long)nd->id,
               (unsigned long long)context);
    struct sim_read *r = &s->reads[context - 1];
    SIM_ASSERT(s, r->node == nd->id, "read %llu answered on n%llu",
               (unsigned long long)context, (unsigned long long)nd->id);
    if (r->incarnation != nd->incarnation || r->served) {
        return; /* asked before a crash, or a duplicate answer */
    }
    /* Linearizability: the read must see every entry committed before it
     * was issued, so its read index must cover them all. */
    SIM_ASSERT(s, index >= r->required,
               "stale read: n%llu answered read %llu at index %llu, but "
               "index %llu was committed before it was issued",
               (unsigned long long)nd->id, (unsigned long long)context,
               (unsigned long long)index, (unsigned long long)r->required);
    SIM_ASSERT(s, nd->applied.last >= index,
               "n%llu served read %llu at %llu before applying it",
               (unsigned long long)nd->id, (unsigned long long)context,
               (unsigned long long)index);
    r->index = index;
    r->served = true;
    r->served_at = s->now;
    s->reads_served++;
}

/* Remembers the batch about to be written, until it is acknowledged. */
static void durable_pending(struct sim_durable *d,
                            const struct sampan_ready *rd)
{
    d->pending = true;
    d->pending_rd = *rd;
    d->pending_n = rd->n_entries;
    d->pending_first = rd->n_entries ? rd->entries[0].index : 0;
    d->pending_term = realloc(d->pending_term, (rd->n_entries + 1) * 8);
    d->pending_len = realloc(d->pending_len, (rd->n_entries + 1) * 4);
    if (d->pending_term == NULL || d->pending_len == NULL) {
        abort();
    }
    for (size_t k = 0; k < rd->n_entries; k++) {
        d->pending_term[k] = rd->entries[k].term;
        d->pending_len[k] = rd->entries[k].len;
    }
}

static void io_observe(void *ctx, const struct sampan_ready *rd)
{
    struct sim_node *nd = ctx;
    durable_pending(&nd->durable, rd);
    if (rd->has_snapshot) {
        check_restore_prefix(nd->sim, nd, rd->snapshot.index,
                             rd->snapshot.term);
    }
    check_written(nd->sim, nd, rd->entries, rd->n_entries);
}

static void io_persisted(void *ctx, const struct sampan_ready *rd)
{
    struct sim_node *nd = ctx;
    durable_record(&nd->durable, rd);
    nd->durable.pending = false;
}

/* As the server: the write runs on the side and the node goes on, or it
 * runs at once (no latency configured) and the node is told it already
 * ran, as when the server's wait for it succeeds. */
static int io_submit_write(void *ctx)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    if (s->write_latency_max_us == 0 && nd->write_stall_until <= s->now) {
        sampan_node_write_run(nd->node);
        return 1;
    }
    sim_schedule_write(s, nd);
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int boot(struct sim *s, struct sim_node *nd)
{
    struct sampan_node_config cfg = {.raft = s->base_cfg};
    cfg.raft.id = nd->id;
    if (nd->joining) {
        /* Added after the start: it learns its configuration from the
         * leader (thesis 4.1), and keeps booting that way. */
        memset(&cfg.raft.members, 0, sizeof(cfg.raft.members));
    }
    cfg.raft.seed =
        s->seed * 0x2545f4914f6cdd1dull + nd->incarnation * 977 + nd->id;
    sampan_storage_config_default(&cfg.storage);
    cfg.storage.segment_bytes = s->segment_bytes;
    cfg.snapshot_every = s->snapshot_every;
    struct sampan_node_io io = {.ctx = nd,
                                .send = io_send,
                                .apply = io_apply,
                                .snapshot = io_snapshot,
                                .restore = io_restore,
                                .read_ready = io_read_ready,
                                .observe = io_observe,
                                .persisted = io_persisted,
                                .submit_write = io_submit_write};
    free(nd->applied.hash);
    free(nd->applied.ehash);
    free(nd->applied.term);
    memset(&nd->applied, 0, sizeof(nd->applied));
    struct sampan_vfs vfs = vfs_sim_vfs(nd->disk);
    nd->booting = true;
    int rv = sampan_node_open(&cfg, &vfs, &io, &nd->node, nd->stop_reason,
                              sizeof(nd->stop_reason));
    nd->booting = false;
    if (rv != 0) {
        nd->node = NULL;
        if (s->trace) {
            fprintf(s->trace, "%10.3fms n%llu refuses to start: %s\n",
                    (double)s->now / SIM_MS, (unsigned long long)nd->id,
                    nd->stop_reason);
        }
        return rv;
    }
    nd->raft = sampan_node_raft(nd->node);
    nd->up = true;
    const char *repaired = sampan_node_repaired(nd->node);
    if (repaired[0] != '\0') {
        nd->repairs++;
        snprintf(nd->repaired, sizeof(nd->repaired), "%s", repaired);
        if (s->trace) {
            fprintf(s->trace, "%10.3fms n%llu recovery: %s\n",
                    (double)s->now / SIM_MS, (unsigned long long)nd->id,
                    repaired);
        }
    }
    nd->stop_reason[0] = '\0';
    nd->last_role = SAMPAN_FOLLOWER;
    nd->commit_seen = 0;
    struct sampan_status st;
    sampan_raft_status(nd->raft, &st);
    nd->last_term = st.term;
    check_recovered(s, nd);
    durable_reset(&nd->durable, nd->raft);
    check_rebuild_prefix(s, nd);
    sim_schedule_tick(s, nd);
    return 0;
}

void simnode_boot(struct sim *s, struct sim_node *nd)
{
    nd->sim = s;
    nd->disk = vfs_sim_new();
    int rv = boot(s, nd);
    SIM_ASSERT(s, rv == 0, "n%llu failed to boot on an empty disk: %s",
               (unsigned long long)nd->id, nd->stop_reason);
}

void simnode_stop(struct sim_node *nd)
{
    sampan_node_close(nd->node);
    nd->node = NULL;
    nd->raft = NULL;
    nd->up = false;
    nd->process_pending = false;
    nd->incarnation++;
}

void simnode_free(struct sim_node *nd)
{
    simnode_stop(nd);
    vfs_sim_free(nd->disk);
    nd->disk = NULL;
    durable_free(&nd->durable);
    free(nd->prefix);
    free(nd->applied.hash);
    free(nd->applied.ehash);
    free(nd->applied.term);
}

void simnode_process(struct sim *s, struct sim_node *nd, int input_rv,
                     const char *what)
{
    if (!nd->up) {
        return;
    }
    sampan_node_set_snapshot_every(nd->node, s->snapshot_every);
    int rv = sampan_node_process(nd->node);
    if (rv == 0 && input_rv == SAMPAN_ESTOPPED) {
        rv = SAMPAN_ESTOPPED;
    }
    if (rv == SAMPAN_ESTOPPED) {
        /* Fail-stop: the process exits; what it had not synced is lost as
         * in a crash. An operator (the scenario) restarts it. */
        snprintf(nd->stop_reason, sizeof(nd->stop_reason), "%s",
                 sampan_node_stop_reason(nd->node));
        nd->fail_stops++;
        if (s->trace) {
            fprintf(s->trace, "%10.3fms n%llu FAIL-STOP (%s): %s\n",
                    (double)s->now / SIM_MS, (unsigned long long)nd->id, what,
                    nd->stop_reason);
        }
        sim_crash(s, nd->id);
        return;
    }
    SIM_ASSERT(s, rv == 0, "n%llu %s: %s", (unsigned long long)nd->id, what,
               sampan_strerror(rv));
    if (vfs_sim_powered_off(nd->disk)) {
        /* The machine lost power mid-operation, even if the node had not
         * noticed yet: it is down. */
        sim_crash(s, nd->id);
        return;
    }
    check_after_event(s, nd);
}

void sim_crash(struct sim *s, uint64_t id)
{
    struct sim_node *nd = &s->nodes[id];
    if (!nd->up) {
        return;
    }
    simnode_stop(nd);
    vfs_sim_crash(nd->disk, s->tear_on_crash, &s->rng);
    if (s->trace) {
        fprintf(s->trace,
                "%10.3fms n%llu CRASH (durable: term=%llu vote=%llu "
                "last=%llu)\n",
                (double)s->now / SIM_MS, (unsigned long long)id,
                (unsigned long long)nd->durable.hs.term,
                (unsigned long long)nd->durable.hs.vote,
                (unsigned long long)nd->durable.last);
    }
    check_durability(s);
}

int sim_restart(struct sim *s, uint64_t id)
{
    struct sim_node *nd = &s->nodes[id];
    if (nd->up || nd->retired) {
        return 0; /* running, or gone for good */
    }
    int rv = boot(s, nd);
    if (rv == 0 && s->trace) {
        struct sampan_status st;
        sampan_raft_status(nd->raft, &st);
        fprintf(s->trace,
                "%10.3fms n%llu RESTART from disk (term=%llu snapshot=%llu "
                "last=%llu)\n",
                (double)s->now / SIM_MS, (unsigned long long)id,
                (unsigned long long)st.term,
                (unsigned long long)(st.first_index - 1),
                (unsigned long long)st.last_index);
    }
    return rv;
}

uint64_t sim_add_node(struct sim *s)
{
    SIM_ASSERT(s, s->n < SIM_MAX_NODES, "no id left for a new node (%d)",
               SIM_MAX_NODES);
    uint64_t id = (uint64_t)++s->n;
    struct sim_node *nd = &s->nodes[id];
    nd->id = id;
    nd->joining = true;
    nd->tick_phase = sim_rand_range(s, 0, s->tick_us);
    s->net.connected[id] = true;
    for (int other = 1; other <= s->n; other++) {
        s->net.cut[id][other] = s->net.cut[other][id] = false;
    }
    if (s->trace) {
        fprintf(s->trace, "%10.3fms n%llu added (empty configuration)\n",
                (double)s->now / SIM_MS, (unsigned long long)id);
    }
    simnode_boot(s, nd);
    return id;
}

int sim_change(struct sim *s, uint64_t leader,
               const struct sampan_conf_change *changes, size_t n,
               uint64_t *index)
{
    struct sim_node *nd = &s->nodes[leader];
    if (!nd->up) {
        return SAMPAN_ESTATE;
    }
    int rv = sampan_node_change_membership(nd->node, changes, n, index);
    if (s->trace) {
        fprintf(s->trace,
                "%10.3fms n%llu membership change:", (double)s->now / SIM_MS,
                (unsigned long long)leader);
        static const char *const names[] = {"?", "add-voter", "add-learner",
                                            "remove"};
        for (size_t i = 0; i < n; i++) {
            fprintf(s->trace, " %s n%llu",
                    names[changes[i].type <= 3 ? changes[i].type : 0],
                    (unsigned long long)changes[i].id);
        }
        fprintf(s->trace, " -> %s\n", rv == 0 ? "ok" : sampan_strerror(rv));
    }
    simnode_process(s, nd, rv == SAMPAN_ESTOPPED ? rv : 0, "change");
    return rv;
}

void sim_retire(struct sim *s, uint64_t id)
{
    struct sim_node *nd = &s->nodes[id];
    if (nd->retired) {
        return;
    }
    sim_crash(s, id);
    nd->retired = true;
    if (s->trace) {
        fprintf(s->trace, "%10.3fms n%llu retired (removed from the cluster)\n",
                (double)s->now / SIM_MS, (unsigned long long)id);
    }
}

void sim_wipe(struct sim *s, uint64_t id)
{
    struct sim_node *nd = &s->nodes[id];
    SIM_ASSERT(s, !nd->up, "n%llu wiped while running", (unsigned long long)id);
    vfs_sim_free(nd->disk);
    nd->disk = vfs_sim_new();
    /* A wiped node forgot its vote: it must not vote in a term it may have
     * voted in already. Safe here because the scenario wipes only nodes it
     * then lets catch up as followers (operations.md: wipe and rejoin). */
    durable_free(&nd->durable);
}

/* ---- inputs -------------------------------------------------------------- */

int sim_propose(struct sim *s, uint64_t id, const void *data, size_t len,
                uint64_t *index)
{
    struct sim_node *nd = &s->nodes[id];
    if (!nd->up) {
        return SAMPAN_ESTATE;
    }
    int rv = sampan_node_propose(nd->node, data, len, index);
    sim_schedule_process(s, nd);
    return rv;
}

/* Registers a read and hands it to the node, without running its loop. */
static uint64_t read_issue(struct sim *s, struct sim_node *nd)
{
    if (s->n_reads == s->cap_reads) {
        s->cap_reads = s->cap_reads ? s->cap_reads * 2 : 64;
        s->reads = realloc(s->reads, s->cap_reads * sizeof(*s->reads));
        if (s->reads == NULL) {
            abort();
        }
    }
    uint64_t context = s->n_reads + 1;
    struct sim_read *r = &s->reads[s->n_reads];
    memset(r, 0, sizeof(*r));
    r->incarnation = nd->incarnation;
    r->required = s->committed.max;
    r->node = nd->id;
    if (sampan_node_read_index(nd->node, context) != 0) {
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
    simnode_process(s, nd, 0, "read");
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
    int rv = sampan_node_transfer_leader(nd->node, target);
    simnode_process(s, nd, rv == SAMPAN_ESTOPPED ? rv : 0, "transfer");
    return rv;
}
