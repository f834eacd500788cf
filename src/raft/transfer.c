/* raft/transfer.c: leadership transfer (thesis section 3.10). The leader
 * stops taking proposals, brings the target's log up to date, and sends it
 * TIMEOUT_NOW; the target campaigns at once, without PreVote, and voters
 * set leader stickiness aside for it. The attempt is abandoned after an
 * election timeout, so a dead target cannot block the cluster. */
#include "raft/internal.h"

int sampan_raft_transfer_leader(struct sampan_raft *r, uint64_t target)
{
    if (r->role != SAMPAN_LEADER) {
        return SAMPAN_ENOTLEADER;
    }
    if (target == r->id) {
        return SAMPAN_EINVAL;
    }
    struct progress *pr = raft_progress(r, target);
    if (pr == NULL || !sampan_membership_is_voter(&r->conf, target)) {
        return SAMPAN_ENOTMEMBER; /* only a voter can lead */
    }
    if (r->transferee == target) {
        return 0; /* already under way */
    }
    r->transferee = target;
    r->transfer_elapsed = 0;
    pr->timeout_now_sent = false;
    transfer_maybe_send_timeout_now(r, pr);
    if (!pr->timeout_now_sent) {
        replication_want_send(r, pr); /* catch it up first */
    }
    return 0;
}

void transfer_maybe_send_timeout_now(struct sampan_raft *r, struct progress *pr)
{
    if (r->transferee != pr->id || pr->timeout_now_sent ||
        pr->match != log_last_index(&r->log)) {
        return;
    }
    struct sampan_msg m = {.type = SAMPAN_MSG_TIMEOUT_NOW, .to = pr->id};
    raft_send(r, &m, false);
    pr->timeout_now_sent = true;
    r->timeout_now_in_term = true;
}

void transfer_tick(struct sampan_raft *r)
{
    if (r->transferee == SAMPAN_NONE) {
        return;
    }
    if (++r->transfer_elapsed >= r->cfg.election_ticks) {
        r->transferee = SAMPAN_NONE; /* abandoned: take proposals again */
    }
}

int transfer_on_timeout_now(struct sampan_raft *r, const struct sampan_msg *m)
{
    if (r->role == SAMPAN_LEADER || m->from != r->leader) {
        return 0;
    }
    election_campaign_transfer(r);
    return 0;
}
