/* cli/cmd_snapshot.c: `sampan snapshot save|restore|status`: backups of a
 * live cluster and new clusters seeded from them (docs/operations.md,
 * "Backup and restore"). This file owns the command entry, `status`, and
 * reading and verifying a backup file, which status and restore share;
 * save and restore live in snapshot_save.c and snapshot_restore.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/snapshot.h"
#include "codec/crc32c.h"
#include "codec/le.h"

/* Bytes read at once while checksumming a file. */
#define BACKUP_READ_CHUNK (1u << 20)

/* Reads exactly len bytes at off; a short file is SAMPAN_ECORRUPT (it
 * shrank after we measured it). */
static int read_at(int fd, uint64_t off, uint8_t *buf, size_t len, char *err,
                   size_t errlen)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "cannot read at offset %" PRIu64 ": %s", off,
                     n == 0 ? "the file ended early (did it change?)"
                            : strerror(errno));
            return n == 0 ? SAMPAN_ECORRUPT : SAMPAN_EIO;
        }
        buf += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* The header, measured against the file's size before any length in it is
 * trusted. */
static int read_header(int fd, uint64_t size, struct backup_info *bi,
                       uint32_t *crc, char *err, size_t errlen)
{
    uint8_t hdr[BACKUP_HEADER_MAX];
    size_t have = size < sizeof(hdr) ? (size_t)size : sizeof(hdr);
    int rv = read_at(fd, 0, hdr, have, err, errlen);
    if (rv == 0) {
        rv = backup_fixed_decode(hdr, have, bi, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    rv = backup_check_size(bi, size, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = backup_header_decode(hdr, have, bi, err, errlen);
    if (rv == 0) {
        *crc = crc32c(0, hdr, (size_t)bi->data_off);
    }
    return rv;
}

/* The state (into buf when given, else through a scratch buffer), then
 * the checksum. */
static int read_body(int fd, const struct backup_info *bi, uint8_t *buf,
                     uint32_t crc, char *err, size_t errlen)
{
    uint8_t *scratch = NULL;
    if (buf == NULL && bi->data_len > 0) {
        scratch = malloc(BACKUP_READ_CHUNK);
        if (scratch == NULL) {
            snprintf(err, errlen, "out of memory");
            return SAMPAN_ENOMEM;
        }
    }
    int rv = 0;
    for (uint64_t done = 0; rv == 0 && done < bi->data_len;) {
        uint64_t left = bi->data_len - done;
        size_t n = left < BACKUP_READ_CHUNK ? (size_t)left : BACKUP_READ_CHUNK;
        uint8_t *p = buf != NULL ? buf + done : scratch;
        rv = read_at(fd, bi->data_off + done, p, n, err, errlen);
        if (rv == 0) {
            crc = crc32c(crc, p, n);
            done += n;
        }
    }
    free(scratch);
    uint8_t trailer[BACKUP_TRAILER_BYTES];
    if (rv == 0) {
        rv = read_at(fd, bi->data_off + bi->data_len, trailer, sizeof(trailer),
                     err, errlen);
    }
    if (rv == 0) {
        rv = backup_check_crc(get32(trailer), crc, err, errlen);
    }
    return rv;
}

int backup_file_read(const char *path, struct backup_info *bi, uint8_t **data,
                     char *err, size_t errlen)
{
    if (data != NULL) {
        *data = NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open: %s", strerror(e));
        return e == ENOENT ? SAMPAN_ENOENT : SAMPAN_EIO;
    }
    struct stat st;
    int rv = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        rv = SAMPAN_EIO;
    }
    uint32_t crc = 0;
    if (rv == 0) {
        rv = read_header(fd, (uint64_t)st.st_size, bi, &crc, err, errlen);
    }
    uint8_t *buf = NULL;
    if (rv == 0 && data != NULL && bi->data_len > 0) {
        /* The size was checked against the file: this is real data. */
        buf = bi->data_len <= SIZE_MAX ? malloc((size_t)bi->data_len) : NULL;
        if (buf == NULL) {
            snprintf(err, errlen, "out of memory for %" PRIu64 " bytes",
                     bi->data_len);
            rv = SAMPAN_ENOMEM;
        }
    }
    if (rv == 0) {
        rv = read_body(fd, bi, buf, crc, err, errlen);
    }
    close(fd);
    if (rv != 0 || data == NULL) {
        free(buf);
        return rv;
    }
    *data = buf;
    return 0;
}

static void print_ids(FILE *out, const struct sampan_membership *conf,
                      const uint64_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *addr = sampan_membership_addr(conf, ids[i]);
        fprintf(out, "%s%" PRIu64, i ? ", " : "", ids[i]);
        if (addr != NULL) {
            fprintf(out, " (%s)", addr);
        }
    }
}

void backup_print_members(FILE *out, const struct sampan_membership *conf)
{
    fprintf(out, "voters ");
    print_ids(out, conf, conf->voters, conf->n_voters);
    if (conf->n_outgoing > 0) {
        fprintf(out, "; outgoing voters (joint) ");
        print_ids(out, conf, conf->outgoing, conf->n_outgoing);
    }
    if (conf->n_learners > 0) {
        fprintf(out, "; learners ");
        print_ids(out, conf, conf->learners, conf->n_learners);
    }
}

static int snapshot_status(int argc, char **argv)
{
    if (argc != 2) {
        return cli_usage_error(&cli_cmd_snapshot,
                               argc < 2 ? "snapshot status: missing FILE"
                                        : "snapshot status: one FILE only");
    }
    const char *path = argv[1];
    struct backup_info bi;
    char err[512];
    if (backup_file_read(path, &bi, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "sampan: snapshot status: %s: %s\n", path, err);
        return CLI_EXIT_FAIL;
    }
    printf("%s: sampan backup, format version %" PRIu32 ", checksum ok\n", path,
           bi.version);
    printf("index:   %" PRIu64 "\nterm:    %" PRIu64 "\nkeys:    %" PRIu64
           "\nmembers: ",
           bi.index, bi.term, bi.keys);
    backup_print_members(stdout, &bi.conf);
    printf("\nsize:    %" PRIu64 " bytes (state %" PRIu64
           " bytes, configuration %" PRIu32 " bytes)\n",
           bi.file_bytes, bi.data_len, bi.conf_len);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int snapshot_run(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error(&cli_cmd_snapshot,
                               "snapshot: missing subcommand (save, restore "
                               "or status)");
    }
    if (cli_is_help_flag(argv[1])) {
        cli_print_command_usage(stdout, &cli_cmd_snapshot);
        return CLI_EXIT_OK;
    }
    for (int i = 2; i < argc; i++) {
        if (cli_is_help_flag(argv[i])) {
            cli_print_command_usage(stdout, &cli_cmd_snapshot);
            return CLI_EXIT_OK;
        }
    }
    const char *verb = argv[1];
    if (strcmp(verb, "save") == 0) {
        return snapshot_save(argc - 1, argv + 1);
    }
    if (strcmp(verb, "restore") == 0) {
        return snapshot_restore(argc - 1, argv + 1);
    }
    if (strcmp(verb, "status") == 0) {
        return snapshot_status(argc - 1, argv + 1);
    }
    char why[256];
    snprintf(why, sizeof(why),
             "snapshot: unknown subcommand '%s' (expected save, restore or "
             "status)",
             verb);
    return cli_usage_error(&cli_cmd_snapshot, why);
}

const struct cli_command cli_cmd_snapshot = {
    .name = "snapshot",
    .summary = "back up a live cluster to a file; seed a new cluster from it",
    .usage = "sampan snapshot save FILE [--addr HOST:PORT]\n"
             "sampan snapshot restore FILE --data-dir DIR --id N\n"
             "      --peers 1=HOST:PORT,2=...\n"
             "sampan snapshot status FILE",
    .run = snapshot_run,
};
