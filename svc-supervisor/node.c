/* The node: everything the supervisor sets up before it starts a service
 * and takes down after the last one exits.
 *
 * Order matters for stale state: the instance lock comes first (a second
 * supervisor is refused before it touches anything), then whatever a
 * crashed predecessor left (hugepage files, DPDK runtime dir, socket) is
 * removed — safe, because holding the lock proves no supervisor of this
 * instance runs. After the region is formatted the supervisor never
 * allocates DPDK memory again, so it never takes the memory write locks
 * a killed secondary might have left a reader count in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_memzone.h>

#include "common/log.h"
#include "ipc/eal.h"
#include "ipc/streams.h"
#include "sup_internal.h"

/* Create @p path and its parents; the last one with @p mode if new. An
 * existing one keeps its mode here: check_inst_dir decides about it. */
static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static pid_t read_pid(const char *inst_dir)
{
	char p[512], buf[32] = "";
	FILE *f;

	snprintf(p, sizeof(p), "%s/supervisor.pid", inst_dir);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (pid_t)strtol(buf, NULL, 10);
}

/* True while @p pid runs and is not a zombie. */
static bool pid_running(pid_t pid)
{
	char p[64], buf[256], *rp;
	FILE *f;
	size_t n;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* Besides a running supervisor, three holders have the lock for a moment:
 * a supervisor just killed, until the kernel has closed its files; the
 * last process of a node whose supervisor died, while it removes the
 * node's files (ipc/attach.c); and `stop` making sure the supervisor has
 * gone. So wait (bounded) rather than refuse a start that would succeed
 * a few ms later — but refuse after WAIT_ALIVE_MS when the recorded
 * supervisor still runs: that one is a live supervisor, not a dying one.
 * @return true with the lock held. */
#define WAIT_ALIVE_MS 200
#define WAIT_MAX_MS   3000
static bool lock_from_departing(struct sup *s)
{
	for (int waited = 0; waited < WAIT_MAX_MS; waited += 10) {
		if (waited >= WAIT_ALIVE_MS && pid_running(read_pid(s->inst_dir)))
			return false;
		usleep(10000);
		if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
			return true;
	}
	return false;
}

/* The instance dir holds the lock, the log and the control socket, all
 * opened by a supervisor that may be root: it must be a real directory of
 * ours (not a symlink, nor one another user made, e.g. under a run_dir in
 * /tmp), or whoever planted it could point our files, or the chmod to
 * 0700, elsewhere. Opened without following a symlink, then checked and
 * chmod'ed through that descriptor. */
static int check_inst_dir(const char *dir, struct dwcp_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = 0;

	if (fd < 0) {
		int e = errno;
		bool link = lstat(dir, &st) == 0 && S_ISLNK(st.st_mode);

		return dwcp_err_set(err, link || e == ENOTDIR ? -EPERM : -e,
				    "%s is %s: the instance directory must be a directory owned by uid %u; remove it (or set run_dir) and start again",
				    dir, link ? "a symlink" : e == ENOTDIR ? "not a directory" : strerror(e),
				    (unsigned)geteuid());
	}
	if (fstat(fd, &st) != 0)
		rc = dwcp_err_set(err, -errno, "cannot stat %s: %s", dir, strerror(errno));
	else if (st.st_uid != geteuid())
		rc = dwcp_err_set(err, -EPERM,
				  "%s is owned by uid %u: the instance directory must be owned by uid %u; remove it (or set run_dir) and start again",
				  dir, (unsigned)st.st_uid, (unsigned)geteuid());
	else if (fchmod(fd, 0700) != 0)
		rc = dwcp_err_set(err, -errno, "cannot chmod %s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

int sup_node_lock(struct sup *s, struct dwcp_err *err)
{
	char p[DWCP_PATH_MAX + DWCP_NAME_MAX + 32];
	int rc;

	snprintf(s->inst_dir, sizeof(s->inst_dir), "%s/%s", s->cfg.run_dir, s->cfg.instance);
	rc = mkdir_p(s->inst_dir, 0700);
	if (rc)
		return dwcp_err_set(err, rc, "cannot create %s: %s (run as root, or set run_dir)",
				    s->inst_dir, strerror(-rc));
	rc = check_inst_dir(s->inst_dir, err);
	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s/supervisor.lock", s->inst_dir);
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0)
		return dwcp_err_set(err, -errno, "cannot open %s: %s", p, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0 && !lock_from_departing(s))
		return dwcp_err_set(err, -EBUSY,
				    "a dwcp-supervisor for instance '%s' is already running (pid %d): stop it with `dwcp-supervisor --instance %s stop`, or pick another --instance",
				    s->cfg.instance, (int)read_pid(s->inst_dir), s->cfg.instance);
	return 0;
}

static void write_pid(const struct sup *s)
{
	char p[DWCP_PATH_MAX + DWCP_NAME_MAX + 32];
	FILE *f;
	int fd;

	snprintf(p, sizeof(p), "%s/supervisor.pid", s->inst_dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (fd >= 0 && !f)
		close(fd);
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
}

/* What the EAL's later allocations need beside the region and port: DPDK's
 * own (its memzone and ring tables grow as processes look things up), and
 * each process that starts (a service, a standby, every `dwcp` client)
 * holds its EAL's service-core tables, ~156 KiB, from init until it frees
 * them right after (ipc/eal.c; a killed one used to keep them for good,
 * which is what a margin of 64 MiB was sized for). `dwcpctl status
 * --json` shows what is left (supervisor.hugepage_free_bytes). */
#define AUTO_CACHE_MARGIN_MB 16u

/* [mem] delta_cache_mb = auto: the cache takes what the node's hugepage
 * budget has left once the rest of the region (and the port, if any) is
 * placed. The EAL reserved that budget at init (-m hugepage_mb), so that
 * memory is this node's whether the cache uses it or not; the largest
 * free block of DPDK's heap is what one memzone can still take. */
static uint64_t auto_dcache_size(const struct sup *s, const struct dwcp_shm_params *p)
{
	struct dwcp_shm_params rest = *p;
	uint64_t free_b, biggest, need;

	rest.dcache_size = 0;
	dwcp_eal_heap_free(&free_b, &biggest);
	need = dwcp_shm_size(&rest) + ((uint64_t)AUTO_CACHE_MARGIN_MB << 20) +
	       sup_port_hugepage_bytes(s);
	if (biggest <= need)
		return 0;
	return (biggest - need) & ~((1ull << 20) - 1);
}

static int make_region(struct sup *s, struct dwcp_err *err)
{
	struct dwcp_shm_params p = {
		.n_bufs = s->cfg.pool_buffers, .buf_size = s->cfg.pool_buf_size,
		.link_depth = s->cfg.link_depth, .heartbeat_ms = s->cfg.heartbeat_ms,
		.spin_us = s->cfg.spin_us, .poll_mode = s->cfg.poll_mode,
		.dcache_size = (uint64_t)s->cfg.delta_cache_mb << 20,
		.instance = s->cfg.instance,
	};
	size_t size;
	const struct rte_memzone *mz;
	int rc;

	if (s->cfg.delta_cache_mb == DWCP_CFG_AUTO) {
		p.dcache_size = auto_dcache_size(s, &p);
		DWCP_INFO("delta cache: %llu MiB (auto: what hugepage_mb = %u leaves after the pool and links; raise it for a larger cache)",
			  (unsigned long long)(p.dcache_size >> 20), s->cfg.hugepage_mb);
	}
	size = dwcp_shm_size(&p);

	if (!size)
		return dwcp_err_set(err, -EINVAL, "invalid pool/link parameters");
	mz = rte_memzone_reserve_aligned(DWCP_MZ_SHM, size, SOCKET_ID_ANY, 0, 4096);
	if (!mz)
		return dwcp_err_set(err, -ENOMEM,
				    "cannot reserve %zu MiB of hugepage memory for %u buffers of %u bytes (hugepage_mb = %u): raise [supervisor] hugepage_mb and run deploy/hugepages.sh, or lower [pool] buffers",
				    size >> 20, p.n_bufs, p.buf_size, s->cfg.hugepage_mb);
	rc = dwcp_shm_format(mz->addr, mz->len, &p, &s->shm, err);
	if (rc)
		return rc;
	dwcp_eal_publish_ops(s->shm.ctl);
	snprintf(s->shm.ctl->key_file, sizeof(s->shm.ctl->key_file), "%s", s->cfg.key_file);
	s->shm.ctl->zstd_level = s->cfg.zstd_level;
	s->shm.ctl->lz4_level = s->cfg.lz4_level;
	dwcp_node_conf_fill(&s->shm.node->conf, &s->cfg);
	s->shm.ctl->sup_pid = getpid();
	return 0;
}

/* The node's files, as `stop` leaves them: hugepage files, DPDK's runtime
 * dir and the pid file go; the lock and the log (why it stopped) stay. */
static void remove_runtime_files(const struct sup *s)
{
	char p[DWCP_PATH_MAX + DWCP_NAME_MAX + 32];

	dwcp_eal_remove_leftovers(s->cfg.instance, s->cfg.huge_dir);
	snprintf(p, sizeof(p), "%s/supervisor.pid", s->inst_dir);
	unlink(p);
}

/* A start that fails (no hugepages, a region that does not fit
 * hugepage_mb, ...) leaves what a stop leaves: DPDK may have created the
 * hugepage file and its runtime dir before it failed, and nothing else
 * of this instance runs (we hold its lock), so they are ours to remove. */
int sup_node_up(struct sup *s, struct dwcp_err *err)
{
	struct dwcp_eal_params ep = {
		.prog = "dwcp-supervisor", .file_prefix = s->cfg.instance,
		.huge_dir = s->cfg.huge_dir, .lcore = DWCP_LCORE_SUP,
		.memory_mb = s->cfg.hugepage_mb, .primary = 1,
		.pci_allow = sup_port_pci(&s->cfg) ? s->cfg.net_port : NULL,
	};
	int rc;

	dwcp_eal_remove_leftovers(s->cfg.instance, s->cfg.huge_dir);
	write_pid(s);
	rc = dwcp_eal_init(&ep, err);
	if (rc == 0)
		rc = make_region(s, err);
	/* Before any service attaches: the port's pool and rings exist
	 * when svc-net looks them up. */
	if (rc == 0)
		rc = sup_port_open(s, err);
	if (rc) {
		sup_port_close(s);
		remove_runtime_files(s);
	}
	return rc;
}

/* No rte_eal_cleanup() here, on purpose: it detaches memory under DPDK's
 * memory-hotplug write lock, and a secondary SIGKILLed inside its own
 * rte_eal_init (a hot standby the stop itself kills while it attaches,
 * or any service killed while starting) leaves a reader count in that
 * lock forever, so the cleanup spun and `stop` never returned. Every
 * secondary is gone by now and the files are removed below; the
 * process's exit unmaps the rest. */
void sup_node_down(struct sup *s)
{
	sup_port_close(s);
	remove_runtime_files(s);
	DWCP_INFO("instance '%s' stopped; hugepage and runtime files removed", s->cfg.instance);
}
