/* svc-simd: the SIMD compute service. Its steps are the CPU
 * implementations in common/ops/ (the same code svc-gpu's CPU backend
 * links, DESIGN §6); this file only maps opcodes to them. */
#include "common/ops/crc32c.h"
#include "ipc/shm.h"
#include "ipc/svc_runtime.h"
#include "simd_internal.h"

static int simd_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		     uint32_t *out)
{
	(void)out;
	switch (op) {
	case DWCP_OP_CRC32C:
		h->result = dwcp_crc32c(0, dwcp_shm_data(&ctx->at.shm, idx), h->len);
		return DWCP_BUF_OK;
	case DWCP_OP_BENCH_RAW_ECHO:
		return simd_bench_raw_echo(ctx, idx, h);
	default:
		return DWCP_BUF_EBADOP;
	}
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-simd", .step = simd_step };

	return dwcp_svc_main(argc, argv, &svc);
}
