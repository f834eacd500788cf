/* fuzz/fuzz_resp.c: the RESP request parser (resp_parse in
 * src/server/resp.h) on arbitrary and on nearly valid byte streams.
 *
 * The first byte picks the limits (tiny ones, so every bound is crossed
 * often, or the defaults) and how the stream is made: the rest of the
 * input verbatim, or a stream assembled from input-chosen protocol tokens
 * ("*", "$", digits, CRLF, quotes, escapes, words), so a fuzzer without
 * coverage feedback still reaches arguments, quoting and limits. The
 * stream is parsed as a connection would: once with all of it visible,
 * and once arriving in random pieces, each call on a fresh exact-size
 * copy of the unconsumed bytes (the buffer moves, and ASan catches a read
 * past its end). Properties: consumed never exceeds the bytes given;
 * every argument lies inside the consumed bytes or the request's scratch;
 * an error comes with a text; both runs yield the same requests and end
 * the same way.
 *
 *   build/bin/fuzz-resp-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "server/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_resp: check failed: %s (%s:%d)\n", #cond,    \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* What a run produced: each request as (argc, then len + bytes per
 * argument), then the end: the error code and text, or the bytes left
 * over. */
struct log {
    uint8_t *b;
    size_t len, cap;
};

static void log_put(struct log *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap == 0 ? 1024 : l->cap;
        while (cap < l->len + n) {
            cap *= 2;
        }
        l->b = realloc(l->b, cap);
        FUZZ_CHECK(l->b != NULL);
        l->cap = cap;
    }
    if (n > 0) {
        memcpy(l->b + l->len, p, n);
        l->len += n;
    }
}

static void log_size(struct log *l, size_t v)
{
    log_put(l, &v, sizeof(v));
}

static void check_inside(const struct resp_request *req, const uint8_t *buf,
                         size_t consumed)
{
    for (size_t i = 0; i < req->argc; i++) {
        uintptr_t a = (uintptr_t)req->argv[i];
        size_t n = req->arglen[i];
        int in_buf = a >= (uintptr_t)buf && a + n <= (uintptr_t)buf + consumed;
        int in_scratch = req->scratch != NULL && a >= (uintptr_t)req->scratch &&
                         a + n <= (uintptr_t)req->scratch + req->scratch_cap;
        FUZZ_CHECK(in_buf || in_scratch);
    }
}

/* splitmix64, for the piece sizes: seeded from the input, so replayable. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Parses stream[0..n) arriving in pieces (seed 0: all at once). */
static void run(const struct resp_limits *lim, const uint8_t *stream, size_t n,
                uint64_t seed, struct log *out)
{
    struct resp_parser p;
    struct resp_request req;
    FUZZ_CHECK(resp_parser_init(&p, lim) == 0);
    FUZZ_CHECK(resp_request_init(&req) == 0);
    size_t max_piece = 1 + (size_t)(seed % 64u);
    size_t start = 0;
    size_t visible = seed == 0 ? n : 0;
    for (;;) {
        size_t len = visible - start;
        uint8_t *copy = malloc(len == 0 ? 1 : len);
        FUZZ_CHECK(copy != NULL);
        if (len > 0) {
            memcpy(copy, stream + start, len);
        }
        size_t consumed = 0;
        int rc = resp_parse(&p, copy, len, &req, &consumed);
        if (rc < 0) {
            const char *text = resp_parser_error(&p);
            FUZZ_CHECK(text != NULL && text[0] != '\0');
            FUZZ_CHECK(consumed == 0 && req.argc == 0);
            FUZZ_CHECK(rc == SAMPAN_EINVAL || rc == SAMPAN_ETOOBIG);
            log_put(out, "E", 1);
            log_size(out, (size_t)-rc);
            log_put(out, text, strlen(text));
            free(copy);
            break;
        }
        FUZZ_CHECK(consumed <= len);
        if (consumed > 0) {
            check_inside(&req, copy, consumed);
            FUZZ_CHECK(req.argc <= lim->max_args);
            if (req.argc > 0) {
                log_put(out, "R", 1);
                log_size(out, req.argc);
                for (size_t i = 0; i < req.argc; i++) {
                    log_size(out, req.arglen[i]);
                    log_put(out, req.argv[i], req.arglen[i]);
                }
            }
            start += consumed;
            free(copy);
            continue;
        }
        FUZZ_CHECK(req.argc == 0);
        /* The need hint never asks past the request limit. */
        FUZZ_CHECK(resp_parser_need(&p) <= lim->max_request_bytes);
        free(copy);
        if (visible == n) {
            log_put(out, "I", 1);
            log_size(out, n - start);
            break;
        }
        /* Mostly small pieces, sometimes a big jump. */
        size_t piece = 1 + (size_t)(mix(&seed) % max_piece);
        if (mix(&seed) % 8u == 0) {
            piece = n - visible;
        }
        visible = piece > n - visible ? n : visible + piece;
    }
    resp_request_free(&req);
}

static const char *const tokens[] = {
    "*",
    "$",
    "\r\n",
    "\r",
    "\n",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-",
    "+",
    "10",
    " ",
    "\t",
    "\"",
    "'",
    "\\",
    "\\x41",
    "\\x",
    "SET",
    "GET",
    "key",
    "value",
    "99999999999999999999",
    "*0\r\n",
    "*-1\r\n",
    "*1\r\n",
    "*2\r\n",
    "*3\r\n",
    "$0\r\n\r\n",
    "$-1\r\n",
    "$1\r\nk\r\n",
    "$3\r\nSET\r\n",
    "$5\r\nvalue\r\n",
    "$3\r\n",
    "$70\r\n",
    "\\n",
    "\\t",
    "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    "PING\r\n",
    "set \"a b\" c\n",
};

/* A stream made of tokens chosen by the input: a byte below 224 picks a
 * token, any other is followed by one raw byte. */
static uint8_t *assemble(struct fuzz_in *in, size_t *n)
{
    size_t cap = 4096;
    uint8_t *s = malloc(cap);
    FUZZ_CHECK(s != NULL);
    size_t len = 0;
    size_t ntok = sizeof(tokens) / sizeof(tokens[0]);
    while (in->n > 0) {
        uint8_t b = fuzz_u8(in);
        const char *t;
        char raw[1];
        size_t tl;
        if (b < 224) {
            t = tokens[b % ntok];
            tl = strlen(t);
        } else {
            raw[0] = (char)fuzz_u8(in);
            t = raw;
            tl = 1;
        }
        if (len + tl > cap) {
            break;
        }
        memcpy(s + len, t, tl);
        len += tl;
    }
    *n = len;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in);
    struct resp_limits lim;
    resp_limits_default(&lim);
    if ((mode & 1u) != 0) {
        lim.max_args = 1 + fuzz_u8(&in) % 8u;
        lim.max_bulk_bytes = 1 + fuzz_u8(&in) % 64u;
        lim.max_inline_bytes = 1 + fuzz_u8(&in) % 64u;
        lim.max_request_bytes = 1 + fuzz_u8(&in) % 128u;
    }
    uint64_t seed = (uint64_t)fuzz_u8(&in) << 8 | fuzz_u8(&in);
    seed = seed * 2u + 1u; /* never 0: 0 means all at once */

    uint8_t *stream;
    size_t n;
    if ((mode & 2u) != 0) {
        stream = assemble(&in, &n);
    } else {
        n = in.n;
        stream = malloc(n == 0 ? 1 : n);
        FUZZ_CHECK(stream != NULL);
        if (n > 0) {
            memcpy(stream, in.p, n);
        }
    }

    struct log whole = {0};
    struct log split = {0};
    run(&lim, stream, n, 0, &whole);
    run(&lim, stream, n, seed, &split);
    FUZZ_CHECK(whole.len == split.len);
    FUZZ_CHECK(whole.len == 0 || memcmp(whole.b, split.b, whole.len) == 0);
    free(whole.b);
    free(split.b);
    free(stream);
    return 0;
}
