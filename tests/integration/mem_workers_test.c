/* svc-mem as several workers ([mem] workers; ipc/route.h), seen as an
 * operator sees them: each worker keeps its own part of the delta cache
 * (ipc/dcache.h), and a chunk goes to the worker its (stream, seq) names
 * on each node, so a changed page meets its previous version at both
 * ends even when the two nodes run different numbers of workers.
 *
 *  - two workers at the sender, three at the receiver: a 32 MiB image,
 *    then the same image with 1 page in 20 changed: both arrive
 *    bit-identical, the resend moves a small part of the first send's
 *    bytes, no chunk is resent raw for a missing base (the parts agree),
 *    the receiver's cache found bases, and every worker of both nodes did
 *    steps;
 *  - kill -9 of one worker on each node in the middle of a transfer: the
 *    file still arrives bit-identical, the killed workers come back, the
 *    others keep their pids, and every pool buffer is free afterwards.
 *
 * Timeouts are hang guards, never speed limits.
 */
#define _GNU_SOURCE
#include <errno.h>
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

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

static void start_pair(const char *tag)
{
	static const char *const extra[] = { "simd.workers = 1", NULL };
	static const char *const a[] = { "mem.workers = 2", NULL };
	static const char *const b[] = { "mem.workers = 3", NULL };
	static char key[128];
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .hugepage_mb = 512, .extra = extra,
					.extra_a = a, .extra_b = b };
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-memw-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

static double cache_num(const char *inst, const char *field)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	const cJSON *v;
	double d;

	cr_assert_not_null(st, "%s does not answer status", inst);
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "delta_cache"), field);
	cr_assert(cJSON_IsNumber(v), "%s: status has no delta_cache.%s", inst, field);
	d = v->valuedouble;
	cJSON_Delete(st);
	return d;
}

static const char *const workers[] = { "svc-mem", "svc-mem.1", "svc-mem.2" };

Test(mem_workers, changed_pages_meet_their_bases_in_the_worker_the_chunk_goes_to, .fini = teardown,
     .timeout = 600)
{
	char src[128], out[128];
	double wire1, wire2, raw, hits0;
	uint64_t changed;

	start_pair("mwdelta");
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, 32 * MIB, 21), 0, "cannot write %s", src);
	xa_start_transfer(&pair, &snd, &rcv, "mw", src, out, NULL);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	wire1 = dwcp_xfer_json_num(snd.out, "bytes_wire");
	hits0 = cache_num(pair.b.instance, "hits");
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 5, &changed), 0);
	xa_start_transfer(&pair, &snd, &rcv, "mw", src, out, NULL);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	wire2 = dwcp_xfer_json_num(snd.out, "bytes_wire");
	raw = dwcp_xfer_json_num(snd.out, "raw_resends");
	fprintf(stderr, "mem_workers: first send %.0f wire bytes, after changing %llu pages %.0f (%.2f %%), "
		"raw resends %.0f, receiver cache hits %.0f\n", wire1, (unsigned long long)changed, wire2,
		100.0 * wire2 / wire1, raw, cache_num(pair.b.instance, "hits") - hits0);
	cr_expect_lt(wire2, wire1 * 0.06, "the resend moved %.0f bytes of the first send's %.0f", wire2, wire1);
	cr_expect_eq(raw, 0, "%.0f chunks resent raw: a base was in one node's part and not in the other's", raw);
	cr_expect_gt(cache_num(pair.b.instance, "hits") - hits0, 0, "the receiver's cache found no base");
	for (unsigned k = 0; k < 3; k++) {
		if (k < 2)
			cr_expect_gt(xa_num(pair.a.instance, workers[k], "ops"), 0, "sender's %s did no step", workers[k]);
		cr_expect_gt(xa_num(pair.b.instance, workers[k], "ops"), 0, "receiver's %s did no step", workers[k]);
	}
}

static bool progress_seen(void *arg)
{
	(void)arg;
	return xa_num(pair.a.instance, "svc-mem.1", "ops") > 100 && xa_num(pair.b.instance, "svc-mem.2", "ops") > 100;
}

Test(mem_workers, a_worker_killed_mid_transfer_costs_only_a_retry, .fini = teardown, .timeout = 600)
{
	pid_t a1, b2, keep_a, keep_b;
	char src[128], out[128];

	start_pair("mwkill");
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, 768 * MIB, 23), 0, "cannot write %s", src);
	a1 = (pid_t)xa_num(pair.a.instance, "svc-mem.1", "pid");
	b2 = (pid_t)xa_num(pair.b.instance, "svc-mem.2", "pid");
	keep_a = (pid_t)xa_num(pair.a.instance, "svc-mem", "pid");
	keep_b = (pid_t)xa_num(pair.b.instance, "svc-mem.1", "pid");
	xa_start_transfer(&pair, &snd, &rcv, "kill", src, out, NULL);
	cr_assert(dwcp_test_wait_until(progress_seen, NULL, 120000), "the workers to be killed never started working");
	cr_assert(dwcp_xfer_running(&snd), "the transfer ended before a worker could be killed: make the file larger");
	cr_assert_eq(kill(a1, SIGKILL), 0);
	cr_assert_eq(kill(b2, SIGKILL), 0);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-mem.1", 1, 30000), 0);
	cr_assert_gt(dwcp_test_wait_service_up(pair.b.instance, "svc-mem.2", 1, 30000), 0);
	cr_expect_geq(xa_num(pair.a.instance, "svc-mem.1", "restarts"), 1);
	cr_expect_geq(xa_num(pair.b.instance, "svc-mem.2", "restarts"), 1);
	cr_expect_eq((pid_t)xa_num(pair.a.instance, "svc-mem", "pid"), keep_a, "the sender's svc-mem restarted");
	cr_expect_eq((pid_t)xa_num(pair.b.instance, "svc-mem.1", "pid"), keep_b, "the receiver's svc-mem.1 restarted");
	xa_expect_pools_full(&pair);
}
