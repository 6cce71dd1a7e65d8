/* svc-net's neighbour table on a DPDK port: IP address -> MAC, learned
 * from ARP for IPv4 and from neighbour discovery for IPv6 (svc-net/udp.h),
 * with the retry and expiry rules of a host stack reduced to what a
 * transport to a few peers needs. Addresses are 16 bytes: IPv6 as itself,
 * IPv4 mapped (::ffff:a.b.c.d, dwcp_ip_map4). Pure logic: the
 * caller passes the time and sends the ARP requests it is told to.
 *
 * Bounds: DWCP_NEIGH_MAX entries fixed at init. Only addresses we asked
 * for get an entry (a reply we did not ask for, or a request from a
 * stranger, refreshes an entry but never makes one), so a flood of ARP
 * frames cannot fill the table or evict a peer.
 */
#ifndef DWCP_SVC_NET_NEIGH_H
#define DWCP_SVC_NET_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/netaddr.h"

#define DWCP_NEIGH_MAX       64u
#define DWCP_NEIGH_RETRY_NS  200000000ull      /* ask again after 200 ms without a reply */
#define DWCP_NEIGH_TRIES     10u               /* then the address is unreachable for a while */
#define DWCP_NEIGH_VALID_NS  60000000000ull    /* a learned MAC is trusted for 60 s ... */
#define DWCP_NEIGH_FAIL_NS   5000000000ull     /* ... an unreachable address retried after 5 s */

enum dwcp_neigh_state { NEIGH_FREE = 0, NEIGH_ASKING, NEIGH_KNOWN, NEIGH_FAILED };

struct dwcp_neigh_ent {
	uint8_t  ip[16];
	uint8_t  mac[6];
	uint8_t  state;              /* enum dwcp_neigh_state */
	uint8_t  tries;
	bool     stale;              /* ASKING again for a MAC that expired: still used meanwhile */
	uint64_t until_ns;           /* ASKING: next request; KNOWN: expiry; FAILED: retry */
	uint64_t used_ns;            /* last lookup: the least used entry is reused when full */
};

struct dwcp_neigh {
	struct dwcp_neigh_ent e[DWCP_NEIGH_MAX];
};

enum dwcp_neigh_verdict {
	DWCP_NEIGH_SEND,             /* mac filled: send */
	DWCP_NEIGH_ASK,              /* ask for the address now (ARP, or a solicitation), then wait */
	DWCP_NEIGH_ASK_AND_SEND,     /* the MAC expired: ask again, and send to it (mac filled) */
	DWCP_NEIGH_WAIT,             /* a request is out: wait */
	DWCP_NEIGH_UNREACHABLE,      /* no reply after DWCP_NEIGH_TRIES requests */
};

void dwcp_neigh_init(struct dwcp_neigh *t);

/** What to do to send to @p ip at @p now_ns; @p mac filled on DWCP_NEIGH_SEND. */
enum dwcp_neigh_verdict dwcp_neigh_lookup(struct dwcp_neigh *t, const uint8_t ip[16], uint64_t now_ns,
					  uint8_t mac[6]);

/**
 * ARP or neighbour discovery told us @p ip is at @p mac (a reply, or a
 * request's sender). @return true when it changed an entry we had (asked
 * for or known).
 */
bool dwcp_neigh_learn(struct dwcp_neigh *t, const uint8_t ip[16], const uint8_t mac[6], uint64_t now_ns);

/** A static entry ([net] neighbours): never expires, never asked for. */
int dwcp_neigh_set_static(struct dwcp_neigh *t, const uint8_t ip[16], const uint8_t mac[6]);

#endif
