/* kv/internal.h: what the kv files share: the state machine struct, the
 * session table, reply helpers and the glob matcher. Not for other
 * modules. */
#ifndef SAMPAN_KV_INTERNAL_H
#define SAMPAN_KV_INTERNAL_H

#include "kv/kv.h"
#include "kv/store.h"

/* Largest bulk or error text a session keeps for replay; a longer reply
 * (GETSET of a big value) is replayed as KV_ERR_REPLAY_TOO_BIG, so the
 * table stays bounded: max_sessions * (this + ~100 bytes). */
#define KV_SESSION_REPLY_MAX 1024u

#define KV_ERR_NOT_INT "ERR value is not an integer or out of range"
#define KV_ERR_OVERFLOW "ERR increment or decrement would overflow"
#define KV_ERR_DECR_OVERFLOW "ERR decrement would overflow"
#define KV_ERR_STALE "ERR stale session sequence"
#define KV_ERR_BAD_ENTRY "ERR invalid command entry"
#define KV_ERR_TOO_BIG                                                         \
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
#define KV_ERR_KEY_TOO_BIG "ERR key exceeds maximum allowed size"
#define KV_ERR_REPLAY_TOO_BIG                                                  \
    "ERR command already applied; its reply is too large to replay"
#define KV_ERR_SYNTAX "ERR syntax error"
#define KV_ERR_CURSOR "ERR invalid cursor"
#define KV_ERR_EXPIRE                                                          \
    "ERR EX/PX/EXAT/PXAT are not supported: sampan has no key expiry yet"

/* One client session: the last sequence number applied and its reply. */
struct kv_session {
    uint64_t client;
    uint64_t seq;
    uint64_t last_used; /* index of the entry that last used it */
    uint8_t type;       /* enum kv_result_type of the cached reply */
    int64_t i;
    uint32_t len;
    uint8_t *str;                   /* owned; NULL when len == 0 */
    struct kv_session *prev, *next; /* LRU list, oldest at head   */
    struct kv_session *hnext;       /* hash chain                 */
};

/* Sessions by client id (chained hash) and by last use (a list: touching
 * moves a session to the tail with the current index, the largest, so
 * the list stays sorted by last_used and expiry/eviction pop the head). */
struct kv_sessions {
    struct kv_session **buckets;
    uint32_t mask;
    uint32_t count;
    uint32_t max;
    struct kv_session *head, *tail;
};

int kv_sessions_init(struct kv_sessions *t, uint32_t max);
void kv_sessions_free(struct kv_sessions *t);
struct kv_session *kv_sessions_find(const struct kv_sessions *t,
                                    uint64_t client);
/* Appends a new empty session used at `index` (the caller checked the
 * client is absent), evicting the least recently used when full. */
struct kv_session *kv_sessions_add(struct kv_sessions *t, uint64_t client,
                                   uint64_t index);
void kv_sessions_touch(struct kv_sessions *t, struct kv_session *s,
                       uint64_t index);
/* Drops sessions last used more than `expiry` entries before `index`. */
void kv_sessions_expire(struct kv_sessions *t, uint64_t index, uint64_t expiry);
void kv_sessions_remove(struct kv_sessions *t, struct kv_session *s);
/* Stores a copy of r as s's cached reply. Errors: SAMPAN_ENOMEM. */
int kv_session_store(struct kv_session *s, const struct kv_result *r);
/* Fills out with a copy of s's cached reply. Errors: SAMPAN_ENOMEM. */
int kv_session_replay(const struct kv_session *s, struct kv_result *out);

struct kv {
    struct kv_config cfg;
    struct kv_store store;
    struct kv_sessions sessions;
    uint64_t applied;
};

/* Reply helpers; the strings are copied. */
void kv_reply_ok(struct kv_result *r);
void kv_reply_int(struct kv_result *r, int64_t i);
void kv_reply_null(struct kv_result *r);
int kv_reply_bulk(struct kv_result *r, const void *p, size_t len);
int kv_reply_error(struct kv_result *r, const char *msg);
int kv_reply_array(struct kv_result *r, size_t n);
/* "ERR wrong number of arguments for 'name' command" (name lowered). */
int kv_reply_arity(struct kv_result *r, const char *name);

/* Redis string2ll: a strict decimal int64 ("-0", "+1", " 1", "01" and ""
 * are not integers). Returns true and sets *v when it is one. */
bool kv_parse_i64(const uint8_t *p, size_t len, int64_t *v);
/* Decimal text of v into buf (>= 21 bytes); returns the length. */
size_t kv_format_i64(int64_t v, char *buf);
bool kv_name_is(const struct kv_slice *s, const char *name);

/* Redis stringmatchlen glob (*, ?, [abc], [^a-z], \x), case-sensitive. */
bool kv_glob_match(const uint8_t *pat, size_t plen, const uint8_t *str,
                   size_t slen);
/* Length of the literal prefix every match of pat starts with, copied
 * unescaped into out (cap bytes; the prefix is cut at cap). */
size_t kv_glob_prefix(const uint8_t *pat, size_t plen, uint8_t *out,
                      size_t cap);

#endif
