/* server/server.h: `sampan serve`: one node of a replicated key/value
 * cluster. It joins the node driver (src/node/), the key/value state
 * machine (src/kv/), the peer transport (src/transport/) and the client
 * protocol (RESP, src/server/resp.c) on one libuv loop. */
#ifndef SAMPAN_SERVER_SERVER_H
#define SAMPAN_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/raft.h"

struct server_peer {
    uint64_t id;
    char host[64];
    uint16_t port;
};

struct server_config {
    uint64_t id;
    uint64_t cluster_id;
    char data_dir[1024];
    char listen_host[64]; /* clients (RESP) */
    uint16_t listen_port;
    char peer_host[64]; /* other nodes */
    uint16_t peer_port;
    struct server_peer peers[SAMPAN_MAX_VOTERS]; /* all members, self too */
    size_t n_peers;
    /* Joining an existing cluster: start with an empty configuration and
     * learn it from the leader (the peers are where to reach members). */
    bool join;
    uint32_t tick_ms;
    uint32_t election_ms;
    uint32_t heartbeat_ms;
    uint64_t snapshot_every;
    uint32_t request_timeout_ms; /* a request's outcome unknown after it  */
    uint32_t max_clients;
    uint32_t max_pending;  /* requests awaiting the log, all clients */
    uint32_t max_pipeline; /* unanswered requests per client         */
    /* A learner marked for promotion becomes a voter once within this
     * many entries of the leader's log (sampan_raft_config). */
    uint32_t promote_lag_entries;
    /* How long the loop waits for a write (and its fdatasync) on the write
     * thread before it goes on without it (writer.c); SERVER_WAIT_ONE_TICK
     * (the default) becomes tick_ms when the server starts. */
    uint32_t write_wait_ms;
};

/* Defaults: node 1 of a one-node cluster, clients on 127.0.0.1:7379,
 * peers on 127.0.0.1:17379, data in ./sampan-data, 10 ms ticks, 1 s
 * election timeout, 100 ms heartbeats, a snapshot every 10,000 entries,
 * 5 s request timeout, 10,000 clients, 65,536 pending requests, 1,024
 * unanswered requests per client, a wait of one tick for each write. */
#define SERVER_WAIT_ONE_TICK UINT32_MAX
void server_config_default(struct server_config *cfg);

/* Runs the node until SIGINT or SIGTERM, then stops accepting, lets
 * in-flight writes finish (up to a request timeout) and returns 0. On a
 * startup failure prints why to stderr and returns 1; if the node stops on
 * a storage error (fail-stop) returns 1 after saying why. The caller must
 * ignore SIGPIPE first (as `sampan serve` does): sockets are written
 * without MSG_NOSIGNAL, and a peer closing mid-write must not kill us. */
int server_run(const struct server_config *cfg);

#endif
