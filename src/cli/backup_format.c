/* cli/backup_format.c: encoding and decoding backup files (the format is
 * described in backup_format.h). Every length is checked against what the
 * caller holds before it is used. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/backup_format.h"
#include "codec/crc32c.h"
#include "codec/le.h"

int backup_header_encode(uint64_t index, uint64_t term, uint64_t keys,
                         const uint8_t *conf, size_t conf_len,
                         uint64_t data_len, uint8_t *out, size_t cap,
                         size_t *len)
{
    if (index == 0 || index > SAMPAN_MAX_INDEX || term == 0 ||
        term > SAMPAN_MAX_TERM || conf_len > SAMPAN_MEMBERSHIP_MAX_BYTES ||
        (conf_len > 0 && conf == NULL)) {
        return SAMPAN_EINVAL;
    }
    if (cap < BACKUP_FIXED_BYTES + conf_len) {
        return SAMPAN_ETOOBIG;
    }
    memcpy(out, BACKUP_MAGIC, 8);
    put32(out + 8, BACKUP_VERSION);
    put32(out + 12, (uint32_t)conf_len);
    put64(out + 16, index);
    put64(out + 24, term);
    put64(out + 32, keys);
    put64(out + 40, data_len);
    if (conf_len > 0) {
        memcpy(out + BACKUP_FIXED_BYTES, conf, conf_len);
    }
    *len = BACKUP_FIXED_BYTES + conf_len;
    return 0;
}

/* Fills err and returns SAMPAN_ECORRUPT. */
__attribute__((format(printf, 3, 4))) static int
corrupt(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return SAMPAN_ECORRUPT;
}

int backup_fixed_decode(const uint8_t *buf, size_t len, struct backup_info *bi,
                        char *err, size_t errlen)
{
    size_t magic = sizeof(BACKUP_MAGIC) - 1;
    memset(bi, 0, sizeof(*bi));
    if (len == 0) {
        return corrupt(err, errlen, "empty file (not a sampan backup)");
    }
    if (memcmp(buf, BACKUP_MAGIC, len < magic ? len : magic) != 0) {
        return corrupt(err, errlen,
                       "not a sampan backup file (it does not start with "
                       "the magic %s)",
                       BACKUP_MAGIC);
    }
    if (len < BACKUP_FIXED_BYTES) {
        return corrupt(err, errlen,
                       "truncated: %zu bytes, shorter than the %u-byte "
                       "header",
                       len, BACKUP_FIXED_BYTES);
    }
    bi->version = get32(buf + 8);
    bi->conf_len = get32(buf + 12);
    bi->index = get64(buf + 16);
    bi->term = get64(buf + 24);
    bi->keys = get64(buf + 32);
    bi->data_len = get64(buf + 40);
    if (bi->version != BACKUP_VERSION) {
        return corrupt(err, errlen,
                       "unsupported backup format version %" PRIu32
                       " (this sampan reads version %u)",
                       bi->version, BACKUP_VERSION);
    }
    if (bi->conf_len > SAMPAN_MEMBERSHIP_MAX_BYTES) {
        return corrupt(err, errlen,
                       "configuration length %" PRIu32
                       " is over the maximum %u",
                       bi->conf_len, (unsigned)SAMPAN_MEMBERSHIP_MAX_BYTES);
    }
    if (bi->index == 0 || bi->index > SAMPAN_MAX_INDEX) {
        return corrupt(err, errlen, "index %" PRIu64 " is out of range",
                       bi->index);
    }
    if (bi->term == 0 || bi->term > SAMPAN_MAX_TERM) {
        return corrupt(err, errlen, "term %" PRIu64 " is out of range",
                       bi->term);
    }
    /* Bounded so data_off + data_len + 4 cannot wrap. */
    if (bi->data_len > UINT64_MAX / 2) {
        return corrupt(err, errlen, "data length %" PRIu64 " is out of range",
                       bi->data_len);
    }
    bi->data_off = BACKUP_FIXED_BYTES + (uint64_t)bi->conf_len;
    bi->file_bytes = bi->data_off + bi->data_len + BACKUP_TRAILER_BYTES;
    return 0;
}

int backup_check_size(const struct backup_info *bi, uint64_t size, char *err,
                      size_t errlen)
{
    if (size < bi->file_bytes) {
        return corrupt(err, errlen,
                       "truncated: %" PRIu64
                       " bytes where the header announces %" PRIu64,
                       size, bi->file_bytes);
    }
    if (size > bi->file_bytes) {
        return corrupt(err, errlen,
                       "%" PRIu64 " bytes where the header announces %" PRIu64
                       " (bytes past the end)",
                       size, bi->file_bytes);
    }
    return 0;
}

int backup_check_crc(uint32_t stored, uint32_t computed, char *err,
                     size_t errlen)
{
    if (stored != computed) {
        return corrupt(err, errlen,
                       "checksum mismatch (stored crc32c %08" PRIx32
                       ", computed %08" PRIx32 "): the file is damaged",
                       stored, computed);
    }
    return 0;
}

int backup_header_decode(const uint8_t *buf, size_t len, struct backup_info *bi,
                         char *err, size_t errlen)
{
    int rv = backup_fixed_decode(buf, len, bi, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (len < bi->data_off) {
        return corrupt(err, errlen,
                       "truncated: %zu bytes, shorter than the %" PRIu64
                       "-byte header",
                       len, bi->data_off);
    }
    const char *why = NULL;
    if (sampan_membership_decode(buf + BACKUP_FIXED_BYTES, bi->conf_len,
                                 &bi->conf, &why) != 0) {
        snprintf(err, errlen, "the configuration does not decode: %s",
                 why != NULL ? why : "invalid");
        return SAMPAN_ECORRUPT;
    }
    return 0;
}

int backup_decode(const uint8_t *buf, size_t len, struct backup_info *bi,
                  char *err, size_t errlen)
{
    int rv = backup_fixed_decode(buf, len, bi, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = backup_check_size(bi, (uint64_t)len, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = backup_header_decode(buf, len, bi, err, errlen);
    if (rv != 0) {
        return rv;
    }
    size_t body = len - BACKUP_TRAILER_BYTES;
    uint32_t want = get32(buf + body);
    uint32_t got = crc32c(0, buf, body);
    return backup_check_crc(want, got, err, errlen);
}
