/* The neighbour table (neigh.h). */
#include <errno.h>
#include <string.h>

#include "neigh.h"

#define STATIC_UNTIL UINT64_MAX

void dwcp_neigh_init(struct dwcp_neigh *t)
{
	memset(t, 0, sizeof(*t));
}

static struct dwcp_neigh_ent *find(struct dwcp_neigh *t, const uint8_t ip[16])
{
	for (unsigned i = 0; i < DWCP_NEIGH_MAX; i++)
		if (t->e[i].state != NEIGH_FREE && !memcmp(t->e[i].ip, ip, 16))
			return &t->e[i];
	return NULL;
}

/* A free entry, else the least recently used one that is not static. */
static struct dwcp_neigh_ent *take(struct dwcp_neigh *t)
{
	struct dwcp_neigh_ent *lru = NULL;

	for (unsigned i = 0; i < DWCP_NEIGH_MAX; i++) {
		struct dwcp_neigh_ent *e = &t->e[i];

		if (e->state == NEIGH_FREE)
			return e;
		if (e->until_ns != STATIC_UNTIL && (!lru || e->used_ns < lru->used_ns))
			lru = e;
	}
	return lru;
}

enum dwcp_neigh_verdict dwcp_neigh_lookup(struct dwcp_neigh *t, const uint8_t ip[16], uint64_t now_ns,
					  uint8_t mac[6])
{
	struct dwcp_neigh_ent *e = find(t, ip);

	if (!e) {
		e = take(t);
		if (!e)
			return DWCP_NEIGH_UNREACHABLE;   /* every entry static: a config of 64 peers */
		memset(e, 0, sizeof(*e));
		memcpy(e->ip, ip, 16);
		e->state = NEIGH_ASKING;
	}
	e->used_ns = now_ns;
	switch (e->state) {
	case NEIGH_KNOWN:
		if (now_ns < e->until_ns) {
			memcpy(mac, e->mac, 6);
			return DWCP_NEIGH_SEND;
		}
		/* Expired: ask again, and meanwhile keep sending to the old MAC
		 * (a host stack's STALE): peers rarely move, and a wrong guess
		 * costs only datagrams the rate controller sees lost. */
		e->state = NEIGH_ASKING;
		e->stale = true;
		e->tries = 1;
		e->until_ns = now_ns + DWCP_NEIGH_RETRY_NS;
		memcpy(mac, e->mac, 6);
		return DWCP_NEIGH_ASK_AND_SEND;
	case NEIGH_FAILED:
		if (now_ns < e->until_ns)
			return DWCP_NEIGH_UNREACHABLE;
		e->state = NEIGH_ASKING;
		e->tries = 0;
		e->until_ns = 0;
		/* fall through */
	case NEIGH_ASKING:
	default:
		if (e->stale)
			memcpy(mac, e->mac, 6);
		if (now_ns < e->until_ns)
			return e->stale ? DWCP_NEIGH_SEND : DWCP_NEIGH_WAIT;
		if (e->tries >= DWCP_NEIGH_TRIES) {
			e->state = NEIGH_FAILED;
			e->stale = false;
			e->until_ns = now_ns + DWCP_NEIGH_FAIL_NS;
			return DWCP_NEIGH_UNREACHABLE;
		}
		e->tries++;
		e->until_ns = now_ns + DWCP_NEIGH_RETRY_NS;
		return e->stale ? DWCP_NEIGH_ASK_AND_SEND : DWCP_NEIGH_ASK;
	}
}

bool dwcp_neigh_learn(struct dwcp_neigh *t, const uint8_t ip[16], const uint8_t mac[6], uint64_t now_ns)
{
	struct dwcp_neigh_ent *e = find(t, ip);

	if (!e || e->until_ns == STATIC_UNTIL || (mac[0] & 1))
		return false;
	memcpy(e->mac, mac, 6);
	e->state = NEIGH_KNOWN;
	e->stale = false;
	e->tries = 0;
	e->until_ns = now_ns + DWCP_NEIGH_VALID_NS;
	return true;
}

int dwcp_neigh_set_static(struct dwcp_neigh *t, const uint8_t ip[16], const uint8_t mac[6])
{
	struct dwcp_neigh_ent *e = find(t, ip);

	if (!e)
		e = take(t);
	if (!e)
		return -ENOSPC;
	memcpy(e->ip, ip, 16);
	memcpy(e->mac, mac, 6);
	e->state = NEIGH_KNOWN;
	e->until_ns = STATIC_UNTIL;
	return 0;
}
