/* sim/scen_persist.c: the "persist" scenario group. */
#include "scenarios.h"

const struct sim_scenario sim_scenarios_persist[] = {
    {NULL, NULL},
};
