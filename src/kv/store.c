/* kv/store.c: the persistent treap behind the key space (see store.h for
 * the contract and why a treap). Every structural change goes through
 * node_own(): a node still shared with a snapshot is copied first, an
 * exclusive one is changed in place. Operations are recursive; depth is the
 * treap's height, O(log n) with high probability (about 2.5 log2 n). */
#include <stdlib.h>
#include <string.h>

#include "kv/store.h"

#define NODE_HDR offsetof(struct kv_node, data)

static uint32_t key_prio(uint64_t seed, const uint8_t *k, size_t n)
{
    /* FNV-1a mixed with the seed, finished by a splitmix64 round: cheap,
     * and with a secret seed a client cannot pick keys that degrade the
     * treap into a list. */
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ k[i]) * UINT64_C(0x100000001b3);
    }
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return (uint32_t)h;
}

static uint32_t sz(const struct kv_node *n)
{
    return n ? n->size : 0;
}

static void fix_size(struct kv_node *n)
{
    n->size = 1 + sz(n->left) + sz(n->right);
}

static void retain(struct kv_node *n)
{
    if (n) {
        atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
    }
}

void kv_node_release(struct kv_node *n)
{
    while (n) {
        if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1) {
            return;
        }
        struct kv_node *l = n->left, *r = n->right;
        free(n);
        kv_node_release(l);
        n = r; /* loop on one side: halves the recursion */
    }
}

static struct kv_node *node_alloc(uint32_t klen, uint32_t vlen)
{
    struct kv_node *n = malloc(NODE_HDR + (size_t)klen + vlen);
    if (n) {
        atomic_init(&n->refs, 1);
        n->left = n->right = NULL;
        n->size = 1;
        n->klen = klen;
        n->vlen = vlen;
    }
    return n;
}

/* Makes n exclusive to the live tree: returns n itself when nobody else
 * holds it, or a private copy (children retained, n released). The caller
 * stores the result in the parent slot it came from. NULL: out of
 * memory, nothing changed. */
static struct kv_node *node_own(struct kv_node *n)
{
    if (atomic_load_explicit(&n->refs, memory_order_acquire) == 1) {
        return n;
    }
    struct kv_node *c = node_alloc(n->klen, n->vlen);
    if (!c) {
        return NULL;
    }
    c->left = n->left;
    c->right = n->right;
    c->prio = n->prio;
    c->size = n->size;
    memcpy(c->data, n->data, (size_t)n->klen + n->vlen);
    retain(c->left);
    retain(c->right);
    kv_node_release(n);
    return c;
}

int kv_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int node_cmp(const uint8_t *k, size_t klen, const struct kv_node *n)
{
    return kv_key_cmp(k, klen, n->data, n->klen);
}

void kv_store_init(struct kv_store *s, uint64_t seed)
{
    s->root = NULL;
    s->seed = seed;
    s->bytes = 0;
}

void kv_store_clear(struct kv_store *s)
{
    kv_node_release(s->root);
    s->root = NULL;
    s->bytes = 0;
}

const struct kv_node *kv_store_get(const struct kv_store *s, const uint8_t *key,
                                   uint32_t klen)
{
    const struct kv_node *n = s->root;
    while (n) {
        int c = node_cmp(key, klen, n);
        if (c == 0) {
            return n;
        }
        n = c < 0 ? n->left : n->right;
    }
    return NULL;
}

struct set_args {
    uint64_t seed;
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *v1, *v2;
    uint32_t v1len, v2len;
    bool added;
    uint64_t old_vlen;
};

static struct kv_node *make_leaf(const struct set_args *a)
{
    struct kv_node *n = node_alloc(a->klen, a->v1len + a->v2len);
    if (!n) {
        return NULL;
    }
    n->prio = key_prio(a->seed, a->key, a->klen);
    if (a->klen) {
        memcpy(n->data, a->key, a->klen);
    }
    if (a->v1len) {
        memcpy(n->data + a->klen, a->v1, a->v1len);
    }
    if (a->v2len) {
        memcpy(n->data + a->klen + a->v1len, a->v2, a->v2len);
    }
    return n;
}

static struct kv_node *rotate_right(struct kv_node *n)
{
    struct kv_node *l = n->left;
    n->left = l->right;
    l->right = n;
    fix_size(n);
    fix_size(l);
    return l;
}

static struct kv_node *rotate_left(struct kv_node *n)
{
    struct kv_node *r = n->right;
    n->right = r->left;
    r->left = n;
    fix_size(n);
    fix_size(r);
    return r;
}

/* Replaces the value of exclusive node n: in place when the length is
 * unchanged (INCR mostly), else by a new node that inherits n's
 * children. The new value is built before n is freed since v1/v2 may
 * point into n. */
static int replace_value(struct kv_node **slot, struct set_args *a)
{
    struct kv_node *n = *slot;
    uint32_t vlen = a->v1len + a->v2len;
    a->old_vlen = n->vlen;
    uint8_t *v = n->data + n->klen;
    /* In place unless v2 lies in the value, where writing v1 first would
     * clobber it. */
    uintptr_t p2 = (uintptr_t)a->v2, pv = (uintptr_t)v;
    bool v2_inside = a->v2len && p2 >= pv && p2 < pv + n->vlen;
    if (vlen == n->vlen && !v2_inside) {
        /* memmove: a piece may be the value itself. */
        if (a->v1len) {
            memmove(v, a->v1, a->v1len);
        }
        if (a->v2len) {
            memmove(v + a->v1len, a->v2, a->v2len);
        }
        return 0;
    }
    struct kv_node *c = make_leaf(a);
    if (!c) {
        return SAMPAN_ENOMEM;
    }
    c->left = n->left;
    c->right = n->right;
    c->prio = n->prio;
    c->size = n->size;
    free(n); /* exclusive: its child references move to c */
    *slot = c;
    return 0;
}

static int insert(struct kv_node **slot, struct set_args *a)
{
    if (!*slot) {
        struct kv_node *leaf = make_leaf(a);
        if (!leaf) {
            return SAMPAN_ENOMEM;
        }
        a->added = true;
        *slot = leaf;
        return 0;
    }
    struct kv_node *n = node_own(*slot);
    if (!n) {
        return SAMPAN_ENOMEM;
    }
    *slot = n;
    int c = node_cmp(a->key, a->klen, n);
    if (c == 0) {
        return replace_value(slot, a);
    }
    int rc = insert(c < 0 ? &n->left : &n->right, a);
    /* Whatever happened below, the subtree is a valid tree again: fix the
     * size, then restore heap order if a new child outranks n. */
    fix_size(n);
    if (rc == 0) {
        if (c < 0 && n->left->prio > n->prio) {
            *slot = rotate_right(n);
        } else if (c > 0 && n->right->prio > n->prio) {
            *slot = rotate_left(n);
        }
    }
    return rc;
}

int kv_store_set(struct kv_store *s, const uint8_t *key, uint32_t klen,
                 const uint8_t *v1, uint32_t v1len, const uint8_t *v2,
                 uint32_t v2len, bool *added)
{
    if ((uint64_t)v1len + v2len > UINT32_MAX ||
        (uint64_t)klen + v1len + v2len > UINT32_MAX) {
        return SAMPAN_ETOOBIG;
    }
    if (kv_store_count(s) == UINT32_MAX) {
        return SAMPAN_ETOOBIG; /* sizes are u32 */
    }
    struct set_args a = {.seed = s->seed,
                         .key = key,
                         .klen = klen,
                         .v1 = v1,
                         .v1len = v1len,
                         .v2 = v2,
                         .v2len = v2len};
    int rc = insert(&s->root, &a);
    if (rc != 0) {
        return rc;
    }
    s->bytes += (uint64_t)v1len + v2len;
    if (a.added) {
        s->bytes += klen;
    } else {
        s->bytes -= a.old_vlen;
    }
    if (added) {
        *added = a.added;
    }
    return 0;
}

/* Rotates exclusive node *slot down until it is a leaf or has one child,
 * then unlinks and frees it. On ENOMEM the tree is still a valid search
 * tree holding the node (heap order may be off at it, which costs balance,
 * not correctness). */
static int remove_at(struct kv_node **slot)
{
    struct kv_node *n = *slot;
    if (!n->left || !n->right) {
        *slot = n->left ? n->left : n->right;
        free(n); /* exclusive: the child reference moves to the slot */
        return 0;
    }
    bool left_up = n->left->prio > n->right->prio;
    struct kv_node *c = node_own(left_up ? n->left : n->right);
    if (!c) {
        return SAMPAN_ENOMEM;
    }
    struct kv_node **down;
    if (left_up) {
        n->left = c;
        *slot = rotate_right(n);
        down = &c->right;
    } else {
        n->right = c;
        *slot = rotate_left(n);
        down = &c->left;
    }
    int rc = remove_at(down);
    fix_size(c);
    return rc;
}

static int delete (struct kv_node **slot, const uint8_t *key, uint32_t klen,
                   uint64_t *freed)
{
    struct kv_node *n = node_own(*slot);
    if (!n) {
        return SAMPAN_ENOMEM;
    }
    *slot = n;
    int c = node_cmp(key, klen, n);
    if (c == 0) {
        *freed = (uint64_t)n->klen + n->vlen;
        return remove_at(slot);
    }
    int rc = delete (c < 0 ? &n->left : &n->right, key, klen, freed);
    fix_size(n);
    return rc;
}

int kv_store_del(struct kv_store *s, const uint8_t *key, uint32_t klen)
{
    /* Look first: a miss must not copy a path a snapshot shares. */
    if (!kv_store_get(s, key, klen)) {
        return 0;
    }
    uint64_t freed = 0;
    int rc = delete (&s->root, key, klen, &freed);
    if (rc != 0) {
        return rc;
    }
    s->bytes -= freed;
    return 1;
}

uint64_t kv_tree_rank(const struct kv_node *n, const uint8_t *key, size_t klen)
{
    uint64_t rank = 0;
    while (n) {
        int c = node_cmp(key, klen, n);
        if (c <= 0) {
            n = n->left;
        } else {
            rank += sz(n->left) + 1u;
            n = n->right;
        }
    }
    return rank;
}

struct kv_node *kv_store_root_ref(struct kv_store *s)
{
    retain(s->root);
    return s->root;
}

static int iter_push(struct kv_iter *it, const struct kv_node *n)
{
    if (it->depth == it->cap) {
        uint32_t cap = it->cap ? it->cap * 2 : 64;
        const struct kv_node **st =
            realloc(it->stack, (size_t)cap * sizeof(*st));
        if (!st) {
            return SAMPAN_ENOMEM;
        }
        it->stack = st;
        it->cap = cap;
    }
    it->stack[it->depth++] = n;
    return 0;
}

/* The stack holds the nodes still to visit whose left side is done: the
 * top is next; popping a node pushes the left spine of its right child. */
int kv_iter_seek_rank(struct kv_iter *it, const struct kv_node *n,
                      uint64_t rank)
{
    it->depth = 0;
    while (n) {
        uint64_t ls = sz(n->left);
        if (rank < ls) {
            int rc = iter_push(it, n);
            if (rc != 0) {
                return rc;
            }
            n = n->left;
        } else if (rank == ls) {
            return iter_push(it, n);
        } else {
            rank -= ls + 1;
            n = n->right;
        }
    }
    return 0;
}

int kv_iter_seek_key(struct kv_iter *it, const struct kv_node *n,
                     const uint8_t *key, size_t klen)
{
    it->depth = 0;
    while (n) {
        if (node_cmp(key, klen, n) <= 0) {
            int rc = iter_push(it, n);
            if (rc != 0) {
                return rc;
            }
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return 0;
}

const struct kv_node *kv_iter_next(struct kv_iter *it)
{
    if (it->depth == 0) {
        return NULL;
    }
    const struct kv_node *n = it->stack[--it->depth];
    for (const struct kv_node *c = n->right; c; c = c->left) {
        /* Cannot fail for want of room: this path is no deeper than the
         * one that was popped plus the tree height, and the stack grew to
         * the height when needed; still, on ENOMEM stop cleanly. */
        if (iter_push(it, c) != 0) {
            it->depth = 0;
            return n;
        }
    }
    return n;
}

void kv_iter_free(struct kv_iter *it)
{
    free(it->stack);
    it->stack = NULL;
    it->depth = it->cap = 0;
}

void kv_build_init(struct kv_build *b, uint64_t seed)
{
    memset(b, 0, sizeof(*b));
    b->seed = seed;
}

/* Cartesian-tree construction over keys in order: the spine is the right
 * spine of the tree so far, priorities decreasing from bottom to top of
 * the stack array. A node popped off the spine is complete (its right
 * subtree was completed before it), so its size is fixed there. */
int kv_build_push(struct kv_build *b, const uint8_t *key, uint32_t klen,
                  const uint8_t *val, uint32_t vlen)
{
    if (b->depth == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 64;
        struct kv_node **sp = realloc(b->spine, (size_t)cap * sizeof(*sp));
        if (!sp) {
            return SAMPAN_ENOMEM;
        }
        b->spine = sp;
        b->cap = cap;
    }
    struct set_args a = {
        .seed = b->seed, .key = key, .klen = klen, .v1 = val, .v1len = vlen};
    struct kv_node *x = make_leaf(&a);
    if (!x) {
        return SAMPAN_ENOMEM;
    }
    struct kv_node *last = NULL;
    while (b->depth > 0 && b->spine[b->depth - 1]->prio < x->prio) {
        last = b->spine[--b->depth];
        fix_size(last);
    }
    x->left = last;
    if (b->depth > 0) {
        b->spine[b->depth - 1]->right = x;
    }
    b->spine[b->depth++] = x;
    b->bytes += (uint64_t)klen + vlen;
    return 0;
}

static struct kv_node *build_close(struct kv_build *b)
{
    struct kv_node *root = NULL;
    while (b->depth > 0) {
        root = b->spine[--b->depth];
        fix_size(root);
    }
    return root;
}

void kv_build_finish(struct kv_build *b, struct kv_store *s)
{
    struct kv_node *root = build_close(b);
    kv_store_clear(s);
    s->root = root;
    s->bytes = b->bytes;
    free(b->spine);
    kv_build_init(b, b->seed);
}

void kv_build_abort(struct kv_build *b)
{
    kv_node_release(build_close(b));
    free(b->spine);
    kv_build_init(b, b->seed);
}
