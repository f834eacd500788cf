/* node/node.c: the driver that runs the core's Ready loop against storage,
 * a transport and a state machine (see include/sampan/node.h for the
 * order of operations and the fail-stop rule). */
#include "sampan/node.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read that is safe once the state machine reaches `index`. */
struct pending_read {
    uint64_t context;
    uint64_t index;
};

struct sampan_node {
    struct sampan_node_config cfg;
    struct sampan_vfs vfs;
    struct sampan_node_io io;
    struct sampan_storage *storage;
    struct sampan_raft *raft;
    uint64_t applied;       /* last index the state machine applied   */
    uint64_t last_snapshot; /* index of the newest snapshot saved     */
    /* Reads whose index is not applied yet; at most max_pending_reads. */
    struct pending_read *reads;
    size_t n_reads;
    /* The Ready being worked on; with io.submit_write, the one whose write
     * is in flight while `writing` (write_rv is its result, set by
     * sampan_node_write_run on whatever thread ran it). */
    struct sampan_ready rd;
    bool writing;
    int write_rv;
    /* A snapshot commit that arrived while a write was in flight (owned). */
    struct sampan_snapshot_writer *deferred_snap;
    struct sampan_snapshot_meta deferred_meta;
    bool stopped;
    char reason[512];
    char repaired[256]; /* what recovery repaired at open */
};

/* Stops the node for good, recording why; returns SAMPAN_ESTOPPED. */
static int fail(struct sampan_node *n, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sampan_node *n, int rv, const char *fmt, ...)
{
    if (!n->stopped) {
        va_list ap;
        va_start(ap, fmt);
        int off = snprintf(n->reason, sizeof(n->reason),
                           "node %" PRIu64 " stopped: ", n->cfg.raft.id);
        if (off < 0 || (size_t)off >= sizeof(n->reason)) {
            off = 0;
        }
        vsnprintf(n->reason + off, sizeof(n->reason) - (size_t)off, fmt, ap);
        va_end(ap);
        size_t len = strlen(n->reason);
        snprintf(n->reason + len, sizeof(n->reason) - len, ": %s",
                 sampan_strerror(rv));
        n->stopped = true;
    }
    return SAMPAN_ESTOPPED;
}

int sampan_node_open(const struct sampan_node_config *cfg,
                     const struct sampan_vfs *vfs,
                     const struct sampan_node_io *io, struct sampan_node **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    if (io == NULL || io->send == NULL || io->apply == NULL ||
        io->snapshot == NULL || io->restore == NULL) {
        snprintf(err, errlen, "node: incomplete io table");
        return SAMPAN_EINVAL;
    }
    struct sampan_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(err, errlen, "node: out of memory");
        return SAMPAN_ENOMEM;
    }
    n->cfg = *cfg;
    n->vfs = *vfs;
    n->io = *io;
    n->reads =
        calloc(cfg->raft.max_pending_reads ? cfg->raft.max_pending_reads : 1,
               sizeof(*n->reads));
    struct sampan_storage_state state;
    int rv = n->reads == NULL ? SAMPAN_ENOMEM : 0;
    if (rv == 0) {
        rv = sampan_storage_open(&n->vfs, &cfg->storage, &n->storage, &state,
                                 err, errlen);
    }
    if (rv != 0) {
        sampan_node_close(n);
        return rv;
    }
    snprintf(n->repaired, sizeof(n->repaired), "%s", state.repaired);
    if (state.snapshot.index > 0) {
        /* The state machine starts from the newest snapshot; the log
         * after it is replayed by the core as it commits. */
        struct sampan_snapshot_meta meta;
        void *data = NULL;
        size_t len = 0;
        rv = sampan_storage_load_snapshot(n->storage, &meta, &data, &len);
        if (rv == 0) {
            rv = io->restore(io->ctx, &meta, data, len);
        }
        free(data);
        if (rv != 0) {
            snprintf(err, errlen,
                     "node %" PRIu64 ": restoring snapshot %" PRIu64 ": %s",
                     cfg->raft.id, state.snapshot.index, sampan_strerror(rv));
            sampan_node_close(n);
            return rv;
        }
        n->applied = n->last_snapshot = state.snapshot.index;
    }
    struct sampan_boot boot = {.hard_state = state.hard_state,
                               .snapshot_index = state.snapshot.index,
                               .snapshot_term = state.snapshot.term,
                               .snapshot_conf = state.snapshot.conf,
                               .n_entries = state.n_entries,
                               .entries = state.entries};
    rv = sampan_raft_new(&cfg->raft, &boot, &n->raft);
    sampan_storage_drop_recovered(n->storage);
    if (rv != 0) {
        snprintf(err, errlen,
                 "node %" PRIu64 ": recovered state rejected by the core "
                 "(term %" PRIu64 ", snapshot %" PRIu64 ", %zu entries): %s",
                 cfg->raft.id, state.hard_state.term, state.snapshot.index,
                 state.n_entries, sampan_strerror(rv));
        sampan_node_close(n);
        return rv;
    }
    *out = n;
    return 0;
}

void sampan_node_close(struct sampan_node *n)
{
    if (n == NULL) {
        return;
    }
    if (n->deferred_snap != NULL) {
        sampan_snapshot_writer_discard(n->deferred_snap);
    }
    sampan_raft_free(n->raft);
    sampan_storage_close(n->storage);
    free(n->reads);
    free(n);
}

int sampan_node_snapshot_begin(struct sampan_node *n,
                               struct sampan_snapshot_meta *meta,
                               struct sampan_snapshot_writer **w)
{
    *w = NULL;
    if (n->stopped) {
        return SAMPAN_ESTOPPED;
    }
    if (n->applied <= n->last_snapshot) {
        return SAMPAN_ECOMPACTED;
    }
    if (n->writing || n->deferred_snap != NULL) {
        return SAMPAN_EBUSY; /* storage is the write's until it is done */
    }
    memset(meta, 0, sizeof(*meta));
    meta->index = n->applied;
    int rv = sampan_raft_term_at(n->raft, meta->index, &meta->term);
    if (rv == 0) {
        /* The configuration in effect at that index travels with it. */
        rv = sampan_raft_conf_at(n->raft, meta->index, &meta->conf);
    }
    if (rv != 0) {
        return rv;
    }
    return sampan_storage_snapshot_create(n->storage, meta, w);
}

static int commit_snapshot(struct sampan_node *n,
                           const struct sampan_snapshot_meta *meta,
                           struct sampan_snapshot_writer *w)
{
    int rv = sampan_storage_snapshot_commit(n->storage, w);
    if (rv != 0) {
        return fail(n, rv, "saving the snapshot at index %" PRIu64,
                    meta->index);
    }
    if (meta->index > n->last_snapshot) {
        n->last_snapshot = meta->index;
    }
    /* A newer snapshot may have been installed meanwhile: then the log is
     * compacted past this one already. */
    rv = sampan_raft_compact(n->raft, meta->index);
    return rv == SAMPAN_ECOMPACTED ? 0 : rv;
}

int sampan_node_snapshot_end(struct sampan_node *n,
                             const struct sampan_snapshot_meta *meta,
                             struct sampan_snapshot_writer *w, int write_rv)
{
    if (n->stopped || write_rv != 0) {
        sampan_snapshot_writer_discard(w);
        return write_rv != 0
                   ? fail(n, write_rv, "writing the snapshot at index %" PRIu64,
                          meta->index)
                   : SAMPAN_ESTOPPED;
    }
    if (n->writing) {
        /* The commit renames files and drops WAL segments: it waits for
         * the write in flight (sampan_node_write_done). */
        if (n->deferred_snap != NULL) {
            sampan_snapshot_writer_discard(w);
            return SAMPAN_EBUSY;
        }
        n->deferred_snap = w;
        n->deferred_meta = *meta;
        return 0;
    }
    return commit_snapshot(n, meta, w);
}

uint64_t sampan_node_snapshot_index(const struct sampan_node *n)
{
    return n->last_snapshot;
}

void sampan_node_set_snapshot_every(struct sampan_node *n, uint64_t every)
{
    n->cfg.snapshot_every = every;
}

const struct sampan_raft *sampan_node_raft(const struct sampan_node *n)
{
    return n->raft;
}

const char *sampan_node_repaired(const struct sampan_node *n)
{
    return n->repaired;
}

const char *sampan_node_stop_reason(const struct sampan_node *n)
{
    return n->stopped ? n->reason : NULL;
}

static void send_all(struct sampan_node *n, const struct sampan_msg *m,
                     size_t count)
{
    for (size_t i = 0; i < count; i++) {
        n->io.send(n->io.ctx, &m[i]);
    }
}

/* Serves reads whose index the state machine has reached. */
static void release_reads(struct sampan_node *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        if (n->reads[i].index <= n->applied) {
            if (n->io.read_ready != NULL) {
                n->io.read_ready(n->io.ctx, n->reads[i].context,
                                 n->reads[i].index);
            }
        } else {
            n->reads[kept++] = n->reads[i];
        }
    }
    n->n_reads = kept;
}

static void queue_reads(struct sampan_node *n, const struct sampan_ready *rd)
{
    for (size_t i = 0; i < rd->n_read_states; i++) {
        /* The core bounds reads by max_pending_reads, so this fits; a
         * read beyond it would only be dropped (its caller times out). */
        if (n->n_reads < n->cfg.raft.max_pending_reads) {
            n->reads[n->n_reads].context = rd->read_states[i].context;
            n->reads[n->n_reads].index = rd->read_states[i].index;
            n->n_reads++;
        }
    }
    release_reads(n);
}

static bool has_writes(const struct sampan_ready *rd)
{
    return rd->hard_state_changed || rd->n_snapshot_chunks > 0 ||
           rd->has_snapshot || rd->n_entries > 0;
}

/* The Ready's durable part: one write and one fdatasync for the batch.
 * Returns the storage's result (no other node state is touched, so this
 * may run on a worker thread). */
static int write_batch(struct sampan_node *n, const struct sampan_ready *rd)
{
    struct sampan_storage_batch b = {
        .hard_state = rd->hard_state_changed ? &rd->hard_state : NULL,
        .n_chunks = rd->n_snapshot_chunks,
        .chunks = rd->snapshot_chunks,
        .install = rd->has_snapshot ? &rd->snapshot : NULL,
        .n_entries = rd->n_entries,
        .entries = rd->entries};
    return has_writes(rd) ? sampan_storage_persist(n->storage, &b) : 0;
}

/* A failed write stops the node for good (fail-stop, see node.h). */
static int write_failed(struct sampan_node *n, const struct sampan_ready *rd,
                        int rv)
{
    if (rd->n_entries > 0) {
        return fail(n, rv,
                    "persisting entries %" PRIu64 "-%" PRIu64 " (term %" PRIu64
                    ")",
                    rd->entries[0].index, rd->entries[rd->n_entries - 1].index,
                    rd->entries[rd->n_entries - 1].term);
    }
    return fail(n, rv, "persisting term/vote or snapshot");
}

static int restore_installed(struct sampan_node *n,
                             const struct sampan_ready *rd)
{
    struct sampan_snapshot_meta meta;
    void *data = NULL;
    size_t len = 0;
    int rv = sampan_storage_load_snapshot(n->storage, &meta, &data, &len);
    if (rv == 0 && meta.index != rd->snapshot.index) {
        rv = SAMPAN_ECORRUPT; /* the storage lost the snapshot it took */
    }
    if (rv == 0) {
        rv = n->io.restore(n->io.ctx, &meta, data, len);
    }
    free(data);
    if (rv != 0) {
        return fail(n, rv, "restoring installed snapshot %" PRIu64,
                    rd->snapshot.index);
    }
    n->applied = n->last_snapshot = rd->snapshot.index;
    return 0;
}

static int apply_committed(struct sampan_node *n, const struct sampan_ready *rd)
{
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct sampan_entry *e = &rd->committed[i];
        int rv = n->io.apply(n->io.ctx, e);
        if (rv != 0) {
            return fail(n, rv, "applying index %" PRIu64, e->index);
        }
        n->applied = e->index;
    }
    return 0;
}

/* The core asked for bytes of our snapshot to send to a follower. */
static int answer_snapshot_reads(struct sampan_node *n,
                                 const struct sampan_ready *rd)
{
    for (size_t i = 0; i < rd->n_snapshot_reads; i++) {
        const struct sampan_snapshot_read *q = &rd->snapshot_reads[i];
        void *buf = malloc(q->max_len ? q->max_len : 1);
        size_t got = 0;
        uint64_t total = 0;
        int rv =
            buf == NULL
                ? SAMPAN_ENOMEM
                : sampan_storage_read_snapshot(n->storage, q->index, q->offset,
                                               buf, q->max_len, &got, &total);
        if (rv == 0) {
            sampan_raft_snapshot_chunk(n->raft, q->to, q->index, q->offset, buf,
                                       got, q->offset + got >= total);
        }
        free(buf);
        if (rv == SAMPAN_ENOENT) {
            /* A newer snapshot replaced it: the core retries later from
             * the newest one. */
            sampan_raft_snapshot_failed(n->raft, q->to);
        } else if (rv != 0) {
            /* The disk failed under us: as for writes, stop. */
            return fail(n, rv,
                        "reading snapshot %" PRIu64 " at offset %" PRIu64,
                        q->index, q->offset);
        }
    }
    return 0;
}

static int maybe_snapshot(struct sampan_node *n)
{
    uint64_t every = n->cfg.snapshot_every;
    if (every == 0 || n->applied < n->last_snapshot + every) {
        return 0;
    }
    struct sampan_snapshot_meta meta = {.index = n->applied};
    int rv = sampan_raft_term_at(n->raft, meta.index, &meta.term);
    if (rv == 0) {
        rv = sampan_raft_conf_at(n->raft, meta.index, &meta.conf);
    }
    if (rv != 0) {
        return 0; /* not in the log (just restored): nothing new to save */
    }
    void *data = NULL;
    size_t len = 0;
    rv = n->io.snapshot(n->io.ctx, meta.index, &data, &len);
    if (rv == 0) {
        rv = sampan_storage_save_snapshot(n->storage, &meta, data, len);
    }
    free(data);
    if (rv != 0) {
        return fail(n, rv, "saving snapshot at index %" PRIu64, meta.index);
    }
    n->last_snapshot = meta.index;
    rv = sampan_raft_compact(n->raft, meta.index);
    return rv == SAMPAN_ECOMPACTED ? 0 : rv;
}

/* Steps 3 and 4 of a Ready whose writes are durable, then advance. */
static int finish_ready(struct sampan_node *n)
{
    struct sampan_ready *rd = &n->rd;
    int rv;
    if (n->io.persisted != NULL) {
        n->io.persisted(n->io.ctx, rd);
    }
    /* 3. Votes and acknowledgements only once durable (Figure 2). */
    send_all(n, rd->persisted_messages, rd->n_persisted_messages);
    /* 4. Restore, apply, then serve reads that became safe. */
    if (rd->has_snapshot && (rv = restore_installed(n, rd)) != 0) {
        return rv;
    }
    if ((rv = apply_committed(n, rd)) != 0) {
        return rv;
    }
    queue_reads(n, rd);
    if ((rv = answer_snapshot_reads(n, rd)) != 0) {
        return rv;
    }
    if ((rv = sampan_raft_advance(n->raft, rd)) != 0) {
        return fail(n, rv, "advancing");
    }
    memset(rd, 0, sizeof(*rd));
    release_reads(n);
    return maybe_snapshot(n);
}

/* While a write is in flight: what needs nothing durable goes now. */
static int send_in_flight(struct sampan_node *n)
{
    struct sampan_msg *msgs = NULL;
    size_t count = 0;
    int rv = sampan_raft_take_messages(n->raft, &msgs, &count);
    if (rv != 0) {
        return fail(n, rv, "collecting messages during a write");
    }
    send_all(n, msgs, count);
    sampan_raft_messages_free(msgs, count);
    return 0;
}

int sampan_node_process(struct sampan_node *n)
{
    if (n->stopped) {
        return SAMPAN_ESTOPPED;
    }
    if (n->writing) {
        return send_in_flight(n);
    }
    while (sampan_raft_has_ready(n->raft)) {
        struct sampan_ready *rd = &n->rd;
        int rv = sampan_raft_ready(n->raft, rd);
        if (rv != 0) {
            return fail(n, rv, "collecting a Ready");
        }
        if (n->io.observe != NULL) {
            n->io.observe(n->io.ctx, rd);
        }
        /* 1. What needs nothing durable goes at once: a leader's appends
         *    travel while its own write is in flight (thesis 10.2.1). */
        send_all(n, rd->messages, rd->n_messages);
        /* 2. One write and one fdatasync for the batch, here or on the
         *    caller's worker (then finished by sampan_node_write_done). */
        if (has_writes(rd) && n->io.submit_write != NULL) {
            n->writing = true;
            n->write_rv = 0;
            rv = n->io.submit_write(n->io.ctx);
            if (rv < 0) {
                n->writing = false;
                return fail(n, rv, "starting a write");
            }
            if (rv == 0) {
                return 0; /* in flight: sampan_node_write_done follows */
            }
            n->writing = false; /* it already ran */
            rv = n->write_rv;
        } else {
            rv = write_batch(n, rd);
        }
        if (rv != 0) {
            return write_failed(n, rd, rv);
        }
        if ((rv = finish_ready(n)) != 0) {
            return rv;
        }
    }
    return 0;
}

void sampan_node_write_run(struct sampan_node *n)
{
    n->write_rv = write_batch(n, &n->rd);
}

int sampan_node_write_done(struct sampan_node *n)
{
    if (!n->writing) {
        return SAMPAN_ESTATE;
    }
    n->writing = false;
    if (n->stopped) {
        return SAMPAN_ESTOPPED;
    }
    if (n->write_rv != 0) {
        return write_failed(n, &n->rd, n->write_rv);
    }
    int rv = finish_ready(n);
    if (rv == 0 && n->deferred_snap != NULL) {
        struct sampan_snapshot_writer *w = n->deferred_snap;
        n->deferred_snap = NULL;
        rv = commit_snapshot(n, &n->deferred_meta, w);
    }
    return rv;
}

bool sampan_node_writing(const struct sampan_node *n)
{
    return n->writing;
}

int sampan_node_tick(struct sampan_node *n)
{
    if (n->stopped) {
        return SAMPAN_ESTOPPED;
    }
    sampan_raft_tick(n->raft);
    return 0;
}

int sampan_node_step(struct sampan_node *n, const struct sampan_msg *m)
{
    return n->stopped ? SAMPAN_ESTOPPED : sampan_raft_step(n->raft, m);
}

int sampan_node_propose(struct sampan_node *n, const void *data, size_t len,
                        uint64_t *index)
{
    return n->stopped ? SAMPAN_ESTOPPED
                      : sampan_raft_propose(n->raft, data, len, index);
}

int sampan_node_read_index(struct sampan_node *n, uint64_t context)
{
    return n->stopped ? SAMPAN_ESTOPPED
                      : sampan_raft_read_index(n->raft, context);
}

int sampan_node_campaign(struct sampan_node *n)
{
    return n->stopped ? SAMPAN_ESTOPPED : sampan_raft_campaign(n->raft);
}

int sampan_node_transfer_leader(struct sampan_node *n, uint64_t target)
{
    return n->stopped ? SAMPAN_ESTOPPED
                      : sampan_raft_transfer_leader(n->raft, target);
}

int sampan_node_change_membership(struct sampan_node *n,
                                  const struct sampan_conf_change *changes,
                                  size_t count, uint64_t *index)
{
    return n->stopped
               ? SAMPAN_ESTOPPED
               : sampan_raft_change_membership(n->raft, changes, count, index);
}
