/* Routing over workers (route.h). */
#include "ipc/link.h"
#include "ipc/route.h"

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
