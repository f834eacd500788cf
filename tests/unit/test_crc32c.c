/* unit/test_crc32c.c: CRC-32C against published check values, and the
 * hardware and table paths against each other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/crc32c.h"

/* RFC 3720 (iSCSI) appendix B.4 test vectors and the common check value. */
static void test_known_values(void **state)
{
    (void)state;
    uint8_t buf[32];
    assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(crc32c(0, buf, 32), 0x8a9136aau);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(crc32c(0, buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)i;
    }
    assert_int_equal(crc32c(0, buf, 32), 0x46dd794eu);
    assert_int_equal(crc32c(0, NULL, 0), 0u);
}

/* Both paths agree on every length and alignment, and computing in pieces
 * equals computing at once. */
static void test_paths_agree(void **state)
{
    (void)state;
    uint8_t buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len + off <= sizeof(buf); len += 7) {
            uint32_t a = crc32c(0, buf + off, len);
            assert_int_equal(a, crc32c_portable(0, buf + off, len));
            size_t half = len / 3;
            assert_int_equal(a, crc32c(crc32c(0, buf + off, half),
                                       buf + off + half, len - half));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_paths_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
