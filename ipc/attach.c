/* The attach sequence (attach.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_memzone.h>

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
	a->sup_pidfd = (int)syscall(SYS_pidfd_open, a->shm.ctl->sup_pid, 0);
	if (a->sup_pidfd < 0)
		return dwcp_err_set(err, -ESRCH, "the supervisor (pid %d) is gone",
				    a->shm.ctl->sup_pid);
	return 0;
}

int dwcp_attach(struct dwcp_attach *a, const struct dwcp_attach_opts *o, struct dwcp_err *err)
{
	struct dwcp_ctl_hello_reply r;
	struct dwcp_eal_params ep;
	int rc;

	memset(a, 0, sizeof(*a));
	a->sup_pidfd = -1;
	snprintf(a->instance, sizeof(a->instance), "%s",
		 o->instance ? o->instance : DWCP_DEFAULT_INSTANCE);
	a->ctl_fd = dwcp_ctl_connect(dwcp_attach_run_dir(o->run_dir), a->instance, err);
	if (a->ctl_fd < 0)
		return a->ctl_fd;
	rc = hello(a, o, &r, err);
	if (rc)
		return rc;
	a->slot = r.slot;
	a->gen = r.generation;
	a->lcore = r.lcore;
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

int dwcp_attach_supervisor_gone(const struct dwcp_attach *a)
{
	struct pollfd p = { .fd = a->sup_pidfd, .events = POLLIN };

	return a->sup_pidfd >= 0 && poll(&p, 1, 0) == 1;
}
