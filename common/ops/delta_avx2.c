/* The AVX2 code path of the delta scans. The Makefile builds *_avx2.c with
 * -mavx2, so nothing here may run before dwcp_delta_select() has seen the
 * CPU has AVX2. Same shape as the SSE4.2 path in delta_scan.c, with 32-byte
 * registers and 128 bytes per branch; tails go to the scalar helpers. */
#include <immintrin.h>

#include "common/ops/delta_pvt.h"

static inline __m256i load256(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

bool dwcp_delta_is_zero_avx2(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;

	for (; i + 128 <= len; i += 128) {
		__m256i v = _mm256_or_si256(_mm256_or_si256(load256(p + i), load256(p + i + 32)),
					    _mm256_or_si256(load256(p + i + 64), load256(p + i + 96)));

		if (!_mm256_testz_si256(v, v))
			return false;
	}
	for (; i + 32 <= len; i += 32) {
		__m256i v = load256(p + i);

		if (!_mm256_testz_si256(v, v))
			return false;
	}
	return dwcp_delta_is_zero_tail(p + i, len - i);
}

void dwcp_delta_xor_avx2(void *dst, const void *a, const void *b, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *pa = a, *pb = b;
	size_t i = 0;

	/* Both inputs of a step are loaded before its store: dst may be a or b. */
	for (; i + 32 <= len; i += 32)
		_mm256_storeu_si256((__m256i *)(void *)(d + i),
				    _mm256_xor_si256(load256(pa + i), load256(pb + i)));
	dwcp_delta_xor_tail(d + i, pa + i, pb + i, len - i);
}

static inline __m256i eq256(const uint8_t *a, const uint8_t *b)
{
	return _mm256_cmpeq_epi8(load256(a), load256(b));
}

size_t dwcp_delta_same_len_avx2(const void *a, const void *b, size_t len)
{
	const uint8_t *pa = a, *pb = b;
	const __m256i ones = _mm256_set1_epi8(-1);
	size_t i = 0;

	for (; i + 128 <= len; i += 128) {
		__m256i e = _mm256_and_si256(
			_mm256_and_si256(eq256(pa + i, pb + i), eq256(pa + i + 32, pb + i + 32)),
			_mm256_and_si256(eq256(pa + i + 64, pb + i + 64),
					 eq256(pa + i + 96, pb + i + 96)));

		if (!_mm256_testc_si256(e, ones))
			break;   /* the difference is in this block: find it below */
	}
	for (; i + 32 <= len; i += 32) {
		uint32_t ne = ~(uint32_t)_mm256_movemask_epi8(eq256(pa + i, pb + i));

		if (ne)
			return i + (size_t)__builtin_ctz(ne);
	}
	return i + dwcp_delta_same_len_tail(pa + i, pb + i, len - i);
}
