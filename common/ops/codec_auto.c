/* The `codec = auto` rule (codec_auto.h): a handful of comparisons over
 * measured rates, and an entropy probe. Nothing here measures or keeps
 * state, so every decision can be replayed in a unit test from numbers. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/ops/codec_auto.h"

#define PROBE_BYTES   4096u
#define PROBE_SLICES  16u
#define PROBE_MIN     1024u
#define PROBE_MAX_BPB 7.8

static const char *const names[DWCP_AUTO_N] = { "none", "lz4", "zstd" };

const char *dwcp_codec_auto_name(enum dwcp_auto_codec c)
{
	return (unsigned)c < DWCP_AUTO_N ? names[c] : "?";
}

/* A compressing codec with both figures measured that saves enough. */
static bool candidate(const struct dwcp_auto_in *in, unsigned c)
{
	return in->rate_bps[c] > 0 && in->ratio[c] > 0 &&
	       in->ratio[c] <= 1.0 - DWCP_AUTO_MIN_SAVING;
}

static double ratio_of(const struct dwcp_auto_in *in, unsigned c)
{
	return c == DWCP_AUTO_NONE ? 1.0 : in->ratio[c];
}

/* Link unknown: the codec that compresses fastest still saves bytes and
 * is the least likely to hold the stream back while the link is measured. */
static enum dwcp_auto_codec fastest(const struct dwcp_auto_in *in)
{
	enum dwcp_auto_codec best = DWCP_AUTO_NONE;

	for (unsigned c = DWCP_AUTO_LZ4; c < DWCP_AUTO_N; c++)
		if (candidate(in, c) && (best == DWCP_AUTO_NONE || in->rate_bps[c] > in->rate_bps[best]))
			best = (enum dwcp_auto_codec)c;
	return best;
}

/* Data bytes per byte that reaches a codec. The model's figures count
 * the bytes a codec gets; what a codec delivered counts all of its
 * chunks' data, their zero pages too, which HDE sends as records at next
 * to no cost (a chunk of only zero pages is nobody's data). Set beside
 * each other unscaled, on an image a third zero pages, every codec that
 * had run looked half as fast again as the model's figure for one that
 * had not: the choice stayed where it was, and a faster codec went
 * untried. */
double dwcp_codec_auto_data_per_coded_byte(const struct dwcp_auto_in *in)
{
	if (!in->zero_pages_free || !(in->sample_bytes > 0) || !(in->zero_mixed_bytes > 0))
		return 1.0;
	return (in->sample_bytes + in->zero_mixed_bytes) / in->sample_bytes;
}

/* The engines a compressor's figure may count: all of them, or no more
 * than the CPUs measured spare (never fewer than the floor). */
static double engines_of(const struct dwcp_auto_in *in)
{
	double engines = in->engines ? in->engines : 1;

	if (!in->spare_known)
		return engines;
	return fmin(engines, fmax(in->spare_cpus, DWCP_AUTO_SPARE_FLOOR));
}

/* Whether @p a wins a tie against @p b: a figure that is not a
 * compressor's promise first; between two that both delivered it, the
 * one that compresses less (the stream ran as fast on less CPU: had the
 * link set the pace, the stronger codec's fewer bytes would have
 * delivered more); else fewer wire bytes. */
static bool wins_tie(const struct dwcp_auto_in *in, const bool *by_cpu, unsigned a, unsigned b)
{
	if (by_cpu[a] != by_cpu[b])
		return !by_cpu[a];
	if (in->delivered_bps[a] > 0 && in->delivered_bps[b] > 0)
		return ratio_of(in, a) > ratio_of(in, b);
	return ratio_of(in, a) < ratio_of(in, b);
}

/* The largest eff(); then, among those within the tie margin, the
 * winner of wins_tie. What a codec delivered lately stands for its model
 * figure. */
static enum dwcp_auto_codec by_rates(const struct dwcp_auto_in *in, struct dwcp_auto_verdict *v)
{
	double engines = engines_of(in), top = 0, bar, per = dwcp_codec_auto_data_per_coded_byte(in);
	bool by_cpu[DWCP_AUTO_N] = { false };
	int pick = -1;

	v->eff_bps[DWCP_AUTO_NONE] = in->link_bps * per;
	for (unsigned c = DWCP_AUTO_LZ4; c < DWCP_AUTO_N; c++)
		if (candidate(in, c)) {
			double cpu = in->rate_bps[c] * engines, wire = in->link_bps / in->ratio[c];

			v->eff_bps[c] = fmin(cpu, wire) * per;
			by_cpu[c] = cpu < wire;
		}
	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		if (in->delivered_bps[c] > 0 && (c == DWCP_AUTO_NONE || candidate(in, c))) {
			v->eff_bps[c] = in->delivered_bps[c];
			by_cpu[c] = false;
		}
	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		top = fmax(top, v->eff_bps[c]);
	bar = top * (1.0 - DWCP_AUTO_TIE);
	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		if (v->eff_bps[c] > 0 && v->eff_bps[c] >= bar &&
		    (pick < 0 || wins_tie(in, by_cpu, c, (unsigned)pick)))
			pick = (int)c;
	if (pick >= 0 && in->delivered_bps[pick] > 0)
		v->why = DWCP_AUTO_WHY_DELIVERED;
	return pick < 0 ? DWCP_AUTO_NONE : (enum dwcp_auto_codec)pick;
}

enum dwcp_auto_codec dwcp_codec_auto_choose(const struct dwcp_auto_in *in, struct dwcp_auto_verdict *v)
{
	bool any = false;

	memset(v, 0, sizeof(*v));
	for (unsigned c = DWCP_AUTO_LZ4; c < DWCP_AUTO_N; c++)
		any |= candidate(in, c);
	if (in->sample_bytes <= 0) {
		v->why = in->zero_bytes > 0 && in->zero_pages_free ? DWCP_AUTO_WHY_ZERO
								   : DWCP_AUTO_WHY_UNMEASURED;
		v->codec = DWCP_AUTO_NONE;
	} else if (!any) {
		v->why = DWCP_AUTO_WHY_INCOMPRESSIBLE;
		v->codec = DWCP_AUTO_NONE;
	} else if (in->link_bps <= 0) {
		v->why = DWCP_AUTO_WHY_NO_LINK;
		v->codec = fastest(in);
	} else {
		v->why = DWCP_AUTO_WHY_RATES;
		v->codec = by_rates(in, v);   /* may say DELIVERED */
	}
	return v->codec;
}

static double average(double prev, double now)
{
	return prev > 0 ? (prev + now) / 2 : now;
}

double dwcp_codec_auto_link_add(struct dwcp_auto_link *l, bool compressed, double wire_bps)
{
	/* A compressed period starts from what is known (at least the raw
	 * figure), so its first burst of acknowledgements counts half. */
	if (wire_bps > 0 && compressed)
		l->packed_bps = average(fmax(l->packed_bps, l->raw_bps), wire_bps);
	else if (wire_bps > 0)
		l->raw_bps = average(l->raw_bps, wire_bps);
	return dwcp_codec_auto_link_bps(l);
}

double dwcp_codec_auto_link_bps(const struct dwcp_auto_link *l)
{
	return fmax(l->raw_bps, l->packed_bps);
}

#define MIB_D 1048576.0

void dwcp_codec_auto_fit_add(struct dwcp_auto_fit *f, const double data[DWCP_AUTO_N], double dt,
			     double keep)
{
	double x[DWCP_AUTO_N], all = 0;

	for (unsigned k = 0; k < DWCP_AUTO_N; k++) {
		x[k] = data[k] > 0 ? data[k] / MIB_D : 0;
		all += x[k];
	}
	if (!(all > 0) || !(dt > 0) || !(keep > 0) || keep > 1)
		return;
	for (unsigned i = 0; i < DWCP_AUTO_N; i++) {
		for (unsigned j = 0; j < DWCP_AUTO_N; j++)
			f->xx[i][j] = f->xx[i][j] * keep + x[i] * x[j];
		f->xt[i] = f->xt[i] * keep + x[i] * dt;
		f->bytes[i] = f->bytes[i] * keep + x[i] * MIB_D;
	}
}

/* Solve a x = b in place (Gaussian elimination, partial pivoting) for the
 * n unknowns; false when the system is singular. */
static bool solve(double a[DWCP_AUTO_N][DWCP_AUTO_N], double b[DWCP_AUTO_N], unsigned n)
{
	for (unsigned c = 0; c < n; c++) {
		unsigned p = c;

		for (unsigned r = c + 1; r < n; r++)
			if (fabs(a[r][c]) > fabs(a[p][c]))
				p = r;
		if (!(fabs(a[p][c]) > 1e-12))
			return false;
		for (unsigned k = 0; k < n; k++) {
			double t = a[c][k];

			a[c][k] = a[p][k], a[p][k] = t;
		}
		double t = b[c];

		b[c] = b[p], b[p] = t;
		for (unsigned r = c + 1; r < n; r++) {
			double m = a[r][c] / a[c][c];

			for (unsigned k = c; k < n; k++)
				a[r][k] -= m * a[c][k];
			b[r] -= m * b[c];
		}
	}
	for (unsigned c = n; c-- > 0;) {
		for (unsigned k = c + 1; k < n; k++)
			b[c] -= a[c][k] * b[k];
		b[c] /= a[c][c];
	}
	return true;
}

void dwcp_codec_auto_fit_rates(const struct dwcp_auto_fit *f, double min_bytes, double bps[DWCP_AUTO_N])
{
	double a[DWCP_AUTO_N][DWCP_AUTO_N], b[DWCP_AUTO_N];
	unsigned idx[DWCP_AUTO_N], n = 0;

	memset(bps, 0, sizeof(double) * DWCP_AUTO_N);
	/* Codecs with too little recent data are left out of the fit: their
	 * few bytes would make it singular, and their time is small. */
	for (unsigned k = 0; k < DWCP_AUTO_N; k++)
		if (f->bytes[k] >= min_bytes && f->bytes[k] > 0)
			idx[n++] = k;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < n; j++)
			a[i][j] = f->xx[idx[i]][idx[j]];
		b[i] = f->xt[idx[i]];
	}
	if (!n || !solve(a, b, n))
		return;
	for (unsigned i = 0; i < n; i++)
		if (b[i] > 0)
			bps[idx[i]] = MIB_D / b[i];
}

bool dwcp_codec_auto_may_compress(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t hist[256] = { 0 };
	size_t slice = PROBE_BYTES / PROBE_SLICES, n = 0;
	double bits = 0;

	if (len < PROBE_MIN)
		return true;
	if (len <= PROBE_BYTES) {
		for (size_t i = 0; i < len; i++)
			hist[b[i]]++;
		n = len;
	} else {
		/* Slices spread over the whole buffer: a chunk whose pages differ
		 * (text, then random) is judged on all of them. */
		for (size_t s = 0; s < PROBE_SLICES; s++) {
			const uint8_t *at = b + (len - slice) * s / (PROBE_SLICES - 1);

			for (size_t i = 0; i < slice; i++)
				hist[at[i]]++;
		}
		n = slice * PROBE_SLICES;
	}
	for (unsigned v = 0; v < 256; v++)
		if (hist[v]) {
			double q = (double)hist[v] / (double)n;

			bits -= q * log2(q);
		}
	return bits < PROBE_MAX_BPB;
}

static double gb(double bps)
{
	return bps / 1e9;
}

int dwcp_codec_auto_explain(const struct dwcp_auto_in *in, const struct dwcp_auto_verdict *v,
			    char *buf, size_t n)
{
	static const char *const why[] = {
		[DWCP_AUTO_WHY_RATES] = "fastest delivery min(compress, link/ratio)",
		[DWCP_AUTO_WHY_DELIVERED] = "delivered the most data per second lately",
		[DWCP_AUTO_WHY_NO_LINK] = "link not measured yet: fastest codec that saves bytes",
		[DWCP_AUTO_WHY_INCOMPRESSIBLE] = "data does not compress",
		[DWCP_AUTO_WHY_ZERO] = "only zero pages: HDE sends them as records",
		[DWCP_AUTO_WHY_UNMEASURED] = "nothing sampled yet",
	};

	char got[96] = "", spare[40] = "";

	if (in->delivered_bps[0] > 0 || in->delivered_bps[1] > 0 || in->delivered_bps[2] > 0)
		snprintf(got, sizeof(got), "; delivered none %.3f, lz4 %.3f, zstd %.3f GB/s of data (0 = not lately)",
			 gb(in->delivered_bps[DWCP_AUTO_NONE]), gb(in->delivered_bps[DWCP_AUTO_LZ4]),
			 gb(in->delivered_bps[DWCP_AUTO_ZSTD]));
	if (in->spare_known)
		snprintf(spare, sizeof(spare), ", %.2f CPUs spare", in->spare_cpus);
	return snprintf(buf, n,
			"%s: %s; link %.3f GB/s, lz4 %.3f GB/s x%.3f, zstd %.3f GB/s x%.3f "
			"(x = wire/data; %u engine%s%s)%s",
			dwcp_codec_auto_name(v->codec), why[v->why], gb(in->link_bps),
			gb(in->rate_bps[DWCP_AUTO_LZ4]), in->ratio[DWCP_AUTO_LZ4],
			gb(in->rate_bps[DWCP_AUTO_ZSTD]), in->ratio[DWCP_AUTO_ZSTD],
			in->engines ? in->engines : 1, in->engines > 1 ? "s" : "", spare, got);
}
