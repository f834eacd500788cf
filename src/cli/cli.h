/* cli/cli.h: what every `sampan` subcommand shares: the command table entry,
 * exit codes, and the usage-error helper. A new subcommand is one file
 * defining a `cli_cmd_<name>` entry plus one line in commands.c. */
#ifndef SAMPAN_CLI_CLI_H
#define SAMPAN_CLI_CLI_H

#include <stdio.h>

/* Exit codes, the same for every subcommand so scripts can tell a broken
 * invocation (fix the command line) from a failed operation. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,  /* the operation ran and failed (corrupt, I/O...) */
    CLI_EXIT_USAGE = 2, /* the command line was wrong                      */
};

struct cli_command {
    const char *name;    /* first word after `sampan`                     */
    const char *summary; /* one line for `sampan help`                    */
    const char *usage;   /* full usage text, lines without "usage: "       */
    /* argv[0] is the subcommand's own name; returns a CLI_EXIT_* code. */
    int (*run)(int argc, char **argv);
};

/* The table, in the order `sampan help` lists it; *n gets its length.
 * Static, read-only data. */
const struct cli_command *const *cli_commands(size_t *n);
const struct cli_command *cli_command_find(const char *name);

/* Prints the top-level usage (every command's usage lines) to `out`. */
void cli_print_usage(FILE *out);

/* Prints one command's usage lines ("usage: ..." then aligned). */
void cli_print_command_usage(FILE *out, const struct cli_command *cmd);

/* Reports a usage error: "sampan: <why>" then the usage of `cmd` (or the
 * top-level usage when cmd is NULL) on stderr. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *why);

/* True for -h / --help. */
int cli_is_help_flag(const char *arg);

/* The table entries, each defined in its own cmd_<name>.c. */
extern const struct cli_command cli_cmd_help;
extern const struct cli_command cli_cmd_version;
extern const struct cli_command cli_cmd_storage;
extern const struct cli_command cli_cmd_serve;
extern const struct cli_command cli_cmd_cluster;
extern const struct cli_command cli_cmd_status;
extern const struct cli_command cli_cmd_snapshot; /* save, restore, status */
/* cmd_member.c: member, transfer-leader. */
extern const struct cli_command cli_cmd_member, cli_cmd_transfer_leader;
/* cmd_client.c: get, set, del, incr, append. */
extern const struct cli_command cli_cmd_get, cli_cmd_set, cli_cmd_del,
    cli_cmd_incr, cli_cmd_append;

#endif
