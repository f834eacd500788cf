/* raft/membership.c: configurations in effect (thesis chapter 4). A
 * configuration takes effect on a node as soon as its entry is in the
 * node's log, committed or not (thesis section 4.1), and is undone when a
 * new leader truncates that entry away; snapshots carry the configuration
 * in effect at their index. The leader keeps one progress slot per member
 * (and for a while per departing member), and does the housekeeping that
 * follows a commit: leaving a joint configuration (4.3), promoting learners
 * that caught up (4.2.1), stepping down once its own removal committed
 * (4.2.2). Changes themselves are computed in conf.c. */
#include <string.h>

#include "raft/internal.h"

bool membership_self_is_voter(const struct sampan_raft *r)
{
    return sampan_membership_is_voter(&r->conf, r->id);
}

/* Thesis 4.2.2: "a server that is not part of its own latest configuration
 * should still start new elections, as it might still be needed until the
 * Cnew entry is committed" (Figure 4.6). Servers removed by a change not
 * yet committed may hold the only copies of the entries that would commit
 * it; if they stayed silent, the voters left, whose logs are shorter, could
 * never be elected without them (found by membership_replace_joint, seed
 * 1032: the old voters of a joint change held the leave-joint entry, every
 * remaining voter lacked it, and no one could ever win). Such a server
 * campaigns in its latest configuration without counting its own vote
 * (quorum.c counts listed voters only). Once the change is committed it
 * stays silent, and learners that were never voters never campaign. */
bool membership_may_campaign(const struct sampan_raft *r)
{
    if (membership_self_is_voter(r)) {
        return true;
    }
    if (r->conf_index <= r->log.committed) {
        return false;
    }
    struct sampan_membership committed;
    return sampan_raft_conf_at(r, r->log.committed, &committed) == 0 &&
           sampan_membership_is_voter(&committed, r->id);
}

/* Rebuilds the progress slots for configuration `c`: this node first, then
 * every member, then (leader only) members that just left, so they still
 * hear that they were removed. Allocates before changing anything. */
static int rebuild_slots(struct sampan_raft *r,
                         const struct sampan_membership *c)
{
    struct progress np[PRS_MAX];
    bool granted[PRS_MAX];
    bool rejected[PRS_MAX];
    bool kept[PRS_MAX] = {false};
    bool fresh[PRS_MAX] = {false};     /* new to the leader: send to it */
    bool allocated[PRS_MAX] = {false}; /* made here: freed on failure  */
    uint64_t want[SAMPAN_MEMBERSHIP_LISTED_MAX + 1];
    size_t n_want = 0;
    want[n_want++] = r->id;
    uint64_t members[SAMPAN_MEMBERSHIP_LISTED_MAX];
    uint32_t n_members = sampan_membership_ids(c, members);
    for (uint32_t i = 0; i < n_members; i++) {
        if (members[i] != r->id) {
            want[n_want++] = members[i];
        }
    }
    size_t n = 0;
    for (size_t w = 0; w < n_want; w++) {
        int slot = raft_voter_slot(r, want[w]);
        granted[n] = slot >= 0 && r->votes_granted[slot];
        rejected[n] = slot >= 0 && r->votes_rejected[slot];
        if (slot >= 0) {
            np[n] = r->prs[slot];
            kept[slot] = true;
            if (np[n].departing) {
                /* Removed, then added again: perhaps a new process on an
                 * empty disk. Its old match index says nothing about what
                 * it holds now (Figure 2's matchIndex is reinitialized for
                 * a new member), and counting it could commit entries a
                 * majority does not hold. */
                np[n].departing = false;
                progress_reset(&np[n], log_last_index(&r->log) + 1);
                np[n].last_heard = r->ticks;
                fresh[n] = true;
            }
        } else {
            int rv = progress_init(&np[n], want[w], r->cfg.max_inflight_msgs,
                                   r->cfg.max_inflight_bytes);
            if (rv != 0) {
                for (size_t i = 0; i < n; i++) {
                    if (allocated[i]) {
                        progress_destroy(&np[i]);
                    }
                }
                return rv;
            }
            progress_reset(&np[n], log_last_index(&r->log) + 1);
            np[n].last_heard = r->ticks; /* a full timeout to answer */
            fresh[n] = allocated[n] = true;
        }
        n++;
    }
    bool leader = r->role == SAMPAN_LEADER;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (kept[i]) {
            continue;
        }
        if (!leader || n == PRS_MAX) {
            progress_destroy(&r->prs[i]);
            continue;
        }
        np[n] = r->prs[i];
        if (!np[n].departing) {
            np[n].departing = true;
            np[n].depart_tick = r->ticks;
        }
        granted[n] = rejected[n] = false;
        n++;
    }
    memcpy(r->prs, np, n * sizeof(np[0]));
    memcpy(r->votes_granted, granted, n * sizeof(granted[0]));
    memcpy(r->votes_rejected, rejected, n * sizeof(rejected[0]));
    r->n_prs = n;
    if (leader) {
        for (size_t i = 0; i < n; i++) {
            if (fresh[i]) {
                replication_want_send(r, &r->prs[i]);
            }
        }
    }
    return 0;
}

int membership_set(struct sampan_raft *r, const struct sampan_membership *c,
                   uint64_t index, uint64_t term)
{
    if (index == r->conf_index && term == r->conf_term && r->n_prs > 0 &&
        conf_equal(c, &r->conf)) {
        return 0;
    }
    int rv = rebuild_slots(r, c);
    if (rv != 0) {
        return rv;
    }
    r->conf = *c;
    r->conf_index = index;
    r->conf_term = term;
    if (r->transferee != SAMPAN_NONE &&
        !sampan_membership_is_voter(c, r->transferee)) {
        r->transferee = SAMPAN_NONE; /* the target is no longer a voter */
    }
    return 0;
}

/* Destroys the slots `drop` selects and closes the gaps. */
static void compact_slots(struct sampan_raft *r,
                          bool (*drop)(const struct sampan_raft *,
                                       const struct progress *))
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (drop(r, &r->prs[i])) {
            progress_destroy(&r->prs[i]);
            continue;
        }
        if (n != i) { /* runs on every Ready: move only past a gap */
            r->prs[n] = r->prs[i];
            r->votes_granted[n] = r->votes_granted[i];
            r->votes_rejected[n] = r->votes_rejected[i];
        }
        n++;
    }
    r->n_prs = n;
}

static bool is_departing(const struct sampan_raft *r, const struct progress *pr)
{
    (void)r;
    return pr->departing;
}

void membership_drop_departing(struct sampan_raft *r)
{
    compact_slots(r, is_departing);
}

/* The configuration held by the last CONF entry in [lo, hi], if any. */
static int last_conf_entry(const struct sampan_raft *r, uint64_t lo,
                           uint64_t hi, struct sampan_membership *out,
                           const struct sampan_entry **found)
{
    *found = NULL;
    for (uint64_t i = hi; i >= lo && i > 0; i--) {
        const struct sampan_entry *e = log_entry(&r->log, i);
        if (e != NULL && e->type == SAMPAN_ENTRY_CONF) {
            *found = e;
            /* Entries were validated when they entered the log. */
            return sampan_membership_decode(e->data, e->len, out, NULL);
        }
    }
    return 0;
}

/* The configuration before any entry of the log: the snapshot's, or the
 * initial one. */
static const struct sampan_membership *base_conf(const struct sampan_raft *r)
{
    return r->snap.index > 0 ? &r->snap.conf : &r->cfg.members;
}

/* First index whose configuration the log (not the snapshot) decides. */
static uint64_t first_log_conf_index(const struct sampan_raft *r)
{
    uint64_t base =
        r->snap.index > r->log.offset ? r->snap.index : r->log.offset;
    return base + 1;
}

int membership_on_log_change(struct sampan_raft *r, uint64_t first)
{
    uint64_t last = log_last_index(&r->log);
    /* The entry that held the configuration survived if it precedes the
     * change; otherwise look through the whole log again. */
    bool survived = r->conf_index < first || r->conf_index == 0 ||
                    (r->conf_index <= last &&
                     log_match_term(&r->log, r->conf_index, r->conf_term));
    uint64_t lo = survived
                      ? (r->conf_index + 1 > first ? r->conf_index + 1 : first)
                      : first_log_conf_index(r);
    if (lo < first_log_conf_index(r)) {
        lo = first_log_conf_index(r);
    }
    struct sampan_membership c;
    const struct sampan_entry *e;
    int rv = last_conf_entry(r, lo, last, &c, &e);
    if (rv != 0) {
        return rv;
    }
    if (e != NULL) {
        return membership_set(r, &c, e->index, e->term);
    }
    if (!survived) {
        /* As at boot: the snapshot's configuration is that of its index. */
        return membership_set(r, base_conf(r), r->snap.index, r->snap.term);
    }
    return 0;
}

/* Whether this node knows the configuration before the first entry of
 * its log. A node that joined with an empty configuration and has no
 * snapshot does not: the cluster's initial configuration is in no entry
 * (thesis 4.1: it learns configurations from the log), so for indexes
 * before the first configuration entry it holds the answer is unknown. A
 * snapshot taken there would record an empty configuration, which no
 * node can restart from. */
static bool base_conf_known(const struct sampan_raft *r)
{
    return r->snap.index > 0 || r->cfg.members.n_voters > 0;
}

int sampan_raft_conf_at(const struct sampan_raft *r, uint64_t index,
                        struct sampan_membership *out)
{
    if (index < r->snap.index) {
        return SAMPAN_ECOMPACTED;
    }
    if (index > log_last_index(&r->log)) {
        return SAMPAN_EUNAVAIL;
    }
    if (index >= r->conf_index) {
        if (r->conf_index == 0 && !base_conf_known(r)) {
            return SAMPAN_EUNAVAIL;
        }
        *out = r->conf;
        return 0;
    }
    const struct sampan_entry *e;
    int rv = last_conf_entry(r, first_log_conf_index(r), index, out, &e);
    if (rv == 0 && e == NULL) {
        if (!base_conf_known(r)) {
            return SAMPAN_EUNAVAIL;
        }
        *out = *base_conf(r);
    }
    return rv;
}

const struct sampan_membership *
sampan_raft_membership(const struct sampan_raft *r, uint64_t *index)
{
    if (index != NULL) {
        *index = r->conf_index;
    }
    return &r->conf;
}

int sampan_raft_member_match(const struct sampan_raft *r, uint64_t id,
                             uint64_t *match)
{
    if (r->role != SAMPAN_LEADER) {
        return SAMPAN_ENOTLEADER;
    }
    int slot = raft_voter_slot(r, id);
    if (slot < 0 || r->prs[slot].departing) {
        return SAMPAN_ENOTMEMBER;
    }
    *match = r->prs[slot].match;
    return 0;
}

static bool committed_in_term(const struct sampan_raft *r)
{
    uint64_t term;
    return log_term(&r->log, r->log.committed, &term) == 0 && term == r->term;
}

/* A change may start only when none is pending and the leader has
 * committed an entry of its own term: otherwise a configuration from a
 * deposed leader could still commit beside ours (the single-server change
 * bug, Ongaro's raft-dev post of 2015). */
static bool change_allowed(const struct sampan_raft *r)
{
    return r->role == SAMPAN_LEADER && r->conf.n_outgoing == 0 &&
           r->conf_index <= r->log.committed && committed_in_term(r);
}

static bool caught_up(const struct sampan_raft *r, uint64_t id)
{
    int slot = raft_voter_slot(r, id);
    if (slot < 0) {
        return false;
    }
    /* It must hold the configuration that made it a member (so it is
     * alive and answering: a learner that never answered has match 0 and
     * would otherwise look caught up on a short log), and be within
     * promote_lag_entries of the end of the log. */
    uint64_t match = r->prs[slot].match;
    return match > 0 && match >= r->conf_index &&
           match + r->cfg.promote_lag_entries >= log_last_index(&r->log);
}

/* Appends the configuration entry for `next` and puts it into effect. */
static int append_conf(struct sampan_raft *r,
                       const struct sampan_membership *next, uint64_t *index)
{
    uint8_t buf[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t len;
    int rv = sampan_membership_encode(next, buf, sizeof(buf), &len);
    if (rv != 0) {
        return rv;
    }
    uint64_t at;
    rv =
        replication_append_local(r, SAMPAN_ENTRY_CONF, buf, (uint32_t)len, &at);
    if (rv != 0) {
        return rv;
    }
    if (index != NULL) {
        *index = at;
    }
    rv = membership_set(r, next, at, r->term);
    if (rv != 0) {
        /* The entry is in the log but its slots could not be made: the
         * configuration in effect would disagree with the log. */
        log_truncate_after(&r->log, at - 1);
        return rv;
    }
    return 0;
}

int sampan_raft_change_membership(struct sampan_raft *r,
                                  const struct sampan_conf_change *changes,
                                  size_t n, uint64_t *index)
{
    if (index != NULL) {
        *index = 0;
    }
    if (r->role != SAMPAN_LEADER) {
        return SAMPAN_ENOTLEADER;
    }
    if (n == 0 || changes == NULL || n > SAMPAN_MAX_MEMBERS) {
        return SAMPAN_EINVAL;
    }
    if (!change_allowed(r) || r->transferee != SAMPAN_NONE) {
        return SAMPAN_EBUSY;
    }
    bool ready[SAMPAN_MAX_MEMBERS];
    for (size_t i = 0; i < n; i++) {
        ready[i] = caught_up(r, changes[i].id);
    }
    struct sampan_membership next;
    int rv = conf_apply_changes(&r->conf, changes, n, ready, &next);
    if (rv != 0) {
        return rv;
    }
    return append_conf(r, &next, index);
}

/* Thesis 4.2.2: a leader that is not part of the new configuration steps
 * down once it is committed. It first asks the most up-to-date voter to
 * campaign at once, so the cluster is leaderless only briefly. */
static void step_down_removed(struct sampan_raft *r)
{
    struct progress *best = NULL;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id != r->id && !pr->departing &&
            sampan_membership_is_voter(&r->conf, pr->id) &&
            (best == NULL || pr->match > best->match)) {
            best = pr;
        }
    }
    if (best != NULL && best->match == log_last_index(&r->log)) {
        struct sampan_msg m = {.type = SAMPAN_MSG_TIMEOUT_NOW, .to = best->id};
        raft_send(r, &m, false);
    }
    raft_become_follower(r, r->term, SAMPAN_NONE);
}

/* Two election timeouts of appends and heartbeats (whose commit index
 * tells it) after a member's removal committed, the leader forgets it. */
static bool departed(const struct sampan_raft *r, const struct progress *pr)
{
    return pr->departing && r->log.committed >= r->conf_index &&
           r->ticks - pr->depart_tick >= 2u * r->cfg.election_ticks;
}

static void promote_caught_up(struct sampan_raft *r)
{
    for (uint32_t i = 0; i < r->conf.n_learners; i++) {
        uint64_t id = r->conf.learners[i];
        if ((r->conf.learners_promote >> i & 1u) && caught_up(r, id)) {
            struct sampan_conf_change ch = {.type = SAMPAN_CONF_ADD_VOTER,
                                            .id = id};
            /* One promotion at a time: each is its own change. */
            sampan_raft_change_membership(r, &ch, 1, NULL);
            return;
        }
    }
}

void membership_leader_check(struct sampan_raft *r)
{
    if (r->role != SAMPAN_LEADER) {
        return;
    }
    compact_slots(r, departed);
    if (r->log.committed < r->conf_index || !committed_in_term(r)) {
        return;
    }
    if (r->conf.n_outgoing > 0) {
        /* Thesis 4.3: once the joint configuration is committed, the
         * leader moves on to the new one by itself. */
        struct sampan_membership next;
        conf_leave_joint(&r->conf, &next);
        append_conf(r, &next, NULL);
        return;
    }
    if (!membership_self_is_voter(r)) {
        step_down_removed(r);
        return;
    }
    if (r->conf.learners_promote != 0 && r->transferee == SAMPAN_NONE) {
        promote_caught_up(r);
    }
}
