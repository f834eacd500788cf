/* raft/validate.c: the core never trusts its input. Configurations, boot
 * state and every message are checked here before anything acts on them, so
 * a malformed or impossible message is refused with SAMPAN_EINVAL instead of
 * corrupting state or crashing. */
#include "raft/internal.h"

int validate_config(const struct sampan_raft_config *cfg)
{
    if (cfg == NULL || cfg->id == SAMPAN_NONE) {
        return SAMPAN_EINVAL;
    }
    /* The initial configuration names this node, or is empty (a node
     * joining an existing cluster learns its configuration from it). */
    const struct sampan_membership *mb = &cfg->members;
    if (sampan_membership_validate(mb, NULL) != 0 ||
        (mb->n_voters == 0 && mb->n_learners > 0) ||
        (mb->n_voters > 0 && !sampan_membership_is_member(mb, cfg->id))) {
        return SAMPAN_EINVAL;
    }
    if (cfg->election_ticks == 0 || cfg->heartbeat_ticks == 0 ||
        cfg->heartbeat_ticks >= cfg->election_ticks) {
        return SAMPAN_EINVAL;
    }
    if (cfg->max_inflight_msgs == 0 || cfg->max_msg_bytes == 0 ||
        cfg->max_ready_msgs == 0 || cfg->max_entry_bytes == 0 ||
        cfg->max_entry_bytes > UINT32_MAX || cfg->max_uncommitted_bytes == 0 ||
        cfg->snapshot_chunk_bytes == 0 || cfg->max_pending_reads == 0) {
        return SAMPAN_EINVAL;
    }
    /* A lease is only sound if the leader steps down when it loses the
     * majority, and if the margin leaves some lease at all. */
    if (cfg->lease_reads && (cfg->disable_check_quorum ||
                             cfg->lease_margin_ticks >= cfg->election_ticks)) {
        return SAMPAN_EINVAL;
    }
    return 0;
}

/* A configuration carried by an entry or a snapshot: valid, with voters. */
static int validate_membership(const struct sampan_membership *mb)
{
    if (sampan_membership_validate(mb, NULL) != 0 || mb->n_voters == 0) {
        return SAMPAN_EINVAL;
    }
    return 0;
}

static int validate_entry(const struct sampan_entry *e)
{
    if (!sampan_entry_type_known(e->type)) {
        return SAMPAN_EINVAL;
    }
    if (e->len > 0 && e->data == NULL) {
        return SAMPAN_EINVAL;
    }
    if (e->type == SAMPAN_ENTRY_CONF) {
        struct sampan_membership mb;
        if (sampan_membership_decode(e->data, e->len, &mb, NULL) != 0 ||
            validate_membership(&mb) != 0) {
            return SAMPAN_EINVAL;
        }
    }
    return 0;
}

/* Entries must be consecutive from first_index with non-decreasing terms
 * no greater than max_term. */
static int validate_run(const struct sampan_entry *e, size_t n,
                        uint64_t first_index, uint64_t min_term,
                        uint64_t max_term)
{
    if (n > 0 && e == NULL) {
        return SAMPAN_EINVAL;
    }
    if (first_index + n < first_index) {
        return SAMPAN_EINVAL; /* index overflow */
    }
    uint64_t term = min_term;
    for (size_t i = 0; i < n; i++) {
        if (validate_entry(&e[i]) != 0 || e[i].index != first_index + i ||
            e[i].term < term || e[i].term > max_term || e[i].term == 0) {
            return SAMPAN_EINVAL;
        }
        term = e[i].term;
    }
    return 0;
}

int validate_boot(const struct sampan_boot *boot)
{
    const struct sampan_hard_state *hs = &boot->hard_state;
    if (hs->term > SAMPAN_MAX_TERM || boot->snapshot_index > SAMPAN_MAX_INDEX ||
        boot->n_entries > SAMPAN_MAX_INDEX - boot->snapshot_index ||
        boot->snapshot_term > hs->term ||
        (boot->snapshot_index == 0) != (boot->snapshot_term == 0) ||
        (boot->snapshot_index > 0 &&
         validate_membership(&boot->snapshot_conf) != 0)) {
        return SAMPAN_EINVAL;
    }
    return validate_run(boot->entries, boot->n_entries,
                        boot->snapshot_index + 1, boot->snapshot_term,
                        hs->term);
}

/* A leader or candidate may be a member we do not know of yet: our log
 * may lag the configuration that added it (or we are joining), so its
 * appends, snapshots and vote requests are heard (thesis 4.1: servers
 * process requests from servers not in their configuration). */
static bool from_any_sender(uint8_t type)
{
    return type == SAMPAN_MSG_APPEND || type == SAMPAN_MSG_HEARTBEAT ||
           type == SAMPAN_MSG_SNAPSHOT || type == SAMPAN_MSG_PREVOTE ||
           type == SAMPAN_MSG_VOTE || type == SAMPAN_MSG_TIMEOUT_NOW;
}

int validate_msg(const struct sampan_raft *r, const struct sampan_msg *m)
{
    if (m == NULL || m->type < 1 || m->type > SAMPAN_MSG_TYPE_MAX) {
        return SAMPAN_EINVAL;
    }
    if (m->to != r->id || m->from == r->id) {
        return SAMPAN_EINVAL;
    }
    if (m->from == SAMPAN_NONE ||
        (raft_voter_slot(r, m->from) < 0 && !from_any_sender(m->type))) {
        /* Answers, proposals and reads come from members only. */
        return SAMPAN_ENOTMEMBER;
    }
    bool termless =
        m->type == SAMPAN_MSG_PROPOSE || m->type == SAMPAN_MSG_READ_INDEX;
    if ((!termless && m->term == 0) || m->term > SAMPAN_MAX_TERM ||
        m->index > SAMPAN_MAX_INDEX || m->commit > SAMPAN_MAX_INDEX ||
        m->snapshot.index > SAMPAN_MAX_INDEX ||
        m->n_entries > SAMPAN_MAX_INDEX - m->index) {
        return SAMPAN_EINVAL;
    }
    if (m->n_entries > 0 && m->type != SAMPAN_MSG_APPEND &&
        m->type != SAMPAN_MSG_PROPOSE) {
        return SAMPAN_EINVAL;
    }
    if ((m->len > 0 || m->data != NULL) && m->type != SAMPAN_MSG_SNAPSHOT) {
        return SAMPAN_EINVAL;
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        if (m->entries == NULL || validate_entry(&m->entries[i]) != 0 ||
            m->entries[i].len > r->cfg.max_entry_bytes) {
            return SAMPAN_EINVAL;
        }
    }
    switch (m->type) {
    case SAMPAN_MSG_PREVOTE:
    case SAMPAN_MSG_VOTE:
        /* A candidate's last entry cannot be from a later term than the
         * one it campaigns in; an empty log has term 0. */
        if (m->log_term > m->term || (m->index == 0 && m->log_term != 0)) {
            return SAMPAN_EINVAL;
        }
        break;
    case SAMPAN_MSG_APPEND:
        if (m->log_term > m->term || (m->index == 0 && m->log_term != 0)) {
            return SAMPAN_EINVAL;
        }
        /* Entries follow prevLogIndex, their terms are no older than
         * prevLogTerm and no newer than the leader's term. */
        return validate_run(m->entries, m->n_entries, m->index + 1, m->log_term,
                            m->term);
    case SAMPAN_MSG_SNAPSHOT:
        if (m->snapshot.index == 0 || m->snapshot.term == 0 ||
            m->snapshot.term > m->term ||
            validate_membership(&m->snapshot.conf) != 0 ||
            (m->len > 0 && m->data == NULL) ||
            m->len > r->cfg.max_entry_bytes || m->offset + m->len < m->offset) {
            return SAMPAN_EINVAL;
        }
        break;
    case SAMPAN_MSG_APPEND_RESP:
        if (m->reject && (m->hint_index > m->index ||
                          (m->hint_index == 0 && m->hint_term != 0))) {
            return SAMPAN_EINVAL;
        }
        break;
    default:
        break;
    }
    return 0;
}
