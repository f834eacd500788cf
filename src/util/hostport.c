/* util/hostport.c: parsing "HOST:PORT" (see hostport.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hostport.h"

int hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s) {
        return -1;
    }
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    const char *digits = colon + 1;
    char *end;
    errno = 0;
    if (*digits == '\0' || *digits == '-' || *digits == '+') {
        return -1;
    }
    unsigned long p = strtoul(digits, &end, 10);
    if (errno != 0 || *end != '\0' || p < 1 || p > 65535 || hlen == 0 ||
        hlen >= hostlen) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}
