/* fuzz/fuzz_conf_decode.c: the configuration decoder
 * (sampan_membership_decode, the payload of SAMPAN_ENTRY_CONF entries that
 * peers send and the log holds) on arbitrary bytes and on encodings of
 * input-built configurations (fuzz_conf.h), valid or not, damaged by an
 * input-chosen byte. Properties: the decoder never reads outside the bytes
 * given (exact-size heap blocks under ASan); what decodes is valid and
 * re-encodes to exactly the bytes it came from; a refusal always says why;
 * what the encoder accepts decodes to the same configuration.
 *
 *   build/bin/fuzz-conf_decode-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_conf.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_conf_decode: check failed: %s (%s:%d)\n",    \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void decode_and_check(const uint8_t *bytes, size_t len)
{
    uint8_t *buf = malloc(len > 0 ? len : 1); /* exact size for ASan */
    FUZZ_CHECK(buf != NULL);
    if (len > 0) {
        memcpy(buf, bytes, len);
    }
    struct sampan_membership m;
    const char *why = NULL;
    if (sampan_membership_decode(buf, len, &m, &why) != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        free(buf);
        return;
    }
    FUZZ_CHECK(sampan_membership_validate(&m, NULL) == 0);
    uint8_t again[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t n = 0;
    FUZZ_CHECK(sampan_membership_encode(&m, again, sizeof(again), &n) == 0);
    FUZZ_CHECK(n == len && memcmp(again, buf, len) == 0);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    struct fuzz_in in = {.p = data + 1, .n = size - 1};
    if (data[0] % 2 == 0) {
        decode_and_check(data + 1, size - 1);
        return 0;
    }
    struct sampan_membership m;
    fuzz_conf(&in, &m);
    uint8_t enc[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t n = 0;
    if (sampan_membership_encode(&m, enc, sizeof(enc), &n) != 0) {
        FUZZ_CHECK(sampan_membership_validate(&m, NULL) != 0);
        return 0;
    }
    struct sampan_membership back;
    FUZZ_CHECK(sampan_membership_decode(enc, n, &back, NULL) == 0);
    FUZZ_CHECK(fuzz_conf_equal(&m, &back));
    if (n > 0 && in.n > 0) {
        enc[fuzz_u8(&in) % n] ^= (uint8_t)(1u + fuzz_u8(&in) % 255u);
    }
    decode_and_check(enc, n);
    return 0;
}
