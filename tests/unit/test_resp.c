/* unit/test_resp.c: the RESP2 layer (src/server/resp.h): every accepted
 * request form, every protocol error with its exact text, incremental
 * parsing at every split point (same result as in one go), integer
 * parsing edges, reply encoders' exact bytes and their limit, and 1 MiB of
 * random garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/resp.h"

/* ---- transcripts -------------------------------------------------------- */

/* A growable string: what a parse run produced, compared as text. */
struct sbuf {
    char *s;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        b->s = realloc(b->s, cap);
        assert_non_null(b->s);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_req(struct sbuf *b, const struct resp_request *req)
{
    char tmp[32];
    sb_str(b, "[");
    for (size_t i = 0; i < req->argc; i++) {
        snprintf(tmp, sizeof(tmp), "%s%zu:", i > 0 ? " " : "", req->arglen[i]);
        sb_str(b, tmp);
        for (size_t k = 0; k < req->arglen[i]; k++) {
            uint8_t c = req->argv[i][k];
            if (c > 0x20 && c < 0x7f && c != '\\') {
                sb_put(b, (const char *)&c, 1);
            } else {
                snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                sb_str(b, tmp);
            }
        }
    }
    sb_str(b, "]\n");
}

/* Every argument must lie inside the bytes given or inside the request's
 * own scratch. */
static void check_args_inside(const struct resp_request *req,
                              const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < req->argc; i++) {
        const uint8_t *a = req->argv[i];
        size_t n = req->arglen[i];
        uintptr_t x = (uintptr_t)a;
        bool in_buf = x >= (uintptr_t)buf && x + n <= (uintptr_t)buf + len;
        bool in_scratch = req->scratch != NULL &&
                          x >= (uintptr_t)req->scratch &&
                          x + n <= (uintptr_t)req->scratch + req->scratch_cap;
        assert_true(in_buf || in_scratch);
    }
}

/* Feeds data[0..n) as a connection would: the visible input grows to each
 * of cuts[0..ncuts) in turn and then to n; consumed bytes are dropped; the
 * unconsumed bytes are copied to a fresh exact-size block before every call
 * (the buffer moves, and ASan sees any read past its end). Returns the
 * transcript: one line per request, then "INCOMPLETE <left>" or
 * "ERROR <code> <text>". The caller frees it. */
static char *feed(const struct resp_limits *lim, const uint8_t *data, size_t n,
                  const size_t *cuts, size_t ncuts)
{
    struct resp_parser p;
    struct resp_request req;
    assert_int_equal(resp_parser_init(&p, lim), 0);
    assert_int_equal(resp_request_init(&req), 0);
    struct sbuf out = {0};
    size_t start = 0;
    size_t ci = 0;
    size_t visible = ncuts > 0 ? cuts[0] : n;
    for (;;) {
        size_t len = visible - start;
        uint8_t *copy = malloc(len == 0 ? 1 : len);
        assert_non_null(copy);
        if (len > 0) {
            memcpy(copy, data + start, len);
        }
        size_t consumed = 99;
        int rc = resp_parse(&p, copy, len, &req, &consumed);
        if (rc < 0) {
            char tmp[160];
            assert_non_null(resp_parser_error(&p));
            snprintf(tmp, sizeof(tmp), "ERROR %d %s\n", rc,
                     resp_parser_error(&p));
            sb_str(&out, tmp);
            free(copy);
            break;
        }
        assert_true(consumed <= len);
        if (consumed > 0) {
            check_args_inside(&req, copy, consumed);
            if (req.argc > 0) {
                sb_req(&out, &req);
            }
            start += consumed;
            free(copy);
            continue;
        }
        assert_int_equal(req.argc, 0);
        free(copy);
        if (visible == n) {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "INCOMPLETE %zu\n", n - start);
            sb_str(&out, tmp);
            break;
        }
        ci++;
        visible = ci < ncuts && cuts[ci] > visible ? cuts[ci] : n;
    }
    resp_request_free(&req);
    return out.s != NULL ? out.s : strdup("");
}

static char *feed_once(const struct resp_limits *lim, const char *s)
{
    return feed(lim, (const uint8_t *)s, strlen(s), NULL, 0);
}

/* One request from one buffer; checks the whole buffer was consumed. */
static void parse_whole(struct resp_parser *p, struct resp_request *req,
                        const char *s)
{
    size_t consumed = 0;
    size_t n = strlen(s);
    assert_int_equal(resp_parse(p, (const uint8_t *)s, n, req, &consumed), 0);
    assert_int_equal(consumed, n);
}

static void assert_arg(const struct resp_request *req, size_t i,
                       const char *want, size_t wlen)
{
    assert_true(i < req->argc);
    assert_int_equal(req->arglen[i], wlen);
    assert_memory_equal(req->argv[i], want, wlen);
}

#define ARG(req, i, lit) assert_arg(req, i, lit, sizeof(lit) - 1)

struct fx {
    struct resp_parser p;
    struct resp_request req;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(resp_parser_init(&f->p, NULL), 0);
    assert_int_equal(resp_request_init(&f->req), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    resp_request_free(&f->req);
    free(f);
    return 0;
}

/* ---- valid forms ------------------------------------------------------------
 */

static void test_multibulk(void **state)
{
    struct fx *f = *state;
    const char *s = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    parse_whole(&f->p, &f->req, s);
    assert_int_equal(f->req.argc, 3);
    ARG(&f->req, 0, "SET");
    ARG(&f->req, 1, "key");
    ARG(&f->req, 2, "value");
    /* Zero copy: the arguments are the buffer's own bytes. */
    assert_ptr_equal(f->req.argv[0], (const uint8_t *)s + 8);
    assert_ptr_equal(f->req.argv[2], (const uint8_t *)s + 26);
}

static void test_multibulk_binary(void **state)
{
    struct fx *f = *state;
    static const uint8_t s[] =
        "*3\r\n$0\r\n\r\n$4\r\n\r\n\0x\r\n$1\r\n\xff\r\n";
    size_t consumed = 0;
    assert_int_equal(resp_parse(&f->p, s, sizeof(s) - 1, &f->req, &consumed),
                     0);
    assert_int_equal(consumed, sizeof(s) - 1);
    assert_int_equal(f->req.argc, 3);
    assert_int_equal(f->req.arglen[0], 0);
    assert_arg(&f->req, 1, "\r\n\0x", 4);
    assert_arg(&f->req, 2, "\xff", 1);
}

/* More arguments than the initial array holds: the request grows it. */
static void test_multibulk_many_args(void **state)
{
    struct fx *f = *state;
    struct sbuf b = {0};
    sb_str(&b, "*1000\r\n");
    for (int i = 0; i < 1000; i++) {
        char tmp[32];
        int k = snprintf(tmp, sizeof(tmp), "%d", i);
        char hdr[16];
        snprintf(hdr, sizeof(hdr), "$%d\r\n", k);
        sb_str(&b, hdr);
        sb_str(&b, tmp);
        sb_str(&b, "\r\n");
    }
    parse_whole(&f->p, &f->req, b.s);
    assert_int_equal(f->req.argc, 1000);
    ARG(&f->req, 0, "0");
    ARG(&f->req, 999, "999");
    free(b.s);
}

static void test_inline(void **state)
{
    struct fx *f = *state;
    const char *s = "  set\tkey   value \r\n";
    parse_whole(&f->p, &f->req, s);
    assert_int_equal(f->req.argc, 3);
    ARG(&f->req, 0, "set");
    ARG(&f->req, 1, "key");
    ARG(&f->req, 2, "value");
    assert_ptr_equal(f->req.argv[1], (const uint8_t *)s + 6);

    parse_whole(&f->p, &f->req, "PING\n");
    assert_int_equal(f->req.argc, 1);
    ARG(&f->req, 0, "PING");
}

static void test_inline_quotes(void **state)
{
    struct fx *f = *state;
    /* Plain quoted arguments stay in the buffer. */
    const char *s = "set \"a b\" 'c d' \"\"\r\n";
    parse_whole(&f->p, &f->req, s);
    assert_int_equal(f->req.argc, 4);
    ARG(&f->req, 1, "a b");
    ARG(&f->req, 2, "c d");
    ARG(&f->req, 3, "");
    assert_ptr_equal(f->req.argv[1], (const uint8_t *)s + 5);

    /* Escapes are decoded (into the request's scratch). */
    parse_whole(&f->p, &f->req,
                "\"\\x41\\x4a\\x6b\" \"\\n\\r\\t\\b\\a\\\\\\\"\\q\" "
                "'a\\'b' 'c\\d' \"\\x4\" \"\\xZZ\" \"\\x00\"\n");
    assert_int_equal(f->req.argc, 7);
    ARG(&f->req, 0, "AJk");
    ARG(&f->req, 1, "\n\r\t\b\a\\\"q");
    ARG(&f->req, 2, "a'b");
    ARG(&f->req, 3, "c\\d");
    ARG(&f->req, 4, "x4");
    ARG(&f->req, 5, "xZZ");
    assert_arg(&f->req, 6, "\0", 1);

    /* A quote may open mid-argument; quotes inside quotes are bytes. */
    parse_whole(&f->p, &f->req, "a\"b c\" x'y z' \"it's\"\n");
    assert_int_equal(f->req.argc, 3);
    ARG(&f->req, 0, "ab c");
    ARG(&f->req, 1, "xy z");
    ARG(&f->req, 2, "it's");

    /* Inside quotes CR, tab and NUL are data; outside, NUL is data too. */
    static const uint8_t raw[] = "\"a\rb\tc\" d\0e\n";
    size_t consumed = 0;
    assert_int_equal(
        resp_parse(&f->p, raw, sizeof(raw) - 1, &f->req, &consumed), 0);
    assert_int_equal(consumed, sizeof(raw) - 1);
    assert_int_equal(f->req.argc, 2);
    ARG(&f->req, 0, "a\rb\tc");
    assert_arg(&f->req, 1, "d\0e", 3);
}

static void test_empty_requests(void **state)
{
    struct fx *f = *state;
    const char *skips[] = {"\r\n",   "\n",      "   \t\r\n",
                           "*0\r\n", "*-1\r\n", "\n\n\r\n*0\r\n"};
    for (size_t i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
        size_t consumed = 0;
        size_t n = strlen(skips[i]);
        assert_int_equal(
            resp_parse(&f->p, (const uint8_t *)skips[i], n, &f->req, &consumed),
            0);
        assert_int_equal(consumed, n);
        assert_int_equal(f->req.argc, 0);
    }
    /* Skipped bytes and the request after them come back in one call. */
    parse_whole(&f->p, &f->req, "\r\n*0\r\n\nPING\r\n");
    assert_int_equal(f->req.argc, 1);
    ARG(&f->req, 0, "PING");
    /* Skipped bytes followed by a partial request: only the skip. */
    size_t consumed = 0;
    assert_int_equal(resp_parse(&f->p, (const uint8_t *)"\r\n*1\r\n$4", 8,
                                &f->req, &consumed),
                     0);
    assert_int_equal(consumed, 2);
    assert_int_equal(f->req.argc, 0);
}

static void test_pipelined(void **state)
{
    (void)state;
    char *t = feed_once(NULL, "*1\r\n$4\r\nPING\r\n"
                              "GET a\r\n"
                              "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"
                              "\r\n"
                              "set c \"d e\"\n"
                              "*1\r\n$4\r\nPI");
    assert_string_equal(t, "[4:PING]\n"
                           "[3:GET 1:a]\n"
                           "[3:GET 1:b]\n"
                           "[3:set 1:c 3:d\\x20e]\n"
                           "INCOMPLETE 10\n");
    free(t);
}

/* A request arriving byte by byte is examined progressively; the need
 * hint names the end of a large bulk once its header was read. */
static void test_large_bulk_incremental(void **state)
{
    struct fx *f = *state;
    const size_t big = 1u << 20;
    const char *hdr = "*2\r\n$3\r\nSET\r\n$1048576\r\n";
    size_t hlen = strlen(hdr);
    size_t n = hlen + big + 2;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, hdr, hlen);
    memset(buf + hlen, 'v', big);
    memcpy(buf + hlen + big, "\r\n", 2);
    size_t consumed = 0;
    assert_int_equal(resp_parse(&f->p, buf, hlen, &f->req, &consumed), 0);
    assert_int_equal(consumed, 0);
    assert_int_equal(resp_parser_need(&f->p), n);
    for (size_t len = hlen + 1; len < n; len += 4096) {
        assert_int_equal(resp_parse(&f->p, buf, len, &f->req, &consumed), 0);
        assert_int_equal(consumed, 0);
    }
    assert_int_equal(resp_parse(&f->p, buf, n, &f->req, &consumed), 0);
    assert_int_equal(consumed, n);
    assert_int_equal(f->req.argc, 2);
    assert_ptr_equal(f->req.argv[1], buf + hlen);
    assert_int_equal(f->req.arglen[1], big);
    assert_int_equal(resp_parser_need(&f->p), 0);
    free(buf);
}

/* ---- split feeding
 * -------------------------------------------------------------- */

static const char *const corpus[] = {
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
    "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n",
    "set \"a b\" '\\'x' \"\\x41\\n\"\r\nget a\n\r\n*0\r\n*1\r\n$0\r\n\r\n",
    "\r\n\r\nGET a\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*-1\r\nPING",
    "*2\r\n$3\r\nGET\r\n$1\r\nbXY",   /* bulk not followed by CRLF */
    "*1\r\n$3\r\nGET\r\n*1\r\nx",     /* expected '$'             */
    "PING\r\nset \"unterminated\r\n", /* unbalanced quotes        */
    "*12345678901234567890123456789012345\r\n",
    "*2\r\n$3\r\nfoo\r\n$-5\r\n",
};

/* One go, every single split point, and byte by byte: same transcript. */
static void test_split_every_boundary(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(corpus) / sizeof(corpus[0]); c++) {
        const uint8_t *d = (const uint8_t *)corpus[c];
        size_t n = strlen(corpus[c]);
        char *whole = feed(NULL, d, n, NULL, 0);
        for (size_t k = 0; k <= n; k++) {
            char *t = feed(NULL, d, n, &k, 1);
            assert_string_equal(t, whole);
            free(t);
        }
        size_t *cuts = malloc((n + 1) * sizeof(*cuts));
        assert_non_null(cuts);
        for (size_t k = 0; k <= n; k++) {
            cuts[k] = k;
        }
        char *t = feed(NULL, d, n, cuts, n + 1);
        assert_string_equal(t, whole);
        free(t);
        free(cuts);
        free(whole);
    }
}

/* ---- errors
 * ----------------------------------------------------------------------- */

struct err_case {
    const char *in;
    size_t len; /* 0: strlen */
    int code;
    const char *text;
};

static void check_errors(const struct resp_limits *lim,
                         const struct err_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct resp_parser p;
        struct resp_request req;
        assert_int_equal(resp_parser_init(&p, lim), 0);
        assert_int_equal(resp_request_init(&req), 0);
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].in);
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, cases[i].in, len);
        size_t consumed = 99;
        int rc = resp_parse(&p, copy, len, &req, &consumed);
        if (rc != cases[i].code) {
            fail_msg("case %zu (%s): rc %d, want %d", i, cases[i].in, rc,
                     cases[i].code);
        }
        assert_int_equal(consumed, 0);
        assert_int_equal(req.argc, 0);
        assert_string_equal(resp_parser_error(&p), cases[i].text);
        /* Sticky until reset. */
        assert_int_equal(resp_parse(&p, copy, len, &req, &consumed),
                         cases[i].code);
        resp_parser_reset(&p);
        assert_null(resp_parser_error(&p));
        free(copy);
        resp_request_free(&req);
    }
}

static void test_protocol_errors(void **state)
{
    (void)state;
    const struct err_case cases[] = {
        {"*abc\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*1x\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*+1\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*01\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"* 1\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*1\rX", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*99999999999999999999\r\n", 0, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN},
        {"*1111111111111111111111111111111111", 0, SAMPAN_EINVAL,
         RESP_ERR_MBULK_BIG},
        {"*2\r\n$3\r\nfoo\r\nx", 0, SAMPAN_EINVAL,
         "ERR Protocol error: expected '$', got 'x'"},
        {"*1\r\n\x01", 0, SAMPAN_EINVAL,
         "ERR Protocol error: expected '$', got '?'"},
        {"*1\r\n\r\n", 0, SAMPAN_EINVAL,
         "ERR Protocol error: expected '$', got '?'"},
        {"*1\r\n$-1\r\n", 0, SAMPAN_EINVAL, RESP_ERR_BULK_LEN},
        {"*1\r\n$abc\r\n", 0, SAMPAN_EINVAL, RESP_ERR_BULK_LEN},
        {"*1\r\n$\r\n", 0, SAMPAN_EINVAL, RESP_ERR_BULK_LEN},
        {"*1\r\n$3\rX", 0, SAMPAN_EINVAL, RESP_ERR_BULK_LEN},
        {"*1\r\n$111111111111111111111111111111111", 0, SAMPAN_EINVAL,
         RESP_ERR_BULK_BIG},
        {"*1\r\n$3\r\nfooXY", 0, SAMPAN_EINVAL, RESP_ERR_BULK_CRLF},
        {"*1\r\n$3\r\nfoo\rX", 0, SAMPAN_EINVAL, RESP_ERR_BULK_CRLF},
        {"*1\r\n$3\r\nfoo\n\r", 0, SAMPAN_EINVAL, RESP_ERR_BULK_CRLF},
        {"*1\r\n$3\r\nfoo\r\r\n", 0, SAMPAN_EINVAL, RESP_ERR_BULK_CRLF},
        {"set \"abc\r\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
        {"set 'abc\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
        {"set \"abc\"def\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
        {"set 'abc'd\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
        {"set \"abc\\\"\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
        {"set \"abc\\\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
        /* Empty lines skipped first do not hide the error after them. */
        {"\r\nset \"x\n", 0, SAMPAN_EINVAL, RESP_ERR_QUOTES},
    };
    check_errors(NULL, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_limit_errors(void **state)
{
    (void)state;
    struct resp_limits lim = {
        .max_args = 3,
        .max_bulk_bytes = 10,
        .max_inline_bytes = 8,
        .max_request_bytes = 34,
    };
    const struct err_case cases[] = {
        /* More arguments than max_args: known from the count alone. */
        {"*4\r\n", 0, SAMPAN_ETOOBIG, RESP_ERR_MBULK_LEN},
        {"a b c d\n", 0, SAMPAN_ETOOBIG, RESP_ERR_INLINE_ARGS},
        /* A bulk over max_bulk_bytes: refused at its header, before any
         * of it is sent. */
        {"*1\r\n$11\r\n", 0, SAMPAN_ETOOBIG, RESP_ERR_BULK_LEN},
        {"*1\r\n$9223372036854775807\r\n", 0, SAMPAN_ETOOBIG,
         RESP_ERR_BULK_LEN},
        /* 4 + 5 + 12 + 4 + 3 = 28 bytes, then a third argument of 1
         * would end at 35, past 34: refused at its header. */
        {"*3\r\n$10\r\n0123456789\r\n$1\r\nx\r\n$1\r\n", 0, SAMPAN_ETOOBIG,
         RESP_ERR_REQUEST_BIG},
        /* Inline lines: 8 bytes fit, a ninth does, without waiting for
         * the line's end. */
        {"123456789\n", 0, SAMPAN_ETOOBIG, RESP_ERR_INLINE_BIG},
        {"123456789\r\n", 0, SAMPAN_ETOOBIG, RESP_ERR_INLINE_BIG},
        {"1234567890", 0, SAMPAN_ETOOBIG, RESP_ERR_INLINE_BIG},
    };
    check_errors(&lim, cases, sizeof(cases) / sizeof(cases[0]));

    /* The same limits accept requests exactly at them. */
    char *t = feed_once(&lim, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
                              "*1\r\n$10\r\n0123456789\r\n"
                              "12345678\r\n"
                              "a b c\n"
                              "123456789");
    assert_string_equal(t, "[1:a 1:b 1:c]\n"
                           "[10:0123456789]\n"
                           "[8:12345678]\n"
                           "[1:a 1:b 1:c]\n"
                           "INCOMPLETE 9\n");
    free(t);
    /* A request of exactly max_request_bytes (4 + 5 + 12 + 4 + 3 + 6). */
    t = feed_once(&lim, "*3\r\n$10\r\n0123456789\r\n$1\r\nx\r\n$0\r\n\r\n");
    assert_string_equal(t, "[10:0123456789 1:x 0:]\nINCOMPLETE 0\n");
    free(t);
    t = feed_once(&lim, "*3\r\n$10\r\n0123456789\r\n$1\r\nx\r\n$1\r\n");
    assert_string_equal(t, "ERROR -5 " RESP_ERR_REQUEST_BIG "\n");
    free(t);
}

static void test_bad_limits(void **state)
{
    (void)state;
    struct resp_parser p;
    struct resp_limits lim;
    resp_limits_default(&lim);
    assert_int_equal(lim.max_inline_bytes, 64u * 1024u);
    assert_int_equal(resp_parser_init(&p, &lim), 0);
    lim.max_args = 0;
    assert_int_equal(resp_parser_init(&p, &lim), SAMPAN_EINVAL);
    resp_limits_default(&lim);
    lim.max_request_bytes = RESP_LIMIT_CEILING + 1;
    assert_int_equal(resp_parser_init(&p, &lim), SAMPAN_EINVAL);
}

/* A caller that hands back fewer bytes than were examined broke the
 * contract; the parser says so instead of reading stale offsets. */
static void test_buffer_went_back(void **state)
{
    struct fx *f = *state;
    const char *s = "*2\r\n$3\r\nGET\r\n$1\r\n";
    size_t consumed = 0;
    assert_int_equal(
        resp_parse(&f->p, (const uint8_t *)s, strlen(s), &f->req, &consumed),
        0);
    assert_int_equal(consumed, 0);
    assert_int_equal(
        resp_parse(&f->p, (const uint8_t *)s, 5, &f->req, &consumed),
        SAMPAN_EINVAL);
}

/* ---- garbage
 * ------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* 1 MiB of random bytes, salted with protocol characters, parsed as a
 * stream of connections: each error closes one and the next starts a few
 * bytes later. It must produce errors and never crash or read outside. */
static void test_random_garbage(void **state)
{
    (void)state;
    const size_t n = 1u << 20;
    static const uint8_t salt[] = {'*',  '$', '\r', '\n', '"', '\'',
                                   '\\', ' ', '1',  '-',  '0', 'x'};
    uint8_t *data = malloc(n);
    assert_non_null(data);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix(&seed);
        data[i] = (r & 3u) == 0 ? salt[(r >> 8) % sizeof(salt)] : (uint8_t)r;
    }
    struct resp_parser p;
    struct resp_request req;
    assert_int_equal(resp_parser_init(&p, NULL), 0);
    assert_int_equal(resp_request_init(&req), 0);
    size_t off = 0;
    size_t errors = 0;
    size_t requests = 0;
    while (off < n) {
        size_t len = n - off;
        size_t consumed = 0;
        int rc = resp_parse(&p, data + off, len, &req, &consumed);
        assert_true(consumed <= len);
        if (rc < 0) {
            assert_true(rc == SAMPAN_EINVAL || rc == SAMPAN_ETOOBIG);
            assert_non_null(resp_parser_error(&p));
            errors++;
        } else if (consumed > 0) {
            check_args_inside(&req, data + off, consumed);
            requests += req.argc > 0;
            off += consumed;
            continue;
        }
        /* Error, or waiting for bytes that will never come: next
         * connection. */
        resp_parser_reset(&p);
        off += 1 + (size_t)(splitmix(&seed) % 16u);
    }
    assert_true(errors > 100);
    assert_true(requests > 0);
    resp_request_free(&req);
    free(data);
}

/* ---- integers and names
 * ----------------------------------------------------------- */

static int pint(const char *s, int64_t *v)
{
    return resp_parse_int64((const uint8_t *)s, strlen(s), v);
}

static void test_int64(void **state)
{
    (void)state;
    int64_t v = 7;
    assert_int_equal(pint("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(pint("-1", &v), 0);
    assert_true(v == -1);
    assert_int_equal(pint("1234567890", &v), 0);
    assert_true(v == 1234567890);
    assert_int_equal(pint("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(pint("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    const char *bad[] = {"9223372036854775808",
                         "-9223372036854775809",
                         "18446744073709551616",
                         "99999999999999999999",
                         "-0",
                         "",
                         "-",
                         "1a",
                         " 1",
                         "1 ",
                         "+1",
                         "01",
                         "00",
                         "1.0",
                         "0x10",
                         "--1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        if (pint(bad[i], &v) != SAMPAN_EINVAL) {
            fail_msg("'%s' parsed", bad[i]);
        }
        assert_true(v == 7);
    }
    /* Length-delimited: bytes past len are not looked at. */
    assert_int_equal(resp_parse_int64((const uint8_t *)"12x", 2, &v), 0);
    assert_true(v == 12);
    assert_string_equal(RESP_ERR_NOT_INTEGER,
                        "ERR value is not an integer or out of range");
}

static void test_arg_helpers(void **state)
{
    struct fx *f = *state;
    parse_whole(&f->p, &f->req, "SeT -42 x incrby\r\n");
    assert_true(resp_arg_is(&f->req, 0, "SET"));
    assert_true(resp_arg_is(&f->req, 0, "set"));
    assert_false(resp_arg_is(&f->req, 0, "SETX"));
    assert_false(resp_arg_is(&f->req, 0, "SE"));
    assert_true(resp_arg_is(&f->req, 3, "INCRBY"));
    assert_false(resp_arg_is(&f->req, 4, "SET"));
    int64_t v = 0;
    assert_int_equal(resp_arg_int64(&f->req, 1, &v), 0);
    assert_true(v == -42);
    assert_int_equal(resp_arg_int64(&f->req, 2, &v), SAMPAN_EINVAL);
    assert_int_equal(resp_arg_int64(&f->req, 9, &v), SAMPAN_EINVAL);
}

/* ---- replies
 * ---------------------------------------------------------------------- */

static void assert_out(const struct resp_out *o, const char *want)
{
    assert_int_equal(o->len, strlen(want));
    assert_memory_equal(o->buf, want, o->len);
}

static void test_out_bytes(void **state)
{
    (void)state;
    struct resp_out o;
    resp_out_init(&o, 0);
    assert_int_equal(o.limit, RESP_DEFAULT_OUT_LIMIT);
    assert_int_equal(resp_out_simple(&o, "OK"), 0);
    assert_int_equal(resp_out_error(&o, "ERR bad\r\nthing"), 0);
    assert_int_equal(resp_out_int(&o, 0), 0);
    assert_int_equal(resp_out_int(&o, -17), 0);
    assert_int_equal(resp_out_int(&o, INT64_MAX), 0);
    assert_int_equal(resp_out_int(&o, INT64_MIN), 0);
    assert_int_equal(resp_out_bulk(&o, "a\r\nb", 4), 0);
    assert_int_equal(resp_out_bulk(&o, NULL, 0), 0);
    assert_int_equal(resp_out_null(&o), 0);
    assert_int_equal(resp_out_array_header(&o, 2), 0);
    assert_int_equal(resp_out_array_header(&o, 0), 0);
    assert_int_equal(resp_out_null_array(&o), 0);
    assert_out(&o, "+OK\r\n"
                   "-ERR bad  thing\r\n"
                   ":0\r\n"
                   ":-17\r\n"
                   ":9223372036854775807\r\n"
                   ":-9223372036854775808\r\n"
                   "$4\r\na\r\nb\r\n"
                   "$0\r\n\r\n"
                   "$-1\r\n"
                   "*2\r\n"
                   "*0\r\n"
                   "*-1\r\n");
    assert_int_equal(resp_out_simple(&o, "no\nway"), SAMPAN_EINVAL);
    resp_out_discard(&o, 5);
    assert_memory_equal(o.buf, "-ERR bad", 8);
    resp_out_discard(&o, 1000);
    assert_int_equal(o.len, 0);
    resp_out_free(&o);
}

/* Replies fit up to the limit byte for byte; one that would cross it is
 * refused whole and leaves the buffer as it was. */
static void test_out_limit(void **state)
{
    (void)state;
    struct resp_out o;
    resp_out_init(&o, 17);
    assert_int_equal(resp_out_bulk(&o, "0123456789", 10), 0); /* 17 bytes */
    assert_int_equal(o.len, 17);
    assert_int_equal(resp_out_simple(&o, ""), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_int(&o, 1), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_null(&o), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_null_array(&o), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_array_header(&o, 1), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_error(&o, "E"), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_bulk(&o, NULL, 0), SAMPAN_ETOOBIG);
    assert_int_equal(o.len, 17);
    assert_memory_equal(o.buf, "$10\r\n0123456789\r\n", 17);
    resp_out_discard(&o, 11); /* sent the first 11 bytes */
    assert_int_equal(resp_out_bulk(&o, "abcdefgh", 8), SAMPAN_ETOOBIG);
    assert_int_equal(resp_out_simple(&o, "OK123456"), 0); /* 6 + 11 */
    assert_int_equal(o.len, 17);
    assert_true(o.cap <= 17);
    resp_out_free(&o);

    /* A bulk larger than the whole limit never allocates its size. */
    resp_out_init(&o, 1024);
    static uint8_t big[4096];
    assert_int_equal(resp_out_bulk(&o, big, sizeof(big)), SAMPAN_ETOOBIG);
    assert_int_equal(o.len, 0);
    assert_true(o.cap <= 1024);
    resp_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_multibulk, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_multibulk_binary, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_multibulk_many_args, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_inline, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_inline_quotes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_requests, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test_setup_teardown(test_large_bulk_incremental, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_split_every_boundary),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_limit_errors),
        cmocka_unit_test(test_bad_limits),
        cmocka_unit_test_setup_teardown(test_buffer_went_back, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_int64),
        cmocka_unit_test_setup_teardown(test_arg_helpers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_out_bytes),
        cmocka_unit_test(test_out_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
