/* raft/election.c: leader election (section 5.2), the election restriction
 * (section 5.4.1), PreVote (thesis section 9.6) and leader stickiness (thesis
 * section 4.2.3). */
#include <string.h>

#include "raft/internal.h"

bool election_in_lease(const struct sampan_raft *r)
{
    /* A follower that heard from a leader less than a minimum election
     * timeout ago believes that leader is alive. With PreVote or
     * CheckQuorum on, such a follower refuses to help depose it. */
    bool sticky = !r->cfg.disable_check_quorum || !r->cfg.disable_pre_vote;
    if (r->boot_quiet > 0) {
        return true; /* lease reads: see sampan_raft_new */
    }
    return sticky && (r->role == SAMPAN_FOLLOWER || r->role == SAMPAN_LEADER) &&
           r->leader != SAMPAN_NONE &&
           r->election_elapsed < r->cfg.election_ticks;
}

static void tally(struct sampan_raft *r, uint64_t from, bool granted)
{
    int slot = raft_voter_slot(r, from);
    if (slot < 0) {
        return;
    }
    if (granted) {
        r->votes_granted[slot] = true;
        r->votes_rejected[slot] = false;
    } else if (!r->votes_granted[slot]) {
        r->votes_rejected[slot] = true;
    }
}

static enum vote_result vote_result(const struct sampan_raft *r)
{
    return quorum_vote(r);
}

static void campaign(struct sampan_raft *r, bool pre_vote, bool transfer);

void election_campaign(struct sampan_raft *r, bool pre_vote)
{
    campaign(r, pre_vote, false);
}

void election_campaign_transfer(struct sampan_raft *r)
{
    /* Thesis 3.10: the target of a transfer starts a real election at
     * once; PreVote would only delay it, the old leader asked for it. */
    campaign(r, false, true);
}

static void campaign(struct sampan_raft *r, bool pre_vote, bool transfer)
{
    if (r->term >= SAMPAN_MAX_TERM) {
        return; /* the term space is exhausted: never wrap (Figure 2) */
    }
    if (!membership_may_campaign(r)) {
        return; /* learners and non-members never campaign */
    }
    uint8_t type;
    uint64_t term;
    if (pre_vote) {
        raft_become_precandidate(r);
        type = SAMPAN_MSG_PREVOTE;
        term = r->term + 1; /* the term we would campaign in */
    } else {
        raft_become_candidate(r);
        type = SAMPAN_MSG_VOTE;
        term = r->term;
    }
    tally(r, r->id, true);
    if (vote_result(r) == VOTE_WON) {
        /* A single-voter cluster wins at once. */
        if (pre_vote) {
            election_campaign(r, false);
        } else {
            raft_become_leader(r);
        }
        return;
    }
    for (size_t i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id == r->id ||
            !sampan_membership_is_voter(&r->conf, r->prs[i].id)) {
            continue; /* ask the voters only (both sets when joint) */
        }
        struct sampan_msg m = {.type = type,
                               .to = r->prs[i].id,
                               .term = term,
                               .index = log_last_index(&r->log),
                               .log_term = log_last_term(&r->log),
                               .context =
                                   transfer ? SAMPAN_CAMPAIGN_TRANSFER : 0};
        /* A real vote request depends on our own vote for ourselves being
         * durable: were we to crash and forget it, we could vote twice in
         * this term (Figure 2: persist before responding to RPCs). */
        raft_send(r, &m, !pre_vote);
    }
}

int election_on_vote_request(struct sampan_raft *r, const struct sampan_msg *m)
{
    bool pre = m->type == SAMPAN_MSG_PREVOTE;
    /* Figure 2, RequestVote receiver rule 2: grant if we have not voted for
     * someone else in this term (a pre-vote for a later term is always
     * possible), and the candidate's log is at least as up to date as ours
     * (section 5.4.1). */
    bool can_vote = r->vote == m->from ||
                    (r->vote == SAMPAN_NONE && r->leader == SAMPAN_NONE) ||
                    (pre && m->term > r->term);
    bool grant = can_vote && log_is_up_to_date(&r->log, m->index, m->log_term);
    struct sampan_msg resp = {
        .type = pre ? SAMPAN_MSG_PREVOTE_RESP : SAMPAN_MSG_VOTE_RESP,
        .to = m->from,
        .reject = !grant,
        /* A granted pre-vote answers in the term it was asked for. */
        .term = grant ? m->term : r->term,
    };
    if (grant && !pre) {
        r->vote = m->from;
        raft_reset_election_timer(r);
    }
    /* A granted vote must be durable before it is sent (Figure 2). */
    raft_send(r, &resp, !pre);
    return 0;
}

int election_on_vote_response(struct sampan_raft *r, const struct sampan_msg *m)
{
    bool pre = m->type == SAMPAN_MSG_PREVOTE_RESP;
    if (pre ? r->role != SAMPAN_PRECANDIDATE : r->role != SAMPAN_CANDIDATE) {
        return 0; /* a late answer to an election already decided */
    }
    if (pre && !m->reject && m->term != r->term + 1) {
        return 0;
    }
    tally(r, m->from, !m->reject);
    switch (vote_result(r)) {
    case VOTE_WON:
        if (pre) {
            election_campaign(r, false);
        } else {
            raft_become_leader(r);
        }
        break;
    case VOTE_LOST:
        raft_become_follower(r, r->term, SAMPAN_NONE);
        break;
    case VOTE_PENDING:
        break;
    }
    return 0;
}
