/* cli/commands.c: the table of `sampan` subcommands, lookup by name, and the
 * usage text built from it. Adding a subcommand (serve, cluster, status,
 * get/set, member, snapshot...) means one new cmd_<name>.c, its extern in
 * cli.h, and one line in the table below. */
#include <string.h>

#include "cli/cli.h"

const struct cli_command *const *cli_commands(size_t *n)
{
    /* Read-only data (each entry lives in its own file), so this is no
     * mutable state outside main(). */
    static const struct cli_command *const table[] = {
        &cli_cmd_serve,   &cli_cmd_cluster,
        &cli_cmd_status,  &cli_cmd_get,
        &cli_cmd_set,     &cli_cmd_del,
        &cli_cmd_incr,    &cli_cmd_append,
        &cli_cmd_member,  &cli_cmd_transfer_leader,
        &cli_cmd_storage, &cli_cmd_snapshot,
        &cli_cmd_version, &cli_cmd_help,
    };
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

const struct cli_command *cli_command_find(const char *name)
{
    size_t n;
    const struct cli_command *const *cmds = cli_commands(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmds[i]->name, name) == 0) {
            return cmds[i];
        }
    }
    return NULL;
}

/* Prints each line of `usage` behind the right prefix: "usage: " for the
 * first line ever printed, aligned spaces after. */
static void print_usage_lines(FILE *out, const char *usage, int *first)
{
    const char *p = usage;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        fprintf(out, "%s%.*s\n", *first ? "usage: " : "       ", (int)len, p);
        *first = 0;
        p += len;
        if (*p == '\n') {
            p++;
        }
    }
}

void cli_print_usage(FILE *out)
{
    size_t n;
    const struct cli_command *const *cmds = cli_commands(&n);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        print_usage_lines(out, cmds[i]->usage, &first);
    }
    fprintf(out, "\ncommands:\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  %-10s %s\n", cmds[i]->name, cmds[i]->summary);
    }
}

void cli_print_command_usage(FILE *out, const struct cli_command *cmd)
{
    int first = 1;
    print_usage_lines(out, cmd->usage, &first);
}

int cli_usage_error(const struct cli_command *cmd, const char *why)
{
    fprintf(stderr, "sampan: %s\n", why);
    if (cmd != NULL) {
        cli_print_command_usage(stderr, cmd);
    } else {
        cli_print_usage(stderr);
    }
    fprintf(stderr, "(run 'sampan help' for details)\n");
    return CLI_EXIT_USAGE;
}

int cli_is_help_flag(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}
