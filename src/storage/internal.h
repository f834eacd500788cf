/* storage/internal.h: the storage handle and the pieces shared by its
 * files: recovery (recover.c, also used read-only by inspect), the WAL
 * writer (wal.c), snapshots (snap.c) and small I/O helpers (io.c). */
#ifndef SAMPAN_STORAGE_INTERNAL_H
#define SAMPAN_STORAGE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/storage.h"
#include "storage/format.h"

/* One WAL segment, as recovery found it or the writer made it. */
struct seg_info {
    char name[FMT_NAME_MAX];
    uint64_t seq;
    bool open;        /* named wal-<seq>.open (the one being appended to) */
    bool has_records; /* first/last are meaningful                        */
    uint64_t first;   /* index of the first record written                */
    uint64_t last;    /* index of the last record written (the log's tail
                         after replaying the segment)                     */
    uint64_t prev_index, prev_term;
    uint64_t batches;
};

struct snap_info {
    char name[FMT_NAME_MAX];
    struct sampan_snapshot_meta meta;
    uint64_t data_len;
};

/* A growable array; the helpers below keep it. */
struct seg_list {
    struct seg_info *v;
    size_t n, cap;
};

struct snap_list {
    struct snap_info *v; /* sorted by index, ascending */
    size_t n, cap;
};

struct sampan_storage {
    struct sampan_vfs vfs;
    struct sampan_storage_config cfg;

    /* Term and vote: fds of meta-a/meta-b (-1 until first used), which one
     * holds the newest valid record (-1: neither) and its seq. */
    int meta_fd[2];
    int meta_cur;
    uint64_t meta_seq;

    /* The WAL: segments by seq; the last one is being appended to when
     * wal_fd >= 0, at wal_off (a sector boundary) of wal_cap bytes. */
    struct seg_list segs;
    int wal_fd;
    uint64_t wal_off, wal_cap;
    uint64_t next_seq;
    uint64_t last_index, last_term; /* the durable log's tail */

    struct snap_list snaps;

    /* A snapshot being received: snap-recv.tmp, the bytes written so far
     * (always a prefix: chunks arrive in order) and their CRC. */
    int recv_fd;
    struct sampan_snapshot_meta recv_meta;
    uint64_t recv_len;
    uint32_t recv_crc;
    bool recv_done;

    /* What recovery found, until sampan_storage_drop_recovered(). */
    struct sampan_entry *rec;
    size_t n_rec;
};

/* Recovery: reads everything in the directory, verifies it and rebuilds
 * the log. With `repair` (open) it also removes *.tmp files and truncates
 * a torn tail; without (inspect) it changes nothing. */
struct recovery {
    const struct sampan_vfs *vfs;
    bool repair;
    bool dump;
    void (*emit)(void *arg, const char *line); /* may be NULL */
    void *emit_arg;
    char *err;
    size_t errlen;
    char repaired[256];

    /* Results, owned by the recovery until moved out. */
    bool have_meta;
    int meta_cur; /* 0: meta-a, 1: meta-b, -1: none */
    struct fmt_meta meta;
    struct snap_list snaps;
    struct seg_list segs;
    struct sampan_snapshot_meta snap; /* index 0: none */
    uint64_t snap_bytes;
    /* The log: entries base_index+1 .. base_index+n; base_term is the
     * term at base_index when base_known. */
    uint64_t base_index, base_term;
    bool base_known;
    struct sampan_entry *ents;
    size_t n, cap;
    /* The newest segment, when it can be appended to: its end of log. */
    bool tail_open;
    uint64_t tail_off, tail_size;
    /* The log disagrees with the snapshot (an install was interrupted):
     * the writer must start a segment after the snapshot. */
    bool need_new_segment;
};

int recover_run(struct recovery *r);
void recovery_free(struct recovery *r);

/* WAL writer (wal.c). */
int wal_append(struct sampan_storage *st, const struct sampan_entry *ents,
               size_t n);
/* Starts a new open segment whose prev is (prev_index, prev_term), closing
 * (renaming) the current one first when it holds records. */
int wal_start_segment(struct sampan_storage *st, uint64_t prev_index,
                      uint64_t prev_term, uint64_t min_bytes);
/* Removes, oldest first, segments before the newest one whose last record
 * index is below below_index (or all of them with all_but_newest),
 * stopping at the first one kept, so the seqs left stay consecutive; the
 * caller syncs the directory. */
int wal_remove_prefix(struct sampan_storage *st, uint64_t below_index,
                      bool all_but_newest);

/* Snapshots (snap.c). */
int snap_receive(struct sampan_storage *st,
                 const struct sampan_snapshot_chunk *c);
int snap_install(struct sampan_storage *st,
                 const struct sampan_snapshot_meta *m);
int snap_prune(struct sampan_storage *st);

/* Helpers (io.c). */
void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads a whole file into a malloc'd buffer (*buf NULL when empty). */
int io_read_file(const struct sampan_vfs *vfs, const char *name, uint8_t **buf,
                 uint64_t *len);
/* Reads exactly len bytes at off; SAMPAN_ECORRUPT when the file is short. */
int io_read_exact(const struct sampan_vfs *vfs, int fd, uint64_t off, void *buf,
                  size_t len);
int seg_list_push(struct seg_list *l, const struct seg_info *s);
int snap_list_insert(struct snap_list *l, const struct snap_info *s);

#endif
