/* cli/snapshot_save.c: `sampan snapshot save FILE [--addr HOST:PORT]`:
 * streams a consistent snapshot of a running node's key/value state
 * (SNAPSHOT BEGIN, READ until the empty chunk, END: docs/protocol.md) into
 * a backup file (cli/backup_format.h). The file appears atomically: it is
 * written to FILE.tmp, fsync'd, renamed over FILE and the directory
 * fsync'd, so FILE is either the previous one or the complete new one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/resp_client.h"
#include "cli/snapshot.h"
#include "codec/crc32c.h"
#include "codec/le.h"

#define SAVE_DEFAULT_ADDR "127.0.0.1:7379"
/* Above the server's default request timeout (5 s): BEGIN waits for a
 * read index like a read does. */
#define SAVE_TIMEOUT_MS 10000
/* BEGIN is retried while it gets TRYAGAIN (an election), BUSY, or a
 * TIMEOUT of its read index: none of them took a snapshot. */
#define SAVE_RETRY_MS 100
#define SAVE_RETRY_TOTAL_MS 5000

/* What SNAPSHOT BEGIN answered. */
struct save_begin {
    int64_t handle;
    uint64_t index, term, bytes, keys;
    uint8_t conf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t conf_len;
    struct sampan_membership members;
};

/* A transfer in progress: the connection, the temporary file and the
 * running checksum. */
struct save {
    const char *path;
    char tmp[1024];
    int fd; /* the temporary file, -1 when closed */
    struct resp_client rc;
    uint32_t crc;
    uint64_t written; /* state bytes written */
    char err[2048];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends "SNAPSHOT <verb> [handle]" and reads the reply. 0, or -1 with a
 * message in err (the connection is then closed). */
static int command(struct save *sv, const char *verb, int64_t handle,
                   struct resp_client_reply **r, char *err, size_t errlen)
{
    char id[24];
    const char *argv[3] = {"SNAPSHOT", verb, id};
    size_t lens[3] = {8, strlen(verb), 0};
    size_t argc = 2;
    if (handle > 0) {
        snprintf(id, sizeof(id), "%" PRId64, handle);
        lens[2] = strlen(id);
        argc = 3;
    }
    return resp_client_command(&sv->rc, argc, argv, lens, r, err, errlen);
}

static int is_retryable(const struct resp_client_reply *r)
{
    return r->type == RESP_CLIENT_ERROR &&
           (strncmp(r->str, "TRYAGAIN ", 9) == 0 ||
            strncmp(r->str, "BUSY ", 5) == 0 ||
            strncmp(r->str, "TIMEOUT ", 8) == 0);
}

static int reply_uint(const struct resp_client_reply *r, uint64_t *out)
{
    if (r->type != RESP_CLIENT_INT || r->integer < 0) {
        return -1;
    }
    *out = (uint64_t)r->integer;
    return 0;
}

/* [handle, index, term, conf, bytes, keys], checked. */
static int parse_begin(struct save *sv, const struct resp_client_reply *r,
                       struct save_begin *b)
{
    uint64_t handle = 0;
    const char *why = "malformed";
    if (r->type == RESP_CLIENT_ERROR) {
        snprintf(sv->err, sizeof(sv->err), "%s refused SNAPSHOT BEGIN: %s",
                 sv->rc.addr, r->str);
        return -1;
    }
    if (r->type == RESP_CLIENT_ARRAY && r->n == 6 &&
        reply_uint(&r->elems[0], &handle) == 0 && handle > 0 &&
        handle <= INT64_MAX && reply_uint(&r->elems[1], &b->index) == 0 &&
        reply_uint(&r->elems[2], &b->term) == 0 &&
        r->elems[3].type == RESP_CLIENT_BULK &&
        r->elems[3].len <= sizeof(b->conf) &&
        reply_uint(&r->elems[4], &b->bytes) == 0 &&
        reply_uint(&r->elems[5], &b->keys) == 0) {
        b->handle = (int64_t)handle;
        b->conf_len = r->elems[3].len;
        memcpy(b->conf, r->elems[3].str, b->conf_len);
        if (sampan_membership_decode(b->conf, b->conf_len, &b->members, &why) ==
            0) {
            return 0;
        }
    }
    snprintf(sv->err, sizeof(sv->err),
             "%s answered SNAPSHOT BEGIN with an unexpected reply (%s)",
             sv->rc.addr, why);
    return -1;
}

/* BEGIN, retried through elections. 0, or -1 (err). */
static int begin(struct save *sv, struct save_begin *b)
{
    int64_t deadline = now_ms() + SAVE_RETRY_TOTAL_MS;
    for (;;) {
        struct resp_client_reply *r = NULL;
        if (command(sv, "BEGIN", 0, &r, sv->err, sizeof(sv->err)) != 0) {
            return -1;
        }
        if (is_retryable(r) && now_ms() < deadline) {
            resp_client_reply_free(r);
            struct timespec ts = {.tv_nsec = SAVE_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        int rv = parse_begin(sv, r, b);
        resp_client_reply_free(r);
        return rv;
    }
}

static int write_all(struct save *sv, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(sv->fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(sv->err, sizeof(sv->err), "writing %s: %s", sv->tmp,
                     strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Checksums and writes bytes of the file. */
static int emit(struct save *sv, const void *buf, size_t len)
{
    sv->crc = crc32c(sv->crc, buf, len);
    return write_all(sv, buf, len);
}

/* READ until the empty chunk; exactly the bytes BEGIN announced. */
static int transfer(struct save *sv, const struct save_begin *b)
{
    for (;;) {
        struct resp_client_reply *r = NULL;
        if (command(sv, "READ", b->handle, &r, sv->err, sizeof(sv->err)) != 0) {
            return -1;
        }
        int rv = 0;
        if (r->type != RESP_CLIENT_BULK) {
            snprintf(sv->err, sizeof(sv->err), "%s: SNAPSHOT READ failed: %s",
                     sv->rc.addr,
                     r->type == RESP_CLIENT_ERROR ? r->str
                                                  : "unexpected reply");
            rv = -1;
        } else if (r->len > b->bytes - sv->written) {
            snprintf(sv->err, sizeof(sv->err),
                     "%s sent more than the %" PRIu64 " bytes it announced",
                     sv->rc.addr, b->bytes);
            rv = -1;
        } else {
            rv = emit(sv, r->str, r->len);
            sv->written += r->len;
        }
        size_t len = r->len;
        resp_client_reply_free(r);
        if (rv != 0) {
            return -1;
        }
        if (len == 0) {
            break;
        }
    }
    if (sv->written != b->bytes) {
        snprintf(sv->err, sizeof(sv->err),
                 "%s sent %" PRIu64 " bytes of the %" PRIu64 " it announced",
                 sv->rc.addr, sv->written, b->bytes);
        return -1;
    }
    return 0;
}

/* fsync, close, rename over the destination, fsync the directory. */
static int commit_file(struct save *sv)
{
    int rv = fsync(sv->fd);
    int e = errno;
    if (close(sv->fd) != 0 && rv == 0) {
        rv = -1;
        e = errno;
    }
    sv->fd = -1;
    if (rv == 0 && rename(sv->tmp, sv->path) != 0) {
        rv = -1;
        e = errno;
    }
    if (rv != 0) {
        snprintf(sv->err, sizeof(sv->err), "saving %s: %s", sv->path,
                 strerror(e));
        return -1;
    }
    char dir[sizeof(sv->tmp)];
    snprintf(dir, sizeof(dir), "%s", sv->path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(sv->err, sizeof(sv->err),
                 "%s was renamed into place but its directory could not be "
                 "synced: %s",
                 sv->path, strerror(errno));
        rv = -1;
    }
    if (dfd >= 0) {
        close(dfd);
    }
    return rv;
}

static int save_file(struct save *sv, const struct save_begin *b)
{
    uint8_t hdr[BACKUP_HEADER_MAX];
    size_t hlen = 0;
    if (backup_header_encode(b->index, b->term, b->keys, b->conf, b->conf_len,
                             b->bytes, hdr, sizeof(hdr), &hlen) != 0) {
        snprintf(sv->err, sizeof(sv->err),
                 "%s described an impossible snapshot (index %" PRIu64
                 ", term %" PRIu64 ")",
                 sv->rc.addr, b->index, b->term);
        return -1;
    }
    sv->fd = open(sv->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sv->fd < 0) {
        snprintf(sv->err, sizeof(sv->err), "cannot create %s: %s", sv->tmp,
                 strerror(errno));
        return -1;
    }
    uint8_t trailer[BACKUP_TRAILER_BYTES];
    if (emit(sv, hdr, hlen) != 0 || transfer(sv, b) != 0) {
        return -1;
    }
    put32(trailer, sv->crc);
    if (write_all(sv, trailer, sizeof(trailer)) != 0) {
        return -1;
    }
    return commit_file(sv);
}

int snapshot_save(int argc, char **argv)
{
    const char *addr = SAVE_DEFAULT_ADDR;
    const char *path = NULL;
    char why[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0) {
            if (i + 1 >= argc) {
                return cli_usage_error(&cli_cmd_snapshot,
                                       "snapshot save: --addr needs HOST:PORT");
            }
            addr = argv[++i];
        } else if (strncmp(argv[i], "--", 2) == 0 || path != NULL) {
            snprintf(why, sizeof(why), "snapshot save: unexpected '%s'",
                     argv[i]);
            return cli_usage_error(&cli_cmd_snapshot, why);
        } else {
            path = argv[i];
        }
    }
    char host[256];
    uint16_t port;
    if (path == NULL || path[0] == '\0') {
        return cli_usage_error(&cli_cmd_snapshot,
                               "snapshot save: missing FILE");
    }
    if (resp_client_parse_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(why, sizeof(why),
                 "snapshot save: bad value '%s' for --addr (want HOST:PORT)",
                 addr);
        return cli_usage_error(&cli_cmd_snapshot, why);
    }
    struct save sv = {.path = path, .fd = -1, .rc = {.fd = -1}};
    if ((size_t)snprintf(sv.tmp, sizeof(sv.tmp), "%s.tmp", path) >=
        sizeof(sv.tmp)) {
        return cli_usage_error(&cli_cmd_snapshot,
                               "snapshot save: FILE name too long");
    }
    struct save_begin b;
    memset(&b, 0, sizeof(b));
    int rv = resp_client_connect(&sv.rc, host, port, SAVE_TIMEOUT_MS, sv.err,
                                 sizeof(sv.err));
    if (rv == 0) {
        rv = begin(&sv, &b);
    }
    if (rv == 0) {
        rv = save_file(&sv, &b);
        /* The handle keeps old state alive on the node: let it go now
         * (it would expire anyway). Best effort: the file is saved or the
         * error already said, and a closed connection just fails. */
        struct resp_client_reply *r = NULL;
        char ignored[256];
        if (command(&sv, "END", b.handle, &r, ignored, sizeof(ignored)) == 0) {
            resp_client_reply_free(r);
        }
    }
    resp_client_close(&sv.rc);
    if (sv.fd >= 0) {
        close(sv.fd);
    }
    if (rv != 0) {
        unlink(sv.tmp);
        fprintf(stderr, "sampan: snapshot save: %s\n", sv.err);
        return CLI_EXIT_FAIL;
    }
    printf("saved %s: index %" PRIu64 ", term %" PRIu64 ", %" PRIu64
           " keys, %" PRIu64 " bytes of state from %s\nmembers: ",
           path, b.index, b.term, b.keys, b.bytes, addr);
    backup_print_members(stdout, &b.members);
    printf("\n");
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
