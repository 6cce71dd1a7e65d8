/* The peer table (ipc/peers.h) on plain memory: one entry per peer
 * identity, counters kept when svc-net finds its peer again, a full table
 * reusing the entry idle the longest and never one with a connection. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
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
	int i, at[DWCP_MAX_PEERS], oldest_idle, other_idle;
	bool seen[DWCP_MAX_PEERS] = { false };

	for (int k = 0; k < DWCP_MAX_PEERS; k++) {
		snprintf(a, sizeof(a), "10.0.1.%d:7100", k);
		i = dwcp_peers_claim(&shm, DWCP_PEER_OUT, a, "", 100 + (uint64_t)k);
		cr_assert(i >= 0 && i < DWCP_MAX_PEERS && !seen[i], "peer %d got entry %d", k, i);
		seen[i] = true;
		at[k] = i;
		shm.node->peers[i].conns = 1;
		shm.node->peers[i].chunks_sent = 5;
	}
	cr_expect_eq(dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.2.1:7100", "", 999), -ENOSPC,
		     "an entry with a connection was taken");
	/* Two without connections: the one idle longer goes. */
	oldest_idle = at[7];
	other_idle = at[40];
	shm.node->peers[oldest_idle].conns = 0;
	shm.node->peers[oldest_idle].last_ns = 50;
	shm.node->peers[other_idle].conns = 0;
	i = dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.2.1:7100", "", 1000);
	cr_assert_eq(i, oldest_idle);
	cr_assert_eq(dwcp_peers_read(&shm, i, &e), 0);
	cr_expect_str_eq(e.addr, "10.0.2.1:7100");
	cr_expect_eq(e.chunks_sent, 0u, "the new peer inherited its predecessor's counters");
	cr_expect_eq(e.last_ns, 1000u);
	cr_expect_eq(dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.1.7:7100", "", 1001), other_idle,
		     "the evicted peer came back elsewhere than the next idle entry");
}

Test(peers, a_workers_connections_are_its_own_and_a_copy_sums_them)
{
	int i = dwcp_peers_claim(&shm, DWCP_PEER_IN, "10.0.0.9", "nodeb", 1);
	struct dwcp_peer_ent e;

	cr_assert_geq(i, 0);
	/* An svc-net from before workers wrote the whole word. */
	shm.node->peers[i].conns = 4;
	cr_assert_eq(dwcp_peers_read(&shm, i, &e), 0);
	cr_expect_eq(e.conns, 4u);
	/* Workers 0, 1 and 7 each have some; worker 1 restarts. */
	shm.node->peers[i].conns_w[1] = 3;
	shm.node->peers[i].conns_w[7] = 2;
	cr_expect_eq(dwcp_peer_conns(&shm.node->peers[i]), 9u);
	cr_assert_eq(dwcp_peers_read(&shm, i, &e), 0);
	cr_expect_eq(e.conns, 9u, "a copy's conns is the sum of the workers'");
	shm.node->peers[i].conns_w[1] = 0;
	cr_expect_eq(dwcp_peer_conns(&shm.node->peers[i]), 6u, "a worker cleared another's count");
}

/* The supervisor, when a worker dies: only what that worker wrote goes,
 * in every entry. */
Test(peers, a_dead_worker_leaves_no_connections_or_rdma_behind)
{
	int i = dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.0.7:7100", "", 1);
	int j = dwcp_peers_claim(&shm, DWCP_PEER_IN, "10.0.0.8", "nodec", 1);

	cr_assert(i >= 0 && j >= 0 && i != j);
	shm.node->peers[i].conns_w[0] = 4;
	shm.node->peers[i].conns_w[2] = 4;
	shm.node->peers[j].conns_w[2] = 1;
	shm.node->peers[i].rdma = dwcp_peer_rdma_bit(0) | dwcp_peer_rdma_bit(1);
	dwcp_peers_forget_worker(&shm, DWCP_SLOT_NET, 2);
	cr_expect_eq(dwcp_peer_conns(&shm.node->peers[i]), 4u, "worker 0's count went too");
	cr_expect_eq(dwcp_peer_conns(&shm.node->peers[j]), 0u);
	cr_expect_eq(shm.node->peers[i].rdma, dwcp_peer_rdma_bit(0) | dwcp_peer_rdma_bit(1),
		     "svc-net's death touched svc-rdma's bits");
	dwcp_peers_forget_worker(&shm, DWCP_SLOT_RDMA, 1);
	cr_expect_eq(shm.node->peers[i].rdma, dwcp_peer_rdma_bit(0));
	cr_expect_eq(dwcp_peer_conns(&shm.node->peers[i]), 4u, "svc-rdma's death touched svc-net's counts");
	dwcp_peers_forget_worker(&shm, DWCP_SLOT_SIMD, 0);   /* owns nothing here */
	cr_expect_eq(dwcp_peer_conns(&shm.node->peers[i]), 4u);
	cr_expect_eq(shm.node->peers[i].rdma, dwcp_peer_rdma_bit(0));
}

/* Two svc-net workers meet the same new peer at once. */
struct racer {
	pthread_barrier_t *go;
	int got;
};

static void *race_claim(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->got = dwcp_peers_claim(&shm, DWCP_PEER_OUT, "10.0.3.1:7100", "", 5);
	return NULL;
}

Test(peers, workers_claiming_one_new_peer_at_once_share_its_entry)
{
	for (int round = 0; round < 200; round++) {
		pthread_barrier_t go;
		struct racer r[4];
		pthread_t t[4];

		memset(shm.node->peers, 0, sizeof(shm.node->peers));
		/* Some entries taken, so that the free ones are not simply the first. */
		for (int k = 0; k < round % 7; k++) {
			char a[32];

			snprintf(a, sizeof(a), "10.0.4.%d:7100", k);
			cr_assert_geq(dwcp_peers_claim(&shm, DWCP_PEER_OUT, a, "", 1), 0);
		}
		pthread_barrier_init(&go, NULL, 4);
		for (int k = 0; k < 4; k++) {
			r[k].go = &go;
			cr_assert_eq(pthread_create(&t[k], NULL, race_claim, &r[k]), 0);
		}
		for (int k = 0; k < 4; k++)
			pthread_join(t[k], NULL);
		pthread_barrier_destroy(&go);
		for (int k = 1; k < 4; k++)
			cr_assert_eq(r[k].got, r[0].got, "round %d: workers 0 and %d got entries %d and %d",
				     round, k, r[0].got, r[k].got);
		cr_assert_geq(r[0].got, 0);
	}
}
