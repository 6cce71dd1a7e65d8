/* Fuzz target: what svc-net on a DPDK port does with a frame from the wire
 * (svc-net/udp.c): dwcp_udp_parse, and dwcp_arp_parse for ARP frames.
 *
 * Input: byte 0 mode (bit 0: make the IPv4 header checksum hold, so that
 * mutated headers reach the checks behind it), then the frame, copied to
 * a block of exactly its size. Checked: nothing is read outside the frame
 * (ASan); a parsed datagram's payload lies inside the frame and its
 * length is what the UDP header says, less its 8 bytes; a refusal says
 * why; an ARP request that parses gets a reply that parses back as a
 * reply to its sender.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "svc-net/udp.h"
#include "tests/fuzz/fuzz_util.h"

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
	if ((mode & 1) && in.n >= DWCP_UDP_HDRS_LEN) {
		uint16_t c;

		f[24] = f[25] = 0;
		c = dwcp_ipv4_csum(f + 14, 20);
		f[24] = (uint8_t)(c >> 8);
		f[25] = (uint8_t)c;
	}
	rc = dwcp_udp_parse(f, in.n, &me, &rx, &err);
	if (rc == 0) {
		FUZZ_ASSERT(rx.payload >= f + DWCP_UDP_HDRS_LEN && rx.payload + rx.len <= f + in.n,
			    "payload outside the frame");
		FUZZ_ASSERT(rx.len == (size_t)((f[38] << 8 | f[39]) - 8u), "payload length %zu", rx.len);
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
