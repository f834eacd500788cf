/* tests/unit/support/raft_fixture.h: helpers shared by the Raft unit tests.
 *
 * The tests drive cores only through the public API (include/sampan/raft.h).
 * These helpers build cores and messages, "drain" a core's Ready into a
 * deep-copied record the test can inspect after advancing, and run a tiny
 * in-memory network that delivers everything queued between N cores until
 * the cluster goes quiet. Every helper fails the running cmocka test on an
 * unexpected error. */
#ifndef SAMPAN_TESTS_UNIT_RAFT_FIXTURE_H
#define SAMPAN_TESTS_UNIT_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/raft.h"

#define FX_ELECTION 10u
#define FX_HEARTBEAT 1u
#define FX_MAX_NODES 9u

/* ---- cores ---------------------------------------------------------------
 * Defaults: voters 1..n, election_ticks 10, heartbeat_ticks 1, PreVote and
 * CheckQuorum on (sampan_raft_config_default). */
void fx_config(struct sampan_raft_config *cfg, uint64_t id, size_t n_voters,
               uint64_t seed);
/* Creates a core from `cfg` (and optional boot); fails the test on error. */
struct sampan_raft *fx_new_cfg(const struct sampan_raft_config *cfg,
                               const struct sampan_boot *boot);
struct sampan_raft *fx_new(uint64_t id, size_t n_voters, uint64_t seed);
/* A core that recovered hard state (term, vote) and a log whose entry i+1
 * has term terms[i] (NORMAL entries, one payload byte each). */
struct sampan_raft *fx_new_boot(const struct sampan_raft_config *cfg,
                                uint64_t term, uint64_t vote,
                                const uint64_t *terms, size_t n);

/* ---- entries and messages ------------------------------------------------ */
/* Fills out[0..n) with NORMAL, empty entries first_index.. of terms[]. */
void fx_entries(struct sampan_entry *out, uint64_t first_index,
                const uint64_t *terms, size_t n);
struct sampan_msg fx_msg(uint8_t type, uint64_t from, uint64_t to,
                         uint64_t term);
/* Deep copy of a message (entries and payloads); free with fx_msg_free. */
void fx_msg_copy(struct sampan_msg *dst, const struct sampan_msg *src);
void fx_msg_free(struct sampan_msg *m);

/* ---- draining a Ready ------------------------------------------------------
 * A deep copy of what one or more Readies handed out, valid after advance.
 * msgs[] holds rd.messages followed by rd.persisted_messages; persisted[i]
 * tells which list msgs[i] came from. */
struct fx_rd {
    size_t n_ready; /* how many Readies were collected */
    bool hard_state_changed;
    struct sampan_hard_state hard_state;
    size_t n_entries;
    struct sampan_entry *entries;
    size_t n_committed;
    struct sampan_entry *committed;
    size_t n_msgs;
    struct sampan_msg *msgs;
    bool *persisted;
};

/* Zeroes rd, then collects one Ready (if any) and advances. */
void fx_drain(struct sampan_raft *r, struct fx_rd *rd);
/* Zeroes rd, then collects Readies until none is left, advancing each. */
void fx_drain_all(struct sampan_raft *r, struct fx_rd *rd);
/* Appends a Ready already obtained from sampan_raft_ready() to rd. */
void fx_rd_append(struct fx_rd *rd, const struct sampan_ready *ready);
void fx_rd_free(struct fx_rd *rd);
/* Drains everything and throws it away. */
void fx_discard(struct sampan_raft *r);

/* Number of messages of `type` (to `to`, or to anyone when to == 0). */
size_t fx_count(const struct fx_rd *rd, uint8_t type, uint64_t to);
/* First message of `type` to `to` (anyone when 0), or NULL. */
const struct sampan_msg *fx_find(const struct fx_rd *rd, uint8_t type,
                                 uint64_t to);
/* Whether msgs[i] came from persisted_messages. */
bool fx_is_persisted(const struct fx_rd *rd, const struct sampan_msg *m);

struct sampan_status fx_status(const struct sampan_raft *r);
uint64_t fx_term_at(const struct sampan_raft *r, uint64_t index);
/* Steps an APPEND from `from` in `term` with prevLogIndex/Term prev and
 * prev_term, leaderCommit `commit`, and n entries prev+1.. of terms[];
 * data[i] (a C string) is entry i's payload, or all are empty when data is
 * NULL. Asserts success. */
void fx_step_append(struct sampan_raft *r, uint64_t from, uint64_t term,
                    uint64_t prev, uint64_t prev_term, uint64_t commit,
                    const uint64_t *terms, size_t n, const char *const *data);
/* The same with entries the caller built (any types; borrowed). */
void fx_step_entries(struct sampan_raft *r, uint64_t from, uint64_t term,
                     uint64_t prev, uint64_t prev_term, uint64_t commit,
                     struct sampan_entry *ents, size_t n);
/* Steps m and asserts success. */
void fx_step(struct sampan_raft *r, const struct sampan_msg *m);

/* Makes a fresh core of a 3-node (or n-node) cluster leader of term 1 by
 * feeding it the votes of its peers by hand; PreVote is used as configured.
 * The core's Readies are drained (discarded) along the way. */
void fx_make_leader(struct sampan_raft *r, size_t n_voters);
/* Acknowledges, from `from`, everything up to `index` (APPEND_RESP). */
void fx_ack(struct sampan_raft *r, uint64_t from, uint64_t index);

/* ---- a small network of cores (ids 1..n) ----------------------------------
 */
struct fx_net {
    size_t n;
    struct sampan_raft *nodes[FX_MAX_NODES + 1];  /* indexed by id */
    bool cut[FX_MAX_NODES + 1][FX_MAX_NODES + 1]; /* drop from -> to    */
    uint64_t delivered;
    uint64_t dropped;
    uint64_t step_errors;
};

/* Builds n cores from a template configuration (id and members are set per
 * node; NULL means the fixture defaults). */
void fx_net_init(struct fx_net *net, size_t n, uint64_t seed,
                 const struct sampan_raft_config *tmpl);
void fx_net_free(struct fx_net *net);
/* Collects every core's Ready, delivers the messages, repeats until no core
 * has work. Returns the number of messages delivered. */
uint64_t fx_net_settle(struct fx_net *net);
/* Ticks every core once (without settling). */
void fx_net_tick(struct fx_net *net);
void fx_net_isolate(struct fx_net *net, uint64_t id);
void fx_net_heal(struct fx_net *net);
/* The single leader among the cores of the highest term, or 0. */
uint64_t fx_net_leader(const struct fx_net *net);

#endif
