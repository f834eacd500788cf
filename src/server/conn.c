/* server/conn.c: client connections: reading bytes, parsing RESP requests
 * (pipelined), answering them in order however they complete, and the
 * per-client bounds: at most max_pipeline unanswered requests (past that
 * the connection stops being read until replies go out), a request no
 * larger than the parser's limit, an output buffer no larger than its
 * limit (past that the client is disconnected). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

/* A connection id is (serial << 32) | slot: unique over the server's life,
 * and naming its place in the table, so lookups are O(1) and a place is
 * reused as soon as it is free. */
struct conn *conn_find(struct server *s, uint64_t id)
{
    uint32_t slot = (uint32_t)id;
    if (slot >= s->cfg.max_clients) {
        return NULL;
    }
    struct conn *c = s->conns[slot];
    return c != NULL && c->id == id && !c->closing ? c : NULL;
}

static void conn_freed(uv_handle_t *h)
{
    struct conn *c = h->data;
    uint32_t depth = c->srv->cfg.max_pipeline;
    for (uint32_t i = 0; c->replies != NULL && i < depth; i++) {
        free(c->replies[i].data);
    }
    free(c->replies);
    free(c->in);
    resp_request_free(&c->req);
    resp_out_free(&c->out);
    free(c);
}

void conn_close(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    struct server *s = c->srv;
    uint32_t slot = (uint32_t)c->id;
    s->conns[slot] = NULL;
    s->free_slots[s->n_free++] = slot;
    s->n_conns--;
    /* Requests still waiting for the log find no connection and are
     * dropped when they complete. */
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void write_out(struct conn *c);
static void start_reading(struct conn *c);

struct out_req {
    uv_write_t req;
    uint8_t *data; /* owned: the bytes being written */
};

static void out_done(uv_write_t *req, int status)
{
    struct out_req *w = (struct out_req *)req;
    struct conn *c = req->data;
    free(w->data);
    free(w);
    if (c->closing) {
        return;
    }
    c->writing = false;
    if (status != 0) {
        conn_close(c);
        return;
    }
    write_out(c);
}

/* Writes everything ready, one write at a time (the buffer is handed to
 * the write and a fresh one started, so replies keep accumulating). */
static void write_out(struct conn *c)
{
    if (c->closing || c->writing) {
        return;
    }
    if (c->out.len == 0) {
        if (c->quit) {
            conn_close(c);
        }
        return;
    }
    struct out_req *w = malloc(sizeof(*w));
    if (w == NULL) {
        conn_close(c);
        return;
    }
    w->data = c->out.buf;
    uv_buf_t b = uv_buf_init((char *)c->out.buf, (unsigned)c->out.len);
    size_t limit = c->out.limit;
    resp_out_init(&c->out, limit);
    w->req.data = c;
    c->writing = true;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, out_done) != 0) {
        free(w->data);
        free(w);
        conn_close(c);
    }
}

void conn_reply(struct conn *c, uint64_t slot, struct resp_out *o)
{
    if (c->closing) {
        return;
    }
    uint32_t depth = c->srv->cfg.max_pipeline;
    struct reply *r = &c->replies[slot % depth];
    r->data = o->buf;
    r->len = o->len;
    r->ready = true;
    size_t limit = o->limit;
    resp_out_init(o, limit); /* the slot owns the bytes now */
    /* Move every answered request at the head, in order, to the output. */
    bool freed = false;
    while (c->head < c->next) {
        struct reply *h = &c->replies[c->head % depth];
        if (!h->ready) {
            break;
        }
        int rv = resp_out_raw(&c->out, h->data, h->len);
        free(h->data);
        h->data = NULL;
        h->len = 0;
        h->ready = false;
        c->head++;
        freed = true;
        if (rv != 0) {
            /* A client that does not read its replies: disconnect rather
             * than buffer without bound. */
            conn_close(c);
            return;
        }
    }
    write_out(c);
    if (freed && !c->reading) {
        start_reading(c);
    }
}

void conn_reply_error(struct conn *c, uint64_t slot, const char *msg)
{
    struct resp_out o;
    resp_out_init(&o, 0);
    resp_out_error(&o, msg);
    conn_reply(c, slot, &o);
    resp_out_free(&o);
}

/* Parses and runs as many requests as the pipeline bound allows. */
static void parse_input(struct conn *c)
{
    uint32_t depth = c->srv->cfg.max_pipeline;
    size_t off = 0;
    while (!c->closing && !c->quit && off < c->in_len) {
        if (c->next - c->head >= depth) {
            /* Too many unanswered: stop reading until replies go out. */
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
            break;
        }
        size_t consumed = 0;
        int rv = resp_parse(&c->parser, c->in + off, c->in_len - off, &c->req,
                            &consumed);
        if (rv != 0) {
            /* A protocol error: answer it, then close (as Redis does). */
            uint64_t slot = c->next++;
            conn_reply_error(c, slot, resp_parser_error(&c->parser));
            c->quit = true;
            write_out(c);
            break;
        }
        if (consumed == 0) {
            break; /* incomplete: wait for more bytes */
        }
        if (c->req.argc > 0) {
            /* In order: a read waits for the connection's writes to be
             * applied (so it sees them), a write for its reads to be
             * answered (so they do not see it). Leave the request in the
             * buffer; it is parsed again when the other kind is done. */
            enum kv_kind kind =
                kv_command_kind(c->req.argv[0], c->req.arglen[0]);
            bool seq = resp_arg_is(&c->req, 0, "SEQ");
            if ((kind == KV_KIND_READ && !c->stale_reads &&
                 c->writes_in_flight > 0) ||
                ((kind == KV_KIND_WRITE || seq) && c->reads_in_flight > 0)) {
                c->blocked = true;
                break;
            }
        }
        off += consumed;
        if (c->req.argc > 0) {
            uint64_t slot = c->next++;
            c->srv->commands++;
            command_run(c, &c->req, slot);
        }
    }
    if (off > 0 && !c->closing) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

void conn_request_done(struct conn *c, bool is_read)
{
    uint32_t *n = is_read ? &c->reads_in_flight : &c->writes_in_flight;
    if (*n > 0) {
        (*n)--;
    }
    if (*n == 0 && c->blocked && !c->closing) {
        c->blocked = false;
        parse_input(c); /* the request that waited, and what follows */
    }
}

static void alloc_in(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct conn *c = h->data;
    size_t need = resp_parser_need(&c->parser);
    if (need < c->in_len + 16384) {
        need = c->in_len + 16384;
    }
    if (need > c->in_cap) {
        uint8_t *nb = realloc(c->in, need);
        if (nb != NULL) {
            c->in = nb;
            c->in_cap = need;
        }
    }
    *buf = uv_buf_init((char *)c->in + c->in_len,
                       (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = stream->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    parse_input(c);
}

static void start_reading(struct conn *c)
{
    if (c->closing || c->quit) {
        return;
    }
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_in, on_read);
    parse_input(c); /* requests already buffered while paused */
}

void conn_accept(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    if (status != 0 || s->stopping) {
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->srv = s;
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        resp_out_init(&c->out, 0);
        uv_close((uv_handle_t *)&c->tcp, conn_freed);
        return;
    }
    c->replies = calloc(s->cfg.max_pipeline, sizeof(*c->replies));
    bool full = s->n_free == 0;
    uint32_t slot = full ? 0 : s->free_slots[s->n_free - 1];
    uint64_t id = (s->next_conn_id++ << 32) | slot;
    if (c->replies == NULL || resp_parser_init(&c->parser, NULL) != 0 ||
        resp_request_init(&c->req) != 0 || full) {
        /* Over the client limit: say so, then hang up. */
        s->rejected_clients++;
        static const char msg[] = "-ERR max number of clients reached\r\n";
        uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        c->id = 0;
        c->closing = true;
        resp_out_init(&c->out, 0);
        uv_close((uv_handle_t *)&c->tcp, conn_freed);
        return;
    }
    resp_out_init(&c->out, 0);
    c->id = id;
    s->n_free--;
    s->conns[slot] = c;
    s->n_conns++;
    uv_tcp_nodelay(&c->tcp, 1);
    start_reading(c);
}
