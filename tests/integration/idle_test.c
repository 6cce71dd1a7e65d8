/* No busy-spin by default (DESIGN §3 invariant 4), as a resource bound:
 * an idle node with the default runtime settings (poll, then sleep) uses
 * less than 5% of one core in total — supervisor and six services — and
 * its processes are found sleeping nearly every time we look.
 *
 * This counts CPU time (utime + stime from /proc/PID/stat, all threads),
 * not wall-clock speed, so a slow machine does not fail it; a spinning
 * service burns a whole core and fails it by a factor of 20.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"

#define SETTLE_MS   2000
#define MEASURE_MS  5000
#define SAMPLE_MS   50
#define N_PROCS     (1 + DWCP_TEST_SERVICES)

static struct dwcp_test_node node;

static void teardown(void)
{
	dwcp_test_node_stop(&node);
}

Test(idle, idle_node_uses_under_5pct_of_a_core, .fini = teardown, .timeout = 300)
{
	const char *name[N_PROCS] = { "dwcp-supervisor" };
	pid_t pid[N_PROCS];
	long long t0[N_PROCS], t1[N_PROCS], total = 0;
	unsigned sleeping[N_PROCS] = { 0 }, samples = 0;
	long hz = dwcp_test_clock_ticks();
	uint64_t start, elapsed;
	double pct;
	cJSON *st;
	int rc;

	rc = dwcp_test_node_start(&node, "idle", NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "no status");
	pid[0] = node.sup_pid;
	dwcp_test_service_pids(st, pid + 1);
	cJSON_Delete(st);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		name[i + 1] = dwcp_test_service_names[i];

	dwcp_test_sleep_ms(SETTLE_MS);
	for (unsigned i = 0; i < N_PROCS; i++) {
		t0[i] = dwcp_test_proc_ticks(pid[i]);
		DWCP_NODE_ASSERT(node.instance, t0[i] >= 0, "%s (pid %d): no /proc stat", name[i],
				 (int)pid[i]);
	}
	start = dwcp_test_now_ms();
	while (dwcp_test_now_ms() - start < MEASURE_MS) {
		dwcp_test_sleep_ms(SAMPLE_MS);
		for (unsigned i = 0; i < N_PROCS; i++)
			sleeping[i] += dwcp_test_proc_state(pid[i]) == 'S';
		samples++;
	}
	for (unsigned i = 0; i < N_PROCS; i++)
		t1[i] = dwcp_test_proc_ticks(pid[i]);
	elapsed = dwcp_test_now_ms() - start;

	for (unsigned i = 0; i < N_PROCS; i++) {
		DWCP_NODE_ASSERT(node.instance, t1[i] >= t0[i], "%s (pid %d) is gone", name[i],
				 (int)pid[i]);
		total += t1[i] - t0[i];
		fprintf(stderr, "idle cpu: %-16s pid %-7d %4lld ticks = %5.2f%% of one core, sleeping in %u/%u samples\n",
			name[i], (int)pid[i], t1[i] - t0[i],
			100.0 * (double)(t1[i] - t0[i]) / (double)hz / (elapsed / 1000.0), sleeping[i],
			samples);
	}
	pct = 100.0 * (double)total / (double)hz / (elapsed / 1000.0);
	fprintf(stderr, "idle cpu: %.2f%% of one core (%lld ticks of 1/%ld s over %.1f s, supervisor + %u services)\n",
		pct, total, hz, elapsed / 1000.0, DWCP_TEST_SERVICES);
	DWCP_NODE_ASSERT(node.instance, pct < 5.0, "idle node uses %.2f%% of one core", pct);
	for (unsigned i = 0; i < N_PROCS; i++)
		DWCP_NODE_ASSERT(node.instance, sleeping[i] * 4 >= samples * 3,
				 "%s (pid %d) was sleeping in only %u of %u samples", name[i],
				 (int)pid[i], sleeping[i], samples);
}
