/* svc-net/udp.c: Ethernet/IPv4/UDP framing of DWCP datagrams and ARP,
 * built and parsed; every kind of frame the parser must refuse is refused
 * with its reason; the IPv4 checksum matches a header whose checksum is
 * known (0xb861, the textbook example). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "svc-net/udp.h"

static struct dwcp_udp_ep me, peer;
static uint8_t frame[2048];

static void setup(void)
{
	static const uint8_t m1[6] = { 0x02, 0, 0, 0, 0, 1 }, m2[6] = { 0x02, 0, 0, 0, 0, 2 };

	memcpy(me.mac, m1, 6);
	memcpy(peer.mac, m2, 6);
	inet_pton(AF_INET, "10.9.0.1", &me.ip);
	inet_pton(AF_INET, "10.9.0.2", &peer.ip);
	me.port = htons(7100);
	peer.port = htons(40000);
	memset(frame, 0, sizeof(frame));
}

TestSuite(udp, .init = setup);

Test(udp, the_ipv4_checksum_of_a_known_header)
{
	const uint8_t h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };

	cr_expect_eq(dwcp_ipv4_csum(h, sizeof(h)), 0xb861);
}

Test(udp, a_built_datagram_parses_back_to_its_endpoints_and_payload)
{
	struct dwcp_udp_rx rx;
	struct dwcp_err e = { 0 };
	int n;

	memcpy(frame + DWCP_UDP_HDRS_LEN, "hello dwcp", 10);
	n = dwcp_udp_build(frame, &peer, &me, 7, 10);
	cr_assert_eq(n, (int)DWCP_UDP_HDRS_LEN + 10);
	cr_expect_eq(dwcp_ipv4_csum(frame + 14, 20), 0, "the header's checksum does not hold");
	cr_assert_eq(dwcp_udp_parse(frame, (size_t)n, &me, &rx, &e), 0, "%s", e.msg);
	cr_expect_eq(rx.len, 10u);
	cr_expect_eq(memcmp(rx.payload, "hello dwcp", 10), 0);
	cr_expect_eq(rx.payload, frame + DWCP_UDP_HDRS_LEN);
	cr_expect_eq(memcmp(rx.src.mac, peer.mac, 6), 0);
	cr_expect_eq(rx.src.ip, peer.ip);
	cr_expect_eq(rx.src.port, peer.port);
	/* Ethernet pads short frames to 60 bytes: the padding is not payload. */
	cr_assert_eq(dwcp_udp_parse(frame, 60, &me, &rx, &e), 0, "%s", e.msg);
	cr_expect_eq(rx.len, 10u);
	/* Broadcast is accepted as ours. */
	memset(frame, 0xff, 6);
	cr_expect_eq(dwcp_udp_parse(frame, (size_t)n, &me, &rx, &e), 0, "%s", e.msg);
	cr_expect_eq(dwcp_udp_build(frame, &peer, &me, 0, 65508), -EMSGSIZE);
}

/* A fresh good frame, changed by @p mutate, must be refused naming @p why. */
static void expect_refused(void (*mutate)(uint8_t *f, size_t *n), const char *why)
{
	struct dwcp_udp_rx rx;
	struct dwcp_err e = { 0 };
	size_t n = (size_t)dwcp_udp_build(frame, &peer, &me, 1, 100);

	mutate(frame, &n);
	cr_expect_eq(dwcp_udp_parse(frame, n, &me, &rx, &e), -EINVAL, "accepted: %s", why);
	cr_expect(strstr(e.msg, why) != NULL, "message '%s' lacks '%s'", e.msg, why);
}

static void recsum(uint8_t *f)
{
	f[24] = f[25] = 0;
	uint16_t c = dwcp_ipv4_csum(f + 14, 20);

	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
}

static void m_short(uint8_t *f, size_t *n) { (void)f; *n = 10; }
static void m_short_ip(uint8_t *f, size_t *n) { (void)f; *n = 30; }
static void m_mac(uint8_t *f, size_t *n) { (void)n; f[5] ^= 1; }
static void m_type(uint8_t *f, size_t *n) { (void)n; f[12] = 0x88; f[13] = 0xcc; }
static void m_opts(uint8_t *f, size_t *n) { (void)n; f[14] = 0x46; recsum(f); }
static void m_long(uint8_t *f, size_t *n) { (void)n; f[16] = 0x02; recsum(f); }
static void m_tiny(uint8_t *f, size_t *n) { (void)n; f[16] = 0; f[17] = 20; recsum(f); }
static void m_frag(uint8_t *f, size_t *n) { (void)n; f[20] = 0x20; recsum(f); }
static void m_off(uint8_t *f, size_t *n) { (void)n; f[21] = 0x08; recsum(f); }
static void m_proto(uint8_t *f, size_t *n) { (void)n; f[23] = 6; recsum(f); }
static void m_csum(uint8_t *f, size_t *n) { (void)n; f[25] ^= 0x10; }
static void m_ip(uint8_t *f, size_t *n) { (void)n; f[33] ^= 1; recsum(f); }
static void m_ulen(uint8_t *f, size_t *n) { (void)n; f[39] ^= 4; }
static void m_port(uint8_t *f, size_t *n) { (void)n; f[37] ^= 1; }

Test(udp, frames_not_for_us_or_malformed_are_refused_with_the_reason)
{
	expect_refused(m_short, "shorter than an Ethernet header");
	expect_refused(m_short_ip, "shorter than IPv4 + UDP");
	expect_refused(m_mac, "another MAC");
	expect_refused(m_type, "not IPv4, IPv6 or ARP");
	expect_refused(m_opts, "IP options");
	expect_refused(m_long, "does not fit");
	expect_refused(m_tiny, "does not fit");
	expect_refused(m_frag, "fragment");
	expect_refused(m_off, "fragment");
	expect_refused(m_proto, "not UDP");
	expect_refused(m_csum, "checksum");
	expect_refused(m_ip, "another IPv4 address");
	expect_refused(m_ulen, "UDP length");
	expect_refused(m_port, "another UDP port");
}

Test(udp, arp_request_and_reply)
{
	struct dwcp_arp req, rep;
	struct dwcp_err e = { 0 };
	struct dwcp_udp_rx rx;
	uint8_t f2[64];

	cr_assert_eq(dwcp_arp_build_request(frame, &peer, me.ip), DWCP_ARP_LEN);
	cr_expect_eq(dwcp_udp_parse(frame, DWCP_ARP_LEN, &me, &rx, &e), 1, "ARP not told apart");
	cr_assert_eq(dwcp_arp_parse(frame, DWCP_ARP_LEN, &req, &e), 0, "%s", e.msg);
	cr_expect_eq(req.op, DWCP_ARP_REQUEST);
	cr_expect_eq(req.spa, peer.ip);
	cr_expect_eq(req.tpa, me.ip);
	cr_expect_eq(memcmp(req.sha, peer.mac, 6), 0);
	cr_assert_eq(dwcp_arp_build_reply(f2, &me, &req), DWCP_ARP_LEN);
	cr_expect_eq(memcmp(f2, peer.mac, 6), 0, "the reply is not addressed to the asker");
	cr_assert_eq(dwcp_arp_parse(f2, DWCP_ARP_LEN, &rep, &e), 0, "%s", e.msg);
	cr_expect_eq(rep.op, DWCP_ARP_REPLY);
	cr_expect_eq(rep.spa, me.ip);
	cr_expect_eq(memcmp(rep.sha, me.mac, 6), 0);
	cr_expect_eq(rep.tpa, peer.ip);

	cr_expect_eq(dwcp_arp_parse(frame, 30, &req, &e), -EINVAL);
	frame[21] = 9;   /* operation */
	cr_expect_eq(dwcp_arp_parse(frame, DWCP_ARP_LEN, &req, &e), -EINVAL);
	cr_expect(strstr(e.msg, "operation"), "%s", e.msg);
	dwcp_arp_build_request(frame, &peer, me.ip);
	frame[14] = 0;   /* hardware type */
	frame[15] = 6;
	cr_expect_eq(dwcp_arp_parse(frame, DWCP_ARP_LEN, &req, &e), -EINVAL);
	dwcp_arp_build_request(frame, &peer, me.ip);
	frame[22] |= 1;  /* multicast sender */
	cr_expect_eq(dwcp_arp_parse(frame, DWCP_ARP_LEN, &req, &e), -EINVAL);
	cr_expect(strstr(e.msg, "multicast"), "%s", e.msg);
}

/* ---- IPv6 ---- */

static struct dwcp_udp_ep me6, peer6;

static void setup6(void)
{
	setup();
	me6 = me;
	peer6 = peer;
	inet_pton(AF_INET6, "fd00:78::1", me6.ip6);
	inet_pton(AF_INET6, "fd00:78::2", peer6.ip6);
	me6.v6 = peer6.v6 = true;
}

/* RFC 1071 the slow way, independent of DPDK: the UDP checksum field of
 * a contiguous IPv6 frame must make this sum 0xffff. */
static uint16_t rfc1071_sum(const uint8_t *f)
{
	const uint8_t *ip = f + 14;
	uint32_t plen = (uint32_t)(ip[4] << 8 | ip[5]), s = 0;

	for (unsigned i = 8; i < 40; i += 2)          /* source and destination */
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	s += plen + ip[6];                            /* length and next header */
	for (uint32_t i = 0; i < plen; i++)
		s += i & 1 ? ip[40 + i] : (uint32_t)ip[40 + i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

Test(udp, an_ipv6_datagram_parses_back_and_its_checksum_holds_by_rfc_1071, .init = setup6)
{
	uint8_t rest[1001], split[2048];
	struct dwcp_udp_rx rx;
	struct dwcp_err e = { 0 };
	int n;

	for (unsigned i = 0; i < sizeof(rest); i++)
		rest[i] = (uint8_t)(i * 7 + 3);
	n = dwcp_udp_build(frame, &peer6, &me6, 0, 48 + sizeof(rest));
	cr_assert_eq(n, (int)(DWCP_UDP6_HDRS_LEN + 48 + sizeof(rest)));
	cr_expect_eq(frame[12], 0x86);
	cr_expect_eq(frame[13], 0xdd);
	memset(frame + DWCP_UDP6_HDRS_LEN, 0x5a, 48);
	memcpy(frame + DWCP_UDP6_HDRS_LEN + 48, rest, sizeof(rest));
	memcpy(split, frame, DWCP_UDP6_HDRS_LEN + 48);
	dwcp_udp_csum(frame, NULL, 0);
	cr_expect_eq(rfc1071_sum(frame), 0xffff, "the UDP checksum does not hold (sum %04x)", rfc1071_sum(frame));
	/* The payload kept elsewhere (an attached mbuf) gives the same checksum. */
	dwcp_udp_csum(split, rest, sizeof(rest));
	cr_expect_eq(memcmp(split + DWCP_UDP6_HDRS_LEN - 2, frame + DWCP_UDP6_HDRS_LEN - 2, 2), 0,
		     "split checksum differs");
	cr_assert_eq(dwcp_udp_parse(frame, (size_t)n, &me6, &rx, &e), 0, "%s", e.msg);
	cr_expect(rx.src.v6);
	cr_expect_eq(memcmp(rx.src.ip6, peer6.ip6, 16), 0);
	cr_expect_eq(rx.src.port, peer6.port);
	cr_expect_eq(memcmp(rx.src.mac, peer6.mac, 6), 0);
	cr_expect_eq(rx.len, 48 + sizeof(rest));
	cr_expect_eq(rx.payload, frame + DWCP_UDP6_HDRS_LEN);
	/* A port with no IPv6 address takes none. */
	cr_expect_eq(dwcp_udp_parse(frame, (size_t)n, &me, &rx, &e), -EINVAL);
	cr_expect(strstr(e.msg, "[net] ip6"), "%s", e.msg);
}

static void expect_refused6(void (*mutate)(uint8_t *f, size_t *n), const char *why)
{
	struct dwcp_udp_rx rx;
	struct dwcp_err e = { 0 };
	size_t n = (size_t)dwcp_udp_build(frame, &peer6, &me6, 0, 100);

	dwcp_udp_csum(frame, NULL, 0);
	mutate(frame, &n);
	cr_expect_eq(dwcp_udp_parse(frame, n, &me6, &rx, &e), -EINVAL, "accepted: %s", why);
	cr_expect(strstr(e.msg, why) != NULL, "message '%s' lacks '%s'", e.msg, why);
}

static void m6_payload(uint8_t *f, size_t *n) { (void)n; f[DWCP_UDP6_HDRS_LEN + 9] ^= 1; }
static void m6_nocsum(uint8_t *f, size_t *n) { (void)n; f[60] = f[61] = 0; }
static void m6_ext(uint8_t *f, size_t *n) { (void)n; f[20] = 0; }   /* hop-by-hop options first */
static void m6_dst(uint8_t *f, size_t *n) { (void)n; f[53] ^= 1; }
static void m6_port(uint8_t *f, size_t *n) { (void)n; f[57] ^= 1; }
static void m6_ulen(uint8_t *f, size_t *n) { (void)n; f[59] ^= 1; }
static void m6_plen(uint8_t *f, size_t *n) { (void)n; f[18] = 0x10; }
static void m6_short(uint8_t *f, size_t *n) { (void)f; *n = 40; }
static void m6_version(uint8_t *f, size_t *n) { (void)n; f[14] = 0x40; }
static void m6_mac(uint8_t *f, size_t *n) { (void)n; f[5] ^= 1; }

Test(udp, bad_ipv6_datagrams_are_refused_with_the_reason, .init = setup6)
{
	expect_refused6(m6_payload, "checksum over IPv6 does not hold");
	expect_refused6(m6_nocsum, "checksum over IPv6 does not hold");
	expect_refused6(m6_ext, "extension headers");
	expect_refused6(m6_dst, "another IPv6 address");
	expect_refused6(m6_port, "another UDP port");
	expect_refused6(m6_ulen, "UDP length");
	expect_refused6(m6_plen, "does not fit");
	expect_refused6(m6_short, "shorter than its header");
	expect_refused6(m6_version, "IP version 4");
	expect_refused6(m6_mac, "another MAC");
}

Test(udp, neighbour_solicitation_and_advertisement_round_trip, .init = setup6)
{
	uint8_t adv[128], group_mac[6];
	struct dwcp_nd ns, na;
	struct dwcp_udp_rx rx;
	struct dwcp_err e = { 0 };
	size_t n = dwcp_nd_build_solicit(frame, &peer6, me6.ip6);

	cr_assert_eq(n, DWCP_ND_LEN);
	dwcp_nd_solicited_mac(me6.ip6, group_mac);
	cr_expect_eq(memcmp(frame, group_mac, 6), 0, "not sent to the solicited-node group");
	cr_expect_eq(group_mac[0], 0x33);
	cr_expect_eq(group_mac[2], 0xff);
	cr_expect_eq(group_mac[5], me6.ip6[15]);
	cr_expect_eq(rfc1071_sum(frame), 0xffff, "ICMPv6 checksum (same rule as UDP's)");
	/* The target's port takes it as neighbour discovery; another does not. */
	cr_assert_eq(dwcp_udp_parse(frame, n, &me6, &rx, &e), 2, "%s", e.msg);
	peer6.ip6[15] = 9;
	cr_expect_eq(dwcp_udp_parse(frame, n, &peer6, &rx, &e), -EINVAL, "another node's solicitation taken");
	peer6.ip6[15] = 2;
	cr_assert_eq(dwcp_nd_parse(frame, n, &ns, &e), 0, "%s", e.msg);
	cr_expect_eq(ns.type, DWCP_ND_SOLICIT);
	cr_expect_eq(memcmp(ns.target, me6.ip6, 16), 0);
	cr_expect_eq(memcmp(ns.src, peer6.ip6, 16), 0);
	cr_expect(ns.has_mac);
	cr_expect_eq(memcmp(ns.mac, peer6.mac, 6), 0);
	cr_assert_eq(dwcp_nd_build_advert(adv, &me6, &ns), DWCP_ND_LEN);
	cr_expect_eq(memcmp(adv, peer6.mac, 6), 0, "the advertisement goes back to the solicitor");
	cr_expect_eq(rfc1071_sum(adv), 0xffff);
	cr_assert_eq(dwcp_udp_parse(adv, DWCP_ND_LEN, &peer6, &rx, &e), 2, "%s", e.msg);
	cr_assert_eq(dwcp_nd_parse(adv, DWCP_ND_LEN, &na, &e), 0, "%s", e.msg);
	cr_expect_eq(na.type, DWCP_ND_ADVERT);
	cr_expect_eq(memcmp(na.target, me6.ip6, 16), 0);
	cr_expect(na.has_mac);
	cr_expect_eq(memcmp(na.mac, me6.mac, 6), 0);
}

Test(udp, neighbour_messages_not_from_the_link_or_malformed_are_refused, .init = setup6)
{
	struct dwcp_nd nd;
	struct dwcp_err e = { 0 };
	size_t n;

	n = dwcp_nd_build_solicit(frame, &peer6, me6.ip6);
	frame[21] = 254;                              /* came through a router */
	cr_expect_eq(dwcp_nd_parse(frame, n, &nd, &e), -EINVAL);
	cr_expect(strstr(e.msg, "hop limit"), "%s", e.msg);
	n = dwcp_nd_build_solicit(frame, &peer6, me6.ip6);
	frame[70] ^= 0x40;                            /* a target bit: checksum */
	cr_expect_eq(dwcp_nd_parse(frame, n, &nd, &e), -EINVAL);
	cr_expect(strstr(e.msg, "checksum"), "%s", e.msg);
	n = dwcp_nd_build_solicit(frame, &peer6, me6.ip6);
	frame[54] = 128;                              /* an echo request */
	cr_expect_eq(dwcp_nd_parse(frame, n, &nd, &e), -EINVAL);
	cr_expect(strstr(e.msg, "type 128"), "%s", e.msg);
	n = dwcp_nd_build_solicit(frame, &peer6, me6.ip6);
	frame[79] = 0;                                /* an option of length 0 */
	frame[56] = frame[57] = 0;
	{
		uint16_t c = (uint16_t)~rfc1071_sum(frame);   /* so that the option is what is wrong */

		frame[56] = (uint8_t)(c >> 8);
		frame[57] = (uint8_t)c;
	}
	cr_expect_eq(dwcp_nd_parse(frame, n, &nd, &e), -EINVAL);
	cr_expect(strstr(e.msg, "malformed option"), "%s", e.msg);
	cr_expect_eq(rfc1071_sum(frame), 0xffff);
	cr_expect_eq(dwcp_nd_parse(frame, 60, &nd, &e), -EINVAL, "a truncated message parsed");
}

/* A svc-net worker of several receives on two ports: the listen port
 * (peers' connections to us) and its own (answers to its connections);
 * the parser says which, and refuses any third. */
Test(udp, a_worker_receives_on_its_own_port_too_and_is_told_which)
{
	struct dwcp_udp_rx rx;
	struct dwcp_err e = { 0 };
	struct dwcp_udp_ep to = me;
	int n;

	me.port_out = htons(7102);
	to.port = htons(7102);
	n = dwcp_udp_build(frame, &peer, &to, 1, 4);
	cr_assert_eq(dwcp_udp_parse(frame, (size_t)n, &me, &rx, &e), 0, "%s", e.msg);
	cr_expect_eq(rx.dst_port, htons(7102));
	to.port = htons(7100);
	n = dwcp_udp_build(frame, &peer, &to, 1, 4);
	cr_assert_eq(dwcp_udp_parse(frame, (size_t)n, &me, &rx, &e), 0, "%s", e.msg);
	cr_expect_eq(rx.dst_port, htons(7100));
	to.port = htons(7101);
	n = dwcp_udp_build(frame, &peer, &to, 1, 4);
	cr_expect_neq(dwcp_udp_parse(frame, (size_t)n, &me, &rx, &e), 0, "another worker's port taken");
	cr_expect(strstr(e.msg, "another UDP port"), "%s", e.msg);
	me.port_out = 0;
}
