/* cli/cmd_serve.c: `sampan serve`: parses the flags into a server
 * configuration (every bad flag gets a message naming it and exit code 2)
 * and runs the node until SIGINT or SIGTERM. With no flags at all it runs
 * a one-node cluster on 127.0.0.1:7379 with ./sampan-data. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/resp_client.h"
#include "server/server.h"
#include "util/hostport.h"

/* How long --join keeps asking for a member list that names this node
 * (the node that took `member add` may be ahead of the one asked). */
#define JOIN_WAIT_MS 10000

/* One "id=N role=R addr=HOST:PORT ..." line of MEMBER LIST into a peer. */
static int parse_member_line(const char *line, struct server_peer *p)
{
    const char *id = strstr(line, "id=");
    const char *addr = strstr(line, " addr=");
    if (id != line || addr == NULL) {
        return -1;
    }
    char idbuf[24];
    char addrbuf[SAMPAN_ADDR_MAX + 8];
    size_t idlen = strcspn(id + 3, " ");
    size_t alen = strcspn(addr + 6, " ");
    if (idlen == 0 || idlen >= sizeof(idbuf) || alen >= sizeof(addrbuf)) {
        return -1;
    }
    memcpy(idbuf, id + 3, idlen);
    idbuf[idlen] = '\0';
    memcpy(addrbuf, addr + 6, alen);
    addrbuf[alen] = '\0';
    if (cli_parse_u64(idbuf, 1, UINT32_MAX, &p->id) != 0 ||
        hostport_parse(addrbuf, p->host, sizeof(p->host), &p->port) != 0) {
        return -1;
    }
    return 0;
}

/* --join: asks a member for the member list, which must already name
 * this node (`sampan member add` first), and (unless --peers gave them,
 * e.g. routes through proxies) takes the members' peer addresses from it. */
static int fetch_members(const char *addr, struct server_config *cfg,
                         bool keep_peers, char *why, size_t whylen)
{
    struct server_config given = *cfg;
    char err[256];
    for (int waited = 0;; waited += 500) {
        const char *args[] = {"MEMBER", "LIST"};
        struct resp_client_reply *r = NULL;
        if (resp_client_call(addr, 2, args, 5000, 5000, &r, err, sizeof(err)) !=
            0) {
            snprintf(why, whylen, "--join %.128s: %s", addr, err);
            return -1;
        }
        if (r->type != RESP_CLIENT_ARRAY) {
            snprintf(why, whylen, "--join %.128s: MEMBER LIST answered %.256s",
                     addr, r->type == RESP_CLIENT_ERROR ? r->str : "oddly");
            resp_client_reply_free(r);
            return -1;
        }
        cfg->n_peers = 0;
        bool self = false;
        for (size_t i = 0; i < r->n && cfg->n_peers < SAMPAN_MAX_VOTERS; i++) {
            struct server_peer *p = &cfg->peers[cfg->n_peers];
            if (r->elems[i].type == RESP_CLIENT_BULK &&
                parse_member_line(r->elems[i].str, p) == 0) {
                self |= p->id == cfg->id;
                cfg->n_peers++;
            }
        }
        resp_client_reply_free(r);
        if (self) {
            if (keep_peers) {
                memcpy(cfg->peers, given.peers, sizeof(cfg->peers));
                cfg->n_peers = given.n_peers;
            }
            return 0;
        }
        if (waited >= JOIN_WAIT_MS) {
            snprintf(why, whylen,
                     "--join %.128s: node %" PRIu64 " is not a member; add it "
                     "first: sampan member add %" PRIu64
                     " PEER-HOST:PORT --addr %.128s",
                     addr, cfg->id, cfg->id, addr);
            return -1;
        }
        struct timespec ts = {.tv_nsec = 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int run_serve(int argc, char **argv)
{
    struct server_config cfg;
    server_config_default(&cfg);
    bool peers_given = false;
    const char *join = NULL;
    char why[512];
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (cli_is_help_flag(flag)) {
            cli_print_command_usage(stdout, &cli_cmd_serve);
            return CLI_EXIT_OK;
        }
        if (v == NULL) {
            snprintf(why, sizeof(why), "%s needs a value (or is unknown)",
                     flag);
            return cli_usage_error(&cli_cmd_serve, why);
        }
        i++;
        int bad = 0;
        if (strcmp(flag, "--join") == 0) {
            join = v;
        } else if (strcmp(flag, "--id") == 0) {
            bad = cli_parse_u64(v, 1, UINT32_MAX, &cfg.id);
        } else if (strcmp(flag, "--cluster-id") == 0) {
            bad = cli_parse_u64(v, 1, UINT64_MAX, &cfg.cluster_id);
        } else if (strcmp(flag, "--data-dir") == 0) {
            bad = strlen(v) == 0 || strlen(v) >= sizeof(cfg.data_dir);
            if (!bad) {
                strcpy(cfg.data_dir, v);
            }
        } else if (strcmp(flag, "--listen") == 0) {
            bad = hostport_parse(v, cfg.listen_host, sizeof(cfg.listen_host),
                                 &cfg.listen_port);
        } else if (strcmp(flag, "--peer-listen") == 0) {
            bad = hostport_parse(v, cfg.peer_host, sizeof(cfg.peer_host),
                                 &cfg.peer_port);
        } else if (strcmp(flag, "--peers") == 0) {
            if (cli_parse_peers(v, &cfg, why, sizeof(why)) != 0) {
                return cli_usage_error(&cli_cmd_serve, why);
            }
            peers_given = true;
        } else if (strcmp(flag, "--election-ms") == 0) {
            bad = cli_parse_u64(v, 20, 60000, &n);
            cfg.election_ms = (uint32_t)n;
        } else if (strcmp(flag, "--heartbeat-ms") == 0) {
            bad = cli_parse_u64(v, 1, 10000, &n);
            cfg.heartbeat_ms = (uint32_t)n;
        } else if (strcmp(flag, "--tick-ms") == 0) {
            bad = cli_parse_u64(v, 1, 1000, &n);
            cfg.tick_ms = (uint32_t)n;
        } else if (strcmp(flag, "--snapshot-every") == 0) {
            bad = cli_parse_u64(v, 0, UINT64_MAX, &cfg.snapshot_every);
        } else if (strcmp(flag, "--request-timeout-ms") == 0) {
            bad = cli_parse_u64(v, 10, 600000, &n);
            cfg.request_timeout_ms = (uint32_t)n;
        } else if (strcmp(flag, "--max-clients") == 0) {
            bad = cli_parse_u64(v, 1, 1000000, &n);
            cfg.max_clients = (uint32_t)n;
        } else if (strcmp(flag, "--promote-lag") == 0) {
            bad = cli_parse_u64(v, 0, 1000000000, &n);
            cfg.promote_lag_entries = (uint32_t)n;
        } else if (strcmp(flag, "--write-wait-ms") == 0) {
            bad = cli_parse_u64(v, 0, 10000, &n);
            cfg.write_wait_ms = (uint32_t)n;
        } else {
            snprintf(why, sizeof(why), "unknown flag '%s'", flag);
            return cli_usage_error(&cli_cmd_serve, why);
        }
        if (bad) {
            snprintf(why, sizeof(why), "bad value '%s' for %s", v, flag);
            return cli_usage_error(&cli_cmd_serve, why);
        }
    }
    if (join != NULL) {
        if (fetch_members(join, &cfg, peers_given, why, sizeof(why)) != 0) {
            fprintf(stderr, "sampan: serve: %s\n", why);
            return CLI_EXIT_FAIL;
        }
        cfg.join = true;
    } else if (!peers_given) {
        /* The embedded default: a cluster of this node alone. */
        cfg.n_peers = 1;
        cfg.peers[0].id = cfg.id;
        snprintf(cfg.peers[0].host, sizeof(cfg.peers[0].host), "%s",
                 cfg.peer_host);
        cfg.peers[0].port = cfg.peer_port;
    }
    /* A client or peer that closes its socket while the node writes to it
     * must cost that connection an EPIPE, not the whole node a SIGPIPE
     * (libuv writes without MSG_NOSIGNAL). Found by the black-box suite: a
     * killed peer's proxy connection took the other nodes down with it. */
    signal(SIGPIPE, SIG_IGN);
    return server_run(&cfg) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const struct cli_command cli_cmd_serve = {
    .name = "serve",
    .summary = "run a node (alone: a one-node cluster on 127.0.0.1:7379)",
    .usage = "sampan serve [--id N] [--data-dir DIR] [--listen HOST:PORT]\n"
             "      [--peer-listen HOST:PORT] [--peers 1=HOST:PORT,2=...]\n"
             "      [--join CLIENT-HOST:PORT] (a node added with `sampan\n"
             "       member add` joins; --peers then only says where\n"
             "       members are, else they are learned from the member)\n"
             "      [--cluster-id N] [--election-ms MS] [--heartbeat-ms MS]\n"
             "      [--tick-ms MS] [--snapshot-every N]\n"
             "      [--request-timeout-ms MS] [--max-clients N]\n"
             "      [--promote-lag ENTRIES] [--write-wait-ms MS]",
    .run = run_serve,
};
