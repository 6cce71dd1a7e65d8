/* Control protocol tests: requests survive encode/decode unchanged; every
 * way a request or reply can be malformed is refused with -EBADMSG and a
 * sentence; 200k random and mutated buffers never crash the decoder (each
 * buffer is allocated at its exact length, so the sanitizer build catches
 * any read past it); and a real SOCK_SEQPACKET socketpair carries
 * dwcp_ctl_call / dwcp_ctl_send_reply, with a thread as the supervisor.
 * A failure prints the header fields of the message it decoded. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ipc/abi.h"
#include "ipc/ctl_msg.h"

static const char *hdr_str(const struct dwcp_ctl_hdr *h)
{
	static char bufs[4][128];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, 128, "hdr{magic=0x%08x version=%u type=%u status=%d len=%u}", h->magic,
		 h->version, h->type, h->status, h->len);
	return b;
}

/* Decode @p len bytes of @p src from a buffer of exactly that size. */
static int decode_req_exact(const void *src, size_t len, struct dwcp_ctl_req *out,
			    struct dwcp_err *err)
{
	void *copy = malloc(len ? len : 1);
	int rc;

	cr_assert_not_null(copy);
	memcpy(copy, src, len);
	rc = dwcp_ctl_decode_req(copy, len, out, err);
	free(copy);
	return rc;
}

static void all_requests(struct dwcp_ctl_req reqs[5])
{
	cr_assert_eq(dwcp_ctl_req_hello(&reqs[0], DWCP_ROLE_SERVICE, "svc-simd"), 0);
	cr_assert_eq(dwcp_ctl_req_hello(&reqs[1], DWCP_ROLE_CLIENT, "bench-7"), 0);
	dwcp_ctl_req_init(&reqs[2], DWCP_CTL_STATUS);
	cr_assert_eq(dwcp_ctl_req_restart(&reqs[3], "svc-net"), 0);
	dwcp_ctl_req_init(&reqs[4], DWCP_CTL_STOP);
}

Test(ctl_msg, every_request_type_round_trips)
{
	struct dwcp_ctl_req reqs[5], out;

	all_requests(reqs);
	for (unsigned i = 0; i < 5; i++) {
		struct dwcp_err err = { 0 };
		int rc;

		memset(&out, 0xEE, sizeof(out));
		rc = decode_req_exact(&reqs[i], sizeof(reqs[i]), &out, &err);
		cr_assert_eq(rc, 0, "request %u %s refused: %d %s", i, hdr_str(&reqs[i].hdr), rc,
			     err.msg);
		cr_assert_eq(memcmp(&out, &reqs[i], sizeof(out)), 0,
			     "request %u changed in decoding: %s -> %s", i, hdr_str(&reqs[i].hdr),
			     hdr_str(&out.hdr));
		cr_assert(out.hdr.magic == DWCP_CTL_MAGIC && out.hdr.version == DWCP_CTL_VERSION &&
			  out.hdr.status == 0 && out.hdr.len == sizeof(out.u),
			  "request %u: %s", i, hdr_str(&out.hdr));
	}
	cr_assert_eq(reqs[0].hdr.type, DWCP_CTL_HELLO);
	cr_assert_eq(reqs[0].u.hello.abi_version, DWCP_ABI_VERSION);
	cr_assert_eq(reqs[0].u.hello.role, DWCP_ROLE_SERVICE);
	cr_assert_str_eq(reqs[0].u.hello.name, "svc-simd");
	cr_assert_eq(reqs[1].u.hello.role, DWCP_ROLE_CLIENT);
	cr_assert_str_eq(reqs[1].u.hello.name, "bench-7");
	cr_assert_eq(reqs[2].hdr.type, DWCP_CTL_STATUS);
	cr_assert_eq(reqs[3].hdr.type, DWCP_CTL_RESTART);
	cr_assert_str_eq(reqs[3].u.target.name, "svc-net");
	cr_assert_eq(reqs[4].hdr.type, DWCP_CTL_STOP);
}

Test(ctl_msg, builders_refuse_names_that_do_not_fit)
{
	char longest[DWCP_CTL_NAME_MAX], too_long[DWCP_CTL_NAME_MAX + 1];
	struct dwcp_ctl_req req;

	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 'b', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	cr_assert_eq(dwcp_ctl_req_hello(&req, DWCP_ROLE_CLIENT, longest), 0);
	cr_assert_str_eq(req.u.hello.name, longest);
	cr_assert_eq(dwcp_ctl_req_hello(&req, DWCP_ROLE_CLIENT, too_long), -ENAMETOOLONG);
	cr_assert_eq(dwcp_ctl_req_restart(&req, longest), 0);
	cr_assert_eq(dwcp_ctl_req_restart(&req, too_long), -ENAMETOOLONG);
}

struct bad_req {
	const char *what;
	unsigned base;         /* index into all_requests() */
	size_t off;            /* byte to overwrite, or SIZE_MAX */
	unsigned width;        /* 1, 2 or 4 */
	uint32_t value;
	size_t len;            /* bytes handed to the decoder; FULL = sizeof */
	int fill_name;         /* 1: fill the name field with 'x', no NUL */
};

#define OFF(f) offsetof(struct dwcp_ctl_req, f)
#define FULL   SIZE_MAX

Test(ctl_msg, decode_refuses_malformed_requests)
{
	static const struct bad_req rows[] = {
		{ "empty", 2, SIZE_MAX, 0, 0, 0, 0 },
		{ "one byte", 2, SIZE_MAX, 0, 0, 1, 0 },
		{ "header only", 2, SIZE_MAX, 0, 0, 16, 0 },
		{ "one byte short", 0, SIZE_MAX, 0, 0, sizeof(struct dwcp_ctl_req) - 1, 0 },
		{ "one byte long", 0, SIZE_MAX, 0, 0, sizeof(struct dwcp_ctl_req) + 1, 0 },
		{ "bad magic", 2, OFF(hdr.magic), 4, 0x4c544345u, FULL, 0 },
		{ "zero magic", 0, OFF(hdr.magic), 4, 0, FULL, 0 },
		{ "version 0", 2, OFF(hdr.version), 2, 0, FULL, 0 },
		{ "version 2", 2, OFF(hdr.version), 2, DWCP_CTL_VERSION + 1, FULL, 0 },
		{ "type 0", 2, OFF(hdr.type), 2, 0, FULL, 0 },
		{ "type MAX", 2, OFF(hdr.type), 2, DWCP_CTL_TYPE_MAX, FULL, 0 },
		{ "type 0xffff", 2, OFF(hdr.type), 2, 0xffff, FULL, 0 },
		{ "length field short", 2, OFF(hdr.len), 4, 39, FULL, 0 },
		{ "length field long", 3, OFF(hdr.len), 4, 41, FULL, 0 },
		{ "length field 0", 4, OFF(hdr.len), 4, 0, FULL, 0 },
		{ "length field huge", 0, OFF(hdr.len), 4, 0xffffffffu, FULL, 0 },
		{ "status -1 in a request", 2, OFF(hdr.status), 4, (uint32_t)-1, FULL, 0 },
		{ "status 1 in a request", 0, OFF(hdr.status), 4, 1, FULL, 0 },
		{ "unterminated HELLO name", 0, SIZE_MAX, 0, 0, FULL, 1 },
		{ "HELLO role 2", 0, OFF(u.hello.role), 4, 2, FULL, 0 },
		{ "HELLO role 0xffffffff", 1, OFF(u.hello.role), 4, 0xffffffffu, FULL, 0 },
		{ "unterminated RESTART name", 3, SIZE_MAX, 0, 0, FULL, 1 },
	};
	struct dwcp_ctl_req reqs[5];

	all_requests(reqs);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct bad_req *b = &rows[i];
		uint8_t buf[sizeof(struct dwcp_ctl_req) + 8] = { 0 };
		struct dwcp_ctl_req m = reqs[b->base], out;
		struct dwcp_err err = { 0 };
		size_t len = b->len == FULL ? sizeof(m) : b->len;
		int rc;

		if (b->off != SIZE_MAX)
			memcpy((uint8_t *)&m + b->off, &b->value, b->width);
		if (b->fill_name)
			memset(b->base == 3 ? m.u.target.name : m.u.hello.name, 'x',
			       DWCP_CTL_NAME_MAX);
		memcpy(buf, &m, sizeof(m));
		rc = decode_req_exact(buf, len, &out, &err);
		cr_expect_eq(rc, -EBADMSG, "%s (%zu bytes, %s): decode = %d '%s'", b->what, len,
			     hdr_str(&m.hdr), rc, err.msg);
		cr_expect_eq(err.code, -EBADMSG, "%s: err.code %d", b->what, err.code);
		cr_expect_gt(strlen(err.msg), 0, "%s: no reason given", b->what);
	}
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* What an accepted request must satisfy for the supervisor to use it. */
static void check_accepted(const struct dwcp_ctl_req *out, const char *from)
{
	cr_assert(out->hdr.magic == DWCP_CTL_MAGIC && out->hdr.version == DWCP_CTL_VERSION &&
		  out->hdr.type >= 1 && out->hdr.type < DWCP_CTL_TYPE_MAX && out->hdr.status == 0 &&
		  out->hdr.len == sizeof(out->u),
		  "accepted %s request %s", from, hdr_str(&out->hdr));
	if (out->hdr.type == DWCP_CTL_HELLO)
		cr_assert(memchr(out->u.hello.name, 0, DWCP_CTL_NAME_MAX) != NULL &&
			  out->u.hello.role <= DWCP_ROLE_CLIENT,
			  "accepted HELLO with role %u or an unterminated name", out->u.hello.role);
	if (out->hdr.type == DWCP_CTL_RESTART)
		cr_assert(memchr(out->u.target.name, 0, DWCP_CTL_NAME_MAX) != NULL,
			  "accepted RESTART with an unterminated name");
}

Test(ctl_msg, fuzzed_requests_decode_or_are_refused, .timeout = 120)
{
	struct dwcp_ctl_req reqs[5];
	uint64_t rnd = 0x5EED5EEDull;
	unsigned accepted = 0, refused = 0;

	all_requests(reqs);
	for (unsigned it = 0; it < 200000; it++) {
		uint8_t buf[160];
		size_t len;
		struct dwcp_ctl_req out;
		struct dwcp_err err = { 0 };
		int rc;

		if (it & 1) {   /* random bytes of a random length */
			len = next_rand(&rnd) % 129;
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)next_rand(&rnd);
		} else {        /* a valid request with 1..4 bytes changed */
			unsigned n = 1 + next_rand(&rnd) % 4;

			memcpy(buf, &reqs[next_rand(&rnd) % 5], sizeof(reqs[0]));
			len = sizeof(reqs[0]);
			for (unsigned k = 0; k < n; k++)
				buf[next_rand(&rnd) % len] = (uint8_t)next_rand(&rnd);
		}
		rc = decode_req_exact(buf, len, &out, &err);
		if (rc == 0) {
			check_accepted(&out, it & 1 ? "random" : "mutated");
			accepted++;
		} else {
			cr_assert_eq(rc, -EBADMSG, "iteration %u (%zu bytes): decode = %d '%s'", it,
				     len, rc, err.msg);
			cr_assert_gt(strlen(err.msg), 0, "iteration %u: no reason", it);
			refused++;
		}
	}
	cr_log_info("fuzz: %u accepted, %u refused", accepted, refused);
	cr_assert_gt(accepted, 0, "no mutated request survived: the mutations are too coarse");
	cr_assert_gt(refused, 0);
}

/* A reply of @p type in a buffer of exactly its size. Caller frees. */
static void *make_reply(enum dwcp_ctl_type type, int32_t status, const void *payload,
			uint32_t len, size_t *total)
{
	struct dwcp_ctl_hdr h = {
		.magic = DWCP_CTL_MAGIC, .version = DWCP_CTL_VERSION, .type = (uint16_t)type,
		.status = status, .len = len,
	};
	uint8_t *b = malloc(sizeof(h) + len);

	cr_assert_not_null(b);
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), payload, len);
	*total = sizeof(h) + len;
	return b;
}

static int decode_reply(enum dwcp_ctl_type req_type, enum dwcp_ctl_type type, int32_t status,
			const void *payload, uint32_t len, struct dwcp_err *err)
{
	size_t total;
	void *b = make_reply(type, status, payload, len, &total);
	const struct dwcp_ctl_hdr *h = NULL;
	const void *p = NULL;
	int rc = dwcp_ctl_decode_reply(b, total, req_type, &h, &p, err);

	if (rc == 0) {
		cr_assert_eq((const void *)h, b);
		cr_assert_eq(p, (const uint8_t *)b + sizeof(*h));
	}
	free(b);
	return rc;
}

Test(ctl_msg, decode_reply_checks_type_status_text_and_hello_size)
{
	struct dwcp_ctl_hello_reply hr = { .slot = 4, .generation = 2, .lcore = 10,
					   .abi_version = DWCP_ABI_VERSION,
					   .file_prefix = "dwcp_unit", .huge_dir = "/dev/hugepages" };
	char bad_hr[sizeof(hr) + 1];
	struct dwcp_err err = { 0 };
	struct {
		const char *what;
		enum dwcp_ctl_type req, type;
		int32_t status;
		const void *payload;
		uint32_t len;
		int want;
	} rows[] = {
		{ "STATUS json", DWCP_CTL_STATUS, DWCP_CTL_STATUS, 0, "{}", 3, 0 },
		{ "STOP text", DWCP_CTL_STOP, DWCP_CTL_STOP, 0, "stopping", 9, 0 },
		{ "RESTART error text", DWCP_CTL_RESTART, DWCP_CTL_RESTART, -ENOENT, "no such service", 16, 0 },
		{ "HELLO reply", DWCP_CTL_HELLO, DWCP_CTL_HELLO, 0, &hr, sizeof(hr), 0 },
		{ "HELLO refused, text", DWCP_CTL_HELLO, DWCP_CTL_HELLO, -EBUSY, "slot busy", 10, 0 },
		{ "status -4095", DWCP_CTL_STOP, DWCP_CTL_STOP, -4095, "x", 2, 0 },
		{ "text not terminated", DWCP_CTL_STATUS, DWCP_CTL_STATUS, 0, "{}", 2, -EBADMSG },
		{ "empty text", DWCP_CTL_STOP, DWCP_CTL_STOP, 0, "", 0, -EBADMSG },
		{ "error text not terminated", DWCP_CTL_HELLO, DWCP_CTL_HELLO, -EPERM, "no", 2, -EBADMSG },
		{ "wrong type", DWCP_CTL_HELLO, DWCP_CTL_STATUS, 0, "{}", 3, -EBADMSG },
		{ "status 1", DWCP_CTL_STOP, DWCP_CTL_STOP, 1, "x", 2, -EBADMSG },
		{ "status -4096", DWCP_CTL_STOP, DWCP_CTL_STOP, -4096, "x", 2, -EBADMSG },
		{ "status INT32_MIN", DWCP_CTL_STOP, DWCP_CTL_STOP, INT32_MIN, "x", 2, -EBADMSG },
		{ "HELLO reply one byte short", DWCP_CTL_HELLO, DWCP_CTL_HELLO, 0, &hr, sizeof(hr) - 1, -EBADMSG },
		{ "HELLO reply one byte long", DWCP_CTL_HELLO, DWCP_CTL_HELLO, 0, bad_hr, sizeof(hr) + 1, -EBADMSG },
		{ "HELLO reply as text", DWCP_CTL_HELLO, DWCP_CTL_HELLO, 0, "ok", 3, -EBADMSG },
	};

	memcpy(bad_hr, &hr, sizeof(hr));
	bad_hr[sizeof(hr)] = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc;

		err.msg[0] = '\0';
		rc = decode_reply(rows[i].req, rows[i].type, rows[i].status, rows[i].payload,
				  rows[i].len, &err);
		cr_expect_eq(rc, rows[i].want, "%s (reply type %u to request %u, status %d, %u bytes): %d '%s'",
			     rows[i].what, rows[i].type, rows[i].req, rows[i].status, rows[i].len,
			     rc, err.msg);
		if (rows[i].want)
			cr_expect_gt(strlen(err.msg), 0, "%s: no reason given", rows[i].what);
	}

	/* HELLO reply strings must be terminated inside their fields. */
	{
		struct dwcp_ctl_hello_reply h2 = hr;

		memset(h2.file_prefix, 'p', sizeof(h2.file_prefix));
		cr_expect_eq(decode_reply(DWCP_CTL_HELLO, DWCP_CTL_HELLO, 0, &h2, sizeof(h2), &err),
			     -EBADMSG, "unterminated file_prefix accepted");
		h2 = hr;
		memset(h2.huge_dir, 'd', sizeof(h2.huge_dir));
		cr_expect_eq(decode_reply(DWCP_CTL_HELLO, DWCP_CTL_HELLO, 0, &h2, sizeof(h2), &err),
			     -EBADMSG, "unterminated huge_dir accepted");
	}

	/* Header-level checks apply to replies too. */
	{
		size_t total;
		uint8_t *b = make_reply(DWCP_CTL_STOP, 0, "ok", 3, &total);
		const struct dwcp_ctl_hdr *h;
		const void *p;

		cr_expect_eq(dwcp_ctl_decode_reply(b, 15, DWCP_CTL_STOP, &h, &p, &err), -EBADMSG,
			     "15-byte reply accepted");
		cr_expect_eq(dwcp_ctl_decode_reply(b, total - 1, DWCP_CTL_STOP, &h, &p, &err),
			     -EBADMSG, "reply shorter than its length field accepted");
		((struct dwcp_ctl_hdr *)b)->magic ^= 1;
		cr_expect_eq(dwcp_ctl_decode_reply(b, total, DWCP_CTL_STOP, &h, &p, &err), -EBADMSG,
			     "reply with a bad magic accepted");
		free(b);
	}
}

Test(ctl_msg, fuzzed_replies_decode_or_are_refused, .timeout = 120)
{
	uint64_t rnd = 0xFACADEull;
	struct dwcp_ctl_hello_reply hr = { .slot = 4, .file_prefix = "p", .huge_dir = "/h" };
	unsigned accepted = 0;

	for (unsigned it = 0; it < 100000; it++) {
		enum dwcp_ctl_type type = (enum dwcp_ctl_type)(1 + next_rand(&rnd) % 4);
		size_t len;
		uint8_t *b;
		const struct dwcp_ctl_hdr *h;
		const void *p;
		struct dwcp_err err = { 0 };
		int rc;

		if (it & 1) {
			len = next_rand(&rnd) % 400;
			b = malloc(len ? len : 1);
			for (size_t k = 0; k < len; k++)
				b[k] = (uint8_t)next_rand(&rnd);
			if (len >= 16 && (next_rand(&rnd) & 1)) {   /* a plausible header */
				struct dwcp_ctl_hdr hh = { DWCP_CTL_MAGIC, DWCP_CTL_VERSION,
							   (uint16_t)type, 0, (uint32_t)(len - 16) };

				memcpy(b, &hh, sizeof(hh));
			}
		} else if (type == DWCP_CTL_HELLO) {
			b = make_reply(type, 0, &hr, sizeof(hr), &len);
			b[next_rand(&rnd) % len] = (uint8_t)next_rand(&rnd);
		} else {
			b = make_reply(type, 0, "status text", 12, &len);
			b[next_rand(&rnd) % len] = (uint8_t)next_rand(&rnd);
		}
		rc = dwcp_ctl_decode_reply(b, len, type, &h, &p, &err);
		if (rc == 0) {
			cr_assert(h->type == type && h->len == len - sizeof(*h) && h->status <= 0,
				  "accepted %s for type %u", hdr_str(h), type);
			if (type != DWCP_CTL_HELLO || h->status != 0)
				cr_assert(h->len > 0 && ((const char *)p)[h->len - 1] == '\0',
					  "accepted unterminated text %s", hdr_str(h));
			accepted++;
		} else {
			cr_assert_eq(rc, -EBADMSG, "iteration %u: %d '%s'", it, rc, err.msg);
			cr_assert_gt(strlen(err.msg), 0);
		}
		free(b);
	}
	cr_assert_gt(accepted, 0);
}

Test(ctl_msg, sock_path_fits_or_says_too_long)
{
	char buf[64];
	const char *want = "/run/dwcp/nodeA/ctl.sock";

	cr_assert_eq(dwcp_ctl_sock_path(buf, sizeof(buf), "/run/dwcp", "nodeA"), 0);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(dwcp_ctl_sock_path(buf, strlen(want) + 1, "/run/dwcp", "nodeA"), 0,
		     "an exactly fitting path refused");
	cr_assert_eq(dwcp_ctl_sock_path(buf, strlen(want), "/run/dwcp", "nodeA"), -ENAMETOOLONG,
		     "a path one byte too long accepted: '%s'", buf);
	{
		char dir[200];
		struct sockaddr_un sa;

		memset(dir, 'd', sizeof(dir) - 1);
		dir[0] = '/';
		dir[sizeof(dir) - 1] = '\0';
		cr_assert_eq(dwcp_ctl_sock_path(sa.sun_path, sizeof(sa.sun_path), dir, "nodeA"),
			     -ENAMETOOLONG, "a %zu-byte path fit in sun_path[%zu]",
			     strlen(dir) + strlen("/nodeA/ctl.sock"), sizeof(sa.sun_path));
	}
}

Test(ctl_msg, connect_without_a_supervisor_says_how_to_start_one)
{
	struct dwcp_err err = { 0 };
	char dir[] = "/tmp/dwcp-ctl-test-XXXXXX";
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	rc = dwcp_ctl_connect(dir, "nodeQ", &err);
	cr_assert_eq(rc, -ENOENT, "connect to a missing socket = %d '%s'", rc, err.msg);
	cr_assert_not_null(strstr(err.msg, "nodeQ"), "message does not name the instance: '%s'",
			   err.msg);
	cr_assert_not_null(strstr(err.msg, "dwcp-supervisor"),
			   "message does not say what to start: '%s'", err.msg);
	rmdir(dir);
}

/* The supervisor's side, in a thread: answer each request by type. */
struct server {
	int fd;
	unsigned answered, bad;
	int mode;          /* 0 answer; 1 swallow one request and stay silent; 2 huge reply */
	char last_err[DWCP_ERR_MSG_MAX];
};

static void *serve(void *arg)
{
	struct server *s = arg;
	struct dwcp_ctl_req req;
	uint8_t buf[256];
	ssize_t n;

	while ((n = recv(s->fd, buf, sizeof(buf), 0)) > 0) {
		struct dwcp_err err = { 0 };
		int rc = dwcp_ctl_decode_req(buf, (size_t)n, &req, &err);

		if (rc) {
			s->bad++;
			snprintf(s->last_err, sizeof(s->last_err), "%s", err.msg);
			dwcp_ctl_send_reply(s->fd, DWCP_CTL_STOP, rc, err.msg, strlen(err.msg) + 1);
			continue;
		}
		if (s->mode == 1) {
			s->mode = 0;
			continue;
		}
		if (s->mode == 2) {
			static char big[8192];

			memset(big, 'j', sizeof(big) - 1);
			rc = dwcp_ctl_send_reply(s->fd, (enum dwcp_ctl_type)req.hdr.type, 0, big,
						 sizeof(big));
			s->answered += rc == 0;
			continue;
		}
		switch (req.hdr.type) {
		case DWCP_CTL_HELLO: {
			struct dwcp_ctl_hello_reply hr = { .slot = DWCP_SLOT_CLIENT0, .generation = 5,
							   .lcore = 16, .abi_version = DWCP_ABI_VERSION,
							   .file_prefix = "dwcp_unit",
							   .huge_dir = "/dev/hugepages" };

			rc = dwcp_ctl_send_reply(s->fd, DWCP_CTL_HELLO, 0, &hr, sizeof(hr));
			break;
		}
		case DWCP_CTL_STATUS:
			rc = dwcp_ctl_send_reply(s->fd, DWCP_CTL_STATUS, 0, "{\"ok\":true}", 12);
			break;
		case DWCP_CTL_RESTART:
			rc = dwcp_ctl_send_reply(s->fd, DWCP_CTL_RESTART, -ENOENT,
						 "no service 'svc-nope'", 22);
			break;
		default:
			rc = dwcp_ctl_send_reply(s->fd, DWCP_CTL_STOP, 0, "stopping", 9);
			break;
		}
		s->answered += rc == 0;
	}
	return NULL;
}

static void *reply_buf(void)
{
	void *b = aligned_alloc(64, DWCP_CTL_REPLY_MAX);

	cr_assert_not_null(b);
	return b;
}

Test(ctl_msg, call_and_reply_over_a_seqpacket_socketpair, .timeout = 60)
{
	int sv[2];
	pthread_t th;
	struct server srv = { 0 };
	struct dwcp_ctl_req req;
	const struct dwcp_ctl_hdr *h;
	const void *p;
	struct dwcp_err err = { 0 };
	void *buf = reply_buf();
	int rc;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	srv.fd = sv[1];
	cr_assert_eq(pthread_create(&th, NULL, serve, &srv), 0);

	dwcp_ctl_req_hello(&req, DWCP_ROLE_CLIENT, "unit");
	rc = dwcp_ctl_call(sv[0], &req, buf, DWCP_CTL_REPLY_MAX, 5000, &h, &p, &err);
	cr_assert_eq(rc, 0, "HELLO call: %d '%s'", rc, err.msg);
	cr_assert_eq(h->status, 0, "%s", hdr_str(h));
	{
		const struct dwcp_ctl_hello_reply *hr = p;

		cr_assert(hr->slot == DWCP_SLOT_CLIENT0 && hr->generation == 5 && hr->lcore == 16,
			  "HELLO reply slot %u gen %u lcore %u", hr->slot, hr->generation, hr->lcore);
		cr_assert_str_eq(hr->file_prefix, "dwcp_unit");
		cr_assert_str_eq(hr->huge_dir, "/dev/hugepages");
	}

	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	rc = dwcp_ctl_call(sv[0], &req, buf, DWCP_CTL_REPLY_MAX, 5000, &h, &p, &err);
	cr_assert_eq(rc, 0, "STATUS call: %d '%s'", rc, err.msg);
	cr_assert_str_eq((const char *)p, "{\"ok\":true}");

	dwcp_ctl_req_restart(&req, "svc-nope");
	rc = dwcp_ctl_call(sv[0], &req, buf, DWCP_CTL_REPLY_MAX, 5000, &h, &p, &err);
	cr_assert_eq(rc, 0, "RESTART call: %d '%s'", rc, err.msg);
	cr_assert_eq(h->status, -ENOENT, "%s", hdr_str(h));
	cr_assert_str_eq((const char *)p, "no service 'svc-nope'");

	dwcp_ctl_req_init(&req, DWCP_CTL_STOP);
	rc = dwcp_ctl_call(sv[0], &req, buf, DWCP_CTL_REPLY_MAX, 5000, &h, &p, &err);
	cr_assert_eq(rc, 0, "STOP call: %d '%s'", rc, err.msg);
	cr_assert_str_eq((const char *)p, "stopping");

	/* A garbage request gets a reason back, not a crash. */
	{
		uint8_t junk[56] = { 1, 2, 3 };
		uint8_t rbuf[DWCP_ERR_MSG_MAX + 64];
		ssize_t n;

		cr_assert_eq(send(sv[0], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
		n = recv(sv[0], rbuf, sizeof(rbuf), 0);
		cr_assert_gt(n, (ssize_t)sizeof(struct dwcp_ctl_hdr));
		cr_assert_eq(((struct dwcp_ctl_hdr *)rbuf)->status, -EBADMSG);
		cr_assert_not_null(strstr((const char *)rbuf + 16, "magic"), "reason: '%s'",
				   (const char *)rbuf + 16);
	}

	/* A reply larger than the caller's buffer is refused, not truncated. */
	srv.mode = 2;
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	rc = dwcp_ctl_call(sv[0], &req, buf, 1024, 5000, &h, &p, &err);
	cr_assert_eq(rc, -EMSGSIZE, "8 KiB reply into 1 KiB: %d '%s'", rc, err.msg);
	srv.mode = 0;

	cr_assert_eq(dwcp_ctl_send_reply(sv[1], DWCP_CTL_STATUS, 0, buf, DWCP_CTL_REPLY_MAX),
		     -EMSGSIZE, "a reply over DWCP_CTL_REPLY_MAX was sent");

	/* The supervisor goes away: the caller hears it. */
	shutdown(sv[1], SHUT_RDWR);
	pthread_join(th, NULL);
	rc = dwcp_ctl_call(sv[0], &req, buf, DWCP_CTL_REPLY_MAX, 5000, &h, &p, &err);
	cr_assert(rc < 0, "call to a closed peer = %d", rc);
	cr_assert_gt(strlen(err.msg), 0);
	cr_assert_eq(srv.answered, 5, "server answered %u requests", srv.answered);
	cr_assert_eq(srv.bad, 1, "server refused %u requests (last: %s)", srv.bad, srv.last_err);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

Test(ctl_msg, call_times_out_when_the_supervisor_is_silent, .timeout = 60)
{
	int sv[2];
	pthread_t th;
	struct server srv = { .mode = 1 };
	struct dwcp_ctl_req req;
	const struct dwcp_ctl_hdr *h;
	const void *p;
	struct dwcp_err err = { 0 };
	void *buf = reply_buf();
	int rc;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	srv.fd = sv[1];
	cr_assert_eq(pthread_create(&th, NULL, serve, &srv), 0);
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	rc = dwcp_ctl_call(sv[0], &req, buf, DWCP_CTL_REPLY_MAX, 50, &h, &p, &err);
	cr_assert_eq(rc, -ETIMEDOUT, "silent supervisor: %d '%s'", rc, err.msg);
	cr_assert_not_null(strstr(err.msg, "50 ms"), "message: '%s'", err.msg);
	shutdown(sv[1], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

/* dwcp_ctl_connect finds a supervisor listening at the documented path. */
Test(ctl_msg, connect_finds_a_listening_supervisor)
{
	char dir[] = "/tmp/dwcp-ctl-test-XXXXXX", sub[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct dwcp_err err = { 0 };
	int lfd, fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/nodeU", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(dwcp_ctl_sock_path(sa.sun_path, sizeof(sa.sun_path), dir, "nodeU"), 0);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s", sa.sun_path);
	cr_assert_eq(listen(lfd, 4), 0);
	fd = dwcp_ctl_connect(dir, "nodeU", &err);
	cr_assert_geq(fd, 0, "connect: %d '%s'", fd, err.msg);
	close(fd);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(sub);
	rmdir(dir);
}
