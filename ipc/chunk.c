/* Chunk header helpers (chunk.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/ops/crc32c.h"
#include "ipc/chunk.h"

void dwcp_chunk_init(struct dwcp_chunk_hdr *c, uint64_t stream, uint64_t seq, uint64_t offset,
		     uint32_t orig_len)
{
	memset(c, 0, sizeof(*c));
	c->magic = DWCP_CHUNK_MAGIC;
	c->version = DWCP_CHUNK_VERSION;
	c->hdr_len = DWCP_CHUNK_HDR_LEN;
	c->stream = stream;
	c->seq = seq;
	c->offset = offset;
	c->orig_len = orig_len;
	c->body_len = orig_len;
	c->inner_len = orig_len;
}

/* A kept chunk has data, a page-aligned offset and at most 64 pages (the
 * trailer's mask), is never an abort, and is either an HDE version 2 body
 * (DELTA: the decoder checks the rest) or, between the sender's read and
 * DELTA and after the receiver's UNDELTA, plain data and the trailer:
 * neither compressed nor sealed, exactly orig_len + trailer bytes. */
static bool trailer_len_ok(const struct dwcp_chunk_hdr *c)
{
	uint32_t t = c->body_len - c->orig_len;

	if (c->body_len < c->orig_len)
		return false;
	/* With MOVED: the moved mask and 1..64 source offsets more. */
	if (c->flags & DWCP_CHUNK_F_MOVED)
		return t >= DWCP_CHUNK_KEPT_TRAILER + 16u && t <= DWCP_CHUNK_MOVED_TRAILER_MAX &&
		       (t - DWCP_CHUNK_KEPT_TRAILER) % 8u == 0;
	return t == DWCP_CHUNK_KEPT_TRAILER;
}

static int check_kept(const struct dwcp_chunk_hdr *c, struct dwcp_err *err)
{
	if (!c->orig_len || c->orig_len > 64u * 4096u || c->offset % 4096 ||
	    c->flags & DWCP_CHUNK_F_ABORT)
		return dwcp_err_set(err, -EBADMSG, "kept chunk of %u bytes at offset %llu (flags 0x%x): not 1..64 whole pages",
				    c->orig_len, (unsigned long long)c->offset, c->flags);
	if (c->flags & DWCP_CHUNK_F_DELTA)
		return 0;
	if (c->flags & DWCP_CHUNK_F_SEALED || c->codec != DWCP_CHUNK_CODEC_NONE || c->base_hash ||
	    !trailer_len_ok(c) || c->inner_len != c->body_len)
		return dwcp_err_set(err, -EBADMSG, "kept chunk that is no delta: body %u, inner %u for %u bytes of data (codec %u, flags 0x%x)",
				    c->body_len, c->inner_len, c->orig_len, c->codec, c->flags);
	return 0;
}

int dwcp_chunk_check(const struct dwcp_chunk_hdr *c, uint32_t len, uint32_t max_data,
		     struct dwcp_err *err)
{
	if (len < DWCP_CHUNK_HDR_LEN || c->magic != DWCP_CHUNK_MAGIC)
		return dwcp_err_set(err, -EBADMSG, "not a dwcp chunk (length %u, magic 0x%08x)", len,
				    len >= 4 ? c->magic : 0);
	if (c->version != DWCP_CHUNK_VERSION || c->hdr_len != DWCP_CHUNK_HDR_LEN)
		return dwcp_err_set(err, -EBADMSG, "chunk version %u / header length %u, expected %u / %u",
				    c->version, c->hdr_len, DWCP_CHUNK_VERSION, DWCP_CHUNK_HDR_LEN);
	if (c->flags & ~DWCP_CHUNK_F_ALL || c->codec > 2)
		return dwcp_err_set(err, -EBADMSG, "chunk with unknown flags 0x%x or codec %u",
				    c->flags, c->codec);
	if (c->digest && !(c->flags & DWCP_CHUNK_F_LAST))
		return dwcp_err_set(err, -EBADMSG, "a stream digest on a chunk that is not the last");
	if (c->body_len != len - DWCP_CHUNK_HDR_LEN)
		return dwcp_err_set(err, -EBADMSG, "chunk body length %u, but %u bytes follow the header",
				    c->body_len, len - DWCP_CHUNK_HDR_LEN);
	if (c->orig_len > max_data || c->inner_len > max_data || c->body_len > max_data)
		return dwcp_err_set(err, -EBADMSG,
				    "chunk lengths (data %u, inner %u, body %u) exceed the %u-byte buffer",
				    c->orig_len, c->inner_len, c->body_len, max_data);
	if (!(c->flags & DWCP_CHUNK_F_DELTA) && c->base_hash)
		return dwcp_err_set(err, -EBADMSG, "chunk names a delta base but is no delta");
	if ((c->flags & (DWCP_CHUNK_F_KEPT | DWCP_CHUNK_F_MOVED)) == DWCP_CHUNK_F_MOVED)
		return dwcp_err_set(err, -EBADMSG, "a chunk with moved pages that is not kept (flags 0x%x)",
				    c->flags);
	if (c->flags & DWCP_CHUNK_F_KEPT)
		return check_kept(c, err);
	/* Once every step is undone the receiver writes orig_len bytes from
	 * the body: without a delta the decompressed body (inner_len) is the
	 * data, and without a codec too the body itself is. Lengths that say
	 * otherwise would have it write bytes the chunk never carried
	 * (whatever the buffer held before). */
	if (!(c->flags & DWCP_CHUNK_F_DELTA) &&
	    (c->inner_len != c->orig_len ||
	     (c->codec == DWCP_CHUNK_CODEC_NONE && c->body_len != c->orig_len)))
		return dwcp_err_set(err, -EBADMSG,
				    "chunk of %u data bytes with inner %u / body %u bytes: without a delta the data is the (decompressed) body",
				    c->orig_len, c->inner_len, c->body_len);
	return 0;
}

uint32_t dwcp_chunk_crc(const struct dwcp_chunk_hdr *c)
{
	struct dwcp_chunk_hdr h = *c;

	h.crc = 0;
	return dwcp_crc32c(dwcp_crc32c(0, &h, sizeof(h)), (const uint8_t *)c + DWCP_CHUNK_HDR_LEN,
			   c->body_len);
}

void dwcp_chunk_aad(const struct dwcp_chunk_hdr *c, struct dwcp_chunk_hdr *aad)
{
	*aad = *c;
	aad->crc = 0;
	memset(aad->tag, 0, sizeof(aad->tag));
}
