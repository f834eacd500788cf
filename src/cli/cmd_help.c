/* cli/cmd_help.c: `sampan help [COMMAND]`: the top-level usage, or one
 * command's usage. */
#include <stdio.h>

#include "cli/cli.h"

static int help_run(int argc, char **argv)
{
    if (argc > 2) {
        return cli_usage_error(&cli_cmd_help, "help takes at most one command");
    }
    if (argc == 2) {
        const struct cli_command *cmd = cli_command_find(argv[1]);
        if (cmd == NULL) {
            char why[256];
            snprintf(why, sizeof(why), "help: unknown command '%s'", argv[1]);
            return cli_usage_error(NULL, why);
        }
        printf("sampan %s: %s\n", cmd->name, cmd->summary);
        cli_print_command_usage(stdout, cmd);
        return CLI_EXIT_OK;
    }
    printf("sampan: a Raft-replicated key/value store\n\n");
    cli_print_usage(stdout);
    printf("\nexit codes: 0 success, 1 operation failed, 2 usage error\n");
    return CLI_EXIT_OK;
}

const struct cli_command cli_cmd_help = {
    .name = "help",
    .summary = "show usage (also --help, -h)",
    .usage = "sampan help [COMMAND]",
    .run = help_run,
};
