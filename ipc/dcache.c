/* What any process reads of the delta cache (dcache.h): its figures. */
#include <string.h>

#include "ipc/dcache.h"

bool dwcp_dcache_sum(uint8_t *mem, uint64_t size, unsigned n, struct dwcp_dcache_stats *st)
{
	bool any = false;

	memset(st, 0, sizeof(*st));
	for (unsigned k = 0; mem && k < (n ? n : 1); k++) {
		const struct dwcp_dcache_hdr *h;
		uint8_t *part;
		uint64_t part_size;

		dwcp_dcache_part(mem, size, k, n, &part, &part_size);
		h = (const void *)part;
		if (part_size < sizeof(*h) || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != DWCP_DCACHE_MAGIC)
			continue;
		any = true;
		st->capacity += h->n_entries;
		st->live += h->live;
		st->hits += h->hits;
		st->misses += h->misses;
		st->inserts += h->inserts;
		st->evictions += h->evictions;
		st->corrupt += h->corrupt;
		st->spared += h->spared;
	}
	return any;
}
