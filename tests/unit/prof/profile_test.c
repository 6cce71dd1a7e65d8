/* svc-prof's profiler parts: the flame graph from folded stacks (pure),
 * names for addresses in this very process (its ELF symbols, read with
 * libelf), and the sampler on a real child process burning CPU in a
 * known function (perf_event_open; skipped where the kernel refuses). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "svc-prof/profile.h"

static char *svg_of(const char *folded)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(dwcp_prof_flame_svg(folded, "t<itle>", f), 0);
	fclose(f);
	return buf;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

Test(profile, flame_graph_has_a_box_per_frame_with_its_share)
{
	char *svg = svg_of("svc;main;zstd 3\nsvc;main;aes<x> 1\n");

	/* all, svc, main, zstd, aes<x>: five frames. */
	cr_expect_eq(count(svg, "rx=\"2\""), 5, "%s", svg);
	cr_expect(strstr(svg, "<title>zstd (3 samples, 75.00%)</title>") != NULL, "%s", svg);
	cr_expect(strstr(svg, "<title>aes&lt;x&gt; (1 samples, 25.00%)</title>") != NULL, "%s", svg);
	cr_expect(strstr(svg, "<title>main (4 samples, 100.00%)</title>") != NULL, "%s", svg);
	cr_expect(strstr(svg, "t&lt;itle&gt;") != NULL, "title not escaped");
	cr_expect(strstr(svg, "</svg>") != NULL);
	free(svg);
}

Test(profile, flame_graph_of_nothing_says_so)
{
	char *svg = svg_of("");

	cr_expect(strstr(svg, "no samples") != NULL);
	cr_expect_eq(count(svg, "rx=\"2\""), 0);
	free(svg);
	svg = svg_of("garbage without a count\n;;; 0\n");
	cr_expect(strstr(svg, "no samples") != NULL, "%s", svg);
	free(svg);
}

/* Not static: in the symbol table, as a service's functions are. */
__attribute__((noinline)) unsigned long dwcp_prof_test_burn(unsigned long n)
{
	volatile unsigned long x = 0;

	for (unsigned long i = 0; i < n; i++)
		x += i * i;
	return x;
}

Test(profile, addresses_of_this_process_get_their_names)
{
	struct dwcp_prof_symbols *S = dwcp_prof_symbols_new();
	char name[160];

	cr_assert_not_null(S);
	dwcp_prof_symbolize(S, (uint32_t)getpid(), (uint64_t)(uintptr_t)dwcp_prof_test_burn + 4, false,
			    name, sizeof(name));
	cr_expect_str_eq(name, "dwcp_prof_test_burn");
	dwcp_prof_symbolize(S, (uint32_t)getpid(), 16, false, name, sizeof(name));
	cr_expect_str_eq(name, "[unknown]");
	dwcp_prof_symbols_free(S);
}

static const char *name_child(uint32_t pid, void *arg)
{
	(void)pid, (void)arg;
	return "child";
}

Test(profile, the_sampler_sees_a_busy_process_in_its_function, .timeout = 60)
{
	struct dwcp_prof_samples s = { 0 };
	struct dwcp_prof_symbols *S;
	char why[256], *folded;
	pid_t child = fork();
	int rc, st;

	cr_assert_geq(child, 0);
	if (child == 0) {
		for (;;)
			dwcp_prof_test_burn(1000000);
	}
	rc = dwcp_prof_sample(&child, 1, 199, 1, &s, why, sizeof(why));
	/* Named while the child lives: its maps go with it. */
	S = dwcp_prof_symbols_new();
	folded = S && !rc ? dwcp_prof_fold(&s, S, name_child, NULL) : NULL;
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	if (rc == -EACCES || rc == -EPERM || rc == -ENOENT || rc == -ENOSYS) {
		fprintf(stderr, "skipped: no perf events here (%s)\n", why);
		dwcp_prof_symbols_free(S);
		dwcp_prof_samples_free(&s);
		cr_skip_test("no perf events: %s", why);
	}
	cr_assert_eq(rc, 0, "%s", why);
	cr_expect_gt(s.n, 0, "no samples of a process spinning for a second");
	cr_assert_not_null(folded);
	cr_expect(strstr(folded, "child;") == folded, "%s", folded);
	cr_expect(strstr(folded, "dwcp_prof_test_burn") != NULL, "the busy function is not named:\n%s", folded);
	free(folded);
	dwcp_prof_symbols_free(S);
	dwcp_prof_samples_free(&s);
}
