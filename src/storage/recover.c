/* storage/recover.c: recovery. Reads every file of the data directory,
 * verifies it, and rebuilds term/vote, the newest snapshot and the log by
 * replaying WAL segments in seq order (docs/disk-format.md, "Recovery").
 * Used by sampan_storage_open (repair on: temporary files are removed and a
 * torn tail is zeroed) and by sampan_storage_inspect (repair off: nothing
 * is changed, findings are emitted as lines). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "storage/internal.h"

struct name_list {
    char (*v)[FMT_NAME_MAX];
    size_t n, cap;
};

struct scan {
    struct recovery *r;
    struct name_list tmps;
    struct name_list snaps;
    int rc;
};

static int name_push(struct name_list *l, const char *name)
{
    if (strlen(name) >= FMT_NAME_MAX) {
        return 0; /* not one of ours: our names are all shorter */
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char(*v)[FMT_NAME_MAX] = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return SAMPAN_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n++], FMT_NAME_MAX, "%s", name);
    return 0;
}

static void emitf(struct recovery *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emitf(struct recovery *r, const char *fmt, ...)
{
    if (r->emit == NULL) {
        return;
    }
    char line[2048]; /* a snapshot's line names up to 16 addresses */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    r->emit(r->emit_arg, line);
}

/* Appends a sentence to r->repaired (what open changed, for operators). */
static void note_repair(struct recovery *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_repair(struct recovery *r, const char *fmt, ...)
{
    size_t used = strlen(r->repaired);
    if (used > 0 && used + 2 < sizeof(r->repaired)) {
        memcpy(r->repaired + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->repaired + used, sizeof(r->repaired) - used, fmt, ap);
    va_end(ap);
}

static int collect(void *arg, const char *name)
{
    struct scan *s = arg;
    struct fmt_name n = name_parse(name);
    struct seg_info seg;
    switch (n.kind) {
    case FMT_FILE_TMP:
        return name_push(&s->tmps, name);
    case FMT_FILE_SNAP:
        return name_push(&s->snaps, name);
    case FMT_FILE_WAL_OPEN:
    case FMT_FILE_WAL_CLOSED:
        memset(&seg, 0, sizeof(seg));
        snprintf(seg.name, sizeof(seg.name), "%s", name);
        seg.seq = n.a;
        seg.open = n.kind == FMT_FILE_WAL_OPEN;
        return seg_list_push(&s->r->segs, &seg);
    default:
        return 0; /* meta files are read by name; others are not ours */
    }
}

static int cmp_seq(const void *a, const void *b)
{
    const struct seg_info *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int remove_tmps(struct recovery *r, struct name_list *tmps)
{
    for (size_t i = 0; i < tmps->n; i++) {
        if (!r->repair) {
            emitf(r, "leftover temporary file %s (open removes it)",
                  tmps->v[i]);
            continue;
        }
        int rc = r->vfs->ops->remove(r->vfs->ctx, tmps->v[i]);
        if (rc != 0 && rc != SAMPAN_ENOENT) {
            errf(r->err, r->errlen, "cannot remove %s: %s", tmps->v[i],
                 sampan_strerror(rc));
            return rc;
        }
    }
    if (r->repair && tmps->n > 0) {
        int rc = r->vfs->ops->sync_dir(r->vfs->ctx);
        if (rc != 0) {
            errf(r->err, r->errlen, "sync of the data directory: %s",
                 sampan_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Term and vote: the valid record with the highest seq of the two files.
 * One invalid file is a torn write of the latest record (never acted on);
 * both invalid means the data is damaged. */
static int recover_meta(struct recovery *r)
{
    static const char *const names[2] = {FMT_META_A, FMT_META_B};
    const char *why[2] = {"missing", "missing"};
    bool valid[2] = {false, false}, present = false;
    struct fmt_meta m[2];
    for (int i = 0; i < 2; i++) {
        uint8_t *buf;
        uint64_t len;
        int rc = io_read_file(r->vfs, names[i], &buf, &len);
        if (rc == SAMPAN_ENOENT) {
            continue;
        }
        if (rc != 0) {
            errf(r->err, r->errlen, "cannot read %s: %s", names[i],
                 sampan_strerror(rc));
            return rc;
        }
        if (len > 0) {
            present = true;
            why[i] = NULL;
            valid[i] = meta_decode(buf, (size_t)len, &m[i], &why[i]) == 0;
        } else {
            why[i] = "empty";
        }
        free(buf);
    }
    if (present && !valid[0] && !valid[1]) {
        errf(r->err, r->errlen,
             "file %s, offset 0: %s; file %s, offset 0: %s: neither meta "
             "file holds a valid term/vote record",
             names[0], why[0], names[1], why[1]);
        return SAMPAN_ECORRUPT;
    }
    r->meta_cur = -1;
    for (int i = 0; i < 2; i++) {
        if (valid[i] && (r->meta_cur < 0 || m[i].seq > m[r->meta_cur].seq)) {
            r->meta_cur = i;
        }
    }
    if (r->meta_cur >= 0) {
        r->have_meta = true;
        r->meta = m[r->meta_cur];
        emitf(r, "meta: term %llu vote %llu (%s, seq %llu)",
              (unsigned long long)r->meta.term,
              (unsigned long long)r->meta.vote, names[r->meta_cur],
              (unsigned long long)r->meta.seq);
        int other = 1 - r->meta_cur;
        if (why[other] != NULL && present && !valid[other] &&
            strcmp(why[other], "missing") != 0) {
            emitf(r, "meta: %s is invalid (%s): a torn write, ignored",
                  names[other], why[other]);
        }
    } else {
        emitf(r, "meta: none (term 0, no vote)");
    }
    return 0;
}

/* Text appended to out[0..len) at *used, cut short at the end of out. */
static void appendf(char *out, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *out, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used >= len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out + *used, len - *used, fmt, ap);
    va_end(ap);
    if (w > 0) {
        *used += (size_t)w;
    }
}

/* ", <label> 1,2,3", ids marked with '+' where bit i of mark is set. */
static void ids_str(char *out, size_t len, size_t *used, const char *label,
                    const uint64_t *ids, uint32_t n, uint32_t mark)
{
    appendf(out, len, used, ", %s ", label);
    for (uint32_t i = 0; i < n; i++) {
        appendf(out, len, used, "%s%llu%s", i ? "," : "",
                (unsigned long long)ids[i],
                i < 32 && (mark >> i & 1u) != 0 ? "+" : "");
    }
}

/* A snapshot's configuration for `storage check`: ", voters 1,2,3", then,
 * only when present, the outgoing voters of a joint configuration, the
 * learners (those to be promoted marked '+') and the addresses. */
static void conf_str(const struct sampan_membership *c, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    ids_str(out, len, &used, "voters", c->voters, c->n_voters, 0);
    if (c->n_voters == 0) {
        appendf(out, len, &used, "none");
    }
    if (c->n_outgoing > 0) {
        ids_str(out, len, &used, "joint with outgoing voters", c->outgoing,
                c->n_outgoing, 0);
    }
    if (c->n_learners > 0) {
        ids_str(out, len, &used, "learners", c->learners, c->n_learners,
                c->learners_promote);
        if (c->learners_promote != 0) {
            appendf(out, len, &used, " (+: to become voters)");
        }
    }
    for (uint32_t i = 0; i < c->n_addrs; i++) {
        appendf(out, len, &used, "%s%llu=%s", i ? " " : ", addresses ",
                (unsigned long long)c->addrs[i].id, c->addrs[i].addr);
    }
}

/* Verifies one snapshot file: header, name, size and data checksum. */
static int check_snapshot(struct recovery *r, const char *name,
                          struct snap_info *out)
{
    const struct sampan_vfs *v = r->vfs;
    int fd;
    int rc = v->ops->open(v->ctx, name, false, &fd);
    if (rc != 0) {
        errf(r->err, r->errlen, "cannot open %s: %s", name,
             sampan_strerror(rc));
        return rc;
    }
    /* One buffer for the header and then the data, read in pieces. */
    uint8_t *buf = malloc(64 * 1024);
    uint64_t size = 0;
    struct fmt_snap_header h;
    const char *why = NULL;
    const char *what = "";
    uint64_t bad_off = 0;
    if (buf == NULL) {
        rc = SAMPAN_ENOMEM;
        goto out;
    }
    rc = v->ops->size(v->ctx, fd, &size);
    if (rc != 0) {
        goto out;
    }
    size_t got = 0;
    rc = v->ops->read(v->ctx, fd, 0, buf, FMT_SNAP_HDR_BYTES, &got);
    if (rc != 0) {
        goto out;
    }
    if (snap_header_decode(buf, got, &h, &why, &bad_off) != 0) {
        /* The configuration decoder's reasons do not say where they are. */
        what =
            bad_off == FMT_SNAP_CONF_OFF ? "configuration in the header: " : "";
        rc = SAMPAN_ECORRUPT;
        goto out;
    }
    struct fmt_name n = name_parse(name);
    if (n.a != h.meta.term || n.b != h.meta.index) {
        why = "header index/term differ from the file name";
        rc = SAMPAN_ECORRUPT;
        goto out;
    }
    if (size < FMT_SNAP_HDR_BYTES || size - FMT_SNAP_HDR_BYTES != h.data_len) {
        why = "file size differs from the header's data length";
        bad_off = size;
        rc = SAMPAN_ECORRUPT;
        goto out;
    }
    uint32_t crc = 0;
    for (uint64_t off = 0; off < h.data_len;) {
        size_t want = h.data_len - off < 64 * 1024 ? (size_t)(h.data_len - off)
                                                   : 64 * 1024;
        rc = io_read_exact(v, fd, FMT_SNAP_HDR_BYTES + off, buf, want);
        if (rc != 0) {
            why = "short read";
            goto out;
        }
        crc = crc32c(crc, buf, want);
        off += want;
    }
    if (crc != h.data_crc) {
        why = "data checksum mismatch";
        bad_off = FMT_SNAP_HDR_BYTES;
        rc = SAMPAN_ECORRUPT;
        goto out;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->meta = h.meta;
    out->data_len = h.data_len;
out:
    free(buf);
    v->ops->close(v->ctx, fd);
    if (rc == SAMPAN_ECORRUPT) {
        errf(r->err, r->errlen,
             "file %s, offset %llu: %s%s (snapshot failing its check; "
             "refusing to fall back to an older one)",
             name, (unsigned long long)bad_off, what, why ? why : "corrupt");
    } else if (rc != 0) {
        errf(r->err, r->errlen, "snapshot %s: %s", name, sampan_strerror(rc));
    }
    return rc;
}

static int recover_snapshots(struct recovery *r, struct name_list *names)
{
    for (size_t i = 0; i < names->n; i++) {
        struct snap_info s;
        int rc = check_snapshot(r, names->v[i], &s);
        if (rc == 0) {
            rc = snap_list_insert(&r->snaps, &s);
        }
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < r->snaps.n; i++) {
        const struct snap_info *s = &r->snaps.v[i];
        char conf[1800];
        conf_str(&s->meta.conf, conf, sizeof(conf));
        emitf(r, "snapshot %s: index %llu term %llu, %llu bytes%s", s->name,
              (unsigned long long)s->meta.index,
              (unsigned long long)s->meta.term, (unsigned long long)s->data_len,
              conf);
    }
    if (r->snaps.n > 0) {
        const struct snap_info *s = &r->snaps.v[r->snaps.n - 1];
        r->snap = s->meta;
        r->snap_bytes = s->data_len;
    }
    return 0;
}

static uint64_t log_last(const struct recovery *r)
{
    return r->base_index + r->n;
}

static void log_truncate(struct recovery *r, size_t n)
{
    for (size_t i = n; i < r->n; i++) {
        free(r->ents[i].data);
    }
    if (n < r->n) {
        r->n = n;
    }
}

/* The log restarts at (index, term): everything is forgotten. */
static void log_rebase(struct recovery *r, uint64_t index, uint64_t term,
                       bool known)
{
    log_truncate(r, 0);
    r->base_index = index;
    r->base_term = term;
    r->base_known = known;
}

static int log_append(struct recovery *r, const struct sampan_entry *e)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct sampan_entry *v = realloc(r->ents, cap * sizeof(*v));
        if (v == NULL) {
            return SAMPAN_ENOMEM;
        }
        r->ents = v;
        r->cap = cap;
    }
    struct sampan_entry c = *e;
    c.data = NULL;
    if (e->len > 0) {
        c.data = malloc(e->len);
        if (c.data == NULL) {
            return SAMPAN_ENOMEM;
        }
        memcpy(c.data, e->data, e->len);
    }
    r->ents[r->n++] = c;
    return 0;
}

/* The term at `index` as far as the log knows it; false when unknown. */
static bool log_term(const struct recovery *r, uint64_t index, uint64_t *term)
{
    if (index == r->base_index) {
        *term = r->base_term;
        return r->base_known;
    }
    if (index < r->base_index || index > log_last(r)) {
        return false;
    }
    *term = r->ents[index - r->base_index - 1].term;
    return true;
}

/* Is there a fully valid batch at any sector boundary in [from, len)? */
static bool valid_batch_after(const uint8_t *buf, uint64_t len, uint64_t from,
                              uint64_t *where)
{
    for (uint64_t off = from; off + FMT_BATCH_HDR <= len; off += FMT_SECTOR) {
        struct fmt_batch_header h;
        uint64_t ext;
        if (batch_header_decode(buf + off, (size_t)(len - off), &h, NULL) ==
                0 &&
            batch_decode(buf + off, (size_t)(len - off), &h, NULL, &ext,
                         NULL) == 0) {
            *where = off;
            return true;
        }
    }
    return false;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Is p (n bytes) a proper prefix of magic followed by zeros: what is left
 * of it when a write stops partway through? */
static bool cut_short(const uint8_t *p, const uint8_t *magic, size_t n)
{
    size_t k = 0;
    while (k < n && p[k] == magic[k]) {
        k++;
    }
    return k < n && all_zero(p + k, n - k);
}

/* Are the n (< 4) bytes at the end of a file the start of a batch magic? */
static bool is_magic_prefix(const uint8_t *p, size_t n)
{
    return memcmp(p, "BTCH", n) == 0;
}

/* A batch at off of the newest segment failed verification: was it a write
 * cut short by a crash? It was if no valid batch follows it and either its
 * magic or its trailer (the last bytes a write puts down) is cut short, or
 * its extent holds an all-zero sector (sectors that never reached the
 * disk). A byte changed inside a complete batch is none of these. */
static bool is_torn(const uint8_t *buf, uint64_t size, uint64_t off)
{
    static const uint8_t magic[4] = {'B', 'T', 'C', 'H'};
    static const uint8_t trailer[4] = {'B', 'E', 'N', 'D'};
    uint64_t after;
    if (valid_batch_after(buf, size, off + FMT_SECTOR, &after)) {
        return false;
    }
    const uint8_t *p = buf + off;
    uint64_t avail = size - off; /* >= 4: the caller checked */
    struct fmt_batch_header h;
    if (batch_header_decode(p, (size_t)avail, &h, NULL) != 0) {
        /* Magic whole but the header cut off by the end of the file, or
         * the magic itself cut short. */
        return memcmp(p, magic, 4) == 0 || cut_short(p, magic, 4);
    }
    uint64_t tpos = off + FMT_BATCH_HDR + (uint64_t)h.payload_len;
    if (h.payload_len > FMT_BATCH_MAX_PAYLOAD || tpos + 4 > size) {
        return true; /* claims more than the file holds: never finished */
    }
    if (cut_short(buf + tpos, trailer, 4)) {
        return true;
    }
    uint64_t end = size;
    if (off + batch_extent(h.payload_len) < end) {
        end = off + batch_extent(h.payload_len);
    }
    for (uint64_t s = off; s + FMT_SECTOR <= end; s += FMT_SECTOR) {
        if (all_zero(buf + s, FMT_SECTOR)) {
            return true;
        }
    }
    return false;
}

/* Zeroes a torn tail [off, last non-zero byte] and syncs. */
static int zero_tail(struct recovery *r, const char *name, uint8_t *buf,
                     uint64_t size, uint64_t off, uint64_t *zeroed)
{
    uint64_t end = size;
    while (end > off && buf[end - 1] == 0) {
        end--;
    }
    end = (end + FMT_SECTOR - 1) / FMT_SECTOR * FMT_SECTOR;
    if (end > size) {
        end = size;
    }
    *zeroed = end - off;
    if (!r->repair || end == off) {
        return 0;
    }
    const struct sampan_vfs *v = r->vfs;
    int fd;
    int rc = v->ops->open(v->ctx, name, false, &fd);
    if (rc != 0) {
        return rc;
    }
    memset(buf + off, 0, (size_t)(end - off));
    rc = v->ops->write(v->ctx, fd, off, buf + off, (size_t)(end - off));
    if (rc == 0) {
        rc = v->ops->sync(v->ctx, fd);
    }
    v->ops->close(v->ctx, fd);
    return rc;
}

static const char *type_name(uint8_t t)
{
    return t == SAMPAN_ENTRY_NOOP   ? "NOOP"
           : t == SAMPAN_ENTRY_CONF ? "CONF"
                                    : "NORMAL";
}

/* Replays one verified batch into the log. */
static int replay_batch(struct recovery *r, struct seg_info *seg,
                        const uint8_t *p, uint64_t len, uint64_t off,
                        const struct fmt_batch_header *h)
{
    struct sampan_entry *ents = malloc(h->n_records * sizeof(*ents));
    if (ents == NULL) {
        return SAMPAN_ENOMEM;
    }
    struct fmt_batch_header h2;
    uint64_t ext;
    int rc = batch_decode(p, (size_t)len, &h2, ents, &ext, NULL);
    for (uint32_t i = 0; rc == 0 && i < h->n_records; i++) {
        const struct sampan_entry *e = &ents[i];
        if (e->index - 1 > log_last(r)) {
            errf(r->err, r->errlen,
                 "file %s, offset %llu, index %llu: record after the end "
                 "of the log (index %llu): missing segment or entries",
                 seg->name, (unsigned long long)off,
                 (unsigned long long)e->index, (unsigned long long)log_last(r));
            rc = SAMPAN_ECORRUPT;
            break;
        }
        if (e->index - 1 < r->base_index) {
            /* Replaces entries older than anything this replay saw: the
             * term before it is unknown (a snapshot must vouch for it). */
            log_rebase(r, e->index - 1, 0, false);
        } else {
            log_truncate(r, (size_t)(e->index - 1 - r->base_index));
        }
        rc = log_append(r, e);
        if (r->dump) {
            emitf(r, "  index %llu term %llu %s %u bytes",
                  (unsigned long long)e->index, (unsigned long long)e->term,
                  type_name(e->type), (unsigned)e->len);
        }
    }
    if (rc == 0) {
        if (!seg->has_records) {
            seg->first = h->first_index;
            seg->has_records = true;
        }
        seg->last = h->first_index + h->n_records - 1;
        seg->batches++;
    }
    free(ents);
    return rc;
}

/* Reports a batch that failed verification and is not a torn tail. */
static int corrupt_batch(struct recovery *r, const struct seg_info *seg,
                         const uint8_t *p, uint64_t avail, uint64_t off,
                         const char *why)
{
    struct fmt_batch_header h;
    if (batch_header_decode(p, (size_t)avail, &h, NULL) == 0) {
        errf(r->err, r->errlen, "file %s, offset %llu, index %llu: %s",
             seg->name, (unsigned long long)off,
             (unsigned long long)h.first_index, why);
    } else {
        errf(r->err, r->errlen,
             "file %s, offset %llu, index %llu (after the last good "
             "record): %s",
             seg->name, (unsigned long long)off,
             (unsigned long long)(log_last(r) + 1), why);
    }
    return SAMPAN_ECORRUPT;
}

/* The newest .open segment has no valid header and no valid batch: it was
 * being created when the process stopped (its header is synced before any
 * batch goes in), so nothing in it was ever acknowledged. */
static int discard_new_segment(struct recovery *r, size_t i)
{
    struct seg_info *seg = &r->segs.v[i];
    if (r->repair) {
        int rc = r->vfs->ops->remove(r->vfs->ctx, seg->name);
        if (rc == 0) {
            rc = r->vfs->ops->sync_dir(r->vfs->ctx);
        }
        if (rc != 0) {
            errf(r->err, r->errlen, "cannot remove %s: %s", seg->name,
                 sampan_strerror(rc));
            return rc;
        }
        note_repair(r, "%s: removed a segment whose creation was cut short",
                    seg->name);
    } else {
        emitf(r,
              "segment %s: creation cut short (no valid header); open "
              "removes it",
              seg->name);
    }
    r->segs.n--;
    return 0;
}

static int replay_segment(struct recovery *r, size_t i)
{
    struct seg_info *seg = &r->segs.v[i];
    bool newest = i + 1 == r->segs.n;
    uint8_t *buf;
    uint64_t size;
    int rc = io_read_file(r->vfs, seg->name, &buf, &size);
    if (rc != 0) {
        errf(r->err, r->errlen, "cannot read %s: %s", seg->name,
             sampan_strerror(rc));
        return rc;
    }
    struct fmt_seg_header sh;
    const char *why = NULL;
    uint64_t after;
    if (segment_header_decode(buf, (size_t)size, &sh, &why) != 0) {
        if (newest && seg->open && !valid_batch_after(buf, size, 0, &after)) {
            free(buf);
            return discard_new_segment(r, i);
        }
        errf(r->err, r->errlen, "file %s, offset 0, index %llu: %s", seg->name,
             (unsigned long long)(log_last(r) + 1), why);
        free(buf);
        return SAMPAN_ECORRUPT;
    }
    if (sh.seq != seg->seq) {
        errf(r->err, r->errlen,
             "file %s, offset 0: header seq %llu differs from the name",
             seg->name, (unsigned long long)sh.seq);
        free(buf);
        return SAMPAN_ECORRUPT;
    }
    /* The segment's prev: the log continues from (prev_index, prev_term). */
    if (sh.prev_index > log_last(r)) {
        errf(r->err, r->errlen,
             "missing segment: file %s starts after index %llu but %s "
             "ends at index %llu",
             seg->name, (unsigned long long)sh.prev_index,
             i == 0 ? (r->snap.index ? "the snapshot" : "the empty log")
                    : r->segs.v[i - 1].name,
             (unsigned long long)log_last(r));
        free(buf);
        return SAMPAN_ECORRUPT;
    }
    uint64_t t;
    if (i == 0 || sh.prev_index < r->base_index ||
        (log_term(r, sh.prev_index, &t) && t != sh.prev_term)) {
        /* A new history from prev on (the first segment, or one started
         * by installing a snapshot that replaced the log). */
        log_rebase(r, sh.prev_index, sh.prev_term, true);
    } else {
        log_truncate(r, (size_t)(sh.prev_index - r->base_index));
        if (sh.prev_index == r->base_index) {
            r->base_term = sh.prev_term;
            r->base_known = true;
        }
    }
    seg->prev_index = sh.prev_index;
    seg->prev_term = sh.prev_term;
    seg->first = sh.prev_index + 1;
    seg->last = sh.prev_index;

    uint64_t off = FMT_SECTOR;
    while (rc == 0 && off < size) {
        const uint8_t *p = buf + off;
        uint64_t avail = size - off;
        if (all_zero(p, avail < 4 ? (size_t)avail : 4)) {
            /* The end of the log; nothing valid may follow it. */
            if (valid_batch_after(buf, size, off + FMT_SECTOR, &after)) {
                errf(r->err, r->errlen,
                     "file %s, offset %llu, index %llu: zeroed sector "
                     "before a valid batch at offset %llu",
                     seg->name, (unsigned long long)off,
                     (unsigned long long)(log_last(r) + 1),
                     (unsigned long long)after);
                rc = SAMPAN_ECORRUPT;
            }
            break;
        }
        struct fmt_batch_header h;
        uint64_t ext = 0;
        why = "stray bytes at the end of the file, fewer than a batch magic";
        if (avail >= 4 &&
            batch_decode(p, (size_t)avail, &h, NULL, &ext, &why) == 0) {
            rc = replay_batch(r, seg, p, avail, off, &h);
            off += ext;
            continue;
        }
        /* Under 4 bytes before the end of the file: a write that extended
         * the file was cut 1-3 bytes into a batch's magic (found by the
         * black-box suite: these bytes used to be skipped unreported). */
        bool torn = avail < 4 ? is_magic_prefix(p, (size_t)avail)
                              : is_torn(buf, size, off);
        if (!newest || !torn) {
            rc = corrupt_batch(r, seg, p, avail, off, why);
            break;
        }
        uint64_t zeroed = 0;
        rc = zero_tail(r, seg->name, buf, size, off, &zeroed);
        if (rc != 0) {
            errf(r->err, r->errlen, "%s: cannot truncate its torn tail: %s",
                 seg->name, sampan_strerror(rc));
            break;
        }
        if (r->repair) {
            note_repair(r,
                        "%s: truncated a torn tail of %llu bytes at offset "
                        "%llu (index %llu on)",
                        seg->name, (unsigned long long)zeroed,
                        (unsigned long long)off,
                        (unsigned long long)(log_last(r) + 1));
        } else {
            emitf(r,
                  "segment %s: torn tail of %llu bytes at offset %llu "
                  "(index %llu on); open truncates it",
                  seg->name, (unsigned long long)zeroed,
                  (unsigned long long)off,
                  (unsigned long long)(log_last(r) + 1));
        }
        break;
    }
    free(buf);
    if (rc != 0) {
        return rc;
    }
    if (newest) {
        r->tail_open = seg->open;
        r->tail_off = off;
        r->tail_size = size;
    }
    if (seg->has_records) {
        emitf(r,
              "segment %s: seq %llu, prev %llu/%llu, indexes %llu-%llu, "
              "%llu batches",
              seg->name, (unsigned long long)seg->seq,
              (unsigned long long)seg->prev_index,
              (unsigned long long)seg->prev_term,
              (unsigned long long)seg->first, (unsigned long long)seg->last,
              (unsigned long long)seg->batches);
    } else {
        emitf(r, "segment %s: seq %llu, prev %llu/%llu, no records", seg->name,
              (unsigned long long)seg->seq, (unsigned long long)seg->prev_index,
              (unsigned long long)seg->prev_term);
    }
    return 0;
}

static int recover_log(struct recovery *r)
{
    struct seg_list *l = &r->segs;
    if (l->n > 1) {
        qsort(l->v, l->n, sizeof(*l->v), cmp_seq);
    }
    for (size_t i = 1; i < l->n; i++) {
        if (l->v[i].seq != l->v[i - 1].seq + 1) {
            errf(r->err, r->errlen,
                 "missing segment: %s (seq %llu) follows %s (seq %llu)",
                 l->v[i].name, (unsigned long long)l->v[i].seq,
                 l->v[i - 1].name, (unsigned long long)l->v[i - 1].seq);
            return SAMPAN_ECORRUPT;
        }
    }
    log_rebase(r, r->snap.index, r->snap.term, true);
    for (size_t i = 0; i < l->n; i++) {
        int rc = replay_segment(r, i);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Ties the log to the newest snapshot: entries it covers are dropped, and
 * entries after it are kept only if the log agrees with it at its index
 * (Log Matching); otherwise an install replaced them. */
static int apply_snapshot(struct recovery *r)
{
    if (r->snap.index == 0) {
        return 0;
    }
    if (r->segs.n > 0 && r->base_index > r->snap.index) {
        errf(r->err, r->errlen,
             "missing segment: the log (from %s) starts after index %llu "
             "but the newest snapshot ends at index %llu",
             r->segs.v[0].name, (unsigned long long)r->base_index,
             (unsigned long long)r->snap.index);
        return SAMPAN_ECORRUPT;
    }
    uint64_t t = 0;
    bool agrees = log_term(r, r->snap.index, &t) && t == r->snap.term;
    uint64_t last = log_last(r);
    if (!agrees && r->segs.n > 0) {
        r->need_new_segment = true;
        if (last > r->snap.index) {
            if (r->repair) {
                note_repair(r,
                            "entries %llu-%llu dropped: the snapshot at "
                            "index %llu (term %llu) replaced them",
                            (unsigned long long)(r->snap.index + 1),
                            (unsigned long long)last,
                            (unsigned long long)r->snap.index,
                            (unsigned long long)r->snap.term);
            } else {
                emitf(r,
                      "log: entries %llu-%llu disagree with the snapshot "
                      "at index %llu (an interrupted install); open drops "
                      "them",
                      (unsigned long long)(r->snap.index + 1),
                      (unsigned long long)last,
                      (unsigned long long)r->snap.index);
            }
        }
    }
    if (!agrees || last <= r->snap.index) {
        log_rebase(r, r->snap.index, r->snap.term, true);
        return 0;
    }
    size_t drop = (size_t)(r->snap.index - r->base_index);
    for (size_t i = 0; i < drop; i++) {
        free(r->ents[i].data);
    }
    memmove(r->ents, r->ents + drop, (r->n - drop) * sizeof(*r->ents));
    r->n -= drop;
    r->base_index = r->snap.index;
    r->base_term = r->snap.term;
    r->base_known = true;
    return 0;
}

int recover_run(struct recovery *r)
{
    struct scan s = {.r = r};
    r->meta_cur = -1;
    r->repaired[0] = '\0';
    int rc = r->vfs->ops->list(r->vfs->ctx, collect, &s);
    if (rc != 0) {
        errf(r->err, r->errlen, "cannot list the data directory: %s",
             sampan_strerror(rc));
    }
    if (rc == 0) {
        rc = remove_tmps(r, &s.tmps);
    }
    if (rc == 0) {
        rc = recover_meta(r);
    }
    if (rc == 0) {
        rc = recover_snapshots(r, &s.snaps);
    }
    if (rc == 0) {
        rc = recover_log(r);
    }
    if (rc == 0) {
        rc = apply_snapshot(r);
    }
    if (rc == 0) {
        if (r->n > 0) {
            emitf(r, "log: indexes %llu-%llu (%zu entries) after index %llu",
                  (unsigned long long)(r->base_index + 1),
                  (unsigned long long)log_last(r), r->n,
                  (unsigned long long)r->base_index);
        } else {
            emitf(r, "log: empty after index %llu",
                  (unsigned long long)r->base_index);
        }
    }
    free(s.tmps.v);
    free(s.snaps.v);
    return rc;
}

void recovery_free(struct recovery *r)
{
    log_truncate(r, 0);
    free(r->ents);
    free(r->segs.v);
    free(r->snaps.v);
    r->ents = NULL;
    r->segs.v = NULL;
    r->snaps.v = NULL;
    r->n = r->cap = 0;
}
