/* Ethernet, IPv4 and UDP around DWCP datagrams on a DPDK port, and ARP
 * for the peer's address: pure functions over byte buffers (no DPDK, no
 * sockets), so that everything a frame from the wire can do to us is
 * unit-tested and fuzzed (tests/unit/net/udp_test.c, tests/fuzz/udp_fuzz.c).
 *
 * What is accepted, and why so little: a datagram addressed to our MAC (or
 * broadcast), IPv4 without options or fragments (we never send IP
 * fragments: DWCP splits a chunk to the MTU itself), a header checksum
 * that holds, UDP to our address and port, lengths that agree with each
 * other and with the frame. Everything else is refused with the reason.
 * The UDP checksum is left 0 on send (allowed for IPv4): every datagram
 * carries DWCP's own CRC and, keyed, AES-GCM. IPv6 is not done yet.
 *
 * Addresses are kept in network byte order as they travel.
 */
#ifndef DWCP_SVC_NET_UDP_H
#define DWCP_SVC_NET_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DWCP_UDP_ETH_LEN   14u
#define DWCP_UDP_HDRS_LEN  (14u + 20u + 8u)   /* Ethernet + IPv4 + UDP */
#define DWCP_ARP_LEN       (14u + 28u)
#define DWCP_ETH_IPV4      0x0800u
#define DWCP_ETH_ARP       0x0806u

struct dwcp_udp_ep {
	uint8_t  mac[6];
	uint32_t ip;       /* network order */
	uint16_t port;     /* network order */
};

/* A received datagram, pointing into the frame. */
struct dwcp_udp_rx {
	struct dwcp_udp_ep src;
	const uint8_t *payload;
	size_t len;
};

/**
 * Write Ethernet, IPv4 and UDP headers for @p payload_len bytes at the
 * start of @p frame (room for DWCP_UDP_HDRS_LEN). @p ip_id: the IPv4
 * identification (any; no fragments are sent).
 * @return the frame's length, or -EMSGSIZE when the datagram exceeds 65507
 *         bytes of payload.
 */
int dwcp_udp_build(uint8_t *frame, const struct dwcp_udp_ep *src, const struct dwcp_udp_ep *dst,
		   uint16_t ip_id, size_t payload_len);

/**
 * Check a received frame against @p me and point @p out at its payload.
 * @return 0; 1 when it is an ARP frame (for dwcp_arp_parse); -EINVAL with
 *         @p err naming what was wrong (not for us, not IPv4/UDP, a bad
 *         checksum, lengths that disagree, a fragment, IP options).
 */
int dwcp_udp_parse(const uint8_t *frame, size_t len, const struct dwcp_udp_ep *me,
		   struct dwcp_udp_rx *out, struct dwcp_err *err);

/** The IPv4 header checksum over @p n bytes (n even). */
uint16_t dwcp_ipv4_csum(const uint8_t *h, size_t n);

enum dwcp_arp_op { DWCP_ARP_REQUEST = 1, DWCP_ARP_REPLY = 2 };

struct dwcp_arp {
	uint16_t op;           /* enum dwcp_arp_op */
	uint8_t  sha[6];       /* sender hardware address */
	uint32_t spa;          /* sender IPv4, network order */
	uint8_t  tha[6];
	uint32_t tpa;
};

/** Write an ARP request for @p target_ip from @p me (broadcast). @return DWCP_ARP_LEN. */
size_t dwcp_arp_build_request(uint8_t *frame, const struct dwcp_udp_ep *me, uint32_t target_ip);

/** Write the reply to request @p req from @p me. @return DWCP_ARP_LEN. */
size_t dwcp_arp_build_reply(uint8_t *frame, const struct dwcp_udp_ep *me, const struct dwcp_arp *req);

/**
 * Parse an Ethernet/IPv4 ARP frame.
 * @return 0, or -EINVAL naming what was wrong.
 */
int dwcp_arp_parse(const uint8_t *frame, size_t len, struct dwcp_arp *out, struct dwcp_err *err);

#endif
