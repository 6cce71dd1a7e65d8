/* DWCP frames (frame.h): encoding, header checks and the incremental
 * decoder.
 *
 * The decoder's states follow the bytes of one frame: HDR (filling the
 * 16-byte header buffer), NEED_DEST (a CHUNK header was accepted, the
 * caller owes a destination), PAYLOAD (filling the destination or the
 * small payload buffer), READY (a frame was handed out) and BROKEN (a
 * check failed; the stream cannot be resynchronised, so it stays broken).
 * While in PAYLOAD the header buffer is free (the header was decoded into
 * d->hdr), so it doubles as the look-ahead room for the next header that
 * dwcp_frame_dec_iov offers after the payload. Checks happen once a part
 * is complete, never on partial bytes, so the result cannot depend on how
 * the stream was split.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/ops/crc32c.h"
#include "svc-net/frame.h"

const char *dwcp_frame_type_name(uint8_t type, char buf[16])
{
	static const char *const names[] = {
		[DWCP_FRAME_HELLO] = "HELLO", [DWCP_FRAME_CHUNK] = "CHUNK", [DWCP_FRAME_ACK] = "ACK",
		[DWCP_FRAME_NACK] = "NACK", [DWCP_FRAME_BYE] = "BYE", [DWCP_FRAME_AUTH] = "AUTH",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type] != NULL)
		return names[type];
	snprintf(buf, 16, "type %u", type);
	return buf;
}

/* ---- encoding -------------------------------------------------------- */

size_t dwcp_frame_encode_hdr(void *out, enum dwcp_frame_type type, uint32_t len)
{
	struct dwcp_frame_hdr h = {
		.magic = htole32(DWCP_FRAME_MAGIC), .version = DWCP_FRAME_VERSION,
		.type = (uint8_t)type, .len = htole32(len),
	};

	h.hcrc = htole32(dwcp_crc32c(0, &h, DWCP_FRAME_HCRC_LEN));
	memcpy(out, &h, sizeof(h));
	return sizeof(h);
}

size_t dwcp_frame_encode_hello(void *out, const struct dwcp_frame_hello *h)
{
	struct dwcp_frame_hello w = *h;

	w.proto_version = htole32(h->proto_version);
	w.conn_index = htole16(h->conn_index);
	w.n_conns = htole16(h->n_conns);
	w.flags = htole32(h->flags);
	w.reserved = htole32(h->reserved);
	w.instance[DWCP_FRAME_NAME_MAX - 1] = '\0';
	dwcp_frame_encode_hdr(out, DWCP_FRAME_HELLO, sizeof(w));
	memcpy((uint8_t *)out + DWCP_FRAME_HDR_LEN, &w, sizeof(w));
	return dwcp_frame_size(sizeof(w));
}

size_t dwcp_frame_encode_ack(void *out, enum dwcp_frame_type type, const struct dwcp_frame_ack *a)
{
	struct dwcp_frame_ack w = {
		.stream = htole64(a->stream), .seq = htole64(a->seq), .status = htole32(a->status),
		.xfer = htole32(a->xfer),
	};

	memcpy(w.mac, a->mac, sizeof(w.mac));
	dwcp_frame_encode_hdr(out, type, sizeof(w));
	memcpy((uint8_t *)out + DWCP_FRAME_HDR_LEN, &w, sizeof(w));
	return dwcp_frame_size(sizeof(w));
}

size_t dwcp_frame_encode_auth(void *out, const struct dwcp_frame_auth *a)
{
	dwcp_frame_encode_hdr(out, DWCP_FRAME_AUTH, sizeof(*a));
	memcpy((uint8_t *)out + DWCP_FRAME_HDR_LEN, a, sizeof(*a));
	return dwcp_frame_size(sizeof(*a));
}

size_t dwcp_frame_encode_bye(void *out, const char *reason)
{
	size_t n = strnlen(reason, DWCP_FRAME_BYE_MAX);

	dwcp_frame_encode_hdr(out, DWCP_FRAME_BYE, (uint32_t)n);
	memcpy((uint8_t *)out + DWCP_FRAME_HDR_LEN, reason, n);
	return dwcp_frame_size((uint32_t)n);
}

/* ---- checks ---------------------------------------------------------- */

/* The payload length a type allows: [*min, *max]. */
static void frame_len_bounds(uint8_t type, uint32_t max_chunk, uint32_t *min, uint32_t *max)
{
	switch (type) {
	case DWCP_FRAME_HELLO:
		*min = *max = sizeof(struct dwcp_frame_hello);
		break;
	case DWCP_FRAME_CHUNK:
		*min = DWCP_CHUNK_HDR_LEN;
		*max = max_chunk;
		break;
	case DWCP_FRAME_ACK:
	case DWCP_FRAME_NACK:
		*min = *max = sizeof(struct dwcp_frame_ack);
		break;
	case DWCP_FRAME_AUTH:
		*min = *max = sizeof(struct dwcp_frame_auth);
		break;
	default:
		*min = 0;
		*max = DWCP_FRAME_BYE_MAX;
		break;
	}
}

static int frame_check_len(const struct dwcp_frame_hdr *h, uint32_t max_chunk, struct dwcp_err *err)
{
	uint32_t min, max;
	char tn[16];

	frame_len_bounds(h->type, max_chunk, &min, &max);
	if (h->len >= min && h->len <= max)
		return 0;
	if (min == max)
		return dwcp_err_set(err, -EBADMSG, "%s frame with a %u-byte payload, expected %u",
				    dwcp_frame_type_name(h->type, tn), h->len, min);
	return dwcp_err_set(err, -EBADMSG, "%s frame with a %u-byte payload, allowed %u..%u",
			    dwcp_frame_type_name(h->type, tn), h->len, min, max);
}

int dwcp_frame_check_hdr(const void *wire, uint32_t max_chunk, struct dwcp_frame_hdr *h,
			 struct dwcp_err *err)
{
	uint32_t crc = dwcp_crc32c(0, wire, DWCP_FRAME_HCRC_LEN);

	memcpy(h, wire, sizeof(*h));
	h->magic = le32toh(h->magic);
	h->len = le32toh(h->len);
	h->hcrc = le32toh(h->hcrc);
	if (h->magic != DWCP_FRAME_MAGIC)
		return dwcp_err_set(err, -EBADMSG,
				    "not a dwcp frame (magic 0x%08x, expected 0x%08x \"DWFR\"): is the other end a dwcp node?",
				    h->magic, DWCP_FRAME_MAGIC);
	if (h->hcrc != crc)
		return dwcp_err_set(err, -EBADMSG,
				    "frame header checksum 0x%08x, computed 0x%08x: the stream is corrupt",
				    h->hcrc, crc);
	if (h->version != DWCP_FRAME_VERSION)
		return dwcp_err_set(err, -EBADMSG, "frame version %u, this build speaks version %u",
				    h->version, DWCP_FRAME_VERSION);
	if (h->type < DWCP_FRAME_HELLO || h->type > DWCP_FRAME_AUTH)
		return dwcp_err_set(err, -EBADMSG, "unknown frame type %u", h->type);
	if (h->flags != 0 || h->reserved != 0)
		return dwcp_err_set(err, -EBADMSG, "frame flags 0x%02x / reserved 0x%02x are not zero",
				    h->flags, h->reserved);
	return frame_check_len(h, max_chunk, err);
}

static int frame_check_hello(struct dwcp_frame_hello *h, struct dwcp_err *err)
{
	h->proto_version = le32toh(h->proto_version);
	h->conn_index = le16toh(h->conn_index);
	h->n_conns = le16toh(h->n_conns);
	h->flags = le32toh(h->flags);
	h->reserved = le32toh(h->reserved);
	if (h->proto_version != DWCP_FRAME_PROTO_VERSION)
		return dwcp_err_set(err, -EBADMSG,
				    "peer speaks dwcp protocol version %u, this build speaks %u (upgrade the older node)",
				    h->proto_version, DWCP_FRAME_PROTO_VERSION);
	if (memchr(h->instance, '\0', sizeof(h->instance)) == NULL)
		return dwcp_err_set(err, -EBADMSG, "HELLO instance name is not NUL-terminated");
	if (h->n_conns == 0 || h->n_conns > DWCP_FRAME_MAX_CONNS || h->conn_index >= h->n_conns)
		return dwcp_err_set(err, -EBADMSG, "HELLO names connection %u of %u (at most %u)",
				    h->conn_index, h->n_conns, DWCP_FRAME_MAX_CONNS);
	if (h->flags & ~DWCP_FRAME_HELLO_F_KEYED || h->reserved)
		return dwcp_err_set(err, -EBADMSG, "HELLO flags 0x%x / reserved 0x%x: unknown bits",
				    h->flags, h->reserved);
	return 0;
}

static int frame_check_ack(struct dwcp_frame_ack *a, bool nack, struct dwcp_err *err)
{
	a->stream = le64toh(a->stream);
	a->seq = le64toh(a->seq);
	a->status = le32toh(a->status);
	a->xfer = le32toh(a->xfer);
	if (nack != (a->status != 0))
		return dwcp_err_set(err, -EBADMSG, "%s with status %u: an ACK has status 0, a NACK a reason",
				    nack ? "NACK" : "ACK", a->status);
	return 0;
}

/* BYE text is shown to an operator: keep it one printable line. */
static void frame_copy_bye(char *out, const uint8_t *in, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
	out[n] = '\0';
}

/* ---- decoder --------------------------------------------------------- */

void dwcp_frame_dec_init(struct dwcp_frame_dec *d, uint32_t max_chunk)
{
	memset(d, 0, sizeof(*d));
	d->max_chunk = max_chunk;
	d->state = DWCP_FRAME_DEC_HDR;
}

void *dwcp_frame_dec_reset(struct dwcp_frame_dec *d)
{
	void *owned = d->owned;

	dwcp_frame_dec_init(d, d->max_chunk);
	return owned;
}

static int frame_dec_fail(struct dwcp_frame_dec *d, int rc)
{
	d->state = DWCP_FRAME_DEC_BROKEN;
	return rc;
}

/* A whole header is in hdr_buf: check it and choose where its payload goes. */
static int frame_dec_start(struct dwcp_frame_dec *d, struct dwcp_frame *f, struct dwcp_err *err)
{
	int rc = dwcp_frame_check_hdr(d->hdr_buf, d->max_chunk, &d->hdr, err);

	if (rc < 0)
		return frame_dec_fail(d, rc);
	d->hdr_got = 0;
	d->got = 0;
	f->type = d->hdr.type;
	f->len = d->hdr.len;
	f->chunk = NULL;
	if (d->hdr.type == DWCP_FRAME_CHUNK) {
		d->state = DWCP_FRAME_DEC_NEED_DEST;
		return DWCP_FRAME_NEED_DEST;
	}
	d->dst = d->small.bytes;
	d->state = DWCP_FRAME_DEC_PAYLOAD;
	return 0;
}

/* A whole payload is in dst: check it and hand the frame out. */
static int frame_dec_finish(struct dwcp_frame_dec *d, struct dwcp_frame *f, struct dwcp_err *err)
{
	int rc = 0;

	f->type = d->hdr.type;
	f->len = d->hdr.len;
	f->chunk = NULL;
	switch (d->hdr.type) {
	case DWCP_FRAME_HELLO:
		rc = frame_check_hello(&d->small.hello, err);
		f->u.hello = d->small.hello;
		break;
	case DWCP_FRAME_ACK:
	case DWCP_FRAME_NACK:
		rc = frame_check_ack(&d->small.ack, d->hdr.type == DWCP_FRAME_NACK, err);
		f->u.ack = d->small.ack;
		break;
	case DWCP_FRAME_BYE:
		frame_copy_bye(f->u.bye, d->small.bytes, d->hdr.len);
		break;
	case DWCP_FRAME_AUTH:
		f->u.auth = d->small.auth;
		break;
	default:
		rc = dwcp_chunk_check(d->owned, d->hdr.len, d->max_chunk - DWCP_CHUNK_HDR_LEN, err);
		break;
	}
	/* A refused CHUNK's destination stays the decoder's until
	 * dwcp_frame_dec_reset hands it back; f->chunk shows only a READY
	 * one, so the caller has one place to free it from, not two. */
	if (rc < 0)
		return frame_dec_fail(d, rc);
	f->chunk = d->owned;
	d->owned = NULL;
	d->state = DWCP_FRAME_DEC_READY;
	return DWCP_FRAME_READY;
}

int dwcp_frame_dec_next(struct dwcp_frame_dec *d, struct dwcp_frame *f, struct dwcp_err *err)
{
	int rc;

	switch (d->state) {
	case DWCP_FRAME_DEC_READY:
		d->state = DWCP_FRAME_DEC_HDR;
		/* look-ahead bytes may complete the next header */
		__attribute__((fallthrough));
	case DWCP_FRAME_DEC_HDR:
		if (d->hdr_got < DWCP_FRAME_HDR_LEN)
			return DWCP_FRAME_NEED_BYTES;
		rc = frame_dec_start(d, f, err);
		if (rc != 0)
			return rc;
		/* a payload of 0 bytes is already complete */
		__attribute__((fallthrough));
	case DWCP_FRAME_DEC_PAYLOAD:
		if (d->got < d->hdr.len)
			return DWCP_FRAME_NEED_BYTES;
		return frame_dec_finish(d, f, err);
	case DWCP_FRAME_DEC_NEED_DEST:
		f->type = d->hdr.type;
		f->len = d->hdr.len;
		return DWCP_FRAME_NEED_DEST;
	default:
		return dwcp_err_set(err, -EBADMSG, "frame stream already broken by an earlier bad frame");
	}
}

int dwcp_frame_dec_iov(struct dwcp_frame_dec *d, struct iovec iov[2])
{
	switch (d->state) {
	case DWCP_FRAME_DEC_HDR:
		iov[0].iov_base = d->hdr_buf + d->hdr_got;
		iov[0].iov_len = DWCP_FRAME_HDR_LEN - d->hdr_got;
		return iov[0].iov_len > 0;
	case DWCP_FRAME_DEC_PAYLOAD:
		if (d->got == d->hdr.len)
			return 0;
		iov[0].iov_base = d->dst + d->got;
		iov[0].iov_len = d->hdr.len - d->got;
		iov[1].iov_base = d->hdr_buf;
		iov[1].iov_len = DWCP_FRAME_HDR_LEN;
		return 2;
	default:
		return 0;
	}
}

void dwcp_frame_dec_got(struct dwcp_frame_dec *d, size_t n)
{
	size_t k;

	if (d->state == DWCP_FRAME_DEC_PAYLOAD) {
		k = d->hdr.len - d->got;
		k = n < k ? n : k;
		d->got += (uint32_t)k;
		n -= k;
	}
	d->hdr_got += (uint32_t)n;
}

void dwcp_frame_dec_set_dest(struct dwcp_frame_dec *d, void *dest)
{
	d->dst = dest;
	d->owned = dest;
	d->got = 0;
	d->state = DWCP_FRAME_DEC_PAYLOAD;
}

/* Copy up to @p n bytes of @p src into the iovecs, in order. */
static size_t frame_copy_iov(const struct iovec *iov, int cnt, const uint8_t *src, size_t n)
{
	size_t done = 0;

	for (int i = 0; i < cnt && done < n; i++) {
		size_t k = n - done < iov[i].iov_len ? n - done : iov[i].iov_len;

		memcpy(iov[i].iov_base, src + done, k);
		done += k;
	}
	return done;
}

int dwcp_frame_dec_feed(struct dwcp_frame_dec *d, const void *buf, size_t n, size_t *used,
			struct dwcp_frame *f, struct dwcp_err *err)
{
	struct iovec iov[2];
	int rc, cnt;
	size_t k;

	*used = 0;
	for (;;) {
		rc = dwcp_frame_dec_next(d, f, err);
		if (rc != DWCP_FRAME_NEED_BYTES || *used == n)
			return rc;
		cnt = dwcp_frame_dec_iov(d, iov);
		k = frame_copy_iov(iov, cnt, (const uint8_t *)buf + *used, n - *used);
		dwcp_frame_dec_got(d, k);
		*used += k;
	}
}
