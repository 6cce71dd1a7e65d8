/* The AVX2 code path of the weak checksum (weaksum.h), zlib's adler32
 * technique. The Makefile builds *_avx2.c with -mavx2, so nothing here may
 * run before dwcp_weaksum_select() has seen the CPU has AVX2.
 *
 * For 32-byte blocks x_0..x_31 taken in order, with A the sum of every
 * byte before the block:
 *
 *     b += 32 * A + sum (32 - j) * x_j        a += sum x_j
 *
 * which, summed over the 128 blocks of a page, gives each byte x[i] the
 * weight W - i. sum x_j is _mm256_sad_epu8 against zero (four 64-bit lane
 * sums); sum (32 - j) * x_j is _mm256_maddubs_epi16 with the weights
 * 32..1 (pairs of bytes, at most 255 * 63, no saturation) and then
 * _mm256_madd_epi16 with ones into eight 32-bit lanes.
 *
 * A loop step takes 128 bytes (four blocks) so that the four blocks' work
 * is independent; the 32 * A part of the step's blocks is gathered in
 * vector `pre` as 4 * A_step + 3 * s0 + 2 * s1 + s2 (s_q the sum of
 * block q) and multiplied by 32 once at the end. No lane can overflow: a
 * whole page's b is below 2^31 (weaksum.c).
 *
 * The function ends with an explicit vzeroupper, as xxh3_avx2.c explains:
 * upper YMM halves left set slow every later legacy-SSE instruction. */
#include <immintrin.h>

#include "common/ops/weaksum_pvt.h"

static inline __m256i load256(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

static inline uint32_t hsum32(__m256i v)
{
	__m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
	return (uint32_t)_mm_cvtsi128_si32(x);
}

void dwcp_weaksum_page_avx2(const uint8_t *p, struct dwcp_weaksum *s)
{
	const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi16(1);
	const __m256i w = _mm256_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
					   18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
	/* sad lanes hold sums below 2^21 in their low 32 bits, so 32-bit adds
	 * on them are exact and leave the high halves zero. */
	__m256i va = zero, pre = zero, vb0 = zero, vb1 = zero;

	for (unsigned i = 0; i < DWCP_WEAKSUM_WINDOW; i += 128) {
		const __m256i x0 = load256(p + i), x1 = load256(p + i + 32);
		const __m256i x2 = load256(p + i + 64), x3 = load256(p + i + 96);
		const __m256i s0 = _mm256_sad_epu8(x0, zero), s1 = _mm256_sad_epu8(x1, zero);
		const __m256i s2 = _mm256_sad_epu8(x2, zero), s3 = _mm256_sad_epu8(x3, zero);
		const __m256i p1 = _mm256_add_epi32(s0, s1), p2 = _mm256_add_epi32(p1, s2);

		pre = _mm256_add_epi32(pre, _mm256_slli_epi32(va, 2));
		pre = _mm256_add_epi32(pre, _mm256_add_epi32(_mm256_add_epi32(s0, p1), p2));
		va = _mm256_add_epi32(va, _mm256_add_epi32(p2, s3));
		vb0 = _mm256_add_epi32(vb0, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, w), ones));
		vb1 = _mm256_add_epi32(vb1, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, w), ones));
		vb0 = _mm256_add_epi32(vb0, _mm256_madd_epi16(_mm256_maddubs_epi16(x2, w), ones));
		vb1 = _mm256_add_epi32(vb1, _mm256_madd_epi16(_mm256_maddubs_epi16(x3, w), ones));
	}
	vb0 = _mm256_add_epi32(_mm256_add_epi32(vb0, vb1), _mm256_slli_epi32(pre, 5));
	*s = (struct dwcp_weaksum){ .a = hsum32(va), .b = hsum32(vb0) };
	_mm256_zeroupper();
}
