/* sim/scenarios.c: the registry of every scenario, gathered from the group
 * tables of the scen_*.c files. */
#include <string.h>

#include "scenarios.h"

size_t sim_scenarios(struct sim_scenario *out, size_t cap)
{
    const struct sim_scenario *const groups[] = {
        sim_scenarios_election,  sim_scenarios_agree, sim_scenarios_persist,
        sim_scenarios_beyond,    sim_scenarios_disk,  sim_scenarios_snapshot,
        sim_scenarios_membership};
    size_t count = 0;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        for (const struct sim_scenario *sc = groups[g]; sc->name != NULL;
             sc++) {
            if (count < cap) {
                out[count] = *sc;
            }
            count++;
        }
    }
    return count;
}

int sim_scenario_find(const char *name, struct sim_scenario *out)
{
    struct sim_scenario all[SIM_MAX_SCENARIOS];
    size_t n = sim_scenarios(all, SIM_MAX_SCENARIOS);
    for (size_t i = 0; i < n && i < SIM_MAX_SCENARIOS; i++) {
        if (strcmp(all[i].name, name) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}
