/* server/writer.c: the node's write thread. Every Ready's write and
 * fdatasync (sampan_node_write_run) runs on it, and the loop waits for the
 * result up to a budget (one tick): nearly every write finishes within it
 * and the loop goes on exactly as if it had written itself, so requests
 * that arrived meanwhile still batch into the next Ready. A write that
 * takes longer (a disk stalled behind other processes' fsyncs) is left
 * running: the loop goes back to ticking, heartbeating, replicating and
 * reading requests, and the thread reports back through a uv_async_t.
 * Before this, a leader blocked in one fdatasync longer than an election
 * timeout sent no heartbeats, and its followers elected another: the
 * likely cause of a leader change CI saw in a healthy cluster while the
 * black-box suite fsynced on the same disk.
 *
 * Measured first with libuv's thread pool and no wait: every Ready then
 * went back to the loop, which handled requests in small batches while the
 * write was in flight, and the CPU per write rose by 30% (pipelined SET
 * throughput fell by 20-40%) on this two-core machine. Waiting a bounded
 * time keeps the batching and costs two thread switches per write. */
#include <stdlib.h>

#include "server/internal.h"

struct writer {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t work_cv; /* the thread waits for work on it          */
    uv_cond_t done_cv; /* the loop waits (bounded) for the result   */
    uv_async_t async;  /* a result the loop stopped waiting for     */
    struct sampan_node *node;
    bool work;         /* a write is submitted and not finished      */
    bool done;         /* a write finished, not yet taken by the loop */
    bool loop_waiting; /* the loop is in writer_submit's wait       */
    bool quit;
    bool async_open;
    /* Writes the loop saw finish within its wait, and those it left
     * running (INFO: a disk slower than the wait shows here). Loop only. */
    uint64_t waited;
    uint64_t background;
    void (*on_done)(void *arg);
    void *arg;
};

static void writer_main(void *arg)
{
    struct writer *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        if (w->work) {
            struct sampan_node *n = w->node;
            uv_mutex_unlock(&w->mu);
            sampan_node_write_run(n);
            uv_mutex_lock(&w->mu);
            w->work = false;
            w->done = true;
            if (w->loop_waiting) {
                uv_cond_signal(&w->done_cv);
            } else {
                uv_async_send(&w->async);
            }
        } else if (w->quit) {
            break;
        } else {
            uv_cond_wait(&w->work_cv, &w->mu);
        }
    }
    uv_mutex_unlock(&w->mu);
}

/* Tells the thread to quit, and waits: a write still running finishes
 * first. */
static void stop_thread(struct writer *w)
{
    uv_mutex_lock(&w->mu);
    w->quit = true;
    uv_cond_signal(&w->work_cv);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread);
}

/* Takes a finished write that the loop was not waiting for. */
static void on_async(uv_async_t *h)
{
    struct writer *w = h->data;
    uv_mutex_lock(&w->mu);
    bool finished = w->done;
    w->done = false;
    uv_mutex_unlock(&w->mu);
    if (finished) {
        w->on_done(w->arg);
    }
}

void writer_close_handle(struct writer *w)
{
    if (w != NULL && w->async_open) {
        w->async_open = false;
        uv_close((uv_handle_t *)&w->async, NULL);
    }
}

int writer_start(uv_loop_t *loop, void (*on_done)(void *arg), void *arg,
                 struct writer **out)
{
    *out = NULL;
    struct writer *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return SAMPAN_ENOMEM;
    }
    w->on_done = on_done;
    w->arg = arg;
    if (uv_mutex_init(&w->mu) != 0) {
        goto no_mutex;
    }
    if (uv_cond_init(&w->work_cv) != 0) {
        goto no_work_cv;
    }
    if (uv_cond_init(&w->done_cv) != 0) {
        goto no_done_cv;
    }
    if (uv_thread_create(&w->thread, writer_main, w) != 0) {
        goto no_thread;
    }
    /* Last, so a failure needs no handle closed: the thread, idle until
     * the first submission, is told to quit. */
    if (uv_async_init(loop, &w->async, on_async) != 0) {
        stop_thread(w);
        goto no_thread;
    }
    w->async.data = w;
    w->async_open = true;
    *out = w;
    return 0;
no_thread:
    uv_cond_destroy(&w->done_cv);
no_done_cv:
    uv_cond_destroy(&w->work_cv);
no_work_cv:
    uv_mutex_destroy(&w->mu);
no_mutex:
    free(w);
    return SAMPAN_ENOMEM;
}

int writer_submit(struct writer *w, struct sampan_node *n, uint64_t wait_ns)
{
    uv_mutex_lock(&w->mu);
    w->node = n;
    w->work = true;
    w->done = false;
    w->loop_waiting = true;
    uv_cond_signal(&w->work_cv);
    uint64_t deadline = uv_hrtime() + wait_ns;
    while (!w->done) {
        uint64_t now = uv_hrtime();
        if (now >= deadline ||
            uv_cond_timedwait(&w->done_cv, &w->mu, deadline - now) != 0) {
            break; /* over budget: it finishes in the background */
        }
    }
    bool finished = w->done;
    if (finished) {
        w->waited++;
    } else {
        w->background++;
    }
    w->done = false;
    w->loop_waiting = false;
    uv_mutex_unlock(&w->mu);
    return finished ? 1 : 0;
}

void writer_stats(const struct writer *w, uint64_t *waited,
                  uint64_t *background)
{
    *waited = w != NULL ? w->waited : 0;
    *background = w != NULL ? w->background : 0;
}

void writer_free(struct writer *w)
{
    if (w == NULL) {
        return;
    }
    stop_thread(w);
    uv_cond_destroy(&w->work_cv);
    uv_cond_destroy(&w->done_cv);
    uv_mutex_destroy(&w->mu);
    free(w);
}
