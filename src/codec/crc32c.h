/* codec/crc32c.h: CRC-32C (Castagnoli), the checksum of every record sampan
 * writes to disk. */
#ifndef SAMPAN_CODEC_CRC32C_H
#define SAMPAN_CODEC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over len bytes of buf; returns the new CRC.
 * crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The table-driven computation alone (what crc32c uses without SSE4.2);
 * exposed so tests can check both paths agree. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
