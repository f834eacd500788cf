/* kv/read.c: read-only commands against the applied state (GET, MGET,
 * EXISTS, STRLEN, DBSIZE, SCAN, KEYS) and the command-name table. SCAN
 * cursors are ranks in key order (see docs/architecture.md (key/value state
 * machine) for what that guarantees); MATCH patterns with a literal prefix walk
 * only the range of keys with that prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"

static const char *const kv_reads[] = {"GET",    "MGET", "EXISTS", "STRLEN",
                                       "DBSIZE", "SCAN", "KEYS"};
static const char *const kv_writes[] = {"SET",  "SETNX",  "GETSET",  "APPEND",
                                        "INCR", "INCRBY", "DECR",    "DECRBY",
                                        "DEL",  "MSET",   "FLUSHALL"};

enum kv_kind kv_command_kind(const uint8_t *name, size_t len)
{
    struct kv_slice s = {name, len};
    for (size_t i = 0; i < sizeof(kv_reads) / sizeof(kv_reads[0]); i++) {
        if (kv_name_is(&s, kv_reads[i])) {
            return KV_KIND_READ;
        }
    }
    for (size_t i = 0; i < sizeof(kv_writes) / sizeof(kv_writes[0]); i++) {
        if (kv_name_is(&s, kv_writes[i])) {
            return KV_KIND_WRITE;
        }
    }
    return KV_KIND_UNKNOWN;
}

/* "ERR wrong number of arguments for 'get' command", as Redis words it. */
int kv_reply_arity(struct kv_result *r, const char *name)
{
    char msg[96], low[24];
    size_t i = 0;
    for (; name[i] && i < sizeof(low) - 1; i++) {
        char c = name[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    low[i] = 0;
    snprintf(msg, sizeof(msg), "ERR wrong number of arguments for '%s' command",
             low);
    return kv_reply_error(r, msg);
}

static const struct kv_node *lookup(struct kv *kv, const struct kv_slice *k)
{
    if (k->len > UINT32_MAX) {
        return NULL;
    }
    return kv_store_get(&kv->store, k->p, (uint32_t)k->len);
}

static int read_get(struct kv *kv, const struct kv_slice *k,
                    struct kv_result *out)
{
    const struct kv_node *n = lookup(kv, k);
    if (!n) {
        kv_reply_null(out);
        return 0;
    }
    return kv_reply_bulk(out, kv_node_val(n), n->vlen);
}

static bool parse_u64(const struct kv_slice *s, uint64_t *v)
{
    if (s->len == 0 || s->len > 20) {
        return false;
    }
    uint64_t u = 0;
    for (size_t i = 0; i < s->len; i++) {
        uint8_t c = s->p[i];
        if (c < '0' || c > '9' || u > (UINT64_MAX - (c - '0')) / 10) {
            return false;
        }
        u = u * 10 + (c - '0');
    }
    *v = u;
    return true;
}

struct scan_req {
    uint64_t cursor;
    uint64_t count; /* keys examined at most */
    const uint8_t *pat;
    size_t plen;
    bool any_type_ok; /* TYPE string or no TYPE */
};

static bool has_prefix(const struct kv_node *n, const uint8_t *p, size_t len)
{
    return n->klen >= len && (len == 0 || memcmp(n->data, p, len) == 0);
}

/* Walks keys from rank req->cursor, examining at most req->count, and
 * replies with the matching ones; *next gets the cursor to resume from (0
 * when the walk reached the end). With keys_only, replies with the array
 * of keys alone (KEYS). */
static int scan_walk(struct kv *kv, const struct scan_req *req, uint64_t *next,
                     struct kv_result *keys)
{
    const struct kv_node *root = kv->store.root;
    uint64_t total = kv_store_count(&kv->store);
    uint8_t *prefix = NULL;
    size_t plen = 0;
    if (req->pat) {
        prefix = malloc(req->plen ? req->plen : 1);
        if (!prefix) {
            return SAMPAN_ENOMEM;
        }
        plen = kv_glob_prefix(req->pat, req->plen, prefix, req->plen);
    }
    uint64_t start = req->cursor;
    if (plen > 0) {
        uint64_t lo = kv_tree_rank(root, prefix, plen);
        start = start > lo ? start : lo;
    }
    const struct kv_node **found = NULL;
    size_t nfound = 0, cap = 0;
    uint64_t examined = 0;
    bool end = true;
    int rc = 0;
    struct kv_iter it = {0};
    if (start < total && req->count > 0) {
        rc = kv_iter_seek_rank(&it, root, start);
        end = false;
    }
    while (rc == 0 && !end) {
        if (examined == req->count) {
            /* Peek: when nothing follows in range, say so now rather than
             * make the client call again for an empty page. */
            const struct kv_node *n = kv_iter_next(&it);
            end = !n || !has_prefix(n, prefix, plen);
            break;
        }
        const struct kv_node *n = kv_iter_next(&it);
        if (!n || !has_prefix(n, prefix, plen)) {
            end = true;
            break;
        }
        examined++;
        if (!req->any_type_ok ||
            (req->pat &&
             !kv_glob_match(req->pat, req->plen, n->data, n->klen))) {
            continue;
        }
        if (nfound == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            const struct kv_node **f = realloc(found, ncap * sizeof(*f));
            if (!f) {
                rc = SAMPAN_ENOMEM;
                break;
            }
            found = f;
            cap = ncap;
        }
        found[nfound++] = n;
    }
    kv_iter_free(&it);
    free(prefix);
    if (rc == 0 && start + examined >= total) {
        end = true;
    }
    if (rc == 0) {
        rc = kv_reply_array(keys, nfound);
    }
    for (size_t i = 0; rc == 0 && i < nfound; i++) {
        rc = kv_reply_bulk(&keys->elems[i], found[i]->data, found[i]->klen);
    }
    free(found);
    *next = end ? 0 : start + examined;
    return rc;
}

static int read_scan(struct kv *kv, size_t argc, const struct kv_slice *argv,
                     struct kv_result *out)
{
    if (argc < 2) {
        return kv_reply_arity(out, "scan");
    }
    struct scan_req req = {.count = 10, .any_type_ok = true};
    if (!parse_u64(&argv[1], &req.cursor)) {
        return kv_reply_error(out, KV_ERR_CURSOR);
    }
    for (size_t i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) {
            return kv_reply_error(out, KV_ERR_SYNTAX);
        }
        if (kv_name_is(&argv[i], "MATCH")) {
            req.pat = argv[i + 1].p;
            req.plen = argv[i + 1].len;
        } else if (kv_name_is(&argv[i], "COUNT")) {
            int64_t c;
            if (!kv_parse_i64(argv[i + 1].p, argv[i + 1].len, &c)) {
                return kv_reply_error(out, KV_ERR_NOT_INT);
            }
            if (c < 1) {
                return kv_reply_error(out, KV_ERR_SYNTAX);
            }
            req.count = (uint64_t)c;
        } else if (kv_name_is(&argv[i], "TYPE")) {
            /* Every value is a string. */
            req.any_type_ok = kv_name_is(&argv[i + 1], "STRING");
        } else {
            return kv_reply_error(out, KV_ERR_SYNTAX);
        }
    }
    if (req.pat && req.plen == 1 && req.pat[0] == '*') {
        req.pat = NULL; /* matches everything */
    }
    uint64_t next;
    struct kv_result keys = {0};
    int rc = scan_walk(kv, &req, &next, &keys);
    if (rc == 0) {
        rc = kv_reply_array(out, 2);
    }
    if (rc == 0) {
        char buf[24];
        size_t n = kv_format_i64((int64_t)next, buf);
        rc = kv_reply_bulk(&out->elems[0], buf, n);
    }
    if (rc != 0) {
        kv_result_free(&keys);
        kv_result_free(out);
        return rc;
    }
    out->elems[1] = keys;
    return 0;
}

static int read_keys(struct kv *kv, const struct kv_slice *pat,
                     struct kv_result *out)
{
    struct scan_req req = {
        .count = UINT64_MAX, .pat = pat->p, .plen = pat->len, .any_type_ok = 1};
    if (req.plen == 1 && req.pat[0] == '*') {
        req.pat = NULL;
    }
    uint64_t next;
    int rc = scan_walk(kv, &req, &next, out);
    if (rc != 0) {
        kv_result_free(out);
    }
    return rc;
}

static int read_multi(struct kv *kv, size_t argc, const struct kv_slice *argv,
                      struct kv_result *out)
{
    int rc = kv_reply_array(out, argc - 1);
    for (size_t i = 1; rc == 0 && i < argc; i++) {
        rc = read_get(kv, &argv[i], &out->elems[i - 1]);
    }
    if (rc != 0) {
        kv_result_free(out);
    }
    return rc;
}

int kv_read(struct kv *kv, size_t argc, const struct kv_slice *argv,
            struct kv_result *out)
{
    memset(out, 0, sizeof(*out));
    if (argc == 0) {
        return SAMPAN_EINVAL;
    }
    const struct kv_slice *name = &argv[0];
    if (kv_name_is(name, "GET")) {
        return argc == 2 ? read_get(kv, &argv[1], out)
                         : kv_reply_arity(out, "get");
    }
    if (kv_name_is(name, "MGET")) {
        return argc >= 2 ? read_multi(kv, argc, argv, out)
                         : kv_reply_arity(out, "mget");
    }
    if (kv_name_is(name, "EXISTS")) {
        if (argc < 2) {
            return kv_reply_arity(out, "exists");
        }
        int64_t n = 0;
        for (size_t i = 1; i < argc; i++) {
            n += lookup(kv, &argv[i]) != NULL; /* repeats count again */
        }
        kv_reply_int(out, n);
        return 0;
    }
    if (kv_name_is(name, "STRLEN")) {
        if (argc != 2) {
            return kv_reply_arity(out, "strlen");
        }
        const struct kv_node *n = lookup(kv, &argv[1]);
        kv_reply_int(out, n ? n->vlen : 0);
        return 0;
    }
    if (kv_name_is(name, "DBSIZE")) {
        if (argc != 1) {
            return kv_reply_arity(out, "dbsize");
        }
        kv_reply_int(out, (int64_t)kv_store_count(&kv->store));
        return 0;
    }
    if (kv_name_is(name, "SCAN")) {
        return read_scan(kv, argc, argv, out);
    }
    if (kv_name_is(name, "KEYS")) {
        return argc == 2 ? read_keys(kv, &argv[1], out)
                         : kv_reply_arity(out, "keys");
    }
    return SAMPAN_EINVAL;
}
