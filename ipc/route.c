/* Routing over workers and engines (route.h). */
#include "ipc/link.h"
#include "ipc/route.h"

_Static_assert(DWCP_OP_MAX <= DWCP_OP_TABLE, "the op table has a place for every op");
_Static_assert(DWCP_RANK_N == 3, "an op table entry has three ranks");

static bool slot_ready(const struct dwcp_shm *shm, unsigned slot)
{
	return dwcp_slot_state(&shm->ctl->slots[slot]) == DWCP_STATE_READY;
}

unsigned dwcp_route_pick(const struct dwcp_shm *shm, unsigned from, unsigned dst,
			 uint32_t *cursor)
{
	const struct dwcp_route_ent *r;
	unsigned n, start, best = dst, best_load = ~0u;

	if (dst >= DWCP_SLOT_CLIENT0)
		return dst;
	r = &shm->ctl->route[dst];
	n = r->n;
	if (n <= 1)
		return dst;
	if (n > DWCP_MAX_WORKERS)
		n = DWCP_MAX_WORKERS;
	start = (*cursor)++ % n;
	for (unsigned k = 0; k < n; k++) {
		unsigned s = r->slot[(start + k) % n], load;

		if (s == from || s >= DWCP_MAX_SLOTS || !slot_ready(shm, s))
			continue;
		load = dwcp_link_count(shm, from, s);
		if (load < best_load) {
			best = s;
			best_load = load;
			if (!load)
				break;
		}
	}
	return best;
}

unsigned dwcp_route_pick_buf(const struct dwcp_shm *shm, unsigned from, unsigned dst,
			     const struct dwcp_buf_hdr *h, uint32_t *cursor)
{
	const struct dwcp_route_ent *r;
	unsigned n;

	if (!dwcp_route_keyed(shm, dst))
		return dwcp_route_pick(shm, from, dst, cursor);
	r = &shm->ctl->route[dst];
	n = r->n > DWCP_MAX_WORKERS ? DWCP_MAX_WORKERS : r->n;
	return r->slot[dwcp_route_key(h->stream, h->seq, n)];
}

bool dwcp_route_ready(const struct dwcp_shm *shm, unsigned svc)
{
	unsigned n = dwcp_route_workers(shm, svc);

	if (svc >= DWCP_MAX_SLOTS)
		return false;
	if (n == 1 || svc >= DWCP_SLOT_CLIENT0)
		return slot_ready(shm, svc);
	for (unsigned k = 0; k < n && k < DWCP_MAX_WORKERS; k++)
		if (shm->ctl->route[svc].slot[k] < DWCP_MAX_SLOTS &&
		    slot_ready(shm, shm->ctl->route[svc].slot[k]))
			return true;
	return false;
}

void dwcp_route_publish(struct dwcp_ctl_block *ctl, unsigned svc, const unsigned *extra,
			unsigned n_extra, bool keyed)
{
	struct dwcp_route_ent *r = &ctl->route[svc];

	if (n_extra > DWCP_MAX_WORKERS - 1)
		n_extra = DWCP_MAX_WORKERS - 1;
	r->slot[0] = (uint8_t)svc;
	ctl->slots[svc].sup.service = svc;
	ctl->slots[svc].sup.worker = 0;
	for (unsigned k = 0; k < n_extra; k++) {
		r->slot[1 + k] = (uint8_t)extra[k];
		ctl->slots[extra[k]].sup.service = svc;
		ctl->slots[extra[k]].sup.worker = 1 + k;
	}
	r->keyed = keyed;
	__atomic_store_n(&r->n, (uint8_t)(1 + n_extra), __ATOMIC_RELEASE);
}

void dwcp_route_publish_ops(struct dwcp_ctl_block *ctl, unsigned svc,
			    const uint32_t by_rank[DWCP_RANK_N])
{
	uint16_t bit = (uint16_t)(1u << svc);

	if (svc == 0 || svc >= DWCP_SLOT_CLIENT0)
		return;
	for (unsigned op = 0; op < DWCP_OP_TABLE; op++)
		for (unsigned r = 0; r < DWCP_RANK_N; r++) {
			uint16_t *w = &ctl->op_table[op].by_rank[r];

			if (by_rank[r] & DWCP_OP_BIT(op))
				__atomic_fetch_or(w, bit, __ATOMIC_RELEASE);
			else
				__atomic_fetch_and(w, (uint16_t)~bit, __ATOMIC_RELEASE);
		}
}

static unsigned rank_mask(const struct dwcp_shm *shm, unsigned op, unsigned r)
{
	return __atomic_load_n(&shm->ctl->op_table[op].by_rank[r], __ATOMIC_ACQUIRE);
}

/* The READY service of the highest rank for @p op, lowest slot first
 * within a rank, leaving out the services in @p avoid. */
static unsigned best_ready(const struct dwcp_shm *shm, unsigned op, unsigned avoid)
{
	for (unsigned r = DWCP_RANK_N; r-- > 0;) {
		unsigned m = rank_mask(shm, op, r) & ~avoid;

		for (; m; m &= m - 1) {
			unsigned s = (unsigned)__builtin_ctz(m);

			if (dwcp_route_ready(shm, s))
				return s;
		}
	}
	return DWCP_SLOT_NONE;
}

unsigned dwcp_route_engine(const struct dwcp_shm *shm, unsigned op)
{
	static const unsigned waiting_order[] = { DWCP_RANK_SERVE, DWCP_RANK_PREFER, DWCP_RANK_SPARE };
	unsigned s;

	if (op >= DWCP_OP_TABLE)
		return DWCP_SLOT_NONE;
	s = best_ready(shm, op, 0);
	if (s != DWCP_SLOT_NONE)
		return s;
	for (unsigned k = 0; k < DWCP_RANK_N; k++) {
		unsigned m = rank_mask(shm, op, waiting_order[k]);

		if (m)
			return (unsigned)__builtin_ctz(m);
	}
	return DWCP_SLOT_NONE;
}

unsigned dwcp_route_step(const struct dwcp_shm *shm, struct dwcp_buf_hdr *h)
{
	uint16_t step = h->prog[h->pc];
	unsigned slot = dwcp_prog_slot(step), op = dwcp_prog_op(step), others = 0, alt;

	if (dwcp_prog_pinned(step) || op >= DWCP_OP_TABLE || slot == 0 || slot >= DWCP_SLOT_CLIENT0)
		return slot;
	/* One read-mostly line first: most hops (svc-mem, svc-net, DELIVER)
	 * have no other engine and must not pay for reading slot states,
	 * whose cache lines their owners keep writing. */
	for (unsigned r = 0; r < DWCP_RANK_N; r++)
		others |= rank_mask(shm, op, r);
	others &= ~(1u << slot);
	if (!others || dwcp_route_ready(shm, slot))
		return slot;
	alt = best_ready(shm, op, 1u << slot);
	if (alt == DWCP_SLOT_NONE)
		return slot;
	h->prog[h->pc] = dwcp_prog_step(alt, op);
	return alt;
}
