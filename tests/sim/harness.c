/* sim/harness.c: the helpers the classic scenarios are written with (after
 * MIT 6.824's test harness): one(), check_one_leader(), check_terms(),
 * check_no_leader(), n_committed(), wait(); and those of the faulty runs
 * (random schedules, membership scenarios): clients proposing through
 * random nodes, the history of what they saw committed, and the end of a
 * run (heal, finish the membership change, verify). All waiting is in
 * virtual time. */
#include <string.h>

#include "sim.h"
#include "vfs_sim.h"

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

/* ---- clients, and the end of a faulty run -------------------------------- */

void sim_client_propose(struct sim *s, struct sim_history *h)
{
    int count = (int)sim_rand_range(s, 1, 6);
    for (int k = 0; k < count; k++) {
        uint64_t id = sim_rand_range(s, 1, (uint64_t)s->n + 1);
        uint8_t cmd[16];
        uint64_t v = h->next_value++;
        memcpy(cmd, &v, 8);
        memcpy(cmd + 8, &s->seed, 8);
        /* Any node may be asked: followers (learners and nodes that just
         * joined too) forward to their leader. */
        sim_propose(s, id, cmd, sizeof(cmd), NULL);
    }
}

void sim_history_note(struct sim *s, struct sim_history *h)
{
    for (;;) {
        uint64_t hash;
        uint64_t index = h->scanned + 1;
        if (sim_n_committed(s, index, &hash) == 0 || h->n == SIM_MAX_ACKED) {
            return;
        }
        h->acked[h->n].index = index;
        h->acked[h->n].hash = hash;
        h->n++;
        h->scanned = index;
    }
}

/* A restart must always succeed: crashes, torn writes and fsync errors
 * never leave a disk that recovery refuses. */
void sim_restart_ok(struct sim *s, uint64_t id)
{
    int rv = sim_restart(s, id);
    SIM_ASSERT(s, rv == 0, "n%llu could not restart: %s",
               (unsigned long long)id, s->nodes[id].stop_reason);
}

void sim_end_faults(struct sim *s)
{
    sim_heal(s);
    sim_set_reliable(s, true);
    sim_set_long_reordering(s, false);
    s->net.dup_permille = 0;
    for (int id = 1; id <= s->n; id++) {
        vfs_sim_clear_faults(s->nodes[id].disk);
        sim_restart_ok(s, (uint64_t)id);
    }
}

void sim_heal_and_verify(struct sim *s, const bool *want, bool joint,
                         struct sim_history *h)
{
    sim_end_faults(s);
    uint8_t final_cmd[16] = "final-command";
    memcpy(final_cmd + 13, &s->seed, 3);
    int members = 0;
    for (int round = 0;; round++) {
        /* The membership change under way completes. */
        bool done = sim_members_step(s, want, joint);
        for (int k = 0; k < 300 && !done; k++) {
            sim_run_for(s, 100 * SIM_MS);
            done = sim_members_step(s, want, joint);
        }
        SIM_ASSERT(s, done,
                   "the membership change did not complete within 30 s of "
                   "healing");
        sim_check_one_leader(s);
        members = sim_n_members(s);
        uint64_t index =
            sim_one(s, final_cmd, sizeof(final_cmd), members, true);
        SIM_ASSERT(s, index > 0, "final command not committed");
        /* Committed on every member in the leader's term: no change left
         * in some log (a stale leader's, say) can commit any more, unless
         * it just did, and then the driver carries on. */
        if (sim_members_step(s, want, joint)) {
            break;
        }
        SIM_ASSERT(s, round < 5, "the configuration keeps changing");
    }
    sim_history_note(s, h);
    /* Reads are live again: one through every member is served, and
     * every member holds the configuration asked for. */
    uint64_t reads[SIM_MAX_NODES + 1] = {0};
    for (int id = 1; id <= s->n; id++) {
        if (s->nodes[id].retired) {
            continue;
        }
        reads[id] = sim_read(s, (uint64_t)id);
        SIM_ASSERT(s, reads[id] != 0, "n%d refused a read after healing", id);
    }
    sim_run_for(s, 2 * SIM_SEC);
    for (int id = 1; id <= s->n; id++) {
        if (s->nodes[id].retired) {
            continue;
        }
        SIM_ASSERT(s, sim_read_served(s, reads[id], NULL),
                   "read through n%d not served within 2 s of healing", id);
        sim_check_conf(s, (uint64_t)id, want);
    }
    /* Every command seen committed is still there on every member. */
    for (size_t i = 0; i < h->n; i++) {
        uint64_t hash;
        int holders = sim_n_committed(s, h->acked[i].index, &hash);
        SIM_ASSERT(s, holders == members && hash == h->acked[i].hash,
                   "acknowledged index %llu lost or changed (%d holders of "
                   "%d members)",
                   (unsigned long long)h->acked[i].index, holders, members);
    }
}
