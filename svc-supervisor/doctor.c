/* dwcpctl doctor: what a node needs from this host, checked, with the
 * exact command that fixes each failure (ctl_cli.h). Read-only: it never
 * changes the host. FAIL = a node cannot start or run right (exit 1);
 * warn = it runs, worse (exit 0); info = found or not, for the record.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/keyfile.h"
#include "ipc/attach.h"
#include "ipc/ctl_msg.h"
#include "ipc/eal.h"
#include "ctl_cli.h"
#include "doctor_rdma.h"
#include "sup_config.h"
#include "tune.h"

enum level { OK, INFO, WARN, FAIL };
static const char *const level_name[] = { "ok", "info", "warn", "FAIL" };

struct report {
	cJSON *arr;
	bool json;
	unsigned fails, warns;
};

static void say(struct report *r, enum level lv, const char *check, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void say(struct report *r, enum level lv, const char *check, const char *fix, const char *fmt, ...)
{
	char found[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(found, sizeof(found), fmt, ap);
	va_end(ap);
	r->fails += lv == FAIL;
	r->warns += lv == WARN;
	if (r->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "check", check);
		cJSON_AddStringToObject(o, "status", level_name[lv]);
		cJSON_AddStringToObject(o, "found", found);
		cJSON_AddStringToObject(o, "fix", fix ? fix : "");
		cJSON_AddItemToArray(r->arr, o);
		return;
	}
	printf("%-4s  %-12s %s\n", level_name[lv], check, found);
	if (fix && lv >= WARN)
		printf("      %-12s fix: %s\n", "", fix);
}

/* ---- hugepages --------------------------------------------------------- */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The hugetlbfs mount at @p dir, or any: true when mounted. */
static bool hugetlbfs_at(const char *dir, char *any, size_t n)
{
	FILE *f = fopen("/proc/mounts", "re");
	char line[1024], mnt[512], type[64];
	bool at = false;

	any[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %511s %63s", mnt, type) == 2 && !strcmp(type, "hugetlbfs")) {
			if (!any[0])
				snprintf(any, n, "%s", mnt);
			at = at || !strcmp(mnt, dir);
		}
	if (f)
		fclose(f);
	return at;
}

static void check_hugepages(struct report *r, const struct dwcp_config *cfg, bool running)
{
	char fix[1024], any[512];
	long nr = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
	long fr = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	long need = (long)cfg->hugepage_mb / 2;

	if (!hugetlbfs_at(cfg->huge_dir, any, sizeof(any))) {
		snprintf(fix, sizeof(fix), "mkdir -p %s && mount -t hugetlbfs nodev %s", cfg->huge_dir,
			 cfg->huge_dir);
		say(r, FAIL, "hugepages", fix, "no hugetlbfs mounted at %s ([supervisor] huge_dir)%s%s",
		    cfg->huge_dir, any[0] ? "; one is at " : "", any);
	} else {
		say(r, OK, "hugepages", NULL, "hugetlbfs mounted at %s", cfg->huge_dir);
	}
	snprintf(fix, sizeof(fix), "echo %ld > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages "
		 "(or deploy/hugepages.sh; lasting: deploy/hugepages.conf)", (nr > 0 ? nr : 0) + need);
	if (nr <= 0)
		say(r, FAIL, "hugepages", fix, "no 2 MiB hugepages reserved; a node needs %ld ([supervisor] hugepage_mb = %u)",
		    need, cfg->hugepage_mb);
	else if (!running && fr < need)
		say(r, FAIL, "hugepages", fix, "%ld of %ld 2 MiB hugepages free; a node needs %ld ([supervisor] hugepage_mb = %u)",
		    fr, nr, need, cfg->hugepage_mb);
	else
		say(r, OK, "hugepages", NULL, "%ld of %ld 2 MiB hugepages free; a node needs %ld%s", fr, nr, need,
		    running ? " (it runs: its pages are in use)" : "");
}

static void check_memlock(struct report *r)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (64ull << 20))
		say(r, OK, "memlock", NULL, "RLIMIT_MEMLOCK %s", rl.rlim_cur == RLIM_INFINITY ? "unlimited" : "enough");
	else
		say(r, WARN, "memlock", "ulimit -l unlimited (systemd: LimitMEMLOCK=infinity, as deploy/systemd has)",
		    "RLIMIT_MEMLOCK is %llu KiB: RDMA memory registration and VFIO need it unlimited",
		    (unsigned long long)rl.rlim_cur / 1024);
}

/* ---- instances ---------------------------------------------------------- */

static bool live(const char *run_dir, const char *instance)
{
	struct dwcp_err err = { 0 };
	int fd = dwcp_ctl_connect(run_dir, instance, &err);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static unsigned huge_files(const char *huge_dir, const char *prefix)
{
	DIR *d = opendir(huge_dir);
	struct dirent *e;
	char pre[128];
	unsigned n = 0;

	snprintf(pre, sizeof(pre), "%smap_", prefix);
	while (d && (e = readdir(d)) != NULL)
		n += !strncmp(e->d_name, pre, strlen(pre));
	if (d)
		closedir(d);
	return n;
}

/* Files a dead node of @p instance left, with the commands that remove them. */
static void check_stale(struct report *r, const struct dwcp_config *cfg, const char *run_dir,
			const char *instance)
{
	char inst_dir[1024], dpdk_dir[512] = "", fix[4096], what[2048] = "";
	struct stat st;
	unsigned hp = huge_files(cfg->huge_dir, instance);
	bool has_dir, has_dpdk;

	/* A clean stop leaves the log and the lock files; a dead node also
	 * its socket and pid file. */
	snprintf(inst_dir, sizeof(inst_dir), "%s/%s/ctl.sock", run_dir, instance);
	has_dir = stat(inst_dir, &st) == 0;
	snprintf(inst_dir, sizeof(inst_dir), "%s/%s/supervisor.pid", run_dir, instance);
	has_dir = has_dir || stat(inst_dir, &st) == 0;
	snprintf(inst_dir, sizeof(inst_dir), "%s/%s", run_dir, instance);
	has_dpdk = dwcp_eal_runtime_dir(dpdk_dir, sizeof(dpdk_dir), instance) == 0 && stat(dpdk_dir, &st) == 0;
	if (!has_dir && !has_dpdk && !hp)
		return;
	snprintf(what, sizeof(what), "%s%s%s%s", has_dir ? inst_dir : "", has_dir && has_dpdk ? ", " : "",
		 has_dpdk ? dpdk_dir : "", hp ? ", hugepage files" : "");
	snprintf(fix, sizeof(fix), "rm -f %s/ctl.sock %s/supervisor.pid %s/%smap_*%s%s   (or: dwcp-supervisor --instance %s start, which removes them first)",
		 inst_dir, inst_dir, cfg->huge_dir, instance, has_dpdk ? "; rm -rf " : "",
		 has_dpdk ? dpdk_dir : "", instance);
	say(r, FAIL, "runtime", fix, "instance '%s' runs no supervisor but left %s (%u hugepage files: memory nobody frees)",
	    instance, what, hp);
}

/* A running node's services: any not READY/STANDBY is a failure. */
static void check_services(struct report *r, const char *run_dir, const char *instance)
{
	uint8_t *buf = malloc(DWCP_CTL_REPLY_MAX);
	const struct dwcp_ctl_hdr *h;
	const void *payload;
	struct dwcp_ctl_req req;
	struct dwcp_err err = { 0 };
	cJSON *root = NULL;
	const cJSON *s;
	int fd = dwcp_ctl_connect(run_dir, instance, &err);

	if (fd < 0 || !buf)
		goto out;
	dwcp_ctl_req_init(&req, DWCP_CTL_STATUS);
	if (dwcp_ctl_call(fd, &req, buf, DWCP_CTL_REPLY_MAX, 10000, &h, &payload, &err) || h->status ||
	    !(root = cJSON_Parse(payload))) {
		say(r, FAIL, "node", NULL, "instance '%s' does not answer status: %s", instance, err.msg);
		goto out;
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "services")) {
		const char *nm = cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring;
		const char *state = cJSON_GetObjectItemCaseSensitive(s, "state")->valuestring;
		const char *why = cJSON_GetObjectItemCaseSensitive(s, "reason")->valuestring;
		char fix[256];

		snprintf(fix, sizeof(fix), "dwcpctl --instance %s restart %s; its log: %s/%s/supervisor.log",
			 instance, nm, run_dir, instance);
		if (!strcmp(state, "READY"))
			continue;
		if (!strcmp(state, "STANDBY") || !strcmp(state, "STOPPED"))
			say(r, INFO, "node", NULL, "instance '%s': %s is %s%s%s", instance, nm, state,
			    *why ? ": " : "", why);
		else
			say(r, FAIL, "node", fix, "instance '%s': %s is %s", instance, nm, state);
	}
	say(r, OK, "node", NULL, "instance '%s' runs; its services answered", instance);
out:
	if (fd >= 0)
		close(fd);
	cJSON_Delete(root);
	free(buf);
}

/* ---- key, sysctls, devices, clock ------------------------------------- */

static void check_key(struct report *r, const struct dwcp_config *cfg, const char *config)
{
	uint8_t key[DWCP_KEYFILE_KEY_LEN];
	struct dwcp_err err = { 0 };
	char fix[1024];
	int rc;

	if (!cfg->key_file[0]) {
		snprintf(fix, sizeof(fix), "dwcp keygen %s, copy it to the peers, and set [crypto] key_file = %s in %s",
			 DEFAULT_KEY_FILE, DEFAULT_KEY_FILE, config ? config : SYSTEM_CONFIG_DIR "/NAME.ini");
		say(r, WARN, "key", fix, "no [crypto] key_file: peers are not authenticated, chunks not encrypted, and the node listens on loopback only");
		return;
	}
	rc = dwcp_keyfile_read(cfg->key_file, key, &err);
	memset(key, 0, sizeof(key));
	if (!rc) {
		say(r, OK, "key", NULL, "%s: a key, mode 0600, ours", cfg->key_file);
		return;
	}
	if (rc == -EPERM)
		snprintf(fix, sizeof(fix), "chmod 600 %s && chown %d %s", cfg->key_file, (int)geteuid(),
			 cfg->key_file);
	else if (rc == -ENOENT)
		snprintf(fix, sizeof(fix), "dwcp keygen %s (then copy it to the peers)", cfg->key_file);
	else
		snprintf(fix, sizeof(fix), "dwcp keygen %s writes a valid one (the peers need the same)", cfg->key_file);
	say(r, FAIL, "key", fix, "%s", err.msg);
}

static void check_sysctls(struct report *r)
{
	unsigned bad = 0;
	char fix[4096] = "";

	for (size_t i = 0; i < sup_tune_n_settings; i++) {
		struct sup_tune_result t;

		sup_tune_check_one(SUP_TUNE_PROC_ROOT, &sup_tune_settings[i], &t);
		if (t.state != SUP_TUNE_CHANGE)
			continue;
		bad++;
		if (strlen(fix) + strlen(t.fix) + 4 < sizeof(fix))
			snprintf(fix + strlen(fix), sizeof(fix) - strlen(fix), "%s%s", fix[0] ? "; " : "", t.fix);
	}
	if (bad)
		say(r, WARN, "sysctl", fix, "%u network setting(s) below dwcp's recommendation (dwcpctl tune --check lists them)", bad);
	else
		say(r, OK, "sysctl", NULL, "network settings as recommended");
}

static unsigned count_dir(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' && !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

/* Each port: can a queue pair reach RTR/RTS there? */
static void check_rdma_ports(struct report *r)
{
	struct sup_rdma_port p[SUP_RDMA_MAX];
	unsigned n = sup_rdma_ports(SUP_RDMA_SYSFS, p, SUP_RDMA_MAX);
	char why[256];

	if (!n)
		say(r, WARN, "rdma", "rdma link show; ibv_devinfo -v",
		    "RDMA device(s) in %s but no port readable", SUP_RDMA_SYSFS);
	for (unsigned i = 0; i < n; i++) {
		if (!sup_rdma_port_usable(&p[i], why, sizeof(why)))
			say(r, WARN, "rdma", p[i].roce ? "ip addr add ADDR/PREFIX dev NETDEV; ip link set NETDEV up" :
			    "systemctl start opensm", "%s port %u: %s", p[i].dev, p[i].port, why);
		else if (p[i].roce)
			say(r, OK, "rdma", NULL, "%s port %u ACTIVE, RoCE v2 GID index %d (%s) on %s", p[i].dev,
			    p[i].port, p[i].gid_v2, p[i].gid, p[i].netdev[0] ? p[i].netdev : "?");
		else
			say(r, OK, "rdma", NULL, "%s port %u ACTIVE, InfiniBand LID %s", p[i].dev, p[i].port,
			    p[i].lid);
	}
}

static void check_devices(struct report *r)
{
	unsigned rdma = count_dir("/sys/class/infiniband", "");
	unsigned gpu = count_dir("/dev", "nvidia") - (access("/dev/nvidiactl", F_OK) == 0) -
		       (access("/dev/nvidia-uvm", F_OK) == 0) - (access("/dev/nvidia-uvm-tools", F_OK) == 0) -
		       (access("/dev/nvidia-modeset", F_OK) == 0);
	unsigned vfio = count_dir("/sys/bus/pci/drivers/vfio-pci", "0000:");

	if (rdma)
		check_rdma_ports(r);
	else
		say(r, INFO, "rdma", NULL, "no RDMA device (/sys/class/infiniband empty or absent): svc-rdma stays STANDBY; "
		    "load the NIC's RDMA driver (mlx5_ib, irdma) or rdma_rxe for Soft-RoCE");
	if (gpu)
		say(r, INFO, "gpu", NULL, "%u NVIDIA device node(s) in /dev: svc-gpu can probe them", gpu);
	else
		say(r, INFO, "gpu", NULL, "no /dev/nvidia0 (no NVIDIA driver or GPU): svc-gpu stays STANDBY, "
		    "or runs the CPU backend with [gpu] cpu_backend = true");
	if (vfio)
		say(r, INFO, "nic", NULL, "%u PCI device(s) bound to vfio-pci (DPDK-capable ports)", vfio);
	else
		say(r, INFO, "nic", NULL, "no PCI device bound to vfio-pci: a DPDK port can only be a vdev "
		    "(net_af_packet, net_af_xdp) here (dpdk-devbind.py --bind=vfio-pci ADDR binds a NIC)");
}

/* A PCI NIC named in [net] port: there, bound to vfio-pci, and in an
 * IOMMU group (or vfio in its unsafe no-IOMMU mode, said as a warning). */
static void check_pci_port(struct report *r, const char *addr)
{
	char path[160], drv[PATH_MAX] = "", fix[200], mode = 'N';
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", addr);
	if (access(path, F_OK)) {
		say(r, FAIL, "port", "lspci -D, or dpdk-devbind.py --status, lists the NICs; fix [net] port",
		    "[net] port names PCI device %s, which this host does not have", addr);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, drv, sizeof(drv) - 1);
	drv[n > 0 ? n : 0] = '\0';
	if (!strstr(drv, "/vfio-pci")) {
		snprintf(fix, sizeof(fix), "modprobe vfio-pci && dpdk-devbind.py -b vfio-pci %s (README: binding a NIC)",
			 addr);
		say(r, FAIL, "port", fix, "PCI NIC %s of [net] port is bound to %s, not vfio-pci: DPDK cannot drive it",
		    addr, n > 0 ? strrchr(drv, '/') + 1 : "no driver");
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", addr);
	f = fopen("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "re");
	if (f) {
		if (fscanf(f, " %c", &mode) != 1)
			mode = 'N';
		fclose(f);
	}
	if (access(path, F_OK) && mode != 'Y')
		say(r, FAIL, "port", "enable the IOMMU (intel_iommu=on iommu=pt, or amd_iommu=on, on the kernel command line)",
		    "PCI NIC %s has no IOMMU group: vfio-pci cannot hand it to DPDK", addr);
	else if (mode == 'Y')
		say(r, WARN, "port", "enable the IOMMU and turn enable_unsafe_noiommu_mode off",
		    "PCI NIC %s is driven through vfio's unsafe no-IOMMU mode: the NIC can DMA anywhere", addr);
	else
		say(r, OK, "port", NULL, "PCI NIC %s of [net] port is bound to vfio-pci", addr);
}

/* [net] transport = dpdk: the interface a vdev port names must exist and
 * be up; a PCI NIC must be bound to vfio-pci. */
static void check_port(struct report *r, const struct dwcp_config *cfg)
{
	const char *at = strstr(cfg->net_port, "iface=");
	char iface[64], path[128], state[32] = "", fix[160], pci[DWCP_PCI_ADDR_LEN];
	FILE *f;

	if (strcmp(cfg->net_transport, "dpdk"))
		return;
	if (dwcp_pci_addr_parse(cfg->net_port, pci) == 0) {
		check_pci_port(r, pci);
		return;
	}
	if (!at) {
		say(r, INFO, "port", NULL, "[net] port = %s (no iface= to check)", cfg->net_port);
		return;
	}
	snprintf(iface, sizeof(iface), "%.*s", (int)strcspn(at + 6, ","), at + 6);
	snprintf(path, sizeof(path), "/sys/class/net/%s/operstate", iface);
	f = fopen(path, "re");
	if (!f) {
		snprintf(fix, sizeof(fix), "ip link show %s; fix [net] port = ...,iface=NAME", iface);
		say(r, FAIL, "port", fix, "[net] port names interface %s, which this host does not have", iface);
		return;
	}
	if (!fgets(state, sizeof(state), f))
		state[0] = '\0';
	fclose(f);
	state[strcspn(state, "\n")] = '\0';
	snprintf(fix, sizeof(fix), "ip link set %s up", iface);
	if (!strcmp(state, "down"))
		say(r, WARN, "port", fix, "interface %s of [net] port is down: frames will not move", iface);
	else
		say(r, OK, "port", NULL, "interface %s of [net] port is there (%s)", iface, state);
}

static void check_clock(struct report *r)
{
	char src[64] = "?";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	struct timex tx = { 0 };
	int st;

	if (f) {
		if (fscanf(f, "%63s", src) != 1)
			snprintf(src, sizeof(src), "?");
		fclose(f);
	}
	if (!strcmp(src, "tsc") || !strcmp(src, "kvm-clock"))
		say(r, OK, "clock", NULL, "clocksource %s", src);
	else
		say(r, WARN, "clock", "add tsc=reliable to the kernel command line if the TSC is invariant (lscpu: constant_tsc nonstop_tsc)",
		    "clocksource %s: timestamps cost a system call each (tsc expected)", src);
	st = adjtimex(&tx);
	if (st == TIME_ERROR || (tx.status & STA_UNSYNC))
		say(r, WARN, "clock", "apt-get install chrony (or systemctl enable --now systemd-timesyncd)",
		    "the system clock is not synchronized: transfer times in logs of two nodes will not line up");
	else
		say(r, OK, "clock", NULL, "system clock synchronized");
}

/* ---- the command ------------------------------------------------------- */

int sup_cli_doctor(const char *run_dir, const char *instance, bool all, const char *config, bool json)
{
	struct report r = { .arr = json ? cJSON_CreateArray() : NULL, .json = json };
	struct dwcp_config cfg;
	struct dwcp_err err = { 0 };
	bool running;
	int rc;

	rc = sup_config_resolve(&cfg, config, instance, &err);
	if (rc) {
		fprintf(stderr, "dwcpctl doctor: %s\n", err.msg);
		cJSON_Delete(r.arr);
		return 2;
	}
	running = live(run_dir, cfg.instance);
	check_hugepages(&r, &cfg, running);
	check_memlock(&r);
	/* This instance, and without --instance every one the run directory knows. */
	if (!running)
		check_stale(&r, &cfg, run_dir, cfg.instance);
	if (all) {
		DIR *d = opendir(run_dir);
		struct dirent *e;

		while (d && (e = readdir(d)) != NULL) {
			struct dwcp_err ignored = { 0 };

			if (e->d_name[0] == '.' || !strcmp(e->d_name, cfg.instance) ||
			    dwcp_config_check_instance(e->d_name, &ignored) || live(run_dir, e->d_name))
				continue;
			check_stale(&r, &cfg, run_dir, e->d_name);
		}
		if (d)
			closedir(d);
	}
	if (running)
		check_services(&r, run_dir, cfg.instance);
	else
		say(&r, INFO, "node", NULL, "instance '%s' is not running", cfg.instance);
	check_key(&r, &cfg, config);
	check_sysctls(&r);
	check_devices(&r);
	check_port(&r, &cfg);
	check_clock(&r);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(o, "instance", cfg.instance);
		cJSON_AddBoolToObject(o, "healthy", r.fails == 0);
		cJSON_AddNumberToObject(o, "failures", r.fails);
		cJSON_AddNumberToObject(o, "warnings", r.warns);
		cJSON_AddItemToObject(o, "checks", r.arr);
		s = cJSON_PrintUnformatted(o);
		if (s)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(o);
	} else if (r.fails) {
		printf("%u problem(s) to fix%s; see docs/troubleshooting.md\n", r.fails,
		       r.warns ? ", and warnings" : "");
	} else {
		printf("healthy: a node can run here%s\n", r.warns ? " (see the warnings)" : "");
	}
	return r.fails ? 1 : 0;
}
