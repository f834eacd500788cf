/* server/server.c: the server's loop: the node driver against the data
 * directory, the transport to the other nodes, ticks, the key/value state
 * machine applying committed entries, requests waiting for the log (and
 * their timeouts), and a graceful stop on SIGINT/SIGTERM. Client
 * connections live in conn.c, commands in commands.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/le.h"
#include "server/internal.h"

void server_config_default(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = 1;
    cfg->cluster_id = 1;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "sampan-data");
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 7379;
    snprintf(cfg->peer_host, sizeof(cfg->peer_host), "127.0.0.1");
    cfg->peer_port = 17379;
    cfg->tick_ms = 10;
    cfg->election_ms = 1000;
    cfg->heartbeat_ms = 100;
    cfg->snapshot_every = 10000;
    cfg->request_timeout_ms = 5000;
    cfg->max_clients = 10000;
    cfg->max_pending = 65536;
    cfg->max_pipeline = 1024;
    cfg->promote_lag_entries = 100;
    cfg->write_wait_ms = SERVER_WAIT_ONE_TICK;
}

uint64_t server_now_ms(struct server *s)
{
    return uv_now(&s->loop);
}

/* ---- requests waiting for the log --------------------------------------- */

struct pending *server_pending_new(struct server *s, struct conn *c,
                                   uint64_t slot, bool is_read)
{
    uint64_t id = s->next_id;
    struct pending *p = &s->pending[id % s->cfg.max_pending];
    if (p->id != 0) {
        return NULL; /* as many requests in flight as the bound allows */
    }
    s->next_id++;
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->conn_id = c->id;
    p->slot = slot;
    p->is_read = is_read;
    p->deadline_ms = server_now_ms(s) + s->cfg.request_timeout_ms;
    return p;
}

void server_pending_drop(struct server *s, struct pending *p)
{
    if (p->counted) {
        struct conn *c = conn_find(s, p->conn_id);
        if (c != NULL) {
            conn_request_done(c, p->is_read);
        }
    }
    free(p->argv);
    free(p->argbuf);
    memset(p, 0, sizeof(*p));
}

static struct pending *pending_find(struct server *s, uint64_t id)
{
    struct pending *p = &s->pending[id % s->cfg.max_pending];
    return p->id == id && id != 0 ? p : NULL;
}

/* Requests older than their deadline: the outcome is unknown (a write may
 * yet be applied, or was lost with a deposed leader): say so, never claim
 * success or failure. Deadlines grow with ids, so expire from the oldest. */
static void expire(uv_timer_t *timer)
{
    struct server *s = timer->data;
    uint64_t now = server_now_ms(s);
    while (s->oldest_id < s->next_id) {
        struct pending *p = &s->pending[s->oldest_id % s->cfg.max_pending];
        if (p->id == s->oldest_id) {
            if (p->deadline_ms > now) {
                break;
            }
            struct conn *c = conn_find(s, p->conn_id);
            if (c != NULL) {
                conn_reply_error(c, p->slot,
                                 "TIMEOUT the outcome of the command is "
                                 "unknown (no leader reached it in time)");
            }
            s->timeouts++;
            server_pending_drop(s, p);
        }
        s->oldest_id++;
    }
}

int server_propose(struct server *s, uint64_t id, const uint8_t *payload,
                   size_t len)
{
    uint8_t *buf = malloc(ENVELOPE_BYTES + len);
    if (buf == NULL) {
        return SAMPAN_ENOMEM;
    }
    buf[0] = ENVELOPE_VERSION;
    put64(buf + 1, s->cfg.id);
    put64(buf + 9, id);
    memcpy(buf + ENVELOPE_BYTES, payload, len);
    int rv = sampan_node_propose(s->node, buf, ENVELOPE_BYTES + len, NULL);
    free(buf);
    return rv;
}

/* ---- the node's io --------------------------------------------------------
 */

static void io_send(void *ctx, const struct sampan_msg *m)
{
    struct server *s = ctx;
    /* A full queue or unknown peer drops the message: Raft resends. Once
     * stopping, the transport is gone while a last write finishes. */
    if (s->transport != NULL) {
        sampan_transport_send(s->transport, m);
    }
}

static int io_apply(void *ctx, const struct sampan_entry *e)
{
    struct server *s = ctx;
    struct sampan_entry inner = *e;
    uint64_t origin = 0;
    uint64_t id = 0;
    if (members_apply(s, e)) {
        inner.data = NULL; /* a membership request: nothing for the kv */
        inner.len = 0;
    } else if (e->type == SAMPAN_ENTRY_NORMAL && e->len > 0) {
        if (e->len >= ENVELOPE_BYTES && e->data[0] == ENVELOPE_VERSION) {
            origin = get64(e->data + 1);
            id = get64(e->data + 9);
            inner.data =
                e->len > ENVELOPE_BYTES ? e->data + ENVELOPE_BYTES : NULL;
            inner.len = e->len - ENVELOPE_BYTES;
        } else {
            /* Not ours to read: applied as an empty entry everywhere. */
            inner.data = NULL;
            inner.len = 0;
        }
    }
    s->log_bytes_since_snapshot += e->len;
    struct kv_result r;
    memset(&r, 0, sizeof(r));
    int rv = kv_apply(s->kv, &inner, &r);
    if (rv != 0) {
        return rv; /* out of order or out of memory: the node stops */
    }
    struct pending *p = origin == s->cfg.id ? pending_find(s, id) : NULL;
    if (p != NULL && !p->is_read) {
        struct conn *c = conn_find(s, p->conn_id);
        if (c != NULL) {
            struct resp_out o;
            resp_out_init(&o, 0);
            command_result(&o, &r);
            conn_reply(c, p->slot, &o);
            resp_out_free(&o);
        }
        server_pending_drop(s, p);
    }
    kv_result_free(&r);
    return 0;
}

static int io_snapshot(void *ctx, uint64_t index, void **data, size_t *len)
{
    struct server *s = ctx;
    return kv_io_snapshot(s->kv, index, data, len);
}

static int io_restore(void *ctx, const struct sampan_snapshot_meta *meta,
                      const void *data, size_t len)
{
    struct server *s = ctx;
    return kv_io_restore(s->kv, meta, data, len);
}

static void io_read_ready(void *ctx, uint64_t context, uint64_t index)
{
    (void)index; /* the node calls once the state machine has applied it */
    struct server *s = ctx;
    struct pending *p = pending_find(s, context);
    if (p == NULL || !p->is_read) {
        return; /* timed out meanwhile */
    }
    if (p->backup) {
        backup_read_ready(s, p);
        return;
    }
    if (p->member) {
        members_read_ready(s, p);
        return;
    }
    struct conn *c = conn_find(s, p->conn_id);
    if (c != NULL) {
        struct kv_result r;
        memset(&r, 0, sizeof(r));
        struct resp_out o;
        resp_out_init(&o, 0);
        if (kv_read(s->kv, p->argc, p->argv, &r) == 0) {
            command_result(&o, &r);
        } else {
            resp_out_error(&o, "ERR out of memory");
        }
        conn_reply(c, p->slot, &o);
        resp_out_free(&o);
        kv_result_free(&r);
    }
    server_pending_drop(s, p);
}

static void transport_recv(void *ctx, const struct sampan_msg *m)
{
    struct server *s = ctx;
    int rv = sampan_node_step(s->node, m);
    if (rv != 0 && rv != SAMPAN_ESTOPPED) {
        fprintf(stderr,
                "sampan: node %" PRIu64 ": dropped a %s from %" PRIu64 ": %s\n",
                s->cfg.id, sampan_msg_type_name(m->type), m->from,
                sampan_strerror(rv));
    }
}

static void transport_log(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "sampan: %s\n", line);
}

/* ---- snapshots, written off the loop ---- */

/* A snapshot of the key space taken at one applied index (O(1): the state
 * machine's tree is persistent) and streamed to its file by a libuv worker
 * thread, while the loop keeps applying writes. Then the node commits the
 * file and compacts its log, back on the loop. */
struct snap_job {
    uv_work_t req;
    struct server *srv;
    struct kv_snap *snap;
    struct sampan_snapshot_meta meta;
    struct sampan_snapshot_writer *w;
    int rv;
};

#define SNAPSHOT_WRITE_CHUNK (1u << 20)

static void snapshot_work(uv_work_t *req)
{
    struct snap_job *job = req->data;
    uint8_t *buf = malloc(SNAPSHOT_WRITE_CHUNK);
    job->rv = buf == NULL ? SAMPAN_ENOMEM : 0;
    while (job->rv == 0) {
        size_t n = 0;
        job->rv = kv_snapshot_write(job->snap, buf, SNAPSHOT_WRITE_CHUNK, &n);
        if (job->rv != 0 || n == 0) {
            break;
        }
        job->rv = sampan_snapshot_writer_append(job->w, buf, n);
    }
    if (job->rv == 0) {
        job->rv = sampan_snapshot_writer_finish(job->w);
    }
    free(buf);
}

static void stop_now(struct server *s);

/* A write the loop stopped waiting for has finished (writer.c). */
static void write_done(void *arg)
{
    struct server *s = arg;
    int rv = sampan_node_write_done(s->node);
    if (s->stopped) {
        stop_now(s); /* finish the stop the write was holding up */
        return;
    }
    if (rv == SAMPAN_ESTOPPED) {
        fprintf(stderr, "sampan: %s\n", sampan_node_stop_reason(s->node));
        s->exit_code = 1;
        stop_now(s);
    }
    /* The loop's check phase, next, runs the Ready loop again. */
}

/* The node's writes run on the write thread; the loop waits up to
 * --write-wait-ms for each before going on without it (writer.c says
 * why). */
static int submit_write(void *ctx)
{
    struct server *s = ctx;
    return writer_submit(s->writer, s->node,
                         (uint64_t)s->cfg.write_wait_ms * 1000000u);
}

static void snapshot_done(uv_work_t *req, int status)
{
    struct snap_job *job = req->data;
    struct server *s = job->srv;
    kv_snapshot_free(job->snap);
    s->snap_job = NULL;
    int rv = status != 0 ? SAMPAN_EIO : job->rv;
    if (s->node != NULL && !s->stopped) {
        if (sampan_node_snapshot_end(s->node, &job->meta, job->w, rv) ==
            SAMPAN_ESTOPPED) {
            fprintf(stderr, "sampan: %s\n", sampan_node_stop_reason(s->node));
            s->exit_code = 1;
            stop_now(s);
        } else {
            s->snapshots++;
        }
    } else {
        sampan_snapshot_writer_discard(job->w);
        if (s->stopped) {
            stop_now(s); /* finish the stop the job was holding up */
        }
    }
    free(job);
}

/* Snapshot policy: after `snapshot_every` applied entries, and once the
 * log since the last snapshot holds at least half as many bytes as the
 * state (keys and values). A snapshot rewrites the whole state, so it
 * then costs at most about twice the log it lets go, whatever the state's
 * size: with 100,000 keys a snapshot every 10,000 SETs rewrote the state
 * for every 10,000 writes (10x write amplification, 11% of a leader's
 * CPU at 43,000 SET/s). The bound on log kept in memory becomes the larger
 * of the two: snapshot_every entries, or half the state's bytes. */
static bool snapshot_due(const struct server *s, uint64_t applied)
{
    uint64_t every = s->cfg.snapshot_every;
    if (every == 0 || applied < sampan_node_snapshot_index(s->node) + every) {
        return false;
    }
    return s->log_bytes_since_snapshot >= kv_data_bytes(s->kv) / 2;
}

static void maybe_snapshot(struct server *s)
{
    uint64_t applied = kv_applied_index(s->kv);
    if (s->snap_job != NULL || s->stopping || !snapshot_due(s, applied)) {
        return;
    }
    struct snap_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return; /* retried at the next loop iteration */
    }
    job->srv = s;
    job->req.data = job;
    int rv = sampan_node_snapshot_begin(s->node, &job->meta, &job->w);
    if (rv == 0 && job->meta.index != applied) {
        rv = SAMPAN_ESTATE; /* the node and the state machine disagree */
    }
    if (rv == 0) {
        rv = kv_snapshot_begin(s->kv, &job->snap);
    }
    if (rv == 0) {
        rv = uv_queue_work(&s->loop, &job->req, snapshot_work, snapshot_done);
    }
    if (rv == 0) {
        s->log_bytes_since_snapshot = 0;
    }
    if (rv != 0) {
        if (job->snap != NULL) {
            kv_snapshot_free(job->snap);
        }
        sampan_snapshot_writer_discard(job->w);
        free(job);
        return;
    }
    s->snap_job = job;
}

/* ---- the loop -------------------------------------------------------------
 */

static void watch_leader(struct server *s);

/* Runs the node's Ready loop once per loop iteration, for everything that
 * arrived in it (one write, one fsync, one heartbeat round for reads). */
static void process(uv_check_t *check)
{
    struct server *s = check->data;
    if (s->node == NULL) {
        return;
    }
    /* A snapshot starts between writes (storage is the write's while one
     * is in flight), so before the Ready loop submits the next. */
    maybe_snapshot(s);
    int rv = sampan_node_process(s->node);
    if (rv == SAMPAN_ESTOPPED) {
        fprintf(stderr, "sampan: %s\n", sampan_node_stop_reason(s->node));
        s->exit_code = 1;
        stop_now(s);
        return;
    }
    watch_leader(s);
    members_after_process(s);
    if (s->stopping) {
        bool idle = s->oldest_id >= s->next_id;
        if (idle || server_now_ms(s) >= s->stop_deadline_ms) {
            stop_now(s);
        }
    }
}

/* The leader changed: requests that went through the old one will never
 * be answered by it. A write's outcome is unknown (the old leader may have
 * replicated it before it fell); a read never took effect and can simply be
 * retried. Answer both now, so clients retry after an election instead of
 * a whole request timeout. */
static void leader_changed(struct server *s)
{
    for (uint32_t i = 0; i < s->cfg.max_pending; i++) {
        struct pending *p = &s->pending[i];
        if (p->id == 0) {
            continue;
        }
        struct conn *c = conn_find(s, p->conn_id);
        if (c != NULL) {
            conn_reply_error(c, p->slot,
                             p->is_read
                                 ? "TRYAGAIN the leader changed; retry"
                                 : "TIMEOUT the leader changed; the outcome "
                                   "of the command is unknown");
        }
        server_pending_drop(s, p);
    }
}

static void watch_leader(struct server *s)
{
    struct sampan_status st;
    sampan_raft_status(sampan_node_raft(s->node), &st);
    if (st.term != s->last_term && s->last_term != 0) {
        leader_changed(s);
    }
    s->last_term = st.term;
    s->last_leader = st.leader;
}

static void tick(uv_timer_t *timer)
{
    struct server *s = timer->data;
    if (s->node != NULL) {
        sampan_node_tick(s->node);
    }
}

static void closed_noop(uv_handle_t *h)
{
    (void)h;
}

static void transport_closed(void *arg)
{
    (void)arg;
}

/* Closes the node, and the write thread's handle, once neither the
 * snapshot job nor a write still uses it; stop_now calls it again when the
 * job it waited for is done. */
static void close_node_when_idle(struct server *s)
{
    if (s->snap_job != NULL ||
        (s->node != NULL && sampan_node_writing(s->node))) {
        return;
    }
    sampan_node_close(s->node);
    s->node = NULL;
    writer_close_handle(s->writer);
}

static void stop_now(struct server *s)
{
    if (s->stopped) {
        close_node_when_idle(s);
        return;
    }
    s->stopped = true;
    for (uint32_t i = 0; s->conns != NULL && i < s->cfg.max_clients; i++) {
        if (s->conns[i] != NULL) {
            conn_close(s->conns[i]);
        }
    }
    if (s->listener_init && !uv_is_closing((uv_handle_t *)&s->listener)) {
        uv_close((uv_handle_t *)&s->listener, closed_noop);
    }
    if (s->handles_init) {
        uv_close((uv_handle_t *)&s->ticker, closed_noop);
        uv_close((uv_handle_t *)&s->expiry, closed_noop);
        uv_close((uv_handle_t *)&s->check, closed_noop);
        uv_close((uv_handle_t *)&s->sigint, closed_noop);
        uv_close((uv_handle_t *)&s->sigterm, closed_noop);
    }
    backup_stop(s);
    if (s->transport != NULL) {
        sampan_transport_close(s->transport, transport_closed, NULL);
        s->transport = NULL;
    }
    close_node_when_idle(s);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct server *s = sig->data;
    if (s->stopping) {
        return;
    }
    fprintf(stderr, "sampan: node %" PRIu64 ": signal %d: stopping\n",
            s->cfg.id, signum);
    server_begin_stop(s);
}

void server_begin_stop(struct server *s)
{
    if (s->stopping) {
        return;
    }
    /* Stop taking clients; writes already taken get their answers (or a
     * timeout) before the process exits. */
    s->stopping = true;
    s->stop_deadline_ms = server_now_ms(s) + s->cfg.request_timeout_ms;
    if (!uv_is_closing((uv_handle_t *)&s->listener)) {
        uv_close((uv_handle_t *)&s->listener, closed_noop);
    }
}

static int start(struct server *s, char *err, size_t errlen)
{
    const struct server_config *cfg = &s->cfg;
    struct kv_config kcfg;
    kv_config_default(&kcfg);
    kcfg.seed = (uint64_t)uv_hrtime() ^ cfg->id;
    int rv = kv_open(&kcfg, &s->kv);
    if (rv != 0) {
        snprintf(err, errlen, "cannot create the key/value state: %s",
                 sampan_strerror(rv));
        return rv;
    }
    rv =
        sampan_vfs_posix_open(cfg->data_dir, true, false, &s->vfs, err, errlen);
    if (rv != 0) {
        return rv;
    }
    s->vfs_open = true;
    if (s->cfg.write_wait_ms == SERVER_WAIT_ONE_TICK) {
        s->cfg.write_wait_ms = cfg->tick_ms;
    }
    rv = writer_start(&s->loop, write_done, s, &s->writer);
    if (rv != 0) {
        snprintf(err, errlen, "cannot start the write thread: %s",
                 sampan_strerror(rv));
        return rv;
    }
    struct sampan_node_config ncfg;
    memset(&ncfg, 0, sizeof(ncfg));
    sampan_raft_config_default(&ncfg.raft);
    ncfg.raft.id = cfg->id;
    ncfg.raft.seed = uv_hrtime() ^ (cfg->id * 0x9e3779b97f4a7c15ull);
    ncfg.raft.election_ticks = cfg->election_ms / cfg->tick_ms;
    ncfg.raft.heartbeat_ticks = cfg->heartbeat_ms / cfg->tick_ms;
    ncfg.raft.max_pending_reads = cfg->max_pending;
    ncfg.raft.promote_lag_entries = cfg->promote_lag_entries;
    members_bootstrap(cfg, &ncfg.raft.members);
    sampan_storage_config_default(&ncfg.storage);
    /* Snapshots are written by the server, off the loop (maybe_snapshot). */
    ncfg.snapshot_every = 0;
    struct sampan_node_io io = {.ctx = s,
                                .send = io_send,
                                .apply = io_apply,
                                .snapshot = io_snapshot,
                                .restore = io_restore,
                                .read_ready = io_read_ready,
                                .submit_write = submit_write};
    rv = sampan_node_open(&ncfg, &s->vfs, &io, &s->node, err, errlen);
    if (rv != 0) {
        return rv;
    }
    /* What recovery repaired (a torn tail, an interrupted segment) is for
     * the operator to see: docs/operations.md lists these messages. */
    if (sampan_node_repaired(s->node)[0] != '\0') {
        fprintf(stderr, "sampan: node %" PRIu64 ": recovery: %s\n", cfg->id,
                sampan_node_repaired(s->node));
    }
    struct sampan_transport_config tcfg;
    sampan_transport_config_default(&tcfg);
    tcfg.cluster_id = cfg->cluster_id;
    tcfg.node_id = cfg->id;
    snprintf(tcfg.listen_host, sizeof(tcfg.listen_host), "%s", cfg->peer_host);
    tcfg.listen_port = cfg->peer_port;
    struct sampan_transport_io tio = {
        .ctx = s, .recv = transport_recv, .log = transport_log};
    rv = sampan_transport_start(&s->loop, &tcfg, &tio, &s->transport, err,
                                errlen);
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        if (cfg->peers[i].id != cfg->id) {
            rv = sampan_transport_set_peer(s->transport, cfg->peers[i].id,
                                           cfg->peers[i].host,
                                           cfg->peers[i].port);
            if (rv != 0) {
                snprintf(err, errlen, "peer %" PRIu64 " at %s:%u: %s",
                         cfg->peers[i].id, cfg->peers[i].host,
                         cfg->peers[i].port, sampan_strerror(rv));
                return rv;
            }
        }
    }
    rv = members_start(s, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct sockaddr_storage addr;
    if (uv_ip4_addr(cfg->listen_host, cfg->listen_port,
                    (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(cfg->listen_host, cfg->listen_port,
                    (struct sockaddr_in6 *)&addr) != 0) {
        snprintf(err, errlen, "'%s' is not an IP address", cfg->listen_host);
        return SAMPAN_EINVAL;
    }
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    s->listener_init = true;
    rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 511, conn_accept);
    }
    if (rv != 0) {
        snprintf(err, errlen, "cannot listen for clients on %s:%u: %s",
                 cfg->listen_host, cfg->listen_port, uv_strerror(rv));
        return SAMPAN_EIO;
    }
    uv_timer_init(&s->loop, &s->ticker);
    s->ticker.data = s;
    uv_timer_start(&s->ticker, tick, cfg->tick_ms, cfg->tick_ms);
    uv_timer_init(&s->loop, &s->expiry);
    s->expiry.data = s;
    uv_timer_start(&s->expiry, expire, 100, 100);
    uv_check_init(&s->loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, process);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    s->handles_init = true;
    rv = backup_start(s);
    if (rv != 0) {
        snprintf(err, errlen, "out of memory");
        return rv;
    }
    if (cfg->n_peers == 1 && !cfg->join) {
        sampan_node_campaign(s->node); /* alone: lead at once */
    }
    return 0;
}

static bool config_ok(const struct server_config *cfg, char *err, size_t errlen)
{
    bool self = false;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        self |= cfg->peers[i].id == cfg->id;
    }
    if (!self) {
        snprintf(err, errlen, "node %" PRIu64 " is not among the members",
                 cfg->id);
        return false;
    }
    if (cfg->tick_ms == 0 || cfg->heartbeat_ms < cfg->tick_ms ||
        cfg->election_ms <= cfg->heartbeat_ms) {
        snprintf(err, errlen,
                 "need 0 < tick <= heartbeat < election (got %u, %u, %u ms)",
                 cfg->tick_ms, cfg->heartbeat_ms, cfg->election_ms);
        return false;
    }
    if (cfg->write_wait_ms != SERVER_WAIT_ONE_TICK &&
        cfg->write_wait_ms >= cfg->heartbeat_ms) {
        /* Waiting that long for a slow disk would delay heartbeats. */
        snprintf(err, errlen, "need write wait < heartbeat (got %u, %u ms)",
                 cfg->write_wait_ms, cfg->heartbeat_ms);
        return false;
    }
    if (cfg->max_clients == 0 || cfg->max_pending == 0 ||
        cfg->max_pipeline == 0 || cfg->request_timeout_ms == 0) {
        snprintf(err, errlen, "limits must be positive");
        return false;
    }
    return true;
}

int server_run(const struct server_config *cfg)
{
    char err[512] = "";
    if (!config_ok(cfg, err, sizeof(err))) {
        fprintf(stderr, "sampan: %s\n", err);
        return 1;
    }
    struct server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        fprintf(stderr, "sampan: out of memory\n");
        return 1;
    }
    s->cfg = *cfg;
    s->next_id = s->oldest_id = 1;
    s->next_conn_id = 1;
    s->pending = calloc(cfg->max_pending, sizeof(*s->pending));
    s->conns = calloc(cfg->max_clients, sizeof(*s->conns));
    s->free_slots = calloc(cfg->max_clients, sizeof(*s->free_slots));
    for (uint32_t i = 0; s->free_slots != NULL && i < cfg->max_clients; i++) {
        s->free_slots[s->n_free++] = cfg->max_clients - 1 - i;
    }
    uv_loop_init(&s->loop);
    int rv = s->pending && s->conns && s->free_slots
                 ? start(s, err, sizeof(err))
                 : SAMPAN_ENOMEM;
    if (rv != 0) {
        fprintf(stderr, "sampan: node %" PRIu64 ": cannot start: %s\n", cfg->id,
                err[0] ? err : sampan_strerror(rv));
        s->exit_code = 1;
        stop_now(s);
    } else {
        fprintf(stderr,
                "sampan: node %" PRIu64 " serving clients on %s:%u, peers "
                "on %s:%u, data in %s\n",
                cfg->id, cfg->listen_host, cfg->listen_port, cfg->peer_host,
                sampan_transport_port(s->transport), cfg->data_dir);
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    writer_free(s->writer);
    if (s->kv != NULL) {
        kv_close(s->kv);
    }
    if (s->vfs_open) {
        sampan_vfs_posix_close(&s->vfs);
    }
    for (uint32_t i = 0; i < cfg->max_pending && s->pending; i++) {
        server_pending_drop(s, &s->pending[i]);
    }
    int code = s->exit_code;
    uv_loop_close(&s->loop);
    free(s->pending);
    free(s->conns);
    free(s->free_slots);
    free(s);
    return code;
}
