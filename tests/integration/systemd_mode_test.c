/* The units in deploy/systemd under a real systemd, in systemd mode
 * ([supervisor] systemd_services = true: every service is a unit of its
 * own, restarted by systemd; systemd_boot_test covers the default mode,
 * where the supervisor starts them). A container
 * (systemd-nspawn -b) boots systemd 252 as its PID 1 on a rootfs made of
 * the host's /usr (read-only; the host is the Debian 12 the binaries were
 * built on, so every library they need is there) and a skeleton /etc.
 * This build's binaries are copied to /usr/local/bin as the units expect,
 * the units to /etc/systemd/system, and /etc/dwcp/dwcp.ini selects
 * systemd mode. The container mounts its own hugetlbfs (dev-hugepages.mount)
 * on the host's page pool, so leftover files are seen there and nowhere
 * else. nspawn's /sys here has no /sys/module, without which DPDK's EAL
 * fails "Cannot init VFIO" (it looks for the vfio module there): bound
 * read-only from the host. --register=no: there is no host systemd/machined to register
 * with; commands run inside through nsenter into the container's PID 1.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

static const char *const services[] = { "svc-net", "svc-simd", "svc-mem", "svc-gpu", "svc-rdma", "svc-prof" };
#define NSVC (sizeof(services) / sizeof(services[0]))

static char dir[64], root[96];
static pid_t nspawn_pid;
static long leader;
static struct dwcp_xfer_guard guard;

/* Output of @p cmd run in the container (sh -c), exit status returned. */
static int ct(char *out, size_t n, const char *cmd)
{
	return dwcp_xfer_sh(out, n, "nsenter -t %ld -m -u -i -n -p -- /usr/bin/env PATH=/usr/local/bin:/usr/sbin:/usr/bin /bin/sh -c '%s' 2>&1", leader, cmd);
}

static long ct_num(const char *cmd)
{
	char out[256];

	if (ct(out, sizeof(out), cmd) != 0)
		return -1;
	return strtol(out, NULL, 10);
}

static long main_pid(const char *unit)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "systemctl show -p MainPID --value %s", unit);
	return ct_num(cmd);
}

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "we");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* Why the machine cannot boot a container, or NULL when it can try. */
static const char *cannot_boot(void)
{
	if (geteuid() != 0)
		return "not root (systemd-nspawn needs root)";
	if (dwcp_xfer_sh(NULL, 0, "command -v systemd-nspawn && command -v nsenter") != 0)
		return "no systemd-nspawn (apt-get install systemd-container)";
	if (access("/usr/lib/systemd/systemd", X_OK) != 0)
		return "no /usr/lib/systemd/systemd (apt-get install systemd)";
	return NULL;
}

static void make_rootfs(void)
{
	char out[4096];
	int rc;

	snprintf(root, sizeof(root), "%s/root", dir);
	rc = dwcp_xfer_sh(out, sizeof(out),
			  "set -e; r=%s; mkdir -p $r/usr $r/etc/dwcp $r/etc/systemd/system/dwcp.target.wants "
			  "$r/var $r/tmp $r/root $r/run $r/proc $r/sys $r/dev $r/opt/bin; "
			  "for d in bin lib lib64 sbin; do ln -s usr/$d $r/$d; done; "
			  "cp /usr/lib/os-release $r/etc/os-release; : > $r/etc/machine-id; "
			  "cp %s/* $r/opt/bin/; cp %s/../../deploy/systemd/* $r/etc/systemd/system/; "
			  "ln -s ../dwcp-supervisor@.service $r/etc/systemd/system/dwcp.target.wants/dwcp-supervisor@dwcp.service",
			  root, dwcp_test_bin_dir(), dwcp_test_bin_dir());
	cr_assert_eq(rc, 0, "%s", out);
	for (unsigned i = 0; i < NSVC; i++) {
		rc = dwcp_xfer_sh(out, sizeof(out), "ln -s ../dwcp-svc@.service %s/etc/systemd/system/dwcp.target.wants/dwcp-svc@%s.service",
				  root, services[i]);
		cr_assert_eq(rc, 0, "%s", out);
	}
	write_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
	write_file("etc/group", "root:x:0:\n");
	/* Small: the host's other tests share the page pool. */
	write_file("etc/dwcp/dwcp.ini", "[supervisor]\nhugepage_mb = 128\nsystemd_services = true\n"
		   "[pool]\nbuffers = 1024\nbuf_size = 4096\n[net]\nlisten =\n");
}

static void boot(void)
{
	char log[128], out[4096], cleanup[512];

	snprintf(log, sizeof(log), "%s/nspawn.log", dir);
	nspawn_pid = fork();
	cr_assert_geq(nspawn_pid, 0);
	if (nspawn_pid == 0) {
		char bind[160], name[32];

		if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr) || !freopen("/dev/null", "r", stdin))
			_exit(127);
		snprintf(bind, sizeof(bind), "--bind=%s/opt/bin:/usr/local/bin", root);
		snprintf(name, sizeof(name), "--machine=dwcpsd%d", (int)getppid());
		execlp("systemd-nspawn", "systemd-nspawn", "-q", "-D", root, "--bind-ro=/usr", "--bind-ro=/sys/module", bind, name,
		       "--private-network", "--register=no", "--keep-unit", "-b", "systemd.unit=multi-user.target",
		       (char *)NULL);
		_exit(127);
	}
	/* Killing the container's PID 1 ends its whole PID namespace and with
	 * its mount namespace the hugetlbfs mount and the pages on it. */
	snprintf(cleanup, sizeof(cleanup),
		 "for p in $(pgrep -P %d); do kill -9 $p; done; kill -9 %d; sleep 1; rm -rf %s",
		 (int)nspawn_pid, (int)nspawn_pid, dir);
	cr_assert_eq(dwcp_xfer_guard_start(&guard, cleanup), 0);
	/* nspawn's first child forks the container's PID 1 and exits: wait
	 * for the one that has become systemd. */
	for (int i = 0; i < 600 && leader <= 0; i++) {
		if (dwcp_xfer_sh(out, sizeof(out), "pgrep -x -P %d systemd | head -1", (int)nspawn_pid) == 0)
			leader = strtol(out, NULL, 10);
		siginfo_t si = { 0 };

		if (leader <= 0 && waitid(P_PID, (id_t)nspawn_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == nspawn_pid) {
			/* nspawn gave up before systemd ran: this machine cannot
			 * boot a container (docs/operations.md says what it needs).
			 * Cleaned up here: .fini does not run after a skip. The
			 * guard's kill hits a zombie (not reaped yet, pid not reused). */
			dwcp_xfer_sh(out, sizeof(out), "tail -3 %s", log);
			dwcp_xfer_guard_release(&guard);
			waitpid(nspawn_pid, NULL, 0);
			nspawn_pid = 0;
			fprintf(stderr, "skipped: systemd-nspawn -b could not boot a container: %s\n", out);
			cr_skip_test("systemd-nspawn could not boot: %s", out);
		}
		if (leader <= 0)
			usleep(100 * 1000);
	}
	cr_assert_gt(leader, 0, "no container PID 1 under systemd-nspawn %d", (int)nspawn_pid);
	/* is-system-running --wait returns once boot is over (running or degraded). */
	for (int i = 0; i < 60; i++) {
		if (ct(out, sizeof(out), "systemctl is-system-running --wait") == 0 ||
		    strstr(out, "degraded"))
			return;
		usleep(500 * 1000);
	}
	dwcp_xfer_sh(out, sizeof(out), "tail -20 %s", log);
	cr_assert_fail("container systemd did not finish booting:\n%s", out);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-sysd-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	nspawn_pid = 0;
	leader = 0;
}

static void teardown(void)
{
	if (nspawn_pid > 0) {
		/* SIGTERM: nspawn asks the container's systemd to power off. */
		kill(nspawn_pid, SIGTERM);
		for (int i = 0; i < 300; i++) {
			if (waitpid(nspawn_pid, NULL, WNOHANG) == nspawn_pid) {
				nspawn_pid = 0;
				break;
			}
			usleep(100 * 1000);
		}
	}
	dwcp_xfer_guard_release(&guard);
	if (nspawn_pid > 0)
		waitpid(nspawn_pid, NULL, 0);
	dwcp_xfer_rmdir(dir);
}

/* Wait until dwcpctl status --json says every service up (READY, or
 * STANDBY where its hardware is missing). */
static void wait_all_ready(const char *when)
{
	char out[16384];
	int rc = -1;

	for (int i = 0; i < 120; i++) {
		rc = ct(out, sizeof(out), "dwcpctl status --json");
		if (rc == 0) {
			cJSON *st = cJSON_Parse(out), *s;
			unsigned ready = 0, all = 0;

			cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(st, "services")) {
				cJSON *state = cJSON_GetObjectItemCaseSensitive(s, "state");

				all++;
				/* STANDBY: up, without its hardware (no RDMA NIC, no GPU here). */
				ready += cJSON_IsString(state) && (strcmp(state->valuestring, "READY") == 0 ||
								   strcmp(state->valuestring, "STANDBY") == 0);
			}
			cJSON_Delete(st);
			if (ready == all && all >= NSVC)
				return;
		}
		usleep(500 * 1000);
	}
	cr_assert_fail("%s: not every service READY (rc %d):\n%s", when, rc, out);
}

Test(systemd_mode, services_as_units_ready_watchdog_restart_upgrade_stop, .init = setup, .fini = teardown, .timeout = 280)
{
	char out[8192], cmd[512], unit[64];
	long pids[NSVC], sup;
	const char *why = cannot_boot();

	if (why) {
		fprintf(stderr, "skipped: %s\n", why);
		cr_skip_test("%s", why);
	}
	make_rootfs();
	boot();

	cr_assert_eq(ct(out, sizeof(out), "systemctl start --no-block dwcp.target"), 0, "start dwcp.target:\n%s", out);
	wait_all_ready("after systemctl start dwcp.target");
	sup = main_pid("dwcp-supervisor@dwcp.service");
	cr_assert_gt(sup, 0);
	for (unsigned i = 0; i < NSVC; i++) {
		snprintf(unit, sizeof(unit), "dwcp-svc@%s.service", services[i]);
		pids[i] = main_pid(unit);
		cr_assert_gt(pids[i], 0, "%s has no main pid", unit);
		snprintf(cmd, sizeof(cmd), "systemctl show -p ActiveState -p WatchdogUSec %s", unit);
		cr_assert_eq(ct(out, sizeof(out), cmd), 0, "%s", out);
		cr_expect(strstr(out, "ActiveState=active") != NULL, "%s: %s", unit, out);
		cr_expect(strstr(out, "WatchdogUSec=5s") != NULL, "%s watchdog not armed: %s", unit, out);
	}
	ct(out, sizeof(out), "systemctl show -p WatchdogUSec dwcp-supervisor@dwcp.service");
	cr_expect(strstr(out, "WatchdogUSec=10s") != NULL, "supervisor watchdog not armed: %s", out);

	/* kill -9 svc-mem: systemd restarts it (Restart=on-failure), nothing else moves. */
	snprintf(cmd, sizeof(cmd), "kill -9 %ld", pids[2]);
	cr_assert_eq(ct(out, sizeof(out), cmd), 0, "%s", out);
	long now = pids[2];
	for (int i = 0; i < 200 && (now == pids[2] || now <= 0); i++) {
		usleep(100 * 1000);
		now = main_pid("dwcp-svc@svc-mem.service");
	}
	cr_assert(now > 0 && now != pids[2], "svc-mem not restarted by systemd (pid %ld)", now);
	wait_all_ready("after kill -9 svc-mem");
	cr_expect_eq(ct_num("systemctl show -p NRestarts --value dwcp-svc@svc-mem.service"), 1);
	cr_expect_eq(main_pid("dwcp-supervisor@dwcp.service"), sup, "supervisor disturbed");
	for (unsigned i = 0; i < NSVC; i++) {
		if (i == 2)
			continue;
		snprintf(unit, sizeof(unit), "dwcp-svc@%s.service", services[i]);
		cr_expect_eq(main_pid(unit), pids[i], "%s disturbed by svc-mem's restart", unit);
	}

	/* Upgrade: a new svc-simd file (new inode) and a restart of its unit. */
	cr_assert_eq(ct(out, sizeof(out), "cp /usr/local/bin/svc-simd /usr/local/bin/svc-simd.new && "
			"mv /usr/local/bin/svc-simd.new /usr/local/bin/svc-simd && "
			"systemctl restart dwcp-svc@svc-simd.service"), 0, "%s", out);
	wait_all_ready("after upgrading svc-simd");
	now = main_pid("dwcp-svc@svc-simd.service");
	cr_expect(now > 0 && now != pids[1], "svc-simd pid %ld after upgrade", now);
	snprintf(cmd, sizeof(cmd), "readlink /proc/%ld/exe", now);
	ct(out, sizeof(out), cmd);
	cr_expect(strstr(out, "/usr/local/bin/svc-simd") && !strstr(out, "deleted"),
		  "svc-simd not running the new file: %s", out);
	cr_expect_eq(main_pid("dwcp-supervisor@dwcp.service"), sup, "supervisor disturbed by the upgrade");

	/* Stop: nothing left running, on hugetlbfs or in the run dir. */
	cr_assert_eq(ct(out, sizeof(out), "systemctl stop dwcp.target"), 0, "%s", out);
	/* The stop job of the target is done before the PartOf= ones it
	 * propagated: wait (hang guard 30 s) for every unit to be down. */
	for (int i = 0; i < 300; i++) {
		ct(out, sizeof(out), "systemctl is-active dwcp-supervisor@dwcp.service dwcp-svc@svc-net.service "
		   "dwcp-svc@svc-simd.service dwcp-svc@svc-mem.service dwcp-svc@svc-gpu.service "
		   "dwcp-svc@svc-rdma.service dwcp-svc@svc-prof.service | sort -u");
		if (strcmp(out, "inactive\n") == 0)
			break;
		usleep(100 * 1000);
	}
	cr_expect_str_eq(out, "inactive\n", "units still up after stop: %s", out);
	cr_expect_eq(ct(out, sizeof(out), "mountpoint -q /dev/hugepages"), 0, "no hugetlbfs in the container");
	/* The two lock files stay by design (ipc/attach.h: a clean stop
	 * removes the sockets, pid file, DPDK runtime dir and hugepage files;
	 * removing a flock file would race the next start). */
	ct(out, sizeof(out), "find /dev/hugepages /run/dwcp -mindepth 1 ! -path /run/dwcp/dwcp "
	   "! -name attach.lock ! -name supervisor.lock 2>/dev/null; true");
	cr_expect_str_eq(out, "", "leftover hugepage or runtime files:\n%s", out);
}
