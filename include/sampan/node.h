/* sampan/node.h: a Raft node: the core's Ready loop run against durable
 * storage, a transport and a state machine. The same code runs in
 * `sampan serve` and in the simulator, which supplies a simulated disk (a
 * sampan_vfs), network and state machine through the same interfaces.
 *
 * The loop (sampan_node_process), for each Ready: send the messages that
 * may go at once; make the batch durable (one write and one fdatasync of
 * the log, inline or on the caller's write thread: io.submit_write); send
 * the messages that needed it; restore from an installed
 * snapshot; apply committed entries; report safe reads; advance; answer
 * the core's snapshot reads from storage; and every snapshot_every applied
 * entries save a snapshot of the state machine and compact. Any storage
 * error stops the node for good (fail-stop): a failed fsync is never
 * retried, since the kernel may have dropped the dirty pages it could not
 * write; every later call returns SAMPAN_ESTOPPED and
 * sampan_node_stop_reason() says why.
 *
 * Ownership: the node borrows the vfs and the io table (both must outlive
 * it) and copies its configuration. */
#ifndef SAMPAN_NODE_H
#define SAMPAN_NODE_H

#include "sampan/raft.h"
#include "sampan/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the node needs from its surroundings. Every pointer passed to these
 * callbacks is borrowed for the duration of the call. */
struct sampan_node_io {
    void *ctx;
    /* Hands a message to the transport (which copies what it keeps). */
    void (*send)(void *ctx, const struct sampan_msg *m);
    /* Applies one committed entry, in index order (NOOP entries too, so
     * the state machine can count indexes). Non-zero stops the node. */
    int (*apply)(void *ctx, const struct sampan_entry *e);
    /* Serializes the state machine as of the last applied index into a
     * malloc'd buffer the node takes ownership of. */
    int (*snapshot)(void *ctx, uint64_t index, void **data, size_t *len);
    /* Replaces the state machine by a snapshot's content. */
    int (*restore)(void *ctx, const struct sampan_snapshot_meta *meta,
                   const void *data, size_t len);
    /* A read (sampan_node_read_index) is safe to serve now: the state
     * machine has applied at least `index`. May be NULL. */
    void (*read_ready)(void *ctx, uint64_t context, uint64_t index);
    /* Test hooks, may be NULL: called with each Ready before its writes,
     * and once its writes are durable. */
    void (*observe)(void *ctx, const struct sampan_ready *rd);
    void (*persisted)(void *ctx, const struct sampan_ready *rd);
    /* May be NULL: each Ready's write (and fdatasync) then runs inside
     * sampan_node_process. Otherwise the node calls it when a Ready has
     * something to write, and the caller arranges for
     * sampan_node_write_run(n) to run elsewhere (a worker thread, or later
     * in simulated time), then calls sampan_node_write_done(n) on the
     * node's thread. Meanwhile the node keeps ticking, stepping and
     * sending what needs nothing durable (sampan_raft_take_messages), so
     * a slow disk never silences a leader. Returns 0 (in flight), 1 when
     * the write already ran (the caller waited for it: the node goes on
     * at once, and sampan_node_write_done is not called), or a negative
     * error: the write could not be started, and the node stops. */
    int (*submit_write)(void *ctx);
};

struct sampan_node_config {
    struct sampan_raft_config raft;
    struct sampan_storage_config storage;
    uint64_t snapshot_every; /* applied entries between snapshots; 0: never */
};

struct sampan_node;

/* Recovers the node from its storage (restoring the state machine from the
 * newest snapshot through io->restore) and creates its core. On success
 * *out is owned by the caller (sampan_node_close). Errors: those of
 * sampan_storage_open (with err naming file, offset and index),
 * SAMPAN_EINVAL (bad configuration), SAMPAN_ENOMEM. */
int sampan_node_open(const struct sampan_node_config *cfg,
                     const struct sampan_vfs *vfs,
                     const struct sampan_node_io *io, struct sampan_node **out,
                     char *err, size_t errlen);
void sampan_node_close(struct sampan_node *n);

/* Inputs. They only feed the core: call sampan_node_process() after a batch
 * of them (a server does once per event-loop iteration), so requests that
 * arrived together share one write, one fsync and one heartbeat round.
 * They return 0, the core's error for the call, or SAMPAN_ESTOPPED. */
int sampan_node_tick(struct sampan_node *n);
int sampan_node_step(struct sampan_node *n, const struct sampan_msg *m);
int sampan_node_propose(struct sampan_node *n, const void *data, size_t len,
                        uint64_t *index);
int sampan_node_read_index(struct sampan_node *n, uint64_t context);
int sampan_node_transfer_leader(struct sampan_node *n, uint64_t target);
/* sampan_raft_change_membership (changes borrowed). */
int sampan_node_change_membership(struct sampan_node *n,
                                  const struct sampan_conf_change *changes,
                                  size_t count, uint64_t *index);
/* Starts an election now (e.g. the only voter of a one-node cluster need
 * not wait an election timeout at startup). */
int sampan_node_campaign(struct sampan_node *n);

/* Changes how many applied entries pass between snapshots (0: never). */
void sampan_node_set_snapshot_every(struct sampan_node *n, uint64_t every);

/* A snapshot written outside the Ready loop (e.g. by a worker thread, so a
 * large state never stalls the node): snapshot_begin describes the state
 * machine as of the last applied index (*meta) and opens a writer for it;
 * the caller streams the state machine's serialization of exactly that
 * index through sampan_snapshot_writer_append/finish (storage.h), on any
 * thread; then snapshot_end, on the node's thread, with the writer's
 * result: it commits the file and compacts the log, or on a write error
 * stops the node (fail-stop). The writer is owned by the caller until
 * snapshot_end. Storage is never touched by two threads at once: while a
 * Ready's write is in flight snapshot_begin returns SAMPAN_EBUSY (try
 * again after sampan_node_write_done), and snapshot_end takes the writer
 * and commits it when the write is done. Errors: SAMPAN_ESTOPPED,
 * SAMPAN_ECOMPACTED (nothing new since the last snapshot), SAMPAN_EBUSY,
 * storage errors. */
int sampan_node_snapshot_begin(struct sampan_node *n,
                               struct sampan_snapshot_meta *meta,
                               struct sampan_snapshot_writer **w);
int sampan_node_snapshot_end(struct sampan_node *n,
                             const struct sampan_snapshot_meta *meta,
                             struct sampan_snapshot_writer *w, int write_rv);
/* The index of the newest snapshot saved or installed. */
uint64_t sampan_node_snapshot_index(const struct sampan_node *n);

/* Runs the Ready loop until the core has nothing more to do, or until a
 * Ready's write was handed to io->submit_write; while that write is in
 * flight, sends what may go at once and returns 0. */
int sampan_node_process(struct sampan_node *n);

/* The write of the Ready in flight (io->submit_write): on any thread, once
 * per submission. It touches only the node's storage and that Ready, both
 * left alone by every other node function until sampan_node_write_done. */
void sampan_node_write_run(struct sampan_node *n);
/* On the node's thread, after sampan_node_write_run returned: finishes
 * that Ready (sends what needed the write, applies, advances) and performs
 * a snapshot commit that waited for it. Call sampan_node_process next.
 * Returns 0, or SAMPAN_ESTOPPED when the write or the commit failed. */
int sampan_node_write_done(struct sampan_node *n);
/* True while a write is submitted and not yet done: do not close the node
 * while sampan_node_write_run may be running (a simulator that drops a
 * submitted write at a crash, never having started it, may close). */
bool sampan_node_writing(const struct sampan_node *n);

/* The core, for status and inspection (owned by the node). */
const struct sampan_raft *sampan_node_raft(const struct sampan_node *n);

/* What recovery repaired when the node opened (a torn tail truncated,
 * say), or "" (owned by the node). */
const char *sampan_node_repaired(const struct sampan_node *n);

/* NULL while running; after a fatal error, why the node stopped. */
const char *sampan_node_stop_reason(const struct sampan_node *n);

#ifdef __cplusplus
}
#endif

#endif
