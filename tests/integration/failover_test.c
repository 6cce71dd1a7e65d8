/* Degraded routing between the two engines that run the chunk ops
 * (engine/chunk_ops.h): with [gpu] cpu_backend, svc-gpu is READY on the CPU
 * and new programs put compression and AES-GCM on it; while it is down,
 * steps move to svc-simd, and once it is READY again new chunks go back.
 *
 * What a user checks, from the sender node's counters (status JSON "ops"
 * of each service): a clean send puts exactly one step per chunk on
 * svc-simd (the checksum) and the others on svc-gpu; a send during which
 * svc-gpu is killed over and over still arrives bit-identical, and
 * svc-simd did more than its one step per chunk (it took compression or
 * sealing over); a send after svc-gpu is back is clean again. No other
 * service restarts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

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

struct counts {
	double gpu_ops, simd_ops, gpu_restarts;
	pid_t pids[DWCP_TEST_SERVICES];
	double restarts[DWCP_TEST_SERVICES];
};

static void read_counts(const char *instance, struct counts *c)
{
	cJSON *st = dwcp_test_status(instance, NULL);

	cr_assert_not_null(st, "no status from %s", instance);
	c->gpu_ops = dwcp_test_svc_num(st, "svc-gpu", "ops");
	c->simd_ops = dwcp_test_workers_sum(st, "svc-simd", "ops");   /* all its workers */
	c->gpu_restarts = dwcp_test_svc_num(st, "svc-gpu", "restarts");
	dwcp_test_service_pids(st, c->pids);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		c->restarts[i] = dwcp_test_svc_num(st, dwcp_test_service_names[i], "restarts");
	cJSON_Delete(st);
}

static void send_file(const char *stream, const char *src, const char *out)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, 300), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, NULL), 0);
}

static void finish(const char *src, const char *out)
{
	char h_src[65], h_out[65];
	int rs = dwcp_xfer_wait(&snd, 300000u), rr = dwcp_xfer_wait(&rcv, 60000u);

	if (rs || rr) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	}
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at %s", out);
	cr_assert_str_eq(h_out, h_src, "%s differs from %s", out, src);
	unlink(out);
}

/* A keyed node pair with @p extra and a 128 MiB image (@p seed) in a
 * fresh directory: its paths in @p key, @p src, @p out. */
static void start_pair(struct dwcp_xfer_pair_cfg *c, unsigned seed, char key[128], char src[128],
		       char out[128])
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-%s-XXXXXX", c->tag);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(key, 128, "%s/key", dir);
	snprintf(src, 128, "%s/src.img", dir);
	snprintf(out, 128, "%s/out.img", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0);
	c->key_a = c->key_b = key;
	cr_assert_eq(dwcp_xfer_make_image(src, 128 * MIB, seed), 0);
	cr_assert_eq(dwcp_xfer_pair_start(&pair, c), 0, "nodes did not start");
}

Test(failover, gpu_cpu_backend_dies_traffic_moves_to_simd_and_back, .fini = teardown,
     .timeout = 600)
{
	static const char *const extra[] = {
		"gpu.cpu_backend = true", "supervisor.heartbeat_ms = 20",
		"supervisor.heartbeat_timeout_ms = 200", "supervisor.restart_backoff_ms = 1",
		/* every chunk compressed and sealed: the step counts below rely on it
		 * (codec auto may skip the compressor) */
		"stream.codec = zstd", NULL,
	};
	struct dwcp_xfer_pair_cfg c = { .tag = "fo", .extra = extra };
	char key[128], src[128], out[128];
	struct counts c0, c1, c2, c3;
	double chunks;
	unsigned kills = 0;
	cJSON *st;

	start_pair(&c, 5, key, src, out);
	st = dwcp_test_status(pair.a.instance, NULL);
	cr_assert_str_eq(dwcp_test_svc_str(st, "svc-gpu", "state"), "READY",
			 "svc-gpu is not READY on its CPU backend");
	cJSON_Delete(st);

	/* 1. Clean: one step per chunk on svc-simd (checksum), two on svc-gpu. */
	read_counts(pair.a.instance, &c0);
	send_file("fo1", src, out);
	finish(src, out);
	chunks = dwcp_xfer_json_num(snd.out, "chunks");
	read_counts(pair.a.instance, &c1);
	cr_assert_eq(c1.simd_ops - c0.simd_ops, chunks, "clean send: svc-simd did %.0f steps for %.0f chunks",
		     c1.simd_ops - c0.simd_ops, chunks);
	cr_assert_geq(c1.gpu_ops - c0.gpu_ops, 2 * chunks, "clean send: svc-gpu did %.0f steps",
		      c1.gpu_ops - c0.gpu_ops);

	/* 2. Kill svc-gpu whenever it is back, for as long as the send runs. */
	send_file("fo2", src, out);
	while (dwcp_xfer_running(&snd)) {
		double gen;
		pid_t pid;

		st = dwcp_test_status(pair.a.instance, NULL);
		cr_assert_not_null(st);
		gen = dwcp_test_svc_num(st, "svc-gpu", "generation");
		pid = (pid_t)dwcp_test_svc_num(st, "svc-gpu", "pid");
		cJSON_Delete(st);
		if (pid > 1 && kill(pid, SIGKILL) == 0) {
			kills++;
			/* The next kill only once this one was noticed and repaired. */
			cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-gpu", gen + 1, 10000),
				     0, "svc-gpu did not come back after kill %u", kills);
		}
		dwcp_test_sleep_ms(10);
	}
	finish(src, out);
	read_counts(pair.a.instance, &c2);
	fprintf(stderr, "failover: %u kills of svc-gpu during a %.0f-chunk send; svc-simd did %.0f "
		"steps (%.0f beyond its checksums), svc-gpu %.0f\n", kills, chunks,
		c2.simd_ops - c1.simd_ops, c2.simd_ops - c1.simd_ops - chunks, c2.gpu_ops - c1.gpu_ops);
	cr_assert_gt(kills, 0, "the send ended before svc-gpu could be killed once");
	cr_assert_gt(c2.simd_ops - c1.simd_ops, chunks,
		     "svc-gpu was killed %u times but svc-simd did no step beyond its %.0f checksums",
		     kills, chunks);

	/* 3. svc-gpu READY again: the next send is clean again. */
	cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-gpu", 0, 10000), 0);
	read_counts(pair.a.instance, &c2);
	send_file("fo3", src, out);
	finish(src, out);
	read_counts(pair.a.instance, &c3);
	cr_assert_eq(c3.simd_ops - c2.simd_ops, chunks, "after recovery: svc-simd did %.0f steps for %.0f chunks",
		     c3.simd_ops - c2.simd_ops, chunks);
	cr_assert_geq(c3.gpu_ops - c2.gpu_ops, 2 * chunks);

	/* Only svc-gpu restarted, as often as it was killed. */
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++) {
		const char *name = dwcp_test_service_names[i];

		if (strcmp(name, "svc-gpu") == 0)
			cr_assert_eq(c3.restarts[i] - c0.restarts[i], kills, "svc-gpu restarts %.0f, kills %u",
				     c3.restarts[i] - c0.restarts[i], kills);
		else
			cr_assert(c3.restarts[i] == c0.restarts[i] && c3.pids[i] == c0.pids[i],
				  "%s restarted though it was not hit", name);
	}
	st = dwcp_test_status(pair.a.instance, NULL);
	cr_assert_eq(dwcp_test_wait_pool_full(pair.a.instance, 30000), dwcp_test_pool_buffers(st),
		     "node A leaked buffers");
	cJSON_Delete(st);
}

/* [gpu] workers = 2 (on a GPU host, auto gives one per GPU, worker k on
 * CUDA device k): two svc-gpu processes, here on the CPU backend, both
 * READY; a send spreads svc-gpu's steps over both and arrives
 * bit-identical. */
Test(failover, two_gpu_workers_share_the_steps, .fini = teardown, .timeout = 600)
{
	static const char *const extra[] = {
		"gpu.cpu_backend = true", "gpu.workers = 2", "stream.codec = zstd", NULL,
	};
	struct dwcp_xfer_pair_cfg c = { .tag = "gw", .extra = extra };
	char key[128], src[128], out[128];
	double chunks, w0, w1;
	cJSON *st;

	start_pair(&c, 6, key, src, out);
	st = dwcp_test_status(pair.a.instance, NULL);
	cr_assert_not_null(st);
	cr_expect_str_eq(dwcp_test_svc_str(st, "svc-gpu", "state"), "READY");
	cr_expect_str_eq(dwcp_test_svc_str(st, "svc-gpu.1", "state"), "READY", "the second svc-gpu worker");
	cJSON_Delete(st);

	send_file("gw1", src, out);
	finish(src, out);
	chunks = dwcp_xfer_json_num(snd.out, "chunks");
	st = dwcp_test_status(pair.a.instance, NULL);
	cr_assert_not_null(st);
	w0 = dwcp_test_svc_num(st, "svc-gpu", "ops");
	w1 = dwcp_test_svc_num(st, "svc-gpu.1", "ops");
	cJSON_Delete(st);
	cr_expect_gt(w0, 0, "svc-gpu did no step");
	cr_expect_gt(w1, 0, "svc-gpu.1 did no step");
	cr_expect_geq(w0 + w1, 2 * chunks, "compress and seal of %.0f chunks: %.0f + %.0f steps", chunks, w0, w1);
}
