/* kv/session.c: the bounded table of exactly-once client sessions: lookup
 * by client id, LRU order by the index of last use, deterministic expiry
 * and eviction (the rules are in docs/architecture.md (key/value state
 * machine)). */
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"

static uint32_t bucket_of(const struct kv_sessions *t, uint64_t client)
{
    uint64_t h = client * UINT64_C(0x9e3779b97f4a7c15);
    return (uint32_t)(h >> 32) & t->mask;
}

int kv_sessions_init(struct kv_sessions *t, uint32_t max)
{
    memset(t, 0, sizeof(*t));
    uint32_t n = 16;
    while (n < max && n < (1u << 30)) {
        n <<= 1;
    }
    t->buckets = calloc(n, sizeof(*t->buckets));
    if (!t->buckets) {
        return SAMPAN_ENOMEM;
    }
    t->mask = n - 1;
    t->max = max;
    return 0;
}

static void session_free(struct kv_session *s)
{
    free(s->str);
    free(s);
}

void kv_sessions_free(struct kv_sessions *t)
{
    struct kv_session *s = t->head;
    while (s) {
        struct kv_session *next = s->next;
        session_free(s);
        s = next;
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

struct kv_session *kv_sessions_find(const struct kv_sessions *t,
                                    uint64_t client)
{
    struct kv_session *s = t->buckets[bucket_of(t, client)];
    while (s && s->client != client) {
        s = s->hnext;
    }
    return s;
}

static void list_unlink(struct kv_sessions *t, struct kv_session *s)
{
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        t->head = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    } else {
        t->tail = s->prev;
    }
    s->prev = s->next = NULL;
}

static void list_append(struct kv_sessions *t, struct kv_session *s)
{
    s->prev = t->tail;
    s->next = NULL;
    if (t->tail) {
        t->tail->next = s;
    } else {
        t->head = s;
    }
    t->tail = s;
}

void kv_sessions_remove(struct kv_sessions *t, struct kv_session *s)
{
    struct kv_session **pp = &t->buckets[bucket_of(t, s->client)];
    while (*pp != s) {
        pp = &(*pp)->hnext;
    }
    *pp = s->hnext;
    list_unlink(t, s);
    t->count--;
    session_free(s);
}

struct kv_session *kv_sessions_add(struct kv_sessions *t, uint64_t client,
                                   uint64_t index)
{
    struct kv_session *s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    while (t->count >= t->max && t->head) {
        kv_sessions_remove(t, t->head); /* least recently used */
    }
    s->client = client;
    s->last_used = index;
    uint32_t b = bucket_of(t, client);
    s->hnext = t->buckets[b];
    t->buckets[b] = s;
    list_append(t, s);
    t->count++;
    return s;
}

void kv_sessions_touch(struct kv_sessions *t, struct kv_session *s,
                       uint64_t index)
{
    s->last_used = index;
    list_unlink(t, s);
    list_append(t, s);
}

void kv_sessions_expire(struct kv_sessions *t, uint64_t index, uint64_t expiry)
{
    while (t->head && index - t->head->last_used > expiry) {
        kv_sessions_remove(t, t->head);
    }
}

int kv_session_store(struct kv_session *s, const struct kv_result *r)
{
    const char *msg = NULL;
    const uint8_t *p = r->str;
    size_t len = r->len;
    uint8_t type = (uint8_t)r->type;
    if ((r->type == KV_R_BULK || r->type == KV_R_ERROR) &&
        len > KV_SESSION_REPLY_MAX) {
        msg = KV_ERR_REPLAY_TOO_BIG;
        type = KV_R_ERROR;
        p = (const uint8_t *)msg;
        len = strlen(msg);
    } else if (r->type != KV_R_BULK && r->type != KV_R_ERROR) {
        p = NULL;
        len = 0;
    }
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy) {
            return SAMPAN_ENOMEM;
        }
        memcpy(copy, p, len);
    }
    free(s->str);
    s->str = copy;
    s->len = (uint32_t)len;
    s->type = type;
    s->i = r->type == KV_R_INT ? r->i : 0;
    return 0;
}

int kv_session_replay(const struct kv_session *s, struct kv_result *out)
{
    memset(out, 0, sizeof(*out));
    if (s->type == KV_R_BULK || s->type == KV_R_ERROR) {
        int rc = kv_reply_bulk(out, s->str, s->len);
        if (rc != 0) {
            return rc;
        }
    }
    out->type = (enum kv_result_type)s->type;
    out->i = s->i;
    return 0;
}
