/* unit/test_storage_basic.c: the storage layer (src/storage/) on real files
 * in a fresh temporary directory per test: term/vote, entries across
 * segments, suffix replacement, snapshots (save, load, read, compaction,
 * install from chunks, pruning), the directory lock, the meta fallback and
 * argument checks. */
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

static void persist_hs(struct fx *f, uint64_t term, uint64_t vote)
{
    struct sampan_hard_state hs = {term, vote};
    struct sampan_storage_batch b = {0};
    b.hard_state = &hs;
    assert_int_equal(sampan_storage_persist(f->st, &b), 0);
}

/* A fresh directory opens empty; term and vote survive reopening, through
 * several alternating writes. */
static void test_hard_state(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(f->state.hard_state.term, 0);
    assert_int_equal(f->state.n_entries, 0);
    assert_int_equal(f->state.snapshot.index, 0);
    assert_string_equal(f->state.repaired, "");
    for (uint64_t t = 1; t <= 5; t++) {
        persist_hs(f, t, t % 3);
        fx_reopen(f);
        assert_int_equal(f->state.hard_state.term, t);
        assert_int_equal(f->state.hard_state.vote, t % 3);
    }
    char names[4][256];
    assert_int_equal(list_files(f, "meta-", "", names, 4), 2);
}

/* Many batches with 4 KiB segments: several closed segments, and every
 * entry reads back after reopening. */
static void test_entries_across_segments(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    for (uint64_t i = 1; i <= 60; i++) {
        assert_int_equal(append(f, i, 1, 1 + i / 20, 100), 0);
    }
    char names[64][256];
    assert_true(list_files(f, "wal-", ".seg", names, 64) >= 3);
    assert_int_equal(list_files(f, "wal-", ".open", names, 64), 1);
    fx_reopen(f);
    assert_int_equal(f->state.n_entries, 60);
    for (uint64_t i = 1; i <= 60; i++) {
        check_entry(f, i - 1, i, 1 + i / 20, 100);
    }
    /* Appending after a reopen continues the same log. */
    assert_int_equal(append(f, 61, 3, 4, 10), 0);
    fx_reopen(f);
    assert_int_equal(f->state.n_entries, 63);
    check_entry(f, 62, 63, 4, 10);
}

/* A batch larger than a whole segment gets a segment of its own. */
static void test_big_batch(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 2, 1, 10), 0);
    assert_int_equal(append(f, 3, 3, 1, 5000), 0);
    assert_int_equal(append(f, 6, 1, 1, 10), 0);
    fx_reopen(f);
    assert_int_equal(f->state.n_entries, 6);
    check_entry(f, 3, 4, 1, 5000);
    check_entry(f, 5, 6, 1, 10);
}

/* Appending at a lower index replaces the suffix, in the same segment and
 * across segments. */
static void test_suffix_replacement(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 10, 1, 20), 0);
    assert_int_equal(append(f, 6, 3, 2, 30), 0);
    fx_reopen(f);
    assert_int_equal(f->state.n_entries, 8);
    check_entry(f, 4, 5, 1, 20);
    check_entry(f, 5, 6, 2, 30);
    check_entry(f, 7, 8, 2, 30);
    for (uint64_t i = 9; i <= 40; i++) {
        assert_int_equal(append(f, i, 1, 2, 200), 0);
    }
    assert_int_equal(append(f, 3, 2, 3, 7), 0); /* into a later segment */
    fx_reopen(f);
    assert_int_equal(f->state.n_entries, 4);
    check_entry(f, 1, 2, 1, 20);
    check_entry(f, 2, 3, 3, 7);
    check_entry(f, 3, 4, 3, 7);
}

static const uint8_t snapdata[] = "the state machine at index 5, serialized";

static struct sampan_snapshot_meta snap_meta(uint64_t index, uint64_t term)
{
    struct sampan_snapshot_meta m;
    memset(&m, 0, sizeof(m));
    m.index = index;
    m.term = term;
    m.conf.n_voters = 3;
    m.conf.voters[0] = 1;
    m.conf.voters[1] = 2;
    m.conf.voters[2] = 3;
    return m;
}

/* Save, load, read in chunks, and recover a snapshot with the log after
 * it kept. */
static void test_snapshot_save_load_read(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    struct sampan_snapshot_meta m;
    void *data;
    size_t len;
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len),
                     SAMPAN_ENOENT);
    assert_int_equal(append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm = snap_meta(5, 1);
    assert_int_equal(
        sampan_storage_save_snapshot(f->st, &sm, snapdata, sizeof(snapdata)),
        0);
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len), 0);
    assert_int_equal(m.index, 5);
    assert_int_equal(m.conf.n_voters, 3);
    assert_int_equal(len, sizeof(snapdata));
    assert_memory_equal(data, snapdata, len);
    free(data);
    uint8_t buf[8];
    size_t got;
    uint64_t total;
    assert_int_equal(sampan_storage_read_snapshot(f->st, 5, 8, buf, sizeof(buf),
                                                  &got, &total),
                     0);
    assert_int_equal(got, 8);
    assert_int_equal(total, sizeof(snapdata));
    assert_memory_equal(buf, snapdata + 8, 8);
    assert_int_equal(sampan_storage_read_snapshot(f->st, 4, 0, buf, sizeof(buf),
                                                  &got, &total),
                     SAMPAN_ENOENT);
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 5);
    assert_int_equal(f->state.snapshot.term, 1);
    assert_int_equal(f->state.snapshot.conf.voters[2], 3);
    assert_int_equal(f->state.snapshot_bytes, sizeof(snapdata));
    assert_int_equal(f->state.n_entries, 5);
    check_entry(f, 0, 6, 1, 20);
    assert_string_equal(f->state.repaired, "");
}

/* A snapshot removes the segments wholly before it (and keeps the one
 * holding its index); the log after it survives. */
static void test_compaction(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    for (uint64_t i = 1; i <= 60; i++) {
        assert_int_equal(append(f, i, 1, 1, 300), 0);
    }
    char before[64][256], after[64][256];
    size_t nb = list_files(f, "wal-", "", before, 64);
    struct sampan_snapshot_meta sm = snap_meta(40, 1);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "x", 1), 0);
    size_t na = list_files(f, "wal-", "", after, 64);
    assert_true(na < nb);
    assert_true(na >= 2);
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 40);
    assert_int_equal(f->state.n_entries, 20);
    check_entry(f, 0, 41, 1, 300);
    check_entry(f, 19, 60, 1, 300);
}

/* Older snapshots beyond keep_snapshots are removed. */
static void test_keep_snapshots(void **state)
{
    struct fx *f = *state;
    f->cfg.keep_snapshots = 1;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 8, 1, 4), 0);
    for (uint64_t i = 2; i <= 8; i += 2) {
        struct sampan_snapshot_meta sm = snap_meta(i, 1);
        assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "ab", 2), 0);
    }
    char names[8][256];
    assert_int_equal(list_files(f, "snap-", ".snap", names, 8), 2);
    assert_non_null(strstr(names[0], "0000000000000006.snap"));
    assert_non_null(strstr(names[1], "0000000000000008.snap"));
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 8);
    assert_int_equal(f->state.n_entries, 0);
}

/* A received snapshot (three chunks) becomes the base of the log: the old
 * segments go, and entries appended after it survive reopening. */
static void test_install_chunks(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(append(f, i, 1, 1, 200), 0);
    }
    static const char payload[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    struct sampan_snapshot_meta sm = snap_meta(50, 3);
    struct sampan_snapshot_chunk c[3];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < 3; i++) {
        c[i].meta = sm;
        c[i].offset = (uint64_t)i * 12;
        c[i].len = 12;
        c[i].data = (uint8_t *)(uintptr_t)(payload + i * 12);
        c[i].done = i == 2;
    }
    struct sampan_storage_batch b = {0};
    /* Installing before the last chunk arrived is refused. */
    b.n_chunks = 2;
    b.chunks = c;
    assert_int_equal(sampan_storage_persist(f->st, &b), 0);
    b.n_chunks = 0;
    b.install = &sm;
    assert_int_equal(sampan_storage_persist(f->st, &b), SAMPAN_EINVAL);
    b.n_chunks = 1;
    b.chunks = &c[2];
    assert_int_equal(sampan_storage_persist(f->st, &b), 0);
    char names[64][256];
    assert_int_equal(list_files(f, "wal-", "", names, 64), 1);
    assert_int_equal(list_files(f, "snap-", ".snap", names, 64), 1);
    assert_int_equal(append(f, 51, 2, 3, 9), 0);
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 50);
    assert_int_equal(f->state.snapshot.term, 3);
    assert_int_equal(f->state.snapshot_bytes, 36);
    assert_int_equal(f->state.n_entries, 2);
    check_entry(f, 0, 51, 3, 9);
    struct sampan_snapshot_meta m;
    void *data;
    size_t len;
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len), 0);
    assert_int_equal(len, 36);
    assert_memory_equal(data, payload, 36);
    free(data);
}

/* A second open of the same directory is refused while the first holds
 * it, with a message naming the directory. */
static void test_lock(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    struct sampan_vfs v2;
    char err[512];
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, false, &v2, err, sizeof(err)),
        SAMPAN_ELOCKED);
    assert_non_null(strstr(err, f->dir));
    /* Read-only (inspect) skips the lock and refuses writes. */
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, true, &v2, err, sizeof(err)), 0);
    assert_int_equal(v2.ops->sync_dir(v2.ctx), SAMPAN_EIO);
    sampan_vfs_posix_close(&v2);
    fx_close(f);
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, false, &v2, err, sizeof(err)), 0);
    sampan_vfs_posix_close(&v2);
}

/* A damaged newest meta record falls back to the older one; both damaged
 * is refused. */
static void test_meta_fallback(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    persist_hs(f, 4, 1); /* meta-a, seq 1 */
    persist_hs(f, 5, 2); /* meta-b, seq 2 */
    fx_close(f);
    flip_byte(f, "meta-b", 21);
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(f->state.hard_state.term, 4);
    assert_int_equal(f->state.hard_state.vote, 1);
    /* The next write overwrites the damaged file. */
    persist_hs(f, 6, 3);
    fx_reopen(f);
    assert_int_equal(f->state.hard_state.term, 6);
    fx_close(f);
    flip_byte(f, "meta-a", 3);
    flip_byte(f, "meta-b", 30);
    assert_int_equal(fx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, "meta-a"));
    assert_non_null(strstr(f->err, "meta-b"));
}

/* Entries must be consecutive, start within the log and after the
 * snapshot. */
static void test_persist_einval(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 2, 1, 1, 1), SAMPAN_EINVAL);
    assert_int_equal(append(f, 1, 3, 1, 1), 0);
    struct sampan_entry e[2] = {{1, 4, SAMPAN_ENTRY_NOOP, 0, NULL},
                                {1, 6, SAMPAN_ENTRY_NOOP, 0, NULL}};
    struct sampan_storage_batch b = {0};
    b.n_entries = 2;
    b.entries = e;
    assert_int_equal(sampan_storage_persist(f->st, &b), SAMPAN_EINVAL);
    struct sampan_snapshot_meta sm = snap_meta(2, 1);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, NULL, 0), 0);
    assert_int_equal(append(f, 2, 1, 1, 1), SAMPAN_EINVAL);
    sm = snap_meta(9, 1);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, NULL, 0),
                     SAMPAN_EINVAL);
}

struct lines {
    char text[8192];
};

static void collect_line(void *arg, const char *line)
{
    struct lines *l = arg;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "%s\n", line);
}

/* inspect reports meta, snapshots, segments and (dump) every record. */
static void test_inspect(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    persist_hs(f, 3, 2);
    assert_int_equal(append(f, 1, 3, 3, 16), 0);
    struct sampan_snapshot_meta sm = snap_meta(2, 3);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "abcd", 4), 0);
    fx_close(f);
    struct sampan_vfs v;
    char err[256];
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, true, &v, err, sizeof(err)), 0);
    struct lines *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    assert_int_equal(
        sampan_storage_inspect(&v, true, collect_line, l, err, sizeof(err)), 0);
    sampan_vfs_posix_close(&v);
    assert_non_null(strstr(l->text, "meta: term 3 vote 2 (meta-a, seq 1)"));
    assert_non_null(strstr(l->text, "index 2 term 3, 4 bytes, voters 1,2,3"));
    assert_non_null(strstr(l->text, "seq 1, prev 0/0, indexes 1-3, 1 batch"));
    assert_non_null(strstr(l->text, "  index 3 term 3 NORMAL 16 bytes"));
    free(l);
}

/* A snapshot written in pieces through a writer (as a worker thread does)
 * reads back exactly, survives a reopen, and compacts like a saved one; a
 * discarded writer leaves nothing behind; a writer not finished cannot be
 * committed; a crash before commit leaves no visible snapshot. */
static void test_snapshot_writer(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm = snap_meta(6, 1);
    struct sampan_snapshot_writer *w;
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w), 0);
    for (size_t off = 0; off < sizeof(snapdata); off += 3) {
        size_t n = sizeof(snapdata) - off < 3 ? sizeof(snapdata) - off : 3;
        assert_int_equal(sampan_snapshot_writer_append(w, snapdata + off, n),
                         0);
    }
    /* Not committed yet: nothing to load. */
    struct sampan_snapshot_meta m;
    void *data;
    size_t len;
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len),
                     SAMPAN_ENOENT);
    assert_int_equal(sampan_snapshot_writer_finish(w), 0);
    assert_int_equal(sampan_storage_snapshot_commit(f->st, w), 0);
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len), 0);
    assert_int_equal(m.index, 6);
    assert_int_equal(len, sizeof(snapdata));
    assert_memory_equal(data, snapdata, len);
    free(data);
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 6);
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len), 0);
    assert_memory_equal(data, snapdata, len);
    free(data);
    /* Discarded: no file is left, the snapshot stays the old one. */
    sm = snap_meta(8, 1);
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w), 0);
    assert_int_equal(sampan_snapshot_writer_append(w, "abc", 3), 0);
    sampan_snapshot_writer_discard(w);
    char names[16][256];
    assert_int_equal(list_files(f, "snap-", "", names, 16), 1);
    /* Unfinished writers are refused at commit (and freed). */
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w), 0);
    assert_int_equal(sampan_storage_snapshot_commit(f->st, w), SAMPAN_EINVAL);
    /* Past the log: refused at create. */
    sm = snap_meta(99, 1);
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w),
                     SAMPAN_EINVAL);
    fx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hard_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entries_across_segments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_big_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suffix_replacement, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_save_load_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
