/* svc-net's DPDK port ([net] transport = dpdk), shared by its two halves:
 * the port side (dport.c: frames in and out of the port's rings, ARP, the
 * waker thread) and the datagram connections carried over it (dconn.c).
 * Private to svc-net. */
#ifndef DWCP_SVC_NET_DPORT_H
#define DWCP_SVC_NET_DPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/port.h"
#include "dgram.h"
#include "neigh.h"
#include "net_internal.h"
#include "udp.h"

#define NET_DPORT_BURST 64u
#define NET_DG_OVERHEAD (DWCP_UDP_HDRS_LEN + DWCP_DGRAM_HDR_LEN)     /* IPv4 */
#define NET_DG_OVERHEAD6 (DWCP_UDP6_HDRS_LEN + DWCP_DGRAM_HDR_LEN)   /* IPv6 */

struct rte_mbuf;

struct dg_small {
	bool used;
	uint16_t len;
	uint8_t b[NET_SMALL_MAX];
};

struct net_dconn {
	struct dwcp_udp_ep ep;            /* the peer: MAC once known, IP, UDP port */
	bool opener;                      /* we opened it */
	struct dwcp_dgram_tx tx;
	struct dwcp_dgram_rx rx;
	struct dwcp_dgram_rate rate;
	uint64_t last_rx_ns;
	uint64_t next_in;                 /* the next message to hand on */
	unsigned backoff;                 /* probes since the last answer */
	uint32_t rx_idx[DWCP_DGRAM_SLOTS];  /* pool buffer a chunk is reassembled into */
	struct dg_small stx[DWCP_DGRAM_SLOTS];
	uint8_t srx[DWCP_DGRAM_SLOTS][NET_SMALL_MAX];
};

struct net_dport {
	struct dwcp_port port;
	struct dwcp_udp_ep me;            /* ip and/or ip6: [net] ip, [net] ip6 */
	struct dwcp_udp_ep me_out;        /* the same, from the port our own connections leave from */
	bool has4, has6;
	uint32_t mask;                    /* of [net] ip's prefix, network order */
	unsigned prefix6;                 /* of [net] ip6 */
	uint32_t per, per6;               /* payload bytes per fragment, over IPv4 and over IPv6 */
	uint16_t ip_id;
	struct dwcp_neigh neigh;
	int dconns[NET_MAX_CONNS];        /* the datagram connections, in no order */
	unsigned n_dconns;
	int last;                         /* the connection the last datagram was for */
	struct rte_mbuf *txb[NET_DPORT_BURST];
	unsigned n_txb;
	uint64_t n_zc;                    /* fragments attached since the last count in the port page */
	uint64_t wake_ns;                 /* writer: loop; reader: waker. UINT64_MAX = no timer */
	uint64_t waker_until;             /* writer: waker: its sleep ends then; 0 = awake */
	uint32_t waker_parked;            /* writer: waker: it waits for the loop to clear pending */
	uint64_t fault_rng;
	int stop;
	pthread_t waker;
	bool waker_running, warned_keyless, claimed;
};

/* A counter in the port's shared block (the supervisor shows it). */
static inline void net_dport_count(uint64_t *field, uint64_t v)
{
	__atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}

/* dport.c: the port side */
void net_dport_tx_flush(struct net *n);
/** Room for @p want more frames in the TX ring, after those in hand. */
unsigned net_dport_tx_room(const struct net_dport *d, unsigned want);
/**
 * One DWCP datagram to @p to: header, then @p body; from our own
 * connections' port if @p ours (we opened the connection), else from the
 * port peers send to. @return the frame's bytes, or -ENOBUFS.
 */
int net_dport_emit(struct net *n, const struct dwcp_udp_ep *to, bool ours, const struct dwcp_dgram_hdr *h,
		   const void *body);
/**
 * The fragment of chunk buffer @p idx that @p h describes (h->offset,
 * h->len), to @p to: attached to an mbuf where the port offers zero-copy
 * TX (ipc/port.h), else copied. @return as net_dport_emit.
 */
int net_dport_emit_frag(struct net *n, const struct dwcp_udp_ep *to, bool ours, const struct dwcp_dgram_hdr *h,
			uint32_t idx);
/** Ask for @p ep's MAC: an ARP request, or a neighbour solicitation over IPv6. */
void net_dport_neigh_ask(struct net *n, const struct dwcp_udp_ep *ep);
/** @p ep's address as the neighbour table keys it. */
void net_dport_neigh_key(const struct dwcp_udp_ep *ep, uint8_t key[16]);
/** Ask the waker to wake the loop at @p wake_ns (if earlier than it would). */
void net_dport_wake_at(struct net *n, uint64_t wake_ns);

/* dconn.c: the datagram connections */
/** A datagram for us, its header checked. */
void net_dconn_on_datagram(struct net *n, const struct dwcp_udp_rx *u, const struct dwcp_dgram_hdr *h,
			   uint64_t now);
/** One connection's timers; lowers @p wake to when it needs the next. */
void net_dconn_timers(struct net *n, int c, uint64_t now, uint64_t *wake);

#endif
