/* bench/loadgen_reply.h: the load generator's reply framing: where one
 * server reply ends in a byte stream and whether it reports an error, for
 * RESP (Redis, sampan) and for HTTP/1.1 responses (etcd's v3 JSON gateway).
 *
 * Both parsers are pure functions of the bytes they are given: no state
 * is kept between calls, so a caller simply calls again, from the start of
 * the same reply, once more bytes have arrived. To keep that linear for
 * large replies, a "need more" answer carries `need`, the smallest total
 * number of bytes that can change the answer: calling again with fewer is
 * useless (and returns the same). `need` never exceeds the reply's real
 * length, so waiting for it never waits past a complete reply.
 *
 * Ownership: the parsers only read buf[0..len) during the call and keep
 * no pointer to it; buf may be NULL when len is 0. `out` is owned by the
 * caller, filled completely on every call; its text is a copy (no
 * pointers into buf). */
#ifndef SAMPAN_BENCH_LOADGEN_REPLY_H
#define SAMPAN_BENCH_LOADGEN_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default bound on one reply (and thus on a connection's receive
 * buffer): a longer reply is SAMPAN_ETOOBIG, never a crash. */
#define LG_REPLY_MAX_DEFAULT ((size_t)4 << 20)

/* Longest error text kept, including the NUL. */
#define LG_REPLY_TEXT_MAX 256u

/* Deepest RESP aggregate nesting accepted (SET/GET never nest). */
#define LG_RESP_MAX_DEPTH 16u

struct lg_reply {
    /* 0: more bytes are needed (see need); else the length in bytes of
     * the one complete reply at the start of the buffer. */
    size_t len;
    /* With len == 0: the total number of bytes worth calling again with
     * (always > the len given and <= the bound). */
    size_t need;
    /* With len > 0: the reply is an error (RESP "-..." at top level; HTTP
     * status other than 200, or a body containing "error" in quotes). */
    bool error;
    /* With error, or when the call failed: a NUL-terminated message (the
     * server's text, cut to fit, with non-printable bytes shown as '?',
     * '"' as '\'' and '\\' as '/', so it can be quoted as is; never
     * empty). Else "". */
    char text[LG_REPLY_TEXT_MAX];
};

/* Frames one RESP2 reply (+ - : $ * types, arrays nested up to
 * LG_RESP_MAX_DEPTH) at buf[0..len). `max` bounds the reply's length.
 * Returns 0 (out->len says complete or not), SAMPAN_EINVAL if the bytes
 * cannot start a valid reply, or SAMPAN_ETOOBIG if the reply would be
 * longer than max; on failure out->text says why. */
int lg_reply_parse_resp(const uint8_t *buf, size_t len, size_t max,
                        struct lg_reply *out);

/* Frames one HTTP/1.1 (or 1.0) response at buf[0..len): status line,
 * headers (at most 100), then a body framed by Content-Length or by
 * "Transfer-Encoding: chunked" (trailers allowed); 1xx, 204 and 304
 * responses have no body. A response with neither framing header is
 * SAMPAN_EINVAL (it would end only with the connection). Otherwise as
 * lg_reply_parse_resp. */
int lg_reply_parse_http(const uint8_t *buf, size_t len, size_t max,
                        struct lg_reply *out);

#endif
