/* fuzz/fuzz_meta.c: the term/vote metadata decoder (meta_decode in
 * src/storage/format.h) on arbitrary and on nearly valid sectors.
 *
 * The first byte picks a mode: decode the rest verbatim, or encode a meta
 * record from input-chosen fields, damage it with input-chosen edits,
 * optionally re-seal its CRC (so checks past the checksum are reached
 * without a coverage-guided fuzzer having to forge CRCs), and decode.
 * Properties: the decoder never reads outside the bytes given (exact-size
 * heap blocks under ASan); an untouched encoding decodes to what was
 * encoded; whatever decodes re-encodes to a record that decodes the same.
 *
 *   build/bin/fuzz-meta-standalone --iterations 100000 */
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
            fprintf(stderr, "fuzz_meta: check failed: %s (%s:%d)\n", #cond,    \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

static int meta_equal(const struct fmt_meta *a, const struct fmt_meta *b)
{
    return a->seq == b->seq && a->term == b->term && a->vote == b->vote;
}

/* Whatever decoded must survive encode + decode unchanged. */
static void check_roundtrip(const struct fmt_meta *m)
{
    uint8_t sector[FMT_SECTOR];
    meta_encode(m, sector);
    struct fmt_meta again;
    FUZZ_CHECK(meta_decode(sector, sizeof(sector), &again, NULL) == 0);
    FUZZ_CHECK(meta_equal(m, &again));
}

static void decode_and_check(const uint8_t *buf, size_t len)
{
    struct fmt_meta m;
    const char *why = NULL;
    int rc = meta_decode(buf, len, &m, &why);
    if (rc == 0) {
        check_roundtrip(&m);
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
    struct fmt_meta m = {
        .seq = fuzz_near(&in, 1),
        .term = fuzz_near(&in, 1),
        .vote = fuzz_near(&in, 0),
    };
    /* Exact-size heap block: a sector, or cut short to test length checks. */
    size_t len =
        (mode & 4u) != 0 ? fuzz_u8(&in) % (FMT_SECTOR + 1u) : FMT_SECTOR;
    uint8_t *buf = malloc(FMT_SECTOR);
    FUZZ_CHECK(buf != NULL);
    meta_encode(&m, buf);
    uint8_t *exact = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, buf, len);
    free(buf);
    unsigned edits = fuzz_edit(&in, exact, len);
    if ((mode & 8u) != 0 && len >= FMT_META_CRC_OFF + 4u) {
        fuzz_put32(exact + FMT_META_CRC_OFF,
                   crc32c(0, exact, FMT_META_CRC_OFF));
    }
    if (edits == 0 && len == FMT_SECTOR) {
        struct fmt_meta got;
        FUZZ_CHECK(meta_decode(exact, len, &got, NULL) == 0);
        FUZZ_CHECK(meta_equal(&m, &got));
    }
    decode_and_check(exact, len);
    free(exact);
    return 0;
}
