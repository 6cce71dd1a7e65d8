/* Ethernet, IPv4 or IPv6, and UDP around DWCP datagrams on a DPDK port;
 * ARP and IPv6 neighbour discovery (RFC 4861) for the peer's MAC: pure
 * functions over byte buffers (no sockets; DPDK only for its checksum
 * helpers), so that everything a frame from the wire can do to us is
 * unit-tested and fuzzed (tests/unit/net/udp_test.c, tests/fuzz/udp_fuzz.c).
 *
 * What is accepted, and why so little: a datagram addressed to our MAC (or
 * broadcast), IPv4 without options or fragments, IPv6 with UDP as its
 * first header (no extension headers: we never send IP fragments, DWCP
 * splits a chunk to the MTU itself), checksums that hold, UDP to our
 * address and port, lengths that agree with each other and with the
 * frame. Everything else is refused with the reason. Over IPv4 the UDP
 * checksum is left 0 on send (allowed there): every chunk carries DWCP's
 * own CRC and, keyed, AES-GCM. IPv6 makes it mandatory, so it is sent
 * (dwcp_udp_csum) and checked.
 *
 * Addresses are kept in network byte order as they travel.
 */
#ifndef DWCP_SVC_NET_UDP_H
#define DWCP_SVC_NET_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DWCP_UDP_ETH_LEN   14u
#define DWCP_UDP_HDRS_LEN  (14u + 20u + 8u)   /* Ethernet + IPv4 + UDP */
#define DWCP_UDP6_HDRS_LEN (14u + 40u + 8u)   /* Ethernet + IPv6 + UDP */
#define DWCP_ARP_LEN       (14u + 28u)
#define DWCP_ND_LEN        (14u + 40u + 32u)  /* a solicitation or advertisement with its MAC option */
#define DWCP_ETH_IPV4      0x0800u
#define DWCP_ETH_ARP       0x0806u
#define DWCP_ETH_IPV6      0x86ddu

/* An endpoint. Our own has an IPv4 address, an IPv6 address or both (the
 * other one zero); a peer's is reached at one of them, as v6 says. */
struct dwcp_udp_ep {
	uint8_t  mac[6];
	uint16_t port;     /* network order */
	uint16_t port_out; /* ours only, network order: the port our own connections leave from
	                    * and get their answers on (a svc-net worker's of several), 0: port */
	uint32_t ip;       /* IPv4, network order */
	uint8_t  ip6[16];
	bool     v6;
};

/** Ethernet, IP and UDP header bytes of a datagram to @p dst. */
static inline size_t dwcp_udp_hdrs_len(const struct dwcp_udp_ep *dst)
{
	return dst->v6 ? DWCP_UDP6_HDRS_LEN : DWCP_UDP_HDRS_LEN;
}

/* A received datagram, pointing into the frame. */
struct dwcp_udp_rx {
	struct dwcp_udp_ep src;
	uint16_t dst_port;   /* network order: me->port or me->port_out */
	const uint8_t *payload;
	size_t len;
};

/**
 * Write Ethernet, IP (IPv6 when @p dst->v6, from src->ip6) and UDP headers
 * for @p payload_len bytes at the start of @p frame (room for
 * dwcp_udp_hdrs_len(dst)). @p ip_id: the IPv4 identification (any; no
 * fragments are sent). Over IPv6 the UDP checksum is left for
 * dwcp_udp_csum, once the payload is in place.
 * @return the frame's length, or -EMSGSIZE when the datagram exceeds 65507
 *         bytes of payload.
 */
int dwcp_udp_build(uint8_t *frame, const struct dwcp_udp_ep *src, const struct dwcp_udp_ep *dst,
		   uint16_t ip_id, size_t payload_len);

/**
 * Fill in the UDP checksum of an IPv6 frame built by dwcp_udp_build (IPv4:
 * nothing to do). The datagram is what follows the headers in @p frame,
 * then @p rest_len bytes at @p rest kept elsewhere (a payload attached to
 * another mbuf; NULL, 0 when the whole payload is in the frame). With a
 * @p rest, the part in the frame must be of even length (ones' complement
 * sums are taken 16 bits at a time).
 */
void dwcp_udp_csum(uint8_t *frame, const void *rest, size_t rest_len);

/**
 * Check a received frame against @p me and point @p out at its payload.
 * @return 0; 1 when it is an ARP frame (for dwcp_arp_parse); 2 when it is
 *         ICMPv6 (for dwcp_nd_parse); -EINVAL with @p err naming what was
 *         wrong (not for us, not IP/UDP, a bad checksum, lengths that
 *         disagree, a fragment, IP options or extension headers).
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

/* IPv6 neighbour discovery: what ARP does for IPv4. */
enum dwcp_nd_type { DWCP_ND_SOLICIT = 135, DWCP_ND_ADVERT = 136 };

struct dwcp_nd {
	uint8_t type;          /* enum dwcp_nd_type */
	uint8_t src[16];       /* the sender's IPv6 address */
	uint8_t target[16];    /* solicit: the address asked for; advert: the address answered for */
	uint8_t mac[6];        /* solicit: the sender's MAC; advert: the target's (from its option) */
	bool    has_mac;       /* the frame carried that option */
	uint8_t eth_src[6];    /* the frame's Ethernet source */
};

/** A solicitation for @p target from @p me (to its solicited-node multicast group). @return DWCP_ND_LEN. */
size_t dwcp_nd_build_solicit(uint8_t *frame, const struct dwcp_udp_ep *me, const uint8_t target[16]);

/** The advertisement answering solicitation @p ns for our address. @return DWCP_ND_LEN. */
size_t dwcp_nd_build_advert(uint8_t *frame, const struct dwcp_udp_ep *me, const struct dwcp_nd *ns);

/**
 * Parse a frame dwcp_udp_parse called ICMPv6: a solicitation or an
 * advertisement with hop limit 255 (so from the link itself), checksum and
 * options that hold. Other ICMPv6 is refused (-EINVAL with the reason).
 */
int dwcp_nd_parse(const uint8_t *frame, size_t len, struct dwcp_nd *out, struct dwcp_err *err);

/** The Ethernet multicast address a solicitation for @p ip6 goes to (33:33:ff:..). */
void dwcp_nd_solicited_mac(const uint8_t ip6[16], uint8_t mac[6]);

#endif
