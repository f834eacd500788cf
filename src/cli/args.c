/* cli/args.c: parsing flag values shared by subcommands (see args.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "util/hostport.h"

int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-') {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_peers(const char *s, struct server_config *cfg, char *why,
                    size_t whylen)
{
    char buf[4096];
    if (strlen(s) >= sizeof(buf)) {
        snprintf(why, whylen, "--peers is too long");
        return -1;
    }
    strcpy(buf, s);
    cfg->n_peers = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        struct server_peer *p = &cfg->peers[cfg->n_peers];
        if (cfg->n_peers == SAMPAN_MAX_VOTERS) {
            snprintf(why, whylen, "--peers: at most %u members",
                     (unsigned)SAMPAN_MAX_VOTERS);
            return -1;
        }
        if (eq == NULL) {
            snprintf(why, whylen, "--peers: '%s' is not ID=HOST:PORT", tok);
            return -1;
        }
        *eq = '\0';
        if (cli_parse_u64(tok, 1, UINT32_MAX, &p->id) ||
            hostport_parse(eq + 1, p->host, sizeof(p->host), &p->port)) {
            snprintf(why, whylen, "--peers: '%s=%s' is not ID=HOST:PORT", tok,
                     eq + 1);
            return -1;
        }
        for (size_t i = 0; i < cfg->n_peers; i++) {
            if (cfg->peers[i].id == p->id) {
                snprintf(why, whylen, "--peers: member %" PRIu64 " twice",
                         p->id);
                return -1;
            }
        }
        cfg->n_peers++;
    }
    if (cfg->n_peers == 0) {
        snprintf(why, whylen, "--peers lists no members");
        return -1;
    }
    return 0;
}
