/* The CPU chunk transforms, one implementation for every engine that
 * runs them on the CPU: svc-simd, and svc-gpu's CPU backend (DESIGN §6).
 *
 *   op          | in -> out
 *   LZ4 / ZSTD  | raw body -> compressed (kept raw when that is not smaller,
 *               | or when an entropy probe says it cannot be: codec_auto.h)
 *   SEAL        | body -> AES-256-GCM ciphertext (header authenticated)
 *   CHECKSUM    | sets the chunk CRC32C (in place, idempotent)
 *   VERIFY      | checks it (EBADCRC)
 *   OPEN        | ciphertext -> body (EAUTH when it does not authenticate)
 *   DECOMPRESS  | compressed -> raw body
 *   CRC32C      | h->result = CRC32C of the whole payload
 *
 * Every out-of-place op writes a new buffer (dwcp_svc_alloc) and never
 * modifies its input, so a step killed half-way is redone on the intact
 * input (svc_runtime.h). Every op checks the chunk header before trusting
 * a length: on a receiver the bytes came off the network.
 *
 * Concurrency: an engine belongs to one service thread.
 */
#ifndef DWCP_IPC_CHUNK_OPS_H
#define DWCP_IPC_CHUNK_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "common/ops/compress.h"
#include "ipc/chunk.h"
#include "ipc/ctl_block.h"
#include "ipc/shm.h"
#include "ipc/svc_runtime.h"

struct dwcp_aead_key;

struct dwcp_chunk_engine {
	struct dwcp_compress_ctx *cc;
	struct dwcp_aead_key *key;   /* NULL when no key file is configured */
	uint8_t salt[8];             /* nonce = salt || counter (ipc/chunk.h) */
	uint32_t counter;
	int salted;
	uint32_t zstd_level, lz4_level;
};

/* Helpers for any service's chunk steps (these ops, svc-mem's HDE). */

/** The chunk in buffer @p idx. */
struct dwcp_chunk_hdr *dwcp_chunk_at(const struct dwcp_svc_ctx *ctx, uint32_t idx);
/** Body bytes a buffer of this region holds after the chunk header. */
uint32_t dwcp_chunk_max_body(const struct dwcp_svc_ctx *ctx);
/** dwcp_chunk_check of a buffer's chunk, logged with the service's name. @return 0 or -1. */
int dwcp_chunk_checked(const struct dwcp_svc_ctx *ctx, const struct dwcp_buf_hdr *h,
		       const struct dwcp_chunk_hdr *c);
/** Take an output buffer starting with a copy of @p c's header. @return 0 or -EAGAIN. */
int dwcp_chunk_begin_output(struct dwcp_svc_ctx *ctx, const struct dwcp_chunk_hdr *c,
			    uint32_t *out, struct dwcp_chunk_hdr **oc);
/** The output's buffer length from its header's body_len. */
void dwcp_chunk_end_output(struct dwcp_svc_ctx *ctx, uint32_t out, const struct dwcp_chunk_hdr *oc);
/** Give an unused output back; the step's result stays the input @p idx. */
void dwcp_chunk_drop_output(struct dwcp_svc_ctx *ctx, uint32_t idx, uint32_t *out);

/**
 * Set up compression contexts and the key named in the control block.
 * @param who  the service's name, for log lines
 * @return 0; 1 when the key file is unusable (@p reason says why: the
 *         caller reports STANDBY and SEAL/OPEN fail ENOKEY); -ENOMEM.
 */
int dwcp_chunk_engine_init(struct dwcp_chunk_engine *e, const struct dwcp_ctl_block *ctl,
			   const char *who, char *reason, size_t n);

void dwcp_chunk_engine_fini(struct dwcp_chunk_engine *e);

/**
 * Run chunk op @p op on buffer @p idx (a svc_runtime step).
 * @return a DWCP_BUF_* status, DWCP_BUF_EBADOP for an op not listed above,
 *         or -EAGAIN when no output buffer is free.
 */
int dwcp_chunk_engine_step(struct dwcp_svc_ctx *ctx, struct dwcp_chunk_engine *e, uint32_t idx,
			   struct dwcp_buf_hdr *h, unsigned op, uint32_t *out);

/**
 * The engine that can run @p op instead of @p slot (svc-simd <-> svc-gpu),
 * or DWCP_SLOT_NONE. Ops both run: the table above except CRC32C.
 */
unsigned dwcp_chunk_op_alternate(unsigned slot, unsigned op);

/**
 * The engine a new program should name for @p op: svc-gpu for the
 * offloadable ops (LZ4, ZSTD, SEAL, OPEN, DECOMPRESS) while it is READY,
 * else svc-simd.
 */
unsigned dwcp_chunk_op_engine(const struct dwcp_shm *shm, unsigned op);

/**
 * Degraded routing: the slot buffer @p h goes to for its step at pc. When
 * that step's service is not READY (dead, restarting, standby) and the
 * other engine that runs the op is, the step is rewritten to name the
 * other one. Called by the buffer's owner just before it forwards it, so
 * traffic leaves a dead engine at the next handoff and comes back with
 * the next programs once it is READY again. Buffers already in the dead
 * engine's input link wait for its next generation (ownership is theirs).
 */
unsigned dwcp_chunk_route(const struct dwcp_shm *shm, struct dwcp_buf_hdr *h);

#endif
