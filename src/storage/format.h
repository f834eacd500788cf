/* storage/format.h: the on-disk byte formats of the storage layer (meta
 * sectors, WAL segment headers and batches, snapshot headers, file names),
 * as pure encode/decode functions over byte buffers. Nothing here does I/O
 * or allocates, so fuzz targets can call every decoder directly on
 * arbitrary bytes. docs/disk-format.md is the byte-by-byte description;
 * every integer is little endian.
 *
 * Decoder contract: a decoder reads at most `len` bytes of `buf` (any
 * value, any content, buf may be NULL when len is 0), never reads outside
 * them, and returns 0 with the output filled, or a negative SAMPAN_E* code
 * (SAMPAN_ECORRUPT for bytes that are not a valid record) with a short
 * static reason in *why when why is non-NULL. */
#ifndef SAMPAN_STORAGE_FORMAT_H
#define SAMPAN_STORAGE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/raft.h"

#define FMT_SECTOR 512u
#define FMT_VERSION 1u

/* Meta sector: "SAMPMETA", u32 version, u64 seq, u64 term, u64 vote, u32
 * crc32c over bytes 0..35; the rest of the sector zero. */
#define FMT_META_CRC_OFF 36u
#define FMT_META_A "meta-a"
#define FMT_META_B "meta-b"

struct fmt_meta {
    uint64_t seq; /* higher wins; the first record written has seq 1 */
    uint64_t term;
    uint64_t vote;
};

/* Fills the FMT_SECTOR bytes of out. */
void meta_encode(const struct fmt_meta *m, uint8_t *out);
int meta_decode(const uint8_t *buf, size_t len, struct fmt_meta *m,
                const char **why);

/* Segment header, the first sector of every WAL segment: "SAMPANWL", u32
 * version, u64 seq, u64 prev_index, u64 prev_term, u32 crc32c over bytes
 * 0..35; the rest of the sector zero. */
#define FMT_SEG_CRC_OFF 36u

struct fmt_seg_header {
    uint64_t seq;
    uint64_t prev_index; /* the entry before the segment's first record */
    uint64_t prev_term;
};

void segment_header_encode(const struct fmt_seg_header *h, uint8_t *out);
int segment_header_decode(const uint8_t *buf, size_t len,
                          struct fmt_seg_header *h, const char **why);

/* Batch: a 24-byte header {u32 magic "BTCH", u32 payload_len, u32
 * n_records, u32 crc32c over bytes 0..11 and the payload, u64
 * first_index}, the payload (records {u64 term, u64 index, u8 type, u32
 * len, data[len]}), a u32 trailer "BEND", then zeros up to the next sector
 * boundary. The trailer is what tells a write cut short (no trailer) from
 * a damaged complete one. */
#define FMT_BATCH_MAGIC 0x48435442u   /* "BTCH" read as a LE u32 */
#define FMT_BATCH_TRAILER 0x444e4542u /* "BEND" read as a LE u32 */
#define FMT_BATCH_HDR 24u
#define FMT_RECORD_HDR 21u
/* The largest payload a batch may claim: keeps every size computation far
 * from overflow. */
#define FMT_BATCH_MAX_PAYLOAD (UINT32_C(1) << 30)

struct fmt_batch_header {
    uint32_t payload_len;
    uint32_t n_records;
    uint32_t crc;
    uint64_t first_index;
};

/* Bytes a batch of these entries takes on disk (a multiple of FMT_SECTOR),
 * or 0 when the payload would exceed FMT_BATCH_MAX_PAYLOAD. */
uint64_t batch_size(const struct sampan_entry *ents, size_t n);

/* Encodes n >= 1 entries into out, which holds exactly batch_size() bytes.
 * Returns that size. */
uint64_t batch_encode(const struct sampan_entry *ents, size_t n, uint8_t *out);

/* Sector-aligned size of a batch claiming payload_len bytes. */
uint64_t batch_extent(uint32_t payload_len);

/* Decodes only the 24-byte header (magic checked, nothing else). */
int batch_header_decode(const uint8_t *buf, size_t len,
                        struct fmt_batch_header *h, const char **why);

/* Decodes and fully verifies the batch at the start of buf: header, CRC,
 * records (consecutive indexes from first_index, known types, lengths
 * adding up to payload_len), trailer and zero padding. On success *extent
 * is its size on disk and, when ents is non-NULL, ents[0..n_records) are
 * filled with `data` pointing into buf (borrowed; ents must have room for
 * h->n_records, which the caller learns from batch_header_decode). */
int batch_decode(const uint8_t *buf, size_t len, struct fmt_batch_header *h,
                 struct sampan_entry *ents, uint64_t *extent, const char **why);

/* Snapshot header, version 2: the first FMT_SNAP_HDR_BYTES of a snapshot
 * file, the data right after them.
 *   0  "SAMPSNAP"    8  u32 version (2)    12 u64 index    20 u64 term
 *   28 u64 data_len  36 u32 data_crc32c    40 u32 conf_len
 *   44 conf_len bytes: the configuration (sampan_membership_encode), then
 *      zeros up to
 *   FMT_SNAP_HDR_CRC_OFF: u32 crc32c of every byte before it.
 * The configuration is the only variable part, and comes after every fixed
 * field; the checksum sits at a fixed offset at the end of the header and
 * covers the padding too, so nothing is read at an offset an unverified
 * length decided. Version 1 (a 512-byte header with voter ids only) is
 * refused by name. */
#define FMT_SNAP_VERSION 2u
#define FMT_SNAP_HDR_BYTES 2048u
#define FMT_SNAP_CONF_LEN_OFF 40u
#define FMT_SNAP_CONF_OFF 44u
#define FMT_SNAP_HDR_CRC_OFF (FMT_SNAP_HDR_BYTES - 4u)

_Static_assert(FMT_SNAP_HDR_BYTES % FMT_SECTOR == 0,
               "snapshot data starts on a sector boundary");
_Static_assert(FMT_SNAP_CONF_OFF + SAMPAN_MEMBERSHIP_MAX_BYTES <=
                   FMT_SNAP_HDR_CRC_OFF,
               "the largest configuration fits the snapshot header");

struct fmt_snap_header {
    struct sampan_snapshot_meta meta;
    uint64_t data_len;
    uint32_t data_crc;
};

/* Fills the FMT_SNAP_HDR_BYTES of out. SAMPAN_EINVAL (out untouched) when
 * h->meta.conf is not a valid membership. */
int snap_header_encode(const struct fmt_snap_header *h, uint8_t *out);
/* As the decoder contract says; besides, when where is non-NULL it is set
 * on failure to the offset of what was found wrong (FMT_SNAP_CONF_OFF for
 * a configuration sampan_membership_decode refuses, *why then being its
 * reason; 0 when the header as a whole is). */
int snap_header_decode(const uint8_t *buf, size_t len,
                       struct fmt_snap_header *h, const char **why,
                       uint64_t *where);

/* File names. Each formatter writes into a buffer of FMT_NAME_MAX. */
#define FMT_NAME_MAX 80u

enum fmt_file_kind {
    FMT_FILE_OTHER = 0,
    FMT_FILE_META,
    FMT_FILE_WAL_OPEN,   /* wal-<seq>.open                      */
    FMT_FILE_WAL_CLOSED, /* wal-<seq>-<first>-<last>.seg         */
    FMT_FILE_SNAP,       /* snap-<term>-<index>.snap             */
    FMT_FILE_TMP,        /* *.tmp: left by a crash, removed      */
};

struct fmt_name {
    enum fmt_file_kind kind;
    uint64_t a, b, c; /* WAL: seq, first, last; snapshot: term, index */
};

void name_wal_open(char *out, uint64_t seq);
void name_wal_closed(char *out, uint64_t seq, uint64_t first, uint64_t last);
void name_snap(char *out, uint64_t term, uint64_t index);
void name_snap_tmp(char *out, uint64_t term, uint64_t index);
#define FMT_SNAP_RECV_TMP "snap-recv.tmp"

/* Classifies a directory entry; unknown names are FMT_FILE_OTHER. */
struct fmt_name name_parse(const char *name);

#endif
