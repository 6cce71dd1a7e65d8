/* The control socket: one request, one reply, dispatched from a table of
 * do_* handlers (STYLE #10). Connections stay open — a service or client
 * keeps its socket for life — but nothing depends on that: deaths are
 * learnt from pidfds.
 *
 * The node must stay drivable whatever another local process does, so
 * (docs/operations.md, "The control socket"):
 * - only root and the supervisor's own user may talk to it: the socket is
 *   0600 in a 0700 directory, and SO_PEERCRED is checked at accept too, so
 *   loosened modes do not open it to others;
 * - a connection that has not attached (no slot from HELLO) lives
 *   SUP_CTL_IDLE_MS after its last valid request (malformed ones do not
 *   count), unless a deferred answer is due to it;
 * - one process holds at most SUP_CONNS_PER_PID such connections, and
 *   when the table is full the longest-idle of them makes room, so that
 *   `dwcpctl status` always gets in;
 * - one process holds at most [supervisor] client_slots_per_pid client
 *   slots; a slot comes back when its process dies (pidfd).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/ctl_msg.h"
#include "ipc/route.h"
#include "sup_internal.h"

typedef void (*handler_fn)(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req);

static void vreply(struct sup_conn *cn, enum dwcp_ctl_type t, int status, const char *fmt,
		   va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	dwcp_ctl_send_reply(cn->fd, t, status, msg, strlen(msg) + 1);
}

void sup_control_reply(struct sup_conn *cn, enum dwcp_ctl_type t, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(cn, t, status, fmt, ap);
	va_end(ap);
}

#define reply_text sup_control_reply

void sup_control_defer(struct sup_child *c, struct sup_conn *cn, enum dwcp_ctl_type type,
		       uint32_t timeout_ms)
{
	c->pending.cn = cn;
	c->pending.type = type;
	c->pending.t0_ns = dwcp_now_ns();
	c->pending.deadline_ns = c->pending.t0_ns + (uint64_t)timeout_ms * 1000000ull;
}

void sup_control_answer(struct sup_child *c, int status, const char *fmt, ...)
{
	struct sup_conn *cn = c->pending.cn;
	va_list ap;

	if (!cn)
		return;
	c->pending.cn = NULL;
	va_start(ap, fmt);
	vreply(cn, (enum dwcp_ctl_type)c->pending.type, status, fmt, ap);
	va_end(ap);
}

/* A service says which service it is, not which worker: the one we
 * spawned is found by its pid; one started by someone else (systemd, an
 * operator) takes the first enabled worker slot of its service that has
 * no process. */
static int hello_service_slot(struct sup_conn *cn, const struct dwcp_ctl_hello *h, pid_t pid)
{
	struct sup *s = cn->sup;
	int slot = dwcp_abi_service_slot(h->name);
	const struct dwcp_route_ent *r;
	struct sup_child *c;

	if (slot < 0) {
		reply_text(cn, DWCP_CTL_HELLO, -EINVAL, "'%s' is not a dwcp service", h->name);
		return -1;
	}
	r = &s->shm.ctl->route[slot];
	for (unsigned k = 0; k < r->n; k++)
		if (s->child[r->slot[k]].pid == pid)
			return r->slot[k];      /* the process we spawned */
	for (unsigned k = 1; k < r->n; k++)
		if (s->child[r->slot[k]].enabled && !s->child[r->slot[k]].pid &&
		    s->child[slot].pid) {
			slot = r->slot[k];
			break;
		}
	c = &s->child[slot];
	if (c->pid) {
		reply_text(cn, DWCP_CTL_HELLO, -EBUSY,
			   "%s already runs as pid %d (generation %u): use `dwcpctl restart %s`",
			   h->name, (int)c->pid, s->shm.ctl->slots[slot].sup.generation, h->name);
		return -1;
	}
	/* Started by someone else (systemd, an operator): adopt it. */
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0) {
		reply_text(cn, DWCP_CTL_HELLO, -ESRCH, "cannot watch pid %d", (int)pid);
		return -1;
	}
	ev_timer_stop(s->loop, &c->restart_w);
	c->enabled = true;
	sup_child_watch(c, pid, pidfd, false);
	return slot;
}

/* Modelled in tests/model/clientdeath.pml (supervisor: a new client's HELLO). */
static int hello_client_slot(struct sup_conn *cn, pid_t pid)
{
	struct sup *s = cn->sup;
	unsigned held = 0;

	for (unsigned i = DWCP_SLOT_CLIENT0; i < DWCP_SLOT_WORKER0; i++)
		held += s->child[i].pid == pid;
	if (held >= s->cfg.client_slots_per_pid) {
		DWCP_WARN("control: pid %d asked for client slot %u; refused", (int)pid, held + 1);
		reply_text(cn, DWCP_CTL_HELLO, -EUSERS,
			   "pid %d already holds %u client slot%s of instance '%s' ([supervisor] client_slots_per_pid = %u): a process needs one per transfer; end its other clients, or raise the limit",
			   (int)pid, held, held == 1 ? "" : "s", s->cfg.instance,
			   s->cfg.client_slots_per_pid);
		return -1;
	}
	for (unsigned i = DWCP_SLOT_CLIENT0; i < DWCP_SLOT_WORKER0; i++) {
		struct sup_child *c = &s->child[i];
		int pidfd;

		if (c->pid)
			continue;
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			break;
		__atomic_add_fetch(&s->shm.ctl->slots[i].sup.generation, 1, __ATOMIC_RELEASE);
		sup_child_watch(c, pid, pidfd, false);
		return (int)i;
	}
	reply_text(cn, DWCP_CTL_HELLO, -EBUSY,
		   "all %u client slots of instance '%s' are in use: `dwcpctl status` lists the clients holding them",
		   DWCP_SLOT_WORKER0 - DWCP_SLOT_CLIENT0, s->cfg.instance);
	return -1;
}

/* Refuse a HELLO; the successor of an upgrade keeps the reason for the
 * operator's `dwcpctl upgrade`. */
static void refuse_hello(struct sup_conn *cn, struct sup_child *succ, int status,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse_hello(struct sup_conn *cn, struct sup_child *succ, int status,
			 const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (succ)
		sup_upgrade_note(succ, msg);
	dwcp_ctl_send_reply(cn->fd, DWCP_CTL_HELLO, status, msg, strlen(msg) + 1);
}

/* The new binary of an upgrade: the next generation of its slot, beside
 * the running one (a different lcore id, DWCP_LCORE scheme in abi.h). It
 * must name the slot the upgrade is for. */
static int hello_successor(struct sup_conn *cn, struct sup_child *c,
			   const struct dwcp_ctl_hello *h, struct dwcp_ctl_hello_reply *r)
{
	if (h->role != DWCP_ROLE_SERVICE ||
	    dwcp_abi_service_slot(h->name) != (int)dwcp_route_service_of(&cn->sup->shm, c->slot)) {
		refuse_hello(cn, c, -EINVAL, "the new binary says it is %s '%s', not %s",
			     h->role == DWCP_ROLE_SERVICE ? "service" : "client", h->name,
			     cn->sup->shm.ctl->slots[c->slot].sup.name);
		return -1;
	}
	r->slot = c->slot;
	r->generation = c->up.gen;
	r->lcore = dwcp_abi_lcore(c->slot, c->up.gen);
	return 0;
}

static void do_hello(struct sup_conn *cn, const struct dwcp_ctl_req_ext *x)
{
	const struct dwcp_ctl_req *req = &x->req;
	const struct dwcp_ctl_hello *h = &req->u.hello;
	struct sup *s = cn->sup;
	struct dwcp_ctl_hello_reply r = { 0 };
	struct dwcp_slot *p;
	pid_t pid = cn->pid;
	struct sup_child *succ = sup_upgrade_successor_of(s, pid);
	int slot;

	if (h->abi_version != DWCP_ABI_VERSION) {
		refuse_hello(cn, succ, -EPROTO,
			     "ABI mismatch: %s was built for dwcp ABI %u, but the supervisor of instance '%s' runs ABI %u: install binaries from the same build as the supervisor (make) or restart the node with the new build",
			     h->name, h->abi_version, s->cfg.instance, DWCP_ABI_VERSION);
		DWCP_WARN("refused %s (pid %d): ABI %u, expected %u", h->name, (int)pid,
			  h->abi_version, DWCP_ABI_VERSION);
		return;
	}
	if (succ && !s->stopping) {
		if (hello_successor(cn, succ, h, &r))
			return;
		goto answer;
	}
	if (s->stopping) {
		reply_text(cn, DWCP_CTL_HELLO, -ESHUTDOWN, "instance '%s' is stopping",
			   s->cfg.instance);
		return;
	}
	slot = h->role == DWCP_ROLE_SERVICE ? hello_service_slot(cn, h, pid) :
					      hello_client_slot(cn, pid);
	if (slot < 0)
		return;
	p = &s->shm.ctl->slots[slot];
	if (h->role == DWCP_ROLE_CLIENT)
		snprintf(p->sup.name, sizeof(p->sup.name), "%s", h->name);
	p->sup.state = DWCP_SUP_RUNNING;
	r.slot = (uint32_t)slot;
	r.generation = p->sup.generation;
	r.lcore = p->sup.lcore;
answer:
	cn->attached = true;
	r.abi_version = DWCP_ABI_VERSION;
	snprintf(r.file_prefix, sizeof(r.file_prefix), "%s", s->cfg.instance);
	snprintf(r.huge_dir, sizeof(r.huge_dir), "%s", s->cfg.huge_dir);
	DWCP_INFO("%s (pid %d) attached to slot %u as generation %u, lcore %u%s", h->name,
		  (int)pid, r.slot, r.generation, r.lcore, succ ? " (upgrade successor)" : "");
	dwcp_ctl_send_reply(cn->fd, DWCP_CTL_HELLO, 0, &r, sizeof(r));
}

static void do_status(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req)
{
	char *json = sup_status_json(cn->sup);

	(void)req;
	if (!json) {
		reply_text(cn, DWCP_CTL_STATUS, -ENOMEM, "out of memory");
		return;
	}
	dwcp_ctl_send_reply(cn->fd, DWCP_CTL_STATUS, 0, json, strlen(json) + 1);
	free(json);
}

static void do_restart(struct sup_conn *cn, const struct dwcp_ctl_req_ext *x)
{
	const struct dwcp_ctl_req *req = &x->req;
	int slot = sup_slot_by_name(cn->sup, req->u.target.name);
	struct sup_child *c;

	if (slot < 0) {
		reply_text(cn, DWCP_CTL_RESTART, -EINVAL, "'%s' is not a dwcp service (%s)",
			   req->u.target.name, SUP_SERVICE_NAMES);
		return;
	}
	if (cn->sup->cfg.systemd_services) {
		reply_text(cn, DWCP_CTL_RESTART, -EOPNOTSUPP,
			   "instance '%s' runs its services as systemd units: systemctl restart dwcp-svc@%s",
			   cn->sup->cfg.instance, req->u.target.name);
		return;
	}
	c = &cn->sup->child[slot];
	if (sup_upgrade_busy(c)) {
		reply_text(cn, DWCP_CTL_RESTART, -EBUSY,
			   "an upgrade of %s is in progress: wait for `dwcpctl upgrade` to finish",
			   req->u.target.name);
		return;
	}
	c->enabled = true;
	reply_text(cn, DWCP_CTL_RESTART, 0, "restarting %s%s", req->u.target.name,
		   c->pid ? " (drain, then start a new generation)" : "");
	sup_child_request_restart(c);
}

static void do_stop(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req)
{
	(void)req;
	reply_text(cn, DWCP_CTL_STOP, 0, "stopping instance '%s'", cn->sup->cfg.instance);
	sup_request_stop(cn->sup, "dwcpctl stop");
}

static void do_drain(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req)
{
	sup_drain_request(cn, &req->req);
}

static void do_resume(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req)
{
	sup_drain_resume(cn, &req->req);
}

static const handler_fn handlers[DWCP_CTL_TYPE_MAX] = {
	[DWCP_CTL_HELLO] = do_hello,
	[DWCP_CTL_STATUS] = do_status,
	[DWCP_CTL_RESTART] = do_restart,
	[DWCP_CTL_STOP] = do_stop,
	[DWCP_CTL_DRAIN] = do_drain,
	[DWCP_CTL_RESUME] = do_resume,
	[DWCP_CTL_UPGRADE] = sup_upgrade_request,
	[DWCP_CTL_TAKEOVER] = sup_upgrade_takeover,
};

static void close_conn(struct sup_conn *cn)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		sup_upgrade_forget_conn(&cn->sup->child[i], cn);
	ev_io_stop(cn->sup->loop, &cn->w);
	close(cn->fd);
	cn->used = false;
	cn->attached = false;
}

/* Read and handle one message of @p cn. @return false when there is
 * nothing more to read now, or the connection was closed. */
static bool read_one(struct sup_conn *cn)
{
	uint8_t buf[sizeof(struct dwcp_ctl_req_ext) + 64];
	struct dwcp_ctl_req_ext req;
	struct dwcp_err err = { 0 };
	ssize_t n;

	n = recv(cn->fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) {
		close_conn(cn);
		return false;
	}
	if (dwcp_ctl_decode_req_ext(buf, (size_t)n, &req, &err) != 0) {
		DWCP_WARN("control: rejected a message from pid %d: %s", (int)cn->pid, err.msg);
		/* The type is unknown or untrusted: answer as STATUS-shaped text. */
		dwcp_ctl_send_reply(cn->fd, DWCP_CTL_STATUS, -EBADMSG, err.msg, strlen(err.msg) + 1);
		return true;
	}
	cn->last_ns = dwcp_now_ns();
	handlers[req.req.hdr.type](cn, &req);
	return cn->used;
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	read_one(w->data);
}

/* A deferred answer (DRAIN, RESUME, UPGRADE) is due on @p cn. */
static bool conn_awaits_answer(const struct sup_conn *cn)
{
	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if (cn->sup->child[i].pending.cn == cn)
			return true;
	return false;
}

/* May be closed to make room or for idling: not attached, nothing owed. */
static bool conn_evictable(const struct sup_conn *cn)
{
	return cn->used && !cn->attached && !conn_awaits_answer(cn);
}

void sup_control_sweep(struct sup *s, uint64_t now)
{
	const uint64_t idle = (uint64_t)SUP_CTL_IDLE_MS * 1000000ull;

	for (unsigned i = 0; i < SUP_MAX_CONNS; i++) {
		struct sup_conn *cn = &s->conn[i];

		if (conn_evictable(cn) && now - cn->last_ns > idle) {
			DWCP_DEBUG("control: closed a connection of pid %d idle for %u ms", (int)cn->pid,
				   SUP_CTL_IDLE_MS);
			close_conn(cn);
		}
	}
}

/* A free entry: an unused one, else the longest-idle evictable one. */
static struct sup_conn *free_conn(struct sup *s)
{
	struct sup_conn *oldest = NULL;

	for (unsigned i = 0; i < SUP_MAX_CONNS; i++) {
		struct sup_conn *cn = &s->conn[i];

		if (!cn->used)
			return cn;
		if (conn_evictable(cn) && (!oldest || cn->last_ns < oldest->last_ns))
			oldest = cn;
	}
	if (oldest) {
		DWCP_WARN("control: %u connections open; closed pid %d's longest-idle one",
			  SUP_MAX_CONNS, (int)oldest->pid);
		close_conn(oldest);
	}
	return oldest;
}

/* Unattached connections of @p pid; with @p reap, first finish those its
 * peer has already hung up — what it sent is handled, then the EOF closes
 * it (a process that connects, asks and closes in a quick loop may be
 * ahead of our loop). */
static unsigned held_by(struct sup *s, pid_t pid, bool reap)
{
	unsigned held = 0;

	for (unsigned i = 0; i < SUP_MAX_CONNS; i++) {
		struct sup_conn *cn = &s->conn[i];
		struct pollfd p = { .fd = cn->fd, .events = POLLRDHUP };

		if (!cn->used || cn->attached || cn->pid != pid)
			continue;
		if (reap && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
			while (read_one(cn))
				;
			if (!cn->used)
				continue;
		}
		held++;
	}
	return held;
}

/* Why the peer @p cr may not use the socket, or NULL. */
static const char *refusal(struct sup *s, const struct ucred *cr)
{
	if (cr->uid != 0 && cr->uid != geteuid())
		return "not root and not the node's user";
	if (held_by(s, cr->pid, false) >= SUP_CONNS_PER_PID &&
	    held_by(s, cr->pid, true) >= SUP_CONNS_PER_PID)
		return "too many open connections from that process";
	return NULL;
}

/* Log at most once a second: a flood of refused connections must not
 * flood the log. */
static void refuse(const struct ucred *cr, const char *why)
{
	static uint64_t last_log_ns;
	uint64_t now = dwcp_now_ns();

	if (now - last_log_ns >= 1000000000ull) {
		last_log_ns = now;
		DWCP_WARN("control: refused a connection of pid %d (uid %u): %s", (int)cr->pid,
			  (unsigned)cr->uid, why);
	}
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sup *s = w->data;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct sup_conn *cn;
	const char *why;

	(void)revents;
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
		close(fd);
		return;
	}
	why = refusal(s, &cr);
	cn = why ? NULL : free_conn(s);
	if (!cn) {
		refuse(&cr, why ? why : "every connection is attached or owed an answer");
		close(fd);
		return;
	}
	*cn = (struct sup_conn){ .sup = s, .fd = fd, .used = true, .pid = cr.pid, .uid = cr.uid,
				 .last_ns = dwcp_now_ns() };
	ev_io_init(&cn->w, on_conn, fd, EV_READ);
	cn->w.data = cn;
	ev_io_start(loop, &cn->w);
}

int sup_control_listen(struct sup *s, struct dwcp_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int rc;

	if (dwcp_ctl_sock_path(sa.sun_path, sizeof(sa.sun_path), s->cfg.run_dir, s->cfg.instance))
		return dwcp_err_set(err, -ENAMETOOLONG, "run_dir %s is too long for a socket path",
				    s->cfg.run_dir);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		return dwcp_err_set(err, -errno, "socket: %s", strerror(errno));
	unlink(sa.sun_path);  /* a stale one from a crashed run; we hold the lock */
	old = umask(0077);    /* owner-only from the first instant */
	rc = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || listen(s->listen_fd, 64))
		return dwcp_err_set(err, -errno, "cannot listen on %s: %s", sa.sun_path,
				    strerror(errno));
	chmod(sa.sun_path, 0600);
	ev_io_init(&s->listen_w, on_accept, s->listen_fd, EV_READ);
	s->listen_w.data = s;
	ev_io_start(s->loop, &s->listen_w);
	return 0;
}

void sup_control_close(struct sup *s)
{
	char p[DWCP_PATH_MAX + DWCP_NAME_MAX + 32];

	for (unsigned i = 0; i < SUP_MAX_CONNS; i++)
		if (s->conn[i].used)
			close_conn(&s->conn[i]);
	if (s->listen_fd >= 0) {
		ev_io_stop(s->loop, &s->listen_w);
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	if (dwcp_ctl_sock_path(p, sizeof(p), s->cfg.run_dir, s->cfg.instance) == 0)
		unlink(p);
}
