/* The systemd units in deploy/systemd pass `systemd-analyze verify`:
 * every key known, every value parsed, every command there. The units
 * name /usr/local/bin (where the README installs); the test verifies
 * copies that name this build's binaries instead, which changes nothing
 * else. systemd-analyze exits 0 on mere warnings, so any output fails:
 * the second test proves that a broken unit does produce some.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-units-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	dwcp_xfer_rmdir(dir);
}

static bool have_analyze(void)
{
	if (dwcp_xfer_sh(NULL, 0, "command -v systemd-analyze") == 0)
		return true;
	fprintf(stderr, "skipped: no systemd-analyze (apt-get install systemd)\n");
	return false;
}

/* Output of verifying @p units (space-separated) in dir; exit status in *rc. */
static void verify(const char *units, char *out, size_t n, int *rc)
{
	*rc = dwcp_xfer_sh(out, n, "cd %s && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no %s 2>&1",
			   dir, units);
}

Test(systemd_units, every_unit_verifies_clean, .init = setup, .fini = teardown, .timeout = 120)
{
	char units[4096], out[8192];
	int rc;

	if (!have_analyze())
		cr_skip_test("no systemd-analyze");
	snprintf(units, sizeof(units), "%s/../../deploy/systemd", dwcp_test_bin_dir());
	rc = dwcp_xfer_sh(out, sizeof(out), "for f in %s/*; do sed 's#/usr/local/bin/#%s/#g' \"$f\" > %s/$(basename \"$f\"); done",
			  units, dwcp_test_bin_dir(), dir);
	cr_assert_eq(rc, 0, "%s", out);
	verify("./dwcp-supervisor@dwcp.service ./dwcp-svc@svc-simd.service "
	       "./dwcp-worker@svc-simd.1.service ./dwcp.target", out, sizeof(out), &rc);
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect_str_eq(out, "", "systemd-analyze verify found problems:\n%s", out);
}

Test(systemd_units, a_broken_unit_is_caught, .init = setup, .fini = teardown, .timeout = 120)
{
	char path[128], out[4096];
	FILE *f;
	int rc;

	if (!have_analyze())
		cr_skip_test("no systemd-analyze");
	snprintf(path, sizeof(path), "%s/broken@.service", dir);
	f = fopen(path, "we");
	cr_assert_not_null(f);
	fprintf(f, "[Unit]\nDescription=x\n[Service]\nType=notyet\nExecStart=%s/dwcp-supervisor\nRestartSeconds=1\n",
		dwcp_test_bin_dir());
	fclose(f);
	verify("./broken@x.service", out, sizeof(out), &rc);
	cr_expect(strstr(out, "RestartSeconds") != NULL, "unknown key not reported: %s", out);
	cr_expect(strstr(out, "notyet") != NULL, "bad Type not reported: %s", out);
}
