/* raft/quorum.c: majority arithmetic over the voting membership: the commit
 * index a majority has reached (Figure 2, "Rules for Servers", leaders, last
 * bullet) and the outcome of a vote. Joint configurations will extend this
 * file only. */
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
