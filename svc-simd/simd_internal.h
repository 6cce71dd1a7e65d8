/* svc-simd's own files: its per-process engine state and its steps. */
#ifndef DWCP_SIMD_INTERNAL_H
#define DWCP_SIMD_INTERNAL_H

#include <stdint.h>

#include "common/ops/compress.h"
#include "ipc/svc_runtime.h"

struct dwcp_aead_key;

struct simd_state {
	struct dwcp_compress_ctx *cc;
	struct dwcp_aead_key *key;   /* NULL when no key file is configured */
	uint8_t salt[8];             /* nonce = salt || counter (ipc/chunk.h) */
	uint32_t counter;
	int salted;
	uint32_t zstd_level, lz4_level;
};

/** DWCP_OP_BENCH_RAW_ECHO: run the raw ring echo until the client says stop. */
int simd_bench_raw_echo(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h);

/* The chunk transforms (transform.c); each returns a DWCP_BUF_* status or
 * -EAGAIN when no output buffer is free. */
int simd_compress(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
		  struct dwcp_buf_hdr *h, enum dwcp_codec codec, uint32_t *out);
int simd_decompress(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
		    struct dwcp_buf_hdr *h, uint32_t *out);
int simd_seal(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out);
int simd_open(struct dwcp_svc_ctx *ctx, struct simd_state *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out);
int simd_checksum(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h);
int simd_verify(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h);

#endif
