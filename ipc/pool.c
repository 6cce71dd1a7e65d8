/* Buffer pool over the owner words; see pool.h for the protocol. */
#include <string.h>

#include "ipc/pool.h"

static void reset_descriptor(struct dwcp_buf_hdr *h)
{
	/* Everything but the owner word, which the caller just set. */
	memset((uint8_t *)h + sizeof(h->owner), 0, sizeof(*h) - sizeof(h->owner));
}

static int try_claim(const struct dwcp_shm *shm, uint32_t i, uint64_t want)
{
	uint64_t expect = DWCP_OWNER_FREE_WORD;

	if (!__atomic_compare_exchange_n(&shm->hdrs[i].owner, &expect, want, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	__atomic_fetch_and(&shm->free_map[i / 64], ~(1ull << (i % 64)), __ATOMIC_RELEASE);
	return 1;
}

/* Modelled in tests/model/handoff.pml (client_alloc) and tests/model/proto.pml (pool_alloc). */
unsigned dwcp_pool_alloc_burst(const struct dwcp_shm *shm, unsigned slot, uint32_t gen,
			       uint32_t *idx, unsigned n, uint32_t *cursor)
{
	const uint32_t words = (shm->n_bufs + 63) / 64;
	const uint64_t want = dwcp_owner_held(slot, gen);
	uint32_t w = *cursor % words;
	unsigned got = 0;

	for (uint32_t scanned = 0; scanned <= words && got < n; scanned++) {
		uint64_t bits = __atomic_load_n(&shm->free_map[w], __ATOMIC_ACQUIRE);

		while (bits && got < n) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);

			bits &= bits - 1;
			if (i < shm->n_bufs && try_claim(shm, i, want)) {
				reset_descriptor(&shm->hdrs[i]);
				idx[got++] = i;
			}
		}
		if (got < n)
			w = (w + 1) % words;
	}
	*cursor = w;
	return got;
}

/* Modelled in tests/model/handoff.pml (free) and tests/model/proto.pml (pool_free). */
void dwcp_pool_free(const struct dwcp_shm *shm, uint32_t idx)
{
	__atomic_store_n(&shm->hdrs[idx].owner, DWCP_OWNER_FREE_WORD, __ATOMIC_RELEASE);
	__atomic_fetch_or(&shm->free_map[idx / 64], 1ull << (idx % 64), __ATOMIC_RELEASE);
}

unsigned dwcp_pool_count_free(const struct dwcp_shm *shm)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < shm->n_bufs; i++)
		n += __atomic_load_n(&shm->hdrs[i].owner, __ATOMIC_RELAXED) == DWCP_OWNER_FREE_WORD;
	return n;
}

unsigned dwcp_pool_count_slot(const struct dwcp_shm *shm, unsigned slot)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < shm->n_bufs; i++) {
		uint64_t w = __atomic_load_n(&shm->hdrs[i].owner, __ATOMIC_RELAXED);
		enum dwcp_owner_kind k = dwcp_owner_kind(w);

		n += (k == DWCP_OWNER_HELD || k == DWCP_OWNER_WORK) && dwcp_owner_id(w) == slot;
	}
	return n;
}

void dwcp_pool_repair_map(const struct dwcp_shm *shm)
{
	for (uint32_t i = 0; i < shm->n_bufs; i++)
		if (__atomic_load_n(&shm->hdrs[i].owner, __ATOMIC_ACQUIRE) == DWCP_OWNER_FREE_WORD)
			__atomic_fetch_or(&shm->free_map[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE);
}
