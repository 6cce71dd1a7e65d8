/* Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/NAME/)
 * from the real encoders, so every seed is a valid input that reaches
 * deep into its decoder and the fuzzer mutates from there. Run by
 * `make fuzz-corpus`; the output is committed.
 *
 * Each seed starts with the parameter bytes its target reads first (see
 * the target's header comment), then the encoded bytes.
 *
 * Usage: gen_corpus DIR (writes DIR/frame, DIR/chunk, ...).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/stat.h>

#include "common/ops/xxh3.h"
#include "ipc/ctl_msg.h"
#include "common/ops/hde.h"
#include "svc-net/frame.h"
#include "svc-net/dgram.h"
#include "svc-net/udp.h"
#include "tests/fuzz/fuzz_util.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	FUZZ_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path,
		    strerror(errno));
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	FUZZ_ASSERT(f != NULL, "%s: %s", path, strerror(errno));
	FUZZ_ASSERT(fwrite(p, 1, n, f) == n && fclose(f) == 0, "writing %s", path);
}

static void le(uint8_t *p, uint64_t v, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A valid chunk of @p body bytes (data = a text pattern), built in an
 * aligned buffer (the header has 8-byte fields) and copied to @p out
 * after @p edit, if any, changed its header. */
static size_t make_chunk(uint8_t *out, uint64_t seq, uint32_t body, uint8_t flags,
			 void (*edit)(struct dwcp_chunk_hdr *c))
{
	static uint64_t buf[(DWCP_CHUNK_HDR_LEN + 4096) / 8];
	struct dwcp_chunk_hdr *c = (struct dwcp_chunk_hdr *)buf;

	FUZZ_ASSERT(body <= 4096, "seed chunk of %u bytes", body);
	dwcp_chunk_init(c, 7, seq, seq * 4096, body);
	for (uint32_t i = 0; i < body; i++)
		dwcp_chunk_body(c)[i] = (uint8_t)("dwcp fuzz seed "[i % 15]);
	c->flags = flags;
	if (edit)
		edit(c);
	c->crc = dwcp_chunk_crc(c);
	memcpy(out, c, DWCP_CHUNK_HDR_LEN + body);
	return DWCP_CHUNK_HDR_LEN + body;
}

/* ---- frame: [mode][max_chunk u16][split seed u64] stream ---- */

static size_t frame_prefix(uint8_t *p, uint64_t seed)
{
	p[0] = 1;                               /* fix hcrcs of mutated headers */
	le(p + 1, 4096 + DWCP_CHUNK_HDR_LEN, 2);
	le(p + 3, seed, 8);
	return 11;
}

static void gen_frame(void)
{
	static uint8_t buf[16384];
	struct dwcp_frame_hello h = { .proto_version = DWCP_FRAME_PROTO_VERSION, .conn_index = 1,
				      .n_conns = 4, .instance = "nodeA",
				      .session = "0123456789abcde" };
	struct dwcp_frame_ack a = { .stream = 7, .seq = 3, .status = 0, .xfer = 1 };
	size_t n0 = frame_prefix(buf, 1), n = n0, k;

	n += dwcp_frame_encode_hello(buf + n, &h);
	put("frame", "hello", buf, n);
	n = n0 + dwcp_frame_encode_ack(buf + n0, DWCP_FRAME_ACK, &a);
	put("frame", "ack", buf, n);
	a.status = 5;
	n = n0 + dwcp_frame_encode_ack(buf + n0, DWCP_FRAME_NACK, &a);
	put("frame", "nack", buf, n);
	n = n0 + dwcp_frame_encode_bye(buf + n0, "receiver shutting down");
	put("frame", "bye", buf, n);
	n = n0 + dwcp_frame_encode_bye(buf + n0, "");
	put("frame", "bye-empty", buf, n);
	k = make_chunk(buf + n0 + DWCP_FRAME_HDR_LEN, 0, 300, DWCP_CHUNK_F_LAST, NULL);
	n = n0 + dwcp_frame_encode_hdr(buf + n0, DWCP_FRAME_CHUNK, (uint32_t)k) + k;
	put("frame", "chunk", buf, n);
	k = make_chunk(buf + n0 + DWCP_FRAME_HDR_LEN, 1, 0, 0, NULL);
	n = n0 + dwcp_frame_encode_hdr(buf + n0, DWCP_FRAME_CHUNK, (uint32_t)k) + k;
	put("frame", "chunk-empty", buf, n);

	/* a whole conversation, split three ways */
	for (uint64_t seed = 2; seed < 5; seed++) {
		char name[32];

		n = frame_prefix(buf, seed);
		n += dwcp_frame_encode_hello(buf + n, &h);
		for (uint64_t s = 0; s < 3; s++) {
			k = make_chunk(buf + n + DWCP_FRAME_HDR_LEN, s, 100 + 700 * (uint32_t)s,
				       s == 2 ? DWCP_CHUNK_F_LAST : 0, NULL);
			n += dwcp_frame_encode_hdr(buf + n, DWCP_FRAME_CHUNK, (uint32_t)k) + k;
			a.seq = s;
			a.status = 0;
			n += dwcp_frame_encode_ack(buf + n, DWCP_FRAME_ACK, &a);
		}
		n += dwcp_frame_encode_bye(buf + n, "done");
		snprintf(name, sizeof(name), "stream-split%u", (unsigned)seed);
		put("frame", name, buf, n);
	}
}

/* ---- chunk: [max_data u32] chunk ---- */

/* The lengths a delta, compressed with zstd and sealed, carries. */
static void delta_zstd(struct dwcp_chunk_hdr *c)
{
	c->orig_len = 8192;
	c->inner_len = 300;
	c->codec = 2;
	c->base_hash = 0x1122334455667788ull;
}

static void lz4(struct dwcp_chunk_hdr *c)
{
	c->orig_len = c->inner_len = 4096;
	c->codec = 1;
}

static void gen_chunk(void)
{
	static uint8_t buf[8192];

	le(buf, 65536, 4);
	put("chunk", "plain", buf, 4 + make_chunk(buf + 4, 0, 512, 0, NULL));
	put("chunk", "empty-last", buf, 4 + make_chunk(buf + 4, 1, 0, DWCP_CHUNK_F_LAST, NULL));
	put("chunk", "delta-zstd-sealed", buf,
	    4 + make_chunk(buf + 4, 2, 200, DWCP_CHUNK_F_DELTA | DWCP_CHUNK_F_SEALED, delta_zstd));
	put("chunk", "lz4", buf, 4 + make_chunk(buf + 4, 3, 100, 0, lz4));
}

/* ---- hde: [mode][orig_len u24][base_hash u64][body_len u16] body material ---- */

static const uint8_t material[] = "the base pages are this text, over and over; 0123456789";

static void base_page(uint8_t *d, uint32_t len, unsigned i)
{
	for (uint32_t j = 0; j < len; j++)
		d[j] = material[(j + 7u * i) % (sizeof(material) - 1)];
}

/* @p edit: 0 zeros, 1 same as base, 2 a few bytes changed, 3 new bytes;
 * @p kept: kept and moved pages (versions 2 and 3), or NULL */
static void gen_hde_one(const struct dwcp_hde_codec *x, const char *name, uint32_t len,
			const unsigned *edit, const struct dwcp_hde_kept *kept)
{
	static uint8_t data[DWCP_HDE_MAX_DATA], basebuf[DWCP_HDE_MAX_DATA];
	static uint8_t seed[16 + DWCP_HDE_BOUND_KEPT(DWCP_HDE_MAX_DATA) + sizeof(material)];
	struct dwcp_hde_base bases[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_summary sum;
	ssize_t n;

	for (unsigned i = 0; i < dwcp_hde_pages(len); i++) {
		uint32_t pl = dwcp_hde_page_len(len, i);
		uint8_t *b = basebuf + (size_t)i * DWCP_HDE_PAGE, *d = data + (size_t)i * DWCP_HDE_PAGE;

		base_page(b, pl, i);
		bases[i] = (struct dwcp_hde_base){ .data = b, .len = pl, .hash = x->xxh3.h64(b, pl, 0) };
		memcpy(d, b, pl);
		if (edit[i] == 0)
			memset(d, 0, pl);
		for (uint32_t j = 0; edit[i] == 2 && j < pl; j += 997)
			d[j] ^= 0x5a;
		for (uint32_t j = 0; edit[i] == 3 && j < pl; j++)
			d[j] = (uint8_t)(j * 131 + i);
	}
	n = dwcp_hde_encode_kept(x, data, len, bases, kept, seed + 14, DWCP_HDE_BOUND_KEPT(len), &sum);
	FUZZ_ASSERT(n > 0, "encode %s: %zd", name, n);
	seed[0] = 1 | 2 | 4;                    /* header's base_hash, bases, record hashes */
	le(seed + 1, len, 3);
	le(seed + 4, sum.base_hash, 8);
	le(seed + 12, (uint64_t)n, 2);
	memcpy(seed + 14 + n, material, sizeof(material) - 1);
	put("hde", name, seed, 14 + (size_t)n + sizeof(material) - 1);
}

static void gen_hde(void)
{
	struct dwcp_cpu_features cpu;
	struct dwcp_hde_codec x;

	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&x, &cpu);
	gen_hde_one(&x, "empty", 0, (const unsigned[]){ 0 }, NULL);
	gen_hde_one(&x, "zero-same", 2 * DWCP_HDE_PAGE, (const unsigned[]){ 0, 1 }, NULL);
	gen_hde_one(&x, "xor-short-last", DWCP_HDE_PAGE + 1000, (const unsigned[]){ 2, 2 }, NULL);
	gen_hde_one(&x, "raw-xor-same", 3 * DWCP_HDE_PAGE - 5, (const unsigned[]){ 3, 2, 1 }, NULL);
	gen_hde_one(&x, "tiny-raw", 5, (const unsigned[]){ 3 }, NULL);
	gen_hde_one(&x, "kept", 3 * DWCP_HDE_PAGE, (const unsigned[]){ 3, 2, 0 },
		    &(struct dwcp_hde_kept){ .mask = 1, .digest = 0x1234 });
	gen_hde_one(&x, "moved-kept", 4 * DWCP_HDE_PAGE + 100, (const unsigned[]){ 3, 3, 2, 1, 3 },
		    &(struct dwcp_hde_kept){ .mask = 2, .digest = 0x1234, .moved = 9,
					     .src = { [0] = 39, [3] = 1ull << 63 | 4096 } });
}

/* ---- config: text ---- */

static void gen_config(void)
{
	static const char *const texts[][2] = {
		{ "minimal", "[supervisor]\ninstance = nodeA\n" },
		{ "peers", "# two peers\n[peers]\nnodeB = 10.0.0.2:7100\nnodeC = [fe80::1]:7100\n"
			   "[net]\nlisten = 0.0.0.0:7100 ; comment\nconnections = 8\n" },
		{ "sizes", "[pool]\nbuffers = 2048\nbuf_size = 68K\n[stream]\nchunk_size = 64K\n"
			   "codec = lz4\ndelta = off\n[link]\ndepth = 4096\n" },
		{ "services", "[services]\nenable = svc-net, svc-simd, svc-mem\n[gpu]\ncpu_backend = yes\n" },
		{ "net", "[net]\nlisten = 127.0.0.1:7100\nconnections = 2\nzerocopy = false\n"
			 "busy_poll_us = 50\nsocket_buffer = 4M\nresend_ms = 500\ncongestion = cubic\n" },
		{ "port", "[net]\ntransport = dpdk\nport = net_af_packet0,iface=v0\nip = 10.9.0.1/24\n"
			  "ip6 = fd00:78::1/64\nmtu = 9000\n"
			  "neighbours = 10.9.0.2=02:00:00:00:00:02, fd00:78::2=02:00:00:00:00:03\n" },
		{ "bad-key", "[supervisor]\nheartbeat_ms = 5\nno_such_key = 1\n" },
	};
	static char buf[8192];
	FILE *f = fopen("deploy/dwcp.ini.example", "rb");
	size_t n;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		put("config", texts[i][0], texts[i][1], strlen(texts[i][1]));
	FUZZ_ASSERT(f != NULL, "deploy/dwcp.ini.example: run from the repository root");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	put("config", "example", buf, n);
}

/* ---- ctl_msg: [selector][NUL-fill start/4][count/4] message ---- */

static void put_msg(const char *name, unsigned sel, const void *m, size_t n)
{
	static uint8_t buf[3 + sizeof(struct dwcp_ctl_req_ext) + sizeof(struct dwcp_ctl_hello_reply) + 64];

	buf[0] = (uint8_t)sel;
	buf[1] = buf[2] = 0;                    /* no NUL turned into 'x' */
	memcpy(buf + 3, m, n);
	put("ctl_msg", name, buf, n + 3);
}

static void put_reply(const char *name, enum dwcp_ctl_type t, int status, const void *p, size_t n)
{
	static uint8_t m[sizeof(struct dwcp_ctl_hdr) + sizeof(struct dwcp_ctl_hello_reply) + 64];
	struct dwcp_ctl_hdr h = { .magic = DWCP_CTL_MAGIC, .version = DWCP_CTL_VERSION,
				  .type = (uint16_t)t, .status = status, .len = (uint32_t)n };

	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), p, n);
	put_msg(name, 2 + 3 * (t - 1), m, sizeof(h) + n);
}

static void gen_ctl_msg(void)
{
	struct dwcp_ctl_req r;
	struct dwcp_ctl_req_ext e;
	struct dwcp_ctl_hello_reply hr = { .slot = 3, .generation = 1, .lcore = 2,
					   .file_prefix = "dwcp_nodeA", .huge_dir = "/dev/hugepages" };

	dwcp_ctl_req_hello(&r, DWCP_ROLE_CLIENT, "dwcp send");
	put_msg("hello", 0, &r, sizeof(r));
	dwcp_ctl_req_init(&r, DWCP_CTL_STATUS);
	put_msg("status", 0, &r, sizeof(r));
	dwcp_ctl_req_restart(&r, "svc-net");
	put_msg("restart", 0, &r, sizeof(r));
	dwcp_ctl_req_drain(&r, "svc-simd", 5000);
	put_msg("drain", 0, &r, sizeof(r));
	put_msg("drain-via-ext", 1, &r, sizeof(r));
	dwcp_ctl_req_resume(&r, "svc-simd");
	put_msg("resume", 0, &r, sizeof(r));
	dwcp_ctl_req_upgrade(&e, "svc-gpu", "/usr/local/bin/svc-gpu");
	put_msg("upgrade", 1, &e, sizeof(e));
	dwcp_ctl_req_takeover(&e, -EINVAL, 4, "ABI mismatch");
	put_msg("takeover", 1, &e, sizeof(e));
	hr.abi_version = 5;
	put_reply("reply-hello", DWCP_CTL_HELLO, 0, &hr, sizeof(hr));
	put_reply("reply-status", DWCP_CTL_STATUS, 0, "{\"ok\":true}", 12);
	put_reply("reply-error", DWCP_CTL_RESTART, -ENOENT, "no service 'x'", 15);
}

/* Frames svc-net meets on a port: a datagram for us, broadcast, for
 * another port, an ARP request and reply. Byte 0: fix the checksum. */
static void gen_udp(void)
{
	struct dwcp_udp_ep me = { .mac = { 0x02, 0, 0, 0, 0, 1 } }, peer = { .mac = { 0x02, 0, 0, 0, 0, 2 } };
	struct dwcp_arp req;
	struct dwcp_err err = { 0 };
	uint8_t f[1 + 200];
	int n;

	me.ip = htonl(0x0a090001);
	me.port = htons(7100);
	peer.ip = htonl(0x0a090002);
	peer.port = htons(40000);
	f[0] = 1;
	memset(f + 1, 0x5a, sizeof(f) - 1);
	n = dwcp_udp_build(f + 1, &peer, &me, 1, 100);
	put("udp", "datagram", f, (size_t)n + 1);
	memset(f + 1, 0xff, 6);
	put("udp", "broadcast", f, (size_t)n + 1);
	me.port = htons(7101);
	n = dwcp_udp_build(f + 1, &peer, &me, 2, 16);
	put("udp", "other-port", f, (size_t)n + 1);
	me.port = htons(7100);
	f[0] = 0;
	put("udp", "arp-request", f, 1 + dwcp_arp_build_request(f + 1, &peer, me.ip));
	FUZZ_ASSERT(dwcp_arp_parse(f + 1, DWCP_ARP_LEN, &req, &err) == 0, "%s", err.msg);
	put("udp", "arp-reply", f, 1 + dwcp_arp_build_reply(f + 1, &me, &req));
	/* IPv6: a datagram with its checksum, a solicitation for us, an advertisement */
	inet_pton(AF_INET6, "fd00:78::1", me.ip6);
	inet_pton(AF_INET6, "fd00:78::2", peer.ip6);
	me.v6 = peer.v6 = true;
	f[0] = 2;
	memset(f + 1, 0x5a, sizeof(f) - 1);
	n = dwcp_udp_build(f + 1, &peer, &me, 0, 100);
	dwcp_udp_csum(f + 1, NULL, 0);
	put("udp", "datagram6", f, (size_t)n + 1);
	{
		struct dwcp_nd ns;

		put("udp", "nd-solicit", f, 1 + dwcp_nd_build_solicit(f + 1, &peer, me.ip6));
		FUZZ_ASSERT(dwcp_nd_parse(f + 1, DWCP_ND_LEN, &ns, &err) == 0, "%s", err.msg);
		put("udp", "nd-advert", f, 1 + dwcp_nd_build_advert(f + 1, &me, &ns));
	}
}

/* A 3-fragment message in order, out of order with a duplicate, a NACK
 * and an ACK: each datagram behind its 2-byte length. */
static void dg_put(uint8_t **o, const struct dwcp_dgram_hdr *h, const uint8_t *body)
{
	(*o)[0] = (uint8_t)(DWCP_DGRAM_HDR_LEN + h->len);
	(*o)[1] = (uint8_t)((DWCP_DGRAM_HDR_LEN + h->len) >> 8);
	dwcp_dgram_hdr_encode(*o + 2, h);
	memcpy(*o + 2 + DWCP_DGRAM_HDR_LEN, body, h->len);
	*o += 2 + DWCP_DGRAM_HDR_LEN + h->len;
}

static void gen_dgram(void)
{
	static uint8_t buf[8192], body[1500];
	static const unsigned orders[2][4] = { { 0, 1, 2, 9 }, { 2, 0, 0, 1 } };
	struct dwcp_dgram_plan pl;
	struct dwcp_dgram_range r = { 1, 1 };

	memset(body, 'd', sizeof(body));
	dwcp_dgram_plan(&pl, 3000, dwcp_dgram_frag_payload(1500, 4));
	for (unsigned o = 0; o < 2; o++) {
		uint8_t *p = buf;

		for (unsigned i = 0; i < 4 && orders[o][i] < pl.nfrags; i++) {
			struct dwcp_dgram_hdr h = { .type = DWCP_DGRAM_DATA, .conn = 7, .msg = 1, .total = pl.total,
						    .nfrags = pl.nfrags, .frag = (uint16_t)orders[o][i], .ts_ns = 1 };
			uint32_t off, len;

			dwcp_dgram_frag(&pl, h.frag, &off, &len);
			h.offset = off;
			h.len = (uint16_t)len;
			dg_put(&p, &h, body);
		}
		{
			struct dwcp_dgram_hdr n = { .type = DWCP_DGRAM_NACK, .conn = 7, .msg = 1, .nfrags = 1, .len = 4 };
			uint8_t rb[4];

			dwcp_dgram_ranges_encode(rb, &r, 1);
			dg_put(&p, &n, rb);
		}
		{
			struct dwcp_dgram_hdr a = { .type = DWCP_DGRAM_ACK, .conn = 7, .msg = 1 };

			dg_put(&p, &a, body);
		}
		put("dgram", o ? "reordered" : "in-order", buf, (size_t)(p - buf));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	FUZZ_ASSERT(mkdir(root, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", root, strerror(errno));
	gen_frame();
	gen_chunk();
	gen_hde();
	gen_config();
	gen_ctl_msg();
	gen_udp();
	gen_dgram();
	return 0;
}
