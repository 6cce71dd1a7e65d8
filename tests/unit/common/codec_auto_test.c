/* The `codec = auto` rule (common/ops/codec_auto.h) from numbers: a fast
 * link gets none or LZ4, a slow one zstd, incompressible data and zero
 * pages none; the link estimate and the entropy probe on real bytes. The
 * rates below are of the order measured here (bench ops): LZ4 ~2 GB/s at
 * ratio 0.45, zstd-1 ~0.7 GB/s at ratio 0.37. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/ops/codec_auto.h"

#define GB 1e9

static struct dwcp_auto_in vm_like(double link_bps)
{
	struct dwcp_auto_in in = {
		.link_bps = link_bps,
		.rate_bps = { 0, 2.0 * GB, 0.7 * GB },
		.ratio = { 0, 0.45, 0.37 },
		.sample_bytes = 65536,
		.engines = 1,
		.zero_pages_free = true,
	};
	return in;
}

static enum dwcp_auto_codec choose(const struct dwcp_auto_in *in, struct dwcp_auto_verdict *v)
{
	char line[256];
	enum dwcp_auto_codec c = dwcp_codec_auto_choose(in, v);

	dwcp_codec_auto_explain(in, v, line, sizeof(line));
	cr_log_info("%s", line);   /* shown with --verbose: the numbers behind a failure */
	return c;
}

Test(codec_auto, link_faster_than_every_compressor_gets_none)
{
	struct dwcp_auto_in in = vm_like(12.0 * GB);   /* loopback on a big host */
	struct dwcp_auto_verdict v;

	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE, "eff none %.2f lz4 %.2f zstd %.2f",
		     v.eff_bps[0] / GB, v.eff_bps[1] / GB, v.eff_bps[2] / GB);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_RATES);
}

Test(codec_auto, link_a_little_slower_than_lz4_gets_lz4)
{
	struct dwcp_auto_in in = vm_like(1.5 * GB);   /* lz4: min(2.0, 1.5/0.45 = 3.3) = 2.0 */
	struct dwcp_auto_verdict v;

	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
	cr_assert_float_eq(v.eff_bps[DWCP_AUTO_LZ4], 2.0 * GB, 1e3);
	cr_assert_float_eq(v.eff_bps[DWCP_AUTO_NONE], 1.5 * GB, 1e3);
}

Test(codec_auto, slow_link_gets_zstd)
{
	struct dwcp_auto_in in = vm_like(0.125 * GB);   /* 1 Gbit/s WAN */
	struct dwcp_auto_verdict v;

	/* lz4 min(2.0, 0.278) < zstd min(0.7, 0.338): zstd delivers more. */
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD);
	cr_assert_gt(v.eff_bps[DWCP_AUTO_ZSTD], v.eff_bps[DWCP_AUTO_LZ4]);
}

Test(codec_auto, a_tie_goes_to_fewer_wire_bytes)
{
	struct dwcp_auto_in in = vm_like(1.0 * GB);
	struct dwcp_auto_verdict v;

	/* lz4 min(2.0, 2.22) = 2.0; zstd min(1.95, 2.7) = 1.95, within 5 %:
	 * the stream is as fast either way, and zstd spares the link. */
	in.rate_bps[DWCP_AUTO_ZSTD] = 1.95 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD);
	in.rate_bps[DWCP_AUTO_ZSTD] = 1.7 * GB;   /* 15 % slower: not a tie */
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
}

Test(codec_auto, incompressible_data_gets_none_whatever_the_link)
{
	double links[] = { 0, 0.01 * GB, 1 * GB, 100 * GB };

	for (unsigned i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		struct dwcp_auto_in in = vm_like(links[i]);
		struct dwcp_auto_verdict v;

		in.rate_bps[DWCP_AUTO_LZ4] = 5 * GB;   /* both fast on random input... */
		in.rate_bps[DWCP_AUTO_ZSTD] = 7 * GB;
		in.ratio[DWCP_AUTO_LZ4] = 1.004;       /* ...and neither saves anything */
		in.ratio[DWCP_AUTO_ZSTD] = 0.95;       /* 5 %: below the 10 % worth a compressor */
		cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE, "link %.2f GB/s", links[i] / GB);
		cr_assert_eq(v.why, DWCP_AUTO_WHY_INCOMPRESSIBLE);
	}
}

Test(codec_auto, zero_pages_get_none_when_hde_encodes_them)
{
	struct dwcp_auto_in in = { .link_bps = 0.01 * GB, .zero_bytes = 65536, .engines = 1,
				   .zero_pages_free = true };
	struct dwcp_auto_verdict v;

	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_ZERO);
}

Test(codec_auto, unknown_link_gets_the_fastest_codec_that_saves)
{
	struct dwcp_auto_in in = vm_like(0);
	struct dwcp_auto_verdict v;

	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_NO_LINK);
}

Test(codec_auto, more_engines_let_zstd_keep_up_with_a_faster_link)
{
	struct dwcp_auto_in in = vm_like(1.0 * GB);
	struct dwcp_auto_verdict v;

	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);   /* zstd 0.7 < lz4 2.0 */
	in.engines = 8;                                  /* zstd min(5.6, 2.7) > lz4 2.2 */
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD);
}

/* Criterion's float asserts evaluate their arguments more than once: the
 * adds happen outside them. */
Test(codec_auto, uncompressed_runs_measure_the_link_both_ways)
{
	struct dwcp_auto_link l = { 0 };
	double e;

	cr_assert_float_eq(dwcp_codec_auto_link_bps(&l), 0, 1, "not measured yet");
	e = dwcp_codec_auto_link_add(&l, false, 0.5 * GB);
	cr_assert_float_eq(e, 0.5 * GB, 1e3);
	e = dwcp_codec_auto_link_add(&l, false, 0.3 * GB);
	cr_assert_float_eq(e, 0.4 * GB, 1e3, "a slower run lowers it (averaged)");
	e = dwcp_codec_auto_link_add(&l, false, 0.8 * GB);
	cr_assert_float_eq(e, 0.6 * GB, 1e3, "a faster one raises it");
	e = dwcp_codec_auto_link_add(&l, false, 0);
	cr_assert_float_eq(e, 0.6 * GB, 1e3, "an empty measurement changes nothing");
}

Test(codec_auto, compressed_periods_only_raise_the_link_estimate)
{
	struct dwcp_auto_link l = { 0 };
	double e;

	dwcp_codec_auto_link_add(&l, false, 0.3 * GB);
	/* zstd puts 0.09 GB/s on the wire because it shrinks the data, not
	 * because the link got slower: that must not make zstd look right. */
	e = dwcp_codec_auto_link_add(&l, true, 0.09 * GB);
	cr_assert_float_eq(e, 0.3 * GB, 1e3);
	/* Compressed periods that carried more than the estimate raise it,
	 * averaged with it: one burst of acknowledgements does not triple it. */
	dwcp_codec_auto_link_add(&l, true, 0.9 * GB);
	cr_assert_float_eq(dwcp_codec_auto_link_bps(&l), 0.6 * GB, 1e3);
	dwcp_codec_auto_link_add(&l, true, 0.9 * GB);
	cr_assert_float_eq(dwcp_codec_auto_link_bps(&l), 0.75 * GB, 1e3, "sustained: it follows");
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

Test(codec_auto, probe_skips_random_and_keeps_text_zeros_and_mixed)
{
	static uint8_t buf[65536];
	static const char *const words[] = { "page ", "dirty ", "kernel ", "memory " };
	uint64_t s = 99;
	size_t i = 0;

	for (size_t k = 0; k < sizeof(buf); k += 8) {
		uint64_t r = next_rand(&s);

		memcpy(buf + k, &r, 8);
	}
	cr_assert_not(dwcp_codec_auto_may_compress(buf, sizeof(buf)), "random 64 KiB");
	cr_assert_not(dwcp_codec_auto_may_compress(buf, 4096), "random 4 KiB");
	cr_assert(dwcp_codec_auto_may_compress(buf, 512), "too short to judge: try");
	memset(buf + 32768, 0, 32768);   /* half random, half zero: compresses 2:1 */
	cr_assert(dwcp_codec_auto_may_compress(buf, sizeof(buf)));
	while (i < sizeof(buf))
		for (const char *w = words[next_rand(&s) % 4]; *w && i < sizeof(buf); w++)
			buf[i++] = (uint8_t)*w;
	cr_assert(dwcp_codec_auto_may_compress(buf, sizeof(buf)), "text");
	memset(buf, 0, sizeof(buf));
	cr_assert(dwcp_codec_auto_may_compress(buf, sizeof(buf)), "zeros");
}

Test(codec_auto, explain_names_choice_and_rates)
{
	struct dwcp_auto_in in = vm_like(0.125 * GB);
	struct dwcp_auto_verdict v;
	char line[256];

	dwcp_codec_auto_choose(&in, &v);
	dwcp_codec_auto_explain(&in, &v, line, sizeof(line));
	cr_assert(strncmp(line, "zstd: ", 6) == 0, "%s", line);
	cr_assert_not_null(strstr(line, "link 0.125 GB/s"), "%s", line);
	cr_assert_not_null(strstr(line, "zstd 0.700 GB/s x0.370"), "%s", line);
}
