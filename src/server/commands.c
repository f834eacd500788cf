/* server/commands.c: what each client command does. Writes are encoded as
 * key/value commands and proposed to the log (answered when applied);
 * reads wait for a ReadIndex round and run against the applied state
 * (linearizable, on any node); the rest (PING, ECHO, SELECT, QUIT, CLIENT,
 * COMMAND, CONFIG GET, INFO) answer at once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/internal.h"

int command_result(struct resp_out *o, const struct kv_result *r)
{
    switch (r->type) {
    case KV_R_NONE:
    case KV_R_OK:
        return resp_out_simple(o, "OK");
    case KV_R_INT:
        return resp_out_int(o, r->i);
    case KV_R_BULK:
        return resp_out_bulk(o, r->str, r->len);
    case KV_R_NULL:
        return resp_out_null(o);
    case KV_R_ERROR:
        return resp_out_error(o, (const char *)r->str);
    case KV_R_ARRAY: {
        int rv = resp_out_array_header(o, r->n);
        for (size_t i = 0; rv == 0 && i < r->n; i++) {
            rv = command_result(o, &r->elems[i]);
        }
        return rv;
    }
    }
    return resp_out_error(o, "ERR internal: unknown result");
}

/* The core's refusal, as a Redis-style error a client can act on. */
static const char *refusal(int rv)
{
    switch (rv) {
    case SAMPAN_ENOLEADER:
        return "TRYAGAIN no leader is known yet; retry shortly";
    case SAMPAN_ETRANSFER:
        return "TRYAGAIN leadership is being transferred; retry shortly";
    case SAMPAN_EBUSY:
        return "BUSY too many commands awaiting the log; retry shortly";
    case SAMPAN_ETOOBIG:
        return "ERR command too large";
    case SAMPAN_ESTOPPED:
        return "ERR this node stopped after a storage error";
    default:
        return "ERR internal error";
    }
}

static void reply_simple(struct conn *c, uint64_t slot, const char *s)
{
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_simple(&o, s);
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

static void reply_bulk(struct conn *c, uint64_t slot, const void *p, size_t len)
{
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_bulk(&o, p, len);
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

static void reply_arity(struct conn *c, uint64_t slot, const char *name)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "ERR wrong number of arguments for '%s' command",
             name);
    conn_reply_error(c, slot, msg);
}

static void to_slices(const struct resp_request *req, struct kv_slice *out)
{
    for (size_t i = 0; i < req->argc; i++) {
        out[i].p = req->argv[i];
        out[i].len = req->arglen[i];
    }
}

/* A write, with `session` (may be NULL) for exactly-once: the state
 * machine applies a (client, seq) pair once and answers a retry with the
 * first result. */
static void run_write(struct conn *c, const struct resp_request *req,
                      uint64_t slot, const struct kv_session_id *session)
{
    struct server *s = c->srv;
    struct kv_slice stack[8] = {{0}};
    struct kv_slice *argv =
        req->argc <= 8 ? stack : malloc(req->argc * sizeof(*argv));
    if (argv == NULL) {
        conn_reply_error(c, slot, "ERR out of memory");
        return;
    }
    to_slices(req, argv);
    uint8_t *payload = NULL;
    size_t len = 0;
    struct kv_result err;
    memset(&err, 0, sizeof(err));
    int rv = kv_cmd_from_argv(req->argc, argv, session, &payload, &len, &err);
    if (argv != stack) {
        free(argv);
    }
    if (rv != 0 || payload == NULL) {
        struct resp_out o;
        resp_out_init(&o, 0);
        if (rv != 0) {
            resp_out_error(&o, "ERR out of memory");
        } else {
            command_result(&o, &err); /* arity, syntax, not an integer... */
        }
        conn_reply(c, slot, &o);
        resp_out_free(&o);
        kv_result_free(&err);
        return;
    }
    struct pending *p = server_pending_new(s, c, slot, false);
    if (p == NULL) {
        free(payload);
        conn_reply_error(c, slot, refusal(SAMPAN_EBUSY));
        return;
    }
    rv = server_propose(s, p->id, payload, len);
    free(payload);
    if (rv != 0) {
        server_pending_drop(s, p);
        conn_reply_error(c, slot, refusal(rv));
        return;
    }
    p->counted = true;
    c->writes_in_flight++;
    /* Otherwise answered when the entry is applied (server.c), or with a
     * timeout whose outcome is unknown. */
}

/* READONLY connections read the local applied state at once: possibly
 * stale, never torn; for clients that asked for it. */
static void run_local_read(struct conn *c, const struct resp_request *req,
                           uint64_t slot)
{
    struct kv_slice stack[8] = {{0}};
    struct kv_slice *argv =
        req->argc <= 8 ? stack : malloc(req->argc * sizeof(*argv));
    struct kv_result r;
    memset(&r, 0, sizeof(r));
    struct resp_out o;
    resp_out_init(&o, 0);
    if (argv == NULL) {
        resp_out_error(&o, "ERR out of memory");
    } else {
        to_slices(req, argv);
        if (kv_read(c->srv->kv, req->argc, argv, &r) == 0) {
            command_result(&o, &r);
        } else {
            resp_out_error(&o, "ERR out of memory");
        }
    }
    conn_reply(c, slot, &o);
    resp_out_free(&o);
    kv_result_free(&r);
    if (argv != stack) {
        free(argv);
    }
}

struct pending *command_read_barrier(struct conn *c,
                                     const struct resp_request *req,
                                     uint64_t slot)
{
    struct server *s = c->srv;
    struct pending *p = server_pending_new(s, c, slot, true);
    if (p == NULL) {
        conn_reply_error(c, slot, refusal(SAMPAN_EBUSY));
        return NULL;
    }
    /* Keep the command: it runs once the read index is applied. */
    size_t bytes = 0;
    for (size_t i = 0; req != NULL && i < req->argc; i++) {
        bytes += req->arglen[i];
    }
    if (req != NULL) {
        p->argc = req->argc;
        p->argv = malloc(req->argc * sizeof(*p->argv));
        p->argbuf = malloc(bytes ? bytes : 1);
        if (p->argv == NULL || p->argbuf == NULL) {
            server_pending_drop(s, p);
            conn_reply_error(c, slot, "ERR out of memory");
            return NULL;
        }
        size_t off = 0;
        for (size_t i = 0; i < req->argc; i++) {
            memcpy(p->argbuf + off, req->argv[i], req->arglen[i]);
            p->argv[i].p = p->argbuf + off;
            p->argv[i].len = req->arglen[i];
            off += req->arglen[i];
        }
    }
    int rv = sampan_node_read_index(s->node, p->id);
    if (rv != 0) {
        server_pending_drop(s, p);
        conn_reply_error(c, slot, refusal(rv));
        return NULL;
    }
    p->counted = true;
    c->reads_in_flight++;
    return p;
}

static void run_read(struct conn *c, const struct resp_request *req,
                     uint64_t slot)
{
    if (c->stale_reads) {
        run_local_read(c, req, slot);
        return;
    }
    command_read_barrier(c, req, slot);
}

static void run_info(struct conn *c, uint64_t slot)
{
    struct server *s = c->srv;
    struct sampan_status st;
    sampan_raft_status(sampan_node_raft(s->node), &st);
    /* The voters of the configuration in effect. */
    const struct sampan_membership *conf =
        sampan_raft_membership(sampan_node_raft(s->node), NULL);
    char members[256] = "";
    size_t off = 0;
    for (uint32_t i = 0; i < conf->n_voters && off < sizeof(members); i++) {
        off += (size_t)snprintf(members + off, sizeof(members) - off,
                                "%s%" PRIu64, i ? "," : "", conf->voters[i]);
    }
    char learners[256] = "";
    off = 0;
    for (uint32_t i = 0; i < conf->n_learners && off < sizeof(learners); i++) {
        off += (size_t)snprintf(learners + off, sizeof(learners) - off,
                                "%s%" PRIu64, i ? "," : "", conf->learners[i]);
    }
    uint64_t waited = 0;
    uint64_t background = 0;
    writer_stats(s->writer, &waited, &background);
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "# Server\r\nsampan_version:0.1.0\r\nprocess_id:%d\r\n"
                     "tcp_port:%u\r\nconnected_clients:%u\r\n"
                     "# Raft\r\nnode_id:%" PRIu64 "\r\nrole:%s\r\nterm:%" PRIu64
                     "\r\nleader_id:%" PRIu64 "\r\ncommit_index:%" PRIu64
                     "\r\napplied_index:%" PRIu64 "\r\nlast_log_index:%" PRIu64
                     "\r\nsnapshot_index:%" PRIu64
                     "\r\nsnapshots_written:%" PRIu64 "\r\nmembers:%s\r\n"
                     "learners:%s\r\njoint:%s\r\nwrites_waited:%" PRIu64
                     "\r\nwrites_background:%" PRIu64 "\r\n"
                     "# Keyspace\r\nkeys:%" PRIu64 "\r\ntotal_commands:%" PRIu64
                     "\r\ntimeouts:%" PRIu64 "\r\n",
                     (int)uv_os_getpid(), s->cfg.listen_port, s->n_conns, st.id,
                     st.role == SAMPAN_LEADER     ? "leader"
                     : st.role == SAMPAN_FOLLOWER ? "follower"
                                                  : "candidate",
                     st.term, st.leader, st.commit, kv_applied_index(s->kv),
                     st.last_index, st.snapshot_index, s->snapshots, members,
                     learners, conf->n_outgoing > 0 ? "yes" : "no", waited,
                     background, kv_key_count(s->kv), s->commands, s->timeouts);
    reply_bulk(c, slot, text,
               n > 0 && (size_t)n < sizeof(text) ? (size_t)n : 0);
}

static void run_config(struct conn *c, const struct resp_request *req,
                       uint64_t slot)
{
    if (req->argc != 3 || !resp_arg_is(req, 1, "GET")) {
        conn_reply_error(c, slot,
                         "ERR only CONFIG GET <parameter> is "
                         "supported");
        return;
    }
    /* Enough for redis-benchmark and friends: every write is durable
     * (fsync'd on a majority) before it is acknowledged. */
    static const char *const params[][2] = {{"save", ""},
                                            {"appendonly", "yes"},
                                            {"appendfsync", "always"},
                                            {"databases", "1"}};
    struct resp_out o;
    resp_out_init(&o, 0);
    size_t found = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            resp_out_array_header(&o, found * 2);
        }
        for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
            size_t len = strlen(params[i][0]);
            bool match = (req->arglen[2] == 1 && req->argv[2][0] == '*') ||
                         (req->arglen[2] == len &&
                          strncasecmp((const char *)req->argv[2], params[i][0],
                                      len) == 0);
            if (match && pass == 0) {
                found++;
            } else if (match) {
                resp_out_bulk(&o, params[i][0], len);
                resp_out_bulk(&o, params[i][1], strlen(params[i][1]));
            }
        }
    }
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

static void run_client(struct conn *c, const struct resp_request *req,
                       uint64_t slot)
{
    if (req->argc == 3 && resp_arg_is(req, 1, "SETNAME")) {
        size_t len = req->arglen[2] < sizeof(c->name) - 1 ? req->arglen[2]
                                                          : sizeof(c->name) - 1;
        memcpy(c->name, req->argv[2], len);
        c->name[len] = '\0';
        reply_simple(c, slot, "OK");
    } else if (req->argc == 2 && resp_arg_is(req, 1, "GETNAME")) {
        if (c->name[0] == '\0') {
            struct resp_out o;
            resp_out_init(&o, 0);
            resp_out_null(&o);
            conn_reply(c, slot, &o);
            resp_out_free(&o);
        } else {
            reply_bulk(c, slot, c->name, strlen(c->name));
        }
    } else if (req->argc == 3 && resp_arg_is(req, 1, "SESSION")) {
        int64_t id = 0;
        if (resp_arg_int64(req, 2, &id) != 0 || id <= 0) {
            conn_reply_error(c, slot,
                             "ERR session id must be a positive "
                             "integer");
        } else {
            c->session_id = (uint64_t)id;
            reply_simple(c, slot, "OK");
        }
    } else if (req->argc == 2 && resp_arg_is(req, 1, "ID")) {
        struct resp_out o;
        resp_out_init(&o, 0);
        resp_out_int(&o, (int64_t)c->id);
        conn_reply(c, slot, &o);
        resp_out_free(&o);
    } else {
        conn_reply_error(c, slot, "ERR unsupported CLIENT subcommand");
    }
}

/* SEQ n COMMAND ARGS...: a write applied exactly once per (session, n),
 * in the session named by CLIENT SESSION. Sequence numbers must increase;
 * repeating the last one returns its first result without applying it
 * again; an older one is refused. */
static void run_seq(struct conn *c, const struct resp_request *req,
                    uint64_t slot)
{
    int64_t seq = 0;
    if (req->argc < 3) {
        reply_arity(c, slot, "seq");
        return;
    }
    if (c->session_id == 0) {
        conn_reply_error(c, slot,
                         "ERR SEQ needs a session: CLIENT SESSION "
                         "<id> first");
        return;
    }
    if (resp_arg_int64(req, 1, &seq) != 0 || seq <= 0) {
        conn_reply_error(c, slot,
                         "ERR sequence number must be a positive "
                         "integer");
        return;
    }
    if (kv_command_kind(req->argv[2], req->arglen[2]) != KV_KIND_WRITE) {
        conn_reply_error(c, slot, "ERR SEQ applies to write commands only");
        return;
    }
    /* The inner command is argv[2..]: a view of the same request. */
    struct resp_request inner = *req;
    inner.argc = req->argc - 2;
    inner.argv = req->argv + 2;
    inner.arglen = req->arglen + 2;
    struct kv_session_id session = {.client = c->session_id,
                                    .seq = (uint64_t)seq};
    run_write(c, &inner, slot, &session);
}

void command_run(struct conn *c, const struct resp_request *req, uint64_t slot)
{
    const uint8_t *name = req->argv[0];
    size_t len = req->arglen[0];
    if (resp_arg_is(req, 0, "PING")) {
        if (req->argc > 2) {
            reply_arity(c, slot, "ping");
        } else if (req->argc == 2) {
            reply_bulk(c, slot, req->argv[1], req->arglen[1]);
        } else {
            reply_simple(c, slot, "PONG");
        }
    } else if (resp_arg_is(req, 0, "ECHO")) {
        if (req->argc != 2) {
            reply_arity(c, slot, "echo");
        } else {
            reply_bulk(c, slot, req->argv[1], req->arglen[1]);
        }
    } else if (resp_arg_is(req, 0, "SELECT")) {
        int64_t db = -1;
        if (req->argc != 2) {
            reply_arity(c, slot, "select");
        } else if (resp_arg_int64(req, 1, &db) != 0 || db != 0) {
            conn_reply_error(c, slot, "ERR DB index is out of range");
        } else {
            reply_simple(c, slot, "OK");
        }
    } else if (resp_arg_is(req, 0, "QUIT")) {
        reply_simple(c, slot, "OK");
        c->quit = true;
    } else if (resp_arg_is(req, 0, "CLIENT")) {
        run_client(c, req, slot);
    } else if (resp_arg_is(req, 0, "COMMAND")) {
        /* An empty command table: redis-cli then simply does not complete
         * command names. */
        struct resp_out o;
        resp_out_init(&o, 0);
        resp_out_array_header(&o, 0);
        conn_reply(c, slot, &o);
        resp_out_free(&o);
    } else if (resp_arg_is(req, 0, "CONFIG")) {
        run_config(c, req, slot);
    } else if (resp_arg_is(req, 0, "INFO")) {
        run_info(c, slot);
    } else if (resp_arg_is(req, 0, "READONLY") ||
               resp_arg_is(req, 0, "READWRITE")) {
        c->stale_reads = resp_arg_is(req, 0, "READONLY");
        reply_simple(c, slot, "OK");
    } else if (resp_arg_is(req, 0, "SEQ")) {
        run_seq(c, req, slot);
    } else if (resp_arg_is(req, 0, "SNAPSHOT")) {
        backup_command(c, req, slot); /* backup.c */
    } else if (resp_arg_is(req, 0, "MEMBER")) {
        members_command(c, req, slot);
    } else if (resp_arg_is(req, 0, "TRANSFERLEADER")) {
        members_transfer_command(c, req, slot);
    } else {
        switch (kv_command_kind(name, len)) {
        case KV_KIND_WRITE:
            run_write(c, req, slot, NULL);
            break;
        case KV_KIND_READ:
            run_read(c, req, slot);
            break;
        case KV_KIND_UNKNOWN: {
            char msg[160];
            int shown = len > 64 ? 64 : (int)len;
            snprintf(msg, sizeof(msg), "ERR unknown command '%.*s'", shown,
                     (const char *)name);
            conn_reply_error(c, slot, msg);
            break;
        }
        }
    }
}
