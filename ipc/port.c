/* A consumer's side of the node's DPDK port (port.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "ipc/port.h"

int dwcp_port_lookup(struct dwcp_port *p, unsigned consumer, struct dwcp_err *err)
{
	const struct rte_memzone *mz = rte_memzone_lookup(DWCP_PORT_MZ);
	char name[RTE_RING_NAMESIZE];

	*p = (struct dwcp_port){ .consumer = consumer };
	p->shm = mz ? mz->addr : NULL;
	p->pool = rte_mempool_lookup(DWCP_PORT_POOL);
	if (!p->pool || !p->shm || __atomic_load_n(&p->shm->magic, __ATOMIC_ACQUIRE) != DWCP_PORT_MAGIC)
		return dwcp_err_set(err, -ENODEV,
				    "this node owns no DPDK port: set [net] transport = dpdk and [net] port");
	if (consumer >= p->shm->n_consumers)
		return dwcp_err_set(err, -ERANGE,
				    "the node's DPDK port has %u consumers (its [net] workers when it started), not a consumer %u: restart the node after changing [net] workers",
				    p->shm->n_consumers, consumer);
	p->n_rx = p->shm->n_queues;
	for (unsigned q = 0; q < p->n_rx; q++) {
		snprintf(name, sizeof(name), DWCP_PORT_RX_FMT, q, consumer);
		p->rx[q] = rte_ring_lookup(name);
		if (!p->rx[q])
			return dwcp_err_set(err, -ENODEV, "the node's DPDK port has no ring %s", name);
	}
	snprintf(name, sizeof(name), DWCP_PORT_TX_FMT, consumer);
	p->tx = rte_ring_lookup(name);
	if (!p->tx)
		return dwcp_err_set(err, -ENODEV, "the node's DPDK port has no ring %s", name);
	p->c = &p->shm->c[consumer];
	p->q = &p->shm->q[consumer % p->n_rx];
	p->ext = dwcp_port_ext_lookup();
	p->extpool = p->ext ? rte_mempool_lookup(DWCP_PORT_EXTPOOL) : NULL;
	if (!p->extpool)
		p->ext = NULL;
	return 0;
}

static bool reset_pending(const struct dwcp_port *p)
{
	uint32_t req = __atomic_load_n(&p->c->reset_req, __ATOMIC_ACQUIRE);

	for (unsigned q = 0; q < p->n_rx; q++)
		if (__atomic_load_n(&p->c->reset_done[q], __ATOMIC_ACQUIRE) != req)
			return true;
	return false;
}

int dwcp_port_claim(struct dwcp_port *p, unsigned slot, struct dwcp_err *err)
{
	uint32_t me = (uint32_t)getpid(), held;

	/* The port threads reset the rings within a millisecond of being asked. */
	for (unsigned i = 0; i < 1000 && reset_pending(p); i++)
		usleep(1000);
	held = __atomic_load_n(&p->c->pid, __ATOMIC_ACQUIRE);
	for (;;) {
		if (held && held != me && (kill((pid_t)held, 0) == 0 || errno != ESRCH))
			return dwcp_err_set(err, -EBUSY,
					    "the node's DPDK port already has a consumer %u, pid %u (svc-net worker %u). Stop it first; to replace svc-net use `dwcpctl upgrade svc-net`",
					    p->consumer, held, p->consumer);
		if (__atomic_compare_exchange_n(&p->c->pid, &held, me, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			/* Ours now (a process that loses the race must not write
			 * it). Dying before this store, we attached nothing: the
			 * reset after our death reads the slot before ours. */
			__atomic_store_n(&p->c->slot, slot, __ATOMIC_RELEASE);
			return 0;
		}
	}
}

void dwcp_port_release(struct dwcp_port *p)
{
	uint32_t me = (uint32_t)getpid();

	__atomic_compare_exchange_n(&p->c->pid, &me, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

unsigned dwcp_port_rx_burst(struct dwcp_port *p, struct rte_mbuf **b, unsigned n)
{
	unsigned got = 0;

	/* Round robin over the queues, so that a busy one starves none. */
	for (unsigned i = 0; i < p->n_rx && got < n; i++) {
		unsigned q = (p->next_rx + i) % p->n_rx;

		got += rte_ring_sc_dequeue_burst(p->rx[q], (void **)(b + got), n - got, NULL);
	}
	p->next_rx = p->n_rx ? (p->next_rx + 1) % p->n_rx : 0;
	return got;
}

bool dwcp_port_rx_ready(const struct dwcp_port *p)
{
	for (unsigned q = 0; q < p->n_rx; q++)
		if (rte_ring_count(p->rx[q]))
			return true;
	return false;
}

void dwcp_port_kick(struct dwcp_port *p)
{
	/* The add orders the enqueue before the flag's load (see dwcp_port_wait_rx). */
	__atomic_fetch_add(&p->q->tx_doorbell, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->q->tx_waiting, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &p->q->tx_doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void dwcp_port_wait_rx(struct dwcp_port *p, uint32_t seq, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };

	/* Flag up, then the last look: a port thread adds to the doorbell
	 * before it reads the flag, so one of us sees the other. */
	__atomic_store_n(&p->c->rx_waiting, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->c->rx_doorbell, __ATOMIC_SEQ_CST) == seq)
		syscall(SYS_futex, &p->c->rx_doorbell, FUTEX_WAIT, seq, &ts, NULL, 0);
	__atomic_store_n(&p->c->rx_waiting, 0, __ATOMIC_RELAXED);
}
