/* sim/check.c: the Raft safety properties (Figure 3), checked after every
 * simulated event:
 *   Election Safety     at most one leader per term;
 *   Log Matching        two logs holding an entry with the same index and
 *                       term are identical up to it (checked through prefix
 *                       hashes keyed by (index, term), on every write);
 *   Leader Completeness a new leader holds every entry committed before it;
 *   State Machine Safety no two nodes commit or apply different entries at
 *                       one index; each node applies in order with no gap;
 *   Durability          every committed entry stays on enough disks that
 *                       the voters lacking it cannot form a quorum of the
 *                       newest committed configuration (checked at every
 *                       crash);
 * and, with membership changes (thesis chapter 4): only a voter of its own
 * configuration is elected. Node ids are never reused, so "one leader per
 * term" needs no change when nodes join and leave. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct sim_logmap {
    uint64_t *key_index;
    uint64_t *key_term;
    uint64_t *value;
    size_t cap; /* power of two */
    size_t n;
};

static void *grow(void *p, size_t old_n, size_t new_n, size_t size)
{
    p = realloc(p, new_n * size);
    if (p == NULL) {
        fprintf(stderr, "sim: out of memory\n");
        abort();
    }
    memset((char *)p + old_n * size, 0, (new_n - old_n) * size);
    return p;
}

static uint64_t slot_hash(uint64_t index, uint64_t term)
{
    uint64_t h = index * 0x9e3779b97f4a7c15ull ^ term * 0xc2b2ae3d27d4eb4full;
    return h ^ (h >> 29);
}

static void logmap_insert_raw(struct sim_logmap *m, uint64_t index,
                              uint64_t term, uint64_t value)
{
    size_t i = slot_hash(index, term) & (m->cap - 1);
    while (m->key_index[i] != 0) {
        i = (i + 1) & (m->cap - 1);
    }
    m->key_index[i] = index;
    m->key_term[i] = term;
    m->value[i] = value;
    m->n++;
}

/* Returns the stored prefix hash for (index, term), inserting `value` when
 * there is none yet. */
static uint64_t logmap_get_or_put(struct sim *s, uint64_t index, uint64_t term,
                                  uint64_t value)
{
    struct sim_logmap *m = s->logmap;
    if (m == NULL) {
        m = s->logmap = calloc(1, sizeof(*m));
        if (m == NULL) {
            abort();
        }
    }
    if (m->n * 2 >= m->cap) {
        struct sim_logmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->n = 0;
        m->key_index = grow(NULL, 0, m->cap, sizeof(uint64_t));
        m->key_term = grow(NULL, 0, m->cap, sizeof(uint64_t));
        m->value = grow(NULL, 0, m->cap, sizeof(uint64_t));
        for (size_t i = 0; i < old.cap; i++) {
            if (old.key_index[i] != 0) {
                logmap_insert_raw(m, old.key_index[i], old.key_term[i],
                                  old.value[i]);
            }
        }
        free(old.key_index);
        free(old.key_term);
        free(old.value);
    }
    size_t i = slot_hash(index, term) & (m->cap - 1);
    while (m->key_index[i] != 0) {
        if (m->key_index[i] == index && m->key_term[i] == term) {
            return m->value[i];
        }
        i = (i + 1) & (m->cap - 1);
    }
    if (value != 0) {
        logmap_insert_raw(m, index, term, value);
    }
    return value;
}

static uint64_t entry_hash(const struct sampan_entry *e)
{
    uint64_t h = e->len ? sim_hash(e->data, e->len) : 0x1234567ull;
    return h ^ ((uint64_t)e->type << 56);
}

static void prefix_reserve(struct sim_node *nd, uint64_t index)
{
    if (index >= nd->prefix_cap) {
        size_t cap = nd->prefix_cap ? nd->prefix_cap : 256;
        while (cap <= index) {
            cap *= 2;
        }
        nd->prefix = grow(nd->prefix, nd->prefix_cap, cap, sizeof(uint64_t));
        nd->prefix_cap = cap;
    }
}

static void record_written(struct sim *s, struct sim_node *nd,
                           const struct sampan_entry *e)
{
    if (e->index > nd->prefix_last + 1 || e->index == 0) {
        sim_fail(s, "n%llu wrote index %llu after %llu: a gap in its log",
                 (unsigned long long)nd->id, (unsigned long long)e->index,
                 (unsigned long long)nd->prefix_last);
    }
    prefix_reserve(nd, e->index);
    uint64_t h = nd->prefix[e->index - 1];
    h = (h ^ e->term) * 0x100000001b3ull;
    h = (h ^ entry_hash(e)) * 0x100000001b3ull;
    h ^= h >> 31;
    nd->prefix[e->index] = h;
    nd->prefix_last = e->index;
    uint64_t seen = logmap_get_or_put(s, e->index, e->term, h);
    if (seen != h) {
        sim_fail(s,
                 "Log Matching violated: n%llu holds (index %llu, term %llu) "
                 "with a log prefix that differs from another node's",
                 (unsigned long long)nd->id, (unsigned long long)e->index,
                 (unsigned long long)e->term);
    }
}

void check_written(struct sim *s, struct sim_node *nd,
                   const struct sampan_entry *e, size_t n)
{
    if (n > 0 && e[0].index <= nd->prefix_last) {
        nd->prefix_last = e[0].index - 1; /* a conflicting suffix replaced */
    }
    for (size_t i = 0; i < n; i++) {
        record_written(s, nd, &e[i]);
    }
}

void check_restore_prefix(struct sim *s, struct sim_node *nd, uint64_t index,
                          uint64_t term)
{
    prefix_reserve(nd, index);
    nd->prefix_last = index;
    if (index == 0) {
        nd->prefix[0] = 0;
        return;
    }
    /* The snapshot's last entry was written by some node before: its
     * prefix hash is known, and the log continues from it. */
    uint64_t h = logmap_get_or_put(s, index, term, 0);
    SIM_ASSERT(s, h != 0,
               "n%llu installed a snapshot ending at (index %llu, term %llu), "
               "an entry no node ever wrote",
               (unsigned long long)nd->id, (unsigned long long)index,
               (unsigned long long)term);
    nd->prefix[index] = h;
}

void check_rebuild_prefix(struct sim *s, struct sim_node *nd)
{
    /* The log the node recovered: its snapshot's last entry, then the
     * entries after it, each checked against every node's history. */
    struct sampan_status st;
    sampan_raft_status(nd->raft, &st);
    uint64_t base = st.first_index - 1;
    uint64_t base_term = 0;
    sampan_raft_term_at(nd->raft, base, &base_term);
    check_restore_prefix(s, nd, base, base_term);
    for (uint64_t i = st.first_index; i <= st.last_index; i++) {
        const struct sampan_entry *e = sampan_raft_entry_at(nd->raft, i);
        SIM_ASSERT(s, e != NULL, "n%llu recovered no entry %llu",
                   (unsigned long long)nd->id, (unsigned long long)i);
        record_written(s, nd, e);
    }
}

/* The term storage acknowledged at `index`, with the interrupted batch
 * counted as landed or not. */
static uint64_t expected_term(const struct sim_durable *d, bool landed,
                              uint64_t index, uint64_t *last)
{
    *last = d->last;
    if (landed && d->pending_n > 0) {
        *last = d->pending_first + d->pending_n - 1;
        if (index >= d->pending_first) {
            return index <= *last ? d->pending_term[index - d->pending_first]
                                  : 0;
        }
    }
    return index >= 1 && index <= d->last ? d->term[index] : 0;
}

void check_recovered(struct sim *s, struct sim_node *nd)
{
    const struct sim_durable *d = &nd->durable;
    struct sampan_status st;
    sampan_raft_status(nd->raft, &st);
    /* Did the batch interrupted by the crash land? Replay applies batches
     * whole, so its first entry tells. */
    bool landed = false;
    if (d->pending && d->pending_n > 0) {
        uint64_t t = 0;
        landed = sampan_raft_term_at(nd->raft, d->pending_first, &t) == 0 &&
                 t == d->pending_term[0] &&
                 (d->pending_first > d->last || d->term[d->pending_first] != t);
    }
    const struct sampan_hard_state *hs = &d->hs;
    bool hs_ok =
        st.term > hs->term || (st.term == hs->term && st.vote == hs->vote);
    if (!hs_ok && d->pending && d->pending_rd.hard_state_changed) {
        /* The interrupted term/vote write may have landed. */
        hs = &d->pending_rd.hard_state;
        hs_ok =
            st.term > hs->term || (st.term == hs->term && st.vote == hs->vote);
    }
    /* Figure 2: currentTerm and votedFor survive a crash. */
    SIM_ASSERT(s, hs_ok,
               "n%llu recovered term %llu vote %llu, but term %llu vote %llu "
               "was acknowledged durable",
               (unsigned long long)nd->id, (unsigned long long)st.term,
               (unsigned long long)st.vote, (unsigned long long)d->hs.term,
               (unsigned long long)d->hs.vote);
    uint64_t base = st.first_index - 1;
    bool installed = d->pending && d->pending_rd.has_snapshot &&
                     base == d->pending_rd.snapshot.index;
    SIM_ASSERT(s, base >= d->install_index,
               "n%llu recovered snapshot %llu, older than the installed %llu",
               (unsigned long long)nd->id, (unsigned long long)base,
               (unsigned long long)d->install_index);
    if (installed) {
        return; /* the interrupted install landed: it replaced the log */
    }
    uint64_t last;
    expected_term(d, landed, 0, &last);
    for (uint64_t i = base + 1; i <= last; i++) {
        uint64_t want = expected_term(d, landed, i, &last);
        uint64_t t = 0;
        int rv = sampan_raft_term_at(nd->raft, i, &t);
        SIM_ASSERT(s, rv == 0 && t == want,
                   "n%llu lost durable entry %llu (term %llu) across a "
                   "crash: recovered %s",
                   (unsigned long long)nd->id, (unsigned long long)i,
                   (unsigned long long)want,
                   rv == 0 ? "another term" : "nothing");
    }
}

static uint32_t id_bits(const uint64_t *ids, uint32_t n)
{
    uint32_t bits = 0;
    for (uint32_t i = 0; i < n; i++) {
        bits |= ids[i] < 32 ? 1u << ids[i] : 0;
    }
    return bits;
}

/* A configuration entry (or a snapshot's configuration) at `index` is
 * committed: the newest such is what durability is checked against. */
static void note_committed_conf(struct sim *s, uint64_t index,
                                const struct sampan_membership *c)
{
    if (index <= s->committed_conf_index) {
        return;
    }
    s->committed_conf = *c;
    s->committed_conf_index = index;
    if (s->n_conf_seen < SIM_CONF_HISTORY) {
        struct sim_conf_seen *seen = &s->conf_seen[s->n_conf_seen++];
        seen->index = index;
        seen->voters = id_bits(c->voters, c->n_voters);
        seen->outgoing = id_bits(c->outgoing, c->n_outgoing);
        seen->learners = id_bits(c->learners, c->n_learners);
    }
    for (int id = 1; id <= s->n; id++) {
        if (sampan_membership_is_voter(c, (uint64_t)id) ||
            sampan_membership_is_learner(c, (uint64_t)id)) {
            s->nodes[id].was_member = true;
        }
    }
    if (s->trace) {
        fprintf(s->trace, "%10.3fms committed configuration at %llu: voters",
                (double)s->now / SIM_MS, (unsigned long long)index);
        for (uint32_t i = 0; i < c->n_voters; i++) {
            fprintf(s->trace, " n%llu", (unsigned long long)c->voters[i]);
        }
        if (c->n_outgoing > 0) {
            fprintf(s->trace, " (joint with");
            for (uint32_t i = 0; i < c->n_outgoing; i++) {
                fprintf(s->trace, " n%llu", (unsigned long long)c->outgoing[i]);
            }
            fprintf(s->trace, ")");
        }
        for (uint32_t i = 0; i < c->n_learners; i++) {
            fprintf(s->trace, " learner n%llu",
                    (unsigned long long)c->learners[i]);
        }
        fprintf(s->trace, "\n");
    }
}

static void note_committed_entry(struct sim *s, struct sim_node *nd,
                                 const struct sampan_entry *e)
{
    if (e->type != SAMPAN_ENTRY_CONF) {
        return;
    }
    struct sampan_membership c;
    const char *why = "";
    SIM_ASSERT(s, sampan_membership_decode(e->data, e->len, &c, &why) == 0,
               "n%llu committed a configuration entry at %llu that does not "
               "decode: %s",
               (unsigned long long)nd->id, (unsigned long long)e->index, why);
    note_committed_conf(s, e->index, &c);
}

static void committed_reserve(struct sim_committed *c, uint64_t index)
{
    if (index >= c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap <= index) {
            cap *= 2;
        }
        c->term = grow(c->term, c->cap, cap, sizeof(uint64_t));
        c->hash = grow(c->hash, c->cap, cap, sizeof(uint64_t));
        c->commit_term = grow(c->commit_term, c->cap, cap, sizeof(uint64_t));
        c->cap = cap;
    }
}

/* Records that (index, term, hash) is committed, seen by node nd in term
 * `seen_in`; a different entry already recorded at that index violates
 * State Machine Safety. */
static void record_committed(struct sim *s, struct sim_node *nd, uint64_t index,
                             uint64_t term, uint64_t hash, uint64_t seen_in,
                             const char *how)
{
    struct sim_committed *c = &s->committed;
    committed_reserve(c, index);
    if (c->commit_term[index] == 0 || seen_in < c->commit_term[index]) {
        c->commit_term[index] = seen_in;
    }
    if (c->term[index] == 0) {
        c->term[index] = term;
        c->hash[index] = hash;
        if (index > c->max) {
            c->max = index;
        }
        return;
    }
    if (c->term[index] != term || c->hash[index] != hash) {
        sim_fail(s,
                 "State Machine Safety violated: n%llu %s index %llu term "
                 "%llu, but term %llu was committed there",
                 (unsigned long long)nd->id, how, (unsigned long long)index,
                 (unsigned long long)term, (unsigned long long)c->term[index]);
    }
}

static void applied_reserve(struct sim_applied *a, uint64_t index)
{
    if (index < a->cap) {
        return;
    }
    size_t cap = a->cap ? a->cap * 2 : 256;
    while (cap <= index) {
        cap *= 2;
    }
    a->hash = grow(a->hash, a->cap, cap, sizeof(uint64_t));
    a->ehash = grow(a->ehash, a->cap, cap, sizeof(uint64_t));
    a->term = grow(a->term, a->cap, cap, sizeof(uint64_t));
    a->cap = cap;
}

void check_applied(struct sim *s, struct sim_node *nd,
                   const struct sampan_entry *e)
{
    struct sim_applied *a = &nd->applied;
    if (e->index != a->last + 1) {
        sim_fail(s, "n%llu applied index %llu after %llu (gap or reorder)",
                 (unsigned long long)nd->id, (unsigned long long)e->index,
                 (unsigned long long)a->last);
    }
    uint64_t h = entry_hash(e);
    struct sampan_status st;
    sampan_raft_status(nd->raft, &st);
    record_committed(s, nd, e->index, e->term, h, st.term, "applied");
    note_committed_entry(s, nd, e);
    applied_reserve(a, e->index);
    /* The harness identifies commands by the hash of their bytes alone. */
    a->hash[e->index] = e->len ? sim_hash(e->data, e->len) : 1;
    a->ehash[e->index] = h;
    a->term[e->index] = e->term;
    a->last = e->index;
}

/* ---- the simulated state machine's snapshots ------------------------------
 */

void sim_snapshot_encode(struct sim *s, struct sim_node *nd, uint64_t index,
                         struct sim_snapshot *out)
{
    const struct sim_applied *a = &nd->applied;
    SIM_ASSERT(s, index <= a->last, "n%llu snapshot at %llu past applied %llu",
               (unsigned long long)nd->id, (unsigned long long)index,
               (unsigned long long)a->last);
    out->len = (size_t)index * 24;
    out->data = grow(NULL, 0, out->len ? out->len : 1, 1);
    for (uint64_t i = 1; i <= index; i++) {
        uint64_t rec[3] = {a->term[i], a->ehash[i], a->hash[i]};
        memcpy(out->data + (i - 1) * 24, rec, 24);
    }
    out->meta.index = index;
    out->meta.term = index ? a->term[index] : 0;
}

void check_restored(struct sim *s, struct sim_node *nd,
                    const struct sim_snapshot *snap)
{
    struct sim_applied *a = &nd->applied;
    uint64_t index = snap->meta.index;
    SIM_ASSERT(s, snap->len == index * 24,
               "n%llu snapshot of index %llu has %zu bytes, want %llu",
               (unsigned long long)nd->id, (unsigned long long)index, snap->len,
               (unsigned long long)(index * 24));
    /* Snapshots only move a node's state forward (section 7). */
    SIM_ASSERT(s, index > a->last || (index == 0 && a->last == 0),
               "n%llu restored snapshot %llu over applied state at %llu: "
               "its state moved backwards",
               (unsigned long long)nd->id, (unsigned long long)index,
               (unsigned long long)a->last);
    applied_reserve(a, index);
    for (uint64_t i = 1; i <= index; i++) {
        uint64_t rec[3];
        memcpy(rec, snap->data + (i - 1) * 24, 24);
        /* Everything a snapshot holds is committed state: it must agree
         * with what every other node committed (State Machine Safety). */
        record_committed(s, nd, i, rec[0], rec[1],
                         nd->raft != NULL && !nd->booting ? nd->last_term
                                                          : UINT64_MAX,
                         "restored");
        a->term[i] = rec[0];
        a->ehash[i] = rec[1];
        a->hash[i] = rec[2];
    }
    SIM_ASSERT(s, index == 0 || a->term[index] == snap->meta.term,
               "n%llu snapshot meta term %llu differs from its content",
               (unsigned long long)nd->id, (unsigned long long)snap->meta.term);
    if (index > 0) {
        /* A snapshot carries the configuration at its index (committed). */
        note_committed_conf(s, index, &snap->meta.conf);
    }
    a->last = index; /* applying resumes at index + 1 */
}

static void check_leader_completeness(struct sim *s, struct sim_node *nd,
                                      uint64_t term)
{
    const struct sim_committed *c = &s->committed;
    for (uint64_t i = 1; i <= c->max; i++) {
        /* Figure 3: entries committed in terms up to this one. One
         * committed in a later term need not be there: a candidate may
         * learn that it won an older term (from votes granted before its
         * voters moved on) after a newer leader committed entries. */
        if (c->term[i] == 0 || c->commit_term[i] > term) {
            continue;
        }
        uint64_t t = 0;
        int rv = sampan_raft_term_at(nd->raft, i, &t);
        if (rv == SAMPAN_ECOMPACTED) {
            continue; /* covered by a snapshot, which holds it */
        }
        if (rv != 0 || t != c->term[i]) {
            sim_fail(s,
                     "Leader Completeness violated: n%llu leads term %llu "
                     "without committed index %llu (term %llu)",
                     (unsigned long long)nd->id, (unsigned long long)term,
                     (unsigned long long)i, (unsigned long long)c->term[i]);
        }
    }
}

static bool may_lead(const struct sampan_raft *r, uint64_t id,
                     const struct sampan_status *st)
{
    uint64_t conf_index = 0;
    const struct sampan_membership *c = sampan_raft_membership(r, &conf_index);
    struct sampan_membership committed;
    return sampan_membership_is_voter(c, id) ||
           (conf_index > st->commit &&
            sampan_raft_conf_at(r, st->commit, &committed) == 0 &&
            sampan_membership_is_voter(&committed, id));
}

void check_after_event(struct sim *s, struct sim_node *nd)
{
    if (!nd->up) {
        return;
    }
    struct sampan_status st;
    sampan_raft_status(nd->raft, &st);
    if (st.role == SAMPAN_LEADER) {
        if (st.term >= s->leader_of_term_cap) {
            size_t cap = s->leader_of_term_cap ? s->leader_of_term_cap : 64;
            while (cap <= st.term) {
                cap *= 2;
            }
            s->leader_of_term = grow(s->leader_of_term, s->leader_of_term_cap,
                                     cap, sizeof(uint64_t));
            s->leader_of_term_cap = cap;
        }
        uint64_t *slot = &s->leader_of_term[st.term];
        if (*slot != 0 && *slot != nd->id) {
            sim_fail(s,
                     "Election Safety violated: n%llu and n%llu both "
                     "lead term %llu",
                     (unsigned long long)*slot, (unsigned long long)nd->id,
                     (unsigned long long)st.term);
        }
        if (*slot == 0) {
            *slot = nd->id;
            check_leader_completeness(s, nd, st.term);
            /* Learners and non-members never campaign (thesis 4.2.1), so
             * a new leader is a voter of the configuration it holds, or
             * of its committed one while a later one that removes it is
             * not committed yet (thesis 4.2.2, Figure 4.6). */
            SIM_ASSERT(s, may_lead(nd->raft, nd->id, &st),
                       "n%llu leads term %llu but is no voter of its "
                       "configuration",
                       (unsigned long long)nd->id, (unsigned long long)st.term);
        }
    }
    if (st.role != nd->last_role || st.term != nd->last_term) {
        if (s->trace) {
            fprintf(s->trace,
                    "%10.3fms n%llu is %s in term %llu (last "
                    "index %llu, commit %llu)\n",
                    (double)s->now / SIM_MS, (unsigned long long)nd->id,
                    sampan_role_name(st.role), (unsigned long long)st.term,
                    (unsigned long long)st.last_index,
                    (unsigned long long)st.commit);
        }
        nd->last_role = st.role;
        nd->last_term = st.term;
    }
    SIM_ASSERT(s, st.commit >= nd->commit_seen,
               "n%llu commit index went back from %llu to %llu",
               (unsigned long long)nd->id, (unsigned long long)nd->commit_seen,
               (unsigned long long)st.commit);
    for (uint64_t i = nd->commit_seen + 1; i <= st.commit; i++) {
        const struct sampan_entry *e = sampan_raft_entry_at(nd->raft, i);
        if (e == NULL) {
            continue; /* compacted: it was checked when it was applied */
        }
        record_committed(s, nd, i, e->term, entry_hash(e), st.term,
                         "committed");
        note_committed_entry(s, nd, e);
    }
    if (st.commit > nd->commit_seen) {
        nd->commit_seen = st.commit;
    }
}

/* How many of the listed voters lack the entry, and whether they are a
 * majority of the list. */
static bool lacking_majority(const uint64_t *voters, uint32_t n,
                             const bool *holds, int *lacking)
{
    *lacking = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t id = voters[k];
        *lacking += id < 1 || id > SIM_MAX_NODES || !holds[id];
    }
    return n > 0 && (uint32_t)*lacking >= n / 2 + 1;
}

void check_durability(struct sim *s)
{
    const struct sim_committed *c = &s->committed;
    const struct sampan_membership *conf = &s->committed_conf;
    for (uint64_t i = 1; i <= c->max; i++) {
        if (c->term[i] == 0) {
            continue;
        }
        bool holds[SIM_MAX_NODES + 1] = {false};
        for (int id = 1; id <= s->n; id++) {
            const struct sim_durable *d = &s->nodes[id].durable;
            /* A snapshot holds it, or the durable log. */
            holds[id] = i <= d->snap_index ||
                        (i <= d->last && d->term[i] == c->term[i]);
        }
        /* The voters lacking a committed entry must not be able to elect
         * a leader without it: they form no quorum of the newest committed
         * configuration (both voter sets when joint, thesis 4.3). Every
         * quorum of it intersects every quorum the entry was committed
         * with, so this holds whatever configuration committed it. */
        int in_lacking = 0;
        int out_lacking = 0;
        bool in =
            lacking_majority(conf->voters, conf->n_voters, holds, &in_lacking);
        bool out = conf->n_outgoing == 0 ||
                   lacking_majority(conf->outgoing, conf->n_outgoing, holds,
                                    &out_lacking);
        if (in && out) {
            sim_fail(s,
                     "Durability violated: committed index %llu (term %llu) "
                     "is missing from the disks of %d of the %u voters of "
                     "the configuration committed at %llu, a quorum",
                     (unsigned long long)i, (unsigned long long)c->term[i],
                     in_lacking, conf->n_voters,
                     (unsigned long long)s->committed_conf_index);
        }
    }
}

void check_free(struct sim *s)
{
    if (s->logmap != NULL) {
        free(s->logmap->key_index);
        free(s->logmap->key_term);
        free(s->logmap->value);
        free(s->logmap);
    }
    free(s->leader_of_term);
    free(s->committed.term);
    free(s->committed.hash);
    free(s->committed.commit_term);
    free(s->reads);
}
