/* CRC32C through ISA-L.
 *
 * ISA-L's crc32_iscsi is the bare register update: it neither inverts the
 * seed on entry nor the result on exit. The standard CRC32C (RFC 3720,
 * check value 0xE3069283) starts from all ones and inverts at the end, so
 * we pass ~crc in and invert what comes out. With that convention the
 * public value is chainable: feeding the result of one call as @p crc of
 * the next undoes the final inversion, and starting from 0 gives the
 * all-ones seed. ISA-L takes an int length, so huge buffers go in chunks.
 *
 * ISA-L 2.30's AVX-512 CRC returns with the upper vector halves still set
 * (no vzeroupper), and after that every legacy-SSE instruction the thread
 * runs is slowed: `dwcp bench ops` measured SSE2 XXH3 (ours and
 * libxxhash.so) at about a third of its speed right after one CRC. So we
 * clear them on the way out, wherever the CPU and OS have AVX (elsewhere
 * the instruction does not exist, and there is no upper half to clear).
 */
#include <isa-l/crc.h>

#include "common/ops/crc32c.h"

#define CRC_CHUNK ((size_t)1 << 30)

uint32_t dwcp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L's prototype lacks const; it only reads the buffer. */
	unsigned char *p = (unsigned char *)(uintptr_t)buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len < CRC_CHUNK ? len : CRC_CHUNK;

		reg = crc32_iscsi(p, (int)n, reg);
		p += n;
		len -= n;
	}
	/* libgcc's cpu model: read-only after start-up, checks XCR0 too */
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroupper" ::: "memory");
	return ~reg;
}
