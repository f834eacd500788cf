/* fuzz/fuzz_snap_header.c: the snapshot file header decoder
 * (snap_header_decode in src/storage/format.h) on arbitrary and on nearly
 * valid sectors.
 *
 * Modes as in fuzz_meta.c: verbatim bytes, or a header encoded from
 * input-chosen fields (voter counts up to SAMPAN_MAX_VOTERS + 1), damaged
 * by input-chosen edits, CRC optionally re-sealed, possibly cut short.
 * Properties: no read outside the bytes given; a decoded header never
 * claims more than SAMPAN_MAX_VOTERS voters; an untouched valid encoding
 * decodes to what was encoded; whatever decodes round-trips.
 *
 *   build/bin/fuzz-snap_header-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
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
    if (a->meta.index != b->meta.index || a->meta.term != b->meta.term ||
        a->meta.conf.n_voters != b->meta.conf.n_voters ||
        a->data_len != b->data_len || a->data_crc != b->data_crc) {
        return 0;
    }
    /* Every slot is on disk, used or not. */
    return memcmp(a->meta.conf.voters, b->meta.conf.voters,
                  sizeof(a->meta.conf.voters)) == 0;
}

static void check_roundtrip(const struct fmt_snap_header *h)
{
    uint8_t sector[FMT_SECTOR];
    snap_header_encode(h, sector);
    struct fmt_snap_header again;
    FUZZ_CHECK(snap_header_decode(sector, sizeof(sector), &again, NULL) == 0);
    FUZZ_CHECK(header_equal(h, &again));
}

static void decode_and_check(const uint8_t *buf, size_t len)
{
    struct fmt_snap_header h;
    const char *why = NULL;
    int rc = snap_header_decode(buf, len, &h, &why);
    if (rc == 0) {
        FUZZ_CHECK(h.meta.conf.n_voters <= SAMPAN_MAX_VOTERS);
        check_roundtrip(&h);
    } else {
        FUZZ_CHECK(rc == SAMPAN_ECORRUPT && why != NULL);
    }
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
    h.meta.conf.n_voters = fuzz_u8(&in) % (SAMPAN_MAX_VOTERS + 2u);
    for (uint32_t i = 0; i < SAMPAN_MAX_VOTERS; i++) {
        h.meta.conf.voters[i] =
            i < h.meta.conf.n_voters ? fuzz_near(&in, 1) : 0;
    }
    h.data_len = fuzz_near(&in, 0);
    h.data_crc = (uint32_t)fuzz_u64(&in);
    size_t len =
        (mode & 4u) != 0 ? fuzz_u8(&in) % (FMT_SECTOR + 1u) : FMT_SECTOR;
    uint8_t *buf = malloc(FMT_SECTOR);
    FUZZ_CHECK(buf != NULL);
    snap_header_encode(&h, buf);
    uint8_t *exact = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, buf, len);
    free(buf);
    unsigned edits = fuzz_edit(&in, exact, len);
    if ((mode & 8u) != 0 && len >= FMT_SNAP_HDR_CRC_OFF + 4u) {
        fuzz_put32(exact + FMT_SNAP_HDR_CRC_OFF,
                   crc32c(0, exact, FMT_SNAP_HDR_CRC_OFF));
    }
    if (edits == 0 && len == FMT_SECTOR &&
        h.meta.conf.n_voters <= SAMPAN_MAX_VOTERS) {
        struct fmt_snap_header got;
        FUZZ_CHECK(snap_header_decode(exact, len, &got, NULL) == 0);
        FUZZ_CHECK(header_equal(&h, &got));
    }
    decode_and_check(exact, len);
    free(exact);
    return 0;
}
