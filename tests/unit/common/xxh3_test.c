/* XXH3 tests: both of our compiled copies (SSE2, AVX2) against the
 * distribution's libxxhash.so as the oracle. The oracle is linked as the
 * shared library and called by its public names; our copies are static
 * inside libdwcp_common (XXH_INLINE_ALL), so the two cannot be confused,
 * and a test checks with dladdr that the oracle really is the .so. Known
 * values pin the oracle itself. Lengths 0..4096 cover every XXH3 size class
 * (0, 1-3, 4-8, 9-16, 17-128, 129-240, long) and several 1 KiB block
 * boundaries; a few large inputs up to 1 MiB cover the long loop. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <xxhash.h>

#include "tests/lib/util.h"
#include "common/cpu.h"
#include "common/ops/xxh3.h"

#define MAX_BIG (1u << 20)

static uint8_t *random_buf(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(dwcp_test_rand(&seed) >> 24);
	return p;
}

/* Every variant this CPU can run; *n receives how many. */
static void variants(struct dwcp_xxh3_impl out[2], int *n)
{
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	*n = 0;
	cr_assert_eq(dwcp_xxh3_select_variant(&out[*n], DWCP_XXH3_SSE2, &cpu), 0);
	(*n)++;
	if (dwcp_xxh3_select_variant(&out[*n], DWCP_XXH3_AVX2, &cpu) == 0)
		(*n)++;
	else
		cr_log_warn("CPU lacks AVX2: only the SSE2 copy is tested");
}

static void check_one(const struct dwcp_xxh3_impl *im, const uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t want64 = XXH3_64bits_withSeed(p, len, seed);
	uint64_t got64 = im->h64(p, len, seed);
	XXH128_hash_t want128 = XXH3_128bits_withSeed(p, len, seed);
	struct dwcp_xxh3_128 got128 = im->h128(p, len, seed);

	cr_assert_eq(got64, want64, "%s h64 len %zu seed 0x%016llx: got 0x%016llx want 0x%016llx",
		     im->name, len, (unsigned long long)seed, (unsigned long long)got64,
		     (unsigned long long)want64);
	cr_assert(got128.lo == want128.low64 && got128.hi == want128.high64,
		  "%s h128 len %zu seed 0x%016llx: got %016llx%016llx want %016llx%016llx",
		  im->name, len, (unsigned long long)seed, (unsigned long long)got128.hi,
		  (unsigned long long)got128.lo, (unsigned long long)want128.high64,
		  (unsigned long long)want128.low64);
}

Test(xxh3, oracle_is_the_shared_library)
{
	Dl_info info;

	cr_assert(dladdr((void *)(uintptr_t)XXH3_64bits_withSeed, &info) != 0);
	cr_assert_not_null(info.dli_fname);
	cr_assert(strstr(info.dli_fname, "libxxhash.so") != NULL,
		  "XXH3_64bits_withSeed resolved to %s, not libxxhash.so", info.dli_fname);
}

Test(xxh3, known_values)
{
	struct dwcp_xxh3_impl im[2];
	int n;

	variants(im, &n);
	cr_assert_eq(XXH3_64bits_withSeed("", 0, 0), 0x2D06800538D394C2ull, "oracle broken");
	for (int v = 0; v < n; v++) {
		struct dwcp_xxh3_128 h = im[v].h128(NULL, 0, 0);

		cr_assert_eq(im[v].h64("", 0, 0), 0x2D06800538D394C2ull, "%s", im[v].name);
		cr_assert_eq(im[v].h64(NULL, 0, 0), 0x2D06800538D394C2ull, "%s NULL", im[v].name);
		cr_assert(h.hi == 0x99AA06D3014798D8ull && h.lo == 0x6001C324468D497Full,
			  "%s XXH128(\"\") = %016llx%016llx", im[v].name,
			  (unsigned long long)h.hi, (unsigned long long)h.lo);
	}
}

Test(xxh3, select_picks_avx2_when_present)
{
	struct dwcp_cpu_features cpu, none = { 0 };
	struct dwcp_xxh3_impl im;

	dwcp_cpu_detect(&cpu);
	dwcp_xxh3_select(&im, &cpu);
	cr_assert_str_eq(im.name, cpu.avx2 ? "avx2" : "sse2");
	dwcp_xxh3_select(&im, &none);
	cr_assert_str_eq(im.name, "sse2");
	cr_assert_eq(dwcp_xxh3_select_variant(&im, DWCP_XXH3_AVX2, &none), -ENOTSUP);
	cr_assert_eq(dwcp_xxh3_select_variant(&im, (enum dwcp_xxh3_variant)99, &cpu), -EINVAL);
}

Test(xxh3, all_lengths_to_4096_match_libxxhash)
{
	struct dwcp_xxh3_impl im[2];
	uint64_t rng = 0x0123456789ABCDEFull;
	uint8_t *buf = random_buf(4096 + 64, 7);
	int n;

	variants(im, &n);
	for (size_t len = 0; len <= 4096; len++) {
		size_t off = (size_t)(dwcp_test_rand(&rng) % 64);
		uint64_t seed = (len % 3 == 0) ? 0 : dwcp_test_rand(&rng);

		for (int v = 0; v < n; v++)
			check_one(&im[v], buf + off, len, seed);
	}
	free(buf);
}

Test(xxh3, large_inputs_match_libxxhash)
{
	static const size_t lens[] = { 4097, 10000, 65535, 65536, 65537, 100003,
				       262144, 999999, MAX_BIG - 1, MAX_BIG };
	struct dwcp_xxh3_impl im[2];
	uint8_t *buf = random_buf(MAX_BIG + 1, 11);
	uint64_t rng = 99;
	int n;

	variants(im, &n);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t off = lens[i] < MAX_BIG ? 1 : 0;

		for (int v = 0; v < n; v++) {
			check_one(&im[v], buf + off, lens[i], 0);
			check_one(&im[v], buf + off, lens[i], dwcp_test_rand(&rng));
		}
	}
	free(buf);
}

Test(xxh3, variants_agree_on_random_sizes)
{
	struct dwcp_xxh3_impl im[2];
	uint8_t *buf = random_buf(MAX_BIG, 13);
	uint64_t rng = 0xFEEDull;
	int n;

	variants(im, &n);
	for (int it = 0; it < 200; it++) {
		size_t len = (size_t)(dwcp_test_rand(&rng) % (MAX_BIG / 4));
		size_t off = (size_t)(dwcp_test_rand(&rng) % (MAX_BIG - len + 1));
		uint64_t seed = dwcp_test_rand(&rng);

		for (int v = 0; v < n; v++)
			check_one(&im[v], buf + off, len, seed);
	}
	free(buf);
}

/* The AVX2 copy ends with vzeroupper (see xxh3_avx2.c): checked on the
 * register state, not by timing. */
Test(xxh3, avx2_leaves_no_upper_vector_state)
{
	struct dwcp_xxh3_impl im[2];
	static uint8_t buf[65536];
	bool ok;
	int n;

	variants(im, &n);
	dwcp_test_xinuse_upper(&ok);
	if (!ok || n < 2)
		cr_skip_test("no AVX2 copy, or CPU lacks xgetbv 1");
	for (size_t len = 1; len <= sizeof(buf); len *= 4) {
		uint64_t st;

		im[1].h64(buf, len, 1);
		st = dwcp_test_xinuse_upper(&ok);
		cr_assert_eq(st, 0u, "h64 %zu bytes: XINUSE upper 0x%llx", len, (unsigned long long)st);
		im[1].h128(buf, len, 1);
		st = dwcp_test_xinuse_upper(&ok);
		cr_assert_eq(st, 0u, "h128 %zu bytes: XINUSE upper 0x%llx", len, (unsigned long long)st);
	}
}
