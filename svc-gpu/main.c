/* svc-gpu: the GPU offload service. It asks the CUDA driver (libcuda,
 * loaded at run time so the service starts on hosts without an NVIDIA
 * driver) for devices. The CUDA kernels are not written yet, so today it
 * is either
 *   - READY on its CPU backend ([gpu] cpu_backend = true): the chunk ops of
 *     ipc/chunk_ops.h, the very code svc-simd runs, so programs may route
 *     AES-GCM / LZ4 / zstd steps here and fail over to svc-simd and back
 *     (the degraded-routing path is exercised without a GPU), or
 *   - STANDBY, saying why: no CUDA device, or devices but no kernels yet.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "ipc/chunk_ops.h"
#include "ipc/streams.h"

typedef int (*cu_init_fn)(unsigned flags);
typedef int (*cu_count_fn)(int *count);

static int cuda_devices(char *why, size_t n)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	cu_init_fn init;
	cu_count_fn count;
	int c = 0;

	if (!h) {
		snprintf(why, n, "no CUDA device (no NVIDIA driver)");
		return 0;
	}
	init = (cu_init_fn)dlsym(h, "cuInit");
	count = (cu_count_fn)dlsym(h, "cuDeviceGetCount");
	if (!init || !count || init(0) != 0 || count(&c) != 0)
		c = 0;
	if (!c)
		snprintf(why, n, "no CUDA device");
	else
		snprintf(why, n, "%d CUDA device%s, GPU kernels not built yet", c, c > 1 ? "s" : "");
	/* libcuda stays loaded: the engine will use it. */
	return c;
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
	static const struct dwcp_svc svc = { .name = "svc-gpu", .init = gpu_init,
					     .step = gpu_step, .fini = gpu_fini };

	return dwcp_svc_main(argc, argv, &svc);
}
