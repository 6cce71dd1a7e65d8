/* svc-net's side of the node's DPDK port ([net] transport = dpdk): frames
 * in and out of the port's rings (ipc/port.h; the supervisor's port thread
 * bursts them to and from the PMD), Ethernet/IPv4/UDP framing (udp.h), ARP
 * (neigh.h), fault injection, and the waker thread. The connections the
 * datagrams belong to are in dconn.c.
 *
 * Small frames are copied into mbufs. A chunk's fragments are attached
 * to mbufs as external buffers where the port offers it (zero-copy TX,
 * ipc/port.h): svc-net copies no payload, and amst.c hands a chunk buffer
 * on only when no attached mbuf of it is out (net_dport_buf_busy). A kill
 * -9 leaks at most the mbufs in hand (one burst).
 *
 * Threads: the loop does all of this; a second thread (the port waker)
 * sleeps on the port's RX doorbell with a timeout, and wakes the loop when
 * frames arrive or when the loop asked to be woken (pacing, NACK and
 * probe timers). Once it has woken the loop it parks until the loop has
 * taken the work up (net_dport_poll wakes it), so nothing spins.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/link.h"
#include "dport.h"

#define WAKER_MAX_NS   100000000ull
#define EXT_MIN_LEN    256u        /* a shorter fragment is cheaper copied than attached */
#define EXT_RECHECK_NS 200000ull   /* buffers held by the port alone: look again this soon */

/* ---- frames out ---------------------------------------------------- */

void net_dport_tx_flush(struct net *n)
{
	struct net_dport *d = n->dport;
	unsigned q;

	if (!d->n_txb)
		return;
	q = rte_ring_sp_enqueue_burst(d->port.tx, (void **)d->txb, d->n_txb, NULL);
	if (q < d->n_txb) {
		rte_pktmbuf_free_bulk(d->txb + q, d->n_txb - q);
		net_dport_count(&d->port.shm->dg_tx_ring_full, d->n_txb - q);
	}
	d->n_txb = 0;
	dwcp_port_kick(&d->port);
}

unsigned net_dport_tx_room(const struct net_dport *d, unsigned want)
{
	unsigned free_ = rte_ring_free_count(d->port.tx);

	free_ = free_ > d->n_txb ? free_ - d->n_txb : 0;
	return want < free_ ? want : free_;
}

static uint8_t *frame_new(struct net *n, struct rte_mbuf **mp)
{
	struct net_dport *d = n->dport;
	struct rte_mbuf *m;

	if (d->n_txb == NET_DPORT_BURST)
		net_dport_tx_flush(n);
	m = rte_pktmbuf_alloc(d->port.pool);
	*mp = m;
	return m ? rte_pktmbuf_mtod(m, uint8_t *) : NULL;
}

static void frame_put(struct net *n, struct rte_mbuf *m, size_t len)
{
	struct net_dport *d = n->dport;

	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	d->txb[d->n_txb++] = m;
}

int net_dport_emit(struct net *n, const struct dwcp_udp_ep *to, bool ours, const struct dwcp_dgram_hdr *h,
		   const void *body)
{
	struct net_dport *d = n->dport;
	struct rte_mbuf *m;
	uint8_t *p = frame_new(n, &m);
	size_t hl = dwcp_udp_hdrs_len(to);
	int len;

	if (!p)
		return -ENOBUFS;
	len = dwcp_udp_build(p, ours ? &d->me_out : &d->me, to, d->ip_id++, DWCP_DGRAM_HDR_LEN + (size_t)h->len);
	dwcp_dgram_hdr_encode(p + hl, h);
	if (h->len)
		memcpy(p + hl + DWCP_DGRAM_HDR_LEN, body, h->len);
	if (to->v6)
		dwcp_udp_csum(p, NULL, 0);
	frame_put(n, m, (size_t)len);
	return len;
}

int net_dport_emit_frag(struct net *n, const struct dwcp_udp_ep *to, bool ours, const struct dwcp_dgram_hdr *h,
			uint32_t idx)
{
	struct net_dport *d = n->dport;
	uint8_t *data = dwcp_shm_data(&n->ctx->at.shm, idx), *p;
	struct rte_mbuf *m, *x;
	size_t hl = dwcp_udp_hdrs_len(to);
	int len;

	if (!d->port.ext || h->len < EXT_MIN_LEN)
		return net_dport_emit(n, to, ours, h, data + h->offset);
	p = frame_new(n, &m);
	if (!p)
		return -ENOBUFS;
	x = dwcp_port_ext_attach(&d->port, idx, data, h->offset, h->len);
	if (!x) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	len = dwcp_udp_build(p, ours ? &d->me_out : &d->me, to, d->ip_id++, DWCP_DGRAM_HDR_LEN + (size_t)h->len);
	dwcp_dgram_hdr_encode(p + hl, h);
	if (to->v6)   /* reads the payload where it lies: no copy */
		dwcp_udp_csum(p, data + h->offset, h->len);
	m->data_len = (uint16_t)(hl + DWCP_DGRAM_HDR_LEN);
	m->pkt_len = (uint32_t)len;
	m->nb_segs = 2;
	m->next = x;
	d->txb[d->n_txb++] = m;
	d->n_zc++;
	return len;
}

bool net_dport_buf_busy(const struct net *n, uint32_t idx)
{
	return n->dport && dwcp_port_ext_busy(&n->dport->port, idx);
}

void net_dport_neigh_key(const struct dwcp_udp_ep *ep, uint8_t key[16])
{
	if (ep->v6)
		memcpy(key, ep->ip6, 16);
	else
		dwcp_ip_map4(ep->ip, key);
}

void net_dport_neigh_ask(struct net *n, const struct dwcp_udp_ep *ep)
{
	struct rte_mbuf *m;
	uint8_t *p = frame_new(n, &m);

	if (!p)
		return;
	if (ep->v6)
		frame_put(n, m, dwcp_nd_build_solicit(p, &n->dport->me, ep->ip6));
	else
		frame_put(n, m, dwcp_arp_build_request(p, &n->dport->me, ep->ip));
	net_dport_count(&n->dport->port.shm->neigh_requests_tx, 1);
}

/* The waker publishes when its sleep ends (waker_until) before it reads
 * wake_ns for the last time; here wake_ns is written before waker_until
 * is read (both seq_cst), so either the waker sees the new time or we see
 * it asleep past it and ring its doorbell. A timer that does not move
 * earlier than the waker's sleep costs no syscall. */
void net_dport_wake_at(struct net *n, uint64_t wake_ns)
{
	struct net_dport *d = n->dport;

	if (wake_ns >= __atomic_load_n(&d->wake_ns, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&d->wake_ns, wake_ns, __ATOMIC_SEQ_CST);
	if (wake_ns < __atomic_load_n(&d->waker_until, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_add(&d->port.c->rx_doorbell, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &d->port.c->rx_doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}

static void on_arp(struct net *n, const uint8_t *frame, size_t len, uint64_t now)
{
	struct net_dport *d = n->dport;
	struct dwcp_arp a;
	struct dwcp_err err = { 0 };
	uint8_t key[16];

	if (!d->has4 || dwcp_arp_parse(frame, len, &a, &err))
		return;
	dwcp_ip_map4(a.spa, key);
	dwcp_neigh_learn(&d->neigh, key, a.sha, now);
	if (a.op == DWCP_ARP_REQUEST && a.tpa == d->me.ip) {
		struct rte_mbuf *m;
		uint8_t *p = frame_new(n, &m);

		if (p)
			frame_put(n, m, dwcp_arp_build_reply(p, &d->me, &a));
	}
}

/* Neighbour discovery: learn from what answers (or asks) us, answer what
 * asks for our IPv6 address. */
static void on_nd(struct net *n, const uint8_t *frame, size_t len, uint64_t now)
{
	static const uint8_t unspecified[16];
	struct net_dport *d = n->dport;
	struct dwcp_nd nd;
	struct dwcp_err err = { 0 };

	if (dwcp_nd_parse(frame, len, &nd, &err))
		return;
	if (nd.has_mac)
		dwcp_neigh_learn(&d->neigh, nd.type == DWCP_ND_ADVERT ? nd.target : nd.src, nd.mac, now);
	/* A solicitation from the unspecified address is duplicate address
	 * detection: not a question we answer with our MAC. */
	if (nd.type == DWCP_ND_SOLICIT && !memcmp(nd.target, d->me.ip6, 16) && memcmp(nd.src, unspecified, 16)) {
		struct rte_mbuf *m;
		uint8_t *p = frame_new(n, &m);

		if (p)
			frame_put(n, m, dwcp_nd_build_advert(p, &d->me, &nd));
	}
}

/* A UDP datagram to our address and port: a DWCP datagram, or counted bad. */
static void on_datagram(struct net *n, const struct dwcp_udp_rx *u, uint64_t now)
{
	struct net_dport *d = n->dport;
	struct dwcp_dgram_hdr h;
	struct dwcp_err err = { 0 };

	if (dwcp_dgram_hdr_parse(u->payload, u->len, n->ctx->at.shm.buf_size, &h, &err)) {
		net_dport_count(&d->port.shm->dg_bad_rx, 1);
		return;
	}
	if (n->conf->fault_drop_ppm) {
		/* xorshift64: the loss of [net] fault_drop_ppm, for tests */
		d->fault_rng ^= d->fault_rng << 13;
		d->fault_rng ^= d->fault_rng >> 7;
		d->fault_rng ^= d->fault_rng << 17;
		if (d->fault_rng % 1000000u < n->conf->fault_drop_ppm) {
			net_dport_count(&d->port.shm->dg_fault_drops, 1);
			return;
		}
	}
	net_dconn_on_datagram(n, u, &h, now);
}

static unsigned rx_frames(struct net *n, uint64_t now)
{
	struct net_dport *d = n->dport;
	struct rte_mbuf *b[NET_DPORT_BURST];
	unsigned got, total = 0;

	do {
		got = dwcp_port_rx_burst(&d->port, b, NET_DPORT_BURST);
		for (unsigned i = 0; i < got; i++) {
			const uint8_t *p = rte_pktmbuf_mtod(b[i], const uint8_t *);
			struct dwcp_udp_rx u;
			struct dwcp_err err = { 0 };
			int rc;

			/* Frames of one segment only: a DWCP datagram fits an mbuf. */
			rc = dwcp_udp_parse(p, rte_pktmbuf_data_len(b[i]), &d->me, &u, &err);
			if (rc == 1)
				on_arp(n, p, rte_pktmbuf_data_len(b[i]), now);
			else if (rc == 2)
				on_nd(n, p, rte_pktmbuf_data_len(b[i]), now);
			else if (rc == 0)
				on_datagram(n, &u, now);
			dwcp_stats_add(n->ctx->stats, DWCP_STAT_RX_BYTES, rte_pktmbuf_data_len(b[i]));
		}
		if (got)
			rte_pktmbuf_free_bulk(b, got);
		total += got;
	} while (got == NET_DPORT_BURST && total < 16u * NET_DPORT_BURST);
	return total;
}

unsigned net_dport_poll(struct net *n, uint64_t now)
{
	struct net_dport *d = n->dport;
	uint64_t wake = UINT64_MAX;
	unsigned work;

	if (!d)
		return 0;
	/* net_poll cleared pending: a waker parked on it watches the port again. */
	if (__atomic_load_n(&d->waker_parked, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &n->pending, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	__atomic_store_n(&d->wake_ns, UINT64_MAX, __ATOMIC_RELAXED);
	work = rx_frames(n, now);
	/* Backwards: a timer may close its connection (the last one moves in). */
	for (unsigned i = d->n_dconns; i-- > 0;)
		if (i < d->n_dconns)
			net_dconn_timers(n, d->dconns[i], now, &wake);
	if (d->port.ext && n->fl_count[FL_WAIT_ZC] && net_fl_release_waiting(n) && now + EXT_RECHECK_NS < wake)
		wake = now + EXT_RECHECK_NS;
	net_dport_tx_flush(n);
	net_dport_wake_at(n, wake);
	return work;
}

/* ---- the port waker ------------------------------------------------ */

static void *port_waker_main(void *arg)
{
	struct net *n = arg;
	struct net_dport *d = n->dport;

	pthread_setname_np(pthread_self(), "net-port-waker");
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		uint32_t seq = __atomic_load_n(&d->port.c->rx_doorbell, __ATOMIC_ACQUIRE);
		uint64_t now = dwcp_now_ns(), wake = __atomic_load_n(&d->wake_ns, __ATOMIC_ACQUIRE);
		uint64_t t = WAKER_MAX_NS;

		if (dwcp_port_rx_ready(&d->port) || now >= wake) {
			struct timespec ts = { 0, (long)WAKER_MAX_NS };

			if (!__atomic_exchange_n(&n->pending, 1, __ATOMIC_SEQ_CST))
				dwcp_link_notify(&n->ctx->at.shm, n->ctx->at.slot);
			/* Only the time it saw: the loop may have set an earlier one since. */
			if (now >= wake)
				__atomic_compare_exchange_n(&d->wake_ns, &wake, UINT64_MAX, false,
							    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			/* Nothing to watch until the loop takes the work up: the
			 * doorbell moves with every burst the port thread hands
			 * over, and waiting on it here would spin while the loop
			 * is busy. net_dport_poll wakes us when it clears pending. */
			__atomic_store_n(&d->waker_parked, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&n->pending, __ATOMIC_SEQ_CST))
				syscall(SYS_futex, &n->pending, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
			__atomic_store_n(&d->waker_parked, 0, __ATOMIC_RELAXED);
			continue;
		} else if (wake - now < t) {
			t = wake - now;
		}
		/* net_dport_wake_at: publish the sleep, then look once more. */
		__atomic_store_n(&d->waker_until, now + t, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&d->wake_ns, __ATOMIC_SEQ_CST) >= now + t)
			dwcp_port_wait_rx(&d->port, seq, t);
		__atomic_store_n(&d->waker_until, 0, __ATOMIC_RELAXED);
	}
	return NULL;
}

int net_dport_init(struct net *n, char *reason, size_t reason_len)
{
	struct net_dport *d;
	struct dwcp_err err = { 0 };
	uint16_t udp_port;
	unsigned prefix;
	uint32_t room;

	if (!n->conf->dgram)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	n->dport = d;
	d->last = -1;
	d->wake_ns = UINT64_MAX;
	d->fault_rng = dwcp_now_ns() | 1;
	if (dwcp_port_lookup(&d->port, n->worker, &err)) {
		snprintf(reason, reason_len, "%s", err.msg);
		return -ENODEV;
	}
	if (dwcp_port_claim(&d->port, n->ctx->at.slot, &err)) {
		snprintf(reason, reason_len, "%s", err.msg);
		return -EBUSY;
	}
	d->claimed = true;
	d->has4 = n->conf->dgram_ip[0] != '\0';
	d->has6 = n->conf->dgram_ip6[0] != '\0';
	if (d->has4 && dwcp_cidr_parse(n->conf->dgram_ip, &d->me.ip, &prefix)) {
		snprintf(reason, reason_len, "[net] ip = '%s': expected A.B.C.D/N", n->conf->dgram_ip);
		return -EINVAL;
	}
	if (d->has6 && dwcp_cidr6_parse(n->conf->dgram_ip6, d->me.ip6, &d->prefix6)) {
		snprintf(reason, reason_len, "[net] ip6 = '%s': expected ADDR/N", n->conf->dgram_ip6);
		return -EINVAL;
	}
	if (!d->has4 && !d->has6) {
		snprintf(reason, reason_len, "the DPDK port needs [net] ip or [net] ip6");
		return -EINVAL;
	}
	/* The supervisor's steering and ours must agree (ipc/port.h:
	 * dwcp_port_steer): its port, and ours after it for our own
	 * connections when the port has several consumers. */
	udp_port = d->port.shm->steer_port;
	d->mask = d->has4 ? htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix)) : 0;
	d->me.port = htons(udp_port);
	if (d->port.shm->n_consumers > 1)
		d->me.port_out = htons((uint16_t)(udp_port + 1u + n->worker));
	memcpy(d->me.mac, d->port.shm->mac, sizeof(d->me.mac));
	d->me_out = d->me;
	if (d->me.port_out)
		d->me_out.port = d->me.port_out;
	room = (uint32_t)rte_pktmbuf_data_room_size(d->port.pool) - RTE_PKTMBUF_HEADROOM;
	d->per = dwcp_dgram_frag_payload(d->port.shm->mtu < room - DWCP_UDP_ETH_LEN ? d->port.shm->mtu
										   : room - DWCP_UDP_ETH_LEN, 4);
	d->per6 = dwcp_dgram_frag_payload(d->port.shm->mtu < room - DWCP_UDP_ETH_LEN ? d->port.shm->mtu
										    : room - DWCP_UDP_ETH_LEN, 6);
	if (d->per6 < DWCP_DGRAM_MIN_FRAG) {
		snprintf(reason, reason_len, "DPDK port MTU %u: too small for DWCP datagrams (at least %u)",
			 d->port.shm->mtu, DWCP_DGRAM_MIN_FRAG + 68u);
		return -EINVAL;
	}
	dwcp_neigh_init(&d->neigh);
	for (unsigned i = 0; i < n->conf->n_neigh && i < DWCP_NEIGH_STATIC_MAX; i++)
		dwcp_neigh_set_static(&d->neigh, n->conf->neigh[i].ip, n->conf->neigh[i].mac);
	if (n->conf->n_neigh)
		DWCP_INFO("svc-net: %u static neighbour entries ([net] neighbours), never asked for",
			  n->conf->n_neigh);
	if (pthread_create(&d->waker, NULL, port_waker_main, n)) {
		snprintf(reason, reason_len, "cannot start the port waker thread");
		return -EAGAIN;
	}
	d->waker_running = true;
	/* [net] zerocopy = false in this svc-net's config (an upgrade may
	 * bring one) keeps it from attaching, whatever the supervisor offers. */
	if (!n->zerocopy)
		d->port.ext = NULL;
	DWCP_INFO("svc-net: datagrams on DPDK port %s as its consumer %u of %u, %s%s%s UDP port %u (our connections from %u), %u bytes a fragment (%u over IPv6), zero-copy TX %s",
		  d->port.shm->driver, n->worker, d->port.shm->n_consumers, n->conf->dgram_ip,
		  d->has4 && d->has6 ? " and " : "", n->conf->dgram_ip6, udp_port, ntohs(d->me_out.port), d->per,
		  d->per6, d->port.ext ? "on" : "off");
	if (n->conf->fault_drop_ppm)
		DWCP_WARN("svc-net: FAULT INJECTION: dropping %u per million received datagrams ([net] fault_drop_ppm)",
			  n->conf->fault_drop_ppm);
	return 0;
}

void net_dport_fini(struct net *n)
{
	struct net_dport *d = n->dport;

	if (!d)
		return;
	if (d->waker_running) {
		__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &d->port.c->rx_doorbell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		syscall(SYS_futex, &n->pending, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
		pthread_join(d->waker, NULL);
	}
	if (d->n_txb)
		rte_pktmbuf_free_bulk(d->txb, d->n_txb);
	if (d->claimed)
		dwcp_port_release(&d->port);
	free(d);
	n->dport = NULL;
}

