/* cli/snapshot_restore.c: `sampan snapshot restore FILE --data-dir DIR
 * --id N --peers 1=HOST:PORT,...`: seeds a new node's data directory from
 * a backup file, like etcdutl snapshot restore. The backup is verified
 * whole (file checksum, then the key/value state decoded as the node will
 * decode it), then written through the storage API the way a follower
 * stores a snapshot received from its leader: chunks, install (the
 * snapshot becomes the base of an empty log, at the backup's index and
 * term, with the configuration --peers gives), and a hard state at the
 * backup's term. All of it goes to DIR.restoring, is checked like
 * `sampan storage check` does, and only then renamed to DIR, so DIR is
 * either absent/empty or a complete data directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/snapshot.h"
#include "kv/kv.h"
#include "sampan/storage.h"
#include "sampan/vfs.h"

/* Bytes per chunk handed to the storage (its chunk length is 32 bits). */
#define RESTORE_CHUNK (16u << 20)

struct restore {
    const char *file;
    char dir[1024];     /* DIR, without trailing slashes */
    char staging[1040]; /* DIR.restoring                 */
    uint64_t id;
    struct server_config peers;
    struct backup_info bi;
    uint8_t *data; /* the state, owned */
    struct sampan_snapshot_meta meta;
    char err[4096];
};

/* 0 when DIR is missing or an empty directory; -1 (err) otherwise. */
static int check_target(struct restore *rs)
{
    DIR *d = opendir(rs->dir);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(rs->err, sizeof(rs->err), "%s: %s", rs->dir,
                 errno == ENOTDIR ? "exists and is not a directory"
                                  : strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rv = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(rs->err, sizeof(rs->err),
                     "%s is not empty (it holds %s): restore only seeds a "
                     "new node's data directory",
                     rs->dir, e->d_name);
            rv = -1;
            break;
        }
    }
    closedir(d);
    if (rv == 0 && access(rs->staging, F_OK) == 0) {
        snprintf(rs->err, sizeof(rs->err),
                 "%s exists (left by an interrupted restore?): remove it "
                 "first",
                 rs->staging);
        rv = -1;
    }
    return rv;
}

/* The state must decode as the node will decode it at startup, at the
 * file's index and with its key count. */
static int check_state(struct restore *rs)
{
    struct kv_config kcfg;
    kv_config_default(&kcfg);
    struct kv *kv = NULL;
    const char *why = NULL;
    int rv = kv_open(&kcfg, &kv);
    if (rv == 0) {
        rv = kv_restore(kv, rs->data, (size_t)rs->bi.data_len, &why);
    }
    if (rv != 0) {
        snprintf(rs->err, sizeof(rs->err),
                 "%s: the key/value state does not decode: %s", rs->file,
                 why != NULL ? why : sampan_strerror(rv));
    } else if (kv_applied_index(kv) != rs->bi.index ||
               kv_key_count(kv) != rs->bi.keys) {
        snprintf(rs->err, sizeof(rs->err),
                 "%s: the state is at index %" PRIu64 " with %" PRIu64
                 " keys, the header says index %" PRIu64 " with %" PRIu64
                 " keys",
                 rs->file, kv_applied_index(kv), kv_key_count(kv), rs->bi.index,
                 rs->bi.keys);
        rv = SAMPAN_ECORRUPT;
    }
    if (kv != NULL) {
        kv_close(kv);
    }
    return rv;
}

/* The new cluster's configuration: every --peers member a voter, its
 * address recorded as HOST:PORT. */
static int build_meta(struct restore *rs)
{
    struct sampan_membership *m = &rs->meta.conf;
    memset(&rs->meta, 0, sizeof(rs->meta));
    rs->meta.index = rs->bi.index;
    rs->meta.term = rs->bi.term;
    for (size_t i = 0; i < rs->peers.n_peers; i++) {
        const struct server_peer *p = &rs->peers.peers[i];
        bool v6 = strchr(p->host, ':') != NULL;
        m->voters[m->n_voters++] = p->id;
        m->addrs[m->n_addrs].id = p->id;
        size_t n = (size_t)snprintf(m->addrs[m->n_addrs].addr, SAMPAN_ADDR_MAX,
                                    v6 ? "[%s]:%u" : "%s:%u", p->host, p->port);
        if (n >= SAMPAN_ADDR_MAX) {
            snprintf(rs->err, sizeof(rs->err),
                     "--peers: the address of member %" PRIu64
                     " is too long (at most %u bytes)",
                     p->id, SAMPAN_ADDR_MAX - 1);
            return -1;
        }
        m->n_addrs++;
    }
    const char *why = NULL;
    if (sampan_membership_validate(m, &why) != 0) {
        snprintf(rs->err, sizeof(rs->err), "--peers: %s", why);
        return -1;
    }
    return 0;
}

/* The snapshot as a received one: every chunk, then install, then term. */
static int persist(struct restore *rs, struct sampan_storage *st)
{
    size_t len = (size_t)rs->bi.data_len;
    size_t n = len == 0 ? 1 : (len + RESTORE_CHUNK - 1) / RESTORE_CHUNK;
    struct sampan_snapshot_chunk *chunks = calloc(n, sizeof(*chunks));
    if (chunks == NULL) {
        return SAMPAN_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t off = i * (size_t)RESTORE_CHUNK;
        chunks[i].meta = rs->meta;
        chunks[i].offset = off;
        chunks[i].len =
            (uint32_t)(len - off < RESTORE_CHUNK ? len - off : RESTORE_CHUNK);
        chunks[i].data = chunks[i].len > 0 ? rs->data + off : NULL;
        chunks[i].done = i + 1 == n;
    }
    struct sampan_hard_state hs = {.term = rs->bi.term, .vote = SAMPAN_NONE};
    struct sampan_storage_batch b = {.hard_state = &hs,
                                     .n_chunks = n,
                                     .chunks = chunks,
                                     .install = &rs->meta};
    int rv = sampan_storage_persist(st, &b);
    free(chunks);
    return rv;
}

static void ignore_line(void *arg, const char *line)
{
    (void)arg;
    (void)line;
}

/* Creates the staging directory's storage and checks what it wrote. */
static int write_staging(struct restore *rs)
{
    char err[512] = "";
    struct sampan_vfs vfs;
    struct sampan_storage *st = NULL;
    struct sampan_storage_config scfg;
    struct sampan_storage_state state;
    sampan_storage_config_default(&scfg);
    int rv =
        sampan_vfs_posix_open(rs->staging, true, false, &vfs, err, sizeof(err));
    if (rv != 0) {
        snprintf(rs->err, sizeof(rs->err), "%s", err);
        return rv;
    }
    rv = sampan_storage_open(&vfs, &scfg, &st, &state, err, sizeof(err));
    if (rv == 0 && (state.snapshot.index != 0 || state.n_entries != 0 ||
                    state.hard_state.term != 0)) {
        snprintf(err, sizeof(err), "it is not empty");
        rv = SAMPAN_EINVAL;
    }
    if (rv == 0) {
        rv = persist(rs, st);
    }
    sampan_storage_close(st);
    sampan_vfs_posix_close(&vfs);
    if (rv == 0 && (rv = sampan_vfs_posix_open(rs->staging, false, true, &vfs,
                                               err, sizeof(err))) == 0) {
        rv = sampan_storage_inspect(&vfs, false, ignore_line, NULL, err,
                                    sizeof(err));
        sampan_vfs_posix_close(&vfs);
    }
    if (rv != 0) {
        snprintf(rs->err, sizeof(rs->err), "writing %s: %s", rs->staging,
                 err[0] != '\0' ? err : sampan_strerror(rv));
    }
    return rv;
}

/* Removes the staging directory we created (plain files only). */
static void remove_staging(const struct restore *rs)
{
    DIR *d = opendir(rs->staging);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[sizeof(rs->staging) + 256];
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", rs->staging, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(rs->staging);
}

/* DIR.restoring becomes DIR (replacing an empty DIR), durably. */
static int move_into_place(struct restore *rs)
{
    char parent[sizeof(rs->dir)];
    snprintf(parent, sizeof(parent), "%s", rs->dir);
    if (rename(rs->staging, rs->dir) != 0) {
        snprintf(rs->err, sizeof(rs->err), "renaming %s to %s: %s", rs->staging,
                 rs->dir, strerror(errno));
        return -1;
    }
    int fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(rs->err, sizeof(rs->err), "syncing the directory of %s: %s",
                 rs->dir, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return 0;
}

static int parse_args(struct restore *rs, int argc, char **argv)
{
    char why[600];
    const char *dir = NULL;
    bool have_id = false, have_peers = false;
    server_config_default(&rs->peers);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) != 0) {
            if (rs->file != NULL) {
                snprintf(why, sizeof(why), "snapshot restore: unexpected '%s'",
                         a);
                return cli_usage_error(&cli_cmd_snapshot, why);
            }
            rs->file = a;
            continue;
        }
        if (v == NULL) {
            snprintf(why, sizeof(why),
                     "snapshot restore: %s needs a value (or is unknown)", a);
            return cli_usage_error(&cli_cmd_snapshot, why);
        }
        i++;
        if (strcmp(a, "--data-dir") == 0 && v[0] != '\0') {
            dir = v;
        } else if (strcmp(a, "--id") == 0 &&
                   cli_parse_u64(v, 1, UINT32_MAX, &rs->id) == 0) {
            have_id = true;
        } else if (strcmp(a, "--peers") == 0) {
            if (cli_parse_peers(v, &rs->peers, why, sizeof(why)) != 0) {
                return cli_usage_error(&cli_cmd_snapshot, why);
            }
            have_peers = true;
        } else {
            snprintf(why, sizeof(why),
                     "snapshot restore: unknown flag '%s' or bad value '%s'", a,
                     v);
            return cli_usage_error(&cli_cmd_snapshot, why);
        }
    }
    const char *missing = rs->file == NULL ? "FILE"
                          : dir == NULL    ? "--data-dir DIR"
                          : !have_id       ? "--id N"
                          : !have_peers    ? "--peers 1=HOST:PORT,..."
                                           : NULL;
    if (missing != NULL) {
        snprintf(why, sizeof(why), "snapshot restore: missing %s", missing);
        return cli_usage_error(&cli_cmd_snapshot, why);
    }
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') {
        len--; /* "d1/" names d1: the staging directory is its sibling */
    }
    if ((size_t)snprintf(rs->dir, sizeof(rs->dir), "%.*s", (int)len, dir) >=
            sizeof(rs->dir) ||
        (size_t)snprintf(rs->staging, sizeof(rs->staging), "%s.restoring",
                         rs->dir) >= sizeof(rs->staging)) {
        return cli_usage_error(&cli_cmd_snapshot,
                               "snapshot restore: --data-dir is too long");
    }
    for (size_t i = 0; i < rs->peers.n_peers; i++) {
        if (rs->peers.peers[i].id == rs->id) {
            return CLI_EXIT_OK;
        }
    }
    snprintf(why, sizeof(why),
             "snapshot restore: node %" PRIu64 " is not among --peers", rs->id);
    return cli_usage_error(&cli_cmd_snapshot, why);
}

int snapshot_restore(int argc, char **argv)
{
    struct restore *rs = calloc(1, sizeof(*rs));
    if (rs == NULL) {
        fprintf(stderr, "sampan: snapshot restore: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    int code = parse_args(rs, argc, argv);
    if (code != CLI_EXIT_OK) {
        free(rs);
        return code;
    }
    char ferr[512];
    bool staged = false;
    int rv = check_target(rs);
    if (rv == 0 && backup_file_read(rs->file, &rs->bi, &rs->data, ferr,
                                    sizeof(ferr)) != 0) {
        snprintf(rs->err, sizeof(rs->err), "%s: %s", rs->file, ferr);
        rv = -1;
    }
    if (rv == 0) {
        rv = check_state(rs);
    }
    if (rv == 0) {
        rv = build_meta(rs);
    }
    if (rv == 0) {
        staged = true;
        rv = write_staging(rs);
    }
    if (rv == 0) {
        rv = move_into_place(rs);
    }
    if (rv != 0) {
        if (staged) {
            remove_staging(rs);
        }
        fprintf(stderr, "sampan: snapshot restore: %s\n", rs->err);
        code = CLI_EXIT_FAIL;
    } else {
        printf("restored %s into %s: index %" PRIu64 ", term %" PRIu64
               ", %" PRIu64 " keys\nnode %" PRIu64 " of a new cluster: ",
               rs->file, rs->dir, rs->bi.index, rs->bi.term, rs->bi.keys,
               rs->id);
        backup_print_members(stdout, &rs->meta.conf);
        printf("\nstart it with: sampan serve --id %" PRIu64
               " --data-dir %s --peers ... (the same --peers)\n",
               rs->id, rs->dir);
        code = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    free(rs->data);
    free(rs);
    return code;
}
