/* Ethernet/IP/UDP framing, ARP and IPv6 neighbour discovery (udp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* rte_ipv6_udptcp_cksum_verify is still marked experimental in 22.11 (an
 * inline, so no ABI is at stake). */
#define ALLOW_EXPERIMENTAL_API
#include <rte_ip.h>

#include "udp.h"

#define IP_HDR 20u
#define IP6_HDR 40u
#define UDP_HDR 8u
#define MAX_PAYLOAD (65535u - IP_HDR - UDP_HDR)
#define PROTO_UDP 17u
#define PROTO_ICMP6 58u
#define ND_HOP_LIMIT 255u   /* RFC 4861: a router would have lowered it, so the sender is on the link */
#define ND_BODY 24u         /* type, code, checksum, flags/reserved, target */
#define ND_OPT_SRC_MAC 1u
#define ND_OPT_TGT_MAC 2u

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint16_t dwcp_ipv4_csum(const uint8_t *h, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += get16(h + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The IPv6 header of a frame, for DPDK's checksum helpers (which read it by fields). */
static const struct rte_ipv6_hdr *ip6_of(const uint8_t *frame)
{
	return (const struct rte_ipv6_hdr *)(frame + DWCP_UDP_ETH_LEN);
}

static void ip6_header(uint8_t *ip, const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
		       uint8_t hops, size_t payload_len)
{
	put16(ip, 0x6000);                  /* version 6, traffic class 0, flow label 0 */
	put16(ip + 2, 0);
	put16(ip + 4, (uint16_t)payload_len);
	ip[6] = proto;
	ip[7] = hops;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
}

static int udp6_build(uint8_t *frame, const struct dwcp_udp_ep *src, const struct dwcp_udp_ep *dst,
		      size_t payload_len)
{
	uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *udp = ip + IP6_HDR;

	put16(frame + 12, DWCP_ETH_IPV6);
	ip6_header(ip, src->ip6, dst->ip6, PROTO_UDP, 64, UDP_HDR + payload_len);
	memcpy(udp, &src->port, 2);
	memcpy(udp + 2, &dst->port, 2);
	put16(udp + 4, (uint16_t)(UDP_HDR + payload_len));
	put16(udp + 6, 0);                  /* dwcp_udp_csum, once the payload is there */
	return (int)(DWCP_UDP6_HDRS_LEN + payload_len);
}

void dwcp_udp_csum(uint8_t *frame, const void *rest, size_t rest_len)
{
	uint8_t *udp = frame + DWCP_UDP_ETH_LEN + IP6_HDR;
	size_t len = get16(frame + DWCP_UDP_ETH_LEN + 4);
	uint32_t sum;
	uint16_t c;

	if (get16(frame + 12) != DWCP_ETH_IPV6 || rest_len > len)
		return;
	put16(udp + 6, 0);
	sum = rte_ipv6_phdr_cksum(ip6_of(frame), 0);
	sum = __rte_raw_cksum(udp, len - rest_len, sum);
	if (rest_len)
		sum = __rte_raw_cksum(rest, rest_len, sum);
	c = (uint16_t)~__rte_raw_cksum_reduce(sum);
	if (c == 0)
		c = 0xffff;   /* 0 means "no checksum", which IPv6 forbids */
	memcpy(udp + 6, &c, 2);
}

int dwcp_udp_build(uint8_t *frame, const struct dwcp_udp_ep *src, const struct dwcp_udp_ep *dst,
		   uint16_t ip_id, size_t payload_len)
{
	uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *udp = ip + IP_HDR;

	if (payload_len > MAX_PAYLOAD)
		return -EMSGSIZE;
	memcpy(frame, dst->mac, 6);
	memcpy(frame + 6, src->mac, 6);
	if (dst->v6)
		return udp6_build(frame, src, dst, payload_len);
	put16(frame + 12, DWCP_ETH_IPV4);
	ip[0] = 0x45;                       /* version 4, 5 words */
	ip[1] = 0;                          /* DSCP/ECN */
	put16(ip + 2, (uint16_t)(IP_HDR + UDP_HDR + payload_len));
	put16(ip + 4, ip_id);
	put16(ip + 6, 0x4000);              /* don't fragment */
	ip[8] = 64;
	ip[9] = 17;                         /* UDP */
	put16(ip + 10, 0);
	memcpy(ip + 12, &src->ip, 4);
	memcpy(ip + 16, &dst->ip, 4);
	put16(ip + 10, dwcp_ipv4_csum(ip, IP_HDR));
	memcpy(udp, &src->port, 2);
	memcpy(udp + 2, &dst->port, 2);
	put16(udp + 4, (uint16_t)(UDP_HDR + payload_len));
	put16(udp + 6, 0);                  /* no checksum: DWCP's CRC covers the datagram */
	return (int)(DWCP_UDP_HDRS_LEN + payload_len);
}

void dwcp_nd_solicited_mac(const uint8_t ip6[16], uint8_t mac[6])
{
	mac[0] = mac[1] = 0x33;
	mac[2] = 0xff;
	memcpy(mac + 3, ip6 + 13, 3);
}

static const uint8_t no_ip6[16];

static int udp6_parse(const uint8_t *frame, size_t len, const struct dwcp_udp_ep *me, struct dwcp_udp_rx *out,
		      struct dwcp_err *err)
{
	const uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *udp = ip + IP6_HDR;
	uint8_t nd_mac[6];
	uint16_t plen, ulen;

	if (!memcmp(me->ip6, no_ip6, 16))
		return dwcp_err_set(err, -EINVAL, "IPv6 frame: this port has no IPv6 address ([net] ip6)");
	if (len < DWCP_UDP_ETH_LEN + IP6_HDR)
		return dwcp_err_set(err, -EINVAL, "IPv6 frame of %zu bytes: shorter than its header", len);
	if (ip[0] >> 4 != 6)
		return dwcp_err_set(err, -EINVAL, "IPv6 EtherType with IP version %u", ip[0] >> 4);
	plen = get16(ip + 4);
	if (plen > len - DWCP_UDP_ETH_LEN - IP6_HDR)
		return dwcp_err_set(err, -EINVAL, "IPv6 payload length %u: does not fit the frame's %zu bytes", plen,
				    len - DWCP_UDP_ETH_LEN - IP6_HDR);
	if (ip[6] == PROTO_ICMP6) {
		/* Neighbour discovery comes to our solicited-node group. */
		dwcp_nd_solicited_mac(me->ip6, nd_mac);
		if (memcmp(frame, me->mac, 6) && memcmp(frame, nd_mac, 6))
			return dwcp_err_set(err, -EINVAL, "ICMPv6 frame for another MAC");
		return 2;
	}
	if (memcmp(frame, me->mac, 6))
		return dwcp_err_set(err, -EINVAL, "frame for another MAC");
	if (ip[6] != PROTO_UDP)
		return dwcp_err_set(err, -EINVAL, "IPv6 next header %u: not UDP (extension headers are not taken)", ip[6]);
	if (memcmp(ip + 24, me->ip6, 16))
		return dwcp_err_set(err, -EINVAL, "datagram for another IPv6 address");
	if (plen < UDP_HDR)
		return dwcp_err_set(err, -EINVAL, "IPv6 payload length %u: shorter than a UDP header", plen);
	ulen = get16(udp + 4);
	if (ulen != plen)
		return dwcp_err_set(err, -EINVAL, "UDP length %u: IPv6 says %u", ulen, plen);
	if (memcmp(udp + 2, &me->port, 2) && (!me->port_out || memcmp(udp + 2, &me->port_out, 2)))
		return dwcp_err_set(err, -EINVAL, "datagram for another UDP port");
	if (get16(udp + 6) == 0 || rte_ipv6_udptcp_cksum_verify(ip6_of(frame), udp))
		return dwcp_err_set(err, -EINVAL, "UDP checksum over IPv6 does not hold");
	memset(&out->src, 0, sizeof(out->src));
	memcpy(out->src.mac, frame + 6, 6);
	memcpy(out->src.ip6, ip + 8, 16);
	out->src.v6 = true;
	memcpy(&out->src.port, udp, 2);
	memcpy(&out->dst_port, udp + 2, 2);
	out->payload = udp + UDP_HDR;
	out->len = ulen - UDP_HDR;
	return 0;
}

int dwcp_udp_parse(const uint8_t *frame, size_t len, const struct dwcp_udp_ep *me,
		   struct dwcp_udp_rx *out, struct dwcp_err *err)
{
	const uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *udp;
	uint16_t type, tot, ulen;
	uint32_t dst_ip;

	if (len < DWCP_UDP_ETH_LEN)
		return dwcp_err_set(err, -EINVAL, "frame of %zu bytes: shorter than an Ethernet header", len);
	type = get16(frame + 12);
	if (type == DWCP_ETH_ARP)
		return 1;
	if (type == DWCP_ETH_IPV6)
		return udp6_parse(frame, len, me, out, err);
	if (memcmp(frame, me->mac, 6) && memcmp(frame, broadcast, 6))
		return dwcp_err_set(err, -EINVAL, "frame for another MAC");
	if (type != DWCP_ETH_IPV4)
		return dwcp_err_set(err, -EINVAL, "EtherType 0x%04x: not IPv4, IPv6 or ARP", type);
	if (len < DWCP_UDP_HDRS_LEN)
		return dwcp_err_set(err, -EINVAL, "IPv4 frame of %zu bytes: shorter than IPv4 + UDP headers", len);
	if (ip[0] != 0x45)
		return dwcp_err_set(err, -EINVAL, "IPv4 version/length byte 0x%02x: not IPv4, or IP options", ip[0]);
	tot = get16(ip + 2);
	if (tot < IP_HDR + UDP_HDR || tot > len - DWCP_UDP_ETH_LEN)
		return dwcp_err_set(err, -EINVAL, "IPv4 total length %u: does not fit the frame's %zu bytes",
				    tot, len - DWCP_UDP_ETH_LEN);
	if (get16(ip + 6) & 0x3fff)
		return dwcp_err_set(err, -EINVAL, "an IPv4 fragment: DWCP never sends them");
	if (ip[9] != 17)
		return dwcp_err_set(err, -EINVAL, "IP protocol %u: not UDP", ip[9]);
	if (dwcp_ipv4_csum(ip, IP_HDR) != 0)
		return dwcp_err_set(err, -EINVAL, "IPv4 header checksum does not hold");
	memcpy(&dst_ip, ip + 16, 4);
	if (dst_ip != me->ip)
		return dwcp_err_set(err, -EINVAL, "datagram for another IPv4 address");
	udp = ip + IP_HDR;
	ulen = get16(udp + 4);
	if (ulen != tot - IP_HDR)
		return dwcp_err_set(err, -EINVAL, "UDP length %u: IPv4 says %u", ulen, tot - IP_HDR);
	if (memcmp(udp + 2, &me->port, 2) && (!me->port_out || memcmp(udp + 2, &me->port_out, 2)))
		return dwcp_err_set(err, -EINVAL, "datagram for another UDP port");
	memset(&out->src, 0, sizeof(out->src));
	memcpy(out->src.mac, frame + 6, 6);
	memcpy(&out->src.ip, ip + 12, 4);
	memcpy(&out->src.port, udp, 2);
	memcpy(&out->dst_port, udp + 2, 2);
	out->payload = udp + UDP_HDR;
	out->len = ulen - UDP_HDR;
	return 0;
}

static size_t arp_build(uint8_t *frame, const uint8_t dst_mac[6], uint16_t op, const uint8_t sha[6],
			uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
	uint8_t *a = frame + DWCP_UDP_ETH_LEN;

	memcpy(frame, dst_mac, 6);
	memcpy(frame + 6, sha, 6);
	put16(frame + 12, DWCP_ETH_ARP);
	put16(a, 1);            /* Ethernet */
	put16(a + 2, DWCP_ETH_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, &spa, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, &tpa, 4);
	return DWCP_ARP_LEN;
}

size_t dwcp_arp_build_request(uint8_t *frame, const struct dwcp_udp_ep *me, uint32_t target_ip)
{
	static const uint8_t zero[6];

	return arp_build(frame, broadcast, DWCP_ARP_REQUEST, me->mac, me->ip, zero, target_ip);
}

size_t dwcp_arp_build_reply(uint8_t *frame, const struct dwcp_udp_ep *me, const struct dwcp_arp *req)
{
	return arp_build(frame, req->sha, DWCP_ARP_REPLY, me->mac, me->ip, req->sha, req->spa);
}

int dwcp_arp_parse(const uint8_t *frame, size_t len, struct dwcp_arp *out, struct dwcp_err *err)
{
	const uint8_t *a = frame + DWCP_UDP_ETH_LEN;

	if (len < DWCP_ARP_LEN)
		return dwcp_err_set(err, -EINVAL, "ARP frame of %zu bytes: shorter than %u", len, DWCP_ARP_LEN);
	if (get16(frame + 12) != DWCP_ETH_ARP)
		return dwcp_err_set(err, -EINVAL, "not an ARP frame");
	if (get16(a) != 1 || get16(a + 2) != DWCP_ETH_IPV4 || a[4] != 6 || a[5] != 4)
		return dwcp_err_set(err, -EINVAL, "ARP for another hardware or protocol type");
	out->op = get16(a + 6);
	if (out->op != DWCP_ARP_REQUEST && out->op != DWCP_ARP_REPLY)
		return dwcp_err_set(err, -EINVAL, "ARP operation %u: not a request or a reply", out->op);
	memcpy(out->sha, a + 8, 6);
	memcpy(&out->spa, a + 14, 4);
	memcpy(out->tha, a + 18, 6);
	memcpy(&out->tpa, a + 24, 4);
	if (out->sha[0] & 1)
		return dwcp_err_set(err, -EINVAL, "ARP sender address is a multicast MAC");
	return 0;
}

/* ---- IPv6 neighbour discovery ---- */

static size_t nd_build(uint8_t *frame, const uint8_t eth_dst[6], const uint8_t ip_dst[16],
		       const struct dwcp_udp_ep *me, uint8_t type, uint32_t flags, const uint8_t target[16],
		       uint8_t opt)
{
	uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *icmp = ip + IP6_HDR;
	uint16_t c;

	memcpy(frame, eth_dst, 6);
	memcpy(frame + 6, me->mac, 6);
	put16(frame + 12, DWCP_ETH_IPV6);
	ip6_header(ip, me->ip6, ip_dst, PROTO_ICMP6, ND_HOP_LIMIT, ND_BODY + 8u);
	icmp[0] = type;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, (uint16_t)(flags >> 16));
	put16(icmp + 6, (uint16_t)flags);
	memcpy(icmp + 8, target, 16);
	icmp[24] = opt;
	icmp[25] = 1;                       /* 8 bytes */
	memcpy(icmp + 26, me->mac, 6);
	c = rte_ipv6_udptcp_cksum(ip6_of(frame), icmp);
	memcpy(icmp + 2, &c, 2);
	return DWCP_ND_LEN;
}

size_t dwcp_nd_build_solicit(uint8_t *frame, const struct dwcp_udp_ep *me, const uint8_t target[16])
{
	uint8_t mac[6], group[16] = { 0xff, 0x02, [11] = 0x01, [12] = 0xff };

	memcpy(group + 13, target + 13, 3);
	dwcp_nd_solicited_mac(target, mac);
	return nd_build(frame, mac, group, me, DWCP_ND_SOLICIT, 0, target, ND_OPT_SRC_MAC);
}

size_t dwcp_nd_build_advert(uint8_t *frame, const struct dwcp_udp_ep *me, const struct dwcp_nd *ns)
{
	/* Solicited and override: the answer to a question, and our MAC is the one. */
	return nd_build(frame, ns->eth_src, ns->src, me, DWCP_ND_ADVERT, 0x60000000u, me->ip6, ND_OPT_TGT_MAC);
}

int dwcp_nd_parse(const uint8_t *frame, size_t len, struct dwcp_nd *out, struct dwcp_err *err)
{
	const uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *icmp = ip + IP6_HDR, *o;
	uint16_t plen;
	size_t left;

	if (len < DWCP_UDP_ETH_LEN + IP6_HDR + ND_BODY || get16(frame + 12) != DWCP_ETH_IPV6 || ip[0] >> 4 != 6 ||
	    ip[6] != PROTO_ICMP6)
		return dwcp_err_set(err, -EINVAL, "not an ICMPv6 frame long enough for neighbour discovery");
	plen = get16(ip + 4);
	if (plen < ND_BODY || plen > len - DWCP_UDP_ETH_LEN - IP6_HDR)
		return dwcp_err_set(err, -EINVAL, "ICMPv6 length %u: not a neighbour message in %zu bytes", plen, len);
	if (icmp[0] != DWCP_ND_SOLICIT && icmp[0] != DWCP_ND_ADVERT)
		return dwcp_err_set(err, -EINVAL, "ICMPv6 type %u: not a neighbour solicitation or advertisement", icmp[0]);
	if (ip[7] != ND_HOP_LIMIT || icmp[1] != 0)
		return dwcp_err_set(err, -EINVAL, "neighbour message with hop limit %u and code %u: not from this link",
				    ip[7], icmp[1]);
	if (rte_ipv6_udptcp_cksum_verify(ip6_of(frame), icmp))
		return dwcp_err_set(err, -EINVAL, "ICMPv6 checksum does not hold");
	memset(out, 0, sizeof(*out));
	out->type = icmp[0];
	memcpy(out->src, ip + 8, 16);
	memcpy(out->target, icmp + 8, 16);
	memcpy(out->eth_src, frame + 6, 6);
	if (out->target[0] == 0xff)
		return dwcp_err_set(err, -EINVAL, "neighbour message for a multicast target");
	for (o = icmp + ND_BODY, left = plen - ND_BODY; left;) {
		size_t olen;

		if (left < 8)   /* an option is 8 bytes at least: its length byte may not be there */
			return dwcp_err_set(err, -EINVAL, "neighbour message with a malformed option");
		olen = o[1] * 8u;
		if (olen == 0 || olen > left)
			return dwcp_err_set(err, -EINVAL, "neighbour message with a malformed option");
		if (o[0] == (out->type == DWCP_ND_SOLICIT ? ND_OPT_SRC_MAC : ND_OPT_TGT_MAC) && olen == 8) {
			memcpy(out->mac, o + 2, 6);
			out->has_mac = !(out->mac[0] & 1);
		}
		o += olen;
		left -= olen;
	}
	return 0;
}
