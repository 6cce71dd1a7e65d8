/* Which consumer of the node's DPDK port a received frame goes to
 * (port.h: dwcp_port_steer). Pure, so that it is unit-tested and fuzzed
 * apart from DPDK; the supervisor's port threads run it on every frame. */
#include <stdint.h>

#include "ipc/port.h"

#define ETH_HLEN      14u
#define ETHERTYPE_IP4 0x0800u
#define ETHERTYPE_ARP 0x0806u
#define ETHERTYPE_IP6 0x86ddu
#define PROTO_UDP     17u
#define PROTO_ICMP6   58u

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A UDP header at @p udp (8 bytes there) from source address fold @p src. */
static int steer_udp(const uint8_t *udp, uint32_t src, uint16_t steer_port, unsigned n)
{
	uint16_t sport = be16(udp), dport = be16(udp + 2);

	if (dport > steer_port && (unsigned)(dport - steer_port) <= n)
		return dport - steer_port - 1;   /* an answer to worker k's own connection */
	if (dport == steer_port)
		return (int)((src + sport) % n);
	return 0;
}

int dwcp_port_steer(const uint8_t *f, size_t len, uint16_t steer_port, unsigned n)
{
	uint16_t type;

	if (n <= 1 || len < ETH_HLEN)
		return 0;
	type = be16(f + 12);
	if (type == ETHERTYPE_ARP)
		return DWCP_PORT_STEER_ALL;
	if (type == ETHERTYPE_IP4) {
		const uint8_t *ip = f + ETH_HLEN;
		size_t ihl;

		if (len < ETH_HLEN + 20u)
			return 0;
		ihl = (size_t)(ip[0] & 0x0fu) * 4u;
		/* A fragment past the first has no UDP header (DWCP sends none). */
		if (ip[9] != PROTO_UDP || ihl < 20u || len < ETH_HLEN + ihl + 8u || (be16(ip + 6) & 0x3fffu))
			return 0;
		return steer_udp(ip + ihl, be32(ip + 12), steer_port, n);
	}
	if (type == ETHERTYPE_IP6) {
		const uint8_t *ip = f + ETH_HLEN;
		uint32_t fold;

		if (len < ETH_HLEN + 40u)
			return 0;
		if (ip[6] == PROTO_ICMP6)
			return DWCP_PORT_STEER_ALL;
		if (ip[6] != PROTO_UDP || len < ETH_HLEN + 48u)
			return 0;
		fold = be32(ip + 8) ^ be32(ip + 12) ^ be32(ip + 16) ^ be32(ip + 20);
		return steer_udp(ip + 40, fold, steer_port, n);
	}
	return 0;
}
