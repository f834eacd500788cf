/* unit/support/storage_fixture.h: helpers for the storage tests: a fresh
 * data directory under /tmp per test, opening and closing the storage over
 * the POSIX vfs, writing recognizable entries, and raw file access for
 * tearing and flipping bytes. */
#ifndef SAMPAN_TEST_STORAGE_FIXTURE_H
#define SAMPAN_TEST_STORAGE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampan/storage.h"

struct sfx {
    char dir[64];
    struct sampan_vfs vfs;
    bool vfs_open;
    struct sampan_storage *st;
    struct sampan_storage_state state;
    struct sampan_storage_config cfg;
    char err[512];
};

/* The file's path inside the test's directory. */
void sfx_path_of(const struct sfx *f, const char *name, char *out, size_t len);
/* Opens the storage in f->dir (recovering f->state); 0 or the error. */
int sfx_open(struct sfx *f);
void sfx_close(struct sfx *f);
/* Closes and opens again, asserting success. */
void sfx_reopen(struct sfx *f);
/* cmocka setup/teardown: a fresh directory under /tmp, removed after. */
int sfx_setup(void **state);
int sfx_teardown(void **state);
/* Entry payloads: len bytes, never zero, derived from index and term, so
 * a replaced entry reads back differently from the one it replaced. */
uint8_t sfx_pattern(uint64_t index, uint64_t term, uint32_t i);
/* Persists entries first..first+n-1 of `term` with len-byte payloads as
 * one batch. */
int sfx_append(struct sfx *f, uint64_t first, size_t n, uint64_t term,
               uint32_t len);
/* Checks the recovered entry at position pos has index, term, len and the
 * sfx_pattern payload. */
void sfx_check_entry(const struct sfx *f, size_t pos, uint64_t index,
                     uint64_t term, uint32_t len);
/* Names of the directory's files whose name starts with prefix and ends
 * with suffix, sorted; returns how many (at most max). */
size_t sfx_list_files(const struct sfx *f, const char *prefix,
                      const char *suffix, char (*out)[256], size_t max);
/* Reads a whole file; *len its size. Caller frees. */
uint8_t *sfx_slurp(const struct sfx *f, const char *name, size_t *len);
/* Writes a whole file. */
void sfx_spit(const struct sfx *f, const char *name, const uint8_t *buf,
              size_t len);
/* Flips every bit of the byte at off in the file. */
void sfx_flip_byte(const struct sfx *f, const char *name, size_t off);
/* sampan_storage_inspect() of f->dir (the storage closed) through a
 * read-only vfs, as `sampan storage check` runs it; its result. */
int sfx_inspect(const struct sfx *f, bool dump,
                void (*emit)(void *arg, const char *line), void *arg, char *err,
                size_t errlen);

#endif
