/* bench/loadgen_reply.c: the load generator's reply parsers (see
 * loadgen_reply.h): framing of one RESP2 reply or one HTTP/1.1 response in
 * a byte buffer, with error detection. Pure functions: no allocation, no
 * state between calls, nothing kept from the buffer. */
#include "loadgen_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sampan/error.h"

#define HTTP_MAX_HEADERS 100u
#define BODY_PREFIX_MAX 160u

/* Internal results of a step: done (the cursor moved past it), or more
 * bytes needed (c->need set); failures are negative SAMPAN_E* codes. */
#define STEP_DONE 0
#define STEP_MORE 1

struct cursor {
    const uint8_t *b;
    size_t len; /* bytes available */
    size_t max; /* bound on the reply */
    size_t pos;
    size_t need; /* with STEP_MORE: total bytes worth waiting for */
    struct lg_reply *out;
};

/* Appends n bytes to out->text, sanitized so the text can be printed in
 * double quotes on one line. */
static void text_append(struct lg_reply *out, const uint8_t *p, size_t n)
{
    size_t at = strlen(out->text);
    for (size_t i = 0; i < n && at + 1 < LG_REPLY_TEXT_MAX; i++) {
        char ch = (char)p[i];
        if (p[i] < 0x20 || p[i] > 0x7e) {
            ch = '?';
        } else if (ch == '"') {
            ch = '\'';
        } else if (ch == '\\') {
            ch = '/';
        }
        out->text[at++] = ch;
    }
    out->text[at] = '\0';
}

static void text_printf(struct lg_reply *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_printf(struct lg_reply *out, const char *fmt, ...)
{
    char tmp[LG_REPLY_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1;
    text_append(out, (const uint8_t *)tmp, len);
}

static int fail(struct cursor *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct cursor *c, int code, const char *fmt, ...)
{
    char tmp[LG_REPLY_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    c->out->text[0] = '\0';
    if (n > 0) {
        size_t len = (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1;
        text_append(c->out, (const uint8_t *)tmp, len);
    }
    return code;
}

static int more(struct cursor *c, size_t need)
{
    c->need = need;
    return STEP_MORE;
}

/* Finds the CRLF-terminated line at c->pos: [*start, *end) is its content
 * and the cursor moves past the CRLF. A bare CR or LF is malformed. Only
 * bytes below the bound are looked at, so a reply's fate never depends on
 * bytes past it (a line still open there makes the reply too long). */
static int take_line(struct cursor *c, size_t *start, size_t *end)
{
    size_t lim = c->len < c->max ? c->len : c->max;
    size_t i = c->pos;
    while (i < lim && c->b[i] != '\r' && c->b[i] != '\n') {
        i++;
    }
    if (i < lim && c->b[i] == '\n') {
        return fail(c, SAMPAN_EINVAL, "bare LF at offset %zu", i);
    }
    if (i + 1 >= lim) {
        return more(c, lim + 1);
    }
    if (c->b[i + 1] != '\n') {
        return fail(c, SAMPAN_EINVAL, "bare CR at offset %zu", i);
    }
    *start = c->pos;
    *end = i;
    c->pos = i + 2;
    return STEP_DONE;
}

/* A decimal integer filling b[start..end): optional '-', 1..18 digits. */
static int parse_int(struct cursor *c, size_t start, size_t end, int64_t *v)
{
    bool neg = start < end && c->b[start] == '-';
    size_t i = neg ? start + 1 : start;
    if (i == end || end - i > 18) {
        return fail(c, SAMPAN_EINVAL, "bad integer at offset %zu", start);
    }
    int64_t x = 0;
    for (; i < end; i++) {
        if (c->b[i] < '0' || c->b[i] > '9') {
            return fail(c, SAMPAN_EINVAL, "bad integer at offset %zu", start);
        }
        x = x * 10 + (c->b[i] - '0');
    }
    *v = neg ? -x : x;
    return 0;
}

/* --- RESP ------------------------------------------------------------------
 */

static int resp_value(struct cursor *c, unsigned depth, bool top)
{
    if (c->pos >= c->len || c->pos >= c->max) {
        return more(c, c->pos + 1);
    }
    size_t type_at = c->pos;
    uint8_t type = c->b[type_at];
    c->pos++;
    size_t s, e;
    int rc = take_line(c, &s, &e);
    if (rc != STEP_DONE) {
        return rc;
    }
    int64_t n;
    switch (type) {
    case '+':
        return STEP_DONE;
    case '-':
        if (top) {
            c->out->error = true;
            c->out->text[0] = '\0';
            text_append(c->out, c->b + s, e - s);
            if (e == s) {
                text_printf(c->out, "(empty error reply)");
            }
        }
        return STEP_DONE;
    case ':':
        return parse_int(c, s, e, &n);
    case '$':
        if ((rc = parse_int(c, s, e, &n)) != 0) {
            return rc;
        }
        if (n == -1) {
            return STEP_DONE;
        }
        if (n < 0) {
            return fail(c, SAMPAN_EINVAL, "bad bulk length %lld", (long long)n);
        }
        if ((uint64_t)n > c->max || c->pos + (size_t)n + 2 > c->max) {
            return fail(c, SAMPAN_ETOOBIG,
                        "bulk string of %lld bytes: reply longer than %zu",
                        (long long)n, c->max);
        }
        if (c->len < c->pos + (size_t)n + 2) {
            return more(c, c->pos + (size_t)n + 2);
        }
        c->pos += (size_t)n;
        if (c->b[c->pos] != '\r' || c->b[c->pos + 1] != '\n') {
            return fail(c, SAMPAN_EINVAL,
                        "bulk string not followed by CRLF at offset %zu",
                        c->pos);
        }
        c->pos += 2;
        return STEP_DONE;
    case '*':
        if ((rc = parse_int(c, s, e, &n)) != 0) {
            return rc;
        }
        if (n == -1) {
            return STEP_DONE;
        }
        if (n < 0) {
            return fail(c, SAMPAN_EINVAL, "bad array length %lld",
                        (long long)n);
        }
        /* Every element takes at least 3 bytes ("+\r\n"). */
        if ((uint64_t)n > c->max / 3 || c->pos + 3 * (size_t)n > c->max) {
            return fail(c, SAMPAN_ETOOBIG,
                        "array of %lld elements: reply longer than %zu",
                        (long long)n, c->max);
        }
        if (n > 0 && depth + 1 >= LG_RESP_MAX_DEPTH) {
            return fail(c, SAMPAN_EINVAL, "arrays nested deeper than %u",
                        LG_RESP_MAX_DEPTH);
        }
        for (int64_t i = 0; i < n; i++) {
            if ((rc = resp_value(c, depth + 1, false)) != STEP_DONE) {
                return rc;
            }
        }
        return STEP_DONE;
    default:
        return fail(c, SAMPAN_EINVAL, "unknown reply type byte 0x%02x",
                    (unsigned)type);
    }
}

/* Fills out from the result of a whole parse, applying the bound. */
static int finish(struct cursor *c, int rc)
{
    struct lg_reply *out = c->out;
    if (rc < 0) {
        out->len = 0;
        out->need = 0;
        out->error = false;
        return rc;
    }
    if (rc == STEP_MORE) {
        out->len = 0;
        out->error = false;
        out->text[0] = '\0';
        if (c->need > c->max) {
            out->need = 0;
            return fail(c, SAMPAN_ETOOBIG, "reply longer than %zu bytes",
                        c->max);
        }
        out->need = c->need;
        return 0;
    }
    if (c->pos > c->max) {
        out->len = 0;
        out->need = 0;
        out->error = false;
        return fail(c, SAMPAN_ETOOBIG, "reply of %zu bytes, longer than %zu",
                    c->pos, c->max);
    }
    out->len = c->pos;
    out->need = 0;
    if (!out->error) {
        out->text[0] = '\0';
    }
    return 0;
}

static void cursor_init(struct cursor *c, const uint8_t *buf, size_t len,
                        size_t max, struct lg_reply *out)
{
    memset(c, 0, sizeof(*c));
    c->b = buf;
    c->len = buf == NULL ? 0 : len;
    c->max = max;
    c->out = out;
    out->len = 0;
    out->need = 0;
    out->error = false;
    out->text[0] = '\0';
}

int lg_reply_parse_resp(const uint8_t *buf, size_t len, size_t max,
                        struct lg_reply *out)
{
    struct cursor c;
    cursor_init(&c, buf, len, max, out);
    return finish(&c, resp_value(&c, 0, true));
}

/* --- HTTP/1.1 ----------------------------------------------------------------
 */

/* Looks for "error" (in quotes) in a body streamed in pieces, and keeps
 * the body's first bytes for the error text. */
struct body_scan {
    uint8_t prefix[BODY_PREFIX_MAX];
    size_t prefix_len;
    unsigned matched;
    bool found;
};

static void body_feed(struct body_scan *bs, const uint8_t *p, size_t n)
{
    static const char pat[] = "\"error\"";
    const unsigned plen = (unsigned)sizeof(pat) - 1u;
    size_t keep = BODY_PREFIX_MAX - bs->prefix_len;
    if (keep > n) {
        keep = n;
    }
    memcpy(bs->prefix + bs->prefix_len, p, keep);
    bs->prefix_len += keep;
    for (size_t i = 0; i < n && !bs->found; i++) {
        /* The pattern's only border is the quote, so on a mismatch the
         * match restarts at 1 if this byte is a quote, else at 0. */
        if ((char)p[i] == pat[bs->matched]) {
            bs->matched++;
        } else {
            bs->matched = p[i] == '"' ? 1u : 0u;
        }
        if (bs->matched == plen) {
            bs->found = true;
        }
    }
}

static bool ieq(const uint8_t *p, size_t n, const char *lit)
{
    size_t ln = strlen(lit);
    if (n != ln) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t a = p[i];
        uint8_t b = (uint8_t)lit[i];
        if (a >= 'A' && a <= 'Z') {
            a = (uint8_t)(a - 'A' + 'a');
        }
        if (a != b) {
            return false;
        }
    }
    return true;
}

static bool is_token_char(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9')) {
        return true;
    }
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

struct http_head {
    int status;
    size_t reason_start, reason_end;
    bool chunked;
    bool has_length;
    uint64_t length;
};

static int http_status_line(struct cursor *c, struct http_head *h)
{
    size_t s, e;
    int rc = take_line(c, &s, &e);
    if (rc != STEP_DONE) {
        return rc;
    }
    const uint8_t *b = c->b;
    /* "HTTP/1.x DDD[ reason]" */
    if (e - s < 12 || memcmp(b + s, "HTTP/1.", 7) != 0 ||
        (b[s + 7] != '0' && b[s + 7] != '1') || b[s + 8] != ' ') {
        return fail(c, SAMPAN_EINVAL, "not an HTTP/1.x status line");
    }
    int status = 0;
    for (size_t i = s + 9; i < s + 12; i++) {
        if (b[i] < '0' || b[i] > '9') {
            return fail(c, SAMPAN_EINVAL, "bad HTTP status code");
        }
        status = status * 10 + (b[i] - '0');
    }
    if (status < 100 || status > 599) {
        return fail(c, SAMPAN_EINVAL, "bad HTTP status code %d", status);
    }
    if (e - s > 12 && b[s + 12] != ' ') {
        return fail(c, SAMPAN_EINVAL, "bad HTTP status line");
    }
    h->status = status;
    h->reason_start = e - s > 12 ? s + 13 : e;
    h->reason_end = e;
    return STEP_DONE;
}

/* One "Name: value" line in [s, e); sets the framing fields of h (when h
 * is not NULL: trailers are only checked for syntax). */
static int http_header(struct cursor *c, size_t s, size_t e,
                       struct http_head *h)
{
    const uint8_t *b = c->b;
    size_t colon = s;
    while (colon < e && is_token_char(b[colon])) {
        colon++;
    }
    if (colon == s || colon == e || b[colon] != ':') {
        return fail(c, SAMPAN_EINVAL, "bad HTTP header line at offset %zu", s);
    }
    size_t vs = colon + 1;
    size_t ve = e;
    while (vs < ve && (b[vs] == ' ' || b[vs] == '\t')) {
        vs++;
    }
    while (ve > vs && (b[ve - 1] == ' ' || b[ve - 1] == '\t')) {
        ve--;
    }
    if (h == NULL) {
        return 0;
    }
    if (ieq(b + s, colon - s, "content-length")) {
        if (vs == ve || ve - vs > 18) {
            return fail(c, SAMPAN_EINVAL, "bad Content-Length");
        }
        uint64_t v = 0;
        for (size_t i = vs; i < ve; i++) {
            if (b[i] < '0' || b[i] > '9') {
                return fail(c, SAMPAN_EINVAL, "bad Content-Length");
            }
            v = v * 10 + (uint64_t)(b[i] - '0');
        }
        if (h->has_length && h->length != v) {
            return fail(c, SAMPAN_EINVAL, "conflicting Content-Length");
        }
        h->has_length = true;
        h->length = v;
    } else if (ieq(b + s, colon - s, "transfer-encoding")) {
        if (!ieq(b + vs, ve - vs, "chunked")) {
            return fail(c, SAMPAN_EINVAL,
                        "unsupported Transfer-Encoding (only chunked)");
        }
        h->chunked = true;
    }
    return 0;
}

/* Header (or trailer) lines up to the empty line. */
static int http_fields(struct cursor *c, struct http_head *h)
{
    for (unsigned n = 0;; n++) {
        size_t s, e;
        int rc = take_line(c, &s, &e);
        if (rc != STEP_DONE) {
            return rc;
        }
        if (s == e) {
            return STEP_DONE;
        }
        if (n == HTTP_MAX_HEADERS) {
            return fail(c, SAMPAN_EINVAL, "more than %u header lines",
                        HTTP_MAX_HEADERS);
        }
        if ((rc = http_header(c, s, e, h)) != 0) {
            return rc;
        }
    }
}

/* A chunked body; feeds the data to bs when bs is not NULL. */
static int http_chunks(struct cursor *c, struct body_scan *bs)
{
    for (;;) {
        size_t s, e;
        int rc = take_line(c, &s, &e);
        if (rc != STEP_DONE) {
            return rc;
        }
        uint64_t size = 0;
        size_t i = s;
        for (; i < e; i++) {
            uint8_t ch = c->b[i];
            unsigned d;
            if (ch >= '0' && ch <= '9') {
                d = ch - '0';
            } else if (ch >= 'a' && ch <= 'f') {
                d = ch - 'a' + 10u;
            } else if (ch >= 'A' && ch <= 'F') {
                d = ch - 'A' + 10u;
            } else {
                break;
            }
            if (i - s >= 15) {
                return fail(c, SAMPAN_EINVAL, "chunk size too long");
            }
            size = size * 16 + d;
        }
        /* Digits, then nothing, or chunk extensions after ';' (or
         * whitespace before it). */
        if (i == s ||
            (i < e && c->b[i] != ';' && c->b[i] != ' ' && c->b[i] != '\t')) {
            return fail(c, SAMPAN_EINVAL, "bad chunk size at offset %zu", s);
        }
        if (size == 0) {
            return http_fields(c, NULL);
        }
        if (size > c->max || c->pos + size + 2 > c->max) {
            return fail(c, SAMPAN_ETOOBIG,
                        "chunk of %llu bytes: longer than %zu",
                        (unsigned long long)size, c->max);
        }
        size_t end = c->pos + (size_t)size;
        if (c->len < end + 2) {
            return more(c, end + 2);
        }
        if (c->b[end] != '\r' || c->b[end + 1] != '\n') {
            return fail(c, SAMPAN_EINVAL,
                        "chunk not followed by CRLF at offset %zu", end);
        }
        if (bs != NULL) {
            body_feed(bs, c->b + c->pos, (size_t)size);
        }
        c->pos = end + 2;
    }
}

static int http_response(struct cursor *c)
{
    struct http_head h;
    memset(&h, 0, sizeof(h));
    int rc = http_status_line(c, &h);
    if (rc == STEP_DONE) {
        rc = http_fields(c, &h);
    }
    if (rc != STEP_DONE) {
        return rc;
    }
    size_t body_at = c->pos;
    bool no_body = h.status < 200 || h.status == 204 || h.status == 304;
    struct body_scan bs;
    memset(&bs, 0, sizeof(bs));
    if (no_body) {
        /* nothing */
    } else if (h.chunked) {
        if (h.has_length) {
            return fail(c, SAMPAN_EINVAL,
                        "both Content-Length and chunked encoding");
        }
        /* Frame first (cheap), then scan the data only once complete. */
        if ((rc = http_chunks(c, NULL)) != STEP_DONE) {
            return rc;
        }
        size_t end = c->pos;
        c->pos = body_at;
        rc = http_chunks(c, &bs);
        if (rc != STEP_DONE || c->pos != end) {
            return fail(c, SAMPAN_EINVAL, "internal: chunk rescan differs");
        }
    } else if (h.has_length) {
        if (h.length > c->max || body_at + h.length > c->max) {
            return fail(c, SAMPAN_ETOOBIG,
                        "Content-Length %llu: reply longer than %zu",
                        (unsigned long long)h.length, c->max);
        }
        size_t end = body_at + (size_t)h.length;
        if (c->len < end) {
            return more(c, end);
        }
        body_feed(&bs, c->b + body_at, (size_t)h.length);
        c->pos = end;
    } else {
        return fail(c, SAMPAN_EINVAL,
                    "HTTP %d response without Content-Length or chunked "
                    "encoding",
                    h.status);
    }
    if (h.status != 200) {
        c->out->error = true;
        c->out->text[0] = '\0';
        text_printf(c->out, "HTTP %d ", h.status);
        text_append(c->out, c->b + h.reason_start,
                    h.reason_end - h.reason_start);
        if (bs.prefix_len > 0) {
            text_printf(c->out, ": ");
            text_append(c->out, bs.prefix, bs.prefix_len);
        }
    } else if (bs.found) {
        c->out->error = true;
        c->out->text[0] = '\0';
        text_append(c->out, bs.prefix, bs.prefix_len);
    }
    return STEP_DONE;
}

int lg_reply_parse_http(const uint8_t *buf, size_t len, size_t max,
                        struct lg_reply *out)
{
    struct cursor c;
    cursor_init(&c, buf, len, max, out);
    return finish(&c, http_response(&c));
}
