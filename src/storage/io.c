/* storage/io.c: small helpers shared by the storage files: formatted error
 * messages, whole-file and exact reads through the vfs, and the growable
 * segment and snapshot lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"

void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int io_read_exact(const struct sampan_vfs *vfs, int fd, uint64_t off, void *buf,
                  size_t len)
{
    size_t got = 0;
    int rc = vfs->ops->read(vfs->ctx, fd, off, buf, len, &got);
    if (rc != 0) {
        return rc;
    }
    return got == len ? 0 : SAMPAN_ECORRUPT;
}

int io_read_file(const struct sampan_vfs *vfs, const char *name, uint8_t **buf,
                 uint64_t *len)
{
    int fd;
    *buf = NULL;
    *len = 0;
    int rc = vfs->ops->open(vfs->ctx, name, false, &fd);
    if (rc != 0) {
        return rc;
    }
    uint64_t size = 0;
    rc = vfs->ops->size(vfs->ctx, fd, &size);
    if (rc == 0 && size > SIZE_MAX / 2) {
        rc = SAMPAN_ENOMEM;
    }
    uint8_t *b = NULL;
    if (rc == 0 && size > 0) {
        b = malloc((size_t)size);
        if (b == NULL) {
            rc = SAMPAN_ENOMEM;
        }
    }
    size_t got = 0;
    if (rc == 0 && size > 0) {
        rc = vfs->ops->read(vfs->ctx, fd, 0, b, (size_t)size, &got);
    }
    vfs->ops->close(vfs->ctx, fd);
    if (rc != 0) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = got; /* a file shrinking under us reads short; use what is there */
    return 0;
}

int seg_list_push(struct seg_list *l, const struct seg_info *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct seg_info *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return SAMPAN_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *s;
    return 0;
}

int snap_list_insert(struct snap_list *l, const struct snap_info *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct snap_info *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return SAMPAN_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    size_t i = l->n;
    while (i > 0 && (l->v[i - 1].meta.index > s->meta.index ||
                     (l->v[i - 1].meta.index == s->meta.index &&
                      l->v[i - 1].meta.term > s->meta.term))) {
        l->v[i] = l->v[i - 1];
        i--;
    }
    l->v[i] = *s;
    l->n++;
    return 0;
}
