/* Fuzz target: a receiver of the DWCP datagram protocol (svc-net/dgram.c)
 * fed any datagrams, as svc-net on a DPDK port would be.
 *
 * Input: a sequence of datagrams, each a 2-byte little-endian length then
 * its bytes (copied to a block of exactly that size). Each is parsed;
 * DATA goes into one receiver whose message buffers are malloc'd at
 * exactly the message's length (so ASan stops a fragment written past
 * it), NACK ranges are read, and after each datagram the receiver is
 * asked for its NACKs. Checked: a message reported whole was written in
 * full (every fragment counted once), NACK ranges lie inside the
 * message's fragments, no slot beyond the table, and nothing leaks
 * (every buffer comes back through complete, drop or reset).
 */
#include <errno.h>
#include <stdbool.h>

#include "svc-net/dgram.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_MSG 266240u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct dwcp_dgram_rx *rx = malloc(sizeof(*rx));
	uint8_t *dests[DWCP_DGRAM_SLOTS];
	uint64_t now = 0;

	FUZZ_ASSERT(rx != NULL, "out of memory");
	dwcp_dgram_rx_init(rx, MAX_MSG);
	while (in.n >= 2) {
		size_t len = (size_t)fuzz_take(&in, 2);
		uint8_t *d;
		struct dwcp_dgram_hdr h;
		struct dwcp_err err = { 0 };
		struct dwcp_dgram_range r[DWCP_DGRAM_MAX_RANGES];
		uint64_t msg;
		unsigned k;

		if (len > in.n)
			len = in.n;
		d = fuzz_dup(in.p, len);
		in.p += len;
		in.n -= len;
		now += 50000;
		if (dwcp_dgram_hdr_parse(d, len, MAX_MSG, &h, &err) == 0) {
			if (h.type == DWCP_DGRAM_DATA) {
				uint8_t *dropped = NULL;
				int slot = -1, rc = dwcp_dgram_rx_put(rx, &h, d + DWCP_DGRAM_HDR_LEN, now, &slot,
								      &dropped, &err);

				if (rc == DWCP_DGRAM_RX_NEED_DEST) {
					dwcp_dgram_rx_set_dest(rx, slot, malloc(h.total));
					rc = dwcp_dgram_rx_put(rx, &h, d + DWCP_DGRAM_HDR_LEN, now, &slot, &dropped, &err);
				}
				if (rc == DWCP_DGRAM_RX_NEW_CONN) {
					unsigned n = dwcp_dgram_rx_reset(rx, h.conn, dests);

					for (unsigned i = 0; i < n; i++)
						free(dests[i]);
				} else if (rc == DWCP_DGRAM_RX_COMPLETE) {
					FUZZ_ASSERT(slot >= 0 && slot < (int)DWCP_DGRAM_SLOTS, "slot %d", slot);
					FUZZ_ASSERT(rx->slot[slot].got == rx->slot[slot].nfrags, "whole with %u of %u",
						    rx->slot[slot].got, rx->slot[slot].nfrags);
					free(rx->slot[slot].dest);
					dwcp_dgram_rx_release(rx, slot);
				} else if (rc < 0) {
					FUZZ_ASSERT(rc == -EINVAL && err.msg[0], "refused without a reason");
					free(dropped);
				}
			} else if (h.type == DWCP_DGRAM_NACK) {
				int n = dwcp_dgram_ranges_parse(d + DWCP_DGRAM_HDR_LEN, &h, r, &err);

				FUZZ_ASSERT(n == -EINVAL || (n >= 1 && n <= (int)DWCP_DGRAM_MAX_RANGES), "ranges %d", n);
			}
		}
		while ((k = dwcp_dgram_rx_nack(rx, now, 100000, &msg, r)) > 0) {
			FUZZ_ASSERT(k <= DWCP_DGRAM_MAX_RANGES, "%u ranges", k);
			for (unsigned i = 0; i < k; i++)
				FUZZ_ASSERT(r[i].count && r[i].first + r[i].count <= DWCP_DGRAM_MAX_FRAGS,
					    "range %u+%u", r[i].first, r[i].count);
		}
		free(d);
	}
	{
		unsigned n = dwcp_dgram_rx_reset(rx, 0, dests);

		for (unsigned i = 0; i < n; i++)
			free(dests[i]);
		/* A slot abandoned at NEED_DEST without a buffer holds none. */
	}
	free(rx);
	return 0;
}
