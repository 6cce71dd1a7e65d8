/* svc-gpu's GPU path (gpu_internal.h): chunk steps kept (DWCP_SVC_KEEP),
 * gathered into batches, run by the CUDA engine (gpu_cuda.h) and passed
 * on when their batch is done. CHECKSUM and VERIFY go in CRC batches;
 * SEAL, OPEN, LZ4 and UNLZ4 (and LZ4's DECOMPRESS) in op batches, each writing a new
 * buffer (gpu_chunk.h turns chunks into jobs and results into chunks).
 *
 * A loop turn's steps fill one batch of each kind; poll starts them on
 * free slots and collects the batches that finished. The engine's wake
 * function (a CUDA thread, at the end of each batch) sets a flag and
 * wakes this service, so the loop sleeps while the GPU works instead of
 * polling it. A kept buffer stays this generation's work and its output
 * only HELD: if the process dies — a GPU fault makes it exit — the
 * supervisor re-delivers the input to the next generation, which redoes
 * the step, and frees the output (tests/model/outofplace.pml -DKEEP_STEP
 * checks this against kills at every step).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/keyfile.h"
#include "common/log.h"
#include "engine/chunk_ops.h"
#include "ipc/link.h"
#include "gpu_chunk.h"
#include "gpu_internal.h"

struct gpu_batch {
	uint32_t idx[DWCP_GPU_BATCH_MAX];
	uint8_t op[DWCP_GPU_BATCH_MAX];
	struct dwcp_gpu_crc_job job[DWCP_GPU_BATCH_MAX];
	uint32_t out[DWCP_GPU_BATCH_MAX];
	unsigned n;
};

struct gpu_op_batch {
	uint32_t idx[DWCP_GPU_BATCH_MAX];           /* the inputs */
	uint32_t out[DWCP_GPU_BATCH_MAX];           /* their outputs, HELD until passed */
	uint8_t op[DWCP_GPU_BATCH_MAX];
	struct dwcp_gpu_op_job job[DWCP_GPU_BATCH_MAX];
	struct dwcp_gpu_op_result res[DWCP_GPU_BATCH_MAX];
	unsigned n;
};

struct gpu_engine {
	struct dwcp_gpu *g;
	struct dwcp_svc_ctx *ctx;
	struct gpu_batch fill;                      /* this loop turn's steps */
	struct gpu_batch run[DWCP_GPU_SLOTS];       /* in flight, by engine slot */
	struct gpu_batch done;                      /* the finished one being passed on */
	bool busy[DWCP_GPU_SLOTS];
	struct gpu_op_batch op_fill, op_run[DWCP_GPU_SLOTS], op_done;
	bool op_busy[DWCP_GPU_SLOTS];
	uint32_t ops;                               /* DWCP_OP_BIT mask of what the GPU runs */
	struct dwcp_chunk_nonce nonce;              /* SEAL's, apart from every other engine's */
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

/* The ops beside the CRCs, when the GPU computes them as the CPU does;
 * SEAL and OPEN only under the node's key. @return 0 (with them or
 * without), or <0 when the device failed the test (@p why). */
static int open_ops(struct gpu_engine *e, char *why, size_t n)
{
	const char *path = e->ctx->at.shm.ctl->key_file;
	struct dwcp_err err = { 0 };
	uint8_t key[DWCP_KEYFILE_KEY_LEN];
	char msg[256] = "";   /* logged, not a status line */
	bool keyed = path[0] && dwcp_keyfile_read(path, key, &err) == 0;
	int rc;

	if (path[0] && !keyed)
		DWCP_WARN("svc-gpu: no AES-256-GCM on the GPU: %s", err.msg);
	rc = gpu_selftest_ops(e->g, e->ctx, keyed ? key : NULL, msg, sizeof(msg));
	explicit_bzero(key, sizeof(key));
	if (rc == -EPROTO) {
		DWCP_WARN("svc-gpu: the GPU runs CRC32C only: %s", msg);
		return 0;
	}
	if (rc) {
		snprintf(why, n, "%s", msg);
		return rc;
	}
	e->ops |= DWCP_OP_BIT(DWCP_OP_LZ4) | DWCP_OP_BIT(DWCP_OP_UNLZ4);
	if (keyed)
		e->ops |= DWCP_OP_BIT(DWCP_OP_SEAL) | DWCP_OP_BIT(DWCP_OP_OPEN);
	return 0;
}

int gpu_engine_open(struct gpu_engine **out, struct dwcp_svc_ctx *ctx, int device, char *why, size_t n)
{
	struct gpu_engine *e = calloc(1, sizeof(*e));
	int rc;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->ctx = ctx;
	rc = dwcp_gpu_open(&e->g, device, ctx->at.shm.data, (size_t)ctx->at.shm.n_bufs * ctx->at.shm.buf_size,
			   wake, e, why, n);
	if (rc == 0)
		rc = gpu_selftest_crc(e->g, ctx, why, n);
	e->ops = DWCP_OP_BIT(DWCP_OP_CHECKSUM) | DWCP_OP_BIT(DWCP_OP_VERIFY);
	if (rc == 0)
		rc = open_ops(e, why, n);
	if (rc) {
		dwcp_gpu_close(e->g);
		free(e);
		return rc;
	}
	/* What it runs first: a status line keeps 63 bytes. */
	snprintf(why, n, "CRC32C%s%s on the GPU: %s", e->ops & DWCP_OP_BIT(DWCP_OP_LZ4) ? " LZ4" : "",
		 e->ops & DWCP_OP_BIT(DWCP_OP_SEAL) ? " AES-GCM" : "", dwcp_gpu_describe(e->g));
	*out = e;
	return 0;
}

uint32_t gpu_engine_ops(const struct gpu_engine *e)
{
	return e->ops;
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

/* Start the filling op batch if a slot is free. */
static void launch_ops(struct gpu_engine *e)
{
	int slot;

	if (!e->op_fill.n)
		return;
	slot = dwcp_gpu_op_start(e->g, e->op_fill.job, e->op_fill.n);
	if (slot == -EBUSY)
		return;
	if (slot < 0)
		device_lost(e, "starting an op batch");
	e->op_run[slot] = e->op_fill;
	e->op_busy[slot] = true;
	e->op_fill.n = 0;
}

/* SEAL, OPEN, LZ4 or DECOMPRESS of an LZ4 chunk: an output buffer, a job. */
static int op_step(struct gpu_engine *e, uint32_t idx, struct dwcp_chunk_hdr *c, unsigned op)
{
	struct dwcp_svc_ctx *ctx = e->ctx;
	struct dwcp_chunk_hdr *oc;
	uint8_t nonce[12] = { 0 };
	uint32_t out;
	bool need;
	int st;
	unsigned k;

	if ((op == DWCP_OP_SEAL || op == DWCP_OP_OPEN) && !(e->ops & DWCP_OP_BIT(DWCP_OP_SEAL)))
		return DWCP_BUF_ENOKEY;
	st = gpu_chunk_admit(op, c, &need);
	if (st != DWCP_BUF_OK || !need)
		return st;
	if (e->op_fill.n == DWCP_GPU_BATCH_MAX) {
		launch_ops(e);
		if (e->op_fill.n)
			return -EAGAIN;
	}
	if (dwcp_chunk_begin_output(ctx, c, &out, &oc))
		return -EAGAIN;
	if (op == DWCP_OP_SEAL)
		dwcp_chunk_nonce_next(&e->nonce, nonce);
	k = e->op_fill.n++;
	gpu_chunk_prepare(op, c, (uint64_t)((uint8_t *)c - ctx->at.shm.data), oc,
			  (uint64_t)((uint8_t *)oc - ctx->at.shm.data), dwcp_chunk_max_body(ctx), nonce,
			  &e->op_fill.job[k]);
	e->op_fill.idx[k] = idx;
	e->op_fill.out[k] = out;
	e->op_fill.op[k] = (uint8_t)op;
	return DWCP_SVC_KEEP;
}

bool gpu_engine_runs(const struct gpu_engine *e, unsigned op, const struct dwcp_chunk_hdr *c)
{
	if (op == DWCP_OP_CHECKSUM || op == DWCP_OP_VERIFY)
		return true;
	/* DECOMPRESS: its LZ4 chunks, where LZ4 runs here at all. */
	return (e->ops & DWCP_OP_BIT(op == DWCP_OP_DECOMPRESS ? DWCP_OP_LZ4 : op)) && gpu_chunk_runs(op, c);
}

int gpu_engine_step(struct gpu_engine *e, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op)
{
	struct dwcp_svc_ctx *ctx = e->ctx;
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx);
	unsigned k;

	if (dwcp_chunk_checked(ctx, h, c))
		return DWCP_BUF_EBADCHUNK;
	if (op != DWCP_OP_CHECKSUM && op != DWCP_OP_VERIFY)
		return op_step(e, idx, c, op);
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

/* Pass on the op batches that finished. @return buffers passed. */
static unsigned poll_ops(struct gpu_engine *e)
{
	unsigned work = 0;

	for (unsigned s = 0; s < DWCP_GPU_SLOTS; s++) {
		struct gpu_op_batch *b = &e->op_run[s];
		int rc;

		if (!e->op_busy[s])
			continue;
		rc = dwcp_gpu_op_done(e->g, (int)s, b->res);
		if (rc == 0)
			continue;
		if (rc < 0)
			device_lost(e, "an op batch");
		/* As for CRC batches: pass from a copy. */
		e->op_done = *b;
		e->op_busy[s] = false;
		b = &e->op_done;
		for (unsigned k = 0; k < b->n; k++) {
			struct dwcp_chunk_hdr *c = dwcp_chunk_at(e->ctx, b->idx[k]);
			struct dwcp_chunk_hdr *oc = dwcp_chunk_at(e->ctx, b->out[k]);
			bool use_out;
			int status = gpu_chunk_finish(b->op[k], c, oc, &b->res[k], &use_out);

			if (use_out) {
				dwcp_chunk_end_output(e->ctx, b->out[k], oc);
				dwcp_svc_pass_out(e->ctx, b->idx[k], b->out[k], status);
			} else {
				dwcp_svc_free(e->ctx, b->out[k]);
				dwcp_svc_pass(e->ctx, b->idx[k], status);
			}
		}
		work += b->n;
	}
	launch_ops(e);
	return work;
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
	return work + poll_ops(e);
}

int gpu_engine_pending(struct gpu_engine *e)
{
	bool can_launch = false;

	for (unsigned s = 0; s < DWCP_GPU_SLOTS; s++)
		can_launch |= (e->fill.n && !e->busy[s]) || (e->op_fill.n && !e->op_busy[s]);
	return __atomic_load_n(&e->woke, __ATOMIC_ACQUIRE) || can_launch;
}

void gpu_engine_close(struct gpu_engine *e)
{
	if (!e)
		return;
	dwcp_gpu_close(e->g);
	free(e);
}
