/* The service process (svc_runtime.h: dwcp_svc_main): arguments, attach,
 * the takeover handshake of a planned upgrade, the engine's init, then the
 * loop of ipc/svc_runtime.c.
 *
 * With --takeover (`dwcpctl upgrade`) the process attaches while the old
 * generation still runs, says so (TAKEOVER) and blocks on the control
 * socket until the supervisor answers "go" — after the old generation
 * drained and exited and its buffers and links were reclaimed for this
 * one. Only then does it write the slot's svc half, adopt, run the
 * service's init and loop. init waits for "go" too: services' inits bind
 * listening ports (svc-net) and rebuild shared indexes (svc-mem's delta
 * cache), which must not happen while the old generation still uses them.
 *
 * The stop flag is the one process-wide variable: a signal handler can
 * reach nothing else.
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
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/svc_rt_internal.h"

static volatile sig_atomic_t stop_requested;

static void on_sigterm(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int dwcp_svc_stop_requested(void)
{
	return stop_requested != 0;
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
	struct dwcp_slot_svc *s = &dwcp_svc_rt_my_slot(rt)->svc;
	uint64_t wd_usec = 0;
	int rc;

	rt->ctx.stats = &rt->ctx.at.shm.stats[rt->ctx.at.slot];
	memcpy(rt->ctx.ops, rt->svc->ops, sizeof(rt->ctx.ops));
	rt->service = ctl->slots[rt->ctx.at.slot].sup.service ?
			      ctl->slots[rt->ctx.at.slot].sup.service : rt->ctx.at.slot;
	rt->spin_ns = (uint64_t)ctl->spin_us * 1000;
	rt->hb_ns = (uint64_t)ctl->heartbeat_ms * 1000000;
	rt->poll_mode = (int)ctl->poll_mode;
	rt->ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
	rt->watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
	s->pid = getpid();
	s->state = DWCP_SVC_NONE;
	s->ready_ns = 0;
	dwcp_svc_rt_heartbeat(rt, dwcp_now_ns());
	/* Attached as this generation: the supervisor now shows STARTING for us. */
	__atomic_store_n(&s->generation, rt->ctx.at.gen, __ATOMIC_RELEASE);
	if (dwcp_svc_rt_adopt(rt))
		return dwcp_err_set(err, -ENOMEM, "out of memory");
	rc = rt->svc->init ? rt->svc->init(&rt->ctx, reason, sizeof(reason)) : 0;
	if (rc < 0)
		return dwcp_err_set(err, rc, "%s: engine init failed: %s", rt->svc->name,
				    reason[0] ? reason : strerror(-rc));
	/* Before the state: whoever sees us READY finds our ops too. */
	dwcp_route_publish_ops(ctl, rt->service, rt->ctx.ops);
	rt->run_state = rc ? DWCP_SVC_STANDBY : DWCP_SVC_READY;
	snprintf(rt->run_reason, sizeof(rt->run_reason), "%s", reason);
	/* A drained slot stays drained across restarts and upgrades. */
	rt->paused = (int)dwcp_svc_rt_drain_flag(rt);
	dwcp_svc_rt_set_state(rt, rt->paused ? DWCP_SVC_DRAINING : rt->run_state,
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
	if (__atomic_load_n(&dwcp_svc_rt_my_slot(rt)->sup.generation, __ATOMIC_ACQUIRE) != at->gen)
		return dwcp_err_set(err, -ESTALE, "takeover: \"go\" for generation %u, but the slot runs %u",
				    at->gen, dwcp_svc_rt_my_slot(rt)->sup.generation);
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
	dwcp_svc_rt_loop(rt);
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
