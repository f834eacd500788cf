/* tests/unit/support/raft_fixture.c: see raft_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/raft_fixture.h"

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);
    assert_non_null(p);
    return p;
}

void fx_config(struct sampan_raft_config *cfg, uint64_t id, size_t n_voters,
               uint64_t seed)
{
    sampan_raft_config_default(cfg);
    cfg->id = id;
    cfg->members.n_voters = (uint32_t)n_voters;
    for (size_t i = 0; i < n_voters && i < SAMPAN_MAX_VOTERS; i++) {
        cfg->members.voters[i] = i + 1;
    }
    cfg->election_ticks = FX_ELECTION;
    cfg->heartbeat_ticks = FX_HEARTBEAT;
    cfg->seed = seed;
}

struct sampan_raft *fx_new_cfg(const struct sampan_raft_config *cfg,
                               const struct sampan_boot *boot)
{
    struct sampan_raft *r = NULL;
    assert_int_equal(sampan_raft_new(cfg, boot, &r), 0);
    assert_non_null(r);
    return r;
}

struct sampan_raft *fx_new(uint64_t id, size_t n_voters, uint64_t seed)
{
    struct sampan_raft_config cfg;
    fx_config(&cfg, id, n_voters, seed);
    return fx_new_cfg(&cfg, NULL);
}

struct sampan_raft *fx_new_boot(const struct sampan_raft_config *cfg,
                                uint64_t term, uint64_t vote,
                                const uint64_t *terms, size_t n)
{
    struct sampan_entry *ents = xcalloc(n, sizeof(*ents));
    uint8_t *bytes = xcalloc(n, 1);
    fx_entries(ents, 1, terms, n);
    for (size_t i = 0; i < n; i++) {
        bytes[i] = (uint8_t)(i + 1);
        ents[i].data = &bytes[i];
        ents[i].len = 1;
    }
    struct sampan_boot boot = {
        .hard_state = {.term = term, .vote = vote},
        .n_entries = n,
        .entries = ents,
    };
    struct sampan_raft *r = fx_new_cfg(cfg, &boot);
    free(ents);
    free(bytes);
    return r;
}

void fx_entries(struct sampan_entry *out, uint64_t first_index,
                const uint64_t *terms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].term = terms[i];
        out[i].index = first_index + i;
        out[i].type = SAMPAN_ENTRY_NORMAL;
    }
}

struct sampan_msg fx_msg(uint8_t type, uint64_t from, uint64_t to,
                         uint64_t term)
{
    struct sampan_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

static void entries_copy(struct sampan_entry **dst,
                         const struct sampan_entry *src, size_t n)
{
    *dst = NULL;
    if (n == 0) {
        return;
    }
    *dst = xcalloc(n, sizeof(**dst));
    for (size_t i = 0; i < n; i++) {
        (*dst)[i] = src[i];
        (*dst)[i].data = NULL;
        if (src[i].len > 0) {
            assert_non_null(src[i].data);
            (*dst)[i].data = xcalloc(src[i].len, 1);
            memcpy((*dst)[i].data, src[i].data, src[i].len);
        }
    }
}

static void entries_free(struct sampan_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].data);
    }
    free(e);
}

void fx_msg_copy(struct sampan_msg *dst, const struct sampan_msg *src)
{
    *dst = *src;
    entries_copy(&dst->entries, src->entries, src->n_entries);
}

void fx_msg_free(struct sampan_msg *m)
{
    entries_free(m->entries, m->n_entries);
    m->entries = NULL;
    m->n_entries = 0;
}

static void rd_push_msg(struct fx_rd *rd, const struct sampan_msg *m,
                        bool persisted)
{
    rd->msgs = realloc(rd->msgs, (rd->n_msgs + 1) * sizeof(*rd->msgs));
    rd->persisted =
        realloc(rd->persisted, (rd->n_msgs + 1) * sizeof(*rd->persisted));
    assert_non_null(rd->msgs);
    assert_non_null(rd->persisted);
    fx_msg_copy(&rd->msgs[rd->n_msgs], m);
    rd->persisted[rd->n_msgs] = persisted;
    rd->n_msgs++;
}

static void rd_push_entries(struct sampan_entry **arr, size_t *n,
                            const struct sampan_entry *src, size_t k)
{
    if (k == 0) {
        return;
    }
    struct sampan_entry *copy;
    entries_copy(&copy, src, k);
    *arr = realloc(*arr, (*n + k) * sizeof(**arr));
    assert_non_null(*arr);
    memcpy(*arr + *n, copy, k * sizeof(*copy));
    free(copy);
    *n += k;
}

void fx_rd_append(struct fx_rd *rd, const struct sampan_ready *ready)
{
    rd->n_ready++;
    if (ready->hard_state_changed) {
        rd->hard_state_changed = true;
        rd->hard_state = ready->hard_state;
    }
    rd_push_entries(&rd->entries, &rd->n_entries, ready->entries,
                    ready->n_entries);
    rd_push_entries(&rd->committed, &rd->n_committed, ready->committed,
                    ready->n_committed);
    for (size_t i = 0; i < ready->n_messages; i++) {
        rd_push_msg(rd, &ready->messages[i], false);
    }
    for (size_t i = 0; i < ready->n_persisted_messages; i++) {
        rd_push_msg(rd, &ready->persisted_messages[i], true);
    }
}

static bool collect_one(struct sampan_raft *r, struct fx_rd *rd)
{
    if (!sampan_raft_has_ready(r)) {
        return false;
    }
    struct sampan_ready ready;
    assert_int_equal(sampan_raft_ready(r, &ready), 0);
    fx_rd_append(rd, &ready);
    assert_int_equal(sampan_raft_advance(r, &ready), 0);
    return true;
}

void fx_drain(struct sampan_raft *r, struct fx_rd *rd)
{
    memset(rd, 0, sizeof(*rd));
    collect_one(r, rd);
}

void fx_drain_all(struct sampan_raft *r, struct fx_rd *rd)
{
    memset(rd, 0, sizeof(*rd));
    for (int i = 0; i < 1000 && collect_one(r, rd); i++) {
    }
    assert_false(sampan_raft_has_ready(r));
}

void fx_rd_free(struct fx_rd *rd)
{
    entries_free(rd->entries, rd->n_entries);
    entries_free(rd->committed, rd->n_committed);
    for (size_t i = 0; i < rd->n_msgs; i++) {
        fx_msg_free(&rd->msgs[i]);
    }
    free(rd->msgs);
    free(rd->persisted);
    memset(rd, 0, sizeof(*rd));
}

void fx_discard(struct sampan_raft *r)
{
    struct fx_rd rd;
    fx_drain_all(r, &rd);
    fx_rd_free(&rd);
}

size_t fx_count(const struct fx_rd *rd, uint8_t type, uint64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < rd->n_msgs; i++) {
        if (rd->msgs[i].type == type && (to == 0 || rd->msgs[i].to == to)) {
            n++;
        }
    }
    return n;
}

const struct sampan_msg *fx_find(const struct fx_rd *rd, uint8_t type,
                                 uint64_t to)
{
    for (size_t i = 0; i < rd->n_msgs; i++) {
        if (rd->msgs[i].type == type && (to == 0 || rd->msgs[i].to == to)) {
            return &rd->msgs[i];
        }
    }
    return NULL;
}

bool fx_is_persisted(const struct fx_rd *rd, const struct sampan_msg *m)
{
    assert_true(m >= rd->msgs && m < rd->msgs + rd->n_msgs);
    return rd->persisted[m - rd->msgs];
}

struct sampan_status fx_status(const struct sampan_raft *r)
{
    struct sampan_status st;
    memset(&st, 0, sizeof(st));
    sampan_raft_status(r, &st);
    return st;
}

uint64_t fx_term_at(const struct sampan_raft *r, uint64_t index)
{
    uint64_t term = 0;
    assert_int_equal(sampan_raft_term_at(r, index, &term), 0);
    return term;
}

void fx_step(struct sampan_raft *r, const struct sampan_msg *m)
{
    assert_int_equal(sampan_raft_step(r, m), 0);
}

void fx_make_leader(struct sampan_raft *r, size_t n_voters)
{
    struct sampan_status st = fx_status(r);
    assert_int_equal(sampan_raft_campaign(r), 0);
    for (int round = 0; round < 2; round++) {
        st = fx_status(r);
        if (st.role == SAMPAN_LEADER) {
            break;
        }
        struct fx_rd rd;
        fx_drain(r, &rd);
        for (size_t i = 0; i < rd.n_msgs; i++) {
            const struct sampan_msg *m = &rd.msgs[i];
            if (m->type != SAMPAN_MSG_PREVOTE && m->type != SAMPAN_MSG_VOTE) {
                continue;
            }
            struct sampan_msg resp =
                fx_msg((uint8_t)(m->type + 1), m->to, st.id, m->term);
            fx_step(r, &resp);
        }
        fx_rd_free(&rd);
    }
    (void)n_voters;
    st = fx_status(r);
    assert_int_equal(st.role, SAMPAN_LEADER);
    fx_discard(r);
}

void fx_ack(struct sampan_raft *r, uint64_t from, uint64_t index)
{
    struct sampan_status st = fx_status(r);
    struct sampan_msg m = fx_msg(SAMPAN_MSG_APPEND_RESP, from, st.id, st.term);
    m.index = index;
    fx_step(r, &m);
}

/* ---- network ---------------------------------------------------------------
 */

void fx_net_init(struct fx_net *net, size_t n, uint64_t seed,
                 const struct sampan_raft_config *tmpl)
{
    assert_true(n >= 1 && n <= FX_MAX_NODES);
    memset(net, 0, sizeof(*net));
    net->n = n;
    for (size_t id = 1; id <= n; id++) {
        struct sampan_raft_config cfg;
        fx_config(&cfg, id, n, seed);
        if (tmpl != NULL) {
            struct sampan_raft_config base = *tmpl;
            base.id = cfg.id;
            base.members = cfg.members;
            base.seed = seed;
            cfg = base;
        }
        net->nodes[id] = fx_new_cfg(&cfg, NULL);
    }
}

void fx_net_free(struct fx_net *net)
{
    for (size_t id = 1; id <= net->n; id++) {
        sampan_raft_free(net->nodes[id]);
        net->nodes[id] = NULL;
    }
}

uint64_t fx_net_settle(struct fx_net *net)
{
    uint64_t delivered = 0;
    for (int round = 0; round < 10000; round++) {
        struct fx_rd all;
        memset(&all, 0, sizeof(all));
        for (size_t id = 1; id <= net->n; id++) {
            struct sampan_raft *r = net->nodes[id];
            while (sampan_raft_has_ready(r)) {
                struct sampan_ready ready;
                assert_int_equal(sampan_raft_ready(r, &ready), 0);
                fx_rd_append(&all, &ready);
                assert_int_equal(sampan_raft_advance(r, &ready), 0);
            }
        }
        if (all.n_msgs == 0) {
            fx_rd_free(&all);
            return delivered;
        }
        for (size_t i = 0; i < all.n_msgs; i++) {
            const struct sampan_msg *m = &all.msgs[i];
            assert_true(m->from >= 1 && m->from <= net->n);
            assert_true(m->to >= 1 && m->to <= net->n);
            if (net->cut[m->from][m->to]) {
                net->dropped++;
                continue;
            }
            if (sampan_raft_step(net->nodes[m->to], m) != 0) {
                net->step_errors++;
            }
            net->delivered++;
            delivered++;
        }
        fx_rd_free(&all);
    }
    fail_msg("network did not settle");
    return delivered;
}

void fx_net_tick(struct fx_net *net)
{
    for (size_t id = 1; id <= net->n; id++) {
        sampan_raft_tick(net->nodes[id]);
    }
}

void fx_net_isolate(struct fx_net *net, uint64_t id)
{
    for (size_t other = 1; other <= net->n; other++) {
        if (other != id) {
            net->cut[id][other] = true;
            net->cut[other][id] = true;
        }
    }
}

void fx_net_heal(struct fx_net *net)
{
    memset(net->cut, 0, sizeof(net->cut));
}

uint64_t fx_net_leader(const struct fx_net *net)
{
    uint64_t best_term = 0;
    uint64_t leader = 0;
    for (size_t id = 1; id <= net->n; id++) {
        struct sampan_status st = fx_status(net->nodes[id]);
        if (st.role == SAMPAN_LEADER && st.term >= best_term) {
            if (st.term == best_term && leader != 0) {
                fail_msg("two leaders in term %llu",
                         (unsigned long long)st.term);
            }
            best_term = st.term;
            leader = id;
        }
    }
    return leader;
}

void fx_step_append(struct sampan_raft *r, uint64_t from, uint64_t term,
                    uint64_t prev, uint64_t prev_term, uint64_t commit,
                    const uint64_t *terms, size_t n, const char *const *data)
{
    struct sampan_entry ents[16];
    assert_true(n <= 16);
    fx_entries(ents, prev + 1, terms, n);
    for (size_t i = 0; data != NULL && i < n; i++) {
        ents[i].len = (uint32_t)strlen(data[i]);
        ents[i].data = (uint8_t *)(uintptr_t)data[i];
    }
    fx_step_entries(r, from, term, prev, prev_term, commit, ents, n);
}

void fx_step_entries(struct sampan_raft *r, uint64_t from, uint64_t term,
                     uint64_t prev, uint64_t prev_term, uint64_t commit,
                     struct sampan_entry *ents, size_t n)
{
    struct sampan_msg m =
        fx_msg(SAMPAN_MSG_APPEND, from, fx_status(r).id, term);
    m.index = prev;
    m.log_term = prev_term;
    m.commit = commit;
    m.entries = n ? ents : NULL;
    m.n_entries = n;
    fx_step(r, &m);
}
