/* The `codec = auto` rule (common/ops/codec_auto.h) from numbers: a fast
 * link gets none or LZ4, a slow one zstd, incompressible data and zero
 * pages none; what a codec delivered overrules the model; the fit of what
 * each codec delivers recovers known rates from noisy, mixed periods; the
 * link estimate and the entropy probe on real bytes. The
 * rates below are of the order measured here (bench ops): LZ4 ~2 GB/s at
 * ratio 0.45, zstd-1 ~0.7 GB/s at ratio 0.37. */
#include <math.h>
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

/* Measured here (256 MiB bench, both nodes on 2 CPUs): lz4 bound by the
 * link at 0.77, zstd by its compressor at 0.75 on one sample; zstd won
 * the tie for its fewer bytes, and its trial delivered 0.34-0.59. A
 * compressor's figure assumes a core of its own; the link's does not. */
Test(codec_auto, a_tie_goes_to_the_codec_not_bound_by_its_compressor)
{
	struct dwcp_auto_in in = vm_like(0.536 * GB);
	struct dwcp_auto_verdict v;

	in.rate_bps[DWCP_AUTO_LZ4] = 1.4 * GB;    /* min(1.4, 0.536/0.694 = 0.772) */
	in.ratio[DWCP_AUTO_LZ4] = 0.694;
	in.rate_bps[DWCP_AUTO_ZSTD] = 0.75 * GB;  /* min(0.75, 0.536/0.58 = 0.924) */
	in.ratio[DWCP_AUTO_ZSTD] = 0.58;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4, "eff lz4 %.3f zstd %.3f", v.eff_bps[1] / GB,
		     v.eff_bps[2] / GB);
	/* What zstd delivered is no promise: a tie with it goes by bytes. */
	in.delivered_bps[DWCP_AUTO_ZSTD] = 0.76 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD);
}

/* Two CPUs, both nodes on them: while none ran at 1 GB/s of data 0.3 of
 * a CPU stayed idle, so LZ4's 2 GB/s per engine could use 0.3 of one. */
Test(codec_auto, spare_cpus_bound_what_the_compressors_promise)
{
	struct dwcp_auto_in in = vm_like(1.0 * GB);
	struct dwcp_auto_verdict v;

	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);   /* min(2.0, 2.2): a core of its own */
	in.spare_known = true;
	in.spare_cpus = 0.3;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE, "eff none %.3f lz4 %.3f",
		     v.eff_bps[0] / GB, v.eff_bps[1] / GB);
	cr_assert_float_eq(v.eff_bps[DWCP_AUTO_LZ4], 0.6 * GB, 1e3);
	/* A busy host still compresses for a slow link: the scheduler gives
	 * a compressor its share, and little of one is needed. */
	in = vm_like(0.125 * GB);
	in.spare_known = true;
	in.spare_cpus = 0;
	cr_assert_neq(choose(&in, &v), DWCP_AUTO_NONE);
	cr_assert_gt(v.eff_bps[v.codec], 0.2 * GB);
	/* More spare CPUs than engines: the engines count. */
	in = vm_like(1.0 * GB);
	in.engines = 8;
	in.spare_known = true;
	in.spare_cpus = 14;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD);   /* as with 8 engines, no spare known */
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

Test(codec_auto, what_a_codec_delivered_overrules_the_model)
{
	/* The model on a fast link with two engines: zstd min(1.4, 2.7) wins.
	 * But both nodes share two cores: zstd delivered 0.6, none 0.95. */
	struct dwcp_auto_in in = vm_like(1.0 * GB);
	struct dwcp_auto_verdict v;

	in.rate_bps[DWCP_AUTO_LZ4] = 0.6 * GB;
	in.engines = 2;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD, "the model alone");
	cr_assert_eq(v.why, DWCP_AUTO_WHY_RATES);
	in.delivered_bps[DWCP_AUTO_ZSTD] = 0.6 * GB;
	/* Only zstd measured: the model's lz4 (min(1.2, 2.2)) beats what zstd did... */
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_RATES);
	/* ...until lz4 is measured too: then none's model (the link, 1.0). */
	in.delivered_bps[DWCP_AUTO_LZ4] = 0.7 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_RATES);
	in.delivered_bps[DWCP_AUTO_NONE] = 0.95 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_DELIVERED);
	cr_assert_float_eq(v.eff_bps[DWCP_AUTO_NONE], 0.95 * GB, 1e3);
	/* Measured again, lz4 comes within 5 % of none either way: the
	 * stream ran as fast without it, on less CPU (a link that set the
	 * pace would have made lz4's fewer bytes deliver more). */
	in.delivered_bps[DWCP_AUTO_LZ4] = 0.92 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_DELIVERED);
	in.delivered_bps[DWCP_AUTO_LZ4] = 0.98 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE);
	in.delivered_bps[DWCP_AUTO_LZ4] = 1.05 * GB;   /* 10 % more: worth its CPU */
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_DELIVERED);
	/* A codec that does not save enough is not chosen, whatever it did. */
	in.ratio[DWCP_AUTO_LZ4] = 0.95;
	in.delivered_bps[DWCP_AUTO_LZ4] = 5 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE);
}

/* What a codec delivered counts its chunks' zero pages (HDE sends them
 * at next to no cost); the model counts the bytes a codec gets. On an
 * image a third zero pages both go in data bytes, or a codec that ran
 * would look half as fast again as one that has not. */
Test(codec_auto, zero_pages_count_alike_in_the_model_and_in_what_was_delivered)
{
	struct dwcp_auto_in in = vm_like(0.6 * GB);
	struct dwcp_auto_verdict v;

	in.zero_mixed_bytes = in.zero_bytes = in.sample_bytes / 2;   /* a third of the data */
	in.rate_bps[DWCP_AUTO_ZSTD] = 0.3 * GB;                      /* zstd: 0.45 of data */
	in.delivered_bps[DWCP_AUTO_LZ4] = 0.62 * GB;
	/* None carries 0.6 GB/s of coded bytes, 0.9 of data: more than LZ4's 0.62. */
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_NONE, "eff none %.3f lz4 %.3f", v.eff_bps[0] / GB,
		     v.eff_bps[1] / GB);
	cr_assert_float_eq(v.eff_bps[DWCP_AUTO_NONE], 0.9 * GB, 1e3);
	/* Without HDE the zero pages go through the codec like any data: no scaling. */
	in.zero_pages_free = false;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
	cr_assert_float_eq(v.eff_bps[DWCP_AUTO_NONE], 0.6 * GB, 1e3);
	/* Zero pages only in chunks of their own are nobody's data: no scaling. */
	in.zero_pages_free = true;
	in.zero_mixed_bytes = 0;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_LZ4);
}

Test(codec_auto, a_slow_link_keeps_zstd_when_it_delivered_most)
{
	struct dwcp_auto_in in = vm_like(0.125 * GB);
	struct dwcp_auto_verdict v;

	in.delivered_bps[DWCP_AUTO_NONE] = 0.12 * GB;
	in.delivered_bps[DWCP_AUTO_LZ4] = 0.27 * GB;
	in.delivered_bps[DWCP_AUTO_ZSTD] = 0.33 * GB;
	cr_assert_eq(choose(&in, &v), DWCP_AUTO_ZSTD);
	cr_assert_eq(v.why, DWCP_AUTO_WHY_DELIVERED);
}

/* Periods as a pipeline makes them: dt = sum of bytes x seconds per byte
 * of their kind, times noise of up to +-40 % (a period's end falls in a
 * burst of acknowledgements, or just before one). */
static void feed(struct dwcp_auto_fit *f, const double d_bps[DWCP_AUTO_N],
		 const double mix[DWCP_AUTO_N], unsigned periods, uint64_t *rng, double keep)
{
	for (unsigned i = 0; i < periods; i++) {
		double data[DWCP_AUTO_N], dt = 0;
		double noise = 0.6 + 0.8 * (double)(next_rand(rng) % 1000) / 1000.0;

		for (unsigned k = 0; k < DWCP_AUTO_N; k++) {
			data[k] = mix[k] * 1048576.0 * (double)(8 + next_rand(rng) % 16);
			if (d_bps[k] > 0)
				dt += data[k] / d_bps[k];
		}
		dwcp_codec_auto_fit_add(f, data, dt * noise, keep);
	}
}

Test(codec_auto, the_fit_recovers_each_codecs_rate_from_noisy_mixed_periods)
{
	/* none 0.95, lz4 0.75, zstd 0.6 GB/s of data. */
	const double d[DWCP_AUTO_N] = { 0.95 * GB, 0.75 * GB, 0.6 * GB };
	const double stints[][DWCP_AUTO_N] = {
		{ 0, 0, 1 },            /* zstd */
		{ 0.5, 0, 0.5 },        /* the change to none: both in flight */
		{ 1, 0, 0 },
		{ 0.4, 0.6, 0 },
		{ 0, 1, 0 },
		{ 1, 0, 0 },
	};
	struct dwcp_auto_fit f = { 0 };
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	double r[DWCP_AUTO_N];

	for (unsigned s = 0; s < sizeof(stints) / sizeof(stints[0]); s++)
		feed(&f, d, stints[s], 8, &rng, 0.99);
	dwcp_codec_auto_fit_rates(&f, 4.0 * 1048576.0, r);
	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		cr_assert(fabs(r[c] - d[c]) < 0.12 * d[c], "%s: fitted %.3f GB/s, true %.3f",
			  dwcp_codec_auto_name((enum dwcp_auto_codec)c), r[c] / GB, d[c] / GB);
	/* The order is what decides, and it is right. */
	cr_assert(r[DWCP_AUTO_NONE] > r[DWCP_AUTO_LZ4] && r[DWCP_AUTO_LZ4] > r[DWCP_AUTO_ZSTD],
		  "none %.3f lz4 %.3f zstd %.3f", r[0] / GB, r[1] / GB, r[2] / GB);
}

Test(codec_auto, the_fit_forgets_and_follows_a_change)
{
	const double before[DWCP_AUTO_N] = { 0.95 * GB, 0, 0.6 * GB };
	const double after[DWCP_AUTO_N] = { 0.3 * GB, 0, 0.6 * GB };   /* the link got busy */
	const double pure_none[DWCP_AUTO_N] = { 1, 0, 0 };
	const double pure_zstd[DWCP_AUTO_N] = { 0, 0, 1 };
	struct dwcp_auto_fit f = { 0 };
	uint64_t rng = 42;
	double r[DWCP_AUTO_N];

	feed(&f, before, pure_zstd, 10, &rng, 0.99);
	feed(&f, before, pure_none, 100, &rng, 0.99);
	dwcp_codec_auto_fit_rates(&f, 4.0 * 1048576.0, r);
	cr_assert_gt(r[DWCP_AUTO_NONE], r[DWCP_AUTO_ZSTD]);
	feed(&f, after, pure_none, 400, &rng, 0.99);
	dwcp_codec_auto_fit_rates(&f, 4.0 * 1048576.0, r);
	cr_assert(fabs(r[DWCP_AUTO_NONE] - 0.3 * GB) < 0.1 * 0.3 * GB, "none now %.3f GB/s",
		  r[DWCP_AUTO_NONE] / GB);
	/* zstd's periods are 500 periods old: 0.99^500 of their weight is
	 * left, under the bytes a rate needs, so zstd is not known any more
	 * (and will be tried again). */
	cr_assert_float_eq(r[DWCP_AUTO_ZSTD], 0, 1e-9, "zstd %.3f GB/s", r[DWCP_AUTO_ZSTD] / GB);
}

Test(codec_auto, the_fit_ignores_empty_periods_and_knows_nothing_unseen)
{
	struct dwcp_auto_fit f = { 0 }, zero = { 0 };
	const double none_only[DWCP_AUTO_N] = { 3 * 1048576.0, 0, 0 };
	const double nothing[DWCP_AUTO_N] = { 0 };
	double r[DWCP_AUTO_N];

	dwcp_codec_auto_fit_add(&f, nothing, 0.02, 0.99);
	dwcp_codec_auto_fit_add(&f, none_only, 0, 0.99);
	dwcp_codec_auto_fit_add(&f, none_only, -1, 0.99);
	dwcp_codec_auto_fit_add(&f, none_only, 0.01, 0);
	dwcp_codec_auto_fit_add(&f, none_only, 0.01, 1.5);
	cr_assert(memcmp(&f, &zero, sizeof(f)) == 0, "an empty or timeless period changed the fit");
	dwcp_codec_auto_fit_rates(&f, 4.0 * 1048576.0, r);
	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		cr_assert_float_eq(r[c], 0, 1e-9);
	/* 3 MiB of none: under the 4 MiB a rate needs; then 6 MiB: known. */
	dwcp_codec_auto_fit_add(&f, none_only, 0.003, 1.0);
	dwcp_codec_auto_fit_rates(&f, 4.0 * 1048576.0, r);
	cr_assert_float_eq(r[DWCP_AUTO_NONE], 0, 1e-9);
	dwcp_codec_auto_fit_add(&f, none_only, 0.003, 1.0);
	dwcp_codec_auto_fit_rates(&f, 4.0 * 1048576.0, r);
	cr_assert_float_eq(r[DWCP_AUTO_NONE], 3 * 1048576.0 / 0.003, 1.0);
	cr_assert_float_eq(r[DWCP_AUTO_LZ4], 0, 1e-9, "lz4 never ran");
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
	cr_assert_null(strstr(line, "delivered"), "nothing delivered yet: %s", line);
	cr_assert_null(strstr(line, "spare"), "not measured: %s", line);
	in.spare_known = true;
	in.spare_cpus = 0.5;
	dwcp_codec_auto_choose(&in, &v);
	dwcp_codec_auto_explain(&in, &v, line, sizeof(line));
	cr_assert_not_null(strstr(line, "1 engine, 0.50 CPUs spare)"), "%s", line);
	in.delivered_bps[DWCP_AUTO_ZSTD] = 0.3 * GB;
	dwcp_codec_auto_choose(&in, &v);
	dwcp_codec_auto_explain(&in, &v, line, sizeof(line));
	cr_assert(strstr(line, "zstd: delivered the most data per second lately") == line, "%s", line);
	cr_assert_not_null(strstr(line, "delivered none 0.000, lz4 0.000, zstd 0.300 GB/s"), "%s", line);
}
