/* Links: one single-producer/single-consumer ring per directed slot pair,
 * carrying 32-bit buffer indices, plus one wakeup word per consumer.
 *
 * The ring is DPDK's rte_ring in SP/SC mode with 4-byte elements,
 * initialised in place inside the dwcp region. SP/SC is what makes it
 * crash-consistent: each index pair has one writer, so a process killed
 * between moving its head and publishing its tail only leaves its own head
 * ahead, and whoever takes its place resets head to tail
 * (dwcp_link_reset_*); the other side never waits on it.
 *
 * Ownership moves with the ring (ipc/buf_hdr.h): before publishing, the
 * producer sets each buffer's owner to LINK(link, position); after
 * dequeuing — which publishes the consumer tail — the consumer CASes
 * LINK(link, position) to WORK(itself). Positions are free-running u32, so
 * the reclaimer can tell an unpublished buffer (position >= producer tail)
 * from a consumed-but-unclaimed one (position < consumer tail).
 *
 * Wakeups (no busy-spin, DESIGN §3 invariant 4): a consumer that found all
 * its inputs empty for its spin budget reads its wake_seq, sets sleeping,
 * issues a full fence, looks at its inputs once more, and futex-waits on
 * wake_seq. A producer publishes, issues a full fence, and only if the
 * consumer says it sleeps bumps wake_seq and wakes it. Either the
 * consumer's re-check sees the new tail or the producer sees sleeping=1
 * (the two fences forbid both missing), and a bump between the consumer's
 * read and its wait makes the wait return at once: no lost wakeup.
 *
 *   function                 | who may call it
 *   dwcp_link_enqueue_burst  | the producer slot's process only
 *   dwcp_link_dequeue_burst  | the consumer slot's process only
 *   dwcp_link_notify         | any producer, after enqueueing
 *   dwcp_link_wait           | the consumer slot's process only
 *   dwcp_link_reset_*        | the supervisor after the side's death, or
 *                            | the side's new process before first use
 *   dwcp_link_count          | anyone (a snapshot)
 */
#ifndef DWCP_IPC_LINK_H
#define DWCP_IPC_LINK_H

#include <stdint.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "ipc/shm.h"

/**
 * Put up to @p n buffers (owned by the caller, HELD or WORK) on the link
 * src -> dst. Owner words of the accepted ones become LINK.
 * @return how many were accepted, from the front of @p idx (0 when full).
 */
/* Modelled in tests/model/handoff.pml (enqueue): owner, slot, head, tail;
 * and in tests/model/proto.pml (enqueue), used by every other model. */
static inline unsigned dwcp_link_enqueue_burst(const struct dwcp_shm *shm, unsigned src,
					       unsigned dst, const uint32_t *idx, unsigned n)
{
	struct rte_ring *r = dwcp_shm_link(shm, src, dst);
	const unsigned link = dwcp_abi_link_id(src, dst);
	uint32_t head = r->prod.head;  /* SP: only this process writes it */
	uint32_t space = r->capacity + __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE) - head;

	if (n > space)
		n = space;
	for (unsigned i = 0; i < n; i++)
		__atomic_store_n(&shm->hdrs[idx[i]].owner, dwcp_owner_link(link, head + i),
				 __ATOMIC_RELAXED);
	/* The ring's release store of prod.tail publishes the owner words too. */
	return n ? rte_ring_sp_enqueue_bulk_elem(r, idx, sizeof(uint32_t), n, NULL) : 0;
}

/**
 * Take up to @p n buffers from the link src -> dst; they become
 * WORK(dst, gen).
 * @return how many were taken.
 */
/* Modelled in tests/model/handoff.pml (dequeue): tail publish, then claim;
 * and in tests/model/proto.pml (dequeue), used by every other model. */
static inline unsigned dwcp_link_dequeue_burst(const struct dwcp_shm *shm, unsigned src,
					       unsigned dst, uint32_t gen, uint32_t *idx, unsigned n)
{
	struct rte_ring *r = dwcp_shm_link(shm, src, dst);
	const unsigned link = dwcp_abi_link_id(src, dst);
	uint32_t head = r->cons.head;  /* SC: only this process writes it */
	const uint64_t mine = dwcp_owner_work(dst, gen);

	n = rte_ring_sc_dequeue_burst_elem(r, idx, sizeof(uint32_t), n, NULL);
	for (unsigned i = 0; i < n; i++) {
		uint64_t expect = dwcp_owner_link(link, head + i);

		/* Only fails if the protocol is broken; the caller's
		 * invariant check (tests) catches that, the data path goes on. */
		__atomic_compare_exchange_n(&shm->hdrs[idx[i]].owner, &expect, mine, 0,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
	return n;
}

/** Buffers published on src -> dst and not yet dequeued. */
static inline unsigned dwcp_link_count(const struct dwcp_shm *shm, unsigned src, unsigned dst)
{
	const struct rte_ring *r = dwcp_shm_link(shm, src, dst);
	/* Consumer tail first: it never passes the producer tail, so read in
	 * this order the difference cannot go negative; clamp for a reader
	 * preempted long enough for the link to fill and drain meanwhile. */
	uint32_t cons = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
	uint32_t n = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE) - cons;

	return n < r->capacity ? n : r->capacity;
}

/**
 * Wake the consumer slot @p dst if it sleeps. Call after enqueueing.
 * @return 1 if a futex wake was issued, 0 if the consumer was awake.
 */
int dwcp_link_notify(const struct dwcp_shm *shm, unsigned dst);

/**
 * Sleep until a producer notifies @p slot or @p timeout_ns passes.
 * @param has_input called after announcing sleep; if it returns nonzero
 *        the wait is skipped (the re-check of the wakeup protocol).
 * @return 1 if it slept, 0 if the re-check found input.
 */
int dwcp_link_wait(const struct dwcp_shm *shm, unsigned slot, uint64_t timeout_ns,
		   int (*has_input)(void *arg), void *arg);

/**
 * As dwcp_link_wait, after polling @p has_input for up to @p spin_ns
 * (less when @p timeout_ns is shorter): input that comes within it is
 * taken without the futex sleep and wake-up that every handoff costs
 * otherwise. For a process that waits between bursts of its own work
 * (dwcp send and recv: [runtime] spin_us, 0 below DWCP_CFG_SPIN_MIN_CPUS
 * CPUs, as for the services' loop). @return 1 if it slept, 0 if input
 * came first.
 */
int dwcp_link_wait_spin(const struct dwcp_shm *shm, unsigned slot, uint64_t timeout_ns,
			uint64_t spin_ns, int (*has_input)(void *arg), void *arg);

/** Discard a dead producer's unpublished entries (head := tail). */
void dwcp_link_reset_producer(const struct dwcp_shm *shm, unsigned src, unsigned dst);
/** Forget a dead consumer's unfinished dequeue (head := tail). */
void dwcp_link_reset_consumer(const struct dwcp_shm *shm, unsigned src, unsigned dst);

#endif
