/* The LZ4 block code svc-gpu's kernel is to run (svc-gpu/lz4_math.h),
 * compiled here as C and held to liblz4 both ways: liblz4 decodes every
 * block it makes, it decodes every block liblz4 makes, on data a chunk
 * holds (zero pages, text, random bytes, runs, mixes) from 0 bytes to a
 * 256 KiB chunk and beyond; a block that does not fit is refused; and
 * damaged or random blocks are refused or decoded within bounds (the ASan
 * build runs this on exact-size buffers). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lz4.h>

#include "svc-gpu/lz4_math.h"

#define MAXN (262144u + 4099u)

static uint32_t table[1u << DWCP_GPU_LZ4_HASH_LOG];

/* Data of kind @p kind: 0 zeros, 1 text-like, 2 random, 3 a short run
 * repeated, 4 pages of each in turn. */
static void fill(uint8_t *p, size_t n, unsigned kind, unsigned seed)
{
	static const char words[][8] = { "the ", "chunk ", "page ", "delta ", "node ", "of ", "and ", "dwcp " };

	srand(seed);
	for (size_t i = 0; i < n;) {
		unsigned k = kind == 4 ? (unsigned)(i / 4096) % 4 : kind;

		if (k == 0) {
			p[i++] = 0;
		} else if (k == 1) {
			const char *w = words[rand() % 8];

			for (size_t j = 0; w[j] && i < n; j++)
				p[i++] = (uint8_t)w[j];
		} else if (k == 2) {
			p[i++] = (uint8_t)rand();
		} else {
			p[i] = (uint8_t)("abcabcabd"[i % 9]);
			i++;
		}
	}
}

Test(gpu_lz4, liblz4_decodes_every_block_it_makes)
{
	static const size_t lens[] = { 0, 1, 5, 12, 13, 17, 100, 4096, 65536, 65537, 262144, MAXN };
	uint8_t *src = malloc(MAXN), *blk = malloc(dwcp_gpu_lz4_bound(MAXN)), *back = malloc(MAXN);
	uint8_t *ref = malloc((size_t)LZ4_compressBound(MAXN));

	cr_assert(src && blk && back && ref);
	for (unsigned kind = 0; kind < 5; kind++)
		for (unsigned li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			size_t n = lens[li];
			uint64_t c;
			int d;

			fill(src, n, kind, kind * 100 + li);
			c = dwcp_gpu_lz4_compress(src, n, blk, dwcp_gpu_lz4_bound(n), table);
			cr_assert_gt(c, 0, "kind %u, %zu bytes: no block within the bound", kind, n);
			cr_assert_leq(c, dwcp_gpu_lz4_bound(n));
			d = LZ4_decompress_safe((const char *)blk, (char *)back, (int)c, (int)n);
			cr_assert_eq(d, (int)n, "kind %u, %zu bytes: liblz4 says %d", kind, n, d);
			cr_assert_eq(memcmp(back, src, n), 0, "kind %u, %zu bytes: liblz4 decodes other bytes", kind, n);
			/* And it compresses about as well as liblz4's default (the
			 * CPU path): a GPU block must not cost the wire more. */
			{
				int lib = LZ4_compress_default((const char *)src, (char *)ref, (int)n,
							       LZ4_compressBound((int)n));

				cr_expect_leq(c, (uint64_t)lib + (uint64_t)lib / 8 + 16,
					      "kind %u, %zu bytes: %llu against liblz4's %d", kind, n,
					      (unsigned long long)c, lib);
			}
			/* Our own decoder agrees. */
			cr_assert_eq(dwcp_gpu_lz4_decompress(blk, c, back, n), (int64_t)n);
			cr_assert_eq(memcmp(back, src, n), 0);
			/* One byte short of room: refused, not cut. */
			if (c > 1) {
				memset(back, 0, n);
				cr_expect_eq(dwcp_gpu_lz4_compress(src, n, back, c - 1, table), 0,
					     "kind %u, %zu bytes: a block in less room than it takes", kind, n);
			}
		}
	free(src);
	free(blk);
	free(back);
	free(ref);
}

Test(gpu_lz4, it_decodes_every_block_liblz4_makes)
{
	static const size_t lens[] = { 1, 13, 4096, 65536 + 3, 262144 };
	uint8_t *src = malloc(MAXN), *blk = malloc((size_t)LZ4_compressBound(MAXN)), *back = malloc(MAXN);

	cr_assert(src && blk && back);
	for (unsigned kind = 0; kind < 5; kind++)
		for (unsigned li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
			for (int accel = 1; accel <= 8; accel *= 8) {
				size_t n = lens[li];
				int c;

				fill(src, n, kind, kind + 7 * li);
				c = LZ4_compress_fast((const char *)src, (char *)blk, (int)n, LZ4_compressBound((int)n), accel);
				cr_assert_gt(c, 0);
				cr_assert_eq(dwcp_gpu_lz4_decompress(blk, (uint64_t)c, back, n), (int64_t)n,
					     "kind %u, %zu bytes, acceleration %d", kind, n, accel);
				cr_assert_eq(memcmp(back, src, n), 0);
				/* Room for one byte less: refused. */
				cr_expect_eq(dwcp_gpu_lz4_decompress(blk, (uint64_t)c, back, n - 1), -1);
			}
	free(src);
	free(blk);
	free(back);
}

/* Every truncation and single-byte change of real blocks, and random
 * bytes: refused, or decoded into the room given and no further; where
 * both decoders accept a block they produce the same bytes. */
Test(gpu_lz4, damaged_blocks_stay_within_bounds)
{
	enum { N = 8192 };
	uint8_t src[N], blk[N + N / 255 + 16];
	uint64_t c;

	fill(src, N, 4, 5);
	c = dwcp_gpu_lz4_compress(src, N, blk, sizeof(blk), table);
	cr_assert_gt(c, 0);
	for (uint64_t cut = 0; cut <= c; cut += cut < 64 ? 1 : 37) {
		for (uint64_t at = 0; at < cut; at += at < 64 ? 1 : 29) {
			uint8_t *in = malloc(cut ? cut : 1), *out = malloc(N), *ref = malloc(N);
			int64_t ours;
			int theirs;

			cr_assert(in && out && ref);
			memcpy(in, blk, cut);
			in[at] ^= (uint8_t)(0x5a + at);
			ours = dwcp_gpu_lz4_decompress(in, cut, out, N);
			theirs = LZ4_decompress_safe((const char *)in, (char *)ref, (int)cut, N);
			cr_assert(ours >= -1 && ours <= N, "%lld", (long long)ours);
			if (ours >= 0 && theirs >= 0) {
				cr_assert_eq(ours, theirs, "cut %llu, byte %llu changed", (unsigned long long)cut,
					     (unsigned long long)at);
				cr_assert_eq(memcmp(out, ref, (size_t)ours), 0);
			}
			free(in);
			free(out);
			free(ref);
		}
	}
	srand(11);
	for (unsigned r = 0; r < 20000; r++) {
		size_t n = 1 + (size_t)rand() % 300;
		uint8_t *in = malloc(n), *out = malloc(1024);

		cr_assert(in && out);
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rand();
		cr_assert_leq(dwcp_gpu_lz4_decompress(in, n, out, 1024), 1024);
		free(in);
		free(out);
	}
}
