/* Routing over workers: which slot a buffer for a service goes to.
 *
 * A program step names a service by its first slot (DWCP_SLOT_SIMD); a
 * service may run as several workers, each its own process and slot with
 * its own links, heartbeat, restart and upgrade. The supervisor publishes
 * which slots work for which service in the control block's route table
 * before any process attaches (ctl_block.h), and each slot's sup half says
 * which service it works for. Whoever owns a buffer picks the worker at
 * the moment it forwards it:
 *
 *   - a service with one worker: its slot, always (what every hop paid
 *     before workers existed: no slot state is read);
 *   - else the READY worker with the fewest buffers waiting in the link
 *     from the caller, ties broken round-robin from the caller's cursor,
 *     so an idle node spreads work evenly and a busy or slow worker gets
 *     less;
 *   - no worker READY: the service's first slot, where the buffer waits
 *     for that slot's next generation, as with one worker.
 *
 * A worker that is restarting, drained or upgrading is not READY and gets
 * nothing new; what sits in its input link waits for its next generation
 * (ownership is the link's, ipc/buf_hdr.h). A worker does every step of a
 * chunk that names its service in one visit (svc_runtime.c): compress,
 * seal and checksum are one handoff, not three.
 *
 * Which service a step names is decided from a second table, the op
 * table, which the services themselves publish: each says, at attach,
 * which ops it runs and at which rank (dwcp_svc.ops):
 *
 *   rank    | meaning                               | e.g.
 *   PREFER  | an offload engine: wins while READY   | svc-gpu: LZ4, SEAL, ...
 *   SERVE   | the op's own engine                   | svc-simd: every chunk op
 *   SPARE   | only while no higher rank is READY    | svc-gpu: CHECKSUM, VERIFY
 *
 * A new program names dwcp_route_engine's pick for each op; at every
 * handoff, a step whose service is not READY moves to the best READY
 * other one (dwcp_route_step). Nothing in ipc/ or the transports names
 * which service computes what, so an engine that learns an op (a GPU
 * kernel, a new version) only publishes it. The bits outlive the process
 * (a restarting service keeps its place); a version that stops running
 * an op clears its bit when it attaches.
 *
 * Concurrency: any process, on buffers it owns; reads the route table
 * (written once), the op table (written at attach) and slot states and
 * link counts (snapshots).
 */
#ifndef DWCP_IPC_ROUTE_H
#define DWCP_IPC_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/buf_hdr.h"
#include "ipc/shm.h"

/** The service slot @p slot works for: itself for a service's first slot,
 * the service for a further worker, 0 for the supervisor and clients. */
static inline unsigned dwcp_route_service_of(const struct dwcp_shm *shm, unsigned slot)
{
	return slot < DWCP_MAX_SLOTS ? shm->ctl->slots[slot].sup.service : 0;
}

/** Workers of service @p svc (1 for a service without further workers). */
static inline unsigned dwcp_route_workers(const struct dwcp_shm *shm, unsigned svc)
{
	return svc < DWCP_SLOT_CLIENT0 && shm->ctl->route[svc].n ? shm->ctl->route[svc].n : 1;
}

/**
 * The slot to enqueue a buffer for step slot @p dst on, from slot @p from.
 * @p dst that is not a service (a client's DELIVER) is returned as it is.
 * @p cursor: the caller's private round-robin position.
 */
unsigned dwcp_route_pick(const struct dwcp_shm *shm, unsigned from, unsigned dst,
			 uint32_t *cursor);

/**
 * The worker index (of @p n) that a keyed service's chunk (@p stream,
 * @p seq) goes to, on every node and in every process: svc-mem's workers
 * each keep a part of the delta cache, and a chunk's pages must meet
 * their previous versions, in the part its (stream, seq) names, at both
 * ends.
 */
static inline unsigned dwcp_route_key(uint64_t stream, uint64_t seq, unsigned n)
{
	uint64_t x = stream ^ (seq * 0x9e3779b97f4a7c15ull);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return n ? (unsigned)(x % n) : 0;
}

/** Whether service slot @p dst picks its worker by key (dwcp_route_key). */
static inline bool dwcp_route_keyed(const struct dwcp_shm *shm, unsigned dst)
{
	return dst < DWCP_SLOT_CLIENT0 && shm->ctl->route[dst].keyed && shm->ctl->route[dst].n > 1;
}

/**
 * The slot for a buffer with header @p h whose next step names @p dst:
 * a keyed service's worker by the buffer's (stream, seq), READY or not
 * (the buffer then waits for that worker's next generation, as with one
 * process: another worker's part of the cache lacks its bases); else
 * dwcp_route_pick.
 */
unsigned dwcp_route_pick_buf(const struct dwcp_shm *shm, unsigned from, unsigned dst,
			     const struct dwcp_buf_hdr *h, uint32_t *cursor);

enum dwcp_route_rank {
	DWCP_RANK_SPARE,           /* only while no service of a higher rank is READY */
	DWCP_RANK_SERVE,           /* the op's own engine */
	DWCP_RANK_PREFER,          /* an offload engine: chosen first while READY */
	DWCP_RANK_N
};

/**
 * Publish what service @p svc runs: @p by_rank[r] is a mask of
 * DWCP_OP_BIT(op) at rank r (an op in no mask is not run). Called by each
 * process of the service before it reports READY or STANDBY.
 */
void dwcp_route_publish_ops(struct dwcp_ctl_block *ctl, unsigned svc,
			    const uint32_t by_rank[DWCP_RANK_N]);

/**
 * The service a new program should name for @p op: the READY one of the
 * highest rank; with none READY, the op's own engine (SERVE; the buffer
 * waits for its next generation); DWCP_SLOT_NONE when no service has ever
 * published @p op (a node still starting, or a service missing).
 */
unsigned dwcp_route_engine(const struct dwcp_shm *shm, unsigned op);

/**
 * Degraded routing: the slot buffer @p h goes to for its step at pc. When
 * that step's service is not READY (dead, restarting, standby) and
 * another service that runs the op is, the step is rewritten to name the
 * best such one. Called by the buffer's owner just before it forwards it,
 * so traffic leaves a dead engine at the next handoff and comes back with
 * the next programs once it is READY again. Buffers already in the dead
 * engine's input link wait for its next generation (ownership is theirs).
 * A pinned step, and an op only one service runs, cost no slot-state
 * read.
 */
unsigned dwcp_route_step(const struct dwcp_shm *shm, struct dwcp_buf_hdr *h);

/** Whether at least one worker of service @p svc is READY. */
bool dwcp_route_ready(const struct dwcp_shm *shm, unsigned svc);

/**
 * Fill the route table for one service (supervisor, before any process
 * attaches): its own slot @p svc and @p n_extra further worker slots.
 */
void dwcp_route_publish(struct dwcp_ctl_block *ctl, unsigned svc, const unsigned *extra,
			unsigned n_extra, bool keyed);

#endif
