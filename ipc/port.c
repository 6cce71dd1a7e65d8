/* A consumer's side of the node's DPDK port (port.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "ipc/port.h"

int dwcp_port_lookup(struct dwcp_port *p, struct dwcp_err *err)
{
	const struct rte_memzone *mz = rte_memzone_lookup(DWCP_PORT_MZ);

	p->rx = rte_ring_lookup(DWCP_PORT_RX);
	p->tx = rte_ring_lookup(DWCP_PORT_TX);
	p->pool = rte_mempool_lookup(DWCP_PORT_POOL);
	p->shm = mz ? mz->addr : NULL;
	p->ext = dwcp_port_ext_lookup();
	p->extpool = p->ext ? rte_mempool_lookup(DWCP_PORT_EXTPOOL) : NULL;
	if (!p->extpool)
		p->ext = NULL;
	if (!p->rx || !p->tx || !p->pool || !p->shm ||
	    __atomic_load_n(&p->shm->magic, __ATOMIC_ACQUIRE) != DWCP_PORT_MAGIC)
		return dwcp_err_set(err, -ENODEV,
				    "this node owns no DPDK port: set [net] transport = dpdk and [net] port");
	return 0;
}

int dwcp_port_claim(struct dwcp_port *p, struct dwcp_err *err)
{
	uint32_t me = (uint32_t)getpid(), held;

	/* The port thread resets the rings within a millisecond of being asked. */
	for (unsigned i = 0; i < 1000 && __atomic_load_n(&p->shm->reset_done, __ATOMIC_ACQUIRE) !=
						 __atomic_load_n(&p->shm->reset_req, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	held = __atomic_load_n(&p->shm->consumer, __ATOMIC_ACQUIRE);
	for (;;) {
		if (held && held != me && (kill((pid_t)held, 0) == 0 || errno != ESRCH))
			return dwcp_err_set(err, -EBUSY,
					    "the node's DPDK port already has a consumer, pid %u (a port has one: svc-net). Stop it first; to replace svc-net use `dwcpctl upgrade svc-net`",
					    held);
		if (__atomic_compare_exchange_n(&p->shm->consumer, &held, me, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 0;
	}
}

void dwcp_port_release(struct dwcp_port *p)
{
	uint32_t me = (uint32_t)getpid();

	__atomic_compare_exchange_n(&p->shm->consumer, &me, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

void dwcp_port_kick(struct dwcp_port *p)
{
	/* The add orders the enqueue before the flag's load (see dwcp_port_wait_rx). */
	__atomic_fetch_add(&p->shm->tx_doorbell, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->shm->tx_waiting, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &p->shm->tx_doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void dwcp_port_wait_rx(struct dwcp_port *p, uint32_t seq, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };

	/* Flag up, then the last look: the port thread adds to the doorbell
	 * before it reads the flag, so one of us sees the other. */
	__atomic_store_n(&p->shm->rx_waiting, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->shm->rx_doorbell, __ATOMIC_SEQ_CST) == seq)
		syscall(SYS_futex, &p->shm->rx_doorbell, FUTEX_WAIT, seq, &ts, NULL, 0);
	__atomic_store_n(&p->shm->rx_waiting, 0, __ATOMIC_RELAXED);
}
