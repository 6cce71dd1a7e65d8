/* Chaos: nothing is lost, nothing is duplicated, nothing is corrupted
 * while svc-simd is killed (SIGKILL) or hung (SIGSTOP) twenty times under
 * load (DESIGN §3 invariants 2 and 3, §4).
 *
 * A client process (a forked child: a process can attach as a DPDK
 * secondary only once) pushes 1,000,000 descriptors through
 * client -> svc-simd (CRC32C) -> client, 256 in flight, each with a random
 * payload of 64..512 bytes whose CRC it computed itself. On delivery it
 * checks status, result and payload, and marks the sequence number in a
 * bitmap: every descriptor must complete exactly once. Meanwhile this
 * process, the chaos driver, signals svc-simd at random instants, each
 * time waiting for the next generation to be READY before the next
 * signal. Afterwards every buffer is back in the pool, no other service
 * restarted, and svc-simd restarted exactly twenty times.
 *
 * The restart backoff is configured to 1 ms so that last_recovery_ms
 * (death to READY, read after each recovery and printed as P50/P99)
 * measures the recovery itself, not the backoff policy (which with the
 * defaults grows to 5 s for a service that dies twenty times in a row).
 *
 * Two more tests kill the client instead, while svc-simd is held stopped
 * so that some of its descriptors are still upstream: everything must
 * come back to the pool, and the next client in the same slot must get
 * none of the dead one's descriptors.
 *
 * Hang guards, not speed limits: the whole scenario fails after
 * SCENARIO_MS, or when the client makes no progress for STALL_MS while
 * svc-simd is up; either prints the client's counters, the first missing
 * sequence numbers, the status JSON and the supervisor log tail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/ops/crc32c.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/client.h"
#include "tests/lib/crcload.h"
#include "tests/lib/node.h"

#define N_DESC       1000000u
#define WINDOW       256u
#define BURST        32u
#define STREAM_A     0x5eedULL   /* the first client's stream */
#define STREAM_B     0xb0b0ULL   /* a second client's */
#define N_EVENTS     20u
#define SCENARIO_MS  240000u   /* hang guard for one scenario */
#define STALL_MS     60000u    /* hang guard: no completion while svc-simd is up */
#define UP_MS        60000u    /* hang guard: svc-simd READY again */
#define POOL_MS      30000u    /* hang guard: every buffer back in the pool */

static struct dwcp_test_node node;
static pid_t client_pid;         /* 0 once reaped */
static int client_status;        /* its wait status once reaped */
static struct dwcp_crcload *sh;

static void teardown(void)
{
	if (client_pid > 0) {
		kill(client_pid, SIGKILL);
		waitpid(client_pid, NULL, 0);
		client_pid = 0;
	}
	dwcp_test_node_stop(&node);
	if (sh) {
		dwcp_crcload_unmap(sh);
		sh = NULL;
	}
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- the chaos driver (test process) ---- */

static uint64_t count_done(void)
{
	return dwcp_crcload_count_done(sh);
}

static void dump_client(const char *why)
{
	dwcp_crcload_dump(sh, why);
}

/* Fail the scenario with everything we know. */
#define CHAOS_FAIL(...)                                                          \
	do {                                                                     \
		char why_[256];                                                  \
		snprintf(why_, sizeof(why_), __VA_ARGS__);                       \
		dump_client(why_);                                               \
		dwcp_test_dump(node.instance, why_);                             \
		cr_assert_fail("%s", why_);                                      \
	} while (0)

struct chaos {
	int sig;
	bool standby;                  /* wait for svc-simd's hot standby before each kill */
	uint64_t deadline;             /* hang guard of the scenario */
	uint64_t last_done, last_change;   /* stall detection */
	double recovery_ms[N_EVENTS];
	double signal_to_ready_ms[N_EVENTS];
	unsigned events;
	unsigned under_load;           /* events that found descriptors in flight */
	uint64_t allowance;            /* the client's current portion ends here */
};

/* Hang guards; call often. */
static void guard(struct chaos *ch, bool simd_up)
{
	uint64_t now = dwcp_test_now_ms(), done = ld(&sh->completed);

	if (now > ch->deadline)
		CHAOS_FAIL("scenario still running after %u s (hang guard)", SCENARIO_MS / 1000);
	if (done != ch->last_done || !simd_up) {
		ch->last_done = done;
		ch->last_change = now;
	} else if (done < N_DESC && now - ch->last_change > STALL_MS) {
		CHAOS_FAIL("client made no progress for %u s at %lu completed (hang guard)",
			   STALL_MS / 1000, done);
	}
	if (client_pid > 0 && waitpid(client_pid, &client_status, WNOHANG) == client_pid)
		client_pid = 0;
	if (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) == DWCP_CRCLOAD_FAILED ||
	    (client_pid == 0 && __atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != DWCP_CRCLOAD_DONE))
		CHAOS_FAIL("the client ended early (wait status %#x)", client_status);
}

/* Sleep @p ms, or less once the client has completed @p enough. */
static void sleep_guarded(struct chaos *ch, unsigned ms, uint64_t enough)
{
	uint64_t end = dwcp_test_now_ms() + ms;

	while (dwcp_test_now_ms() < end && ld(&sh->completed) < enough) {
		guard(ch, true);
		dwcp_test_sleep_ms(1);
	}
}

static cJSON *status_now(void)
{
	cJSON *st = dwcp_test_status(node.instance, NULL);

	if (!st)
		CHAOS_FAIL("the supervisor does not answer");
	return st;
}

/* Wait for svc-simd at generation @p gen, READY, and for the supervisor
 * to have timed the recovery (last_recovery_ms changes on its next
 * heartbeat check after READY). */
static void wait_simd_back(struct chaos *ch, double gen, double prev_recovery, uint64_t t_sig)
{
	uint64_t up_deadline = dwcp_test_now_ms() + UP_MS, ready_at = 0;

	for (;;) {
		cJSON *st = status_now();
		bool ready = dwcp_test_svc_num(st, "svc-simd", "generation") == gen &&
			     !strcmp(dwcp_test_svc_str(st, "svc-simd", "state"), "READY");
		double rec = dwcp_test_svc_num(st, "svc-simd", "last_recovery_ms");

		cJSON_Delete(st);
		if (ready && !ready_at) {
			ready_at = dwcp_test_now_ms();
			ch->signal_to_ready_ms[ch->events] = (double)(ready_at - t_sig);
		}
		if (ready && (rec != prev_recovery || dwcp_test_now_ms() - ready_at > 2000)) {
			ch->recovery_ms[ch->events] = rec;
			return;
		}
		if (!ready_at && dwcp_test_now_ms() > up_deadline)
			CHAOS_FAIL("svc-simd not READY at generation %.0f %u s after signal %d",
				   gen, UP_MS / 1000, ch->sig);
		guard(ch, false);
		dwcp_test_sleep_ms(5);
	}
}

/* Give the client its next portion, wait a random 20..200 ms (less when
 * a third of the portion is done), signal svc-simd, wait for its next
 * generation. */
static void one_event(struct chaos *ch)
{
	cJSON *st = status_now();
	pid_t pid = (pid_t)dwcp_test_svc_num(st, "svc-simd", "pid");
	double gen = dwcp_test_svc_num(st, "svc-simd", "generation");
	double rec = dwcp_test_svc_num(st, "svc-simd", "last_recovery_ms");
	uint64_t done = ld(&sh->completed), t;

	cJSON_Delete(st);
	if (pid <= 0)
		CHAOS_FAIL("svc-simd has no pid before event %u", ch->events + 1);
	/* A standby needs its own cold start (DPDK attach) behind each
	 * takeover: measure the takeover, not a kill that outran it. */
	while (ch->standby) {
		st = status_now();
		if (strcmp(dwcp_test_svc_str(st, "svc-simd", "upgrade"), "standby") == 0) {
			cJSON_Delete(st);
			break;
		}
		cJSON_Delete(st);
		sleep_guarded(ch, 5, ld(&sh->completed));
	}
	ch->allowance = (uint64_t)(ch->events + 1) * N_DESC / (N_EVENTS + 1);
	__atomic_store_n(&sh->allowance, ch->allowance, __ATOMIC_RELEASE);
	sleep_guarded(ch, 20 + (unsigned)(random() % 181),
		      done + (ch->allowance > done ? (ch->allowance - done) / 3 : 0));
	/* Aim at an instant when it runs (it may hold buffers then), for
	 * at most 50 ms and while the client still has work. */
	t = dwcp_test_now_ms();
	while (dwcp_test_proc_state(pid) != 'R' && dwcp_test_now_ms() - t < 50 &&
	       ld(&sh->completed) + 4 * WINDOW < ch->allowance)
		;
	t = dwcp_test_now_ms();
	ch->under_load += ld(&sh->in_flight) > 0;
	if (kill(pid, ch->sig) != 0)
		CHAOS_FAIL("kill(%d, %d): %s", (int)pid, ch->sig, strerror(errno));
	wait_simd_back(ch, gen + 1, rec, t);
	if (!dwcp_test_wait_exited(pid, UP_MS))
		CHAOS_FAIL("svc-simd generation %.0f (pid %d) still runs", gen, (int)pid);
	ch->events++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of @p n sorted values. */
static double percentile(const double *v, unsigned n, double p)
{
	unsigned k = (unsigned)(p / 100.0 * n + 0.999999);

	return v[k ? k - 1 : 0];
}

/* What the supervisor's reclaimer did, from its log lines
 * "svc-simd: reclaimed generation G: F freed, R re-delivered, D drained". */
static void reclaim_totals(unsigned *events, unsigned *freed, unsigned *redelivered)
{
	char path[512], line[1024];
	FILE *f;

	*events = *freed = *redelivered = 0;
	snprintf(path, sizeof(path), "%s/supervisor.log", node.inst_dir);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "svc-simd: reclaimed generation");
		unsigned g, fr, rd;

		if (p && sscanf(p, "svc-simd: reclaimed generation %u: %u freed, %u re-delivered", &g,
				&fr, &rd) == 3) {
			(*events)++;
			*freed += fr;
			*redelivered += rd;
		}
	}
	if (f)
		fclose(f);
}

static void report(struct chaos *ch, const char *what)
{
	unsigned rec_events, rec_freed, rec_redelivered;

	double r[N_EVENTS], s[N_EVENTS];
	unsigned n = ch->events;

	memcpy(r, ch->recovery_ms, sizeof(r));
	memcpy(s, ch->signal_to_ready_ms, sizeof(s));
	qsort(r, n, sizeof(r[0]), cmp_double);
	qsort(s, n, sizeof(s[0]), cmp_double);
	fprintf(stderr, "%s: restart-to-READY (last_recovery_ms, death to READY) over %u events: P50 %.1f ms, P99 %.1f ms (min %.1f)\n",
		what, n, percentile(r, n, 50), percentile(r, n, 99), r[0]);
	fprintf(stderr, "%s: signal-to-READY as polled by the test (includes hang detection for SIGSTOP): P50 %.0f ms, P99 %.0f ms\n",
		what, percentile(s, n, 50), percentile(s, n, 99));
	fprintf(stderr, "%s: %u of %u events hit descriptors in flight; %lu descriptors completed, %lu of them after a re-delivery\n",
		what, ch->under_load, n, ld(&sh->completed), ld(&sh->redelivered));
	reclaim_totals(&rec_events, &rec_freed, &rec_redelivered);
	fprintf(stderr, "%s: the supervisor reclaimed svc-simd %u times: %u buffers freed, %u re-delivered\n",
		what, rec_events, rec_freed, rec_redelivered);
}

/* Fork a client that completes @p target descriptors, submitting those
 * below @p allowance (the driver raises it later). */
static void start_client(uint64_t target, uint64_t allowance, uint64_t stream)
{
	if (sh)
		dwcp_crcload_unmap(sh);
	sh = dwcp_crcload_map(N_DESC);
	cr_assert(sh, "mmap: %s", strerror(errno));
	sh->target = target;
	sh->allowance = allowance;
	sh->stream = stream;
	sh->step_slot = DWCP_SLOT_SIMD;
	client_status = 0;
	fflush(NULL);
	client_pid = fork();
	cr_assert(client_pid >= 0, "fork: %s", strerror(errno));
	if (client_pid == 0)
		dwcp_crcload_client_main(sh, node.instance, "crash_test-client");
}

static void check_client_results(uint64_t n)
{
	if (ld(&sh->completed) != n || count_done() != n || ld(&sh->wrong_crc) ||
	    ld(&sh->wrong_payload) || ld(&sh->bad_status) || ld(&sh->bad_seq) ||
	    ld(&sh->bad_stream) || ld(&sh->duplicates))
		CHAOS_FAIL("not every one of %lu descriptors completed exactly once and intact", n);
}

/* Wait until every buffer is back in the pool; @return that status. */
static cJSON *pool_full_status(const char *after_what)
{
	long free_n = dwcp_test_wait_pool_full(node.instance, POOL_MS);
	cJSON *st = status_now();

	if (free_n != dwcp_test_pool_buffers(st))
		CHAOS_FAIL("pool: %ld free of %ld after %s", free_n, dwcp_test_pool_buffers(st),
			   after_what);
	return st;
}

static void run_scenario(int sig, const char *const *ovr, const char *what)
{
	struct chaos ch = { .sig = sig, .standby = strcmp(what, "standby") == 0 };
	pid_t before[DWCP_TEST_SERVICES], after[DWCP_TEST_SERVICES];
	unsigned seed = (unsigned)getpid() ^ (unsigned)dwcp_now_ns();
	cJSON *st;
	int rc;

	rc = dwcp_test_node_start(&node, what, ovr);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	st = status_now();
	dwcp_test_service_pids(st, before);
	cJSON_Delete(st);
	fprintf(stderr, "%s: instance %s, random seed %u\n", what, node.instance, seed);
	srandom(seed);

	ch.deadline = dwcp_test_now_ms() + SCENARIO_MS;
	ch.last_change = dwcp_test_now_ms();
	start_client(N_DESC, 0, STREAM_A);
	while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) == DWCP_CRCLOAD_STARTING)
		sleep_guarded(&ch, 5, N_DESC);
	/* Chaos while traffic flows: the client gets the descriptors in
	 * N_EVENTS + 1 portions, the next one at each event, so that it
	 * cannot finish before the last event however fast it runs. */
	while (ch.events < N_EVENTS)
		one_event(&ch);
	__atomic_store_n(&sh->allowance, N_DESC, __ATOMIC_RELEASE);
	fprintf(stderr, "%s: %u events done with %lu of %u descriptors completed\n", what,
		ch.events, ld(&sh->completed), N_DESC);
	while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != DWCP_CRCLOAD_DONE)
		sleep_guarded(&ch, 10, N_DESC);
	if (client_pid > 0 && waitpid(client_pid, &client_status, 0) == client_pid)
		client_pid = 0;
	if (client_pid != 0 || !WIFEXITED(client_status) || WEXITSTATUS(client_status) != 0)
		CHAOS_FAIL("client wait status %#x", client_status);
	report(&ch, what);
	if (ch.under_load * 2 < ch.events)
		CHAOS_FAIL("only %u of %u events hit traffic: the test did not test much",
			   ch.under_load, ch.events);

	check_client_results(N_DESC);
	st = pool_full_status("the client ended");
	dwcp_test_service_pids(st, after);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		if (i != 3 && after[i] != before[i])
			CHAOS_FAIL("%s: pid %d, was %d", dwcp_test_service_names[i], (int)after[i],
				   (int)before[i]);
	if (dwcp_test_svc_num(st, "svc-simd", "restarts") != N_EVENTS)
		CHAOS_FAIL("svc-simd restarts %.0f, expected %u",
			   dwcp_test_svc_num(st, "svc-simd", "restarts"), N_EVENTS);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		if (i != 3 && dwcp_test_svc_num(st, dwcp_test_service_names[i], "restarts") != 0)
			CHAOS_FAIL("%s restarted", dwcp_test_service_names[i]);
	cJSON_Delete(st);
}

Test(crash, simd_sigkill_x20_loses_nothing, .fini = teardown, .timeout = 400)
{
	static const char *const ovr[] = { "supervisor.restart_backoff_ms = 1",
					   "supervisor.restart_backoff_max_ms = 1", NULL };

	run_scenario(SIGKILL, ovr, "kill");
}

Test(crash, simd_sigstop_x20_loses_nothing, .fini = teardown, .timeout = 400)
{
	static const char *const ovr[] = { "supervisor.heartbeat_ms = 20",
					   "supervisor.heartbeat_timeout_ms = 200",
					   "supervisor.restart_backoff_ms = 1",
					   "supervisor.restart_backoff_max_ms = 1", NULL };

	run_scenario(SIGSTOP, ovr, "stop");
}

/* Hot standby: the same 20 kills, each answered by the standby that was
 * attached ahead of need (no cold start); a new standby follows each. */
Test(crash, simd_sigkill_x20_with_hot_standby_loses_nothing, .fini = teardown, .timeout = 400)
{
	static const char *const ovr[] = { "supervisor.restart_backoff_ms = 1",
					   "supervisor.restart_backoff_max_ms = 1",
					   "supervisor.hot_standby = true", NULL };
	cJSON *st;
	unsigned waited = 0;

	run_scenario(SIGKILL, ovr, "standby");
	/* A standby is parked behind svc-simd again (it attaches in the background). */
	for (;;) {
		double sb;

		st = status_now();
		sb = dwcp_test_svc_num(st, "svc-simd", "hot_standby_pid");
		cJSON_Delete(st);
		if (sb > 1)
			break;
		cr_assert_lt(waited, 20000u, "no hot standby behind svc-simd 20 s after the last kill");
		dwcp_test_sleep_ms(50);
		waited += 50;
	}
	/* A node with parked standbys stops like any other (they were once
	 * the last processes the supervisor waited for, and it never ended). */
	cr_assert_eq(dwcp_test_node_stop(&node), 0, "dwcp-supervisor stop failed with hot standbys");
}

/* ---- a client's death ---- */

static const char *const client_death_cfg[] = {
	/* svc-simd is held stopped for a moment: not a hang. */
	"supervisor.heartbeat_timeout_ms = 60000", NULL,
};

static void wait_client_phase(struct chaos *ch, int phase)
{
	while (__atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE) != phase)
		sleep_guarded(ch, 1, N_DESC);
}

/* Reap the client, which must have completed its target intact. */
static void finish_client(struct chaos *ch, const char *which)
{
	wait_client_phase(ch, DWCP_CRCLOAD_DONE);
	if (client_pid > 0 && waitpid(client_pid, &client_status, 0) == client_pid)
		client_pid = 0;
	if (client_pid || !WIFEXITED(client_status) || WEXITSTATUS(client_status) != 0)
		CHAOS_FAIL("%s client: wait status %#x", which, client_status);
	check_client_results(sh->target);
}

/* With the client's descriptors in flight, freeze svc-simd (SIGSTOP), so
 * that some are still upstream of the client — in its link to svc-simd
 * or inside svc-simd — and kill the client; wait until the supervisor has
 * reclaimed its slot. svc-simd stays stopped; @return its pid. */
static pid_t kill_client_upstream(struct chaos *ch)
{
	cJSON *st = status_now();
	pid_t simd = (pid_t)dwcp_test_svc_num(st, "svc-simd", "pid");
	uint64_t last, t, in_flight;

	cJSON_Delete(st);
	sleep_guarded(ch, SCENARIO_MS, N_DESC / 10);
	cr_assert_eq(kill(simd, SIGSTOP), 0, "SIGSTOP svc-simd: %s", strerror(errno));
	/* The client drains what was already on its way back, then waits. */
	last = ld(&sh->completed);
	t = dwcp_test_now_ms();
	while (dwcp_test_now_ms() - t < 50) {
		dwcp_test_sleep_ms(1);
		if (ld(&sh->completed) != last) {
			last = ld(&sh->completed);
			t = dwcp_test_now_ms();
		}
		guard(ch, false);
	}
	in_flight = ld(&sh->in_flight);
	cr_assert_eq(kill(client_pid, SIGKILL), 0, "kill client: %s", strerror(errno));
	waitpid(client_pid, &client_status, 0);
	client_pid = 0;
	fprintf(stderr, "client killed at %lu completed with %lu descriptors in flight, svc-simd stopped\n",
		ld(&sh->completed), in_flight);
	for (t = dwcp_test_now_ms();; dwcp_test_sleep_ms(5)) {
		st = status_now();
		if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "clients")) == 0)
			break;
		cJSON_Delete(st);
		if (dwcp_test_now_ms() - t > UP_MS) {
			kill(simd, SIGCONT);
			CHAOS_FAIL("the dead client is still listed after %u s", UP_MS / 1000);
		}
	}
	cJSON_Delete(st);
	return simd;
}

/* A client killed with descriptors in flight, some of them still
 * upstream: what it held is freed at once, and what was on its way to it
 * — including what svc-simd forwards after the client's death — comes
 * back to the pool, with no new client needed. */
Test(crash, dead_client_buffers_return_to_pool, .fini = teardown, .timeout = 400)
{
	struct chaos ch = { .sig = SIGKILL };
	pid_t before[DWCP_TEST_SERVICES], after[DWCP_TEST_SERVICES], simd;
	cJSON *st;
	int rc;

	rc = dwcp_test_node_start(&node, "deadclient", client_death_cfg);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	st = status_now();
	dwcp_test_service_pids(st, before);
	cJSON_Delete(st);
	ch.deadline = dwcp_test_now_ms() + SCENARIO_MS;
	ch.last_change = dwcp_test_now_ms();

	start_client(N_DESC, N_DESC, STREAM_A);
	simd = kill_client_upstream(&ch);
	cr_assert_eq(kill(simd, SIGCONT), 0, "SIGCONT svc-simd: %s", strerror(errno));
	st = pool_full_status("the client was killed");
	dwcp_test_service_pids(st, after);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		if (after[i] != before[i])
			CHAOS_FAIL("%s: pid %d, was %d", dwcp_test_service_names[i], (int)after[i],
				   (int)before[i]);
	cJSON_Delete(st);
}

/* The next client in a dead client's slot gets only its own descriptors:
 * none of those the dead one left upstream is delivered to it. */
Test(crash, new_client_never_sees_a_dead_clients_buffers, .fini = teardown, .timeout = 400)
{
	struct chaos ch = { .sig = SIGKILL };
	pid_t simd;
	int rc;

	rc = dwcp_test_node_start(&node, "nextclient", client_death_cfg);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	ch.deadline = dwcp_test_now_ms() + SCENARIO_MS;
	ch.last_change = dwcp_test_now_ms();

	start_client(N_DESC, N_DESC, STREAM_A);
	simd = kill_client_upstream(&ch);
	start_client(N_DESC / 10, N_DESC / 10, STREAM_B);
	wait_client_phase(&ch, DWCP_CRCLOAD_RUNNING);
	cr_assert_eq(kill(simd, SIGCONT), 0, "SIGCONT svc-simd: %s", strerror(errno));
	finish_client(&ch, "second");
	cJSON_Delete(pool_full_status("the second client ended"));
}
