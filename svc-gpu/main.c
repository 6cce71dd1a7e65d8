/* svc-gpu: the GPU offload service. Its engines, each optional:
 *   - the GPU (gpu_engine.c, when the build had nvcc, a CUDA device is
 *     there and its self-test agrees with the CPU): CHECKSUM and VERIFY,
 *     LZ4 and, under the node's key, SEAL and OPEN, in batches on the
 *     GPU, preferred over svc-simd while READY;
 *   - the CPU backend ([gpu] cpu_backend = true): the chunk ops of
 *     engine/chunk_ops.h, the very code svc-simd runs, so programs may
 *     route AES-GCM / LZ4 / zstd steps here and fail over to svc-simd and
 *     back (the degraded-routing path is exercised without a GPU).
 * With neither it is STANDBY, saying why. What it runs is what it
 * publishes in the op table (ipc/route.h): programs name it for nothing
 * else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "engine/chunk_ops.h"
#include "ipc/streams.h"
#include "gpu_internal.h"

#define GPU_CRC_OPS (DWCP_OP_BIT(DWCP_OP_CHECKSUM) | DWCP_OP_BIT(DWCP_OP_VERIFY))

struct gpu_state {
	struct gpu_engine *gpu;
	struct dwcp_chunk_engine *cpu;
};

static void gpu_fini(struct dwcp_svc_ctx *ctx)
{
	struct gpu_state *st = ctx->priv;

	if (!st)
		return;
	gpu_engine_close(st->gpu);
	if (st->cpu)
		dwcp_chunk_engine_fini(st->cpu);
	free(st->cpu);
	free(st);
	ctx->priv = NULL;
}

static int gpu_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	struct gpu_state *st = calloc(1, sizeof(*st));
	char why[DWCP_REASON_MAX] = "";
	/* One worker per GPU ([gpu] workers = auto): worker k takes device k. */
	int device = (int)ctx->at.shm.ctl->slots[ctx->at.slot].sup.worker;
	int devices = gpu_cuda_devices(device, reason, n), rc;

	if (!st)
		return -ENOMEM;
	ctx->priv = st;
	if (devices > device) {
		rc = gpu_engine_open(&st->gpu, ctx, device, why, sizeof(why));
		if (rc == -ENOMEM)
			return rc;
		if (rc) {
			DWCP_WARN("svc-gpu: %s, but no GPU engine: %s", reason, why);
			snprintf(reason, n, "no GPU engine: %s", why);
		} else {
			DWCP_INFO("svc-gpu: GPU engine on %s", why);
			snprintf(reason, n, "%s", why);
		}
	}
	if (ctx->at.shm.node->conf.gpu_cpu_backend) {
		st->cpu = calloc(1, sizeof(*st->cpu));
		if (!st->cpu)
			return -ENOMEM;
		rc = dwcp_chunk_engine_init(st->cpu, ctx->at.shm.ctl, "svc-gpu", why, sizeof(why));
		if (rc < 0)
			return rc;
		if (rc) {
			/* An unusable key file: no CPU backend, the reason says why. */
			snprintf(reason, n, "%s", why);
			dwcp_chunk_engine_fini(st->cpu);
			free(st->cpu);
			st->cpu = NULL;
		} else {
			DWCP_INFO("svc-gpu: running the CPU backend ([gpu] cpu_backend)%s",
				  st->gpu ? " beside the GPU engine" : "");
			if (!st->gpu)
				snprintf(reason, n, "CPU backend");
		}
	}
	/* What it runs is what it publishes: the GPU's ops first; the CPU
	 * backend's offload ops, and its checksums only as a spare. */
	ctx->ops[DWCP_RANK_PREFER] = (st->gpu ? gpu_engine_ops(st->gpu) : 0) |
				     (st->cpu ? DWCP_CHUNK_OFFLOAD_OPS : 0);
	ctx->ops[DWCP_RANK_SERVE] = 0;
	ctx->ops[DWCP_RANK_SPARE] = st->cpu && !st->gpu ? GPU_CRC_OPS : 0;
	return st->gpu || st->cpu ? 0 : 1;   /* 1: STANDBY, routing keeps every op on svc-simd */
}

static int gpu_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		    uint32_t *out)
{
	struct gpu_state *st = ctx->priv;

	/* A chunk the GPU does not take (zstd) goes to the CPU backend. */
	if (st && st->gpu && gpu_engine_runs(st->gpu, op, dwcp_chunk_at(ctx, idx)))
		return gpu_engine_step(st->gpu, idx, h, op);
	if (st && st->cpu)
		return dwcp_chunk_engine_step(ctx, st->cpu, idx, h, op, out);
	return DWCP_BUF_EBADOP;
}

static unsigned gpu_poll(struct dwcp_svc_ctx *ctx, uint64_t now_ns)
{
	struct gpu_state *st = ctx->priv;

	(void)now_ns;
	return st && st->gpu ? gpu_engine_poll(st->gpu) : 0;
}

static int gpu_pending(struct dwcp_svc_ctx *ctx)
{
	struct gpu_state *st = ctx->priv;

	return st && st->gpu ? gpu_engine_pending(st->gpu) : 0;
}

int main(int argc, char **argv)
{
	/* What it may run; init narrows it to the engines it has. */
	static const struct dwcp_svc svc = {
		.name = "svc-gpu", .init = gpu_init, .step = gpu_step, .fini = gpu_fini,
		.poll = gpu_poll, .pending = gpu_pending,
		.ops[DWCP_RANK_PREFER] = DWCP_CHUNK_OFFLOAD_OPS | GPU_CRC_OPS,
	};

	return dwcp_svc_main(argc, argv, &svc);
}
