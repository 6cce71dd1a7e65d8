/* The service loop (svc_runtime.h); the process around it (arguments,
 * attach, takeover, start) is ipc/svc_main.c.
 *
 * Back-pressure is by parking: a buffer whose next link is full stays in
 * this process (owner WORK, so a crash re-delivers it) and no new input is
 * taken until every parked buffer has left. Input therefore waits in the
 * upstream links, in shared memory, where a restart does not lose it.
 *
 * Two ways to stop taking input, both shown as DRAINING: SIGTERM (finish
 * what this process holds, then exit) and the slot's drain flag, which
 * `dwcpctl drain` sets and `dwcpctl resume` clears (finish what it holds,
 * then sleep until the flag clears; input waits in the links meanwhile).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_pause.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/route.h"
#include "ipc/svc_runtime.h"
#include "ipc/svc_rt_internal.h"

#define DRAIN_NS   (5ull * 1000000000ull)
#define PARK_WAIT_NS 50000ull

struct dwcp_slot *dwcp_svc_rt_my_slot(const struct rt *rt)
{
	return &rt->ctx.at.shm.ctl->slots[rt->ctx.at.slot];
}

/* The one place the service half's state changes; logs old -> new. */
void dwcp_svc_rt_set_state(struct rt *rt, enum dwcp_svc_state st, const char *reason)
{
	struct dwcp_slot_svc *s = &dwcp_svc_rt_my_slot(rt)->svc;
	static const char *const names[] = { "NONE", "READY", "STANDBY", "DRAINING" };
	uint32_t old = s->state;

	snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
	/* ready_ns: when this generation first served (an upgrade's blackout
	 * ends there); one that starts drained serves from DRAINING. */
	if (st == DWCP_SVC_READY || st == DWCP_SVC_STANDBY || !s->ready_ns)
		s->ready_ns = dwcp_now_ns();
	__atomic_store_n(&s->state, st, __ATOMIC_RELEASE);
	DWCP_INFO("%s: %s -> %s%s%s (generation %u)", rt->svc->name,
		  names[old < 4 ? old : 0], names[st], reason && *reason ? ": " : "",
		  reason ? reason : "", rt->ctx.at.gen);
}

/* Modelled in tests/model/outofplace.pml (svc: adopt_output). */
/* A step wrote its result to @out: the descriptor moves there, and the
 * original input (the first buffer of the chain) is remembered in the
 * output so it is freed once the output has left. An intermediate output
 * (two swapping steps in a row here) was never seen by anyone: free it. */
static void adopt_output(struct rt *rt, uint32_t in, uint32_t out)
{
	const struct dwcp_shm *shm = &rt->ctx.at.shm;
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(shm, in), *o = dwcp_shm_hdr(shm, out);
	uint32_t len = o->len;

	memcpy((uint8_t *)o + sizeof(o->owner), (uint8_t *)h + sizeof(h->owner),
	       sizeof(*o) - sizeof(o->owner));
	o->len = len;
	o->parent_plus1 = h->parent_plus1 ? h->parent_plus1 : in + 1;
	if (h->parent_plus1)
		dwcp_pool_free(shm, in);
}

static void free_chain(struct rt *rt, uint32_t idx)
{
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(&rt->ctx.at.shm, idx);

	if (h->parent_plus1)
		dwcp_pool_free(&rt->ctx.at.shm, h->parent_plus1 - 1);
	dwcp_pool_free(&rt->ctx.at.shm, idx);
}

/* @return 0 (done, status stamped), -EAGAIN (call again later) or
 * DWCP_SVC_KEEP (the service kept the buffer). */
static int do_step(struct rt *rt, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op, uint32_t *out)
{
	/* TSC, not clock_gettime: this runs once per step. */
	uint64_t t0 = rte_rdtsc();
	int st = h->len > rt->ctx.at.shm.buf_size ? DWCP_BUF_EBADLEN :
		 rt->svc->step ? rt->svc->step(&rt->ctx, idx, h, op, out) : DWCP_BUF_EBADOP;

	if (st == -EAGAIN)
		return st;
	dwcp_hist_record(&rt->ctx.stats->step_ns, (uint64_t)((rte_rdtsc() - t0) * rt->ns_per_tsc));
	dwcp_stats_add(rt->ctx.stats, DWCP_STAT_OPS, 1);
	dwcp_stats_add(rt->ctx.stats, DWCP_STAT_BYTES, h->len);
	if (st == DWCP_SVC_KEEP)
		return st;
	if (st != DWCP_BUF_OK) {
		*out = idx;
		h->status = (uint16_t)(st < 0 ? DWCP_BUF_EBADOP : st);
		dwcp_stats_add(rt->ctx.stats, DWCP_STAT_ERRORS, 1);
	}
	return 0;
}

#define STEPS_DONE  (-1)   /* consumed here */
#define STEPS_RETRY (-2)   /* a step asked to be called again */
#define STEPS_KEPT  (-3)   /* the service kept it (DWCP_SVC_KEEP) */
/* In a destination: the step names that very slot (DWCP_PROG_PINNED), no
 * other worker of its service. */
#define DST_PINNED  0x100

/* Where a buffer whose next step is @p step goes, for forward(). */
static int step_dst(uint16_t step)
{
	return (int)dwcp_prog_slot(step) | (dwcp_prog_pinned(step) ? DST_PINNED : 0);
}

/* Modelled in tests/model/outofplace.pml and keep.pml (svc: run_steps). */
/* Do every step of *@pidx that names this slot's service (a worker does
 * all of a chunk's steps for its service in one visit). @return the step
 * slot the buffer (*@pidx, which a step may have replaced) goes to next
 * (forward() picks the worker), or STEPS_DONE / STEPS_RETRY. */
static int run_steps(struct rt *rt, uint32_t *pidx)
{
	const unsigned me = rt->service;
	uint32_t idx = *pidx;
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(&rt->ctx.at.shm, idx);

	if (h->prog_len > DWCP_PROG_MAX || h->pc > h->prog_len) {
		dwcp_stats_add(rt->ctx.stats, DWCP_STAT_ERRORS, 1);
		free_chain(rt, idx);
		return STEPS_DONE;
	}
	while (h->pc < h->prog_len) {
		uint16_t step = h->prog[h->pc];
		unsigned slot = dwcp_prog_slot(step);
		uint32_t out = idx;

		if (slot == 0 || slot >= DWCP_MAX_SLOTS) {
			h->status = DWCP_BUF_EBADOP;
			break;
		}
		/* A step for an engine that is down may move to the other one,
		 * possibly this service. */
		if (slot != me) {
			slot = dwcp_route_step(&rt->ctx.at.shm, h);
			step = h->prog[h->pc];
		}
		/* Ours: a step for our service (unless pinned to another of its
		 * workers), or one naming this very worker. */
		if (slot != rt->ctx.at.slot && (slot != me || dwcp_prog_pinned(step))) {
			*pidx = idx;
			return step_dst(step);
		}
		if (h->status == DWCP_BUF_OK) {
			int rc = do_step(rt, idx, h, dwcp_prog_op(step), &out);

			if (rc) {
				*pidx = idx;
				return rc == DWCP_SVC_KEEP ? STEPS_KEPT : STEPS_RETRY;
			}
		}
		if (out != idx) {
			adopt_output(rt, idx, out);
			idx = out;
			h = dwcp_shm_hdr(&rt->ctx.at.shm, idx);
		}
		h->pc++;
	}
	free_chain(rt, idx);
	return STEPS_DONE;
}

/* Modelled in tests/model/outofplace.pml (svc: fwd), upgrade.pml and keep.pml (svc: forward). */
/* Send each buffer of @idx to its destination; what does not fit is
 * parked. The input a buffer was made from is freed once it has left
 * (read before the enqueue: after it the buffer is someone else's).
 * @return buffers that left. */
static unsigned forward(struct rt *rt, const uint32_t *idx, int *dst, unsigned n)
{
	const struct dwcp_shm *shm = &rt->ctx.at.shm;
	uint32_t group[PARK_MAX], parent[PARK_MAX];
	unsigned sent = 0, picked[DWCP_SLOT_CLIENT0] = { 0 };

	/* One worker per service per burst: a burst stays together on one
	 * link, and the next burst may go elsewhere; a keyed service's
	 * worker is each buffer's own. */
	for (unsigned i = 0; i < n; i++) {
		unsigned d = (unsigned)dst[i];

		if (d & DST_PINNED) {
			dst[i] = (int)(d & ~(unsigned)DST_PINNED);
			continue;
		}
		if (d >= DWCP_SLOT_CLIENT0)
			continue;
		if (dwcp_route_keyed(shm, d)) {
			dst[i] = (int)dwcp_route_pick_buf(shm, rt->ctx.at.slot, d, dwcp_shm_hdr(shm, idx[i]),
							  &rt->route_cursor);
			continue;
		}
		if (!picked[d])
			picked[d] = dwcp_route_pick(shm, rt->ctx.at.slot, d, &rt->route_cursor);
		dst[i] = (int)picked[d];
	}

	for (unsigned d = 1; d < DWCP_MAX_SLOTS; d++) {
		unsigned g = 0, k;

		for (unsigned i = 0; i < n; i++) {
			if (dst[i] != (int)d)
				continue;
			parent[g] = dwcp_shm_hdr(shm, idx[i])->parent_plus1;
			dwcp_shm_hdr(shm, idx[i])->parent_plus1 = 0;
			group[g++] = idx[i];
		}
		if (!g)
			continue;
		k = dwcp_link_enqueue_burst(shm, rt->ctx.at.slot, d, group, g);
		if (k) {
			dwcp_stats_add(rt->ctx.stats, DWCP_STAT_ENQUEUED, k);
			dwcp_stats_add(rt->ctx.stats, DWCP_STAT_WAKEUPS, (uint64_t)dwcp_link_notify(shm, d));
		}
		for (unsigned i = 0; i < k; i++)
			if (parent[i])
				dwcp_pool_free(shm, parent[i] - 1);
		if (k < g)
			dwcp_stats_add(rt->ctx.stats, DWCP_STAT_LINK_FULL, 1);
		for (unsigned i = k; i < g && rt->n_park < PARK_MAX; i++) {
			dwcp_shm_hdr(shm, group[i])->parent_plus1 = parent[i];
			rt->park[rt->n_park++] = group[i];
		}
		sent += k;
	}
	return sent;
}

static unsigned process(struct rt *rt, const uint32_t *idx, unsigned n)
{
	uint32_t out[PARK_MAX];
	int dst[PARK_MAX];
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t b = idx[i];
		int d = run_steps(rt, &b);

		if (d >= 0) {
			out[m] = b;
			dst[m++] = d;
		} else if (d == STEPS_RETRY && rt->n_retry < PARK_MAX) {
			rt->retry[rt->n_retry++] = b;
		}
	}
	forward(rt, out, dst, m);
	return n;
}

/* Modelled in tests/model/keep.pml (svc: an ACK -> pass). */
void dwcp_svc_pass(struct dwcp_svc_ctx *ctx, uint32_t idx, int status)
{
	struct rt *rt = (struct rt *)ctx;   /* ctx is rt's first member */
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(&ctx->at.shm, idx);

	if (status != DWCP_BUF_OK) {
		h->status = (uint16_t)status;
		dwcp_stats_add(ctx->stats, DWCP_STAT_ERRORS, 1);
	}
	h->pc++;
	process(rt, &idx, 1);
}

/* Modelled in tests/model/outofplace.pml -DKEEP_STEP (svc: adopt_out). */
void dwcp_svc_pass_out(struct dwcp_svc_ctx *ctx, uint32_t idx, uint32_t out, int status)
{
	if (out != idx)
		adopt_output((struct rt *)ctx, idx, out);
	dwcp_svc_pass(ctx, out, status);
}

void dwcp_svc_submit(struct dwcp_svc_ctx *ctx, uint32_t idx)
{
	struct rt *rt = (struct rt *)ctx;

	/* HELD -> WORK: from here a crash re-delivers it instead of freeing it. */
	__atomic_store_n(&dwcp_shm_hdr(&ctx->at.shm, idx)->owner,
			 dwcp_owner_work(ctx->at.slot, ctx->at.gen), __ATOMIC_RELEASE);
	process(rt, &idx, 1);
}

unsigned dwcp_svc_backlog(const struct dwcp_svc_ctx *ctx)
{
	const struct rt *rt = (const struct rt *)ctx;

	return rt->n_park + rt->n_retry;
}

/* Modelled in tests/model/outofplace.pml (svc: take_retries). */
static unsigned take_retries(struct rt *rt)
{
	uint32_t idx[PARK_MAX];
	unsigned n = rt->n_retry;

	memcpy(idx, rt->retry, n * sizeof(idx[0]));
	rt->n_retry = 0;
	process(rt, idx, n);
	return n - rt->n_retry;
}

/* Modelled in tests/model/upgrade.pml, outofplace.pml, keep.pml (svc: flush_park). */
static unsigned flush_park(struct rt *rt)
{
	uint32_t idx[PARK_MAX];
	int dst[PARK_MAX];
	unsigned n = rt->n_park, before = n;

	memcpy(idx, rt->park, n * sizeof(idx[0]));
	for (unsigned i = 0; i < n; i++)
		dst[i] = step_dst(dwcp_shm_hdr(&rt->ctx.at.shm, idx[i])->prog[
			dwcp_shm_hdr(&rt->ctx.at.shm, idx[i])->pc]);
	rt->n_park = 0;
	forward(rt, idx, dst, n);
	return before - rt->n_park;
}

/* Modelled in tests/model/upgrade.pml, outofplace.pml, keep.pml (svc: take_adopted). */
static unsigned take_adopted(struct rt *rt)
{
	unsigned n = rt->n_adopted - rt->adopted_next;

	if (n > BURST)
		n = BURST;
	if (!n)
		return 0;
	process(rt, rt->adopted + rt->adopted_next, n);
	rt->adopted_next += n;
	return n;
}

uint32_t dwcp_svc_rt_drain_flag(const struct rt *rt)
{
	return __atomic_load_n(&dwcp_svc_rt_my_slot(rt)->sup.drain, __ATOMIC_ACQUIRE) != 0;
}

/* Follow `dwcpctl drain` / `resume`: one load per loop turn. */
static void follow_drain_flag(struct rt *rt)
{
	uint32_t want = dwcp_svc_rt_drain_flag(rt);

	if (want == (uint32_t)rt->paused)
		return;
	rt->paused = (int)want;
	if (rt->draining)
		return;   /* SIGTERM's DRAINING stays */
	if (want)
		dwcp_svc_rt_set_state(rt, DWCP_SVC_DRAINING, "dwcpctl drain");
	else
		dwcp_svc_rt_set_state(rt, rt->run_state, rt->run_reason);
}

/* Modelled in tests/model/upgrade.pml, outofplace.pml, keep.pml (svc: take_inputs). */
static unsigned take_inputs(struct rt *rt)
{
	const unsigned me = rt->ctx.at.slot;
	uint32_t idx[BURST];
	unsigned total = 0;

	for (unsigned src = 0; src < DWCP_MAX_SLOTS && !rt->n_park && !rt->n_retry; src++) {
		unsigned n;

		if (src == me)
			continue;
		n = dwcp_link_dequeue_burst(&rt->ctx.at.shm, src, me, rt->ctx.at.gen, idx, BURST);
		if (!n)
			continue;
		dwcp_stats_add(rt->ctx.stats, DWCP_STAT_DEQUEUED, n);
		total += process(rt, idx, n);
	}
	return total;
}

static int has_input(void *arg)
{
	struct rt *rt = arg;

	/* While drained, waiting input is not a reason to stay awake (that
	 * would spin); a change of the flag is (the supervisor wakes us). */
	if (dwcp_svc_rt_drain_flag(rt) != (uint32_t)rt->paused)
		return 1;
	for (unsigned src = 0; src < DWCP_MAX_SLOTS && !rt->paused && !rt->draining; src++)
		if (src != rt->ctx.at.slot && dwcp_link_count(&rt->ctx.at.shm, src, rt->ctx.at.slot))
			return 1;
	return rt->svc->pending ? rt->svc->pending((struct dwcp_svc_ctx *)&rt->ctx) : 0;
}

/* Modelled in tests/model/handoff.pml (service start: adopt) and in upgrade.pml,
 * outofplace.pml, keep.pml (svc: adopt). */
/* Buffers the reclaimer handed to this generation (WORK(slot, gen)). */
int dwcp_svc_rt_adopt(struct rt *rt)
{
	const struct dwcp_shm *shm = &rt->ctx.at.shm;
	const uint64_t mine = dwcp_owner_work(rt->ctx.at.slot, rt->ctx.at.gen);

	rt->adopted = calloc(shm->n_bufs, sizeof(uint32_t));
	if (!rt->adopted)
		return -ENOMEM;
	for (uint32_t i = 0; i < shm->n_bufs; i++)
		if (__atomic_load_n(&shm->hdrs[i].owner, __ATOMIC_ACQUIRE) == mine)
			rt->adopted[rt->n_adopted++] = i;
	if (rt->n_adopted) {
		dwcp_stats_add(rt->ctx.stats, DWCP_STAT_REDELIVERED, rt->n_adopted);
		DWCP_INFO("%s: adopted %u buffers from the previous generation", rt->svc->name,
			  rt->n_adopted);
	}
	return 0;
}

void dwcp_svc_rt_heartbeat(struct rt *rt, uint64_t now)
{
	__atomic_store_n(&dwcp_svc_rt_my_slot(rt)->svc.heartbeat_ns, now, __ATOMIC_RELEASE);
}

int dwcp_svc_alloc(struct dwcp_svc_ctx *ctx, uint32_t *idx)
{
	return dwcp_pool_alloc_burst(&ctx->at.shm, ctx->at.slot, ctx->at.gen, idx, 1,
				     &ctx->alloc_cursor) == 1 ? 0 : -EAGAIN;
}

void dwcp_svc_free(struct dwcp_svc_ctx *ctx, uint32_t idx)
{
	dwcp_pool_free(&ctx->at.shm, idx);
}

void dwcp_svc_heartbeat(struct dwcp_svc_ctx *ctx)
{
	__atomic_store_n(&ctx->at.shm.ctl->slots[ctx->at.slot].svc.heartbeat_ns, dwcp_now_ns(),
			 __ATOMIC_RELEASE);
}

/* @return nonzero when the loop should end. */
static int idle(struct rt *rt, uint64_t now, uint64_t *last_work, uint64_t *last_check)
{
	if (rt->draining && !rt->n_park && !rt->n_retry && rt->adopted_next == rt->n_adopted)
		return 1;
	if (now - *last_check >= rt->hb_ns) {
		*last_check = now;
		if (dwcp_attach_supervisor_gone(&rt->ctx.at)) {
			DWCP_WARN("%s: the supervisor died; exiting", rt->svc->name);
			return 1;
		}
		if (rt->watchdog)
			sd_notify(0, "WATCHDOG=1");
	}
	if (rt->poll_mode || now - *last_work < rt->spin_ns) {
		rte_pause();
		return 0;
	}
	if (rt->n_park || rt->n_retry) {
		struct timespec ts = { 0, (long)PARK_WAIT_NS };

		nanosleep(&ts, NULL);
	} else if (dwcp_link_wait(&rt->ctx.at.shm, rt->ctx.at.slot, rt->hb_ns, has_input, rt)) {
		dwcp_stats_add(rt->ctx.stats, DWCP_STAT_SLEEPS, 1);
	}
	*last_work = dwcp_now_ns() - rt->spin_ns;  /* after a sleep, do not spin again */
	return 0;
}

/* Modelled in tests/model/upgrade.pml (svc: SIGTERM -> draining, exit when idle). */
void dwcp_svc_rt_loop(struct rt *rt)
{
	uint64_t last_work = dwcp_now_ns(), last_check = last_work, drain_deadline = 0;

	for (;;) {
		unsigned work = 0;
		uint64_t now;

		if (dwcp_svc_stop_requested() && !rt->draining) {
			rt->draining = 1;
			drain_deadline = dwcp_now_ns() + DRAIN_NS;
			dwcp_svc_rt_set_state(rt, DWCP_SVC_DRAINING, "SIGTERM");
		}
		follow_drain_flag(rt);
		if (rt->n_park)
			work += flush_park(rt);
		if (rt->n_retry)
			work += take_retries(rt);
		if (!rt->n_park && !rt->n_retry)
			work += take_adopted(rt);
		if (!rt->n_park && !rt->n_retry && !rt->draining && !rt->paused)
			work += take_inputs(rt);
		now = dwcp_now_ns();
		if (rt->svc->poll) {
			work += rt->svc->poll(&rt->ctx, now);
			/* The stamp says when the loop last turned: the time
			 * before a poll that took long, or that the scheduler
			 * stretched, read as a hang to the supervisor while
			 * the thread was back asleep in its idle wait. */
			now = dwcp_now_ns();
		}
		dwcp_svc_rt_heartbeat(rt, now);
		if (rt->draining && now > drain_deadline) {
			DWCP_WARN("%s: drain timed out with %u buffers parked; the next generation takes them",
				  rt->svc->name, rt->n_park);
			break;
		}
		if (work) {
			last_work = now;
			continue;
		}
		if (idle(rt, now, &last_work, &last_check))
			break;
	}
}
