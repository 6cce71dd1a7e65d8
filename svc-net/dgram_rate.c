/* The sender's rate controller (dgram.h): pacing by a token bucket, and a
 * congestion response after Swift (Kumar et al., SIGCOMM 2020), the
 * delay-based scheme Google runs for its datacentre transports.
 *
 * Why Swift: VM images move inside a datacentre, over paths with
 * microsecond base RTTs and shallow switch buffers where a loss-based
 * scheme (Cubic, TFRC) first fills the queues it then backs off from, and
 * LEDBAT's 100 ms target is meant for the WAN. Swift holds the measured
 * delay near a target a little above the path's own: below it the rate
 * grows additively, above it shrinks in proportion to how far above, once
 * per RTT; a loss cuts hard.
 *
 * Simplified here: a rate in bytes/s instead of a window (we pace every
 * datagram anyway, and DPDK gives no ACK clock); the target is the
 * smallest RTT seen plus max(1 ms, half of it) instead of Swift's
 * hop-count and flow-count scaling; RTT is measured from the DATA
 * timestamp a NACK or ACK echoes, so it includes the receiver's delay in
 * answering (it answers at once, per message).
 */
#include "dgram.h"

#define BETA        0.8      /* decrease per unit of relative excess delay */
#define MAX_MDF     0.5      /* the most one decrease takes */
#define HEADROOM_NS 4000000ull

static double clamp(const struct dwcp_dgram_rate *r, double v)
{
	return v < r->min_rate ? r->min_rate : v > r->max_rate ? r->max_rate : v;
}

static void set_burst(struct dwcp_dgram_rate *r)
{
	/* 2 ms worth, within 16..256 KiB: a chunk's fragments go out together. */
	r->burst = r->rate * 0.002;
	if (r->burst < 16384)
		r->burst = 16384;
	if (r->burst > 262144)
		r->burst = 262144;
}

void dwcp_dgram_rate_init(struct dwcp_dgram_rate *r, double start, double min, double max,
			  uint64_t now_ns)
{
	*r = (struct dwcp_dgram_rate){ .min_rate = min, .max_rate = max, .last_ns = now_ns };
	r->rate = clamp(r, start);
	r->ai = max / 100 > min ? max / 100 : min;
	set_burst(r);
	r->tokens = r->burst;
}

static void refill(struct dwcp_dgram_rate *r, uint64_t now_ns)
{
	if (now_ns > r->last_ns) {
		r->tokens += r->rate * (double)(now_ns - r->last_ns) / 1e9;
		if (r->tokens > r->burst)
			r->tokens = r->burst;
		r->last_ns = now_ns;
	}
}

bool dwcp_dgram_rate_take(struct dwcp_dgram_rate *r, uint64_t now_ns, uint32_t bytes)
{
	refill(r, now_ns);
	if (r->tokens < bytes)
		return false;
	r->tokens -= bytes;
	return true;
}

uint64_t dwcp_dgram_rate_next_ns(const struct dwcp_dgram_rate *r, uint64_t now_ns, uint32_t bytes)
{
	double tokens = r->tokens + r->rate * (double)(now_ns > r->last_ns ? now_ns - r->last_ns : 0) / 1e9;

	if (tokens >= bytes)
		return now_ns;
	return now_ns + (uint64_t)((bytes - tokens) / r->rate * 1e9) + 1;
}

void dwcp_dgram_rate_on_rtt(struct dwcp_dgram_rate *r, uint64_t rtt_ns, uint64_t now_ns)
{
	uint64_t headroom;

	if (!rtt_ns)
		return;
	if (!r->base_rtt_ns || rtt_ns < r->base_rtt_ns)
		r->base_rtt_ns = rtt_ns;
	r->srtt_ns = r->srtt_ns ? (7 * r->srtt_ns + rtt_ns) / 8 : rtt_ns;
	headroom = r->base_rtt_ns / 2 > HEADROOM_NS ? r->base_rtt_ns / 2 : HEADROOM_NS;
	r->target_ns = r->base_rtt_ns + headroom;
	if (rtt_ns <= r->target_ns) {
		/* Additive increase: ai per RTT, whatever the sample rate. */
		double per = r->last_inc_ns && now_ns > r->last_inc_ns ?
				     (double)(now_ns - r->last_inc_ns) / (double)r->srtt_ns : 1.0;

		r->rate = clamp(r, r->rate + r->ai * (per < 1.0 ? per : 1.0));
		r->last_inc_ns = now_ns;
	} else if (now_ns >= r->last_cut_ns + r->srtt_ns) {
		double f = 1.0 - BETA * (double)(rtt_ns - r->target_ns) / (double)rtt_ns;

		r->rate = clamp(r, r->rate * (f > 1.0 - MAX_MDF ? f : 1.0 - MAX_MDF));
		r->last_cut_ns = now_ns;
		r->last_inc_ns = now_ns;
	}
	set_burst(r);
}

void dwcp_dgram_rate_on_loss(struct dwcp_dgram_rate *r, uint64_t now_ns)
{
	if (r->srtt_ns && now_ns < r->last_cut_ns + r->srtt_ns)
		return;   /* one cut per RTT: the losses of one burst count once */
	r->rate = clamp(r, r->rate * (1.0 - MAX_MDF));
	r->last_cut_ns = now_ns;
	r->last_inc_ns = now_ns;
	set_burst(r);
}
