/* sim/scen_agree.c: the "agree" scenario group. */
#include "scenarios.h"

const struct sim_scenario sim_scenarios_agree[] = {
    {NULL, NULL},
};
