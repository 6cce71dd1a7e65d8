/* CRC32C arithmetic shared by the GPU kernel and the host: the same source
 * compiles as CUDA device code (kernels/crc32c.cu) and as C (svc-gpu's
 * self-test reference, tests/unit/gpu/crc32c_math_test.c), so the math a
 * kernel runs is checked against ISA-L on any machine, with or without a
 * GPU.
 *
 * A GPU computes one CRC over many threads: each thread takes a segment
 * and computes its bare register update from 0; the segments' values are
 * then moved to the end of the message and XORed together. CRC is linear,
 * so for a message M = S_0 .. S_{k-1} of L bytes and seed r:
 *
 *   reg(r, M) = shift(r, L) ^ XOR_i shift(reg(0, S_i), bytes after S_i)
 *
 * where shift(v, n) = v * x^(8n) mod P (n zero bytes appended), a GF(2)
 * product in the reflected bit order CRC32C uses (as zlib's crc32_combine
 * does for CRC-32). The standard CRC32C of M is ~reg(0xffffffff, M).
 */
#ifndef DWCP_SVC_GPU_CRC32C_MATH_H
#define DWCP_SVC_GPU_CRC32C_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "svc-gpu/gpu_hd.h"

#define DWCP_CRC32C_POLY 0x82f63b78u   /* 0x1EDC6F41 reflected */

/* One byte through the register, bit by bit (the table's source). */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_byte_bits(uint32_t reg)
{
	for (int k = 0; k < 8; k++)
		reg = reg & 1 ? (reg >> 1) ^ DWCP_CRC32C_POLY : reg >> 1;
	return reg;
}

/* The byte table: t[b] = the register update of byte b from 0. */
DWCP_GPU_HD void dwcp_gpu_crc_table(uint32_t t[256])
{
	for (uint32_t b = 0; b < 256; b++)
		t[b] = dwcp_gpu_crc_byte_bits(b);
}

/* The bare register update over @p n bytes at @p p. */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_update(uint32_t reg, const uint8_t *p, size_t n, const uint32_t t[256])
{
	for (size_t i = 0; i < n; i++)
		reg = t[(reg ^ p[i]) & 0xffu] ^ (reg >> 8);
	return reg;
}

/* a * b mod P, reflected (bit 31 is x^0). */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_mulmod(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (int i = 0; i < 32; i++, m >>= 1) {
		if (a & m)
			p ^= b;
		b = b & 1 ? (b >> 1) ^ DWCP_CRC32C_POLY : b >> 1;
	}
	return p;
}

/* x^(2^k) mod P for k = 0..31, the table x^(8n) is built from. */
DWCP_GPU_HD void dwcp_gpu_crc_x2n_table(uint32_t x2n[32])
{
	uint32_t p = 1u << 30;   /* x^1 */

	for (int k = 0; k < 32; k++) {
		x2n[k] = p;
		p = dwcp_gpu_crc_mulmod(p, p);
	}
}

/* x^(8n) mod P: the operator of appending n zero bytes. */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_x8n(uint64_t n, const uint32_t x2n[32])
{
	uint32_t p = 1u << 31;   /* x^0 */
	unsigned k = 3;          /* 8n = n << 3 */

	for (; n; n >>= 1, k++)
		if (n & 1)
			p = dwcp_gpu_crc_mulmod(x2n[k & 31], p);
	return p;
}

/* shift(v, n): the register @p v followed by @p n zero bytes. */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_shift(uint32_t v, uint64_t n, const uint32_t x2n[32])
{
	return dwcp_gpu_crc_mulmod(dwcp_gpu_crc_x8n(n, x2n), v);
}

/* The standard CRC32C of an L-byte message from the XOR of its segments'
 * shifted registers (see the top of this file). */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_finish(uint32_t xor_of_segments, uint64_t len, const uint32_t x2n[32])
{
	return ~(dwcp_gpu_crc_shift(0xffffffffu, len, x2n) ^ xor_of_segments);
}

/* Segment bounds of thread @p t of @p n over an L-byte message: 16-byte
 * aligned starts, so a thread reads whole 16-byte words from the
 * page-aligned buffer. Threads past the end get an empty segment. */
DWCP_GPU_HD void dwcp_gpu_crc_segment(uint64_t len, unsigned t, unsigned n, uint64_t *from, uint64_t *to)
{
	uint64_t seg = ((len + n - 1) / n + 15) & ~(uint64_t)15;
	uint64_t a = (uint64_t)t * seg;

	*from = a < len ? a : len;
	*to = a + seg < len ? a + seg : len;
}

DWCP_GPU_HD void dwcp_gpu_load16(uint8_t *out, const uint8_t *p)
{
#ifdef __CUDA_ARCH__
	*(uint4 *)out = *(const uint4 *)p;
#else
	memcpy(out, p, 16);
#endif
}

/*
 * Thread @p t of @p n: its segment's register, shifted to the end of the
 * message (@p len bytes at @p msg, 16-byte aligned). The four bytes at
 * @p zero_off read as zero (a chunk's own crc field, which CHECKSUM and
 * VERIFY leave out); pass a value >= len for none.
 */
DWCP_GPU_HD uint32_t dwcp_gpu_crc_thread(const uint8_t *msg, uint64_t len, uint64_t zero_off, unsigned t,
					 unsigned n, const uint32_t tab[256], const uint32_t x2n[32])
{
	uint64_t from, to, i;
	uint32_t reg = 0;
#ifdef __CUDACC__
	__align__(16) uint8_t w[16];
#else
	uint8_t w[16] __attribute__((aligned(16)));
#endif

	dwcp_gpu_crc_segment(len, t, n, &from, &to);
	if (from >= to)
		return 0;
	for (i = from; i < to; i += 16) {
		unsigned k, m = to - i < 16 ? (unsigned)(to - i) : 16u;

		if (m == 16)
			dwcp_gpu_load16(w, msg + i);
		else
			for (k = 0; k < m; k++)
				w[k] = msg[i + k];
		for (k = 0; k < m; k++) {
			uint8_t b = i + k >= zero_off && i + k - zero_off < 4 ? 0 : w[k];

			reg = tab[(reg ^ b) & 0xffu] ^ (reg >> 8);
		}
	}
	return dwcp_gpu_crc_shift(reg, len - to, x2n);
}

#endif
