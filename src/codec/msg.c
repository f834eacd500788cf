/* codec/msg.c: encoding, framing and decoding of peer messages (see msg.h
 * for the contracts, docs/protocol.md (peer protocol) for the layout). Pure
 * functions over bounded byte buffers: every length is checked against the
 * bytes left before those bytes are read. */
#include <string.h>

#include "codec/crc32c.h"
#include "codec/le.h"
#include "codec/msg.h"

static int fail(const char **why, int err, const char *reason)
{
    if (why) {
        *why = reason;
    }
    return err;
}

/* Encodes a SNAPSHOT's configuration into out[0..cap), or with out NULL
 * into a scratch buffer, only to learn its length. The one encoding of a
 * configuration (sampan_membership_encode) travels here as in log entries
 * and snapshot files. SAMPAN_EINVAL: not a valid membership. */
static int snapshot_conf(const struct sampan_msg *m, uint8_t *out, size_t cap,
                         size_t *len)
{
    uint8_t scratch[SAMPAN_MEMBERSHIP_MAX_BYTES];
    if (out == NULL) {
        out = scratch;
        cap = sizeof(scratch);
    }
    int rc = sampan_membership_encode(&m->snapshot.conf, out, cap, len);
    return rc == 0 ? 0 : SAMPAN_EINVAL;
}

/* Size of m's body, after checking m can be encoded (msg.h lists why it
 * may not). Sums in u64 and stops as soon as the body is over the limit,
 * so neither a huge n_entries nor huge lengths can overflow. */
static int body_size(const struct sampan_msg *m, uint64_t *size)
{
    if (m->type < 1 || m->type > SAMPAN_MSG_TYPE_MAX) {
        return SAMPAN_EINVAL;
    }
    if (m->n_entries > 0 && m->entries == NULL) {
        return SAMPAN_EINVAL;
    }
    if (m->n_entries > UINT32_MAX) {
        return SAMPAN_ETOOBIG;
    }
    uint64_t n = CODEC_BODY_FIXED;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct sampan_entry *e = &m->entries[i];
        if (e->len > 0 && e->data == NULL) {
            return SAMPAN_EINVAL;
        }
        n += CODEC_ENTRY_HDR + (uint64_t)e->len;
        if (n > CODEC_MAX_BODY) {
            return SAMPAN_ETOOBIG;
        }
    }
    if (m->type == SAMPAN_MSG_SNAPSHOT) {
        size_t conf_len;
        if (snapshot_conf(m, NULL, 0, &conf_len) != 0 ||
            (m->len > 0 && m->data == NULL)) {
            return SAMPAN_EINVAL;
        }
        n += CODEC_SNAP_META_FIXED + conf_len + 4 + m->len;
        if (n > CODEC_MAX_BODY) {
            return SAMPAN_ETOOBIG;
        }
    }
    *size = n;
    return 0;
}

size_t codec_msg_size(const struct sampan_msg *m)
{
    uint64_t body;
    if (body_size(m, &body) != 0) {
        return 0;
    }
    return CODEC_FRAME_HDR + (size_t)body;
}

int codec_msg_encode(const struct sampan_msg *m, uint8_t *buf, size_t cap,
                     size_t *written)
{
    uint64_t body;
    int rc = body_size(m, &body);
    if (rc != 0) {
        return rc;
    }
    size_t total = CODEC_FRAME_HDR + (size_t)body;
    if (cap < total) {
        return SAMPAN_ETOOBIG;
    }
    uint8_t *p = buf + CODEC_FRAME_HDR;
    p[0] = m->type;
    p[1] = (uint8_t)((m->reject ? CODEC_FLAG_REJECT : 0u) |
                     (m->done ? CODEC_FLAG_DONE : 0u));
    const uint64_t fixed[10] = {
        m->from,   m->to,         m->term,      m->log_term, m->index,
        m->commit, m->hint_index, m->hint_term, m->context,  m->offset};
    for (int i = 0; i < 10; i++) {
        put64(p + 2 + 8 * i, fixed[i]);
    }
    put32(p + 82, (uint32_t)m->n_entries);
    p += CODEC_BODY_FIXED;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct sampan_entry *e = &m->entries[i];
        put64(p, e->term);
        put64(p + 8, e->index);
        p[16] = e->type;
        put32(p + 17, e->len);
        if (e->len > 0) {
            memcpy(p + CODEC_ENTRY_HDR, e->data, e->len);
        }
        p += CODEC_ENTRY_HDR + e->len;
    }
    if (m->type == SAMPAN_MSG_SNAPSHOT) {
        const struct sampan_snapshot_meta *s = &m->snapshot;
        put64(p, s->index);
        put64(p + 8, s->term);
        /* body_size() checked it encodes, and counted its bytes. */
        size_t conf_len = 0;
        uint8_t *conf = p + CODEC_SNAP_META_FIXED;
        (void)snapshot_conf(m, conf, (size_t)(buf + total - conf), &conf_len);
        put32(p + 16, (uint32_t)conf_len);
        p += CODEC_SNAP_META_FIXED + conf_len;
        put32(p, m->len);
        if (m->len > 0) {
            memcpy(p + 4, m->data, m->len);
        }
    }
    put32(buf, CODEC_FRAME_TAG);
    put32(buf + 4, (uint32_t)body);
    put32(buf + 8, crc32c(0, buf + CODEC_FRAME_HDR, (size_t)body));
    *written = total;
    return 0;
}

/* Checks the header bytes present in buf[0..len) (any number, even a few)
 * and, once all 12 are there, sets *body_len. */
static int header_check(const uint8_t *buf, size_t len, uint32_t *body_len,
                        const char **why)
{
    for (size_t i = 0; i < 3 && i < len; i++) {
        if (buf[i] != (uint8_t)(CODEC_FRAME_TAG >> (8 * i))) {
            return fail(why, SAMPAN_EINVAL, "bad frame tag (not a peer)");
        }
    }
    if (len > 3 && buf[3] != (uint8_t)(CODEC_FRAME_TAG >> 24)) {
        return fail(why, SAMPAN_EINVAL, "unsupported protocol version");
    }
    if (len < 8) {
        *body_len = 0;
        return 0;
    }
    uint32_t n = get32(buf + 4);
    if (n < CODEC_BODY_FIXED) {
        return fail(why, SAMPAN_EINVAL, "body shorter than its fixed fields");
    }
    *body_len = n;
    return 0;
}

int codec_frame_peek(const uint8_t *buf, size_t len, size_t max_frame,
                     size_t *frame_len, const char **why)
{
    uint32_t body;
    *frame_len = 0;
    int rc = header_check(buf, len, &body, why);
    if (rc != 0 || len < 8) {
        return rc;
    }
    /* Compare the body with max_frame, not header + body with it, so that
     * neither side of the comparison can overflow. */
    if (max_frame < CODEC_FRAME_HDR || body > CODEC_MAX_BODY ||
        body > max_frame - CODEC_FRAME_HDR) {
        return fail(why, SAMPAN_ETOOBIG, "frame larger than the maximum");
    }
    size_t total = CODEC_FRAME_HDR + (size_t)body;
    if (len >= total) {
        *frame_len = total;
    }
    return 0;
}

/* A read position in the body; `end` is one past its last byte. */
struct cursor {
    const uint8_t *p;
    const uint8_t *end;
};

static size_t left(const struct cursor *c)
{
    return (size_t)(c->end - c->p);
}

/* Reads the entries: the count is checked against the bytes left (each
 * entry takes at least CODEC_ENTRY_HDR) before anything loops on it. */
static int decode_entries(struct cursor *c, uint32_t n,
                          struct sampan_entry *ents, size_t max_ents,
                          struct sampan_msg *m, const char **why)
{
    if (n > left(c) / CODEC_ENTRY_HDR) {
        return fail(why, SAMPAN_EINVAL, "entry count exceeds the frame");
    }
    m->n_entries = n;
    if (n > max_ents) {
        return fail(why, SAMPAN_ETOOBIG, "more entries than the scratch");
    }
    for (uint32_t i = 0; i < n; i++) {
        if (left(c) < CODEC_ENTRY_HDR) {
            return fail(why, SAMPAN_EINVAL, "entry header past the body");
        }
        struct sampan_entry e;
        e.term = get64(c->p);
        e.index = get64(c->p + 8);
        e.type = c->p[16];
        e.len = get32(c->p + 17);
        c->p += CODEC_ENTRY_HDR;
        if (e.len > left(c)) {
            return fail(why, SAMPAN_EINVAL, "entry length exceeds the frame");
        }
        e.data = e.len > 0 ? (uint8_t *)(uintptr_t)c->p : NULL;
        c->p += e.len;
        ents[i] = e;
    }
    m->entries = n > 0 ? ents : NULL;
    return 0;
}

static int decode_snapshot(struct cursor *c, struct sampan_msg *m,
                           const char **why)
{
    struct sampan_snapshot_meta *s = &m->snapshot;
    if (left(c) < CODEC_SNAP_META_FIXED) {
        return fail(why, SAMPAN_EINVAL, "snapshot meta past the body");
    }
    s->index = get64(c->p);
    s->term = get64(c->p + 8);
    uint32_t conf_len = get32(c->p + 16);
    c->p += CODEC_SNAP_META_FIXED;
    if (conf_len > SAMPAN_MEMBERSHIP_MAX_BYTES) {
        return fail(why, SAMPAN_EINVAL,
                    "snapshot configuration longer than the largest one");
    }
    if (left(c) < (size_t)conf_len + 4u) {
        return fail(why, SAMPAN_EINVAL, "snapshot configuration past the body");
    }
    /* Its reasons name the configuration's broken rule or field. */
    if (sampan_membership_decode(c->p, conf_len, &s->conf, why) != 0) {
        return SAMPAN_EINVAL;
    }
    c->p += conf_len;
    m->len = get32(c->p);
    c->p += 4;
    if (m->len > left(c)) {
        return fail(why, SAMPAN_EINVAL, "chunk length exceeds the frame");
    }
    m->data = m->len > 0 ? (uint8_t *)(uintptr_t)c->p : NULL;
    c->p += m->len;
    return 0;
}

/* Everything after the checksum: the body's fields, in order. */
static int decode_body(struct cursor *c, struct sampan_entry *ents,
                       size_t max_ents, struct sampan_msg *m, const char **why)
{
    const uint8_t *p = c->p; /* header_check: >= CODEC_BODY_FIXED bytes */
    m->type = p[0];
    if (m->type < 1 || m->type > SAMPAN_MSG_TYPE_MAX) {
        return fail(why, SAMPAN_EINVAL, "unknown message type");
    }
    if ((p[1] & ~(CODEC_FLAG_REJECT | CODEC_FLAG_DONE)) != 0) {
        return fail(why, SAMPAN_EINVAL, "reserved flag bits set");
    }
    m->reject = (p[1] & CODEC_FLAG_REJECT) != 0;
    m->done = (p[1] & CODEC_FLAG_DONE) != 0;
    uint64_t *const fixed[10] = {
        &m->from,   &m->to,         &m->term,      &m->log_term, &m->index,
        &m->commit, &m->hint_index, &m->hint_term, &m->context,  &m->offset};
    for (int i = 0; i < 10; i++) {
        *fixed[i] = get64(p + 2 + 8 * i);
    }
    c->p += CODEC_BODY_FIXED;
    int rc = decode_entries(c, get32(p + 82), ents, max_ents, m, why);
    if (rc != 0) {
        return rc;
    }
    if (m->type == SAMPAN_MSG_SNAPSHOT) {
        rc = decode_snapshot(c, m, why);
        if (rc != 0) {
            return rc;
        }
    }
    if (c->p != c->end) {
        return fail(why, SAMPAN_EINVAL, "bytes left over after the message");
    }
    return 0;
}

int codec_msg_decode(const uint8_t *frame, size_t len,
                     struct sampan_entry *ents, size_t max_ents,
                     struct sampan_msg *out, const char **why)
{
    struct sampan_msg m;
    memset(&m, 0, sizeof(m));
    memset(out, 0, sizeof(*out));
    if (len < CODEC_FRAME_HDR) {
        /* Report a wrong tag or version first if that much is there. */
        uint32_t unused;
        int rc = header_check(frame, len, &unused, why);
        return rc != 0 ? rc : fail(why, SAMPAN_EINVAL, "short frame");
    }
    uint32_t body;
    int rc = header_check(frame, len, &body, why);
    if (rc != 0) {
        return rc;
    }
    if (len - CODEC_FRAME_HDR != body) {
        return fail(why, SAMPAN_EINVAL, "frame length does not match header");
    }
    const uint8_t *b = frame + CODEC_FRAME_HDR;
    if (crc32c(0, b, body) != get32(frame + 8)) {
        return fail(why, SAMPAN_ECORRUPT, "frame checksum mismatch");
    }
    struct cursor c = {.p = b, .end = b + body};
    rc = decode_body(&c, ents, max_ents, &m, why);
    if (rc != 0) {
        if (rc == SAMPAN_ETOOBIG) {
            out->n_entries = m.n_entries;
        }
        return rc;
    }
    *out = m;
    return 0;
}
