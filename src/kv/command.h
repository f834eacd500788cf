/* kv/command.h: the binary encoding of a write command as a Raft log entry
 * payload, so the leader proposes bytes and every node applies the same
 * bytes. Pure functions over bounded buffers, like storage/format.h.
 *
 * Layout (integers little endian), version 1:
 *   u8  version (1)
 *   u8  op      (enum kv_op)
 *   u8  flags   (KV_CMD_F_*; unknown bits refused)
 *   if flags & KV_CMD_F_SESSION: u64 client id, u64 sequence number
 *   u32 argc
 *   argc times: u32 len, len bytes
 * and nothing after the last argument. Arity per op is checked here, so a
 * decoded command can be applied without further shape checks:
 *   SET key value [flags NX|XX]   SETNX key value   GETSET key value
 *   APPEND key value   INCRBY key delta   DECRBY key delta (delta: 8-byte
 *   little-endian int64)   DEL key...(>= 1)   MSET (key value)...(>= 1 pair)
 *   FLUSHALL (no args)
 * Keys are at most KV_MAX_KEY_LEN bytes and values KV_MAX_VALUE_LEN: the
 * encoder refuses bigger ones (SAMPAN_ETOOBIG) and the decoder too
 * (SAMPAN_EINVAL), so a payload forged past the server's checks is still
 * refused at apply time, on every node alike. */
#ifndef SAMPAN_KV_COMMAND_H
#define SAMPAN_KV_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/error.h"

#define KV_CMD_VERSION 1u
/* Compile-time constants, not configuration: they decide what an applied
 * entry does, and every node must decide the same. */
#define KV_MAX_KEY_LEN (64u * 1024u)
#define KV_MAX_VALUE_LEN (16u * 1024u * 1024u)
/* Bound on arguments of one command (DEL, MSET). */
#define KV_MAX_ARGS (1u << 20)

enum kv_op {
    KV_OP_SET = 1,
    KV_OP_SETNX = 2,
    KV_OP_GETSET = 3,
    KV_OP_APPEND = 4,
    KV_OP_INCRBY = 5,
    KV_OP_DECRBY = 6,
    KV_OP_DEL = 7,
    KV_OP_MSET = 8,
    KV_OP_FLUSHALL = 9,
    KV_OP_MAX = 9
};

#define KV_CMD_F_SESSION 0x01u /* client id and sequence number follow */
#define KV_CMD_F_NX 0x02u      /* SET only: only if the key is absent  */
#define KV_CMD_F_XX 0x04u      /* SET only: only if the key exists     */
#define KV_CMD_F_ALL 0x07u

/* A borrowed byte string. */
struct kv_slice {
    const uint8_t *p;
    size_t len;
};

/* A command. From kv_cmd_decode, `args` points into the decoded payload
 * (borrowed; valid while the payload is) and has been fully checked. */
struct kv_cmd {
    uint8_t op;
    uint8_t flags;
    uint64_t client; /* meaningful with KV_CMD_F_SESSION */
    uint64_t seq;
    uint32_t argc;
    const uint8_t *args; /* argc times {u32 len, bytes} */
    size_t args_len;
};

/* Exact payload size for op/flags and the argc arguments in argv, or 0
 * when the command is invalid (see kv_cmd_encode). */
size_t kv_cmd_encoded_size(const struct kv_cmd *c, const struct kv_slice *argv);

/* Encodes c (its op, flags, client, seq, argc; args/args_len ignored) with
 * the arguments argv[0..argc) into buf of cap bytes; *len gets the size.
 * Errors: SAMPAN_EINVAL (bad op, flags or arity), SAMPAN_ETOOBIG (a key
 * or value over its limit, or cap too small). Nothing is allocated. */
int kv_cmd_encode(const struct kv_cmd *c, const struct kv_slice *argv,
                  uint8_t *buf, size_t cap, size_t *len);

/* Decodes len bytes of buf (never reads past them; buf may be NULL when
 * len is 0). Errors: SAMPAN_EINVAL for anything that is not a valid
 * version-1 command, with a static reason in *why when why is not NULL. */
int kv_cmd_decode(const uint8_t *buf, size_t len, struct kv_cmd *c,
                  const char **why);

/* Walks the arguments of a decoded command: *pos starts at 0; each call
 * fills *arg with the next one. Only valid on a command that decoded. */
void kv_cmd_next_arg(const struct kv_cmd *c, size_t *pos, struct kv_slice *arg);

/* Little-endian int64 as carried by INCRBY/DECRBY. */
void kv_put_i64(uint8_t *p, int64_t v);
int64_t kv_get_i64(const uint8_t *p);

#endif
