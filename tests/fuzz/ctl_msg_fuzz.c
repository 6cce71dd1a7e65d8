/* Fuzz target: the control-message decoders (ipc/ctl_msg.c), which see
 * whatever a local process writes to a node's control socket (requests,
 * the supervisor's side) or reads back (replies, the clients' side).
 *
 * Input: byte 0 selects the decoder (and, for replies, the request type
 * the reply answers), bytes 1 and 2 a range of the message (start, count)
 * whose NUL bytes become 'x', the rest is one SOCK_SEQPACKET message, in
 * an exact-size copy (a datagram has no bytes after it to read by
 * mistake). The range is there because a string field that fills its
 * whole array is what the decoders must refuse, and mutating a valid
 * message byte by byte almost never removes every NUL from a 32- or
 * 512-byte field while keeping the rest valid.
 *
 * Checked: nothing is read outside the message (ASan); the result is 0 or
 * -EBADMSG with a message; an accepted request has the magic, version and
 * a known type, its length field matches, every string field the type
 * uses is terminated, a short decode never yields an ext type and an ext
 * request's text is terminated; an accepted reply is of the type asked
 * for, with a possible status, and its payload lies inside the message
 * (a text payload ends in its NUL).
 */
#include <errno.h>
#include <stdbool.h>

#include "ipc/ctl_msg.h"
#include "tests/fuzz/fuzz_util.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_req_fields(const struct dwcp_ctl_req *r)
{
	FUZZ_ASSERT(r->hdr.magic == DWCP_CTL_MAGIC && r->hdr.version == DWCP_CTL_VERSION &&
		    r->hdr.type >= 1 && r->hdr.type < DWCP_CTL_TYPE_MAX && r->hdr.status == 0,
		    "header magic 0x%08x version %u type %u status %d", r->hdr.magic,
		    r->hdr.version, r->hdr.type, r->hdr.status);
	switch (r->hdr.type) {
	case DWCP_CTL_HELLO:
		FUZZ_ASSERT(TERMINATED(r->u.hello.name) && r->u.hello.role <= DWCP_ROLE_CLIENT,
			    "HELLO");
		break;
	case DWCP_CTL_RESTART:
	case DWCP_CTL_RESUME:
		FUZZ_ASSERT(TERMINATED(r->u.target.name), "target name");
		break;
	case DWCP_CTL_DRAIN:
		FUZZ_ASSERT(TERMINATED(r->u.drain.name) && r->u.drain.timeout_ms >= 1 &&
			    r->u.drain.timeout_ms <= 3600000u, "DRAIN");
		break;
	case DWCP_CTL_UPGRADE:
		FUZZ_ASSERT(TERMINATED(r->u.upgrade.name), "UPGRADE name");
		break;
	default:
		break;
	}
}

static void short_req(const uint8_t *m, size_t n)
{
	struct dwcp_ctl_req out;
	struct dwcp_err err = { 0 };
	int rc = dwcp_ctl_decode_req(m, n, &out, &err);

	if (rc) {
		FUZZ_ASSERT(rc == -EBADMSG && err.code == rc && err.msg[0], "rc %d", rc);
		return;
	}
	FUZZ_ASSERT(n == sizeof(out) && out.hdr.len == n - sizeof(out.hdr), "accepted %zu bytes",
		    n);
	FUZZ_ASSERT(!dwcp_ctl_type_is_ext(out.hdr.type), "short decode of ext type %u",
		    out.hdr.type);
	check_req_fields(&out);
}

static void ext_req(const uint8_t *m, size_t n)
{
	struct dwcp_ctl_req_ext out;
	struct dwcp_err err = { 0 };
	int rc = dwcp_ctl_decode_req_ext(m, n, &out, &err);

	if (rc) {
		FUZZ_ASSERT(rc == -EBADMSG && err.code == rc && err.msg[0], "rc %d", rc);
		return;
	}
	FUZZ_ASSERT(out.req.hdr.len == n - sizeof(out.req.hdr), "length field %u, %zu bytes",
		    out.req.hdr.len, n);
	FUZZ_ASSERT(dwcp_ctl_type_is_ext(out.req.hdr.type) ? n == sizeof(out)
							    : n == sizeof(out.req),
		    "type %u in %zu bytes", out.req.hdr.type, n);
	FUZZ_ASSERT(TERMINATED(out.text), "ext text not terminated");
	check_req_fields(&out.req);
}

static void reply(const uint8_t *m, size_t n, enum dwcp_ctl_type type)
{
	const struct dwcp_ctl_hdr *hdr = NULL;
	const void *payload = NULL;
	struct dwcp_err err = { 0 };
	int rc = dwcp_ctl_decode_reply(m, n, type, &hdr, &payload, &err);
	const uint8_t *p;

	if (rc) {
		FUZZ_ASSERT(rc == -EBADMSG && err.code == rc && err.msg[0], "rc %d", rc);
		return;
	}
	p = payload;
	FUZZ_ASSERT(hdr == (const void *)m && hdr->type == type && hdr->status <= 0 &&
		    hdr->status >= -4095, "reply type %u status %d", hdr->type, hdr->status);
	FUZZ_ASSERT(p == m + sizeof(*hdr) && hdr->len == n - sizeof(*hdr),
		    "payload of %u bytes in a %zu-byte message", hdr->len, n);
	if (type == DWCP_CTL_HELLO && hdr->status == 0) {
		const struct dwcp_ctl_hello_reply *h = payload;

		FUZZ_ASSERT(hdr->len == sizeof(*h) && TERMINATED(h->file_prefix) &&
			    TERMINATED(h->huge_dir), "HELLO reply");
	} else {
		FUZZ_ASSERT(hdr->len > 0 && p[hdr->len - 1] == '\0', "text reply not terminated");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned sel = (unsigned)fuzz_take(&in, 1);
	size_t from = (size_t)fuzz_take(&in, 1) * 4, count = (size_t)fuzz_take(&in, 1) * 4;
	uint8_t *m = fuzz_dup(in.p, in.n);

	for (size_t i = from; i < in.n && i < from + count; i++)
		if (m[i] == 0)
			m[i] = 'x';

	switch (sel % 3) {
	case 0:
		short_req(m, in.n);
		break;
	case 1:
		ext_req(m, in.n);
		break;
	default:
		reply(m, in.n, (enum dwcp_ctl_type)(1 + (sel / 3) % (DWCP_CTL_TYPE_MAX - 1)));
		break;
	}
	free(m);
	return 0;
}
