/* The CRC32C arithmetic svc-gpu's kernel runs (svc-gpu/crc32c_math.h),
 * compiled here as C and checked against ISA-L (common/ops/crc32c.h): the
 * standard check value, any split of a message over any number of
 * threads, the chunk's own crc field read as zero, and the shift operator
 * composing. A kernel that does what this file's loops do computes what
 * svc-simd computes. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/ops/crc32c.h"
#include "svc-gpu/crc32c_math.h"
#include "tests/lib/util.h"

static uint32_t tab[256], x2n[32];

static void setup(void)
{
	dwcp_gpu_crc_table(tab);
	dwcp_gpu_crc_x2n_table(x2n);
}

TestSuite(gpu_crc, .init = setup);

/* What the kernel computes for one message with @p n threads. */
static uint32_t crc_by_threads(const uint8_t *msg, uint64_t len, uint64_t zero_off, unsigned n)
{
	uint32_t x = 0;

	for (unsigned t = 0; t < n; t++)
		x ^= dwcp_gpu_crc_thread(msg, len, zero_off, t, n, tab, x2n);
	return dwcp_gpu_crc_finish(x, len, x2n);
}

Test(gpu_crc, the_standard_check_value)
{
	const uint8_t m[] = "123456789";

	cr_expect_eq(~dwcp_gpu_crc_update(0xffffffffu, m, 9, tab), 0xE3069283u);
	cr_expect_eq(crc_by_threads(m, 9, ~0ull, 1), 0xE3069283u);
	cr_expect_eq(crc_by_threads(m, 9, ~0ull, 4), 0xE3069283u);
	cr_expect_eq(crc_by_threads(m, 0, ~0ull, 8), dwcp_crc32c(0, m, 0));
}

Test(gpu_crc, any_split_over_any_threads_equals_isal)
{
	static const uint64_t lens[] = { 1, 15, 16, 17, 96, 97, 4096, 65536 + 96, 262144 + 96, 1000003 };
	static const unsigned threads[] = { 1, 2, 7, 32, 256, 1024 };
	uint64_t seed = 7;
	uint8_t *m = aligned_alloc(4096, (1000003 + 4095) & ~4095ul);   /* a multiple of the alignment */

	cr_assert_not_null(m);
	dwcp_test_fill_random(m, 1000003, &seed);
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t want = dwcp_crc32c(0, m, lens[i]);

		for (unsigned j = 0; j < sizeof(threads) / sizeof(threads[0]); j++)
			cr_expect_eq(crc_by_threads(m, lens[i], ~0ull, threads[j]), want,
				     "%llu bytes over %u threads", (unsigned long long)lens[i], threads[j]);
	}
	free(m);
}

Test(gpu_crc, the_chunks_own_crc_field_reads_as_zero)
{
	uint64_t seed = 11;
	uint8_t *m = aligned_alloc(4096, 8192), *z = malloc(8192);

	cr_assert(m && z);
	dwcp_test_fill_random(m, 8192, &seed);
	for (uint64_t off = 0; off < 100; off += 9) {
		memcpy(z, m, 8192);
		memset(z + off, 0, 4);
		cr_expect_eq(crc_by_threads(m, 8192, off, 64), dwcp_crc32c(0, z, 8192), "field at %llu",
			     (unsigned long long)off);
	}
	/* A field that straddles the end of a 16-byte word and of a thread's segment. */
	memcpy(z, m, 8192);
	memset(z + 126, 0, 4);
	cr_expect_eq(crc_by_threads(m, 8192, 126, 64), dwcp_crc32c(0, z, 8192));
	free(m);
	free(z);
}

Test(gpu_crc, shifts_compose_and_match_zero_bytes)
{
	uint8_t zeros[300] = { 0 };

	for (uint64_t a = 0; a < 300; a += 37)
		for (uint64_t b = 0; b < 300; b += 41) {
			uint32_t v = 0x9e3779b9u ^ (uint32_t)(a * 31 + b);

			cr_expect_eq(dwcp_gpu_crc_shift(dwcp_gpu_crc_shift(v, a, x2n), b, x2n),
				     dwcp_gpu_crc_shift(v, a + b, x2n));
			cr_expect_eq(dwcp_gpu_crc_shift(v, a, x2n), dwcp_gpu_crc_update(v, zeros, a, tab));
		}
	cr_expect_eq(dwcp_gpu_crc_shift(0x12345678u, 1ull << 40, x2n),
		     dwcp_gpu_crc_shift(dwcp_gpu_crc_shift(0x12345678u, 1ull << 39, x2n), 1ull << 39, x2n),
		     "a terabyte of zeros, in two halves");
}
