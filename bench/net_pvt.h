/* dwcp bench net's parts (net.c: the veth pair, the port flood, testpmd,
 * kernel TCP; net_xfer.c: a transfer between two whole nodes). */
#ifndef DWCP_BENCH_NET_PVT_H
#define DWCP_BENCH_NET_PVT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdint.h>

struct net_bench {
	unsigned seconds, size, xfer_mib;
	unsigned mtu;                     /* the jumbo transfer row's [net] mtu */
	unsigned net_workers;             /* the workers row's [net] workers */
	char bin_dir[PATH_MAX];
	char ns[32], ia[16], ib[16], ip_a[20], ip_b[20];
	char inst_a[32], inst_b[32];
	unsigned subnet;                  /* the nodes' datagram addresses: 10.252.<subnet>.1 and .2 */
	bool veth, a_up, b_up;
};

/* A `dwcp send` from A to B over the nodes' ports. */
struct net_xfer_result {
	double seconds;                   /* dwcp send's own figure */
	double bytes;
	double frags_rx, frags_resent, nacks, probes, nobuf;
	double frags_zc;                  /* fragments A's svc-net sent attached (zero-copy TX) */
	double node_cpu_s;                /* both nodes' processes, over the transfer */
	bool identical;
};

/* Set (to the signal) by SIGINT, SIGTERM, SIGHUP or SIGPIPE: stop. */
extern volatile sig_atomic_t bench_net_stop;

int bench_net_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** waitpid(2) through EINTR; once bench_net_stop is set, @p pid is sent SIGTERM first. */
pid_t bench_net_wait(pid_t pid, int *status);
/** In a child forked without exec: the default signal actions back. */
void bench_net_child_signals(void);
/** Start node @p inst on @p iface (in namespace @p ns, or here when NULL)
 *  with datagram address @p ip; @p services NULL: every service; @p extra: more config. */
int bench_net_start_node(struct net_bench *b, const char *inst, const char *iface, const char *ns,
			 const char *ip, const char *services, const char *extra);
#define BENCH_NET_KERNEL_TCP UINT_MAX

/** A transfer row with [net] mtu = @p mtu (0: the port's own), or over
 *  kernel TCP on the veth's addresses (@p mtu BENCH_NET_KERNEL_TCP); with
 *  @p copy, [net] zerocopy = false (fragments copied into mbufs); @p
 *  workers: [net] workers (0: auto): both nodes started and stopped here.
 *  0, or -1 (said on stderr). */
int bench_net_xfer(struct net_bench *b, unsigned mtu, bool copy, unsigned workers, struct net_xfer_result *r);

#endif
