/* kv/snapshot.c: snapshots of the state machine: an O(1) begin (a root
 * reference plus the bounded session table serialized at once), streamed
 * serialization in key order on any thread, and a restore that checks
 * every byte before it replaces anything.
 *
 * Format, version 1 (integers little endian; docs/architecture.md (key/value
 * state machine)): 0  "SAMPANKV"            8  u32 version       12 u32
 * n_sessions 16 u64 applied index     24 u64 n_keys        32 u64 key+value
 * bytes 40 n_sessions times, oldest use first: u64 client, u64 seq, u64
 * last_used, u8 reply type, u64 reply int, u32 len, len bytes (reply text,
 * BULK/ERROR only) n_keys times, keys strictly increasing: u32 klen, u32 vlen,
 * key, value u32 crc32c of every byte before it. */
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "codec/le.h"
#include "kv/internal.h"

#define SNAP_MAGIC "SAMPANKV"
#define SNAP_VERSION 1u
#define SNAP_HDR 40u
#define SESS_HDR 41u

enum snap_phase {
    PH_PREFIX,
    PH_KEYHDR,
    PH_KEYDATA,
    PH_TRAILER,
    PH_DONE
};

struct kv_snap {
    uint8_t *prefix; /* header and sessions, owned */
    size_t prefix_len;
    struct kv_node *root; /* one reference, owned */
    struct kv_iter it;
    uint64_t index, size;
    enum snap_phase phase; /* what the current piece is */
    const uint8_t *piece;  /* bytes left to emit of the current piece */
    size_t left;
    const struct kv_node *cur;
    uint8_t small[8];
    uint32_t crc;
};

int kv_snapshot_begin(struct kv *kv, struct kv_snap **out)
{
    struct kv_snap *s = calloc(1, sizeof(*s));
    if (!s) {
        return SAMPAN_ENOMEM;
    }
    size_t plen = SNAP_HDR;
    for (struct kv_session *x = kv->sessions.head; x; x = x->next) {
        plen += SESS_HDR + x->len;
    }
    s->prefix = malloc(plen);
    if (!s->prefix) {
        free(s);
        return SAMPAN_ENOMEM;
    }
    uint8_t *p = s->prefix;
    memcpy(p, SNAP_MAGIC, 8);
    put32(p + 8, SNAP_VERSION);
    put32(p + 12, kv->sessions.count);
    put64(p + 16, kv->applied);
    put64(p + 24, kv_store_count(&kv->store));
    put64(p + 32, kv->store.bytes);
    p += SNAP_HDR;
    for (struct kv_session *x = kv->sessions.head; x; x = x->next) {
        put64(p, x->client);
        put64(p + 8, x->seq);
        put64(p + 16, x->last_used);
        p[24] = x->type;
        put64(p + 25, (uint64_t)x->i);
        put32(p + 33, x->len);
        if (x->len) {
            memcpy(p + SESS_HDR, x->str, x->len);
        }
        p += SESS_HDR + x->len;
    }
    s->prefix_len = plen;
    s->root = kv_store_root_ref(&kv->store);
    int rc = kv_iter_seek_rank(&s->it, s->root, 0);
    if (rc != 0) {
        kv_snapshot_free(s);
        return rc;
    }
    s->index = kv->applied;
    s->size = plen + 8u * kv_store_count(&kv->store) + kv->store.bytes + 4u;
    s->phase = PH_PREFIX;
    s->piece = s->prefix;
    s->left = plen;
    *out = s;
    return 0;
}

uint64_t kv_snapshot_size(const struct kv_snap *s)
{
    return s->size;
}

uint64_t kv_snapshot_index(const struct kv_snap *s)
{
    return s->index;
}

/* Moves to the next piece once the current one is emitted. */
static void next_piece(struct kv_snap *s)
{
    switch (s->phase) {
    case PH_PREFIX:
    case PH_KEYDATA:
        s->cur = kv_iter_next(&s->it);
        if (s->cur) {
            put32(s->small, s->cur->klen);
            put32(s->small + 4, s->cur->vlen);
            s->phase = PH_KEYHDR;
            s->piece = s->small;
            s->left = 8;
        } else {
            put32(s->small, s->crc);
            s->phase = PH_TRAILER;
            s->piece = s->small;
            s->left = 4;
        }
        break;
    case PH_KEYHDR:
        s->phase = PH_KEYDATA;
        s->piece = s->cur->data;
        s->left = (size_t)s->cur->klen + s->cur->vlen;
        break;
    case PH_TRAILER:
    case PH_DONE:
        s->phase = PH_DONE;
        s->piece = NULL;
        s->left = 0;
        break;
    }
}

int kv_snapshot_write(struct kv_snap *s, void *buf, size_t cap, size_t *n)
{
    uint8_t *out = buf;
    size_t done = 0;
    while (done < cap && s->phase != PH_DONE) {
        if (s->left == 0) {
            next_piece(s);
            continue;
        }
        size_t k = s->left < cap - done ? s->left : cap - done;
        memcpy(out + done, s->piece, k);
        if (s->phase != PH_TRAILER) {
            s->crc = crc32c(s->crc, s->piece, k);
        }
        s->piece += k;
        s->left -= k;
        done += k;
    }
    *n = done;
    return 0;
}

void kv_snapshot_free(struct kv_snap *s)
{
    if (!s) {
        return;
    }
    kv_iter_free(&s->it);
    kv_node_release(s->root);
    free(s->prefix);
    free(s);
}

int kv_snapshot_collect(struct kv_snap *s, void **data, size_t *len)
{
    if (s->size > SIZE_MAX) {
        return SAMPAN_ENOMEM;
    }
    uint8_t *buf = malloc((size_t)s->size);
    if (!buf) {
        return SAMPAN_ENOMEM;
    }
    size_t off = 0, n;
    do {
        kv_snapshot_write(s, buf + off, (size_t)s->size - off, &n);
        off += n;
    } while (n > 0 && off < s->size);
    *data = buf;
    *len = off;
    return 0;
}

static int corrupt(const char **why, const char *reason)
{
    if (why) {
        *why = reason;
    }
    return SAMPAN_ECORRUPT;
}

static int restore_sessions(const uint8_t *buf, size_t end, size_t *off,
                            uint32_t n, uint64_t applied, struct kv_sessions *t,
                            const char **why)
{
    uint64_t prev_used = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (end - *off < SESS_HDR) {
            return corrupt(why, "session past the end");
        }
        const uint8_t *p = buf + *off;
        uint64_t client = get64(p), seq = get64(p + 8);
        uint64_t used = get64(p + 16);
        uint8_t type = p[24];
        uint32_t len = get32(p + 33);
        *off += SESS_HDR;
        bool text = type == KV_R_BULK || type == KV_R_ERROR;
        if (type < KV_R_OK || type > KV_R_ERROR || type == KV_R_ARRAY) {
            return corrupt(why, "bad session reply type");
        }
        if (len > KV_SESSION_REPLY_MAX || (!text && len != 0)) {
            return corrupt(why, "bad session reply length");
        }
        if (end - *off < len) {
            return corrupt(why, "session reply past the end");
        }
        if (used > applied || (i > 0 && used <= prev_used)) {
            return corrupt(why, "session last use out of order");
        }
        if (kv_sessions_find(t, client)) {
            return corrupt(why, "duplicate session");
        }
        prev_used = used;
        struct kv_session *s = kv_sessions_add(t, client, used);
        if (!s) {
            return SAMPAN_ENOMEM;
        }
        s->seq = seq;
        s->type = type;
        s->i = kv_get_i64(p + 25);
        if (len) {
            s->str = malloc(len);
            if (!s->str) {
                return SAMPAN_ENOMEM;
            }
            memcpy(s->str, buf + *off, len);
            s->len = len;
        }
        *off += len;
    }
    return 0;
}

static int restore_keys(const uint8_t *buf, size_t end, size_t *off, uint64_t n,
                        uint64_t bytes, struct kv_build *b, const char **why)
{
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (end - *off < 8) {
            return corrupt(why, "key header past the end");
        }
        uint32_t klen = get32(buf + *off), vlen = get32(buf + *off + 4);
        *off += 8;
        if (klen > KV_MAX_KEY_LEN || vlen > KV_MAX_VALUE_LEN) {
            return corrupt(why, "key or value over the size limit");
        }
        if (end - *off < (uint64_t)klen + vlen) {
            return corrupt(why, "key or value past the end");
        }
        const uint8_t *k = buf + *off;
        if (prev && kv_key_cmp(prev, prev_len, k, klen) >= 0) {
            return corrupt(why, "keys out of order");
        }
        int rc = kv_build_push(b, k, klen, k + klen, vlen);
        if (rc != 0) {
            return rc;
        }
        prev = k;
        prev_len = klen;
        sum += (uint64_t)klen + vlen;
        *off += (size_t)klen + vlen;
    }
    return sum == bytes ? 0 : corrupt(why, "byte count mismatch");
}

int kv_restore(struct kv *kv, const void *data, size_t len, const char **why)
{
    const uint8_t *buf = data;
    if (len < SNAP_HDR + 4u) {
        return corrupt(why, "short snapshot");
    }
    if (memcmp(buf, SNAP_MAGIC, 8) != 0) {
        return corrupt(why, "bad snapshot magic");
    }
    size_t end = len - 4;
    if (get32(buf + end) != crc32c(0, buf, end)) {
        return corrupt(why, "snapshot checksum mismatch");
    }
    if (get32(buf + 8) != SNAP_VERSION) {
        return corrupt(why, "unsupported snapshot version");
    }
    uint32_t n_sess = get32(buf + 12);
    uint64_t applied = get64(buf + 16), n_keys = get64(buf + 24);
    uint64_t bytes = get64(buf + 32);
    if (applied > SAMPAN_MAX_INDEX || n_keys >= UINT32_MAX ||
        n_keys > (end - SNAP_HDR) / 8) {
        return corrupt(why, "bad snapshot header");
    }
    struct kv_sessions t;
    int rc = kv_sessions_init(&t, kv->cfg.max_sessions);
    if (rc != 0) {
        return rc;
    }
    struct kv_build b;
    kv_build_init(&b, kv->store.seed);
    size_t off = SNAP_HDR;
    rc = restore_sessions(buf, end, &off, n_sess, applied, &t, why);
    if (rc == 0) {
        rc = restore_keys(buf, end, &off, n_keys, bytes, &b, why);
    }
    if (rc == 0 && off != end) {
        rc = corrupt(why, "trailing bytes in snapshot");
    }
    if (rc != 0) {
        kv_build_abort(&b);
        kv_sessions_free(&t);
        return rc;
    }
    kv_build_finish(&b, &kv->store);
    kv_sessions_free(&kv->sessions);
    kv->sessions = t;
    kv->applied = applied;
    return 0;
}

int kv_io_snapshot(void *ctx, uint64_t index, void **data, size_t *len)
{
    struct kv *kv = ctx;
    if (index != kv->applied) {
        return SAMPAN_ESTATE;
    }
    struct kv_snap *s;
    int rc = kv_snapshot_begin(kv, &s);
    if (rc != 0) {
        return rc;
    }
    rc = kv_snapshot_collect(s, data, len);
    kv_snapshot_free(s);
    return rc;
}

int kv_io_restore(void *ctx, const struct sampan_snapshot_meta *meta,
                  const void *data, size_t len)
{
    if (len < SNAP_HDR || get64((const uint8_t *)data + 16) != meta->index) {
        return SAMPAN_ECORRUPT;
    }
    return kv_restore(ctx, data, len, NULL);
}
