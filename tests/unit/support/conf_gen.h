/* unit/support/conf_gen.h: configurations for the tests of code that
 * carries one (the peer codec's SNAPSHOT, snapshot file headers): a fixed
 * example using every field, and valid random ones. */
#ifndef SAMPAN_TEST_CONF_GEN_H
#define SAMPAN_TEST_CONF_GEN_H

#include <stdint.h>

#include "sampan/raft.h"

/* A joint configuration with every part filled in: voters 1,2,4 (incoming)
 * and 1,2,3 (outgoing), learners 5,6,7 with 5 and 7 marked for promotion,
 * and addresses for 1, 3, 5 and 7 (the one of 7 of the longest length,
 * SAMPAN_ADDR_MAX - 1). Valid (asserted). */
void conf_example(struct sampan_membership *m);

/* A random valid configuration drawn with rnd(s): empty or not, joint or
 * not, with or without learners, promotion marks and addresses (1 to
 * SAMPAN_ADDR_MAX - 1 bytes), up to SAMPAN_MAX_MEMBERS members. */
void conf_random(struct sampan_membership *m, uint64_t (*rnd)(uint64_t *),
                 uint64_t *s);

/* a and b are the same configuration, field by field, unused slots too
 * (zero in both when each was zeroed before being filled, as decoders
 * and the generators above do). */
void assert_conf_equal(const struct sampan_membership *a,
                       const struct sampan_membership *b);

#endif
