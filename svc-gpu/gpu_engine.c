/* svc-gpu's GPU path (gpu_internal.h): CHECKSUM and VERIFY steps kept
 * (DWCP_SVC_KEEP), gathered into batches, run by the CUDA engine
 * (gpu_cuda.h) and passed on when their batch is done.
 *
 * A loop turn's steps fill one batch; poll starts it on a free slot and
 * collects the batches that finished. The engine's wake function (a CUDA
 * thread, at the end of each batch) sets a flag and wakes this service,
 * so the loop sleeps while the GPU works instead of polling it. A kept
 * buffer stays this generation's work: if the process dies — a GPU
 * fault makes it exit — the supervisor re-delivers it to the next
 * generation, which redoes the step.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ops/crc32c.h"
#include "common/timeutil.h"
#include "engine/chunk_ops.h"
#include "ipc/link.h"
#include "gpu_internal.h"

struct gpu_batch {
	uint32_t idx[DWCP_GPU_BATCH_MAX];
	uint8_t op[DWCP_GPU_BATCH_MAX];
	struct dwcp_gpu_crc_job job[DWCP_GPU_BATCH_MAX];
	uint32_t out[DWCP_GPU_BATCH_MAX];
	unsigned n;
};

struct gpu_engine {
	struct dwcp_gpu *g;
	struct dwcp_svc_ctx *ctx;
	struct gpu_batch fill;                      /* this loop turn's steps */
	struct gpu_batch run[DWCP_GPU_SLOTS];       /* in flight, by engine slot */
	struct gpu_batch done;                      /* the finished one being passed on */
	bool busy[DWCP_GPU_SLOTS];
	uint32_t woke;                              /* writer: the CUDA thread (atomic) */
};

#define CRC_FIELD ((uint64_t)offsetof(struct dwcp_chunk_hdr, crc))

static void wake(void *arg)
{
	struct gpu_engine *e = arg;

	__atomic_store_n(&e->woke, 1, __ATOMIC_RELEASE);
	dwcp_link_notify(&e->ctx->at.shm, e->ctx->at.slot);
}

/* A fault the context does not survive: leave, so the supervisor hands
 * our kept buffers to the next generation (whose open tests the GPU). */
static void device_lost(struct gpu_engine *e, const char *what)
{
	DWCP_ERR("svc-gpu: %s: %s; exiting so the supervisor re-delivers this process's chunks", what,
		 dwcp_gpu_error(e->g));
	_exit(EXIT_FAILURE);   /* not exit(): the CUDA runtime's teardown may wait on a dead device */
}

/* The CRC of a chunk the way the step sees it, on the CPU: the check. */
static uint32_t cpu_crc(const uint8_t *msg, uint64_t len)
{
	const uint8_t zero[4] = { 0 };
	uint32_t crc = dwcp_crc32c(0, msg, CRC_FIELD);

	crc = dwcp_crc32c(crc, zero, 4);
	return dwcp_crc32c(crc, msg + CRC_FIELD + 4, len - CRC_FIELD - 4);
}

/* Before any chunk: CRCs of buffers of this region, of lengths that
 * split unevenly over a block, computed by the GPU and by ISA-L. A
 * device, driver or kernel that disagrees leaves svc-gpu on the CPU. */
static int self_test(struct gpu_engine *e, char *why, size_t n)
{
	static const uint32_t lens[] = { DWCP_CHUNK_HDR_LEN, DWCP_CHUNK_HDR_LEN + 1, 4096 + 13, 65536 + 96 };
	struct dwcp_svc_ctx *ctx = e->ctx;
	struct dwcp_gpu_crc_job job[4];
	uint32_t idx[4], out[4], want[4];
	uint64_t seed = 0x9e3779b97f4a7c15ull, deadline;
	unsigned k, got = 0;
	int slot, rc = 0;

	for (k = 0; k < 4; k++) {
		uint8_t *p;
		uint32_t len = lens[k] < ctx->at.shm.buf_size ? lens[k] : ctx->at.shm.buf_size;

		/* A restart under load may find the pool empty for a moment. */
		for (int tries = 0; dwcp_svc_alloc(ctx, &idx[k]); tries++) {
			if (tries == 1000) {
				snprintf(why, n, "no pool buffer free for the GPU self-test for 1 s");
				rc = -EAGAIN;
				goto out;
			}
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		}
		got++;
		p = dwcp_shm_data(&ctx->at.shm, idx[k]);
		for (uint32_t i = 0; i < len; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			p[i] = (uint8_t)(seed >> 56);
		}
		job[k] = (struct dwcp_gpu_crc_job){ .off = (uint64_t)(p - ctx->at.shm.data), .len = len,
						    .zero_off = CRC_FIELD };
		want[k] = cpu_crc(p, len);
	}
	slot = dwcp_gpu_crc_start(e->g, job, 4);
	if (slot < 0) {
		snprintf(why, n, "GPU self-test: %s", dwcp_gpu_error(e->g));
		rc = -EIO;
		goto out;
	}
	deadline = dwcp_now_ns() + 5000000000ull;
	while ((rc = dwcp_gpu_crc_done(e->g, slot, out)) == 0 && dwcp_now_ns() < deadline)
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	if (rc <= 0) {
		snprintf(why, n, "GPU self-test: %s", rc ? dwcp_gpu_error(e->g) : "no result within 5 s");
		rc = -EIO;
		goto out;
	}
	rc = 0;
	for (k = 0; k < 4; k++)
		if (out[k] != want[k]) {
			snprintf(why, n, "GPU self-test: CRC32C of %llu bytes is %08x on the GPU, %08x on the CPU",
				 (unsigned long long)job[k].len, out[k], want[k]);
			rc = -EIO;
			break;
		}
out:
	for (k = 0; k < got; k++)
		dwcp_svc_free(ctx, idx[k]);
	return rc;
}

int gpu_engine_open(struct gpu_engine **out, struct dwcp_svc_ctx *ctx, char *why, size_t n)
{
	struct gpu_engine *e = calloc(1, sizeof(*e));
	int rc;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->ctx = ctx;
	rc = dwcp_gpu_open(&e->g, ctx->at.shm.data, (size_t)ctx->at.shm.n_bufs * ctx->at.shm.buf_size, wake, e,
			   why, n);
	if (rc == 0)
		rc = self_test(e, why, n);
	if (rc) {
		dwcp_gpu_close(e->g);
		free(e);
		return rc;
	}
	snprintf(why, n, "%s", dwcp_gpu_describe(e->g));
	*out = e;
	return 0;
}

/* Start the filling batch if a slot is free. */
static void launch(struct gpu_engine *e)
{
	int slot;

	if (!e->fill.n)
		return;
	slot = dwcp_gpu_crc_start(e->g, e->fill.job, e->fill.n);
	if (slot == -EBUSY)
		return;   /* every slot in flight: the next poll */
	if (slot < 0)
		device_lost(e, "starting a CRC batch");
	e->run[slot] = e->fill;
	e->busy[slot] = true;
	e->fill.n = 0;
}

int gpu_engine_step(struct gpu_engine *e, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op)
{
	struct dwcp_svc_ctx *ctx = e->ctx;
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx);
	unsigned k;

	if (dwcp_chunk_checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	if (e->fill.n == DWCP_GPU_BATCH_MAX) {
		launch(e);
		if (e->fill.n)
			return -EAGAIN;   /* batches full: the runtime calls again */
	}
	k = e->fill.n++;
	e->fill.idx[k] = idx;
	e->fill.op[k] = (uint8_t)op;
	e->fill.job[k] = (struct dwcp_gpu_crc_job){ .off = (uint64_t)((uint8_t *)c - ctx->at.shm.data),
						    .len = DWCP_CHUNK_HDR_LEN + c->body_len,
						    .zero_off = CRC_FIELD };
	return DWCP_SVC_KEEP;
}

unsigned gpu_engine_poll(struct gpu_engine *e)
{
	unsigned work = 0;

	__atomic_store_n(&e->woke, 0, __ATOMIC_RELAXED);
	for (unsigned s = 0; s < DWCP_GPU_SLOTS; s++) {
		struct gpu_batch *b = &e->run[s];
		int rc;

		if (!e->busy[s])
			continue;
		rc = dwcp_gpu_crc_done(e->g, (int)s, b->out);
		if (rc == 0)
			continue;
		if (rc < 0)
			device_lost(e, "a CRC batch");
		/* Passing a buffer on may run its next step here, which may
		 * start a batch in this very slot: pass from a copy. */
		e->done = *b;
		e->busy[s] = false;
		b = &e->done;
		for (unsigned k = 0; k < b->n; k++) {
			struct dwcp_chunk_hdr *c = dwcp_chunk_at(e->ctx, b->idx[k]);
			int status = DWCP_BUF_OK;

			if (b->op[k] == DWCP_OP_CHECKSUM)
				c->crc = b->out[k];
			else if (c->crc != b->out[k])
				status = DWCP_BUF_EBADCRC;
			dwcp_svc_pass(e->ctx, b->idx[k], status);
		}
		work += b->n;
	}
	launch(e);
	return work;
}

int gpu_engine_pending(struct gpu_engine *e)
{
	bool can_launch = false;

	for (unsigned s = 0; s < DWCP_GPU_SLOTS && e->fill.n; s++)
		can_launch |= !e->busy[s];
	return __atomic_load_n(&e->woke, __ATOMIC_ACQUIRE) || can_launch;
}

void gpu_engine_close(struct gpu_engine *e)
{
	if (!e)
		return;
	dwcp_gpu_close(e->g);
	free(e);
}
