/* unit/test_kv_commands.c: every command of the state machine with its
 * Redis edge cases and exact replies, going the way the server goes:
 * argv -> kv_cmd_from_argv -> log entry -> kv_apply for writes, kv_read
 * for reads; and the command codec's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv/kv.h"

#define MAXARGS 16

/* Splits "SET k v" on spaces into slices pointing into a static copy. */
static size_t split(const char *line, struct kv_slice *argv, char *buf)
{
    strcpy(buf, line);
    size_t n = 0;
    for (char *tok = strtok(buf, " "); tok && n < MAXARGS;
         tok = strtok(NULL, " ")) {
        argv[n].p = (const uint8_t *)tok;
        argv[n].len = strlen(tok);
        n++;
    }
    return n;
}

/* Applies a write through the log path and returns its reply. */
static struct kv_result wr_argv(struct kv *kv, size_t argc,
                                const struct kv_slice *argv)
{
    struct kv_result r = {0};
    uint8_t *payload;
    size_t len;
    assert_int_equal(kv_cmd_from_argv(argc, argv, NULL, &payload, &len, &r), 0);
    if (!payload) {
        assert_int_equal(r.type, KV_R_ERROR); /* refused before the log */
        return r;
    }
    struct sampan_entry e = {.term = 1,
                             .index = kv_applied_index(kv) + 1,
                             .type = SAMPAN_ENTRY_NORMAL,
                             .len = (uint32_t)len,
                             .data = payload};
    assert_int_equal(kv_apply(kv, &e, &r), 0);
    free(payload);
    return r;
}

static struct kv_result run(struct kv *kv, const char *line)
{
    char buf[512];
    struct kv_slice argv[MAXARGS];
    size_t argc = split(line, argv, buf);
    enum kv_kind k = kv_command_kind(argv[0].p, argv[0].len);
    if (k == KV_KIND_WRITE) {
        return wr_argv(kv, argc, argv);
    }
    assert_int_equal(k, KV_KIND_READ);
    struct kv_result r;
    assert_int_equal(kv_read(kv, argc, argv, &r), 0);
    return r;
}

static void expect_ok(struct kv *kv, const char *line)
{
    struct kv_result r = run(kv, line);
    assert_int_equal(r.type, KV_R_OK);
    kv_result_free(&r);
}

static void expect_int(struct kv *kv, const char *line, int64_t v)
{
    struct kv_result r = run(kv, line);
    if (r.type != KV_R_INT) {
        fail_msg("%s: type %d (%s)", line, r.type, r.str ? (char *)r.str : "");
    }
    assert_int_equal(r.i, v);
    kv_result_free(&r);
}

static void expect_null(struct kv *kv, const char *line)
{
    struct kv_result r = run(kv, line);
    assert_int_equal(r.type, KV_R_NULL);
    kv_result_free(&r);
}

static void expect_bulk(struct kv *kv, const char *line, const char *v)
{
    struct kv_result r = run(kv, line);
    assert_int_equal(r.type, KV_R_BULK);
    assert_int_equal(r.len, strlen(v));
    assert_memory_equal(r.str, v, r.len);
    kv_result_free(&r);
}

static void expect_err(struct kv *kv, const char *line, const char *msg)
{
    struct kv_result r = run(kv, line);
    assert_int_equal(r.type, KV_R_ERROR);
    assert_string_equal((char *)r.str, msg);
    kv_result_free(&r);
}

static int setup(void **state)
{
    struct kv_config cfg;
    kv_config_default(&cfg);
    struct kv *kv;
    assert_int_equal(kv_open(&cfg, &kv), 0);
    *state = kv;
    return 0;
}

static int teardown(void **state)
{
    kv_close(*state);
    return 0;
}

static void test_get_set(void **state)
{
    struct kv *kv = *state;
    expect_null(kv, "GET a");
    expect_ok(kv, "SET a 1");
    expect_bulk(kv, "get a", "1");
    expect_ok(kv, "set a two");
    expect_bulk(kv, "GET a", "two");
    expect_null(kv, "SET a x NX");
    expect_bulk(kv, "GET a", "two");
    expect_ok(kv, "SET b x NX");
    expect_ok(kv, "SET a y XX");
    expect_bulk(kv, "GET a", "y");
    expect_null(kv, "SET c y XX");
    expect_null(kv, "GET c");
    expect_err(kv, "SET a 1 NX XX", "ERR syntax error");
    expect_err(kv, "SET a 1 BOGUS", "ERR syntax error");
    expect_err(kv, "SET a 1 EX 10",
               "ERR EX/PX/EXAT/PXAT are not supported: sampan has no key "
               "expiry yet");
    expect_err(kv, "SET a 1 PX 10",
               "ERR EX/PX/EXAT/PXAT are not supported: sampan has no key "
               "expiry yet");
    expect_ok(kv, "SET a 1 KEEPTTL");
    expect_err(kv, "SET a", "ERR wrong number of arguments for 'set' command");
    expect_err(kv, "GET", "ERR wrong number of arguments for 'get' command");
    expect_err(kv, "GET a b",
               "ERR wrong number of arguments for 'get' command");
    expect_int(kv, "SETNX a 9", 0);
    expect_int(kv, "SETNX n 9", 1);
    expect_bulk(kv, "GET n", "9");
    expect_null(kv, "GETSET g 1");
    expect_bulk(kv, "GETSET g 2", "1");
    expect_bulk(kv, "GET g", "2");
    expect_int(kv, "STRLEN g", 1);
    expect_int(kv, "STRLEN nope", 0);
}

static void test_del_exists(void **state)
{
    struct kv *kv = *state;
    expect_ok(kv, "MSET a 1 b 2 c 3");
    expect_int(kv, "EXISTS a a b zz", 3); /* repeats count */
    expect_int(kv, "DEL a a zz b", 2);    /* deleted once */
    expect_int(kv, "EXISTS a b c", 1);
    expect_int(kv, "DBSIZE", 1);
    expect_err(kv, "DEL", "ERR wrong number of arguments for 'del' command");
    expect_err(kv, "EXISTS",
               "ERR wrong number of arguments for 'exists' command");
    expect_err(kv, "MSET a 1 b",
               "ERR wrong number of arguments for 'mset' command");
    expect_err(kv, "MSET", "ERR wrong number of arguments for 'mset' command");
    expect_ok(kv, "MSET x 1 x 2"); /* last wins */
    expect_bulk(kv, "GET x", "2");
    struct kv_result r = run(kv, "MGET x nope c");
    assert_int_equal(r.type, KV_R_ARRAY);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.elems[0].type, KV_R_BULK);
    assert_string_equal((char *)r.elems[0].str, "2");
    assert_int_equal(r.elems[1].type, KV_R_NULL);
    assert_string_equal((char *)r.elems[2].str, "3");
    kv_result_free(&r);
    expect_ok(kv, "FLUSHALL");
    expect_int(kv, "DBSIZE", 0);
    expect_ok(kv, "FLUSHALL ASYNC");
    expect_err(kv, "FLUSHALL NOW", "ERR syntax error");
}

static void test_append(void **state)
{
    struct kv *kv = *state;
    expect_int(kv, "APPEND s Hello", 5);
    expect_int(kv, "APPEND s _World", 11);
    expect_bulk(kv, "GET s", "Hello_World");
    expect_int(kv, "STRLEN s", 11);
    expect_ok(kv, "SET n 10");
    expect_int(kv, "APPEND n 5", 3);
    expect_int(kv, "INCR n", 106);
}

static void test_incr_decr(void **state)
{
    struct kv *kv = *state;
    expect_int(kv, "INCR c", 1);
    expect_int(kv, "INCR c", 2);
    expect_int(kv, "INCRBY c 10", 12);
    expect_int(kv, "DECR c", 11);
    expect_int(kv, "DECRBY c 20", -9);
    expect_bulk(kv, "GET c", "-9");
    expect_int(kv, "INCRBY c -1", -10);
    expect_ok(kv, "SET s abc");
    expect_err(kv, "INCR s", "ERR value is not an integer or out of range");
    const char *not_ints[] = {"SET s  ",   "SET s +1",
                              "SET s 01",  "SET s -0",
                              "SET s 1.5", "SET s 99999999999999999999"};
    for (size_t i = 0; i < sizeof(not_ints) / sizeof(not_ints[0]); i++) {
        char line[64];
        struct kv_result r = run(kv, "DEL s");
        kv_result_free(&r);
        if (strcmp(not_ints[i], "SET s  ") == 0) {
            /* the empty string: APPEND of nothing makes it */
            r = run(kv, "SET s x");
            kv_result_free(&r);
            r = run(kv, "GETSET s y");
            kv_result_free(&r);
            continue;
        }
        snprintf(line, sizeof(line), "%s", not_ints[i]);
        expect_ok(kv, line);
        expect_err(kv, "INCR s", "ERR value is not an integer or out of range");
    }
    expect_ok(kv, "SET m 9223372036854775807");
    expect_err(kv, "INCR m", "ERR increment or decrement would overflow");
    expect_bulk(kv, "GET m", "9223372036854775807");
    expect_int(kv, "DECR m", INT64_MAX - 1);
    expect_ok(kv, "SET m -9223372036854775808");
    expect_err(kv, "DECR m", "ERR increment or decrement would overflow");
    expect_int(kv, "INCRBY m 0", INT64_MIN);
    expect_err(kv, "DECRBY m -9223372036854775808",
               "ERR decrement would overflow");
    expect_err(kv, "INCRBY m x", "ERR value is not an integer or out of range");
    expect_err(kv, "INCRBY m 9223372036854775808",
               "ERR value is not an integer or out of range");
    expect_err(kv, "INCR", "ERR wrong number of arguments for 'incr' command");
    expect_err(kv, "INCR a b",
               "ERR wrong number of arguments for 'incr' command");
}

/* The empty string is not an integer either. */
static void test_incr_empty(void **state)
{
    struct kv *kv = *state;
    struct kv_slice argv[3] = {{(const uint8_t *)"SET", 3},
                               {(const uint8_t *)"e", 1},
                               {(const uint8_t *)"", 0}};
    struct kv_result r = wr_argv(kv, 3, argv);
    assert_int_equal(r.type, KV_R_OK);
    expect_int(kv, "STRLEN e", 0);
    expect_bulk(kv, "GET e", "");
    expect_int(kv, "EXISTS e", 1);
    expect_err(kv, "INCR e", "ERR value is not an integer or out of range");
}

static void fill(struct kv *kv, const char *fmt, int n)
{
    for (int i = 0; i < n; i++) {
        char line[64];
        snprintf(line, sizeof(line), fmt, i);
        expect_ok(kv, line);
    }
}

/* Runs a full SCAN iteration, returning how many keys and checking each
 * appears once and matches want_prefix. */
static size_t scan_all(struct kv *kv, const char *opts, const char *want_prefix,
                       int *calls)
{
    char line[128];
    uint64_t cursor = 0;
    size_t total = 0;
    *calls = 0;
    char last[64] = "";
    do {
        snprintf(line, sizeof(line), "SCAN %llu%s", (unsigned long long)cursor,
                 opts);
        struct kv_result r = run(kv, line);
        assert_int_equal(r.type, KV_R_ARRAY);
        assert_int_equal(r.n, 2);
        assert_int_equal(r.elems[0].type, KV_R_BULK);
        cursor = strtoull((char *)r.elems[0].str, NULL, 10);
        for (size_t i = 0; i < r.elems[1].n; i++) {
            const char *k = (char *)r.elems[1].elems[i].str;
            assert_true(strncmp(k, want_prefix, strlen(want_prefix)) == 0);
            assert_true(strcmp(k, last) > 0); /* increasing: no repeats */
            snprintf(last, sizeof(last), "%s", k);
        }
        total += r.elems[1].n;
        kv_result_free(&r);
        (*calls)++;
        assert_true(*calls < 10000);
    } while (cursor != 0);
    return total;
}

static void test_scan_keys(void **state)
{
    struct kv *kv = *state;
    int calls;
    assert_int_equal(scan_all(kv, "", "", &calls), 0);
    assert_int_equal(calls, 1);
    fill(kv, "SET user:%03d x", 250);
    fill(kv, "SET item:%03d y", 100);
    expect_ok(kv, "SET a z");
    expect_ok(kv, "SET zz z");
    assert_int_equal(scan_all(kv, "", "", &calls), 352);
    assert_int_equal(calls, 36); /* COUNT 10 by default */
    assert_int_equal(scan_all(kv, " COUNT 1000", "", &calls), 352);
    assert_int_equal(calls, 1);
    /* A prefix MATCH walks only its range: 250 keys, 25 calls of 10. */
    assert_int_equal(scan_all(kv, " MATCH user:*", "user:", &calls), 250);
    assert_int_equal(calls, 25);
    assert_int_equal(scan_all(kv, " MATCH user:1?7 COUNT 7", "user:1", &calls),
                     10);        /* user:107 ... user:197 */
    assert_int_equal(calls, 15); /* 100 keys in range, 7 a call */
    assert_int_equal(scan_all(kv, " MATCH *:0[0-1]0 COUNT 500", "", &calls), 4);
    assert_int_equal(scan_all(kv, " MATCH nothing* COUNT 5", "", &calls), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(scan_all(kv, " TYPE string COUNT 400", "", &calls), 352);
    assert_int_equal(scan_all(kv, " TYPE list", "", &calls), 0);
    expect_err(kv, "SCAN x", "ERR invalid cursor");
    expect_err(kv, "SCAN -1", "ERR invalid cursor");
    expect_err(kv, "SCAN 0 COUNT 0", "ERR syntax error");
    expect_err(kv, "SCAN 0 COUNT x",
               "ERR value is not an integer or out of range");
    expect_err(kv, "SCAN 0 MATCH", "ERR syntax error");
    expect_err(kv, "SCAN 0 FOO bar", "ERR syntax error");
    /* A cursor past the end is an empty, final page. */
    struct kv_result r = run(kv, "SCAN 99999");
    assert_string_equal((char *)r.elems[0].str, "0");
    assert_int_equal(r.elems[1].n, 0);
    kv_result_free(&r);

    r = run(kv, "KEYS item:09*");
    assert_int_equal(r.type, KV_R_ARRAY);
    assert_int_equal(r.n, 10);
    assert_string_equal((char *)r.elems[0].str, "item:090");
    kv_result_free(&r);
    r = run(kv, "KEYS *");
    assert_int_equal(r.n, 352);
    assert_string_equal((char *)r.elems[0].str, "a");
    assert_string_equal((char *)r.elems[351].str, "zz");
    kv_result_free(&r);
    r = run(kv, "KEYS *z");
    assert_int_equal(r.n, 1); /* zz */
    kv_result_free(&r);
    r = run(kv, "KEYS a");
    assert_int_equal(r.n, 1);
    kv_result_free(&r);
}

/* Keys that exist for a whole SCAN are returned at least once even when
 * keys after the cursor come and go. */
static void test_scan_with_writes(void **state)
{
    struct kv *kv = *state;
    fill(kv, "SET k%03d v", 100);
    uint64_t cursor = 0;
    int seen[100] = {0};
    int round = 0;
    do {
        char line[64];
        snprintf(line, sizeof(line), "SCAN %llu COUNT 7",
                 (unsigned long long)cursor);
        struct kv_result r = run(kv, line);
        cursor = strtoull((char *)r.elems[0].str, NULL, 10);
        for (size_t i = 0; i < r.elems[1].n; i++) {
            const char *key = (char *)r.elems[1].elems[i].str;
            int k = atoi(key + 1);
            if (key[0] == 'k' && k < 100) {
                seen[k]++;
            }
        }
        kv_result_free(&r);
        snprintf(line, sizeof(line), "SET z%03d v", round++);
        expect_ok(kv, line);
    } while (cursor != 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(seen[i], 1);
    }
}

static void test_limits(void **state)
{
    struct kv *kv = *state;
    size_t big = KV_MAX_KEY_LEN + 1;
    uint8_t *key = malloc(big);
    assert_non_null(key);
    memset(key, 'k', big);
    struct kv_slice argv[3] = {
        {(const uint8_t *)"SET", 3}, {key, big}, {(const uint8_t *)"v", 1}};
    struct kv_result r = wr_argv(kv, 3, argv);
    assert_string_equal((char *)r.str, "ERR key exceeds maximum allowed size");
    kv_result_free(&r);
    argv[1].len = KV_MAX_KEY_LEN;
    r = wr_argv(kv, 3, argv);
    assert_int_equal(r.type, KV_R_OK);
    free(key);
    /* APPEND past the value limit is refused at apply time. */
    size_t half = KV_MAX_VALUE_LEN / 2 + 1;
    uint8_t *val = malloc(half);
    assert_non_null(val);
    memset(val, 'v', half);
    struct kv_slice ap[3] = {{(const uint8_t *)"APPEND", 6},
                             {(const uint8_t *)"big", 3},
                             {val, half}};
    r = wr_argv(kv, 3, ap);
    assert_int_equal(r.i, (int64_t)half);
    r = wr_argv(kv, 3, ap);
    assert_string_equal(
        (char *)r.str,
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    kv_result_free(&r);
    expect_int(kv, "STRLEN big", (int64_t)half);
    free(val);
}

/* The codec: round trip, and every kind of damage refused. */
static void test_codec(void **state)
{
    (void)state;
    struct kv_slice args[2] = {{(const uint8_t *)"key", 3},
                               {(const uint8_t *)"value", 5}};
    struct kv_cmd c = {.op = KV_OP_SET,
                       .flags = KV_CMD_F_SESSION | KV_CMD_F_NX,
                       .client = 7,
                       .seq = 9,
                       .argc = 2};
    uint8_t buf[64];
    size_t len;
    assert_int_equal(kv_cmd_encode(&c, args, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 3 + 16 + 4 + 7 + 9);
    struct kv_cmd d;
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), 0);
    assert_int_equal(d.op, KV_OP_SET);
    assert_int_equal(d.client, 7);
    assert_int_equal(d.seq, 9);
    size_t pos = 0;
    struct kv_slice a;
    kv_cmd_next_arg(&d, &pos, &a);
    assert_memory_equal(a.p, "key", 3);
    kv_cmd_next_arg(&d, &pos, &a);
    assert_memory_equal(a.p, "value", 5);
    const char *why = NULL;
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(kv_cmd_decode(buf, cut, &d, &why), SAMPAN_EINVAL);
        assert_non_null(why);
    }
    uint8_t longer[65];
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(kv_cmd_decode(longer, len + 1, &d, NULL), SAMPAN_EINVAL);
    buf[0] = 2; /* version */
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), SAMPAN_EINVAL);
    buf[0] = 1;
    buf[1] = 0; /* op */
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), SAMPAN_EINVAL);
    buf[1] = KV_OP_APPEND; /* NX on APPEND */
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), SAMPAN_EINVAL);
    buf[1] = KV_OP_SET;
    buf[2] |= KV_CMD_F_XX;
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), SAMPAN_EINVAL);
    buf[2] = KV_CMD_F_SESSION | 0x80;
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), SAMPAN_EINVAL);
    buf[2] = KV_CMD_F_SESSION;
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), 0);
    buf[19] = 3; /* argc */
    assert_int_equal(kv_cmd_decode(buf, len, &d, NULL), SAMPAN_EINVAL);
    /* INCRBY's delta must be 8 bytes; DEL needs a key; FLUSHALL none. */
    struct kv_cmd inc = {.op = KV_OP_INCRBY, .argc = 2};
    assert_int_equal(kv_cmd_encode(&inc, args, buf, sizeof(buf), &len),
                     SAMPAN_ETOOBIG);
    struct kv_cmd del = {.op = KV_OP_DEL, .argc = 0};
    assert_int_equal(kv_cmd_encode(&del, args, buf, sizeof(buf), &len),
                     SAMPAN_EINVAL);
    struct kv_cmd fl = {.op = KV_OP_FLUSHALL, .argc = 0};
    assert_int_equal(kv_cmd_encode(&fl, NULL, buf, 7, &len), 0);
    assert_int_equal(kv_cmd_encode(&fl, NULL, buf, 6, &len), SAMPAN_ETOOBIG);
    assert_int_equal(kv_get_i64((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff"
                                                 "\xff"),
                     -1);
    uint8_t i8[8];
    kv_put_i64(i8, INT64_MIN);
    assert_int_equal(kv_get_i64(i8), INT64_MIN);
}

/* A committed entry that does not decode is a deterministic error reply
 * that changes nothing but the applied index; NOOPs and empty entries
 * advance it silently; indexes must follow each other. */
static void test_bad_entries(void **state)
{
    struct kv *kv = *state;
    expect_ok(kv, "SET a 1");
    uint64_t i = kv_applied_index(kv);
    uint8_t junk[] = {1, KV_OP_SET, 0, 9, 9, 9, 9};
    struct sampan_entry e = {.term = 1,
                             .index = i + 1,
                             .type = SAMPAN_ENTRY_NORMAL,
                             .len = sizeof(junk),
                             .data = junk};
    struct kv_result r;
    assert_int_equal(kv_apply(kv, &e, &r), 0);
    assert_int_equal(r.type, KV_R_ERROR);
    assert_string_equal((char *)r.str, "ERR invalid command entry");
    kv_result_free(&r);
    e.index++;
    e.len = 0;
    e.data = NULL;
    assert_int_equal(kv_apply(kv, &e, &r), 0);
    assert_int_equal(r.type, KV_R_NONE);
    e.index++;
    e.type = SAMPAN_ENTRY_NOOP;
    assert_int_equal(kv_io_apply(kv, &e), 0);
    assert_int_equal(kv_applied_index(kv), i + 3);
    assert_int_equal(kv_apply(kv, &e, &r), SAMPAN_ESTATE); /* again */
    e.index += 2;
    assert_int_equal(kv_apply(kv, &e, &r), SAMPAN_ESTATE); /* gap */
    expect_bulk(kv, "GET a", "1");
    expect_int(kv, "DBSIZE", 1);
    /* Not our commands. */
    struct kv_slice argv[1] = {{(const uint8_t *)"PING", 4}};
    assert_int_equal(kv_command_kind(argv[0].p, 4), KV_KIND_UNKNOWN);
    assert_int_equal(kv_read(kv, 1, argv, &r), SAMPAN_EINVAL);
    uint8_t *p;
    size_t len;
    assert_int_equal(kv_cmd_from_argv(1, argv, NULL, &p, &len, &r),
                     SAMPAN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_decr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_with_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test(test_codec),
        cmocka_unit_test_setup_teardown(test_bad_entries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
