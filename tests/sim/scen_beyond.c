/* sim/scen_beyond.c: the "beyond" scenario group. */
#include "scenarios.h"

const struct sim_scenario sim_scenarios_beyond[] = {
    {NULL, NULL},
};
