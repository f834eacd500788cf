/* fuzz/fuzz_loadgen_reply.c: the load generator's reply parsers
 * (lg_reply_parse_resp and lg_reply_parse_http in bench/loadgen_reply.h)
 * on arbitrary bytes, on streams assembled from protocol tokens, and on
 * streams of valid replies generated from the input (optionally damaged).
 *
 * The first byte picks the parser, the bound (tiny, so it is crossed
 * often, or the default) and how the stream is made. Properties, every
 * call on an exact-size heap copy (ASan catches reads past the end):
 *   - results are well formed: 0 / SAMPAN_EINVAL / SAMPAN_ETOOBIG; a
 *     complete reply lies inside the bytes and the bound; "need more"
 *     asks for more than was given and no more than the bound; texts are
 *     NUL-terminated, printable, without '"' or '\\';
 *   - a complete reply of L bytes parses the same from exactly L bytes,
 *     every shorter prefix asks for more with need <= L, and one byte
 *     less than that need gives the same answer (the hint is exact);
 *   - consuming a stream reply by reply gives the same replies whether it
 *     arrives whole or in random pieces with calls skipped until `need`
 *     bytes are there (as sampan-loadgen does);
 *   - generated valid replies parse complete, at their exact length, with
 *     the error flag they were built with.
 *
 *   build/bin/fuzz-loadgen_reply-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "loadgen_reply.h"
#include "sampan/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_loadgen_reply: check failed: %s (%s:%d)\n",  \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define STREAM_MAX 65536u

typedef int (*parse_fn)(const uint8_t *, size_t, size_t, struct lg_reply *);

struct buf {
    uint8_t *b;
    size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n) {
            cap *= 2;
        }
        b->b = realloc(b->b, cap);
        FUZZ_CHECK(b->b != NULL);
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->b + b->len, p, n);
        b->len += n;
    }
}

static void buf_str(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, unsigned long long v)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), fmt, v);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(tmp));
    buf_put(b, tmp, (size_t)n);
}

/* One call on an exact-size copy of p[0..n), with the result checked. */
static int call(parse_fn f, const uint8_t *p, size_t n, size_t max,
                struct lg_reply *out)
{
    uint8_t *copy = n == 0 ? NULL : malloc(n);
    if (n > 0) {
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, p, n);
    }
    memset(out, 0x5a, sizeof(*out)); /* every field must be written */
    int rc = f(copy, n, max, out);
    free(copy);
    size_t tl = strnlen(out->text, LG_REPLY_TEXT_MAX);
    FUZZ_CHECK(tl < LG_REPLY_TEXT_MAX);
    for (size_t i = 0; i < tl; i++) {
        char ch = out->text[i];
        FUZZ_CHECK(ch >= 0x20 && ch <= 0x7e && ch != '"' && ch != '\\');
    }
    if (rc < 0) {
        FUZZ_CHECK(rc == SAMPAN_EINVAL || rc == SAMPAN_ETOOBIG);
        FUZZ_CHECK(tl > 0 && out->len == 0);
    } else {
        FUZZ_CHECK(rc == 0);
        if (out->len > 0) {
            FUZZ_CHECK(out->len <= n && out->len <= max && out->need == 0);
            FUZZ_CHECK(out->error == (tl > 0));
        } else {
            FUZZ_CHECK(out->need > n && out->need <= max);
            FUZZ_CHECK(!out->error && tl == 0);
        }
    }
    return rc;
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A reply complete at L bytes: exact, prefix-closed, hint exact. */
static void check_prefixes(parse_fn f, const uint8_t *p,
                           const struct lg_reply *whole, size_t max,
                           uint64_t seed)
{
    size_t L = whole->len;
    struct lg_reply r;
    FUZZ_CHECK(call(f, p, L, max, &r) == 0);
    FUZZ_CHECK(r.len == L && r.error == whole->error);
    FUZZ_CHECK(strcmp(r.text, whole->text) == 0);
    size_t tries = L <= 64 ? L : 24;
    for (size_t t = 0; t < tries; t++) {
        size_t k = L <= 64 ? t : (size_t)(mix(&seed) % L);
        FUZZ_CHECK(call(f, p, k, max, &r) == 0);
        FUZZ_CHECK(r.len == 0 && r.need <= L);
        size_t need = r.need;
        FUZZ_CHECK(call(f, p, need - 1, max, &r) == 0);
        FUZZ_CHECK(r.len == 0 && r.need == need);
    }
}

/* What a consumer saw: per reply its length, error flag and text, then
 * how it ended (the error code and text, or the bytes left over). */
static void consume(parse_fn f, const uint8_t *s, size_t n, size_t max,
                    uint64_t seed, struct buf *log, bool check)
{
    size_t start = 0;
    size_t visible = seed == 0 ? n : 0;
    size_t need = 1; /* relative to start */
    size_t max_piece = 1 + (size_t)(seed % 97u);
    for (;;) {
        if (visible - start >= need) {
            struct lg_reply r;
            int rc = call(f, s + start, visible - start, max, &r);
            if (rc < 0) {
                buf_fmt(log, "E%llu:", (unsigned long long)-rc);
                buf_str(log, r.text);
                return;
            }
            if (r.len > 0) {
                if (check) {
                    check_prefixes(f, s + start, &r, max, seed ^ start);
                }
                buf_fmt(log, "R%llu", (unsigned long long)r.len);
                buf_fmt(log, r.error ? "e%llu:" : "o%llu:",
                        (unsigned long long)strlen(r.text));
                buf_str(log, r.text);
                start += r.len;
                need = 1;
                continue;
            }
            need = r.need;
        }
        if (visible == n) {
            buf_fmt(log, "I%llu", (unsigned long long)(n - start));
            return;
        }
        size_t piece = 1 + (size_t)(mix(&seed) % max_piece);
        if (mix(&seed) % 8u == 0) {
            piece = n - visible;
        }
        visible = piece > n - visible ? n : visible + piece;
    }
}

/* --- generated valid replies --------------------------------------------- */

static void gen_text(struct fuzz_in *in, struct buf *b, size_t max)
{
    static const char chars[] = "abcXYZ019 _-:{}\"',.\\\t";
    size_t n = fuzz_u8(in) % (max + 1);
    for (size_t i = 0; i < n; i++) {
        char ch = chars[fuzz_u8(in) % (sizeof(chars) - 1)];
        buf_put(b, &ch, 1);
    }
}

static void gen_resp(struct fuzz_in *in, struct buf *b, unsigned depth)
{
    uint8_t t = fuzz_u8(in);
    switch (t % (depth < 3 ? 7u : 6u)) {
    case 0:
        buf_str(b, "+");
        gen_text(in, b, 20);
        buf_str(b, "\r\n");
        break;
    case 1:
        buf_str(b, "-ERR ");
        gen_text(in, b, 40);
        buf_str(b, "\r\n");
        break;
    case 2: {
        uint64_t v = fuzz_u64(in);
        buf_str(b, (v & 1u) != 0 ? ":-" : ":");
        buf_fmt(b, "%llu\r\n", (unsigned long long)(v >> 5));
    } break;
    case 3:
        buf_str(b, "$-1\r\n");
        break;
    case 4:
    case 5: {
        size_t n = fuzz_u8(in) % 4u == 0 ? (size_t)fuzz_u8(in) * 37u
                                         : fuzz_u8(in) % 16u;
        buf_fmt(b, "$%llu\r\n", (unsigned long long)n);
        for (size_t i = 0; i < n; i++) {
            uint8_t ch = fuzz_u8(in); /* any byte, CR and LF included */
            buf_put(b, &ch, 1);
        }
        buf_str(b, "\r\n");
        break;
    }
    default: {
        unsigned n = fuzz_u8(in) % 5u;
        buf_fmt(b, "*%llu\r\n", n);
        for (unsigned i = 0; i < n; i++) {
            gen_resp(in, b, depth + 1);
        }
        break;
    }
    }
}

static void gen_case(struct fuzz_in *in, struct buf *b, const char *name)
{
    for (const char *p = name; *p != '\0'; p++) {
        char ch = *p;
        if ((fuzz_u8(in) & 1u) != 0 && ch >= 'a' && ch <= 'z') {
            ch = (char)(ch - 'a' + 'A');
        }
        buf_put(b, &ch, 1);
    }
}

/* One HTTP response; returns whether it is an error reply. */
static bool gen_http(struct fuzz_in *in, struct buf *b)
{
    static const int statuses[] = {200, 200, 200, 400, 404, 500, 503, 204};
    int status = statuses[fuzz_u8(in) % 8u];
    buf_fmt(b, "HTTP/1.1 %llu ", (unsigned long long)status);
    gen_text(in, b, 12);
    buf_str(b, "\r\n");

    struct buf body = {0};
    static const char *const bodies[] = {
        "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"5\"}}",
        "{\"error\":\"etcdserver: request timed out\",\"code\":14}",
        "{\"kvs\":[{\"key\":\"a2V5OjE=\",\"value\":\"eA==\"}],\"count\":\"1\"}",
        "{\"message\":\"error\"}",
        "",
        "{\"x\":\"\"error\":1}",
        "{\"x\":\"\"err\"}",
    };
    buf_str(&body, bodies[fuzz_u8(in) % 7u]);
    gen_text(in, &body, 30);
    if (status == 204) {
        body.len = 0;
    }
    bool has_err = false;
    for (size_t i = 0; i + 7 <= body.len; i++) {
        has_err = has_err || memcmp(body.b + i, "\"error\"", 7) == 0;
    }

    unsigned extra = fuzz_u8(in) % 4u;
    for (unsigned i = 0; i < extra; i++) {
        gen_case(in, b, "x-etcd-thing:");
        gen_text(in, b, 10); /* may hold '"' and '\\' but no CR/LF */
        buf_str(b, "\r\n");
    }
    gen_case(in, b, "content-type: application/json\r\n");
    bool chunked = status != 204 && (fuzz_u8(in) & 1u) != 0;
    if (chunked) {
        gen_case(in, b, "transfer-encoding: chunked\r\n\r\n");
        size_t at = 0;
        while (at < body.len) {
            size_t n = 1 + fuzz_u8(in) % 24u;
            if (n > body.len - at) {
                n = body.len - at;
            }
            buf_fmt(b, (fuzz_u8(in) & 1u) != 0 ? "%llx\r\n" : "%llX;ext=1\r\n",
                    (unsigned long long)n);
            buf_put(b, body.b + at, n);
            buf_str(b, "\r\n");
            at += n;
        }
        buf_str(b, "0\r\n");
        if ((fuzz_u8(in) & 3u) == 0) {
            buf_str(b, "Trailer-X: 1\r\n");
        }
        buf_str(b, "\r\n");
    } else {
        if (status != 204 || (fuzz_u8(in) & 1u) != 0) {
            gen_case(in, b, "content-length:");
            buf_fmt(b, " %llu\r\n", (unsigned long long)body.len);
        }
        buf_str(b, "\r\n");
        buf_put(b, body.b, body.len);
    }
    free(body.b);
    return status != 200 || has_err;
}

/* Valid replies back to back; checks each parses exactly as built. */
static void gen_stream(struct fuzz_in *in, bool http, size_t max, struct buf *s,
                       bool damage)
{
    parse_fn f = http ? lg_reply_parse_http : lg_reply_parse_resp;
    unsigned count = 1 + fuzz_u8(in) % 6u;
    for (unsigned i = 0; i < count && s->len < STREAM_MAX; i++) {
        size_t at = s->len;
        bool err = http ? gen_http(in, s) : false;
        if (!http) {
            gen_resp(in, s, 0);
            err = s->b[at] == '-';
        }
        if (damage) {
            continue;
        }
        struct lg_reply r;
        size_t len = s->len - at;
        int rc = call(f, s->b + at, len, max, &r);
        if (len <= max) {
            FUZZ_CHECK(rc == 0 && r.len == len && r.error == err);
        } else {
            FUZZ_CHECK(rc == SAMPAN_ETOOBIG);
        }
    }
    if (damage) {
        fuzz_edit(in, s->b, s->len);
    }
}

/* --- tokens ------------------------------------------------------------- */

static const char *const tokens[] = {
    "\r\n",
    "\r",
    "\n",
    "+OK",
    "-ERR x",
    ":",
    "$",
    "*",
    "-1",
    "0",
    "1",
    "2",
    "3",
    "5",
    "99999999999999999999",
    "$3\r\nabc\r\n",
    "*2\r\n",
    "HTTP/1.1 200 OK\r\n",
    "HTTP/1.1 503 Service Unavailable\r\n",
    "HTTP/1.0 204 No Content\r\n",
    "Content-Length: ",
    "content-length:",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip\r\n",
    "\r\n\r\n",
    "0\r\n\r\n",
    "a\r\n",
    "ffffffffffffffff\r\n",
    ";x=y",
    "{\"error\":\"x\"}",
    "\"err",
    "or\"",
    "{\"header\":{}}",
    " ",
    ":",
    "X-A: b\r\n",
};

static void assemble(struct fuzz_in *in, struct buf *s)
{
    size_t ntok = sizeof(tokens) / sizeof(tokens[0]);
    while (in->n > 0 && s->len < STREAM_MAX) {
        uint8_t b = fuzz_u8(in);
        if (b < 224) {
            buf_str(s, tokens[b % ntok]);
        } else {
            uint8_t raw = fuzz_u8(in);
            buf_put(s, &raw, 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in);
    bool http = (mode & 1u) != 0;
    parse_fn f = http ? lg_reply_parse_http : lg_reply_parse_resp;
    size_t max = LG_REPLY_MAX_DEFAULT;
    if ((mode & 2u) != 0) {
        max = 1 + (size_t)fuzz_near(&in, 64) % 4096u;
    }
    uint64_t seed = (uint64_t)fuzz_u8(&in) << 8 | fuzz_u8(&in);
    seed = seed * 2u + 1u; /* never 0: 0 means all at once */

    struct buf s = {0};
    switch ((mode >> 2) % 4u) {
    case 0:
        buf_put(&s, in.p, in.n);
        break;
    case 1:
        assemble(&in, &s);
        break;
    case 2:
        gen_stream(&in, http, max, &s, false);
        break;
    default:
        gen_stream(&in, http, max, &s, true);
        break;
    }

    struct buf whole = {0};
    struct buf split = {0};
    consume(f, s.b, s.len, max, 0, &whole, true);
    consume(f, s.b, s.len, max, seed, &split, false);
    FUZZ_CHECK(whole.len == split.len);
    FUZZ_CHECK(whole.len == 0 || memcmp(whole.b, split.b, whole.len) == 0);
    free(whole.b);
    free(split.b);
    free(s.b);
    return 0;
}
