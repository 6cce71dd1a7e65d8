/* CRC32C tests: the RFC 3720 appendix B.4 vectors and the standard check
 * value pin down the convention (seed, reflection, final inversion) that
 * dwcp_crc32c must present on top of ISA-L; a bit-at-a-time reference
 * written from the polynomial alone then covers every length, alignment
 * and split point, so a table or SIMD bug in any code path shows up. */
#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/util.h"
#include "common/ops/crc32c.h"

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc32c_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* xorshift64: deterministic, so a failure reproduces. */
static void check_vector(const char *name, const uint8_t *buf, size_t len, uint32_t want)
{
	uint32_t got = dwcp_crc32c(0, buf, len);

	cr_assert_eq(got, want, "%s (%zu bytes): got 0x%08X, want 0x%08X", name, len, got, want);
	got = crc32c_ref(0, buf, len);
	cr_assert_eq(got, want, "reference CRC broken on %s: 0x%08X", name, got);
}

Test(crc32c, check_value)
{
	check_vector("\"123456789\"", (const uint8_t *)"123456789", 9, 0xE3069283u);
}

Test(crc32c, rfc3720_zeros_and_ones)
{
	uint8_t buf[32];

	memset(buf, 0x00, sizeof(buf));
	check_vector("32 x 0x00", buf, sizeof(buf), 0x8A9136AAu);
	memset(buf, 0xFF, sizeof(buf));
	check_vector("32 x 0xFF", buf, sizeof(buf), 0x62A8AB43u);
}

Test(crc32c, rfc3720_incrementing_and_decrementing)
{
	uint8_t up[32], down[32];

	for (int i = 0; i < 32; i++) {
		up[i] = (uint8_t)i;
		down[i] = (uint8_t)(31 - i);
	}
	check_vector("0..31", up, sizeof(up), 0x46DD794Eu);
	check_vector("31..0", down, sizeof(down), 0x113FDB5Cu);
}

Test(crc32c, rfc3720_iscsi_read_pdu)
{
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};

	check_vector("iSCSI read PDU", pdu, sizeof(pdu), 0xD9963A56u);
}

Test(crc32c, empty_buffer_keeps_crc)
{
	uint32_t mid = dwcp_crc32c(0, "1234", 4);

	cr_assert_eq(dwcp_crc32c(0, NULL, 0), 0u, "CRC of nothing: 0x%08X",
		     dwcp_crc32c(0, NULL, 0));
	cr_assert_eq(dwcp_crc32c(mid, "", 0), mid, "empty update changed 0x%08X to 0x%08X",
		     mid, dwcp_crc32c(mid, "", 0));
}

Test(crc32c, chaining_equals_concatenation)
{
	const char *s = "123456789";

	for (size_t cut = 0; cut <= 9; cut++) {
		uint32_t got = dwcp_crc32c(dwcp_crc32c(0, s, cut), s + cut, 9 - cut);

		cr_assert_eq(got, 0xE3069283u, "split at %zu: got 0x%08X", cut, got);
	}
}

Test(crc32c, matches_bitwise_reference_random)
{
	static uint8_t buf[10000 + 64];
	uint64_t seed = 0x9E3779B97F4A7C15ull;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)dwcp_test_rand(&seed);
	for (int iter = 0; iter < 300; iter++) {
		size_t len = (size_t)(dwcp_test_rand(&seed) % 10001);
		size_t off = (size_t)(dwcp_test_rand(&seed) % 64);
		size_t cut = len ? (size_t)(dwcp_test_rand(&seed) % (len + 1)) : 0;
		uint32_t want = crc32c_ref(0, buf + off, len);
		uint32_t whole = dwcp_crc32c(0, buf + off, len);
		uint32_t split = dwcp_crc32c(dwcp_crc32c(0, buf + off, cut), buf + off + cut, len - cut);

		cr_assert_eq(whole, want, "iter %d len %zu off %zu: got 0x%08X want 0x%08X",
			     iter, len, off, whole, want);
		cr_assert_eq(split, want, "iter %d len %zu split at %zu: got 0x%08X want 0x%08X",
			     iter, len, cut, split, want);
	}
}

/* dwcp_crc32c clears the upper vector halves ISA-L's AVX-512 code leaves
 * set (see crc32c.c); this checks the register state, not the timing. */
Test(crc32c, leaves_no_upper_vector_state)
{
	static uint8_t buf[65536];
	static const size_t lens[] = { 9, 64, 4096, 65536 };
	bool ok;

	dwcp_test_xinuse_upper(&ok);
	if (!ok)
		cr_skip_test("CPU lacks xgetbv 1: cannot see the register state");
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint64_t st;

		dwcp_crc32c(0, buf, lens[i]);
		st = dwcp_test_xinuse_upper(&ok);
		cr_assert_eq(st, 0u, "after %zu bytes: XINUSE upper bits 0x%llx", lens[i],
			     (unsigned long long)st);
	}
}
