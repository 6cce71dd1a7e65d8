/* Attaching a process to a running dwcp node: the sequence every service
 * and every client goes through, in this order, each step with its own
 * refusal message:
 *
 *   1. connect to the control socket   "no dwcp supervisor for instance X"
 *   2. HELLO (ABI version, role, name) supervisor assigns slot, generation
 *                                       and lcore id, or refuses (ABI
 *                                       mismatch, already running)
 *   3. rte_eal_init as secondary        "no hugepages" / DPDK's reason
 *   4. look up the dwcp memzone         "no dwcp region"
 *   5. check ABI magic/version          "ABI mismatch"
 *   6. check the mempool-ops order      "ops order differs"
 *   7. check the slot's generation      "slot taken over"
 *
 * A takeover (the new binary of `dwcpctl upgrade`, started with
 * --takeover) runs the same sequence while the slot's old generation still
 * runs: the supervisor knows its pid and gives it the next generation and
 * that generation's lcore id, so step 7 accepts the slot's generation + 1
 * (or the slot's own, if the old one died meanwhile). Such a process must
 * not write the slot's svc half or touch links or buffers before the
 * supervisor's "go" (svc_runtime.c).
 *
 * The control socket stays open for the process's lifetime; the
 * supervisor watches the process through a pidfd, not the socket.
 *
 * From HELLO on, every attached process holds a shared flock on
 * <run_dir>/<instance>/attach.lock. It is how the last process of a node
 * whose supervisor died knows it is the last (dwcp_attach_leave): nobody
 * else can be using the hugepage file and the DPDK runtime dir then, so it
 * removes them, instead of leaving hugepages allocated until the next
 * `dwcp-supervisor start`.
 */
#ifndef DWCP_IPC_ATTACH_H
#define DWCP_IPC_ATTACH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "ipc/ctl_msg.h"
#include "ipc/shm.h"

#define DWCP_DEFAULT_INSTANCE "dwcp"
#define DWCP_DEFAULT_RUN_DIR  "/run/dwcp"

struct dwcp_attach {
	struct dwcp_shm shm;
	unsigned slot;
	uint32_t gen;
	unsigned lcore;
	int ctl_fd;
	int sup_pidfd;          /* readable when the supervisor dies */
	int inst_lock_fd;       /* shared flock on attach.lock; -1 when none */
	pid_t sup_pid;          /* the supervisor attached to; 0 before that */
	char instance[DWCP_CTL_NAME_MAX];
	/* What dwcp_attach_leave removes, from the HELLO reply. */
	char file_prefix[DWCP_CTL_NAME_MAX];
	char huge_dir[DWCP_CTL_PATH_MAX];
	char inst_dir[DWCP_CTL_PATH_MAX + DWCP_CTL_NAME_MAX + 2];
};

struct dwcp_attach_opts {
	const char *instance;   /* NULL = "dwcp" */
	const char *run_dir;    /* NULL = $DWCP_RUN_DIR or /run/dwcp */
	enum dwcp_ctl_role role;
	const char *name;       /* service name, or client label */
	const char *prog;       /* argv[0] for the EAL */
	bool takeover;          /* the new binary of an upgrade (see above) */
};

/**
 * Run the attach sequence above.
 * @return 0 with @p a filled; -errno with the refusal in @p err.
 * Concurrency: once per process (DPDK's EAL can be initialised once).
 */
int dwcp_attach(struct dwcp_attach *a, const struct dwcp_attach_opts *o, struct dwcp_err *err);

/**
 * Call once, as the process exits (services do, in dwcp_svc_main; a
 * client should when it sees the supervisor gone; dwcp_attach does on its
 * own failure): drop this process's share of attach.lock, and if then no
 * process of the instance is attached and no supervisor holds its lock,
 * remove the instance's hugepage files, its DPDK runtime dir and the dead
 * supervisor's socket and pid file — the state a clean `stop` leaves. A
 * process killed before it gets here just drops its share; the next
 * `dwcp-supervisor start` removes what is left.
 * @return 1 when this call removed the files, else 0. Idempotent.
 */
int dwcp_attach_leave(struct dwcp_attach *a);

/** Nonzero once the supervisor has died (polls the pidfd, never blocks). */
int dwcp_attach_supervisor_gone(const struct dwcp_attach *a);

/** The run directory: @p opt, else $DWCP_RUN_DIR, else /run/dwcp. */
const char *dwcp_attach_run_dir(const char *opt);

#endif
