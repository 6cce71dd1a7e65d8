/* LZ4 block format, compress and decompress, shared by the GPU kernel and
 * the host as crc32c_math.h and gcm_math.h are: one source compiled as CUDA
 * device code and as C, so a host test holds it to liblz4 both ways
 * (liblz4 decodes what this encodes, this decodes what liblz4 encodes).
 *
 * One thread does one block, the whole of a chunk's body as svc-simd
 * compresses it (one LZ4 block per chunk, common/ops/compress.c): a GPU
 * gets its parallelism from the hundreds of chunks in a batch. The
 * compressor is greedy with a 4-byte hash, as LZ4's fast level is (not
 * byte-identical to it: any valid block decodes the same; the host test
 * holds its output to within an eighth of liblz4's). The
 * decompressor reads untrusted input: every length is checked against
 * both buffers, and a bad block is refused, never read or written past.
 *
 * Format (lz4_Block_format.md): sequences of a token (literal length,
 * match length - 4, 4 bits each, 15 = more bytes follow), literals, a
 * 2-byte little-endian offset and the match; the last sequence is
 * literals only. A match starts at least 12 bytes before the end and the
 * last 5 bytes are literals.
 */
#ifndef DWCP_SVC_GPU_LZ4_MATH_H
#define DWCP_SVC_GPU_LZ4_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "svc-gpu/gpu_hd.h"

#define DWCP_GPU_LZ4_HASH_LOG 12u   /* 4096 entries: 16 KiB of scratch a block */
#define DWCP_GPU_LZ4_MINMATCH 4u
#define DWCP_GPU_LZ4_MFLIMIT  12u
#define DWCP_GPU_LZ4_LASTLIT  5u
#define DWCP_GPU_LZ4_MAXDIST  65535u

/* The most a block of @p n bytes can take (LZ4_compressBound). */
DWCP_GPU_HD uint64_t dwcp_gpu_lz4_bound(uint64_t n)
{
	return n + n / 255 + 16;
}

DWCP_GPU_HD uint32_t dwcp_gpu_lz4_read32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The hash of the 5 bytes at @p p (LZ4's for 64-bit targets: 4 bytes
 * alone put 20 % more bytes on the wire for text, measured). */
DWCP_GPU_HD uint32_t dwcp_gpu_lz4_hash(const uint8_t *p)
{
	uint64_t v = (uint64_t)dwcp_gpu_lz4_read32(p) | (uint64_t)p[4] << 32;

	return (uint32_t)(((v << 24) * 889523592379ull) >> (64 - DWCP_GPU_LZ4_HASH_LOG));
}

/* A length past its 4-bit field: 255s, then the rest. @return the new
 * output position, or 0 when it does not fit before @p end. */
DWCP_GPU_HD uint8_t *dwcp_gpu_lz4_put_len(uint8_t *op, const uint8_t *end, uint64_t n)
{
	for (; n >= 255; n -= 255) {
		if (op >= end)
			return 0;
		*op++ = 255;
	}
	if (op >= end)
		return 0;
	*op++ = (uint8_t)n;
	return op;
}

/* One sequence: literals [@p lit, @p lit + @p nlit), then (if @p ml) a
 * match of @p ml bytes at distance @p off. @return the output position,
 * or 0 when it does not fit. */
DWCP_GPU_HD uint8_t *dwcp_gpu_lz4_sequence(uint8_t *op, const uint8_t *end, const uint8_t *lit, uint64_t nlit,
					   uint32_t off, uint64_t ml)
{
	uint8_t *token = op;
	uint64_t mcode = ml ? ml - DWCP_GPU_LZ4_MINMATCH : 0;

	if (op >= end)
		return 0;
	op++;
	*token = (uint8_t)((nlit >= 15 ? 15 : nlit) << 4 | (mcode >= 15 ? 15 : mcode));
	if (nlit >= 15 && !(op = dwcp_gpu_lz4_put_len(op, end, nlit - 15)))
		return 0;
	if ((uint64_t)(end - op) < nlit)
		return 0;
	for (uint64_t i = 0; i < nlit; i++)
		op[i] = lit[i];
	op += nlit;
	if (!ml)
		return op;
	if (end - op < 2)
		return 0;
	*op++ = (uint8_t)off;
	*op++ = (uint8_t)(off >> 8);
	if (mcode >= 15 && !(op = dwcp_gpu_lz4_put_len(op, end, mcode - 15)))
		return 0;
	return op;
}

/**
 * Compress @p n bytes at @p src into one LZ4 block at @p dst (room
 * @p cap), using @p table (1 << DWCP_GPU_LZ4_HASH_LOG entries) as scratch.
 * @return the block's size, or 0 when it does not fit in @p cap (send
 * the bytes as they are).
 */
DWCP_GPU_HD uint64_t dwcp_gpu_lz4_compress(const uint8_t *src, uint64_t n, uint8_t *dst, uint64_t cap,
					   uint32_t *table)
{
	const uint8_t *end = dst + cap;
	uint8_t *op = dst;
	uint64_t anchor = 0, ip = 0, miss = 0;

	for (uint32_t i = 0; i < 1u << DWCP_GPU_LZ4_HASH_LOG; i++)
		table[i] = UINT32_MAX;
	if (n > DWCP_GPU_LZ4_MFLIMIT) {
		const uint64_t limit = n - DWCP_GPU_LZ4_MFLIMIT, match_end = n - DWCP_GPU_LZ4_LASTLIT;

		while (ip < limit) {
			uint32_t v = dwcp_gpu_lz4_read32(src + ip), h = dwcp_gpu_lz4_hash(src + ip), ref = table[h];
			uint64_t ml;

			table[h] = (uint32_t)ip;
			if (ref == UINT32_MAX || ip - ref > DWCP_GPU_LZ4_MAXDIST || dwcp_gpu_lz4_read32(src + ref) != v) {
				/* LZ4's acceleration: the longer nothing matches, the bigger the step. */
				ip += 1 + (miss++ >> 6);
				continue;
			}
			miss = 0;
			ml = DWCP_GPU_LZ4_MINMATCH;
			while (ip + ml < match_end && src[ref + ml] == src[ip + ml])
				ml++;
			while (ip > anchor && ref > 0 && src[ip - 1] == src[ref - 1]) {
				ip--;
				ref--;
				ml++;
			}
			op = dwcp_gpu_lz4_sequence(op, end, src + anchor, ip - anchor, (uint32_t)(ip - ref), ml);
			if (!op)
				return 0;
			ip += ml;
			anchor = ip;
			if (ip - 2 < limit)
				table[dwcp_gpu_lz4_hash(src + ip - 2)] = (uint32_t)(ip - 2);
		}
	}
	op = dwcp_gpu_lz4_sequence(op, end, src + anchor, n - anchor, 0, 0);
	return op ? (uint64_t)(op - dst) : 0;
}

/* A length's extra bytes. @return 0, or -1 when the input ends first. */
DWCP_GPU_HD int dwcp_gpu_lz4_get_len(const uint8_t **ip, const uint8_t *iend, uint64_t *n)
{
	uint8_t b;

	do {
		if (*ip >= iend)
			return -1;
		b = *(*ip)++;
		*n += b;
	} while (b == 255);
	return 0;
}

/**
 * Decompress the LZ4 block of @p n bytes at @p src into @p dst (room
 * @p cap). @return the decoded size, or -1 for a block that is not valid
 * or does not fit (nothing outside either buffer is touched).
 */
DWCP_GPU_HD int64_t dwcp_gpu_lz4_decompress(const uint8_t *src, uint64_t n, uint8_t *dst, uint64_t cap)
{
	const uint8_t *ip = src, *iend = src + n;
	uint64_t o = 0;

	if (n == 0)
		return -1;
	for (;;) {
		uint64_t nlit, ml;
		uint32_t off;
		uint8_t token;

		if (ip >= iend)
			return -1;
		token = *ip++;
		nlit = token >> 4;
		if (nlit == 15 && dwcp_gpu_lz4_get_len(&ip, iend, &nlit))
			return -1;
		if (nlit > (uint64_t)(iend - ip) || nlit > cap - o)
			return -1;
		for (uint64_t i = 0; i < nlit; i++)
			dst[o + i] = ip[i];
		ip += nlit;
		o += nlit;
		if (ip == iend)
			return (int64_t)o;   /* the last sequence: literals only */
		if (iend - ip < 2)
			return -1;
		off = (uint32_t)ip[0] | (uint32_t)ip[1] << 8;
		ip += 2;
		if (off == 0 || off > o)
			return -1;
		ml = token & 15u;
		if (ml == 15 && dwcp_gpu_lz4_get_len(&ip, iend, &ml))
			return -1;
		ml += DWCP_GPU_LZ4_MINMATCH;
		if (ml > cap - o)
			return -1;
		/* Byte by byte: a match may overlap what it copies (a run). */
		for (uint64_t i = 0; i < ml; i++)
			dst[o + i] = dst[o + i - off];
		o += ml;
	}
}

#endif
