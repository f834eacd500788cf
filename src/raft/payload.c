/* raft/payload.c: reference-counted entry payloads. The log, queued messages
 * and an outstanding Ready may all point at one payload; it is freed when the
 * last of them lets go. The count lives in a header just before the bytes. */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

struct payload_header {
    uint32_t refs;
    uint32_t len;
};
_Static_assert(sizeof(struct payload_header) == PAYLOAD_OVERHEAD,
               "PAYLOAD_OVERHEAD must match the header");

static struct payload_header *header_of(uint8_t *data)
{
    return (struct payload_header *)(void *)(data -
                                             sizeof(struct payload_header));
}

int payload_copy(const void *src, uint32_t len, uint8_t **out)
{
    *out = NULL;
    if (len == 0) {
        return 0;
    }
    struct payload_header *h = malloc(sizeof(*h) + len);
    if (h == NULL) {
        return SAMPAN_ENOMEM;
    }
    h->refs = 1;
    h->len = len;
    uint8_t *data = (uint8_t *)(h + 1);
    memcpy(data, src, len);
    *out = data;
    return 0;
}

uint32_t payload_len(const uint8_t *data)
{
    return data == NULL
               ? 0
               : ((const struct payload_header
                       *)(const void *)(data - sizeof(struct payload_header)))
                     ->len;
}

void payload_ref(uint8_t *data)
{
    if (data != NULL) {
        header_of(data)->refs++;
    }
}

void payload_unref(uint8_t *data)
{
    if (data == NULL) {
        return;
    }
    struct payload_header *h = header_of(data);
    if (--h->refs == 0) {
        free(h);
    }
}

int entries_share(const struct sampan_entry *src, size_t n,
                  struct sampan_entry **out)
{
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    struct sampan_entry *e = malloc(n * sizeof(*e));
    if (e == NULL) {
        return SAMPAN_ENOMEM;
    }
    memcpy(e, src, n * sizeof(*e));
    for (size_t i = 0; i < n; i++) {
        payload_ref(e[i].data);
    }
    *out = e;
    return 0;
}

void entries_release(struct sampan_entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        payload_unref(ents[i].data);
    }
    free(ents);
}
