/* kv/command.c: encoder and decoder of write commands as log entry
 * payloads (layout in command.h). Every length is checked before the
 * bytes it covers are read. */
#include <string.h>

#include "codec/le.h"
#include "kv/command.h"

void kv_put_i64(uint8_t *p, int64_t v)
{
    put64(p, (uint64_t)v);
}

int64_t kv_get_i64(const uint8_t *p)
{
    uint64_t u = get64(p);
    /* Two's complement without implementation-defined conversion. */
    return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Shape rules shared by encoder and decoder: arity, flags, and which
 * argument is a key, a value or a delta. Returns NULL when fine, else
 * the reason. */
static const char *check_shape(uint8_t op, uint8_t flags, uint32_t argc)
{
    if (op < 1 || op > KV_OP_MAX) {
        return "unknown op";
    }
    if ((flags & ~KV_CMD_F_ALL) != 0) {
        return "unknown flags";
    }
    if ((flags & (KV_CMD_F_NX | KV_CMD_F_XX)) != 0) {
        if (op != KV_OP_SET) {
            return "NX/XX on a command other than SET";
        }
        if ((flags & KV_CMD_F_NX) && (flags & KV_CMD_F_XX)) {
            return "both NX and XX";
        }
    }
    if (argc > KV_MAX_ARGS) {
        return "too many arguments";
    }
    switch (op) {
    case KV_OP_DEL:
        return argc >= 1 ? NULL : "wrong number of arguments";
    case KV_OP_MSET:
        return argc >= 2 && argc % 2 == 0 ? NULL : "wrong number of arguments";
    case KV_OP_FLUSHALL:
        return argc == 0 ? NULL : "wrong number of arguments";
    default:
        return argc == 2 ? NULL : "wrong number of arguments";
    }
}

/* Argument i of op: its length limit, and whether it must be exactly 8
 * bytes (a delta). */
static const char *check_arg(uint8_t op, uint32_t i, size_t len)
{
    bool is_key;
    if (op == KV_OP_DEL) {
        is_key = true;
    } else if (op == KV_OP_MSET) {
        is_key = i % 2 == 0;
    } else {
        is_key = i == 0;
    }
    if (is_key) {
        return len <= KV_MAX_KEY_LEN ? NULL : "key too long";
    }
    if (op == KV_OP_INCRBY || op == KV_OP_DECRBY) {
        return len == 8 ? NULL : "delta is not 8 bytes";
    }
    return len <= KV_MAX_VALUE_LEN ? NULL : "value too long";
}

static size_t header_size(uint8_t flags)
{
    return 3u + ((flags & KV_CMD_F_SESSION) ? 16u : 0u) + 4u;
}

size_t kv_cmd_encoded_size(const struct kv_cmd *c, const struct kv_slice *argv)
{
    if (check_shape(c->op, c->flags, c->argc) != NULL) {
        return 0;
    }
    size_t n = header_size(c->flags);
    for (uint32_t i = 0; i < c->argc; i++) {
        if (check_arg(c->op, i, argv[i].len) != NULL) {
            return 0;
        }
        n += 4u + argv[i].len;
    }
    return n;
}

int kv_cmd_encode(const struct kv_cmd *c, const struct kv_slice *argv,
                  uint8_t *buf, size_t cap, size_t *len)
{
    if (check_shape(c->op, c->flags, c->argc) != NULL) {
        return SAMPAN_EINVAL;
    }
    size_t need = kv_cmd_encoded_size(c, argv);
    if (need == 0 || need > cap) {
        return SAMPAN_ETOOBIG;
    }
    uint8_t *p = buf;
    *p++ = KV_CMD_VERSION;
    *p++ = c->op;
    *p++ = c->flags;
    if (c->flags & KV_CMD_F_SESSION) {
        put64(p, c->client);
        put64(p + 8, c->seq);
        p += 16;
    }
    put32(p, c->argc);
    p += 4;
    for (uint32_t i = 0; i < c->argc; i++) {
        put32(p, (uint32_t)argv[i].len);
        p += 4;
        if (argv[i].len) {
            memcpy(p, argv[i].p, argv[i].len);
            p += argv[i].len;
        }
    }
    *len = need;
    return 0;
}

static int bad(const char **why, const char *reason)
{
    if (why) {
        *why = reason;
    }
    return SAMPAN_EINVAL;
}

int kv_cmd_decode(const uint8_t *buf, size_t len, struct kv_cmd *c,
                  const char **why)
{
    if (len < 3) {
        return bad(why, "short command header");
    }
    if (buf[0] != KV_CMD_VERSION) {
        return bad(why, "unsupported command version");
    }
    memset(c, 0, sizeof(*c));
    c->op = buf[1];
    c->flags = buf[2];
    size_t off = 3;
    if ((c->flags & ~KV_CMD_F_ALL) == 0 && (c->flags & KV_CMD_F_SESSION)) {
        if (len - off < 16) {
            return bad(why, "short session");
        }
        c->client = get64(buf + off);
        c->seq = get64(buf + off + 8);
        off += 16;
    }
    if (len - off < 4) {
        return bad(why, "short argument count");
    }
    c->argc = get32(buf + off);
    off += 4;
    const char *r = check_shape(c->op, c->flags, c->argc);
    if (r != NULL) {
        return bad(why, r);
    }
    c->args = buf + off;
    c->args_len = len - off;
    for (uint32_t i = 0; i < c->argc; i++) {
        if (len - off < 4) {
            return bad(why, "short argument length");
        }
        uint32_t n = get32(buf + off);
        off += 4;
        if (len - off < n) {
            return bad(why, "argument past the end");
        }
        r = check_arg(c->op, i, n);
        if (r != NULL) {
            return bad(why, r);
        }
        off += n;
    }
    if (off != len) {
        return bad(why, "trailing bytes");
    }
    return 0;
}

void kv_cmd_next_arg(const struct kv_cmd *c, size_t *pos, struct kv_slice *arg)
{
    uint32_t n = get32(c->args + *pos);
    arg->p = c->args + *pos + 4;
    arg->len = n;
    *pos += 4u + n;
}
