/* cli/cmd_storage.c: `sampan storage check|dump DIR`: read-only
 * verification of a data directory for operators. Opens DIR through the
 * POSIX vfs in read-only mode (no lock taken, so it works beside a running
 * node, and nothing is repaired or written) and prints what
 * sampan_storage_inspect() reports: hard state, snapshots, segments, and
 * with `dump` every record. Exit 0 healthy, 1 corrupt or unreadable, 2 bad
 * command line. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "sampan/storage.h"
#include "sampan/vfs.h"

/* emit() callback of sampan_storage_inspect: one line to stdout. */
static void storage_emit(void *arg, const char *line)
{
    FILE *out = arg;
    fprintf(out, "%s\n", line);
}

static int storage_inspect_dir(const char *verb, const char *dir, bool dump)
{
    char err[512] = "";
    struct sampan_vfs vfs;
    int rc = sampan_vfs_posix_open(dir, false, true, &vfs, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "sampan: storage %s: cannot open %s: %s\n", verb, dir,
                err[0] != '\0' ? err : sampan_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    /* Flush our lines before any error so stdout and stderr interleave in
     * the order things were found when both go to a terminal. */
    rc = sampan_storage_inspect(&vfs, dump, storage_emit, stdout, err,
                                sizeof(err));
    fflush(stdout);
    sampan_vfs_posix_close(&vfs);
    if (rc != 0) {
        fprintf(stderr, "sampan: storage %s failed: %s\n", verb,
                err[0] != '\0' ? err : sampan_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int storage_run(int argc, char **argv)
{
    if (argc >= 2 && cli_is_help_flag(argv[1])) {
        cli_print_command_usage(stdout, &cli_cmd_storage);
        return CLI_EXIT_OK;
    }
    if (argc < 2) {
        return cli_usage_error(&cli_cmd_storage,
                               "storage: missing subcommand (check or dump)");
    }
    const char *verb = argv[1];
    bool dump;
    if (strcmp(verb, "check") == 0) {
        dump = false;
    } else if (strcmp(verb, "dump") == 0) {
        dump = true;
    } else {
        char why[256];
        snprintf(why, sizeof(why),
                 "storage: unknown subcommand '%s' (expected check or dump)",
                 verb);
        return cli_usage_error(&cli_cmd_storage, why);
    }
    char why[256];
    if (argc < 3) {
        snprintf(why, sizeof(why), "storage %s: missing data directory DIR",
                 verb);
        return cli_usage_error(&cli_cmd_storage, why);
    }
    if (argc > 3) {
        snprintf(why, sizeof(why),
                 "storage %s: unexpected argument '%s' after DIR", verb,
                 argv[3]);
        return cli_usage_error(&cli_cmd_storage, why);
    }
    return storage_inspect_dir(verb, argv[2], dump);
}

const struct cli_command cli_cmd_storage = {
    .name = "storage",
    .summary = "verify (check) or print (dump) a data directory, read-only",
    .usage = "sampan storage check DIR\n"
             "sampan storage dump DIR",
    .run = storage_run,
};
