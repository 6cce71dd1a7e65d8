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
 * Which service runs an op is not decided here: each engine publishes
 * the ops it runs, by rank, and the route table picks (ipc/route.h).
 *
 * Concurrency: an engine belongs to one service thread.
 */
#ifndef DWCP_ENGINE_CHUNK_OPS_H
#define DWCP_ENGINE_CHUNK_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "ipc/chunk.h"
#include "ipc/ctl_block.h"
#include "ipc/route.h"
#include "ipc/shm.h"
#include "ipc/svc_runtime.h"

struct dwcp_aead_key;

/* Where an engine's AES-GCM nonces come from: salt || counter (ipc/chunk.h).
 * Every engine under a key (svc-simd's workers, svc-gpu's GPU and CPU
 * paths) has its own random salt, so their nonces never meet. */
struct dwcp_chunk_nonce {
	uint8_t salt[8];
	uint32_t counter;
	int salted;
};

/** The next nonce: a fresh random salt before the counter could repeat. */
void dwcp_chunk_nonce_next(struct dwcp_chunk_nonce *n, uint8_t nonce[DWCP_AEAD_NONCE_LEN]);

struct dwcp_chunk_engine {
	struct dwcp_compress_ctx *cc;
	struct dwcp_aead_key *key;   /* NULL when no key file is configured */
	struct dwcp_chunk_nonce nonce;
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
 * The ops dwcp_chunk_engine_step runs, as DWCP_OP_BIT masks: what an
 * engine built on it publishes (ipc/route.h, dwcp_svc.ops).
 */
#define DWCP_CHUNK_ENGINE_OPS                                                              \
	(DWCP_OP_BIT(DWCP_OP_CRC32C) | DWCP_CHUNK_OFFLOAD_OPS | DWCP_OP_BIT(DWCP_OP_CHECKSUM) | \
	 DWCP_OP_BIT(DWCP_OP_VERIFY))
/* The ones worth moving off the CPU cores: the heavy per-byte work. */
#define DWCP_CHUNK_OFFLOAD_OPS                                                         \
	(DWCP_OP_BIT(DWCP_OP_LZ4) | DWCP_OP_BIT(DWCP_OP_ZSTD) | DWCP_OP_BIT(DWCP_OP_SEAL) | \
	 DWCP_OP_BIT(DWCP_OP_OPEN) | DWCP_OP_BIT(DWCP_OP_DECOMPRESS) | DWCP_OP_BIT(DWCP_OP_UNLZ4))

#endif
