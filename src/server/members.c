/* server/members.c: the cluster's membership as `sampan serve` sees it.
 *
 * - The initial configuration: the --peers members as voters, their
 *   addresses recorded with it (empty for a node started with --join,
 *   which learns its configuration from the leader).
 * - Addresses: a peer is dialed at the address this node's --peers gives
 *   (so a test harness can route every link through a proxy), else at the
 *   one the configuration records (members added later).
 * - The MEMBER and TRANSFERLEADER commands. On the leader they call the
 *   core directly and report its refusals at once. A follower cannot change
 *   the configuration, so it proposes the request as an admin entry (the
 *   envelope below); whichever node leads when it is applied carries it
 *   out. Either way the client is answered once the configuration it asked
 *   for is committed (or the leader it asked for leads), or with TIMEOUT.
 * - Removal: a node that sees a committed configuration without itself
 *   (after having been a member) says so, marks its data directory, and
 *   stops; a marked directory, or one whose configuration lacks the node
 *   (unless it is joining), is refused at startup. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/le.h"
#include "server/internal.h"
#include "util/hostport.h"

/* Admin entry: u8 ADMIN_ENVELOPE_VERSION, u64 origin node, u8 op, u64 id,
 * u8 address length, address bytes. */
#define ADMIN_ENVELOPE_VERSION 2u
#define ADMIN_FIXED_BYTES 19u
#define ADMIN_OP_TRANSFER 100u /* other ops: enum sampan_conf_change_type */

#define REMOVED_MARKER "REMOVED"

static const char *removed_marker_path(const struct server *s, char *buf,
                                       size_t len)
{
    snprintf(buf, len, "%s/%s", s->cfg.data_dir, REMOVED_MARKER);
    return buf;
}

/* "HOST:PORT" of a --peers entry (IPv6 hosts bracketed); snprintf's
 * result. */
static int peer_addr(const struct server_peer *p, char *out, size_t len)
{
    bool v6 = strchr(p->host, ':') != NULL;
    return snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", p->host, p->port);
}

void members_bootstrap(const struct server_config *cfg,
                       struct sampan_membership *out)
{
    memset(out, 0, sizeof(*out));
    if (cfg->join) {
        return; /* learned from the leader */
    }
    for (size_t i = 0; i < cfg->n_peers && i < SAMPAN_MAX_VOTERS; i++) {
        const struct server_peer *p = &cfg->peers[i];
        out->voters[out->n_voters++] = p->id;
        struct sampan_member_addr *a = &out->addrs[out->n_addrs];
        int n = peer_addr(p, a->addr, sizeof(a->addr));
        if (n > 0 && (size_t)n < sizeof(a->addr)) {
            a->id = p->id;
            out->n_addrs++;
        }
    }
}

static bool flag_peer(const struct server *s, uint64_t id)
{
    for (size_t i = 0; i < s->cfg.n_peers; i++) {
        if (s->cfg.peers[i].id == id) {
            return true;
        }
    }
    return false;
}

static bool dialed(const struct server *s, uint64_t id)
{
    for (size_t i = 0; i < s->members.n_dialed; i++) {
        if (s->members.dialed[i] == id) {
            return true;
        }
    }
    return flag_peer(s, id);
}

/* Hangs up on members the configuration no longer has, some election
 * timeouts after they left (the leader keeps telling a removed member for
 * a while that it was removed), so replacing members never runs out of
 * transport slots. --peers routes stay. */
static void forget_former(struct server *s, const struct sampan_membership *c)
{
    uint64_t now = server_now_ms(s);
    for (size_t i = s->members.n_dialed; i-- > 0;) {
        uint64_t id = s->members.dialed[i];
        if (sampan_membership_is_member(c, id)) {
            s->members.gone_ms[i] = 0;
            continue;
        }
        if (s->members.gone_ms[i] == 0) {
            s->members.gone_ms[i] = now;
        }
        if (now - s->members.gone_ms[i] <
            MEMBERS_FORGET_ELECTIONS * (uint64_t)s->cfg.election_ms) {
            continue;
        }
        sampan_transport_remove_peer(s->transport, id);
        size_t last = --s->members.n_dialed;
        s->members.dialed[i] = s->members.dialed[last];
        s->members.gone_ms[i] = s->members.gone_ms[last];
        fprintf(stderr,
                "sampan: node %" PRIu64 ": no longer dialing former member "
                "%" PRIu64 "\n",
                s->cfg.id, id);
    }
}

/* Dials members the configuration added, at the address it records. */
static void sync_peers(struct server *s, const struct sampan_membership *c)
{
    for (uint32_t i = 0; i < c->n_addrs; i++) {
        const struct sampan_member_addr *a = &c->addrs[i];
        if (a->id == s->cfg.id || dialed(s, a->id) ||
            s->members.n_dialed == SAMPAN_TRANSPORT_MAX_PEERS) {
            continue;
        }
        char host[SAMPAN_ADDR_MAX];
        uint16_t port;
        if (hostport_parse(a->addr, host, sizeof(host), &port) != 0 ||
            sampan_transport_set_peer(s->transport, a->id, host, port) != 0) {
            fprintf(stderr,
                    "sampan: node %" PRIu64 ": cannot dial member %" PRIu64
                    " at '%s'\n",
                    s->cfg.id, a->id, a->addr);
            continue;
        }
        s->members.gone_ms[s->members.n_dialed] = 0;
        s->members.dialed[s->members.n_dialed++] = a->id;
        fprintf(stderr, "sampan: node %" PRIu64 ": member %" PRIu64 " at %s\n",
                s->cfg.id, a->id, a->addr);
    }
}

static void list_ids(const struct sampan_membership *c, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < c->n_voters && off < len; i++) {
        off += (size_t)snprintf(out + off, len - off, "%s%" PRIu64,
                                off ? "," : "", c->voters[i]);
    }
    for (uint32_t i = 0; i < c->n_learners && off < len; i++) {
        off += (size_t)snprintf(out + off, len - off, "%s%" PRIu64 "(learner)",
                                off ? "," : "", c->learners[i]);
    }
}

int members_start(struct server *s, char *err, size_t errlen)
{
    char path[1100];
    if (access(removed_marker_path(s, path, sizeof(path)), F_OK) == 0) {
        snprintf(err, errlen,
                 "node %" PRIu64 " was removed from its cluster (%s exists): "
                 "its data is stale; wipe %s and add the node again "
                 "(sampan member add) to rejoin",
                 s->cfg.id, path, s->cfg.data_dir);
        return SAMPAN_ESTATE;
    }
    uint64_t ci;
    const struct sampan_membership *c =
        sampan_raft_membership(sampan_node_raft(s->node), &ci);
    s->members.was_member = sampan_membership_is_member(c, s->cfg.id);
    if (!s->members.was_member && c->n_voters > 0 && !s->cfg.join) {
        char ids[256];
        list_ids(c, ids, sizeof(ids));
        snprintf(err, errlen,
                 "node %" PRIu64 " is not a member of the configuration in "
                 "%s (members %s, entry %" PRIu64 "): it was removed, or the "
                 "directory belongs to another node; a node being added "
                 "starts with --join",
                 s->cfg.id, s->cfg.data_dir, ids, ci);
        return SAMPAN_ESTATE;
    }
    s->members.conf_index = ci;
    sync_peers(s, c);
    return 0;
}

/* ---- waiting for a change to take effect ------------------------------- */

enum wait_kind {
    WAIT_MEMBER = 1,
    WAIT_VOTER,
    WAIT_LEARNER,
    WAIT_GONE,
    WAIT_LEADER
};

static bool wait_done(const struct server *s, const struct members_wait *w)
{
    const struct sampan_raft *r = sampan_node_raft(s->node);
    struct sampan_status st;
    sampan_raft_status(r, &st);
    if (w->kind == WAIT_LEADER) {
        return st.leader == w->id;
    }
    uint64_t ci;
    const struct sampan_membership *c = sampan_raft_membership(r, &ci);
    if (st.commit < ci || c->n_outgoing > 0) {
        return false; /* not committed yet, or still joint */
    }
    switch (w->kind) {
    case WAIT_MEMBER:
        return sampan_membership_is_member(c, w->id);
    case WAIT_VOTER:
        return sampan_membership_is_voter(c, w->id);
    case WAIT_LEARNER:
        return sampan_membership_is_learner(c, w->id);
    default:
        return !sampan_membership_is_member(c, w->id);
    }
}

static void add_wait(struct conn *c, uint64_t slot, uint8_t kind, uint64_t id)
{
    struct server *s = c->srv;
    for (size_t i = 0; i < MEMBERS_MAX_WAITS; i++) {
        struct members_wait *w = &s->members.waits[i];
        if (w->conn_id == 0) {
            w->conn_id = c->id;
            w->slot = slot;
            w->kind = kind;
            w->id = id;
            w->deadline_ms = server_now_ms(s) + s->cfg.request_timeout_ms;
            return;
        }
    }
    conn_reply_error(c, slot,
                     "BUSY too many membership requests in flight; retry");
}

static void check_waits(struct server *s)
{
    uint64_t now = server_now_ms(s);
    for (size_t i = 0; i < MEMBERS_MAX_WAITS; i++) {
        struct members_wait *w = &s->members.waits[i];
        if (w->conn_id == 0) {
            continue;
        }
        bool done = wait_done(s, w);
        if (!done && now < w->deadline_ms) {
            continue;
        }
        struct conn *c = conn_find(s, w->conn_id);
        if (c != NULL && done) {
            struct resp_out o;
            resp_out_init(&o, 0);
            resp_out_simple(&o, "OK");
            conn_reply(c, w->slot, &o);
            resp_out_free(&o);
        } else if (c != NULL) {
            conn_reply_error(
                c, w->slot,
                w->kind == WAIT_LEADER
                    ? "TIMEOUT leadership did not move in time; check INFO"
                    : "TIMEOUT the change was not seen committed in time "
                      "(a change may be in progress, or the leader refused "
                      "it); check MEMBER LIST");
        }
        memset(w, 0, sizeof(*w));
    }
}

/* ---- carrying requests out --------------------------------------------- */

static const char *change_refusal(int rv)
{
    switch (rv) {
    case SAMPAN_EBUSY:
        return "BUSY a membership change is in progress (or the leader has "
               "not committed in its term yet, or a transfer is under way); "
               "retry shortly";
    case SAMPAN_ENOTMEMBER:
        return "ERR no such member";
    case SAMPAN_EINVAL:
        return "ERR the change is not allowed (no voter would remain, too "
               "many members, a bad address, or nothing changes)";
    case SAMPAN_ENOLEADER:
        return "TRYAGAIN no leader is known yet; retry shortly";
    case SAMPAN_ETRANSFER:
        return "TRYAGAIN leadership is being transferred; retry shortly";
    case SAMPAN_ESTOPPED:
        return "ERR this node stopped after a storage error";
    default:
        return "ERR internal error";
    }
}

/* Runs one request on the leader's core; 0 or a core error. */
static int carry_out(struct server *s, uint8_t op, uint64_t id,
                     const char *addr)
{
    if (op == ADMIN_OP_TRANSFER) {
        return sampan_node_transfer_leader(s->node, id);
    }
    struct sampan_conf_change ch = {.type = op, .id = id, .addr = addr};
    return sampan_node_change_membership(s->node, &ch, 1, NULL);
}

static bool is_leader(const struct server *s)
{
    struct sampan_status st;
    sampan_raft_status(sampan_node_raft(s->node), &st);
    return st.role == SAMPAN_LEADER;
}

/* What this node's configuration already says about a request, so a
 * follower refuses what the leader would (a forwarded request that the
 * leader refuses is only logged there), and a request that is already
 * satisfied is not mistaken for done. NULL: go ahead. */
static const char *precheck(const struct server *s, uint8_t op, uint64_t id)
{
    const struct sampan_membership *m =
        sampan_raft_membership(sampan_node_raft(s->node), NULL);
    bool voter = sampan_membership_is_voter(m, id);
    bool learner = sampan_membership_is_learner(m, id);
    switch (op) {
    case ADMIN_OP_TRANSFER:
        return voter ? NULL : "ERR the target is not a voter";
    case SAMPAN_CONF_REMOVE:
        return voter || learner ? NULL : "ERR no such member";
    case SAMPAN_CONF_ADD_LEARNER:
        return learner ? "ERR already a learner" : NULL;
    default:
        return voter ? "ERR already a voter" : NULL;
    }
}

/* Asks for a change: directly on the leader, else through the log. */
static void request(struct conn *c, uint64_t slot, uint8_t op, uint64_t id,
                    const char *addr, uint8_t kind)
{
    struct server *s = c->srv;
    const char *refused = precheck(s, op, id);
    if (refused != NULL) {
        conn_reply_error(c, slot, refused);
        return;
    }
    int rv;
    if (is_leader(s)) {
        rv = carry_out(s, op, id, addr);
    } else {
        size_t alen = addr != NULL ? strlen(addr) : 0;
        uint8_t buf[ADMIN_FIXED_BYTES + SAMPAN_ADDR_MAX];
        buf[0] = ADMIN_ENVELOPE_VERSION;
        put64(buf + 1, s->cfg.id);
        buf[9] = op;
        put64(buf + 10, id);
        buf[18] = (uint8_t)alen;
        memcpy(buf + ADMIN_FIXED_BYTES, addr != NULL ? addr : "", alen);
        rv = sampan_node_propose(s->node, buf, ADMIN_FIXED_BYTES + alen, NULL);
    }
    if (rv == SAMPAN_ENOTMEMBER && op == ADMIN_OP_TRANSFER) {
        conn_reply_error(c, slot, "ERR the target is not a voter");
    } else if (rv != 0) {
        conn_reply_error(c, slot, change_refusal(rv));
    } else {
        add_wait(c, slot, kind, id);
    }
}

bool members_apply(struct server *s, const struct sampan_entry *e)
{
    if (e->type != SAMPAN_ENTRY_NORMAL || e->len < ADMIN_FIXED_BYTES ||
        e->data[0] != ADMIN_ENVELOPE_VERSION) {
        return false;
    }
    size_t alen = e->data[18];
    if (e->len != ADMIN_FIXED_BYTES + alen || alen >= SAMPAN_ADDR_MAX ||
        !is_leader(s) || s->members.n_queued == MEMBERS_MAX_QUEUED) {
        return true; /* malformed, not ours to act on, or too many */
    }
    /* Carried out after the Ready loop, not from inside it. */
    struct members_queued *q = &s->members.queued[s->members.n_queued++];
    q->op = e->data[9];
    q->id = get64(e->data + 10);
    memcpy(q->addr, e->data + ADMIN_FIXED_BYTES, alen);
    q->addr[alen] = '\0';
    return true;
}

static void run_queued(struct server *s)
{
    for (size_t i = 0; i < s->members.n_queued; i++) {
        struct members_queued *q = &s->members.queued[i];
        if (!is_leader(s)) {
            break;
        }
        int rv = carry_out(s, q->op, q->id, q->addr[0] ? q->addr : NULL);
        if (rv != 0) {
            fprintf(stderr,
                    "sampan: node %" PRIu64 ": a forwarded membership "
                    "request (op %u, member %" PRIu64 ") was refused: %s\n",
                    s->cfg.id, q->op, q->id, sampan_strerror(rv));
        }
    }
    s->members.n_queued = 0;
}

/* ---- removal ------------------------------------------------------------ */

/* Best effort: without the marker a restart is still refused, because
 * the configuration in the log leaves this node out (members_start), unless
 * it is started with --join; the marker makes the refusal unconditional. */
static void mark_removed(struct server *s, uint64_t index)
{
    char path[1100];
    removed_marker_path(s, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char text[64];
    int n =
        snprintf(text, sizeof(text), "removed at index %" PRIu64 "\n", index);
    if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        fprintf(stderr, "sampan: node %" PRIu64 ": cannot write %s: %s\n",
                s->cfg.id, path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
}

void members_after_process(struct server *s)
{
    if (s->node == NULL || s->stopped) {
        return;
    }
    run_queued(s);
    const struct sampan_raft *r = sampan_node_raft(s->node);
    uint64_t ci;
    const struct sampan_membership *c = sampan_raft_membership(r, &ci);
    if (ci != s->members.conf_index) {
        s->members.conf_index = ci;
        sync_peers(s, c);
    }
    forget_former(s, c);
    check_waits(s);
    if (sampan_membership_is_member(c, s->cfg.id)) {
        s->members.was_member = true;
        return;
    }
    struct sampan_status st;
    sampan_raft_status(r, &st);
    if (s->members.was_member && st.commit >= ci && c->n_voters > 0 &&
        !s->stopping) {
        fprintf(stderr,
                "sampan: node %" PRIu64 ": removed from the cluster by the "
                "configuration at index %" PRIu64 "; stopping\n",
                s->cfg.id, ci);
        mark_removed(s, ci);
        server_begin_stop(s);
    }
}

/* ---- commands ----------------------------------------------------------- */

static void reply_list(struct conn *c, uint64_t slot)
{
    struct server *s = c->srv;
    const struct sampan_raft *r = sampan_node_raft(s->node);
    struct sampan_status st;
    sampan_raft_status(r, &st);
    uint64_t ci;
    const struct sampan_membership *m = sampan_raft_membership(r, &ci);
    uint64_t ids[SAMPAN_MEMBERSHIP_LISTED_MAX];
    size_t n = sampan_membership_ids(m, ids);
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_array_header(&o, n);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ids[i];
        const char *role = "voter";
        if (sampan_membership_is_learner(m, id)) {
            role = "learner";
            for (uint32_t k = 0; k < m->n_learners; k++) {
                if (m->learners[k] == id && (m->learners_promote >> k & 1u)) {
                    role = "learner(promoting)";
                }
            }
        } else if (m->n_outgoing > 0) {
            bool in_new = false;
            for (uint32_t k = 0; k < m->n_voters; k++) {
                in_new |= m->voters[k] == id;
            }
            role = in_new ? "voter" : "outgoing";
        }
        /* This node's own route to the member (its --peers) wins over
         * the address the configuration records. */
        char addr[SAMPAN_ADDR_MAX + 8] = "-";
        for (size_t k = 0; k < s->cfg.n_peers; k++) {
            const struct server_peer *p = &s->cfg.peers[k];
            if (p->id == id) {
                peer_addr(p, addr, sizeof(addr));
            }
        }
        const char *recorded = sampan_membership_addr(m, id);
        if (addr[0] == '-' && recorded != NULL) {
            snprintf(addr, sizeof(addr), "%s", recorded);
        }
        char line[256];
        int len = snprintf(line, sizeof(line),
                           "id=%" PRIu64 " role=%s addr=%s leader=%s", id, role,
                           addr, st.leader == id ? "yes" : "no");
        uint64_t match;
        if (len > 0 && (size_t)len < sizeof(line) &&
            sampan_raft_member_match(r, id, &match) == 0) {
            len += snprintf(line + len, sizeof(line) - (size_t)len,
                            " match=%" PRIu64, match);
        }
        resp_out_bulk(&o, line,
                      len > 0 && (size_t)len < sizeof(line) ? (size_t)len : 0);
    }
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

static bool arg_id(const struct resp_request *req, size_t i, uint64_t *id)
{
    int64_t v = 0;
    if (resp_arg_int64(req, i, &v) != 0 || v <= 0 || v > UINT32_MAX) {
        return false;
    }
    *id = (uint64_t)v;
    return true;
}

static void member_run(struct conn *c, const struct resp_request *req,
                       uint64_t slot)
{
    uint64_t id = 0;
    if (req->argc == 2 && resp_arg_is(req, 1, "LIST")) {
        reply_list(c, slot);
        return;
    }
    if (req->argc < 3 || !arg_id(req, 2, &id)) {
        conn_reply_error(c, slot,
                         "ERR usage: MEMBER LIST | MEMBER ADD id peer-addr "
                         "[LEARNER] | MEMBER PROMOTE id | MEMBER REMOVE id "
                         "(ids are integers 1..4294967295)");
        return;
    }
    if (resp_arg_is(req, 1, "ADD") && (req->argc == 4 || req->argc == 5)) {
        bool learner = req->argc == 5;
        if (learner && !resp_arg_is(req, 4, "LEARNER")) {
            conn_reply_error(c, slot, "ERR expected LEARNER after the address");
            return;
        }
        char addr[SAMPAN_ADDR_MAX];
        char host[SAMPAN_ADDR_MAX];
        uint16_t port;
        size_t alen = req->arglen[3];
        if (alen == 0 || alen >= sizeof(addr)) {
            conn_reply_error(c, slot, "ERR peer address too long");
            return;
        }
        memcpy(addr, req->argv[3], alen);
        addr[alen] = '\0';
        if (hostport_parse(addr, host, sizeof(host), &port) != 0) {
            conn_reply_error(c, slot,
                             "ERR peer address must be HOST:PORT with a "
                             "numeric host");
            return;
        }
        request(c, slot,
                learner ? SAMPAN_CONF_ADD_LEARNER : SAMPAN_CONF_ADD_VOTER, id,
                addr, learner ? WAIT_LEARNER : WAIT_MEMBER);
    } else if (resp_arg_is(req, 1, "PROMOTE") && req->argc == 3) {
        request(c, slot, SAMPAN_CONF_ADD_VOTER, id, NULL, WAIT_VOTER);
    } else if (resp_arg_is(req, 1, "DEMOTE") && req->argc == 3) {
        request(c, slot, SAMPAN_CONF_ADD_LEARNER, id, NULL, WAIT_LEARNER);
    } else if (resp_arg_is(req, 1, "REMOVE") && req->argc == 3) {
        request(c, slot, SAMPAN_CONF_REMOVE, id, NULL, WAIT_GONE);
    } else {
        conn_reply_error(c, slot, "ERR unknown MEMBER subcommand or arity");
    }
}

static void transfer_run(struct conn *c, const struct resp_request *req,
                         uint64_t slot)
{
    uint64_t id = 0;
    if (req->argc != 2 || !arg_id(req, 1, &id)) {
        conn_reply_error(c, slot, "ERR usage: TRANSFERLEADER id");
        return;
    }
    struct sampan_status st;
    sampan_raft_status(sampan_node_raft(c->srv->node), &st);
    if (st.leader == id) {
        conn_reply_error(c, slot, "ERR that node leads already");
        return;
    }
    request(c, slot, ADMIN_OP_TRANSFER, id, NULL, WAIT_LEADER);
}

/* Arguments a MEMBER or TRANSFERLEADER request can have. */
#define MEMBERS_MAX_ARGS 5u

/* A follower first catches its configuration up with the leader's
 * committed one (a ReadIndex round: thesis 6.4, the read index covers
 * every entry committed when the request arrived), so what it checks and
 * answers is not stale. True if the request now waits for that. */
static bool wait_for_barrier(struct conn *c, const struct resp_request *req,
                             uint64_t slot)
{
    if (is_leader(c->srv) || req->argc > MEMBERS_MAX_ARGS) {
        return false;
    }
    struct pending *p = command_read_barrier(c, req, slot);
    if (p != NULL) {
        p->member = true;
    }
    return true;
}

void members_command(struct conn *c, const struct resp_request *req,
                     uint64_t slot)
{
    bool list = req->argc == 2 && resp_arg_is(req, 1, "LIST");
    if (!list && wait_for_barrier(c, req, slot)) {
        return;
    }
    member_run(c, req, slot);
}

void members_transfer_command(struct conn *c, const struct resp_request *req,
                              uint64_t slot)
{
    if (!wait_for_barrier(c, req, slot)) {
        transfer_run(c, req, slot);
    }
}

void members_read_ready(struct server *s, struct pending *p)
{
    struct conn *c = conn_find(s, p->conn_id);
    if (c != NULL && p->argc >= 1 && p->argc <= MEMBERS_MAX_ARGS) {
        const uint8_t *argv[MEMBERS_MAX_ARGS];
        size_t arglen[MEMBERS_MAX_ARGS];
        for (size_t i = 0; i < p->argc; i++) {
            argv[i] = p->argv[i].p;
            arglen[i] = p->argv[i].len;
        }
        struct resp_request req = {
            .argc = p->argc, .argv = argv, .arglen = arglen};
        if (resp_arg_is(&req, 0, "MEMBER")) {
            member_run(c, &req, p->slot);
        } else {
            transfer_run(c, &req, p->slot);
        }
    }
    server_pending_drop(s, p);
}
