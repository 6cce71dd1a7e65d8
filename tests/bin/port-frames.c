/* A consumer of a node's DPDK port for the port tests (ipc/port.h):
 *   port-frames send INSTANCE COUNT TAG   COUNT test frames out of the port
 *   port-frames recv INSTANCE COUNT TAG TIMEOUT_MS
 *                                          read until COUNT distinct frames of TAG arrived
 * It attaches as a client (a DPDK secondary), takes mbufs from the port's
 * pool, and talks to the port thread through the rings, as svc-net will.
 * Frames: broadcast, EtherType 0x88B5 (IEEE local experimental), a header
 * (magic, tag, sequence number) and 1000 bytes that are a function of
 * both, so a damaged or foreign frame is told apart. recv prints one JSON
 * line: {"received":N,"bad":B,"other":O}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "common/timeutil.h"
#include "ipc/client.h"
#include "ipc/port.h"

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
	fprintf(stderr, "usage: port-frames send INSTANCE COUNT TAG | recv INSTANCE COUNT TAG TIMEOUT_MS\n");
	return 2;
}

struct port {
	struct dwcp_client c;
	struct dwcp_port p;
};

static int port_open(struct port *p, const char *instance)
{
	struct dwcp_err err = { 0 };

	if (dwcp_client_open(&p->c, instance, NULL, "port-frames", "port-frames", &err) ||
	    dwcp_port_lookup(&p->p, &err)) {
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
		while (rte_ring_mp_enqueue(p->p.tx, m) != 0)
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
		uint32_t seq = __atomic_load_n(&p->p.shm->rx_doorbell, __ATOMIC_ACQUIRE);
		unsigned n = rte_ring_sc_dequeue_burst(p->p.rx, (void **)b, 32, NULL);

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

int main(int argc, char **argv)
{
	struct port p = { 0 };
	unsigned long count, tag;
	int rc;

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
	dwcp_attach_leave(&p.c.at);
	return rc;
}
