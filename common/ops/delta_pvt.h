/* Code paths of the delta scans, seen only by common/ops/delta*.c and their
 * tests; everyone else goes through struct dwcp_delta_impl. The scalar
 * helpers are inline here because every wider path finishes its tail with
 * them. */
#ifndef DWCP_COMMON_OPS_DELTA_PVT_H
#define DWCP_COMMON_OPS_DELTA_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t dwcp_delta_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));   /* unaligned, any alignment */
	return v;
}

static inline bool dwcp_delta_is_zero_tail(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static inline void dwcp_delta_xor_tail(uint8_t *d, const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = a[i] ^ b[i];
}

/* Leading equal bytes, a word at a time; x86 is little-endian, so the
 * lowest set bit of the XOR is the first differing byte. */
static inline size_t dwcp_delta_same_len_tail(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x = dwcp_delta_load64(a + i) ^ dwcp_delta_load64(b + i);

		if (x)
			return i + (size_t)__builtin_ctzll(x) / 8;
	}
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

bool dwcp_delta_is_zero_scalar(const void *buf, size_t len);
void dwcp_delta_xor_scalar(void *dst, const void *a, const void *b, size_t len);
size_t dwcp_delta_same_len_scalar(const void *a, const void *b, size_t len);

bool dwcp_delta_is_zero_sse42(const void *buf, size_t len);
void dwcp_delta_xor_sse42(void *dst, const void *a, const void *b, size_t len);
size_t dwcp_delta_same_len_sse42(const void *a, const void *b, size_t len);

bool dwcp_delta_is_zero_avx2(const void *buf, size_t len);
void dwcp_delta_xor_avx2(void *dst, const void *a, const void *b, size_t len);
size_t dwcp_delta_same_len_avx2(const void *a, const void *b, size_t len);

#endif
