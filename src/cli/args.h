/* cli/args.h: flag values more than one subcommand parses the same way
 * (serve and snapshot restore): bounded integers and the --peers list. */
#ifndef SAMPAN_CLI_ARGS_H
#define SAMPAN_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

/* A decimal integer in [lo, hi] filling all of s (no sign, no spaces).
 * Returns 0, or -1 (out untouched). */
int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* "1=HOST:PORT,2=HOST:PORT,...": every member and how this node reaches
 * it, into cfg->peers and cfg->n_peers (ids 1..2^32-1, distinct, at most
 * SAMPAN_MAX_VOTERS). Returns 0, or -1 with the reason, naming --peers,
 * in why[0..whylen). */
int cli_parse_peers(const char *s, struct server_config *cfg, char *why,
                    size_t whylen);

#endif
