/* svc-gpu's CUDA engine, shared by its two files: engine.cu (the region,
 * CRC32C batches) and ops.cu (AES-256-GCM and LZ4 batches). */
#ifndef DWCP_SVC_GPU_ENGINE_PVT_CUH
#define DWCP_SVC_GPU_ENGINE_PVT_CUH

#include <cuda_runtime.h>

#include "svc-gpu/gpu_cuda.h"

/* A batch in flight: its stream, its jobs and results (pinned host and
 * device copies, elements of job_size and out_size bytes), the event its
 * end records. CRC batches and op batches each have DWCP_GPU_SLOTS. */
struct gpu_slot {
	cudaStream_t stream;
	cudaEvent_t done;
	void *h_jobs, *d_jobs, *h_out, *d_out;
	size_t job_size, out_size;
	uint32_t *d_scratch;       /* op batches: LZ4 hash tables, one a job */
	uint8_t *d_stage;          /* op batches: LZ4's input and output in device memory */
	size_t stage_size;         /* bytes at d_stage (grown to the largest batch) */
	unsigned n;
	bool busy;
};

struct dwcp_gpu {
	uint8_t *base, *d_base;    /* the region: host address, device address */
	size_t size;
	bool registered;
	void (*wake)(void *);
	void *wake_arg;
	struct gpu_slot slot[DWCP_GPU_SLOTS];      /* CRC batches */
	struct gpu_slot op_slot[DWCP_GPU_SLOTS];   /* op batches (ops.cu) */
	bool has_key;
	char desc[160];
	char err[256];
};

/** Record a CUDA error as the engine's last. @return -EIO. */
int dwcp_gpu_fail(struct dwcp_gpu *g, cudaError_t rc, const char *what);

/** A stream callback at a batch's end: wakes the service. */
void CUDART_CB dwcp_gpu_batch_done(void *arg);

/** Make @p s's stream, event and buffers for DWCP_GPU_BATCH_MAX jobs. @return 0 or -EIO. */
int dwcp_gpu_slot_open(struct dwcp_gpu *g, struct gpu_slot *s, size_t job_size, size_t out_size);

/** Wait for what @p s runs, then free it all. */
void dwcp_gpu_slot_close(struct gpu_slot *s);

/** A free slot of @p slots: its index, or -EBUSY. */
int dwcp_gpu_slot_pick(const struct gpu_slot *slots);

/** Queue @p n jobs' copy to the device on @p s. @return 0 or -EIO. */
int dwcp_gpu_slot_send(struct dwcp_gpu *g, struct gpu_slot *s, const void *jobs, unsigned n);

/** After the kernel: queue the results' copy back, the event and the
 *  wake call; the slot is busy then. @return 0 or -EIO. */
int dwcp_gpu_slot_finish(struct dwcp_gpu *g, struct gpu_slot *s, unsigned n);

/** Whether @p s finished: 1 (results in @p out, the slot free), 0, or -EIO. */
int dwcp_gpu_slot_done(struct dwcp_gpu *g, struct gpu_slot *s, void *out);

/** ops.cu: the op slots (dwcp_gpu_close closes them). @return 0 or -EIO. */
int dwcp_gpu_ops_open(struct dwcp_gpu *g);

#endif
