/* svc-net's datagram connections: AMST connections carried as DWCP
 * datagrams (dgram.h) over the node's DPDK port (dport.c), when
 * [net] transport = dpdk.
 *
 * The AMST layer (amst.c, handshake.c) is the same as over TCP: a
 * connection still has a send queue of small frames and chunks, a
 * handshake, and answers. Here a connection is a pair of datagram state
 * machines instead of a socket:
 *   - a small frame (HELLO, AUTH, ACK, NACK, BYE) travels whole as one
 *     datagram message;
 *   - a chunk travels as itself (its own header has stream, sequence,
 *     length and CRC; the CHUNK flag says so) and is reassembled straight
 *     into a pool buffer, with no copy after;
 *   - every message is delivered once, lost fragments are NACKed, and the
 *     sender paces per connection (dgram_rate.c).
 * A connection is named by the peer's IP and UDP port and by which end
 * opened it (the OPENER flag), so two nodes sending to each other hold
 * two. A restarted sender picks a new connection id: its peer sees another
 * id, drops the old connection and the AMST layer resends what was not
 * acknowledged, as after a TCP reset. A restarted receiver answers
 * datagrams of a connection it does not know with RESET.
 *
 * Trust: a connection from the network takes no pool buffer before its
 * handshake (a chunk before it is answered with RESET), counts against
 * [net] max_unauthenticated like a TCP connection, and a node without a
 * key takes none unless [crypto] insecure.
 *
 * Buffers: a chunk buffer stays in its connection's sender until the
 * datagram ACK (fragments may be asked for again). The in-flight table's
 * zerocopy fields (net_internal.h) express exactly that hold: zc_seq is
 * the message number, and the connection's zc_done the oldest message not
 * yet ACKed, so amst.c hands a buffer on only once no fragment of it can
 * be read again.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "dport.h"

#define REORDER_NS     2000000ull         /* a fragment this late is lost: NACK it */
#define RTO_MIN_NS     2000000ull
#define BACKOFF_MAX    8u                 /* probes every RTO << backoff ... */
#define RTO_MAX_NS     100000000ull       /* ... and at least every 100 ms */
#define DEAD_NS        10000000000ull     /* messages out, nothing heard: the peer is gone */
#define IDLE_NS        120000000000ull    /* an incoming connection with nothing to do */
#define TICK_NS        1000000ull         /* timers while anything is in flight */
#define START_RATE     1.0e8              /* bytes/s: Swift raises it within a few RTTs */
#define MIN_RATE       1.0e6
#define MAX_RATE       1.25e9             /* 10 Gbit/s: a vdev reports no speed worth trusting */

_Static_assert(sizeof(void *) == 8, "message cookies hold a buffer index or a small-frame slot");
#define COOKIE_SMALL   (1ull << 32)

/* ... on connection @p c, counted as its peer's: @p body, or (idx not
 * NET_NO_BUF) the fragment of chunk buffer @p idx that @p h describes. */
static int dg_send(struct net *n, int c, const struct dwcp_dgram_hdr *h, const void *body, uint32_t idx)
{
	const struct dwcp_udp_ep *to = &n->conns[c].dg->ep;
	bool ours = n->conns[c].dg->opener;
	int len = idx == NET_NO_BUF ? net_dport_emit(n, to, ours, h, body) : net_dport_emit_frag(n, to, ours, h, idx);
	struct dwcp_peer_ent *ps;

	if (len < 0)
		return len;
	dwcp_stats_add(n->ctx->stats, DWCP_STAT_TX_BYTES, (uint64_t)len);
	ps = net_peer_stat(n, n->conns[c].peer);
	if (ps)
		dwcp_peers_add(&ps->tx_bytes, (uint64_t)len);
	return 0;
}

/* An answer (ACK, NACK) to the sender of messages with id @p conn, or a RESET. */
static void dg_answer(struct net *n, int c, uint8_t type, uint32_t conn, uint64_t msg,
		      const struct dwcp_dgram_range *r, unsigned nr)
{
	struct net_dconn *g = n->conns[c].dg;
	struct dwcp_dgram_hdr h = { .type = type, .conn = conn, .msg = msg,
				    .ts_ns = dwcp_dgram_rx_echo(&g->rx, dwcp_now_ns()),
				    .flags = g->opener ? DWCP_DGRAM_F_OPENER : 0 };
	uint8_t body[4 * DWCP_DGRAM_MAX_RANGES];

	if (nr) {
		h.nfrags = (uint16_t)nr;
		h.len = (uint16_t)dwcp_dgram_ranges_encode(body, r, nr);
	}
	dg_send(n, c, &h, body, NET_NO_BUF);
}

/* RESET to a sender we hold no connection for (no connection slot used). */
static void send_reset(struct net *n, const struct dwcp_udp_ep *to, uint32_t conn)
{
	struct dwcp_dgram_hdr h = { .type = DWCP_DGRAM_RESET, .conn = conn };

	net_dport_emit(n, to, false, &h, NULL);
}

/* ---- connections ------------------------------------------------- */

/* Header bytes of each of @p g's datagrams on the wire. */
static uint32_t dg_overhead(const struct net_dconn *g)
{
	return g->ep.v6 ? NET_DG_OVERHEAD6 : NET_DG_OVERHEAD;
}

static uint32_t new_conn_id(void)
{
	uint32_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint32_t)(dwcp_now_ns() ^ (uint64_t)getpid() << 16);
	return id;
}

static int dconn_new(struct net *n, int peer, bool opener, const struct dwcp_udp_ep *ep)
{
	struct net_dport *d = n->dport;
	struct net_dconn *g = calloc(1, sizeof(*g));
	uint64_t now = dwcp_now_ns();
	int c;

	if (!g)
		return -ENOMEM;
	c = net_conn_new_dgram(n, peer, opener);
	if (c < 0) {
		free(g);
		return c;
	}
	g->ep = *ep;
	g->opener = opener;
	g->last_rx_ns = now;
	g->next_in = 1;
	dwcp_dgram_tx_init(&g->tx, new_conn_id(), ep->v6 ? d->per6 : d->per);
	dwcp_dgram_rx_init(&g->rx, n->ctx->at.shm.buf_size);
	dwcp_dgram_rate_init(&g->rate, START_RATE, MIN_RATE, MAX_RATE, now);
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		g->rx_idx[i] = NET_NO_BUF;
	n->conns[c].dg = g;
	d->dconns[d->n_dconns++] = c;
	return c;
}

int net_dconn_open_out(struct net *n, int peer)
{
	const struct net_peer *p = &n->peers[peer];
	const struct net_dport *d = n->dport;
	struct dwcp_udp_ep ep = { 0 };
	int c;

	/* No routing on the port: a peer in one of its subnets only. */
	if (p->sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&p->sa;

		if (!d->has6)
			return -EAFNOSUPPORT;
		if (!dwcp_ip6_same_prefix(s6->sin6_addr.s6_addr, d->me.ip6, d->prefix6))
			return -ENETUNREACH;
		memcpy(ep.ip6, s6->sin6_addr.s6_addr, 16);
		ep.v6 = true;
		ep.port = s6->sin6_port;
	} else if (p->sa.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->sa;

		if (!d->has4)
			return -EAFNOSUPPORT;
		if ((sin->sin_addr.s_addr & d->mask) != (d->me.ip & d->mask))
			return -ENETUNREACH;
		ep.ip = sin->sin_addr.s_addr;
		ep.port = sin->sin_port;
	} else {
		return -EAFNOSUPPORT;
	}
	c = dconn_new(n, peer, true, &ep);
	if (c >= 0)
		net_hello_out(n, c);
	return c;
}

void net_dconn_free(struct net *n, int c)
{
	struct net_dport *d = n->dport;
	struct net_dconn *g = n->conns[c].dg;

	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (g->rx_idx[i] != NET_NO_BUF)
			dwcp_svc_free(n->ctx, g->rx_idx[i]);
	for (unsigned i = 0; i < d->n_dconns; i++)
		if (d->dconns[i] == c) {
			d->dconns[i] = d->dconns[--d->n_dconns];
			break;
		}
	if (d->last == c)
		d->last = -1;
	free(g);
	n->conns[c].dg = NULL;
	/* Every message of this connection is dropped with it: no buffer is
	 * read for it again (amst.c's net_on_conn_lost forgets zc_conn). */
}

void net_dconn_addr(const struct net *n, int c, char out[DWCP_ADDR_MAX])
{
	const struct net_dconn *g = n->conns[c].dg;
	char ip[INET6_ADDRSTRLEN];

	if (g->ep.v6) {
		inet_ntop(AF_INET6, g->ep.ip6, ip, sizeof(ip));
		snprintf(out, DWCP_ADDR_MAX, "[%s]:%u", ip, ntohs(g->ep.port));
	} else {
		inet_ntop(AF_INET, &g->ep.ip, ip, sizeof(ip));
		snprintf(out, DWCP_ADDR_MAX, "%s:%u", ip, ntohs(g->ep.port));
	}
}

/* ---- sending ------------------------------------------------------- */

/* Queue items into the datagram sender while it has slots. */
static unsigned take_queue(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	struct net_dconn *g = k->dg;
	unsigned moved = 0;

	while (k->q_head != k->q_tail) {
		struct txq_item *it = &k->q[k->q_head % k->q_cap];
		int64_t msg;

		if (it->idx == NET_NO_BUF) {
			unsigned s;

			for (s = 0; s < DWCP_DGRAM_SLOTS && g->stx[s].used; s++)
				;
			if (s == DWCP_DGRAM_SLOTS)
				break;
			msg = dwcp_dgram_tx_track(&g->tx, it->small_len, (void *)(uintptr_t)(COOKIE_SMALL | s));
			if (msg < 0)
				break;
			g->stx[s].used = true;
			g->stx[s].len = it->small_len;
			memcpy(g->stx[s].b, it->small, it->small_len);
		} else {
			struct inflight *f = &n->fl[it->idx];
			uint32_t len = dwcp_shm_hdr(&n->ctx->at.shm, it->idx)->len;

			/* Sent again by amst.c's timer while its message is still
			 * in this sender: the datagram layer delivers it. */
			if (!(f->zc_conn == c && dwcp_dgram_tx_has(&g->tx, f->zc_seq))) {
				msg = dwcp_dgram_tx_track(&g->tx, len, (void *)(uintptr_t)(it->idx + 1u));
				if (msg < 0)
					break;
				f->zc_conn = (int16_t)c;
				f->zc_seq = (uint64_t)msg;
			}
			/* wire bytes: the chunk and a header per fragment */
			it->small_len = (uint16_t)((len + g->tx.per - 1) / g->tx.per * dg_overhead(g));
		}
		net_conn_item_sent(n, c, it);
		k->q_head++;
		moved++;
	}
	if (k->zc_sent < g->tx.next_msg)
		k->zc_sent = g->tx.next_msg;
	return moved;
}

/* Fragments out while the pacer and the TX ring allow. */
static unsigned send_frags(struct net *n, int c, uint64_t now, uint64_t *wake)
{
	struct net_dport *d = n->dport;
	struct net_dconn *g = n->conns[c].dg;
	const uint32_t fsize = g->tx.per + dg_overhead(g);
	unsigned sent = 0, room = net_dport_tx_room(d, 4u * NET_DPORT_BURST);

	while (sent < room) {
		struct dwcp_dgram_hdr h;
		void *cookie;
		uintptr_t ck;
		const uint8_t *src = NULL;
		uint32_t idx = NET_NO_BUF;

		if (!dwcp_dgram_tx_pending(&g->tx))
			break;
		if (!dwcp_dgram_rate_take(&g->rate, now, fsize)) {
			uint64_t t = dwcp_dgram_rate_next_ns(&g->rate, now, fsize);

			if (t < *wake)
				*wake = t;
			break;
		}
		dwcp_dgram_tx_next(&g->tx, now, &h, &cookie);
		ck = (uintptr_t)cookie;
		if (ck & COOKIE_SMALL) {
			src = g->stx[ck & 0xffffffffu].b + h.offset;
		} else {
			idx = (uint32_t)(ck - 1u);
			h.flags |= DWCP_DGRAM_F_CHUNK;
		}
		if (g->opener)
			h.flags |= DWCP_DGRAM_F_OPENER;
		if (dg_send(n, c, &h, src, idx))
			break;   /* no mbuf: the fragment is lost, a NACK or probe brings it back */
		sent++;
	}
	net_dport_count(&d->port.shm->dg_frags_tx, sent);
	if (d->n_zc) {
		net_dport_count(&d->port.shm->dg_frags_zc, d->n_zc);
		d->n_zc = 0;
	}
	return sent;
}

unsigned net_dconn_flush(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	uint64_t now, wake = UINT64_MAX;
	unsigned w;

	if (k->state != CONN_UP)
		return 0;
	now = dwcp_now_ns();
	w = take_queue(n, c);
	w += send_frags(n, c, now, &wake);
	net_dport_tx_flush(n);
	net_dport_wake_at(n, wake);
	return w;
}

/* ---- receiving ----------------------------------------------------- */

/* Whether connection @p g is with @p src (address and port), opened by us when @p mine. */
static bool conn_is(const struct net_dconn *g, const struct dwcp_udp_ep *src, bool mine)
{
	if (g->ep.port != src->port || g->opener != mine || g->ep.v6 != src->v6)
		return false;
	return src->v6 ? !memcmp(g->ep.ip6, src->ip6, 16) : g->ep.ip == src->ip;
}

static int find_conn(struct net *n, const struct dwcp_udp_ep *src, bool mine)
{
	struct net_dport *d = n->dport;

	if (d->last >= 0 && n->conns[d->last].dg && conn_is(n->conns[d->last].dg, src, mine))
		return d->last;
	for (unsigned i = 0; i < d->n_dconns; i++)
		if (conn_is(n->conns[d->dconns[i]].dg, src, mine))
			return d->last = d->dconns[i];
	return -1;
}

/* A whole small message: one AMST frame. */
static void on_small(struct net *n, int c, const uint8_t *b, uint32_t len)
{
	struct dwcp_frame_dec dec;
	struct dwcp_frame f;
	struct dwcp_err err = { 0 };
	size_t used = 0;
	int rc;

	dwcp_frame_dec_init(&dec, n->ctx->at.shm.buf_size);
	rc = dwcp_frame_dec_feed(&dec, b, len, &used, &f, &err);
	if (rc != DWCP_FRAME_READY || used != len || f.type == DWCP_FRAME_CHUNK) {
		DWCP_WARN("svc-net: connection %d: bad frame in a datagram message: %s", c,
			  rc < 0 ? err.msg : "not one whole small frame");
		dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
		net_conn_close(n, c, "bad frame");
		return;
	}
	net_on_frame(n, c, &f);
}

/* Hand whole messages on in message order, ACKing each as it goes: AMST
 * frames must arrive in the order sent (HELLO before AUTH before answers,
 * whose MACs count), and a sender's 64 unACKed messages then always fit
 * the receiver's 64 slots, so a message never waits for a slot that
 * later ones hold. */
static void deliver(struct net *n, int c)
{
	struct net_dconn *g = n->conns[c].dg;

	for (;;) {
		int slot = -1;
		uint32_t idx, total;
		bool chunk;
		uint8_t small[NET_SMALL_MAX];

		for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
			if (g->rx.slot[i].used && g->rx.slot[i].msg == g->next_in) {
				slot = (int)i;
				break;
			}
		if (slot < 0 || g->rx.slot[slot].got != g->rx.slot[slot].nfrags)
			return;
		total = g->rx.slot[slot].total;
		idx = g->rx_idx[slot];
		chunk = idx != NET_NO_BUF;
		dg_answer(n, c, DWCP_DGRAM_ACK, g->rx.conn, g->next_in, NULL, 0);
		g->next_in++;
		g->rx_idx[slot] = NET_NO_BUF;
		if (!chunk)
			memcpy(small, g->srx[slot], total);
		dwcp_dgram_rx_release(&g->rx, slot);
		/* Either may close the connection (and free g). */
		if (chunk)
			net_on_chunk(n, c, idx, total);
		else
			on_small(n, c, small, total);
		if (n->conns[c].dg != g || n->conns[c].state == CONN_FREE)
			return;
	}
}

static void on_data(struct net *n, int c, const struct dwcp_dgram_hdr *h, const uint8_t *payload,
		    uint64_t now)
{
	struct net_dport *d = n->dport;
	struct net_conn *k = &n->conns[c];
	struct net_dconn *g = k->dg;
	struct dwcp_err err = { 0 };
	uint8_t *dropped;
	int slot = -1, rc;
	bool chunk = h->flags & DWCP_DGRAM_F_CHUNK;

	net_dport_count(&d->port.shm->dg_frags_rx, 1);
	if (chunk && (g->opener || k->hs != HS_DONE)) {
		/* Chunks go from the opener to the end that accepted, after the handshake. */
		DWCP_WARN("svc-net: connection %d: a chunk %s; closing it", c,
			  g->opener ? "from the receiver" : "before authentication");
		dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
		if (!g->opener)
			dg_answer(n, c, DWCP_DGRAM_RESET, h->conn, 0, NULL, 0);
		net_conn_close(n, c, "chunk not allowed here");
		return;
	}
	if (!chunk && h->total > NET_SMALL_MAX) {
		net_dport_count(&d->port.shm->dg_bad_rx, 1);
		return;
	}
	rc = dwcp_dgram_rx_put(&g->rx, h, payload, now, &slot, &dropped, &err);
	if (rc == DWCP_DGRAM_RX_NEED_DEST) {
		if (chunk) {
			uint32_t idx;

			/* No buffer, or outputs held back: drop the fragment; the
			 * sender's probe brings it again, as TCP's window would. */
			if (dwcp_svc_backlog(n->ctx) || dwcp_svc_alloc(n->ctx, &idx)) {
				net_dport_count(&d->port.shm->dg_rx_nobuf, 1);
				dwcp_dgram_rx_release(&g->rx, slot);
				return;
			}
			g->rx_idx[slot] = idx;
			dwcp_dgram_rx_set_dest(&g->rx, slot, dwcp_shm_data(&n->ctx->at.shm, idx));
		} else {
			dwcp_dgram_rx_set_dest(&g->rx, slot, g->srx[slot]);
		}
		rc = dwcp_dgram_rx_put(&g->rx, h, payload, now, &slot, &dropped, &err);
	}
	switch (rc) {
	case DWCP_DGRAM_RX_COMPLETE:
		deliver(n, c);
		return;
	case DWCP_DGRAM_RX_DONE_AGAIN:
		/* Whole and handed on: the ACK was lost. Whole and waiting for
		 * an earlier message: it is ACKed when handed on. */
		if (h->msg < g->next_in)
			dg_answer(n, c, DWCP_DGRAM_ACK, h->conn, h->msg, NULL, 0);
		return;
	case DWCP_DGRAM_RX_STORED:
	case DWCP_DGRAM_RX_DUP:
	case DWCP_DGRAM_RX_FULL:   /* dropped: the sender resends */
		return;
	case DWCP_DGRAM_RX_NEED_DEST:
	case DWCP_DGRAM_RX_NEW_CONN:   /* handled before */
		return;
	default:
		if (dropped && slot >= 0 && g->rx_idx[slot] != NET_NO_BUF) {
			dwcp_svc_free(n->ctx, g->rx_idx[slot]);
			g->rx_idx[slot] = NET_NO_BUF;
		}
		net_dport_count(&d->port.shm->dg_bad_rx, 1);
		DWCP_DEBUG("svc-net: connection %d: datagram refused: %s", c, err.msg);
		return;
	}
}

static void rtt_sample(struct net_dconn *g, uint64_t ts, uint64_t now)
{
	if (ts && ts <= now)
		dwcp_dgram_rate_on_rtt(&g->rate, now - ts, now);
}

static void on_answer(struct net *n, int c, const struct dwcp_dgram_hdr *h, const uint8_t *body,
		      uint64_t now)
{
	struct net_dport *d = n->dport;
	struct net_conn *k = &n->conns[c];
	struct net_dconn *g = k->dg;

	if (h->conn != g->tx.conn)
		return;   /* for an earlier connection of ours */
	g->backoff = 0;
	rtt_sample(g, h->ts_ns, now);
	if (h->type == DWCP_DGRAM_NACK) {
		struct dwcp_dgram_range r[DWCP_DGRAM_MAX_RANGES];
		struct dwcp_err err = { 0 };
		int nr = dwcp_dgram_ranges_parse(body, h, r, &err);

		if (nr < 0) {
			net_dport_count(&d->port.shm->dg_bad_rx, 1);
			return;
		}
		net_dport_count(&d->port.shm->dg_nacks_rx, 1);
		net_dport_count(&d->port.shm->dg_frags_resent, dwcp_dgram_tx_on_nack(&g->tx, h->msg, r, (unsigned)nr));
		dwcp_dgram_rate_on_loss(&g->rate, now);
	} else {
		uintptr_t ck = (uintptr_t)dwcp_dgram_tx_on_ack(&g->tx, h->msg);
		uint64_t low;

		if (ck & COOKIE_SMALL)
			g->stx[ck & 0xffffffffu].used = false;
		low = dwcp_dgram_tx_low(&g->tx);
		if (low > k->zc_done) {
			k->zc_done = low;
			net_fl_release_waiting(n);   /* buffers whose messages are all ACKed move on */
		}
	}
}

void net_dconn_on_datagram(struct net *n, const struct dwcp_udp_rx *u, const struct dwcp_dgram_hdr *hp,
			   uint64_t now)
{
	struct net_dport *d = n->dport;
	const struct dwcp_dgram_hdr h = *hp;
	struct dwcp_peer_ent *ps;
	bool theirs;
	int c;

	theirs = h.flags & DWCP_DGRAM_F_OPENER;   /* a connection the sender opened */
	c = find_conn(n, &u->src, !theirs);
	if (c >= 0 && theirs && h.type == DWCP_DGRAM_DATA && n->conns[c].dg->rx.conn &&
	    h.conn != n->conns[c].dg->rx.conn) {
		/* The opener restarted (a new id): its old connection is gone. */
		net_conn_close(n, c, "the peer opened a new connection (it restarted)");
		c = -1;
	}
	if (c < 0) {
		if (!theirs || h.type == DWCP_DGRAM_RESET)
			return;   /* an answer for a connection of ours that is gone */
		if (h.type != DWCP_DGRAM_DATA || h.flags & DWCP_DGRAM_F_CHUNK || h.frag) {
			/* Not the start of a connection: we restarted, or never knew it. */
			send_reset(n, &u->src, h.conn);
			return;
		}
		if (u->dst_port != d->me.port) {
			/* Peers open connections to [net] listen's port; this
			 * worker's own port carries answers to its connections. */
			net_dport_count(&d->port.shm->dg_bad_rx, 1);
			return;
		}
		if (!n->keyed && !n->conf->insecure) {
			if (!d->warned_keyless)
				DWCP_ERR("svc-net: no key: refusing datagram connections from the network. Make a key (dwcp keygen) and name it in [crypto] key_file on both nodes; or, knowingly, set [crypto] insecure = true");
			d->warned_keyless = true;
			return;
		}
		if (n->n_unauth >= n->max_unauth)
			net_conn_evict_unauthenticated(n);
		c = dconn_new(n, -1, false, &u->src);
		if (c < 0)
			return;
	}
	n->conns[c].dg->last_rx_ns = now;
	ps = net_peer_stat(n, n->conns[c].peer);
	if (ps)
		dwcp_peers_add(&ps->rx_bytes, u->len + DWCP_UDP_HDRS_LEN);
	if (h.type == DWCP_DGRAM_DATA) {
		on_data(n, c, &h, u->payload + DWCP_DGRAM_HDR_LEN, now);
	} else if (h.type == DWCP_DGRAM_RESET) {
		if (n->conns[c].dg->opener && h.conn == n->conns[c].dg->tx.conn)
			net_conn_close(n, c, "the peer holds no such connection (it restarted)");
	} else {
		on_answer(n, c, &h, u->payload + DWCP_DGRAM_HDR_LEN, now);
	}
}

/* ---- timers ------------------------------------------------------- */

/* ARP or neighbour discovery for an outgoing connection's peer; up once its MAC is known. */
static void resolve(struct net *n, int c, uint64_t now)
{
	struct net_dport *d = n->dport;
	struct net_dconn *g = n->conns[c].dg;
	uint8_t mac[6], key[16];

	net_dport_neigh_key(&g->ep, key);
	switch (dwcp_neigh_lookup(&d->neigh, key, now, mac)) {
	case DWCP_NEIGH_ASK_AND_SEND:
	case DWCP_NEIGH_SEND:
		memcpy(g->ep.mac, mac, sizeof(mac));
		n->conns[c].state = CONN_UP;
		n->peers[n->conns[c].peer].last_error = 0;
		net_conn_flush(n, c);
		break;
	case DWCP_NEIGH_ASK:
		net_dport_neigh_ask(n, &g->ep);
		break;
	case DWCP_NEIGH_WAIT:
		break;
	case DWCP_NEIGH_UNREACHABLE:
		n->peers[n->conns[c].peer].last_error = EHOSTUNREACH;
		net_conn_close(n, c, g->ep.v6 ? "no neighbour advertisement for the peer's IPv6 address"
					      : "no ARP reply from the peer's address");
		break;
	}
}

static bool conn_busy(const struct net_dconn *g)
{
	if (dwcp_dgram_tx_low(&g->tx) < g->tx.next_msg)
		return true;
	for (unsigned i = 0; i < DWCP_DGRAM_SLOTS; i++)
		if (g->rx.slot[i].used)
			return true;
	return false;
}

void net_dconn_timers(struct net *n, int c, uint64_t now, uint64_t *wake)
{
	struct net_dport *d = n->dport;
	struct net_conn *k = &n->conns[c];
	struct net_dconn *g = k->dg;
	struct dwcp_dgram_range r[DWCP_DGRAM_MAX_RANGES];
	uint64_t msg, rto;
	unsigned nr, probes;
	bool busy;

	if (k->state == CONN_CONNECTING) {
		resolve(n, c, now);
		return;
	}
	while ((nr = dwcp_dgram_rx_nack(&g->rx, now, REORDER_NS, &msg, r)) > 0) {
		dg_answer(n, c, DWCP_DGRAM_NACK, g->rx.conn, msg, r, nr);
		net_dport_count(&d->port.shm->dg_nacks_tx, 1);
	}
	rto = g->rate.srtt_ns * 4 > RTO_MIN_NS ? g->rate.srtt_ns * 4 : RTO_MIN_NS;
	rto <<= g->backoff;
	probes = dwcp_dgram_tx_timers(&g->tx, now, rto < RTO_MAX_NS ? rto : RTO_MAX_NS);
	if (probes) {
		net_dport_count(&d->port.shm->dg_frags_resent, probes);
		net_dport_count(&d->port.shm->dg_probes, probes);
		if (g->backoff < BACKOFF_MAX)
			g->backoff++;
	}
	busy = conn_busy(g);
	if (busy && now - g->last_rx_ns > DEAD_NS) {
		net_conn_close(n, c, "no datagram from the peer for 10 s");
		return;
	}
	if (!busy && !k->outgoing && now - g->last_rx_ns > IDLE_NS) {
		net_conn_close(n, c, "idle");
		return;
	}
	if (k->q_head != k->q_tail || busy)
		net_dconn_flush(n, c);
	if (busy && now + TICK_NS < *wake)
		*wake = now + TICK_NS;
}
