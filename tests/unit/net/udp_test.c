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
static void m_type(uint8_t *f, size_t *n) { (void)n; f[12] = 0x86; f[13] = 0xdd; }
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
	expect_refused(m_type, "not IPv4 or ARP");
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
