/* tests/unit/test_raft_membership.c: membership changes (Raft thesis
 * chapter 4), rule by rule, through the public API: configurations as
 * values (validation, encoding, decoding of anything), the configuration in
 * effect as soon as its entry is in the log (4.1) and undone when a
 * conflicting leader truncates it, one change at a time and none before the
 * leader committed an entry of its term, learners that catch up before they
 * are promoted (4.2.1), removal of the leader (4.2.2), departing members
 * that still learn of their removal, joint consensus with its automatic
 * leave (4.3), elections, commitment, CheckQuorum and ReadIndex counting
 * voters only (both sets when joint), snapshots carrying the configuration
 * at their index, and nodes that join with an empty configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sampan/raft.h"
#include "support/conf_gen.h"
#include "support/raft_fixture.h"

#define SEED 11u
#define ELECTION ((int)FX_ELECTION)

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- building configurations and entries -------------------------------- */

static void set_ids(uint64_t *dst, uint32_t *n, const uint64_t *ids,
                    uint32_t count)
{
    if (count > 0) {
        memcpy(dst, ids, count * sizeof(*ids));
    }
    *n = count;
}

/* voters; outgoing (joint when non-empty); learners with promotion marks. */
static struct sampan_membership conf_make(const uint64_t *voters, uint32_t nv,
                                          const uint64_t *outgoing, uint32_t no,
                                          const uint64_t *learners, uint32_t nl,
                                          uint32_t promote)
{
    struct sampan_membership m;
    memset(&m, 0, sizeof(m));
    set_ids(m.voters, &m.n_voters, voters, nv);
    set_ids(m.outgoing, &m.n_outgoing, outgoing, no);
    set_ids(m.learners, &m.n_learners, learners, nl);
    m.learners_promote = promote;
    return m;
}

static const uint64_t V123[] = {1, 2, 3};
static const uint64_t V12[] = {1, 2};
static const uint64_t V145[] = {1, 4, 5};
static const uint64_t L4[] = {4};
static const uint64_t L45[] = {4, 5};

/* The joint configuration replacing voters 2 and 3 by 4 and 5. */
static struct sampan_membership joint_145_123(void)
{
    return conf_make(V145, 3, V123, 3, NULL, 0, 0);
}

/* A CONF entry holding `m`; its payload lives in buf. */
static struct sampan_entry conf_entry(uint64_t index, uint64_t term,
                                      const struct sampan_membership *m,
                                      uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES])
{
    size_t len = 0;
    assert_int_equal(
        sampan_membership_encode(m, buf, SAMPAN_MEMBERSHIP_MAX_BYTES, &len), 0);
    struct sampan_entry e = {.term = term,
                             .index = index,
                             .type = SAMPAN_ENTRY_CONF,
                             .len = (uint32_t)len,
                             .data = buf};
    return e;
}

static struct sampan_entry plain_entry(uint64_t index, uint64_t term)
{
    struct sampan_entry e = {
        .term = term, .index = index, .type = SAMPAN_ENTRY_NORMAL};
    return e;
}

/* ---- inspecting a core -------------------------------------------------- */

static const struct sampan_membership *conf_of(const struct sampan_raft *r)
{
    return sampan_raft_membership(r, NULL);
}

static uint64_t conf_index_of(const struct sampan_raft *r)
{
    uint64_t index = 99999;
    sampan_raft_membership(r, &index);
    return index;
}

static void assert_same_conf(const struct sampan_membership *a,
                             const struct sampan_membership *b)
{
    uint8_t ea[SAMPAN_MEMBERSHIP_MAX_BYTES];
    uint8_t eb[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t la = 0;
    size_t lb = 0;
    assert_int_equal(sampan_membership_encode(a, ea, sizeof(ea), &la), 0);
    assert_int_equal(sampan_membership_encode(b, eb, sizeof(eb), &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ea, eb, la);
}

static uint64_t last_of(const struct sampan_raft *r)
{
    return fx_status(r).last_index;
}

static uint64_t commit_of(const struct sampan_raft *r)
{
    return fx_status(r).commit;
}

/* Drains everything and returns how many messages of `type` went to `to`
 * (anyone when 0). */
static size_t drain_count(struct sampan_raft *r, uint8_t type, uint64_t to)
{
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    size_t n = fx_count(&rd, type, to);
    fx_rd_free(&rd);
    return n;
}

static size_t drain_votes(struct sampan_raft *r)
{
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    size_t n = fx_count(&rd, SAMPAN_MSG_PREVOTE, 0) +
               fx_count(&rd, SAMPAN_MSG_VOTE, 0);
    fx_rd_free(&rd);
    return n;
}

/* Drains and returns the number of read states handed out; *index gets
 * the last one's index. */
static size_t drain_read_states(struct sampan_raft *r, uint64_t *index)
{
    size_t n = 0;
    while (sampan_raft_has_ready(r)) {
        struct sampan_ready rd;
        assert_int_equal(sampan_raft_ready(r, &rd), 0);
        n += rd.n_read_states;
        if (rd.n_read_states > 0 && index != NULL) {
            *index = rd.read_states[rd.n_read_states - 1].index;
        }
        assert_int_equal(sampan_raft_advance(r, &rd), 0);
    }
    return n;
}

static void hb_resp(struct sampan_raft *r, uint64_t from, uint64_t context)
{
    struct sampan_msg m = fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, from,
                                 fx_status(r).id, fx_status(r).term);
    m.context = context;
    fx_step(r, &m);
}

/* ---- a leader driven by hand --------------------------------------------- */

/* Leader 1 of voters 1..3 in term 1, its no-op (index 1) acknowledged by
 * both followers and committed. */
static struct sampan_raft *leader_cfg(const struct sampan_raft_config *cfg)
{
    struct sampan_raft *r = fx_new_cfg(cfg, NULL);
    fx_make_leader(r, 3);
    fx_ack(r, 2, 1);
    fx_ack(r, 3, 1);
    fx_discard(r);
    assert_int_equal(commit_of(r), 1);
    return r;
}

static struct sampan_raft *leader3(void)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    return leader_cfg(&cfg);
}

static int change1(struct sampan_raft *r, uint8_t type, uint64_t id,
                   uint64_t *index)
{
    struct sampan_conf_change ch = {.type = type, .id = id};
    return sampan_raft_change_membership(r, &ch, 1, index);
}

/* Acknowledges the leader's whole log from every listed follower. */
static void ack_from(struct sampan_raft *r, const uint64_t *ids, size_t n)
{
    fx_discard(r); /* the leader's own write is durable */
    uint64_t last = last_of(r);
    for (size_t i = 0; i < n; i++) {
        fx_ack(r, ids[i], last);
    }
    fx_discard(r);
}

/* Makes 4 and 5 learners of leader3(), each change committed, both
 * caught up: the starting point of the joint-consensus tests. */
static struct sampan_raft *leader_with_learners_45(void)
{
    struct sampan_raft *r = leader3();
    const uint64_t all[] = {2, 3, 4, 5};
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, NULL), 0);
    ack_from(r, all, 3);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 5, NULL), 0);
    ack_from(r, all, 4);
    assert_int_equal(commit_of(r), last_of(r));
    struct sampan_membership want = conf_make(V123, 3, NULL, 0, L45, 2, 0);
    assert_same_conf(conf_of(r), &want);
    return r;
}

/* ... then the joint change replacing voters 2 and 3 by 4 and 5, not yet
 * committed. *index gets its entry. */
static struct sampan_raft *leader_in_joint(uint64_t *index)
{
    struct sampan_raft *r = leader_with_learners_45();
    const struct sampan_conf_change ch[] = {
        {.type = SAMPAN_CONF_ADD_VOTER, .id = 4},
        {.type = SAMPAN_CONF_ADD_VOTER, .id = 5},
        {.type = SAMPAN_CONF_REMOVE, .id = 2},
        {.type = SAMPAN_CONF_REMOVE, .id = 3},
    };
    assert_int_equal(sampan_raft_change_membership(r, ch, 4, index), 0);
    struct sampan_membership want = joint_145_123();
    assert_same_conf(conf_of(r), &want);
    fx_discard(r);
    return r;
}

/* ---- a network of cores -------------------------------------------------- */

/* Voters 1..voters, then nodes voters+1..total started with an empty
 * configuration (joining), all from the template (NULL: defaults). */
static void net_init(struct fx_net *net, size_t voters, size_t total,
                     const struct sampan_raft_config *tmpl)
{
    fx_net_init(net, voters, SEED, tmpl);
    for (size_t id = voters + 1; id <= total; id++) {
        struct sampan_raft_config cfg;
        fx_config(&cfg, id, 0, SEED);
        if (tmpl != NULL) {
            cfg = *tmpl;
            cfg.id = id;
            cfg.seed = SEED;
            memset(&cfg.members, 0, sizeof(cfg.members));
        }
        net->nodes[id] = fx_new_cfg(&cfg, NULL);
    }
    net->n = total;
}

/* Node `id` campaigns and wins; everything settles. */
static void net_lead(struct fx_net *net, uint64_t id)
{
    assert_int_equal(sampan_raft_campaign(net->nodes[id]), 0);
    fx_net_settle(net);
    assert_int_equal(fx_net_leader(net), id);
}

/* Ticks every core and settles, `rounds` times. */
static void net_run(struct fx_net *net, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        fx_net_tick(net);
        fx_net_settle(net);
    }
}

static void net_propose(struct fx_net *net, uint64_t leader, int count)
{
    for (int i = 0; i < count; i++) {
        assert_int_equal(sampan_raft_propose(net->nodes[leader], "v", 1, NULL),
                         0);
    }
    fx_net_settle(net);
}

static void net_cut(struct fx_net *net, uint64_t a, uint64_t b)
{
    net->cut[a][b] = net->cut[b][a] = true;
}

/* ==== configurations as values (conf.c) ====================================
 */

/* Every configuration survives encode/decode unchanged (the format of CONF
 * entries, snapshot headers and SNAPSHOT messages), the encoding is
 * canonical, and a buffer one byte short is refused. */
static void test_encode_decode_round_trip(void **state)
{
    (void)state;
    uint64_t s = SEED;
    for (int i = 0; i < 3000; i++) {
        struct sampan_membership m;
        struct sampan_membership back;
        if (i == 0) {
            conf_example(&m);
        } else if (i == 1) {
            memset(&m, 0, sizeof(m)); /* a joining node's */
        } else {
            conf_random(&m, rnd, &s);
        }
        uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
        uint8_t again[SAMPAN_MEMBERSHIP_MAX_BYTES];
        size_t len = 0;
        size_t len2 = 0;
        assert_int_equal(sampan_membership_encode(&m, buf, sizeof(buf), &len),
                         0);
        assert_true(len >= 12);
        assert_int_equal(sampan_membership_decode(buf, len, &back, NULL), 0);
        assert_conf_equal(&m, &back);
        assert_int_equal(
            sampan_membership_encode(&back, again, sizeof(again), &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, again, len);
        assert_int_equal(sampan_membership_encode(&m, buf, len - 1, &len2),
                         SAMPAN_ETOOBIG);
    }
    /* The largest configuration fits SAMPAN_MEMBERSHIP_MAX_BYTES. */
    struct sampan_membership big;
    memset(&big, 0, sizeof(big));
    for (uint32_t i = 0; i < SAMPAN_MAX_VOTERS; i++) {
        big.voters[i] = big.outgoing[i] = UINT64_MAX - i;
        big.addrs[i].id = UINT64_MAX - i;
        memset(big.addrs[i].addr, 'a', SAMPAN_ADDR_MAX - 1);
    }
    big.n_voters = big.n_outgoing = big.n_addrs = SAMPAN_MAX_VOTERS;
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t len = 0;
    assert_int_equal(sampan_membership_encode(&big, buf, sizeof(buf), &len), 0);
    struct sampan_membership back;
    assert_int_equal(sampan_membership_decode(buf, len, &back, NULL), 0);
    assert_conf_equal(&big, &back);
}

static void expect_invalid(const struct sampan_membership *m)
{
    const char *why = NULL;
    assert_int_equal(sampan_membership_validate(m, &why), SAMPAN_EINVAL);
    assert_non_null(why);
    assert_int_equal(sampan_membership_validate(m, NULL), SAMPAN_EINVAL);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t len = 77;
    assert_int_equal(sampan_membership_encode(m, buf, sizeof(buf), &len),
                     SAMPAN_EINVAL);
    assert_int_equal(len, 0);
}

static void add_addr(struct sampan_membership *m, uint64_t id, const char *a)
{
    m->addrs[m->n_addrs].id = id;
    snprintf(m->addrs[m->n_addrs].addr, SAMPAN_ADDR_MAX, "%s", a);
    m->n_addrs++;
}

/* raft.h, struct sampan_membership: the rules every configuration obeys,
 * each refused with a reason, and by the encoder too. */
static void test_validate_refusals(void **state)
{
    (void)state;
    struct sampan_membership ok = conf_make(V123, 3, NULL, 0, L4, 1, 1);
    add_addr(&ok, 4, "h:1");
    assert_int_equal(sampan_membership_validate(&ok, NULL), 0);

    struct sampan_membership m = ok;
    m.n_voters = SAMPAN_MAX_VOTERS + 1; /* too many in a list */
    expect_invalid(&m);
    m = ok;
    m.n_addrs = SAMPAN_MAX_MEMBERS + 1;
    expect_invalid(&m);
    m = ok;
    m.voters[1] = 0; /* id zero */
    expect_invalid(&m);
    m = ok;
    m.voters[2] = 1; /* listed twice */
    expect_invalid(&m);
    m = conf_make(V123, 3, NULL, 0, (const uint64_t[]){4, 4}, 2, 0);
    expect_invalid(&m);
    m = conf_make(NULL, 0, V123, 3, NULL, 0, 0); /* joint, no incoming */
    expect_invalid(&m);
    m = conf_make(V123, 3, NULL, 0, (const uint64_t[]){2}, 1, 0);
    expect_invalid(&m); /* a learner that is a voter */
    m = conf_make(V145, 3, V123, 3, (const uint64_t[]){3}, 1, 0);
    expect_invalid(&m); /* a learner that is an outgoing voter */
    m = ok;
    m.learners_promote = 0x2; /* a mark on a learner that is not there */
    expect_invalid(&m);
    m = ok;
    m.learners_promote = 0x80000000u;
    expect_invalid(&m);
    /* More than SAMPAN_MAX_MEMBERS members in all. */
    memset(&m, 0, sizeof(m));
    for (uint32_t i = 0; i < SAMPAN_MAX_VOTERS; i++) {
        m.voters[i] = i + 1;
    }
    m.n_voters = SAMPAN_MAX_VOTERS;
    m.learners[0] = 100;
    m.n_learners = 1;
    expect_invalid(&m);
    m = conf_make(
        V12, 2,
        (const uint64_t[]){3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
        15, NULL, 0, 0);
    expect_invalid(&m); /* 17 members across the two voter sets */
    /* Addresses: empty, unterminated, of a non-member, two for one. */
    m = ok;
    m.addrs[0].addr[0] = '\0';
    expect_invalid(&m);
    m = ok;
    memset(m.addrs[0].addr, 'x', SAMPAN_ADDR_MAX);
    expect_invalid(&m);
    m = ok;
    add_addr(&m, 9, "h:9");
    expect_invalid(&m);
    m = ok;
    add_addr(&m, 4, "h:2");
    expect_invalid(&m);
    /* The empty configuration (a joining node's) is valid. */
    memset(&m, 0, sizeof(m));
    assert_int_equal(sampan_membership_validate(&m, NULL), 0);
}

static void expect_undecodable(const uint8_t *buf, size_t len)
{
    struct sampan_membership m;
    memset(&m, 0xa5, sizeof(m));
    const char *why = NULL;
    assert_int_equal(sampan_membership_decode(buf, len, &m, &why),
                     SAMPAN_EINVAL);
    assert_non_null(why);
    /* Nothing half-decoded is left behind. */
    struct sampan_membership zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&m, &zero, sizeof(m));
}

/* docs/disk-format.md "Configuration": every way an encoding can be wrong
 * is refused with a reason: short, unknown version, reserved bytes, counts
 * over the limits, truncated ids or addresses, empty, overlong or NUL-
 * carrying addresses, trailing bytes, and decoded fields that break the
 * rules. */
static void test_decode_refusals(void **state)
{
    (void)state;
    struct sampan_membership ex;
    conf_example(&ex);
    uint8_t good[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t len = 0;
    assert_int_equal(sampan_membership_encode(&ex, good, sizeof(good), &len),
                     0);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES + 1];
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(buf, good, cut);
        expect_undecodable(buf, cut); /* every truncation */
    }
    memcpy(buf, good, len);
    buf[len] = 0;
    expect_undecodable(buf, len + 1);          /* a trailing byte */
    const size_t addr0 = 12 + 8 * (3 + 3 + 3); /* first address record */
    struct {
        size_t at;
        uint8_t value;
    } pokes[] = {
        {0, 2},                       /* version */
        {5, 1},                       /* reserved */
        {7, 0x80},                    /* reserved */
        {1, SAMPAN_MAX_VOTERS + 1},   /* voters */
        {2, SAMPAN_MAX_VOTERS + 1},   /* outgoing */
        {3, SAMPAN_MAX_MEMBERS + 1},  /* learners */
        {4, SAMPAN_MAX_MEMBERS + 1},  /* addresses */
        {4, 3},                       /* one address fewer: trailing bytes */
        {8, 0xff},                    /* promotion marks of missing learners */
        {12, 0},                      /* voter id 1 -> 0 would need 8 zeros */
        {addr0 + 8, 0},               /* address length 0 */
        {addr0 + 8, SAMPAN_ADDR_MAX}, /* address length 64 */
        {addr0 + 8, 200},             /* address past the end */
        {addr0 + 10, 0},              /* NUL inside an address */
        {12 + 8 * 3, 7},              /* outgoing voter 1 -> 7: not in ... */
    };
    for (size_t i = 0; i < sizeof(pokes) / sizeof(pokes[0]); i++) {
        memcpy(buf, good, len);
        buf[pokes[i].at] = pokes[i].value;
        if (pokes[i].at == 12) {
            memset(buf + 12, 0, 8); /* voter id 0 */
        }
        if (pokes[i].at == 12 + 8 * 3) {
            /* Outgoing {7,2,3} and learner 7: a learner that votes. */
            memcpy(buf + 12 + 8 * 3, good + 12 + 8 * 8, 8);
        }
        expect_undecodable(buf, len);
    }
    expect_undecodable(NULL, 0);
}

/* The decoder never trusts its input: random bytes, and valid encodings
 * with random damage, are either refused (leaving a zeroed configuration)
 * or decode to a valid configuration whose encoding is exactly the input
 * (the format is canonical, so nothing slips through half-checked). */
static void test_decode_garbage_never_crashes(void **state)
{
    (void)state;
    uint64_t s = SEED * 7;
    size_t accepted = 0;
    for (int i = 0; i < 60000; i++) {
        uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES + 16];
        size_t len;
        if (i % 2 == 0) {
            struct sampan_membership m;
            conf_random(&m, rnd, &s);
            assert_int_equal(
                sampan_membership_encode(&m, buf, sizeof(buf), &len), 0);
            int flips = 1 + (int)(rnd(&s) % 3);
            for (int k = 0; k < flips; k++) {
                size_t at = (size_t)(rnd(&s) % len);
                buf[at] = (uint8_t)(rnd(&s) % 4 == 0 ? buf[at] ^ 1 : rnd(&s));
            }
            if (rnd(&s) % 4 == 0) {
                len = (size_t)(rnd(&s) % (len + 9));
            }
        } else {
            len = (size_t)(rnd(&s) % sizeof(buf));
            for (size_t k = 0; k < len; k++) {
                buf[k] = (uint8_t)rnd(&s);
            }
            if (len >= 8 && rnd(&s) % 2) {
                /* Plausible headers reach deeper into the decoder. */
                buf[0] = 1;
                buf[1] = (uint8_t)(rnd(&s) % 5);
                buf[2] = (uint8_t)(rnd(&s) % 3);
                buf[3] = (uint8_t)(rnd(&s) % 3);
                buf[4] = (uint8_t)(rnd(&s) % 3);
                buf[5] = buf[6] = buf[7] = 0;
            }
        }
        /* Exactly `len` bytes on the heap, so a sanitizer build catches
         * any read past the end. */
        uint8_t *input = malloc(len > 0 ? len : 1);
        assert_non_null(input);
        memcpy(input, buf, len);
        struct sampan_membership m;
        int rv = sampan_membership_decode(input, len, &m, NULL);
        free(input);
        if (rv != 0) {
            assert_int_equal(rv, SAMPAN_EINVAL);
            struct sampan_membership zero;
            memset(&zero, 0, sizeof(zero));
            assert_memory_equal(&m, &zero, sizeof(m));
            continue;
        }
        accepted++;
        assert_int_equal(sampan_membership_validate(&m, NULL), 0);
        uint8_t again[SAMPAN_MEMBERSHIP_MAX_BYTES];
        size_t len2 = 0;
        assert_int_equal(
            sampan_membership_encode(&m, again, sizeof(again), &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(again, buf, len);
    }
    assert_true(accepted > 100); /* the damage was not all fatal */
}

/* ==== changes on the leader (membership.c) =================================
 */

/* One change at a time, none before the leader committed an entry of its
 * own term (Ongaro, raft-dev 2015: otherwise a deposed leader's change and
 * ours could both commit with disjoint majorities), none while joint or
 * during a transfer; only a leader changes the configuration. */
static void test_change_busy_rules(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, NULL),
                     SAMPAN_ENOTLEADER);
    fx_make_leader(r, 3);
    /* Elected, its no-op not committed yet. */
    uint64_t last = last_of(r);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, NULL),
                     SAMPAN_EBUSY);
    assert_int_equal(last_of(r), last);
    assert_int_equal(conf_index_of(r), 0);
    fx_ack(r, 2, 1);
    fx_discard(r);
    assert_int_equal(commit_of(r), 1);
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, &index), 0);
    assert_int_equal(index, 2);
    assert_int_equal(conf_index_of(r), 2);
    /* Pending: the next waits until it commits. */
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 5, &index),
                     SAMPAN_EBUSY);
    assert_int_equal(index, 0);
    assert_int_equal(last_of(r), 2);
    const uint64_t two[] = {2};
    ack_from(r, two, 1);
    assert_int_equal(commit_of(r), 2);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 5, &index), 0);
    assert_int_equal(index, 3);
    ack_from(r, two, 1);
    /* A transfer under way blocks changes too. */
    assert_int_equal(sampan_raft_transfer_leader(r, 2), 0);
    assert_int_equal(change1(r, SAMPAN_CONF_REMOVE, 5, NULL), SAMPAN_EBUSY);
    sampan_raft_free(r);

    /* While joint, until the leave-joint entry commits. */
    r = leader_in_joint(&index);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 6, NULL),
                     SAMPAN_EBUSY);
    const uint64_t old_and_new[] = {2, 4};
    fx_ack(r, 2, index);
    fx_ack(r, 4, index);
    assert_int_equal(commit_of(r), index); /* the joint entry commits, */
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 6, NULL),
                     SAMPAN_EBUSY); /* but it is still in effect */
    fx_discard(r);
    assert_int_equal(conf_of(r)->n_outgoing, 0); /* until the leader leaves */
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 6, NULL),
                     SAMPAN_EBUSY);
    ack_from(r, old_and_new, 2);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 6, NULL), 0);
    sampan_raft_free(r);
}

/* raft.h, sampan_raft_change_membership: what a change may not be, each
 * refused without touching the log or the configuration. */
static void test_change_refusals(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    uint64_t last = last_of(r);
    const struct sampan_membership before = *conf_of(r);
    struct sampan_conf_change bad[][2] = {
        {{.type = SAMPAN_CONF_REMOVE, .id = 9}},      /* not a member */
        {{.type = SAMPAN_CONF_ADD_VOTER, .id = 2}},   /* nothing changes */
        {{.type = 99, .id = 4}},                      /* unknown type */
        {{.type = SAMPAN_CONF_ADD_LEARNER, .id = 0}}, /* id zero */
        {{.type = SAMPAN_CONF_ADD_LEARNER, .id = 4, .addr = ""}},
        {{.type = SAMPAN_CONF_ADD_LEARNER,
          .id = 4,
          .addr = "0123456789012345678901234567890123456789012345678901234567"
                  "89abcdef"}}, /* 64 bytes: too long */
        /* Two voters demoted: a joint change cannot demote. */
        {{.type = SAMPAN_CONF_ADD_LEARNER, .id = 2},
         {.type = SAMPAN_CONF_ADD_LEARNER, .id = 3}},
        /* Added and removed again: nothing changes. */
        {{.type = SAMPAN_CONF_ADD_LEARNER, .id = 4},
         {.type = SAMPAN_CONF_REMOVE, .id = 4}},
    };
    const size_t counts[] = {1, 1, 1, 1, 1, 1, 2, 2};
    const int want[] = {SAMPAN_ENOTMEMBER, SAMPAN_EINVAL, SAMPAN_EINVAL,
                        SAMPAN_EINVAL,     SAMPAN_EINVAL, SAMPAN_EINVAL,
                        SAMPAN_EINVAL,     SAMPAN_EINVAL};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        uint64_t index = 77;
        assert_int_equal(
            sampan_raft_change_membership(r, bad[i], counts[i], &index),
            want[i]);
        assert_int_equal(index, 0);
        assert_int_equal(last_of(r), last);
        assert_same_conf(conf_of(r), &before);
    }
    const struct sampan_conf_change all3[] = {
        {.type = SAMPAN_CONF_REMOVE, .id = 1},
        {.type = SAMPAN_CONF_REMOVE, .id = 2},
        {.type = SAMPAN_CONF_REMOVE, .id = 3},
    };
    assert_int_equal(sampan_raft_change_membership(r, all3, 3, NULL),
                     SAMPAN_EINVAL);
    assert_int_equal(sampan_raft_change_membership(r, all3, 0, NULL),
                     SAMPAN_EINVAL);
    assert_int_equal(sampan_raft_change_membership(r, NULL, 1, NULL),
                     SAMPAN_EINVAL);
    assert_int_equal(last_of(r), last);
    /* A lone voter cannot remove itself: no voter would remain. */
    struct sampan_raft_config one;
    fx_config(&one, 1, 1, SEED);
    one.members.n_learners = 1;
    one.members.learners[0] = 2;
    struct sampan_raft *solo = fx_new_cfg(&one, NULL);
    assert_int_equal(sampan_raft_campaign(solo), 0);
    fx_discard(solo);
    assert_int_equal(commit_of(solo), 1);
    assert_int_equal(change1(solo, SAMPAN_CONF_REMOVE, 1, NULL), SAMPAN_EINVAL);
    assert_int_equal(change1(solo, SAMPAN_CONF_ADD_LEARNER, 1, NULL),
                     SAMPAN_EINVAL);
    assert_int_equal(last_of(solo), 1);
    sampan_raft_free(solo);
    /* An address is recorded with the member. */
    struct sampan_conf_change add = {
        .type = SAMPAN_CONF_ADD_LEARNER, .id = 4, .addr = "10.0.0.4:7000"};
    assert_int_equal(sampan_raft_change_membership(r, &add, 1, NULL), 0);
    assert_string_equal(sampan_membership_addr(conf_of(r), 4), "10.0.0.4:7000");
    assert_null(sampan_membership_addr(conf_of(r), 2));
    sampan_raft_free(r);
}

/* Thesis 4.1: "a server always uses the latest configuration in its log,
 * regardless of whether the entry is committed". A caught-up learner
 * promoted to voter counts at once: the promotion entry itself needs 3 of
 * the 4 voters, where 2 of the old 3 would have done. */
static void test_leader_uses_new_conf_on_append(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    const uint64_t all[] = {2, 3, 4};
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, NULL), 0);
    ack_from(r, all, 3);
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_VOTER, 4, &index), 0);
    const uint64_t v1234[] = {1, 2, 3, 4};
    struct sampan_membership want = conf_make(v1234, 4, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(r), &want);
    assert_int_equal(conf_index_of(r), index);
    const uint64_t two[] = {2};
    ack_from(r, two, 1);
    assert_int_equal(commit_of(r), index - 1);
    const uint64_t four[] = {4};
    ack_from(r, four, 1);
    assert_int_equal(commit_of(r), index);
    sampan_raft_free(r);
}

/* Thesis 4.2.1: a new server joins as a non-voting learner, so adding it
 * never stalls commits while it catches up; ADD_VOTER of a non-member adds
 * it marked for promotion, and the leader promotes it by itself once it is
 * within promote_lag_entries of the log, not before. */
static void test_add_voter_promotes_once_caught_up(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    cfg.promote_lag_entries = 3;
    struct sampan_raft *r = leader_cfg(&cfg);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sampan_raft_propose(r, "x", 1, NULL), 0);
    }
    const uint64_t both[] = {2, 3};
    ack_from(r, both, 2);
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_VOTER, 4, &index), 0);
    assert_int_equal(index, 12);
    struct sampan_membership want = conf_make(V123, 3, NULL, 0, L4, 1, 1);
    assert_same_conf(conf_of(r), &want);
    /* It does not count: the other two commit without it. */
    const uint64_t two[] = {2};
    ack_from(r, two, 1);
    assert_int_equal(commit_of(r), 12);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sampan_raft_propose(r, "y", 1, NULL), 0);
    }
    ack_from(r, two, 1);
    assert_int_equal(commit_of(r), 15);
    /* Lagging by 4 > 3 entries: not promoted, however long it takes. */
    fx_ack(r, 4, 11);
    for (int t = 0; t < 3 * ELECTION; t++) {
        sampan_raft_tick(r);
        hb_resp(r, 2, 0);
        fx_discard(r);
    }
    assert_same_conf(conf_of(r), &want);
    assert_int_equal(last_of(r), 15);
    /* Within 3 entries (and holding its configuration): promoted. */
    fx_ack(r, 4, 12);
    fx_discard(r);
    const uint64_t v1234[] = {1, 2, 3, 4};
    struct sampan_membership promoted =
        conf_make(v1234, 4, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(r), &promoted);
    assert_int_equal(conf_index_of(r), 16);
    const struct sampan_entry *e = sampan_raft_entry_at(r, 16);
    assert_non_null(e);
    assert_int_equal(e->type, SAMPAN_ENTRY_CONF);
    sampan_raft_free(r);
}

/* Explicit promotion: a learner added with ADD_LEARNER is never promoted
 * by itself; ADD_VOTER of a caught-up learner makes it a voter in one
 * step; ADD_VOTER of a learner still behind only marks it. */
static void test_explicit_promotion(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    const uint64_t all[] = {2, 3, 4, 5};
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, NULL), 0);
    ack_from(r, all, 3);
    for (int t = 0; t < 5; t++) {
        sampan_raft_tick(r);
        fx_discard(r);
    }
    struct sampan_membership learner = conf_make(V123, 3, NULL, 0, L4, 1, 0);
    assert_same_conf(conf_of(r), &learner);
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_VOTER, 4, &index), 0);
    const uint64_t v1234[] = {1, 2, 3, 4};
    struct sampan_membership voter = conf_make(v1234, 4, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(r), &voter);
    ack_from(r, all, 3);
    assert_int_equal(commit_of(r), index);
    /* 5 never answered: ADD_VOTER only marks it (it joins as a learner). */
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 5, NULL), 0);
    ack_from(r, all, 3);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_VOTER, 5, NULL), 0);
    const uint64_t l5[] = {5};
    struct sampan_membership marked = conf_make(v1234, 4, NULL, 0, l5, 1, 1);
    assert_same_conf(conf_of(r), &marked);
    sampan_raft_free(r);
}

/* A learner that never answered holds nothing: however short the log, it
 * is not "caught up" and is not promoted (a dead new node made a voter
 * would cost the cluster its fault tolerance). */
static void test_silent_learner_not_promoted_on_short_log(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3(); /* promote_lag_entries 100 */
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_VOTER, 4, NULL), 0);
    const uint64_t both[] = {2, 3};
    ack_from(r, both, 2);
    for (int t = 0; t < 3; t++) {
        sampan_raft_tick(r);
        hb_resp(r, 2, 0);
        fx_discard(r);
    }
    struct sampan_membership want = conf_make(V123, 3, NULL, 0, L4, 1, 1);
    assert_same_conf(conf_of(r), &want);
    assert_int_equal(last_of(r), 2);
    sampan_raft_free(r);
}

/* Demotion: ADD_LEARNER of a voter leaves it a learner; commits need a
 * majority of the remaining voters only. */
static void test_demote_voter(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 3, &index), 0);
    const uint64_t l3[] = {3};
    struct sampan_membership want = conf_make(V12, 2, NULL, 0, l3, 1, 0);
    assert_same_conf(conf_of(r), &want);
    const uint64_t three[] = {3};
    ack_from(r, three, 1);
    assert_int_equal(commit_of(r), 1); /* a learner's ack does not count */
    const uint64_t two[] = {2};
    ack_from(r, two, 1);
    assert_int_equal(commit_of(r), index);
    /* The demoted node, once it holds the entry, no longer campaigns. */
    struct sampan_raft *f = fx_new(3, 3, SEED);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry ents[] = {plain_entry(1, 1),
                                  conf_entry(2, 1, &want, buf)};
    fx_step_entries(f, 1, 1, 0, 0, 2, ents, 2);
    fx_discard(f);
    assert_same_conf(conf_of(f), &want);
    for (int t = 0; t < 10 * ELECTION; t++) {
        sampan_raft_tick(f);
        assert_int_equal(drain_votes(f), 0);
    }
    assert_int_equal(sampan_raft_campaign(f), SAMPAN_ESTATE);
    sampan_raft_free(f);
    sampan_raft_free(r);
}

/* Removing a follower: commits need the remaining voters only; the leader
 * keeps the departing member's slot for two election timeouts after the
 * removal commits, so a member that missed the entry still learns that it
 * was removed (and stops campaigning); then it forgets it. */
static void test_remove_follower_departs(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    cfg.disable_check_quorum = true; /* ticks without answers */
    struct sampan_raft *r = leader_cfg(&cfg);
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_REMOVE, 3, &index), 0);
    assert_same_conf(conf_of(r), &(struct sampan_membership){.n_voters = 2,
                                                             .voters = {1, 2}});
    const uint64_t two[] = {2};
    ack_from(r, two, 1);
    assert_int_equal(commit_of(r), index);
    /* 3 answers a heartbeat from behind: it is sent the entries it
     * lacks, the removal among them. */
    sampan_raft_tick(r);
    assert_int_equal(drain_count(r, SAMPAN_MSG_HEARTBEAT, 3), 1);
    struct sampan_msg resp = fx_msg(SAMPAN_MSG_APPEND_RESP, 3, 1, 1);
    resp.reject = true;
    resp.index = index;
    resp.hint_index = 1;
    resp.hint_term = 1;
    fx_step(r, &resp);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    const struct sampan_msg *app = fx_find(&rd, SAMPAN_MSG_APPEND, 3);
    assert_non_null(app);
    assert_int_equal(app->n_entries, 1);
    assert_int_equal(app->entries[0].index, index);
    assert_int_equal(app->entries[0].type, SAMPAN_ENTRY_CONF);
    struct sampan_raft *f = fx_new(3, 3, SEED);
    struct sampan_entry noop = plain_entry(1, 1);
    fx_step_entries(f, 1, 1, 0, 0, 1, &noop, 1);
    fx_step(f, app);
    fx_rd_free(&rd);
    fx_discard(f);
    assert_false(sampan_membership_is_voter(conf_of(f), 3));
    for (int t = 0; t < 10 * ELECTION; t++) {
        sampan_raft_tick(f);
        assert_int_equal(drain_votes(f), 0);
    }
    sampan_raft_free(f);
    /* Two election timeouts on, the leader forgets it. */
    for (int t = 0; t < 2 * ELECTION; t++) {
        sampan_raft_tick(r);
        fx_discard(r);
    }
    sampan_raft_tick(r);
    assert_int_equal(drain_count(r, SAMPAN_MSG_HEARTBEAT, 3), 0);
    struct sampan_msg late = fx_msg(SAMPAN_MSG_HEARTBEAT_RESP, 3, 1, 1);
    assert_int_equal(sampan_raft_step(r, &late), SAMPAN_ENOTMEMBER);
    sampan_raft_free(r);
}

/* A member removed and added again while the leader still keeps its
 * departing slot starts over (Figure 2: matchIndex is initialized for a
 * new member): it may be a new process on an empty disk, and its old
 * match index must not count toward a majority. */
static void test_readded_member_starts_fresh(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    assert_int_equal(change1(r, SAMPAN_CONF_REMOVE, 3, NULL), 0);
    const uint64_t both[] = {2, 3};
    ack_from(r, both, 2);
    uint64_t match = 0;
    assert_int_equal(sampan_raft_member_match(r, 3, &match), SAMPAN_ENOTMEMBER);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 3, NULL), 0);
    assert_int_equal(sampan_raft_member_match(r, 3, &match), 0);
    assert_int_equal(match, 0);
    fx_discard(r);
    assert_int_equal(sampan_raft_member_match(r, 2, &match), 0);
    assert_int_equal(match, 2);
    sampan_raft_free(r);
}

/* Thesis 4.2.2: a leader that removes itself manages the cluster until the
 * removal commits, without counting itself toward majorities; then it
 * steps down, asks an up-to-date voter to campaign at once (TIMEOUT_NOW),
 * and never campaigns again. */
static void test_remove_leader(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_REMOVE, 1, &index), 0);
    assert_int_equal(index, 2);
    assert_false(sampan_membership_is_voter(conf_of(r), 1));
    const uint64_t two[] = {2};
    ack_from(r, two, 1);
    /* 1 and 2 hold it, but 1 no longer counts: {2, 3} must both. */
    assert_int_equal(commit_of(r), 1);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    /* Still leading: it takes proposals and sends heartbeats. */
    assert_int_equal(sampan_raft_propose(r, "p", 1, &index), 0);
    assert_int_equal(index, 3);
    sampan_raft_tick(r);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_HEARTBEAT, 2), 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_HEARTBEAT, 3), 1);
    fx_rd_free(&rd);
    fx_ack(r, 2, 3);
    assert_int_equal(commit_of(r), 1);
    fx_ack(r, 3, 3);
    assert_int_equal(commit_of(r), 3);
    fx_drain_all(r, &rd);
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    assert_int_equal(fx_status(r).leader, SAMPAN_NONE);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 1);
    const struct sampan_msg *tn = fx_find(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0);
    assert_true(tn->to == 2 || tn->to == 3);
    assert_int_equal(tn->term, 1);
    fx_rd_free(&rd);
    for (int t = 0; t < 10 * ELECTION; t++) {
        sampan_raft_tick(r);
        assert_int_equal(drain_votes(r), 0);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    assert_int_equal(fx_status(r).term, 1);
    assert_int_equal(sampan_raft_campaign(r), SAMPAN_ESTATE);
    sampan_raft_free(r);
}

/* Thesis 4.2.2 (Figure 4.6): a server removed by a change that is not
 * committed yet may hold the only copies of the entries that would commit
 * it, so it still campaigns (in its latest configuration, without counting
 * its own vote), can win, commits the change, and steps down; once its
 * removal is committed it never campaigns again. A learner removed the
 * same way never campaigns: it was never a voter. */
static void test_removed_member_campaigns_until_removal_commits(void **state)
{
    (void)state;
    struct sampan_raft *r = fx_new(3, 3, SEED);
    struct sampan_membership c12 = conf_make(V12, 2, NULL, 0, NULL, 0, 0);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry ents[] = {plain_entry(1, 1),
                                  conf_entry(2, 1, &c12, buf)};
    fx_step_entries(r, 1, 1, 0, 0, 1, ents, 2);
    fx_discard(r);
    assert_false(sampan_membership_is_voter(conf_of(r), 3));
    assert_int_equal(commit_of(r), 1);
    assert_int_equal(sampan_raft_campaign(r), 0);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_PREVOTE, 1), 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_PREVOTE, 2), 1);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_PREVOTE, 0), 2);
    fx_rd_free(&rd);
    for (uint64_t id = 1; id <= 2; id++) {
        struct sampan_msg g = fx_msg(SAMPAN_MSG_PREVOTE_RESP, id, 3, 2);
        fx_step(r, &g);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
    fx_discard(r);
    struct sampan_msg v1 = fx_msg(SAMPAN_MSG_VOTE_RESP, 1, 3, 2);
    fx_step(r, &v1);
    /* Its own vote does not count: {1, 2} must both grant. */
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
    struct sampan_msg v2 = fx_msg(SAMPAN_MSG_VOTE_RESP, 2, 3, 2);
    fx_step(r, &v2);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    fx_discard(r); /* its no-op, index 3 */
    fx_ack(r, 1, 3);
    assert_int_equal(commit_of(r), 1);
    fx_ack(r, 2, 3);
    assert_int_equal(commit_of(r), 3);
    fx_drain_all(r, &rd);
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_TIMEOUT_NOW, 0), 1);
    fx_rd_free(&rd);
    for (int t = 0; t < 10 * ELECTION; t++) {
        sampan_raft_tick(r);
        assert_int_equal(drain_votes(r), 0);
    }
    assert_int_equal(sampan_raft_campaign(r), SAMPAN_ESTATE);
    sampan_raft_free(r);

    /* A learner whose removal is not committed stays silent. */
    struct sampan_raft_config cfg;
    fx_config(&cfg, 4, 3, SEED);
    cfg.members.n_learners = 1;
    cfg.members.learners[0] = 4;
    struct sampan_raft *l = fx_new_cfg(&cfg, NULL);
    struct sampan_membership c123 = conf_make(V123, 3, NULL, 0, NULL, 0, 0);
    struct sampan_entry rm[] = {plain_entry(1, 1),
                                conf_entry(2, 1, &c123, buf)};
    fx_step_entries(l, 1, 1, 0, 0, 1, rm, 2);
    fx_discard(l);
    assert_int_equal(sampan_raft_campaign(l), SAMPAN_ESTATE);
    for (int t = 0; t < 10 * ELECTION; t++) {
        sampan_raft_tick(l);
        assert_int_equal(drain_votes(l), 0);
    }
    sampan_raft_free(l);
}

/* End to end: the removed leader hands over through TIMEOUT_NOW, so a new
 * leader of the remaining voters is elected without waiting an election
 * timeout, and goes on committing without the old one. */
static void test_remove_leader_hands_over(void **state)
{
    (void)state;
    struct fx_net net;
    net_init(&net, 3, 3, NULL);
    net_lead(&net, 1);
    assert_int_equal(change1(net.nodes[1], SAMPAN_CONF_REMOVE, 1, NULL), 0);
    fx_net_settle(&net);
    uint64_t leader = fx_net_leader(&net);
    assert_true(leader == 2 || leader == 3);
    assert_int_equal(fx_status(net.nodes[1]).role, SAMPAN_FOLLOWER);
    struct sampan_membership want =
        conf_make((const uint64_t[]){2, 3}, 2, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(net.nodes[leader]), &want);
    uint64_t before = commit_of(net.nodes[leader]);
    net_propose(&net, leader, 2);
    assert_int_equal(commit_of(net.nodes[2]), before + 2);
    assert_int_equal(commit_of(net.nodes[3]), before + 2);
    net_run(&net, 10 * ELECTION);
    assert_int_equal(fx_net_leader(&net), leader);
    assert_int_equal(fx_status(net.nodes[1]).role, SAMPAN_FOLLOWER);
    assert_int_equal(net.step_errors, 0);
    fx_net_free(&net);
}

/* ==== joint consensus (thesis 4.3) =========================================
 */

/* A replacement in one change whose newcomer has not caught up would
 * leave it a learner and the cluster with fewer voters than asked until it
 * is promoted (replacing two of three: one voter): refused with EBUSY,
 * nothing appended. With the newcomer caught up as a learner first, the
 * same change is accepted (leader_in_joint). */
static void test_replacement_waits_for_caught_up_newcomers(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    uint64_t last = last_of(r);
    const struct sampan_conf_change swap[] = {
        {.type = SAMPAN_CONF_ADD_VOTER, .id = 4},
        {.type = SAMPAN_CONF_REMOVE, .id = 3},
    };
    assert_int_equal(sampan_raft_change_membership(r, swap, 2, NULL),
                     SAMPAN_EBUSY);
    assert_int_equal(last_of(r), last);
    struct sampan_membership want = conf_make(V123, 3, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(r), &want);
    /* Adding alone is fine: 4 becomes a learner marked for promotion. */
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_VOTER, 4, NULL), 0);
    sampan_raft_free(r);
}

/* Replacing two voters at once goes through a joint configuration: its
 * entries commit only with a majority of the old voters AND of the new;
 * once the joint entry commits, the leader appends the configuration that
 * leaves it by itself, which needs the new voters only. */
static void test_joint_change_commit_and_leave(void **state)
{
    (void)state;
    uint64_t index = 0;
    struct sampan_raft *r = leader_in_joint(&index);
    assert_int_equal(index, 4);
    assert_int_equal(commit_of(r), 3);
    const uint64_t new_side[] = {4, 5};
    ack_from(r, new_side, 2);
    assert_int_equal(commit_of(r), 3); /* no majority of {1,2,3} yet */
    assert_int_equal(last_of(r), 4);   /* and nothing to leave yet */
    const uint64_t old_side[] = {2};
    fx_ack(r, old_side[0], 4);
    assert_int_equal(commit_of(r), 4);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    /* The leave-joint entry, appended by the leader alone. */
    assert_int_equal(last_of(r), 5);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.entries[0].type, SAMPAN_ENTRY_CONF);
    struct sampan_membership left;
    assert_int_equal(sampan_membership_decode(rd.entries[0].data,
                                              rd.entries[0].len, &left, NULL),
                     0);
    fx_rd_free(&rd);
    struct sampan_membership want = conf_make(V145, 3, NULL, 0, NULL, 0, 0);
    assert_same_conf(&left, &want);
    assert_same_conf(conf_of(r), &want);
    assert_int_equal(conf_index_of(r), 5);
    /* The old voters no longer count; the new ones do. */
    const uint64_t old_both[] = {2, 3};
    ack_from(r, old_both, 2);
    assert_int_equal(commit_of(r), 4);
    const uint64_t four[] = {4};
    ack_from(r, four, 1);
    assert_int_equal(commit_of(r), 5);
    /* Done: nothing more is appended. */
    fx_discard(r);
    assert_int_equal(last_of(r), 5);
    sampan_raft_free(r);
}

/* A new leader elected during a joint configuration leaves it too, once it
 * committed an entry of its term. */
static void test_new_leader_leaves_joint(void **state)
{
    (void)state;
    struct sampan_membership joint = joint_145_123();
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry ents[] = {plain_entry(1, 1),
                                  conf_entry(2, 1, &joint, buf)};
    struct sampan_boot boot = {
        .hard_state = {.term = 1}, .n_entries = 2, .entries = ents};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    struct sampan_raft *r = fx_new_cfg(&cfg, &boot);
    assert_same_conf(conf_of(r), &joint);
    fx_make_leader(r, 5);
    assert_int_equal(last_of(r), 3); /* its no-op */
    const uint64_t two_four[] = {2, 4};
    ack_from(r, two_four, 2);
    assert_int_equal(commit_of(r), 3);
    assert_int_equal(last_of(r), 4);
    struct sampan_membership want = conf_make(V145, 3, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(r), &want);
    sampan_raft_free(r);
}

/* Thesis 4.3: during the joint configuration an election needs a majority
 * of each voter set; a majority of one of them is not enough. */
static void test_election_in_joint_needs_both_majorities(void **state)
{
    (void)state;
    struct sampan_membership joint = joint_145_123();
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry e = conf_entry(1, 1, &joint, buf);
    struct sampan_boot boot = {
        .hard_state = {.term = 1}, .n_entries = 1, .entries = &e};
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    cfg.disable_pre_vote = true;
    const uint64_t grants[][2] = {{4, 5}, {2, 3}};
    for (int k = 0; k < 2; k++) {
        struct sampan_raft *r = fx_new_cfg(&cfg, &boot);
        assert_int_equal(sampan_raft_campaign(r), 0);
        struct fx_rd rd;
        fx_drain_all(r, &rd);
        for (uint64_t id = 2; id <= 5; id++) {
            assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, id), 1);
        }
        fx_rd_free(&rd);
        uint64_t term = fx_status(r).term;
        for (int g = 0; g < 2; g++) {
            struct sampan_msg v =
                fx_msg(SAMPAN_MSG_VOTE_RESP, grants[k][g], 1, term);
            fx_step(r, &v);
        }
        /* One side's majority (with our own vote): still campaigning. */
        assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
        uint64_t other = k == 0 ? 2 : 4;
        struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE_RESP, other, 1, term);
        fx_step(r, &v);
        assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
        sampan_raft_free(r);
    }
    /* Rejected by a majority of one side: lost, whatever the other says. */
    struct sampan_raft *r = fx_new_cfg(&cfg, &boot);
    assert_int_equal(sampan_raft_campaign(r), 0);
    fx_discard(r);
    uint64_t term = fx_status(r).term;
    const uint64_t yes[] = {2, 3};
    for (int g = 0; g < 2; g++) {
        struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE_RESP, yes[g], 1, term);
        fx_step(r, &v);
    }
    const uint64_t no[] = {4, 5};
    for (int g = 0; g < 2; g++) {
        struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE_RESP, no[g], 1, term);
        v.reject = true;
        fx_step(r, &v);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    sampan_raft_free(r);
}

/* Learners never vote: a candidate asks the voters only, and a learner's
 * grant (were one to arrive) does not count. */
static void test_learners_do_not_vote(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    cfg.disable_pre_vote = true;
    cfg.members.n_learners = 2;
    cfg.members.learners[0] = 4;
    cfg.members.learners[1] = 5;
    struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
    assert_int_equal(sampan_raft_campaign(r), 0);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 0), 2);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 4), 0);
    assert_int_equal(fx_count(&rd, SAMPAN_MSG_VOTE, 5), 0);
    fx_rd_free(&rd);
    for (uint64_t id = 4; id <= 5; id++) {
        struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE_RESP, id, 1, 1);
        fx_step(r, &v);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_CANDIDATE);
    struct sampan_msg v = fx_msg(SAMPAN_MSG_VOTE_RESP, 2, 1, 1);
    fx_step(r, &v);
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    sampan_raft_free(r);
}

/* Thesis 4.2.1 / 6.2: CheckQuorum counts voters only: a leader that hears
 * only from learners steps down, however many there are; when joint, it
 * needs a majority of each voter set. */
static void test_check_quorum_counts_voters_only(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_with_learners_45();
    for (int t = 0; t < ELECTION + 1; t++) {
        sampan_raft_tick(r);
        hb_resp(r, 4, 0);
        hb_resp(r, 5, 0);
        fx_discard(r);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_FOLLOWER);
    sampan_raft_free(r);

    r = leader_with_learners_45();
    for (int t = 0; t < 3 * ELECTION; t++) {
        sampan_raft_tick(r);
        hb_resp(r, 2, 0);
        fx_discard(r);
    }
    assert_int_equal(fx_status(r).role, SAMPAN_LEADER);
    sampan_raft_free(r);

    /* Joint {1,4,5} and {1,2,3}: each side needs one more answer. */
    const uint64_t answer[][2] = {{4, 5}, {2, 3}, {2, 4}, {3, 5}};
    const bool stays[] = {false, false, true, true};
    for (int k = 0; k < 4; k++) {
        r = leader_in_joint(NULL);
        for (int t = 0; t < 3 * ELECTION; t++) {
            sampan_raft_tick(r);
            hb_resp(r, answer[k][0], 0);
            hb_resp(r, answer[k][1], 0);
            fx_discard(r);
        }
        /* Stepped down (and perhaps campaigning since), or still leading. */
        assert_int_equal(fx_status(r).role == SAMPAN_LEADER, stays[k]);
        sampan_raft_free(r);
    }
}

/* Thesis 6.4 with 4.3: a ReadIndex round is confirmed only by a majority
 * of each voter set during a joint configuration. */
static void test_read_index_joint_quorum(void **state)
{
    (void)state;
    struct sampan_raft *r = leader_in_joint(NULL);
    assert_int_equal(sampan_raft_read_index(r, 42), 0);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    const struct sampan_msg *hb = fx_find(&rd, SAMPAN_MSG_HEARTBEAT, 4);
    assert_non_null(hb);
    uint64_t round = hb->context;
    for (uint64_t id = 2; id <= 5; id++) {
        assert_int_equal(fx_count(&rd, SAMPAN_MSG_HEARTBEAT, id), 1);
    }
    fx_rd_free(&rd);
    hb_resp(r, 4, round);
    hb_resp(r, 5, round);
    assert_int_equal(drain_read_states(r, NULL), 0);
    hb_resp(r, 3, round);
    uint64_t index = 0;
    assert_int_equal(drain_read_states(r, &index), 1);
    assert_int_equal(index, 3);
    sampan_raft_free(r);
}

/* ==== followers: in effect on append, undone on truncation =================
 */

/* Thesis 4.1: a follower uses a configuration as soon as it is in its log,
 * committed or not; when a new leader's entries replace it, the follower
 * falls back to the previous configuration in its log (or the initial
 * one). */
static void test_follower_conf_reverts_on_truncation(void **state)
{
    (void)state;
    struct sampan_raft *f = fx_new(2, 3, SEED);
    struct sampan_membership a = conf_make(V123, 3, NULL, 0, L4, 1, 0);
    struct sampan_membership b = conf_make(V12, 2, NULL, 0, L4, 1, 0);
    uint8_t ba[SAMPAN_MEMBERSHIP_MAX_BYTES];
    uint8_t bb[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry ents[] = {plain_entry(1, 1), conf_entry(2, 1, &a, ba),
                                  conf_entry(3, 1, &b, bb)};
    fx_step_entries(f, 1, 1, 0, 0, 1, ents, 3);
    fx_discard(f);
    assert_int_equal(commit_of(f), 1);
    assert_same_conf(conf_of(f), &b);
    assert_int_equal(conf_index_of(f), 3);
    assert_int_equal(fx_status(f).conf_index, 3);
    /* Leader 3 of term 2 replaces entry 3. */
    struct sampan_entry e3 = plain_entry(3, 2);
    fx_step_entries(f, 3, 2, 2, 1, 1, &e3, 1);
    fx_discard(f);
    assert_same_conf(conf_of(f), &a);
    assert_int_equal(conf_index_of(f), 2);
    /* Leader 1 of term 3 replaces entries 2 and 3: back to the initial. */
    struct sampan_entry e2[] = {plain_entry(2, 3), plain_entry(3, 3),
                                conf_entry(4, 3, &b, bb)};
    fx_step_entries(f, 1, 3, 1, 1, 1, e2, 2);
    fx_discard(f);
    struct sampan_membership initial = conf_make(V123, 3, NULL, 0, NULL, 0, 0);
    assert_same_conf(conf_of(f), &initial);
    assert_int_equal(conf_index_of(f), 0);
    /* And a later configuration in the same append takes over. */
    fx_step_entries(f, 1, 3, 1, 1, 1, e2, 3);
    assert_same_conf(conf_of(f), &b);
    assert_int_equal(conf_index_of(f), 4);
    sampan_raft_free(f);
}

/* Thesis 4.1: servers process requests from leaders not in their
 * configuration. A node started with an empty configuration (joining)
 * hears the leader's heartbeats and appends, answers them, learns its
 * configuration from the log, and never campaigns as a learner. */
static void test_joining_node_learns_conf(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 4, 0, SEED);
    struct sampan_raft *j = fx_new_cfg(&cfg, NULL);
    assert_int_equal(conf_of(j)->n_voters, 0);
    for (int t = 0; t < 5 * ELECTION; t++) {
        sampan_raft_tick(j);
        assert_int_equal(drain_votes(j), 0);
    }
    assert_int_equal(sampan_raft_campaign(j), SAMPAN_ESTATE);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 4, 2);
    fx_step(j, &hb);
    assert_int_equal(fx_status(j).leader, 1);
    assert_int_equal(drain_count(j, SAMPAN_MSG_HEARTBEAT_RESP, 1), 1);
    /* A probe past its (empty) log is rejected, not refused. */
    fx_step_entries(j, 1, 2, 5, 1, 5, NULL, 0);
    struct fx_rd rd;
    fx_drain_all(j, &rd);
    const struct sampan_msg *rej = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(rej);
    assert_true(rej->reject);
    assert_int_equal(rej->hint_index, 0);
    fx_rd_free(&rd);
    struct sampan_membership c = conf_make(V123, 3, NULL, 0, L4, 1, 1);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry ents[] = {plain_entry(1, 1), conf_entry(2, 2, &c, buf)};
    fx_step_entries(j, 1, 2, 0, 0, 2, ents, 2);
    assert_same_conf(conf_of(j), &c);
    fx_drain_all(j, &rd);
    const struct sampan_msg *ack = fx_find(&rd, SAMPAN_MSG_APPEND_RESP, 1);
    assert_non_null(ack);
    assert_false(ack->reject);
    assert_int_equal(ack->index, 2);
    assert_int_equal(rd.n_committed, 2);
    fx_rd_free(&rd);
    for (int t = 0; t < 10 * ELECTION; t++) {
        sampan_raft_tick(j);
        assert_int_equal(drain_votes(j), 0);
    }
    /* A TIMEOUT_NOW does not make a learner campaign either. */
    struct sampan_msg tn = fx_msg(SAMPAN_MSG_TIMEOUT_NOW, 1, 4, 2);
    fx_step(j, &tn);
    assert_int_equal(drain_votes(j), 0);
    assert_int_equal(fx_status(j).role, SAMPAN_FOLLOWER);
    sampan_raft_free(j);
}

/* Learners never campaign (thesis 4.2.1): not on timeouts, not when asked
 * to, not when told TIMEOUT_NOW. */
static void test_learner_never_campaigns(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 4, 3, SEED);
    cfg.members.n_learners = 1;
    cfg.members.learners[0] = 4;
    struct sampan_raft *l = fx_new_cfg(&cfg, NULL);
    for (int t = 0; t < 20 * ELECTION; t++) {
        sampan_raft_tick(l);
        assert_int_equal(drain_votes(l), 0);
    }
    assert_int_equal(sampan_raft_campaign(l), SAMPAN_ESTATE);
    struct sampan_msg hb = fx_msg(SAMPAN_MSG_HEARTBEAT, 1, 4, 1);
    fx_step(l, &hb);
    fx_discard(l);
    struct sampan_msg tn = fx_msg(SAMPAN_MSG_TIMEOUT_NOW, 1, 4, 1);
    fx_step(l, &tn);
    assert_int_equal(drain_votes(l), 0);
    struct sampan_status st = fx_status(l);
    assert_int_equal(st.role, SAMPAN_FOLLOWER);
    assert_int_equal(st.term, 1);
    sampan_raft_free(l);
}

/* ==== configurations and snapshots =========================================
 */

/* sampan_raft_conf_at answers with the configuration in effect at any
 * index of the log; compaction records the one at the snapshot index (not
 * the latest), which is what a snapshot sent to a follower carries, and
 * what a restart from that snapshot starts from. */
static void test_conf_at_and_compaction(void **state)
{
    (void)state;
    struct sampan_raft *r = leader3();
    const uint64_t all[] = {2, 3, 4, 5};
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, NULL), 0);
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    /* The probe the new learner is sent first (prev = 2). */
    const struct sampan_msg *probe = fx_find(&rd, SAMPAN_MSG_APPEND, 4);
    assert_non_null(probe);
    uint64_t probe_prev = probe->index;
    fx_rd_free(&rd);
    ack_from(r, all, 2);
    assert_int_equal(sampan_raft_propose(r, "a", 1, NULL), 0); /* 3 */
    ack_from(r, all, 2);
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 5, NULL), 0); /* 4 */
    ack_from(r, all, 2);
    assert_int_equal(sampan_raft_propose(r, "b", 1, NULL), 0); /* 5 */
    ack_from(r, all, 2);
    assert_int_equal(commit_of(r), 5);
    assert_int_equal(fx_status(r).applied, 5);

    struct sampan_membership initial = conf_make(V123, 3, NULL, 0, NULL, 0, 0);
    struct sampan_membership a = conf_make(V123, 3, NULL, 0, L4, 1, 0);
    struct sampan_membership b = conf_make(V123, 3, NULL, 0, L45, 2, 0);
    const struct sampan_membership *at[] = {&initial, &initial, &a, &a, &b, &b};
    struct sampan_membership got;
    for (uint64_t i = 0; i <= 5; i++) {
        assert_int_equal(sampan_raft_conf_at(r, i, &got), 0);
        assert_same_conf(&got, at[i]);
    }
    assert_int_equal(sampan_raft_conf_at(r, 6, &got), SAMPAN_EUNAVAIL);

    assert_int_equal(sampan_raft_compact(r, 3), 0);
    assert_int_equal(sampan_raft_conf_at(r, 2, &got), SAMPAN_ECOMPACTED);
    for (uint64_t i = 3; i <= 5; i++) {
        assert_int_equal(sampan_raft_conf_at(r, i, &got), 0);
        assert_same_conf(&got, at[i]);
    }
    /* Learner 4 turns out to have nothing: it gets the snapshot, which
     * carries the configuration at index 3. */
    struct sampan_msg rej = fx_msg(SAMPAN_MSG_APPEND_RESP, 4, 1, 1);
    rej.reject = true;
    rej.index = probe_prev;
    fx_step(r, &rej);
    fx_discard(r);
    assert_int_equal(sampan_raft_snapshot_chunk(r, 4, 3, 0, "s", 1, true), 0);
    fx_drain_all(r, &rd);
    const struct sampan_msg *snap = fx_find(&rd, SAMPAN_MSG_SNAPSHOT, 4);
    assert_non_null(snap);
    assert_int_equal(snap->snapshot.index, 3);
    assert_same_conf(&snap->snapshot.conf, &a);
    fx_rd_free(&rd);
    /* Compacting past every configuration entry loses nothing. */
    assert_int_equal(sampan_raft_compact(r, 5), 0);
    assert_int_equal(sampan_raft_conf_at(r, 5, &got), 0);
    assert_same_conf(&got, &b);
    assert_same_conf(conf_of(r), &b);
    sampan_raft_free(r);

    /* A restart from the snapshot at 3: its configuration, unless a later
     * one is in the log. */
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry tail[] = {conf_entry(4, 1, &b, buf), plain_entry(5, 1)};
    struct sampan_boot boot = {.hard_state = {.term = 1},
                               .snapshot_index = 3,
                               .snapshot_term = 1,
                               .snapshot_conf = a,
                               .n_entries = 2,
                               .entries = tail};
    r = fx_new_cfg(&cfg, &boot);
    assert_same_conf(conf_of(r), &b);
    assert_int_equal(conf_index_of(r), 4);
    assert_int_equal(sampan_raft_conf_at(r, 3, &got), 0);
    assert_same_conf(&got, &a);
    sampan_raft_free(r);
    boot.entries = &tail[1];
    boot.n_entries = 1;
    tail[1].index = 4;
    r = fx_new_cfg(&cfg, &boot);
    assert_same_conf(conf_of(r), &a);
    sampan_raft_free(r);
}

/* Section 7 with chapter 4: installing a snapshot replaces the log, and
 * with it the configuration: the snapshot's is in effect from then on,
 * for a member and for a node that joined with none. */
static void test_snapshot_install_switches_conf(void **state)
{
    (void)state;
    struct sampan_membership c = conf_make((const uint64_t[]){1, 2, 4}, 3, NULL,
                                           0, (const uint64_t[]){5}, 1, 1);
    for (uint64_t id = 2; id <= 4; id += 2) {
        struct sampan_raft_config cfg;
        fx_config(&cfg, id, id == 4 ? 0 : 3, SEED);
        struct sampan_raft *r = fx_new_cfg(&cfg, NULL);
        struct sampan_msg m = fx_msg(SAMPAN_MSG_SNAPSHOT, 1, id, 2);
        m.snapshot.index = 10;
        m.snapshot.term = 2;
        m.snapshot.conf = c;
        m.data = (uint8_t *)"snap";
        m.len = 4;
        m.done = true;
        fx_step(r, &m);
        assert_same_conf(conf_of(r), &c);
        assert_int_equal(fx_status(r).commit, 10);
        fx_discard(r);
        struct sampan_membership got;
        assert_int_equal(sampan_raft_conf_at(r, 10, &got), 0);
        assert_same_conf(&got, &c);
        /* A voter now, even the node that joined: it may campaign. */
        for (int t = 0; t < 3 * ELECTION; t++) {
            sampan_raft_tick(r);
        }
        assert_true(fx_status(r).term > 2 ||
                    fx_status(r).role == SAMPAN_PRECANDIDATE);
        sampan_raft_free(r);
    }
}

/* A node that joined with an empty configuration does not know the one
 * in effect before the first configuration entry of its log (the
 * cluster's initial configuration is in no entry): it cannot snapshot or
 * compact there (the snapshot would record an empty configuration, and
 * the node could never restart from it), only from that entry on. */
static void test_joining_node_conf_unknown_before_first_entry(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 4, 0, SEED);
    struct sampan_raft *j = fx_new_cfg(&cfg, NULL);
    struct sampan_membership c = conf_make(V123, 3, NULL, 0, L4, 1, 1);
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    struct sampan_entry ents[] = {plain_entry(1, 1), plain_entry(2, 1),
                                  conf_entry(3, 1, &c, buf), plain_entry(4, 1)};
    fx_step_entries(j, 1, 1, 0, 0, 4, ents, 4);
    fx_discard(j);
    assert_int_equal(fx_status(j).applied, 4);
    struct sampan_membership got;
    for (uint64_t i = 0; i <= 2; i++) {
        assert_int_equal(sampan_raft_conf_at(j, i, &got), SAMPAN_EUNAVAIL);
    }
    assert_int_equal(sampan_raft_compact(j, 2), SAMPAN_EUNAVAIL);
    assert_int_equal(fx_status(j).snapshot_index, 0);
    assert_int_equal(sampan_raft_conf_at(j, 3, &got), 0);
    assert_same_conf(&got, &c);
    assert_int_equal(sampan_raft_compact(j, 3), 0);
    assert_int_equal(sampan_raft_conf_at(j, 3, &got), 0);
    assert_same_conf(&got, &c);
    sampan_raft_free(j);
    /* Before it holds any configuration entry it knows none at all. */
    j = fx_new_cfg(&cfg, NULL);
    fx_step_entries(j, 1, 1, 0, 0, 2, ents, 2);
    fx_discard(j);
    assert_int_equal(sampan_raft_conf_at(j, 2, &got), SAMPAN_EUNAVAIL);
    assert_int_equal(sampan_raft_compact(j, 2), SAMPAN_EUNAVAIL);
    sampan_raft_free(j);
}

/* A configuration entry is larger than a command: with a small inflight
 * byte window (max_inflight_bytes) one alone fills it. If that message is
 * lost, a heartbeat answer must still let one append through (the way a
 * window full of lost messages is unblocked), whose rejection then resets
 * the pipeline to the lost entry; otherwise the follower never receives
 * another entry. */
static void test_lost_conf_entry_filling_byte_window_is_resent(void **state)
{
    (void)state;
    struct sampan_raft_config cfg;
    fx_config(&cfg, 1, 3, SEED);
    cfg.max_inflight_msgs = 4;
    cfg.max_inflight_bytes = 64;
    cfg.max_msg_bytes = 1;
    struct sampan_raft *r = leader_cfg(&cfg);
    uint64_t index = 0;
    assert_int_equal(change1(r, SAMPAN_CONF_ADD_LEARNER, 4, &index), 0);
    struct fx_rd rd;
    fx_drain_all(r, &rd); /* the append carrying it to 2 is lost */
    const struct sampan_msg *m = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(m);
    assert_int_equal(m->n_entries, 1);
    assert_true(m->entries[0].len + SAMPAN_ENTRY_OVERHEAD >= 64);
    fx_rd_free(&rd);
    assert_int_equal(sampan_raft_propose(r, "x", 1, NULL), 0);
    assert_int_equal(drain_count(r, SAMPAN_MSG_APPEND, 2), 0); /* full */
    hb_resp(r, 2, 0); /* alive, and behind */
    fx_drain_all(r, &rd);
    m = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(m);
    assert_int_equal(m->index, index); /* past the lost one: a gap */
    fx_rd_free(&rd);
    struct sampan_msg rej = fx_msg(SAMPAN_MSG_APPEND_RESP, 2, 1, 1);
    rej.reject = true;
    rej.index = index;
    rej.hint_index = 1;
    rej.hint_term = 1;
    fx_step(r, &rej);
    fx_drain_all(r, &rd);
    m = fx_find(&rd, SAMPAN_MSG_APPEND, 2);
    assert_non_null(m);
    assert_int_equal(m->index, index - 1);
    assert_int_equal(m->entries[0].type, SAMPAN_ENTRY_CONF);
    fx_rd_free(&rd);
    sampan_raft_free(r);
}

/* ==== end to end ===========================================================
 */

/* Growing a cluster with a node that starts empty: while it is cut off
 * and far behind it is a learner the others commit without; once it is
 * reachable it catches up, is promoted, and counts. */
static void test_grow_with_joining_node(void **state)
{
    (void)state;
    struct sampan_raft_config tmpl;
    fx_config(&tmpl, 1, 3, SEED);
    tmpl.promote_lag_entries = 5;
    struct fx_net net;
    net_init(&net, 3, 4, &tmpl);
    net_lead(&net, 1);
    net_cut(&net, 1, 4);
    net_cut(&net, 2, 4);
    net_cut(&net, 3, 4);
    net_propose(&net, 1, 20);
    assert_int_equal(change1(net.nodes[1], SAMPAN_CONF_ADD_VOTER, 4, NULL), 0);
    fx_net_settle(&net);
    net_propose(&net, 1, 5);
    struct sampan_status st = fx_status(net.nodes[1]);
    assert_int_equal(st.commit, st.last_index);
    net_run(&net, 3 * ELECTION);
    struct sampan_membership learner = conf_make(V123, 3, NULL, 0, L4, 1, 1);
    assert_same_conf(conf_of(net.nodes[1]), &learner);
    assert_int_equal(fx_net_leader(&net), 1);
    fx_net_heal(&net);
    net_run(&net, 3);
    const uint64_t v1234[] = {1, 2, 3, 4};
    struct sampan_membership voters = conf_make(v1234, 4, NULL, 0, NULL, 0, 0);
    for (uint64_t id = 1; id <= 4; id++) {
        assert_same_conf(conf_of(net.nodes[id]), &voters);
        assert_int_equal(commit_of(net.nodes[id]), last_of(net.nodes[1]));
    }
    /* 4 now counts: with 2 and 3 cut off, 1 and 4 are no majority. */
    net_cut(&net, 1, 2);
    net_cut(&net, 1, 3);
    uint64_t commit = commit_of(net.nodes[1]);
    net_propose(&net, 1, 1);
    assert_int_equal(commit_of(net.nodes[1]), commit);
    assert_int_equal(net.step_errors, 0);
    fx_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_validate_refusals),
        cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_decode_garbage_never_crashes),
        cmocka_unit_test(test_change_busy_rules),
        cmocka_unit_test(test_change_refusals),
        cmocka_unit_test(test_leader_uses_new_conf_on_append),
        cmocka_unit_test(test_add_voter_promotes_once_caught_up),
        cmocka_unit_test(test_explicit_promotion),
        cmocka_unit_test(test_silent_learner_not_promoted_on_short_log),
        cmocka_unit_test(test_demote_voter),
        cmocka_unit_test(test_remove_follower_departs),
        cmocka_unit_test(test_readded_member_starts_fresh),
        cmocka_unit_test(test_remove_leader),
        cmocka_unit_test(test_remove_leader_hands_over),
        cmocka_unit_test(test_removed_member_campaigns_until_removal_commits),
        cmocka_unit_test(test_replacement_waits_for_caught_up_newcomers),
        cmocka_unit_test(test_joint_change_commit_and_leave),
        cmocka_unit_test(test_new_leader_leaves_joint),
        cmocka_unit_test(test_election_in_joint_needs_both_majorities),
        cmocka_unit_test(test_learners_do_not_vote),
        cmocka_unit_test(test_check_quorum_counts_voters_only),
        cmocka_unit_test(test_read_index_joint_quorum),
        cmocka_unit_test(test_follower_conf_reverts_on_truncation),
        cmocka_unit_test(test_joining_node_learns_conf),
        cmocka_unit_test(test_learner_never_campaigns),
        cmocka_unit_test(test_conf_at_and_compaction),
        cmocka_unit_test(test_snapshot_install_switches_conf),
        cmocka_unit_test(test_joining_node_conf_unknown_before_first_entry),
        cmocka_unit_test(test_lost_conf_entry_filling_byte_window_is_resent),
        cmocka_unit_test(test_grow_with_joining_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
