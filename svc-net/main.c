/* svc-net: the NIC service. Today: the kernel-TCP multi-stream transport
 * (AMST, net_internal.h); DPDK ethdev ports come later. Kernel TCP needs no
 * device, so it is READY wherever it can listen (STANDBY with the reason
 * when it cannot, or may not: a node without a key listens on loopback
 * only, handshake.c; it still sends).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "ipc/route.h"
#include "net_internal.h"

_Static_assert(DWCP_CFG_MAX_NET_WORKERS <= sizeof(((struct dwcp_peer_ent *)0)->conns_w),
	       "a byte of each peer's connection count per svc-net worker");

static int net_init(struct dwcp_svc_ctx *ctx, char *reason, size_t reason_len)
{
	struct net *n = calloc(1, sizeof(*n));
	int rc, standby = 0;

	if (!n)
		return -ENOMEM;
	ctx->priv = n;
	n->ctx = ctx;
	n->conf = &ctx->at.shm.node->conf;
	n->zerocopy = n->conf->zerocopy != 0;
	n->zc_auto = n->conf->zerocopy == DWCP_CFG_BOOL_AUTO;
	n->n_connections = n->conf->connections ? n->conf->connections : 1;
	if (n->n_connections > DWCP_FRAME_MAX_CONNS)
		n->n_connections = DWCP_FRAME_MAX_CONNS;
	n->worker = ctx->at.shm.ctl->slots[ctx->at.slot].sup.worker;
	n->n_workers = dwcp_route_workers(&ctx->at.shm, DWCP_SLOT_NET);
	if (n->worker >= sizeof(ctx->at.shm.node->peers[0].conns_w)) {
		snprintf(reason, reason_len, "svc-net worker %u: at most %zu workers", n->worker,
			 sizeof(ctx->at.shm.node->peers[0].conns_w));
		return -EINVAL;
	}
	/* A share of the bound, so that all workers together keep it. */
	n->max_unauth = (n->conf->max_unauth + n->n_workers - 1) / n->n_workers;
	/* This worker's connections died with the generation that held them. */
	for (unsigned i = 0; i < DWCP_MAX_PEERS; i++)
		__atomic_store_n(&ctx->at.shm.node->peers[i].conns_w[n->worker], 0, __ATOMIC_RELAXED);
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epfd < 0 || net_fl_init(n))
		return -ENOMEM;
	n->listen_fd = -1;
	if (net_trust_init(n, reason, reason_len)) {
		standby = 1;   /* logged in full there; the reason is the short form */
	} else if (net_listen_open(n, reason, reason_len)) {
		DWCP_ERR("svc-net: %s; this node can send but not receive", reason);
		standby = 1;
	}
	/* On a DPDK port, worker k is the port's consumer k. */
	rc = net_dport_init(n, reason, reason_len);
	if (rc) {
		DWCP_ERR("svc-net: %s", reason);
		return rc;
	}
	rc = net_waker_start(n);
	if (rc)
		return rc;
	DWCP_INFO("svc-net: worker %u of %u, AMST, %u connections per peer, zerocopy %s, congestion %s, %s",
		  n->worker + 1, n->n_workers, n->n_connections,
		  n->zc_auto ? "auto" : n->zerocopy ? "on" : "off", n->conf->congestion,
		  n->keyed ? "peers authenticated with the node key" : "NO KEY: peers unauthenticated, chunks unencrypted");
	return standby;
}

static int net_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		    uint32_t *out)
{
	struct net *n = ctx->priv;

	int rc;

	(void)out;
	n->in_step = true;
	switch (op) {
	case DWCP_OP_TRANSMIT:
		/* A TRANSMIT with a saved program: the previous generation was
		 * killed between rewriting it for the RDMA detour and passing it
		 * on. The chunk's own program goes on (pc stays at its TRANSMIT). */
		net_rdma_restore(h);
		rc = net_transmit(n, idx, h);
		break;
	case DWCP_OP_ACK:
	case DWCP_OP_NACK:
	case DWCP_OP_RELEASE: rc = net_answer(n, idx, h, op); break;
	case DWCP_OP_RDMA_RETURN: rc = net_rdma_return(n, idx, h); break;
	case DWCP_OP_RDMA_RX: rc = net_rdma_rx(n, idx, h); break;
	default: rc = DWCP_BUF_EBADOP; break;
	}
	n->in_step = false;
	return rc;
}

/* One connection the waker saw an event on. */
static unsigned conn_events(struct net *n, unsigned c)
{
	struct net_conn *k = &n->conns[c];
	unsigned work = 0;
	uint32_t ev;

	if (k->state == CONN_FREE)
		return 0;
	ev = __atomic_exchange_n(&k->events, 0, __ATOMIC_ACQ_REL);
	if (!ev)
		return 0;
	work++;
	if (ev & EPOLLERR && k->state == CONN_UP)
		net_conn_zc_complete(n, (int)c);
	if (ev & EPOLLOUT)
		k->tx_blocked = false;
	if (k->state == CONN_CONNECTING || ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		work += net_conn_read(n, (int)c);
	if (k->state == CONN_UP && k->q_head != k->q_tail)
		work += net_conn_flush(n, (int)c);
	return work;
}

static unsigned net_poll(struct dwcp_svc_ctx *ctx, uint64_t now)
{
	struct net *n = ctx->priv;
	unsigned work = 0;

	__atomic_store_n(&n->pending, 0, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&n->listen_events, 0, __ATOMIC_ACQ_REL) && n->listen_fd >= 0)
		work += (unsigned)net_conn_accept(n);
	for (unsigned w = 0; w < NET_MAX_CONNS / 64; w++) {
		uint64_t ready = __atomic_exchange_n(&n->ev_ready[w], 0, __ATOMIC_ACQ_REL);

		while (ready) {
			unsigned c = w * 64u + (unsigned)__builtin_ctzll(ready);

			ready &= ready - 1;
			work += conn_events(n, c);
		}
	}
	work += net_dport_poll(n, now);
	work += net_rdma_kick(n);
	return work + net_timers(n, now);
}

static int net_pending(struct dwcp_svc_ctx *ctx)
{
	const struct net *n = ctx->priv;

	return n && (__atomic_load_n(&n->pending, __ATOMIC_SEQ_CST) || n->rdma_kick);
}

static void net_fini(struct dwcp_svc_ctx *ctx)
{
	struct net *n = ctx->priv;

	if (!n)
		return;
	dwcp_waker_end(&n->waker);
	net_dport_fini(n);
	/* Chunks in flight stay WORK of this generation: the next one resends them. */
	for (unsigned c = 0; c < NET_MAX_CONNS; c++)
		if (n->conns[c].state != CONN_FREE) {
			n->conns[c].q_head = n->conns[c].q_tail;
			if (n->conns[c].dg)
				free(n->conns[c].dg);
			else
				close(n->conns[c].fd);
			free(n->conns[c].q);
		}
	if (n->listen_fd >= 0)
		close(n->listen_fd);
	close(n->epfd);
	for (unsigned p = 0; p < NET_MAX_PEERS; p++)
		free(n->peers[p].pending);
	free(n->fl);
	free(n->fl_hash);
	free(n);
	ctx->priv = NULL;
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = {
		.name = "svc-net", .init = net_init, .step = net_step, .fini = net_fini,
		.poll = net_poll, .pending = net_pending,
		.ops[DWCP_RANK_SERVE] = DWCP_OP_BIT(DWCP_OP_TRANSMIT) | DWCP_OP_BIT(DWCP_OP_ACK) |
					DWCP_OP_BIT(DWCP_OP_NACK) | DWCP_OP_BIT(DWCP_OP_RELEASE) |
					DWCP_OP_BIT(DWCP_OP_RDMA_RETURN) | DWCP_OP_BIT(DWCP_OP_RDMA_RX),
	};

	return dwcp_svc_main(argc, argv, &svc);
}
