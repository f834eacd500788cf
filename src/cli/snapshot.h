/* cli/snapshot.h: the pieces of `sampan snapshot` (cmd_snapshot.c: the
 * command, status, reading and verifying a backup file; snapshot_save.c;
 * snapshot_restore.c). */
#ifndef SAMPAN_CLI_SNAPSHOT_H
#define SAMPAN_CLI_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/backup_format.h"

/* The subcommands; argv[0] is the verb ("save", ...). Each returns a
 * CLI_EXIT_* code after printing what it did or why it failed. */
int snapshot_save(int argc, char **argv);
int snapshot_restore(int argc, char **argv);

/* Reads the backup file at `path` and verifies all of it: header, exact
 * size, configuration, checksum. With data != NULL the state is kept in
 * *data (malloc'd, owned by the caller; NULL when empty), else it is only
 * streamed through the checksum. Returns 0, or a SAMPAN_E* code with a
 * message naming what was wrong in err (the caller names the file). */
int backup_file_read(const char *path, struct backup_info *bi, uint8_t **data,
                     char *err, size_t errlen);

/* "1 (127.0.0.1:17379), 2 (...)": the voters and learners of conf, with
 * their addresses when recorded. */
void backup_print_members(FILE *out, const struct sampan_membership *conf);

#endif
