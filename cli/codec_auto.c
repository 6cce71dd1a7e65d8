/* `dwcp send`'s codec per chunk (codec_auto.h): measurement and
 * book-keeping around the pure rule in common/ops/codec_auto.c.
 *
 * Timing the link. A burst of PROBE_CHUNKS uncompressed chunks goes alone
 * through an otherwise empty pipeline (new chunks wait while it is in
 * flight, and before a later probe the pipeline drains first), and its
 * bytes over the time from its first chunk's read to its last ACK are the
 * link's rate: one pipeline latency too low, never too high. Timing it
 * among other chunks would not work: `dwcp send` takes ACKs in batches of
 * up to 32 at one instant, and a window of compressed chunks queued ahead
 * of the burst would be counted as its time. A probe over in less than a
 * period is mostly that latency: its figure is only a floor, and the
 * stream's first one is followed by a run of none on trial (RUN_PERIODS),
 * whose periods time the link with the pipeline full.
 *
 * Spare CPUs. Each period also reads how idle the CPUs we may run on were
 * (common/cpu_load.h), summed per codec that had the period to itself.
 * What was idle while the current codec ran, plus what its compressor
 * took, is what another compressor could have (spare_cpus): on two CPUs
 * shared by both nodes none left 0.15-0.3 of a CPU idle, where the model
 * had counted a whole engine and sent the stream's first trial to zstd.
 *
 * Periods. Between probes, ACKs are counted over periods of at least
 * PERIOD_NS and PERIOD_MIN chunks; a period that mostly went uncompressed
 * (the chosen codec is none) measures the link, any other only says the
 * link carries at least that much (struct dwcp_auto_link). The first ACK
 * of a period only starts its clock.
 *
 * What each codec delivers. Every period also goes into a fit of the
 * seconds each data byte of each codec costs the stream (struct
 * dwcp_auto_fit): D_c, which the rule takes over its model once the fit
 * has FIT_MIN recent bytes of c. The model assumes
 * the compressors have their cores to themselves; where they share them
 * with the rest of the pipeline it promises too much, and only running a
 * codec shows what it delivers. So a codec is held for a trial of at
 * least TRIAL_PERIODS periods whenever the choice moves to one the fit
 * does not know yet, and once the choice has delivered, each other
 * candidate that might beat it by the model, with the link estimate
 * taken twice over (it is low by a pipeline latency, or only a floor), is
 * tried too, none of them more often than every RETRY_NS. Old periods weigh
 * less (FIT_KEEP per period), so what a codec delivered a few seconds ago
 * fades, and it is tried again: a link or a load that changed is seen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/cpu.h"
#include "common/cpu_load.h"
#include "common/ops/codec_auto.h"
#include "common/ops/compress.h"
#include "common/ops/delta.h"
#include "common/timeutil.h"
#include "ipc/ctl_block.h"
#include "ipc/route.h"
#include "codec_auto.h"

#define PAGE          4096u
#define SAMPLE_MAX    65536u   /* non-zero bytes compressed per sample */
#define SAMPLE_EVERY  64u      /* chunks between samples: ~2 % of a core at 0.5 GB/s */
#define PROBE_CHUNKS  16u      /* uncompressed chunks that time the link: 4 MiB of
                                * 256 KiB chunks (a fast link: see probe_acked) */
#define REPROBE_EVERY 512u     /* compressed chunks between two probes of PROBE_CHUNKS
                                * (shorter probes nearer: 1/32 of the chunks) */
#define PROBE_SHARE   8u       /* probes take at most 1/PROBE_SHARE of the chunks */
#define PERIOD_NS     20000000ull
#define PERIOD_MIN    8u
#define DOMINANT      0.75
#define F_PROBE       0x80u    /* codec_of: the chunk belongs to a probe */
#define F_KEPT        0x40u    /* codec_of: some pages kept: not timed, not counted */
#define F_ZERO        0x20u    /* codec_of: only zero pages: no codec's data */
#define FIT_KEEP      0.99     /* weight left to older periods at each new one */
#define FIT_MIN       (4.0 * 1048576.0) /* recent bytes of a codec before its D_c counts */
#define TRIAL_PERIODS 6u       /* periods a trial lasts at least (the first mixes codecs) */
#define RUN_PERIODS   3u       /* ... and the run of none after a fast probe (none to mix) */
#define TRIAL_MAX     256u     /* chunks a trial may take without enough periods */
#define TRIAL_SHARE   8u       /* ... and at most 1/TRIAL_SHARE of the stream, */
#define TRIAL_FLOOR   64u      /* but never fewer chunks than this */
#define RETRY_NS      4000000000ull /* a codec not chosen is tried at most this often */
#define LINK_OPTIMISM 2.0      /* the link estimate is low by a pipeline latency, or a floor */
#define NO_TRIAL      (-1)
#define CPU_WORDS     (CPU_SETSIZE / 64)
#define IDLE_KEEP     0.9      /* weight left to older periods' idle time at each new one */
#define IDLE_MIN_S    0.04     /* seconds of a codec's periods, per CPU, before its idle counts */

enum phase {
	RUN,          /* chunks get the chosen codec */
	DRAIN,        /* a probe is due: no new chunks until none are in flight */
	PROBE_SEND,   /* the next chunks form the probe, uncompressed */
	PROBE_WAIT,   /* the probe is out: no new chunks until it is acknowledged */
};

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
	struct dwcp_auto_link link;
	unsigned codec;                 /* current choice */
	uint64_t n_chunks;
	uint8_t *codec_of;              /* per chunk: the codec it was sent with, | F_PROBE */
	uint64_t chunks[DWCP_AUTO_N];
	uint64_t kept_chunks;           /* of those, chunks with kept pages (zstd, not decided) */
	bool resend;                    /* a previous version exists: probes wait for travellers */
	uint64_t travellers;            /* chunks so far without kept pages (and not all zero) */
	unsigned decisions, probes;
	uint64_t since_probe;           /* compressed chunks since the last probe */
	/* the probe */
	enum phase phase;
	unsigned probe_n, probe_sent, probe_acked;
	uint64_t probed;                /* chunks sent in probes so far */
	uint64_t probe_t0, probe_bytes;
	/* the open period */
	unsigned p_acks;
	uint64_t p_t0, p_data[DWCP_AUTO_N], p_wire;
	/* what each codec delivers; trials */
	struct dwcp_auto_fit fit;
	uint64_t tried_ns[DWCP_AUTO_N];
	int trial;                      /* the codec on trial, or NO_TRIAL */
	unsigned trial_sent, trial_periods, trials;
	unsigned trial_max;             /* chunks a trial may take (trial_cap) */
	unsigned trial_need, trial_chunks; /* this trial's periods and most chunks */
	/* idle CPUs while each codec ran (spare_cpus) */
	struct dwcp_cpu_idle *idle;     /* NULL: not measured */
	uint64_t cpu_mask[CPU_WORDS];   /* the CPUs we may run on */
	struct dwcp_cpu_idle_at p_idle; /* at the open period's start */
	bool p_idle_ok;
	double idle_ns[DWCP_AUTO_N], all_ns[DWCP_AUTO_N]; /* CPU-ns of periods with one codec */
};

/* Chunks one trial may take. A trial spends chunks on a codec that may
 * be the slower one: on a short stream two trials of TRIAL_MAX were half
 * of it (256 MiB on two cores: 511 of 1024 chunks), more than knowing the
 * faster codec could win back in what was left. So each takes at most
 * 1/TRIAL_SHARE of the stream, and at least TRIAL_FLOOR chunks: fewer
 * would be acknowledged within a period or two, mostly of the previous
 * codec's chunks still in flight. */
static unsigned trial_cap(uint64_t n_chunks)
{
	uint64_t n = n_chunks / TRIAL_SHARE;

	return n < TRIAL_FLOOR ? TRIAL_FLOOR : n > TRIAL_MAX ? TRIAL_MAX : (unsigned)n;
}

/* The compressors that can run at once. Chunks spread over svc-simd's
 * workers (ipc/route.h), which compress a stream's chunks in parallel,
 * but no more of them than the CPUs this host gives us, less one: the
 * rest of the pipeline (reading, HDE, sealing, TCP) keeps about one busy
 * at the rates where the choice matters. Counting two workers on two
 * CPUs as two engines, the model promised zstd 0.9 GB/s where it
 * delivered 0.5-0.7, and the send's first trial went to it: a slice of
 * the stream spent on the slowest codec. */
static unsigned compress_engines(const struct dwcp_shm *shm, unsigned cpus)
{
	unsigned workers = dwcp_route_workers(shm, DWCP_SLOT_SIMD);

	cpus = cpus > 1 ? cpus - 1 : 1;
	return workers < cpus ? workers : cpus;
}

/* The CPUs we may run on, into a->cpu_mask (left empty where the
 * affinity cannot be read: then nothing is measured). */
static void affinity_mask(struct send_auto *a)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (unsigned c = 0; c < CPU_WORDS * 64; c++)
		if (CPU_ISSET(c, &set))
			a->cpu_mask[c / 64] |= 1ull << (c % 64);
}

static bool read_idle(struct send_auto *a, struct dwcp_cpu_idle_at *at)
{
	return a->idle && !dwcp_cpu_idle_read(a->idle, at);
}

struct send_auto *send_auto_create(const struct dwcp_shm *shm, unsigned codec, uint64_t n_chunks,
				   bool resend)
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
	a->resend = resend;
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
	a->in.engines = compress_engines(shm, dwcp_cpu_usable());
	affinity_mask(a);
	/* Spare CPUs are measured where /proc/stat can be read; a send
	 * without it chooses as before, by the engines alone. */
	a->idle = dwcp_cpu_idle_open(a->cpu_mask, CPU_WORDS);
	/* Enough chunks to time the link, few enough not to matter on a
	 * slow one: at most 1/PROBE_SHARE of the stream (none: link unknown). */
	a->probe_n = n_chunks / PROBE_SHARE < PROBE_CHUNKS ? (unsigned)(n_chunks / PROBE_SHARE) :
							     PROBE_CHUNKS;
	a->phase = a->probe_n ? PROBE_SEND : RUN;
	a->trial_max = trial_cap(n_chunks);
	a->codec = DWCP_AUTO_NONE;
	a->trial = NO_TRIAL;
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
	dwcp_cpu_idle_close(a->idle);
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
	a->in.zero_mixed_bytes += (double)zero;
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

/* The CPU time of a period that went with one codec: how idle the CPUs
 * were while it ran. Sums, not an average of each period's share: where
 * only clock ticks count idle time, a period is a few of them, and
 * consecutive periods share their readings, so what one reading cuts
 * short the next one counts. */
static void add_idle(struct send_auto *a, int codec)
{
	struct dwcp_cpu_idle_at end;
	bool ok = read_idle(a, &end);
	double idle = ok && a->p_idle_ok ? dwcp_cpu_idle_between(a->idle, &a->p_idle, &end) : -1;

	if (idle >= 0 && codec >= 0) {
		a->idle_ns[codec] = a->idle_ns[codec] * IDLE_KEEP + idle;
		a->all_ns[codec] = a->all_ns[codec] * IDLE_KEEP +
				   (double)(end.wall_ns - a->p_idle.wall_ns) * dwcp_cpu_idle_cpus(a->idle);
	}
	a->p_idle = end;
	a->p_idle_ok = ok;
}

/* The CPUs a compressor could have now: those idle while the current
 * codec ran, and those its own compressor took (delivered data over its
 * rate per engine). Unknown until the codec has run long enough. */
static void spare_cpus(struct send_auto *a)
{
	unsigned c = a->codec;
	double busy = 0;

	a->in.spare_known = a->idle && c < DWCP_AUTO_N &&
			    a->all_ns[c] >= IDLE_MIN_S * 1e9 * dwcp_cpu_idle_cpus(a->idle);
	if (!a->in.spare_known)
		return;
	if (c != DWCP_AUTO_NONE && a->in.rate_bps[c] > 0)
		busy = a->in.delivered_bps[c] / dwcp_codec_auto_data_per_coded_byte(&a->in) /
		       a->in.rate_bps[c];
	a->in.spare_cpus = dwcp_cpu_idle_cpus(a->idle) * a->idle_ns[c] / a->all_ns[c] + busy;
}

static void start_trial(struct send_auto *a, unsigned c, uint64_t now)
{
	a->trial = (int)c;
	a->trial_sent = a->trial_periods = 0;
	a->trial_need = TRIAL_PERIODS;
	a->trial_chunks = a->trial_max;
	a->tried_ns[c] = now;
	a->trials++;
}

/* Once the choice has delivered, the candidate the fit does not know yet
 * that the model rates highest, if it might beat the choice and was not
 * tried lately; else NO_TRIAL. "Might" is the model's figure with the link
 * estimate taken LINK_OPTIMISM times over (it is low by a pipeline
 * latency, or only a floor); its compressor rates assume cores of their
 * own, already the most they could do. */
static int trial_due(const struct send_auto *a, uint64_t now)
{
	double bar = a->in.delivered_bps[a->codec] * (1.0 + DWCP_AUTO_TIE);
	struct dwcp_auto_in hope = a->in;
	struct dwcp_auto_verdict v;
	int best = NO_TRIAL;

	if (a->in.delivered_bps[a->codec] <= 0)
		return NO_TRIAL;
	memset(hope.delivered_bps, 0, sizeof(hope.delivered_bps));
	hope.link_bps *= LINK_OPTIMISM;
	dwcp_codec_auto_choose(&hope, &v);
	for (unsigned c = 0; c < DWCP_AUTO_N; c++) {
		if (c == a->codec || a->v.eff_bps[c] <= 0 || a->in.delivered_bps[c] > 0 ||
		    (a->tried_ns[c] && now - a->tried_ns[c] < RETRY_NS))
			continue;
		if (v.eff_bps[c] > bar && (best == NO_TRIAL || a->v.eff_bps[c] > a->v.eff_bps[best]))
			best = (int)c;
	}
	return best;
}

static void decide(struct send_auto *a)
{
	uint64_t now = dwcp_now_ns();
	unsigned pick;
	int t;

	dwcp_codec_auto_fit_rates(&a->fit, FIT_MIN, a->in.delivered_bps);
	spare_cpus(a);
	pick = dwcp_codec_auto_choose(&a->in, &a->v);
	a->decisions++;
	if (a->trial != NO_TRIAL)
		return;
	/* Moving to a codec the fit does not know: held until it does, or
	 * the next decision would move on the model's word alone. */
	if (pick != a->codec && a->in.delivered_bps[pick] <= 0 && a->v.why != DWCP_AUTO_WHY_NO_LINK &&
	    a->v.why != DWCP_AUTO_WHY_UNMEASURED)
		start_trial(a, pick, now);
	a->codec = pick;
	t = trial_due(a, now);
	if (a->trial == NO_TRIAL && t != NO_TRIAL) {
		start_trial(a, (unsigned)t, now);
		a->codec = (unsigned)t;
	}
}

bool send_auto_hold(struct send_auto *a, uint64_t inflight)
{
	if (!a->on)
		return false;
	if (a->phase == DRAIN && !inflight) {
		a->phase = PROBE_SEND;
		a->probe_sent = a->probe_acked = 0;
		a->probe_bytes = 0;
	}
	return a->phase == DRAIN || a->phase == PROBE_WAIT;
}

/* Chunks the probes may take so far: 1/PROBE_SHARE of the stream, or on a
 * resend of the chunks that travelled without kept pages. */
static uint64_t probe_budget(const struct send_auto *a)
{
	return (a->resend ? a->travellers : a->n_chunks) / PROBE_SHARE;
}

/* The codec of the next chunk under auto; *probe: it belongs to the probe. */
static unsigned next_codec(struct send_auto *a, bool *probe)
{
	*probe = false;
	a->travellers++;
	/* On a resend most chunks keep most pages: a probe sized from the
	 * whole stream could be more raw bytes than everything else that
	 * travels. It waits until enough chunks travel whole to pay for it;
	 * until then they go as kept chunks do. */
	if (a->phase == PROBE_SEND && !a->probe_sent &&
	    a->probed + a->probe_n > probe_budget(a))
		return DWCP_AUTO_ZSTD;
	if (a->phase == PROBE_SEND) {
		if (!a->probe_sent)
			a->probe_t0 = dwcp_now_ns();
		if (++a->probe_sent == a->probe_n)
			a->phase = PROBE_WAIT;
		*probe = true;
		return DWCP_AUTO_NONE;
	}
	/* A trial that got too few periods in its chunks (a short stream, or
	 * most of them zero pages or kept pages) ends with what the fit has. */
	if (a->trial != NO_TRIAL && a->phase == RUN && ++a->trial_sent >= a->trial_chunks) {
		a->trial = NO_TRIAL;
		decide(a);
	}
	/* Compressed periods say only "at least" about the link: now and then
	 * a probe times it again, so a link that got slower or faster is seen. */
	if (a->codec != DWCP_AUTO_NONE && a->phase == RUN &&
	    ++a->since_probe >= (uint64_t)REPROBE_EVERY * a->probe_n / PROBE_CHUNKS) {
		a->since_probe = 0;
		a->phase = DRAIN;
	}
	return a->codec;
}

unsigned send_auto_codec(struct send_auto *a, uint64_t seq, const void *data, uint32_t len,
			 bool hde, bool kept)
{
	bool probe = false, zero = false;
	unsigned c;

	if (!a->on)
		c = a->fixed;
	else {
		a->in.zero_pages_free = hde;
		if (seq % SAMPLE_EVERY == 0 || a->in.sample_bytes + a->in.zero_bytes <= 0) {
			sample(a, data, len);
			decide(a);
		}
		/* A kept chunk carries only its changed pages: timed, it
		 * would make the link look as slow as its wire is small; and
		 * the strongest codec costs little on so few bytes. */
		/* HDE turns a chunk of zero pages into records: nothing to
		 * compress, and nothing that would time the link. */
		zero = hde && a->dz.is_zero(data, len);
		c = zero ? DWCP_AUTO_NONE : kept ? DWCP_AUTO_ZSTD : next_codec(a, &probe);
		a->kept_chunks += kept;
	}
	/* A chunk sent again (raw, for want of a delta base) stays in its probe. */
	if (seq < a->n_chunks)
		a->codec_of[seq] = (uint8_t)(c | (probe ? F_PROBE : 0) | (kept ? F_KEPT : 0) |
					     (zero ? F_ZERO : 0) | (a->codec_of[seq] & F_PROBE));
	a->chunks[c < DWCP_AUTO_N ? c : 0]++;
	return c;
}

/* The codec at least DOMINANT of the period's data (zero-page chunks
 * aside) went with, or -1. */
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

/* The period just closed at @p t_end: its rate updates the link estimate
 * and the fit of what each codec delivers. */
static void close_period(struct send_auto *a, uint64_t t_end)
{
	double dt = (double)(t_end - a->p_t0) / 1e9, data[DWCP_AUTO_N];
	int codec = period_codec(a);

	add_idle(a, codec);
	dwcp_codec_auto_link_add(&a->link, codec != DWCP_AUTO_NONE, (double)a->p_wire / dt);
	a->in.link_bps = dwcp_codec_auto_link_bps(&a->link);
	for (unsigned k = 0; k < DWCP_AUTO_N; k++)
		data[k] = (double)a->p_data[k];
	dwcp_codec_auto_fit_add(&a->fit, data, dt, FIT_KEEP);
	if (a->trial != NO_TRIAL && ++a->trial_periods >= a->trial_need &&
	    a->fit.bytes[a->trial] >= FIT_MIN)
		a->trial = NO_TRIAL;
	decide(a);
}

/* The period's start; its idle reading stays the one close_period left,
 * the end of the period before (or, once p_t0 is 0, the first ACK's). */
static void reset_period(struct send_auto *a, uint64_t t0)
{
	a->p_t0 = t0;
	a->p_idle_ok &= t0 != 0;
	a->p_acks = 0;
	memset(a->p_data, 0, sizeof(a->p_data));
	a->p_wire = 0;
}

/* A probe chunk was acknowledged; the last one times the link. */
static void probe_acked(struct send_auto *a, uint32_t wire_len, uint64_t now)
{
	a->probe_acked++;
	a->probe_bytes += wire_len;
	if (a->phase != PROBE_WAIT || a->probe_acked < a->probe_n)
		return;
	a->probed += a->probe_n;
	/* Over in less than a period: on a fast link the pipeline's latency
	 * is most of that time, and the figure only a floor. A longer probe
	 * would drain and refill the pipeline again (probes of 16, 32 and 64
	 * chunks took 7, 10-15 and 17-36 ms on two CPUs: still 30 % to 2x
	 * low); none runs on instead, on trial, and its periods time the link
	 * with the pipeline full, and what none leaves of the CPUs. */
	bool fast = now - a->probe_t0 < PERIOD_NS, first = !a->probes;

	/* (A fast probe's figure goes in as compressed periods' do: "at least".) */
	dwcp_codec_auto_link_add(&a->link, fast,
				 (double)a->probe_bytes * 1e9 / (double)(now - a->probe_t0 + 1));
	a->in.link_bps = dwcp_codec_auto_link_bps(&a->link);
	a->probes++;
	a->phase = RUN;
	/* A later probe, among compressed chunks, leaves the choice to the
	 * trials: a link a little over the probe's bar still gains from
	 * compression, and a run of raw chunks each time would cost it. */
	if (fast && first && a->trial == NO_TRIAL) {
		/* Periods enough for what none delivers and leaves idle to be
		 * known (IDLE_MIN_S); twice a trial's chunks, as a link this
		 * fast carries raw chunks cheaply. */
		start_trial(a, DWCP_AUTO_NONE, now);
		a->trial_need = RUN_PERIODS;
		a->trial_chunks = 2 * a->trial_max;
		a->codec = DWCP_AUTO_NONE;
	}
	decide(a);
	reset_period(a, 0);
}

void send_auto_acked(struct send_auto *a, uint64_t seq, uint32_t data_len, uint32_t wire_len)
{
	uint64_t now = dwcp_now_ns();
	unsigned f = seq < a->n_chunks ? a->codec_of[seq] : 0, c = f & ~(F_PROBE | F_KEPT);

	if (!a->on)
		return;
	if ((f & F_KEPT) && !(f & F_PROBE))
		return;
	if (f & F_PROBE) {
		probe_acked(a, wire_len, now);
		return;
	}
	if (!a->p_t0) {
		a->p_t0 = now;
		a->p_idle_ok = read_idle(a, &a->p_idle);
		return;
	}
	a->p_acks++;
	if (!(f & F_ZERO))   /* no codec's data; its time falls on its period's */
		a->p_data[c < DWCP_AUTO_N ? c : 0] += data_len;
	a->p_wire += wire_len;
	if (now - a->p_t0 < PERIOD_NS || a->p_acks < PERIOD_MIN)
		return;
	close_period(a, now);
	reset_period(a, now);
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
	sum->codec_probes = a->probes;
	sum->codec_trials = a->trials;
	if (a->on) {
		char why[sizeof(sum->codec_note)];
		int n;

		/* The codec shown is the one most chunks got; the reason is the
		 * last decision's, which may have named another one. */
		dwcp_codec_auto_explain(&a->in, &a->v, why, sizeof(why));
		n = a->kept_chunks ?
			    snprintf(sum->codec_note, sizeof(sum->codec_note),
				     "%llu chunks with kept pages went zstd (only their changed pages travel); for the others: ",
				     (unsigned long long)a->kept_chunks) :
		    (unsigned)a->codec == top ? 0 :
		    snprintf(sum->codec_note, sizeof(sum->codec_note), "last decision, after most chunks went %s: ",
			     sum->codec);
		if (n < 0 || (size_t)n >= sizeof(sum->codec_note))
			n = 0;
		snprintf(sum->codec_note + n, sizeof(sum->codec_note) - (size_t)n, "%s", why);
	} else
		snprintf(sum->codec_note, sizeof(sum->codec_note), "%s: fixed by --codec or [stream] codec",
			 dwcp_codec_auto_name((enum dwcp_auto_codec)a->fixed));
}
