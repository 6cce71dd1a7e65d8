/* The supervisor's DPDK port, shared by its two halves: port.c opens,
 * configures, closes and reports it; port_queue.c is the threads that
 * burst its queues (ipc/port.h says how consumers use it). */
#ifndef DWCP_SUP_PORT_PVT_H
#define DWCP_SUP_PORT_PVT_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/port.h"

#define PORT_BURST      32u
#define SLEEP_MIN_NS    50000ull
#define SLEEP_MAX_NS    1000000ull

struct rte_mempool;
struct rte_ring;
struct rte_memzone;
struct dwcp_shm;

struct sup_port;

/* A queue pair and its thread. */
struct sup_port_q {
	struct sup_port *p;
	unsigned q;
	pthread_t thread;
	bool running;
	struct rte_ring *rx[DWCP_PORT_MAX_CONSUMERS];   /* RX ring (q, k) */
};

struct sup_port {
	uint16_t id;
	bool started;
	unsigned nq, nc;               /* queue pairs; consumers (svc-net workers) */
	struct rte_mempool *pool;
	unsigned mbufs;
	struct rte_ring *tx[DWCP_PORT_MAX_CONSUMERS];
	struct sup_port_q qs[DWCP_PORT_MAX_QUEUES];
	const struct rte_memzone *mz;
	struct dwcp_port_shm *shm;
	const struct dwcp_shm *region; /* the pool buffers' owners (zero-copy reset) */
	int stop;                      /* atomic: the threads' exit request */
	uint64_t spin_ns;
	bool poll_mode;
	bool af_packet;                /* its MTU is its interface's (iface_mtu) */
	char iface[IFNAMSIZ];          /* af_packet: its interface ... */
	uint32_t iface_old_mtu;        /* ... and the MTU it had before [net] mtu, 0: untouched */
	bool multi_seg;                /* the driver sends chained mbufs */
	bool rss;                      /* the device spreads flows over its queues itself */
	bool want_multicast;           /* [net] ip6: neighbour discovery needs multicast in */
	bool tx_cleanup;               /* it gives back sent mbufs on request (rte_eth_tx_done_cleanup) */
	struct dwcp_port_ext_shm *ext; /* zero-copy TX offered (ipc/port.h), else NULL */
	struct rte_mempool *extpool;   /* ... and its attach mbufs */
	char ext_why[160];             /* ... and why not */
	/* rates, for status */
	uint64_t prev_rx, prev_tx, prev_ns;
	double rx_pps, tx_pps;
};

/** A queue's thread (@p arg: its struct sup_port_q): bursts RX to the
 *  consumers' rings and their TX rings to the wire, resets a dead
 *  consumer's rings, sleeps when idle. */
void *sup_port_queue_main(void *arg);

/** Wake every queue's thread: a reset to do, or the stop. */
void sup_port_wake_all(struct sup_port *p);

#endif
