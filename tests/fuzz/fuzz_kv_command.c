/* fuzz/fuzz_kv_command.c: the kv state machine on hostile input: command
 * payloads decoded and applied as committed entries, and snapshot bytes
 * restored. The first byte picks a mode:
 *   0: the rest is a sequence of entries (u8 length, bytes) applied to a
 *      small state machine, some with a valid session header forced in;
 *      then a snapshot is taken, restored into a second instance, and the
 *      two must serialize to the same bytes;
 *   1: the rest is restored verbatim as a snapshot;
 *   2: a valid snapshot of a state built from the input, damaged by
 *      input-chosen edits, optionally CRC-resealed, then restored.
 * Properties: no crash or sanitizer report; decode either fails with
 * SAMPAN_EINVAL or the entry applies; restore either succeeds or returns
 * SAMPAN_ECORRUPT; a successful restore serializes back to the same bytes.
 *
 *   build/bin/fuzz-kv_command-standalone --iterations 100000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "fuzz_input.h"
#include "kv/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_kv_command: check failed: %s (%s:%d)\n",     \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

static struct kv *open_small(void)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    cfg.max_sessions = 4;
    cfg.session_expiry_entries = 8;
    struct kv *kv = NULL;
    FUZZ_CHECK(kv_open(&cfg, &kv) == 0);
    return kv;
}

static void apply_entries(struct kv *kv, struct fuzz_in *in)
{
    while (in->n > 0) {
        uint32_t len;
        uint8_t kind = fuzz_u8(in);
        uint8_t *p = fuzz_bytes(in, 255, &len);
        if (p && len >= 3 && (kind & 1)) {
            p[0] = KV_CMD_VERSION; /* get past the first checks often */
            p[1] = (uint8_t)(1 + p[1] % KV_OP_MAX);
        }
        struct sampan_entry e = {.term = 1,
                                 .index = kv_applied_index(kv) + 1,
                                 .type = (kind & 2) ? SAMPAN_ENTRY_NOOP
                                                    : SAMPAN_ENTRY_NORMAL,
                                 .len = len,
                                 .data = p};
        struct kv_cmd c;
        int drc = kv_cmd_decode(p, len, &c, NULL);
        FUZZ_CHECK(drc == 0 || drc == SAMPAN_EINVAL);
        struct kv_result r;
        FUZZ_CHECK(kv_apply(kv, &e, &r) == 0);
        kv_result_free(&r);
        free(p);
    }
}

static void *snap(struct kv *kv, size_t *len)
{
    void *d = NULL;
    FUZZ_CHECK(kv_io_snapshot(kv, kv_applied_index(kv), &d, len) == 0);
    return d;
}

/* Restores bytes; on success the state must serialize back to them. */
static void restore_check(const uint8_t *buf, size_t len)
{
    struct kv *kv = open_small();
    int rc = kv_restore(kv, buf, len, NULL);
    FUZZ_CHECK(rc == 0 || rc == SAMPAN_ECORRUPT);
    if (rc == 0) {
        size_t l2;
        uint8_t *again = snap(kv, &l2);
        /* Equal unless sessions over the bound were dropped. */
        FUZZ_CHECK(l2 <= len);
        if (l2 == len) {
            FUZZ_CHECK(memcmp(again, buf, len) == 0);
        }
        free(again);
    }
    kv_close(kv);
}

static void reads(struct kv *kv)
{
    static const char *const cmds[][4] = {{"SCAN", "0", "MATCH", "*a*"},
                                          {"KEYS", "?*", NULL, NULL},
                                          {"DBSIZE", NULL, NULL, NULL}};
    for (size_t i = 0; i < 3; i++) {
        struct kv_slice argv[4];
        size_t argc = 0;
        while (argc < 4 && cmds[i][argc]) {
            argv[argc].p = (const uint8_t *)cmds[i][argc];
            argv[argc].len = strlen(cmds[i][argc]);
            argc++;
        }
        struct kv_result r;
        FUZZ_CHECK(kv_read(kv, argc, argv, &r) == 0);
        kv_result_free(&r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {.p = data, .n = size};
    uint8_t mode = fuzz_u8(&in) % 3;
    if (mode == 1) {
        uint8_t *copy = malloc(in.n ? in.n : 1);
        FUZZ_CHECK(copy != NULL);
        if (in.n) {
            memcpy(copy, in.p, in.n);
        }
        restore_check(copy, in.n);
        free(copy);
        return 0;
    }
    struct kv *kv = open_small();
    struct fuzz_in head = in;
    if (mode == 2) {
        head.n = in.n / 2;
        in.p += head.n;
        in.n -= head.n;
    }
    apply_entries(kv, &head);
    reads(kv);
    size_t len;
    uint8_t *s = snap(kv, &len);
    if (mode == 0) {
        restore_check(s, len);
    } else {
        unsigned edits = fuzz_edit(&in, s, len);
        if ((fuzz_u8(&in) & 1) && len >= 4) {
            uint32_t crc = crc32c(0, s, len - 4);
            fuzz_put32(s + len - 4, crc);
        }
        size_t cut = (fuzz_u8(&in) & 1) ? fuzz_u64(&in) % (len + 1) : len;
        uint8_t *exact = malloc(cut ? cut : 1);
        FUZZ_CHECK(exact != NULL);
        memcpy(exact, s, cut);
        if (edits == 0 && cut == len) {
            restore_check(exact, cut);
        } else {
            struct kv *k2 = open_small();
            int rc = kv_restore(k2, exact, cut, NULL);
            FUZZ_CHECK(rc == 0 || rc == SAMPAN_ECORRUPT);
            kv_close(k2);
        }
        free(exact);
    }
    free(s);
    kv_close(kv);
    return 0;
}
