/* server/internal.h: the server's private state, shared by server.c (the
 * loop, the node and the log), conn.c (client connections) and commands.c
 * (what each command does). */
#ifndef SAMPAN_SERVER_INTERNAL_H
#define SAMPAN_SERVER_INTERNAL_H

#include <uv.h>

#include "kv/kv.h"
#include "sampan/node.h"
#include "sampan/transport.h"
#include "server/resp.h"
#include "server/server.h"

/* Every log entry the server proposes is a key/value command wrapped in
 * this envelope, so the node that took the request recognizes it when it
 * is applied (followers forward proposals without learning their index):
 * u8 version, u64 origin node id, u64 request id, then the kv payload. */
#define ENVELOPE_VERSION 1u
#define ENVELOPE_BYTES 17u

/* A request waiting for the log (a write to be applied, or a read whose
 * read index must be reached). Indexed by id % max_pending. */
struct pending {
    uint64_t id; /* 0: free slot */
    uint64_t conn_id;
    uint64_t slot; /* the reply's place in the connection's order */
    uint64_t deadline_ms;
    bool is_read;
    bool counted; /* counted in its connection's *_in_flight */
    bool backup;  /* a read index for SNAPSHOT BEGIN (backup.c) */
    bool member;  /* a read index before a MEMBER change (members.c) */
    /* Reads: the command, copied (argv point into argbuf). */
    size_t argc;
    struct kv_slice *argv;
    uint8_t *argbuf;
};

/* A reply slot: requests on a connection are answered in order. */
struct reply {
    bool ready;
    uint8_t *data; /* owned */
    size_t len;
};

struct conn {
    uv_tcp_t tcp;
    struct server *srv;
    uint64_t id;
    uint8_t *in; /* bytes read, not yet parsed */
    size_t in_len;
    size_t in_cap;
    struct resp_parser parser;
    struct resp_request req;
    struct reply *replies; /* ring of max_pipeline */
    uint64_t head;         /* oldest unanswered slot */
    uint64_t next;         /* next slot to give out  */
    struct resp_out out;   /* replies ready to write  */
    bool writing;
    bool reading;
    bool closing;
    bool quit;        /* close once everything is written */
    bool stale_reads; /* READONLY: reads from local state, no ReadIndex */
    /* Requests waiting for the log, by kind. A connection runs one kind at
     * a time so its commands take effect in the order it sent them. */
    uint32_t reads_in_flight;
    uint32_t writes_in_flight;
    bool blocked;        /* parsing paused until the other kind is answered */
    uint64_t session_id; /* CLIENT SESSION: 0 = none */
    char name[64];
};

/* members.c: a client waiting for a membership change or a leadership
 * transfer to take effect (conn_id 0: free). */
#define MEMBERS_MAX_WAITS 16u
struct members_wait {
    uint64_t conn_id;
    uint64_t slot;
    uint64_t deadline_ms;
    uint8_t kind;
    uint64_t id;
};
/* Former members are hung up on this many election timeouts after they
 * left the configuration. */
#define MEMBERS_FORGET_ELECTIONS 10u
/* A forwarded request applied while leading, run after the Ready loop. */
#define MEMBERS_MAX_QUEUED 16u
struct members_queued {
    uint8_t op;
    uint64_t id;
    char addr[SAMPAN_ADDR_MAX];
};
struct members_state {
    bool was_member;     /* this node was in a configuration we saw */
    uint64_t conf_index; /* configuration whose members were dialed  */
    uint64_t dialed[SAMPAN_TRANSPORT_MAX_PEERS];  /* beyond --peers  */
    uint64_t gone_ms[SAMPAN_TRANSPORT_MAX_PEERS]; /* left the config at */
    size_t n_dialed;
    struct members_wait waits[MEMBERS_MAX_WAITS];
    struct members_queued queued[MEMBERS_MAX_QUEUED];
    size_t n_queued;
};

struct server {
    struct server_config cfg;
    struct members_state members;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t ticker;
    uv_timer_t expiry;
    uv_check_t check;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    struct sampan_vfs vfs;
    bool vfs_open;
    struct sampan_node *node;
    struct kv *kv;
    struct sampan_transport *transport;
    struct pending *pending; /* max_pending slots */
    uint64_t next_id;
    uint64_t oldest_id;   /* no live request is older */
    struct conn **conns;  /* max_clients slots; a conn's id names its slot */
    uint32_t *free_slots; /* stack of free slots in conns */
    uint32_t n_free;
    uint64_t next_conn_id;
    uint32_t n_conns;
    bool listener_init; /* handles initialized (closed on stop) */
    bool handles_init;
    bool stopped;
    bool stopping;
    uint64_t stop_deadline_ms;
    struct snap_job *snap_job;  /* a snapshot being written, or NULL */
    struct writer *writer;      /* the node's write thread (writer.c), owned */
    struct backup_set *backups; /* SNAPSHOT transfers (backup.c) */
    uint64_t snapshots;         /* written so far (INFO)              */
    uint64_t log_bytes_since_snapshot; /* applied entry bytes, for the
                                        * snapshot policy (maybe_snapshot) */
    uint64_t last_leader;              /* to notice leadership changes */
    uint64_t last_term;
    int exit_code;
    /* Counters for INFO. */
    uint64_t commands;
    uint64_t timeouts;
    uint64_t rejected_clients;
};

/* server.c */
uint64_t server_now_ms(struct server *s);
/* Proposes the kv payload for a pending request; 0 or a core error. */
int server_propose(struct server *s, uint64_t id, const uint8_t *payload,
                   size_t len);
struct pending *server_pending_new(struct server *s, struct conn *c,
                                   uint64_t slot, bool is_read);
void server_pending_drop(struct server *s, struct pending *p);

/* Stops taking clients and stops once requests in flight are answered
 * (or a request timeout passed), as on SIGTERM. */
void server_begin_stop(struct server *s);

/* members.c */
/* The initial configuration: --peers as voters with their addresses, or
 * empty when joining. */
void members_bootstrap(const struct server_config *cfg,
                       struct sampan_membership *out);
/* After the node and transport started: refuses a removed or foreign data
 * directory (err says why), dials members the configuration records. */
int members_start(struct server *s, char *err, size_t errlen);
/* After each Ready loop: forwarded requests, new members to dial, waiting
 * clients, and this node's own removal. */
void members_after_process(struct server *s);
/* True if `e` is a forwarded membership request (queued if leading): the
 * caller applies it to the state machine as an empty entry. */
bool members_apply(struct server *s, const struct sampan_entry *e);
void members_command(struct conn *c, const struct resp_request *req,
                     uint64_t slot);
void members_transfer_command(struct conn *c, const struct resp_request *req,
                              uint64_t slot);
/* The read index of a follower's MEMBER / TRANSFERLEADER request (p->member)
 * is applied: its configuration is now as fresh as the leader's committed
 * one, so the request is checked against it and forwarded. */
void members_read_ready(struct server *s, struct pending *p);

/* conn.c */
void conn_accept(uv_stream_t *listener, int status);
/* Stores the reply for slot (taking o's bytes), and writes what is ready
 * in order. */
void conn_reply(struct conn *c, uint64_t slot, struct resp_out *o);
void conn_reply_error(struct conn *c, uint64_t slot, const char *msg);
struct conn *conn_find(struct server *s, uint64_t id);
void conn_close(struct conn *c);
/* A request of the connection finished waiting for the log. */
void conn_request_done(struct conn *c, bool is_read);

/* commands.c */
/* Handles one parsed request; its reply will go to `slot`. */
void command_run(struct conn *c, const struct resp_request *req, uint64_t slot);
/* Waits for a ReadIndex round before a request runs: a pending read
 * holding a copy of req (NULL: no copy), or NULL after replying why not.
 * io_read_ready runs it once this node has applied the read index. */
struct pending *command_read_barrier(struct conn *c,
                                     const struct resp_request *req,
                                     uint64_t slot);
/* Encodes a kv result as RESP into o. */
int command_result(struct resp_out *o, const struct kv_result *r);

/* backup.c: SNAPSHOT BEGIN / READ / END. backup_start creates the handle
 * table and its sweep timer on s->loop (0 or SAMPAN_ENOMEM); backup_stop
 * frees every handle and closes the timer (safe without a start). */
int backup_start(struct server *s);
void backup_stop(struct server *s);
void backup_command(struct conn *c, const struct resp_request *req,
                    uint64_t slot);
/* The read index of a SNAPSHOT BEGIN (p->backup) is applied: answers it
 * and drops p. */
void backup_read_ready(struct server *s, struct pending *p);

/* writer.c: the node's write thread. writer_start creates it (*out owned
 * by the caller: writer_close_handle on the loop once no write is in
 * flight, then writer_free after the loop ends). writer_submit hands it
 * the node's Ready write and waits up to wait_ns: 1 if the write ran
 * within that, 0 if it is still running (on_done(arg) is then called on
 * the loop when it finishes). */
struct writer;
int writer_start(uv_loop_t *loop, void (*on_done)(void *arg), void *arg,
                 struct writer **out);
int writer_submit(struct writer *w, struct sampan_node *n, uint64_t wait_ns);
void writer_close_handle(struct writer *w);
/* Writes finished within the wait, and writes left running (loop only). */
void writer_stats(const struct writer *w, uint64_t *waited,
                  uint64_t *background);
void writer_free(struct writer *w);

#endif
