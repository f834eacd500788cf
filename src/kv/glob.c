/* kv/glob.c: Redis glob matching for SCAN MATCH and KEYS. Semantics of
 * Redis's stringmatchlen (case-sensitive): '*' any run, '?' one byte,
 * '[...]' a class with ranges and '^' negation, '\' escapes. Written as
 * the classic backtrack-to-last-star loop rather than Redis's recursion:
 * every non-star token matches exactly one byte, so O(len(pat) *
 * len(str)) time and no stack depth, whatever a client sends. */
#include "kv/internal.h"

/* Matches one non-star token at pat[*pi] against byte c; advances *pi
 * past the token. */
static bool token_match(const uint8_t *pat, size_t plen, size_t *pi, uint8_t c)
{
    size_t i = *pi;
    if (pat[i] == '?') {
        *pi = i + 1;
        return true;
    }
    if (pat[i] == '\\' && i + 1 < plen) {
        *pi = i + 2;
        return pat[i + 1] == c;
    }
    if (pat[i] != '[') {
        *pi = i + 1;
        return pat[i] == c;
    }
    i++;
    bool neg = false, hit = false;
    if (i < plen && pat[i] == '^') {
        neg = true;
        i++;
    }
    /* Like Redis, an unterminated class runs to the end of the pattern. */
    while (i < plen && pat[i] != ']') {
        if (pat[i] == '\\' && i + 1 < plen) {
            hit |= pat[i + 1] == c;
            i += 2;
        } else if (i + 2 < plen && pat[i + 1] == '-') {
            uint8_t lo = pat[i], hi = pat[i + 2];
            if (lo > hi) {
                uint8_t t = lo;
                lo = hi;
                hi = t;
            }
            hit |= c >= lo && c <= hi;
            i += 3;
        } else {
            hit |= pat[i] == c;
            i++;
        }
    }
    *pi = i < plen ? i + 1 : i;
    return neg ? !hit : hit;
}

bool kv_glob_match(const uint8_t *pat, size_t plen, const uint8_t *str,
                   size_t slen)
{
    size_t pi = 0, si = 0;
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < slen) {
        if (pi < plen && pat[pi] == '*') {
            while (pi < plen && pat[pi] == '*') {
                pi++;
            }
            if (pi == plen) {
                return true;
            }
            star_p = pi;
            star_s = si;
            continue;
        }
        size_t next = pi;
        if (pi < plen && token_match(pat, plen, &next, str[si])) {
            pi = next;
            si++;
            continue;
        }
        if (star_p == SIZE_MAX) {
            return false;
        }
        /* Let the last star swallow one more byte and retry. */
        pi = star_p;
        si = ++star_s;
    }
    while (pi < plen && pat[pi] == '*') {
        pi++;
    }
    return pi == plen;
}

size_t kv_glob_prefix(const uint8_t *pat, size_t plen, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < plen && n < cap; i++) {
        uint8_t c = pat[i];
        if (c == '*' || c == '?' || c == '[') {
            break;
        }
        if (c == '\\') {
            if (i + 1 >= plen) {
                break;
            }
            c = pat[++i];
        }
        out[n++] = c;
    }
    return n;
}
