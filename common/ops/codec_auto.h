/* `codec = auto`: which codec a stream's chunks get, from what was
 * measured (DESIGN §5; issue 7 item 2). Pure functions over numbers and
 * bytes: the sender (cli/codec_auto.c) measures, this file decides.
 *
 * The rule. Per byte of data that reaches the compressor (zero pages do
 * not: HDE sends them as 1-byte records), a codec c with compressor rate
 * C_c (input bytes/s of one engine, times the engines that share the
 * work) and ratio r_c (output/input on a sample) delivers
 *
 *     eff(c)    = min(C_c, L / r_c)      L = link rate, wire bytes/s
 *     eff(none) = L
 *
 * because a stream moves no faster than its slowest stage: the compressor,
 * or the link carrying the compressed bytes. Both count the bytes a codec
 * gets; in data bytes, as D_c below, each is times z = (those bytes +
 * the zero pages sampled beside them) / those bytes. Where the stream has run
 * with codec c lately and delivered D_c data bytes/s, eff(c) = D_c: the
 * model above assumes the engines have their cores to themselves, and
 * where the compressors share them with the rest of the pipeline (both
 * ends on one host, or a host busy with its VMs) it promises more than a
 * compressor delivers. For the same reason C_c counts no more engines
 * than the CPUs the sender measured spare, where it has (spare_cpus: idle
 * while the stream ran, plus those the current codec's compressor took):
 * on a host whose CPUs the pipeline already keeps busy, a compressor takes
 * its cores from the other stages. The codec with the largest eff wins;
 * among codecs within DWCP_AUTO_TIE of the best, one whose figure is not
 * its compressor's (the compressor's is a promise about CPU, the part of
 * the model most often optimistic); between two that both delivered it,
 * the one that compresses less (the stream ran as fast on less CPU: had
 * the link set the pace, the stronger codec would have delivered more);
 * else the one that puts fewer bytes on the wire (a shared WAN link is
 * worth sparing when it costs the stream nothing). So a link faster than the compressor gets
 * none (or LZ4, when it compresses faster than the wire), a slow link gets
 * the codec that compresses hardest and still keeps up: zstd.
 *
 * A codec that does not save DWCP_AUTO_MIN_SAVING of the sample is never
 * chosen (random or already compressed data travels as it is), and a
 * sample that is all zero pages gets none when HDE encodes them.
 *
 * "The link" is whatever carries the chunks once compressed (socket,
 * peer, receiver), measured as acknowledged wire bytes per second. While
 * chunks are compressed that measure is only a lower bound on the link
 * (struct dwcp_auto_link).
 *
 * Concurrency: every function is reentrant and allocation-free.
 */
#ifndef DWCP_COMMON_OPS_CODEC_AUTO_H
#define DWCP_COMMON_OPS_CODEC_AUTO_H

#include <stdbool.h>
#include <stddef.h>

/** Candidates; the values are enum dwcp_cfg_codec's (common/config.h). */
enum dwcp_auto_codec {
	DWCP_AUTO_NONE = 0,
	DWCP_AUTO_LZ4 = 1,
	DWCP_AUTO_ZSTD = 2,
	DWCP_AUTO_N = 3,
};

/** A codec is worth its CPU only if it removes at least this share of the bytes. */
#define DWCP_AUTO_MIN_SAVING 0.10
/** Codecs whose effective rate is within this share of the best count as tied. */
#define DWCP_AUTO_TIE 0.05
/** CPUs a compressor gets at least, however busy the host: the scheduler
 *  shares the CPUs, and on a slow link little compression is needed. */
#define DWCP_AUTO_SPARE_FLOOR 0.25

enum dwcp_auto_reason {
	DWCP_AUTO_WHY_RATES,         /* chosen by eff() from measured rates */
	DWCP_AUTO_WHY_DELIVERED,     /* by eff(), the winner's from what it delivered (D_c) */
	DWCP_AUTO_WHY_NO_LINK,       /* link not measured yet: the fastest codec that saves bytes */
	DWCP_AUTO_WHY_INCOMPRESSIBLE,/* no codec saves DWCP_AUTO_MIN_SAVING */
	DWCP_AUTO_WHY_ZERO,          /* only zero pages sampled, and HDE sends them as records */
	DWCP_AUTO_WHY_UNMEASURED,    /* nothing sampled yet */
};

struct dwcp_auto_in {
	double link_bps;                 /* wire bytes/s; 0 = not measured yet */
	double rate_bps[DWCP_AUTO_N];    /* compressor input bytes/s, one engine; [NONE] unused */
	double ratio[DWCP_AUTO_N];       /* output / input on the sample; [NONE] unused */
	double delivered_bps[DWCP_AUTO_N]; /* data bytes/s the stream delivered with each codec
	                                  * lately (D_c); 0 = not run with it lately */
	double sample_bytes;             /* non-zero bytes the rates and ratios came from */
	double zero_bytes;               /* zero-page bytes seen beside them */
	double zero_mixed_bytes;         /* of those, the ones in chunks that held data too */
	unsigned engines;                /* engines compressing in parallel; 0 counts as 1 */
	double spare_cpus;               /* CPUs a compressor could have (spare_known) */
	bool spare_known;                /* spare_cpus was measured; else engines count */
	bool zero_pages_free;            /* HDE in the program: zero pages never reach a codec */
};

struct dwcp_auto_verdict {
	enum dwcp_auto_codec codec;
	enum dwcp_auto_reason why;
	double eff_bps[DWCP_AUTO_N];     /* eff() of each candidate; 0 = not a candidate */
};

/**
 * Choose the codec for the next chunks of a stream.
 * @return v->codec; @p v is filled in full.
 */
enum dwcp_auto_codec dwcp_codec_auto_choose(const struct dwcp_auto_in *in, struct dwcp_auto_verdict *v);

/**
 * What the link carries, from two kinds of measurement: uncompressed runs
 * (the sender times a burst of uncompressed chunks alone in the pipeline:
 * the link, or whatever else carries the chunks, set the pace) and
 * compressed periods, which say only that the link carries at least that
 * much (the compressor, or a stage that works per data byte, may have set
 * the pace; taking it as the link would make each heavier codec look right:
 * fewer wire bytes per second, so a "slower link"). Each kind is averaged
 * (half old, half new, so one stall or one burst of acknowledgements moves
 * it without throwing away what came before); the estimate is the larger.
 */
struct dwcp_auto_link {
	double raw_bps;      /* uncompressed runs; 0 = none yet */
	double packed_bps;   /* compressed periods; 0 = none yet */
};

/**
 * Add one measurement of @p wire_bps wire bytes/s, from an uncompressed
 * run (@p compressed false) or a compressed period. 0 changes nothing.
 * @return the new estimate (dwcp_codec_auto_link_bps).
 */
double dwcp_codec_auto_link_add(struct dwcp_auto_link *l, bool compressed, double wire_bps);

/** The link estimate: the larger of the two averages (0 = not measured). */
double dwcp_codec_auto_link_bps(const struct dwcp_auto_link *l);

/**
 * What each codec delivers, fitted to what the stream did. Each period of
 * acknowledgements gives its length dt and the data bytes x_c that went
 * with each codec c; with the stages of the pipeline sharing the CPUs or
 * the link, each byte of codec c costs the stream u_c seconds:
 *
 *     dt = sum_c x_c * u_c            D_c = 1 / u_c data bytes/s
 *
 * fitted by least squares over all periods, older ones weighing less
 * (forgetting). Periods that mix codecs (a change of codec with the old
 * one's chunks still in flight) count like any other: no period has to be
 * pure, and one period's burst of acknowledgements is averaged out by the
 * others instead of standing for a codec. Chunks of only zero pages are
 * not data of any codec (HDE sends them as records); their little time
 * falls on the codecs of their periods alike. (Fitted as a kind of their
 * own, their cost is so small beside the noise that the fit trades it
 * against the codecs' and gets both wrong.)
 */
struct dwcp_auto_fit {
	double xx[DWCP_AUTO_N][DWCP_AUTO_N];  /* sum of w x x^T, x in MiB */
	double xt[DWCP_AUTO_N];               /* sum of w x dt */
	double bytes[DWCP_AUTO_N];            /* sum of w x: recent data of each codec */
};

/**
 * Add one period: @p data bytes of each codec, over @p dt seconds. Every
 * earlier period's weight is first multiplied by @p keep (0 < keep <= 1).
 * A period with no data or no time changes nothing.
 */
void dwcp_codec_auto_fit_add(struct dwcp_auto_fit *f, const double data[DWCP_AUTO_N], double dt,
			     double keep);

/**
 * D_c of each codec (data bytes/s) into @p bps, 0 for a codec whose recent
 * data is under @p min_bytes or whose fit is not positive.
 */
void dwcp_codec_auto_fit_rates(const struct dwcp_auto_fit *f, double min_bytes, double bps[DWCP_AUTO_N]);

/**
 * Cheap test of whether @p len bytes at @p p could compress: the order-0
 * entropy of up to 4 KiB sampled evenly across them. Random and already
 * compressed data measure ~7.95 bits/byte and are not worth a compressor
 * call. Blind to repeats of high-entropy blocks (two copies of the same
 * random page), which is the price of not running a compressor.
 * @return false when the sample's entropy is at least 7.8 bits/byte and
 *         it is at least 1 KiB long; true otherwise.
 */
bool dwcp_codec_auto_may_compress(const void *p, size_t len);

/**
 * Data bytes per byte that reaches a codec (z above): 1, or more where
 * HDE keeps zero pages from the codecs and the samples met some beside
 * data.
 */
double dwcp_codec_auto_data_per_coded_byte(const struct dwcp_auto_in *in);

/** "lz4" and the like. */
const char *dwcp_codec_auto_name(enum dwcp_auto_codec c);

/**
 * One line on why @p v chose what it did, with the rates of @p in in
 * GB/s, for the send summary.
 * @return the length snprintf would write.
 */
int dwcp_codec_auto_explain(const struct dwcp_auto_in *in, const struct dwcp_auto_verdict *v, char *buf,
		      size_t n);

#endif
