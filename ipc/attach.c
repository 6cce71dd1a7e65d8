/* The attach sequence (attach.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_memzone.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/attach.h"
#include "ipc/eal.h"

const char *dwcp_attach_run_dir(const char *opt)
{
	const char *env = getenv("DWCP_RUN_DIR");

	if (opt && *opt)
		return opt;
	return env && *env ? env : DWCP_DEFAULT_RUN_DIR;
}

static int hello(struct dwcp_attach *a, const struct dwcp_attach_opts *o,
		 struct dwcp_ctl_hello_reply *out, struct dwcp_err *err)
{
	static __thread uint8_t buf[DWCP_CTL_REPLY_MAX];
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	struct dwcp_ctl_req req;
	int rc;

	if (dwcp_ctl_req_hello(&req, o->role, o->name))
		return dwcp_err_set(err, -ENAMETOOLONG, "name '%s' too long", o->name);
	rc = dwcp_ctl_call(a->ctl_fd, &req, buf, sizeof(buf), 10000, &h, &payload, err);
	if (rc)
		return rc;
	if (h->status)
		return dwcp_err_set(err, h->status, "%s", (const char *)payload);
	memcpy(out, payload, sizeof(*out));
	return 0;
}

static int map_region(struct dwcp_attach *a, struct dwcp_err *err)
{
	const struct rte_memzone *mz = rte_memzone_lookup(DWCP_MZ_SHM);
	int rc;

	if (!mz)
		return dwcp_err_set(err, -ENOENT,
				    "no dwcp region in the hugepage memory of instance '%s': is `dwcp-supervisor --instance %s start` running (and not another DPDK program with that file-prefix)?",
				    a->instance, a->instance);
	rc = dwcp_shm_map(mz->addr, mz->len, &a->shm, err);
	if (rc)
		return rc;
	return dwcp_eal_check_ops(a->shm.ctl, err);
}

static int check_slot(struct dwcp_attach *a, bool takeover, struct dwcp_err *err)
{
	const struct dwcp_slot *s = &a->shm.ctl->slots[a->slot];
	uint32_t gen = __atomic_load_n(&s->sup.generation, __ATOMIC_ACQUIRE);

	/* A takeover attaches as the next generation while the current one
	 * still runs (or has just died, and then the slot is already its). */
	if (takeover && gen + 1 != a->gen && gen != a->gen)
		return dwcp_err_set(err, -ESTALE,
				    "--takeover: slot %u runs generation %u, but this process was given %u: --takeover is only for the binary `dwcpctl upgrade` starts",
				    a->slot, gen, a->gen);
	if (!takeover && gen != a->gen)
		return dwcp_err_set(err, -ESTALE,
				    "slot %u was given to generation %u while this process attached as %u",
				    a->slot, gen, a->gen);
	a->sup_pid = a->shm.ctl->sup_pid;
	a->sup_pidfd = (int)syscall(SYS_pidfd_open, a->shm.ctl->sup_pid, 0);
	if (a->sup_pidfd < 0)
		return dwcp_err_set(err, -ESRCH, "the supervisor (pid %d) is gone",
				    a->shm.ctl->sup_pid);
	return 0;
}

/* Taken after HELLO, before the EAL maps anything: from then on this
 * process may use the node's files. Blocking, because the only exclusive
 * holder is a departing process removing a dead node's files, for a few
 * ms. A process that cannot open the file (an old run dir) goes without:
 * it then only delays nobody's cleanup. */
static void take_share(struct dwcp_attach *a)
{
	char p[sizeof(a->inst_dir) + 16];

	snprintf(p, sizeof(p), "%s/attach.lock", a->inst_dir);
	a->inst_lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->inst_lock_fd < 0)
		return;
	while (flock(a->inst_lock_fd, LOCK_SH) != 0 && errno == EINTR)
		;
}

static int attach_steps(struct dwcp_attach *a, const struct dwcp_attach_opts *o,
			struct dwcp_err *err)
{
	struct dwcp_ctl_hello_reply r;
	struct dwcp_eal_params ep;
	int rc;

	a->ctl_fd = dwcp_ctl_connect(dwcp_attach_run_dir(o->run_dir), a->instance, err);
	if (a->ctl_fd < 0)
		return a->ctl_fd;
	rc = hello(a, o, &r, err);
	if (rc)
		return rc;
	a->slot = r.slot;
	a->gen = r.generation;
	a->lcore = r.lcore;
	snprintf(a->file_prefix, sizeof(a->file_prefix), "%s", r.file_prefix);
	snprintf(a->huge_dir, sizeof(a->huge_dir), "%s", r.huge_dir);
	take_share(a);
	ep = (struct dwcp_eal_params){ .prog = o->prog ? o->prog : o->name,
				       .file_prefix = r.file_prefix, .huge_dir = r.huge_dir,
				       .lcore = r.lcore, .primary = 0 };
	rc = dwcp_eal_init(&ep, err);
	if (rc)
		return rc;
	rc = map_region(a, err);
	if (rc)
		return rc;
	return check_slot(a, o->takeover, err);
}

int dwcp_attach(struct dwcp_attach *a, const struct dwcp_attach_opts *o, struct dwcp_err *err)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->sup_pidfd = -1;
	a->inst_lock_fd = -1;
	snprintf(a->instance, sizeof(a->instance), "%s",
		 o->instance ? o->instance : DWCP_DEFAULT_INSTANCE);
	snprintf(a->inst_dir, sizeof(a->inst_dir), "%s/%s", dwcp_attach_run_dir(o->run_dir),
		 a->instance);
	rc = attach_steps(a, o, err);
	/* The supervisor may have died while we attached (after HELLO):
	 * then we may be the last one, and our EAL init may even have
	 * re-created the runtime dir the others removed. */
	if (rc)
		dwcp_attach_leave(a);
	return rc;
}

/* Modelled on `dwcp-supervisor stop`'s end state: the log and the lock
 * files stay, the rest goes. */
static void remove_node_files(const struct dwcp_attach *a)
{
	static const char *const files[] = { "ctl.sock", "supervisor.pid" };
	char p[sizeof(a->inst_dir) + 32];

	dwcp_eal_remove_leftovers(a->file_prefix, a->huge_dir);
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", a->inst_dir, files[i]);
		unlink(p);
	}
}

/* True when the thread-group leader of @p pid has exited (a zombie, or
 * gone), even if other threads of it still run. */
static bool leader_exited(pid_t pid)
{
	char p[64], buf[256], *rp;
	FILE *f = NULL;
	size_t n = 0;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "re");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

/* Whether the supervisor has exited, as far as its lock is concerned.
 * Its pidfd turns readable once every thread of it has exited, so its
 * files, the lock among them, are closed by then. But a service it
 * spawned learns of its death earlier, from PR_SET_PDEATHSIG, sent when
 * its main thread exits, while its other (DPDK) threads may still hold
 * the files: then (the main thread a zombie) wait for the pidfd, for
 * milliseconds, bounded. A live supervisor is never waited for. Without
 * a pidfd (an attach that failed before it) the lock test alone decides. */
#define SUP_EXIT_WAIT_MS 1000
static bool supervisor_dead(const struct dwcp_attach *a)
{
	struct pollfd p = { .fd = a->sup_pidfd, .events = POLLIN };
	uint64_t end;
	int rc;

	if (a->sup_pidfd < 0 || dwcp_attach_supervisor_gone(a))
		return true;
	if (!leader_exited(a->sup_pid))
		return false;
	/* The supervisor's death signals us while we wait for it: its
	 * PR_SET_PDEATHSIG comes again as each of its threads exits (a
	 * child is handed from thread to thread). A poll it interrupts goes
	 * on with what is left of the bound (once in ~40 such deaths, the
	 * last one out took the interruption for a live supervisor and left
	 * the node's files behind). */
	end = dwcp_now_ns() + SUP_EXIT_WAIT_MS * 1000000ull;
	for (;;) {
		uint64_t now = dwcp_now_ns();

		rc = poll(&p, 1, now < end ? (int)((end - now + 999999) / 1000000) : 0);
		if (rc >= 0 || errno != EINTR || now >= end)
			return rc == 1;
	}
}

int dwcp_attach_leave(struct dwcp_attach *a)
{
	char p[sizeof(a->inst_dir) + 32];
	int sup_fd, removed = 0;

	if (a->inst_lock_fd < 0)
		return 0;
	/* Unlock, then try for it exclusively: of processes leaving at the
	 * same time, the one whose try comes after every share is gone
	 * gets it (or one that got it after that point does), so the
	 * last one out always finds out. */
	flock(a->inst_lock_fd, LOCK_UN);
	if (flock(a->inst_lock_fd, LOCK_EX | LOCK_NB) == 0 && a->file_prefix[0] &&
	    supervisor_dead(a)) {
		/* A live supervisor holds its lock for its whole life, until
		 * after it removed these files itself; a new one takes it
		 * before anything else. Holding it, we race neither. */
		snprintf(p, sizeof(p), "%s/supervisor.lock", a->inst_dir);
		sup_fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (sup_fd >= 0 && flock(sup_fd, LOCK_EX | LOCK_NB) == 0) {
			remove_node_files(a);
			removed = 1;
			DWCP_INFO("instance '%s': its supervisor is gone and no other process is attached: hugepage and runtime files removed",
				  a->instance);
		}
		if (sup_fd >= 0)
			close(sup_fd);
	}
	close(a->inst_lock_fd);
	a->inst_lock_fd = -1;
	return removed;
}

int dwcp_attach_supervisor_gone(const struct dwcp_attach *a)
{
	struct pollfd p = { .fd = a->sup_pidfd, .events = POLLIN };

	return a->sup_pidfd >= 0 && poll(&p, 1, 0) == 1;
}
