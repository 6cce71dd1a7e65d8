/* ipc/port_steer.c: which svc-net worker the port threads hand a received
 * frame to, for frames built by svc-net's own framing (svc-net/udp.c):
 * every datagram of a connection reaches the one worker that holds it. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/port.h"
#include "svc-net/udp.h"

#define STEER 7100u

static struct dwcp_udp_ep a, b;
static uint8_t frame[2048];

static void setup(void)
{
	static const uint8_t m1[6] = { 0x02, 0, 0, 0, 0, 1 }, m2[6] = { 0x02, 0, 0, 0, 0, 2 };

	memcpy(a.mac, m1, 6);
	memcpy(b.mac, m2, 6);
	inet_pton(AF_INET, "10.9.0.1", &a.ip);
	inet_pton(AF_INET, "10.9.0.2", &b.ip);
	inet_pton(AF_INET6, "fd00:78::1", a.ip6);
	inet_pton(AF_INET6, "fd00:78::2", b.ip6);
	a.port = b.port = htons(STEER);
}

TestSuite(port_steer, .init = setup);

/* A datagram from @p src (port @p sport) to @p dst (port @p dport). */
static size_t dgram(struct dwcp_udp_ep src, uint16_t sport, struct dwcp_udp_ep dst, uint16_t dport, bool v6)
{
	int n;

	src.port = htons(sport);
	dst.port = htons(dport);
	src.v6 = dst.v6 = v6;
	n = dwcp_udp_build(frame, &src, &dst, 1, 100);
	cr_assert_gt(n, 0);
	if (v6)
		dwcp_udp_csum(frame, NULL, 0);
	return (size_t)n;
}

Test(port_steer, one_consumer_takes_everything)
{
	size_t len = dgram(b, 40000, a, 9999, false);

	cr_expect_eq(dwcp_port_steer(frame, len, STEER, 1), 0);
	cr_expect_eq(dwcp_port_steer(frame, dwcp_arp_build_request(frame, &a, b.ip), STEER, 1), 0);
	cr_expect_eq(dwcp_port_steer(frame, 3, STEER, 1), 0);
}

/* Worker k's own connections leave from STEER + 1 + k: their answers come back to k. */
Test(port_steer, answers_reach_the_worker_whose_connection_they_answer)
{
	for (unsigned n = 2; n <= DWCP_PORT_MAX_CONSUMERS; n++)
		for (unsigned k = 0; k < n; k++) {
			cr_expect_eq(dwcp_port_steer(frame, dgram(b, STEER, a, (uint16_t)(STEER + 1 + k), false), STEER, n),
				     (int)k, "IPv4, %u workers, worker %u", n, k);
			cr_expect_eq(dwcp_port_steer(frame, dgram(b, STEER, a, (uint16_t)(STEER + 1 + k), true), STEER, n),
				     (int)k, "IPv6, %u workers, worker %u", n, k);
		}
	/* Past the workers' ports, or below: not ours to spread; consumer 0 counts it. */
	cr_expect_eq(dwcp_port_steer(frame, dgram(b, STEER, a, STEER + 3, false), STEER, 2), 0);
	cr_expect_eq(dwcp_port_steer(frame, dgram(b, STEER, a, STEER - 1, false), STEER, 2), 0);
}

/* A peer's connection to us stays on one worker, and a peer's workers
 * (consecutive source ports) land on different ones. */
Test(port_steer, connections_to_us_spread_by_source_and_stay_put)
{
	for (int v6 = 0; v6 <= 1; v6++)
		for (unsigned n = 2; n <= DWCP_PORT_MAX_CONSUMERS; n++) {
			unsigned seen = 0;

			for (unsigned w = 0; w < n; w++) {
				int k = dwcp_port_steer(frame, dgram(b, (uint16_t)(STEER + 1 + w), a, STEER, v6), STEER, n);

				cr_assert(k >= 0 && k < (int)n, "worker %d of %u", k, n);
				for (int again = 0; again < 3; again++)
					cr_expect_eq(dwcp_port_steer(frame, dgram(b, (uint16_t)(STEER + 1 + w), a, STEER, v6),
								     STEER, n), k, "a flow moved");
				seen |= 1u << k;
			}
			cr_expect_eq(seen, (1u << n) - 1u, "%s, %u workers: the peer's %u workers reached only %#x",
				     v6 ? "IPv6" : "IPv4", n, n, seen);
		}
}

Test(port_steer, neighbour_discovery_goes_to_every_worker)
{
	cr_expect_eq(dwcp_port_steer(frame, dwcp_arp_build_request(frame, &b, a.ip), STEER, 4), DWCP_PORT_STEER_ALL);
	b.v6 = true;
	cr_expect_eq(dwcp_port_steer(frame, dwcp_nd_build_solicit(frame, &b, a.ip6), STEER, 4), DWCP_PORT_STEER_ALL);
}

Test(port_steer, what_is_not_a_whole_udp_header_goes_to_the_first_worker)
{
	size_t len = dgram(b, STEER, a, STEER + 2, false);

	/* An IPv4 fragment past the first carries no UDP header. */
	frame[14 + 6] = 0x00;
	frame[14 + 7] = 0x10;
	cr_expect_eq(dwcp_port_steer(frame, len, STEER, 4), 0);
	/* Not IP, not ARP. */
	len = dgram(b, STEER, a, STEER + 2, false);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	cr_expect_eq(dwcp_port_steer(frame, len, STEER, 4), 0);
	/* TCP over IPv4. */
	len = dgram(b, STEER, a, STEER + 2, false);
	frame[14 + 9] = 6;
	cr_expect_eq(dwcp_port_steer(frame, len, STEER, 4), 0);
}

/* Every truncation of every kind of frame: an answer in range, and no
 * byte read past the end (the ASan build runs this on exact-size copies). */
Test(port_steer, truncated_frames_are_answered_within_bounds)
{
	size_t lens[4];
	uint8_t kinds[4][256];

	lens[0] = dgram(b, STEER, a, STEER + 2, false);
	memcpy(kinds[0], frame, lens[0] < 256 ? lens[0] : 256);
	lens[1] = dgram(b, STEER, a, STEER, true);
	memcpy(kinds[1], frame, lens[1] < 256 ? lens[1] : 256);
	lens[2] = dwcp_arp_build_request(frame, &b, a.ip);
	memcpy(kinds[2], frame, lens[2]);
	b.v6 = true;
	lens[3] = dwcp_nd_build_solicit(frame, &b, a.ip6);
	memcpy(kinds[3], frame, lens[3]);
	for (unsigned f = 0; f < 4; f++)
		for (size_t len = 0; len <= lens[f] && len <= 256; len++) {
			uint8_t *copy = malloc(len ? len : 1);
			int k;

			cr_assert_not_null(copy);
			memcpy(copy, kinds[f], len);
			k = dwcp_port_steer(copy, len, STEER, 4);
			cr_expect(k == DWCP_PORT_STEER_ALL || (k >= 0 && k < 4), "kind %u, %zu bytes: %d", f, len, k);
			free(copy);
		}
}
