/* Children: the supervisor's one recovery path (MINIX 3's reincarnation
 * server, STYLE #8).
 *
 * Deaths are learnt from a pidfd per process (readable the moment it
 * dies, whoever started it); hangs from the heartbeat timer, which turns a
 * missed heartbeat or an ignored SIGTERM into SIGKILL so that the same
 * death handler runs: reclaim the slot's buffers, reset its links, bump
 * its generation, restart it. The first restart is immediate; a process
 * that dies again quickly (or before it ever got READY) waits a capped,
 * doubling backoff, so a service that cannot start is not restarted in a
 * tight loop.
 *
 * A planned upgrade (upgrade.c) goes through the same handler: the old
 * generation's exit is reclaimed and its generation bumped like any
 * death, and then its successor, already attached, takes the slot instead
 * of a restart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/gpus.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "hang_report.h"
#include "ipc/link.h"
#include "ipc/peers.h"
#include "ipc/pool.h"
#include "ipc/reclaim.h"
#include "ipc/route.h"
#include "sup_internal.h"

#define STABLE_NS   (10ull * 1000000000ull)  /* up this long: next death restarts at once */
#define TERM_GRACE  5.0                      /* seconds between SIGTERM and SIGKILL */

static struct dwcp_slot *pub(const struct sup_child *c)
{
	return &c->sup->shm.ctl->slots[c->slot];
}

static const char *name_of(const struct sup_child *c)
{
	return pub(c)->sup.name;
}

/* The one place the supervisor half's state changes; logs old -> new. */
void sup_child_set_state(struct sup_child *c, enum dwcp_sup_state st, const char *why)
{
	static const char *const n[] = { "EMPTY", "STARTING", "RUNNING", "DEAD", "STOPPED" };
	struct dwcp_slot_sup *p = &pub(c)->sup;
	uint32_t old = p->state;

	__atomic_store_n(&p->state, st, __ATOMIC_RELEASE);
	DWCP_INFO("%s: %s -> %s (generation %u)%s%s", name_of(c), n[old < 5 ? old : 0], n[st],
		  p->generation, why ? ": " : "", why ? why : "");
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents);
static void on_restart_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_kill_timer(struct ev_loop *loop, ev_timer *w, int revents);

_Static_assert(DWCP_CFG_MAX_WORKERS <= DWCP_MAX_WORKERS, "config allows more workers than slots");

/* Workers service @p svc runs (1: its own slot alone). In systemd mode a
 * unit starts each worker (deploy/systemd/dwcp-worker@.service): auto
 * would wait for units nobody enabled, so it means one. */
unsigned sup_workers_wanted(const struct sup *s, unsigned svc)
{
	const struct dwcp_config *cfg = &s->cfg;

	switch (svc) {
	case DWCP_SLOT_SIMD:
		return cfg->systemd_services && !cfg->simd_workers ? 1 :
		       dwcp_config_workers(cfg->simd_workers, dwcp_cpu_usable());
	case DWCP_SLOT_NET:
		return cfg->systemd_services && !cfg->net_workers ? 1 :
		       dwcp_config_net_workers(cfg->net_workers, dwcp_cpu_usable());
	case DWCP_SLOT_MEM:
		return cfg->systemd_services && !cfg->mem_workers ? 1 :
		       dwcp_config_mem_workers(cfg->mem_workers, dwcp_cpu_usable());
	case DWCP_SLOT_RDMA:
		return cfg->rdma_workers;
	case DWCP_SLOT_GPU:
		return cfg->systemd_services && !cfg->gpu_workers ? 1 :
		       dwcp_config_gpu_workers(cfg->gpu_workers, dwcp_gpus_present());
	default:
		return 1;
	}
}

/* The `workers` setting of @p svc, for the log: "N" or "auto". */
static const char *workers_setting(const struct sup *s, unsigned svc)
{
	return svc == DWCP_SLOT_SIMD ? (s->cfg.simd_workers ? "N" : "auto") :
	       svc == DWCP_SLOT_NET ? (s->cfg.net_workers ? "N" : "auto") :
	       svc == DWCP_SLOT_MEM ? (s->cfg.mem_workers ? "N" : "auto") :
	       svc == DWCP_SLOT_GPU ? (s->cfg.gpu_workers ? "N" : "auto") : "N";
}

/* Give svc-simd, svc-net, svc-mem, svc-rdma and svc-gpu their further worker slots and
 * publish every service's route entry (before any process attaches: the
 * table is written once). */
static void assign_workers(struct sup *s)
{
	struct dwcp_ctl_block *ctl = s->shm.ctl;
	unsigned extra[DWCP_MAX_WORKERS], n_extra = 0, next = DWCP_SLOT_WORKER0;

	for (unsigned svc = 1; svc < DWCP_SLOT_CLIENT0; svc++) {
		n_extra = 0;
		if (s->child[svc].enabled) {
			unsigned want = sup_workers_wanted(s, svc);

			while (n_extra + 1 < want && next < DWCP_MAX_SLOTS) {
				struct sup_child *c = &s->child[next];

				c->enabled = true;
				snprintf(ctl->slots[next].sup.name, sizeof(ctl->slots[next].sup.name),
					 "%s.%u", dwcp_abi_slot_name(svc), n_extra + 1);
				extra[n_extra++] = next++;
			}
			if (n_extra)
				DWCP_INFO("%s: %u workers (slots %u and %u..%u; [%s] workers = %s)",
					  dwcp_abi_slot_name(svc), n_extra + 1, svc, extra[0],
					  extra[n_extra - 1], dwcp_abi_slot_name(svc) + 4,
					  workers_setting(s, svc));
		}
		/* svc-mem's workers each keep a part of the delta cache: a
		 * chunk goes to the one its (stream, seq) names. */
		dwcp_route_publish(ctl, svc, extra, n_extra, svc == DWCP_SLOT_MEM);
	}
}

void sup_children_init(struct sup *s)
{
	for (unsigned i = 0; i < DWCP_MAX_SLOTS; i++) {
		struct sup_child *c = &s->child[i];
		const char *n = dwcp_abi_slot_name(i);

		c->sup = s;
		c->slot = i;
		c->pidfd = -1;
		c->is_client = i >= DWCP_SLOT_CLIENT0 && !dwcp_abi_is_worker_slot(i);
		c->backoff_ms = s->cfg.backoff_ms;
		ev_init(&c->pid_w, on_pidfd);
		c->pid_w.data = c;
		ev_init(&c->restart_w, on_restart_timer);
		c->restart_w.data = c;
		ev_init(&c->kill_w, on_kill_timer);
		c->kill_w.data = c;
		snprintf(s->shm.ctl->slots[i].sup.name, sizeof(s->shm.ctl->slots[i].sup.name), "%s",
			 i < DWCP_SLOT_CLIENT0 ? n : "");
		s->shm.ctl->slots[i].sup.kind = c->is_client;
		s->shm.ctl->slots[i].sup.generation = 0;
		sup_upgrade_init(c);
	}
	for (unsigned k = 0; k < s->cfg.n_services; k++) {
		int slot = dwcp_abi_service_slot(s->cfg.services[k]);

		if (slot > 0)
			s->child[slot].enabled = true;
	}
	assign_workers(s);
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
		if (!sup_shows_service(s, i))
			continue;
		if (!s->child[i].enabled)
			sup_child_set_state(&s->child[i], DWCP_SUP_STOPPED, "not enabled in [services]");
		else if (s->cfg.systemd_services)
			sup_child_set_state(&s->child[i], DWCP_SUP_STARTING, "waiting for its systemd unit");
	}
}

int sup_slot_by_name(const struct sup *s, const char *name)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (sup_is_service_slot(i) && s->shm.ctl->slots[i].sup.name[0] &&
		    strcmp(s->shm.ctl->slots[i].sup.name, name) == 0)
			return (int)i;
	return -EINVAL;
}

void sup_child_watch(struct sup_child *c, pid_t pid, int pidfd, bool spawned)
{
	struct dwcp_slot_sup *p = &pub(c)->sup;

	c->pid = pid;
	c->pidfd = pidfd;
	c->spawned = spawned;
	c->kill_sent = false;
	c->kill_why[0] = c->stuck[0] = '\0';
	p->pid = pid;
	p->lcore = dwcp_abi_lcore(c->slot, p->generation);
	p->spawned_ns = dwcp_now_ns();
	ev_io_set(&c->pid_w, pidfd, EV_READ);
	ev_io_start(c->sup->loop, &c->pid_w);
}

static void exec_child(const struct sup_child *c, const char *path, bool takeover)
{
	const struct sup *s = c->sup;
	char *argv[] = { (char *)path, "--instance", (char *)s->cfg.instance,
			 "--run-dir", (char *)s->cfg.run_dir, takeover ? "--takeover" : NULL, NULL };
	sigset_t none;

	/* A service must not outlive a supervisor that dies without
	 * telling it (it also polls the supervisor's pidfd). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(path, argv);
	fprintf(stderr, "dwcp-supervisor: cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

const char *sup_child_binary(const struct sup_child *c, char *buf, size_t n)
{
	if (c->bin[0])
		snprintf(buf, n, "%s", c->bin);
	else
		snprintf(buf, n, "%s/%s", c->sup->bin_dir,
			 dwcp_abi_slot_name(dwcp_route_service_of(&c->sup->shm, c->slot)));
	return buf;
}

int sup_child_exec(struct sup_child *c, const char *path, bool takeover, pid_t *pid, int *pidfd)
{
	int e;

	if (access(path, X_OK) != 0) {
		e = errno;
		DWCP_ERR("%s: cannot start %s: %s (set [supervisor] bin_dir)", name_of(c), path,
			 strerror(e));
		return -e;
	}
	*pid = fork();
	if (*pid < 0)
		return -errno;
	if (*pid == 0)
		exec_child(c, path, takeover);
	*pidfd = (int)syscall(SYS_pidfd_open, *pid, 0);
	if (*pidfd < 0) {
		e = errno;
		DWCP_ERR("%s: pidfd_open(%d): %s", name_of(c), (int)*pid, strerror(e));
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		return -e;
	}
	fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
	return 0;
}

int sup_child_spawn(struct sup_child *c)
{
	char path[DWCP_CTL_TEXT_MAX + DWCP_PATH_MAX];
	pid_t pid;
	int pidfd, rc;

	rc = sup_child_exec(c, sup_child_binary(c, path, sizeof(path)), false, &pid, &pidfd);
	if (rc)
		return rc;
	sup_child_watch(c, pid, pidfd, true);
	sup_child_set_state(c, DWCP_SUP_STARTING, "spawned");
	return 0;
}

static void describe_exit(const siginfo_t *si, char *buf, size_t n)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, n, "exited with status %d", si->si_status);
	else if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
		snprintf(buf, n, "killed by signal %d (%s)", si->si_status, strsignal(si->si_status));
	else
		snprintf(buf, n, "died");
}

static void schedule_restart(struct sup_child *c, uint64_t up_ns, bool reached_ready)
{
	double delay = 0;

	if (c->restart_now || (reached_ready && up_ns >= STABLE_NS)) {
		c->backoff_ms = c->sup->cfg.backoff_ms;
	} else if (reached_ready && pub(c)->sup.restarts == 0) {
		/* the first crash of a service that worked: at once */
	} else {
		delay = c->backoff_ms / 1000.0;
		c->backoff_ms = c->backoff_ms * 2 > c->sup->cfg.backoff_max_ms ?
				c->sup->cfg.backoff_max_ms : c->backoff_ms * 2;
	}
	c->restart_now = false;
	ev_timer_set(&c->restart_w, delay, 0);
	ev_timer_start(c->sup->loop, &c->restart_w);
	if (delay > 0)
		DWCP_WARN("%s: restarting in %.0f ms (backoff)", name_of(c), delay * 1000);
}

/* Modelled in tests/model/upgrade.pml, outofplace.pml, keep.pml, clientdeath.pml
 * (supervisor: a death) and handoff.pml (died:). */
/* The death handler: every way a process can end comes here. */
static void handle_death(struct sup_child *c, const char *why)
{
	struct dwcp_slot *p = pub(c);
	struct dwcp_reclaim_result r;
	uint32_t dead = p->sup.generation;
	uint64_t now = dwcp_now_ns(), up = now - p->sup.spawned_ns;
	bool ready = p->svc.generation == dead && p->svc.ready_ns != 0;
	pid_t pid = c->pid;

	ev_io_stop(c->sup->loop, &c->pid_w);
	ev_timer_stop(c->sup->loop, &c->kill_w);
	close(c->pidfd);
	c->pidfd = -1;
	c->pid = 0;
	p->sup.pid = 0;
	sup_child_set_state(c, DWCP_SUP_DEAD, why);
	dwcp_reclaim_slot(&c->sup->shm, c->slot, dead, dead + 1, !c->is_client, &r);
	DWCP_INFO("%s: reclaimed generation %u: %u freed, %u re-delivered, %u drained",
		  name_of(c), dead, r.freed, r.redelivered, r.drained);
	/* The DPDK port's consumer (svc-net/dport.c): its rings too. */
	sup_port_process_died(c->sup, pid);
	__atomic_store_n(&p->sup.generation, dead + 1, __ATOMIC_RELEASE);
	if (c->is_client) {
		sup_child_set_state(c, DWCP_SUP_EMPTY, NULL);
		return;
	}
	if (c->sup->stopping || !c->enabled) {
		sup_child_set_state(c, DWCP_SUP_STOPPED, NULL);
		return;
	}
	/* A planned upgrade's old generation exiting is no restart. */
	if (c->up.phase == UP_HANDOVER && sup_upgrade_old_died(c, why))
		return;
	/* A crash: its successor has not run yet (an upgrade's hands over
	 * above, having set its own counts already). */
	dwcp_peers_forget_worker(&c->sup->shm, p->sup.service ? p->sup.service : c->slot, p->sup.worker);
	/* What dwcpctl status says of it until the next crash: an operator
	 * asking why a service restarted should not need the log. */
	snprintf(c->last_death, sizeof(c->last_death), "%s%s%s%s%s", why,
		 c->kill_why[0] ? " by the supervisor: " : "", c->kill_why,
		 c->stuck[0] ? "; stuck: " : "", c->stuck);
	c->last_death_ns = now;
	p->sup.died_ns = now;
	p->sup.restarts++;
	c->recovery_pending = true;
	/* A crash while an upgrade's successor attaches: it takes over. */
	if (c->up.phase != UP_NONE && sup_upgrade_old_died(c, why))
		return;
	/* systemd mode: systemd restarts the unit; it attaches as dead + 1. */
	if (!c->sup->cfg.systemd_services)
		schedule_restart(c, up, ready);
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sup_child *c = w->data;
	siginfo_t si = { 0 };
	char why[96] = "died";

	(void)loop;
	(void)revents;
	if (c->spawned && waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG) == 0 &&
	    si.si_pid != 0)
		describe_exit(&si, why, sizeof(why));
	else if (!c->spawned)
		snprintf(why, sizeof(why), "pid %d exited", (int)c->pid);
	handle_death(c, why);
	if (c->sup->stopping && sup_children_none_alive(c->sup))
		ev_break(c->sup->loop, EVBREAK_ALL);
}

static void on_restart_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sup_child *c = w->data;

	(void)loop;
	(void)revents;
	if (c->sup->stopping || c->pid)
		return;
	if (sup_child_spawn(c) != 0)
		schedule_restart(c, 0, false);
}

static void kill_child(struct sup_child *c, const char *why)
{
	if (!c->pid || c->kill_sent)
		return;
	DWCP_WARN("%s (pid %d): %s: SIGKILL", name_of(c), (int)c->pid, why);
	snprintf(c->kill_why, sizeof(c->kill_why), "%s", why);
	c->kill_sent = true;
	syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
}

/* A kill for a hang: first say where each thread was stuck (the kill
 * erases it; hang_report.h). */
static void kill_hung_child(struct sup_child *c, const char *why)
{
	if (!c->pid || c->kill_sent)
		return;
	/* (an unreadable /proc leaves c->stuck empty) */
	if (sup_hang_describe("/proc", c->pid, c->stuck, sizeof(c->stuck)) > 0)
		DWCP_WARN("%s (pid %d) was stuck: %s", name_of(c), (int)c->pid, c->stuck);
	kill_child(c, why);
}

static void on_kill_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	kill_child(w->data, "did not exit after SIGTERM");
}

void sup_child_terminate(struct sup_child *c)
{
	if (!c->pid)
		return;
	syscall(SYS_pidfd_send_signal, c->pidfd, SIGTERM, NULL, 0);
	ev_timer_set(&c->kill_w, TERM_GRACE, 0);
	ev_timer_start(c->sup->loop, &c->kill_w);
}

void sup_child_restart_later(struct sup_child *c)
{
	schedule_restart(c, 0, false);
}

void sup_child_request_restart(struct sup_child *c)
{
	c->restart_now = true;
	if (c->pid) {
		sup_child_terminate(c);
		return;
	}
	ev_timer_stop(c->sup->loop, &c->restart_w);
	c->restart_now = false;
	if (sup_child_spawn(c) != 0)
		schedule_restart(c, 0, false);
}

void sup_children_stop_all(struct sup *s)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
		ev_timer_stop(s->loop, &s->child[i].restart_w);
		sup_child_terminate(&s->child[i]);
		sup_upgrade_stop(&s->child[i]);
	}
}

bool sup_children_none_alive(const struct sup *s)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (s->child[i].pid || s->child[i].up.pid)
			return false;
	return true;
}

bool sup_children_all_up(const struct sup *s)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
		enum dwcp_state st;

		if (!sup_is_service_slot(i) || !s->child[i].enabled)
			continue;
		st = dwcp_slot_state(&s->shm.ctl->slots[i]);
		if (st != DWCP_STATE_READY && st != DWCP_STATE_STANDBY)
			return false;
	}
	return true;
}

/* Modelled in tests/model/clientdeath.pml (supervisor: drain_orphan_results). */
/* Work a dead client submitted can finish after its death and land in its
 * input links. While the slot is empty nobody else reads them, and this
 * runs in the same thread that hands slots out (HELLO), so the supervisor
 * may stand in as their consumer. */
static void drain_orphan_results(struct sup_child *c)
{
	const struct dwcp_shm *shm = &c->sup->shm;
	uint32_t gen = pub(c)->sup.generation, idx[64];
	unsigned n;

	for (unsigned src = 1; src < DWCP_MAX_SLOTS; src++) {
		if (src == c->slot || !dwcp_link_count(shm, src, c->slot))
			continue;
		while ((n = dwcp_link_dequeue_burst(shm, src, c->slot, gen, idx, 64)) > 0)
			for (unsigned i = 0; i < n; i++)
				dwcp_pool_free(shm, idx[i]);
	}
}

/* Heartbeat check of one live process; also times recoveries. @p stalled:
 * the supervisor's own check came late, so heartbeats are not judged. */
static void check_child(struct sup_child *c, uint64_t now, bool stalled)
{
	struct dwcp_slot *p = pub(c);
	enum dwcp_state st = dwcp_slot_state(p);
	uint64_t hb_limit = (uint64_t)c->sup->cfg.heartbeat_timeout_ms * 1000000ull;
	uint64_t init_limit = (uint64_t)c->sup->cfg.init_timeout_ms * 1000000ull;
	uint64_t hb = __atomic_load_n(&p->svc.heartbeat_ns, __ATOMIC_ACQUIRE);
	char why[96];

	if (st == DWCP_STATE_STARTING && now - p->sup.spawned_ns > init_limit) {
		snprintf(why, sizeof(why), "not READY %u ms after start", c->sup->cfg.init_timeout_ms);
		kill_hung_child(c, why);
	} else if (!c->is_client && !stalled && st != DWCP_STATE_STARTING && hb && now > hb &&
		   now - hb > hb_limit) {
		/* Clients run user code between calls: only their death counts. */
		snprintf(why, sizeof(why), "no heartbeat for %llu ms (hung?)",
			 (unsigned long long)((now - hb) / 1000000));
		kill_hung_child(c, why);
	}
	/* A drained slot comes back DRAINING: serving, without new input. */
	if (c->recovery_pending && (st == DWCP_STATE_READY || st == DWCP_STATE_STANDBY ||
				    st == DWCP_STATE_DRAINING)) {
		p->sup.recovery_ns = p->svc.ready_ns - p->sup.died_ns;
		c->recovery_pending = false;
		DWCP_INFO("%s: recovered in %.1f ms (death to READY)", name_of(c),
			  p->sup.recovery_ns / 1e6);
	}
}

void sup_children_check(struct sup *s)
{
	uint64_t now = dwcp_now_ns();
	/* This check came later than half the heartbeat timeout after the
	 * last (every heartbeat_ms): the supervisor itself went unscheduled
	 * (the host stalled the VM, or the CPUs were taken), and so, most
	 * likely, did the services. A stale heartbeat then says nothing of a
	 * hang; the next check, on time, judges them. */
	bool stalled = s->last_check_ns &&
		       now - s->last_check_ns > (uint64_t)s->cfg.heartbeat_timeout_ms * 500000ull;

	s->last_check_ns = now;
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
		if (s->child[i].pid)
			check_child(&s->child[i], now, stalled);
		else if (s->child[i].is_client)
			drain_orphan_results(&s->child[i]);
		if (!s->child[i].is_client) {
			sup_upgrade_check(&s->child[i], now);
			sup_drain_check(&s->child[i], now);
		}
	}
}
