/* Compression tests: interoperability both ways with the reference
 * libraries' own one-shot calls (our LZ4 blocks open with
 * LZ4_decompress_safe, our zstd frames with ZSTD_decompress; blocks and
 * frames made by LZ4_compress_default / LZ4_compress_HC / ZSTD_compress
 * open with ours), on zeros, text-like, random and mixed "VM page" data of
 * sizes from 0 to 256 KiB. Then the edges the chunk path relies on: the
 * declared original length is enforced, a too-small output is -ENOSPC and
 * never an overrun (exact-size heap buffers, so ASan sees one), corrupt,
 * truncated and random input is -EBADMSG or (for LZ4, which has no
 * checksum) a same-length result, never a crash. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include "common/ops/compress.h"

#define PAGE 4096u

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	cr_assert_not_null(p);
	return p;
}

enum kind { ZEROS, TEXT, RANDOM, MIXED, NKINDS };
static const char *const kind_name[] = { "zeros", "text", "random", "mixed" };

/* Text-like: words from a small vocabulary, so LZ finds matches. */
static void fill_text(uint8_t *p, size_t n, uint64_t *s)
{
	static const char *const words[] = { "page ", "dirty ", "kernel ", "0x7f3a ",
					     "memory ", "migrate ", "\n", "guest " };
	size_t i = 0;

	while (i < n) {
		const char *w = words[next_rand(s) % 8];

		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (uint8_t)w[k];
	}
}

static void fill(uint8_t *p, size_t n, enum kind k, uint64_t *s)
{
	for (size_t at = 0; at < n; at += PAGE) {
		size_t m = n - at < PAGE ? n - at : PAGE;
		enum kind pk = k == MIXED ? (enum kind)((at / PAGE) % 3) : k;

		if (pk == ZEROS)
			memset(p + at, 0, m);
		else if (pk == TEXT)
			fill_text(p + at, m, s);
		else
			for (size_t i = 0; i < m; i++)
				p[at + i] = (uint8_t)(next_rand(s) >> 40);
	}
}

static const size_t sizes[] = { 0, 1, 2, 13, 100, 4095, 4096, 65535, 65536, 65537, 262144 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
static const struct { enum dwcp_codec c; int level; } modes[] = {
	{ DWCP_CODEC_LZ4, DWCP_LZ4_LEVEL_FAST }, { DWCP_CODEC_LZ4, 2 },
	{ DWCP_CODEC_LZ4, 3 }, { DWCP_CODEC_LZ4, DWCP_LZ4_LEVEL_HC_DEFAULT },
	{ DWCP_CODEC_LZ4, DWCP_LZ4_LEVEL_MAX }, { DWCP_CODEC_ZSTD, 1 },
	{ DWCP_CODEC_ZSTD, 3 }, { DWCP_CODEC_ZSTD, 9 }, { DWCP_CODEC_ZSTD, 19 },
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

/* The reference library's own decompression of @p z into exactly @p n. */
static void ref_decompress(enum dwcp_codec c, const void *z, size_t zlen, void *out, size_t n)
{
	if (c == DWCP_CODEC_LZ4) {
		int got = LZ4_decompress_safe(z, out, (int)zlen, (int)n);

		cr_assert_eq(got, (int)n, "LZ4_decompress_safe: %d, want %zu", got, n);
	} else {
		size_t got = ZSTD_decompress(out, n, z, zlen);

		cr_assert(!ZSTD_isError(got) && got == n, "ZSTD_decompress: %s (%zu), want %zu",
			  ZSTD_isError(got) ? ZSTD_getErrorName(got) : "ok", got, n);
		cr_assert_eq(ZSTD_getFrameContentSize(z, zlen), (unsigned long long)n,
			     "frame does not carry its content size");
	}
}

Test(compress, ours_opens_with_reference_library)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	uint64_t s = 1;

	cr_assert_not_null(ctx);
	for (int k = 0; k < NKINDS; k++)
		for (size_t si = 0; si < NSIZES; si++) {
			size_t n = sizes[si];
			uint8_t *src = xmalloc(n), *back = xmalloc(n);

			fill(src, n, (enum kind)k, &s);
			for (size_t m = 0; m < NMODES; m++) {
				size_t cap = dwcp_compress_bound(modes[m].c, n);
				uint8_t *z = xmalloc(cap);
				ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, cap);

				cr_assert_gt(zl, 0, "codec %d level %d %s %zu: %zd", modes[m].c,
					     modes[m].level, kind_name[k], n, zl);
				memset(back, 0xAB, n);
				ref_decompress(modes[m].c, z, (size_t)zl, back, n);
				cr_assert(memcmp(back, src, n) == 0, "codec %d level %d %s %zu differs",
					  modes[m].c, modes[m].level, kind_name[k], n);
				if (k == ZEROS && n >= PAGE)
					cr_assert_lt((size_t)zl, n / 50, "zeros barely compressed: %zd", zl);
				free(z);
			}
			free(src), free(back);
		}
	dwcp_compress_ctx_destroy(ctx);
}

/* The reference library's one-shot compression of @p src. */
static size_t ref_compress(enum dwcp_codec c, int level, const void *src, size_t n, void *z, size_t cap)
{
	if (c == DWCP_CODEC_LZ4) {
		int got = level < 3 ? LZ4_compress_default(src, z, (int)n, (int)cap)
				    : LZ4_compress_HC(src, z, (int)n, (int)cap, level);

		cr_assert_gt(got, 0);
		return (size_t)got;
	}
	size_t got = ZSTD_compress(z, cap, src, n, level);

	cr_assert(!ZSTD_isError(got));
	return got;
}

Test(compress, reference_output_opens_with_ours)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	uint64_t s = 2;

	for (int k = 0; k < NKINDS; k++)
		for (size_t si = 0; si < NSIZES; si++) {
			size_t n = sizes[si];
			uint8_t *src = xmalloc(n), *back = xmalloc(n);

			fill(src, n, (enum kind)k, &s);
			for (size_t m = 0; m < NMODES; m++) {
				size_t cap = dwcp_compress_bound(modes[m].c, n);
				uint8_t *z = xmalloc(cap);
				size_t zl = ref_compress(modes[m].c, modes[m].level, src, n, z, cap);
				ssize_t got;

				memset(back, 0xAB, n);
				got = dwcp_decompress(ctx, modes[m].c, z, zl, back, n);
				cr_assert_eq(got, (ssize_t)n, "codec %d %s %zu: %zd", modes[m].c,
					     kind_name[k], n, got);
				cr_assert(memcmp(back, src, n) == 0);
				free(z);
			}
			free(src), free(back);
		}
	dwcp_compress_ctx_destroy(ctx);
}

Test(compress, empty_input)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	uint8_t z[64];

	for (size_t m = 0; m < NMODES; m++) {
		ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, NULL, 0, z, sizeof(z));

		cr_assert_gt(zl, 0, "codec %d: %zd", modes[m].c, zl);
		cr_assert_eq(dwcp_decompress(ctx, modes[m].c, z, (size_t)zl, NULL, 0), 0);
		cr_assert_eq(dwcp_decompress(ctx, modes[m].c, z, (size_t)zl, z + 32, 1), -EBADMSG,
			     "codec %d: empty data accepted as 1 byte", modes[m].c);
	}
	dwcp_compress_ctx_destroy(ctx);
}

Test(compress, incompressible_data_and_raw_size_capacity)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	size_t n = 65536;
	uint8_t *src = xmalloc(n), *back = xmalloc(n);
	uint64_t s = 3;

	fill(src, n, RANDOM, &s);
	for (size_t m = 0; m < NMODES; m++) {
		size_t cap = dwcp_compress_bound(modes[m].c, n);
		uint8_t *z = xmalloc(cap), *tight = xmalloc(n);
		ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, cap);

		cr_assert_geq(zl, (ssize_t)n, "random data 'compressed' to %zd", zl);
		cr_assert_eq(dwcp_decompress(ctx, modes[m].c, z, (size_t)zl, back, n), (ssize_t)n);
		cr_assert(memcmp(back, src, n) == 0);
		/* "only if smaller than raw": capacity n must say -ENOSPC */
		cr_assert_eq(dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, tight, n), -ENOSPC,
			     "codec %d level %d", modes[m].c, modes[m].level);
		free(z), free(tight);
	}
	free(src), free(back);
	dwcp_compress_ctx_destroy(ctx);
}

Test(compress, small_capacity_is_enospc_within_bounds)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	size_t n = 20000;
	uint8_t *src = xmalloc(n);
	uint64_t s = 4;

	fill(src, n, MIXED, &s);
	for (size_t m = 0; m < NMODES; m++) {
		size_t cap = dwcp_compress_bound(modes[m].c, n);
		uint8_t *z = xmalloc(cap);
		ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, cap);
		const size_t caps[] = { 0, 1, 8, (size_t)zl / 2, (size_t)zl - 1 };
		ssize_t again;
		size_t slack;

		cr_assert_gt(zl, 0);
		free(z);
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
			z = xmalloc(caps[c]);   /* exact size: ASan sees a write past it */
			cr_assert_eq(dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, caps[c]),
				     -ENOSPC, "codec %d level %d cap %zu", modes[m].c, modes[m].level, caps[c]);
			free(z);
		}
		/* LZ4 fits in exactly its output size; zstd's bit writer wants a
		 * few bytes of headroom (see compress.h). */
		slack = modes[m].c == DWCP_CODEC_ZSTD ? DWCP_ZSTD_HEADROOM : 0;
		z = xmalloc((size_t)zl + slack);
		again = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, (size_t)zl + slack);
		cr_assert_eq(again, zl, "codec %d level %d cap %zd + %zu: %zd", modes[m].c,
			     modes[m].level, zl, slack, again);
		free(z);
	}
	free(src);
	dwcp_compress_ctx_destroy(ctx);
}

Test(compress, bad_arguments)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	uint8_t src[16] = { 0 }, z[128];

	cr_assert_eq(dwcp_compress(ctx, DWCP_CODEC_LZ4, 0, src, 16, z, 128), -EINVAL);
	cr_assert_eq(dwcp_compress(ctx, DWCP_CODEC_LZ4, 13, src, 16, z, 128), -EINVAL);
	cr_assert_eq(dwcp_compress(ctx, DWCP_CODEC_ZSTD, 0, src, 16, z, 128), -EINVAL);
	cr_assert_eq(dwcp_compress(ctx, DWCP_CODEC_ZSTD, 20, src, 16, z, 128), -EINVAL);
	cr_assert_eq(dwcp_compress(ctx, (enum dwcp_codec)7, 1, src, 16, z, 128), -EINVAL);
	cr_assert_eq(dwcp_decompress(ctx, (enum dwcp_codec)0, z, 8, src, 16), -EINVAL);
	cr_assert_eq(dwcp_compress_bound((enum dwcp_codec)7, 16), 0u);
	cr_assert_eq(dwcp_compress_bound(DWCP_CODEC_LZ4, (size_t)LZ4_MAX_INPUT_SIZE + 1), 0u);
	dwcp_compress_ctx_destroy(ctx);
	dwcp_compress_ctx_destroy(NULL);
}

Test(compress, declared_length_is_enforced)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	size_t n = 10000;
	uint8_t *src = xmalloc(n), *big = xmalloc(n + 1), *z = xmalloc(20000);
	uint64_t s = 5;

	fill(src, n, TEXT, &s);
	for (size_t m = 0; m < NMODES; m++) {
		ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, 20000);

		cr_assert_gt(zl, 0);
		cr_assert_eq(dwcp_decompress(ctx, modes[m].c, z, (size_t)zl, big, n + 1), -EBADMSG,
			     "codec %d: %zu bytes accepted as %zu", modes[m].c, n, n + 1);
		cr_assert_eq(dwcp_decompress(ctx, modes[m].c, z, (size_t)zl, big, n - 1), -EBADMSG,
			     "codec %d: %zu bytes accepted as %zu", modes[m].c, n, n - 1);
		cr_assert_eq(dwcp_decompress(ctx, modes[m].c == DWCP_CODEC_LZ4 ? DWCP_CODEC_ZSTD
									     : DWCP_CODEC_LZ4,
					     z, (size_t)zl, big, n), -EBADMSG, "wrong codec accepted");
	}
	free(src), free(big), free(z);
	dwcp_compress_ctx_destroy(ctx);
}

/* Decompress a copy of @p z held in an exact-size buffer into an
 * exact-size output; the answer must be -EBADMSG or the full length. */
static ssize_t decompress_checked(struct dwcp_compress_ctx *ctx, enum dwcp_codec c,
				  const uint8_t *z, size_t zlen, size_t n)
{
	uint8_t *copy = xmalloc(zlen), *out = xmalloc(n);
	ssize_t got;

	memcpy(copy, z, zlen);
	got = dwcp_decompress(ctx, c, copy, zlen, out, n);
	cr_assert(got == -EBADMSG || got == (ssize_t)n, "codec %d returned %zd", c, got);
	free(copy), free(out);
	return got;
}

Test(compress, truncated_input_is_ebadmsg)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	size_t n = 8192;
	uint8_t *src = xmalloc(n), *z = xmalloc(16384);
	uint64_t s = 6;

	fill(src, n, MIXED, &s);
	for (size_t m = 0; m < NMODES; m++) {
		ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, 16384);

		for (size_t cut = 0; cut < (size_t)zl; cut++)
			cr_assert_eq(decompress_checked(ctx, modes[m].c, z, cut, n), -EBADMSG,
				     "codec %d level %d: cut to %zu of %zd accepted", modes[m].c,
				     modes[m].level, cut, zl);
	}
	free(src), free(z);
	dwcp_compress_ctx_destroy(ctx);
}

Test(compress, corrupt_and_random_input_never_crashes)
{
	struct dwcp_compress_ctx *ctx = dwcp_compress_ctx_create();
	size_t n = 16384;
	uint8_t *src = xmalloc(n), *z = xmalloc(32768);
	uint64_t s = 7;
	int rejected = 0, total = 0;

	fill(src, n, MIXED, &s);
	for (size_t m = 0; m < NMODES; m++) {
		ssize_t zl = dwcp_compress(ctx, modes[m].c, modes[m].level, src, n, z, 32768);

		for (int it = 0; it < 400; it++, total++) {
			size_t at = (size_t)(next_rand(&s) % (size_t)zl);
			uint8_t was = z[at];

			z[at] ^= (uint8_t)(1u + next_rand(&s) % 255);
			rejected += decompress_checked(ctx, modes[m].c, z, (size_t)zl, n) < 0;
			z[at] = was;
		}
		for (int it = 0; it < 200; it++, total++) {
			size_t len = (size_t)(next_rand(&s) % 600);

			for (size_t i = 0; i < len; i++)
				z[i] = (uint8_t)next_rand(&s);
			if (modes[m].c == DWCP_CODEC_ZSTD && len >= 4)
				memcpy(z, "\x28\xb5\x2f\xfd", 4);   /* get past the magic */
			rejected += decompress_checked(ctx, modes[m].c, z, len, n) < 0;
		}
	}
	cr_log_info("corrupt input: %d of %d rejected, the rest decoded to the right length",
		    rejected, total);
	free(src), free(z);
	dwcp_compress_ctx_destroy(ctx);
}

Test(compress, context_reuse_is_deterministic)
{
	struct dwcp_compress_ctx *a = dwcp_compress_ctx_create(), *b;
	size_t n = 65536;
	uint8_t *src = xmalloc(n), *z1 = xmalloc(n * 2), *z2 = xmalloc(n * 2);
	uint64_t s = 8;

	fill(src, n, MIXED, &s);
	for (int round = 0; round < 3; round++)
		for (size_t m = 0; m < NMODES; m++) {
			ssize_t l1 = dwcp_compress(a, modes[m].c, modes[m].level, src, n, z1, n * 2);
			ssize_t l2;

			b = dwcp_compress_ctx_create();
			l2 = dwcp_compress(b, modes[m].c, modes[m].level, src, n, z2, n * 2);
			dwcp_compress_ctx_destroy(b);
			cr_assert(l1 == l2 && memcmp(z1, z2, (size_t)l1) == 0,
				  "codec %d level %d: a reused context gave other bytes", modes[m].c,
				  modes[m].level);
		}
	free(src), free(z1), free(z2);
	dwcp_compress_ctx_destroy(a);
}
