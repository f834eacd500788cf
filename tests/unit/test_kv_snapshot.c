/* unit/test_kv_snapshot.c: exactly-once sessions (retry, stale sequence,
 * expiry, eviction bound) and snapshots (writes during a snapshot,
 * streaming, restore round trip, determinism across instances, corrupt
 * snapshots refused without a change). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/crc32c.h"
#include "kv/kv.h"

static struct kv *open_kv(uint32_t max_sessions, uint64_t expiry, uint64_t seed)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.max_sessions = max_sessions;
    cfg.session_expiry_entries = expiry;
    cfg.seed = seed;
    struct kv *kv;
    assert_int_equal(kv_open(&cfg, &kv), 0);
    return kv;
}

/* Applies "CMD a b" (space separated) with an optional session. */
static struct kv_result apply_s(struct kv *kv, const char *line,
                                const struct kv_session_id *sid)
{
    char buf[256];
    struct kv_slice argv[8];
    size_t argc = 0;
    strcpy(buf, line);
    for (char *t = strtok(buf, " "); t && argc < 8; t = strtok(NULL, " ")) {
        argv[argc].p = (const uint8_t *)t;
        argv[argc++].len = strlen(t);
    }
    uint8_t *payload;
    size_t len;
    struct kv_result r = {0};
    assert_int_equal(kv_cmd_from_argv(argc, argv, sid, &payload, &len, &r), 0);
    assert_non_null(payload);
    struct sampan_entry e = {.term = 1,
                             .index = kv_applied_index(kv) + 1,
                             .type = SAMPAN_ENTRY_NORMAL,
                             .len = (uint32_t)len,
                             .data = payload};
    assert_int_equal(kv_apply(kv, &e, &r), 0);
    free(payload);
    return r;
}

static int64_t apply_int(struct kv *kv, const char *line,
                         const struct kv_session_id *sid)
{
    struct kv_result r = apply_s(kv, line, sid);
    assert_int_equal(r.type, KV_R_INT);
    return r.i;
}

static void noop(struct kv *kv)
{
    struct sampan_entry e = {.term = 1,
                             .index = kv_applied_index(kv) + 1,
                             .type = SAMPAN_ENTRY_NOOP};
    assert_int_equal(kv_io_apply(kv, &e), 0);
}

static void test_exactly_once(void **state)
{
    (void)state;
    struct kv *kv = open_kv(100, 1000, 1);
    struct kv_session_id s = {.client = 42, .seq = 1};
    assert_int_equal(apply_int(kv, "INCR c", &s), 1);
    /* The retry (same client, same seq) gets the same reply, not 2. */
    assert_int_equal(apply_int(kv, "INCR c", &s), 1);
    assert_int_equal(apply_int(kv, "INCR c", &s), 1);
    s.seq = 2;
    assert_int_equal(apply_int(kv, "APPEND log x", &s), 1);
    assert_int_equal(apply_int(kv, "APPEND log x", &s), 1);
    s.seq = 5; /* gaps are fine */
    assert_int_equal(apply_int(kv, "INCR c", &s), 2);
    s.seq = 4;
    struct kv_result r = apply_s(kv, "INCR c", &s);
    assert_int_equal(r.type, KV_R_ERROR);
    assert_string_equal((char *)r.str, "ERR stale session sequence");
    kv_result_free(&r);
    /* Without a session every apply counts. */
    assert_int_equal(apply_int(kv, "INCR c", NULL), 3);
    /* Other clients are independent; cached errors replay too. */
    struct kv_session_id o = {.client = 7, .seq = 1};
    r = apply_s(kv, "INCR log", &o);
    assert_string_equal((char *)r.str,
                        "ERR value is not an integer or out of range");
    kv_result_free(&r);
    r = apply_s(kv, "INCR log", &o);
    assert_int_equal(r.type, KV_R_ERROR);
    kv_result_free(&r);
    o.seq = 2;
    r = apply_s(kv, "GETSET log y", &o);
    assert_string_equal((char *)r.str, "x");
    kv_result_free(&r);
    r = apply_s(kv, "GETSET log z", &o); /* replay: old value x, not y */
    assert_int_equal(r.type, KV_R_BULK);
    assert_string_equal((char *)r.str, "x");
    kv_result_free(&r);
    o.seq = 3;
    r = apply_s(kv, "SET k v NX", &o);
    assert_int_equal(r.type, KV_R_OK);
    r = apply_s(kv, "SET k v NX", &o);
    assert_int_equal(r.type, KV_R_OK); /* replayed, not the NX miss */
    assert_int_equal(kv_session_count(kv), 2);
    kv_close(kv);
}

static void test_session_expiry_and_bound(void **state)
{
    (void)state;
    struct kv *kv = open_kv(3, 10, 1);
    struct kv_session_id s = {.client = 1, .seq = 1};
    assert_int_equal(apply_int(kv, "INCR a", &s), 1); /* index 1 */
    for (int i = 0; i < 9; i++) {
        noop(kv); /* indexes 2..10 */
    }
    assert_int_equal(kv_session_count(kv), 1);
    /* Applied at index 11: age 10, not more than 10: still cached. */
    assert_int_equal(apply_int(kv, "INCR a", &s), 1);
    for (int i = 0; i < 11; i++) {
        noop(kv);
    }
    /* Unused for 11 > 10 entries: dropped, and (the documented risk) a
     * retry now applies again. */
    assert_int_equal(kv_session_count(kv), 0);
    assert_int_equal(apply_int(kv, "INCR a", &s), 2);
    /* Bound: the least recently used goes first. */
    for (uint64_t c = 10; c < 14; c++) {
        struct kv_session_id x = {.client = c, .seq = 1};
        apply_int(kv, "INCR b", &x);
    }
    assert_int_equal(kv_session_count(kv), 3);
    /* client 1 (oldest) was evicted: its retry applies again. */
    assert_int_equal(apply_int(kv, "INCR a", &s), 3);
    /* now 1, 12, 13 remain; 11 and 10 were evicted. */
    struct kv_session_id x = {.client = 13, .seq = 1};
    assert_int_equal(apply_int(kv, "INCR b", &x), 4); /* cached */
    x.client = 10;
    assert_int_equal(apply_int(kv, "INCR b", &x), 5); /* evicted: again */
    assert_int_equal(kv_session_count(kv), 3);
    kv_close(kv);
}

static void *snap_bytes(struct kv *kv, size_t *len)
{
    void *data;
    assert_int_equal(kv_io_snapshot(kv, kv_applied_index(kv), &data, len), 0);
    return data;
}

static void fill(struct kv *kv, int n, const char *val)
{
    for (int i = 0; i < n; i++) {
        char line[64];
        snprintf(line, sizeof(line), "SET key%05d %s%d", i, val, i);
        struct kv_result r = apply_s(kv, line, NULL);
        assert_int_equal(r.type, KV_R_OK);
    }
}

/* Begin, keep writing, stream the snapshot in small chunks: it holds the
 * state as of begin exactly (same bytes as a snapshot taken with no
 * writes), and the live state is the new one. */
static void test_snapshot_during_writes(void **state)
{
    (void)state;
    struct kv *a = open_kv(100, 1000, 1);
    struct kv *b = open_kv(100, 1000, 99); /* another seed, same bytes */
    fill(a, 2000, "old");
    fill(b, 2000, "old");
    struct kv_session_id s = {.client = 5, .seq = 1};
    apply_int(a, "INCR n", &s);
    apply_int(b, "INCR n", &s);
    size_t want_len;
    uint8_t *want = snap_bytes(b, &want_len);

    struct kv_snap *snap;
    assert_int_equal(kv_snapshot_begin(a, &snap), 0);
    assert_int_equal(kv_snapshot_index(snap), kv_applied_index(a));
    assert_int_equal(kv_snapshot_size(snap), want_len);
    fill(a, 3000, "new");
    struct kv_result r = apply_s(a, "DEL key00001 key00002", NULL);
    kv_result_free(&r);
    s.seq = 2;
    apply_int(a, "INCR n", &s);
    uint8_t *got = malloc(want_len + 10);
    size_t off = 0, n;
    do {
        assert_int_equal(kv_snapshot_write(snap, got + off, 7, &n), 0);
        off += n;
        assert_true(off <= want_len);
        if (off % 700 == 0) {
            fill(a, 10, "more"); /* writes between chunks */
        }
    } while (n > 0);
    assert_int_equal(off, want_len);
    assert_memory_equal(got, want, want_len);
    kv_snapshot_free(snap);

    /* Restoring it gives back the old state and the session. */
    struct kv *c = open_kv(100, 1000, 3);
    const char *why = NULL;
    assert_int_equal(kv_restore(c, got, want_len, &why), 0);
    assert_int_equal(kv_applied_index(c), kv_applied_index(b));
    assert_int_equal(kv_key_count(c), 2001);
    assert_int_equal(kv_data_bytes(c), kv_data_bytes(b));
    s.seq = 1;
    assert_int_equal(apply_int(c, "INCR n", &s), 1); /* replayed */
    size_t len2;
    uint8_t *again = snap_bytes(c, &len2);
    size_t len3;
    uint8_t *bagain;
    apply_int(b, "INCR n", &s);
    bagain = snap_bytes(b, &len3);
    assert_int_equal(len2, len3);
    assert_memory_equal(again, bagain, len2); /* deterministic */
    free(again);
    free(bagain);
    free(got);
    free(want);
    kv_close(a);
    kv_close(b);
    kv_close(c);
}

/* Same entries, different seeds and histories of snapshots: identical
 * bytes; and the snapshot handle outlives the kv. */
static void test_determinism(void **state)
{
    (void)state;
    struct kv *a = open_kv(4, 50, 11), *b = open_kv(4, 50, 22);
    uint64_t x = 1;
    struct kv_snap *held = NULL;
    for (int i = 0; i < 3000; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        char line[64];
        int k = (int)((x >> 33) % 300);
        switch ((x >> 20) % 6) {
        case 0:
            snprintf(line, sizeof(line), "SET k%d v%d", k, i);
            break;
        case 1:
            snprintf(line, sizeof(line), "DEL k%d k%d", k, k + 1);
            break;
        case 2:
            snprintf(line, sizeof(line), "APPEND k%d x", k);
            break;
        case 3:
            snprintf(line, sizeof(line), "INCR n%d", k % 10);
            break;
        case 4:
            snprintf(line, sizeof(line), "MSET k%d a k%d b", k, k + 7);
            break;
        default:
            snprintf(line, sizeof(line), "GETSET k%d g", k);
            break;
        }
        struct kv_session_id s = {.client = (x >> 40) % 9,
                                  .seq = (x >> 10) % 4};
        const struct kv_session_id *sp = (x & 1) ? &s : NULL;
        struct kv_result ra = apply_s(a, line, sp);
        struct kv_result rb = apply_s(b, line, sp);
        assert_int_equal(ra.type, rb.type);
        assert_int_equal(ra.i, rb.i);
        assert_int_equal(ra.len, rb.len);
        kv_result_free(&ra);
        kv_result_free(&rb);
        if (i % 500 == 0) {
            kv_snapshot_free(held);
            assert_int_equal(kv_snapshot_begin(a, &held), 0);
        }
    }
    size_t la, lb;
    uint8_t *sa = snap_bytes(a, &la), *sb = snap_bytes(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    assert_true(kv_session_count(a) <= 4);
    kv_close(a);
    void *late;
    size_t late_len;
    assert_int_equal(kv_snapshot_collect(held, &late, &late_len), 0);
    kv_snapshot_free(held);
    struct kv *c = open_kv(4, 50, 5);
    assert_int_equal(kv_restore(c, late, late_len, NULL), 0);
    free(late);
    free(sa);
    free(sb);
    kv_close(b);
    kv_close(c);
}

static void reseal(uint8_t *buf, size_t len)
{
    uint32_t crc = crc32c(0, buf, len - 4);
    for (int i = 0; i < 4; i++) {
        buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
}

/* Any damage is refused with SAMPAN_ECORRUPT and the state unchanged. */
static void test_corrupt_snapshots(void **state)
{
    (void)state;
    struct kv *a = open_kv(10, 100, 1);
    fill(a, 50, "v");
    struct kv_session_id s = {.client = 3, .seq = 1};
    apply_int(a, "INCR n", &s);
    size_t len;
    uint8_t *good = snap_bytes(a, &len);
    struct kv *b = open_kv(10, 100, 1);
    apply_int(b, "INCR other", NULL);
    uint8_t *buf = malloc(len);
    const char *why;
    /* Truncations. */
    for (size_t cut = 0; cut < len; cut += 13) {
        why = NULL;
        assert_int_equal(kv_restore(b, good, cut, &why), SAMPAN_ECORRUPT);
        assert_non_null(why);
    }
    /* Every single-byte flip, with and without a fixed-up CRC. */
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, good, len);
        buf[i] ^= 0x41;
        assert_int_equal(kv_restore(b, buf, len, NULL), SAMPAN_ECORRUPT);
        if (i < len - 4) {
            reseal(buf, len);
            int rc = kv_restore(b, buf, len, NULL);
            if (rc == 0) {
                /* A flip inside key/value bytes may still be a valid
                 * snapshot; put b back. */
                apply_int(b, "INCR other", NULL);
                continue;
            }
            assert_int_equal(rc, SAMPAN_ECORRUPT);
        }
    }
    /* Keys out of order, CRC right: key00000 and key00001 swapped. */
    memcpy(buf, good, len);
    uint8_t *k0 = memmem(buf, len, "key00000", 8);
    uint8_t *k1 = memmem(buf, len, "key00001", 8);
    assert_non_null(k0);
    assert_non_null(k1);
    k0[7] = '1';
    k1[7] = '0';
    reseal(buf, len);
    why = NULL;
    uint64_t before = kv_key_count(b), applied = kv_applied_index(b);
    assert_int_equal(kv_restore(b, buf, len, &why), SAMPAN_ECORRUPT);
    assert_string_equal(why, "keys out of order");
    assert_int_equal(kv_key_count(b), before); /* unchanged */
    assert_int_equal(kv_applied_index(b), applied);
    assert_int_equal(kv_restore(b, good, len, NULL), 0);
    assert_int_equal(kv_key_count(b), 51);
    assert_int_equal(kv_io_restore(b,
                                   &(struct sampan_snapshot_meta){.index = 99},
                                   good, len),
                     SAMPAN_ECORRUPT);
    struct sampan_snapshot_meta m = {.index = kv_applied_index(a)};
    assert_int_equal(kv_io_restore(b, &m, good, len), 0);
    void *d;
    size_t dl;
    assert_int_equal(kv_io_snapshot(b, kv_applied_index(b) + 1, &d, &dl),
                     SAMPAN_ESTATE);
    free(buf);
    free(good);
    kv_close(a);
    kv_close(b);
}

/* Restoring into a table with fewer sessions keeps the newest. */
static void test_restore_fewer_sessions(void **state)
{
    (void)state;
    struct kv *a = open_kv(10, 1000, 1);
    for (uint64_t c = 1; c <= 6; c++) {
        struct kv_session_id s = {.client = c, .seq = 1};
        apply_int(a, "INCR n", &s);
    }
    size_t len;
    uint8_t *snap = snap_bytes(a, &len);
    struct kv *b = open_kv(2, 1000, 1);
    assert_int_equal(kv_restore(b, snap, len, NULL), 0);
    assert_int_equal(kv_session_count(b), 2);
    struct kv_session_id s = {.client = 6, .seq = 1};
    assert_int_equal(apply_int(b, "INCR n", &s), 6); /* cached */
    s.client = 1;
    assert_int_equal(apply_int(b, "INCR n", &s), 7); /* was dropped */
    free(snap);
    kv_close(a);
    kv_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once),
        cmocka_unit_test(test_session_expiry_and_bound),
        cmocka_unit_test(test_snapshot_during_writes),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_corrupt_snapshots),
        cmocka_unit_test(test_restore_fewer_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
