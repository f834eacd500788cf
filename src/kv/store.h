/* kv/store.h: the key space: an ordered map from byte-string keys to
 * byte-string values, kept as a persistent (path-copying) treap whose nodes
 * are reference counted and augmented with subtree sizes.
 *
 * Why this shape (docs/architecture.md (key/value state machine) has the
 * measured figures):
 * - ordered, so SCAN cursors and MATCH prefix* are range walks, not full
 *   scans;
 * - persistent, so a snapshot is one reference to the root (O(1)) and can
 *   be serialized by another thread while writers go on: a writer copies
 *   only the nodes on its path that a snapshot still shares (reference
 *   count > 1) and mutates exclusive nodes in place, so with no snapshot
 *   open a write allocates nothing but the node it inserts;
 * - subtree sizes give O(log n) rank <-> key, which makes integer SCAN
 *   cursors (what Redis clients parse) possible on an ordered map;
 * - one allocation per key holds the node header (36 bytes), the key and
 *   the value.
 * Priorities come from a seeded hash of the key, so the shape does not
 * depend on insertion order; nothing observable (replies, snapshot bytes)
 * depends on the shape at all, so nodes need not share the seed.
 *
 * Threads: one writer thread owns a kv_store. Roots taken with
 * kv_store_root_ref() may be read (kv_iter) and released (kv_node_release)
 * on any other thread while the writer keeps writing; reference counts are
 * atomic for that reason only. */
#ifndef SAMPAN_KV_STORE_H
#define SAMPAN_KV_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/error.h"

/* A node: header, then key bytes, then value bytes, in one allocation.
 * Read-only outside store.c. */
struct kv_node {
    struct kv_node *left, *right;
    _Atomic uint32_t refs; /* parents + roots pointing here            */
    uint32_t prio;         /* heap order: parent prio >= child prio    */
    uint32_t size;         /* nodes in this subtree                    */
    uint32_t klen;
    uint32_t vlen;
    uint8_t data[]; /* key (klen bytes) then value (vlen bytes) */
};

static inline const uint8_t *kv_node_key(const struct kv_node *n)
{
    return n->data;
}

static inline const uint8_t *kv_node_val(const struct kv_node *n)
{
    return n->data + n->klen;
}

struct kv_store {
    struct kv_node *root; /* owned: one reference                  */
    uint64_t seed;        /* priority hash seed                    */
    uint64_t bytes;       /* sum of klen + vlen over live keys     */
};

/* An empty store; no allocation. */
void kv_store_init(struct kv_store *s, uint64_t seed);
/* Drops every key (releases the root; a snapshot holding it keeps its
 * nodes alive). The store stays usable. */
void kv_store_clear(struct kv_store *s);

/* Byte order: memcmp over the shorter length, then the shorter first. */
int kv_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* The node holding key, or NULL; borrowed, valid until the next write. */
const struct kv_node *kv_store_get(const struct kv_store *s, const uint8_t *key,
                                   uint32_t klen);

/* Sets key to the concatenation v1 + v2 (v2 may be NULL with v2len 0; the
 * pieces may point into the current value of key). *added (may be NULL)
 * says whether the key is new. Errors: SAMPAN_ENOMEM, SAMPAN_ETOOBIG
 * (lengths overflow u32); on error the map's content is unchanged. */
int kv_store_set(struct kv_store *s, const uint8_t *key, uint32_t klen,
                 const uint8_t *v1, uint32_t v1len, const uint8_t *v2,
                 uint32_t v2len, bool *added);

/* Deletes key: 1 if it was there, 0 if not, SAMPAN_ENOMEM (content
 * unchanged). */
int kv_store_del(struct kv_store *s, const uint8_t *key, uint32_t klen);

static inline uint64_t kv_store_count(const struct kv_store *s)
{
    return s->root ? s->root->size : 0;
}

/* How many keys of the tree rooted at root sort strictly before key. */
uint64_t kv_tree_rank(const struct kv_node *root, const uint8_t *key,
                      size_t klen);

/* A new reference to the current root (NULL for an empty map), owned by
 * the caller, who releases it with kv_node_release. O(1). */
struct kv_node *kv_store_root_ref(struct kv_store *s);
/* Drops one reference; frees the nodes no longer referenced. Any thread. */
void kv_node_release(struct kv_node *n);

/* In-order iteration over the tree at root, which must stay referenced
 * while the iterator is used. The stack is heap-allocated and grows as
 * needed; kv_iter_free releases it. */
struct kv_iter {
    const struct kv_node **stack;
    uint32_t depth, cap;
};

/* Positions before the node of rank `rank` (0-based); past the end when
 * rank >= size. Errors: SAMPAN_ENOMEM. */
int kv_iter_seek_rank(struct kv_iter *it, const struct kv_node *root,
                      uint64_t rank);
/* Positions before the first key >= key. Errors: SAMPAN_ENOMEM. */
int kv_iter_seek_key(struct kv_iter *it, const struct kv_node *root,
                     const uint8_t *key, size_t klen);
/* The next node in key order, or NULL at the end. Errors are impossible:
 * the stack was sized for the path when seeking. */
const struct kv_node *kv_iter_next(struct kv_iter *it);
void kv_iter_free(struct kv_iter *it);

/* Building a store from keys given in strictly increasing order (restore)
 * in O(n): kv_build_push takes each, kv_build_finish installs the tree
 * into an empty store. On any error call kv_build_abort. */
struct kv_build {
    struct kv_node **spine; /* right spine of the tree so far */
    uint32_t depth, cap;
    uint64_t bytes;
    uint64_t seed;
};
void kv_build_init(struct kv_build *b, uint64_t seed);
int kv_build_push(struct kv_build *b, const uint8_t *key, uint32_t klen,
                  const uint8_t *val, uint32_t vlen);
/* Replaces s's content by the built tree; b is reset. */
void kv_build_finish(struct kv_build *b, struct kv_store *s);
void kv_build_abort(struct kv_build *b);

#endif
