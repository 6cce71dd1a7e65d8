/* Planned upgrade (`dwcpctl upgrade SVC --binary PATH`, DESIGN §4): the
 * new binary attaches while the old generation still runs, the old one
 * drains and exits, the new one takes the slot over.
 *
 *   supervisor                     old (gen g)         successor (gen g+1)
 *   UPGRADE: spawn PATH --takeover                      HELLO -> gen g+1, lcore of g+1
 *                                                       EAL init, region, ABI, ops order
 *                                  (runs untouched)     TAKEOVER (attached), blocks
 *   SIGTERM old                    DRAINING: no input,
 *                                  flush parked, exit 0
 *   pidfd: the death handler       (gone)
 *     reclaims gen g for g+1 (its WORK buffers re-delivered, its link
 *     heads reset), bumps the generation to g+1 — the recovery path of
 *     any death — and then, instead of a restart:
 *   successor becomes the slot's process; "go"          svc half, adopt, init, READY
 *   READY seen: answer dwcpctl with the pause
 *
 * The successor owns nothing before "go" (no buffer, no link position, not
 * the svc half), so it can fail or be killed at any point before without
 * any reclaim, and the old generation never notices: the upgrade is
 * refused with the successor's own reason (its HELLO refusal — an ABI
 * mismatch —, the attach error it reports in TAKEOVER, or how it exited).
 * From SIGTERM on there is no way back to the old process; a successor
 * that fails then is followed by an ordinary restart from the old binary.
 *
 * Hot standby ([supervisor] hot_standby) is the same machinery without the
 * SIGTERM: a successor of the slot's own binary attaches ahead of need and
 * parks (UP_STANDBY). When the slot's process dies, the death handler
 * reclaims for the standby's generation and the standby is told "go" at
 * once — recovery without the cold start's DPDK attach. A new standby is
 * spawned once the slot is READY again. An operator's upgrade first
 * dismisses the standby (it owns nothing).
 *
 * The pause (blackout) runs from the old generation's SIGTERM — it takes
 * no input from then — to the successor's READY, both CLOCK_MONOTONIC:
 * drain (SIGTERM -> exit seen) + takeover (exit -> READY: reclaim, "go",
 * adopt, the service's init).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "sup_internal.h"

static struct dwcp_slot *pub(const struct sup_child *c)
{
	return &c->sup->shm.ctl->slots[c->slot];
}

static const char *name_of(const struct sup_child *c)
{
	return pub(c)->sup.name;
}

#define STANDBY_RETRY_NS (1000ull * 1000000ull)

static double ms(uint64_t ns)
{
	return ns / 1e6;
}

static void on_succ_pidfd(struct ev_loop *loop, ev_io *w, int revents);
static void on_attach_timeout(struct ev_loop *loop, ev_timer *w, int revents);

void sup_upgrade_init(struct sup_child *c)
{
	c->up.pidfd = -1;
	ev_init(&c->up.pid_w, on_succ_pidfd);
	c->up.pid_w.data = c;
	ev_init(&c->up.attach_w, on_attach_timeout);
	c->up.attach_w.data = c;
}

struct sup_child *sup_upgrade_successor_of(struct sup *s, pid_t pid)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (sup_is_service_slot(i) && s->child[i].up.pid && s->child[i].up.pid == pid)
			return &s->child[i];
	return NULL;
}

bool sup_upgrade_busy(const struct sup_child *c)
{
	return c->up.phase != UP_NONE &&
	       !(c->up.standby && (c->up.phase == UP_ATTACHING || c->up.phase == UP_STANDBY));
}

pid_t sup_upgrade_standby_pid(const struct sup_child *c)
{
	return c->up.standby && (c->up.phase == UP_ATTACHING || c->up.phase == UP_STANDBY) ?
		       c->up.pid : 0;
}

void sup_upgrade_note(struct sup_child *c, const char *msg)
{
	snprintf(c->up.why, sizeof(c->up.why), "%s", msg);
}

void sup_upgrade_forget_conn(struct sup_child *c, const struct sup_conn *cn)
{
	if (c->up.succ_cn == cn)
		c->up.succ_cn = NULL;
	if (c->pending.cn == cn)
		c->pending.cn = NULL;
}

static void end_upgrade(struct sup_child *c)
{
	ev_timer_stop(c->sup->loop, &c->up.attach_w);
	c->up.phase = UP_NONE;
	c->up.succ_cn = NULL;
	c->up.attached = c->up.old_dead = c->up.old_crashed = c->up.standby = false;
}

/* Dismiss a hot standby before an upgrade: it owns nothing, so SIGKILL
 * and reap it here (it dies at once; no reclaim). */
static void dismiss_standby(struct sup_child *c)
{
	struct sup_upgrade *u = &c->up;
	siginfo_t si;

	if (!u->standby || !u->pid)
		return;
	ev_io_stop(c->sup->loop, &u->pid_w);
	syscall(SYS_pidfd_send_signal, u->pidfd, SIGKILL, NULL, 0);
	waitid(P_PIDFD, (id_t)u->pidfd, &si, WEXITED);
	close(u->pidfd);
	DWCP_INFO("%s: hot standby pid %d dismissed for an upgrade", name_of(c), (int)u->pid);
	u->pidfd = -1;
	u->pid = 0;
	end_upgrade(c);
}

/* ---- the request ---- */

/* Why @p path cannot be a service binary, or 0. */
static int check_binary(const char *path, char *msg, size_t n)
{
	struct stat st;

	if (path[0] != '/') {
		snprintf(msg, n, "--binary '%s' is not an absolute path (dwcpctl makes it one; the supervisor runs elsewhere)", path);
		return -EINVAL;
	}
	if (stat(path, &st) != 0) {
		snprintf(msg, n, "--binary %s: %s", path, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, n, "--binary %s is not a regular file", path);
		return -EINVAL;
	}
	if (!(st.st_mode & 0111) || access(path, X_OK) != 0) {
		snprintf(msg, n, "--binary %s is not executable: chmod +x %s", path, path);
		return -EACCES;
	}
	return 0;
}

/* Why slot @p c cannot be upgraded now, or 0. */
static int check_slot(const struct sup_child *c, char *msg, size_t n)
{
	enum dwcp_state st = dwcp_slot_state(pub(c));

	if (c->sup->cfg.systemd_services) {
		snprintf(msg, n, "instance '%s' runs its services as systemd units, and systemd owns their processes: install the new binary and `systemctl restart dwcp-svc@%s`",
			 c->sup->cfg.instance, name_of(c));
		return -EOPNOTSUPP;
	}
	if (c->sup->stopping) {
		snprintf(msg, n, "instance '%s' is stopping", c->sup->cfg.instance);
		return -ESHUTDOWN;
	}
	if (c->up.phase != UP_NONE || c->up.pid) {
		snprintf(msg, n, "an upgrade of %s to %s is already in progress", name_of(c),
			 c->up.path);
		return -EBUSY;
	}
	if (c->pending.cn) {
		snprintf(msg, n, "another dwcpctl command on %s is in progress; retry when it is done",
			 name_of(c));
		return -EBUSY;
	}
	if (!c->enabled || !c->pid ||
	    (st != DWCP_STATE_READY && st != DWCP_STATE_STANDBY && st != DWCP_STATE_DRAINING)) {
		snprintf(msg, n, "%s is %s, not running: an upgrade replaces a running service (`dwcpctl restart %s` starts it%s)",
			 name_of(c), dwcp_state_name(st), name_of(c),
			 st == DWCP_STATE_STARTING || st == DWCP_STATE_DEAD ? "; or wait until it is READY" : "");
		return -ESRCH;
	}
	return 0;
}

/* Modelled in tests/model/upgrade.pml (supervisor: spawn_successor). */
static int spawn_successor(struct sup_child *c, const char *path)
{
	struct sup_upgrade *u = &c->up;
	int rc;

	snprintf(u->path, sizeof(u->path), "%s", path);
	sup_child_binary(c, u->prev, sizeof(u->prev));
	u->why[0] = '\0';
	u->old_pid = c->pid;
	u->old_gen = pub(c)->sup.generation;
	u->gen = u->old_gen + 1;
	rc = sup_child_exec(c, path, true, &u->pid, &u->pidfd);
	if (rc)
		return rc;
	u->t_spawn = dwcp_now_ns();
	u->phase = UP_ATTACHING;
	ev_io_set(&u->pid_w, u->pidfd, EV_READ);
	ev_io_start(c->sup->loop, &u->pid_w);
	ev_timer_set(&u->attach_w, c->sup->cfg.init_timeout_ms / 1000.0, 0);
	ev_timer_start(c->sup->loop, &u->attach_w);
	DWCP_INFO("%s: %s: started %s (pid %d) to take over from pid %d (generation %u -> %u)",
		  name_of(c), u->standby ? "hot standby" : "upgrade", path, (int)u->pid,
		  (int)u->old_pid, u->old_gen, u->gen);
	return 0;
}

void sup_upgrade_request(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req)
{
	const char *name = req->req.u.upgrade.name, *path = req->text;
	int slot = sup_slot_by_name(cn->sup, name), rc;
	struct sup_child *c;
	char msg[3 * DWCP_CTL_TEXT_MAX];

	if (slot < 0) {
		sup_control_reply(cn, DWCP_CTL_UPGRADE, -EINVAL, "'%s' is not a dwcp service (%s)",
				  name, SUP_SERVICE_NAMES);
		return;
	}
	c = &cn->sup->child[slot];
	rc = check_binary(path, msg, sizeof(msg));
	if (!rc && c->up.standby && c->up.phase != UP_STARTING)
		dismiss_standby(c);
	if (!rc)
		rc = check_slot(c, msg, sizeof(msg));
	if (!rc && (rc = spawn_successor(c, path)) != 0)
		snprintf(msg, sizeof(msg), "cannot start %s: %s", path, strerror(-rc));
	if (rc) {
		DWCP_WARN("%s: upgrade refused: %s", name, msg);
		sup_control_reply(cn, DWCP_CTL_UPGRADE, rc, "%s", msg);
		return;
	}
	/* Hang guard only: each phase has its own bound (attach, drain, init). */
	sup_control_defer(c, cn, DWCP_CTL_UPGRADE,
			  3 * c->sup->cfg.init_timeout_ms + 30000);
}

/* ---- the successor attaches ---- */

static void go(struct sup_child *c);

/* Modelled in tests/model/upgrade.pml (supervisor: TAKEOVER -> SIGTERM the old). */
void sup_upgrade_takeover(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	pid_t pid = getsockopt(cn->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ? -1 : cr.pid;
	struct sup_child *c = sup_upgrade_successor_of(cn->sup, pid);
	const struct dwcp_ctl_takeover *t = &req->req.u.takeover;

	if (!c || c->up.phase != UP_ATTACHING) {
		sup_control_reply(cn, DWCP_CTL_TAKEOVER, -EPERM,
				  "no upgrade waits for pid %d: --takeover is only for the binary `dwcpctl upgrade` starts",
				  (int)pid);
		return;
	}
	if (t->status < 0) {
		/* Its attach failed; it exits once we acknowledge. */
		sup_upgrade_note(c, req->text);
		sup_control_reply(cn, DWCP_CTL_TAKEOVER, 0, "noted");
		return;
	}
	if (t->generation != c->up.gen) {
		snprintf(c->up.why, sizeof(c->up.why), "it attached as generation %u, not %u",
			 t->generation, c->up.gen);
		sup_control_reply(cn, DWCP_CTL_TAKEOVER, -ESTALE,
				  "attached as generation %u, the upgrade expects %u", t->generation,
				  c->up.gen);
		return;
	}
	ev_timer_stop(c->sup->loop, &c->up.attach_w);
	c->up.attached = true;
	c->up.succ_cn = cn;
	c->up.t_attached = dwcp_now_ns();
	DWCP_INFO("%s: %s: pid %d %s in %.1f ms", name_of(c),
		  c->up.standby ? "hot standby" : "upgrade", (int)pid, req->text,
		  ms(c->up.t_attached - c->up.t_spawn));
	if (c->up.old_dead) {
		go(c);      /* the old one crashed meanwhile: nothing to drain */
		return;
	}
	if (c->up.standby) {
		c->up.phase = UP_STANDBY;   /* parked until the slot's process dies */
		return;
	}
	c->up.phase = UP_HANDOVER;
	c->up.t_term = dwcp_now_ns();
	DWCP_INFO("%s: upgrade: pid %d drains (SIGTERM) and hands over", name_of(c), (int)c->pid);
	sup_child_terminate(c);
}

/* Modelled in tests/model/upgrade.pml (supervisor: a death -> go). */
/* The successor becomes the slot's process; the death handler has already
 * reclaimed the old generation's buffers and links for it and bumped the
 * generation to its. */
static void go(struct sup_child *c)
{
	struct sup_upgrade *u = &c->up;
	char why[96];

	ev_io_stop(c->sup->loop, &u->pid_w);
	sup_child_watch(c, u->pid, u->pidfd, true);
	u->pid = 0;
	u->pidfd = -1;
	snprintf(c->bin, sizeof(c->bin), "%s", u->path);
	snprintf(why, sizeof(why), "took over from pid %d", (int)u->old_pid);
	sup_child_set_state(c, DWCP_SUP_RUNNING, why);
	u->phase = UP_STARTING;
	u->t_go = dwcp_now_ns();
	if (u->succ_cn)
		sup_control_reply(u->succ_cn, DWCP_CTL_TAKEOVER, 0, "go");
	else
		sup_child_terminate(c);   /* its socket is gone: so is it, nearly */
	u->succ_cn = NULL;
}

/* Modelled in tests/model/upgrade.pml (supervisor: a death -> go or restart). */
bool sup_upgrade_old_died(struct sup_child *c, const char *why)
{
	struct sup_upgrade *u = &c->up;
	char bin[DWCP_CTL_TEXT_MAX + DWCP_PATH_MAX];

	switch (u->phase) {
	case UP_STANDBY:
		u->old_dead = u->old_crashed = true;
		u->t_old_dead = u->t_term = dwcp_now_ns();
		DWCP_INFO("%s: pid %d %s: hot standby pid %d takes over", name_of(c), (int)u->old_pid,
			  why, (int)u->pid);
		go(c);
		return true;
	case UP_HANDOVER:
		u->old_dead = true;
		u->t_old_dead = dwcp_now_ns();
		DWCP_INFO("%s: upgrade: pid %d drained in %.1f ms (%s)", name_of(c), (int)u->old_pid,
			  ms(u->t_old_dead - u->t_term), why);
		go(c);
		return true;
	case UP_ATTACHING:
		/* Not asked to go: a crash. The successor is nearly there. */
		u->old_dead = u->old_crashed = true;
		u->t_old_dead = u->t_term = dwcp_now_ns();
		DWCP_WARN("%s: pid %d died (%s) while its successor attaches: the successor takes over",
			  name_of(c), (int)u->old_pid, why);
		return true;
	case UP_STARTING:
		/* The new binary, already the slot's process, died before READY. */
		snprintf(c->bin, sizeof(c->bin), "%s", u->prev);
		DWCP_WARN("%s: upgrade failed: %s (generation %u) %s before READY; restarting from %s",
			  name_of(c), u->path, u->gen, why, sup_child_binary(c, bin, sizeof(bin)));
		sup_control_answer(c, -EIO,
				   "upgrade of %s failed: the new binary %s took over (generation %u) and then %s before READY%s%s; %s restarts from %s",
				   name_of(c), u->path, u->gen, why, u->why[0] ? ": " : "", u->why,
				   name_of(c), bin);
		end_upgrade(c);
		return false;
	default:
		return false;
	}
}

/* ---- the successor fails or is done ---- */

static void on_attach_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sup_child *c = w->data;

	(void)loop;
	(void)revents;
	if (!c->up.pid)
		return;
	if (!c->up.why[0])
		snprintf(c->up.why, sizeof(c->up.why), "not attached %u ms after start",
			 c->sup->cfg.init_timeout_ms);
	DWCP_WARN("%s: upgrade: successor pid %d %s: SIGKILL", name_of(c), (int)c->up.pid,
		  c->up.why);
	syscall(SYS_pidfd_send_signal, c->up.pidfd, SIGKILL, NULL, 0);
}

static void describe(const siginfo_t *si, char *buf, size_t n)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, n, "exited with status %d", si->si_status);
	else if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
		snprintf(buf, n, "was killed by signal %d (%s)", si->si_status,
			 strsignal(si->si_status));
	else
		snprintf(buf, n, "died");
}

/* Modelled in tests/model/upgrade.pml (supervisor: the successor died before go). */
/* The successor died before "go": it owned nothing, so nothing to reclaim. */
static void on_succ_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sup_child *c = w->data;
	struct sup_upgrade *u = &c->up;
	siginfo_t si = { 0 };
	char how[96] = "died", bin[DWCP_CTL_TEXT_MAX + DWCP_PATH_MAX];

	(void)revents;
	ev_io_stop(loop, w);
	if (waitid(P_PIDFD, (id_t)u->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
		describe(&si, how, sizeof(how));
	close(u->pidfd);
	u->pidfd = -1;
	DWCP_WARN("%s: upgrade: successor %s (pid %d) %s before taking over%s%s", name_of(c),
		  u->path, (int)u->pid, how, u->why[0] ? ": " : "", u->why);
	if (!u->why[0])   /* it said nothing to us: perhaps no dwcp service at all */
		snprintf(u->why, sizeof(u->why),
			 "it did not attach (not a dwcp service of this build? its output is in %s/supervisor.log)",
			 c->sup->inst_dir);
	u->pid = 0;
	sup_child_binary(c, bin, sizeof(bin));
	if (u->standby && !u->old_dead) {
		/* Nobody waits for a standby: note it, try again later — unless
		 * the node stops, where it may have been the last process. */
		u->standby_next_ns = dwcp_now_ns() + STANDBY_RETRY_NS;
		end_upgrade(c);
		if (c->sup->stopping && sup_children_none_alive(c->sup))
			ev_break(c->sup->loop, EVBREAK_ALL);
		return;
	}
	if (c->sup->stopping) {
		sup_control_answer(c, -ESHUTDOWN, "upgrade of %s called off: the instance stops",
				   name_of(c));
	} else if (!u->old_dead && u->phase == UP_ATTACHING) {
		sup_control_answer(c, -EPROTO,
				   "upgrade of %s refused: the new binary %s %s before taking over%s%s; %s keeps running as pid %d (generation %u)",
				   name_of(c), u->path, how, u->why[0] ? ": " : "", u->why, name_of(c),
				   (int)c->pid, pub(c)->sup.generation);
	} else if (!u->old_dead) {
		/* SIGTERM is out: the old one exits; restart it at once then. */
		c->restart_now = true;
		sup_control_answer(c, -EIO,
				   "upgrade of %s failed: the new binary %s %s after attaching%s%s, while pid %d drained; %s restarts from %s",
				   name_of(c), u->path, how, u->why[0] ? ": " : "", u->why,
				   (int)u->old_pid, name_of(c), bin);
	} else {
		sup_control_answer(c, -EIO,
				   "upgrade of %s failed: the old generation died and the new binary %s %s%s%s; %s restarts from %s",
				   name_of(c), u->path, how, u->why[0] ? ": " : "", u->why, name_of(c),
				   bin);
		sup_child_restart_later(c);
	}
	end_upgrade(c);
	if (c->sup->stopping && sup_children_none_alive(c->sup))
		ev_break(c->sup->loop, EVBREAK_ALL);
}

/* Keep a hot standby behind a running service ([supervisor] hot_standby). */
static void spawn_standby(struct sup_child *c, uint64_t now)
{
	enum dwcp_state st = dwcp_slot_state(pub(c));
	char bin[DWCP_CTL_TEXT_MAX + DWCP_PATH_MAX];

	if (!c->sup->cfg.hot_standby || c->sup->cfg.systemd_services || c->sup->stopping ||
	    !c->enabled || !c->pid || c->pending.cn || now < c->up.standby_next_ns ||
	    (st != DWCP_STATE_READY && st != DWCP_STATE_STANDBY && st != DWCP_STATE_DRAINING))
		return;
	sup_child_binary(c, bin, sizeof(bin));
	c->up.standby = true;
	if (spawn_successor(c, bin)) {
		c->up.standby = false;
		c->up.phase = UP_NONE;
		c->up.standby_next_ns = now + STANDBY_RETRY_NS;
	}
}

void sup_upgrade_check(struct sup_child *c, uint64_t now)
{
	struct sup_upgrade *u = &c->up;
	const struct dwcp_slot *p = pub(c);
	enum dwcp_state st;
	uint64_t ready;

	if (u->phase == UP_NONE) {
		spawn_standby(c, now);
		return;
	}
	if (u->phase != UP_STARTING)
		return;
	st = dwcp_slot_state(p);
	if (st != DWCP_STATE_READY && st != DWCP_STATE_STANDBY && st != DWCP_STATE_DRAINING)
		return;
	ready = __atomic_load_n(&p->svc.ready_ns, __ATOMIC_ACQUIRE);
	if (u->standby) {
		DWCP_INFO("%s: hot standby took over: pid %d -> %d, generation %u -> %u, %.1f ms from the death to READY",
			  name_of(c), (int)u->old_pid, (int)c->pid, u->old_gen, u->gen,
			  ms(ready - u->t_old_dead));
		end_upgrade(c);
		return;
	}
	if (!u->old_crashed) {
		c->upgrades++;
		c->blackout_ns = ready - u->t_term;
	}
	DWCP_INFO("%s: upgrade done: pid %d -> %d, generation %u -> %u, %s; pause %.1f ms (drain %.1f ms, takeover %.1f ms)",
		  name_of(c), (int)u->old_pid, (int)c->pid, u->old_gen, u->gen, u->path,
		  ms(ready - u->t_term), ms(u->t_old_dead - u->t_term), ms(ready - u->t_old_dead));
	if (u->old_crashed)
		sup_control_answer(c, 0,
				   "upgraded %s: pid %d -> %d, generation %u -> %u, binary %s\n"
				   "the old one crashed while the new binary attached (counted as a restart): pause %.1f ms (its death to READY of the new)\n"
				   "the new binary attached in %.1f ms; %s is %s",
				   name_of(c), (int)u->old_pid, (int)c->pid, u->old_gen, u->gen,
				   u->path, ms(ready - u->t_term), ms(u->t_attached - u->t_spawn),
				   name_of(c), dwcp_state_name(st));
	else
		sup_control_answer(c, 0,
				   "upgraded %s: pid %d -> %d, generation %u -> %u, binary %s\n"
				   "pause %.1f ms (SIGTERM of the old to READY of the new): drain %.1f ms, takeover %.1f ms\n"
				   "the new binary attached in %.1f ms while the old one ran; %s is %s",
				   name_of(c), (int)u->old_pid, (int)c->pid, u->old_gen, u->gen,
				   u->path, ms(ready - u->t_term), ms(u->t_old_dead - u->t_term),
				   ms(ready - u->t_old_dead), ms(u->t_attached - u->t_spawn),
				   name_of(c), dwcp_state_name(st));
	end_upgrade(c);
}

void sup_upgrade_stop(struct sup_child *c)
{
	ev_timer_stop(c->sup->loop, &c->up.attach_w);
	if (c->up.pid)
		syscall(SYS_pidfd_send_signal, c->up.pidfd, SIGKILL, NULL, 0);
}
