/* sim/scen_election.c: the election scenarios of the classic suite
 * (SCENARIOS.md, "Election") and the demo run behind `make run`. */
#include <string.h>

#include "scenarios.h"

/* initial_election (3): a leader within 5 s, term >= 1, and with no failure
 * the term does not change over the next 2 s. */
static void initial_election(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    sim_check_one_leader(s);
    sim_run_for(s, 50 * SIM_MS);
    uint64_t term1 = sim_check_terms(s);
    SIM_ASSERT(s, term1 >= 1,
               "term is %llu, but election should have "
               "started",
               (unsigned long long)term1);
    sim_run_for(s, 2 * SIM_SEC);
    uint64_t term2 = sim_check_terms(s);
    SIM_ASSERT(s, term1 == term2,
               "term changed from %llu to %llu with no "
               "failures",
               (unsigned long long)term1, (unsigned long long)term2);
    sim_check_one_leader(s);
}

/* re_election (3): leader disconnected -> new leader; old one rejoins -> one
 * leader; two of three disconnected -> no leader for 2 s; one back ->
 * leader. */
static void re_election(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader1 = sim_check_one_leader(s);
    sim_disconnect(s, leader1);
    uint64_t leader2 = sim_check_one_leader(s);
    SIM_ASSERT(s, leader2 != leader1,
               "no new leader after disconnecting "
               "n%llu",
               (unsigned long long)leader1);
    sim_connect(s, leader1);
    uint64_t leader3 = sim_check_one_leader(s);
    sim_disconnect(s, leader3);
    sim_disconnect(s, leader3 % 3 + 1);
    sim_run_for(s, 2 * SIM_SEC);
    sim_check_no_leader(s);
    sim_connect(s, leader3 % 3 + 1);
    sim_check_one_leader(s);
    sim_connect(s, leader3);
    sim_check_one_leader(s);
}

/* many_elections (7): 9 rounds of disconnecting 3 random servers, a leader
 * each time, then reconnecting them. */
static void many_elections(struct sim_ctx *ctx)
{
    const int n = 7;
    struct sim *s = sim_start(ctx, n);
    sim_check_one_leader(s);
    for (int round = 0; round < 9; round++) {
        uint64_t victims[3];
        for (int k = 0; k < 3; k++) {
            victims[k] = sim_rand_range(s, 1, n + 1);
            sim_disconnect(s, victims[k]);
        }
        /* Either the old leader is still connected or the four (or more)
         * remaining servers elect a new one. */
        sim_check_one_leader(s);
        for (int k = 0; k < 3; k++) {
            sim_connect(s, victims[k]);
        }
    }
    sim_check_one_leader(s);
}

/* The run behind `make run`: an election, a few commits, the leader
 * crashes, a new leader is elected, the old one restarts and catches up. */
static void demo(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    for (uint64_t v = 1; v <= 3; v++) {
        sim_one_u64(s, v, 3, false);
    }
    if (s->trace) {
        fprintf(s->trace, "--- crashing the leader n%llu ---\n",
                (unsigned long long)leader);
    }
    sim_crash(s, leader);
    uint64_t leader2 = sim_check_one_leader(s);
    SIM_ASSERT(s, leader2 != leader, "no new leader after the crash");
    sim_one_u64(s, 4, 2, false);
    if (s->trace) {
        fprintf(s->trace, "--- restarting n%llu from its disk ---\n",
                (unsigned long long)leader);
    }
    sim_restart(s, leader);
    sim_one_u64(s, 5, 3, true);
}

const struct sim_scenario sim_scenarios_election[] = {
    {"initial_election", initial_election},
    {"re_election", re_election},
    {"many_elections", many_elections},
    {"demo", demo},
    {NULL, NULL},
};
