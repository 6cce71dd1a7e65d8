/* Fuzz target: the AMST frame decoder (svc-net/frame.c), through its public
 * API only (dwcp_frame_dec_feed / dwcp_frame_dec_next / set_dest / reset),
 * the way svc-net drives it.
 *
 * Input: byte 0 mode (bit 0: rewrite every header's hcrc so that mutated
 * headers get past the checksum and reach the checks behind it), bytes
 * 1..2 max_chunk, bytes 3..10 the seed of a split, then the byte stream.
 *
 * The stream is decoded twice: in one piece, and in the pieces the seed
 * draws (1 byte to a few KiB each, every piece its own exact-size copy).
 * Each decoder hands out a CHUNK destination of exactly f->len bytes.
 * Checked: nothing is read or written outside the pieces and the
 * destinations (ASan); `used` never exceeds what was offered and a
 * NEED_BYTES took everything; NEED_DEST only for a CHUNK whose length is
 * within DWCP_CHUNK_HDR_LEN..max_chunk, and it repeats until a destination
 * is given; a READY frame is what its type promises (HELLO names a
 * terminated instance and a valid connection, ACK status 0, NACK not 0,
 * BYE printable and terminated at its length, AUTH its 32 bytes, CHUNK the
 * destination given and a chunk header dwcp_chunk_check accepts); an
 * error is sticky (every later call fails, takes no bytes, offers no
 * iovec); both splits give the same frames and the same end. No destination leaks (LeakSanitizer).
 */
#include <errno.h>
#include <stdbool.h>

#include "common/ops/crc32c.h"
#include "svc-net/frame.h"
#include "tests/fuzz/fuzz_util.h"

/* Let mutated headers pass the hcrc check: walk the stream frame by frame
 * (by the length each header says) and rewrite every hcrc. */
static void fix_hcrcs(uint8_t *s, size_t n)
{
	size_t o = 0;

	while (n - o >= DWCP_FRAME_HDR_LEN) {
		uint32_t crc = dwcp_crc32c(0, s + o, DWCP_FRAME_HCRC_LEN), len;

		memcpy(s + o + DWCP_FRAME_HCRC_LEN, &crc, 4);
		memcpy(&len, s + o + 8, 4);
		if (len > n - o - DWCP_FRAME_HDR_LEN)
			break;
		o += DWCP_FRAME_HDR_LEN + len;
	}
}

static void check_ready(const struct dwcp_frame *f, const void *dest, uint32_t max_chunk)
{
	struct dwcp_err err = { 0 };

	FUZZ_ASSERT(f->type >= DWCP_FRAME_HELLO && f->type <= DWCP_FRAME_AUTH, "type %u", f->type);
	switch (f->type) {
	case DWCP_FRAME_HELLO:
		FUZZ_ASSERT(f->len == sizeof(f->u.hello), "HELLO of %u bytes", f->len);
		FUZZ_ASSERT(memchr(f->u.hello.instance, '\0', sizeof(f->u.hello.instance)),
			    "HELLO instance not terminated");
		FUZZ_ASSERT(f->u.hello.n_conns >= 1 && f->u.hello.n_conns <= DWCP_FRAME_MAX_CONNS &&
			    f->u.hello.conn_index < f->u.hello.n_conns,
			    "HELLO conn %u of %u", f->u.hello.conn_index, f->u.hello.n_conns);
		FUZZ_ASSERT(f->chunk == NULL, "HELLO with a chunk");
		break;
	case DWCP_FRAME_ACK:
	case DWCP_FRAME_NACK:
		FUZZ_ASSERT(f->len == sizeof(f->u.ack), "ACK of %u bytes", f->len);
		FUZZ_ASSERT((f->type == DWCP_FRAME_NACK) == (f->u.ack.status != 0),
			    "type %u with status %u", f->type, f->u.ack.status);
		FUZZ_ASSERT(f->chunk == NULL, "ACK with a chunk");
		break;
	case DWCP_FRAME_BYE:
		FUZZ_ASSERT(f->len <= DWCP_FRAME_BYE_MAX, "BYE of %u bytes", f->len);
		FUZZ_ASSERT(strlen(f->u.bye) == f->len, "BYE text %zu bytes, frame %u",
			    strlen(f->u.bye), f->len);
		for (uint32_t i = 0; i < f->len; i++)
			FUZZ_ASSERT(f->u.bye[i] >= 0x20 && f->u.bye[i] < 0x7f, "BYE byte %u: 0x%02x",
				    i, (unsigned)(uint8_t)f->u.bye[i]);
		FUZZ_ASSERT(f->chunk == NULL, "BYE with a chunk");
		break;
	case DWCP_FRAME_AUTH:
		FUZZ_ASSERT(f->len == sizeof(f->u.auth), "AUTH of %u bytes", f->len);
		FUZZ_ASSERT(f->chunk == NULL, "AUTH with a chunk");
		break;
	default:
		FUZZ_ASSERT(f->chunk != NULL && f->chunk == dest, "CHUNK %p, destination given %p",
			    f->chunk, dest);
		FUZZ_ASSERT(f->len >= DWCP_CHUNK_HDR_LEN && f->len <= max_chunk,
			    "CHUNK of %u bytes, max %u", f->len, max_chunk);
		FUZZ_ASSERT(dwcp_chunk_check(f->chunk, f->len, max_chunk - DWCP_CHUNK_HDR_LEN,
					     &err) == 0, "CHUNK handed out that the check refuses: %s",
			    err.msg);
		break;
	}
}

/* What a READY frame contributes to the log the two splits must agree on. */
static void log_frame(struct fuzz_log *l, const struct dwcp_frame *f)
{
	fuzz_log_put(l, &f->type, sizeof(f->type));
	fuzz_log_put(l, &f->len, sizeof(f->len));
	switch (f->type) {
	case DWCP_FRAME_HELLO:
		fuzz_log_put(l, &f->u.hello, sizeof(f->u.hello));
		break;
	case DWCP_FRAME_ACK:
	case DWCP_FRAME_NACK:
		fuzz_log_put(l, &f->u.ack, sizeof(f->u.ack));
		break;
	case DWCP_FRAME_BYE:
		fuzz_log_put(l, f->u.bye, f->len);
		break;
	case DWCP_FRAME_AUTH:
		fuzz_log_put(l, &f->u.auth, sizeof(f->u.auth));
		break;
	default:
		fuzz_log_put(l, f->chunk, f->len);
		break;
	}
}

/* After an error: it must stay broken whatever the caller does next. */
static void check_sticky(struct dwcp_frame_dec *d, const uint8_t *rest, size_t n)
{
	struct dwcp_frame f;
	struct dwcp_err err = { 0 };
	struct iovec iov[2];
	uint8_t one = 0;
	size_t used = 1;

	FUZZ_ASSERT(dwcp_frame_dec_next(d, &f, &err) < 0, "next after an error did not fail");
	FUZZ_ASSERT(dwcp_frame_dec_iov(d, iov) == 0, "a broken decoder offers an iovec");
	FUZZ_ASSERT(dwcp_frame_dec_feed(d, n ? rest : &one, n ? n : 1, &used, &f, &err) < 0 &&
		    used == 0, "feed after an error: used %zu", used);
}

/* Decode @p s in one piece, or (@p split) in pieces drawn from @p seed;
 * log every event but where the pieces end. */
static void decode(const uint8_t *s, size_t n, uint32_t max_chunk, uint64_t seed, bool split,
		   struct fuzz_log *l)
{
	struct dwcp_frame_dec d;
	struct dwcp_frame f;
	struct dwcp_err err = { 0 };
	void *dest = NULL;
	size_t pos = 0;
	int rc;

	dwcp_frame_dec_init(&d, max_chunk);
	for (;;) {
		size_t k = n - pos, used = 0;
		uint8_t *piece;

		if (split && k > 0) {
			uint64_t r = fuzz_rand(&seed);
			size_t want = (r & 3) == 0 ? 1 + (r >> 8) % 4096 : 1 + (r >> 8) % 24;

			k = want < k ? want : k;
		}
		piece = fuzz_dup(s + pos, k);
		memset(&f, 0xee, sizeof(f));
		rc = dwcp_frame_dec_feed(&d, piece, k, &used, &f, &err);
		free(piece);
		FUZZ_ASSERT(used <= k, "used %zu of %zu", used, k);
		pos += used;
		if (rc == DWCP_FRAME_NEED_BYTES) {
			FUZZ_ASSERT(used == k, "NEED_BYTES after taking %zu of %zu", used, k);
			if (pos == n)
				break;
			continue;
		}
		/* where the pieces end shows only as NEED_BYTES: log the rest */
		fuzz_log_put(l, &rc, sizeof(rc));
		if (rc == DWCP_FRAME_NEED_DEST) {
			struct dwcp_frame f2;

			FUZZ_ASSERT(f.type == DWCP_FRAME_CHUNK && f.len >= DWCP_CHUNK_HDR_LEN &&
				    f.len <= max_chunk, "NEED_DEST for type %u len %u (max %u)",
				    f.type, f.len, max_chunk);
			FUZZ_ASSERT(dwcp_frame_dec_next(&d, &f2, &err) == DWCP_FRAME_NEED_DEST &&
				    f2.len == f.len, "NEED_DEST did not repeat");
			fuzz_log_put(l, &f.len, sizeof(f.len));
			dest = malloc(f.len);
			FUZZ_ASSERT(dest != NULL, "out of memory");
			dwcp_frame_dec_set_dest(&d, dest);
			continue;
		}
		if (rc == DWCP_FRAME_READY) {
			check_ready(&f, dest, max_chunk);
			log_frame(l, &f);
			free(f.chunk);
			dest = NULL;
			continue;
		}
		FUZZ_ASSERT(rc == -EBADMSG && err.code == -EBADMSG && err.msg[0],
			    "rc %d, err %d '%s'", rc, err.code, err.msg);
		check_sticky(&d, s + pos, n - pos);
		break;
	}
	/* A destination the decoder still holds comes back on reset. */
	FUZZ_ASSERT(dwcp_frame_dec_reset(&d) == dest, "reset did not return the destination");
	free(dest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned mode = (unsigned)fuzz_take(&in, 1);
	uint32_t max_chunk = (uint32_t)fuzz_take(&in, 2);
	uint64_t seed = fuzz_take(&in, 8);
	struct fuzz_log whole = { 0 }, split = { 0 };
	uint8_t *s = fuzz_dup(in.p, in.n);

	if (mode & 1)
		fix_hcrcs(s, in.n);
	decode(s, in.n, max_chunk, 0, false, &whole);
	decode(s, in.n, max_chunk, seed, true, &split);
	FUZZ_ASSERT(fuzz_log_same(&whole, &split),
		    "the stream in one piece and in pieces decodes differently (%zu / %zu log bytes)",
		    whole.n, split.n);
	free(whole.p);
	free(split.p);
	free(s);
	return 0;
}
