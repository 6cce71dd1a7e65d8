/* The rolling weak checksum (common/ops/weaksum.h): the scalar and AVX2
 * page sums against the definition written out (a = sum x[i],
 * b = sum (W - i) * x[i]), on random, all-0xFF, one-byte and unaligned
 * pages; a sum rolled byte by byte equals a fresh page sum at every offset;
 * the key sees a one-byte change and a swap of two bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/util.h"
#include "common/cpu.h"
#include "common/ops/weaksum.h"
#include "common/ops/weaksum_pvt.h"

#define W DWCP_WEAKSUM_WINDOW

/* The definition, with the multiplications spelt out: an oracle that
 * shares no trick with either code path. */
static struct dwcp_weaksum reference(const uint8_t *p)
{
	struct dwcp_weaksum s = { 0, 0 };

	for (uint32_t i = 0; i < W; i++) {
		s.a += p[i];
		s.b += (W - i) * (uint32_t)p[i];
	}
	return s;
}

/* Every code path this CPU can run; @return how many. */
static int paths(struct dwcp_weaksum_impl out[2])
{
	struct dwcp_cpu_features cpu;
	int n = 0;

	dwcp_cpu_detect(&cpu);
	out[n++] = (struct dwcp_weaksum_impl){ dwcp_weaksum_page_scalar, "scalar" };
	if (cpu.avx2)
		out[n++] = (struct dwcp_weaksum_impl){ dwcp_weaksum_page_avx2, "avx2" };
	else
		cr_log_warn("CPU lacks AVX2: only the scalar path is tested");
	return n;
}

static void check_page(const uint8_t *p, const char *what)
{
	struct dwcp_weaksum_impl im[2];
	const struct dwcp_weaksum want = reference(p);
	const int n = paths(im);

	for (int v = 0; v < n; v++) {
		struct dwcp_weaksum got = { 0xdead, 0xbeef };

		im[v].page(p, &got);
		cr_assert(got.a == want.a && got.b == want.b,
			  "%s, %s: a %08x b %08x, want a %08x b %08x", what, im[v].name, got.a, got.b,
			  want.a, want.b);
	}
}

Test(weaksum, known_pages)
{
	uint8_t *p = dwcp_test_xmalloc(W);
	struct dwcp_weaksum s;

	memset(p, 0, W);
	cr_assert_eq(reference(p).a, 0);
	check_page(p, "zero page");
	memset(p, 0xFF, W);
	s = reference(p);
	/* 255 * 4096 and 255 * (4096 + 4095 + ... + 1): the largest sums,
	 * which must come out exact (no lane may overflow). */
	cr_assert(s.a == 1044480u && s.b == 2139617280u, "oracle: a %u b %u", s.a, s.b);
	check_page(p, "all 0xFF");
	for (uint32_t i = 0; i < W; i++)
		p[i] = (uint8_t)i;
	check_page(p, "ascending");
	free(p);
}

/* One byte set at each position in turn: every position's weight. */
Test(weaksum, every_position_has_its_weight)
{
	uint8_t *p = dwcp_test_xmalloc(W);
	char what[64];

	memset(p, 0, W);
	for (uint32_t i = 0; i < W; i++) {
		p[i] = (uint8_t)(0x80 | (i & 0x7F));
		snprintf(what, sizeof(what), "only byte %u set", i);
		check_page(p, what);
		p[i] = 0;
	}
	free(p);
}

Test(weaksum, random_pages_at_any_alignment)
{
	uint8_t *buf = dwcp_test_xmalloc(W + 64);
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	char what[64];

	for (int round = 0; round < 64; round++) {
		size_t off = (size_t)round % 64;

		dwcp_test_fill_random(buf, W + 64, &rng);
		if (round % 8 == 7)   /* runs of high bytes: the i16 products' worst case */
			memset(buf + off + (size_t)round * 17, 0xFF, 1500);
		snprintf(what, sizeof(what), "random page %d at offset %zu", round, off);
		check_page(buf + off, what);
	}
	free(buf);
}

Test(weaksum, select_picks_avx2_when_present)
{
	struct dwcp_cpu_features cpu, none = { 0 };
	struct dwcp_weaksum_impl im;

	dwcp_cpu_detect(&cpu);
	dwcp_weaksum_select(&im, &cpu);
	cr_assert_str_eq(im.name, cpu.avx2 ? "avx2" : "scalar");
	cr_assert(im.page == (cpu.avx2 ? dwcp_weaksum_page_avx2 : dwcp_weaksum_page_scalar));
	dwcp_weaksum_select(&im, &none);
	cr_assert_str_eq(im.name, "scalar");
}

/* What the matcher does: roll from offset 0 to the end of a buffer and
 * compare with a fresh page sum (the selected path) at every offset. */
Test(weaksum, roll_equals_a_fresh_sum_at_every_offset)
{
	const size_t n = 8 * W + 333;
	uint8_t *buf = dwcp_test_xmalloc(n);
	uint64_t rng = 12345;
	struct dwcp_cpu_features cpu;
	struct dwcp_weaksum_impl im;
	struct dwcp_weaksum r;

	dwcp_cpu_detect(&cpu);
	dwcp_weaksum_select(&im, &cpu);
	dwcp_test_fill_random(buf, n, &rng);
	memset(buf + 3 * W + 10, 0xFF, W);   /* a window full of 0xFF passes by */
	memset(buf + 5 * W + 99, 0, W);      /* and one of zeros */
	im.page(buf, &r);
	for (size_t off = 0;; off++) {
		struct dwcp_weaksum fresh;

		im.page(buf + off, &fresh);
		cr_assert(r.a == fresh.a && r.b == fresh.b,
			  "offset %zu: rolled a %08x b %08x, fresh a %08x b %08x", off, r.a, r.b,
			  fresh.a, fresh.b);
		cr_assert_eq(dwcp_weaksum_key(&r), dwcp_weaksum_key(&fresh));
		if (off + W == n)
			break;
		dwcp_weaksum_roll(&r, buf[off], buf[off + W]);
	}
	free(buf);
}

Test(weaksum, key_sees_one_byte_and_a_swap)
{
	uint8_t *p = dwcp_test_xmalloc(W);
	uint64_t rng = 777;
	struct dwcp_weaksum s0, s;
	uint32_t k0;

	dwcp_test_fill_random(p, W, &rng);
	s0 = reference(p);
	k0 = dwcp_weaksum_key(&s0);
	cr_assert_eq(k0, (s0.a * 0x9E3779B1u) ^ (s0.b * 0x85EBCA77u), "the key is the documented mix");
	for (int t = 0; t < 2000; t++) {
		const uint32_t i = (uint32_t)(dwcp_test_rand(&rng) % W);
		const uint8_t old = p[i], delta = (uint8_t)(1 + dwcp_test_rand(&rng) % 255);

		p[i] = (uint8_t)(old + delta);
		s = reference(p);
		cr_assert_neq(dwcp_weaksum_key(&s), k0, "byte %u changed by %u: same key", i, delta);
		p[i] = old;
	}
	for (int t = 0; t < 2000; t++) {   /* a swap keeps a; only b can tell */
		const uint32_t i = (uint32_t)(dwcp_test_rand(&rng) % W);
		const uint32_t j = (uint32_t)(dwcp_test_rand(&rng) % W);
		uint8_t x;

		if (p[i] == p[j])
			continue;
		x = p[i], p[i] = p[j], p[j] = x;
		s = reference(p);
		cr_assert_eq(s.a, s0.a);
		cr_assert_neq(dwcp_weaksum_key(&s), k0, "bytes %u and %u swapped: same key", i, j);
		x = p[i], p[i] = p[j], p[j] = x;
	}
	free(p);
}

Test(weaksum, leaves_no_upper_vector_state)
{
	struct dwcp_weaksum_impl im[2];
	uint8_t *p = dwcp_test_xmalloc(W);
	struct dwcp_weaksum s;
	bool ok;
	const int n = paths(im);

	dwcp_test_xinuse_upper(&ok);
	if (!ok)
		cr_skip_test("CPU lacks xgetbv 1: cannot see the register state");
	memset(p, 7, W);
	for (int v = 0; v < n; v++) {
		uint64_t st;

		im[v].page(p, &s);
		st = dwcp_test_xinuse_upper(&ok);
		cr_assert_eq(st, 0u, "after %s: XINUSE upper bits 0x%llx", im[v].name,
			     (unsigned long long)st);
	}
	free(p);
}
