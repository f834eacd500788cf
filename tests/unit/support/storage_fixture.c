/* unit/support/storage_fixture.c: see storage_fixture.h. */
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

#include "storage/format.h"
#include "support/storage_fixture.h"

/* Test helpers: a fresh data directory under /tmp per test, opening and
 * closing the storage over the POSIX vfs, and raw file access. */
void sfx_path_of(const struct sfx *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

int sfx_open(struct sfx *f)
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

void sfx_close(struct sfx *f)
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

void sfx_reopen(struct sfx *f)
{
    sfx_close(f);
    int rc = sfx_open(f);
    if (rc != 0) {
        fail_msg("reopen: %s: %s", sampan_strerror(rc), f->err);
    }
}

int sfx_setup(void **state)
{
    struct sfx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sampan-storage-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    sampan_storage_config_default(&f->cfg);
    f->cfg.segment_bytes = 4096;
    *state = f;
    return 0;
}

int sfx_teardown(void **state)
{
    struct sfx *f = *state;
    sfx_close(f);
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                char p[512];
                sfx_path_of(f, de->d_name, p, sizeof(p));
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
uint8_t sfx_pattern(uint64_t index, uint64_t term, uint32_t i)
{
    return (uint8_t)(((index * 31 + term * 7 + i) % 255) + 1);
}

/* Persists entries first..first+n-1 of `term` with len-byte payloads as
 * one batch. */
int sfx_append(struct sfx *f, uint64_t first, size_t n, uint64_t term,
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
                e[i].data[j] = sfx_pattern(e[i].index, term, j);
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
 * sfx_pattern payload. */
void sfx_check_entry(const struct sfx *f, size_t pos, uint64_t index,
                     uint64_t term, uint32_t len)
{
    assert_true(pos < f->state.n_entries);
    const struct sampan_entry *e = &f->state.entries[pos];
    assert_int_equal(e->index, index);
    assert_int_equal(e->term, term);
    assert_int_equal(e->len, len);
    for (uint32_t j = 0; j < len; j++) {
        assert_int_equal(e->data[j], sfx_pattern(index, term, j));
    }
}

/* Names of the directory's files whose name starts with prefix and ends
 * with suffix, sorted; returns how many (at most max). */
static int sfx_cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

size_t sfx_list_files(const struct sfx *f, const char *prefix,
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
    qsort(out, n, sizeof(*out), sfx_cmp_str);
    return n;
}

/* Reads a whole file; *len its size. Caller frees. */
uint8_t *sfx_slurp(const struct sfx *f, const char *name, size_t *len)
{
    char p[512];
    sfx_path_of(f, name, p, sizeof(p));
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

void sfx_spit(const struct sfx *f, const char *name, const uint8_t *buf,
              size_t len)
{
    char p[512];
    sfx_path_of(f, name, p, sizeof(p));
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

void sfx_flip_byte(const struct sfx *f, const char *name, size_t off)
{
    size_t len;
    uint8_t *buf = sfx_slurp(f, name, &len);
    assert_true(off < len);
    buf[off] ^= 0xff;
    sfx_spit(f, name, buf, len);
    free(buf);
}

int sfx_inspect(const struct sfx *f, bool dump,
                void (*emit)(void *arg, const char *line), void *arg, char *err,
                size_t errlen)
{
    struct sampan_vfs v;
    assert_int_equal(
        sampan_vfs_posix_open(f->dir, false, true, &v, err, errlen), 0);
    int rc = sampan_storage_inspect(&v, dump, emit, arg, err, errlen);
    sampan_vfs_posix_close(&v);
    return rc;
}
