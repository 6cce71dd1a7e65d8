/* Planned upgrade and drain (`dwcpctl upgrade SVC --binary PATH`,
 * `dwcpctl drain SVC`, `dwcpctl resume SVC`; DESIGN §4), seen from
 * outside as an operator runs them, while descriptors flow.
 *
 * Load: a client process (a forked child: a process attaches as a DPDK
 * secondary once) pushes descriptors through client -> svc-simd (or
 * svc-gpu on its CPU backend) CRC32C -> client, 256 in flight, each with
 * a random payload whose CRC it computed itself; on delivery it checks
 * status, result and payload and marks the sequence number in a bitmap:
 * every descriptor must complete exactly once. The driver (this process)
 * hands the client its descriptors in portions, one more per event, so
 * the client cannot finish before the last upgrade however fast it runs.
 *
 * Each upgrade must leave: a new pid, generation + 1, READY (or STANDBY
 * for a service without its device), restarts 0 and upgrades + 1, the
 * other services' pids unchanged; at the end every buffer is back in the
 * pool. The pause each upgrade caused (SIGTERM of the old generation to
 * READY of the new, as `dwcpctl upgrade` prints it) is printed as P50/P99
 * — reported, never compared with a threshold.
 *
 * A transfer test runs `dwcp send` / `dwcp recv` between two nodes and
 * upgrades svc-net, svc-simd and svc-mem on both while it runs: the file
 * must arrive bit-identical (svc-net keeps each chunk until acknowledged,
 * so its chunks in flight pass to the new generation, which sends them
 * again; the receiver drops duplicates).
 *
 * Timeouts are hang guards (each failure prints the client's counters,
 * the status JSON and the supervisor log), never speed requirements.
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/client.h"
#include "tests/lib/crcload.h"
#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define N_MAX        500000u
#define WINDOW       256u
#define BURST        32u
#define STREAM       0x0b9eULL
#define MAX_EVENTS   16u
#define SCENARIO_MS  300000u   /* hang guard for one scenario */
#define STALL_MS     60000u    /* hang guard: no completion while nothing is being upgraded */
#define CMD_MS       120000u   /* hang guard for one dwcpctl command */
#define POOL_MS      30000u

static struct dwcp_test_node node;
static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];
static pid_t client_pid;
static int client_status;
static struct dwcp_crcload *sh;

static void teardown(void)
{
	if (client_pid > 0) {
		kill(client_pid, SIGKILL);
		waitpid(client_pid, NULL, 0);
		client_pid = 0;
	}
	dwcp_test_node_stop(&node);
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
	if (sh) {
		dwcp_crcload_unmap(sh);
		sh = NULL;
	}
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- the driver ---- */

static uint64_t count_done(void)
{
	return dwcp_crcload_count_done(sh);
}

static void dump_client(const char *why)
{
	dwcp_crcload_dump(sh, why);
}

#define UP_FAIL(...)                                                             \
	do {                                                                     \
		char why_[12288];                                               \
		snprintf(why_, sizeof(why_), __VA_ARGS__);                       \
		dump_client(why_);                                               \
		dwcp_test_dump(node.instance, why_);                             \
		cr_assert_fail("%s", why_);                                      \
	} while (0)

struct load {
	uint64_t deadline, last_done, last_change;
};

/* Hang guards; call often. */
static void guard(struct load *ld_, bool busy)
{
	uint64_t now = dwcp_test_now_ms(), done = ld(&sh->completed);

	if (now > ld_->deadline)
		UP_FAIL("scenario still running after %u s (hang guard)", SCENARIO_MS / 1000);
	if (done != ld_->last_done || busy) {
		ld_->last_done = done;
		ld_->last_change = now;
	} else if (done < ld(&sh->allowance) && now - ld_->last_change > STALL_MS) {
		UP_FAIL("client made no progress for %u s at %lu completed (hang guard)",
			STALL_MS / 1000, done);
	}
	if (client_pid > 0 && waitpid(client_pid, &client_status, WNOHANG) == client_pid)
		client_pid = 0;
	if (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) == DWCP_CRCLOAD_FAILED ||
	    (client_pid == 0 && __atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != DWCP_CRCLOAD_DONE))
		UP_FAIL("the client ended early (wait status %#x)", client_status);
}

/* Sleep about @p ms, less once @p enough descriptors completed. */
static void sleep_guarded(struct load *l, unsigned ms, uint64_t enough)
{
	uint64_t end = dwcp_test_now_ms() + ms;

	while (dwcp_test_now_ms() < end && ld(&sh->completed) < enough) {
		guard(l, false);
		dwcp_test_sleep_ms(1);
	}
}

static void start_client(uint64_t target, unsigned step_slot, struct load *l)
{
	sh = dwcp_crcload_map(N_MAX);
	cr_assert(sh, "mmap: %s", strerror(errno));
	sh->target = target;
	sh->step_slot = step_slot;
	sh->stream = STREAM;
	client_status = 0;
	fflush(NULL);
	client_pid = fork();
	cr_assert(client_pid >= 0, "fork: %s", strerror(errno));
	if (client_pid == 0)
		dwcp_crcload_client_main(sh, node.instance, "upgrade_test-client");
	l->deadline = dwcp_test_now_ms() + SCENARIO_MS;
	l->last_change = dwcp_test_now_ms();
	while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) == DWCP_CRCLOAD_STARTING)
		sleep_guarded(l, 5, target);
}

/* Let the client finish everything; check every descriptor completed
 * exactly once and intact, and every buffer is back in the pool. */
static void finish_client(struct load *l)
{
	long free_n;

	__atomic_store_n(&sh->allowance, sh->target, __ATOMIC_RELEASE);
	while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != DWCP_CRCLOAD_DONE)
		sleep_guarded(l, 10, sh->target);
	if (client_pid > 0 && waitpid(client_pid, &client_status, 0) == client_pid)
		client_pid = 0;
	if (client_pid || !WIFEXITED(client_status) || WEXITSTATUS(client_status) != 0)
		UP_FAIL("client wait status %#x", client_status);
	if (ld(&sh->completed) != sh->target || count_done() != sh->target || ld(&sh->wrong_crc) ||
	    ld(&sh->wrong_payload) || ld(&sh->bad_status) || ld(&sh->bad_seq) ||
	    ld(&sh->bad_stream) || ld(&sh->duplicates))
		UP_FAIL("not every one of %lu descriptors completed exactly once and intact",
			sh->target);
	free_n = dwcp_test_wait_pool_full(node.instance, POOL_MS);
	{
		cJSON *st = dwcp_test_status(node.instance, NULL);
		long bufs = dwcp_test_pool_buffers(st);

		cJSON_Delete(st);
		if (free_n != bufs)
			UP_FAIL("pool: %ld free of %ld after the client ended", free_n, bufs);
	}
}

/* ---- dwcpctl ---- */

/* Run `dwcpctl --instance I ARGS...`; output into @p out / @p err. */
static int dwcpctl(const char *inst, char *out, size_t on, char *err, size_t en,
		   const char *a1, const char *a2, const char *a3, const char *a4)
{
	char bin[PATH_MAX];

	snprintf(bin, sizeof(bin), "%s/dwcpctl", dwcp_test_bin_dir());
	return dwcp_test_run((char *const[]){ bin, "--instance", (char *)inst, (char *)a1,
					      (char *)a2, (char *)a3, (char *)a4, NULL },
			     out, on, err, en, CMD_MS);
}

static int upgrade_cmd(const char *inst, const char *svc, const char *binary, char *out, size_t on,
		       char *err, size_t en)
{
	return dwcpctl(inst, out, on, err, en, "upgrade", svc, "--binary", binary);
}

static void own_binary(char *out, size_t n, const char *svc)
{
	snprintf(out, n, "%s/%s", dwcp_test_bin_dir(), svc);
}

static int service_index(const char *svc)
{
	for (int i = 0; i < DWCP_TEST_SERVICES; i++)
		if (!strcmp(dwcp_test_service_names[i], svc))
			return i;
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of @p n values (sorted here). */
static double percentile(double *v, unsigned n, double p)
{
	unsigned k = (unsigned)(p / 100.0 * n + 0.999999);

	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[k ? k - 1 : 0];
}

/* One upgrade of @p svc to its own binary, checked from status; @return
 * the pause `dwcpctl upgrade` printed (ms). */
static double upgrade_once(const char *svc, unsigned nth)
{
	pid_t before[DWCP_TEST_SERVICES], after[DWCP_TEST_SERVICES];
	char bin[PATH_MAX], out[4096], err[4096];
	const char *p;
	double gen, pause = -1, upgrades, restarts[DWCP_TEST_SERVICES];
	int me = service_index(svc), rc;
	cJSON *st = dwcp_test_status(node.instance, NULL);

	if (!st)
		UP_FAIL("no status before upgrade %u of %s", nth, svc);
	dwcp_test_service_pids(st, before);
	/* A restart before this upgrade (a secondary whose EAL attach failed
	 * at node start, say) is not one it caused. */
	for (int i = 0; i < DWCP_TEST_SERVICES; i++)
		restarts[i] = dwcp_test_svc_num(st, dwcp_test_service_names[i], "restarts");
	gen = dwcp_test_svc_num(st, svc, "generation");
	upgrades = dwcp_test_svc_num(st, svc, "upgrades");
	cJSON_Delete(st);
	own_binary(bin, sizeof(bin), svc);
	rc = upgrade_cmd(node.instance, svc, bin, out, sizeof(out), err, sizeof(err));
	if (rc != 0)
		UP_FAIL("dwcpctl upgrade %s (%u): exit %d; stdout '%s' stderr '%s'", svc, nth, rc, out,
			err);
	p = strstr(out, "pause ");
	if (!p || sscanf(p, "pause %lf ms", &pause) != 1 || !strstr(out, "upgraded "))
		UP_FAIL("dwcpctl upgrade %s printed no pause: '%s'", svc, out);
	st = dwcp_test_status(node.instance, NULL);
	if (!st)
		UP_FAIL("no status after upgrade %u of %s", nth, svc);
	dwcp_test_service_pids(st, after);
	for (int i = 0; i < DWCP_TEST_SERVICES; i++)
		if ((i == me) == (after[i] == before[i]))
			UP_FAIL("after upgrade %u of %s: %s pid %d, was %d", nth, svc,
				dwcp_test_service_names[i], (int)after[i], (int)before[i]);
	if (dwcp_test_svc_num(st, svc, "generation") != gen + 1 ||
	    dwcp_test_svc_num(st, svc, "upgrades") != upgrades + 1 ||
	    (strcmp(dwcp_test_svc_str(st, svc, "state"), "READY") &&
	     strcmp(dwcp_test_svc_str(st, svc, "state"), "STANDBY")))
		UP_FAIL("after upgrade %u of %s: generation %.0f (was %.0f), upgrades %.0f (was %.0f), %s",
			nth, svc, dwcp_test_svc_num(st, svc, "generation"), gen,
			dwcp_test_svc_num(st, svc, "upgrades"), upgrades,
			dwcp_test_svc_str(st, svc, "state"));
	for (int i = 0; i < DWCP_TEST_SERVICES; i++)
		if (dwcp_test_svc_num(st, dwcp_test_service_names[i], "restarts") != restarts[i])
			UP_FAIL("%s restarted during upgrade %u of %s", dwcp_test_service_names[i], nth, svc);
	cJSON_Delete(st);
	if (!dwcp_test_wait_exited(before[me], CMD_MS))
		UP_FAIL("the old %s (pid %d) still runs after its upgrade", svc, (int)before[me]);
	return pause;
}

/* @p n upgrades of @p svc while the client's CRC32C descriptors flow
 * through @p step_slot; the client gets @p total descriptors in n + 1
 * portions, the next at each upgrade. */
static void upgrades_under_load(const char *svc, unsigned n, unsigned step_slot, uint64_t total,
				const char *const *ovr)
{
	double pause[MAX_EVENTS], p50, p99;
	unsigned under_load = 0;
	struct load l = { 0 };
	int rc;

	rc = dwcp_test_node_start(&node, svc, ovr);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	start_client(total, step_slot, &l);
	for (unsigned k = 0; k < n; k++) {
		uint64_t allowance = (uint64_t)(k + 1) * total / (n + 1), done = ld(&sh->completed);

		__atomic_store_n(&sh->allowance, allowance, __ATOMIC_RELEASE);
		/* Into the portion, then upgrade while the rest flows. */
		sleep_guarded(&l, 20 + (unsigned)(random() % 100),
			      done + (allowance - done) / 3);
		under_load += ld(&sh->in_flight) > 0;
		pause[k] = upgrade_once(svc, k + 1);
		guard(&l, true);
	}
	finish_client(&l);
	fprintf(stderr, "%s: %u upgrades, %u with descriptors in flight; %lu descriptors completed exactly once (%lu after a re-delivery)\n",
		svc, n, under_load, ld(&sh->completed), ld(&sh->redelivered));
	p50 = percentile(pause, n, 50);
	p99 = percentile(pause, n, 99);
	fprintf(stderr, "%s: upgrade pause (SIGTERM of the old to READY of the new): P50 %.1f ms, P99 %.1f ms, min %.1f ms, max %.1f ms\n",
		svc, p50, p99, pause[0], pause[n - 1]);
	if (under_load * 2 < n)
		UP_FAIL("only %u of %u upgrades found descriptors in flight: the test did not test much",
			under_load, n);
}

Test(upgrade, simd_x10_under_load_loses_nothing, .fini = teardown, .timeout = 600)
{
	upgrades_under_load("svc-simd", 10, DWCP_SLOT_SIMD, N_MAX, NULL);
}

/* Every service type, with its own binary, while svc-simd carries the
 * client's load (svc-gpu carries it itself, on its CPU backend). */
Test(upgrade, net_under_load, .fini = teardown, .timeout = 400)
{
	upgrades_under_load("svc-net", 3, DWCP_SLOT_SIMD, N_MAX / 4, NULL);
}

Test(upgrade, rdma_under_load, .fini = teardown, .timeout = 400)
{
	upgrades_under_load("svc-rdma", 3, DWCP_SLOT_SIMD, N_MAX / 4, NULL);
}

Test(upgrade, gpu_cpu_backend_under_its_own_load, .fini = teardown, .timeout = 400)
{
	static const char *const ovr[] = { "gpu.cpu_backend = true", NULL };

	upgrades_under_load("svc-gpu", 3, DWCP_SLOT_GPU, N_MAX / 4, ovr);
}

Test(upgrade, mem_under_load, .fini = teardown, .timeout = 400)
{
	upgrades_under_load("svc-mem", 3, DWCP_SLOT_SIMD, N_MAX / 4, NULL);
}

Test(upgrade, prof_under_load, .fini = teardown, .timeout = 400)
{
	upgrades_under_load("svc-prof", 3, DWCP_SLOT_SIMD, N_MAX / 4, NULL);
}

/* ---- refusals ---- */

/* svc-prof built for ABI 9999 cannot attach: the upgrade is refused with
 * the new binary's own reason, and the old svc-prof never noticed. */
Test(upgrade, other_abi_is_refused_and_the_old_one_keeps_running, .fini = teardown,
     .timeout = 300)
{
	char bin[PATH_MAX], out[4096], err[4096], v[32];
	pid_t pids[DWCP_TEST_SERVICES], now[DWCP_TEST_SERVICES];
	double gen;
	cJSON *st;
	int rc;

	rc = dwcp_test_node_start(&node, "upg-abi", NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "no status");
	dwcp_test_service_pids(st, pids);
	gen = dwcp_test_svc_num(st, "svc-prof", "generation");
	cJSON_Delete(st);

	dwcp_test_build_path(bin, sizeof(bin), "tests/bin/svc-abi-mismatch");
	rc = upgrade_cmd(node.instance, "svc-prof", bin, out, sizeof(out), err, sizeof(err));
	fprintf(stderr, "dwcpctl upgrade svc-prof --binary %s: exit %d: %s", bin, rc, err);
	DWCP_NODE_ASSERT(node.instance, rc == 1, "exit %d (1 = refused); stdout '%s' stderr '%s'",
			 rc, out, err);
	DWCP_NODE_ASSERT(node.instance, strstr(err, "ABI mismatch") && strstr(err, "9999"),
			 "stderr lacks the reason: '%s'", err);
	snprintf(v, sizeof(v), "ABI %u", DWCP_ABI_VERSION);
	DWCP_NODE_ASSERT(node.instance, strstr(err, v) && strstr(err, "keeps running"),
			 "stderr lacks '%s' or 'keeps running': '%s'", v, err);

	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "no status after the refusal");
	dwcp_test_service_pids(st, now);
	for (int i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance, now[i] == pids[i], "%s: pid %d, was %d",
				 dwcp_test_service_names[i], (int)now[i], (int)pids[i]);
	DWCP_NODE_ASSERT(node.instance,
			 dwcp_test_svc_num(st, "svc-prof", "generation") == gen &&
			 !strcmp(dwcp_test_svc_str(st, "svc-prof", "state"), "READY") &&
			 dwcp_test_svc_num(st, "svc-prof", "upgrades") == 0 &&
			 dwcp_test_svc_num(st, "svc-prof", "restarts") == 0 &&
			 !strcmp(dwcp_test_svc_str(st, "svc-prof", "upgrade"), ""),
			 "svc-prof changed: generation %.0f (was %.0f), %s, upgrades %.0f, restarts %.0f, upgrade '%s'",
			 dwcp_test_svc_num(st, "svc-prof", "generation"), gen,
			 dwcp_test_svc_str(st, "svc-prof", "state"),
			 dwcp_test_svc_num(st, "svc-prof", "upgrades"),
			 dwcp_test_svc_num(st, "svc-prof", "restarts"),
			 dwcp_test_svc_str(st, "svc-prof", "upgrade"));
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(pids[5]), "svc-prof is gone");

	/* And a real upgrade still works afterwards. */
	own_binary(bin, sizeof(bin), "svc-prof");
	rc = upgrade_cmd(node.instance, "svc-prof", bin, out, sizeof(out), err, sizeof(err));
	DWCP_NODE_ASSERT(node.instance, rc == 0, "upgrade after the refusal: exit %d '%s' '%s'", rc,
			 out, err);
}

/* Bad requests get a reason and change nothing. */
Test(upgrade, bad_requests_say_why, .fini = teardown, .timeout = 300)
{
	static const struct {
		const char *svc, *bin, *want;
		int rc;
	} rows[] = {
		{ "svc-nope", "svc-simd", "not a dwcp service", 1 },
		{ "svc-simd", "/nonexistent/svc-simd", "No such file", 2 },
		{ "svc-simd", "NOEXEC", "not executable", 2 },
		{ "svc-simd", "svc-prof", "not svc-simd", 1 },
		{ "svc-simd", "/bin/true", "did not attach", 1 },
	};
	pid_t pids[DWCP_TEST_SERVICES], now[DWCP_TEST_SERVICES];
	char bin[PATH_MAX], out[4096], err[4096];
	cJSON *st;
	int rc;

	char noexec[128];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-upg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(noexec, sizeof(noexec), "%s/svc-simd", dir);
	f = fopen(noexec, "w");
	cr_assert_not_null(f, "%s: %s", noexec, strerror(errno));
	fclose(f);
	cr_assert_eq(chmod(noexec, 0644), 0);
	rc = dwcp_test_node_start(&node, "upg-bad", NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	st = dwcp_test_status(node.instance, NULL);
	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!strcmp(rows[i].bin, "NOEXEC"))
			snprintf(bin, sizeof(bin), "%s", noexec);
		else if (rows[i].bin[0] == '/')
			snprintf(bin, sizeof(bin), "%s", rows[i].bin);
		else
			own_binary(bin, sizeof(bin), rows[i].bin);
		rc = upgrade_cmd(node.instance, rows[i].svc, bin, out, sizeof(out), err, sizeof(err));
		DWCP_NODE_ASSERT(node.instance, rc == rows[i].rc && strstr(err, rows[i].want),
				 "upgrade %s --binary %s: exit %d (want %d), stderr '%s' (want '%s')",
				 rows[i].svc, bin, rc, rows[i].rc, err, rows[i].want);
	}
	rc = dwcpctl(node.instance, out, sizeof(out), err, sizeof(err), "drain", "svc-nope", NULL,
		     NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 1 && strstr(err, "not a dwcp service"),
			 "drain svc-nope: exit %d '%s'", rc, err);
	rc = dwcpctl(node.instance, out, sizeof(out), err, sizeof(err), "upgrade", "svc-simd", NULL,
		     NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 2 && strstr(err, "--binary"),
			 "upgrade without --binary: exit %d '%s'", rc, err);
	st = dwcp_test_status(node.instance, NULL);
	dwcp_test_service_pids(st, now);
	for (int i = 0; i < DWCP_TEST_SERVICES; i++)
		DWCP_NODE_ASSERT(node.instance, now[i] == pids[i] &&
				 dwcp_test_svc_num(st, dwcp_test_service_names[i], "upgrades") == 0,
				 "%s changed: pid %d, was %d", dwcp_test_service_names[i],
				 (int)now[i], (int)pids[i]);
	cJSON_Delete(st);
}

/* ---- drain ---- */

static double simd_num(const char *field)
{
	cJSON *st = dwcp_test_status(node.instance, NULL);
	double v = dwcp_test_svc_num(st, "svc-simd", field);

	cJSON_Delete(st);
	return v;
}

static const char *simd_state(char *buf, size_t n)
{
	cJSON *st = dwcp_test_status(node.instance, NULL);

	snprintf(buf, n, "%s", dwcp_test_svc_str(st, "svc-simd", "state"));
	cJSON_Delete(st);
	return buf;
}

/* A drained svc-simd holds nothing and does nothing while its input
 * waits; it stays drained through an upgrade; resume lets the work
 * through, every descriptor exactly once. */
Test(upgrade, drain_holds_nothing_and_resume_lets_work_through, .fini = teardown,
     .timeout = 400)
{
	char out[4096], err[4096], state[32], bin[PATH_MAX];
	struct load l = { 0 };
	double ops, held;
	int rc;

	rc = dwcp_test_node_start(&node, "upg-drain", NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	start_client(N_MAX / 4, DWCP_SLOT_SIMD, &l);
	__atomic_store_n(&sh->allowance, N_MAX / 8, __ATOMIC_RELEASE);
	sleep_guarded(&l, 100, N_MAX / 32);

	rc = dwcpctl(node.instance, out, sizeof(out), err, sizeof(err), "drain", "svc-simd", NULL,
		     NULL);
	fprintf(stderr, "dwcpctl drain svc-simd: exit %d: %s%s", rc, out, err);
	if (rc != 0 || !strstr(out, "drained"))
		UP_FAIL("drain: exit %d, stdout '%s', stderr '%s'", rc, out, err);
	held = simd_num("buffers_held");
	ops = simd_num("ops");
	if (held != 0 || strcmp(simd_state(state, sizeof(state)), "DRAINING"))
		UP_FAIL("after drain: svc-simd %s holding %.0f buffers", state, held);
	/* Nothing moves while it is drained, though work waits for it: more
	 * work is allowed only now, so some is sure to be waiting however fast
	 * the first allowance went through before the drain landed. */
	__atomic_store_n(&sh->allowance, N_MAX / 4, __ATOMIC_RELEASE);
	dwcp_test_sleep_ms(300);
	guard(&l, true);
	if (simd_num("ops") != ops || simd_num("buffers_held") != 0 || simd_num("link_in") == 0)
		UP_FAIL("drained svc-simd: ops %.0f (was %.0f), held %.0f, link_in %.0f", simd_num("ops"),
			ops, simd_num("buffers_held"), simd_num("link_in"));

	/* An upgrade of a drained service keeps it drained. */
	own_binary(bin, sizeof(bin), "svc-simd");
	rc = upgrade_cmd(node.instance, "svc-simd", bin, out, sizeof(out), err, sizeof(err));
	if (rc != 0 || !strstr(out, "is DRAINING"))
		UP_FAIL("upgrade while drained: exit %d, stdout '%s', stderr '%s'", rc, out, err);
	if (simd_num("buffers_held") != 0 || strcmp(simd_state(state, sizeof(state)), "DRAINING"))
		UP_FAIL("after the upgrade: svc-simd %s holding %.0f buffers", state,
			simd_num("buffers_held"));
	guard(&l, true);

	rc = dwcpctl(node.instance, out, sizeof(out), err, sizeof(err), "resume", "svc-simd", NULL,
		     NULL);
	fprintf(stderr, "dwcpctl resume svc-simd: exit %d: %s%s", rc, out, err);
	if (rc != 0 || !strstr(out, "READY"))
		UP_FAIL("resume: exit %d, stdout '%s', stderr '%s'", rc, out, err);
	finish_client(&l);
	if (simd_num("restarts") != 0 || simd_num("upgrades") != 1)
		UP_FAIL("svc-simd restarts %.0f, upgrades %.0f", simd_num("restarts"),
			simd_num("upgrades"));
}

/* ---- the old generation crashes while its successor attaches ---- */

/* Start `dwcpctl upgrade svc-simd` in the background and freeze its
 * successor while it still attaches. @return the successor's pid, or 0
 * when it had attached already (the caller tries again). */
static pid_t frozen_successor(struct dwcp_xfer_proc *cmd, struct load *l)
{
	char bin[PATH_MAX], ctl[PATH_MAX];
	uint64_t t0 = dwcp_test_now_ms();
	pid_t succ = 0;
	char phase[32];
	cJSON *st;

	own_binary(bin, sizeof(bin), "svc-simd");
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	cr_assert_eq(dwcp_xfer_spawn(cmd, "dwcpctl upgrade", NULL,
				     (char *const[]){ ctl, "--instance", node.instance, "upgrade",
						      "svc-simd", "--binary", bin, NULL }), 0);
	while (succ <= 0) {
		if (dwcp_test_now_ms() - t0 > CMD_MS)
			UP_FAIL("no successor listed %u s after `dwcpctl upgrade`", CMD_MS / 1000);
		guard(l, true);
		dwcp_test_sleep_ms(1);
		succ = (pid_t)simd_num("successor_pid");
	}
	cr_assert_eq(kill(succ, SIGSTOP), 0, "SIGSTOP %d: %s", (int)succ, strerror(errno));
	st = dwcp_test_status(node.instance, NULL);
	snprintf(phase, sizeof(phase), "%s", dwcp_test_svc_str(st, "svc-simd", "upgrade"));
	cJSON_Delete(st);
	if (!strcmp(phase, "attaching"))
		return succ;
	kill(succ, SIGCONT);
	if (dwcp_xfer_wait(cmd, CMD_MS) != 0)
		UP_FAIL("upgrade (attached before it could be frozen) failed: %s", cmd->err);
	dwcp_xfer_proc_free(cmd);
	return 0;
}

/* The old svc-simd is killed while its successor attaches (the successor
 * held stopped to make the window certain): the death handler reclaims as
 * always, no restart is spawned, and the successor takes the slot over as
 * soon as it has attached; counted as a restart, not an upgrade. */
Test(upgrade, old_crash_while_successor_attaches_hands_over, .fini = teardown, .timeout = 400)
{
	struct dwcp_xfer_proc cmd = { 0 };
	struct load l = { 0 };
	pid_t old, succ = 0;
	double gen;
	int rc;

	rc = dwcp_test_node_start(&node, "upg-crash", NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	start_client(N_MAX / 4, DWCP_SLOT_SIMD, &l);
	__atomic_store_n(&sh->allowance, N_MAX / 8, __ATOMIC_RELEASE);
	sleep_guarded(&l, 100, N_MAX / 32);
	for (unsigned tries = 0; tries < 10 && !succ; tries++) {
		old = (pid_t)simd_num("pid");
		gen = simd_num("generation");
		succ = frozen_successor(&cmd, &l);
	}
	if (!succ)
		UP_FAIL("the successor attached every time before it could be frozen");
	cr_assert_eq(kill(old, SIGKILL), 0, "SIGKILL %d: %s", (int)old, strerror(errno));
	if (!dwcp_test_wait_exited(old, CMD_MS))
		UP_FAIL("svc-simd pid %d survived SIGKILL", (int)old);
	while (simd_num("generation") != gen + 1 || simd_num("pid") != 0) {
		guard(&l, true);
		dwcp_test_sleep_ms(5);
	}
	cr_assert_eq(kill(succ, SIGCONT), 0);
	rc = dwcp_xfer_wait(&cmd, CMD_MS);
	fprintf(stderr, "dwcpctl upgrade with the old one killed: exit %d: %s%s", rc, cmd.out,
		cmd.err);
	if (rc != 0 || !strstr(cmd.out, "crashed"))
		UP_FAIL("upgrade: exit %d, stdout '%s', stderr '%s'", rc, cmd.out, cmd.err);
	if (simd_num("pid") != succ || simd_num("generation") != gen + 1 ||
	    simd_num("restarts") != 1 || simd_num("upgrades") != 0)
		UP_FAIL("svc-simd pid %.0f (successor %d), generation %.0f (want %.0f), restarts %.0f, upgrades %.0f",
			simd_num("pid"), (int)succ, simd_num("generation"), gen + 1,
			simd_num("restarts"), simd_num("upgrades"));
	dwcp_xfer_proc_free(&cmd);
	finish_client(&l);
}

/* ---- a transfer ---- */

static int upgrade_pair_node(const char *inst, const char *svc, double *pause)
{
	char bin[PATH_MAX], out[4096], err[4096];
	const char *p;
	int rc;

	own_binary(bin, sizeof(bin), svc);
	rc = upgrade_cmd(inst, svc, bin, out, sizeof(out), err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dwcpctl --instance %s upgrade %s: exit %d: %s%s\n", inst, svc, rc, out,
			err);
		return rc;
	}
	p = strstr(out, "pause ");
	return p && sscanf(p, "pause %lf ms", pause) == 1 ? 0 : -1;
}

/* `dwcp send` of a VM image while svc-net, svc-simd and svc-mem of both
 * nodes are upgraded: the sink gets the same bytes. */
Test(upgrade, transfer_survives_upgrades_on_both_nodes, .fini = teardown, .timeout = 600)
{
	static const char *const order[][2] = {
		{ "a", "svc-net" }, { "b", "svc-net" }, { "a", "svc-simd" },
		{ "b", "svc-simd" }, { "a", "svc-mem" }, { "b", "svc-mem" },
	};
	struct dwcp_xfer_pair_cfg c = { .tag = "upg", .hugepage_mb = 512 };
	char src[128], out[128], key[128], h_src[65], h_out[65], to[96];
	double pause[6], net[4], p50, p99;
	unsigned during = 0, n_net = 0;
	int rc, rs, rr;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-upg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/recv.img", dir);
	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, 256ull << 20, 7), 0, "cannot write %s", src);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen failed");
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	snprintf(to, sizeof(to), "nodeb");
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "vmupg", out, 300), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "vmupg", src, to, 300, NULL), 0);
	/* Under way, then held at once: a fixed wait here let a fast host
	 * move most of the image before the first upgrade (5 of 6 began
	 * while the send ran, on a VM that moves 1.2 GB/s). */
	cr_assert_geq(dwcp_xfer_hold_recv_at(&rcv, &snd, out, 8ull << 20, 60000u), 0,
		      "the transfer did not get under way: send %s, recv %s", snd.err, rcv.err);
	for (unsigned i = 0; i < 6; i++) {
		const char *inst = order[i][0][0] == 'a' ? pair.a.instance : pair.b.instance;

		/* A 256 MiB image crosses loopback in a fraction of a second, less
		 * than six upgrades take: the receiver is held (a sink slower than
		 * the link, as a busy disk makes it) while each upgrade runs, so the
		 * sender's window stays in flight through the services being
		 * replaced, and let go for a moment between upgrades, so the
		 * transfer moves on under each new generation. */
		if (dwcp_xfer_running(&rcv))
			kill(rcv.pid, SIGSTOP);
		during += dwcp_xfer_running(&snd);
		rc = upgrade_pair_node(inst, order[i][1], &pause[i]);
		if (rcv.pid > 0)
			kill(rcv.pid, SIGCONT);
		dwcp_test_sleep_ms(10);
		if (rc) {
			dwcp_xfer_pair_dump(&pair, "upgrade during the transfer failed");
			cr_assert_fail("upgrade of %s on node %s failed", order[i][1], order[i][0]);
		}
		if (!strcmp(order[i][1], "svc-net"))
			net[n_net++] = pause[i];
		fprintf(stderr, "transfer: %s on node %s upgraded%s, pause %.1f ms\n", order[i][1],
			order[i][0], dwcp_xfer_running(&snd) ? " during the transfer" : "", pause[i]);
	}
	rs = dwcp_xfer_wait(&snd, 300000);
	rr = dwcp_xfer_wait(&rcv, rs == 0 ? 60000u : 300000u);
	if (rs || rr) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	}
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink");
	cr_assert_str_eq(h_out, h_src, "the sink's file differs from the source");
	p50 = percentile(net, n_net, 50);
	p99 = percentile(net, n_net, 99);
	fprintf(stderr, "transfer: %u of 6 upgrades began while dwcp send ran; sender resent %.0f chunks; svc-net pause P50 %.1f ms, P99 %.1f ms\n",
		during, dwcp_xfer_json_num(snd.out, "resent"), p50, p99);
	cr_assert_eq(during, 6, "only %u of 6 upgrades began while the transfer ran: it did not test much",
		     during);
}

/* Transfers back to back while every service type is upgraded 10 times,
 * alternating between the sender's and the receiver's node: every
 * transfer arrives bit-identical (no chunk lost or duplicated at the
 * sink), and the pause of each upgrade is printed per service. */
static void start_transfer(unsigned k, const char *src, char *out, size_t on)
{
	char stream[32];

	snprintf(stream, sizeof(stream), "up10-%u", k);
	snprintf(out, on, "%s/recv-%u.img", dir, k);
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, 300), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 300, NULL), 0);
}

static void finish_transfer(const char *src, const char *out)
{
	char h_src[65], h_out[65];
	int rs = dwcp_xfer_wait(&snd, 300000), rr = dwcp_xfer_wait(&rcv, rs == 0 ? 60000u : 300000u);

	if (rs || rr) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer during upgrades failed");
	}
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s differs from the source", out);
	unlink(out);
}

Test(upgrade, every_service_x10_during_transfers, .fini = teardown, .timeout = 900)
{
	static const char *const extra[] = { "gpu.cpu_backend = true", NULL };
	static const char *const svcs[] = { "svc-net", "svc-rdma", "svc-gpu",
					    "svc-simd", "svc-mem", "svc-prof" };
	struct dwcp_xfer_pair_cfg c = { .tag = "up10", .hugepage_mb = 512, .extra = extra };
	char src[128], out[160], key[128];
	double pause[6][10];
	unsigned transfers = 0, during = 0;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-up10-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, 64ull << 20, 11), 0, "cannot write %s", src);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen failed");
	c.key_a = c.key_b = key;
	cr_assert_eq(dwcp_xfer_pair_start(&pair, &c), 0, "nodes did not start");
	start_transfer(transfers++, src, out, sizeof(out));
	for (unsigned r = 0; r < 10; r++) {
		for (unsigned i = 0; i < 6; i++) {
			const char *inst = (r + i) % 2 ? pair.b.instance : pair.a.instance;

			if (!dwcp_xfer_running(&snd)) {
				finish_transfer(src, out);
				start_transfer(transfers++, src, out, sizeof(out));
			}
			during += dwcp_xfer_running(&snd);
			if (upgrade_pair_node(inst, svcs[i], &pause[i][r])) {
				dwcp_xfer_pair_dump(&pair, "upgrade during a transfer failed");
				cr_assert_fail("upgrade %u of %s on %s failed", r + 1, svcs[i], inst);
			}
		}
	}
	finish_transfer(src, out);
	for (unsigned i = 0; i < 6; i++)
		fprintf(stderr, "up10: %s: 10 upgrades (5 per node), pause P50 %.1f ms, P99 %.1f ms\n",
			svcs[i], percentile(pause[i], 10, 50), percentile(pause[i], 10, 99));
	fprintf(stderr, "up10: %u transfers of 64 MiB, all bit-identical; %u of 60 upgrades began while a transfer ran\n",
		transfers, during);
	cr_assert_geq(during, 30, "only %u of 60 upgrades began during a transfer", during);
}
