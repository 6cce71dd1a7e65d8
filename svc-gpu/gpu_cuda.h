/* svc-gpu's CUDA engine, as C sees it (kernels/engine.cu; without nvcc,
 * gpu_nocuda.c answers every call with "built without nvcc").
 *
 * The node's whole region is registered with the CUDA driver once
 * (cudaHostRegister, mapped), so kernels read chunk buffers where they
 * lie, over PCIe, with no staging copy. Work goes in batches: one job per
 * chunk, one thread block per job, a few batches in flight on streams of
 * their own. A batch that finishes calls the caller's wake function (from
 * a CUDA thread), so the service sleeps while the GPU works.
 *
 * Concurrency: one service thread makes every call; the wake function
 * runs on a CUDA thread and must only set a flag and wake that thread.
 */
#ifndef DWCP_SVC_GPU_GPU_CUDA_H
#define DWCP_SVC_GPU_GPU_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DWCP_GPU_BATCH_MAX 512u   /* jobs in one batch */
#define DWCP_GPU_SLOTS     4u     /* batches in flight */

struct dwcp_gpu;

/* The CRC32C of the @p len bytes at @p off of the region (a chunk's
 * header and body), the four bytes at @p zero_off of them read as zero
 * (the chunk's crc field). */
struct dwcp_gpu_crc_job {
	uint64_t off;
	uint64_t len;
	uint64_t zero_off;
};

/**
 * Take CUDA device 0 and register [@p base, @p base + @p size) with it.
 * @return 0; -ENODEV (no device, no driver, or built without nvcc) or
 *         -EIO, with the reason in @p why.
 */
int dwcp_gpu_open(struct dwcp_gpu **g, void *base, size_t size, void (*wake)(void *), void *wake_arg,
		  char *why, size_t why_len);

/** The device's name and what the engine runs, for the status line. */
const char *dwcp_gpu_describe(const struct dwcp_gpu *g);

/**
 * Start a batch of @p n (1..DWCP_GPU_BATCH_MAX) CRC jobs.
 * @return the batch's slot (0..DWCP_GPU_SLOTS-1); -EBUSY when every slot
 *         is in flight; -EIO on a device error (the context is lost: the
 *         caller exits, its buffers are re-delivered).
 */
int dwcp_gpu_crc_start(struct dwcp_gpu *g, const struct dwcp_gpu_crc_job *jobs, unsigned n);

/**
 * Whether the batch in @p slot finished. @return 1 (its n CRCs are in
 * @p out, the slot is free), 0 (still running), -EIO (device error).
 */
int dwcp_gpu_crc_done(struct dwcp_gpu *g, int slot, uint32_t *out);

/** The last device error, for the log. */
const char *dwcp_gpu_error(const struct dwcp_gpu *g);

void dwcp_gpu_close(struct dwcp_gpu *g);

#ifdef __cplusplus
}
#endif

#endif
