/* transport/transport.c: Raft messages over TCP on libuv (see
 * include/sampan/transport.h for the model). Outbound links (one per peer)
 * own a bounded queue of encoded frames and redial with backoff; inbound
 * connections start with a handshake, then carry frames that are decoded
 * and handed to io->recv. */
#include "sampan/transport.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "codec/crc32c.h"
#include "codec/le.h"
#include "codec/msg.h"

/* Handshake: "SMPH", version, cluster id, dialer id, dialed id, CRC. */
#define HELLO_BYTES 36
#define HELLO_VERSION 1u
#define WRITE_BATCH 64 /* frames gathered into one write */

struct frame {
    struct frame *next;
    size_t len;
    uint8_t data[];
};

struct out_conn;

/* The link to one peer, for sending. */
struct link {
    struct sampan_transport *t;
    uint64_t id; /* 0: retired (sampan_transport_remove_peer), reusable */
    struct sockaddr_storage addr;
    bool addr_set;
    struct out_conn *conn; /* NULL while down */
    bool up;               /* connected and hello sent */
    struct frame *head;    /* queued frames, oldest first */
    struct frame *tail;
    size_t queued_bytes;
    bool writing;
    uv_timer_t timer; /* redial */
    uint32_t backoff_ms;
    struct sampan_transport_stats stats;
};

struct out_conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct link *link; /* the link it serves (link->conn says if current) */
    uint8_t hello[HELLO_BYTES];
    char drain[64]; /* reads on an outbound connection are discarded */
};

struct write_req {
    uv_write_t req;
    struct out_conn *conn;
    struct frame *frames[WRITE_BATCH];
    uv_buf_t bufs[WRITE_BATCH];
    size_t n;
};

/* An inbound connection, for receiving. */
struct in_conn {
    uv_tcp_t tcp;
    struct sampan_transport *t;
    struct in_conn *next;
    uint64_t peer; /* 0 until the handshake */
    uint8_t *buf;
    size_t len;
    size_t cap;
    struct sampan_entry *ents; /* decode scratch, grown as frames need */
    size_t n_ents;
};

struct sampan_transport {
    uv_loop_t *loop;
    struct sampan_transport_config cfg;
    struct sampan_transport_io io;
    uv_tcp_t server;
    uint16_t port;
    struct link links[SAMPAN_TRANSPORT_MAX_PEERS];
    size_t n_links;
    struct in_conn *inbound;
    bool closing;
    int pending_closes; /* handles whose close callback has not run */
    void (*close_cb)(void *arg);
    void *close_arg;
    uint64_t refused;
    uint64_t frames_received;
};

void sampan_transport_config_default(struct sampan_transport_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    /* Must carry the largest entry the core accepts: it sends at least one
     * entry per AppendEntries, however large. */
    cfg->max_frame_bytes = CODEC_MAX_FRAME_DEFAULT;
    cfg->max_queue_bytes = 32u << 20;
    cfg->reconnect_min_ms = 50;
    cfg->reconnect_max_ms = 2000;
}

static void logf_(struct sampan_transport *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_(struct sampan_transport *t, const char *fmt, ...)
{
    if (t->io.log == NULL) {
        return;
    }
    char line[512];
    int off = snprintf(line, sizeof(line),
                       "transport %llu: ", (unsigned long long)t->cfg.node_id);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
    va_end(ap);
    t->io.log(t->io.ctx, line);
}

static void hello_encode(uint8_t *p, uint64_t cluster, uint64_t from,
                         uint64_t to)
{
    memcpy(p, "SMPH", 4);
    put32(p + 4, HELLO_VERSION);
    put64(p + 8, cluster);
    put64(p + 16, from);
    put64(p + 24, to);
    put32(p + 32, crc32c(0, p, 32));
}

static struct link *find_link(struct sampan_transport *t, uint64_t id)
{
    for (size_t i = 0; i < t->n_links; i++) {
        if (t->links[i].id == id) {
            return &t->links[i];
        }
    }
    return NULL;
}

/* ---- closing handles ---------------------------------------------------- */

static void handle_closed(struct sampan_transport *t)
{
    if (--t->pending_closes == 0 && t->closing) {
        void (*cb)(void *) = t->close_cb;
        void *arg = t->close_arg;
        for (size_t i = 0; i < t->n_links; i++) {
            struct frame *f = t->links[i].head;
            while (f != NULL) {
                struct frame *next = f->next;
                free(f);
                f = next;
            }
        }
        free(t);
        if (cb != NULL) {
            cb(arg);
        }
    }
}

static void out_closed(uv_handle_t *h)
{
    struct out_conn *c = h->data;
    struct sampan_transport *t = c->link ? c->link->t : NULL;
    free(c);
    if (t != NULL) {
        handle_closed(t);
    }
}

static void in_closed(uv_handle_t *h)
{
    struct in_conn *c = h->data;
    struct sampan_transport *t = c->t;
    free(c->buf);
    free(c->ents);
    free(c);
    handle_closed(t);
}

static void timer_closed(uv_handle_t *h)
{
    struct link *l = h->data;
    handle_closed(l->t);
}

static void server_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

/* ---- outbound links ------------------------------------------------------ */

static void dial(struct link *l);

static void redial_timer(uv_timer_t *timer)
{
    dial(timer->data);
}

/* The connection failed or broke: forget it and dial again later. */
static void link_down(struct link *l, const char *why, int status)
{
    if (l->conn != NULL) {
        struct out_conn *c = l->conn;
        l->conn = NULL;
        if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
            uv_close((uv_handle_t *)&c->tcp, out_closed);
        }
    }
    bool was_up = l->up;
    l->up = false;
    l->writing = false;
    l->stats.connected = false;
    if (was_up || l->backoff_ms >= l->t->cfg.reconnect_max_ms) {
        logf_(l->t, "link to %llu down: %s%s%s", (unsigned long long)l->id, why,
              status ? ": " : "", status ? uv_strerror(status) : "");
    }
    if (l->t->closing) {
        return;
    }
    uv_timer_start(&l->timer, redial_timer, l->backoff_ms, 0);
    l->backoff_ms *= 2;
    if (l->backoff_ms > l->t->cfg.reconnect_max_ms) {
        l->backoff_ms = l->t->cfg.reconnect_max_ms;
    }
}

static void flush(struct link *l);

static void write_done(uv_write_t *req, int status)
{
    struct write_req *w = req->data;
    struct out_conn *conn = w->conn;
    struct link *l = conn->link;
    for (size_t i = 0; i < w->n; i++) {
        free(w->frames[i]);
    }
    free(w);
    if (l == NULL || l->conn != conn) {
        return; /* the connection was replaced meanwhile */
    }
    l->writing = false;
    if (status != 0) {
        link_down(l, "write failed", status);
        return;
    }
    flush(l);
}

/* Sends everything queued (up to WRITE_BATCH frames) in one write. */
static void flush(struct link *l)
{
    if (!l->up || l->writing || l->head == NULL) {
        return;
    }
    struct write_req *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return; /* retried at the next send */
    }
    w->conn = l->conn;
    while (l->head != NULL && w->n < WRITE_BATCH) {
        struct frame *f = l->head;
        l->head = f->next;
        l->queued_bytes -= f->len;
        w->frames[w->n] = f;
        w->bufs[w->n] = uv_buf_init((char *)f->data, (unsigned)f->len);
        l->stats.frames_sent++;
        l->stats.bytes_sent += f->len;
        w->n++;
    }
    if (l->head == NULL) {
        l->tail = NULL;
    }
    w->req.data = w;
    l->writing = true;
    int rv = uv_write(&w->req, (uv_stream_t *)&l->conn->tcp, w->bufs,
                      (unsigned)w->n, write_done);
    if (rv != 0) {
        for (size_t i = 0; i < w->n; i++) {
            free(w->frames[i]);
        }
        free(w);
        l->writing = false;
        link_down(l, "write failed", rv);
    }
}

static void drain_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct out_conn *c = h->data;
    *buf = uv_buf_init(c->drain, sizeof(c->drain));
}

static void drain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct out_conn *c = s->data;
    if (n < 0 && c->link != NULL && c->link->conn == c) {
        /* The peer closed: it restarted, or refused our handshake. */
        link_down(c->link, "closed by peer", n == UV_EOF ? 0 : (int)n);
    }
}

static void hello_done(uv_write_t *req, int status)
{
    struct out_conn *c = req->data;
    free(req);
    struct link *l = c->link;
    if (l == NULL || l->conn != c) {
        return;
    }
    if (status != 0) {
        link_down(l, "handshake failed", status);
        return;
    }
    l->up = true;
    l->stats.connected = true;
    l->stats.connects++;
    l->backoff_ms = l->t->cfg.reconnect_min_ms;
    logf_(l->t, "link to %llu up", (unsigned long long)l->id);
    flush(l);
}

static void connected(uv_connect_t *req, int status)
{
    struct out_conn *c = req->data;
    struct link *l = c->link;
    if (l == NULL || l->conn != c) {
        return;
    }
    if (status != 0) {
        link_down(l, "connect failed", status);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, drain_alloc, drain_read);
    hello_encode(c->hello, l->t->cfg.cluster_id, l->t->cfg.node_id, l->id);
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)c->hello, HELLO_BYTES);
    if (w == NULL) {
        link_down(l, "out of memory", 0);
        return;
    }
    w->data = c;
    int rv = uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, hello_done);
    if (rv != 0) {
        free(w);
        link_down(l, "handshake failed", rv);
    }
}

static void dial(struct link *l)
{
    struct sampan_transport *t = l->t;
    if (t->closing || l->conn != NULL || !l->addr_set) {
        return;
    }
    struct out_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        uv_timer_start(&l->timer, redial_timer, l->backoff_ms, 0);
        return;
    }
    c->link = l;
    uv_tcp_init(t->loop, &c->tcp);
    t->pending_closes++;
    c->tcp.data = c;
    c->connect.data = c;
    l->conn = c;
    int rv = uv_tcp_connect(&c->connect, &c->tcp,
                            (const struct sockaddr *)&l->addr, connected);
    if (rv != 0) {
        link_down(l, "connect failed", rv);
    }
}

/* ---- inbound connections ------------------------------------------------- */

static void in_close(struct in_conn *c)
{
    struct sampan_transport *t = c->t;
    for (struct in_conn **p = &t->inbound; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, in_closed);
    }
}

static void in_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct in_conn *c = h->data;
    size_t limit = c->t->cfg.max_frame_bytes + 64;
    if (c->cap - c->len < 65536 && c->cap < limit) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        cap = cap > limit ? limit : cap;
        uint8_t *nb = realloc(c->buf, cap);
        if (nb != NULL) {
            c->buf = nb;
            c->cap = cap;
        }
    }
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static bool check_hello(struct in_conn *c)
{
    struct sampan_transport *t = c->t;
    const uint8_t *p = c->buf;
    const char *why = NULL;
    uint64_t from = get64(p + 16);
    if (memcmp(p, "SMPH", 4) != 0 || get32(p + 32) != crc32c(0, p, 32)) {
        why = "not a sampan peer (bad handshake)";
    } else if (get32(p + 4) != HELLO_VERSION) {
        why = "unsupported handshake version";
    } else if (get64(p + 8) != t->cfg.cluster_id) {
        why = "from another cluster";
    } else if (get64(p + 24) != t->cfg.node_id) {
        why = "dialed another node id";
    } else if (from == 0 || find_link(t, from) == NULL) {
        why = "not a member";
    }
    if (why != NULL) {
        t->refused++;
        logf_(t, "refused a connection claiming node %llu, cluster %llu: %s",
              (unsigned long long)from, (unsigned long long)get64(p + 8), why);
        return false;
    }
    c->peer = from;
    return true;
}

/* Decodes whole frames from the buffer and hands them on. */
static bool in_frames(struct in_conn *c)
{
    struct sampan_transport *t = c->t;
    size_t off = 0;
    if (c->peer == 0) {
        if (c->len < HELLO_BYTES) {
            return true;
        }
        if (!check_hello(c)) {
            return false;
        }
        off = HELLO_BYTES;
    }
    for (;;) {
        size_t flen = 0;
        const char *why = NULL;
        int rv = codec_frame_peek(c->buf + off, c->len - off,
                                  t->cfg.max_frame_bytes, &flen, &why);
        if (rv != 0) {
            logf_(t, "peer %llu sent a bad frame (%s): closing",
                  (unsigned long long)c->peer, why ? why : sampan_strerror(rv));
            return false;
        }
        if (flen == 0) {
            break; /* need more bytes */
        }
        struct sampan_msg m;
        rv = codec_msg_decode(c->buf + off, flen, c->ents, c->n_ents, &m, &why);
        if (rv == SAMPAN_ETOOBIG) {
            /* More entries than the scratch holds; the count was checked
             * against the frame's size, so growing to it is bounded. */
            size_t n = m.n_entries;
            struct sampan_entry *e = realloc(c->ents, n * sizeof(*e));
            if (e != NULL) {
                c->ents = e;
                c->n_ents = n;
                rv = codec_msg_decode(c->buf + off, flen, c->ents, c->n_ents,
                                      &m, &why);
            }
        }
        if (rv != 0 || m.from != c->peer || m.to != t->cfg.node_id) {
            logf_(t, "peer %llu sent an undecodable frame (%s): closing",
                  (unsigned long long)c->peer,
                  rv != 0 ? (why ? why : sampan_strerror(rv))
                          : "wrong sender or recipient");
            return false;
        }
        t->frames_received++;
        struct link *l = find_link(t, c->peer);
        if (l != NULL) {
            l->stats.frames_received++;
        }
        t->io.recv(t->io.ctx, &m);
        off += flen;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return true;
}

static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct in_conn *c = s->data;
    if (n < 0) {
        in_close(c);
        return;
    }
    c->len += (size_t)n;
    if (!in_frames(c)) {
        in_close(c);
        return;
    }
    if (c->len == c->cap && c->cap >= c->t->cfg.max_frame_bytes + 64) {
        logf_(c->t, "peer %llu: frame larger than the buffer: closing",
              (unsigned long long)c->peer);
        in_close(c);
    }
}

static void accepted(uv_stream_t *server, int status)
{
    struct sampan_transport *t = server->data;
    if (status != 0 || t->closing) {
        return;
    }
    struct in_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->t = t;
    uv_tcp_init(t->loop, &c->tcp);
    t->pending_closes++;
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, in_closed);
        return;
    }
    c->next = t->inbound;
    t->inbound = c;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, in_alloc, in_read);
}

/* ---- the public API --------------------------------------------------------
 */

static int parse_addr(const char *host, uint16_t port,
                      struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0) {
        return 0;
    }
    return SAMPAN_EINVAL;
}

int sampan_transport_start(struct uv_loop_s *loop,
                           const struct sampan_transport_config *cfg,
                           const struct sampan_transport_io *io,
                           struct sampan_transport **out, char *err,
                           size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage addr;
    if (cfg->node_id == 0 || io == NULL || io->recv == NULL ||
        cfg->max_frame_bytes < 1024 || cfg->reconnect_min_ms == 0 ||
        cfg->reconnect_max_ms < cfg->reconnect_min_ms) {
        snprintf(err, errlen, "transport: invalid configuration");
        return SAMPAN_EINVAL;
    }
    if (parse_addr(cfg->listen_host, cfg->listen_port, &addr) != 0) {
        snprintf(err, errlen, "transport: '%s' is not an IP address",
                 cfg->listen_host);
        return SAMPAN_EINVAL;
    }
    struct sampan_transport *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "transport: out of memory");
        return SAMPAN_ENOMEM;
    }
    t->loop = loop;
    t->cfg = *cfg;
    t->io = *io;
    uv_tcp_init(loop, &t->server);
    t->server.data = t;
    t->pending_closes = 1;
    int rv = uv_tcp_bind(&t->server, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&t->server, 64, accepted);
    }
    if (rv != 0) {
        snprintf(err, errlen, "transport: cannot listen on %s:%u: %s",
                 cfg->listen_host, cfg->listen_port, uv_strerror(rv));
        t->closing = true;
        uv_close((uv_handle_t *)&t->server, server_closed);
        return SAMPAN_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&t->server, (struct sockaddr *)&bound, &len);
    t->port = ntohs(bound.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&bound)->sin6_port
                        : ((struct sockaddr_in *)&bound)->sin_port);
    *out = t;
    return 0;
}

uint16_t sampan_transport_port(const struct sampan_transport *t)
{
    return t->port;
}

int sampan_transport_set_peer(struct sampan_transport *t, uint64_t id,
                              const char *host, uint16_t port)
{
    if (id == 0 || id == t->cfg.node_id || t->closing) {
        return SAMPAN_EINVAL;
    }
    struct sockaddr_storage addr;
    if (parse_addr(host, port, &addr) != 0) {
        return SAMPAN_EINVAL;
    }
    struct link *l = find_link(t, id);
    struct link *retired = find_link(t, 0);
    if (l == NULL && retired != NULL) {
        /* A removed peer's slot: its timer handle is still open, and its
         * old connection (if still closing) no longer points back at it
         * as current, so only the identity and counters start over. */
        l = retired;
        l->id = id;
        l->backoff_ms = t->cfg.reconnect_min_ms;
        memset(&l->stats, 0, sizeof(l->stats));
    } else if (l == NULL) {
        if (t->n_links == SAMPAN_TRANSPORT_MAX_PEERS) {
            return SAMPAN_EBUSY;
        }
        l = &t->links[t->n_links++];
        memset(l, 0, sizeof(*l));
        l->t = t;
        l->id = id;
        l->backoff_ms = t->cfg.reconnect_min_ms;
        uv_timer_init(t->loop, &l->timer);
        l->timer.data = l;
        t->pending_closes++;
    } else if (l->conn != NULL) {
        link_down(l, "address changed", 0);
    }
    l->addr = addr;
    l->addr_set = true;
    dial(l);
    return 0;
}

int sampan_transport_remove_peer(struct sampan_transport *t, uint64_t id)
{
    struct link *l = id == 0 ? NULL : find_link(t, id);
    if (l == NULL || t->closing) {
        return SAMPAN_ENOTMEMBER;
    }
    link_down(l, "peer removed", 0);
    uv_timer_stop(&l->timer); /* link_down scheduled a redial */
    while (l->head != NULL) {
        struct frame *next = l->head->next;
        free(l->head);
        l->head = next;
    }
    l->tail = NULL;
    l->queued_bytes = 0;
    l->addr_set = false;
    l->id = 0; /* retired: no longer found, no longer accepted */
    return 0;
}

int sampan_transport_send(struct sampan_transport *t,
                          const struct sampan_msg *m)
{
    struct link *l = find_link(t, m->to);
    if (l == NULL || t->closing) {
        return SAMPAN_ENOTMEMBER;
    }
    size_t size = codec_msg_size(m);
    if (size > t->cfg.max_frame_bytes) {
        l->stats.dropped++;
        return SAMPAN_ETOOBIG;
    }
    if (l->queued_bytes + size > t->cfg.max_queue_bytes) {
        /* A slow or dead peer never grows our memory: Raft retries. */
        l->stats.dropped++;
        return SAMPAN_EBUSY;
    }
    struct frame *f = malloc(sizeof(*f) + size);
    if (f == NULL) {
        l->stats.dropped++;
        return SAMPAN_ENOMEM;
    }
    size_t written = 0;
    int rv = codec_msg_encode(m, f->data, size, &written);
    if (rv != 0) {
        free(f);
        l->stats.dropped++;
        return rv;
    }
    f->len = written;
    f->next = NULL;
    if (l->tail != NULL) {
        l->tail->next = f;
    } else {
        l->head = f;
    }
    l->tail = f;
    l->queued_bytes += written;
    flush(l);
    return 0;
}

void sampan_transport_stats(const struct sampan_transport *t, uint64_t id,
                            struct sampan_transport_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < t->n_links; i++) {
        const struct sampan_transport_stats *s = &t->links[i].stats;
        if (id != 0 && t->links[i].id != id) {
            continue;
        }
        st->frames_sent += s->frames_sent;
        st->bytes_sent += s->bytes_sent;
        st->frames_received += s->frames_received;
        st->dropped += s->dropped;
        st->connects += s->connects;
        st->connected = id != 0 && s->connected;
    }
    if (id == 0) {
        st->frames_received = t->frames_received;
        st->refused = t->refused;
    }
}

void sampan_transport_close(struct sampan_transport *t, void (*cb)(void *arg),
                            void *arg)
{
    t->closing = true;
    t->close_cb = cb;
    t->close_arg = arg;
    for (size_t i = 0; i < t->n_links; i++) {
        struct link *l = &t->links[i];
        uv_timer_stop(&l->timer);
        uv_close((uv_handle_t *)&l->timer, timer_closed);
        if (l->conn != NULL) {
            struct out_conn *c = l->conn;
            l->conn = NULL;
            uv_close((uv_handle_t *)&c->tcp, out_closed);
        }
    }
    while (t->inbound != NULL) {
        in_close(t->inbound);
    }
    uv_close((uv_handle_t *)&t->server, server_closed);
}
