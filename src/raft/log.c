/* raft/log.c: the in-memory Raft log. It holds entries offset+1 .. last,
 * where `offset` is the index covered by the latest snapshot (0 when none),
 * so compaction only moves `offset` forward. It also tracks the indexes that
 * tie the log to the outside world: committed, applied (handed out for
 * applying), handed (handed out for persisting) and stable (acknowledged
 * durable). */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

void log_init(struct raft_log *l, uint64_t offset, uint64_t offset_term)
{
    memset(l, 0, sizeof(*l));
    l->offset = offset;
    l->offset_term = offset_term;
    l->committed = offset;
    l->applied = offset;
    l->stable = offset;
    l->handed = offset;
}

void log_destroy(struct raft_log *l)
{
    log_reap(l, SIZE_MAX);
    free(l->grave);
    l->grave = NULL;
    l->cap_grave = 0;
    for (size_t i = 0; i < l->n; i++) {
        payload_unref(l->ents[i].data);
    }
    free(l->ents);
    l->ents = NULL;
    l->n = l->cap = 0;
}

uint64_t log_last_index(const struct raft_log *l)
{
    return l->offset + l->n;
}

uint64_t log_last_term(const struct raft_log *l)
{
    return l->n ? l->ents[l->n - 1].term : l->offset_term;
}

int log_term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
    if (index == l->offset) {
        *term = l->offset_term;
        return 0;
    }
    if (index < l->offset) {
        return SAMPAN_ECOMPACTED;
    }
    if (index > log_last_index(l)) {
        return SAMPAN_EUNAVAIL;
    }
    *term = l->ents[index - l->offset - 1].term;
    return 0;
}

bool log_match_term(const struct raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t t;
    return log_term(l, index, &t) == 0 && t == term;
}

const struct sampan_entry *log_entry(const struct raft_log *l, uint64_t index)
{
    if (index <= l->offset || index > log_last_index(l)) {
        return NULL;
    }
    return &l->ents[index - l->offset - 1];
}

static int log_reserve(struct raft_log *l, size_t extra)
{
    if (l->n + extra <= l->cap) {
        return 0;
    }
    size_t cap = l->cap ? l->cap : 64;
    while (cap < l->n + extra) {
        cap *= 2;
    }
    struct sampan_entry *ents = realloc(l->ents, cap * sizeof(*ents));
    if (ents == NULL) {
        return SAMPAN_ENOMEM;
    }
    l->ents = ents;
    l->cap = cap;
    return 0;
}

int log_append_owned(struct raft_log *l, uint64_t term, uint8_t type,
                     uint8_t *data, uint32_t len)
{
    int rv = log_reserve(l, 1);
    if (rv != 0) {
        return rv;
    }
    struct sampan_entry *e = &l->ents[l->n];
    e->term = term;
    e->index = log_last_index(l) + 1;
    e->type = type;
    e->len = len;
    e->data = data;
    l->n++;
    l->bytes += len;
    return 0;
}

int log_append_copy(struct raft_log *l, const struct sampan_entry *e, size_t n)
{
    int rv = log_reserve(l, n);
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *data;
        rv = payload_copy(e[i].data, e[i].len, &data);
        if (rv != 0) {
            return rv;
        }
        /* Cannot fail: capacity was reserved above. */
        log_append_owned(l, e[i].term, e[i].type, data, e[i].len);
    }
    return 0;
}

void log_truncate_after(struct raft_log *l, uint64_t index)
{
    if (index >= log_last_index(l)) {
        return;
    }
    if (index < l->offset) {
        index = l->offset;
    }
    size_t keep = (size_t)(index - l->offset);
    for (size_t i = keep; i < l->n; i++) {
        l->bytes -= l->ents[i].len;
        payload_unref(l->ents[i].data);
    }
    l->n = keep;
    /* What was durable or handed out beyond `index` no longer exists here;
     * the next Ready hands out the replacement from index+1 and the storage
     * discards its own suffix from there. */
    if (l->stable > index) {
        l->stable = index;
    }
    if (l->handed > index) {
        l->handed = index;
    }
}

int log_merge(struct raft_log *l, const struct sampan_entry *e, size_t n)
{
    size_t i = 0;
    /* Section 5.3, receiver rule 3: an existing entry that conflicts with a
     * new one (same index, different term) is deleted with all that follow
     * it. Rule 4: append any new entries not already in the log. */
    for (; i < n; i++) {
        uint64_t t;
        int rv = log_term(l, e[i].index, &t);
        if (rv == SAMPAN_ECOMPACTED) {
            continue; /* covered by our snapshot, hence committed */
        }
        if (rv != 0) {
            break; /* past our last index: append from here */
        }
        if (t != e[i].term) {
            log_truncate_after(l, e[i].index - 1);
            break;
        }
    }
    if (i == n) {
        return 0;
    }
    return log_append_copy(l, e + i, n - i);
}

bool log_is_up_to_date(const struct raft_log *l, uint64_t last_index,
                       uint64_t last_term)
{
    uint64_t our_term = log_last_term(l);
    return last_term > our_term ||
           (last_term == our_term && last_index >= log_last_index(l));
}

uint64_t log_find_conflict_by_term(const struct raft_log *l, uint64_t index,
                                   uint64_t term)
{
    if (index > log_last_index(l)) {
        index = log_last_index(l);
    }
    for (; index > l->offset; index--) {
        if (l->ents[index - l->offset - 1].term <= term) {
            return index;
        }
    }
    return l->offset;
}

size_t log_count_within(const struct raft_log *l, uint64_t lo,
                        uint64_t max_bytes, uint64_t *bytes)
{
    size_t count = 0;
    uint64_t total = 0;
    for (uint64_t i = lo; i <= log_last_index(l); i++) {
        uint64_t len = l->ents[i - l->offset - 1].len + SAMPAN_ENTRY_OVERHEAD;
        if (count > 0 && total + len > max_bytes) {
            break;
        }
        total += len;
        count++;
    }
    *bytes = total;
    return count;
}

uint64_t log_bytes_between(const struct raft_log *l, uint64_t lo, uint64_t hi)
{
    uint64_t total = 0;
    if (lo <= l->offset) {
        lo = l->offset + 1;
    }
    if (hi > log_last_index(l)) {
        hi = log_last_index(l);
    }
    for (uint64_t i = lo; i <= hi; i++) {
        total += l->ents[i - l->offset - 1].len;
    }
    return total;
}

void log_compact_to(struct raft_log *l, uint64_t index)
{
    if (index <= l->offset) {
        return;
    }
    if (index > log_last_index(l)) {
        index = log_last_index(l);
    }
    size_t drop = (size_t)(index - l->offset);
    l->offset_term = l->ents[drop - 1].term;
    /* Unhook now, free later (log_reap): the payloads go to the grave. */
    if (l->cap_grave - l->n_grave < drop) {
        size_t cap = l->n_grave + drop;
        uint8_t **g = realloc(l->grave, cap * sizeof(*g));
        if (g != NULL) {
            l->grave = g;
            l->cap_grave = cap;
        }
    }
    for (size_t i = 0; i < drop; i++) {
        struct sampan_entry *e = &l->ents[i];
        l->bytes -= e->len;
        if (e->data == NULL) {
            continue;
        }
        if (l->n_grave < l->cap_grave) {
            l->grave[l->n_grave++] = e->data;
            l->grave_bytes += e->len + PAYLOAD_OVERHEAD;
        } else {
            payload_unref(e->data); /* no room to defer: free it now */
        }
    }
    memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof(*l->ents));
    l->n -= drop;
    l->offset = index;
    /* Give memory back: a log that shrank to a quarter of its array gets
     * a smaller one, so compaction really frees what it discards. */
    if (l->cap > 64 && l->n < l->cap / 4) {
        size_t cap = l->n * 2 > 64 ? l->n * 2 : 64;
        struct sampan_entry *ents = realloc(l->ents, cap * sizeof(*ents));
        if (ents != NULL) {
            l->ents = ents;
            l->cap = cap;
        }
    }
}

void log_restore(struct raft_log *l, uint64_t index, uint64_t term)
{
    for (size_t i = 0; i < l->n; i++) {
        payload_unref(l->ents[i].data);
    }
    free(l->ents);
    l->ents = NULL;
    l->n = 0;
    l->cap = 0;
    l->bytes = 0;
    l->offset = index;
    l->offset_term = term;
    l->committed = index;
    l->stable = index;
    l->handed = index;
    /* `applied` moves when the Ready carrying the snapshot is advanced. */
}

void log_reap(struct raft_log *l, size_t max)
{
    while (l->n_grave > 0 && max-- > 0) {
        uint8_t *data = l->grave[--l->n_grave];
        /* The size is in the payload's header; read it before freeing. */
        l->grave_bytes -= payload_len(data) + PAYLOAD_OVERHEAD;
        payload_unref(data);
    }
    if (l->n_grave == 0 && l->cap_grave > 0) {
        free(l->grave);
        l->grave = NULL;
        l->cap_grave = 0;
        l->grave_bytes = 0;
    }
}
