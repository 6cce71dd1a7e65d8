/* XXH3-64 and XXH3-128 (xxHash 0.8, seeded), the chunk hash of DESIGN §5.
 *
 * The values are those of the reference xxHash: a chunk hashed here checks
 * against a hash computed by any other XXH3 implementation. The code is the
 * header-only xxhash compiled into this library twice, once for SSE2 (the
 * baseline) and once for AVX2, because the distribution's libxxhash.so is
 * built for SSE2 only and runs at about a quarter of the AVX2 speed. Which
 * copy runs is a value the caller keeps (struct dwcp_xxh3_impl, filled once
 * from the CPU features), so there is no global dispatch state.
 *
 * Concurrency: every function is reentrant and allocation-free; an impl
 * struct is read-only after it is filled and may be shared by threads.
 */
#ifndef DWCP_COMMON_OPS_XXH3_H
#define DWCP_COMMON_OPS_XXH3_H

#include <stddef.h>
#include <stdint.h>

#include "common/cpu.h"

/** A 128-bit XXH3 value, halves as in XXH128_hash_t (low64, high64). */
struct dwcp_xxh3_128 {
	uint64_t lo, hi;
};

/** Code paths, for tests and benches; dwcp_xxh3_select() picks the best. */
enum dwcp_xxh3_variant {
	DWCP_XXH3_SSE2,   /* x86-64 baseline */
	DWCP_XXH3_AVX2,
};

struct dwcp_xxh3_impl {
	/** XXH3_64bits_withSeed(buf, len, seed). @p buf may be NULL when len is 0. */
	uint64_t (*h64)(const void *buf, size_t len, uint64_t seed);
	/** XXH3_128bits_withSeed(buf, len, seed). */
	struct dwcp_xxh3_128 (*h128)(const void *buf, size_t len, uint64_t seed);
	const char *name;   /* "sse2", "avx2" */
};

/** Fill @p impl with the fastest code path @p cpu can run. */
void dwcp_xxh3_select(struct dwcp_xxh3_impl *impl, const struct dwcp_cpu_features *cpu);

/**
 * Fill @p impl with one given code path.
 * @return 0, -ENOTSUP when @p cpu lacks the instructions (impl untouched),
 *         -EINVAL for an unknown variant.
 */
int dwcp_xxh3_select_variant(struct dwcp_xxh3_impl *impl, enum dwcp_xxh3_variant v,
			     const struct dwcp_cpu_features *cpu);

#endif
