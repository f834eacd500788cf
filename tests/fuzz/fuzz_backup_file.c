/* fuzz/fuzz_backup_file.c: the backup file decoder (backup_decode and the
 * header decoders in src/cli/backup_format.h, which `sampan snapshot
 * restore` and `status` trust with files from anywhere) on arbitrary and on
 * nearly valid files.
 *
 * The first byte picks a mode: decode the rest verbatim, or build a valid
 * file from input-chosen fields (index and term near their bounds, a
 * configuration of up to 4 voters with or without addresses, up to 255
 * bytes of state), damage it with input-chosen edits, optionally re-seal
 * the checksum (so checks past it are reached without forging CRCs), and
 * optionally cut or extend it. Properties: no read outside the bytes given
 * (exact-size heap blocks under ASan); every refusal is SAMPAN_ECORRUPT with
 * a message; an untouched file decodes to what was encoded; whatever
 * decodes has exactly the announced length and re-encodes to the same
 * header bytes.
 *
 *   build/bin/fuzz-backup_file-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup_format.h"
#include "codec/crc32c.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_backup_file: check failed: %s (%s:%d)\n",    \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void decode_and_check(const uint8_t *buf, size_t len)
{
    struct backup_info bi;
    char err[512] = "";
    int rc = backup_decode(buf, len, &bi, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == SAMPAN_ECORRUPT && err[0] != '\0');
        return;
    }
    FUZZ_CHECK(bi.file_bytes == len);
    FUZZ_CHECK(bi.data_off + bi.data_len + BACKUP_TRAILER_BYTES == len);
    FUZZ_CHECK(bi.conf_len <= SAMPAN_MEMBERSHIP_MAX_BYTES);
    FUZZ_CHECK(sampan_membership_validate(&bi.conf, NULL) == 0);
    /* The header alone decodes the same, and re-encodes byte for byte. */
    struct backup_info again;
    FUZZ_CHECK(backup_header_decode(buf, (size_t)bi.data_off, &again, err,
                                    sizeof(err)) == 0);
    FUZZ_CHECK(again.index == bi.index && again.term == bi.term &&
               again.keys == bi.keys && again.data_len == bi.data_len);
    uint8_t hdr[BACKUP_HEADER_MAX];
    size_t hlen = 0;
    FUZZ_CHECK(backup_header_encode(bi.index, bi.term, bi.keys,
                                    buf + BACKUP_FIXED_BYTES, bi.conf_len,
                                    bi.data_len, hdr, sizeof(hdr), &hlen) == 0);
    FUZZ_CHECK(hlen == bi.data_off && memcmp(hdr, buf, hlen) == 0);
}

/* A configuration chosen by the input, encoded; *len 0 if it is invalid
 * (the file then carries an empty configuration, which is valid). */
static void make_conf(struct fuzz_in *in, uint8_t *out, size_t cap, size_t *len)
{
    struct sampan_membership m;
    memset(&m, 0, sizeof(m));
    m.n_voters = fuzz_u8(in) % 5u;
    bool addrs = (fuzz_u8(in) & 1u) != 0;
    for (uint32_t i = 0; i < m.n_voters; i++) {
        m.voters[i] = fuzz_near(in, i + 1);
        if (addrs) {
            m.addrs[m.n_addrs].id = m.voters[i];
            snprintf(m.addrs[m.n_addrs].addr, SAMPAN_ADDR_MAX, "127.0.0.1:%u",
                     17000u + fuzz_u8(in));
            m.n_addrs++;
        }
    }
    if (sampan_membership_encode(&m, out, cap, len) != 0) {
        memset(&m, 0, sizeof(m));
        FUZZ_CHECK(sampan_membership_encode(&m, out, cap, len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in);
    if ((mode & 3u) == 0) {
        uint8_t *copy = malloc(in.n == 0 ? 1 : in.n);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, in.p, in.n);
        decode_and_check(copy, in.n);
        free(copy);
        return 0;
    }
    uint64_t index = fuzz_near(&in, 1);
    uint64_t term = fuzz_near(&in, 1);
    uint64_t keys = fuzz_u64(&in);
    uint8_t conf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t conf_len = 0;
    make_conf(&in, conf, sizeof(conf), &conf_len);
    uint32_t state_len = 0;
    uint8_t *state = fuzz_bytes(&in, 255, &state_len);
    uint8_t hdr[BACKUP_HEADER_MAX];
    size_t hlen = 0;
    int rc = backup_header_encode(index, term, keys, conf, conf_len, state_len,
                                  hdr, sizeof(hdr), &hlen);
    if (rc != 0) {
        /* Only out-of-range fields are refused. */
        FUZZ_CHECK(rc == SAMPAN_EINVAL &&
                   (index == 0 || index > SAMPAN_MAX_INDEX || term == 0 ||
                    term > SAMPAN_MAX_TERM));
        free(state);
        return 0;
    }
    size_t full = hlen + state_len + BACKUP_TRAILER_BYTES;
    /* Cut short or extended by up to 16 bytes, or as built. */
    size_t len = full;
    if ((mode & 4u) != 0) {
        size_t d = fuzz_u8(&in) % 17u;
        len = (mode & 16u) != 0 ? full + d : (d < full ? full - d : 0);
    }
    uint8_t *file = calloc(len > full ? len : full, 1);
    FUZZ_CHECK(file != NULL);
    memcpy(file, hdr, hlen);
    if (state_len > 0) {
        memcpy(file + hlen, state, state_len);
    }
    fuzz_put32(file + hlen + state_len, crc32c(0, file, hlen + state_len));
    unsigned edits = fuzz_edit(&in, file, full);
    if ((mode & 8u) != 0) {
        fuzz_put32(file + full - 4, crc32c(0, file, full - 4));
    }
    uint8_t *exact = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, file, len);
    if (edits == 0 && len == full) {
        struct backup_info bi;
        char err[512];
        FUZZ_CHECK(backup_decode(exact, len, &bi, err, sizeof(err)) == 0);
        FUZZ_CHECK(bi.index == index && bi.term == term && bi.keys == keys &&
                   bi.data_len == state_len && bi.conf_len == conf_len);
        FUZZ_CHECK(state_len == 0 ||
                   memcmp(exact + bi.data_off, state, state_len) == 0);
    }
    decode_and_check(exact, len);
    free(exact);
    free(file);
    free(state);
    return 0;
}
