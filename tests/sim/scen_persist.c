/* sim/scen_persist.c: the persistence scenarios of the classic suite
 * (SCENARIOS.md, "Persistence"), after MIT 6.824 Lab 2C (2022): crashes lose
 * every write whose fsync had not completed and a restarted node boots from
 * its own simulated disk. The lab's crash1(i) + start1(i) map to sim_crash +
 * sim_restart; sim_restart keeps the node's connectivity flag, so where the
 * lab's start1 is followed by connect we connect explicitly. Node ids are
 * 1..n where the lab's are 0..n-1. Besides the assertions below, the
 * simulator's checkers verify after every event that no committed entry is
 * lost (durability is checked at each crash) and that logs agree. */
#include <stdint.h>

#include "scenarios.h"

/* The lab's RaftElectionTimeout. */
#define ELECTION_TIMEOUT (1000 * SIM_MS)

/* The lab's (leader + k) % servers for ids 1..n. */
static uint64_t peer(int n, uint64_t id, int k)
{
    return (id - 1 + (uint64_t)k) % (uint64_t)n + 1;
}

static void crash_restart(struct sim *s, uint64_t id)
{
    sim_crash(s, id);
    sim_restart(s, id);
}

/* ---- a record of what one() committed -------------------------------------
 */

#define HIST_MAX 64

struct history {
    uint64_t index[HIST_MAX];
    uint64_t hash[HIST_MAX];
    size_t n;
};

/* Checks that every index one() returned earlier still holds its value on at
 * least `expected` nodes: a node applies in order, so once one() saw
 * `expected` nodes apply a later index, these must have applied the earlier
 * ones too, with the same values. */
static void history_check(struct sim *s, const struct history *h, int expected)
{
    for (size_t k = 0; k < h->n; k++) {
        uint64_t got = 0;
        int nd = sim_n_committed(s, h->index[k], &got);
        SIM_ASSERT(s, nd >= expected,
                   "index %llu (committed earlier) applied on %d nodes "
                   "after restarts; wanted %d",
                   (unsigned long long)h->index[k], nd, expected);
        SIM_ASSERT(s, got == h->hash[k],
                   "index %llu changed value after restarts",
                   (unsigned long long)h->index[k]);
    }
}

/* one(value, expected, true), then the history check; records the result. */
static uint64_t one_recorded(struct sim *s, struct history *h, uint64_t value,
                             int expected)
{
    uint64_t index = sim_one_u64(s, value, expected, true);
    history_check(s, h, expected);
    if (h->n > 0) {
        SIM_ASSERT(s, index > h->index[h->n - 1],
                   "one(%llu) committed at index %llu, not after the "
                   "previous command's %llu",
                   (unsigned long long)value, (unsigned long long)index,
                   (unsigned long long)h->index[h->n - 1]);
    }
    if (h->n < HIST_MAX) {
        h->index[h->n] = index;
        h->hash[h->n] = sim_hash(&value, sizeof(value));
        h->n++;
    }
    return index;
}

/* ---- persist1 / persist2 / persist3 -------------------------------------- */

/* persist1 (3): everyone crashes and restarts, then the leader, then a
 * disconnected leader, then a follower; after each, one() commits on the
 * expected number of servers and every earlier index keeps its value. */
static void persist1(struct sim_ctx *ctx)
{
    const int n = 3;
    struct sim *s = sim_start(ctx, n);
    struct history h = {0};

    one_recorded(s, &h, 11, n);

    /* Crash and restart everyone. */
    for (int id = 1; id <= n; id++) {
        crash_restart(s, (uint64_t)id);
    }
    for (int id = 1; id <= n; id++) {
        sim_disconnect(s, (uint64_t)id);
        sim_connect(s, (uint64_t)id);
    }
    one_recorded(s, &h, 12, n);

    uint64_t leader1 = sim_check_one_leader(s);
    sim_disconnect(s, leader1);
    crash_restart(s, leader1);
    sim_connect(s, leader1);
    one_recorded(s, &h, 13, n);

    uint64_t leader2 = sim_check_one_leader(s);
    sim_disconnect(s, leader2);
    one_recorded(s, &h, 14, n - 1);
    crash_restart(s, leader2);
    sim_connect(s, leader2);
    /* Wait for leader2 to catch up before the next victim goes. */
    sim_wait(s, h.index[h.n - 1], n, 0);

    uint64_t i3 = peer(n, sim_check_one_leader(s), 1);
    sim_disconnect(s, i3);
    one_recorded(s, &h, 15, n - 1);
    crash_restart(s, i3);
    sim_connect(s, i3);
    one_recorded(s, &h, 16, n);
    history_check(s, &h, n);

    printf("persist1: %zu commands committed, last index %llu, final term "
           "%llu\n",
           h.n, (unsigned long long)h.index[h.n - 1],
           (unsigned long long)sim_check_terms(s));
}

/* persist2 (5, 5 rounds): each round the leader's next two peers are cut
 * off, the rest commit; then those three are cut off and the two restart
 * from disk and rejoin, with a third restarted node, and the three commit
 * without the others. Nothing committed is lost along the way. */
static void persist2(struct sim_ctx *ctx)
{
    const int n = 5;
    struct sim *s = sim_start(ctx, n);
    struct history h = {0};
    uint64_t value = 11;

    for (int iters = 0; iters < 5; iters++) {
        one_recorded(s, &h, value++, n);

        uint64_t leader1 = sim_check_one_leader(s);
        sim_disconnect(s, peer(n, leader1, 1));
        sim_disconnect(s, peer(n, leader1, 2));
        one_recorded(s, &h, value++, n - 2);

        sim_disconnect(s, peer(n, leader1, 0));
        sim_disconnect(s, peer(n, leader1, 3));
        sim_disconnect(s, peer(n, leader1, 4));

        crash_restart(s, peer(n, leader1, 1));
        crash_restart(s, peer(n, leader1, 2));
        sim_connect(s, peer(n, leader1, 1));
        sim_connect(s, peer(n, leader1, 2));

        sim_run_for(s, ELECTION_TIMEOUT);

        crash_restart(s, peer(n, leader1, 3));
        sim_connect(s, peer(n, leader1, 3));

        /* The three connected servers are the two that missed the second
         * command and one that had it: the latter's log must win. */
        one_recorded(s, &h, value++, n - 2);

        sim_connect(s, peer(n, leader1, 4));
        sim_connect(s, peer(n, leader1, 0));
    }
    one_recorded(s, &h, 1000, n);
    history_check(s, &h, n);

    printf("persist2: 5 rounds, %zu commands committed, last index %llu, "
           "final term %llu\n",
           h.n, (unsigned long long)h.index[h.n - 1],
           (unsigned long long)sim_check_terms(s));
}

/* persist3 (3): a follower is cut off, the other two commit and both crash;
 * the cut-off follower and the restarted old leader must then commit, which
 * needs the old leader's durable log (the follower never had 102). */
static void persist3(struct sim_ctx *ctx)
{
    const int n = 3;
    struct sim *s = sim_start(ctx, n);
    struct history h = {0};

    one_recorded(s, &h, 101, n);

    uint64_t leader = sim_check_one_leader(s);
    sim_disconnect(s, peer(n, leader, 2));
    one_recorded(s, &h, 102, 2);

    sim_crash(s, peer(n, leader, 0));
    sim_crash(s, peer(n, leader, 1));
    sim_connect(s, peer(n, leader, 2));
    sim_restart(s, peer(n, leader, 0));
    sim_connect(s, peer(n, leader, 0));

    one_recorded(s, &h, 103, 2);

    sim_restart(s, peer(n, leader, 1));
    sim_connect(s, peer(n, leader, 1));

    one_recorded(s, &h, 104, n);
    history_check(s, &h, n);

    printf("persist3: %zu commands committed, last index %llu, final term "
           "%llu\n",
           h.n, (unsigned long long)h.index[h.n - 1],
           (unsigned long long)sim_check_terms(s));
}

/* ---- Figure 8 --------------------------------------------------------------
 */

/* The lab's Start(value) on every live server: proposes the 8-byte value on
 * every up node that is leader (only those accept: a sampan follower would
 * forward the proposal, which the lab's Start() does not), counting them in
 * *accepted. Returns the last that accepted (if `need_connected`, the last
 * connected one), 0 if none. */
static uint64_t propose_everywhere(struct sim *s, uint64_t value,
                                   bool need_connected, int *accepted)
{
    uint64_t leader = 0;
    for (int id = 1; id <= s->n; id++) {
        if (!s->nodes[id].up || !sim_is_leader(s, (uint64_t)id)) {
            continue;
        }
        uint64_t index;
        if (sim_propose(s, (uint64_t)id, &value, sizeof(value), &index) != 0) {
            continue;
        }
        (*accepted)++;
        if (!need_connected || s->net.connected[id]) {
            leader = (uint64_t)id;
        }
    }
    return leader;
}

/* The lab's Figure 8 sleep: 10% of the time up to half an election timeout,
 * else up to 13 ms. */
static void figure8_sleep(struct sim *s)
{
    if (sim_rand_range(s, 0, 1000) < 100) {
        sim_run_for(s, sim_rand_range(s, 0, ELECTION_TIMEOUT / SIM_MS / 2) *
                           SIM_MS);
    } else {
        sim_run_for(s, sim_rand_range(s, 0, 13) * SIM_MS);
    }
}

/* figure8 (5, reliable): 1000 rounds of proposing on every live server,
 * sleeping, crashing the leader, and restarting a random server when fewer
 * than 3 are up, so that leaders of many terms leave uncommitted entries on
 * disks (the Figure 8 hazard). Afterwards, with everyone restarted, one()
 * must commit on all 5. That no committed entry is ever lost or overwritten
 * is asserted by the simulator's checkers on every event and crash. */
static void figure8(struct sim_ctx *ctx)
{
    const int n = 5;
    struct sim *s = sim_start(ctx, n);
    sim_one_u64(s, sim_rand(s), 1, true);

    int nup = n;
    int crashes = 0;
    int restarts = 0;
    int accepted = 0;
    for (int iters = 0; iters < 1000; iters++) {
        uint64_t leader = propose_everywhere(s, sim_rand(s), false, &accepted);
        figure8_sleep(s);
        if (leader != 0) {
            sim_crash(s, leader);
            crashes++;
            nup--;
        }
        if (nup < 3) {
            uint64_t id = sim_rand_range(s, 1, (uint64_t)n + 1);
            if (!s->nodes[id].up) {
                sim_restart(s, id);
                sim_connect(s, id);
                restarts++;
                nup++;
            }
        }
    }
    for (int id = 1; id <= n; id++) {
        if (!s->nodes[id].up) {
            sim_restart(s, (uint64_t)id);
            sim_connect(s, (uint64_t)id);
        }
    }
    uint64_t last = sim_one_u64(s, sim_rand(s), n, true);
    SIM_ASSERT(s, crashes > 0, "no leader was ever crashed");

    printf("figure8: 1000 rounds, %d proposals accepted, %d leader crashes, "
           "%d restarts, final index %llu, final term %llu, %.1f s virtual\n",
           accepted, crashes, restarts, (unsigned long long)last,
           (unsigned long long)sim_check_terms(s), (double)s->now / SIM_SEC);
}

/* ---- concurrent one() ------------------------------------------------------
 */

struct one_call {
    uint64_t value;
    uint64_t hash;
    uint64_t index;    /* accepted at; 0: not (or no longer) proposed */
    uint64_t accepted; /* when it was accepted                        */
    bool done;
};

/* Runs one(value[k], expected, true) for the k commands "concurrently": each
 * is offered to whichever connected node accepts it as leader, and if it
 * does not show up on `expected` nodes at its index within 2 s, offered
 * again; each must commit within 10 s. Returns the number of offers. */
static int one_concurrent(struct sim *s, const uint64_t *value, size_t k,
                          int expected)
{
    struct one_call calls[8];
    SIM_ASSERT(s, k <= 8, "one_concurrent: too many commands");
    for (size_t c = 0; c < k; c++) {
        calls[c] = (struct one_call){
            .value = value[c], .hash = sim_hash(&value[c], sizeof(value[c]))};
    }
    uint64_t start = s->now;
    int offers = 0;
    for (;;) {
        size_t left = 0;
        for (size_t c = 0; c < k; c++) {
            struct one_call *oc = &calls[c];
            if (oc->done) {
                continue;
            }
            if (oc->index != 0) {
                uint64_t got = 0;
                int nd = sim_n_committed(s, oc->index, &got);
                if (nd > 0 && nd >= expected && got == oc->hash) {
                    oc->done = true;
                    continue;
                }
                if (s->now - oc->accepted >= 2 * SIM_SEC) {
                    oc->index = 0; /* retry */
                }
            }
            if (oc->index == 0) {
                for (int id = 1; id <= s->n; id++) {
                    uint64_t index;
                    if (s->net.connected[id] && s->nodes[id].up &&
                        sim_is_leader(s, (uint64_t)id) &&
                        sim_propose(s, (uint64_t)id, &oc->value,
                                    sizeof(oc->value), &index) == 0) {
                        oc->index = index;
                        oc->accepted = s->now;
                        offers++;
                        break;
                    }
                }
            }
            left++;
        }
        if (left == 0) {
            return offers;
        }
        SIM_ASSERT(s, s->now - start < 10 * SIM_SEC,
                   "one() of %zu concurrent commands: %zu failed to reach "
                   "agreement in 10 s",
                   k, left);
        sim_run_for(s, 20 * SIM_MS);
    }
}

/* unreliable_agree (5, unreliable): 49 rounds of 5 concurrent one(x, 1) over
 * a network that delays, drops and reorders; then, reliable again,
 * one(x, 5) commits on everyone. */
static void unreliable_agree(struct sim_ctx *ctx)
{
    const int n = 5;
    struct sim *s = sim_start(ctx, n);
    sim_set_reliable(s, false);
    int offers = 0;
    for (uint64_t iters = 1; iters < 50; iters++) {
        uint64_t values[5];
        for (uint64_t j = 0; j < 4; j++) {
            values[j] = 100 * iters + j;
        }
        values[4] = iters;
        offers += one_concurrent(s, values, 5, 1);
    }
    sim_set_reliable(s, true);
    uint64_t last = sim_one_u64(s, 100, n, true);
    /* 245 commands and the final one, each committed at its own index. */
    SIM_ASSERT(s, last >= 246, "final index %llu < 246 commands",
               (unsigned long long)last);

    printf("unreliable_agree: 49 rounds, 245 commands (%d offers), final "
           "index %llu, final term %llu, %.1f s virtual\n",
           offers, (unsigned long long)last,
           (unsigned long long)sim_check_terms(s), (double)s->now / SIM_SEC);
}

/* figure8_unreliable (5, unreliable, long reordering from round 200): 1000
 * rounds of proposing on every server, sleeping, and disconnecting the
 * leader with probability 1/2, reconnecting a random server when fewer than
 * 3 are connected; afterwards, everyone connected on a reliable network,
 * one() commits on all 5. */
static void figure8_unreliable(struct sim_ctx *ctx)
{
    const int n = 5;
    struct sim *s = sim_start(ctx, n);
    sim_set_reliable(s, false);
    sim_one_u64(s, sim_rand_range(s, 0, 10000), 1, true);

    int nup = n;
    int disconnects = 0;
    int disconnects_reordering = 0;
    int accepted = 0;
    for (int iters = 0; iters < 1000; iters++) {
        if (iters == 200) {
            sim_set_long_reordering(s, true);
        }
        uint64_t leader =
            propose_everywhere(s, sim_rand_range(s, 0, 10000), true, &accepted);
        figure8_sleep(s);
        if (leader != 0 &&
            sim_rand_range(s, 0, 1000) < ELECTION_TIMEOUT / SIM_MS / 2) {
            sim_disconnect(s, leader);
            disconnects++;
            disconnects_reordering += iters >= 200;
            nup--;
        }
        if (nup < 3) {
            uint64_t id = sim_rand_range(s, 1, (uint64_t)n + 1);
            if (!s->net.connected[id]) {
                sim_connect(s, id);
                nup++;
            }
        }
    }
    for (int id = 1; id <= n; id++) {
        sim_connect(s, (uint64_t)id);
    }
    sim_set_reliable(s, true);
    sim_set_long_reordering(s, false);
    uint64_t last = sim_one_u64(s, sim_rand_range(s, 0, 10000), n, true);
    SIM_ASSERT(s, disconnects > 0, "no leader was ever disconnected");

    printf("figure8_unreliable: 1000 rounds, %d proposals accepted, %d "
           "leader disconnects (%d with long reordering), final index %llu, "
           "final term %llu, %.1f s virtual\n",
           accepted, disconnects, disconnects_reordering,
           (unsigned long long)last, (unsigned long long)sim_check_terms(s),
           (double)s->now / SIM_SEC);
}

/* ---- churn ------------------------------------------------------------------
 */

#define CHURN_CLIENTS 3
#define CHURN_ACKS 65536

/* One of the lab's churn clients, as a state machine driven from the event
 * loop: it offers a fresh value to every server that accepts it as leader,
 * then checks its index after 0, 10, 30, 80, 180 ms; a value seen committed
 * there is acknowledged. With no leader it backs off 79 + 17*me ms. */
struct churn_client {
    int me;
    uint64_t seq;
    uint64_t next; /* virtual time of its next step */
    bool waiting;
    int step; /* checks done while waiting */
    uint64_t value;
    uint64_t hash;
    uint64_t index;
};

struct churn_ack {
    uint64_t index;
    uint64_t hash;
};

struct churn {
    struct churn_client cli[CHURN_CLIENTS];
    struct churn_ack *acks;
    size_t n_acks;
    uint64_t offers;
    bool stopping; /* clients finish their current value, start no new one */
};

static void client_step(struct sim *s, struct churn *ch, struct churn_client *c)
{
    static const uint64_t waits_ms[] = {10, 20, 50, 100, 200};
    if (c->waiting) {
        uint64_t got = 0;
        int nd = sim_n_committed(s, c->index, &got);
        if (nd > 0) {
            if (got == c->hash) {
                SIM_ASSERT(s, ch->n_acks < CHURN_ACKS,
                           "more than %d acknowledged values", CHURN_ACKS);
                ch->acks[ch->n_acks++] =
                    (struct churn_ack){.index = c->index, .hash = c->hash};
            }
            c->waiting = false;
        } else if (c->step < 5) {
            c->next = s->now + waits_ms[c->step] * SIM_MS;
            c->step++;
            return;
        } else {
            c->waiting = false; /* gave up on it */
        }
    }
    if (ch->stopping) {
        c->next = UINT64_MAX;
        return;
    }
    /* A fresh, unique value: client number and sequence number. */
    c->value = ((uint64_t)(c->me + 1) << 48) | ++c->seq;
    c->hash = sim_hash(&c->value, sizeof(c->value));
    c->index = 0;
    for (int id = 1; id <= s->n; id++) {
        uint64_t index;
        if (s->nodes[id].up && sim_is_leader(s, (uint64_t)id) &&
            sim_propose(s, (uint64_t)id, &c->value, sizeof(c->value), &index) ==
                0) {
            c->index = index;
        }
    }
    if (c->index != 0) {
        ch->offers++;
        c->waiting = true;
        c->step = 0;
        c->next = s->now; /* first check right away, as the lab does */
    } else {
        c->next = s->now + (79 + 17 * (uint64_t)c->me) * SIM_MS;
    }
}

/* Runs the simulation to `until`, stepping the clients when they are due. */
static void churn_run_until(struct sim *s, struct churn *ch, uint64_t until)
{
    for (;;) {
        uint64_t t = until;
        for (int k = 0; k < CHURN_CLIENTS; k++) {
            if (ch->cli[k].next < t) {
                t = ch->cli[k].next;
            }
        }
        sim_run_until(s, t);
        for (int k = 0; k < CHURN_CLIENTS; k++) {
            /* A client that steps without waiting (its value was seen at
             * once) goes again in the next pass at the same instant. */
            if (ch->cli[k].next <= s->now) {
                client_step(s, ch, &ch->cli[k]);
            }
        }
        if (t >= until) {
            bool due = false;
            for (int k = 0; k < CHURN_CLIENTS; k++) {
                due = due || ch->cli[k].next <= s->now;
            }
            if (!due) {
                return;
            }
        }
    }
}

/* reliable_churn / unreliable_churn (5): 3 clients propose while 20 rounds,
 * 700 ms apart, randomly disconnect a server (20%), crash and restart one
 * (50%, reconnecting it), and crash one (20%). Afterwards, everyone back and
 * connected, one() commits on all 5; every index up to it is applied by all
 * 5 with one value, and every value a client saw committed is in the final
 * log at the index where it was seen. */
static void churn(struct sim_ctx *ctx, bool unreliable, const char *name)
{
    const int n = 5;
    struct sim *s = sim_start(ctx, n);
    sim_set_reliable(s, !unreliable);
    static struct churn_ack acks[CHURN_ACKS];
    struct churn ch = {.acks = acks};
    for (int k = 0; k < CHURN_CLIENTS; k++) {
        ch.cli[k].me = k;
        ch.cli[k].next = s->now;
    }

    int disconnects = 0;
    int restarts = 0;
    int crashes = 0;
    for (int iters = 0; iters < 20; iters++) {
        if (sim_rand_range(s, 0, 1000) < 200) {
            sim_disconnect(s, sim_rand_range(s, 1, (uint64_t)n + 1));
            disconnects++;
        }
        if (sim_rand_range(s, 0, 1000) < 500) {
            uint64_t id = sim_rand_range(s, 1, (uint64_t)n + 1);
            crash_restart(s, id);
            sim_connect(s, id);
            restarts++;
        }
        if (sim_rand_range(s, 0, 1000) < 200) {
            uint64_t id = sim_rand_range(s, 1, (uint64_t)n + 1);
            if (s->nodes[id].up) {
                sim_crash(s, id);
                crashes++;
            }
        }
        churn_run_until(s, &ch, s->now + ELECTION_TIMEOUT * 7 / 10);
    }
    churn_run_until(s, &ch, s->now + ELECTION_TIMEOUT);
    sim_set_reliable(s, true);
    for (int id = 1; id <= n; id++) {
        sim_restart(s, (uint64_t)id);
        sim_connect(s, (uint64_t)id);
    }
    ch.stopping = true;
    churn_run_until(s, &ch, s->now + ELECTION_TIMEOUT);

    uint64_t last = sim_one_u64(s, sim_rand(s), n, true);
    /* one() saw all 5 apply `last`; they apply in order, so every index up
     * to it is applied by all 5 (and sim_n_committed fails on a mismatch). */
    for (uint64_t index = 1; index <= last; index++) {
        int nd = sim_n_committed(s, index, NULL);
        SIM_ASSERT(s, nd == n,
                   "index %llu applied on %d nodes after the final one(); "
                   "wanted %d",
                   (unsigned long long)index, nd, n);
    }
    for (size_t a = 0; a < ch.n_acks; a++) {
        const struct churn_ack *ack = &ch.acks[a];
        uint64_t got = 0;
        int nd = sim_n_committed(s, ack->index, &got);
        SIM_ASSERT(s, ack->index <= last && nd == n && got == ack->hash,
                   "a value a client saw committed at index %llu is not in "
                   "the final log there (%d nodes hold index %llu)",
                   (unsigned long long)ack->index, nd,
                   (unsigned long long)ack->index);
    }
    SIM_ASSERT(s, ch.n_acks > 0, "the clients saw nothing committed");

    printf("%s: 20 rounds (%d disconnects, %d restarts, %d crashes), %llu "
           "offers, %zu values acknowledged, final index %llu, final term "
           "%llu\n",
           name, disconnects, restarts, crashes, (unsigned long long)ch.offers,
           ch.n_acks, (unsigned long long)last,
           (unsigned long long)sim_check_terms(s));
}

/* reliable_churn (5): churn() on a reliable network. */
static void reliable_churn(struct sim_ctx *ctx)
{
    churn(ctx, false, "reliable_churn");
}

/* unreliable_churn (5): churn() on an unreliable network. */
static void unreliable_churn(struct sim_ctx *ctx)
{
    churn(ctx, true, "unreliable_churn");
}

const struct sim_scenario sim_scenarios_persist[] = {
    {"persist1", persist1},
    {"persist2", persist2},
    {"persist3", persist3},
    {"figure8", figure8},
    {"unreliable_agree", unreliable_agree},
    {"figure8_unreliable", figure8_unreliable},
    {"reliable_churn", reliable_churn},
    {"unreliable_churn", unreliable_churn},
    {NULL, NULL},
};
