/* dwcp bench net's transfer row: `dwcp send` of an incompressible file
 * from node A to node B over their DPDK ports (svc-net's datagram
 * transport, svc-net/dconn.c), every service up and a shared key, as a
 * user runs it. The fragments per second B's port received are what
 * testpmd's received frames per second compare with: both are frames of
 * the port's MTU through af_packet on the same veth. Random bytes, so the
 * codec (auto) sends them as they are and the row measures the transport,
 * not the compressor. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench_node.h"
#include "net_pvt.h"
#include "transfer_pvt.h"

/* `dwcp ARGS` with stdout into @p out_path, in namespace @p ns (or here). */
static pid_t spawn_dwcp(const struct net_bench *b, const char *ns, const char *out_path,
			char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		char exe[PATH_MAX + 8], p[64];
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (ns) {
			int nfd;

			snprintf(p, sizeof(p), "/run/netns/%s", ns);
			nfd = open(p, O_RDONLY | O_CLOEXEC);
			if (nfd < 0 || setns(nfd, CLONE_NEWNET))
				_exit(126);
		}
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		snprintf(exe, sizeof(exe), "%s/dwcp", b->bin_dir);
		execv(exe, argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st = 0;

	if (pid < 0 || bench_net_wait(pid, &st) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static double json_num(const char *path, const char *key)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	cJSON *j, *v;
	double r = -1;

	if (f)
		fclose(f);
	buf[n] = '\0';
	j = cJSON_Parse(buf);
	v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
	if (cJSON_IsNumber(v))
		r = v->valuedouble;
	cJSON_Delete(j);
	return r;
}

static double port_num(const char *inst, const char *key)
{
	cJSON *st = bench_node_status(inst);
	const cJSON *p = st ? cJSON_GetObjectItemCaseSensitive(st, "port") : NULL;
	const cJSON *v = p ? cJSON_GetObjectItemCaseSensitive(p, key) : NULL;
	double r = cJSON_IsNumber(v) ? v->valuedouble : -1;

	cJSON_Delete(st);
	return r;
}

static int run(struct net_bench *b, const char *dir, unsigned mtu, bool copy, unsigned workers,
	       struct net_xfer_result *r)
{
	struct bench_xfer_probe before, after;
	char extra_a[512], extra_b[512], ip_a[20], ip_b[20], src[128], out[128], to[40];
	char rj[128], sj[128], key[128], mtu_line[96] = "";
	bool tcp = mtu == BENCH_NET_KERNEL_TCP;
	pid_t rp, sp;
	int rs, rr;

	snprintf(key, sizeof(key), "%s/key", dir);
	snprintf(src, sizeof(src), "%s/src.img", dir);
	snprintf(out, sizeof(out), "%s/out.img", dir);
	snprintf(rj, sizeof(rj), "%s/recv.json", dir);
	snprintf(sj, sizeof(sj), "%s/send.json", dir);
	if (!tcp)
		snprintf(mtu_line, sizeof(mtu_line), "mtu = %u\n%s", mtu, copy ? "zerocopy = false\n" : "");
	if (workers)
		snprintf(mtu_line + strlen(mtu_line), sizeof(mtu_line) - strlen(mtu_line), "workers = %u\n", workers);
	if (bench_net_sh("head -c %uM /dev/urandom > %s && %s/dwcp keygen %s >/dev/null", b->xfer_mib, src,
			 b->bin_dir, key)) {
		fprintf(stderr, "dwcp bench net: cannot write %s or its key\n", src);
		return -1;
	}
	snprintf(ip_a, sizeof(ip_a), "10.252.%u.1", b->subnet);
	snprintf(ip_b, sizeof(ip_b), "10.252.%u.2", b->subnet);
	if (tcp) {   /* the kernel's addresses on the veth */
		snprintf(ip_a, sizeof(ip_a), "%s", b->ip_a);
		snprintf(ip_b, sizeof(ip_b), "%s", b->ip_b);
	}
	snprintf(to, sizeof(to), "%s:7100", ip_b);
	snprintf(extra_a, sizeof(extra_a), "%s[crypto]\nkey_file = %s\n[stream]\nindex_dir = %s/index-a\n",
		 mtu_line, key, dir);
	snprintf(extra_b, sizeof(extra_b), "%s[crypto]\nkey_file = %s\n[stream]\nindex_dir = %s/index-b\n",
		 mtu_line, key, dir);
	if (bench_net_start_node(b, b->inst_b, tcp ? NULL : b->ib, b->ns, ip_b, NULL, extra_b))
		return -1;
	b->b_up = true;
	if (bench_net_start_node(b, b->inst_a, tcp ? NULL : b->ia, NULL, ip_a, NULL, extra_a))
		return -1;
	b->a_up = true;
	bench_xfer_probe_nodes(b->inst_a, b->inst_b, &before);
	rp = spawn_dwcp(b, b->ns, rj, (char *const[]){ "dwcp", "recv", "--instance", b->inst_b, "--stream",
						   "benchnet", "--out", out, "--json", "--timeout", "120",
						   NULL });
	sp = spawn_dwcp(b, NULL, sj, (char *const[]){ "dwcp", "send", "--instance", b->inst_a, "--stream",
						  "benchnet", "--file", src, "--to", to, "--json",
						  "--no-delta", "--timeout", "120", NULL });
	rs = wait_exit(sp);
	if (rs)
		kill(rp, SIGTERM);
	rr = wait_exit(rp);
	bench_xfer_probe_nodes(b->inst_a, b->inst_b, &after);
	r->node_cpu_s = bench_xfer_probe_cpu_s(&before, &after);
	if (rs || rr) {
		fprintf(stderr, "dwcp bench net: the transfer failed (send exit %d, recv exit %d): %s and %s\n",
			rs, rr, sj, rj);
		bench_net_sh("cat %s %s >&2", sj, rj);
		return -1;
	}
	r->seconds = json_num(sj, "seconds");
	r->bytes = (double)b->xfer_mib * 1048576.0;
	/* over TCP: kernel segments, which no node counts */
	r->frags_rx = port_num(b->inst_b, "dgram_frags_rx");
	r->frags_resent = port_num(b->inst_a, "dgram_frags_resent");
	r->nacks = port_num(b->inst_b, "dgram_nacks_tx");
	r->probes = port_num(b->inst_a, "dgram_probes");
	r->nobuf = port_num(b->inst_b, "dgram_rx_nobuf");
	r->frags_zc = port_num(b->inst_a, "dgram_frags_zero_copy");
	r->identical = bench_net_sh("cmp -s %s %s", src, out) == 0;
	return r->seconds > 0 ? 0 : -1;
}

int bench_net_xfer(struct net_bench *b, unsigned mtu, bool copy, unsigned workers, struct net_xfer_result *r)
{
	char dir[64];
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-bnx-XXXXXX");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "dwcp bench net: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	rc = run(b, dir, mtu, copy, workers, r);
	if (b->a_up)
		bench_node_stop(b->bin_dir, b->inst_a);
	if (b->b_up)
		bench_node_stop(b->bin_dir, b->inst_b);
	b->a_up = b->b_up = false;
	bench_net_sh("rm -rf '%s'", dir);
	return rc;
}
