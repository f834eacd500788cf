/* cli/cmd_version.c: `sampan version`. The version string comes from the
 * build (CMake defines SAMPAN_VERSION from one place). */
#include <stdio.h>

#include "cli/cli.h"

#ifndef SAMPAN_VERSION
#error "SAMPAN_VERSION must be defined by the build (see CMakeLists.txt)"
#endif

static int version_run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        return cli_usage_error(&cli_cmd_version, "version takes no arguments");
    }
    printf("sampan %s\n", SAMPAN_VERSION);
    return CLI_EXIT_OK;
}

const struct cli_command cli_cmd_version = {
    .name = "version",
    .summary = "print the version",
    .usage = "sampan version",
    .run = version_run,
};
