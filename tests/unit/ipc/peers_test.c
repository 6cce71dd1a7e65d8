/* The peer table (ipc/peers.h) on plain memory: one entry per peer
 * identity, counters kept when svc-net finds its peer again, a full table
 * reusing the entry idle the longest and never one with a connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/peers.h"
#include "ipc/streams.h"

static struct dwcp_shm shm;

static void setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.node = calloc(1, sizeof(*shm.node));
	cr_assert_not_null(shm.node);
}

static void teardown(void)
{
	free(shm.node);
}

TestSuite(peers, .init = setup, .fini = teardown);

Test(peers, one_entry_per_identity_and_its_counters_survive_a_new_claim)
{
	int a = dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.0.2:7100", "", 10);
	int b = dwcp_peers_claim(&shm, DWCP_PEER_IN, "10.0.0.2", "nodea", 11);
	int c = dwcp_peers_claim(&shm, DWCP_PEER_IN, "10.0.0.2", "nodec", 12);
	struct dwcp_peer_ent e;

	cr_assert(a >= 0 && b >= 0 && c >= 0);
	cr_expect(a != b && b != c && a != c, "distinct peers share an entry");
	dwcp_peers_add(&shm.node->peers[a].tx_bytes, 1000);
	/* The next svc-net generation finds the same peer's entry. */
	cr_expect_eq(dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.0.2:7100", "", 20), a);
	cr_assert_eq(dwcp_peers_read(&shm, a, &e), 0);
	cr_expect_eq(e.tx_bytes, 1000u, "the counters were reset");
	cr_expect_eq(e.dir, (uint32_t)DWCP_PEER_OUT);
	cr_expect_str_eq(e.addr, "10.0.0.2:7100");
	cr_assert_eq(dwcp_peers_read(&shm, b, &e), 0);
	cr_expect_str_eq(e.name, "nodea");
	cr_expect_eq(dwcp_peers_read(&shm, DWCP_MAX_PEERS - 1, &e), -ENOENT, "a free entry reads");
	cr_expect_eq(dwcp_peers_read(&shm, -1, &e), -ENOENT);
	cr_expect_eq(dwcp_peers_read(&shm, DWCP_MAX_PEERS, &e), -ENOENT);
}

Test(peers, overlong_names_are_cut_and_terminated)
{
	char addr[200], name[200];
	struct dwcp_peer_ent e;
	int i;

	memset(addr, 'a', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	i = dwcp_peers_claim(&shm, DWCP_PEER_IN, addr, name, 1);
	cr_assert_geq(i, 0);
	cr_assert_eq(dwcp_peers_read(&shm, i, &e), 0);
	cr_expect_eq(strlen(e.addr), DWCP_ADDR_MAX - 1u);
	cr_expect_eq(strlen(e.name), DWCP_PEER_NAME_MAX - 1u);
}

Test(peers, a_full_table_reuses_the_longest_idle_entry_without_connections)
{
	char a[32];
	struct dwcp_peer_ent e;
	int i, oldest_idle = 7;

	for (int k = 0; k < DWCP_MAX_PEERS; k++) {
		snprintf(a, sizeof(a), "10.0.1.%d:7100", k);
		i = dwcp_peers_claim(&shm, DWCP_PEER_OUT, a, "", 100 + (uint64_t)k);
		cr_assert_eq(i, k);
		shm.node->peers[i].conns = 1;
		shm.node->peers[i].chunks_sent = 5;
	}
	cr_expect_eq(dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.2.1:7100", "", 999), -ENOSPC,
		     "an entry with a connection was taken");
	/* Two without connections: the one idle longer goes. */
	shm.node->peers[oldest_idle].conns = 0;
	shm.node->peers[oldest_idle].last_ns = 50;
	shm.node->peers[40].conns = 0;
	i = dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.2.1:7100", "", 1000);
	cr_assert_eq(i, oldest_idle);
	cr_assert_eq(dwcp_peers_read(&shm, i, &e), 0);
	cr_expect_str_eq(e.addr, "10.0.2.1:7100");
	cr_expect_eq(e.chunks_sent, 0u, "the new peer inherited its predecessor's counters");
	cr_expect_eq(e.last_ns, 1000u);
	snprintf(a, sizeof(a), "10.0.1.%d:7100", oldest_idle);
	cr_expect_eq(dwcp_peers_claim(&shm, DWCP_PEER_OUT, a, "", 1001), 40,
		     "the evicted peer came back elsewhere than the next idle entry");
}
