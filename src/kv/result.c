/* kv/result.c: building and freeing replies, and the small text helpers
 * (Redis integer parsing and formatting, command name matching). */
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"

void kv_result_free(struct kv_result *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        kv_result_free(&r->elems[i]);
    }
    free(r->elems);
    free(r->str);
    memset(r, 0, sizeof(*r));
}

void kv_reply_ok(struct kv_result *r)
{
    memset(r, 0, sizeof(*r));
    r->type = KV_R_OK;
}

void kv_reply_int(struct kv_result *r, int64_t i)
{
    memset(r, 0, sizeof(*r));
    r->type = KV_R_INT;
    r->i = i;
}

void kv_reply_null(struct kv_result *r)
{
    memset(r, 0, sizeof(*r));
    r->type = KV_R_NULL;
}

int kv_reply_bulk(struct kv_result *r, const void *p, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->str = malloc(len + 1);
    if (!r->str) {
        return SAMPAN_ENOMEM;
    }
    if (len) {
        memcpy(r->str, p, len);
    }
    r->str[len] = 0;
    r->len = len;
    r->type = KV_R_BULK;
    return 0;
}

int kv_reply_error(struct kv_result *r, const char *msg)
{
    int rc = kv_reply_bulk(r, msg, strlen(msg));
    if (rc == 0) {
        r->type = KV_R_ERROR;
    }
    return rc;
}

int kv_reply_array(struct kv_result *r, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->type = KV_R_ARRAY;
    if (n) {
        r->elems = calloc(n, sizeof(*r->elems));
        if (!r->elems) {
            r->type = KV_R_NONE;
            return SAMPAN_ENOMEM;
        }
    }
    r->n = n;
    return 0;
}

bool kv_parse_i64(const uint8_t *p, size_t len, int64_t *v)
{
    if (len == 0 || len > 20) {
        return false;
    }
    if (len == 1 && p[0] == '0') {
        *v = 0;
        return true;
    }
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1) {
            return false;
        }
    }
    if (p[i] < '1' || p[i] > '9') {
        return false; /* no leading zero, sign or space */
    }
    uint64_t u = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        unsigned d = p[i] - '0';
        if (u > (UINT64_MAX - d) / 10) {
            return false;
        }
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > INT64_MAX) {
            return false;
        }
        *v = (int64_t)u;
    }
    return true;
}

size_t kv_format_i64(int64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0) {
        buf[len++] = '-';
    }
    while (n) {
        buf[len++] = tmp[--n];
    }
    return len;
}

bool kv_name_is(const struct kv_slice *s, const char *name)
{
    size_t n = strlen(name);
    if (s->len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s->p[i];
        if (c >= 'a' && c <= 'z') {
            c = (uint8_t)(c - 'a' + 'A');
        }
        if (c != (uint8_t)name[i]) {
            return false;
        }
    }
    return true;
}
