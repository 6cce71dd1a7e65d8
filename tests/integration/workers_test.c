/* svc-simd as several workers ([simd] workers; ipc/route.h), seen as an
 * operator sees them: `dwcpctl status` lists each worker (svc-simd,
 * svc-simd.1, ...) as its own process, chunks of a transfer spread over
 * every READY worker of both nodes, and each worker is restarted, drained
 * and upgraded on its own while the others keep serving.
 *
 *  - workers = 3 on both nodes: a 128 MiB image arrives bit-identical and
 *    every worker of both nodes did part of the work;
 *  - kill -9 of one worker on each node in the middle of a transfer: the
 *    file still arrives bit-identical, the killed workers come back, the
 *    others keep their pids, and every pool buffer is free afterwards;
 *  - `dwcpctl drain svc-simd.1`: that worker takes no chunk of the next
 *    transfer while the others do; after `resume` and an upgrade of that
 *    worker alone (to the same binary) it works again, the other worker
 *    was not touched, and `dwcpctl upgrade svc-simd` then upgrades both;
 *  - workers = auto (the default): one worker per CPU this node may use.
 *
 * Timeouts are hang guards, never speed limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"
#include "tests/lib/xfer_assert.h"

#define MIB (1024ull * 1024ull)
#define CMD_MS 120000u

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static struct dwcp_test_node solo;
static char dir[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_test_node_stop(&solo);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-workers-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

/* A temporary dir with an image of @p mib MiB at @p src; @p out beside it. */
static void make_files(char src[128], char out[128], unsigned mib, uint64_t seed)
{
	make_dir();
	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, mib * MIB, seed), 0, "cannot write %s", src);
}

static void start_pair(const char *tag, const char *const *extra)
{
	static char key[128];
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .hugepage_mb = 512, .extra = extra };
	int rc;

	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

static const char *const workers3[] = { "svc-simd", "svc-simd.1", "svc-simd.2" };

/* Each worker listed, READY, its own process, working for svc-simd. */
static void check_listed(const char *inst, unsigned n)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	unsigned listed = 0;
	const cJSON *s;

	cr_assert_not_null(st, "%s does not answer status", inst);
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(st, "services")) {
		const cJSON *svc = cJSON_GetObjectItemCaseSensitive(s, "service");
		const char *name = cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring;

		if (!cJSON_IsString(svc) || strcmp(svc->valuestring, "svc-simd"))
			continue;
		listed++;
		cr_expect_str_eq(dwcp_test_svc_str(st, name, "state"), "READY", "%s: %s is not READY",
				 inst, name);
		cr_expect_gt(dwcp_test_svc_num(st, name, "pid"), 0, "%s: %s has no pid", inst, name);
	}
	cJSON_Delete(st);
	cr_assert_eq(listed, n, "%s: %u svc-simd workers listed, expected %u", inst, listed, n);
}

Test(workers, chunks_spread_over_every_worker_of_both_nodes, .fini = teardown, .timeout = 600)
{
	static const char *const extra[] = { "simd.workers = 3", NULL };
	char src[128], out[128];

	make_files(src, out, 128, 7);
	start_pair("wspread", extra);
	check_listed(pair.a.instance, 3);
	check_listed(pair.b.instance, 3);
	xa_start_transfer(&pair, &snd, &rcv, "spread", src, out, NULL);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	for (unsigned i = 0; i < 3; i++) {
		double a = xa_num(pair.a.instance, workers3[i], "ops");
		double b = xa_num(pair.b.instance, workers3[i], "ops");

		cr_expect_gt(a, 0, "sender's %s did no step of 2048 chunks", workers3[i]);
		cr_expect_gt(b, 0, "receiver's %s did no step of 2048 chunks", workers3[i]);
		fprintf(stderr, "workers: %s did %.0f steps at the sender, %.0f at the receiver\n",
			workers3[i], a, b);
	}
}

static bool progress_seen(void *arg)
{
	(void)arg;
	return xa_num(pair.a.instance, "svc-simd.1", "ops") > 200 &&
	       xa_num(pair.b.instance, "svc-simd.2", "ops") > 200;
}

Test(workers, a_worker_killed_mid_transfer_costs_only_a_retry, .fini = teardown, .timeout = 600)
{
	static const char *const extra[] = { "simd.workers = 3", NULL };
	static const char *const zstd[] = { "--codec", "zstd", NULL };
	pid_t a1, b2, keep_a[2], keep_b[2];
	char src[128], out[128];

	make_files(src, out, 768, 11);
	start_pair("wkill", extra);
	a1 = (pid_t)xa_num(pair.a.instance, "svc-simd.1", "pid");
	b2 = (pid_t)xa_num(pair.b.instance, "svc-simd.2", "pid");
	keep_a[0] = (pid_t)xa_num(pair.a.instance, "svc-simd", "pid");
	keep_a[1] = (pid_t)xa_num(pair.a.instance, "svc-simd.2", "pid");
	keep_b[0] = (pid_t)xa_num(pair.b.instance, "svc-simd", "pid");
	keep_b[1] = (pid_t)xa_num(pair.b.instance, "svc-simd.1", "pid");
	xa_start_transfer(&pair, &snd, &rcv, "kill", src, out, zstd);
	cr_assert(dwcp_test_wait_until(progress_seen, NULL, 120000),
		  "the workers to be killed never started working");
	cr_assert(dwcp_xfer_running(&snd), "the transfer ended before a worker could be killed: make the file larger");
	cr_assert_eq(kill(a1, SIGKILL), 0);
	cr_assert_eq(kill(b2, SIGKILL), 0);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-simd.1", 1, 30000), 0);
	cr_assert_gt(dwcp_test_wait_service_up(pair.b.instance, "svc-simd.2", 1, 30000), 0);
	cr_expect_geq(xa_num(pair.a.instance, "svc-simd.1", "restarts"), 1);
	cr_expect_geq(xa_num(pair.b.instance, "svc-simd.2", "restarts"), 1);
	cr_expect_eq((pid_t)xa_num(pair.a.instance, "svc-simd", "pid"), keep_a[0], "sender's svc-simd restarted");
	cr_expect_eq((pid_t)xa_num(pair.a.instance, "svc-simd.2", "pid"), keep_a[1], "sender's svc-simd.2 restarted");
	cr_expect_eq((pid_t)xa_num(pair.b.instance, "svc-simd", "pid"), keep_b[0], "receiver's svc-simd restarted");
	cr_expect_eq((pid_t)xa_num(pair.b.instance, "svc-simd.1", "pid"), keep_b[1], "receiver's svc-simd.1 restarted");
	xa_expect_pools_full(&pair);
}

static int dwcpctl(const char *inst, char *out, size_t on, const char *a1, const char *a2,
		   const char *a3, const char *a4)
{
	char bin[PATH_MAX], err[1024] = "";
	int rc;

	snprintf(bin, sizeof(bin), "%s/dwcpctl", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ bin, "--instance", (char *)inst, (char *)a1, (char *)a2,
					    (char *)a3, (char *)a4, NULL },
			   out, on, err, sizeof(err), CMD_MS);
	if (rc)
		fprintf(stderr, "dwcpctl %s %s: exit %d: %s %s\n", a1, a2, rc, out, err);
	return rc;
}

Test(workers, each_worker_drains_and_upgrades_alone, .fini = teardown, .timeout = 600)
{
	static const char *const extra[] = { "simd.workers = 2", NULL };
	char src[128], out[128], out2[128], text[4096], bin[PATH_MAX];
	double ops1, ops0;
	pid_t p0;

	make_files(src, out, 64, 3);
	snprintf(out2, sizeof(out2), "%s/recv2.img", dir);
	start_pair("wdrain", extra);
	p0 = (pid_t)xa_num(pair.a.instance, "svc-simd", "pid");
	cr_assert_eq(dwcpctl(pair.a.instance, text, sizeof(text), "drain", "svc-simd.1", NULL, NULL), 0);
	ops1 = xa_num(pair.a.instance, "svc-simd.1", "ops");
	ops0 = xa_num(pair.a.instance, "svc-simd", "ops");
	xa_start_transfer(&pair, &snd, &rcv, "drain", src, out, NULL);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	cr_expect_eq(xa_num(pair.a.instance, "svc-simd.1", "ops"), ops1,
		     "the drained worker took chunks of a new transfer");
	cr_expect_gt(xa_num(pair.a.instance, "svc-simd", "ops"), ops0, "the other worker did nothing");
	cr_assert_eq(dwcpctl(pair.a.instance, text, sizeof(text), "resume", "svc-simd.1", NULL, NULL), 0);
	snprintf(bin, sizeof(bin), "%s/svc-simd", dwcp_test_bin_dir());
	cr_assert_eq(dwcpctl(pair.a.instance, text, sizeof(text), "upgrade", "svc-simd.1", "--binary",
			     bin), 0, "upgrade of one worker failed: %s", text);
	cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-simd.1", 1, 30000), 0);
	cr_expect_eq(xa_num(pair.a.instance, "svc-simd.1", "upgrades"), 1);
	cr_expect_eq((pid_t)xa_num(pair.a.instance, "svc-simd", "pid"), p0,
		     "upgrading svc-simd.1 restarted svc-simd");
	cr_expect_eq(xa_num(pair.a.instance, "svc-simd", "upgrades"), 0,
		     "upgrading svc-simd.1 upgraded svc-simd too");
	cr_assert_eq(dwcpctl(pair.a.instance, text, sizeof(text), "upgrade", "svc-simd", "--binary",
			     bin), 0, "upgrade of the whole service failed: %s", text);
	cr_expect_eq(xa_num(pair.a.instance, "svc-simd", "upgrades"), 1,
		     "`dwcpctl upgrade svc-simd` left svc-simd alone");
	cr_expect_eq(xa_num(pair.a.instance, "svc-simd.1", "upgrades"), 2,
		     "`dwcpctl upgrade svc-simd` left its worker svc-simd.1 on the old binary");
	ops1 = xa_num(pair.a.instance, "svc-simd.1", "ops");
	xa_start_transfer(&pair, &snd, &rcv, "drain2", src, out2, (const char *const[]){ "--no-delta", NULL });
	xa_finish_transfer(&pair, &snd, &rcv, src, out2);
	cr_expect_gt(xa_num(pair.a.instance, "svc-simd.1", "ops"), ops1,
		     "the resumed, upgraded worker got no chunk");
	cr_expect_neq(dwcpctl(pair.a.instance, text, sizeof(text), "drain", "svc-simd.9", NULL, NULL), 0,
		      "a worker that does not exist was drained");
}

Test(workers, auto_runs_one_worker_per_cpu, .fini = teardown, .timeout = 300)
{
	cpu_set_t set;
	unsigned cpus;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	cpus = (unsigned)CPU_COUNT(&set);
	cr_assert_eq(dwcp_test_node_start(&solo, "wauto", NULL), 0, "the node did not start");
	check_listed(solo.instance, cpus < 32 ? cpus : 32);
}
