/* server/backup.c: the SNAPSHOT commands, which stream a consistent copy
 * of the key/value state to a client (`sampan snapshot save`):
 *
 *   SNAPSHOT BEGIN        -> [handle, index, term, conf, bytes, keys]
 *   SNAPSHOT READ handle  -> the next chunk (at most 1 MiB); "" at the end
 *   SNAPSHOT END handle   -> OK
 *
 * BEGIN takes an O(1) snapshot of the persistent key tree (kv_snapshot_begin)
 * at the node's applied index, which is a prefix of the committed log; on a
 * normal connection it first waits for a ReadIndex round, like a read, so
 * the snapshot holds every write acknowledged before BEGIN was sent
 * (READONLY connections get the local applied state at once). READ
 * serializes the next chunk on the loop (bounded work per command), so a
 * state of any size goes out without a reply over the client's limit.
 *
 * Handles are few (BACKUP_MAX_HANDLES: each keeps old tree nodes alive while
 * writes continue) and one left idle for BACKUP_IDLE_MS is freed by a sweep
 * timer, so a client that vanished mid-transfer leaks nothing. This file
 * owns the handle table (struct backup_set, hung off struct server). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

#define BACKUP_MAX_HANDLES 4u
#define BACKUP_CHUNK_BYTES (1u << 20)
#define BACKUP_IDLE_MS 30000u
#define BACKUP_SWEEP_MS 1000u

struct backup_handle {
    uint64_t id; /* 0: free slot */
    struct kv_snap *snap;
    uint64_t last_used_ms;
};

struct backup_set {
    uv_timer_t sweep;
    struct server *srv;
    struct backup_handle h[BACKUP_MAX_HANDLES];
    uint64_t next_id;
    uint8_t *chunk; /* BACKUP_CHUNK_BYTES of scratch for READ, lazily */
};

static void handle_free(struct backup_handle *h)
{
    kv_snapshot_free(h->snap);
    memset(h, 0, sizeof(*h));
}

static void sweep(uv_timer_t *t)
{
    struct backup_set *b = t->data;
    uint64_t now = server_now_ms(b->srv);
    for (size_t i = 0; i < BACKUP_MAX_HANDLES; i++) {
        struct backup_handle *h = &b->h[i];
        if (h->id != 0 && now - h->last_used_ms >= BACKUP_IDLE_MS) {
            fprintf(stderr,
                    "sampan: node %" PRIu64 ": snapshot handle %" PRIu64
                    " idle for %u s: freed\n",
                    b->srv->cfg.id, h->id, BACKUP_IDLE_MS / 1000);
            handle_free(h);
        }
    }
}

int backup_start(struct server *s)
{
    struct backup_set *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return SAMPAN_ENOMEM;
    }
    b->srv = s;
    b->next_id = 1;
    uv_timer_init(&s->loop, &b->sweep);
    b->sweep.data = b;
    uv_timer_start(&b->sweep, sweep, BACKUP_SWEEP_MS, BACKUP_SWEEP_MS);
    s->backups = b;
    return 0;
}

static void sweep_closed(uv_handle_t *t)
{
    struct backup_set *b = t->data;
    free(b->chunk);
    free(b);
}

void backup_stop(struct server *s)
{
    struct backup_set *b = s->backups;
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < BACKUP_MAX_HANDLES; i++) {
        if (b->h[i].id != 0) {
            handle_free(&b->h[i]);
        }
    }
    s->backups = NULL;
    uv_close((uv_handle_t *)&b->sweep, sweep_closed); /* frees b */
}

static struct backup_handle *handle_free_slot(struct backup_set *b)
{
    for (size_t i = 0; i < BACKUP_MAX_HANDLES; i++) {
        if (b->h[i].id == 0) {
            return &b->h[i];
        }
    }
    return NULL;
}

static const char *const busy_msg =
    "BUSY too many snapshot transfers at once (4); retry once one ends "
    "(idle ones expire after 30 s)";

/* The snapshot itself, of the applied state now: a handle and what the
 * client needs to describe it. */
static void begin_now(struct conn *c, uint64_t slot)
{
    struct server *s = c->srv;
    struct backup_set *b = s->backups;
    struct backup_handle *h = b != NULL ? handle_free_slot(b) : NULL;
    if (h == NULL) {
        conn_reply_error(c, slot, b != NULL ? busy_msg : "ERR stopping");
        return;
    }
    const struct sampan_raft *r = sampan_node_raft(s->node);
    uint64_t index = kv_applied_index(s->kv);
    uint64_t term = 0;
    struct sampan_membership conf;
    uint8_t enc[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t enc_len = 0;
    if (index == 0) {
        conn_reply_error(c, slot, "TRYAGAIN nothing is applied yet; retry");
        return;
    }
    /* The applied index is at or past the newest snapshot, so the core
     * still knows its term and configuration. */
    int rv = sampan_raft_term_at(r, index, &term);
    if (rv == 0) {
        rv = sampan_raft_conf_at(r, index, &conf);
    }
    if (rv == 0) {
        rv = sampan_membership_encode(&conf, enc, sizeof(enc), &enc_len);
    }
    if (rv != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "ERR internal: term or configuration at applied index "
                 "%" PRIu64 ": %s",
                 index, sampan_strerror(rv));
        conn_reply_error(c, slot, msg);
        return;
    }
    struct kv_snap *snap = NULL;
    if (kv_snapshot_begin(s->kv, &snap) != 0) {
        conn_reply_error(c, slot, "ERR out of memory");
        return;
    }
    h->id = b->next_id++;
    h->snap = snap;
    h->last_used_ms = server_now_ms(s);
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_array_header(&o, 6);
    resp_out_int(&o, (int64_t)h->id);
    resp_out_int(&o, (int64_t)index);
    resp_out_int(&o, (int64_t)term);
    resp_out_bulk(&o, enc, enc_len);
    resp_out_int(&o, (int64_t)kv_snapshot_size(snap));
    resp_out_int(&o, (int64_t)kv_key_count(s->kv));
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

void backup_read_ready(struct server *s, struct pending *p)
{
    struct conn *c = conn_find(s, p->conn_id);
    if (c != NULL) {
        begin_now(c, p->slot);
    }
    server_pending_drop(s, p);
}

/* BEGIN on a linearizable connection: a ReadIndex round first, so the
 * applied index reaches everything committed before the command arrived
 * (server.c calls backup_read_ready once it has). */
static void begin(struct conn *c, uint64_t slot)
{
    struct server *s = c->srv;
    if (c->stale_reads) {
        begin_now(c, slot);
        return;
    }
    if (s->backups == NULL || handle_free_slot(s->backups) == NULL) {
        conn_reply_error(c, slot,
                         s->backups != NULL ? busy_msg : "ERR stopping");
        return;
    }
    struct pending *p = command_read_barrier(c, NULL, slot);
    if (p != NULL) {
        p->backup = true;
    }
}

/* The handle named by argument 2, or NULL after replying why not. */
static struct backup_handle *find(struct conn *c,
                                  const struct resp_request *req, uint64_t slot)
{
    struct backup_set *b = c->srv->backups;
    int64_t id = 0;
    if (resp_arg_int64(req, 2, &id) != 0 || id <= 0) {
        conn_reply_error(c, slot,
                         "ERR snapshot handle must be a positive integer");
        return NULL;
    }
    for (size_t i = 0; b != NULL && i < BACKUP_MAX_HANDLES; i++) {
        if (b->h[i].id == (uint64_t)id) {
            b->h[i].last_used_ms = server_now_ms(c->srv);
            return &b->h[i];
        }
    }
    conn_reply_error(c, slot,
                     "ERR no such snapshot handle (ended, or idle for 30 s "
                     "and freed)");
    return NULL;
}

static void read_chunk(struct conn *c, struct backup_handle *h, uint64_t slot)
{
    struct backup_set *b = c->srv->backups;
    if (b->chunk == NULL && (b->chunk = malloc(BACKUP_CHUNK_BYTES)) == NULL) {
        conn_reply_error(c, slot, "ERR out of memory");
        return;
    }
    size_t n = 0;
    if (kv_snapshot_write(h->snap, b->chunk, BACKUP_CHUNK_BYTES, &n) != 0) {
        handle_free(h); /* its stream is broken: a retry must BEGIN anew */
        conn_reply_error(c, slot, "ERR out of memory");
        return;
    }
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_bulk(&o, b->chunk, n);
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

void backup_command(struct conn *c, const struct resp_request *req,
                    uint64_t slot)
{
    bool begin_cmd = req->argc == 2 && resp_arg_is(req, 1, "BEGIN");
    bool read_cmd = req->argc == 3 && resp_arg_is(req, 1, "READ");
    bool end_cmd = req->argc == 3 && resp_arg_is(req, 1, "END");
    if (begin_cmd) {
        begin(c, slot);
        return;
    }
    if (!read_cmd && !end_cmd) {
        conn_reply_error(c, slot,
                         "ERR SNAPSHOT takes BEGIN, READ <handle> or END "
                         "<handle>");
        return;
    }
    struct backup_handle *h = find(c, req, slot);
    if (h == NULL) {
        return;
    }
    if (read_cmd) {
        read_chunk(c, h, slot);
        return;
    }
    handle_free(h);
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_simple(&o, "OK");
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}
