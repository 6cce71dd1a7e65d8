/* svc-gpu's own parts: the CUDA probe (cuda_probe.c) and the GPU path
 * (gpu_engine.c) over the CUDA engine (gpu_cuda.h). */
#ifndef DWCP_SVC_GPU_INTERNAL_H
#define DWCP_SVC_GPU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/chunk.h"
#include "ipc/svc_runtime.h"
#include "svc-gpu/gpu_cuda.h"

/**
 * What the driver says: the number of CUDA devices (0 when none, or no
 * driver), and in @p why a sentence for the status line about @p device,
 * the one this worker would take.
 */
int gpu_cuda_devices(int device, char *why, size_t n);

/**
 * CRC32C on the GPU of buffers of the region (lengths that split unevenly
 * over a block), against ISA-L. @return 0; else <0 with @p why.
 */
int gpu_selftest_crc(struct dwcp_gpu *g, struct dwcp_svc_ctx *ctx, char *why, size_t n);

/**
 * The op batches against the CPU: an LZ4 block liblz4 must decode, and
 * with @p key (NULL: none) a seal that must be the CPU's AES-256-GCM to
 * the byte and an open of what the CPU sealed; loads @p key into the GPU.
 * @return 0; -EPROTO (results differ: @p why); -EIO (a device error: the
 *         context may be lost); -EAGAIN, -ENOMEM.
 */
int gpu_selftest_ops(struct dwcp_gpu *g, struct dwcp_svc_ctx *ctx, const uint8_t *key, char *why, size_t n);

struct gpu_engine;

/**
 * Register the region's buffers with CUDA device @p device and check the
 * GPU's CRC32C and ops against the CPU's on buffers of the region
 * (gpu_selftest_*): what agrees is what gpu_engine_ops() publishes.
 * @return 0; else <0 with the reason in @p why (svc-gpu stays on the CPU).
 */
int gpu_engine_open(struct gpu_engine **e, struct dwcp_svc_ctx *ctx, int device, char *why, size_t n);

/** What the GPU runs for every chunk, as DWCP_OP_BIT masks: what svc-gpu publishes for it. */
uint32_t gpu_engine_ops(const struct gpu_engine *e);

/** Whether the GPU runs step @p op on chunk @p c (DECOMPRESS: LZ4 chunks only). */
bool gpu_engine_runs(const struct gpu_engine *e, unsigned op, const struct dwcp_chunk_hdr *c);

/**
 * A step the GPU runs: DWCP_SVC_KEEP (batched), a DWCP_BUF_* status when
 * there is nothing for the GPU to do or the chunk is refused, or -EAGAIN.
 */
int gpu_engine_step(struct gpu_engine *e, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op);

/** Launch what the loop turn gathered, pass on finished batches. @return buffers passed. */
unsigned gpu_engine_poll(struct gpu_engine *e);

/** Nonzero while poll has something to do now (a batch finished, or one can start). */
int gpu_engine_pending(struct gpu_engine *e);

void gpu_engine_close(struct gpu_engine *e);

#endif
