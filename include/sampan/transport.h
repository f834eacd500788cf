/* sampan/transport.h: Raft messages between nodes over TCP, on a libuv
 * loop. Each node dials every peer and sends to it on that outbound
 * connection; it receives on the connections peers dialed to it, so two
 * nodes never race over who owns a connection. A connection starts with a
 * handshake naming the cluster and both node ids; a dialer from another
 * cluster, or claiming an id that is not a peer, is refused with a logged
 * reason. Frames are length-prefixed and checksummed (docs/protocol.md),
 * with a maximum size. Messages to a peer queue up to a byte bound (past it
 * they are dropped, as Raft tolerates) and everything queued goes out in
 * one write; a dead link is redialed with exponential backoff.
 *
 * Ownership: the transport borrows the loop (which must outlive it) and
 * copies its configuration and everything it sends. Single-threaded: call
 * everything from the loop's thread. */
#ifndef SAMPAN_TRANSPORT_H
#define SAMPAN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/raft.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;

#define SAMPAN_TRANSPORT_MAX_PEERS SAMPAN_MAX_VOTERS

struct sampan_transport_config {
    uint64_t cluster_id;
    uint64_t node_id;
    char listen_host[64];   /* numeric IPv4/IPv6 address                */
    uint16_t listen_port;   /* 0: any free port (see sampan_transport_port) */
    size_t max_frame_bytes; /* largest frame sent or accepted          */
    size_t max_queue_bytes; /* per peer, encoded bytes waiting to go   */
    uint32_t reconnect_min_ms; /* first redial delay, doubling ...        */
    uint32_t reconnect_max_ms; /* ... up to this                          */
};

/* Defaults: 127.0.0.1, port 0, 17 MiB frames (a 16 MiB entry, the core's
 * default max_entry_bytes, plus framing), 32 MiB per peer queue,
 * redial after 50 ms doubling to 2 s. The caller sets ids and listen. */
void sampan_transport_config_default(struct sampan_transport_config *cfg);

struct sampan_transport_io {
    void *ctx;
    /* A message from a peer, borrowed for the call (hand it to the node,
     * which copies what it keeps). */
    void (*recv)(void *ctx, const struct sampan_msg *m);
    /* A line for the log: connects, refusals and their reasons. May be
     * NULL. */
    void (*log)(void *ctx, const char *line);
};

struct sampan_transport;

/* Starts listening. *out is owned by the caller until
 * sampan_transport_close() has called its callback. Errors: SAMPAN_EINVAL
 * (bad address or config), SAMPAN_EIO (cannot listen: err says why). */
int sampan_transport_start(struct uv_loop_s *loop,
                           const struct sampan_transport_config *cfg,
                           const struct sampan_transport_io *io,
                           struct sampan_transport **out, char *err,
                           size_t errlen);

/* The port actually listened on. */
uint16_t sampan_transport_port(const struct sampan_transport *t);

/* Adds (or changes the address of) peer `id`, reached at host:port; the
 * transport dials it. Errors: SAMPAN_EINVAL, SAMPAN_EBUSY (too many). */
int sampan_transport_set_peer(struct sampan_transport *t, uint64_t id,
                              const char *host, uint16_t port);

/* Stops talking to peer `id`: closes its link, drops what was queued for
 * it, and refuses its connections from now on; its slot is reused by the
 * next new peer (so replacing members never runs out of slots). Errors:
 * SAMPAN_ENOTMEMBER (not a peer). */
int sampan_transport_remove_peer(struct sampan_transport *t, uint64_t id);

/* Queues a message for m->to. Returns 0, SAMPAN_ENOTMEMBER (not a peer),
 * SAMPAN_ETOOBIG (over max_frame_bytes), SAMPAN_EBUSY (the peer's queue is
 * full: dropped). */
int sampan_transport_send(struct sampan_transport *t,
                          const struct sampan_msg *m);

/* Counters, per peer or (id 0) in total. */
struct sampan_transport_stats {
    uint64_t frames_sent;
    uint64_t bytes_sent;
    uint64_t frames_received;
    uint64_t dropped;  /* queue full or link down */
    uint64_t refused;  /* handshakes refused      */
    uint64_t connects; /* outbound connections established */
    bool connected;    /* outbound link up (per peer)      */
};
void sampan_transport_stats(const struct sampan_transport *t, uint64_t id,
                            struct sampan_transport_stats *st);

/* Closes every handle; cb(arg) runs on the loop once all are closed, after
 * which the transport is freed. */
void sampan_transport_close(struct sampan_transport *t, void (*cb)(void *arg),
                            void *arg);

#ifdef __cplusplus
}
#endif

#endif
