/* svc-net: AMST peers, the sender's in-flight table, and what frames mean
 * (net_internal.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/ops/compress.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/route.h"
#include "net_internal.h"

#define FL_TOMB        UINT32_MAX
#define TIMER_NS       (50ull * 1000000ull)
#define BACKOFF_MIN_NS (100ull * 1000000ull)
#define BACKOFF_MAX_NS (5000ull * 1000000ull)
#define ENORECV_RETRY_NS (200ull * 1000000ull)
/* A received chunk's h->origin: generation << 32 | stream entry << 16 |
 * flags | slot << 8 | peer (ipc/buf_hdr.h) */
#define ORIGIN_COUNTED 0x8000u   /* it took one of the stream's quota */
#define ORIGIN_PEER    0x00ffu
_Static_assert(!(ORIGIN_COUNTED & DWCP_BUF_ORIGIN_SLOT_MASK) && !(ORIGIN_PEER & DWCP_BUF_ORIGIN_SLOT_MASK) &&
	       NET_MAX_PEERS <= ORIGIN_PEER + 1 && DWCP_MAX_SLOTS <= 64, "origin fields apart");

/* ---- the in-flight table: (stream, seq) -> buffer ---- */

static uint32_t fl_hash(uint64_t stream, uint64_t seq)
{
	uint64_t x = stream ^ (seq * 0x9e3779b97f4a7c15ull);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x ^ (x >> 29));
}

int net_fl_init(struct net *n)
{
	uint32_t size = 1;

	while (size < 2u * n->ctx->at.shm.n_bufs)
		size <<= 1;
	n->fl = calloc(n->ctx->at.shm.n_bufs, sizeof(*n->fl));
	n->fl_hash = calloc(size, sizeof(*n->fl_hash));
	if (!n->fl || !n->fl_hash)
		return -ENOMEM;
	n->fl_mask = size - 1;
	for (unsigned st = 0; st < FL_N_STATES; st++)
		n->fl_head[st] = n->fl_tail[st] = NET_NO_BUF;
	return 0;
}

static void fl_unlink(struct net *n, uint32_t idx)
{
	struct inflight *f = &n->fl[idx];
	unsigned st = f->state;

	if (f->l_prev != NET_NO_BUF)
		n->fl[f->l_prev].l_next = f->l_next;
	else
		n->fl_head[st] = f->l_next;
	if (f->l_next != NET_NO_BUF)
		n->fl[f->l_next].l_prev = f->l_prev;
	else
		n->fl_tail[st] = f->l_prev;
	n->fl_count[st]--;
}

void net_fl_set_state(struct net *n, uint32_t idx, enum fl_state st)
{
	struct inflight *f = &n->fl[idx];

	if (f->state == st)
		return;
	if (f->state != FL_FREE)
		fl_unlink(n, idx);
	f->state = (uint8_t)st;
	if (st == FL_FREE)
		return;
	f->l_next = NET_NO_BUF;
	f->l_prev = n->fl_tail[st];
	if (f->l_prev != NET_NO_BUF)
		n->fl[f->l_prev].l_next = idx;
	else
		n->fl_head[st] = idx;
	n->fl_tail[st] = idx;
	n->fl_count[st]++;
}

static void fl_hash_put(struct net *n, uint32_t idx)
{
	const struct dwcp_buf_hdr *h = dwcp_shm_hdr(&n->ctx->at.shm, idx);

	for (uint32_t i = fl_hash(h->stream, h->seq), k = 0; k <= n->fl_mask; i++, k++) {
		uint32_t *s = &n->fl_hash[i & n->fl_mask];

		if (*s == 0 || *s == FL_TOMB) {
			n->fl_tombs -= *s == FL_TOMB;
			*s = idx + 1;
			return;
		}
	}
}

/* Tombstones keep lookups of absent keys (a duplicate's ACK) probing
 * until an empty slot: past a quarter of the table, rebuild it from the
 * entries in flight (they are all on the state lists). */
static void fl_hash_rebuild(struct net *n)
{
	memset(n->fl_hash, 0, ((size_t)n->fl_mask + 1) * sizeof(*n->fl_hash));
	n->fl_tombs = 0;
	for (unsigned st = FL_FREE + 1; st < FL_N_STATES; st++)
		for (uint32_t i = n->fl_head[st]; i != NET_NO_BUF; i = n->fl[i].l_next)
			fl_hash_put(n, i);
}

static void fl_insert(struct net *n, uint32_t idx)
{
	if (n->fl_tombs > (n->fl_mask + 1) / 4)
		fl_hash_rebuild(n);
	fl_hash_put(n, idx);
}

static uint32_t chunk_xfer(const struct net *n, uint32_t idx)
{
	return ((const struct dwcp_chunk_hdr *)dwcp_shm_data(&n->ctx->at.shm, idx))->xfer;
}

/* @return the slot holding (stream, xfer, seq), or NULL. The transfer
 * counts: a killed `dwcp send`'s chunks may still be in flight when the
 * next run of the same stream sends the same sequence numbers, and an
 * answer must reach the run it is for, never shadow the other's entry. */
static uint32_t *fl_slot(struct net *n, uint64_t stream, uint32_t xfer, uint64_t seq)
{
	for (uint32_t i = fl_hash(stream, seq), k = 0; k <= n->fl_mask; i++, k++) {
		uint32_t *s = &n->fl_hash[i & n->fl_mask];
		const struct dwcp_buf_hdr *h;

		if (*s == 0)
			return NULL;
		if (*s == FL_TOMB)
			continue;
		h = dwcp_shm_hdr(&n->ctx->at.shm, *s - 1);
		if (h->stream == stream && h->seq == seq && chunk_xfer(n, *s - 1) == xfer)
			return s;
	}
	return NULL;
}

/* Modelled in tests/model/keep.pml (svc: an ACK of this generation). */
/* Hand a transmitted chunk on to its client: acknowledged, or refused. */
static void fl_release(struct net *n, uint32_t idx, int status, uint64_t result)
{
	net_fl_forget(n, idx);
	dwcp_shm_hdr(&n->ctx->at.shm, idx)->result = result;
	dwcp_svc_pass(n->ctx, idx, status);
}

void net_fl_forget(struct net *n, uint32_t idx)
{
	const struct dwcp_buf_hdr *h = dwcp_shm_hdr(&n->ctx->at.shm, idx);
	uint32_t *s = fl_slot(n, h->stream, chunk_xfer(n, idx), h->seq);

	if (s && *s == idx + 1) {
		*s = FL_TOMB;
		n->fl_tombs++;
	}
	net_fl_set_state(n, idx, FL_FREE);
}

/* Whether buffer @p idx may still be read for a send: its last zerocopy
 * send (a socket's, or a datagram message not yet ACKed) is not complete,
 * or a fragment of it attached to an mbuf is still out on the DPDK port. */
static bool fl_zc_busy(const struct net *n, const struct inflight *f)
{
	return f->zc_conn >= 0 && n->conns[f->zc_conn].zc_done <= f->zc_seq;
}

static bool fl_busy(const struct net *n, uint32_t idx)
{
	return fl_zc_busy(n, &n->fl[idx]) || net_dport_buf_busy(n, idx);
}

/* As fl_release, but not before the kernel and the port are done with the
 * buffer: until then it is still theirs to read, and handing it on would
 * let its next owner change bytes still to be sent. */
void net_fl_finish(struct net *n, uint32_t idx, int status, uint64_t result)
{
	struct inflight *f = &n->fl[idx];

	if (fl_busy(n, idx)) {
		net_fl_set_state(n, idx, FL_WAIT_ZC);
		f->done_status = (uint16_t)status;
		f->done_result = result;
		return;
	}
	fl_release(n, idx, status, result);
}

/* ---- peers ---- */

static void peer_set_error(struct net *n, int p, int e)
{
	const struct dwcp_stream_ent *t = n->ctx->at.shm.node->streams;
	struct net_peer *pe = &n->peers[p];
	struct dwcp_peer_ent *ps = net_peer_stat(n, p);

	if (ps)
		__atomic_store_n(&ps->last_error, e, __ATOMIC_RELAXED);
	for (int i = 0; i < DWCP_MAX_STREAMS; i++) {
		if (!(pe->streams & (1ull << i)))
			continue;
		/* The entry may have been given to another send since. */
		if (t[i].role != DWCP_STREAM_SEND || strcmp(t[i].peer, pe->addr) != 0) {
			pe->streams &= ~(1ull << i);
			continue;
		}
		dwcp_streams_set_net_error(&n->ctx->at.shm, i, e);
	}
}

/* Whether the `dwcp send` run of this chunk still runs: a later run of
 * the same stream is another transfer, not its sender. */
static bool sender_alive(struct net *n, uint32_t idx)
{
	struct dwcp_stream_ent e;

	return dwcp_streams_find(&n->ctx->at.shm, DWCP_STREAM_SEND,
				 dwcp_shm_hdr(&n->ctx->at.shm, idx)->stream, &e) >= 0 &&
	       e.xfer == chunk_xfer(n, idx);
}

/* Queued chunks whose `dwcp send` is gone leave the queue for the pool. */
static void peer_drop_orphans(struct net *n, int p);

/* Before the peer's connections count: svc-rdma ties an RDMA connection
 * to the peer by this session (ipc/peers.h). */
static void peer_publish_session(struct net *n, int p)
{
	struct dwcp_peer_ent *ps = net_peer_stat(n, p);
	const struct net_peer *pe = &n->peers[p];

	/* RDMA carries one session's chunks per peer: a first worker's
	 * (ipc/peers.h), here or at the sender. */
	if (!ps || (pe->outgoing ? n->worker != 0 : dwcp_frame_session_of_worker(pe->session)))
		return;
	memcpy(ps->session, pe->session, sizeof(ps->session));
	if (!pe->outgoing)
		__atomic_store_n(&ps->net_slot, n->ctx->at.slot, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

int net_peer_out(struct net *n, const char *addr, struct dwcp_err *err)
{
	int free_p = -1;
	struct net_peer *p;

	for (unsigned i = 0; i < NET_MAX_PEERS; i++) {
		if (n->peers[i].used && n->peers[i].outgoing && strcmp(n->peers[i].addr, addr) == 0)
			return (int)i;
		if (!n->peers[i].used && free_p < 0)
			free_p = (int)i;
	}
	if (free_p < 0)
		return dwcp_err_set(err, -ENOSPC, "more than %u peers", NET_MAX_PEERS);
	p = &n->peers[free_p];
	memset(p, 0, sizeof(*p));
	if (dwcp_addr_resolve(addr, &p->sa, &p->sa_len, err))
		return err->code;
	p->cap_pending = 256;
	p->pending = malloc(p->cap_pending * sizeof(*p->pending));
	if (!p->pending)
		return dwcp_err_set(err, -ENOMEM, "out of memory");
	if (getrandom(p->session, sizeof(p->session), 0) != sizeof(p->session))
		memset(p->session, (int)free_p, sizeof(p->session));
	if (n->worker)
		memcpy(p->session, DWCP_FRAME_SESSION_WORKER, DWCP_FRAME_SESSION_WORKER_LEN);
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->outgoing = true;
	/* One connection over datagrams: a datagram connection has no
	 * per-connection bottleneck (one port queue carries them all) and a
	 * chunk buffer is then in one connection's sender at a time. */
	p->n_conns = n->dport ? 1 : n->n_connections;
	p->used = true;
	/* The address came from a local `dwcp send`, not from the network:
	 * an entry before any handshake lets operators see a peer never reached. */
	p->stat = dwcp_peers_claim(&n->ctx->at.shm, DWCP_PEER_OUT, addr, "", dwcp_now_ns());
	peer_publish_session(n, free_p);
	return free_p;
}

/* The peer's connections; @p ready: only those past the handshake (where
 * chunks and answers may go). */
static int peer_conns_of(const struct net *n, int p, bool ready, int *out, unsigned max)
{
	int k = 0;

	for (unsigned c = 0; c < NET_MAX_CONNS && (unsigned)k < max; c++)
		if (n->conns[c].state != CONN_FREE && n->conns[c].peer == p &&
		    (!ready || (n->conns[c].state == CONN_UP && n->conns[c].hs == HS_DONE)))
			out[k++] = (int)c;
	return k;
}

int net_peer_ready_conn(const struct net *n, int p)
{
	int c;

	return peer_conns_of(n, p, true, &c, 1) ? c : -1;
}

void net_peer_stat_update(struct net *n, int p)
{
	struct dwcp_peer_ent *ps = net_peer_stat(n, p);
	const int stat = n->peers[p].stat;
	unsigned k = 0;

	if (!ps)
		return;
	/* This worker's connections past the handshake to every session the
	 * entry stands for (a sender's workers each have their own, and a
	 * restarted sender's old one may linger). */
	for (unsigned c = 0; c < NET_MAX_CONNS; c++) {
		const struct net_conn *kc = &n->conns[c];

		k += kc->state == CONN_UP && kc->hs == HS_DONE && kc->peer >= 0 &&
		     n->peers[kc->peer].used && n->peers[kc->peer].stat == stat;
	}
	__atomic_store_n(&ps->conns_w[n->worker], (uint8_t)(k > UINT8_MAX ? UINT8_MAX : k),
			 __ATOMIC_RELAXED);
	if (n->peers[p].outgoing)
		__atomic_store_n(&ps->last_error, n->peers[p].last_error, __ATOMIC_RELAXED);
	__atomic_store_n(&ps->last_ns, dwcp_now_ns(), __ATOMIC_RELAXED);
}

static int peer_conns(const struct net *n, int p, int *out, unsigned max)
{
	return peer_conns_of(n, p, false, out, max);
}

void net_pending_push(struct net *n, int p, uint32_t idx)
{
	struct net_peer *pe = &n->peers[p];

	if (pe->n_pending == pe->cap_pending) {
		uint32_t *q = realloc(pe->pending, 2u * pe->cap_pending * sizeof(*q));

		if (!q) {
			/* Keep it in flight: the resend timer picks it up. */
			net_fl_set_state(n, idx, FL_SENT);
			n->fl[idx].sent_ns = 0;
			return;
		}
		pe->pending = q;
		pe->cap_pending *= 2;
	}
	net_fl_set_state(n, idx, FL_QUEUED);
	n->fl[idx].conn = -1;
	pe->pending[pe->n_pending++] = idx;
}

/* Stripe the peer's queued chunks over its connections. */
unsigned net_peer_dispatch(struct net *n, int p)
{
	struct net_peer *pe = &n->peers[p];
	int cs[DWCP_FRAME_MAX_CONNS];
	int k = peer_conns_of(n, p, true, cs, DWCP_FRAME_MAX_CONNS);
	/* With an RDMA path a first send waits for it; TCP takes resends */
	bool rdma = k && net_rdma_usable(n, p);
	unsigned moved = rdma ? net_rdma_dispatch(n, p) : 0, kept = 0;

	if (!k || !pe->n_pending)
		return moved;
	moved += pe->n_pending;
	for (uint32_t i = 0; i < pe->n_pending; i++) {
		int c = cs[pe->rr++ % (unsigned)k];

		if (rdma && !n->fl[pe->pending[i]].resends) {
			pe->pending[kept++] = pe->pending[i];
			moved--;
		} else if (n->conns[c].state != CONN_FREE) {
			net_conn_queue_chunk(n, c, pe->pending[i]);
		}
	}
	pe->n_pending = kept;
	for (int i = 0; i < k; i++)
		if (n->conns[cs[i]].state == CONN_UP)
			net_conn_flush(n, cs[i]);
	return moved;
}

static void peer_backoff(struct net_peer *pe, uint64_t now)
{
	pe->backoff_ns = pe->backoff_ns ? pe->backoff_ns * 2 : BACKOFF_MIN_NS;
	if (pe->backoff_ns > BACKOFF_MAX_NS)
		pe->backoff_ns = BACKOFF_MAX_NS;
	pe->next_try_ns = now + pe->backoff_ns;
}

static void peer_connect(struct net *n, int p, uint64_t now)
{
	struct net_peer *pe = &n->peers[p];
	int cs[DWCP_FRAME_MAX_CONNS];
	int k = peer_conns(n, p, cs, DWCP_FRAME_MAX_CONNS);

	if (now < pe->next_try_ns)
		return;
	while ((unsigned)k < pe->n_conns) {
		int c = net_conn_open_out(n, p);

		if (c < 0) {
			struct dwcp_peer_ent *ps = net_peer_stat(n, p);

			if (ps)
				dwcp_peers_add(&ps->connect_failures, 1);
			pe->last_error = -c;
			peer_set_error(n, p, -c);
			peer_backoff(pe, now);
			return;
		}
		k++;
	}
}

/* ---- sender ---- */

/* Modelled in tests/model/keep.pml (svc: net_transmit, DWCP_SVC_KEEP). */
int net_transmit(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h)
{
	struct dwcp_stream_ent e;
	struct dwcp_err err = { 0 };
	int ent = dwcp_streams_find(&n->ctx->at.shm, DWCP_STREAM_SEND, h->stream, &e), p;
	struct inflight *f = &n->fl[idx];

	if (ent < 0 || e.xfer != chunk_xfer(n, idx))
		return DWCP_BUF_ENOPEER;    /* its `dwcp send` is gone (another may run) */
	p = net_peer_out(n, e.peer, &err);
	if (p < 0) {
		DWCP_WARN("svc-net: stream %s: %s", e.name, err.msg);
		dwcp_streams_set_net_error(&n->ctx->at.shm, ent, -p);
		return DWCP_BUF_ENOPEER;
	}
	net_fl_set_state(n, idx, FL_FREE);   /* (it is: a new chunk) before its list links go */
	memset(f, 0, sizeof(*f));
	f->conn = -1;
	f->stream_ent = (int8_t)ent;
	f->peer = (uint8_t)p;
	f->zc_conn = -1;
	n->peers[p].streams |= 1ull << ent;
	fl_insert(n, idx);
	net_pending_push(n, p, idx);
	peer_connect(n, p, dwcp_now_ns());
	net_peer_dispatch(n, p);
	return DWCP_SVC_KEEP;
}

void net_resend(struct net *n, uint32_t idx)
{
	struct dwcp_peer_ent *ps = net_peer_stat(n, n->fl[idx].peer);

	n->fl[idx].resends++;
	dwcp_stats_add(n->ctx->stats, DWCP_STAT_RESENT, 1);
	if (ps)
		dwcp_peers_add(&ps->chunks_resent, 1);
	net_pending_push(n, n->fl[idx].peer, idx);
}

void net_on_ack(struct net *n, const struct dwcp_frame_ack *a, bool ok)
{
	uint32_t *s = fl_slot(n, a->stream, a->xfer, a->seq);
	uint32_t idx;
	struct inflight *f;
	struct dwcp_peer_ent *ps;
	uint64_t now;

	/* A duplicate's answer, one for a previous generation's send, or
	 * for another transfer of this stream. */
	if (!s)
		return;
	idx = *s - 1;
	f = &n->fl[idx];
	dwcp_streams_set_net_error(&n->ctx->at.shm, f->stream_ent, 0);
	if (f->state == FL_WAIT_ZC)
		return;   /* its outcome is decided; the kernel still reads it */
	ps = net_peer_stat(n, f->peer);
	if (ps && ok && !f->acked) {
		now = dwcp_now_ns();
		dwcp_peers_add(&ps->chunks_acked, 1);
		/* sent_ns may lie ahead (a retry scheduled after EBUSY) */
		dwcp_peers_add(&ps->ack_wait_ns, now > f->sent_ns ? now - f->sent_ns : 0);
	} else if (ps && !ok) {
		dwcp_peers_add(&ps->chunks_refused, 1);
	}
	if (f->state == FL_RDMA) {
		/* svc-rdma has not handed it back yet: decided when it does */
		if (ok)
			f->acked = true;
		else
			f->rdma_nack = (uint16_t)a->status;
		return;
	}
	if (ok) {
		f->acked = true;
		if (f->state == FL_QUEUED)
			return;   /* a resend is queued: released when it has been written */
		net_fl_finish(n, idx, DWCP_BUF_OK, f->resends);
		return;
	}
	if (f->state == FL_QUEUED)
		return;
	switch (a->status) {
	case DWCP_BUF_EBADCRC:
	case DWCP_BUF_EBADCHUNK:
		net_resend(n, idx);   /* damaged on the wire: our copy is intact */
		break;
	case DWCP_BUF_EAUTH:
		/* Damage on the wire fails the CRC, checked before authentication;
		 * a chunk that passed it and failed AEAD was sealed with another
		 * key (or forged): resending cannot help, the transfer stops. */
		net_fl_finish(n, idx, DWCP_BUF_ENACK, a->status);
		break;
	case DWCP_BUF_EBUSY:
		/* The receiver holds its quota of this stream's chunks: the
		 * same short wait as for a receiver not there yet, silently. */
		net_fl_set_state(n, idx, FL_SENT);
		f->sent_ns = dwcp_now_ns() + ENORECV_RETRY_NS - (uint64_t)n->conf->resend_ms * 1000000ull;
		break;
	case DWCP_BUF_ENORECV:
		/* Nobody receives the stream yet (a `dwcp recv` started after
		 * `dwcp send`): try again soon — not after a whole resend_ms, a
		 * receiver that appears would otherwise wait that long — and let
		 * `dwcp send` say what it waits for. */
		dwcp_streams_set_net_error(&n->ctx->at.shm, f->stream_ent, ENOENT);
		net_fl_set_state(n, idx, FL_SENT);
		f->sent_ns = dwcp_now_ns() + ENORECV_RETRY_NS - (uint64_t)n->conf->resend_ms * 1000000ull;
		break;
	default:
		net_fl_finish(n, idx, DWCP_BUF_ENACK, a->status);
		break;
	}
	net_peer_dispatch(n, f->peer);
}

unsigned net_fl_release_waiting(struct net *n)
{
	/* Completions come for every zerocopy send; an ACK that beat its
	 * completion is rare, so the scan runs only when one is waiting. */
	uint32_t i = n->fl_head[FL_WAIT_ZC], left = n->fl_count[FL_WAIT_ZC];
	unsigned port_held = 0;

	while (i != NET_NO_BUF && left--) {
		struct inflight *f = &n->fl[i];
		uint32_t next = f->l_next;   /* releasing i takes it off the list */

		if (!fl_busy(n, i))
			fl_release(n, i, f->done_status, f->done_result);
		else if (!fl_zc_busy(n, f))
			port_held++;
		i = next;
	}
	return port_held;
}

void net_on_conn_lost(struct net *n, int c)
{
	struct net_conn *k = &n->conns[c];
	uint64_t now = dwcp_now_ns();

	/* Queued chunks: to the peer's queue, to go out on another connection. */
	for (uint32_t i = k->q_head; i != k->q_tail; i++) {
		uint32_t idx = k->q[i % k->q_cap].idx;

		if (idx != NET_NO_BUF && n->fl[idx].state == FL_QUEUED)
			net_pending_push(n, n->fl[idx].peer, idx);
	}
	k->q_head = k->q_tail;
	/* Waiting, sent, then queued: a resend moves a sent entry to the
	 * queued list, where the last pass finds nothing more to do for it. */
	for (unsigned st = FL_N_STATES - 1; st > FL_FREE; st--) {
		uint32_t i = n->fl_head[st], left = n->fl_count[st];

		while (i != NET_NO_BUF && left--) {
			struct inflight *f = &n->fl[i];
			uint32_t next = f->l_next;   /* i may change lists, never another */

			if (f->zc_conn == c) {
				f->zc_conn = -1;   /* reset with its queue (net_conn_close) */
				/* (still read by the port: net_dport_poll releases it) */
				if (f->state == FL_WAIT_ZC && !fl_busy(n, i)) {
					fl_release(n, i, f->done_status, f->done_result);
					i = next;
					continue;
				}
			}
			if (f->conn == c && f->state == FL_SENT)
				net_resend(n, i);
			i = next;
		}
	}
	if (k->outgoing && k->peer >= 0) {
		struct net_peer *pe = &n->peers[k->peer];

		if (k->state == CONN_UP) {
			/* An established connection went away (the peer's svc-net
			 * restarted, say): reconnect at once; backoff is for
			 * attempts that fail. */
			if (!pe->last_error)
				pe->last_error = ECONNRESET;
			pe->backoff_ns = 0;
			pe->next_try_ns = now;
		} else if (pe->next_try_ns <= now) {
			/* The first failed attempt of this round: the others of
			 * the same round must not double the backoff again. */
			peer_backoff(pe, now);
		}
		peer_set_error(n, k->peer, pe->last_error);
	}
}

/* ---- receiver ---- */

/* An incoming peer's entry: its instance and the host it connects from
 * (every connection has its own port). */
static int peer_stat_in(struct net *n, const struct net_peer *p)
{
	char host[DWCP_ADDR_MAX];
	char *colon;

	snprintf(host, sizeof(host), "%s", p->addr);
	colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	return dwcp_peers_claim(&n->ctx->at.shm, DWCP_PEER_IN, host, p->name, dwcp_now_ns());
}

/* An incoming connection passed its handshake: find or make its peer
 * (one per session of the connecting svc-net). @return the peer, or
 * -ENOSPC (no peer slot) / -EMFILE (the peer has all the connections its
 * HELLO announced). */
int net_peer_in(struct net *n, int c, const struct dwcp_frame_hello *h)
{
	int free_p = -1, cs[DWCP_FRAME_MAX_CONNS];
	struct net_peer *p;
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	for (unsigned i = 0; i < NET_MAX_PEERS; i++) {
		if (n->peers[i].used && !n->peers[i].outgoing &&
		    memcmp(n->peers[i].session, h->session, sizeof(h->session)) == 0) {
			if (peer_conns(n, (int)i, cs, DWCP_FRAME_MAX_CONNS) >= (int)n->peers[i].n_conns)
				return -EMFILE;
			n->conns[c].peer = (int)i;
			return (int)i;
		}
		if (!n->peers[i].used && free_p < 0)
			free_p = (int)i;
	}
	if (free_p < 0) {
		/* Forget the incoming peer with no connection left. */
		for (unsigned i = 0; i < NET_MAX_PEERS && free_p < 0; i++) {
			if (!n->peers[i].outgoing && !peer_conns(n, (int)i, cs, 1)) {
				free(n->peers[i].pending);
				free_p = (int)i;
			}
		}
		if (free_p < 0)
			return -ENOSPC;
	}
	p = &n->peers[free_p];
	memset(p, 0, sizeof(*p));
	memcpy(p->session, h->session, sizeof(p->session));
	snprintf(p->name, sizeof(p->name), "%s", h->instance);
	if (n->conns[c].dg)
		net_dconn_addr(n, c, p->addr);
	else if (getpeername(n->conns[c].fd, (struct sockaddr *)&ss, &l) == 0)
		dwcp_addr_format((struct sockaddr *)&ss, p->addr);
	p->n_conns = h->n_conns;
	p->used = true;
	p->stat = peer_stat_in(n, p);
	peer_publish_session(n, free_p);
	for (unsigned i = 0; i < DWCP_MAX_STREAMS; i++)
		if (n->rxq[i].peer == free_p)
			n->rxq[i].peer = -1;   /* a former peer's count is not this one's */
	n->conns[c].peer = free_p;
	DWCP_INFO("svc-net: peer '%s' (%s) connected%s", p->name, p->addr,
		  n->keyed ? ", authenticated" : " (no key)");
	return free_p;
}

static void send_ack(struct net *n, int c, const struct dwcp_chunk_hdr *ch, uint32_t status)
{
	struct dwcp_frame_ack a = { .stream = ch->stream, .seq = ch->seq, .status = status,
				    .xfer = ch->xfer };
	uint8_t buf[DWCP_FRAME_HDR_LEN + sizeof(a)];
	size_t len;

	if (n->keyed)
		dwcp_amst_ackmac_sign(&n->conns[c].ackmac, &a);
	len = dwcp_frame_encode_ack(buf, status ? DWCP_FRAME_NACK : DWCP_FRAME_ACK, &a);
	net_conn_queue_small(n, c, buf, len);
	if (n->conns[c].state == CONN_UP)
		net_conn_flush(n, c);
}

void net_on_frame(struct net *n, int c, struct dwcp_frame *f)
{
	struct net_conn *k = &n->conns[c];

	switch (f->type) {
	case DWCP_FRAME_HELLO:
		net_on_hello(n, c, &f->u.hello);
		return;
	case DWCP_FRAME_AUTH:
		net_on_auth(n, c, &f->u.auth);
		return;
	case DWCP_FRAME_ACK:
	case DWCP_FRAME_NACK:
		/* Answers come only to the end that sent chunks, after the
		 * handshake, and with the connection's MAC when keyed. */
		if (!k->outgoing || k->hs != HS_DONE) {
			net_conn_close(n, c, "an answer where none may come");
			return;
		}
		if (n->keyed && !dwcp_amst_ackmac_verify(&k->ackmac, &f->u.ack)) {
			DWCP_WARN("svc-net: connection %d to %s: an answer failed its MAC (forged or replayed on the path); closing, its chunks are resent",
				  c, n->peers[k->peer].addr);
			dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
			net_conn_close(n, c, "answer MAC mismatch");
			return;
		}
		net_on_ack(n, &f->u.ack, f->type == DWCP_FRAME_ACK);
		return;
	case DWCP_FRAME_BYE:
		DWCP_INFO("svc-net: connection %d: peer says goodbye: %s", c, f->u.bye);
		if (k->outgoing && k->peer >= 0 && k->hs != HS_DONE)
			n->peers[k->peer].last_error = EKEYREJECTED;
		return;
	default:
		return;
	}
}

/* Forget what entry @p ent's receiver held: it is gone (or another took
 * the entry), and the pool took back what it held. */
static void rx_held_drop(struct net *n, int ent)
{
	n->rx_held -= n->rxq[ent].held;
	n->rxq[ent].held = 0;
	dwcp_stats_set(n->ctx->stats, DWCP_STAT_RX_HELD, n->rx_held);
}

/* Receiver quota of stream-table entry @p ent (a chunk from peer @p p).
 * The chunk the receiver writes next (and any it wrote already, answered at
 * once as duplicates) is always admitted and not counted: a quota that
 * refused it while the receiver holds later ones would stall the stream.
 * @return 1 admitted and counted, 0 admitted uncounted, -1 refused. */
static int rx_quota_take(struct net *n, int ent, const struct dwcp_stream_ent *e, int p,
			 uint64_t seq)
{
	uint32_t peer_held = 0;
	uint64_t next = __atomic_load_n(&n->ctx->at.shm.node->streams[ent].next_seq, __ATOMIC_ACQUIRE);

	if (n->rxq[ent].claim != e->claim) {
		n->rxq[ent].claim = e->claim;   /* a new `dwcp recv` in the entry */
		rx_held_drop(n, ent);
	}
	n->rxq[ent].peer = (int16_t)p;
	if (seq <= next)
		return 0;
	for (unsigned i = 0; i < DWCP_MAX_STREAMS; i++)
		if (n->rxq[i].peer == p)
			peer_held += n->rxq[i].held;
	if (n->rxq[ent].held >= n->quota_stream || peer_held >= n->quota_peer)
		return -1;
	n->rxq[ent].held++;
	n->rx_held++;
	dwcp_stats_set(n->ctx->stats, DWCP_STAT_RX_HELD, n->rx_held);
	return 1;
}

/* The receive steps of chunk @p ch into @p rx, each naming the service
 * the op table picks. @return how many; 0 when a step has no service yet
 * (a node still starting: the chunk is answered "busy"). */
static unsigned rx_steps(const struct net *n, const struct dwcp_chunk_hdr *ch, uint16_t rx[4])
{
	unsigned ops[4], k = 0;

	/* Verify first: until the CRC matched, the flags that choose the
	 * next steps may be damaged, and verify refuses such a chunk. */
	ops[k++] = DWCP_OP_VERIFY;
	/* A keyed node opens every chunk: one that is not sealed fails there
	 * (EAUTH), whatever its flags say. */
	if (n->keyed || ch->flags & DWCP_CHUNK_F_SEALED)
		ops[k++] = DWCP_OP_OPEN;
	/* LZ4 chunks by their own op where a service runs it (an engine
	 * without zstd may take those); else, and for zstd, DECOMPRESS. */
	if (ch->codec == DWCP_CODEC_LZ4 && dwcp_route_engine(&n->ctx->at.shm, DWCP_OP_UNLZ4) != DWCP_SLOT_NONE)
		ops[k++] = DWCP_OP_UNLZ4;
	else if (ch->codec != DWCP_CHUNK_CODEC_NONE)
		ops[k++] = DWCP_OP_DECOMPRESS;
	ops[k++] = DWCP_OP_UNDELTA;
	for (unsigned i = 0; i < k; i++) {
		unsigned svc = dwcp_route_engine(&n->ctx->at.shm, ops[i]);

		if (svc == DWCP_SLOT_NONE)
			return 0;
		rx[i] = dwcp_prog_step(svc, ops[i]);
	}
	return k;
}

/* A chunk arrived from peer connection @p c in buffer @p idx (@p wire
 * bytes on the wire): give it the receive program from step @p first on
 * (steps before are the caller's). @return 0: ready to run; -1: answered
 * here (a duplicate, no receiver, over quota): the caller frees it. */
int net_rx_prepare(struct net *n, int c, uint32_t idx, uint32_t len, uint32_t wire, unsigned first)
{
	struct net_conn *k = &n->conns[c];
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(&n->ctx->at.shm, idx);
	const struct dwcp_chunk_hdr *ch = dwcp_shm_data(&n->ctx->at.shm, idx);
	struct dwcp_stream_ent e;
	struct dwcp_peer_ent *ps;
	unsigned np = first;
	uint16_t before[DWCP_PROG_MAX];
	uint16_t rx[4];
	unsigned nrx;
	int ent, quota;

	ent = dwcp_streams_find(&n->ctx->at.shm, DWCP_STREAM_RECV, ch->stream, &e);
	if (ent < 0) {
		/* A resend of a transfer already written whose last ACKs were
		 * lost: acknowledge it, or its sender would wait forever. */
		bool done = dwcp_streams_is_done(&n->ctx->at.shm, ch->stream, ch->xfer, ch->seq);

		send_ack(n, c, ch, done ? 0 : DWCP_BUF_ENORECV);
		return -1;
	}
	ps = net_peer_stat(n, k->peer);
	if (ps)
		dwcp_peers_add(&ps->chunks_received, 1);
	nrx = rx_steps(n, ch, rx);
	if (!nrx) {
		dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
		send_ack(n, c, ch, DWCP_BUF_EBUSY);
		return -1;
	}
	quota = rx_quota_take(n, ent, &e, k->peer, ch->seq);
	if (quota < 0) {
		dwcp_stats_add(n->ctx->stats, DWCP_STAT_REJECTED, 1);
		send_ack(n, c, ch, DWCP_BUF_EBUSY);
		return -1;
	}
	memcpy(before, h->prog, sizeof(before));
	memset((uint8_t *)h + sizeof(h->owner), 0, sizeof(*h) - sizeof(h->owner));
	memcpy(h->prog, before, first * sizeof(before[0]));
	h->stream = ch->stream;
	h->seq = ch->seq;
	h->len = len;
	h->t_submit_ns = dwcp_now_ns();
	h->wire_len = wire;
	h->origin = (uint64_t)n->ctx->at.gen << 32 | (uint32_t)ent << 16 |
		    (quota > 0 ? ORIGIN_COUNTED : 0) |
		    n->ctx->at.slot << DWCP_BUF_ORIGIN_SLOT_SHIFT | (uint32_t)k->peer;
	memcpy(h->prog + np, rx, nrx * sizeof(rx[0]));
	np += nrx;
	h->prog[np++] = dwcp_prog_step(e.slot, DWCP_OP_DELIVER);
	h->prog_len = (uint8_t)np;
	h->deliver_gen = e.gen;
	return 0;
}

void net_on_chunk(struct net *n, int c, uint32_t idx, uint32_t len)
{
	struct net_conn *k = &n->conns[c];

	if (k->outgoing || k->peer < 0 || k->hs != HS_DONE) {
		dwcp_svc_free(n->ctx, idx);
		net_conn_close(n, c, k->outgoing ? "a chunk from the receiver" : "a chunk before HELLO");
		return;
	}
	if (net_rx_prepare(n, c, idx, len, DWCP_FRAME_HDR_LEN + len, 0))
		dwcp_svc_free(n->ctx, idx);
	else
		dwcp_svc_submit(n->ctx, idx);
}

int net_answer(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op)
{
	const struct dwcp_chunk_hdr *ch = dwcp_shm_data(&n->ctx->at.shm, idx);
	uint32_t gen = (uint32_t)(h->origin >> 32), p = (uint32_t)h->origin & ORIGIN_PEER;
	uint32_t ent = (uint32_t)(h->origin >> 16) & 0xffff;
	int cs[DWCP_FRAME_MAX_CONNS], k;
	unsigned slot = dwcp_buf_origin_slot(h);

	/* For another worker (a `dwcp recv` from before workers names
	 * svc-net, which any worker may get): the next step is its. */
	if (slot && slot != n->ctx->at.slot) {
		if (h->pc + 1u >= DWCP_PROG_MAX)
			return DWCP_BUF_EBADOP;
		h->prog[h->pc + 1] = dwcp_prog_step_pinned(slot, op);
		h->prog_len = (uint8_t)(h->pc + 2);
		return DWCP_BUF_OK;
	}

	/* From a previous generation of svc-net: its connections are gone,
	 * the sender resends and the receiver answers the duplicate. */
	if (gen != n->ctx->at.gen || p >= NET_MAX_PEERS || !n->peers[p].used)
		return DWCP_BUF_OK;
	if (h->origin & ORIGIN_COUNTED && ent < DWCP_MAX_STREAMS && n->rxq[ent].held) {
		n->rxq[ent].held--;
		n->rx_held--;
		dwcp_stats_set(n->ctx->stats, DWCP_STAT_RX_HELD, n->rx_held);
	}
	/* A copy of a chunk the receiver holds: that one is answered when
	 * written, the sender's resend timer covers the rest. */
	if (op == DWCP_OP_RELEASE)
		return DWCP_BUF_OK;
	k = peer_conns_of(n, (int)p, true, cs, DWCP_FRAME_MAX_CONNS);
	if (!k)
		return DWCP_BUF_OK;
	if (h->len < DWCP_CHUNK_HDR_LEN)
		return DWCP_BUF_EBADLEN;
	send_ack(n, cs[n->peers[p].rr++ % (unsigned)k], ch,
		 op == DWCP_OP_ACK ? 0 : (uint32_t)(h->result ? h->result : DWCP_BUF_EBADCHUNK));
	return DWCP_BUF_OK;
}

/* ---- timers ---- */

static void peer_drop_orphans(struct net *n, int p)
{
	struct net_peer *pe = &n->peers[p];
	uint32_t k = 0;

	for (uint32_t i = 0; i < pe->n_pending; i++) {
		uint32_t idx = pe->pending[i];

		if (sender_alive(n, idx))
			pe->pending[k++] = idx;
		else
			net_fl_finish(n, idx, DWCP_BUF_ENOPEER, 0);
	}
	pe->n_pending = k;
}

unsigned net_timers(struct net *n, uint64_t now)
{
	const uint64_t rto = (uint64_t)n->conf->resend_ms * 1000000ull;
	unsigned work = 0;

	if (now < n->next_timer_ns)
		return 0;
	n->next_timer_ns = now + TIMER_NS;
	work += net_handshake_timers(n, now);
	for (uint32_t i = n->fl_head[FL_SENT], left = n->fl_count[FL_SENT];
	     i != NET_NO_BUF && left--;) {
		struct inflight *f = &n->fl[i];
		uint32_t next = f->l_next;   /* a resend or finish moves i off the list */

		/* sent_ns may be later than now (sent during this turn): no underflow. */
		if (now >= f->sent_ns + rto) {
			/* Its `dwcp send` is gone: stop resending, let the pool have it. */
			if (!sender_alive(n, i))
				net_fl_finish(n, i, DWCP_BUF_ENOPEER, 0);
			else
				net_resend(n, i);
			work++;
		}
		i = next;
	}
	for (unsigned p = 0; p < NET_MAX_PEERS; p++) {
		if (!n->peers[p].used || !n->peers[p].outgoing)
			continue;
		peer_drop_orphans(n, (int)p);
		if (n->peers[p].n_pending)
			peer_connect(n, p, now);
		work += net_peer_dispatch(n, (int)p);
	}
	for (unsigned c = 0; c < NET_MAX_CONNS; c++)
		if (n->conns[c].state == CONN_UP && n->conns[c].rx_stalled)
			work += net_conn_read(n, (int)c);
	/* A receiver that exited or was killed never answers what it held
	 * (the pool took those buffers back): its count would keep a share
	 * of its peer's quota until another `dwcp recv` took the entry. */
	for (int e = 0; n->rx_held && e < DWCP_MAX_STREAMS; e++)
		if (n->rxq[e].held && !dwcp_streams_claim_live(&n->ctx->at.shm, e, n->rxq[e].claim))
			rx_held_drop(n, e);
	/* Also here: a generation that took over the slot from one that held
	 * chunks starts with none. */
	dwcp_stats_set(n->ctx->stats, DWCP_STAT_RX_HELD, n->rx_held);
	return work;
}
