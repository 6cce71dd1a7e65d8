/* Transfers over the DPDK port ([net] transport = dpdk): svc-net's
 * datagram transport (svc-net/dport.c) between two nodes on the two ends
 * of a veth pair, A here and B (with its `dwcp recv`) in a network
 * namespace of its own, each node's supervisor owning its end through
 * net_af_packet. The nodes' datagram addresses (10.78.0.1 and .2) are not
 * the kernel's, so every chunk goes through the ports, and the test checks
 * that it did (the ports' datagram counters) besides the file's SHA-256:
 *
 *  - a 1 GiB VM-image-like file arrives bit-identical;
 *  - the same with 1 % of the datagrams dropped at each end;
 *  - svc-net killed with kill -9 mid-transfer, on the sender and then on
 *    the receiver: the file still arrives whole, and both nodes' svc-net
 *    come back.
 *
 * Timeouts are hang guards, never speed limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define SIZE (1024ull * MIB)

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_netns ns;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64], key[128], src[128], out[128], to[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_netns_destroy(&ns);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

static void skip(const char *why)
{
	fprintf(stderr, "skipped: %s\n", why);
	teardown();   /* Criterion runs no .fini after a skip */
	cr_skip_test("skipped: %s", why);
}

/* Two keyed nodes on the veth pair; @p loss: each svc-net drops 1 % of
 * the datagrams it receives ([net] fault_drop_ppm: netem is not in every
 * kernel, and where it is, af_packet sends past the qdisc by default). */
static void setup_pair(const char *tag, bool loss)
{
	static char pa[96], pb[96];
	const char *ea[] = { "net.transport = dpdk", pa, "net.ip = 10.78.0.1/24",
			     loss ? "net.fault_drop_ppm = 10000" : NULL, NULL };
	const char *eb[] = { "net.transport = dpdk", pb, "net.ip = 10.78.0.2/24",
			     loss ? "net.fault_drop_ppm = 10000" : NULL, NULL };
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .extra_a = ea, .extra_b = eb };
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-dgram-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	if (dwcp_xfer_netns_create(&ns))
		skip("no network namespaces (ip netns add / veth failed)");
	snprintf(pa, sizeof(pa), "net.port = net_af_packet0,iface=%s", ns.veth_a);
	snprintf(pb, sizeof(pb), "net.port = net_af_packet0,iface=%s", ns.veth_b);
	snprintf(key, sizeof(key), "%s/shared.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	c.netns_b = ns.ns;
	c.host_a = ns.ip_a;   /* the TCP listeners, unused here */
	c.host_b = ns.ip_b;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	/* B's datagram address and its UDP port (= its listen port) */
	snprintf(to, sizeof(to), "10.78.0.2:%d", pair.port_b);
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/vm-recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, SIZE, 77), 0, "cannot write %s", src);
}

static double port_num(const char *inst, const char *k)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	const cJSON *p = st ? cJSON_GetObjectItemCaseSensitive(st, "port") : NULL;
	const cJSON *v = p ? cJSON_GetObjectItemCaseSensitive(p, k) : NULL;
	double r = cJSON_IsNumber(v) ? v->valuedouble : -1;

	cJSON_Delete(st);
	return r;
}

static pid_t net_pid(const char *inst)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	pid_t pid = st ? (pid_t)dwcp_test_svc_num(st, "svc-net", "pid") : -1;

	cJSON_Delete(st);
	return pid;
}

static void start_transfer(const char *stream)
{
	int rc;

	rc = dwcp_xfer_recv_start(&rcv, ns.ns, pair.b.instance, stream, out, 900);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, to, 60, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
}

/* Both exit 0, the sink holds the source's bytes, and they went through the ports. */
static void finish_transfer(const char *what)
{
	char h_src[65], h_out[65];
	int rs = dwcp_xfer_wait(&snd, 900000), rr = dwcp_xfer_wait(&rcv, rs == 0 ? 60000u : 900000u);
	double frags = port_num(pair.b.instance, "dgram_frags_rx");

	if (rs || rr) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer over the port failed");
	}
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s differs from %s", out, src);
	/* every chunk in fragments of at most ~1.4 KB */
	cr_expect_geq(frags, dwcp_xfer_json_num(snd.out, "chunks"),
		      "B's port received %.0f datagram fragments for %.0f chunks: not through the port?",
		      frags, dwcp_xfer_json_num(snd.out, "chunks"));
	fprintf(stderr,
		"dgram %s: %llu MiB, bytes_wire %.0f, %.3f s, chunks resent %.0f; A: fragments out %.0f (resent %.0f), NACKs in %.0f; B: fragments in %.0f, NACKs out %.0f\n",
		what, SIZE / MIB, dwcp_xfer_json_num(snd.out, "bytes_wire"),
		dwcp_xfer_json_num(snd.out, "seconds"), dwcp_xfer_json_num(snd.out, "resent"),
		port_num(pair.a.instance, "dgram_frags_tx"), port_num(pair.a.instance, "dgram_frags_resent"),
		port_num(pair.a.instance, "dgram_nacks_rx"), frags, port_num(pair.b.instance, "dgram_nacks_tx"));
	fprintf(stderr, "dgram %s: frames lost: A tx_refused %.0f, A ring full %.0f, B rx_missed %.0f, B rx_ring_full %.0f, B refused %.0f\n",
		what, port_num(pair.a.instance, "tx_refused"), port_num(pair.a.instance, "dgram_tx_ring_full"),
		port_num(pair.b.instance, "rx_missed"), port_num(pair.b.instance, "rx_ring_full"),
		port_num(pair.b.instance, "dgram_bad_rx"));
}

Test(dgram, a_1gib_image_arrives_bit_identical_over_the_port, .fini = teardown, .timeout = 1200)
{
	setup_pair("dg", false);
	start_transfer("dg");
	finish_transfer("clean veth");
}

Test(dgram, one_datagram_in_a_hundred_lost_each_way_still_arrives_bit_identical, .fini = teardown,
     .timeout = 1800)
{
	setup_pair("dgloss", true);
	start_transfer("dgloss");
	finish_transfer("1 % of datagrams dropped at each end");
	cr_expect_gt(port_num(pair.b.instance, "dgram_fault_drops"), 0, "B dropped nothing");
	cr_expect_gt(port_num(pair.a.instance, "dgram_fault_drops"), 0, "A dropped nothing");
	cr_expect_gt(port_num(pair.b.instance, "dgram_nacks_tx"), 0, "datagrams were dropped, yet B never NACKed");
}

/* kill -9 of svc-net once on each side while the file moves. */
Test(dgram, svc_net_killed_mid_transfer_on_either_side_costs_no_data, .fini = teardown,
     .timeout = 1800)
{
	pid_t a0, b0;

	setup_pair("dgkill", false);
	a0 = net_pid(pair.a.instance);
	b0 = net_pid(pair.b.instance);
	cr_assert_gt(a0, 0);
	cr_assert_gt(b0, 0);
	start_transfer("dgkill");
	while (dwcp_xfer_recv_bytes(rcv.pid, out) < (long long)(SIZE / 4) && dwcp_xfer_running(&rcv) &&
	       dwcp_xfer_running(&snd))
		usleep(20000);
	cr_assert_eq(kill(a0, SIGKILL), 0, "kill A's svc-net: %s", strerror(errno));
	cr_assert_gt(dwcp_test_wait_service_up(pair.a.instance, "svc-net", 1, 60000), 0,
		     "A's svc-net did not come back");
	while (dwcp_xfer_recv_bytes(rcv.pid, out) < (long long)(SIZE / 2) && dwcp_xfer_running(&rcv) &&
	       dwcp_xfer_running(&snd))
		usleep(20000);
	cr_assert_eq(kill(b0, SIGKILL), 0, "kill B's svc-net: %s", strerror(errno));
	cr_assert_gt(dwcp_test_wait_service_up(pair.b.instance, "svc-net", 1, 60000), 0,
		     "B's svc-net did not come back");
	finish_transfer("svc-net killed on A, then on B");
}
