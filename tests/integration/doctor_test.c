/* dwcpctl doctor on real conditions, made for real: a key file others can
 * read, a node killed with kill -9 (its socket, pid file, DPDK runtime
 * directory and hugepage files left behind), and no hugetlbfs, the last
 * in a private mount namespace only (the host's mounts and reserved pages
 * are never touched: other tests share them). Doctor must name all three
 * with the command that fixes each, and exit 1; on a running healthy node
 * with a 0600 key it says healthy and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define OUT_MAX (64 * 1024)

static struct dwcp_test_node node;
static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-doctor-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	dwcp_test_node_stop(&node);
	dwcp_xfer_rmdir(dir);
}

/* dwcpctl --instance I doctor --config C, in a mount namespace of its own
 * without hugetlbfs when @p no_huge. Its exit status; output in @p out. */
static int doctor(const char *instance, const char *config, bool no_huge, char *out, size_t n)
{
	char ctl[4096], path[128];
	int fd[2], st;
	pid_t pid;
	ssize_t got, k = 0;

	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	snprintf(path, sizeof(path), "%s", config);
	cr_assert_eq(pipe(fd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		if (no_huge) {
			if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
				printf("cannot make a private mount namespace: %s\n", strerror(errno));
				_exit(97);
			}
			/* Only this namespace's view of it: lazily, whatever uses it. */
			if (umount2("/dev/hugepages", MNT_DETACH)) {
				printf("cannot unmount /dev/hugepages here: %s\n", strerror(errno));
				_exit(97);
			}
		}
		execl(ctl, ctl, "--instance", instance, "doctor", "--config", path, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (k + 1 < (ssize_t)n && (got = read(fd[0], out + k, n - 1 - (size_t)k)) > 0)
		k += got;
	out[k] = '\0';
	close(fd[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void write_config(const char *path, const char *key)
{
	FILE *f = fopen(path, "we");

	cr_assert_not_null(f);
	fprintf(f, "[supervisor]\nhugepage_mb = 256\n[crypto]\nkey_file = %s\n", key);
	fclose(f);
}

Test(doctor, names_a_readable_key_a_dead_node_and_no_hugepages_with_their_fixes, .init = setup,
     .fini = teardown, .timeout = 300)
{
	char key[128], cfg[128], line[512], *out = malloc(OUT_MAX);
	const char *ovr[] = { NULL };
	pid_t pids[DWCP_TEST_SERVICES];
	cJSON *st;
	int rc;

	cr_assert_not_null(out);
	/* (b) a node killed outright: nothing of it got to clean up. */
	rc = dwcp_test_node_start(&node, "doctor", ovr);
	cr_assert_eq(rc, 0, "start failed (exit %d)", rc);
	st = dwcp_test_status(node.instance, NULL);
	cr_assert_not_null(st);
	dwcp_test_service_pids(st, pids);
	cJSON_Delete(st);
	/* Every process of the node (workers too) stopped first: one that saw
	 * its supervisor die would exit and, as the node's last process, tidy
	 * up what this test needs left. */
	dwcp_xfer_sh(NULL, 0, "pkill -STOP -f -- '--instance %s( |$)'", node.instance);
	kill(node.sup_pid, SIGKILL);
	dwcp_xfer_sh(NULL, 0, "pkill -KILL -f -- '--instance %s( |$)'", node.instance);
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	cr_assert(dwcp_test_wait_exited(node.sup_pid, 30000));
	for (unsigned i = 0; i < DWCP_TEST_SERVICES; i++)
		if (pids[i] > 0)
			cr_assert(dwcp_test_wait_exited(pids[i], 30000));
	/* (a) a key anyone can read. */
	snprintf(key, sizeof(key), "%s/node.key", dir);
	snprintf(cfg, sizeof(cfg), "%s/node.ini", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0);
	cr_assert_eq(chmod(key, 0644), 0);
	write_config(cfg, key);

	/* (c) no hugetlbfs, in this run's own mount namespace. */
	rc = doctor(node.instance, cfg, true, out, OUT_MAX);
	if (rc == 97) {
		fprintf(stderr, "skipped: no private mount namespace here: %s\n", out);
		cr_skip_test("no mount namespace");
	}
	cr_expect_eq(rc, 1, "doctor exit %d:\n%s", rc, out);
	cr_expect(strstr(out, "no hugetlbfs mounted at /dev/hugepages") != NULL, "%s", out);
	cr_expect(strstr(out, "mount -t hugetlbfs nodev /dev/hugepages") != NULL, "no fix for hugepages:\n%s", out);
	cr_expect(strstr(out, "Permission denied") || strstr(out, "group or others") ||
		  strstr(out, "chmod 600"), "the readable key is not named:\n%s", out);
	snprintf(line, sizeof(line), "chmod 600 %s", key);
	cr_expect(strstr(out, line) != NULL, "no fix for the key (%s):\n%s", line, out);
	snprintf(line, sizeof(line), "instance '%s' runs no supervisor but left", node.instance);
	cr_expect(strstr(out, line) != NULL, "the dead node is not named:\n%s", out);
	snprintf(line, sizeof(line), "rm -f %s/ctl.sock", node.inst_dir);
	cr_expect(strstr(out, line) != NULL, "no fix for the dead node's files:\n%s", out);
	free(out);
}

Test(doctor, a_running_node_with_a_private_key_is_healthy, .init = setup, .fini = teardown,
     .timeout = 300)
{
	char key[128], cfg[128], kv[160], *out = malloc(OUT_MAX);
	const char *ovr[] = { kv, NULL };
	int rc;

	cr_assert_not_null(out);
	snprintf(key, sizeof(key), "%s/node.key", dir);
	snprintf(cfg, sizeof(cfg), "%s/node.ini", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0);
	write_config(cfg, key);
	snprintf(kv, sizeof(kv), "crypto.key_file = %s", key);
	rc = dwcp_test_node_start(&node, "doctorok", ovr);
	cr_assert_eq(rc, 0, "start failed (exit %d)", rc);
	rc = doctor(node.instance, cfg, false, out, OUT_MAX);
	cr_expect_eq(rc, 0, "doctor exit %d:\n%s", rc, out);
	cr_expect(strstr(out, "healthy") != NULL, "%s", out);
	cr_expect(strstr(out, "FAIL") == NULL, "%s", out);
	cr_expect(strstr(out, "runs; its services answered") != NULL, "%s", out);
	free(out);
}

/* The doctor on a config of @p text (in the test's directory): its exit
 * status, its output in @p out (OUT_MAX bytes). */
static int doctor_on(const char *instance, const char *text, char *out)
{
	char cfg[128];
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/%s.ini", dir, instance);
	f = fopen(cfg, "we");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return doctor(instance, cfg, false, out, OUT_MAX);
}

/* [net] transport = dpdk on an interface the host lacks: named, with the fix. */
Test(doctor, names_a_dpdk_port_on_a_missing_interface, .init = setup, .fini = teardown, .timeout = 60)
{
	char *out = malloc(OUT_MAX);
	int rc;

	cr_assert_not_null(out);
	rc = doctor_on("doctorport",
		       "[supervisor]\nhugepage_mb = 256\n[net]\ntransport = dpdk\nport = net_af_packet0,iface=nosuchif0\nip = 10.0.0.1/24\n",
		       out);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "FAIL  port") && strstr(out, "nosuchif0"), "%s", out);
	cr_expect(strstr(out, "ip link show nosuchif0"), "no fix: %s", out);
	free(out);
}

/* ... and on a PCI address no device of this host has; the supervisor
 * refuses to start on it, saying how to bind a NIC. */
Test(doctor, names_a_dpdk_port_on_a_missing_pci_nic, .init = setup, .fini = teardown, .timeout = 60)
{
	static const char cfg[] =
		"[supervisor]\nhugepage_mb = 256\n[net]\ntransport = dpdk\nport = 0000:7e:1f.7\nip = 10.0.0.1/24\n";
	static const char *const ovr[] = { "supervisor.hugepage_mb = 256", "net.transport = dpdk",
					   "net.port = 0000:7e:1f.7", "net.ip = 10.0.0.1/24", NULL };
	char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX), sup[4096], path[160], inst[64];
	int rc;

	cr_assert(out && err);
	rc = doctor_on("doctorpci", cfg, out);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "FAIL  port") && strstr(out, "0000:7e:1f.7"), "%s", out);
	snprintf(path, sizeof(path), "%s/pci.ini", dir);
	snprintf(sup, sizeof(sup), "%s/dwcp-supervisor", dwcp_test_bin_dir());
	dwcp_test_instance_name(inst, sizeof(inst), "pcistart");
	cr_assert_eq(dwcp_test_write_config(path, ovr), 0);
	rc = dwcp_test_run((char *const[]){ sup, "--instance", inst, "--config", path, "start", NULL }, out,
			   OUT_MAX, err, OUT_MAX, 60000);
	cr_expect_neq(rc, 0, "the supervisor started on a PCI NIC this host lacks: %s", out);
	cr_expect(strstr(err, "bind it to vfio-pci"), "no fix in the refusal: %s", err);
	dwcp_xfer_sh(NULL, 0, "rm -rf '%s/%s'", dwcp_test_run_dir(), inst);   /* its log */
	free(out);
	free(err);
}

Test(doctor, a_bad_config_is_refused_with_the_reason, .init = setup, .fini = teardown, .timeout = 60)
{
	char *out = malloc(OUT_MAX);
	int rc;

	cr_assert_not_null(out);
	rc = doctor_on("doctorbad", "[supervisor]\nhugepage_mb = lots\n", out);
	cr_expect_eq(rc, 2, "%s", out);
	cr_expect(strstr(out, "hugepage_mb") != NULL, "%s", out);
	free(out);
}
