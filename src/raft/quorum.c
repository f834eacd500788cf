/* raft/quorum.c: majority arithmetic over the configuration in effect: the
 * commit index a majority has reached (Figure 2, "Rules for Servers",
 * leaders, last bullet), the outcome of a vote, and their joint forms: in a
 * joint configuration every decision needs a majority of the new voters
 * AND a majority of the old ones (thesis section 4.3). Learners never
 * count. */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

uint64_t quorum_committed_index(const uint64_t *match, size_t n)
{
    uint64_t sorted[SAMPAN_MAX_VOTERS];
    if (n == 0 || n > SAMPAN_MAX_VOTERS) {
        return 0;
    }
    memcpy(sorted, match, n * sizeof(*match));
    qsort(sorted, n, sizeof(*sorted), cmp_desc);
    /* The (n/2+1)-th largest value is held by a majority. */
    return sorted[n / 2];
}

enum vote_result quorum_vote_result(size_t n_voters, size_t granted,
                                    size_t rejected)
{
    size_t majority = n_voters / 2 + 1;
    if (granted >= majority) {
        return VOTE_WON;
    }
    if (rejected >= majority || n_voters - rejected < majority) {
        return VOTE_LOST;
    }
    return VOTE_PENDING;
}

/* Values of the listed voters, looked up by progress slot. */
static size_t gather(const struct sampan_raft *r, const uint64_t *ids,
                     uint32_t n, const uint64_t *by_slot, uint64_t *out)
{
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        int slot = raft_voter_slot(r, ids[i]);
        out[k++] = slot < 0 ? 0 : by_slot[slot];
    }
    return k;
}

uint64_t quorum_index(const struct sampan_raft *r, const uint64_t *by_slot)
{
    uint64_t vals[SAMPAN_MAX_VOTERS];
    const struct sampan_membership *c = &r->conf;
    size_t n = gather(r, c->voters, c->n_voters, by_slot, vals);
    uint64_t index = quorum_committed_index(vals, n);
    if (c->n_outgoing > 0) {
        n = gather(r, c->outgoing, c->n_outgoing, by_slot, vals);
        uint64_t old = quorum_committed_index(vals, n);
        index = old < index ? old : index;
    }
    return index;
}

static enum vote_result set_vote(const struct sampan_raft *r,
                                 const uint64_t *ids, uint32_t n)
{
    size_t granted = 0;
    size_t rejected = 0;
    for (uint32_t i = 0; i < n; i++) {
        int slot = raft_voter_slot(r, ids[i]);
        if (slot >= 0) {
            granted += r->votes_granted[slot];
            rejected += r->votes_rejected[slot];
        }
    }
    return quorum_vote_result(n, granted, rejected);
}

enum vote_result quorum_vote(const struct sampan_raft *r)
{
    const struct sampan_membership *c = &r->conf;
    if (c->n_voters == 0) {
        return VOTE_LOST;
    }
    enum vote_result in = set_vote(r, c->voters, c->n_voters);
    if (c->n_outgoing == 0) {
        return in;
    }
    enum vote_result out = set_vote(r, c->outgoing, c->n_outgoing);
    if (in == VOTE_LOST || out == VOTE_LOST) {
        return VOTE_LOST;
    }
    return in == VOTE_WON && out == VOTE_WON ? VOTE_WON : VOTE_PENDING;
}

bool quorum_self_only(const struct sampan_raft *r)
{
    const struct sampan_membership *c = &r->conf;
    return c->n_voters == 1 && c->voters[0] == r->id && c->n_outgoing == 0;
}
