/* The peer table (peers.h). */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "ipc/peers.h"
#include "ipc/streams.h"

static uint64_t peer_key(enum dwcp_peer_dir dir, const char *addr, const char *name)
{
	char k[1 + DWCP_ADDR_MAX + DWCP_PEER_NAME_MAX + 2];
	int n = snprintf(k, sizeof(k), "%c%s|%s", dir == DWCP_PEER_OUT ? 'o' : 'i', addr, name);
	uint64_t h = XXH3_64bits(k, n > 0 ? (size_t)n : 0);

	return h ? h : 1;   /* 0 means free */
}

static bool same_peer(const struct dwcp_peer_ent *e, uint64_t key, enum dwcp_peer_dir dir,
		      const char *addr, const char *name)
{
	return __atomic_load_n(&e->key, __ATOMIC_ACQUIRE) == key &&
	       __atomic_load_n(&e->ready, __ATOMIC_ACQUIRE) && e->dir == (uint32_t)dir &&
	       strncmp(e->addr, addr, sizeof(e->addr)) == 0 &&
	       strncmp(e->name, name, sizeof(e->name)) == 0;
}

/* Write the identity of a claimed entry and start its counters at zero. */
static void peer_fill(struct dwcp_peer_ent *e, enum dwcp_peer_dir dir, const char *addr,
		      const char *name, uint64_t now_ns)
{
	__atomic_store_n(&e->ready, 0, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memset((uint8_t *)e + offsetof(struct dwcp_peer_ent, dir), 0,
	       sizeof(*e) - offsetof(struct dwcp_peer_ent, dir));
	e->dir = (uint32_t)dir;
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->last_ns = now_ns;
	__atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
}

int dwcp_peers_claim(const struct dwcp_shm *shm, enum dwcp_peer_dir dir, const char *addr,
		     const char *name, uint64_t now_ns)
{
	struct dwcp_peer_ent *t = shm->node->peers;
	uint64_t key = peer_key(dir, addr, name);
	int oldest = -1;

	for (int i = 0; i < DWCP_MAX_PEERS; i++)
		if (same_peer(&t[i], key, dir, addr, name))
			return i;
	/* Free entries are taken in an order that starts where the key
	 * says: two svc-net workers claiming the same new peer at once
	 * race for the same entry, and the loser finds the winner's. */
	for (int k = 0; k < DWCP_MAX_PEERS; k++) {
		int i = (int)((key + (uint64_t)k) % DWCP_MAX_PEERS);
		uint64_t zero = 0;

		if (__atomic_compare_exchange_n(&t[i].key, &zero, key, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			peer_fill(&t[i], dir, addr, name, now_ns);
			return i;
		}
		if (zero == key) {
			/* Being filled by another worker (or a hash twin). */
			for (int spin = 0; spin < 100000 && !__atomic_load_n(&t[i].ready, __ATOMIC_ACQUIRE); spin++)
				sched_yield();
			if (same_peer(&t[i], key, dir, addr, name))
				return i;
		}
	}
	/* Full: the entry idle the longest that has no connection now. */
	for (int i = 0; i < DWCP_MAX_PEERS; i++)
		if (!dwcp_peer_conns(&t[i]) &&
		    (oldest < 0 || t[i].last_ns < t[oldest].last_ns))
			oldest = i;
	if (oldest >= 0) {
		uint64_t old = __atomic_load_n(&t[oldest].key, __ATOMIC_ACQUIRE);

		if (__atomic_compare_exchange_n(&t[oldest].key, &old, key, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			peer_fill(&t[oldest], dir, addr, name, now_ns);
			return oldest;
		}
	}
	return -ENOSPC;
}

int dwcp_peers_read(const struct dwcp_shm *shm, int i, struct dwcp_peer_ent *out)
{
	const struct dwcp_peer_ent *e;
	uint64_t key;

	if (i < 0 || i >= DWCP_MAX_PEERS)
		return -ENOENT;
	e = &shm->node->peers[i];
	key = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
	if (!key || !__atomic_load_n(&e->ready, __ATOMIC_ACQUIRE))
		return -ENOENT;
	memcpy(out, e, sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) != key ||
	    !__atomic_load_n(&e->ready, __ATOMIC_RELAXED))
		return -ENOENT;
	out->conns = dwcp_peer_conns(out);
	out->addr[sizeof(out->addr) - 1] = '\0';
	out->name[sizeof(out->name) - 1] = '\0';
	return 0;
}

void dwcp_peers_forget_worker(const struct dwcp_shm *shm, unsigned service, unsigned worker)
{
	if (!shm->node)
		return;
	for (unsigned i = 0; i < DWCP_MAX_PEERS; i++) {
		struct dwcp_peer_ent *e = &shm->node->peers[i];

		if (service == DWCP_SLOT_NET && worker < sizeof(e->conns_w))
			__atomic_store_n(&e->conns_w[worker], 0, __ATOMIC_RELAXED);
		else if (service == DWCP_SLOT_RDMA)
			__atomic_fetch_and(&e->rdma, ~dwcp_peer_rdma_bit(worker), __ATOMIC_RELEASE);
	}
}
