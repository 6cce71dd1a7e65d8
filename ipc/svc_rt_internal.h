/* What ipc/svc_runtime.c (the loop) and ipc/svc_main.c (the process
 * around it) share. Private to those two files. */
#ifndef DWCP_IPC_SVC_RT_INTERNAL_H
#define DWCP_IPC_SVC_RT_INTERNAL_H

#include "ipc/svc_runtime.h"

#define BURST      32u
#define PARK_MAX   (BURST * DWCP_MAX_SLOTS)

struct rt {
	struct dwcp_svc_ctx ctx;
	const struct dwcp_svc *svc;
	unsigned service;            /* the service slot this worker serves (route.h) */
	uint32_t route_cursor;       /* round-robin position of dwcp_route_pick */
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

/** The slot of this process. */
struct dwcp_slot *dwcp_svc_rt_my_slot(const struct rt *rt);
/** The one place the service half's state changes; logs old -> new. */
void dwcp_svc_rt_set_state(struct rt *rt, enum dwcp_svc_state st, const char *reason);
/** Collect the buffers re-delivered to this generation. @return 0 or -ENOMEM. */
int dwcp_svc_rt_adopt(struct rt *rt);
void dwcp_svc_rt_heartbeat(struct rt *rt, uint64_t now);
/** Whether `dwcpctl drain` holds the slot. */
uint32_t dwcp_svc_rt_drain_flag(const struct rt *rt);
/** Run until SIGTERM has drained, the supervisor died or a drain timed out. */
void dwcp_svc_rt_loop(struct rt *rt);
/** SIGTERM or SIGINT arrived (svc_main.c's signal handler). */
int dwcp_svc_stop_requested(void);

#endif
