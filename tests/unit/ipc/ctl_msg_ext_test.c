/* Control protocol, the requests of `dwcpctl drain/resume/upgrade` and
 * the upgrade successor's TAKEOVER: they round-trip through the
 * supervisor's decoder (dwcp_ctl_decode_req_ext), every malformed form is
 * refused with -EBADMSG and a sentence, the short decoder refuses the
 * ext types, and 100k mutated ext requests never crash the decoder (each
 * buffer is allocated at its exact length for the sanitizer build). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/ctl_msg.h"

static int decode_ext_exact(const void *src, size_t len, struct dwcp_ctl_req_ext *out,
			    struct dwcp_err *err)
{
	void *copy = malloc(len ? len : 1);
	int rc;

	cr_assert_not_null(copy);
	memcpy(copy, src, len);
	rc = dwcp_ctl_decode_req_ext(copy, len, out, err);
	free(copy);
	return rc;
}

Test(ctl_msg_ext, new_requests_round_trip)
{
	struct dwcp_ctl_req_ext up, tk, out;
	struct dwcp_ctl_req dr, rs;
	struct dwcp_err err = { 0 };

	cr_assert_eq(dwcp_ctl_req_upgrade(&up, "svc-simd", "/opt/dwcp/bin/svc-simd"), 0);
	cr_assert_eq(dwcp_ctl_req_takeover(&tk, -EPROTO, 7, "ABI mismatch: 9999"), 0);
	cr_assert_eq(dwcp_ctl_req_drain(&dr, "svc-net", 30000), 0);
	cr_assert_eq(dwcp_ctl_req_resume(&rs, "svc-net"), 0);

	cr_assert_eq(decode_ext_exact(&up, sizeof(up), &out, &err), 0, "UPGRADE: %s", err.msg);
	cr_assert_eq(memcmp(&out, &up, sizeof(out)), 0, "UPGRADE changed in decoding");
	cr_assert_str_eq(out.req.u.upgrade.name, "svc-simd");
	cr_assert_str_eq(out.text, "/opt/dwcp/bin/svc-simd");
	cr_assert_eq(decode_ext_exact(&tk, sizeof(tk), &out, &err), 0, "TAKEOVER: %s", err.msg);
	cr_assert(out.req.u.takeover.status == -EPROTO && out.req.u.takeover.generation == 7);
	cr_assert_str_eq(out.text, "ABI mismatch: 9999");
	cr_assert_eq(decode_ext_exact(&dr, sizeof(dr), &out, &err), 0, "DRAIN: %s", err.msg);
	cr_assert(out.req.hdr.type == DWCP_CTL_DRAIN && out.req.u.drain.timeout_ms == 30000 &&
		  !strcmp(out.req.u.drain.name, "svc-net") && out.text[0] == '\0');
	cr_assert_eq(decode_ext_exact(&rs, sizeof(rs), &out, &err), 0, "RESUME: %s", err.msg);
	cr_assert_eq(out.req.hdr.type, DWCP_CTL_RESUME);
	/* The short decoder (old callers) still takes the short ones. */
	cr_assert_eq(dwcp_ctl_decode_req(&dr, sizeof(dr), &out.req, &err), 0, "%s", err.msg);
}

Test(ctl_msg_ext, malformed_requests_are_refused_with_a_reason)
{
	struct dwcp_ctl_req_ext up, m, out;
	struct dwcp_ctl_req dr;
	struct dwcp_err err = { 0 };
	char long_path[DWCP_CTL_TEXT_MAX + 1];
	int rc;

	dwcp_ctl_req_upgrade(&up, "svc-simd", "/bin/svc-simd");
	dwcp_ctl_req_drain(&dr, "svc-simd", 1000);
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	cr_assert_eq(dwcp_ctl_req_upgrade(&m, "svc-simd", long_path), -ENAMETOOLONG);

	struct {
		const char *what;
		const void *buf;
		size_t len;
	} rows[] = {
		{ "UPGRADE at the short size", &up, sizeof(struct dwcp_ctl_req) },
		{ "UPGRADE one byte short", &up, sizeof(up) - 1 },
		{ "DRAIN at the ext size", NULL, sizeof(up) },
		{ "unterminated text", NULL, sizeof(up) },
		{ "unterminated UPGRADE name", NULL, sizeof(up) },
		{ "TAKEOVER status 1", NULL, sizeof(up) },
		{ "DRAIN timeout 0", NULL, sizeof(dr) },
		{ "DRAIN flags set", NULL, sizeof(dr) },
		{ "DRAIN unterminated name", NULL, sizeof(dr) },
		{ "RESUME unterminated name", NULL, sizeof(dr) },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t buf[sizeof(struct dwcp_ctl_req_ext)] = { 0 };

		memcpy(buf, rows[i].buf ? rows[i].buf : (i < 6 ? (const void *)&up : (const void *)&dr),
		       rows[i].len > sizeof(up) ? sizeof(up) : rows[i].len);
		m = up;
		switch (i) {
		case 2:
			memcpy(&m, &dr, sizeof(dr));
			m.req.hdr.len = sizeof(m) - sizeof(m.req.hdr);
			memcpy(buf, &m, sizeof(m));
			break;
		case 3:
			memset(m.text, 'x', sizeof(m.text));
			memcpy(buf, &m, sizeof(m));
			break;
		case 4:
			memset(m.req.u.upgrade.name, 'x', sizeof(m.req.u.upgrade.name));
			memcpy(buf, &m, sizeof(m));
			break;
		case 5:
			dwcp_ctl_req_takeover(&m, 0, 1, "x");
			m.req.u.takeover.status = 1;
			memcpy(buf, &m, sizeof(m));
			break;
		case 6: case 7: case 8: case 9: {
			struct dwcp_ctl_req d = dr;

			if (i == 6)
				d.u.drain.timeout_ms = 0;
			if (i == 7)
				d.u.drain.flags = 1;
			if (i == 8)
				memset(d.u.drain.name, 'x', sizeof(d.u.drain.name));
			if (i == 9) {
				dwcp_ctl_req_resume(&d, "svc-simd");
				memset(d.u.target.name, 'x', sizeof(d.u.target.name));
			}
			memcpy(buf, &d, sizeof(d));
			break;
		}
		default:
			break;
		}
		err.msg[0] = '\0';
		rc = decode_ext_exact(buf, rows[i].len, &out, &err);
		cr_expect_eq(rc, -EBADMSG, "%s: decode = %d '%s'", rows[i].what, rc, err.msg);
		cr_expect_gt(strlen(err.msg), 0, "%s: no reason given", rows[i].what);
	}
	/* The short decoder refuses an ext type outright. */
	rc = dwcp_ctl_decode_req(&up, sizeof(struct dwcp_ctl_req), &out.req, &err);
	cr_expect_eq(rc, -EBADMSG, "short decode of UPGRADE = %d", rc);
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

Test(ctl_msg_ext, mutated_ext_requests_decode_or_are_refused, .timeout = 120)
{
	struct dwcp_ctl_req_ext base[2], out;
	uint64_t rnd = 0xD2A1Full;
	unsigned accepted = 0;

	dwcp_ctl_req_upgrade(&base[0], "svc-gpu", "/usr/lib/dwcp/svc-gpu");
	dwcp_ctl_req_takeover(&base[1], 0, 3, "attached as generation 3 (lcore 8)");
	for (unsigned it = 0; it < 100000; it++) {
		struct dwcp_ctl_req_ext m = base[next_rand(&rnd) % 2];
		unsigned n = 1 + next_rand(&rnd) % 4;
		size_t len = sizeof(m) - (next_rand(&rnd) % 8 == 0 ? next_rand(&rnd) % sizeof(m) : 0);
		struct dwcp_err err = { 0 };
		int rc;

		for (unsigned k = 0; k < n; k++)
			((uint8_t *)&m)[next_rand(&rnd) % sizeof(m)] = (uint8_t)next_rand(&rnd);
		rc = decode_ext_exact(&m, len, &out, &err);
		if (rc == 0) {
			cr_assert(out.req.hdr.type >= 1 && out.req.hdr.type < DWCP_CTL_TYPE_MAX &&
				  memchr(out.text, 0, sizeof(out.text)) != NULL,
				  "accepted type %u with an unterminated text", out.req.hdr.type);
			accepted++;
		} else {
			cr_assert_eq(rc, -EBADMSG, "iteration %u: %d '%s'", it, rc, err.msg);
			cr_assert_gt(strlen(err.msg), 0);
		}
	}
	cr_assert_gt(accepted, 0, "no mutated request survived: the mutations are too coarse");
}
