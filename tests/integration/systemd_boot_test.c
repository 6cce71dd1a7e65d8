/* systemd, proven: a real systemd boots in a container (systemd-nspawn,
 * the host's /usr under a throw-away root) and runs a node from the units
 * in deploy/systemd: dwcp.target starts it, every service comes up, the
 * watchdog is armed, a service killed with kill -9 comes back without
 * disturbing the others, the supervisor killed with kill -9 is restarted
 * by systemd, an upgrade of one service works, and a stop leaves no
 * hugepage file, runtime file or process. The steps are in
 * systemd_boot.sh beside this file; where no systemd can be booted it
 * says `skipped:` and why.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

static char dir[64];
static struct dwcp_xfer_guard guard;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-sdboot-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	dwcp_xfer_guard_release(&guard);
	dwcp_xfer_rmdir(dir);
}

Test(systemd_boot, a_node_runs_restarts_upgrades_and_stops_clean_under_systemd, .init = setup,
     .fini = teardown, .timeout = 600)
{
	char script[4096], units[4096], name[32], cleanup[256], *out = malloc(1 << 16), err[4096];
	int rc;

	cr_assert_not_null(out);
	snprintf(script, sizeof(script), "%s/../../tests/integration/systemd_boot.sh", dwcp_test_bin_dir());
	snprintf(units, sizeof(units), "%s/../../deploy/systemd", dwcp_test_bin_dir());
	snprintf(name, sizeof(name), "dwcpboot%d", (int)getpid());
	/* If this process dies (a timeout), the container must not outlive it. */
	snprintf(cleanup, sizeof(cleanup), "pkill -9 -f 'systemd-nspawn.*-M %s '", name);
	cr_assert_eq(dwcp_xfer_guard_start(&guard, cleanup), 0);
	/* A hang guard, not a speed requirement: the script itself gives each
	 * wait 60 s. */
	rc = dwcp_test_run((char *const[]){ "/bin/bash", script, (char *)dwcp_test_bin_dir(), units, dir, name, NULL },
			   out, 1 << 16, err, sizeof(err), 480000);
	if (rc < 0 || rc >= 128)
		dwcp_xfer_sh(NULL, 0, "%s", cleanup);
	fprintf(stderr, "%s%s", out, err);
	if (rc == 77) {
		free(out);
		cr_skip_test("cannot boot a systemd here (see the skipped: line)");
	}
	cr_expect_eq(rc, 0, "systemd boot test failed (exit %d):\n%s%s", rc, out, err);
	free(out);
}
