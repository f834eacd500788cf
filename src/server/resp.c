/* server/resp.c: RESP2 request parsing (multibulk and inline), reply
 * encoding and argument helpers (contracts in resp.h, wire description in
 * docs/protocol.md). Pure functions over the caller's byte buffers: every
 * length is checked before the bytes it covers are read, and every size is
 * bounded by a limit before anything is waited for or allocated. */
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"

enum {
    RESP_KIND_NONE = 0, /* between requests                     */
    RESP_KIND_MBULK_HEAD,
    RESP_KIND_MBULK, /* "*<n>" read, arguments follow        */
    RESP_KIND_INLINE,
};

#define RESP_ARGS_INITIAL 16u

void resp_limits_default(struct resp_limits *l)
{
    l->max_args = RESP_DEFAULT_MAX_ARGS;
    l->max_bulk_bytes = RESP_DEFAULT_MAX_BULK_BYTES;
    l->max_inline_bytes = RESP_DEFAULT_MAX_INLINE_BYTES;
    l->max_request_bytes = RESP_DEFAULT_MAX_REQUEST_BYTES;
}

static bool limit_ok(size_t v)
{
    return v > 0 && v <= RESP_LIMIT_CEILING;
}

int resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
    memset(p, 0, sizeof(*p));
    if (lim == NULL) {
        resp_limits_default(&p->lim);
        return 0;
    }
    if (!limit_ok(lim->max_args) || !limit_ok(lim->max_bulk_bytes) ||
        !limit_ok(lim->max_inline_bytes) || !limit_ok(lim->max_request_bytes)) {
        resp_limits_default(&p->lim);
        return SAMPAN_EINVAL;
    }
    p->lim = *lim;
    return 0;
}

/* Progress only: the limits stay. */
static void progress_reset(struct resp_parser *p)
{
    p->kind = RESP_KIND_NONE;
    p->pos = 0;
    p->scan = 0;
    p->nargs = 0;
    p->argi = 0;
    p->bulk = 0;
    p->have_bulk = false;
}

void resp_parser_reset(struct resp_parser *p)
{
    progress_reset(p);
    p->err = 0;
    p->errtext = NULL;
    p->errbuf[0] = '\0';
}

const char *resp_parser_error(const struct resp_parser *p)
{
    return p->err != 0 ? p->errtext : NULL;
}

size_t resp_parser_need(const struct resp_parser *p)
{
    if (p->err == 0 && p->kind == RESP_KIND_MBULK && p->have_bulk) {
        return p->pos + p->bulk + 2;
    }
    return 0;
}

static int fail(struct resp_parser *p, int code, const char *text)
{
    p->err = code;
    p->errtext = text;
    return code;
}

/* Redis quotes the unexpected byte; a byte that is not printable ASCII is
 * shown as '?' so the error reply stays one clean line. */
static int fail_dollar(struct resp_parser *p, uint8_t got)
{
    size_t n = strlen(RESP_ERR_EXPECTED_DOLLAR);
    memcpy(p->errbuf, RESP_ERR_EXPECTED_DOLLAR, n);
    p->errbuf[n] = (got >= 0x20 && got < 0x7f) ? (char)got : '?';
    p->errbuf[n + 1] = '\'';
    p->errbuf[n + 2] = '\0';
    return fail(p, SAMPAN_EINVAL, p->errbuf);
}

/* ---- requests ------------------------------------------------------------ */

int resp_request_init(struct resp_request *req)
{
    memset(req, 0, sizeof(*req));
    req->argv = malloc(RESP_ARGS_INITIAL * sizeof(*req->argv));
    req->arglen = malloc(RESP_ARGS_INITIAL * sizeof(*req->arglen));
    req->argoff = malloc(RESP_ARGS_INITIAL * sizeof(*req->argoff));
    if (req->argv == NULL || req->arglen == NULL || req->argoff == NULL) {
        resp_request_free(req);
        return SAMPAN_ENOMEM;
    }
    req->cap = RESP_ARGS_INITIAL;
    return 0;
}

void resp_request_free(struct resp_request *req)
{
    free(req->argv);
    free(req->arglen);
    free(req->argoff);
    free(req->scratch);
    memset(req, 0, sizeof(*req));
}

/* Room for `need` arguments; doubles, but never past `most` (the count
 * announced or max_args), so a client that only claims many arguments
 * gets no memory for them. cap is raised only once all three arrays grew;
 * an array larger than cap is harmless. */
static int args_reserve(struct resp_request *req, size_t need, size_t most)
{
    if (need <= req->cap) {
        return 0;
    }
    size_t cap = req->cap < RESP_ARGS_INITIAL ? RESP_ARGS_INITIAL : req->cap;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > most) {
        cap = most;
    }
    const uint8_t **argv = realloc(req->argv, cap * sizeof(*argv));
    if (argv == NULL) {
        return SAMPAN_ENOMEM;
    }
    req->argv = argv;
    size_t *arglen = realloc(req->arglen, cap * sizeof(*arglen));
    if (arglen == NULL) {
        return SAMPAN_ENOMEM;
    }
    req->arglen = arglen;
    size_t *argoff = realloc(req->argoff, cap * sizeof(*argoff));
    if (argoff == NULL) {
        return SAMPAN_ENOMEM;
    }
    req->argoff = argoff;
    req->cap = cap;
    return 0;
}

/* ---- integers ---------------------------------------------------------- */

int resp_parse_int64(const uint8_t *s, size_t len, int64_t *out)
{
    if (len == 0) {
        return SAMPAN_EINVAL;
    }
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg) {
        i = 1;
    }
    /* First digit 1-9: "007", "-0" and "-" are not integers (string2ll). */
    if (i >= len || s[i] < '1' || s[i] > '9') {
        return SAMPAN_EINVAL;
    }
    /* Accumulate as unsigned; the bound differs by sign so INT64_MIN,
     * whose magnitude has no positive int64, parses too. */
    uint64_t bound = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return SAMPAN_EINVAL;
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (bound - d) / 10u) {
            return SAMPAN_EINVAL;
        }
        v = v * 10u + d;
    }
    if (neg) {
        /* -(v - 1) - 1 stays in range even for v = 2^63. */
        *out = v == 0 ? 0 : -(int64_t)(v - 1u) - 1;
    } else {
        *out = (int64_t)v;
    }
    return 0;
}

int resp_arg_int64(const struct resp_request *req, size_t i, int64_t *out)
{
    if (i >= req->argc) {
        return SAMPAN_EINVAL;
    }
    return resp_parse_int64(req->argv[i], req->arglen[i], out);
}

bool resp_arg_is(const struct resp_request *req, size_t i, const char *name)
{
    if (i >= req->argc) {
        return false;
    }
    size_t n = strlen(name);
    if (req->arglen[i] != n) {
        return false;
    }
    const uint8_t *a = req->argv[i];
    for (size_t k = 0; k < n; k++) {
        uint8_t x = a[k];
        uint8_t y = (uint8_t)name[k];
        /* ASCII only: a locale must not change what a command is. */
        if (x >= 'a' && x <= 'z') {
            x = (uint8_t)(x - 'a' + 'A');
        }
        if (y >= 'a' && y <= 'z') {
            y = (uint8_t)(y - 'a' + 'A');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* ---- multibulk ------------------------------------------------------------
 */

enum {
    LINE_MORE = 0, /* CRLF not there yet        */
    LINE_OK,       /* *body = bytes before CR   */
    LINE_TOO_LONG, /* no CR within the digits allowed */
    LINE_BAD_EOL,  /* CR not followed by LF    */
};

/* The "*<n>" or "$<n>" line whose marker is buf[at] (at < len). Looks at
 * no more than RESP_MAX_HEADER_DIGITS + 2 bytes past the marker, so a
 * header never makes the parser wait for (or scan) unbounded input. */
static int header_line(const uint8_t *buf, size_t len, size_t at, size_t *body)
{
    size_t from = at + 1;
    size_t avail = len - from;
    size_t window =
        avail < RESP_MAX_HEADER_DIGITS + 1 ? avail : RESP_MAX_HEADER_DIGITS + 1;
    const uint8_t *cr = window > 0 ? memchr(buf + from, '\r', window) : NULL;
    if (cr == NULL) {
        return avail > RESP_MAX_HEADER_DIGITS ? LINE_TOO_LONG : LINE_MORE;
    }
    size_t c = (size_t)(cr - buf);
    if (c + 1 >= len) {
        return LINE_MORE;
    }
    if (buf[c + 1] != '\n') {
        return LINE_BAD_EOL;
    }
    *body = c - from;
    return LINE_OK;
}

/* "*<n>\r\n": the argument count. */
static int mbulk_head(struct resp_parser *p, const uint8_t *buf, size_t len,
                      size_t *used)
{
    size_t body = 0;
    int r = header_line(buf, len, 0, &body);
    if (r == LINE_MORE) {
        return 0;
    }
    if (r == LINE_TOO_LONG) {
        return fail(p, SAMPAN_EINVAL, RESP_ERR_MBULK_BIG);
    }
    int64_t n = 0;
    if (r == LINE_BAD_EOL || resp_parse_int64(buf + 1, body, &n) != 0) {
        return fail(p, SAMPAN_EINVAL, RESP_ERR_MBULK_LEN);
    }
    if (n <= 0) {
        /* "*0" and "*-1": nothing to run; Redis skips them too. */
        *used = body + 3;
        return 0;
    }
    if ((uint64_t)n > p->lim.max_args) {
        return fail(p, SAMPAN_ETOOBIG, RESP_ERR_MBULK_LEN);
    }
    p->kind = RESP_KIND_MBULK;
    p->nargs = (size_t)n;
    p->argi = 0;
    p->pos = body + 3;
    p->have_bulk = false;
    return 0;
}

/* "$<len>\r\n" at p->pos: checks the length against the limits before any
 * of the argument is waited for. */
static int bulk_head(struct resp_parser *p, const uint8_t *buf, size_t len,
                     bool *more)
{
    if (buf[p->pos] != '$') {
        return fail_dollar(p, buf[p->pos]);
    }
    size_t body = 0;
    int r = header_line(buf, len, p->pos, &body);
    if (r == LINE_MORE) {
        *more = true;
        return 0;
    }
    if (r == LINE_TOO_LONG) {
        return fail(p, SAMPAN_EINVAL, RESP_ERR_BULK_BIG);
    }
    int64_t v = 0;
    if (r == LINE_BAD_EOL ||
        resp_parse_int64(buf + p->pos + 1, body, &v) != 0 || v < 0) {
        return fail(p, SAMPAN_EINVAL, RESP_ERR_BULK_LEN);
    }
    if ((uint64_t)v > p->lim.max_bulk_bytes) {
        return fail(p, SAMPAN_ETOOBIG, RESP_ERR_BULK_LEN);
    }
    /* Whole request on the wire: header so far + argument + CRLF. Every
     * term is below RESP_LIMIT_CEILING, so the sum cannot wrap. */
    size_t start = p->pos + body + 3;
    if (start + (size_t)v + 2 > p->lim.max_request_bytes) {
        return fail(p, SAMPAN_ETOOBIG, RESP_ERR_REQUEST_BIG);
    }
    p->pos = start;
    p->bulk = (size_t)v;
    p->have_bulk = true;
    return 0;
}

/* The arguments after "*<n>". Offsets, not pointers, are kept across calls
 * (the caller may move its buffer); pointers are made once complete. */
static int mbulk_args(struct resp_parser *p, const uint8_t *buf, size_t len,
                      struct resp_request *req, size_t *used)
{
    while (p->argi < p->nargs) {
        if (!p->have_bulk) {
            if (p->pos >= len) {
                return 0;
            }
            bool more = false;
            int rc = bulk_head(p, buf, len, &more);
            if (rc != 0 || more) {
                return rc;
            }
        }
        if (len - p->pos < p->bulk + 2) {
            return 0;
        }
        size_t end = p->pos + p->bulk;
        if (buf[end] != '\r' || buf[end + 1] != '\n') {
            return fail(p, SAMPAN_EINVAL, RESP_ERR_BULK_CRLF);
        }
        if (args_reserve(req, p->argi + 1, p->nargs) != 0) {
            return fail(p, SAMPAN_ENOMEM, RESP_ERR_NOMEM);
        }
        req->argoff[p->argi] = p->pos;
        req->arglen[p->argi] = p->bulk;
        p->argi++;
        p->pos = end + 2;
        p->have_bulk = false;
    }
    for (size_t i = 0; i < p->nargs; i++) {
        req->argv[i] = buf + req->argoff[i];
    }
    req->argc = p->nargs;
    *used = p->pos;
    return 0;
}

/* ---- inline -----------------------------------------------------------------
 */

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* One inline argument being built. It stays a pointer into the line while
 * its bytes are one verbatim run of the line; an escape, or a quote inside
 * it, moves it into req->scratch. */
struct inl_arg {
    const uint8_t *line;
    size_t vstart, vlen; /* the verbatim run                   */
    bool copied;         /* bytes are in scratch from ostart    */
    size_t ostart;
};

struct inl {
    const uint8_t *line;
    size_t n;
    struct resp_request *req;
    size_t out; /* scratch bytes used by this line */
};

/* Switches the argument to scratch. The scratch is sized for the whole
 * line the first time (output never outgrows input: each output byte
 * consumes at least one input byte), so it is never moved while earlier
 * arguments of the line point into it. */
static int inl_copy(struct inl *s, struct inl_arg *a)
{
    struct resp_request *req = s->req;
    if (req->scratch_cap < s->n) {
        uint8_t *sc = realloc(req->scratch, s->n);
        if (sc == NULL) {
            return SAMPAN_ENOMEM;
        }
        req->scratch = sc;
        req->scratch_cap = s->n;
    }
    a->ostart = s->out;
    if (a->vlen > 0) {
        memcpy(req->scratch + s->out, s->line + a->vstart, a->vlen);
    }
    s->out += a->vlen;
    a->copied = true;
    return 0;
}

/* Appends the line's byte at i. */
static int inl_literal(struct inl *s, struct inl_arg *a, size_t i)
{
    if (!a->copied) {
        if (a->vlen == 0) {
            a->vstart = i;
            a->vlen = 1;
            return 0;
        }
        if (a->vstart + a->vlen == i) {
            a->vlen++;
            return 0;
        }
        if (inl_copy(s, a) != 0) {
            return SAMPAN_ENOMEM;
        }
    }
    s->req->scratch[s->out++] = s->line[i];
    return 0;
}

/* Appends a byte that is not in the line (an unescaped one). */
static int inl_byte(struct inl *s, struct inl_arg *a, uint8_t b)
{
    if (!a->copied && inl_copy(s, a) != 0) {
        return SAMPAN_ENOMEM;
    }
    s->req->scratch[s->out++] = b;
    return 0;
}

static uint8_t unescape(uint8_t c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* Scans one argument starting at *ip (not a space) the way Redis's
 * sdssplitargs does: unquoted bytes up to a space, tab, CR or LF; "..."
 * with \xHH, \n \r \t \b \a and \<any>; '...' with \' only; a quote may
 * open mid-argument (a"b c" is one argument); a closing quote must be
 * followed by whitespace or the end of the line. Unlike sdssplitargs a NUL
 * byte is ordinary data. Returns 0, SAMPAN_EINVAL (unbalanced quotes) or
 * SAMPAN_ENOMEM. */
static int inl_scan_arg(struct inl *s, struct inl_arg *a, size_t *ip)
{
    const uint8_t *line = s->line;
    size_t n = s->n;
    size_t i = *ip;
    uint8_t q = 0; /* 0, '"' or '\'' */
    int rc = 0;
    for (;;) {
        if (q == 0) {
            if (i == n) {
                break;
            }
            uint8_t c = line[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                i++;
                break;
            }
            if (c == '"' || c == '\'') {
                q = c;
                i++;
                continue;
            }
            rc = inl_literal(s, a, i);
            i++;
        } else {
            if (i == n) {
                return SAMPAN_EINVAL; /* unterminated quotes */
            }
            uint8_t c = line[i];
            if (c == q) {
                if (i + 1 < n && !is_space(line[i + 1])) {
                    return SAMPAN_EINVAL;
                }
                i++;
                break;
            }
            if (q == '"' && c == '\\' && i + 3 < n && line[i + 1] == 'x' &&
                hex_val(line[i + 2]) >= 0 && hex_val(line[i + 3]) >= 0) {
                int b = hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]);
                rc = inl_byte(s, a, (uint8_t)b);
                i += 4;
            } else if (q == '"' && c == '\\' && i + 1 < n) {
                rc = inl_byte(s, a, unescape(line[i + 1]));
                i += 2;
            } else if (q == '\'' && c == '\\' && i + 1 < n &&
                       line[i + 1] == '\'') {
                rc = inl_literal(s, a, i + 1);
                i += 2;
            } else {
                rc = inl_literal(s, a, i);
                i++;
            }
        }
        if (rc != 0) {
            return rc;
        }
    }
    *ip = i;
    return 0;
}

/* Splits line[0..n) into req's arguments. */
static int inline_split(struct resp_parser *p, const uint8_t *line, size_t n,
                        struct resp_request *req)
{
    struct inl s = {.line = line, .n = n, .req = req, .out = 0};
    size_t i = 0;
    size_t argc = 0;
    for (;;) {
        while (i < n && is_space(line[i])) {
            i++;
        }
        if (i == n) {
            break;
        }
        if (argc == p->lim.max_args) {
            return fail(p, SAMPAN_ETOOBIG, RESP_ERR_INLINE_ARGS);
        }
        if (args_reserve(req, argc + 1, p->lim.max_args) != 0) {
            return fail(p, SAMPAN_ENOMEM, RESP_ERR_NOMEM);
        }
        /* An empty argument ("") points at where it started: inside buf. */
        struct inl_arg a = {.line = line, .vstart = i};
        int rc = inl_scan_arg(&s, &a, &i);
        if (rc == SAMPAN_EINVAL) {
            return fail(p, SAMPAN_EINVAL, RESP_ERR_QUOTES);
        }
        if (rc != 0) {
            return fail(p, SAMPAN_ENOMEM, RESP_ERR_NOMEM);
        }
        if (a.copied) {
            req->argv[argc] = req->scratch + a.ostart;
            req->arglen[argc] = s.out - a.ostart;
        } else {
            req->argv[argc] = line + a.vstart;
            req->arglen[argc] = a.vlen;
        }
        argc++;
    }
    req->argc = argc;
    return 0;
}

/* A line up to '\n' (a CR before it is dropped). p->scan remembers how far
 * '\n' was already looked for, so a long line arriving in pieces is
 * searched once. */
static int inline_req(struct resp_parser *p, const uint8_t *buf, size_t len,
                      struct resp_request *req, size_t *used)
{
    /* A line of max_inline_bytes, then CR, then LF fits in this window. */
    size_t window = p->lim.max_inline_bytes + 2;
    size_t limit = len < window ? len : window;
    const uint8_t *nl = NULL;
    if (p->scan < limit) {
        nl = memchr(buf + p->scan, '\n', limit - p->scan);
    }
    if (nl == NULL) {
        if (limit > p->scan) {
            p->scan = limit;
        }
        if (len >= window) {
            return fail(p, SAMPAN_ETOOBIG, RESP_ERR_INLINE_BIG);
        }
        return 0;
    }
    size_t k = (size_t)(nl - buf);
    size_t end = k > 0 && buf[k - 1] == '\r' ? k - 1 : k;
    if (end > p->lim.max_inline_bytes) {
        return fail(p, SAMPAN_ETOOBIG, RESP_ERR_INLINE_BIG);
    }
    int rc = inline_split(p, buf, end, req);
    if (rc != 0) {
        return rc;
    }
    *used = k + 1;
    return 0;
}

/* ---- one request
 * ------------------------------------------------------------- */

/* Parses at most one request (possibly an empty one) from buf[0..len),
 * len > 0. *used > 0 when it is complete (req->argc may be 0). */
static int parse_one(struct resp_parser *p, const uint8_t *buf, size_t len,
                     struct resp_request *req, size_t *used)
{
    if (p->kind == RESP_KIND_NONE) {
        /* Redis's rule: '*' starts a multibulk request, anything else an
         * inline one. */
        p->kind = buf[0] == '*' ? RESP_KIND_MBULK_HEAD : RESP_KIND_INLINE;
    }
    if (len < p->pos || len < p->scan) {
        /* The caller dropped bytes the parser had examined. */
        return fail(p, SAMPAN_EINVAL, "ERR internal error: input went back");
    }
    int rc = 0;
    switch (p->kind) {
    case RESP_KIND_MBULK_HEAD:
        rc = mbulk_head(p, buf, len, used);
        if (rc != 0 || *used > 0 || p->kind != RESP_KIND_MBULK) {
            break;
        }
        /* The arguments may already be in the buffer too. */
        /* fall through */
    case RESP_KIND_MBULK:
        rc = mbulk_args(p, buf, len, req, used);
        break;
    default:
        rc = inline_req(p, buf, len, req, used);
        break;
    }
    if (rc == 0 && *used > 0) {
        progress_reset(p);
    }
    return rc;
}

int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len,
               struct resp_request *req, size_t *consumed)
{
    *consumed = 0;
    req->argc = 0;
    if (p->err != 0) {
        return p->err;
    }
    /* Empty requests are skipped here so the caller sees them only as
     * consumed bytes; each is at least one byte, so this loop ends. */
    size_t base = 0;
    while (base < len) {
        size_t used = 0;
        int rc = parse_one(p, buf + base, len - base, req, &used);
        if (rc != 0) {
            req->argc = 0;
            return rc;
        }
        if (used == 0) {
            break;
        }
        base += used;
        if (req->argc > 0) {
            break;
        }
    }
    *consumed = base;
    return 0;
}

/* ---- replies
 * --------------------------------------------------------------------- */

void resp_out_init(struct resp_out *o, size_t limit)
{
    o->buf = NULL;
    o->len = 0;
    o->cap = 0;
    o->limit = limit == 0 ? RESP_DEFAULT_OUT_LIMIT : limit;
}

void resp_out_free(struct resp_out *o)
{
    free(o->buf);
    o->buf = NULL;
    o->len = 0;
    o->cap = 0;
}

void resp_out_discard(struct resp_out *o, size_t n)
{
    if (n >= o->len) {
        o->len = 0;
        return;
    }
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
}

/* Room for n more bytes, or SAMPAN_ETOOBIG past the limit. */
static int out_reserve(struct resp_out *o, size_t n)
{
    if (o->len > o->limit || n > o->limit - o->len) {
        return SAMPAN_ETOOBIG;
    }
    size_t need = o->len + n;
    if (need <= o->cap) {
        return 0;
    }
    size_t cap = o->cap < 256 ? 256 : o->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > o->limit) {
        cap = o->limit;
    }
    uint8_t *b = realloc(o->buf, cap);
    if (b == NULL) {
        return SAMPAN_ENOMEM;
    }
    o->buf = b;
    o->cap = cap;
    return 0;
}

static void out_put(struct resp_out *o, const void *p, size_t n)
{
    if (n > 0) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    }
}

/* Decimal digits of v into d (at least 20 bytes), returned length. */
static size_t fmt_u64(char *d, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v > 0);
    for (size_t i = 0; i < n; i++) {
        d[i] = tmp[n - 1 - i];
    }
    return n;
}

/* "<type><v>\r\n" for a signed count or integer; 24 bytes always suffice. */
static size_t fmt_line(char *d, char type, int64_t v)
{
    size_t n = 0;
    d[n++] = type;
    uint64_t mag = (uint64_t)v;
    if (v < 0) {
        d[n++] = '-';
        mag = 0u - mag; /* well defined for INT64_MIN too */
    }
    n += fmt_u64(d + n, mag);
    d[n++] = '\r';
    d[n++] = '\n';
    return n;
}

static int out_line(struct resp_out *o, char type, int64_t v)
{
    char line[24];
    size_t n = fmt_line(line, type, v);
    int rc = out_reserve(o, n);
    if (rc != 0) {
        return rc;
    }
    out_put(o, line, n);
    return 0;
}

int resp_out_simple(struct resp_out *o, const char *s)
{
    size_t n = strlen(s);
    if (memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL) {
        return SAMPAN_EINVAL;
    }
    int rc = out_reserve(o, n + 3);
    if (rc != 0) {
        return rc;
    }
    out_put(o, "+", 1);
    out_put(o, s, n);
    out_put(o, "\r\n", 2);
    return 0;
}

int resp_out_error(struct resp_out *o, const char *s)
{
    size_t n = strlen(s);
    int rc = out_reserve(o, n + 3);
    if (rc != 0) {
        return rc;
    }
    out_put(o, "-", 1);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        o->buf[o->len++] = (uint8_t)(c == '\r' || c == '\n' ? ' ' : c);
    }
    out_put(o, "\r\n", 2);
    return 0;
}

int resp_out_int(struct resp_out *o, int64_t v)
{
    return out_line(o, ':', v);
}

int resp_out_bulk(struct resp_out *o, const void *data, size_t len)
{
    char line[32];
    size_t n = 0;
    line[n++] = '$';
    n += fmt_u64(line + n, (uint64_t)len);
    line[n++] = '\r';
    line[n++] = '\n';
    /* len + n + 2 cannot wrap: len is an object's size. */
    if (len > SIZE_MAX - n - 2) {
        return SAMPAN_ETOOBIG;
    }
    int rc = out_reserve(o, n + len + 2);
    if (rc != 0) {
        return rc;
    }
    out_put(o, line, n);
    out_put(o, data, len);
    out_put(o, "\r\n", 2);
    return 0;
}

int resp_out_null(struct resp_out *o)
{
    return out_line(o, '$', -1);
}

int resp_out_array_header(struct resp_out *o, size_t n)
{
    if (n > (uint64_t)INT64_MAX) {
        return SAMPAN_ETOOBIG;
    }
    return out_line(o, '*', (int64_t)n);
}

int resp_out_null_array(struct resp_out *o)
{
    return out_line(o, '*', -1);
}

int resp_out_raw(struct resp_out *o, const void *data, size_t len)
{
    int rc = out_reserve(o, len);
    if (rc != 0) {
        return rc;
    }
    if (len > 0) {
        out_put(o, data, len);
    }
    return 0;
}
