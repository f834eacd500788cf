/* sim/harness.c: the helpers the classic scenarios are written with (after
 * MIT 6.824's test harness): one(), check_one_leader(), check_terms(),
 * check_no_leader(), n_committed(), wait(). All waiting is in virtual time. */
#include <string.h>

#include "sim.h"

int sim_n_committed(struct sim *s, uint64_t index, uint64_t *hash)
{
    int count = 0;
    uint64_t seen = 0;
    for (int id = 1; id <= s->n; id++) {
        const struct sim_applied *a = &s->nodes[id].applied;
        if (s->nodes[id].retired) {
            continue; /* removed from the cluster */
        }
        if (index > a->last || index >= a->cap || a->hash[index] == 0) {
            continue;
        }
        if (count > 0 && a->hash[index] != seen) {
            sim_fail(s, "committed values at index %llu differ",
                     (unsigned long long)index);
        }
        seen = a->hash[index];
        count++;
    }
    if (hash != NULL) {
        *hash = seen;
    }
    return count;
}

uint64_t sim_one(struct sim *s, const void *cmd, size_t len, int expected,
                 bool retry)
{
    uint64_t want = sim_hash(cmd, len);
    uint64_t start = s->now;
    int starts = 0;
    while (s->now - start < 10 * SIM_SEC) {
        uint64_t index = 0;
        for (int k = 0; k < s->n; k++) {
            starts = (starts % s->n) + 1;
            if (!s->net.connected[starts] || !s->nodes[starts].up) {
                continue;
            }
            uint64_t i;
            if (sim_is_leader(s, (uint64_t)starts) &&
                sim_propose(s, (uint64_t)starts, cmd, len, &i) == 0) {
                index = i;
                break;
            }
        }
        if (index != 0) {
            uint64_t t1 = s->now;
            while (s->now - t1 < 2 * SIM_SEC) {
                uint64_t got;
                int nd = sim_n_committed(s, index, &got);
                if (nd > 0 && nd >= expected && got == want) {
                    return index;
                }
                sim_run_for(s, 20 * SIM_MS);
            }
            if (!retry) {
                sim_fail(s,
                         "one(%zu-byte cmd) failed to reach agreement "
                         "at index %llu",
                         len, (unsigned long long)index);
            }
        } else {
            sim_run_for(s, 50 * SIM_MS);
        }
    }
    sim_fail(s, "one(%zu-byte cmd) failed to reach agreement in 10 s", len);
}

uint64_t sim_one_u64(struct sim *s, uint64_t value, int expected, bool retry)
{
    uint8_t buf[8];
    memcpy(buf, &value, sizeof(buf));
    return sim_one(s, buf, sizeof(buf), expected, retry);
}

uint64_t sim_check_one_leader(struct sim *s)
{
    for (int iters = 0; iters < 10; iters++) {
        sim_run_for(s, sim_rand_range(s, 450, 550) * SIM_MS);
        uint64_t leader_of[SIM_MAX_NODES + 1] = {0};
        uint64_t terms[SIM_MAX_NODES + 1] = {0};
        size_t n_terms = 0;
        for (int id = 1; id <= s->n; id++) {
            if (!s->net.connected[id] || !sim_is_leader(s, (uint64_t)id)) {
                continue;
            }
            struct sampan_status st;
            sim_status(s, (uint64_t)id, &st);
            for (size_t k = 0; k < n_terms; k++) {
                SIM_ASSERT(s, terms[k] != st.term,
                           "term %llu has two leaders: n%llu and n%d",
                           (unsigned long long)st.term,
                           (unsigned long long)leader_of[k], id);
            }
            terms[n_terms] = st.term;
            leader_of[n_terms] = (uint64_t)id;
            n_terms++;
        }
        if (n_terms > 0) {
            size_t best = 0;
            for (size_t k = 1; k < n_terms; k++) {
                if (terms[k] > terms[best]) {
                    best = k;
                }
            }
            return leader_of[best];
        }
    }
    sim_fail(s, "expected one leader, got none");
}

uint64_t sim_check_terms(struct sim *s)
{
    uint64_t term = 0;
    for (int id = 1; id <= s->n; id++) {
        if (!s->net.connected[id] || !s->nodes[id].up) {
            continue;
        }
        struct sampan_status st;
        sim_status(s, (uint64_t)id, &st);
        if (term == 0) {
            term = st.term;
        } else {
            SIM_ASSERT(s, term == st.term,
                       "servers disagree on term: %llu vs n%d at %llu",
                       (unsigned long long)term, id,
                       (unsigned long long)st.term);
        }
    }
    return term;
}

void sim_check_no_leader(struct sim *s)
{
    for (int id = 1; id <= s->n; id++) {
        if (s->net.connected[id] && sim_is_leader(s, (uint64_t)id)) {
            sim_fail(s,
                     "expected no leader among connected servers, but "
                     "n%d claims to be leader",
                     id);
        }
    }
}

uint64_t sim_wait(struct sim *s, uint64_t index, int n, uint64_t start_term)
{
    uint64_t to = 10 * SIM_MS;
    for (int iters = 0; iters < 30; iters++) {
        if (sim_n_committed(s, index, NULL) >= n) {
            break;
        }
        sim_run_for(s, to);
        if (to < SIM_SEC) {
            to *= 2;
        }
        if (start_term != 0) {
            for (int id = 1; id <= s->n; id++) {
                struct sampan_status st;
                sim_status(s, (uint64_t)id, &st);
                if (st.term > start_term) {
                    return 0; /* someone moved on: the caller retries */
                }
            }
        }
    }
    uint64_t hash = 0;
    int nd = sim_n_committed(s, index, &hash);
    SIM_ASSERT(s, nd >= n, "only %d decided for index %llu; wanted %d", nd,
               (unsigned long long)index, n);
    return hash;
}
