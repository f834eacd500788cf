/* sim/runner.c: runs one scenario or random schedule in a fresh context,
 * catching failures (sim_fail longjmps back here) and freeing everything the
 * run created, so thousands of runs fit in one process. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct sim *sim_start(struct sim_ctx *ctx, int n)
{
    return sim_start_cfg(ctx, n, NULL);
}

struct sim *sim_start_cfg(struct sim_ctx *ctx, int n, sim_tweak_fn *tweak)
{
    struct sim *s = sim_new(n, ctx->seed, tweak);
    s->fail_jmp = &ctx->jb;
    s->trace = ctx->trace;
    ctx->s = s;
    if (s->trace) {
        fprintf(s->trace, "sim: %d nodes, seed %llu, tick %llu us\n", n,
                (unsigned long long)ctx->seed, (unsigned long long)s->tick_us);
    }
    return s;
}

int sim_run_one(void (*run)(struct sim_ctx *), uint64_t seed, FILE *trace,
                uint64_t *trace_hash, char *msg, size_t msg_len)
{
    struct sim_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        abort();
    }
    ctx->seed = seed;
    ctx->trace = trace;
    volatile int failed = 0; /* set after setjmp: keep it in memory */
    if (setjmp(ctx->jb) == 0) {
        run(ctx);
    } else {
        failed = 1;
        if (msg != NULL && ctx->s != NULL) {
            snprintf(msg, msg_len, "%s", ctx->s->fail_msg);
        }
    }
    if (trace_hash != NULL) {
        *trace_hash = ctx->s ? ctx->s->trace_hash : 0;
    }
    sim_free(ctx->s);
    free(ctx);
    return failed;
}
