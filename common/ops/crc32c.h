/* CRC32C (Castagnoli, iSCSI polynomial 0x1EDC6F41, reflected), the
 * checksum of RFC 3720, computed with ISA-L. The one CPU implementation,
 * linked by svc-simd and by svc-gpu's CPU backend alike (DESIGN §6). */
#ifndef DWCP_COMMON_OPS_CRC32C_H
#define DWCP_COMMON_OPS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/**
 * CRC32C of @p len bytes, continuing from @p crc (pass 0 to start).
 * The standard check value: dwcp_crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t dwcp_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
