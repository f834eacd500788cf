/* server/resp.h: the Redis protocol (RESP2) as the server speaks it: an
 * incremental, zero-copy request parser (multibulk and inline, pipelined),
 * reply encoders into a bounded output buffer, and the argument helpers
 * commands use (name match, integer parse). No I/O, no globals: the
 * connection layer owns the sockets and the buffers and calls in here.
 * docs/protocol.md (section "RESP") lists the accepted wire forms, every
 * limit with its default, and the exact error strings below.
 *
 * Error model: functions return 0 or a negative SAMPAN_E* code. A parse
 * error comes with a Redis-style text (resp_parser_error) that the server
 * sends as an error reply before it closes the connection, as Redis does:
 * after a protocol error the byte stream cannot be resynchronised. */
#ifndef SAMPAN_SERVER_RESP_H
#define SAMPAN_SERVER_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/error.h"

/* ---- limits ------------------------------------------------------------- */

/* Defaults, chosen so that any accepted request fits one Raft entry
 * (max_entry_bytes defaults to 16 MiB) with room for its encoding. */
#define RESP_DEFAULT_MAX_ARGS 65536u
#define RESP_DEFAULT_MAX_BULK_BYTES (8u << 20)     /* one argument  */
#define RESP_DEFAULT_MAX_INLINE_BYTES (64u << 10)  /* as Redis      */
#define RESP_DEFAULT_MAX_REQUEST_BYTES (12u << 20) /* whole request */
#define RESP_DEFAULT_OUT_LIMIT (64u << 20)         /* unsent replies */

/* No limit may exceed this: keeps every offset sum and array size far
 * from overflow. */
#define RESP_LIMIT_CEILING (SIZE_MAX / 16u)
/* Longest "*<n>" / "$<n>" line body accepted: 20 characters hold any
 * int64; a longer line without CRLF is an error, not something to buffer. */
#define RESP_MAX_HEADER_DIGITS 32u

struct resp_limits {
    size_t max_args;          /* arguments per request (command included) */
    size_t max_bulk_bytes;    /* bytes of one multibulk argument          */
    size_t max_inline_bytes;  /* bytes of one inline line, CRLF excluded  */
    size_t max_request_bytes; /* bytes of one multibulk request on the
                                 wire, from '*' to the last CRLF          */
};

/* Fills *l with the RESP_DEFAULT_* values. */
void resp_limits_default(struct resp_limits *l);

/* ---- error texts (what the client sees after '-') ------------------------ */

#define RESP_ERR_MBULK_LEN "ERR Protocol error: invalid multibulk length"
#define RESP_ERR_MBULK_BIG "ERR Protocol error: too big mbulk count string"
#define RESP_ERR_BULK_LEN "ERR Protocol error: invalid bulk length"
#define RESP_ERR_BULK_BIG "ERR Protocol error: too big bulk count string"
/* Followed by the offending byte and a quote: "... got 'x'". */
#define RESP_ERR_EXPECTED_DOLLAR "ERR Protocol error: expected '$', got '"
#define RESP_ERR_BULK_CRLF                                                     \
    "ERR Protocol error: bulk argument not followed by CRLF"
#define RESP_ERR_REQUEST_BIG "ERR Protocol error: too big request"
#define RESP_ERR_INLINE_BIG "ERR Protocol error: too big inline request"
#define RESP_ERR_INLINE_ARGS                                                   \
    "ERR Protocol error: too many arguments in inline request"
#define RESP_ERR_QUOTES "ERR Protocol error: unbalanced quotes in request"
#define RESP_ERR_NOMEM "ERR out of memory"
#define RESP_ERR_NOT_INTEGER "ERR value is not an integer or out of range"

/* ---- requests ------------------------------------------------------------ */

/* One parsed request. argv[i] points to arglen[i] bytes (not
 * NUL-terminated, may contain any byte). A multibulk argument points INTO
 * the buffer given to resp_parse; an inline argument points into that
 * buffer or, when it had to be unescaped (quotes joined, \xHH), into
 * `scratch`. Either way the pointers stay valid until the caller discards
 * the consumed bytes of its input buffer (or moves/reallocates it), or
 * calls resp_parse again with this request, whichever comes first.
 *
 * The arrays belong to the request and grow (doubling, never beyond the
 * parser's max_args) only when a request has more arguments than any
 * before it: steady state allocates nothing per request. */
struct resp_request {
    size_t argc;
    const uint8_t **argv;
    size_t *arglen;
    /* Private to resp.c: */
    size_t *argoff;   /* argument offsets while a request is incomplete */
    size_t cap;       /* entries in argv, arglen, argoff               */
    uint8_t *scratch; /* unescaped inline arguments                    */
    size_t scratch_cap;
};

/* Allocates a small initial argument array. 0 or SAMPAN_ENOMEM (then
 * nothing is held). The caller owns req and must resp_request_free it. */
int resp_request_init(struct resp_request *req);
/* Frees what the request holds; req may be zeroed or already freed. */
void resp_request_free(struct resp_request *req);

/* ---- parser ---------------------------------------------------------------
 */

/* Parse progress of one connection's input stream. Plain data, no heap:
 * resp_parser_init cannot fail except on bad limits. */
struct resp_parser {
    struct resp_limits lim;
    /* Progress over the request at the start of the caller's buffer, so
     * bytes arriving in many reads are examined once (O(n) overall). All
     * are offsets, never pointers: the caller may move its buffer between
     * calls. */
    int kind;     /* RESP_KIND_* below (private)                        */
    size_t pos;   /* multibulk: bytes of the request already validated  */
    size_t scan;  /* inline: bytes already searched for '\n'           */
    size_t nargs; /* multibulk: arguments announced by "*<n>"          */
    size_t argi;  /* multibulk: arguments complete so far              */
    size_t bulk;  /* multibulk: length of argument argi, when have_bulk */
    bool have_bulk;
    int err; /* sticky: 0 or the code of the first error           */
    char errbuf[64];
    const char *errtext;
};

/* Sets up a parser with `lim` (copied), or the defaults when lim is NULL.
 * 0, or SAMPAN_EINVAL when a limit is 0 or above RESP_LIMIT_CEILING (p
 * then holds the defaults, so it is still safe to use or discard). */
int resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);
/* Forgets all progress and any error (same limits). */
void resp_parser_reset(struct resp_parser *p);

/* Parses the next request from buf[0..len), the caller's input bytes not
 * yet consumed. buf may be NULL when len is 0. Outcomes:
 *
 *   0, *consumed == 0: the request is incomplete. Read more bytes and call
 *      again with the same (possibly moved) buffer start and a larger len,
 *      and the same req; bytes already examined are not examined again.
 *   0, *consumed > 0, req->argc > 0: a whole request; req->argv points into
 *      buf (see struct resp_request). Run it, then discard the first
 *      *consumed bytes of the buffer before the next call.
 *   0, *consumed > 0, req->argc == 0: the bytes held only empty requests
 *      (blank inline lines, "*0", "*-1": Redis ignores these too). Discard
 *      them; nothing to run. A request right after them is returned in the
 *      same call, so this happens only when no complete request follows.
 *   < 0: SAMPAN_EINVAL (malformed), SAMPAN_ETOOBIG (a limit exceeded; the
 *      oversized bytes are never waited for) or SAMPAN_ENOMEM (growing
 *      req). resp_parser_error(p) gives the text to send as an error
 *      reply; then close the connection. The error is sticky: later calls
 *      return it again until resp_parser_reset.
 *
 * The caller's input buffer never needs more than max_request_bytes (or
 * max_inline_bytes + 2 for an inline line) to complete one request;
 * resp_parser_need says how many bytes the current request needs next.
 * The parser never writes to buf. */
int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len,
               struct resp_request *req, size_t *consumed);

/* The error text of the last failed resp_parse (static or inside p, valid
 * while p lives and is not reset), or NULL when there was none. */
const char *resp_parser_error(const struct resp_parser *p);

/* When the current request is waiting for a bulk argument whose header was
 * read: the buffer length (from the request's first byte) at which that
 * argument and its CRLF are complete; otherwise 0 (unknown: read what is
 * there). A hint for sizing reads of large arguments; never more than
 * max_request_bytes. */
size_t resp_parser_need(const struct resp_parser *p);

/* ---- argument helpers ------------------------------------------------------
 */

/* True when argument i exists and equals `name` ignoring ASCII case
 * (`name` is NUL-terminated, e.g. "SET"). */
bool resp_arg_is(const struct resp_request *req, size_t i, const char *name);

/* Parses s[0..len) as a decimal int64 the way Redis does (string2ll): an
 * optional '-', then digits without leading zeros ("0" alone is fine, "-0"
 * is not), nothing else (no '+', no spaces), the whole int64 range. 0 with
 * *out set, or SAMPAN_EINVAL (reply RESP_ERR_NOT_INTEGER); *out is
 * untouched on failure. */
int resp_parse_int64(const uint8_t *s, size_t len, int64_t *out);
/* resp_parse_int64 on argument i; SAMPAN_EINVAL also when i >= argc. */
int resp_arg_int64(const struct resp_request *req, size_t i, int64_t *out);

/* ---- replies ----------------------------------------------------------------
 */

/* A growable output buffer that refuses to grow past `limit` bytes.
 * buf[0..len) holds encoded replies not yet sent; the caller sends them
 * and drops the sent prefix with resp_out_discard. The buffer is owned by
 * the struct (resp_out_free releases it); it grows geometrically and never
 * shrinks, so steady state allocates nothing.
 *
 * Every encoder appends one whole reply element or nothing: 0, or
 * SAMPAN_ETOOBIG when len would exceed limit (the client is not reading
 * its replies; the server disconnects it rather than buffer without bound)
 * or SAMPAN_ENOMEM; on failure the buffer is unchanged. */
struct resp_out {
    uint8_t *buf;
    size_t len, cap, limit;
};

/* Empty buffer with `limit` (0 means RESP_DEFAULT_OUT_LIMIT); allocates
 * nothing until the first reply. */
void resp_out_init(struct resp_out *o, size_t limit);
void resp_out_free(struct resp_out *o);
/* Drops the first n bytes (n > len drops everything). */
void resp_out_discard(struct resp_out *o, size_t n);

/* "+<s>\r\n"; SAMPAN_EINVAL when s contains CR or LF (a server bug: simple
 * strings are never client data). */
int resp_out_simple(struct resp_out *o, const char *s);
/* "-<s>\r\n", s including its code ("ERR ...", "WRONGTYPE ..."); CR and LF
 * in s become spaces (as Redis does), since texts may quote client data. */
int resp_out_error(struct resp_out *o, const char *s);
/* ":<v>\r\n" */
int resp_out_int(struct resp_out *o, int64_t v);
/* "$<len>\r\n<data>\r\n"; data may be NULL when len is 0. */
int resp_out_bulk(struct resp_out *o, const void *data, size_t len);
/* "$-1\r\n", the RESP2 null (GET of a missing key). */
int resp_out_null(struct resp_out *o);
/* "*<n>\r\n"; the caller then appends n elements. */
int resp_out_array_header(struct resp_out *o, size_t n);
/* "*-1\r\n" */
int resp_out_null_array(struct resp_out *o);

/* Appends bytes that are already RESP (a reply encoded elsewhere), whole
 * or not at all; same errors as the encoders above. */
int resp_out_raw(struct resp_out *o, const void *data, size_t len);

#endif
