/* storage/format.c: encoding and decoding of every on-disk structure (see
 * format.h for the contracts, docs/disk-format.md for the layout). Pure
 * functions over bounded byte buffers: each length is checked before the
 * bytes it covers are read. */
#include <stdio.h>
#include <string.h>

#include "codec/crc32c.h"
#include "codec/le.h"
#include "storage/format.h"

static int fail(const char **why, const char *reason)
{
    if (why) {
        *why = reason;
    }
    return SAMPAN_ECORRUPT;
}

void meta_encode(const struct fmt_meta *m, uint8_t *out)
{
    memset(out, 0, FMT_SECTOR);
    memcpy(out, "SAMPMETA", 8);
    put32(out + 8, FMT_VERSION);
    put64(out + 12, m->seq);
    put64(out + 20, m->term);
    put64(out + 28, m->vote);
    put32(out + FMT_META_CRC_OFF, crc32c(0, out, FMT_META_CRC_OFF));
}

int meta_decode(const uint8_t *buf, size_t len, struct fmt_meta *m,
                const char **why)
{
    if (len < FMT_META_CRC_OFF + 4) {
        return fail(why, "short meta record");
    }
    if (memcmp(buf, "SAMPMETA", 8) != 0) {
        return fail(why, "bad meta magic");
    }
    if (get32(buf + FMT_META_CRC_OFF) != crc32c(0, buf, FMT_META_CRC_OFF)) {
        return fail(why, "meta checksum mismatch");
    }
    if (get32(buf + 8) != FMT_VERSION) {
        return fail(why, "unsupported meta version");
    }
    m->seq = get64(buf + 12);
    m->term = get64(buf + 20);
    m->vote = get64(buf + 28);
    return 0;
}

void segment_header_encode(const struct fmt_seg_header *h, uint8_t *out)
{
    memset(out, 0, FMT_SECTOR);
    memcpy(out, "SAMPANWL", 8);
    put32(out + 8, FMT_VERSION);
    put64(out + 12, h->seq);
    put64(out + 20, h->prev_index);
    put64(out + 28, h->prev_term);
    put32(out + FMT_SEG_CRC_OFF, crc32c(0, out, FMT_SEG_CRC_OFF));
}

int segment_header_decode(const uint8_t *buf, size_t len,
                          struct fmt_seg_header *h, const char **why)
{
    if (len < FMT_SEG_CRC_OFF + 4) {
        return fail(why, "short segment header");
    }
    if (memcmp(buf, "SAMPANWL", 8) != 0) {
        return fail(why, "bad segment magic");
    }
    if (get32(buf + FMT_SEG_CRC_OFF) != crc32c(0, buf, FMT_SEG_CRC_OFF)) {
        return fail(why, "segment header checksum mismatch");
    }
    if (get32(buf + 8) != FMT_VERSION) {
        return fail(why, "unsupported segment version");
    }
    h->seq = get64(buf + 12);
    h->prev_index = get64(buf + 20);
    h->prev_term = get64(buf + 28);
    return 0;
}

uint64_t batch_extent(uint32_t payload_len)
{
    uint64_t raw = (uint64_t)FMT_BATCH_HDR + payload_len + 4;
    return (raw + FMT_SECTOR - 1) / FMT_SECTOR * FMT_SECTOR;
}

uint64_t batch_size(const struct sampan_entry *ents, size_t n)
{
    uint64_t payload = 0;
    for (size_t i = 0; i < n; i++) {
        payload += FMT_RECORD_HDR + (uint64_t)ents[i].len;
        if (payload > FMT_BATCH_MAX_PAYLOAD) {
            return 0;
        }
    }
    return batch_extent((uint32_t)payload);
}

static uint32_t batch_crc(const uint8_t *hdr, const uint8_t *payload,
                          uint32_t payload_len)
{
    return crc32c(crc32c(0, hdr, 12), payload, payload_len);
}

uint64_t batch_encode(const struct sampan_entry *ents, size_t n, uint8_t *out)
{
    uint64_t size = batch_size(ents, n);
    memset(out, 0, size);
    uint8_t *p = out + FMT_BATCH_HDR;
    for (size_t i = 0; i < n; i++) {
        put64(p, ents[i].term);
        put64(p + 8, ents[i].index);
        p[16] = ents[i].type;
        put32(p + 17, ents[i].len);
        if (ents[i].len > 0) {
            memcpy(p + FMT_RECORD_HDR, ents[i].data, ents[i].len);
        }
        p += FMT_RECORD_HDR + ents[i].len;
    }
    uint32_t payload_len = (uint32_t)(p - out - FMT_BATCH_HDR);
    put32(p, FMT_BATCH_TRAILER);
    put32(out, FMT_BATCH_MAGIC);
    put32(out + 4, payload_len);
    put32(out + 8, (uint32_t)n);
    put64(out + 16, ents[0].index);
    put32(out + 12, batch_crc(out, out + FMT_BATCH_HDR, payload_len));
    return size;
}

int batch_header_decode(const uint8_t *buf, size_t len,
                        struct fmt_batch_header *h, const char **why)
{
    if (len < FMT_BATCH_HDR) {
        return fail(why, "short batch header");
    }
    if (get32(buf) != FMT_BATCH_MAGIC) {
        return fail(why, "bad batch magic");
    }
    h->payload_len = get32(buf + 4);
    h->n_records = get32(buf + 8);
    h->crc = get32(buf + 12);
    h->first_index = get64(buf + 16);
    return 0;
}

int batch_decode(const uint8_t *buf, size_t len, struct fmt_batch_header *h,
                 struct sampan_entry *ents, uint64_t *extent, const char **why)
{
    int rc = batch_header_decode(buf, len, h, why);
    if (rc != 0) {
        return rc;
    }
    if (h->payload_len > FMT_BATCH_MAX_PAYLOAD) {
        return fail(why, "batch length out of range");
    }
    uint64_t ext = batch_extent(h->payload_len);
    if (ext > len) {
        return fail(why, "batch extends past the end of the file");
    }
    const uint8_t *payload = buf + FMT_BATCH_HDR;
    if (batch_crc(buf, payload, h->payload_len) != h->crc) {
        return fail(why, "batch checksum mismatch");
    }
    const uint8_t *end = payload + h->payload_len;
    if (get32(end) != FMT_BATCH_TRAILER) {
        return fail(why, "bad batch trailer");
    }
    for (const uint8_t *z = end + 4; z < buf + ext; z++) {
        if (*z != 0) {
            return fail(why, "non-zero batch padding");
        }
    }
    if (h->n_records == 0 || h->n_records > h->payload_len / FMT_RECORD_HDR) {
        return fail(why, "bad record count");
    }
    const uint8_t *p = payload;
    for (uint32_t i = 0; i < h->n_records; i++) {
        if ((size_t)(end - p) < FMT_RECORD_HDR) {
            return fail(why, "record header past the batch end");
        }
        struct sampan_entry e;
        e.term = get64(p);
        e.index = get64(p + 8);
        e.type = p[16];
        e.len = get32(p + 17);
        if ((size_t)(end - p - FMT_RECORD_HDR) < e.len) {
            return fail(why, "record data past the batch end");
        }
        if (e.index != h->first_index + i || e.index == 0) {
            return fail(why, "record index out of sequence");
        }
        if (!sampan_entry_type_known(e.type)) {
            return fail(why, "unknown record type");
        }
        e.data = e.len > 0 ? (uint8_t *)(uintptr_t)(p + FMT_RECORD_HDR) : NULL;
        if (ents) {
            ents[i] = e;
        }
        p += FMT_RECORD_HDR + e.len;
    }
    if (p != end) {
        return fail(why, "records do not fill the batch");
    }
    *extent = ext;
    return 0;
}

int snap_header_encode(const struct fmt_snap_header *h, uint8_t *out)
{
    /* The configuration first, so a refused one leaves out untouched. */
    uint8_t conf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t conf_len;
    if (sampan_membership_encode(&h->meta.conf, conf, sizeof(conf),
                                 &conf_len) != 0) {
        return SAMPAN_EINVAL;
    }
    memset(out, 0, FMT_SNAP_HDR_BYTES);
    memcpy(out, "SAMPSNAP", 8);
    put32(out + 8, FMT_SNAP_VERSION);
    put64(out + 12, h->meta.index);
    put64(out + 20, h->meta.term);
    put64(out + 28, h->data_len);
    put32(out + 36, h->data_crc);
    put32(out + FMT_SNAP_CONF_LEN_OFF, (uint32_t)conf_len);
    memcpy(out + FMT_SNAP_CONF_OFF, conf, conf_len);
    put32(out + FMT_SNAP_HDR_CRC_OFF, crc32c(0, out, FMT_SNAP_HDR_CRC_OFF));
    return 0;
}

/* fail() that also says where. */
static int fail_at(const char **why, uint64_t *where, uint64_t off,
                   const char *reason)
{
    if (where) {
        *where = off;
    }
    return fail(why, reason);
}

int snap_header_decode(const uint8_t *buf, size_t len,
                       struct fmt_snap_header *h, const char **why,
                       uint64_t *where)
{
    /* Magic and version before the length and checksum: a version 1 file
     * is shorter and checksummed elsewhere, and deserves its own words. */
    if (len < 12) {
        return fail_at(why, where, 0, "short snapshot header");
    }
    if (memcmp(buf, "SAMPSNAP", 8) != 0) {
        return fail_at(why, where, 0, "bad snapshot magic");
    }
    uint32_t version = get32(buf + 8);
    if (version == 1) {
        return fail_at(why, where, 8,
                       "snapshot format version 1 is no longer read (it "
                       "lacks learners and addresses): remove this node's "
                       "data and let it catch up from the leader");
    }
    if (version != FMT_SNAP_VERSION) {
        return fail_at(why, where, 8, "unsupported snapshot version");
    }
    if (len < FMT_SNAP_HDR_BYTES) {
        return fail_at(why, where, 0, "short snapshot header");
    }
    if (get32(buf + FMT_SNAP_HDR_CRC_OFF) !=
        crc32c(0, buf, FMT_SNAP_HDR_CRC_OFF)) {
        return fail_at(why, where, 0, "snapshot header checksum mismatch");
    }
    memset(h, 0, sizeof(*h));
    uint32_t conf_len = get32(buf + FMT_SNAP_CONF_LEN_OFF);
    if (conf_len > SAMPAN_MEMBERSHIP_MAX_BYTES) {
        return fail_at(why, where, FMT_SNAP_CONF_LEN_OFF,
                       "snapshot configuration length out of range");
    }
    if (sampan_membership_decode(buf + FMT_SNAP_CONF_OFF, conf_len,
                                 &h->meta.conf, why) != 0) {
        if (where) {
            *where = FMT_SNAP_CONF_OFF;
        }
        return SAMPAN_ECORRUPT;
    }
    for (uint64_t off = FMT_SNAP_CONF_OFF + conf_len;
         off < FMT_SNAP_HDR_CRC_OFF; off++) {
        if (buf[off] != 0) {
            return fail_at(why, where, off,
                           "non-zero bytes after the snapshot configuration");
        }
    }
    h->meta.index = get64(buf + 12);
    h->meta.term = get64(buf + 20);
    h->data_len = get64(buf + 28);
    h->data_crc = get32(buf + 36);
    return 0;
}

void name_wal_open(char *out, uint64_t seq)
{
    snprintf(out, FMT_NAME_MAX, "wal-%016llx.open", (unsigned long long)seq);
}

void name_wal_closed(char *out, uint64_t seq, uint64_t first, uint64_t last)
{
    snprintf(out, FMT_NAME_MAX, "wal-%016llx-%016llx-%016llx.seg",
             (unsigned long long)seq, (unsigned long long)first,
             (unsigned long long)last);
}

void name_snap(char *out, uint64_t term, uint64_t index)
{
    snprintf(out, FMT_NAME_MAX, "snap-%016llx-%016llx.snap",
             (unsigned long long)term, (unsigned long long)index);
}

void name_snap_tmp(char *out, uint64_t term, uint64_t index)
{
    snprintf(out, FMT_NAME_MAX, "snap-%016llx-%016llx.tmp",
             (unsigned long long)term, (unsigned long long)index);
}

/* Parses exactly 16 lowercase hex digits at s. */
static bool hex16(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else {
            return false;
        }
        x = (x << 4) | (uint64_t)d;
    }
    *v = x;
    return true;
}

struct fmt_name name_parse(const char *name)
{
    struct fmt_name n = {FMT_FILE_OTHER, 0, 0, 0};
    size_t len = strlen(name);
    if (strcmp(name, FMT_META_A) == 0 || strcmp(name, FMT_META_B) == 0) {
        n.kind = FMT_FILE_META;
    } else if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
        n.kind = FMT_FILE_TMP;
    } else if (len == 4 + 16 + 5 && strncmp(name, "wal-", 4) == 0 &&
               strcmp(name + 20, ".open") == 0 && hex16(name + 4, &n.a)) {
        n.kind = FMT_FILE_WAL_OPEN;
    } else if (len == 4 + 16 * 3 + 2 + 4 && strncmp(name, "wal-", 4) == 0 &&
               name[20] == '-' && name[37] == '-' &&
               strcmp(name + 54, ".seg") == 0 && hex16(name + 4, &n.a) &&
               hex16(name + 21, &n.b) && hex16(name + 38, &n.c)) {
        n.kind = FMT_FILE_WAL_CLOSED;
    } else if (len == 5 + 16 * 2 + 1 + 5 && strncmp(name, "snap-", 5) == 0 &&
               name[21] == '-' && strcmp(name + 38, ".snap") == 0 &&
               hex16(name + 5, &n.a) && hex16(name + 22, &n.b)) {
        n.kind = FMT_FILE_SNAP;
    }
    return n;
}
