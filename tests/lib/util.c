/* Shared unit-test helpers (util.h). */
#include <cpuid.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "tests/lib/util.h"

uint64_t dwcp_test_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

void dwcp_test_fill_random(uint8_t *p, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(dwcp_test_rand(s) >> 32);
}

void *dwcp_test_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	cr_assert_not_null(p, "malloc(%zu)", n);
	return p;
}

uint64_t dwcp_test_xinuse_upper(bool *ok)
{
	unsigned a, b, c, d;
	uint32_t lo, hi;

	*ok = __get_cpuid_max(0, NULL) >= 0xd;
	if (*ok) {
		__cpuid_count(0xd, 1, a, b, c, d);
		*ok = (a >> 2) & 1;
	}
	if (!*ok)
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
	return (((uint64_t)hi << 32) | lo) & DWCP_TEST_XINUSE_UPPER;
}
