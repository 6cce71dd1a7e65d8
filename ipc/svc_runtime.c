/* The service loop (svc_runtime.h).
 *
 * Back-pressure is by parking: a buffer whose next link is full stays in
 * this process (owner WORK, so a crash re-delivers it) and no new input is
 * taken until every parked buffer has left. Input therefore waits in the
 * upstream links, in shared memory, where a restart does not lose it.
 *
 * The stop flag is the one process-wide variable: a signal handler can
 * reach nothing else.
 *
 * Two ways to stop taking input, both shown as DRAINING: SIGTERM (finish
 * what this process holds, then exit) and the slot's drain flag, which
 * `dwcpctl drain` sets and `dwcpctl resume` clears (finish what it holds,
 * then sleep until the flag clears; input waits in the links meanwhile).
 *
 * With --takeover (`dwcpctl upgrade`) the process attaches while the old
 * generation still runs, says so (TAKEOVER) and blocks on the control
 * socket until the supervisor answers "go" — after the old generation
 * drained and exited and its buffers and links were reclaimed for this
 * one. Only then does it write the slot's svc half, adopt, run the
 * service's init and loop. init waits for "go" too: services' inits bind
 * listening ports (svc-net) and rebuild shared indexes (svc-mem's delta
 * cache), which must not happen while the old generation still uses them.
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
#include "ipc/chunk_ops.h"
#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/svc_runtime.h"

#define BURST      32u
#define PARK_MAX   (BURST * DWCP_MAX_SLOTS)
#define DRAIN_NS   (5ull * 1000000000ull)
#define PARK_WAIT_NS 50000ull

static volatile sig_atomic_t stop_requested;

struct rt {
	struct dwcp_svc_ctx ctx;
	const struct dwcp_svc *svc;
	uint32_t park[PARK_MAX];         /* outputs waiting for room on their link */
	unsigned n_park;
	uint32_t retry[PARK_MAX];        /* inputs whose step asked to be called again */
	unsigned n_retry;
	uint32_t *adopted;           /* buffers re-delivered to this generation */
	unsigned n_adopted, adopted_next;
	uint64_t spin_ns, hb_ns;
	double ns_per_tsc;
	int poll_mode;
	int draining;                /* SIGTERM: finish, then exit */
	int paused;                  /* the slot's drain flag: finish, then wait */
	enum dwcp_svc_state run_state;   /* what init said (READY or STANDBY) ... */
	char run_reason[DWCP_REASON_MAX];   /* ... and why; restored on resume */
	unsigned watchdog;           /* sd_watchdog_enabled() said so */
};

static void on_sigterm(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static struct dwcp_slot *my_slot(const struct rt *rt)
{
	return &rt->ctx.at.shm.ctl->slots[rt->ctx.at.slot];
}

/* The one place the service half's state changes; logs old -> new. */
static void set_state(struct rt *rt, enum dwcp_svc_state st, const char *reason)
{
	struct dwcp_slot_svc *s = &my_slot(rt)->svc;
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

/* Modelled in tests/model/outofplace.pml and keep.pml (svc: run_steps). */
/* Do every step of *@pidx that names this slot. @return the slot the
 * buffer (*@pidx, which a step may have replaced) goes to next, or
 * STEPS_DONE / STEPS_RETRY. */
static int run_steps(struct rt *rt, uint32_t *pidx)
{
	const unsigned me = rt->ctx.at.slot;
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
			slot = dwcp_chunk_route(&rt->ctx.at.shm, h);
			step = h->prog[h->pc];
		}
		if (slot != me) {
			*pidx = idx;
			return (int)slot;
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
static unsigned forward(struct rt *rt, const uint32_t *idx, const int *dst, unsigned n)
{
	const struct dwcp_shm *shm = &rt->ctx.at.shm;
	uint32_t group[PARK_MAX], parent[PARK_MAX];
	unsigned sent = 0;

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
		dst[i] = dwcp_prog_slot(dwcp_shm_hdr(&rt->ctx.at.shm, idx[i])->prog[
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

static uint32_t drain_flag(const struct rt *rt)
{
	return __atomic_load_n(&my_slot(rt)->sup.drain, __ATOMIC_ACQUIRE) != 0;
}

/* Follow `dwcpctl drain` / `resume`: one load per loop turn. */
static void follow_drain_flag(struct rt *rt)
{
	uint32_t want = drain_flag(rt);

	if (want == (uint32_t)rt->paused)
		return;
	rt->paused = (int)want;
	if (rt->draining)
		return;   /* SIGTERM's DRAINING stays */
	if (want)
		set_state(rt, DWCP_SVC_DRAINING, "dwcpctl drain");
	else
		set_state(rt, rt->run_state, rt->run_reason);
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
	if (drain_flag(rt) != (uint32_t)rt->paused)
		return 1;
	for (unsigned src = 0; src < DWCP_MAX_SLOTS && !rt->paused && !rt->draining; src++)
		if (src != rt->ctx.at.slot && dwcp_link_count(&rt->ctx.at.shm, src, rt->ctx.at.slot))
			return 1;
	return rt->svc->pending ? rt->svc->pending((struct dwcp_svc_ctx *)&rt->ctx) : 0;
}

/* Modelled in tests/model/handoff.pml (service start: adopt) and in upgrade.pml,
 * outofplace.pml, keep.pml (svc: adopt). */
/* Buffers the reclaimer handed to this generation (WORK(slot, gen)). */
static int adopt(struct rt *rt)
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

static void heartbeat(struct rt *rt, uint64_t now)
{
	__atomic_store_n(&my_slot(rt)->svc.heartbeat_ns, now, __ATOMIC_RELEASE);
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
static void loop(struct rt *rt)
{
	uint64_t last_work = dwcp_now_ns(), last_check = last_work, drain_deadline = 0;

	for (;;) {
		unsigned work = 0;
		uint64_t now;

		if (stop_requested && !rt->draining) {
			rt->draining = 1;
			drain_deadline = dwcp_now_ns() + DRAIN_NS;
			set_state(rt, DWCP_SVC_DRAINING, "SIGTERM");
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
		if (rt->svc->poll)
			work += rt->svc->poll(&rt->ctx, now);
		heartbeat(rt, now);
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

static void usage(FILE *f, const char *name)
{
	fprintf(f,
		"usage: %s [--instance NAME] [--run-dir DIR] [--takeover] [--verbose] [--help]\n"
		"  A dwcp service. dwcp-supervisor starts it; it attaches to the node's\n"
		"  hugepage memory as a DPDK secondary process.\n"
		"  --instance NAME  node instance to attach to (default dwcp)\n"
		"  --run-dir DIR    where the node's control socket lives (default /run/dwcp)\n"
		"  --takeover       take the slot over from the running generation\n"
		"                   (`dwcpctl upgrade` starts the new binary so)\n",
		name);
}

static int parse_args(int argc, char **argv, const char *name, struct dwcp_attach_opts *o)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "systemd", no_argument, NULL, 's' },
		{ "takeover", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': o->instance = optarg; break;
		case 'r': o->run_dir = optarg; break;
		case 'v': dwcp_log_init(name, DWCP_LOG_DEBUG); break;
		case 's': break;  /* sd_notify is a no-op without NOTIFY_SOCKET */
		case 't': o->takeover = true; break;
		case 'h': usage(stdout, name); exit(0);
		default: usage(stderr, name); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
		usage(stderr, name);
		return -EINVAL;
	}
	return 0;
}

static int start(struct rt *rt, struct dwcp_err *err)
{
	char reason[DWCP_REASON_MAX] = "";
	struct dwcp_ctl_block *ctl = rt->ctx.at.shm.ctl;
	struct dwcp_slot_svc *s = &my_slot(rt)->svc;
	uint64_t wd_usec = 0;
	int rc;

	rt->ctx.stats = &rt->ctx.at.shm.stats[rt->ctx.at.slot];
	rt->spin_ns = (uint64_t)ctl->spin_us * 1000;
	rt->hb_ns = (uint64_t)ctl->heartbeat_ms * 1000000;
	rt->poll_mode = (int)ctl->poll_mode;
	rt->ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
	rt->watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
	s->pid = getpid();
	s->state = DWCP_SVC_NONE;
	s->ready_ns = 0;
	heartbeat(rt, dwcp_now_ns());
	/* Attached as this generation: the supervisor now shows STARTING for us. */
	__atomic_store_n(&s->generation, rt->ctx.at.gen, __ATOMIC_RELEASE);
	if (adopt(rt))
		return dwcp_err_set(err, -ENOMEM, "out of memory");
	rc = rt->svc->init ? rt->svc->init(&rt->ctx, reason, sizeof(reason)) : 0;
	if (rc < 0)
		return dwcp_err_set(err, rc, "%s: engine init failed: %s", rt->svc->name,
				    reason[0] ? reason : strerror(-rc));
	rt->run_state = rc ? DWCP_SVC_STANDBY : DWCP_SVC_READY;
	snprintf(rt->run_reason, sizeof(rt->run_reason), "%s", reason);
	/* A drained slot stays drained across restarts and upgrades. */
	rt->paused = (int)drain_flag(rt);
	set_state(rt, rt->paused ? DWCP_SVC_DRAINING : rt->run_state,
		  rt->paused ? "dwcpctl drain" : reason);
	sd_notify(0, "READY=1");
	return 0;
}

/* An attach that failed in takeover mode: tell the supervisor why, so the
 * operator's `dwcpctl upgrade` prints it (our stderr goes to a log). It
 * acknowledges before we exit, so the reason is in before the death. */
static void report_takeover_failure(struct dwcp_attach *at, const struct dwcp_err *why)
{
	static uint8_t buf[DWCP_CTL_REPLY_MAX];
	struct dwcp_ctl_req_ext req;
	const struct dwcp_ctl_hdr *h;
	const void *p;
	struct dwcp_err err = { 0 };

	if (at->ctl_fd < 0)
		return;
	dwcp_ctl_req_takeover(&req, why->code < 0 ? why->code : -EPROTO, at->gen, why->msg);
	dwcp_ctl_call_ext(at->ctl_fd, &req, buf, sizeof(buf), 5000, &h, &p, &err);
}

/* Modelled in tests/model/upgrade.pml (svc: --takeover, TAKEOVER, wait for go). */
/* Attached in takeover mode: say so, then wait for "go" — a blocking read
 * on the control socket, woken by the answer, by SIGTERM (the supervisor
 * gave up or stops) or by the supervisor's death (the socket closes).
 * @return 0 on "go"; 1 to exit quietly; <0 with the reason in @p err. */
static int await_go(struct rt *rt, struct dwcp_err *err)
{
	static uint8_t buf[DWCP_CTL_REPLY_MAX];
	struct dwcp_attach *at = &rt->ctx.at;
	struct dwcp_ctl_req_ext req;
	const struct dwcp_ctl_hdr *h;
	const void *p;
	char what[96];
	int rc;

	snprintf(what, sizeof(what), "attached as generation %u (lcore %u)", at->gen, at->lcore);
	dwcp_ctl_req_takeover(&req, 0, at->gen, what);
	rc = dwcp_ctl_send_req_ext(at->ctl_fd, &req, err);
	if (rc)
		return rc;
	DWCP_INFO("%s: %s; waiting for the old generation to hand over", rt->svc->name, what);
	while ((rc = dwcp_ctl_recv_reply(at->ctl_fd, DWCP_CTL_TAKEOVER, buf, sizeof(buf), -1, &h,
					 &p, err)) == -EINTR)
		if (stop_requested)
			return 1;
	if (rc)
		return rc;
	if (h->status) {
		DWCP_WARN("%s: the supervisor called the takeover off: %s", rt->svc->name,
			  (const char *)p);
		return 1;
	}
	if (__atomic_load_n(&my_slot(rt)->sup.generation, __ATOMIC_ACQUIRE) != at->gen)
		return dwcp_err_set(err, -ESTALE, "takeover: \"go\" for generation %u, but the slot runs %u",
				    at->gen, my_slot(rt)->sup.generation);
	return 0;
}

int dwcp_svc_main(int argc, char **argv, const struct dwcp_svc *svc)
{
	struct dwcp_attach_opts o = { .role = DWCP_ROLE_SERVICE, .name = svc->name,
				      .prog = argv[0] };
	struct sigaction sa = { .sa_handler = on_sigterm };
	struct dwcp_err err = { 0 };
	struct rt *rt;

	dwcp_log_init(svc->name, DWCP_LOG_INFO);
	if (parse_args(argc, argv, svc->name, &o))
		return 2;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return 1;
	rt->svc = svc;
	if (dwcp_attach(&rt->ctx.at, &o, &err)) {
		DWCP_ERR("%s", err.msg);
		if (o.takeover)
			report_takeover_failure(&rt->ctx.at, &err);
		return err.code == -EPROTO ? 78 : 1;   /* 78: EX_CONFIG, do not retry blindly */
	}
	if (o.takeover) {
		int rc = await_go(rt, &err);

		if (rc)
			DWCP_ERR("%s", rc < 0 ? err.msg : "takeover called off; exiting");
		if (rc) {
			dwcp_attach_leave(&rt->ctx.at);
			return rc < 0 ? 1 : 0;
		}
	}
	if (start(rt, &err)) {
		DWCP_ERR("%s", err.msg);
		dwcp_attach_leave(&rt->ctx.at);
		return err.code == -EPROTO ? 78 : 1;
	}
	loop(rt);
	if (svc->fini)
		svc->fini(&rt->ctx);
	DWCP_INFO("%s: exiting (generation %u)", svc->name, rt->ctx.at.gen);
	/* After the supervisor's death the last one out removes the node's
	 * hugepage and runtime files (attach.h); otherwise a no-op. */
	dwcp_attach_leave(&rt->ctx.at);
	free(rt->adopted);
	free(rt);
	return 0;
}
