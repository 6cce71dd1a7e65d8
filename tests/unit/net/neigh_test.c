/* svc-net/neigh.c: the neighbour table of a DPDK port. Asking, retries,
 * giving up and trying again later, expiry that keeps sending to the old
 * MAC while it asks, static entries, and the bounds: ARP frames nobody
 * asked for never make an entry, a full table reuses the least used. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "svc-net/neigh.h"

/* Address @p v as the table keys it (IPv4-mapped); a few calls may hold one each. */
static const uint8_t *A(uint32_t v)
{
	static uint8_t ring[4][16];
	static unsigned next;
	uint8_t *k = ring[next++ % 4];

	dwcp_ip_map4(v, k);
	return k;
}

#define MS 1000000ull

static struct dwcp_neigh t;
static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 1 }, mac2[6] = { 0x02, 0, 0, 0, 0, 2 };

static void setup(void)
{
	dwcp_neigh_init(&t);
}

TestSuite(neigh, .init = setup);

Test(neigh, an_address_is_asked_for_then_known)
{
	uint8_t m[6];

	cr_expect_eq(dwcp_neigh_lookup(&t, A(7), 0, m), DWCP_NEIGH_ASK);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(7), 100 * MS, m), DWCP_NEIGH_WAIT);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(7), 200 * MS, m), DWCP_NEIGH_ASK, "no retry after 200 ms");
	cr_expect(dwcp_neigh_learn(&t, A(7), mac1, 250 * MS));
	cr_assert_eq(dwcp_neigh_lookup(&t, A(7), 300 * MS, m), DWCP_NEIGH_SEND);
	cr_expect_eq(memcmp(m, mac1, 6), 0);
}

Test(neigh, no_reply_makes_it_unreachable_for_a_while)
{
	uint8_t m[6];
	uint64_t now = 0;
	unsigned asks = 0;

	for (unsigned i = 0; i < 100; i++, now += 100 * MS) {
		enum dwcp_neigh_verdict v = dwcp_neigh_lookup(&t, A(9), now, m);

		asks += v == DWCP_NEIGH_ASK;
		if (v == DWCP_NEIGH_UNREACHABLE)
			break;
	}
	cr_expect_eq(asks, DWCP_NEIGH_TRIES);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(9), now + DWCP_NEIGH_FAIL_NS - 1, m), DWCP_NEIGH_UNREACHABLE);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(9), now + DWCP_NEIGH_FAIL_NS, m), DWCP_NEIGH_ASK,
		     "never tried again");
}

Test(neigh, an_expired_mac_is_used_while_asked_for_again)
{
	uint8_t m[6];
	uint64_t exp = DWCP_NEIGH_VALID_NS;

	dwcp_neigh_lookup(&t, A(7), 0, m);
	dwcp_neigh_learn(&t, A(7), mac1, 0);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(7), exp - 1, m), DWCP_NEIGH_SEND);
	memset(m, 0, 6);
	cr_assert_eq(dwcp_neigh_lookup(&t, A(7), exp, m), DWCP_NEIGH_ASK_AND_SEND);
	cr_expect_eq(memcmp(m, mac1, 6), 0);
	memset(m, 0, 6);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(7), exp + MS, m), DWCP_NEIGH_SEND);
	cr_expect_eq(memcmp(m, mac1, 6), 0);
	cr_expect(dwcp_neigh_learn(&t, A(7), mac2, exp + 2 * MS), "the peer moved");
	cr_expect_eq(dwcp_neigh_lookup(&t, A(7), exp + 3 * MS, m), DWCP_NEIGH_SEND);
	cr_expect_eq(memcmp(m, mac2, 6), 0);
}

Test(neigh, arp_nobody_asked_for_makes_no_entry)
{
	uint8_t m[6];
	const uint8_t mcast[6] = { 0x01, 0, 0x5e, 0, 0, 1 };

	for (uint32_t ip = 1; ip < 1000; ip++)
		cr_expect_not(dwcp_neigh_learn(&t, A(ip), mac1, 0));
	for (unsigned i = 0; i < DWCP_NEIGH_MAX; i++)
		cr_expect_eq(t.e[i].state, NEIGH_FREE);
	dwcp_neigh_lookup(&t, A(7), 0, m);
	cr_expect_not(dwcp_neigh_learn(&t, A(7), mcast, 0), "a multicast MAC was learned");
}

Test(neigh, static_entries_and_the_bound)
{
	uint8_t m[6];

	cr_assert_eq(dwcp_neigh_set_static(&t, A(5), mac2), 0);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(5), UINT64_MAX - 1, m), DWCP_NEIGH_SEND, "a static entry expired");
	cr_expect_not(dwcp_neigh_learn(&t, A(5), mac1, 0), "ARP overrode a static entry");
	/* 64 more asked-for addresses: the least used goes, never the static one */
	for (uint32_t ip = 100; ip < 100 + DWCP_NEIGH_MAX; ip++)
		cr_expect_neq(dwcp_neigh_lookup(&t, A(ip), ip, m), DWCP_NEIGH_UNREACHABLE);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(5), 1000, m), DWCP_NEIGH_SEND);
	cr_expect_eq(memcmp(m, mac2, 6), 0);
	for (uint32_t ip = 1; ip <= DWCP_NEIGH_MAX - 1; ip++)
		dwcp_neigh_set_static(&t, A(1000 + ip), mac1);
	cr_expect_eq(dwcp_neigh_set_static(&t, A(5000), mac1), -ENOSPC);
	cr_expect_eq(dwcp_neigh_lookup(&t, A(6000), 2000, m), DWCP_NEIGH_UNREACHABLE);
}
