/* cli/cmd_client.c: `sampan get|set|del|incr|append`: one command to one
 * node over RESP, the reply printed like redis-cli prints it (a value, a
 * number, "(nil)", or "(error) ..." with exit code 1). Writes sent to a
 * follower are forwarded by the node; reads are linearizable on any node.
 *
 * Writes are exactly-once: each invocation opens its own session (CLIENT
 * SESSION <random id>) and sends the write as SEQ 1 <command>, so a retry
 * after a TIMEOUT (outcome unknown) or a lost connection is applied at
 * most once and answered with the first result. Retries: TRYAGAIN (no
 * leader yet) and BUSY every 100 ms for about 3 s; a lost connection
 * within those 3 s; a TIMEOUT at most twice. Reads are retried only on
 * TRYAGAIN and BUSY (they change nothing, but a lost read is just
 * reported). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/resp_client.h"

#define CLIENT_DEFAULT_ADDR "127.0.0.1:7379"
/* Above the server's default request timeout (5 s), so its TIMEOUT answer
 * arrives before ours. */
#define CLIENT_TIMEOUT_MS 10000
#define CLIENT_RETRY_MS 100
#define CLIENT_RETRY_TOTAL_MS 3000
#define CLIENT_TIMEOUT_RETRIES 2 /* each costs a server request timeout */

/* What distinguishes one of the five commands. */
struct client_verb {
    const struct cli_command *cmd;
    const char *redis; /* the command sent, e.g. "GET" */
    size_t min_args, max_args;
    int write; /* sent as SEQ 1 ... in a session of its own */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_retry(void)
{
    struct timespec ts = {.tv_nsec = CLIENT_RETRY_MS * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connects and, for a write, names the session. Returns 0 or -1 (err). */
static int open_conn(struct resp_client *c, const char *host, uint16_t port,
                     uint64_t session, char *err, size_t errlen)
{
    if (resp_client_connect(c, host, port, CLIENT_TIMEOUT_MS, err, errlen) !=
        0) {
        return -1;
    }
    if (session == 0) {
        return 0;
    }
    char id[24];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)session);
    const char *argv[] = {"CLIENT", "SESSION", id};
    const size_t lens[] = {6, 7, strlen(id)};
    struct resp_client_reply *r = NULL;
    if (resp_client_command(c, 3, argv, lens, &r, err, errlen) != 0) {
        return -1;
    }
    int ok = r->type == RESP_CLIENT_SIMPLE;
    if (!ok) {
        snprintf(err, errlen, "%s refused CLIENT SESSION: %s", c->addr,
                 r->str != NULL ? r->str : "(unexpected reply)");
        resp_client_close(c);
    }
    resp_client_reply_free(r);
    return ok ? 0 : -1;
}

/* Sends the command until it gets an answer worth printing (see the
 * retry rules at the top). Returns the reply, or NULL after saying why. */
static struct resp_client_reply *exchange(const struct client_verb *v,
                                          const char *host, uint16_t port,
                                          size_t n, const char **args,
                                          const size_t *lens)
{
    char err[512];
    uint64_t session = 0;
    if (v->write) {
        /* 63 random bits: unique among clients with overwhelming odds. */
        while (session == 0) {
            if (getrandom(&session, sizeof(session), 0) != sizeof(session)) {
                fprintf(stderr, "sampan: %s: no random session id\n",
                        v->cmd->name);
                return NULL;
            }
            session &= INT64_MAX;
        }
    }
    int64_t deadline = now_ms() + CLIENT_RETRY_TOTAL_MS;
    int timeouts_left = CLIENT_TIMEOUT_RETRIES;
    int unknown = 0; /* a write was sent and its answer lost */
    struct resp_client c = {.fd = -1};
    struct resp_client_reply *r = NULL;
    for (;;) {
        if (c.fd < 0 &&
            open_conn(&c, host, port, session, err, sizeof(err)) != 0) {
            /* Not reachable: worth waiting for only to learn the outcome
             * of a write already sent. */
            if (!unknown || now_ms() >= deadline) {
                goto fail;
            }
            pause_retry();
            continue;
        }
        if (resp_client_command(&c, n, args, lens, &r, err, sizeof(err)) != 0) {
            resp_client_close(&c);
            unknown |= v->write;
            /* The session makes resending a write safe; a read is not
             * resent (it would be safe too, but says nothing new). */
            if (!v->write || now_ms() >= deadline) {
                goto fail;
            }
            pause_retry();
            continue;
        }
        int retry = 0;
        if ((resp_client_is_error(r, "TRYAGAIN") ||
             resp_client_is_error(r, "BUSY")) &&
            now_ms() < deadline) {
            retry = 1;
            pause_retry();
        } else if (v->write && resp_client_is_error(r, "TIMEOUT") &&
                   timeouts_left > 0) {
            timeouts_left--;
            retry = 1;
        }
        if (!retry) {
            resp_client_close(&c);
            return r;
        }
        resp_client_reply_free(r);
        r = NULL;
    }
fail:
    fprintf(stderr, "sampan: %s: %s%s\n", v->cmd->name, err,
            unknown ? " (the write may have been applied)" : "");
    return NULL;
}

/* redis-cli's rendering; arrays are numbered, nested ones indented. */
static void print_reply(const struct resp_client_reply *r, int indent)
{
    switch (r->type) {
    case RESP_CLIENT_SIMPLE:
        printf("%s\n", r->str);
        break;
    case RESP_CLIENT_ERROR:
        printf("(error) %s\n", r->str);
        break;
    case RESP_CLIENT_INT:
        printf("%lld\n", (long long)r->integer);
        break;
    case RESP_CLIENT_BULK:
        fwrite(r->str, 1, r->len, stdout); /* the bytes, as stored */
        printf("\n");
        break;
    case RESP_CLIENT_NIL:
        printf("(nil)\n");
        break;
    case RESP_CLIENT_ARRAY:
        if (r->n == 0) {
            printf("(empty array)\n");
        }
        for (size_t i = 0; i < r->n; i++) {
            printf("%*s%zu) ", i == 0 ? 0 : indent, "", i + 1);
            print_reply(&r->elems[i], indent + 3);
        }
        break;
    }
}

static int run_verb(const struct client_verb *v, int argc, char **argv)
{
    const char *addr = CLIENT_DEFAULT_ADDR;
    const char *args[RESP_CLIENT_MAX_ARGS];
    size_t lens[RESP_CLIENT_MAX_ARGS];
    size_t n = 0;
    char why[512];
    if (v->write) { /* SEQ 1: the one write of this invocation's session */
        args[n] = "SEQ";
        lens[n++] = 3;
        args[n] = "1";
        lens[n++] = 1;
    }
    size_t first = n; /* where the command's own words start */
    args[n] = v->redis;
    lens[n++] = strlen(v->redis);
    int flags_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* Flags are "--name" or -h; "--" ends them, for a key or value
         * that starts with "--". "-5" is a value. */
        if (!flags_done && cli_is_help_flag(a)) {
            cli_print_command_usage(stdout, v->cmd);
            return CLI_EXIT_OK;
        } else if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = 1;
        } else if (!flags_done && strcmp(a, "--addr") == 0) {
            if (i + 1 >= argc) {
                return cli_usage_error(v->cmd, "--addr needs HOST:PORT");
            }
            addr = argv[++i];
        } else if (!flags_done && strncmp(a, "--", 2) == 0) {
            snprintf(why, sizeof(why), "%s: unknown flag '%s'", v->cmd->name,
                     a);
            return cli_usage_error(v->cmd, why);
        } else if (n == first + v->max_args + 1 || n == RESP_CLIENT_MAX_ARGS) {
            snprintf(why, sizeof(why), "%s: unexpected argument '%s'",
                     v->cmd->name, a);
            return cli_usage_error(v->cmd, why);
        } else {
            args[n] = a;
            lens[n++] = strlen(a);
        }
    }
    if (n < first + v->min_args + 1) {
        snprintf(why, sizeof(why), "%s: missing %s", v->cmd->name,
                 n == first + 1 ? "KEY" : "VALUE");
        return cli_usage_error(v->cmd, why);
    }
    char host[256];
    uint16_t port;
    if (resp_client_parse_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(why, sizeof(why), "bad value '%s' for --addr (want HOST:PORT)",
                 addr);
        return cli_usage_error(v->cmd, why);
    }

    struct resp_client_reply *r = exchange(v, host, port, n, args, lens);
    if (r == NULL) {
        return CLI_EXIT_FAIL;
    }
    print_reply(r, 0);
    int code = r->type == RESP_CLIENT_ERROR ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    resp_client_reply_free(r);
    return fflush(stdout) == 0 ? code : CLI_EXIT_FAIL;
}

/* The five entries: each a verb and its arity. */

static int run_get(int argc, char **argv)
{
    static const struct client_verb v = {&cli_cmd_get, "GET", 1, 1, 0};
    return run_verb(&v, argc, argv);
}

static int run_set(int argc, char **argv)
{
    static const struct client_verb v = {&cli_cmd_set, "SET", 2, 2, 1};
    return run_verb(&v, argc, argv);
}

static int run_del(int argc, char **argv)
{
    static const struct client_verb v = {&cli_cmd_del, "DEL", 1,
                                         RESP_CLIENT_MAX_ARGS - 3, 1};
    return run_verb(&v, argc, argv);
}

static int run_incr(int argc, char **argv)
{
    static const struct client_verb v = {&cli_cmd_incr, "INCR", 1, 1, 1};
    return run_verb(&v, argc, argv);
}

static int run_append(int argc, char **argv)
{
    static const struct client_verb v = {&cli_cmd_append, "APPEND", 2, 2, 1};
    return run_verb(&v, argc, argv);
}

const struct cli_command cli_cmd_get = {
    .name = "get",
    .summary = "print a key's value, or (nil) (linearizable, any node)",
    .usage = "sampan get KEY [--addr HOST:PORT]",
    .run = run_get,
};

const struct cli_command cli_cmd_set = {
    .name = "set",
    .summary = "set a key (exactly-once; OK once replicated)",
    .usage = "sampan set KEY VALUE [--addr HOST:PORT]",
    .run = run_set,
};

const struct cli_command cli_cmd_del = {
    .name = "del",
    .summary = "delete keys; prints how many existed",
    .usage = "sampan del KEY... [--addr HOST:PORT]",
    .run = run_del,
};

const struct cli_command cli_cmd_incr = {
    .name = "incr",
    .summary = "add 1 to an integer key; prints the new value",
    .usage = "sampan incr KEY [--addr HOST:PORT]",
    .run = run_incr,
};

const struct cli_command cli_cmd_append = {
    .name = "append",
    .summary = "append to a key's value; prints the new length",
    .usage = "sampan append KEY VALUE [--addr HOST:PORT]",
    .run = run_append,
};
