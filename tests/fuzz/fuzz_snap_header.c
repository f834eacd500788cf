/* fuzz/fuzz_snap_header.c: the snapshot file header decoder
 * (snap_header_decode in src/storage/format.h) on arbitrary and on nearly
 * valid headers.
 *
 * Modes as in fuzz_meta.c: verbatim bytes, or a header encoded from
 * input-chosen fields (the configuration from fuzz_conf.h, valid or not:
 * an invalid one must be refused by the encoder), damaged by structure-aware
 * nudges (version, conf_len, the configuration's counts set near their
 * values) and input-chosen edits, CRC optionally re-sealed, possibly cut
 * short.
 * Properties: no read outside the bytes given; the encoder refuses exactly
 * the configurations sampan_membership_validate refuses; a refusal says why
 * and where (inside the header); a decoded header holds a valid
 * configuration and re-encodes to the very bytes it was decoded from (the
 * header is canonical); an untouched valid encoding decodes to what was
 * encoded.
 *
 *   build/bin/fuzz-snap_header-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "fuzz_conf.h"
#include "fuzz_input.h"
#include "storage/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_snap_header: check failed: %s (%s:%d)\n",    \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static int header_equal(const struct fmt_snap_header *a,
                        const struct fmt_snap_header *b)
{
    return a->meta.index == b->meta.index && a->meta.term == b->meta.term &&
           a->data_len == b->data_len && a->data_crc == b->data_crc &&
           fuzz_conf_equal(&a->meta.conf, &b->meta.conf);
}

static void decode_and_check(const uint8_t *buf, size_t len)
{
    struct fmt_snap_header h;
    const char *why = NULL;
    uint64_t where = UINT64_MAX;
    int rc = snap_header_decode(buf, len, &h, &why, &where);
    if (rc != 0) {
        FUZZ_CHECK(rc == SAMPAN_ECORRUPT && why != NULL);
        FUZZ_CHECK(where < FMT_SNAP_HDR_BYTES);
        return;
    }
    FUZZ_CHECK(len >= FMT_SNAP_HDR_BYTES);
    FUZZ_CHECK(sampan_membership_validate(&h.meta.conf, NULL) == 0);
    uint8_t *again = malloc(FMT_SNAP_HDR_BYTES);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(snap_header_encode(&h, again) == 0);
    FUZZ_CHECK(memcmp(again, buf, FMT_SNAP_HDR_BYTES) == 0);
    free(again);
}

/* Sets the version, conf_len, or the u32 over the configuration's four
 * counts to a value near what it was: the bounds the decoder checks. */
static void nudge(struct fuzz_in *in, uint8_t *buf, size_t len)
{
    static const size_t pos[3] = {8, FMT_SNAP_CONF_LEN_OFF,
                                  FMT_SNAP_CONF_OFF + 1};
    size_t at = pos[fuzz_u8(in) % 3];
    if (at + 4 > len) {
        return;
    }
    uint32_t old = 0;
    for (int i = 3; i >= 0; i--) {
        old = (old << 8) | buf[at + (size_t)i];
    }
    fuzz_put32(buf + at, (uint32_t)fuzz_near(in, old));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in);
    if ((mode & 3u) == 0) {
        decode_and_check(in.p, in.n);
        return 0;
    }
    struct fmt_snap_header h;
    memset(&h, 0, sizeof(h));
    h.meta.index = fuzz_near(&in, 1);
    h.meta.term = fuzz_near(&in, 1);
    fuzz_conf(&in, &h.meta.conf);
    h.data_len = fuzz_near(&in, 0);
    h.data_crc = (uint32_t)fuzz_u64(&in);
    uint8_t *buf = malloc(FMT_SNAP_HDR_BYTES);
    FUZZ_CHECK(buf != NULL);
    memset(buf, 0xa5, FMT_SNAP_HDR_BYTES);
    int rc = snap_header_encode(&h, buf);
    bool valid = sampan_membership_validate(&h.meta.conf, NULL) == 0;
    if (!valid) {
        /* Refused, nothing written; go on with a valid header carrying no
         * configuration, which the edits below may still damage. */
        FUZZ_CHECK(rc == SAMPAN_EINVAL && buf[0] == 0xa5 &&
                   buf[FMT_SNAP_HDR_BYTES - 1] == 0xa5);
        memset(&h.meta.conf, 0, sizeof(h.meta.conf));
        rc = snap_header_encode(&h, buf);
    }
    FUZZ_CHECK(rc == 0);
    size_t len = FMT_SNAP_HDR_BYTES;
    if ((mode & 4u) != 0) {
        len = (((size_t)fuzz_u8(&in) << 8) | fuzz_u8(&in)) %
              (FMT_SNAP_HDR_BYTES + 1u);
    }
    uint8_t *exact = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, buf, len);
    free(buf);
    if ((mode & 16u) != 0) {
        nudge(&in, exact, len);
    }
    unsigned edits = fuzz_edit(&in, exact, len);
    if ((mode & 8u) != 0 && len >= FMT_SNAP_HDR_BYTES) {
        fuzz_put32(exact + FMT_SNAP_HDR_CRC_OFF,
                   crc32c(0, exact, FMT_SNAP_HDR_CRC_OFF));
    }
    if (edits == 0 && (mode & 16u) == 0 && len == FMT_SNAP_HDR_BYTES) {
        struct fmt_snap_header got;
        FUZZ_CHECK(snap_header_decode(exact, len, &got, NULL, NULL) == 0);
        FUZZ_CHECK(header_equal(&h, &got));
    }
    decode_and_check(exact, len);
    free(exact);
    return 0;
}
