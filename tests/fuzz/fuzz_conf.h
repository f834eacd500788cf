/* fuzz/fuzz_conf.h: configurations (struct sampan_membership) built from a
 * fuzz input, for the targets whose formats carry one (the snapshot file
 * header, the peer SNAPSHOT message). Most are valid; input-chosen counts
 * one past a limit, repeated or zero ids, a learner that is also a voter,
 * stray promotion marks, and empty, unterminated or misplaced addresses
 * make the rest invalid, so both an encoder's refusal and a decoder's
 * acceptance are reached. Header-only, like fuzz_input.h. */
#ifndef SAMPAN_FUZZ_CONF_H
#define SAMPAN_FUZZ_CONF_H

#include <string.h>

#include "fuzz_input.h"
#include "sampan/raft.h"

/* A count: usually small, sometimes anything up to max + 1. */
static inline uint32_t fuzz_count(struct fuzz_in *in, uint32_t max)
{
    uint8_t b = fuzz_u8(in);
    return (b & 0xe0u) == 0xe0u ? b % (max + 2u) : b % 5u;
}

/* An id: mostly `base` itself, else one near it (maybe zero, maybe
 * another list's). */
static inline uint64_t fuzz_id(struct fuzz_in *in, uint64_t base)
{
    return (fuzz_u8(in) & 7u) != 0 ? base : fuzz_near(in, base);
}

/* Unused slots, and address bytes after the terminating NUL, stay zero,
 * as the decoder leaves them, so a round trip compares whole arrays. */
static inline void fuzz_conf(struct fuzz_in *in, struct sampan_membership *c)
{
    memset(c, 0, sizeof(*c));
    c->n_voters = fuzz_count(in, SAMPAN_MAX_VOTERS);
    c->n_outgoing = fuzz_count(in, SAMPAN_MAX_VOTERS);
    c->n_learners = fuzz_count(in, SAMPAN_MAX_MEMBERS);
    c->n_addrs = fuzz_count(in, SAMPAN_MAX_MEMBERS);
    /* Ids from distinct bases: voters 1.., outgoing mostly the voters',
     * learners 100... */
    for (uint32_t i = 0; i < SAMPAN_MAX_VOTERS; i++) {
        if (i < c->n_voters) {
            c->voters[i] = fuzz_id(in, 1 + 8u * i);
        }
        if (i < c->n_outgoing) {
            c->outgoing[i] = fuzz_id(in, 1 + 8u * i);
        }
    }
    for (uint32_t i = 0; i < SAMPAN_MAX_MEMBERS && i < c->n_learners; i++) {
        c->learners[i] = fuzz_id(in, 100 + 8u * i);
    }
    c->learners_promote = (uint32_t)fuzz_near(in, 0);
    if ((fuzz_u8(in) & 3u) != 0 && c->n_learners < 32) {
        c->learners_promote &= (UINT32_C(1) << c->n_learners) - 1u;
    }
    for (uint32_t i = 0; i < SAMPAN_MAX_MEMBERS && i < c->n_addrs; i++) {
        struct sampan_member_addr *a = &c->addrs[i];
        /* The id of some listed member, sometimes one near it. */
        uint8_t pick = fuzz_u8(in);
        const uint64_t *list = (pick & 1u) != 0 ? c->learners : c->voters;
        uint32_t n = (pick & 1u) != 0 ? c->n_learners : c->n_voters;
        uint64_t id = list[n == 0 ? 0 : (pick >> 3) % n % SAMPAN_MAX_VOTERS];
        a->id = (pick & 6u) != 0 ? id : fuzz_id(in, id);
        /* 0 (empty) .. SAMPAN_ADDR_MAX (unterminated) bytes, none NUL. */
        size_t len = fuzz_u8(in) % (SAMPAN_ADDR_MAX + 1u);
        for (size_t k = 0; k < len; k++) {
            uint8_t ch = fuzz_u8(in);
            a->addr[k] = (char)(ch != 0 ? ch : 'x');
        }
    }
}

/* a and b are the same configuration, unused slots included. */
static inline int fuzz_conf_equal(const struct sampan_membership *a,
                                  const struct sampan_membership *b)
{
    return a->n_voters == b->n_voters && a->n_outgoing == b->n_outgoing &&
           a->n_learners == b->n_learners &&
           a->learners_promote == b->learners_promote &&
           a->n_addrs == b->n_addrs &&
           memcmp(a->voters, b->voters, sizeof(a->voters)) == 0 &&
           memcmp(a->outgoing, b->outgoing, sizeof(a->outgoing)) == 0 &&
           memcmp(a->learners, b->learners, sizeof(a->learners)) == 0 &&
           memcmp(a->addrs, b->addrs, sizeof(a->addrs)) == 0;
}

#endif
