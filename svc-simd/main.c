/* svc-simd: the SIMD compute service. Its steps are the CPU chunk
 * transforms of engine/chunk_ops.h over common/ops/ (the same code svc-gpu's
 * CPU backend runs, DESIGN §6), plus the raw reference loop of
 * `dwcp bench handoff`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chunk_ops.h"
#include "simd_internal.h"

static int simd_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	struct dwcp_chunk_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	ctx->priv = e;
	return dwcp_chunk_engine_init(e, ctx->at.shm.ctl, "svc-simd", reason, n);
}

static void simd_fini(struct dwcp_svc_ctx *ctx)
{
	if (!ctx->priv)
		return;
	dwcp_chunk_engine_fini(ctx->priv);
	free(ctx->priv);
	ctx->priv = NULL;
}

static int simd_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		     uint32_t *out)
{
	if (op == DWCP_OP_BENCH_RAW_ECHO)
		return simd_bench_raw_echo(ctx, idx, h);
	return dwcp_chunk_engine_step(ctx, ctx->priv, idx, h, op, out);
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = {
		.name = "svc-simd", .init = simd_init, .step = simd_step, .fini = simd_fini,
		.ops[DWCP_RANK_SERVE] = DWCP_CHUNK_ENGINE_OPS | DWCP_OP_BIT(DWCP_OP_BENCH_RAW_ECHO),
	};

	return dwcp_svc_main(argc, argv, &svc);
}
