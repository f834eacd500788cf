/* kv/kv.h: the replicated key/value state machine: applies committed log
 * entries (write commands encoded by kv/command.h) to the key space,
 * serves linearizable reads against the applied state, keeps client
 * sessions for exactly-once retries, and takes and restores snapshots.
 * docs/architecture.md (key/value state machine) explains the data structure,
 * the session rules and the snapshot format.
 *
 * Determinism: everything kv_apply does is a function of the entries
 * applied (and of the snapshot restored before them), never of the
 * configuration's seed, the clock or memory addresses; so every node
 * produces the same replies and byte-identical snapshots. max_sessions
 * and session_expiry_entries decide which sessions survive and must be the
 * same on every node of a cluster.
 *
 * Threads: a struct kv belongs to one thread (the node's). A snapshot
 * handle from kv_snapshot_begin may be written and freed on any thread
 * while that thread keeps applying entries. */
#ifndef SAMPAN_KV_KV_H
#define SAMPAN_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/command.h"
#include "sampan/raft.h"

/* A reply, which the server turns into RESP. */
enum kv_result_type {
    KV_R_NONE = 0,  /* nothing to reply (NOOP or empty entry)          */
    KV_R_OK = 1,    /* +OK                                              */
    KV_R_INT = 2,   /* :i                                               */
    KV_R_BULK = 3,  /* $len str                                         */
    KV_R_NULL = 4,  /* $-1 (null bulk)                                  */
    KV_R_ARRAY = 5, /* *n elems                                         */
    KV_R_ERROR = 6, /* -str (str is the whole message, "ERR ...")       */
};

/* str (BULK, ERROR: len bytes plus a NUL) and elems (ARRAY: n results)
 * are malloc'd and owned by the result: kv_result_free releases them. A
 * zeroed kv_result is KV_R_NONE and may be freed. */
struct kv_result {
    enum kv_result_type type;
    int64_t i;
    uint8_t *str;
    size_t len;
    struct kv_result *elems;
    size_t n;
};

void kv_result_free(struct kv_result *r);

struct kv_config {
    uint32_t max_sessions;           /* default 10000; >= 1              */
    uint64_t session_expiry_entries; /* default 1,000,000; >= 1          */
    uint64_t seed; /* treap priority hash seed; any value, need not match
                    * across nodes (use a random one against hostile keys) */
};

void kv_config_default(struct kv_config *cfg);

struct kv;

/* On success *out is owned by the caller (kv_close). Errors:
 * SAMPAN_EINVAL (bad config), SAMPAN_ENOMEM. */
int kv_open(const struct kv_config *cfg, struct kv **out);
/* Frees the state machine. Open snapshot handles stay valid. */
void kv_close(struct kv *kv);

/* Applies committed entry e, which must be the one after the last applied
 * (e->index == kv_applied_index() + 1), and fills *out with the reply
 * (owned by the caller; KV_R_NONE for NOOP and empty entries). A payload
 * that does not decode is applied as a no-op whose reply is the error
 * "ERR invalid command entry", on every node alike. Errors (out left
 * KV_R_NONE): SAMPAN_ESTATE (index out of order), SAMPAN_ENOMEM (the
 * entry may be half applied: the node must stop, as for any apply error). */
int kv_apply(struct kv *kv, const struct sampan_entry *e,
             struct kv_result *out);

uint64_t kv_applied_index(const struct kv *kv);
uint64_t kv_key_count(const struct kv *kv);
/* Sum of key and value bytes. */
uint64_t kv_data_bytes(const struct kv *kv);
uint32_t kv_session_count(const struct kv *kv);

/* What a command is, by name (case-insensitive). */
enum kv_kind {
    KV_KIND_UNKNOWN = 0,
    KV_KIND_READ = 1,  /* kv_read                 */
    KV_KIND_WRITE = 2, /* kv_cmd_from_argv + log  */
};
enum kv_kind kv_command_kind(const uint8_t *name, size_t len);

/* Executes a read-only command (argv[0] is its name: GET, MGET, EXISTS,
 * STRLEN, DBSIZE, SCAN, KEYS) against the applied state; for a
 * linearizable read call it once the read index is applied. Syntax and
 * arity errors are replies (KV_R_ERROR), not return codes. Errors:
 * SAMPAN_EINVAL (argc == 0 or not a read command), SAMPAN_ENOMEM. */
int kv_read(struct kv *kv, size_t argc, const struct kv_slice *argv,
            struct kv_result *out);

/* An optional exactly-once session for a write (see docs/architecture.md
 * (key/value state machine)). */
struct kv_session_id {
    uint64_t client;
    uint64_t seq;
};

/* Turns a write command (argv[0] is its name: SET, SETNX, GETSET, APPEND,
 * INCR, INCRBY, DECR, DECRBY, DEL, MSET, FLUSHALL) into a log entry
 * payload: on success returns 0 with *payload malloc'd (owned by the
 * caller) and *len set, and *reply untouched; when the command is wrong
 * (arity, syntax, EX/PX, not an integer, too big) returns 0 with
 * *payload NULL and the error in *reply (owned by the caller). session
 * may be NULL. Errors: SAMPAN_EINVAL (argc == 0 or not a write command),
 * SAMPAN_ENOMEM. */
int kv_cmd_from_argv(size_t argc, const struct kv_slice *argv,
                     const struct kv_session_id *session, uint8_t **payload,
                     size_t *len, struct kv_result *reply);

/* Snapshots. kv_snapshot_begin takes a reference to the current tree
 * (O(1)) and serializes the session table (bounded by max_sessions):
 * later writes do not change what the handle will produce. The handle is
 * owned by the caller (kv_snapshot_free) and does not depend on kv staying
 * open. Errors: SAMPAN_ENOMEM. */
struct kv_snap;
int kv_snapshot_begin(struct kv *kv, struct kv_snap **out);
/* Exact size in bytes of the serialized snapshot, and its applied index. */
uint64_t kv_snapshot_size(const struct kv_snap *s);
uint64_t kv_snapshot_index(const struct kv_snap *s);
/* Writes the next bytes into buf (cap bytes): *n gets how many; *n == 0
 * means complete. Streaming lets a background thread write a file of any
 * size with a bounded buffer. Errors: SAMPAN_ENOMEM. */
int kv_snapshot_write(struct kv_snap *s, void *buf, size_t cap, size_t *n);
/* Releases the handle and the nodes only it kept alive. Any thread. */
void kv_snapshot_free(struct kv_snap *s);
/* The whole snapshot in one malloc'd buffer (owned by the caller). */
int kv_snapshot_collect(struct kv_snap *s, void **data, size_t *len);

/* Replaces the whole state (keys, sessions, applied index) by a
 * snapshot. Everything is checked (CRC, version, lengths, key order,
 * limits, session fields); on any error the state is unchanged. Errors:
 * SAMPAN_ECORRUPT (with a static reason in *why if why is not NULL),
 * SAMPAN_ENOMEM. */
int kv_restore(struct kv *kv, const void *data, size_t len, const char **why);

/* sampan_node_io adapters; ctx is a struct kv *. kv_io_apply drops the
 * reply (a server wraps kv_apply to route replies); kv_io_snapshot fails
 * with SAMPAN_ESTATE unless index is the applied index; kv_io_restore
 * checks meta->index against the snapshot's applied index. */
int kv_io_apply(void *ctx, const struct sampan_entry *e);
int kv_io_snapshot(void *ctx, uint64_t index, void **data, size_t *len);
int kv_io_restore(void *ctx, const struct sampan_snapshot_meta *meta,
                  const void *data, size_t len);

#endif
