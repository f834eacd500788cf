/* sampan/storage.h: durable Raft state on a sampan_vfs: term and vote, the
 * log (a write-ahead log in segments), and snapshots. Byte-level format in
 * docs/disk-format.md. The rules it keeps:
 *
 * - A batch of entries is one write plus one fdatasync. Replacing a
 *   conflicting suffix is just appending entries at lower indexes: on
 *   replay, a record at index i discards every entry from i on (so the
 *   truncation is exactly as durable as the entries that replace it).
 * - Term and vote live in two alternating checksummed files; a torn write
 *   of one leaves the other, older, valid.
 * - Snapshots are written to a temporary file, fsynced, renamed, and the
 *   directory fsynced. Each WAL segment header names the entry before its
 *   first record (prev index and term); installing a received snapshot
 *   starts a new segment whose prev is the snapshot's last entry. On
 *   recovery, log entries after the newest snapshot are kept only if the
 *   log agrees with the snapshot's last entry (Log Matching); otherwise the
 *   snapshot replaced them.
 * - Recovery truncates a torn tail of the newest segment (a last batch that
 *   fails its checksum and holds an all-zero sector, as a write cut short
 *   by a crash does; it was never acknowledged). Anything else that fails
 *   a check (a bad checksum followed by valid data or without a zero sector,
 *   a missing segment, a snapshot failing its checksum) is refused with
 *   SAMPAN_ECORRUPT and a message naming the file, offset and index.
 *
 * Ownership: the storage borrows the vfs (which must outlive it) and copies
 * what it is given; what it returns is described at each function. */
#ifndef SAMPAN_STORAGE_H
#define SAMPAN_STORAGE_H

#include "sampan/raft.h"
#include "sampan/vfs.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sampan_storage_config {
    uint64_t segment_bytes;  /* preallocated size of a WAL segment        */
    uint32_t keep_snapshots; /* older snapshots kept besides the newest  */
};

/* Defaults: 64 MiB segments, 1 older snapshot kept. */
void sampan_storage_config_default(struct sampan_storage_config *cfg);

/* What recovery found. Owned by the storage and valid until
 * sampan_storage_drop_recovered() or sampan_storage_close(). */
struct sampan_storage_state {
    struct sampan_hard_state hard_state;
    struct sampan_snapshot_meta snapshot; /* index 0: no snapshot         */
    uint64_t snapshot_bytes;              /* size of the snapshot's data  */
    size_t n_entries; /* the log after snapshot.index, consecutive        */
    const struct sampan_entry *entries;
    /* For operators: what recovery repaired, e.g. "wal-...: truncated a
     * torn tail of 1024 bytes at offset 8192 (index 57 on)"; "" if none. */
    char repaired[256];
};

struct sampan_storage;

/* Opens the storage in vfs, recovering its state into *state. A fresh
 * directory is initialized empty. On success *out is owned by the caller
 * (sampan_storage_close). Errors: SAMPAN_ECORRUPT (err names file, offset
 * and index), SAMPAN_EIO, SAMPAN_ENOSPC, SAMPAN_ENOMEM. */
int sampan_storage_open(const struct sampan_vfs *vfs,
                        const struct sampan_storage_config *cfg,
                        struct sampan_storage **out,
                        struct sampan_storage_state *state, char *err,
                        size_t errlen);

/* Frees the recovered entries once the core has copied them. */
void sampan_storage_drop_recovered(struct sampan_storage *st);

void sampan_storage_close(struct sampan_storage *st);

/* The durable part of one Ready, all pointers borrowed for the call. */
struct sampan_storage_batch {
    const struct sampan_hard_state *hard_state; /* NULL: unchanged        */
    size_t n_chunks;                            /* received snapshot bytes */
    const struct sampan_snapshot_chunk *chunks;
    /* Non-NULL: the received snapshot is complete; make it the base of the
     * log (every log entry is dropped). */
    const struct sampan_snapshot_meta *install;
    size_t n_entries; /* entries to append (see the suffix rule above)  */
    const struct sampan_entry *entries;
};

/* Makes a batch durable, in order: chunks, install, hard state, entries;
 * returns only once all of it is synced. Any error is fatal for the node
 * (fail-stop: never retry a failed fsync). Errors: SAMPAN_EIO,
 * SAMPAN_ENOSPC, SAMPAN_EINVAL (entries not consecutive, an install whose
 * chunks were not all received or whose configuration fails
 * sampan_membership_validate), SAMPAN_ENOMEM. */
int sampan_storage_persist(struct sampan_storage *st,
                           const struct sampan_storage_batch *b);

/* Saves a snapshot the application made of its state at meta->index (which
 * must be in the log or the current snapshot), then removes WAL segments
 * wholly before it and snapshots beyond keep_snapshots. `data` borrowed.
 * The file keeps meta->conf whole (docs/disk-format.md); a configuration
 * failing sampan_membership_validate is SAMPAN_EINVAL, here and at
 * sampan_storage_snapshot_create, before any file is written. */
int sampan_storage_save_snapshot(struct sampan_storage *st,
                                 const struct sampan_snapshot_meta *meta,
                                 const void *data, size_t len);

/* Writing a snapshot in pieces, possibly on another thread, so a large
 * state machine never stalls the node's loop:
 *   create (node's thread): opens a temporary file for meta's snapshot;
 *   append, finish (any one thread at a time): stream the data, then write
 *     the header and fsync; they touch only the writer's own file;
 *   commit (node's thread): renames it into place, fsyncs the directory and
 *     removes what it makes obsolete, like sampan_storage_save_snapshot;
 *   discard (any thread): gives up, removing the temporary file.
 * The writer is owned by the caller until commit or discard frees it. The
 * vfs must be safe to use from two threads (the POSIX one is). */
struct sampan_snapshot_writer;
int sampan_storage_snapshot_create(struct sampan_storage *st,
                                   const struct sampan_snapshot_meta *meta,
                                   struct sampan_snapshot_writer **out);
int sampan_snapshot_writer_append(struct sampan_snapshot_writer *w,
                                  const void *data, size_t len);
int sampan_snapshot_writer_finish(struct sampan_snapshot_writer *w);
int sampan_storage_snapshot_commit(struct sampan_storage *st,
                                   struct sampan_snapshot_writer *w);
void sampan_snapshot_writer_discard(struct sampan_snapshot_writer *w);

/* Loads the newest snapshot: *data is malloc'd and owned by the caller
 * (NULL when len is 0). SAMPAN_ENOENT when there is none. */
int sampan_storage_load_snapshot(struct sampan_storage *st,
                                 struct sampan_snapshot_meta *meta, void **data,
                                 size_t *len);

/* Reads up to len bytes at off of the data of snapshot `index` (to send it
 * in chunks); *total is its size. SAMPAN_ENOENT when it is gone. */
int sampan_storage_read_snapshot(struct sampan_storage *st, uint64_t index,
                                 uint64_t off, void *buf, size_t len,
                                 size_t *got, uint64_t *total);

/* Read-only verification for operators (`sampan storage check|dump`):
 * checks every file without changing anything and emits human-readable
 * lines through emit(arg, line): the hard state, snapshots, segments and
 * their index ranges, and with `dump` every record. Returns 0, or
 * SAMPAN_ECORRUPT with err naming file, offset and index. */
int sampan_storage_inspect(const struct sampan_vfs *vfs, bool dump,
                           void (*emit)(void *arg, const char *line), void *arg,
                           char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
