/* CPU feature tests. The kernel publishes in /proc/cpuinfo only the
 * features it has enabled (it clears AVX/AVX-512 flags when it does not
 * save their state), which is exactly the cpuid-plus-XCR0 answer
 * dwcp_cpu_detect must give; so the two are compared flag by flag. The
 * description must stay inside any buffer it is given. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/cpu.h"

/* Does the first "flags" line of /proc/cpuinfo list @p flag? -1: no file. */
static int cpuinfo_has(const char *flag)
{
	static char line[16384];
	char needle[64];
	FILE *f = fopen("/proc/cpuinfo", "r");
	int found = -1;

	if (f == NULL)
		return -1;
	snprintf(needle, sizeof(needle), " %s ", flag);
	while (fgets(line, sizeof(line) - 1, f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		line[strcspn(line, "\n")] = ' ';   /* so the last flag ends in a blank */
		found = strstr(line, needle) != NULL;
		break;
	}
	fclose(f);
	return found;
}

Test(cpu, detect_agrees_with_kernel)
{
	struct dwcp_cpu_features f;
	const struct { const char *flag; bool *ours; } map[] = {
		{ "sse4_2", &f.sse42 }, { "avx2", &f.avx2 }, { "avx512f", &f.avx512f },
		{ "avx512bw", &f.avx512bw }, { "aes", &f.aesni }, { "vaes", &f.vaes },
		{ "vpclmulqdq", &f.vpclmulqdq }, { "sha_ni", &f.sha },
	};
	char desc[128];

	dwcp_cpu_detect(&f);
	dwcp_cpu_describe(&f, desc, sizeof(desc));
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		int kernel = cpuinfo_has(map[i].flag);

		if (kernel < 0)
			cr_skip_test("no flags line in /proc/cpuinfo");
		cr_assert_eq(*map[i].ours, kernel == 1, "%s: detect says %d, kernel says %d (we saw '%s')",
			     map[i].flag, *map[i].ours, kernel, desc);
	}
	cr_assert(f.sse42, "x86-64-v2 baseline build running without SSE4.2?");
	cr_assert(!f.avx512bw || f.avx512f, "avx512bw without avx512f");
}

Test(cpu, describe_lists_in_fixed_order)
{
	struct dwcp_cpu_features all = { true, true, true, true, true, true, true, true };
	struct dwcp_cpu_features none = { 0 };
	char buf[128];

	cr_assert_str_eq(dwcp_cpu_describe(&all, buf, sizeof(buf)),
			 "sse4.2 avx2 avx512f avx512bw aes vaes vpclmulqdq sha");
	cr_assert_str_eq(dwcp_cpu_describe(&none, buf, sizeof(buf)), "none");
}

Test(cpu, describe_stays_in_small_buffers)
{
	struct dwcp_cpu_features all = { true, true, true, true, true, true, true, true };
	char buf[32];

	for (unsigned len = 1; len <= 20; len++) {
		memset(buf, 'Z', sizeof(buf));
		cr_assert_eq(dwcp_cpu_describe(&all, buf, len), buf);
		cr_assert_eq(strnlen(buf, len), len - 1, "len %u: string '%.*s' not cut at len-1",
			     len, (int)len, buf);
		cr_assert_eq(buf[len], 'Z', "len %u: wrote past the buffer", len);
	}
}
