/* XXH3 dispatch and the SSE2 (x86-64 baseline) copy of XXH3.
 *
 * The same xxhash header is compiled here with XXH_VECTOR = XXH_SSE2 and in
 * xxh3_avx2.c with XXH_AVX2; both copies are static (XXH_INLINE_ALL), so
 * the only way in is the function pointers dwcp_xxh3_select() hands out.
 */
#include <errno.h>

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_SSE2
#include <xxhash.h>

#include "common/ops/xxh3_pvt.h"

static uint64_t xxh3_64_sse2(const void *buf, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(buf, len, seed);
}

static struct dwcp_xxh3_128 xxh3_128_sse2(const void *buf, size_t len, uint64_t seed)
{
	XXH128_hash_t h = XXH3_128bits_withSeed(buf, len, seed);

	return (struct dwcp_xxh3_128){ .lo = h.low64, .hi = h.high64 };
}

int dwcp_xxh3_select_variant(struct dwcp_xxh3_impl *impl, enum dwcp_xxh3_variant v,
			     const struct dwcp_cpu_features *cpu)
{
	switch (v) {
	case DWCP_XXH3_SSE2:
		*impl = (struct dwcp_xxh3_impl){ xxh3_64_sse2, xxh3_128_sse2, "sse2" };
		return 0;
	case DWCP_XXH3_AVX2:
		if (!cpu->avx2)
			return -ENOTSUP;
		*impl = (struct dwcp_xxh3_impl){ dwcp_xxh3_64_avx2, dwcp_xxh3_128_avx2, "avx2" };
		return 0;
	}
	return -EINVAL;
}

void dwcp_xxh3_select(struct dwcp_xxh3_impl *impl, const struct dwcp_cpu_features *cpu)
{
	/* xxhash's AVX-512 path measured no faster than AVX2 on 64 KiB on
	 * the development host (52 vs 56 GB/s) and lowers the clock on some
	 * parts, so AVX2 is the widest path kept. */
	if (dwcp_xxh3_select_variant(impl, DWCP_XXH3_AVX2, cpu) != 0)
		dwcp_xxh3_select_variant(impl, DWCP_XXH3_SSE2, cpu);
}
