/* kv/kv.c: the state machine's life cycle and kv_apply: committed entries
 * in index order, sessions checked and expired, write commands executed
 * with Redis semantics. Reads are in read.c, snapshots in snapshot.c. */
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"

void kv_config_default(struct kv_config *cfg)
{
    cfg->max_sessions = 10000;
    cfg->session_expiry_entries = 1000000;
    cfg->seed = UINT64_C(0x5a3d9e0b7c214f61);
}

int kv_open(const struct kv_config *cfg, struct kv **out)
{
    if (cfg->max_sessions == 0 || cfg->max_sessions > (1u << 24) ||
        cfg->session_expiry_entries == 0) {
        return SAMPAN_EINVAL;
    }
    struct kv *kv = calloc(1, sizeof(*kv));
    if (!kv) {
        return SAMPAN_ENOMEM;
    }
    kv->cfg = *cfg;
    kv_store_init(&kv->store, cfg->seed);
    int rc = kv_sessions_init(&kv->sessions, cfg->max_sessions);
    if (rc != 0) {
        free(kv);
        return rc;
    }
    *out = kv;
    return 0;
}

void kv_close(struct kv *kv)
{
    if (!kv) {
        return;
    }
    kv_store_clear(&kv->store);
    kv_sessions_free(&kv->sessions);
    free(kv);
}

uint64_t kv_applied_index(const struct kv *kv)
{
    return kv->applied;
}

uint64_t kv_key_count(const struct kv *kv)
{
    return kv_store_count(&kv->store);
}

uint64_t kv_data_bytes(const struct kv *kv)
{
    return kv->store.bytes;
}

uint32_t kv_session_count(const struct kv *kv)
{
    return kv->sessions.count;
}

static const uint8_t *u8p(const struct kv_slice *s)
{
    return s->p;
}

static uint32_t u32len(const struct kv_slice *s)
{
    return (uint32_t)s->len; /* decoded lengths are u32 */
}

static int do_set(struct kv *kv, const struct kv_cmd *c, struct kv_result *out)
{
    size_t pos = 0;
    struct kv_slice k, v;
    kv_cmd_next_arg(c, &pos, &k);
    kv_cmd_next_arg(c, &pos, &v);
    /* Only NX, XX and GETSET depend on the old value: a plain SET skips the
     * lookup (a tree walk of cache misses, ~7% of a leader's CPU under a
     * SET load; the insert walks the path anyway). */
    bool needs_old = c->op == KV_OP_SETNX || c->op == KV_OP_GETSET ||
                     (c->flags & (KV_CMD_F_NX | KV_CMD_F_XX));
    const struct kv_node *old =
        needs_old ? kv_store_get(&kv->store, u8p(&k), u32len(&k)) : NULL;
    if (c->op == KV_OP_SETNX || (c->flags & KV_CMD_F_NX)) {
        if (old) {
            if (c->op == KV_OP_SETNX) {
                kv_reply_int(out, 0);
            } else {
                kv_reply_null(out);
            }
            return 0;
        }
    } else if ((c->flags & KV_CMD_F_XX) && !old) {
        kv_reply_null(out);
        return 0;
    }
    if (c->op == KV_OP_GETSET) {
        int rc = old ? kv_reply_bulk(out, kv_node_val(old), old->vlen) : 0;
        if (!old) {
            kv_reply_null(out);
        }
        if (rc != 0) {
            return rc;
        }
    } else if (c->op == KV_OP_SETNX) {
        kv_reply_int(out, 1);
    } else {
        kv_reply_ok(out);
    }
    return kv_store_set(&kv->store, u8p(&k), u32len(&k), u8p(&v), u32len(&v),
                        NULL, 0, NULL);
}

static int do_append(struct kv *kv, const struct kv_cmd *c,
                     struct kv_result *out)
{
    size_t pos = 0;
    struct kv_slice k, v;
    kv_cmd_next_arg(c, &pos, &k);
    kv_cmd_next_arg(c, &pos, &v);
    const struct kv_node *old = kv_store_get(&kv->store, u8p(&k), u32len(&k));
    uint64_t oldlen = old ? old->vlen : 0;
    if (oldlen + v.len > KV_MAX_VALUE_LEN) {
        return kv_reply_error(out, KV_ERR_TOO_BIG);
    }
    int rc = kv_store_set(&kv->store, u8p(&k), u32len(&k),
                          old ? kv_node_val(old) : NULL, (uint32_t)oldlen,
                          u8p(&v), u32len(&v), NULL);
    if (rc == 0) {
        kv_reply_int(out, (int64_t)(oldlen + v.len));
    }
    return rc;
}

static int do_incr(struct kv *kv, const struct kv_cmd *c, struct kv_result *out)
{
    size_t pos = 0;
    struct kv_slice k, d;
    kv_cmd_next_arg(c, &pos, &k);
    kv_cmd_next_arg(c, &pos, &d);
    int64_t delta = kv_get_i64(d.p);
    if (c->op == KV_OP_DECRBY) {
        if (delta == INT64_MIN) {
            return kv_reply_error(out, KV_ERR_DECR_OVERFLOW);
        }
        delta = -delta;
    }
    int64_t cur = 0;
    const struct kv_node *old = kv_store_get(&kv->store, u8p(&k), u32len(&k));
    if (old && !kv_parse_i64(kv_node_val(old), old->vlen, &cur)) {
        return kv_reply_error(out, KV_ERR_NOT_INT);
    }
    if ((delta > 0 && cur > INT64_MAX - delta) ||
        (delta < 0 && cur < INT64_MIN - delta)) {
        return kv_reply_error(out, KV_ERR_OVERFLOW);
    }
    cur += delta;
    char buf[24];
    size_t n = kv_format_i64(cur, buf);
    int rc = kv_store_set(&kv->store, u8p(&k), u32len(&k), (uint8_t *)buf,
                          (uint32_t)n, NULL, 0, NULL);
    if (rc == 0) {
        kv_reply_int(out, cur);
    }
    return rc;
}

static int do_del(struct kv *kv, const struct kv_cmd *c, struct kv_result *out)
{
    size_t pos = 0;
    int64_t n = 0;
    for (uint32_t i = 0; i < c->argc; i++) {
        struct kv_slice k;
        kv_cmd_next_arg(c, &pos, &k);
        int rc = kv_store_del(&kv->store, u8p(&k), u32len(&k));
        if (rc < 0) {
            return rc;
        }
        n += rc;
    }
    kv_reply_int(out, n);
    return 0;
}

static int do_mset(struct kv *kv, const struct kv_cmd *c, struct kv_result *out)
{
    /* One entry, so atomic for every reader: reads run between entries. */
    size_t pos = 0;
    for (uint32_t i = 0; i < c->argc; i += 2) {
        struct kv_slice k, v;
        kv_cmd_next_arg(c, &pos, &k);
        kv_cmd_next_arg(c, &pos, &v);
        int rc = kv_store_set(&kv->store, u8p(&k), u32len(&k), u8p(&v),
                              u32len(&v), NULL, 0, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    kv_reply_ok(out);
    return 0;
}

static int execute(struct kv *kv, const struct kv_cmd *c, struct kv_result *out)
{
    switch (c->op) {
    case KV_OP_SET:
    case KV_OP_SETNX:
    case KV_OP_GETSET:
        return do_set(kv, c, out);
    case KV_OP_APPEND:
        return do_append(kv, c, out);
    case KV_OP_INCRBY:
    case KV_OP_DECRBY:
        return do_incr(kv, c, out);
    case KV_OP_DEL:
        return do_del(kv, c, out);
    case KV_OP_MSET:
        return do_mset(kv, c, out);
    case KV_OP_FLUSHALL:
        kv_store_clear(&kv->store);
        kv_reply_ok(out);
        return 0;
    default:
        return kv_reply_error(out, KV_ERR_BAD_ENTRY); /* decode refuses */
    }
}

/* Session rule (docs/architecture.md (key/value state machine)): seq == last ->
 * the cached reply, not applied again; seq < last -> error; seq > last ->
 * applied and cached. */
static int apply_session(struct kv *kv, const struct kv_cmd *c, uint64_t index,
                         struct kv_result *out)
{
    struct kv_session *s = kv_sessions_find(&kv->sessions, c->client);
    if (s) {
        if (c->seq == s->seq) {
            kv_sessions_touch(&kv->sessions, s, index);
            return kv_session_replay(s, out);
        }
        if (c->seq < s->seq) {
            /* Not touched: a stale retry must not keep a session alive. */
            return kv_reply_error(out, KV_ERR_STALE);
        }
        kv_sessions_touch(&kv->sessions, s, index);
    } else {
        s = kv_sessions_add(&kv->sessions, c->client, index);
        if (!s) {
            return SAMPAN_ENOMEM;
        }
    }
    int rc = execute(kv, c, out);
    if (rc != 0) {
        return rc;
    }
    s->seq = c->seq;
    return kv_session_store(s, out);
}

int kv_apply(struct kv *kv, const struct sampan_entry *e, struct kv_result *out)
{
    memset(out, 0, sizeof(*out));
    if (e->index != kv->applied + 1) {
        return SAMPAN_ESTATE;
    }
    kv->applied = e->index;
    /* Expiry first, on every entry (NOOPs too): the same sessions go at
     * the same index on every node. */
    kv_sessions_expire(&kv->sessions, e->index, kv->cfg.session_expiry_entries);
    if (e->type != SAMPAN_ENTRY_NORMAL || e->len == 0) {
        return 0;
    }
    struct kv_cmd c;
    if (kv_cmd_decode(e->data, e->len, &c, NULL) != 0) {
        return kv_reply_error(out, KV_ERR_BAD_ENTRY);
    }
    int rc = (c.flags & KV_CMD_F_SESSION) ? apply_session(kv, &c, e->index, out)
                                          : execute(kv, &c, out);
    if (rc != 0) {
        kv_result_free(out);
    }
    return rc;
}

int kv_io_apply(void *ctx, const struct sampan_entry *e)
{
    struct kv_result r;
    int rc = kv_apply(ctx, e, &r);
    kv_result_free(&r);
    return rc;
}
