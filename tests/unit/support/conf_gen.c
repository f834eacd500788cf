/* unit/support/conf_gen.c: see conf_gen.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>

#include "support/conf_gen.h"

static void set_addr(struct sampan_membership *m, uint64_t id, const char *a)
{
    struct sampan_member_addr *slot = &m->addrs[m->n_addrs++];
    slot->id = id;
    snprintf(slot->addr, sizeof(slot->addr), "%s", a);
}

void conf_example(struct sampan_membership *m)
{
    memset(m, 0, sizeof(*m));
    const uint64_t in[] = {1, 2, 4}, out[] = {1, 2, 3}, learn[] = {5, 6, 7};
    m->n_voters = m->n_outgoing = m->n_learners = 3;
    memcpy(m->voters, in, sizeof(in));
    memcpy(m->outgoing, out, sizeof(out));
    memcpy(m->learners, learn, sizeof(learn));
    m->learners_promote = 0x5; /* learners[0] and [2]: 5 and 7 */
    set_addr(m, 1, "127.0.0.1:17379");
    set_addr(m, 3, "node-3.example:17381");
    set_addr(m, 5, "[::1]:17383");
    char longest[SAMPAN_ADDR_MAX];
    memset(longest, 'x', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    set_addr(m, 7, longest);
    assert_int_equal(sampan_membership_validate(m, NULL), 0);
}

void conf_random(struct sampan_membership *m, uint64_t (*rnd)(uint64_t *),
                 uint64_t *s)
{
    memset(m, 0, sizeof(*m));
    /* Distinct non-zero ids, small or huge, each used at most once (but
     * for voters kept in a joint configuration's outgoing side). */
    uint64_t ids[SAMPAN_MAX_MEMBERS];
    uint32_t n = (uint32_t)(rnd(s) % (SAMPAN_MAX_MEMBERS + 1));
    for (uint32_t i = 0; i < n; i++) {
        ids[i] = rnd(s) % 2 ? i + 1 : UINT64_MAX - i;
    }
    uint32_t voters = n == 0 ? 0 : (uint32_t)(rnd(s) % (n + 1));
    if (voters > SAMPAN_MAX_VOTERS) {
        voters = SAMPAN_MAX_VOTERS;
    }
    m->n_voters = voters;
    memcpy(m->voters, ids, voters * sizeof(ids[0]));
    /* Outgoing: some of the voters, and the members after them, so only
     * the learners' ids are left unique to them. */
    uint32_t after = voters == 0 ? 0 : (uint32_t)(rnd(s) % (n - voters + 1));
    for (uint32_t i = 0; i < voters + after; i++) {
        if (i >= voters || rnd(s) % 2) {
            m->outgoing[m->n_outgoing++] = ids[i];
        }
    }
    for (uint32_t i = voters + after; i < n; i++) {
        m->learners[m->n_learners++] = ids[i];
    }
    if (m->n_learners > 0) {
        m->learners_promote =
            (uint32_t)(rnd(s) & ((UINT64_C(1) << m->n_learners) - 1));
    }
    for (uint32_t i = 0; i < n; i++) {
        if (rnd(s) % 2 == 0) {
            continue;
        }
        struct sampan_member_addr *a = &m->addrs[m->n_addrs++];
        a->id = ids[i];
        size_t len = 1 + (size_t)(rnd(s) % (SAMPAN_ADDR_MAX - 1));
        for (size_t k = 0; k < len; k++) {
            a->addr[k] = (char)(' ' + 1 + rnd(s) % 94); /* printable, no ' ' */
        }
    }
    assert_int_equal(sampan_membership_validate(m, NULL), 0);
}

void assert_conf_equal(const struct sampan_membership *a,
                       const struct sampan_membership *b)
{
    assert_int_equal(a->n_voters, b->n_voters);
    assert_int_equal(a->n_outgoing, b->n_outgoing);
    assert_int_equal(a->n_learners, b->n_learners);
    assert_int_equal(a->learners_promote, b->learners_promote);
    assert_int_equal(a->n_addrs, b->n_addrs);
    /* Arrays of u64, and of {u64, char[64]}: no padding to compare. */
    assert_memory_equal(a->voters, b->voters, sizeof(a->voters));
    assert_memory_equal(a->outgoing, b->outgoing, sizeof(a->outgoing));
    assert_memory_equal(a->learners, b->learners, sizeof(a->learners));
    assert_memory_equal(a->addrs, b->addrs, sizeof(a->addrs));
}
