/* Attach refusals seen from outside, as an operator meets them: a service
 * binary built for another ABI version (build/tests/bin/svc-abi-mismatch,
 * svc-prof compiled with DWCP_ABI_VERSION 9999) is turned away with a
 * message naming both versions while the real svc-prof keeps running, and
 * a service pointed at an instance that does not exist says so.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/abi.h"
#include "tests/lib/node.h"

static struct dwcp_test_node node;

static void teardown(void)
{
	dwcp_test_node_stop(&node);
}

Test(abi, mismatching_service_is_refused, .fini = teardown, .timeout = 300)
{
	char bin[PATH_MAX], out[8192], err[8192], v[32];
	double gen;
	pid_t prof;
	cJSON *st;
	int rc;

	rc = dwcp_test_node_start(&node, "abi", NULL);
	DWCP_NODE_ASSERT(node.instance, rc == 0, "start failed (exit %d)", rc);
	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "no status");
	prof = (pid_t)dwcp_test_svc_num(st, "svc-prof", "pid");
	gen = dwcp_test_svc_num(st, "svc-prof", "generation");
	cJSON_Delete(st);

	dwcp_test_build_path(bin, sizeof(bin), "tests/bin/svc-abi-mismatch");
	rc = dwcp_test_run((char *const[]){ bin, "--instance", node.instance, NULL }, out,
			   sizeof(out), err, sizeof(err), 60000);
	DWCP_NODE_ASSERT(node.instance, rc > 0 && rc < 128,
			 "svc-abi-mismatch: exit %d (a refusal is a non-zero exit); stderr: '%s'",
			 rc, err);
	DWCP_NODE_ASSERT(node.instance, strstr(err, "ABI mismatch") != NULL,
			 "stderr lacks 'ABI mismatch': '%s'", err);
	DWCP_NODE_ASSERT(node.instance, strstr(err, "9999") != NULL, "stderr lacks 9999: '%s'",
			 err);
	snprintf(v, sizeof(v), "ABI %u", DWCP_ABI_VERSION);
	DWCP_NODE_ASSERT(node.instance, strstr(err, v) != NULL, "stderr lacks '%s': '%s'", v, err);

	st = dwcp_test_status(node.instance, NULL);
	DWCP_NODE_ASSERT(node.instance, st != NULL, "no status after the refusal");
	DWCP_NODE_ASSERT(node.instance,
			 dwcp_test_svc_num(st, "svc-prof", "pid") == prof &&
			 dwcp_test_svc_num(st, "svc-prof", "generation") == gen &&
			 !strcmp(dwcp_test_svc_str(st, "svc-prof", "state"), "READY"),
			 "svc-prof changed: pid %.0f (was %d), generation %.0f (was %.0f), %s",
			 dwcp_test_svc_num(st, "svc-prof", "pid"), (int)prof,
			 dwcp_test_svc_num(st, "svc-prof", "generation"), gen,
			 dwcp_test_svc_str(st, "svc-prof", "state"));
	cJSON_Delete(st);
	DWCP_NODE_ASSERT(node.instance, !dwcp_test_proc_exited(prof), "svc-prof (pid %d) is gone",
			 (int)prof);
}

Test(abi, service_without_supervisor_says_so, .timeout = 120)
{
	char bin[PATH_MAX], inst[DWCP_TEST_INST_MAX], out[4096], err[8192], want[128];
	int rc;

	dwcp_test_instance_name(inst, sizeof(inst), "nosuch");
	snprintf(bin, sizeof(bin), "%s/svc-prof", dwcp_test_bin_dir());
	rc = dwcp_test_run((char *const[]){ bin, "--instance", inst, NULL }, out, sizeof(out), err,
			   sizeof(err), 60000);
	cr_assert(rc > 0 && rc < 128, "svc-prof for a missing instance: exit %d; stderr '%s'", rc,
		  err);
	snprintf(want, sizeof(want), "no dwcp supervisor for instance '%s'", inst);
	cr_assert(strstr(err, want) != NULL, "stderr lacks \"%s\": '%s'", want, err);
}
