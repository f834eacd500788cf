/* codec/crc32c.c: CRC-32C (Castagnoli polynomial 0x82f63b78, reflected).
 * On x86-64 with SSE4.2 the CPU's crc32 instruction does the work (several
 * GB/s); elsewhere a byte-at-a-time table, computed at compile time, so
 * there is no global state and no initialization call. */
#include "codec/crc32c.h"

#include <string.h>

#define P 0x82f63b78u
#define B1(c) (((c) >> 1) ^ (((c)&1u) ? P : 0u))
#define B8(c) B1(B1(B1(B1(B1(B1(B1(B1(c))))))))
#define R1(n) B8((uint32_t)(n))
#define R4(n) R1(n), R1((n) + 1), R1((n) + 2), R1((n) + 3)
#define R16(n) R4(n), R4((n) + 4), R4((n) + 8), R4((n) + 12)
#define R64(n) R16(n), R16((n) + 16), R16((n) + 32), R16((n) + 48)

static const uint32_t table[256] = {R64(0), R64(64), R64(128), R64(192)};

static uint32_t crc32c_table(uint32_t c, const uint8_t *p, size_t len)
{
    while (len-- > 0) {
        c = (c >> 8) ^ table[(c ^ *p++) & 0xffu];
    }
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len-- > 0) {
        c = _mm_crc32_u8(c, *p++);
    }
    return c;
}

static int have_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (have_sse42()) {
        return ~crc32c_sse42(~crc, p, len);
    }
#endif
    return ~crc32c_table(~crc, p, len);
}

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    return ~crc32c_table(~crc, buf, len);
}
