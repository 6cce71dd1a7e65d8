/* Trust on the wire (svc-net/auth.h, handshake.c): what a peer that does
 * not hold the key, or holds it and misbehaves, can do to a keyed node that
 * waits for a stream — tried with a raw client that speaks the protocol
 * itself (frames from svc-net/frame.c, proofs from svc-net/auth.c), beside
 * real `dwcp send` / `dwcp recv` between two real nodes.
 *
 * Each test asserts what an operator would check: nothing appears at
 * --out, the connection is closed, the real sender still delivers a
 * bit-identical file, the pool comes back full.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>

#include "common/cpu.h"
#include "common/digest.h"
#include "common/keyfile.h"
#include "common/ops/aead.h"
#include "ipc/buf_hdr.h"
#include "ipc/chunk.h"
#include "ipc/streams.h"
#include "svc-net/auth.h"
#include "svc-net/frame.h"
#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define GUARD_MS 30000

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv, hog_rcv;
static char dir[64], keypath[128];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_proc_free(&hog_rcv);
	dwcp_xfer_pair_stop(&pair);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

static void path_in_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* Both nodes with one key (or B alone when @p b_only). */
static void start_keyed(const char *tag, bool b_only)
{
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .no_b = false };
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-auth-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	path_in_dir(keypath, sizeof(keypath), "node.key");
	cr_assert_eq(dwcp_xfer_keygen(keypath), 0, "dwcp keygen %s failed", keypath);
	c.key_a = c.key_b = keypath;
	(void)b_only;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

/* ---- a raw AMST client ---- */

struct raw {
	int fd;
	bool keyed;
	uint8_t ka[DWCP_AMST_KEY_LEN];
	struct dwcp_aead_key *aead;
	struct dwcp_frame_hello hc, hs;
	struct dwcp_amst_ackmac am;
	struct dwcp_frame_dec dec;
	uint8_t sent[4096];          /* every byte written (for a replay) */
	size_t n_sent;
};

static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect to 127.0.0.1:%d: %s",
		     port, strerror(errno));
	return fd;
}

static void raw_open(struct raw *r, int port, bool with_key)
{
	memset(r, 0, sizeof(*r));
	r->fd = raw_connect(port);
	r->keyed = with_key;
	dwcp_frame_dec_init(&r->dec, 1u << 20);
	if (with_key) {
		uint8_t key[DWCP_KEYFILE_KEY_LEN];
		struct dwcp_err err = { 0 };
		struct dwcp_cpu_features cpu;

		cr_assert_eq(dwcp_keyfile_read(keypath, key, &err), 0, "%s", err.msg);
		cr_assert_eq(dwcp_amst_auth_derive(key, r->ka), 0);
		dwcp_cpu_detect(&cpu);
		r->aead = dwcp_aead_key_create(DWCP_AEAD_OPENSSL, key, &cpu);
		cr_assert_not_null(r->aead);
	}
}

static void raw_close(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	dwcp_aead_key_destroy(r->aead);
	r->aead = NULL;
}

static bool raw_write(struct raw *r, const void *buf, size_t n)
{
	if (r->n_sent + n <= sizeof(r->sent)) {
		memcpy(r->sent + r->n_sent, buf, n);
		r->n_sent += n;
	}
	return send(r->fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Next frame from the node: 1 a frame, 0 the node closed the connection,
 * -ETIMEDOUT nothing within @p ms. */
static int raw_read(struct raw *r, struct dwcp_frame *f, int ms)
{
	for (;;) {
		struct dwcp_err err = { 0 };
		int rc = dwcp_frame_dec_next(&r->dec, f, &err);
		struct iovec iov[2];
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		ssize_t n;

		if (rc == DWCP_FRAME_READY)
			return 1;
		cr_assert_eq(rc, DWCP_FRAME_NEED_BYTES, "the node sent a bad frame stream: %s", err.msg);
		if (poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		n = readv(r->fd, iov, dwcp_frame_dec_iov(&r->dec, iov));
		if (n <= 0)
			return 0;
		dwcp_frame_dec_got(&r->dec, (size_t)n);
	}
}

/* Read until the node closes the connection (BYE frames allowed before).
 * @return true when it did within the guard. */
static bool raw_closed_by_node(struct raw *r, char *bye, size_t bye_n)
{
	struct dwcp_frame f;
	int rc;

	if (bye_n)
		bye[0] = '\0';
	while ((rc = raw_read(r, &f, GUARD_MS)) == 1)
		if (f.type == DWCP_FRAME_BYE && bye_n)
			snprintf(bye, bye_n, "%s", f.u.bye);
	return rc == 0;
}

static void raw_hello(struct raw *r)
{
	uint8_t buf[DWCP_FRAME_HDR_LEN + sizeof(r->hc)];

	r->hc = (struct dwcp_frame_hello){ .proto_version = DWCP_FRAME_PROTO_VERSION, .n_conns = 1,
					   .flags = r->keyed ? DWCP_FRAME_HELLO_F_KEYED : 0 };
	snprintf(r->hc.instance, sizeof(r->hc.instance), "raw-test");
	cr_assert_eq(getrandom(r->hc.session, sizeof(r->hc.session), 0), (ssize_t)sizeof(r->hc.session));
	cr_assert_eq(getrandom(r->hc.nonce, sizeof(r->hc.nonce), 0), (ssize_t)sizeof(r->hc.nonce));
	cr_assert(raw_write(r, buf, dwcp_frame_encode_hello(buf, &r->hc)), "HELLO not sent");
}

/* The whole handshake with the key; asserts that the node proved itself. */
static void raw_handshake(struct raw *r)
{
	struct dwcp_frame f;
	struct dwcp_frame_auth a;
	uint8_t buf[DWCP_FRAME_HDR_LEN + sizeof(a)];

	raw_hello(r);
	cr_assert_eq(raw_read(r, &f, GUARD_MS), 1, "no HELLO from the node");
	cr_assert_eq(f.type, DWCP_FRAME_HELLO, "frame type %u instead of HELLO", f.type);
	r->hs = f.u.hello;
	cr_assert(r->hs.flags & DWCP_FRAME_HELLO_F_KEYED, "a keyed node's HELLO says it has no key");
	cr_assert_eq(raw_read(r, &f, GUARD_MS), 1, "no AUTH from the node");
	cr_assert_eq(f.type, DWCP_FRAME_AUTH, "frame type %u instead of AUTH", f.type);
	cr_assert(dwcp_amst_auth_check(r->ka, true, &r->hc, &r->hs, f.u.auth.mac),
		  "the node's proof does not verify with the key");
	cr_assert_eq(dwcp_amst_auth_proof(r->ka, false, &r->hc, &r->hs, a.mac), 0);
	cr_assert(raw_write(r, buf, dwcp_frame_encode_auth(buf, &a)), "AUTH not sent");
	cr_assert_eq(dwcp_amst_ackmac_init(&r->am, r->ka, &r->hc, &r->hs), 0);
}

/* One chunk of @p len bytes of 'x' for @p stream at @p seq; sealed when
 * the client holds the key and @p seal. */
static void raw_chunk_d(struct raw *r, const char *stream, uint64_t seq, uint32_t len, bool last,
			bool seal, uint64_t digest);

static void raw_chunk(struct raw *r, const char *stream, uint64_t seq, uint32_t len, bool last,
		      bool seal)
{
	raw_chunk_d(r, stream, seq, len, last, seal, 0);
}

/* As raw_chunk; a LAST chunk carries @p digest. */
static void raw_chunk_d(struct raw *r, const char *stream, uint64_t seq, uint32_t len, bool last,
			bool seal, uint64_t digest)
{
	uint8_t *buf = calloc(1, DWCP_FRAME_HDR_LEN + DWCP_CHUNK_HDR_LEN + len);
	struct dwcp_chunk_hdr *c = (void *)(buf + DWCP_FRAME_HDR_LEN), aad;

	cr_assert_not_null(buf);
	dwcp_chunk_init(c, dwcp_stream_id(stream), seq, seq * len, len);
	c->xfer = 77;
	if (last) {
		c->flags |= DWCP_CHUNK_F_LAST;
		c->digest = digest;
	}
	memset(dwcp_chunk_body(c), 'x', len);
	if (seal) {
		c->flags |= DWCP_CHUNK_F_SEALED;
		cr_assert_eq(getrandom(c->nonce, sizeof(c->nonce), 0), (ssize_t)sizeof(c->nonce));
		dwcp_chunk_aad(c, &aad);
		cr_assert_eq(dwcp_aead_seal(r->aead, c->nonce, &aad, sizeof(aad), dwcp_chunk_body(c), len,
					    dwcp_chunk_body(c), c->tag), 0);
	}
	c->crc = dwcp_chunk_crc(c);
	dwcp_frame_encode_hdr(buf, DWCP_FRAME_CHUNK, DWCP_CHUNK_HDR_LEN + len);
	cr_assert(raw_write(r, buf, DWCP_FRAME_HDR_LEN + DWCP_CHUNK_HDR_LEN + len) ||
		  errno == EPIPE || errno == ECONNRESET, "CHUNK: %s", strerror(errno));
	free(buf);
}

/* ---- helpers around the real transfer ---- */

static void real_send_arrives(const char *stream, uint64_t size, const char *name)
{
	char src[128], out[160], h1[65], h2[65];
	int rs, rr;

	path_in_dir(src, sizeof(src), name);
	snprintf(out, sizeof(out), "%s.out", src);
	cr_assert_eq(dwcp_xfer_make_image(src, size, 9), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, 120), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 300000);
	rr = dwcp_xfer_wait(&rcv, 300000);
	if (rs || rr) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "the real transfer failed");
	}
	cr_assert(rs == 0 && rr == 0, "real send %d, recv %d", rs, rr);
	cr_assert_eq(dwcp_xfer_sha256(src, h1), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h2), 0);
	cr_assert_str_eq(h1, h2, "the real sender's file differs at --out");
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
}

static void expect_b_pool_full(void)
{
	cJSON *st = dwcp_test_status(pair.b.instance, NULL);
	long total = dwcp_test_pool_buffers(st);
	long free_n;

	cJSON_Delete(st);
	free_n = dwcp_test_wait_pool_full(pair.b.instance, 30000);
	if (free_n != total)
		dwcp_test_dump(pair.b.instance, "node B's buffers are not all back");
	cr_expect_eq(free_n, total, "node B: %ld of %ld buffers free", free_n, total);
}

/* ---- tests ---- */

Test(auth, a_client_without_the_key_writes_nothing, .fini = teardown, .timeout = 600)
{
	struct raw r;
	char out[128], bye[160];

	start_keyed("noky", false);
	path_in_dir(out, sizeof(out), "victim.img");
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "victim", out, 300), 0);
	sleep(1);   /* the receiver registers its stream */

	/* 1: says it has no key, then pushes an unsealed LAST chunk */
	raw_open(&r, pair.port_b, false);
	raw_hello(&r);
	raw_chunk(&r, "victim", 0, 4096, true, false);
	cr_assert(raw_closed_by_node(&r, bye, sizeof(bye)), "the node kept a keyless client's connection");
	cr_expect(strstr(bye, "key") != NULL, "the node's goodbye does not name the key: '%s'", bye);
	raw_close(&r);

	/* 2: claims a key, sends a made-up proof and a chunk behind it */
	raw_open(&r, pair.port_b, false);
	r.keyed = true;
	raw_hello(&r);
	{
		struct dwcp_frame_auth a;
		uint8_t buf[DWCP_FRAME_HDR_LEN + sizeof(a)];

		memset(a.mac, 0x42, sizeof(a.mac));
		raw_write(&r, buf, dwcp_frame_encode_auth(buf, &a));
	}
	raw_chunk(&r, "victim", 0, 4096, true, false);
	cr_assert(raw_closed_by_node(&r, bye, sizeof(bye)), "the node kept a client with a false proof");
	cr_expect(strstr(bye, "authentication failed") != NULL, "goodbye: '%s'", bye);
	raw_close(&r);

	/* 3: a chunk before any HELLO */
	raw_open(&r, pair.port_b, false);
	raw_chunk(&r, "victim", 0, 4096, true, false);
	cr_assert(raw_closed_by_node(&r, NULL, 0), "the node took a chunk before the handshake");
	raw_close(&r);

	cr_expect_eq(dwcp_xfer_file_size(out), -1, "a file appeared at --out");
	cr_assert(dwcp_xfer_running(&rcv), "dwcp recv ended after the attacks: %d", rcv.status);
	dwcp_xfer_proc_free(&rcv);
	/* the real sender, with the key, still gets through */
	real_send_arrives("victim2", 8 * MIB, "real.img");
	expect_b_pool_full();
}

Test(auth, a_recorded_handshake_cannot_be_replayed, .fini = teardown, .timeout = 600)
{
	struct raw r, replay;
	struct dwcp_frame f;
	uint8_t rec[4096];
	size_t n_rec;
	char out[128];

	start_keyed("rply", false);
	path_in_dir(out, sizeof(out), "rp.img");
	/* a genuine session, recorded: HELLO and AUTH with the key */
	raw_open(&r, pair.port_b, true);
	raw_handshake(&r);
	memcpy(rec, r.sent, r.n_sent);
	n_rec = r.n_sent;
	raw_close(&r);

	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "rp", out, 300), 0);
	sleep(1);
	/* the same bytes on a new connection, a sealed chunk captured too */
	raw_open(&replay, pair.port_b, true);
	cr_assert(raw_write(&replay, rec, n_rec));
	raw_chunk(&replay, "rp", 0, 4096, true, true);
	cr_assert_eq(raw_read(&replay, &f, GUARD_MS), 1, "no HELLO back");
	cr_assert_eq(f.type, DWCP_FRAME_HELLO);
	cr_expect(memcmp(f.u.hello.nonce, r.hs.nonce, sizeof(f.u.hello.nonce)) != 0,
		  "the node reused its nonce on a new connection");
	cr_assert(raw_closed_by_node(&replay, NULL, 0), "the node accepted a replayed handshake");
	raw_close(&replay);
	cr_expect_eq(dwcp_xfer_file_size(out), -1, "the replayed chunk reached --out");
	cr_assert(dwcp_xfer_running(&rcv), "dwcp recv ended: %d", rcv.status);
	expect_b_pool_full();
}

Test(auth, a_peer_with_the_key_must_still_seal, .fini = teardown, .timeout = 600)
{
	struct raw r;
	struct dwcp_frame f;
	char out[128];
	int rc;

	start_keyed("usea", false);
	path_in_dir(out, sizeof(out), "us.img");
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "us", out, 300), 0);
	sleep(1);
	raw_open(&r, pair.port_b, true);
	raw_handshake(&r);
	raw_chunk(&r, "us", 0, 4096, true, false);
	while ((rc = raw_read(&r, &f, GUARD_MS)) == 1 && f.type != DWCP_FRAME_NACK && f.type != DWCP_FRAME_ACK)
		;
	cr_assert_eq(rc, 1, "no answer to an unsealed chunk");
	cr_assert_eq(f.type, DWCP_FRAME_NACK, "an unsealed chunk was acknowledged as written");
	cr_expect_eq(f.u.ack.status, DWCP_BUF_EAUTH, "NACK reason %u, expected EAUTH", f.u.ack.status);
	cr_expect(dwcp_amst_ackmac_verify(&r.am, &f.u.ack), "the node's NACK does not carry the connection's MAC");
	raw_close(&r);
	cr_expect_eq(dwcp_xfer_file_size(out), -1, "an unsealed chunk reached --out");
	expect_b_pool_full();
}

Test(auth, idle_and_half_open_connections_do_not_lock_out_a_peer, .fini = teardown, .timeout = 600)
{
	enum { FLOOD = 200 };
	static int fds[FLOOD];
	unsigned closed = 0;

	start_keyed("idle", false);
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = raw_connect(pair.port_b);
		if (i % 2) {
			/* half a HELLO, never finished */
			uint8_t buf[DWCP_FRAME_HDR_LEN + sizeof(struct dwcp_frame_hello)];
			struct dwcp_frame_hello h = { .proto_version = DWCP_FRAME_PROTO_VERSION, .n_conns = 1 };

			dwcp_frame_encode_hello(buf, &h);
			cr_assert_eq(send(fds[i], buf, 30, MSG_NOSIGNAL), 30);
		}
	}
	/* while they are open, a real transfer gets through */
	real_send_arrives("idle", 16 * MIB, "idle.img");
	/* and each of them is closed by the node (the handshake deadline or
	 * the cap on connections waiting for one) */
	for (int i = 0; i < FLOOD; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char b[256];

		if (poll(&p, 1, GUARD_MS) == 1 && read(fds[i], b, sizeof(b)) <= 0)
			closed++;
		else if (p.revents & POLLIN && read(fds[i], b, sizeof(b)) <= 0)
			closed++;   /* a BYE came first, then the close */
		close(fds[i]);
	}
	cr_expect_eq(closed, (unsigned)FLOOD, "%u of %d idle connections closed by the node", closed, FLOOD);
	expect_b_pool_full();
}

Test(auth, a_stream_that_never_completes_cannot_starve_another, .fini = teardown, .timeout = 900)
{
	struct raw r;
	struct dwcp_frame f;
	char out[128];
	unsigned busy = 0, answers = 0;
	const unsigned hog = 900;   /* of a 1024-buffer pool */

	start_keyed("hog", false);
	path_in_dir(out, sizeof(out), "hog.img");
	cr_assert_eq(dwcp_xfer_recv_start(&hog_rcv, NULL, pair.b.instance, "hog", out, 600), 0);
	sleep(1);
	raw_open(&r, pair.port_b, true);
	raw_handshake(&r);
	/* sequence 0 never comes: the receiver can write none of these */
	for (unsigned s = 1; s <= hog; s++)
		raw_chunk(&r, "hog", s, 16384, false, true);
	/* answers: the held ones stay unanswered, those over the quota come back busy */
	while (raw_read(&r, &f, 5000) == 1)
		if (f.type == DWCP_FRAME_NACK || f.type == DWCP_FRAME_ACK) {
			answers++;
			cr_assert(dwcp_amst_ackmac_verify(&r.am, &f.u.ack), "answer MAC");
			busy += f.type == DWCP_FRAME_NACK && f.u.ack.status == DWCP_BUF_EBUSY;
		}
	cr_expect_gt(busy, 0u, "the node took all %u chunks of a stream it cannot complete", hog);
	/* with the hog holding its quota, another stream still gets through */
	real_send_arrives("fair", 16 * MIB, "fair.img");
	raw_close(&r);
	cr_assert(dwcp_xfer_running(&hog_rcv), "the hog's dwcp recv ended: %d", hog_rcv.status);
	dwcp_xfer_proc_free(&hog_rcv);   /* its held buffers come back */
	fprintf(stderr, "hog: %u chunks sent, %u answered (%u busy)\n", hog, answers, busy);
	expect_b_pool_full();
}

Test(auth, a_node_without_a_key_listens_on_loopback_only, .fini = teardown, .timeout = 300)
{
	struct dwcp_test_node n = { 0 };
	cJSON *st;
	const cJSON *svc;
	int port[1];
	char listen[64];
	const char *reason;

	dwcp_xfer_ports(port, 1);
	snprintf(listen, sizeof(listen), "net.listen = 0.0.0.0:%d", port[0]);
	cr_assert_eq(dwcp_test_node_start(&n, "nokey", (const char *[]){ listen, NULL }), 0);
	st = dwcp_test_status(n.instance, NULL);
	svc = dwcp_test_service(st, "svc-net");
	cr_assert_not_null(svc);
	reason = cJSON_GetStringValue(cJSON_GetObjectItem(svc, "reason"));
	cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(svc, "state")), "STANDBY");
	cr_expect(reason && strstr(reason, "no key") && strstr(reason, "insecure"),
		  "svc-net's reason does not explain the refusal: %s", reason ? reason : "(none)");
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port[0]),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		cr_expect_neq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0,
			      "a keyless node accepts connections on 0.0.0.0");
		close(fd);
	}
	cJSON_Delete(st);
	dwcp_test_node_stop(&n);
}

/* The whole-file digest closes a transfer: a receiver whose written data
 * does not match the sender's digest puts nothing at --out, and one that
 * matches does. (Speaking the protocol directly is the only way to hand a
 * receiver chunks that each pass their own checks yet a wrong whole.) */
Test(auth, a_wrong_whole_file_digest_leaves_no_file, .fini = teardown, .timeout = 600)
{
	struct raw r;
	struct dwcp_frame f;
	struct dwcp_digest d;
	uint8_t page[4096];
	uint64_t good;
	char out[128];
	int rc;

	memset(page, 'x', sizeof(page));
	cr_assert_eq(dwcp_digest_init(&d), 0);
	dwcp_digest_update(&d, page, sizeof(page));
	good = dwcp_digest_final(&d);
	dwcp_digest_fini(&d);

	start_keyed("dgst", false);
	for (int round = 0; round < 2; round++) {
		bool right = round == 1;

		path_in_dir(out, sizeof(out), right ? "right.img" : "wrong.img");
		cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, right ? "dgr" : "dgw", out, 120), 0);
		sleep(1);
		raw_open(&r, pair.port_b, true);
		raw_handshake(&r);
		raw_chunk_d(&r, right ? "dgr" : "dgw", 0, 4096, true, true, right ? good : good ^ 0x10);
		while ((rc = raw_read(&r, &f, GUARD_MS)) == 1 && f.type != DWCP_FRAME_NACK &&
		       f.type != DWCP_FRAME_ACK)
			;
		cr_assert_eq(rc, 1, "no answer to the last chunk");
		rc = dwcp_xfer_wait(&rcv, 60000);
		if (right) {
			cr_expect_eq(f.type, DWCP_FRAME_ACK, "the right digest was refused (%u)", f.u.ack.status);
			cr_expect_eq(rc, 0, "dwcp recv with the right digest exited %d: %s", rc, rcv.err);
			cr_expect_eq(dwcp_xfer_file_size(out), 4096, "--out holds %lld bytes",
				     dwcp_xfer_file_size(out));
		} else {
			cr_expect(f.type == DWCP_FRAME_NACK && f.u.ack.status == DWCP_BUF_EDIGEST,
				  "a wrong digest was answered type %u status %u", f.type, f.u.ack.status);
			cr_expect_neq(rc, 0, "dwcp recv accepted a wrong digest");
			cr_expect(rcv.err && strstr(rcv.err, "digest"), "recv's message: %s", rcv.err);
			cr_expect_eq(dwcp_xfer_file_size(out), -1, "a file appeared at --out");
		}
		raw_close(&r);
		dwcp_xfer_proc_free(&rcv);
	}
	expect_b_pool_full();
}
