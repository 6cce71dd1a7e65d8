/* The raw reference loop of `dwcp bench handoff` (ipc/bench_echo.h): it
 * busy-polls a plain SP/SC rte_ring, computes the same CRC32C as the real
 * step, and answers on a second ring — no ownership, no wakeups. It keeps
 * the heartbeat going, and gives up if the client goes away, so a bench
 * killed half-way cannot hang the service. */
#include "common/ops/crc32c.h"
#include "common/timeutil.h"
#include "ipc/bench_echo.h"
#include "ipc/shm.h"
#include "simd_internal.h"

#define ECHO_BURST 32

static int client_gone(const struct dwcp_svc_ctx *ctx, const struct dwcp_buf_hdr *h,
		       uint32_t gen)
{
	unsigned client = dwcp_prog_slot(h->prog[h->prog_len - 1]);
	const struct dwcp_slot *s = &ctx->at.shm.ctl->slots[client];

	return __atomic_load_n(&s->sup.generation, __ATOMIC_ACQUIRE) != gen ||
	       __atomic_load_n(&s->sup.state, __ATOMIC_ACQUIRE) != DWCP_SUP_RUNNING;
}

static int echo_burst(const struct dwcp_shm *shm, struct rte_ring *req, struct rte_ring *rsp)
{
	uint32_t idx[ECHO_BURST];
	unsigned n = rte_ring_sc_dequeue_burst_elem(req, idx, sizeof(uint32_t), ECHO_BURST, NULL);
	unsigned done = 0;

	for (unsigned i = 0; i < n; i++) {
		struct dwcp_buf_hdr *b;

		if (idx[i] == DWCP_BENCH_STOP)
			return -1;
		if (idx[i] >= shm->n_bufs)
			continue;
		b = dwcp_shm_hdr(shm, idx[i]);
		b->result = dwcp_crc32c(0, dwcp_shm_data(shm, idx[i]),
					b->len <= shm->buf_size ? b->len : 0);
	}
	while (done < n)
		done += rte_ring_sp_enqueue_burst_elem(rsp, idx + done, sizeof(uint32_t), n - done,
						       NULL);
	return (int)n;
}

int simd_bench_raw_echo(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h)
{
	const struct dwcp_shm *shm = &ctx->at.shm;
	uint8_t *base = dwcp_shm_data(shm, idx);
	struct rte_ring *req = (struct rte_ring *)base;
	struct rte_ring *rsp = (struct rte_ring *)(base + dwcp_bench_rsp_offset());
	unsigned client = dwcp_prog_slot(h->prog[h->prog_len - 1]);
	uint32_t gen = ctx->at.shm.ctl->slots[client].sup.generation;
	uint64_t spins = 0;

	if (h->len < dwcp_bench_rings_size() || h->len > shm->buf_size || client >= DWCP_MAX_SLOTS)
		return DWCP_BUF_EBADLEN;
	for (;;) {
		int n = echo_burst(shm, req, rsp);

		if (n < 0)
			return DWCP_BUF_OK;
		if ((++spins & 0xffff) == 0) {
			dwcp_svc_heartbeat(ctx);
			if (client_gone(ctx, h, gen))
				return DWCP_BUF_OK;
		}
	}
}
