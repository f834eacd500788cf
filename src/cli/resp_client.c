/* cli/resp_client.c: the blocking RESP2 client behind `sampan status`,
 * `get`, `set`...: connect with a timeout, write a multibulk, parse one
 * reply. Blocking sockets with SO_RCVTIMEO/SO_SNDTIMEO keep it simple: a
 * CLI sends one command at a time, and a node that stops answering turns
 * into a message instead of a hang. */
#include "cli/resp_client.h"
#include "util/hostport.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Charged per reply element against RESP_CLIENT_MAX_REPLY, so a reply of
 * millions of tiny elements is refused like one huge string. */
#define ELEM_COST 16u

int resp_client_parse_addr(const char *s, char *host, size_t hostlen,
                           uint16_t *port)
{
    return hostport_parse(s, host, hostlen, port);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One non-blocking connect attempt to `ai`, waiting at most until
 * deadline. Returns the connected (blocking) fd, or -1 with errno set. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        goto fail;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            goto fail;
        }
        for (;;) {
            int64_t left = deadline - now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                goto fail;
            }
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int rv = poll(&pfd, 1, (int)left);
            if (rv > 0) {
                break;
            }
            if (rv < 0 && errno != EINTR) {
                goto fail;
            }
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
            goto fail;
        }
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    if (fcntl(fd, F_SETFL, flags) < 0) {
        goto fail;
    }
    return fd;
fail : {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}
}

int resp_client_connect(struct resp_client *c, const char *host, uint16_t port,
                        int timeout_ms, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    snprintf(c->addr, sizeof(c->addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u",
             host, (unsigned)port);
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int rv = getaddrinfo(host, portstr, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host,
                 gai_strerror(rv));
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    int last_errno = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        c->fd = connect_one(ai, deadline);
        if (c->fd < 0) {
            last_errno = errno;
        }
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", c->addr,
                 last_errno == ETIMEDOUT ? "timed out" : strerror(last_errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000,
                         .tv_usec = (timeout_ms % 1000) * 1000};
    int one = 1;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        snprintf(err, errlen, "%s: cannot set socket timeouts: %s", c->addr,
                 strerror(errno));
        resp_client_close(c);
        return -1;
    }
    /* One small command at a time: do not let Nagle hold it back. */
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

void resp_client_close(struct resp_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* ---- writing --------------------------------------------------------- */

static int send_all(struct resp_client *c, const char *p, size_t len, char *err,
                    size_t errlen)
{
    while (len > 0) {
        /* MSG_NOSIGNAL: a node that went away is an error, not SIGPIPE. */
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "cannot send to %s: %s", c->addr,
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
                                                             : strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_command(struct resp_client *c, size_t argc,
                        const char *const *argv, const size_t *lens, char *err,
                        size_t errlen)
{
    if (argc == 0 || argc > RESP_CLIENT_MAX_ARGS) {
        snprintf(err, errlen, "a command has 1 to %u arguments",
                 RESP_CLIENT_MAX_ARGS);
        return -1;
    }
    /* Header per argument: "$" + up to 20 digits + 2 CRLFs. */
    size_t total = 32;
    for (size_t i = 0; i < argc; i++) {
        if (lens[i] > RESP_CLIENT_MAX_REPLY ||
            total + lens[i] + 32 > RESP_CLIENT_MAX_REPLY) {
            snprintf(err, errlen, "command too large (over %u bytes)",
                     RESP_CLIENT_MAX_REPLY);
            return -1;
        }
        total += lens[i] + 32;
    }
    char *buf = malloc(total);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t off = (size_t)snprintf(buf, total, "*%zu\r\n", argc);
    for (size_t i = 0; i < argc; i++) {
        off += (size_t)snprintf(buf + off, total - off, "$%zu\r\n", lens[i]);
        memcpy(buf + off, argv[i], lens[i]);
        off += lens[i];
        buf[off++] = '\r';
        buf[off++] = '\n';
    }
    int rv = send_all(c, buf, off, err, errlen);
    free(buf);
    return rv;
}

/* ---- reading --------------------------------------------------------- */

/* Reads more bytes into buf (compacting first). Returns 0, or -1 with a
 * message: the peer closed, timed out, or failed. */
static int fill(struct resp_client *c, char *err, size_t errlen)
{
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof(c->buf)) {
        snprintf(err, errlen, "%s: reply line longer than %zu bytes", c->addr,
                 sizeof(c->buf));
        return -1;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->end, sizeof(c->buf) - c->end, 0);
        if (n > 0) {
            c->end += (size_t)n;
            return 0;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            snprintf(err, errlen, "%s closed the connection", c->addr);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            snprintf(err, errlen, "timed out waiting for a reply from %s",
                     c->addr);
        } else {
            snprintf(err, errlen, "cannot read from %s: %s", c->addr,
                     strerror(errno));
        }
        return -1;
    }
}

/* The next CRLF-terminated line, without the CRLF, NUL-terminated in
 * place; valid until the next read. */
static int read_line(struct resp_client *c, char **line, size_t *len, char *err,
                     size_t errlen)
{
    for (;;) {
        char *p = c->buf + c->start;
        size_t avail = c->end - c->start;
        char *cr = avail >= 2 ? memmem(p, avail, "\r\n", 2) : NULL;
        if (cr != NULL) {
            *cr = '\0';
            *line = p;
            *len = (size_t)(cr - p);
            c->start += *len + 2;
            return 0;
        }
        if (fill(c, err, errlen) != 0) {
            return -1;
        }
    }
}

static int read_exact(struct resp_client *c, char *dst, size_t len, char *err,
                      size_t errlen)
{
    while (len > 0) {
        if (c->start == c->end && fill(c, err, errlen) != 0) {
            return -1;
        }
        size_t take = c->end - c->start < len ? c->end - c->start : len;
        memcpy(dst, c->buf + c->start, take);
        c->start += take;
        dst += take;
        len -= take;
    }
    return 0;
}

/* A decimal integer filling the whole of s (the header after the type
 * byte). */
static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '\0') {
        return -1;
    }
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static char *dup_bytes(const char *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static void reply_clear(struct resp_client_reply *r)
{
    free(r->str);
    for (size_t i = 0; i < r->n; i++) {
        reply_clear(&r->elems[i]);
    }
    free(r->elems);
    memset(r, 0, sizeof(*r));
}

void resp_client_reply_free(struct resp_client_reply *r)
{
    if (r != NULL) {
        reply_clear(r);
        free(r);
    }
}

/* The len bytes of a bulk string after its header, then its CRLF. */
static int read_bulk_body(struct resp_client *c, struct resp_client_reply *r,
                          char *err, size_t errlen)
{
    char crlf[2];
    if (read_exact(c, r->str, r->len, err, errlen) != 0 ||
        read_exact(c, crlf, 2, err, errlen) != 0) {
        return -1;
    }
    if (crlf[0] != '\r' || crlf[1] != '\n') {
        snprintf(err, errlen, "%s sent a bulk string not ended by CRLF",
                 c->addr);
        return -1;
    }
    return 0;
}

/* Reads one reply into *r (zeroed by the caller). *budget is what is left
 * of RESP_CLIENT_MAX_REPLY. On failure *r may be partly filled: the caller
 * clears it. */
static int read_reply(struct resp_client *c, struct resp_client_reply *r,
                      unsigned depth, size_t *budget, char *err, size_t errlen)
{
    char *line;
    size_t len;
    if (read_line(c, &line, &len, err, errlen) != 0) {
        return -1;
    }
    if (len == 0) {
        snprintf(err, errlen, "%s sent an empty reply line", c->addr);
        return -1;
    }
    if (len - 1 + ELEM_COST > *budget) {
        goto too_big;
    }
    *budget -= len - 1 + ELEM_COST;
    char type = line[0];
    int64_t v = 0;
    switch (type) {
    case '+':
    case '-':
        r->type = type == '+' ? RESP_CLIENT_SIMPLE : RESP_CLIENT_ERROR;
        r->len = len - 1;
        r->str = dup_bytes(line + 1, len - 1);
        if (r->str == NULL) {
            goto oom;
        }
        return 0;
    case ':':
        r->type = RESP_CLIENT_INT;
        if (parse_int(line + 1, &r->integer) != 0) {
            goto bad;
        }
        return 0;
    case '$':
        if (parse_int(line + 1, &v) != 0 || v < -1) {
            goto bad;
        }
        if (v == -1) {
            r->type = RESP_CLIENT_NIL;
            return 0;
        }
        if ((uint64_t)v + 2 > *budget) {
            goto too_big;
        }
        *budget -= (size_t)v + 2;
        r->type = RESP_CLIENT_BULK;
        r->len = (size_t)v;
        r->str = malloc(r->len + 1);
        if (r->str == NULL) {
            goto oom;
        }
        r->str[r->len] = '\0';
        return read_bulk_body(c, r, err, errlen);
    case '*':
        if (parse_int(line + 1, &v) != 0 || v < -1) {
            goto bad;
        }
        if (v == -1) {
            r->type = RESP_CLIENT_NIL;
            return 0;
        }
        if (depth >= RESP_CLIENT_MAX_DEPTH) {
            snprintf(err, errlen, "%s: reply nested deeper than %u arrays",
                     c->addr, RESP_CLIENT_MAX_DEPTH);
            return -1;
        }
        /* Each element costs at least ELEM_COST: refuse before calloc. */
        if ((uint64_t)v > *budget / ELEM_COST) {
            goto too_big;
        }
        r->type = RESP_CLIENT_ARRAY;
        r->elems = calloc(v > 0 ? (size_t)v : 1, sizeof(*r->elems));
        if (r->elems == NULL) {
            goto oom;
        }
        for (int64_t i = 0; i < v; i++) {
            r->n++;
            if (read_reply(c, &r->elems[i], depth + 1, budget, err, errlen) !=
                0) {
                return -1;
            }
        }
        return 0;
    default:
        goto bad;
    }
bad:
    snprintf(err, errlen, "%s sent a malformed reply ('%.40s')", c->addr, line);
    return -1;
too_big:
    snprintf(err, errlen, "%s sent a reply over %u bytes; refused", c->addr,
             RESP_CLIENT_MAX_REPLY);
    return -1;
oom:
    snprintf(err, errlen, "out of memory reading a reply from %s", c->addr);
    return -1;
}

int resp_client_command(struct resp_client *c, size_t argc,
                        const char *const *argv, const size_t *lens,
                        struct resp_client_reply **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (c->fd < 0) {
        snprintf(err, errlen, "not connected");
        return -1;
    }
    if (send_command(c, argc, argv, lens, err, errlen) != 0) {
        resp_client_close(c);
        return -1;
    }
    struct resp_client_reply *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t budget = RESP_CLIENT_MAX_REPLY;
    if (read_reply(c, r, 0, &budget, err, errlen) != 0) {
        resp_client_reply_free(r);
        /* The stream position is lost: nothing more can be read. */
        resp_client_close(c);
        return -1;
    }
    *out = r;
    return 0;
}

int resp_client_is_error(const struct resp_client_reply *r, const char *code)
{
    size_t n = strlen(code);
    return r->type == RESP_CLIENT_ERROR && strncmp(r->str, code, n) == 0 &&
           (r->str[n] == ' ' || r->str[n] == '\0');
}

int resp_client_call(const char *addr, size_t argc, const char *const *argv,
                     int timeout_ms, int retry_ms,
                     struct resp_client_reply **out, char *err, size_t errlen)
{
    *out = NULL;
    char host[256];
    uint16_t port;
    size_t lens[RESP_CLIENT_MAX_ARGS];
    if (argc > RESP_CLIENT_MAX_ARGS ||
        resp_client_parse_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "'%s' is not HOST:PORT", addr);
        return -1;
    }
    for (size_t i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }
    int64_t deadline = now_ms() + retry_ms;
    for (;;) {
        struct resp_client c = {.fd = -1};
        struct resp_client_reply *r = NULL;
        if (resp_client_connect(&c, host, port, timeout_ms, err, errlen) != 0) {
            return -1;
        }
        int rv = resp_client_command(&c, argc, argv, lens, &r, err, errlen);
        resp_client_close(&c);
        if (rv != 0) {
            return -1;
        }
        bool again = resp_client_is_error(r, "TRYAGAIN") ||
                     resp_client_is_error(r, "BUSY");
        if (!again || now_ms() >= deadline) {
            *out = r;
            return 0;
        }
        resp_client_reply_free(r);
        struct timespec ts = {.tv_nsec = 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
