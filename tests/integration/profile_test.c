/* `dwcpctl profile` on a real node while it moves data: the flame graph
 * and the folded stacks of svc-simd name the compression library and the
 * AES-GCM code, where its CPU time goes; a bad request is refused with
 * the fix. Sampling needs perf events: where the kernel refuses them the
 * test says `skipped:` and why.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv, prof;
static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-profile-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_proc_free(&prof);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_rmdir(dir);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf)
		buf[fread(buf, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return buf;
}

Test(profile, svc_simd_during_transfers_shows_compression_and_aes, .init = setup,
     .fini = teardown, .timeout = 600)
{
	struct dwcp_xfer_pair_cfg cfg = { .tag = "prof" };
	const char *zstd[] = { "--codec", "zstd", NULL };
	char ctl[4096], svg[128], folded_path[128], src[128], out[128], stream[32], key[128];
	char *folded, *pic;
	unsigned sends = 0;

	/* A keyed pair: chunks are sealed (AES-256-GCM), as in production. */
	snprintf(key, sizeof(key), "%s/node.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0);
	cfg.key_a = cfg.key_b = key;
	cr_assert_eq(dwcp_xfer_pair_start(&pair, &cfg), 0, "the pair did not start");
	snprintf(src, sizeof(src), "%s/src.img", dir);
	snprintf(out, sizeof(out), "%s/out.img", dir);
	snprintf(svg, sizeof(svg), "%s/simd.svg", dir);
	snprintf(folded_path, sizeof(folded_path), "%s/simd.folded", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, 64u << 20, 11), 0);
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	cr_assert_eq(dwcp_xfer_spawn(&prof, "dwcpctl profile", NULL,
				     (char *const[]){ ctl, "--instance", pair.a.instance, "profile",
						      "svc-simd", "--seconds", "6", "--hz", "999",
						      "--out", svg, NULL }),
		     0);
	/* Keep svc-simd busy for as long as it is sampled. */
	while (dwcp_xfer_running(&prof) && sends < 200) {
		snprintf(stream, sizeof(stream), "p%u", sends++);
		dwcp_xfer_proc_free(&snd);
		dwcp_xfer_proc_free(&rcv);
		cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, 120), 0);
		cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, zstd), 0);
		cr_assert_eq(dwcp_xfer_wait(&snd, 150000), 0, "send failed");
		cr_assert_eq(dwcp_xfer_wait(&rcv, 150000), 0, "recv failed");
	}
	cr_assert_eq(dwcp_xfer_wait(&prof, 60000), 0, "dwcpctl profile failed");
	if (prof.err && strstr(prof.err, "cannot sample")) {
		fprintf(stderr, "skipped: no perf events here: %s\n", prof.err);
		cr_skip_test("no perf events");
	}
	folded = slurp(folded_path);
	pic = slurp(svg);
	cr_assert_not_null(folded, "no %s; dwcpctl said: %s%s", folded_path, prof.out, prof.err);
	cr_assert_not_null(pic, "no %s", svg);
	cr_expect(strstr(folded, "zstd") || strstr(folded, "ZSTD"),
		  "compression is nowhere in svc-simd's profile (%u sends):\n%s", sends, folded);
	cr_expect(strcasestr(folded, "gcm") != NULL, "AES-GCM is nowhere in svc-simd's profile:\n%s",
		  folded);
	cr_expect(strstr(pic, "<svg") && strstr(pic, "</svg>"), "not an SVG");
	cr_expect(strstr(pic, "zstd") || strstr(pic, "ZSTD"), "the flame graph does not name it");
	cr_expect(strstr(prof.out, "where the samples ended") != NULL, "%s", prof.out);
	free(folded);
	free(pic);
}

Test(profile, bad_requests_are_refused_with_the_fix, .init = setup, .fini = teardown,
     .timeout = 300)
{
	struct dwcp_xfer_pair_cfg cfg = { .tag = "profbad", .no_b = true };
	char ctl[4096], out[4096], err[4096], svg[128];
	int rc;

	cr_assert_eq(dwcp_xfer_pair_start(&pair, &cfg), 0, "the node did not start");
	snprintf(ctl, sizeof(ctl), "%s/dwcpctl", dwcp_test_bin_dir());
	snprintf(svg, sizeof(svg), "%s/x.svg", dir);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.a.instance, "profile", "svc-nope",
					    "--seconds", "1", "--out", svg, NULL },
			   out, sizeof(out), err, sizeof(err), 60000);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(err, "no running service 'svc-nope'") != NULL, "%s", err);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.a.instance, "profile", "all", NULL },
			   out, sizeof(out), err, sizeof(err), 60000);
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "--out FILE.svg is required") != NULL, "%s", err);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", pair.a.instance, "profile", "all",
					    "--seconds", "0", "--out", svg, NULL },
			   out, sizeof(out), err, sizeof(err), 60000);
	cr_expect_eq(rc, 2);
	cr_expect(strstr(err, "1..3600") != NULL, "%s", err);
	rc = dwcp_test_run((char *const[]){ ctl, "--instance", "no-such-node", "profile", "all",
					    "--out", svg, NULL },
			   out, sizeof(out), err, sizeof(err), 60000);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(err, "no-such-node") != NULL, "%s", err);
}
