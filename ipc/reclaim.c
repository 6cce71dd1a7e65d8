/* Reclamation after a death; see reclaim.h for the table it implements. */
#include "ipc/link.h"
#include "ipc/pool.h"
#include "ipc/reclaim.h"

/* Modelled in tests/model/handoff.pml (the BEFORE() rules of died:) and
 * tests/model/proto.pml (reclaim, redeliver true and false). */
uint64_t dwcp_reclaim_decide(uint64_t w, unsigned slot, uint32_t dead_gen, uint32_t next_gen,
			     bool redeliver, uint32_t prod_tail, uint32_t cons_tail)
{
	const uint64_t to = redeliver ? dwcp_owner_work(slot, next_gen) : DWCP_OWNER_FREE_WORD;
	unsigned id = dwcp_owner_id(w);
	uint32_t low = dwcp_owner_low(w);

	switch (dwcp_owner_kind(w)) {
	case DWCP_OWNER_HELD:
		return id == slot && low == dead_gen ? DWCP_OWNER_FREE_WORD : w;
	case DWCP_OWNER_WORK:
		return id == slot && low == dead_gen ? to : w;
	case DWCP_OWNER_LINK:
		if (id >= DWCP_MAX_LINKS)
			return w;
		if (dwcp_abi_link_src(id) == slot && (int32_t)(low - prod_tail) >= 0)
			return to;
		if (dwcp_abi_link_dst(id) == slot && (int32_t)(low - cons_tail) < 0)
			return to;
		return w;
	default:
		return w;
	}
}

static void reset_links(const struct dwcp_shm *shm, unsigned slot)
{
	for (unsigned x = 0; x < DWCP_MAX_SLOTS; x++) {
		if (x == slot)
			continue;
		dwcp_link_reset_producer(shm, slot, x);
		dwcp_link_reset_consumer(shm, x, slot);
	}
}

/* Modelled in tests/model/proto.pml (drain_input), used by clientdeath.pml. */
/* A dead client's inputs will never be read: take its place as consumer
 * (it is dead, so the ring still has one consumer) and free them. */
static unsigned drain_inputs(const struct dwcp_shm *shm, unsigned slot, uint32_t gen)
{
	uint32_t idx[64];
	unsigned total = 0, n;

	for (unsigned x = 0; x < DWCP_MAX_SLOTS; x++) {
		if (x == slot)
			continue;
		while ((n = dwcp_link_dequeue_burst(shm, x, slot, gen, idx, 64)) > 0) {
			for (unsigned i = 0; i < n; i++)
				dwcp_pool_free(shm, idx[i]);
			total += n;
		}
	}
	return total;
}

static void link_tails(const struct dwcp_shm *shm, uint64_t w, uint32_t *prod, uint32_t *cons)
{
	unsigned id = dwcp_owner_id(w);
	const struct rte_ring *r;

	*prod = *cons = 0;
	if (dwcp_owner_kind(w) != DWCP_OWNER_LINK || id >= DWCP_MAX_LINKS)
		return;
	r = dwcp_shm_link(shm, dwcp_abi_link_src(id), dwcp_abi_link_dst(id));
	*prod = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
	*cons = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
}

/* Modelled in tests/model/handoff.pml (died: one CAS per buffer) and
 * tests/model/proto.pml (reclaim), used by upgrade, outofplace, keep, clientdeath.pml. */
void dwcp_reclaim_slot(const struct dwcp_shm *shm, unsigned slot, uint32_t dead_gen,
		       uint32_t next_gen, bool redeliver, struct dwcp_reclaim_result *res)
{
	*res = (struct dwcp_reclaim_result){ 0 };
	reset_links(shm, slot);
	for (uint32_t i = 0; i < shm->n_bufs; i++) {
		struct dwcp_buf_hdr *h = &shm->hdrs[i];
		uint64_t w = __atomic_load_n(&h->owner, __ATOMIC_ACQUIRE);
		uint32_t prod, cons;
		uint64_t to;

		link_tails(shm, w, &prod, &cons);
		to = dwcp_reclaim_decide(w, slot, dead_gen, next_gen, redeliver, prod, cons);
		if (to == w || !__atomic_compare_exchange_n(&h->owner, &w, to, 0, __ATOMIC_ACQ_REL,
							    __ATOMIC_RELAXED))
			continue;
		if (to == DWCP_OWNER_FREE_WORD) {
			res->freed++;
		} else {
			h->redeliveries++;
			res->redelivered++;
		}
	}
	if (!redeliver)
		res->drained = drain_inputs(shm, slot, next_gen);
	dwcp_pool_repair_map(shm);
}
