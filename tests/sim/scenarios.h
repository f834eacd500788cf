/* sim/scenarios.h: the scenario groups. Each scen_*.c file owns one group
 * and exports its table, terminated by an entry with a NULL name. */
#ifndef SAMPAN_SIM_SCENARIOS_H
#define SAMPAN_SIM_SCENARIOS_H

#include "sim.h"

extern const struct sim_scenario sim_scenarios_election[];
extern const struct sim_scenario sim_scenarios_agree[];
extern const struct sim_scenario sim_scenarios_persist[];
extern const struct sim_scenario sim_scenarios_beyond[];
extern const struct sim_scenario sim_scenarios_disk[];
extern const struct sim_scenario sim_scenarios_snapshot[];
extern const struct sim_scenario sim_scenarios_membership[];

#endif
