/* cli/cmd_member.c: `sampan member list|add|promote|demote|remove` and
 * `sampan transfer-leader`: the operator's membership commands, sent to any
 * node over RESP (MEMBER ..., TRANSFERLEADER ...; docs/protocol.md). A
 * follower hands the request to the leader through the log; the node
 * answers once the new configuration is committed (or the new leader
 * leads). BUSY (another change in progress) and TRYAGAIN (no leader) are
 * retried for up to 10 s. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/resp_client.h"

#define MEMBER_DEFAULT_ADDR "127.0.0.1:7379"
/* Above the server's request timeout (5 s), so its TIMEOUT comes first. */
#define MEMBER_TIMEOUT_MS 10000
#define MEMBER_RETRY_MS 10000

static int valid_id(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return *s >= '1' && *s <= '9' && *end == '\0' && v <= UINT32_MAX;
}

/* Sends argv to addr; prints the outcome. Returns a CLI exit code. */
static int send_and_report(const char *name, const char *addr, size_t argc,
                           const char *const *argv, int list)
{
    char err[512];
    struct resp_client_reply *r = NULL;
    if (resp_client_call(addr, argc, argv, MEMBER_TIMEOUT_MS, MEMBER_RETRY_MS,
                         &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "sampan: %s: %s\n", name, err);
        return CLI_EXIT_FAIL;
    }
    int rc = CLI_EXIT_OK;
    if (r->type == RESP_CLIENT_ERROR) {
        fprintf(stderr, "sampan: %s: %s answered: %s\n", name, addr, r->str);
        rc = CLI_EXIT_FAIL;
    } else if (list && r->type == RESP_CLIENT_ARRAY) {
        for (size_t i = 0; i < r->n; i++) {
            if (r->elems[i].type == RESP_CLIENT_BULK) {
                printf("%s\n", r->elems[i].str);
            }
        }
    } else if (r->type == RESP_CLIENT_SIMPLE) {
        printf("%s\n", r->str);
    } else {
        fprintf(stderr, "sampan: %s: unexpected reply from %s\n", name, addr);
        rc = CLI_EXIT_FAIL;
    }
    resp_client_reply_free(r);
    return rc;
}

/* Handles -h/--help and pulls "--addr HOST:PORT" out of argv (compacting
 * it) into *addr. Returns -1 to go on, else the exit code to return. */
static int take_flags(const struct cli_command *cmd, int *argc, char **argv,
                      const char **addr)
{
    *addr = MEMBER_DEFAULT_ADDR;
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        if (i > 0 && cli_is_help_flag(argv[i])) {
            cli_print_command_usage(stdout, cmd);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--addr") == 0) {
            if (i + 1 >= *argc) {
                return cli_usage_error(cmd, "--addr needs HOST:PORT");
            }
            *addr = argv[++i];
            continue;
        }
        argv[n++] = argv[i];
    }
    *argc = n;
    return -1;
}

static int run_member(int argc, char **argv)
{
    const struct cli_command *cmd = &cli_cmd_member;
    const char *addr;
    int rc = take_flags(cmd, &argc, argv, &addr);
    if (rc >= 0) {
        return rc;
    }
    if (argc < 2) {
        return cli_usage_error(cmd, "member: which subcommand?");
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0 && argc == 2) {
        const char *args[] = {"MEMBER", "LIST"};
        return send_and_report("member list", addr, 2, args, 1);
    }
    if (argc < 3 || !valid_id(argv[2])) {
        return cli_usage_error(cmd, "member: expected a member id (1..2^32-1)");
    }
    if (strcmp(sub, "add") == 0 && (argc == 4 || argc == 5)) {
        int learner = argc == 5;
        if (learner && strcmp(argv[4], "--learner") != 0) {
            return cli_usage_error(cmd, "member add: unknown flag");
        }
        const char *args[] = {"MEMBER", "ADD", argv[2], argv[3], "LEARNER"};
        return send_and_report("member add", addr, learner ? 5 : 4, args, 0);
    }
    const char *verb = strcmp(sub, "promote") == 0  ? "PROMOTE"
                       : strcmp(sub, "demote") == 0 ? "DEMOTE"
                       : strcmp(sub, "remove") == 0 ? "REMOVE"
                                                    : NULL;
    if (verb == NULL || argc != 3) {
        return cli_usage_error(cmd, "member: unknown subcommand or arguments");
    }
    const char *args[] = {"MEMBER", verb, argv[2]};
    return send_and_report("member", addr, 3, args, 0);
}

const struct cli_command cli_cmd_member = {
    .name = "member",
    .summary = "list or change the cluster's members",
    .usage = "sampan member list [--addr HOST:PORT]\n"
             "sampan member add ID PEER-HOST:PORT [--learner] [--addr ...]\n"
             "sampan member promote|demote|remove ID [--addr HOST:PORT]",
    .run = run_member,
};

static int run_transfer(int argc, char **argv)
{
    const struct cli_command *cmd = &cli_cmd_transfer_leader;
    const char *addr;
    int rc = take_flags(cmd, &argc, argv, &addr);
    if (rc >= 0) {
        return rc;
    }
    if (argc != 2 || !valid_id(argv[1])) {
        return cli_usage_error(cmd, "transfer-leader: expected one voter id");
    }
    const char *args[] = {"TRANSFERLEADER", argv[1]};
    return send_and_report("transfer-leader", addr, 2, args, 0);
}

const struct cli_command cli_cmd_transfer_leader = {
    .name = "transfer-leader",
    .summary = "hand leadership to another voter",
    .usage = "sampan transfer-leader ID [--addr HOST:PORT]",
    .run = run_transfer,
};
