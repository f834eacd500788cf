/* raft/vec.c: a growable array of plain structs with a hard limit on its
 * length, for everything the core queues on behalf of others (pending
 * reads, snapshot chunks and read requests). */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

void vec_init(struct vec *v, size_t size, size_t limit)
{
    v->items = NULL;
    v->n = 0;
    v->cap = 0;
    v->limit = limit;
    v->size = size;
}

int vec_push(struct vec *v, const void *item)
{
    if (v->n >= v->limit) {
        return SAMPAN_EBUSY;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        if (cap > v->limit) {
            cap = v->limit;
        }
        void *items = realloc(v->items, cap * v->size);
        if (items == NULL) {
            return SAMPAN_ENOMEM;
        }
        v->items = items;
        v->cap = cap;
    }
    memcpy((char *)v->items + v->n * v->size, item, v->size);
    v->n++;
    return 0;
}

void *vec_take(struct vec *v, size_t *n)
{
    void *items = v->items;
    *n = v->n;
    v->items = NULL;
    v->n = 0;
    v->cap = 0;
    if (*n == 0) {
        free(items);
        return NULL;
    }
    return items;
}

void vec_destroy(struct vec *v)
{
    free(v->items);
    v->items = NULL;
    v->n = 0;
    v->cap = 0;
}
