/* raft/prng.c: the core's only source of randomness, a splitmix64 generator
 * seeded from the configuration so every run replays from its seed. */
#include "raft/internal.h"

uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
