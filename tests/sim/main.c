/* sim/main.c: the sampan-sim command line.
 *   sampan-sim --list                       list scenarios
 *   sampan-sim --scenario NAME [--seed S] [--trace]
 *   sampan-sim --seeds A-B                  random fault schedules, A..B
 *   sampan-sim --seeds auto [--count N]     N fresh seeds (from the clock)
 *   sampan-sim --seed S [--trace]           replay one random schedule
 *   sampan-sim --check-determinism K        K seeds run twice, same trace
 *   sampan-sim --demo                       a readable trace of a short run
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static int usage(const char *why)
{
    fprintf(stderr,
            "sampan-sim: %s\n"
            "usage: sampan-sim --list\n"
            "       sampan-sim --scenario NAME [--seed S] [--trace]\n"
            "       sampan-sim --seeds A-B | --seeds auto [--count N]\n"
            "       sampan-sim --seed S [--trace]\n"
            "       sampan-sim --check-determinism K\n"
            "       sampan-sim --demo\n",
            why);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

static int run_scenario(const char *name, uint64_t seed, bool trace)
{
    struct sim_scenario sc;
    if (sim_scenario_find(name, &sc) != 0) {
        fprintf(stderr, "sampan-sim: no scenario named '%s' (see --list)\n",
                name);
        return 2;
    }
    char msg[600];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int failed = sim_run_one(sc.run, seed, trace ? stdout : NULL, NULL, msg,
                             sizeof(msg));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (failed) {
        printf("FAIL %s (seed %llu): %s\n", name, (unsigned long long)seed,
               msg);
        printf("replay: sampan-sim --scenario %s --seed %llu --trace\n", name,
               (unsigned long long)seed);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    printf("PASS %s (seed %llu, %.2f s)\n", name, (unsigned long long)seed,
           secs);
    printf("1 passed, 0 failed\n");
    return 0;
}

static int run_seeds(uint64_t first, uint64_t last)
{
    uint64_t passed = 0;
    uint64_t failed = 0;
    printf("random schedules: seeds %llu-%llu\n", (unsigned long long)first,
           (unsigned long long)last);
    fflush(stdout);
    for (uint64_t seed = first;; seed++) {
        char msg[600];
        if (sim_run_one(sim_random_schedule, seed, NULL, NULL, msg,
                        sizeof(msg)) != 0) {
            failed++;
            printf("FAIL seed %llu: %s\n", (unsigned long long)seed, msg);
            printf("replay: sampan-sim --seed %llu --trace\n",
                   (unsigned long long)seed);
            fflush(stdout);
        } else {
            passed++;
        }
        if (seed == last) {
            break;
        }
    }
    printf("%llu passed, %llu failed\n", (unsigned long long)passed,
           (unsigned long long)failed);
    return failed ? 1 : 0;
}

static int check_determinism(uint64_t k)
{
    uint64_t base = (uint64_t)time(NULL);
    uint64_t passed = 0;
    uint64_t failed = 0;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t seed = base + i;
        uint64_t h1, h2;
        sim_run_one(sim_random_schedule, seed, NULL, &h1, NULL, 0);
        sim_run_one(sim_random_schedule, seed, NULL, &h2, NULL, 0);
        if (h1 != h2 || h1 == 0) {
            printf("FAIL seed %llu: runs differ (%016llx vs %016llx)\n",
                   (unsigned long long)seed, (unsigned long long)h1,
                   (unsigned long long)h2);
            failed++;
        } else {
            passed++;
        }
    }
    /* Different seeds must give different runs, or the seed does nothing. */
    uint64_t a, b;
    sim_run_one(sim_random_schedule, base, NULL, &a, NULL, 0);
    sim_run_one(sim_random_schedule, base + 1000003, NULL, &b, NULL, 0);
    if (a == b) {
        printf("FAIL seeds %llu and %llu gave identical runs\n",
               (unsigned long long)base, (unsigned long long)base + 1000003);
        failed++;
    } else {
        passed++;
    }
    printf("determinism: seeds %llu-%llu each replayed twice\n",
           (unsigned long long)base, (unsigned long long)(base + k - 1));
    printf("%llu passed, %llu failed\n", (unsigned long long)passed,
           (unsigned long long)failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *scenario = NULL;
    const char *seeds = NULL;
    uint64_t seed = 1;
    bool seed_given = false;
    bool trace = false;
    uint64_t count = 200;
    uint64_t determinism = 0;
    bool list = false;
    bool demo = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--list") == 0) {
            list = true;
        } else if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (strcmp(a, "--demo") == 0) {
            demo = true;
        } else if (strcmp(a, "--scenario") == 0 && v) {
            scenario = v;
            i++;
        } else if (strcmp(a, "--seeds") == 0 && v) {
            seeds = v;
            i++;
        } else if (strcmp(a, "--seed") == 0 && v) {
            if (parse_u64(v, &seed) != 0) {
                return usage("--seed takes a non-negative integer");
            }
            seed_given = true;
            i++;
        } else if (strcmp(a, "--count") == 0 && v) {
            if (parse_u64(v, &count) != 0 || count == 0) {
                return usage("--count takes a positive integer");
            }
            i++;
        } else if (strcmp(a, "--check-determinism") == 0 && v) {
            if (parse_u64(v, &determinism) != 0 || determinism == 0) {
                return usage("--check-determinism takes a positive integer");
            }
            i++;
        } else {
            char why[256];
            snprintf(why, sizeof(why), "unknown or incomplete option '%s'", a);
            return usage(why);
        }
    }
    if (list) {
        struct sim_scenario all[SIM_MAX_SCENARIOS];
        size_t n = sim_scenarios(all, SIM_MAX_SCENARIOS);
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", all[i].name);
        }
        return 0;
    }
    if (demo) {
        return run_scenario("demo", seed, true);
    }
    if (scenario != NULL) {
        return run_scenario(scenario, seed, trace);
    }
    if (determinism > 0) {
        return check_determinism(determinism);
    }
    if (seeds != NULL) {
        uint64_t first, last;
        if (strcmp(seeds, "auto") == 0) {
            /* A new window of seeds every minute, so repeated runs keep
             * covering new ground; the range is printed for replay. */
            first = ((uint64_t)time(NULL) / 60) * count;
            last = first + count - 1;
        } else {
            const char *dash = strchr(seeds, '-');
            char lo[32];
            if (dash == NULL || (size_t)(dash - seeds) >= sizeof(lo)) {
                return usage("--seeds takes A-B or auto");
            }
            memcpy(lo, seeds, (size_t)(dash - seeds));
            lo[dash - seeds] = '\0';
            if (parse_u64(lo, &first) != 0 || parse_u64(dash + 1, &last) != 0 ||
                last < first) {
                return usage("--seeds takes A-B with A <= B");
            }
        }
        return run_seeds(first, last);
    }
    if (seed_given) {
        char msg[600];
        int failed = sim_run_one(sim_random_schedule, seed,
                                 trace ? stdout : NULL, NULL, msg, sizeof(msg));
        if (failed) {
            printf("FAIL seed %llu: %s\n", (unsigned long long)seed, msg);
            printf("0 passed, 1 failed\n");
            return 1;
        }
        printf("PASS seed %llu\n1 passed, 0 failed\n",
               (unsigned long long)seed);
        return 0;
    }
    return usage("nothing to do");
}
