/* svc-gpu: the GPU offload service. It asks the CUDA driver (libcuda,
 * loaded at run time so the service starts on hosts without an NVIDIA
 * driver) for devices. The CUDA kernels are not written yet, so today it
 * is either
 *   - READY on its CPU backend ([gpu] cpu_backend = true): the chunk ops of
 *     engine/chunk_ops.h, the very code svc-simd runs, so programs may route
 *     AES-GCM / LZ4 / zstd steps here and fail over to svc-simd and back
 *     (the degraded-routing path is exercised without a GPU), or
 *   - STANDBY, saying why: no CUDA device, or devices but no kernels yet.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "engine/chunk_ops.h"
#include "ipc/streams.h"

/* The CUDA driver API svc-gpu probes with, looked up in libcuda at run
 * time (no CUDA headers needed to build: CUresult and CUdevice are int,
 * CUcontext a pointer). */
struct cu {
	int (*init)(unsigned flags);
	int (*count)(int *count);
	int (*err_name)(int rc, const char **name);
	int (*get)(int *dev, int ordinal);
	int (*name)(char *name, int len, int dev);
	int (*retain)(void **ctx, int dev);
	int (*push)(void *ctx);
	int (*mem)(size_t *free_b, size_t *total_b);
	int (*pop)(void **ctx);
	int (*release)(int dev);
};

#define CU_ERROR_OUT_OF_MEMORY 2
#define CU_ERROR_INSUFFICIENT_DRIVER 35

static const char *cu_error(const struct cu *c, int rc)
{
	const char *s = NULL;

	return c->err_name && c->err_name(rc, &s) == 0 && s ? s : "a CUDA error";
}

/* Device 0's free memory: what a GPU engine will allocate from, and the
 * first thing to fail when another process holds the GPU. */
static void probe_memory(const struct cu *c, int n_dev, char *why, size_t n)
{
	char name[96] = "?";
	size_t free_b = 0, total_b = 0;
	void *ctx = NULL;
	int dev = 0, rc;

	if (!c->get || !c->retain || !c->push || !c->mem || !c->pop || !c->release ||
	    c->get(&dev, 0) != 0)
		return;
	if (c->name)
		c->name(name, sizeof(name), dev);
	rc = c->retain(&ctx, dev);
	if (rc == CU_ERROR_OUT_OF_MEMORY) {
		snprintf(why, n, "CUDA out of memory on device 0 (%s): another process holds it (nvidia-smi lists them)",
			 name);
		return;
	}
	if (rc != 0) {
		snprintf(why, n, "CUDA device 0 (%s) refused a context: %s", name, cu_error(c, rc));
		return;
	}
	if (c->push(ctx) == 0) {
		c->mem(&free_b, &total_b);
		c->pop(&ctx);
	}
	c->release(dev);
	snprintf(why, n, "%d CUDA device%s (%s, %zu of %zu MiB free), GPU kernels not built yet", n_dev,
		 n_dev > 1 ? "s" : "", name, free_b >> 20, total_b >> 20);
}

static int cuda_devices(char *why, size_t n)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	struct cu c;
	int count = 0, rc;

	if (!h) {
		snprintf(why, n, "no CUDA device (no NVIDIA driver)");
		return 0;
	}
	c = (struct cu){
		.init = (int (*)(unsigned))dlsym(h, "cuInit"),
		.count = (int (*)(int *))dlsym(h, "cuDeviceGetCount"),
		.err_name = (int (*)(int, const char **))dlsym(h, "cuGetErrorName"),
		.get = (int (*)(int *, int))dlsym(h, "cuDeviceGet"),
		.name = (int (*)(char *, int, int))dlsym(h, "cuDeviceGetName"),
		.retain = (int (*)(void **, int))dlsym(h, "cuDevicePrimaryCtxRetain"),
		.push = (int (*)(void *))dlsym(h, "cuCtxPushCurrent_v2"),
		.mem = (int (*)(size_t *, size_t *))dlsym(h, "cuMemGetInfo_v2"),
		.pop = (int (*)(void **))dlsym(h, "cuCtxPopCurrent_v2"),
		.release = (int (*)(int))dlsym(h, "cuDevicePrimaryCtxRelease_v2"),
	};
	if (!c.init || !c.count) {
		snprintf(why, n, "no CUDA device (libcuda lacks cuInit: a broken driver install)");
		return 0;
	}
	rc = c.init(0);
	if (rc != 0) {
		snprintf(why, n, "the CUDA driver refused to start: %s%s", cu_error(&c, rc),
			 rc == CU_ERROR_INSUFFICIENT_DRIVER ? " (the driver is older than this CUDA: update it)" : "");
		return 0;
	}
	if (c.count(&count) != 0 || !count) {
		snprintf(why, n, "no CUDA device");
		return 0;
	}
	snprintf(why, n, "%d CUDA device%s, GPU kernels not built yet", count, count > 1 ? "s" : "");
	probe_memory(&c, count, why, n);
	/* libcuda stays loaded: the engine will use it. */
	return count;
}

static int gpu_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	struct dwcp_chunk_engine *e;
	int rc;

	cuda_devices(reason, n);
	if (!ctx->at.shm.node->conf.gpu_cpu_backend)
		return 1;   /* STANDBY: routing keeps every op on svc-simd */
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	ctx->priv = e;
	DWCP_INFO("svc-gpu: %s; running the CPU backend ([gpu] cpu_backend)", reason);
	rc = dwcp_chunk_engine_init(e, ctx->at.shm.ctl, "svc-gpu", reason, n);
	if (rc == 0)
		snprintf(reason, n, "CPU backend");
	return rc;
}

static int gpu_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		    uint32_t *out)
{
	if (!ctx->priv)
		return DWCP_BUF_EBADOP;
	return dwcp_chunk_engine_step(ctx, ctx->priv, idx, h, op, out);
}

static void gpu_fini(struct dwcp_svc_ctx *ctx)
{
	if (!ctx->priv)
		return;
	dwcp_chunk_engine_fini(ctx->priv);
	free(ctx->priv);
	ctx->priv = NULL;
}

int main(int argc, char **argv)
{
	/* Offload first; the cheap checksum steps only while svc-simd is down. */
	static const struct dwcp_svc svc = {
		.name = "svc-gpu", .init = gpu_init, .step = gpu_step, .fini = gpu_fini,
		.ops[DWCP_RANK_PREFER] = DWCP_CHUNK_OFFLOAD_OPS,
		.ops[DWCP_RANK_SPARE] = DWCP_OP_BIT(DWCP_OP_CHECKSUM) | DWCP_OP_BIT(DWCP_OP_VERIFY),
	};

	return dwcp_svc_main(argc, argv, &svc);
}
