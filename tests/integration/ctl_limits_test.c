/* The control socket as a good neighbour (svc-supervisor/control.c): no
 * local process can keep the operator from driving the node, and no one
 * but root and the node's user can drive it at all.
 *
 * - Connections held open and idle, or left with a half-written (cut)
 *   message, from the test process and from many other processes: a
 *   separate `dwcpctl status` still answers, and the held connections
 *   are closed by the supervisor (EOF), without the test closing them.
 * - A process running as nobody cannot connect (socket 0600 in a 0700
 *   dir), and when the modes are loosened by mistake, its STATUS and STOP
 *   get no answer (SO_PEERCRED at accept) and the node keeps running.
 * - One process asking for more client slots than [supervisor]
 *   client_slots_per_pid is refused with a message naming the key, while
 *   another process still gets one; with every slot taken a new client
 *   is told so, and the slots of a killed client come back.
 *
 * Waits are hang guards (the supervisor's idle deadline is 5 s; the guard
 * is 60 s), never speed requirements.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ipc/ctl_msg.h"
#include "tests/lib/node.h"

#define HELD_HERE     40    /* connections the test process tries to hold */
#define HOLDERS       20    /* other processes holding connections */
#define HELD_EACH     10
#define GUARD_MS      60000
#define MAX_CHILDREN  16
#define SUP_TEST_CONNS_PER_PID 8   /* SUP_CONNS_PER_PID (svc-supervisor/sup_internal.h) */

static struct dwcp_test_node node;
static pid_t children[MAX_CHILDREN + HOLDERS];
static unsigned n_children;

static void reap_children(void)
{
	for (unsigned i = 0; i < n_children; i++) {
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
	}
	n_children = 0;
}

static void teardown(void)
{
	reap_children();
	dwcp_test_node_stop(&node);
}

static void start(const char *test, const char *const *ovr)
{
	int rc = dwcp_test_node_start(&node, test, ovr);

	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
}

/* A connected control socket, or -errno. */
static int ctl_connect(const char *inst)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -errno;
	dwcp_ctl_sock_path(sa.sun_path, sizeof(sa.sun_path), dwcp_test_run_dir(), inst);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Open HELD_EACH connections, cut a message on half of them, and say so
 * on @p wfd; then wait to be killed. */
static void holder(const char *inst, int wfd)
{
	struct dwcp_ctl_req req;
	char ok = 1;

	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	for (int i = 0; i < HELD_EACH; i++) {
		int fd = ctl_connect(inst);

		if (fd >= 0 && i % 2)
			(void)send(fd, &req, sizeof(req.hdr) / 2, MSG_NOSIGNAL);
	}
	if (write(wfd, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static pid_t fork_child(void)
{
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid > 0)
		children[n_children++] = pid;
	return pid;
}

/* `dwcpctl status` exits 0 and lists svc-simd. */
static void assert_dwcpctl_status_answers(const char *why)
{
	char ctl[512], out[16384], err[4096];
	int rc;

	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", node.instance, "status", NULL }, out,
			   sizeof(out), err, sizeof(err), GUARD_MS);
	DWCP_NODE_ASSERT(node.instance, rc == 0 && strstr(out, "svc-simd"),
			 "dwcpctl status %s: exit %d\nstdout:\n%s\nstderr:\n%s", why, rc, out, err);
}

/* Wait for EOF on @p fd (reading and dropping any error reply first).
 * @return true on EOF or reset, false when the guard ran out. */
static bool closed_by_peer(int fd, uint64_t deadline_ms)
{
	static uint8_t buf[DWCP_CTL_REPLY_MAX];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = dwcp_test_now_ms();
		ssize_t n;

		if (now >= deadline_ms || poll(&p, 1, (int)(deadline_ms - now)) != 1)
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

Test(ctl_limits, idle_and_half_written_connections_do_not_block_status, .fini = teardown,
     .timeout = 400)
{
	struct dwcp_ctl_req req;
	int held[HELD_HERE], n_held = 0, pfd[2];
	uint64_t deadline;
	char ok;
	cJSON *st;

	start("ctlidle", NULL);
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	for (int i = 0; i < HELD_HERE; i++) {
		int fd = ctl_connect(node.instance);

		if (fd < 0)
			continue;   /* refused at once: fine, that is a limit */
		if (i % 2)
			(void)send(fd, &req, sizeof(req.hdr) / 2, MSG_NOSIGNAL);
		held[n_held++] = fd;
	}
	cr_assert(n_held > 0, "no control connection at all");
	/* Many more from other processes: more than the supervisor's table. */
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	for (int i = 0; i < HOLDERS; i++)
		if (fork_child() == 0)
			holder(node.instance, pfd[1]);
	close(pfd[1]);
	for (int i = 0; i < HOLDERS; i++)
		cr_assert_eq(read(pfd[0], &ok, 1), 1, "a holder process died");
	close(pfd[0]);

	assert_dwcpctl_status_answers("with idle and half-written connections held open");
	for (int i = 0; i < n_held; i++)
		close(held[i]);
	reap_children();

	/* Without that crowd (nothing is evicted to make room), the
	 * supervisor still ends what is held for nothing: a few idle and
	 * half-written connections see EOF though we never close them. */
	n_held = 0;
	for (int i = 0; i < 4; i++) {
		held[n_held] = ctl_connect(node.instance);
		cr_assert(held[n_held] >= 0, "connect: %s", strerror(-held[n_held]));
		if (i % 2)
			(void)send(held[n_held], &req, sizeof(req.hdr) / 2, MSG_NOSIGNAL);
		n_held++;
	}
	deadline = dwcp_test_now_ms() + GUARD_MS;
	for (int i = 0; i < n_held; i++)
		DWCP_NODE_ASSERT(node.instance, closed_by_peer(held[i], deadline),
				 "connection %d of %d (%s) still open %u s after it went idle", i,
				 n_held, i % 2 ? "half-written" : "idle", GUARD_MS / 1000);
	for (int i = 0; i < n_held; i++)
		close(held[i]);
	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "no status once the holders are gone");
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(node.sup_pid),
			 "the supervisor died");
}

/* A process that connects, asks and hangs up in a quick loop (a script
 * polling status) is ahead of the supervisor when it is busy: connections
 * it has closed must not count against its limit. The supervisor is held
 * stopped (SIGSTOP, not a hang: it is resumed at once) while the loop
 * runs, so that it is certainly behind. */
Test(ctl_limits, quick_connect_ask_close_loop_is_not_locked_out, .fini = teardown, .timeout = 300)
{
	static uint8_t buf[DWCP_CTL_REPLY_MAX];
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	struct dwcp_err err = { 0 };
	struct dwcp_ctl_req req;
	int fd, rc;

	start("ctlquick", NULL);
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	cr_assert_eq(kill(node.sup_pid, SIGSTOP), 0, "SIGSTOP the supervisor: %s", strerror(errno));
	for (int i = 0; i < 3 * SUP_TEST_CONNS_PER_PID; i++) {
		fd = ctl_connect(node.instance);
		if (fd < 0)
			break;
		/* Several requests each: every one takes the supervisor a turn
		 * of its loop, so many connections are open at once on its side. */
		for (int k = 0; k < 12; k++)
			(void)send(fd, &req, sizeof(req), MSG_NOSIGNAL);
		close(fd);
	}
	fd = ctl_connect(node.instance);
	kill(node.sup_pid, SIGCONT);
	cr_assert(fd >= 0, "connect: %s", strerror(-fd));
	rc = dwcp_ctl_call(fd, &req, buf, sizeof(buf), GUARD_MS, &h, &payload, &err);
	close(fd);
	DWCP_NODE_ASSERT(node.instance, rc == 0 && h->status == 0,
			 "status after a quick connect-ask-close loop: rc %d (%s)", rc, err.msg);
}

/* ---- a non-owner ---- */

enum { NB_CONNECT_REFUSED = 10, NB_NO_ANSWER = 11, NB_CONNECTED = 20, NB_ANSWERED = 21,
       NB_SETUID = 30 };

/* As nobody: connect, send @p type, report what happened as exit code. */
static void as_nobody(const char *inst, enum dwcp_ctl_type type)
{
	struct passwd *pw = getpwnam("nobody");
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	struct dwcp_err err = { 0 };
	struct dwcp_ctl_req req;
	int fd;

	if (!pw || !buf || setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
		_exit(NB_SETUID);
	fd = ctl_connect(inst);
	if (fd < 0)
		_exit(fd == -EACCES || fd == -EPERM ? NB_CONNECT_REFUSED : NB_CONNECTED);
	dwcp_ctl_req_init(&req, type);
	if (dwcp_ctl_call(fd, &req, buf, DWCP_CTL_REPLY_MAX, 10000, &h, &payload, &err) == 0)
		_exit(NB_ANSWERED);
	_exit(NB_NO_ANSWER);
}

static int run_as_nobody(enum dwcp_ctl_type type)
{
	pid_t pid = fork_child();
	int status = 0;

	if (pid == 0)
		as_nobody(node.instance, type);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	n_children--;
	cr_assert(WIFEXITED(status), "the nobody child died: %#x", status);
	cr_assert_neq(WEXITSTATUS(status), NB_SETUID, "cannot become nobody (getpwnam/setuid)");
	return WEXITSTATUS(status);
}

Test(ctl_limits, non_owner_cannot_connect_or_act, .fini = teardown, .timeout = 300)
{
	char sock[512];
	cJSON *st;
	int rc;

	cr_assert(getpwnam("nobody") != NULL, "no user 'nobody' on this machine");
	start("ctlowner", NULL);
	rc = run_as_nobody(DWCP_CTL_STATUS);
	DWCP_NODE_ASSERT(node.instance, rc == NB_CONNECT_REFUSED,
			 "nobody: connect to the control socket was not refused (child said %d)", rc);

	/* An operator loosens the modes by mistake: still nobody's. */
	dwcp_ctl_sock_path(sock, sizeof(sock), dwcp_test_run_dir(), node.instance);
	cr_assert_eq(chmod(node.inst_dir, 0711), 0, "chmod %s: %s", node.inst_dir, strerror(errno));
	cr_assert_eq(chmod(sock, 0666), 0, "chmod %s: %s", sock, strerror(errno));
	rc = run_as_nobody(DWCP_CTL_STATUS);
	DWCP_NODE_ASSERT(node.instance, rc == NB_NO_ANSWER,
			 "nobody got past SO_PEERCRED with STATUS (child said %d)", rc);
	rc = run_as_nobody(DWCP_CTL_STOP);
	DWCP_NODE_ASSERT(node.instance, rc == NB_NO_ANSWER,
			 "nobody got past SO_PEERCRED with STOP (child said %d)", rc);
	chmod(sock, 0600);
	chmod(node.inst_dir, 0700);

	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(node.sup_pid),
			 "the supervisor stopped on nobody's STOP");
	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "the owner gets no status");
	DWCP_NODE_ASSERT(node.instance, strcmp(dwcp_test_svc_str(st, "svc-simd", "state"), "READY") == 0,
			 "svc-simd is %s", dwcp_test_svc_str(st, "svc-simd", "state"));
	cJSON_Delete(st);
}

/* ---- client slots ---- */

struct hello_result {
	int status;
	char msg[240];
};

/* Ask for @p n client slots, one HELLO each, report each on @p wfd; then
 * hold them until killed. */
static void take_slots(const char *inst, int n, int wfd)
{
	static uint8_t buf[DWCP_CTL_REPLY_MAX];

	for (int i = 0; i < n; i++) {
		struct hello_result r = { .status = -EIO };
		const struct dwcp_ctl_hdr *h;
		const void *payload;
		struct dwcp_err err = { 0 };
		struct dwcp_ctl_req req;
		int fd = ctl_connect(inst);

		dwcp_ctl_req_hello(&req, DWCP_ROLE_CLIENT, "hoarder");
		if (fd < 0)
			snprintf(r.msg, sizeof(r.msg), "connect: %s", strerror(-fd));
		else if (dwcp_ctl_call(fd, &req, buf, sizeof(buf), 10000, &h, &payload, &err) != 0)
			snprintf(r.msg, sizeof(r.msg), "call: %.200s", err.msg);
		else {
			r.status = h->status;
			if (h->status)
				snprintf(r.msg, sizeof(r.msg), "%.230s", (const char *)payload);
		}
		if (write(wfd, &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
	for (;;)
		pause();
}

/* Fork a process asking for @p n slots; @p r gets each answer. */
static pid_t slots(int n, struct hello_result *r)
{
	int pfd[2];
	pid_t pid;

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork_child();
	if (pid == 0) {
		close(pfd[0]);
		take_slots(node.instance, n, pfd[1]);
	}
	close(pfd[1]);
	for (int i = 0; i < n; i++)
		cr_assert_eq(read(pfd[0], &r[i], sizeof(r[i])), (ssize_t)sizeof(r[i]),
			     "the slot-taking child died");
	close(pfd[0]);
	return pid;
}

static void kill_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (unsigned i = 0; i < n_children; i++)
		if (children[i] == pid)
			children[i] = children[--n_children];
}

/* Client slots the status lists for @p pid. */
static int slots_of(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	cJSON *st = dwcp_test_status(node.instance, NULL);
	const cJSON *cl, *e;
	int n = 0;

	cr_assert(st != NULL, "no status");
	cl = cJSON_GetObjectItemCaseSensitive(st, "clients");
	cJSON_ArrayForEach(e, cl) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "pid");

		n += cJSON_IsNumber(p) && (pid_t)p->valuedouble == pid;
	}
	cJSON_Delete(st);
	return n;
}

static bool no_slots_of(void *arg)
{
	return slots_of(arg) == 0;
}

Test(ctl_limits, one_process_cannot_hoard_client_slots, .fini = teardown, .timeout = 300)
{
	/* A client that said HELLO and never attached must not be killed as
	 * a slow starter while the test looks. */
	static const char *const ovr[] = { "supervisor.init_timeout_ms = 600000", NULL };
	struct hello_result r[4];
	pid_t hoarder, victim;

	start("ctlslots", ovr);
	hoarder = slots(3, r);
	DWCP_NODE_ASSERT(node.instance, r[0].status == 0 && r[1].status == 0,
			 "the first two slots: %d (%s), %d (%s)", r[0].status, r[0].msg, r[1].status,
			 r[1].msg);
	DWCP_NODE_ASSERT(node.instance, r[2].status == -EUSERS && strstr(r[2].msg, "client_slots_per_pid"),
			 "a third slot for one process: status %d, message '%s'", r[2].status, r[2].msg);
	slots(1, r);
	DWCP_NODE_ASSERT(node.instance, r[0].status == 0,
			 "another process gets no slot beside the hoarder: %d (%s)", r[0].status,
			 r[0].msg);

	/* 9 slots: 2 + 1 taken; three more processes take 2 each. */
	victim = hoarder;
	for (int i = 0; i < 3; i++) {
		slots(2, r);
		DWCP_NODE_ASSERT(node.instance, r[0].status == 0 && r[1].status == 0,
				 "process %d of the fill: %d (%s), %d (%s)", i, r[0].status, r[0].msg,
				 r[1].status, r[1].msg);
	}
	slots(1, r);
	DWCP_NODE_ASSERT(node.instance, r[0].status == -EBUSY && strstr(r[0].msg, "in use"),
			 "a tenth client: status %d, message '%s'", r[0].status, r[0].msg);

	/* A dead client's slots come back. */
	DWCP_NODE_ASSERT(node.instance, slots_of(&victim) == 2, "status does not list the hoarder's 2 slots");
	kill_child(victim);
	DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_until(no_slots_of, &victim, GUARD_MS),
			 "the killed client still holds slots");
	slots(2, r);
	DWCP_NODE_ASSERT(node.instance, r[0].status == 0 && r[1].status == 0,
			 "the killed client's slots did not come back: %d (%s), %d (%s)",
			 r[0].status, r[0].msg, r[1].status, r[1].msg);
}
