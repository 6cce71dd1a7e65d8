/* Fuzz target: what svc-net on a DPDK port does with a frame from the wire
 * (svc-net/udp.c): dwcp_udp_parse, then dwcp_arp_parse for ARP frames and
 * dwcp_nd_parse for ICMPv6.
 *
 * Input: byte 0 mode (bit 0: make the IPv4 header checksum hold; bit 1:
 * make an IPv6 frame's UDP or ICMPv6 checksum hold, so that mutated
 * headers reach the checks behind them), then the frame, copied to a
 * block of exactly its size. Checked: nothing is read outside the frame
 * (ASan); a parsed datagram's payload lies inside the frame and its
 * length is what the UDP header says, less its 8 bytes; a refusal says
 * why; an ARP request or a neighbour solicitation for our address that
 * parses gets an answer that parses back as the answer to its sender.
 * The port threads' steering (ipc/port_steer.c) reads the same frame:
 * for 1..8 consumers its answer is one of them or all; ARP goes to all;
 * a datagram that parses as ours, to worker j's own port, goes to j.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "ipc/port.h"
#include "svc-net/udp.h"
#include "tests/fuzz/fuzz_util.h"

/* RFC 1071 over the IPv6 pseudo-header and @p plen bytes of payload. */
static uint16_t sum6(const uint8_t *ip, size_t plen, unsigned proto)
{
	uint32_t s = (uint32_t)plen + proto;

	for (unsigned i = 8; i < 40; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	for (size_t i = 0; i < plen; i++)
		s += i & 1 ? ip[40 + i] : (uint32_t)ip[40 + i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void fix_csum6(uint8_t *f, size_t n)
{
	size_t plen, at;
	uint16_t c;

	if (n < 54 || f[12] != 0x86 || f[13] != 0xdd)
		return;
	plen = (size_t)(f[18] << 8 | f[19]);
	at = f[20] == 17 ? 6 : f[20] == 58 ? 2 : 0;
	if (!at || 54 + plen > n || at + 2 > plen)
		return;
	f[54 + at] = f[55 + at] = 0;
	c = (uint16_t)~sum6(f + 14, plen, f[20]);
	f[54 + at] = (uint8_t)(c >> 8);
	f[55 + at] = (uint8_t)c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned mode = (unsigned)fuzz_take(&in, 1);
	struct dwcp_udp_ep me = { .mac = { 0x02, 0, 0, 0, 0, 1 }, .port = htons(7100) };
	struct dwcp_udp_rx rx;
	struct dwcp_err err = { 0 };
	uint8_t *f = fuzz_dup(in.p, in.n);
	int rc;

	me.ip = htonl(0x0a090001);   /* 10.9.0.1 */
	inet_pton(AF_INET6, "fd00:78::1", me.ip6);
	if ((mode & 1) && in.n >= DWCP_UDP_HDRS_LEN) {
		uint16_t c;

		f[24] = f[25] = 0;
		c = dwcp_ipv4_csum(f + 14, 20);
		f[24] = (uint8_t)(c >> 8);
		f[25] = (uint8_t)c;
	}
	if (mode & 2)
		fix_csum6(f, in.n);
	rc = dwcp_udp_parse(f, in.n, &me, &rx, &err);
	for (unsigned n = 1; n <= DWCP_PORT_MAX_CONSUMERS; n++) {
		int k = dwcp_port_steer(f, in.n, 7100 - 1 - (n - 1) / 2, n);   /* 7100: a worker's own port */

		FUZZ_ASSERT(k == DWCP_PORT_STEER_ALL || (k >= 0 && k < (int)n), "steered to %d of %u", k, n);
		FUZZ_ASSERT(rc != 1 || n == 1 || k == DWCP_PORT_STEER_ALL, "ARP steered to %d of %u", k, n);
		FUZZ_ASSERT(rc != 0 || k == (int)((n - 1) / 2), "a datagram to worker %u's port steered to %d",
			    (n - 1) / 2, k);
	}
	if (rc == 0 && rx.src.v6) {
		FUZZ_ASSERT(rx.payload >= f + DWCP_UDP6_HDRS_LEN && rx.payload + rx.len <= f + in.n,
			    "payload outside the frame");
		FUZZ_ASSERT(rx.len == (size_t)((f[58] << 8 | f[59]) - 8u), "payload length %zu", rx.len);
	} else if (rc == 0) {
		FUZZ_ASSERT(rx.payload >= f + DWCP_UDP_HDRS_LEN && rx.payload + rx.len <= f + in.n,
			    "payload outside the frame");
		FUZZ_ASSERT(rx.len == (size_t)((f[38] << 8 | f[39]) - 8u), "payload length %zu", rx.len);
	} else if (rc == 2) {
		struct dwcp_nd ns, na;
		uint8_t adv[DWCP_ND_LEN];

		if (dwcp_nd_parse(f, in.n, &ns, &err) == 0 && ns.type == DWCP_ND_SOLICIT &&
		    !memcmp(ns.target, me.ip6, 16)) {
			FUZZ_ASSERT(dwcp_nd_build_advert(adv, &me, &ns) == DWCP_ND_LEN, "advert length");
			FUZZ_ASSERT(dwcp_nd_parse(adv, sizeof(adv), &na, &err) == 0, "advert refused: %s", err.msg);
			FUZZ_ASSERT(na.type == DWCP_ND_ADVERT && !memcmp(na.target, me.ip6, 16) && na.has_mac &&
				    !memcmp(na.mac, me.mac, 6) && !memcmp(adv, ns.eth_src, 6),
				    "advert not ours, or not to its asker");
		}
	} else if (rc == 1) {
		struct dwcp_arp a, r;
		uint8_t reply[DWCP_ARP_LEN];

		if (dwcp_arp_parse(f, in.n, &a, &err) == 0 && a.op == DWCP_ARP_REQUEST) {
			FUZZ_ASSERT(dwcp_arp_build_reply(reply, &me, &a) == DWCP_ARP_LEN, "reply length");
			FUZZ_ASSERT(dwcp_arp_parse(reply, sizeof(reply), &r, &err) == 0, "reply refused: %s", err.msg);
			FUZZ_ASSERT(r.op == DWCP_ARP_REPLY && r.tpa == a.spa && !memcmp(r.tha, a.sha, 6),
				    "reply not to its asker");
		}
	} else {
		FUZZ_ASSERT(rc == -EINVAL && err.msg[0], "refused without a reason (%d)", rc);
	}
	free(f);
	return 0;
}
