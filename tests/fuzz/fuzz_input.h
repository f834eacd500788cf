/* fuzz/fuzz_input.h: reading a fuzz input as a stream of small decisions.
 * Past the end every read returns zeros, so any input decodes to some
 * sequence and targets need no length checks of their own. Header-only so
 * each fuzz_<name>.c stays one translation unit (plus its main). */
#ifndef SAMPAN_FUZZ_INPUT_H
#define SAMPAN_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (in->n == 0) {
        return 0;
    }
    in->n--;
    return *in->p++;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)fuzz_u8(in) << (8 * i);
    }
    return v;
}

/* A value near `base`, where protocol checks are decided (equal, one off,
 * a few off), sometimes anything at all, so both sides of every bound are
 * reached often. */
static inline uint64_t fuzz_near(struct fuzz_in *in, uint64_t base)
{
    uint8_t b = fuzz_u8(in);
    uint64_t d = (uint64_t)(b >> 3) & 7u;
    switch (b & 7u) {
    case 0:
    case 1:
    case 2:
        return base + d;
    case 3:
    case 4:
        return base >= d ? base - d : 0;
    case 5:
        return d;
    case 6:
        return UINT64_MAX - d;
    default:
        return fuzz_u64(in);
    }
}

/* A heap copy of up to `max` input bytes (exactly sized, so ASan catches
 * over-reads by the code under test); *len gets the size. NULL when the
 * size is 0 (API rule: data is NULL when len is 0) or allocation fails. */
static inline uint8_t *fuzz_bytes(struct fuzz_in *in, size_t max, uint32_t *len)
{
    size_t want = max == 0 ? 0 : fuzz_u8(in) % (max + 1);
    if (want > in->n) {
        want = in->n;
    }
    *len = 0;
    if (want == 0) {
        return NULL;
    }
    uint8_t *p = malloc(want);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, in->p, want);
    in->p += want;
    in->n -= want;
    *len = (uint32_t)want;
    return p;
}

/* Applies 0..7 input-chosen byte edits (xor with a non-zero value) to
 * buf[0..len); returns how many were made. Used to damage a valid encoding
 * so decoders see near-misses, not just noise that fails the first check. */
static inline unsigned fuzz_edit(struct fuzz_in *in, uint8_t *buf, size_t len)
{
    unsigned k = fuzz_u8(in) % 8u;
    if (len == 0) {
        return 0;
    }
    for (unsigned i = 0; i < k; i++) {
        size_t pos = ((size_t)fuzz_u8(in) << 8 | fuzz_u8(in)) % len;
        uint8_t x = fuzz_u8(in);
        buf[pos] ^= x == 0 ? 1u : x;
    }
    return k;
}

/* Stores v little endian at p (the on-disk byte order). */
static inline void fuzz_put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

#endif
