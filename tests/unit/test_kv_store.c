/* unit/test_kv_store.c: the persistent treap (src/kv/store.c) against a
 * sorted-array reference model over 100k random operations, rank and
 * seek, snapshots that keep the old version while the live tree changes,
 * and the O(n) builder used by restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv/store.h"

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Reference model: a sorted array of (key, value) strings. */
struct ref_ent {
    char key[16];
    char val[32];
};
struct ref {
    struct ref_ent *e;
    size_t n, cap;
};

static size_t ref_lb(const struct ref *r, const char *k)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kv_key_cmp((const uint8_t *)r->e[mid].key, strlen(r->e[mid].key),
                       (const uint8_t *)k, strlen(k)) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void ref_set(struct ref *r, const char *k, const char *v)
{
    size_t i = ref_lb(r, k);
    if (i < r->n && strcmp(r->e[i].key, k) == 0) {
        strcpy(r->e[i].val, v);
        return;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->e = realloc(r->e, r->cap * sizeof(*r->e));
        assert_non_null(r->e);
    }
    memmove(&r->e[i + 1], &r->e[i], (r->n - i) * sizeof(*r->e));
    strcpy(r->e[i].key, k);
    strcpy(r->e[i].val, v);
    r->n++;
}

static int ref_del(struct ref *r, const char *k)
{
    size_t i = ref_lb(r, k);
    if (i < r->n && strcmp(r->e[i].key, k) == 0) {
        memmove(&r->e[i], &r->e[i + 1], (r->n - i - 1) * sizeof(*r->e));
        r->n--;
        return 1;
    }
    return 0;
}

static void set_str(struct kv_store *s, const char *k, const char *v)
{
    assert_int_equal(kv_store_set(s, (const uint8_t *)k, (uint32_t)strlen(k),
                                  (const uint8_t *)v, (uint32_t)strlen(v), NULL,
                                  0, NULL),
                     0);
}

/* The whole tree at root equals the model, in order. */
static void check_equal(const struct kv_node *root, const struct ref *r)
{
    struct kv_iter it = {0};
    assert_int_equal(kv_iter_seek_rank(&it, root, 0), 0);
    for (size_t i = 0; i < r->n; i++) {
        const struct kv_node *n = kv_iter_next(&it);
        assert_non_null(n);
        assert_int_equal(n->klen, strlen(r->e[i].key));
        assert_memory_equal(kv_node_key(n), r->e[i].key, n->klen);
        assert_int_equal(n->vlen, strlen(r->e[i].val));
        assert_memory_equal(kv_node_val(n), r->e[i].val, n->vlen);
    }
    assert_null(kv_iter_next(&it));
    kv_iter_free(&it);
    assert_int_equal(root ? root->size : 0, r->n);
}

static void ref_copy(struct ref *dst, const struct ref *src)
{
    dst->n = dst->cap = src->n;
    dst->e = malloc((src->n ? src->n : 1) * sizeof(*dst->e));
    assert_non_null(dst->e);
    memcpy(dst->e, src->e, src->n * sizeof(*dst->e));
}

static void test_random_against_model(void **state)
{
    (void)state;
    struct kv_store s;
    kv_store_init(&s, 42);
    struct ref r = {0};
    uint64_t seed = 7;
    /* Snapshots taken along the way with their model copies; each is
     * checked (unchanged) when released, while writes went on. */
    struct kv_node *snap = NULL;
    struct ref snap_ref = {0};
    for (int op = 0; op < 100000; op++) {
        char k[16], v[32];
        snprintf(k, sizeof(k), "k%u", (unsigned)(rng(&seed) % 3000));
        uint64_t what = rng(&seed) % 100;
        if (what < 55) {
            snprintf(v, sizeof(v), "v%llu",
                     (unsigned long long)(rng(&seed) % 100000));
            bool added;
            bool was = kv_store_get(&s, (const uint8_t *)k, strlen(k)) != NULL;
            assert_int_equal(kv_store_set(&s, (const uint8_t *)k, strlen(k),
                                          (const uint8_t *)v, strlen(v), NULL,
                                          0, &added),
                             0);
            assert_int_equal(added, !was);
            ref_set(&r, k, v);
        } else if (what < 90) {
            assert_int_equal(kv_store_del(&s, (const uint8_t *)k, strlen(k)),
                             ref_del(&r, k));
        } else if (what < 98) {
            size_t i = ref_lb(&r, k);
            const struct kv_node *n =
                kv_store_get(&s, (const uint8_t *)k, strlen(k));
            bool there = i < r.n && strcmp(r.e[i].key, k) == 0;
            assert_int_equal(n != NULL, there);
            assert_int_equal(
                kv_tree_rank(s.root, (const uint8_t *)k, strlen(k)), i);
            struct kv_iter it = {0};
            assert_int_equal(
                kv_iter_seek_key(&it, s.root, (const uint8_t *)k, strlen(k)),
                0);
            const struct kv_node *m = kv_iter_next(&it);
            if (i < r.n) {
                assert_non_null(m);
                assert_memory_equal(kv_node_key(m), r.e[i].key, m->klen);
            } else {
                assert_null(m);
            }
            kv_iter_free(&it);
        } else {
            if (snap) {
                check_equal(snap, &snap_ref);
                kv_node_release(snap);
                free(snap_ref.e);
            }
            snap = kv_store_root_ref(&s);
            ref_copy(&snap_ref, &r);
        }
        assert_int_equal(kv_store_count(&s), r.n);
    }
    check_equal(s.root, &r);
    uint64_t bytes = 0;
    for (size_t i = 0; i < r.n; i++) {
        bytes += strlen(r.e[i].key) + strlen(r.e[i].val);
    }
    assert_int_equal(s.bytes, bytes);
    if (snap) {
        check_equal(snap, &snap_ref);
        kv_node_release(snap);
        free(snap_ref.e);
    }
    kv_store_clear(&s);
    free(r.e);
}

/* A snapshot root keeps the old version exactly; the live tree moves on;
 * releasing the snapshot first or the live tree first both free all. */
static void test_snapshot_isolation(void **state)
{
    (void)state;
    struct kv_store s;
    kv_store_init(&s, 1);
    char k[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        set_str(&s, k, "old");
    }
    struct kv_node *snap = kv_store_root_ref(&s);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(k, sizeof(k), "key%04d", i);
        set_str(&s, k, "new-value");
        snprintf(k, sizeof(k), "key%04d", i + 1);
        assert_int_equal(kv_store_del(&s, (const uint8_t *)k, 7), 1);
    }
    set_str(&s, "zzz", "added");
    assert_int_equal(snap->size, 1000);
    assert_int_equal(kv_store_count(&s), 501);
    struct kv_iter it = {0};
    assert_int_equal(kv_iter_seek_rank(&it, snap, 0), 0);
    for (int i = 0; i < 1000; i++) {
        const struct kv_node *n = kv_iter_next(&it);
        snprintf(k, sizeof(k), "key%04d", i);
        assert_memory_equal(kv_node_key(n), k, 7);
        assert_int_equal(n->vlen, 3);
        assert_memory_equal(kv_node_val(n), "old", 3);
    }
    assert_null(kv_iter_next(&it));
    const struct kv_node *n = kv_store_get(&s, (const uint8_t *)"key0010", 7);
    assert_non_null(n);
    assert_memory_equal(kv_node_val(n), "new-value", 9);
    kv_store_clear(&s); /* live first: the snapshot must stay readable */
    assert_int_equal(kv_iter_seek_rank(&it, snap, 999), 0);
    n = kv_iter_next(&it);
    assert_memory_equal(kv_node_key(n), "key0999", 7);
    kv_iter_free(&it);
    kv_node_release(snap);
}

/* Values built from pieces of the key's own value (APPEND). */
static void test_set_from_own_value(void **state)
{
    (void)state;
    struct kv_store s;
    kv_store_init(&s, 3);
    set_str(&s, "a", "hello");
    const struct kv_node *n = kv_store_get(&s, (const uint8_t *)"a", 1);
    assert_int_equal(kv_store_set(&s, (const uint8_t *)"a", 1, kv_node_val(n),
                                  n->vlen, (const uint8_t *)" world", 6, NULL),
                     0);
    n = kv_store_get(&s, (const uint8_t *)"a", 1);
    assert_int_equal(n->vlen, 11);
    assert_memory_equal(kv_node_val(n), "hello world", 11);
    /* Same length, from itself: in place with memmove. */
    assert_int_equal(kv_store_set(&s, (const uint8_t *)"a", 1,
                                  kv_node_val(n) + 6, 5, kv_node_val(n), 6,
                                  NULL),
                     0);
    n = kv_store_get(&s, (const uint8_t *)"a", 1);
    assert_memory_equal(kv_node_val(n), "worldhello ", 11);
    assert_int_equal(s.bytes, 12);
    kv_store_clear(&s);
}

/* The empty key and binary keys order bytewise, shorter first. */
static void test_key_order(void **state)
{
    (void)state;
    assert_true(kv_key_cmp((const uint8_t *)"", 0, (const uint8_t *)"a", 1) <
                0);
    assert_true(kv_key_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"a", 1) >
                0);
    assert_true(kv_key_cmp((const uint8_t *)"\xff", 1,
                           (const uint8_t *)"\x01\x02", 2) > 0);
    assert_int_equal(
        kv_key_cmp((const uint8_t *)"x", 1, (const uint8_t *)"x", 1), 0);
}

static void test_build_matches_inserts(void **state)
{
    (void)state;
    struct kv_store s;
    kv_store_init(&s, 9);
    set_str(&s, "stale", "x"); /* finish replaces the content */
    struct kv_build b;
    kv_build_init(&b, 9);
    char k[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "b%05d", i);
        assert_int_equal(
            kv_build_push(&b, (const uint8_t *)k, 6, (const uint8_t *)"val", 3),
            0);
    }
    kv_build_finish(&b, &s);
    assert_int_equal(kv_store_count(&s), 5000);
    assert_int_equal(s.bytes, 5000 * 9);
    assert_null(kv_store_get(&s, (const uint8_t *)"stale", 5));
    for (int i = 0; i < 5000; i += 97) {
        snprintf(k, sizeof(k), "b%05d", i);
        assert_non_null(kv_store_get(&s, (const uint8_t *)k, 6));
        assert_int_equal(kv_tree_rank(s.root, (const uint8_t *)k, 6), i);
    }
    /* Heap order holds, so later inserts keep the tree balanced. */
    set_str(&s, "b00000x", "y");
    assert_int_equal(kv_store_count(&s), 5001);
    assert_int_equal(kv_store_del(&s, (const uint8_t *)"b00000x", 7), 1);
    kv_store_clear(&s);
    kv_build_init(&b, 9);
    assert_int_equal(kv_build_push(&b, (const uint8_t *)"a", 1, NULL, 0), 0);
    kv_build_abort(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_snapshot_isolation),
        cmocka_unit_test(test_set_from_own_value),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_build_matches_inserts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
