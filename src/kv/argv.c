/* kv/argv.c: from a client's write command (RESP argv) to a log entry
 * payload. Everything a client can get wrong (arity, options, integers,
 * sizes) is answered here, before proposing, with Redis's error text;
 * what reaches the log only needs the checks kv_cmd_decode repeats. */
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"

struct wdesc {
    const char *name;
    uint8_t op;
    int arity; /* argc including the name; negative: at least -arity */
};

static const struct wdesc kv_wdescs[] = {
    {"SET", KV_OP_SET, -3},           {"SETNX", KV_OP_SETNX, 3},
    {"GETSET", KV_OP_GETSET, 3},      {"APPEND", KV_OP_APPEND, 3},
    {"INCR", KV_OP_INCRBY, 2},        {"INCRBY", KV_OP_INCRBY, 3},
    {"DECR", KV_OP_DECRBY, 2},        {"DECRBY", KV_OP_DECRBY, 3},
    {"DEL", KV_OP_DEL, -2},           {"MSET", KV_OP_MSET, -3},
    {"FLUSHALL", KV_OP_FLUSHALL, -1},
};

static int set_options(size_t argc, const struct kv_slice *argv, uint8_t *flags,
                       struct kv_result *reply)
{
    for (size_t i = 3; i < argc; i++) {
        const struct kv_slice *o = &argv[i];
        if (kv_name_is(o, "NX") && !(*flags & KV_CMD_F_XX)) {
            *flags |= KV_CMD_F_NX;
        } else if (kv_name_is(o, "XX") && !(*flags & KV_CMD_F_NX)) {
            *flags |= KV_CMD_F_XX;
        } else if (kv_name_is(o, "KEEPTTL")) {
            /* No key has a TTL, so keeping it is what already happens. */
        } else if (kv_name_is(o, "EX") || kv_name_is(o, "PX") ||
                   kv_name_is(o, "EXAT") || kv_name_is(o, "PXAT")) {
            return kv_reply_error(reply, KV_ERR_EXPIRE);
        } else {
            return kv_reply_error(reply, KV_ERR_SYNTAX);
        }
    }
    return 1;
}

int kv_cmd_from_argv(size_t argc, const struct kv_slice *argv,
                     const struct kv_session_id *session, uint8_t **payload,
                     size_t *len, struct kv_result *reply)
{
    *payload = NULL;
    *len = 0;
    if (argc == 0) {
        return SAMPAN_EINVAL;
    }
    const struct wdesc *d = NULL;
    for (size_t i = 0; i < sizeof(kv_wdescs) / sizeof(kv_wdescs[0]); i++) {
        if (kv_name_is(&argv[0], kv_wdescs[i].name)) {
            d = &kv_wdescs[i];
        }
    }
    if (!d) {
        return SAMPAN_EINVAL;
    }
    if ((d->arity > 0 && argc != (size_t)d->arity) ||
        (d->arity < 0 && argc < (size_t)-d->arity) ||
        (d->op == KV_OP_MSET && argc % 2 == 0)) {
        return kv_reply_arity(reply, d->name);
    }
    struct kv_cmd c = {.op = d->op, .argc = (uint32_t)(argc - 1)};
    const struct kv_slice *args = argv + 1;
    struct kv_slice incr[2];
    uint8_t delta[8];
    if (session) {
        c.flags |= KV_CMD_F_SESSION;
        c.client = session->client;
        c.seq = session->seq;
    }
    if (d->op == KV_OP_SET) {
        int rc = set_options(argc, argv, &c.flags, reply);
        if (rc <= 0) {
            return rc;
        }
        c.argc = 2;
    } else if (d->op == KV_OP_FLUSHALL) {
        if (argc > 2 || (argc == 2 && !kv_name_is(&argv[1], "ASYNC") &&
                         !kv_name_is(&argv[1], "SYNC"))) {
            return kv_reply_error(reply, KV_ERR_SYNTAX);
        }
        c.argc = 0;
    } else if (d->op == KV_OP_INCRBY || d->op == KV_OP_DECRBY) {
        int64_t v = 1;
        if (argc == 3 && !kv_parse_i64(argv[2].p, argv[2].len, &v)) {
            return kv_reply_error(reply, KV_ERR_NOT_INT);
        }
        kv_put_i64(delta, v);
        incr[0] = argv[1];
        incr[1] = (struct kv_slice){delta, 8};
        args = incr;
        c.argc = 2;
    }
    /* Size limits, with the reply a client expects for each. */
    for (uint32_t i = 0; i < c.argc; i++) {
        bool is_key = d->op == KV_OP_DEL ||
                      (d->op == KV_OP_MSET && i % 2 == 0) ||
                      (d->op != KV_OP_MSET && i == 0);
        if (is_key && args[i].len > KV_MAX_KEY_LEN) {
            return kv_reply_error(reply, KV_ERR_KEY_TOO_BIG);
        }
        if (!is_key && args[i].len > KV_MAX_VALUE_LEN) {
            return kv_reply_error(reply, KV_ERR_TOO_BIG);
        }
    }
    if (c.argc > KV_MAX_ARGS) {
        return kv_reply_error(reply, "ERR too many arguments");
    }
    size_t need = kv_cmd_encoded_size(&c, args);
    if (need == 0) {
        return SAMPAN_EINVAL; /* cannot happen after the checks above */
    }
    uint8_t *buf = malloc(need);
    if (!buf) {
        return SAMPAN_ENOMEM;
    }
    int rc = kv_cmd_encode(&c, args, buf, need, len);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *payload = buf;
    return 0;
}
