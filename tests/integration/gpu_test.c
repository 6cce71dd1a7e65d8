/* svc-gpu's GPU engine on a real CUDA device (issue: svc-gpu, a real CUDA
 * engine), what an operator of a GPU host checks:
 *  - svc-gpu is READY on the GPU (its self-tests agreed with the CPU) and
 *    says so; a transfer between two such nodes arrives bit-identical with
 *    svc-gpu doing the SEAL and CHECKSUM steps at the sender and the
 *    VERIFY and OPEN steps at the receiver (its ops counters: two a
 *    chunk, so more than the chunks);
 *  - kill -9 of svc-gpu on both nodes in the middle of a transfer: the
 *    file still arrives bit-identical, both restart READY on the GPU, and
 *    no pool buffer leaks.
 * Without a CUDA device (and driver) every case prints "skipped: no CUDA
 * device" and counts as skipped. The kernels' arithmetic is checked
 * against ISA-L on every machine by tests/unit/gpu/crc32c_math_test.
 *
 * Timeouts are hang guards, never speed limits.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
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

/* CUDA devices the driver shows (0 without a driver). */
static int cuda_devices(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	int (*init)(unsigned), (*count)(int *);
	int n = 0;

	if (!h)
		return 0;
	init = (int (*)(unsigned))dlsym(h, "cuInit");
	count = (int (*)(int *))dlsym(h, "cuDeviceGetCount");
	if (!init || !count || init(0) != 0 || count(&n) != 0)
		n = 0;
	dlclose(h);
	return n;
}

static void need_a_gpu(void)
{
	if (cuda_devices() > 0)
		return;
	fprintf(stderr, "skipped: no CUDA device\n");
	cr_skip_test("skipped: no CUDA device");
}

static void start(const char *tag, char src[128], char out[128], unsigned mib)
{
	struct dwcp_xfer_pair_cfg c = { .tag = tag };   /* built-in defaults, and a key */
	static char key[128];
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-gpu-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, mib * MIB, 42), 0, "cannot write %s", src);
	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

/* svc-gpu of @p inst is READY on the GPU engine, not the CPU backend. */
static void expect_gpu_engine(const char *inst)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	const char *state, *reason;

	cr_assert_not_null(st, "%s does not answer status", inst);
	state = dwcp_test_svc_str(st, "svc-gpu", "state");
	reason = dwcp_test_svc_str(st, "svc-gpu", "reason");
	cr_expect(state && !strcmp(state, "READY"), "%s: svc-gpu %s (%s)", inst, state ? state : "?",
		  reason ? reason : "");
	/* Keyed nodes: the op self-test agreed too (LZ4 decoded by liblz4,
	 * AES-GCM the CPU's to the byte), so SEAL and OPEN run there. */
	cr_expect(reason && strstr(reason, "CRC32C LZ4 AES-GCM on the GPU"), "%s: svc-gpu: %s", inst,
		  reason ? reason : "?");
	cJSON_Delete(st);
}

Test(gpu, checksums_run_on_the_gpu_and_the_file_is_bit_identical, .fini = teardown, .timeout = 600)
{
	char src[128], out[128];

	need_a_gpu();
	start("gpucrc", src, out, 256);
	expect_gpu_engine(pair.a.instance);
	expect_gpu_engine(pair.b.instance);
	xa_start_transfer(&pair, &snd, &rcv, "gpucrc", src, out, NULL);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	/* 256 MiB is 1024 chunks of the built-in 256 KiB: two GPU steps each. */
	cr_expect_gt(xa_num(pair.a.instance, "svc-gpu", "ops"), 1024, "the sender's svc-gpu did not SEAL and CHECKSUM");
	cr_expect_gt(xa_num(pair.b.instance, "svc-gpu", "ops"), 1024, "the receiver's svc-gpu did not VERIFY and OPEN");
	cr_expect_eq(xa_num(pair.a.instance, "svc-gpu", "errors"), 0);
	cr_expect_eq(xa_num(pair.b.instance, "svc-gpu", "errors"), 0, "VERIFY on the GPU refused chunks");
	xa_expect_pools_full(&pair);
}

static bool gpu_busy(void *arg)
{
	(void)arg;
	return xa_num(pair.a.instance, "svc-gpu", "ops") > 64;
}

Test(gpu, svc_gpu_killed_mid_transfer_loses_nothing, .fini = teardown, .timeout = 600)
{
	char src[128], out[128];
	pid_t a, b;

	need_a_gpu();
	start("gpukill", src, out, 1024);
	a = (pid_t)xa_num(pair.a.instance, "svc-gpu", "pid");
	b = (pid_t)xa_num(pair.b.instance, "svc-gpu", "pid");
	xa_start_transfer(&pair, &snd, &rcv, "gpukill", src, out, NULL);
	cr_assert(dwcp_test_wait_until(gpu_busy, NULL, 120000), "svc-gpu did no step");
	cr_assert(dwcp_xfer_running(&snd), "the transfer ended before svc-gpu could be killed: make the file larger");
	cr_assert_eq(kill(a, SIGKILL), 0);
	cr_assert_eq(kill(b, SIGKILL), 0);
	xa_finish_transfer(&pair, &snd, &rcv, src, out);
	cr_expect_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-gpu", 1, 30000), 0);
	cr_expect_gt(dwcp_test_wait_service_up(pair.b.instance, "svc-gpu", 1, 30000), 0);
	expect_gpu_engine(pair.a.instance);
	expect_gpu_engine(pair.b.instance);
	xa_expect_pools_full(&pair);
}
