/* CPU feature detection for run-time SIMD dispatch.
 *
 * cpuid says what the silicon implements; it does not say whether the
 * kernel saves the wider register state on a context switch. Using AVX
 * registers the OS does not save corrupts them silently, so the AVX-class
 * features are reported only when CPUID.1:ECX.OSXSAVE is set and XCR0
 * (read with xgetbv) has the YMM state enabled, and AVX-512 only when the
 * opmask and both ZMM state components are enabled too. xgetbv is issued
 * as inline asm because the baseline build (-march=x86-64-v2) does not
 * enable the -mxsave intrinsic.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "common/cpu.h"

/* CPUID.1:ECX */
#define ECX1_SSE42    (1u << 20)
#define ECX1_AES      (1u << 25)
#define ECX1_OSXSAVE  (1u << 27)
#define ECX1_AVX      (1u << 28)
/* CPUID.(7,0):EBX and ECX */
#define EBX7_AVX2     (1u << 5)
#define EBX7_AVX512F  (1u << 16)
#define EBX7_SHA      (1u << 29)
#define EBX7_AVX512BW (1u << 30)
#define ECX7_VAES     (1u << 9)
#define ECX7_VPCLMUL  (1u << 10)
/* XCR0 state components */
#define XCR0_SSE_AVX  0x06u       /* XMM | YMM */
#define XCR0_AVX512   0xe0u       /* opmask | ZMM_Hi256 | Hi16_ZMM */

static uint64_t read_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* Which register widths the OS saves: *ymm for AVX, *zmm for AVX-512. */
static void os_vector_state(uint32_t ecx1, bool *ymm, bool *zmm)
{
	uint64_t xcr0;

	*ymm = false;
	*zmm = false;
	if (!(ecx1 & ECX1_OSXSAVE) || !(ecx1 & ECX1_AVX))
		return;
	xcr0 = read_xcr0();
	*ymm = (xcr0 & XCR0_SSE_AVX) == XCR0_SSE_AVX;
	*zmm = *ymm && (xcr0 & XCR0_AVX512) == XCR0_AVX512;
}

void dwcp_cpu_detect(struct dwcp_cpu_features *f)
{
	unsigned a = 0, b = 0, c = 0, d = 0;
	unsigned b7 = 0, c7 = 0;
	bool ymm, zmm;

	*f = (struct dwcp_cpu_features){ 0 };
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	if (__get_cpuid_max(0, NULL) >= 7)
		__cpuid_count(7, 0, a, b7, c7, d);
	os_vector_state(c, &ymm, &zmm);

	f->sse42 = c & ECX1_SSE42;
	f->aesni = c & ECX1_AES;
	f->sha = b7 & EBX7_SHA;              /* XMM only: no extra OS state */
	f->avx2 = ymm && (b7 & EBX7_AVX2);
	f->vaes = ymm && (c7 & ECX7_VAES);   /* VEX forms use YMM */
	f->vpclmulqdq = ymm && (c7 & ECX7_VPCLMUL);
	f->avx512f = zmm && (b7 & EBX7_AVX512F);
	f->avx512bw = f->avx512f && (b7 & EBX7_AVX512BW);
}

/* Append " name" (or "name" first) to @p buf when @p on; never overruns. */
static void append(char *buf, unsigned len, unsigned *used, bool on, const char *name)
{
	int n;

	if (!on || *used >= len)
		return;
	n = snprintf(buf + *used, len - *used, "%s%s", *used ? " " : "", name);
	if (n > 0)
		*used = *used + (unsigned)n < len ? *used + (unsigned)n : len;
}

const char *dwcp_cpu_describe(const struct dwcp_cpu_features *f, char *buf, unsigned len)
{
	unsigned used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	append(buf, len, &used, f->sse42, "sse4.2");
	append(buf, len, &used, f->avx2, "avx2");
	append(buf, len, &used, f->avx512f, "avx512f");
	append(buf, len, &used, f->avx512bw, "avx512bw");
	append(buf, len, &used, f->aesni, "aes");
	append(buf, len, &used, f->vaes, "vaes");
	append(buf, len, &used, f->vpclmulqdq, "vpclmulqdq");
	append(buf, len, &used, f->sha, "sha");
	if (used == 0)
		snprintf(buf, len, "none");
	return buf;
}

unsigned dwcp_cpu_usable(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
