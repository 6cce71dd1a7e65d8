/* `dwcp send`'s codec per chunk (codec_auto.h): measurement and
 * book-keeping around the pure rule in common/ops/codec_auto.c.
 *
 * Periods. A link rate is acknowledged bytes over time, so a period is
 * at least PERIOD_NS long (and PERIOD_MIN acknowledgements): `dwcp send`
 * takes acknowledgements in batches of up to 32 at one instant, and a
 * period of a few of them would divide by almost nothing. A period's
 * codec is the one that at least DOMINANT of its data went with; a mix
 * (the uncompressed first chunks beside the next ones) tells only that the
 * link carries at least what it carried. The first acknowledgement only
 * starts the clock (pipeline latency is not a rate).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/cpu.h"
#include "common/ops/codec_auto.h"
#include "common/ops/compress.h"
#include "common/ops/delta.h"
#include "common/timeutil.h"
#include "ipc/ctl_block.h"
#include "codec_auto.h"

#define PAGE          4096u
#define SAMPLE_MAX    65536u   /* non-zero bytes compressed per sample */
#define SAMPLE_EVERY  64u      /* chunks between samples: ~2 % of a core at 0.5 GB/s */
#define PROBE_CHUNKS  64u      /* first chunks sent uncompressed */
#define PERIOD_NS     10000000ull
#define PERIOD_MIN    8u
#define DOMINANT      0.75
#define REPROBE_CHUNKS 64u
#define REPROBE_EVERY 2048u    /* compressed chunks between two uncompressed runs */

struct send_auto {
	bool on;                        /* codec = auto */
	unsigned fixed;                 /* the codec when not auto */
	int zstd_level, lz4_level;
	struct dwcp_compress_ctx *cc;
	struct dwcp_delta_impl dz;
	uint8_t *sample, *out;
	size_t out_cap;
	struct dwcp_auto_in in;
	struct dwcp_auto_verdict v;
	unsigned codec;                 /* current choice */
	uint64_t probe_until;           /* chunks below this seq go uncompressed */
	uint64_t n_chunks;
	uint8_t *codec_of;              /* per chunk: the codec it was sent with */
	uint64_t chunks[DWCP_AUTO_N];
	unsigned decisions;
	uint64_t since_probe;           /* compressed chunks since the link was last timed */
	unsigned reprobe_left;          /* next chunks sent uncompressed to time the link */
	/* the open period */
	unsigned p_acks;
	uint64_t p_t0, p_data[DWCP_AUTO_N], p_wire, last_ack_ns;
};

struct send_auto *send_auto_create(const struct dwcp_shm *shm, unsigned codec, uint64_t n_chunks)
{
	struct send_auto *a = calloc(1, sizeof(*a));
	struct dwcp_cpu_features cpu;

	if (!a)
		goto nomem;
	a->fixed = codec == DWCP_CFG_CODEC_AUTO ? DWCP_CFG_CODEC_NONE : codec;
	a->n_chunks = n_chunks;
	a->codec_of = calloc(n_chunks ? n_chunks : 1, 1);
	if (!a->codec_of)
		goto nomem;
	if (codec != DWCP_CFG_CODEC_AUTO)
		return a;
	a->on = true;
	a->zstd_level = shm->ctl->zstd_level ? (int)shm->ctl->zstd_level : 1;
	a->lz4_level = shm->ctl->lz4_level ? (int)shm->ctl->lz4_level : DWCP_LZ4_LEVEL_FAST;
	a->out_cap = dwcp_compress_bound(DWCP_CODEC_ZSTD, SAMPLE_MAX) + DWCP_ZSTD_HEADROOM;
	a->cc = dwcp_compress_ctx_create();
	a->sample = malloc(SAMPLE_MAX);
	a->out = malloc(a->out_cap);
	if (!a->cc || !a->sample || !a->out)
		goto nomem;
	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&a->dz, &cpu);
	a->in.engines = 1;   /* one svc-simd compresses a stream's chunks */
	/* Enough chunks to time the link, few enough not to matter on a
	 * slow one: at most 1/8 of the stream. */
	a->probe_until = n_chunks / 8 < PROBE_CHUNKS ? n_chunks / 8 : PROBE_CHUNKS;
	a->codec = DWCP_AUTO_NONE;
	return a;
nomem:
	send_auto_destroy(a);
	errno = ENOMEM;
	return NULL;
}

void send_auto_destroy(struct send_auto *a)
{
	if (!a)
		return;
	dwcp_compress_ctx_destroy(a->cc);
	free(a->sample);
	free(a->out);
	free(a->codec_of);
	free(a);
}

static double ewma(double prev, double now)
{
	return prev > 0 ? (prev + now) / 2 : now;
}

/* Input bytes/s of one codec on the sample, and its ratio. The first
 * sample is timed twice (best of two: the first run finds cold caches and
 * makes zstd size its tables); later ones once, the average smooths them.
 * @return 0 or -1. */
static int time_codec(struct send_auto *a, enum dwcp_codec codec, int level, size_t n,
		      double *bps, double *ratio)
{
	uint64_t best = UINT64_MAX;
	ssize_t got = 0;
	int runs = a->in.rate_bps[codec] > 0 ? 1 : 2;

	for (int run = 0; run < runs; run++) {
		uint64_t t0 = dwcp_now_ns();

		got = dwcp_compress(a->cc, codec, level, a->sample, n, a->out, a->out_cap);
		if (got < 0)
			return -1;
		if (dwcp_now_ns() - t0 < best)
			best = dwcp_now_ns() - t0;
	}
	*bps = (double)n * 1e9 / (double)(best ? best : 1);
	*ratio = (double)got / (double)n;
	return 0;
}

/* Compress the chunk's non-zero pages with each codec; count its zero pages. */
static void sample(struct send_auto *a, const uint8_t *data, uint32_t len)
{
	size_t n = 0, zero = 0;
	double bps, ratio;

	for (uint32_t at = 0; at < len && n < SAMPLE_MAX; at += PAGE) {
		size_t m = len - at < PAGE ? len - at : PAGE;

		if (a->dz.is_zero(data + at, m)) {
			zero += m;
			continue;
		}
		memcpy(a->sample + n, data + at, m < SAMPLE_MAX - n ? m : SAMPLE_MAX - n);
		n += m < SAMPLE_MAX - n ? m : SAMPLE_MAX - n;
	}
	a->in.zero_bytes += (double)zero;
	if (!n)
		return;
	a->in.sample_bytes += (double)n;
	if (!time_codec(a, DWCP_CODEC_LZ4, a->lz4_level, n, &bps, &ratio)) {
		a->in.rate_bps[DWCP_AUTO_LZ4] = ewma(a->in.rate_bps[DWCP_AUTO_LZ4], bps);
		a->in.ratio[DWCP_AUTO_LZ4] = ewma(a->in.ratio[DWCP_AUTO_LZ4], ratio);
	}
	if (!time_codec(a, DWCP_CODEC_ZSTD, a->zstd_level, n, &bps, &ratio)) {
		a->in.rate_bps[DWCP_AUTO_ZSTD] = ewma(a->in.rate_bps[DWCP_AUTO_ZSTD], bps);
		a->in.ratio[DWCP_AUTO_ZSTD] = ewma(a->in.ratio[DWCP_AUTO_ZSTD], ratio);
	}
}

static void decide(struct send_auto *a)
{
	a->codec = dwcp_codec_auto_choose(&a->in, &a->v);
	a->decisions++;
}

unsigned send_auto_codec(struct send_auto *a, uint64_t seq, const void *data, uint32_t len,
			 bool hde)
{
	unsigned c;

	if (!a->on)
		c = a->fixed;
	else {
		a->in.zero_pages_free = hde;
		if (seq % SAMPLE_EVERY == 0 || a->in.sample_bytes + a->in.zero_bytes <= 0) {
			sample(a, data, len);
			decide(a);
		}
		c = seq < a->probe_until ? DWCP_AUTO_NONE : a->codec;
		/* Compressed periods say only "at least" about the link: now and
		 * then an uncompressed run times it again (1/32 of the chunks at
		 * most), so a link that got slower or faster is seen. */
		if (c != DWCP_AUTO_NONE && ++a->since_probe >= REPROBE_EVERY) {
			a->since_probe = 0;
			a->reprobe_left = REPROBE_CHUNKS;
		}
		if (c != DWCP_AUTO_NONE && a->reprobe_left) {
			a->reprobe_left--;
			c = DWCP_AUTO_NONE;
		}
		/* HDE turns a chunk of zero pages into records: nothing to compress. */
		if (c != DWCP_AUTO_NONE && hde && a->dz.is_zero(data, len))
			c = DWCP_AUTO_NONE;
	}
	if (seq < a->n_chunks)
		a->codec_of[seq] = (uint8_t)c;
	a->chunks[c < DWCP_AUTO_N ? c : 0]++;
	return c;
}

/* The codec at least DOMINANT of the period's data went with, or -1. */
static int period_codec(const struct send_auto *a)
{
	uint64_t all = 0;

	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		all += a->p_data[c];
	for (unsigned c = 0; c < DWCP_AUTO_N; c++)
		if (all && (double)a->p_data[c] >= DOMINANT * (double)all)
			return (int)c;
	return -1;
}

/* The period just closed at @p t_end: its rate updates the link estimate. */
static void close_period(struct send_auto *a, uint64_t t_end)
{
	double dt = (double)(t_end - a->p_t0) / 1e9, wire_bps = (double)a->p_wire / dt;
	int pc = period_codec(a);

	/* A mix (the uncompressed first chunks beside the next ones) counts
	 * as compressed: a lower bound. */
	a->in.link_bps = dwcp_codec_auto_link(a->in.link_bps, pc == DWCP_AUTO_NONE ? DWCP_AUTO_NONE :
					      DWCP_AUTO_LZ4, wire_bps);
	decide(a);
}

void send_auto_acked(struct send_auto *a, uint64_t seq, uint32_t data_len, uint32_t wire_len)
{
	uint64_t now = dwcp_now_ns();
	unsigned c = seq < a->n_chunks ? a->codec_of[seq] : 0;

	if (!a->on)
		return;
	if (!a->last_ack_ns) {
		a->last_ack_ns = a->p_t0 = now;
		return;
	}
	a->p_acks++;
	a->p_data[c < DWCP_AUTO_N ? c : 0] += data_len;
	a->p_wire += wire_len;
	a->last_ack_ns = now;
	if (now - a->p_t0 < PERIOD_NS || a->p_acks < PERIOD_MIN)
		return;
	close_period(a, now);
	a->p_t0 = now;
	a->p_acks = 0;
	memset(a->p_data, 0, sizeof(a->p_data));
	a->p_wire = 0;
}

void send_auto_summary(const struct send_auto *a, struct xfer_summary *sum)
{
	unsigned top = 0;

	for (unsigned c = 1; c < DWCP_AUTO_N; c++)
		if (a->chunks[c] > a->chunks[top])
			top = c;
	memcpy(sum->codec_chunks, a->chunks, sizeof(sum->codec_chunks));
	sum->codec = dwcp_codec_auto_name((enum dwcp_auto_codec)top);
	sum->codec_auto = a->on;
	sum->codec_decisions = a->decisions;
	if (a->on)
		dwcp_codec_auto_explain(&a->in, &a->v, sum->codec_note, sizeof(sum->codec_note));
	else
		snprintf(sum->codec_note, sizeof(sum->codec_note), "%s: fixed by --codec or [stream] codec",
			 dwcp_codec_auto_name((enum dwcp_auto_codec)a->fixed));
}
