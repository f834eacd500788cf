/* cli/resp_client.h: a tiny blocking RESP2 client for the `sampan`
 * subcommands that talk to a running node (status, get, set...): connect
 * with a timeout, send one command as a multibulk, read one reply into a
 * tree. Every size is bounded (a reply over RESP_CLIENT_MAX_REPLY bytes, or
 * nested deeper than RESP_CLIENT_MAX_DEPTH, is refused), and every failure
 * comes back as a message naming the address and what went wrong. */
#ifndef SAMPAN_CLI_RESP_CLIENT_H
#define SAMPAN_CLI_RESP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define RESP_CLIENT_MAX_REPLY (64u << 20) /* bytes of payload, in total  */
#define RESP_CLIENT_MAX_DEPTH 8u          /* nested arrays               */
#define RESP_CLIENT_MAX_ARGS 1024u        /* arguments of one command    */

enum resp_client_type {
    RESP_CLIENT_SIMPLE, /* +OK               str                     */
    RESP_CLIENT_ERROR,  /* -ERR ...          str                     */
    RESP_CLIENT_INT,    /* :5                integer                 */
    RESP_CLIENT_BULK,   /* $3 abc            str, len (may hold NUL) */
    RESP_CLIENT_NIL,    /* $-1 or *-1                                */
    RESP_CLIENT_ARRAY,  /* *2 ...            elems, n                */
};

struct resp_client_reply {
    enum resp_client_type type;
    int64_t integer;
    char *str; /* NUL-terminated copy (len bytes + '\0') */
    size_t len;
    struct resp_client_reply *elems;
    size_t n;
};

struct resp_client {
    int fd;
    char addr[128]; /* "host:port", for messages */
    char buf[16384];
    size_t start, end; /* unread bytes are buf[start..end) */
};

/* Splits "HOST:PORT" (HOST a name, an IPv4 address or [IPv6]) into its
 * parts. Returns 0, or -1 if it is not of that form. */
int resp_client_parse_addr(const char *s, char *host, size_t hostlen,
                           uint16_t *port);

/* Connects to host:port, giving up after timeout_ms; every later read and
 * write on the connection also gives up after timeout_ms. Returns 0, or -1
 * with a message in err. */
int resp_client_connect(struct resp_client *c, const char *host, uint16_t port,
                        int timeout_ms, char *err, size_t errlen);

/* Sends argv[0..argc) (argv[i] holding lens[i] bytes) and reads one reply
 * into *out (free it with resp_client_reply_free). A Redis error reply is
 * a successful call returning a RESP_CLIENT_ERROR tree. Returns 0, or -1
 * with a message in err; after -1 the connection is unusable. */
int resp_client_command(struct resp_client *c, size_t argc,
                        const char *const *argv, const size_t *lens,
                        struct resp_client_reply **out, char *err,
                        size_t errlen);

void resp_client_reply_free(struct resp_client_reply *r);

/* True if r is an error reply whose first word is `code` (e.g. "BUSY"). */
int resp_client_is_error(const struct resp_client_reply *r, const char *code);

/* One command to the node at addr ("HOST:PORT"), argv NUL-terminated
 * strings: connects, sends, and while the answer is TRYAGAIN or BUSY
 * retries every 100 ms for up to retry_ms. Returns 0 with *out owned by
 * the caller (maybe an error reply), or -1 with a message in err. */
int resp_client_call(const char *addr, size_t argc, const char *const *argv,
                     int timeout_ms, int retry_ms,
                     struct resp_client_reply **out, char *err, size_t errlen);

void resp_client_close(struct resp_client *c);

#endif
