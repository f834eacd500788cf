/* bench/loadgen.c: sampan-loadgen, a closed-loop load generator for RESP
 * servers (sampan, redis-server) and etcd's v3 HTTP/JSON gateway. Owns the
 * flags, the connections and their request buffers, the single libuv
 * event loop, the warmup/measurement clock and the report. Reply framing
 * is in loadgen_reply.c; the latency histogram and clock in bench_hist.c
 * and bench_util.c. Prints figures, never pass/fail.
 *
 * Each of N connections keeps P requests outstanding: a new request is
 * staged as soon as a reply arrives. A request's latency runs from the
 * moment it is written into the connection's staging buffer to the moment
 * its complete reply has been read. Memory per connection is allocated
 * once: two staging buffers (one being written by libuv, one collecting),
 * a ring of P send times, and a receive buffer that starts small and grows
 * (doubling, a few times at most) up to the reply bound, 4 MiB.
 *
 * There are no globals: the run's shared state is one struct loadgen that
 * main() holds on its stack, and callbacks reach it through pointers they
 * already have: a connection's back pointer (conn->lg), the timer's and the
 * loop's data fields. Helpers take it as their first parameter. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "bench.h"
#include "loadgen_reply.h"

#define PROG "sampan-loadgen"
#define MAX_CONNS 10000u
#define MAX_PIPELINE 1024u
#define MAX_VALUE (1u << 20)
#define MAX_KEYSPACE (UINT64_C(1) << 32)
#define MAX_ADDRS 1024u
#define CONNECT_TIMEOUT_MS 10000u
#define STAGE_TARGET (64u << 10) /* staging buffer size for small requests */
#define RECV_INITIAL (16u << 10)

enum proto {
    PROTO_RESP,
    PROTO_ETCD
};

struct opts {
    enum proto proto;
    const char *addr_arg;
    unsigned conns;
    unsigned pipeline;
    double duration;
    double warmup;
    uint64_t keyspace;
    size_t value_size;
    double read_ratio;
    uint64_t seed;
};

struct target {
    char text[300]; /* "HOST:PORT" as given (also the HTTP Host header) */
    struct sockaddr_storage sa;
};

struct loadgen;

struct conn {
    /* Borrowed: the run this connection belongs to (main()'s, which
     * outlives every connection and callback). */
    struct loadgen *lg;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    const struct target *target;
    bool connected;
    /* Staging: requests are built in sbuf[stage]; sbuf[stage ^ 1] is the
     * one libuv is writing while `writing`. */
    uint8_t *sbuf[2];
    size_t slen[2];
    unsigned stage;
    bool writing;
    /* Received bytes not yet consumed; rneed: bytes worth parsing at. */
    uint8_t *rbuf;
    size_t rlen, rcap, rneed;
    /* Send times of outstanding requests, oldest first (replies arrive
     * in order). */
    uint64_t *sent_at;
    unsigned head, count;
    uint64_t rng;
};

/* Everything the callbacks share: one per run, owned by main() (on its
 * stack). timer.data and loop->data point back to it (borrowed). */
struct loadgen {
    struct opts o;
    struct target *targets; /* owned: n_targets, calloc'd */
    size_t n_targets;
    struct conn *conns; /* owned: o.conns, calloc'd */
    uv_loop_t *loop;    /* borrowed: libuv's default loop */
    uv_timer_t timer;
    unsigned connected;
    bool started, stopping;
    uint64_t t_meas_start, t_meas_end;
    size_t req_max;   /* upper bound on one request's size */
    size_t stage_cap; /* each staging buffer's size */
    size_t reply_max;
    uint8_t *value;  /* owned: value_size bytes */
    char *value_b64; /* owned, etcd: base64 of value */
    size_t value_b64_len;
    struct bench_hist hist;
    uint64_t ops, errors, warm_errors;
    char first_error[LG_REPLY_TEXT_MAX];
    char warm_first_error[LG_REPLY_TEXT_MAX];
};

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

static void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* --- flags ------------------------------------------------------------------
 */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: " PROG " --proto resp|etcd --addr HOST:PORT[,HOST:PORT...]\n"
           "          [--conns N] [--pipeline P] [--duration SEC]"
           " [--warmup SEC]\n"
           "          [--keyspace K] [--value-size B] [--read-ratio R]"
           " [--seed S]\n"
           "\n"
           "A closed-loop load generator: N connections, spread round-robin"
           " over the\n"
           "addresses, each keeping P requests outstanding. Keys are"
           " key:<random in [0,K)>,\n"
           "values B bytes; a request is a read with probability R, else a"
           " write.\n"
           "  resp: SET key value / GET key (sampan, redis-server)\n"
           "  etcd: POST /v3/kv/put and /v3/kv/range on etcd's v3 JSON"
           " gateway (HTTP/1.1)\n"
           "\n"
           "  --conns N        1..10000 (default 16)\n"
           "  --pipeline P     1..1024 requests outstanding per connection"
           " (default 1)\n"
           "  --duration SEC   0.1..3600, measured (default 10)\n"
           "  --warmup SEC     0..3600, run first, not measured (default 1)\n"
           "  --keyspace K     1..4294967296 (default 100000)\n"
           "  --value-size B   1..1048576 bytes (default 100)\n"
           "  --read-ratio R   0..1 (default 0)\n"
           "  --seed S         any 64-bit integer (default 1)\n"
           "\n"
           "Output: a summary line, then\n"
           "  RESULT ops=.. ops_per_sec=.. p50_ms=.. p99_ms=.. p999_ms=.."
           " errors=.. first_error=\"..\"\n"
           "ops counts successful replies in the measured window; error"
           " replies (RESP\n"
           "errors, HTTP status other than 200, a JSON body with \"error\")"
           " are counted\n"
           "apart. A reply longer than 4 MiB, a malformed reply or a failed"
           " connection\n"
           "ends the run (exit 1). Bad flags exit 2.\n");
}

static int bad_flag(const char *flag, const char *val, const char *want)
{
    fprintf(stderr, PROG ": bad value for %s: '%s' (%s)\n", flag, val, want);
    return -1;
}

static int parse_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    char want[96];
    snprintf(want, sizeof(want), "want an integer in %llu..%llu",
             (unsigned long long)lo, (unsigned long long)hi);
    if (s[0] < '0' || s[0] > '9') {
        return bad_flag(flag, s, want);
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return bad_flag(flag, s, want);
    }
    *out = v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double lo, double hi,
                        double *out)
{
    char want[96];
    snprintf(want, sizeof(want), "want a number in %g..%g", lo, hi);
    if (s[0] == '\0' || s[0] == ' ' || s[0] == '\t') {
        return bad_flag(flag, s, want);
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        return bad_flag(flag, s, want);
    }
    *out = v;
    return 0;
}

/* Splits "HOST:PORT" ("[v6]:PORT" too) and resolves it. Returns 0, -1 for
 * a syntax error (a usage error) or -2 if it cannot be resolved. */
static int parse_target(const char *s, size_t n, struct target *t)
{
    if (n == 0 || n >= sizeof(t->text)) {
        return -1;
    }
    memcpy(t->text, s, n);
    t->text[n] = '\0';
    char host[300];
    const char *port;
    char *colon = strrchr(t->text, ':');
    if (colon == NULL || colon == t->text) {
        return -1;
    }
    size_t hlen = (size_t)(colon - t->text);
    const char *h = t->text;
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']') {
            return -1;
        }
        h++;
        hlen -= 2;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    port = colon + 1;
    uint64_t pv;
    char *end;
    if (port[0] < '0' || port[0] > '9') {
        return -1;
    }
    pv = strtoull(port, &end, 10);
    if (*end != '\0' || pv == 0 || pv > 65535) {
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        fprintf(stderr, PROG ": cannot resolve %s: %s\n", t->text,
                rc != 0 ? gai_strerror(rc) : "no address");
        return -2;
    }
    memcpy(&t->sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int parse_targets(struct loadgen *lg, const char *arg)
{
    size_t n = 1;
    for (const char *p = arg; *p != '\0'; p++) {
        n += *p == ',';
    }
    if (n > MAX_ADDRS) {
        fprintf(stderr, PROG ": bad value for --addr: more than %u addresses\n",
                MAX_ADDRS);
        return -1;
    }
    lg->targets = calloc(n, sizeof(*lg->targets));
    if (lg->targets == NULL) {
        fatal("out of memory");
    }
    const char *p = arg;
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int rc = parse_target(p, len, &lg->targets[i]);
        if (rc == -1) {
            fprintf(stderr,
                    PROG ": bad value for --addr: '%.*s' (want HOST:PORT, "
                         "port 1..65535)\n",
                    (int)len, p);
            return -1;
        }
        if (rc == -2) {
            exit(1);
        }
        p = comma != NULL ? comma + 1 : p + len;
    }
    lg->n_targets = n;
    return 0;
}

/* Fills lg->o and lg->targets. Returns 0, 1 after --help, or -1 on a
 * usage error (message printed). */
static int parse_flags(struct loadgen *lg, int argc, char **argv)
{
    struct opts *o = &lg->o;
    memset(o, 0, sizeof(*o));
    o->conns = 16;
    o->pipeline = 1;
    o->duration = 10;
    o->warmup = 1;
    o->keyspace = 100000;
    o->value_size = 100;
    o->read_ratio = 0;
    o->seed = 1;
    const char *proto = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, PROG ": unexpected argument '%s'\n", a);
            return -1;
        }
        /* --flag VALUE or --flag=VALUE */
        char name[32];
        const char *val;
        const char *eq = strchr(a, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof(name)) {
            fprintf(stderr, PROG ": unknown flag '%s'\n", a);
            return -1;
        }
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        static const char *const known[] = {
            "--proto",      "--addr",   "--conns",    "--pipeline",
            "--duration",   "--warmup", "--keyspace", "--value-size",
            "--read-ratio", "--seed"};
        bool ok = false;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            ok = ok || strcmp(name, known[k]) == 0;
        }
        if (!ok) {
            fprintf(stderr, PROG ": unknown flag '%s'\n", name);
            return -1;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, PROG ": %s needs a value\n", name);
            return -1;
        }
        uint64_t u;
        int rc = 0;
        if (strcmp(name, "--proto") == 0) {
            proto = val;
            if (strcmp(val, "resp") == 0) {
                o->proto = PROTO_RESP;
            } else if (strcmp(val, "etcd") == 0) {
                o->proto = PROTO_ETCD;
            } else {
                rc = bad_flag(name, val, "want resp or etcd");
            }
        } else if (strcmp(name, "--addr") == 0) {
            o->addr_arg = val;
        } else if (strcmp(name, "--conns") == 0) {
            rc = parse_u64(name, val, 1, MAX_CONNS, &u);
            o->conns = (unsigned)u;
        } else if (strcmp(name, "--pipeline") == 0) {
            rc = parse_u64(name, val, 1, MAX_PIPELINE, &u);
            o->pipeline = (unsigned)u;
        } else if (strcmp(name, "--duration") == 0) {
            rc = parse_double(name, val, 0.1, 3600, &o->duration);
        } else if (strcmp(name, "--warmup") == 0) {
            rc = parse_double(name, val, 0, 3600, &o->warmup);
        } else if (strcmp(name, "--keyspace") == 0) {
            rc = parse_u64(name, val, 1, MAX_KEYSPACE, &o->keyspace);
        } else if (strcmp(name, "--value-size") == 0) {
            rc = parse_u64(name, val, 1, MAX_VALUE, &u);
            o->value_size = (size_t)u;
        } else if (strcmp(name, "--read-ratio") == 0) {
            rc = parse_double(name, val, 0, 1, &o->read_ratio);
        } else {
            rc = parse_u64(name, val, 0, UINT64_MAX, &o->seed);
        }
        if (rc != 0) {
            return -1;
        }
    }
    if (proto == NULL || o->addr_arg == NULL) {
        fprintf(stderr, PROG ": %s is required\n",
                proto == NULL ? "--proto" : "--addr");
        usage(stderr);
        return -1;
    }
    return parse_targets(lg, o->addr_arg);
}

/* --- requests ----------------------------------------------------------------
 */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static size_t b64_len(size_t n)
{
    return 4 * ((n + 2) / 3);
}

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* Decimal digits of v at p; returns the count. */
static size_t put_u64(uint8_t *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)tmp[n - 1 - i];
    }
    return n;
}

static uint8_t *put(uint8_t *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static uint8_t *put_str(uint8_t *p, const char *s)
{
    return put(p, s, strlen(s));
}

/* Writes one request at p (at least c->lg->req_max bytes free); returns its
 * end. */
static uint8_t *build_request(struct conn *c, uint8_t *p)
{
    const struct loadgen *lg = c->lg;
    uint64_t r = splitmix(&c->rng);
    bool read = (double)(r >> 11) * 0x1.0p-53 < lg->o.read_ratio;
    uint8_t key[32];
    memcpy(key, "key:", 4);
    size_t klen = 4 + put_u64(key + 4, splitmix(&c->rng) % lg->o.keyspace);
    if (lg->o.proto == PROTO_RESP) {
        p = put_str(p, read ? "*2\r\n$3\r\nGET\r\n$" : "*3\r\n$3\r\nSET\r\n$");
        p += put_u64(p, klen);
        p = put(p, "\r\n", 2);
        p = put(p, key, klen);
        p = put(p, "\r\n", 2);
        if (!read) {
            *p++ = '$';
            p += put_u64(p, lg->o.value_size);
            p = put(p, "\r\n", 2);
            p = put(p, lg->value, lg->o.value_size);
            p = put(p, "\r\n", 2);
        }
        return p;
    }
    char kb64[48];
    size_t kb64_len = b64_encode(key, klen, kb64);
    size_t body = 8 + kb64_len + 2; /* {"key":"..."} */
    if (!read) {
        body += 11 + lg->value_b64_len; /* ,"value":"..." */
    }
    p = put_str(p, read ? "POST /v3/kv/range HTTP/1.1\r\nHost: "
                        : "POST /v3/kv/put HTTP/1.1\r\nHost: ");
    p = put_str(p, c->target->text);
    p = put_str(p, "\r\nContent-Type: application/json\r\nContent-Length: ");
    p += put_u64(p, body);
    p = put(p, "\r\n\r\n", 4);
    p = put_str(p, "{\"key\":\"");
    p = put(p, kb64, kb64_len);
    if (!read) {
        p = put_str(p, "\",\"value\":\"");
        p = put(p, lg->value_b64, lg->value_b64_len);
    }
    p = put_str(p, "\"}");
    return p;
}

/* --- connections
 * --------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status);

/* Stages requests until P are outstanding or the staging buffer is full. */
static void fill(struct conn *c)
{
    struct loadgen *lg = c->lg;
    while (!lg->stopping && lg->started && c->count < lg->o.pipeline &&
           lg->stage_cap - c->slen[c->stage] >= lg->req_max) {
        uint8_t *base = c->sbuf[c->stage];
        uint8_t *end = build_request(c, base + c->slen[c->stage]);
        c->slen[c->stage] = (size_t)(end - base);
        c->sent_at[(c->head + c->count) % lg->o.pipeline] = bench_now_ns();
        c->count++;
    }
}

/* Starts writing the staged requests unless a write is in progress. */
static void flush(struct conn *c)
{
    const struct loadgen *lg = c->lg;
    if (c->writing || lg->stopping || c->slen[c->stage] == 0) {
        return;
    }
    uv_buf_t b =
        uv_buf_init((char *)c->sbuf[c->stage], (unsigned)c->slen[c->stage]);
    int rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        fatal("write to %s failed: %s", c->target->text, uv_strerror(rc));
    }
    c->writing = true;
    c->stage ^= 1u;
    c->slen[c->stage] = 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    const struct loadgen *lg = c->lg;
    c->writing = false;
    if (lg->stopping) {
        return;
    }
    if (status < 0) {
        fatal("write to %s failed: %s", c->target->text, uv_strerror(status));
    }
    fill(c);
    flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = h->data;
    const struct loadgen *lg = c->lg;
    size_t want = c->rlen + RECV_INITIAL / 2;
    if (want < c->rneed) {
        want = c->rneed;
    }
    if (want > c->rcap && c->rcap < lg->reply_max) {
        size_t cap = c->rcap * 2;
        while (cap < want) {
            cap *= 2;
        }
        if (cap > lg->reply_max) {
            cap = lg->reply_max;
        }
        uint8_t *nb = realloc(c->rbuf, cap);
        if (nb == NULL) {
            fatal("out of memory for a %zu-byte receive buffer", cap);
        }
        c->rbuf = nb;
        c->rcap = cap;
    }
    *buf =
        uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void account(struct loadgen *lg, const struct lg_reply *rep,
                    uint64_t sent, uint64_t now)
{
    if (now < lg->t_meas_start) {
        if (rep->error && lg->warm_errors++ == 0) {
            snprintf(lg->warm_first_error, sizeof(lg->warm_first_error), "%s",
                     rep->text);
        }
        return;
    }
    if (now >= lg->t_meas_end) {
        return;
    }
    if (rep->error) {
        if (lg->errors++ == 0) {
            snprintf(lg->first_error, sizeof(lg->first_error), "%s", rep->text);
        }
        return;
    }
    lg->ops++;
    bench_hist_add(&lg->hist, now - sent);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = s->data;
    struct loadgen *lg = c->lg;
    if (lg->stopping) {
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            fatal("%s closed the connection", c->target->text);
        }
        fatal("read from %s failed: %s", c->target->text,
              uv_strerror((int)nread));
    }
    c->rlen += (size_t)nread;
    size_t off = 0;
    while (c->rlen - off >= c->rneed) {
        struct lg_reply rep;
        int rc = lg->o.proto == PROTO_RESP
                     ? lg_reply_parse_resp(c->rbuf + off, c->rlen - off,
                                           lg->reply_max, &rep)
                     : lg_reply_parse_http(c->rbuf + off, c->rlen - off,
                                           lg->reply_max, &rep);
        if (rc < 0) {
            fatal("bad reply from %s: %s", c->target->text, rep.text);
        }
        if (rep.len == 0) {
            c->rneed = rep.need;
            break;
        }
        if (c->count == 0) {
            fatal("%s sent a reply to no request", c->target->text);
        }
        uint64_t sent = c->sent_at[c->head];
        c->head = (c->head + 1) % lg->o.pipeline;
        c->count--;
        account(lg, &rep, sent, bench_now_ns());
        off += rep.len;
        c->rneed = 1;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    fill(c);
    flush(c);
}

static void on_timer(uv_timer_t *t);

static void start_load(struct loadgen *lg)
{
    uint64_t now = bench_now_ns();
    lg->t_meas_start = now + (uint64_t)(lg->o.warmup * 1e9);
    lg->t_meas_end = lg->t_meas_start + (uint64_t)(lg->o.duration * 1e9);
    lg->started = true;
    uv_timer_stop(&lg->timer);
    on_timer(&lg->timer); /* arms the end-of-run timer */
    for (unsigned i = 0; i < lg->o.conns; i++) {
        fill(&lg->conns[i]);
        flush(&lg->conns[i]);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct loadgen *lg = t->data;
    uint64_t now = bench_now_ns();
    if (!lg->started) {
        const char *which = lg->o.addr_arg;
        for (unsigned i = 0; i < lg->o.conns; i++) {
            if (!lg->conns[i].connected) {
                which = lg->conns[i].target->text;
                break;
            }
        }
        fatal("cannot connect to %s: no answer within %u ms", which,
              CONNECT_TIMEOUT_MS);
    }
    if (now < lg->t_meas_end) {
        uint64_t ms = (lg->t_meas_end - now) / 1000000u + 1u;
        uv_timer_start(t, on_timer, ms, 0);
        return;
    }
    lg->stopping = true;
    uv_stop(lg->loop);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct loadgen *lg = c->lg;
    if (status < 0) {
        fatal("cannot connect to %s: %s", c->target->text, uv_strerror(status));
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        fatal("cannot read from %s: %s", c->target->text, uv_strerror(rc));
    }
    c->connected = true;
    if (++lg->connected == lg->o.conns) {
        start_load(lg);
    }
}

static void conn_init(struct loadgen *lg, struct conn *c, unsigned idx)
{
    c->lg = lg; /* borrowed back pointer: lg outlives c */
    c->target = &lg->targets[idx % lg->n_targets];
    c->rng = lg->o.seed ^ (UINT64_C(0xd1b54a32d192ed03) * (idx + 1u));
    for (unsigned k = 0; k < 2; k++) {
        c->sbuf[k] = malloc(lg->stage_cap);
    }
    c->rcap = RECV_INITIAL < lg->reply_max ? RECV_INITIAL : lg->reply_max;
    c->rbuf = malloc(c->rcap);
    c->rneed = 1;
    c->sent_at = calloc(lg->o.pipeline, sizeof(uint64_t));
    if (c->sbuf[0] == NULL || c->sbuf[1] == NULL || c->rbuf == NULL ||
        c->sent_at == NULL) {
        fatal("out of memory for connection %u", idx);
    }
    c->tcp.data = c;
    c->connect.data = c;
    c->write.data = c;
    int rc = uv_tcp_init(lg->loop, &c->tcp);
    if (rc == 0) {
        rc =
            uv_tcp_connect(&c->connect, &c->tcp,
                           (const struct sockaddr *)&c->target->sa, on_connect);
    }
    if (rc < 0) {
        fatal("cannot connect to %s: %s", c->target->text, uv_strerror(rc));
    }
}

/* --- main
 * ---------------------------------------------------------------------- */

static void raise_fd_limit(unsigned conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    rlim_t want = (rlim_t)conns + 64;
    if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void on_close(uv_handle_t *h)
{
    (void)h;
}

static void report(const struct loadgen *lg)
{
    double secs = (double)(lg->t_meas_end - lg->t_meas_start) / 1e9;
    double ops_s = (double)lg->ops / secs;
    double p50 = (double)bench_hist_quantile(&lg->hist, 0.50) / 1e6;
    double p99 = (double)bench_hist_quantile(&lg->hist, 0.99) / 1e6;
    double p999 = (double)bench_hist_quantile(&lg->hist, 0.999) / 1e6;
    if (lg->warm_errors > 0) {
        fprintf(stderr, PROG ": %llu errors during warmup (first: %s)\n",
                (unsigned long long)lg->warm_errors, lg->warm_first_error);
    }
    printf("%s %s conns=%u pipeline=%u reads=%.2f: %.0f ops/s, p50 %.3f ms, "
           "p99 %.3f ms, p99.9 %.3f ms, %llu errors\n",
           lg->o.proto == PROTO_RESP ? "resp" : "etcd", lg->o.addr_arg,
           lg->o.conns, lg->o.pipeline, lg->o.read_ratio, ops_s, p50, p99, p999,
           (unsigned long long)lg->errors);
    printf("RESULT ops=%llu ops_per_sec=%.1f p50_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f errors=%llu first_error=\"%s\"\n",
           (unsigned long long)lg->ops, ops_s, p50, p99, p999,
           (unsigned long long)lg->errors, lg->first_error);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    /* The run's state, owned here; everything else borrows it. */
    struct loadgen run;
    memset(&run, 0, sizeof(run));
    struct loadgen *lg = &run;
    int rc = parse_flags(lg, argc, argv);
    if (rc != 0) {
        /* lg->targets may be allocated; run dies with this frame. */
        free(lg->targets);
        return rc > 0 ? 0 : 2;
    }
    /* A server closing its end must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(lg->o.conns);

    lg->reply_max = LG_REPLY_MAX_DEFAULT;
    size_t vb = lg->o.value_size;
    lg->value = malloc(vb);
    if (lg->value == NULL) {
        fatal("out of memory");
    }
    uint64_t vs = lg->o.seed;
    static const char alnum[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t i = 0; i < vb; i++) {
        lg->value[i] = (uint8_t)alnum[splitmix(&vs) % (sizeof(alnum) - 1)];
    }
    if (lg->o.proto == PROTO_RESP) {
        lg->req_max = vb + 128;
    } else {
        lg->value_b64 = malloc(b64_len(vb));
        if (lg->value_b64 == NULL) {
            fatal("out of memory");
        }
        lg->value_b64_len = b64_encode(lg->value, vb, lg->value_b64);
        size_t host_max = 0;
        for (size_t i = 0; i < lg->n_targets; i++) {
            size_t n = strlen(lg->targets[i].text);
            host_max = n > host_max ? n : host_max;
        }
        lg->req_max = lg->value_b64_len + host_max + 256;
    }
    /* Room for several requests per write when they are small. */
    size_t want = (size_t)lg->o.pipeline * lg->req_max;
    lg->stage_cap = want < STAGE_TARGET ? want : STAGE_TARGET;
    if (lg->stage_cap < lg->req_max) {
        lg->stage_cap = lg->req_max;
    }

    lg->loop = uv_default_loop();
    lg->loop->data = lg; /* borrowed: lg outlives the loop's use */
    lg->conns = calloc(lg->o.conns, sizeof(*lg->conns));
    if (lg->conns == NULL) {
        fatal("out of memory");
    }
    bench_hist_reset(&lg->hist);
    uv_timer_init(lg->loop, &lg->timer);
    lg->timer.data = lg; /* borrowed: how on_timer finds the run */
    uv_timer_start(&lg->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
    for (unsigned i = 0; i < lg->o.conns; i++) {
        conn_init(lg, &lg->conns[i], i);
    }
    uv_run(lg->loop, UV_RUN_DEFAULT);
    report(lg);

    /* Close everything; pending writes end with ECANCELED. */
    lg->stopping = true;
    uv_close((uv_handle_t *)&lg->timer, on_close);
    for (unsigned i = 0; i < lg->o.conns; i++) {
        uv_close((uv_handle_t *)&lg->conns[i].tcp, on_close);
    }
    uv_run(lg->loop, UV_RUN_DEFAULT);
    uv_loop_close(lg->loop);
    for (unsigned i = 0; i < lg->o.conns; i++) {
        struct conn *c = &lg->conns[i];
        free(c->sbuf[0]);
        free(c->sbuf[1]);
        free(c->rbuf);
        free(c->sent_at);
    }
    free(lg->conns);
    free(lg->targets);
    free(lg->value);
    free(lg->value_b64);
    return 0;
}
