/* svc-net's side of the RDMA transport (docs/rdma.md).
 *
 * svc-net stays the control plane: the TCP connections carry the
 * handshake and every ACK/NACK, and the in-flight table decides resends,
 * whatever carried the chunk. For a peer whose RDMA connection svc-rdma
 * reports up (ipc/peers.h), a chunk's first send detours through
 * svc-rdma: its program is saved in the buffer header and replaced by
 * [TRANSMIT (done), svc-rdma RDMA_WRITE, svc-net RDMA_RETURN]; on return
 * the program is restored and the chunk waits for its ACK as after a TCP
 * send. A chunk svc-rdma could not write (no connection, the connection
 * died, svc-rdma restarted) comes back with an errno and goes by TCP, as
 * does every resend: a path that lost a chunk once is not trusted with it
 * again. Received chunks come from svc-rdma with DWCP_OP_RDMA_RX and get
 * the program a chunk read from a TCP connection gets.
 *
 * Nothing here passes a buffer on from inside step(): a step returns
 * what happens to the buffer it was given, and dispatching waits for the
 * poll loop (rdma_kick).
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/route.h"
#include "net_internal.h"

bool net_rdma_usable(struct net *n, int p)
{
	const struct dwcp_peer_ent *ps = net_peer_stat(n, p);

	/* svc-rdma's connection is for the session of the first worker
	 * (ipc/peers.h): a chunk of another worker's would be answered on
	 * the first worker's connections, which do not know it. */
	unsigned rdma = dwcp_route_engine(&n->ctx->at.shm, DWCP_OP_RDMA_WRITE);

	return ps && n->peers[p].outgoing && n->worker == 0 &&
	       __atomic_load_n(&ps->rdma, __ATOMIC_ACQUIRE) != 0 && rdma != DWCP_SLOT_NONE &&
	       dwcp_route_ready(&n->ctx->at.shm, rdma);
}

/* The detour: [TRANSMIT (kept, being passed), RDMA_WRITE, RDMA_RETURN]. */
static void to_rdma(struct net *n, int p, uint32_t idx)
{
	struct dwcp_buf_hdr *h = dwcp_shm_hdr(&n->ctx->at.shm, idx);
	struct inflight *f = &n->fl[idx];
	struct dwcp_peer_ent *ps = net_peer_stat(n, p);

	/* Saved once: a detour rewritten here but never passed on (this
	 * process killed in between) is undone by the next TRANSMIT step
	 * (net_rdma_restore), never saved over. */
	if (!h->saved_len) {
		memcpy(h->saved_prog, h->prog, sizeof(h->saved_prog));
		h->saved_len = h->prog_len;
		h->saved_pc = h->pc;
	}
	/* Back to this very worker: it holds the chunk's in-flight entry. */
	h->prog[0] = dwcp_prog_step_pinned(n->ctx->at.slot, DWCP_OP_TRANSMIT);
	h->prog[1] = dwcp_prog_step(dwcp_route_engine(&n->ctx->at.shm, DWCP_OP_RDMA_WRITE), DWCP_OP_RDMA_WRITE);
	h->prog[2] = dwcp_prog_step_pinned(n->ctx->at.slot, DWCP_OP_RDMA_RETURN);
	h->prog_len = 3;
	h->pc = 0;
	h->result = (uint64_t)n->peers[p].stat;
	net_fl_set_state(n, idx, FL_RDMA);
	f->conn = -1;
	f->rdma_nack = 0;
	f->sent_ns = dwcp_now_ns();
	n->peers[p].rdma_out++;
	if (ps)
		dwcp_peers_add(&ps->chunks_sent, 1);
	dwcp_svc_pass(n->ctx, idx, DWCP_BUF_OK);
}

unsigned net_rdma_dispatch(struct net *n, int p)
{
	struct net_peer *pe = &n->peers[p];
	uint32_t kept = 0, moved = 0;

	if (n->in_step) {
		n->rdma_kick |= pe->n_pending != 0;
		return 0;
	}
	for (uint32_t i = 0; i < pe->n_pending; i++) {
		uint32_t idx = pe->pending[i];

		if (!n->fl[idx].resends && pe->rdma_out < DWCP_PEER_RDMA_INFLIGHT) {
			to_rdma(n, p, idx);
			moved++;
		} else {
			pe->pending[kept++] = idx;
		}
	}
	pe->n_pending = kept;
	return moved;
}

unsigned net_rdma_kick(struct net *n)
{
	unsigned work = 0;

	if (!n->rdma_kick)
		return 0;
	n->rdma_kick = false;
	for (unsigned p = 0; p < NET_MAX_PEERS; p++)
		if (n->peers[p].used && n->peers[p].outgoing && n->peers[p].n_pending)
			work += net_peer_dispatch(n, (int)p);
	return work;
}

bool net_rdma_restore(struct dwcp_buf_hdr *h)
{
	if (!h->saved_len || h->saved_len > DWCP_PROG_MAX || h->saved_pc >= h->saved_len)
		return false;
	memcpy(h->prog, h->saved_prog, sizeof(h->prog));
	h->prog_len = h->saved_len;
	h->pc = h->saved_pc;
	h->saved_len = 0;
	return true;
}

int net_rdma_return(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h)
{
	struct inflight *f = &n->fl[idx];
	int err = (int)h->result;
	uint16_t nack;

	if (!net_rdma_restore(h))
		return DWCP_BUF_EBADCHUNK;   /* no detour of ours */
	/* Handed over by an earlier generation of svc-net: its in-flight
	 * table is gone; this is a first send for this one. */
	if (f->state != FL_RDMA)
		return net_transmit(n, idx, h);
	n->peers[f->peer].rdma_out--;
	n->rdma_kick = true;   /* room for another */
	if (err) {
		DWCP_DEBUG("svc-net: chunk %lu not written by svc-rdma (%s): sent over TCP",
			   (unsigned long)h->seq, strerror(err));
		net_resend(n, idx);
		return DWCP_SVC_KEEP;
	}
	h->wire_len += h->len;
	if (f->acked) {
		net_fl_forget(n, idx);
		h->result = f->resends;
		return DWCP_BUF_OK;   /* on to DELIVER */
	}
	net_fl_set_state(n, idx, FL_SENT);
	f->sent_ns = dwcp_now_ns();
	nack = f->rdma_nack;
	switch (nack) {
	case 0:
	case DWCP_BUF_EBADCRC:
	case DWCP_BUF_EBADCHUNK:
	case DWCP_BUF_EBUSY:
	case DWCP_BUF_ENORECV:
		/* none, or one a later send may cure: the resend timer sends it again */
		break;
	default:
		/* as on_ack: the transfer stops (another key, a refused stream) */
		net_fl_forget(n, idx);
		h->result = nack;
		return DWCP_BUF_ENACK;
	}
	return DWCP_SVC_KEEP;
}

int net_rdma_rx(struct net *n, uint32_t idx, struct dwcp_buf_hdr *h)
{
	int stat = (int)h->origin, c = -1;
	uint64_t session = h->result;

	for (unsigned p = 0; p < NET_MAX_PEERS && c < 0; p++) {
		const struct net_peer *pe = &n->peers[p];
		uint64_t s;

		memcpy(&s, pe->session, sizeof(s));
		if (pe->used && !pe->outgoing && pe->stat == stat && s == session)
			c = net_peer_ready_conn(n, (int)p);
	}
	if (h->len < DWCP_CHUNK_HDR_LEN || h->len > n->ctx->at.shm.buf_size)
		return DWCP_BUF_OK;   /* too short to be a chunk: dropped (the sender resends by TCP) */
	if (c < 0 && h->pc + 1u < n->n_workers && h->pc + 1u < DWCP_PROG_MAX) {
		/* Not here: the entry named a worker whose connections of the
		 * session are gone while another worker's remain. The next
		 * worker looks (pc counts the workers asked). */
		const struct dwcp_route_ent *r = &n->ctx->at.shm.ctl->route[DWCP_SLOT_NET];

		h->prog[h->pc + 1] = dwcp_prog_step_pinned(r->slot[(n->worker + 1) % n->n_workers],
							   DWCP_OP_RDMA_RX);
		h->prog_len = (uint8_t)(h->pc + 2);
		return DWCP_BUF_OK;
	}
	/* A peer with no connection left: dropped (runs off the end of its
	 * program); the sender's resend goes by TCP. */
	if (c < 0)
		return DWCP_BUF_OK;
	/* Found here: svc-rdma hands the next ones here directly. */
	if (n->peers[n->conns[c].peer].stat >= 0) {
		struct dwcp_peer_ent *ps = net_peer_stat(n, n->conns[c].peer);

		if (ps && __atomic_load_n(&ps->net_slot, __ATOMIC_RELAXED) != n->ctx->at.slot)
			__atomic_store_n(&ps->net_slot, n->ctx->at.slot, __ATOMIC_RELAXED);
	}
	net_rx_prepare(n, c, idx, h->len, h->len, 1);
	return DWCP_BUF_OK;
}
