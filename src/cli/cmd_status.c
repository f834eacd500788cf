/* cli/cmd_status.c: `sampan status`: asks nodes for INFO and shows their
 * Raft state. A node only knows its own view (role, term, which leader it
 * follows, its indexes, the member ids), so with --addrs it asks every
 * listed node and prints one row each, with each node's lag behind the
 * leader. Exit 1 naming any node that could not be reached or answered
 * nonsense; the rows of the others are printed first. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/resp_client.h"

#define STATUS_DEFAULT_ADDR "127.0.0.1:7379"
#define STATUS_TIMEOUT_MS 3000 /* INFO is answered at once, without Raft */
#define STATUS_MAX_NODES 16    /* SAMPAN_MAX_VOTERS                     */

/* One node's INFO, the fields we show. */
struct node_info {
    char addr[160];
    char role[16];
    char members[256];
    uint64_t pid, id, term, leader, commit, applied, last, snapshot, keys;
    int ok; /* 0: could not be asked; err says why */
    char err[512];
};

/* The INFO fields read into a node_info; `required` ones must be there. */
struct info_field {
    const char *key;
    size_t offset; /* of a uint64_t in struct node_info */
    int required;
};

static const struct info_field info_fields[] = {
    {"process_id", offsetof(struct node_info, pid), 0},
    {"node_id", offsetof(struct node_info, id), 1},
    {"term", offsetof(struct node_info, term), 1},
    {"leader_id", offsetof(struct node_info, leader), 1},
    {"commit_index", offsetof(struct node_info, commit), 1},
    {"applied_index", offsetof(struct node_info, applied), 1},
    {"last_log_index", offsetof(struct node_info, last), 1},
    {"snapshot_index", offsetof(struct node_info, snapshot), 0},
    {"keys", offsetof(struct node_info, keys), 0},
};
#define N_INFO_FIELDS (sizeof(info_fields) / sizeof(info_fields[0]))

/* Parses INFO text ("key:value" lines, "# Section" headers, CRLF). Returns
 * 0, or -1 with ni->err naming the first missing field. */
static int parse_info(const char *text, struct node_info *ni)
{
    unsigned seen = 0; /* bit i: info_fields[i] found */
    int have_role = 0;
    const char *p = text;
    while (*p != '\0') {
        size_t len = strcspn(p, "\r\n");
        const char *colon = memchr(p, ':', len);
        if (p[0] != '#' && colon != NULL) {
            size_t klen = (size_t)(colon - p);
            const char *val = colon + 1;
            int vlen = (int)(len - klen - 1);
            if (klen == 4 && strncmp(p, "role", 4) == 0) {
                snprintf(ni->role, sizeof(ni->role), "%.*s", vlen, val);
                have_role = 1;
            } else if (klen == 7 && strncmp(p, "members", 7) == 0) {
                snprintf(ni->members, sizeof(ni->members), "%.*s", vlen, val);
            }
            for (size_t i = 0; i < N_INFO_FIELDS; i++) {
                if (strlen(info_fields[i].key) == klen &&
                    strncmp(p, info_fields[i].key, klen) == 0) {
                    uint64_t v = strtoull(val, NULL, 10);
                    memcpy((char *)ni + info_fields[i].offset, &v, sizeof(v));
                    seen |= 1u << i;
                }
            }
        }
        p += len;
        p += strspn(p, "\r\n");
    }
    if (!have_role) {
        snprintf(ni->err, sizeof(ni->err),
                 "%s: INFO has no Raft section (role missing); is it a "
                 "sampan node?",
                 ni->addr);
        return -1;
    }
    for (size_t i = 0; i < N_INFO_FIELDS; i++) {
        if (info_fields[i].required && !(seen & (1u << i))) {
            snprintf(ni->err, sizeof(ni->err), "%s: INFO lacks %s", ni->addr,
                     info_fields[i].key);
            return -1;
        }
    }
    return 0;
}

/* Connects to addr (already validated), sends INFO, parses the answer.
 * Sets ni->ok, or ni->err. */
static void fetch_info(const char *addr, struct node_info *ni)
{
    memset(ni, 0, sizeof(*ni));
    snprintf(ni->addr, sizeof(ni->addr), "%s", addr);
    char host[256];
    uint16_t port;
    struct resp_client c;
    if (resp_client_parse_addr(addr, host, sizeof(host), &port) != 0 ||
        resp_client_connect(&c, host, port, STATUS_TIMEOUT_MS, ni->err,
                            sizeof(ni->err)) != 0) {
        return;
    }
    const char *argv[] = {"INFO"};
    const size_t lens[] = {4};
    struct resp_client_reply *r = NULL;
    if (resp_client_command(&c, 1, argv, lens, &r, ni->err, sizeof(ni->err)) ==
        0) {
        if (r->type == RESP_CLIENT_BULK) {
            ni->ok = parse_info(r->str, ni) == 0;
        } else if (r->type == RESP_CLIENT_ERROR) {
            snprintf(ni->err, sizeof(ni->err), "%s answered INFO with: %s",
                     addr, r->str);
        } else {
            snprintf(ni->err, sizeof(ni->err),
                     "%s answered INFO with something other than text", addr);
        }
    }
    resp_client_reply_free(r);
    resp_client_close(&c);
}

static void print_view(const struct node_info *ni)
{
    printf("node %" PRIu64 " at %s (pid %" PRIu64 ")\n", ni->id, ni->addr,
           ni->pid);
    printf("  role        %s\n", ni->role);
    printf("  term        %" PRIu64 "\n", ni->term);
    if (ni->leader != 0) {
        printf("  leader      node %" PRIu64 "\n", ni->leader);
    } else {
        printf("  leader      none known\n");
    }
    printf("  commit      %" PRIu64 "\n", ni->commit);
    printf("  applied     %" PRIu64 "\n", ni->applied);
    printf("  last index  %" PRIu64 "\n", ni->last);
    printf("  snapshot    %" PRIu64 "\n", ni->snapshot);
    printf("  members     %s\n", ni->members);
    printf("  keys        %" PRIu64 "\n", ni->keys);
}

/* One row per node; lag = the leader's last index - the node's applied
 * index (how far its state machine trails what the leader has). */
static void print_table(const struct node_info *nodes, size_t n)
{
    const struct node_info *leader = NULL;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].ok && strcmp(nodes[i].role, "leader") == 0 &&
            (leader == NULL || nodes[i].term > leader->term)) {
            leader = &nodes[i];
        }
    }
    printf("%-22s %4s %-10s %6s %6s %8s %8s %8s %6s\n", "ADDR", "ID", "ROLE",
           "TERM", "LEADER", "COMMIT", "APPLIED", "LAST", "LAG");
    for (size_t i = 0; i < n; i++) {
        const struct node_info *ni = &nodes[i];
        if (!ni->ok) {
            printf("%-22s %4s %-10s\n", ni->addr, "-", "unreachable");
            continue;
        }
        char lag[24] = "-";
        if (leader != NULL) {
            snprintf(lag, sizeof(lag), "%" PRId64,
                     (int64_t)(leader->last - ni->applied));
        }
        printf("%-22s %4" PRIu64 " %-10s %6" PRIu64 " %6" PRIu64 " %8" PRIu64
               " %8" PRIu64 " %8" PRIu64 " %6s\n",
               ni->addr, ni->id, ni->role, ni->term, ni->leader, ni->commit,
               ni->applied, ni->last, lag);
    }
    if (leader != NULL) {
        printf("leader: node %" PRIu64 " at %s, term %" PRIu64 "\n", leader->id,
               leader->addr, leader->term);
    } else {
        printf("leader: none among the nodes reached (an election may be "
               "under way)\n");
    }
}

static int status_run(int argc, char **argv)
{
    const char *addr = STATUS_DEFAULT_ADDR;
    const char *addrs = NULL;
    int addr_given = 0;
    char why[512];
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (cli_is_help_flag(flag)) {
            cli_print_command_usage(stdout, &cli_cmd_status);
            return CLI_EXIT_OK;
        }
        if (strcmp(flag, "--addr") != 0 && strcmp(flag, "--addrs") != 0) {
            snprintf(why, sizeof(why), "status: unknown argument '%s'", flag);
            return cli_usage_error(&cli_cmd_status, why);
        }
        if (i + 1 >= argc) {
            snprintf(why, sizeof(why), "%s needs a value", flag);
            return cli_usage_error(&cli_cmd_status, why);
        }
        if (strcmp(flag, "--addr") == 0) {
            addr = argv[++i];
            addr_given = 1;
        } else {
            addrs = argv[++i];
        }
    }

    /* Validate every address before asking any node. */
    char list[STATUS_MAX_NODES][160];
    size_t n = 0;
    char host[256];
    uint16_t port;
    if (addrs != NULL) {
        const char *p = addrs;
        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            if (n == STATUS_MAX_NODES) {
                snprintf(why, sizeof(why), "--addrs: at most %d addresses",
                         STATUS_MAX_NODES);
                return cli_usage_error(&cli_cmd_status, why);
            }
            snprintf(list[n], sizeof(list[n]), "%.*s", (int)len, p);
            if (len >= sizeof(list[n]) ||
                resp_client_parse_addr(list[n], host, sizeof(host), &port)) {
                snprintf(why, sizeof(why), "--addrs: '%.*s' is not HOST:PORT",
                         (int)len, p);
                return cli_usage_error(&cli_cmd_status, why);
            }
            n++;
            p += len;
            p += *p == ',';
        }
        if (n == 0) {
            return cli_usage_error(&cli_cmd_status, "--addrs lists no nodes");
        }
    }
    if (resp_client_parse_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(why, sizeof(why), "bad value '%s' for --addr (want HOST:PORT)",
                 addr);
        return cli_usage_error(&cli_cmd_status, why);
    }

    int code = CLI_EXIT_OK;
    if (addrs == NULL || addr_given) {
        struct node_info ni;
        fetch_info(addr, &ni);
        if (!ni.ok) {
            fprintf(stderr, "sampan: status: %s\n", ni.err);
            return CLI_EXIT_FAIL;
        }
        print_view(&ni);
        if (addrs != NULL) {
            printf("\n");
        }
    }
    if (addrs != NULL) {
        struct node_info *nodes = calloc(n, sizeof(*nodes));
        if (nodes == NULL) {
            fprintf(stderr, "sampan: status: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        for (size_t i = 0; i < n; i++) {
            fetch_info(list[i], &nodes[i]);
        }
        print_table(nodes, n);
        fflush(stdout);
        for (size_t i = 0; i < n; i++) {
            if (!nodes[i].ok) {
                fprintf(stderr, "sampan: status: %s\n", nodes[i].err);
                code = CLI_EXIT_FAIL;
            }
        }
        free(nodes);
    }
    return fflush(stdout) == 0 ? code : CLI_EXIT_FAIL;
}

const struct cli_command cli_cmd_status = {
    .name = "status",
    .summary = "show a node's Raft state, or a table of several nodes",
    .usage = "sampan status [--addr HOST:PORT] [--addrs HOST:PORT,...]",
    .run = status_run,
};
