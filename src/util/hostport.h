/* util/hostport.h: "HOST:PORT" addresses as flags and member addresses
 * write them: HOST a numeric IPv4 address or a bracketed [IPv6] one. */
#ifndef SAMPAN_UTIL_HOSTPORT_H
#define SAMPAN_UTIL_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/* Splits `s` into host (copied into host[0..hostlen), NUL-terminated,
 * brackets dropped) and port (1..65535). Returns 0, or -1 when `s` is not
 * HOST:PORT or the host does not fit. */
int hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
