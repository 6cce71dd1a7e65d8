/* Ethernet/IPv4/UDP framing and ARP (udp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "udp.h"

#define IP_HDR 20u
#define UDP_HDR 8u
#define MAX_PAYLOAD (65535u - IP_HDR - UDP_HDR)

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

int dwcp_udp_build(uint8_t *frame, const struct dwcp_udp_ep *src, const struct dwcp_udp_ep *dst,
		   uint16_t ip_id, size_t payload_len)
{
	uint8_t *ip = frame + DWCP_UDP_ETH_LEN, *udp = ip + IP_HDR;

	if (payload_len > MAX_PAYLOAD)
		return -EMSGSIZE;
	memcpy(frame, dst->mac, 6);
	memcpy(frame + 6, src->mac, 6);
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
	if (memcmp(frame, me->mac, 6) && memcmp(frame, broadcast, 6))
		return dwcp_err_set(err, -EINVAL, "frame for another MAC");
	if (type != DWCP_ETH_IPV4)
		return dwcp_err_set(err, -EINVAL, "EtherType 0x%04x: not IPv4 or ARP", type);
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
	if (memcmp(udp + 2, &me->port, 2))
		return dwcp_err_set(err, -EINVAL, "datagram for another UDP port");
	memcpy(out->src.mac, frame + 6, 6);
	memcpy(&out->src.ip, ip + 12, 4);
	memcpy(&out->src.port, udp, 2);
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
