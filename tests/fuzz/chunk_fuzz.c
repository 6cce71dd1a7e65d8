/* Fuzz target: the chunk header check (ipc/chunk.c dwcp_chunk_check), the
 * one gate between bytes from a peer and every length the pipeline uses.
 *
 * Input: bytes 0..3 max_data (the body capacity a buffer offers), then the
 * chunk as it sits in a buffer: 96-byte header and body, in an exact-size
 * copy of its own.
 *
 * Checked, for every header the check accepts: it is a version-1 header
 * with known flags and codec and reserved zero; the body is exactly what
 * follows the header; every declared length fits max_data; a base_hash
 * only on a delta; and the lengths the receiver acts on lie inside what
 * it holds: with no step to undo (no codec, no delta) `dwcp recv` writes
 * orig_len bytes straight from the body, so orig_len must equal body_len,
 * and a decompressed body that is not a delta is the data, so its
 * inner_len must equal orig_len. Then the CRC and the AEAD associated
 * data, which read header and body by those lengths, are computed (ASan
 * checks they stay inside the buffer). A refused header must come with
 * -EBADMSG and a message.
 */
#include <errno.h>

#include "ipc/chunk.h"
#include "tests/fuzz/fuzz_util.h"

static void check_accepted(const struct dwcp_chunk_hdr *c, uint32_t len, uint32_t max_data)
{
	struct dwcp_chunk_hdr aad;

	FUZZ_ASSERT(len >= DWCP_CHUNK_HDR_LEN, "accepted %u bytes", len);
	FUZZ_ASSERT(c->magic == DWCP_CHUNK_MAGIC && c->version == DWCP_CHUNK_VERSION &&
		    c->hdr_len == DWCP_CHUNK_HDR_LEN, "magic 0x%08x version %u hdr_len %u",
		    c->magic, c->version, c->hdr_len);
	FUZZ_ASSERT(!(c->flags & ~DWCP_CHUNK_F_ALL) && c->codec <= 2, "flags 0x%x codec %u",
		    c->flags, c->codec);
	FUZZ_ASSERT(c->digest == 0 || (c->flags & DWCP_CHUNK_F_LAST), "a digest on chunk not LAST");
	FUZZ_ASSERT(c->body_len == len - DWCP_CHUNK_HDR_LEN, "body_len %u in %u bytes",
		    c->body_len, len);
	FUZZ_ASSERT(c->orig_len <= max_data && c->inner_len <= max_data && c->body_len <= max_data,
		    "orig %u inner %u body %u, max %u", c->orig_len, c->inner_len, c->body_len,
		    max_data);
	FUZZ_ASSERT((c->flags & DWCP_CHUNK_F_DELTA) || c->base_hash == 0, "base_hash on a non-delta");
	FUZZ_ASSERT(!(c->flags & DWCP_CHUNK_F_MOVED) || (c->flags & DWCP_CHUNK_F_KEPT), "moved, not kept");
	if (!(c->flags & DWCP_CHUNK_F_DELTA) && (c->flags & DWCP_CHUNK_F_KEPT)) {
		/* data (kept pages zero) + the kept trailer (longer when MOVED), plain */
		const uint32_t t = c->body_len - c->orig_len;

		FUZZ_ASSERT(c->codec == DWCP_CHUNK_CODEC_NONE && !(c->flags & DWCP_CHUNK_F_SEALED) &&
				    c->body_len >= c->orig_len &&
				    ((c->flags & DWCP_CHUNK_F_MOVED) ?
					     t >= DWCP_CHUNK_KEPT_TRAILER + 16 && (t - DWCP_CHUNK_KEPT_TRAILER) % 8 == 0 &&
						     t <= DWCP_CHUNK_MOVED_TRAILER_MAX :
					     t == DWCP_CHUNK_KEPT_TRAILER) &&
				    c->inner_len == c->body_len && c->orig_len && c->offset % 4096 == 0,
			    "kept non-delta: data %u, inner %u, body %u, codec %u, flags 0x%x",
			    c->orig_len, c->inner_len, c->body_len, c->codec, c->flags);
	} else if (!(c->flags & DWCP_CHUNK_F_DELTA)) {
		FUZZ_ASSERT(c->inner_len == c->orig_len, "non-delta with inner %u, data %u",
			    c->inner_len, c->orig_len);
		if (c->codec == DWCP_CHUNK_CODEC_NONE)
			FUZZ_ASSERT(c->body_len == c->orig_len,
				    "plain chunk of %u data bytes with a %u-byte body", c->orig_len,
				    c->body_len);
	}
	(void)dwcp_chunk_crc(c);
	dwcp_chunk_aad(c, &aad);
	FUZZ_ASSERT(aad.crc == 0 && aad.body_len == c->body_len, "aad");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint32_t max_data = (uint32_t)fuzz_take(&in, 4);
	struct dwcp_err err = { 0 };
	uint32_t len;
	uint8_t *buf;
	int rc;

	if (in.n > UINT32_MAX)
		return 0;
	len = (uint32_t)in.n;
	/* a buffer holds at least a header's room, as pool buffers do */
	buf = calloc(1, len < DWCP_CHUNK_HDR_LEN ? DWCP_CHUNK_HDR_LEN : len);
	FUZZ_ASSERT(buf != NULL, "out of memory");
	if (len)
		memcpy(buf, in.p, len);
	rc = dwcp_chunk_check((const struct dwcp_chunk_hdr *)buf, len, max_data, &err);
	if (rc == 0)
		check_accepted((const struct dwcp_chunk_hdr *)buf, len, max_data);
	else
		FUZZ_ASSERT(rc == -EBADMSG && err.code == rc && err.msg[0], "rc %d '%s'", rc, err.msg);
	free(buf);
	return 0;
}
