/* unit/test_storage_recovery.c: crash and damage handling of the storage
 * layer (src/storage/recover.c) on real files: a torn last batch cut at
 * every byte is truncated, while a damaged batch followed by valid data, a
 * damaged complete last batch, a damaged snapshot or a missing segment are
 * refused with a message naming the file; and the install crash window
 * drops the log a received snapshot replaced, while a locally saved
 * snapshot keeps the log after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sampan/storage.h"
#include "storage/format.h"

/* Test helpers: a fresh data directory under /tmp per test, opening and
 * closing the storage over the POSIX vfs, and raw file access. */
struct fx {
    char dir[64];
    struct sampan_vfs vfs;
    bool vfs_open;
    struct sampan_storage *st;
    struct sampan_storage_state state;
    struct sampan_storage_config cfg;
    char err[512];
};

static void path_of(const struct fx *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

static int fx_open(struct fx *f)
{
    assert_false(f->vfs_open);
    int rc = sampan_vfs_posix_open(f->dir, true, false, &f->vfs, f->err,
                                   sizeof(f->err));
    assert_int_equal(rc, 0);
    f->vfs_open = true;
    f->err[0] = '\0';
    rc = sampan_storage_open(&f->vfs, &f->cfg, &f->st, &f->state, f->err,
                             sizeof(f->err));
    if (rc != 0) {
        sampan_vfs_posix_close(&f->vfs);
        f->vfs_open = false;
    }
    return rc;
}

static void fx_close(struct fx *f)
{
    if (f->st) {
        sampan_storage_close(f->st);
        f->st = NULL;
    }
    if (f->vfs_open) {
        sampan_vfs_posix_close(&f->vfs);
        f->vfs_open = false;
    }
}

static void fx_reopen(struct fx *f)
{
    fx_close(f);
    int rc = fx_open(f);
    if (rc != 0) {
        fail_msg("reopen: %s: %s", sampan_strerror(rc), f->err);
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sampan-storage-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    sampan_storage_config_default(&f->cfg);
    f->cfg.segment_bytes = 4096;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                char p[512];
                path_of(f, de->d_name, p, sizeof(p));
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Entry payloads: len bytes, never zero, derived from index and term, so
 * a replaced entry reads back differently from the one it replaced. */
static uint8_t pattern(uint64_t index, uint64_t term, uint32_t i)
{
    return (uint8_t)(((index * 31 + term * 7 + i) % 255) + 1);
}

/* Persists entries first..first+n-1 of `term` with len-byte payloads as
 * one batch. */
static int append(struct fx *f, uint64_t first, size_t n, uint64_t term,
                  uint32_t len)
{
    struct sampan_entry *e = calloc(n, sizeof(*e));
    assert_non_null(e);
    for (size_t i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = len ? SAMPAN_ENTRY_NORMAL : SAMPAN_ENTRY_NOOP;
        e[i].len = len;
        if (len) {
            e[i].data = malloc(len);
            assert_non_null(e[i].data);
            for (uint32_t j = 0; j < len; j++) {
                e[i].data[j] = pattern(e[i].index, term, j);
            }
        }
    }
    struct sampan_storage_batch b = {0};
    b.n_entries = n;
    b.entries = e;
    int rc = sampan_storage_persist(f->st, &b);
    for (size_t i = 0; i < n; i++) {
        free(e[i].data);
    }
    free(e);
    return rc;
}

/* Checks the recovered entry at position pos has index, term, len and the
 * pattern payload. */
static void check_entry(const struct fx *f, size_t pos, uint64_t index,
                        uint64_t term, uint32_t len)
{
    assert_true(pos < f->state.n_entries);
    const struct sampan_entry *e = &f->state.entries[pos];
    assert_int_equal(e->index, index);
    assert_int_equal(e->term, term);
    assert_int_equal(e->len, len);
    for (uint32_t j = 0; j < len; j++) {
        assert_int_equal(e->data[j], pattern(index, term, j));
    }
}

/* Names of the directory's files whose name starts with prefix and ends
 * with suffix, sorted; returns how many (at most max). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static size_t list_files(const struct fx *f, const char *prefix,
                         const char *suffix, char (*out)[256], size_t max)
{
    size_t n = 0;
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), ls = strlen(suffix);
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && l >= ls &&
            strcmp(de->d_name + l - ls, suffix) == 0 && n < max) {
            snprintf(out[n++], 256, "%s", de->d_name);
        }
    }
    closedir(d);
    qsort(out, n, sizeof(*out), cmp_str);
    return n;
}

/* Reads a whole file; *len its size. Caller frees. */
static uint8_t *slurp(const struct fx *f, const char *name, size_t *len)
{
    char p[512];
    path_of(f, name, p, sizeof(p));
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spit(const struct fx *f, const char *name, const uint8_t *buf,
                 size_t len)
{
    char p[512];
    path_of(f, name, p, sizeof(p));
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

static void flip_byte(const struct fx *f, const char *name, size_t off)
{
    size_t len;
    uint8_t *buf = slurp(f, name, &len);
    assert_true(off < len);
    buf[off] ^= 0xff;
    spit(f, name, buf, len);
    free(buf);
}

/* On-disk size of a batch of n entries of len bytes each. */
static uint64_t bsize(size_t n, uint32_t len)
{
    uint64_t payload = n * (FMT_RECORD_HDR + (uint64_t)len);
    return batch_extent((uint32_t)payload);
}

/* The single open segment's name (asserted to exist). */
static void open_segment(const struct fx *f, char *name)
{
    char names[4][256];
    assert_int_equal(list_files(f, "wal-", ".open", names, 4), 1);
    snprintf(name, 256, "%s", names[0]);
}

/* A write cut short anywhere inside the last batch: the file holds the
 * bytes before the cut and zeros after (preallocated). Recovery keeps
 * exactly the batches before it, says so, and the repair is durable. */
static void test_torn_tail_every_byte(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 8192;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 3, 1, 40), 0);
    assert_int_equal(append(f, 4, 2, 1, 600), 0);
    fx_close(f);
    char seg[256];
    open_segment(f, seg);
    size_t len;
    uint8_t *orig = slurp(f, seg, &len);
    uint64_t start = FMT_SECTOR + bsize(3, 40);
    uint64_t written = FMT_BATCH_HDR + 2 * (FMT_RECORD_HDR + 600) + 4;
    uint8_t *img = malloc(len);
    assert_non_null(img);
    for (uint64_t cut = start; cut < start + written; cut++) {
        memcpy(img, orig, len);
        memset(img + cut, 0, len - cut);
        spit(f, seg, img, len);
        int rc = fx_open(f);
        if (rc != 0) {
            fail_msg("cut at %llu: %s", (unsigned long long)cut, f->err);
        }
        assert_int_equal(f->state.n_entries, 3);
        check_entry(f, 2, 3, 1, 40);
        /* A cut at the batch start leaves no trace of it: nothing to
         * repair. Any later cut leaves a partial batch. */
        if (cut > start && strstr(f->state.repaired, "torn tail") == NULL) {
            fail_msg("cut at %llu: not reported: '%s'", (unsigned long long)cut,
                     f->state.repaired);
        }
        fx_reopen(f);
        assert_string_equal(f->state.repaired, "");
        assert_int_equal(f->state.n_entries, 3);
        fx_close(f);
    }
    /* After a repair the log continues where the torn batch was. */
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 4, 1, 2, 10), 0);
    fx_reopen(f);
    assert_int_equal(f->state.n_entries, 4);
    check_entry(f, 3, 4, 2, 10);
    free(img);
    free(orig);
}

/* Every single-byte flip of a batch followed by another batch is refused,
 * naming the file and an offset. */
static void test_mid_log_flip(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 8192;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 2, 1, 30), 0);
    assert_int_equal(append(f, 3, 2, 1, 300), 0);
    assert_int_equal(append(f, 5, 1, 1, 30), 0);
    fx_close(f);
    char seg[256];
    open_segment(f, seg);
    size_t len;
    uint8_t *orig = slurp(f, seg, &len);
    uint64_t start = FMT_SECTOR + bsize(2, 30);
    uint64_t ext = bsize(2, 300);
    for (uint64_t off = start; off < start + ext; off++) {
        orig[off] ^= 0x5a;
        spit(f, seg, orig, len);
        orig[off] ^= 0x5a;
        int rc = fx_open(f);
        if (rc != SAMPAN_ECORRUPT) {
            fail_msg("flip at %llu: rc %d", (unsigned long long)off, rc);
        }
        assert_non_null(strstr(f->err, seg));
        assert_non_null(strstr(f->err, "offset"));
    }
    /* Undamaged, it opens. */
    spit(f, seg, orig, len);
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(f->state.n_entries, 5);
    free(orig);
}

/* A flipped byte in a complete last batch (trailer present, no zero
 * sector) is damage, not a torn write: refused, not truncated. */
static void test_last_batch_flip(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_bytes = 8192;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 2, 1, 30), 0);
    assert_int_equal(append(f, 3, 2, 1, 700), 0);
    fx_close(f);
    char seg[256];
    open_segment(f, seg);
    uint64_t start = FMT_SECTOR + bsize(2, 30);
    flip_byte(f, seg, start + FMT_BATCH_HDR + 500);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, seg));
    char want[64];
    snprintf(want, sizeof(want), "offset %llu, index 3",
             (unsigned long long)start);
    assert_non_null(strstr(f->err, want));
    /* The same in a closed segment. */
    flip_byte(f, seg, start + FMT_BATCH_HDR + 500);
    assert_int_equal(fx_open(f), 0);
    fx_close(f);
}

/* A damaged closed segment is refused even when its damage looks torn. */
static void test_closed_segment_crc(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    for (uint64_t i = 1; i <= 20; i++) {
        assert_int_equal(append(f, i, 1, 1, 300), 0);
    }
    fx_close(f);
    char names[16][256];
    assert_true(list_files(f, "wal-", ".seg", names, 16) >= 2);
    flip_byte(f, names[0], FMT_SECTOR + FMT_BATCH_HDR + 5);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, names[0]));
}

/* A snapshot failing its checksum (data or header) is refused by name. */
static void test_snapshot_crc(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 5, 1, 10), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 3;
    sm.term = 1;
    assert_int_equal(
        sampan_storage_save_snapshot(f->st, &sm, "snapshot-bytes", 14), 0);
    fx_close(f);
    char names[4][256];
    assert_int_equal(list_files(f, "snap-", ".snap", names, 4), 1);
    flip_byte(f, names[0], FMT_SECTOR + 4);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, names[0]));
    flip_byte(f, names[0], FMT_SECTOR + 4);
    flip_byte(f, names[0], 14);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, names[0]));
    flip_byte(f, names[0], 14);
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(f->state.snapshot.index, 3);
}

/* Deleting a middle segment is detected. */
static void test_missing_segment(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(append(f, i, 1, 1, 300), 0);
    }
    fx_close(f);
    char names[16][256];
    size_t n = list_files(f, "wal-", ".seg", names, 16);
    assert_true(n >= 3);
    char p[512];
    path_of(f, names[1], p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, "missing segment"));
    assert_non_null(strstr(f->err, names[2]));
}

/* Deleting the first segment when no snapshot covers it is detected. */
static void test_missing_first_segment(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(append(f, i, 1, 1, 300), 0);
    }
    fx_close(f);
    char names[16][256];
    assert_true(list_files(f, "wal-", ".seg", names, 16) >= 2);
    char p[512];
    path_of(f, names[0], p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, "missing segment"));
}

/* The install crash window: the received snapshot (index 8, term 2) was
 * renamed into place, but the new segment after it was never created, so
 * the divergent old log (term 1 at index 8) is still there. Recovery drops
 * the entries after the snapshot and starts the log after it, so new
 * entries survive the next reopen. */
static void test_install_window(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 8;
    sm.term = 2;
    /* A local save writes exactly the on-disk state of that window. */
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "s", 1), 0);
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 8);
    assert_int_equal(f->state.n_entries, 0);
    assert_non_null(strstr(f->state.repaired, "entries 9-10 dropped"));
    assert_int_equal(append(f, 9, 2, 3, 5), 0);
    fx_reopen(f);
    assert_string_equal(f->state.repaired, "");
    assert_int_equal(f->state.n_entries, 2);
    check_entry(f, 0, 9, 3, 5);
    check_entry(f, 1, 10, 3, 5);
}

/* Normal compaction: a snapshot agreeing with the log keeps the entries
 * after it. */
static void test_local_snapshot_keeps_log(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 8;
    sm.term = 1;
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "s", 1), 0);
    fx_reopen(f);
    assert_string_equal(f->state.repaired, "");
    assert_int_equal(f->state.n_entries, 2);
    check_entry(f, 0, 9, 1, 20);
}

/* inspect reports a torn tail but never repairs it. */
static void test_inspect_read_only(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 1, 1, 40), 0);
    assert_int_equal(append(f, 2, 1, 1, 40), 0);
    fx_close(f);
    char seg[256];
    open_segment(f, seg);
    size_t len;
    uint8_t *img = slurp(f, seg, &len);
    memset(img + FMT_SECTOR + bsize(1, 40) + 30, 0, FMT_SECTOR - 30);
    spit(f, seg, img, len);
    struct sampan_vfs v;
    char err[256];
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, true, &v, err, sizeof(err)), 0);
    assert_int_equal(
        sampan_storage_inspect(&v, false, NULL, NULL, err, sizeof(err)), 0);
    sampan_vfs_posix_close(&v);
    size_t len2;
    uint8_t *after = slurp(f, seg, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(img, after, len);
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(f->state.n_entries, 1);
    free(img);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_torn_tail_every_byte, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mid_log_flip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_batch_flip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_segment_crc, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_first_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_install_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_snapshot_keeps_log, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inspect_read_only, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
