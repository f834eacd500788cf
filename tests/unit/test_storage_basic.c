/* unit/test_storage_basic.c: the storage layer (src/storage/) on real files
 * in a fresh temporary directory per test: term/vote, entries across
 * segments, suffix replacement, snapshots (save, load, read, compaction,
 * install from chunks, pruning, the whole configuration kept), the
 * directory lock, the meta fallback and argument checks. */
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

#include "support/conf_gen.h"
#include "support/storage_fixture.h"

static void persist_hs(struct sfx *f, uint64_t term, uint64_t vote)
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
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(f->state.hard_state.term, 0);
    assert_int_equal(f->state.n_entries, 0);
    assert_int_equal(f->state.snapshot.index, 0);
    assert_string_equal(f->state.repaired, "");
    for (uint64_t t = 1; t <= 5; t++) {
        persist_hs(f, t, t % 3);
        sfx_reopen(f);
        assert_int_equal(f->state.hard_state.term, t);
        assert_int_equal(f->state.hard_state.vote, t % 3);
    }
    char names[4][256];
    assert_int_equal(sfx_list_files(f, "meta-", "", names, 4), 2);
}

/* Many batches with 4 KiB segments: several closed segments, and every
 * entry reads back after reopening. */
static void test_entries_across_segments(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    for (uint64_t i = 1; i <= 60; i++) {
        assert_int_equal(sfx_append(f, i, 1, 1 + i / 20, 100), 0);
    }
    char names[64][256];
    assert_true(sfx_list_files(f, "wal-", ".seg", names, 64) >= 3);
    assert_int_equal(sfx_list_files(f, "wal-", ".open", names, 64), 1);
    sfx_reopen(f);
    assert_int_equal(f->state.n_entries, 60);
    for (uint64_t i = 1; i <= 60; i++) {
        sfx_check_entry(f, i - 1, i, 1 + i / 20, 100);
    }
    /* Appending after a reopen continues the same log. */
    assert_int_equal(sfx_append(f, 61, 3, 4, 10), 0);
    sfx_reopen(f);
    assert_int_equal(f->state.n_entries, 63);
    sfx_check_entry(f, 62, 63, 4, 10);
}

/* A batch larger than a whole segment gets a segment of its own. */
static void test_big_batch(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 2, 1, 10), 0);
    assert_int_equal(sfx_append(f, 3, 3, 1, 5000), 0);
    assert_int_equal(sfx_append(f, 6, 1, 1, 10), 0);
    sfx_reopen(f);
    assert_int_equal(f->state.n_entries, 6);
    sfx_check_entry(f, 3, 4, 1, 5000);
    sfx_check_entry(f, 5, 6, 1, 10);
}

/* Appending at a lower index replaces the suffix, in the same segment and
 * across segments. */
static void test_suffix_replacement(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 10, 1, 20), 0);
    assert_int_equal(sfx_append(f, 6, 3, 2, 30), 0);
    sfx_reopen(f);
    assert_int_equal(f->state.n_entries, 8);
    sfx_check_entry(f, 4, 5, 1, 20);
    sfx_check_entry(f, 5, 6, 2, 30);
    sfx_check_entry(f, 7, 8, 2, 30);
    for (uint64_t i = 9; i <= 40; i++) {
        assert_int_equal(sfx_append(f, i, 1, 2, 200), 0);
    }
    assert_int_equal(sfx_append(f, 3, 2, 3, 7), 0); /* into a later segment */
    sfx_reopen(f);
    assert_int_equal(f->state.n_entries, 4);
    sfx_check_entry(f, 1, 2, 1, 20);
    sfx_check_entry(f, 2, 3, 3, 7);
    sfx_check_entry(f, 3, 4, 3, 7);
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
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    struct sampan_snapshot_meta m;
    void *data;
    size_t len;
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len),
                     SAMPAN_ENOENT);
    assert_int_equal(sfx_append(f, 1, 10, 1, 20), 0);
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
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 5);
    assert_int_equal(f->state.snapshot.term, 1);
    assert_int_equal(f->state.snapshot.conf.voters[2], 3);
    assert_int_equal(f->state.snapshot_bytes, sizeof(snapdata));
    assert_int_equal(f->state.n_entries, 5);
    sfx_check_entry(f, 0, 6, 1, 20);
    assert_string_equal(f->state.repaired, "");
}

/* A snapshot removes the segments wholly before it (and keeps the one
 * holding its index); the log after it survives. */
static void test_compaction(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    for (uint64_t i = 1; i <= 60; i++) {
        assert_int_equal(sfx_append(f, i, 1, 1, 300), 0);
    }
    char before[64][256], after[64][256];
    size_t nb = sfx_list_files(f, "wal-", "", before, 64);
    struct sampan_snapshot_meta sm = snap_meta(40, 1);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "x", 1), 0);
    size_t na = sfx_list_files(f, "wal-", "", after, 64);
    assert_true(na < nb);
    assert_true(na >= 2);
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 40);
    assert_int_equal(f->state.n_entries, 20);
    sfx_check_entry(f, 0, 41, 1, 300);
    sfx_check_entry(f, 19, 60, 1, 300);
}

/* Older snapshots beyond keep_snapshots are removed. */
static void test_keep_snapshots(void **state)
{
    struct sfx *f = *state;
    f->cfg.keep_snapshots = 1;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 8, 1, 4), 0);
    for (uint64_t i = 2; i <= 8; i += 2) {
        struct sampan_snapshot_meta sm = snap_meta(i, 1);
        assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "ab", 2), 0);
    }
    char names[8][256];
    assert_int_equal(sfx_list_files(f, "snap-", ".snap", names, 8), 2);
    assert_non_null(strstr(names[0], "0000000000000006.snap"));
    assert_non_null(strstr(names[1], "0000000000000008.snap"));
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 8);
    assert_int_equal(f->state.n_entries, 0);
}

/* A received snapshot (three chunks) becomes the base of the log: the old
 * segments go, and entries appended after it survive reopening. */
static void test_install_chunks(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(sfx_append(f, i, 1, 1, 200), 0);
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
    assert_int_equal(sfx_list_files(f, "wal-", "", names, 64), 1);
    assert_int_equal(sfx_list_files(f, "snap-", ".snap", names, 64), 1);
    assert_int_equal(sfx_append(f, 51, 2, 3, 9), 0);
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 50);
    assert_int_equal(f->state.snapshot.term, 3);
    assert_int_equal(f->state.snapshot_bytes, 36);
    assert_int_equal(f->state.n_entries, 2);
    sfx_check_entry(f, 0, 51, 3, 9);
    struct sampan_snapshot_meta m;
    void *data;
    size_t len;
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len), 0);
    assert_int_equal(len, 36);
    assert_memory_equal(data, payload, 36);
    free(data);
}

/* The newest snapshot has want's meta as load reads it and as a reopen
 * recovers it. */
static void expect_snapshot_meta(struct sfx *f,
                                 const struct sampan_snapshot_meta *want)
{
    struct sampan_snapshot_meta m;
    void *data;
    size_t len;
    assert_int_equal(sampan_storage_load_snapshot(f->st, &m, &data, &len), 0);
    free(data);
    assert_int_equal(m.index, want->index);
    assert_int_equal(m.term, want->term);
    assert_conf_equal(&m.conf, &want->conf);
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, want->index);
    assert_int_equal(f->state.snapshot.term, want->term);
    assert_conf_equal(&f->state.snapshot.conf, &want->conf);
}

/* A snapshot keeps its whole configuration (incoming and outgoing voters,
 * learners and their promotion marks, addresses) whichever way it is
 * written: saved, through a writer, installed from chunks. A
 * configuration breaking a rule is refused each way before a snapshot
 * file appears. */
static void test_snapshot_conf_whole(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm = snap_meta(4, 1);
    conf_example(&sm.conf);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "abc", 3), 0);
    expect_snapshot_meta(f, &sm);

    /* Through a writer: the joint configuration left, learners only
     * marked, no addresses. */
    sm = snap_meta(6, 1);
    conf_example(&sm.conf);
    sm.conf.n_outgoing = 0;
    memset(sm.conf.outgoing, 0, sizeof(sm.conf.outgoing));
    sm.conf.n_addrs = 0;
    memset(sm.conf.addrs, 0, sizeof(sm.conf.addrs));
    struct sampan_snapshot_writer *w;
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w), 0);
    assert_int_equal(sampan_snapshot_writer_append(w, "defg", 4), 0);
    assert_int_equal(sampan_snapshot_writer_finish(w), 0);
    assert_int_equal(sampan_storage_snapshot_commit(f->st, w), 0);
    expect_snapshot_meta(f, &sm);

    /* Installed from a chunk: learners and addresses, but no voters. */
    sm = snap_meta(20, 2);
    memset(&sm.conf, 0, sizeof(sm.conf));
    sm.conf.n_learners = 1;
    sm.conf.learners[0] = 9;
    sm.conf.n_addrs = 1;
    sm.conf.addrs[0].id = 9;
    snprintf(sm.conf.addrs[0].addr, SAMPAN_ADDR_MAX, "10.0.0.9:7000");
    struct sampan_snapshot_chunk c;
    memset(&c, 0, sizeof(c));
    c.meta = sm;
    c.len = 2;
    c.data = (uint8_t *)(uintptr_t) "hi";
    c.done = true;
    struct sampan_storage_batch b = {0};
    b.n_chunks = 1;
    b.chunks = &c;
    b.install = &sm;
    assert_int_equal(sampan_storage_persist(f->st, &b), 0);
    expect_snapshot_meta(f, &sm);

    /* A learner that is also a voter: refused by all three. */
    char names[8][256];
    size_t before = sfx_list_files(f, "snap-", ".snap", names, 8);
    sm = snap_meta(20, 2);
    conf_example(&sm.conf);
    sm.conf.learners[1] = sm.conf.voters[0];
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "x", 1),
                     SAMPAN_EINVAL);
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w),
                     SAMPAN_EINVAL);
    c.meta = sm;
    assert_int_equal(sampan_storage_persist(f->st, &b), SAMPAN_EINVAL);
    /* So is one with more voters than the header could ever hold. */
    sm.conf.n_voters = SAMPAN_MAX_VOTERS + 1;
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "x", 1),
                     SAMPAN_EINVAL);
    assert_int_equal(sfx_list_files(f, "snap-", ".snap", names, 8), before);
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 20);
}

/* A second open of the same directory is refused while the first holds
 * it, with a message naming the directory. */
static void test_lock(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
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
    sfx_close(f);
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, false, &v2, err, sizeof(err)), 0);
    sampan_vfs_posix_close(&v2);
}

/* A damaged newest meta record falls back to the older one; both damaged
 * is refused. */
static void test_meta_fallback(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    persist_hs(f, 4, 1); /* meta-a, seq 1 */
    persist_hs(f, 5, 2); /* meta-b, seq 2 */
    sfx_close(f);
    sfx_flip_byte(f, "meta-b", 21);
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(f->state.hard_state.term, 4);
    assert_int_equal(f->state.hard_state.vote, 1);
    /* The next write overwrites the damaged file. */
    persist_hs(f, 6, 3);
    sfx_reopen(f);
    assert_int_equal(f->state.hard_state.term, 6);
    sfx_close(f);
    sfx_flip_byte(f, "meta-a", 3);
    sfx_flip_byte(f, "meta-b", 30);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, "meta-a"));
    assert_non_null(strstr(f->err, "meta-b"));
}

/* Entries must be consecutive, start within the log and after the
 * snapshot. */
static void test_persist_einval(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 2, 1, 1, 1), SAMPAN_EINVAL);
    assert_int_equal(sfx_append(f, 1, 3, 1, 1), 0);
    struct sampan_entry e[2] = {{1, 4, SAMPAN_ENTRY_NOOP, 0, NULL},
                                {1, 6, SAMPAN_ENTRY_NOOP, 0, NULL}};
    struct sampan_storage_batch b = {0};
    b.n_entries = 2;
    b.entries = e;
    assert_int_equal(sampan_storage_persist(f->st, &b), SAMPAN_EINVAL);
    struct sampan_snapshot_meta sm = snap_meta(2, 1);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, NULL, 0), 0);
    assert_int_equal(sfx_append(f, 2, 1, 1, 1), SAMPAN_EINVAL);
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
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    persist_hs(f, 3, 2);
    assert_int_equal(sfx_append(f, 1, 3, 3, 16), 0);
    struct sampan_snapshot_meta sm = snap_meta(2, 3);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "abcd", 4), 0);
    sm.index = 3;
    conf_example(&sm.conf);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "efg", 3), 0);
    sfx_close(f);
    char err[256];
    struct lines *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    assert_int_equal(sfx_inspect(f, true, collect_line, l, err, sizeof(err)),
                     0);
    assert_non_null(strstr(l->text, "meta: term 3 vote 2 (meta-a, seq 1)"));
    assert_non_null(strstr(l->text, "index 2 term 3, 4 bytes, voters 1,2,3\n"));
    /* The whole configuration, where there is more than voters. */
    char want[512];
    snprintf(want, sizeof(want),
             "index 3 term 3, 3 bytes, voters 1,2,4, joint with outgoing "
             "voters 1,2,3, learners 5+,6,7+ (+: to become voters), "
             "addresses 1=127.0.0.1:17379 3=node-3.example:17381 "
             "5=[::1]:17383 7=%.*s\n",
             (int)SAMPAN_ADDR_MAX - 1,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_non_null(strstr(l->text, want));
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
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 10, 1, 20), 0);
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
    sfx_reopen(f);
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
    assert_int_equal(sfx_list_files(f, "snap-", "", names, 16), 1);
    /* Unfinished writers are refused at commit (and freed). */
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w), 0);
    assert_int_equal(sampan_storage_snapshot_commit(f->st, w), SAMPAN_EINVAL);
    /* Past the log: refused at create. */
    sm = snap_meta(99, 1);
    assert_int_equal(sampan_storage_snapshot_create(f->st, &sm, &w),
                     SAMPAN_EINVAL);
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hard_state, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_entries_across_segments, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_big_batch, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_suffix_replacement, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_save_load_read, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_compaction, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_conf_whole, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_keep_snapshots, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_install_chunks, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_lock, sfx_setup, sfx_teardown),
        cmocka_unit_test_setup_teardown(test_meta_fallback, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_persist_einval, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_inspect, sfx_setup, sfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_writer, sfx_setup,
                                        sfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
