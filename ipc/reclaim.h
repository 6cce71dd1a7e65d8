/* Reclamation after a death: the one recovery path (STYLE #8) for the
 * shared structures. The supervisor calls it from its death handler, for
 * crashes, missed heartbeats and ignored SIGTERMs alike, before the slot's
 * next generation starts.
 *
 * It resets the dead process's side of every link, then walks the buffer
 * headers once and gives each buffer the dead generation answered for a
 * single next owner:
 *
 *   owner found                               | becomes
 *   HELD(slot, dead)                          | FREE (being filled; the
 *                                             | sender re-sends it)
 *   WORK(slot, dead)                          | WORK(slot, next) — re-delivered
 *   LINK(slot -> x, pos), pos >= prod tail     | WORK(slot, next) — it was
 *                                             | never published
 *   LINK(x -> slot, pos), pos <  cons tail     | WORK(slot, next) — it was
 *                                             | dequeued, never claimed
 *   anything else                             | unchanged
 *
 * With redeliver = false (a client that will not come back) "WORK(slot,
 * next)" reads FREE, and the dead client's input links are drained too.
 * Every change is a CAS from the value read, so the live processes
 * running beside it (allocating, consuming published entries) are never
 * overruled. This is modelled in tests/model/handoff.pml.
 */
#ifndef DWCP_IPC_RECLAIM_H
#define DWCP_IPC_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/shm.h"

struct dwcp_reclaim_result {
	unsigned freed;         /* buffers returned to the pool */
	unsigned redelivered;   /* buffers handed to the next generation */
	unsigned drained;       /* buffers taken off a dead client's input links */
};

/**
 * Reclaim what (@p slot, @p dead_gen) owned.
 * @param next_gen generation the slot's next process will attach as.
 * Concurrency: supervisor only, after the process is known dead (pidfd);
 * the slot's next generation must not have attached yet. Other processes
 * may run.
 */
void dwcp_reclaim_slot(const struct dwcp_shm *shm, unsigned slot, uint32_t dead_gen,
		       uint32_t next_gen, bool redeliver, struct dwcp_reclaim_result *res);

/**
 * Decide the fate of one owner word (the table above), without touching
 * memory: returns the new owner word, or @p w itself to leave it.
 * @p prod_tail / @p cons_tail are the published tails of the link named
 * by a LINK word (ignored otherwise). Pure; exposed for unit tests.
 */
uint64_t dwcp_reclaim_decide(uint64_t w, unsigned slot, uint32_t dead_gen, uint32_t next_gen,
			     bool redeliver, uint32_t prod_tail, uint32_t cons_tail);

#endif
