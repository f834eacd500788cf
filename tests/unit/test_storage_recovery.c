/* unit/test_storage_recovery.c: crash and damage handling of the storage
 * layer (src/storage/recover.c) on real files: a torn last batch cut at
 * every byte is truncated, while a damaged batch followed by valid data, a
 * damaged complete last batch, a damaged snapshot (its data, its header,
 * the configuration in its header, a version 1 header) or a missing
 * segment are refused with a message naming the file; and the install
 * crash window
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

#include "codec/crc32c.h"
#include "codec/le.h"
#include "sampan/storage.h"
#include "storage/format.h"

#include "support/conf_gen.h"
#include "support/storage_fixture.h"

/* On-disk size of a batch of n entries of len bytes each. */
static uint64_t bsize(size_t n, uint32_t len)
{
    uint64_t payload = n * (FMT_RECORD_HDR + (uint64_t)len);
    return batch_extent((uint32_t)payload);
}

/* The single open segment's name (asserted to exist). */
static void open_segment(const struct sfx *f, char *name)
{
    char names[4][256];
    assert_int_equal(sfx_list_files(f, "wal-", ".open", names, 4), 1);
    snprintf(name, 256, "%s", names[0]);
}

/* The torn-write setup both cut tests share: a segment holding a batch of
 * three 40-byte entries, then a batch of two 600-byte ones whose write is
 * to be cut. Returns the segment's bytes (caller frees; *len their size),
 * its name in seg, where the second batch starts and how many bytes its
 * write puts down. */
static uint8_t *two_batch_segment(struct sfx *f, char *seg, size_t *len,
                                  uint64_t *start, uint64_t *written)
{
    f->cfg.segment_bytes = 8192;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 3, 1, 40), 0);
    assert_int_equal(sfx_append(f, 4, 2, 1, 600), 0);
    sfx_close(f);
    open_segment(f, seg);
    *start = FMT_SECTOR + bsize(3, 40);
    *written = FMT_BATCH_HDR + 2 * (FMT_RECORD_HDR + 600) + 4;
    return sfx_slurp(f, seg, len);
}

/* A write cut short anywhere inside the last batch: the file holds the
 * bytes before the cut and zeros after (preallocated). Recovery keeps
 * exactly the batches before it, says so, and the repair is durable. */
static void test_torn_tail_every_byte(void **state)
{
    struct sfx *f = *state;
    char seg[256];
    size_t len;
    uint64_t start, written;
    uint8_t *orig = two_batch_segment(f, seg, &len, &start, &written);
    uint8_t *img = malloc(len);
    assert_non_null(img);
    for (uint64_t cut = start; cut < start + written; cut++) {
        memcpy(img, orig, len);
        memset(img + cut, 0, len - cut);
        sfx_spit(f, seg, img, len);
        int rc = sfx_open(f);
        if (rc != 0) {
            fail_msg("cut at %llu: %s", (unsigned long long)cut, f->err);
        }
        assert_int_equal(f->state.n_entries, 3);
        sfx_check_entry(f, 2, 3, 1, 40);
        /* A cut at the batch start leaves no trace of it: nothing to
         * repair. Any later cut leaves a partial batch. */
        if (cut > start && strstr(f->state.repaired, "torn tail") == NULL) {
            fail_msg("cut at %llu: not reported: '%s'", (unsigned long long)cut,
                     f->state.repaired);
        }
        sfx_reopen(f);
        assert_string_equal(f->state.repaired, "");
        assert_int_equal(f->state.n_entries, 3);
        sfx_close(f);
    }
    /* After a repair the log continues where the torn batch was. */
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 4, 1, 2, 10), 0);
    sfx_reopen(f);
    assert_int_equal(f->state.n_entries, 4);
    sfx_check_entry(f, 3, 4, 2, 10);
    free(img);
    free(orig);
}

/* A write that extended the file, cut at every byte: the file ends inside
 * the new batch (as after a crash that lost the preallocated length).
 * Recovery keeps the batches before it and reports the repair, including
 * when only 1-3 bytes of the batch magic made it (found by the black-box
 * suite: those were skipped silently). The log then continues there. */
static void test_torn_tail_file_cut_every_byte(void **state)
{
    struct sfx *f = *state;
    char seg[256];
    size_t len;
    uint64_t start, written;
    uint8_t *orig = two_batch_segment(f, seg, &len, &start, &written);
    for (uint64_t cut = start; cut < start + written; cut++) {
        /* The previous round's append may have started a new segment. */
        char names[8][256];
        size_t n = sfx_list_files(f, "wal-", "", names, 8);
        for (size_t i = 0; i < n && i < 8; i++) {
            char path[512];
            sfx_path_of(f, names[i], path, sizeof(path));
            assert_int_equal(unlink(path), 0);
        }
        sfx_spit(f, seg, orig, (size_t)cut);
        int rc = sfx_open(f);
        if (rc != 0) {
            fail_msg("file cut at %llu: %s", (unsigned long long)cut, f->err);
        }
        assert_int_equal(f->state.n_entries, 3);
        if (cut > start && strstr(f->state.repaired, "torn tail") == NULL) {
            fail_msg("file cut at %llu: not reported: '%s'",
                     (unsigned long long)cut, f->state.repaired);
        }
        assert_int_equal(sfx_append(f, 4, 1, 2, 10), 0);
        sfx_reopen(f);
        assert_string_equal(f->state.repaired, "");
        assert_int_equal(f->state.n_entries, 4);
        sfx_check_entry(f, 3, 4, 2, 10);
        sfx_close(f);
    }
    free(orig);
}

/* 1-3 stray bytes that are not a batch magic, at the end of a file, are
 * damage, not a torn write. */
static void test_stray_bytes_at_file_end_refused(void **state)
{
    struct sfx *f = *state;
    f->cfg.segment_bytes = 8192;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 3, 1, 40), 0);
    sfx_close(f);
    char seg[256];
    open_segment(f, seg);
    size_t len;
    uint8_t *orig = sfx_slurp(f, seg, &len);
    uint64_t end = FMT_SECTOR + bsize(3, 40);
    orig[end] = 'X';
    sfx_spit(f, seg, orig, (size_t)end + 1);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, seg));
    assert_non_null(strstr(f->err, "stray bytes"));
    sfx_close(f);
    free(orig);
}

/* Every single-byte flip of a batch followed by another batch is refused,
 * naming the file and an offset. */
static void test_mid_log_flip(void **state)
{
    struct sfx *f = *state;
    f->cfg.segment_bytes = 8192;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 2, 1, 30), 0);
    assert_int_equal(sfx_append(f, 3, 2, 1, 300), 0);
    assert_int_equal(sfx_append(f, 5, 1, 1, 30), 0);
    sfx_close(f);
    char seg[256];
    open_segment(f, seg);
    size_t len;
    uint8_t *orig = sfx_slurp(f, seg, &len);
    uint64_t start = FMT_SECTOR + bsize(2, 30);
    uint64_t ext = bsize(2, 300);
    for (uint64_t off = start; off < start + ext; off++) {
        orig[off] ^= 0x5a;
        sfx_spit(f, seg, orig, len);
        orig[off] ^= 0x5a;
        int rc = sfx_open(f);
        if (rc != SAMPAN_ECORRUPT) {
            fail_msg("flip at %llu: rc %d", (unsigned long long)off, rc);
        }
        assert_non_null(strstr(f->err, seg));
        assert_non_null(strstr(f->err, "offset"));
    }
    /* Undamaged, it opens. */
    sfx_spit(f, seg, orig, len);
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(f->state.n_entries, 5);
    free(orig);
}

/* A flipped byte in a complete last batch (trailer present, no zero
 * sector) is damage, not a torn write: refused, not truncated. */
static void test_last_batch_flip(void **state)
{
    struct sfx *f = *state;
    f->cfg.segment_bytes = 8192;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 2, 1, 30), 0);
    assert_int_equal(sfx_append(f, 3, 2, 1, 700), 0);
    sfx_close(f);
    char seg[256];
    open_segment(f, seg);
    uint64_t start = FMT_SECTOR + bsize(2, 30);
    sfx_flip_byte(f, seg, start + FMT_BATCH_HDR + 500);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, seg));
    char want[64];
    snprintf(want, sizeof(want), "offset %llu, index 3",
             (unsigned long long)start);
    assert_non_null(strstr(f->err, want));
    /* The same in a closed segment. */
    sfx_flip_byte(f, seg, start + FMT_BATCH_HDR + 500);
    assert_int_equal(sfx_open(f), 0);
    sfx_close(f);
}

/* A damaged closed segment is refused even when its damage looks torn. */
static void test_closed_segment_crc(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    for (uint64_t i = 1; i <= 20; i++) {
        assert_int_equal(sfx_append(f, i, 1, 1, 300), 0);
    }
    sfx_close(f);
    char names[16][256];
    assert_true(sfx_list_files(f, "wal-", ".seg", names, 16) >= 2);
    sfx_flip_byte(f, names[0], FMT_SECTOR + FMT_BATCH_HDR + 5);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, names[0]));
}

/* A snapshot failing its checksum (data or header) is refused by name. */
static void test_snapshot_crc(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 5, 1, 10), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 3;
    sm.term = 1;
    assert_int_equal(
        sampan_storage_save_snapshot(f->st, &sm, "snapshot-bytes", 14), 0);
    sfx_close(f);
    char names[4][256];
    assert_int_equal(sfx_list_files(f, "snap-", ".snap", names, 4), 1);
    sfx_flip_byte(f, names[0], FMT_SNAP_HDR_BYTES + 4);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, names[0]));
    assert_non_null(strstr(f->err, "data checksum mismatch"));
    sfx_flip_byte(f, names[0], FMT_SNAP_HDR_BYTES + 4);
    sfx_flip_byte(f, names[0], 14);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, names[0]));
    sfx_flip_byte(f, names[0], 14);
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(f->state.snapshot.index, 3);
}

/* The one snapshot file of a fresh directory, saved with the example
 * configuration; its name in name, its bytes returned (*len their size). */
static uint8_t *conf_snapshot(struct sfx *f, char *name, size_t *len)
{
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 5, 1, 10), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 3;
    sm.term = 1;
    conf_example(&sm.conf);
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "snap", 4), 0);
    sfx_close(f);
    char names[4][256];
    assert_int_equal(sfx_list_files(f, "snap-", ".snap", names, 4), 1);
    snprintf(name, 256, "%s", names[0]);
    return sfx_slurp(f, name, len);
}

/* Writes img as the snapshot file with its header checksum made right
 * again, and expects open (and inspect) to refuse it naming the file, the
 * offset and the reason. */
static void expect_bad_header(struct sfx *f, const char *name, uint8_t *img,
                              size_t len, const char *off, const char *why)
{
    put32(img + FMT_SNAP_HDR_CRC_OFF, crc32c(0, img, FMT_SNAP_HDR_CRC_OFF));
    sfx_spit(f, name, img, len);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    char want[256];
    snprintf(want, sizeof(want), "file %s, offset %s: %s", name, off, why);
    if (strstr(f->err, want) == NULL) {
        fail_msg("got \"%s\", want \"%s\"", f->err, want);
    }
    char err[512];
    assert_int_equal(sfx_inspect(f, false, NULL, NULL, err, sizeof(err)),
                     SAMPAN_ECORRUPT);
    assert_non_null(strstr(err, want));
}

/* A header whose checksum holds but whose configuration does not decode
 * (each of its own checks, and the bytes around it) is corruption,
 * reported with the file and the offset. */
static void test_snapshot_conf_corrupt(void **state)
{
    struct sfx *f = *state;
    char name[256];
    size_t len;
    uint8_t *img = conf_snapshot(f, name, &len);
    uint8_t *good = malloc(len);
    assert_non_null(good);
    memcpy(good, img, len);
    uint32_t conf_len = get32(img + FMT_SNAP_CONF_LEN_OFF);
    /* The learner 5 (conf offset 12 + 8 * 6) made voter 1. */
    img[FMT_SNAP_CONF_OFF + 12 + 8 * 6] = 1;
    expect_bad_header(f, name, img, len, "44",
                      "configuration in the header: a learner is also a voter");
    memcpy(img, good, len);
    img[FMT_SNAP_CONF_OFF] = 9; /* the configuration's format version */
    expect_bad_header(f, name, img, len, "44",
                      "configuration in the header: unknown configuration "
                      "format version");
    memcpy(img, good, len);
    put32(img + FMT_SNAP_CONF_LEN_OFF, conf_len - 1);
    expect_bad_header(f, name, img, len, "44",
                      "configuration in the header: member address past the "
                      "end or too long");
    memcpy(img, good, len);
    put32(img + FMT_SNAP_CONF_LEN_OFF, conf_len + 1); /* one zero byte more */
    expect_bad_header(f, name, img, len, "44",
                      "configuration in the header: trailing bytes after the "
                      "configuration");
    memcpy(img, good, len);
    put32(img + FMT_SNAP_CONF_LEN_OFF, SAMPAN_MEMBERSHIP_MAX_BYTES + 1);
    expect_bad_header(f, name, img, len, "40",
                      "snapshot configuration length out of range");
    memcpy(img, good, len);
    img[FMT_SNAP_HDR_CRC_OFF - 1] = 1;
    char off[32];
    snprintf(off, sizeof(off), "%u", FMT_SNAP_HDR_CRC_OFF - 1);
    expect_bad_header(f, name, img, len, off,
                      "non-zero bytes after the snapshot configuration");
    /* Put back as it was, it opens with the whole configuration. */
    sfx_spit(f, name, good, len);
    assert_int_equal(sfx_open(f), 0);
    struct sampan_membership want;
    conf_example(&want);
    assert_conf_equal(&f->state.snapshot.conf, &want);
    free(good);
    free(img);
}

/* A version 1 snapshot (a 512-byte header, voter ids only) is refused by
 * name, not misread and not mistaken for a torn file. */
static void test_snapshot_version_1(void **state)
{
    struct sfx *f = *state;
    char name[256];
    size_t len;
    uint8_t *img = conf_snapshot(f, name, &len);
    put32(img + 8, 1);
    sfx_spit(f, name, img, 600); /* as long as a version 1 file could be */
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, name));
    assert_non_null(strstr(f->err, "offset 8: snapshot format version 1 is "
                                   "no longer read"));
    free(img);
}

/* Deleting a middle segment is detected. */
static void test_missing_segment(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(sfx_append(f, i, 1, 1, 300), 0);
    }
    sfx_close(f);
    char names[16][256];
    size_t n = sfx_list_files(f, "wal-", ".seg", names, 16);
    assert_true(n >= 3);
    char p[512];
    sfx_path_of(f, names[1], p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, "missing segment"));
    assert_non_null(strstr(f->err, names[2]));
}

/* Deleting the first segment when no snapshot covers it is detected. */
static void test_missing_first_segment(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    for (uint64_t i = 1; i <= 30; i++) {
        assert_int_equal(sfx_append(f, i, 1, 1, 300), 0);
    }
    sfx_close(f);
    char names[16][256];
    assert_true(sfx_list_files(f, "wal-", ".seg", names, 16) >= 2);
    char p[512];
    sfx_path_of(f, names[0], p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    assert_int_equal(sfx_open(f), SAMPAN_ECORRUPT);
    assert_non_null(strstr(f->err, "missing segment"));
}

/* The install crash window: the received snapshot (index 8, term 2) was
 * renamed into place, but the new segment after it was never created, so
 * the divergent old log (term 1 at index 8) is still there. Recovery drops
 * the entries after the snapshot and starts the log after it, so new
 * entries survive the next reopen. */
static void test_install_window(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 8;
    sm.term = 2;
    /* A local save writes exactly the on-disk state of that window. */
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "s", 1), 0);
    sfx_reopen(f);
    assert_int_equal(f->state.snapshot.index, 8);
    assert_int_equal(f->state.n_entries, 0);
    assert_non_null(strstr(f->state.repaired, "entries 9-10 dropped"));
    assert_int_equal(sfx_append(f, 9, 2, 3, 5), 0);
    sfx_reopen(f);
    assert_string_equal(f->state.repaired, "");
    assert_int_equal(f->state.n_entries, 2);
    sfx_check_entry(f, 0, 9, 3, 5);
    sfx_check_entry(f, 1, 10, 3, 5);
}

/* Normal compaction: a snapshot agreeing with the log keeps the entries
 * after it. */
static void test_local_snapshot_keeps_log(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 10, 1, 20), 0);
    struct sampan_snapshot_meta sm;
    memset(&sm, 0, sizeof(sm));
    sm.index = 8;
    sm.term = 1;
    assert_int_equal(sampan_storage_save_snapshot(f->st, &sm, "s", 1), 0);
    sfx_reopen(f);
    assert_string_equal(f->state.repaired, "");
    assert_int_equal(f->state.n_entries, 2);
    sfx_check_entry(f, 0, 9, 1, 20);
}

/* inspect reports a torn tail but never repairs it. */
static void test_inspect_read_only(void **state)
{
    struct sfx *f = *state;
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(sfx_append(f, 1, 1, 1, 40), 0);
    assert_int_equal(sfx_append(f, 2, 1, 1, 40), 0);
    sfx_close(f);
    char seg[256];
    open_segment(f, seg);
    size_t len;
    uint8_t *img = sfx_slurp(f, seg, &len);
    memset(img + FMT_SECTOR + bsize(1, 40) + 30, 0, FMT_SECTOR - 30);
    sfx_spit(f, seg, img, len);
    char err[256];
    assert_int_equal(sfx_inspect(f, false, NULL, NULL, err, sizeof(err)), 0);
    size_t len2;
    uint8_t *after = sfx_slurp(f, seg, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(img, after, len);
    assert_int_equal(sfx_open(f), 0);
    assert_int_equal(f->state.n_entries, 1);
    free(img);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_torn_tail_every_byte, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_file_cut_every_byte,
                                        sfx_setup, sfx_teardown),
        cmocka_unit_test_setup_teardown(test_stray_bytes_at_file_end_refused,
                                        sfx_setup, sfx_teardown),
        cmocka_unit_test_setup_teardown(test_mid_log_flip, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_last_batch_flip, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_closed_segment_crc, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_crc, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_conf_corrupt, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_version_1, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_segment, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_first_segment, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_install_window, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_local_snapshot_keeps_log,
                                        sfx_setup, sfx_teardown),
        cmocka_unit_test_setup_teardown(test_inspect_read_only, sfx_setup,
                                        sfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
