/* cli/make_datadir.c: writes a small but complete data directory through
 * the storage API (term/vote, several WAL segments, a snapshot), for the CLI
 * tests: `sampan-test-mkdata DIR`. */
#include <stdio.h>
#include <string.h>

#include "sampan/storage.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sampan-test-mkdata DIR\n");
        return 2;
    }
    char err[256];
    struct sampan_vfs vfs;
    int rv =
        sampan_vfs_posix_open(argv[1], true, false, &vfs, err, sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "mkdata: %s\n", err);
        return 1;
    }
    struct sampan_storage_config cfg;
    sampan_storage_config_default(&cfg);
    cfg.segment_bytes = 4096; /* several segments */
    struct sampan_storage *st;
    struct sampan_storage_state state;
    rv = sampan_storage_open(&vfs, &cfg, &st, &state, err, sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "mkdata: %s\n", err);
        return 1;
    }
    struct sampan_hard_state hs = {.term = 3, .vote = 2};
    uint8_t payload[300];
    memset(payload, 'p', sizeof(payload));
    for (uint64_t i = 1; i <= 40 && rv == 0; i += 4) {
        struct sampan_entry ents[4];
        for (int k = 0; k < 4; k++) {
            ents[k] = (struct sampan_entry){.term = 3,
                                            .index = i + (uint64_t)k,
                                            .type = SAMPAN_ENTRY_NORMAL,
                                            .len = sizeof(payload),
                                            .data = payload};
        }
        struct sampan_storage_batch b = {
            .hard_state = i == 1 ? &hs : NULL, .n_entries = 4, .entries = ents};
        rv = sampan_storage_persist(st, &b);
    }
    struct sampan_snapshot_meta meta = {.index = 20, .term = 3};
    meta.conf.n_voters = 3;
    for (uint32_t k = 0; k < 3; k++) {
        meta.conf.voters[k] = k + 1;
    }
    if (rv == 0) {
        rv = sampan_storage_save_snapshot(st, &meta, "state-at-20", 11);
    }
    sampan_storage_close(st);
    sampan_vfs_posix_close(&vfs);
    if (rv != 0) {
        fprintf(stderr, "mkdata: %s\n", sampan_strerror(rv));
        return 1;
    }
    return 0;
}
