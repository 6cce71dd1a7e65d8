/* The supervisor's own death (DESIGN §4: "if the supervisor itself dies,
 * services stop cleanly (they detect it)"), seen from outside.
 *
 * kill -9 of the supervisor while a client process pushes descriptors
 * through client -> svc-simd (CRC32C) -> client: every service must exit,
 * the client must see the supervisor gone and leave; then nothing of the
 * node may remain — no hugepage file named after the instance's
 * file-prefix, no DPDK runtime dir, no control socket, no pid file (the
 * last process out removes them: ipc/attach.h) — and `dwcp-supervisor
 * start` of the same instance must work at once, with a client round trip
 * through the new node. Three times in a row on one instance.
 *
 * A second test keeps a client attached, idle, while the services exit:
 * the files must then stay (it still maps the hugepage file; removing
 * them under it is what the lock prevents) until it leaves, and its
 * leaving removes them.
 *
 * How long the services took to exit after the kill is printed beside
 * the heartbeat period, never compared with it: every timeout here is a
 * hang guard.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/ops/crc32c.h"
#include "ipc/client.h"
#include "tests/lib/node.h"

#define ROUNDS       3u
#define WINDOW       64u
#define LOAD_BEFORE  20000u    /* completions before the kill: traffic is flowing */
#define ROUND_TRIP_N 1000u     /* descriptors of the round trip after a restart */
#define HANG_MS      60000u    /* hang guard of any one wait */
#define UP_MS        60000u
#define HEARTBEAT_MS "100"     /* printed beside the exit times; the built-in default */

static const char *const node_cfg[] = { "supervisor.heartbeat_ms = " HEARTBEAT_MS, NULL };

enum phase { CLIENT_STARTING, CLIENT_RUNNING, CLIENT_DONE, CLIENT_SUP_GONE, CLIENT_FAILED };

/* Shared between a client child and the test (MAP_SHARED, anonymous). */
struct shared {
	int phase;               /* enum phase; the child writes */
	char err[512];
	uint64_t target;         /* complete this many and end; 0: run until the supervisor dies */
	int idle;                /* attach, then only wait for release */
	int release;             /* the test writes: leave now */
	uint64_t completed, wrong;
	int leave_removed;       /* what dwcp_attach_leave returned */
};

static struct dwcp_test_node node;
static pid_t client_pid;
static struct shared *sh;

static void teardown(void)
{
	if (client_pid > 0) {
		kill(client_pid, SIGKILL);
		waitpid(client_pid, NULL, 0);
		client_pid = 0;
	}
	dwcp_test_node_stop(&node);
	if (sh) {
		munmap(sh, sizeof(*sh));
		sh = NULL;
	}
}

/* ---- the client (a forked child: a process attaches once) ---- */

static void set_phase(int p)
{
	__atomic_store_n(&sh->phase, p, __ATOMIC_RELEASE);
}

static void client_fail(const char *what, const char *why)
{
	snprintf(sh->err, sizeof(sh->err), "%s: %s", what, why);
	set_phase(CLIENT_FAILED);
	_exit(2);
}

/* Leave as a client should at its end: after the supervisor's death the
 * last process out removes the node's files (ipc/attach.h). */
static void client_leave(struct dwcp_client *c, int phase)
{
	__atomic_store_n(&sh->leave_removed, dwcp_attach_leave(&c->at), __ATOMIC_RELEASE);
	set_phase(phase);
	_exit(0);
}

static void client_idle(struct dwcp_client *c)
{
	uint64_t deadline;

	set_phase(CLIENT_RUNNING);
	while (!__atomic_load_n(&sh->release, __ATOMIC_ACQUIRE))
		dwcp_test_sleep_ms(1);
	/* Released once the supervisor's main thread is gone; its pidfd
	 * turns readable when its last thread is. */
	deadline = dwcp_test_now_ms() + HANG_MS;
	while (!dwcp_attach_supervisor_gone(&c->at) && dwcp_test_now_ms() < deadline)
		dwcp_test_sleep_ms(1);
	client_leave(c, dwcp_attach_supervisor_gone(&c->at) ? CLIENT_SUP_GONE : CLIENT_DONE);
}

static void client_main(const char *inst)
{
	const uint16_t step = dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_CRC32C);
	struct dwcp_client c;
	struct dwcp_err err = { 0 };
	uint32_t bufs[WINDOW], crc[WINDOW], ready[WINDOW], got[WINDOW];
	unsigned n_ready = WINDOW;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dwcp_client_open(&c, inst, NULL, "supdeath-test", "supdeath_test-client", &err))
		client_fail("dwcp_client_open", err.msg);
	if (sh->idle)
		client_idle(&c);
	if (dwcp_client_alloc(&c, bufs, WINDOW) != WINDOW)
		client_fail("dwcp_client_alloc", "no buffers");
	for (unsigned i = 0; i < WINDOW; i++) {
		uint8_t *d = dwcp_client_data(&c, bufs[i]);

		for (unsigned k = 0; k < 512; k++)
			d[k] = (uint8_t)random();
		crc[i] = dwcp_crc32c(0, d, 512);
	}
	memcpy(ready, bufs, sizeof(ready));
	set_phase(CLIENT_RUNNING);
	while (!sh->target || __atomic_load_n(&sh->completed, __ATOMIC_RELAXED) < sh->target) {
		unsigned k, n;

		for (unsigned i = 0; i < n_ready; i++) {
			dwcp_client_set_prog(&c, ready[i], &step, 1);
			dwcp_client_hdr(&c, ready[i])->len = 512;
			dwcp_client_hdr(&c, ready[i])->result = 0;
		}
		k = n_ready ? dwcp_client_submit(&c, ready, n_ready) : 0;
		memmove(ready, ready + k, (n_ready - k) * sizeof(ready[0]));
		n_ready -= k;
		n = dwcp_client_poll(&c, got, WINDOW);
		for (unsigned i = 0; i < n; i++) {
			const struct dwcp_buf_hdr *h = dwcp_client_hdr(&c, got[i]);
			unsigned j = 0;

			while (j < WINDOW && bufs[j] != got[i])
				j++;
			if (j == WINDOW || h->status != DWCP_BUF_OK || h->result != crc[j])
				__atomic_fetch_add(&sh->wrong, 1, __ATOMIC_RELAXED);
			ready[n_ready++] = got[i];
		}
		__atomic_fetch_add(&sh->completed, n, __ATOMIC_RELEASE);
		if (n)
			continue;
		if (dwcp_attach_supervisor_gone(&c.at))
			client_leave(&c, CLIENT_SUP_GONE);
		dwcp_client_wait(&c, 1000000ull);
	}
	client_leave(&c, CLIENT_DONE);
}

static void start_client(uint64_t target, int idle)
{
	if (sh)
		munmap(sh, sizeof(*sh));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(sh != MAP_FAILED, "mmap: %s", strerror(errno));
	sh->target = target;
	sh->idle = idle;
	fflush(NULL);
	client_pid = fork();
	cr_assert(client_pid >= 0, "fork: %s", strerror(errno));
	if (client_pid == 0)
		client_main(node.instance);
}

/* ---- the test process ---- */

static int phase(void)
{
	return __atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE);
}

static void wait_client_phase(int want, const char *why)
{
	uint64_t deadline = dwcp_test_now_ms() + HANG_MS;

	while (phase() != want) {
		DWCP_NODE_ASSERT(node.instance, phase() != CLIENT_FAILED, "the client failed: %s",
				 sh->err);
		DWCP_NODE_ASSERT(node.instance, dwcp_test_now_ms() < deadline,
				 "client phase %d, not %d, after %u s (%s)", phase(), want,
				 HANG_MS / 1000, why);
		dwcp_test_sleep_ms(2);
	}
}

static void wait_completed(uint64_t n)
{
	uint64_t deadline = dwcp_test_now_ms() + HANG_MS;

	while (__atomic_load_n(&sh->completed, __ATOMIC_ACQUIRE) < n) {
		DWCP_NODE_ASSERT(node.instance, phase() != CLIENT_FAILED, "the client failed: %s",
				 sh->err);
		DWCP_NODE_ASSERT(node.instance, dwcp_test_now_ms() < deadline,
				 "the client completed %lu of %lu in %u s (hang guard)",
				 __atomic_load_n(&sh->completed, __ATOMIC_ACQUIRE), n, HANG_MS / 1000);
		dwcp_test_sleep_ms(2);
	}
}

/* Reap the client; it must have exited 0 in phase @p want with no wrong result. */
static void reap_client(int want)
{
	uint64_t deadline = dwcp_test_now_ms() + HANG_MS;
	int st = 0;

	while (waitpid(client_pid, &st, WNOHANG) == 0) {
		DWCP_NODE_ASSERT(node.instance, dwcp_test_now_ms() < deadline,
				 "the client (pid %d, phase %d) still runs after %u s", (int)client_pid,
				 phase(), HANG_MS / 1000);
		dwcp_test_sleep_ms(2);
	}
	client_pid = 0;
	DWCP_NODE_ASSERT(node.instance, WIFEXITED(st) && WEXITSTATUS(st) == 0 && phase() == want,
			 "client: wait status %#x, phase %d (want %d): %s", st, phase(), want,
			 sh->err);
	DWCP_NODE_ASSERT(node.instance, sh->wrong == 0, "%lu of %lu descriptors came back wrong",
			 sh->wrong, sh->completed);
}

static pid_t sup_pid_now(void)
{
	char p[PATH_MAX], buf[32] = "";
	FILE *f;

	snprintf(p, sizeof(p), "%s/supervisor.pid", node.inst_dir);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (pid_t)strtol(buf, NULL, 10);
}

static void all_services_up(pid_t pids[DWCP_TEST_SERVICES])
{
	cJSON *st;

	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance,
				 dwcp_test_wait_service_up(node.instance, dwcp_test_service_names[i], 0,
							   UP_MS) > 0,
				 "%s did not come up", dwcp_test_service_names[i]);
	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "the supervisor does not answer");
	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* How many of the node's files are still there; @p what names the first. */
static unsigned node_files(char *what, size_t n)
{
	static const char *const run_files[] = { "ctl.sock", "supervisor.pid" };
	char p[PATH_MAX];
	unsigned left = 0;
	glob_t g;

	what[0] = '\0';
	snprintf(p, sizeof(p), "/dev/hugepages/%smap_*", node.instance);
	if (glob(p, 0, NULL, &g) == 0) {
		left += (unsigned)g.gl_pathc;
		snprintf(what, n, "%s", g.gl_pathv[0]);
		globfree(&g);
	}
	snprintf(p, sizeof(p), "/var/run/dpdk/%s", node.instance);
	if (exists(p) && left++ == 0)
		snprintf(what, n, "%s", p);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", node.inst_dir, run_files[i]);
		if (exists(p) && left++ == 0)
			snprintf(what, n, "%s", p);
	}
	return left;
}

/* kill -9 the supervisor; wait until it and every service process have
 * exited: the six services and their workers (svc-simd.1 ...), since the
 * last process out removes the node's files.
 * @return ms from the kill until the last one was seen gone. */
static uint64_t kill_supervisor(void)
{
	enum { MAX_PROCS = 48 };
	pid_t sup = sup_pid_now(), pids[MAX_PROCS];
	char names[MAX_PROCS][32];
	unsigned n = 0;
	uint64_t t0, last = 0;
	cJSON *st = dwcp_test_status(node.instance, NULL);
	const cJSON *e, *list = st ? cJSON_GetObjectItemCaseSensitive(st, "services") : NULL;

	DWCP_NODE_ASSERT(node.instance, sup > 0, "no supervisor.pid");
	DWCP_NODE_ASSERT(node.instance, st != NULL, "the supervisor does not answer");
	cJSON_ArrayForEach(e, list) {
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(e, "pid");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");

		if (n < MAX_PROCS && cJSON_IsNumber(pid) && pid->valuedouble > 0 && cJSON_IsString(name)) {
			pids[n] = (pid_t)pid->valuedouble;
			snprintf(names[n++], sizeof(names[0]), "%s", name->valuestring);
		}
	}
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(node.instance, n >= DWCP_TEST_SERVICES, "status lists %u service processes", n);
	t0 = dwcp_test_now_ms();
	cr_assert_eq(kill(sup, SIGKILL), 0, "kill -9 supervisor %d: %s", (int)sup, strerror(errno));
	DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(sup, HANG_MS),
			 "the supervisor (pid %d) survived SIGKILL", (int)sup);
	for (unsigned i = 0; i < n; i++) {
		DWCP_NODE_ASSERT(node.instance, dwcp_test_wait_exited(pids[i], HANG_MS),
				 "%s (pid %d) still runs %u s after its supervisor died (state %c)",
				 names[i], (int)pids[i], HANG_MS / 1000, dwcp_test_proc_state(pids[i]));
		last = dwcp_test_now_ms();
	}
	return last - t0;
}

/* `dwcp-supervisor start` of the same instance, at once, and a round
 * trip of ROUND_TRIP_N descriptors through the new node. */
static void start_again_and_round_trip(void)
{
	char sup[PATH_MAX], out[8192], err[8192];
	pid_t pids[DWCP_TEST_SERVICES];
	int rc;

	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ sup, "--instance", node.instance, "--config",
					    node.config, "start", NULL },
			   out, sizeof(out), err, sizeof(err), 120000);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start after the supervisor's death: exit %d: %s%s",
			 rc, out, err);
	all_services_up(pids);
	start_client(ROUND_TRIP_N, 0);
	wait_client_phase(CLIENT_DONE, "round trip");
	reap_client(CLIENT_DONE);
	cr_assert_geq(sh->completed, ROUND_TRIP_N, "round trip: %lu completed", sh->completed);
}

Test(supdeath, kill9_supervisor_under_load_cleans_up_and_restarts_x3, .fini = teardown,
     .timeout = 600)
{
	pid_t pids[DWCP_TEST_SERVICES];
	char left[PATH_MAX];
	unsigned n_left;
	int rc;

	rc = dwcp_test_node_start(&node, "supdeath", node_cfg);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		uint64_t gone_ms;

		all_services_up(pids);
		start_client(0, 0);
		wait_client_phase(CLIENT_RUNNING, "attach");
		wait_completed(LOAD_BEFORE);
		gone_ms = kill_supervisor();
		reap_client(CLIENT_SUP_GONE);
		n_left = node_files(left, sizeof(left));
		DWCP_NODE_ASSERT(node.instance, n_left == 0,
				 "round %u: %u of the dead node's files are still there, e.g. %s",
				 round, n_left, left);
		fprintf(stderr, "supdeath round %u: %lu descriptors completed before the kill; all service processes gone %lu ms after it (heartbeat period " HEARTBEAT_MS " ms); files removed %s\n",
			round, sh->completed, gone_ms,
			sh->leave_removed ? "by the client, the last to leave" : "by the last service");
		start_again_and_round_trip();
	}
}

Test(supdeath, files_stay_while_a_client_is_attached, .fini = teardown, .timeout = 300)
{
	pid_t pids[DWCP_TEST_SERVICES];
	char left[PATH_MAX];
	char huge[PATH_MAX];
	glob_t g;
	int rc;

	rc = dwcp_test_node_start(&node, "supdeath-held", node_cfg);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	all_services_up(pids);
	start_client(0, 1);
	wait_client_phase(CLIENT_RUNNING, "attach");
	kill_supervisor();
	/* Every service is gone but the client still maps the memory. */
	snprintf(huge, sizeof(huge), "/dev/hugepages/%smap_*", node.instance);
	rc = glob(huge, 0, NULL, &g);
	DWCP_NODE_ASSERT(node.instance, rc == 0,
			 "the hugepage file was removed while a client still had it mapped");
	globfree(&g);
	snprintf(left, sizeof(left), "/var/run/dpdk/%s", node.instance);
	DWCP_NODE_ASSERT(node.instance, exists(left),
			 "%s was removed while a client was still attached", left);
	__atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
	reap_client(CLIENT_SUP_GONE);
	DWCP_NODE_ASSERT(node.instance, sh->leave_removed == 1,
			 "the last process to leave did not remove the node's files");
	DWCP_NODE_ASSERT(node.instance, node_files(left, sizeof(left)) == 0,
			 "files left after the last process left, e.g. %s", left);
	start_again_and_round_trip();
}

/* No client: the last service out removes the files. */
Test(supdeath, last_service_out_cleans_up, .fini = teardown, .timeout = 300)
{
	pid_t pids[DWCP_TEST_SERVICES];
	char left[PATH_MAX];
	int rc;

	rc = dwcp_test_node_start(&node, "supdeath-svc", node_cfg);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	all_services_up(pids);
	kill_supervisor();
	DWCP_NODE_ASSERT(node.instance, node_files(left, sizeof(left)) == 0,
			 "files left after every service exited, e.g. %s", left);
	start_again_and_round_trip();
}

/* `dwcp-supervisor start` right after the kill, without waiting for
 * anything: the dead supervisor may still be closing its files and its
 * services may still be leaving (the lock is briefly theirs); start must
 * wait for them rather than refuse. */
Test(supdeath, start_right_after_the_kill_x3, .fini = teardown, .timeout = 300)
{
	pid_t pids[DWCP_TEST_SERVICES];
	int rc;

	rc = dwcp_test_node_start(&node, "supdeath-now", node_cfg);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		pid_t sup;

		all_services_up(pids);
		sup = sup_pid_now();
		DWCP_NODE_ASSERT(node.instance, sup > 0, "no supervisor.pid");
		cr_assert_eq(kill(sup, SIGKILL), 0, "kill -9 supervisor %d: %s", (int)sup,
			     strerror(errno));
		start_again_and_round_trip();
		DWCP_NODE_ASSERT(node.instance, sup_pid_now() != sup, "round %u: still pid %d",
				 round, (int)sup);
	}
}
