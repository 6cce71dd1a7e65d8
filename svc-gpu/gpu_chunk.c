/* Chunk steps as GPU op jobs and back (gpu_chunk.h). Each step mirrors
 * its CPU twin in engine/chunk_ops.c: the same checks in the same order,
 * the same header on the result. */
#include <string.h>

#include "common/ops/codec_auto.h"
#include "common/ops/compress.h"
#include "ipc/buf_hdr.h"
#include "svc-gpu/gpu_chunk.h"

static const uint8_t *body_of(const struct dwcp_chunk_hdr *c)
{
	return (const uint8_t *)c + DWCP_CHUNK_HDR_LEN;
}

bool gpu_chunk_runs(unsigned op, const struct dwcp_chunk_hdr *c)
{
	switch (op) {
	case DWCP_OP_SEAL:
	case DWCP_OP_OPEN:
	case DWCP_OP_LZ4:
	case DWCP_OP_UNLZ4:
		return true;
	case DWCP_OP_DECOMPRESS:
		return c->codec == DWCP_CODEC_LZ4;
	default:
		return false;
	}
}

int gpu_chunk_admit(unsigned op, const struct dwcp_chunk_hdr *c, bool *job)
{
	const bool sealed = c->flags & DWCP_CHUNK_F_SEALED;

	*job = false;
	switch (op) {
	case DWCP_OP_SEAL:
		if (sealed)
			return DWCP_BUF_EBADCHUNK;
		break;
	case DWCP_OP_OPEN:
		if (!sealed)
			return DWCP_BUF_EAUTH;
		break;
	case DWCP_OP_LZ4:
		if (sealed || c->codec != DWCP_CHUNK_CODEC_NONE)
			return DWCP_BUF_EBADCHUNK;
		/* The CPU engine's probe: random or compressed data would
		 * come out no smaller and travel raw anyway. */
		if (!c->body_len || !dwcp_codec_auto_may_compress(body_of(c), c->body_len))
			return DWCP_BUF_OK;
		break;
	case DWCP_OP_DECOMPRESS:
		if (sealed)
			return DWCP_BUF_EBADCHUNK;
		if (c->codec == DWCP_CHUNK_CODEC_NONE)
			return DWCP_BUF_OK;
		if (c->codec != DWCP_CODEC_LZ4)
			return DWCP_BUF_EBADOP;   /* not the GPU's codec: gpu_chunk_runs said so */
		break;
	case DWCP_OP_UNLZ4:
		/* As the CPU engine: named for LZ4 chunks only. */
		if (sealed || c->codec != DWCP_CODEC_LZ4)
			return DWCP_BUF_EBADCHUNK;
		break;
	default:
		return DWCP_BUF_EBADOP;
	}
	*job = true;
	return DWCP_BUF_OK;
}

void gpu_chunk_prepare(unsigned op, const struct dwcp_chunk_hdr *c, uint64_t c_off, struct dwcp_chunk_hdr *oc,
		       uint64_t oc_off, uint32_t max_body, const uint8_t nonce[12], struct dwcp_gpu_op_job *job)
{
	memset(job, 0, sizeof(*job));
	job->in_off = c_off + DWCP_CHUNK_HDR_LEN;
	job->in_len = c->body_len;
	job->out_off = oc_off + DWCP_CHUNK_HDR_LEN;
	job->out_cap = max_body;
	switch (op) {
	case DWCP_OP_SEAL:
		/* The header as sealed, crc and tag zero, is the associated
		 * data (dwcp_chunk_aad): the job reads it where it lies. */
		job->op = DWCP_GPU_SEAL;
		oc->flags |= DWCP_CHUNK_F_SEALED;
		oc->crc = 0;
		memcpy(oc->nonce, nonce, sizeof(oc->nonce));
		memset(oc->tag, 0, sizeof(oc->tag));
		memcpy(job->nonce, oc->nonce, sizeof(job->nonce));
		job->aad_off = oc_off;
		job->aad_len = DWCP_CHUNK_HDR_LEN;
		break;
	case DWCP_OP_OPEN:
		/* The output's header, crc and tag zeroed, is the input's as
		 * the sender sealed it: the associated data. */
		job->op = DWCP_GPU_OPEN;
		oc->crc = 0;
		memset(oc->tag, 0, sizeof(oc->tag));
		memcpy(job->nonce, c->nonce, sizeof(job->nonce));
		memcpy(job->tag, c->tag, sizeof(job->tag));
		job->aad_off = oc_off;
		job->aad_len = DWCP_CHUNK_HDR_LEN;
		break;
	case DWCP_OP_LZ4:
		/* Only an output smaller than the input is worth keeping:
		 * the compressor stops once it cannot be. */
		job->op = DWCP_GPU_LZ4;
		job->out_cap = c->body_len - 1 < max_body ? c->body_len - 1 : max_body;
		break;
	case DWCP_OP_DECOMPRESS:
	case DWCP_OP_UNLZ4:
		job->op = DWCP_GPU_UNLZ4;
		job->out_cap = c->inner_len < max_body ? c->inner_len : max_body;
		break;
	}
}

int gpu_chunk_finish(unsigned op, const struct dwcp_chunk_hdr *c, struct dwcp_chunk_hdr *oc,
		     const struct dwcp_gpu_op_result *r, bool *use_out)
{
	*use_out = false;
	switch (op) {
	case DWCP_OP_SEAL:
		if (r->len != (int64_t)c->body_len)
			return DWCP_BUF_EAUTH;
		memcpy(oc->tag, r->tag, sizeof(oc->tag));
		break;
	case DWCP_OP_OPEN:
		if (r->len != (int64_t)c->body_len)
			return DWCP_BUF_EAUTH;
		oc->flags &= (uint8_t)~DWCP_CHUNK_F_SEALED;
		memset(oc->nonce, 0, sizeof(oc->nonce));
		memset(oc->tag, 0, sizeof(oc->tag));
		oc->crc = 0;
		break;
	case DWCP_OP_LZ4:
		if (r->len <= 0 || r->len >= (int64_t)c->body_len)
			return DWCP_BUF_OK;   /* incompressible: the chunk travels as it is */
		oc->codec = DWCP_CODEC_LZ4;
		oc->inner_len = c->body_len;
		oc->body_len = (uint32_t)r->len;
		break;
	case DWCP_OP_DECOMPRESS:
	case DWCP_OP_UNLZ4:
		if (r->len != (int64_t)c->inner_len)
			return DWCP_BUF_EBADCHUNK;
		oc->codec = DWCP_CHUNK_CODEC_NONE;
		oc->body_len = c->inner_len;
		oc->crc = 0;
		break;
	default:
		return DWCP_BUF_EBADOP;
	}
	*use_out = true;
	return DWCP_BUF_OK;
}
