/* cli/backup_format.h: the backup file `sampan snapshot save` writes and
 * `snapshot restore` / `snapshot status` read (docs/disk-format.md, "Backup
 * files"). Pure encoding and decoding, no I/O, so the decoder is fuzzed
 * (tests/fuzz/fuzz_backup_file.c). Integers little endian:
 *
 *    0  8  magic "SAMPANBK"
 *    8  4  version (1)
 *   12  4  conf_len (at most SAMPAN_MEMBERSHIP_MAX_BYTES)
 *   16  8  index: the last log entry the state includes (>= 1)
 *   24  8  term of that entry (>= 1)
 *   32  8  keys in the state
 *   40  8  data_len
 *   48  conf_len   the configuration at index (sampan_membership_encode)
 *   ..  data_len   the key/value state (the state machine's snapshot format)
 *   ..  4  crc32c of every byte before it
 *
 * The fixed part comes first so 48 bytes tell the whole file's size: a
 * reader checks that against the file before it trusts any length. */
#ifndef SAMPAN_CLI_BACKUP_FORMAT_H
#define SAMPAN_CLI_BACKUP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "sampan/raft.h"

#define BACKUP_MAGIC "SAMPANBK"
#define BACKUP_VERSION 1u
#define BACKUP_FIXED_BYTES 48u
#define BACKUP_TRAILER_BYTES 4u
/* The largest header: the fixed part plus the largest configuration. */
#define BACKUP_HEADER_MAX (BACKUP_FIXED_BYTES + SAMPAN_MEMBERSHIP_MAX_BYTES)

/* What a header says. */
struct backup_info {
    uint32_t version;
    uint64_t index;
    uint64_t term;
    uint64_t keys;
    uint32_t conf_len;
    uint64_t data_len;
    struct sampan_membership conf; /* decoded by backup_header_decode */
    uint64_t data_off;   /* where the data starts: 48 + conf_len        */
    uint64_t file_bytes; /* the whole file: data_off + data_len + 4      */
};

/* Writes the header (fixed part and the encoded configuration conf[0..
 * conf_len), borrowed) for the given fields into out[0..cap) and sets *len.
 * Errors: SAMPAN_EINVAL (index or term 0 or out of range, conf_len over
 * SAMPAN_MEMBERSHIP_MAX_BYTES), SAMPAN_ETOOBIG (cap too small). */
int backup_header_encode(uint64_t index, uint64_t term, uint64_t keys,
                         const uint8_t *conf, size_t conf_len,
                         uint64_t data_len, uint8_t *out, size_t cap,
                         size_t *len);

/* Decodes the fixed part from buf[0..len) (len >= BACKUP_FIXED_BYTES, else
 * an error) into *bi, checking magic, version and ranges, and sets
 * data_off and file_bytes (the sizes cannot overflow). Returns 0, or
 * SAMPAN_ECORRUPT with a message in err[0..errlen). */
int backup_fixed_decode(const uint8_t *buf, size_t len, struct backup_info *bi,
                        char *err, size_t errlen);

/* The checks a reader makes of a whole file, shared by backup_decode and
 * the streaming reader: its size against what the header announces, and
 * the stored checksum against the computed one. 0 or SAMPAN_ECORRUPT with
 * a message in err. */
int backup_check_size(const struct backup_info *bi, uint64_t size, char *err,
                      size_t errlen);
int backup_check_crc(uint32_t stored, uint32_t computed, char *err,
                     size_t errlen);

/* backup_fixed_decode, then the configuration: buf must hold at least the
 * whole header (bi->data_off bytes). Same errors. */
int backup_header_decode(const uint8_t *buf, size_t len, struct backup_info *bi,
                         char *err, size_t errlen);

/* A whole file in memory, buf[0..len): the header, the exact length and the
 * checksum. The data is buf[bi->data_off .. + bi->data_len). Same errors. */
int backup_decode(const uint8_t *buf, size_t len, struct backup_info *bi,
                  char *err, size_t errlen);

#endif
