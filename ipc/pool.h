/* The buffer pool: crash-consistent allocation of payload buffers.
 *
 * A buffer is free iff its header's owner word is FREE; allocation is a
 * single CAS of that word (FREE -> HELD(slot, gen)), freeing a single
 * store. Nothing else is authoritative, so a process killed at any
 * instruction can never leave the pool blocked or a buffer with two owners
 * — which DPDK's lf_stack mempool handler cannot promise: it reserves the
 * list length and pops the head with two separate CASes, and a push first
 * takes element containers off a second free list, so a kill between the
 * steps loses capacity for good.
 *
 * To find free buffers without reading every header, a bitmap holds one
 * advisory bit per buffer (1 = probably free). Bits are set after a free
 * and cleared after a successful allocation, each with one atomic RMW. A
 * stale 1 only costs a failed CAS; a stale 0 (a process killed between the
 * two steps of a free) hides a free buffer until the reclaimer's repair
 * pass, which runs after every death (dwcp_pool_repair_map).
 *
 * Synchronization:
 *   dwcp_pool_alloc_burst | any process, concurrently (CAS on owner words)
 *   dwcp_pool_free        | the buffer's current owner only
 *   dwcp_pool_count_*     | anyone; exact when nothing moves, else a snapshot
 */
#ifndef DWCP_IPC_POOL_H
#define DWCP_IPC_POOL_H

#include <stdint.h>

#include "ipc/shm.h"

/**
 * Allocate up to @p n buffers for (@p slot, @p gen), owner HELD.
 * @param cursor the caller's private scan position (start with 0); kept
 *        between calls so successive allocations do not rescan.
 * @return the number allocated (0..n); fewer than n means the pool is
 *         (momentarily) exhausted. Header fields other than owner are
 *         reset to zero.
 */
unsigned dwcp_pool_alloc_burst(const struct dwcp_shm *shm, unsigned slot, uint32_t gen,
			       uint32_t *idx, unsigned n, uint32_t *cursor);

/**
 * Return a buffer to the pool. The caller must own it (HELD or WORK).
 * Concurrency: release store of the owner word, then one atomic OR.
 */
void dwcp_pool_free(const struct dwcp_shm *shm, uint32_t idx);

/** Buffers whose owner word is FREE (scan of all headers). */
unsigned dwcp_pool_count_free(const struct dwcp_shm *shm);

/** Buffers held or being worked on by @p slot (any generation). */
unsigned dwcp_pool_count_slot(const struct dwcp_shm *shm, unsigned slot);

/**
 * Set the advisory bit of every FREE buffer (after a death: a process
 * killed inside dwcp_pool_free may have left one clear).
 */
void dwcp_pool_repair_map(const struct dwcp_shm *shm);

#endif
