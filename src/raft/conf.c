/* raft/conf.c: configurations as values (thesis chapter 4): the rules a
 * membership obeys, its byte encoding (the payload of SAMPAN_ENTRY_CONF
 * entries, and the form snapshot headers and snapshot messages carry), and
 * the computation of the configuration a set of changes leads to. Nothing
 * here touches a core; raft/membership.c puts configurations into effect.
 *
 * Encoding (little-endian, docs/disk-format.md "Configuration"):
 *   0  u8  format version (1)
 *   1  u8  n_voters, 2 u8 n_outgoing, 3 u8 n_learners, 4 u8 n_addrs
 *   5  3 zero bytes
 *   8  u32 learners_promote
 *   12 u64 voters[n_voters], outgoing[n_outgoing], learners[n_learners]
 *   then n_addrs times: u64 id, u8 length (1..63), that many address bytes */
#include <string.h>

#include "codec/le.h"
#include "raft/internal.h"

#define CONF_FORMAT_VERSION 1u
#define CONF_HEADER_BYTES 12u

static bool id_in(const uint64_t *ids, uint32_t n, uint64_t id)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

bool sampan_entry_type_known(uint8_t type)
{
    return type == SAMPAN_ENTRY_NORMAL || type == SAMPAN_ENTRY_NOOP ||
           type == SAMPAN_ENTRY_CONF;
}

bool sampan_membership_is_voter(const struct sampan_membership *m, uint64_t id)
{
    return id_in(m->voters, m->n_voters, id) ||
           id_in(m->outgoing, m->n_outgoing, id);
}

bool sampan_membership_is_learner(const struct sampan_membership *m,
                                  uint64_t id)
{
    return id_in(m->learners, m->n_learners, id);
}

bool sampan_membership_is_member(const struct sampan_membership *m, uint64_t id)
{
    return sampan_membership_is_voter(m, id) ||
           sampan_membership_is_learner(m, id);
}

const char *sampan_membership_addr(const struct sampan_membership *m,
                                   uint64_t id)
{
    for (uint32_t i = 0; i < m->n_addrs && i < SAMPAN_MAX_MEMBERS; i++) {
        if (m->addrs[i].id == id) {
            return m->addrs[i].addr;
        }
    }
    return NULL;
}

static int bad(const char **why, const char *what)
{
    if (why != NULL) {
        *why = what;
    }
    return SAMPAN_EINVAL;
}

/* Ids non-zero and distinct within one list. */
static bool list_ok(const uint64_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == SAMPAN_NONE || id_in(ids, i, ids[i])) {
            return false;
        }
    }
    return true;
}

uint32_t sampan_membership_ids(const struct sampan_membership *m,
                               uint64_t ids[SAMPAN_MEMBERSHIP_LISTED_MAX])
{
    uint32_t n = 0;
    const uint64_t *lists[3] = {m->voters, m->outgoing, m->learners};
    uint32_t counts[3] = {m->n_voters, m->n_outgoing, m->n_learners};
    for (int l = 0; l < 3; l++) {
        for (uint32_t i = 0; i < counts[l]; i++) {
            if (!id_in(ids, n, lists[l][i])) {
                ids[n++] = lists[l][i];
            }
        }
    }
    return n;
}

int sampan_membership_validate(const struct sampan_membership *m,
                               const char **why)
{
    if (m->n_voters > SAMPAN_MAX_VOTERS || m->n_outgoing > SAMPAN_MAX_VOTERS ||
        m->n_learners > SAMPAN_MAX_MEMBERS || m->n_addrs > SAMPAN_MAX_MEMBERS) {
        return bad(why, "too many members in a list");
    }
    if (!list_ok(m->voters, m->n_voters) ||
        !list_ok(m->outgoing, m->n_outgoing) ||
        !list_ok(m->learners, m->n_learners)) {
        return bad(why, "member id zero or listed twice");
    }
    if (m->n_outgoing > 0 && m->n_voters == 0) {
        return bad(why, "joint configuration without incoming voters");
    }
    for (uint32_t i = 0; i < m->n_learners; i++) {
        if (sampan_membership_is_voter(m, m->learners[i])) {
            return bad(why, "a learner is also a voter");
        }
    }
    if (m->n_learners < 32 && (m->learners_promote >> m->n_learners) != 0) {
        return bad(why, "promotion mark on a missing learner");
    }
    uint64_t all[SAMPAN_MEMBERSHIP_LISTED_MAX];
    if (sampan_membership_ids(m, all) > SAMPAN_MAX_MEMBERS) {
        return bad(why, "more than SAMPAN_MAX_MEMBERS members");
    }
    for (uint32_t i = 0; i < m->n_addrs; i++) {
        const struct sampan_member_addr *a = &m->addrs[i];
        size_t len = strnlen(a->addr, SAMPAN_ADDR_MAX);
        if (len == 0 || len == SAMPAN_ADDR_MAX) {
            return bad(why, "member address empty or unterminated");
        }
        if (!sampan_membership_is_member(m, a->id)) {
            return bad(why, "address for a non-member");
        }
        for (uint32_t j = 0; j < i; j++) {
            if (m->addrs[j].id == a->id) {
                return bad(why, "two addresses for one member");
            }
        }
    }
    return 0;
}

int sampan_membership_encode(const struct sampan_membership *m, uint8_t *out,
                             size_t cap, size_t *len)
{
    *len = 0;
    if (sampan_membership_validate(m, NULL) != 0) {
        return SAMPAN_EINVAL;
    }
    size_t need = CONF_HEADER_BYTES +
                  8u * ((size_t)m->n_voters + m->n_outgoing + m->n_learners);
    for (uint32_t i = 0; i < m->n_addrs; i++) {
        need += 9u + strlen(m->addrs[i].addr);
    }
    if (need > cap) {
        return SAMPAN_ETOOBIG;
    }
    memset(out, 0, CONF_HEADER_BYTES);
    out[0] = CONF_FORMAT_VERSION;
    out[1] = (uint8_t)m->n_voters;
    out[2] = (uint8_t)m->n_outgoing;
    out[3] = (uint8_t)m->n_learners;
    out[4] = (uint8_t)m->n_addrs;
    put32(out + 8, m->learners_promote);
    uint8_t *p = out + CONF_HEADER_BYTES;
    const uint64_t *lists[3] = {m->voters, m->outgoing, m->learners};
    uint32_t counts[3] = {m->n_voters, m->n_outgoing, m->n_learners};
    for (int l = 0; l < 3; l++) {
        for (uint32_t i = 0; i < counts[l]; i++, p += 8) {
            put64(p, lists[l][i]);
        }
    }
    for (uint32_t i = 0; i < m->n_addrs; i++) {
        size_t alen = strlen(m->addrs[i].addr);
        put64(p, m->addrs[i].id);
        p[8] = (uint8_t)alen;
        memcpy(p + 9, m->addrs[i].addr, alen);
        p += 9 + alen;
    }
    *len = (size_t)(p - out);
    return 0;
}

int sampan_membership_decode(const uint8_t *buf, size_t len,
                             struct sampan_membership *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    if (len < CONF_HEADER_BYTES) {
        return bad(why, "configuration shorter than its header");
    }
    if (buf[0] != CONF_FORMAT_VERSION) {
        return bad(why, "unknown configuration format version");
    }
    if (buf[5] != 0 || buf[6] != 0 || buf[7] != 0) {
        return bad(why, "reserved configuration bytes not zero");
    }
    m->n_voters = buf[1];
    m->n_outgoing = buf[2];
    m->n_learners = buf[3];
    m->n_addrs = buf[4];
    m->learners_promote = get32(buf + 8);
    if (m->n_voters > SAMPAN_MAX_VOTERS || m->n_outgoing > SAMPAN_MAX_VOTERS ||
        m->n_learners > SAMPAN_MAX_MEMBERS || m->n_addrs > SAMPAN_MAX_MEMBERS) {
        memset(m, 0, sizeof(*m));
        return bad(why, "too many members in a list");
    }
    size_t ids = (size_t)m->n_voters + m->n_outgoing + m->n_learners;
    if (len - CONF_HEADER_BYTES < 8u * ids) {
        memset(m, 0, sizeof(*m));
        return bad(why, "member ids past the end of the configuration");
    }
    const uint8_t *p = buf + CONF_HEADER_BYTES;
    const uint8_t *end = buf + len;
    uint64_t *lists[3] = {m->voters, m->outgoing, m->learners};
    uint32_t counts[3] = {m->n_voters, m->n_outgoing, m->n_learners};
    for (int l = 0; l < 3; l++) {
        for (uint32_t i = 0; i < counts[l]; i++, p += 8) {
            lists[l][i] = get64(p);
        }
    }
    for (uint32_t i = 0; i < m->n_addrs; i++) {
        if (end - p < 9 || p[8] == 0 || p[8] >= SAMPAN_ADDR_MAX ||
            end - p - 9 < p[8]) {
            memset(m, 0, sizeof(*m));
            return bad(why, "member address past the end or too long");
        }
        m->addrs[i].id = get64(p);
        memcpy(m->addrs[i].addr, p + 9, p[8]);
        if (memchr(m->addrs[i].addr, '\0', p[8]) != NULL) {
            memset(m, 0, sizeof(*m));
            return bad(why, "member address contains a NUL byte");
        }
        p += 9 + p[8];
    }
    if (p != end) {
        memset(m, 0, sizeof(*m));
        return bad(why, "trailing bytes after the configuration");
    }
    int rv = sampan_membership_validate(m, why);
    if (rv != 0) {
        memset(m, 0, sizeof(*m));
    }
    return rv;
}

bool conf_equal(const struct sampan_membership *a,
                const struct sampan_membership *b)
{
    uint8_t ea[SAMPAN_MEMBERSHIP_MAX_BYTES];
    uint8_t eb[SAMPAN_MEMBERSHIP_MAX_BYTES];
    size_t la;
    size_t lb;
    if (sampan_membership_encode(a, ea, sizeof(ea), &la) != 0 ||
        sampan_membership_encode(b, eb, sizeof(eb), &lb) != 0) {
        return false;
    }
    return la == lb && memcmp(ea, eb, la) == 0;
}

static void list_remove(uint64_t *ids, uint32_t *n, uint64_t id)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (ids[i] == id) {
            memmove(&ids[i], &ids[i + 1], (*n - i - 1) * sizeof(*ids));
            (*n)--;
            return;
        }
    }
}

static int learner_slot(const struct sampan_membership *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n_learners; i++) {
        if (m->learners[i] == id) {
            return (int)i;
        }
    }
    return -1;
}

static void remove_learner(struct sampan_membership *m, uint64_t id)
{
    int slot = learner_slot(m, id);
    if (slot < 0) {
        return;
    }
    /* Keep the promotion marks aligned with the learners they mark. */
    uint32_t low = m->learners_promote & ((1u << slot) - 1u);
    uint32_t high = (uint32_t)((uint64_t)m->learners_promote >> (slot + 1));
    m->learners_promote = low | (high << slot);
    list_remove(m->learners, &m->n_learners, id);
}

static int add_learner(struct sampan_membership *m, uint64_t id, bool promote)
{
    if (m->n_learners >= SAMPAN_MAX_MEMBERS) {
        return SAMPAN_EINVAL;
    }
    if (promote) {
        m->learners_promote |= 1u << m->n_learners;
    }
    m->learners[m->n_learners++] = id;
    return 0;
}

static void remove_addr(struct sampan_membership *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n_addrs; i++) {
        if (m->addrs[i].id == id) {
            memmove(&m->addrs[i], &m->addrs[i + 1],
                    (m->n_addrs - i - 1) * sizeof(m->addrs[0]));
            m->n_addrs--;
            return;
        }
    }
}

/* Drops the addresses of ids that are no longer members. */
static void prune_addrs(struct sampan_membership *m)
{
    for (uint32_t i = m->n_addrs; i-- > 0;) {
        if (!sampan_membership_is_member(m, m->addrs[i].id)) {
            remove_addr(m, m->addrs[i].id);
        }
    }
}

static int set_addr(struct sampan_membership *m, uint64_t id, const char *addr)
{
    if (addr == NULL) {
        return 0;
    }
    size_t len = strlen(addr);
    if (len == 0 || len >= SAMPAN_ADDR_MAX) {
        return SAMPAN_EINVAL;
    }
    remove_addr(m, id);
    if (m->n_addrs >= SAMPAN_MAX_MEMBERS) {
        return SAMPAN_EINVAL;
    }
    m->addrs[m->n_addrs].id = id;
    memcpy(m->addrs[m->n_addrs].addr, addr, len + 1);
    m->n_addrs++;
    return 0;
}

/* Voters that are in one set and not the other. */
static uint32_t voters_changed(const struct sampan_membership *a,
                               const struct sampan_membership *b)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->n_voters; i++) {
        n += !id_in(b->voters, b->n_voters, a->voters[i]);
    }
    for (uint32_t i = 0; i < b->n_voters; i++) {
        n += !id_in(a->voters, a->n_voters, b->voters[i]);
    }
    return n;
}

int conf_apply_changes(const struct sampan_membership *cur,
                       const struct sampan_conf_change *ch, size_t n,
                       const bool *caught_up, struct sampan_membership *out)
{
    if (n == 0 || ch == NULL || cur->n_outgoing > 0) {
        return SAMPAN_EINVAL;
    }
    struct sampan_membership next = *cur;
    bool demoted = false;
    bool deferred = false; /* an ADD_VOTER left a learner for now */
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ch[i].id;
        bool voter = id_in(next.voters, next.n_voters, id);
        bool learner = learner_slot(&next, id) >= 0;
        if (id == SAMPAN_NONE) {
            return SAMPAN_EINVAL;
        }
        switch (ch[i].type) {
        case SAMPAN_CONF_ADD_VOTER:
            if (voter) {
                break;
            }
            if (caught_up != NULL && caught_up[i] && learner) {
                remove_learner(&next, id);
                if (next.n_voters >= SAMPAN_MAX_VOTERS) {
                    return SAMPAN_EINVAL;
                }
                next.voters[next.n_voters++] = id;
            } else {
                /* Joins (or stays) a learner, marked for promotion. */
                deferred = true;
                remove_learner(&next, id);
                if (add_learner(&next, id, true) != 0) {
                    return SAMPAN_EINVAL;
                }
            }
            break;
        case SAMPAN_CONF_ADD_LEARNER:
            if (voter) {
                list_remove(next.voters, &next.n_voters, id);
                demoted = true;
            }
            remove_learner(&next, id);
            if (add_learner(&next, id, false) != 0) {
                return SAMPAN_EINVAL;
            }
            break;
        case SAMPAN_CONF_REMOVE:
            if (!voter && !learner) {
                return SAMPAN_ENOTMEMBER;
            }
            list_remove(next.voters, &next.n_voters, id);
            remove_learner(&next, id);
            break;
        default:
            return SAMPAN_EINVAL;
        }
        if (ch[i].type != SAMPAN_CONF_REMOVE &&
            set_addr(&next, id, ch[i].addr) != 0) {
            return SAMPAN_EINVAL;
        }
    }
    if (next.n_voters == 0) {
        return SAMPAN_EINVAL; /* a cluster without voters cannot commit */
    }
    if (deferred && n > 1 && next.n_voters < cur->n_voters) {
        /* A replacement whose newcomers are not caught up would leave
         * fewer voters than asked (replacing two of three: one voter)
         * until they are promoted: add them as learners first, and
         * replace once they have caught up. */
        return SAMPAN_EBUSY;
    }
    if (voters_changed(cur, &next) > 1) {
        /* More than one voter changes: majorities of the old and the new
         * voters might not intersect, so pass through a joint
         * configuration (thesis section 4.3). A demoted voter would have
         * to be a learner and an outgoing voter at once: not allowed. */
        if (demoted) {
            return SAMPAN_EINVAL;
        }
        next.n_outgoing = cur->n_voters;
        memcpy(next.outgoing, cur->voters, sizeof(cur->voters));
    }
    prune_addrs(&next);
    if (sampan_membership_validate(&next, NULL) != 0) {
        return SAMPAN_EINVAL;
    }
    if (conf_equal(cur, &next)) {
        return SAMPAN_EINVAL; /* nothing changes */
    }
    *out = next;
    return 0;
}

void conf_leave_joint(const struct sampan_membership *cur,
                      struct sampan_membership *out)
{
    *out = *cur;
    out->n_outgoing = 0;
    memset(out->outgoing, 0, sizeof(out->outgoing));
    prune_addrs(out); /* members that left with the old voters */
}
