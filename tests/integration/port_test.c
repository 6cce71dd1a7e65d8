/* [net] transport = dpdk: the supervisor owns a DPDK port (ipc/port.h).
 * Two nodes on the two ends of a veth pair, A here and B in a network
 * namespace of its own, each supervisor on net_af_packet over its end.
 * Frames a consumer on A puts in A's TX ring arrive whole in B's RX ring;
 * a consumer killed with kill -9 costs its own frames only (the port, its
 * thread and the next consumer go on, the mbufs it held stay bounded); and
 * a node stopped and started again takes the same interface again; a
 * consumer killed holding mbufs attached to a pool buffer (zero-copy TX)
 * leaves that buffer free to be handed on; and
 * svc-net's UDP framing and ARP (svc-net/udp.c) work with the Linux stack
 * on the other end, both ways. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

static struct dwcp_xfer_netns ns;
static struct dwcp_test_node a, b;
static struct dwcp_xfer_proc rcv, snd;
static char bin[PATH_MAX];

static void teardown(void)
{
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_proc_free(&snd);
	dwcp_test_node_stop(&a);
	dwcp_test_node_stop(&b);
	dwcp_xfer_netns_destroy(&ns);
}

static void start_node(struct dwcp_test_node *n, const char *test, const char *iface, const char *in_ns)
{
	char port[96];
	/* No svc-net: the test's own consumer (tests/bin/port-frames) reads
	 * the port's single-consumer RX ring in its place. */
	const char *ov[] = { "net.transport = dpdk", port, "net.listen = ", "net.ip = 10.77.0.1/24",
			     "services.enable = svc-rdma,svc-gpu,svc-simd,svc-mem,svc-prof", NULL };
	int rc;

	snprintf(port, sizeof(port), "net.port = net_af_packet0,iface=%s", iface);
	if (in_ns)
		cr_assert_eq(dwcp_xfer_netns_enter(in_ns), 0);
	rc = dwcp_test_node_start(n, test, ov);
	if (in_ns)
		cr_assert_eq(dwcp_xfer_netns_leave(), 0);
	cr_assert_eq(rc, 0, "node on %s did not start", iface);
}

static void setup(void)
{
	snprintf(bin, sizeof(bin), "%s/../tests/bin/port-frames", dwcp_test_bin_dir());
	cr_assert_eq(access(bin, X_OK), 0, "%s not built (make integration builds it)", bin);
	if (dwcp_xfer_netns_create(&ns)) {
		fprintf(stderr, "skipped: no network namespaces (ip netns add / veth failed)\n");
		teardown();
		cr_skip_test("skipped: no network namespaces");
	}
	start_node(&a, "porta", ns.veth_a, NULL);
	start_node(&b, "portb", ns.veth_b, ns.ns);
}

static int frames(struct dwcp_xfer_proc *p, const char *mode, const char *inst, unsigned count,
		  unsigned tag)
{
	char c[16], t[16];

	snprintf(c, sizeof(c), "%u", count);
	snprintf(t, sizeof(t), "%u", tag);
	dwcp_xfer_proc_free(p);
	if (!strcmp(mode, "send"))
		return dwcp_xfer_spawn(p, "port-frames send", NULL,
				       (char *const[]){ bin, "send", (char *)inst, c, t, NULL });
	return dwcp_xfer_spawn(p, "port-frames recv", NULL,
			       (char *const[]){ bin, "recv", (char *)inst, c, t, "60000", NULL });
}

static double port_num(const char *inst, const char *key)
{
	cJSON *st = dwcp_test_status(inst, NULL);
	const cJSON *p = st ? cJSON_GetObjectItemCaseSensitive(st, "port") : NULL;
	const cJSON *v = p ? cJSON_GetObjectItemCaseSensitive(p, key) : NULL;
	double r = cJSON_IsNumber(v) ? v->valuedouble : -1;

	cJSON_Delete(st);
	return r;
}

/* Send @p count frames of @p tag from A; B's receiver gets every one. */
static void send_and_receive(unsigned count, unsigned tag)
{
	cr_assert_eq(frames(&rcv, "recv", b.instance, count, tag), 0);
	dwcp_test_sleep_ms(300);   /* attached before the first frame */
	cr_assert_eq(frames(&snd, "send", a.instance, count, tag), 0);
	cr_assert_eq(dwcp_xfer_wait(&snd, 60000), 0, "send failed");
	cr_assert_eq(dwcp_xfer_wait(&rcv, 90000), 0, "recv failed");
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "received"), (double)count, "%s", rcv.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "bad"), 0, "damaged frames: %s", rcv.out);
}

static bool rx_moved(void *arg)
{
	return port_num(b.instance, "rx_frames") > *(double *)arg;
}

Test(port, frames_cross_the_veth_and_a_killed_consumer_costs_only_its_own, .init = setup,
     .fini = teardown, .timeout = 300)
{
	cJSON *st = dwcp_test_status(a.instance, NULL);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "port");
	double rx0;
	pid_t sup_b = b.sup_pid;

	cr_assert_not_null(p, "status has no port");
	cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(p, "driver")->valuestring, "net_af_packet");
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "link_up")), "link down");
	cJSON_Delete(st);

	send_and_receive(3000, 1);
	cr_expect_geq(port_num(a.instance, "tx_frames"), 3000);

	/* kill -9 of a consumer while frames arrive */
	rx0 = port_num(b.instance, "rx_frames");
	cr_assert_eq(frames(&rcv, "recv", b.instance, 100000, 2), 0);
	dwcp_test_sleep_ms(300);
	cr_assert_eq(frames(&snd, "send", a.instance, 2000, 2), 0);
	cr_assert(dwcp_test_wait_until(rx_moved, &rx0, 30000), "B received nothing");
	cr_assert_eq(kill(rcv.pid, SIGKILL), 0);
	cr_assert_eq(dwcp_xfer_wait(&snd, 60000), 0, "send failed");
	dwcp_xfer_wait(&rcv, 10000);

	/* the port goes on: a new consumer gets all of the next frames */
	send_and_receive(2000, 3);
	cr_expect_eq(b.sup_pid, sup_b);
	cr_expect_eq(kill(sup_b, 0), 0, "B's supervisor died");
	cr_expect_leq(port_num(b.instance, "mbufs_in_use"), 64,
		      "more mbufs in use than a killed consumer can hold (one burst)");
}

static bool held_is(void *arg)
{
	return port_num(a.instance, "attach_buffers_held") == *(double *)arg;
}

/* Zero-copy TX's counts (ipc/port.h): a consumer killed with attached
 * mbufs in hand leaves counts nothing would lower; the port's reset after
 * its death puts them back, so svc-net's next generation can hand the
 * buffer on. */
Test(port, a_consumer_killed_holding_attached_mbufs_leaves_no_buffer_held, .init = setup, .fini = teardown,
     .timeout = 120)
{
	double one = 1, none = 0;

	cr_assert_eq(port_num(a.instance, "attach_buffers_held"), 0, "a fresh port holds a buffer");
	cr_assert_eq(dwcp_xfer_spawn(&snd, "port-frames ext-hold", NULL,
				     (char *const[]){ bin, "ext-hold", a.instance, "16", NULL }), 0);
	cr_assert(dwcp_test_wait_until(held_is, &one, 30000), "the attached mbufs do not show (held %.0f)",
		  port_num(a.instance, "attach_buffers_held"));
	cr_expect_eq(port_num(a.instance, "attach_mbufs_in_use"), 16);
	cr_assert_eq(kill(snd.pid, SIGKILL), 0);
	dwcp_xfer_wait(&snd, 10000);
	cr_expect(dwcp_test_wait_until(held_is, &none, 30000),
		  "buffer 1 still counted as held after its holder died (held %.0f)",
		  port_num(a.instance, "attach_buffers_held"));
	/* the mbufs themselves leak with their holder (documented), bounded */
	cr_expect_leq(port_num(a.instance, "attach_mbufs_in_use"), 16);
	/* and a new consumer claims the port */
	send_and_receive(500, 4);
}

Test(port, a_node_started_again_takes_the_same_interface, .init = setup, .fini = teardown,
     .timeout = 300)
{
	send_and_receive(500, 4);
	cr_assert_eq(dwcp_test_node_stop(&b), 0);
	start_node(&b, "portb", ns.veth_b, ns.ns);
	send_and_receive(500, 5);
}

/* svc-net/udp.c against the Linux stack in B's namespace, through A's
 * port: the kernel ARPs for an address only our consumer answers (a route
 * there through the veth) and sends it UDP datagrams; our consumer ARPs
 * for the namespace's address and sends datagrams a kernel UDP socket
 * reads. Every datagram arrives, both ways. */
Test(port, udp_and_arp_work_with_the_linux_stack, .init = setup, .fini = teardown, .timeout = 300)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7100) };
	struct sockaddr_in here = { .sin_family = AF_INET, .sin_port = htons(9000) };
	struct timeval tv = { 5, 0 };
	char msg[512], buf[128];
	unsigned got = 0;
	int s, r;

	cr_assert_eq(dwcp_xfer_sh(msg, sizeof(msg), "ip -n %s route add 10.77.0.0/24 dev %s", ns.ns,
				  ns.veth_b), 0, "%s", msg);
	inet_pton(AF_INET, "10.77.0.1", &to.sin_addr);
	inet_pton(AF_INET, ns.ip_b, &here.sin_addr);
	cr_assert_eq(dwcp_xfer_netns_enter(ns.ns), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(r, (struct sockaddr *)&here, sizeof(here)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(dwcp_xfer_netns_leave(), 0);
	setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* Linux -> us: the first datagram waits in the kernel for our ARP reply. */
	dwcp_xfer_proc_free(&rcv);
	cr_assert_eq(dwcp_xfer_spawn(&rcv, "port-frames udp-recv", NULL,
				     (char *const[]){ bin, "udp-recv", a.instance, "10.77.0.1", "7100", "100",
						      "60000", NULL }), 0);
	dwcp_test_sleep_ms(300);
	for (unsigned i = 0; i < 100; i++) {
		int n = snprintf(buf, sizeof(buf), "dwcp-udp %u", i);

		cr_assert_eq(sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)), n,
			     "sendto: %s", strerror(errno));
		dwcp_test_sleep_ms(i ? 2 : 500);
	}
	cr_assert_eq(dwcp_xfer_wait(&rcv, 60000), 0, "udp-recv failed");
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "received"), 100, "%s", rcv.out);
	cr_expect_geq(dwcp_xfer_json_num(rcv.out, "arp"), 1, "the kernel never asked: %s", rcv.out);

	/* us -> Linux */
	dwcp_xfer_proc_free(&snd);
	cr_assert_eq(dwcp_xfer_spawn(&snd, "port-frames udp-send", NULL,
				     (char *const[]){ bin, "udp-send", a.instance, "10.77.0.1", "7100", ns.ip_b,
						      "9000", "100", NULL }), 0);
	while (got < 100) {
		ssize_t n = recv(r, buf, sizeof(buf) - 1, 0);

		if (n < 0)
			break;
		buf[n] = '\0';
		got += strncmp(buf, "dwcp-udp ", 9) == 0;
	}
	cr_assert_eq(dwcp_xfer_wait(&snd, 60000), 0, "udp-send failed (no ARP reply?)");
	cr_expect_eq(got, 100u, "the kernel's socket read %u of 100", got);
	close(s);
	close(r);
}
