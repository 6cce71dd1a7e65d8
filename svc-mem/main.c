/* svc-mem: the memory service. Pools are created by the supervisor; this
 * process owns the HDE delta cache in the region and runs the delta steps
 * against it (delta.c). Leases and the leak detector are later work. */
#include <errno.h>
#include <stdlib.h>

#include "ipc/svc_runtime.h"
#include "mem_internal.h"

static int mem_init(struct dwcp_svc_ctx *ctx, char *reason, size_t reason_len)
{
	struct mem_state *st = calloc(1, sizeof(*st));

	(void)reason;
	(void)reason_len;
	if (!st)
		return -ENOMEM;
	ctx->priv = st;
	mem_delta_init(ctx, st);
	return 0;
}

static void mem_fini(struct dwcp_svc_ctx *ctx)
{
	struct mem_state *st = ctx->priv;

	if (!st)
		return;
	mem_delta_report(st);
	free(st);
	ctx->priv = NULL;
}

static int mem_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		    uint32_t *out)
{
	struct mem_state *st = ctx->priv;

	switch (op) {
	case DWCP_OP_DELTA:
		return mem_delta(ctx, st, idx, h, out);
	case DWCP_OP_UNDELTA:
		return mem_undelta(ctx, st, idx, h, out);
	default:
		return DWCP_BUF_EBADOP;
	}
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = {
		.name = "svc-mem", .init = mem_init, .step = mem_step, .fini = mem_fini,
		.ops[DWCP_RANK_SERVE] = DWCP_OP_BIT(DWCP_OP_DELTA) | DWCP_OP_BIT(DWCP_OP_UNDELTA),
	};

	return dwcp_svc_main(argc, argv, &svc);
}
