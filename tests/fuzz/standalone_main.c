/* fuzz/standalone_main.c: a main() for fuzz targets built WITHOUT libFuzzer
 * (any compiler; under ctest with ASan/UBSan when SAMPAN_SANITIZE is on).
 * It feeds LLVMFuzzerTestOneInput():
 *   (a) every file named on the command line, or found in a directory named
 *       there (sorted, so runs are reproducible), then
 *   (b) --iterations N inputs made by a seeded PRNG: random bytes or random
 *       mutations (bit flips, byte sets, inserts, erases, copies, truncation)
 *       of corpus files and earlier inputs.
 * No coverage feedback: that is what the real libFuzzer build (SAMPAN_FUZZ=ON
 * with clang, binary fuzz-NAME) is for; this keeps every target exercised on
 * every `make test`.
 *
 *   fuzz-NAME-standalone [--iterations N] [--seed S|auto] [--max-len N]
 *                        [FILE|DIR ...]
 *
 * The seed is printed first; `--seed S` with the same N and corpus replays
 * a run exactly. Each input is passed in a heap block of exactly its size,
 * so ASan catches a read one byte past the end. Exit 0 when every input
 * returned; a crash or sanitizer report ends the process non-zero. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL_SLOTS 32u
#define MAX_CORPUS 4096u

struct rng {
    uint64_t s;
};

/* splitmix64: tiny, good enough, and the same one the core uses. */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static size_t rng_below(struct rng *r, size_t n)
{
    return n == 0 ? 0 : (size_t)(rng_next(r) % n);
}

struct blob {
    uint8_t *data;
    size_t len;
};

struct state {
    struct rng rng;
    size_t max_len;
    struct blob corpus[MAX_CORPUS];
    size_t n_corpus;
    struct blob pool[POOL_SLOTS]; /* earlier generated inputs */
    uint8_t *work;                /* max_len bytes, reused     */
};

/* Runs one input from an exact-size heap copy. */
static int run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len == 0 ? 1 : len);
    if (copy == NULL) {
        fprintf(stderr, "fuzz: out of memory for a %zu-byte input\n", len);
        return -1;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    return 0;
}

static int read_file(const char *path, size_t max_len, struct blob *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(max_len == 0 ? 1 : max_len);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "fuzz: out of memory reading %s\n", path);
        return -1;
    }
    /* Longer files are cut at max_len, as libFuzzer's -max_len does. */
    size_t got = fread(buf, 1, max_len, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        return -1;
    }
    out->data = buf;
    out->len = got;
    return 0;
}

static int add_file(struct state *s, const char *path)
{
    struct blob b;
    if (read_file(path, s->max_len, &b) != 0) {
        return -1;
    }
    if (run_one(b.data, b.len) != 0) {
        free(b.data);
        return -1;
    }
    if (s->n_corpus < MAX_CORPUS) {
        s->corpus[s->n_corpus++] = b;
    } else {
        free(b.data);
    }
    return 0;
}

static int add_path(struct state *s, const char *path, size_t *n_files)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        (*n_files)++;
        return add_file(s, path);
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz: cannot list %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
        struct stat fsb;
        if (rc == 0 && names[i]->d_name[0] != '.' && stat(full, &fsb) == 0 &&
            S_ISREG(fsb.st_mode)) {
            (*n_files)++;
            rc = add_file(s, full);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* One random edit of work[0..*len) in place, staying within max_len. */
static void mutate_once(struct state *s, size_t *len)
{
    static const uint8_t interesting[] = {0, 1, 2, 0x7f, 0x80, 0xfe, 0xff};
    uint8_t *w = s->work;
    size_t n = *len;
    switch (rng_below(&s->rng, 8)) {
    case 0: /* flip a bit */
        if (n > 0) {
            w[rng_below(&s->rng, n)] ^= (uint8_t)(1u << rng_below(&s->rng, 8));
        }
        break;
    case 1: /* set a random byte */
        if (n > 0) {
            w[rng_below(&s->rng, n)] = (uint8_t)rng_next(&s->rng);
        }
        break;
    case 2: /* set an interesting byte */
        if (n > 0) {
            w[rng_below(&s->rng, n)] =
                interesting[rng_below(&s->rng, sizeof(interesting))];
        }
        break;
    case 3: { /* insert random bytes */
        size_t k = 1 + rng_below(&s->rng, 16);
        if (n + k > s->max_len) {
            break;
        }
        size_t at = rng_below(&s->rng, n + 1);
        memmove(w + at + k, w + at, n - at);
        for (size_t i = 0; i < k; i++) {
            w[at + i] = (uint8_t)rng_next(&s->rng);
        }
        *len = n + k;
        break;
    }
    case 4: { /* erase a range */
        if (n == 0) {
            break;
        }
        size_t at = rng_below(&s->rng, n);
        size_t k = 1 + rng_below(&s->rng, n - at);
        memmove(w + at, w + at + k, n - at - k);
        *len = n - k;
        break;
    }
    case 5: { /* copy a range over another place */
        if (n < 2) {
            break;
        }
        size_t from = rng_below(&s->rng, n);
        size_t to = rng_below(&s->rng, n);
        size_t k = 1 + rng_below(&s->rng, n - (from > to ? from : to));
        memmove(w + to, w + from, k);
        break;
    }
    case 6: /* truncate */
        *len = rng_below(&s->rng, n + 1);
        break;
    default: { /* overwrite 1..8 bytes with a little-endian random value */
        if (n == 0) {
            break;
        }
        size_t at = rng_below(&s->rng, n);
        uint64_t v = rng_next(&s->rng) >> (8 * rng_below(&s->rng, 8));
        for (size_t i = 0; i < 8 && at + i < n; i++) {
            w[at + i] = (uint8_t)(v >> (8 * i));
        }
        break;
    }
    }
}

/* Builds the next input in s->work; returns its length. */
static size_t generate(struct state *s)
{
    size_t len = 0;
    size_t pick = rng_below(&s->rng, 4);
    const struct blob *base = NULL;
    if (pick == 1 && s->n_corpus > 0) {
        base = &s->corpus[rng_below(&s->rng, s->n_corpus)];
    } else if (pick >= 2) {
        base = &s->pool[rng_below(&s->rng, POOL_SLOTS)];
    }
    if (base != NULL && base->len > 0) {
        len = base->len;
        memcpy(s->work, base->data, len);
        size_t edits = 1 + rng_below(&s->rng, 8);
        for (size_t i = 0; i < edits; i++) {
            mutate_once(s, &len);
        }
    } else {
        /* Fresh bytes, biased toward short inputs. */
        len = rng_below(&s->rng, 1 + rng_below(&s->rng, s->max_len + 1));
        for (size_t i = 0; i < len; i++) {
            s->work[i] = (uint8_t)rng_next(&s->rng);
        }
    }
    return len;
}

/* Remembers an input for later mutation, replacing a random slot. */
static int remember(struct state *s, size_t len)
{
    struct blob *slot = &s->pool[rng_below(&s->rng, POOL_SLOTS)];
    if (slot->data == NULL) {
        slot->data = malloc(s->max_len == 0 ? 1 : s->max_len);
        if (slot->data == NULL) {
            fprintf(stderr, "fuzz: out of memory for the input pool\n");
            return -1;
        }
    }
    memcpy(slot->data, s->work, len);
    slot->len = len;
    return 0;
}

static int parse_u64(const char *str, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(str, &end, 0);
    if (errno != 0 || end == str || *end != '\0' || str[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

static int usage(const char *prog, const char *why)
{
    fprintf(stderr,
            "%s: %s\n"
            "usage: %s [--iterations N] [--seed S|auto] [--max-len N] "
            "[FILE|DIR ...]\n",
            prog, why, prog);
    return 2;
}

static void free_state(struct state *s)
{
    for (size_t i = 0; i < s->n_corpus; i++) {
        free(s->corpus[i].data);
    }
    for (size_t i = 0; i < POOL_SLOTS; i++) {
        free(s->pool[i].data);
    }
    free(s->work);
    free(s);
}

int main(int argc, char **argv)
{
    const char *prog = argv[0];
    const char *slash = strrchr(prog, '/');
    prog = slash != NULL ? slash + 1 : prog;
    uint64_t iterations = 10000;
    uint64_t seed = 0;
    int have_seed = 0;
    uint64_t max_len = 4096;
    int first_path = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            first_path = i;
            break;
        }
        if (i + 1 >= argc) {
            return usage(prog, "option without a value");
        }
        const char *v = argv[++i];
        if (strcmp(a, "--iterations") == 0) {
            if (parse_u64(v, &iterations) != 0) {
                return usage(prog, "--iterations wants a number");
            }
        } else if (strcmp(a, "--seed") == 0) {
            if (strcmp(v, "auto") != 0) {
                if (parse_u64(v, &seed) != 0) {
                    return usage(prog, "--seed wants a number or auto");
                }
                have_seed = 1;
            }
        } else if (strcmp(a, "--max-len") == 0) {
            if (parse_u64(v, &max_len) != 0 || max_len == 0 ||
                max_len > (UINT64_C(1) << 24)) {
                return usage(prog, "--max-len wants 1..16777216");
            }
        } else {
            return usage(prog, "unknown option");
        }
    }
    if (!have_seed) {
        seed = (uint64_t)time(NULL) * UINT64_C(1000003) ^ (uint64_t)getpid();
    }
    printf("%s: seed %llu (replay: --seed %llu), %llu iterations, "
           "max-len %llu\n",
           prog, (unsigned long long)seed, (unsigned long long)seed,
           (unsigned long long)iterations, (unsigned long long)max_len);
    fflush(stdout);

    struct state *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->work = malloc((size_t)max_len)) == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        free(s);
        return 1;
    }
    s->rng.s = seed;
    s->max_len = (size_t)max_len;

    size_t n_files = 0;
    for (int i = first_path; i < argc; i++) {
        if (add_path(s, argv[i], &n_files) != 0) {
            free_state(s);
            return 1;
        }
    }
    run_one(NULL, 0); /* the empty input, always */
    for (uint64_t it = 0; it < iterations; it++) {
        size_t len = generate(s);
        if (run_one(s->work, len) != 0 || remember(s, len) != 0) {
            free_state(s);
            return 1;
        }
    }
    printf("%s: ok, %zu corpus files and %llu generated inputs\n", prog,
           n_files, (unsigned long long)iterations);
    free_state(s);
    return 0;
}
