/* svc-gpu's own parts: the CUDA probe (cuda_probe.c) and the GPU path
 * (gpu_engine.c) over the CUDA engine (gpu_cuda.h). */
#ifndef DWCP_SVC_GPU_INTERNAL_H
#define DWCP_SVC_GPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/svc_runtime.h"
#include "svc-gpu/gpu_cuda.h"

/**
 * What the driver says: the number of CUDA devices (0 when none, or no
 * driver), and in @p why a sentence for the status line.
 */
int gpu_cuda_devices(char *why, size_t n);

struct gpu_engine;

/**
 * Register the region's buffers with CUDA device 0 and check the GPU's
 * CRC32C against the CPU's on buffers of the region.
 * @return 0; else <0 with the reason in @p why (svc-gpu stays on the CPU).
 */
int gpu_engine_open(struct gpu_engine **e, struct dwcp_svc_ctx *ctx, char *why, size_t n);

/** A CHECKSUM or VERIFY step: DWCP_SVC_KEEP (batched), -EAGAIN, or a DWCP_BUF_* error. */
int gpu_engine_step(struct gpu_engine *e, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op);

/** Launch what the loop turn gathered, pass on finished batches. @return buffers passed. */
unsigned gpu_engine_poll(struct gpu_engine *e);

/** Nonzero while poll has something to do now (a batch finished, or one can start). */
int gpu_engine_pending(struct gpu_engine *e);

void gpu_engine_close(struct gpu_engine *e);

#endif
