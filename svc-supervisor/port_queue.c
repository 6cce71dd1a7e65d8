/* The threads of the node's DPDK port, one per queue pair (port.c opens
 * the port; ipc/port.h says how consumers use it). Each bursts its queue's
 * RX and steers every frame to the svc-net worker holding its connection
 * (dwcp_port_steer), sends its consumers' TX rings, and resets a dead
 * consumer's rings before its successor claims them.
 *
 * A thread polls while frames move and for [supervisor] spin_us after the
 * last one (poll-then-sleep, as the services do), then sleeps on its
 * queue's TX doorbell with a timeout that doubles from 50 us to 1 ms:
 * af_packet and af_xdp vdevs have no RX interrupt in DPDK 22.11, so an
 * idle queue costs about a thousand wake-ups a second, not a core.
 * [supervisor] poll_mode keeps them polling (a core each).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "common/timeutil.h"
#include "port_pvt.h"

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void burst_tx(struct sup_port_q *pq, struct rte_mbuf **b, unsigned n)
{
	struct sup_port *p = pq->p;
	struct dwcp_port_queue *hq = &p->shm->q[pq->q];
	unsigned sent = 0;

	/* A full TX queue empties as the driver sends: a few tries, then drop. */
	for (unsigned tries = 0; sent < n && tries < 8; tries++)
		sent += rte_eth_tx_burst(p->id, (uint16_t)pq->q, b + sent, (uint16_t)(n - sent));
	if (sent < n) {
		rte_pktmbuf_free_bulk(b + sent, n - sent);
		__atomic_fetch_add(&hq->tx_refused, n - sent, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&hq->tx_frames, sent, __ATOMIC_RELAXED);
}

/* Frames @p b for consumer @p k, from this queue. */
static void deliver(struct sup_port_q *pq, unsigned k, struct rte_mbuf **b, unsigned n)
{
	struct dwcp_port_consumer *c = &pq->p->shm->c[k];
	unsigned q = rte_ring_sp_enqueue_burst(pq->rx[k], (void **)b, n, NULL);

	if (q < n) {
		rte_pktmbuf_free_bulk(b + q, n - q);
		__atomic_fetch_add(&c->rx_ring_full, n - q, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&c->rx_frames, n, __ATOMIC_RELAXED);
	if (q) {
		/* A consumer that claims nothing (a tool) does not say it
		 * sleeps: wake it always. */
		__atomic_fetch_add(&c->rx_doorbell, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&c->rx_waiting, __ATOMIC_SEQ_CST) || !__atomic_load_n(&c->pid, __ATOMIC_RELAXED))
			futex(&c->rx_doorbell, FUTEX_WAKE, INT_MAX, NULL);
	}
}

static unsigned poll_rx(struct sup_port_q *pq)
{
	struct sup_port *p = pq->p;
	struct rte_mbuf *b[PORT_BURST], *to[DWCP_PORT_MAX_CONSUMERS][PORT_BURST];
	unsigned cnt[DWCP_PORT_MAX_CONSUMERS] = { 0 };
	unsigned n = rte_eth_rx_burst(p->id, (uint16_t)pq->q, b, PORT_BURST);

	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		int k = dwcp_port_steer(rte_pktmbuf_mtod(b[i], const uint8_t *), rte_pktmbuf_data_len(b[i]),
					p->shm->steer_port, p->nc);

		if (k != DWCP_PORT_STEER_ALL) {
			to[k][cnt[k]++] = b[i];
			continue;
		}
		/* One mbuf, read by all: each consumer frees its reference. */
		rte_mbuf_refcnt_update(b[i], (int16_t)(p->nc - 1));
		for (unsigned c = 0; c < p->nc; c++)
			to[c][cnt[c]++] = b[i];
	}
	for (unsigned k = 0; k < p->nc; k++)
		if (cnt[k])
			deliver(pq, k, to[k], cnt[k]);
	__atomic_fetch_add(&p->shm->q[pq->q].rx_frames, n, __ATOMIC_RELAXED);
	return n;
}

static unsigned poll_once(struct sup_port_q *pq)
{
	struct sup_port *p = pq->p;
	struct rte_mbuf *b[PORT_BURST];
	unsigned work = poll_rx(pq);

	for (unsigned k = pq->q; k < p->nc; k += p->nq) {
		unsigned n = rte_ring_sc_dequeue_burst(p->tx[k], (void **)b, PORT_BURST, NULL);

		if (n) {
			burst_tx(pq, b, n);
			__atomic_fetch_add(&p->shm->c[k].tx_frames, n, __ATOMIC_RELAXED);
			work += n;
		}
	}
	return work;
}

static bool tx_waiting(const struct sup_port_q *pq)
{
	for (unsigned k = pq->q; k < pq->p->nc; k += pq->p->nq)
		if (rte_ring_count(pq->p->tx[k]))
			return true;
	return false;
}

/* Consumer @p k died (ipc/port.h: reset_req): what it committed to TX goes
 * out, what waited for it in RX is freed, and its rings start empty, so a
 * reservation it left half made blocks nobody. Only this thread touches
 * RX ring (q, k), and TX ring k if it is this queue's. */
static void reset_consumer(struct sup_port_q *pq, unsigned k)
{
	struct sup_port *p = pq->p;
	struct rte_mbuf *b[PORT_BURST];
	unsigned n;

	while ((n = rte_ring_sc_dequeue_burst(pq->rx[k], (void **)b, PORT_BURST, NULL)) > 0)
		rte_pktmbuf_free_bulk(b, n);
	rte_ring_reset(pq->rx[k]);
	if (k % p->nq != pq->q)
		return;
	while ((n = rte_ring_sc_dequeue_burst(p->tx[k], (void **)b, PORT_BURST, NULL)) > 0)
		burst_tx(pq, b, n);
	rte_ring_reset(p->tx[k]);
	/* Every attached mbuf is back (af_packet frees at tx_burst; others
	 * were offered zero copy only with tx_done_cleanup): what counts are
	 * left above 1 on the dead consumer's buffers belonged to mbufs it
	 * held. Its mbufs went out on this queue alone. */
	if (p->tx_cleanup)
		rte_eth_tx_done_cleanup(p->id, (uint16_t)pq->q, 0);
	dwcp_port_ext_reset(p->ext, p->region, __atomic_load_n(&p->shm->c[k].slot, __ATOMIC_ACQUIRE));
}

void *sup_port_queue_main(void *arg)
{
	struct sup_port_q *pq = arg;
	struct sup_port *p = pq->p;
	struct dwcp_port_queue *hq = &p->shm->q[pq->q];
	uint64_t last_work = dwcp_now_ns(), sleep_ns = SLEEP_MIN_NS;
	char name[16];

	snprintf(name, sizeof(name), "dwcp-port%u", pq->q);
	pthread_setname_np(pthread_self(), name);
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now;
		uint32_t seq;
		struct timespec ts;

		for (unsigned k = 0; k < p->nc; k++) {
			struct dwcp_port_consumer *c = &p->shm->c[k];
			uint32_t req = __atomic_load_n(&c->reset_req, __ATOMIC_ACQUIRE);

			if (req != c->reset_done[pq->q]) {
				reset_consumer(pq, k);
				__atomic_store_n(&c->reset_done[pq->q], req, __ATOMIC_RELEASE);
			}
		}
		if (poll_once(pq)) {
			last_work = dwcp_now_ns();
			sleep_ns = SLEEP_MIN_NS;
			continue;
		}
		now = dwcp_now_ns();
		if (p->poll_mode || now - last_work < p->spin_ns)
			continue;
		seq = __atomic_load_n(&hq->tx_doorbell, __ATOMIC_ACQUIRE);
		if (tx_waiting(pq))
			continue;
		/* A NIC frees sent mbufs only as it reuses their descriptors:
		 * idle, it would hold the last chunks' buffers for good. */
		if (p->ext && p->tx_cleanup)
			rte_eth_tx_done_cleanup(p->id, (uint16_t)pq->q, 0);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)sleep_ns;
		/* Flag up, then the last look (ipc/port.h: dwcp_port_kick). */
		__atomic_store_n(&hq->tx_waiting, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&hq->tx_doorbell, __ATOMIC_SEQ_CST) == seq)
			futex(&hq->tx_doorbell, FUTEX_WAIT, seq, &ts);
		__atomic_store_n(&hq->tx_waiting, 0, __ATOMIC_RELAXED);
		__atomic_fetch_add(&hq->sleeps, 1, __ATOMIC_RELAXED);
		if (sleep_ns < SLEEP_MAX_NS)
			sleep_ns *= 2;
	}
	return NULL;
}

void sup_port_wake_all(struct sup_port *p)
{
	for (unsigned q = 0; q < p->nq; q++) {
		__atomic_fetch_add(&p->shm->q[q].tx_doorbell, 1, __ATOMIC_RELEASE);
		futex(&p->shm->q[q].tx_doorbell, FUTEX_WAKE, INT_MAX, NULL);
	}
}

