/* dwcp bench net: frames per second through a node's DPDK port (ipc/port.h)
 * beside dpdk-testpmd on the same kind of vdev pair and kernel TCP over
 * the same veth, in the same run.
 *
 * A veth pair joins the root namespace (node A, the sender) and one of
 * ours (node B, the receiver); each supervisor owns net_af_packet on its
 * end. A consumer process attached to A floods its port's TX ring for
 * --seconds with frames of --size bytes; one attached to B counts what
 * its RX ring delivers. Then, with both nodes stopped, dpdk-testpmd
 * txonly -> rxonly on the same two interfaces (when installed: it is in
 * Debian's dpdk-dev), and a kernel TCP stream between the veth's
 * addresses. Frames per second at the receiver is the figure that counts:
 * af_packet on a veth has no offloads, TCP has TSO and GRO.
 *
 * SIGINT, SIGTERM, SIGHUP and SIGPIPE stop it between steps, and the
 * step under way is cut short (its children are told to stop): the
 * nodes, the veth pair and the namespace go as after a whole run.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "bench_node.h"
#include "cli/cli_internal.h"
#include "common/timeutil.h"
#include "ipc/client.h"
#include "ipc/port.h"
#include "net_pvt.h"

struct side_result {
	uint64_t frames, bytes, ns;   /* ns: from the first frame to the last */
	int ok;
};

int bench_net_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	/* system() ignores SIGINT while the command runs; a Ctrl-C kills the
	 * command (it is in the terminal's process group) and is ours too. */
	if (rc != -1 && WIFSIGNALED(rc) && (WTERMSIG(rc) == SIGINT || WTERMSIG(rc) == SIGQUIT))
		bench_net_stop = WTERMSIG(rc);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* Enter (or, with NULL, leave) namespace @p ns for what this thread starts. */
static int in_ns(const char *ns)
{
	static int home = -1;
	char p[64];
	int fd, rc;

	if (home < 0)
		home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!ns)
		return setns(home, CLONE_NEWNET);
	snprintf(p, sizeof(p), "/run/netns/%s", ns);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

volatile sig_atomic_t bench_net_stop;

static void on_signal(int sig)
{
	bench_net_stop = sig;
}

/* Without SA_RESTART, so that a wait for a child returns (EINTR) and
 * the child can be told to stop. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
}

void bench_net_child_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
}

pid_t bench_net_wait(pid_t pid, int *status)
{
	pid_t got;

	while ((got = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		if (bench_net_stop)
			kill(pid, SIGTERM);
	return got;
}

static void cleanup(struct net_bench *b)
{
	if (b->a_up)
		bench_node_stop(b->bin_dir, b->inst_a);
	if (b->b_up)
		bench_node_stop(b->bin_dir, b->inst_b);
	b->a_up = b->b_up = false;
	if (b->veth) {
		bench_net_sh("ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null", b->ia, b->ns);
		b->veth = false;
	}
}

static int make_veth(struct net_bench *b)
{
	unsigned id = (unsigned)getpid() % 100000u;

	snprintf(b->ns, sizeof(b->ns), "dwcpbn%u", id);
	snprintf(b->ia, sizeof(b->ia), "dbn%ua", id);
	snprintf(b->ib, sizeof(b->ib), "dbn%ub", id);
	snprintf(b->ip_a, sizeof(b->ip_a), "10.251.%u.1", id % 250u);
	snprintf(b->ip_b, sizeof(b->ip_b), "10.251.%u.2", id % 250u);
	b->veth = true;
	return bench_net_sh("ip netns add %s && ip link add %s type veth peer name %s && ip link set %s netns %s && "
		  "ip addr add %s/30 dev %s && ip link set %s up && ip -n %s addr add %s/30 dev %s && "
		  "ip -n %s link set %s up && ip -n %s link set lo up",
		  b->ns, b->ia, b->ib, b->ib, b->ns, b->ip_a, b->ia, b->ia, b->ns, b->ip_b, b->ib, b->ns,
		  b->ib, b->ns);
}

int bench_net_start_node(struct net_bench *b, const char *inst, const char *iface, const char *ns,
			 const char *ip, const char *services, const char *extra)
{
	char cfg[1024], err[512];
	struct bench_node_cfg nc = { 512, services, cfg };
	int rc;

	/* No TCP listener: every byte goes through the port (UDP port 7100).
	 * @p iface NULL: kernel TCP instead, listening on @p ip. */
	if (iface)
		snprintf(cfg, sizeof(cfg),
			 "[net]\nlisten =\ntransport = dpdk\nport = net_af_packet0,iface=%s\nip = %s/24\n%s",
			 iface, ip, extra ? extra : "");
	else
		snprintf(cfg, sizeof(cfg), "[net]\nlisten = %s:7100\n%s", ip, extra ? extra : "");
	if (ns && in_ns(ns))
		return -1;
	rc = bench_node_start_cfg(b->bin_dir, inst, &nc, err, sizeof(err));
	if (ns)
		in_ns(NULL);
	if (rc)
		fprintf(stderr, "dwcp bench net: %s\n", err);
	return rc;
}

/* The consumers: children attached to a node, reporting through a pipe. */
static void sender(const char *inst, unsigned size, unsigned seconds, struct side_result *r)
{
	struct dwcp_client c;
	struct dwcp_port p;
	struct dwcp_err err = { 0 };
	uint64_t t0, end;

	if (dwcp_client_open(&c, inst, NULL, "bench-net", "dwcp bench net", &err) ||
	    dwcp_port_lookup(&p, 0, &err) || dwcp_port_claim(&p, c.at.slot, &err)) {
		fprintf(stderr, "dwcp bench net: %s\n", err.msg);
		return;
	}
	t0 = dwcp_now_ns();
	end = t0 + (uint64_t)seconds * 1000000000u;
	while (dwcp_now_ns() < end) {
		struct rte_mbuf *m[32];
		unsigned k;

		if (rte_pktmbuf_alloc_bulk(p.pool, m, 32)) {
			dwcp_port_kick(&p);
			usleep(20);
			continue;
		}
		for (unsigned i = 0; i < 32; i++) {
			uint8_t *h = (uint8_t *)rte_pktmbuf_append(m[i], (uint16_t)size);

			if (!h)
				return;   /* --size is checked against the mbufs' room */
			memset(h, 0xff, 6);                 /* broadcast */
			memcpy(h + 6, p.shm->mac, 6);
			h[12] = 0x88;                       /* IEEE local experimental */
			h[13] = 0xb5;
		}
		k = rte_ring_sp_enqueue_burst(p.tx, (void **)m, 32, NULL);
		if (k < 32)
			rte_pktmbuf_free_bulk(m + k, 32 - k);
		r->frames += k;
		r->bytes += (uint64_t)k * size;
		dwcp_port_kick(&p);
	}
	r->ns = dwcp_now_ns() - t0;
	r->ok = 1;
	dwcp_port_release(&p);
	dwcp_attach_leave(&c.at);
}

static void receiver(const char *inst, unsigned seconds, struct side_result *r)
{
	struct dwcp_client c;
	struct dwcp_port p;
	struct dwcp_err err = { 0 };
	uint64_t first = 0, last = 0, end;

	if (dwcp_client_open(&c, inst, NULL, "bench-net", "dwcp bench net", &err) ||
	    dwcp_port_lookup(&p, 0, &err) || dwcp_port_claim(&p, c.at.slot, &err)) {
		fprintf(stderr, "dwcp bench net: %s\n", err.msg);
		return;
	}
	end = dwcp_now_ns() + (uint64_t)(seconds + 3) * 1000000000u;
	while (dwcp_now_ns() < end) {
		struct rte_mbuf *m[64];
		uint32_t seq = __atomic_load_n(&p.c->rx_doorbell, __ATOMIC_ACQUIRE);
		unsigned n = dwcp_port_rx_burst(&p, m, 64);

		if (!n) {
			dwcp_port_wait_rx(&p, seq, 10000000);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *h = rte_pktmbuf_mtod(m[i], const uint8_t *);

			if (rte_pktmbuf_data_len(m[i]) >= 14 && h[12] == 0x88 && h[13] == 0xb5) {
				last = dwcp_now_ns();
				if (!first)
					first = last;
				r->frames++;
				r->bytes += rte_pktmbuf_pkt_len(m[i]);
			}
		}
		rte_pktmbuf_free_bulk(m, n);
	}
	r->ns = last - first;
	r->ok = 1;
	dwcp_port_release(&p);
	dwcp_attach_leave(&c.at);
}

static pid_t fork_side(int fd[2], bool send, const char *inst, const struct net_bench *b)
{
	pid_t pid;

	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct side_result r = { 0 };

		bench_net_child_signals();
		close(fd[0]);
		if (send)
			sender(inst, b->size, b->seconds, &r);
		else
			receiver(inst, b->seconds, &r);
		if (write(fd[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	return pid;
}

static int read_side(int fd, pid_t pid, struct side_result *r)
{
	ssize_t n;

	while ((n = read(fd, r, sizeof(*r))) < 0 && errno == EINTR)
		if (bench_net_stop)
			kill(pid, SIGTERM);
	close(fd);
	bench_net_wait(pid, NULL);
	return n == sizeof(*r) && r->ok ? 0 : -1;
}

static int run_ours(struct net_bench *b, struct side_result *tx, struct side_result *rx)
{
	char ip_a[20], ip_b[20];
	int fr[2], fs[2];
	pid_t pr, ps;

	/* Only the supervisor (which runs the port) and a service that stays
	 * off the port: svc-net would be the port's consumer. */
	snprintf(ip_a, sizeof(ip_a), "10.252.%u.1", b->subnet);
	snprintf(ip_b, sizeof(ip_b), "10.252.%u.2", b->subnet);
	if (bench_net_start_node(b, b->inst_b, b->ib, b->ns, ip_b, "svc-prof", NULL))
		return -1;
	b->b_up = true;
	if (bench_net_start_node(b, b->inst_a, b->ia, NULL, ip_a, "svc-prof", NULL))
		return -1;
	b->a_up = true;
	pr = fork_side(fr, false, b->inst_b, b);
	usleep(500000);   /* the receiver is attached before the flood starts */
	ps = fork_side(fs, true, b->inst_a, b);
	if (pr < 0 || ps < 0)
		return -1;
	return read_side(fs[0], ps, tx) || read_side(fr[0], pr, rx) ? -1 : 0;
}

/* The highest "Rx-pps:" / "Tx-pps:" figure testpmd printed (every second)
 * in @p path: its rate while the flood ran, not the idle seconds around. */
static double peak_pps(const char *path, const char *key)
{
	char line[512];
	double v = -1;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, key);
		double x = p ? strtod(p + strlen(key), NULL) : -1;

		if (x > v)
			v = x;
	}
	if (f)
		fclose(f);
	return v;
}

/* txonly on A's interface -> rxonly on B's: one testpmd each, as the
 * nodes were (the receiver in the namespace). -2: no testpmd. */
static int run_testpmd(const struct net_bench *b, double *tx_pps, double *rx_pps)
{
	char rxf[64], txf[64];
	unsigned id = (unsigned)getpid();
	int rc;

	if (bench_net_sh("command -v dpdk-testpmd >/dev/null"))
		return -2;
	snprintf(rxf, sizeof(rxf), "/tmp/dwcp-bn-rx-%u", id);
	snprintf(txf, sizeof(txf), "/tmp/dwcp-bn-tx-%u", id);
	rc = bench_net_sh("timeout %u ip netns exec %s dpdk-testpmd -l 0-1 --in-memory --no-pci -m 128 "
		"--vdev=net_af_packet0,iface=%s -- --forward-mode=rxonly --stats-period=1 "
		"--total-num-mbufs=16384 --port-topology=loop > %s 2>&1 & sleep 2; "
		"timeout %u dpdk-testpmd -l 0-1 --in-memory --no-pci -m 128 "
		"--vdev=net_af_packet1,iface=%s -- --forward-mode=txonly --txpkts=%u --stats-period=1 "
		"--total-num-mbufs=16384 --port-topology=loop > %s 2>&1; wait; rmdir /var/run/dpdk/rte 2>/dev/null",
		b->seconds + 5, b->ns, b->ib, rxf, b->seconds, b->ia, b->size, txf);
	(void)rc;
	*tx_pps = peak_pps(txf, "Tx-pps:");
	*rx_pps = peak_pps(rxf, "Rx-pps:");
	unlink(rxf);
	unlink(txf);
	return *rx_pps >= 0 ? 0 : -1;
}

/* One TCP connection from here to the namespace's end: GB/s. */
static double run_tcp(const struct net_bench *b)
{
	int fd[2];
	pid_t pid;
	char *buf = malloc(1u << 20);
	double gbs = -1;

	if (!buf || pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(17999) };
		int one = 1, l, c;
		uint64_t total = 0;
		ssize_t r;

		bench_net_child_signals();
		close(fd[0]);
		if (in_ns(b->ns))
			_exit(1);
		inet_pton(AF_INET, b->ip_b, &a.sin_addr);
		l = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1))
			_exit(1);
		if (write(fd[1], "r", 1) != 1)
			_exit(1);
		c = accept(l, NULL, NULL);
		while ((r = read(c, buf, 1u << 20)) > 0)
			total += (uint64_t)r;
		_exit(write(fd[1], &total, sizeof(total)) == sizeof(total) ? 0 : 1);
	}
	close(fd[1]);
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(17999) };
		char ready;
		uint64_t total = 0, t0, end;
		int s = socket(AF_INET, SOCK_STREAM, 0);

		inet_pton(AF_INET, b->ip_b, &a.sin_addr);
		if (read(fd[0], &ready, 1) == 1 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
			memset(buf, 0x5a, 1u << 20);
			t0 = dwcp_now_ns();
			end = t0 + (uint64_t)b->seconds * 1000000000u;
			while (dwcp_now_ns() < end && !bench_net_stop && write(s, buf, 1u << 20) > 0)
				;
			close(s);
			if (!bench_net_stop && read(fd[0], &total, sizeof(total)) == sizeof(total))
				gbs = (double)total / ((dwcp_now_ns() - t0) / 1e9) / 1e9;
		}
		close(fd[0]);
		if (bench_net_stop)
			kill(pid, SIGTERM);
		bench_net_wait(pid, NULL);
	}
	free(buf);
	return gbs;
}

static int parse(int argc, char **argv, struct net_bench *b)
{
	static const struct option lo[] = { { "seconds", required_argument, NULL, 't' },
					    { "size", required_argument, NULL, 's' },
					    { "xfer-mib", required_argument, NULL, 'x' },
					    { "mtu", required_argument, NULL, 'm' },
					    { "net-workers", required_argument, NULL, 'w' },
					    { NULL, 0, NULL, 0 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end;
		unsigned long v = ch == '?' ? 0 : strtoul(optarg, &end, 10);

		if (ch == '?' || *end || (ch == 't' && (v < 1 || v > 600)) ||
		    (ch == 's' && (v < 60 || v > 1514)) || (ch == 'x' && v > 16384) ||
		    (ch == 'm' && (v < 1280 || v > 9600)) || (ch == 'w' && (v < 1 || v > 8))) {
			fprintf(stderr, "dwcp bench net: bad option (want --seconds 1..600 --size 60..1514 --xfer-mib 0..16384 --mtu 1280..9600 --net-workers 1..8)\n");
			return -1;
		}
		if (ch == 't')
			b->seconds = (unsigned)v;
		else if (ch == 's')
			b->size = (unsigned)v;
		else if (ch == 'm')
			b->mtu = (unsigned)v;
		else if (ch == 'w')
			b->net_workers = (unsigned)v;
		else
			b->xfer_mib = (unsigned)v;
	}
	return optind < argc ? -1 : 0;
}

static void xfer_row(const char *what, int rc, const struct net_xfer_result *x)
{
	double cpu = x->node_cpu_s / (x->bytes / 1e9);

	if (rc == 0 && x->frags_rx < 0)   /* kernel TCP: segments no node counts */
		printf("%-52s %12s %12s %9.3f %9.2f\n", what, "", "", x->bytes / x->seconds / 1e9, cpu);
	else if (rc == 0)
		printf("%-52s %12s %12.0f %9.3f %9.2f\n", what, "", x->frags_rx / x->seconds,
		       x->bytes / x->seconds / 1e9, cpu);
	else if (rc == -1)
		printf("%-52s %s\n", what, "failed");
}

static void xfer_note(const char *what, int rc, const struct net_xfer_result *x)
{
	if (rc == 0 && x->frags_rx < 0)
		printf("(%s: %.0f MiB of random bytes in %.2f s, %s)\n", what, x->bytes / 1048576.0, x->seconds,
		       x->identical ? "bit-identical" : "DIFFERENT AT THE SINK");
	else if (rc == 0)
		printf("(%s: %.0f MiB of random bytes in %.2f s, %s; %.0f fragments received, %.0f resent "
		       "(%.0f by probes), %.0f NACKs, %.0f dropped for want of a buffer)\n",
		       what, x->bytes / 1048576.0, x->seconds, x->identical ? "bit-identical" : "DIFFERENT AT THE SINK",
		       x->frags_rx, x->frags_resent, x->probes, x->nacks, x->nobuf);
}

int dwcp_cli_bench_net(int argc, char **argv)
{
	struct net_bench b = { .seconds = 5, .size = 1514, .xfer_mib = 1024, .mtu = 9000, .net_workers = 2 };
	struct side_result tx = { 0 }, rx = { 0 };
	struct net_xfer_result xr = { 0 }, xj = { 0 }, xt = { 0 }, xc = { 0 }, xw = { 0 };
	int xrc = -2, xjc = -2, xtc = -2, xcc = -2, xwc = -2;
	double tp_tx = -1, tp_rx = -1, tcp, ours_rx, ours_tx;
	char jumbo[64], workers[80];
	ssize_t n;
	int tp;

	if (parse(argc, argv, &b))
		return 2;
	catch_signals();
	n = readlink("/proc/self/exe", b.bin_dir, sizeof(b.bin_dir) - 1);
	b.bin_dir[n > 0 ? n : 0] = '\0';
	{
		char *d = dirname(b.bin_dir);   /* may point into bin_dir itself */

		memmove(b.bin_dir, d, strlen(d) + 1);
	}
	snprintf(b.inst_a, sizeof(b.inst_a), "bnet%da", (int)getpid());
	snprintf(b.inst_b, sizeof(b.inst_b), "bnet%db", (int)getpid());
	b.subnet = (unsigned)getpid() % 250u;
	if (make_veth(&b)) {
		fprintf(stderr, "dwcp bench net: skipped: no veth pair or network namespace (needs root and ip)\n");
		cleanup(&b);
		return 1;
	}
	if (run_ours(&b, &tx, &rx)) {
		cleanup(&b);
		if (bench_net_stop) {
			fprintf(stderr, "dwcp bench net: stopped by signal %d; its nodes, veth pair and namespace are removed\n",
				(int)bench_net_stop);
			return 130;
		}
		fprintf(stderr, "dwcp bench net: the node pair failed\n");
		return 1;
	}
	bench_node_stop(b.bin_dir, b.inst_a);
	bench_node_stop(b.bin_dir, b.inst_b);
	b.a_up = b.b_up = false;
	if (b.xfer_mib && !bench_net_stop)
		xrc = bench_net_xfer(&b, 0, false, 1, &xr);
	if (b.xfer_mib && !bench_net_stop)
		xcc = bench_net_xfer(&b, 0, true, 1, &xc);
	if (b.xfer_mib && !bench_net_stop)
		xwc = bench_net_xfer(&b, 0, false, b.net_workers, &xw);
	tp = bench_net_stop ? -1 : run_testpmd(&b, &tp_tx, &tp_rx);
	tcp = bench_net_stop ? -1 : run_tcp(&b);
	if (b.xfer_mib && !bench_net_stop)
		xtc = bench_net_xfer(&b, BENCH_NET_KERNEL_TCP, false, 0, &xt);
	/* Last: the nodes leave the veth's MTU at the jumbo size. */
	if (b.xfer_mib && !bench_net_stop)
		xjc = bench_net_xfer(&b, b.mtu, false, 1, &xj);
	cleanup(&b);
	if (bench_net_stop) {
		fprintf(stderr, "dwcp bench net: stopped by signal %d; its nodes, veth pair and namespace are removed\n",
			(int)bench_net_stop);
		return 130;
	}
	ours_tx = tx.ns ? tx.frames / (tx.ns / 1e9) : 0;
	ours_rx = rx.ns ? rx.frames / (rx.ns / 1e9) : 0;
	snprintf(jumbo, sizeof(jumbo), "dwcp send over the ports, [net] mtu = %u", b.mtu);
	snprintf(workers, sizeof(workers), "... [net] workers = %u (queues, steered)", b.net_workers);
	printf("dwcp bench net: veth pair (one end in a namespace), af_packet vdevs, %u-byte frames, %u s each\n\n",
	       b.size, b.seconds);
	printf("%-52s %12s %12s %9s %9s\n", "", "tx frames/s", "rx frames/s", "rx GB/s", "CPU-s/GB");
	printf("%-52s %12.0f %12.0f %9.3f\n", "dwcp port: supervisor thread, rings, consumers", ours_tx,
	       ours_rx, rx.ns ? rx.bytes / (rx.ns / 1e9) / 1e9 : 0);
	xfer_row("dwcp send over the ports (svc-net datagrams)", xrc, &xr);
	xfer_row("... fragments copied, [net] zerocopy = false", xcc, &xc);
	xfer_row(workers, xwc, &xw);
	if (tp == -2)
		printf("%-52s %s\n", "dpdk-testpmd txonly -> rxonly", "not installed (apt-get install dpdk-dev)");
	else if (tp < 0)
		printf("%-52s %s\n", "dpdk-testpmd txonly -> rxonly", "failed");
	else
		printf("%-52s %12.0f %12.0f %9.3f\n", "dpdk-testpmd txonly -> rxonly", tp_tx, tp_rx,
		       tp_rx * b.size / 1e9);
	if (tcp >= 0)
		printf("%-52s %12s %12s %9.3f\n", "kernel TCP, one connection over the same veth", "", "", tcp);
	xfer_row("dwcp send over kernel TCP (the default transport)", xtc, &xt);
	xfer_row(jumbo, xjc, &xj);
	if (tp == 0 && tp_rx > 0)
		printf("ratio dwcp port / testpmd (rx frames/s)              %.2fx\n", ours_rx / tp_rx);
	if (tp == 0 && tp_rx > 0 && xrc == 0)
		printf("ratio dwcp send / testpmd (rx frames/s)              %.2fx\n",
		       xr.frags_rx / xr.seconds / tp_rx);
	if (xtc == 0 && xrc == 0)
		printf("ratio dwcp send, port / kernel TCP (GB/s)            %.2fx (%.2fx with [net] mtu = %u)\n",
		       xr.bytes / xr.seconds / (xt.bytes / xt.seconds),
		       xjc == 0 ? xj.bytes / xj.seconds / (xt.bytes / xt.seconds) : 0, b.mtu);
	if (xrc == 0 && xcc == 0)
		printf("ratio node CPU per GB, zero-copy TX / copied          %.2fx (%.0f of %.0f fragments attached)\n",
		       xr.node_cpu_s / xc.node_cpu_s, xr.frags_zc, xr.frags_rx);
	if (xrc == 0 && xwc == 0)
		printf("ratio dwcp send, %u svc-net workers / one (GB/s)      %.2fx (node CPU per GB %.2fx)\n",
		       b.net_workers, xw.bytes / xw.seconds / (xr.bytes / xr.seconds),
		       (xw.node_cpu_s / xw.bytes) / (xr.node_cpu_s / xr.bytes));
	xfer_note("dwcp send", xrc, &xr);
	xfer_note(workers, xwc, &xw);
	xfer_note("dwcp send over kernel TCP", xtc, &xt);
	xfer_note(jumbo, xjc, &xj);
	printf("(dwcp: %llu frames offered, %llu received, %.1f %% lost; a veth has no flow control: "
	       "what the receiving side cannot read in time is dropped)\n",
	       (unsigned long long)tx.frames, (unsigned long long)rx.frames,
	       tx.frames ? 100.0 * (double)(tx.frames - (rx.frames < tx.frames ? rx.frames : tx.frames)) / tx.frames : 0);
	return 0;
}
