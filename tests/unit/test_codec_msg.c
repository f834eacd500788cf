/* unit/test_codec_msg.c: the peer wire codec (src/codec/msg.c): a golden
 * frame pinning the documented layout, round trips of every message type
 * with random fields, entries and snapshot chunks, stream framing, and the
 * decoder's refusals (truncation, flipped bytes, counts and lengths that
 * overrun the frame, too many entries, max_frame, bad tag or version, a
 * snapshot configuration that is too long or fails its own decoder).
 * Frames under test sit in exact-size heap blocks so ASan catches any read
 * past their end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdlib.h>

#include "codec/crc32c.h"
#include "codec/msg.h"
#include "support/conf_gen.h"

#define MAX_GEN_ENTS 300u
#define POOL_BYTES (64u * 1024u)

/* splitmix64, seeded per test so failures replay. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A message and the storage its pointers use (owned here, no heap). */
struct gen {
    struct sampan_msg m;
    struct sampan_entry ents[MAX_GEN_ENTS];
    uint8_t pool[POOL_BYTES];
    size_t used;
};

static uint8_t *pool_take(struct gen *g, uint64_t *s, uint32_t len)
{
    if (len == 0 || g->used + len > POOL_BYTES) {
        return NULL;
    }
    uint8_t *p = g->pool + g->used;
    for (uint32_t i = 0; i < len; i++) {
        p[i] = (uint8_t)rnd(s);
    }
    g->used += len;
    return p;
}

/* A field value: small, huge, or anything, so every byte of every u64 is
 * exercised. */
static uint64_t rnd_field(uint64_t *s)
{
    switch (rnd(s) % 4) {
    case 0:
        return rnd(s) % 8;
    case 1:
        return UINT64_MAX - rnd(s) % 8;
    default:
        return rnd(s);
    }
}

/* A random message of `type` with n_ents entries (payloads of 0..max_len
 * bytes, zero-length ones included) and, for SNAPSHOT, random meta and a
 * chunk of 0..max_len bytes. */
static void gen_msg(struct gen *g, uint64_t *s, uint8_t type, size_t n_ents,
                    uint32_t max_len)
{
    memset(&g->m, 0, sizeof(g->m));
    g->used = 0;
    struct sampan_msg *m = &g->m;
    m->type = type;
    m->reject = rnd(s) & 1;
    m->done = rnd(s) & 1;
    m->from = rnd_field(s);
    m->to = rnd_field(s);
    m->term = rnd_field(s);
    m->log_term = rnd_field(s);
    m->index = rnd_field(s);
    m->commit = rnd_field(s);
    m->hint_index = rnd_field(s);
    m->hint_term = rnd_field(s);
    m->context = rnd_field(s);
    m->offset = rnd_field(s);
    assert_true(n_ents <= MAX_GEN_ENTS);
    for (size_t i = 0; i < n_ents; i++) {
        struct sampan_entry *e = &g->ents[i];
        e->term = rnd_field(s);
        e->index = rnd_field(s);
        e->type = (uint8_t)rnd(s);
        e->len = rnd(s) % 3 == 0 ? 0 : (uint32_t)(rnd(s) % (max_len + 1u));
        e->data = pool_take(g, s, e->len);
        if (e->data == NULL) {
            e->len = 0;
        }
    }
    m->n_entries = n_ents;
    m->entries = n_ents > 0 ? g->ents : NULL;
    if (type == SAMPAN_MSG_SNAPSHOT) {
        m->snapshot.index = rnd_field(s);
        m->snapshot.term = rnd_field(s);
        conf_random(&m->snapshot.conf, rnd, s);
        m->len = (uint32_t)(rnd(s) % (max_len + 1u));
        m->data = pool_take(g, s, m->len);
        if (m->data == NULL) {
            m->len = 0;
        }
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Encodes into an exact-size heap block (the caller frees it), checking
 * codec_msg_size() against what encode wrote. */
static uint8_t *encode_exact(const struct sampan_msg *m, size_t *len)
{
    size_t size = codec_msg_size(m);
    assert_true(size >= CODEC_FRAME_HDR + CODEC_BODY_FIXED);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    size_t written = 0;
    assert_int_equal(codec_msg_encode(m, buf, size, &written), 0);
    assert_int_equal(written, size);
    *len = size;
    return buf;
}

/* Recomputes the body checksum after a test edits the body on purpose, so
 * the check under test is reached rather than the CRC. */
static void reseal(uint8_t *frame, size_t len)
{
    put32(frame + 8, crc32c(0, frame + CODEC_FRAME_HDR, len - CODEC_FRAME_HDR));
}

static int in_frame(const uint8_t *p, uint32_t n, const uint8_t *frame,
                    size_t len)
{
    return p >= frame && p + n <= frame + len;
}

/* got (decoded from frame[0..len)) equals want in every field want's type
 * carries; the others are zero; payloads point into the frame. */
static void assert_msg_equal(const struct sampan_msg *want,
                             const struct sampan_msg *got, const uint8_t *frame,
                             size_t len)
{
    assert_int_equal(got->type, want->type);
    assert_int_equal(got->reject, want->reject);
    assert_int_equal(got->done, want->done);
    assert_true(got->from == want->from);
    assert_true(got->to == want->to);
    assert_true(got->term == want->term);
    assert_true(got->log_term == want->log_term);
    assert_true(got->index == want->index);
    assert_true(got->commit == want->commit);
    assert_true(got->hint_index == want->hint_index);
    assert_true(got->hint_term == want->hint_term);
    assert_true(got->context == want->context);
    assert_true(got->offset == want->offset);
    assert_int_equal(got->n_entries, want->n_entries);
    if (want->n_entries == 0) {
        assert_null(got->entries);
    }
    for (size_t i = 0; i < want->n_entries; i++) {
        const struct sampan_entry *a = &want->entries[i];
        const struct sampan_entry *b = &got->entries[i];
        assert_true(a->term == b->term);
        assert_true(a->index == b->index);
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->len, b->len);
        if (a->len == 0) {
            assert_null(b->data);
        } else {
            assert_true(in_frame(b->data, b->len, frame, len));
            assert_memory_equal(a->data, b->data, a->len);
        }
    }
    if (want->type != SAMPAN_MSG_SNAPSHOT) {
        struct sampan_snapshot_meta zero;
        memset(&zero, 0, sizeof(zero));
        assert_memory_equal(&got->snapshot, &zero, sizeof(zero));
        assert_int_equal(got->len, 0);
        assert_null(got->data);
        return;
    }
    assert_true(got->snapshot.index == want->snapshot.index);
    assert_true(got->snapshot.term == want->snapshot.term);
    assert_conf_equal(&got->snapshot.conf, &want->snapshot.conf);
    assert_int_equal(got->len, want->len);
    if (want->len == 0) {
        assert_null(got->data);
    } else {
        assert_true(in_frame(got->data, got->len, frame, len));
        assert_memory_equal(got->data, want->data, want->len);
    }
}

/* Encode, peek, decode, compare; frees the frame. */
static void roundtrip(const struct sampan_msg *m)
{
    size_t len;
    uint8_t *frame = encode_exact(m, &len);
    size_t flen = 0;
    assert_int_equal(codec_frame_peek(frame, len, len, &flen, NULL), 0);
    assert_int_equal(flen, len);
    struct sampan_entry *ents =
        malloc(sizeof(*ents) * (m->n_entries > 0 ? m->n_entries : 1));
    assert_non_null(ents);
    struct sampan_msg got;
    const char *why = NULL;
    int rc = codec_msg_decode(frame, len, ents, m->n_entries, &got, &why);
    if (rc != 0) {
        fail_msg("decode: %d (%s)", rc, why);
    }
    assert_msg_equal(m, &got, frame, len);
    free(ents);
    free(frame);
}

/* The layout of docs/protocol.md (peer protocol), byte by byte: an
 * APPEND_RESP-like APPEND with one 2-byte entry, then a SNAPSHOT whose
 * configuration has a voter, a learner marked for promotion and its address,
 * and a 3-byte chunk. Any change to the format must change these bytes (and
 * the doc). */
static void test_golden_frames(void **state)
{
    (void)state;
    uint8_t hi[2] = {'h', 'i'};
    struct sampan_entry e = {
        .term = 7, .index = 0x0102, .type = 1, .len = 2, .data = hi};
    struct sampan_msg m = {.type = SAMPAN_MSG_APPEND,
                           .reject = true,
                           .from = 1,
                           .to = 2,
                           .term = 7,
                           .log_term = 6,
                           .index = 0x0101,
                           .commit = 0x0100,
                           .hint_index = 3,
                           .hint_term = 4,
                           .context = 5,
                           .offset = 0x1122334455667788u,
                           .n_entries = 1,
                           .entries = &e};
    static const uint8_t body_a[] = {
        5,    0x01,                                     /* type, flags   */
        1,    0,    0,    0,    0,    0,    0,    0,    /* from          */
        2,    0,    0,    0,    0,    0,    0,    0,    /* to            */
        7,    0,    0,    0,    0,    0,    0,    0,    /* term          */
        6,    0,    0,    0,    0,    0,    0,    0,    /* log_term      */
        0x01, 0x01, 0,    0,    0,    0,    0,    0,    /* index         */
        0x00, 0x01, 0,    0,    0,    0,    0,    0,    /* commit        */
        3,    0,    0,    0,    0,    0,    0,    0,    /* hint_index    */
        4,    0,    0,    0,    0,    0,    0,    0,    /* hint_term     */
        5,    0,    0,    0,    0,    0,    0,    0,    /* context       */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* offset        */
        1,    0,    0,    0,                            /* n_entries     */
        7,    0,    0,    0,    0,    0,    0,    0,    /* entry term    */
        0x02, 0x01, 0,    0,    0,    0,    0,    0,    /* entry index   */
        1,                                              /* entry type    */
        2,    0,    0,    0,                            /* entry len     */
        'h',  'i',                                      /* entry data    */
    };
    size_t len;
    uint8_t *frame = encode_exact(&m, &len);
    assert_int_equal(len, 12 + sizeof(body_a));
    assert_int_equal(sizeof(body_a), 86 + 21 + 2);
    static const uint8_t hdr_a[8] = {'S', 'M', 'P', '2', 109, 0, 0, 0};
    assert_memory_equal(frame, hdr_a, 8);
    uint32_t crc = crc32c(0, body_a, sizeof(body_a));
    assert_int_equal(crc,
                     0xbe9207f4u); /* as in docs/protocol.md (peer protocol) */
    uint8_t crc_le[4];
    put32(crc_le, crc);
    assert_memory_equal(frame + 8, crc_le, 4);
    assert_memory_equal(frame + 12, body_a, sizeof(body_a));
    free(frame);

    uint8_t chunk[3] = {0xaa, 0xbb, 0xcc};
    struct sampan_msg s = {
        .type = SAMPAN_MSG_SNAPSHOT,
        .done = true,
        .from = 1,
        .to = 3,
        .term = 9,
        .offset = 4096,
        .snapshot = {.index = 100,
                     .term = 8,
                     .conf = {.n_voters = 1,
                              .voters = {1},
                              .n_learners = 1,
                              .learners = {4},
                              .learners_promote = 1,
                              .n_addrs = 1,
                              .addrs = {{.id = 4, .addr = "h:2"}}}},
        .len = 3,
        .data = chunk};
    static const uint8_t tail_s[] = {
        0,    0,    0,    0, /* n_entries         */
        100,  0,    0,    0,   0,
        0,    0,    0, /* snapshot index    */
        8,    0,    0,    0,   0,
        0,    0,    0,       /* snapshot term     */
        40,   0,    0,    0, /* conf_len          */
        1,    1,    0,    1,   1,
        0,    0,    0,       /* conf version, n_voters, n_outgoing,
                                n_learners, n_addrs, zero */
        1,    0,    0,    0, /* learners_promote  */
        1,    0,    0,    0,   0,
        0,    0,    0, /* voters[0]         */
        4,    0,    0,    0,   0,
        0,    0,    0, /* learners[0]       */
        4,    0,    0,    0,   0,
        0,    0,    0,         /* addrs[0].id       */
        3,    'h',  ':',  '2', /* length, address   */
        3,    0,    0,    0,   /* chunk len         */
        0xaa, 0xbb, 0xcc,      /* chunk data        */
    };
    frame = encode_exact(&s, &len);
    assert_int_equal(sizeof(tail_s), 4 + 20 + 40 + 4 + 3);
    assert_int_equal(len, 12 + 82 + sizeof(tail_s));
    assert_int_equal(frame[4], 82 + sizeof(tail_s));
    assert_int_equal(frame[12], SAMPAN_MSG_SNAPSHOT);
    assert_int_equal(frame[13], 0x02);             /* done */
    assert_int_equal(frame[12 + 2 + 9 * 8], 0x00); /* offset 4096 = 0x1000 */
    assert_int_equal(frame[12 + 2 + 9 * 8 + 1], 0x10);
    assert_memory_equal(frame + 12 + 82, tail_s, sizeof(tail_s));
    struct sampan_msg got;
    assert_int_equal(codec_msg_decode(frame, len, NULL, 0, &got, NULL), 0);
    assert_msg_equal(&s, &got, frame, len);
    free(frame);
}

/* A SNAPSHOT carries its whole configuration: joint (incoming and outgoing
 * voters), learners with promotion marks, addresses (the longest one
 * included); the largest configuration there can be; and none at all. */
static void test_snapshot_conf_roundtrip(void **state)
{
    (void)state;
    uint64_t s = 10;
    struct gen g;
    gen_msg(&g, &s, SAMPAN_MSG_SNAPSHOT, 0, 50);
    conf_example(&g.m.snapshot.conf);
    roundtrip(&g.m);
    for (int it = 0; it < 200; it++) {
        conf_random(&g.m.snapshot.conf, rnd, &s);
        roundtrip(&g.m);
    }
    /* Every member a voter on both sides of a joint configuration, each
     * with an address of the longest length. */
    struct sampan_membership *c = &g.m.snapshot.conf;
    memset(c, 0, sizeof(*c));
    c->n_voters = c->n_outgoing = c->n_addrs = SAMPAN_MAX_VOTERS;
    for (uint32_t i = 0; i < SAMPAN_MAX_VOTERS; i++) {
        c->voters[i] = c->outgoing[i] = c->addrs[i].id = UINT64_MAX - i;
        memset(c->addrs[i].addr, 'a' + (int)i, SAMPAN_ADDR_MAX - 1);
    }
    size_t plain = codec_msg_size(&g.m);
    roundtrip(&g.m);
    memset(c, 0, sizeof(*c));
    roundtrip(&g.m);
    /* 12-byte header, 32 ids, 16 addresses of 9 + 63 bytes. */
    assert_int_equal(plain - codec_msg_size(&g.m), 8 * 32 + 16 * 72);
}

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    uint64_t s = 1;
    struct gen g;
    for (uint8_t type = 1; type <= SAMPAN_MSG_TYPE_MAX; type++) {
        for (int it = 0; it < 100; it++) {
            size_t n = 0;
            switch (rnd(&s) % 4) {
            case 0:
                n = 0;
                break;
            case 1:
                n = 1;
                break;
            default:
                n = (size_t)(rnd(&s) % 40);
                break;
            }
            gen_msg(&g, &s, type, n, (uint32_t)(rnd(&s) % 200));
            roundtrip(&g.m);
        }
    }
}

/* The entry shapes one by one: none, one empty, one with a payload, many
 * mixed (empty and not), and a large payload. */
static void test_roundtrip_entry_shapes(void **state)
{
    (void)state;
    uint64_t s = 2;
    struct gen g;
    gen_msg(&g, &s, SAMPAN_MSG_APPEND, 0, 0);
    roundtrip(&g.m);
    gen_msg(&g, &s, SAMPAN_MSG_APPEND, 1, 0);
    assert_int_equal(g.ents[0].len, 0);
    roundtrip(&g.m);
    gen_msg(&g, &s, SAMPAN_MSG_PROPOSE, 1, 100);
    g.ents[0].len = 100;
    g.ents[0].data = g.pool;
    roundtrip(&g.m);
    gen_msg(&g, &s, SAMPAN_MSG_APPEND, MAX_GEN_ENTS, 100);
    size_t empty = 0;
    for (size_t i = 0; i < MAX_GEN_ENTS; i++) {
        empty += g.ents[i].len == 0;
    }
    assert_true(empty > 0 && empty < MAX_GEN_ENTS);
    roundtrip(&g.m);
    gen_msg(&g, &s, SAMPAN_MSG_APPEND, 2, 0);
    g.ents[1].len = POOL_BYTES;
    g.ents[1].data = g.pool;
    roundtrip(&g.m);
    /* A snapshot chunk: empty, and the whole pool. */
    gen_msg(&g, &s, SAMPAN_MSG_SNAPSHOT, 0, 0);
    assert_int_equal(g.m.len, 0);
    roundtrip(&g.m);
    g.m.len = POOL_BYTES;
    g.m.data = g.pool;
    conf_example(&g.m.snapshot.conf);
    roundtrip(&g.m);
}

/* snapshot, len and data travel only with SNAPSHOT: set on another type
 * they change neither the size nor the decoded message. */
static void test_unused_fields_not_sent(void **state)
{
    (void)state;
    uint64_t s = 3;
    struct gen g;
    gen_msg(&g, &s, SAMPAN_MSG_SNAPSHOT_RESP, 0, 0);
    size_t plain = codec_msg_size(&g.m);
    g.m.snapshot.index = 5;
    g.m.snapshot.conf.n_voters = 40; /* would be refused on a SNAPSHOT */
    g.m.len = 10;
    g.m.data = NULL; /* likewise */
    assert_int_equal(codec_msg_size(&g.m), plain);
    size_t len;
    uint8_t *frame = encode_exact(&g.m, &len);
    struct sampan_msg got;
    assert_int_equal(codec_msg_decode(frame, len, NULL, 0, &got, NULL), 0);
    assert_msg_equal(&g.m, &got, frame, len);
    free(frame);
}

/* Every proper prefix of a frame is "need more bytes" to peek and refused
 * by decode; one byte too many is refused by decode too. */
static void test_truncations(void **state)
{
    (void)state;
    uint64_t s = 4;
    struct gen g;
    const uint8_t types[] = {SAMPAN_MSG_HEARTBEAT, SAMPAN_MSG_APPEND,
                             SAMPAN_MSG_SNAPSHOT};
    struct sampan_entry ents[8];
    for (size_t t = 0; t < sizeof(types); t++) {
        gen_msg(&g, &s, types[t], types[t] == SAMPAN_MSG_HEARTBEAT ? 0 : 5, 20);
        size_t len;
        uint8_t *frame = encode_exact(&g.m, &len);
        for (size_t k = 0; k < len; k++) {
            size_t flen = 99;
            assert_int_equal(codec_frame_peek(frame, k, CODEC_MAX_FRAME_DEFAULT,
                                              &flen, NULL),
                             0);
            assert_int_equal(flen, 0);
            uint8_t *cut = malloc(k == 0 ? 1 : k);
            assert_non_null(cut);
            memcpy(cut, frame, k);
            struct sampan_msg got;
            const char *why = NULL;
            assert_int_equal(codec_msg_decode(cut, k, ents, 8, &got, &why),
                             SAMPAN_EINVAL);
            assert_non_null(why);
            free(cut);
        }
        uint8_t *longer = malloc(len + 1);
        assert_non_null(longer);
        memcpy(longer, frame, len);
        longer[len] = 0;
        size_t flen = 0;
        assert_int_equal(codec_frame_peek(longer, len + 1,
                                          CODEC_MAX_FRAME_DEFAULT, &flen, NULL),
                         0);
        assert_int_equal(flen, len);
        struct sampan_msg got;
        assert_int_equal(codec_msg_decode(longer, len + 1, ents, 8, &got, NULL),
                         SAMPAN_EINVAL);
        free(longer);
        free(frame);
    }
}

/* Several frames back to back, arriving in pieces of random sizes, come
 * out one by one through peek, each decoding to what was sent. */
static void test_stream_framing(void **state)
{
    (void)state;
    uint64_t s = 5;
    struct gen g[3];
    uint8_t stream[8192];
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        gen_msg(&g[i], &s, (uint8_t)(SAMPAN_MSG_APPEND + 4 * i), 3, 50);
        size_t w = 0;
        assert_int_equal(codec_msg_encode(&g[i].m, stream + total,
                                          sizeof(stream) - total, &w),
                         0);
        total += w;
    }
    uint8_t rx[8192];
    size_t have = 0;
    size_t sent = 0;
    int next = 0;
    struct sampan_entry ents[4];
    while (sent < total || have > 0) {
        size_t piece = 1 + (size_t)(rnd(&s) % 40);
        if (piece > total - sent) {
            piece = total - sent;
        }
        memcpy(rx + have, stream + sent, piece);
        have += piece;
        sent += piece;
        for (;;) {
            size_t flen = 0;
            assert_int_equal(codec_frame_peek(rx, have, CODEC_MAX_FRAME_DEFAULT,
                                              &flen, NULL),
                             0);
            if (flen == 0) {
                break;
            }
            struct sampan_msg got;
            assert_true(next < 3);
            assert_int_equal(codec_msg_decode(rx, flen, ents, 4, &got, NULL),
                             0);
            assert_msg_equal(&g[next].m, &got, rx, flen);
            next++;
            memmove(rx, rx + flen, have - flen);
            have -= flen;
        }
        if (sent == total) {
            assert_int_equal(have, 0);
        }
    }
    assert_int_equal(next, 3);
}

/* Any single damaged byte is refused: the tag and version as such, the
 * length as a mismatch with the bytes given, the rest by the checksum. */
static void test_flipped_bytes(void **state)
{
    (void)state;
    uint64_t s = 6;
    struct gen g;
    gen_msg(&g, &s, SAMPAN_MSG_SNAPSHOT, 4, 16);
    size_t len;
    uint8_t *frame = encode_exact(&g.m, &len);
    struct sampan_entry ents[4];
    const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t f = 0; f < sizeof(flips); f++) {
            frame[pos] ^= flips[f];
            struct sampan_msg got;
            int rc = codec_msg_decode(frame, len, ents, 4, &got, NULL);
            int want = pos < 8 ? SAMPAN_EINVAL : SAMPAN_ECORRUPT;
            assert_int_equal(rc, want);
            frame[pos] ^= flips[f];
        }
    }
    struct sampan_msg got;
    assert_int_equal(codec_msg_decode(frame, len, ents, 4, &got, NULL), 0);
    free(frame);
}

/* Decodes a resealed frame and checks the error and that out is zeroed
 * (but for n_entries on ETOOBIG). */
static void expect_refused(uint8_t *frame, size_t len, size_t max_ents,
                           int want, const char *want_why)
{
    reseal(frame, len);
    struct sampan_entry ents[8];
    struct sampan_msg got;
    memset(&got, 0x5a, sizeof(got));
    const char *why = NULL;
    int rc = codec_msg_decode(frame, len, max_ents ? ents : NULL, max_ents,
                              &got, &why);
    assert_int_equal(rc, want);
    assert_non_null(why);
    assert_string_equal(why, want_why);
    got.n_entries = 0;
    struct sampan_msg zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&got, &zero, sizeof(zero));
}

#define OFF_FLAGS 13u  /* frame offset of the flags byte  */
#define OFF_COUNT 94u  /* frame offset of n_entries       */
#define OFF_ENTRY0 98u /* frame offset of the first entry */

/* Counts and lengths that claim more than the frame holds, and every other
 * structural refusal, each behind a valid checksum. */
static void test_bad_counts_and_lengths(void **state)
{
    (void)state;
    uint64_t s = 7;
    struct gen g;
    size_t len;
    uint8_t *frame;

    /* n_entries far beyond the bytes. */
    gen_msg(&g, &s, SAMPAN_MSG_APPEND, 2, 0);
    g.ents[0].len = g.ents[1].len = 0;
    frame = encode_exact(&g.m, &len);
    put32(frame + OFF_COUNT, UINT32_MAX);
    expect_refused(frame, len, 8, SAMPAN_EINVAL,
                   "entry count exceeds the frame");
    /* One more entry than fits by size. */
    put32(frame + OFF_COUNT, 3);
    expect_refused(frame, len, 8, SAMPAN_EINVAL,
                   "entry count exceeds the frame");
    /* Fits by the count bound (2 headers), but the entries then overrun:
     * the first entry claims 1 byte, so the second header is cut. */
    put32(frame + OFF_COUNT, 2);
    put32(frame + OFF_ENTRY0 + 17, 1);
    expect_refused(frame, len, 8, SAMPAN_EINVAL, "entry header past the body");
    /* An entry length past the end. */
    put32(frame + OFF_COUNT, 1);
    put32(frame + OFF_ENTRY0 + 17, UINT32_MAX);
    expect_refused(frame, len, 8, SAMPAN_EINVAL,
                   "entry length exceeds the frame");
    put32(frame + OFF_ENTRY0 + 17, 22); /* exactly one byte too many */
    expect_refused(frame, len, 8, SAMPAN_EINVAL,
                   "entry length exceeds the frame");
    /* Count right, lengths right, but a byte left over. */
    put32(frame + OFF_ENTRY0 + 17, 0);
    put32(frame + OFF_COUNT, 1);
    expect_refused(frame, len, 8, SAMPAN_EINVAL,
                   "bytes left over after the message");
    put32(frame + OFF_COUNT, 2);
    /* Type and flags. */
    frame[12] = 0;
    expect_refused(frame, len, 8, SAMPAN_EINVAL, "unknown message type");
    frame[12] = SAMPAN_MSG_TYPE_MAX + 1;
    expect_refused(frame, len, 8, SAMPAN_EINVAL, "unknown message type");
    frame[12] = SAMPAN_MSG_APPEND;
    frame[OFF_FLAGS] = 0x04;
    expect_refused(frame, len, 8, SAMPAN_EINVAL, "reserved flag bits set");
    frame[OFF_FLAGS] = 0x03;
    reseal(frame, len);
    struct sampan_msg got;
    struct sampan_entry ents[8];
    assert_int_equal(codec_msg_decode(frame, len, ents, 8, &got, NULL), 0);
    /* More entries than the scratch: ETOOBIG with the count, and a retry
     * with enough scratch works. */
    expect_refused(frame, len, 1, SAMPAN_ETOOBIG,
                   "more entries than the scratch");
    memset(&got, 0, sizeof(got));
    assert_int_equal(codec_msg_decode(frame, len, ents, 1, &got, NULL),
                     SAMPAN_ETOOBIG);
    assert_int_equal(got.n_entries, 2);
    assert_int_equal(codec_msg_decode(frame, len, NULL, 0, &got, NULL),
                     SAMPAN_ETOOBIG);
    assert_int_equal(
        codec_msg_decode(frame, len, ents, got.n_entries, &got, NULL), 0);
    free(frame);

    /* Snapshot meta: the configuration too long for any, past the body,
     * cut short, or failing its own rules; the chunk too long. */
    gen_msg(&g, &s, SAMPAN_MSG_SNAPSHOT, 0, 0);
    memset(&g.m.snapshot.conf, 0, sizeof(g.m.snapshot.conf));
    g.m.snapshot.conf.n_voters = 2;
    g.m.snapshot.conf.voters[0] = 1;
    g.m.snapshot.conf.voters[1] = 2;
    g.m.len = 0;
    frame = encode_exact(&g.m, &len);
    size_t off_conf_len = OFF_ENTRY0 + 16;
    size_t off_conf = off_conf_len + 4;
    size_t off_chunk = off_conf + 12 + 16;
    assert_int_equal(off_chunk + 4, len);
    put32(frame + off_conf_len, SAMPAN_MEMBERSHIP_MAX_BYTES + 1);
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "snapshot configuration longer than the largest one");
    put32(frame + off_conf_len, UINT32_MAX);
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "snapshot configuration longer than the largest one");
    put32(frame + off_conf_len, 12 + 16 + 1); /* eats into the chunk len */
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "snapshot configuration past the body");
    put32(frame + off_conf_len, 12 + 16 - 1);
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "member ids past the end of the configuration");
    put32(frame + off_conf_len, 12 + 16);
    frame[off_conf + 12 + 8] = 1; /* voters[1] = voters[0] */
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "member id zero or listed twice");
    frame[off_conf + 12 + 8] = 2;
    frame[off_conf] = 2;
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "unknown configuration format version");
    frame[off_conf] = 1;
    frame[off_conf + 8] = 1; /* a promotion mark, but no learner */
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "promotion mark on a missing learner");
    frame[off_conf + 8] = 0;
    put32(frame + off_chunk, 1);
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "chunk length exceeds the frame");
    put32(frame + off_chunk, UINT32_MAX);
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "chunk length exceeds the frame");
    put32(frame + off_chunk, 0);
    /* The same body as any other type has 52 bytes too many. */
    frame[12] = SAMPAN_MSG_SNAPSHOT_RESP;
    expect_refused(frame, len, 0, SAMPAN_EINVAL,
                   "bytes left over after the message");
    free(frame);

    /* A SNAPSHOT body cut right after the fixed fields and count. */
    gen_msg(&g, &s, SAMPAN_MSG_HEARTBEAT, 0, 0);
    frame = encode_exact(&g.m, &len);
    frame[12] = SAMPAN_MSG_SNAPSHOT;
    expect_refused(frame, len, 0, SAMPAN_EINVAL, "snapshot meta past the body");
    free(frame);
}

/* The header: tag and version judged from the first bytes, a body too
 * short for the fixed fields, max_frame at its boundary. */
static void test_header_and_max_frame(void **state)
{
    (void)state;
    uint64_t s = 8;
    struct gen g;
    gen_msg(&g, &s, SAMPAN_MSG_APPEND, 3, 30);
    size_t len;
    uint8_t *frame = encode_exact(&g.m, &len);
    size_t flen = 7;
    const char *why = NULL;

    assert_int_equal(codec_frame_peek(frame, len, len, &flen, NULL), 0);
    assert_int_equal(flen, len);
    flen = 7;
    assert_int_equal(codec_frame_peek(frame, len, len - 1, &flen, &why),
                     SAMPAN_ETOOBIG);
    assert_int_equal(flen, 0);
    assert_string_equal(why, "frame larger than the maximum");
    /* Judged on the header alone, before the body arrives. */
    assert_int_equal(codec_frame_peek(frame, 8, len - 1, &flen, NULL),
                     SAMPAN_ETOOBIG);
    assert_int_equal(codec_frame_peek(frame, 8, 11, &flen, NULL),
                     SAMPAN_ETOOBIG);
    assert_int_equal(codec_frame_peek(frame, 8, 0, &flen, NULL),
                     SAMPAN_ETOOBIG);

    uint8_t hdr[12];
    memcpy(hdr, frame, 12);
    put32(hdr + 4, UINT32_MAX);
    assert_int_equal(codec_frame_peek(hdr, 12, SIZE_MAX, &flen, NULL),
                     SAMPAN_ETOOBIG);
    put32(hdr + 4, CODEC_MAX_BODY);
    assert_int_equal(codec_frame_peek(hdr, 12, SIZE_MAX, &flen, NULL), 0);
    assert_int_equal(flen, 0);
    put32(hdr + 4, CODEC_BODY_FIXED - 1);
    assert_int_equal(codec_frame_peek(hdr, 8, SIZE_MAX, &flen, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "body shorter than its fixed fields");
    assert_int_equal(codec_frame_peek(hdr, 7, SIZE_MAX, &flen, NULL), 0);

    /* Tag: a wrong first byte is enough; the version is byte 3. */
    uint8_t http[1] = {'G'};
    assert_int_equal(codec_frame_peek(http, 1, SIZE_MAX, &flen, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "bad frame tag (not a peer)");
    assert_int_equal(codec_frame_peek(NULL, 0, SIZE_MAX, &flen, NULL), 0);
    assert_int_equal(flen, 0);
    /* Version 1 (voter ids only in SNAPSHOT) is refused like any other. */
    frame[3] = '1';
    assert_int_equal(codec_frame_peek(frame, 4, SIZE_MAX, &flen, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "unsupported protocol version");
    frame[3] = '3';
    assert_int_equal(codec_frame_peek(frame, 3, SIZE_MAX, &flen, NULL), 0);
    assert_int_equal(codec_frame_peek(frame, 4, SIZE_MAX, &flen, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "unsupported protocol version");
    struct sampan_entry ents[3];
    struct sampan_msg got;
    assert_int_equal(codec_msg_decode(frame, len, ents, 3, &got, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "unsupported protocol version");
    assert_int_equal(codec_msg_decode(frame, 2, ents, 3, &got, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "short frame");
    frame[3] = '2';
    frame[0] = 's';
    assert_int_equal(codec_msg_decode(frame, 2, ents, 3, &got, &why),
                     SAMPAN_EINVAL);
    assert_string_equal(why, "bad frame tag (not a peer)");
    frame[0] = 'S';
    assert_int_equal(codec_msg_decode(frame, len, ents, 3, &got, &why), 0);
    free(frame);
}

/* Encode refuses a short buffer without writing past it, and messages it
 * cannot represent; size() is 0 for those. */
static void test_encode_errors(void **state)
{
    (void)state;
    uint64_t s = 9;
    struct gen g;
    gen_msg(&g, &s, SAMPAN_MSG_SNAPSHOT, 4, 20);
    size_t size = codec_msg_size(&g.m);
    uint8_t *buf = malloc(size + 16);
    assert_non_null(buf);
    for (size_t cap = 0; cap < size; cap++) {
        memset(buf, 0xee, size + 16);
        size_t w = 12345;
        assert_int_equal(codec_msg_encode(&g.m, buf, cap, &w), SAMPAN_ETOOBIG);
        assert_int_equal(w, 12345);
        for (size_t i = 0; i < size + 16; i++) {
            assert_int_equal(buf[i], 0xee);
        }
    }
    size_t w = 0;
    assert_int_equal(codec_msg_encode(&g.m, buf, size + 16, &w), 0);
    assert_int_equal(w, size);
    assert_int_equal(buf[size], 0xee);
    free(buf);

    struct sampan_msg bad = g.m;
    bad.type = 0;
    assert_int_equal(codec_msg_size(&bad), 0);
    uint8_t big[4096];
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);
    bad.type = SAMPAN_MSG_TYPE_MAX + 1;
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);
    bad = g.m;
    bad.snapshot.conf.n_voters = SAMPAN_MAX_VOTERS + 1;
    assert_int_equal(codec_msg_size(&bad), 0);
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);
    /* Any configuration breaking a rule, not only too many voters. */
    bad = g.m;
    conf_example(&bad.snapshot.conf);
    bad.snapshot.conf.learners[0] = bad.snapshot.conf.voters[0];
    assert_int_equal(codec_msg_size(&bad), 0);
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);
    bad = g.m;
    bad.len = 1;
    bad.data = NULL;
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);
    bad = g.m;
    bad.entries = NULL;
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);
    bad = g.m;
    g.ents[2].len = 1;
    g.ents[2].data = NULL;
    assert_int_equal(codec_msg_encode(&bad, big, sizeof(big), &w),
                     SAMPAN_EINVAL);

    /* Bodies over CODEC_MAX_BODY: sizes are summed without reading any
     * payload, so a dummy pointer is safe here. */
    uint8_t dummy = 0;
    struct sampan_entry huge[2] = {
        {.term = 1, .index = 1, .type = 1, .len = UINT32_MAX, .data = &dummy},
        {.term = 1, .index = 2, .type = 1, .len = 1, .data = &dummy},
    };
    struct sampan_msg m = {
        .type = SAMPAN_MSG_APPEND, .n_entries = 1, .entries = huge};
    assert_int_equal(codec_msg_size(&m), 0);
    assert_int_equal(codec_msg_encode(&m, big, sizeof(big), &w),
                     SAMPAN_ETOOBIG);
    huge[0].len = CODEC_MAX_BODY - CODEC_BODY_FIXED - CODEC_ENTRY_HDR;
    assert_int_equal(codec_msg_size(&m), CODEC_FRAME_HDR + CODEC_MAX_BODY);
    m.n_entries = 2;
    assert_int_equal(codec_msg_size(&m), 0);
    m.n_entries = 1;
    m.type = SAMPAN_MSG_SNAPSHOT;
    assert_int_equal(codec_msg_size(&m), 0);
    assert_int_equal(codec_msg_encode(&m, big, sizeof(big), &w),
                     SAMPAN_ETOOBIG);
    if (SIZE_MAX > UINT32_MAX) {
        m.type = SAMPAN_MSG_APPEND;
        m.n_entries = (size_t)UINT32_MAX + 1u;
        assert_int_equal(codec_msg_size(&m), 0);
        assert_int_equal(codec_msg_encode(&m, big, sizeof(big), &w),
                         SAMPAN_ETOOBIG);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_frames),
        cmocka_unit_test(test_snapshot_conf_roundtrip),
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_roundtrip_entry_shapes),
        cmocka_unit_test(test_unused_fields_not_sent),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_stream_framing),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_bad_counts_and_lengths),
        cmocka_unit_test(test_header_and_max_frame),
        cmocka_unit_test(test_encode_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
