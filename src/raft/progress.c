/* raft/progress.c: the leader's record of each follower (Figure 2 nextIndex
 * and matchIndex) and the flow control around it: probe state sends one
 * AppendEntries at a time until the match point is found; replicate state
 * pipelines AppendEntries within an inflight window bounded by message count
 * and payload bytes. */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

int progress_init(struct progress *p, uint64_t id, uint32_t max_msgs,
                  uint64_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->inflights.cap = max_msgs;
    p->inflights.max_bytes = max_bytes;
    p->inflights.last_index = calloc(max_msgs, sizeof(uint64_t));
    p->inflights.bytes = calloc(max_msgs, sizeof(uint64_t));
    if (p->inflights.last_index == NULL || p->inflights.bytes == NULL) {
        progress_destroy(p);
        return SAMPAN_ENOMEM;
    }
    return 0;
}

void progress_destroy(struct progress *p)
{
    free(p->inflights.last_index);
    free(p->inflights.bytes);
    p->inflights.last_index = NULL;
    p->inflights.bytes = NULL;
}

static void inflights_reset(struct inflights *in)
{
    in->start = 0;
    in->count = 0;
    in->total_bytes = 0;
}

void progress_reset(struct progress *p, uint64_t next)
{
    p->match = 0;
    p->next = next;
    p->state = PROGRESS_PROBE;
    p->probe_sent = false;
    p->last_heard = 0;
    p->want_send = false;
    p->send_empty = false;
    p->sent_commit = 0;
    p->acked_round = 0;
    p->snap_index = 0;
    p->snap_offset = 0;
    p->snap_read_pending = false;
    p->snap_chunk_sent = false;
    p->timeout_now_sent = false;
    inflights_reset(&p->inflights);
}

static bool inflights_full(const struct inflights *in)
{
    return in->count == in->cap ||
           (in->max_bytes > 0 && in->total_bytes >= in->max_bytes);
}

bool progress_is_paused(const struct progress *p)
{
    if (p->state == PROGRESS_SNAPSHOT) {
        return true; /* AppendEntries wait until the snapshot is in */
    }
    if (p->state == PROGRESS_PROBE) {
        return p->probe_sent;
    }
    return inflights_full(&p->inflights);
}

void inflights_free_to(struct inflights *in, uint64_t index)
{
    while (in->count > 0 && in->last_index[in->start] <= index) {
        in->total_bytes -= in->bytes[in->start];
        in->start = (in->start + 1) % in->cap;
        in->count--;
    }
}

bool progress_maybe_update(struct progress *p, uint64_t index)
{
    bool updated = false;
    if (p->match < index) {
        p->match = index;
        updated = true;
        p->probe_sent = false;
    }
    if (p->next < index + 1) {
        p->next = index + 1;
    }
    return updated;
}

bool progress_maybe_decrease(struct progress *p, uint64_t rejected,
                             uint64_t probe_from)
{
    if (p->state == PROGRESS_REPLICATE) {
        /* A rejection below match is from an older, reordered message.
         * One exactly at match is not stale: the entries it carried were
         * dropped (it overtook the message that made `match`), so the
         * pipeline broke: probe again from just past the match point. */
        if (rejected < p->match) {
            return false;
        }
        p->next = p->match + 1;
        return true;
    }
    /* Probe state: only the answer to the probe in flight counts. */
    if (p->next - 1 != rejected) {
        return false;
    }
    if (probe_from < p->match) {
        /* The follower rejects at its match point and its hint lies below
         * it: it no longer holds what it acknowledged (its disk was wiped
         * or replaced under the same id; a follower that kept its log
         * hints at or past the match, since its entry there agrees with
         * ours). Forget the match, or the leader would probe at the same
         * point for as long as it held that entry, until its next
         * compaction sent a snapshot (found by bench/failover.py catchup:
         * a wiped follower waited 88 s for the leader's next snapshot). */
        p->match = 0;
    }
    uint64_t next = probe_from + 1;
    if (next > rejected) {
        next = rejected;
    }
    if (next < p->match + 1) {
        next = p->match + 1;
    }
    if (next < 1) {
        next = 1;
    }
    p->next = next;
    p->probe_sent = false;
    return true;
}

void progress_become_probe(struct progress *p)
{
    p->state = PROGRESS_PROBE;
    p->probe_sent = false;
    p->next = p->match + 1;
    inflights_reset(&p->inflights);
}

void progress_become_replicate(struct progress *p)
{
    p->state = PROGRESS_REPLICATE;
    p->probe_sent = false;
    p->next = p->match + 1;
    inflights_reset(&p->inflights);
}

void progress_sent(struct progress *p, uint64_t last_index, uint64_t bytes,
                   size_t n_entries)
{
    if (p->state == PROGRESS_REPLICATE) {
        if (n_entries > 0) {
            struct inflights *in = &p->inflights;
            size_t slot = (in->start + in->count) % in->cap;
            in->last_index[slot] = last_index;
            in->bytes[slot] = bytes;
            in->count++;
            in->total_bytes += bytes;
            p->next = last_index + 1; /* optimistic: pipeline the rest */
        }
    } else {
        p->probe_sent = true;
    }
}

void progress_become_snapshot(struct progress *p, uint64_t snap_index)
{
    p->state = PROGRESS_SNAPSHOT;
    p->probe_sent = false;
    p->snap_index = snap_index;
    p->snap_offset = 0;
    p->snap_read_pending = false;
    p->snap_chunk_sent = false;
    inflights_reset(&p->inflights);
}
