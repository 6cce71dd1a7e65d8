/* Chunk steps as GPU op jobs (gpu_cuda.h), and back: the chunk format's
 * side of svc-gpu's GPU path, kept apart from the CUDA calls so the host
 * tests can hold it to svc-simd's chunk engine (engine/chunk_ops.c) byte
 * for byte: a chunk sealed, opened or compressed here must be what the
 * CPU engine accepts, and the reverse (a node with a GPU talks to a node
 * without one).
 *
 * A step writes a new buffer and leaves its input as it is, as the CPU
 * engine's do, so a step lost with its process is redone on the intact
 * input. Pure: no allocation, no I/O.
 */
#ifndef DWCP_SVC_GPU_GPU_CHUNK_H
#define DWCP_SVC_GPU_GPU_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/chunk.h"
#include "svc-gpu/gpu_cuda.h"

/**
 * Whether svc-gpu's GPU runs step @p op on chunk @p c: SEAL, OPEN, LZ4,
 * UNLZ4, and DECOMPRESS of an LZ4 chunk (the GPU has no zstd).
 */
bool gpu_chunk_runs(unsigned op, const struct dwcp_chunk_hdr *c);

/**
 * Check chunk @p c for step @p op before a buffer is spent on it, as the
 * CPU engine does. @return DWCP_BUF_OK, with @p job true when the step
 * needs a GPU job (false: nothing to do, the input goes on as it is: LZ4
 * of a body that would not shrink, DECOMPRESS of an uncompressed one);
 * DWCP_BUF_EBADCHUNK (a chunk the step does not take: compressed twice,
 * sealed twice, ...); DWCP_BUF_EAUTH (OPEN of an unsealed chunk: a keyed
 * node takes nothing unsealed).
 */
int gpu_chunk_admit(unsigned op, const struct dwcp_chunk_hdr *c, bool *job);

/**
 * Write an admitted step @p op of input chunk @p c (at region offset
 * @p c_off) as a GPU job into @p job, the output going to @p oc (at
 * @p oc_off, its header a copy of @p c's, @p max_body bytes of room after
 * it). @p oc's header is set up as the result will need it; for SEAL and
 * OPEN it is the AES-GCM associated data the job reads. @p nonce: SEAL's.
 */
void gpu_chunk_prepare(unsigned op, const struct dwcp_chunk_hdr *c, uint64_t c_off, struct dwcp_chunk_hdr *oc,
		       uint64_t oc_off, uint32_t max_body, const uint8_t nonce[12], struct dwcp_gpu_op_job *job);

/**
 * Finish step @p op from the job's result @p r: complete @p oc's header.
 * @return a DWCP_BUF_* status, and in @p use_out whether @p oc is the
 *         step's result (false: the output is given back; the input goes
 *         on, unchanged, with the status: LZ4 that did not shrink the
 *         chunk, or a refusal).
 */
int gpu_chunk_finish(unsigned op, const struct dwcp_chunk_hdr *c, struct dwcp_chunk_hdr *oc,
		     const struct dwcp_gpu_op_result *r, bool *use_out);

#endif
