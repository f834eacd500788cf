/* fuzz/fuzz_wal_batch.c: the WAL decoders of src/storage/format.h, as the
 * segment reader uses them: segment_header_decode on a segment's first
 * sector, then batch_decode walking batch after batch by extent.
 *
 * Modes (first byte): the rest verbatim as a segment (header, then batches
 * from the next sector); a batch encoded from input-chosen entries (some
 * with invalid types or indexes that wrap to 0), damaged by input-chosen
 * edits, CRC optionally re-sealed, cut short or followed by junk; a
 * segment header encoded, damaged and decoded.
 * Properties: no read outside the bytes given (exact-size heap blocks
 * under ASan); a decoded batch has a sector-multiple extent within the
 * buffer, consecutive non-zero indexes from first_index, known types, and
 * data inside the buffer; an untouched valid batch decodes to exactly the
 * entries encoded.
 *
 *   build/bin/fuzz-wal_batch-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "fuzz_input.h"
#include "storage/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 8u
#define MAX_PAYLOAD 64u
#define MAX_WALK 64u

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_wal_batch: check failed: %s (%s:%d)\n",      \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Decodes one batch at buf (len bytes available) and checks what a
 * successful decode promises. Returns its extent, 0 when it did not
 * decode. */
static uint64_t decode_batch(const uint8_t *buf, size_t len)
{
    struct fmt_batch_header h;
    uint64_t ext = 0;
    const char *why = NULL;
    int rc = batch_decode(buf, len, &h, NULL, &ext, &why);
    if (rc != 0) {
        FUZZ_CHECK(rc == SAMPAN_ECORRUPT && why != NULL);
        return 0;
    }
    FUZZ_CHECK(ext > 0 && ext % FMT_SECTOR == 0 && ext <= len);
    FUZZ_CHECK(h.n_records >= 1 &&
               h.n_records <= h.payload_len / FMT_RECORD_HDR);
    /* Now with entries: the header's count is the room the caller gives. */
    struct sampan_entry *ents = calloc(h.n_records, sizeof(*ents));
    FUZZ_CHECK(ents != NULL);
    struct fmt_batch_header h2;
    uint64_t ext2 = 0;
    FUZZ_CHECK(batch_decode(buf, len, &h2, ents, &ext2, NULL) == 0);
    FUZZ_CHECK(ext2 == ext && h2.n_records == h.n_records);
    for (uint32_t i = 0; i < h.n_records; i++) {
        const struct sampan_entry *e = &ents[i];
        FUZZ_CHECK(e->index == h.first_index + i && e->index != 0);
        FUZZ_CHECK(sampan_entry_type_known(e->type));
        FUZZ_CHECK((e->len == 0) == (e->data == NULL));
        if (e->len > 0) {
            FUZZ_CHECK(e->data >= buf + FMT_BATCH_HDR &&
                       e->data + e->len <= buf + ext);
        }
    }
    free(ents);
    return ext;
}

/* The segment reader's walk: header sector, then batches until one does
 * not decode (a torn tail or the zeroed preallocated rest). */
static void walk_segment(const uint8_t *buf, size_t len)
{
    struct fmt_seg_header sh;
    const char *why = NULL;
    int rc = segment_header_decode(buf, len, &sh, &why);
    FUZZ_CHECK(rc == 0 || (rc == SAMPAN_ECORRUPT && why != NULL));
    size_t off = len < FMT_SECTOR ? len : FMT_SECTOR;
    for (unsigned i = 0; i < MAX_WALK && off < len; i++) {
        uint64_t ext = decode_batch(buf + off, len - off);
        if (ext == 0) {
            break;
        }
        off += (size_t)ext;
    }
}

static void fuzz_segment_header(struct fuzz_in *in)
{
    struct fmt_seg_header h = {
        .seq = fuzz_near(in, 1),
        .prev_index = fuzz_near(in, 0),
        .prev_term = fuzz_near(in, 0),
    };
    uint8_t *buf = malloc(FMT_SECTOR);
    FUZZ_CHECK(buf != NULL);
    segment_header_encode(&h, buf);
    unsigned edits = fuzz_edit(in, buf, FMT_SECTOR);
    if ((fuzz_u8(in) & 1u) != 0) {
        fuzz_put32(buf + FMT_SEG_CRC_OFF, crc32c(0, buf, FMT_SEG_CRC_OFF));
    }
    struct fmt_seg_header got;
    int rc = segment_header_decode(buf, FMT_SECTOR, &got, NULL);
    if (edits == 0) {
        FUZZ_CHECK(rc == 0 && got.seq == h.seq &&
                   got.prev_index == h.prev_index &&
                   got.prev_term == h.prev_term);
    }
    free(buf);
}

/* Re-seals the batch CRC over header bytes 0..11 and the payload the
 * (possibly edited) header claims, when it fits in the buffer. */
static void reseal_batch(uint8_t *buf, size_t len)
{
    if (len < FMT_BATCH_HDR) {
        return;
    }
    uint32_t plen = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 |
                    (uint32_t)buf[6] << 16 | (uint32_t)buf[7] << 24;
    if (plen > len - FMT_BATCH_HDR) {
        return;
    }
    uint32_t crc = crc32c(crc32c(0, buf, 12), buf + FMT_BATCH_HDR, plen);
    fuzz_put32(buf + 12, crc);
}

static void fuzz_built_batch(struct fuzz_in *in, uint8_t mode)
{
    struct sampan_entry ents[MAX_ENTRIES];
    size_t n = 1u + fuzz_u8(in) % MAX_ENTRIES;
    uint64_t first = fuzz_near(in, 1);
    int valid = 1;
    for (size_t i = 0; i < n; i++) {
        struct sampan_entry *e = &ents[i];
        memset(e, 0, sizeof(*e));
        uint8_t b = fuzz_u8(in);
        e->index = first + i;
        e->term = fuzz_near(in, 1);
        e->type = (b & 7u) != 0 ? (uint8_t)(1u + (b & 1u)) : fuzz_u8(in);
        e->data = fuzz_bytes(in, MAX_PAYLOAD, &e->len);
        if (e->index == 0 ||
            (e->type != SAMPAN_ENTRY_NORMAL && e->type != SAMPAN_ENTRY_NOOP)) {
            valid = 0;
        }
    }
    uint64_t size = batch_size(ents, n);
    FUZZ_CHECK(size > 0 && size % FMT_SECTOR == 0);
    /* Cut short, exact, or followed by junk (the next batch's bytes). */
    size_t len = (size_t)size;
    uint8_t shape = fuzz_u8(in);
    if ((mode & 4u) != 0) {
        len = shape % (len + 1u);
    } else if ((mode & 8u) != 0) {
        len += shape;
    }
    uint8_t *full = calloc(1, (size_t)size + 256u);
    FUZZ_CHECK(full != NULL);
    FUZZ_CHECK(batch_encode(ents, n, full) == size);
    for (size_t i = (size_t)size; i < len; i++) {
        full[i] = fuzz_u8(in);
    }
    uint8_t *buf = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, full, len);
    free(full);
    unsigned edits = fuzz_edit(in, buf, len);
    if ((mode & 16u) != 0) {
        reseal_batch(buf, len);
    }
    if (edits == 0 && valid && len >= size) {
        struct sampan_entry got[MAX_ENTRIES];
        struct fmt_batch_header h;
        uint64_t ext = 0;
        FUZZ_CHECK(batch_decode(buf, len, &h, got, &ext, NULL) == 0);
        FUZZ_CHECK(ext == size && h.n_records == n && h.first_index == first);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(
                got[i].index == ents[i].index && got[i].term == ents[i].term &&
                got[i].type == ents[i].type && got[i].len == ents[i].len);
            FUZZ_CHECK(ents[i].len == 0 ||
                       memcmp(got[i].data, ents[i].data, ents[i].len) == 0);
        }
    }
    (void)decode_batch(buf, len);
    free(buf);
    for (size_t i = 0; i < n; i++) {
        free(ents[i].data);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in);
    switch (mode & 3u) {
    case 0:
        (void)decode_batch(in.p, in.n); /* a batch anywhere, e.g. mid-file */
        walk_segment(in.p, in.n);
        break;
    case 1:
        fuzz_segment_header(&in);
        break;
    default:
        fuzz_built_batch(&in, mode);
        break;
    }
    return 0;
}
