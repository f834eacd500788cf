/* cli/main.c: the `sampan` binary's entry point: picks the subcommand from
 * the table in commands.c and hands it the remaining arguments.
 *
 *   sampan storage check DIR    verify a data directory (read-only)
 *   sampan storage dump DIR     the same, printing every record
 *   sampan version              print the version
 *   sampan help | --help | -h   usage
 *
 * Exit codes: 0 success, 1 the operation failed, 2 usage error. */
#include <stdio.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error(NULL, "missing command");
    }
    const char *name = argv[1];
    if (cli_is_help_flag(name)) {
        name = "help";
    }
    const struct cli_command *cmd = cli_command_find(name);
    if (cmd == NULL) {
        char why[256];
        snprintf(why, sizeof(why), "unknown command '%s'", argv[1]);
        return cli_usage_error(NULL, why);
    }
    return cmd->run(argc - 1, argv + 1);
}
