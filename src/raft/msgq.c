/* raft/msgq.c: a bounded queue of outgoing messages. The bound
 * (config.max_ready_msgs) keeps a driver that stops collecting Ready from
 * growing the core's memory: past it messages are dropped, which Raft
 * tolerates as network loss. */
#include <stdlib.h>

#include "raft/internal.h"

void msgq_init(struct msgq *q, size_t limit)
{
    q->msgs = NULL;
    q->n = 0;
    q->cap = 0;
    q->limit = limit;
    q->dropped = 0;
}

void msgq_push(struct msgq *q, struct sampan_msg *m)
{
    if (q->n >= q->limit) {
        goto drop;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        if (cap > q->limit) {
            cap = q->limit;
        }
        struct sampan_msg *msgs = realloc(q->msgs, cap * sizeof(*msgs));
        if (msgs == NULL) {
            goto drop;
        }
        q->msgs = msgs;
        q->cap = cap;
    }
    q->msgs[q->n++] = *m;
    return;
drop:
    q->dropped++;
    msg_release(m);
}

void msg_release(struct sampan_msg *m)
{
    entries_release(m->entries, m->n_entries);
    m->entries = NULL;
    m->n_entries = 0;
    payload_unref(m->data);
    m->data = NULL;
}

void msgq_clear(struct msgq *q)
{
    for (size_t i = 0; i < q->n; i++) {
        msg_release(&q->msgs[i]);
    }
    q->n = 0;
}

void msgq_destroy(struct msgq *q)
{
    msgq_clear(q);
    free(q->msgs);
    q->msgs = NULL;
    q->cap = 0;
}
