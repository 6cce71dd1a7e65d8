/* A consumer of a node's DPDK port for the port tests (ipc/port.h):
 *   port-frames send INSTANCE COUNT TAG   COUNT test frames out of the port
 *   port-frames recv INSTANCE COUNT TAG TIMEOUT_MS
 *                                          read until COUNT distinct frames of TAG arrived
 *   port-frames udp-recv INSTANCE MY_IP PORT COUNT TIMEOUT_MS
 *                                          answer ARP for MY_IP, count UDP datagrams
 *                                          "dwcp-udp N" to MY_IP:PORT (svc-net/udp.c)
 *   port-frames udp-send INSTANCE MY_IP PORT DST_IP DST_PORT COUNT
 *                                          ARP for DST_IP, then COUNT such datagrams
 *   port-frames dgram-chunk INSTANCE MY_IP PORT DST_IP DST_PORT
 *                                          an unauthenticated chunk fragment and a
 *                                          non-DWCP datagram at svc-net on DST_IP:DST_PORT;
 *                                          prints {"resets":R,"other":O} (3 s)
 *   port-frames ext-hold INSTANCE N       N mbufs attached to pool buffer 1 (zero-copy
 *                                          TX, ipc/port.h) kept in hand; prints
 *                                          {"held":N} and sleeps, to be killed
 * The UDP modes talk to the Linux stack on the other end of the veth: the
 * framing and ARP of svc-net/udp.c against a real one.
 * It attaches as a client (a DPDK secondary), takes mbufs from the port's
 * pool, and talks to the port thread through the rings, as svc-net will.
 * Frames: broadcast, EtherType 0x88B5 (IEEE local experimental), a header
 * (magic, tag, sequence number) and 1000 bytes that are a function of
 * both, so a damaged or foreign frame is told apart. recv prints one JSON
 * line: {"received":N,"bad":B,"other":O}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <arpa/inet.h>

#include "common/timeutil.h"
#include "ipc/client.h"
#include "ipc/port.h"
#include "svc-net/dgram.h"
#include "svc-net/udp.h"

#define ETHERTYPE_TEST 0x88B5
#define BODY           1000u
#define MAX_COUNT      (1u << 20)

struct test_hdr {
	uint8_t dst[6], src[6];
	uint16_t ethertype;            /* big-endian */
	char magic[4];                 /* "DWPT" */
	uint32_t tag, seq;
} __attribute__((packed));

static uint8_t body_byte(uint32_t tag, uint32_t seq, unsigned i)
{
	return (uint8_t)(tag * 31u + seq * 7u + i);
}

static int usage(void)
{
	fprintf(stderr, "usage: port-frames send INSTANCE COUNT TAG | recv INSTANCE COUNT TAG TIMEOUT_MS |\n"
			"       udp-recv INSTANCE MY_IP PORT COUNT TIMEOUT_MS |\n"
			"       udp-send INSTANCE MY_IP PORT DST_IP DST_PORT COUNT |\n"
			"       dgram-chunk INSTANCE MY_IP PORT DST_IP DST_PORT\n");
	return 2;
}

struct port {
	struct dwcp_client c;
	struct dwcp_port p;
};

/* As the port's consumer 0, which svc-net's first worker would be: its
 * rings have one reader and one writer each. */
static int port_open(struct port *p, const char *instance)
{
	struct dwcp_err err = { 0 };

	if (dwcp_client_open(&p->c, instance, NULL, "port-frames", "port-frames", &err) ||
	    dwcp_port_lookup(&p->p, 0, &err) || dwcp_port_claim(&p->p, p->c.at.slot, &err)) {
		fprintf(stderr, "port-frames: %s: %s\n", instance, err.msg);
		return -1;
	}
	return 0;
}

static int do_send(struct port *p, uint32_t count, uint32_t tag)
{
	for (uint32_t seq = 0; seq < count;) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(p->p.pool);
		struct test_hdr *h;
		uint8_t *body;

		if (!m) {
			usleep(1000);   /* the port thread frees them as it sends */
			continue;
		}
		h = (struct test_hdr *)rte_pktmbuf_append(m, sizeof(*h) + BODY);
		if (!h) {
			rte_pktmbuf_free(m);
			fprintf(stderr, "port-frames: an mbuf of the port's pool is too small\n");
			return 1;
		}
		memset(h->dst, 0xff, sizeof(h->dst));
		memcpy(h->src, p->p.shm->mac, sizeof(h->src));
		h->ethertype = rte_cpu_to_be_16(ETHERTYPE_TEST);
		memcpy(h->magic, "DWPT", 4);
		h->tag = tag;
		h->seq = seq;
		body = (uint8_t *)(h + 1);
		for (unsigned i = 0; i < BODY; i++)
			body[i] = body_byte(tag, seq, i);
		while (rte_ring_sp_enqueue(p->p.tx, m) != 0)
			usleep(100);
		seq++;
		/* Pace: the receiving kernel ring of an af_packet port holds
		 * 512 frames; a veth delivers faster than a sleeping port
		 * thread reads. */
		if (seq % 32 == 0 || seq == count) {
			dwcp_port_kick(&p->p);
			usleep(500);
		}
	}
	printf("{\"sent\":%u}\n", count);
	return 0;
}

static int do_recv(struct port *p, uint32_t count, uint32_t tag, unsigned timeout_ms)
{
	uint8_t *seen = calloc(count, 1);
	uint64_t deadline = dwcp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint32_t got = 0, bad = 0, other = 0;

	if (!seen)
		return 1;
	while (got < count && dwcp_now_ns() < deadline) {
		struct rte_mbuf *b[32];
		uint32_t seq = __atomic_load_n(&p->p.c->rx_doorbell, __ATOMIC_ACQUIRE);
		unsigned n = dwcp_port_rx_burst(&p->p, b, 32);

		if (!n) {
			dwcp_port_wait_rx(&p->p, seq, 10000000);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			const struct test_hdr *h = rte_pktmbuf_mtod(b[i], const struct test_hdr *);
			const uint8_t *body = (const uint8_t *)(h + 1);
			bool ok = true;

			if (rte_pktmbuf_data_len(b[i]) < sizeof(*h) ||
			    h->ethertype != rte_cpu_to_be_16(ETHERTYPE_TEST) || memcmp(h->magic, "DWPT", 4) ||
			    h->tag != tag) {
				other++;
				continue;
			}
			if (rte_pktmbuf_data_len(b[i]) != sizeof(*h) + BODY || h->seq >= count)
				ok = false;
			for (unsigned k = 0; ok && k < BODY; k++)
				ok = body[k] == body_byte(tag, h->seq, k);
			if (!ok)
				bad++;
			else if (!seen[h->seq]++)
				got++;
		}
		rte_pktmbuf_free_bulk(b, n);
	}
	printf("{\"received\":%u,\"bad\":%u,\"other\":%u}\n", got, bad, other);
	free(seen);
	return 0;
}

/* Put @p len bytes of @p frame out of the port. */
static int put_frame(struct port *p, const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(p->p.pool);
	uint8_t *d = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len) : NULL;

	if (!d) {
		if (m)
			rte_pktmbuf_free(m);
		return -1;
	}
	memcpy(d, frame, len);
	while (rte_ring_sp_enqueue(p->p.tx, m) != 0)
		usleep(100);
	dwcp_port_kick(&p->p);
	return 0;
}

/* The next frame from the port, copied into @p out; 0 when none came in @p wait_ns. */
static size_t get_frame(struct port *p, uint8_t *out, size_t room, uint64_t wait_ns)
{
	struct rte_mbuf *m;
	uint32_t seq = __atomic_load_n(&p->p.c->rx_doorbell, __ATOMIC_ACQUIRE);
	size_t n;

	if (dwcp_port_rx_burst(&p->p, &m, 1) != 1) {
		dwcp_port_wait_rx(&p->p, seq, wait_ns);
		if (dwcp_port_rx_burst(&p->p, &m, 1) != 1)
			return 0;
	}
	n = rte_pktmbuf_data_len(m) < room ? rte_pktmbuf_data_len(m) : room;
	memcpy(out, rte_pktmbuf_mtod(m, const uint8_t *), n);
	rte_pktmbuf_free(m);
	return n;
}

static void endpoint(struct port *p, struct dwcp_udp_ep *me, const char *ip, const char *port)
{
	memcpy(me->mac, p->p.shm->mac, 6);
	inet_pton(AF_INET, ip, &me->ip);
	me->port = htons((uint16_t)strtoul(port, NULL, 10));
}

/* Answer an ARP request for us; @return 1 if @p f was ARP. */
static int arp_answer(struct port *p, const struct dwcp_udp_ep *me, const uint8_t *f, size_t n,
		      struct dwcp_arp *seen)
{
	struct dwcp_err err = { 0 };
	uint8_t reply[DWCP_ARP_LEN];

	if (dwcp_arp_parse(f, n, seen, &err))
		return 0;
	if (seen->op == DWCP_ARP_REQUEST && seen->tpa == me->ip) {
		dwcp_arp_build_reply(reply, me, seen);
		put_frame(p, reply, sizeof(reply));
	}
	return 1;
}

static int do_udp_recv(struct port *p, char **argv)
{
	struct dwcp_udp_ep me;
	uint32_t count = (uint32_t)strtoul(argv[5], NULL, 10), got = 0, refused = 0, arp = 0;
	uint64_t deadline = dwcp_now_ns() + strtoull(argv[6], NULL, 10) * 1000000u;
	uint8_t f[2048];

	endpoint(p, &me, argv[3], argv[4]);
	while (got < count && dwcp_now_ns() < deadline) {
		struct dwcp_udp_rx rx;
		struct dwcp_err err = { 0 };
		struct dwcp_arp a;
		size_t n = get_frame(p, f, sizeof(f), 10000000);
		int rc = n ? dwcp_udp_parse(f, n, &me, &rx, &err) : -1;

		if (rc == 1)
			arp += (unsigned)arp_answer(p, &me, f, n, &a);
		else if (rc == 0 && rx.len >= 8 && !memcmp(rx.payload, "dwcp-udp", 8))
			got++;
		else if (rc == 0)
			refused++;
	}
	printf("{\"received\":%u,\"arp\":%u,\"other\":%u}\n", got, arp, refused);
	return 0;
}

/* ARP for @p dst (its ip set), asking again every 200 ms, at most 10 s. */
static int resolve(struct port *p, const struct dwcp_udp_ep *me, struct dwcp_udp_ep *dst, const char *name)
{
	struct dwcp_err err = { 0 };
	uint64_t deadline = dwcp_now_ns() + 10000000000ull;
	uint8_t f[2048];

	for (uint64_t next = 0; dwcp_now_ns() < deadline;) {
		struct dwcp_arp a;
		size_t n;

		if (dwcp_now_ns() >= next) {
			put_frame(p, f, dwcp_arp_build_request(f, me, dst->ip));
			next = dwcp_now_ns() + 200000000u;
		}
		n = get_frame(p, f, sizeof(f), 10000000);
		if (n && dwcp_arp_parse(f, n, &a, &err) == 0 && a.op == DWCP_ARP_REPLY && a.spa == dst->ip) {
			memcpy(dst->mac, a.sha, 6);
			return 0;
		}
	}
	fprintf(stderr, "port-frames: no ARP reply for %s\n", name);
	return 1;
}

static int do_udp_send(struct port *p, char **argv)
{
	struct dwcp_udp_ep me, dst = { 0 };
	uint32_t count = (uint32_t)strtoul(argv[7], NULL, 10);
	uint8_t f[2048];

	endpoint(p, &me, argv[3], argv[4]);
	inet_pton(AF_INET, argv[5], &dst.ip);
	dst.port = htons((uint16_t)strtoul(argv[6], NULL, 10));
	if (resolve(p, &me, &dst, argv[5]))
		return 1;
	for (uint32_t i = 0; i < count; i++) {
		int len = snprintf((char *)f + DWCP_UDP_HDRS_LEN, 64, "dwcp-udp %u", i);

		put_frame(p, f, (size_t)dwcp_udp_build(f, &me, &dst, (uint16_t)i, (size_t)len));
		usleep(1000);
	}
	printf("{\"sent\":%u}\n", count);
	return 0;
}

/* A peer that never authenticated, at node DST's svc-net (UDP DST_PORT):
 * the first fragment of a chunk (OPENER|CHUNK, a connection it never
 * opened), then a datagram that is no DWCP datagram at all. Prints what
 * came back within 3 s: RESETs for our connection id, other datagrams. */
static int do_dgram_chunk(struct port *p, char **argv)
{
	struct dwcp_udp_ep me, dst = { 0 };
	struct dwcp_dgram_hdr h = { .type = DWCP_DGRAM_DATA, .conn = 0x5eed1234u, .msg = 1,
				    .total = 2800, .offset = 0, .frag = 0, .nfrags = 2, .len = 1400,
				    .flags = DWCP_DGRAM_F_OPENER | DWCP_DGRAM_F_CHUNK };
	uint32_t resets = 0, other = 0;
	uint64_t deadline;
	uint8_t f[2048];
	size_t len;

	endpoint(p, &me, argv[3], argv[4]);
	inet_pton(AF_INET, argv[5], &dst.ip);
	dst.port = htons((uint16_t)strtoul(argv[6], NULL, 10));
	if (resolve(p, &me, &dst, argv[5]))
		return 1;
	h.ts_ns = dwcp_now_ns();
	dwcp_dgram_hdr_encode(f + DWCP_UDP_HDRS_LEN, &h);
	memset(f + DWCP_UDP_HDRS_LEN + DWCP_DGRAM_HDR_LEN, 0xa5, h.len);
	len = (size_t)dwcp_udp_build(f, &me, &dst, 1, DWCP_DGRAM_HDR_LEN + (size_t)h.len);
	put_frame(p, f, len);
	memset(f + DWCP_UDP_HDRS_LEN, 0x5a, 64);   /* no DWCP magic */
	put_frame(p, f, (size_t)dwcp_udp_build(f, &me, &dst, 2, 64));
	deadline = dwcp_now_ns() + 3000000000ull;
	while (dwcp_now_ns() < deadline) {
		struct dwcp_udp_rx rx;
		struct dwcp_dgram_hdr r;
		struct dwcp_err err = { 0 };
		struct dwcp_arp a;
		size_t n = get_frame(p, f, sizeof(f), 10000000);
		int rc = n ? dwcp_udp_parse(f, n, &me, &rx, &err) : -1;

		if (rc == 1)
			arp_answer(p, &me, f, n, &a);
		else if (rc == 0 && dwcp_dgram_hdr_parse(rx.payload, rx.len, 1u << 30, &r, &err) == 0 &&
			 r.type == DWCP_DGRAM_RESET && r.conn == h.conn)
			resets++;
		else if (rc == 0)
			other++;
	}
	printf("{\"resets\":%u,\"other\":%u}\n", resets, other);
	return 0;
}

/* Attach @p n mbufs to pool buffer 1 and hold them until killed. */
static int do_ext_hold(struct port *p, unsigned n)
{
	const uint32_t idx = 1;
	uint8_t *data = dwcp_shm_data(&p->c.at.shm, idx);
	unsigned held = 0;

	if (!p->p.ext) {
		printf("{\"ext\":false}\n");
		return 3;
	}
	for (; held < n; held++)
		if (!dwcp_port_ext_attach(&p->p, idx, data, 0, 1024))
			break;
	printf("{\"held\":%u}\n", held);
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct port p = { 0 };
	unsigned long count, tag;
	int rc;

	if (argc == 4 && !strcmp(argv[1], "ext-hold"))
		return port_open(&p, argv[2]) ? 1 : do_ext_hold(&p, (unsigned)strtoul(argv[3], NULL, 10));
	if (argc == 7 && !strcmp(argv[1], "udp-recv")) {
		rc = port_open(&p, argv[2]) ? 1 : do_udp_recv(&p, argv);
		fflush(stdout);
		return rc;
	}
	if (argc == 7 && !strcmp(argv[1], "dgram-chunk")) {
		rc = port_open(&p, argv[2]) ? 1 : do_dgram_chunk(&p, argv);
		fflush(stdout);
		return rc;
	}
	if (argc == 8 && !strcmp(argv[1], "udp-send")) {
		rc = port_open(&p, argv[2]) ? 1 : do_udp_send(&p, argv);
		fflush(stdout);
		return rc;
	}
	if (argc < 5)
		return usage();
	count = strtoul(argv[3], NULL, 10);
	tag = strtoul(argv[4], NULL, 10);
	if (!count || count > MAX_COUNT)
		return usage();
	if (port_open(&p, argv[2]))
		return 1;
	if (!strcmp(argv[1], "send"))
		rc = do_send(&p, (uint32_t)count, (uint32_t)tag);
	else if (!strcmp(argv[1], "recv") && argc == 6)
		rc = do_recv(&p, (uint32_t)count, (uint32_t)tag, (unsigned)strtoul(argv[5], NULL, 10));
	else
		rc = usage();
	fflush(stdout);
	dwcp_port_release(&p.p);
	dwcp_attach_leave(&p.c.at);
	return rc;
}
