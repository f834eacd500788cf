/* fuzz/fuzz_msg_decode.c: the peer wire decoders of src/codec/msg.h on
 * arbitrary and on nearly valid frames.
 *
 * Modes (first byte): the rest verbatim as a frame; the rest as a body
 * behind a forged valid header (tag, length, CRC), so the body's own
 * checks are reached without a coverage-guided fuzzer having to forge
 * CRCs; or a message built from input-chosen fields (some unencodable,
 * among them SNAPSHOTs whose configuration breaks a rule: fuzz_conf.h),
 * encoded, then cut short and/or damaged (a count, length, configuration
 * count or the type set near its value, and input-chosen byte edits), CRC
 * optionally re-sealed.
 * Properties: no read outside the bytes given (exact-size heap blocks
 * under ASan); peek is consistent over every prefix of the bytes (a
 * verdict, once given, never changes as bytes arrive); a decoded message
 * has payloads inside the frame, a valid configuration, and re-encodes to
 * exactly the same bytes (the encoding is canonical); ETOOBIG reports a count
 * that fits the frame and a retry with that much scratch never says ETOOBIG
 * again; an untouched encoding decodes to the message encoded, with size() ==
 * written.
 *
 *   build/bin/fuzz-msg_decode-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "codec/msg.h"
#include "fuzz_conf.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 8u
#define MAX_PAYLOAD 64u
#define SCRATCH 4u /* below MAX_ENTRIES: the ETOOBIG path is reached */

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_msg_decode: check failed: %s (%s:%d)\n",     \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static int inside(const uint8_t *p, uint32_t n, const uint8_t *buf, size_t len)
{
    return n == 0 ? p == NULL : (p >= buf && p + n <= buf + len);
}

/* Peek over every prefix of buf: once a verdict (an error, or a whole
 * frame) is given, longer prefixes give the same one. Returns the verdict
 * for all len bytes, *frame_len set. */
static int peek_prefixes(const uint8_t *buf, size_t len, size_t max_frame,
                         size_t *frame_len)
{
    int verdict = 0;
    size_t flen = 0;
    for (size_t k = 0; k <= len; k++) {
        size_t f = 12345;
        const char *why = NULL;
        int rc = codec_frame_peek(buf, k, max_frame, &f, &why);
        FUZZ_CHECK(rc == 0 || rc == SAMPAN_EINVAL || rc == SAMPAN_ETOOBIG);
        FUZZ_CHECK(rc == 0 || (why != NULL && f == 0));
        FUZZ_CHECK(f <= k);
        if (verdict != 0 || flen != 0) {
            FUZZ_CHECK(rc == verdict && f == flen);
        }
        verdict = rc;
        flen = f;
    }
    *frame_len = flen;
    return verdict;
}

/* What a successful decode promises, checked on m decoded from buf. */
static void check_decoded(const struct sampan_msg *m, const uint8_t *buf,
                          size_t len)
{
    FUZZ_CHECK(m->type >= 1 && m->type <= SAMPAN_MSG_TYPE_MAX);
    FUZZ_CHECK((m->n_entries == 0) == (m->entries == NULL));
    for (size_t i = 0; i < m->n_entries; i++) {
        FUZZ_CHECK(inside(m->entries[i].data, m->entries[i].len, buf, len));
    }
    FUZZ_CHECK(inside(m->data, m->len, buf, len));
    FUZZ_CHECK(sampan_membership_validate(&m->snapshot.conf, NULL) == 0);
    if (m->type != SAMPAN_MSG_SNAPSHOT) {
        struct sampan_membership none;
        memset(&none, 0, sizeof(none));
        FUZZ_CHECK(m->len == 0 && m->snapshot.index == 0 &&
                   fuzz_conf_equal(&m->snapshot.conf, &none));
    }
    /* Canonical: the same message encodes to the very same bytes. */
    FUZZ_CHECK(codec_msg_size(m) == len);
    uint8_t *again = malloc(len);
    FUZZ_CHECK(again != NULL);
    size_t w = 0;
    FUZZ_CHECK(codec_msg_encode(m, again, len, &w) == 0 && w == len);
    FUZZ_CHECK(memcmp(again, buf, len) == 0);
    free(again);
    size_t flen = 0;
    FUZZ_CHECK(codec_frame_peek(buf, len, len, &flen, NULL) == 0 &&
               flen == len);
}

static void decode_and_check(const uint8_t *buf, size_t len)
{
    size_t flen = 0;
    int verdict = peek_prefixes(buf, len, CODEC_MAX_FRAME_DEFAULT, &flen);
    struct sampan_entry ents[SCRATCH];
    struct sampan_msg m;
    const char *why = NULL;
    int rc = codec_msg_decode(buf, len, ents, SCRATCH, &m, &why);
    if (rc == SAMPAN_ETOOBIG) {
        FUZZ_CHECK(why != NULL);
        FUZZ_CHECK(m.n_entries > SCRATCH &&
                   m.n_entries <= len / CODEC_ENTRY_HDR);
        struct sampan_entry *more = calloc(m.n_entries, sizeof(*more));
        FUZZ_CHECK(more != NULL);
        size_t n = m.n_entries;
        rc = codec_msg_decode(buf, len, more, n, &m, &why);
        FUZZ_CHECK(rc != SAMPAN_ETOOBIG);
        if (rc == 0) {
            FUZZ_CHECK(m.n_entries == n);
            check_decoded(&m, buf, len);
        }
        free(more);
    } else if (rc == 0) {
        check_decoded(&m, buf, len);
    }
    if (rc != 0) {
        FUZZ_CHECK((rc == SAMPAN_EINVAL || rc == SAMPAN_ECORRUPT) &&
                   why != NULL);
    } else {
        /* Whatever decodes was framed by peek as exactly these bytes
         * (every frame this target makes is under the default max). */
        FUZZ_CHECK(verdict == 0 && flen == len);
    }
}

/* Mode 1: input bytes as a body behind a valid header. */
static void forged_header(const uint8_t *body, size_t n)
{
    size_t len = CODEC_FRAME_HDR + n;
    uint8_t *buf = malloc(len);
    FUZZ_CHECK(buf != NULL);
    fuzz_put32(buf, CODEC_FRAME_TAG);
    fuzz_put32(buf + 4, (uint32_t)n);
    fuzz_put32(buf + 8, crc32c(0, body, n));
    if (n > 0) {
        memcpy(buf + CODEC_FRAME_HDR, body, n);
    }
    decode_and_check(buf, len);
    free(buf);
}

/* A message and the heap payloads it owns (freed by gen_free). */
struct gen {
    struct sampan_msg m;
    struct sampan_entry ents[MAX_ENTRIES];
};

static void gen_build(struct fuzz_in *in, struct gen *g)
{
    memset(g, 0, sizeof(*g));
    struct sampan_msg *m = &g->m;
    m->type = fuzz_u8(in) % (SAMPAN_MSG_TYPE_MAX + 2u); /* 0, 15: invalid */
    uint8_t f = fuzz_u8(in);
    m->reject = (f & 1u) != 0;
    m->done = (f & 2u) != 0;
    uint64_t *const fields[10] = {
        &m->from,   &m->to,         &m->term,      &m->log_term, &m->index,
        &m->commit, &m->hint_index, &m->hint_term, &m->context,  &m->offset};
    for (int i = 0; i < 10; i++) {
        *fields[i] = fuzz_near(in, 1);
    }
    m->n_entries = fuzz_u8(in) % (MAX_ENTRIES + 1u);
    m->entries = m->n_entries > 0 ? g->ents : NULL;
    for (size_t i = 0; i < m->n_entries; i++) {
        struct sampan_entry *e = &g->ents[i];
        e->term = fuzz_near(in, 1);
        e->index = fuzz_near(in, 1);
        e->type = fuzz_u8(in);
        e->data = fuzz_bytes(in, MAX_PAYLOAD, &e->len);
    }
    /* Snapshot fields on every type: encode must ignore them but on
     * SNAPSHOT, where an invalid configuration tests refusal. */
    m->snapshot.index = fuzz_near(in, 1);
    m->snapshot.term = fuzz_near(in, 1);
    fuzz_conf(in, &m->snapshot.conf);
    m->data = fuzz_bytes(in, MAX_PAYLOAD, &m->len);
}

static void gen_free(struct gen *g)
{
    for (size_t i = 0; i < g->m.n_entries; i++) {
        free(g->ents[i].data);
    }
    free(g->m.data);
}

/* got, decoded from an untouched encoding of want, equals it in every
 * field want's type carries. */
static void check_equal(const struct sampan_msg *want,
                        const struct sampan_msg *got)
{
    FUZZ_CHECK(got->type == want->type && got->reject == want->reject &&
               got->done == want->done);
    FUZZ_CHECK(got->from == want->from && got->to == want->to &&
               got->term == want->term && got->log_term == want->log_term &&
               got->index == want->index && got->commit == want->commit &&
               got->hint_index == want->hint_index &&
               got->hint_term == want->hint_term &&
               got->context == want->context && got->offset == want->offset);
    FUZZ_CHECK(got->n_entries == want->n_entries);
    for (size_t i = 0; i < want->n_entries; i++) {
        const struct sampan_entry *a = &want->entries[i];
        const struct sampan_entry *b = &got->entries[i];
        FUZZ_CHECK(a->term == b->term && a->index == b->index &&
                   a->type == b->type && a->len == b->len);
        FUZZ_CHECK(a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
    }
    if (want->type != SAMPAN_MSG_SNAPSHOT) {
        return;
    }
    const struct sampan_snapshot_meta *a = &want->snapshot;
    const struct sampan_snapshot_meta *b = &got->snapshot;
    FUZZ_CHECK(a->index == b->index && a->term == b->term &&
               fuzz_conf_equal(&a->conf, &b->conf));
    FUZZ_CHECK(
        got->len == want->len &&
        (want->len == 0 || memcmp(got->data, want->data, want->len) == 0));
}

/* Bytes of m's encoded configuration (m is encodable). */
static size_t conf_len(const struct sampan_msg *m)
{
    uint8_t conf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t n = 0;
    FUZZ_CHECK(sampan_membership_encode(&m->snapshot.conf, conf, sizeof(conf),
                                        &n) == 0);
    return n;
}

/* Frame offsets of m's encoded u32 counts and lengths (body_len,
 * n_entries, each entry's len, the configuration's length, the u32 holding
 * its four list counts, the chunk's len), the fields whose off-by-one
 * values the decoder's bounds checks are about. */
static size_t length_fields(const struct sampan_msg *m, size_t *pos)
{
    size_t n = 0;
    pos[n++] = 4;
    pos[n++] = CODEC_FRAME_HDR + 82;
    size_t at = CODEC_FRAME_HDR + CODEC_BODY_FIXED;
    for (size_t i = 0; i < m->n_entries; i++) {
        pos[n++] = at + 17;
        at += CODEC_ENTRY_HDR + m->entries[i].len;
    }
    if (m->type == SAMPAN_MSG_SNAPSHOT) {
        pos[n++] = at + 16;
        pos[n++] = at + 21; /* n_voters, n_outgoing, n_learners, n_addrs */
        pos[n++] = at + 20 + conf_len(m);
    }
    return n;
}

/* Sets one length field, or the type byte, of a frame to a value near
 * what it was: structure-aware damage that reaches each bounds check at
 * its boundary, which random byte edits almost never do. */
static void nudge(struct fuzz_in *in, const struct sampan_msg *m, uint8_t *buf,
                  size_t len)
{
    size_t pos[5 + MAX_ENTRIES];
    size_t n = length_fields(m, pos);
    size_t k = fuzz_u8(in) % (n + 1);
    if (k == n) {
        if (len > CODEC_FRAME_HDR) {
            buf[CODEC_FRAME_HDR] = fuzz_u8(in) % (SAMPAN_MSG_TYPE_MAX + 2u);
        }
        return;
    }
    if (pos[k] + 4 > len) {
        return;
    }
    uint32_t old = 0;
    for (int i = 3; i >= 0; i--) {
        old = (old << 8) | buf[pos[k] + (size_t)i];
    }
    fuzz_put32(buf + pos[k], (uint32_t)fuzz_near(in, old));
}

/* Modes 2, 3: encode a built message, check the untouched round trip, then
 * decode a damaged or shortened copy. */
static void encoded(struct fuzz_in *in, uint8_t mode)
{
    struct gen g;
    gen_build(in, &g);
    size_t size = codec_msg_size(&g.m);
    size_t cap = size > 0 ? size : 1;
    uint8_t *buf = malloc(cap);
    FUZZ_CHECK(buf != NULL);
    size_t w = 0;
    int rc = codec_msg_encode(&g.m, buf, cap, &w);
    if (size == 0) {
        /* Unencodable: only these reasons exist in this generator. */
        FUZZ_CHECK(rc == SAMPAN_EINVAL);
        FUZZ_CHECK(g.m.type == 0 || g.m.type > SAMPAN_MSG_TYPE_MAX ||
                   (g.m.type == SAMPAN_MSG_SNAPSHOT &&
                    sampan_membership_validate(&g.m.snapshot.conf, NULL) != 0));
        free(buf);
        gen_free(&g);
        return;
    }
    FUZZ_CHECK(rc == 0 && w == size);
    struct sampan_entry ents[MAX_ENTRIES];
    struct sampan_msg got;
    FUZZ_CHECK(codec_msg_decode(buf, size, ents, MAX_ENTRIES, &got, NULL) == 0);
    check_equal(&g.m, &got);
    /* Exact-size copy: whole, or cut short to test length checks. */
    size_t len = size;
    if ((mode & 4u) != 0) {
        len = (((size_t)fuzz_u8(in) << 8) | fuzz_u8(in)) % (size + 1);
    }
    uint8_t *exact = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, buf, len);
    if ((mode & 16u) != 0) {
        nudge(in, &g.m, exact, len);
    }
    fuzz_edit(in, exact, len);
    if ((mode & 8u) != 0 && len >= CODEC_FRAME_HDR) {
        fuzz_put32(exact + 8,
                   crc32c(0, exact + CODEC_FRAME_HDR, len - CODEC_FRAME_HDR));
    }
    decode_and_check(exact, len);
    free(exact);
    free(buf);
    gen_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in);
    switch (mode & 3u) {
    case 0:
        decode_and_check(in.p, in.n);
        break;
    case 1:
        forged_header(in.p, in.n);
        break;
    default:
        encoded(&in, mode);
        break;
    }
    return 0;
}
