/* svc-gpu's CUDA engine, shared by its two files: engine.cu (the region,
 * CRC32C batches) and ops.cu (AES-256-GCM and LZ4 batches). */
#ifndef DWCP_SVC_GPU_ENGINE_PVT_CUH
#define DWCP_SVC_GPU_ENGINE_PVT_CUH

#include <cuda_runtime.h>

#include "svc-gpu/gpu_cuda.h"

struct gpu_slot {
	cudaStream_t stream;
	cudaEvent_t done;
	struct dwcp_gpu_crc_job *h_jobs, *d_jobs;   /* pinned host / device */
	uint32_t *h_out, *d_out;
	unsigned n;
	bool busy;
};

/* A batch of op jobs in flight (ops.cu). */
struct gpu_op_slot {
	cudaStream_t stream;
	cudaEvent_t done;
	struct dwcp_gpu_op_job *h_jobs, *d_jobs;        /* pinned host / device */
	struct dwcp_gpu_op_result *h_res, *d_res;
	uint32_t *d_scratch;                            /* LZ4 hash tables, one a job */
	unsigned n;
	bool busy;
};

struct dwcp_gpu {
	uint8_t *base, *d_base;    /* the region: host address, device address */
	size_t size;
	bool registered;
	void (*wake)(void *);
	void *wake_arg;
	struct gpu_slot slot[DWCP_GPU_SLOTS];
	struct gpu_op_slot op_slot[DWCP_GPU_SLOTS];
	bool has_key;
	char desc[160];
	char err[256];
};

/** Record a CUDA error as the engine's last. @return -EIO. */
int dwcp_gpu_fail(struct dwcp_gpu *g, cudaError_t rc, const char *what);

/** A stream callback at a batch's end: wakes the service. */
void CUDART_CB dwcp_gpu_batch_done(void *arg);

/** ops.cu: the op slots' streams and buffers. @return 0 or -EIO. */
int dwcp_gpu_ops_open(struct dwcp_gpu *g);
void dwcp_gpu_ops_close(struct dwcp_gpu *g);

#endif
