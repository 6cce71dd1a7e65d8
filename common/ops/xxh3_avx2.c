/* The AVX2 copy of XXH3. The Makefile builds *_avx2.c with -mavx2, so the
 * compiler may use AVX2 anywhere in this file: nothing here may run before
 * dwcp_xxh3_select() has seen the CPU has AVX2. XXH_INLINE_ALL makes every
 * xxhash function static (and renames it), so this copy clashes neither
 * with the SSE2 copy in xxh3.c nor with libxxhash.so, which tests and
 * benches link as the reference.
 *
 * Each entry point ends with an explicit vzeroupper. GCC 12 emits none for
 * this code (objdump shows the xxhash loops leave the upper YMM halves
 * set), and with them set every later legacy-SSE instruction in the
 * thread pays for it: `dwcp bench ops` measured libxxhash.so and our SSE2
 * copy at about a third of their speed right after one AVX2 hash. */
#include <immintrin.h>

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

#include "common/ops/xxh3_pvt.h"

uint64_t dwcp_xxh3_64_avx2(const void *buf, size_t len, uint64_t seed)
{
	uint64_t h = XXH3_64bits_withSeed(buf, len, seed);

	_mm256_zeroupper();
	return h;
}

struct dwcp_xxh3_128 dwcp_xxh3_128_avx2(const void *buf, size_t len, uint64_t seed)
{
	XXH128_hash_t h = XXH3_128bits_withSeed(buf, len, seed);

	_mm256_zeroupper();
	return (struct dwcp_xxh3_128){ .lo = h.low64, .hi = h.high64 };
}
