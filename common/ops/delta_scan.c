/* The scalar and SSE4.2 code paths of the delta scans (the AVX2 one is in
 * delta_avx2.c, which needs other compiler flags).
 *
 * The scalar path works on 8-byte words: it is the reference the wider
 * paths are tested against and the path of a CPU without SSE4.2. The
 * vector paths test 64 bytes per branch (four registers ORed or ANDed
 * together) because on a mostly-zero or mostly-unchanged page the branch,
 * not the load, is what limits a one-register loop; they locate the exact
 * byte only after a block has shown a difference. x86-64-v2, the build
 * baseline, includes SSE4.2, so this file needs no special flags; the
 * dispatch still checks the CPU flag so that a path is only used where it
 * was detected.
 */
#include <nmmintrin.h>

#include "common/ops/delta_pvt.h"

bool dwcp_delta_is_zero_scalar(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;

	for (; i + 32 <= len; i += 32) {
		uint64_t acc = dwcp_delta_load64(p + i) | dwcp_delta_load64(p + i + 8) |
			       dwcp_delta_load64(p + i + 16) | dwcp_delta_load64(p + i + 24);

		if (acc)
			return false;
	}
	for (; i + 8 <= len; i += 8)
		if (dwcp_delta_load64(p + i))
			return false;
	return dwcp_delta_is_zero_tail(p + i, len - i);
}

/* Kept to 8-byte words (no auto-vectorization) so that "scalar" measures
 * what a CPU without SIMD would do, and stays an independent reference. */
__attribute__((optimize("no-tree-vectorize")))
void dwcp_delta_xor_scalar(void *dst, const void *a, const void *b, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *pa = a, *pb = b;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x = dwcp_delta_load64(pa + i) ^ dwcp_delta_load64(pb + i);

		memcpy(d + i, &x, sizeof(x));
	}
	dwcp_delta_xor_tail(d + i, pa + i, pb + i, len - i);
}

size_t dwcp_delta_same_len_scalar(const void *a, const void *b, size_t len)
{
	return dwcp_delta_same_len_tail(a, b, len);
}

static inline __m128i load128(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

bool dwcp_delta_is_zero_sse42(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;

	for (; i + 64 <= len; i += 64) {
		__m128i v = _mm_or_si128(_mm_or_si128(load128(p + i), load128(p + i + 16)),
					 _mm_or_si128(load128(p + i + 32), load128(p + i + 48)));

		if (!_mm_testz_si128(v, v))
			return false;
	}
	for (; i + 16 <= len; i += 16) {
		__m128i v = load128(p + i);

		if (!_mm_testz_si128(v, v))
			return false;
	}
	return dwcp_delta_is_zero_tail(p + i, len - i);
}

void dwcp_delta_xor_sse42(void *dst, const void *a, const void *b, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *pa = a, *pb = b;
	size_t i = 0;

	/* Both inputs of a 16-byte step are loaded before its store, so dst
	 * may be a or b itself. */
	for (; i + 16 <= len; i += 16)
		_mm_storeu_si128((__m128i *)(void *)(d + i),
				 _mm_xor_si128(load128(pa + i), load128(pb + i)));
	dwcp_delta_xor_tail(d + i, pa + i, pb + i, len - i);
}

/* Mask of the bytes of a 16-byte step that are equal in a and b. */
static inline unsigned eq_mask16(const uint8_t *a, const uint8_t *b)
{
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(load128(a), load128(b)));
}

size_t dwcp_delta_same_len_sse42(const void *a, const void *b, size_t len)
{
	const uint8_t *pa = a, *pb = b;
	size_t i = 0;

	for (; i + 64 <= len; i += 64) {
		__m128i e = _mm_and_si128(
			_mm_and_si128(_mm_cmpeq_epi8(load128(pa + i), load128(pb + i)),
				      _mm_cmpeq_epi8(load128(pa + i + 16), load128(pb + i + 16))),
			_mm_and_si128(_mm_cmpeq_epi8(load128(pa + i + 32), load128(pb + i + 32)),
				      _mm_cmpeq_epi8(load128(pa + i + 48), load128(pb + i + 48))));

		if (_mm_movemask_epi8(e) != 0xFFFF)
			break;   /* the difference is in this block: find it below */
	}
	for (; i + 16 <= len; i += 16) {
		unsigned ne = ~eq_mask16(pa + i, pb + i) & 0xFFFFu;

		if (ne)
			return i + (size_t)__builtin_ctz(ne);
	}
	return i + dwcp_delta_same_len_tail(pa + i, pb + i, len - i);
}
